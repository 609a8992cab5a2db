//! `/metrics` for Prometheus (off unless `metrics = true`).

use crate::protocol::{Context, Reply, Step};

/// `GET /metrics`, when the operator turned it on.
pub fn metrics(ctx: &Context) -> Step {
    if !ctx.policy.metrics {
        return Step::reply(Reply::json(
            404,
            &serde_json::json!({"error": "not_found", "error_description": "metrics are off (metrics = true turns them on)"}),
        ));
    }
    let counts = ctx.dir.counts();
    let gauges = crate::observe::metrics::Gauges {
        refresh_families: counts.refresh_families,
        clients: counts.clients,
        users: counts.users,
        token_cache_entries: ctx.verified.len(),
        token_cache: ctx.verified.lookups(),
        uptime_seconds: ctx.host.uptime_seconds,
        es256_nonces: ctx.host.es256_nonces,
    };
    Step::reply(Reply {
        status: 200,
        headers: vec![
            (
                "Content-Type",
                "text/plain; version=0.0.4; charset=utf-8".into(),
            ),
            ("Cache-Control", "no-store".into()),
        ],
        body: ctx.metrics.render(&gauges).into_bytes(),
        page: None,
    })
}
