//! The signing machinery: the key ring and its JWKS, JWT mint and verify (RFC 9068), the
//! ES256 providers and nonce pool, devices' public keys, secrets (client secrets, password
//! hashes, the HS256 key), refresh-token values and one-time codes. Imports only [`crate::vocab`].

pub mod client_keys;
pub mod crypto;
pub mod es256;
pub mod keys;
pub mod otp;
pub mod refresh;
pub mod secret;
pub mod token;
