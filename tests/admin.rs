//! Admin commands, both against a running server (through its socket) and a stopped one.

use crate::util::{mode_of, Server};
use std::time::{Duration, Instant};

#[test]
fn client_add_prints_the_secret_once_and_list_show_never_do() {
    let s = Server::start();
    let v = s.admin_json(&[
        "client",
        "add",
        "cam",
        "--scope",
        "read",
        "--grant",
        "client_credentials",
        "--json",
    ]);
    assert_eq!(v["client_id"], "cam");
    let secret = v["client_secret"].as_str().unwrap();
    assert_eq!(secret.len(), 43, "256 bits, base64url");
    let list = s.cmd(&["client", "list", "--json"]);
    let show = s.cmd(&["client", "show", "cam", "--json"]);
    for out in [&list, &show] {
        assert!(out.status.success());
        assert!(!String::from_utf8_lossy(&out.stdout).contains(secret));
    }
    let shown: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    assert_eq!(shown["scope"], "read");
    // Human output names the secret too.
    let human = s.cmd(&["client", "add", "cam2"]);
    assert!(String::from_utf8_lossy(&human.stdout).contains("client_secret:"));
}

#[test]
fn admin_changes_take_effect_on_the_next_request_while_running() {
    let s = Server::start();
    let secret = s.add_client("dev", &["client_credentials"], &["read"]);
    let ok = |secret: &str| {
        s.post_basic("/token", "dev", secret, "grant_type=client_credentials")
            .status
    };
    assert_eq!(ok(&secret), 200);

    assert!(s.cmd(&["client", "disable", "dev"]).status.success());
    assert_eq!(ok(&secret), 401);
    assert!(s.cmd(&["client", "enable", "dev"]).status.success());
    assert_eq!(ok(&secret), 200);

    let rotated = s.admin_json(&["client", "rotate-secret", "dev", "--json"]);
    let new_secret = rotated["client_secret"].as_str().unwrap();
    assert_eq!(ok(&secret), 401);
    assert_eq!(ok(new_secret), 200);

    assert!(s.cmd(&["client", "remove", "dev"]).status.success());
    assert_eq!(ok(new_secret), 401);
    let again = s.cmd(&["client", "remove", "dev"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("no client"));
}

#[test]
fn removing_a_client_kills_its_refresh_tokens_and_user_changes_apply() {
    let s = Server::start();
    let secret = s.add_client("app", &["password", "refresh_token"], &["read"]);
    s.add_user("dave", "old-pw", &["read"]);
    let t = s.token(
        "app",
        &secret,
        "grant_type=password&username=dave&password=old-pw",
    );
    let out = s.cmd_stdin(&["user", "passwd", "dave", "--password-stdin"], "new-pw\n");
    assert!(out.status.success());
    let old = s.post_basic(
        "/token",
        "app",
        &secret,
        "grant_type=password&username=dave&password=old-pw",
    );
    assert_eq!(old.error(), "invalid_grant");
    s.token(
        "app",
        &secret,
        "grant_type=password&username=dave&password=new-pw",
    );
    // Removing the user ends their refresh tokens.
    assert!(s.cmd(&["user", "remove", "dave"]).status.success());
    let r = t["refresh_token"].as_str().unwrap();
    let gone = s.post_basic(
        "/token",
        "app",
        &secret,
        &format!("grant_type=refresh_token&refresh_token={r}"),
    );
    assert_eq!(gone.error(), "invalid_grant");
    let users = s.admin_json(&["user", "list", "--json"]);
    assert_eq!(users, serde_json::json!([]));
}

/// Logs `name` in through `app`; returns the refresh token.
fn login(s: &Server, secret: &str, name: &str, pw: &str) -> String {
    let t = s.token(
        "app",
        secret,
        &format!("grant_type=password&username={name}&password={pw}"),
    );
    t["refresh_token"].as_str().unwrap().to_string()
}

fn refresh_status(s: &Server, secret: &str, token: &str) -> u16 {
    s.post_basic(
        "/token",
        "app",
        secret,
        &format!("grant_type=refresh_token&refresh_token={token}"),
    )
    .status
}

fn stdout(o: &std::process::Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn removing_a_user_ends_their_sessions_and_a_returning_name_inherits_nothing() {
    let s = Server::start();
    let secret = s.add_client("app", &["password", "refresh_token"], &["read"]);
    s.add_user("alice", "first-pw", &["read"]);
    s.add_user("bob", "bob-pw", &["read"]);
    let phone = login(&s, &secret, "alice", "first-pw");
    let laptop = login(&s, &secret, "alice", "first-pw");
    let bobs = login(&s, &secret, "bob", "bob-pw");
    let out = stdout(&s.cmd(&["user", "remove", "alice"]));
    assert!(out.contains("sessions_ended: 2"), "{out}");
    s.add_user("alice", "second-pw", &["read"]);
    assert_eq!(refresh_status(&s, &secret, &phone), 400);
    assert_eq!(refresh_status(&s, &secret, &laptop), 400);
    assert_eq!(
        refresh_status(&s, &secret, &bobs),
        200,
        "other users keep theirs"
    );
    // The same holds when the server is stopped and the store is changed offline.
    let mut s = s;
    let tablet = login(&s, &secret, "alice", "second-pw");
    s.stop();
    let out = stdout(&s.cmd(&["user", "remove", "alice"]));
    assert!(out.contains("sessions_ended: 1"), "{out}");
    s.add_user("alice", "third-pw", &["read"]);
    s.restart();
    assert_eq!(refresh_status(&s, &secret, &tablet), 400);
}

#[test]
fn a_password_change_ends_the_users_sessions_unless_asked_to_keep_them() {
    let s = Server::start();
    let secret = s.add_client("app", &["password", "refresh_token"], &["read"]);
    s.add_user("alice", "pw-1", &["read"]);
    s.add_user("bob", "bob-pw", &["read"]);
    let lost_phone = login(&s, &secret, "alice", "pw-1");
    let bobs = login(&s, &secret, "bob", "bob-pw");
    let out = stdout(&s.cmd_stdin(&["user", "passwd", "alice", "--password-stdin"], "pw-2\n"));
    assert!(out.contains("sessions_ended: 1"), "{out}");
    assert_eq!(refresh_status(&s, &secret, &lost_phone), 400);
    assert_eq!(refresh_status(&s, &secret, &bobs), 200);
    // A routine change keeps the sessions.
    let kept = login(&s, &secret, "alice", "pw-2");
    let out = stdout(&s.cmd_stdin(
        &[
            "user",
            "passwd",
            "alice",
            "--password-stdin",
            "--keep-sessions",
        ],
        "pw-3\n",
    ));
    assert!(out.contains("sessions_ended: 0"), "{out}");
    assert_eq!(refresh_status(&s, &secret, &kept), 200);
    let old_pw = s.post_basic(
        "/token",
        "app",
        &secret,
        "grant_type=password&username=alice&password=pw-2",
    );
    assert_eq!(old_pw.error(), "invalid_grant");
}

#[test]
fn admin_rejects_bad_input_with_clear_errors_and_changes_nothing() {
    let s = Server::start();
    s.add_client("dev", &[], &[]);
    let cases: [(&[&str], &str); 6] = [
        (&["client", "add", "dev"], "already exists"),
        (&["client", "add", "bad id"], "not valid"),
        (
            &["client", "add", "x", "--grant", "implicit"],
            "unknown grant",
        ),
        (&["client", "add", "y", "--scope", "a\"b"], "scope"),
        (&["client", "add", "z", "--access-ttl", "0"], "access-ttl"),
        (&["client", "show", "ghost"], "no client"),
    ];
    for (args, msg) in cases {
        let out = s.cmd(args);
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(msg), "{args:?}: {err}");
    }
    let empty = s.cmd_stdin(&["user", "add", "eve", "--password-stdin"], "");
    assert!(!empty.status.success());
    assert!(String::from_utf8_lossy(&empty.stderr).contains("empty"));
    let list = s.admin_json(&["client", "list", "--json"]);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(
        s.admin_json(&["user", "list", "--json"]),
        serde_json::json!([])
    );
}

#[test]
fn admin_works_while_the_server_is_stopped() {
    let mut s = Server::start();
    s.stop();
    let secret = s.add_client("offline", &["client_credentials"], &["read"]);
    s.add_user("frank", "pw", &["read"]);
    let keys = s.admin_json(&["key", "list", "--json"]);
    let access = keys.as_array().unwrap().iter();
    assert_eq!(access.filter(|k| k["signs"] == "access_tokens").count(), 1);
    s.restart();
    let t = s.token("offline", &secret, "grant_type=client_credentials");
    assert_eq!(t["scope"], "read");
}

#[test]
fn data_dir_and_admin_socket_are_private() {
    let mut s = Server::start();
    assert_eq!(mode_of(&s.data_dir()), 0o700);
    assert_eq!(mode_of(&s.data_dir().join("admin.sock")), 0o600);
    s.add_client("c", &["client_credentials"], &[]);
    // Every store file, whatever umask the server was started with (sled makes its files
    // 0644 under the usual 022), and one left readable by hand, is put right at start.
    s.stop();
    let conf = s.data_dir().join("db/conf");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o644)).unwrap();
    s.restart();
    let mut seen = 0;
    let mut dirs = vec![s.data_dir()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                assert_eq!(mode_of(&p), 0o700, "{}", p.display());
                dirs.push(p);
            } else {
                assert_eq!(mode_of(&p), 0o600, "{}", p.display());
                seen += 1;
            }
        }
    }
    assert!(seen >= 4, "{seen} files");
    assert!(s.logs().contains("made private"), "{}", s.logs());
}

