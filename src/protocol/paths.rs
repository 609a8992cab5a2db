//! Every path piauth answers, in one table: the router dispatches on them, the metadata
//! publishes them, and the flows put them in their forms and redirects. A leaf: imports
//! nothing, so no endpoint needs the router.

/// The token endpoint (RFC 6749 §3.2).
pub const TOKEN_PATH: &str = "/token";
/// Introspection (RFC 7662).
pub const INTROSPECT_PATH: &str = "/introspect";
/// Revocation (RFC 7009).
pub const REVOKE_PATH: &str = "/revoke";
/// The JWK Set (RFC 7517).
pub const JWKS_PATH: &str = "/jwks.json";
/// Server metadata (RFC 8414).
pub const METADATA_PATH: &str = "/.well-known/oauth-authorization-server";
/// Health.
pub const HEALTH_PATH: &str = "/health";
/// The certificate served, for apps and phones to trust.
pub const CERTIFICATE_PATH: &str = "/certificate";
/// The UserInfo endpoint.
pub const USERINFO_PATH: &str = "/userinfo";
/// RP-initiated logout (`end_session_endpoint`).
pub const LOGOUT_PATH: &str = "/logout";
/// OpenID Connect discovery.
pub const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";
/// The operator's page.
pub const OPERATOR_PATH: &str = "/operator";
/// The Prometheus scrape endpoint.
pub const METRICS_PATH: &str = "/metrics";
/// The authorization endpoint.
pub const AUTHORIZE_PATH: &str = "/authorize";
/// The pages' stylesheet.
pub const STYLE_PATH: &str = "/pages.css";
/// The pages' one script: passkeys.
pub const PASSKEY_SCRIPT_PATH: &str = "/passkey.js";
/// Where that script gets a passkey ceremony's options.
pub const PASSKEY_OPTIONS_PATH: &str = "/passkey/options";
/// The device authorization endpoint.
pub const DEVICE_AUTHORIZATION_PATH: &str = "/device_authorization";
/// Where the person types the code.
pub const VERIFICATION_PATH: &str = "/device";
/// A person's own account page.
pub const ACCOUNT_PATH: &str = "/account";
/// Where a person uses the enrollment link the operator made for them.
pub const ENROLL_PATH: &str = "/enroll";
