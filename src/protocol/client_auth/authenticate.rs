//! Client authentication (RFC 6749 §2.3): who is asking, for every POST endpoint.

use crate::jose::secret;
use crate::protocol::client_auth::credentials::{self, AuthFailure, ClientCredentials};
use crate::protocol::guard::{Kind, Verdict};
use crate::protocol::{Context, Event, Reply, Request, Step};
use crate::vocab::oauth_error::OAuthError;
use crate::vocab::record::{is_valid_name, ClientRecord};
use crate::vocab::request::Params;

/// A client that proved its identity: only [`check`] makes one.
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

pub(crate) const BAD_CLIENT: OAuthError =
    OAuthError::invalid_client("client authentication failed");

/// What a client assertion is checked against: the audiences it may name, and the time.
pub struct AssertionRules<'a> {
    /// The issuer, its token endpoint, and the endpoint called.
    pub audiences: &'a [&'a str],
    /// Now.
    pub now: u64,
    /// Clock skew allowed.
    pub leeway: u64,
    /// The keys clients publish at a `jwks_uri`.
    pub published: &'a dyn crate::protocol::client_auth::published_keys::PublishedKeys,
}

/// Checks presented credentials against the client's record (`None`: no such client).
/// Every failure is the same `invalid_client`, so that a caller cannot tell which ids
/// exist. An assertion that checks out still has to be used once ([`ReplayCache`]).
///
/// [`ReplayCache`]: crate::protocol::client_auth::replay::ReplayCache
pub fn check(
    creds: &ClientCredentials,
    record: Option<ClientRecord>,
    pepper: &[u8],
    rules: &AssertionRules,
) -> Result<
    (
        AuthenticatedClient,
        Option<crate::protocol::client_auth::assertion::Accepted>,
    ),
    (OAuthError, AuthFailure),
> {
    let Some(record) = record else {
        // Spend the same hash as a real check.
        let _ = secret::check_client_secret(pepper, creds.secret(), "");
        return Err((BAD_CLIENT, AuthFailure::UnknownClient));
    };
    let accepted = match creds {
        ClientCredentials::Public { .. } if record.public => None,
        ClientCredentials::Public { .. } => {
            let _ = secret::check_client_secret(pepper, "", "");
            return Err((BAD_CLIENT, AuthFailure::WrongMethod));
        }
        _ if record.public => {
            let _ = secret::check_client_secret(pepper, creds.secret(), "");
            return Err((BAD_CLIENT, AuthFailure::WrongMethod));
        }
        ClientCredentials::Assertion { assertion, .. } => {
            if !record.has_keys() {
                return Err((BAD_CLIENT, AuthFailure::WrongMethod));
            }
            let accepted = crate::protocol::client_auth::assertion::check(
                assertion,
                &record,
                rules.audiences,
                rules.now,
                rules.leeway,
                rules.published,
            )
            .map_err(|f| (BAD_CLIENT, AuthFailure::BadAssertion(f)))?;
            Some(accepted)
        }
        _ if record.has_keys() => {
            let _ = secret::check_client_secret(pepper, creds.secret(), "");
            return Err((BAD_CLIENT, AuthFailure::WrongMethod));
        }
        _ => {
            if !secret::check_client_secret(pepper, creds.secret(), &record.secret_hash) {
                return Err((BAD_CLIENT, AuthFailure::WrongSecret));
            }
            None
        }
    };
    if record.disabled {
        return Err((BAD_CLIENT, AuthFailure::Disabled));
    }
    Ok((AuthenticatedClient(record), accepted))
}

/// The id as it may appear in a log line: a presented id that no client could have is
/// not repeated (it may be a secret pasted into the wrong field).
pub fn loggable_id(id: &str) -> String {
    if is_valid_name(id) {
        id.to_string()
    } else {
        "(not a valid client id)".to_string()
    }
}

