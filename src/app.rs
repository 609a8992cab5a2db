//! Wiring: turns a parsed command line into a running server or an admin action.
//!
//! The only module that knows every adapter (store, HTTP, admin socket, signals).

use crate::admin::{self, AdminContext, AdminError, AdminRequest};
use crate::cli::{Cli, ClientCommand, Command, HostArgs, KeyCommand, ServeArgs, UserCommand};
use crate::config::{self, Config, ConfigError, Overrides};
use crate::grant::Policy;
use crate::http::Http;
use crate::led::{Led, LedEvent};
use crate::service::{self, unix_now, Service, ServiceError};
use crate::store::{Store, StoreError};
use crate::sys::{self, Host};
use crate::systemd::{Notifier, ServiceState};
use crate::tuning::{self, Profile};
use serde_json::Value;
use std::fmt;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Everything that can end a command, mapped to an exit code in `main`.
#[derive(Debug)]
pub enum AppError {
    /// The configuration is unusable (exit 78, EX_CONFIG: restarting will not help).
    Config(ConfigError),
    /// The store failed.
    Store(StoreError),
    /// Keys or service setup failed.
    Service(ServiceError),
    /// An admin command failed.
    Admin(AdminError),
    /// Binding the port, the socket, or other I/O.
    Io(String),
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AppError::Config(e) => write!(f, "configuration: {e}"),
            AppError::Store(e) => e.fmt(f),
            AppError::Service(e) => e.fmt(f),
            AppError::Admin(e) => e.fmt(f),
            AppError::Io(e) => f.write_str(e),
        }
    }
}

impl std::error::Error for AppError {}

impl From<ConfigError> for AppError {
    fn from(e: ConfigError) -> Self {
        AppError::Config(e)
    }
}
impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        AppError::Store(e)
    }
}
impl From<ServiceError> for AppError {
    fn from(e: ServiceError) -> Self {
        AppError::Service(e)
    }
}
impl From<AdminError> for AppError {
    fn from(e: AdminError) -> Self {
        AppError::Admin(e)
    }
}

impl AppError {
    /// The process exit code.
    pub fn exit_code(&self) -> u8 {
        match self {
            AppError::Config(_) => 78,
            AppError::Admin(AdminError::Invalid(_)) => 2,
            _ => 1,
        }
    }
}

fn load_config(cli: &Cli, serve: Option<&ServeArgs>) -> Result<Config, AppError> {
    let file = match &cli.config {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                ConfigError(format!("cannot read config file {}: {e}", path.display()))
            })?;
            config::parse_file(&text, &path.display().to_string())?
        }
        None => config::FileConfig::default(),
    };
    let mut o = Overrides {
        data_dir: cli.data_dir.clone(),
        ..Overrides::default()
    };
    if let Some(s) = serve {
        o.listen = s.listen.clone();
        o.issuer = s.issuer.clone();
        o.algorithm = s.algorithm.clone();
        o.access_ttl = s.access_ttl;
        o.refresh_ttl = s.refresh_ttl;
        o.log_level = s.log_level.clone();
    }
    Ok(config::resolve(file, o)?)
}

fn policy(cfg: &Config, issuer: String, profile: &Profile) -> Policy {
    Policy {
        issuer,
        access_ttl: cfg.access_ttl,
        refresh_ttl: cfg.refresh_ttl,
        leeway: cfg.leeway,
        password_cost: crate::secret::PasswordCost {
            memory_kib: profile.argon2_memory_kib,
            iterations: profile.argon2_iterations,
        },
    }
}

/// Detects the board and computes the profile, with the config file's overrides.
fn tune(cfg: &Config, host_args: &HostArgs) -> Result<(Host, Profile), AppError> {
    let host = sys::read_host(&sys::Sources {
        cpuinfo: host_args.cpuinfo.clone(),
        meminfo: host_args.meminfo.clone(),
    })
    .map_err(AppError::Io)?;
    let profile = cfg.tuning.apply(tuning::profile(tuning::resources(
        &host.board,
        host.mem_total_bytes,
    )));
    Ok((host, profile))
}

