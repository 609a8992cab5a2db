//! HTTPS through the real binary: the certificate piauth makes, its fingerprint, the issuer's
//! scheme, plain HTTP's warning, and handshakes that never finish.

use crate::util::{tls_request, Server};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn fingerprint_of(der: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    let hex: Vec<String> = digest.as_ref().iter().map(|b| format!("{b:02X}")).collect();
    hex.join(":")
}

#[test]
fn https_with_a_certificate_made_once_whose_fingerprint_the_cli_prints() {
    let mut s = Server::start_with(&["--tls", "on"]);
    assert!(s.https, "{}", s.logs());
    let secret = s.add_client("sensor", &["client_credentials"], &["read"]);

    // A device that trusts the file piauth made gets a token, and the metadata says https.
    let meta = s.get("/.well-known/oauth-authorization-server").json();
    assert_eq!(meta["issuer"], format!("https://{}", s.addr));
    assert!(meta["token_endpoint"]
        .as_str()
        .unwrap()
        .starts_with("https://"));
    let token = s.token("sensor", &secret, "grant_type=client_credentials");
    let (_, claims) = crate::util::jwt_parts(token["access_token"].as_str().unwrap());
    assert_eq!(claims["iss"], format!("https://{}", s.addr));

    // The certificate the server shows is the one `tls fingerprint` names, and the log too.
    let cafile = s.data_dir().join("tls.pem");
    let req = b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let (resp, shown) = tls_request(&s.addr, &cafile, "localhost", req);
    assert_eq!(resp.status, 200);
    let out = s.cmd(&["tls", "fingerprint"]);
    assert!(out.status.success());
    let printed = String::from_utf8(out.stdout).unwrap();
    assert_eq!(printed.trim(), fingerprint_of(&shown));
    assert!(s
        .logs()
        .contains(&format!("fingerprint {}", printed.trim())));
    // `tls cert` gives what a device trusts: enough for a verified request, and no key.
    let out = s.cmd(&["tls", "cert"]);
    assert!(out.status.success());
    let cert = s.dir.path().join("piauth.crt");
    std::fs::write(&cert, &out.stdout).unwrap();
    assert!(!String::from_utf8_lossy(&out.stdout).contains("PRIVATE"));
    let (resp, _) = tls_request(&s.addr, &cert, "localhost", req);
    assert_eq!(resp.status, 200);

    // It covers the names a device on the LAN would use, and survives a restart.
    let (resp, _) = tls_request(&s.addr, &cafile, "127.0.0.1", req);
    assert_eq!(resp.status, 200);
    s.restart();
    let (_, again) = tls_request(&s.addr, &cafile, "localhost", req);
    assert_eq!(again, shown, "a restart made a new certificate");
    // The private key beside it is the server's alone.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&cafile).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn tls_commands_make_nothing_and_say_why_before_the_server_has_made_a_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let tls = |what: &str| {
        std::process::Command::new(crate::util::bin())
            .arg("--data-dir")
            .arg(&data)
            .args(["tls", what])
            .output()
            .unwrap()
    };
    for what in ["fingerprint", "cert"] {
        let out = tls(what);
        assert_eq!(out.status.code(), Some(1), "{out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("no certificate yet"), "{err}");
    }
    assert!(!data.join("tls.pem").exists());
    // Once the server has made it, both read the one it serves.
    let s = Server::start_in(dir, &["--tls", "on"]);
    let out = tls("fingerprint");
    assert!(out.status.success());
    let printed = String::from_utf8(out.stdout).unwrap();
    assert!(s
        .logs()
        .contains(&format!("fingerprint {}", printed.trim())));
}

