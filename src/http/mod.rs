//! The tiny_http adapter: the only module that imports tiny_http.
//!
//! It copies each request into a plain [`Request`] (reading at most the body limit plus
//! one byte), hands it to [`routes::route`], and copies the plain [`Response`] back. Worker
//! threads poll with a timeout so that a shutdown request is seen within a second.
//!
//! tiny_http accepts on a thread of its own. When `accept` fails (out of file descriptors,
//! say) it hands the error to a worker and stops accepting for good, so the error is kept
//! for [`Http::accept_failed`]: the server must then stop, to be restarted, rather than
//! live on deaf.

pub mod routes;

use crate::led::LedEvent;
use crate::service::Service;
use std::io::Read;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// An HTTP request as plain values.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// Upper-case method.
    pub method: String,
    /// Path without the query.
    pub path: String,
    /// Headers as sent (names compared case-insensitively).
    pub headers: Vec<(String, String)>,
    /// The body, at most the limit.
    pub body: Vec<u8>,
    /// Whether the body was longer than the limit (and so was cut).
    pub body_too_large: bool,
}

impl Request {
    /// The first header of that name, if any.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// How many headers of that name were sent.
    pub fn header_count(&self, name: &str) -> usize {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .count()
    }
}

/// What a response meant, for the status LED.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Tokens were issued.
    Issued,
    /// A client or user failed to authenticate.
    AuthFailed,
    /// The server failed (store, keys).
    Failed,
}

/// An HTTP response as plain values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
    /// What it meant, if anything worth showing.
    pub outcome: Option<Outcome>,
}

impl Response {
    /// A JSON response.
    pub fn json(status: u16, value: &serde_json::Value) -> Response {
        Response {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: value.to_string().into_bytes(),
            outcome: None,
        }
    }

    /// Marks what the response meant.
    pub fn with_outcome(mut self, outcome: Outcome) -> Response {
        self.outcome = Some(outcome);
        self
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &str, value: &str) -> Response {
        self.headers.push((name.into(), value.into()));
        self
    }
}

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
    pub fn bind(addr: &str) -> Result<Http, String> {
        let server =
            tiny_http::Server::http(addr).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        let local_addr = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| format!("{addr} is not an IP address"))?;
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
        routes::route(&request, service)
    } else {
        routes::error_response(&crate::oauth_error::OAuthError::invalid_request(
            "the request body could not be read",
        ))
    };
    match response.outcome {
        Some(Outcome::Issued) => service.led.send(LedEvent::TokenIssued),
        Some(Outcome::AuthFailed) => service.led.send(LedEvent::AuthFailed),
        Some(Outcome::Failed) => service.led.send(LedEvent::Fault),
        None => {}
    }
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
