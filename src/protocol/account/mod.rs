//! A person's own account: what a sign-in must prove ([`policy`]), their second factors
//! ([`factors`]) and the `/account` page ([`page`]).

pub mod apps;
pub mod enroll;
pub mod factors;
pub mod page;
pub mod passkeys;
pub mod policy;
pub mod setup;
pub mod view;
