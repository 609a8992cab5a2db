//! sled's trees and what each keeps: reads by record kind, the family indexes, purging
//! expired records, and the encoding of every record (JSON).

use super::StoreError;
use crate::jose::refresh::{FamilyId, TokenDigest};
use crate::protocol::{Change, Counts, Directory, LookupError, Owner};
use crate::vocab::record::{ClientRecord, FamilyRecord, KeyRecord, UserRecord};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// The opened sled database and its trees. A write that fails on the disk (full, or
/// failing) leaves sled refusing every later write until it is opened again: [`Store`](super::Store)
/// does that once the disk takes writes again.
#[derive(Clone)]
pub struct Trees {
    pub(super) db: sled::Db,
    pub(super) meta: sled::Tree,
    pub(super) clients: sled::Tree,
    pub(super) users: sled::Tree,
    pub(super) keys: sled::Tree,
    pub(super) families: sled::Tree,
    pub(super) revoked_jti: sled::Tree,
    pub(super) family_expiry: sled::Tree,
    pub(super) family_use: sled::Tree,
    pub(super) legacy_refresh: sled::Tree,
    pub(super) issuers: sled::Tree,
    pub(super) consents: sled::Tree,
    /// Families stored, kept in memory because sled's `len` walks the whole tree.
    pub(super) family_count: Arc<AtomicUsize>,
}

/// `n` (big-endian, so keys sort by it) ‖ `id`: the keys of both family indexes.
pub(super) fn index_key(n: u64, id: &[u8]) -> Vec<u8> {
    let mut k = n.to_be_bytes().to_vec();
    k.extend_from_slice(id);
    k
}

/// Index keys strictly below this one expire at or before `now`.
pub(super) fn expired_before(now: u64) -> [u8; 8] {
    now.saturating_add(1).to_be_bytes()
}

pub(super) fn enc<T: Serialize>(v: &T) -> Vec<u8> {
    // Records are plain structs of strings and numbers: serialising cannot fail.
    serde_json::to_vec(v).expect("records serialise")
}

pub(super) fn dec<T: DeserializeOwned>(what: &'static str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|_| StoreError::Corrupt(what))
}

impl Trees {
    pub(super) fn open(
        dir: &Path,
        cache_bytes: u64,
        family_count: Arc<AtomicUsize>,
    ) -> Result<Trees, StoreError> {
        let db = sled::Config::new()
            .path(dir.join("db"))
            .cache_capacity(cache_bytes)
            .open()?;
        let tree = |name: &str| db.open_tree(name);
        Ok(Trees {
            meta: tree("meta")?,
            clients: tree("clients")?,
            users: tree("users")?,
            keys: tree("keys")?,
            families: tree("families")?,
            revoked_jti: tree("revoked_jti")?,
            family_expiry: tree("family_expiry")?,
            family_use: tree("family_use")?,
            legacy_refresh: tree("legacy_refresh")?,
            issuers: tree("issuers")?,
            consents: tree("consents")?,
            family_count,
            db,
        })
    }

    /// Waits until everything written is on disk.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }
}

impl Trees {
    /// The pepper client secrets are hashed under, made on first use.
    pub fn pepper(&self) -> Result<Vec<u8>, StoreError> {
        if let Some(p) = self.meta.get("pepper")? {
            return Ok(p.to_vec());
        }
        let fresh = crate::jose::secret::random_token(32).into_bytes();
        // compare_and_swap so that two processes racing on a new store agree on one pepper.
        let _ = self
            .meta
            .compare_and_swap("pepper", None as Option<&[u8]>, Some(fresh))?;
        self.flush()?;
        let p = self
            .meta
            .get("pepper")?
            .ok_or(StoreError::Corrupt("pepper"))?;
        Ok(p.to_vec())
    }

    pub(super) fn get<T: DeserializeOwned>(
        tree: &sled::Tree,
        what: &'static str,
        key: &[u8],
    ) -> Result<Option<T>, StoreError> {
        match tree.get(key)? {
            Some(bytes) => Ok(Some(dec(what, &bytes)?)),
            None => Ok(None),
        }
    }

    pub(super) fn list<T: DeserializeOwned>(
        tree: &sled::Tree,
        what: &'static str,
    ) -> Result<Vec<T>, StoreError> {
        tree.iter().values().map(|v| dec(what, &v?)).collect()
    }