#[test]
fn a_scheduled_rotation_is_never_noticed_by_a_verifier_that_caches_the_jwks() {
    // Verifiers may cache the JWKS for 1 s here (300 by default).
    let s = Server::start_configured("jwks_max_age = 1\n", &[]);
    let secret = s.add_client("c", &["client_credentials"], &[]);
    let token = || {
        let t = s.token("c", &secret, "grant_type=client_credentials");
        let t = t["access_token"].as_str().unwrap().to_string();
        let kid = crate::util::jwt_parts(&t).0["kid"]
            .as_str()
            .unwrap()
            .to_string();
        (t, kid)
    };
    // A verifier that keeps the JWKS for as long as its Cache-Control allows.
    let fetch = || {
        let r = s.get("/jwks.json");
        assert_eq!(r.header("cache-control"), Some("public, max-age=1"));
        let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_slice(&r.body).unwrap();
        (jwks, Instant::now())
    };
    let (old_token, old_kid) = token();
    let mut cached = fetch();
    let rotated = s.admin_json(&["key", "rotate", "--json"]);
    let new_kid = rotated["kid"].as_str().unwrap().to_string();
    assert_ne!(new_kid, old_kid);
    assert_eq!(rotated["signs_in_seconds"], 3, "{rotated}");
    let listed = s.admin_json(&["key", "list", "--json"]);
    assert_eq!(listed[0]["state"], "next");
    assert_eq!(listed[1]["state"], "current");

    // Tokens until one is signed by the new key, each checked with the cached JWKS: none
    // names a key the verifier does not hold.
    let started = Instant::now();
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the new key never signed"
        );
        if cached.1.elapsed() >= Duration::from_secs(1) {
            cached = fetch();
        }
        let (t, kid) = token();
        crate::util::verify_with(&s, &cached.0, &t)
            .unwrap_or_else(|e| panic!("a verifier with a cached JWKS failed: {e}"));
        if kid == new_kid {
            break;
        }
        assert_eq!(kid, old_kid);
    }
    // The old key's tokens still verify and introspect until they expire.
    crate::util::verify_with_jwks(&s, &old_token).unwrap();
    assert_eq!(s.introspect("c", &secret, &old_token)["active"], true);
    let listed = s.admin_json(&["key", "list", "--json"]);
    assert_eq!(listed[0]["state"], "current");
    assert_eq!(listed[1]["state"], "retired");
    assert!(listed[1]["published_until"].is_u64());
}

