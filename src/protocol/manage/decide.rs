//! Carrying out an operator's command: the checks, the changes for the store to apply in
//! one transaction, and the answer. The same for the admin socket, for a stopped server's
//! command and for the operator's pages.

use super::checks::{
    check_flow, check_name, check_person, check_ttl, grants_sign_in, groups_of, key_location,
    no_client, no_user, read_password, scope_of,
};
use super::command::{AdminError, AdminRequest};
use super::keys;
use super::show::{client_json, issuer_json, user_json};
use super::spec::ClientSpec;
use crate::jose::keys::{KeyError, KeyRing, SigningAlg};
use crate::jose::secret;
use crate::protocol::{Change, Directory, LookupError, Owner, Policy};
use crate::vocab::entropy::{self, Entropy};
use crate::vocab::record::{is_valid_name, ClientRecord, GrantType, UserRecord};
use serde_json::{json, Value};

fn lookup(e: LookupError) -> AdminError {
    AdminError::Internal(e.to_string())
}

fn key(e: KeyError) -> AdminError {
    AdminError::Internal(e.to_string())
}

/// What an operator's command may read and use.
pub struct Env<'a> {
    /// The store, read.
    pub dir: &'a dyn Directory,
    /// The pepper of client-secret hashes.
    pub pepper: &'a [u8],
    /// The policy (issuer, lifetimes, Argon2 cost).
    pub policy: &'a Policy,
    /// The configured signing algorithm.
    pub algorithm: SigningAlg,
    /// The time, Unix seconds.
    pub now: u64,
    /// Where new secrets, links and generations come from.
    pub rng: &'a mut dyn Entropy,
}

