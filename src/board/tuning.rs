//! The tuning profile: one place that turns (board, memory, cores) into the numbers every
//! consumer takes (sled cache, HTTP threads, connection cap, Argon2id cost, body limit,
//! refresh-family cap). Pure; the config file can override each value.

use crate::board::revision::Board;
use serde::Serialize;

/// What tuning is computed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resources {
    /// RAM of the board in MB: from the revision code on a Pi, from MemTotal elsewhere.
    pub ram_mb: u64,
    /// Logical CPUs.
    pub cores: usize,
    /// Relative single-core speed for memory-hard hashing, Pi 1 = 1 (see [`speed_class`]).
    pub speed: u32,
}

/// Rough single-core Argon2 throughput relative to a Pi 1 / Zero (ARM1176, 700 MHz–1 GHz).
/// Estimates from clock, core and memory generation; `scripts/bench/bench.sh` measures the truth.
pub fn speed_class(processor: Option<&str>) -> u32 {
    match processor {
        Some("BCM2835") => 1,  // ARM1176JZF-S, 0.7–1 GHz, LPDDR2
        Some("BCM2836") => 2,  // Cortex-A7, 0.9 GHz
        Some("BCM2837") => 4,  // Cortex-A53, 1.2–1.4 GHz
        Some("BCM2711") => 8,  // Cortex-A72, 1.5–1.8 GHz, LPDDR4
        Some("BCM2712") => 16, // Cortex-A76, 2.4 GHz
        _ => 24,               // a desktop or server core
    }
}

/// The resources of a detected board, given MemTotal in bytes.
pub fn resources(board: &Board, mem_total_bytes: u64) -> Resources {
    let from_meminfo = mem_total_bytes / (1024 * 1024);
    let ram_mb = match (board.is_raspberry_pi, board.code.memory_mb) {
        (true, Some(mb)) => u64::from(mb),
        _ => from_meminfo.max(64),
    };
    Resources {
        ram_mb,
        cores: board.cores.max(1),
        speed: if board.is_raspberry_pi {
            speed_class(board.code.processor)
        } else {
            speed_class(None)
        },
    }
}

/// The numbers the server runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Profile {
    /// sled page cache, bytes.
    pub sled_cache_bytes: u64,
    /// HTTP worker threads.
    pub http_workers: usize,
    /// Open connections the server holds at most; past it new ones get a quick `503`.
    pub max_connections: usize,
    /// Open connections from one address: one device cannot crowd out the others.
    pub max_connections_per_address: usize,
    /// Argon2id memory, KiB.
    pub argon2_memory_kib: u32,
    /// Argon2id iterations.
    pub argon2_iterations: u32,
    /// Password checks hashing at once; the others wait. Argon2 is CPU-bound, so more at
    /// once than cores adds memory (a block each) and no throughput.
    pub password_checks_at_once: usize,
    /// Largest request body, bytes.
    pub max_body_bytes: usize,
    /// Most live refresh-token families kept; the oldest are revoked past it.
    pub max_refresh_families: usize,
    /// Access tokens remembered as verified, so that a resource server introspecting the
    /// same token again costs a hash, not a signature check (0: verify every time).
    pub token_cache_entries: usize,
}

const MIB: u64 = 1024 * 1024;

/// Argon2 work (MiB × passes) a Pi 1 does in about a quarter second: the budget every
/// board gets, scaled by its speed, so that a password check costs about the same time.
const ARGON2_PI1_MIB_PASSES: u64 = 8;

