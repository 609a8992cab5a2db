//! The pages adapter: renders the core's [`Page`] values as HTML (askama templates in
//! `templates/`, compiled into the binary and escaped by default) and serves the stylesheet.

use crate::protocol::page::Page;
use askama::Template;

/// The stylesheet every page links.
const STYLESHEET: &str = include_str!("pages.css");
/// The one script the pages load: passkeys (WebAuthn) need the browser's API.
const PASSKEY_SCRIPT: &str = include_str!("passkey.js");

#[derive(Template)]
#[template(path = "login.html")]
struct Login<'a> {
    client: &'a str,
    action: &'a str,
    request: &'a str,
    csrf: &'a str,
    username: &'a str,
    error: Option<&'a str>,
    passkeys: bool,
}

#[derive(Template)]
#[template(path = "consent.html")]
struct Consent<'a> {
    client: &'a str,
    user: &'a str,
    scopes: &'a [(String, String)],
    request: &'a str,
    csrf: &'a str,
}

#[derive(Template)]
#[template(path = "error.html")]
struct Error<'a> {
    message: &'a str,
}

#[derive(Template)]
#[template(path = "form_post.html")]
struct FormPost<'a> {
    action: &'a str,
    fields: &'a [(String, String)],
    script: &'static str,
}

#[derive(Template)]
#[template(path = "not_admitted.html")]
struct NotAdmitted<'a> {
    client: &'a str,
    user: &'a str,
    /// Back by a link (query and fragment modes), or else by the form below.
    link: Option<String>,
    action: &'a str,
    fields: &'a [(String, String)],
}

#[derive(Template)]
#[template(path = "signed_out.html")]
struct SignedOut;

#[derive(Template)]
#[template(path = "sign_out.html")]
struct SignOut<'a> {
    csrf: &'a str,
    request: &'a str,
}

#[derive(Template)]
#[template(path = "device.html")]
struct DeviceEntry<'a> {
    csrf: &'a str,
    user_code: &'a str,
    error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "device_consent.html")]
struct DeviceConsent<'a> {
    client: &'a str,
    user: &'a str,
    scopes: &'a [(String, String)],
    user_code: &'a str,
    csrf: &'a str,
}

#[derive(Template)]
#[template(path = "device_done.html")]
struct DeviceDone {
    approved: bool,
}

#[derive(Template)]
#[template(path = "operator.html")]
struct Operator<'a> {
    v: &'a crate::protocol::operator::view::OperatorView,
    /// The operator's pages, this one first.
    menu: Vec<(&'static str, &'static str, bool)>,
    /// (x, y, height, count) of each minute's bar.
    bars: Vec<(u32, u32, u32, u64)>,
    total: u64,
    max: u64,
}

/// The bars of the tokens-per-minute chart: 60 bars 10 units apart, up to 110 high, on a
/// baseline at 120.
#[derive(Template)]
#[template(path = "second_factor.html")]
struct SecondFactor<'a> {
    client: &'a str,
    action: &'a str,
    request: &'a str,
    csrf: &'a str,
    error: Option<&'a str>,
    passkeys: bool,
}

#[derive(Template)]
#[template(path = "totp_setup.html")]
struct TotpSetup<'a> {
    action: &'a str,
    request: &'a str,
    csrf: &'a str,
    secret: &'a str,
    /// The key in groups of four, easier to type.
    grouped: String,
    uri: &'a str,
    /// The QR code's SVG, drawn by `jose::otp::qr_svg` (no text of the person's in it but
    /// the user name, which the URI percent-encodes): inserted unescaped.
    qr: &'a str,
    error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "recovery_codes.html")]
struct RecoveryCodes<'a> {
    codes: &'a [String],
    next: &'a crate::protocol::page::Continue,
}

#[derive(Template)]
#[template(path = "notice.html")]
struct Notice<'a> {
    title: &'a str,
    message: &'a str,
    next: &'a crate::protocol::page::Continue,
}

#[derive(Template)]
#[template(path = "enroll.html")]
struct Enroll<'a> {
    user: &'a str,
    token: &'a str,
    csrf: &'a str,
    error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "operator_section.html")]
struct OperatorSection<'a> {
    v: &'a crate::protocol::operator::section_view::SectionView,
}

#[derive(Template)]
#[template(path = "account.html")]
struct Account<'a> {
    v: &'a crate::protocol::account::view::AccountView,
}

fn bars(per_minute: &[u64]) -> (Vec<(u32, u32, u32, u64)>, u64) {
    let max = per_minute.iter().copied().max().unwrap_or(0).max(1);
    let bars = per_minute
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            let h = u32::try_from(n.saturating_mul(110) / max).unwrap_or(110);
            // A minute with tokens shows at least a sliver.
            let h = if n > 0 { h.max(2) } else { 0 };
            (i as u32 * 10, 120 - h, h, n)
        })
        .collect();
    (bars, max)
}

