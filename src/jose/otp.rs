//! One-time codes: RFC 6238 TOTP with the parameters every authenticator app assumes
//! (HMAC-SHA-1, six digits, 30-second steps), the QR code that hands the key to the app,
//! and single-use recovery codes.

use crate::jose::secret::hash_client_secret;
use crate::vocab::entropy::Entropy;
use totp_rs::{Algorithm, TOTP};

/// Seconds per code.
pub const STEP: u64 = 30;
/// Bytes of a key (160 bits, RFC 4226 §4's recommendation).
pub const SECRET_BYTES: usize = 20;
/// Recovery codes made at a time.
pub const RECOVERY_CODES: usize = 10;
/// RFC 4648 base32, lower case for recovery codes (no 0/1/8/9 to confuse with letters).
const BASE32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

fn totp(key: Vec<u8>) -> TOTP {
    // Skew is applied here, by `check`, so that the step matched is known.
    TOTP::new_unchecked(Algorithm::SHA1, 6, 0, STEP, key)
}

/// A new key, base32 without padding (32 characters).
pub fn new_secret(rng: &mut dyn Entropy) -> String {
    let mut key = [0u8; SECRET_BYTES];
    rng.fill(&mut key);
    base32(&key).to_ascii_uppercase()
}

/// The key of a base32 text, if it is one of ours (exactly [`SECRET_BYTES`]).
pub fn parse_secret(text: &str) -> Option<Vec<u8>> {
    let text = text.trim().to_ascii_uppercase();
    if text.len() != 32 {
        return None;
    }
    let key = totp_rs::Secret::Encoded(text).to_bytes().ok()?;
    (key.len() == SECRET_BYTES).then_some(key)
}

/// The code of `key` at Unix time `t`.
pub fn code_at(key: &[u8], t: u64) -> String {
    totp(key.to_vec()).generate(t)
}

/// The step a typed code is good for: the current one or one either side (a phone's clock
/// a little off), never `last_step` or one before it (each code is spent once, and an
/// older one after a newer). Constant time in the code compared.
pub fn check(key: &[u8], typed: &str, now: u64, last_step: u64) -> Option<u64> {
    let typed: String = typed.chars().filter(|c| !c.is_whitespace()).collect();
    if typed.len() != 6 || !typed.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let t = totp(key.to_vec());
    let current = now / STEP;
    let mut found = None;
    for step in [
        current.saturating_sub(1),
        current,
        current.saturating_add(1),
    ] {
        let code = t.generate(step.saturating_mul(STEP));
        let same: bool = subtle::ConstantTimeEq::ct_eq(code.as_bytes(), typed.as_bytes()).into();
        if same && step > last_step && found.is_none() {
            found = Some(step);
        }
    }
    found
}

/// The `otpauth://` URI authenticator apps read from the QR code (Google Authenticator's
/// key URI format, which the others follow).
/// The label's colon separates issuer and account, so neither may hold one.
pub fn otpauth_uri(issuer: &str, user: &str, secret: &str) -> String {
    use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
    let (issuer, user) = (issuer.replace(':', " "), user.replace(':', " "));
    let (i, u) = (
        utf8_percent_encode(&issuer, NON_ALPHANUMERIC),
        utf8_percent_encode(&user, NON_ALPHANUMERIC),
    );
    format!("otpauth://totp/{i}:{u}?secret={secret}&issuer={i}&algorithm=SHA1&digits=6&period=30")
}

/// The QR code of `text`, as an SVG image (no script, no external resource).
pub fn qr_svg(text: &str) -> Option<String> {
    let code = qrcode::QrCode::new(text.as_bytes()).ok()?;
    Some(
        code.render::<qrcode::render::svg::Color>()
            .min_dimensions(200, 200)
            .quiet_zone(true)
            .build(),
    )
}

/// New recovery codes, each 50 random bits as `xxxxx-xxxxx`.
pub fn new_recovery_codes(rng: &mut dyn Entropy) -> Vec<String> {
    (0..RECOVERY_CODES)
        .map(|_| {
            let mut b = [0u8; 10];
            rng.fill(&mut b);
            let s: String = b
                .iter()
                .map(|x| BASE32[usize::from(x % 32)] as char)
                .collect();
            format!("{}-{}", &s[..5], &s[5..])
        })
        .collect()
}

