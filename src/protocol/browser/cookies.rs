//! The browser's cookies, its signed-in session, and the CSRF token of every form.
//!
//! Two cookies, both `HttpOnly`, `SameSite=Lax`, and `Secure` with the `__Host-` prefix over
//! HTTPS: the browser's (a random id no server state is kept for, which every form's CSRF
//! token is bound to) and the session's (set at sign-in, a new id each time).

use crate::protocol::browser::reply::error_page;
use crate::protocol::browser::sessions::Session;
use crate::protocol::{Context, Request, Step};
use crate::vocab::entropy::{self, Entropy};
use crate::vocab::request::{self, BodyKind, Params};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// The browser's cookies, by their names for this server.
pub(crate) struct Cookies {
    pub(crate) secure: bool,
}

impl Cookies {
    pub(crate) fn new(ctx: &Context) -> Cookies {
        Cookies {
            secure: ctx.policy.issuer.starts_with("https://"),
        }
    }
    pub(crate) fn browser(&self) -> &'static str {
        if self.secure {
            "__Host-piauth_b"
        } else {
            "piauth_b"
        }
    }
    pub(crate) fn session(&self) -> &'static str {
        if self.secure {
            "__Host-piauth_s"
        } else {
            "piauth_s"
        }
    }
    pub(crate) fn set(&self, name: &str, value: &str, max_age: Option<u64>) -> String {
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
pub(crate) fn cookie<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
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
pub(crate) fn csrf(pepper: &[u8], browser: &str) -> String {
    use hmac::{Mac, SimpleHmac};
    let mut mac = <SimpleHmac<sha2::Sha256> as Mac>::new_from_slice(pepper)
        .expect("HMAC takes any key length");
    mac.update(b"piauth csrf\0");
    mac.update(browser.as_bytes());
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// The browser's id, and the cookie to set when it had none.
pub(crate) fn browser_id(
    req: &Request,
    cookies: &Cookies,
    rng: &mut dyn Entropy,
) -> (String, Option<String>) {
    match cookie(req, cookies.browser()) {
        Some(id) => (id.to_string(), None),
        None => {
            let id = entropy::token(rng, 16);
            let set = cookies.set(cookies.browser(), &id, None);
            (id, Some(set))
        }
    }
}

/// The signed-in session, if it is live, its user unchanged, and it proved all its user
/// needs (a password alone does not sign in a person with a second factor).
pub(crate) fn session(
    req: &Request,
    ctx: &Context,
    cookies: &Cookies,
) -> Result<Option<([u8; 32], Session)>, crate::protocol::LookupError> {
    use crate::protocol::account::policy::{need, Need};
    let Some((digest, s, user)) = live_session(req, ctx, cookies)? else {
        return Ok(None);
    };
    Ok((need(&user, false, s.methods) == Need::Nothing).then_some((digest, s)))
}

/// The browser's session, complete or waiting for its second step: live and its user
/// unchanged.
pub(crate) fn any_session(
    req: &Request,
    ctx: &Context,
    cookies: &Cookies,
) -> Result<Option<([u8; 32], Session)>, crate::protocol::LookupError> {
    Ok(live_session(req, ctx, cookies)?.map(|(d, s, _)| (d, s)))
}

fn live_session(
    req: &Request,
    ctx: &Context,
    cookies: &Cookies,
) -> Result<
    Option<([u8; 32], Session, crate::vocab::record::UserRecord)>,
    crate::protocol::LookupError,
> {
    let Some(id) = cookie(req, cookies.session()) else {
        return Ok(None);
    };
    let digest = crate::jose::secret::token_digest(id);
    let Some(s) = ctx.sessions.get(&digest, ctx.now) else {
        return Ok(None);
    };
    match ctx.dir.user(&s.username)? {
        Some(u) if u.generation == s.generation && u.session_epoch == s.epoch => {
            Ok(Some((digest, s, u)))
        }
        _ => {
            ctx.sessions.remove(&digest);
            Ok(None)
        }
    }
}

/// A form and the browser's id (its cookie), or the page that refuses it. Each form then
/// checks its CSRF token ([`require_token`]).
pub(crate) fn form<'a>(req: &'a Request, cookies: &Cookies) -> Result<(Params, &'a str), Step> {
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

/// A form bound to the browser it was served to: [`form`], then its CSRF token checked
/// against the browser's ([`csrf`]). The forms whose token is bound to more (the consent
/// form's, [`consent_csrf`]) check theirs with [`require_token`].
pub(crate) fn browser_form<'a>(
    req: &'a Request,
    cookies: &Cookies,
    pepper: &[u8],
) -> Result<(Params, &'a str), Step> {
    let (form, browser) = form(req, cookies)?;
    require_token(&form, &csrf(pepper, browser))?;
    Ok((form, browser))
}

/// What a form that is not this browser's is told.
const EXPIRED: &str =
    "This form has expired or did not come from this browser. Go back and start again.";

/// The form's `csrf` is `expected`, or the page that refuses it.
pub(crate) fn require_token(form: &Params, expected: &str) -> Result<(), Step> {
    let sent = form.get("csrf").unwrap_or_default();
    if bool::from(subtle::ConstantTimeEq::ct_eq(
        sent.as_bytes(),
        expected.as_bytes(),
    )) {
        return Ok(());
    }
    Err(error_page(403, EXPIRED))
}

/// The consent form's token: bound to the browser, the session's sign-in and the request, so
/// that only a consent page the rules showed (after `prompt=login` or `max_age` were met by
/// that sign-in) can be answered, not one made up from the sign-in page's token.
pub(crate) fn consent_csrf(pepper: &[u8], browser: &str, s: &Session, query: &str) -> String {
    let (user, at) = (&s.username, s.auth_time);
    csrf(
        pepper,
        &format!("consent\0{browser}\0{user}\0{at}\0{query}"),
    )
}

/// The token of the form that goes on with an authorization after a page interrupted its
/// sign-in (recovery codes): bound to that sign-in, so that no other counts as the fresh
/// one a `prompt=login` asked for.
pub(crate) fn continue_csrf(pepper: &[u8], browser: &str, s: &Session, query: &str) -> String {
    let (user, at) = (&s.username, s.auth_time);
    csrf(
        pepper,
        &format!("continue\0{browser}\0{user}\0{at}\0{query}"),
    )
}

/// The token of the operator's forms: bound to the sign-in as well as the browser, so that a
/// browser cookie planted by another site of the same name (cookies ignore ports) gives no
/// token that a change would take.
pub(crate) fn operator_csrf(pepper: &[u8], browser: &str, s: &Session) -> String {
    let (user, at) = (&s.username, s.auth_time);
    csrf(pepper, &format!("operator\0{browser}\0{user}\0{at}"))
}
