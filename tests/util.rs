//! Test harness: a real `piauth serve` on a loopback port with its own data directory, a
//! raw HTTP/1.1 client (so that tests can send malformed requests), and admin commands run
//! through the real binary.

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_piauth"))
}

/// Config that keeps Argon2 cheap so the suite is fast; the cost itself is not under test.
const TEST_CONFIG: &str = "argon2_memory_kib = 1024\nargon2_iterations = 1\nleeway = 0\n";

/// A running server.
pub struct Server {
    child: Option<Child>,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// It serves HTTPS (with the certificate it made in its data directory).
    pub https: bool,
    /// Keeps the temporary directory alive.
    pub dir: tempfile::TempDir,
    logs: Arc<(Mutex<String>, std::sync::Condvar)>,
    extra: Vec<String>,
    env: Vec<(String, String)>,
    /// A command the server runs under (the binary and its arguments follow it).
    wrapper: Vec<String>,
    /// Every secret this server handed out or was given through the helpers: client
    /// secrets, passwords, tokens. None may appear in its log (checked when it is dropped).
    secrets: Mutex<Vec<String>>,
}

/// An HTTP response.
#[derive(Debug)]
pub struct Resp {
    /// Status code.
    pub status: u16,
    /// Headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

impl Resp {
    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
    /// A header.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
    /// The `error` field of a JSON error.
    pub fn error(&self) -> String {
        self.json()["error"].as_str().unwrap_or("").to_string()
    }
}

impl Server {
    /// Starts a server with default settings.
    pub fn start() -> Server {
        Server::start_with(&[])
    }

    /// Starts a server with extra `serve` flags.
    pub fn start_with(extra: &[&str]) -> Server {
        Server::start_configured("", extra)
    }

    /// Starts a server with extra config-file lines and `serve` flags.
    pub fn start_configured(config: &str, extra: &[&str]) -> Server {
        Server::start_full(config, extra, &[])
    }

    /// Starts a server with config lines, `serve` flags and environment variables.
    pub fn start_full(config: &str, extra: &[&str], env: &[(&str, &str)]) -> Server {
        let mut s = Server::new(tempfile::tempdir().unwrap(), config, extra, env);
        s.launch("127.0.0.1:0");
        s
    }

    /// Starts a server with its data in `dir`/data (which a test may have prepared).
    pub fn start_in(dir: tempfile::TempDir, extra: &[&str]) -> Server {
        let mut s = Server::new(dir, "", extra, &[]);
        s.launch("127.0.0.1:0");
        s
    }

    /// Starts a server listening on `listen` rather than a loopback port.
    pub fn start_listening(listen: &str, extra: &[&str]) -> Server {
        let mut s = Server::new(tempfile::tempdir().unwrap(), "", extra, &[]);
        s.launch(listen);
        s
    }

    fn new(dir: tempfile::TempDir, config: &str, extra: &[&str], env: &[(&str, &str)]) -> Server {
        std::fs::write(
            dir.path().join("piauth.toml"),
            format!("{TEST_CONFIG}{config}\n"),
        )
        .unwrap();
        Server {
            child: None,
            addr: String::new(),
            https: false,
            dir,
            logs: Arc::new((Mutex::new(String::new()), std::sync::Condvar::new())),
            extra: extra.iter().map(|s| s.to_string()).collect(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            wrapper: Vec::new(),
            secrets: Mutex::new(Vec::new()),
        }
    }

    /// Starts a server under `wrapper`, e.g. `["sh", "-c", "ulimit -n 64 && exec \"$0\" \"$@\""]`.
    pub fn start_wrapped(wrapper: &[&str]) -> Server {
        let mut s = Server::start();
        s.stop();
        s.wrapper = wrapper.iter().map(|w| w.to_string()).collect();
        s.restart();
        s
    }

    /// Waits up to `timeout` for the server to exit on its own; its status, if it did.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take().expect("server running");
        let pid = child.id();
        let (tx, exited) = mpsc::channel();
        std::thread::spawn(move || tx.send(child.wait().unwrap()));
        let status = exited.recv_timeout(timeout).ok();
        if status.is_none() {
            // Still running: end it, as dropping the server would have.
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
        status
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server running").id()
    }

    /// The server's resident memory, KiB (VmRSS).
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS")
    }

