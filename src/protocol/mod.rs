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

pub mod browser;
mod changes;
pub mod client_auth;
pub mod clock;
pub mod device;
mod exchange;
pub mod guard;
pub mod oidc;
pub mod operator;
pub mod paths;
pub mod presented;
mod router;
pub mod token;

pub use changes::{Change, Conflict};
pub use exchange::{Reply, Request};
pub use router::handle;

use crate::jose::keys::KeyRing;
use crate::jose::refresh::{FamilyId, TokenDigest};
use crate::jose::secret::PasswordCost;
use crate::jose::token::VerifiedCache;
use crate::vocab::oauth_error::{ErrorCode, OAuthError};
use crate::vocab::record::{ClientRecord, FamilyRecord, UserRecord};
use std::fmt;

/// A read of the store failed; the client sees `server_error`, the log the detail.
#[derive(Debug)]
pub struct LookupError {
    /// What was being read.
    pub what: &'static str,
    /// Why it failed.
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

impl fmt::Display for LookupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "reading the {} failed: {}", self.what, self.source)
    }
}

impl std::error::Error for LookupError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.source.as_ref())
    }
}

/// Counts of stored records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    /// Clients.
    pub clients: usize,
    /// Users.
    pub users: usize,
    /// Refresh-token families.
    pub refresh_families: usize,
}

/// The read side of the store, as the core sees it.
pub trait Directory {
    /// A client by id.
    fn client(&self, id: &str) -> Result<Option<ClientRecord>, LookupError>;
    /// A user by name.
    fn user(&self, name: &str) -> Result<Option<UserRecord>, LookupError>;
    /// A trusted issuer of assertions, by its `iss`.
    fn issuer(&self, name: &str)
        -> Result<Option<crate::vocab::record::IssuerRecord>, LookupError>;
    /// What `user` consented to for `client`.
    fn consent(
        &self,
        user: &str,
        client: &str,
    ) -> Result<Option<crate::vocab::record::ConsentRecord>, LookupError>;
    /// A refresh-token family.
    fn family(&self, id: &FamilyId) -> Result<Option<FamilyRecord>, LookupError>;
    /// The family of a token issued before token values named their family, by digest.
    fn legacy_family(&self, digest: &TokenDigest) -> Result<Option<FamilyId>, LookupError>;
    /// Whether an access token's `jti` was revoked.
    fn is_jti_revoked(&self, jti: &str) -> Result<bool, LookupError>;
    /// Up to `n` families, least recently used first.
    fn least_recently_used(&self, n: usize) -> Result<Vec<FamilyId>, LookupError>;
    /// The families granted to a user, or to a client, with their records.
    fn families_of(&self, owner: Owner<'_>) -> Result<Vec<(FamilyId, FamilyRecord)>, LookupError>;
    /// Record counts.
    fn counts(&self) -> Counts;
    /// Whether the store can be read at all.
    fn check(&self) -> Result<(), LookupError>;
    /// Every client, by id (the operator's page).
    fn clients(&self) -> Result<Vec<ClientRecord>, LookupError>;
    /// Every user, by name (the operator's page).
    fn users(&self) -> Result<Vec<UserRecord>, LookupError>;
}

/// Whose families to find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner<'a> {
    /// A client's, by id.
    Client(&'a str),
    /// A user's, by name.
    User(&'a str),
}

impl Owner<'_> {
    /// Whether the family belongs to this owner.
    pub fn owns(&self, f: &FamilyRecord) -> bool {
        match self {
            Owner::Client(id) => f.client_id == *id,
            Owner::User(name) => f.username.as_deref() == Some(*name),
        }
    }
}

/// Server-wide token policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The issuer URL (`iss`, and a default audience).
    pub issuer: String,
    /// Default access-token lifetime, seconds.
    pub access_ttl: u64,
    /// Default refresh-token lifetime, seconds.
    pub refresh_ttl: u64,
    /// Clock skew tolerated when checking `exp` and `nbf`, seconds.
    pub leeway: u64,
    /// Seconds after a rotation during which the replaced refresh token, presented again
    /// by its client, gets the same successor instead of revoking its family (0: never).
    pub refresh_grace: u64,
    /// Argon2id cost for new password hashes and for the decoy check.
    pub password_cost: PasswordCost,
    /// Most refresh-token families kept; past it the least recently used go.
    pub max_refresh_families: usize,
    /// The scopes the metadata advertises, when the operator names them.
    pub scopes_supported: Option<Vec<String>>,
    /// Seconds verifiers may cache the JWKS (its `Cache-Control: max-age`); a rotated key
    /// signs only after that.
    pub jwks_max_age: u64,
    /// Whether `/metrics` is served.
    pub metrics: bool,
}

