//! The sled adapter: the only module that imports sled.
//!
//! Trees: `meta` (pepper), `clients`, `users`, `keys`, `refresh` (by SHA-256 of the token),
//! `families`, `revoked_jti`. Records are JSON. Every admin write and every refresh-token
//! write is flushed before it is reported; issuing a client_credentials token writes nothing.
//!
//! Three index trees, written in the same transactions as the records, keep purging and the
//! family cap from walking the record trees: `refresh_expiry` (expiry ‖ digest),
//! `family_expiry` (expiry ‖ family id) and `family_tokens` (family id ‖ 0 ‖ digest). sled
//! 0.34 keeps memory for every page a walk touches, whatever its cache size: walking
//! 100,000 refresh records took the process from 6 to 35 MiB
//! (`scripts/sled-memory.sh`), and used refresh tokens stay 30 days for reuse detection.

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
    refresh_expiry: sled::Tree,
    family_expiry: sled::Tree,
    family_tokens: sled::Tree,
    /// Families stored, kept in memory because sled's `len` walks the whole tree.
    family_count: Arc<AtomicUsize>,
}

/// `expiry` (big-endian, so keys sort by time) ‖ `id`.
fn expiry_key(expiry: u64, id: &[u8]) -> Vec<u8> {
    let mut k = expiry.to_be_bytes().to_vec();
    k.extend_from_slice(id);
    k
}

/// Index keys strictly below this one expire at or before `now`.
fn expired_before(now: u64) -> [u8; 8] {
    now.saturating_add(1).to_be_bytes()
}

/// `family` ‖ 0 ‖ `digest`: a family's tokens are one prefix scan.
fn family_token_key(family: &str, digest: &[u8]) -> Vec<u8> {
    let mut k = family_prefix(family.as_bytes());
    k.extend_from_slice(digest);
    k
}

