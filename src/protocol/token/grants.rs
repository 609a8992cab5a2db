//! The token endpoint (RFC 6749 §3.2): the grants (§4.3, §4.4, §6), the claims of the
//! access token (RFC 9068), and what to store for refresh tokens.
//!
//! [`decide`] applies the grant rules to the records the request names and says what to
//! issue; [`issue`] mints the tokens and says what to write. Neither signs with a key it
//! chose, stores anything or reads the clock: the caller passes them in and applies the
//! changes.

use crate::jose::refresh::{self, FamilyId, TokenDigest};
use crate::jose::secret;
use crate::jose::token::{self, AccessClaims};
use crate::protocol::client_auth::authenticate::AuthenticatedClient;
use crate::protocol::guard::{Kind, Verdict};
use crate::protocol::presented::find_family;
use crate::protocol::{Change, Context, Directory, Event, LookupError, Policy, Reply, Step};
use crate::vocab::entropy::{self, Entropy};
use crate::vocab::oauth_error::{ErrorCode, OAuthError};
use crate::vocab::record::{ClientRecord, FamilyRecord, GrantType};
use crate::vocab::request::Params;
use crate::vocab::scope::Scope;
use serde_json::json;

/// What the caller must do for a refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshPlan {
    /// Issue no refresh token.
    None,
    /// Start a new family.
    NewFamily,
    /// Replace the family's newest token, the one presented, with its successor: the store
    /// refuses if another exchange replaced it meanwhile.
    Rotate {
        /// The family.
        family: FamilyId,
        /// SHA-256 of the presented token.
        presented: TokenDigest,
        /// The presented token, which its successor is derived from.
        value: String,
    },
    /// The token presented was replaced moments ago, by this client, within the grace
    /// period: hand out its successor, the family's newest token, again. Nothing is written.
    Repeat {
        /// The family.
        family: FamilyId,
        /// The presented token.
        value: String,
        /// The family's newest token, as stored: it must be the successor.
        current: String,
    },
}

/// What to issue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// The grant it answers.
    pub grant: GrantType,
    /// The client.
    pub client_id: String,
    /// `sub`: the client or the user.
    pub subject: String,
    /// The person the grant is for (sign-in, device flow, password grant) and its refreshes.
    pub username: Option<String>,
    /// The user's generation the grant is made under.
    pub user_generation: Option<String>,
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
    /// An assertion this grant rests on, to be used only once: (issuer, `jti`, until, iat).
    pub once: Option<(String, String, u64, Option<u64>)>,
    /// The access token's `jti` and the new family's id, when the caller must know them
    /// beforehand (an authorization code records what it issued); otherwise random.
    pub ids: Option<(String, FamilyId)>,
    /// An OpenID Connect ID token to issue beside the access token.
    pub id_token: Option<crate::protocol::oidc::flow::IdTokenPlan>,
    /// The person's groups, for the access token's `groups` (RFC 9068 §2.2.3.1).
    pub groups: Option<Vec<String>>,
}

/// Why nothing is issued.
#[derive(Debug)]
pub enum Refusal {
    /// An OAuth error; nothing is written.
    Error(OAuthError),
    /// A wrong password or an unknown user (answered alike, as [`BAD_PASSWORD`]); whether
    /// the user exists is for the log only.
    Password {
        /// The user name names a user.
        known_user: bool,
    },
    /// A replaced refresh token came back: revoke its family (RFC 9700 §4.14), then refuse.
    Reused(FamilyId),
    /// The store could not be read.
    Lookup(LookupError),
    /// An authorization code came back a second time: revoke what its first use issued
    /// (RFC 6749 §4.1.2), then refuse.
    CodeReused(Option<crate::protocol::browser::codes::Issued>),
    /// A bearer assertion was refused (`invalid_grant`); `why` is for the audit log.
    Assertion {
        /// The answer.
        error: OAuthError,
        /// The check that failed, a word.
        why: &'static str,
    },
}

fn assertion_refused(why: &'static str, description: &'static str) -> Refusal {
    Refusal::Assertion {
        error: OAuthError::invalid_grant(description),
        why,
    }
}

impl From<OAuthError> for Refusal {
    fn from(e: OAuthError) -> Self {
        Refusal::Error(e)
    }
}

impl From<LookupError> for Refusal {
    fn from(e: LookupError) -> Self {
        Refusal::Lookup(e)
    }
}

