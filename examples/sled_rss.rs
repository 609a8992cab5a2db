//! Where sled's resident memory goes: one step at a time, as /proc/self/smaps sees it.
//!
//!     cargo run --release --example sled_rss -- DIR [default|piauth] [RECORDS]
//!
//! Opens (or creates) a sled database in DIR with sled's default configuration or with the
//! one piauth uses (`Store::open`: 1 MiB cache on a 256 MB board), writes RECORDS
//! refresh-token-sized records if the database is empty, and prints RSS after each step,
//! split into the executable, the main heap, other anonymous memory (thread arenas, large
//! allocations, thread stacks) and other files. `scripts/bench/sled-memory.sh` runs the cases.

use std::fs;

// Linked for its global allocator: on musl, the binary's (src/lib.rs).
extern crate piauth;

#[derive(Default)]
struct Rss {
    exe: u64,
    heap: u64,
    anon: u64,
    files: u64,
    mappings_64m: usize,
}

fn rss() -> Rss {
    let exe = fs::read_link("/proc/self/exe").unwrap_or_default();
    let exe = exe.to_string_lossy().to_string();
    let smaps = fs::read_to_string("/proc/self/smaps").unwrap_or_default();
    let mut r = Rss::default();
    let mut kind = 0;
    for line in smaps.lines() {
        let mut parts = line.split_whitespace();
        let first = parts.next().unwrap_or("");
        if first.contains('-') && first.chars().next().is_some_and(|c| c.is_ascii_hexdigit()) {
            let path = line.split_whitespace().nth(5).unwrap_or("");
            let (lo, hi) = first.split_once('-').unwrap_or(("0", "0"));
            let size =
                u64::from_str_radix(hi, 16).unwrap_or(0) - u64::from_str_radix(lo, 16).unwrap_or(0);
            if size >= 60 << 20 {
                r.mappings_64m += 1;
            }
            kind = if path == exe {
                0
            } else if path == "[heap]" {
                1
            } else if path.is_empty() || path.starts_with('[') {
                2
            } else {
                3
            };
        } else if first == "Rss:" {
            let kib: u64 = parts.next().and_then(|v| v.parse().ok()).unwrap_or(0);
            match kind {
                0 => r.exe += kib,
                1 => r.heap += kib,
                2 => r.anon += kib,
                _ => r.files += kib,
            }
        }
    }
    r
}

fn threads() -> String {
    fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("Threads:"))
        .map(|l| l[8..].trim().to_string())
        .unwrap_or_default()
}

fn report(step: &str) {
    let r = rss();
    let total = r.exe + r.heap + r.anon + r.files;
    println!(
        "| {step} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {} | {} |",
        total as f64 / 1024.0,
        r.exe as f64 / 1024.0,
        r.heap as f64 / 1024.0,
        r.anon as f64 / 1024.0,
        r.files as f64 / 1024.0,
        threads(),
        r.mappings_64m,
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = args.get(1).cloned().unwrap_or_else(|| "sled-rss-db".into());
    let config = args.get(2).cloned().unwrap_or_else(|| "piauth".into());
    let records: usize = args.get(3).and_then(|n| n.parse().ok()).unwrap_or(5000);
    println!("| step ({config}) | RSS MiB | exe | heap | anon | files | threads | 64 MiB maps |");
    println!("|---|---|---|---|---|---|---|---|");
    report("process start");
    let db = match config.as_str() {
        "default" => sled::Config::new().path(&dir).open(),
        _ => sled::Config::new()
            .path(&dir)
            .cache_capacity(1 << 20)
            .open(),
    }
    .expect("open sled");
    report("sled open");
    let names = [
        "meta",
        "clients",
        "users",
        "keys",
        "refresh",
        "families",
        "revoked_jti",
    ];
    let trees: Vec<sled::Tree> = names
        .iter()
        .map(|n| db.open_tree(n).expect("tree"))
        .collect();
    report("7 trees open");
    if trees[4].is_empty() {
        for i in 0..records {
            let key = format!("{i:064x}");
            let value = format!(
                r#"{{"client_id":"sensor-{i}","family":"{i:032x}","scope":"read write","issued_at":1700000000,"expires_at":1702592000,"used":false}}"#
            );
            trees[4]
                .insert(key.as_bytes(), value.as_bytes())
                .expect("insert");
            trees[5]
                .insert(&key.as_bytes()[..32], value.as_bytes())
                .expect("insert");
        }
        db.flush().expect("flush");
        report(&format!("{records} refresh records written, flushed"));
    } else {
        let n: usize = trees[4].iter().count();
        report(&format!("existing store, {n} records scanned"));
    }
    std::thread::sleep(std::time::Duration::from_millis(1500));
    report("1.5 s later (flusher ran)");
}