fn family_prefix(family: &[u8]) -> Vec<u8> {
    let mut k = family.to_vec();
    k.push(0);
    k
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
            refresh_expiry: tree("refresh_expiry")?,
            family_expiry: tree("family_expiry")?,
            family_tokens: tree("family_tokens")?,
            family_count: Arc::new(AtomicUsize::new(0)),
            db,
        };
        if store.family_expiry.is_empty() && !store.families.is_empty() {
            store.build_indexes()?;
        }
        // The index holds one small key per family: cheaper to walk than the records.
        store
            .family_count
            .store(store.family_expiry.len(), Ordering::Relaxed);
        Ok(store)
    }

    /// Builds the index trees of a store written before they existed (one walk, once).
    fn build_indexes(&self) -> Result<(), StoreError> {
        for entry in self.families.iter() {
            let (id, v) = entry?;
            let f: FamilyRecord = dec("family", &v)?;
            self.family_expiry
                .insert(expiry_key(f.expires_at, &id), &[])?;
        }
        for entry in self.refresh.iter() {
            let (digest, v) = entry?;
            let r: RefreshRecord = dec("refresh", &v)?;
            self.refresh_expiry
                .insert(expiry_key(r.expires_at, &digest), &[])?;
            self.family_tokens
                .insert(family_token_key(&r.family, &digest), &[])?;
        }
        log::info!("store: built the expiry and family indexes");
        self.flush()
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
        let fam = record.family.as_bytes();
        (
            &self.refresh,
            &self.families,
            &self.refresh_expiry,
            &self.family_expiry,
            &self.family_tokens,
        )
            .transaction(|(refresh, families, refresh_exp, family_exp, tokens)| {
                families.insert(fam, enc(&family))?;
                family_exp.insert(expiry_key(family.expires_at, fam), &[])?;
                refresh.insert(&digest[..], enc(record))?;
                refresh_exp.insert(expiry_key(record.expires_at, &digest[..]), &[])?;
                tokens.insert(family_token_key(&record.family, &digest[..]), &[])?;
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
        let mut dropped = 0;
        while self.family_count.load(Ordering::Relaxed) > cap {
            let Some((key, _)) = self.family_expiry.first()? else {
                break;
            };
            self.drop_family(&key)?;
            dropped += 1;
        }
        if dropped > 0 {
            self.flush()?;
        }
        Ok(dropped)
    }

    /// Deletes a family and its tokens, given its `family_expiry` key. The index entry goes
    /// last, so that an interrupted drop is finished by the next purge.
    fn drop_family(&self, index_key: &[u8]) -> Result<(), StoreError> {
        let id = index_key.get(8..).unwrap_or_default();
        let prefix = family_prefix(id);
        for entry in self.family_tokens.scan_prefix(&prefix) {
            let (key, _) = entry?;
            let digest = &key[prefix.len()..];
            if let Some(v) = self.refresh.remove(digest)? {
                let r: RefreshRecord = dec("refresh", &v)?;
                self.refresh_expiry
                    .remove(expiry_key(r.expires_at, digest))?;
            }
            self.family_tokens.remove(key)?;
        }
        self.families.remove(id)?;
        if self.family_expiry.remove(index_key)?.is_some() {
            self.family_count.fetch_sub(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Exchanges `old` for `new` atomically and durably: the old token must still be unused
    /// and its family live; a token found already used revokes its family.
    pub fn rotate_refresh(
        &self,
        old: &[u8; 32],
        new: &[u8; 32],
        record: &RefreshRecord,
    ) -> Result<Rotation, StoreError> {
        let outcome = (
            &self.refresh,
            &self.families,
            &self.refresh_expiry,
            &self.family_expiry,
            &self.family_tokens,
        )
            .transaction(|(refresh, families, refresh_exp, family_exp, tokens)| {
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
                let fam = prev.family.as_bytes();
                let expires_at = family.expires_at.max(record.expires_at);
                if expires_at != family.expires_at {
                    family_exp.remove(expiry_key(family.expires_at, fam))?;
                    family_exp.insert(expiry_key(expires_at, fam), &[])?;
                    family.expires_at = expires_at;
                }
                families.insert(fam, enc(&family))?;
                refresh.insert(&new[..], enc(record))?;
                refresh_exp.insert(expiry_key(record.expires_at, &new[..]), &[])?;
                tokens.insert(family_token_key(&prev.family, &new[..]), &[])?;
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
        // Only what the indexes say has expired is read: the rest of the store stays on disk.
        for entry in self.refresh_expiry.range(..expired_before(now)) {
            let (key, _) = entry?;
            let digest = key.get(8..).unwrap_or_default();
            if let Some(v) = self.refresh.remove(digest)? {
                let r: RefreshRecord = dec("refresh", &v)?;
                self.family_tokens
                    .remove(family_token_key(&r.family, digest))?;
                n += 1;
            }
            self.refresh_expiry.remove(key)?;
        }
        for entry in self.family_expiry.range(..expired_before(now)) {
            let (key, _) = entry?;
            self.drop_family(&key)?;
            n += 1;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn record(family: &str, expires_at: u64) -> RefreshRecord {
        RefreshRecord {
            family: family.into(),
            client_id: "c".into(),
            username: None,
            scope: crate::scope::Scope::parse("read").unwrap(),
            issued_at: 0,
            expires_at,
            used: false,
        }
    }

    fn digest(i: u8) -> [u8; 32] {
        [i; 32]
    }

    fn index_sizes(s: &Store) -> (usize, usize, usize) {
        (
            s.refresh_expiry.len(),
            s.family_expiry.len(),
            s.family_tokens.len(),
        )
    }

    fn live(s: &Store, i: u8) -> bool {
        Directory::refresh(s, &digest(i)).unwrap().is_some()
    }

    #[test]
    fn purge_reads_only_what_expired_and_keeps_indexes_in_step() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path(), 1 << 20).unwrap();
        s.insert_refresh(&digest(1), &record("fa", 100)).unwrap();
        s.insert_refresh(&digest(2), &record("fb", 300)).unwrap();
        // fa rotates: token 1 used (expires 100), token 3 new (expires 200); fa now ends at 200.
        let r = s
            .rotate_refresh(&digest(1), &digest(3), &record("fa", 200))
            .unwrap();
        assert_eq!(r, Rotation::Rotated);
        assert_eq!(index_sizes(&s), (3, 2, 3));
        assert_eq!(s.purge(100).unwrap(), 1); // the used token 1
        assert!(!live(&s, 1) && live(&s, 3) && live(&s, 2));
        assert_eq!(index_sizes(&s), (2, 2, 2));
        assert_eq!(s.purge(200).unwrap(), 2); // token 3, then family fa
        assert!(Directory::family(&s, "fa").unwrap().is_none());
        assert_eq!(
            (s.counts().refresh_families, index_sizes(&s)),
            (1, (1, 1, 1))
        );
        assert_eq!(s.purge(300).unwrap(), 2);
        assert_eq!(
            (s.counts().refresh_families, index_sizes(&s)),
            (0, (0, 0, 0))
        );
        assert!(s.refresh.is_empty() && s.families.is_empty());
    }

    #[test]
    fn the_cap_drops_least_recently_used_families_with_their_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path(), 1 << 20).unwrap();
        for (i, fam, exp) in [(1, "f1", 100), (2, "f2", 200), (3, "f3", 300)] {
            s.insert_refresh(&digest(i), &record(fam, exp)).unwrap();
        }
        // f1 is used again: it becomes the most recent.
        s.rotate_refresh(&digest(1), &digest(4), &record("f1", 400))
            .unwrap();
        assert_eq!(s.cap_families(2).unwrap(), 1);
        assert!(Directory::family(&s, "f2").unwrap().is_none());
        assert!(!live(&s, 2) && live(&s, 3) && live(&s, 4));
        assert_eq!(
            (s.counts().refresh_families, index_sizes(&s)),
            (2, (3, 2, 3))
        );
        assert_eq!(s.cap_families(2).unwrap(), 0);
    }

    #[test]
    fn a_store_from_before_the_indexes_gets_them_on_open() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = Store::open(dir.path(), 1 << 20).unwrap();
            s.insert_refresh(&digest(1), &record("fa", 100)).unwrap();
            s.insert_refresh(&digest(2), &record("fb", 200)).unwrap();
            for t in [&s.refresh_expiry, &s.family_expiry, &s.family_tokens] {
                t.clear().unwrap();
            }
            s.flush().unwrap();
        }
        let s = Store::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(
            (s.counts().refresh_families, index_sizes(&s)),
            (2, (2, 2, 2))
        );
        assert_eq!(s.purge(100).unwrap(), 2);
        assert!(!live(&s, 1) && live(&s, 2));
    }
}
