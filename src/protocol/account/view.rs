//! What the account page shows, as plain values (a leaf: the page enum holds it).

/// What the account page shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountView {
    /// Who is signed in.
    pub user: String,
    /// The forms' CSRF token.
    pub csrf: String,
    /// When one-time codes were set up (UTC), if they are.
    pub totp_since: Option<String>,
    /// Recovery codes left.
    pub recovery_left: usize,
    /// The person's passkeys: id, name, added (UTC), last used (UTC or "never").
    pub passkeys: Vec<(String, String, String, String)>,
    /// Why passkeys cannot be used with this server, if they cannot.
    pub passkeys_unavailable: Option<&'static str>,
    /// The operator requires a second factor.
    pub required: bool,
    /// The apps acting for the person: client, scope, refresh tokens, last refresh (UTC).
    pub apps: Vec<(String, String, usize, String)>,
    /// What the last change did, or why it was refused.
    pub notice: Option<String>,
    /// Whether the sign-in is recent enough to change things without signing in again.
    pub recent: bool,
}
