//! The HTTP adapter: hyper on tokio, the server side (`jwks_fetch.rs` is the client side).
//!
//! Everything a client sends is bounded here before the core sees it (README, *Security notes*):
//! - connections: at most the profile's `max_connections`, and `max_connections_per_address`
//!   from one address, so that one device cannot crowd out the others; past either, a short
//!   `503` and the connection is closed, before any of it is read;
//! - the request head: `head_timeout` to arrive (also the idle time allowed between
//!   keep-alive requests), [`MAX_HEAD_BYTES`] and [`MAX_HEADERS`] (`431` past them);
//! - the body: the profile's `max_body_bytes` (`413`, decided from `Content-Length` without
//!   reading or allocating what was declared) and `body_timeout` to arrive (`408`);
//! - work: the core runs on at most `http_workers` blocking threads; a request that waits
//!   more than [`QUEUE_TIMEOUT`] for one is answered `503`. A panic in the core answers that
//!   request `500` and the server goes on.
//!
//! Idle connections cost a few KiB each on the event loop, not a thread.

mod handler;

use crate::adapters::service::Service;
use crate::protocol::{Reply, Request};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Longest a request waits for a worker before it is answered `503`.
pub const QUEUE_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest request head (request line and headers).
pub const MAX_HEAD_BYTES: usize = 8 * 1024;
/// Most header fields in a request.
pub const MAX_HEADERS: usize = 32;

/// The listener could not be set up.
#[derive(Debug)]
pub enum HttpError {
    /// Binding the address failed.
    Bind {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// The event loop could not start.
    Runtime(std::io::Error),
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpError::Bind { addr, source } => write!(f, "cannot listen on {addr}: {source}"),
            HttpError::Runtime(e) => write!(f, "cannot start the HTTP event loop: {e}"),
        }
    }
}

impl std::error::Error for HttpError {}

/// A bound listener, not yet serving.
pub struct Http {
    listener: std::net::TcpListener,
    health: Arc<Health>,
    /// The address actually bound (the port is known even for `:0`).
    pub local_addr: SocketAddr,
}

/// What the watchdog reads: whether the event loop turns and the workers finish.
struct Health {
    epoch: Instant,
    /// Milliseconds since `epoch` when the event loop last ticked.
    loop_beat: AtomicU64,
    /// Milliseconds since `epoch` when a worker last finished a request.
    last_done: AtomicU64,
    /// Requests in the core now.
    busy: AtomicUsize,
    workers: AtomicUsize,
}

impl Health {
    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }
}

/// The limits of one server, from its profile.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Worker threads for the core.
    pub workers: usize,
    /// Open connections.
    pub max_connections: usize,
    /// Open connections from one address.
    pub max_connections_per_address: usize,
    /// Largest request body.
    pub max_body_bytes: usize,
    /// Time for a request head to arrive, counted from when the server starts waiting for
    /// it: a new connection, or an idle keep-alive one. Past it the connection is closed.
    pub head_timeout: Duration,
    /// Time for a request body to arrive once its head has.
    pub body_timeout: Duration,
}

impl Http {
    /// Binds the listen address.
    pub fn bind(addr: &str) -> Result<Http, HttpError> {
        let bind_error = |source| HttpError::Bind {
            addr: addr.to_string(),
            source,
        };
        let listener = std::net::TcpListener::bind(addr).map_err(bind_error)?;
        listener.set_nonblocking(true).map_err(bind_error)?;
        let local_addr = listener.local_addr().map_err(bind_error)?;
        let epoch = Instant::now();
        Ok(Http {
            listener,
            health: Arc::new(Health {
                epoch,
                loop_beat: AtomicU64::new(0),
                last_done: AtomicU64::new(0),
                busy: AtomicUsize::new(0),
                workers: AtomicUsize::new(1),
            }),
            local_addr,
        })
    }

    /// How long the server has looked wedged: the event loop not ticking, or every worker
    /// busy with nothing finished. Zero when healthy.
    pub fn stalled_for(&self) -> Duration {
        let h = &self.health;
        let now = h.now_ms();
        let mut stalled = now.saturating_sub(h.loop_beat.load(Ordering::Relaxed));
        if h.busy.load(Ordering::Relaxed) >= h.workers.load(Ordering::Relaxed) {
            stalled = stalled.max(now.saturating_sub(h.last_done.load(Ordering::Relaxed)));
        }
        Duration::from_millis(stalled)
    }

