//! Who is asking: the credentials a request presents (Basic, the body, a public client's id,
//! an assertion), client secrets and private-key JWT assertions (RFC 7523), the keys devices
//! and issuers publish, and the cache that refuses a replayed assertion.

pub mod assertion;
pub mod authenticate;
pub mod credentials;
pub mod published_keys;
pub mod replay;
