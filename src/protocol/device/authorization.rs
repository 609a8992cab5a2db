//! `POST /device_authorization`: a TV or a speaker with no keyboard asks, and gets the
//! short code to show; the person types it at `/device` (`device::pages`) while the device
//! polls the token endpoint.

use crate::protocol::client_auth::authenticate::AuthenticatedClient;
use crate::protocol::device::requests::{
    new_user_code, Decision, Full, Pending, INTERVAL, LIFETIME,
};
use crate::protocol::paths::VERIFICATION_PATH;
use crate::protocol::{Context, Reply, Step};
use crate::vocab::entropy::Entropy;
use crate::vocab::oauth_error::{ErrorCode, OAuthError};
use crate::vocab::record::GrantType;
use crate::vocab::request::Params;
use crate::vocab::scope::Scope;

/// `POST /device_authorization` (RFC 8628 §3.1, §3.2) from an authenticated client.
pub fn authorize(
    params: &Params,
    client: &AuthenticatedClient,
    peer: Option<std::net::IpAddr>,
    ctx: &Context,
    rng: &mut dyn Entropy,
) -> Step {
    let c = client.record();
    if !c.grants.contains(&GrantType::DeviceCode) {
        return OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this client may not use the device flow",
        )
        .into();
    }
    let scope = match params.get("scope").map(Scope::parse) {
        None => c.scope.clone(),
        Some(Ok(s)) if s.is_subset(&c.scope) => s,
        Some(_) => {
            return OAuthError::invalid_scope(
                "the requested scope exceeds what this client may be granted",
            )
            .into()
        }
    };
    let device_code = crate::vocab::entropy::token(rng, 32);
    let digest = crate::jose::secret::token_digest(&device_code);
    let mut user_code = None;
    // 20^8 codes: a clash with one of a few hundred pending is rare; a few tries settle it.
    for _ in 0..8 {
        let code = new_user_code(rng);
        let pending = Pending {
            client_id: c.id.clone(),
            scope: scope.clone(),
            user_code: code.clone(),
            expires_at: ctx.now.saturating_add(LIFETIME),
            interval: INTERVAL,
            last_poll: None,
            decision: Decision::Pending,
            peer,
        };
        match ctx.devices.insert(digest, pending, ctx.now) {
            Ok(true) => {
                user_code = Some(code);
                break;
            }
            Ok(false) => continue,
            Err(Full) => break,
        }
    }
    let Some(user_code) = user_code else {
        return OAuthError::new(
            ErrorCode::TemporarilyUnavailable,
            "too many devices are waiting for approval (from this address, or in all); try again shortly",
        )
        .into();
    };
    let uri = format!("{}{VERIFICATION_PATH}", ctx.policy.issuer);
    Step::reply(
        Reply::json(
            200,
            &serde_json::json!({
                "device_code": device_code,
                "user_code": user_code,
                "verification_uri": uri,
                "verification_uri_complete": format!("{uri}?user_code={user_code}"),
                "expires_in": LIFETIME,
                "interval": INTERVAL,
            }),
        )
        .no_store(),
    )
}
