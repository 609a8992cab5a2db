//! The grants of the token endpoint (RFC 6749 §4.1, §4.3, §4.4, §6; RFC 8628 §3.4;
//! RFC 7523 §2.1): [`decide`] applies each grant's rules to the records the request names
//! and says what to issue ([`crate::protocol::token::issue`] mints it). It signs nothing,
//! stores nothing and reads no clock: the caller passes them in and applies the changes.

use crate::jose::refresh::{self, FamilyId};
use crate::jose::secret;
use crate::protocol::client_auth::authenticate::AuthenticatedClient;
use crate::protocol::presented::find_family;
use crate::protocol::token::errors::{BAD_CODE, BAD_REFRESH, NEEDS_SECOND_FACTOR, NOT_ADMITTED};
use crate::protocol::token::issue::{Issue, RefreshPlan};
use crate::protocol::{Context, Directory, LookupError, Policy};
use crate::vocab::entropy::{self, Entropy};
use crate::vocab::oauth_error::{ErrorCode, OAuthError};
use crate::vocab::record::{ClientRecord, GrantType};
use crate::vocab::request::Params;
use crate::vocab::scope::Scope;

/// Why nothing is issued.
#[derive(Debug)]
pub enum Refusal {
    /// An OAuth error; nothing is written.
    Error(OAuthError),
    /// A wrong password or an unknown user (answered alike, as
    /// [`BAD_PASSWORD`](crate::protocol::token::errors::BAD_PASSWORD)); whether
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

/// Redeems an authorization code (RFC 6749 §4.1.3, RFC 7636 §4.6): once, by the client it
/// was issued to, with the same redirect URI and the PKCE verifier of its challenge, for a
/// user who is still who they were.
pub(crate) fn redeem_code(
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
        issue.id_token = Some(crate::protocol::oidc::id_token::IdTokenPlan {
            nonce: grant.nonce,
            auth_time: grant.auth_time,
            amr: grant.methods.amr(),
            acr: grant.acr_asked.then(|| grant.methods.acr()),
            alg: crate::protocol::oidc::id_token::id_token_alg(c),
            claims: crate::protocol::oidc::id_token::user_claims(&user, &issue.scope),
        });
    }
    Ok(issue)
}

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
pub(crate) fn poll_device(
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
        // `token::endpoint::respond` sends them there.
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
            let user = dir.user(username)?;
            // A person enrolled by link who has set no password yet has none to match.
            let Some(user) = user.filter(|u| !u.password_hash.is_empty()) else {
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
            if !crate::protocol::account::policy::password_alone_suffices(
                &user,
                c.require_second_factor,
            ) {
                return Err(NEEDS_SECOND_FACTOR.into());
            }
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
