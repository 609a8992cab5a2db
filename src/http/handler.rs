//! One request through the core: decide, apply what was decided, report what happened.
//!
//! The core answers with a reply, the writes to make and an event; here the writes go to
//! the store (in one transaction), the event to the log and the LED. A write refused
//! because another request got there first goes back to the core ([`protocol::resolve`]).

use crate::entropy::OsEntropy;
use crate::led::LedEvent;
use crate::protocol::{self, Event, Reply, Request, Step};
use crate::service::{unix_now, Service};

/// Answers `request`.
pub fn answer(request: &Request, service: &Service) -> Reply {
    let keys = service.keys();
    let ctx = service.context(&keys, unix_now());
    let step = protocol::handle(request, &ctx, &mut OsEntropy);
    match apply(step, service) {
        Ok(reply) => reply,
        // Another request changed what this one read (the same refresh token, rotated a
        // moment earlier): decide once more against what the store holds now.
        Err(_) => {
            let step = protocol::handle(request, &ctx, &mut OsEntropy);
            let client = match &step.event {
                Some(Event::Issued { client_id, .. }) => client_id.clone(),
                _ => String::new(),
            };
            match apply(step, service) {
                Ok(reply) => reply,
                Err(conflict) => {
                    let next = protocol::resolve(&conflict, &client);
                    apply(next, service).unwrap_or_else(|c| {
                        let s =
                            protocol::store_failed(&format_args!("conflict after conflict: {c:?}"));
                        report(s.event.as_ref(), service);
                        s.reply
                    })
                }
            }
        }
    }
}

/// Writes what `step` says, then reports it; a conflict is handed back.
fn apply(step: Step, service: &Service) -> Result<Reply, protocol::Conflict> {
    match service.store.apply(&step.changes) {
        Ok(Ok(())) => {
            report(step.event.as_ref(), service);
            Ok(step.reply)
        }
        Ok(Err(conflict)) => Err(conflict),
        Err(e) => {
            let failed = protocol::store_failed(&e);
            report(failed.event.as_ref(), service);
            Ok(failed.reply)
        }
    }
}

/// The log line and LED blink of an event. Ids only: never a secret.
fn report(event: Option<&Event>, service: &Service) {
    let Some(event) = event else { return };
    match event {
        Event::Issued { evicted, .. } => {
            service.led.send(LedEvent::TokenIssued);
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
            // The id is logged to find a misconfigured device; the secret never is.
            log::warn!("client authentication failed for {client_id:?}: {why:?}");
        }
        Event::PasswordRefused { client_id } => {
            service.led.send(LedEvent::AuthFailed);
            log::warn!("password grant refused (wrong username or password) via {client_id:?}");
        }
        Event::Throttled { peer, wait } => {
            if let Some(n) = service.throttled(1) {
                log::warn!(
                    "failed attempts from {}: refused unchecked for {wait} s ({n} refusals since \
                     the last line; this is said at most once a minute)",
                    peer.map_or_else(|| "an unknown address".to_string(), |p| p.to_string())
                );
            }
        }
        Event::RefreshReused { client_id } => {
            log::warn!(
                "refresh token reused by {client_id:?}: revoking its family (RFC 9700 §4.14)"
            );
        }
        Event::Failed(detail) => {
            service.led.send(LedEvent::Fault);
            log::error!("{detail}");
        }
    }
}
