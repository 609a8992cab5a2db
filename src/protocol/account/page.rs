//! `/account`: a signed-in person's own page. They change their password, set up or
//! remove one-time codes, make new recovery codes, take back an app, and sign out of every
//! browser. Each change needs a recent sign-in ([`policy::RECENT`]), is CSRF-protected and
//! writes one audit line.

use crate::protocol::account::setup::totp_setup;
use crate::protocol::account::view::AccountView;
use crate::protocol::account::{apps, factors, policy};
use crate::protocol::browser::cookies::{browser_form, browser_id, csrf, session, Cookies};
use crate::protocol::browser::reply::{error_page, page, with_cookie};
use crate::protocol::browser::sessions::Session;
use crate::protocol::browser::sign_in::{is_sign_in, login_page, restart, sign_in, Via};
use crate::protocol::operator::view::utc;
use crate::protocol::page::Page;
use crate::protocol::paths::ACCOUNT_PATH;
use crate::protocol::{Change, Context, Event, Request, Step};
use crate::vocab::entropy::Entropy;
use crate::vocab::record::UserRecord;
use crate::vocab::request::Params;

pub(crate) fn account_via(browser: &str) -> Via<'_> {
    Via {
        label: "your account",
        action: ACCOUNT_PATH,
        query: "",
        browser,
        app_requires: false,
    }
}

fn view(
    s: &Session,
    user: &UserRecord,
    browser: &str,
    ctx: &Context,
    notice: Option<String>,
) -> Result<Page, crate::protocol::LookupError> {
    let apps = apps::apps_of(ctx.dir, &user.name, ctx.now)?
        .into_iter()
        .map(|a| {
            let last = a.last_refresh.map(utc).unwrap_or_else(|| "—".into());
            (a.client_id, a.scope, a.families, last)
        })
        .collect();
    Ok(Page::Account(Box::new(AccountView {
        user: user.name.clone(),
        csrf: csrf(ctx.pepper, browser),
        totp_since: user.factors.totp.as_ref().map(|t| utc(t.added_at)),
        recovery_left: user.factors.recovery.len(),
        passkeys: user
            .factors
            .passkeys
            .iter()
            .map(|p| {
                let used = if p.last_used == 0 {
                    "never".to_string()
                } else {
                    utc(p.last_used)
                };
                (p.id.clone(), p.name.clone(), utc(p.added_at), used)
            })
            .collect(),
        passkeys_unavailable: crate::protocol::account::passkeys::Rp::of(&ctx.policy.issuer)
            .err()
            .map(|why| why.message()),
        required: user.require_second_factor,
        apps,
        notice,
        recent: ctx.now.saturating_sub(s.auth_time) <= policy::RECENT,
    })))
}

fn account_page(s: &Session, browser: &str, ctx: &Context, notice: Option<String>) -> Step {
    match ctx.dir.user(&s.username) {
        Ok(Some(u)) => match view(s, &u, browser, ctx, notice) {
            Ok(p) => Step::reply(page(200, p)),
            Err(e) => Step::from(e),
        },
        Ok(None) => error_page(403, "This account no longer exists."),
        Err(e) => Step::from(e),
    }
}

/// The page after a change, showing the person as the change leaves them, and the change.
fn changed_page(
    s: &Session,
    next: UserRecord,
    browser: &str,
    ctx: &Context,
    notice: &str,
    expected: &UserRecord,
) -> Step {
    let step = match view(s, &next, browser, ctx, Some(notice.to_string())) {
        Ok(p) => Step::reply(page(200, p)),
        Err(e) => return Step::from(e),
    };
    step.with_change(Change::ReplaceUser {
        user: next,
        expected: expected.generation.clone(),
    })
}

/// `GET /account`: the page, after signing in.
pub fn account_get(req: &Request, ctx: &Context, rng: &mut dyn Entropy) -> Step {
    let cookies = Cookies::new(ctx);
    let (browser, set) = browser_id(req, &cookies, rng);
    let step = match session(req, ctx, &cookies) {
        Err(e) => Step::from(e),
        Ok(None) => Step::reply(page(200, login_page(&account_via(&browser), ctx, "", None))),
        Ok(Some((_, s))) => account_page(&s, &browser, ctx, None),
    };
    with_cookie(step, set)
}

