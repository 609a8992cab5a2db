//! The output of `piauth board`: the detected board and the tuning chosen for it.

use crate::adapters::host::sys::Host;
use crate::board::tuning::Profile;
use serde_json::Value;

/// `piauth board --json`.
pub fn json(host: &Host, profile: &Profile) -> Value {
    let mut v = serde_json::to_value(&host.board).unwrap_or_default();
    v["mem_total_bytes"] = serde_json::json!(host.mem_total_bytes);
    v["tuning"] = serde_json::to_value(profile).unwrap_or_default();
    v
}

/// `piauth board`.
pub fn text(host: &Host, p: &Profile) -> String {
    let b = &host.board;
    let opt = |o: Option<&str>| o.unwrap_or("-").to_string();
    format!(
        "board:          {}\nraspberry pi:   {}\nrevision:       {} ({} scheme{})\ntype:           {}\nmemory:         {}\nprocessor:      {}\nmanufacturer:   {}\nboard revision: {}\ncores:          {}\nMemTotal:       {} MiB\nwhy:            {}\n\ntuning:\n  sled cache:           {} KiB\n  HTTP workers:         {}\n  max connections:      {}\n  Argon2id:             {} KiB x {} passes, {} at once\n  max body:             {} bytes\n  max refresh families: {}\n",
        opt(b.code.model.as_deref().or(b.reported_model.as_deref())),
        if b.is_raspberry_pi { "yes" } else { "no" },
        opt(b.revision.as_deref()),
        b.code.scheme.as_str(),
        if b.code.warranty_bit { ", warranty bit set" } else { "" },
        opt(b.code.type_name.as_deref()),
        b.code.memory_mb.map(|m| format!("{m} MB")).unwrap_or_else(|| "-".into()),
        opt(b.code.processor),
        opt(b.code.manufacturer),
        opt(b.code.board_revision.as_deref()),
        b.cores,
        host.mem_total_bytes / (1024 * 1024),
        b.reason,
        p.sled_cache_bytes / 1024,
        p.http_workers,
        p.max_connections,
        p.argon2_memory_kib,
        p.argon2_iterations,
        p.password_checks_at_once,
        p.max_body_bytes,
        p.max_refresh_families,
    )
}
