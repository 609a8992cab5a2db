//! The store as the server holds it: opening (the lock, the identity check, permissions,
//! migration), going on after the disk refused a write, and the reads it passes to its
//! trees.

use super::{migrate, StoreError, Trees};
use crate::jose::refresh::{FamilyId, TokenDigest};
use crate::protocol::{Change, Conflict, Counts, Directory, LookupError, Owner};
use crate::vocab::record::{ClientRecord, FamilyRecord, KeyRecord, UserRecord};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// The store: sled's trees, and what it takes to go on after the disk refused a write.
#[derive(Clone)]
pub struct Store {
    pub(super) shared: Arc<Shared>,
}

pub(super) struct Shared {
    pub(super) dir: PathBuf,
    pub(super) cache_bytes: u64,
    /// `None` only after an attempt to open the trees again failed.
    pub(super) trees: RwLock<Option<Arc<Trees>>>,
    pub(super) writes: Mutex<Writes>,
    /// Held while any clone of the store is open; released with the last.
    pub(super) _lock: std::fs::File,
}

/// Whether writes fail, and when opening again was last tried.
#[derive(Default)]
pub(super) struct Writes {
    pub(super) failing: Option<String>,
    pub(super) last_try: Option<Instant>,
}

/// How often a store whose writes fail tries again.
pub(super) const RETRY_WRITES_EVERY: Duration = Duration::from_secs(1);
/// The room a store whose writes failed wants before it opens sled again: two of sled's
/// segments.
pub(super) const PROBE_BYTES: usize = 1 << 20;

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
    pub(super) fn trees(&self) -> Result<Arc<Trees>, StoreError> {
        let slot = self.shared.trees.read().unwrap_or_else(|p| p.into_inner());
        slot.clone().ok_or(StoreError::Reopening)
    }

    /// Passes `result` on, noting a disk failure: from then on the store tries to open
    /// itself again, and `/health` reports it failing, until a write can be made.
    pub(super) fn watch<T>(&self, result: Result<T, StoreError>) -> Result<T, StoreError> {
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
    pub(super) fn t(&self) -> Arc<Trees> {
        self.trees().unwrap()
    }
}

/// Writes and syncs `PROBE_BYTES` in `dir`, then removes them: whether the disk has room
/// for sled to go on.
pub(super) fn probe(dir: &Path) -> std::io::Result<()> {
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

pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
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
    fn consents_of(
        &self,
        user: &str,
    ) -> Result<Vec<crate::vocab::record::ConsentRecord>, LookupError> {
        Directory::consents_of(&*self.trees().map_err(|e| e.lookup("consents"))?, user)
    }
    fn clients(&self) -> Result<Vec<ClientRecord>, LookupError> {
        Directory::clients(&*self.trees().map_err(|e| e.lookup("clients"))?)
    }
    fn users(&self) -> Result<Vec<UserRecord>, LookupError> {
        Directory::users(&*self.trees().map_err(|e| e.lookup("users"))?)
    }
    fn issuers(&self) -> Result<Vec<crate::vocab::record::IssuerRecord>, LookupError> {
        Store::issuers(self).map_err(|e| e.lookup("issuers"))
    }
    fn consents(&self) -> Result<Vec<crate::vocab::record::ConsentRecord>, LookupError> {
        Store::consents(self).map_err(|e| e.lookup("consents"))
    }
    fn keys(&self) -> Result<Vec<KeyRecord>, LookupError> {
        Store::keys(self).map_err(|e| e.lookup("keys"))
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

/// The marker file naming the store a data directory holds.
pub(super) const MARKER: &str = "store-id";

/// Makes sure the store is the one the data directory held. A random id is kept twice: in
/// the store and in a small file beside it. sled, finding its log damaged, recovers to the
/// last good point, which can be an empty store: then the file still names an id the store
/// no longer has, and piauth refuses to start rather than hand out new keys and forget every
/// client.
pub(super) fn check_identity(store: &Trees, dir: &Path) -> Result<(), StoreError> {
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
pub(super) fn restrict_permissions(dir: &Path, warn: bool) {
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
