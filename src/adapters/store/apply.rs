//! The one place the core's [`Change`]s are written: every change of a request in one sled
//! transaction, its preconditions checked inside it, so a conflict applies nothing.

use super::trees::{dec, enc, index_key};
use super::{StoreError, Trees};
use crate::protocol::{Change, Conflict};
use crate::vocab::record::{ClientRecord, FamilyRecord, UserRecord};
use sled::transaction::{
    ConflictableTransactionError, TransactionError, TransactionalTree, UnabortableTransactionError,
};
use sled::Transactional;
use std::sync::atomic::Ordering;

/// Why a transaction stopped: a failed precondition, or a record that does not decode.
pub(super) enum Abort {
    Conflict(Conflict),
    Store(StoreError),
}

pub(super) type TxResult<T> = Result<T, ConflictableTransactionError<Abort>>;

pub(super) fn abort<T>(a: Abort) -> TxResult<T> {
    Err(ConflictableTransactionError::Abort(a))
}

/// The trees a transaction writes, by role.
pub(super) struct Tx<'a> {
    pub(super) issuers: &'a TransactionalTree,
    pub(super) consents: &'a TransactionalTree,
    pub(super) clients: &'a TransactionalTree,
    pub(super) users: &'a TransactionalTree,
    pub(super) keys: &'a TransactionalTree,
    pub(super) families: &'a TransactionalTree,
    pub(super) family_expiry: &'a TransactionalTree,
    pub(super) family_use: &'a TransactionalTree,
    pub(super) revoked_jti: &'a TransactionalTree,
}

/// What a transaction did to the family count.
#[derive(Default)]
pub(super) struct Applied {
    pub(super) families_added: usize,
    pub(super) families_removed: usize,
}

impl Tx<'_> {
    pub(super) fn family(&self, key: &[u8]) -> TxResult<Option<FamilyRecord>> {
        match self.families.get(key)? {
            Some(bytes) => match dec("family", &bytes) {
                Ok(f) => Ok(Some(f)),
                Err(e) => abort(Abort::Store(e)),
            },
            None => Ok(None),
        }
    }

    fn client(&self, id: &str) -> TxResult<Option<ClientRecord>> {
        match self.clients.get(id.as_bytes())? {
            Some(bytes) => match dec("client", &bytes) {
                Ok(c) => Ok(Some(c)),
                Err(e) => abort(Abort::Store(e)),
            },
            None => Ok(None),
        }
    }

    pub(super) fn user(&self, name: &str) -> TxResult<Option<UserRecord>> {
        match self.users.get(name.as_bytes())? {
            Some(bytes) => match dec("user", &bytes) {
                Ok(u) => Ok(Some(u)),
                Err(e) => abort(Abort::Store(e)),
            },
            None => Ok(None),
        }
    }

    /// Writes `family` as the most recently used, moving its index entries.
    pub(super) fn put_family(
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

    pub(super) fn apply(&self, change: &Change, applied: &mut Applied) -> TxResult<()> {
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
            Change::ReplaceClient { client, expected } => {
                if self.client(&client.id)?.as_ref() != Some(&**expected) {
                    return abort(Abort::Conflict(Conflict::ClientChanged(client.id.clone())));
                }
                self.clients.insert(client.id.as_bytes(), enc(client))?;
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
                let unchanged = self
                    .user(&user.name)?
                    .is_some_and(|u| &u.generation == expected && u.revision == user.revision);
                if !unchanged {
                    return abort(Abort::Conflict(Conflict::UserChanged(user.name.clone())));
                }
                let mut next = user.clone();
                next.revision = next.revision.wrapping_add(1);
                self.users.insert(user.name.as_bytes(), enc(&next))?;
            }
            Change::SpendCode { user, spend } => {
                let Some(current) = self.user(user)? else {
                    return abort(Abort::Conflict(Conflict::UserChanged(user.clone())));
                };
                let Some(mut next) = spend.applied(&current) else {
                    return abort(Abort::Conflict(Conflict::CodeSpent(user.clone())));
                };
                next.revision = next.revision.wrapping_add(1);
                self.users.insert(user.as_bytes(), enc(&next))?;
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

impl Trees {
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
}
