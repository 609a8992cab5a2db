//! Second factors and the account page through the real binary: one-time codes set up from
//! the account page with a code this test computes itself (RFC 6238, not the server's
//! crate), a sign-in that asks for one, replays and guesses refused, recovery codes used
//! once, the operator's rules, `user reset-factors`, and the password grant closed to a
//! person with a second factor.

use crate::authorize::{
    authorize_query, consent_form, enc, hidden, location_params, Browser, REDIRECT, VERIFIER,
};
use crate::util::{jwt_parts, Resp, Server};
use hmac::{Hmac, Mac};

/// RFC 6238 with HMAC-SHA-1, six digits, 30-second steps: the code for Unix time `t`.
fn totp(secret_b32: &str, t: u64) -> String {
    let key = base32_decode(secret_b32);
    let mut mac = <Hmac<sha1::Sha1> as Mac>::new_from_slice(&key).unwrap();
    mac.update(&(t / 30).to_be_bytes());
    let h = mac.finalize().into_bytes();
    let o = usize::from(h[19] & 15);
    let n = u32::from_be_bytes([h[o], h[o + 1], h[o + 2], h[o + 3]]) & 0x7fff_ffff;
    format!("{:06}", n % 1_000_000)
}

fn base32_decode(s: &str) -> Vec<u8> {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut acc, mut bits, mut out) = (0u64, 0, Vec::new());
    for c in s.bytes().filter(|c| *c != b' ') {
        let v = alphabet
            .iter()
            .position(|a| *a == c.to_ascii_uppercase())
            .unwrap() as u64;
        acc = (acc << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn body(r: &Resp) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

fn form(page: &Resp, action: &str, extra: &str) -> String {
    let request = if body(page).contains("name=\"request\"") {
        hidden(page, "request")
    } else {
        String::new()
    };
    format!(
        "action={action}&csrf={}&request={}{extra}",
        enc(&hidden(page, "csrf")),
        enc(&request)
    )
}

/// Signs in on /account with a password: the page after it.
fn account_sign_in(b: &mut Browser, user: &str, password: &str) -> Resp {
    let login = b.get("/account");
    assert_eq!(login.status, 200);
    b.send_post(
        "/account",
        &form(
            &login,
            "login",
            &format!("&username={user}&password={}", enc(password)),
        ),
    )
}

/// Sets up one-time codes from the account page: the key and the recovery codes.
fn enroll(b: &mut Browser, account: &Resp) -> (String, Vec<String>) {
    let setup = b.send_post("/account", &form(account, "totp_start", ""));
    assert_eq!(setup.status, 200, "{}", body(&setup));
    assert!(
        body(&setup).contains("<svg"),
        "the QR code is drawn in the page"
    );
    let secret = hidden(&setup, "secret");
    let t = now();
    let done = b.send_post(
        "/account",
        &form(
            &setup,
            "enroll",
            &format!("&secret={secret}&code={}", totp(&secret, t)),
        ),
    );
    assert_eq!(done.status, 200, "{}", body(&done));
    let html = body(&done);
    let codes: Vec<String> = html
        .split("<li>")
        .skip(1)
        .map(|l| l[..l.find("</li>").unwrap()].to_string())
        .collect();
    assert_eq!(codes.len(), 10, "{html}");
    (secret, codes)
}

#[test]
fn one_time_codes_are_set_up_asked_for_spent_once_and_reset_by_the_operator() {
    let s = Server::start();
    s.wait_id_key();
    s.add_user("alice", "correct horse", &["read"]);
    let app = s.admin_json(&[
        "client",
        "add",
        "dash",
        "--grant",
        "authorization_code",
        "--scope",
        "read",
        "--scope",
        "openid",
        "--redirect-uri",
        REDIRECT,
        "--json",
    ]);
    let app_secret = app["client_secret"].as_str().unwrap().to_string();
    s.remember_secret(&app_secret);
    let pw_app = s.add_client("script", &["password"], &["read"]);
    // Before: the password grant works for alice.
    let grant = "grant_type=password&username=alice&password=correct%20horse";
    assert_eq!(s.post_basic("/token", "script", &pw_app, grant).status, 200);

    let mut phone = Browser::new(&s, "127.0.0.1");
    let account = account_sign_in(&mut phone, "alice", "correct horse");
    assert_eq!(account.status, 200);
    assert!(body(&account).contains("Set up one-time codes"));
    let (secret, codes) = enroll(&mut phone, &account);
    s.remember_secret(&secret);
    for c in &codes {
        s.remember_secret(c);
    }
    let shown = s.admin_json(&["user", "show", "alice", "--json"]);
    assert!(shown["factors"]["totp"]["added_at"].is_u64(), "{shown}");
    assert_eq!(shown["factors"]["recovery_codes_left"], 10);
    assert!(
        !shown.to_string().contains(&secret),
        "user show never prints the key"
    );

    // The password grant no longer gets around the second factor.
    let refused = s.post_basic("/token", "script", &pw_app, grant);
    assert_eq!(refused.status, 400);
    assert!(refused.json()["error_description"]
        .as_str()
        .unwrap()
        .contains("second factor"));

    // An app's sign-in now asks for a code after the password.
    let mut laptop = Browser::new(&s, "127.0.0.1");
    let q = authorize_query("dash", "&scope=openid%20read&nonce=n1");
    let login = laptop.get(&format!("/authorize?{q}"));
    assert_eq!(login.status, 200, "{:?}", login.header("location"));
    let step2 = laptop.post(&crate::authorize::login_form(
        &login,
        "alice",
        "correct horse",
    ));
    assert_eq!(step2.status, 200);
    assert!(body(&step2).contains("name=\"code\""), "{}", body(&step2));
    // The password alone signed nobody in: the account page still asks to sign in.
    assert!(body(&laptop.get("/account")).contains("name=\"password\""));
    // The enrolment spent this step's code; the next step's is good once.
    let code = totp(&secret, now() + 30);
    let consent = laptop.post(&form(&step2, "second_factor", &format!("&code={code}")));
    assert_eq!(consent.status, 200, "{}", body(&consent));
    let back = laptop.post(&consent_form(&consent, "allow"));
    let got = location_params(&back);
    let tokens = s.post_basic(
        "/token",
        "dash",
        &app_secret,
        &format!(
            "grant_type=authorization_code&code={}&redirect_uri={}&code_verifier={VERIFIER}",
            got["code"],
            enc(REDIRECT)
        ),
    );
    assert_eq!(tokens.status, 200, "{}", tokens.error());
    let (_, id) = jwt_parts(tokens.json()["id_token"].as_str().unwrap());
    assert_eq!(id["amr"], serde_json::json!(["pwd", "otp", "mfa"]), "{id}");

    // The same code again, from another browser: spent.
    let mut other = Browser::new(&s, "127.0.0.2");
    let login = other.get(&format!("/authorize?{q}"));
    let step2 = other.post(&crate::authorize::login_form(
        &login,
        "alice",
        "correct horse",
    ));
    let replay = other.post(&form(&step2, "second_factor", &format!("&code={code}")));
    assert_eq!(replay.status, 401, "a replayed code is refused");
    // A recovery code signs in once.
    let rec = other.post(&form(
        &step2,
        "second_factor",
        &format!("&code={}", codes[0].to_uppercase()),
    ));
    assert_eq!(rec.status, 200, "{}", body(&rec));
    assert!(
        body(&rec).contains("9 recovery codes are left"),
        "{}",
        body(&rec)
    );
    let mut third = Browser::new(&s, "127.0.0.3");
    let login = third.get("/account");
    let step2 = third.send_post(
        "/account",
        &form(&login, "login", "&username=alice&password=correct%20horse"),
    );
    let again = third.send_post(
        "/account",
        &form(&step2, "second_factor", &format!("&code={}", codes[0])),
    );
    assert_eq!(again.status, 401, "a recovery code is good once");
    // Guessing: a sign-in ends at its fifth wrong code (this one's second was above)...
    for _ in 0..3 {
        let r = third.send_post("/account", &form(&step2, "second_factor", "&code=000001"));
        assert_eq!(r.status, 401);
        assert!(body(&r).contains("name=\"code\""), "still the code form");
    }
    let r = third.send_post("/account", &form(&step2, "second_factor", "&code=000001"));
    assert!(body(&r).contains("Too many wrong codes"), "{}", body(&r));
    let r = third.send_post("/account", &form(&step2, "second_factor", "&code=000001"));
    assert!(body(&r).contains("took too long"), "the session is gone");
    // The log line may trail the page it followed.
    s.wait_for_log("wrong_code", 1);
    // ...and the person's codes are held after ten wrong ones, from however many
    // addresses (two guesses each here, under every per-address limit).
    let mut statuses = Vec::new();
    for i in 4..20 {
        let mut b = Browser::new(&s, &format!("127.0.0.{i}"));
        let login = b.get("/account");
        let step2 = b.send_post(
            "/account",
            &form(&login, "login", "&username=alice&password=correct%20horse"),
        );
        assert!(body(&step2).contains("name=\"code\""));
        for _ in 0..2 {
            let r = b.send_post("/account", &form(&step2, "second_factor", "&code=000001"));
            statuses.push(r.status);
        }
        if statuses.contains(&429) {
            break;
        }
    }
    let first = statuses.iter().position(|s| *s == 429);
    // Six wrong codes before these (one replay, one spent recovery code, four guesses).
    assert!(
        first.is_some_and(|n| n + 6 >= 10),
        "held at the person's limit: {statuses:?}"
    );

    // A lost phone: the operator removes the factors, and the person's browsers sign out.
    assert_eq!(phone.get("/account").status, 200);
    assert!(
        !body(&phone.get("/account")).contains("name=\"password\""),
        "signed in"
    );
    let reset = s.admin_json(&["user", "reset-factors", "alice", "--json"]);
    assert_eq!(reset["factors_removed"], true);
    let after = s.admin_json(&["user", "show", "alice", "--json"]);
    assert!(after["factors"]["totp"].is_null());
    assert_eq!(after["factors"]["recovery_codes_left"], 0);
    assert!(
        body(&phone.get("/account")).contains("name=\"password\""),
        "the session ended"
    );
}

#[test]
fn a_second_factor_the_operator_or_an_app_requires_is_set_up_before_anything_else() {
    let s = Server::start();
    s.add_user("bob", "bob's password", &["read"]);
    s.admin_json(&["user", "edit", "bob", "--require-second-factor", "--json"]);
    let mut b = Browser::new(&s, "127.0.0.1");
    let setup = account_sign_in(&mut b, "bob", "bob's password");
    assert!(
        body(&setup).contains("Set up one-time codes"),
        "{}",
        body(&setup)
    );
    assert!(body(&setup).contains("name=\"secret\""));
    // Not signed in until it is done.
    assert!(body(&b.get("/account")).contains("name=\"password\""));
    let secret = hidden(&setup, "secret");
    s.remember_secret(&secret);
    let wrong = b.send_post(
        "/account",
        &form(&setup, "enroll", &format!("&secret={secret}&code=12345")),
    );
    assert_eq!(wrong.status, 400);
    // A key that is not one (too long, not base32) sets nothing up: a new key is offered.
    let junk = "%21".repeat(5000);
    let bad = b.send_post(
        "/account",
        &form(&setup, "enroll", &format!("&secret={junk}&code=123456")),
    );
    assert_eq!(bad.status, 400);
    assert_ne!(hidden(&bad, "secret"), secret);
    assert_eq!(hidden(&bad, "secret").len(), 32);
    assert!(s.admin_json(&["user", "show", "bob", "--json"])["factors"]["totp"].is_null());
    let done = b.send_post(
        "/account",
        &form(
            &setup,
            "enroll",
            &format!("&secret={secret}&code={}", totp(&secret, now())),
        ),
    );
    assert!(body(&done).contains("recovery-codes"), "{}", body(&done));
    let account = b.get("/account");
    assert!(body(&account).contains("it stays on"), "{}", body(&account));
    // The factor the operator requires cannot be removed.
    let kept = b.send_post("/account", &form(&account, "totp_remove", ""));
    assert!(
        body(&kept).contains("must keep a second factor"),
        "{}",
        body(&kept)
    );
    assert!(s.admin_json(&["user", "show", "bob", "--json"])["factors"]["totp"].is_object());

    // An app that requires one: a person without one is led to set it up first.
    s.add_user("carol", "carol's password", &["read"]);
    s.admin_json(&[
        "client",
        "add",
        "vault",
        "--grant",
        "authorization_code",
        "--scope",
        "read",
        "--redirect-uri",
        REDIRECT,
        "--require-second-factor",
        "--json",
    ]);
    let mut c = Browser::new(&s, "127.0.0.1");
    // An overlong acr_values is refused, not dropped (that would drop an "mfa" in it).
    let long = authorize_query("vault", &format!("&acr_values=mfa{}", "%20x".repeat(200)));
    let refused = c.get(&format!("/authorize?{long}"));
    let back = location_params(&refused);
    assert_eq!(back["error"], "invalid_request", "{back:?}");
    let q = authorize_query("vault", "&scope=read");
    let login = c.get(&format!("/authorize?{q}"));
    let next = c.post(&crate::authorize::login_form(
        &login,
        "carol",
        "carol's password",
    ));
    assert!(body(&next).contains("name=\"secret\""), "{}", body(&next));
    assert_eq!(c.get(&format!("/authorize?{q}")).status, 200);
    assert!(
        body(&c.get(&format!("/authorize?{q}"))).contains("name=\"secret\""),
        "still no code"
    );
}

#[test]
fn the_account_page_changes_the_password_takes_back_an_app_and_signs_out_everywhere() {
    let s = Server::start();
    s.add_user("dan", "first password", &["read"]);
    let mut b = Browser::new(&s, "127.0.0.1");
    let mut other = Browser::new(&s, "127.0.0.2");
    let account = account_sign_in(&mut b, "dan", "first password");
    account_sign_in(&mut other, "dan", "first password");
    // A wrong current password changes nothing.
    let wrong = b.send_post(
        "/account",
        &form(
            &account,
            "password",
            "&old_password=nope&new_password=second%20password&confirm=second%20password",
        ),
    );
    assert!(body(&wrong).contains("not right"), "{}", body(&wrong));
    let changed = b.send_post(
        "/account",
        &form(&account, "password", "&old_password=first%20password&new_password=second%20password&confirm=second%20password"),
    );
    assert!(
        body(&changed).contains("Your password was changed"),
        "{}",
        body(&changed)
    );
    s.remember_secret("second password");
    assert!(
        body(&b.get("/account")).contains("Sign out of every browser"),
        "this browser goes on"
    );
    assert!(
        body(&other.get("/account")).contains("name=\"password\""),
        "the other signed out"
    );
    let mut fresh = Browser::new(&s, "127.0.0.3");
    assert!(body(&account_sign_in(&mut fresh, "dan", "first password")).contains("Wrong user name"));
    let account = account_sign_in(&mut fresh, "dan", "second password");
    assert!(body(&account).contains("No app acts for you"));
    // A form from another page (no CSRF token of this browser) changes nothing.
    let forged = fresh.send_post("/account", "action=sign_out_everywhere&csrf=forged");
    assert_eq!(forged.status, 403);
    assert!(body(&fresh.get("/account")).contains("Sign out of every browser"));
    let out = fresh.send_post("/account", &form(&account, "sign_out_everywhere", ""));
    assert!(
        body(&out).contains("signed out") || body(&out).contains("Signed out"),
        "{}",
        body(&out)
    );
    assert!(
        body(&b.get("/account")).contains("name=\"password\""),
        "every browser"
    );
    s.wait_for_log("signed_out_everywhere", 1);
}

#[test]
fn an_enrollment_link_sets_the_persons_own_password_once() {
    let s = Server::start();
    let out = s.admin_json(&[
        "user", "add", "gina", "--scope", "read", "--enroll", "--json",
    ]);
    let url = out["enroll_url"].as_str().unwrap().to_string();
    assert!(
        url.starts_with(&format!("{}/enroll?user=gina&t=", s.issuer())),
        "{url}"
    );
    let target = &url[s.issuer().len()..];
    let secret = target.split("t=").nth(1).unwrap().to_string();
    s.remember_secret(&secret);
    // No password until the person sets one: an empty one does not sign in.
    let mut b = Browser::new(&s, "127.0.0.1");
    assert!(body(&account_sign_in(&mut b, "gina", "")).contains("Wrong user name"));
    let page = b.get(target);
    assert_eq!(page.status, 200, "{}", body(&page));
    let set = |b: &mut Browser, page: &Resp, new: &str, confirm: &str| {
        b.send_post(
            "/enroll",
            &format!(
                "csrf={}&user=gina&t={}&new_password={}&confirm={}",
                enc(&hidden(page, "csrf")),
                hidden(page, "t"),
                enc(new),
                enc(confirm)
            ),
        )
    };
    assert_eq!(
        set(&mut b, &page, "gina's secret", "gina's secrat").status,
        400
    );
    let done = set(&mut b, &page, "gina's secret", "gina's secret");
    s.remember_secret("gina's secret");
    assert!(
        body(&done).contains("Your password is set"),
        "{}",
        body(&done)
    );
    assert!(
        body(&b.get("/account")).contains("Your account"),
        "signed in"
    );
    // Good once.
    assert_eq!(b.get(target).status, 410);
    assert_eq!(
        set(&mut b, &page, "other password", "other password").status,
        410
    );
    let mut c = Browser::new(&s, "127.0.0.2");
    assert!(body(&account_sign_in(&mut c, "gina", "gina's secret")).contains("Your account"));
    // A new link ends the last; a made-up one is refused.
    let again = s.admin_json(&["user", "enroll", "gina", "--json"]);
    let second = again["enroll_url"].as_str().unwrap()[s.issuer().len()..].to_string();
    s.remember_secret(second.split("t=").nth(1).unwrap());
    assert_eq!(b.get(&second).status, 200);
    assert_eq!(
        b.get("/enroll?user=gina&t=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
            .status,
        410
    );
    s.wait_for_log("bad_link", 1);
    // A password set by a link ends the sessions of the old one.
    let mut d = Browser::new(&s, "127.0.0.3");
    let page = d.get(&second);
    let done = set(&mut d, &page, "gina's new secret", "gina's new secret");
    s.remember_secret("gina's new secret");
    assert!(body(&done).contains("Your password is set"));
    assert!(body(&d.get("/account")).contains("Your account"));
    assert!(
        body(&c.get("/account")).contains("name=\"password\""),
        "the browser of the old password is signed out"
    );
}

#[test]
fn one_device_cannot_take_every_passkey_sign_in_place() {
    // A name in the issuer, so that the pages offer passkeys (not an address).
    let s = Server::start_configured("issuer = \"http://localhost:1\"", &[]);
    let options = |b: &mut Browser| {
        let login = b.get("/account");
        assert_eq!(login.status, 200);
        let form = format!("kind=sign_in&csrf={}", enc(&hidden(&login, "csrf")));
        b.send_post("/passkey/options", &form)
    };
    let mut lamp = Browser::new(&s, "127.0.0.2");
    for _ in 0..4 {
        let r = options(&mut lamp);
        assert_eq!(r.status, 200, "{}", body(&r));
        assert!(body(&r).contains("\"challenge\""), "{}", body(&r));
    }
    let refused = options(&mut lamp);
    assert_eq!(refused.status, 429, "{}", body(&refused));
    assert_eq!(refused.header("retry-after"), Some("300"));
    // The household's other devices still get theirs.
    let mut phone = Browser::new(&s, "127.0.0.3");
    assert_eq!(options(&mut phone).status, 200);
}