    /// Serves on a thread of its own until `stop` is set, then lets requests in flight
    /// finish (for up to [`QUEUE_TIMEOUT`]) and returns.
    /// With `tls`, every connection is HTTPS.
    pub fn spawn(
        &self,
        limits: Limits,
        service: Arc<Service>,
        stop: Arc<AtomicBool>,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> Result<std::thread::JoinHandle<()>, HttpError> {
        let workers = limits.workers.max(1);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .max_blocking_threads(workers)
            // Named so that the panic hook knows a request's panic is caught (main.rs).
            .thread_name(WORKER_THREAD)
            .build()
            .map_err(HttpError::Runtime)?;
        self.health.workers.store(workers, Ordering::Relaxed);
        let shared = Arc::new(Shared {
            pool: Pool {
                workers: Arc::new(tokio::sync::Semaphore::new(workers)),
                health: self.health.clone(),
                on_panic: {
                    let service = service.clone();
                    Arc::new(move || {
                        service
                            .metrics
                            .failed(crate::observe::metrics::Failure::Panic);
                        service.led.send(crate::board::led_pattern::LedEvent::Fault);
                    })
                },
            },
            service,
            limits,
            conns: Mutex::new(Conns::default()),
            full_warning: Mutex::new(crate::observe::notice::Notice::new(Duration::from_secs(60))),
        });
        let listener = self.listener.try_clone().map_err(HttpError::Runtime)?;
        std::thread::Builder::new()
            .name("http".into())
            .spawn(move || {
                let tls = tls.map(tokio_rustls::TlsAcceptor::from);
                runtime.block_on(serve(listener, shared, stop, tls));
                // Blocking work left (a request past the grace period) is not waited for.
                runtime.shutdown_timeout(Duration::from_millis(100));
            })
            .map_err(HttpError::Runtime)
    }
}

/// The name of the core's worker threads.
pub const WORKER_THREAD: &str = "http-worker";

struct Shared {
    service: Arc<Service>,
    limits: Limits,
    pool: Pool,
    conns: Mutex<Conns>,
    full_warning: Mutex<crate::observe::notice::Notice>,
}

/// The worker threads of the core, and what the watchdog learns from them.
struct Pool {
    workers: Arc<tokio::sync::Semaphore>,
    health: Arc<Health>,
    /// Called once for each request whose code panicked.
    on_panic: Arc<dyn Fn() + Send + Sync>,
}

/// Open connections, in all and by address.
#[derive(Default)]
struct Conns {
    total: usize,
    by_address: HashMap<IpAddr, usize>,
}

/// A held connection slot, given back on drop.
struct ConnSlot {
    shared: Arc<Shared>,
    ip: IpAddr,
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        let mut c = lock(&self.shared.conns);
        c.total = c.total.saturating_sub(1);
        if let Some(n) = c.by_address.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                c.by_address.remove(&self.ip);
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The counters are valid at every step: a panic elsewhere cannot leave them torn.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A slot for a connection from `ip`, or `None` when the server or that address is full.
fn admit(shared: &Arc<Shared>, ip: IpAddr) -> Option<ConnSlot> {
    let mut c = lock(&shared.conns);
    let from_ip = c.by_address.get(&ip).copied().unwrap_or(0);
    if c.total >= shared.limits.max_connections
        || from_ip >= shared.limits.max_connections_per_address
    {
        return None;
    }
    c.total += 1;
    *c.by_address.entry(ip).or_insert(0) += 1;
    Some(ConnSlot {
        shared: shared.clone(),
        ip,
    })
}

/// Connections past the caps answered at once, at most.
const TURN_AWAY_AT_ONCE: usize = 64;

/// The most of a turned-away client's request that is read before the close.
const TURN_AWAY_READ: usize = 64 * 1024;

const FULL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 5\r\nConnection: close\r\nContent-Length: 83\r\n\r\n{\"error\":\"temporarily_unavailable\",\"error_description\":\"too many open connections\"}";

async fn serve(
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            log::error!("cannot serve HTTP: {e}");
            return;
        }
    };
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(shared.limits.head_timeout)
        .max_header_size(MAX_HEAD_BYTES)
        .max_headers(MAX_HEADERS)
        .max_buf_size(16 * 1024);
    let mut accept_errors = crate::observe::notice::Notice::new(Duration::from_secs(60));
    let turning_away = Arc::new(AtomicUsize::new(0));
    while !stop.load(Ordering::Relaxed) {
        let health = &shared.pool.health;
        health.loop_beat.store(health.now_ms(), Ordering::Relaxed);
        let accepted =
            match tokio::time::timeout(Duration::from_millis(500), listener.accept()).await {
                Err(_) => continue,
                Ok(a) => a,
            };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of descriptors, say: the connections open now go on being served,
                // and accepting resumes as they close.
                if let Some(n) = accept_errors.record(Instant::now(), 1) {
                    log::warn!("cannot accept connections ({n} times): {e}");
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Some(slot) = admit(&shared, peer.ip()) else {
            let full = lock(&shared.full_warning).record(Instant::now(), 1);
            if let Some(n) = full {
                log::warn!(
                    "connection limit reached ({} in all, {} per address): {n} connections \
                     answered 503 (this is said at most once a minute)",
                    shared.limits.max_connections,
                    shared.limits.max_connections_per_address
                );
            }
            // At most TURN_AWAY_AT_ONCE such answers wait for their client; past them the
            // answer is given without waiting, so that a flood of them cannot use up the
            // descriptors. Over TLS a connection is closed at once: the answer would cost a
            // handshake.
            if tls.is_some() {
                continue;
            }
            if turning_away.load(Ordering::Relaxed) < TURN_AWAY_AT_ONCE {
                turning_away.fetch_add(1, Ordering::Relaxed);
                let turning_away = turning_away.clone();
                tokio::spawn(async move {
                    turn_away(stream).await;
                    turning_away.fetch_sub(1, Ordering::Relaxed);
                });
            } else {
                turn_away_at_once(stream);
            }
            continue;
        };
        let _ = stream.set_nodelay(true);
        let handshake_timeout = shared.limits.head_timeout;
        let shared = shared.clone();
        let svc = hyper::service::service_fn(move |req| {
            let shared = shared.clone();
            async move { Ok::<_, Infallible>(answer(req, peer, &shared).await) }
        });
        let Some(tls) = &tls else {
            let conn = graceful.watch(builder.serve_connection(TokioIo::new(stream), svc));
            tokio::spawn(async move {
                let _slot = slot;
                if let Err(e) = conn.await {
                    log::debug!("connection from {peer}: {e}");
                }
            });
            continue;
        };
        let (tls, builder, watcher) = (tls.clone(), builder.clone(), graceful.watcher());
        tokio::spawn(async move {
            let _slot = slot;
            // A handshake is bounded like a request head: a client that starts one and
            // never finishes holds its slot for `head_timeout`, then is closed.
            let stream = match tokio::time::timeout(handshake_timeout, tls.accept(stream)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => return log::debug!("TLS handshake with {peer} failed: {e}"),
                Err(_) => return log::debug!("TLS handshake with {peer} timed out"),
            };
            let conn = builder.serve_connection(TokioIo::new(stream), svc);
            if let Err(e) = watcher.watch(conn).await {
                log::debug!("connection from {peer}: {e}");
            }
        });
    }
    // Requests in flight finish; idle keep-alive connections close.
    let _ = tokio::time::timeout(QUEUE_TIMEOUT, graceful.shutdown()).await;
}

/// Answers a connection past the caps with the canned `503` and closes it gracefully: the
/// request the client already sent is read (at most TURN_AWAY_READ, for at most a second), because
/// closing a socket with unread data resets it, and the reset would destroy the answer.
async fn turn_away(mut stream: tokio::net::TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        stream.write_all(FULL).await?;
        stream.shutdown().await?;
        let mut buf = [0u8; 4096];
        let mut read = 0;
        while read < TURN_AWAY_READ {
            match stream.read(&mut buf).await? {
                0 => break,
                n => read += n,
            }
        }
        Ok::<(), std::io::Error>(())
    })
    .await;
}

