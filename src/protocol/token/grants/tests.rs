//! The grant rules and what the token endpoint writes, without sockets or disk.

use super::*;
use crate::protocol::client_auth::authenticate::{self, AuthenticatedClient};
use crate::protocol::client_auth::credentials::ClientCredentials;
use crate::protocol::testing::{client, policy, post, user, MapDirectory, NoFetch, World, PEPPER};
use crate::protocol::token::errors::BAD_PASSWORD;
use crate::protocol::token::issue::{Issue, RefreshPlan};
use crate::protocol::{handle, resolve, Change, Conflict, Event};
use crate::vocab::entropy::CountingEntropy;
use crate::vocab::record::FamilyRecord;
use crate::vocab::request::{parse_body, BodyKind};

fn authed(c: ClientRecord) -> AuthenticatedClient {
    let creds = ClientCredentials::Post {
        id: "dev".into(),
        secret: "s".into(),
    };
    let rules = authenticate::AssertionRules {
        audiences: &[],
        now: 0,
        leeway: 0,
        published: &NoFetch,
    };
    authenticate::check(&creds, Some(c), PEPPER, &rules)
        .unwrap()
        .0
}

fn form(s: &str) -> Params {
    parse_body(BodyKind::Form, s.as_bytes()).unwrap()
}

fn issued(d: Result<Issue, Refusal>) -> Issue {
    match d {
        Ok(i) => i,
        Err(other) => panic!("expected Issue, got {other:?}"),
    }
}

fn refused(d: Result<Issue, Refusal>) -> ErrorCode {
    match d {
        Err(Refusal::Error(e)) => e.code,
        Err(Refusal::Password { .. }) => BAD_PASSWORD.code,
        other => panic!("expected a refusal, got {other:?}"),
    }
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
        &NoFetch,
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
        &NoFetch,
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
        ("grant_type=implicit", ErrorCode::UnsupportedGrantType),
        ("scope=read", ErrorCode::InvalidRequest),
    ];
    for (body, code) in cases {
        assert_eq!(
            refused(decide(&form(body), &c, &d, &p, 0, &NoFetch)),
            code,
            "{body}"
        );
    }
}

fn with_user(scope: &str) -> MapDirectory {
    let mut d = MapDirectory::default();
    d.users.insert("alice".into(), user("alice", scope, "g1"));
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
        &NoFetch,
    ));
    assert_eq!(i.scope.to_string(), "read");
    assert_eq!(i.subject, "alice");
    assert_eq!(i.user_generation.as_deref(), Some("g1"));
    assert_eq!(i.refresh, RefreshPlan::NewFamily);
    let body = "grant_type=password&username=alice&password=pw&scope=admin";
    assert_eq!(
        refused(decide(&form(body), &c, &d, &policy(), 0, &NoFetch)),
        ErrorCode::InvalidScope
    );
}

#[test]
fn password_grant_refuses_wrong_password_and_unknown_user_alike() {
    let c = authed(client(&[GrantType::Password], "read"));
    let d = with_user("read");
    for (body, known_user) in [
        ("grant_type=password&username=alice&password=nope", true),
        ("grant_type=password&username=bob&password=pw", false),
    ] {
        assert!(matches!(
            decide(&form(body), &c, &d, &policy(), 0, &NoFetch),
            Err(Refusal::Password { known_user: k }) if k == known_user
        ));
    }
}

/// A family of alice's (generation g1) whose newest token is the returned one; with
/// `used`, the returned token is an older one of the family (it has rotated since).
fn with_refresh(used: bool, revoked: bool, client_id: &str) -> (MapDirectory, String) {
    let mut d = with_user("read write");
    let rng = &mut CountingEntropy::default();
    let id = FamilyId::random(rng);
    let (token, digest) = refresh::mint(&id, rng);
    let (_, newer) = refresh::mint(&id, rng);
    d.families.insert(
        id,
        FamilyRecord {
            client_id: client_id.into(),
            username: Some("alice".into()),
            user_generation: Some("g1".into()),
            scope: Scope::parse("read write").unwrap(),
            current: if used { newer } else { digest }.encode(),
            previous: None,
            issued_at: 0,
            expires_at: 1000,
            rotations: 0,
            revoked,
            last_use: 0,
        },
    );
    (d, token)
}

