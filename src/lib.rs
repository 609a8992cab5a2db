//! piauth: the OAuth 2.0 authorization server of a home network, on a Raspberry Pi.
//!
//! Layers, each importing only those below it (`scripts/check/layers.py` checks):
//! - wiring: [`app`], [`server`], [`cli`], [`config`], [`error`];
//! - [`adapters`]: the shell (HTTP, the sled store, the admin socket, the pages, the LED,
//!   TLS, the JWKS fetch, the host);
//! - the core, plain values in and out: [`protocol`] (every OAuth decision), [`jose`]
//!   (keys, JWTs, secrets), [`board`] (revision codes, tuning, LED patterns), and
//!   [`observe`] (the in-memory counters the core reads);
//! - [`vocab`]: records, scopes, errors, parsed requests, entropy.

#![warn(missing_docs)]

// The Pi builds link musl, whose calloc writes every byte: sled's 41 metrics histograms
// (65,536 counters each, allocated at open even with metrics compiled out) were 10.5 MiB
// resident on a 32-bit build (41 x 512 KiB on 64-bit) before the first request. mimalloc
// hands out fresh zero pages untouched (docs/memory.md, "Where sled's memory goes"). Declared in the
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
