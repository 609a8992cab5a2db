//! piauth: the OAuth 2.0 authorization server of a home network, on a Raspberry Pi.
//!
//! The core (plain values in and out, no I/O): [`request`] parses untrusted bodies and
//! headers, [`grant`] decides token requests, [`token`] mints and verifies RFC 9068 JWTs,
//! [`keys`] holds the key ring and JWKS, [`refresh`] makes and reads refresh-token values, [`crypto`] picks the ES256 implementation, [`scope`], [`secret`], [`record`], [`config`] and
//! [`oauth_error`] are the vocabulary. The adapters around it: [`store`] (sled), [`http`]
//! (tiny_http), [`admin`] (the Unix socket), wired together by [`app`].

#![warn(missing_docs)]

pub mod admin;
pub mod app;
pub mod board;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod grant;
pub mod http;
pub mod keys;
pub mod led;
pub mod oauth_error;
pub mod record;
pub mod refresh;
pub mod request;
pub mod scope;
pub mod secret;
pub mod service;
pub mod store;
pub mod sys;
pub mod systemd;
pub mod token;
pub mod tuning;
