//! `/operator` and its pages: the server's state and the management of apps, people,
//! groups, keys and sessions, for people marked `--admin`, behind the sign-in form.
//!
//! Every change is one of the admin CLI's commands ([`forms::command`]), decided by the
//! same [`manage::decide`] and written as the same change list; it needs a sign-in of the
//! last few minutes ([`policy::RECENT`]), the browser's form token, and a same-site
//! request, and writes the same `admin:…` audit line as the CLI. The pages answer only
//! while `operator_pages` is on, and only the networks of `operator_allow`.

use crate::protocol::account::policy;
use crate::protocol::browser::cookies::{
    self, browser_id, csrf, operator_csrf, require_token, session, Cookies,
};
use crate::protocol::browser::reply::{error_page, page, redirect, with_cookie};
use crate::protocol::browser::sessions::Session;
use crate::protocol::browser::sign_in::{is_sign_in, login_page, sign_in, Via};
use crate::protocol::manage::{self, AdminError, Env};
use crate::protocol::operator::access;
use crate::protocol::operator::app_config::{self, AppSettings};
use crate::protocol::operator::forms::{self, Section};
use crate::protocol::operator::sections::{self, SectionView};
use crate::protocol::page::Page;
use crate::protocol::{Context, Event, Request, Step};
use crate::vocab::entropy::Entropy;
use crate::vocab::record::UserRecord;
use crate::vocab::request::Params;

pub(crate) fn operator_via<'a>(browser: &'a str, section: Section) -> Via<'a> {
    Via {
        label: "the operator's pages",
        action: section.path(),
        query: "",
        browser,
        app_requires: false,
    }
}

/// Switched off (404), or asked from a network outside `operator_allow` (403).
fn gate(req: &Request, ctx: &Context) -> Result<Section, Step> {
    if !ctx.policy.operator_pages {
        return Err(error_page(
            404,
            "The operator's pages are switched off here (operator_pages = false).",
        ));
    }
    if !access::allowed(&ctx.policy.operator_allow, req.peer) {
        return Err(error_page(
            403,
            "The operator's pages cannot be reached from this network (operator_allow).",
        ));
    }
    Section::at(&req.path).ok_or_else(|| error_page(404, "No such page."))
}

/// The signed-in person, if they are an operator.
fn operator(s: &Session, ctx: &Context) -> Result<UserRecord, Step> {
    match ctx.dir.user(&s.username) {
        Ok(Some(u)) if u.admin => Ok(u),
        Ok(_) => Err(error_page(
            403,
            "These pages are for the operator: a user added with piauth user add --admin.",
        )),
        Err(e) => Err(Step::from(e)),
    }
}

fn recent(s: &Session, ctx: &Context) -> bool {
    ctx.now.saturating_sub(s.auth_time) <= policy::RECENT
}

/// What a page says after a change that shows nothing once, by the command's name: fixed
/// words, so that no text of the query reaches the page.
fn done_words(op: &str) -> Option<&'static str> {
    Some(match op {
        "client_edit" => "The app was changed.",
        "client_set_disabled" => "The app was disabled or enabled.",
        "client_remove" => "The app was removed; its tokens stop working.",
        "user_edit" => "The person was changed; it applies at their next sign-in or refresh.",
        "user_reset_factors" => "Their second factors were removed and their browsers signed out.",
        "user_sign_out" => "They were signed out everywhere.",
        "user_remove" => "The person was removed.",
        "session_revoke" => "The session was ended: the device's next refresh fails.",
        "key_rotate" => "A new key was made; the key ring below shows when it signs.",
        _ => return None,
    })
}

