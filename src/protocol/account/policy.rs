//! What a sign-in must prove, and what it tells apps it proved (OpenID Connect `amr`,
//! RFC 8176; `acr`).

use crate::vocab::record::UserRecord;

/// Seconds a sign-in counts as recent, for a change to the account (a password, a
/// factor): past that the person proves it is them again.
pub const RECENT: u64 = 5 * 60;
/// Seconds between a password and the second factor that completes its sign-in.
pub const SECOND_STEP: u64 = 5 * 60;

/// The `acr` values an app may ask for with `acr_values`: "mfa" makes a second factor
/// required for that sign-in.
pub const ACR_VALUES: [&str; 2] = ["pwd", "mfa"];

/// How a person proved who they are in one sign-in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Methods {
    /// A password.
    pub pwd: bool,
    /// A one-time code, or a recovery code.
    pub otp: bool,
    /// A passkey, with the person verified on the authenticator (a PIN or a fingerprint):
    /// possession and a second factor in one.
    pub key: Option<KeyKind>,
}

/// Where a passkey's private key lives, as its authenticator says (the backup-eligible
/// flag): RFC 8176's `hwk` for a key bound to one device, `swk` for one synced between
/// devices. The authenticator's own word: no attestation is asked for, so an app must not
/// treat `hwk` as proof that the key cannot be copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// Bound to one authenticator (a security key, a phone's secure element).
    Hardware,
    /// Copied between a person's devices (a password manager, a platform's sync).
    Synced,
}

impl Methods {
    /// A password only.
    pub const PASSWORD: Methods = Methods {
        pwd: true,
        otp: false,
        key: None,
    };

    /// A passkey alone.
    pub fn passkey(kind: KeyKind) -> Methods {
        Methods {
            pwd: false,
            otp: false,
            key: Some(kind),
        }
    }

    /// Whether a second factor was used (a passkey is one: it needs the person verified).
    pub fn second(&self) -> bool {
        self.otp || self.key.is_some()
    }

    /// OpenID Connect `amr`, with RFC 8176's values: "mfa" once two were used.
    pub fn amr(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.pwd {
            v.push("pwd");
        }
        if self.otp {
            v.push("otp");
        }
        match self.key {
            Some(KeyKind::Hardware) => v.push("hwk"),
            Some(KeyKind::Synced) => v.push("swk"),
            None => {}
        }
        if v.len() > 1 || self.key.is_some() {
            v.push("mfa");
        }
        v
    }

    /// The `acr` met (one of [`ACR_VALUES`]).
    pub fn acr(&self) -> &'static str {
        if self.second() {
            "mfa"
        } else {
            "pwd"
        }
    }
}

/// What a sign-in still needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Nothing: it may go on.
    Nothing,
    /// A code of a factor the person has.
    SecondFactor,
    /// A second factor is required and the person has none: they set one up first.
    Enroll,
}

/// What a sign-in that proved `done` needs before it may act for `user`: a person with a
/// second factor always uses it (they set it up to be asked); one the operator or the app
/// (`app_requires`) requires is set up if missing.
pub fn need(user: &UserRecord, app_requires: bool, done: Methods) -> Need {
    if done.second() {
        return Need::Nothing;
    }
    if user.factors.has_second_factor() {
        Need::SecondFactor
    } else if user.require_second_factor || app_requires {
        Need::Enroll
    } else {
        Need::Nothing
    }
}

/// Whether a password alone (the password grant, RFC 6749 §4.3) may act for `user` at an
/// app: not where a sign-in would need more.
pub fn password_alone_suffices(user: &UserRecord, app_requires: bool) -> bool {
    need(user, app_requires, Methods::PASSWORD) == Need::Nothing
}

/// Whether an app's `acr_values` (space-separated, in order of preference) ask for a second
/// factor.
pub fn acr_asks_second_factor(acr_values: Option<&str>) -> bool {
    acr_values.is_some_and(|v| v.split(' ').any(|a| a == "mfa"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::record::TotpFactor;

    #[test]
    fn a_second_factor_is_asked_of_who_has_one_and_set_up_where_required() {
        let mut u = crate::protocol::testing::user("ann", "", "g");
        let pwd = Methods::PASSWORD;
        let both = Methods {
            pwd: true,
            otp: true,
            key: None,
        };
        assert_eq!(need(&u, false, pwd), Need::Nothing);
        assert_eq!(need(&u, true, pwd), Need::Enroll, "the app requires one");
        u.require_second_factor = true;
        assert_eq!(
            need(&u, false, pwd),
            Need::Enroll,
            "the operator requires one"
        );
        assert!(!password_alone_suffices(&u, false));
        u.require_second_factor = false;
        u.factors.totp = Some(TotpFactor {
            secret: "S".into(),
            added_at: 0,
            last_step: 0,
        });
        assert_eq!(
            need(&u, false, pwd),
            Need::SecondFactor,
            "set up: always used"
        );
        assert!(!password_alone_suffices(&u, false));
        assert_eq!(need(&u, true, both), Need::Nothing);
        // Recovery codes alone are no factor to ask for: they stand in for a lost one.
        u.factors.totp = None;
        u.factors.recovery = vec!["d".into()];
        assert_eq!(need(&u, false, pwd), Need::Nothing);
    }

    #[test]
    fn amr_and_acr_say_what_was_used() {
        assert_eq!(Methods::PASSWORD.amr(), ["pwd"]);
        assert_eq!(Methods::PASSWORD.acr(), "pwd");
        let both = Methods {
            pwd: true,
            otp: true,
            key: None,
        };
        assert_eq!(both.amr(), ["pwd", "otp", "mfa"]);
        assert_eq!(both.acr(), "mfa");
        assert_eq!(Methods::passkey(KeyKind::Hardware).amr(), ["hwk", "mfa"]);
        assert_eq!(Methods::passkey(KeyKind::Synced).amr(), ["swk", "mfa"]);
        assert_eq!(Methods::passkey(KeyKind::Synced).acr(), "mfa");
        let after_password = Methods {
            key: Some(KeyKind::Hardware),
            ..Methods::PASSWORD
        };
        assert_eq!(after_password.amr(), ["pwd", "hwk", "mfa"]);
        assert!(acr_asks_second_factor(Some("pwd mfa")));
        assert!(!acr_asks_second_factor(Some("pwd")));
        assert!(!acr_asks_second_factor(Some("xmfa")));
        assert!(!acr_asks_second_factor(None));
    }
}
