//! Carrying out an admin request: the checks, the changes (applied by the store in one
//! transaction), and the answer. The same for the socket and for a stopped server.

use super::checks::{
    check_flow, check_name, check_person, check_ttl, grants_sign_in, groups_of, key_location,
    no_client, no_user, read_password, scope_of,
};
use super::show::{client_json, issuer_json, user_json};
use super::spec::ClientSpec;
use super::{AdminError, AdminRequest};
use crate::adapters::service::{self, unix_now};
use crate::adapters::store::{Store, StoreError};
use crate::jose::keys::{KeyRing, SigningAlg};
use crate::jose::secret;
use crate::protocol::{Change, Conflict, Directory, Owner, Policy};
use crate::vocab::entropy::{self, OsEntropy};
use crate::vocab::record::{is_valid_name, ClientRecord, GrantType, UserRecord};
use serde_json::{json, Value};

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        AdminError::Internal(e.to_string())
    }
}

impl From<service::ServiceError> for AdminError {
    fn from(e: service::ServiceError) -> Self {
        AdminError::Internal(e.to_string())
    }
}

/// Applies admin changes; a failed precondition becomes the error the operator sees.
pub(crate) fn apply(store: &Store, changes: &[Change]) -> Result<(), AdminError> {
    store.apply(changes)?.map_err(|c| match c {
        Conflict::ClientExists(id) => AdminError::Exists(format!("client {id:?} already exists")),
        Conflict::UserExists(name) => AdminError::Exists(format!("user {name:?} already exists")),
        Conflict::UserChanged(name) => AdminError::Internal(format!(
            "user {name:?} was changed by another command meanwhile: nothing was done, try again"
        )),
        Conflict::CodeSpent(name) => AdminError::Internal(format!(
            "a code of user {name:?} was spent meanwhile: try again"
        )),
        Conflict::FamilyReplaced(_) | Conflict::FamilyGone(_) => {
            AdminError::Internal("a refresh-token family changed meanwhile: try again".into())
        }
    })
}

/// The changes that end every refresh-token family of `owner`, and how many of them
/// were still live (the sessions that end).
pub(crate) fn end_sessions(
    store: &Store,
    owner: Owner<'_>,
    now: u64,
) -> Result<(Vec<Change>, usize), AdminError> {
    let families = store
        .families_of(owner)
        .map_err(|e| AdminError::Internal(e.to_string()))?;
    let live = families
        .iter()
        .filter(|(_, f)| !f.revoked && now < f.expires_at)
        .count();
    let changes = families
        .into_iter()
        .filter(|(_, f)| !f.revoked)
        .map(|(id, _)| Change::RevokeFamily(id))
        .collect();
    Ok((changes, live))
}

/// Writes `user` over the record read at `expected` (its generation), or says it changed.
fn replace_user(store: &Store, user: UserRecord, expected: String) -> Result<(), AdminError> {
    apply(store, &[Change::ReplaceUser { user, expected }])
}

/// What removing a client or a user takes with it, besides the record: its refresh-token
/// families ([`end_sessions`]) and its consents, so that a client or a person added again
/// under the name is asked again and inherits nothing.
fn end_grants(
    store: &Store,
    owner: Owner<'_>,
    now: u64,
) -> Result<(Vec<Change>, usize), AdminError> {
    let (mut changes, ended) = end_sessions(store, owner, now)?;
    changes.extend(
        store
            .consents()?
            .into_iter()
            .filter(|c| match owner {
                Owner::Client(id) => c.client_id == id,
                Owner::User(name) => c.username == name,
            })
            .map(|c| Change::RemoveConsent(c.username, c.client_id)),
    );
    Ok((changes, ended))
}

/// A new user generation: grants made under an earlier one are dead.
pub(crate) fn new_generation() -> String {
    entropy::token(&mut OsEntropy, 16)
}

/// What an admin command may act on.
pub struct AdminContext<'a> {
    /// The store.
    pub store: &'a Store,
    /// The pepper.
    pub pepper: &'a [u8],
    /// The policy (lifetimes, Argon2 cost).
    pub policy: &'a Policy,
    /// The configured signing algorithm.
    pub algorithm: SigningAlg,
}

