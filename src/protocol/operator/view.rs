//! What the operator's page shows, for users marked `--admin`: the board, its tuning, the
//! clock, the LED, clients, users, keys, the recent audit records, tokens per minute.

use crate::jose::keys::KeyRing;
use crate::protocol::Context;

/// A row of a table: its cells, as text.
pub type Row = Vec<String>;

/// Everything the operator's page shows, as text and numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorView {
    /// Who is looking.
    pub user: String,
    /// (label, value) facts: board, uptime, clock, LED, counts.
    pub facts: Vec<(String, String)>,
    /// (setting, value) of the tuning profile.
    pub tuning: Vec<(String, String)>,
    /// Clients: id, authentication, grants, scope, the groups it admits, state.
    pub clients: Vec<Row>,
    /// Users: name, groups, scope, admin.
    pub users: Vec<Row>,
    /// Keys: kid, algorithm, state, from.
    pub keys: Vec<Row>,
    /// Recent audit records, newest first: time, action, outcome, client, user.
    pub audit: Vec<Row>,
    /// Tokens issued in each of the last 60 minutes, oldest first.
    pub per_minute: Vec<u64>,
    /// Tokens issued by grant since the start.
    pub grants: Vec<(String, u64)>,
}

/// A Unix time as `YYYY-MM-DD HH:MM:SS` UTC.
pub fn utc(t: u64) -> String {
    let days = t / 86_400;
    let secs = t % 86_400;
    // Civil from days (Howard Hinnant's algorithm), for 1970 and after.
    let z = days as i64 + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

fn clock_words(c: crate::protocol::clock::ClockState) -> &'static str {
    use crate::protocol::clock::ClockState;
    match c {
        ClockState::Ok => "trusted",
        ClockState::Unsynchronized => "waiting for NTP: no tokens until then",
        ClockState::BeforeBuild => "before piauth's build date: no tokens until it is set",
    }
}

fn board_line(b: &crate::board::revision::Board) -> String {
    let model = b.code.model.as_deref().or(b.reported_model.as_deref());
    let model = model.unwrap_or(if b.is_raspberry_pi {
        "Raspberry Pi (unknown model)"
    } else {
        "not a Raspberry Pi"
    });
    match &b.revision {
        Some(r) => format!("{model} (revision {r}), {} cores", b.cores),
        None => format!("{model}, {} cores", b.cores),
    }
}

fn duration(secs: u64) -> String {
    match secs {
        s if s < 3600 => format!("{} min", s / 60),
        s if s < 86_400 => format!("{} h {} min", s / 3600, s / 60 % 60),
        s => format!("{} days {} h", s / 86_400, s / 3600 % 24),
    }
}

fn key_rows(ring: &KeyRing, now: u64) -> Vec<Row> {
    let current = ring.current(now).kid.clone();
    let next = ring.next(now).map(|k| k.kid.clone());
    ring.keys()
        .iter()
        .filter(|k| k.is_live(now))
        .map(|k| {
            let state = if k.kid == current {
                "signing".to_string()
            } else if Some(&k.kid) == next.as_ref() {
                format!("published, signs from {}", utc(k.active_from))
            } else {
                "published, retired".to_string()
            };
            vec![k.kid.clone(), k.alg.as_str().to_string(), state]
        })
        .collect()
}

/// An audit record as a row: time, action, outcome, client, user.
pub fn audit_row(r: crate::observe::audit::AuditRecord) -> Row {
    vec![
        utc(r.at),
        r.action,
        r.outcome.to_string(),
        r.client.unwrap_or_default(),
        r.user.unwrap_or_default(),
    ]
}