/// The body and content type of a page.
pub fn render(page: &Page) -> (&'static str, Vec<u8>) {
    const HTML: &str = "text/html; charset=utf-8";
    let html = match page {
        Page::Stylesheet => return ("text/css; charset=utf-8", STYLESHEET.as_bytes().to_vec()),
        Page::PasskeyScript => {
            return (
                "text/javascript; charset=utf-8",
                PASSKEY_SCRIPT.as_bytes().to_vec(),
            )
        }
        Page::Login {
            client,
            action,
            request,
            csrf,
            username,
            error,
            passkeys,
        } => Login {
            client,
            action,
            request,
            csrf,
            username,
            error: *error,
            passkeys: *passkeys,
        }
        .render(),
        Page::Consent {
            client,
            user,
            scopes,
            request,
            csrf,
        } => Consent {
            client,
            user,
            scopes,
            request,
            csrf,
        }
        .render(),
        Page::Error { message } => Error { message }.render(),
        Page::SignedOut => SignedOut.render(),
        Page::SignOut { csrf, request } => SignOut { csrf, request }.render(),
        Page::Operator(v) => {
            let (bars, max) = bars(&v.per_minute);
            Operator {
                v,
                menu: crate::protocol::operator::forms::Section::ALL
                    .iter()
                    .map(|(s, p, l)| {
                        (
                            *p,
                            *l,
                            *s == crate::protocol::operator::forms::Section::Overview,
                        )
                    })
                    .collect(),
                total: v.per_minute.iter().sum(),
                max,
                bars,
            }
            .render()
        }
        Page::DeviceEntry {
            csrf,
            user_code,
            error,
        } => DeviceEntry {
            csrf,
            user_code,
            error: *error,
        }
        .render(),
        Page::DeviceConsent {
            client,
            user,
            scopes,
            user_code,
            csrf,
        } => DeviceConsent {
            client,
            user,
            scopes,
            user_code,
            csrf,
        }
        .render(),
        Page::FormPost { action, fields } => FormPost {
            action,
            fields,
            script: crate::protocol::browser::reply::FORM_POST_SCRIPT,
        }
        .render(),
        Page::NotAdmitted { client, user, back } => NotAdmitted {
            client,
            user,
            link: (back.mode != crate::protocol::browser::auth_request::ResponseMode::FormPost)
                .then(|| back.location()),
            action: &back.uri,
            fields: &back.params,
        }
        .render(),
        Page::SecondFactor {
            client,
            action,
            request,
            csrf,
            error,
            passkeys,
        } => SecondFactor {
            client,
            action,
            request,
            csrf,
            error: *error,
            passkeys: *passkeys,
        }
        .render(),
        Page::TotpSetup {
            action,
            request,
            csrf,
            secret,
            uri,
            qr,
            error,
        } => TotpSetup {
            action,
            request,
            csrf,
            secret,
            grouped: secret
                .as_bytes()
                .chunks(4)
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect::<Vec<_>>()
                .join(" "),
            uri,
            // The XML declaration is for a file, not for an image inside HTML.
            qr: qr.find("<svg").map_or("", |i| &qr[i..]),
            error: *error,
        }
        .render(),
        Page::RecoveryCodes { codes, next } => RecoveryCodes { codes, next }.render(),
        Page::Notice {
            title,
            message,
            next,
        } => Notice {
            title,
            message,
            next,
        }
        .render(),
        Page::Account(v) => Account { v }.render(),
        Page::OperatorSection(v) => OperatorSection { v }.render(),
        Page::Enroll {
            user,
            token,
            csrf,
            error,
        } => Enroll {
            user,
            token,
            csrf,
            error: *error,
        }
        .render(),
        Page::DeviceDone { approved } => DeviceDone {
            approved: *approved,
        }
        .render(),
    };
    // Rendering writes into a String from values that are all plain text: it cannot fail,
    // but if it did the person gets a page that says so rather than nothing.
    let body = html.unwrap_or_else(|e| {
        log::error!("rendering a page failed: {e}");
        "<!doctype html><title>piauth</title><p>This page could not be shown.".to_string()
    });
    (HTML, body.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_client_or_a_person_typed_is_escaped() {
        let (kind, body) = render(&Page::Login {
            client: "<script>x</script>".into(),
            action: "/authorize",
            request: "a=1&b=\"2\"".into(),
            csrf: "t".into(),
            username: "bob".into(),
            error: Some("Wrong user name or password."),
            passkeys: true,
        });
        let body = String::from_utf8(body).unwrap();
        assert!(kind.starts_with("text/html"));
        assert!(!body.contains("<script>x"), "{body}");
        assert!(
            body.contains("&#60;script&#62;") || body.contains("&lt;script&gt;"),
            "{body}"
        );
        assert!(!body.contains("b=\"2\""), "{body}");
        assert!(body.contains("role=\"alert\""));
        let (kind, _) = render(&Page::Stylesheet);
        assert!(kind.starts_with("text/css"));
    }
}
