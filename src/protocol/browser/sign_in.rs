//! The sign-in forms, wherever they appear (an app's authorization, the device page, the
//! operator's and the account page): the password checked through the guard, then, for a
//! person who has one or must have one, a second factor (a one-time or recovery code, or
//! setting one-time codes up), then a new session.
//!
//! A passkey signs in on its own (it needs the person verified on the authenticator: two
//! factors in one), or completes a password's sign-in as its second step.
//!
//! A password starts a session that proves only the password: [`cookies::session`] does
//! not count it as signed in while its user needs more, and only the second step's forms
//! ([`pending_session`]) take it further.

use crate::protocol::account::factors::{self, Spend};
use crate::protocol::account::passkeys;
use crate::protocol::account::policy::{self, Methods, Need};
use crate::protocol::browser::cookies::{self, continue_csrf, cookie, csrf, Cookies};
use crate::protocol::browser::reply::{error_page, page, with_cookie};
use crate::protocol::browser::sessions::Session;
use crate::protocol::guard::{Kind, Verdict};
use crate::protocol::page::{Continue, Page};
use crate::protocol::paths::AUTHORIZE_PATH;
use crate::protocol::{Change, Context, Event, Request, Step};
use crate::vocab::entropy::{self, Entropy};
use crate::vocab::record::UserRecord;
use crate::vocab::request::asker;
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
    /// The app requires a second factor (`--require-second-factor`, or `acr_values=mfa`).
    pub(crate) app_requires: bool,
}

impl Via<'_> {
    /// Where to go on once signed in (after the recovery codes are shown). The form's
    /// token names the sign-in `s`, so that only it counts as the fresh sign-in an app's
    /// `prompt=login` asked for.
    fn back(&self, ctx: &Context, s: &Session) -> Continue {
        Continue {
            action: self.action,
            form: (self.action == AUTHORIZE_PATH).then(|| {
                let token = continue_csrf(ctx.pepper, self.browser, s, self.query);
                (self.query.to_string(), token)
            }),
            query: self.query.to_string(),
        }
    }
    fn client_id(&self) -> Option<String> {
        (self.action == AUTHORIZE_PATH).then(|| self.label.to_string())
    }
}

/// A completed sign-in: the session, its `Set-Cookie`, and what to write (a code spent,
/// a factor set up).
pub(crate) struct SignedIn {
    pub(crate) session: Session,
    pub(crate) set_cookie: String,
    pub(crate) changes: Vec<Change>,
}

impl SignedIn {
    /// `step`, with the sign-in's cookie and changes.
    pub(crate) fn then(self, mut step: Step) -> Step {
        let mut changes = self.changes;
        changes.append(&mut step.changes);
        step.changes = changes;
        with_cookie(step, Some(self.set_cookie))
    }
}

/// Whether a form is one of the sign-in forms [`sign_in`] takes.
pub(crate) fn is_sign_in(form: &Params) -> bool {
    matches!(
        form.get("action"),
        Some("login" | "second_factor" | "enroll" | "passkey")
    )
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
        passkeys: passkeys_offered(ctx),
    }
}

/// Whether the pages can offer passkeys here (see [`passkeys::Rp::of`]).
pub(crate) fn passkeys_offered(ctx: &Context) -> bool {
    passkeys::Rp::of(&ctx.policy.issuer).is_ok()
}

/// Wrong codes one sign-in may type before it starts again from the password.
pub const CODE_TRIES: u32 = 5;

/// The page that asks a person signed in at `auth_time` for what `need` says is missing.
/// Setting up a factor binds it to the account, so an older sign-in proves the password
/// again first.
pub(crate) fn step_up_page(
    need: Need,
    via: &Via,
    user: &str,
    auth_time: u64,
    ctx: &Context,
    rng: &mut dyn Entropy,
) -> Step {
    match need {
        Need::Enroll if ctx.now.saturating_sub(auth_time) > policy::RECENT => Step::reply(page(
            200,
            login_page(
                via,
                ctx,
                user,
                Some("Sign in again to set up a second factor."),
            ),
        )),
        Need::Enroll => enroll_page(via, user, &crate::jose::otp::new_secret(rng), ctx, None),
        _ => second_factor_page(via, ctx, None),
    }
}

