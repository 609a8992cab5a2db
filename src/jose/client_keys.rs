//! The public keys of clients that authenticate with `private_key_jwt` (RFC 7523 §2.2):
//! read from a JWK or a PEM file at registration, kept as public JWKs in the client record.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::jwk::{Jwk, ThumbprintHash};
use jsonwebtoken::Algorithm;
use serde_json::{json, Value};

/// The algorithms a client may sign assertions with: asymmetric only (an HMAC "key" taken
/// from a public key would let anyone who reads it sign).
pub const ASSERTION_ALGS: [Algorithm; 4] = [
    Algorithm::ES256,
    Algorithm::EdDSA,
    Algorithm::RS256,
    Algorithm::PS256,
];

/// A key file could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFileError(pub String);

impl std::fmt::Display for KeyFileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn bad(why: impl Into<String>) -> KeyFileError {
    KeyFileError(why.into())
}

/// A public JWK (RFC 7517) from a file's text, checked: one of [`ASSERTION_ALGS`], no
/// private part, `alg` and `kid` filled in (the kid is the RFC 7638 thumbprint when the
/// file names none).
pub fn from_jwk_text(text: &str) -> Result<Value, KeyFileError> {
    let mut v: Value =
        serde_json::from_str(text).map_err(|e| bad(format!("not a JWK (JSON): {e}")))?;
    let obj = v
        .as_object_mut()
        .ok_or_else(|| bad("not a JWK: not a JSON object"))?;
    for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
        if obj.contains_key(private) {
            return Err(bad(format!(
                "this JWK holds a private part ({private:?}): give piauth the public key only"
            )));
        }
    }
    let kty = obj.get("kty").and_then(Value::as_str).unwrap_or_default();
    let crv = obj.get("crv").and_then(Value::as_str).unwrap_or_default();
    let inferred = match (kty, crv) {
        ("EC", "P-256") => "ES256",
        ("OKP", "Ed25519") => "EdDSA",
        ("RSA", _) => "RS256",
        _ => {
            return Err(bad(format!(
                "unsupported key type {kty:?} {crv:?}: use EC P-256, Ed25519 or RSA"
            )))
        }
    };
    let alg = obj
        .get("alg")
        .and_then(Value::as_str)
        .unwrap_or(inferred)
        .to_string();
    let fits = match kty {
        "RSA" => alg == "RS256" || alg == "PS256",
        _ => alg == inferred,
    };
    if !fits {
        return Err(bad(format!("a {kty} key cannot sign {alg}")));
    }
    obj.insert("alg".into(), json!(alg));
    obj.insert("use".into(), json!("sig"));
    finish(v)
}

/// A public JWK from a PEM `PUBLIC KEY` (SubjectPublicKeyInfo) file: EC P-256 (ES256),
/// Ed25519 (EdDSA) or RSA (`rsa_alg`: RS256 or PS256).
pub fn from_pem_text(text: &str, rsa_alg: Algorithm) -> Result<Value, KeyFileError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::SubjectPublicKeyInfoDer;
    let der = SubjectPublicKeyInfoDer::from_pem_slice(text.as_bytes())
        .map_err(|_| bad("no PEM \"PUBLIC KEY\" block in it (a private key is never accepted)"))?;
    let der: &[u8] = der.as_ref();
    let b64 = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
    // Ed25519's SubjectPublicKeyInfo is a fixed 12-byte prefix and the 32-byte key.
    const ED25519_SPKI: [u8; 12] = [
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    let jwk = if let Some(key) = der
        .strip_prefix(&ED25519_SPKI[..])
        .filter(|k| k.len() == 32)
    {
        json!({"kty": "OKP", "crv": "Ed25519", "x": b64(key), "alg": "EdDSA"})
    } else if let Ok(key) = {
        use p256::pkcs8::DecodePublicKey;
        p256::PublicKey::from_public_key_der(der)
    } {
        use p256::elliptic_curve::sec1::ToSec1Point;
        let point = key.to_sec1_point(false);
        let (Some(x), Some(y)) = (point.x(), point.y()) else {
            return Err(bad("the P-256 point is not uncompressed"));
        };
        json!({"kty": "EC", "crv": "P-256", "x": b64(x), "y": b64(y), "alg": "ES256"})
    } else if let Ok(key) = {
        use rsa::pkcs8::DecodePublicKey;
        rsa::RsaPublicKey::from_public_key_der(der)
    } {
        use rsa::traits::PublicKeyParts;
        if !matches!(rsa_alg, Algorithm::RS256 | Algorithm::PS256) {
            return Err(bad("an RSA key signs RS256 or PS256"));
        }
        if key.n().bits() < 2048 {
            return Err(bad("RSA keys under 2048 bits are refused"));
        }
        let alg = if rsa_alg == Algorithm::PS256 {
            "PS256"
        } else {
            "RS256"
        };
        json!({"kty": "RSA", "n": b64(&key.n().to_bytes_be()), "e": b64(&key.e().to_bytes_be()), "alg": alg})
    } else {
        return Err(bad("unsupported public key: use EC P-256, Ed25519 or RSA"));
    };
    let mut jwk = jwk;
    jwk["use"] = json!("sig");
    finish(jwk)
}

