//! The token endpoint's decisions (RFC 6749 §4.3, §4.4, §6), as plain functions.
//!
//! Input: parsed parameters, the authenticated client, the records the request names (read
//! through [`Directory`]), the policy and `now`. Output: a [`Decision`], which says what to
//! issue and what to write. Nothing here signs, stores or reads the clock: the caller mints
//! the token and applies the writes, so the same rules hold whatever the store is.

use crate::oauth_error::{ErrorCode, OAuthError};
use crate::record::{ClientRecord, FamilyRecord, GrantType, UserRecord};
use crate::refresh::{self, FamilyId, TokenDigest};
use crate::request::{ClientCredentials, Params};
use crate::scope::Scope;
use crate::secret::{self, PasswordCost};
use std::fmt;

/// A store failure seen by the core; the detail goes to the log, the client sees
/// `server_error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupError(pub String);

impl fmt::Display for LookupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "store lookup failed: {}", self.0)
    }
}

impl std::error::Error for LookupError {}

/// The read side of the store, as the core sees it.
pub trait Directory {
    /// A client by id.
    fn client(&self, id: &str) -> Result<Option<ClientRecord>, LookupError>;
    /// A user by name.
    fn user(&self, name: &str) -> Result<Option<UserRecord>, LookupError>;
    /// A refresh-token family.
    fn family(&self, id: &FamilyId) -> Result<Option<FamilyRecord>, LookupError>;
    /// The family of a token issued before token values named their family, by digest.
    fn legacy_family(&self, digest: &TokenDigest) -> Result<Option<FamilyId>, LookupError>;
}

/// Server-wide token policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The issuer URL (`iss`, and a default audience).
    pub issuer: String,
    /// Default access-token lifetime, seconds.
    pub access_ttl: u64,
    /// Default refresh-token lifetime, seconds.
    pub refresh_ttl: u64,
    /// Clock skew tolerated when checking `exp` and `nbf`, seconds.
    pub leeway: u64,
    /// Argon2id cost for new password hashes and for the decoy check.
    pub password_cost: PasswordCost,
}

/// A client that proved its identity: only [`authenticate`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticatedClient(ClientRecord);

impl AuthenticatedClient {
    /// The client's record.
    pub fn record(&self) -> &ClientRecord {
        &self.0
    }
    /// The client id.
    pub fn id(&self) -> &str {
        &self.0.id
    }
}

const BAD_CLIENT: OAuthError = OAuthError::invalid_client("client authentication failed");

/// Why client authentication failed, for the log; the client only sees `invalid_client`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// No such client.
    UnknownClient,
    /// The secret does not match.
    WrongSecret,
    /// The client is disabled.
    Disabled,
}

/// Authenticates a client against its record (`None`: no such client). Every failure is
/// the same `invalid_client`, so that a caller cannot tell which ids exist.
pub fn authenticate(
    creds: &ClientCredentials,
    record: Option<ClientRecord>,
    pepper: &[u8],
) -> Result<AuthenticatedClient, (OAuthError, AuthFailure)> {
    let Some(record) = record else {
        // Spend the same hash as a real check.
        let _ = secret::check_client_secret(pepper, creds.secret(), "");
        return Err((BAD_CLIENT, AuthFailure::UnknownClient));
    };
    if !secret::check_client_secret(pepper, creds.secret(), &record.secret_hash) {
        return Err((BAD_CLIENT, AuthFailure::WrongSecret));
    }
    if record.disabled {
        return Err((BAD_CLIENT, AuthFailure::Disabled));
    }
    Ok(AuthenticatedClient(record))
}

/// What the caller must do for a refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshPlan {
    /// Issue no refresh token.
    None,
    /// Start a new family.
    NewFamily,
    /// Replace the family's newest token, the one presented, with a new one: the store
    /// refuses if another exchange replaced it meanwhile.
    Rotate {
        /// The family.
        family: FamilyId,
        /// SHA-256 of the presented token.
        presented: TokenDigest,
    },
}

/// What to issue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// The client.
    pub client_id: String,
    /// `sub`: the client or the user.
    pub subject: String,
    /// The user, for the password grant and its refreshes.
    pub username: Option<String>,
    /// The scope of the access token.
    pub scope: Scope,
    /// The scope a new refresh token carries (the original grant's).
    pub refresh_scope: Scope,
    /// `aud`.
    pub audiences: Vec<String>,
    /// Access-token lifetime.
    pub access_ttl: u64,
    /// Refresh-token lifetime.
    pub refresh_ttl: u64,
    /// Refresh-token work.
    pub refresh: RefreshPlan,
}

