//! Signing keys: generation, the key ring (current key plus retiring ones), the JWKS.
//!
//! Keys are parsed once, when the ring is built, and shared read-only by the request path.
//! Rotation makes a new key current and keeps each previous public key published until
//! every token it signed has expired (RFC 7517 consumers cache and look up by `kid`).

use crate::vocab::record::{KeyPurpose, KeyRecord};
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
    crate::jose::crypto::install();
    let mut rng = rand::rngs::OsRng;
    let der: Vec<u8> = match alg {
        SigningAlg::Es256 => {
            use p256::pkcs8::EncodePrivateKey;
            let key = crate::jose::es256::generate_secret();
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
        SigningAlg::Hs256 => crate::jose::secret::random_token(12),
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
        active_from: None,
        purpose: KeyPurpose::Access,
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
    pub signer: crate::jose::crypto::PrivateKey,
    /// Verifying half.
    pub decoding: DecodingKey,
    /// The public JWK; `None` for HMAC keys, which are never published.
    pub public_jwk: Option<Jwk>,
    /// Unix time of creation.
    pub created_at: u64,
    /// When it starts signing.
    pub active_from: u64,
    /// When it stops signing.
    pub retired_at: Option<u64>,
    /// Published and accepted until then (retired keys only).
    pub publish_until: Option<u64>,
    /// What it signs.
    pub purpose: KeyPurpose,
}

impl LoadedKey {
    /// Parses a stored key.
    pub fn from_record(record: &KeyRecord) -> Result<LoadedKey, KeyError> {
        crate::jose::crypto::install();
        let alg = SigningAlg::parse(&record.alg)
            .ok_or_else(|| KeyError::UnknownAlg(record.alg.clone()))?;
        let corrupt = || KeyError::Corrupt(record.kid.clone());
        let der = URL_SAFE_NO_PAD
            .decode(&record.private)
            .map_err(|_| corrupt())?;
        let encoding = encoding_key(alg, &der);
        let signer = crate::jose::crypto::PrivateKey::parse(alg.jwt(), &der).ok_or_else(corrupt)?;
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
            active_from: record.active_from.unwrap_or(record.created_at),
            retired_at: record.retired_at,
            publish_until: record.publish_until,
            purpose: record.purpose,
        })
    }

    /// Whether it is the one to sign with at `now`: active, and not yet retired.
    fn signs_at(&self, now: u64) -> bool {
        self.active_from <= now && self.retired_at.is_none_or(|r| now < r)
    }

    /// Whether tokens it signed are still accepted at `now`.
    pub fn is_live(&self, now: u64) -> bool {
        self.publish_until.is_none_or(|until| now < until)
    }
}

/// The signing keys: the current one, the next one while it waits to sign, and retired ones
/// still published.
pub struct KeyRing {
    keys: Vec<LoadedKey>,
}

impl KeyRing {
    /// Builds the ring from stored keys; one access-token key must never have been retired.
    pub fn load(records: &[KeyRecord]) -> Result<KeyRing, KeyError> {
        let keys = records
            .iter()
            .map(LoadedKey::from_record)
            .collect::<Result<Vec<_>, _>>()?;
        if !keys
            .iter()
            .any(|k| k.retired_at.is_none() && k.purpose.is_access())
        {
            return Err(KeyError::NoCurrentKey);
        }
        Ok(KeyRing { keys })
    }

    /// The keys of one line: the access-token keys, or the ID-token keys of one algorithm.
    fn line(
        &self,
        purpose: KeyPurpose,
        alg: Option<SigningAlg>,
    ) -> impl Iterator<Item = &LoadedKey> + Clone {
        self.keys
            .iter()
            .filter(move |k| k.purpose == purpose && alg.is_none_or(|a| k.alg == a))
    }