/// `POST /account`: its sign-in forms, and each change.
pub fn account_post(req: &Request, ctx: &Context, rng: &mut dyn Entropy) -> Step {
    let cookies = Cookies::new(ctx);
    let (form, browser) = match browser_form(req, &cookies, ctx.pepper) {
        Ok(f) => f,
        Err(step) => return step,
    };
    let via = account_via(browser);
    let current = match session(req, ctx, &cookies) {
        Ok(s) => s.map(|(_, s)| s),
        Err(e) => return Step::from(e),
    };
    let stale = |s: &Session| ctx.now.saturating_sub(s.auth_time) > policy::RECENT;
    let reauth = || {
        Step::reply(page(
            401,
            login_page(
                &via,
                ctx,
                "",
                Some("To change your account, sign in again: your last sign-in was a while ago."),
            ),
        ))
    };
    // Setting up codes is a sign-in form: it takes a recent password (sign_in's rule).
    if is_sign_in(&form) {
        return match sign_in(req, &form, &via, &cookies, ctx, rng) {
            Err(step) => step,
            Ok(signed) => {
                let step = account_page(&signed.session, browser, ctx, None);
                signed.then(step)
            }
        };
    }
    let Some(s) = current else {
        return Step::reply(page(401, login_page(&via, ctx, "", None)));
    };
    if stale(&s) {
        return reauth();
    }
    let user = match ctx.dir.user(&s.username) {
        Ok(Some(u)) => u,
        Ok(None) => return error_page(403, "This account no longer exists."),
        Err(e) => return Step::from(e),
    };
    change(req, &form, &s, &user, &via, &cookies, ctx, rng)
}

