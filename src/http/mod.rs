//! The tiny_http adapter: the only module that imports tiny_http.
//!
//! It copies each request into a plain [`Request`] (reading at most the body limit plus
//! one byte), hands it to the core through [`handler::answer`], and copies the plain
//! reply back. Worker
//! threads poll with a timeout so that a shutdown request is seen within a second.
//!
//! tiny_http accepts on a thread of its own. When `accept` fails (out of file descriptors,
//! say) it hands the error to a worker and stops accepting for good, so the error is kept
//! for [`Http::accept_failed`]: the server must then stop, to be restarted, rather than
//! live on deaf.

mod handler;

use crate::protocol::Request;
use crate::service::Service;
use std::io::Read;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The listener could not be set up, or stopped.
#[derive(Debug)]
pub enum HttpError {
    /// Binding the address failed.
    Bind {
        /// The address.
        addr: String,
        /// Why.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The address is not an IP address and port.
    NotIp(String),
    /// The accept loop ended (out of file descriptors, say).
    StoppedAccepting(String),
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpError::Bind { addr, source } => write!(f, "cannot listen on {addr}: {source}"),
            HttpError::NotIp(addr) => write!(f, "{addr} is not an IP address and port"),
            HttpError::StoppedAccepting(e) => write!(
                f,
                "stopped because the HTTP listener could not accept connections: {e}"
            ),
        }
    }
}

impl std::error::Error for HttpError {}

/// A bound HTTP server, not yet serving.
pub struct Http {
    server: Arc<tiny_http::Server>,
    /// Milliseconds since `epoch` when a worker last came round its loop: the watchdog's
    /// evidence that requests are still being taken.
    beat: Arc<AtomicU64>,
    epoch: Instant,
    /// Why tiny_http stopped accepting, once it has.
    accept_error: Arc<Mutex<Option<String>>>,
    /// The address actually bound (the port is known even for `:0`).
    pub local_addr: std::net::SocketAddr,
}

impl Http {
    /// Binds the listen address.
    pub fn bind(addr: &str) -> Result<Http, HttpError> {
        let server = tiny_http::Server::http(addr).map_err(|source| HttpError::Bind {
            addr: addr.to_string(),
            source,
        })?;
        let local_addr = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| HttpError::NotIp(addr.to_string()))?;
        Ok(Http {
            server: Arc::new(server),
            beat: Arc::new(AtomicU64::new(0)),
            epoch: Instant::now(),
            accept_error: Arc::new(Mutex::new(None)),
            local_addr,
        })
    }

    /// Starts `workers` threads that serve until `stop` is set; returns their handles.
    pub fn spawn(
        &self,
        workers: usize,
        service: Arc<Service>,
        stop: Arc<AtomicBool>,
    ) -> std::io::Result<Vec<std::thread::JoinHandle<()>>> {
        (0..workers)
            .map(|i| {
                let server = self.server.clone();
                let service = service.clone();
                let stop = stop.clone();
                let beat = self.beat.clone();
                let epoch = self.epoch;
                let accept_error = self.accept_error.clone();
                std::thread::Builder::new()
                    .name(format!("http-{i}"))
                    .spawn(move || {
                        while !stop.load(Ordering::Relaxed) {
                            beat.store(epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
                            match server.recv_timeout(Duration::from_millis(500)) {
                                Ok(Some(rq)) => serve_one(rq, &service),
                                Ok(None) => {}
                                Err(e) => {
                                    // tiny_http's accept loop has ended: nothing more comes.
                                    let mut slot =
                                        accept_error.lock().unwrap_or_else(|p| p.into_inner());
                                    slot.get_or_insert_with(|| e.to_string());
                                }
                            }
                        }
                    })
            })
            .collect()
    }

    /// How long since any worker last came round its loop.
    pub fn since_last_beat(&self) -> Duration {
        let last = Duration::from_millis(self.beat.load(Ordering::Relaxed));
        self.epoch.elapsed().saturating_sub(last)
    }

    /// Why the server stopped accepting connections, if it has.
    pub fn accept_failed(&self) -> Option<String> {
        self.accept_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Stops accepting: wakes every blocked worker.
    pub fn unblock(&self) {
        self.server.unblock();
    }
}

fn serve_one(mut rq: tiny_http::Request, service: &Service) {
    let started = Instant::now();
    let limit = service.profile.max_body_bytes;
    let mut body = Vec::new();
    let declared_too_large = rq.body_length().is_some_and(|n| n > limit);
    let read_ok = !declared_too_large
        && rq
            .as_reader()
            .take(limit as u64 + 1)
            .read_to_end(&mut body)
            .is_ok();
    let url = rq.url().to_string();
    let path = url.split('?').next().unwrap_or("").to_string();
    let request = Request {
        method: rq.method().as_str().to_ascii_uppercase(),
        path,
        headers: rq
            .headers()
            .iter()
            .map(|h| {
                (
                    h.field.as_str().as_str().to_string(),
                    h.value.as_str().to_string(),
                )
            })
            .collect(),
        body_too_large: declared_too_large || body.len() > limit,
        body,
    };
    let response = if read_ok || declared_too_large {
        handler::answer(&request, service)
    } else {
        crate::protocol::Reply::oauth_error(&crate::oauth_error::OAuthError::invalid_request(
            "the request body could not be read",
        ))
    };
    // Never log query strings or bodies: they can hold credentials.
    log::info!(
        "{} {} {} {}us",
        request.method,
        request.path,
        response.status,
        started.elapsed().as_micros()
    );
    let mut out = tiny_http::Response::from_data(response.body).with_status_code(response.status);
    for (name, value) in &response.headers {
        if let Ok(h) = tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()) {
            out.add_header(h);
        }
    }
    if let Err(e) = rq.respond(out) {
        log::debug!("writing a response failed: {e}");
    }
}
