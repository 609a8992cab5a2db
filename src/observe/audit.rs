//! The audit trail: one structured line per refusal, sign-in and admin change (and per
//! issuance with `access_log`), and the recent records, issuances included, kept in a
//! bounded ring for `piauth audit`.
//!
//! A record holds ids and outcomes, never a secret: client ids and user names only when
//! they are valid names (a secret typed into the wrong field is not repeated).

use crate::vocab::record::is_valid_name;
use serde::Serialize;
use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::Mutex;

/// One thing that happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditRecord {
    /// Unix time.
    pub at: u64,
    /// What was asked: `token`, `client_auth`, `admin:client_add`, …
    pub action: String,
    /// What came of it: `issued`, `refused`, `reuse`, `throttled`, `ok`, `failed`, …
    pub outcome: &'static str,
    /// The client, when known and a valid id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// The user, when known and a valid name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The grant type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grant: Option<&'static str>,
    /// The source address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer: Option<IpAddr>,
}

impl AuditRecord {
    /// A record of `action` with `outcome` at `at`; the rest added with the setters.
    pub fn new(at: u64, action: impl Into<String>, outcome: &'static str) -> AuditRecord {
        AuditRecord {
            at,
            action: action.into(),
            outcome,
            client: None,
            user: None,
            grant: None,
            peer: None,
        }
    }

    /// The client id, if it is one.
    pub fn client(mut self, id: &str) -> AuditRecord {
        self.client = is_valid_name(id).then(|| id.to_string());
        self
    }

    /// The user name, if it is one.
    pub fn user(mut self, name: Option<&str>) -> AuditRecord {
        self.user = name.filter(|n| is_valid_name(n)).map(str::to_string);
        self
    }

    /// The grant type.
    pub fn grant(mut self, grant: Option<&'static str>) -> AuditRecord {
        self.grant = grant;
        self
    }

    /// The source address.
    pub fn peer(mut self, peer: Option<IpAddr>) -> AuditRecord {
        self.peer = peer;
        self
    }

    /// The log line: `audit action=… outcome=… client=… user=… grant=… peer=…`.
    pub fn line(&self) -> String {
        let mut line = format!("audit action={} outcome={}", self.action, self.outcome);
        let fields = [
            ("client", self.client.clone()),
            ("user", self.user.clone()),
            ("grant", self.grant.map(str::to_string)),
            ("peer", self.peer.map(|p| p.to_string())),
        ];
        for (name, value) in fields {
            if let Some(v) = value {
                line.push_str(&format!(" {name}={v}"));
            }
        }
        line
    }
}

/// How loud a record is in the log. A token issued is a request's normal outcome: it is
/// logged only when the operator asked for an access log, so that a busy LAN does not write
/// a journal line per token to the SD card. Refusals warn; other successes (sign-ins,
/// consents, admin changes) are rare and worth a line.
pub fn level(record: &AuditRecord, access_log: bool) -> log::Level {
    match record.outcome {
        "issued" if record.action == "token" && !access_log => log::Level::Debug,
        "issued" | "ok" | "code_issued" | "approved" => log::Level::Info,
        _ => log::Level::Warn,
    }
}

/// The most recent records, at most `capacity`.
pub struct AuditRing {
    capacity: usize,
    records: Mutex<VecDeque<AuditRecord>>,
    access_log: bool,
}

impl AuditRing {
    /// A ring of `capacity` records.
    pub fn new(capacity: usize) -> AuditRing {
        AuditRing {
            capacity: capacity.max(1),
            records: Mutex::new(VecDeque::new()),
            access_log: false,
        }
    }

    /// The same ring, logging every issuance too (`access_log = true`).
    pub fn with_access_log(mut self, on: bool) -> AuditRing {
        self.access_log = on;
        self
    }

    /// Logs `record` at its [`level`] and keeps it.
    pub fn record(&self, record: AuditRecord) {
        log::log!(level(&record, self.access_log), "{}", record.line());
        self.keep(record);
    }

    /// Keeps `record` without logging it, dropping the oldest past the capacity.
    pub fn keep(&self, record: AuditRecord) {
        let mut r = self.records.lock().unwrap_or_else(|p| p.into_inner());
        if r.len() == self.capacity {
            r.pop_front();
        }
        r.push_back(record);
    }

    /// The records kept, oldest first.
    pub fn recent(&self) -> Vec<AuditRecord> {
        let r = self.records.lock().unwrap_or_else(|p| p.into_inner());
        r.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_one_line_of_ids_and_never_repeats_what_is_not_an_id() {
        let r = AuditRecord::new(5, "token", "issued")
            .client("sensor-1")
            .user(Some("alice"))
            .grant(Some("password"))
            .peer(Some("192.168.1.9".parse().unwrap()));
        assert_eq!(
            r.line(),
            "audit action=token outcome=issued client=sensor-1 user=alice grant=password peer=192.168.1.9"
        );
        let r = AuditRecord::new(5, "client_auth", "refused")
            .client("my secret is hunter2")
            .user(Some(&"x".repeat(300)));
        assert_eq!(r.line(), "audit action=client_auth outcome=refused");
    }

    #[test]
    fn the_ring_keeps_the_most_recent() {
        let ring = AuditRing::new(3);
        for i in 0..5 {
            ring.record(AuditRecord::new(i, "token", "issued"));
        }
        let at: Vec<u64> = ring.recent().iter().map(|r| r.at).collect();
        assert_eq!(at, vec![2, 3, 4]);
    }

    #[test]
    fn issuances_are_logged_only_with_the_access_log_and_the_rest_always() {
        let issued = AuditRecord::new(1, "token", "issued");
        assert_eq!(level(&issued, false), log::Level::Debug);
        assert_eq!(level(&issued, true), log::Level::Info);
        for (action, outcome) in [
            ("admin:client_add", "ok"),
            ("login", "ok"),
            ("authorize", "code_issued"),
            ("device", "approved"),
        ] {
            let r = AuditRecord::new(1, action, outcome);
            assert_eq!(level(&r, false), log::Level::Info, "{action} {outcome}");
        }
        for outcome in ["refused", "wrong_password", "refresh_reuse_family_revoked"] {
            let r = AuditRecord::new(1, "token", outcome);
            assert_eq!(level(&r, false), log::Level::Warn, "{outcome}");
        }
    }
}