/// Authenticates the client of a POST endpoint.
pub fn authenticate(
    req: &Request,
    params: &Params,
    ctx: &Context,
) -> Result<AuthenticatedClient, Step> {
    let creds = credentials::client_credentials(req.header("Authorization"), params)
        .map_err(|e| Step::from(e.error))?;
    let guard = ctx.guard;
    if let Verdict::Wait(wait) = guard.check(req.peer, Kind::Client, creds.id(), ctx.now) {
        return Err(
            Step::reply(Reply::too_many_attempts(wait)).with_event(Event::Throttled {
                peer: req.peer,
                wait,
            }),
        );
    }
    let record = ctx.dir.client(creds.id())?;
    let issuer = &ctx.policy.issuer;
    let (token_endpoint, called) = (
        format!("{issuer}{}", crate::protocol::paths::TOKEN_PATH),
        format!("{issuer}{}", req.path),
    );
    let rules = AssertionRules {
        audiences: &[issuer, &token_endpoint, &called],
        now: ctx.now,
        leeway: ctx.policy.leeway,
        published: ctx.published,
    };
    let checked = check(&creds, record, ctx.pepper, &rules).and_then(|(client, accepted)| {
        let Some(a) = accepted else {
            return Ok(client);
        };
        let uptime = ctx.host.uptime_seconds;
        if !crate::protocol::client_auth::assertion::after_restart_ok(
            a.iat,
            ctx.now,
            uptime,
            ctx.policy.leeway,
        ) {
            return Err((BAD_CLIENT, AuthFailure::Replayed));
        }
        match ctx.replay.first_use(client.id(), &a.jti, a.until, ctx.now) {
            crate::protocol::client_auth::replay::Replay::First => Ok(client),
            crate::protocol::client_auth::replay::Replay::Replayed => {
                Err((BAD_CLIENT, AuthFailure::Replayed))
            }
            crate::protocol::client_auth::replay::Replay::Full => Err((
                OAuthError::new(
                    crate::vocab::oauth_error::ErrorCode::TemporarilyUnavailable,
                    "too many client assertions in the last minutes; try again shortly",
                ),
                AuthFailure::Replayed,
            )),
        }
    });
    match checked {
        Ok(client) => {
            guard.succeeded(req.peer, Kind::Client, creds.id());
            Ok(client)
        }
        Err((e, why)) => {
            guard.failed(req.peer, Kind::Client, creds.id(), ctx.now);
            // An id that names no client is not repeated: it may be a secret typed into the
            // wrong field.
            let client_id = if why == AuthFailure::UnknownClient {
                "(unknown client)".to_string()
            } else {
                loggable_id(creds.id())
            };
            Err(Step::from(e).with_event(Event::ClientAuthFailed { client_id, why }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::testing::{client, PEPPER};
    use crate::vocab::record::GrantType;

    const RULES: AssertionRules = AssertionRules {
        audiences: &["http://pi"],
        now: 1000,
        leeway: 30,
        published: &crate::protocol::testing::NoFetch,
    };

    #[test]
    fn authentication_fails_alike_for_unknown_wrong_and_disabled() {
        let creds = ClientCredentials::Basic {
            id: "dev".into(),
            secret: "wrong".into(),
        };
        let c = client(&[GrantType::ClientCredentials], "");
        assert_eq!(
            check(&creds, Some(c.clone()), PEPPER, &RULES).unwrap_err(),
            (BAD_CLIENT, AuthFailure::WrongSecret)
        );
        assert_eq!(
            check(&creds, None, PEPPER, &RULES).unwrap_err(),
            (BAD_CLIENT, AuthFailure::UnknownClient)
        );
        let right = ClientCredentials::Basic {
            id: "dev".into(),
            secret: "s".into(),
        };
        let mut off = c;
        off.disabled = true;
        assert_eq!(
            check(&right, Some(off), PEPPER, &RULES).unwrap_err(),
            (BAD_CLIENT, AuthFailure::Disabled)
        );
    }

    #[test]
    fn ids_no_client_could_have_stay_out_of_the_log() {
        assert_eq!(loggable_id("sensor-1"), "sensor-1");
        assert_eq!(
            loggable_id("s3cret value with spaces"),
            "(not a valid client id)"
        );
        assert_eq!(loggable_id(&"x".repeat(500)), "(not a valid client id)");
    }
}
