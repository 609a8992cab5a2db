//! JWT assertions (RFC 7523 §3): a client proving who it is with a JWT signed by a key it
//! registered (`private_key_jwt`, §2.2), and a trusted issuer's JWT exchanged for a token
//! (the JWT bearer grant, §2.1). One set of rules for both.

use crate::jose::client_keys::{is_plain_kid, ASSERTION_ALGS};
use crate::protocol::client_auth::published_keys::{PublishedKeys, Unavailable};
use crate::vocab::record::{ClientRecord, JwksLocation};
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use std::str::FromStr;

/// `client_assertion_type` for a JWT (RFC 7523 §2.2).
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Longest lifetime an assertion may claim, seconds: short, since a stolen one can be
/// replayed elsewhere until it expires.
pub const MAX_LIFETIME: u64 = 300;

/// Why an assertion was refused, for the log; the client sees `invalid_client`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssertionFailure {
    /// The keys published at the registered `jwks_uri` could not be had.
    KeysUnavailable(Unavailable),
    /// Not a JWT, or a header piauth refuses (`jku`, `x5u`, `jwk`, a kid that is a path).
    Header,
    /// An algorithm the client has no key for (`none` and HMAC never).
    Algorithm,
    /// No registered key verifies it.
    Signature,
    /// `iss` or `sub` is not the client, or `jti` is missing.
    Claims,
    /// `aud` names neither this server nor its token endpoint.
    Audience,
    /// Expired, not yet valid, or valid for longer than [`MAX_LIFETIME`].
    Lifetime,
}

impl AssertionFailure {
    /// A word for the audit log.
    pub fn as_str(&self) -> &'static str {
        match self {
            AssertionFailure::KeysUnavailable(_) => "keys_unavailable",
            AssertionFailure::Header => "bad_header",
            AssertionFailure::Algorithm => "algorithm",
            AssertionFailure::Signature => "signature",
            AssertionFailure::Claims => "claims",
            AssertionFailure::Audience => "audience",
            AssertionFailure::Lifetime => "lifetime",
        }
    }
}

/// An assertion that checked out: whom it names, and its `jti`, to be used once, until
/// `until`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// Its subject.
    pub sub: String,
    /// When it says it was made.
    pub iat: Option<u64>,
    /// The assertion's id.
    pub jti: String,
    /// When it stops being acceptable (exp plus leeway).
    pub until: u64,
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    exp: u64,
    iat: Option<u64>,
    nbf: Option<u64>,
    jti: Option<String>,
}

/// A string claim of a JWT, unverified: only to know whose keys to verify it with (a
/// client assertion's `sub`, a bearer assertion's `iss`).
pub fn unverified_claim(jwt: &str, name: &str) -> Option<String> {
    use base64::Engine;
    let claims = jwt.split('.').nth(1)?;
    let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(claims)
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&claims).ok()?;
    claims[name].as_str().map(str::to_string)
}

/// Whether an assertion made at `iat` may be taken `uptime` seconds after the server
/// started. The used `jti`s are kept in memory only: for as long as an assertion from before
/// a restart could still be live, only one made since the start (by its `iat`) is taken.
pub fn after_restart_ok(iat: Option<u64>, now: u64, uptime: u64, leeway: u64) -> bool {
    if uptime > MAX_LIFETIME.saturating_add(leeway) {
        return true;
    }
    // A second's slack: `now` and `uptime` are both whole seconds.
    iat.is_some_and(|iat| iat.saturating_add(1) >= now.saturating_sub(uptime))
}

/// What an assertion must say.
pub struct Expect<'a> {
    /// Its `iss`.
    pub iss: &'a str,
    /// Its `sub`, when only one will do.
    pub sub: Option<&'a str>,
    /// The values its `aud` may name.
    pub audiences: &'a [&'a str],
    /// Now, by the core's clock.
    pub now: u64,
    /// Clock skew allowed.
    pub leeway: u64,
}