/// The decision on a token request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Issue tokens.
    Issue(Box<Issue>),
    /// Answer with an error; nothing is written.
    Refuse(OAuthError),
    /// A used refresh token came back: revoke its family (RFC 9700 §4.14), then refuse.
    RevokeFamily(FamilyId),
}

impl From<OAuthError> for Decision {
    fn from(e: OAuthError) -> Self {
        Decision::Refuse(e)
    }
}

impl From<LookupError> for Decision {
    fn from(_: LookupError) -> Self {
        Decision::Refuse(OAuthError::server_error("the token store failed"))
    }
}

/// The error a reused refresh token is answered with.
pub const REFRESH_REUSED: OAuthError =
    OAuthError::invalid_grant("refresh token already used; its family is revoked");

const BAD_REFRESH: OAuthError =
    OAuthError::invalid_grant("refresh token is invalid, expired or revoked");

/// Decides a token request from an authenticated client.
pub fn decide(
    params: &Params,
    client: &AuthenticatedClient,
    dir: &dyn Directory,
    policy: &Policy,
    now: u64,
) -> Decision {
    match decide_inner(params, client, dir, policy, now) {
        Ok(d) | Err(d) => d,
    }
}

fn decide_inner(
    params: &Params,
    client: &AuthenticatedClient,
    dir: &dyn Directory,
    policy: &Policy,
    now: u64,
) -> Result<Decision, Decision> {
    let grant_name = params.require("grant_type", "grant_type is required")?;
    let grant = GrantType::parse(grant_name).ok_or(OAuthError::new(
        ErrorCode::UnsupportedGrantType,
        "supported grant types: client_credentials, password, refresh_token",
    ))?;
    let c = client.record();
    if !c.grants.contains(&grant) {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this client may not use this grant type",
        )
        .into());
    }
    let requested = match params.get("scope") {
        Some(s) => Some(Scope::parse(s).map_err(|_| {
            OAuthError::invalid_scope("scope holds a character RFC 6749 §3.3 does not allow")
        })?),
        None => None,
    };
    let mut audiences = c.audiences.clone();
    for default in [&c.id, &policy.issuer] {
        if !audiences.contains(default) {
            audiences.push(default.clone());
        }
    }
    let base = Issue {
        client_id: c.id.clone(),
        subject: c.id.clone(),
        username: None,
        scope: Scope::default(),
        refresh_scope: Scope::default(),
        audiences,
        access_ttl: c.access_ttl.unwrap_or(policy.access_ttl),
        refresh_ttl: c.refresh_ttl.unwrap_or(policy.refresh_ttl),
        refresh: RefreshPlan::None,
    };
    let issue = match grant {
        GrantType::ClientCredentials => {
            let scope = narrow(requested.as_ref(), &c.scope)?;
            // RFC 6749 §4.4.3: no refresh token for client_credentials.
            Issue {
                refresh_scope: scope.clone(),
                scope,
                ..base
            }
        }
        GrantType::Password => {
            let username = params.require("username", "username is required")?;
            let password = params.require("password", "password is required")?;
            let user = match dir.user(username)? {
                Some(u) => u,
                None => {
                    secret::burn_password_check(password, policy.password_cost);
                    return Err(BAD_PASSWORD.into());
                }
            };
            match secret::check_password(password, &user.password_hash) {
                Ok(true) => {}
                Ok(false) => return Err(BAD_PASSWORD.into()),
                Err(_) => {
                    return Err(
                        OAuthError::server_error("stored password hash is unreadable").into(),
                    )
                }
            }
            let allowed = c.scope.intersect(&user.scope);
            let scope = narrow(requested.as_ref(), &allowed)?;
            Issue {
                subject: user.name.clone(),
                username: Some(user.name),
                refresh_scope: scope.clone(),
                scope,
                refresh: refresh_if_allowed(c),
                ..base
            }
        }
        GrantType::RefreshToken => {
            let token = params.require("refresh_token", "refresh_token is required")?;
            let presented = refresh::parse(token);
            let (id, family) = find_family(dir, &presented)?.ok_or(BAD_REFRESH)?;
            if family.client_id != c.id {
                // RFC 6749 §6: bound to the client it was issued to. Not consumed.
                return Err(BAD_REFRESH.into());
            }
            if family.revoked || now >= family.expires_at {
                return Err(BAD_REFRESH.into());
            }
            if !presented.digest.matches(&family.current) {
                // It names this family but is not its newest token: an older one, again.
                return Err(Decision::RevokeFamily(id));
            }
            // What may be granted now: the original grant, less what the client (or
            // user) has since lost.
            let mut allowed = family.scope.intersect(&c.scope);
            if let Some(name) = &family.username {
                let user = dir.user(name)?.ok_or(OAuthError::invalid_grant(
                    "the user of this grant no longer exists",
                ))?;
                allowed = allowed.intersect(&user.scope);
            }
            let scope = narrow(requested.as_ref(), &allowed)?;
            Issue {
                subject: family.username.clone().unwrap_or_else(|| c.id.clone()),
                username: family.username,
                scope,
                refresh_scope: allowed,
                refresh: RefreshPlan::Rotate {
                    family: id,
                    presented: presented.digest,
                },
                ..base
            }
        }
    };
    Ok(Decision::Issue(Box::new(issue)))
}