/// The same answer with no wait, past TURN_AWAY_AT_ONCE: it goes into the socket's empty
/// send buffer, and what the client has already sent is read, so that the close is a FIN
/// after the answer and not a reset instead of it. (A request that arrives after the close
/// is reset, but the answer is then already in the client's receive buffer.)
fn turn_away_at_once(stream: tokio::net::TcpStream) {
    use std::io::{Read, Write};
    let Ok(mut stream) = stream.into_std() else {
        return;
    };
    // Non-blocking still: nothing here waits.
    let _ = stream.write_all(FULL);
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let mut buf = [0u8; 4096];
    let mut read = 0;
    while read < TURN_AWAY_READ {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => read += n,
        }
    }
}

/// Reads one request within its bounds, runs it through the core on a worker, and
/// answers.
async fn answer(
    req: hyper::Request<Incoming>,
    peer: SocketAddr,
    shared: &Arc<Shared>,
) -> hyper::Response<Full<Bytes>> {
    let started = Instant::now();
    let limit = shared.limits.max_body_bytes;
    let (parts, body) = req.into_parts();
    let declared = parts
        .headers
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let mut request = Request {
        method: parts.method.as_str().to_ascii_uppercase(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or_default().to_string(),
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: Vec::new(),
        body_too_large: declared.is_some_and(|n| n > limit as u64),
        peer: Some(peer.ip()),
    };
    let mut close = false;
    let reply = if request.body_too_large {
        // Never read: the connection closes after the answer.
        close = true;
        None
    } else {
        let body_timeout = shared.limits.body_timeout;
        match tokio::time::timeout(body_timeout, Limited::new(body, limit).collect()).await {
            Ok(Ok(collected)) => {
                request.body = collected.to_bytes().to_vec();
                None
            }
            Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
                request.body_too_large = true;
                close = true;
                None
            }
            Ok(Err(_)) => {
                close = true;
                Some(Reply::oauth_error(
                    &crate::vocab::oauth_error::OAuthError::invalid_request(
                        "the request body could not be read",
                    ),
                ))
            }
            Err(_) => {
                close = true;
                Some(Reply::json(
                    408,
                    &serde_json::json!({"error": "invalid_request",
                        "error_description": "the request body did not arrive in time"}),
                ))
            }
        }
    };
    // Only these go to the access log: never query strings or bodies, which can hold
    // credentials.
    let (method, path) = (request.method.clone(), request.path.clone());
    let reply = match reply {
        Some(r) => r,
        None => {
            let service = shared.service.clone();
            on_worker(&shared.pool, move || handler::answer(&request, &service)).await
        }
    };
    let micros = started.elapsed().as_micros();
    // A line per request only when asked for (`access_log`): on a Pi the journal is on the
    // SD card, and a busy LAN would write to it for every token.
    let level = match shared.service.access_log {
        true => log::Level::Info,
        false => log::Level::Debug,
    };
    log::log!(
        level,
        "{} {method} {path} {} {micros}us",
        peer.ip(),
        reply.status
    );
    shared.service.metrics.request(
        &path,
        reply.status,
        u64::try_from(micros).unwrap_or(u64::MAX),
    );
    let mut response = hyper::Response::new(Full::new(Bytes::from(reply.body)));
    *response.status_mut() = hyper::StatusCode::from_u16(reply.status)
        .unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in &reply.headers {
        // A value that is not a valid header (CR, LF) is dropped, never written.
        if let Ok(v) = hyper::header::HeaderValue::from_str(value) {
            response.headers_mut().append(*name, v);
        }
    }
    if close {
        response.headers_mut().insert(
            hyper::header::CONNECTION,
            hyper::header::HeaderValue::from_static("close"),
        );
    }
    response
}