/// The error a reused refresh token is answered with.
pub const REFRESH_REUSED: OAuthError =
    OAuthError::invalid_grant("refresh token already used; its family is revoked");

/// The error an unknown, expired, revoked or foreign refresh token is answered with.
pub const BAD_REFRESH: OAuthError =
    OAuthError::invalid_grant("refresh token is invalid, expired or revoked");

/// The error an unknown, expired, used or foreign code is answered with.
pub const BAD_CODE: OAuthError =
    OAuthError::invalid_grant("the authorization code is invalid, expired or used");

/// Redeems an authorization code (RFC 6749 §4.1.3, RFC 7636 §4.6): once, by the client it
/// was issued to, with the same redirect URI and the PKCE verifier of its challenge, for a
/// user who is still who they were.
fn redeem_code(
    params: &Params,
    client: &AuthenticatedClient,
    ctx: &Context,
    rng: &mut dyn Entropy,
) -> Result<Issue, Refusal> {
    let c = client.record();
    may_use(c, GrantType::AuthorizationCode)?;
    let code = params.require("code", "code is required")?;
    let digest = crate::jose::secret::token_digest(code);
    let grant = match ctx.codes.redeem(&digest, ctx.now) {
        crate::protocol::browser::codes::Redeem::Fresh(g) => g,
        crate::protocol::browser::codes::Redeem::Used(issued) => {
            return Err(Refusal::CodeReused(issued))
        }
        crate::protocol::browser::codes::Redeem::Unknown => return Err(BAD_CODE.into()),
    };
    // The code is spent from here on, whatever follows.
    if grant.client_id != c.id {
        return Err(BAD_CODE.into());
    }
    match params.get("redirect_uri") {
        Some(uri) if uri != grant.redirect_uri => {
            return Err(OAuthError::invalid_grant(
                "redirect_uri differs from the authorization request's",
            )
            .into())
        }
        None if grant.redirect_uri_sent => {
            return Err(OAuthError::invalid_grant(
                "redirect_uri is required: the authorization request had one",
            )
            .into())
        }
        _ => {}
    }
    // Both downgrades are refused (RFC 9700 §2.1.1): a code of a challenge needs its
    // verifier, and a code issued without one takes no verifier.
    match (&grant.challenge, params.get("code_verifier")) {
        (Some(challenge), Some(verifier))
            if crate::protocol::browser::auth_request::pkce_ok(verifier, challenge) => {}
        (Some(_), Some(_)) => {
            return Err(OAuthError::invalid_grant(
                "the code_verifier does not match the code_challenge",
            )
            .into())
        }
        (Some(_), None) => {
            return Err(OAuthError::invalid_request("code_verifier is required (PKCE)").into())
        }
        (None, Some(_)) => {
            return Err(OAuthError::invalid_grant(
                "the authorization request had no code_challenge: no code_verifier is taken",
            )
            .into())
        }
        (None, None) => {}
    }
    let user = ctx
        .dir
        .user(&grant.username)?
        .filter(|u| u.generation == grant.user_generation);
    let Some(user) = user else {
        return Err(BAD_CODE.into());
    };
    admitted(c, &user)?;
    let mut issue = for_user(
        GrantType::AuthorizationCode,
        c,
        user.clone(),
        &grant.scope,
        ctx.policy,
    );
    let jti = entropy::token(rng, 16);
    let family = FamilyId::random(rng);
    ctx.codes.issued(
        &digest,
        crate::protocol::browser::codes::Issued {
            family: (issue.refresh == RefreshPlan::NewFamily).then_some(family),
            access: (jti.clone(), ctx.now.saturating_add(issue.access_ttl)),
        },
    );
    issue.ids = Some((jti, family));
    if issue.scope.contains("openid") {
        issue.id_token = Some(crate::protocol::oidc::flow::IdTokenPlan {
            nonce: grant.nonce,
            auth_time: grant.auth_time,
            alg: crate::protocol::oidc::flow::id_token_alg(c),
            claims: crate::protocol::oidc::flow::user_claims(&user, &issue.scope),
        });
    }
    Ok(issue)
}

/// The error a person outside every group a client allows is answered with.
pub const NOT_ADMITTED: OAuthError =
    OAuthError::invalid_grant("this person is not in a group this client allows");

