//! `private_key_jwt` (RFC 7523 §2.2) through the real binary: a device that holds a key and
//! no secret gets tokens, and every assertion rule holds.

use crate::util::Server;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

const TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

pub(crate) fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A P-256 key: its private half for signing, its public JWK for registering.
pub(crate) fn es256_key() -> (EncodingKey, Value) {
    use p256::elliptic_curve::sec1::ToSec1Point;
    use p256::pkcs8::EncodePrivateKey;
    let secret = piauth::jose::es256::generate_secret();
    let point = secret.public_key().to_sec1_point(false);
    let jwk = json!({"kty": "EC", "crv": "P-256",
                     "x": URL_SAFE_NO_PAD.encode(point.x().unwrap()),
                     "y": URL_SAFE_NO_PAD.encode(point.y().unwrap())});
    let der = secret.to_pkcs8_der().unwrap();
    (EncodingKey::from_ec_der(der.as_bytes()), jwk)
}

fn assertion(key: &EncodingKey, alg: Algorithm, claims: &Value) -> String {
    encode(&Header::new(alg), claims, key).unwrap()
}

fn claims(s: &Server, id: &str, aud: &str, exp: u64, jti: &str) -> Value {
    let _ = s;
    json!({"iss": id, "sub": id, "aud": aud, "exp": exp, "iat": now(), "jti": jti})
}

/// Each request from its own loopback address: the failures this test makes on purpose must
/// not add up to the guard's limit for one device.
pub(crate) fn token_with(
    s: &Server,
    assertion: &str,
    path: &str,
    extra: &str,
) -> crate::util::Resp {
    use std::sync::atomic::{AtomicU8, Ordering};
    static NEXT: AtomicU8 = AtomicU8::new(10);
    let form = format!("client_assertion_type={TYPE}&client_assertion={assertion}{extra}");
    let source = format!("127.0.0.{}", NEXT.fetch_add(1, Ordering::Relaxed));
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
        form.len()
    );
    crate::util::raw_request_from(&s.addr, Some(&source), req.as_bytes())
}

#[test]
fn a_device_with_a_key_and_no_secret_gets_tokens_and_every_assertion_rule_holds() {
    let s = Server::start();
    let (key, jwk) = es256_key();
    let file = s.dir.path().join("sensor.jwk");
    std::fs::write(&file, jwk.to_string()).unwrap();
    let added = s.admin_json(&[
        "client",
        "add",
        "sensor",
        "--scope",
        "telemetry",
        "--jwk",
        file.to_str().unwrap(),
        "--json",
    ]);
    assert!(added.get("client_secret").is_none(), "{added}");
    assert_eq!(added["auth"], "private_key_jwt");
    let token_url = format!("{}/token", s.issuer());
    let cc = "&grant_type=client_credentials";

    let good = assertion(
        &key,
        Algorithm::ES256,
        &claims(&s, "sensor", &token_url, now() + 60, "j1"),
    );
    let r = token_with(&s, &good, "/token", cc);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let access = r.json()["access_token"].as_str().unwrap().to_string();
    let (_, at) = crate::util::jwt_parts(&access);
    assert_eq!(
        (at["sub"].as_str(), at["client_id"].as_str()),
        (Some("sensor"), Some("sensor"))
    );

    // The same assertion again is a replay, at any endpoint.
    let r = token_with(&s, &good, "/token", cc);
    assert_eq!((r.status, r.error().as_str()), (401, "invalid_client"));
    let r = token_with(&s, &good, "/revoke", "&token=x");
    assert_eq!((r.status, r.error().as_str()), (401, "invalid_client"));
    // Just after a start, an assertion made before it is refused: its jti, had it been used
    // before the restart, would be forgotten.
    let mut early = claims(&s, "sensor", &token_url, now() + 60, "j0");
    early["iat"] = json!(now() - 30);
    let r = token_with(&s, &assertion(&key, Algorithm::ES256, &early), "/token", cc);
    assert_eq!((r.status, r.error().as_str()), (401, "invalid_client"));
    // Each broken rule is refused.
    let cases = [
        (
            "expired",
            claims(&s, "sensor", &token_url, now() - 120, "j2"),
        ),
        (
            "too long",
            claims(&s, "sensor", &token_url, now() + 3600, "j3"),
        ),
        (
            "wrong aud",
            claims(&s, "sensor", "https://elsewhere/token", now() + 60, "j4"),
        ),
        (
            "no jti",
            json!({"iss": "sensor", "sub": "sensor", "aud": token_url, "exp": now() + 60}),
        ),
        (
            "iss not sub",
            json!({"iss": "other", "sub": "sensor", "aud": token_url, "exp": now() + 60, "jti": "j5"}),
        ),
    ];
    for (what, c) in cases {
        let r = token_with(&s, &assertion(&key, Algorithm::ES256, &c), "/token", cc);
        assert_eq!(
            (r.status, r.error().as_str()),
            (401, "invalid_client"),
            "{what}"
        );
    }
    // A key the server does not know, HMAC keyed with the public key, and alg none.
    let (other, _) = es256_key();
    let c = claims(&s, "sensor", &token_url, now() + 60, "j6");
    let unknown = assertion(&other, Algorithm::ES256, &c);
    let hmac = assertion(
        &EncodingKey::from_secret(jwk.to_string().as_bytes()),
        Algorithm::HS256,
        &c,
    );
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(c.to_string())
    );
    for (what, a) in [("unknown key", unknown), ("hmac", hmac), ("none", none)] {
        let r = token_with(&s, &a, "/token", cc);
        assert_eq!(
            (r.status, r.error().as_str()),
            (401, "invalid_client"),
            "{what}"
        );
    }
    // A secret is no way in for a client with keys.
    let r = s.post_basic(
        "/token",
        "sensor",
        "anything",
        "grant_type=client_credentials",
    );
    assert_eq!(r.status, 401);

    // Introspection and revocation take assertions too (aud: the token endpoint).
    let a = assertion(
        &key,
        Algorithm::ES256,
        &claims(&s, "sensor", &token_url, now() + 60, "j7"),
    );
    let r = token_with(&s, &a, "/introspect", &format!("&token={access}"));
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["active"], true);
    let a = assertion(
        &key,
        Algorithm::ES256,
        &claims(&s, "sensor", &token_url, now() + 60, "j8"),
    );
    assert_eq!(
        token_with(&s, &a, "/revoke", &format!("&token={access}")).status,
        200
    );

    let audit = s.cmd(&["audit"]);
    let audit = String::from_utf8_lossy(&audit.stdout);
    assert!(audit.contains("replayed_assertion"), "{audit}");
    assert!(
        audit.contains("lifetime") && audit.contains("audience"),
        "{audit}"
    );
    // The metadata says so.
    let meta = s.get("/.well-known/oauth-authorization-server").json();
    let methods = meta["token_endpoint_auth_methods_supported"].to_string();
    assert!(methods.contains("private_key_jwt"), "{methods}");
}

