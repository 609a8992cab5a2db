//! What an endpoint reads: the directory (a read-only view of the store), the policy, and
//! the in-memory state of the flows, gathered in one [`Context`] per request.

use crate::jose::keys::KeyRing;
use crate::jose::refresh::{FamilyId, TokenDigest};
use crate::jose::secret::PasswordCost;
use crate::jose::token::VerifiedCache;
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
    /// Every consent `user` gave, by client id.
    fn consents_of(
        &self,
        user: &str,
    ) -> Result<Vec<crate::vocab::record::ConsentRecord>, LookupError>;
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
    /// Every trusted issuer of assertions.
    fn issuers(&self) -> Result<Vec<crate::vocab::record::IssuerRecord>, LookupError>;
    /// Every consent of every person.
    fn consents(&self) -> Result<Vec<crate::vocab::record::ConsentRecord>, LookupError>;
    /// Every signing key (the operator's commands: rotation, listing).
    fn keys(&self) -> Result<Vec<crate::vocab::record::KeyRecord>, LookupError>;
}

/// Whose families to find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner<'a> {
    /// A client's, by id.
    Client(&'a str),
    /// A user's, by name.
    User(&'a str),
    /// Every family (the operator's list of sessions: one walk, not one per owner).
    Anyone,
}

impl Owner<'_> {
    /// Whether the family belongs to this owner.
    pub fn owns(&self, f: &FamilyRecord) -> bool {
        match self {
            Owner::Client(id) => f.client_id == *id,
            Owner::User(name) => f.username.as_deref() == Some(*name),
            Owner::Anyone => true,
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
    /// Whether the operator's pages are served at all (`operator_pages`).
    pub operator_pages: bool,
    /// The networks from which they may be reached (`operator_allow`).
    pub operator_allow: Vec<ipnet::IpNet>,
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
    pub guard: &'a crate::protocol::guard::Guard,
    /// Client assertions already used.
    pub replay: &'a crate::protocol::client_auth::replay::ReplayCache,
    /// Keys clients and issuers publish at a `jwks_uri`.
    pub published: &'a dyn crate::protocol::client_auth::published_keys::PublishedKeys,
    /// Authorization codes issued.
    pub codes: &'a crate::protocol::browser::codes::Codes,
    /// Browser sessions.
    pub sessions: &'a crate::protocol::browser::sessions::Sessions,
    /// Passkey ceremonies under way.
    pub passkeys: &'a crate::protocol::account::passkeys::Ceremonies,
    /// Device requests waiting for a person (RFC 8628).
    pub devices: &'a crate::protocol::device::requests::DeviceRequests,
    /// What the server counted.
    pub metrics: &'a crate::observe::metrics::Metrics,
    /// The last issuances, refusals and admin changes.
    pub audit: &'a crate::observe::audit::AuditRing,
    /// Unix time, seconds.
    pub now: u64,
    /// Whether that time can be trusted to mint tokens.
    pub clock: crate::protocol::clock::ClockState,
    /// The host, for `/health`.
    pub host: HostFacts<'a>,
}
