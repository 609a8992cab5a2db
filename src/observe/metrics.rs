//! What the server counts: requests by endpoint and status, tokens by grant, failures by
//! kind, a latency histogram, and tokens issued per minute over the last hour. The HTTP
//! adapter counts (lock-free, a few atomics per request); the operator's page and
//! `/metrics` (the Prometheus text format, 0.0.4) read.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

/// The endpoints counted apart; anything else is `other`.
pub const ENDPOINTS: [(&str, &str); 14] = [
    ("token", "/token"),
    ("authorize", "/authorize"),
    ("device_authorization", "/device_authorization"),
    ("device", "/device"),
    ("introspect", "/introspect"),
    ("revoke", "/revoke"),
    ("userinfo", "/userinfo"),
    ("logout", "/logout"),
    ("jwks", "/jwks.json"),
    ("metadata", "/.well-known/oauth-authorization-server"),
    ("health", "/health"),
    ("operator", "/operator"),
    ("metrics", "/metrics"),
    ("other", ""),
];

/// The failures counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// A client failed to authenticate.
    ClientAuth,
    /// A wrong password or unknown user (password grant or sign-in page).
    Password,
    /// A replaced refresh token came back (its family revoked).
    RefreshReuse,
    /// A trusted issuer's assertion was refused.
    Assertion,
    /// Refused unchecked: too many failures from an address.
    Throttled,
    /// The server failed (its store, its keys).
    Server,
    /// A request's code panicked: a bug, answered 500 while the server went on.
    Panic,
}

const FAILURES: [(Failure, &str); 7] = [
    (Failure::ClientAuth, "client_auth"),
    (Failure::Password, "wrong_password"),
    (Failure::RefreshReuse, "refresh_reuse"),
    (Failure::Assertion, "assertion_refused"),
    (Failure::Throttled, "throttled"),
    (Failure::Server, "server_error"),
    (Failure::Panic, "panic"),
];

/// Upper bounds of the latency buckets, microseconds (the last bucket is +Inf).
const BUCKETS_US: [u64; 10] = [
    1_000, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000,
];

const CLASSES: [&str; 4] = ["2xx", "3xx", "4xx", "5xx"];

/// The counters of a running server.
pub struct Metrics {
    requests: [[AtomicU64; 4]; ENDPOINTS.len()],
    grants: [AtomicU64; crate::vocab::record::GrantType::ALL.len()],
    failures: [AtomicU64; FAILURES.len()],
    latency: [AtomicU64; BUCKETS_US.len() + 1],
    latency_sum_us: AtomicU64,
    /// (minute since the epoch, tokens issued in it), one slot per minute of the hour.
    minutes: Mutex<[(u64, u64); 60]>,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics {
            requests: std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0))),
            grants: std::array::from_fn(|_| AtomicU64::new(0)),
            failures: std::array::from_fn(|_| AtomicU64::new(0)),
            latency: std::array::from_fn(|_| AtomicU64::new(0)),
            latency_sum_us: AtomicU64::new(0),
            minutes: Mutex::new([(0, 0); 60]),
        }
    }
}

/// The gauges read from elsewhere when rendering.
#[derive(Debug, Clone, Copy, Default)]
pub struct Gauges {
    /// Refresh-token families stored.
    pub refresh_families: usize,
    /// Clients.
    pub clients: usize,
    /// Users.
    pub users: usize,
    /// Access tokens whose signature introspection remembers.
    pub token_cache_entries: usize,
    /// Introspections answered from that cache, and not.
    pub token_cache: (u64, u64),
    /// Seconds since the start.
    pub uptime_seconds: u64,
    /// ES256 nonces ready (`None` where ring signs, jose/crypto.rs).
    pub es256_nonces: Option<usize>,
}