fn refresh_body(t: &str) -> Params {
    form(&format!("grant_type=refresh_token&refresh_token={t}"))
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
        &NoFetch,
    ));
    assert_eq!(i.scope.to_string(), "read");
    assert_eq!(i.refresh_scope.to_string(), "read write");
    assert_eq!(i.subject, "alice");
    assert!(matches!(i.refresh, RefreshPlan::Rotate { .. }));
    let widen = format!("grant_type=refresh_token&refresh_token={t}&scope=admin");
    assert_eq!(
        refused(decide(&form(&widen), &c, &d, &policy(), 10, &NoFetch)),
        ErrorCode::InvalidScope
    );
}

#[test]
fn reused_refresh_token_revokes_its_family() {
    let c = authed(client(&[GrantType::RefreshToken], "read write"));
    let (d, t) = with_refresh(true, false, "dev");
    let id = refresh::parse(&t).family.unwrap();
    assert!(matches!(
        decide(&refresh_body(&t), &c, &d, &policy(), 10, &NoFetch),
        Err(Refusal::Reused(f)) if f == id
    ));
}

#[test]
fn a_grant_of_an_earlier_generation_of_the_user_is_dead() {
    let c = authed(client(&[GrantType::RefreshToken], "read write"));
    let (mut d, t) = with_refresh(false, false, "dev");
    // Removed and added again, or sessions ended: a new generation.
    d.users
        .insert("alice".into(), user("alice", "read write", "g2"));
    assert_eq!(
        refused(decide(&refresh_body(&t), &c, &d, &policy(), 10, &NoFetch)),
        ErrorCode::InvalidGrant
    );
    d.users.remove("alice");
    assert_eq!(
        refused(decide(&refresh_body(&t), &c, &d, &policy(), 10, &NoFetch)),
        ErrorCode::InvalidGrant
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
    let i = issued(decide(&refresh_body(old), &c, &d, &policy(), 10, &NoFetch));
    assert_eq!(
        i.refresh,
        RefreshPlan::Rotate {
            family: id,
            presented: old_digest,
            value: old.to_string(),
        }
    );
    // The current-form token of the family is now an older one: reuse.
    assert!(matches!(
        decide(&refresh_body(&t), &c, &d, &policy(), 10, &NoFetch),
        Err(Refusal::Reused(f)) if f == id
    ));
}

#[test]
fn refresh_refuses_revoked_expired_unknown_and_other_clients_tokens() {
    let c = authed(client(&[GrantType::RefreshToken], "read write"));
    let p = policy();
    let (d, t) = with_refresh(false, true, "dev");
    assert_eq!(
        refused(decide(&refresh_body(&t), &c, &d, &p, 10, &NoFetch)),
        ErrorCode::InvalidGrant
    );
    let (d, t) = with_refresh(false, false, "dev");
    assert_eq!(
        refused(decide(&refresh_body(&t), &c, &d, &p, 1000, &NoFetch)),
        ErrorCode::InvalidGrant
    );
    assert_eq!(
        refused(decide(&refresh_body("nope"), &c, &d, &p, 10, &NoFetch)),
        ErrorCode::InvalidGrant
    );
    // Well formed, but naming a family that does not exist (or no longer does).
    let rng = &mut CountingEntropy(1 << 40);
    let (stranger, _) = refresh::mint(&FamilyId::random(rng), rng);
    assert_eq!(
        refused(decide(&refresh_body(&stranger), &c, &d, &p, 10, &NoFetch)),
        ErrorCode::InvalidGrant
    );
    let (d, t) = with_refresh(false, false, "someone-else");
    assert_eq!(
        refused(decide(&refresh_body(&t), &c, &d, &p, 10, &NoFetch)),
        ErrorCode::InvalidGrant
    );
}

// Through the endpoint: what is answered, what is written, what is logged.

fn world(grants: &[GrantType], scope: &str) -> World {
    let mut d = with_user(scope);
    d.clients.insert("dev".into(), client(grants, scope));
    World::new(d)
}

#[test]
fn a_client_credentials_token_carries_the_claims_and_writes_nothing() {
    let w = world(&[GrantType::ClientCredentials], "read");
    let rng = &mut CountingEntropy::default();
    let step = handle(
        &post("/token", "grant_type=client_credentials"),
        &w.ctx(),
        rng,
    );
    assert_eq!(step.reply.status, 200);
    assert!(step.changes.is_empty());
    assert_eq!(step.reply.header("Cache-Control"), Some("no-store"));
    let body = step.reply.json_body();
    assert!(body.get("refresh_token").is_none());
    let claims = crate::jose::token::verify(
        body["access_token"].as_str().unwrap(),
        &w.keys,
        "http://pi",
        w.now,
        0,
    )
    .unwrap();
    assert_eq!((claims.iat, claims.nbf, claims.exp), (1000, 1000, 1300));
    assert_eq!(claims.sub, "dev");
    assert_eq!(claims.scope, "read");
    // 16 bytes from the source of randomness: 1 and 2 as little-endian u64s.
    assert_eq!(claims.jti, "AQAAAAAAAAACAAAAAAAAAA");
    assert_eq!(
        step.event,
        Some(Event::Issued {
            client_id: "dev".into(),
            grant: "client_credentials",
            user: None,
            evicted: 0
        })
    );
}

#[test]
fn a_login_inserts_a_family_and_evicts_the_least_recently_used_past_the_cap() {
    let mut w = world(&[GrantType::Password, GrantType::RefreshToken], "read");
    w.policy.max_refresh_families = 2;
    let rng = &mut CountingEntropy(500);
    let (mut old, mut recent) = (FamilyId::random(rng), FamilyId::random(rng));
    for (id, last_use) in [(&mut old, 3), (&mut recent, 9)] {
        let (_, digest) = refresh::mint(id, rng);
        let mut f = w
            .dir
            .families
            .values()
            .next()
            .cloned()
            .unwrap_or(FamilyRecord {
                client_id: "dev".into(),
                username: None,
                user_generation: None,
                scope: Scope::default(),
                current: String::new(),
                previous: None,
                issued_at: 0,
                expires_at: 5000,
                rotations: 0,
                revoked: false,
                last_use: 0,
            });
        f.current = digest.encode();
        f.last_use = last_use;
        w.dir.families.insert(*id, f);
    }
    let step = handle(
        &post("/token", "grant_type=password&username=alice&password=pw"),
        &w.ctx(),
        rng,
    );
    assert_eq!(step.reply.status, 200, "{:?}", step.reply.json_body());
    assert_eq!(step.changes.len(), 2, "{:?}", step.changes);
    assert_eq!(step.changes[0], Change::EvictFamily(old));
    let Change::InsertFamily { id, record } = &step.changes[1] else {
        panic!("{:?}", step.changes)
    };
    let token = step.reply.json_body()["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    let presented = refresh::parse(&token);
    assert_eq!(presented.family, Some(*id));
    assert!(presented.digest.matches(&record.current));
    assert_eq!(record.username.as_deref(), Some("alice"));
    assert_eq!(record.user_generation.as_deref(), Some("g1"));
    assert_eq!((record.issued_at, record.expires_at), (1000, 4600));
    assert!(matches!(step.event, Some(Event::Issued { evicted: 1, .. })));
}

#[test]
fn a_refresh_says_to_rotate_and_a_lost_race_becomes_reuse() {
    let (mut d, t) = with_refresh(false, false, "dev");
    d.clients.insert(
        "dev".into(),
        client(&[GrantType::RefreshToken], "read write"),
    );
    let mut w = World::new(d);
    w.now = 10;
    let rng = &mut CountingEntropy(900);
    let step = handle(
        &post(
            "/token",
            &format!("grant_type=refresh_token&refresh_token={t}"),
        ),
        &w.ctx(),
        rng,
    );
    assert_eq!(step.reply.status, 200);
    let id = refresh::parse(&t).family.unwrap();
    assert!(matches!(
        &step.changes[..],
        [Change::RotateFamily { id: f, presented, next }]
            if *f == id && *presented == refresh::parse(&t).digest && next.expires_at == 3610
    ));
    // The store found another token newest by the time it applied the rotation.
    let after = resolve(&Conflict::FamilyReplaced(id), "dev");
    assert_eq!(after.changes, vec![Change::RevokeFamily(id)]);
    assert_eq!(after.reply.json_body()["error"], "invalid_grant");
    let gone = resolve(&Conflict::FamilyGone(id), "dev");
    assert!(gone.changes.is_empty());
    assert_eq!(gone.reply.status, 400);
}

#[test]
fn a_replayed_refresh_token_revokes_its_family_through_the_endpoint() {
    let (mut d, t) = with_refresh(true, false, "dev");
    d.clients.insert(
        "dev".into(),
        client(&[GrantType::RefreshToken], "read write"),
    );
    let mut w = World::new(d);
    w.now = 10;
    let step = handle(
        &post(
            "/token",
            &format!("grant_type=refresh_token&refresh_token={t}"),
        ),
        &w.ctx(),
        &mut CountingEntropy::default(),
    );
    let id = refresh::parse(&t).family.unwrap();
    assert_eq!(step.changes, vec![Change::RevokeFamily(id)]);
    assert_eq!(step.reply.json_body()["error"], "invalid_grant");
    assert_eq!(
        step.event,
        Some(Event::RefreshReused {
            client_id: "dev".into()
        })
    );
}

/// A family of alice's rotated at `rotated_at` from `old` to its successor; the value of
/// `old` and of the successor.
fn rotated_family(rotated_at: u64) -> (World, String, String) {
    let rng = &mut CountingEntropy(3000);
    let id = FamilyId::random(rng);
    let (old, old_digest) = refresh::mint(&id, rng);
    let (new, new_digest) = refresh::successor(&id, &old, PEPPER);
    let mut d = with_user("read write");
    d.clients.insert(
        "dev".into(),
        client(&[GrantType::RefreshToken], "read write"),
    );
    let mut other = client(&[GrantType::RefreshToken], "read write");
    other.id = "other".into();
    other.secret_hash = crate::jose::secret::hash_client_secret(PEPPER, "o");
    d.clients.insert("other".into(), other);
    d.families.insert(
        id,
        FamilyRecord {
            client_id: "dev".into(),
            username: Some("alice".into()),
            user_generation: Some("g1".into()),
            scope: Scope::parse("read write").unwrap(),
            current: new_digest.encode(),
            previous: Some(old_digest.encode()),
            issued_at: rotated_at,
            expires_at: rotated_at + 3600,
            rotations: 1,
            revoked: false,
            last_use: 0,
        },
    );
    (World::new(d), old, new)
}

#[test]
fn a_retry_within_the_grace_period_gets_the_same_successor_and_writes_nothing() {
    let (mut w, old, new) = rotated_family(1000);
    w.now = 1004; // grace 5 s
    let body = format!("grant_type=refresh_token&refresh_token={old}");
    let step = handle(&post("/token", &body), &w.ctx(), &mut CountingEntropy(1));
    assert_eq!(step.reply.status, 200, "{:?}", step.reply.json_body());
    assert_eq!(step.reply.json_body()["refresh_token"], new.as_str());
    assert!(step.changes.is_empty(), "{:?}", step.changes);
    // The successor itself rotates as usual, and records what it replaced.
    let step = handle(
        &post(
            "/token",
            &format!("grant_type=refresh_token&refresh_token={new}"),
        ),
        &w.ctx(),
        &mut CountingEntropy(1),
    );
    let Change::RotateFamily {
        next, presented, ..
    } = &step.changes[0]
    else {
        panic!("{:?}", step.changes)
    };
    assert_eq!(next.previous, Some(presented.encode()));
    let newer = step.reply.json_body()["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    let id = refresh::parse(&new).family.unwrap();
    assert_eq!(newer, refresh::successor(&id, &new, PEPPER).0);
}

#[test]
fn after_the_grace_period_or_from_another_client_a_replaced_token_is_reuse() {
    let (mut w, old, _) = rotated_family(1000);
    let id = refresh::parse(&old).family.unwrap();
    let body = format!("grant_type=refresh_token&refresh_token={old}");
    w.now = 1005;
    let late = handle(&post("/token", &body), &w.ctx(), &mut CountingEntropy(1));
    assert_eq!(late.changes, vec![Change::RevokeFamily(id)]);
    w.now = 1001;
    let mut stranger = post("/token", &body);
    stranger.headers[1].1 = "Basic b3RoZXI6bw==".into(); // other:o
    let step = handle(&stranger, &w.ctx(), &mut CountingEntropy(1));
    assert_eq!(step.changes, vec![Change::RevokeFamily(id)]);
    w.policy.refresh_grace = 0;
    let step = handle(&post("/token", &body), &w.ctx(), &mut CountingEntropy(1));
    assert_eq!(step.changes, vec![Change::RevokeFamily(id)]);
}