    /// The key of a line that signs at `now`: the most recently activated key not yet
    /// retired. A clock set before every activation falls back to the earliest key, never
    /// to none.
    fn signer_of<'a>(
        line: impl Iterator<Item = &'a LoadedKey> + Clone,
        now: u64,
    ) -> Option<&'a LoadedKey> {
        let by_activation = |k: &&LoadedKey| (k.active_from, k.created_at);
        line.clone()
            .filter(|k| k.signs_at(now))
            .max_by_key(by_activation)
            .or_else(|| {
                line.clone()
                    .filter(|k| k.active_from <= now)
                    .max_by_key(by_activation)
            })
            .or_else(|| line.min_by_key(by_activation))
    }

    /// The key new access tokens are signed with at `now`.
    pub fn current(&self, now: u64) -> &LoadedKey {
        Self::signer_of(self.line(KeyPurpose::Access, None), now)
            .expect("a ring holds at least one access-token key")
    }

    /// The access-token key that will sign next, while it waits for verifiers to learn it.
    pub fn next(&self, now: u64) -> Option<&LoadedKey> {
        self.line(KeyPurpose::Access, None)
            .filter(|k| k.active_from > now && k.retired_at.is_none())
            .max_by_key(|k| k.active_from)
    }

    /// The key an ID token in `alg` is signed with at `now`: the access-token key when it
    /// signs `alg`, else the current ID-token key of `alg`, if there is one. HS256 never:
    /// an ID token signed with the server's secret could be checked by no app.
    pub fn id_signer(&self, alg: SigningAlg, now: u64) -> Option<&LoadedKey> {
        if alg.is_symmetric() {
            return None;
        }
        let access = self.current(now);
        if access.alg == alg {
            return Some(access);
        }
        let line = self.line(KeyPurpose::IdToken, Some(alg));
        Self::signer_of(line.filter(|k| k.retired_at.is_none_or(|r| now < r)), now)
    }

    /// The algorithms ID tokens can be signed with at `now`, in the order metadata lists them:
    /// RS256 first, the default every app supports.
    pub fn id_algs(&self, now: u64) -> Vec<SigningAlg> {
        [
            SigningAlg::Rs256,
            SigningAlg::Es256,
            SigningAlg::EdDsa,
            SigningAlg::Ps256,
        ]
        .into_iter()
        .filter(|a| self.id_signer(*a, now).is_some())
        .collect()
    }

    /// Whether the current key or the next one signs with `alg`: what the signer should be
    /// ready for, before a staged key's first token.
    pub fn signs_soon_with(&self, alg: SigningAlg, now: u64) -> bool {
        std::iter::once(self.current(now))
            .chain(self.next(now))
            .chain(self.id_signer(alg, now))
            .any(|k| k.alg == alg)
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

/// Whether `key_rotation_days` calls for a new key at `now`: the current key has signed for
/// `days` and no next key is waiting.
pub fn rotation_due(ring: &KeyRing, now: u64, days: u64) -> bool {
    // A key made by `--now` signs "from 0": count from when it was made.
    let key = ring.current(now);
    let signed_for = now.saturating_sub(key.active_from.max(key.created_at));
    ring.next(now).is_none() && signed_for >= days.saturating_mul(86_400)
}

/// The time a rotation counts from: now, but never before the newest key began signing (a
/// clock set back must not stage a key into the past, where it would sign at once).
pub fn rotation_base(records: &[KeyRecord], now: u64) -> u64 {
    records
        .iter()
        .map(|r| r.active_from.unwrap_or(r.created_at))
        .fold(now, u64::max)
}

/// How long a rotated key is published before it signs: the time verifiers may cache the
/// JWKS (`jwks_max_age`, its `Cache-Control: max-age`), a tenth more for their clocks and
/// fetch times, and two seconds for times kept in whole seconds. Any verifier then holds the
/// new key before it meets a token signed by it.
pub fn activation_delay(jwks_max_age: u64) -> u64 {
    jwks_max_age.saturating_add(jwks_max_age / 10 + 2)
}

/// The lines of ID-token keys a rotation renews: for each algorithm with an ID-token key
/// not yet retired, every ID-token key of that algorithm.
pub fn id_lines(records: &[KeyRecord]) -> Vec<(SigningAlg, Vec<KeyRecord>)> {
    SigningAlg::ALL
        .into_iter()
        .filter_map(|alg| {
            let line: Vec<KeyRecord> = records
                .iter()
                .filter(|r| r.purpose == KeyPurpose::IdToken && r.alg == alg.as_str())
                .cloned()
                .collect();
            line.iter()
                .any(|r| r.retired_at.is_none())
                .then_some((alg, line))
        })
        .collect()
}

/// How a rotation treats the keys in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// `new` is published now and signs after `delay` seconds; until then the current key
    /// signs, then it stays published for `max_token_life` (the longest access-token
    /// lifetime plus leeway), so that no verifier meets a kid it does not have.
    Staged {
        /// Seconds until `new` signs ([`activation_delay`]).
        delay: u64,
        /// Seconds the retired key stays published after it stops signing.
        max_token_life: u64,
    },
    /// The keys in place are compromised: `new` signs at once and every other key leaves
    /// the JWKS now, so their tokens fail verification and introspection.
    Now,
}