#[test]
fn rotating_now_for_a_compromised_key_pulls_it_and_its_tokens_at_once() {
    let s = Server::start();
    let secret = s.add_client("c", &["client_credentials"], &[]);
    let old = s.token("c", &secret, "grant_type=client_credentials");
    let old_token = old["access_token"].as_str().unwrap();
    let rotated = s.admin_json(&["key", "rotate", "--now", "--json"]);
    assert_eq!(rotated["signs_in_seconds"], 0);
    let new = s.token("c", &secret, "grant_type=client_credentials");
    let new_token = new["access_token"].as_str().unwrap();
    assert_eq!(crate::util::jwt_parts(new_token).0["kid"], rotated["kid"]);
    let jwks = s.get("/jwks.json").json();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
    assert_eq!(jwks["keys"][0]["kid"], rotated["kid"]);
    assert!(crate::util::verify_with_jwks(&s, old_token).is_err());
    assert_eq!(s.introspect("c", &secret, old_token)["active"], false);
    crate::util::verify_with_jwks(&s, new_token).unwrap();
}

#[test]
fn the_audit_trail_records_issuances_refusals_and_admin_changes_and_no_secret() {
    // With the access log on, every issuance is a line too: none may hold a secret.
    let mut s = Server::start_configured("access_log = true", &[]);
    let secret = s.add_client("app", &["client_credentials", "password"], &["read"]);
    s.add_user("alice", "right-pw", &["read"]);
    s.token("app", &secret, "grant_type=client_credentials");
    s.post_basic(
        "/token",
        "app",
        "wrong-secret-xyz",
        "grant_type=client_credentials",
    );
    s.post_basic(
        "/token",
        "app",
        &secret,
        "grant_type=password&username=alice&password=not-it-123",
    );
    // Swapped fields: a client id and secret the wrong way round, a user name and password
    // likewise. What names no client or user is not repeated (the Drop check of the test
    // server then finds no secret in the log).
    s.post_basic("/token", &secret, "app", "grant_type=client_credentials");
    s.post_basic(
        "/token",
        "app",
        &secret,
        "grant_type=password&username=right-pw&password=alice",
    );
    let audit = s.admin_json(&["audit", "--json"]);
    let audit = serde_json::Value::Array(audit.as_array().unwrap()[..5].to_vec());
    let seen: Vec<(String, String)> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["action"].as_str().unwrap().to_string(),
                r["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected = [
        ("admin:client_add", "ok"),
        ("admin:user_add", "ok"),
        ("token", "issued"),
        ("client_auth", "wrong_secret"),
        ("token", "wrong_password"),
    ];
    assert_eq!(
        seen,
        expected
            .iter()
            .map(|(a, o)| (a.to_string(), o.to_string()))
            .collect::<Vec<_>>()
    );
    let issued = &audit[2];
    assert_eq!(issued["client"], "app");
    assert_eq!(issued["grant"], "client_credentials");
    assert_eq!(issued["peer"], "127.0.0.1");
    assert_eq!(audit[4]["user"], "alice");
    let text = audit.to_string() + &s.logs();
    for secret in [
        secret.as_str(),
        "wrong-secret-xyz",
        "not-it-123",
        "right-pw",
    ] {
        assert!(!text.contains(secret), "{secret} leaked");
    }
    s.wait_for_log(
        "audit action=token outcome=issued client=app grant=client_credentials peer=127.0.0.1",
        1,
    );
    // The trail is the running server's; with it stopped, the command says so.
    s.stop();
    let out = s.cmd(&["audit"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("running server"));
}
