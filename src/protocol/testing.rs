//! Test support for the core: a directory in maps, and a context around it.

use crate::board::revision::{self, Board, CpuInfoFacts};
use crate::board::tuning::{self, Profile};
use crate::jose::keys::{self, KeyRing, SigningAlg};
use crate::jose::refresh::{FamilyId, TokenDigest};
use crate::jose::secret::{self, PasswordCost};
use crate::jose::token::VerifiedCache;
use crate::protocol::{Context, Counts, Directory, HostFacts, LookupError, Owner, Policy, Request};
use crate::vocab::record::{ClientRecord, FamilyRecord, GrantType, UserRecord};
use crate::vocab::scope::Scope;
use std::collections::{BTreeMap, HashMap, HashSet};

pub const PEPPER: &[u8] = b"pepper";

/// The store as maps; families keep their use order in `last_use`.
#[derive(Default)]
pub struct MapDirectory {
    pub clients: HashMap<String, ClientRecord>,
    pub users: HashMap<String, UserRecord>,
    pub issuers: HashMap<String, crate::vocab::record::IssuerRecord>,
    pub legacy: Vec<(TokenDigest, FamilyId)>,
    pub families: HashMap<FamilyId, FamilyRecord>,
    pub revoked_jti: HashSet<String>,
    pub consents: HashMap<(String, String), crate::vocab::record::ConsentRecord>,
    pub keys: Vec<crate::vocab::record::KeyRecord>,
}

impl Directory for MapDirectory {
    fn client(&self, id: &str) -> Result<Option<ClientRecord>, LookupError> {
        Ok(self.clients.get(id).cloned())
    }
    fn user(&self, name: &str) -> Result<Option<UserRecord>, LookupError> {
        Ok(self.users.get(name).cloned())
    }
    fn family(&self, id: &FamilyId) -> Result<Option<FamilyRecord>, LookupError> {
        Ok(self.families.get(id).cloned())
    }
    fn issuer(
        &self,
        name: &str,
    ) -> Result<Option<crate::vocab::record::IssuerRecord>, LookupError> {
        Ok(self.issuers.get(name).cloned())
    }
    fn consent(
        &self,
        user: &str,
        client: &str,
    ) -> Result<Option<crate::vocab::record::ConsentRecord>, LookupError> {
        Ok(self.consents.get(&(user.into(), client.into())).cloned())
    }
    fn consents_of(
        &self,
        user: &str,
    ) -> Result<Vec<crate::vocab::record::ConsentRecord>, LookupError> {
        let mut v: Vec<_> = self
            .consents
            .values()
            .filter(|c| c.username == user)
            .cloned()
            .collect();
        v.sort_by(|a, b| a.client_id.cmp(&b.client_id));
        Ok(v)
    }
    fn clients(&self) -> Result<Vec<ClientRecord>, LookupError> {
        let mut v: Vec<_> = self.clients.values().cloned().collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(v)
    }
    fn users(&self) -> Result<Vec<UserRecord>, LookupError> {
        let mut v: Vec<_> = self.users.values().cloned().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(v)
    }
    fn issuers(&self) -> Result<Vec<crate::vocab::record::IssuerRecord>, LookupError> {
        let mut v: Vec<_> = self.issuers.values().cloned().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(v)
    }
    fn consents(&self) -> Result<Vec<crate::vocab::record::ConsentRecord>, LookupError> {
        let mut v: Vec<_> = self.consents.values().cloned().collect();
        v.sort_by(|a, b| (&a.username, &a.client_id).cmp(&(&b.username, &b.client_id)));
        Ok(v)
    }
    fn keys(&self) -> Result<Vec<crate::vocab::record::KeyRecord>, LookupError> {
        Ok(self.keys.clone())
    }
    fn legacy_family(&self, d: &TokenDigest) -> Result<Option<FamilyId>, LookupError> {
        Ok(self.legacy.iter().find(|(l, _)| l == d).map(|(_, id)| *id))
    }
    fn is_jti_revoked(&self, jti: &str) -> Result<bool, LookupError> {
        Ok(self.revoked_jti.contains(jti))
    }
    fn least_recently_used(&self, n: usize) -> Result<Vec<FamilyId>, LookupError> {
        let by_use: BTreeMap<(u64, String), FamilyId> = self
            .families
            .iter()
            .map(|(id, f)| ((f.last_use, id.to_string()), *id))
            .collect();
        Ok(by_use.into_values().take(n).collect())
    }
    fn families_of(&self, owner: Owner<'_>) -> Result<Vec<(FamilyId, FamilyRecord)>, LookupError> {
        Ok(self
            .families
            .iter()
            .filter(|(_, f)| owner.owns(f))
            .map(|(id, f)| (*id, f.clone()))
            .collect())
    }
    fn counts(&self) -> Counts {
        Counts {
            clients: self.clients.len(),
            users: self.users.len(),
            refresh_families: self.families.len(),
        }
    }
    fn check(&self) -> Result<(), LookupError> {
        Ok(())
    }
}

pub fn policy() -> Policy {
    Policy {
        issuer: "http://pi".into(),
        access_ttl: 300,
        refresh_ttl: 3600,
        leeway: 30,
        refresh_grace: 5,
        password_cost: PasswordCost {
            memory_kib: 64,
            iterations: 1,
        },
        max_refresh_families: 100,
        scopes_supported: None,
        jwks_max_age: 300,
        metrics: true,
        operator_pages: true,
        operator_allow: crate::protocol::operator::access::default_allow(),
    }
}

