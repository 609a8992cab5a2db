//! The device flow (RFC 8628) through the real binary: a TV asks, a person approves or
//! denies on a phone, the TV polls.

use crate::authorize::{enc, hidden, Browser};
use crate::util::{Resp, Server};

const GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

fn start(s: &Server, client: &str) -> serde_json::Value {
    let r = s.post_form(
        "/device_authorization",
        &format!("client_id={client}&scope=media"),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    r.json()
}

fn poll(s: &Server, device_code: &str) -> Resp {
    s.post_form(
        "/token",
        &format!("grant_type={GRANT}&client_id=tv&device_code={device_code}"),
    )
}

fn html(r: &Resp) -> String {
    String::from_utf8_lossy(&r.body).to_string()
}

#[test]
fn a_tv_gets_tokens_once_a_person_approves_and_nothing_when_they_deny() {
    let s = Server::start();
    s.add_user("alice", "correct horse", &["media"]);
    let tv = s.admin_json(&[
        "client",
        "add",
        "tv",
        "--public",
        "--grant",
        GRANT,
        "--grant",
        "refresh_token",
        "--scope",
        "media",
        "--json",
    ]);
    assert_eq!(tv["auth"], "none");
    let d = start(&s, "tv");
    let user_code = d["user_code"].as_str().unwrap().to_string();
    assert_eq!(user_code.len(), 9);
    assert!(user_code
        .chars()
        .all(|c| c == '-' || "BCDFGHJKLMNPQRSTVWXZ".contains(c)));
    assert_eq!(d["verification_uri"], format!("{}/device", s.issuer()));
    assert_eq!(
        d["verification_uri_complete"],
        format!("{}/device?user_code={user_code}", s.issuer())
    );
    assert_eq!(
        (d["expires_in"].as_u64(), d["interval"].as_u64()),
        (Some(600), Some(5))
    );
    let device_code = d["device_code"].as_str().unwrap().to_string();

    // Polling before the person decides, and too fast.
    assert_eq!(poll(&s, &device_code).error(), "authorization_pending");
    assert_eq!(poll(&s, &device_code).error(), "slow_down");

    // The phone opens verification_uri_complete, signs in, and allows.
    let mut phone = Browser::new(&s, "127.0.0.50");
    let login = phone.get(&format!("/device?user_code={user_code}"));
    assert_eq!(login.status, 200);
    assert!(
        html(&login).contains("action=\"/device\""),
        "{}",
        html(&login)
    );
    let form = format!(
        "action=login&csrf={}&request={}&username=alice&password={}",
        enc(&hidden(&login, "csrf")),
        enc(&hidden(&login, "request")),
        enc("correct horse")
    );
    let consent = phone.send_post("/device", &form);
    assert_eq!(consent.status, 200, "{}", html(&consent));
    assert!(html(&consent).contains(&user_code) && html(&consent).contains("tv"));
    let allow = format!(
        "action=decide&decision=allow&csrf={}&user_code={user_code}",
        enc(&hidden(&consent, "csrf"))
    );
    let done = phone.send_post("/device", &allow);
    assert!(html(&done).contains("Device connected"), "{}", html(&done));
    s.wait_for_log(
        "audit action=device outcome=approved client=tv user=alice",
        1,
    );

    let t = poll(&s, &device_code);
    assert_eq!(t.status, 200, "{}", String::from_utf8_lossy(&t.body));
    let t = t.json();
    let (_, at) = crate::util::jwt_parts(t["access_token"].as_str().unwrap());
    assert_eq!(
        (at["sub"].as_str(), at["client_id"].as_str()),
        (Some("alice"), Some("tv"))
    );
    assert_eq!(at["scope"], "media");
    assert!(t["refresh_token"].is_string());
    assert_eq!(poll(&s, &device_code).error(), "invalid_grant", "used once");

    // A second TV request, typed by hand (any case, no dash), denied.
    let d = start(&s, "tv");
    let code = d["user_code"]
        .as_str()
        .unwrap()
        .replace('-', "")
        .to_lowercase();
    let entry = phone.get("/device");
    assert!(html(&entry).contains("Type the code"), "{}", html(&entry));
    let form = format!(
        "action=code&csrf={}&user_code={code}",
        enc(&hidden(&entry, "csrf"))
    );
    let consent = phone.send_post("/device", &form);
    assert_eq!(consent.status, 200, "{}", html(&consent));
    let deny = format!(
        "action=decide&decision=deny&csrf={}&user_code={}",
        enc(&hidden(&consent, "csrf")),
        hidden(&consent, "user_code")
    );
    assert!(html(&phone.send_post("/device", &deny)).contains("Device refused"));
    assert_eq!(
        poll(&s, d["device_code"].as_str().unwrap()).error(),
        "access_denied"
    );
}

#[test]
fn guessing_user_codes_is_throttled_and_only_device_clients_may_start() {
    let s = Server::start();
    s.add_user("alice", "correct horse", &["media"]);
    s.admin_json(&[
        "client", "add", "tv", "--public", "--grant", GRANT, "--scope", "media", "--json",
    ]);
    let secret = s.add_client("sensor", &["client_credentials"], &["media"]);
    let r = s.post_basic("/device_authorization", "sensor", &secret, "scope=media");
    assert_eq!(r.error(), "unauthorized_client");
    let r = s.post_form("/device_authorization", "client_id=tv&scope=root");
    assert_eq!(r.error(), "invalid_scope");
    let r = s.post_form("/device_authorization", "client_id=nobody");
    assert_eq!(r.error(), "invalid_client");

    let mut phone = Browser::new(&s, "127.0.0.51");
    let login = phone.get("/device");
    let form = format!(
        "action=login&csrf={}&request=&username=alice&password={}",
        enc(&hidden(&login, "csrf")),
        enc("correct horse")
    );
    let entry = phone.send_post("/device", &form);
    let csrf = hidden(&entry, "csrf");
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let r = phone.send_post(
            "/device",
            &format!("action=code&csrf={}&user_code=BCDF-GHJK", enc(&csrf)),
        );
        statuses.push(r.status);
    }
    assert_eq!(
        statuses,
        [400, 400, 400, 400, 400, 429],
        "wrong codes, then a wait"
    );
    // Even the right code waits now, from that address.
    let d = start(&s, "tv");
    let r = phone.send_post(
        "/device",
        &format!(
            "action=code&csrf={}&user_code={}",
            enc(&csrf),
            d["user_code"].as_str().unwrap()
        ),
    );
    assert_eq!(r.status, 429);

    // Guessing through the decision form counts the same, from another address.
    let mut other = Browser::new(&s, "127.0.0.52");
    let login = other.get("/device");
    let form = format!(
        "action=login&csrf={}&request=&username=alice&password={}",
        enc(&hidden(&login, "csrf")),
        enc("correct horse")
    );
    let entry = other.send_post("/device", &form);
    let csrf = hidden(&entry, "csrf");
    let statuses: Vec<u16> = (0..6)
        .map(|_| {
            let guess = format!(
                "action=decide&decision=allow&csrf={}&user_code=BCDF-GHJK",
                enc(&csrf)
            );
            other.send_post("/device", &guess).status
        })
        .collect();
    assert_eq!(statuses, [410, 410, 410, 410, 410, 429]);
}

