//! The admin channel's messages: one JSON request line, one JSON reply line.

use serde::{Deserialize, Serialize};
use std::fmt;

/// An admin request.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum AdminRequest {
    /// Register a client.
    ClientAdd(Box<crate::protocol::manage::spec::ClientSpec>),
    /// List clients.
    ClientList,
    /// Show a client.
    ClientShow {
        /// Id.
        id: String,
    },
    /// Remove a client.
    ClientRemove {
        /// Id.
        id: String,
    },
    /// New secret.
    ClientRotateSecret {
        /// Id.
        id: String,
    },
    /// Disable or enable.
    ClientSetDisabled {
        /// Id.
        id: String,
        /// New state.
        disabled: bool,
    },
    /// Change who may use a client and where it may send people back.
    ClientEdit {
        /// Id.
        id: String,
        /// The groups whose members may sign in to it, when they change (empty: everyone).
        #[serde(default)]
        allowed_groups: Option<Vec<String>>,
        /// Its redirect URIs, when they change.
        #[serde(default)]
        redirect_uris: Option<Vec<String>>,
        /// Whether every sign-in to it needs a second factor, when it changes.
        #[serde(default)]
        require_second_factor: Option<bool>,
    },
    /// Add a user.
    UserAdd {
        /// Name.
        name: String,
        /// Scope tokens.
        scopes: Vec<String>,
        /// The password (travels only over the 0600 socket, never logged).
        password: String,
        /// Name, email and groups.
        #[serde(flatten)]
        person: crate::protocol::manage::spec::PersonArgs,
        /// May open the operator's page.
        #[serde(default)]
        admin: bool,
        /// No password: print a one-time link with which the person sets their own.
        #[serde(default)]
        enroll: bool,
    },
    /// A new one-time link for a person to set their password (the old one ends).
    UserEnroll {
        /// Name.
        name: String,
    },
    /// Change a person; their sessions go on.
    UserEdit {
        /// Name.
        name: String,
        /// What changes: a name, an email (and whether it is unverified), the groups.
        #[serde(flatten)]
        person: crate::protocol::manage::spec::PersonArgs,
        /// The email is verified again.
        #[serde(default)]
        email_verified: bool,
        /// Leave every group.
        #[serde(default)]
        no_groups: bool,
        /// The operator flag, when it changes.
        #[serde(default)]
        admin: Option<bool>,
        /// Whether every sign-in needs a second factor, when it changes.
        #[serde(default)]
        require_second_factor: Option<bool>,
    },
    /// Remove a person's second factors (a lost phone) and end their browser sessions.
    UserResetFactors {
        /// Name.
        name: String,
    },
    /// Sign a person out everywhere: every refresh token ends, and every browser session.
    UserSignOut {
        /// Name.
        name: String,
    },
    /// Show a person.
    UserShow {
        /// Name.
        name: String,
    },
    /// List users.
    UserList,
    /// List groups.
    GroupList,
    /// Remove a user.
    UserRevoke {
        /// Name.
        name: String,
        /// The client.
        client: String,
    },
    /// Remove a user.
    UserRemove {
        /// Name.
        name: String,
    },
    /// Set a password.
    UserPasswd {
        /// Name.
        name: String,
        /// The new password.
        password: String,
        /// Keep the user's refresh-token families (by default they end).
        #[serde(default)]
        keep_sessions: bool,
    },
    /// Trust an issuer.
    IssuerAdd {
        /// Its `iss`.
        name: String,
        /// Its public JWKs (read by the command line).
        keys: Vec<serde_json::Value>,
        /// Where it publishes its keys instead.
        #[serde(default)]
        jwks: Option<crate::vocab::record::JwksLocation>,
        /// Subjects it may assert.
        subjects: Vec<String>,
        /// Scopes it may bring.
        scopes: Vec<String>,
    },
    /// List trusted issuers.
    IssuerList,
    /// Stop trusting an issuer.
    IssuerRemove {
        /// Its `iss`.
        name: String,
    },
    /// The live refresh-token families (sessions), by person and client.
    SessionList,
    /// End one refresh-token family: the device's next refresh fails.
    SessionRevoke {
        /// The family's id, as `session list` prints it.
        id: String,
    },
    /// List keys.
    KeyList,
    /// Rotate the signing key: staged, or at once when the keys are compromised.
    KeyRotate {
        /// At once: the keys in place leave the JWKS now.
        #[serde(default)]
        now: bool,
    },
    /// Export the current HS256 secret.
    KeySecret,
    /// The recent audit records of the running server.
    Audit,
}

impl AdminRequest {
    /// The operation's name, as the wire and the audit trail write it.
    pub fn op(&self) -> String {
        let v = serde_json::to_value(self).unwrap_or_default();
        v["op"].as_str().unwrap_or("?").to_string()
    }

    /// Whether it changes anything (and so belongs in the audit trail).
    pub fn changes_something(&self) -> bool {
        !matches!(
            self,
            AdminRequest::ClientList
                | AdminRequest::ClientShow { .. }
                | AdminRequest::UserList
                | AdminRequest::UserShow { .. }
                | AdminRequest::GroupList
                | AdminRequest::KeyList
                | AdminRequest::IssuerList
                | AdminRequest::SessionList
                | AdminRequest::Audit
        )
    }
}

impl fmt::Debug for AdminRequest {
    // Only the operation: requests can carry passwords.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AdminRequest({})", self.op())
    }
}

/// Why an admin request failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "message", rename_all = "snake_case")]
pub enum AdminError {
    /// Bad arguments.
    Invalid(String),
    /// No such client, user or key.
    NotFound(String),
    /// The id or name is taken.
    Exists(String),
    /// The store or keys failed.
    Internal(String),
    /// The admin channel itself failed.
    Channel(String),
}

impl fmt::Display for AdminError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AdminError::Invalid(m)
            | AdminError::NotFound(m)
            | AdminError::Exists(m)
            | AdminError::Internal(m)
            | AdminError::Channel(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for AdminError {}

/// The reply on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdminReply {
    /// Success, with the command's result.
    Ok(serde_json::Value),
    /// Failure.
    Err(AdminError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_replies_round_trip() {
        let r = AdminRequest::UserAdd {
            name: "a".into(),
            scopes: vec!["read".into()],
            password: "pw".into(),
            person: crate::protocol::manage::spec::PersonArgs {
                display_name: Some("A".into()),
                groups: vec!["family".into()],
                ..Default::default()
            },
            admin: false,
            enroll: false,
        };
        let line = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<AdminRequest>(&line).unwrap(), r);
        let e = AdminReply::Err(AdminError::NotFound("no client x".into()));
        let line = serde_json::to_string(&e).unwrap();
        assert_eq!(serde_json::from_str::<AdminReply>(&line).unwrap(), e);
    }

    #[test]
    fn debug_hides_passwords() {
        let r = AdminRequest::UserPasswd {
            name: "a".into(),
            password: "hunter2".into(),
            keep_sessions: false,
        };
        assert_eq!(format!("{r:?}"), "AdminRequest(user_passwd)");
    }
}
