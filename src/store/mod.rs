//! The sled adapter: the only module that imports sled.
//!
//! Trees: `meta` (pepper), `clients`, `users`, `keys`, `refresh` (by SHA-256 of the token),
//! `families`, `revoked_jti`. Records are JSON. Every admin write and every refresh-token
//! write is flushed before it is reported; issuing a client_credentials token writes nothing.

use crate::grant::{Directory, LookupError};
use crate::record::{ClientRecord, FamilyRecord, KeyRecord, RefreshRecord, UserRecord};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sled::transaction::{ConflictableTransactionError, TransactionError, Transactional};
use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A store failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// Another process holds the store (a running server).
    Locked,
    /// Disk or sled failure.
    Io(String),
    /// A record that does not decode.
    Corrupt(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Locked => f.write_str(
                "the data directory is in use by another piauth process, and its admin socket does not answer",
            ),
            StoreError::Io(e) => write!(f, "store I/O failed: {e}"),
            StoreError::Corrupt(what) => write!(f, "store record is corrupt: {what}"),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        match &e {
            sled::Error::Io(io) if io.kind() == std::io::ErrorKind::WouldBlock => {
                StoreError::Locked
            }
            sled::Error::Io(io) if io.to_string().contains("lock") => StoreError::Locked,
            _ => StoreError::Io(e.to_string()),
        }
    }
}

impl From<StoreError> for LookupError {
    fn from(e: StoreError) -> Self {
        LookupError(e.to_string())
    }
}

/// What happened to a refresh-token exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The old token is now used and the new one stored.
    Rotated,
    /// The old token had already been used (a concurrent or replayed exchange): its family
    /// is now revoked.
    Reused,
    /// The old token or its family is gone or revoked.
    Gone,
}

/// Counts of stored records, for `/health` and the admin `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Clients.
    pub clients: usize,
    /// Users.
    pub users: usize,
    /// Refresh-token families.
    pub refresh_families: usize,
}

/// The opened store.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    meta: sled::Tree,
    clients: sled::Tree,
    users: sled::Tree,
    keys: sled::Tree,
    refresh: sled::Tree,
    families: sled::Tree,
    revoked_jti: sled::Tree,
    /// Families stored, kept in memory because sled's `len` walks the whole tree.
    family_count: Arc<AtomicUsize>,
}

fn enc<T: Serialize>(v: &T) -> Vec<u8> {
    // Records are plain structs of strings and numbers: serialising cannot fail.
    serde_json::to_vec(v).expect("records serialise")
}

fn dec<T: DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|_| StoreError::Corrupt(what.to_string()))
}

fn abort<T>(e: StoreError) -> Result<T, ConflictableTransactionError<StoreError>> {
    Err(ConflictableTransactionError::Abort(e))
}

fn tx_error(e: TransactionError<StoreError>) -> StoreError {
    match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => e.into(),
    }
}

impl Store {
    /// Opens (or creates) the store in `dir` with a page cache of `cache_bytes`.
    pub fn open(dir: &Path, cache_bytes: u64) -> Result<Store, StoreError> {
        let db = sled::Config::new()
            .path(dir.join("db"))
            .cache_capacity(cache_bytes)
            .open()?;
        let tree = |name: &str| db.open_tree(name);
        let store = Store {
            meta: tree("meta")?,
            clients: tree("clients")?,
            users: tree("users")?,
            keys: tree("keys")?,
            refresh: tree("refresh")?,
            families: tree("families")?,
            revoked_jti: tree("revoked_jti")?,
            family_count: Arc::new(AtomicUsize::new(0)),
            db,
        };
        store
            .family_count
            .store(store.families.len(), Ordering::Relaxed);
        Ok(store)
    }

    /// Waits until everything written is on disk.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }

    /// The pepper client secrets are hashed under, made on first use.
    pub fn pepper(&self) -> Result<Vec<u8>, StoreError> {
        if let Some(p) = self.meta.get("pepper")? {
            return Ok(p.to_vec());
        }
        let fresh = crate::secret::random_token(32).into_bytes();
        // compare_and_swap so that two processes racing on a new store agree on one pepper.
        let _ = self
            .meta
            .compare_and_swap("pepper", None as Option<&[u8]>, Some(fresh))?;
        self.flush()?;
        let p = self
            .meta
            .get("pepper")?
            .ok_or_else(|| StoreError::Corrupt("pepper".into()))?;
        Ok(p.to_vec())
    }

    fn get<T: DeserializeOwned>(
        tree: &sled::Tree,
        what: &str,
        key: &[u8],
    ) -> Result<Option<T>, StoreError> {
        match tree.get(key)? {
            Some(bytes) => Ok(Some(dec(what, &bytes)?)),
            None => Ok(None),
        }
    }

    fn list<T: DeserializeOwned>(tree: &sled::Tree, what: &str) -> Result<Vec<T>, StoreError> {
        tree.iter().values().map(|v| dec(what, &v?)).collect()
    }

