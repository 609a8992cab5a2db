use super::*;
use p256::pkcs8::EncodePrivateKey;
use signature::Verifier as _;

fn der() -> Vec<u8> {
    let key = es256::generate_secret();
    key.to_pkcs8_der().unwrap().as_bytes().to_vec()
}

fn reference() -> &'static CryptoProvider {
    &jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER
}

/// Verifies with ring, with `p256`, and with jsonwebtoken's RustCrypto provider.
fn verifies_everywhere(key: &DecodingKey, msg: &[u8], sig: &[u8]) -> [bool; 3] {
    let sig = sig.to_vec();
    let bytes = key.try_get_as_bytes().unwrap().to_vec();
    let ring = PublicKind::Ring(&ring::signature::ECDSA_P256_SHA256_FIXED, bytes.clone());
    let p256 = PublicKind::P256(p256::ecdsa::VerifyingKey::from_sec1_bytes(&bytes).unwrap());
    let ours = |kind| {
        PublicKey {
            alg: Algorithm::ES256,
            kind,
        }
        .verify(msg, &sig)
        .is_ok()
    };
    let theirs = (reference().verifier_factory)(&Algorithm::ES256, key).unwrap();
    [ours(ring), ours(p256), theirs.verify(msg, &sig).is_ok()]
}

fn es256_public(der: &[u8]) -> DecodingKey {
    install();
    let enc = EncodingKey::from_ec_der(der);
    let jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(&enc, Algorithm::ES256).unwrap();
    DecodingKey::from_jwk(&jwk).unwrap()
}

#[test]
fn every_signature_is_low_s_and_verifies_independently() {
    use rand::RngCore;
    let der = der();
    let public = es256_public(&der);
    for signer_ring in [true, false] {
        let key = Es256Key::from_pkcs8_with(&der, signer_ring).unwrap();
        for _ in 0..1000 {
            let mut msg = [0u8; 48];
            rand::rngs::OsRng.fill_bytes(&mut msg);
            let sig = key.sign(&msg).unwrap();
            let parsed = p256::ecdsa::Signature::from_slice(&sig).unwrap();
            assert!(
                parsed.normalize_s() == parsed,
                "a high-S signature was issued"
            );
            assert_eq!(verifies_everywhere(&public, &msg, &sig), [true; 3]);
        }
    }
}

#[test]
fn signatures_from_pooled_nonces_verify_independently_and_never_share_a_nonce() {
    // The server's path on 32-bit ARM (start_nonce_pool is a no-op where ring signs).
    use rand::RngCore;
    let der = der();
    let public = es256_public(&der);
    let key = es256::SigningKey::from_pkcs8(&der).unwrap();
    let pool = es256::NoncePool::new(2000);
    while pool.fill_one() < 2000 {}
    let mut rs = std::collections::HashSet::new();
    for i in 0..3000 {
        let mut msg = vec![0u8; i % 200];
        rand::rngs::OsRng.fill_bytes(&mut msg);
        let sig = key.sign(&msg, Some(&pool));
        assert!(rs.insert(sig[..32].to_vec()), "a nonce was used twice");
        let parsed = p256::ecdsa::Signature::from_slice(&sig).unwrap();
        assert!(parsed.normalize_s() == parsed, "high S");
        assert_eq!(verifies_everywhere(&public, &msg, &sig), [true; 3]);
        let mut other = msg.clone();
        other.push(b'x');
        assert_eq!(verifies_everywhere(&public, &other, &sig), [false; 3]);
    }
    assert!(
        pool.is_empty(),
        "2000 from the pool, then 1000 made at once"
    );
}