/// What the server knows of itself, for `/health`.
#[derive(Debug, Clone)]
pub struct HostFacts<'a> {
    /// The detected board.
    pub board: &'a crate::board::revision::Board,
    /// The tuning profile in force.
    pub profile: &'a crate::board::tuning::Profile,
    /// Seconds since the server started.
    pub uptime_seconds: u64,
    /// What the status LED shows (`None`: no LED).
    pub led: Option<crate::board::led_pattern::Mode>,
    /// ES256 nonces ready (`None`: none kept, es256.rs).
    pub es256_nonces: Option<usize>,
    /// The certificate served (`None`: plain HTTP).
    pub certificate: Option<std::sync::Arc<CertificateFacts>>,
}

/// The certificate the server serves, for `/certificate` and `/health`: public parts only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateFacts {
    /// The chain as PEM, never the key.
    pub pem: String,
    /// SHA-256 of the leaf, colon-separated hex.
    pub fingerprint: String,
    /// Why the operator's renewed files were not taken (the previous pair still serves).
    pub reload_error: Option<String>,
}

/// Everything an endpoint may read.
pub struct Context<'a> {
    /// The store, read-only.
    pub dir: &'a dyn Directory,
    /// Token policy.
    pub policy: &'a Policy,
    /// Signing and verification keys.
    pub keys: &'a KeyRing,
    /// The pepper client secrets are hashed under.
    pub pepper: &'a [u8],
    /// Access tokens whose signature already verified.
    pub verified: &'a VerifiedCache,
    /// Failed attempts, by address and name.
    pub guard: &'a guard::Guard,
    /// Client assertions already used.
    pub replay: &'a client_auth::replay::ReplayCache,
    /// Keys clients and issuers publish at a `jwks_uri`.
    pub published: &'a dyn client_auth::published_keys::PublishedKeys,
    /// Authorization codes issued.
    pub codes: &'a browser::codes::Codes,
    /// Browser sessions.
    pub sessions: &'a browser::sessions::Sessions,
    /// Device requests waiting for a person (RFC 8628).
    pub devices: &'a device::flow::DeviceRequests,
    /// What the server counted.
    pub metrics: &'a crate::observe::metrics::Metrics,
    /// The last issuances, refusals and admin changes.
    pub audit: &'a crate::observe::audit::AuditRing,
    /// Unix time, seconds.
    pub now: u64,
    /// Whether that time can be trusted to mint tokens.
    pub clock: clock::ClockState,
    /// The host, for `/health`.
    pub host: HostFacts<'a>,
}

