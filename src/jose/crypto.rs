//! Which implementation does ES256, per target, and the jsonwebtoken provider that uses it.
//!
//! P-256 is piauth's default algorithm, so its cost is most of a token's. Measured with
//! `cargo run --release --example sigcost` (docs/performance.md):
//!
//! | µs per op                 | sign p256 | sign ring | verify p256 | verify ring |
//! |---------------------------|-----------|-----------|-------------|-------------|
//! | x86_64, native (EPYC)     |       244 |        22 |         310 |          79 |
//! | AArch64, qemu cortex-a72  |     1,185 |       174 |       1,924 |         539 |
//! | ARMv7, qemu cortex-a7     |     7,691 |     9,680 |      13,141 |      30,094 |
//! | ARMv6, qemu arm1176       |    12,451 |    15,339 |      18,339 |      32,572 |
//!
//! (Under qemu the absolute times are the emulator's; the ratios are what count.)
//!
//! ring has assembly for x86_64 and AArch64; on 32-bit ARM it falls back to portable C
//! that is slower than RustCrypto's `p256`. So each target gets the faster one, and both
//! are tested (`crypto/tests.rs`) on every target (the other one is the reference).
//!
//! Everything else (ES384, EdDSA, RSA, HMAC, and the JWK helpers) is ring's, through the
//! jsonwebtoken provider below; encoding, decoding and validation stay jsonwebtoken's.

use crate::jose::es256;
use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{ErrorKind, Result as KeyResult};
use jsonwebtoken::jwk::{EllipticCurve, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use std::sync::Once;

/// Whether ring does P-256 on this target (see the table above).
pub const RING_P256: bool = cfg!(any(target_arch = "x86_64", target_arch = "aarch64"));

/// A P-256 private key, parsed once.
pub enum Es256Key {
    /// ring's assembly implementation.
    Ring(Box<ring::signature::EcdsaKeyPair>),
    /// RustCrypto's portable implementation, from precomputed nonces (es256.rs).
    RustCrypto(Box<es256::SigningKey>),
}

impl Es256Key {
    /// Parses a PKCS#8 DER key with the implementation this target prefers.
    pub fn from_pkcs8(der: &[u8]) -> Option<Es256Key> {
        Es256Key::from_pkcs8_with(der, RING_P256)
    }

    /// Parses a PKCS#8 DER key with ring (`true`) or RustCrypto.
    pub fn from_pkcs8_with(der: &[u8], ring: bool) -> Option<Es256Key> {
        if ring {
            let alg = &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING;
            let rng = ring::rand::SystemRandom::new();
            let pair = ring::signature::EcdsaKeyPair::from_pkcs8(alg, der, &rng).ok()?;
            Some(Es256Key::Ring(Box::new(pair)))
        } else {
            Some(Es256Key::RustCrypto(Box::new(
                es256::SigningKey::from_pkcs8(der)?,
            )))
        }
    }

    /// The JWS signature: r||s, 64 bytes (RFC 7518 §3.4), always low-S. RustCrypto's
    /// takes its nonce from the process's pool when one is ready ([`start_nonce_pool`]).
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        match self {
            Es256Key::Ring(pair) => {
                let rng = ring::rand::SystemRandom::new();
                let sig = pair.sign(&rng, message).map_err(|_| SignError::Ring)?;
                let sig = p256::ecdsa::Signature::from_slice(sig.as_ref())
                    .map_err(|_| SignError::Ring)?;
                // (r, s) and (r, n - s) both verify; issuing only the low one leaves a
                // verifier nothing to malleate and matches what strict verifiers expect.
                Ok(sig.normalize_s().to_bytes().to_vec())
            }
            Es256Key::RustCrypto(key) => Ok(key.sign(message, NONCES.get()).to_vec()),
        }
    }
}

/// ES256 nonces ready, when the server keeps some.
pub fn nonces_ready() -> Option<usize> {
    NONCES.get().map(|pool| pool.len())
}

/// The process's ES256 nonces, when the server keeps some (RustCrypto targets only).
static NONCES: std::sync::OnceLock<es256::NoncePool> = std::sync::OnceLock::new();

/// Starts keeping up to `capacity` ES256 nonces ready, made by a thread that runs only when
/// nothing else wants the CPU (`lower`, the adapter's way to say so, runs on it first).
/// Does nothing where ring signs ES256 (it takes no precomputed nonce), for 0, or when a
/// pool was started before. `ready` is called once, when the pool is first full.
pub fn start_nonce_pool(capacity: usize, lower: fn(), ready: impl FnOnce(usize) + Send + 'static) {
    if RING_P256 || capacity == 0 {
        return;
    }
    let mut first = false;
    let filler: &'static es256::NoncePool = NONCES.get_or_init(|| {
        first = true;
        es256::NoncePool::new(capacity)
    });
    if !first {
        return; // one filler per process
    }
    let spawned = std::thread::Builder::new()
        .name("es256-nonces".into())
        .spawn(move || {
            lower();
            let mut ready = Some(ready);
            loop {
                if filler.fill_one() == filler.capacity() {
                    if let Some(ready) = ready.take() {
                        ready(filler.capacity());
                    }
                }
            }
        });
    if let Err(e) = spawned {
        log::warn!("es256: no nonce thread ({e}); every signature makes its own nonce");
    }
}

