//! The operator's pages over plain values: who may use them, from where, how recent a
//! sign-in a change needs, and that a change is the CLI's command with its change list and
//! audit event.

use crate::protocol::account::policy::Methods;
use crate::protocol::browser::cookies::{csrf, operator_csrf};
use crate::protocol::browser::sessions::Session;
use crate::protocol::operator::pages::{operator_get, operator_post};
use crate::protocol::page::Page;
use crate::protocol::testing::{user, World, PEPPER};
use crate::protocol::{Change, Event, Request, Step};
use crate::vocab::entropy::CountingEntropy;

const SESSION: &str = "session-id-of-root-0123456789";
const BROWSER: &str = "browser-id-0123456789";

fn world() -> World {
    let mut w = World::new(Default::default());
    let mut root = user("root", "", "g");
    root.admin = true;
    w.dir.users.insert("root".into(), root);
    w.dir.users.insert("bea".into(), user("bea", "", "g"));
    w
}

/// `who`'s browser, signed in `ago` seconds before now.
fn sign_in(w: &World, who: &str, ago: u64) -> Session {
    let s = Session {
        username: who.into(),
        generation: "g".into(),
        epoch: 0,
        auth_time: w.now - ago,
        last_seen: w.now,
        methods: Methods::PASSWORD,
        failed_codes: 0,
    };
    w.sessions
        .insert(crate::jose::secret::token_digest(SESSION), s.clone(), w.now);
    s
}

fn request(method: &str, path: &str, body: &str, peer: &str) -> Request {
    Request {
        method: method.into(),
        path: path.into(),
        headers: vec![
            (
                "Cookie".into(),
                format!("piauth_b={BROWSER}; piauth_s={SESSION}"),
            ),
            (
                "Content-Type".into(),
                "application/x-www-form-urlencoded".into(),
            ),
        ],
        body: body.as_bytes().to_vec(),
        peer: Some(peer.parse().unwrap()),
        ..Request::default()
    }
}

/// A form of the operator's pages, with the token the signed-in page carries.
fn post(w: &World, path: &str, form: &str) -> Step {
    let s = w
        .sessions
        .get(&crate::jose::secret::token_digest(SESSION), w.now)
        .unwrap();
    let body = format!("csrf={}&{form}", operator_csrf(PEPPER, BROWSER, &s));
    operator_post(
        &request("POST", path, &body, "192.168.1.20"),
        &w.ctx(),
        &mut CountingEntropy(0),
    )
}

fn login_asked(step: &Step) -> bool {
    matches!(step.reply.page.as_deref(), Some(Page::Login { .. }))
}

#[test]
fn an_operator_registers_an_app_with_the_cli_s_command_and_its_audit_event() {
    let w = world();
    sign_in(&w, "root", 10);
    let step = post(
        &w,
        "/operator/clients",
        "action=client_add&id=wiki&kind=web&scope=openid+profile\
         &redirect_uris=https%3A%2F%2Fwiki.home%2Fcb&app=apache",
    );
    assert_eq!(step.reply.status, 200);
    let Some(Page::OperatorSection(v)) = step.reply.page.as_deref() else {
        panic!("{:?}", step.reply.page)
    };
    assert_eq!(v.section, "done");
    let secret = &v.once.iter().find(|(l, _)| l == "Client secret").unwrap().1;
    assert!(v.blocks[0]
        .1
        .contains(&format!("OIDCClientSecret {secret}")));
    assert!(step
        .changes
        .iter()
        .any(|c| matches!(c, Change::InsertClient(c) if c.id == "wiki")));
    assert_eq!(
        step.event,
        Some(Event::Admin {
            op: "client_add".into(),
            outcome: "ok",
            user: "root".into()
        })
    );
}

#[test]
fn a_refused_command_changes_nothing_and_is_audited_as_failed() {
    let w = world();
    sign_in(&w, "root", 10);
    let step = post(
        &w,
        "/operator/clients",
        "action=client_add&id=bad%20id&kind=service",
    );
    assert_eq!(step.reply.status, 400);
    assert!(step.changes.is_empty());
    assert!(matches!(
        step.event,
        Some(Event::Admin {
            outcome: "failed",
            ..
        })
    ));
    // A removal without its box ticked is not even a command.
    let step = post(&w, "/operator/people", "action=person_remove&name=bea");
    assert_eq!(step.reply.status, 400);
    assert!(step.changes.is_empty());
}