/// Parses the JWK through jsonwebtoken (so that it can later verify) and gives it a kid.
fn finish(mut v: Value) -> Result<Value, KeyFileError> {
    crate::jose::crypto::install();
    let jwk: Jwk =
        serde_json::from_value(v.clone()).map_err(|e| bad(format!("not a usable JWK: {e}")))?;
    jsonwebtoken::DecodingKey::from_jwk(&jwk).map_err(|e| bad(format!("not a usable key: {e}")))?;
    check_material(&v)?;
    let kid = match v.get("kid").and_then(Value::as_str) {
        Some(kid) => {
            if !is_plain_kid(kid) {
                return Err(bad(format!(
                    "kid {kid:?} must be a plain name (letters, digits, - _ .)"
                )));
            }
            kid.to_string()
        }
        None => jwk
            .thumbprint(ThumbprintHash::SHA256)
            .map_err(|e| bad(format!("cannot compute the key's thumbprint: {e}")))?,
    };
    v["kid"] = json!(kid);
    Ok(v)
}

/// The key itself, as a verifier will need it: a point on P-256, 32 Ed25519 bytes, an RSA
/// modulus of at least 2048 bits. Checked now, so that a bad key is refused at registration
/// rather than met at the first assertion.
fn check_material(v: &Value) -> Result<(), KeyFileError> {
    let field = |name: &str| {
        v[name]
            .as_str()
            .and_then(|s| URL_SAFE_NO_PAD.decode(s).ok())
            .ok_or_else(|| bad(format!("the key's {name:?} is missing or not base64url")))
    };
    match v["kty"].as_str() {
        Some("EC") => {
            let mut point = vec![4u8];
            point.extend(field("x")?);
            point.extend(field("y")?);
            p256::PublicKey::from_sec1_bytes(&point)
                .map_err(|_| bad("the key is not a point on P-256"))?;
        }
        Some("OKP") if field("x")?.len() != 32 => return Err(bad("an Ed25519 key is 32 bytes")),
        Some("RSA") => {
            let n = field("n")?;
            let leading = n.iter().take_while(|b| **b == 0).count();
            if (n.len() - leading) * 8 < 2048 {
                return Err(bad("RSA keys under 2048 bits are refused"));
            }
        }
        _ => {}
    }
    Ok(())
}

/// A `kid` piauth accepts: never a path or a URL (RFC 7515 §4.1.4 leaves it free; a kid
/// that names a file or a location invites a verifier to go and fetch it).
pub fn is_plain_kid(kid: &str) -> bool {
    (1..=128).contains(&kid.len())
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'='))
        && !kid.contains("..")
}

#[cfg(test)]
mod tests {
    use super::*;

    const EC_JWK: &str = r#"{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;

    #[test]
    fn a_public_jwk_is_taken_with_its_alg_and_a_thumbprint_kid() {
        let v = from_jwk_text(EC_JWK).unwrap();
        assert_eq!(v["alg"], "ES256");
        assert_eq!(v["use"], "sig");
        // RFC 7638 §3.1's example is an RSA key; this one's thumbprint is stable.
        assert_eq!(v["kid"].as_str().unwrap().len(), 43);
    }

    #[test]
    fn private_parts_wrong_algs_and_odd_kids_are_refused() {
        let with_d = EC_JWK.replace("\"kty\"", "\"d\":\"AAAA\",\"kty\"");
        assert!(from_jwk_text(&with_d).unwrap_err().0.contains("private"));
        let hs = EC_JWK.replace("\"kty\"", "\"alg\":\"HS256\",\"kty\"");
        assert!(from_jwk_text(&hs).is_err());
        let off_curve = EC_JWK.replace(
            "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
            "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a1",
        );
        assert!(from_jwk_text(&off_curve).is_err(), "a point off the curve");
        let small_rsa = r#"{"kty":"RSA","n":"AQAB","e":"AQAB"}"#;
        assert!(from_jwk_text(small_rsa).unwrap_err().0.contains("2048"));
        let oct = r#"{"kty":"oct","k":"c2VjcmV0"}"#;
        assert!(from_jwk_text(oct).is_err());
        for kid in ["../../etc/passwd", "http://x/k", "a/b", ""] {
            let with_kid = EC_JWK.replace("\"kty\"", &format!("\"kid\":{kid:?},\"kty\""));
            assert!(from_jwk_text(&with_kid).is_err(), "{kid}");
        }
        assert!(from_jwk_text("not json").is_err());
    }

    fn pem(der: &[u8]) -> String {
        format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            base64::engine::general_purpose::STANDARD.encode(der)
        )
    }

    #[test]
    fn pem_public_keys_of_each_kind_become_jwks() {
        use p256::pkcs8::EncodePublicKey;
        let ec = crate::jose::es256::generate_secret().public_key();
        let text = pem(ec.to_public_key_der().unwrap().as_bytes());
        let v = from_pem_text(&text, Algorithm::RS256).unwrap();
        assert_eq!(
            (v["kty"].as_str(), v["alg"].as_str()),
            (Some("EC"), Some("ES256"))
        );

        let ed = ring::signature::Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new())
            .unwrap();
        let pair = ring::signature::Ed25519KeyPair::from_pkcs8(ed.as_ref()).unwrap();
        let mut spki = vec![
            0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
        ];
        use ring::signature::KeyPair;
        spki.extend_from_slice(pair.public_key().as_ref());
        let v = from_pem_text(&pem(&spki), Algorithm::RS256).unwrap();
        assert_eq!(v["alg"], "EdDSA");

        let rsa = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).unwrap();
        let der = rsa::pkcs8::EncodePublicKey::to_public_key_der(&rsa.to_public_key()).unwrap();
        assert_eq!(
            from_pem_text(&pem(der.as_bytes()), Algorithm::PS256).unwrap()["alg"],
            "PS256"
        );
        assert!(from_pem_text(
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            Algorithm::RS256
        )
        .is_err());
    }
}
