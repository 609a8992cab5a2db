//! The page that sets up one-time codes, wherever it appears: the account page, or a
//! sign-in that must have a second factor first.

use crate::protocol::page::Page;
use crate::protocol::Context;

/// The page that sets up one-time codes: the key as a QR code and as text, and the form for
/// a code made with it.
pub(crate) fn totp_setup(
    action: &'static str,
    request: &str,
    csrf: String,
    user: &str,
    secret: &str,
    ctx: &Context,
    error: Option<&'static str>,
) -> Page {
    let label = ctx
        .policy
        .issuer
        .split("://")
        .nth(1)
        .unwrap_or("piauth")
        .trim_end_matches('/')
        .trim_start_matches('[')
        .split([':', ']'])
        .next()
        .unwrap_or("piauth");
    let uri = crate::jose::otp::otpauth_uri(&format!("piauth {label}"), user, secret);
    Page::TotpSetup {
        action,
        request: request.to_string(),
        csrf,
        secret: secret.to_string(),
        qr: crate::jose::otp::qr_svg(&uri).unwrap_or_default(),
        uri,
        error,
    }
}
