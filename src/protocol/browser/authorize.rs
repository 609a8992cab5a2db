//! `/authorize`: what a person's browser sees of the authorization code flow. Sign in,
//! consent, and the redirect back to the app with a code. The rules are here; the HTML is
//! the pages adapter's (`crate::adapters::pages`), which renders the [`Page`] a reply
//! carries.

use crate::protocol::account::policy::{self, Need};
use crate::protocol::browser::auth_request::{self, AuthRequest, Refused};
use crate::protocol::browser::codes::CodeGrant;
use crate::protocol::browser::cookies::{
    browser_id, consent_csrf, continue_csrf, csrf, form, require_token, session, Cookies,
};
use crate::protocol::browser::reply::{answer, error_page, page, scope_lines, with_cookie};
use crate::protocol::browser::sessions::Session;
use crate::protocol::browser::sign_in::{is_sign_in, login_page, sign_in, step_up_page, Via};
use crate::protocol::page::Page;
use crate::protocol::paths::AUTHORIZE_PATH;
use crate::protocol::{Change, Context, Event, Request, Step};
use crate::vocab::entropy::{self, Entropy};
use crate::vocab::record::ConsentRecord;
use crate::vocab::request::{self, BodyKind, Params};

/// `GET /authorize`.
pub fn authorize_get(req: &Request, ctx: &Context, rng: &mut dyn Entropy) -> Step {
    let query = req.query.as_str();
    let cookies = Cookies::new(ctx);
    let (browser, set) = browser_id(req, &cookies, rng);
    let step = match checked(query, ctx) {
        Err(step) => step,
        Ok(ar) => match session(req, ctx, &cookies) {
            Err(e) => Step::from(e),
            Ok(s) => next(&ar, query, s.map(|(_, s)| s), false, &browser, ctx, rng),
        },
    };
    with_cookie(step, set)
}

/// The request, checked, or the step that refuses it.
pub(crate) fn checked(query: &str, ctx: &Context) -> Result<AuthRequest, Step> {
    let params = request::parse_body(BodyKind::Form, query.as_bytes())
        .map_err(|_| error_page(400, "This sign-in link is malformed."))?;
    match auth_request::check(&params, ctx.dir, &ctx.policy.issuer) {
        Err(e) => Err(Step::from(e)),
        Ok(Err(Refused::Page(why))) => Err(error_page(400, &why)),
        Ok(Err(Refused::Redirect(to))) => Err(Step::reply(answer(&to))),
        // The key of its ID tokens is made at start and at registration; until it is there
        // (an RSA key takes a while on a Pi 1), no code is issued that could not be redeemed.
        Ok(Ok(ar))
            if ar.scope.contains("openid")
                && ctx
                    .keys
                    .id_signer(
                        crate::protocol::oidc::id_token::id_token_alg(&ar.client),
                        ctx.now,
                    )
                    .is_none() =>
        {
            Err(Step::reply(answer(&ar.error(
                "temporarily_unavailable",
                "the key for this app's ID tokens is still being made: try again in a minute",
                &ctx.policy.issuer,
            ))))
        }
        Ok(Ok(ar)) => Ok(ar),
    }
}

