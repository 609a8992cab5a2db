//! `POST /token` (RFC 6749 §3.2): the clock and the guard checked, the grant decided
//! ([`crate::protocol::token::grants`]), the tokens issued ([`crate::protocol::token::issue`]).

use crate::protocol::client_auth::authenticate::AuthenticatedClient;
use crate::protocol::guard::{Kind, Verdict};
use crate::protocol::token::errors::{BAD_CODE, BAD_PASSWORD, REFRESH_REUSED};
use crate::protocol::token::grants::{decide, poll_device, redeem_code, Refusal};
use crate::protocol::token::issue::issue;
use crate::protocol::{Change, Context, Event, Reply, Step};
use crate::vocab::entropy::Entropy;
use crate::vocab::oauth_error::{ErrorCode, OAuthError};
use crate::vocab::request::Params;

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
