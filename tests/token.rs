//! Grants, tokens, introspection, revocation, metadata: the happy paths and their rules.

use crate::util::{jwt_parts, verify_with_jwks, Server};
use serde_json::json;

#[test]
fn client_credentials_by_basic_gives_an_rfc9068_jwt_and_no_refresh_token() {
    let s = Server::start();
    let secret = s.add_client("sensor", &["client_credentials"], &["read", "write"]);
    let r = s.post_basic(
        "/token",
        "sensor",
        &secret,
        "grant_type=client_credentials&scope=read",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    let t = r.json();
    assert_eq!(t["token_type"], "Bearer");
    assert_eq!(t["expires_in"], 900);
    assert_eq!(t["scope"], "read");
    assert!(t.get("refresh_token").is_none(), "RFC 6749 §4.4.3: {t}");
    let access = t["access_token"].as_str().unwrap();
    let (header, claims) = jwt_parts(access);
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "ES256");
    assert!(header["kid"].is_string());
    assert_eq!(claims["iss"], s.issuer());
    assert_eq!(claims["sub"], "sensor");
    assert_eq!(claims["client_id"], "sensor");
    assert_eq!(claims["scope"], "read");
    assert_eq!(claims["aud"], json!(["sensor", s.issuer()]));
    let iat = claims["iat"].as_u64().unwrap();
    assert_eq!(claims["nbf"].as_u64().unwrap(), iat);
    assert_eq!(claims["exp"].as_u64().unwrap(), iat + 900);
    assert!(claims["jti"].as_str().unwrap().len() >= 16);
    verify_with_jwks(&s, access).unwrap();
}

#[test]
fn client_secret_post_and_json_bodies_work_too() {
    let s = Server::start();
    let secret = s.add_client("box", &["client_credentials"], &["read"]);
    let form = s.post_form(
        "/token",
        &format!("grant_type=client_credentials&client_id=box&client_secret={secret}"),
    );
    assert_eq!(form.status, 200, "{}", String::from_utf8_lossy(&form.body));
    let body =
        json!({"grant_type": "client_credentials", "client_id": "box", "client_secret": secret});
    let j = s.post_json("/token", &body);
    assert_eq!(j.status, 200, "{}", String::from_utf8_lossy(&j.body));
    assert_eq!(j.json()["scope"], "read");
    // JSON with Basic credentials.
    let r = s.request(
        "POST",
        "/token",
        &[
            ("Authorization", &crate::util::basic("box", &secret)),
            ("Content-Type", "application/json; charset=utf-8"),
        ],
        br#"{"grant_type":"client_credentials"}"#,
    );
    assert_eq!(r.status, 200);
}

#[test]
fn every_token_has_a_unique_jti() {
    let s = Server::start();
    let secret = s.add_client("c", &["client_credentials"], &[]);
    let mut seen = std::collections::HashSet::new();
    for _ in 0..20 {
        let t = s.token("c", &secret, "grant_type=client_credentials");
        let (_, claims) = jwt_parts(t["access_token"].as_str().unwrap());
        assert!(seen.insert(claims["jti"].as_str().unwrap().to_string()));
    }
}

#[test]
fn configured_audiences_and_ttl_go_into_the_token() {
    let s = Server::start();
    let v = s.admin_json(&[
        "client",
        "add",
        "tv",
        "--audience",
        "media-api",
        "--access-ttl",
        "60",
        "--json",
    ]);
    let secret = v["client_secret"].as_str().unwrap();
    let t = s.token("tv", secret, "grant_type=client_credentials");
    assert_eq!(t["expires_in"], 60);
    let (_, claims) = jwt_parts(t["access_token"].as_str().unwrap());
    assert_eq!(claims["aud"], json!(["media-api", "tv", s.issuer()]));
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        60
    );
}

