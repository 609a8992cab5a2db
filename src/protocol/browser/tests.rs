//! `/authorize` over plain values: `prompt` and `max_age` against the session's sign-in, the
//! consent form's token, and a form from another browser.

use crate::protocol::account::policy::Methods;
use crate::protocol::browser::authorize::*;
use crate::protocol::browser::cookies::*;
use crate::protocol::browser::sessions::Session;
use crate::protocol::page::Page;
use crate::protocol::paths::AUTHORIZE_PATH;
use crate::protocol::testing::{client, user, MapDirectory, World};
use crate::protocol::{Request, Step};
use crate::vocab::entropy::CountingEntropy;
use crate::vocab::record::{ConsentRecord, GrantType};

const SESSION: &str = "session-id-of-alice-0123456789";
const BROWSER: &str = "browser-id-0123456789";

/// Alice's session, signed in at `auth_time` having proved `methods`, used at `now`.
fn alice(auth_time: u64, methods: Methods, now: u64) -> Session {
    Session {
        username: "alice".into(),
        generation: "g".into(),
        epoch: 0,
        auth_time,
        last_seen: now,
        methods,
        failed_codes: 0,
    }
}

fn world() -> World {
    let mut dir = MapDirectory::default();
    let mut app = client(&[GrantType::AuthorizationCode], "read openid");
    app.id = "app".into();
    app.redirect_uris = vec!["https://app/cb".into()];
    dir.clients.insert("app".into(), app);
    dir.users.insert("alice".into(), user("alice", "read", "g"));
    World::new(dir)
}

/// A request from a browser with alice's session, signed in at `auth_time`.
fn get(w: &World, query: &str, auth_time: u64) -> Step {
    let digest = crate::jose::secret::token_digest(SESSION);
    let s = alice(auth_time, Methods::PASSWORD, w.now);
    w.sessions.insert(digest, s, w.now);
    let req = Request {
        method: "GET".into(),
        path: AUTHORIZE_PATH.into(),
        query: query.into(),
        headers: vec![(
            "Cookie".into(),
            format!("piauth_b={BROWSER}; piauth_s={SESSION}"),
        )],
        ..Request::default()
    };
    authorize_get(&req, &w.ctx(), &mut CountingEntropy(0))
}

fn query(extra: &str) -> String {
    format!(
        "response_type=code&client_id=app&redirect_uri=https%3A%2F%2Fapp%2Fcb&state=s\
         &code_challenge={}&code_challenge_method=S256{extra}",
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )
}

fn location(step: &Step) -> String {
    step.reply
        .header("Location")
        .unwrap_or_default()
        .to_string()
}

#[test]
fn max_age_and_prompt_decide_between_sign_in_consent_and_a_code() {
    let w = world();
    let page = |s: &Step| s.reply.page.as_deref().cloned();
    // Signed in 100 s ago: max_age 50 asks again, 500 does not.
    assert!(matches!(
        page(&get(&w, &query("&max_age=50"), w.now - 100)),
        Some(Page::Login { .. })
    ));
    assert!(matches!(
        page(&get(&w, &query("&max_age=500"), w.now - 100)),
        Some(Page::Consent { .. })
    ));
    assert!(matches!(
        page(&get(&w, &query("&prompt=login"), w.now)),
        Some(Page::Login { .. })
    ));
    // prompt=none: an error back to the app when consent is missing, a code once given.
    let none = get(&w, &query("&prompt=none"), w.now);
    assert!(
        location(&none).contains("error=consent_required"),
        "{}",
        location(&none)
    );
    let mut w = w;
    w.dir.consents.insert(
        ("alice".into(), "app".into()),
        ConsentRecord {
            username: "alice".into(),
            client_id: "app".into(),
            scope: crate::vocab::scope::Scope::parse("read").unwrap(),
            generation: "g".into(),
            granted_at: 0,
        },
    );
    let code = get(&w, &query("&prompt=none&scope=read"), w.now);
    assert!(
        location(&code).starts_with("https://app/cb?code="),
        "{}",
        location(&code)
    );
    assert!(location(&code).contains("&state=s&iss=http%3A%2F%2Fpi"));
    // More than was consented to asks again; a consent from an old generation is void.
    let more = get(&w, &query("&prompt=none&scope=read%20openid"), w.now);
    assert!(location(&more).contains("error=consent_required"));
    w.dir
        .users
        .insert("alice".into(), user("alice", "read", "g2"));
    let stale = get(&w, &query("&prompt=none&scope=read"), w.now);
    assert!(
        location(&stale).contains("error=login_required"),
        "the session's generation is gone too"
    );
}