    fn put_flushed<T: Serialize>(
        &self,
        tree: &sled::Tree,
        key: &[u8],
        v: &T,
    ) -> Result<(), StoreError> {
        tree.insert(key, enc(v))?;
        self.flush()
    }

    fn remove_flushed(&self, tree: &sled::Tree, key: &[u8]) -> Result<bool, StoreError> {
        let existed = tree.remove(key)?.is_some();
        self.flush()?;
        Ok(existed)
    }

    /// A client.
    pub fn client(&self, id: &str) -> Result<Option<ClientRecord>, StoreError> {
        Self::get(&self.clients, "client", id.as_bytes())
    }
    /// All clients, by id.
    pub fn clients(&self) -> Result<Vec<ClientRecord>, StoreError> {
        Self::list(&self.clients, "client")
    }
    /// Creates or replaces a client, durably.
    pub fn put_client(&self, c: &ClientRecord) -> Result<(), StoreError> {
        self.put_flushed(&self.clients, c.id.as_bytes(), c)
    }
    /// Creates a client unless the id is taken; `false` if it was.
    pub fn insert_client(&self, c: &ClientRecord) -> Result<bool, StoreError> {
        let done = self
            .clients
            .compare_and_swap(c.id.as_bytes(), None as Option<&[u8]>, Some(enc(c)))?
            .is_ok();
        self.flush()?;
        Ok(done)
    }
    /// Removes a client and revokes its refresh tokens, durably; `false` if there was none.
    pub fn remove_client(&self, id: &str) -> Result<bool, StoreError> {
        let existed = self.clients.remove(id.as_bytes())?.is_some();
        for entry in self.families.iter() {
            let (k, v) = entry?;
            let mut fam: FamilyRecord = dec("family", &v)?;
            if fam.client_id == id && !fam.revoked {
                fam.revoked = true;
                self.families.insert(k, enc(&fam))?;
            }
        }
        self.flush()?;
        Ok(existed)
    }

    /// A user.
    pub fn user(&self, name: &str) -> Result<Option<UserRecord>, StoreError> {
        Self::get(&self.users, "user", name.as_bytes())
    }
    /// All users, by name.
    pub fn users(&self) -> Result<Vec<UserRecord>, StoreError> {
        Self::list(&self.users, "user")
    }
    /// Creates or replaces a user, durably.
    pub fn put_user(&self, u: &UserRecord) -> Result<(), StoreError> {
        self.put_flushed(&self.users, u.name.as_bytes(), u)
    }
    /// Creates a user unless the name is taken; `false` if it was.
    pub fn insert_user(&self, u: &UserRecord) -> Result<bool, StoreError> {
        let done = self
            .users
            .compare_and_swap(u.name.as_bytes(), None as Option<&[u8]>, Some(enc(u)))?
            .is_ok();
        self.flush()?;
        Ok(done)
    }
    /// Removes a user, durably; their refresh tokens stop working because the refresh
    /// grant looks the user up.
    pub fn remove_user(&self, name: &str) -> Result<bool, StoreError> {
        self.remove_flushed(&self.users, name.as_bytes())
    }

