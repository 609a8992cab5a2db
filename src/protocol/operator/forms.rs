//! The operator's forms read as the same commands the admin CLI sends
//! ([`AdminRequest`]): a page adds no rule of its own, it only says which command a form is.

use crate::protocol::manage::spec::{ClientSpec, JwksArgs, PersonArgs};
use crate::protocol::manage::AdminRequest;
use crate::vocab::record::JwksLocation;
use crate::vocab::request::Params;

/// The operator's pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// The server's state (`/operator`).
    Overview,
    /// Clients: the apps and devices.
    Clients,
    /// People and their groups.
    People,
    /// Signing keys.
    Keys,
    /// Live sessions (refresh-token families).
    Sessions,
    /// The audit trail.
    Events,
}

impl Section {
    /// Every page, in the order the menu shows them: (section, path, label).
    pub const ALL: [(Section, &'static str, &'static str); 6] = [
        (Section::Overview, "/operator", "Overview"),
        (Section::Clients, "/operator/clients", "Apps"),
        (Section::People, "/operator/people", "People"),
        (Section::Keys, "/operator/keys", "Keys"),
        (Section::Sessions, "/operator/sessions", "Sessions"),
        (Section::Events, "/operator/events", "Events"),
    ];

    /// The page at `path`.
    pub fn at(path: &str) -> Option<Section> {
        Section::ALL
            .iter()
            .find(|(_, p, _)| *p == path)
            .map(|(s, _, _)| *s)
    }

    /// Its path.
    pub fn path(self) -> &'static str {
        Section::ALL
            .iter()
            .find(|(s, _, _)| *s == self)
            .map_or("/operator", |(_, p, _)| p)
    }

    /// Its short name, as the templates test it.
    pub fn name(self) -> &'static str {
        match self {
            Section::Overview => "overview",
            Section::Clients => "clients",
            Section::People => "people",
            Section::Keys => "keys",
            Section::Sessions => "sessions",
            Section::Events => "events",
        }
    }
}

/// Why a form is not a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unreadable {
    /// No such action.
    Action,
    /// A removal or an immediate key rotation without its confirmation.
    Unconfirmed,
    /// A field missing.
    Missing(&'static str),
    /// A kind of app that is not one of the choices.
    Kind,
}

impl Unreadable {
    /// Words for the page.
    pub fn message(self) -> String {
        match self {
            Unreadable::Action => "That form could not be read.".into(),
            Unreadable::Unconfirmed => "Nothing was done: tick the box to confirm.".into(),
            Unreadable::Missing(f) => format!("Nothing was done: {f} is needed."),
            Unreadable::Kind => "Nothing was done: choose what kind of client it is.".into(),
        }
    }
}