/// Carries out an admin request. Returns the result and whether the keys changed.
pub fn execute(req: AdminRequest, ctx: &AdminContext) -> Result<(Value, bool), AdminError> {
    let store = ctx.store;
    let now = unix_now();
    let value = match req {
        AdminRequest::ClientAdd(spec) => {
            let ClientSpec {
                id,
                grants,
                scopes,
                audiences,
                access_ttl,
                refresh_ttl,
                resource_server,
                keys,
                jwks,
                redirect_uris,
                public,
                require_pkce,
                pkce_optional,
                allowed_groups,
                require_second_factor,
                id_token_alg,
                ..
            } = *spec;
            if pkce_optional && (public || require_pkce) {
                return Err(AdminError::Invalid(
                    "--pkce-optional is for a confidential client without --require-pkce".into(),
                ));
            }
            let jwks = key_location(&keys, jwks)?;
            let allowed_groups = groups_of(&allowed_groups)?;
            let id_token_alg = match id_token_alg.as_deref().map(SigningAlg::parse) {
                None => None,
                Some(Some(a)) if !a.is_symmetric() => Some(a),
                Some(_) => {
                    return Err(AdminError::Invalid(
                        "--id-token-alg must be RS256, PS256, ES256 or EdDSA".into(),
                    ))
                }
            };
            check_name("client id", &id)?;
            check_ttl("access-ttl", access_ttl)?;
            check_ttl("refresh-ttl", refresh_ttl)?;
            let mut parsed = Vec::new();
            for g in &grants {
                let g = GrantType::parse(g).ok_or_else(|| {
                    AdminError::Invalid(format!(
                        "unknown grant {g:?}: use authorization_code, client_credentials, password, refresh_token, urn:ietf:params:oauth:grant-type:device_code or urn:ietf:params:oauth:grant-type:jwt-bearer"
                    ))
                })?;
                if !parsed.contains(&g) {
                    parsed.push(g);
                }
            }
            if parsed.is_empty() {
                parsed.push(match public {
                    true => GrantType::AuthorizationCode,
                    false => GrantType::ClientCredentials,
                });
            }
            check_flow(
                &parsed,
                &redirect_uris,
                public,
                !keys.is_empty() || jwks.is_some(),
            )?;
            for a in &audiences {
                if a.is_empty() || a.chars().any(char::is_control) {
                    return Err(AdminError::Invalid(format!("audience {a:?} is not valid")));
                }
            }
            // A client with keys has no secret: nothing it could send would match.
            let secret =
                (keys.is_empty() && jwks.is_none() && !public).then(secret::new_client_secret);
            let record = ClientRecord {
                id: id.clone(),
                secret_hash: secret
                    .as_ref()
                    .map(|s| secret::hash_client_secret(ctx.pepper, s))
                    .unwrap_or_default(),
                grants: parsed,
                scope: scope_of(&scopes)?,
                audiences,
                access_ttl,
                refresh_ttl,
                disabled: false,
                resource_server,
                created_at: now,
                keys,
                jwks,
                redirect_uris,
                public,
                require_pkce,
                pkce_optional,
                allowed_groups,
                require_second_factor,
                id_token_alg: id_token_alg.map(|a| a.as_str().to_string()),
            };
            if store.client(&id)?.is_some() {
                return Err(AdminError::Exists(format!("client {id:?} already exists")));
            }
            // Its ID tokens need a key of their algorithm before its first sign-in.
            let made = grants_sign_in(&record.grants)
                && service::ensure_id_key(
                    store,
                    crate::protocol::oidc::id_token::id_token_alg(&record),
                )?;
            apply(store, &[Change::InsertClient(record.clone())])?;
            let mut v = client_json(&record);
            if let Some(secret) = secret {
                v["client_secret"] = json!(secret);
            }
            return Ok((v, made));
        }
        AdminRequest::ClientList => {
            json!(store.clients()?.iter().map(client_json).collect::<Vec<_>>())
        }
        AdminRequest::ClientShow { id } => {
            client_json(&store.client(&id)?.ok_or_else(|| no_client(&id))?)
        }
        AdminRequest::ClientRemove { id } => {
            store.client(&id)?.ok_or_else(|| no_client(&id))?;
            // Consents go with the client: a client added again under the id (perhaps with
            // another redirect URI) must ask again.
            let (mut changes, ended) = end_grants(store, Owner::Client(&id), now)?;
            changes.push(Change::RemoveClient(id.clone()));
            apply(store, &changes)?;
            json!({ "removed": id, "sessions_ended": ended })
        }
        AdminRequest::ClientRotateSecret { id } => {
            let mut c = store.client(&id)?.ok_or_else(|| no_client(&id))?;
            if c.public {
                return Err(AdminError::Invalid(format!(
                    "client {id} is public: it has no secret"
                )));
            }
            if c.has_keys() {
                return Err(AdminError::Invalid(format!(
                    "client {id} authenticates with its keys (private_key_jwt): it has no secret"
                )));
            }
            let secret = secret::new_client_secret();
            c.secret_hash = secret::hash_client_secret(ctx.pepper, &secret);
            apply(store, &[Change::PutClient(c)])?;
            json!({ "client_id": id, "client_secret": secret })
        }
        AdminRequest::ClientSetDisabled { id, disabled } => {
            let mut c = store.client(&id)?.ok_or_else(|| no_client(&id))?;
            c.disabled = disabled;
            apply(store, &[Change::PutClient(c.clone())])?;
            client_json(&c)
        }
        AdminRequest::UserAdd {
            name,
            scopes,
            password,
            person,
            admin,
            enroll,
        } => {
            check_name("user name", &name)?;
            if !enroll {
                read_password(&password)?;
            }
            check_person(&person)?;
            let groups = groups_of(&person.groups)?;
            // Enrolled by link: no password until the person sets one (none matches "").
            let hash = if enroll {
                String::new()
            } else {
                secret::hash_password(&password, ctx.policy.password_cost)
                    .map_err(|e| AdminError::Internal(e.to_string()))?
            };
            let user = UserRecord {
                name: name.clone(),
                password_hash: hash,
                scope: scope_of(&scopes)?,
                created_at: now,
                generation: new_generation(),
                display_name: person.display_name,
                email: person.email,
                admin,
                email_unverified: person.email_unverified,
                groups,
                require_second_factor: false,
                factors: Default::default(),
                session_epoch: 0,
                enrollment: None,
                revision: 0,
            };
            let (user, link) = if enroll {
                let (u, url) = crate::protocol::account::enroll::new_link(
                    &user,
                    &ctx.policy.issuer,
                    now,
                    ctx.pepper,
                    &mut OsEntropy,
                );
                (u, Some(url))
            } else {
                (user, None)
            };
            apply(store, &[Change::InsertUser(user.clone())])?;
            let mut v = json!({ "username": name, "scope": user.scope.to_string(), "admin": user.admin,
                    "groups": user.groups });
            if let Some(url) = link {
                v["enroll_url"] = json!(url);
                v["enroll_expires_at"] = json!(user.enrollment.as_ref().map(|e| e.expires_at));
            }
            v
        }
        AdminRequest::UserEnroll { name } => {
            let u = store.user(&name)?.ok_or_else(|| no_user(&name))?;
            let (next, url) = crate::protocol::account::enroll::new_link(
                &u,
                &ctx.policy.issuer,
                now,
                ctx.pepper,
                &mut OsEntropy,
            );
            replace_user(store, next.clone(), u.generation)?;
            json!({ "username": name, "enroll_url": url,
                    "enroll_expires_at": next.enrollment.as_ref().map(|e| e.expires_at) })
        }
        AdminRequest::UserEdit {
            name,
            person,
            email_verified,
            no_groups,
            admin,
            require_second_factor,
        } => {
            check_person(&person)?;
            let mut u = store.user(&name)?.ok_or_else(|| no_user(&name))?;
            let expected = u.generation.clone();
            if let Some(n) = person.display_name {
                u.display_name = Some(n);
            }
            if let Some(e) = person.email {
                u.email = Some(e);
                u.email_unverified = false;
            }
            if person.email_unverified {
                u.email_unverified = true;
            }
            if email_verified {
                u.email_unverified = false;
            }
            if no_groups {
                u.groups.clear();
            } else if !person.groups.is_empty() {
                u.groups = groups_of(&person.groups)?;
            }
            if let Some(a) = admin {
                u.admin = a;
            }
            if let Some(r) = require_second_factor {
                u.require_second_factor = r;
            }
            // The generation stays: the person's sessions and refresh tokens go on, and a
            // change of groups applies at their next token or refresh.
            replace_user(store, u.clone(), expected)?;
            user_json(&u)
        }
        AdminRequest::UserShow { name } => {
            let u = store.user(&name)?.ok_or_else(|| no_user(&name))?;
            let mut v = user_json(&u);
            let families = store
                .families_of(Owner::User(&name))
                .map_err(|e| AdminError::Internal(e.to_string()))?;
            v["sessions"] = json!(families
                .iter()
                .filter(|(_, f)| !f.revoked && now < f.expires_at)
                .count());
            let clients = store.clients()?;
            v["apps_allowed"] = json!(clients
                .iter()
                .filter(|c| grants_sign_in(&c.grants) && c.admits(&u))
                .map(|c| c.id.clone())
                .collect::<Vec<_>>());
            v
        }
        AdminRequest::GroupList => {
            let users = store.users()?;
            let clients = store.clients()?;
            let mut names: Vec<&String> = users
                .iter()
                .flat_map(|u| &u.groups)
                .chain(clients.iter().flat_map(|c| &c.allowed_groups))
                .collect();
            names.sort();
            names.dedup();
            json!(names
                .into_iter()
                .map(|g| json!({
                    "group": g,
                    "members": users.iter().filter(|u| u.groups.contains(g)).map(|u| &u.name).collect::<Vec<_>>(),
                    "apps": clients.iter().filter(|c| c.allowed_groups.contains(g)).map(|c| &c.id).collect::<Vec<_>>(),
                }))
                .collect::<Vec<_>>())
        }
        AdminRequest::IssuerAdd {
            name,
            keys,
            jwks,
            subjects,
            scopes,
        } => {
            let jwks = key_location(&keys, jwks)?;
            if name.is_empty() || name.len() > 256 || name.chars().any(char::is_control) {
                return Err(AdminError::Invalid(format!(
                    "issuer {name:?} is not a valid iss"
                )));
            }
            if keys.is_empty() && jwks.is_none() {
                return Err(AdminError::Invalid(
                    "an issuer needs a key: --jwk FILE, --pem FILE or --jwks-uri URL".into(),
                ));
            }
            for p in &subjects {
                if p != "*" && !is_valid_name(p.strip_suffix('*').unwrap_or(p)) {
                    return Err(AdminError::Invalid(format!(
                        "subject pattern {p:?} is not valid"
                    )));
                }
            }
            if store.issuer(&name)?.is_some() {
                return Err(AdminError::Invalid(format!(
                    "issuer {name:?} exists; remove it first"
                )));
            }
            let issuer = crate::vocab::record::IssuerRecord {
                name,
                keys,
                jwks,
                subjects,
                scope: scope_of(&scopes)?,
                created_at: now,
            };
            apply(store, &[Change::PutIssuer(issuer.clone())])?;
            issuer_json(&issuer)
        }
        AdminRequest::IssuerList => {
            json!(store.issuers()?.iter().map(issuer_json).collect::<Vec<_>>())
        }
        AdminRequest::IssuerRemove { name } => {
            store
                .issuer(&name)?
                .ok_or_else(|| AdminError::NotFound(format!("no issuer {name:?}")))?;
            apply(store, &[Change::RemoveIssuer(name.clone())])?;
            json!({ "removed": name })
        }
        AdminRequest::UserList => json!(store.users()?.iter().map(user_json).collect::<Vec<_>>()),
        AdminRequest::UserRevoke { name, client } => {
            store.user(&name)?.ok_or_else(|| no_user(&name))?;
            let had = crate::protocol::Directory::consent(store, &name, &client)
                .map_err(|e| AdminError::Internal(e.to_string()))?
                .is_some();
            // Only this client's families: the others stay.
            let (changes, ended) = crate::protocol::account::apps::take_back(store, &name, &client)
                .map_err(|e| AdminError::Internal(e.to_string()))?;
            apply(store, &changes)?;
            json!({ "username": name, "client_id": client, "consent_removed": had, "sessions_ended": ended })
        }
        AdminRequest::UserResetFactors { name } => {
            let u = store.user(&name)?.ok_or_else(|| no_user(&name))?;
            let next = crate::protocol::account::factors::reset(&u);
            replace_user(store, next.clone(), u.generation)?;
            json!({ "username": name, "factors_removed": !u.factors.is_empty(),
                    "browser_sessions_ended": true,
                    "require_second_factor": next.require_second_factor })
        }
        AdminRequest::UserRemove { name } => {
            store.user(&name)?.ok_or_else(|| no_user(&name))?;
            // In one transaction with the removal. A grant made while this runs carries
            // the old generation, which no later user of the name will have.
            let (mut changes, ended) = end_grants(store, Owner::User(&name), now)?;
            changes.push(Change::RemoveUser(name.clone()));
            apply(store, &changes)?;
            json!({ "removed": name, "sessions_ended": ended })
        }
        AdminRequest::UserPasswd {
            name,
            password,
            keep_sessions,
        } => {
            read_password(&password)?;
            let mut u = store.user(&name)?.ok_or_else(|| no_user(&name))?;
            let expected = u.generation.clone();
            u.password_hash = secret::hash_password(&password, ctx.policy.password_cost)
                .map_err(|e| AdminError::Internal(e.to_string()))?;
            // A changed password is what an owner does after a phone is lost: unless told
            // otherwise, every session of the old password ends with it.
            let (mut changes, ended) = if keep_sessions {
                (Vec::new(), 0)
            } else {
                u.generation = new_generation();
                end_sessions(store, Owner::User(&name), now)?
            };
            changes.push(Change::ReplaceUser { user: u, expected });
            apply(store, &changes)?;
            json!({ "username": name, "sessions_ended": ended })
        }
        AdminRequest::KeyList => {
            let now = crate::adapters::service::unix_now();
            let mut keys = store.keys()?;
            keys.sort_by_key(|k| {
                (
                    !k.purpose.is_access(),
                    std::cmp::Reverse(k.active_from.unwrap_or(k.created_at)),
                )
            });
            let ring = KeyRing::load(&keys).map_err(|e| AdminError::Internal(e.to_string()))?;
            // The key signing now in each line: access tokens, and ID tokens per algorithm.
            let mut signing = vec![ring.current(now).kid.clone()];
            signing.extend(
                SigningAlg::ALL
                    .into_iter()
                    .filter_map(|a| ring.id_signer(a, now))
                    .map(|k| k.kid.clone()),
            );
            json!(keys
                .iter()
                .map(|k| {
                    let from = k.active_from.unwrap_or(k.created_at);
                    let state = if signing.contains(&k.kid) {
                        "current"
                    } else if from > now && k.retired_at.is_none_or(|r| r > now) {
                        "next"
                    } else {
                        "retired"
                    };
                    json!({
                        "kid": k.kid,
                        "alg": k.alg,
                        "signs": if k.purpose.is_access() { "access_tokens" } else { "id_tokens" },
                        "state": state,
                        "created_at": k.created_at,
                        "signs_from": from,
                        "retired_at": k.retired_at,
                        "published_until": k.publish_until,
                    })
                })
                .collect::<Vec<_>>())
        }
        AdminRequest::KeyRotate { now } => {
            let (kid, from) = service::rotate_key(store, ctx.policy, ctx.algorithm, now)?;
            let wait = from.saturating_sub(crate::adapters::service::unix_now());
            return Ok((
                json!({ "kid": kid, "alg": ctx.algorithm.as_str(), "signs_from": from,
                        "signs_in_seconds": wait }),
                true,
            ));
        }
        AdminRequest::Audit => {
            return Err(AdminError::NotFound(
                "the audit trail lives in the running server's memory: no server answers on \
                 this data directory's admin socket"
                    .into(),
            ))
        }
        AdminRequest::KeySecret => {
            let records = store.keys()?;
            let ring = KeyRing::load(&records).map_err(|e| AdminError::Internal(e.to_string()))?;
            let current = ring.current(crate::adapters::service::unix_now());
            if !current.alg.is_symmetric() {
                return Err(AdminError::Invalid(format!(
                    "the current key is {}, not HS256: verifiers use the public JWKS",
                    current.alg
                )));
            }
            let record = records
                .iter()
                .find(|k| k.kid == current.kid)
                .ok_or_else(|| AdminError::Internal("current key vanished".into()))?;
            let mut v = json!({ "kid": record.kid, "alg": "HS256", "secret": record.private });
            // After a staged rotation, verifiers need the next secret before it signs.
            let now = crate::adapters::service::unix_now();
            let next = ring.next(now).filter(|k| k.alg.is_symmetric());
            if let Some(next) = next.and_then(|n| records.iter().find(|k| k.kid == n.kid)) {
                v["next"] = json!({ "kid": next.kid, "secret": next.private,
                                    "signs_from": next.active_from });
            }
            v
        }
    };
    Ok((value, false))
}
