//! Who is asking: client secrets and private-key JWT assertions (RFC 7523), the keys
//! devices publish, and the cache that refuses a replayed assertion.

pub mod assertion;
pub mod authenticate;
pub mod credentials;
pub mod published_keys;
pub mod replay;
