//! The sled adapter: the only module that imports sled.
//!
//! Trees: `meta` (pepper, layout), `clients`, `users`, `keys`, `issuers`, `consents`,
//! `families` (refresh-token families by id, each holding the digest of its newest token),
//! `revoked_jti`. Records are JSON. Writes arrive as
//! [`Change`](crate::protocol::Change)s from the core and are applied in one transaction,
//! flushed before the caller is told they happened; issuing a client_credentials token
//! writes nothing.
//!
//! Two indexes are written in the same transactions as the families, so that purging and
//! the family cap never walk the families: `family_expiry` (expiry ‖ family id) and
//! `family_use` (use counter ‖ family id, least recently used first). sled 0.34 keeps
//! memory for every page a walk touches, whatever its cache size (walking 100,000 records
//! took the process from 6 to 35 MiB, `scripts/bench/sled-memory.sh`). `legacy_refresh`
//! maps the digests of tokens issued before token values named their family to that family
//! (see `migrate.rs`).

mod apply;
mod error;
mod handle;
mod migrate;
#[cfg(test)]
mod tests;
mod trees;

pub use error::StoreError;
pub use handle::Store;
pub use trees::Trees;
