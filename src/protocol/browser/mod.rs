//! What a person's browser does: the authorization request's rules, sign-in, consent,
//! sessions, authorization codes and logout.

pub mod auth_request;
pub mod codes;
pub mod flow;
pub mod sessions;
