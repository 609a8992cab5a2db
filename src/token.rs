//! Access tokens: RFC 9068 JWTs, minted with a parsed key and checked against the key ring.
//!
//! Time is passed in (`now`), never read here, so expiry and leeway are tested exactly.

use crate::keys::{KeyRing, LoadedKey};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{decode, decode_header, Validation};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::fmt;

/// The `typ` header of an RFC 9068 access token.
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// The claims of an access token (RFC 9068 §2.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// The issuer URL.
    pub iss: String,
    /// The client (client_credentials) or the user (password).
    pub sub: String,
    /// Who may accept the token.
    pub aud: Vec<String>,
    /// Expiry, Unix time.
    pub exp: u64,
    /// Not valid before, Unix time.
    pub nbf: u64,
    /// Issued at, Unix time.
    pub iat: u64,
    /// Unique token id; revocation works by it.
    pub jti: String,
    /// The client the token was issued to.
    pub client_id: String,
    /// Space-separated granted scope.
    pub scope: String,
    /// The resource owner's name, for the password grant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
}

/// Why a token was not accepted. Callers answer all of these the same way
/// (`active: false`), but the log says which.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    /// Not a JWS of three base64url parts with a JSON header.
    Malformed,
    /// The header's `typ` is not `at+jwt`.
    WrongType,
    /// No live key has this `kid`.
    UnknownKey,
    /// `alg` differs from the key's algorithm (`none` included).
    WrongAlgorithm,
    /// The signature or the claims set does not verify.
    BadSignature,
    /// `iss` is not this server.
    WrongIssuer,
    /// `exp` has passed (beyond leeway).
    Expired,
    /// `nbf` is in the future (beyond leeway).
    NotYetValid,
    /// Signing failed.
    Sign(String),
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            TokenError::Malformed => "malformed token",
            TokenError::WrongType => "token typ is not at+jwt",
            TokenError::UnknownKey => "token kid names no live key",
            TokenError::WrongAlgorithm => "token alg does not match its key",
            TokenError::BadSignature => "token signature or claims do not verify",
            TokenError::WrongIssuer => "token issued by another issuer",
            TokenError::Expired => "token expired",
            TokenError::NotYetValid => "token not yet valid",
            TokenError::Sign(why) => return write!(f, "signing failed: {why}"),
        };
        f.write_str(s)
    }
}

impl std::error::Error for TokenError {}

/// Signs `claims` with `key` as an RFC 9068 access token: the compact JWS serialisation
/// (RFC 7515 §7.1) signed with the key parsed at load. jsonwebtoken checks these tokens
/// (`verify` below, and the tests check them against jsonwebtoken and PyJWT).
pub fn mint(claims: &AccessClaims, key: &LoadedKey) -> Result<String, TokenError> {
    #[derive(Serialize)]
    struct JwsHeader<'a> {
        typ: &'a str,
        alg: &'a str,
        kid: &'a str,
    }
    let header = JwsHeader {
        typ: ACCESS_TOKEN_TYP,
        alg: key.alg.as_str(),
        kid: &key.kid,
    };
    let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
    let json = |r: serde_json::Result<Vec<u8>>| r.map_err(|e| TokenError::Sign(e.to_string()));
    let mut token = b64(&json(serde_json::to_vec(&header))?);
    token.push('.');
    token.push_str(&b64(&json(serde_json::to_vec(claims))?));
    let signature = key
        .signer
        .sign(token.as_bytes())
        .map_err(TokenError::Sign)?;
    token.push('.');
    token.push_str(&b64(&signature));
    Ok(token)
}

