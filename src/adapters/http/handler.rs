//! One request through the core: decide, apply what was decided, report what happened.
//!
//! The core answers with a reply, the writes to make and an event; here the writes go to
//! the store (in one transaction), the event to the log and the LED. A write refused
//! because another request got there first goes back to the core ([`protocol::resolve`]).

use crate::adapters::service::{unix_now, Service};
use crate::board::led_pattern::LedEvent;
use crate::observe::audit::AuditRecord;
use crate::observe::metrics::Failure;
use crate::protocol::{self, Event, Reply, Request, Step};
use crate::vocab::entropy::OsEntropy;
use std::net::IpAddr;

/// Answers `request`, with a page the core chose rendered as the body.
pub fn answer(request: &Request, service: &Service) -> Reply {
    let mut reply = decide_and_apply(request, service);
    if let Some(page) = reply.page.take() {
        let (content_type, body) = crate::adapters::pages::render(&page);
        reply.body = body;
        reply
            .headers
            .push(("Content-Type", content_type.to_string()));
    }
    reply
}

fn decide_and_apply(request: &Request, service: &Service) -> Reply {
    let keys = service.keys();
    let ctx = service.context(&keys, unix_now());
    let step = protocol::handle(request, &ctx, &mut OsEntropy);
    let peer = request.peer;
    match apply(step, peer, service) {
        Ok(reply) => reply,
        // Another request changed what this one read (the same refresh token, rotated a
        // moment earlier): decide once more against what the store holds now.
        Err(_) => {
            let step = protocol::handle(request, &ctx, &mut OsEntropy);
            let client = match &step.event {
                Some(Event::Issued { client_id, .. }) => client_id.clone(),
                _ => String::new(),
            };
            match apply(step, peer, service) {
                Ok(reply) => reply,
                Err(conflict) => {
                    let next = protocol::resolve(&conflict, &client);
                    apply(next, peer, service).unwrap_or_else(|c| {
                        let s =
                            protocol::store_failed(&format_args!("conflict after conflict: {c:?}"));
                        report(s.event.as_ref(), peer, service);
                        s.reply
                    })
                }
            }
        }
    }
}

/// Writes what `step` says, then reports it; a conflict is handed back.
fn apply(step: Step, peer: Option<IpAddr>, service: &Service) -> Result<Reply, protocol::Conflict> {
    match service.store.apply(&step.changes) {
        Ok(Ok(())) => {
            // An operator rotated a key on the pages: the next request signs with the ring
            // as written.
            if step
                .changes
                .iter()
                .any(|c| matches!(c, protocol::Change::PutKeys(_)))
            {
                if let Err(e) = service.reload_keys() {
                    log::error!("reloading keys after a change failed: {e}");
                }
            }
            report(step.event.as_ref(), peer, service);
            Ok(step.reply)
        }
        Ok(Err(conflict)) => Err(conflict),
        Err(e) => {
            let failed = match e.is_disk() {
                true => protocol::store_cannot_write(),
                false => protocol::store_failed(&e),
            };
            report(failed.event.as_ref(), peer, service);
            Ok(failed.reply)
        }
    }
}

/// The audit record, log line and LED blink of an event. Ids only: never a secret.
fn report(event: Option<&Event>, peer: Option<IpAddr>, service: &Service) {
    let Some(event) = event else { return };
    let record = |action: &str, outcome: &'static str| {
        AuditRecord::new(unix_now(), action, outcome).peer(peer)
    };
    match event {
        Event::Issued {
            client_id,
            grant,
            user,
            evicted,
        } => {
            service.led.send(LedEvent::TokenIssued);
            service.metrics.issued(grant, unix_now());
            service.audit.record(
                record("token", "issued")
                    .client(client_id)
                    .user(user.as_deref())
                    .grant(Some(grant)),
            );
            if let Some(dropped) = service.families_evicted(*evicted) {
                log::warn!(
                    "refresh-token family cap ({}) reached: {dropped} least recently used \
                     families dropped (this is said at most once a minute)",
                    service.policy.max_refresh_families
                );
            }
        }
        Event::ClientAuthFailed { client_id, why } => {
            service.led.send(LedEvent::AuthFailed);
            service.metrics.failed(Failure::ClientAuth);
            // The id is logged to find a misconfigured device; the secret never is.
            let outcome = why.as_str();
            service
                .audit
                .record(record("client_auth", outcome).client(client_id));
        }
        Event::PasswordRefused { client_id, user } => {
            service.led.send(LedEvent::AuthFailed);
            service.metrics.failed(Failure::Password);
            service.audit.record(
                record("token", "wrong_password")
                    .client(client_id)
                    .user(Some(user))
                    .grant(Some("password")),
            );
        }
        Event::Throttled { peer, wait } => {
            service.metrics.failed(Failure::Throttled);
            // Kept for `piauth audit`; the log hears of them summed, once a minute.
            service.audit.keep(record("attempt", "throttled"));
            if let Some(n) = service.throttled(1) {
                log::warn!(
                    "failed attempts from {}: refused unchecked for {wait} s ({n} refusals since \
                     the last line; this is said at most once a minute)",
                    peer.map_or_else(|| "an unknown address".to_string(), |p| p.to_string())
                );
            }
        }
        Event::Page {
            action,
            outcome,
            client_id,
            user,
        } => {
            if *outcome == "wrong_password" {
                service.led.send(LedEvent::AuthFailed);
                service.metrics.failed(Failure::Password);
            }
            service.audit.record(
                record(action, outcome)
                    .client(client_id.as_deref().unwrap_or_default())
                    .user(user.as_deref()),
            );
        }
        Event::AssertionRefused { client_id, why } => {
            service.led.send(LedEvent::AuthFailed);
            service.metrics.failed(Failure::Assertion);
            service.audit.record(
                record("token", why)
                    .client(client_id)
                    .grant(Some(crate::vocab::record::GrantType::JwtBearer.as_str())),
            );
        }
        Event::RefreshReused { client_id } => {
            service.metrics.failed(Failure::RefreshReuse);
            service.audit.record(
                record("token", "refresh_reuse_family_revoked")
                    .client(client_id)
                    .grant(Some("refresh_token")),
            );
        }
        Event::Admin { op, outcome, user } => {
            // As the admin socket does for the command line: the command's name, never its
            // values (a secret, a link).
            log::info!("admin: {op} by {user} on the operator's pages: {outcome}");
            service
                .audit
                .record(record(&format!("admin:{op}"), outcome).user(Some(user)));
        }
        Event::Failed(detail) => {
            service.metrics.failed(Failure::Server);
            service.led.send(LedEvent::Fault);
            log::error!("{detail}");
        }
    }
}
