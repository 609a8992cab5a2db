//! Server metadata (RFC 8414) and the JWK Set (RFC 7517).

use crate::protocol::paths::{INTROSPECT_PATH, JWKS_PATH, REVOKE_PATH, TOKEN_PATH};
use crate::protocol::{Context, Reply};
use crate::vocab::record::GrantType;
use serde_json::json;

const AUTH_METHODS: [&str; 3] = [
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
];
/// The token endpoint also takes public clients (`none`), with PKCE.
const TOKEN_AUTH_METHODS: [&str; 4] = [
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
    "none",
];

/// The metadata document. `scopes_supported` appears only when the operator names the
/// scopes: an empty list would say no scope is supported, and the union of the clients'
/// scopes would tell the whole LAN what each device may do.
pub fn metadata(ctx: &Context) -> Reply {
    Reply::json(200, &document(ctx))
}

/// The metadata document's fields (shared with OpenID Connect discovery).
pub fn document(ctx: &Context) -> serde_json::Value {
    let issuer = &ctx.policy.issuer;
    let mut algs: Vec<&str> = ctx
        .keys
        .keys()
        .iter()
        .filter(|k| k.is_live(ctx.now) && k.purpose.is_access())
        .map(|k| k.alg.as_str())
        .collect();
    algs.sort();
    algs.dedup();
    // What a `private_key_jwt` or bearer assertion may be signed with.
    let assertion_algs = json!(crate::jose::client_keys::ASSERTION_ALGS);
    let mut doc = json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}{}", crate::protocol::paths::AUTHORIZE_PATH),
        "token_endpoint": format!("{issuer}{TOKEN_PATH}"),
        "device_authorization_endpoint": format!("{issuer}{}", crate::protocol::paths::DEVICE_AUTHORIZATION_PATH),
        "introspection_endpoint": format!("{issuer}{INTROSPECT_PATH}"),
        "revocation_endpoint": format!("{issuer}{REVOKE_PATH}"),
        "jwks_uri": format!("{issuer}{JWKS_PATH}"),
        "grant_types_supported": GrantType::ALL.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
        "response_types_supported": ["code"],
        "response_modes_supported": crate::protocol::browser::auth_request::ResponseMode::ALL.map(|m| m.as_str()),
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": true,
        "token_endpoint_auth_methods_supported": TOKEN_AUTH_METHODS,
        "introspection_endpoint_auth_methods_supported": AUTH_METHODS,
        "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
        "token_endpoint_auth_signing_alg_values_supported": assertion_algs,
        "introspection_endpoint_auth_signing_alg_values_supported": assertion_algs,
        "revocation_endpoint_auth_signing_alg_values_supported": assertion_algs,
        "access_token_signing_alg_values_supported": algs,
    });
    if let Some(scopes) = ctx
        .policy
        .scopes_supported
        .as_ref()
        .filter(|s| !s.is_empty())
    {
        doc["scopes_supported"] = json!(scopes);
    }
    doc
}

/// The public keys, cacheable for five minutes.
pub fn jwks(ctx: &Context) -> Reply {
    let cache = format!("public, max-age={}", ctx.policy.jwks_max_age);
    Reply::json(200, &ctx.keys.jwks(ctx.now)).with_header("Cache-Control", &cache)
}
