//! OpenID Connect Discovery §3: the RFC 8414 metadata with what OpenID Connect adds.

use crate::protocol::paths::{LOGOUT_PATH, USERINFO_PATH};
use crate::protocol::{Context, Reply};
use serde_json::json;

/// The discovery document: the OAuth metadata and what OpenID Connect adds.
pub fn discovery(ctx: &Context) -> Reply {
    let issuer = &ctx.policy.issuer;
    let mut doc = crate::protocol::oidc::metadata::document(ctx);
    doc["userinfo_endpoint"] = json!(format!("{issuer}{USERINFO_PATH}"));
    doc["end_session_endpoint"] = json!(format!("{issuer}{LOGOUT_PATH}"));
    doc["subject_types_supported"] = json!(["public"]);
    let algs: Vec<&str> = ctx
        .keys
        .id_algs(ctx.now)
        .iter()
        .map(|a| a.as_str())
        .collect();
    doc["id_token_signing_alg_values_supported"] = json!(algs);
    doc["acr_values_supported"] = json!(crate::protocol::account::policy::ACR_VALUES);
    doc["prompt_values_supported"] = json!(["none", "login", "consent"]);
    doc["claims_supported"] = json!([
        "sub",
        "iss",
        "aud",
        "exp",
        "iat",
        "auth_time",
        "amr",
        "acr",
        "nonce",
        "at_hash",
        "azp",
        "preferred_username",
        "name",
        "email",
        "email_verified",
        "groups"
    ]);
    let mut scopes: Vec<String> = crate::vocab::scope::IDENTITY
        .iter()
        .map(|s| s.to_string())
        .collect();
    for s in ctx.policy.scopes_supported.iter().flatten() {
        if !scopes.contains(s) {
            scopes.push(s.clone());
        }
    }
    doc["scopes_supported"] = json!(scopes);
    Reply::json(200, &doc)
}