/// Checks a token: header, key, signature, issuer, and times with `leeway` seconds.
pub fn verify(
    token: &str,
    ring: &KeyRing,
    issuer: &str,
    now: u64,
    leeway: u64,
) -> Result<AccessClaims, TokenError> {
    let header = decode_header(token).map_err(|_| TokenError::Malformed)?;
    if header.typ.as_deref() != Some(ACCESS_TOKEN_TYP) {
        return Err(TokenError::WrongType);
    }
    let kid = header.kid.as_deref().ok_or(TokenError::UnknownKey)?;
    let key = ring.find(kid, now).ok_or(TokenError::UnknownKey)?;
    if header.alg != key.alg.jwt() {
        return Err(TokenError::WrongAlgorithm);
    }
    let mut validation = Validation::new(key.alg.jwt());
    // Times and issuer are checked below against the `now` passed in.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims = HashSet::new();
    let data = decode::<AccessClaims>(token, &key.decoding, &validation)
        .map_err(|_| TokenError::BadSignature)?;
    let claims = data.claims;
    if claims.iss != issuer {
        return Err(TokenError::WrongIssuer);
    }
    if now >= claims.exp.saturating_add(leeway) {
        return Err(TokenError::Expired);
    }
    if claims.nbf > now.saturating_add(leeway) {
        return Err(TokenError::NotYetValid);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{generate, SigningAlg};
    use jsonwebtoken::{encode, Header};

    fn claims(now: u64) -> AccessClaims {
        AccessClaims {
            iss: "http://pi.local".into(),
            sub: "sensor".into(),
            aud: vec!["sensor".into(), "http://pi.local".into()],
            exp: now + 300,
            nbf: now,
            iat: now,
            jti: "j1".into(),
            client_id: "sensor".into(),
            scope: "read".into(),
            username: None,
        }
    }

    fn ring(alg: SigningAlg) -> KeyRing {
        KeyRing::load(&[generate(alg, 0).unwrap()]).unwrap()
    }

    #[test]
    fn mints_and_verifies_with_every_algorithm() {
        for alg in SigningAlg::ALL {
            let ring = ring(alg);
            let t = mint(&claims(1000), ring.current()).unwrap();
            assert_eq!(
                verify(&t, &ring, "http://pi.local", 1000, 0),
                Ok(claims(1000))
            );
            let header = decode_header(&t).unwrap();
            assert_eq!(header.typ.as_deref(), Some("at+jwt"));
            assert_eq!(header.kid.as_deref(), Some(ring.current().kid.as_str()));
        }
    }

    #[test]
    fn expiry_and_not_before_honour_leeway() {
        let ring = ring(SigningAlg::EdDsa);
        let t = mint(&claims(1000), ring.current()).unwrap();
        assert_eq!(
            verify(&t, &ring, "http://pi.local", 1300, 0),
            Err(TokenError::Expired)
        );
        assert!(verify(&t, &ring, "http://pi.local", 1300, 30).is_ok());
        assert_eq!(
            verify(&t, &ring, "http://pi.local", 990, 0),
            Err(TokenError::NotYetValid)
        );
        assert!(verify(&t, &ring, "http://pi.local", 990, 30).is_ok());
    }

    #[test]
    fn rejects_other_issuer_other_key_and_tampering() {
        let ring_a = ring(SigningAlg::Es256);
        let ring_b = ring(SigningAlg::Es256);
        let t = mint(&claims(1000), ring_a.current()).unwrap();
        assert_eq!(
            verify(&t, &ring_a, "http://x", 1000, 0),
            Err(TokenError::WrongIssuer)
        );
        assert_eq!(
            verify(&t, &ring_b, "http://pi.local", 1000, 0),
            Err(TokenError::UnknownKey)
        );
        let mut parts: Vec<String> = t.split('.').map(String::from).collect();
        let mut c = claims(1000);
        c.scope = "admin".into();
        parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c).unwrap());
        let forged = parts.join(".");
        assert_eq!(
            verify(&forged, &ring_a, "http://pi.local", 1000, 0),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn rejects_alg_none_and_garbage() {
        let ring = ring(SigningAlg::Hs256);
        let kid = ring.current().kid.clone();
        let header =
            URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"none","typ":"at+jwt","kid":"{kid}"}}"#));
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(1000)).unwrap());
        let none = format!("{header}.{body}.");
        assert!(verify(&none, &ring, "http://pi.local", 1000, 0).is_err());
        for junk in ["", "a.b.c", "....", "eyJ.eyJ.x"] {
            assert_eq!(
                verify(junk, &ring, "http://pi.local", 1000, 0),
                Err(TokenError::Malformed)
            );
        }
    }

    #[test]
    fn rejects_a_token_whose_alg_was_switched_to_hs256() {
        // The classic confusion attack: sign HS256 with the public key bytes.
        let ring = ring(SigningAlg::Es256);
        let kid = ring.current().kid.clone();
        let mut header = Header::new(jsonwebtoken::Algorithm::HS256);
        header.typ = Some("at+jwt".into());
        header.kid = Some(kid);
        let t = encode(
            &header,
            &claims(1000),
            &jsonwebtoken::EncodingKey::from_secret(b"public-key-bytes"),
        )
        .unwrap();
        assert_eq!(
            verify(&t, &ring, "http://pi.local", 1000, 0),
            Err(TokenError::WrongAlgorithm)
        );
    }
}
