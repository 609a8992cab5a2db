//! The protocol core: every OAuth decision, as plain functions over plain values.
//!
//! An endpoint takes a [`Request`] (method, path, headers, body), a [`Context`] (a
//! read-only view of the directory, the policy, the key ring, the time) and a source of
//! randomness, and returns a [`Step`]: the [`Reply`] to send, the [`Change`]s to make (as
//! data, applied by the store in one transaction) and an [`Event`] for the log and the LED.
//! Nothing here opens a socket, touches the disk or reads the clock, so every rule is
//! unit-tested with a map for a store and a counter for randomness.
//!
//! When the store finds that a change's precondition no longer holds (another request
//! rotated the same refresh token first), it applies nothing and reports a [`Conflict`];
//! [`resolve`] says what to answer and change then.

// A refused request returns its whole answer (a `Step`) as the error; it is built once per
// request, so boxing it would only add an allocation.
#![allow(clippy::result_large_err)]

pub mod account;
pub mod browser;
mod changes;
pub mod client_auth;
pub mod clock;
mod conflict;
mod context;
pub mod device;
mod exchange;
pub mod guard;
pub mod manage;
pub mod oidc;
pub mod operator;
pub mod page;
pub mod paths;
pub mod presented;
mod router;
mod step;
pub mod token;

pub use changes::{Change, Conflict};
pub use conflict::resolve;
pub use context::{
    CertificateFacts, Context, Counts, Directory, HostFacts, LookupError, Owner, Policy,
};
pub use exchange::{Reply, Request};
pub use router::handle;
pub use step::{store_cannot_write, store_failed, Event, Step};

/// Test support, also for the fuzz targets (`tests/fuzz`).
#[cfg(any(test, fuzzing))]
#[doc(hidden)]
pub mod testing;
#[cfg(test)]
mod tests;
