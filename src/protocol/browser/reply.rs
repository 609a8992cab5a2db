//! How a page reaches the browser: the headers every page carries, the redirect or
//! `form_post` page that takes the answer back to the app, and the words for scopes.

use crate::protocol::browser::auth_request;
use crate::protocol::page::Page;
use crate::protocol::{Reply, Step};
use base64::Engine;

/// A scope's tokens with their words, as the consent pages list them.
pub(crate) fn scope_lines(scope: &crate::vocab::scope::Scope) -> Vec<(String, String)> {
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

/// The headers every page carries: no script but piauth's own file may run (no inline
/// one), nothing may frame it, nothing cached, no URL leaks to another site.
pub(crate) fn page_headers(reply: Reply) -> Reply {
    reply
        .with_header(
            "Content-Security-Policy",
            "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self'; base-uri 'none'; frame-ancestors 'none'",
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
pub(crate) fn form_post_csp(action: &str) -> String {
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

/// `step` with the cookie to set, if any.
pub(crate) fn with_cookie(step: Step, set: Option<String>) -> Step {
    match set {
        Some(c) => Step {
            reply: step.reply.with_header("Set-Cookie", &c),
            ..step
        },
        None => step,
    }
}

pub(crate) fn error_page(status: u16, message: &str) -> Step {
    Step::reply(page(
        status,
        Page::Error {
            message: message.to_string(),
        },
    ))
}