fn second_factor_page(via: &Via, ctx: &Context, error: Option<(&'static str, u16)>) -> Step {
    let (error, status) = match error {
        Some((e, status)) => (Some(e), status),
        None => (None, 200),
    };
    Step::reply(page(
        status,
        Page::SecondFactor {
            client: via.label.to_string(),
            action: via.action,
            request: via.query.to_string(),
            csrf: csrf(ctx.pepper, via.browser),
            error,
            passkeys: passkeys_offered(ctx),
        },
    ))
}

fn enroll_page(
    via: &Via,
    user: &str,
    secret: &str,
    ctx: &Context,
    error: Option<&'static str>,
) -> Step {
    Step::reply(page(
        if error.is_some() { 400 } else { 200 },
        crate::protocol::account::setup::totp_setup(
            via.action,
            via.query,
            csrf(ctx.pepper, via.browser),
            user,
            secret,
            ctx,
            error,
        ),
    ))
}

/// Takes a sign-in form (`action` login, second_factor or enroll): the completed sign-in,
/// or the page to show next (the second step, or the same form again with why).
pub(crate) fn sign_in(
    req: &Request,
    form: &Params,
    via: &Via,
    cookies: &Cookies,
    ctx: &Context,
    rng: &mut dyn Entropy,
) -> Result<SignedIn, Step> {
    match form.get("action") {
        Some("login") => password(req, form, via, cookies, ctx, rng),
        Some("second_factor") => second_factor(req, form, via, cookies, ctx, rng),
        Some("enroll") => enroll(req, form, via, cookies, ctx, rng),
        Some("passkey") => passkey(req, form, via, cookies, ctx, rng),
        _ => Err(error_page(400, "The form could not be read.")),
    }
}

fn password(
    req: &Request,
    form: &Params,
    via: &Via,
    cookies: &Cookies,
    ctx: &Context,
    rng: &mut dyn Entropy,
) -> Result<SignedIn, Step> {
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
        // A person enrolled by link who has not set a password yet has none to match.
        Some(u) if !u.password_hash.is_empty() => {
            crate::jose::secret::check_password(password, &u.password_hash).unwrap_or(false)
        }
        _ => {
            crate::jose::secret::burn_password_check(password, ctx.policy.password_cost);
            false
        }
    };
    let known = user.is_some();
    let Some(user) = user.filter(|_| ok) else {
        ctx.guard.failed(req.peer, Kind::User, username, ctx.now);
        return Err(
            again("Wrong user name or password.", 401).with_event(Event::Page {
                action: "login",
                outcome: "wrong_password",
                client_id: via.client_id(),
                // A name that is no user is not repeated: it may be a password typed into
                // the wrong field.
                user: known.then(|| shown.to_string()),
            }),
        );
    };
    // The guard forgets this name's failures only once the whole sign-in succeeds: a
    // right password does not buy more guesses at the code.
    let need = policy::need(&user, via.app_requires, Methods::PASSWORD);
    if need == Need::Nothing {
        ctx.guard.succeeded(req.peer, Kind::User, username);
    }
    let signed = start(req, &user, Methods::PASSWORD, ctx.now, cookies, ctx, rng);
    match need {
        Need::Nothing => Ok(signed),
        _ => Err(signed.then(step_up_page(need, via, &user.name, ctx.now, ctx, rng))),
    }
}

/// A new session for `user` (a new id each time: no fixation), ending this browser's last.
fn start(
    req: &Request,
    user: &UserRecord,
    methods: Methods,
    auth_time: u64,
    cookies: &Cookies,
    ctx: &Context,
    rng: &mut dyn Entropy,
) -> SignedIn {
    let id = entropy::token(rng, 32);
    let session = Session {
        username: user.name.clone(),
        generation: user.generation.clone(),
        epoch: user.session_epoch,
        auth_time,
        last_seen: ctx.now,
        methods,
        failed_codes: 0,
    };
    if let Some(old) = cookie(req, cookies.session()) {
        ctx.sessions.remove(&crate::jose::secret::token_digest(old));
    }
    ctx.sessions.insert(
        crate::jose::secret::token_digest(&id),
        session.clone(),
        ctx.now,
    );
    SignedIn {
        session,
        set_cookie: cookies.set(cookies.session(), &id, None),
        changes: Vec::new(),
    }
}

/// This browser's session again under a new id, for `user` as it now is (a new password
/// raised its epoch): what it proved and when stay.
pub(crate) fn restart(
    req: &Request,
    user: &UserRecord,
    s: &Session,
    cookies: &Cookies,
    ctx: &Context,
    rng: &mut dyn Entropy,
) -> SignedIn {
    start(req, user, s.methods, s.auth_time, cookies, ctx, rng)
}