fn board_json(host: &Host, profile: &Profile) -> Value {
    let mut v = serde_json::to_value(&host.board).unwrap_or_default();
    v["mem_total_bytes"] = serde_json::json!(host.mem_total_bytes);
    v["tuning"] = serde_json::to_value(profile).unwrap_or_default();
    v
}

fn init_logging(level: log::LevelFilter) {
    // A second init (tests calling run twice) is harmless.
    let _ = simple_logger::SimpleLogger::new()
        .with_level(level)
        .with_utc_timestamps()
        .init();
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<(), AppError> {
    match &cli.command {
        Command::Serve(args) => {
            let cfg = load_config(&cli, Some(args))?;
            init_logging(cfg.log_level);
            serve(cfg, &args.host)
        }
        Command::Board(args) => {
            let cfg = load_config(&cli, None)?;
            let (host, profile) = tune(&cfg, &args.host)?;
            let out = if args.json {
                format!("{}\n", board_json(&host, &profile))
            } else {
                board_text(&host, &profile)
            };
            let _ = std::io::stdout().write_all(out.as_bytes());
            Ok(())
        }
        command => {
            let cfg = load_config(&cli, None)?;
            init_logging(log::LevelFilter::Warn);
            let (req, json) = admin_request(command)?;
            let value = admin_call(&cfg, req.clone())?;
            print(&req, &value, json);
            Ok(())
        }
    }
}

fn open_data_dir(dir: &Path) -> Result<(), AppError> {
    std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)))
        .map_err(|e| AppError::Io(format!("cannot use data directory {}: {e}", dir.display())))
}

fn default_issuer(addr: std::net::SocketAddr) -> String {
    let host = if addr.ip().is_unspecified() {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".into())
    } else {
        match addr.ip() {
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
            ip => ip.to_string(),
        }
    };
    format!("http://{host}:{}", addr.port())
}

/// Workers come round their loop at least every 500 ms when idle; a request may take a
/// password check longer. Past this, the server counts as wedged.
const WORKER_STALL: Duration = Duration::from_secs(10);

/// How often expired refresh tokens, revocations and keys are swept.
const PURGE_EVERY: Duration = Duration::from_secs(3600);

fn serve(cfg: Config, host_args: &HostArgs) -> Result<(), AppError> {
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
    let store = Store::open(&cfg.data_dir, profile.sled_cache_bytes).map_err(|e| match e {
        StoreError::Locked => AppError::Io(format!(
            "{} is in use by another piauth server; stop it or choose another --data-dir",
            cfg.data_dir.display()
        )),
        e => e.into(),
    })?;
    let http = Http::bind(&cfg.listen).map_err(AppError::Io)?;
    let issuer = cfg
        .issuer
        .clone()
        .unwrap_or_else(|| default_issuer(http.local_addr));
    let policy = policy(&cfg, issuer.clone(), &profile);
    crate::secret::set_password_checks_at_once(profile.password_checks_at_once);
    let ring = service::ensure_keys(&store, &policy, cfg.algorithm)?;
    let purged = store.purge(unix_now())?;
    let service = Arc::new(Service::new(
        store,
        policy,
        cfg.algorithm,
        ring,
        host.board,
        profile,
        led.events(),
    )?);
    let socket = admin::socket_path(&cfg.data_dir);
    admin::serve(&socket, service.clone()).map_err(|e| {
        AppError::Io(format!(
            "cannot open admin socket {}: {e}",
            socket.display()
        ))
    })?;

    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, stop.clone())
            .map_err(|e| AppError::Io(format!("cannot install signal handler: {e}")))?;
    }
    let workers = http
        .spawn(profile.http_workers, service.clone(), stop.clone())
        .map_err(|e| AppError::Io(format!("cannot start workers: {e}")))?;
    let key = service.keys();
    log::info!(
        "signing with {} key {}; {} expired records purged; data in {}",
        key.current().alg,
        key.current().kid,
        purged,
        cfg.data_dir.display()
    );
    log::info!(
        "listening on http://{} (issuer {issuer}) after {} ms",
        http.local_addr,
        started.elapsed().as_millis()
    );

    notifier.notify(ServiceState::Ready);
    led.events().send(LedEvent::Ready);

    let watchdog = notifier.watchdog_interval();
    let mut last_purge = Instant::now();
    let mut last_ping = Instant::now();
    let mut deaf = None;
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(200));
        if let Some(e) = http.accept_failed() {
            // Crash-only: a fresh process gets a fresh accept loop (systemd restarts on
            // failure); staying up would only look healthy.
            log::error!("the HTTP listener stopped accepting connections: {e}; exiting");
            led.events().send(LedEvent::Fault);
            deaf = Some(e);
            stop.store(true, Ordering::Relaxed);
            break;
        }
        if let Some(every) = watchdog {
            // Ping only while the workers are coming round their loop: a wedged server
            // stops pinging and systemd restarts it.
            if last_ping.elapsed() >= every && http.since_last_beat() < WORKER_STALL {
                notifier.notify(ServiceState::Watchdog);
                last_ping = Instant::now();
            }
        }
        if last_purge.elapsed() >= PURGE_EVERY {
            last_purge = Instant::now();
            if let Err(e) = service.store.purge(unix_now()) {
                log::error!("purging expired records failed: {e}");
                led.events().send(LedEvent::Fault);
            }
        }
    }
    log::info!("shutting down");
    notifier.notify(ServiceState::Stopping);
    http.unblock();
    for w in workers {
        let _ = w.join();
    }
    let _ = std::fs::remove_file(&socket);
    let flushed = service.store.flush();
    led.stop();
    flushed?;
    if let Some(e) = deaf {
        return Err(AppError::Io(format!(
            "stopped because the HTTP listener could not accept connections: {e}"
        )));
    }
    log::info!("stopped");
    Ok(())
}