/// Runs `work` (the core) on a worker thread: at most `workers` at once, a bounded wait for
/// one, and a panic answered `500` instead of ending the process.
async fn on_worker(pool: &Pool, work: impl FnOnce() -> Reply + Send + 'static) -> Reply {
    let busy = || {
        Reply::oauth_error(&crate::vocab::oauth_error::OAuthError::new(
            crate::vocab::oauth_error::ErrorCode::TemporarilyUnavailable,
            "the server is busy: try again shortly",
        ))
    };
    let Ok(Ok(permit)) =
        tokio::time::timeout(QUEUE_TIMEOUT, pool.workers.clone().acquire_owned()).await
    else {
        return busy();
    };
    // The permit and the busy count go with the work, not with this future: a client that
    // hangs up drops the future, but the work runs on and must still free its slot.
    let health = pool.health.clone();
    let done = tokio::task::spawn_blocking(move || {
        // Dropped in reverse: the busy count falls before the slot is given back.
        let _permit = permit;
        let _busy = Busy::start(health);
        work()
    })
    .await;
    match done {
        Ok(reply) => reply,
        Err(e) => {
            // The panic itself was reported by the hook (main.rs).
            log::error!("a request failed inside the server ({e}); the server goes on");
            (pool.on_panic)();
            Reply::oauth_error(&crate::vocab::oauth_error::OAuthError::server_error(
                "the server failed on this request",
            ))
        }
    }
}

