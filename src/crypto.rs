//! Which implementation does ES256, per target, and the jsonwebtoken provider that uses it.
//!
//! P-256 is piauth's default algorithm, so its cost is most of a token's. Measured with
//! `cargo run --release --example sigcost` (README, "Speed"):
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
//! are tested here on every target (the other one is the reference).
//!
//! Everything else (EdDSA, RSA, HMAC, and all encoding, decoding and validation) stays
//! with jsonwebtoken's RustCrypto provider.

use jsonwebtoken::crypto::{CryptoProvider, JwtVerifier};
use jsonwebtoken::{Algorithm, DecodingKey};
use std::sync::Once;

/// Whether ring does P-256 on this target (see the table above).
pub const RING_P256: bool = cfg!(any(target_arch = "x86_64", target_arch = "aarch64"));

/// A P-256 private key, parsed once.
pub enum Es256Key {
    /// ring's assembly implementation.
    Ring(Box<ring::signature::EcdsaKeyPair>),
    /// RustCrypto's portable implementation.
    RustCrypto(Box<p256::ecdsa::SigningKey>),
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
            use p256::pkcs8::DecodePrivateKey;
            let key = p256::ecdsa::SigningKey::from_pkcs8_der(der).ok()?;
            Some(Es256Key::RustCrypto(Box::new(key)))
        }
    }

    /// The JWS signature: r||s, 64 bytes (RFC 7518 §3.4), always low-S.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        let sig = match self {
            Es256Key::Ring(pair) => {
                let rng = ring::rand::SystemRandom::new();
                let sig = pair.sign(&rng, message).map_err(|_| SignError::Ring)?;
                p256::ecdsa::Signature::from_slice(sig.as_ref()).map_err(SignError::Signature)?
            }
            Es256Key::RustCrypto(key) => {
                use p256::ecdsa::signature::Signer as _;
                key.try_sign(message).map_err(SignError::Signature)?
            }
        };
        // (r, s) and (r, n - s) both verify; issuing only the low one leaves a verifier
        // nothing to malleate and matches what strict verifiers (and other stacks) expect.
        Ok(sig.normalize_s().unwrap_or(sig).to_bytes().to_vec())
    }
}

/// A signature could not be made.
#[derive(Debug)]
pub enum SignError {
    /// ring refused (it says no more).
    Ring,
    /// A RustCrypto signer failed.
    Signature(signature::Error),
    /// The HMAC key was refused.
    HmacKey,
}

impl std::fmt::Display for SignError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SignError::Ring => f.write_str("ring could not sign"),
            SignError::Signature(e) => write!(f, "signing failed: {e}"),
            SignError::HmacKey => f.write_str("the HMAC key was refused"),
        }
    }
}

impl std::error::Error for SignError {}

/// ES256 verification with ring: the public key is the SEC1 uncompressed point that
/// jsonwebtoken's `DecodingKey::from_jwk` holds.
struct RingEs256Verifier(Vec<u8>);

impl signature::Verifier<Vec<u8>> for RingEs256Verifier {
    fn verify(&self, msg: &[u8], sig: &Vec<u8>) -> Result<(), signature::Error> {
        let alg = &ring::signature::ECDSA_P256_SHA256_FIXED;
        ring::signature::UnparsedPublicKey::new(alg, &self.0)
            .verify(msg, sig)
            .map_err(|_| signature::Error::new())
    }
}

impl JwtVerifier for RingEs256Verifier {
    fn algorithm(&self) -> Algorithm {
        Algorithm::ES256
    }
}

fn verifier_factory(
    alg: &Algorithm,
    key: &DecodingKey,
) -> jsonwebtoken::errors::Result<Box<dyn JwtVerifier>> {
    let rust_crypto = &jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER;
    if RING_P256 && *alg == Algorithm::ES256 {
        if key.family() != jsonwebtoken::AlgorithmFamily::Ec {
            return Err(jsonwebtoken::errors::ErrorKind::InvalidKeyFormat.into());
        }
        return Ok(Box::new(RingEs256Verifier(
            key.try_get_as_bytes()?.to_vec(),
        )));
    }
    (rust_crypto.verifier_factory)(alg, key)
}