#[allow(clippy::too_many_arguments)]
fn section_page(
    status: u16,
    section: Section,
    s: &Session,
    browser: &str,
    ctx: &Context,
    rng: &mut dyn Entropy,
    query: &str,
    edit: impl FnOnce(&mut SectionView),
) -> Step {
    if section == Section::Overview {
        return match crate::protocol::operator::view::view(&s.username, ctx) {
            Ok(v) => Step::reply(page(status, Page::Operator(Box::new(v)))),
            Err(e) => Step::from(e),
        };
    }
    let token = operator_csrf(ctx.pepper, browser, s);
    match sections::view(section, &s.username, token, recent(s, ctx), query, ctx, rng) {
        Ok(mut v) => {
            edit(&mut v);
            Step::reply(page(status, Page::OperatorSection(Box::new(v))))
        }
        Err(e) => Step::from(e),
    }
}

/// `GET /operator` and its pages, after signing in.
pub fn operator_get(req: &Request, ctx: &Context, rng: &mut dyn Entropy) -> Step {
    let section = match gate(req, ctx) {
        Ok(s) => s,
        Err(step) => return step,
    };
    let cookies = Cookies::new(ctx);
    let (browser, set) = browser_id(req, &cookies, rng);
    let step = match session(req, ctx, &cookies) {
        Err(e) => Step::from(e),
        Ok(None) => Step::reply(page(
            200,
            login_page(&operator_via(&browser, section), ctx, "", None),
        )),
        Ok(Some((_, s))) => match operator(&s, ctx) {
            Err(step) => step,
            Ok(_) => {
                let done = crate::vocab::request::parse_body(
                    crate::vocab::request::BodyKind::Form,
                    req.query.as_bytes(),
                )
                .ok()
                .and_then(|q| q.get("done").and_then(done_words));
                section_page(200, section, &s, &browser, ctx, rng, &req.query, |v| {
                    v.notice = done.map(str::to_string)
                })
            }
        },
    };
    with_cookie(step, set)
}

/// `POST /operator` and its pages: the sign-in forms, and each change.
pub fn operator_post(req: &Request, ctx: &Context, rng: &mut dyn Entropy) -> Step {
    let section = match gate(req, ctx) {
        Ok(s) => s,
        Err(step) => return step,
    };
    // A form posted from another site is refused before it is read; the form token would
    // refuse it too.
    if req
        .header("Sec-Fetch-Site")
        .is_some_and(|s| s.eq_ignore_ascii_case("cross-site"))
    {
        return error_page(403, "A form from another site cannot change piauth.");
    }
    let cookies = Cookies::new(ctx);
    let (form, browser) = match cookies::form(req, &cookies) {
        Ok(f) => f,
        Err(step) => return step,
    };
    let via = operator_via(browser, section);
    if is_sign_in(&form) {
        if let Err(step) = require_token(&form, &csrf(ctx.pepper, browser)) {
            return step;
        }
        return match sign_in(req, &form, &via, &cookies, ctx, rng) {
            Err(step) => step,
            Ok(signed) => {
                let step = match operator(&signed.session, ctx) {
                    Err(step) => step,
                    Ok(_) => {
                        section_page(200, section, &signed.session, browser, ctx, rng, "", |_| {})
                    }
                };
                signed.then(step)
            }
        };
    }
    let s = match session(req, ctx, &cookies) {
        Ok(Some((_, s))) => s,
        Ok(None) => return Step::reply(page(401, login_page(&via, ctx, "", None))),
        Err(e) => return Step::from(e),
    };
    if let Err(step) = require_token(&form, &operator_csrf(ctx.pepper, browser, &s)) {
        return step;
    }
    if let Err(step) = operator(&s, ctx) {
        return step;
    }
    if !recent(&s, ctx) {
        return Step::reply(page(
            401,
            login_page(
                &via,
                ctx,
                &s.username,
                Some("To change things, sign in again: your last sign-in was a while ago."),
            ),
        ));
    }
    change(&form, section, &s, browser, ctx, rng)
}

