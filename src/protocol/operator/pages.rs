//! `/operator`: the operator's page, behind the sign-in form, for users marked `--admin`.

use crate::protocol::browser::cookies::{browser_form, browser_id, session, Cookies};
use crate::protocol::browser::reply::{error_page, page, with_cookie};
use crate::protocol::browser::sessions::Session;
use crate::protocol::browser::sign_in::{is_sign_in, login_page, sign_in, Via};
use crate::protocol::page::Page;
use crate::protocol::{Context, Request, Step};
use crate::vocab::entropy::Entropy;

pub(crate) fn operator_via<'a>(browser: &'a str) -> Via<'a> {
    Via {
        label: "the operator's page",
        action: crate::protocol::paths::OPERATOR_PATH,
        query: "",
        browser,
        app_requires: false,
    }
}

/// The operator's page for a signed-in user, if they are an operator.
pub(crate) fn operator_page(s: &Session, ctx: &Context) -> Step {
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
    let (form, browser) = match browser_form(req, &cookies, ctx.pepper) {
        Ok(f) => f,
        Err(step) => return step,
    };
    if !is_sign_in(&form) {
        return error_page(400, "The form could not be read.");
    }
    match sign_in(req, &form, &operator_via(browser), &cookies, ctx, rng) {
        Err(step) => step,
        Ok(signed) => {
            let step = operator_page(&signed.session, ctx);
            signed.then(step)
        }
    }
}
