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
