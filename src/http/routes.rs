//! The endpoints: (method, path) to a handler from [`Request`] to [`Response`].
//!
//! Handlers parse with `request`, decide with `grant` and `token`, and apply what was
//! decided to the store. Every OAuth error becomes a response in [`error_response`] only.

use super::{Outcome, Request, Response};
use crate::grant::{self, AuthenticatedClient, Decision, Issue, RefreshPlan, REFRESH_REUSED};
use crate::oauth_error::{ErrorCode, OAuthError};
use crate::record::{FamilyRecord, GrantType};
use crate::refresh::{self, FamilyId};
use crate::request::{self, BodyKind, Params};
use crate::scope::Scope;
use crate::secret;
use crate::service::{unix_now, Service};
use crate::store::Rotation;
use crate::token::{self, AccessClaims};
use serde_json::{json, Value};

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

/// Dispatches a request.
pub fn route(req: &Request, service: &Service) -> Response {
    let allowed = match req.path.as_str() {
        TOKEN_PATH | INTROSPECT_PATH | REVOKE_PATH => "POST",
        JWKS_PATH | METADATA_PATH | HEALTH_PATH => "GET",
        _ => {
            return Response::json(
                404,
                &json!({"error": "not_found", "error_description": "no such endpoint"}),
            )
        }
    };
    if req.method != allowed {
        return Response::json(
            405,
            &json!({"error": "method_not_allowed", "error_description": format!("use {allowed}")}),
        )
        .with_header("Allow", allowed);
    }
    let result = match req.path.as_str() {
        TOKEN_PATH => token_endpoint(req, service),
        INTROSPECT_PATH => introspect(req, service),
        REVOKE_PATH => revoke(req, service),
        JWKS_PATH => Ok(Response::json(200, &service.keys().jwks(unix_now()))
            .with_header("Cache-Control", "public, max-age=300")),
        METADATA_PATH => Ok(metadata(service)),
        _ => Ok(health(service)),
    };
    result.unwrap_or_else(|r| r)
}

/// An OAuth error as JSON (RFC 6749 §5.2). A 401 always names the Basic scheme, as
/// HTTP requires and RFC 6749 §5.2 asks for when Basic was tried.
pub fn error_response(e: &OAuthError) -> Response {
    let r = Response::json(
        e.code.status(),
        &json!({"error": e.code.as_str(), "error_description": e.description}),
    )
    .with_header("Cache-Control", "no-store")
    .with_header("Pragma", "no-cache");
    match e.code {
        ErrorCode::InvalidClient => r.with_header("WWW-Authenticate", "Basic realm=\"piauth\""),
        ErrorCode::TemporarilyUnavailable => r.with_header("Retry-After", "5"),
        _ => r,
    }
}

fn store_failed(what: &str, e: &dyn std::fmt::Display) -> Response {
    log::error!("{what}: {e}");
    error_response(&OAuthError::server_error("the token store failed"))
        .with_outcome(Outcome::Failed)
}

/// Reads the parameters of a POST endpoint.
fn params(req: &Request) -> Result<Params, Response> {
    if req.body_too_large {
        return Err(Response::json(
            413,
            &json!({"error": "invalid_request", "error_description": "the request body is too large"}),
        ));
    }
    if req.header_count("Content-Type") > 1 || req.header_count("Authorization") > 1 {
        return Err(error_response(&OAuthError::invalid_request(
            "a header was given more than once",
        )));
    }
    let kind =
        BodyKind::from_content_type(req.header("Content-Type")).map_err(|e| error_response(&e))?;
    request::parse_body(kind, &req.body).map_err(|e| error_response(&e))
}

/// Authenticates the client of a POST endpoint.
fn authenticate(
    req: &Request,
    params: &Params,
    service: &Service,
) -> Result<AuthenticatedClient, Response> {
    let creds = request::client_credentials(req.header("Authorization"), params)
        .map_err(|e| error_response(&e.error))?;
    let record = service
        .store
        .client(creds.id())
        .map_err(|e| store_failed("client lookup", &e))?;
    grant::authenticate(&creds, record, &service.pepper).map_err(|(e, why)| {
        // The id is logged to find a misconfigured device; the secret never is.
        log::warn!("client authentication failed for {:?}: {why:?}", creds.id());
        error_response(&e).with_outcome(Outcome::AuthFailed)
    })
}