fn read_password_stdin() -> Result<String, AppError> {
    let mut s = String::new();
    std::io::stdin()
        .take(4096)
        .read_to_string(&mut s)
        .map_err(|e| AppError::Io(format!("cannot read the password from standard input: {e}")))?;
    let trimmed = s.strip_suffix('\n').unwrap_or(&s);
    let trimmed = trimmed.strip_suffix('\r').unwrap_or(trimmed);
    Ok(trimmed.to_string())
}

fn admin_request(command: &Command) -> Result<(AdminRequest, bool), AppError> {
    Ok(match command {
        Command::Serve(_) | Command::Board(_) => {
            return Err(AppError::Io("not an admin command".into()))
        }
        Command::Client(c) => match c {
            ClientCommand::Add {
                id,
                grants,
                scopes,
                audiences,
                access_ttl,
                refresh_ttl,
                json,
            } => (
                AdminRequest::ClientAdd {
                    id: id.clone(),
                    grants: grants.clone(),
                    scopes: scopes.clone(),
                    audiences: audiences.clone(),
                    access_ttl: *access_ttl,
                    refresh_ttl: *refresh_ttl,
                },
                *json,
            ),
            ClientCommand::List { json } => (AdminRequest::ClientList, *json),
            ClientCommand::Show { id, json } => {
                (AdminRequest::ClientShow { id: id.clone() }, *json)
            }
            ClientCommand::Remove { id } => (AdminRequest::ClientRemove { id: id.clone() }, false),
            ClientCommand::RotateSecret { id, json } => {
                (AdminRequest::ClientRotateSecret { id: id.clone() }, *json)
            }
            ClientCommand::Disable { id } => (
                AdminRequest::ClientSetDisabled {
                    id: id.clone(),
                    disabled: true,
                },
                false,
            ),
            ClientCommand::Enable { id } => (
                AdminRequest::ClientSetDisabled {
                    id: id.clone(),
                    disabled: false,
                },
                false,
            ),
        },
        Command::User(u) => match u {
            UserCommand::Add { name, scopes, .. } => (
                AdminRequest::UserAdd {
                    name: name.clone(),
                    scopes: scopes.clone(),
                    password: read_password_stdin()?,
                },
                false,
            ),
            UserCommand::List { json } => (AdminRequest::UserList, *json),
            UserCommand::Remove { name } => {
                (AdminRequest::UserRemove { name: name.clone() }, false)
            }
            UserCommand::Passwd { name, .. } => (
                AdminRequest::UserPasswd {
                    name: name.clone(),
                    password: read_password_stdin()?,
                },
                false,
            ),
        },
        Command::Key(k) => match k {
            KeyCommand::List { json } => (AdminRequest::KeyList, *json),
            KeyCommand::Rotate { json } => (AdminRequest::KeyRotate, *json),
            KeyCommand::Secret => (AdminRequest::KeySecret, false),
        },
    })
}

