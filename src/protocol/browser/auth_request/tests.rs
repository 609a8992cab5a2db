use super::*;

#[test]
fn redirect_uris_match_exactly_except_a_loopback_port() {
    assert!(redirect_matches("https://app/cb", "https://app/cb"));
    assert!(!redirect_matches("https://app/cb", "https://app/cb/"));
    assert!(!redirect_matches("https://app/cb", "https://app/cb?x=1"));
    assert!(!redirect_matches("https://app/cb", "HTTPS://app/cb"));
    assert!(redirect_matches(
        "http://127.0.0.1/cb",
        "http://127.0.0.1:51234/cb"
    ));
    // A registered port is the port.
    assert!(!redirect_matches(
        "http://127.0.0.1:8000/cb",
        "http://127.0.0.1:9/cb"
    ));
    for bad in [
        "http://127.0.0.1:/cb",
        "http://127.0.0.1:0/cb",
        "http://127.0.0.1:99999999999999999999/cb",
        "http://127.0.0.1:1a/cb",
        "http://127.0.0.1:+80/cb",
        "http://127.0.0.1:000080/cb",
        "http://[::1",
        "http://[",
        "http://[::1]x/cb",
    ] {
        assert!(!redirect_matches("http://127.0.0.1/cb", bad), "{bad}");
        assert!(!redirect_matches("http://[::1]/cb", bad), "{bad}");
        assert!(!redirect_matches(bad, "http://127.0.0.1:1/cb"), "{bad}");
    }
    assert!(redirect_matches("http://[::1]/cb", "http://[::1]:4000/cb"));
    assert!(!redirect_matches(
        "http://127.0.0.1/cb",
        "http://127.0.0.1:1/other"
    ));
    assert!(!redirect_matches(
        "http://localhost/cb",
        "http://localhost:1/cb"
    ));
    assert!(!redirect_matches(
        "http://127.0.0.1/cb",
        "http://127.0.0.1.evil/cb"
    ));
    assert!(!redirect_matches(
        "http://127.0.0.1/cb",
        "http://127.0.0.1:1@evil/cb"
    ));
    assert!(!redirect_matches(
        "http://192.168.1.5/cb",
        "http://192.168.1.5:1/cb"
    ));
}

#[test]
fn only_safe_redirect_uris_register() {
    for ok in [
        "https://dash.home/cb",
        "http://192.168.1.10:8123/auth/callback",
        "http://127.0.0.1/cb",
        "com.example.app:/oauth",
    ] {
        assert!(check_redirect_uri(ok).is_ok(), "{ok}");
    }
    for bad in [
        "javascript:alert(1)",
        "data:text/html,x",
        "https://app/cb#frag",
        "/relative",
        "https://u@app/cb",
        "https://app/c b",
        "",
    ] {
        assert!(check_redirect_uri(bad).is_err(), "{bad}");
    }
}

#[test]
fn pkce_s256_matches_rfc_7636_appendix_b() {
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    assert_eq!(
        s256(verifier),
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    );
    assert!(pkce_ok(
        verifier,
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    ));
    assert!(!pkce_ok("short", &s256("short")));
    assert!(!pkce_ok(
        verifier,
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cN"
    ));
}

#[test]
fn error_redirects_carry_state_and_iss_encoded() {
    let r = |mode| {
        error_response(
            "https://app/cb?a=1",
            mode,
            "access_denied",
            "no",
            Some("s&t"),
            "https://pi",
        )
        .location()
    };
    assert_eq!(
        r(ResponseMode::Query),
        "https://app/cb?a=1&error=access_denied&error_description=no&state=s%26t&iss=https%3A%2F%2Fpi"
    );
    assert_eq!(
        r(ResponseMode::Fragment),
        "https://app/cb?a=1#error=access_denied&error_description=no&state=s%26t&iss=https%3A%2F%2Fpi"
    );
}

fn app(public: bool, require_pkce: bool) -> ClientRecord {
    let mut c = crate::protocol::testing::client(&[GrantType::AuthorizationCode], "openid read");
    c.redirect_uris = vec!["https://app/cb".into()];
    c.public = public;
    c.require_pkce = require_pkce;
    c
}