/// The page's view, for `user`.
pub fn view(user: &str, ctx: &Context) -> Result<OperatorView, crate::protocol::LookupError> {
    let host = &ctx.host;
    let counts = ctx.dir.counts();
    let led = match host.led {
        None => "none configured".to_string(),
        Some(m) => format!("{m:?}").to_lowercase(),
    };
    let facts = vec![
        ("Board".into(), board_line(host.board)),
        ("Up for".into(), duration(host.uptime_seconds)),
        (
            "Clock".into(),
            format!("{} ({} UTC)", clock_words(ctx.clock), utc(ctx.now)),
        ),
        ("Status LED".into(), led),
        (
            "Refresh-token families".into(),
            counts.refresh_families.to_string(),
        ),
        ("Issuer".into(), ctx.policy.issuer.clone()),
    ];
    let tuning = match serde_json::to_value(host.profile) {
        Ok(serde_json::Value::Object(m)) => m
            .into_iter()
            .map(|(k, v)| (k.replace('_', " "), v.to_string()))
            .collect(),
        _ => Vec::new(),
    };
    let clients = ctx
        .dir
        .clients()?
        .into_iter()
        .map(|c| {
            let auth = if c.public {
                "public (PKCE)"
            } else if c.has_keys() {
                "private_key_jwt"
            } else {
                "secret"
            };
            let grants: Vec<&str> = c.grants.iter().map(|g| g.as_str()).collect();
            let state = if c.disabled { "disabled" } else { "enabled" };
            let admits = if c.allowed_groups.is_empty() {
                "everyone".to_string()
            } else {
                c.allowed_groups.join(" ")
            };
            vec![
                c.id.clone(),
                auth.to_string(),
                grants.join(" "),
                c.scope.to_string(),
                admits,
                state.to_string(),
            ]
        })
        .collect();
    let users = ctx
        .dir
        .users()?
        .into_iter()
        .map(|u| {
            let admin = if u.admin { "yes" } else { "" };
            vec![
                u.name,
                u.groups.join(" "),
                u.scope.to_string(),
                admin.to_string(),
            ]
        })
        .collect();
    let audit = ctx
        .audit
        .recent()
        .into_iter()
        .rev()
        .take(30)
        .map(audit_row)
        .collect();
    Ok(OperatorView {
        user: user.to_string(),
        facts,
        tuning,
        clients,
        users,
        keys: key_rows(ctx.keys, ctx.now),
        audit,
        per_minute: ctx.metrics.tokens_per_minute(ctx.now).to_vec(),
        grants: ctx
            .metrics
            .grants()
            .into_iter()
            .map(|(g, n)| (g.to_string(), n))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_shown_in_utc() {
        assert_eq!(utc(0), "1970-01-01 00:00:00");
        assert_eq!(utc(1_795_000_000), "2026-11-18 11:06:40");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00");
    }

    #[test]
    fn the_view_lists_what_the_operator_manages() {
        let mut w = crate::protocol::testing::World::new(Default::default());
        w.dir.clients.insert(
            "dev".into(),
            crate::protocol::testing::client(
                &[crate::vocab::record::GrantType::ClientCredentials],
                "read",
            ),
        );
        let mut media = crate::protocol::testing::client(
            &[crate::vocab::record::GrantType::AuthorizationCode],
            "openid",
        );
        media.id = "media".into();
        media.allowed_groups = vec!["family".into(), "guests".into()];
        w.dir.clients.insert("media".into(), media);
        let mut admin = crate::protocol::testing::user("root", "", "g");
        admin.admin = true;
        admin.groups = vec!["family".into(), "admins".into()];
        w.dir.users.insert("root".into(), admin);
        w.metrics.issued("client_credentials", w.now);
        let v = view("root", &w.ctx()).unwrap();
        let admits = |id: &str| v.clients.iter().find(|c| c[0] == id).unwrap()[4].clone();
        assert_eq!(admits("dev"), "everyone");
        assert_eq!(admits("media"), "family guests");
        assert_eq!(v.users[0], vec!["root", "family admins", "", "yes"]);
        assert_eq!(v.keys[0][2], "signing");
        assert_eq!(v.per_minute.iter().sum::<u64>(), 1);
        assert!(v.facts.iter().any(|(k, _)| k == "Board"));
    }
}
