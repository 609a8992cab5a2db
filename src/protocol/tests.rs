//! Introspection, revocation, metadata, `/health` and the HTTP-level refusals, without a
//! socket.

use crate::protocol::testing::{client, get, post, user, World};
use crate::protocol::*;
use crate::vocab::entropy::CountingEntropy;
use crate::vocab::record::GrantType;
use serde_json::json;

fn world() -> World {
    let mut w = World::new(Default::default());
    w.dir.clients.insert(
        "dev".into(),
        client(
            &[
                GrantType::ClientCredentials,
                GrantType::Password,
                GrantType::RefreshToken,
            ],
            "read",
        ),
    );
    let mut other = client(&[GrantType::ClientCredentials], "read");
    other.id = "other".into();
    other.secret_hash = crate::jose::secret::hash_client_secret(testing::PEPPER, "o");
    w.dir.clients.insert("other".into(), other);
    w.dir
        .users
        .insert("alice".into(), user("alice", "read", "g1"));
    w
}

fn as_other(mut r: Request) -> Request {
    // "other:o"
    r.headers[1].1 = "Basic b3RoZXI6bw==".into();
    r
}

/// Issues through the endpoint and applies the changes to the map directory.
fn token(w: &mut World, form: &str) -> serde_json::Value {
    let step = handle(&post("/token", form), &w.ctx(), &mut CountingEntropy(77));
    assert_eq!(step.reply.status, 200, "{:?}", step.reply.json_body());
    for c in step.changes {
        if let Change::InsertFamily { id, record } = c {
            w.dir.families.insert(id, record);
        }
    }
    step.reply.json_body()
}

#[test]
fn introspection_describes_live_tokens_and_refresh_tokens_only_to_their_client() {
    let mut w = world();
    let t = token(&mut w, "grant_type=password&username=alice&password=pw");
    let access = t["access_token"].as_str().unwrap();
    let refresh = t["refresh_token"].as_str().unwrap();
    let ask = |w: &World, req: Request| {
        let s = handle(&req, &w.ctx(), &mut CountingEntropy(0));
        assert!(s.changes.is_empty());
        s.reply.json_body()
    };
    let a = ask(&w, post("/introspect", &format!("token={access}")));
    assert_eq!(a["active"], true);
    assert_eq!(
        (a["sub"].clone(), a["username"].clone()),
        (json!("alice"), json!("alice"))
    );
    assert_eq!(a["exp"], 1300);
    // Another client sees an access token only when it is named in `aud` or is a resource
    // server; a refresh token is its holder's business alone.
    let by_other = || as_other(post("/introspect", &format!("token={access}")));
    assert_eq!(ask(&w, by_other()), json!({"active": false}));
    w.dir.clients.get_mut("dev").unwrap().audiences = vec!["other".into()];
    let t2 = token(&mut w, "grant_type=client_credentials");
    let aimed = t2["access_token"].as_str().unwrap();
    let r = ask(&w, as_other(post("/introspect", &format!("token={aimed}"))));
    assert_eq!(r["active"], true);
    w.dir.clients.get_mut("other").unwrap().resource_server = true;
    assert_eq!(ask(&w, by_other())["active"], true);
    let r = ask(&w, post("/introspect", &format!("token={refresh}")));
    assert_eq!(
        (r["active"].clone(), r["token_type"].clone()),
        (json!(true), json!("refresh_token"))
    );
    assert_eq!(
        ask(
            &w,
            as_other(post("/introspect", &format!("token={refresh}")))
        ),
        json!({"active": false})
    );
    // A disabled or removed client's tokens are inactive at once, even to a resource server.
    w.dir.clients.get_mut("dev").unwrap().disabled = true;
    assert_eq!(ask(&w, by_other()), json!({"active": false}));
    let dev = w.dir.clients.remove("dev").unwrap();
    assert_eq!(ask(&w, by_other()), json!({"active": false}));
    let mut dev = dev;
    dev.disabled = false;
    w.dir.clients.insert("dev".into(), dev);
    // Expired, revoked, garbage: inactive.
    w.now = 1400;
    assert_eq!(
        ask(&w, post("/introspect", &format!("token={access}")))["active"],
        false
    );
    w.now = 1000;
    let jti = crate::jose::token::verify(access, &w.keys, "http://pi", 1000, 0)
        .unwrap()
        .jti;
    w.dir.revoked_jti.insert(jti);
    assert_eq!(
        ask(&w, post("/introspect", &format!("token={access}")))["active"],
        false
    );
    assert_eq!(ask(&w, post("/introspect", "token=a.b.c"))["active"], false);
    let missing = handle(&post("/introspect", ""), &w.ctx(), &mut CountingEntropy(0));
    assert_eq!(missing.reply.json_body()["error"], "invalid_request");
}

