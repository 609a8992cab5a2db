//! What each of the operator's management pages shows, as text: apps, people and groups,
//! keys, sessions and the audit trail. The lists come from the same commands the admin CLI
//! runs (`group list`, `key list`, `session list`), so the pages and the CLI agree.

use crate::protocol::manage::{self, AdminRequest, Env};
use crate::protocol::operator::forms::{Section, CLIENT_KINDS};
pub use crate::protocol::operator::section_view::{
    ClientRow, PersonRow, SectionView, SessionRow, MAX_ROWS,
};
use crate::protocol::operator::view::{audit_row, utc};
use crate::protocol::Context;
use crate::vocab::entropy::Entropy;
use serde_json::Value;

fn list(cmd: AdminRequest, ctx: &Context, rng: &mut dyn Entropy) -> Vec<Value> {
    match manage::decide(cmd, &mut Env::of(ctx, rng)) {
        Ok(d) => d.answer.as_array().cloned().unwrap_or_default(),
        Err(e) => {
            log::warn!("operator's page: {e}");
            Vec::new()
        }
    }
}

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "—".into(),
        Value::Array(a) => a.iter().map(s).collect::<Vec<_>>().join(" "),
        other => other.to_string(),
    }
}

fn time(v: &Value) -> String {
    v.as_u64().map(utc).unwrap_or_else(|| "—".into())
}

/// The view of `section` for the operator `user`; `query` is the page's query (the
/// events' filter).
pub fn view(
    section: Section,
    user: &str,
    csrf: String,
    recent: bool,
    query: &str,
    ctx: &Context,
    rng: &mut dyn Entropy,
) -> Result<SectionView, crate::protocol::LookupError> {
    let mut v = SectionView {
        user: user.to_string(),
        csrf,
        section: section.name(),
        menu: Section::ALL
            .iter()
            .map(|(s, p, l)| (*p, *l, *s == section))
            .collect(),
        recent,
        client_kinds: CLIENT_KINDS.to_vec(),
        app_kinds: crate::protocol::operator::app_config::KINDS.to_vec(),
        ..SectionView::default()
    };
    match section {
        Section::Overview => {}
        Section::Clients => {
            v.clients = ctx
                .dir
                .clients()?
                .into_iter()
                .map(|c| ClientRow {
                    auth: if c.public {
                        "public (PKCE)"
                    } else if c.has_keys() {
                        "private_key_jwt"
                    } else {
                        "secret"
                    }
                    .into(),
                    has_secret: !c.public && !c.has_keys(),
                    grants: c
                        .grants
                        .iter()
                        .map(|g| g.as_str())
                        .collect::<Vec<_>>()
                        .join(" "),
                    scope: c.scope.to_string(),
                    groups: c.allowed_groups.join(" "),
                    redirect_uris: c.redirect_uris.join("\n"),
                    disabled: c.disabled,
                    second_factor: c.require_second_factor,
                    id: c.id,
                })
                .collect();
        }
        Section::People => {
            v.people = ctx
                .dir
                .users()?
                .into_iter()
                .map(|u| {
                    let f = &u.factors;
                    let mut factors = Vec::new();
                    if f.totp.is_some() {
                        factors.push(format!("codes ({} recovery left)", f.recovery.len()));
                    }
                    if !f.passkeys.is_empty() {
                        factors.push(format!("{} passkey(s)", f.passkeys.len()));
                    }
                    PersonRow {
                        enrolling: u.password_hash.is_empty(),
                        display_name: u.display_name.clone().unwrap_or_default(),
                        email: u.email.clone().unwrap_or_default(),
                        groups: u.groups.join(" "),
                        admin: u.admin,
                        second_factor: u.require_second_factor,
                        factors: if factors.is_empty() {
                            "password only".into()
                        } else {
                            factors.join(", ")
                        },
                        name: u.name,
                    }
                })
                .collect();
            v.groups = list(AdminRequest::GroupList, ctx, rng)
                .iter()
                .map(|g| (s(&g["group"]), s(&g["members"]), s(&g["apps"])))
                .collect();
        }
        Section::Keys => {
            v.keys = list(AdminRequest::KeyList, ctx, rng)
                .iter()
                .map(|k| {
                    vec![
                        s(&k["kid"]),
                        s(&k["alg"]),
                        s(&k["signs"]).replace('_', " "),
                        s(&k["state"]),
                        time(&k["signs_from"]),
                    ]
                })
                .collect();
        }
        Section::Sessions => {
            let all = list(AdminRequest::SessionList, ctx, rng);
            v.more = all.len().saturating_sub(MAX_ROWS);
            v.sessions = all
                .iter()
                .take(MAX_ROWS)
                .map(|f| SessionRow {
                    id: s(&f["id"]),
                    user: s(&f["username"]),
                    client: s(&f["client_id"]),
                    scope: s(&f["scope"]),
                    last_used: time(&f["last_used"]),
                    expires: time(&f["expires_at"]),
                })
                .collect();
        }
        Section::Events => {
            let q = crate::vocab::request::parse_body(
                crate::vocab::request::BodyKind::Form,
                query.as_bytes(),
            )
            .unwrap_or_default();
            let want = |name: &str| q.get(name).unwrap_or_default().trim().to_string();
            v.filter = (want("client"), want("user"), want("outcome"));
            let (client, person, outcome) = &v.filter;
            let matching: Vec<_> = ctx
                .audit
                .recent()
                .into_iter()
                .rev()
                .filter(|r| client.is_empty() || r.client.as_deref() == Some(client))
                .filter(|r| person.is_empty() || r.user.as_deref() == Some(person))
                .filter(|r| outcome.is_empty() || r.outcome == outcome)
                .collect();
            v.more = matching.len().saturating_sub(MAX_ROWS);
            v.events = matching
                .into_iter()
                .take(MAX_ROWS)
                .map(|r| {
                    let from = r.peer.map(|p| p.to_string()).unwrap_or_default();
                    let mut row = audit_row(r);
                    row.push(from);
                    row
                })
                .collect();
        }
    }
    Ok(v)
}