impl Metrics {
    /// Counts a request to `path` answered `status` in `micros`.
    pub fn request(&self, path: &str, status: u16, micros: u64) {
        let endpoint = ENDPOINTS
            .iter()
            .position(|(_, p)| *p == path)
            .unwrap_or(ENDPOINTS.len() - 1);
        let class = usize::from(status / 100).clamp(2, 5) - 2;
        self.requests[endpoint][class].fetch_add(1, Relaxed);
        let bucket = BUCKETS_US
            .iter()
            .position(|b| micros <= *b)
            .unwrap_or(BUCKETS_US.len());
        self.latency[bucket].fetch_add(1, Relaxed);
        self.latency_sum_us.fetch_add(micros, Relaxed);
    }

    /// Counts a token issued by `grant` at Unix time `now`.
    pub fn issued(&self, grant: &str, now: u64) {
        if let Some(i) = crate::vocab::record::GrantType::ALL
            .iter()
            .position(|g| g.as_str() == grant)
        {
            self.grants[i].fetch_add(1, Relaxed);
        }
        let minute = now / 60;
        let mut m = self.minutes.lock().unwrap_or_else(|p| p.into_inner());
        let slot = &mut m[(minute % 60) as usize];
        if slot.0 != minute {
            *slot = (minute, 0);
        }
        slot.1 += 1;
    }

    /// Counts a failure.
    pub fn failed(&self, what: Failure) {
        if let Some(i) = FAILURES.iter().position(|(f, _)| *f == what) {
            self.failures[i].fetch_add(1, Relaxed);
        }
    }

    /// Tokens issued in each of the last 60 minutes, oldest first, this minute last.
    pub fn tokens_per_minute(&self, now: u64) -> [u64; 60] {
        let m = self.minutes.lock().unwrap_or_else(|p| p.into_inner());
        let this = now / 60;
        std::array::from_fn(|i| {
            let minute = (this + 1 + i as u64).wrapping_sub(60);
            let slot = m[(minute % 60) as usize];
            if slot.0 == minute {
                slot.1
            } else {
                0
            }
        })
    }

    /// Tokens issued by grant, for the operator's page.
    pub fn grants(&self) -> Vec<(&'static str, u64)> {
        crate::vocab::record::GrantType::ALL
            .iter()
            .zip(&self.grants)
            .map(|(g, n)| (g.as_str(), n.load(Relaxed)))
            .collect()
    }

