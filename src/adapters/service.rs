//! The running server's shared state: the store, the key ring, the policy.
//!
//! The HTTP handlers and the admin socket both work through one [`Service`], so an admin
//! change (a new client, a rotated key) is seen by the very next request.

use crate::adapters::store::{Store, StoreError};
use crate::jose::keys::{KeyError, KeyRing, SigningAlg};
use crate::protocol::clock::ClockState;
use crate::protocol::manage;
use crate::protocol::{Change, Context, HostFacts, Policy};
use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// The current Unix time in seconds (0 if the clock is before 1970).
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A failure setting up or changing the service's keys.
#[derive(Debug)]
pub enum ServiceError {
    /// The store failed.
    Store(StoreError),
    /// A key failed.
    Key(KeyError),
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceError::Store(e) => e.fmt(f),
            ServiceError::Key(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ServiceError {}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        ServiceError::Store(e)
    }
}

impl From<KeyError> for ServiceError {
    fn from(e: KeyError) -> Self {
        ServiceError::Key(e)
    }
}

/// Makes a new access-token key of `alg` and a new key for each ID-token line (see
/// [`manage::keys::rotation`]), written at once. Returns the access key's id and when it
/// signs from.
pub fn rotate_key(
    store: &Store,
    policy: &Policy,
    alg: SigningAlg,
    now: bool,
) -> Result<(String, u64), ServiceError> {
    let (changed, kid, from) = manage::keys::rotation(
        &store.keys()?,
        &store.clients()?,
        policy,
        alg,
        now,
        unix_now(),
    )?;
    // Key records have no precondition: this cannot conflict.
    let _ = store.apply(&[Change::PutKeys(changed)])?;
    Ok((kid, from))
}

/// Makes sure ID tokens can be signed with `alg` (see [`manage::keys::id_key_needed`]).
/// True if a key was made.
pub fn ensure_id_key(store: &Store, alg: SigningAlg) -> Result<bool, ServiceError> {
    match manage::keys::id_key_needed(&store.keys()?, alg, unix_now())? {
        None => Ok(false),
        Some(fresh) => {
            let _ = store.apply(&[Change::PutKeys(vec![fresh])])?;
            Ok(true)
        }
    }
}

/// Loads the key ring, creating the first key, or rotating to `alg` when the configured
/// algorithm changed since the current key was made.
pub fn ensure_keys(
    store: &Store,
    policy: &Policy,
    alg: SigningAlg,
) -> Result<KeyRing, ServiceError> {
    let now = unix_now();
    let first = match KeyRing::load(&store.keys()?) {
        // A key of `alg` signs, or is published and waiting to.
        Ok(ring) if ring.next(now).map_or(ring.current(now).alg, |k| k.alg) == alg => {
            return Ok(ring)
        }
        Ok(ring) => {
            log::info!(
                "signing algorithm changed from {} to {alg}: a new key is published now and \
                 signs once verifiers' cached JWKS hold it",
                ring.current(now).alg
            );
            false
        }
        Err(KeyError::NoCurrentKey) => {
            log::info!("no signing key yet: generating a {alg} key");
            true
        }
        Err(e) => return Err(e.into()),
    };
    // The first key has no verifier to wait for.
    rotate_key(store, policy, alg, first)?;
    Ok(KeyRing::load(&store.keys()?)?)
}

/// Audit records kept in memory for `piauth audit`.
pub const AUDIT_RECORDS: usize = 256;

/// Shared state of a running server.
pub struct Service {
    /// The store.
    pub store: Store,
    /// Pepper for client-secret hashes.
    pub pepper: Vec<u8>,
    /// Token policy.
    pub policy: Policy,
    /// The configured signing algorithm (for rotation).
    pub algorithm: SigningAlg,
    /// The board it runs on.
    pub board: crate::board::revision::Board,
    /// The tuning it runs with.
    pub profile: crate::board::tuning::Profile,
    /// The status LED's event sender.
    pub led: crate::adapters::led::LedEvents,
    /// When the server started.
    pub started: Instant,
    /// Access tokens already verified (introspection, revocation).
    pub verified: crate::jose::token::VerifiedCache,
    /// Failed attempts, by address and name.
    pub guard: crate::protocol::guard::Guard,
    /// Client assertions already used.
    pub replay: crate::protocol::client_auth::replay::ReplayCache,
    /// Keys clients and issuers publish at a `jwks_uri`.
    pub published: crate::adapters::jwks_fetch::JwksFetcher,
    /// Authorization codes issued.
    pub codes: crate::protocol::browser::codes::Codes,
    /// Browser sessions.
    pub sessions: crate::protocol::browser::sessions::Sessions,
    /// Passkey ceremonies under way.
    pub passkeys: crate::protocol::account::passkeys::Ceremonies,
    /// Device requests waiting for a person.
    pub devices: crate::protocol::device::requests::DeviceRequests,
    /// What the server counts.
    pub metrics: crate::observe::metrics::Metrics,
    /// The recent audit records.
    pub audit: crate::observe::audit::AuditRing,
    /// Whether every request is logged (`access_log`).
    pub access_log: bool,
    keys: RwLock<Arc<KeyRing>>,
    certificate: RwLock<Option<Arc<crate::protocol::CertificateFacts>>>,
    families_evicted: std::sync::Mutex<crate::observe::notice::Notice>,
    throttled: std::sync::Mutex<crate::observe::notice::Notice>,
    /// The clock's state, as the server loop last judged it.
    clock: std::sync::atomic::AtomicU8,
}

