//! Writes as data: what an endpoint or an admin command asks the store to change.
//!
//! The store applies a list of changes in one transaction, or none of them when a
//! precondition fails ([`Conflict`]).

use crate::jose::refresh::{FamilyId, TokenDigest};
use crate::vocab::record::{ClientRecord, FamilyRecord, KeyRecord, UserRecord};

/// One write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Store a new family; it becomes the most recently used.
    InsertFamily {
        /// Its id.
        id: FamilyId,
        /// Its record.
        record: FamilyRecord,
    },
    /// Replace the family's newest token, if it is still `presented` and the family is
    /// live; the family becomes the most recently used. Otherwise nothing is applied:
    /// [`Conflict::FamilyReplaced`] or [`Conflict::FamilyGone`].
    RotateFamily {
        /// The family.
        id: FamilyId,
        /// SHA-256 of the token presented.
        presented: TokenDigest,
        /// The family after the exchange (its count of rotations is taken from the
        /// stored record).
        next: FamilyRecord,
    },
    /// Revoke a family (nothing if it is gone).
    RevokeFamily(FamilyId),
    /// Delete a family to make room (nothing if it is gone).
    EvictFamily(FamilyId),
    /// Delete a family if it has expired by `now` (nothing if it is gone, or a rotation
    /// since it was found expired gave it a new lifetime).
    PurgeFamily {
        /// The family.
        id: FamilyId,
        /// The time it was found expired at.
        now: u64,
    },
    /// Refuse an access token by `jti` until `until`.
    RevokeAccessToken {
        /// The token's `jti`.
        jti: String,
        /// When the revocation may be forgotten (the token has expired).
        until: u64,
    },
    /// Create a client; [`Conflict::ClientExists`] if the id is taken.
    InsertClient(ClientRecord),
    /// Replace a client if it is still as `expected` (read before the change); otherwise
    /// [`Conflict::ClientChanged`]: an edit read before a new secret, say, would bring the
    /// old secret back.
    ReplaceClient {
        /// The client as it should be.
        client: ClientRecord,
        /// The client as it was read.
        expected: Box<ClientRecord>,
    },
    /// Delete a client.
    RemoveClient(String),
    /// Create a user; [`Conflict::UserExists`] if the name is taken.
    InsertUser(UserRecord),
    /// Replace a user if its generation is still `expected` and its revision still the one
    /// `user` was read at; otherwise [`Conflict::UserChanged`] (it was removed, re-created
    /// or written meanwhile). The store raises the revision.
    ReplaceUser {
        /// The user as it should be.
        user: UserRecord,
        /// The generation read before deciding.
        expected: String,
    },
    /// Spend a second factor's code: applied only while it is unspent (the TOTP step is
    /// newer than the last taken, the recovery code still there); otherwise
    /// [`Conflict::CodeSpent`]. Also [`Conflict::UserChanged`] if the user is gone. The
    /// store raises the revision.
    SpendCode {
        /// The user.
        user: String,
        /// What the code spends.
        spend: crate::protocol::account::factors::Spend,
    },
    /// Delete a user.
    RemoveUser(String),
    /// Write key records (a rotation).
    PutKeys(Vec<KeyRecord>),
    /// Store or replace a trusted issuer.
    PutIssuer(crate::vocab::record::IssuerRecord),
    /// Forget a trusted issuer.
    RemoveIssuer(String),
    /// Remember a person's consent to a client.
    PutConsent(crate::vocab::record::ConsentRecord),
    /// Forget a consent: (user, client).
    RemoveConsent(String, String),
}

/// Why a list of changes was not applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conflict {
    /// A rotation found another token newest: the one presented was replaced meanwhile.
    FamilyReplaced(FamilyId),
    /// A rotation found the family revoked or gone.
    FamilyGone(FamilyId),
    /// The client id is taken.
    ClientExists(String),
    /// The user name is taken.
    UserExists(String),
    /// The user was removed or re-created meanwhile.
    UserChanged(String),
    /// The client was changed or removed meanwhile.
    ClientChanged(String),
    /// A second factor's code was used by another sign-in first.
    CodeSpent(String),
}
