//! What an endpoint decides: the [`Step`] (the reply, the changes, the event), and the
//! [`Event`] the log, the audit ring and the LED are told.

use crate::protocol::{Change, LookupError, Reply};
use crate::vocab::oauth_error::{ErrorCode, OAuthError};
use std::fmt;

/// What happened, for the log and the status LED. Never holds a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Tokens were issued; `evicted` families went to make room for a new one.
    Issued {
        /// The client.
        client_id: String,
        /// The grant type.
        grant: &'static str,
        /// The person the grant is for (sign-in, device flow, password grant) and its refreshes.
        user: Option<String>,
        /// Families dropped by the cap.
        evicted: usize,
    },
    /// A client failed to authenticate.
    ClientAuthFailed {
        /// The id presented, cut to the length an id may have.
        client_id: String,
        /// Why, for the log only.
        why: crate::protocol::client_auth::credentials::AuthFailure,
    },
    /// A wrong password or unknown user at the password grant.
    PasswordRefused {
        /// The client that asked.
        client_id: String,
        /// The user name given.
        user: String,
    },
    /// An attempt refused unchecked: too many failures from its address or for its name.
    Throttled {
        /// The address.
        peer: Option<std::net::IpAddr>,
        /// Seconds it must wait.
        wait: u64,
    },
    /// Something a person did in a browser: signed in (or failed to), was sent back to an
    /// app with a code, refused a client.
    Page {
        /// What: `login`, `authorize`.
        action: &'static str,
        /// How it ended.
        outcome: &'static str,
        /// The client.
        client_id: Option<String>,
        /// The user (a name a user could have).
        user: Option<String>,
    },
    /// A trusted issuer's assertion (the JWT bearer grant) was refused.
    AssertionRefused {
        /// The client that presented it.
        client_id: String,
        /// The check that failed, a word for the audit log.
        why: &'static str,
    },
    /// A refresh token was presented again after it had been replaced.
    RefreshReused {
        /// The client that presented it.
        client_id: String,
    },
    /// An operator's command from the operator's pages, as the admin socket audits its own.
    Admin {
        /// The command's name (`client_add`, …).
        op: String,
        /// `ok` or `failed`.
        outcome: &'static str,
        /// The operator.
        user: String,
    },
    /// The server failed (its store, its keys); the detail is for the log.
    Failed(String),
}

/// What an endpoint decided.
#[derive(Debug)]
pub struct Step {
    /// The answer.
    pub reply: Reply,
    /// What to write, in one transaction, before the answer is sent.
    pub changes: Vec<Change>,
    /// What to log and show.
    pub event: Option<Event>,
}

impl Step {
    /// An answer that changes nothing.
    pub fn reply(reply: Reply) -> Step {
        Step {
            reply,
            changes: Vec::new(),
            event: None,
        }
    }

    /// Adds a change.
    pub fn with_change(mut self, change: Change) -> Step {
        self.changes.push(change);
        self
    }

    /// The step, telling the log and the LED `event`.
    pub fn with_event(mut self, event: Event) -> Step {
        self.event = Some(event);
        self
    }
}

impl From<OAuthError> for Step {
    fn from(e: OAuthError) -> Step {
        Step::reply(Reply::oauth_error(&e))
    }
}

impl From<LookupError> for Step {
    fn from(e: LookupError) -> Step {
        store_failed(&e)
    }
}

/// The answer when the store fails, reading or writing.
pub fn store_failed(e: &dyn fmt::Display) -> Step {
    Step::from(OAuthError::server_error("the token store failed"))
        .with_event(Event::Failed(e.to_string()))
}

/// The answer when the store's disk refuses writes (full, say): it passes, so the client is
/// told to come back (`503` with `Retry-After`). Said once in the log by the store.
pub fn store_cannot_write() -> Step {
    Step::from(OAuthError::new(
        ErrorCode::TemporarilyUnavailable,
        "the server cannot save this change now; try again later",
    ))
}
