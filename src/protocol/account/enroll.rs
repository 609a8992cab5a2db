//! `/enroll`: the one-time link the operator makes (`user add --enroll`, `user enroll`)
//! so that a person sets their own password, and the operator never knows it. The link is
//! good once, for [`ENROLL_TTL`] seconds; it is stored as a keyed hash.

use crate::jose::otp::link_digest;
use crate::protocol::account::page::{account_via, new_password_ok};
use crate::protocol::account::policy::{self, Methods, Need};
use crate::protocol::browser::cookies::{browser_form, browser_id, csrf, Cookies};
use crate::protocol::browser::reply::{error_page, page, with_cookie};
use crate::protocol::browser::sign_in::{signed_in_by_link, step_up_page};
use crate::protocol::guard::{Kind, Verdict};
use crate::protocol::page::{Continue, Page};
use crate::protocol::paths::{ACCOUNT_PATH, ENROLL_PATH};
use crate::protocol::{Change, Context, Event, Request, Step};
use crate::vocab::entropy::{self, Entropy};
use crate::vocab::record::{Enrollment, UserRecord};
use crate::vocab::request::{self, BodyKind, Params};

/// Seconds an enrollment link works: a day, to reach a person who is not at home.
pub const ENROLL_TTL: u64 = 24 * 3600;

/// A new link for `user`: the user as it becomes (any earlier link ends) and the URL to
/// hand the person.
pub fn new_link(
    user: &UserRecord,
    issuer: &str,
    now: u64,
    pepper: &[u8],
    rng: &mut dyn Entropy,
) -> (UserRecord, String) {
    let secret = entropy::token(rng, 32);
    let mut u = user.clone();
    u.enrollment = Some(Enrollment {
        digest: link_digest(pepper, &secret),
        expires_at: now.saturating_add(ENROLL_TTL),
    });
    let url = format!(
        "{}{ENROLL_PATH}?user={}&t={secret}",
        issuer.trim_end_matches('/'),
        percent_encoding::utf8_percent_encode(&u.name, percent_encoding::NON_ALPHANUMERIC)
    );
    (u, url)
}

/// Whether a link is `user`'s, unused and unexpired.
pub fn check_link(user: &UserRecord, secret: &str, now: u64, pepper: &[u8]) -> bool {
    let Some(e) = user.enrollment.as_ref() else {
        return false;
    };
    let digest = link_digest(pepper, secret);
    let same: bool = subtle::ConstantTimeEq::ct_eq(digest.as_bytes(), e.digest.as_bytes()).into();
    same && now < e.expires_at
}

const GONE: &str =
    "This link has expired or was used already. Ask the operator for a new one (piauth user enroll NAME).";

/// The user a link names, or the page that refuses it (counted by the guard).
fn linked(req: &Request, params: &Params, ctx: &Context) -> Result<UserRecord, Step> {
    let name = params.get("user").unwrap_or_default();
    let secret = params.get("t").unwrap_or_default();
    if let Verdict::Wait(wait) = ctx.guard.check(req.peer, Kind::User, name, ctx.now) {
        return Err(error_page(
            429,
            "Too many failed attempts. Wait a little and try again.",
        )
        .with_event(Event::Throttled {
            peer: req.peer,
            wait,
        }));
    }
    let user = ctx.dir.user(name).map_err(Step::from)?;
    match user.filter(|u| check_link(u, secret, ctx.now, ctx.pepper)) {
        Some(found) => Ok(found),
        None => {
            ctx.guard.failed(req.peer, Kind::User, name, ctx.now);
            Err(error_page(410, GONE).with_event(Event::Page {
                action: "enroll",
                outcome: "bad_link",
                client_id: None,
                user: crate::vocab::record::is_valid_name(name).then(|| name.to_string()),
            }))
        }
    }
}

fn enroll_page(
    user: &str,
    secret: &str,
    browser: &str,
    ctx: &Context,
    error: Option<&'static str>,
) -> Step {
    Step::reply(page(
        if error.is_some() { 400 } else { 200 },
        Page::Enroll {
            user: user.to_string(),
            token: secret.to_string(),
            csrf: csrf(ctx.pepper, browser),
            error,
        },
    ))
}

