//! What a person's browser sees of the authorization code flow: sign in, consent, and the
//! redirect back to the app with a code. The rules are here; the HTML is the pages adapter's
//! (`crate::adapters::pages`), which renders the [`Page`] a reply carries.
//!
//! Two cookies, both `HttpOnly`, `SameSite=Lax`, and `Secure` with the `__Host-` prefix over
//! HTTPS: the browser's (a random id no server state is kept for, which every form's CSRF
//! token is bound to) and the session's (set at sign-in, a new id each time).

use crate::protocol::browser::auth_request::{self, AuthRequest, Refused};
use crate::protocol::browser::codes::CodeGrant;
use crate::protocol::browser::sessions::Session;
use crate::protocol::guard::{Kind, Verdict};
use crate::protocol::page::Page;
use crate::protocol::paths::AUTHORIZE_PATH;
use crate::protocol::{Change, Context, Event, Reply, Request, Step};
use crate::vocab::entropy::{self, Entropy};
use crate::vocab::record::ConsentRecord;
use crate::vocab::request::{self, BodyKind, Params};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// A scope's tokens with their words, as the consent pages list them.
fn scope_lines(scope: &crate::vocab::scope::Scope) -> Vec<(String, String)> {
    scope
        .iter()
        .map(|s| (s.to_string(), scope_words(s)))
        .collect()
}

/// Words for a scope on the consent page.
pub fn scope_words(scope: &str) -> String {
    match scope {
        "openid" => "Know who you are on this network".into(),
        "profile" => "See your name and user name".into(),
        "email" => "See your email address".into(),
        "groups" => "See the groups you are in".into(),
        "offline_access" => "Stay signed in when you are not using it".into(),
        other => format!("Use “{other}” on your behalf"),
    }
}

/// The headers every page carries: no script may run, nothing may frame it, nothing cached,
/// no URL leaks to another site.
fn page_headers(reply: Reply) -> Reply {
    reply
        .with_header(
            "Content-Security-Policy",
            "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; frame-ancestors 'none'",
        )
        .with_header("X-Frame-Options", "DENY")
        .with_header("Referrer-Policy", "no-referrer")
        .with_header("X-Content-Type-Options", "nosniff")
        .with_header("Cache-Control", "no-store")
}

/// A page reply.
pub fn page(status: u16, page: Page) -> Reply {
    page_headers(Reply::page(status, page))
}

/// The one script of the `form_post` page: it posts the form at once. The page works
/// without it (a button), and its CSP allows this script by its hash and nothing else.
pub const FORM_POST_SCRIPT: &str = "document.forms[0].submit();";

/// The CSP of the `form_post` page: the pages' own, with the form's target allowed and its
/// one script by hash.
fn form_post_csp(action: &str) -> String {
    use sha2::Digest;
    let hash = base64::engine::general_purpose::STANDARD
        .encode(sha2::Sha256::digest(FORM_POST_SCRIPT.as_bytes()));
    // The origin only: a CSP source is matched by origin and path, and the redirect URI was
    // registered, so no quoting is needed beyond what check_redirect_uri refused.
    let origin = action
        .split_once("://")
        .map(|(scheme, rest)| {
            let host = rest.split(['/', '?']).next().unwrap_or(rest);
            format!("{scheme}://{host}")
        })
        .unwrap_or_default();
    format!(
        "default-src 'none'; style-src 'self'; script-src 'sha256-{hash}'; form-action {origin}; \
         base-uri 'none'; frame-ancestors 'none'"
    )
}

/// Sends the answer to the app the way it asked: a redirect, or a page that posts it.
pub fn answer(response: &auth_request::Response) -> Reply {
    match response.mode {
        auth_request::ResponseMode::FormPost => {
            let csp = form_post_csp(&response.uri);
            let mut reply = page(
                200,
                Page::FormPost {
                    action: response.uri.clone(),
                    fields: response.params.clone(),
                },
            );
            reply
                .headers
                .retain(|(n, _)| !n.eq_ignore_ascii_case("Content-Security-Policy"));
            reply.with_header("Content-Security-Policy", &csp)
        }
        _ => redirect(&response.location()),
    }
}