#[test]
fn consent_needs_the_token_of_a_consent_page_the_rules_showed() {
    let w = world();
    // Signed in long ago: prompt=login shows the sign-in page, whose token does not
    // answer a consent form; nor does a consent token of another sign-in.
    let shown = get(&w, &query("&prompt=login"), w.now - 1000);
    let Some(Page::Login {
        csrf: token,
        request,
        ..
    }) = shown.reply.page.as_deref().cloned()
    else {
        panic!("sign-in expected");
    };
    let consent = |t: &str| {
        let req = Request {
            method: "POST".into(),
            path: AUTHORIZE_PATH.into(),
            headers: vec![(
                "Cookie".into(),
                format!("piauth_b={BROWSER}; piauth_s={SESSION}"),
            )],
            body: format!(
                "action=consent&decision=allow&csrf={t}&request={}",
                percent_encoding::utf8_percent_encode(&request, percent_encoding::NON_ALPHANUMERIC)
            )
            .into_bytes(),
            ..Request::default()
        };
        authorize_post(&req, &w.ctx(), &mut CountingEntropy(0))
            .reply
            .status
    };
    assert_eq!(consent(&token), 403);
    let session = |auth_time| alice(auth_time, Methods::PASSWORD, w.now);
    let other = consent_csrf(w.ctx().pepper, BROWSER, &session(w.now), &request);
    assert_eq!(consent(&other), 403);
    let mut bob = session(w.now - 1000);
    bob.username = "bob".into();
    let bobs = consent_csrf(w.ctx().pepper, BROWSER, &bob, &request);
    assert_eq!(
        consent(&bobs),
        403,
        "another person's sign-in in the same second"
    );
    let right = consent_csrf(w.ctx().pepper, BROWSER, &session(w.now - 1000), &request);
    assert_eq!(consent(&right), 303, "the token a consent page would carry");
    // A consent page shown within max_age, answered after it: sign in again.
    let aged = query("&max_age=500");
    let token = consent_csrf(w.ctx().pepper, BROWSER, &session(w.now - 1000), &aged);
    let req = Request {
        method: "POST".into(),
        path: AUTHORIZE_PATH.into(),
        headers: vec![(
            "Cookie".into(),
            format!("piauth_b={BROWSER}; piauth_s={SESSION}"),
        )],
        body: format!(
            "action=consent&decision=allow&csrf={token}&request={}",
            percent_encoding::utf8_percent_encode(&aged, percent_encoding::NON_ALPHANUMERIC)
        )
        .into_bytes(),
        ..Request::default()
    };
    let step = authorize_post(&req, &w.ctx(), &mut CountingEntropy(0));
    assert!(matches!(
        step.reply.page.as_deref(),
        Some(Page::Login { .. })
    ));
}

#[test]
fn a_form_from_another_browser_or_without_its_token_is_refused() {
    let w = world();
    let post = |cookie: &str, body: String| {
        let req = Request {
            method: "POST".into(),
            path: AUTHORIZE_PATH.into(),
            headers: vec![("Cookie".into(), cookie.into())],
            body: body.into_bytes(),
            ..Request::default()
        };
        authorize_post(&req, &w.ctx(), &mut CountingEntropy(0))
            .reply
            .status
    };
    let token = csrf(w.ctx().pepper, BROWSER);
    let form = |t: &str| format!("action=login&csrf={t}&username=alice&password=pw&request=x");
    assert_eq!(post("piauth_b=another-browser-0123", form(&token)), 403);
    assert_eq!(post(&format!("piauth_b={BROWSER}"), form("forged")), 403);
    assert_eq!(post("", form(&token)), 403);
    // With the right pair it goes on (to the request's own check: "x" names no client).
    assert_eq!(post(&format!("piauth_b={BROWSER}"), form(&token)), 400);
}

