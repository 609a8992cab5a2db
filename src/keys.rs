//! Signing keys: generation, the key ring (current key plus retiring ones), the JWKS.
//!
//! Keys are parsed once, when the ring is built, and shared read-only by the request path.
//! Rotation makes a new key current and keeps each previous public key published until
//! every token it signed has expired (RFC 7517 consumers cache and look up by `kid`).

use crate::record::KeyRecord;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::jwk::{Jwk, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use rand::RngCore;
use std::fmt;

/// The JWS algorithms piauth signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningAlg {
    /// ECDSA P-256 with SHA-256: small keys and tokens, the default.
    Es256,
    /// Ed25519: fastest asymmetric signatures.
    EdDsa,
    /// RSA PKCS#1 v1.5, 2048 bits: for verifiers that know nothing else.
    Rs256,
    /// RSA-PSS, 2048 bits.
    Ps256,
    /// HMAC-SHA-256 with a shared secret: for devices that cannot verify signatures.
    Hs256,
}

impl SigningAlg {
    /// Every algorithm, in the order metadata lists them.
    pub const ALL: [SigningAlg; 5] = [
        SigningAlg::Es256,
        SigningAlg::EdDsa,
        SigningAlg::Rs256,
        SigningAlg::Ps256,
        SigningAlg::Hs256,
    ];

    /// The JWS `alg` name.
    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlg::Es256 => "ES256",
            SigningAlg::EdDsa => "EdDSA",
            SigningAlg::Rs256 => "RS256",
            SigningAlg::Ps256 => "PS256",
            SigningAlg::Hs256 => "HS256",
        }
    }

    /// Reads a JWS `alg` name (case-insensitive, as people type them in config).
    pub fn parse(name: &str) -> Option<SigningAlg> {
        SigningAlg::ALL
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(name))
    }

    /// The jsonwebtoken algorithm.
    pub fn jwt(self) -> Algorithm {
        match self {
            SigningAlg::Es256 => Algorithm::ES256,
            SigningAlg::EdDsa => Algorithm::EdDSA,
            SigningAlg::Rs256 => Algorithm::RS256,
            SigningAlg::Ps256 => Algorithm::PS256,
            SigningAlg::Hs256 => Algorithm::HS256,
        }
    }

    /// Whether the key is a shared secret that must never be published.
    pub fn is_symmetric(self) -> bool {
        self == SigningAlg::Hs256
    }
}

impl fmt::Display for SigningAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A key that cannot be made or read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyError {
    /// The stored algorithm name is not one piauth knows.
    UnknownAlg(String),
    /// The stored key material does not parse.
    Corrupt(String),
    /// Generating a key failed.
    Generate(String),
    /// The store holds no current key.
    NoCurrentKey,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::UnknownAlg(a) => write!(f, "stored key has unknown algorithm {a:?}"),
            KeyError::Corrupt(kid) => write!(f, "stored key {kid} is corrupt"),
            KeyError::Generate(why) => write!(f, "could not generate a key: {why}"),
            KeyError::NoCurrentKey => f.write_str("the store holds no current signing key"),
        }
    }
}

impl std::error::Error for KeyError {}

