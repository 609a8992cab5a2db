//! The authorization code flow with PKCE through the real binary, as a browser walks it:
//! sign in, consent, the redirect back with a code, the code exchanged for tokens, and every
//! rule that keeps a code from being used by anyone else.

use crate::util::{Resp, Server};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::Digest;
use std::collections::HashMap;

pub(crate) const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub(crate) const REDIRECT: &str = "https://dash.home/cb";

pub(crate) fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()))
}

pub(crate) fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn dec(s: &str) -> String {
    percent_encoding::percent_decode_str(&s.replace('+', " "))
        .decode_utf8()
        .unwrap()
        .to_string()
}

/// A browser: its cookies, and the address it speaks from.
pub(crate) struct Browser<'a> {
    s: &'a Server,
    source: String,
    cookies: HashMap<String, String>,
}

impl<'a> Browser<'a> {
    pub(crate) fn new(s: &'a Server, source: &str) -> Browser<'a> {
        Browser {
            s,
            source: source.to_string(),
            cookies: HashMap::new(),
        }
    }

    /// A form POST to `path`.
    pub(crate) fn send_post(&mut self, path: &str, form: &str) -> Resp {
        self.send("POST", path, Some(form))
    }

    fn send(&mut self, method: &str, target: &str, form: Option<&str>) -> Resp {
        let cookie = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let mut req = format!("{method} {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
        if !cookie.is_empty() {
            req.push_str(&format!("Cookie: {cookie}\r\n"));
        }
        let body = form.unwrap_or("");
        if form.is_some() {
            req.push_str(&format!(
                "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        req.push_str("\r\n");
        req.push_str(body);
        let r = crate::util::raw_request_from(&self.s.addr, Some(&self.source), req.as_bytes());
        for (name, value) in &r.headers {
            if name == "set-cookie" {
                let (k, v) = value.split(';').next().unwrap().split_once('=').unwrap();
                self.cookies.insert(k.to_string(), v.to_string());
            }
        }
        r
    }

    pub(crate) fn get(&mut self, target: &str) -> Resp {
        self.send("GET", target, None)
    }

    pub(crate) fn post(&mut self, form: &str) -> Resp {
        self.send("POST", "/authorize", Some(form))
    }

    pub(crate) fn forget_cookies(&mut self) {
        self.cookies.clear();
    }
}

/// The value of hidden input `name` in a page.
pub(crate) fn hidden(page: &Resp, name: &str) -> String {
    let html = String::from_utf8_lossy(&page.body);
    let at = html
        .find(&format!("name=\"{name}\" value=\""))
        .unwrap_or_else(|| panic!("no {name} in {html}"));
    let rest = &html[at + name.len() + 15..];
    let value = &rest[..rest.find('"').unwrap()];
    // askama escapes &, <, >, " and ' as numeric references.
    value
        .replace("&#38;", "&")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&#60;", "<")
        .replace("&#62;", ">")
        .replace("&amp;", "&")
        .replace("&quot;", "\"")
}

/// The query parameters of a redirect's Location.
pub(crate) fn location_params(r: &Resp) -> HashMap<String, String> {
    let location = r
        .header("location")
        .unwrap_or_else(|| panic!("no Location: {r:?}"));
    let query = location.split_once('?').map(|(_, q)| q).unwrap_or("");
    query
        .split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_string(), dec(v)))
        .collect()
}

pub(crate) fn authorize_query(client: &str, extra: &str) -> String {
    format!(
        "response_type=code&client_id={client}&redirect_uri={}&state=st-1&code_challenge={}&code_challenge_method=S256{extra}",
        enc(REDIRECT),
        challenge(VERIFIER)
    )
}

pub(crate) fn login_form(page: &Resp, user: &str, password: &str) -> String {
    format!(
        "action=login&csrf={}&request={}&username={user}&password={}",
        enc(&hidden(page, "csrf")),
        enc(&hidden(page, "request")),
        enc(password)
    )
}

pub(crate) fn consent_form(page: &Resp, decision: &str) -> String {
    format!(
        "action=consent&decision={decision}&csrf={}&request={}",
        enc(&hidden(page, "csrf")),
        enc(&hidden(page, "request"))
    )
}

fn exchange(s: &Server, client: &str, secret: Option<&str>, code: &str, verifier: &str) -> Resp {
    let form = format!(
        "grant_type=authorization_code&code={code}&redirect_uri={}&code_verifier={verifier}",
        enc(REDIRECT)
    );
    match secret {
        Some(secret) => s.post_basic("/token", client, secret, &form),
        None => s.post_form("/token", &format!("{form}&client_id={client}")),
    }
}

fn setup(s: &Server) -> String {
    s.add_user("alice", "correct horse", &["read", "write"]);
    add_dash(s)
}

fn add_dash(s: &Server) -> String {
    let out = s.admin_json(&[
        "client",
        "add",
        "dash",
        "--grant",
        "authorization_code",
        "--grant",
        "refresh_token",
        "--scope",
        "read",
        "--scope",
        "admin",
        "--redirect-uri",
        REDIRECT,
        "--json",
    ]);
    let secret = out["client_secret"].as_str().unwrap().to_string();
    s.remember_secret(&secret);
    secret
}

#[test]
fn a_person_signs_in_consents_and_the_app_gets_tokens_with_pkce() {
    let s = Server::start();
    let secret = setup(&s);
    let mut b = Browser::new(&s, "127.0.0.40");

    let login = b.get(&format!("/authorize?{}", authorize_query("dash", "")));
    assert_eq!(login.status, 200);
    let html = String::from_utf8_lossy(&login.body).to_string();
    assert!(html.contains("Sign in") && html.contains("dash"), "{html}");
    for (h, want) in [
        ("content-security-policy", "default-src 'none'"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        ("cache-control", "no-store"),
    ] {
        assert!(login.header(h).unwrap_or("").contains(want), "{h}");
    }
    let browser_cookie = login
        .headers
        .iter()
        .find(|(n, v)| n == "set-cookie" && v.starts_with("piauth_b="))
        .map(|(_, v)| v.clone())
        .unwrap();
    assert!(browser_cookie.contains("HttpOnly") && browser_cookie.contains("SameSite=Lax"));

    // A wrong password shows the form again, and changes nothing.
    let wrong = b.post(&login_form(&login, "alice", "wrong"));
    assert_eq!(wrong.status, 401);
    assert!(String::from_utf8_lossy(&wrong.body).contains("Wrong user name or password"));
    // A form without the browser's CSRF token is refused.
    let mut forged = login_form(&login, "alice", "correct horse");
    forged = forged.replace(
        &format!("csrf={}", enc(&hidden(&login, "csrf"))),
        "csrf=forged",
    );
    assert_eq!(b.post(&forged).status, 403);

    let consent = b.post(&login_form(&login, "alice", "correct horse"));
    assert_eq!(consent.status, 200);
    let html = String::from_utf8_lossy(&consent.body).to_string();
    assert!(html.contains("Allow") && html.contains("read"), "{html}");
    assert!(
        !html.contains("admin"),
        "the user has no admin scope: not asked"
    );
    let back = b.post(&consent_form(&consent, "allow"));
    assert_eq!(back.status, 303);
    assert!(back.header("location").unwrap().starts_with(REDIRECT));
    let p = location_params(&back);
    assert_eq!(p["state"], "st-1");
    assert_eq!(p["iss"], s.issuer(), "RFC 9207");
    let code = p["code"].clone();

    // The wrong verifier, another client, another redirect URI: refused, and the code is
    // spent by the first try (so each case gets its own code below).
    let r = exchange(&s, "dash", Some(&secret), &code, &"x".repeat(43));
    assert_eq!(r.error(), "invalid_grant");
    let r = exchange(&s, "dash", Some(&secret), &code, VERIFIER);
    assert_eq!(r.error(), "invalid_grant", "a code is used once");

    // Consent is remembered: the next authorization goes straight back with a code.
    let back = b.get(&format!("/authorize?{}", authorize_query("dash", "")));
    assert_eq!(back.status, 303, "{}", String::from_utf8_lossy(&back.body));
    let code = location_params(&back)["code"].clone();
    let r = exchange(&s, "dash", Some(&secret), &code, VERIFIER);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let t = r.json();
    let (_, at) = crate::util::jwt_parts(t["access_token"].as_str().unwrap());
    assert_eq!(at["sub"], "alice");
    assert_eq!(at["client_id"], "dash");
    assert_eq!(at["scope"], "read");
    let refresh = t["refresh_token"].as_str().unwrap().to_string();

    // The same code again: refused, and what it issued is revoked (RFC 6749 §4.1.2).
    let r = exchange(&s, "dash", Some(&secret), &code, VERIFIER);
    assert_eq!(r.error(), "invalid_grant");
    let info = s.introspect("dash", &secret, t["access_token"].as_str().unwrap());
    assert_eq!(
        info["active"], false,
        "the access token of a reused code is revoked"
    );
    let r = s.post_basic(
        "/token",
        "dash",
        &secret,
        &format!("grant_type=refresh_token&refresh_token={refresh}"),
    );
    assert_eq!(r.error(), "invalid_grant", "so is its refresh token");
    s.wait_for_log("outcome=code_reused_grant_revoked client=dash", 1);

    // A code for another client is refused to it; its redirect URI must match.
    let back = b.get(&format!("/authorize?{}", authorize_query("dash", "")));
    let code = location_params(&back)["code"].clone();
    let form = format!(
        "grant_type=authorization_code&code={code}&redirect_uri={}&code_verifier={VERIFIER}",
        enc("https://dash.home/other")
    );
    let r = s.post_basic("/token", "dash", &secret, &form);
    assert_eq!(r.error(), "invalid_grant");

    // A denial goes back as access_denied.
    let consent = b.get(&format!(
        "/authorize?{}",
        authorize_query("dash", "&prompt=consent")
    ));
    assert_eq!(consent.status, 200);
    let denied = b.post(&consent_form(&consent, "deny"));
    let p = location_params(&denied);
    assert_eq!(
        (p["error"].as_str(), p["state"].as_str()),
        ("access_denied", "st-1")
    );
    s.wait_for_log(
        "audit action=authorize outcome=denied client=dash user=alice",
        1,
    );
    assert!(!s.logs().contains("correct horse"));

    // Consent goes with its client: one added again under the id must ask again.
    let q = authorize_query("dash", "&prompt=none");
    assert!(location_params(&b.get(&format!("/authorize?{q}"))).contains_key("code"));
    assert!(s.cmd(&["client", "remove", "dash"]).status.success());
    add_dash(&s);
    let p = location_params(&b.get(&format!("/authorize?{q}")));
    assert_eq!(p["error"], "consent_required");
}

#[test]
fn requests_that_cannot_be_trusted_never_redirect_and_the_rest_redirect_with_the_error() {
    let s = Server::start();
    setup(&s);
    let mut b = Browser::new(&s, "127.0.0.41");
    // Unknown client, unregistered redirect URI: an error page, no Location.
    for q in [
        authorize_query("nobody", ""),
        authorize_query("dash", "").replace(&enc(REDIRECT), &enc("https://evil.example/cb")),
        authorize_query("dash", "").replace(&enc(REDIRECT), &enc("https://dash.home/cb/x")),
    ] {
        let r = b.get(&format!("/authorize?{q}"));
        assert_eq!(r.status, 400, "{q}");
        assert!(r.header("location").is_none());
        assert!(r.header("content-type").unwrap().starts_with("text/html"));
    }
    // Everything else goes back to the app, with state and iss.
    let cases = [
        ("&code_challenge_method=plain", "invalid_request"),
        ("&scope=root", "invalid_scope"),
        ("&prompt=none", "login_required"),
    ];
    for (extra, error) in cases {
        let q = authorize_query("dash", "").replace("&code_challenge_method=S256", "") + extra;
        let q = if extra.contains("method") {
            q
        } else {
            q + "&code_challenge_method=S256"
        };
        let r = b.get(&format!("/authorize?{q}"));
        assert_eq!(r.status, 303, "{extra}");
        let p = location_params(&r);
        assert_eq!(p["error"], error, "{extra}");
        assert_eq!(p["state"], "st-1");
        assert_eq!(p["iss"], s.issuer());
    }
    let no_pkce = format!(
        "response_type=code&client_id=dash&redirect_uri={}&state=st-1",
        enc(REDIRECT)
    );
    let p = location_params(&b.get(&format!("/authorize?{no_pkce}")));
    assert_eq!(p["error"], "invalid_request", "PKCE is required");
    let token = authorize_query("dash", "").replace("response_type=code", "response_type=token");
    let p = location_params(&b.get(&format!("/authorize?{token}")));
    assert_eq!(p["error"], "unsupported_response_type");
    // A form from another browser (no cookie) is refused.
    let login = b.get(&format!("/authorize?{}", authorize_query("dash", "")));
    let form = login_form(&login, "alice", "correct horse");
    b.forget_cookies();
    assert_eq!(b.post(&form).status, 403);
}

#[test]
fn a_public_app_uses_pkce_and_no_secret_and_nothing_else() {
    let s = Server::start();
    s.add_user("alice", "correct horse", &["read"]);
    let app = s.admin_json(&[
        "client",
        "add",
        "phone",
        "--public",
        "--grant",
        "authorization_code",
        "--grant",
        "refresh_token",
        "--scope",
        "read",
        "--redirect-uri",
        REDIRECT,
        "--json",
    ]);
    assert!(app.get("client_secret").is_none(), "{app}");
    assert_eq!(app["auth"], "none");
    for bad in [
        vec![
            "client",
            "add",
            "p2",
            "--public",
            "--grant",
            "client_credentials",
        ],
        vec!["client", "add", "p3", "--grant", "authorization_code"],
        vec![
            "client",
            "add",
            "p4",
            "--redirect-uri",
            "javascript:alert(1)",
        ],
    ] {
        assert!(!s.cmd(&bad).status.success(), "{bad:?}");
    }
    let mut b = Browser::new(&s, "127.0.0.42");
    let login = b.get(&format!("/authorize?{}", authorize_query("phone", "")));
    let consent = b.post(&login_form(&login, "alice", "correct horse"));
    let back = b.post(&consent_form(&consent, "allow"));
    let code = location_params(&back)["code"].clone();
    let r = exchange(&s, "phone", None, &code, VERIFIER);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let t = r.json();
    // An app in a browser calls from its own origin: the token endpoint answers CORS, and a
    // preflight; the pages do not.
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    let pre = s.raw(
        b"OPTIONS /token HTTP/1.1\r\nHost: x\r\nOrigin: https://app.home\r\n\
          Access-Control-Request-Method: POST\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(pre.status, 204);
    assert!(pre
        .header("access-control-allow-headers")
        .unwrap()
        .contains("Authorization"));
    assert!(b
        .get("/device")
        .header("access-control-allow-origin")
        .is_none());
    // It refreshes with its id alone; it may not introspect or use another grant.
    let refresh = |r: &serde_json::Value| {
        s.post_form(
            "/token",
            &format!(
                "grant_type=refresh_token&client_id=phone&refresh_token={}",
                r["refresh_token"].as_str().unwrap()
            ),
        )
    };
    let refreshed = refresh(&t);
    assert_eq!(refreshed.status, 200);
    // The person takes it back: the app's refresh token dies and it must ask again.
    let out = s.admin_json(&["user", "revoke", "alice", "phone", "--json"]);
    assert_eq!(out["consent_removed"], true, "{out}");
    assert_eq!(out["sessions_ended"], 1, "{out}");
    let again = refresh(&refreshed.json());
    assert_eq!(again.error(), "invalid_grant");
    let asks = b.get(&format!("/authorize?{}", authorize_query("phone", "")));
    assert!(
        String::from_utf8_lossy(&asks.body).contains("Allow"),
        "consent asked again"
    );
    let r = s.post_form(
        "/introspect",
        &format!(
            "client_id=phone&token={}",
            t["access_token"].as_str().unwrap()
        ),
    );
    assert_eq!(r.status, 401);
    let r = s.post_form("/token", "grant_type=client_credentials&client_id=phone");
    assert_eq!(r.error(), "unauthorized_client");
    // A confidential client cannot drop its secret.
    add_dash(&s);
    let r = s.post_form("/token", "grant_type=client_credentials&client_id=dash");
    assert_eq!(r.error(), "invalid_client");
}

#[test]
fn openid_connect_gives_an_id_token_userinfo_discovery_and_logout() {
    let s = Server::start();
    let out = s.cmd_stdin(
        &[
            "user",
            "add",
            "alice",
            "--scope",
            "read",
            "--name",
            "Alice Liddell",
            "--email",
            "alice@home.arpa",
            "--password-stdin",
        ],
        "correct horse\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    s.remember_secret("correct horse");
    let wiki = s.admin_json(&[
        "client",
        "add",
        "wiki",
        "--grant",
        "authorization_code",
        "--grant",
        "refresh_token",
        "--scope",
        "openid",
        "--scope",
        "profile",
        "--scope",
        "email",
        "--scope",
        "read",
        "--redirect-uri",
        REDIRECT,
        "--json",
    ]);
    let secret = wiki["client_secret"].as_str().unwrap().to_string();
    s.remember_secret(&secret);

    // RS256, OpenID Connect's default, beside the ES256 access-token key, once its key is made.
    s.wait_id_key();
    let d = s.get("/.well-known/openid-configuration").json();
    assert_eq!(d["issuer"], s.issuer());
    assert_eq!(d["userinfo_endpoint"], format!("{}/userinfo", s.issuer()));
    assert_eq!(d["end_session_endpoint"], format!("{}/logout", s.issuer()));
    assert_eq!(
        d["id_token_signing_alg_values_supported"],
        serde_json::json!(["RS256", "ES256"])
    );
    assert_eq!(
        d["response_modes_supported"],
        serde_json::json!(["query", "fragment", "form_post"])
    );
    assert_eq!(d["subject_types_supported"], serde_json::json!(["public"]));

    let mut b = Browser::new(&s, "127.0.0.43");
    let q = authorize_query("wiki", "&scope=openid%20profile%20email&nonce=n-1");
    let login = b.get(&format!("/authorize?{q}"));
    let consent = b.post(&login_form(&login, "alice", "correct horse"));
    let html = String::from_utf8_lossy(&consent.body).to_string();
    assert!(html.contains("See your email address"), "{html}");
    assert!(!html.contains("read"), "not asked for");
    let code = location_params(&b.post(&consent_form(&consent, "allow")))["code"].clone();
    let t = exchange(&s, "wiki", Some(&secret), &code, VERIFIER).json();
    let id_token = t["id_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no id_token: {t}"));
    let access = t["access_token"].as_str().unwrap();

    // The ID token verifies against the JWKS, and says what OpenID Connect Core §2 says.
    let header = jsonwebtoken::decode_header(id_token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("JWT"));
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
    let jwks: jsonwebtoken::jwk::JwkSet =
        serde_json::from_value(s.get("/jwks.json").json()).unwrap();
    let jwk = jwks.find(header.kid.as_deref().unwrap()).unwrap();
    let mut v = jsonwebtoken::Validation::new(header.alg);
    v.set_audience(&["wiki"]);
    v.set_issuer(&[s.issuer()]);
    let claims = jsonwebtoken::decode::<serde_json::Value>(
        id_token,
        &jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap(),
        &v,
    )
    .unwrap()
    .claims;
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["nonce"], "n-1");
    assert_eq!(claims["azp"], "wiki");
    // What most apps read from the ID token rather than UserInfo; the operator typed the
    // address, so it is verified.
    assert_eq!(claims["email"], "alice@home.arpa");
    assert_eq!(claims["email_verified"], true);
    assert_eq!(claims["name"], "Alice Liddell");
    assert!(claims["auth_time"].as_u64().unwrap() <= claims["iat"].as_u64().unwrap());
    let digest = sha2::Sha256::digest(access.as_bytes());
    assert_eq!(claims["at_hash"], URL_SAFE_NO_PAD.encode(&digest[..16]));

    // UserInfo, by scope; and what it refuses.
    let bearer = |token: &str| {
        let req = format!(
            "GET /userinfo HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
        );
        s.raw(req.as_bytes())
    };
    // A refresh keeps the identity scopes (every person may share them), so UserInfo still works.
    let r = s.post_basic(
        "/token",
        "wiki",
        &secret,
        &format!(
            "grant_type=refresh_token&refresh_token={}",
            t["refresh_token"].as_str().unwrap()
        ),
    );
    assert_eq!(r.json()["scope"], "email openid profile", "{:?}", r.json());
    assert_eq!(
        bearer(r.json()["access_token"].as_str().unwrap()).status,
        200
    );
    let info = bearer(access).json();
    assert_eq!(info["sub"], "alice");
    assert_eq!(info["name"], "Alice Liddell");
    assert_eq!(info["email"], "alice@home.arpa");
    let r = s.get("/userinfo");
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate"),
        Some("Bearer realm=\"piauth\"")
    );
    let r = bearer("not-a-token");
    assert_eq!(r.status, 401);
    assert!(r
        .header("www-authenticate")
        .unwrap()
        .contains("invalid_token"));

    // With a session and consent, prompt=none answers at once; prompt=login asks again.
    let q = authorize_query("wiki", "&scope=openid&prompt=none");
    let r = b.get(&format!("/authorize?{q}"));
    assert!(location_params(&r).contains_key("code"), "{r:?}");
    let q = authorize_query("wiki", "&scope=openid&prompt=login");
    let r = b.get(&format!("/authorize?{q}"));
    assert_eq!(r.status, 200);
    assert!(String::from_utf8_lossy(&r.body).contains("Sign in"));

    // A logout without an ID token of piauth's asks the person first: a link from anywhere
    // must not sign them out.
    let ask = b.get(&format!(
        "/logout?client_id=wiki&post_logout_redirect_uri={}&state=bye",
        enc(REDIRECT)
    ));
    assert_eq!(ask.status, 200);
    assert!(String::from_utf8_lossy(&ask.body).contains("Sign out?"));
    let q = authorize_query("wiki", "&scope=openid&prompt=none");
    assert!(
        location_params(&b.get(&format!("/authorize?{q}"))).contains_key("code"),
        "still signed in"
    );
    // Confirmed, it ends the session and goes back to a URI the app registered, with state.
    let form = format!(
        "csrf={}&request={}",
        enc(&hidden(&ask, "csrf")),
        enc(&hidden(&ask, "request"))
    );
    let r = b.send_post("/logout", &form);
    assert_eq!(r.status, 303);
    assert_eq!(
        r.header("location"),
        Some(format!("{REDIRECT}?state=bye").as_str())
    );
    let r = b.get(&format!("/authorize?{q}"));
    assert_eq!(location_params(&r)["error"], "login_required");
    // With the app's ID token as the hint, no question: the app is asking.
    let login = b.get(&format!(
        "/authorize?{}",
        authorize_query("wiki", "&scope=openid")
    ));
    let back = b.post(&login_form(&login, "alice", "correct horse"));
    assert_eq!(back.status, 303, "consent remembered");
    let r = b.get(&format!(
        "/logout?id_token_hint={id_token}&post_logout_redirect_uri={}",
        enc(REDIRECT)
    ));
    assert_eq!(r.header("location"), Some(REDIRECT));
    let r = b.get(&format!("/authorize?{q}"));
    assert_eq!(location_params(&r)["error"], "login_required");
    // Someone else's ID token signs nobody out unasked: bob's browser is asked.
    s.add_user("bob", "bob pass", &["read"]);
    let mut bobs = Browser::new(&s, "127.0.0.44");
    let login = bobs.get(&format!(
        "/authorize?{}",
        authorize_query("wiki", "&scope=openid")
    ));
    bobs.post(&login_form(&login, "bob", "bob pass"));
    let r = bobs.get(&format!("/logout?id_token_hint={id_token}"));
    assert!(String::from_utf8_lossy(&r.body).contains("Sign out?"));
    // An access token is no hint, and an unregistered place to go back to is not followed.
    let r = b.get(&format!("/logout?id_token_hint={access}"));
    assert!(String::from_utf8_lossy(&r.body).contains("Sign out?"));
    let r = b.get(&format!(
        "/logout?id_token_hint={id_token}&post_logout_redirect_uri={}",
        enc("https://evil.example/")
    ));
    assert_eq!(r.status, 200);
    assert!(r.header("location").is_none());
}