    /// All signing keys.
    pub fn keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        Self::list(&self.keys, "key")
    }
    /// Writes key records (a rotation) in one batch, durably.
    pub fn put_keys(&self, records: &[KeyRecord]) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for r in records {
            batch.insert(r.kid.as_bytes(), enc(r));
        }
        self.keys.apply_batch(batch)?;
        self.flush()
    }
    /// Deletes keys no longer published at `now`.
    fn purge_keys(&self, now: u64) -> Result<usize, StoreError> {
        let mut n = 0;
        for r in self.keys()? {
            if r.publish_until.is_some_and(|until| until <= now) {
                self.keys.remove(r.kid.as_bytes())?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Stores the first token of a new family, durably.
    pub fn insert_refresh(
        &self,
        digest: &[u8; 32],
        record: &RefreshRecord,
    ) -> Result<(), StoreError> {
        let family = FamilyRecord {
            client_id: record.client_id.clone(),
            revoked: false,
            expires_at: record.expires_at,
        };
        (&self.refresh, &self.families)
            .transaction(|(refresh, families)| {
                families.insert(record.family.as_bytes(), enc(&family))?;
                refresh.insert(&digest[..], enc(record))?;
                Ok(())
            })
            .map_err(tx_error)?;
        self.family_count.fetch_add(1, Ordering::Relaxed);
        self.flush()
    }

    /// Keeps at most `cap` families: past it, the families whose newest token expires
    /// first (the least recently used) are deleted, and their tokens stop working.
    /// Returns how many went.
    pub fn cap_families(&self, cap: usize) -> Result<usize, StoreError> {
        if self.family_count.load(Ordering::Relaxed) <= cap {
            return Ok(0);
        }
        let mut all = Vec::new();
        for entry in self.families.iter() {
            let (k, v) = entry?;
            let f: FamilyRecord = dec("family", &v)?;
            all.push((f.expires_at, k));
        }
        all.sort();
        let excess = all.len().saturating_sub(cap);
        for (_, k) in all.iter().take(excess) {
            self.families.remove(k)?;
        }
        self.family_count
            .store(all.len() - excess, Ordering::Relaxed);
        self.flush()?;
        Ok(excess)
    }

    /// Exchanges `old` for `new` atomically and durably: the old token must still be unused
    /// and its family live; a token found already used revokes its family.
    pub fn rotate_refresh(
        &self,
        old: &[u8; 32],
        new: &[u8; 32],
        record: &RefreshRecord,
    ) -> Result<Rotation, StoreError> {
        let outcome = (&self.refresh, &self.families)
            .transaction(|(refresh, families)| {
                let Some(bytes) = refresh.get(&old[..])? else {
                    return Ok(Rotation::Gone);
                };
                let mut prev: RefreshRecord = match dec("refresh", &bytes) {
                    Ok(r) => r,
                    Err(e) => return abort(e),
                };
                let Some(fbytes) = families.get(prev.family.as_bytes())? else {
                    return Ok(Rotation::Gone);
                };
                let mut family: FamilyRecord = match dec("family", &fbytes) {
                    Ok(f) => f,
                    Err(e) => return abort(e),
                };
                if family.revoked {
                    return Ok(Rotation::Gone);
                }
                if prev.used {
                    family.revoked = true;
                    families.insert(prev.family.as_bytes(), enc(&family))?;
                    return Ok(Rotation::Reused);
                }
                prev.used = true;
                refresh.insert(&old[..], enc(&prev))?;
                family.expires_at = family.expires_at.max(record.expires_at);
                families.insert(prev.family.as_bytes(), enc(&family))?;
                refresh.insert(&new[..], enc(record))?;
                Ok(Rotation::Rotated)
            })
            .map_err(tx_error)?;
        self.flush()?;
        Ok(outcome)
    }

    /// Revokes a family, durably; `false` if it did not exist.
    pub fn revoke_family(&self, id: &str) -> Result<bool, StoreError> {
        let Some(mut family): Option<FamilyRecord> =
            Self::get(&self.families, "family", id.as_bytes())?
        else {
            return Ok(false);
        };
        family.revoked = true;
        self.put_flushed(&self.families, id.as_bytes(), &family)?;
        Ok(true)
    }

    /// Refuses an access token by `jti` until `exp`, durably.
    pub fn revoke_jti(&self, jti: &str, exp: u64) -> Result<(), StoreError> {
        self.revoked_jti
            .insert(jti.as_bytes(), &exp.to_be_bytes())?;
        self.flush()
    }

    /// Whether an access token's `jti` was revoked.
    pub fn is_jti_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        Ok(self.revoked_jti.contains_key(jti.as_bytes())?)
    }

    /// Deletes what can no longer matter at `now`: expired refresh tokens and families,
    /// revocations of expired access tokens, keys no longer published. Returns how many.
    pub fn purge(&self, now: u64) -> Result<usize, StoreError> {
        let mut n = 0;
        for entry in self.refresh.iter() {
            let (k, v) = entry?;
            let r: RefreshRecord = dec("refresh", &v)?;
            // A token whose family is gone (evicted by the cap) can never be used again.
            if r.expires_at <= now || !self.families.contains_key(r.family.as_bytes())? {
                self.refresh.remove(k)?;
                n += 1;
            }
        }
        for entry in self.families.iter() {
            let (k, v) = entry?;
            let f: FamilyRecord = dec("family", &v)?;
            if f.expires_at <= now {
                self.families.remove(k)?;
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
        self.family_count
            .store(self.families.len(), Ordering::Relaxed);
        if n > 0 {
            self.flush()?;
        }
        Ok(n)
    }

    /// Record counts. Families come from the kept count: `/health` is polled, and sled's
    /// `len` walks the whole tree, which holds up to 100,000 families on a large board.
    pub fn counts(&self) -> Counts {
        Counts {
            clients: self.clients.len(),
            users: self.users.len(),
            refresh_families: self.family_count.load(Ordering::Relaxed),
        }
    }
}

impl Directory for Store {
    fn client(&self, id: &str) -> Result<Option<ClientRecord>, LookupError> {
        Ok(Store::client(self, id)?)
    }
    fn user(&self, name: &str) -> Result<Option<UserRecord>, LookupError> {
        Ok(Store::user(self, name)?)
    }
    fn refresh(&self, digest: &[u8; 32]) -> Result<Option<RefreshRecord>, LookupError> {
        Ok(Self::get(&self.refresh, "refresh", &digest[..])?)
    }
    fn family(&self, id: &str) -> Result<Option<FamilyRecord>, LookupError> {
        Ok(Self::get(&self.families, "family", id.as_bytes())?)
    }
}
