//! The words every layer speaks: stored records, scopes, OAuth errors, parsed requests,
//! and the source of randomness. Imports nothing else of piauth.

pub mod entropy;
pub mod oauth_error;
pub mod record;
pub mod request;
pub mod scope;
