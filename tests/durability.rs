//! `kill -9` at any moment of a storm of admin writes and refresh rotations loses nothing
//! that was acknowledged.

use crate::util::Server;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};

/// Counts acknowledged operations and wakes whoever waits for a number of them.
#[derive(Default)]
struct Acks {
    count: Mutex<usize>,
    grew: Condvar,
}

impl Acks {
    fn add(&self) {
        *self.count.lock().unwrap() += 1;
        self.grew.notify_all();
    }

    fn wait_for(&self, n: usize) {
        let c = self.count.lock().unwrap();
        let _c = self
            .grew
            .wait_timeout_while(c, std::time::Duration::from_secs(60), |c| *c < n)
            .unwrap();
    }
}

#[test]
fn kill_9_mid_storm_loses_nothing_acknowledged() {
    let mut s = Server::start();
    let secret = s.add_client("app", &["password", "refresh_token"], &["read"]);
    s.add_user("u", "pw", &["read"]);
    let mut newest: Vec<String> = (0..3)
        .map(|_| {
            s.token("app", &secret, "grant_type=password&username=u&password=pw")["refresh_token"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let mut clients_acked: Vec<String> = Vec::new();
    let next_client = AtomicUsize::new(0);
    // Kill after a different number of acknowledged operations each round: the kill lands
    // at a different point of the writes, without a timer.
    for (round, kill_after) in [7usize, 19, 3, 31, 12].into_iter().enumerate() {
        let acks = Arc::new(Acks::default());
        let stop = Arc::new(AtomicBool::new(false));
        let families: Vec<Arc<Mutex<String>>> = newest
            .iter()
            .map(|t| Arc::new(Mutex::new(t.clone())))
            .collect();
        let admin_acked = Arc::new(Mutex::new(Vec::new()));
        let pid = s.pid().to_string();
        std::thread::scope(|scope| {
            for family in &families {
                let (acks, stop, s, secret) = (acks.clone(), stop.clone(), &s, &secret);
                scope.spawn(move || {
                    while !stop.load(Ordering::SeqCst) {
                        let token = family.lock().unwrap().clone();
                        let r = s.try_post_basic(
                            "/token",
                            "app",
                            secret,
                            &format!("grant_type=refresh_token&refresh_token={token}"),
                        );
                        match r {
                            Some(r) if r.status == 200 => {
                                let next = r.json()["refresh_token"].as_str().unwrap().to_string();
                                *family.lock().unwrap() = next;
                                acks.add();
                            }
                            _ => break,
                        }
                    }
                });
            }
            let (acks2, stop2, admin_acked2, s2) =
                (acks.clone(), stop.clone(), admin_acked.clone(), &s);
            let next_client = &next_client;
            scope.spawn(move || {
                while !stop2.load(Ordering::SeqCst) {
                    let id = format!("c{}", next_client.fetch_add(1, Ordering::SeqCst));
                    let out = s2.cmd(&["client", "add", &id]);
                    if !out.status.success() {
                        break;
                    }
                    admin_acked2.lock().unwrap().push(id);
                    acks2.add();
                }
            });
            acks.wait_for(kill_after);
            stop.store(true, Ordering::SeqCst);
            // SIGKILL, as a power cut: no flush, no clean shutdown.
            std::process::Command::new("kill")
                .args(["-KILL", &pid])
                .status()
                .unwrap();
        });
        s.kill9();
        s.restart();
        eprintln!(
            "round {round}: killed after {} acknowledged operations",
            acks.count.lock().unwrap()
        );
        clients_acked.extend(admin_acked.lock().unwrap().iter().cloned());
        for id in &clients_acked {
            assert!(
                s.cmd(&["client", "show", id]).status.success(),
                "round {round}: acknowledged client {id} lost"
            );
        }
        // The newest acknowledged token of every family still refreshes. (A rotation in
        // flight at the kill may have committed without its answer: the grace period gives
        // the same successor again rather than calling it reuse.)
        for (i, family) in families.iter().enumerate() {
            let token = family.lock().unwrap().clone();
            let r = s.post_basic(
                "/token",
                "app",
                &secret,
                &format!("grant_type=refresh_token&refresh_token={token}"),
            );
            assert_eq!(
                r.status,
                200,
                "round {round}, family {i}: {}",
                String::from_utf8_lossy(&r.body)
            );
            newest[i] = r.json()["refresh_token"].as_str().unwrap().to_string();
        }
    }
    assert!(clients_acked.len() >= 3, "{clients_acked:?}");
}

/// A tmpfs of its own, unmounted when dropped.
struct SmallDisk(tempfile::TempDir);

impl SmallDisk {
    /// `None` where mounting is not allowed (not root); CI runs as root.
    fn mount(size: &str) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "piauth-test"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(SmallDisk(dir))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.0.path())
            .status();
    }
}

/// Writes until the disk refuses; the bytes written.
fn fill(path: &std::path::Path) -> usize {
    use std::io::Write;
    let mut f = std::fs::File::create(path).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    let mut n = 0;
    while f.write_all(&chunk).and_then(|()| f.sync_all()).is_ok() {
        n += chunk.len();
    }
    n
}

#[test]
fn a_full_disk_gives_clean_errors_keeps_client_credentials_and_recovers_by_itself() {
    let Some(disk) = SmallDisk::mount("48m") else {
        // Only a user who may not mount skips it; CI runs as root, where it must run.
        let root = std::fs::read_to_string("/proc/self/status")
            .unwrap()
            .lines()
            .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"));
        assert!(!root, "root could not mount a tmpfs");
        eprintln!("SKIPPED: mounting a tmpfs needs root");
        return;
    };
    let s = Server::start_in(tempfile::tempdir_in(disk.0.path()).unwrap(), &[]);
    let sensor = s.add_client("sensor", &["client_credentials"], &["read"]);
    let app = s.add_client("app", &["password", "refresh_token"], &["read"]);
    s.add_user("alice", "wonderland-pw", &["read"]);
    let login = "grant_type=password&username=alice&password=wonderland-pw";
    let before = s.token("app", &app, login)["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();

    let filler = disk.0.path().join("filler");
    assert!(fill(&filler) > 0);
    // Writes fail: each with a clean OAuth error, never a hang or a crash.
    let mut failed = None;
    for _ in 0..200 {
        let r = s.post_basic("/token", "app", &app, login);
        if r.status != 200 {
            failed = Some(r);
            break;
        }
    }
    let failed = failed.expect("200 logins on a full disk all succeeded");
    assert_eq!(
        failed.status,
        503,
        "{}",
        String::from_utf8_lossy(&failed.body)
    );
    assert_eq!(failed.error(), "temporarily_unavailable");
    assert!(failed.header("retry-after").is_some());
    s.wait_for_log("the store cannot write", 1);
    // /health tells the watchdog and the operator; devices with client credentials go on.
    let health = s.get("/health");
    assert_eq!(health.status, 503);
    assert_eq!(health.json()["store"]["status"], "failing");
    assert_eq!(
        s.post_basic("/token", "sensor", &sensor, "grant_type=client_credentials")
            .status,
        200
    );

    // Space returns: the store takes writes again without a restart.
    std::fs::remove_file(&filler).unwrap();
    s.wait_for_log("the store takes writes again", 1);
    assert_eq!(s.get("/health").status, 200);
    assert_eq!(s.post_basic("/token", "app", &app, login).status, 200);
    // Nothing acknowledged before was lost: the first login's refresh token still rotates.
    let form = format!("grant_type=refresh_token&refresh_token={before}");
    assert_eq!(s.post_basic("/token", "app", &app, &form).status, 200);
    assert_eq!(
        s.logs().matches("the store cannot write").count(),
        1,
        "{}",
        s.logs()
    );
}