/// A POST to /authorize from the browser holding alice's session (signed in at
/// `auth_time`, having proved `methods`).
fn post_as(w: &World, auth_time: u64, methods: Methods, body: String) -> Step {
    let s = alice(auth_time, methods, w.now);
    w.sessions
        .insert(crate::jose::secret::token_digest(SESSION), s, w.now);
    let req = Request {
        method: "POST".into(),
        path: AUTHORIZE_PATH.into(),
        headers: vec![(
            "Cookie".into(),
            format!("piauth_b={BROWSER}; piauth_s={SESSION}"),
        )],
        body: body.into_bytes(),
        ..Request::default()
    };
    authorize_post(&req, &w.ctx(), &mut CountingEntropy(0))
}

fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[test]
fn going_on_after_the_recovery_codes_counts_only_the_sign_in_it_was_made_for() {
    let w = world();
    let at = w.now - 100;
    let session = |auth_time| alice(auth_time, Methods::PASSWORD, w.now);
    let go_on = |q: &str, token: &str| {
        let body = format!("action=continue&csrf={token}&request={}", enc(q));
        post_as(&w, at, Methods::PASSWORD, body)
    };
    let page = |s: Step| s.reply.page.as_deref().cloned();
    let q = query("&prompt=login");
    // The browser's general token, or one made for another sign-in: refused.
    assert_eq!(go_on(&q, &csrf(w.ctx().pepper, BROWSER)).reply.status, 403);
    let other = continue_csrf(w.ctx().pepper, BROWSER, &session(at - 1), &q);
    assert_eq!(go_on(&q, &other).reply.status, 403);
    // The sign-in it was made for meets prompt=login...
    let right = continue_csrf(w.ctx().pepper, BROWSER, &session(at), &q);
    assert!(matches!(
        page(go_on(&q, &right)),
        Some(Page::Consent { .. })
    ));
    // ...but not a max_age it has outgrown meanwhile.
    let short = query("&prompt=login&max_age=50");
    let right = continue_csrf(w.ctx().pepper, BROWSER, &session(at), &short);
    assert!(matches!(
        page(go_on(&short, &right)),
        Some(Page::Login { .. })
    ));
}

#[test]
fn setting_up_or_typing_a_code_on_an_old_sign_in_renews_nothing() {
    let mut w = world();
    let token = csrf(w.ctx().pepper, BROWSER);
    let both = Methods {
        pwd: true,
        otp: true,
        key: None,
    };
    // An app that requires a second factor, an old sign-in without one: the password
    // comes first, not the set-up form, and a set-up form posted anyway is refused.
    let mfa = query("&acr_values=mfa");
    let shown = get(&w, &mfa, w.now - 1000);
    assert!(matches!(
        shown.reply.page.as_deref(),
        Some(Page::Login { .. })
    ));
    let secret = crate::jose::otp::new_secret(&mut CountingEntropy(5));
    let key = crate::jose::otp::parse_secret(&secret).unwrap();
    let code = crate::jose::otp::code_at(&key, w.now);
    let body = format!(
        "action=enroll&csrf={token}&secret={secret}&code={code}&request={}",
        enc(&mfa)
    );
    let refused = post_as(&w, w.now - 1000, Methods::PASSWORD, body);
    assert!(refused.changes.is_empty());
    assert!(matches!(
        refused.reply.page.as_deref(),
        Some(Page::Login { .. })
    ));
    // A code typed into a complete, old sign-in: its time stays, so prompt=login still
    // asks for the password.
    let mut alice = user("alice", "read", "g");
    alice.factors.totp = Some(crate::vocab::record::TotpFactor {
        secret: secret.clone(),
        added_at: 0,
        last_step: 0,
    });
    w.dir.users.insert("alice".into(), alice);
    let login = query("&prompt=login");
    let body = format!(
        "action=second_factor&csrf={token}&code={code}&request={}",
        enc(&login)
    );
    let step = post_as(&w, w.now - 1000, both, body);
    assert!(matches!(
        step.reply.page.as_deref(),
        Some(Page::Login { .. })
    ));
    let set = step
        .reply
        .header("Set-Cookie")
        .unwrap_or_default()
        .to_string();
    let id = set
        .strip_prefix("piauth_s=")
        .and_then(|v| v.split(';').next())
        .unwrap_or_else(|| panic!("a new session: {set}"));
    let s = w
        .sessions
        .get(&crate::jose::secret::token_digest(id), w.now);
    assert_eq!(s.map(|s| s.auth_time), Some(w.now - 1000));
}
