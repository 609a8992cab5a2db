//! Starting, stopping, restarting, configuration.

use crate::util::{bin, Server};
use std::process::Command;

#[test]
fn restart_keeps_clients_users_keys_and_refresh_tokens() {
    // No grace period: replaying the replaced token at once must count as reuse here.
    let mut s = Server::start_configured("refresh_grace = 0", &[]);
    let secret = s.add_client("app", &["password", "refresh_token"], &["read"]);
    s.add_user("gina", "pw", &["read"]);
    let t = s.token(
        "app",
        &secret,
        "grant_type=password&username=gina&password=pw",
    );
    let kid_before = s.get("/health").json()["key"]["kid"].clone();
    let status = s.stop();
    assert!(status.success(), "SIGTERM should stop cleanly: {status}");
    s.restart();
    assert_eq!(s.get("/health").json()["key"]["kid"], kid_before);
    // The access token from before the restart still introspects and verifies.
    let access = t["access_token"].as_str().unwrap();
    assert_eq!(s.introspect("app", &secret, access)["active"], true);
    crate::util::verify_with_jwks(&s, access).unwrap();
    let r = t["refresh_token"].as_str().unwrap();
    let t2 = s.token(
        "app",
        &secret,
        &format!("grant_type=refresh_token&refresh_token={r}"),
    );
    s.token(
        "app",
        &secret,
        "grant_type=password&username=gina&password=pw",
    );
    // Rotation state is durable too: the used token is still known as used.
    s.restart();
    let replay = s.post_basic(
        "/token",
        "app",
        &secret,
        &format!("grant_type=refresh_token&refresh_token={r}"),
    );
    assert_eq!(replay.error(), "invalid_grant");
    let r2 = t2["refresh_token"].as_str().unwrap();
    let dead = s.post_basic(
        "/token",
        "app",
        &secret,
        &format!("grant_type=refresh_token&refresh_token={r2}"),
    );
    assert_eq!(dead.error(), "invalid_grant");
}

#[test]
fn changing_the_algorithm_rotates_to_a_key_of_that_algorithm() {
    let mut s = Server::start();
    let secret = s.add_client("c", &["client_credentials"], &[]);
    let es = s.token("c", &secret, "grant_type=client_credentials");
    s.restart_with(&["--algorithm", "EdDSA"]);
    let s2 = s;
    let jwks = s2.get("/jwks.json").json();
    // The access-token keys (the RSA key of ID tokens stands beside them).
    let ktys: Vec<_> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kty"].clone())
        .filter(|k| k != "RSA")
        .collect();
    assert_eq!(
        ktys,
        vec![serde_json::json!("OKP"), serde_json::json!("EC")]
    );
    crate::util::verify_with_jwks(&s2, es["access_token"].as_str().unwrap()).unwrap();
}

