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