/// Where a checked request goes next: sign in, consent, or back to the app with a code.
/// `fresh`: the person has just signed in (so `prompt=login` and `max_age` are met).
pub(crate) fn next(
    ar: &AuthRequest,
    query: &str,
    session: Option<Session>,
    fresh: bool,
    browser: &str,
    ctx: &Context,
    rng: &mut dyn Entropy,
) -> Step {
    let fail = |error: &str, description: &str| {
        Step::reply(answer(&ar.error(error, description, &ctx.policy.issuer)))
    };
    let too_old = |s: &Session| {
        ar.max_age
            .is_some_and(|m| ctx.now.saturating_sub(s.auth_time) > m)
    };
    let session = match session {
        Some(s) if fresh || (!ar.prompt.login && !too_old(&s)) => s,
        _ if ar.prompt.none => return fail("login_required", "the person is not signed in"),
        _ => {
            let via = Via {
                label: &ar.client.id,
                action: AUTHORIZE_PATH,
                query,
                browser,
                app_requires: ar.wants_second_factor(),
            };
            return Step::reply(page(200, login_page(&via, ctx, "", None)));
        }
    };
    let user = match ctx.dir.user(&session.username) {
        Ok(Some(u)) => u,
        Ok(None) => return fail("login_required", "the person is not signed in"),
        Err(e) => return Step::from(e),
    };
    if !ar.client.admits(&user) {
        return not_admitted(ar, &user.name, ctx);
    }
    // Signed in, but this app asks for more than the sign-in proved.
    let need = policy::need(&user, ar.wants_second_factor(), session.methods);
    if need != Need::Nothing {
        let via = Via {
            label: &ar.client.id,
            action: AUTHORIZE_PATH,
            query,
            browser,
            app_requires: true,
        };
        return step_up_page(need, &via, &user.name, session.auth_time, ctx, rng);
    }
    let scope = ar.scope.intersect(&user.scope.with_identity());
    let remembered = match ctx.dir.consent(&user.name, &ar.client.id) {
        Ok(c) => c.is_some_and(|c| c.generation == user.generation && scope.is_subset(&c.scope)),
        Err(e) => return Step::from(e),
    };
    if !remembered || ar.prompt.consent {
        if ar.prompt.none {
            return fail(
                "consent_required",
                "the person has not consented to this client",
            );
        }
        return Step::reply(page(
            200,
            Page::Consent {
                client: ar.client.id.clone(),
                user: user.name.clone(),
                scopes: scope_lines(&scope),
                request: query.to_string(),
                csrf: consent_csrf(ctx.pepper, browser, &session, query),
            },
        ));
    }
    code(ar, &session, scope, ctx, rng)
}

/// The page for a person outside every group the app allows: it says so, and leads back to
/// the app with `access_denied` (a page, not a sign-in loop).
pub(crate) fn not_admitted(ar: &AuthRequest, user: &str, ctx: &Context) -> Step {
    let back = ar.error(
        "access_denied",
        "this person is not in a group this app allows",
        &ctx.policy.issuer,
    );
    Step::reply(page(
        403,
        Page::NotAdmitted {
            client: ar.client.id.clone(),
            user: user.to_string(),
            back: Box::new(back),
        },
    ))
    .with_event(Event::Page {
        action: "authorize",
        outcome: "not_in_allowed_group",
        client_id: Some(ar.client.id.clone()),
        user: Some(user.to_string()),
    })
}

/// Issues a code and sends the browser back to the app with it.
pub(crate) fn code(
    ar: &AuthRequest,
    session: &Session,
    scope: crate::vocab::scope::Scope,
    ctx: &Context,
    rng: &mut dyn Entropy,
) -> Step {
    let value = entropy::token(rng, 32);
    let grant = CodeGrant {
        client_id: ar.client.id.clone(),
        redirect_uri: ar.redirect_uri.clone(),
        redirect_uri_sent: ar.redirect_uri_sent,
        challenge: ar.challenge.clone(),
        scope,
        username: session.username.clone(),
        user_generation: session.generation.clone(),
        nonce: ar.nonce.clone(),
        auth_time: session.auth_time,
        methods: session.methods,
        acr_asked: ar.acr_values.is_some(),
        expires_at: ctx
            .now
            .saturating_add(crate::protocol::browser::codes::CODE_TTL),
    };
    let digest = crate::jose::secret::token_digest(&value);
    if ctx.codes.insert(digest, grant, ctx.now).is_err() {
        return Step::reply(answer(&ar.error(
            "temporarily_unavailable",
            "too many sign-ins in the last minute; try again shortly",
            &ctx.policy.issuer,
        )));
    }
    Step::reply(answer(&ar.code(&value, &ctx.policy.issuer))).with_event(Event::Page {
        action: "authorize",
        outcome: "code_issued",
        client_id: Some(ar.client.id.clone()),
        user: Some(session.username.clone()),
    })
}

