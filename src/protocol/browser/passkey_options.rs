//! `POST /passkey/options`: the options of a passkey ceremony, for the pages' script. A
//! sign-in's for anyone on a sign-in page; a registration's only for a person signed in
//! recently (adding a passkey is a change to the account). Both need the browser's CSRF
//! token.

use crate::protocol::account::passkeys::{self, Refused, Rp};
use crate::protocol::account::policy;
use crate::protocol::browser::cookies::{browser_form, session, Cookies};
use crate::protocol::{Change, Context, Reply, Request, Step};
use crate::vocab::request::asker;
use serde_json::{json, Value};

fn refusal(status: u16, why: &str) -> Step {
    Step::reply(Reply::json(status, &json!({ "error": why })))
}

fn options(json: &str) -> Step {
    match serde_json::from_str::<Value>(json) {
        Ok(v) => Step::reply(Reply::json(200, &v).with_header("Cache-Control", "no-store")),
        Err(_) => refusal(500, "the options could not be made"),
    }
}

fn busy(why: Refused) -> Step {
    match why {
        Refused::Busy => refusal(
            503,
            "too many passkey ceremonies at once; try again shortly",
        ),
        Refused::TooManyOpen => Step::reply(
            Reply::json(
                429,
                &json!({ "error": "this device has started too many passkey sign-ins; finish one, or wait a few minutes" }),
            )
            .with_header("Retry-After", &passkeys::CEREMONY_SECONDS.to_string()),
        ),
        Refused::TooMany => refusal(409, "you have as many passkeys as an account may hold"),
        _ => refusal(500, "the options could not be made"),
    }
}

/// `POST /passkey/options` with `kind` = `sign_in` or `register`.
pub fn options_post(req: &Request, ctx: &Context) -> Step {
    let cookies = Cookies::new(ctx);
    let (form, _) = match browser_form(req, &cookies, ctx.pepper) {
        Ok(f) => f,
        Err(step) => return step,
    };
    let rp = match Rp::of(&ctx.policy.issuer) {
        Ok(rp) => rp,
        Err(why) => return refusal(400, why.message()),
    };
    match form.get("kind") {
        Some("sign_in") => match ctx.passkeys.sign_in_options(&rp, asker(req.peer), ctx.now) {
            Ok(json) => options(&json),
            Err(why) => busy(why),
        },
        Some("register") => {
            let s = match session(req, ctx, &cookies) {
                Ok(Some((_, s))) => s,
                Ok(None) => return refusal(401, "sign in first"),
                Err(e) => return Step::from(e),
            };
            if ctx.now.saturating_sub(s.auth_time) > policy::RECENT {
                return refusal(
                    401,
                    "sign in again first: your last sign-in was a while ago",
                );
            }
            let user = match ctx.dir.user(&s.username) {
                Ok(Some(u)) => u,
                Ok(None) => return refusal(401, "sign in first"),
                Err(e) => return Step::from(e),
            };
            match ctx.passkeys.registration_options(&rp, &user) {
                Err(why) => busy(why),
                Ok((json, with_handle)) => {
                    let step = options(&json);
                    match with_handle {
                        // The person's first passkey: their handle is stored now.
                        Some(next) => step.with_change(Change::ReplaceUser {
                            user: next,
                            expected: user.generation.clone(),
                        }),
                        None => step,
                    }
                }
            }
        }
        _ => refusal(400, "kind must be sign_in or register"),
    }
}