/// A signature could not be made.
#[derive(Debug)]
pub enum SignError {
    /// ring refused (it says no more).
    Ring,
}

impl std::fmt::Display for SignError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SignError::Ring => f.write_str("ring could not sign"),
        }
    }
}

impl std::error::Error for SignError {}

/// A private key of any JWS algorithm piauth signs with, parsed once. jsonwebtoken's own
/// signers re-parse the DER key on every call (about 0.4 ms of a 0.7 ms ES256 signature on
/// x86_64); this keeps it parsed.
pub struct PrivateKey {
    alg: Algorithm,
    kind: PrivateKind,
}

enum PrivateKind {
    Hmac(ring::hmac::Key),
    Es256(Es256Key),
    Es384(Box<ring::signature::EcdsaKeyPair>),
    /// ring's RSA signing is blinded, unlike the `rsa` crate's default path
    /// (RUSTSEC-2023-0071, "Marvin").
    Rsa(
        Box<ring::signature::RsaKeyPair>,
        &'static dyn ring::signature::RsaEncoding,
    ),
    Ed25519(Box<ring::signature::Ed25519KeyPair>),
}

impl PrivateKey {
    /// Parses `der`: the HMAC secret, a PKCS#8 EC or Ed25519 key, or a PKCS#1 RSA key (the
    /// forms jsonwebtoken's `EncodingKey::from_*_der` take).
    pub fn parse(alg: Algorithm, der: &[u8]) -> Option<PrivateKey> {
        use ring::signature as sig;
        let rsa = |encoding: &'static dyn sig::RsaEncoding| {
            let pair = sig::RsaKeyPair::from_der(der).ok()?;
            Some(PrivateKind::Rsa(Box::new(pair), encoding))
        };
        let kind = match alg {
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
                PrivateKind::Hmac(ring::hmac::Key::new(hmac_alg(alg)?, der))
            }
            Algorithm::ES256 => PrivateKind::Es256(Es256Key::from_pkcs8(der)?),
            Algorithm::ES384 => {
                let rng = ring::rand::SystemRandom::new();
                let alg = &sig::ECDSA_P384_SHA384_FIXED_SIGNING;
                let pair = sig::EcdsaKeyPair::from_pkcs8(alg, der, &rng).ok()?;
                PrivateKind::Es384(Box::new(pair))
            }
            Algorithm::RS256 => rsa(&sig::RSA_PKCS1_SHA256)?,
            Algorithm::RS384 => rsa(&sig::RSA_PKCS1_SHA384)?,
            Algorithm::RS512 => rsa(&sig::RSA_PKCS1_SHA512)?,
            Algorithm::PS256 => rsa(&sig::RSA_PSS_SHA256)?,
            Algorithm::PS384 => rsa(&sig::RSA_PSS_SHA384)?,
            Algorithm::PS512 => rsa(&sig::RSA_PSS_SHA512)?,
            Algorithm::EdDSA => {
                // Accepts the 48-byte PKCS#8 v1 form that piauth stores as well as v2.
                let pair = sig::Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).ok()?;
                PrivateKind::Ed25519(Box::new(pair))
            }
            _ => return None,
        };
        Some(PrivateKey { alg, kind })
    }

    /// The JWS signature over `message` (RFC 7515 §5.1; ECDSA as raw r||s, RFC 7518 §3.4).
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        let rng = ring::rand::SystemRandom::new();
        match &self.kind {
            PrivateKind::Hmac(key) => Ok(ring::hmac::sign(key, message).as_ref().to_vec()),
            PrivateKind::Es256(key) => key.sign(message),
            PrivateKind::Es384(pair) => Ok(pair
                .sign(&rng, message)
                .map_err(|_| SignError::Ring)?
                .as_ref()
                .to_vec()),
            PrivateKind::Rsa(pair, encoding) => {
                let mut out = vec![0; pair.public().modulus_len()];
                pair.sign(*encoding, &rng, message, &mut out)
                    .map_err(|_| SignError::Ring)?;
                Ok(out)
            }
            PrivateKind::Ed25519(pair) => Ok(pair.sign(message).as_ref().to_vec()),
        }
    }

    /// The algorithm it signs with.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }
}