#[test]
fn an_ed25519_pem_key_registers_and_signs() {
    let s = Server::start();
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    let pair = ring::signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    use ring::signature::KeyPair;
    let mut spki = vec![
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    spki.extend_from_slice(pair.public_key().as_ref());
    let pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        STANDARD.encode(&spki)
    );
    let file = s.dir.path().join("tv.pem");
    std::fs::write(&file, pem).unwrap();
    let shown = s.admin_json(&[
        "client",
        "add",
        "tv",
        "--pem",
        file.to_str().unwrap(),
        "--json",
    ]);
    assert!(
        shown["keys"][0].as_str().unwrap().starts_with("EdDSA "),
        "{shown}"
    );
    let key = EncodingKey::from_ed_der(pkcs8.as_ref());
    let c = claims(&s, "tv", &s.issuer(), now() + 60, "e1");
    let r = token_with(
        &s,
        &assertion(&key, Algorithm::EdDSA, &c),
        "/token",
        "&grant_type=client_credentials",
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    // A private key file is refused at registration.
    let bad = s.dir.path().join("private.jwk");
    std::fs::write(
        &bad,
        r#"{"kty":"OKP","crv":"Ed25519","x":"AAAA","d":"BBBB"}"#,
    )
    .unwrap();
    let out = s.cmd(&["client", "add", "leaky", "--jwk", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("private"));
}

const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

#[test]
fn the_jwt_bearer_grant_takes_a_trusted_issuers_assertion_for_the_subjects_it_may_name() {
    let s = Server::start();
    // The hub that vouches for the house's sensors, and a client that presents its assertions.
    let (hub_key, hub_jwk) = es256_key();
    let file = s.dir.path().join("hub.jwk");
    std::fs::write(&file, hub_jwk.to_string()).unwrap();
    let f = file.to_str().unwrap();
    s.admin_json(&[
        "issuer",
        "add",
        "https://hub.home",
        "--jwk",
        f,
        "--subject",
        "sensor-*",
        "--scope",
        "telemetry",
        "--scope",
        "admin",
        "--json",
    ]);
    let listed = s.admin_json(&["issuer", "list", "--json"]);
    assert_eq!(listed[0]["subjects"], json!(["sensor-*"]));
    let secret = s.add_client(
        "gateway",
        &["urn:ietf:params:oauth:grant-type:jwt-bearer"],
        &["telemetry"],
    );
    let token_url = format!("{}/token", s.issuer());
    let grant = |assertion: &str, scope: &str| {
        let form = format!("grant_type={JWT_BEARER}&assertion={assertion}{scope}");
        s.post_basic("/token", "gateway", &secret, &form)
    };
    let hub = |sub: &str, jti: &str, aud: &str, exp: u64| {
        let c = json!({"iss": "https://hub.home", "sub": sub, "aud": aud, "exp": exp, "jti": jti,
                       "iat": now()});
        assertion(&hub_key, Algorithm::ES256, &c)
    };

    let a = hub("sensor-7", "h1", &token_url, now() + 60);
    let r = grant(&a, "");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let body = r.json();
    assert!(
        body.get("refresh_token").is_none(),
        "RFC 7523 §3.1: no refresh token"
    );
    let (_, at) = crate::util::jwt_parts(body["access_token"].as_str().unwrap());
    assert_eq!(at["sub"], "sensor-7");
    assert_eq!(at["client_id"], "gateway");
    // The client's scope and the issuer's intersected: admin is the issuer's, not the client's.
    assert_eq!(at["scope"], "telemetry");

    // Each rule, with the check named in the error and never the key.
    let (stranger, _) = es256_key();
    let other = json!({"iss": "https://hub.home", "sub": "sensor-7", "aud": token_url,
                       "exp": now() + 60, "jti": "h9", "iat": now()});
    let cases = [
        ("replayed", a.clone(), "used before"),
        (
            "subject",
            hub("camera-1", "h2", &token_url, now() + 60),
            "subject",
        ),
        (
            "audience",
            hub("sensor-7", "h3", "https://elsewhere", now() + 60),
            "aud",
        ),
        (
            "expired",
            hub("sensor-7", "h4", &token_url, now() - 120),
            "expired",
        ),
        (
            "key",
            assertion(&stranger, Algorithm::ES256, &other),
            "signature",
        ),
        (
            "issuer",
            assertion(
                &hub_key,
                Algorithm::ES256,
                &json!({"iss": "https://evil", "sub": "sensor-7", "aud": token_url, "exp": now() + 60, "jti": "h5"}),
            ),
            "not trusted",
        ),
    ];
    for (what, a, says) in cases {
        let r = grant(&a, "");
        assert_eq!(
            (r.status, r.error().as_str()),
            (400, "invalid_grant"),
            "{what}"
        );
        let why = r.json()["error_description"].as_str().unwrap().to_string();
        assert!(why.contains(says), "{what}: {why}");
    }
    // Each refusal is an audit line that names the check (and never the assertion).
    for outcome in [
        "replayed",
        "subject",
        "audience",
        "lifetime",
        "signature",
        "untrusted_issuer",
    ] {
        s.wait_for_log(
            &format!("audit action=token outcome={outcome} client=gateway grant={JWT_BEARER}"),
            1,
        );
    }
    assert!(
        !s.logs().contains(&a[a.len() - 20..]),
        "no assertion in the log"
    );
    // A pattern does not reach a user's or a client's own name.
    s.add_user("sensor-9", "pw-of-sensor-9", &["telemetry"]);
    s.add_client("sensor-8", &["client_credentials"], &["telemetry"]);
    for (sub, jti) in [("sensor-9", "h10"), ("sensor-8", "h11")] {
        let r = grant(&hub(sub, jti, &token_url, now() + 60), "");
        assert_eq!(r.error(), "invalid_grant", "{sub}");
        assert!(r.json()["error_description"]
            .as_str()
            .unwrap()
            .contains("exact name"));
    }
    let r = grant(
        &hub("sensor-7", "h6", &token_url, now() + 60),
        "&scope=admin",
    );
    assert_eq!(r.error(), "invalid_scope");
    // A client not allowed the grant cannot use it, whatever it presents.
    let other_secret = s.add_client("plain", &["client_credentials"], &["telemetry"]);
    let form = format!(
        "grant_type={JWT_BEARER}&assertion={}",
        hub("sensor-7", "h7", &token_url, now() + 60)
    );
    let r = s.post_basic("/token", "plain", &other_secret, &form);
    assert_eq!(r.error(), "unauthorized_client");
    // Removed, the issuer is trusted no more.
    assert!(s
        .cmd(&["issuer", "remove", "https://hub.home"])
        .status
        .success());
    let r = grant(&hub("sensor-7", "h8", &token_url, now() + 60), "");
    assert_eq!(r.error(), "invalid_grant");
    let meta = s.get("/.well-known/oauth-authorization-server").json();
    assert!(meta["grant_types_supported"]
        .to_string()
        .contains(JWT_BEARER));
}

#[test]
fn issuer_add_refuses_bad_input_and_changes_nothing() {
    let s = Server::start();
    let (_, jwk) = es256_key();
    let file = s.dir.path().join("hub.jwk");
    std::fs::write(&file, jwk.to_string()).unwrap();
    let f = file.to_str().unwrap();
    let missing = s.dir.path().join("none.jwk");
    let cases: [&[&str]; 4] = [
        &["issuer", "add", "https://hub", "--subject", "*"],
        &[
            "issuer",
            "add",
            "https://hub",
            "--jwk",
            f,
            "--subject",
            "a b",
        ],
        &["issuer", "add", "", "--jwk", f, "--subject", "*"],
        &[
            "issuer",
            "add",
            "https://hub",
            "--jwk",
            missing.to_str().unwrap(),
            "--subject",
            "*",
        ],
    ];
    for args in cases {
        let out = s.cmd(args);
        assert!(!out.status.success(), "{args:?} was accepted");
    }
    assert_eq!(s.admin_json(&["issuer", "list", "--json"]), json!([]));
    let ok = ["issuer", "add", "https://hub", "--jwk", f, "--subject", "*"];
    assert!(s.cmd(&ok).status.success());
    assert!(!s.cmd(&ok).status.success(), "added twice");
}
