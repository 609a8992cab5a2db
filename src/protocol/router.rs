//! The endpoints: (method, path) to the function that answers.

use crate::protocol::account::enroll as account_enroll;
use crate::protocol::account::page as account;
use crate::protocol::browser::{authorize, logout, reply};
use crate::protocol::client_auth::authenticate as client_auth;
use crate::protocol::device::pages as device_pages;
use crate::protocol::oidc::{discovery, metadata, userinfo};
use crate::protocol::operator::pages as operator_pages;
use crate::protocol::operator::{health, metrics};
use crate::protocol::page::Page;
use crate::protocol::paths::*;
use crate::protocol::token::{endpoint, introspection, revocation};
use crate::protocol::{Context, Reply, Request, Step};
use crate::vocab::entropy::Entropy;
use crate::vocab::oauth_error::OAuthError;
use crate::vocab::request::{self, BodyKind, Params};
use serde_json::json;

/// The endpoints an app in a browser calls from its own origin (a single-page app, a public
/// client with PKCE): they answer any origin (CORS), since they use no cookie, so a page
/// from elsewhere gains nothing a script without a browser does not have. The pages, the
/// operator's, introspection (server to server) and `/metrics` stay same-origin.
const CORS_PATHS: [&str; 6] = [
    TOKEN_PATH,
    REVOKE_PATH,
    JWKS_PATH,
    METADATA_PATH,
    USERINFO_PATH,
    DISCOVERY_PATH,
];

