//! What a granted request gets: the access token's claims (RFC 9068), an ID token when
//! OpenID Connect asked, a refresh token, and the family record to store for it. Mints with
//! the keys it is given and says what to write; stores nothing.

use crate::jose::refresh::{self, FamilyId, TokenDigest};
use crate::jose::token::{self, AccessClaims};
use crate::protocol::token::errors::REFRESH_REUSED;
use crate::protocol::{Change, Context, Event, Reply, Step};
use crate::vocab::entropy::{self, Entropy};
use crate::vocab::oauth_error::{ErrorCode, OAuthError};
use crate::vocab::record::{FamilyRecord, GrantType};
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
    pub id_token: Option<crate::protocol::oidc::id_token::IdTokenPlan>,
    /// The person's groups, for the access token's `groups` (RFC 9068 §2.2.3.1).
    pub groups: Option<Vec<String>>,
}

/// Mints what [`decide`](crate::protocol::token::grants::decide) said to issue and says what to store.
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
        let claims = crate::protocol::oidc::id_token::IdClaims {
            iss: ctx.policy.issuer.clone(),
            sub: issue.subject.clone(),
            aud: issue.client_id.clone(),
            exp: now.saturating_add(issue.access_ttl),
            iat: now,
            auth_time: plan.auth_time,
            amr: plan.amr.clone(),
            acr: plan.acr,
            nonce: plan.nonce.clone(),
            at_hash: crate::protocol::oidc::id_token::at_hash(&access, key.alg),
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
pub(crate) fn family_record(issue: &Issue, digest: &TokenDigest, now: u64) -> FamilyRecord {
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
