//! The sled adapter: the only module that imports sled.
//!
//! Trees: `meta` (pepper, layout), `clients`, `users`, `keys`, `families` (refresh-token
//! families by id, each holding the digest of its newest token), `revoked_jti`. Records are
//! JSON. Every admin write and every refresh-token write is flushed before it is reported;
//! issuing a client_credentials token writes nothing.
//!
//! `family_expiry` (expiry ‖ family id), written in the same transactions as the families,
//! keeps purging and the family cap from walking the families: sled 0.34 keeps memory for
//! every page a walk touches, whatever its cache size (walking 100,000 records took the
//! process from 6 to 35 MiB, `scripts/sled-memory.sh`). `legacy_refresh` maps the digests of
//! tokens issued before token values named their family to that family (see [`migrate`]).

mod migrate;

use crate::grant::{Directory, LookupError};
use crate::record::{ClientRecord, FamilyRecord, KeyRecord, UserRecord};
use crate::refresh::{FamilyId, TokenDigest};
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
    /// The store was written by a newer piauth, in a layout this one does not know.
    NewerLayout(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Locked => f.write_str(
                "the data directory is in use by another piauth process, and its admin socket does not answer",
            ),
            StoreError::Io(e) => write!(f, "store I/O failed: {e}"),
            StoreError::Corrupt(what) => write!(f, "store record is corrupt: {what}"),
            StoreError::NewerLayout(v) => write!(
                f,
                "the store has layout {v}, written by a newer piauth; this one reads layout 2"
            ),
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
    /// The presented token was the newest; the new one has replaced it.
    Rotated,
    /// The presented token was no longer the newest (a concurrent or replayed exchange):
    /// its family is now revoked.
    Reused,
    /// The family is gone or revoked.
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
    families: sled::Tree,
    revoked_jti: sled::Tree,
    family_expiry: sled::Tree,
    legacy_refresh: sled::Tree,
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
            families: tree("families")?,
            revoked_jti: tree("revoked_jti")?,
            family_expiry: tree("family_expiry")?,
            legacy_refresh: tree("legacy_refresh")?,
            family_count: Arc::new(AtomicUsize::new(0)),
            db,
        };
        migrate::to_current(&store)?;
        // The index holds one small key per family: cheaper to walk than the records.
        store
            .family_count
            .store(store.family_expiry.len(), Ordering::Relaxed);
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

    /// Stores a new family with its first token, durably.
    pub fn insert_family(&self, id: &FamilyId, family: &FamilyRecord) -> Result<(), StoreError> {
        let key = id.to_string();
        (&self.families, &self.family_expiry)
            .transaction(|(families, family_exp)| {
                families.insert(key.as_bytes(), enc(family))?;
                family_exp.insert(expiry_key(family.expires_at, key.as_bytes()), &[])?;
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

    /// Deletes a family, given its `family_expiry` key. The index entry goes last, so that
    /// an interrupted drop is finished by the next purge.
    fn drop_family(&self, index_key: &[u8]) -> Result<(), StoreError> {
        self.families
            .remove(index_key.get(8..).unwrap_or_default())?;
        if self.family_expiry.remove(index_key)?.is_some() {
            self.family_count.fetch_sub(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Replaces family `id`'s newest token, atomically and durably, if it is still the
    /// `presented` one; if another token has replaced it, the family is revoked instead.
    /// `next` is the family as it should be after the exchange (its count of rotations is
    /// taken from the stored record).
    pub fn rotate_refresh(
        &self,
        id: &FamilyId,
        presented: &TokenDigest,
        next: &FamilyRecord,
    ) -> Result<Rotation, StoreError> {
        let key = id.to_string();
        let key = key.as_bytes();
        let outcome = (&self.families, &self.family_expiry)
            .transaction(|(families, family_exp)| {
                let Some(bytes) = families.get(key)? else {
                    return Ok(Rotation::Gone);
                };
                let mut family: FamilyRecord = match dec("family", &bytes) {
                    Ok(f) => f,
                    Err(e) => return abort(e),
                };
                if family.revoked {
                    return Ok(Rotation::Gone);
                }
                if !presented.matches(&family.current) {
                    family.revoked = true;
                    families.insert(key, enc(&family))?;
                    return Ok(Rotation::Reused);
                }
                let mut next = next.clone();
                next.rotations = family.rotations.saturating_add(1);
                next.revoked = false;
                if next.expires_at != family.expires_at {
                    family_exp.remove(expiry_key(family.expires_at, key))?;
                    family_exp.insert(expiry_key(next.expires_at, key), &[])?;
                }
                families.insert(key, enc(&next))?;
                Ok(Rotation::Rotated)
            })
            .map_err(tx_error)?;
        self.flush()?;
        Ok(outcome)
    }

    /// Revokes a family, durably; `false` if it did not exist.
    pub fn revoke_family(&self, id: &FamilyId) -> Result<bool, StoreError> {
        let key = id.to_string();
        let Some(mut family): Option<FamilyRecord> =
            Self::get(&self.families, "family", key.as_bytes())?
        else {
            return Ok(false);
        };
        family.revoked = true;
        self.put_flushed(&self.families, key.as_bytes(), &family)?;
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

    /// Deletes what can no longer matter at `now`: expired families, revocations of
    /// expired access tokens, keys no longer published. Returns how many.
    pub fn purge(&self, now: u64) -> Result<usize, StoreError> {
        let mut n = 0;
        // Only what the index says has expired is read: the rest of the store stays on disk.
        for entry in self.family_expiry.range(..expired_before(now)) {
            let (key, _) = entry?;
            self.drop_family(&key)?;
            n += 1;
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
    fn family(&self, id: &FamilyId) -> Result<Option<FamilyRecord>, LookupError> {
        Ok(Self::get(
            &self.families,
            "family",
            id.to_string().as_bytes(),
        )?)
    }
    fn legacy_family(&self, digest: &TokenDigest) -> Result<Option<FamilyId>, LookupError> {
        let Some(id) = self
            .legacy_refresh
            .get(digest.0)
            .map_err(StoreError::from)?
        else {
            return Ok(None);
        };
        let id = std::str::from_utf8(&id).ok().and_then(|s| s.parse().ok());
        Ok(Some(
            id.ok_or(StoreError::Corrupt("legacy refresh map".into()))?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::Scope;

    fn family(expires_at: u64, current: &TokenDigest) -> FamilyRecord {
        FamilyRecord {
            client_id: "c".into(),
            username: None,
            scope: Scope::parse("read").unwrap(),
            current: current.encode(),
            issued_at: 0,
            expires_at,
            rotations: 0,
            revoked: false,
        }
    }

    fn digest(i: u8) -> TokenDigest {
        TokenDigest([i; 32])
    }

    fn open(dir: &tempfile::TempDir) -> Store {
        Store::open(dir.path(), 1 << 20).unwrap()
    }

    fn get(s: &Store, id: &FamilyId) -> Option<FamilyRecord> {
        Directory::family(s, id).unwrap()
    }

    #[test]
    fn a_rotation_replaces_the_newest_token_and_a_second_use_revokes() {
        let dir = tempfile::tempdir().unwrap();
        let s = open(&dir);
        let id = FamilyId::random();
        s.insert_family(&id, &family(100, &digest(1))).unwrap();
        let r = s.rotate_refresh(&id, &digest(1), &family(200, &digest(2)));
        assert_eq!(r, Ok(Rotation::Rotated));
        let f = get(&s, &id).unwrap();
        assert!(digest(2).matches(&f.current) && !digest(1).matches(&f.current));
        assert_eq!((f.rotations, f.expires_at, f.revoked), (1, 200, false));
        // The first token again: reuse, the family is revoked and stays so.
        let r = s.rotate_refresh(&id, &digest(1), &family(300, &digest(3)));
        assert_eq!(r, Ok(Rotation::Reused));
        assert!(get(&s, &id).unwrap().revoked);
        let r = s.rotate_refresh(&id, &digest(2), &family(300, &digest(3)));
        assert_eq!(r, Ok(Rotation::Gone));
        let r = s.rotate_refresh(&FamilyId::random(), &digest(2), &family(300, &digest(3)));
        assert_eq!(r, Ok(Rotation::Gone));
        // One record per family, however often it rotates.
        assert_eq!((s.families.len(), s.family_expiry.len()), (1, 1));
    }

    #[test]
    fn purge_reads_only_what_expired_and_keeps_the_index_in_step() {
        let dir = tempfile::tempdir().unwrap();
        let s = open(&dir);
        let (fa, fb) = (FamilyId::random(), FamilyId::random());
        s.insert_family(&fa, &family(100, &digest(1))).unwrap();
        s.insert_family(&fb, &family(300, &digest(2))).unwrap();
        s.rotate_refresh(&fa, &digest(1), &family(200, &digest(3)))
            .unwrap();
        assert_eq!(s.purge(100).unwrap(), 0);
        assert_eq!(s.purge(200).unwrap(), 1);
        assert!(get(&s, &fa).is_none() && get(&s, &fb).is_some());
        assert_eq!((s.counts().refresh_families, s.family_expiry.len()), (1, 1));
        assert_eq!(s.purge(300).unwrap(), 1);
        assert_eq!((s.counts().refresh_families, s.family_expiry.len()), (0, 0));
        assert!(s.families.is_empty());
    }

    #[test]
    fn the_cap_drops_the_least_recently_used_families() {
        let dir = tempfile::tempdir().unwrap();
        let s = open(&dir);
        let ids = [FamilyId::random(), FamilyId::random(), FamilyId::random()];
        for (i, id) in ids.iter().enumerate() {
            s.insert_family(id, &family(100 * (i as u64 + 1), &digest(i as u8)))
                .unwrap();
        }
        // The first is used again: it becomes the most recent.
        s.rotate_refresh(&ids[0], &digest(0), &family(400, &digest(9)))
            .unwrap();
        assert_eq!(s.cap_families(2).unwrap(), 1);
        assert!(get(&s, &ids[1]).is_none());
        assert!(get(&s, &ids[0]).is_some() && get(&s, &ids[2]).is_some());
        assert_eq!((s.counts().refresh_families, s.family_expiry.len()), (2, 2));
        assert_eq!(s.cap_families(2).unwrap(), 0);
        // The count survives a reopen.
        drop(s);
        assert_eq!(open(&dir).counts().refresh_families, 2);
    }

    /// Writes a layout-1 store: family `fa` rotated once (token 1 used, token 2 newest),
    /// `fb` revoked (token 3), `fc` whose only token (4) is used.
    fn layout_1_store(dir: &tempfile::TempDir) -> [FamilyId; 3] {
        let ids = [FamilyId::random(), FamilyId::random(), FamilyId::random()];
        let db = sled::Config::new()
            .path(dir.path().join("db"))
            .open()
            .unwrap();
        let (refresh, families) = (
            db.open_tree("refresh").unwrap(),
            db.open_tree("families").unwrap(),
        );
        let (fexp, toks) = (
            db.open_tree("family_expiry").unwrap(),
            db.open_tree("family_tokens").unwrap(),
        );
        for (n, used, fam) in [(1u8, true, 0), (2, false, 0), (3, false, 1), (4, true, 2)] {
            let r = serde_json::json!({"family": ids[fam].to_string(), "client_id": "c",
                "username": "ann", "scope": ["read", "write"], "issued_at": n, "expires_at": 1000, "used": used});
            refresh.insert([n; 32], r.to_string().as_bytes()).unwrap();
            toks.insert(
                [ids[fam].to_string().as_bytes(), &[0], &[n; 32]].concat(),
                &[],
            )
            .unwrap();
        }
        for (fam, revoked) in [(0, false), (1, true), (2, false)] {
            let id = ids[fam].to_string();
            let f = serde_json::json!({"client_id": "c", "revoked": revoked, "expires_at": 1000});
            families
                .insert(id.as_bytes(), f.to_string().as_bytes())
                .unwrap();
            fexp.insert(expiry_key(1000, id.as_bytes()), &[]).unwrap();
        }
        db.open_tree("refresh_expiry")
            .unwrap()
            .insert(b"x", &[])
            .unwrap();
        db.flush().unwrap();
        ids
    }

    #[test]
    fn a_layout_1_store_keeps_its_live_grants_and_loses_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let [fa, fb, fc] = layout_1_store(&dir);
        let s = open(&dir);
        let f = get(&s, &fa).unwrap();
        assert!(digest(2).matches(&f.current));
        assert_eq!(f.username.as_deref(), Some("ann"));
        assert_eq!(f.scope.to_string(), "read write");
        assert!(get(&s, &fb).is_none() && get(&s, &fc).is_none());
        assert_eq!((s.counts().refresh_families, s.family_expiry.len()), (1, 1));
        // The newest token's old-form value still finds its family; used ones do not.
        assert_eq!(Directory::legacy_family(&s, &digest(2)).unwrap(), Some(fa));
        assert_eq!(Directory::legacy_family(&s, &digest(1)).unwrap(), None);
        let names = s.db.tree_names();
        for gone in ["refresh", "refresh_expiry", "family_tokens"] {
            assert!(
                !names.iter().any(|n| n.as_ref() == gone.as_bytes()),
                "{gone}"
            );
        }
        assert_eq!(
            s.rotate_refresh(&fa, &digest(2), &family(2000, &digest(5))),
            Ok(Rotation::Rotated)
        );
        drop(s);
        // Opening again changes nothing; purge drops the map entry once its family is gone.
        let s = open(&dir);
        assert!(digest(5).matches(&get(&s, &fa).unwrap().current));
        assert_eq!(s.legacy_refresh.len(), 1);
        assert_eq!(s.purge(2000).unwrap(), 2);
        assert!(s.legacy_refresh.is_empty() && s.families.is_empty());
    }

    #[test]
    fn a_store_from_a_newer_piauth_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        open(&dir).meta.insert("layout", "3").unwrap();
        let e = Store::open(dir.path(), 1 << 20).err().unwrap();
        assert_eq!(e, StoreError::NewerLayout("3".into()));
        assert!(e.to_string().contains("newer piauth"));
    }
}
