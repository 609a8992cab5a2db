//! piauth: the OAuth 2.0 authorization server of a home network, on a Raspberry Pi.
//!
//! The core (plain values in and out, no I/O): [`request`] parses untrusted bodies and
//! headers, [`grant`] decides token requests, [`token`] mints and verifies RFC 9068 JWTs,
//! [`keys`] holds the key ring and JWKS, [`refresh`] makes and reads refresh-token values, [`crypto`] picks the ES256 implementation, [`scope`], [`secret`], [`record`], [`config`] and
//! [`oauth_error`] are the vocabulary. The adapters around it: [`store`] (sled), [`http`]
//! (tiny_http), [`admin`] (the Unix socket), wired together by [`app`].

#![warn(missing_docs)]

// The Pi builds link musl, whose calloc writes every byte: sled's 41 metrics histograms
// (65,536 counters each, allocated at open even with metrics compiled out) were 10.5 MiB
// resident on a 32-bit build (41 x 512 KiB on 64-bit) before the first request. mimalloc
// hands out fresh zero pages untouched (README, "Where sled's memory goes"). Declared in the
// library so that the examples measure what the binary runs. glibc builds keep glibc's
// malloc, whose calloc already leaves fresh pages alone.
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

// Wiring: the command line, the configuration, and what runs a command.
pub mod app;
pub mod cli;
pub mod config;
pub mod error;
pub mod server;

// The shell around the core.
pub mod adapters;

// The core: OAuth decisions, signing, the board.
pub mod board;
pub mod jose;
pub mod protocol;

// What every layer speaks and counts.
pub mod observe;
pub mod vocab;