/// Whether `user` may get `client`'s tokens (its allowed groups), as an error if not.
fn admitted(client: &ClientRecord, user: &crate::vocab::record::UserRecord) -> Result<(), Refusal> {
    if client.admits(user) {
        Ok(())
    } else {
        Err(NOT_ADMITTED.into())
    }
}

/// The `groups` claim of a person's access token: their groups now, when the scope has it.
fn groups_claim(user: &crate::vocab::record::UserRecord, scope: &Scope) -> Option<Vec<String>> {
    (scope.contains("groups") && !user.groups.is_empty()).then(|| user.groups.clone())
}

/// What a person granted a client (by code or device): the scope they approved, within
/// what the client and they may still have; a refresh token if the client may refresh.
fn for_user(
    grant: GrantType,
    c: &ClientRecord,
    user: crate::vocab::record::UserRecord,
    approved: &Scope,
    policy: &Policy,
) -> Issue {
    let scope = approved
        .intersect(&c.scope)
        .intersect(&user.scope.with_identity());
    Issue {
        grant,
        client_id: c.id.clone(),
        groups: groups_claim(&user, &scope),
        subject: user.name.clone(),
        username: Some(user.name),
        user_generation: Some(user.generation),
        refresh_scope: scope.clone(),
        scope,
        audiences: audiences_of(c, policy),
        access_ttl: c.access_ttl.unwrap_or(policy.access_ttl),
        refresh_ttl: c.refresh_ttl.unwrap_or(policy.refresh_ttl),
        refresh: refresh_if_allowed(c),
        once: None,
        ids: None,
        id_token: None,
    }
}

/// A device's poll (RFC 8628 §3.4, §3.5).
fn poll_device(
    params: &Params,
    client: &AuthenticatedClient,
    ctx: &Context,
) -> Result<Issue, Refusal> {
    use crate::protocol::device::requests::Poll;
    let c = client.record();
    may_use(c, GrantType::DeviceCode)?;
    let code = params.require("device_code", "device_code is required")?;
    let digest = crate::jose::secret::token_digest(code);
    let say = |code, description| Err(OAuthError::new(code, description).into());
    match ctx.devices.poll(&digest, &c.id, ctx.now) {
        Poll::Pending => say(
            ErrorCode::AuthorizationPending,
            "the person has not decided yet",
        ),
        Poll::SlowDown => say(
            ErrorCode::SlowDown,
            "poll less often: the interval grew by 5 seconds",
        ),
        Poll::Denied => say(ErrorCode::AccessDenied, "the person denied the request"),
        Poll::Expired => say(
            ErrorCode::ExpiredToken,
            "the device code expired; start again",
        ),
        Poll::Unknown => say(
            ErrorCode::InvalidGrant,
            "the device code is invalid or used",
        ),
        Poll::Approved(p) => {
            let crate::protocol::device::requests::Decision::Approved {
                username,
                generation,
                scope,
            } = p.decision
            else {
                return say(
                    ErrorCode::InvalidGrant,
                    "the device code is invalid or used",
                );
            };
            match ctx
                .dir
                .user(&username)?
                .filter(|u| u.generation == generation)
            {
                Some(user) if !c.admits(&user) => {
                    say(ErrorCode::AccessDenied, NOT_ADMITTED.description)
                }
                Some(user) => Ok(for_user(GrantType::DeviceCode, c, user, &scope, ctx.policy)),
                None => say(ErrorCode::InvalidGrant, "the person who approved is gone"),
            }
        }
    }
}

/// The error a wrong password or unknown user is answered with (the same for both).
pub const BAD_PASSWORD: OAuthError = OAuthError::invalid_grant("wrong username or password");