/// Client "dev", secret "s".
pub fn client(grants: &[GrantType], scope: &str) -> ClientRecord {
    ClientRecord {
        id: "dev".into(),
        secret_hash: secret::hash_client_secret(PEPPER, "s"),
        grants: grants.to_vec(),
        scope: Scope::parse(scope).unwrap(),
        audiences: vec!["api".into()],
        access_ttl: None,
        refresh_ttl: None,
        disabled: false,
        resource_server: false,
        created_at: 0,
        keys: Vec::new(),
        jwks: None,
        redirect_uris: Vec::new(),
        public: false,
        require_pkce: false,
        pkce_optional: false,
        allowed_groups: Vec::new(),
        require_second_factor: false,
        id_token_alg: None,
    }
}

/// User `name`, password "pw".
pub fn user(name: &str, scope: &str, generation: &str) -> UserRecord {
    UserRecord {
        name: name.into(),
        password_hash: secret::hash_password("pw", policy().password_cost).unwrap(),
        scope: Scope::parse(scope).unwrap(),
        created_at: 0,
        generation: generation.into(),
        display_name: None,
        email: None,
        admin: false,
        email_unverified: false,
        groups: Vec::new(),
        require_second_factor: false,
        factors: Default::default(),
        session_epoch: 0,
        enrollment: None,
        revision: 0,
    }
}

/// An RS256 ID-token key, made once for every test (RSA keys take a while).
pub fn rs256_id_key() -> crate::vocab::record::KeyRecord {
    static KEY: std::sync::OnceLock<crate::vocab::record::KeyRecord> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        let mut k = keys::generate(SigningAlg::Rs256, 0).unwrap();
        k.purpose = crate::vocab::record::KeyPurpose::IdToken;
        k
    })
    .clone()
}

/// What a [`Context`] borrows.
pub struct World {
    pub dir: MapDirectory,
    pub policy: Policy,
    pub keys: KeyRing,
    pub verified: VerifiedCache,
    pub guard: crate::protocol::guard::Guard,
    pub replay: crate::protocol::client_auth::replay::ReplayCache,
    pub codes: crate::protocol::browser::codes::Codes,
    pub sessions: crate::protocol::browser::sessions::Sessions,
    pub passkeys: crate::protocol::account::passkeys::Ceremonies,
    pub devices: crate::protocol::device::requests::DeviceRequests,
    pub metrics: crate::observe::metrics::Metrics,
    pub audit: crate::observe::audit::AuditRing,
    pub board: Board,
    pub profile: Profile,
    pub now: u64,
}

impl World {
    pub fn new(mut dir: MapDirectory) -> World {
        if dir.keys.is_empty() {
            dir.keys = vec![
                keys::generate(SigningAlg::Es256, 0).unwrap(),
                rs256_id_key(),
            ];
        }
        let board = revision::detect(&CpuInfoFacts::default(), None);
        let profile = tuning::profile(tuning::resources(&board, 1 << 30));
        let ring = KeyRing::load(&dir.keys).unwrap();
        World {
            dir,
            policy: policy(),
            keys: ring,
            verified: VerifiedCache::new(16),
            guard: crate::protocol::guard::Guard::new(64),
            replay: crate::protocol::client_auth::replay::ReplayCache::new(64),
            codes: crate::protocol::browser::codes::Codes::new(64),
            sessions: crate::protocol::browser::sessions::Sessions::new(64),
            passkeys: crate::protocol::account::passkeys::Ceremonies::new(8),
            devices: crate::protocol::device::requests::DeviceRequests::new(64),
            metrics: crate::observe::metrics::Metrics::default(),
            audit: crate::observe::audit::AuditRing::new(16),
            board,
            profile,
            now: 1000,
        }
    }

    pub fn ctx(&self) -> Context<'_> {
        Context {
            dir: &self.dir,
            policy: &self.policy,
            keys: &self.keys,
            pepper: PEPPER,
            verified: &self.verified,
            guard: &self.guard,
            replay: &self.replay,
            published: &NoFetch,
            codes: &self.codes,
            sessions: &self.sessions,
            passkeys: &self.passkeys,
            devices: &self.devices,
            metrics: &self.metrics,
            audit: &self.audit,
            now: self.now,
            clock: crate::protocol::clock::ClockState::Ok,
            host: HostFacts {
                certificate: None,
                board: &self.board,
                profile: &self.profile,
                uptime_seconds: 7,
                led: None,
                es256_nonces: Some(3),
            },
        }
    }
}

/// A form POST with client_secret_basic for "dev"/"s".
pub fn post(path: &str, form: &str) -> Request {
    Request {
        method: "POST".into(),
        path: path.into(),
        headers: vec![
            (
                "Content-Type".into(),
                "application/x-www-form-urlencoded".into(),
            ),
            ("Authorization".into(), "Basic ZGV2OnM=".into()),
        ],
        query: String::new(),
        body: form.as_bytes().to_vec(),
        body_too_large: false,
        peer: None,
    }
}

pub fn get(path: &str) -> Request {
    Request {
        method: "GET".into(),
        path: path.into(),
        ..Request::default()
    }
}

/// Published keys that are never there: the core's tests register keys, the fetching is
/// `tests/jwks_uri.rs`'s.
pub struct NoFetch;

impl crate::protocol::client_auth::published_keys::PublishedKeys for NoFetch {
    fn keys(
        &self,
        at: &crate::vocab::record::JwksLocation,
        _now: u64,
        _refresh: bool,
    ) -> Result<
        std::sync::Arc<[serde_json::Value]>,
        crate::protocol::client_auth::published_keys::Unavailable,
    > {
        Err(crate::protocol::client_auth::published_keys::Unavailable(
            format!("no fetching in tests ({})", at.uri),
        ))
    }
}
