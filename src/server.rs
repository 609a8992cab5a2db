//! The running server: opens the store, binds the port, starts the workers, the admin
//! socket and the LED, then watches them until a signal or a dead listener ends it.

use crate::adapters::admin;
use crate::adapters::host::sys::{self, Host};
use crate::adapters::host::systemd::{Notifier, ServiceState};
use crate::adapters::http::Http;
use crate::adapters::led::{Led, LedEvent};
use crate::adapters::service::{self, unix_now, Service};
use crate::adapters::store::Store;
use crate::board::tuning::{self, Profile};
use crate::cli::HostArgs;
use crate::config::Config;
use crate::error::AppError;
use crate::jose::keys::SigningAlg;
use crate::protocol::clock::ClockState;
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Creates the data directory, private from the start, if it is not there. An existing
/// one is made private by `Store::open`, which says so.
pub fn open_data_dir(dir: &Path) -> Result<(), AppError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(AppError::io(format!(
            "use data directory {}",
            dir.display()
        )))
}

fn default_issuer(addr: std::net::SocketAddr, scheme: &str) -> String {
    let host = if addr.ip().is_unspecified() {
        crate::adapters::host::sys::hostname().unwrap_or_else(|| "localhost".into())
    } else {
        match addr.ip() {
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
            ip => ip.to_string(),
        }
    };
    format!("{scheme}://{host}:{}", addr.port())
}

/// The certificate `cfg` serves, made first if piauth makes it and has not yet: for the
/// host's names and addresses, from the trusted time (never before the build).
pub fn tls_identity(cfg: &Config) -> Result<crate::adapters::tls::Identity, AppError> {
    let addresses: Vec<std::net::IpAddr> = if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .map(|i| i.ip())
        // Link-local IPv6 addresses are different on every link: no use in a certificate.
        .filter(|ip| !matches!(ip, std::net::IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80))
        .collect();
    let names = crate::adapters::tls::certificate_names(
        crate::adapters::host::sys::hostname().as_deref(),
        &addresses,
        &cfg.tls_names,
    );
    open_data_dir(&cfg.data_dir)?;
    let now = crate::adapters::service::unix_now().max(crate::protocol::clock::BUILD_FLOOR);
    Ok(crate::adapters::tls::Identity::load(
        &cfg.tls_source,
        &names,
        now,
    )?)
}

/// Starts the ES256 nonce pool if the current or the next key signs ES256. One nonce for
/// each connection the server holds: a burst of every device at once, after a power cut,
/// signs from the pool; 64 bytes each (8 KiB on a Pi 1). Not for other algorithms: there
/// the filler's work would only compete with requests (-8% HS256 tokens/s on ARMv6 while
/// it filled).
fn keep_es256_nonces(keys: &crate::jose::keys::KeyRing, now: u64, connections: usize) {
    if !keys.signs_soon_with(SigningAlg::Es256, now) {
        return;
    }
    let started = Instant::now();
    crate::jose::crypto::start_nonce_pool(
        connections,
        crate::adapters::host::sys::lowest_priority_for_this_thread,
        move |n| {
            log::info!(
                "es256: {n} nonces ready after {} ms",
                started.elapsed().as_millis()
            )
        },
    );
}

/// How often the operator's certificate files are looked at for a renewal.
const CERTIFICATE_LOOK_EVERY: Duration = Duration::from_secs(5);

/// The operator's certificate files, watched for a renewal (certbot, lego, a LAN CA): a new
/// pair is served from the next handshake without dropping a connection; a bad one leaves
/// the old pair in service, and the log and `/health` say why.
struct CertificateWatch {
    live: Arc<crate::adapters::tls::Live>,
    source: crate::adapters::tls::Source,
    stamp: Option<Vec<(std::time::SystemTime, u64)>>,
    looked: Instant,
    serving: crate::protocol::CertificateFacts,
}

impl CertificateWatch {
    fn new(
        live: Arc<crate::adapters::tls::Live>,
        source: &crate::adapters::tls::Source,
        identity: &Option<crate::adapters::tls::Identity>,
    ) -> CertificateWatch {
        CertificateWatch {
            live,
            stamp: crate::adapters::tls::files_stamp(source),
            source: source.clone(),
            looked: Instant::now(),
            serving: identity
                .as_ref()
                .map(crate::adapters::tls::Identity::facts)
                .unwrap_or_else(|| crate::protocol::CertificateFacts {
                    pem: String::new(),
                    fingerprint: String::new(),
                    reload_error: None,
                }),
        }
    }