/// One change to the account, by the form's `action`.
#[allow(clippy::too_many_arguments)]
fn change(
    req: &Request,
    form: &Params,
    s: &Session,
    user: &UserRecord,
    via: &Via,
    cookies: &Cookies,
    ctx: &Context,
    rng: &mut dyn Entropy,
) -> Step {
    let event = |outcome: &'static str, client_id: Option<String>| Event::Page {
        action: "account",
        outcome,
        client_id,
        user: Some(user.name.clone()),
    };
    let replace = |next: UserRecord| Change::ReplaceUser {
        user: next,
        expected: user.generation.clone(),
    };
    let refused = |why: &str| account_page(s, via.browser, ctx, Some(why.to_string()));
    match form.get("action") {
        Some("password") => {
            let old = form.get("old_password").unwrap_or_default();
            let new = form.get("new_password").unwrap_or_default();
            if let crate::protocol::guard::Verdict::Wait(wait) = ctx.guard.check(
                req.peer,
                crate::protocol::guard::Kind::User,
                &user.name,
                ctx.now,
            ) {
                return refused("Too many failed attempts. Wait a little and try again.")
                    .with_event(Event::Throttled {
                        peer: req.peer,
                        wait,
                    });
            }
            let right = !user.password_hash.is_empty()
                && crate::jose::secret::check_password(old, &user.password_hash).unwrap_or(false);
            if !right {
                ctx.guard.failed(
                    req.peer,
                    crate::protocol::guard::Kind::User,
                    &user.name,
                    ctx.now,
                );
                return refused("The current password is not right; nothing was changed.")
                    .with_event(event("wrong_password", None));
            }
            if let Err(why) = new_password_ok(new, form.get("confirm").unwrap_or_default()) {
                return refused(why);
            }
            let Ok(hash) = crate::jose::secret::hash_password(new, ctx.policy.password_cost) else {
                return crate::protocol::store_failed(&"hashing a password");
            };
            // Every other browser signs out with the old password; this one goes on.
            let mut next = user.clone();
            next.password_hash = hash;
            next.session_epoch = next.session_epoch.saturating_add(1);
            let signed = restart(req, &next, s, cookies, ctx, rng);
            let step = account_page(
                &signed.session,
                via.browser,
                ctx,
                Some("Your password was changed. Other browsers are signed out.".into()),
            )
            .with_change(replace(next))
            .with_event(event("password_changed", None));
            signed.then(step)
        }
        Some("totp_start") => Step::reply(page(
            200,
            totp_setup(
                ACCOUNT_PATH,
                "",
                csrf(ctx.pepper, via.browser),
                &user.name,
                &crate::jose::otp::new_secret(rng),
                ctx,
                None,
            ),
        )),
        Some("totp_remove") => match factors::remove_totp(user) {
            Err(why) => refused(why.message()),
            Ok(next) => changed_page(
                s,
                next,
                via.browser,
                ctx,
                "One-time codes were removed.",
                user,
            )
            .with_event(event("totp_removed", None)),
        },
        Some("passkey_add") => {
            let rp = match crate::protocol::account::passkeys::Rp::of(&ctx.policy.issuer) {
                Ok(rp) => rp,
                Err(why) => return refused(why.message()),
            };
            let response = form.get("credential").unwrap_or_default();
            let name = form.get("name").unwrap_or_default();
            let added = ctx
                .passkeys
                .register(&rp, user, response, name, ctx.now)
                .map_err(|why| {
                    log::info!("a passkey was not added for {}: {why:?}", user.name);
                    "The passkey could not be added; nothing was changed. Try again."
                })
                .and_then(|p| factors::add_passkey(user, p).map_err(|why| why.message()));
            match added {
                Err(why) => refused(why).with_event(event("passkey_refused", None)),
                Ok(next) => changed_page(s, next, via.browser, ctx, "The passkey was added.", user)
                    .with_event(event("passkey_added", None)),
            }
        }
        Some("passkey_remove") => {
            let id = form.get("id").unwrap_or_default();
            match factors::remove_passkey(user, id) {
                Err(why) => refused(why.message()),
                Ok(next) => {
                    changed_page(s, next, via.browser, ctx, "The passkey was removed.", user)
                        .with_event(event("passkey_removed", None))
                }
            }
        }
        Some("recovery_new") if user.factors.has_second_factor() => {
            let (next, codes) = factors::new_recovery_codes(user, ctx.pepper, rng);
            Step::reply(page(
                200,
                Page::RecoveryCodes {
                    codes,
                    next: crate::protocol::page::Continue::link(ACCOUNT_PATH),
                },
            ))
            .with_change(replace(next))
            .with_event(event("recovery_codes_made", None))
        }
        Some("take_back") => {
            let client = form.get("client").unwrap_or_default();
            match apps::take_back(ctx.dir, &user.name, client) {
                Err(e) => Step::from(e),
                Ok((changes, ended)) => {
                    let mut step = account_page(
                        s,
                        via.browser,
                        ctx,
                        Some(format!(
                            "{client} no longer acts for you ({ended} sign-ins ended); it asks again next time."
                        )),
                    )
                    .with_event(event("app_taken_back", Some(client.to_string())));
                    step.changes.extend(changes);
                    step
                }
            }
        }
        Some("sign_out_everywhere") => {
            let mut next = user.clone();
            next.session_epoch = next.session_epoch.saturating_add(1);
            let clear = cookies.set(cookies.session(), "", Some(0));
            with_cookie(
                Step::reply(page(200, Page::SignedOut))
                    .with_change(replace(next))
                    .with_event(event("signed_out_everywhere", None)),
                Some(clear),
            )
        }
        _ => error_page(400, "The form could not be read."),
    }
}

/// Whether a new password may be set: typed twice alike, 8 to 1024 bytes.
pub fn new_password_ok(new: &str, confirm: &str) -> Result<(), &'static str> {
    if new != confirm {
        return Err("The new passwords differ; nothing was changed.");
    }
    if new.chars().count() < 8 {
        return Err("The new password must have at least 8 characters.");
    }
    if new.len() > 1024 {
        return Err("The new password is longer than 1024 bytes.");
    }
    Ok(())
}
