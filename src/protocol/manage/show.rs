//! Records as admin commands print them (JSON; never a secret or a password's hash).

use crate::vocab::record::{ClientRecord, UserRecord};
use serde_json::{json, Value};

pub(crate) fn client_json(c: &ClientRecord) -> Value {
    json!({
        "client_id": c.id,
        "grants": c.grants,
        "scope": c.scope.to_string(),
        "audiences": c.audiences,
        "access_ttl": c.access_ttl,
        "refresh_ttl": c.refresh_ttl,
        "disabled": c.disabled,
        "resource_server": c.resource_server,
        "created_at": c.created_at,
        "auth": if c.public { "none" } else if c.has_keys() { "private_key_jwt" } else { "client_secret" },
        "redirect_uris": c.redirect_uris,
        "keys": key_names(&c.keys),
        "jwks_uri": c.jwks.as_ref().map(|j| &j.uri),
        "pkce": crate::protocol::browser::auth_request::pkce_rule(c).describe(),
        "allowed_groups": c.allowed_groups,
        "require_second_factor": c.require_second_factor,
        "id_token_alg": crate::protocol::oidc::id_token::id_token_alg(c).as_str(),
    })
}

/// A person as `user show` and `user list` print them (never the password's hash).
pub(crate) fn user_json(u: &UserRecord) -> Value {
    json!({
        "username": u.name,
        "scope": u.scope.to_string(),
        "name": u.display_name,
        "email": u.email,
        "email_verified": u.email.is_some() && !u.email_unverified,
        "groups": u.groups,
        "admin": u.admin,
        "created_at": u.created_at,
        "require_second_factor": u.require_second_factor,
        "factors": {
            "totp": u.factors.totp.as_ref().map(|t| json!({ "added_at": t.added_at })),
            "recovery_codes_left": u.factors.recovery.len(),
            // Names and dates only: never the key material or counters.
            "passkeys": u.factors.passkeys.iter().map(|p| json!({
                "name": p.name,
                "added_at": p.added_at,
                "last_used": p.last_used,
            })).collect::<Vec<_>>(),
        },
    })
}

/// Public JWKs as `client show` and `issuer list` name them: "ALG KID".
pub(crate) fn key_names(keys: &[Value]) -> Vec<String> {
    let field = |k: &Value, name: &str| k[name].as_str().unwrap_or("?").to_string();
    keys.iter()
        .map(|k| format!("{} {}", field(k, "alg"), field(k, "kid")))
        .collect()
}

pub(crate) fn issuer_json(i: &crate::vocab::record::IssuerRecord) -> Value {
    json!({
        "issuer": i.name,
        "subjects": i.subjects,
        "scope": i.scope.to_string(),
        "keys": key_names(&i.keys),
        "jwks_uri": i.jwks.as_ref().map(|j| &j.uri),
        "created_at": i.created_at,
    })
}