#[test]
fn password_grant_narrows_scope_to_client_and_user() {
    let s = Server::start();
    let secret = s.add_client("app", &["password", "refresh_token"], &["read", "write"]);
    s.add_user("alice", "correct horse", &["read", "admin"]);
    let t = s.token(
        "app",
        &secret,
        "grant_type=password&username=alice&password=correct+horse",
    );
    assert_eq!(t["scope"], "read");
    assert!(t["refresh_token"].as_str().unwrap().len() >= 43);
    let (_, claims) = jwt_parts(t["access_token"].as_str().unwrap());
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["client_id"], "app");
    let r = s.post_basic(
        "/token",
        "app",
        &secret,
        "grant_type=password&username=alice&password=correct+horse&scope=write",
    );
    assert_eq!((r.status, r.error().as_str()), (400, "invalid_scope"));
    let r = s.post_basic(
        "/token",
        "app",
        &secret,
        "grant_type=password&username=alice&password=wrong",
    );
    assert_eq!((r.status, r.error().as_str()), (400, "invalid_grant"));
    let r = s.post_basic(
        "/token",
        "app",
        &secret,
        "grant_type=password&username=nobody&password=x",
    );
    assert_eq!((r.status, r.error().as_str()), (400, "invalid_grant"));
}

#[test]
fn refresh_rotates_and_reuse_revokes_the_whole_family() {
    let s = Server::start();
    let secret = s.add_client("app", &["password", "refresh_token"], &["read"]);
    s.add_user("bob", "pw", &["read"]);
    let first = s.token(
        "app",
        &secret,
        "grant_type=password&username=bob&password=pw",
    );
    let r1 = first["refresh_token"].as_str().unwrap().to_string();
    let second = s.token(
        "app",
        &secret,
        &format!("grant_type=refresh_token&refresh_token={r1}"),
    );
    let mut r2 = second["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(r1, r2);
    assert_eq!(second["scope"], "read");
    let (_, claims) = jwt_parts(second["access_token"].as_str().unwrap());
    assert_eq!(claims["sub"], "bob");
    // The family rotates on; each exchange replaces the newest token.
    for _ in 0..5 {
        let next = s.token(
            "app",
            &secret,
            &format!("grant_type=refresh_token&refresh_token={r2}"),
        );
        r2 = next["refresh_token"].as_str().unwrap().to_string();
    }
    assert_eq!(s.get("/health").json()["store"]["refresh_families"], 1);
    // Presenting r1 again, six rotations later, is theft: refused, and r2 dies with it.
    let replay = s.post_basic(
        "/token",
        "app",
        &secret,
        &format!("grant_type=refresh_token&refresh_token={r1}"),
    );
    assert_eq!(
        (replay.status, replay.error().as_str()),
        (400, "invalid_grant")
    );
    let after = s.post_basic(
        "/token",
        "app",
        &secret,
        &format!("grant_type=refresh_token&refresh_token={r2}"),
    );
    assert_eq!(
        (after.status, after.error().as_str()),
        (400, "invalid_grant")
    );
    // The access token minted before is unaffected (it is short-lived by design).
    assert_eq!(
        s.introspect("app", &secret, second["access_token"].as_str().unwrap())["active"],
        true
    );
}

#[test]
fn refresh_token_only_works_for_its_own_client_and_may_narrow_scope() {
    let s = Server::start();
    let a = s.add_client("a", &["password", "refresh_token"], &["read", "write"]);
    let b = s.add_client("b", &["password", "refresh_token"], &["read", "write"]);
    s.add_user("u", "pw", &["read", "write"]);
    let t = s.token("a", &a, "grant_type=password&username=u&password=pw");
    let r = t["refresh_token"].as_str().unwrap();
    let stolen = s.post_basic(
        "/token",
        "b",
        &b,
        &format!("grant_type=refresh_token&refresh_token={r}"),
    );
    assert_eq!(
        (stolen.status, stolen.error().as_str()),
        (400, "invalid_grant")
    );
    // Not consumed by the other client's attempt: the owner can still use it, narrowed.
    let narrowed = s.token(
        "a",
        &a,
        &format!("grant_type=refresh_token&refresh_token={r}&scope=read"),
    );
    assert_eq!(narrowed["scope"], "read");
    // The new refresh token keeps the original grant, so it can widen back to it...
    let r2 = narrowed["refresh_token"].as_str().unwrap();
    let back = s.token(
        "a",
        &a,
        &format!("grant_type=refresh_token&refresh_token={r2}"),
    );
    assert_eq!(back["scope"], "read write");
    // ...but never beyond it.
    let r3 = back["refresh_token"].as_str().unwrap();
    let wider = s.post_basic(
        "/token",
        "a",
        &a,
        &format!("grant_type=refresh_token&refresh_token={r3}&scope=admin"),
    );
    assert_eq!(wider.error(), "invalid_scope");
}

#[test]
fn introspection_answers_active_only_for_live_tokens_of_this_server() {
    let s = Server::start();
    let secret = s.add_client("rs", &["client_credentials"], &["read"]);
    let t = s.token("rs", &secret, "grant_type=client_credentials");
    let access = t["access_token"].as_str().unwrap();
    let v = s.introspect("rs", &secret, access);
    assert_eq!(v["active"], true);
    // The second time it comes from the verified-token cache, with the same answer.
    assert_eq!(s.introspect("rs", &secret, access), v);
    assert_eq!(v["client_id"], "rs");
    assert_eq!(v["scope"], "read");
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["iss"], s.issuer());
    for junk in ["garbage", "a.b.c", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."] {
        assert_eq!(
            s.introspect("rs", &secret, junk),
            json!({"active": false}),
            "{junk:?}"
        );
    }
    // alg=none with the server's own kid and valid claims: still inactive.
    let (header, claims) = jwt_parts(access);
    use base64::Engine;
    let b64 = |v: &serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "at+jwt", "kid": header["kid"]})),
        b64(&claims)
    );
    assert_eq!(s.introspect("rs", &secret, &none), json!({"active": false}));
    // A token from another piauth is not ours.
    let other = Server::start();
    let os = other.add_client("rs", &["client_credentials"], &["read"]);
    let foreign = other.token("rs", &os, "grant_type=client_credentials");
    assert_eq!(
        s.introspect("rs", &secret, foreign["access_token"].as_str().unwrap()),
        json!({"active": false})
    );
    // RFC 7662 §2.1: the token parameter is required.
    let r = s.post_basic("/introspect", "rs", &secret, "token=");
    assert_eq!((r.status, r.error().as_str()), (400, "invalid_request"));
    // Introspection needs client authentication.
    let r = s.post_form("/introspect", &format!("token={access}"));
    assert_eq!((r.status, r.error().as_str()), (401, "invalid_client"));
}