/// One change, by the form's `action`, posted to the page of `section` (where its answer
/// goes).
fn change(
    form: &Params,
    section: Section,
    s: &Session,
    browser: &str,
    ctx: &Context,
    rng: &mut dyn Entropy,
) -> Step {
    let cmd = match forms::command(form) {
        Ok(c) => c,
        Err(why) => {
            return section_page(400, section, s, browser, ctx, rng, "", |v| {
                v.error = Some(why.message())
            });
        }
    };
    let op = cmd.op();
    let event = |outcome: &'static str| Event::Admin {
        op: op.clone(),
        outcome,
        user: s.username.clone(),
    };
    let mut env = Env::of(ctx, rng);
    let decision = match manage::decide(cmd, &mut env) {
        Ok(d) => d,
        Err(e) => {
            let status = match e {
                AdminError::Invalid(_) => 400,
                AdminError::NotFound(_) => 404,
                AdminError::Exists(_) => 409,
                _ => 500,
            };
            return section_page(status, section, s, browser, ctx, rng, "", |v| {
                v.error = Some(format!("Nothing was done: {e}"))
            })
            .with_event(event("failed"));
        }
    };
    let answer = &decision.answer;
    let once = once_values(&op, answer);
    let step = if once.is_empty() {
        Step::reply(redirect(&format!("{}?done={op}", section.path())))
    } else {
        // A secret or a link is shown on this answer only: the page says what was done,
        // not the lists (which the change has not reached yet).
        let blocks = config_blocks(form, answer, ctx);
        let token = operator_csrf(ctx.pepper, browser, s);
        let v = SectionView {
            user: s.username.clone(),
            csrf: token,
            section: "done",
            menu: Section::ALL
                .iter()
                .map(|(x, p, l)| (*p, *l, *x == section))
                .collect(),
            recent: true,
            notice: Some(match op.as_str() {
                "client_add" => format!("The app {} was registered.", answer["client_id"].as_str().unwrap_or_default()),
                "client_rotate_secret" => "The app has a new secret; the old one no longer works.".into(),
                _ => format!("Send {} this link: with it they choose their password (good once, for 24 hours).", answer["username"].as_str().unwrap_or_default()),
            }),
            once,
            blocks,
            ..SectionView::default()
        };
        Step::reply(page(200, Page::OperatorSection(Box::new(v))))
    };
    let mut step = step.with_event(event("ok"));
    step.changes = decision.changes;
    step
}

/// What an answer holds that is shown only once: a new app's id and secret, a new secret,
/// an enrollment link. Other commands show nothing once.
fn once_values(op: &str, answer: &serde_json::Value) -> Vec<(String, String)> {
    let text = |k: &str| answer[k].as_str().map(str::to_string);
    let mut once = Vec::new();
    match op {
        "client_add" | "client_rotate_secret" => {
            once.extend(text("client_id").map(|v| ("Client id".to_string(), v)));
            once.extend(text("client_secret").map(|v| ("Client secret".to_string(), v)));
        }
        "user_add" | "user_enroll" => {
            once.extend(text("enroll_url").map(|v| ("Enrollment link".to_string(), v)));
        }
        _ => {}
    }
    once
}

/// The configuration block of the app kind the add form chose, for the client just made.
fn config_blocks(
    form: &Params,
    answer: &serde_json::Value,
    ctx: &Context,
) -> Vec<(String, String)> {
    let (Some(kind), Some(id)) = (form.get("app"), answer["client_id"].as_str()) else {
        return Vec::new();
    };
    let uri = answer["redirect_uris"][0].as_str().unwrap_or_default();
    let scope = answer["scope"].as_str().unwrap_or_default();
    let settings = AppSettings {
        issuer: &ctx.policy.issuer,
        client_id: id,
        secret: answer["client_secret"].as_str(),
        redirect_uri: uri,
        scope,
    };
    app_config::block(kind, &settings)
        .map(|(label, text)| vec![(label.to_string(), text)])
        .unwrap_or_default()
}
