//! `/device`: the person types the code a device shows, signs in, and approves or denies.

use crate::protocol::account::policy::{need, Need};
use crate::protocol::browser::cookies::{browser_form, browser_id, csrf, session, Cookies};
use crate::protocol::browser::reply::{error_page, page, scope_lines, with_cookie};
use crate::protocol::browser::sessions::Session;
use crate::protocol::browser::sign_in::{is_sign_in, login_page, sign_in, step_up_page, Via};
use crate::protocol::guard::{Kind, Verdict};
use crate::protocol::page::Page;
use crate::protocol::{Context, Event, Request, Step};
use crate::vocab::entropy::Entropy;
use crate::vocab::request::{self, BodyKind};

/// `GET /device`: type the code a device shows (prefilled from `verification_uri_complete`),
/// after signing in.
pub fn device_get(req: &Request, ctx: &Context, rng: &mut dyn Entropy) -> Step {
    let cookies = Cookies::new(ctx);
    let (browser, set) = browser_id(req, &cookies, rng);
    let query = if req.query.len() <= 64 {
        req.query.as_str()
    } else {
        ""
    };
    let step = match session(req, ctx, &cookies) {
        Err(e) => Step::from(e),
        Ok(None) => {
            let via = device_via(query, &browser);
            Step::reply(page(200, login_page(&via, ctx, "", None)))
        }
        Ok(Some((_, s))) => device_next(req, query, &s, &browser, ctx, rng),
    };
    with_cookie(step, set)
}

pub(crate) fn device_via<'a>(query: &'a str, browser: &'a str) -> Via<'a> {
    Via {
        label: "a device",
        action: crate::protocol::paths::VERIFICATION_PATH,
        query,
        browser,
        app_requires: false,
    }
}

/// For a signed-in person: the code `query` carries (from `verification_uri_complete`)
/// looked up, or the page to type one.
pub(crate) fn device_next(
    req: &Request,
    query: &str,
    s: &Session,
    browser: &str,
    ctx: &Context,
    rng: &mut dyn Entropy,
) -> Step {
    let typed = request::parse_body(BodyKind::Form, query.as_bytes())
        .ok()
        .and_then(|p| p.get("user_code").map(str::to_string));
    match typed {
        Some(code) => device_lookup(req, &code, s, browser, ctx, rng),
        None => Step::reply(page(
            200,
            Page::DeviceEntry {
                csrf: csrf(ctx.pepper, browser),
                user_code: String::new(),
                error: None,
            },
        )),
    }
}

/// The guard's name for guessed user codes (no user can have it).
pub(crate) const GUESS: &str = "(user code)";

/// The approval page for a typed code, or the entry page again with why not. Wrong codes
/// count as failed attempts from the address, as wrong passwords do.
pub(crate) fn device_lookup(
    req: &Request,
    typed: &str,
    s: &Session,
    browser: &str,
    ctx: &Context,
    rng: &mut dyn Entropy,
) -> Step {
    let entry = |error: &'static str, status: u16| {
        Step::reply(page(
            status,
            Page::DeviceEntry {
                csrf: csrf(ctx.pepper, browser),
                user_code: crate::protocol::device::requests::normalize_user_code(typed)
                    .unwrap_or_default(),
                error: Some(error),
            },
        ))
    };
    if let Verdict::Wait(wait) = ctx.guard.check(req.peer, Kind::User, GUESS, ctx.now) {
        return entry("Too many wrong codes. Wait a little and try again.", 429).with_event(
            Event::Throttled {
                peer: req.peer,
                wait,
            },
        );
    }
    let found = crate::protocol::device::requests::normalize_user_code(typed)
        .and_then(|code| ctx.devices.by_user_code(&code, ctx.now));
    let Some(pending) = found else {
        ctx.guard.failed(req.peer, Kind::User, GUESS, ctx.now);
        return entry("That code is not valid, or it has expired.", 400);
    };
    let user = match ctx.dir.user(&s.username) {
        Ok(Some(u)) => u,
        Ok(None) => return error_page(403, "Sign in again."),
        Err(e) => return Step::from(e),
    };
    match ctx.dir.client(&pending.client_id) {
        Ok(Some(c)) if !c.admits(&user) => {
            return error_page(
                403,
                &format!(
                    "{} is not in a group that may use {}. Ask whoever runs this server.",
                    user.name, pending.client_id
                ),
            )
        }
        // The app requires a second factor this sign-in has not shown.
        Ok(Some(c)) if need(&user, c.require_second_factor, s.methods) != Need::Nothing => {
            let query = format!("user_code={}", pending.user_code);
            let via = device_via(&query, browser);
            let need = need(&user, true, s.methods);
            return step_up_page(need, &via, &user.name, s.auth_time, ctx, rng);
        }
        Ok(_) => {}
        Err(e) => return Step::from(e),
    }
    let scope = pending.scope.intersect(&user.scope.with_identity());
    Step::reply(page(
        200,
        Page::DeviceConsent {
            client: pending.client_id,
            user: user.name,
            scopes: scope_lines(&scope),
            user_code: pending.user_code,
            csrf: csrf(ctx.pepper, browser),
        },
    ))
}

