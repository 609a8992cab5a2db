//! OpenID Connect: ID tokens, UserInfo, discovery, and the RFC 8414 metadata it extends.

pub mod flow;
pub mod metadata;