/// Answers a token request from an authenticated client at address `peer`.
pub fn respond(
    params: &Params,
    client: &AuthenticatedClient,
    peer: Option<std::net::IpAddr>,
    ctx: &Context,
    rng: &mut dyn Entropy,
) -> Step {
    if ctx.clock != crate::protocol::clock::ClockState::Ok {
        // Tokens minted now would carry a wrong time; the log and /health say why.
        return Step::from(OAuthError::new(
            ErrorCode::TemporarilyUnavailable,
            "the server's clock is not set yet: try again shortly",
        ));
    }
    // Password guesses are held per address and per (user, address), before Argon2 runs.
    let user = match (params.get("grant_type"), params.get("username")) {
        (Some("password"), Some(u)) => Some(u),
        _ => None,
    };
    if let Some(u) = user {
        if let Verdict::Wait(wait) = ctx.guard.check(peer, Kind::User, u, ctx.now) {
            return Step::reply(Reply::too_many_attempts(wait))
                .with_event(Event::Throttled { peer, wait });
        }
    }
    let decided = match params.get("grant_type") {
        Some("authorization_code") => redeem_code(params, client, ctx, rng),
        Some(crate::protocol::device::requests::GRANT) => poll_device(params, client, ctx),
        _ => decide(params, client, ctx.dir, ctx.policy, ctx.now, ctx.published),
    };
    if let Some(u) = user {
        match &decided {
            Ok(_) => ctx.guard.succeeded(peer, Kind::User, u),
            Err(Refusal::Password { .. }) => ctx.guard.failed(peer, Kind::User, u, ctx.now),
            Err(_) => {}
        }
    }
    match decided {
        Ok(i) => {
            if let Some((issuer, jti, until, iat)) = &i.once {
                let uptime = ctx.host.uptime_seconds;
                let refused = |why, description| {
                    Step::from(OAuthError::invalid_grant(description)).with_event(
                        Event::AssertionRefused {
                            client_id: client.id().to_string(),
                            why,
                        },
                    )
                };
                if !crate::protocol::client_auth::assertion::after_restart_ok(
                    *iat,
                    ctx.now,
                    uptime,
                    ctx.policy.leeway,
                ) {
                    return refused(
                        "made_before_restart",
                        "the server restarted recently: only assertions made since (by iat) are taken",
                    );
                }
                // Issuers' jtis and clients' share the cache: the key tells them apart.
                let key = format!("issuer:{issuer}");
                match ctx.replay.first_use(&key, jti, *until, ctx.now) {
                    crate::protocol::client_auth::replay::Replay::First => {}
                    crate::protocol::client_auth::replay::Replay::Replayed => {
                        return refused("replayed", "the assertion was used before (jti)")
                    }
                    crate::protocol::client_auth::replay::Replay::Full => {
                        return Step::from(OAuthError::new(
                            ErrorCode::TemporarilyUnavailable,
                            "too many assertions in the last minutes; try again shortly",
                        ))
                    }
                }
            }
            issue(&i, ctx, rng)
        }
        Err(Refusal::Error(e)) => Step::from(e),
        Err(Refusal::Password { known_user }) => {
            // A name that is no user is not repeated: it may be a password typed into the
            // wrong field.
            let user = user
                .filter(|_| known_user)
                .unwrap_or("(unknown user)")
                .to_string();
            Step::from(BAD_PASSWORD).with_event(Event::PasswordRefused {
                client_id: client.id().to_string(),
                user,
            })
        }
        Err(Refusal::Reused(family)) => Step {
            reply: Reply::oauth_error(&REFRESH_REUSED),
            changes: vec![Change::RevokeFamily(family)],
            event: Some(Event::RefreshReused {
                client_id: client.id().to_string(),
            }),
        },
        Err(Refusal::Lookup(e)) => Step::from(e),
        Err(Refusal::CodeReused(issued)) => {
            let outcome = match issued {
                Some(_) => "code_reused_grant_revoked",
                None => "code_reused",
            };
            let mut changes = Vec::new();
            if let Some(what) = issued {
                changes.extend(what.family.map(Change::RevokeFamily));
                changes.push(Change::RevokeAccessToken {
                    jti: what.access.0,
                    until: what.access.1,
                });
            }
            Step {
                reply: Reply::oauth_error(&BAD_CODE),
                changes,
                event: Some(Event::Page {
                    action: "token",
                    outcome,
                    client_id: Some(client.id().to_string()),
                    user: None,
                }),
            }
        }
        Err(Refusal::Assertion { error, why }) => {
            Step::from(error).with_event(Event::AssertionRefused {
                client_id: client.id().to_string(),
                why,
            })
        }
    }
}

/// The description of a refused assertion (RFC 7523 §3.1): the check that failed, never
/// the key.
fn assertion_refusal(f: crate::protocol::client_auth::assertion::AssertionFailure) -> &'static str {
    use crate::protocol::client_auth::assertion::AssertionFailure as F;
    match f {
        F::KeysUnavailable(_) => "the keys its issuer publishes could not be fetched",
        F::Header => "the assertion's header is refused (not a JWT, or jku, x5u, jwk, or a kid that is not a plain name)",
        F::Algorithm => "the assertion is signed with an algorithm its issuer has no key for",
        F::Signature => "the assertion's signature does not verify with its issuer's keys",
        F::Claims => "the assertion lacks iss, sub or jti",
        F::Audience => "the assertion's aud names neither this server nor its token endpoint",
        F::Lifetime => "the assertion is expired, not yet valid, or valid for more than 5 minutes",
    }
}

