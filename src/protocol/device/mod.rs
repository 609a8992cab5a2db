//! The device authorization grant (RFC 8628): the request a device makes, the pending
//! requests and their rules, and the pages where a person approves one.

pub mod authorization;
pub mod pages;
pub mod requests;