impl Service {
    /// Logs every request and issuance (`access_log = true`), or only what is not routine.
    pub fn with_access_log(mut self, on: bool) -> Service {
        self.audit = self.audit.with_access_log(on);
        self.access_log = on;
        self
    }

    /// Builds the service around an opened store and its key ring.
    pub fn new(
        store: Store,
        policy: Policy,
        algorithm: SigningAlg,
        ring: KeyRing,
        board: crate::board::revision::Board,
        profile: crate::board::tuning::Profile,
        led: crate::adapters::led::LedEvents,
    ) -> Result<Service, StoreError> {
        Ok(Service {
            pepper: store.pepper()?,
            store,
            policy,
            algorithm,
            board,
            profile,
            led,
            started: Instant::now(),
            verified: crate::jose::token::VerifiedCache::new(profile.token_cache_entries),
            // About 100 bytes a counter: 4 per connection the board may hold.
            guard: crate::protocol::guard::Guard::new(profile.max_connections * 4),
            // Eight live assertions per connection the board allows (1,024 on a Pi 1): each
            // lives at most five minutes.
            replay: crate::protocol::client_auth::replay::ReplayCache::new(
                profile.max_connections * 8,
            ),
            published: crate::adapters::jwks_fetch::JwksFetcher::default(),
            // Codes live a minute: two per connection the board allows is far more sign-ins a
            // minute than a household makes. Sessions are about 100 bytes each.
            codes: crate::protocol::browser::codes::Codes::new(profile.max_connections * 2),
            sessions: crate::protocol::browser::sessions::Sessions::new(
                profile.max_connections * 4,
            ),
            // Each waits at most five minutes (the browser's own timeout) in about 50 bytes;
            // one address holds at most a few, so it takes many to fill the set.
            passkeys: crate::protocol::account::passkeys::Ceremonies::new(
                profile.max_connections * 32,
            ),
            // Each lives ten minutes; a household starts a few a day.
            devices: crate::protocol::device::requests::DeviceRequests::new(
                profile.max_connections,
            ),
            metrics: crate::observe::metrics::Metrics::default(),
            // About 150 bytes a record.
            audit: crate::observe::audit::AuditRing::new(AUDIT_RECORDS),
            access_log: false,
            keys: RwLock::new(Arc::new(ring)),
            certificate: RwLock::new(None),
            families_evicted: std::sync::Mutex::new(crate::observe::notice::Notice::new(
                std::time::Duration::from_secs(60),
            )),
            throttled: std::sync::Mutex::new(crate::observe::notice::Notice::new(
                std::time::Duration::from_secs(60),
            )),
            // Not trusted until the server loop has looked.
            clock: std::sync::atomic::AtomicU8::new(ClockState::Unsynchronized as u8),
        })
    }

    /// Counts families dropped by the cap; returns how many to log when a line is due
    /// (the first time, then at most once a minute).
    pub fn families_evicted(&self, n: usize) -> Option<u64> {
        self.families_evicted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .record(Instant::now(), n as u64)
    }

    /// The clock's state.
    pub fn clock(&self) -> ClockState {
        match self.clock.load(std::sync::atomic::Ordering::Relaxed) {
            x if x == ClockState::Ok as u8 => ClockState::Ok,
            x if x == ClockState::BeforeBuild as u8 => ClockState::BeforeBuild,
            _ => ClockState::Unsynchronized,
        }
    }

    /// Records the clock's state.
    pub fn set_clock(&self, state: ClockState) {
        self.clock
            .store(state as u8, std::sync::atomic::Ordering::Relaxed);
    }

    /// Counts attempts refused unchecked; how many to log when a line is due.
    pub fn throttled(&self, n: u64) -> Option<u64> {
        self.throttled
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .record(Instant::now(), n)
    }

    /// The key ring as of now; cheap (an `Arc` clone).
    pub fn keys(&self) -> Arc<KeyRing> {
        match self.keys.read() {
            Ok(k) => k.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// What the core reads for one request, as of `now`.
    pub fn context<'a>(&'a self, keys: &'a KeyRing, now: u64) -> Context<'a> {
        Context {
            dir: &self.store,
            policy: &self.policy,
            keys,
            pepper: &self.pepper,
            verified: &self.verified,
            guard: &self.guard,
            replay: &self.replay,
            published: &self.published,
            codes: &self.codes,
            sessions: &self.sessions,
            passkeys: &self.passkeys,
            devices: &self.devices,
            metrics: &self.metrics,
            audit: &self.audit,
            now,
            clock: self.clock(),
            host: HostFacts {
                board: &self.board,
                profile: &self.profile,
                uptime_seconds: self.started.elapsed().as_secs(),
                led: self.led.mode(),
                es256_nonces: crate::jose::crypto::nonces_ready(),
                certificate: match self.certificate.read() {
                    Ok(c) => c.clone(),
                    Err(poisoned) => poisoned.into_inner().clone(),
                },
            },
        }
    }

    /// What `/certificate` and `/health` say of the certificate served.
    pub fn set_certificate(&self, facts: Option<crate::protocol::CertificateFacts>) {
        let facts = facts.map(Arc::new);
        match self.certificate.write() {
            Ok(mut c) => *c = facts,
            Err(poisoned) => *poisoned.into_inner() = facts,
        }
    }

    /// Re-reads the keys from the store after an admin change.
    pub fn reload_keys(&self) -> Result<(), ServiceError> {
        let ring = Arc::new(KeyRing::load(&self.store.keys()?)?);
        match self.keys.write() {
            Ok(mut k) => *k = ring,
            Err(poisoned) => *poisoned.into_inner() = ring,
        }
        Ok(())
    }
}