/// What happened, for the log and the status LED. Never holds a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Tokens were issued; `evicted` families went to make room for a new one.
    Issued {
        /// The client.
        client_id: String,
        /// The grant type.
        grant: &'static str,
        /// The person the grant is for (sign-in, device flow, password grant) and its refreshes.
        user: Option<String>,
        /// Families dropped by the cap.
        evicted: usize,
    },
    /// A client failed to authenticate.
    ClientAuthFailed {
        /// The id presented, cut to the length an id may have.
        client_id: String,
        /// Why, for the log only.
        why: client_auth::authenticate::AuthFailure,
    },
    /// A wrong password or unknown user at the password grant.
    PasswordRefused {
        /// The client that asked.
        client_id: String,
        /// The user name given.
        user: String,
    },
    /// An attempt refused unchecked: too many failures from its address or for its name.
    Throttled {
        /// The address.
        peer: Option<std::net::IpAddr>,
        /// Seconds it must wait.
        wait: u64,
    },
    /// Something a person did in a browser: signed in (or failed to), was sent back to an
    /// app with a code, refused a client.
    Page {
        /// What: `login`, `authorize`.
        action: &'static str,
        /// How it ended.
        outcome: &'static str,
        /// The client.
        client_id: Option<String>,
        /// The user (a name a user could have).
        user: Option<String>,
    },
    /// A trusted issuer's assertion (the JWT bearer grant) was refused.
    AssertionRefused {
        /// The client that presented it.
        client_id: String,
        /// The check that failed, a word for the audit log.
        why: &'static str,
    },
    /// A refresh token was presented again after it had been replaced.
    RefreshReused {
        /// The client that presented it.
        client_id: String,
    },
    /// The server failed (its store, its keys); the detail is for the log.
    Failed(String),
}

/// What an endpoint decided.
#[derive(Debug)]
pub struct Step {
    /// The answer.
    pub reply: Reply,
    /// What to write, in one transaction, before the answer is sent.
    pub changes: Vec<Change>,
    /// What to log and show.
    pub event: Option<Event>,
}

impl Step {
    /// An answer that changes nothing.
    pub fn reply(reply: Reply) -> Step {
        Step {
            reply,
            changes: Vec::new(),
            event: None,
        }
    }

    /// Adds an event.
    pub fn with_event(mut self, event: Event) -> Step {
        self.event = Some(event);
        self
    }
}

impl From<OAuthError> for Step {
    fn from(e: OAuthError) -> Step {
        Step::reply(Reply::oauth_error(&e))
    }
}

impl From<LookupError> for Step {
    fn from(e: LookupError) -> Step {
        store_failed(&e)
    }
}

/// The answer when the store fails, reading or writing.
pub fn store_failed(e: &dyn fmt::Display) -> Step {
    Step::from(OAuthError::server_error("the token store failed"))
        .with_event(Event::Failed(e.to_string()))
}

/// The answer when the store's disk refuses writes (full, say): it passes, so the client is
/// told to come back (`503` with `Retry-After`). Said once in the log by the store.
pub fn store_cannot_write() -> Step {
    Step::from(OAuthError::new(
        ErrorCode::TemporarilyUnavailable,
        "the server cannot save this change now; try again later",
    ))
}

/// What to answer and change when the store refused a change because its precondition no
/// longer held.
pub fn resolve(conflict: &Conflict, client_id: &str) -> Step {
    match conflict {
        // Another exchange replaced the token first: the one presented is now an older
        // token of the family, presented again (RFC 9700 §4.14.2).
        Conflict::FamilyReplaced(id) => Step {
            reply: Reply::oauth_error(&token::grants::REFRESH_REUSED),
            changes: vec![Change::RevokeFamily(*id)],
            event: Some(Event::RefreshReused {
                client_id: client_id.to_string(),
            }),
        },
        Conflict::FamilyGone(_) => Step::from(token::grants::BAD_REFRESH),
        Conflict::ClientExists(_) | Conflict::UserExists(_) | Conflict::UserChanged(_) => {
            Step::from(OAuthError::new(
                ErrorCode::ServerError,
                "the directory changed during the request",
            ))
        }
    }
}

/// Test support, also for the fuzz targets (`tests/fuzz`).
#[cfg(any(test, fuzzing))]
#[doc(hidden)]
pub mod testing;
#[cfg(test)]
mod tests;