/// Decides a token request from an authenticated client.
pub fn decide(
    params: &Params,
    client: &AuthenticatedClient,
    dir: &dyn Directory,
    policy: &Policy,
    now: u64,
    published: &dyn crate::protocol::client_auth::published_keys::PublishedKeys,
) -> Result<Issue, Refusal> {
    let grant_name = params.require("grant_type", "grant_type is required")?;
    let grant = GrantType::parse(grant_name).ok_or(OAuthError::new(
        ErrorCode::UnsupportedGrantType,
        "supported grant types: client_credentials, password, refresh_token, urn:ietf:params:oauth:grant-type:jwt-bearer",
    ))?;
    let c = client.record();
    may_use(c, grant)?;
    let requested = match params.get("scope") {
        Some(s) => Some(Scope::parse(s).map_err(|_| {
            OAuthError::invalid_scope("scope holds a character RFC 6749 §3.3 does not allow")
        })?),
        None => None,
    };
    let audiences = audiences_of(c, policy);
    let base = Issue {
        grant,
        client_id: c.id.clone(),
        subject: c.id.clone(),
        username: None,
        user_generation: None,
        scope: Scope::default(),
        refresh_scope: Scope::default(),
        audiences,
        access_ttl: c.access_ttl.unwrap_or(policy.access_ttl),
        refresh_ttl: c.refresh_ttl.unwrap_or(policy.refresh_ttl),
        refresh: RefreshPlan::None,
        once: None,
        ids: None,
        id_token: None,
        groups: None,
    };
    Ok(match grant {
        // Redeemed by `redeem_code` and `poll_device`, which hold what they redeem;
        // `respond` sends them there.
        GrantType::AuthorizationCode | GrantType::DeviceCode => {
            return Err(OAuthError::invalid_request("the code was not redeemed").into())
        }
        GrantType::JwtBearer => {
            let assertion = params.require("assertion", "assertion is required")?;
            // The issuer the assertion names, unverified: only to know whose keys to try.
            let named =
                crate::protocol::client_auth::assertion::unverified_claim(assertion, "iss").ok_or(
                    assertion_refused("bad_header", "the assertion is not a JWT with an iss"),
                )?;
            let issuer = dir.issuer(&named)?.ok_or(assertion_refused(
                "untrusted_issuer",
                "the assertion's issuer is not trusted here",
            ))?;
            let token_endpoint = format!("{}{}", policy.issuer, crate::protocol::paths::TOKEN_PATH);
            let expect = crate::protocol::client_auth::assertion::Expect {
                iss: &issuer.name,
                sub: None,
                audiences: &[&policy.issuer, &token_endpoint],
                now,
                leeway: policy.leeway,
            };
            let accepted = crate::protocol::client_auth::assertion::verify_with(
                assertion,
                &issuer.keys,
                issuer.jwks.as_ref(),
                &expect,
                published,
            )
            .map_err(|f| assertion_refused(f.as_str(), assertion_refusal(f)))?;
            if !crate::vocab::record::is_valid_name(&accepted.sub)
                || !issuer.allows_subject(&accepted.sub)
            {
                return Err(assertion_refused(
                    "subject",
                    "the assertion's subject is not one its issuer may assert",
                ));
            }
            // A wildcard does not reach the household's own names: a token whose `sub` is a
            // user's or a client's would look, to a service that reads `sub` alone, like theirs.
            if !issuer.names_exactly(&accepted.sub)
                && (dir.user(&accepted.sub)?.is_some() || dir.client(&accepted.sub)?.is_some())
            {
                return Err(assertion_refused(
                    "subject",
                    "the assertion's subject is a user or client of this server, which its issuer \
                     may assert only by exact name",
                ));
            }
            // An assertion naming one of the household asks for that person's token.
            if let Some(person) = dir.user(&accepted.sub)? {
                admitted(c, &person)?;
            }
            let allowed = c.scope.intersect(&issuer.scope);
            let scope = narrow(requested.as_ref(), &allowed)?;
            // RFC 7523 §3.1: no refresh token; the device asserts again.
            Issue {
                subject: accepted.sub,
                refresh_scope: scope.clone(),
                scope,
                once: Some((issuer.name, accepted.jti, accepted.until, accepted.iat)),
                ..base
            }
        }
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
            let Some(user) = dir.user(username)? else {
                secret::burn_password_check(password, policy.password_cost);
                return Err(Refusal::Password { known_user: false });
            };
            match secret::check_password(password, &user.password_hash) {
                Ok(true) => {}
                Ok(false) => return Err(Refusal::Password { known_user: true }),
                Err(_) => {
                    return Err(
                        OAuthError::server_error("stored password hash is unreadable").into(),
                    )
                }
            }
            admitted(c, &user)?;
            let allowed = c.scope.intersect(&user.scope);
            let scope = narrow(requested.as_ref(), &allowed)?;
            Issue {
                groups: groups_claim(&user, &scope),
                subject: user.name.clone(),
                username: Some(user.name),
                user_generation: Some(user.generation),
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
            if family.revoked || now >= family.expires_at {
                return Err(BAD_REFRESH.into());
            }
            let newest = presented.digest.matches(&family.current);
            if family.client_id != c.id && newest {
                // RFC 6749 §6: bound to the client it was issued to. Not consumed.
                return Err(BAD_REFRESH.into());
            }
            // The token the last rotation replaced, again from its client within the grace
            // period: a device that lost the answer and retried, not a thief.
            let retry = family.client_id == c.id
                && family
                    .previous
                    .as_deref()
                    .is_some_and(|p| presented.digest.matches(p))
                && now < family.issued_at.saturating_add(policy.refresh_grace);
            if !newest && !retry {
                // It names this family but is not its newest token: an older one, again
                // (RFC 9700 §4.14.2), or another client holding a replaced one.
                return Err(Refusal::Reused(id));
            }
            // What may be granted now: the original grant, less what the client (or
            // user) has since lost.
            let mut allowed = family.scope.intersect(&c.scope);
            let mut person = None;
            if let Some(name) = &family.username {
                let user = dir.user(name)?.ok_or(OAuthError::invalid_grant(
                    "the user of this grant no longer exists",
                ))?;
                // A user removed and added again, or whose sessions were ended, is a new
                // generation: grants of an earlier one are dead.
                if family.user_generation.as_deref().unwrap_or("") != user.generation {
                    return Err(BAD_REFRESH.into());
                }
                allowed = allowed.intersect(&user.scope.with_identity());
                // Groups are read now: a change applies at this refresh.
                admitted(c, &user)?;
                person = Some(user);
            }
            let scope = narrow(requested.as_ref(), &allowed)?;
            Issue {
                groups: person.as_ref().and_then(|u| groups_claim(u, &scope)),
                subject: family.username.clone().unwrap_or_else(|| c.id.clone()),
                username: family.username,
                user_generation: family.user_generation,
                scope,
                refresh_scope: allowed,
                refresh: if newest {
                    RefreshPlan::Rotate {
                        family: id,
                        presented: presented.digest,
                        value: token.to_string(),
                    }
                } else {
                    RefreshPlan::Repeat {
                        family: id,
                        value: token.to_string(),
                        current: family.current,
                    }
                },
                ..base
            }
        }
    })
}

