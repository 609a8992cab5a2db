//! OpenID Connect on the authorization code flow: ID tokens, UserInfo, discovery, and the
//! RFC 8414 metadata and JWKS it extends.

pub mod discovery;
pub mod id_token;
pub mod metadata;
pub mod userinfo;