    /// Whether the server process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().unwrap().is_none())
    }

    /// The data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn base_args(&self) -> Vec<String> {
        vec![
            "--config".into(),
            self.dir.path().join("piauth.toml").display().to_string(),
            "--data-dir".into(),
            self.data_dir().display().to_string(),
        ]
    }

    fn launch(&mut self, listen: &str) {
        let mut cmd = match self.wrapper.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(bin());
                c
            }
            None => Command::new(bin()),
        };
        cmd.args(self.base_args())
            .args(["serve", "--listen", listen])
            .args(&self.extra)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("start piauth");
        let stderr = child.stderr.take().unwrap();
        let logs = self.logs.clone();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("listening on ").nth(1) {
                    let url = rest.split_whitespace().next().unwrap_or("").to_string();
                    let _ = tx.send(url);
                }
                let (text, grew) = &*logs;
                let mut l = text.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
                grew.notify_all();
            }
        });
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(url) => {
                let (scheme, addr) = url.split_once("://").expect("a URL");
                self.https = scheme == "https";
                self.addr = addr.to_string();
            }
            Err(_) => {
                let _ = child.kill();
                panic!("server did not start; log:\n{}", self.logs());
            }
        }
        self.child = Some(child);
    }

    /// Waits until the RS256 key of ID tokens is ready (made on a thread after start).
    pub fn wait_id_key(&self) {
        self.wait_for_log("ID tokens: RS256 key", 1);
    }

    /// Everything the server logged so far.
    pub fn logs(&self) -> String {
        self.logs.0.lock().unwrap().clone()
    }

    /// Waits until the log holds `needle` at least `count` times (a line the server
    /// writes once it has done what the test waits for); the log then.
    pub fn wait_for_log(&self, needle: &str, count: usize) -> String {
        let (text, grew) = &*self.logs;
        let (l, timeout) = grew
            .wait_timeout_while(text.lock().unwrap(), Duration::from_secs(30), |l| {
                l.matches(needle).count() < count
            })
            .unwrap();
        assert!(
            !timeout.timed_out(),
            "waited 30 s for {count} x {needle:?}; log:\n{}",
            *l
        );
        l.clone()
    }

    /// Stops the server with SIGTERM and waits for it; returns its exit status.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("server running");
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        child.wait().unwrap()
    }

    /// Ends the server at once with SIGKILL, as a power cut would, and reaps it.
    pub fn kill9(&mut self) {
        let mut child = self.child.take().expect("server running");
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Starts the server again on the same port and data directory.
    pub fn restart(&mut self) {
        if self.child.is_some() {
            self.stop();
        }
        let addr = self.addr.clone();
        self.launch(&addr);
    }

    /// Restarts with other `serve` flags.
    pub fn restart_with(&mut self, extra: &[&str]) {
        if self.child.is_some() {
            self.stop();
        }
        self.extra = extra.iter().map(|s| s.to_string()).collect();
        let addr = self.addr.clone();
        self.launch(&addr);
    }

    /// Runs `piauth <args>` against this server's data directory.
    pub fn cmd(&self, args: &[&str]) -> Output {
        self.cmd_stdin(args, "")
    }

    /// Runs `piauth <args>` with `input` on standard input.
    pub fn cmd_stdin(&self, args: &[&str], input: &str) -> Output {
        let mut child = Command::new(bin())
            .args(self.base_args())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    /// Runs an admin command that must succeed and print JSON.
    pub fn admin_json(&self, args: &[&str]) -> Value {
        let out = self.cmd(args);
        assert!(
            out.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Registers a client; returns its secret.
    pub fn add_client(&self, id: &str, grants: &[&str], scopes: &[&str]) -> String {
        let mut args = vec!["client", "add", id, "--json"];
        for g in grants {
            args.extend(["--grant", g]);
        }
        for s in scopes {
            args.extend(["--scope", s]);
        }
        let v = self.admin_json(&args);
        let secret = v["client_secret"].as_str().unwrap().to_string();
        self.remember_secret(&secret);
        secret
    }

    /// Adds a user.
    pub fn add_user(&self, name: &str, password: &str, scopes: &[&str]) {
        let mut args = vec!["user", "add", name, "--password-stdin"];
        for s in scopes {
            args.extend(["--scope", s]);
        }
        self.remember_secret(password);
        let out = self.cmd_stdin(&args, &format!("{password}\n"));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The issuer URL the server uses.
    pub fn issuer(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Sends raw bytes, returns the parsed response.
    pub fn raw(&self, request: &[u8]) -> Resp {
        if self.https {
            let cafile = self.data_dir().join("tls.pem");
            return tls_request(&self.addr, &cafile, "localhost", request).0;
        }
        raw_request(&self.addr, request)
    }

    /// A request with optional Basic credentials, a content type and a body.
    pub fn request(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
            self.addr
        );
        for (n, v) in headers {
            req.push_str(&format!("{n}: {v}\r\n"));
        }
        req.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(body);
        self.raw(&bytes)
    }

    /// GET.
    pub fn get(&self, path: &str) -> Resp {
        self.request("GET", path, &[], b"")
    }

    /// POST a form with Basic credentials, from another address of 127/8.
    pub fn post_basic_from(
        &self,
        source: &str,
        path: &str,
        id: &str,
        secret: &str,
        form: &str,
    ) -> Resp {
        let req = self.basic_form_request(path, id, secret, form);
        raw_request_from(&self.addr, Some(source), req.as_bytes())
    }

    /// A form POST with Basic credentials, as bytes to send, closing after the answer.
    fn basic_form_request(&self, path: &str, id: &str, secret: &str, form: &str) -> String {
        format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nAuthorization: {}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
            self.addr,
            basic(id, secret),
            form.len()
        )
    }

    /// [`Server::post_basic`], or `None` if the server did not answer (it was killed).
    pub fn try_post_basic(&self, path: &str, id: &str, secret: &str, form: &str) -> Option<Resp> {
        let req = self.basic_form_request(path, id, secret, form);
        let mut s = TcpStream::connect(&self.addr).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
        s.write_all(req.as_bytes()).ok()?;
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        if !buf.windows(4).any(|w| w == b"\r\n\r\n") {
            return None;
        }
        Some(parse_response(&buf))
    }

    /// POST a form with Basic credentials.
    pub fn post_basic(&self, path: &str, id: &str, secret: &str, form: &str) -> Resp {
        let auth = basic(id, secret);
        self.request(
            "POST",
            path,
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            form.as_bytes(),
        )
    }

    /// POST a form with no Authorization header.
    pub fn post_form(&self, path: &str, form: &str) -> Resp {
        self.request(
            "POST",
            path,
            &[("Content-Type", "application/x-www-form-urlencoded")],
            form.as_bytes(),
        )
    }

    /// POST JSON with no Authorization header.
    pub fn post_json(&self, path: &str, json: &Value) -> Resp {
        self.request(
            "POST",
            path,
            &[("Content-Type", "application/json")],
            json.to_string().as_bytes(),
        )
    }

    /// Gets a token or panics.
    pub fn token(&self, id: &str, secret: &str, form: &str) -> Value {
        let r = self.post_basic("/token", id, secret, form);
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let v = r.json();
        for t in ["access_token", "refresh_token"] {
            if let Some(t) = v[t].as_str() {
                self.remember_secret(t);
            }
        }
        v
    }

    /// Adds `secret` to what must never reach this server's log. Short test passwords
    /// ("pw") are left out: they could turn up by chance inside a key id.
    pub fn remember_secret(&self, secret: &str) {
        if secret.len() >= 8 {
            self.secrets.lock().unwrap().push(secret.to_string());
        }
    }

    /// Introspects a token as client `id`.
    pub fn introspect(&self, id: &str, secret: &str, token: &str) -> Value {
        let r = self.post_basic("/introspect", id, secret, &format!("token={token}"));
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        r.json()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        // Every test's server, checked for every secret it used: no secret, password or
        // token may reach a log line.
        if !std::thread::panicking() {
            let log = self.logs();
            for secret in self.secrets.lock().unwrap().iter() {
                assert!(
                    !log.contains(secret.as_str()),
                    "the log holds a secret the test used: {secret}\n{log}"
                );
            }
        }
    }
}

/// `Basic base64(id:secret)`.
pub fn basic(id: &str, secret: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    )
}

/// Sends raw bytes to `addr` and parses the HTTP response.
pub fn raw_request(addr: &str, request: &[u8]) -> Resp {
    raw_request_from(addr, None, request)
}

/// A connection from `source` (another address of 127/8, standing in for another device
/// on the LAN: Linux routes all of it to loopback), or from the default address.
pub fn connect_from(addr: &str, source: Option<&str>) -> TcpStream {
    let Some(source) = source else {
        return TcpStream::connect(addr).unwrap();
    };
    let server: std::net::SocketAddr = addr.parse().unwrap();
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let source: std::net::SocketAddr = format!("{source}:0").parse().unwrap();
    sock.bind(&source.into()).unwrap();
    sock.connect(&server.into()).unwrap();
    sock.into()
}

/// A TLS client config that trusts only the certificates in `cafile`.
pub fn tls_client(cafile: &std::path::Path) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(cafile).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

/// Sends `request` over TLS to `addr`, checking the certificate against `cafile` for
/// `server_name`; the response and the certificate the server showed (DER).
pub fn tls_request(
    addr: &str,
    cafile: &std::path::Path,
    server_name: &str,
    request: &[u8],
) -> (Resp, Vec<u8>) {
    let name = rustls::pki_types::ServerName::try_from(server_name.to_string()).unwrap();
    let conn = rustls::ClientConnection::new(tls_client(cafile), name).unwrap();
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(request).unwrap();
    let mut buf = Vec::new();
    let _ = tls.read_to_end(&mut buf);
    let cert = tls.conn.peer_certificates().unwrap()[0].to_vec();
    (parse_response(&buf), cert)
}

/// [`raw_request`] from `source`.
pub fn raw_request_from(addr: &str, source: Option<&str>, request: &[u8]) -> Resp {
    let mut s = connect_from(addr, source);
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(request).unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    parse_response(&buf)
}

fn parse_response(buf: &[u8]) -> Resp {
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP response: {:?}", String::from_utf8_lossy(buf)));
    let head = String::from_utf8_lossy(&buf[..split]).to_string();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = buf[split + 4..].to_vec();
    if let Some(len) = headers.iter().find(|(n, _)| n == "content-length") {
        body.truncate(len.1.parse().unwrap());
    }
    Resp {
        status,
        headers,
        body,
    }
}

/// Decodes a JWT's header and claims without verifying (for asserting on their shape).
pub fn jwt_parts(token: &str) -> (Value, Value) {
    use base64::Engine;
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "not a JWS: {token}");
    let dec = |p: &str| -> Value {
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p)
                .unwrap(),
        )
        .unwrap()
    };
    (dec(parts[0]), dec(parts[1]))
}

/// Verifies a JWT the way a resource server would: with the JWKS fetched from the server.
pub fn verify_with_jwks(server: &Server, token: &str) -> Result<Value, String> {
    let jwks: jsonwebtoken::jwk::JwkSet =
        serde_json::from_slice(&server.get("/jwks.json").body).map_err(|e| e.to_string())?;
    verify_with(server, &jwks, token)
}

/// Verifies a JWT with a JWKS the caller fetched (and may have cached).
pub fn verify_with(
    server: &Server,
    jwks: &jsonwebtoken::jwk::JwkSet,
    token: &str,
) -> Result<Value, String> {
    let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
    let kid = header.kid.ok_or("no kid")?;
    let jwk = jwks.find(&kid).ok_or("kid not in JWKS")?;
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    let mut v = jsonwebtoken::Validation::new(header.alg);
    v.set_issuer(&[server.issuer()]);
    v.validate_aud = false;
    jsonwebtoken::decode::<Value>(token, &key, &v)
        .map(|d| d.claims)
        .map_err(|e| e.to_string())
}

/// Whether `p` has permission bits `mode`.
pub fn mode_of(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}