/// Checks `assertion` as `record`'s proof of identity: [`verify_with`] its keys, `iss` =
/// `sub` = its id.
pub fn check(
    assertion: &str,
    record: &ClientRecord,
    audiences: &[&str],
    now: u64,
    leeway: u64,
    published: &dyn PublishedKeys,
) -> Result<Accepted, AssertionFailure> {
    let expect = Expect {
        iss: &record.id,
        sub: Some(&record.id),
        audiences,
        now,
        leeway,
    };
    verify_with(
        assertion,
        &record.keys,
        record.jwks.as_ref(),
        &expect,
        published,
    )
}

/// [`verify`] with the registered `keys`, or with those published at `jwks`: the cached copy
/// first, and when no key in it verifies (a key published since), once more with the
/// document fetched again, as often as [`PublishedKeys`] allows.
pub fn verify_with(
    assertion: &str,
    keys: &[serde_json::Value],
    jwks: Option<&JwksLocation>,
    expect: &Expect,
    published: &dyn PublishedKeys,
) -> Result<Accepted, AssertionFailure> {
    let Some(at) = jwks else {
        return verify(assertion, keys, expect);
    };
    let fetch = |refresh| {
        published
            .keys(at, expect.now, refresh)
            .map_err(AssertionFailure::KeysUnavailable)
    };
    match verify(assertion, &fetch(false)?, expect) {
        // Only a well-formed assertion in an accepted algorithm gets this far; the cache
        // decides whether a fetch is due.
        Err(AssertionFailure::Algorithm | AssertionFailure::Signature)
            if jsonwebtoken::decode_header(assertion)
                .is_ok_and(|h| ASSERTION_ALGS.contains(&h.alg)) =>
        {
            verify(assertion, &fetch(true)?, expect)
        }
        other => other,
    }
}