/// `POST /authorize`: the sign-in form or the consent form.
pub fn authorize_post(req: &Request, ctx: &Context, rng: &mut dyn Entropy) -> Step {
    let cookies = Cookies::new(ctx);
    let (form, browser) = match form(req, &cookies) {
        Ok(f) => f,
        Err(step) => return step,
    };
    let query = form.get("request").unwrap_or_default();
    // The sign-in form's token first (the consent and continue forms' are bound to the
    // session, below).
    if !matches!(form.get("action"), Some("consent" | "continue")) {
        if let Err(step) = require_token(&form, &csrf(ctx.pepper, browser)) {
            return step;
        }
    }
    let ar = match checked(query, ctx) {
        Ok(ar) => ar,
        Err(step) => return step,
    };
    let via = Via {
        label: &ar.client.id,
        action: AUTHORIZE_PATH,
        query,
        browser,
        app_requires: ar.wants_second_factor(),
    };
    if is_sign_in(&form) {
        return match sign_in(req, &form, &via, &cookies, ctx, rng) {
            Err(step) => step,
            Ok(signed) => {
                // Fresh if its password was checked in this sign-in, not only a code.
                let fresh = ctx.now.saturating_sub(signed.session.auth_time)
                    <= crate::protocol::account::policy::SECOND_STEP;
                let step = next(
                    &ar,
                    query,
                    Some(signed.session.clone()),
                    fresh,
                    browser,
                    ctx,
                    rng,
                );
                signed.then(step)
            }
        };
    }
    match form.get("action") {
        // From a page that interrupted the sign-in (recovery codes): the sign-in just made
        // meets `prompt=login` and `max_age` still.
        // Only the sign-in the form was made for, while it is still within its `max_age`.
        Some("continue") => match session(req, ctx, &cookies) {
            Err(e) => Step::from(e),
            Ok(None) => next(&ar, query, None, false, browser, ctx, rng),
            Ok(Some((_, s))) => {
                let expected = continue_csrf(ctx.pepper, browser, &s, query);
                if let Err(step) = require_token(&form, &expected) {
                    return step;
                }
                let window = crate::protocol::account::policy::SECOND_STEP
                    .min(ar.max_age.unwrap_or(u64::MAX));
                let fresh = ctx.now.saturating_sub(s.auth_time) <= window;
                next(&ar, query, Some(s), fresh, browser, ctx, rng)
            }
        },
        Some("consent") => consent(req, &form, &ar, query, browser, &cookies, ctx, rng),
        _ => error_page(400, "The form could not be read."),
    }
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn consent(
    req: &Request,
    form: &Params,
    ar: &AuthRequest,
    query: &str,
    browser: &str,
    cookies: &Cookies,
    ctx: &Context,
    rng: &mut dyn Entropy,
) -> Step {
    let s = match session(req, ctx, cookies) {
        Ok(s) => s,
        Err(e) => return Step::from(e),
    };
    let Some((_, session)) = s else {
        // Signed out meanwhile: sign in again, then consent.
        return next(ar, query, None, false, browser, ctx, rng);
    };
    let expected = consent_csrf(ctx.pepper, browser, &session, query);
    if let Err(step) = require_token(form, &expected) {
        return step;
    }
    // The page may have waited: a sign-in that has since grown older than `max_age` asks
    // for the password again.
    if ar
        .max_age
        .is_some_and(|m| ctx.now.saturating_sub(session.auth_time) > m)
    {
        return next(ar, query, Some(session), false, browser, ctx, rng);
    }
    if form.get("decision") != Some("allow") {
        return Step::reply(answer(&ar.error(
            "access_denied",
            "the person did not allow it",
            &ctx.policy.issuer,
        )))
        .with_event(Event::Page {
            action: "authorize",
            outcome: "denied",
            client_id: Some(ar.client.id.clone()),
            user: Some(session.username.clone()),
        });
    }
    let user = match ctx.dir.user(&session.username) {
        Ok(Some(u)) => u,
        Ok(None) => return next(ar, query, None, false, browser, ctx, rng),
        Err(e) => return Step::from(e),
    };
    if !ar.client.admits(&user) {
        return not_admitted(ar, &user.name, ctx);
    }
    let scope = ar.scope.intersect(&user.scope.with_identity());
    let mut step = code(ar, &session, scope.clone(), ctx, rng);
    if matches!(
        &step.event,
        Some(Event::Page {
            outcome: "code_issued",
            ..
        })
    ) {
        step.changes.push(Change::PutConsent(ConsentRecord {
            username: user.name,
            client_id: ar.client.id.clone(),
            scope,
            generation: user.generation,
            granted_at: ctx.now,
        }));
    }
    step
}
