//! Token revocation (RFC 7009): a client ends a token it was issued.

use crate::protocol::client_auth::authenticate::AuthenticatedClient;
use crate::protocol::presented::{self, Found};
use crate::protocol::{Change, Context, Reply, Step};
use crate::vocab::oauth_error::{ErrorCode, OAuthError};
use serde_json::json;

const NOT_YOURS: OAuthError = OAuthError::new(
    ErrorCode::UnauthorizedClient,
    "the token was not issued to this client",
);

/// Revokes `token` for `client`.
pub fn respond(token: &str, client: &AuthenticatedClient, ctx: &Context) -> Step {
    let found = match presented::find(token, ctx) {
        Ok(f) => f,
        Err(e) => return Step::from(e),
    };
    let change = match found {
        Found::Access(c) if c.client_id == client.id() => Change::RevokeAccessToken {
            // Kept until the token could no longer pass a check anyway.
            until: c.exp.saturating_add(ctx.policy.leeway),
            jti: c.jti,
        },
        Found::Refresh(id, r) if r.client_id == client.id() => Change::RevokeFamily(id),
        Found::Access(_) | Found::Refresh(..) => return Step::from(NOT_YOURS),
        // RFC 7009 §2.2: an invalid or unknown token is answered 200 too.
        Found::Nothing => return Step::reply(ok()),
    };
    Step {
        reply: ok(),
        changes: vec![change],
        event: None,
    }
}

fn ok() -> Reply {
    Reply::json(200, &json!({})).no_store()
}
