//! Board detection from any `/proc/cpuinfo` and device-tree model text, and the tuning
//! profile from what it finds. It must never panic.
//!
//! Input: 8 bytes of memory size (little-endian), then the text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use piauth::board::{revision as board, tuning};

fuzz_target!(|data: &[u8]| {
    let (mem, text) = data.split_at(data.len().min(8));
    let mut bytes = [0u8; 8];
    bytes[..mem.len()].copy_from_slice(mem);
    let text = String::from_utf8_lossy(text);
    let facts = board::parse_cpuinfo(&text);
    let found = board::detect(&facts, Some(&text));
    let _ = board::decode_revision(&text);
    let _ = tuning::profile(tuning::resources(&found, u64::from_le_bytes(bytes)));
});
