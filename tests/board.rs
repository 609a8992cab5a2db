//! Board detection over every real cpuinfo sample and every row of the official tables
//! (`tests/fixtures/`), and the tuning a 256 MB board gets, through the real binary.

use crate::util::{bin, Server};
use piauth::board::revision::{decode_revision, detect, parse_cpuinfo, Scheme};
use std::path::PathBuf;
use std::process::Command;

fn fixtures() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    assert!(
        p.is_dir(),
        "the fixtures must be in the checkout: {}",
        p.display()
    );
    p
}

fn meminfo_256() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/meminfo-pi1b-256mb.txt")
}

/// Rows of the Markdown table that follows `heading`, as trimmed cells.
fn table_after(text: &str, heading: &str) -> Vec<Vec<String>> {
    let start = text
        .find(heading)
        .unwrap_or_else(|| panic!("no section {heading:?}"));
    text[start..]
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2) // header and separator
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect()
}

fn mb(text: &str) -> Option<u32> {
    let (n, unit) = text.split_once(' ')?;
    let n: u32 = n.parse().ok()?;
    Some(if unit.starts_with("GB") { n * 1024 } else { n })
}

#[test]
fn every_cpuinfo_fixture_decodes_as_its_source_says() {
    let dir = fixtures().join("cpuinfo");
    let sources = std::fs::read_to_string(dir.join("SOURCES.md")).unwrap();
    let rows = table_after(&sources, "## Expected decode per file");
    assert!(
        rows.len() >= 30,
        "expected a row per fixture, got {}",
        rows.len()
    );
    let files = std::fs::read_dir(&dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "cpuinfo")
        })
        .count();
    assert_eq!(rows.len(), files, "every fixture has an expected row");
    for row in rows {
        let [file, revision, style, ty, rev, ram, maker, soc, flag, pi] = &row[..] else {
            panic!("bad row {row:?}")
        };
        let text = std::fs::read(dir.join(format!("{file}.cpuinfo"))).unwrap();
        let board = detect(&parse_cpuinfo(&String::from_utf8_lossy(&text)), None);
        let expect_pi = pi.starts_with("yes") && !pi.contains("not detectable");
        assert_eq!(board.is_raspberry_pi, expect_pi, "{file}: {}", board.reason);
        if revision.starts_with('(') {
            assert_eq!(board.revision, None, "{file}");
        } else {
            assert_eq!(board.revision.as_deref(), Some(revision.as_str()), "{file}");
        }
        if !expect_pi {
            assert_eq!(board.code.scheme, Scheme::None, "{file}");
            assert_eq!(
                board.code.memory_mb, None,
                "{file}: no memory from a non-Pi code"
            );
            assert_eq!(board.code.model, None, "{file}");
            continue;
        }
        let scheme = if style == "old" {
            Scheme::Old
        } else {
            Scheme::New
        };
        assert_eq!(board.code.scheme, scheme, "{file}");
        assert_eq!(board.code.type_name.as_deref(), Some(ty.as_str()), "{file}");
        assert_eq!(
            board.code.board_revision.as_deref(),
            Some(rev.as_str()),
            "{file}"
        );
        assert_eq!(board.code.memory_mb, mb(ram), "{file}");
        assert_eq!(board.code.manufacturer, Some(maker.as_str()), "{file}");
        assert_eq!(
            board.code.processor,
            Some(soc.trim_matches(|c| c == '(' || c == ')')),
            "{file}"
        );
        assert_eq!(board.code.warranty_bit, flag != "-", "{file}");
        assert!(board.cores >= 1, "{file}");
    }
}

