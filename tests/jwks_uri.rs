//! Keys published at a `jwks_uri`, through the real binary: a device on the LAN serves its
//! JWKS over HTTPS (here, a small server in this process that counts its fetches), piauth
//! fetches it when needed, keeps it, fetches it again for a new key at most once a minute,
//! and refuses what it cannot fetch quickly.

use crate::assertions::{es256_key, now, token_with};
use crate::util::Server;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// Answer with the document.
    Serve,
    /// Take the connection and say nothing until piauth gives up.
    Stall,
}

/// An HTTPS server that publishes a JWKS at every path, as a device would.
struct JwksHost {
    url: String,
    ca: std::path::PathBuf,
    body: Arc<Mutex<String>>,
    mode: Arc<Mutex<Mode>>,
    fetches: Arc<AtomicUsize>,
}

impl JwksHost {
    fn start(dir: &std::path::Path, name: &str) -> JwksHost {
        let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
        let ca = dir.join(format!("{name}.pem"));
        std::fs::write(&ca, made.cert.pem()).unwrap();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(made.signing_key.serialize_der().into());
        let config = Arc::new(
            rustls::ServerConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![made.cert.der().clone()], key)
            .unwrap(),
        );
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("https://{}/jwks.json", listener.local_addr().unwrap());
        let host = JwksHost {
            url,
            ca,
            body: Arc::new(Mutex::new(String::new())),
            mode: Arc::new(Mutex::new(Mode::Serve)),
            fetches: Arc::new(AtomicUsize::new(0)),
        };
        let (body, mode, fetches) = (host.body.clone(), host.mode.clone(), host.fetches.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                fetches.fetch_add(1, Ordering::SeqCst);
                let (config, body, mode) = (config.clone(), body.clone(), *mode.lock().unwrap());
                std::thread::spawn(move || {
                    serve(conn, config, &body.lock().unwrap().clone(), mode)
                });
            }
        });
        host
    }

    fn publish(&self, keys: &[&Value]) {
        *self.body.lock().unwrap() = json!({ "keys": keys }).to_string();
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

fn serve(mut conn: TcpStream, config: Arc<rustls::ServerConfig>, body: &str, mode: Mode) {
    if mode == Mode::Stall {
        // Until piauth closes the connection.
        let _ = std::io::copy(&mut conn, &mut std::io::sink());
        return;
    }
    let tls = rustls::ServerConnection::new(config).unwrap();
    let mut stream = rustls::StreamOwned::new(tls, conn);
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let _ = write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    stream.conn.send_close_notify();
    let _ = stream.flush();
}

/// A P-256 key with a kid: its signer and its public JWK.
fn key(kid: &str) -> (EncodingKey, Value) {
    let (signer, mut jwk) = es256_key();
    jwk["kid"] = json!(kid);
    (signer, jwk)
}

fn signed(signer: &EncodingKey, kid: &str, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(kid.to_string());
    encode(&header, claims, signer).unwrap()
}

fn client_assertion(s: &Server, id: &str, signer: &EncodingKey, kid: &str) -> String {
    use std::sync::atomic::AtomicU64;
    static JTI: AtomicU64 = AtomicU64::new(0);
    let claims = json!({"iss": id, "sub": id, "aud": format!("{}/token", s.issuer()),
                        "exp": now() + 60, "iat": now(),
                        "jti": format!("j{}", JTI.fetch_add(1, Ordering::Relaxed))});
    signed(signer, kid, &claims)
}

fn add_keyed_client(s: &Server, id: &str, url: &str, ca: &std::path::Path) -> Value {
    s.admin_json(&[
        "client",
        "add",
        id,
        "--jwks-uri",
        url,
        "--jwks-ca",
        ca.to_str().unwrap(),
        "--json",
    ])
}

const CC: &str = "&grant_type=client_credentials";

#[test]
fn a_device_that_publishes_its_keys_gets_tokens_and_rotates_them_without_re_registering() {
    let s = Server::start();
    let host = JwksHost::start(s.dir.path(), "cam");
    let (k1, jwk1) = key("k1");
    host.publish(&[&jwk1]);
    let added = add_keyed_client(&s, "cam", &host.url, &host.ca);
    assert_eq!(added["auth"], "private_key_jwt");
    assert_eq!(added["jwks_uri"], host.url.as_str());
    assert!(added.get("client_secret").is_none(), "{added}");
    assert_eq!(
        host.fetches(),
        0,
        "fetched when first needed, not at registration"
    );

    for _ in 0..2 {
        let r = token_with(&s, &client_assertion(&s, "cam", &k1, "k1"), "/token", CC);
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let (_, at) = crate::util::jwt_parts(r.json()["access_token"].as_str().unwrap());
        assert_eq!(at["client_id"], "cam");
    }
    assert_eq!(host.fetches(), 1, "the second token used the cached keys");

    // The device rotates: its new key is fetched when an assertion names it.
    let (k2, jwk2) = key("k2");
    host.publish(&[&jwk2]);
    let r = token_with(&s, &client_assertion(&s, "cam", &k2, "k2"), "/token", CC);
    assert_eq!(r.status, 200, "{}", s.logs());
    assert_eq!(host.fetches(), 2);
    // The retired key is gone with the document it left.
    let r = token_with(&s, &client_assertion(&s, "cam", &k1, "k1"), "/token", CC);
    assert_eq!((r.status, r.error().as_str()), (401, "invalid_client"));
    // Made-up kids make no more fetches within the minute.
    for i in 0..5 {
        let (k, _) = key("k3");
        let r = token_with(
            &s,
            &client_assertion(&s, "cam", &k, &format!("k{i}x")),
            "/token",
            CC,
        );
        assert_eq!((r.status, r.error().as_str()), (401, "invalid_client"));
    }
    assert_eq!(
        host.fetches(),
        2,
        "at most one fetch a minute for unknown kids"
    );
    let shown = s.admin_json(&["client", "show", "cam", "--json"]);
    assert_eq!(shown["jwks_uri"], host.url.as_str());
    assert!(
        !s.logs().contains(&k1_private_marker(&jwk1)),
        "no key material in the log"
    );

    // An issuer that publishes its keys: the JWT bearer grant takes its assertions.
    let hub = JwksHost::start(s.dir.path(), "hub");
    let (hk, hjwk) = key("hub-1");
    hub.publish(&[&hjwk]);
    s.admin_json(&[
        "issuer",
        "add",
        "https://hub.home",
        "--jwks-uri",
        &hub.url,
        "--jwks-ca",
        hub.ca.to_str().unwrap(),
        "--subject",
        "sensor-*",
        "--scope",
        "telemetry",
        "--json",
    ]);
    let listed = s.admin_json(&["issuer", "list", "--json"]);
    assert_eq!(listed[0]["jwks_uri"], hub.url.as_str());
    let secret = s.add_client(
        "gateway",
        &["urn:ietf:params:oauth:grant-type:jwt-bearer"],
        &["telemetry"],
    );
    let a = signed(
        &hk,
        "hub-1",
        &json!({"iss": "https://hub.home", "sub": "sensor-7", "aud": s.issuer(),
                "exp": now() + 60, "iat": now(), "jti": "h1"}),
    );
    let form = format!("grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion={a}");
    let r = s.post_basic("/token", "gateway", &secret, &form);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let (_, at) = crate::util::jwt_parts(r.json()["access_token"].as_str().unwrap());
    assert_eq!(at["sub"], "sensor-7");
    assert_eq!(hub.fetches(), 1);
}

/// A string that would only be in the log if a JWK were written there.
fn k1_private_marker(jwk: &Value) -> String {
    jwk["x"].as_str().unwrap().to_string()
}

#[test]
fn keys_that_cannot_be_fetched_are_refused_quickly_and_change_nothing() {
    let s = Server::start();
    let (k, jwk) = key("k1");

    // A device that takes the connection and never answers: refused after the fetch's
    // timeout, while other requests are served, and not tried again for ten seconds.
    let stalled = JwksHost::start(s.dir.path(), "stalled");
    stalled.publish(&[&jwk]);
    *stalled.mode.lock().unwrap() = Mode::Stall;
    add_keyed_client(&s, "stalled", &stalled.url, &stalled.ca);
    let started = std::time::Instant::now();
    let waiting = {
        let a = client_assertion(&s, "stalled", &k, "k1");
        let addr = s.addr.clone();
        let req = token_request(&a);
        std::thread::spawn(move || crate::util::raw_request_from(&addr, Some("127.0.0.61"), &req))
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while stalled.fetches() == 0 {
        assert!(std::time::Instant::now() < deadline, "never fetched");
        std::thread::yield_now();
    }
    assert_eq!(s.get("/health").status, 200, "served while a fetch waits");
    let r = waiting.join().unwrap();
    assert_eq!((r.status, r.error().as_str()), (401, "invalid_client"));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(15),
        "the fetch is bounded"
    );
    s.wait_for_log("no answer within 5 s", 1);
    let r = token_with(&s, &client_assertion(&s, "stalled", &k, "k1"), "/token", CC);
    assert_eq!((r.status, r.error().as_str()), (401, "invalid_client"));
    assert_eq!(stalled.fetches(), 1, "not fetched again at once");

    // A document over 64 KiB.
    let huge = JwksHost::start(s.dir.path(), "huge");
    *huge.body.lock().unwrap() = format!(r#"{{"keys":[{jwk}],"pad":"{}"}}"#, "x".repeat(70 * 1024));
    add_keyed_client(&s, "huge", &huge.url, &huge.ca);
    let r = token_with(&s, &client_assertion(&s, "huge", &k, "k1"), "/token", CC);
    assert_eq!((r.status, r.error().as_str()), (401, "invalid_client"));
    s.wait_for_log("length limit exceeded", 1);

    // A certificate the registration does not trust.
    let other = JwksHost::start(s.dir.path(), "other");
    other.publish(&[&jwk]);
    add_keyed_client(&s, "untrusted", &other.url, &stalled.ca);
    let r = token_with(
        &s,
        &client_assertion(&s, "untrusted", &k, "k1"),
        "/token",
        CC,
    );
    assert_eq!((r.status, r.error().as_str()), (401, "invalid_client"));
    s.wait_for_log("TLS: invalid peer certificate", 1);
    assert_eq!(s.get("/health").status, 200);

    // Registration refuses what could never be fetched safely, and changes nothing.
    let jwk_file = s.dir.path().join("k.jwk");
    std::fs::write(&jwk_file, jwk.to_string()).unwrap();
    let not_a_cert = jwk_file.to_str().unwrap();
    let http = stalled.url.replace("https", "http");
    let refused: [&[&str]; 4] = [
        &["client", "add", "x1", "--jwks-uri", &http],
        &[
            "client",
            "add",
            "x2",
            "--jwks-uri",
            &stalled.url,
            "--jwk",
            not_a_cert,
        ],
        &[
            "client",
            "add",
            "x3",
            "--jwks-uri",
            &stalled.url,
            "--jwks-ca",
            not_a_cert,
        ],
        &[
            "issuer",
            "add",
            "https://x4",
            "--jwks-uri",
            "https://u:p@x/jwks",
            "--subject",
            "*",
        ],
    ];
    for args in refused {
        let out = s.cmd(args);
        assert!(!out.status.success(), "{args:?} was accepted");
    }
    let clients = s.admin_json(&["client", "list", "--json"]);
    assert_eq!(clients.as_array().unwrap().len(), 3, "{clients}");
    assert_eq!(s.admin_json(&["issuer", "list", "--json"]), json!([]));
}

fn token_request(assertion: &str) -> Vec<u8> {
    let form = format!(
        "client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer\
         &client_assertion={assertion}{CC}"
    );
    format!(
        "POST /token HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
        form.len()
    )
    .into_bytes()
}
