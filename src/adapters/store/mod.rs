//! The sled adapter: the only module that imports sled.
//!
//! Trees: `meta` (pepper, layout), `clients`, `users`, `keys`, `families` (refresh-token
//! families by id, each holding the digest of its newest token), `revoked_jti`. Records are
//! JSON. Writes arrive as [`Change`]s from the core and are applied in one transaction,
//! flushed before the caller is told they happened; issuing a client_credentials token
//! writes nothing.
//!
//! Two indexes are written in the same transactions as the families, so that purging and
//! the family cap never walk the families: `family_expiry` (expiry ‖ family id) and
//! `family_use` (use counter ‖ family id, least recently used first). sled 0.34 keeps
//! memory for every page a walk touches, whatever its cache size (walking 100,000 records
//! took the process from 6 to 35 MiB, `scripts/bench/sled-memory.sh`). `legacy_refresh`
//! maps the digests of tokens issued before token values named their family to that family
//! (see [`migrate`]).

mod migrate;

use crate::jose::refresh::{FamilyId, TokenDigest};
use crate::protocol::{Change, Conflict, Counts, Directory, LookupError, Owner};
use crate::vocab::record::{ClientRecord, FamilyRecord, KeyRecord, UserRecord};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sled::transaction::{
    ConflictableTransactionError, TransactionError, TransactionalTree, UnabortableTransactionError,
};
use sled::Transactional;
use std::fmt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// A store failure.
#[derive(Debug)]
pub enum StoreError {
    /// Another process holds the store (a running server).
    Locked(PathBuf),
    /// Disk or sled failure.
    Io(sled::Error),
    /// A record that does not decode.
    Corrupt(&'static str),
    /// The store was written by a newer piauth, in a layout this one does not know.
    NewerLayout(String),
    /// The data directory's marker names a store that is no longer there: sled found its
    /// files damaged and recovered to an empty store, or they were replaced.
    Emptied(PathBuf),
    /// A write failed on the disk, and none can be made until it takes writes again.
    WritesFail(String),
    /// The store is being opened again after a failed write.
    Reopening,
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Locked(dir) => write!(
                f,
                "{} is in use by another piauth process (a running server whose admin socket does not answer); stop it or choose another --data-dir",
                dir.display()
            ),
            StoreError::Io(e) => write!(f, "store I/O failed: {e}"),
            StoreError::Corrupt(what) => write!(f, "store record is corrupt: {what}"),
            StoreError::NewerLayout(v) => write!(
                f,
                "the store has layout {v}, written by a newer piauth; this one reads layout {}",
                migrate::LAYOUT_NAME
            ),
            StoreError::Emptied(dir) => write!(
                f,
                "the store in {} is not the one this data directory held (its files are damaged \
                 and read as empty, or were replaced): refusing to start with an empty store; \
                 restore the data directory from a backup",
                dir.display()
            ),
            StoreError::WritesFail(why) => write!(f, "the store cannot write: {why}"),
            StoreError::Reopening => {
                f.write_str("the store is being opened again after a failed write")
            }
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError::Io(e)
    }
}

impl StoreError {
    /// The disk refused: it may take writes again by itself (space freed).
    pub fn is_disk(&self) -> bool {
        matches!(
            self,
            StoreError::Io(sled::Error::Io(_)) | StoreError::WritesFail(_) | StoreError::Reopening
        )
    }

    fn lookup(self, what: &'static str) -> LookupError {
        LookupError {
            what,
            source: Box::new(self),
        }
    }
}

/// The store: sled's trees, and what it takes to go on after the disk refused a write.
#[derive(Clone)]
pub struct Store {
    shared: Arc<Shared>,
}

struct Shared {
    dir: PathBuf,
    cache_bytes: u64,
    /// `None` only after an attempt to open the trees again failed.
    trees: RwLock<Option<Arc<Trees>>>,
    writes: Mutex<Writes>,
    /// Held while any clone of the store is open; released with the last.
    _lock: std::fs::File,
}

/// Whether writes fail, and when opening again was last tried.
#[derive(Default)]
struct Writes {
    failing: Option<String>,
    last_try: Option<Instant>,
}

/// How often a store whose writes fail tries again.
const RETRY_WRITES_EVERY: Duration = Duration::from_secs(1);
/// The room a store whose writes failed wants before it opens sled again: two of sled's
/// segments.
const PROBE_BYTES: usize = 1 << 20;

/// The opened sled database and its trees. A write that fails on the disk (full, or
/// failing) leaves sled refusing every later write until it is opened again: [`Store`]
/// does that once the disk takes writes again.
#[derive(Clone)]
pub struct Trees {
    db: sled::Db,
    meta: sled::Tree,
    clients: sled::Tree,
    users: sled::Tree,
    keys: sled::Tree,
    families: sled::Tree,
    revoked_jti: sled::Tree,
    family_expiry: sled::Tree,
    family_use: sled::Tree,
    legacy_refresh: sled::Tree,
    issuers: sled::Tree,
    consents: sled::Tree,
    /// Families stored, kept in memory because sled's `len` walks the whole tree.
    family_count: Arc<AtomicUsize>,
}