#[test]
fn pkce_follows_rfc_9700_a_nonce_stands_in_only_for_a_confidential_oidc_client() {
    let confidential = app(false, false);
    assert_eq!(pkce_rule(&confidential), PkceRule::UnlessOidcNonce);
    assert!(pkce_missing_refusal(&confidential, true).is_none());
    assert!(pkce_missing_refusal(&confidential, false).is_some());
    for always in [app(true, false), app(false, true)] {
        assert_eq!(pkce_rule(&always), PkceRule::Always);
        assert!(pkce_missing_refusal(&always, true).is_some());
    }
    let mut optional = app(false, false);
    optional.pkce_optional = true;
    assert_eq!(pkce_rule(&optional), PkceRule::Optional);
    assert!(pkce_missing_refusal(&optional, false).is_none());
    // Public wins over a stray flag: a public client can't keep a code safe without PKCE.
    let mut public = app(true, false);
    public.pkce_optional = true;
    assert_eq!(pkce_rule(&public), PkceRule::Always);
}

fn checked(client: ClientRecord, query: &str) -> Result<AuthRequest, Refused> {
    let mut dir = crate::protocol::testing::MapDirectory::default();
    dir.clients.insert(client.id.clone(), client);
    let params =
        crate::vocab::request::parse_body(crate::vocab::request::BodyKind::Form, query.as_bytes())
            .unwrap();
    check(&params, &dir, "https://pi").unwrap()
}

#[test]
fn a_request_without_pkce_passes_only_as_oidc_with_a_nonce() {
    let base = "response_type=code&client_id=dev&state=s";
    let refused = |r: Result<AuthRequest, Refused>| match r {
        Err(Refused::Redirect(resp)) => resp.params[0].1.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        refused(checked(app(false, false), &format!("{base}&scope=openid"))),
        "invalid_request"
    );
    assert_eq!(
        refused(checked(
            app(false, false),
            &format!("{base}&scope=read&nonce=n")
        )),
        "invalid_request"
    );
    let ok = checked(app(false, false), &format!("{base}&scope=openid&nonce=n")).unwrap();
    assert_eq!(ok.challenge, None);
    assert_eq!(
        refused(checked(
            app(true, false),
            &format!("{base}&scope=openid&nonce=n")
        )),
        "invalid_request"
    );
    // A challenge sent is a challenge enforced: plain is refused even where none is needed.
    let plain = format!(
        "{base}&scope=openid&nonce=n&code_challenge={}",
        "a".repeat(43)
    );
    assert_eq!(
        refused(checked(app(false, false), &plain)),
        "invalid_request"
    );
    let mut optional = app(false, false);
    optional.pkce_optional = true;
    let ok = checked(optional.clone(), &format!("{base}&scope=openid")).unwrap();
    assert_eq!(ok.challenge, None);
    assert_eq!(refused(checked(optional, &plain)), "invalid_request");
}

#[test]
fn response_modes_are_the_three_served_and_an_unknown_one_is_an_error() {
    let base = "response_type=code&client_id=dev&scope=openid&nonce=n";
    for (mode, want) in [
        ("", ResponseMode::Query),
        ("&response_mode=query", ResponseMode::Query),
        ("&response_mode=fragment", ResponseMode::Fragment),
        ("&response_mode=form_post", ResponseMode::FormPost),
    ] {
        let ar = checked(app(false, false), &format!("{base}{mode}")).unwrap();
        assert_eq!(ar.response_mode, want);
    }
    match checked(
        app(false, false),
        &format!("{base}&response_mode=web_message"),
    ) {
        Err(Refused::Redirect(r)) => {
            assert_eq!(r.mode, ResponseMode::Query);
            assert_eq!(r.params[0], ("error".into(), "invalid_request".into()));
        }
        other => panic!("{other:?}"),
    }
    let ar = checked(
        app(false, false),
        &format!("{base}&response_mode=form_post&state=s"),
    )
    .unwrap();
    let code = ar.code("c0de", "https://pi");
    assert_eq!(code.mode, ResponseMode::FormPost);
    assert_eq!(
        code.params,
        [
            ("code".into(), "c0de".into()),
            ("state".into(), "s".into()),
            ("iss".into(), "https://pi".into())
        ]
    );
}