#[test]
fn revocation_of_access_and_refresh_tokens() {
    let s = Server::start();
    let secret = s.add_client("app", &["password", "refresh_token"], &["read"]);
    s.add_user("u", "pw", &["read"]);
    let t = s.token("app", &secret, "grant_type=password&username=u&password=pw");
    let access = t["access_token"].as_str().unwrap();
    let first = t["refresh_token"].as_str().unwrap();
    // A replaced token is dead already: revoking it answers 200 and leaves its family alone.
    let t2 = s.token(
        "app",
        &secret,
        &format!("grant_type=refresh_token&refresh_token={first}"),
    );
    let refresh = t2["refresh_token"].as_str().unwrap();
    assert_eq!(s.introspect("app", &secret, first)["active"], false);
    let r = s.post_basic("/revoke", "app", &secret, &format!("token={first}"));
    assert_eq!(r.status, 200);
    assert_eq!(s.introspect("app", &secret, refresh)["active"], true);
    // Introspected once, so the server has it as verified: revocation must still win.
    assert_eq!(s.introspect("app", &secret, access)["active"], true);

    let r = s.post_basic(
        "/revoke",
        "app",
        &secret,
        &format!("token={access}&token_type_hint=access_token"),
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        s.introspect("app", &secret, access),
        json!({"active": false})
    );

    let r = s.post_basic("/revoke", "app", &secret, &format!("token={refresh}"));
    assert_eq!(r.status, 200);
    assert_eq!(
        s.introspect("app", &secret, refresh),
        json!({"active": false})
    );
    let again = s.post_basic(
        "/token",
        "app",
        &secret,
        &format!("grant_type=refresh_token&refresh_token={refresh}"),
    );
    assert_eq!(again.error(), "invalid_grant");

    // Unknown tokens: 200 (RFC 7009 §2.2).
    assert_eq!(
        s.post_basic("/revoke", "app", &secret, "token=never-issued")
            .status,
        200
    );
    // Missing token: invalid_request; no auth: invalid_client.
    assert_eq!(
        s.post_basic("/revoke", "app", &secret, "").error(),
        "invalid_request"
    );
    assert_eq!(s.post_form("/revoke", "token=x").status, 401);
}

