//! What a person's browser does: the authorization request's rules, sign-in, consent,
//! sessions, authorization codes, logout, and how a page reaches the browser. The device's
//! and the operator's pages (`device::pages`, `operator::pages`) use the same sign-in.

pub mod auth_request;
pub mod authorize;
pub mod codes;
pub mod cookies;
pub mod logout;
pub mod passkey_options;
pub mod reply;
pub mod sessions;
pub mod sign_in;
#[cfg(test)]
mod tests;