/// PKCS#8 v1 prefix for a raw Ed25519 seed: the 48-byte form jsonwebtoken expects.
const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// Generates a new key of `alg`, created at `now`.
pub fn generate(alg: SigningAlg, now: u64) -> Result<KeyRecord, KeyError> {
    crate::crypto::install();
    let mut rng = rand::rngs::OsRng;
    let der: Vec<u8> = match alg {
        SigningAlg::Es256 => {
            use p256::pkcs8::EncodePrivateKey;
            let key = p256::SecretKey::random(&mut rng);
            key.to_pkcs8_der()
                .map_err(|e| KeyError::Generate(e.to_string()))?
                .as_bytes()
                .to_vec()
        }
        SigningAlg::EdDsa => {
            let mut der = ED25519_PKCS8_PREFIX.to_vec();
            der.resize(der.len() + 32, 0);
            rng.fill_bytes(&mut der[ED25519_PKCS8_PREFIX.len()..]);
            der
        }
        SigningAlg::Rs256 | SigningAlg::Ps256 => {
            use rsa::pkcs1::EncodeRsaPrivateKey;
            let key = rsa::RsaPrivateKey::new(&mut rng, 2048)
                .map_err(|e| KeyError::Generate(e.to_string()))?;
            key.to_pkcs1_der()
                .map_err(|e| KeyError::Generate(e.to_string()))?
                .as_bytes()
                .to_vec()
        }
        SigningAlg::Hs256 => {
            let mut secret = vec![0u8; 32];
            rng.fill_bytes(&mut secret);
            secret
        }
    };
    let private = URL_SAFE_NO_PAD.encode(&der);
    let kid = match alg {
        SigningAlg::Hs256 => crate::secret::random_token(12),
        _ => {
            let jwk = Jwk::from_encoding_key(&encoding_key(alg, &der), alg.jwt())
                .map_err(|e| KeyError::Generate(e.to_string()))?;
            jwk.thumbprint(ThumbprintHash::SHA256)
                .map_err(|e| KeyError::Generate(e.to_string()))?
        }
    };
    Ok(KeyRecord {
        kid,
        alg: alg.as_str().to_string(),
        private,
        created_at: now,
        retired_at: None,
        publish_until: None,
    })
}

fn encoding_key(alg: SigningAlg, der: &[u8]) -> EncodingKey {
    match alg {
        SigningAlg::Es256 => EncodingKey::from_ec_der(der),
        SigningAlg::EdDsa => EncodingKey::from_ed_der(der),
        SigningAlg::Rs256 | SigningAlg::Ps256 => EncodingKey::from_rsa_der(der),
        SigningAlg::Hs256 => EncodingKey::from_secret(der),
    }
}

/// A key parsed and ready to sign or verify.
pub struct LoadedKey {
    /// The key id.
    pub kid: String,
    /// The algorithm.
    pub alg: SigningAlg,
    /// Signing half, parsed.
    pub signer: crate::crypto::PrivateKey,
    /// Verifying half.
    pub decoding: DecodingKey,
    /// The public JWK; `None` for HMAC keys, which are never published.
    pub public_jwk: Option<Jwk>,
    /// Unix time of creation.
    pub created_at: u64,
    /// When it stopped being current.
    pub retired_at: Option<u64>,
    /// Published and accepted until then (retired keys only).
    pub publish_until: Option<u64>,
}

impl LoadedKey {
    /// Parses a stored key.
    pub fn from_record(record: &KeyRecord) -> Result<LoadedKey, KeyError> {
        crate::crypto::install();
        let alg = SigningAlg::parse(&record.alg)
            .ok_or_else(|| KeyError::UnknownAlg(record.alg.clone()))?;
        let corrupt = || KeyError::Corrupt(record.kid.clone());
        let der = URL_SAFE_NO_PAD
            .decode(&record.private)
            .map_err(|_| corrupt())?;
        let encoding = encoding_key(alg, &der);
        let signer = crate::crypto::PrivateKey::parse(alg.jwt(), &der).ok_or_else(corrupt)?;
        let (decoding, public_jwk) = if alg.is_symmetric() {
            if der.len() < 32 {
                return Err(corrupt());
            }
            (DecodingKey::from_secret(&der), None)
        } else {
            let mut jwk = Jwk::from_encoding_key(&encoding, alg.jwt()).map_err(|_| corrupt())?;
            jwk.common.key_id = Some(record.kid.clone());
            jwk.common.public_key_use = Some(PublicKeyUse::Signature);
            let decoding = DecodingKey::from_jwk(&jwk).map_err(|_| corrupt())?;
            (decoding, Some(jwk))
        };
        Ok(LoadedKey {
            kid: record.kid.clone(),
            alg,
            signer,
            decoding,
            public_jwk,
            created_at: record.created_at,
            retired_at: record.retired_at,
            publish_until: record.publish_until,
        })
    }

    /// Whether tokens it signed are still accepted at `now`.
    pub fn is_live(&self, now: u64) -> bool {
        self.publish_until.is_none_or(|until| now < until)
    }
}

/// The current signing key and the retired keys still published.
pub struct KeyRing {
    keys: Vec<LoadedKey>,
    current: usize,
}