    /// Reloads when the files changed since the last look, or at once on SIGHUP.
    fn look(&mut self, service: &Service, hangup: bool) {
        if !hangup && self.looked.elapsed() < CERTIFICATE_LOOK_EVERY {
            return;
        }
        self.looked = Instant::now();
        let stamp = crate::adapters::tls::files_stamp(&self.source);
        if stamp.is_none() && !matches!(self.source, crate::adapters::tls::Source::Files { .. }) {
            return; // piauth's own certificate: nothing renews it.
        }
        if !hangup && stamp == self.stamp {
            return;
        }
        self.stamp = stamp;
        let loaded = crate::adapters::tls::Identity::load(&self.source, &[], 0)
            .and_then(|id| self.live.replace(&id).map(|()| id));
        match loaded {
            // The state first, then the line: whoever reads the line finds /health agree.
            Ok(id) => {
                self.serving = id.facts();
                service.set_certificate(Some(self.serving.clone()));
                log::info!(
                    "TLS certificate reloaded; SHA-256 fingerprint {}",
                    self.serving.fingerprint
                );
            }
            Err(e) => {
                service.set_certificate(Some(crate::protocol::CertificateFacts {
                    reload_error: Some(e.to_string()),
                    ..self.serving.clone()
                }));
                log::error!(
                    "the new TLS certificate is not taken, the previous one still serves: {e}"
                );
            }
        }
    }
}

/// OpenID Connect's default ID-token algorithm, RS256, needs an RSA key, which takes seconds
/// to make on a Pi 1: it is made once, on a thread at the lowest priority, after the listener
/// is up, so that neither the start nor a first access token waits for it. Until it is there,
/// an app asking for RS256 ID tokens is told to try again (protocol/browser/authorize.rs,
/// protocol/token/issue.rs).
fn make_id_key_ahead(service: &Arc<Service>) {
    let ready = |ring: &crate::jose::keys::KeyRing| {
        ring.id_signer(SigningAlg::Rs256, unix_now())
            .map(|k| k.kid.clone())
    };
    if let Some(kid) = ready(&service.keys()) {
        log::info!("ID tokens: RS256 key {kid}");
        return;
    }
    let service = service.clone();
    let spawned = std::thread::Builder::new()
        .name("id-key".into())
        .spawn(move || {
            crate::adapters::host::sys::lowest_priority_for_this_thread();
            let started = Instant::now();
            let made = service::ensure_id_key(&service.store, SigningAlg::Rs256)
                .and_then(|_| service.reload_keys());
            match (made, ready(&service.keys())) {
                (Ok(()), Some(kid)) => log::info!(
                    "ID tokens: RS256 key {kid}, made in {} ms",
                    started.elapsed().as_millis()
                ),
                (Err(e), _) => log::error!("making the RS256 ID-token key failed: {e}"),
                (Ok(()), None) => {
                    log::error!("the RS256 ID-token key was made but is not in the ring")
                }
            }
        });
    if let Err(e) = spawned {
        log::error!("cannot start the thread that makes the RS256 ID-token key: {e}");
    }
}

/// `key_rotation_days`: once the current key has signed that long and no next key waits,
/// schedules one, staged like `key rotate`. False if that failed.
fn rotate_when_due(service: &Service, days: u64) -> bool {
    let now = unix_now();
    let ring = service.keys();
    let due = crate::jose::keys::rotation_due(&ring, now, days);
    if !due {
        return true;
    }
    let done = service::rotate_key(&service.store, &service.policy, service.algorithm, false)
        .map_err(|e| e.to_string())
        .and_then(|(kid, from)| {
            service.reload_keys().map_err(|e| e.to_string())?;
            Ok((kid, from))
        });
    match done {
        Ok((kid, from)) => {
            log::info!(
                "key_rotation_days ({days}) reached: key {kid} published, signs in {} s",
                from.saturating_sub(now)
            );
            true
        }
        Err(e) => {
            log::error!("automatic key rotation failed: {e}; trying again in an hour");
            false
        }
    }
}

/// The event loop ticks at least every 500 ms, and a request may take a password check
/// longer; past this with nothing done, the server counts as wedged.
const WORKER_STALL: Duration = Duration::from_secs(10);

/// How often expired refresh tokens, revocations and keys are swept.
const PURGE_EVERY: Duration = Duration::from_secs(3600);

/// Watches the clock from the server loop: judges it once a second, says when its state
/// changes or it jumps back, and keeps the LED showing a fault while it is not trusted.
struct ClockWatch {
    require_synced: bool,
    /// The kernel has reported the clock synchronised since start: it stays trusted even
    /// if NTP is lost later (the kernel flags a clock unsynchronised about 9 hours after
    /// its last update, while it still keeps good time), unless it goes back.
    was_synced: bool,
    state: Option<ClockState>,
    trusted_since: Option<Instant>,
    last_look: Option<Instant>,
    last_now: u64,
    last_blink: Option<Instant>,
}

impl ClockWatch {
    fn new(require_synced: bool) -> ClockWatch {
        ClockWatch {
            require_synced,
            was_synced: false,
            state: None,
            trusted_since: None,
            last_look: None,
            last_now: 0,
            last_blink: None,
        }
    }