/// `/operator` and its pages.
fn is_operator_path(path: &str) -> bool {
    path == OPERATOR_PATH
        || path
            .strip_prefix(OPERATOR_PATH)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Answers a request.
pub fn handle(req: &Request, ctx: &Context, rng: &mut dyn Entropy) -> Step {
    if !CORS_PATHS.contains(&req.path.as_str()) {
        return answer(req, ctx, rng);
    }
    if req.method == "OPTIONS" {
        // A CORS preflight (Fetch standard §3.2.2).
        return Step::reply(Reply {
            status: 204,
            headers: vec![
                ("Access-Control-Allow-Origin", "*".into()),
                ("Access-Control-Allow-Methods", "GET, POST".into()),
                (
                    "Access-Control-Allow-Headers",
                    "Authorization, Content-Type".into(),
                ),
                ("Access-Control-Max-Age", "600".into()),
            ],
            body: Vec::new(),
            page: None,
        });
    }
    let step = answer(req, ctx, rng);
    Step {
        reply: step
            .reply
            .with_header("Access-Control-Allow-Origin", "*")
            .with_header(
                "Access-Control-Expose-Headers",
                "WWW-Authenticate, Retry-After",
            ),
        ..step
    }
}

fn answer(req: &Request, ctx: &Context, rng: &mut dyn Entropy) -> Step {
    match (req.path.as_str(), req.method.as_str()) {
        (USERINFO_PATH, "GET" | "POST") => return userinfo::userinfo(req, ctx),
        (LOGOUT_PATH, "GET") => return logout::logout_get(req, ctx, rng),
        (LOGOUT_PATH, "POST") => return logout::logout_post(req, ctx),
        (p, "GET") if is_operator_path(p) => return operator_pages::operator_get(req, ctx, rng),
        (p, "POST") if is_operator_path(p) => return operator_pages::operator_post(req, ctx, rng),
        (ENROLL_PATH, "GET") => return account_enroll::enroll_get(req, ctx, rng),
        (ENROLL_PATH, "POST") => return account_enroll::enroll_post(req, ctx, rng),
        (ACCOUNT_PATH, "GET") => return account::account_get(req, ctx, rng),
        (ACCOUNT_PATH, "POST") => return account::account_post(req, ctx, rng),
        (METRICS_PATH, "GET") => return metrics::metrics(ctx),
        (VERIFICATION_PATH, "GET") => return device_pages::device_get(req, ctx, rng),
        (VERIFICATION_PATH, "POST") => return device_pages::device_post(req, ctx, rng),
        (DISCOVERY_PATH, "GET") => return Step::reply(discovery::discovery(ctx)),
        (AUTHORIZE_PATH, "GET") => return authorize::authorize_get(req, ctx, rng),
        (AUTHORIZE_PATH, "POST") => return authorize::authorize_post(req, ctx, rng),
        (AUTHORIZE_PATH, _) => {
            return Step::reply(
                reply::page(
                    405,
                    Page::Error {
                        message: "Use GET or POST.".into(),
                    },
                )
                .with_header("Allow", "GET, POST"),
            )
        }
        (PASSKEY_OPTIONS_PATH, "POST") => {
            return crate::protocol::browser::passkey_options::options_post(req, ctx)
        }
        (PASSKEY_SCRIPT_PATH, _) => {
            return Step::reply(
                Reply::page(200, Page::PasskeyScript)
                    .with_header("Cache-Control", "public, max-age=86400")
                    .with_header("X-Content-Type-Options", "nosniff"),
            )
        }
        (STYLE_PATH, _) => {
            return Step::reply(
                Reply::page(200, Page::Stylesheet)
                    .with_header("Cache-Control", "public, max-age=86400")
                    .with_header("X-Content-Type-Options", "nosniff"),
            )
        }
        _ => {}
    }
    let allowed = match req.path.as_str() {
        TOKEN_PATH | INTROSPECT_PATH | REVOKE_PATH | DEVICE_AUTHORIZATION_PATH => "POST",
        JWKS_PATH | METADATA_PATH | HEALTH_PATH | CERTIFICATE_PATH => "GET",
        _ => {
            return Step::reply(Reply::json(
                404,
                &json!({"error": "not_found", "error_description": "no such endpoint"}),
            ))
        }
    };
    if req.method != allowed {
        return Step::reply(
            Reply::json(
                405,
                &json!({"error": "method_not_allowed", "error_description": format!("use {allowed}")}),
            )
            .with_header("Allow", allowed),
        );
    }
    match req.path.as_str() {
        TOKEN_PATH => post(req, ctx, |params, client| {
            endpoint::respond(params, client, req.peer, ctx, rng)
        }),
        INTROSPECT_PATH => post(req, ctx, |params, client| match token_param(params) {
            // An app with no secret cannot be trusted to read others' tokens (RFC 7662 §2.1).
            Ok(_) if client.record().public => Step::from(OAuthError::invalid_client(
                "a public client may not introspect tokens",
            )),
            Ok(t) => introspection::respond(t, client, ctx),
            Err(s) => s,
        }),
        REVOKE_PATH => post(req, ctx, |params, client| match token_param(params) {
            Ok(t) => revocation::respond(t, client, ctx),
            Err(s) => s,
        }),
        DEVICE_AUTHORIZATION_PATH => post(req, ctx, |params, client| {
            crate::protocol::device::authorization::authorize(params, client, req.peer, ctx, rng)
        }),
        JWKS_PATH => Step::reply(metadata::jwks(ctx)),
        CERTIFICATE_PATH => Step::reply(health::certificate(ctx)),
        METADATA_PATH => Step::reply(metadata::metadata(ctx)),
        // The details (board, tuning, counts) are for the operator on the Pi itself; the LAN
        // learns only whether the server is healthy.
        _ => Step::reply(health::health(ctx, req.peer.is_none_or(from_this_host))),
    }
}

/// Whether a request came from the machine itself: 127.0.0.1 or ::1 (an IPv4-mapped one
/// included). The rest of 127/8 counts as another host, which tests use to stand in for
/// the LAN.
fn from_this_host(peer: std::net::IpAddr) -> bool {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    matches!(
        peer.to_canonical(),
        IpAddr::V4(Ipv4Addr::LOCALHOST) | IpAddr::V6(Ipv6Addr::LOCALHOST)
    )
}

/// The shared start of every POST endpoint: parameters, then client authentication.
fn post(
    req: &Request,
    ctx: &Context,
    then: impl FnOnce(&Params, &client_auth::AuthenticatedClient) -> Step,
) -> Step {
    let params = match params(req) {
        Ok(p) => p,
        Err(s) => return s,
    };
    match client_auth::authenticate(req, &params, ctx) {
        Ok(client) => then(&params, &client),
        Err(s) => s,
    }
}

fn token_param(params: &Params) -> Result<&str, Step> {
    params
        .require("token", "token is required")
        .map_err(Step::from)
}

/// Reads the parameters of a POST endpoint.
fn params(req: &Request) -> Result<Params, Step> {
    if req.body_too_large {
        return Err(Step::reply(Reply::json(
            413,
            &json!({"error": "invalid_request", "error_description": "the request body is too large"}),
        )));
    }
    if req.header_count("Content-Type") > 1 || req.header_count("Authorization") > 1 {
        return Err(OAuthError::invalid_request("a header was given more than once").into());
    }
    let kind = BodyKind::from_content_type(req.header("Content-Type"))?;
    Ok(request::parse_body(kind, &req.body)?)
}