#[test]
fn revocation_ends_only_the_callers_tokens_and_says_what_to_write() {
    let mut w = world();
    let t = token(&mut w, "grant_type=password&username=alice&password=pw");
    let access = t["access_token"].as_str().unwrap();
    let refresh = t["refresh_token"].as_str().unwrap();
    let revoke = |w: &World, req: Request| handle(&req, &w.ctx(), &mut CountingEntropy(0));
    let s = revoke(&w, post("/revoke", &format!("token={access}")));
    assert_eq!(s.reply.status, 200);
    let jti = crate::jose::token::verify(access, &w.keys, "http://pi", 1000, 0)
        .unwrap()
        .jti;
    // Kept until the token has expired beyond leeway.
    assert_eq!(
        s.changes,
        vec![Change::RevokeAccessToken { jti, until: 1330 }]
    );
    let s = revoke(&w, post("/revoke", &format!("token={refresh}")));
    let family = crate::jose::refresh::parse(refresh).family.unwrap();
    assert_eq!(s.changes, vec![Change::RevokeFamily(family)]);
    // Another client's token: refused, nothing written.
    for tok in [access, refresh] {
        let s = revoke(&w, as_other(post("/revoke", &format!("token={tok}"))));
        assert_eq!(s.reply.json_body()["error"], "unauthorized_client");
        assert!(s.changes.is_empty());
    }
    // Unknown: 200, nothing written (RFC 7009 §2.2).
    let s = revoke(&w, post("/revoke", "token=nothing-of-ours"));
    assert_eq!((s.reply.status, s.changes.len()), (200, 0));
}

#[test]
fn metadata_lists_scopes_only_when_the_operator_names_them() {
    let mut w = world();
    let m = handle(
        &get("/.well-known/oauth-authorization-server"),
        &w.ctx(),
        &mut CountingEntropy(0),
    );
    let doc = m.reply.json_body();
    assert!(doc.get("scopes_supported").is_none(), "{doc}");
    assert_eq!(doc["token_endpoint"], "http://pi/token");
    assert_eq!(
        doc["access_token_signing_alg_values_supported"],
        json!(["ES256"])
    );
    w.policy.scopes_supported = Some(vec!["read".into(), "lights".into()]);
    let m = handle(
        &get("/.well-known/oauth-authorization-server"),
        &w.ctx(),
        &mut CountingEntropy(0),
    );
    assert_eq!(
        m.reply.json_body()["scopes_supported"],
        json!(["read", "lights"])
    );
    w.policy.scopes_supported = Some(vec![]);
    let m = handle(
        &get("/.well-known/oauth-authorization-server"),
        &w.ctx(),
        &mut CountingEntropy(0),
    );
    assert!(m.reply.json_body().get("scopes_supported").is_none());
}

#[test]
fn bad_requests_are_refused_before_anything_is_decided() {
    let w = world();
    let rng = &mut CountingEntropy(0);
    let status = |req: Request, rng: &mut CountingEntropy| {
        let s = handle(&req, &w.ctx(), rng);
        assert!(s.changes.is_empty());
        (
            s.reply.status,
            s.reply.json_body()["error"].clone(),
            s.event,
        )
    };
    assert_eq!(status(get("/nope"), rng).0, 404);
    let (code, _, _) = status(get("/token"), rng);
    assert_eq!(code, 405);
    let mut big = post("/token", "grant_type=client_credentials");
    big.body_too_large = true;
    assert_eq!(status(big, rng).0, 413);
    let mut json_ct = post("/token", "grant_type=client_credentials");
    json_ct.headers[0].1 = "text/plain".into();
    assert_eq!(status(json_ct, rng).1, "invalid_request");
    let mut twice = post("/token", "grant_type=client_credentials");
    twice
        .headers
        .push(("authorization".into(), "Basic ZGV2OnM=".into()));
    assert_eq!(status(twice, rng).1, "invalid_request");
    // A wrong secret: 401 with a challenge, and an event naming the client, not the secret.
    let mut wrong = post("/token", "grant_type=client_credentials");
    wrong.headers[1].1 = "Basic ZGV2Ond3".into(); // dev:ww
    let s = handle(&wrong, &w.ctx(), rng);
    assert_eq!(s.reply.status, 401);
    assert_eq!(
        s.reply.header("WWW-Authenticate"),
        Some("Basic realm=\"piauth\"")
    );
    assert_eq!(
        s.event,
        Some(Event::ClientAuthFailed {
            client_id: "dev".into(),
            why: client_auth::credentials::AuthFailure::WrongSecret
        })
    );
}

#[test]
fn health_tells_the_lan_only_whether_it_is_healthy_and_the_pi_itself_the_details() {
    let w = world();
    let mut local = get("/health");
    local.peer = Some("127.0.0.1".parse().unwrap());
    let h = handle(&local, &w.ctx(), &mut CountingEntropy(0)).reply;
    assert_eq!(h.status, 200);
    let v = h.json_body();
    assert_eq!(v["store"]["clients"], 2);
    assert_eq!(v["uptime_seconds"], 7);
    assert_eq!(v["board"]["is_raspberry_pi"], false);
    let mut lan = get("/health");
    lan.peer = Some("192.168.1.20".parse().unwrap());
    let h = handle(&lan, &w.ctx(), &mut CountingEntropy(0)).reply;
    assert_eq!((h.status, h.json_body()), (200, json!({"status": "ok"})));
    lan.peer = Some("127.0.0.3".parse().unwrap());
    let h = handle(&lan, &w.ctx(), &mut CountingEntropy(0)).reply;
    assert_eq!((h.status, h.json_body()), (200, json!({"status": "ok"})));
}