    fn look(&mut self, service: &Service, led: &Led) {
        if self
            .last_look
            .is_some_and(|t| t.elapsed() < Duration::from_secs(1))
        {
            return;
        }
        self.last_look = Some(Instant::now());
        let now = unix_now();
        if self.last_now > now.saturating_add(1) {
            log::warn!("the clock went back {} s", self.last_now - now);
            self.was_synced = false;
        }
        self.last_now = now;
        let synced = if self.require_synced {
            let kernel = crate::adapters::host::sys::kernel_clock_synchronized();
            if kernel.is_none() && self.state.is_none() {
                log::warn!("cannot ask the kernel whether the clock is synchronised (adjtimex)");
            }
            self.was_synced |= kernel == Some(true);
            if self.was_synced {
                Some(true)
            } else {
                kernel
            }
        } else {
            None
        };
        let state = ClockState::judge(
            now,
            crate::protocol::clock::BUILD_FLOOR,
            self.require_synced,
            synced,
        );
        service.set_clock(state);
        if self.state != Some(state) {
            if state == ClockState::Ok {
                log::info!("clock trusted: tokens are minted");
                self.trusted_since = Some(Instant::now());
            } else {
                log::warn!("not minting tokens: {} (Unix time {now})", state.why());
                self.trusted_since = None;
            }
            self.state = Some(state);
        }
        if state != ClockState::Ok
            && self
                .last_blink
                .is_none_or(|t| t.elapsed() >= Duration::from_secs(5))
        {
            self.last_blink = Some(Instant::now());
            led.events().send(LedEvent::Fault);
        }
    }

    fn trusted_for(&self) -> Duration {
        self.trusted_since.map_or(Duration::ZERO, |t| t.elapsed())
    }
}