    /// A client.
    pub fn client(&self, id: &str) -> Result<Option<ClientRecord>, StoreError> {
        Self::get(&self.clients, "client", id.as_bytes())
    }
    /// All clients, by id.
    pub fn clients(&self) -> Result<Vec<ClientRecord>, StoreError> {
        Self::list(&self.clients, "client")
    }
    /// A user.
    pub fn user(&self, name: &str) -> Result<Option<UserRecord>, StoreError> {
        Self::get(&self.users, "user", name.as_bytes())
    }
    /// All users, by name.
    pub fn users(&self) -> Result<Vec<UserRecord>, StoreError> {
        Self::list(&self.users, "user")
    }
    /// All signing keys.
    pub fn keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        Self::list(&self.keys, "key")
    }
    /// A trusted issuer.
    pub fn issuer(
        &self,
        name: &str,
    ) -> Result<Option<crate::vocab::record::IssuerRecord>, StoreError> {
        Self::get(&self.issuers, "issuer", name.as_bytes())
    }
    /// All trusted issuers, by name.
    pub fn issuers(&self) -> Result<Vec<crate::vocab::record::IssuerRecord>, StoreError> {
        Self::list(&self.issuers, "issuer")
    }
    /// A user's consent to a client.
    pub fn consent(
        &self,
        user: &str,
        client: &str,
    ) -> Result<Option<crate::vocab::record::ConsentRecord>, StoreError> {
        let key = crate::vocab::record::ConsentRecord::key(user, client);
        Self::get(&self.consents, "consent", &key)
    }
    /// All consents, by user then client.
    pub fn consents(&self) -> Result<Vec<crate::vocab::record::ConsentRecord>, StoreError> {
        Self::list(&self.consents, "consent")
    }

    /// The consents of one user, by client.
    pub fn consents_of(
        &self,
        user: &str,
    ) -> Result<Vec<crate::vocab::record::ConsentRecord>, StoreError> {
        let mut prefix = user.as_bytes().to_vec();
        prefix.push(0);
        self.consents
            .scan_prefix(prefix)
            .values()
            .map(|v| dec("consent", &v?))
            .collect()
    }

    /// Deletes keys no longer published at `now`.
    pub(super) fn purge_keys(&self, now: u64) -> Result<usize, StoreError> {
        let mut n = 0;
        for r in self.keys()? {
            if r.publish_until.is_some_and(|until| until <= now) {
                self.keys.remove(r.kid.as_bytes())?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Deletes what can no longer matter at `now`: expired families, revocations of
    /// expired access tokens, keys no longer published. Returns how many.
    pub fn purge(&self, now: u64) -> Result<usize, StoreError> {
        let mut n = 0;
        // Only what the index says has expired is read: the rest of the store stays on disk.
        let expired: Vec<FamilyId> = self
            .family_expiry
            .range(..expired_before(now))
            .keys()
            .filter_map(|k| {
                let k = k.ok()?;
                std::str::from_utf8(k.get(8..)?).ok()?.parse().ok()
            })
            .collect();
        if !expired.is_empty() {
            // Each is deleted only if still expired inside the transaction: a family rotated
            // between this read and the write lives on.
            let changes: Vec<Change> = expired
                .into_iter()
                .map(|id| Change::PurgeFamily { id, now })
                .collect();
            let before = self.family_count.load(Ordering::Relaxed);
            // Purging has no precondition: it cannot conflict. It spares families rotated
            // since, so only those it removed are counted.
            let _ = self.apply(&changes)?;
            n += before.saturating_sub(self.family_count.load(Ordering::Relaxed));
        }
        // Empty once every family from before the current layout has gone.
        for entry in self.legacy_refresh.iter() {
            let (digest, id) = entry?;
            if !self.families.contains_key(&id)? {
                self.legacy_refresh.remove(digest)?;
                n += 1;
            }
        }
        for entry in self.revoked_jti.iter() {
            let (k, v) = entry?;
            let exp = <[u8; 8]>::try_from(&v[..])
                .map(u64::from_be_bytes)
                .unwrap_or(0);
            if exp <= now {
                self.revoked_jti.remove(k)?;
                n += 1;
            }
        }
        n += self.purge_keys(now)?;
        if n > 0 {
            self.flush()?;
        }
        Ok(n)
    }

    pub(super) fn family_record(&self, id: &FamilyId) -> Result<Option<FamilyRecord>, StoreError> {
        Self::get(&self.families, "family", id.to_string().as_bytes())
    }
}

impl Directory for Trees {
    fn client(&self, id: &str) -> Result<Option<ClientRecord>, LookupError> {
        Trees::client(self, id).map_err(|e| e.lookup("client"))
    }
    fn consent(
        &self,
        user: &str,
        client: &str,
    ) -> Result<Option<crate::vocab::record::ConsentRecord>, LookupError> {
        Trees::consent(self, user, client).map_err(|e| e.lookup("consent"))
    }
    fn consents_of(
        &self,
        user: &str,
    ) -> Result<Vec<crate::vocab::record::ConsentRecord>, LookupError> {
        Trees::consents_of(self, user).map_err(|e| e.lookup("consents"))
    }
    fn clients(&self) -> Result<Vec<ClientRecord>, LookupError> {
        Trees::clients(self).map_err(|e| e.lookup("clients"))
    }
    fn users(&self) -> Result<Vec<UserRecord>, LookupError> {
        Trees::users(self).map_err(|e| e.lookup("users"))
    }
    fn issuers(&self) -> Result<Vec<crate::vocab::record::IssuerRecord>, LookupError> {
        Trees::issuers(self).map_err(|e| e.lookup("issuers"))
    }
    fn consents(&self) -> Result<Vec<crate::vocab::record::ConsentRecord>, LookupError> {
        Trees::consents(self).map_err(|e| e.lookup("consents"))
    }
    fn keys(&self) -> Result<Vec<KeyRecord>, LookupError> {
        Trees::keys(self).map_err(|e| e.lookup("keys"))
    }
    fn issuer(
        &self,
        name: &str,
    ) -> Result<Option<crate::vocab::record::IssuerRecord>, LookupError> {
        Trees::issuer(self, name).map_err(|e| e.lookup("issuer"))
    }
    fn user(&self, name: &str) -> Result<Option<UserRecord>, LookupError> {
        Trees::user(self, name).map_err(|e| e.lookup("user"))
    }
    fn family(&self, id: &FamilyId) -> Result<Option<FamilyRecord>, LookupError> {
        self.family_record(id)
            .map_err(|e| e.lookup("refresh-token family"))
    }
    fn legacy_family(&self, digest: &TokenDigest) -> Result<Option<FamilyId>, LookupError> {
        let what = "legacy refresh map";
        let Some(id) = self
            .legacy_refresh
            .get(digest.0)
            .map_err(|e| StoreError::from(e).lookup(what))?
        else {
            return Ok(None);
        };
        let id = std::str::from_utf8(&id).ok().and_then(|s| s.parse().ok());
        id.map(Some)
            .ok_or_else(|| StoreError::Corrupt(what).lookup(what))
    }
    fn is_jti_revoked(&self, jti: &str) -> Result<bool, LookupError> {
        self.revoked_jti
            .contains_key(jti.as_bytes())
            .map_err(|e| StoreError::from(e).lookup("access-token revocations"))
    }
    fn least_recently_used(&self, n: usize) -> Result<Vec<FamilyId>, LookupError> {
        let what = "family use index";
        let mut out = Vec::with_capacity(n);
        for key in self.family_use.iter().keys().take(n) {
            let key = key.map_err(|e| StoreError::from(e).lookup(what))?;
            let id = key
                .get(8..)
                .and_then(|k| std::str::from_utf8(k).ok())
                .and_then(|k| k.parse().ok())
                .ok_or_else(|| StoreError::Corrupt(what).lookup(what))?;
            out.push(id);
        }
        Ok(out)
    }
    fn families_of(&self, owner: Owner<'_>) -> Result<Vec<(FamilyId, FamilyRecord)>, LookupError> {
        // A walk of every family: admin commands only, never a request.
        let what = "refresh-token families";
        let mut out = Vec::new();
        for entry in self.families.iter() {
            let (k, v) = entry.map_err(|e| StoreError::from(e).lookup(what))?;
            let f: FamilyRecord = dec("family", &v).map_err(|e| e.lookup(what))?;
            if owner.owns(&f) {
                if let Some(id) = std::str::from_utf8(&k).ok().and_then(|k| k.parse().ok()) {
                    out.push((id, f));
                }
            }
        }
        Ok(out)
    }
    /// Families come from the kept count: `/health` is polled, and sled's `len` walks the
    /// whole tree, which holds up to 100,000 families on a large board.
    fn counts(&self) -> Counts {
        Counts {
            clients: self.clients.len(),
            users: self.users.len(),
            refresh_families: self.family_count.load(Ordering::Relaxed),
        }
    }
    fn check(&self) -> Result<(), LookupError> {
        self.pepper().map(|_| ()).map_err(|e| e.lookup("pepper"))
    }
}