fn hmac_alg(alg: Algorithm) -> Option<ring::hmac::Algorithm> {
    match alg {
        Algorithm::HS256 => Some(ring::hmac::HMAC_SHA256),
        Algorithm::HS384 => Some(ring::hmac::HMAC_SHA384),
        Algorithm::HS512 => Some(ring::hmac::HMAC_SHA512),
        _ => None,
    }
}

impl signature::Signer<Vec<u8>> for PrivateKey {
    fn try_sign(&self, msg: &[u8]) -> Result<Vec<u8>, signature::Error> {
        self.sign(msg).map_err(signature::Error::from_source)
    }
}

impl JwtSigner for PrivateKey {
    fn algorithm(&self) -> Algorithm {
        self.alg
    }
}

/// A public key (or HMAC secret) ready to check signatures of one algorithm.
struct PublicKey {
    alg: Algorithm,
    kind: PublicKind,
}

enum PublicKind {
    Hmac(ring::hmac::Key),
    /// P-256 on targets where RustCrypto beats ring (see the table above).
    P256(p256::ecdsa::VerifyingKey),
    /// Anything ring parses from bytes: an EC point, an Ed25519 key, a DER RSAPublicKey.
    Ring(&'static dyn ring::signature::VerificationAlgorithm, Vec<u8>),
    RsaComponents(&'static ring::signature::RsaParameters, Vec<u8>, Vec<u8>),
}

impl PublicKey {
    fn new(alg: Algorithm, key: &DecodingKey) -> Option<PublicKey> {
        use jsonwebtoken::{AlgorithmFamily as Family, DecodingKeyKind as Kind};
        use ring::signature as sig;
        if key.family() != alg.family() {
            return None;
        }
        let rsa: Option<&'static sig::RsaParameters> = match alg {
            Algorithm::RS256 => Some(&sig::RSA_PKCS1_2048_8192_SHA256),
            Algorithm::RS384 => Some(&sig::RSA_PKCS1_2048_8192_SHA384),
            Algorithm::RS512 => Some(&sig::RSA_PKCS1_2048_8192_SHA512),
            Algorithm::PS256 => Some(&sig::RSA_PSS_2048_8192_SHA256),
            Algorithm::PS384 => Some(&sig::RSA_PSS_2048_8192_SHA384),
            Algorithm::PS512 => Some(&sig::RSA_PSS_2048_8192_SHA512),
            _ => None,
        };
        let kind = match (key.kind(), rsa) {
            (Kind::RsaModulusExponent { n, e }, Some(params)) => {
                PublicKind::RsaComponents(params, n.clone(), e.clone())
            }
            (Kind::RsaModulusExponent { .. }, None) => return None,
            (Kind::SecretOrDer(bytes), Some(params)) => PublicKind::Ring(params, bytes.clone()),
            (Kind::SecretOrDer(bytes), None) => match key.family() {
                Family::Hmac => PublicKind::Hmac(ring::hmac::Key::new(hmac_alg(alg)?, bytes)),
                Family::Ec if alg == Algorithm::ES256 && !RING_P256 => {
                    PublicKind::P256(p256::ecdsa::VerifyingKey::from_sec1_bytes(bytes).ok()?)
                }
                Family::Ec if alg == Algorithm::ES256 => {
                    PublicKind::Ring(&sig::ECDSA_P256_SHA256_FIXED, bytes.clone())
                }
                Family::Ec => PublicKind::Ring(&sig::ECDSA_P384_SHA384_FIXED, bytes.clone()),
                Family::Ed => PublicKind::Ring(&sig::ED25519, bytes.clone()),
                Family::Rsa => return None,
            },
        };
        Some(PublicKey { alg, kind })
    }
}

impl signature::Verifier<Vec<u8>> for PublicKey {
    fn verify(&self, msg: &[u8], signature: &Vec<u8>) -> Result<(), signature::Error> {
        let ok = match &self.kind {
            PublicKind::Hmac(key) => ring::hmac::verify(key, msg, signature).is_ok(),
            PublicKind::P256(key) => {
                use p256::ecdsa::signature::Verifier as _;
                p256::ecdsa::Signature::from_slice(signature)
                    .is_ok_and(|sig| key.verify(msg, &sig).is_ok())
            }
            PublicKind::Ring(alg, key) => ring::signature::UnparsedPublicKey::new(*alg, key)
                .verify(msg, signature)
                .is_ok(),
            PublicKind::RsaComponents(params, n, e) => {
                let key = ring::signature::RsaPublicKeyComponents { n, e };
                key.verify(params, msg, signature).is_ok()
            }
        };
        ok.then_some(()).ok_or_else(signature::Error::new)
    }
}

impl JwtVerifier for PublicKey {
    fn algorithm(&self) -> Algorithm {
        self.alg
    }
}

fn invalid_key() -> jsonwebtoken::errors::Error {
    jsonwebtoken::errors::ErrorKind::InvalidKeyFormat.into()
}

fn signer_factory(
    alg: &Algorithm,
    key: &EncodingKey,
) -> jsonwebtoken::errors::Result<Box<dyn JwtSigner>> {
    if key.family() != alg.family() {
        return Err(invalid_key());
    }
    let key = PrivateKey::parse(*alg, key.as_bytes()).ok_or_else(invalid_key)?;
    Ok(Box::new(key))
}

fn verifier_factory(
    alg: &Algorithm,
    key: &DecodingKey,
) -> jsonwebtoken::errors::Result<Box<dyn JwtVerifier>> {
    let key = PublicKey::new(*alg, key).ok_or_else(invalid_key)?;
    Ok(Box::new(key))
}

fn rsa_components_from_private_key(der: &[u8]) -> KeyResult<(Vec<u8>, Vec<u8>)> {
    let pair = ring::signature::RsaKeyPair::from_der(der)
        .map_err(|e| ErrorKind::InvalidRsaKey(e.to_string()))?;
    let public = ring::signature::RsaPublicKeyComponents::<Vec<u8>>::from(pair.public());
    Ok((public.n, public.e))
}

fn rsa_components_from_public_key(der: &[u8]) -> KeyResult<(Vec<u8>, Vec<u8>)> {
    use rsa::pkcs1::DecodeRsaPublicKey;
    use rsa::traits::PublicKeyParts;
    let public = rsa::RsaPublicKey::from_pkcs1_der(der)
        .map_err(|e| ErrorKind::InvalidRsaKey(e.to_string()))?;
    Ok((public.n().to_bytes_be(), public.e().to_bytes_be()))
}

fn ec_components_from_private_key(
    der: &[u8],
    alg: Algorithm,
) -> KeyResult<(EllipticCurve, Vec<u8>, Vec<u8>)> {
    use ring::signature::{self as sig, KeyPair as _};
    let (curve, signing, len) = match alg {
        Algorithm::ES256 => (
            EllipticCurve::P256,
            &sig::ECDSA_P256_SHA256_FIXED_SIGNING,
            32,
        ),
        Algorithm::ES384 => (
            EllipticCurve::P384,
            &sig::ECDSA_P384_SHA384_FIXED_SIGNING,
            48,
        ),
        _ => return Err(ErrorKind::InvalidEcdsaKey.into()),
    };
    let rng = ring::rand::SystemRandom::new();
    let pair = sig::EcdsaKeyPair::from_pkcs8(signing, der, &rng)
        .map_err(|_| ErrorKind::InvalidEcdsaKey)?;
    // The SEC1 uncompressed point: 0x04 || x || y.
    let point = pair.public_key().as_ref();
    if point.len() != 1 + 2 * len || point[0] != 4 {
        return Err(ErrorKind::InvalidEcdsaKey.into());
    }
    let (x, y) = point[1..].split_at(len);
    Ok((curve, x.to_vec(), y.to_vec()))
}

fn ed_components_from_private_key(der: &[u8], curve: &EllipticCurve) -> KeyResult<Vec<u8>> {
    use ring::signature::KeyPair as _;
    if *curve != EllipticCurve::Ed25519 {
        return Err(ErrorKind::InvalidAlgorithm.into());
    }
    let pair = ring::signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
        .map_err(|_| ErrorKind::InvalidEddsaKey)?;
    Ok(pair.public_key().as_ref().to_vec())
}

fn compute_digest(data: &[u8], hash: ThumbprintHash) -> KeyResult<Vec<u8>> {
    let alg = match hash {
        ThumbprintHash::SHA256 => &ring::digest::SHA256,
        ThumbprintHash::SHA384 => &ring::digest::SHA384,
        ThumbprintHash::SHA512 => &ring::digest::SHA512,
        _ => return Err(ErrorKind::InvalidAlgorithm.into()),
    };
    Ok(ring::digest::digest(alg, data).as_ref().to_vec())
}

/// piauth's jsonwebtoken provider: ring for everything, but RustCrypto's `p256` for ES256
/// where it is faster. jsonwebtoken's own RustCrypto provider is left out of the build: it
/// would bring P-384 and Ed25519 code twice over, and sign RSA on the `rsa` crate.
static PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory,
    verifier_factory,
    key_utils: KeyUtils {
        rsa_pub_components_from_private_key: rsa_components_from_private_key,
        rsa_pub_components_from_public_key: rsa_components_from_public_key,
        ec_pub_components_from_private_key: ec_components_from_private_key,
        ed_pub_components_from_private_key: ed_components_from_private_key,
        compute_digest,
    },
};

/// Installs the provider as jsonwebtoken's process default. Idempotent; everything in
/// piauth that calls jsonwebtoken calls this first.
pub fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if PROVIDER.install_default().is_err() {
            log::debug!("a jsonwebtoken crypto provider was already installed");
        }
    });
}

#[cfg(test)]
mod tests;