/// Installs the provider as jsonwebtoken's process default. Idempotent; everything in
/// piauth that calls jsonwebtoken calls this first. If some other code installed a
/// provider before, that one stays: it is slower, not wrong.
pub fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        static PROVIDER: std::sync::OnceLock<CryptoProvider> = std::sync::OnceLock::new();
        let base = &jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER;
        let provider = PROVIDER.get_or_init(|| CryptoProvider {
            signer_factory: base.signer_factory,
            verifier_factory,
            key_utils: base.key_utils.clone(),
        });
        if provider.install_default().is_err() {
            log::debug!("a jsonwebtoken crypto provider was already installed");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::pkcs8::EncodePrivateKey;

    fn der() -> Vec<u8> {
        let key = p256::SecretKey::random(&mut rand::rngs::OsRng);
        key.to_pkcs8_der().unwrap().as_bytes().to_vec()
    }

    fn verify_with(key: &DecodingKey, msg: &[u8], sig: &[u8], ring: bool) -> bool {
        let verifier = if ring {
            Box::new(RingEs256Verifier(key.try_get_as_bytes().unwrap().to_vec()))
                as Box<dyn JwtVerifier>
        } else {
            let base = &jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER;
            (base.verifier_factory)(&Algorithm::ES256, key).unwrap()
        };
        verifier.verify(msg, &sig.to_vec()).is_ok()
    }

    #[test]
    fn every_signature_is_low_s_and_verifies_independently() {
        use rand::RngCore;
        install();
        let der = der();
        let enc = jsonwebtoken::EncodingKey::from_ec_der(&der);
        let jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(&enc, Algorithm::ES256).unwrap();
        let public = DecodingKey::from_jwk(&jwk).unwrap();
        let ring_public = ring::signature::UnparsedPublicKey::new(
            &ring::signature::ECDSA_P256_SHA256_FIXED,
            public.try_get_as_bytes().unwrap().to_vec(),
        );
        for signer_ring in [true, false] {
            let key = Es256Key::from_pkcs8_with(&der, signer_ring).unwrap();
            for _ in 0..1000 {
                let mut msg = [0u8; 48];
                rand::rngs::OsRng.fill_bytes(&mut msg);
                let sig = key.sign(&msg).unwrap();
                let parsed = p256::ecdsa::Signature::from_slice(&sig).unwrap();
                assert!(
                    parsed.normalize_s().is_none(),
                    "a high-S signature was issued"
                );
                assert!(ring_public.verify(&msg, &sig).is_ok());
                assert!(verify_with(&public, &msg, &sig, false));
            }
        }
    }

    #[test]
    fn both_implementations_sign_what_both_verify() {
        install();
        let der = der();
        let enc = jsonwebtoken::EncodingKey::from_ec_der(&der);
        let jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(&enc, Algorithm::ES256).unwrap();
        let public = DecodingKey::from_jwk(&jwk).unwrap();
        for signer_ring in [true, false] {
            let key = Es256Key::from_pkcs8_with(&der, signer_ring).unwrap();
            let sig = key.sign(b"header.claims").unwrap();
            assert_eq!(sig.len(), 64);
            for verifier_ring in [true, false] {
                assert!(verify_with(&public, b"header.claims", &sig, verifier_ring));
                assert!(!verify_with(&public, b"header.claimz", &sig, verifier_ring));
                let mut bad = sig.clone();
                bad[10] ^= 1;
                assert!(!verify_with(&public, b"header.claims", &bad, verifier_ring));
                assert!(!verify_with(
                    &public,
                    b"header.claims",
                    &sig[..63],
                    verifier_ring
                ));
            }
        }
    }

    #[test]
    fn both_refuse_garbage_keys() {
        for ring in [true, false] {
            assert!(Es256Key::from_pkcs8_with(b"not a key", ring).is_none());
        }
    }
}
