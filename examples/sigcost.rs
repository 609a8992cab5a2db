//! The cost of one ES256 signature and one verification, by implementation: the numbers
//! behind piauth's choice of crypto backend (README, "Speed").
//!
//!     cargo run --release --example sigcost [-- ITERATIONS]
//!
//! Runs single-threaded; prints microseconds per operation. Under qemu the absolute figures
//! mean little, the ratios between rows still do.

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Validation};
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use ring::signature::{self as rs, KeyPair};
use std::time::Instant;

fn per_op(label: &str, n: u32, mut f: impl FnMut()) {
    f();
    let start = Instant::now();
    for _ in 0..n {
        f();
    }
    let us = start.elapsed().as_secs_f64() * 1e6 / f64::from(n);
    println!("{label:<48} {us:>10.1} µs");
}

fn main() {
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2000);
    let secret = piauth::jose::es256::generate_secret();
    let der = secret.to_pkcs8_der().unwrap().as_bytes().to_vec();
    let msg = b"eyJ0eXAiOiJhdCtqd3QiLCJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJodHRwOi8vcGkubG9jYWwifQ";

    let parsed = p256::ecdsa::SigningKey::from_pkcs8_der(&der).unwrap();
    per_op("p256: sign, key parsed once", n, || {
        use p256::ecdsa::signature::Signer;
        let _: p256::ecdsa::Signature = parsed.sign(msg);
    });
    let ours = piauth::jose::es256::SigningKey::from_pkcs8(&der).unwrap();
    per_op("piauth es256: sign, nonce made at once", n, || {
        ours.sign(msg, None);
    });
    per_op("piauth es256: a nonce alone (k·G and 1/k)", n, || {
        piauth::jose::es256::Nonce::fresh();
    });
    // The nonce's two halves, for where a faster k·G would pay (docs/performance.md).
    let k = secret.to_nonzero_scalar();
    per_op("p256: k·G alone (precomputed table)", n, || {
        use p256::elliptic_curve::group::Group as _;
        let _ = p256::ProjectivePoint::mul_by_generator(&k);
    });
    per_op("p256: 1/k alone", n, || {
        use p256::elliptic_curve::ops::Invert as _;
        let _ = k.invert();
    });
    let pool = piauth::jose::es256::NoncePool::new(n as usize + 1);
    while pool.fill_one() <= n as usize {}
    per_op("piauth es256: sign from a ready nonce", n, || {
        ours.sign(msg, Some(&pool));
    });
    let enc = EncodingKey::from_ec_der(&der);
    per_op("jsonwebtoken rust_crypto: sign (parses key)", n, || {
        jsonwebtoken::crypto::sign(msg, &enc, Algorithm::ES256).unwrap();
    });
    let rng = ring::rand::SystemRandom::new();
    let pair =
        rs::EcdsaKeyPair::from_pkcs8(&rs::ECDSA_P256_SHA256_FIXED_SIGNING, &der, &rng).unwrap();
    per_op("ring: sign, key parsed once", n, || {
        pair.sign(&rng, msg).unwrap();
    });

    let sig = pair.sign(&rng, msg).unwrap();
    let sig_b64 = {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sig.as_ref())
    };
    let jwk = Jwk::from_encoding_key(&enc, Algorithm::ES256).unwrap();
    let dec = DecodingKey::from_jwk(&jwk).unwrap();
    per_op("jsonwebtoken rust_crypto: verify", n, || {
        assert!(jsonwebtoken::crypto::verify(&sig_b64, msg, &dec, Algorithm::ES256).unwrap());
    });
    let vk = *parsed.verifying_key();
    per_op("p256: verify, key parsed once", n, || {
        use p256::ecdsa::signature::Verifier;
        let s = p256::ecdsa::Signature::from_slice(sig.as_ref()).unwrap();
        vk.verify(msg, &s).unwrap();
    });
    let public = pair.public_key().as_ref().to_vec();
    per_op("ring: verify", n, || {
        rs::UnparsedPublicKey::new(&rs::ECDSA_P256_SHA256_FIXED, &public)
            .verify(msg, sig.as_ref())
            .unwrap();
    });
    let _ = Validation::new(Algorithm::ES256);
}