/// `n` (big-endian, so keys sort by it) ‖ `id`: the keys of both family indexes.
fn index_key(n: u64, id: &[u8]) -> Vec<u8> {
    let mut k = n.to_be_bytes().to_vec();
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

fn dec<T: DeserializeOwned>(what: &'static str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|_| StoreError::Corrupt(what))
}

/// Why a transaction stopped: a failed precondition, or a record that does not decode.
enum Abort {
    Conflict(Conflict),
    Store(StoreError),
}

type TxResult<T> = Result<T, ConflictableTransactionError<Abort>>;

fn abort<T>(a: Abort) -> TxResult<T> {
    Err(ConflictableTransactionError::Abort(a))
}

/// The trees a transaction writes, by role.
struct Tx<'a> {
    issuers: &'a TransactionalTree,
    consents: &'a TransactionalTree,
    clients: &'a TransactionalTree,
    users: &'a TransactionalTree,
    keys: &'a TransactionalTree,
    families: &'a TransactionalTree,
    family_expiry: &'a TransactionalTree,
    family_use: &'a TransactionalTree,
    revoked_jti: &'a TransactionalTree,
}

/// What a transaction did to the family count.
#[derive(Default)]
struct Applied {
    families_added: usize,
    families_removed: usize,
}

impl Tx<'_> {
    fn family(&self, key: &[u8]) -> TxResult<Option<FamilyRecord>> {
        match self.families.get(key)? {
            Some(bytes) => match dec("family", &bytes) {
                Ok(f) => Ok(Some(f)),
                Err(e) => abort(Abort::Store(e)),
            },
            None => Ok(None),
        }
    }

    /// Writes `family` as the most recently used, moving its index entries.
    fn put_family(
        &self,
        key: &[u8],
        old: Option<&FamilyRecord>,
        mut family: FamilyRecord,
    ) -> Result<(), UnabortableTransactionError> {
        family.last_use = self.families.generate_id()?;
        if let Some(old) = old {
            self.family_expiry.remove(index_key(old.expires_at, key))?;
            self.family_use.remove(index_key(old.last_use, key))?;
        }
        self.family_expiry
            .insert(index_key(family.expires_at, key), &[])?;
        self.family_use
            .insert(index_key(family.last_use, key), &[])?;
        self.families.insert(key, enc(&family))?;
        Ok(())
    }

    fn apply(&self, change: &Change, applied: &mut Applied) -> TxResult<()> {
        match change {
            Change::InsertFamily { id, record } => {
                let key = id.to_string();
                self.put_family(key.as_bytes(), None, record.clone())?;
                applied.families_added += 1;
            }
            Change::RotateFamily {
                id,
                presented,
                next,
            } => {
                let key = id.to_string();
                let key = key.as_bytes();
                let family = match self.family(key)? {
                    Some(f) if !f.revoked => f,
                    _ => return abort(Abort::Conflict(Conflict::FamilyGone(*id))),
                };
                if !presented.matches(&family.current) {
                    return abort(Abort::Conflict(Conflict::FamilyReplaced(*id)));
                }
                let mut next = next.clone();
                next.rotations = family.rotations.saturating_add(1);
                next.revoked = false;
                self.put_family(key, Some(&family), next)?;
            }
            Change::RevokeFamily(id) => {
                let key = id.to_string();
                if let Some(mut family) = self.family(key.as_bytes())? {
                    family.revoked = true;
                    self.families.insert(key.as_bytes(), enc(&family))?;
                }
            }
            Change::EvictFamily(id) | Change::PurgeFamily { id, .. } => {
                let key = id.to_string();
                let key = key.as_bytes();
                let live = |f: &FamilyRecord| match change {
                    Change::PurgeFamily { now, .. } => f.expires_at > *now,
                    _ => false,
                };
                if let Some(family) = self.family(key)?.filter(|f| !live(f)) {
                    self.families.remove(key)?;
                    self.family_expiry
                        .remove(index_key(family.expires_at, key))?;
                    self.family_use.remove(index_key(family.last_use, key))?;
                    applied.families_removed += 1;
                }
            }
            Change::RevokeAccessToken { jti, until } => {
                self.revoked_jti
                    .insert(jti.as_bytes(), &until.to_be_bytes())?;
            }
            Change::InsertClient(c) => {
                if self.clients.get(c.id.as_bytes())?.is_some() {
                    return abort(Abort::Conflict(Conflict::ClientExists(c.id.clone())));
                }
                self.clients.insert(c.id.as_bytes(), enc(c))?;
            }
            Change::PutClient(c) => {
                self.clients.insert(c.id.as_bytes(), enc(c))?;
            }
            Change::RemoveClient(id) => {
                self.clients.remove(id.as_bytes())?;
            }
            Change::InsertUser(u) => {
                if self.users.get(u.name.as_bytes())?.is_some() {
                    return abort(Abort::Conflict(Conflict::UserExists(u.name.clone())));
                }
                self.users.insert(u.name.as_bytes(), enc(u))?;
            }
            Change::ReplaceUser { user, expected } => {
                let current: Option<UserRecord> = match self.users.get(user.name.as_bytes())? {
                    Some(b) => Some(
                        dec("user", &b)
                            .map_err(|e| ConflictableTransactionError::Abort(Abort::Store(e)))?,
                    ),
                    None => None,
                };
                if current.map(|u| u.generation).as_ref() != Some(expected) {
                    return abort(Abort::Conflict(Conflict::UserChanged(user.name.clone())));
                }
                self.users.insert(user.name.as_bytes(), enc(user))?;
            }
            Change::RemoveUser(name) => {
                self.users.remove(name.as_bytes())?;
            }
            Change::PutIssuer(issuer) => {
                self.issuers.insert(issuer.name.as_bytes(), enc(issuer))?;
            }
            Change::RemoveIssuer(name) => {
                self.issuers.remove(name.as_bytes())?;
            }
            Change::PutConsent(c) => {
                let key = crate::vocab::record::ConsentRecord::key(&c.username, &c.client_id);
                self.consents.insert(key, enc(c))?;
            }
            Change::RemoveConsent(user, client) => {
                self.consents
                    .remove(crate::vocab::record::ConsentRecord::key(user, client))?;
            }
            Change::PutKeys(records) => {
                for r in records {
                    self.keys.insert(r.kid.as_bytes(), enc(r))?;
                }
            }
        }
        Ok(())
    }
}