/// `GET /enroll?user=NAME&t=SECRET`: the form to set a password.
pub fn enroll_get(req: &Request, ctx: &Context, rng: &mut dyn Entropy) -> Step {
    let cookies = Cookies::new(ctx);
    let (browser, set) = browser_id(req, &cookies, rng);
    let step = match request::parse_body(BodyKind::Form, req.query.as_bytes()) {
        Err(_) => error_page(400, GONE),
        Ok(params) => match linked(req, &params, ctx) {
            Err(step) => step,
            Ok(u) => enroll_page(
                &u.name,
                params.get("t").unwrap_or_default(),
                &browser,
                ctx,
                None,
            ),
        },
    };
    with_cookie(step, set)
}

/// `POST /enroll`: the password set, the link spent, the person signed in; then the
/// second factor if one is required, else their account page.
pub fn enroll_post(req: &Request, ctx: &Context, rng: &mut dyn Entropy) -> Step {
    let cookies = Cookies::new(ctx);
    let (form, browser) = match browser_form(req, &cookies, ctx.pepper) {
        Ok(f) => f,
        Err(step) => return step,
    };
    let user = match linked(req, &form, ctx) {
        Ok(found) => found,
        Err(step) => return step,
    };
    let new = form.get("new_password").unwrap_or_default();
    let secret = form.get("t").unwrap_or_default();
    if let Err(why) = new_password_ok(new, form.get("confirm").unwrap_or_default()) {
        return enroll_page(&user.name, secret, browser, ctx, Some(why));
    }
    let Ok(hash) = crate::jose::secret::hash_password(new, ctx.policy.password_cost) else {
        return crate::protocol::store_failed(&"hashing a password");
    };
    ctx.guard.succeeded(req.peer, Kind::User, &user.name);
    let mut next = user.clone();
    next.password_hash = hash;
    next.enrollment = None;
    // Whoever was signed in as this person before (a browser of an earlier password)
    // is not any more.
    next.session_epoch = next.session_epoch.saturating_add(1);
    let mut signed = signed_in_by_link(req, &next, &cookies, ctx, rng);
    // Conditional on the record read (its revision): only one use of the link gets
    // through, even two at once.
    signed.changes.push(Change::ReplaceUser {
        user: next.clone(),
        expected: user.generation.clone(),
    });
    let via = account_via(browser);
    let step = match policy::need(&next, false, Methods::PASSWORD) {
        Need::Nothing => Step::reply(page(
            200,
            Page::Notice {
                title: "Your password is set",
                message: "You are signed in. On your account page you can also set up one-time codes, so that a password alone is not enough.".into(),
                next: Continue::link(ACCOUNT_PATH),
            },
        )),
        need => step_up_page(need, &via, &next.name, ctx.now, ctx, rng),
    };
    signed.then(step).with_event(Event::Page {
        action: "enroll",
        outcome: "password_set",
        client_id: None,
        user: Some(user.name.clone()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::entropy::CountingEntropy;

    #[test]
    fn a_link_is_good_once_until_it_expires_and_a_new_one_ends_the_last() {
        let u = crate::protocol::testing::user("ann lee", "", "g");
        let (u1, url) = new_link(&u, "https://pi.home/", 100, b"p", &mut CountingEntropy(0));
        assert!(
            url.starts_with("https://pi.home/enroll?user=ann%20lee&t="),
            "{url}"
        );
        let secret = url.split("t=").nth(1).unwrap();
        assert!(
            !u1.enrollment.as_ref().unwrap().digest.contains(secret),
            "stored hashed"
        );
        assert!(check_link(&u1, secret, 100, b"p"));
        assert!(!check_link(&u1, secret, 100 + ENROLL_TTL, b"p"), "expired");
        assert!(!check_link(&u1, secret, 100, b"q"), "another store's");
        assert!(!check_link(&u1, "made-up", 100, b"p"));
        let mut spent = u1.clone();
        spent.enrollment = None;
        assert!(!check_link(&spent, secret, 100, b"p"), "good once");
        let (u2, url2) = new_link(&u1, "https://pi.home", 200, b"p", &mut CountingEntropy(9));
        assert!(!check_link(&u2, secret, 200, b"p"), "the last link ends");
        assert!(check_link(&u2, url2.split("t=").nth(1).unwrap(), 200, b"p"));
    }
}