fn token_endpoint(req: &Request, service: &Service) -> Result<Response, Response> {
    let params = params(req)?;
    let client = authenticate(req, &params, service)?;
    let now = unix_now();
    match grant::decide(&params, &client, &service.store, &service.policy, now) {
        Decision::Refuse(e) => {
            if e.code == ErrorCode::ServerError {
                log::error!(
                    "token request from {:?} failed: {}",
                    client.id(),
                    e.description
                );
            }
            Err(error_response(&e))
        }
        Decision::RevokeFamily(family) => {
            log::warn!(
                "refresh token reused by {:?}: revoking its family (RFC 9700 §4.14)",
                client.id()
            );
            service
                .store
                .revoke_family(&family)
                .map_err(|e| store_failed("revoking a family", &e))?;
            Err(error_response(&REFRESH_REUSED))
        }
        Decision::Issue(issue) => issue_tokens(&issue, service, now),
    }
}

fn issue_tokens(issue: &Issue, service: &Service, now: u64) -> Result<Response, Response> {
    let ring = service.keys();
    let claims = AccessClaims {
        iss: service.policy.issuer.clone(),
        sub: issue.subject.clone(),
        aud: issue.audiences.clone(),
        exp: now.saturating_add(issue.access_ttl),
        nbf: now,
        iat: now,
        jti: secret::random_token(16),
        client_id: issue.client_id.clone(),
        scope: issue.scope.to_string(),
        username: issue.username.clone(),
    };
    let access = token::mint(&claims, ring.current()).map_err(|e| store_failed("minting", &e))?;
    let refresh = match &issue.refresh {
        RefreshPlan::None => None,
        RefreshPlan::NewFamily => {
            let id = FamilyId::random();
            let (value, family) = next_refresh(issue, &id, now);
            service
                .store
                .insert_family(&id, &family)
                .map_err(|e| store_failed("storing a refresh token", &e))?;
            let evicted = service
                .store
                .cap_families(service.profile.max_refresh_families)
                .map_err(|e| store_failed("capping refresh families", &e))?;
            if let Some(dropped) = service.families_evicted(evicted) {
                log::warn!(
                    "refresh-token family cap ({}) reached: {dropped} least recently used \
                     families dropped (this is said at most once a minute)",
                    service.profile.max_refresh_families
                );
            }
            Some(value)
        }
        RefreshPlan::Rotate { family, presented } => {
            let (value, next) = next_refresh(issue, family, now);
            let outcome = service
                .store
                .rotate_refresh(family, presented, &next)
                .map_err(|e| store_failed("rotating a refresh token", &e))?;
            match outcome {
                Rotation::Rotated => Some(value),
                Rotation::Reused => {
                    log::warn!(
                        "refresh token reused concurrently by {:?}: family revoked",
                        issue.client_id
                    );
                    return Err(error_response(&REFRESH_REUSED));
                }
                Rotation::Gone => {
                    return Err(error_response(&OAuthError::invalid_grant(
                        "refresh token is invalid, expired or revoked",
                    )))
                }
            }
        }
    };
    let mut body = json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": issue.access_ttl,
        "scope": issue.scope.to_string(),
    });
    if let Some(r) = refresh {
        body["refresh_token"] = json!(r);
    }
    Ok(Response::json(200, &body)
        .with_header("Cache-Control", "no-store")
        .with_header("Pragma", "no-cache")
        .with_outcome(Outcome::Issued))
}

/// A new newest token for family `id`, and the family as it is once that token is issued.
fn next_refresh(issue: &Issue, id: &FamilyId, now: u64) -> (String, FamilyRecord) {
    let (value, digest) = refresh::mint(id);
    let family = FamilyRecord {
        client_id: issue.client_id.clone(),
        username: issue.username.clone(),
        scope: issue.refresh_scope.clone(),
        current: digest.encode(),
        issued_at: now,
        expires_at: now.saturating_add(issue.refresh_ttl),
        rotations: 0,
        revoked: false,
    };
    (value, family)
}

/// What a presented token turned out to be.
enum Found {
    Access(AccessClaims),
    /// A family's newest token, live.
    Refresh(FamilyId, FamilyRecord),
    Nothing,
}

fn find_token(token: &str, service: &Service, now: u64) -> Result<Found, Response> {
    if token.split('.').count() == 3 {
        return match token::verify_cached(
            token,
            &service.keys(),
            &service.policy.issuer,
            now,
            service.policy.leeway,
            &service.verified,
        ) {
            Ok(claims) => {
                let revoked = service
                    .store
                    .is_jti_revoked(&claims.jti)
                    .map_err(|e| store_failed("revocation lookup", &e))?;
                Ok(if revoked {
                    Found::Nothing
                } else {
                    Found::Access(claims)
                })
            }
            Err(why) => {
                log::debug!("presented token not accepted: {why}");
                Ok(Found::Nothing)
            }
        };
    }
    let presented = refresh::parse(token);
    let found = grant::find_family(&service.store, &presented)
        .map_err(|e| store_failed("refresh lookup", &e))?;
    Ok(match found {
        Some((id, f))
            if !f.revoked && now < f.expires_at && presented.digest.matches(&f.current) =>
        {
            Found::Refresh(id, f)
        }
        // An older token of the family, or one of a revoked or expired family.
        _ => Found::Nothing,
    })
}