/// Mints what [`decide`] said to issue and says what to store.
pub fn issue(issue: &Issue, ctx: &Context, rng: &mut dyn Entropy) -> Step {
    let now = ctx.now;
    let claims = AccessClaims {
        iss: ctx.policy.issuer.clone(),
        sub: issue.subject.clone(),
        aud: issue.audiences.clone(),
        exp: now.saturating_add(issue.access_ttl),
        nbf: now,
        iat: now,
        jti: match &issue.ids {
            Some((jti, _)) => jti.clone(),
            None => entropy::token(rng, 16),
        },
        client_id: issue.client_id.clone(),
        scope: issue.scope.to_string(),
        username: issue.username.clone(),
        groups: issue.groups.clone(),
    };
    let access = match token::mint(&claims, ctx.keys.current(ctx.now)) {
        Ok(t) => t,
        Err(e) => {
            return crate::protocol::store_failed(&format_args!("minting an access token: {e}"))
        }
    };
    let mut changes = Vec::new();
    let mut evicted = 0;
    let refresh = match &issue.refresh {
        RefreshPlan::None => None,
        RefreshPlan::NewFamily => {
            // Make room first, least recently used first; the new family is not in the
            // store yet, so it can never be the one to go.
            let count = ctx.dir.counts().refresh_families;
            let over = (count + 1).saturating_sub(ctx.policy.max_refresh_families);
            if over > 0 {
                match ctx.dir.least_recently_used(over) {
                    Ok(ids) => {
                        evicted = ids.len();
                        changes.extend(ids.into_iter().map(Change::EvictFamily));
                    }
                    Err(e) => return Step::from(e),
                }
            }
            let id = match &issue.ids {
                Some((_, id)) => *id,
                None => FamilyId::random(rng),
            };
            let (value, digest) = refresh::mint(&id, rng);
            let record = family_record(issue, &digest, now);
            changes.push(Change::InsertFamily { id, record });
            Some(value)
        }
        RefreshPlan::Rotate {
            family,
            presented,
            value,
        } => {
            let (successor, digest) = refresh::successor(family, value, ctx.pepper);
            let mut next = family_record(issue, &digest, now);
            next.previous = Some(presented.encode());
            changes.push(Change::RotateFamily {
                id: *family,
                presented: *presented,
                next,
            });
            Some(successor)
        }
        RefreshPlan::Repeat {
            family,
            value,
            current,
        } => {
            let (successor, digest) = refresh::successor(family, value, ctx.pepper);
            if !digest.matches(current) {
                // The newest token is not this one's successor (a token from before
                // successors were derived): no repeat, only reuse.
                return Step {
                    reply: Reply::oauth_error(&REFRESH_REUSED),
                    changes: vec![Change::RevokeFamily(*family)],
                    event: Some(Event::RefreshReused {
                        client_id: issue.client_id.clone(),
                    }),
                };
            }
            Some(successor)
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
    if let Some(plan) = &issue.id_token {
        let Some(key) = ctx.keys.id_signer(plan.alg, now) else {
            return Step::from(OAuthError::new(
                ErrorCode::TemporarilyUnavailable,
                "the key for this client's ID tokens is still being made: try again shortly",
            ));
        };
        let claims = crate::protocol::oidc::flow::IdClaims {
            iss: ctx.policy.issuer.clone(),
            sub: issue.subject.clone(),
            aud: issue.client_id.clone(),
            exp: now.saturating_add(issue.access_ttl),
            iat: now,
            auth_time: plan.auth_time,
            nonce: plan.nonce.clone(),
            at_hash: crate::protocol::oidc::flow::at_hash(&access, key.alg),
            azp: issue.client_id.clone(),
            person: plan.claims.clone(),
        };
        match token::sign("JWT", &claims, key) {
            Ok(t) => body["id_token"] = json!(t),
            Err(e) => {
                return crate::protocol::store_failed(&format_args!("minting an ID token: {e}"))
            }
        }
    }
    Step {
        reply: Reply::json(200, &body).no_store(),
        changes,
        event: Some(Event::Issued {
            client_id: issue.client_id.clone(),
            grant: issue.grant.as_str(),
            user: issue.username.clone(),
            evicted,
        }),
    }
}

/// The family as it is once the token of `digest` is its newest.
fn family_record(issue: &Issue, digest: &TokenDigest, now: u64) -> FamilyRecord {
    FamilyRecord {
        client_id: issue.client_id.clone(),
        username: issue.username.clone(),
        user_generation: issue.user_generation.clone(),
        scope: issue.refresh_scope.clone(),
        current: digest.encode(),
        previous: None,
        issued_at: now,
        expires_at: now.saturating_add(issue.refresh_ttl),
        rotations: 0,
        revoked: false,
        last_use: 0,
    }
}

/// `unauthorized_client` unless the client was registered for `grant`.
fn may_use(c: &ClientRecord, grant: GrantType) -> Result<(), Refusal> {
    if c.grants.contains(&grant) {
        return Ok(());
    }
    Err(OAuthError::new(
        ErrorCode::UnauthorizedClient,
        "this client may not use this grant type",
    )
    .into())
}

/// `aud` of a client's tokens: its `--audience` values, its id and the issuer.
fn audiences_of(c: &ClientRecord, policy: &Policy) -> Vec<String> {
    let mut audiences = c.audiences.clone();
    for default in [&c.id, &policy.issuer] {
        if !audiences.contains(default) {
            audiences.push(default.clone());
        }
    }
    audiences
}

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
mod tests;