/// A new session for a person who has just set their password by an enrollment link.
pub(crate) fn signed_in_by_link(
    req: &Request,
    user: &UserRecord,
    cookies: &Cookies,
    ctx: &Context,
    rng: &mut dyn Entropy,
) -> SignedIn {
    start(req, user, Methods::PASSWORD, ctx.now, cookies, ctx, rng)
}

/// The browser's session (its digest) and its user, for the second step: one whose
/// password was checked a moment ago, or a complete one an app asks more of. Setting up a
/// factor (`enrolling`) takes a password checked a moment ago either way.
fn pending_session(
    req: &Request,
    via: &Via,
    cookies: &Cookies,
    ctx: &Context,
    enrolling: bool,
) -> Result<([u8; 32], Session, UserRecord), Step> {
    let expired = || {
        Step::reply(page(
            401,
            login_page(
                via,
                ctx,
                "",
                Some("The sign-in took too long. Sign in again."),
            ),
        ))
    };
    let (digest, s) = cookies::any_session(req, ctx, cookies)
        .map_err(Step::from)?
        .ok_or_else(expired)?;
    let user = ctx
        .dir
        .user(&s.username)
        .map_err(Step::from)?
        .ok_or_else(expired)?;
    let complete = policy::need(&user, false, s.methods) == Need::Nothing;
    let recent = ctx.now.saturating_sub(s.auth_time) <= policy::SECOND_STEP;
    if (!complete || enrolling) && !recent {
        return Err(expired());
    }
    Ok((digest, s, user))
}

fn second_factor(
    req: &Request,
    form: &Params,
    via: &Via,
    cookies: &Cookies,
    ctx: &Context,
    rng: &mut dyn Entropy,
) -> Result<SignedIn, Step> {
    let (digest, s, user) = pending_session(req, via, cookies, ctx, false)?;
    if let Verdict::Wait(wait) = ctx.guard.check(req.peer, Kind::Code, &user.name, ctx.now) {
        return Err(second_factor_page(
            via,
            ctx,
            Some((
                "Too many failed attempts. Wait a little and try again.",
                429,
            )),
        )
        .with_event(Event::Throttled {
            peer: req.peer,
            wait,
        }));
    }
    let typed = form.get("code").unwrap_or_default();
    let Some(spend) = factors::check_code(&user, typed, ctx.now, ctx.pepper) else {
        ctx.guard.failed(req.peer, Kind::Code, &user.name, ctx.now);
        let event = Event::Page {
            action: "login",
            outcome: "wrong_code",
            client_id: via.client_id(),
            user: Some(user.name.clone()),
        };
        if ctx.sessions.code_failed(&digest, CODE_TRIES) {
            let why = Some("Too many wrong codes. Sign in again.");
            return Err(Step::reply(page(401, login_page(via, ctx, "", why))).with_event(event));
        }
        return Err(second_factor_page(
            via,
            ctx,
            Some(("That code is not right, or was used already.", 401)),
        )
        .with_event(event));
    };
    // Not the person's wrong-code counter: a passkey proves nothing about who typed codes.
    ctx.guard.succeeded(req.peer, Kind::User, &user.name);
    let recovery = matches!(spend, Spend::Recovery(_));
    let methods = Methods {
        otp: true,
        ..s.methods
    };
    // When the person signed in stays the password's time: a code alone renews nothing.
    let mut signed = start(req, &user, methods, s.auth_time, cookies, ctx, rng);
    signed.changes.push(Change::SpendCode {
        user: user.name.clone(),
        spend,
    });
    if recovery {
        // Said in the audit trail: a recovery code used is a phone lost, or a code leaked.
        let step = Step::reply(page(
            200,
            Page::Notice {
                title: "Signed in with a recovery code",
                message: format!(
                    "{} recovery codes are left. Set up one-time codes again on a new phone, \
                     or make new recovery codes, on your account page.",
                    user.factors.recovery.len().saturating_sub(1)
                ),
                next: via.back(ctx, &signed.session),
            },
        ))
        .with_event(Event::Page {
            action: "login",
            outcome: "recovery_code_used",
            client_id: via.client_id(),
            user: Some(user.name.clone()),
        });
        return Err(signed.then(step));
    }
    Ok(signed)
}