impl<'a> Env<'a> {
    /// What a request's context gives a command: its directory, pepper, policy and time,
    /// and the algorithm the key ring signs with or is changing to.
    pub fn of(ctx: &'a crate::protocol::Context<'a>, rng: &'a mut dyn Entropy) -> Env<'a> {
        Env {
            dir: ctx.dir,
            pepper: ctx.pepper,
            policy: ctx.policy,
            algorithm: ctx
                .keys
                .next(ctx.now)
                .map_or(ctx.keys.current(ctx.now).alg, |k| k.alg),
            now: ctx.now,
            rng,
        }
    }
}

/// The person named `name`, or the error that says there is none.
fn user_named(dir: &dyn Directory, name: &str) -> Result<UserRecord, AdminError> {
    dir.user(name).map_err(lookup)?.ok_or_else(|| no_user(name))
}

/// The client `id`, or the error that says there is none.
fn client_of_id(dir: &dyn Directory, id: &str) -> Result<ClientRecord, AdminError> {
    dir.client(id).map_err(lookup)?.ok_or_else(|| no_client(id))
}

/// What a command does: the changes to apply in one transaction, and its answer (the
/// command line prints it, the pages show it).
#[derive(Debug)]
pub struct Decision {
    /// The changes.
    pub changes: Vec<Change>,
    /// The answer, as JSON.
    pub answer: Value,
    /// Whether signing keys change (the running server reloads its key ring).
    pub keys_changed: bool,
}

/// The changes that end every refresh-token family of `owner`, added to `out`, and how
/// many of them were still live (the sessions that end).
pub fn end_sessions(
    dir: &dyn Directory,
    owner: Owner<'_>,
    now: u64,
    out: &mut Vec<Change>,
) -> Result<usize, AdminError> {
    let families = dir.families_of(owner).map_err(lookup)?;
    let live = families
        .iter()
        .filter(|(_, f)| !f.revoked && now < f.expires_at)
        .count();
    out.extend(
        families
            .into_iter()
            .filter(|(_, f)| !f.revoked)
            .map(|(id, _)| Change::RevokeFamily(id)),
    );
    Ok(live)
}

/// `user` written over the record read at `expected` (its generation and revision).
fn replace(user: UserRecord, expected: String) -> Change {
    Change::ReplaceUser { user, expected }
}

/// `client` written over the record as it was `read`, or a conflict if it changed since.
fn replace_client(client: ClientRecord, read: ClientRecord) -> Change {
    Change::ReplaceClient {
        client,
        expected: Box::new(read),
    }
}

/// What removing a client or a user takes with it, besides the record: its refresh-token
/// families ([`end_sessions`]) and its consents, so that a client or a person added again
/// under the name is asked again and inherits nothing.
fn end_grants(
    dir: &dyn Directory,
    owner: Owner<'_>,
    now: u64,
    out: &mut Vec<Change>,
) -> Result<usize, AdminError> {
    let ended = end_sessions(dir, owner, now, out)?;
    out.extend(
        dir.consents()
            .map_err(lookup)?
            .into_iter()
            .filter(|c| match owner {
                Owner::Client(id) => c.client_id == id,
                Owner::User(name) => c.username == name,
                Owner::Anyone => true,
            })
            .map(|c| Change::RemoveConsent(c.username, c.client_id)),
    );
    Ok(ended)
}

/// Every live refresh-token family, newest first: what `session list` prints and the
/// operator's sessions page shows (one walk of the families).
pub fn sessions(dir: &dyn Directory, now: u64) -> Result<Vec<Value>, AdminError> {
    let mut live: Vec<_> = dir
        .families_of(Owner::Anyone)
        .map_err(lookup)?
        .into_iter()
        .filter(|(_, f)| !f.revoked && now < f.expires_at)
        .collect();
    live.sort_by_key(|(_, f)| std::cmp::Reverse(f.issued_at));
    Ok(live
        .into_iter()
        .map(|(id, f)| {
            json!({
                "id": id.to_string(),
                "username": f.username,
                "client_id": f.client_id,
                "scope": f.scope.to_string(),
                // When its newest token was issued: the last grant or refresh.
                "last_used": f.issued_at,
                "expires_at": f.expires_at,
                "refreshes": f.rotations,
            })
        })
        .collect())
}

/// Refuses to take the operator flag from `name` when no one else has it: the operator's
/// pages would then have no one to open them.
fn keep_an_operator(dir: &dyn Directory, name: &str) -> Result<(), AdminError> {
    let others = dir
        .users()
        .map_err(lookup)?
        .iter()
        .any(|u| u.admin && u.name != name);
    match others {
        true => Ok(()),
        false => Err(AdminError::Invalid(format!(
            "{name} is the only operator: make another person an operator (--admin) first"
        ))),
    }
}

/// A new user generation: grants made under an earlier one are dead.
fn new_generation(rng: &mut dyn Entropy) -> String {
    entropy::token(rng, 16)
}

/// Decides an operator's command: what to change and what to answer. Reads only; nothing
/// changes until the caller applies [`Decision::changes`].
pub fn decide(req: AdminRequest, env: &mut Env) -> Result<Decision, AdminError> {
    let dir = env.dir;
    let now = env.now;
    let mut out: Vec<Change> = Vec::new();
    let answer = match req {
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
                    .map(|s| secret::hash_client_secret(env.pepper, s))
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
            if dir.client(&id).map_err(lookup)?.is_some() {
                return Err(AdminError::Exists(format!("client {id:?} already exists")));
            }
            // Its ID tokens need a key of their algorithm before its first sign-in.
            if grants_sign_in(&record.grants) {
                let alg = crate::protocol::oidc::id_token::id_token_alg(&record);
                if let Some(key) =
                    keys::id_key_needed(&dir.keys().map_err(lookup)?, alg, now).map_err(key)?
                {
                    out.push(Change::PutKeys(vec![key]));
                }
            }
            out.push(Change::InsertClient(record.clone()));
            let mut v = client_json(&record);
            if let Some(secret) = secret {
                v["client_secret"] = json!(secret);
            }
            v
        }
        AdminRequest::ClientList => {
            json!(dir
                .clients()
                .map_err(lookup)?
                .iter()
                .map(client_json)
                .collect::<Vec<_>>())
        }
        AdminRequest::ClientShow { id } => client_json(&client_of_id(dir, &id)?),
        AdminRequest::ClientRemove { id } => {
            client_of_id(dir, &id)?;
            // Consents go with the client: a client added again under the id (perhaps with
            // another redirect URI) must ask again.
            let ended = end_grants(dir, Owner::Client(&id), now, &mut out)?;
            out.push(Change::RemoveClient(id.clone()));
            json!({ "removed": id, "sessions_ended": ended })
        }
        AdminRequest::ClientRotateSecret { id } => {
            let mut c = client_of_id(dir, &id)?;
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
            let read = c.clone();
            c.secret_hash = secret::hash_client_secret(env.pepper, &secret);
            out.push(replace_client(c, read));
            json!({ "client_id": id, "client_secret": secret })
        }
        AdminRequest::ClientSetDisabled { id, disabled } => {
            let mut c = client_of_id(dir, &id)?;
            let read = c.clone();
            c.disabled = disabled;
            out.push(replace_client(c.clone(), read));
            client_json(&c)
        }
        AdminRequest::ClientEdit {
            id,
            allowed_groups,
            redirect_uris,
            require_second_factor,
        } => {
            let mut c = client_of_id(dir, &id)?;
            let read = c.clone();
            if let Some(groups) = allowed_groups {
                c.allowed_groups = groups_of(&groups)?;
            }
            if let Some(uris) = redirect_uris {
                check_flow(&c.grants, &uris, c.public, c.has_keys())?;
                c.redirect_uris = uris;
            }
            if let Some(r) = require_second_factor {
                c.require_second_factor = r;
            }
            // Its tokens and consents stay: a change of groups applies at the next sign-in
            // or refresh, which checks them.
            out.push(replace_client(c.clone(), read));
            client_json(&c)
        }
        AdminRequest::UserSignOut { name } => {
            let u = user_named(dir, &name)?;
            let ended = end_sessions(dir, Owner::User(&name), now, &mut out)?;
            let mut next = u.clone();
            next.session_epoch = next.session_epoch.saturating_add(1);
            out.push(replace(next, u.generation));
            json!({ "username": name, "sessions_ended": ended, "browser_sessions_ended": true })
        }
        AdminRequest::SessionList => json!(sessions(dir, now)?),
        AdminRequest::SessionRevoke { id } => {
            let missing = || AdminError::NotFound(format!("no live session {id:?}"));
            let family: crate::jose::refresh::FamilyId = id.parse().map_err(|_| missing())?;
            let f = dir.family(&family).map_err(lookup)?.ok_or_else(missing)?;
            if f.revoked || now >= f.expires_at {
                return Err(missing());
            }
            out.push(Change::RevokeFamily(family));
            json!({ "revoked": id, "client_id": f.client_id, "username": f.username })
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
                secret::hash_password(&password, env.policy.password_cost)
                    .map_err(|e| AdminError::Internal(e.to_string()))?
            };
            let user = UserRecord {
                name: name.clone(),
                password_hash: hash,
                scope: scope_of(&scopes)?,
                created_at: now,
                generation: new_generation(env.rng),
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
                    &env.policy.issuer,
                    now,
                    env.pepper,
                    env.rng,
                );
                (u, Some(url))
            } else {
                (user, None)
            };
            out.push(Change::InsertUser(user.clone()));
            let mut v = json!({ "username": name, "scope": user.scope.to_string(), "admin": user.admin,
                    "groups": user.groups });
            if let Some(url) = link {
                v["enroll_url"] = json!(url);
                v["enroll_expires_at"] = json!(user.enrollment.as_ref().map(|e| e.expires_at));
            }
            v
        }
        AdminRequest::UserEnroll { name } => {
            let u = user_named(dir, &name)?;
            let (next, url) = crate::protocol::account::enroll::new_link(
                &u,
                &env.policy.issuer,
                now,
                env.pepper,
                env.rng,
            );
            out.push(replace(next.clone(), u.generation));
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
            let mut u = user_named(dir, &name)?;
            let expected = u.generation.clone();
            if let Some(n) = person.display_name {
                u.display_name = Some(n);
            }
            if let Some(e) = person.email {
                // A new address is the one the operator typed; the same one again (a form
                // sends it back as it was) keeps whether it was verified.
                if u.email.as_deref() != Some(e.as_str()) {
                    u.email_unverified = false;
                }
                u.email = Some(e);
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
                if u.admin && !a {
                    keep_an_operator(dir, &name)?;
                }
                u.admin = a;
            }
            if let Some(r) = require_second_factor {
                u.require_second_factor = r;
            }
            // The generation stays: the person's sessions and refresh tokens go on, and a
            // change of groups applies at their next token or refresh.
            out.push(replace(u.clone(), expected));
            user_json(&u)
        }
        AdminRequest::UserShow { name } => {
            let u = user_named(dir, &name)?;
            let mut v = user_json(&u);
            let families = dir.families_of(Owner::User(&name)).map_err(lookup)?;
            v["sessions"] = json!(families
                .iter()
                .filter(|(_, f)| !f.revoked && now < f.expires_at)
                .count());
            let clients = dir.clients().map_err(lookup)?;
            v["apps_allowed"] = json!(clients
                .iter()
                .filter(|c| grants_sign_in(&c.grants) && c.admits(&u))
                .map(|c| c.id.clone())
                .collect::<Vec<_>>());
            v
        }
        AdminRequest::GroupList => {
            let users = dir.users().map_err(lookup)?;
            let clients = dir.clients().map_err(lookup)?;
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
            if dir.issuer(&name).map_err(lookup)?.is_some() {
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
            out.push(Change::PutIssuer(issuer.clone()));
            issuer_json(&issuer)
        }
        AdminRequest::IssuerList => {
            json!(dir
                .issuers()
                .map_err(lookup)?
                .iter()
                .map(issuer_json)
                .collect::<Vec<_>>())
        }
        AdminRequest::IssuerRemove { name } => {
            dir.issuer(&name)
                .map_err(lookup)?
                .ok_or_else(|| AdminError::NotFound(format!("no issuer {name:?}")))?;
            out.push(Change::RemoveIssuer(name.clone()));
            json!({ "removed": name })
        }
        AdminRequest::UserList => json!(dir
            .users()
            .map_err(lookup)?
            .iter()
            .map(user_json)
            .collect::<Vec<_>>()),
        AdminRequest::UserRevoke { name, client } => {
            user_named(dir, &name)?;
            let had = dir.consent(&name, &client).map_err(lookup)?.is_some();
            // Only this client's families: the others stay.
            let (changes, ended) =
                crate::protocol::account::apps::take_back(dir, &name, &client).map_err(lookup)?;
            out.extend(changes);
            json!({ "username": name, "client_id": client, "consent_removed": had, "sessions_ended": ended })
        }
        AdminRequest::UserResetFactors { name } => {
            let u = user_named(dir, &name)?;
            let next = crate::protocol::account::factors::reset(&u);
            out.push(replace(next.clone(), u.generation.clone()));
            json!({ "username": name, "factors_removed": !u.factors.is_empty(),
                    "browser_sessions_ended": true,
                    "require_second_factor": next.require_second_factor })
        }
        AdminRequest::UserRemove { name } => {
            let u = user_named(dir, &name)?;
            if u.admin {
                keep_an_operator(dir, &name)?;
            }
            // In one transaction with the removal. A grant made while this runs carries
            // the old generation, which no later user of the name will have.
            let ended = end_grants(dir, Owner::User(&name), now, &mut out)?;
            out.push(Change::RemoveUser(name.clone()));
            json!({ "removed": name, "sessions_ended": ended })
        }
        AdminRequest::UserPasswd {
            name,
            password,
            keep_sessions,
        } => {
            read_password(&password)?;
            let mut u = user_named(dir, &name)?;
            let expected = u.generation.clone();
            u.password_hash = secret::hash_password(&password, env.policy.password_cost)
                .map_err(|e| AdminError::Internal(e.to_string()))?;
            // A changed password is what an owner does after a phone is lost: unless told
            // otherwise, every session of the old password ends with it.
            let ended = if keep_sessions {
                0
            } else {
                u.generation = new_generation(env.rng);
                end_sessions(dir, Owner::User(&name), now, &mut out)?
            };
            out.push(replace(u, expected));
            json!({ "username": name, "sessions_ended": ended })
        }
        AdminRequest::KeyList => keys::listing(&dir.keys().map_err(lookup)?, now).map_err(key)?,
        AdminRequest::KeyRotate { now: at_once } => {
            let (changed, kid, from) = keys::rotation(
                &dir.keys().map_err(lookup)?,
                &dir.clients().map_err(lookup)?,
                env.policy,
                env.algorithm,
                at_once,
                now,
            )
            .map_err(key)?;
            out.push(Change::PutKeys(changed));
            json!({ "kid": kid, "alg": env.algorithm.as_str(), "signs_from": from,
                    "signs_in_seconds": from.saturating_sub(now) })
        }
        AdminRequest::Audit => {
            return Err(AdminError::NotFound(
                "the audit trail lives in the running server's memory: no server answers on \
                 this data directory's admin socket"
                    .into(),
            ))
        }
        AdminRequest::KeySecret => {
            let records = dir.keys().map_err(lookup)?;
            let ring = KeyRing::load(&records).map_err(key)?;
            let current = ring.current(now);
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
            let next = ring.next(now).filter(|k| k.alg.is_symmetric());
            if let Some(next) = next.and_then(|n| records.iter().find(|k| k.kid == n.kid)) {
                v["next"] = json!({ "kid": next.kid, "secret": next.private,
                                    "signs_from": next.active_from });
            }
            v
        }
    };
    let keys_changed = out.iter().any(|c| matches!(c, Change::PutKeys(_)));
    Ok(Decision {
        changes: out,
        answer,
        keys_changed,
    })
}
