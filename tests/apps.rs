//! What the apps a home already runs need from piauth, through the real binary: PKCE as
//! RFC 9700 §2.1.1 has it (so that an OpenID Connect app sending only a nonce signs in),
//! the form_post response mode, groups that decide who may use which app (read again at
//! every refresh), people edited without losing their sessions, and admin commands that
//! never make a store of their own.

use crate::authorize::{
    challenge, consent_form, enc, hidden, location_params, login_form, Browser, REDIRECT, VERIFIER,
};
use crate::util::{Resp, Server};

/// A confidential OpenID Connect app (as mod_auth_openidc or django-allauth register),
/// optionally for members of `group` only; returns its secret.
fn add_app(s: &Server, extra: &[&str]) -> String {
    let mut args = vec![
        "client",
        "add",
        "app",
        "--grant",
        "authorization_code",
        "--grant",
        "refresh_token",
        "--redirect-uri",
        REDIRECT,
        "--scope",
        "openid profile email groups",
        "--json",
    ];
    args.extend_from_slice(extra);
    let v = s.admin_json(&args);
    let secret = v["client_secret"].as_str().unwrap().to_string();
    s.remember_secret(&secret);
    secret
}

fn add_person(s: &Server, name: &str, extra: &[&str]) {
    let mut args = vec!["user", "add", name, "--password-stdin"];
    args.extend_from_slice(extra);
    let out = s.cmd_stdin(&args, "correct horse\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An authorization request without PKCE, as those apps send by default.
fn query(extra: &str) -> String {
    format!(
        "response_type=code&client_id=app&redirect_uri={}&state=st-1&scope=openid%20email%20groups{extra}",
        enc(REDIRECT)
    )
}

/// Signs `user` in and allows; the response to the consent form.
fn sign_in(b: &mut Browser, q: &str, user: &str) -> Resp {
    let login = b.get(&format!("/authorize?{q}"));
    assert_eq!(login.status, 200, "{login:?}");
    let consent = b.post(&login_form(&login, user, "correct horse"));
    if consent.status != 200 || !String::from_utf8_lossy(&consent.body).contains("decision") {
        return consent;
    }
    b.post(&consent_form(&consent, "allow"))
}

fn redeem(s: &Server, secret: &str, code: &str, verifier: Option<&str>) -> Resp {
    let mut form = format!(
        "grant_type=authorization_code&code={code}&redirect_uri={}",
        enc(REDIRECT)
    );
    if let Some(v) = verifier {
        form.push_str(&format!("&code_verifier={v}"));
    }
    s.post_basic("/token", "app", secret, &form)
}

#[test]
fn a_confidential_oidc_app_with_a_nonce_needs_no_pkce_and_no_downgrade_passes() {
    let s = Server::start();
    s.wait_id_key();
    let secret = add_app(&s, &[]);
    add_person(&s, "alice", &["--email", "alice@home.arpa"]);
    let mut b = Browser::new(&s, "127.0.0.61");
    // Without a nonce and without PKCE: refused, back to the app.
    let r = b.get(&format!("/authorize?{}", query("")));
    assert_eq!(location_params(&r)["error"], "invalid_request");
    // With a nonce: a code, which takes no verifier (a downgrade the other way).
    let r = sign_in(&mut b, &query("&nonce=n-1"), "alice");
    let code = location_params(&r)["code"].clone();
    let t = redeem(&s, &secret, &code, Some(VERIFIER));
    assert_eq!(t.error(), "invalid_grant", "{:?}", t.json());
    let r = b.get(&format!("/authorize?{}", query("&nonce=n-2")));
    let code = location_params(&r)["code"].clone();
    let t = redeem(&s, &secret, &code, None).json();
    let (header, claims) = crate::util::jwt_parts(t["id_token"].as_str().unwrap());
    assert_eq!(header["alg"], "RS256");
    assert_eq!(
        (claims["nonce"].as_str(), claims["email_verified"].as_bool()),
        (Some("n-2"), Some(true))
    );
    // A code of a challenge is not redeemed without its verifier.
    let q = format!(
        "{}&code_challenge={}&code_challenge_method=S256",
        query("&nonce=n-3"),
        challenge(VERIFIER)
    );
    let code = location_params(&b.get(&format!("/authorize?{q}")))["code"].clone();
    assert_eq!(redeem(&s, &secret, &code, None).error(), "invalid_request");
    // --require-pkce: even with a nonce, a challenge is needed.
    let v = s.admin_json(&["client", "show", "app", "--json"]);
    assert_eq!(
        v["pkce"],
        "required, unless an OpenID Connect request with a nonce"
    );
    assert_eq!(v["id_token_alg"], "RS256");
    s.cmd(&["client", "remove", "app"]);
    add_app(&s, &["--require-pkce"]);
    let r = b.get(&format!("/authorize?{}", query("&nonce=n-4")));
    assert_eq!(location_params(&r)["error"], "invalid_request");
    assert_eq!(
        s.admin_json(&["client", "show", "app", "--json"])["pkce"],
        "required"
    );
}

#[test]
fn form_post_answers_in_a_form_and_an_unknown_mode_is_refused() {
    let s = Server::start();
    s.wait_id_key();
    let secret = add_app(&s, &[]);
    add_person(&s, "alice", &[]);
    let mut b = Browser::new(&s, "127.0.0.62");
    let r = sign_in(&mut b, &query("&nonce=n&response_mode=form_post"), "alice");
    assert_eq!(r.status, 200);
    assert!(r.header("location").is_none());
    let html = String::from_utf8_lossy(&r.body).to_string();
    assert!(html.contains(&format!("action=\"{REDIRECT}\"")), "{html}");
    assert_eq!(hidden(&r, "state"), "st-1");
    assert_eq!(hidden(&r, "iss"), s.issuer());
    // Its one script is allowed by hash, and the form may go only to the app.
    let csp = r.header("content-security-policy").unwrap();
    assert!(
        csp.contains("script-src 'sha256-") && csp.contains("form-action https://dash.home"),
        "{csp}"
    );
    let t = redeem(&s, &secret, &hidden(&r, "code"), None);
    assert_eq!(t.status, 200, "{:?}", t.json());
    // Fragment, and a mode piauth does not serve: refused, never answered in another mode.
    let r = b.get(&format!(
        "/authorize?{}",
        query("&nonce=n&response_mode=fragment")
    ));
    assert!(r
        .header("location")
        .unwrap()
        .starts_with(&format!("{REDIRECT}#code=")));
    let r = b.get(&format!(
        "/authorize?{}",
        query("&nonce=n&response_mode=query.jwt")
    ));
    let params = location_params(&r);
    assert_eq!(params["error"], "invalid_request");
    assert!(!params.contains_key("code"));
}

#[test]
fn only_members_of_an_allowed_group_get_in_and_groups_are_read_again_at_refresh() {
    let s = Server::start();
    s.wait_id_key();
    let secret = add_app(&s, &["--allowed-group", "media"]);
    add_person(
        &s,
        "alice",
        &["--group", "media", "--group", "family", "--name", "Alice"],
    );
    add_person(&s, "bob", &["--group", "family"]);
    // The non-member gets a page saying so, with a way back that tells the app.
    let mut b = Browser::new(&s, "127.0.0.63");
    let r = sign_in(&mut b, &query("&nonce=n"), "bob");
    assert_eq!(r.status, 403);
    let html = String::from_utf8_lossy(&r.body).to_string();
    assert!(
        html.contains("bob is not in a group that may use app"),
        "{html}"
    );
    assert!(
        html.contains(&format!("href=\"{REDIRECT}?error=access_denied")),
        "{html}"
    );
    // The member gets in, with her groups in the ID token, the access token and UserInfo.
    let mut b = Browser::new(&s, "127.0.0.64");
    let code = location_params(&sign_in(&mut b, &query("&nonce=n"), "alice"))["code"].clone();
    let t = redeem(&s, &secret, &code, None).json();
    let (_, id) = crate::util::jwt_parts(t["id_token"].as_str().unwrap());
    assert_eq!(id["groups"], serde_json::json!(["family", "media"]));
    let (_, at) = crate::util::jwt_parts(t["access_token"].as_str().unwrap());
    assert_eq!(at["groups"], serde_json::json!(["family", "media"]));
    // An edit keeps her session and refresh token; the new groups show at the refresh.
    let edited = s.admin_json(&[
        "user",
        "edit",
        "alice",
        "--group",
        "media",
        "--email",
        "a@home.arpa",
        "--json",
    ]);
    assert_eq!(edited["groups"], serde_json::json!(["media"]));
    let refresh = |token: &str| {
        s.post_basic(
            "/token",
            "app",
            &secret,
            &format!("grant_type=refresh_token&refresh_token={token}"),
        )
    };
    let r = refresh(t["refresh_token"].as_str().unwrap());
    assert_eq!(r.status, 200, "{:?}", r.json());
    let (_, at) = crate::util::jwt_parts(r.json()["access_token"].as_str().unwrap());
    assert_eq!(at["groups"], serde_json::json!(["media"]));
    let shown = s.admin_json(&["user", "show", "alice", "--json"]);
    assert_eq!(
        (shown["sessions"].as_u64(), shown["email"].as_str()),
        (Some(1), Some("a@home.arpa"))
    );
    assert_eq!(shown["apps_allowed"], serde_json::json!(["app"]));
    // Out of the group: her next refresh is refused.
    s.admin_json(&["user", "edit", "alice", "--no-groups", "--json"]);
    let r = refresh(r.json()["refresh_token"].as_str().unwrap());
    assert_eq!(r.error(), "invalid_grant");
    let groups = s.admin_json(&["group", "list", "--json"]);
    assert_eq!(groups[0]["group"], "family");
    assert_eq!(
        groups[1],
        serde_json::json!({"group": "media", "members": [], "apps": ["app"]})
    );
}

#[test]
fn an_admin_command_never_makes_a_store() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nothing-here");
    let out = std::process::Command::new(crate::util::bin())
        .args([
            "--data-dir",
            missing.to_str().unwrap(),
            "client",
            "add",
            "thermostat",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no piauth store in") && err.contains("piauth serve"),
        "{err}"
    );
    assert!(!missing.exists(), "made {missing:?}");
    assert!(!dir.path().join("piauth-data").exists());
}