fn enroll(
    req: &Request,
    form: &Params,
    via: &Via,
    cookies: &Cookies,
    ctx: &Context,
    rng: &mut dyn Entropy,
) -> Result<SignedIn, Step> {
    let (_, s, user) = pending_session(req, via, cookies, ctx, true)?;
    let secret = form.get("secret").unwrap_or_default();
    let typed = form.get("code").unwrap_or_default();
    let (next, codes) = match factors::enroll_totp(&user, secret, typed, ctx.now, ctx.pepper, rng) {
        Ok(done) => done,
        Err(why) => {
            let secret = match crate::jose::otp::parse_secret(secret) {
                Some(_) => secret.to_string(),
                None => crate::jose::otp::new_secret(rng),
            };
            return Err(enroll_page(
                via,
                &user.name,
                &secret,
                ctx,
                Some(why.message()),
            ));
        }
    };
    let methods = Methods {
        otp: true,
        ..s.methods
    };
    let mut signed = start(req, &next, methods, s.auth_time, cookies, ctx, rng);
    signed.changes.push(Change::ReplaceUser {
        user: next,
        expected: user.generation.clone(),
    });
    let step = Step::reply(page(
        200,
        Page::RecoveryCodes {
            codes,
            next: via.back(ctx, &signed.session),
        },
    ))
    .with_event(Event::Page {
        action: "account",
        outcome: "totp_added",
        client_id: None,
        user: Some(user.name.clone()),
    });
    Err(signed.then(step))
}

/// A passkey's response: the person it names signed in, or, on a browser whose password
/// step is done for the same person, that sign-in completed.
fn passkey(
    req: &Request,
    form: &Params,
    via: &Via,
    cookies: &Cookies,
    ctx: &Context,
    rng: &mut dyn Entropy,
) -> Result<SignedIn, Step> {
    let refused = |why: &'static str, outcome: &'static str, user: Option<String>| {
        Step::reply(page(401, login_page(via, ctx, "", Some(why)))).with_event(Event::Page {
            action: "login",
            outcome,
            client_id: via.client_id(),
            user,
        })
    };
    let rp = passkeys::Rp::of(&ctx.policy.issuer).map_err(|why| error_page(400, why.message()))?;
    // Unknown passkeys count against the address, like unknown names.
    if let Verdict::Wait(wait) = ctx.guard.check(req.peer, Kind::User, "", ctx.now) {
        return Err(refused(
            "Too many failed attempts. Wait a little and try again.",
            "throttled",
            None,
        )
        .with_event(Event::Throttled {
            peer: req.peer,
            wait,
        }));
    }
    let presented = passkeys::Presented::read(form.get("credential").unwrap_or_default()).ok();
    // The person the passkey names by its handle (none is empty: that is no passkey).
    let user = match &presented {
        Some(p) => {
            let handle = p.handle();
            let users = ctx.dir.users().map_err(Step::from)?;
            users.into_iter().find(|u| {
                !u.factors.passkey_handle.is_empty() && u.factors.passkey_handle == handle
            })
        }
        None => None,
    };
    let (Some(user), Some(presented)) = (user, presented) else {
        ctx.guard.failed(req.peer, Kind::User, "", ctx.now);
        return Err(refused(
            "That passkey is not known here. Sign in with your password.",
            "unknown_passkey",
            None,
        ));
    };
    let (next, kind) = match ctx
        .passkeys
        .sign_in(&rp, &user, &presented, asker(req.peer), ctx.now)
    {
        Ok(done) => done,
        Err(why) => {
            ctx.guard.failed(req.peer, Kind::User, "", ctx.now);
            let outcome = match why {
                passkeys::Refused::CounterWentBack => "passkey_counter_went_back",
                _ => "passkey_refused",
            };
            return Err(refused(
                "The passkey could not sign you in. Try again, or sign in with your password.",
                outcome,
                Some(user.name.clone()),
            ));
        }
    };
    // Not the person's wrong-code counter: a passkey proves nothing about who typed codes.
    ctx.guard.succeeded(req.peer, Kind::User, &user.name);
    // The password step of this browser, if it was this person's and is still recent.
    let pending = cookies::any_session(req, ctx, cookies)
        .map_err(Step::from)?
        .map(|(_, s)| s)
        .filter(|s| s.username == user.name && s.methods.pwd)
        .filter(|s| ctx.now.saturating_sub(s.auth_time) <= policy::SECOND_STEP);
    let (methods, auth_time) = match pending {
        Some(s) => (
            Methods {
                key: Some(kind),
                ..s.methods
            },
            s.auth_time,
        ),
        None => (Methods::passkey(kind), ctx.now),
    };
    let mut signed = start(req, &next, methods, auth_time, cookies, ctx, rng);
    signed.changes.push(Change::ReplaceUser {
        user: next,
        expected: user.generation.clone(),
    });
    Ok(signed)
}