/// The family a presented refresh-token value names (or, for a value of the earlier form,
/// the one the legacy map gives), with its record, if both exist. Whether the value is the
/// family's newest token is the caller's question.
pub fn find_family(
    dir: &dyn Directory,
    presented: &refresh::Presented,
) -> Result<Option<(FamilyId, FamilyRecord)>, LookupError> {
    let id = match presented.family {
        Some(id) => id,
        None => match dir.legacy_family(&presented.digest)? {
            Some(id) => id,
            None => return Ok(None),
        },
    };
    Ok(dir.family(&id)?.map(|f| (id, f)))
}

/// The error a wrong password or unknown user is answered with (the same for both).
pub const BAD_PASSWORD: OAuthError = OAuthError::invalid_grant("wrong username or password");

fn refresh_if_allowed(c: &ClientRecord) -> RefreshPlan {
    if c.grants.contains(&GrantType::RefreshToken) {
        RefreshPlan::NewFamily
    } else {
        RefreshPlan::None
    }
}

/// The scope to grant: what was asked for, if all of it is allowed; all that is allowed
/// when nothing was asked for (RFC 6749 §3.3 lets the server pick a default).
pub fn narrow(requested: Option<&Scope>, allowed: &Scope) -> Result<Scope, OAuthError> {
    match requested {
        None => Ok(allowed.clone()),
        Some(r) if r.is_subset(allowed) => Ok(r.clone()),
        Some(_) => Err(OAuthError::invalid_scope(
            "the requested scope exceeds what this client may be granted",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::{parse_body, BodyKind};
    use std::collections::HashMap;

    const PEPPER: &[u8] = b"pepper";

    #[derive(Default)]
    struct MapDirectory {
        users: HashMap<String, UserRecord>,
        legacy: Vec<(TokenDigest, FamilyId)>,
        families: HashMap<FamilyId, FamilyRecord>,
    }

    impl Directory for MapDirectory {
        fn client(&self, _: &str) -> Result<Option<ClientRecord>, LookupError> {
            Ok(None)
        }
        fn user(&self, name: &str) -> Result<Option<UserRecord>, LookupError> {
            Ok(self.users.get(name).cloned())
        }
        fn family(&self, id: &FamilyId) -> Result<Option<FamilyRecord>, LookupError> {
            Ok(self.families.get(id).cloned())
        }
        fn legacy_family(&self, d: &TokenDigest) -> Result<Option<FamilyId>, LookupError> {
            Ok(self.legacy.iter().find(|(l, _)| l == d).map(|(_, id)| *id))
        }
    }

    fn policy() -> Policy {
        Policy {
            issuer: "http://pi".into(),
            access_ttl: 300,
            refresh_ttl: 3600,
            leeway: 30,
            password_cost: PasswordCost {
                memory_kib: 64,
                iterations: 1,
            },
        }
    }

    fn client(grants: &[GrantType], scope: &str) -> ClientRecord {
        ClientRecord {
            id: "dev".into(),
            secret_hash: secret::hash_client_secret(PEPPER, "s"),
            grants: grants.to_vec(),
            scope: Scope::parse(scope).unwrap(),
            audiences: vec!["api".into()],
            access_ttl: None,
            refresh_ttl: None,
            disabled: false,
            created_at: 0,
        }
    }

    fn authed(c: ClientRecord) -> AuthenticatedClient {
        let creds = ClientCredentials::Post {
            id: "dev".into(),
            secret: "s".into(),
        };
        authenticate(&creds, Some(c), PEPPER).unwrap()
    }

    fn form(s: &str) -> Params {
        parse_body(BodyKind::Form, s.as_bytes()).unwrap()
    }

    fn issued(d: Decision) -> Issue {
        match d {
            Decision::Issue(i) => *i,
            other => panic!("expected Issue, got {other:?}"),
        }
    }

    fn refused(d: Decision) -> ErrorCode {
        match d {
            Decision::Refuse(e) => e.code,
            other => panic!("expected Refuse, got {other:?}"),
        }
    }

    #[test]
    fn authentication_fails_alike_for_unknown_wrong_and_disabled() {
        let creds = ClientCredentials::Basic {
            id: "dev".into(),
            secret: "wrong".into(),
        };
        let c = client(&[GrantType::ClientCredentials], "");
        assert_eq!(
            authenticate(&creds, Some(c.clone()), PEPPER).unwrap_err(),
            (BAD_CLIENT, AuthFailure::WrongSecret)
        );
        assert_eq!(
            authenticate(&creds, None, PEPPER).unwrap_err(),
            (BAD_CLIENT, AuthFailure::UnknownClient)
        );
        let right = ClientCredentials::Basic {
            id: "dev".into(),
            secret: "s".into(),
        };
        let mut off = c;
        off.disabled = true;
        assert_eq!(
            authenticate(&right, Some(off), PEPPER).unwrap_err(),
            (BAD_CLIENT, AuthFailure::Disabled)
        );
    }

    #[test]
    fn client_credentials_grants_requested_scope_and_no_refresh_token() {
        let c = authed(client(
            &[GrantType::ClientCredentials, GrantType::RefreshToken],
            "read write",
        ));
        let i = issued(decide(
            &form("grant_type=client_credentials&scope=read"),
            &c,
            &MapDirectory::default(),
            &policy(),
            0,
        ));
        assert_eq!(i.scope.to_string(), "read");
        assert_eq!(i.subject, "dev");
        assert_eq!(i.refresh, RefreshPlan::None);
        assert_eq!(i.audiences, vec!["api", "dev", "http://pi"]);
        assert_eq!(i.access_ttl, 300);
    }

    #[test]
    fn no_scope_requested_grants_everything_allowed() {
        let c = authed(client(&[GrantType::ClientCredentials], "read write"));
        let i = issued(decide(
            &form("grant_type=client_credentials"),
            &c,
            &MapDirectory::default(),
            &policy(),
            0,
        ));
        assert_eq!(i.scope.to_string(), "read write");
    }

    #[test]
    fn refuses_scope_beyond_the_client_grant_not_allowed_and_unknown_grant() {
        let c = authed(client(&[GrantType::ClientCredentials], "read"));
        let d = MapDirectory::default();
        let p = policy();
        let cases = [
            (
                "grant_type=client_credentials&scope=write",
                ErrorCode::InvalidScope,
            ),
            (
                "grant_type=password&username=a&password=b",
                ErrorCode::UnauthorizedClient,
            ),
            (
                "grant_type=authorization_code",
                ErrorCode::UnsupportedGrantType,
            ),
            ("scope=read", ErrorCode::InvalidRequest),
        ];
        for (body, code) in cases {
            assert_eq!(refused(decide(&form(body), &c, &d, &p, 0)), code, "{body}");
        }
    }

    fn with_user(scope: &str) -> MapDirectory {
        let mut d = MapDirectory::default();
        d.users.insert(
            "alice".into(),
            UserRecord {
                name: "alice".into(),
                password_hash: secret::hash_password("pw", policy().password_cost).unwrap(),
                scope: Scope::parse(scope).unwrap(),
                created_at: 0,
            },
        );
        d
    }

    #[test]
    fn password_grant_narrows_to_client_and_user_and_starts_a_family() {
        let c = authed(client(
            &[GrantType::Password, GrantType::RefreshToken],
            "read write",
        ));
        let d = with_user("read admin");
        let i = issued(decide(
            &form("grant_type=password&username=alice&password=pw"),
            &c,
            &d,
            &policy(),
            0,
        ));
        assert_eq!(i.scope.to_string(), "read");
        assert_eq!(i.subject, "alice");
        assert_eq!(i.refresh, RefreshPlan::NewFamily);
        let body = "grant_type=password&username=alice&password=pw&scope=admin";
        assert_eq!(
            refused(decide(&form(body), &c, &d, &policy(), 0)),
            ErrorCode::InvalidScope
        );
    }

    #[test]
    fn password_grant_refuses_wrong_password_and_unknown_user_alike() {
        let c = authed(client(&[GrantType::Password], "read"));
        let d = with_user("read");
        for body in [
            "grant_type=password&username=alice&password=nope",
            "grant_type=password&username=bob&password=pw",
        ] {
            assert_eq!(
                decide(&form(body), &c, &d, &policy(), 0),
                Decision::Refuse(BAD_PASSWORD)
            );
        }
    }

    /// A family whose newest token is the returned one; with `used`, the returned token
    /// is an older one of the family (the family has rotated since).
    fn with_refresh(used: bool, revoked: bool, client_id: &str) -> (MapDirectory, String) {
        let mut d = with_user("read write");
        let id = FamilyId::random();
        let (token, digest) = refresh::mint(&id);
        let (_, newer) = refresh::mint(&id);
        d.families.insert(
            id,
            FamilyRecord {
                client_id: client_id.into(),
                username: Some("alice".into()),
                scope: Scope::parse("read write").unwrap(),
                current: if used { newer } else { digest }.encode(),
                issued_at: 0,
                expires_at: 1000,
                rotations: 0,
                revoked,
            },
        );
        (d, token)
    }

    #[test]
    fn refresh_rotates_and_may_narrow_but_not_widen() {
        let c = authed(client(
            &[GrantType::Password, GrantType::RefreshToken],
            "read write",
        ));
        let (d, t) = with_refresh(false, false, "dev");
        let i = issued(decide(
            &form(&format!(
                "grant_type=refresh_token&refresh_token={t}&scope=read"
            )),
            &c,
            &d,
            &policy(),
            10,
        ));
        assert_eq!(i.scope.to_string(), "read");
        assert_eq!(i.refresh_scope.to_string(), "read write");
        assert_eq!(i.subject, "alice");
        assert!(matches!(i.refresh, RefreshPlan::Rotate { .. }));
        let widen = format!("grant_type=refresh_token&refresh_token={t}&scope=admin");
        assert_eq!(
            refused(decide(&form(&widen), &c, &d, &policy(), 10)),
            ErrorCode::InvalidScope
        );
    }

    #[test]
    fn reused_refresh_token_revokes_its_family() {
        let c = authed(client(&[GrantType::RefreshToken], "read write"));
        let (d, t) = with_refresh(true, false, "dev");
        assert_eq!(
            decide(
                &form(&format!("grant_type=refresh_token&refresh_token={t}")),
                &c,
                &d,
                &policy(),
                10
            ),
            Decision::RevokeFamily(refresh::parse(&t).family.unwrap())
        );
    }

    #[test]
    fn a_token_of_the_earlier_form_is_found_through_the_legacy_map() {
        let c = authed(client(&[GrantType::RefreshToken], "read write"));
        let (mut d, t) = with_refresh(false, false, "dev");
        let id = refresh::parse(&t).family.unwrap();
        let old = "q7x9bYk0Zr2mJm5hRkQ2c3VwZXJzZWNyZXQtdmFsdWUx";
        let old_digest = refresh::parse(old).digest;
        d.families.get_mut(&id).unwrap().current = old_digest.encode();
        d.legacy.push((old_digest, id));
        let body = |t: &str| form(&format!("grant_type=refresh_token&refresh_token={t}"));
        let i = issued(decide(&body(old), &c, &d, &policy(), 10));
        assert_eq!(
            i.refresh,
            RefreshPlan::Rotate {
                family: id,
                presented: old_digest
            }
        );
        // The current-form token of the family is now an older one: reuse.
        assert_eq!(
            decide(&body(&t), &c, &d, &policy(), 10),
            Decision::RevokeFamily(id)
        );
    }

    #[test]
    fn refresh_refuses_revoked_expired_unknown_and_other_clients_tokens() {
        let c = authed(client(&[GrantType::RefreshToken], "read write"));
        let p = policy();
        let body = |t: &str| form(&format!("grant_type=refresh_token&refresh_token={t}"));
        let (d, t) = with_refresh(false, true, "dev");
        assert_eq!(
            refused(decide(&body(&t), &c, &d, &p, 10)),
            ErrorCode::InvalidGrant
        );
        let (d, t) = with_refresh(false, false, "dev");
        assert_eq!(
            refused(decide(&body(&t), &c, &d, &p, 1000)),
            ErrorCode::InvalidGrant
        );
        assert_eq!(
            refused(decide(&body("nope"), &c, &d, &p, 10)),
            ErrorCode::InvalidGrant
        );
        // Well formed, but naming a family that does not exist (or no longer does).
        let (stranger, _) = refresh::mint(&FamilyId::random());
        assert_eq!(
            refused(decide(&body(&stranger), &c, &d, &p, 10)),
            ErrorCode::InvalidGrant
        );
        let (d, t) = with_refresh(false, false, "someone-else");
        assert_eq!(
            refused(decide(&body(&t), &c, &d, &p, 10)),
            ErrorCode::InvalidGrant
        );
    }
}
