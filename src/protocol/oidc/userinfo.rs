//! The UserInfo endpoint (OpenID Connect Core §5.3): the claims a `Bearer` access token's
//! scope allows, and RFC 6750's errors.

use crate::protocol::oidc::id_token::user_claims;
use crate::protocol::{Context, Reply, Request, Step};
use crate::vocab::scope::Scope;
use serde_json::{json, Value};

pub(crate) fn bearer_error(status: u16, error: Option<&str>, description: &str) -> Reply {
    let challenge = match error {
        Some(e) => {
            format!("Bearer realm=\"piauth\", error=\"{e}\", error_description=\"{description}\"")
        }
        // RFC 6750 §3.1: no error code when the request had no token at all.
        None => "Bearer realm=\"piauth\"".to_string(),
    };
    let body = match error {
        Some(e) => json!({"error": e, "error_description": description}),
        None => json!({"error": "invalid_request", "error_description": description}),
    };
    Reply::json(status, &body)
        .no_store()
        .with_header("WWW-Authenticate", &challenge)
}

/// `GET` or `POST /userinfo` with `Authorization: Bearer` (RFC 6750 §2.1).
pub fn userinfo(req: &Request, ctx: &Context) -> Step {
    let token = req.header("Authorization").and_then(|h| {
        let (scheme, rest) = h.trim().split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
    });
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return Step::reply(bearer_error(401, None, "an access token is required"));
    };
    let invalid = || {
        Step::reply(bearer_error(
            401,
            Some("invalid_token"),
            "the access token is invalid, expired or revoked",
        ))
    };
    let claims = match crate::protocol::presented::find(token, ctx) {
        Ok(crate::protocol::presented::Found::Access(c)) => c,
        Ok(_) => return invalid(),
        Err(e) => return Step::from(e),
    };
    let scope = Scope::parse(&claims.scope).unwrap_or_default();
    if !scope.contains("openid") {
        return Step::reply(bearer_error(
            403,
            Some("insufficient_scope"),
            "the access token was not granted the openid scope",
        ));
    }
    // A person's token: its subject is the user it names.
    let Some(name) = claims.username.as_deref() else {
        return invalid();
    };
    match ctx.dir.user(name) {
        Ok(Some(user)) => {
            let mut claims = user_claims(&user, &scope);
            claims.insert("sub".into(), json!(user.name));
            Step::reply(Reply::json(200, &Value::Object(claims)).no_store())
        }
        Ok(None) => invalid(),
        Err(e) => Step::from(e),
    }
}
