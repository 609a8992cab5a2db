//! `/health`: whether the server can serve, and what it runs on; `/certificate`: the
//! certificate it serves.

use crate::protocol::{Context, Reply};
use serde_json::{json, Value};

/// The health document; 503 when the store cannot be read. Without `detailed`, only the
/// status.
pub fn health(ctx: &Context, detailed: bool) -> Reply {
    let key = ctx.keys.current(ctx.now);
    let counts = ctx.dir.counts();
    let store: Value = match ctx.dir.check() {
        Ok(()) => json!({"status": "ok", "clients": counts.clients, "users": counts.users,
                        "refresh_families": counts.refresh_families}),
        // Said once in the log where it happened; /health is polled.
        Err(e) => json!({"status": "failing", "why": e.to_string()}),
    };
    let ok = store["status"] == "ok" && ctx.clock == crate::protocol::clock::ClockState::Ok;
    let status = if ok { 200 } else { 503 };
    if !detailed {
        return Reply::json(
            status,
            &json!({"status": if ok { "ok" } else { "degraded" }}),
        )
        .with_header("Cache-Control", "no-store");
    }
    let board = ctx.host.board;
    Reply::json(
        status,
        &json!({
            "status": if ok { "ok" } else { "degraded" },
            "version": env!("CARGO_PKG_VERSION"),
            "uptime_seconds": ctx.host.uptime_seconds,
            "issuer": ctx.policy.issuer,
            "store": store,
            "clock": {"state": ctx.clock, "why": ctx.clock.why(), "now": ctx.now},
            "key": {"kid": key.kid, "alg": key.alg.as_str()},
            "board": {
                "is_raspberry_pi": board.is_raspberry_pi,
                "model": board.code.model,
                "type": board.code.type_name,
                "revision": board.revision,
                "memory_mb": board.code.memory_mb,
                "processor": board.code.processor,
                "cores": board.cores,
            },
            "tuning": ctx.host.profile,
            "tls": ctx.host.certificate.as_ref().map(|c| json!({
                "fingerprint": c.fingerprint,
                "reload_error": c.reload_error,
            })),
        }),
    )
    .with_header("Cache-Control", "no-store")
}

/// `GET /certificate`: the certificate served, as PEM, with its SHA-256 fingerprint in a
/// header, for an app's host or a phone to trust once the fingerprint is compared with
/// `piauth tls fingerprint` on the Pi. Never the key.
pub fn certificate(ctx: &Context) -> Reply {
    match &ctx.host.certificate {
        Some(c) => Reply {
            status: 200,
            headers: vec![
                ("Content-Type", "application/x-pem-file".into()),
                (
                    "Content-Disposition",
                    "attachment; filename=\"piauth.crt\"".into(),
                ),
                ("Piauth-Certificate-Sha256", c.fingerprint.clone()),
                ("Cache-Control", "no-cache".into()),
            ],
            body: c.pem.clone().into_bytes(),
            page: None,
        },
        None => Reply::json(
            404,
            &json!({"error": "not_found", "error_description": "this server serves plain HTTP: there is no certificate"}),
        ),
    }
}