#[test]
fn a_change_needs_a_recent_sign_in_an_operator_and_this_browser_s_token() {
    let w = world();
    // Signed in longer ago than the window: the password again, nothing changed.
    sign_in(&w, "root", crate::protocol::account::policy::RECENT + 1);
    let step = post(&w, "/operator/keys", "action=key_rotate");
    assert_eq!(step.reply.status, 401);
    assert!(login_asked(&step));
    assert!(step.changes.is_empty());
    // Recent: it goes through, back to the keys page.
    sign_in(&w, "root", 5);
    let step = post(&w, "/operator/keys", "action=key_rotate");
    assert_eq!(step.reply.status, 303);
    assert!(step.changes.iter().any(|c| matches!(c, Change::PutKeys(_))));
    // The browser's general token (what its sign-in form carries, and what a cookie
    // planted by another site of this name would give): not the operator's.
    let general = format!("csrf={}&action=key_rotate", csrf(PEPPER, BROWSER));
    let planted = operator_post(
        &request("POST", "/operator/keys", &general, "192.168.1.20"),
        &w.ctx(),
        &mut CountingEntropy(0),
    );
    assert_eq!(planted.reply.status, 403);
    assert!(planted.changes.is_empty());
    // Another browser's token.
    let forged = operator_post(
        &request(
            "POST",
            "/operator/keys",
            "csrf=guess&action=key_rotate",
            "192.168.1.20",
        ),
        &w.ctx(),
        &mut CountingEntropy(0),
    );
    assert_eq!(forged.reply.status, 403);
    assert!(forged.changes.is_empty());
    // A person who is not an operator, on every page.
    sign_in(&w, "bea", 5);
    assert_eq!(
        post(&w, "/operator/keys", "action=key_rotate").reply.status,
        403
    );
    for (_, path, _) in crate::protocol::operator::forms::Section::ALL {
        let r = operator_get(
            &request("GET", path, "", "192.168.1.20"),
            &w.ctx(),
            &mut CountingEntropy(0),
        );
        assert_eq!(r.reply.status, 403, "{path}");
    }
}

#[test]
fn a_form_from_another_site_or_network_or_with_the_pages_off_changes_nothing() {
    let mut w = world();
    let root = sign_in(&w, "root", 5);
    let body = format!(
        "csrf={}&action=key_rotate",
        operator_csrf(PEPPER, BROWSER, &root)
    );
    // The same form from the LAN, same-site, goes through: each refusal below is its check's.
    let fine = request("POST", "/operator/keys", &body, "192.168.1.20");
    assert_eq!(
        operator_post(&fine, &w.ctx(), &mut CountingEntropy(0))
            .reply
            .status,
        303
    );
    let mut cross = request("POST", "/operator/keys", &body, "192.168.1.20");
    cross
        .headers
        .push(("Sec-Fetch-Site".into(), "cross-site".into()));
    let step = operator_post(&cross, &w.ctx(), &mut CountingEntropy(0));
    assert_eq!(step.reply.status, 403);
    assert!(step.changes.is_empty());
    let outside = request("POST", "/operator/keys", &body, "203.0.113.9");
    let step = operator_post(&outside, &w.ctx(), &mut CountingEntropy(0));
    assert_eq!(step.reply.status, 403);
    assert!(step.changes.is_empty());
    let get = operator_get(
        &request("GET", "/operator", "", "203.0.113.9"),
        &w.ctx(),
        &mut CountingEntropy(0),
    );
    assert_eq!(get.reply.status, 403);
    w.policy.operator_pages = false;
    sign_in(&w, "root", 5);
    let inside = request("POST", "/operator/keys", &body, "192.168.1.20");
    assert_eq!(
        operator_post(&inside, &w.ctx(), &mut CountingEntropy(0))
            .reply
            .status,
        404
    );
}

#[test]
fn the_pages_after_a_change_say_only_fixed_words() {
    let w = world();
    sign_in(&w, "root", 5);
    let page = |q: &str| {
        let mut r = request("GET", "/operator/people", "", "192.168.1.20");
        r.query = q.into();
        let step = operator_get(&r, &w.ctx(), &mut CountingEntropy(0));
        match step.reply.page.as_deref() {
            Some(Page::OperatorSection(v)) => v.notice.clone(),
            other => panic!("{other:?}"),
        }
    };
    assert!(page("done=user_edit").unwrap().contains("changed"));
    assert_eq!(page("done=%3Cscript%3E"), None);
}