/// Words split on white space and commas (groups, scopes).
fn words(form: &Params, name: &str) -> Vec<String> {
    form.get(name)
        .unwrap_or_default()
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// One entry per line (redirect URIs).
fn lines(form: &Params, name: &str) -> Vec<String> {
    form.get(name)
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

fn text(form: &Params, name: &str) -> Option<String> {
    form.get(name)
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
}

fn needed(form: &Params, name: &'static str) -> Result<String, Unreadable> {
    text(form, name).ok_or(Unreadable::Missing(name))
}

fn ticked(form: &Params, name: &str) -> bool {
    form.get(name).is_some_and(|v| v == "on" || v == "yes")
}

/// The grants and whether it is public, for a kind of client the page offers.
fn kind_of(kind: &str) -> Option<(&'static [&'static str], bool)> {
    Some(match kind {
        // A web app on a server of the house: it keeps a secret.
        "web" => (&["authorization_code", "refresh_token"], false),
        // An app on a phone or in a browser: no secret, PKCE.
        "public" => (&["authorization_code", "refresh_token"], true),
        // A TV or a box without a keyboard that signs a person in (the device flow).
        "device" => (
            &[
                "urn:ietf:params:oauth:grant-type:device_code",
                "refresh_token",
            ],
            true,
        ),
        // A sensor or a script acting for itself.
        "service" => (&["client_credentials"], false),
        _ => return None,
    })
}

/// The kinds of client the page offers: (value, label).
pub const CLIENT_KINDS: [(&str, &str); 4] = [
    ("web", "Web app that signs people in (has a secret)"),
    ("public", "App on a phone or in a browser (no secret, PKCE)"),
    ("device", "TV or device that signs a person in with a code"),
    ("service", "Sensor, script or service acting for itself"),
];

/// The command a form of the operator's pages asks for.
pub fn command(form: &Params) -> Result<AdminRequest, Unreadable> {
    let id = || needed(form, "id");
    let name = || needed(form, "name");
    let confirmed = || match ticked(form, "confirm") {
        true => Ok(()),
        false => Err(Unreadable::Unconfirmed),
    };
    Ok(match form.get("action").unwrap_or_default() {
        "client_add" => {
            let (grants, public) =
                kind_of(form.get("kind").unwrap_or_default()).ok_or(Unreadable::Kind)?;
            let jwks = text(form, "jwks_uri").map(|uri| JwksLocation { uri, ca: None });
            let spec = ClientSpec {
                id: id()?,
                grants: grants.iter().map(|g| g.to_string()).collect(),
                scopes: words(form, "scope"),
                audiences: words(form, "audience"),
                access_ttl: None,
                refresh_ttl: None,
                resource_server: false,
                jwk_files: Vec::new(),
                pem_files: Vec::new(),
                keys: Vec::new(),
                redirect_uris: lines(form, "redirect_uris"),
                public,
                require_pkce: false,
                pkce_optional: false,
                allowed_groups: words(form, "allowed_groups"),
                require_second_factor: ticked(form, "require_second_factor"),
                id_token_alg: None,
                jwks_args: JwksArgs::default(),
                jwks,
            };
            AdminRequest::ClientAdd(Box::new(spec))
        }
        "client_edit" => AdminRequest::ClientEdit {
            id: id()?,
            allowed_groups: Some(words(form, "allowed_groups")),
            redirect_uris: Some(lines(form, "redirect_uris")).filter(|u| !u.is_empty()),
            require_second_factor: Some(ticked(form, "require_second_factor")),
        },
        "client_disable" | "client_enable" => AdminRequest::ClientSetDisabled {
            id: id()?,
            disabled: form.get("action") == Some("client_disable"),
        },
        "client_rotate_secret" => AdminRequest::ClientRotateSecret { id: id()? },
        "client_remove" => {
            confirmed()?;
            AdminRequest::ClientRemove { id: id()? }
        }
        "person_add" => AdminRequest::UserAdd {
            name: name()?,
            scopes: Vec::new(),
            password: String::new(),
            person: PersonArgs {
                display_name: text(form, "display_name"),
                email: text(form, "email"),
                email_unverified: false,
                groups: words(form, "groups"),
            },
            admin: ticked(form, "admin"),
            // The person chooses their password with a link; the operator never knows it.
            enroll: true,
        },
        "person_edit" => {
            let groups = words(form, "groups");
            AdminRequest::UserEdit {
                name: name()?,
                person: PersonArgs {
                    display_name: text(form, "display_name"),
                    email: text(form, "email"),
                    email_unverified: false,
                    groups: groups.clone(),
                },
                email_verified: false,
                no_groups: groups.is_empty(),
                admin: Some(ticked(form, "admin")),
                require_second_factor: Some(ticked(form, "require_second_factor")),
            }
        }
        "person_enroll" => AdminRequest::UserEnroll { name: name()? },
        "person_reset_factors" => {
            confirmed()?;
            AdminRequest::UserResetFactors { name: name()? }
        }
        "person_sign_out" => AdminRequest::UserSignOut { name: name()? },
        "person_remove" => {
            confirmed()?;
            AdminRequest::UserRemove { name: name()? }
        }
        "session_revoke" => AdminRequest::SessionRevoke { id: id()? },
        "key_rotate" => AdminRequest::KeyRotate { now: false },
        "key_rotate_now" => {
            confirmed()?;
            AdminRequest::KeyRotate { now: true }
        }
        _ => return Err(Unreadable::Action),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Params {
        Params::from_pairs(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
        .unwrap()
    }

    #[test]
    fn an_app_s_form_is_the_command_line_s_client_add() {
        let cmd = command(&form(&[
            ("action", "client_add"),
            ("id", "wiki"),
            ("kind", "web"),
            ("scope", "openid profile, email"),
            (
                "redirect_uris",
                "https://wiki.home/cb\r\n\r\nhttps://wiki.home/cb2\n",
            ),
            ("allowed_groups", "family"),
        ]))
        .unwrap();
        let AdminRequest::ClientAdd(spec) = cmd else {
            panic!("{cmd:?}")
        };
        assert_eq!(spec.grants, ["authorization_code", "refresh_token"]);
        assert_eq!(spec.scopes, ["openid", "profile", "email"]);
        assert_eq!(
            spec.redirect_uris,
            ["https://wiki.home/cb", "https://wiki.home/cb2"]
        );
        assert_eq!(spec.allowed_groups, ["family"]);
        assert!(!spec.public);
        let cmd = command(&form(&[
            ("action", "client_add"),
            ("id", "tv"),
            ("kind", "device"),
        ]))
        .unwrap();
        assert!(matches!(cmd, AdminRequest::ClientAdd(s) if s.public));
        assert_eq!(
            command(&form(&[
                ("action", "client_add"),
                ("id", "x"),
                ("kind", "robot")
            ]))
            .err(),
            Some(Unreadable::Kind)
        );
    }

    #[test]
    fn removals_and_an_immediate_rotation_need_their_box_ticked() {
        for action in [
            "client_remove",
            "person_remove",
            "person_reset_factors",
            "key_rotate_now",
        ] {
            let bare = form(&[("action", action), ("id", "a"), ("name", "a")]);
            assert_eq!(
                command(&bare).err(),
                Some(Unreadable::Unconfirmed),
                "{action}"
            );
            let sure = form(&[
                ("action", action),
                ("id", "a"),
                ("name", "a"),
                ("confirm", "on"),
            ]);
            assert!(command(&sure).is_ok(), "{action}");
        }
        let staged = command(&form(&[("action", "key_rotate")])).unwrap();
        assert_eq!(staged, AdminRequest::KeyRotate { now: false });
    }

    #[test]
    fn a_person_added_on_the_page_gets_an_enrollment_link_not_a_password() {
        let cmd = command(&form(&[
            ("action", "person_add"),
            ("name", "bea"),
            ("groups", "family kids"),
        ]))
        .unwrap();
        match cmd {
            AdminRequest::UserAdd {
                enroll,
                password,
                person,
                admin,
                ..
            } => {
                assert!(enroll);
                assert!(password.is_empty());
                assert!(!admin);
                assert_eq!(person.groups, ["family", "kids"]);
            }
            other => panic!("{other:?}"),
        }
        // An edit with no groups leaves every group (the form shows them all).
        let cmd = command(&form(&[("action", "person_edit"), ("name", "bea")])).unwrap();
        assert!(matches!(
            cmd,
            AdminRequest::UserEdit {
                no_groups: true,
                ..
            }
        ));
        assert_eq!(
            command(&form(&[("action", "person_add")])).err(),
            Some(Unreadable::Missing("name"))
        );
        assert_eq!(
            command(&form(&[("action", "drop_tables")])).err(),
            Some(Unreadable::Action)
        );
    }
}