/// Project Wycheproof's ECDSA P-256/SHA-256 vectors (IEEE P1363 signatures, the JWS
/// form), tests/fixtures/wycheproof: edge cases of r and s, arithmetic corner cases and
/// malformed lengths, through both verifiers piauth may use for ES256.
#[test]
fn wycheproof_ecdsa_p256_vectors_pass_both_verifiers() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/wycheproof/ecdsa_secp256r1_sha256_p1363_test.json"
    );
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let hex = |v: &serde_json::Value| -> Vec<u8> {
        let s = v.as_str().unwrap();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    };
    let mut checked = 0;
    for group in doc["testGroups"].as_array().unwrap() {
        let point = hex(&group["publicKey"]["uncompressed"]);
        let verifiers = [
            PublicKind::Ring(&ring::signature::ECDSA_P256_SHA256_FIXED, point.clone()),
            PublicKind::P256(p256::ecdsa::VerifyingKey::from_sec1_bytes(&point).unwrap()),
        ];
        for kind in verifiers {
            let key = PublicKey {
                alg: Algorithm::ES256,
                kind,
            };
            for t in group["tests"].as_array().unwrap() {
                let ok = key.verify(&hex(&t["msg"]), &hex(&t["sig"])).is_ok();
                let want = t["result"] == "valid";
                assert_eq!(ok, want, "tcId {} ({})", t["tcId"], t["comment"]);
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 2 * doc["numberOfTests"].as_u64().unwrap());
}

#[test]
fn both_implementations_sign_what_all_verify_and_refuse_what_is_changed() {
    let der = der();
    let public = es256_public(&der);
    for signer_ring in [true, false] {
        let key = Es256Key::from_pkcs8_with(&der, signer_ring).unwrap();
        let sig = key.sign(b"header.claims").unwrap();
        assert_eq!(sig.len(), 64);
        assert_eq!(
            verifies_everywhere(&public, b"header.claims", &sig),
            [true; 3]
        );
        assert_eq!(
            verifies_everywhere(&public, b"header.claimz", &sig),
            [false; 3]
        );
        let mut bad = sig.clone();
        bad[10] ^= 1;
        assert_eq!(
            verifies_everywhere(&public, b"header.claims", &bad),
            [false; 3]
        );
        assert_eq!(
            verifies_everywhere(&public, b"header.claims", &sig[..63]),
            [false; 3]
        );
    }
}

#[test]
fn both_refuse_garbage_keys() {
    for ring in [true, false] {
        assert!(Es256Key::from_pkcs8_with(b"not a key", ring).is_none());
    }
}

/// A private key of `alg` in the DER form jsonwebtoken's `EncodingKey` takes.
fn private_der(alg: Algorithm) -> Vec<u8> {
    use ring::signature as sig;
    let rng = ring::rand::SystemRandom::new();
    match alg {
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => vec![7; 48],
        Algorithm::ES256 => der(),
        Algorithm::ES384 => {
            let alg = &sig::ECDSA_P384_SHA384_FIXED_SIGNING;
            sig::EcdsaKeyPair::generate_pkcs8(alg, &rng)
                .unwrap()
                .as_ref()
                .to_vec()
        }
        Algorithm::EdDSA => {
            let record =
                crate::jose::keys::generate(crate::jose::keys::SigningAlg::EdDsa, 1).unwrap();
            base64::Engine::decode(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                record.private,
            )
            .unwrap()
        }
        _ => {
            let record =
                crate::jose::keys::generate(crate::jose::keys::SigningAlg::Rs256, 1).unwrap();
            base64::Engine::decode(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                record.private,
            )
            .unwrap()
        }
    }
}

fn encoding_key(alg: Algorithm, der: &[u8]) -> EncodingKey {
    match alg.family() {
        jsonwebtoken::AlgorithmFamily::Hmac => EncodingKey::from_secret(der),
        jsonwebtoken::AlgorithmFamily::Ec => EncodingKey::from_ec_der(der),
        jsonwebtoken::AlgorithmFamily::Ed => EncodingKey::from_ed_der(der),
        jsonwebtoken::AlgorithmFamily::Rsa => EncodingKey::from_rsa_der(der),
    }
}

#[test]
fn the_provider_and_jsonwebtokens_rustcrypto_provider_agree_on_every_algorithm() {
    install();
    use Algorithm::*;
    let rsa = private_der(RS256);
    for alg in [
        HS256, HS384, HS512, ES256, ES384, RS256, RS384, RS512, PS256, PS384, PS512, EdDSA,
    ] {
        let der = if alg.family() == jsonwebtoken::AlgorithmFamily::Rsa {
            rsa.clone()
        } else {
            private_der(alg)
        };
        let enc = encoding_key(alg, &der);
        let public = if alg.family() == jsonwebtoken::AlgorithmFamily::Hmac {
            DecodingKey::from_secret(&der)
        } else {
            // Both providers' key helpers find the same public key.
            let (ours, theirs) = (&PROVIDER.key_utils, &reference().key_utils);
            match alg.family() {
                jsonwebtoken::AlgorithmFamily::Rsa => assert_eq!(
                    (ours.rsa_pub_components_from_private_key)(&der).unwrap(),
                    (theirs.rsa_pub_components_from_private_key)(&der).unwrap()
                ),
                jsonwebtoken::AlgorithmFamily::Ec => assert_eq!(
                    (ours.ec_pub_components_from_private_key)(&der, alg).unwrap(),
                    (theirs.ec_pub_components_from_private_key)(&der, alg).unwrap()
                ),
                _ => assert_eq!(
                    (ours.ed_pub_components_from_private_key)(&der, &EllipticCurve::Ed25519)
                        .unwrap(),
                    (theirs.ed_pub_components_from_private_key)(&der, &EllipticCurve::Ed25519)
                        .unwrap()
                ),
            }
            let jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(&enc, alg).unwrap();
            DecodingKey::from_jwk(&jwk).unwrap()
        };
        let ours_sign = (PROVIDER.signer_factory)(&alg, &enc).unwrap();
        let theirs_sign = (reference().signer_factory)(&alg, &enc).unwrap();
        let ours_verify = (PROVIDER.verifier_factory)(&alg, &public).unwrap();
        let theirs_verify = (reference().verifier_factory)(&alg, &public).unwrap();
        let msg = b"eyJhbGciOi.eyJzdWIiOi";
        for sig in [
            ours_sign.try_sign(msg).unwrap(),
            theirs_sign.try_sign(msg).unwrap(),
        ] {
            assert!(ours_verify.verify(msg, &sig).is_ok(), "{alg:?}");
            assert!(theirs_verify.verify(msg, &sig).is_ok(), "{alg:?}");
            let mut bad = sig.clone();
            bad[3] ^= 0x40;
            assert!(ours_verify.verify(msg, &bad).is_err(), "{alg:?}");
            assert!(ours_verify.verify(b"eyJhbGciOi.eyJzdWIiOj", &sig).is_err());
        }
        // A key of another family is refused, never used.
        let other = if alg.family() == jsonwebtoken::AlgorithmFamily::Hmac {
            DecodingKey::from_ed_der(&[1; 32])
        } else {
            DecodingKey::from_secret(b"0123456789abcdef0123456789abcdef")
        };
        assert!(
            (PROVIDER.verifier_factory)(&alg, &other).is_err(),
            "{alg:?}"
        );
    }
}