/// Runs the server until SIGTERM or SIGINT.
pub fn serve(cfg: Config, host_args: &HostArgs) -> Result<(), AppError> {
    let started = Instant::now();
    let (host, profile) = tune(&cfg, host_args)?;
    log::info!(
        "board: {} ({}); tuning: {}",
        host.board
            .code
            .model
            .as_deref()
            .unwrap_or("not a Raspberry Pi"),
        host.board.reason,
        serde_json::to_string(&profile).unwrap_or_default()
    );
    let notifier = Notifier::from_env();
    let led = Led::start(cfg.led);
    led.events().send(LedEvent::Starting);
    open_data_dir(&cfg.data_dir)?;
    let store = Store::open(&cfg.data_dir, profile.sled_cache_bytes)?;
    let http = Http::bind(&cfg.listen)?;
    let tls = match cfg.tls.serves_tls(http.local_addr.ip()) {
        true => Some(tls_identity(&cfg)?),
        false => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let issuer = cfg
        .issuer
        .clone()
        .unwrap_or_else(|| default_issuer(http.local_addr, scheme));
    let mut policy = cfg.policy(issuer.clone(), &profile);
    if cfg.operator_allow.is_none() {
        policy.operator_allow =
            crate::protocol::operator::access::default_for(&issuer, tls.is_some());
        if policy.operator_allow.is_empty() {
            log::warn!(
                "the operator's pages: piauth serves plain HTTP under an https issuer (a proxy in \
                 front), so every request comes from the proxy's address; they answer 403 until \
                 operator_allow names who may reach them"
            );
        }
    }
    crate::jose::secret::set_password_checks_at_once(profile.password_checks_at_once);
    let ring = service::ensure_keys(&store, &policy, cfg.algorithm)?;
    let service = Arc::new(
        Service::new(
            store,
            policy,
            cfg.algorithm,
            ring,
            host.board,
            profile,
            led.events(),
        )?
        .with_access_log(cfg.access_log),
    );
    let socket = admin::socket_path(&cfg.data_dir);
    admin::serve(&socket, service.clone()).map_err(AppError::io(format!(
        "open admin socket {}",
        socket.display()
    )))?;

    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, stop.clone())
            .map_err(AppError::io("install a signal handler"))?;
    }
    // SIGHUP (systemctl reload piauth): read the operator's certificate files again now.
    let hangup = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGHUP, hangup.clone())
        .map_err(AppError::io("install a signal handler"))?;
    let limits = crate::adapters::http::Limits {
        workers: profile.http_workers,
        max_connections: profile.max_connections,
        max_connections_per_address: profile.max_connections_per_address,
        max_body_bytes: profile.max_body_bytes,
        head_timeout: cfg.head_timeout,
        body_timeout: cfg.body_timeout,
    };
    // The clock is judged before the first request can arrive.
    let require_synced = cfg
        .require_synced_clock
        .unwrap_or(service.board.is_raspberry_pi);
    let mut clock = ClockWatch::new(require_synced);
    clock.look(&service, &led);
    match &tls {
        Some(identity) => log::info!(
            "serving HTTPS; certificate SHA-256 fingerprint {}",
            identity.fingerprint()
        ),
        None if http.local_addr.ip().is_loopback() => {
            log::info!("serving plain HTTP on loopback (a TLS proxy in front, or local use)")
        }
        None => log::warn!(
            "serving plain HTTP on {}: passwords, client secrets and tokens cross the network \
             readable by anyone on it; set tls = \"auto\" unless a TLS proxy is in front",
            http.local_addr
        ),
    }
    let live = tls
        .as_ref()
        .map(crate::adapters::tls::Live::new)
        .transpose()?;
    service.set_certificate(tls.as_ref().map(crate::adapters::tls::Identity::facts));
    let mut certificate = live.map(|live| CertificateWatch::new(live, &cfg.tls_source, &tls));
    let tls = certificate
        .as_ref()
        .map(|w| w.live.server_config())
        .transpose()?;
    // A running server rotates only to its own `algorithm`, so this is decided once: a
    // change to ES256 takes a restart, which stages the ES256 key and fills the pool now.
    let keys = service.keys();
    let now = unix_now();
    keep_es256_nonces(&keys, now, profile.max_connections);
    let key = keys.current(now);
    let serving = http.spawn(limits, service.clone(), stop.clone(), tls)?;
    make_id_key_ahead(&service);
    log::info!(
        "signing with {} key {}; data in {}",
        key.alg,
        key.kid,
        cfg.data_dir.display()
    );
    log::info!(
        "listening on {scheme}://{} (issuer {issuer}) after {} ms",
        http.local_addr,
        started.elapsed().as_millis()
    );

    notifier.notify(ServiceState::Ready);
    led.events().send(LedEvent::Ready);

    let watchdog = notifier.watchdog_interval();
    let mut last_purge: Option<Instant> = None;
    let mut next_rotation_try: Option<Instant> = None;
    let mut last_ping = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(200));
        if serving.is_finished() {
            // The event loop ended on its own: staying up would only look healthy.
            log::error!("the HTTP server stopped; exiting");
            led.events().send(LedEvent::Fault);
            stop.store(true, Ordering::Relaxed);
            break;
        }
        if let Some(every) = watchdog {
            // Ping only while requests are being served: a wedged server stops pinging
            // and systemd restarts it.
            if last_ping.elapsed() >= every && http.stalled_for() < WORKER_STALL {
                notifier.notify(ServiceState::Watchdog);
                last_ping = Instant::now();
            }
        }
        clock.look(&service, &led);
        if let Some(w) = certificate.as_mut() {
            w.look(&service, hangup.swap(false, Ordering::Relaxed));
        }
        // Automatic rotation counts days by the clock: only once it is trusted, and after a
        // failure (a full disk, say) not again for an hour rather than every tick.
        if let Some(days) = cfg.key_rotation_days {
            let trusted = clock.trusted_for() > Duration::ZERO;
            if trusted
                && next_rotation_try.is_none_or(|t| Instant::now() >= t)
                && !rotate_when_due(&service, days)
            {
                next_rotation_try = Some(Instant::now() + Duration::from_secs(3600));
            }
        }
        // A store whose disk refused a write opens itself again once it can, idle or not;
        // until then the LED shows a fault (and /health says so).
        service.store.recover_if_due();
        if service.store.failing().is_some() {
            led.events().send(LedEvent::Fault);
        }
        // Purging goes by the clock: only once it has been trusted for a while, so that a
        // clock set far ahead for a moment does not purge every refresh family.
        if clock.trusted_for() >= Duration::from_secs(crate::protocol::clock::TRUSTED_BEFORE_PURGE)
            && last_purge.is_none_or(|t| t.elapsed() >= PURGE_EVERY)
        {
            last_purge = Some(Instant::now());
            if let Err(e) = service.store.purge(unix_now()) {
                log::error!("purging expired records failed: {e}");
                led.events().send(LedEvent::Fault);
            }
        }
    }
    log::info!("shutting down");
    notifier.notify(ServiceState::Stopping);
    let _ = serving.join();
    let _ = std::fs::remove_file(&socket);
    let flushed = service.store.flush();
    led.stop();
    flushed?;
    log::info!("stopped");
    Ok(())
}

/// Detects the board and computes the profile, with the config file's overrides.
pub fn tune(cfg: &Config, host_args: &HostArgs) -> Result<(Host, Profile), AppError> {
    let host = sys::read_host(&sys::Sources {
        cpuinfo: host_args.cpuinfo.clone(),
        meminfo: host_args.meminfo.clone(),
    })?;
    let profile = cfg.tuning.apply(tuning::profile(tuning::resources(
        &host.board,
        host.mem_total_bytes,
    )));
    Ok((host, profile))
}