#[test]
fn every_row_of_the_official_tables_decodes() {
    let text = std::fs::read_to_string(fixtures().join("revision-codes.md")).unwrap();
    let old = table_after(&text, "## Old-style revision codes");
    assert_eq!(old.len(), 17);
    let new = table_after(&text, "## New-style revision codes in use");
    assert!(new.len() >= 60, "{}", new.len());
    for (rows, scheme) in [(old, Scheme::Old), (new, Scheme::New)] {
        for row in rows {
            let [code, model, rev, ram, maker] = &row[..] else {
                panic!("{row:?}")
            };
            let r = decode_revision(code).unwrap_or_else(|| panic!("{code} does not decode"));
            assert_eq!(r.scheme, scheme, "{code}");
            // "2B (with BCM2837)" names the type and the SoC.
            let (ty, soc) = match model.split_once(" (with ") {
                Some((t, s)) => (t, Some(s.trim_end_matches(')'))),
                None => (model.as_str(), None),
            };
            assert_eq!(r.type_name.as_deref(), Some(ty), "{code}");
            if let Some(soc) = soc {
                assert_eq!(r.processor, Some(soc), "{code}");
            }
            assert_eq!(r.board_revision.as_deref(), Some(rev.as_str()), "{code}");
            assert_eq!(r.memory_mb, mb(ram), "{code} {ram}");
            assert_eq!(r.manufacturer, Some(maker.as_str()), "{code}");
            assert!(!r.warranty_bit, "{code}");
            assert!(
                r.model.as_deref().unwrap().starts_with("Raspberry Pi"),
                "{code}"
            );
        }
    }
    // The documented type table: every listed type has a name.
    for row in table_after(&text, "Type (TTTTTTTT, bits 4-11):") {
        let ty = u32::from_str_radix(row[0].trim_start_matches("0x"), 16).unwrap();
        let code = format!("{:x}", 0xa0_0000 | (ty << 4));
        let r = decode_revision(&code).unwrap();
        let name = r
            .type_name
            .unwrap_or_else(|| panic!("type {ty:#x} unnamed"));
        assert!(
            row[2].starts_with(name.trim_end_matches('+')),
            "{ty:#x}: {name} vs {}",
            row[2]
        );
    }
}

#[test]
fn board_json_has_every_documented_field() {
    let out = Command::new(bin())
        .args(["board", "--json", "--meminfo"])
        .arg(meminfo_256())
        .arg("--cpuinfo")
        .arg(fixtures().join("cpuinfo/pi2b-a01041.cpuinfo"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["revision"], "a01041");
    assert_eq!(v["is_raspberry_pi"], true);
    assert_eq!(v["scheme"], "new");
    assert_eq!(v["type"], "2B");
    assert_eq!(v["model"], "Raspberry Pi 2 Model B");
    assert_eq!(v["memory_mb"], 1024);
    assert_eq!(v["processor"], "BCM2836");
    assert_eq!(v["manufacturer"], "Sony UK");
    assert_eq!(v["board_revision"], "1.1");
    assert_eq!(v["warranty_bit"], false);
    assert_eq!(v["cores"], 4);
    for key in [
        "sled_cache_bytes",
        "http_workers",
        "max_connections",
        "argon2_memory_kib",
        "argon2_iterations",
        "max_body_bytes",
        "max_refresh_families",
    ] {
        assert!(v["tuning"][key].is_u64(), "tuning.{key}");
    }
    // Human output too.
    let text = Command::new(bin())
        .args(["board", "--cpuinfo"])
        .arg(fixtures().join("cpuinfo/x86_64-host.cpuinfo"))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&text.stdout).contains("raspberry pi:   no"));
    let missing = Command::new(bin())
        .args(["board", "--cpuinfo", "/nonexistent"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent"));
}

#[test]
fn a_256mb_board_is_served_with_the_small_profile() {
    let cpuinfo = fixtures().join("cpuinfo/pi1b-0002.cpuinfo");
    let s = Server::start_with(&[
        "--cpuinfo",
        cpuinfo.to_str().unwrap(),
        "--meminfo",
        meminfo_256().to_str().unwrap(),
    ]);
    let h = s.get("/health").json();
    assert_eq!(h["board"]["model"], "Raspberry Pi Model B");
    assert_eq!(h["board"]["memory_mb"], 256);
    assert_eq!(h["tuning"]["sled_cache_bytes"], 1024 * 1024);
    assert_eq!(h["tuning"]["http_workers"], 2);
    assert_eq!(h["tuning"]["max_body_bytes"], 8192);
    // The test config's Argon2 override wins over the profile, as documented.
    assert_eq!(h["tuning"]["argon2_memory_kib"], 1024);
    assert!(s.logs().contains("board: Raspberry Pi Model B"));
    // The body limit of the profile is enforced.
    let secret = s.add_client("c", &["client_credentials"], &[]);
    let big = format!("grant_type=client_credentials&pad={}", "x".repeat(9000));
    assert_eq!(s.post_basic("/token", "c", &secret, &big).status, 413);
    // And `piauth board` agrees with what the server applied.
    let out = s.cmd(&[
        "board",
        "--json",
        "--cpuinfo",
        cpuinfo.to_str().unwrap(),
        "--meminfo",
        meminfo_256().to_str().unwrap(),
    ]);
    let b: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(b["tuning"], h["tuning"]);
}
