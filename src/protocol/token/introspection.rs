//! Token introspection (RFC 7662): what a token is, told to an authenticated client.

use crate::protocol::client_auth::authenticate::AuthenticatedClient;
use crate::protocol::presented::{self, Found};
use crate::protocol::{Context, Reply, Step};
use serde_json::{json, Value};

/// Describes `token` to `client`.
pub fn respond(token: &str, client: &AuthenticatedClient, ctx: &Context) -> Step {
    match presented::find(token, ctx) {
        Ok(found) => Step::reply(Reply::json(200, &describe(found, client, ctx)).no_store()),
        Err(e) => Step::from(e),
    }
}

/// The introspection response for what was found.
pub fn describe(found: Found, client: &AuthenticatedClient, ctx: &Context) -> Value {
    match found {
        // A client sees access tokens issued to it or meant for it; a resource server, all.
        Found::Access(c)
            if client.record().resource_server
                || c.client_id == client.id()
                || c.aud.iter().any(|a| a == client.id()) =>
        {
            let mut v = json!({
                "active": true,
                "token_type": "Bearer",
                "scope": c.scope,
                "client_id": c.client_id,
                "sub": c.sub,
                "aud": c.aud,
                "iss": c.iss,
                "exp": c.exp,
                "iat": c.iat,
                "nbf": c.nbf,
                "jti": c.jti,
            });
            if let Some(u) = c.username {
                v["username"] = json!(u);
            }
            v
        }
        // A refresh token is described only to the client that holds it.
        Found::Refresh(_, r) if r.client_id == client.id() => {
            let mut v = json!({
                "active": true,
                "token_type": "refresh_token",
                "scope": r.scope.to_string(),
                "client_id": r.client_id,
                "sub": r.username.clone().unwrap_or_else(|| r.client_id.clone()),
                "exp": r.expires_at,
                "iat": r.issued_at,
                "iss": ctx.policy.issuer,
            });
            if let Some(u) = r.username {
                v["username"] = json!(u);
            }
            v
        }
        _ => json!({"active": false}),
    }
}
