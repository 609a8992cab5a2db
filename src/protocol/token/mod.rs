//! The token endpoint's grants (what each decides, which claims a token carries, what is
//! stored), introspection (RFC 7662) and revocation (RFC 7009).

pub mod endpoint;
pub mod errors;
pub mod grants;
pub mod introspection;
pub mod issue;
pub mod revocation;
