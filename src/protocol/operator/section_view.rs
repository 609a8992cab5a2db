//! What the operator's management pages show, as plain text values for the templates
//! (built by [`super::sections`]).

/// Rows shown at most in the sessions and events lists (the rest are counted).
pub const MAX_ROWS: usize = 200;

/// A client, as its row and edit form show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRow {
    /// Id.
    pub id: String,
    /// How it authenticates, in words.
    pub auth: String,
    /// Its grants.
    pub grants: String,
    /// Its scope.
    pub scope: String,
    /// The groups it admits, space-separated (empty: everyone).
    pub groups: String,
    /// Its redirect URIs, one per line.
    pub redirect_uris: String,
    /// Disabled.
    pub disabled: bool,
    /// It has a secret that can be rotated.
    pub has_secret: bool,
    /// Every sign-in to it needs a second factor.
    pub second_factor: bool,
}

/// A person, as their row and edit form show them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonRow {
    /// User name.
    pub name: String,
    /// The name apps show.
    pub display_name: String,
    /// Email.
    pub email: String,
    /// Groups, space-separated.
    pub groups: String,
    /// An operator.
    pub admin: bool,
    /// Needs a second factor at every sign-in.
    pub second_factor: bool,
    /// Their factors, in words.
    pub factors: String,
    /// Has not set a password yet (an enrollment link waits).
    pub enrolling: bool,
}

/// A live session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    /// The family's id.
    pub id: String,
    /// The person, or "—" for a client acting for itself.
    pub user: String,
    /// The client.
    pub client: String,
    /// Its scope.
    pub scope: String,
    /// When it was last refreshed (or granted).
    pub last_used: String,
    /// When it ends unless refreshed.
    pub expires: String,
}

/// Everything a management page shows.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SectionView {
    /// Who is looking.
    pub user: String,
    /// The browser's form token.
    pub csrf: String,
    /// Which page: `clients`, `people`, `keys`, `sessions`, `events`.
    pub section: &'static str,
    /// The menu: (path, label, this page).
    pub menu: Vec<(&'static str, &'static str, bool)>,
    /// Whether the operator signed in recently enough to change things without their
    /// password again.
    pub recent: bool,
    /// What was done (after a change).
    pub notice: Option<String>,
    /// Why nothing was done.
    pub error: Option<String>,
    /// Values shown this once (a client secret, an enrollment link): (label, value).
    pub once: Vec<(String, String)>,
    /// Configuration blocks for the app just registered: (app kind, text).
    pub blocks: Vec<(String, String)>,
    /// Apps.
    pub clients: Vec<ClientRow>,
    /// The kinds of client the add form offers.
    pub client_kinds: Vec<(&'static str, &'static str)>,
    /// The app kinds a configuration block is written for.
    pub app_kinds: Vec<(&'static str, &'static str)>,
    /// People.
    pub people: Vec<PersonRow>,
    /// Groups: name, members, apps that admit it.
    pub groups: Vec<(String, String, String)>,
    /// Keys: kid, alg, what it signs, state, signs from.
    pub keys: Vec<Vec<String>>,
    /// Live sessions, newest first, at most [`MAX_ROWS`].
    pub sessions: Vec<SessionRow>,
    /// Events, newest first: time, action, outcome, client, user, address.
    pub events: Vec<Vec<String>>,
    /// Rows left out of the sessions or events list.
    pub more: usize,
    /// The events' filter: client, user, outcome.
    pub filter: (String, String, String),
}
