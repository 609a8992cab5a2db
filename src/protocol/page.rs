//! Every page piauth shows, as plain values: the flows decide which and with what, the
//! pages adapter (`crate::adapters::pages`) renders it.

/// Where a page that interrupts a sign-in goes on to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Continue {
    /// The page.
    pub action: &'static str,
    /// For the authorization endpoint, the request and the form's CSRF token: it is posted
    /// back (`action=continue`), since a link would repeat a `prompt=login` the sign-in
    /// just met. Otherwise a link.
    pub form: Option<(String, String)>,
    /// A link's query.
    pub query: String,
}

impl Continue {
    /// A link to `action`.
    pub fn link(action: &'static str) -> Continue {
        Continue {
            action,
            form: None,
            query: String::new(),
        }
    }
    /// The link's target.
    pub fn href(&self) -> String {
        if self.query.is_empty() {
            self.action.to_string()
        } else {
            format!("{}?{}", self.action, self.query)
        }
    }
}

/// A page, as plain values; `crate::adapters::pages` renders it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Page {
    /// Sign in to continue to a client.
    Login {
        /// Whom the person signs in for.
        client: String,
        /// Where the form goes.
        action: &'static str,
        /// The authorization request, to carry through the form.
        request: String,
        /// The form's CSRF token.
        csrf: String,
        /// The name typed before, after a failure.
        username: String,
        /// Why the last attempt failed.
        error: Option<&'static str>,
        /// The server can offer passkeys (its issuer is a secure context with a name).
        passkeys: bool,
    },
    /// Allow a client what it asks.
    Consent {
        /// The client asking.
        client: String,
        /// Who is signed in.
        user: String,
        /// What it asks, each with words for it.
        scopes: Vec<(String, String)>,
        /// The authorization request.
        request: String,
        /// The form's CSRF token.
        csrf: String,
    },
    /// Something went wrong, and there is nowhere safe to send the browser.
    Error {
        /// What to tell the person.
        message: String,
    },
    /// Type the code a device shows.
    DeviceEntry {
        /// The form's CSRF token.
        csrf: String,
        /// The code typed before.
        user_code: String,
        /// Why it was not taken.
        error: Option<&'static str>,
    },
    /// Approve a device.
    DeviceConsent {
        /// The device's client.
        client: String,
        /// Who is signed in.
        user: String,
        /// What it asks, with words.
        scopes: Vec<(String, String)>,
        /// The code.
        user_code: String,
        /// The form's CSRF token.
        csrf: String,
    },
    /// The device was approved or denied.
    DeviceDone {
        /// Approved.
        approved: bool,
    },
    /// The operator's page.
    Operator(Box<crate::protocol::operator::view::OperatorView>),
    /// One of the operator's management pages (apps, people, keys, sessions, events), or
    /// what a change did.
    OperatorSection(Box<crate::protocol::operator::section_view::SectionView>),
    /// Sign out? (A logout an app asked for without an ID token of piauth's.)
    SignOut {
        /// The form's CSRF token.
        csrf: String,
        /// The logout request, carried through the form.
        request: String,
    },
    /// The browser's session has ended.
    SignedOut,
    /// The answer to the app, as a form the browser posts to it (`response_mode=form_post`).
    FormPost {
        /// The app's redirect URI.
        action: String,
        /// The fields.
        fields: Vec<(String, String)>,
    },
    /// The person may not use this app: they are in none of the groups it allows.
    NotAdmitted {
        /// The app.
        client: String,
        /// Who is signed in.
        user: String,
        /// Back to the app, telling it `access_denied`; a link, or for `form_post` a form.
        back: Box<crate::protocol::browser::auth_request::Response>,
    },
    /// The second step of a sign-in: a one-time or recovery code.
    SecondFactor {
        /// Whom the person signs in for.
        client: String,
        /// Where the form goes.
        action: &'static str,
        /// The request carried through the form.
        request: String,
        /// The form's CSRF token.
        csrf: String,
        /// Why the last code was not taken.
        error: Option<&'static str>,
        /// The server can offer passkeys.
        passkeys: bool,
    },
    /// Set up one-time codes: the key as a QR code and as text, then a code made with it.
    TotpSetup {
        /// Where the form goes.
        action: &'static str,
        /// The request carried through the form.
        request: String,
        /// The form's CSRF token.
        csrf: String,
        /// The key, base32.
        secret: String,
        /// The `otpauth://` URI.
        uri: String,
        /// Its QR code, an SVG image piauth drew.
        qr: String,
        /// Why the last code was not taken.
        error: Option<&'static str>,
    },
    /// New recovery codes, shown this once.
    RecoveryCodes {
        /// The codes.
        codes: Vec<String>,
        /// Where to go on.
        next: Continue,
    },
    /// Something the person should know before going on.
    Notice {
        /// The heading.
        title: &'static str,
        /// What to say.
        message: String,
        /// Where to go on.
        next: Continue,
    },
    /// Set a password with an enrollment link.
    Enroll {
        /// Whose link it is.
        user: String,
        /// The link's secret, carried through the form.
        token: String,
        /// The form's CSRF token.
        csrf: String,
        /// Why the last try was not taken.
        error: Option<&'static str>,
    },
    /// A person's own account page.
    Account(Box<crate::protocol::account::view::AccountView>),
    /// The stylesheet.
    Stylesheet,
    /// The pages' one script (passkeys).
    PasskeyScript,
}