impl Store {
    /// Whether `dir` holds a store (sled's files), without opening or making one.
    pub fn exists(dir: &Path) -> bool {
        dir.join("db").exists()
    }

    /// Opens (or creates) the store in `dir` with a page cache of `cache_bytes`.
    pub fn open(dir: &Path, cache_bytes: u64) -> Result<Store, StoreError> {
        // A store made now gets sled's files under the process umask: made private
        // without a warning, since no one could have read them yet.
        let existed = dir.join("db").exists();
        // Our own lock, taken first: sled locks too, but reports a held lock only as text.
        let lock = std::fs::OpenOptions::new()
            .mode(0o600)
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("lock"))
            .map_err(|e| StoreError::Io(e.into()))?;
        if let Err(e) = fs2::FileExt::try_lock_exclusive(&lock) {
            return Err(if e.kind() == fs2::lock_contended_error().kind() {
                StoreError::Locked(dir.to_path_buf())
            } else {
                StoreError::Io(e.into())
            });
        }
        let trees = Trees::open(dir, cache_bytes, Arc::new(AtomicUsize::new(0)))?;
        check_identity(&trees, dir)?;
        migrate::to_current(&trees)?;
        restrict_permissions(dir, existed);
        // The index holds one small key per family: cheaper to walk than the records.
        trees
            .family_count
            .store(trees.family_expiry.len(), Ordering::Relaxed);
        Ok(Store {
            shared: Arc::new(Shared {
                dir: dir.to_path_buf(),
                cache_bytes,
                trees: RwLock::new(Some(Arc::new(trees))),
                writes: Mutex::new(Writes::default()),
                _lock: lock,
            }),
        })
    }

    /// The trees as they are (while being opened again after a failure, none).
    fn trees(&self) -> Result<Arc<Trees>, StoreError> {
        let slot = self.shared.trees.read().unwrap_or_else(|p| p.into_inner());
        slot.clone().ok_or(StoreError::Reopening)
    }

    /// Passes `result` on, noting a disk failure: from then on the store tries to open
    /// itself again, and `/health` reports it failing, until a write can be made.
    fn watch<T>(&self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        if let Err(StoreError::Io(e @ sled::Error::Io(_))) = &result {
            let mut w = lock(&self.shared.writes);
            if w.failing.is_none() {
                log::error!(
                    "the store cannot write ({e}): logins, rotations and admin changes fail \
                     until it can (client_credentials goes on); retrying every second"
                );
                w.failing = Some(e.to_string());
                w.last_try = Some(Instant::now());
            }
        }
        result
    }

    /// Why writes fail, while they do.
    pub fn failing(&self) -> Option<String> {
        lock(&self.shared.writes).failing.clone()
    }

    /// Called once a second by the server loop (never on a request): while writes fail,
    /// if no request holds the trees and the disk takes a probe file again, opens sled anew
    /// (sled refuses every write after a failed one until it is reopened) and checks it is
    /// still the same store.
    pub fn recover_if_due(&self) {
        {
            let mut w = lock(&self.shared.writes);
            let due = w.last_try.is_none_or(|t| t.elapsed() >= RETRY_WRITES_EVERY);
            if w.failing.is_none() || !due {
                return;
            }
            w.last_try = Some(Instant::now());
        }
        let busy =
            |slot: &Option<Arc<Trees>>| slot.as_ref().is_some_and(|t| Arc::strong_count(t) > 1);
        if busy(&self.shared.trees.read().unwrap_or_else(|p| p.into_inner())) {
            return;
        }
        // Outside every lock: requests go on reading while the SD card is probed.
        if let Err(e) = probe(&self.shared.dir) {
            log::debug!("the store's disk still refuses writes: {e}");
            return;
        }
        let mut slot = self.shared.trees.write().unwrap_or_else(|p| p.into_inner());
        if busy(&slot) {
            return;
        }
        // Dropped here, so that sled lets go of its files before they are opened again.
        let count = match slot.take() {
            Some(old) => old.family_count.clone(),
            None => Arc::new(AtomicUsize::new(0)),
        };
        let opened = Trees::open(&self.shared.dir, self.shared.cache_bytes, count.clone())
            .and_then(|trees| check_identity(&trees, &self.shared.dir).map(|()| trees));
        match opened {
            Ok(trees) => {
                // Counted afresh: changes counted before a flush that then failed are lost.
                count.store(trees.family_expiry.len(), Ordering::Relaxed);
                *slot = Some(Arc::new(trees));
                lock(&self.shared.writes).failing = None;
                log::warn!("the store takes writes again");
            }
            // Until the next try, reads fail too (503): better than serving another store.
            Err(e) => log::error!("the store could not be opened again: {e}; retrying"),
        }
    }

    /// Waits until everything written is on disk.
    pub fn flush(&self) -> Result<(), StoreError> {
        let r = self.trees()?.flush();
        self.watch(r)
    }

    /// Applies `changes` in one transaction and flushes, or applies none of them and says
    /// which precondition failed.
    pub fn apply(&self, changes: &[Change]) -> Result<Result<(), Conflict>, StoreError> {
        let r = self.trees()?.apply(changes);
        self.watch(r)
    }

    /// The pepper client secrets are hashed under, made on first use.
    pub fn pepper(&self) -> Result<Vec<u8>, StoreError> {
        let r = self.trees()?.pepper();
        self.watch(r)
    }

    /// A client.
    pub fn client(&self, id: &str) -> Result<Option<ClientRecord>, StoreError> {
        self.trees()?.client(id)
    }
    /// All clients, by id.
    pub fn clients(&self) -> Result<Vec<ClientRecord>, StoreError> {
        self.trees()?.clients()
    }
    /// A user.
    pub fn user(&self, name: &str) -> Result<Option<UserRecord>, StoreError> {
        self.trees()?.user(name)
    }
    /// All users, by name.
    pub fn users(&self) -> Result<Vec<UserRecord>, StoreError> {
        self.trees()?.users()
    }
    /// All signing keys.
    pub fn keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        self.trees()?.keys()
    }
    /// All trusted issuers, by name.
    pub fn issuers(&self) -> Result<Vec<crate::vocab::record::IssuerRecord>, StoreError> {
        self.trees()?.issuers()
    }
    /// All consents, by user then client.
    pub fn consents(&self) -> Result<Vec<crate::vocab::record::ConsentRecord>, StoreError> {
        self.trees()?.consents()
    }
    /// A trusted issuer.
    pub fn issuer(
        &self,
        name: &str,
    ) -> Result<Option<crate::vocab::record::IssuerRecord>, StoreError> {
        self.trees()?.issuer(name)
    }

    /// Deletes what can no longer matter at `now`: expired families, revocations of
    /// expired access tokens, keys no longer published. Returns how many.
    pub fn purge(&self, now: u64) -> Result<usize, StoreError> {
        let r = self.trees()?.purge(now);
        self.watch(r)
    }

    /// The trees as they are now (tests look inside).
    #[cfg(test)]
    fn t(&self) -> Arc<Trees> {
        self.trees().unwrap()
    }
}