/// A typed recovery code in its stored form (lower case, the dash in place), if it could
/// be one.
pub fn normalize_recovery(typed: &str) -> Option<String> {
    let s: String = typed
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    (s.len() == 10 && s.bytes().all(|b| BASE32.contains(&b)))
        .then(|| format!("{}-{}", &s[..5], &s[5..]))
}

/// What a recovery code is stored as: a keyed hash under the store's pepper (50 random
/// bits: a slow hash would add nothing a guard of five tries does not).
pub fn recovery_digest(pepper: &[u8], code: &str) -> String {
    hash_client_secret(pepper, &format!("piauth recovery\0{code}"))
}

/// What an enrollment link's secret is stored as (256 random bits: a keyed hash suffices).
pub fn link_digest(pepper: &[u8], secret: &str) -> String {
    hash_client_secret(pepper, &format!("piauth enroll\0{secret}"))
}

fn base32(bytes: &[u8]) -> String {
    let mut out = String::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(BASE32[((acc >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(BASE32[((acc << (5 - bits)) & 31) as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B, SHA-1 rows (the key "12345678901234567890", eight digits there;
    /// six digits are their last six).
    #[test]
    fn codes_match_rfc_6238_test_vectors() {
        let key = b"12345678901234567890";
        for (t, eight) in [
            (59u64, "94287082"),
            (1111111109, "07081804"),
            (1111111111, "14050471"),
            (1234567890, "89005924"),
            (2000000000, "69279037"),
            (20000000000, "65353130"),
        ] {
            assert_eq!(code_at(key, t), eight[2..], "t={t}");
        }
    }

    #[test]
    fn a_code_is_good_once_within_one_step_of_now() {
        let key = [7u8; SECRET_BYTES];
        let now = 1_000_000_020;
        let step = now / STEP;
        let code = code_at(&key, now);
        assert_eq!(check(&key, &code, now, 0), Some(step));
        assert_eq!(
            check(&key, &format!("{} {}", &code[..3], &code[3..]), now, 0),
            Some(step)
        );
        assert_eq!(check(&key, &code, now, step), None, "spent");
        assert_eq!(check(&key, &code, now + STEP, 0), Some(step), "a step late");
        assert_eq!(check(&key, &code, now + 2 * STEP, 0), None, "too late");
        let next = code_at(&key, now + STEP);
        assert_eq!(check(&key, &next, now, 0), Some(step + 1), "a step early");
        assert_eq!(
            check(&key, &code, now, step + 1),
            None,
            "older than one taken"
        );
        for bad in ["", "12345", "1234567", "abcdef", "12345\u{661}"] {
            assert_eq!(check(&key, bad, now, 0), None, "{bad:?}");
        }
    }

    #[test]
    fn a_secret_round_trips_and_others_are_refused() {
        use crate::vocab::entropy::CountingEntropy as Counting;
        let s = new_secret(&mut Counting(0));
        assert_eq!(s.len(), 32);
        let key = parse_secret(&s).unwrap();
        assert_eq!(key.len(), SECRET_BYTES);
        assert_eq!(base32(&key).to_ascii_uppercase(), s);
        assert_eq!(parse_secret(&s.to_ascii_lowercase()), Some(key));
        assert_eq!(parse_secret("AAAA"), None);
        assert_eq!(parse_secret(&"1".repeat(32)), None);
        let codes = new_recovery_codes(&mut Counting(3));
        assert_eq!(codes.len(), RECOVERY_CODES);
        for c in &codes {
            assert_eq!(
                normalize_recovery(&c.to_ascii_uppercase().replace('-', " ")),
                Some(c.clone())
            );
        }
        assert_eq!(normalize_recovery("abcde-fghi1"), None);
        assert_ne!(
            recovery_digest(b"p", &codes[0]),
            recovery_digest(b"q", &codes[0])
        );
        let uri = otpauth_uri("piauth", "ann lee", &s);
        assert!(uri.starts_with("otpauth://totp/piauth:ann%20lee?secret="));
        let uri = otpauth_uri("piauth pi:8443", "a:b", &s);
        assert!(
            uri.starts_with("otpauth://totp/piauth%20pi%208443:a%20b?"),
            "{uri}"
        );
        assert!(qr_svg(&uri).unwrap().starts_with("<?xml"));
    }
}