/// The rotation rule. Returns the records to write.
pub fn rotate(
    records: &[KeyRecord],
    mut new: KeyRecord,
    now: u64,
    how: Rotation,
) -> Vec<KeyRecord> {
    let mut changed: Vec<KeyRecord> = match how {
        Rotation::Staged {
            delay,
            max_token_life,
        } => {
            let at = now.saturating_add(delay);
            new.active_from = Some(at);
            // The current key, and a next one still waiting (superseded, it signs until
            // `at`), retire when `new` starts signing.
            records
                .iter()
                .filter(|r| r.retired_at.is_none())
                .map(|r| KeyRecord {
                    retired_at: Some(at),
                    publish_until: Some(at.saturating_add(max_token_life)),
                    ..r.clone()
                })
                .collect()
        }
        // Times of 0, not `now`: a clock that later reads earlier (a Pi restoring a saved
        // time, NTP stepping back) must not bring a compromised key back.
        Rotation::Now => {
            new.active_from = Some(0);
            records
                .iter()
                .filter(|r| r.publish_until.is_none_or(|until| until > 0))
                .map(|r| KeyRecord {
                    retired_at: Some(0),
                    publish_until: Some(0),
                    ..r.clone()
                })
                .collect()
        }
    };
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
            assert_eq!(ring.current(100).alg, alg);
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

    fn staged(delay: u64) -> Rotation {
        Rotation::Staged {
            delay,
            max_token_life: 900,
        }
    }

    fn kids(ring: &KeyRing, now: u64) -> Vec<String> {
        let jwks = ring.jwks(now);
        let keys = jwks["keys"].as_array().unwrap();
        keys.iter()
            .map(|k| k["kid"].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn a_staged_key_is_published_first_signs_later_and_the_old_one_lingers_for_its_tokens() {
        let old = generate(SigningAlg::EdDsa, 100).unwrap();
        let new = generate(SigningAlg::EdDsa, 200).unwrap();
        // Rotated at 200, with verifiers caching the JWKS for 300 s.
        let delay = activation_delay(300);
        assert_eq!(delay, 332);
        let records = rotate(std::slice::from_ref(&old), new.clone(), 200, staged(delay));
        let ring = KeyRing::load(&records).unwrap();
        // Until 532 the old key signs, and both are published: a verifier that fetches the
        // JWKS at any time from 200 holds the new key before its first token exists.
        assert_eq!(ring.current(200).kid, old.kid);
        assert_eq!(ring.current(531).kid, old.kid);
        assert_eq!(ring.next(531).unwrap().kid, new.kid);
        assert_eq!(kids(&ring, 200).len(), 2);
        assert!(kids(&ring, 200).contains(&new.kid));
        // From 532 the new key signs; the old stays published until its tokens expire.
        assert_eq!(ring.current(532).kid, new.kid);
        assert!(ring.next(532).is_none());
        assert!(ring.find(&old.kid, 532 + 899).is_some());
        assert!(ring.find(&old.kid, 532 + 900).is_none());
        assert_eq!(kids(&ring, 532 + 900), [new.kid]);
    }

    #[test]
    fn the_signer_gets_ready_for_a_staged_algorithm_and_forgets_a_retired_one() {
        let ed = generate(SigningAlg::EdDsa, 100).unwrap();
        let es = generate(SigningAlg::Es256, 200).unwrap();
        let ring = KeyRing::load(std::slice::from_ref(&ed)).unwrap();
        assert!(!ring.signs_soon_with(SigningAlg::Es256, 150));
        // Rotated to ES256 at 200, signing from 300: ready from the rotation on.
        let records = rotate(std::slice::from_ref(&ed), es.clone(), 200, staged(100));
        let ring = KeyRing::load(&records).unwrap();
        assert_eq!(ring.current(250).alg, SigningAlg::EdDsa);
        assert!(ring.signs_soon_with(SigningAlg::Es256, 250));
        assert!(ring.signs_soon_with(SigningAlg::EdDsa, 250));
        // Once ES256 signs, the retired EdDSA key is only published.
        assert!(ring.signs_soon_with(SigningAlg::Es256, 300));
        assert!(!ring.signs_soon_with(SigningAlg::EdDsa, 300));
    }

    #[test]
    fn a_second_rotation_while_one_waits_supersedes_it_in_order() {
        let a = generate(SigningAlg::Es256, 0).unwrap();
        let b = generate(SigningAlg::Es256, 10).unwrap();
        let c = generate(SigningAlg::Es256, 20).unwrap();
        let mut records = rotate(std::slice::from_ref(&a), b.clone(), 10, staged(100));
        records = merge(records, std::slice::from_ref(&a));
        let records = merge(rotate(&records, c.clone(), 20, staged(100)), &records);
        let ring = KeyRing::load(&records).unwrap();
        assert_eq!(ring.current(109).kid, a.kid);
        assert_eq!(ring.current(110).kid, b.kid);
        assert_eq!(ring.current(120).kid, c.kid);
        assert_eq!(ring.next(115).unwrap().kid, c.kid);
    }

    /// The store after writing `changed` over `before` (by kid).
    fn merge(changed: Vec<KeyRecord>, before: &[KeyRecord]) -> Vec<KeyRecord> {
        let mut out: Vec<KeyRecord> = before
            .iter()
            .filter(|r| !changed.iter().any(|c| c.kid == r.kid))
            .cloned()
            .collect();
        out.extend(changed);
        out
    }

    #[test]
    fn rotating_now_signs_at_once_and_pulls_every_other_key() {
        let old = generate(SigningAlg::Es256, 0).unwrap();
        let waiting = generate(SigningAlg::Es256, 50).unwrap();
        let records = rotate(std::slice::from_ref(&old), waiting.clone(), 50, staged(100));
        let fresh = generate(SigningAlg::Es256, 60).unwrap();
        let records = merge(rotate(&records, fresh.clone(), 60, Rotation::Now), &records);
        let ring = KeyRing::load(&records).unwrap();
        assert_eq!(ring.current(60).kid, fresh.kid);
        assert_eq!(kids(&ring, 60), std::slice::from_ref(&fresh.kid));
        assert!(ring.find(&old.kid, 60).is_none());
        assert!(ring.find(&waiting.kid, 60).is_none());
        assert_eq!(ring.current(1000).kid, fresh.kid);
        // A clock that goes back afterwards brings none of them back.
        for t in [0, 1, 30, 59] {
            assert_eq!(ring.current(t).kid, fresh.kid, "at {t}");
            assert!(ring.find(&old.kid, t).is_none(), "at {t}");
        }
    }

    #[test]
    fn automatic_rotation_is_due_after_its_days_unless_a_key_waits() {
        let k = generate(SigningAlg::Es256, 0).unwrap();
        let ring = KeyRing::load(std::slice::from_ref(&k)).unwrap();
        assert!(!rotation_due(&ring, 86_399, 1));
        assert!(rotation_due(&ring, 86_400, 1));
        let next = generate(SigningAlg::Es256, 86_400).unwrap();
        let records = rotate(&[k], next, 86_400, staged(331));
        let ring = KeyRing::load(&records).unwrap();
        assert!(!rotation_due(&ring, 86_500, 1), "one already waits");
        assert!(
            !rotation_due(&ring, 86_400 + 331, 1),
            "the new one just began"
        );
    }

    #[test]
    fn id_tokens_sign_with_the_access_key_in_its_alg_or_their_own_line() {
        let access = generate(SigningAlg::Es256, 100).unwrap();
        let ring = KeyRing::load(std::slice::from_ref(&access)).unwrap();
        assert_eq!(
            ring.id_signer(SigningAlg::Es256, 100).unwrap().kid,
            access.kid
        );
        assert!(ring.id_signer(SigningAlg::Rs256, 100).is_none());
        assert_eq!(ring.id_algs(100), [SigningAlg::Es256]);
        let mut rsa = crate::protocol::testing::rs256_id_key();
        rsa.created_at = 100;
        let ring = KeyRing::load(&[access.clone(), rsa.clone()]).unwrap();
        assert_eq!(
            ring.current(100).kid,
            access.kid,
            "access tokens keep their key"
        );
        assert_eq!(ring.id_signer(SigningAlg::Rs256, 100).unwrap().kid, rsa.kid);
        assert_eq!(ring.id_algs(100), [SigningAlg::Rs256, SigningAlg::Es256]);
        assert!(ring.id_signer(SigningAlg::Hs256, 100).is_none());
        // A ring of ID-token keys alone has no access-token key: refused.
        assert!(KeyRing::load(&[rsa]).is_err());
        // A rotation renews each ID-token line staged, as the access line.
        let mut rsa = crate::protocol::testing::rs256_id_key();
        rsa.created_at = 100;
        let lines = id_lines(&[access.clone(), rsa.clone()]);
        assert_eq!(lines.len(), 1);
        assert_eq!((lines[0].0, lines[0].1.len()), (SigningAlg::Rs256, 1));
        let mut next = rsa.clone();
        next.kid = "next".into();
        let changed = rotate(&lines[0].1, next, 200, staged(50));
        let ring = KeyRing::load(&[vec![access], changed].concat()).unwrap();
        assert_eq!(ring.id_signer(SigningAlg::Rs256, 249).unwrap().kid, rsa.kid);
        assert_eq!(ring.id_signer(SigningAlg::Rs256, 250).unwrap().kid, "next");
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