/// A `303 See Other` to `location`.
pub fn redirect(location: &str) -> Reply {
    page_headers(Reply {
        status: 303,
        headers: vec![("Location", location.to_string())],
        body: Vec::new(),
        page: None,
    })
}

/// The browser's cookies, by their names for this server.
struct Cookies {
    secure: bool,
}

impl Cookies {
    fn new(ctx: &Context) -> Cookies {
        Cookies {
            secure: ctx.policy.issuer.starts_with("https://"),
        }
    }
    fn browser(&self) -> &'static str {
        if self.secure {
            "__Host-piauth_b"
        } else {
            "piauth_b"
        }
    }
    fn session(&self) -> &'static str {
        if self.secure {
            "__Host-piauth_s"
        } else {
            "piauth_s"
        }
    }
    fn set(&self, name: &str, value: &str, max_age: Option<u64>) -> String {
        let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
        if self.secure {
            c.push_str("; Secure");
        }
        if let Some(age) = max_age {
            c.push_str(&format!("; Max-Age={age}"));
        }
        c
    }
}

/// The value of cookie `name`, if the request carries one that could be ours.
fn cookie<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("cookie"))
        .flat_map(|(_, v)| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
        .filter(|v| {
            (16..=64).contains(&v.len())
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// The CSRF token of a browser id: an HMAC under the store's pepper, so that a form is only
/// good from the browser it was served to.
fn csrf(pepper: &[u8], browser: &str) -> String {
    use hmac::{Mac, SimpleHmac};
    let mut mac = <SimpleHmac<sha2::Sha256> as Mac>::new_from_slice(pepper)
        .expect("HMAC takes any key length");
    mac.update(b"piauth csrf\0");
    mac.update(browser.as_bytes());
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// The browser's id, and the cookie to set when it had none.
fn browser_id(req: &Request, cookies: &Cookies, rng: &mut dyn Entropy) -> (String, Option<String>) {
    match cookie(req, cookies.browser()) {
        Some(id) => (id.to_string(), None),
        None => {
            let id = entropy::token(rng, 16);
            let set = cookies.set(cookies.browser(), &id, None);
            (id, Some(set))
        }
    }
}

/// The signed-in session, if it is live and its user unchanged.
fn session(
    req: &Request,
    ctx: &Context,
    cookies: &Cookies,
) -> Result<Option<([u8; 32], Session)>, crate::protocol::LookupError> {
    let Some(id) = cookie(req, cookies.session()) else {
        return Ok(None);
    };
    let digest = crate::jose::secret::token_digest(id);
    let Some(s) = ctx.sessions.get(&digest, ctx.now) else {
        return Ok(None);
    };
    match ctx.dir.user(&s.username)? {
        Some(u) if u.generation == s.generation => Ok(Some((digest, s))),
        _ => {
            ctx.sessions.remove(&digest);
            Ok(None)
        }
    }
}

/// `step` with the cookie to set, if any.
fn with_cookie(step: Step, set: Option<String>) -> Step {
    match set {
        Some(c) => Step {
            reply: step.reply.with_header("Set-Cookie", &c),
            ..step
        },
        None => step,
    }
}

fn error_page(status: u16, message: &str) -> Step {
    Step::reply(page(
        status,
        Page::Error {
            message: message.to_string(),
        },
    ))
}

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
fn checked(query: &str, ctx: &Context) -> Result<AuthRequest, Step> {
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
                        crate::protocol::oidc::flow::id_token_alg(&ar.client),
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
fn next(
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
fn not_admitted(ar: &AuthRequest, user: &str, ctx: &Context) -> Step {
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
fn code(
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

/// `GET /logout` (OpenID Connect RP-initiated logout). With an `id_token_hint` piauth signed,
/// the app that holds it is asking: the session ends at once. Otherwise the person confirms
/// first (a link from anywhere must not sign them out), through `POST /logout`'s form. Then
/// back to the app when it names a `post_logout_redirect_uri` it registered (as one of its
/// redirect URIs), or a page that says the person is signed out.
pub fn logout_get(req: &Request, ctx: &Context, rng: &mut dyn Entropy) -> Step {
    let cookies = Cookies::new(ctx);
    let query = if req.query.len() <= 4096 {
        req.query.as_str()
    } else {
        ""
    };
    let params = request::parse_body(BodyKind::Form, query.as_bytes()).unwrap_or_default();
    let hinted = params
        .get("id_token_hint")
        .and_then(|t| crate::protocol::oidc::flow::verified_hint(t, ctx));
    // Without asking, only the app of the person signed in here may sign them out: a hint
    // naming someone else (a leaked ID token) is no such request.
    let signed_in = match session(req, ctx, &cookies) {
        Ok(s) => s.map(|(_, s)| s.username),
        Err(e) => return Step::from(e),
    };
    if let Some((aud, sub)) = hinted {
        if signed_in.is_none_or(|user| user == sub) {
            return sign_out(req, &params, Some(aud), &cookies, ctx);
        }
    }
    let (browser, set) = browser_id(req, &cookies, rng);
    let confirm = page(
        200,
        Page::SignOut {
            csrf: csrf(ctx.pepper, &browser),
            request: query.to_string(),
        },
    );
    with_cookie(Step::reply(confirm), set)
}

/// `POST /logout`: the confirmation form.
pub fn logout_post(req: &Request, ctx: &Context) -> Step {
    let cookies = Cookies::new(ctx);
    let (form, browser) = match form(req, &cookies) {
        Ok(f) => f,
        Err(step) => return step,
    };
    if let Err(step) = require_token(&form, &csrf(ctx.pepper, browser)) {
        return step;
    }
    let query = form.get("request").unwrap_or_default();
    let params = request::parse_body(BodyKind::Form, query.as_bytes()).unwrap_or_default();
    let hinted = params
        .get("id_token_hint")
        .and_then(|t| crate::protocol::oidc::flow::verified_hint(t, ctx))
        .map(|(aud, _)| aud);
    // A `client_id` and a hint must agree (RP-Initiated Logout §2); either alone will do.
    let client = match (params.get("client_id"), hinted) {
        (Some(id), Some(aud)) if id != aud => None,
        (Some(id), _) => Some(id.to_string()),
        (None, aud) => aud,
    };
    sign_out(req, &params, client, &cookies, ctx)
}

/// Ends the browser's session; back to the app's registered URI, or the signed-out page.
fn sign_out(
    req: &Request,
    params: &Params,
    client_id: Option<String>,
    cookies: &Cookies,
    ctx: &Context,
) -> Step {
    let mut ended = None;
    if let Some(id) = cookie(req, cookies.session()) {
        let digest = crate::jose::secret::token_digest(id);
        ended = ctx.sessions.get(&digest, ctx.now).map(|s| s.username);
        ctx.sessions.remove(&digest);
    }
    let clear = cookies.set(cookies.session(), "", Some(0));
    let back = match (client_id, params.get("post_logout_redirect_uri")) {
        (Some(id), Some(uri)) => match ctx.dir.client(&id) {
            Ok(Some(c))
                if c.redirect_uris
                    .iter()
                    .any(|r| auth_request::redirect_matches(r, uri)) =>
            {
                Some(match params.get("state") {
                    Some(state) => auth_request::redirect_with(uri, &[("state", state)]),
                    None => uri.to_string(),
                })
            }
            Ok(_) => None,
            Err(e) => return Step::from(e),
        },
        _ => None,
    };
    let reply = match back {
        Some(to) => redirect(&to),
        None => page(200, Page::SignedOut),
    };
    let step = Step::reply(reply.with_header("Set-Cookie", &clear));
    match ended {
        Some(user) => step.with_event(Event::Page {
            action: "logout",
            outcome: "ok",
            client_id: None,
            user: Some(user),
        }),
        None => step,
    }
}

/// A form and the browser's id (its cookie), or the page that refuses it. Each form then
/// checks its CSRF token ([`require_token`]).
fn form<'a>(req: &'a Request, cookies: &Cookies) -> Result<(Params, &'a str), Step> {
    const EXPIRED: &str =
        "This form has expired or did not come from this browser. Go back and start again.";
    if req.body_too_large {
        return Err(error_page(413, "The form is too large."));
    }
    let Ok(form) = request::parse_body(BodyKind::Form, &req.body) else {
        return Err(error_page(400, "The form could not be read."));
    };
    let Some(browser) = cookie(req, cookies.browser()) else {
        return Err(error_page(403, EXPIRED));
    };
    Ok((form, browser))
}

/// The form's `csrf` is `expected`, or the page that refuses it.
fn require_token(form: &Params, expected: &str) -> Result<(), Step> {
    let sent = form.get("csrf").unwrap_or_default();
    if bool::from(subtle::ConstantTimeEq::ct_eq(
        sent.as_bytes(),
        expected.as_bytes(),
    )) {
        return Ok(());
    }
    Err(error_page(
        403,
        "This form has expired or did not come from this browser. Go back and start again.",
    ))
}

/// The consent form's token: bound to the browser, the session's sign-in and the request, so
/// that only a consent page the rules showed (after `prompt=login` or `max_age` were met by
/// that sign-in) can be answered, not one made up from the sign-in page's token.
fn consent_csrf(pepper: &[u8], browser: &str, s: &Session, query: &str) -> String {
    let (user, at) = (&s.username, s.auth_time);
    csrf(
        pepper,
        &format!("consent\0{browser}\0{user}\0{at}\0{query}"),
    )
}

/// `POST /authorize`: the sign-in form or the consent form.
pub fn authorize_post(req: &Request, ctx: &Context, rng: &mut dyn Entropy) -> Step {
    let cookies = Cookies::new(ctx);
    let (form, browser) = match form(req, &cookies) {
        Ok(f) => f,
        Err(step) => return step,
    };
    let query = form.get("request").unwrap_or_default();
    // The sign-in form's token first (the consent form's is bound to the session, below).
    if form.get("action") != Some("consent") {
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
    };
    match form.get("action") {
        Some("login") => match sign_in(req, &form, &via, &cookies, ctx, rng) {
            Err(step) => step,
            Ok((session, set)) => {
                let step = next(&ar, query, Some(session), true, browser, ctx, rng);
                with_cookie(step, Some(set))
            }
        },
        Some("consent") => consent(req, &form, &ar, query, browser, &cookies, ctx, rng),
        _ => error_page(400, "The form could not be read."),
    }
}

/// Where a sign-in form comes from and goes back to.
struct Via<'a> {
    /// Whom the person signs in for (a client id, or "a device").
    label: &'a str,
    /// The form's target.
    action: &'static str,
    /// What to carry through the form.
    query: &'a str,
    /// The browser id the CSRF token is bound to.
    browser: &'a str,
}

fn login_page(via: &Via, ctx: &Context, username: &str, error: Option<&'static str>) -> Page {
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
fn sign_in(
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

fn operator_via<'a>(browser: &'a str) -> Via<'a> {
    Via {
        label: "the operator's page",
        action: crate::protocol::paths::OPERATOR_PATH,
        query: "",
        browser,
    }
}

/// The operator's page for a signed-in user, if they are an operator.
fn operator_page(s: &Session, ctx: &Context) -> Step {
    match ctx.dir.user(&s.username) {
        Ok(Some(u)) if u.admin => match crate::protocol::operator::view::view(&u.name, ctx) {
            Ok(v) => Step::reply(page(200, Page::Operator(Box::new(v)))),
            Err(e) => Step::from(e),
        },
        Ok(_) => error_page(
            403,
            "This page is for the operator: a user added with piauth user add --admin.",
        ),
        Err(e) => Step::from(e),
    }
}

/// `GET /operator`: the operator's page, after signing in.
pub fn operator_get(req: &Request, ctx: &Context, rng: &mut dyn Entropy) -> Step {
    let cookies = Cookies::new(ctx);
    let (browser, set) = browser_id(req, &cookies, rng);
    let step = match session(req, ctx, &cookies) {
        Err(e) => Step::from(e),
        Ok(None) => Step::reply(page(
            200,
            login_page(&operator_via(&browser), ctx, "", None),
        )),
        Ok(Some((_, s))) => operator_page(&s, ctx),
    };
    with_cookie(step, set)
}

/// `POST /operator`: its sign-in form.
pub fn operator_post(req: &Request, ctx: &Context, rng: &mut dyn Entropy) -> Step {
    let cookies = Cookies::new(ctx);
    let (form, browser) = match form(req, &cookies) {
        Ok(f) => f,
        Err(step) => return step,
    };
    if let Err(step) = require_token(&form, &csrf(ctx.pepper, browser)) {
        return step;
    }
    if form.get("action") != Some("login") {
        return error_page(400, "The form could not be read.");
    }
    match sign_in(req, &form, &operator_via(browser), &cookies, ctx, rng) {
        Err(step) => step,
        Ok((session, set)) => {
            let step = operator_page(&session, ctx);
            with_cookie(step, Some(set))
        }
    }
}

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
        Ok(Some((_, s))) => device_next(req, query, &s, &browser, ctx),
    };
    with_cookie(step, set)
}

fn device_via<'a>(query: &'a str, browser: &'a str) -> Via<'a> {
    Via {
        label: "a device",
        action: crate::protocol::paths::VERIFICATION_PATH,
        query,
        browser,
    }
}

/// For a signed-in person: the code `query` carries (from `verification_uri_complete`)
/// looked up, or the page to type one.
fn device_next(req: &Request, query: &str, s: &Session, browser: &str, ctx: &Context) -> Step {
    let typed = request::parse_body(BodyKind::Form, query.as_bytes())
        .ok()
        .and_then(|p| p.get("user_code").map(str::to_string));
    match typed {
        Some(code) => device_lookup(req, &code, s, browser, ctx),
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
const GUESS: &str = "(user code)";

/// The approval page for a typed code, or the entry page again with why not. Wrong codes
/// count as failed attempts from the address, as wrong passwords do.
fn device_lookup(req: &Request, typed: &str, s: &Session, browser: &str, ctx: &Context) -> Step {
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
    let (form, browser) = match form(req, &cookies) {
        Ok(f) => f,
        Err(step) => return step,
    };
    if let Err(step) = require_token(&form, &csrf(ctx.pepper, browser)) {
        return step;
    }
    let query = form.get("request").unwrap_or_default();
    let s = match form.get("action") {
        Some("login") => {
            let via = device_via(query, browser);
            return match sign_in(req, &form, &via, &cookies, ctx, rng) {
                Err(step) => step,
                Ok((session, set)) => {
                    with_cookie(device_next(req, query, &session, browser, ctx), Some(set))
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
        Some("code") => device_lookup(req, typed, &s, browser, ctx),
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
                (true, Ok(Some(user))) if matches!(ctx.dir.client(&pending.client_id), Ok(Some(c)) if c.admits(&user)) => {
                    crate::protocol::device::requests::Decision::Approved {
                        scope: pending.scope.intersect(&user.scope.with_identity()),
                        username: user.name,
                        generation: user.generation,
                    }
                }
                _ => crate::protocol::device::requests::Decision::Denied,
            };
            if !ctx.devices.decide(&code, decision, ctx.now) {
                return error_page(410, "That request has expired or was already decided.");
            }
            Step::reply(page(200, Page::DeviceDone { approved: allow })).with_event(Event::Page {
                action: "device",
                outcome: if allow { "approved" } else { "denied" },
                client_id: Some(pending.client_id),
                user: Some(s.username),
            })
        }
        _ => error_page(400, "The form could not be read."),
    }
}

#[allow(clippy::too_many_arguments)]
fn consent(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::testing::{client, user, MapDirectory, World};
    use crate::vocab::entropy::CountingEntropy;
    use crate::vocab::record::GrantType;

    const SESSION: &str = "session-id-of-alice-0123456789";
    const BROWSER: &str = "browser-id-0123456789";

    fn world() -> World {
        let mut dir = MapDirectory::default();
        let mut app = client(&[GrantType::AuthorizationCode], "read openid");
        app.id = "app".into();
        app.redirect_uris = vec!["https://app/cb".into()];
        dir.clients.insert("app".into(), app);
        dir.users.insert("alice".into(), user("alice", "read", "g"));
        World::new(dir)
    }

    /// A request from a browser with alice's session, signed in at `auth_time`.
    fn get(w: &World, query: &str, auth_time: u64) -> Step {
        let digest = crate::jose::secret::token_digest(SESSION);
        let s = Session {
            username: "alice".into(),
            generation: "g".into(),
            auth_time,
            last_seen: w.now,
        };
        w.sessions.insert(digest, s, w.now);
        let req = Request {
            method: "GET".into(),
            path: AUTHORIZE_PATH.into(),
            query: query.into(),
            headers: vec![(
                "Cookie".into(),
                format!("piauth_b={BROWSER}; piauth_s={SESSION}"),
            )],
            ..Request::default()
        };
        authorize_get(&req, &w.ctx(), &mut CountingEntropy(0))
    }

    fn query(extra: &str) -> String {
        format!(
            "response_type=code&client_id=app&redirect_uri=https%3A%2F%2Fapp%2Fcb&state=s\
             &code_challenge={}&code_challenge_method=S256{extra}",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        )
    }

    fn location(step: &Step) -> String {
        step.reply
            .header("Location")
            .unwrap_or_default()
            .to_string()
    }

    #[test]
    fn max_age_and_prompt_decide_between_sign_in_consent_and_a_code() {
        let w = world();
        let page = |s: &Step| s.reply.page.as_deref().cloned();
        // Signed in 100 s ago: max_age 50 asks again, 500 does not.
        assert!(matches!(
            page(&get(&w, &query("&max_age=50"), w.now - 100)),
            Some(Page::Login { .. })
        ));
        assert!(matches!(
            page(&get(&w, &query("&max_age=500"), w.now - 100)),
            Some(Page::Consent { .. })
        ));
        assert!(matches!(
            page(&get(&w, &query("&prompt=login"), w.now)),
            Some(Page::Login { .. })
        ));
        // prompt=none: an error back to the app when consent is missing, a code once given.
        let none = get(&w, &query("&prompt=none"), w.now);
        assert!(
            location(&none).contains("error=consent_required"),
            "{}",
            location(&none)
        );
        let mut w = w;
        w.dir.consents.insert(
            ("alice".into(), "app".into()),
            ConsentRecord {
                username: "alice".into(),
                client_id: "app".into(),
                scope: crate::vocab::scope::Scope::parse("read").unwrap(),
                generation: "g".into(),
                granted_at: 0,
            },
        );
        let code = get(&w, &query("&prompt=none&scope=read"), w.now);
        assert!(
            location(&code).starts_with("https://app/cb?code="),
            "{}",
            location(&code)
        );
        assert!(location(&code).contains("&state=s&iss=http%3A%2F%2Fpi"));
        // More than was consented to asks again; a consent from an old generation is void.
        let more = get(&w, &query("&prompt=none&scope=read%20openid"), w.now);
        assert!(location(&more).contains("error=consent_required"));
        w.dir
            .users
            .insert("alice".into(), user("alice", "read", "g2"));
        let stale = get(&w, &query("&prompt=none&scope=read"), w.now);
        assert!(
            location(&stale).contains("error=login_required"),
            "the session's generation is gone too"
        );
    }

    #[test]
    fn consent_needs_the_token_of_a_consent_page_the_rules_showed() {
        let w = world();
        // Signed in long ago: prompt=login shows the sign-in page, whose token does not
        // answer a consent form; nor does a consent token of another sign-in.
        let shown = get(&w, &query("&prompt=login"), w.now - 1000);
        let Some(Page::Login {
            csrf: token,
            request,
            ..
        }) = shown.reply.page.as_deref().cloned()
        else {
            panic!("sign-in expected");
        };
        let consent = |t: &str| {
            let req = Request {
                method: "POST".into(),
                path: AUTHORIZE_PATH.into(),
                headers: vec![(
                    "Cookie".into(),
                    format!("piauth_b={BROWSER}; piauth_s={SESSION}"),
                )],
                body: format!(
                    "action=consent&decision=allow&csrf={t}&request={}",
                    percent_encoding::utf8_percent_encode(
                        &request,
                        percent_encoding::NON_ALPHANUMERIC
                    )
                )
                .into_bytes(),
                ..Request::default()
            };
            authorize_post(&req, &w.ctx(), &mut CountingEntropy(0))
                .reply
                .status
        };
        assert_eq!(consent(&token), 403);
        let session = |auth_time| Session {
            username: "alice".into(),
            generation: "g".into(),
            auth_time,
            last_seen: w.now,
        };
        let other = consent_csrf(w.ctx().pepper, BROWSER, &session(w.now), &request);
        assert_eq!(consent(&other), 403);
        let mut bob = session(w.now - 1000);
        bob.username = "bob".into();
        let bobs = consent_csrf(w.ctx().pepper, BROWSER, &bob, &request);
        assert_eq!(
            consent(&bobs),
            403,
            "another person's sign-in in the same second"
        );
        let right = consent_csrf(w.ctx().pepper, BROWSER, &session(w.now - 1000), &request);
        assert_eq!(consent(&right), 303, "the token a consent page would carry");
        // A consent page shown within max_age, answered after it: sign in again.
        let aged = query("&max_age=500");
        let token = consent_csrf(w.ctx().pepper, BROWSER, &session(w.now - 1000), &aged);
        let req = Request {
            method: "POST".into(),
            path: AUTHORIZE_PATH.into(),
            headers: vec![(
                "Cookie".into(),
                format!("piauth_b={BROWSER}; piauth_s={SESSION}"),
            )],
            body: format!(
                "action=consent&decision=allow&csrf={token}&request={}",
                percent_encoding::utf8_percent_encode(&aged, percent_encoding::NON_ALPHANUMERIC)
            )
            .into_bytes(),
            ..Request::default()
        };
        let step = authorize_post(&req, &w.ctx(), &mut CountingEntropy(0));
        assert!(matches!(
            step.reply.page.as_deref(),
            Some(Page::Login { .. })
        ));
    }

    #[test]
    fn a_form_from_another_browser_or_without_its_token_is_refused() {
        let w = world();
        let post = |cookie: &str, body: String| {
            let req = Request {
                method: "POST".into(),
                path: AUTHORIZE_PATH.into(),
                headers: vec![("Cookie".into(), cookie.into())],
                body: body.into_bytes(),
                ..Request::default()
            };
            authorize_post(&req, &w.ctx(), &mut CountingEntropy(0))
                .reply
                .status
        };
        let token = csrf(w.ctx().pepper, BROWSER);
        let form = |t: &str| format!("action=login&csrf={t}&username=alice&password=pw&request=x");
        assert_eq!(post("piauth_b=another-browser-0123", form(&token)), 403);
        assert_eq!(post(&format!("piauth_b={BROWSER}"), form("forged")), 403);
        assert_eq!(post("", form(&token)), 403);
        // With the right pair it goes on (to the request's own check: "x" names no client).
        assert_eq!(post(&format!("piauth_b={BROWSER}"), form(&token)), 400);
    }
}