impl KeyRing {
    /// Builds the ring from stored keys: the newest key that is not retired is current.
    pub fn load(records: &[KeyRecord]) -> Result<KeyRing, KeyError> {
        let keys = records
            .iter()
            .map(LoadedKey::from_record)
            .collect::<Result<Vec<_>, _>>()?;
        let current = keys
            .iter()
            .enumerate()
            .filter(|(_, k)| k.retired_at.is_none())
            .max_by_key(|(_, k)| k.created_at)
            .map(|(i, _)| i)
            .ok_or(KeyError::NoCurrentKey)?;
        Ok(KeyRing { keys, current })
    }

    /// The key new tokens are signed with.
    pub fn current(&self) -> &LoadedKey {
        &self.keys[self.current]
    }

    /// A key by id, if it is still accepted at `now`.
    pub fn find(&self, kid: &str, now: u64) -> Option<&LoadedKey> {
        self.keys.iter().find(|k| k.kid == kid && k.is_live(now))
    }

    /// Every key, current and retired.
    pub fn keys(&self) -> &[LoadedKey] {
        &self.keys
    }

    /// The RFC 7517 JWK Set: public keys only, current first, retired ones while live.
    pub fn jwks(&self, now: u64) -> serde_json::Value {
        let mut keys: Vec<&LoadedKey> = self.keys.iter().filter(|k| k.is_live(now)).collect();
        keys.sort_by_key(|k| (k.retired_at.is_some(), std::cmp::Reverse(k.created_at)));
        let jwks: Vec<&Jwk> = keys.iter().filter_map(|k| k.public_jwk.as_ref()).collect();
        serde_json::json!({ "keys": jwks })
    }
}

/// The rotation rule: the current key retires now and stays published for
/// `max_token_life` seconds (the longest access-token lifetime plus leeway); `new`
/// becomes current. Returns the records to write.
pub fn rotate(
    records: &[KeyRecord],
    new: KeyRecord,
    now: u64,
    max_token_life: u64,
) -> Vec<KeyRecord> {
    let mut changed: Vec<KeyRecord> = records
        .iter()
        .filter(|r| r.retired_at.is_none())
        .map(|r| KeyRecord {
            retired_at: Some(now),
            publish_until: Some(now.saturating_add(max_token_life)),
            ..r.clone()
        })
        .collect();
    changed.push(new);
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_algorithm_generates_loads_and_publishes_only_public_parts() {
        for alg in SigningAlg::ALL {
            let rec = generate(alg, 100).unwrap();
            let ring = KeyRing::load(std::slice::from_ref(&rec)).unwrap();
            assert_eq!(ring.current().alg, alg);
            let jwks = ring.jwks(100).to_string();
            if alg.is_symmetric() {
                assert_eq!(jwks, r#"{"keys":[]}"#);
            } else {
                assert!(jwks.contains(&rec.kid), "{jwks}");
                assert!(!jwks.contains("\"d\""), "private part leaked: {jwks}");
                assert!(jwks.contains(&format!("\"alg\":\"{}\"", alg.as_str())));
            }
        }
    }

    #[test]
    fn rotation_keeps_the_old_key_until_its_tokens_expire() {
        let old = generate(SigningAlg::EdDsa, 100).unwrap();
        let new = generate(SigningAlg::EdDsa, 200).unwrap();
        let records = rotate(std::slice::from_ref(&old), new.clone(), 200, 900);
        let ring = KeyRing::load(&records).unwrap();
        assert_eq!(ring.current().kid, new.kid);
        assert!(ring.find(&old.kid, 1099).is_some());
        assert!(ring.find(&old.kid, 1100).is_none());
        assert_eq!(ring.jwks(500)["keys"].as_array().unwrap().len(), 2);
        assert_eq!(ring.jwks(1100)["keys"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn refuses_corrupt_and_unknown_keys() {
        let mut rec = generate(SigningAlg::Es256, 0).unwrap();
        rec.private = "!!".into();
        assert_eq!(
            KeyRing::load(&[rec.clone()]).err(),
            Some(KeyError::Corrupt(rec.kid.clone()))
        );
        rec.alg = "none".into();
        assert_eq!(
            KeyRing::load(&[rec]).err(),
            Some(KeyError::UnknownAlg("none".into()))
        );
        assert_eq!(KeyRing::load(&[]).err(), Some(KeyError::NoCurrentKey));
    }
}
