//! Any request through the core: routing, client authentication, body parsing, every grant,
//! introspection, revocation. It must answer (never panic) with a real status code.
//!
//! Input: one selector byte (method, path, content type, the body-too-large flag), then the
//! `Authorization` value up to the first newline, then the body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use piauth::vocab::entropy::CountingEntropy;
use piauth::protocol::guard::Guard;
use piauth::protocol::testing::{client, user, MapDirectory, World};
use piauth::protocol::{self, Request};
use piauth::vocab::record::GrantType;
use std::sync::OnceLock;

const PATHS: [&str; 8] = [
    "/token",
    "/authorize",
    "/introspect",
    "/revoke",
    "/jwks.json",
    "/health",
    "/.well-known/oauth-authorization-server",
    "/nowhere",
];
const CONTENT_TYPES: [Option<&str>; 4] = [
    Some("application/x-www-form-urlencoded"),
    Some("application/json"),
    Some("application/x-www-form-urlencoded; charset=UTF-8"),
    None,
];

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let mut dir = MapDirectory::default();
        let grants = [
            GrantType::ClientCredentials,
            GrantType::Password,
            GrantType::RefreshToken,
        ];
        dir.clients
            .insert("dev".into(), client(&grants, "read write"));
        // Password "pw".
        dir.users
            .insert("alice".into(), user("alice", "read", "g1"));
        World::new(dir)
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let mut parts = rest.splitn(2, |b| *b == b'\n');
    let auth = parts.next().unwrap_or_default();
    let body = parts.next().unwrap_or_default();
    let mut headers = Vec::new();
    if let Some(ct) = CONTENT_TYPES[usize::from(sel >> 3) % CONTENT_TYPES.len()] {
        headers.push(("Content-Type".to_string(), ct.to_string()));
    }
    if !auth.is_empty() {
        let value = String::from_utf8_lossy(auth).into_owned();
        headers.push(("Authorization".to_string(), value.clone()));
        // The same bytes as cookies, for the pages' forms.
        headers.push(("Cookie".to_string(), value));
    }
    let request = Request {
        method: if sel & 0x80 != 0 { "GET" } else { "POST" }.to_string(),
        path: PATHS[usize::from(sel) % PATHS.len()].to_string(),
        headers,
        // The body doubles as the query of GET /authorize.
        query: String::from_utf8_lossy(body).into_owned(),
        body: body.to_vec(),
        body_too_large: sel & 0x40 != 0,
        peer: Some(std::net::IpAddr::from([192, 168, 1, sel & 0x7])),
    };
    // A fresh guard each time: failures must not pile up into refusals across inputs.
    let guard = Guard::new(64);
    let w = world();
    let mut ctx = w.ctx();
    ctx.guard = &guard;
    let step = protocol::handle(&request, &ctx, &mut CountingEntropy(u64::from(sel)));
    assert!(
        (200..600).contains(&step.reply.status),
        "{}",
        step.reply.status
    );
});
