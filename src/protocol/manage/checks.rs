//! What an admin request must satisfy before anything changes: names, lifetimes, scopes,
//! groups, a person's fields, a client's flow and keys.

use super::command::AdminError;
use crate::vocab::record::{is_valid_name, GrantType};
use crate::vocab::scope::Scope;
use serde_json::Value;

pub(crate) fn scope_of(tokens: &[String]) -> Result<Scope, AdminError> {
    // Accept "read write" in one flag as well as repeated flags.
    let split: Vec<&str> = tokens
        .iter()
        .flat_map(|t| t.split(' '))
        .filter(|t| !t.is_empty())
        .collect();
    Scope::from_tokens(split).map_err(|e| AdminError::Invalid(e.to_string()))
}

pub(crate) fn check_name(kind: &str, name: &str) -> Result<(), AdminError> {
    if is_valid_name(name) {
        Ok(())
    } else {
        Err(AdminError::Invalid(format!(
            "{kind} {name:?} is not valid: use 1 to 128 letters, digits and - _ . @ ~"
        )))
    }
}

pub(crate) fn check_ttl(name: &str, ttl: Option<u64>) -> Result<(), AdminError> {
    match ttl {
        Some(0) => Err(AdminError::Invalid(format!(
            "{name} must be at least 1 second"
        ))),
        Some(t) if name == "access-ttl" && t > 86_400 => Err(AdminError::Invalid(
            "access-ttl must be at most 86400 seconds".into(),
        )),
        _ => Ok(()),
    }
}

/// Groups as given: valid names, each once, sorted.
pub(crate) fn groups_of(groups: &[String]) -> Result<Vec<String>, AdminError> {
    let mut out: Vec<String> = Vec::new();
    for g in groups {
        check_name("group", g)?;
        out.push(g.clone());
    }
    out.sort();
    out.dedup();
    if out.len() > 64 {
        return Err(AdminError::Invalid("at most 64 groups".into()));
    }
    Ok(out)
}

/// A name to show and an email address, checked.
pub(crate) fn check_person(
    person: &crate::protocol::manage::spec::PersonArgs,
) -> Result<(), AdminError> {
    let text_ok = |t: &Option<String>| {
        t.as_ref()
            .is_none_or(|t| !t.is_empty() && t.len() <= 128 && !t.chars().any(char::is_control))
    };
    if !text_ok(&person.display_name) {
        return Err(AdminError::Invalid(
            "--name must be 1 to 128 printable characters".into(),
        ));
    }
    let email_ok = |e: &str| {
        e.split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && d.contains('.'))
            && !e.chars().any(|c| c.is_whitespace())
    };
    if !text_ok(&person.email) || person.email.as_deref().is_some_and(|e| !email_ok(e)) {
        return Err(AdminError::Invalid(
            "--email is not an email address".into(),
        ));
    }
    Ok(())
}

/// The authorization code flow's registration rules: it needs a redirect URI, each one
/// safe; a public client has no secret or keys and uses that flow only.
pub(crate) fn check_flow(
    grants: &[GrantType],
    redirect_uris: &[String],
    public: bool,
    keyed: bool,
) -> Result<(), AdminError> {
    for uri in redirect_uris {
        crate::protocol::browser::auth_request::check_redirect_uri(uri)
            .map_err(AdminError::Invalid)?;
    }
    if grants.contains(&GrantType::AuthorizationCode) && redirect_uris.is_empty() {
        return Err(AdminError::Invalid(
            "the authorization_code grant needs at least one --redirect-uri".into(),
        ));
    }
    if public {
        if keyed {
            return Err(AdminError::Invalid(
                "a public client has no keys: leave out --public, or the keys".into(),
            ));
        }
        if let Some(g) = grants.iter().find(|g| {
            !matches!(
                g,
                GrantType::AuthorizationCode | GrantType::RefreshToken | GrantType::DeviceCode
            )
        }) {
            return Err(AdminError::Invalid(format!(
                "a public client may use authorization_code, the device code and refresh_token only, not {g}"
            )));
        }
    }
    Ok(())
}

/// Whether a client with these grants signs people in (and so may get ID tokens).
pub(crate) fn grants_sign_in(grants: &[GrantType]) -> bool {
    grants.contains(&GrantType::AuthorizationCode)
}

/// Registered keys or a published key set, not both; the location checked again here, since
/// the admin channel carries what the command line read.
pub(crate) fn key_location(
    keys: &[Value],
    jwks: Option<crate::vocab::record::JwksLocation>,
) -> Result<Option<crate::vocab::record::JwksLocation>, AdminError> {
    let Some(at) = jwks else {
        return Ok(None);
    };
    if !keys.is_empty() {
        return Err(AdminError::Invalid(
            "give keys (--jwk, --pem) or where they are published (--jwks-uri), not both".into(),
        ));
    }
    crate::protocol::client_auth::published_keys::check_uri(&at.uri)
        .map_err(AdminError::Invalid)?;
    // The certificate in `at.ca` is read by the TLS adapter, which checks it before this.
    Ok(Some(at))
}

pub(crate) fn read_password(p: &str) -> Result<(), AdminError> {
    if p.is_empty() {
        return Err(AdminError::Invalid("the password is empty".into()));
    }
    if p.len() > 1024 {
        return Err(AdminError::Invalid(
            "the password is longer than 1024 bytes".into(),
        ));
    }
    Ok(())
}

pub(crate) fn no_client(id: &str) -> AdminError {
    AdminError::NotFound(format!("no client {id:?}"))
}

pub(crate) fn no_user(name: &str) -> AdminError {
    AdminError::NotFound(format!("no user {name:?}"))
}