/// Runs `piauth serve` on `data_dir` and waits for it to end (it is expected to refuse).
fn serve_to_the_end(data_dir: &std::path::Path) -> std::process::Output {
    Command::new(bin())
        .args(["--data-dir", data_dir.to_str().unwrap()])
        .args(["serve", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap()
}

#[test]
fn a_second_server_on_the_same_data_dir_is_refused() {
    let s = Server::start();
    let out = serve_to_the_end(&s.data_dir());
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("in use"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn bad_config_exits_78_with_a_message_naming_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, "lisen = \"0.0.0.0:1\"\n").unwrap();
    let out = Command::new(bin())
        .args(["--config", cfg.to_str().unwrap(), "serve"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&out.stderr).contains("lisen"));
    let out = Command::new(bin())
        .args([
            "--data-dir",
            dir.path().to_str().unwrap(),
            "serve",
            "--algorithm",
            "none",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    let missing = Command::new(bin())
        .args(["--config", "/nonexistent/piauth.toml", "serve"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(78));
    // Tuning values out of range are refused before anything is opened.
    let data = dir.path().join("data");
    for (line, key) in [
        ("token_cache_entries = 2000000", "token_cache_entries"),
        ("password_checks_at_once = 0", "password_checks_at_once"),
        ("max_connections = 0", "max_connections"),
        ("operator_allow = [\"the kitchen\"]", "operator_allow"),
    ] {
        std::fs::write(&cfg, format!("{line}\n")).unwrap();
        let child = Command::new(bin())
            .args(["--config", cfg.to_str().unwrap(), "--data-dir"])
            .arg(&data)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id();
        // If the value were accepted the server would run: its exit is the event waited for.
        let (tx, exited) = std::sync::mpsc::channel();
        std::thread::spawn(move || tx.send(child.wait_with_output().unwrap()));
        let Ok(out) = exited.recv_timeout(std::time::Duration::from_secs(30)) else {
            let _ = Command::new("kill").arg(pid.to_string()).status();
            panic!("{line}: accepted, the server started");
        };
        assert_eq!(out.status.code(), Some(78), "{line}");
        assert!(String::from_utf8_lossy(&out.stderr).contains(key), "{line}");
        assert!(!data.exists(), "{line}: the data directory was created");
    }
}

#[test]
fn config_file_sets_listen_issuer_and_lifetimes() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(
        &cfg,
        format!(
            "data_dir = {:?}\nissuer = \"http://auth.home.arpa\"\naccess_ttl = 120\nalgorithm = \"EdDSA\"\nargon2_memory_kib = 1024\n",
            dir.path().join("d")
        ),
    )
    .unwrap();
    let mut child = Command::new(bin())
        .args([
            "--config",
            cfg.to_str().unwrap(),
            "serve",
            "--listen",
            "127.0.0.1:0",
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::BufRead;
    // Keep draining stderr after the address is seen, so the server's log never blocks.
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if let Some(rest) = line.split("listening on http://").nth(1) {
                let _ = tx.send(rest.split_whitespace().next().unwrap_or("").to_string());
            }
        }
    });
    let addr = rx.recv_timeout(std::time::Duration::from_secs(60)).unwrap();
    let m = crate::util::raw_request(
        &addr,
        b"GET /.well-known/oauth-authorization-server HTTP/1.1\r\nConnection: close\r\n\r\n",
    )
    .json();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(m["issuer"], "http://auth.home.arpa");
    assert_eq!(m["token_endpoint"], "http://auth.home.arpa/token");
    assert_eq!(
        m["access_token_signing_alg_values_supported"],
        serde_json::json!(["EdDSA"])
    );
    assert!(dir.path().join("d").join("db").exists());
}

#[test]
fn systemd_hears_ready_then_watchdog_pings_then_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let sock_path = dir.path().join("notify.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let mut s = Server::start_full(
        "",
        &[],
        &[
            ("NOTIFY_SOCKET", sock_path.to_str().unwrap()),
            ("WATCHDOG_USEC", "400000"),
        ],
    );
    let mut buf = [0u8; 512];
    let mut recv = || {
        let n = sock.recv(&mut buf).expect("a notification");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let first = recv();
    assert!(first.starts_with("READY=1"), "{first}");
    // READY came after the port opened: the server answers now.
    assert_eq!(s.get("/health").status, 200);
    for _ in 0..3 {
        assert_eq!(recv(), "WATCHDOG=1");
    }
    assert!(s.stop().success());
    let mut last = recv();
    while last == "WATCHDOG=1" {
        last = recv();
    }
    assert!(last.starts_with("STOPPING=1"), "{last}");
}

#[test]
fn an_unavailable_led_is_a_warning_and_the_server_runs_on() {
    for led in ["gpio:17", "act"] {
        // Whether this machine has that LED is asked of the same driver the server uses
        // (opened and closed again here), so the test holds on a Pi as anywhere else.
        let spec = piauth::adapters::led::LedSpec::parse(led, false).unwrap();
        let available = piauth::adapters::led::driver::open(spec).is_ok();
        let s = Server::start_configured(&format!("led = \"{led}\""), &[]);
        assert_eq!(s.get("/health").status, 200);
        let log = s.logs();
        if available {
            assert!(!log.contains("status LED"), "{led}: {log}");
            continue;
        }
        assert!(
            log.contains("status LED") && log.contains("running without it"),
            "{log}"
        );
        assert_eq!(log.matches("status LED").count(), 1, "warned once: {log}");
    }
}

#[test]
fn install_stages_upgrades_in_place_and_uninstall_keeps_the_data() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path().to_str().unwrap();
    let script = |args: &[&str]| {
        let out = Command::new("bash")
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let first = script(&[
        "scripts/install/install.sh",
        "--root",
        r,
        "--binary",
        bin().to_str().unwrap(),
    ]);
    assert!(
        first.contains("client add"),
        "prints the first admin steps: {first}"
    );
    let installed = root.path().join("usr/bin/piauth");
    let unit =
        std::fs::read_to_string(root.path().join("etc/systemd/system/piauth.service")).unwrap();
    assert!(unit.contains("ExecStart=/usr/bin/piauth "));
    // The shipped config parses.
    let cfg = root.path().join("etc/piauth/piauth.toml");
    let out = Command::new(&installed)
        .args(["--config", cfg.to_str().unwrap(), "board", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Data and an edited config survive an upgrade and an uninstall.
    std::fs::write(root.path().join("var/lib/piauth/marker"), "keep").unwrap();
    std::fs::write(&cfg, "listen = \"127.0.0.1:9\"\n").unwrap();
    let again = script(&[
        "scripts/install/install.sh",
        "--root",
        r,
        "--binary",
        bin().to_str().unwrap(),
    ]);
    assert!(again.contains("upgraded"), "{again}");
    assert_eq!(
        std::fs::read_to_string(&cfg).unwrap(),
        "listen = \"127.0.0.1:9\"\n"
    );
    script(&["scripts/install/uninstall.sh", "--root", r]);
    assert!(!installed.exists());
    assert!(root.path().join("var/lib/piauth/marker").exists());
    script(&["scripts/install/uninstall.sh", "--root", r, "--purge"]);
    assert!(!root.path().join("var/lib/piauth").exists());
}

#[test]
fn running_out_of_descriptors_is_survived_and_serving_resumes() {
    // With few file descriptors, connections past them make accept fail (EMFILE). The
    // server must keep serving what it holds, say so once, and accept again once
    // descriptors are free: never exit, abort or stay deaf.
    let wrapper = "ulimit -n 48 && exec \"$0\" \"$@\"";
    let mut s = Server::start_wrapped(&["sh", "-c", wrapper]);
    assert_eq!(s.get("/health").status, 200);
    let open: Vec<_> = (0..64)
        .filter_map(|_| std::net::TcpStream::connect(&s.addr).ok())
        .collect();
    s.wait_for_log("cannot accept connections", 1);
    drop(open);
    assert_eq!(s.get("/health").status, 200, "{}", s.logs());
    assert!(s.wait_exit(std::time::Duration::from_millis(1)).is_none());
}

#[test]
fn on_a_pi_tokens_wait_for_a_synchronised_clock() {
    // Sized as a Pi (whose default is to wait for NTP), and with the key set explicitly.
    // What this machine's kernel says decides what to expect: CI machines here report the
    // clock unsynchronised, a desktop with NTP synchronised.
    let synced = piauth::adapters::host::sys::kernel_clock_synchronized() == Some(true);
    let cpuinfo = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/cpuinfo/pi4b-c03111-aarch64.cpuinfo");
    for (config, extra) in [
        ("", vec!["--cpuinfo", cpuinfo.to_str().unwrap()]),
        ("require_synced_clock = true", vec![]),
    ] {
        let s = Server::start_configured(config, &extra);
        let secret = s.add_client("c", &["client_credentials"], &[]);
        let r = s.post_basic("/token", "c", &secret, "grant_type=client_credentials");
        let health = s.get("/health");
        if synced {
            assert_eq!(r.status, 200);
            assert_eq!(health.json()["clock"]["state"], "ok");
            continue;
        }
        assert_eq!(
            (r.status, r.error().as_str()),
            (503, "temporarily_unavailable")
        );
        assert!(r.header("retry-after").is_some());
        assert_eq!(health.status, 503);
        assert_eq!(health.json()["clock"]["state"], "unsynchronized");
        s.wait_for_log("not minting tokens", 1);
    }
    // Off (the default off a Pi), the same machine mints.
    let s = Server::start_configured("require_synced_clock = false", &[]);
    let secret = s.add_client("c", &["client_credentials"], &[]);
    assert_eq!(
        s.token("c", &secret, "grant_type=client_credentials")["token_type"],
        "Bearer"
    );
}

#[test]
fn a_store_damaged_into_an_empty_one_is_refused_not_served() {
    let mut s = Server::start();
    s.add_client("sensor", &["client_credentials"], &[]);
    s.stop();
    // Damage the start of sled's log, as a failing SD card would: sled then recovers to an
    // empty store, which must not be taken for a fresh one.
    let log = s.data_dir().join("db/db");
    let mut bytes = std::fs::read(&log).unwrap();
    for b in bytes.iter_mut().take(4096) {
        *b = 0xa5;
    }
    std::fs::write(&log, bytes).unwrap();
    let out = s.cmd(&["client", "list"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("refusing to start with an empty store"),
        "{err}"
    );
    let out = serve_to_the_end(&s.data_dir());
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("restore the data directory"));
}
