//! The operator's page (users marked --admin) and /metrics, through the real binary.

use crate::authorize::{enc, hidden, Browser};
use crate::util::Server;

fn sign_in(b: &mut Browser, user: &str, password: &str) -> crate::util::Resp {
    let login = b.get("/operator");
    assert_eq!(login.status, 200);
    assert!(String::from_utf8_lossy(&login.body).contains("action=\"/operator\""));
    let form = format!(
        "action=login&csrf={}&request=&username={user}&password={}",
        enc(&hidden(&login, "csrf")),
        enc(password)
    );
    b.send_post("/operator", &form)
}

#[test]
fn the_operator_sees_the_server_and_others_are_turned_away() {
    let s = Server::start_configured("metrics = true\naccess_log = true", &[]);
    let out = s.cmd_stdin(
        &[
            "user",
            "add",
            "root",
            "--admin",
            "--group",
            "grown-ups",
            "--password-stdin",
        ],
        "operator pass\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    s.remember_secret("operator pass");
    let media = s.admin_json(&[
        "client",
        "add",
        "media",
        "--grant",
        "authorization_code",
        "--redirect-uri",
        "https://media.home/cb",
        "--scope",
        "openid",
        "--allowed-group",
        "grown-ups",
        "--json",
    ]);
    s.remember_secret(media["client_secret"].as_str().unwrap());
    s.add_user("bob", "bob pass", &["read"]);
    let secret = s.add_client("sensor", &["client_credentials"], &["read"]);
    for _ in 0..3 {
        s.token("sensor", &secret, "grant_type=client_credentials");
    }
    s.wait_for_log("audit action=token outcome=issued client=sensor", 3);

    let mut bob = Browser::new(&s, "127.0.0.60");
    let r = sign_in(&mut bob, "bob", "bob pass");
    assert_eq!(r.status, 403, "{}", String::from_utf8_lossy(&r.body));

    let mut root = Browser::new(&s, "127.0.0.61");
    let page = sign_in(&mut root, "root", "operator pass");
    assert_eq!(page.status, 200);
    let html = String::from_utf8_lossy(&page.body).to_string();
    for want in [
        "Operator",
        "not a Raspberry Pi",
        "sensor",
        "client_credentials 3",
        "signing",
        "Tokens per minute",
        "<svg",
        "3 in all",
        "outcome",
        "max connections",
        // Who is in which group, and which groups each app admits.
        "<td>root</td><td>grown-ups</td>",
        "<td>grown-ups</td><td>enabled</td>",
        "<td>everyone</td><td>enabled</td>",
    ] {
        assert!(html.contains(want), "{want} missing:\n{html}");
    }
    assert!(!html.contains(&secret) && !html.contains("operator pass"));
    // Signed in, the page is there on the next visit.
    assert_eq!(root.get("/operator").status, 200);

    let m = s.get("/metrics");
    assert_eq!(m.status, 200);
    assert!(m
        .header("content-type")
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let text = String::from_utf8_lossy(&m.body).to_string();
    for want in [
        "piauth_tokens_issued_total{grant=\"client_credentials\"} 3",
        "piauth_requests_total{endpoint=\"token\",status=\"2xx\"} 3",
        "piauth_failures_total{kind=\"wrong_password\"} 0",
        "piauth_request_duration_seconds_count",
        "piauth_clients 2",
        "piauth_users 2",
    ] {
        assert!(text.contains(want), "{want} missing:\n{text}");
    }
}

#[test]
fn metrics_are_off_unless_turned_on() {
    let s = Server::start();
    assert_eq!(s.get("/metrics").status, 404);
}

#[test]
fn user_add_refuses_a_bad_name_or_email_and_changes_nothing() {
    let s = Server::start();
    for args in [
        [
            "user",
            "add",
            "a",
            "--email",
            "not-an-address",
            "--password-stdin",
        ],
        [
            "user",
            "add",
            "b",
            "--email",
            "x @home.arpa",
            "--password-stdin",
        ],
        [
            "user",
            "add",
            "c",
            "--name",
            "tab\there",
            "--password-stdin",
        ],
    ] {
        let out = s.cmd_stdin(&args, "a password\n");
        assert!(!out.status.success(), "{args:?} was accepted");
    }
    let long = "n".repeat(129);
    let out = s.cmd_stdin(
        &["user", "add", "d", "--name", &long, "--password-stdin"],
        "pw pw\n",
    );
    assert!(!out.status.success());
    assert_eq!(
        s.admin_json(&["user", "list", "--json"]),
        serde_json::json!([])
    );
}

#[test]
fn the_operator_s_pages_can_be_switched_off_or_kept_to_named_networks() {
    let s = Server::start_configured("operator_allow = [\"127.0.0.70\"]", &[]);
    assert_eq!(Browser::new(&s, "127.0.0.70").get("/operator").status, 200);
    let elsewhere = Browser::new(&s, "127.0.0.71").get("/operator/people");
    assert_eq!(elsewhere.status, 403);
    assert!(String::from_utf8_lossy(&elsewhere.body).contains("operator_allow"));
    let off = Server::start_configured("operator_pages = false", &[]);
    assert_eq!(Browser::new(&off, "127.0.0.1").get("/operator").status, 404);
    assert_eq!(
        Browser::new(&off, "127.0.0.1").get("/operator/keys").status,
        404
    );
    // A network that is none is refused at start: tests/lifecycle.rs.
}

#[test]
fn sessions_are_listed_and_ended_one_at_a_time_and_a_person_signed_out_everywhere() {
    let s = Server::start();
    s.add_user("ann", "ann pass", &["read"]);
    let secret = s.add_client("tv", &["password", "refresh_token"], &["read"]);
    let grant = |n: u32| {
        let t = s.token(
            "tv",
            &secret,
            &format!("grant_type=password&username=ann&password=ann+pass&scope=read&n={n}"),
        );
        t["refresh_token"].as_str().unwrap().to_string()
    };
    let (first, second) = (grant(1), grant(2));
    let listed = s.admin_json(&["session", "list", "--json"]);
    let rows = listed.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{listed}");
    assert!(rows
        .iter()
        .all(|r| r["username"] == "ann" && r["client_id"] == "tv"));
    // End one: its refresh fails, the other's goes on.
    let id = rows[0]["id"].as_str().unwrap();
    let out = s.cmd(&["session", "revoke", id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let refresh = |rt: &str| {
        s.post_basic(
            "/token",
            "tv",
            &secret,
            &format!("grant_type=refresh_token&refresh_token={rt}"),
        )
        .status
    };
    let statuses = [refresh(&first), refresh(&second)];
    assert!(
        statuses.contains(&200) && statuses.contains(&400),
        "{statuses:?}"
    );
    assert!(
        !s.cmd(&["session", "revoke", id]).status.success(),
        "ended once only"
    );
    assert!(!s
        .cmd(&["session", "revoke", "not-a-session"])
        .status
        .success());
    // Signed out everywhere: nothing is left.
    let out = s.admin_json(&["user", "sign-out", "ann", "--json"]);
    assert_eq!(out["sessions_ended"], 1, "{out}");
    assert_eq!(
        s.admin_json(&["session", "list", "--json"]),
        serde_json::json!([])
    );
}

#[test]
fn client_edit_changes_who_may_sign_in_and_refuses_a_bad_redirect() {
    let s = Server::start();
    let made = s.admin_json(&[
        "client",
        "add",
        "media",
        "--grant",
        "authorization_code",
        "--redirect-uri",
        "https://media.home/cb",
        "--json",
    ]);
    s.remember_secret(made["client_secret"].as_str().unwrap());
    let edited = s.admin_json(&[
        "client",
        "edit",
        "media",
        "--allowed-group",
        "family",
        "--json",
    ]);
    assert_eq!(edited["allowed_groups"], serde_json::json!(["family"]));
    assert_eq!(
        edited["redirect_uris"],
        serde_json::json!(["https://media.home/cb"])
    );
    let bad = s.cmd(&[
        "client",
        "edit",
        "media",
        "--redirect-uri",
        "javascript:alert(1)",
    ]);
    assert!(!bad.status.success());
    let open = s.admin_json(&["client", "edit", "media", "--no-groups", "--json"]);
    assert_eq!(open["allowed_groups"], serde_json::json!([]));
    assert_eq!(
        open["redirect_uris"],
        serde_json::json!(["https://media.home/cb"])
    );
}