    /// The Prometheus text exposition of everything counted.
    pub fn render(&self, g: &Gauges) -> String {
        fn family(out: &mut String, name: &str, kind: &str, help: &str) {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        }
        let mut out = String::with_capacity(4096);
        let n = "piauth_requests_total";
        family(
            &mut out,
            n,
            "counter",
            "HTTP requests by endpoint and status class.",
        );
        for (i, (endpoint, _)) in ENDPOINTS.iter().enumerate() {
            for (c, class) in CLASSES.iter().enumerate() {
                let v = self.requests[i][c].load(Relaxed);
                let _ = writeln!(out, "{n}{{endpoint=\"{endpoint}\",status=\"{class}\"}} {v}");
            }
        }
        let n = "piauth_tokens_issued_total";
        family(
            &mut out,
            n,
            "counter",
            "Access tokens issued, by grant type.",
        );
        for (grant, v) in self.grants() {
            let _ = writeln!(out, "{n}{{grant=\"{grant}\"}} {v}");
        }
        let n = "piauth_failures_total";
        family(&mut out, n, "counter", "Refusals and failures, by kind.");
        for (i, (_, kind)) in FAILURES.iter().enumerate() {
            let v = self.failures[i].load(Relaxed);
            let _ = writeln!(out, "{n}{{kind=\"{kind}\"}} {v}");
        }
        let n = "piauth_request_duration_seconds";
        family(
            &mut out,
            n,
            "histogram",
            "Time from a request's head to its answer.",
        );
        let mut cumulative = 0;
        for (i, bound) in BUCKETS_US.iter().enumerate() {
            cumulative += self.latency[i].load(Relaxed);
            let le = *bound as f64 / 1e6;
            let _ = writeln!(out, "{n}_bucket{{le=\"{le}\"}} {cumulative}");
        }
        cumulative += self.latency[BUCKETS_US.len()].load(Relaxed);
        let sum = self.latency_sum_us.load(Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{n}_bucket{{le=\"+Inf\"}} {cumulative}");
        let _ = writeln!(out, "{n}_sum {sum}\n{n}_count {cumulative}");
        let gauges = [
            (
                "piauth_refresh_families",
                "Refresh-token families stored.",
                g.refresh_families as u64,
            ),
            ("piauth_clients", "Registered clients.", g.clients as u64),
            ("piauth_users", "Users.", g.users as u64),
            (
                "piauth_token_cache_entries",
                "Access tokens whose signature introspection remembers.",
                g.token_cache_entries as u64,
            ),
            (
                "piauth_uptime_seconds",
                "Seconds since the server started.",
                g.uptime_seconds,
            ),
        ];
        let nonces = g.es256_nonces.map(|ready| {
            (
                "piauth_es256_nonces_ready",
                "ES256 nonces made ahead of time and not yet used.",
                ready as u64,
            )
        });
        for (name, help, v) in gauges.into_iter().chain(nonces) {
            family(&mut out, name, "gauge", help);
            let _ = writeln!(out, "{name} {v}");
        }
        let n = "piauth_token_cache_lookups_total";
        family(
            &mut out,
            n,
            "counter",
            "Introspected access tokens found in the verified-token cache, and not.",
        );
        let _ = writeln!(out, "{n}{{result=\"hit\"}} {}", g.token_cache.0);
        let _ = writeln!(out, "{n}{{result=\"miss\"}} {}", g.token_cache.1);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_grants_and_latencies_are_counted_in_the_prometheus_format() {
        let m = Metrics::default();
        m.request("/token", 200, 800);
        m.request("/token", 401, 30_000);
        m.request("/nowhere", 404, 3_000_000);
        m.issued("client_credentials", 120);
        m.failed(Failure::ClientAuth);
        m.failed(Failure::Panic);
        m.failed(Failure::Panic);
        let text = m.render(&Gauges {
            refresh_families: 3,
            ..Gauges::default()
        });
        for line in [
            "piauth_requests_total{endpoint=\"token\",status=\"2xx\"} 1",
            "piauth_requests_total{endpoint=\"token\",status=\"4xx\"} 1",
            "piauth_requests_total{endpoint=\"other\",status=\"4xx\"} 1",
            "piauth_tokens_issued_total{grant=\"client_credentials\"} 1",
            "piauth_failures_total{kind=\"client_auth\"} 1",
            "piauth_failures_total{kind=\"panic\"} 2",
            "piauth_failures_total{kind=\"server_error\"} 0",
            "piauth_request_duration_seconds_bucket{le=\"0.001\"} 1",
            "piauth_request_duration_seconds_bucket{le=\"0.05\"} 2",
            "piauth_request_duration_seconds_bucket{le=\"+Inf\"} 3",
            "piauth_request_duration_seconds_count 3",
            "piauth_refresh_families 3",
            "# TYPE piauth_request_duration_seconds histogram",
        ] {
            assert!(text.contains(line), "{line}\n{text}");
        }
        assert!(!text.contains("es256_nonces"), "no pool, no gauge");
        let text = m.render(&Gauges {
            es256_nonces: Some(5),
            ..Gauges::default()
        });
        assert!(text.contains("\npiauth_es256_nonces_ready 5\n"), "{text}");
    }

    #[test]
    fn tokens_per_minute_cover_the_last_hour_and_forget_older_minutes() {
        let m = Metrics::default();
        let now = 1_000_000 * 60;
        m.issued("password", now - 3600); // an hour ago: outside
        m.issued("password", now - 60);
        m.issued("password", now - 60);
        m.issued("password", now);
        let last = m.tokens_per_minute(now);
        assert_eq!(last[59], 1);
        assert_eq!(last[58], 2);
        assert_eq!(last.iter().sum::<u64>(), 3);
    }
}