/// Writes and syncs `PROBE_BYTES` in `dir`, then removes them: whether the disk has room
/// for sled to go on.
fn probe(dir: &Path) -> std::io::Result<()> {
    use std::io::Write;
    let path = dir.join("space-probe");
    let result = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .and_then(|mut f| {
            f.write_all(&vec![0; PROBE_BYTES])?;
            f.sync_all()
        });
    let _ = std::fs::remove_file(&path);
    result
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Directory for Store {
    fn client(&self, id: &str) -> Result<Option<ClientRecord>, LookupError> {
        Directory::client(&*self.trees().map_err(|e| e.lookup("client"))?, id)
    }
    fn user(&self, name: &str) -> Result<Option<UserRecord>, LookupError> {
        Directory::user(&*self.trees().map_err(|e| e.lookup("user"))?, name)
    }
    fn issuer(
        &self,
        name: &str,
    ) -> Result<Option<crate::vocab::record::IssuerRecord>, LookupError> {
        Directory::issuer(&*self.trees().map_err(|e| e.lookup("issuer"))?, name)
    }
    fn consent(
        &self,
        user: &str,
        client: &str,
    ) -> Result<Option<crate::vocab::record::ConsentRecord>, LookupError> {
        Directory::consent(
            &*self.trees().map_err(|e| e.lookup("consent"))?,
            user,
            client,
        )
    }
    fn clients(&self) -> Result<Vec<ClientRecord>, LookupError> {
        Directory::clients(&*self.trees().map_err(|e| e.lookup("clients"))?)
    }
    fn users(&self) -> Result<Vec<UserRecord>, LookupError> {
        Directory::users(&*self.trees().map_err(|e| e.lookup("users"))?)
    }
    fn family(&self, id: &FamilyId) -> Result<Option<FamilyRecord>, LookupError> {
        Directory::family(&*self.trees().map_err(|e| e.lookup("family"))?, id)
    }
    fn legacy_family(&self, digest: &TokenDigest) -> Result<Option<FamilyId>, LookupError> {
        Directory::legacy_family(&*self.trees().map_err(|e| e.lookup("family"))?, digest)
    }
    fn is_jti_revoked(&self, jti: &str) -> Result<bool, LookupError> {
        Directory::is_jti_revoked(&*self.trees().map_err(|e| e.lookup("revocation"))?, jti)
    }
    fn least_recently_used(&self, n: usize) -> Result<Vec<FamilyId>, LookupError> {
        Directory::least_recently_used(&*self.trees().map_err(|e| e.lookup("family"))?, n)
    }
    fn families_of(&self, owner: Owner<'_>) -> Result<Vec<(FamilyId, FamilyRecord)>, LookupError> {
        Directory::families_of(&*self.trees().map_err(|e| e.lookup("family"))?, owner)
    }
    fn counts(&self) -> Counts {
        self.trees().map(|t| t.counts()).unwrap_or_default()
    }
    /// Failing while writes fail, though reads go on: the operator must hear of a full disk.
    fn check(&self) -> Result<(), LookupError> {
        if let Some(why) = self.failing() {
            return Err(StoreError::WritesFail(why).lookup("writes"));
        }
        Directory::check(&*self.trees().map_err(|e| e.lookup("store"))?)
    }
}

impl Trees {
    fn open(
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

    /// Applies `changes` in one transaction and flushes, or applies none of them and says
    /// which precondition failed.
    pub fn apply(&self, changes: &[Change]) -> Result<Result<(), Conflict>, StoreError> {
        if changes.is_empty() {
            return Ok(Ok(()));
        }
        let trees = [
            &self.consents,
            &self.issuers,
            &self.clients,
            &self.users,
            &self.keys,
            &self.families,
            &self.family_expiry,
            &self.family_use,
            &self.revoked_jti,
        ];
        let result = trees.as_slice().transaction(|t| {
            let tx = Tx {
                consents: &t[0],
                issuers: &t[1],
                clients: &t[2],
                users: &t[3],
                keys: &t[4],
                families: &t[5],
                family_expiry: &t[6],
                family_use: &t[7],
                revoked_jti: &t[8],
            };
            let mut applied = Applied::default();
            for change in changes {
                tx.apply(change, &mut applied)?;
            }
            Ok(applied)
        });
        match result {
            Ok(applied) => {
                // Counted once on disk: after a failed flush the store is reopened and
                // counted afresh.
                self.flush()?;
                let _ = self
                    .family_count
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                        Some((n + applied.families_added).saturating_sub(applied.families_removed))
                    });
                Ok(Ok(()))
            }
            Err(TransactionError::Abort(Abort::Conflict(c))) => Ok(Err(c)),
            Err(TransactionError::Abort(Abort::Store(e))) => Err(e),
            Err(TransactionError::Storage(e)) => Err(e.into()),
        }
    }

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

    fn get<T: DeserializeOwned>(
        tree: &sled::Tree,
        what: &'static str,
        key: &[u8],
    ) -> Result<Option<T>, StoreError> {
        match tree.get(key)? {
            Some(bytes) => Ok(Some(dec(what, &bytes)?)),
            None => Ok(None),
        }
    }

    fn list<T: DeserializeOwned>(
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

    fn family_record(&self, id: &FamilyId) -> Result<Option<FamilyRecord>, StoreError> {
        Self::get(&self.families, "family", id.to_string().as_bytes())
    }
}

/// The marker file naming the store a data directory holds.
const MARKER: &str = "store-id";

/// Makes sure the store is the one the data directory held. A random id is kept twice: in
/// the store and in a small file beside it. sled, finding its log damaged, recovers to the
/// last good point, which can be an empty store: then the file still names an id the store
/// no longer has, and piauth refuses to start rather than hand out new keys and forget every
/// client.
fn check_identity(store: &Trees, dir: &Path) -> Result<(), StoreError> {
    let marker = dir.join(MARKER);
    let in_file = std::fs::read_to_string(&marker)
        .ok()
        .map(|s| s.trim().to_string());
    let in_store = store
        .meta
        .get("store_id")?
        .map(|v| String::from_utf8_lossy(&v).into_owned());
    // Written aside and renamed into place, so that a full disk or a power cut leaves the
    // old marker or the new one, never a torn one.
    let write_marker = |id: &str| {
        let aside = dir.join(format!("{MARKER}.new"));
        std::fs::OpenOptions::new()
            .mode(0o600)
            .create(true)
            .truncate(true)
            .write(true)
            .open(&aside)
            .and_then(|mut f| {
                use std::io::Write;
                f.write_all(id.as_bytes())?;
                f.sync_all()
            })
            .and_then(|()| std::fs::rename(&aside, &marker))
            .and_then(|()| std::fs::File::open(dir)?.sync_all())
            .map_err(|e| StoreError::Io(e.into()))
    };
    // An empty marker (from a write that never completed) names no store.
    let in_file = in_file.filter(|f| !f.is_empty());
    match (in_file, in_store) {
        (Some(f), Some(s)) if f == s => Ok(()),
        (Some(_), _) => Err(StoreError::Emptied(dir.to_path_buf())),
        // A store from before the marker: mark it.
        (None, Some(s)) => write_marker(&s),
        (None, None) => {
            let id = crate::jose::secret::random_token(16);
            store.meta.insert("store_id", id.as_bytes())?;
            store.flush()?;
            write_marker(&id)
        }
    }
}

/// Makes the store's own files 0600 and its directories 0700: the data directory itself,
/// everything under `db/`, the lock and the marker (nothing else an operator keeps there is
/// touched). The store holds private keys, and sled creates its files with whatever umask
/// the process has (0644 under the usual 022; the systemd unit sets 0077).
fn restrict_permissions(dir: &Path, warn: bool) {
    use std::os::unix::fs::PermissionsExt;
    let mut changed = 0;
    let mut set = |path: &Path, want: u32| {
        if let Ok(meta) = std::fs::symlink_metadata(path) {
            if meta.permissions().mode() & 0o777 != want
                && std::fs::set_permissions(path, std::fs::Permissions::from_mode(want)).is_ok()
            {
                changed += 1;
            }
        }
    };
    set(dir, 0o700);
    set(&dir.join("lock"), 0o600);
    set(&dir.join(MARKER), 0o600);
    let mut dirs = vec![dir.join("db")];
    while let Some(d) = dirs.pop() {
        set(&d, 0o700);
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            match entry.file_type() {
                Ok(t) if t.is_dir() => dirs.push(entry.path()),
                Ok(t) if t.is_file() => set(&entry.path(), 0o600),
                _ => {}
            }
        }
    }
    if changed > 0 && warn {
        log::warn!(
            "{changed} store files in {} were readable by others: made private (0600, directories 0700)",
            dir.display()
        );
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
    fn clients(&self) -> Result<Vec<ClientRecord>, LookupError> {
        Trees::clients(self).map_err(|e| e.lookup("clients"))
    }
    fn users(&self) -> Result<Vec<UserRecord>, LookupError> {
        Trees::users(self).map_err(|e| e.lookup("users"))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::entropy::{CountingEntropy, Entropy};
    use crate::vocab::scope::Scope;

    fn new_id() -> FamilyId {
        thread_local!(static RNG: std::cell::RefCell<CountingEntropy> = Default::default());
        RNG.with(|r| FamilyId::random(&mut *r.borrow_mut() as &mut dyn Entropy))
    }

    fn insert(s: &Store, id: &FamilyId, f: FamilyRecord) {
        s.apply(&[Change::InsertFamily { id: *id, record: f }])
            .unwrap()
            .unwrap();
    }

    fn rotate(
        s: &Store,
        id: &FamilyId,
        presented: &TokenDigest,
        next: FamilyRecord,
    ) -> Result<(), Conflict> {
        s.apply(&[Change::RotateFamily {
            id: *id,
            presented: *presented,
            next,
        }])
        .unwrap()
    }

    fn family(expires_at: u64, current: &TokenDigest) -> FamilyRecord {
        FamilyRecord {
            client_id: "c".into(),
            username: None,
            user_generation: None,
            scope: Scope::parse("read").unwrap(),
            current: current.encode(),
            previous: None,
            issued_at: 0,
            expires_at,
            rotations: 0,
            revoked: false,
            last_use: 0,
        }
    }

    fn digest(i: u8) -> TokenDigest {
        TokenDigest([i; 32])
    }

    fn open(dir: &tempfile::TempDir) -> Store {
        try_open(dir).unwrap()
    }

    /// Opens the store in `dir`. A handle on it dropped just before (a `Store`, or a raw
    /// `sled::Db` of the test) releases sled's file lock from a background thread a moment
    /// later, so an I/O error is tried again for a while.
    fn try_open(dir: &tempfile::TempDir) -> Result<Store, StoreError> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            match Store::open(dir.path(), 1 << 20) {
                Err(StoreError::Io(_)) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                other => return other,
            }
        }
    }

    fn get(s: &Store, id: &FamilyId) -> Option<FamilyRecord> {
        Directory::family(s, id).unwrap()
    }

    #[test]
    fn a_rotation_replaces_the_newest_token_and_a_stale_one_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let s = open(&dir);
        let id = new_id();
        insert(&s, &id, family(100, &digest(1)));
        assert_eq!(rotate(&s, &id, &digest(1), family(200, &digest(2))), Ok(()));
        let f = get(&s, &id).unwrap();
        assert!(digest(2).matches(&f.current) && !digest(1).matches(&f.current));
        assert_eq!((f.rotations, f.expires_at, f.revoked), (1, 200, false));
        // The first token again: the store refuses and writes nothing; revoking is the
        // core's answer to that (protocol::resolve).
        let stale = rotate(&s, &id, &digest(1), family(300, &digest(3)));
        assert_eq!(stale, Err(Conflict::FamilyReplaced(id)));
        assert_eq!(get(&s, &id).unwrap(), f);
        s.apply(&[Change::RevokeFamily(id)]).unwrap().unwrap();
        assert!(get(&s, &id).unwrap().revoked);
        let r = rotate(&s, &id, &digest(2), family(300, &digest(3)));
        assert_eq!(r, Err(Conflict::FamilyGone(id)));
        let other = new_id();
        let r = rotate(&s, &other, &digest(2), family(300, &digest(3)));
        assert_eq!(r, Err(Conflict::FamilyGone(other)));
        // One record per family, however often it rotates.
        assert_eq!(
            (
                s.t().families.len(),
                s.t().family_expiry.len(),
                s.t().family_use.len()
            ),
            (1, 1, 1)
        );
    }

    #[test]
    fn a_failed_precondition_applies_nothing_of_the_list() {
        let dir = tempfile::tempdir().unwrap();
        let s = open(&dir);
        let (a, b) = (new_id(), new_id());
        insert(&s, &a, family(100, &digest(1)));
        let r = s
            .apply(&[
                Change::EvictFamily(a),
                Change::InsertFamily {
                    id: b,
                    record: family(100, &digest(2)),
                },
                Change::RotateFamily {
                    id: a,
                    presented: digest(1),
                    next: family(100, &digest(3)),
                },
            ])
            .unwrap();
        assert_eq!(r, Err(Conflict::FamilyGone(a)));
        assert!(get(&s, &a).is_some() && get(&s, &b).is_none());
        assert_eq!(s.counts().refresh_families, 1);
    }

    #[test]
    fn a_purge_spares_a_family_rotated_since_it_was_found_expired() {
        let dir = tempfile::tempdir().unwrap();
        let s = open(&dir);
        let f = new_id();
        insert(&s, &f, family(100, &digest(1)));
        // The purge read the index at 100; the device rotated before its write landed.
        rotate(&s, &f, &digest(1), family(500, &digest(2))).unwrap();
        s.apply(&[Change::PurgeFamily { id: f, now: 100 }])
            .unwrap()
            .unwrap();
        assert_eq!(get(&s, &f).unwrap().expires_at, 500);
        s.apply(&[Change::PurgeFamily { id: f, now: 500 }])
            .unwrap()
            .unwrap();
        assert!(get(&s, &f).is_none());
        assert_eq!(s.counts().refresh_families, 0);
    }

    #[test]
    fn purge_reads_only_what_expired_and_keeps_the_indexes_in_step() {
        let dir = tempfile::tempdir().unwrap();
        let s = open(&dir);
        let (fa, fb) = (new_id(), new_id());
        insert(&s, &fa, family(100, &digest(1)));
        insert(&s, &fb, family(300, &digest(2)));
        rotate(&s, &fa, &digest(1), family(200, &digest(3))).unwrap();
        assert_eq!(s.purge(100).unwrap(), 0);
        assert_eq!(s.purge(200).unwrap(), 1);
        assert!(get(&s, &fa).is_none() && get(&s, &fb).is_some());
        assert_eq!(
            (s.counts().refresh_families, s.t().family_expiry.len()),
            (1, 1)
        );
        assert_eq!(s.t().family_use.len(), 1);
        assert_eq!(s.purge(300).unwrap(), 1);
        assert_eq!(
            (s.counts().refresh_families, s.t().family_expiry.len()),
            (0, 0)
        );
        assert!(s.t().families.is_empty() && s.t().family_use.is_empty());
    }

    #[test]
    fn families_are_listed_least_recently_used_first_and_a_rotation_is_a_use() {
        let dir = tempfile::tempdir().unwrap();
        let s = open(&dir);
        let ids = [new_id(), new_id(), new_id()];
        // Expiry order is the reverse of use order: the index must follow use.
        for (i, id) in ids.iter().enumerate() {
            insert(&s, id, family(1000 - 100 * i as u64, &digest(i as u8)));
        }
        assert_eq!(s.least_recently_used(2).unwrap(), vec![ids[0], ids[1]]);
        rotate(&s, &ids[0], &digest(0), family(50, &digest(9))).unwrap();
        assert_eq!(
            s.least_recently_used(5).unwrap(),
            vec![ids[1], ids[2], ids[0]]
        );
        s.apply(&[Change::EvictFamily(ids[1])]).unwrap().unwrap();
        assert!(get(&s, &ids[1]).is_none());
        assert_eq!(
            (s.counts().refresh_families, s.t().family_expiry.len()),
            (2, 2)
        );
        // The count and the order survive a reopen.
        drop(s);
        let s = open(&dir);
        assert_eq!(s.counts().refresh_families, 2);
        assert_eq!(s.least_recently_used(5).unwrap(), vec![ids[2], ids[0]]);
    }

    #[test]
    fn a_user_is_replaced_only_if_still_the_generation_read() {
        let dir = tempfile::tempdir().unwrap();
        let s = open(&dir);
        let user = |generation: &str| UserRecord {
            name: "ann".into(),
            password_hash: "h".into(),
            scope: Scope::default(),
            created_at: 0,
            generation: generation.into(),
            display_name: None,
            email: None,
            admin: false,
            email_unverified: false,
            groups: Vec::new(),
        };
        s.apply(&[Change::InsertUser(user("g1"))]).unwrap().unwrap();
        assert_eq!(
            s.apply(&[Change::InsertUser(user("g9"))]).unwrap(),
            Err(Conflict::UserExists("ann".into()))
        );
        let replace = |expected: &str| {
            s.apply(&[Change::ReplaceUser {
                user: user("g2"),
                expected: expected.into(),
            }])
            .unwrap()
        };
        assert_eq!(replace("g0"), Err(Conflict::UserChanged("ann".into())));
        assert_eq!(replace("g1"), Ok(()));
        assert_eq!(s.user("ann").unwrap().unwrap().generation, "g2");
    }

    /// Writes a layout-1 store: family `fa` rotated once (token 1 used, token 2 newest),
    /// `fb` revoked (token 3), `fc` whose only token (4) is used.
    fn layout_1_store(dir: &tempfile::TempDir) -> [FamilyId; 3] {
        let ids = [new_id(), new_id(), new_id()];
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
            fexp.insert(index_key(1000, id.as_bytes()), &[]).unwrap();
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
        assert_eq!(
            (s.counts().refresh_families, s.t().family_expiry.len()),
            (1, 1)
        );
        // The newest token's old-form value still finds its family; used ones do not.
        assert_eq!(Directory::legacy_family(&s, &digest(2)).unwrap(), Some(fa));
        assert_eq!(Directory::legacy_family(&s, &digest(1)).unwrap(), None);
        let names = s.t().db.tree_names();
        for gone in ["refresh", "refresh_expiry", "family_tokens"] {
            assert!(
                !names.iter().any(|n| n.as_ref() == gone.as_bytes()),
                "{gone}"
            );
        }
        assert_eq!(
            rotate(&s, &fa, &digest(2), family(2000, &digest(5))),
            Ok(())
        );
        drop(s);
        // Opening again changes nothing; purge drops the map entry once its family is gone.
        let s = open(&dir);
        assert!(digest(5).matches(&get(&s, &fa).unwrap().current));
        assert_eq!(s.t().legacy_refresh.len(), 1);
        assert_eq!(s.purge(2000).unwrap(), 2);
        assert!(s.t().legacy_refresh.is_empty() && s.t().families.is_empty());
    }

    #[test]
    fn a_layout_2_store_gets_its_use_index_in_expiry_order() {
        let dir = tempfile::tempdir().unwrap();
        let ids = [new_id(), new_id(), new_id()];
        {
            let db = sled::Config::new()
                .path(dir.path().join("db"))
                .open()
                .unwrap();
            db.open_tree("meta").unwrap().insert("layout", "2").unwrap();
            let (families, fexp) = (
                db.open_tree("families").unwrap(),
                db.open_tree("family_expiry").unwrap(),
            );
            for (i, expiry) in [(0, 300u64), (1, 100), (2, 200)] {
                // A layout-2 record: no last_use, no user_generation.
                let f = serde_json::json!({"client_id": "c", "username": "ann",
                    "scope": ["read"], "current": digest(i as u8).encode(), "issued_at": 0,
                    "expires_at": expiry, "rotations": 0, "revoked": false});
                let id = ids[i].to_string();
                families
                    .insert(id.as_bytes(), f.to_string().as_bytes())
                    .unwrap();
                fexp.insert(index_key(expiry, id.as_bytes()), &[]).unwrap();
            }
            db.flush().unwrap();
        }
        let s = open(&dir);
        assert_eq!(s.t().meta.get("layout").unwrap().unwrap().as_ref(), b"3");
        assert_eq!(
            s.least_recently_used(3).unwrap(),
            vec![ids[1], ids[2], ids[0]]
        );
        let f = get(&s, &ids[0]).unwrap();
        assert_eq!(
            (f.user_generation, f.username.as_deref()),
            (None, Some("ann"))
        );
        assert!(digest(0).matches(&f.current));
        // A rotation moves it to the end, as for any family.
        rotate(&s, &ids[1], &digest(1), family(400, &digest(7))).unwrap();
        assert_eq!(s.least_recently_used(1).unwrap(), vec![ids[2]]);
        drop(s);
        // Opening again changes nothing.
        assert_eq!(
            open(&dir).least_recently_used(3).unwrap(),
            vec![ids[2], ids[0], ids[1]]
        );
    }

    #[test]
    fn a_store_from_a_newer_piauth_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        open(&dir).t().meta.insert("layout", "4").unwrap();
        let e = try_open(&dir).err().unwrap();
        assert!(matches!(&e, StoreError::NewerLayout(v) if v == "4"), "{e}");
        assert!(e.to_string().contains("newer piauth"));
    }
}