/// `POST /device`: sign in, a typed code, or the decision.
pub fn device_post(req: &Request, ctx: &Context, rng: &mut dyn Entropy) -> Step {
    let cookies = Cookies::new(ctx);
    let (form, browser) = match browser_form(req, &cookies, ctx.pepper) {
        Ok(f) => f,
        Err(step) => return step,
    };
    let query = form.get("request").unwrap_or_default();
    let s = match form.get("action") {
        _ if is_sign_in(&form) => {
            let via = device_via(query, browser);
            return match sign_in(req, &form, &via, &cookies, ctx, rng) {
                Err(step) => step,
                Ok(signed) => {
                    let step = device_next(req, query, &signed.session, browser, ctx, rng);
                    signed.then(step)
                }
            };
        }
        _ => match session(req, ctx, &cookies) {
            Err(e) => return Step::from(e),
            Ok(None) => return device_get(req, ctx, rng),
            Ok(Some((_, s))) => s,
        },
    };
    let typed = form.get("user_code").unwrap_or_default();
    match form.get("action") {
        Some("code") => device_lookup(req, typed, &s, browser, ctx, rng),
        Some("decide") => {
            // A decision names a code too: guessing through it counts like typing one.
            if let Verdict::Wait(wait) = ctx.guard.check(req.peer, Kind::User, GUESS, ctx.now) {
                return error_page(429, "Too many wrong codes. Wait a little and try again.")
                    .with_event(Event::Throttled {
                        peer: req.peer,
                        wait,
                    });
            }
            let found = crate::protocol::device::requests::normalize_user_code(typed)
                .and_then(|code| Some(code.clone()).zip(ctx.devices.by_user_code(&code, ctx.now)));
            let Some((code, pending)) = found else {
                ctx.guard.failed(req.peer, Kind::User, GUESS, ctx.now);
                return error_page(410, "That request has expired or was already decided.");
            };
            let allow = form.get("decision") == Some("allow");
            let decision = match (allow, ctx.dir.user(&s.username)) {
                (_, Err(e)) => return Step::from(e),
                (true, Ok(Some(user)))
                    if matches!(ctx.dir.client(&pending.client_id), Ok(Some(c))
                    if c.admits(&user) && need(&user, c.require_second_factor, s.methods) == Need::Nothing) =>
                {
                    crate::protocol::device::requests::Decision::Approved {
                        scope: pending.scope.intersect(&user.scope.with_identity()),
                        username: user.name,
                        generation: user.generation,
                    }
                }
                _ => crate::protocol::device::requests::Decision::Denied,
            };
            // What was decided, not what was asked: an app the person may not use, or one
            // needing a factor the sign-in lacks, is denied whatever the button.
            let approved = matches!(
                decision,
                crate::protocol::device::requests::Decision::Approved { .. }
            );
            if !ctx.devices.decide(&code, decision, ctx.now) {
                return error_page(410, "That request has expired or was already decided.");
            }
            Step::reply(page(200, Page::DeviceDone { approved })).with_event(Event::Page {
                action: "device",
                outcome: if approved { "approved" } else { "denied" },
                client_id: Some(pending.client_id),
                user: Some(s.username),
            })
        }
        _ => error_page(400, "The form could not be read."),
    }
}
