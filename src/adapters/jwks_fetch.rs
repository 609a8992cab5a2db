//! Fetches the JWKS a client or an issuer publishes at its `jwks_uri`, over HTTPS, and keeps
//! it as `protocol::client_auth::published_keys` says: the adapter between that core and the network.
//!
//! A fetch runs on the blocking worker that needs the keys, driven on the server's event loop
//! (whose thread does the I/O), and is bounded: [`TIMEOUT`] for all of it (the name's lookup
//! included, as far as the resolver allows), [`MAX_DOCUMENT`] bytes, no redirect. Workers that
//! need the same keys meanwhile wait for that one fetch rather than each making their own.

use crate::protocol::client_auth::published_keys::{
    self, CacheState, Plan, PublishedKeys, Unavailable, MAX_DOCUMENT,
};
use crate::vocab::record::JwksLocation;
use http_body_util::BodyExt;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// The longest a fetch may take, connection and TLS handshake included.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// Most locations kept: they come from registrations, so this is only a backstop against
/// many removed and re-added ones.
const MAX_LOCATIONS: usize = 256;

#[derive(Default)]
struct Entry {
    /// Held while fetching, so that one fetch serves every worker waiting for it.
    fetching: Mutex<()>,
    state: Mutex<CacheState>,
}

/// The published keys of every registered location, cached.
#[derive(Default)]
pub struct JwksFetcher {
    entries: Mutex<HashMap<JwksLocation, Arc<Entry>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl JwksFetcher {
    fn entry(&self, at: &JwksLocation) -> Arc<Entry> {
        let mut entries = lock(&self.entries);
        if !entries.contains_key(at) && entries.len() >= MAX_LOCATIONS {
            entries.clear();
        }
        entries.entry(at.clone()).or_default().clone()
    }
}

impl PublishedKeys for JwksFetcher {
    fn keys(
        &self,
        at: &JwksLocation,
        now: u64,
        refresh: bool,
    ) -> Result<Arc<[Value]>, Unavailable> {
        let entry = self.entry(at);
        let decide = || published_keys::plan(&lock(&entry.state), now, refresh);
        match decide() {
            Plan::Use(keys) => return Ok(keys),
            Plan::Refuse(why) => return Err(why),
            Plan::Fetch => {}
        }
        let _fetching = lock(&entry.fetching);
        // Another worker may have fetched while this one waited.
        match decide() {
            Plan::Use(keys) => return Ok(keys),
            Plan::Refuse(why) => return Err(why),
            Plan::Fetch => {}
        }
        let result = fetch(at).and_then(|body| published_keys::parse_jwks(&body));
        match &result {
            Ok(keys) => log::info!("fetched {} key(s) from {}", keys.len(), at.uri),
            Err(why) => log::warn!("fetching the keys at {} failed: {why}", at.uri),
        }
        let result = result.map(Arc::<[Value]>::from);
        let mut state = lock(&entry.state);
        published_keys::record_fetch(&mut state, now, refresh, result);
        match published_keys::plan(&state, now, false) {
            Plan::Use(keys) => Ok(keys),
            Plan::Refuse(why) => Err(why),
            Plan::Fetch => Err(Unavailable("the keys could not be fetched".into())),
        }
    }
}

/// The trust anchors of a `--jwks-ca` file's text: every certificate in it.
pub fn roots_from_pem(pem: &str) -> Result<rustls::RootCertStore, String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
        let cert = cert.map_err(|e| format!("not a PEM certificate: {e}"))?;
        roots
            .add(cert)
            .map_err(|e| format!("a certificate cannot be trusted: {e}"))?;
    }
    if roots.is_empty() {
        return Err("no PEM CERTIFICATE in it".into());
    }
    Ok(roots)
}

/// The system's trust anchors, read once.
fn system_roots() -> Result<Arc<rustls::RootCertStore>, String> {
    static ROOTS: OnceLock<Result<Arc<rustls::RootCertStore>, String>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let found = rustls_native_certs::load_native_certs();
            let mut roots = rustls::RootCertStore::empty();
            let (added, _) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(format!(
                    "no trusted certificates on this system ({} error(s)); register the key \
                     set with --jwks-ca FILE",
                    found.errors.len()
                ));
            }
            Ok(Arc::new(roots))
        })
        .clone()
}

fn client_config(at: &JwksLocation) -> Result<Arc<rustls::ClientConfig>, String> {
    let roots = match &at.ca {
        Some(pem) => Arc::new(roots_from_pem(pem)?),
        None => system_roots()?,
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The body of `GET at.uri`, bounded.
fn fetch(at: &JwksLocation) -> Result<Vec<u8>, String> {
    published_keys::check_uri(&at.uri)?;
    let uri: http::Uri = at.uri.parse().map_err(|_| "not a URL".to_string())?;
    let host = uri.host().unwrap_or_default();
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = uri.port_u16().unwrap_or(443);
    let config = client_config(at)?;
    let started = std::time::Instant::now();
    // Resolved here, on this blocking worker: tokio's resolver would queue on the blocking
    // pool this worker is part of.
    let addrs: Vec<std::net::SocketAddr> = {
        use std::net::ToSocketAddrs;
        (host.as_str(), port)
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve {host}: {e}"))?
            .take(4)
            .collect()
    };
    let left = TIMEOUT
        .checked_sub(started.elapsed())
        .ok_or("resolving the name took the whole time")?;
    let name =
        ServerName::try_from(host.clone()).map_err(|_| format!("{host:?} is not a host name"))?;
    let request = http::Request::get(uri.path_and_query().map_or("/", |p| p.as_str()))
        .header(
            http::header::HOST,
            uri.authority().map_or("", |a| a.as_str()),
        )
        .header(
            http::header::ACCEPT,
            "application/jwk-set+json, application/json",
        )
        .header(
            http::header::USER_AGENT,
            concat!("piauth/", env!("CARGO_PKG_VERSION")),
        )
        .body(http_body_util::Empty::<hyper::body::Bytes>::new())
        .map_err(|e| e.to_string())?;
    let get = async move {
        let mut last = String::from("no address");
        let mut tcp = None;
        for addr in addrs {
            match tokio::net::TcpStream::connect(addr).await {
                Ok(s) => {
                    tcp = Some(s);
                    break;
                }
                Err(e) => last = format!("cannot connect to {addr}: {e}"),
            }
        }
        let tcp = tcp.ok_or(last)?;
        let tls = tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS: {e}"))?;
        let (mut send, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
                .await
                .map_err(|e| e.to_string())?;
        let conn = tokio::spawn(conn);
        let result = async {
            let response = send
                .send_request(request)
                .await
                .map_err(|e| e.to_string())?;
            if response.status() != http::StatusCode::OK {
                return Err(format!("answered {}", response.status()));
            }
            let body = http_body_util::Limited::new(response.into_body(), MAX_DOCUMENT)
                .collect()
                .await
                .map_err(|e| format!("reading the body: {e}"))?;
            Ok(body.to_bytes().to_vec())
        }
        .await;
        conn.abort();
        result
    };
    let handle = tokio::runtime::Handle::try_current()
        .map_err(|_| "no event loop to fetch on".to_string())?;
    handle
        .block_on(tokio::time::timeout(left, get))
        .map_err(|_| format!("no answer within {} s", TIMEOUT.as_secs()))?
}
