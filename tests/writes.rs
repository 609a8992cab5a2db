//! What a request writes. A request that changes nothing by its nature (a client_credentials
//! token, introspection, the JWKS, the metadata) writes nothing to the disk and, at the
//! default log level, nothing to the log: on a Pi both end on the SD card.

use crate::util::Server;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::SystemTime;

/// Every file of the data directory with its size and modification time.
fn files(dir: &Path) -> BTreeMap<String, (u64, SystemTime)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let m = e.metadata().unwrap();
            if m.is_dir() {
                stack.push(e.path());
            } else if m.is_file() {
                out.insert(
                    e.path().display().to_string(),
                    (m.len(), m.modified().unwrap()),
                );
            }
        }
    }
    out
}

/// Bytes the process has caused to be written to storage (`/proc/PID/io`).
fn write_bytes(s: &Server) -> u64 {
    std::fs::read_to_string(format!("/proc/{}/io", s.pid()))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("write_bytes: "))
        .and_then(|v| v.trim().parse().ok())
        .expect("write_bytes")
}

/// `rounds` of a token, its introspection, the JWKS and the metadata.
fn load(s: &Server, secret: &str, rounds: usize) {
    for _ in 0..rounds {
        let t = s.token("sensor", secret, "grant_type=client_credentials");
        let token = t["access_token"].as_str().unwrap();
        assert_eq!(s.introspect("sensor", secret, token)["active"], true);
        assert_eq!(s.get("/jwks.json").status, 200);
        assert_eq!(s.get("/.well-known/oauth-authorization-server").status, 200);
    }
}

/// Log lines so far, once the server has logged `marker` a `count`th time: a refused
/// secret is a warning, so it stands after every line the requests before it made.
fn lines_after_marker(s: &Server, count: usize) -> usize {
    let r = s.post_basic(
        "/token",
        "sensor",
        "not-the-secret",
        "grant_type=client_credentials",
    );
    assert_eq!(r.status, 401);
    let log = s.wait_for_log("outcome=wrong_secret client=sensor", count);
    log.lines().count()
}

/// The same, with the access log on: its line for the marker comes after the audit line,
/// so that is the one waited for.
fn lines_after_logged_marker(s: &Server, count: usize) -> usize {
    lines_after_marker(s, count);
    s.wait_for_log("POST /token 401", count).lines().count()
}

#[test]
fn requests_that_change_nothing_write_nothing_to_the_disk_or_the_log() {
    let s = Server::start();
    // The ID-token key is made (and stored, and logged) on a thread after start.
    s.wait_id_key();
    let secret = s.add_client("sensor", &["client_credentials"], &["read"]);
    load(&s, &secret, 1);
    let before_lines = lines_after_marker(&s, 1);
    let (before_files, before_bytes) = (files(&s.data_dir()), write_bytes(&s));

    load(&s, &secret, 100);
    let after_lines = lines_after_marker(&s, 2);

    assert_eq!(
        after_lines,
        before_lines + 1,
        "400 requests logged lines besides the marker:\n{}",
        s.logs()
    );
    assert_eq!(
        files(&s.data_dir()),
        before_files,
        "the store's files changed"
    );
    assert_eq!(write_bytes(&s) - before_bytes, 0, "bytes went to storage");
    // The recent issuances are still there for `piauth audit`.
    let audit = s.admin_json(&["audit", "--json"]);
    let issued = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["outcome"] == "issued")
        .count();
    assert!(issued >= 100, "{issued} issuances in the audit ring");
}

#[test]
fn the_access_log_says_every_request_and_issuance() {
    let s = Server::start_configured("access_log = true", &[]);
    s.wait_id_key();
    let secret = s.add_client("sensor", &["client_credentials"], &["read"]);
    let before = lines_after_logged_marker(&s, 1);
    load(&s, &secret, 10);
    let after = lines_after_logged_marker(&s, 2);
    let log = s.logs();
    // Four requests a round, and a line for each token issued; the marker's two lines.
    assert_eq!(after - before, 10 * 5 + 2, "{log}");
    assert_eq!(log.matches("POST /token 200").count(), 10, "{log}");
    assert_eq!(log.matches("audit action=token outcome=issued").count(), 10);
}
