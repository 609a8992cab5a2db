//! Carrying out an admin request: [`manage::decide`] says what changes, the store applies
//! it in one transaction. The same for the socket and for a stopped server.

use super::{AdminError, AdminRequest};
use crate::adapters::service::{self, unix_now};
use crate::adapters::store::{Store, StoreError};
use crate::jose::keys::SigningAlg;
use crate::protocol::manage::{self, Env};
use crate::protocol::{Change, Conflict, Policy};
use crate::vocab::entropy::OsEntropy;
use serde_json::Value;

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        AdminError::Internal(e.to_string())
    }
}

impl From<service::ServiceError> for AdminError {
    fn from(e: service::ServiceError) -> Self {
        AdminError::Internal(e.to_string())
    }
}

/// Words for the operator when a change met a record changed meanwhile.
pub fn conflict_words(c: Conflict) -> AdminError {
    match c {
        Conflict::ClientExists(id) => AdminError::Exists(format!("client {id:?} already exists")),
        Conflict::UserExists(name) => AdminError::Exists(format!("user {name:?} already exists")),
        Conflict::UserChanged(name) => AdminError::Internal(format!(
            "user {name:?} was changed by another command meanwhile: nothing was done, try again"
        )),
        Conflict::ClientChanged(id) => AdminError::Internal(format!(
            "client {id:?} was changed by another command meanwhile: nothing was done, try again"
        )),
        Conflict::CodeSpent(name) => AdminError::Internal(format!(
            "a code of user {name:?} was spent meanwhile: try again"
        )),
        Conflict::FamilyReplaced(_) | Conflict::FamilyGone(_) => {
            AdminError::Internal("a refresh-token family changed meanwhile: try again".into())
        }
    }
}

/// Applies admin changes; a failed precondition becomes the error the operator sees.
fn apply(store: &Store, changes: &[Change]) -> Result<(), AdminError> {
    store.apply(changes)?.map_err(conflict_words)
}

/// What an admin command may act on.
pub struct AdminContext<'a> {
    /// The store.
    pub store: &'a Store,
    /// The pepper.
    pub pepper: &'a [u8],
    /// The policy (lifetimes, Argon2 cost).
    pub policy: &'a Policy,
    /// The configured signing algorithm.
    pub algorithm: SigningAlg,
}

/// A certificate a request carries (for a `jwks_uri`) must be one TLS can trust.
fn check_certificates(req: &AdminRequest) -> Result<(), AdminError> {
    let ca = match req {
        AdminRequest::ClientAdd(spec) => spec.jwks.as_ref().and_then(|j| j.ca.as_ref()),
        AdminRequest::IssuerAdd { jwks, .. } => jwks.as_ref().and_then(|j| j.ca.as_ref()),
        _ => None,
    };
    match ca {
        Some(pem) => crate::adapters::jwks_fetch::roots_from_pem(pem)
            .map(|_| ())
            .map_err(|e| AdminError::Invalid(format!("--jwks-ca: {e}"))),
        None => Ok(()),
    }
}

/// Carries out an admin request. Returns the result and whether the keys changed.
pub fn execute(req: AdminRequest, ctx: &AdminContext) -> Result<(Value, bool), AdminError> {
    check_certificates(&req)?;
    let mut rng = OsEntropy;
    let mut env = Env {
        dir: ctx.store,
        pepper: ctx.pepper,
        policy: ctx.policy,
        algorithm: ctx.algorithm,
        now: unix_now(),
        rng: &mut rng,
    };
    let decision = manage::decide(req, &mut env)?;
    if !decision.changes.is_empty() {
        apply(ctx.store, &decision.changes)?;
    }
    Ok((decision.answer, decision.keys_changed))
}
