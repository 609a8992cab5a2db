//! The sign-in form, wherever it appears (an app's authorization, the device page, the
//! operator's page): the password checked through the guard, then a new session.

use crate::protocol::browser::cookies::{cookie, csrf, Cookies};
use crate::protocol::browser::reply::page;
use crate::protocol::browser::sessions::Session;
use crate::protocol::guard::{Kind, Verdict};
use crate::protocol::page::Page;
use crate::protocol::paths::AUTHORIZE_PATH;
use crate::protocol::{Context, Event, Request, Step};
use crate::vocab::entropy::{self, Entropy};
use crate::vocab::request::Params;

/// Where a sign-in form comes from and goes back to.
pub(crate) struct Via<'a> {
    /// Whom the person signs in for (a client id, or "a device").
    pub(crate) label: &'a str,
    /// The form's target.
    pub(crate) action: &'static str,
    /// What to carry through the form.
    pub(crate) query: &'a str,
    /// The browser id the CSRF token is bound to.
    pub(crate) browser: &'a str,
}

pub(crate) fn login_page(
    via: &Via,
    ctx: &Context,
    username: &str,
    error: Option<&'static str>,
) -> Page {
    Page::Login {
        client: via.label.to_string(),
        action: via.action,
        request: via.query.to_string(),
        csrf: csrf(ctx.pepper, via.browser),
        username: username.to_string(),
        error,
    }
}

/// Checks a sign-in form's user name and password (through the same guard as the password
/// grant) and starts a session: the session and its `Set-Cookie`, or the page to show.
pub(crate) fn sign_in(
    req: &Request,
    form: &Params,
    via: &Via,
    cookies: &Cookies,
    ctx: &Context,
    rng: &mut dyn Entropy,
) -> Result<(Session, String), Step> {
    let username = form.get("username").unwrap_or_default();
    let password = form.get("password").unwrap_or_default();
    let shown = if crate::vocab::record::is_valid_name(username) {
        username
    } else {
        ""
    };
    let again = |error: &'static str, status: u16| {
        Step::reply(page(status, login_page(via, ctx, shown, Some(error))))
    };
    if let Verdict::Wait(wait) = ctx.guard.check(req.peer, Kind::User, username, ctx.now) {
        return Err(again(
            "Too many failed attempts. Wait a little and try again.",
            429,
        )
        .with_event(Event::Throttled {
            peer: req.peer,
            wait,
        }));
    }
    let user = ctx.dir.user(username).map_err(Step::from)?;
    let ok = match &user {
        Some(u) => crate::jose::secret::check_password(password, &u.password_hash).unwrap_or(false),
        None => {
            crate::jose::secret::burn_password_check(password, ctx.policy.password_cost);
            false
        }
    };
    let known = user.is_some();
    let Some(user) = user.filter(|_| ok) else {
        ctx.guard.failed(req.peer, Kind::User, username, ctx.now);
        let client_id = (via.action == AUTHORIZE_PATH).then(|| via.label.to_string());
        return Err(
            again("Wrong user name or password.", 401).with_event(Event::Page {
                action: "login",
                outcome: "wrong_password",
                client_id,
                // A name that is no user is not repeated: it may be a password typed into
                // the wrong field.
                user: known.then(|| shown.to_string()),
            }),
        );
    };
    ctx.guard.succeeded(req.peer, Kind::User, username);
    let id = entropy::token(rng, 32);
    let session = Session {
        username: user.name.clone(),
        generation: user.generation.clone(),
        auth_time: ctx.now,
        last_seen: ctx.now,
    };
    // A previous session on this browser ends: a new id each sign-in (no fixation).
    if let Some(old) = cookie(req, cookies.session()) {
        ctx.sessions.remove(&crate::jose::secret::token_digest(old));
    }
    ctx.sessions.insert(
        crate::jose::secret::token_digest(&id),
        session.clone(),
        ctx.now,
    );
    Ok((session, cookies.set(cookies.session(), &id, None)))
}
