//! OpenID Connect RP-initiated logout: `/logout`, and the confirmation it may ask for.

use crate::protocol::browser::auth_request;
use crate::protocol::browser::cookies::{browser_form, browser_id, cookie, csrf, session, Cookies};
use crate::protocol::browser::reply::{page, redirect, with_cookie};
use crate::protocol::page::Page;
use crate::protocol::{Context, Event, Request, Step};
use crate::vocab::entropy::Entropy;
use crate::vocab::request::{self, BodyKind, Params};

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
        .and_then(|t| crate::protocol::oidc::id_token::verified_hint(t, ctx));
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
    let (form, _) = match browser_form(req, &cookies, ctx.pepper) {
        Ok(f) => f,
        Err(step) => return step,
    };
    let query = form.get("request").unwrap_or_default();
    let params = request::parse_body(BodyKind::Form, query.as_bytes()).unwrap_or_default();
    let hinted = params
        .get("id_token_hint")
        .and_then(|t| crate::protocol::oidc::id_token::verified_hint(t, ctx))
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
pub(crate) fn sign_out(
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