#[test]
fn an_operators_certificate_is_served_and_a_mismatched_key_refused() {
    // Two certificates made by piauth stand in for the operator's own.
    let certs = tempfile::tempdir().unwrap();
    let mut made = Vec::new();
    for name in ["a.pem", "b.pem"] {
        let mut s = Server::start_with(&["--tls", "on"]);
        s.stop();
        let to = certs.path().join(name);
        std::fs::copy(s.data_dir().join("tls.pem"), &to).unwrap();
        made.push(to);
    }
    let (a, b) = (&made[0], &made[1]);
    let a_arg = a.display().to_string();
    let s = Server::start_with(&["--tls", "on", "--tls-cert", &a_arg, "--tls-key", &a_arg]);
    let req = b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let (resp, shown) = tls_request(&s.addr, a, "localhost", req);
    assert_eq!(resp.status, 200);
    assert!(s
        .logs()
        .contains(&format!("fingerprint {}", fingerprint_of(&shown))));
    assert!(!s.data_dir().join("tls.pem").exists(), "made one anyway");

    // Certificate a with key b: a clear error and a non-zero exit, not a server that
    // cannot finish a handshake.
    let out = std::process::Command::new(crate::util::bin())
        .arg("--data-dir")
        .arg(certs.path().join("c"))
        .args(["serve", "--listen", "127.0.0.1:0", "--tls", "on"])
        .args(["--tls-cert", &a_arg, "--tls-key", &b.display().to_string()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("TLS"), "{err}");
    // One without the other is a configuration error.
    let out = std::process::Command::new(crate::util::bin())
        .arg("--data-dir")
        .arg(certs.path().join("c"))
        .args(["serve", "--listen", "127.0.0.1:0", "--tls-cert", &a_arg])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78), "{out:?}");
}

#[test]
fn plain_http_off_loopback_is_warned_about_and_auto_serves_https_there() {
    let s = Server::start_listening("0.0.0.0:0", &["--tls", "off"]);
    assert!(!s.https);
    assert!(
        s.logs().contains("serving plain HTTP on 0.0.0.0"),
        "{}",
        s.logs()
    );
    assert!(s.logs().contains(" WARN "), "{}", s.logs());
    let s = Server::start_listening("0.0.0.0:0", &[]);
    assert!(s.https, "{}", s.logs());
    assert!(!s.logs().contains("serving plain HTTP"));
}

#[test]
fn a_handshake_that_never_finishes_is_closed_and_holds_no_one_up() {
    let s = Server::start_with(&["--tls", "on", "--head-timeout", "1"]);
    let cafile = s.data_dir().join("tls.pem");
    // Silent connections, and one that sends the start of a ClientHello and no more.
    let mut stalled: Vec<TcpStream> = (0..20)
        .map(|_| TcpStream::connect(&s.addr).unwrap())
        .collect();
    stalled[0]
        .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
        .unwrap();
    // Others are served meanwhile.
    let req = b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let (resp, _) = tls_request(&s.addr, &cafile, "localhost", req);
    assert_eq!(resp.status, 200);
    // Each stalled one is closed once head_timeout has passed: a read ends instead of
    // waiting for the test's own bound.
    let started = Instant::now();
    for conn in &mut stalled {
        conn.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut buf = [0u8; 64];
        loop {
            match conn.read(&mut buf) {
                Ok(0) | Err(_) if started.elapsed() < Duration::from_secs(20) => break,
                Ok(0) | Err(_) => panic!("a stalled handshake was kept open"),
                // An alert before the close is fine.
                Ok(_) => continue,
            }
        }
    }
    let (resp, _) = tls_request(&s.addr, &cafile, "localhost", req);
    assert_eq!(resp.status, 200);
}

/// Three certificates made by piauth, standing in for an operator's renewals.
fn made_certificates(dir: &std::path::Path, n: usize) -> Vec<std::path::PathBuf> {
    (0..n)
        .map(|i| {
            let mut s = Server::start_with(&["--tls", "on"]);
            s.stop();
            let to = dir.join(format!("made-{i}.pem"));
            std::fs::copy(s.data_dir().join("tls.pem"), &to).unwrap();
            to
        })
        .collect()
}