/// Checks `assertion`: signed with one of `keys` (each with its `alg`, never `none` or
/// HMAC), `iss` and `sub` as `expect` says, `aud` one of its audiences, `exp` in the future
/// but at most [`MAX_LIFETIME`] ahead, `nbf` passed, all within the leeway, and a `jti`.
pub fn verify(
    assertion: &str,
    keys: &[serde_json::Value],
    expect: &Expect,
) -> Result<Accepted, AssertionFailure> {
    let (now, leeway) = (expect.now, expect.leeway);
    crate::jose::crypto::install();
    let header = jsonwebtoken::decode_header(assertion).map_err(|_| AssertionFailure::Header)?;
    // Keys come from the registration only: never from a location the token names.
    if header.jku.is_some() || header.x5u.is_some() || header.jwk.is_some() {
        return Err(AssertionFailure::Header);
    }
    if header.kid.as_deref().is_some_and(|k| !is_plain_kid(k)) {
        return Err(AssertionFailure::Header);
    }
    // An access token (RFC 9068), of this server or another, is no assertion.
    if header
        .typ
        .as_deref()
        .is_some_and(|t| t.eq_ignore_ascii_case("at+jwt"))
    {
        return Err(AssertionFailure::Header);
    }
    if !ASSERTION_ALGS.contains(&header.alg) {
        return Err(AssertionFailure::Algorithm);
    }
    let keys: Vec<Jwk> = keys
        .iter()
        .filter(|k| k["alg"].as_str().and_then(|a| Algorithm::from_str(a).ok()) == Some(header.alg))
        .filter(|k| {
            header
                .kid
                .as_deref()
                .is_none_or(|kid| k["kid"].as_str() == Some(kid))
        })
        .filter_map(|k| serde_json::from_value(k.clone()).ok())
        .collect();
    if keys.is_empty() {
        return Err(AssertionFailure::Algorithm);
    }
    let mut validation = Validation::new(header.alg);
    // Times are checked below against `now`, the core's clock, not the system's.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.set_audience(expect.audiences);
    validation.set_issuer(&[expect.iss]);
    validation.sub = expect.sub.map(str::to_string);
    validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
    let mut failure = AssertionFailure::Signature;
    for jwk in keys {
        let Ok(key) = DecodingKey::from_jwk(&jwk) else {
            continue;
        };
        use jsonwebtoken::errors::ErrorKind as E;
        match jsonwebtoken::decode::<Claims>(assertion, &key, &validation) {
            Ok(data) => {
                let claims = data.claims;
                let jti = claims
                    .jti
                    .filter(|j| (1..=256).contains(&j.len()))
                    .ok_or(AssertionFailure::Claims)?;
                let expired = claims.exp.saturating_add(leeway) < now;
                let early = claims
                    .nbf
                    .is_some_and(|nbf| nbf > now.saturating_add(leeway));
                let too_long = claims.exp > now.saturating_add(MAX_LIFETIME + leeway);
                if expired || early || too_long {
                    return Err(AssertionFailure::Lifetime);
                }
                return Ok(Accepted {
                    sub: claims.sub,
                    iat: claims.iat,
                    jti,
                    until: claims.exp.saturating_add(leeway),
                });
            }
            Err(e) => {
                failure = match e.kind() {
                    // A key that cannot verify (or does not) leaves the others to try.
                    E::InvalidSignature
                    | E::InvalidKeyFormat
                    | E::InvalidEcdsaKey
                    | E::InvalidRsaKey(_)
                    | E::InvalidEddsaKey => continue,
                    E::ExpiredSignature | E::ImmatureSignature => AssertionFailure::Lifetime,
                    E::InvalidAudience => AssertionFailure::Audience,
                    E::InvalidToken | E::Base64(_) | E::Json(_) | E::Utf8(_) => {
                        AssertionFailure::Header
                    }
                    _ => AssertionFailure::Claims,
                };
                break;
            }
        }
    }
    Err(failure)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::testing::{client, NoFetch};
    use crate::vocab::record::GrantType;
    use jsonwebtoken::{encode, EncodingKey, Header};
    use serde_json::json;

    /// A client "dev" with one ES256 key, and that key's signer.
    fn keyed_client() -> (ClientRecord, EncodingKey) {
        use p256::elliptic_curve::sec1::ToSec1Point;
        use p256::pkcs8::EncodePrivateKey;
        let secret = crate::jose::es256::generate_secret();
        let point = secret.public_key().to_sec1_point(false);
        let b64 =
            |b: &[u8]| base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, b);
        let jwk = json!({"kty": "EC", "crv": "P-256", "x": b64(point.x().unwrap()),
                         "y": b64(point.y().unwrap()), "kid": "k1"});
        let mut c = client(&[GrantType::ClientCredentials], "");
        c.keys = vec![crate::jose::client_keys::from_jwk_text(&jwk.to_string()).unwrap()];
        let der = secret.to_pkcs8_der().unwrap();
        (c, EncodingKey::from_ec_der(der.as_bytes()))
    }

    fn sign(key: &EncodingKey, header: Header, claims: serde_json::Value) -> String {
        crate::jose::crypto::install();
        encode(&header, &claims, key).unwrap()
    }

    /// Published keys that change after the first look: the cached copy, then the fetched.
    struct Rotating {
        cached: Vec<serde_json::Value>,
        fetched: Vec<serde_json::Value>,
        refreshes: std::sync::atomic::AtomicUsize,
    }

    impl PublishedKeys for Rotating {
        fn keys(
            &self,
            _at: &JwksLocation,
            _now: u64,
            refresh: bool,
        ) -> Result<std::sync::Arc<[serde_json::Value]>, Unavailable> {
            if !refresh {
                return Ok(self.cached.clone().into());
            }
            self.refreshes
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Ok(self.fetched.clone().into())
        }
    }

    #[test]
    fn published_keys_are_fetched_again_only_when_the_cached_ones_do_not_verify() {
        let (old, _) = keyed_client();
        let (mut c, key) = keyed_client();
        let published = Rotating {
            cached: old.keys.clone(),
            fetched: c.keys.clone(),
            refreshes: Default::default(),
        };
        c.keys = Vec::new();
        c.jwks = Some(JwksLocation {
            uri: "https://dev/jwks".into(),
            ca: None,
        });
        let claims =
            json!({"iss": "dev", "sub": "dev", "aud": "http://pi", "exp": 1100, "jti": "a"});
        let mut h = Header::new(Algorithm::ES256);
        h.kid = Some("k1".into());
        let t = sign(&key, h, claims.clone());
        assert!(check(&t, &c, &["http://pi"], 1000, 30, &published).is_ok());
        assert_eq!(published.refreshes.into_inner(), 1);
        // Signed with a cached key: no fetch. A refused header or algorithm: no fetch either.
        let published = Rotating {
            cached: published.fetched.clone(),
            fetched: Vec::new(),
            refreshes: Default::default(),
        };
        assert!(check(&t, &c, &["http://pi"], 1000, 30, &published).is_ok());
        let hs = sign(
            &EncodingKey::from_secret(b"k"),
            Header::new(Algorithm::HS256),
            claims,
        );
        assert_eq!(
            check(&hs, &c, &["http://pi"], 1000, 30, &published),
            Err(AssertionFailure::Algorithm)
        );
        assert_eq!(published.refreshes.into_inner(), 0);
        // Keys that cannot be had refuse the assertion.
        assert!(matches!(
            check(&t, &c, &["http://pi"], 1000, 30, &NoFetch),
            Err(AssertionFailure::KeysUnavailable(_))
        ));
    }

    #[test]
    fn after_a_restart_only_assertions_made_since_are_taken_until_older_ones_expire() {
        // Started at 1000 (uptime 20 at 1020): an assertion made at 990 may be live and its
        // jti forgotten with the restart; one made at 1005 cannot predate the cache.
        assert!(!after_restart_ok(Some(990), 1020, 20, 30));
        assert!(!after_restart_ok(None, 1020, 20, 30));
        assert!(after_restart_ok(Some(1005), 1020, 20, 30));
        assert!(
            after_restart_ok(Some(999), 1020, 20, 30),
            "a second's slack"
        );
        // Once every assertion from before the start has expired, iat no longer matters.
        assert!(after_restart_ok(None, 2000, MAX_LIFETIME + 31, 30));
    }

    #[test]
    fn each_rule_of_rfc_7523_is_checked() {
        let (c, key) = keyed_client();
        let aud = ["http://pi", "http://pi/token"];
        let ok =
            json!({"iss": "dev", "sub": "dev", "aud": "http://pi/token", "exp": 1100, "jti": "a"});
        let es = Header::new(Algorithm::ES256);
        let check = |t: &str| check(t, &c, &aud, 1000, 30, &NoFetch);
        assert_eq!(
            check(&sign(&key, es.clone(), ok.clone())),
            Ok(Accepted {
                sub: "dev".into(),
                iat: None,
                jti: "a".into(),
                until: 1130
            })
        );
        let with = |k: &str, v: serde_json::Value| {
            let mut c = ok.clone();
            c[k] = v;
            c
        };
        let cases = [
            (
                with("aud", json!("http://elsewhere")),
                AssertionFailure::Audience,
            ),
            (with("exp", json!(900)), AssertionFailure::Lifetime),
            (
                with("exp", json!(1000 + MAX_LIFETIME + 31)),
                AssertionFailure::Lifetime,
            ),
            (with("nbf", json!(1100)), AssertionFailure::Lifetime),
            (with("iss", json!("other")), AssertionFailure::Claims),
            (with("sub", json!("other")), AssertionFailure::Claims),
            (with("jti", json!("")), AssertionFailure::Claims),
        ];
        for (claims, want) in cases {
            assert_eq!(
                check(&sign(&key, es.clone(), claims.clone())),
                Err(want),
                "{claims}"
            );
        }
        // Keys come from the registration, never from the token or a path it names.
        let mut h = es.clone();
        h.kid = Some("../../keys/k1".into());
        assert_eq!(
            check(&sign(&key, h, ok.clone())),
            Err(AssertionFailure::Header)
        );
        let mut h = es.clone();
        h.jku = Some("http://evil/jwks".into());
        assert_eq!(
            check(&sign(&key, h, ok.clone())),
            Err(AssertionFailure::Header)
        );
        let mut h = es.clone();
        h.kid = Some("k2".into());
        assert_eq!(
            check(&sign(&key, h, ok.clone())),
            Err(AssertionFailure::Algorithm)
        );
        // Another key, and an algorithm the client has no key for.
        let (_, other) = keyed_client();
        assert_eq!(
            check(&sign(&other, es, ok.clone())),
            Err(AssertionFailure::Signature)
        );
        let hs = sign(
            &EncodingKey::from_secret(b"public"),
            Header::new(Algorithm::HS256),
            ok,
        );
        assert_eq!(check(&hs), Err(AssertionFailure::Algorithm));
        assert_eq!(check("not.a.jwt"), Err(AssertionFailure::Header));
    }
}