#[test]
fn a_device_app_that_requires_a_second_factor_is_approved_only_after_one() {
    let s = Server::start();
    s.add_user("alice", "correct horse", &["media"]);
    s.admin_json(&[
        "client",
        "add",
        "tv",
        "--public",
        "--grant",
        GRANT,
        "--scope",
        "media",
        "--require-second-factor",
        "--json",
    ]);
    let d = start(&s, "tv");
    let user_code = d["user_code"].as_str().unwrap().to_string();
    let mut phone = Browser::new(&s, "127.0.0.50");
    let login = phone.get(&format!("/device?user_code={user_code}"));
    let form = format!(
        "action=login&csrf={}&request={}&username=alice&password={}",
        enc(&hidden(&login, "csrf")),
        enc(&hidden(&login, "request")),
        enc("correct horse")
    );
    // Alice has no second factor: she is led to set one up, not to the approval.
    let next = phone.send_post("/device", &form);
    assert!(html(&next).contains("name=\"secret\""), "{}", html(&next));
    // An approval posted anyway is a denial.
    let allow = format!(
        "action=decide&decision=allow&csrf={}&user_code={user_code}",
        enc(&hidden(&next, "csrf"))
    );
    let done = phone.send_post("/device", &allow);
    assert!(!html(&done).contains("Device connected"), "{}", html(&done));
    assert_ne!(poll(&s, d["device_code"].as_str().unwrap()).status, 200);
}