/// A worker busy with a request, for the watchdog; counted until dropped (even by a panic).
struct Busy(Arc<Health>);

impl Busy {
    fn start(health: Arc<Health>) -> Busy {
        if health.busy.fetch_add(1, Ordering::Relaxed) == 0 {
            // Stall time counts from when the workers got busy, not from an idle spell.
            health.last_done.store(health.now_ms(), Ordering::Relaxed);
        }
        Busy(health)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::Relaxed);
        self.0.last_done.store(self.0.now_ms(), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(workers: usize) -> Pool {
        pool_counting_panics(workers, Arc::new(AtomicUsize::new(0)))
    }

    fn pool_counting_panics(workers: usize, panics: Arc<AtomicUsize>) -> Pool {
        Pool {
            workers: Arc::new(tokio::sync::Semaphore::new(workers)),
            health: Arc::new(Health {
                epoch: Instant::now(),
                loop_beat: AtomicU64::new(0),
                last_done: AtomicU64::new(0),
                busy: AtomicUsize::new(0),
                workers: AtomicUsize::new(workers),
            }),
            on_panic: Arc::new(move || {
                panics.fetch_add(1, Ordering::Relaxed);
            }),
        }
    }

    #[test]
    fn the_canned_503_says_its_own_length() {
        let text = std::str::from_utf8(FULL).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let declared: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(declared, body.len());
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["error"], "temporarily_unavailable");
    }

    #[test]
    fn a_panic_in_the_core_answers_500_and_the_workers_go_on() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .thread_name(WORKER_THREAD)
            .build()
            .unwrap();
        let panics = Arc::new(AtomicUsize::new(0));
        let pool = pool_counting_panics(1, panics.clone());
        rt.block_on(async {
            let failed = on_worker(&pool, || panic!("a bug in one request")).await;
            assert_eq!(failed.status, 500);
            assert_eq!(failed.json_body()["error"], "server_error");
            // The one worker slot was given back, and the next request is served.
            let ok = on_worker(&pool, || Reply::json(200, &serde_json::json!({}))).await;
            assert_eq!(ok.status, 200);
        });
        assert_eq!(pool.health.busy.load(Ordering::Relaxed), 0);
        // Counted once (for /metrics and the LED), and not for the request that went well.
        assert_eq!(panics.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_client_that_hangs_up_mid_request_does_not_keep_its_worker_slot() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let pool = pool(1);
        let (started, gate) = (
            Arc::new(std::sync::Barrier::new(2)),
            Arc::new(std::sync::Mutex::new(())),
        );
        let held = gate.lock().unwrap();
        rt.block_on(async {
            let (s, g) = (started.clone(), gate.clone());
            let work = on_worker(&pool, move || {
                s.wait();
                drop(g.lock().unwrap());
                Reply::json(200, &serde_json::json!({}))
            });
            // Polled once: the work is handed to a worker. Then the client hangs up, and
            // hyper drops the future.
            let work = std::pin::pin!(work);
            assert!(tokio::time::timeout(Duration::ZERO, work).await.is_err());
        });
        started.wait();
        assert_eq!(pool.health.busy.load(Ordering::Relaxed), 1, "still running");
        drop(held);
        // Once the work ends, the slot and the busy count are free again.
        rt.block_on(async {
            let ok = on_worker(&pool, || Reply::json(200, &serde_json::json!({}))).await;
            assert_eq!(ok.status, 200);
        });
        assert_eq!(pool.health.busy.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_request_that_cannot_get_a_worker_in_time_is_answered_503() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        let pool = pool(1);
        rt.block_on(async {
            let _held = pool.workers.acquire().await.unwrap();
            // The clock is paused: the wait runs out without a real ten-second wait.
            let busy = on_worker(&pool, || Reply::json(200, &serde_json::json!({}))).await;
            assert_eq!(busy.status, 503);
            assert_eq!(busy.header("Retry-After"), Some("5"));
        });
    }
}