#[test]
fn a_client_cannot_revoke_another_clients_token() {
    let s = Server::start();
    let a = s.add_client("a", &["client_credentials"], &[]);
    let b = s.add_client("b", &["client_credentials"], &[]);
    let t = s.token("a", &a, "grant_type=client_credentials");
    let access = t["access_token"].as_str().unwrap();
    let r = s.post_basic("/revoke", "b", &b, &format!("token={access}"));
    assert_eq!((r.status, r.error().as_str()), (400, "unauthorized_client"));
    assert_eq!(s.introspect("a", &a, access)["active"], true);
}

#[test]
fn metadata_jwks_and_health_describe_the_server() {
    let s = Server::start();
    s.add_client("c", &["client_credentials"], &["read", "lights"]);
    let m = s.get("/.well-known/oauth-authorization-server");
    assert_eq!(m.status, 200);
    let m = m.json();
    let iss = s.issuer();
    assert_eq!(m["issuer"], iss);
    assert_eq!(m["token_endpoint"], format!("{iss}/token"));
    assert_eq!(m["introspection_endpoint"], format!("{iss}/introspect"));
    assert_eq!(m["revocation_endpoint"], format!("{iss}/revoke"));
    assert_eq!(m["jwks_uri"], format!("{iss}/jwks.json"));
    assert_eq!(
        m["grant_types_supported"],
        json!([
            "authorization_code",
            "urn:ietf:params:oauth:grant-type:device_code",
            "client_credentials",
            "password",
            "refresh_token",
            "urn:ietf:params:oauth:grant-type:jwt-bearer"
        ])
    );
    assert_eq!(
        m["token_endpoint_auth_methods_supported"],
        json!([
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt",
            "none"
        ])
    );
    assert_eq!(m["authorization_endpoint"], format!("{iss}/authorize"));
    assert_eq!(m["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(
        m["device_authorization_endpoint"],
        format!("{iss}/device_authorization")
    );
    assert_eq!(m["authorization_response_iss_parameter_supported"], true);
    assert_eq!(
        m["token_endpoint_auth_signing_alg_values_supported"],
        json!(["ES256", "EdDSA", "RS256", "PS256"])
    );
    // No scope list unless the operator names one: an empty list would say "none", and the
    // union of the clients' scopes would tell the LAN what each device may do.
    assert!(m.get("scopes_supported").is_none(), "{m}");
    assert_eq!(
        m["access_token_signing_alg_values_supported"],
        json!(["ES256"])
    );

    let jwks = s.get("/jwks.json").json();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["kty"], "EC");
    assert_eq!(keys[0]["use"], "sig");
    assert!(keys[0].get("d").is_none());

    let h = s.get("/health").json();
    assert_eq!(h["status"], "ok");
    assert_eq!(h["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(h["store"]["status"], "ok");
    assert_eq!(h["store"]["clients"], 1);
    assert_eq!(h["key"]["kid"], keys[0]["kid"]);
    assert!(h["uptime_seconds"].is_u64());
}

#[test]
fn each_signing_algorithm_issues_tokens_verifiable_through_the_jwks() {
    for (alg, kty) in [
        ("ES256", "EC"),
        ("EdDSA", "OKP"),
        ("RS256", "RSA"),
        ("PS256", "RSA"),
    ] {
        let s = Server::start_with(&["--algorithm", alg]);
        let secret = s.add_client("c", &["client_credentials"], &[]);
        let t = s.token("c", &secret, "grant_type=client_credentials");
        let access = t["access_token"].as_str().unwrap();
        assert_eq!(jwt_parts(access).0["alg"], alg);
        assert_eq!(s.get("/jwks.json").json()["keys"][0]["kty"], kty);
        verify_with_jwks(&s, access).unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(s.introspect("c", &secret, access)["active"], true);
    }
}

#[test]
fn hs256_publishes_no_secret_and_verifies_with_the_exported_secret() {
    let s = Server::start_with(&["--algorithm", "HS256"]);
    let secret = s.add_client("c", &["client_credentials"], &[]);
    let t = s.token("c", &secret, "grant_type=client_credentials");
    let access = t["access_token"].as_str().unwrap();
    assert_eq!(s.get("/jwks.json").json(), json!({"keys": []}));
    let out = s.cmd(&["key", "secret"]);
    assert!(out.status.success());
    let shared = String::from_utf8(out.stdout).unwrap();
    let key = jsonwebtoken::DecodingKey::from_base64_secret(&{
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(shared.trim())
                .unwrap(),
        )
    })
    .unwrap();
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    v.validate_aud = false;
    jsonwebtoken::decode::<serde_json::Value>(access, &key, &v).unwrap();
    assert_eq!(s.introspect("c", &secret, access)["active"], true);
}

#[test]
fn metadata_lists_the_scopes_the_operator_names() {
    let s = Server::start_configured("scopes_supported = [\"read\", \"lights\"]", &[]);
    s.add_client("c", &["client_credentials"], &["read", "door-unlock"]);
    let m = s.get("/.well-known/oauth-authorization-server").json();
    assert_eq!(m["scopes_supported"], json!(["read", "lights"]));
}

#[test]
fn the_refresh_family_cap_drops_the_least_recently_used_family_never_the_new_one() {
    let s = Server::start_configured("max_refresh_families = 2", &[]);
    s.add_user("u", "pw", &["read"]);
    // Lifetimes chosen so that expiry order differs from use order: evicting by earliest
    // expiry would drop the family just created.
    let mut secrets = std::collections::HashMap::new();
    for (id, ttl) in [("long", "100000"), ("mid", "10000"), ("brief", "1000")] {
        let v = s.admin_json(&[
            "client",
            "add",
            id,
            "--grant",
            "password",
            "--grant",
            "refresh_token",
            "--scope",
            "read",
            "--refresh-ttl",
            ttl,
            "--json",
        ]);
        secrets.insert(id, v["client_secret"].as_str().unwrap().to_string());
    }
    let login = |c: &str| s.token(c, &secrets[c], "grant_type=password&username=u&password=pw");
    let refresh = |c: &str, t: &serde_json::Value| {
        s.post_basic(
            "/token",
            c,
            &secrets[c],
            &format!(
                "grant_type=refresh_token&refresh_token={}",
                t["refresh_token"].as_str().unwrap()
            ),
        )
    };
    let a = login("long");
    let b = login("mid");
    // A rotation is a use: `mid` is now the least recently used.
    let a2 = refresh("long", &a);
    assert_eq!(a2.status, 200);
    let a2 = a2.json();
    let c = login("brief");
    assert_eq!(
        refresh("mid", &b).error(),
        "invalid_grant",
        "the LRU family went"
    );
    let c2 = refresh("brief", &c);
    assert_eq!(c2.status, 200, "the new family must survive the cap");
    assert_eq!(refresh("long", &a2).status, 200);
    // /health reports the families kept, from the store's running count.
    assert_eq!(s.get("/health").json()["store"]["refresh_families"], 2);
    // Two more logins evict two more families; the journal hears of the cap once, not
    // once per login.
    login("long");
    login("long");
    assert_eq!(s.get("/health").json()["store"]["refresh_families"], 2);
    assert_eq!(
        s.logs().matches("family cap (2) reached").count(),
        1,
        "{}",
        s.logs()
    );
}

#[test]
fn a_device_that_lost_the_answer_gets_the_same_refresh_token_again() {
    for grace in ["5", "0"] {
        let s = Server::start_configured(&format!("refresh_grace = {grace}"), &[]);
        let secret = s.add_client("app", &["password", "refresh_token"], &["read"]);
        s.add_user("u", "pw", &["read"]);
        let login = s.token("app", &secret, "grant_type=password&username=u&password=pw");
        let refresh = |t: &str| {
            s.post_basic(
                "/token",
                "app",
                &secret,
                &format!("grant_type=refresh_token&refresh_token={t}"),
            )
        };
        let r0 = login["refresh_token"].as_str().unwrap().to_string();
        let first = refresh(&r0).json();
        let r1 = first["refresh_token"].as_str().unwrap().to_string();
        // The answer was lost: the device asks again at once with the same token.
        let again = refresh(&r0);
        if grace == "0" {
            // No grace: that is reuse, and the family is gone.
            assert_eq!(again.error(), "invalid_grant");
            assert_eq!(refresh(&r1).error(), "invalid_grant");
            continue;
        }
        assert_eq!(
            again.status,
            200,
            "{}",
            String::from_utf8_lossy(&again.body)
        );
        assert_eq!(again.json()["refresh_token"], r1.as_str());
        assert_ne!(again.json()["access_token"], first["access_token"]);
        // The family goes on from r1, and r0 after r1 was used is reuse.
        let r2 = refresh(&r1).json()["refresh_token"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(refresh(&r0).error(), "invalid_grant");
        assert_eq!(
            refresh(&r2).error(),
            "invalid_grant",
            "the family was revoked"
        );
    }
}

#[test]
fn introspection_shows_a_token_to_its_client_its_audience_and_resource_servers_until_access_ends() {
    let s = Server::start();
    let dev = s.admin_json(&[
        "client",
        "add",
        "dev",
        "--scope",
        "read",
        "--audience",
        "api",
        "--json",
    ])["client_secret"]
        .as_str()
        .unwrap()
        .to_string();
    let api = s.add_client("api", &["client_credentials"], &[]);
    let stranger = s.add_client("stranger", &["client_credentials"], &[]);
    let gateway = s.admin_json(&["client", "add", "gateway", "--resource-server", "--json"])
        ["client_secret"]
        .as_str()
        .unwrap()
        .to_string();
    let t = s.token("dev", &dev, "grant_type=client_credentials");
    let access = t["access_token"].as_str().unwrap();
    let seen = |id: &str, secret: &str| s.introspect(id, secret, access)["active"] == true;
    assert!(seen("dev", &dev) && seen("api", &api) && seen("gateway", &gateway));
    assert!(
        !seen("stranger", &stranger),
        "not issued to it, not meant for it"
    );
    assert!(s.cmd(&["client", "disable", "dev"]).status.success());
    assert!(
        !seen("api", &api) && !seen("gateway", &gateway),
        "disabled: inactive at once"
    );
    assert!(s.cmd(&["client", "enable", "dev"]).status.success());
    assert!(seen("api", &api));
    assert!(s.cmd(&["client", "remove", "dev"]).status.success());
    assert!(
        !seen("api", &api) && !seen("gateway", &gateway),
        "removed: inactive at once"
    );
}

#[test]
fn health_tells_another_host_only_whether_the_server_is_healthy() {
    let s = Server::start();
    let addr: std::net::SocketAddr = s.addr.parse().unwrap();
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let source: std::net::SocketAddr = "127.0.0.3:0".parse().unwrap();
    sock.bind(&source.into()).unwrap();
    sock.connect(&addr.into()).unwrap();
    let mut c: std::net::TcpStream = sock.into();
    use std::io::{Read, Write};
    c.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    c.read_to_string(&mut out).unwrap();
    assert!(out.ends_with("{\"status\":\"ok\"}"), "{out}");
    // From the Pi itself (127.0.0.1), the details.
    assert!(s.get("/health").json()["board"].is_object());
}