/// Sends the request to the running server, or carries it out on the store directly when
/// no server answers.
fn admin_call(cfg: &Config, req: AdminRequest) -> Result<Value, AppError> {
    let socket = admin::socket_path(&cfg.data_dir);
    if let Some(result) = admin::call_socket(&socket, &req) {
        return Ok(result?);
    }
    let (_, profile) = tune(cfg, &HostArgs::default())?;
    open_data_dir(&cfg.data_dir)?;
    let store = Store::open(&cfg.data_dir, profile.sled_cache_bytes)?;
    // Offline there is no bound port: the issuer only matters for tokens, not for admin.
    let policy = policy(cfg, cfg.issuer.clone().unwrap_or_default(), &profile);
    let pepper = store.pepper()?;
    let ctx = AdminContext {
        store: &store,
        pepper: &pepper,
        policy: &policy,
        algorithm: cfg.algorithm,
    };
    let (value, _) = admin::execute(req, &ctx)?;
    store.flush()?;
    Ok(value)
}

fn board_text(host: &Host, p: &Profile) -> String {
    let b = &host.board;
    let opt = |o: Option<&str>| o.unwrap_or("-").to_string();
    format!(
        "board:          {}\nraspberry pi:   {}\nrevision:       {} ({} scheme{})\ntype:           {}\nmemory:         {}\nprocessor:      {}\nmanufacturer:   {}\nboard revision: {}\ncores:          {}\nMemTotal:       {} MiB\nwhy:            {}\n\ntuning:\n  sled cache:           {} KiB\n  HTTP workers:         {}\n  max connections:      {}\n  Argon2id:             {} KiB x {} passes, {} at once\n  max body:             {} bytes\n  max refresh families: {}\n",
        opt(b.code.model.as_deref().or(b.reported_model.as_deref())),
        if b.is_raspberry_pi { "yes" } else { "no" },
        opt(b.revision.as_deref()),
        b.code.scheme.as_str(),
        if b.code.warranty_bit { ", warranty bit set" } else { "" },
        opt(b.code.type_name.as_deref()),
        b.code.memory_mb.map(|m| format!("{m} MB")).unwrap_or_else(|| "-".into()),
        opt(b.code.processor),
        opt(b.code.manufacturer),
        opt(b.code.board_revision.as_deref()),
        b.cores,
        host.mem_total_bytes / (1024 * 1024),
        b.reason,
        p.sled_cache_bytes / 1024,
        p.http_workers,
        p.max_connections,
        p.argon2_memory_kib,
        p.argon2_iterations,
        p.password_checks_at_once,
        p.max_body_bytes,
        p.max_refresh_families,
    )
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        Value::Array(a) => a.iter().map(text).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

fn print(req: &AdminRequest, v: &Value, json: bool) {
    let out = if json {
        format!("{v}\n")
    } else {
        match req {
            AdminRequest::ClientAdd { .. } | AdminRequest::ClientRotateSecret { .. } => format!(
                "client_id:     {}\nclient_secret: {}\nThe secret is shown only this once: store it now.\n",
                text(&v["client_id"]),
                text(&v["client_secret"])
            ),
            AdminRequest::ClientList | AdminRequest::UserList | AdminRequest::KeyList => {
                let rows = v.as_array().cloned().unwrap_or_default();
                let mut s = String::new();
                for row in rows {
                    let fields: Vec<String> = row
                        .as_object()
                        .map(|o| o.iter().map(|(k, val)| format!("{k}={}", text(val))).collect())
                        .unwrap_or_default();
                    s.push_str(&fields.join("  "));
                    s.push('\n');
                }
                s
            }
            AdminRequest::KeySecret => format!("{}\n", text(&v["secret"])),
            _ => {
                let fields: Vec<String> = v
                    .as_object()
                    .map(|o| o.iter().map(|(k, val)| format!("{k}: {}", text(val))).collect())
                    .unwrap_or_default();
                format!("{}\n", fields.join("\n"))
            }
        }
    };
    // A closed pipe (`piauth client list | head`) is not an error.
    let _ = std::io::stdout().write_all(out.as_bytes());
}