fn no_store(r: Response) -> Response {
    r.with_header("Cache-Control", "no-store")
}

/// The shared start of introspection and revocation: an authenticated client and what the
/// `token` parameter names.
fn presented_token(
    req: &Request,
    service: &Service,
) -> Result<(AuthenticatedClient, Found), Response> {
    let params = params(req)?;
    let client = authenticate(req, &params, service)?;
    let token = params
        .require("token", "token is required")
        .map_err(|e| error_response(&e))?;
    Ok((client, find_token(token, service, unix_now())?))
}

fn introspect(req: &Request, service: &Service) -> Result<Response, Response> {
    let (client, found) = presented_token(req, service)?;
    let body = match found {
        Found::Access(c) => {
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
                "iss": service.policy.issuer,
            });
            if let Some(u) = r.username {
                v["username"] = json!(u);
            }
            v
        }
        _ => json!({"active": false}),
    };
    Ok(no_store(Response::json(200, &body)))
}

fn revoke(req: &Request, service: &Service) -> Result<Response, Response> {
    let (client, found) = presented_token(req, service)?;
    let not_yours = || {
        error_response(&OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "the token was not issued to this client",
        ))
    };
    match found {
        Found::Access(c) => {
            if c.client_id != client.id() {
                return Err(not_yours());
            }
            service
                .store
                .revoke_jti(&c.jti, c.exp.saturating_add(service.policy.leeway))
                .map_err(|e| store_failed("revoking an access token", &e))?;
        }
        Found::Refresh(id, r) => {
            if r.client_id != client.id() {
                return Err(not_yours());
            }
            service
                .store
                .revoke_family(&id)
                .map_err(|e| store_failed("revoking a refresh token", &e))?;
        }
        // RFC 7009 §2.2: an invalid or unknown token is answered 200 too.
        Found::Nothing => {}
    }
    Ok(no_store(Response::json(200, &json!({}))))
}

fn metadata(service: &Service) -> Response {
    let issuer = &service.policy.issuer;
    let mut scopes = Scope::default();
    if let Ok(clients) = service.store.clients() {
        for c in clients {
            scopes = Scope::from_tokens(scopes.iter().chain(c.scope.iter())).unwrap_or(scopes);
        }
    }
    let auth_methods = ["client_secret_basic", "client_secret_post"];
    let ring = service.keys();
    let mut algs: Vec<&str> = ring
        .keys()
        .iter()
        .filter(|k| k.is_live(unix_now()))
        .map(|k| k.alg.as_str())
        .collect();
    algs.sort();
    algs.dedup();
    Response::json(
        200,
        &json!({
            "issuer": issuer,
            "token_endpoint": format!("{issuer}{TOKEN_PATH}"),
            "introspection_endpoint": format!("{issuer}{INTROSPECT_PATH}"),
            "revocation_endpoint": format!("{issuer}{REVOKE_PATH}"),
            "jwks_uri": format!("{issuer}{JWKS_PATH}"),
            "grant_types_supported": GrantType::ALL.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
            "response_types_supported": [],
            "token_endpoint_auth_methods_supported": auth_methods,
            "introspection_endpoint_auth_methods_supported": auth_methods,
            "revocation_endpoint_auth_methods_supported": auth_methods,
            "scopes_supported": scopes.iter().collect::<Vec<_>>(),
            "access_token_signing_alg_values_supported": algs,
        }),
    )
}

fn health(service: &Service) -> Response {
    let ring = service.keys();
    let key = ring.current();
    let counts = service.store.counts();
    let store: Value = match service.store.pepper() {
        Ok(_) => json!({"status": "ok", "clients": counts.clients, "users": counts.users,
                        "refresh_families": counts.refresh_families}),
        Err(e) => {
            log::error!("health: store read failed: {e}");
            json!({"status": "failing"})
        }
    };
    let ok = store["status"] == "ok";
    Response::json(
        if ok { 200 } else { 503 },
        &json!({
            "status": if ok { "ok" } else { "degraded" },
            "version": env!("CARGO_PKG_VERSION"),
            "uptime_seconds": service.started.elapsed().as_secs(),
            "issuer": service.policy.issuer,
            "store": store,
            "key": {"kid": key.kid, "alg": key.alg.as_str()},
            "board": {
                "is_raspberry_pi": service.board.is_raspberry_pi,
                "model": service.board.code.model,
                "type": service.board.code.type_name,
                "revision": service.board.revision,
                "memory_mb": service.board.code.memory_mb,
                "processor": service.board.code.processor,
                "cores": service.board.cores,
            },
            "tuning": service.profile,
        }),
    )
    .with_header("Cache-Control", "no-store")
}