/// Computes the profile.
pub fn profile(r: Resources) -> Profile {
    let ram = r.ram_mb.max(64);
    // sled keeps about twice its cache in RSS under churn; 1/256 of RAM keeps a 256 MB
    // board at 1 MiB and a large one at a useful 32 MiB.
    let sled_cache_bytes = (ram * MIB / 256).clamp(MIB, 32 * MIB);
    // Workers: requests are short CPU work, so one or two per core; small boards keep
    // few because each concurrent password check holds its Argon2 memory.
    let http_workers = if ram <= 256 {
        2
    } else {
        (r.cores * 2).clamp(2, 16)
    };
    let password_checks_at_once = r.cores.clamp(1, http_workers);
    // Argon2 memory: 1/64 of RAM per check, 4–64 MiB, never more than the work budget, and
    // all checks running at once hold at most 1/16 of RAM (each keeps its block, jose/secret.rs).
    let budget = ARGON2_PI1_MIB_PASSES * u64::from(r.speed);
    let argon2_mib = (ram / 64)
        .min(ram / (16 * password_checks_at_once as u64))
        .clamp(4, 64)
        .min(budget.max(4));
    let argon2_iterations = (budget / argon2_mib).clamp(1, 8) as u32;
    // An idle connection costs a few KiB on the event loop (no thread); the cap stays
    // below systemd's default of 1024 descriptors with room for the store's files.
    let max_connections = match ram {
        0..=256 => 128,
        257..=512 => 256,
        513..=1024 => 512,
        _ => 768,
    };
    let max_connections_per_address = (max_connections / 8).max(8);
    let max_refresh_families = match ram {
        0..=256 => 5_000,
        257..=1024 => 20_000,
        _ => 100_000,
    };
    // About 400 bytes an entry: 100 KiB on a 256 MB board.
    let token_cache_entries = match ram {
        0..=256 => 256,
        257..=1024 => 1_024,
        _ => 4_096,
    };
    Profile {
        sled_cache_bytes,
        http_workers,
        max_connections,
        max_connections_per_address,
        argon2_memory_kib: (argon2_mib * 1024) as u32,
        argon2_iterations,
        password_checks_at_once,
        max_body_bytes: if ram <= 512 { 8 * 1024 } else { 16 * 1024 },
        max_refresh_families,
        token_cache_entries,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(ram_mb: u64, cores: usize, soc: Option<&str>) -> Resources {
        Resources {
            ram_mb,
            cores,
            speed: speed_class(soc),
        }
    }

    #[test]
    fn a_256mb_pi1_gets_a_small_profile() {
        let p = profile(res(256, 1, Some("BCM2835")));
        assert_eq!(p.sled_cache_bytes, MIB);
        assert_eq!(p.http_workers, 2);
        assert_eq!(p.max_connections, 128);
        assert_eq!(p.max_connections_per_address, 16);
        assert_eq!(p.argon2_memory_kib, 4 * 1024);
        assert_eq!(p.argon2_iterations, 2);
        // One core: one password check at a time, so one Argon2 block (1.6% of RAM).
        assert_eq!(p.password_checks_at_once, 1);
    }

    #[test]
    fn password_work_scales_with_speed_and_never_exceeds_a_sixty_fourth_of_ram() {
        for (ram, soc) in [
            (256, Some("BCM2835")),
            (512, Some("BCM2835")),
            (512, Some("BCM2837")),
            (1024, Some("BCM2837")),
            (4096, Some("BCM2711")),
            (8192, Some("BCM2712")),
            (24000, None),
        ] {
            let r = res(ram, 4, soc);
            let p = profile(r);
            let work = u64::from(p.argon2_memory_kib) / 1024 * u64::from(p.argon2_iterations);
            let budget = ARGON2_PI1_MIB_PASSES * u64::from(r.speed);
            assert!(work <= budget.max(4), "{ram} {soc:?}: {work} > {budget}");
            assert!(
                work * 2 >= budget.min(64 * 8),
                "{ram} {soc:?}: {work} much below {budget}"
            );
            assert!(u64::from(p.argon2_memory_kib) / 1024 <= (ram / 64).max(4));
            let at_once = u64::from(p.argon2_memory_kib) / 1024 * p.password_checks_at_once as u64;
            assert!(at_once <= (ram / 16).max(8), "{ram} {soc:?}: {at_once} MiB");
            assert!(p.password_checks_at_once <= 4 && p.password_checks_at_once <= p.http_workers);
        }
    }

    #[test]
    fn bigger_boards_get_more_but_bounded() {
        let small = profile(res(512, 1, Some("BCM2835")));
        let big = profile(res(8192, 4, Some("BCM2712")));
        assert!(big.sled_cache_bytes > small.sled_cache_bytes);
        assert!(big.http_workers > small.http_workers);
        assert_eq!(big.sled_cache_bytes, 32 * MIB);
        assert_eq!(profile(res(65536, 64, None)).http_workers, 16);
    }
}