/// Puts `from` at `to` the way certbot and lego renew: a new file renamed over the old.
fn renew(from: &std::path::Path, to: &std::path::Path) {
    let tmp = to.with_extension("new");
    std::fs::copy(from, &tmp).unwrap();
    std::fs::rename(&tmp, to).unwrap();
}

#[test]
fn a_renewed_certificate_is_served_without_a_restart_and_a_bad_pair_keeps_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    let made = made_certificates(dir.path(), 3);
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    renew(&made[0], &cert);
    renew(&made[0], &key);
    let (c, k) = (cert.display().to_string(), key.display().to_string());
    let s = Server::start_with(&["--tls", "on", "--tls-cert", &c, "--tls-key", &k]);
    let req = b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let (_, first) = tls_request(&s.addr, &made[0], "localhost", req);

    // `/certificate` gives apps what to trust: the certificate served, its fingerprint
    // beside it, and never the key.
    let get_cert = b"GET /certificate HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let (resp, _) = tls_request(&s.addr, &made[0], "localhost", get_cert);
    assert_eq!(resp.status, 200);
    let pem = String::from_utf8(resp.body.clone()).unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
    assert!(!pem.contains("PRIVATE"));
    assert_eq!(
        resp.header("piauth-certificate-sha256"),
        Some(fingerprint_of(&first).as_str())
    );
    std::fs::write(dir.path().join("given.pem"), &pem).unwrap();
    let (resp, _) = tls_request(&s.addr, &dir.path().join("given.pem"), "localhost", req);
    assert_eq!(
        resp.status, 200,
        "the certificate given does not verify the server"
    );

    // A connection open across the renewal goes on with the certificate it began with.
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(crate::util::tls_client(&made[0]), name).unwrap();
    let tcp = TcpStream::connect(&s.addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut open = rustls::StreamOwned::new(conn, tcp);
    while open.conn.is_handshaking() {
        open.conn.complete_io(&mut open.sock).unwrap();
    }

    // SIGHUP (systemctl reload) takes a renewed pair at once.
    renew(&made[1], &cert);
    renew(&made[1], &key);
    let hup = std::process::Command::new("kill")
        .args(["-HUP", &s.pid().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    s.wait_for_log("TLS certificate reloaded", 1);
    let (resp, second) = tls_request(&s.addr, &made[1], "localhost", req);
    assert_eq!(resp.status, 200);
    assert_ne!(second, first);
    assert!(s.logs().contains(&format!(
        "reloaded; SHA-256 fingerprint {}",
        fingerprint_of(&second)
    )));
    open.write_all(req).unwrap();
    let mut buf = Vec::new();
    let _ = open.read_to_end(&mut buf);
    assert!(
        buf.starts_with(b"HTTP/1.1 200"),
        "the open connection was dropped"
    );

    // A new certificate whose key has not come yet: the old pair stays in service, and the
    // log and /health say why; noticed without a signal, from the files alone.
    renew(&made[2], &cert);
    s.wait_for_log("the new TLS certificate is not taken", 1);
    let (resp, still) = tls_request(&s.addr, &made[1], "localhost", req);
    assert_eq!(still, second);
    let health: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
    let why = health["tls"]["reload_error"].as_str().unwrap_or_default();
    assert!(why.contains("refused"), "{health}");
    assert_eq!(health["tls"]["fingerprint"], fingerprint_of(&second));

    // Its key arrives: the pair is taken, and the error is gone.
    renew(&made[2], &key);
    s.wait_for_log("TLS certificate reloaded", 2);
    let (resp, third) = tls_request(&s.addr, &made[2], "localhost", req);
    assert_ne!(third, second);
    let health: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
    assert!(health["tls"]["reload_error"].is_null(), "{health}");
}

#[test]
fn plain_http_has_no_certificate_to_give() {
    let s = Server::start();
    let resp = s.get("/certificate");
    assert_eq!(resp.status, 404);
    assert!(resp.error().contains("not_found"), "{}", resp.error());
}
