//! What the server counts and remembers about itself, in memory: request and grant metrics,
//! the audit ring, and summed warnings. No I/O: the HTTP adapter writes, the operator's page
//! (core) and `/metrics` read. Imports only [`crate::vocab`].

pub mod audit;
pub mod metrics;
pub mod notice;
