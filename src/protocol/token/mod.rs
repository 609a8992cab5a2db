//! The token endpoint's grants (what each decides, which claims a token carries, what is
//! stored), introspection (RFC 7662) and revocation (RFC 7009).

pub mod grants;
pub mod introspection;
pub mod revocation;
