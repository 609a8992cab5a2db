//! Bad input gets the RFC 6749 §5.2 error it deserves, and changes nothing.

use crate::util::{basic, Server};
use serde_json::json;

fn setup() -> (Server, String) {
    let s = Server::start();
    let secret = s.add_client("dev", &["client_credentials"], &["read"]);
    (s, secret)
}

#[test]
fn invalid_client_is_401_with_www_authenticate() {
    let (s, secret) = setup();
    let cases = [
        s.post_basic("/token", "dev", "wrong", "grant_type=client_credentials"),
        s.post_basic("/token", "nobody", &secret, "grant_type=client_credentials"),
        s.post_form("/token", "grant_type=client_credentials"),
        s.post_form("/token", "grant_type=client_credentials&client_id=dev"),
        s.request(
            "POST",
            "/token",
            &[
                ("Authorization", "Basic !!!notbase64"),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            b"grant_type=client_credentials",
        ),
        s.request(
            "POST",
            "/token",
            &[
                ("Authorization", "Bearer abc"),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            b"grant_type=client_credentials",
        ),
    ];
    for r in cases {
        assert_eq!(r.status, 401, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.error(), "invalid_client");
        assert!(r.header("www-authenticate").unwrap().starts_with("Basic"));
        assert!(r.json()["error_description"].is_string());
    }
}

#[test]
fn grant_errors_have_their_codes() {
    let (s, secret) = setup();
    let cases = [
        (
            "grant_type=password&username=a&password=b",
            "unauthorized_client",
        ),
        (
            "grant_type=refresh_token&refresh_token=x",
            "unauthorized_client",
        ),
        (
            "grant_type=authorization_code&code=x",
            "unauthorized_client",
        ),
        ("grant_type=implicit", "unsupported_grant_type"),
        ("grant_type=client_credentials&scope=write", "invalid_scope"),
        ("grant_type=client_credentials&scope=a\"b", "invalid_scope"),
        ("scope=read", "invalid_request"),
        (
            "grant_type=client_credentials&grant_type=client_credentials",
            "invalid_request",
        ),
        (
            "grant_type=client_credentials&scope=read&scope=read",
            "invalid_request",
        ),
    ];
    for (body, code) in cases {
        let r = s.post_basic("/token", "dev", &secret, body);
        assert_eq!((r.status, r.error().as_str()), (400, code), "{body}");
        assert_eq!(r.header("cache-control"), Some("no-store"));
    }
}

#[test]
fn malformed_bodies_are_invalid_request() {
    let (s, secret) = setup();
    let auth = basic("dev", &secret);
    let cases: [(&str, &[u8]); 6] = [
        ("application/json", b"{not json"),
        ("application/json", br#"{"grant_type": 5}"#),
        ("application/json", br#"["grant_type"]"#),
        (
            "application/json",
            br#"{"grant_type":"client_credentials","grant_type":"password"}"#,
        ),
        (
            "application/x-www-form-urlencoded",
            b"grant_type=client_credentials&x=%ff%fe",
        ),
        ("text/plain", b"grant_type=client_credentials"),
    ];
    for (ctype, body) in cases {
        let r = s.request(
            "POST",
            "/token",
            &[("Authorization", &auth), ("Content-Type", ctype)],
            body,
        );
        assert_eq!(
            (r.status, r.error().as_str()),
            (400, "invalid_request"),
            "{ctype} {:?}",
            String::from_utf8_lossy(body)
        );
    }
    let no_type = s.request(
        "POST",
        "/token",
        &[("Authorization", &auth)],
        b"grant_type=client_credentials",
    );
    assert_eq!(no_type.error(), "invalid_request");
    // Raw invalid UTF-8 bytes in a JSON body.
    let r = s.request(
        "POST",
        "/token",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        b"{\"grant_type\":\"client_credentials\xff\"}",
    );
    assert_eq!(r.error(), "invalid_request");
}

#[test]
fn two_authentication_methods_are_refused() {
    let (s, secret) = setup();
    let r = s.post_basic(
        "/token",
        "dev",
        &secret,
        &format!("grant_type=client_credentials&client_secret={secret}"),
    );
    assert_eq!((r.status, r.error().as_str()), (400, "invalid_request"));
}

#[test]
fn oversized_bodies_are_refused_with_413() {
    let (s, secret) = setup();
    let big = format!(
        "grant_type=client_credentials&pad={}",
        "x".repeat(64 * 1024)
    );
    let r = s.post_basic("/token", "dev", &secret, &big);
    assert_eq!(r.status, 413);
    assert_eq!(r.error(), "invalid_request");
    // The server still serves.
    assert_eq!(
        s.post_basic("/token", "dev", &secret, "grant_type=client_credentials")
            .status,
        200
    );
}

#[test]
fn unknown_paths_are_404_and_wrong_methods_405_as_json() {
    let (s, _) = setup();
    let r = s.get("/nope");
    assert_eq!(r.status, 404);
    assert_eq!(r.error(), "not_found");
    let r = s.get("/token");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("POST"));
    assert_eq!(r.error(), "method_not_allowed");
    let r = s.request("POST", "/jwks.json", &[], b"");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET"));
}

#[test]
fn bad_requests_change_nothing() {
    let s = Server::start();
    let secret = s.add_client("app", &["password", "refresh_token"], &["read"]);
    let other = s.add_client("other", &["password", "refresh_token"], &["read"]);
    s.add_user("u", "pw", &["read"]);
    let t = s.token("app", &secret, "grant_type=password&username=u&password=pw");
    let refresh = t["refresh_token"].as_str().unwrap();
    let access = t["access_token"].as_str().unwrap();
    let families = || s.get("/health").json()["store"]["refresh_families"].clone();
    assert_eq!(families(), 1);
    let with_token = format!("grant_type=refresh_token&refresh_token={refresh}");
    // Each of these names the live grant, and each must be refused without touching it:
    // a wrong secret, another client, a duplicated parameter, a body too large, a wrong
    // content type, garbage, and revocation or introspection by a stranger.
    let refused = [
        s.post_basic("/token", "app", "wrong", &with_token).status,
        s.post_basic("/token", "other", &other, &with_token).status,
        s.post_basic(
            "/token",
            "app",
            &secret,
            &format!("{with_token}&refresh_token=x"),
        )
        .status,
        s.post_basic(
            "/token",
            "app",
            &secret,
            &format!("{with_token}&pad={}", "x".repeat(70_000)),
        )
        .status,
        s.request(
            "POST",
            "/token",
            &[
                ("Authorization", &basic("app", &secret)),
                ("Content-Type", "text/plain"),
            ],
            with_token.as_bytes(),
        )
        .status,
        s.post_basic(
            "/token",
            "app",
            &secret,
            "grant_type=password&username=u&password=no",
        )
        .status,
        s.post_basic("/revoke", "other", &other, &format!("token={refresh}"))
            .status,
        s.post_basic("/revoke", "other", &other, &format!("token={access}"))
            .status,
        s.raw(b"POST /token HTTP/1.1\r\nContent-Length: 5\r\n\r\n\xff\xfe\x00\x01\x02")
            .status,
    ];
    assert!(refused.iter().all(|&st| st >= 400), "{refused:?}");
    s.raw(b"GARBAGE\r\n\r\n");
    s.post_json(
        "/token",
        &json!({"grant_type": "password", "username": "u"}),
    );
    // Nothing was added, rotated or revoked: the same token refreshes once, and the
    // access token is still live.
    assert_eq!(families(), 1);
    assert_eq!(s.introspect("app", &secret, access)["active"], true);
    let rotated = s.post_basic("/token", "app", &secret, &with_token);
    assert_eq!(
        rotated.status,
        200,
        "{}",
        String::from_utf8_lossy(&rotated.body)
    );
    assert_eq!(families(), 1);
}

#[test]
fn nothing_secret_reaches_the_log() {
    let s = Server::start();
    let secret = s.add_client(
        "app",
        &["password", "refresh_token", "client_credentials"],
        &["read"],
    );
    s.add_user("carol", "Sup3rS3cret-pw", &["read"]);
    let t = s.token(
        "app",
        &secret,
        "grant_type=password&username=carol&password=Sup3rS3cret-pw",
    );
    let refresh = t["refresh_token"].as_str().unwrap();
    let t2 = s.token(
        "app",
        &secret,
        &format!("grant_type=refresh_token&refresh_token={refresh}"),
    );
    s.post_basic(
        "/token",
        "app",
        "wrong-secret-value",
        "grant_type=client_credentials",
    );
    s.post_basic(
        "/token",
        "app",
        &secret,
        &format!("grant_type=refresh_token&refresh_token={refresh}"),
    );
    s.introspect("app", &secret, t2["access_token"].as_str().unwrap());
    s.post_basic(
        "/revoke",
        "app",
        &secret,
        &format!("token={}", t2["refresh_token"].as_str().unwrap()),
    );
    s.cmd_stdin(
        &["user", "passwd", "carol", "--password-stdin"],
        "An0ther-S3cret\n",
    );
    // The server logs the admin command before it answers; the log is read once that
    // line has arrived, not after a pause.
    let log = s.wait_for_log("AdminRequest(user_passwd)", 1);
    assert!(
        log.contains("action=client_auth outcome=wrong_secret client=app"),
        "{log}"
    );
    for needle in [
        secret.as_str(),
        "Sup3rS3cret-pw",
        "An0ther-S3cret",
        "wrong-secret-value",
        refresh,
        t["access_token"].as_str().unwrap(),
        t2["access_token"].as_str().unwrap(),
        t2["refresh_token"].as_str().unwrap(),
    ] {
        assert!(!log.contains(needle), "log leaks a secret: {needle}");
    }
}
