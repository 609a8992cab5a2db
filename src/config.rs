//! Configuration: built-in defaults, then the TOML file, then command-line flags.
//!
//! Every key is defined once, in the `config_keys!` table below: its TOML name, its type,
//! its flag, its default and its documentation. From that one table come the config file's
//! shape (unknown keys are errors, so a typo is reported instead of ignored), the flags of
//! `serve` and `--data-dir`, and [`keys`], which a test holds docs/reference.md's table to.
//! [`resolve`] is pure: the caller reads the file and hands in its text.
//!
//! One file, a little over 700 lines: the key table, the layering and the checks are read
//! together whenever a key is added; its tests are in `config/tests.rs`.

use crate::adapters::led::LedSpec;
use crate::board::tuning::Profile;
use crate::jose::keys::SigningAlg;
use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};

/// Where data lives when nothing says otherwise: beside the working directory, so that
/// `cargo run -- serve` works on a fresh checkout with no setup.
pub const DEFAULT_DATA_DIR: &str = "./piauth-data";
/// All interfaces, because LAN devices must reach it; an unprivileged port.
pub const DEFAULT_LISTEN: &str = "0.0.0.0:8420";
/// 15 minutes: short enough that a leaked access token soon dies, long enough that a
/// device does not refresh constantly.
pub const DEFAULT_ACCESS_TTL: u64 = 15 * 60;
/// 30 days of inactivity before a device must authenticate from scratch.
pub const DEFAULT_REFRESH_TTL: u64 = 30 * 24 * 3600;
/// Home devices without RTC batteries drift; 60 s of skew is tolerated.
pub const DEFAULT_LEEWAY: u64 = 60;

/// What a key falls back to when neither the file nor a flag sets it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fallback<T> {
    /// This value.
    Value(T),
    /// The board's tuning profile.
    Board,
    /// Nothing: the feature is off.
    Unset,
    /// Computed at start-up, as described.
    Derived(&'static str),
}

/// How a value is shown in the documentation.
pub trait Shown {
    /// The value as docs/reference.md writes it.
    fn shown(&self) -> String;
}

macro_rules! shown_by_display {
    ($($t:ty),*) => {$(
        impl Shown for $t {
            fn shown(&self) -> String {
                format!("`{self}`")
            }
        }
    )*};
}
shown_by_display!(String, u64, u32, usize, bool);

impl Shown for PathBuf {
    fn shown(&self) -> String {
        format!("`{}`", self.display())
    }
}

impl Shown for Vec<String> {
    fn shown(&self) -> String {
        format!("`{self:?}`")
    }
}

impl<T> Fallback<T> {
    fn value(self) -> Option<T> {
        match self {
            Fallback::Value(v) => Some(v),
            _ => None,
        }
    }
}

impl<T: Shown> Fallback<T> {
    fn shown(&self) -> String {
        match self {
            Fallback::Value(v) => v.shown(),
            Fallback::Board => "from the board".into(),
            Fallback::Unset => "unset".into(),
            Fallback::Derived(how) => (*how).into(),
        }
    }
}

/// One documented key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyDoc {
    /// The TOML name.
    pub name: &'static str,
    /// The flag that overrides it.
    pub flag: String,
    /// The default, as documented.
    pub default: String,
    /// What it does.
    pub doc: String,
}

/// Where a value came from, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A command-line flag.
    Flag,
    /// The config file, at this line.
    File(usize),
    /// The built-in default.
    Default,
}

/// One resolved setting: its value, if any, and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting<T> {
    /// The value (`None`: from the board, or unset).
    pub value: Option<T>,
    /// Its origin.
    pub origin: Origin,
}

/// The 1-based line of byte `offset`.
fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()
        .iter()
        .take(offset)
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

fn setting<T>(
    flag: Option<T>,
    file: Option<toml::Spanned<T>>,
    text: &str,
    fallback: Fallback<T>,
) -> Setting<T> {
    if let Some(v) = flag {
        return Setting {
            value: Some(v),
            origin: Origin::Flag,
        };
    }
    if let Some(v) = file {
        let line = line_of(text, v.span().start);
        return Setting {
            value: Some(v.into_inner()),
            origin: Origin::File(line),
        };
    }
    Setting {
        value: fallback.value(),
        origin: Origin::Default,
    }
}

macro_rules! config_keys {
    (
        global { $($(#[doc = $gdoc:literal])* $gname:ident : $gty:ty = $gdefault:expr, $gvalue:literal;)* }
        serve { $($(#[doc = $doc:literal])* $name:ident : $ty:ty = $default:expr, $value:literal;)* }
    ) => {
        /// The config file as written; each value keeps its place for error messages.
        #[derive(Debug, Default, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct FileConfig {
            $($(#[doc = $gdoc])* #[serde(default)] pub $gname: Option<toml::Spanned<$gty>>,)*
            $($(#[doc = $doc])* #[serde(default)] pub $name: Option<toml::Spanned<$ty>>,)*
        }

        /// Flags every command takes.
        #[derive(Debug, Default, Clone, clap::Args)]
        pub struct GlobalFlags {
            $($(#[doc = $gdoc])* #[arg(long, global = true, value_name = $gvalue)] pub $gname: Option<$gty>,)*
        }

        /// Flags of `serve`: every other key.
        #[derive(Debug, Default, Clone, clap::Args)]
        pub struct ServeFlags {
            $($(#[doc = $doc])* #[arg(long, value_name = $value)] pub $name: Option<$ty>,)*
        }

        /// Every key after merging flags over the file over the defaults.
        #[derive(Debug, Clone)]
        pub struct Settings {
            $($(#[doc = $gdoc])* pub $gname: Setting<$gty>,)*
            $($(#[doc = $doc])* pub $name: Setting<$ty>,)*
        }

        fn merge(global: &GlobalFlags, serve: &ServeFlags, file: FileConfig, text: &str) -> Settings {
            Settings {
                $($gname: setting(global.$gname.clone(), file.$gname, text, $gdefault),)*
                $($name: setting(serve.$name.clone(), file.$name, text, $default),)*
            }
        }

        /// Every key, as docs/reference.md documents it.
        pub fn keys() -> Vec<KeyDoc> {
            vec![
                $(key_doc::<$gty>(stringify!($gname), $gdefault, &[$($gdoc),*]),)*
                $(key_doc::<$ty>(stringify!($name), $default, &[$($doc),*]),)*
            ]
        }
    };
}

fn key_doc<T: Shown>(name: &'static str, fallback: Fallback<T>, doc: &[&str]) -> KeyDoc {
    KeyDoc {
        name,
        flag: format!("--{}", name.replace('_', "-")),
        default: fallback.shown(),
        doc: doc.iter().map(|l| l.trim()).collect::<Vec<_>>().join(" "),
    }
}

config_keys! {
    global {
        /// Store, keys and admin socket (made mode 0700).
        data_dir: PathBuf = Fallback::Value(PathBuf::from(DEFAULT_DATA_DIR)), "DIR";
    }
    serve {
        /// Address and port to listen on (`127.0.0.1:0` picks a free port).
        listen: String = Fallback::Value(DEFAULT_LISTEN.into()), "ADDR";
        /// `iss`, a default audience, and the base of the metadata URLs.
        issuer: String = Fallback::Derived("`https://<hostname>:<port>` (`http` without TLS)"), "URL";
        /// `auto`: HTTPS unless `listen` is a loopback address; `on`; `off`: plain HTTP
        /// (behind a proxy).
        tls: String = Fallback::Value("auto".into()), "MODE";
        /// PEM certificate chain to serve, leaf first, with `tls_key`; unset, piauth makes
        /// a certificate at first start (`<data_dir>/tls.pem`).
        tls_cert: PathBuf = Fallback::Unset, "FILE";
        /// PEM private key of `tls_cert`.
        tls_key: PathBuf = Fallback::Unset, "FILE";
        /// More host names and addresses for the certificate piauth makes.
        tls_names: Vec<String> = Fallback::Unset, "NAME";
        /// Signing algorithm: `ES256`, `EdDSA`, `RS256`, `PS256` or `HS256`.
        algorithm: String = Fallback::Value("ES256".into()), "ALG";
        /// Access-token lifetime in seconds (1 to 86400).
        access_ttl: u64 = Fallback::Value(DEFAULT_ACCESS_TTL), "SECS";
        /// Refresh-token lifetime in seconds; each rotation starts a new period, so an idle
        /// device logs in again after it.
        refresh_ttl: u64 = Fallback::Value(DEFAULT_REFRESH_TTL), "SECS";
        /// Clock skew allowed on `exp` and `nbf`, in seconds (0 to 600).
        leeway: u64 = Fallback::Value(DEFAULT_LEEWAY), "SECS";
        /// Seconds verifiers may cache the JWKS (its `max-age`); a rotated key is published
        /// that long (and a tenth more) before it signs (1 to 86400).
        jwks_max_age: u64 = Fallback::Value(300), "SECS";
        /// Rotate the signing key every this many days, staged like `key rotate`; unset:
        /// only by hand.
        key_rotation_days: u64 = Fallback::Unset, "DAYS";
        /// Seconds after a rotation in which a device that lost the answer may present the
        /// replaced refresh token again and get the same new one (0 to 60; 0: never).
        refresh_grace: u64 = Fallback::Value(5), "SECS";
        /// Log level: `off`, `error`, `warn`, `info`, `debug` or `trace`.
        log_level: String = Fallback::Value("info".into()), "LEVEL";
        /// Log a line for every request and every token issued (at `info`). Off, the log
        /// (the journal, on the SD card) holds failures, refusals, sign-ins and admin
        /// changes only; `piauth audit` keeps the recent issuances either way.
        access_log: bool = Fallback::Value(false), "BOOL";
        /// Status LED: `none`, `act` or `gpio:N` (BCM pin 0-53).
        led: String = Fallback::Value("none".into()), "LED";
        /// The GPIO LED lights when the pin is low (wired to 3V3).
        led_active_low: bool = Fallback::Value(false), "BOOL";
        /// Seconds a client has to send a request head, and the longest a keep-alive
        /// connection may sit idle (1 to 300).
        head_timeout: u64 = Fallback::Value(10), "SECS";
        /// Seconds a client has to send a request body once its head has arrived (1 to 300).
        body_timeout: u64 = Fallback::Value(10), "SECS";
        /// Refuse to mint until the kernel reports the clock synchronised (NTP); on for a
        /// Raspberry Pi, which has no battery-backed clock, off elsewhere.
        require_synced_clock: bool = Fallback::Board, "BOOL";
        /// Scopes the metadata advertises; unset, the metadata lists none.
        scopes_supported: Vec<String> = Fallback::Unset, "SCOPE";
        /// Serve `/metrics` in the Prometheus text format (to anyone who can reach the
        /// server).
        metrics: bool = Fallback::Value(false), "BOOL";
        /// Serve the operator's pages (`/operator`), where an operator signed in as a user
        /// added with `--admin` manages piauth from a browser.
        operator_pages: bool = Fallback::Value(true), "BOOL";
        /// Where the operator's pages may be reached from: networks (`192.168.1.0/24`),
        /// addresses, `loopback`, `lan` (the private ranges).
        operator_allow: Vec<String> = Fallback::Derived("`[\"loopback\", \"lan\"]`"), "NET";
        /// sled page cache, bytes.
        sled_cache_bytes: u64 = Fallback::Board, "BYTES";
        /// HTTP worker threads (1 to 256).
        http_workers: usize = Fallback::Board, "N";
        /// Open connections at most; past it a new one gets `503` (at least 1).
        max_connections: usize = Fallback::Board, "N";
        /// Open connections from one address at most (at least 1).
        max_connections_per_address: usize = Fallback::Board, "N";
        /// Argon2id memory per password check, KiB (at least 8).
        argon2_memory_kib: u32 = Fallback::Board, "KIB";
        /// Argon2id passes (at least 1).
        argon2_iterations: u32 = Fallback::Board, "N";
        /// Password checks hashing at once (1 to 256).
        password_checks_at_once: usize = Fallback::Board, "N";
        /// Largest request body accepted, bytes (at least 512).
        max_body_bytes: usize = Fallback::Board, "BYTES";
        /// Most refresh-token families kept (at least 1).
        max_refresh_families: usize = Fallback::Board, "N";
        /// Verified access tokens remembered by introspection (0: off; at most 1000000).
        token_cache_entries: usize = Fallback::Board, "N";
    }
}

/// Overrides of [`Profile`] values; unset ones come from the board.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TuningOverrides {
    /// sled page cache, bytes.
    pub sled_cache_bytes: Option<u64>,
    /// HTTP worker threads.
    pub http_workers: Option<usize>,
    /// Open-connection cap.
    pub max_connections: Option<usize>,
    /// Open connections from one address.
    pub max_connections_per_address: Option<usize>,
    /// Argon2id memory cost for passwords, KiB.
    pub argon2_memory_kib: Option<u32>,
    /// Argon2id iterations.
    pub argon2_iterations: Option<u32>,
    /// Password checks hashing at once.
    pub password_checks_at_once: Option<usize>,
    /// Largest accepted request body.
    pub max_body_bytes: Option<usize>,
    /// Most refresh-token families kept.
    pub max_refresh_families: Option<usize>,
    /// Verified access tokens remembered for introspection; 0 turns the cache off.
    pub token_cache_entries: Option<usize>,
}

impl TuningOverrides {
    /// The profile with these overrides applied.
    pub fn apply(&self, p: Profile) -> Profile {
        Profile {
            sled_cache_bytes: self.sled_cache_bytes.unwrap_or(p.sled_cache_bytes),
            http_workers: self.http_workers.unwrap_or(p.http_workers),
            max_connections: self.max_connections.unwrap_or(p.max_connections),
            max_connections_per_address: self
                .max_connections_per_address
                .unwrap_or(p.max_connections_per_address),
            argon2_memory_kib: self.argon2_memory_kib.unwrap_or(p.argon2_memory_kib),
            argon2_iterations: self.argon2_iterations.unwrap_or(p.argon2_iterations),
            password_checks_at_once: self
                .password_checks_at_once
                .unwrap_or(p.password_checks_at_once),
            max_body_bytes: self.max_body_bytes.unwrap_or(p.max_body_bytes),
            max_refresh_families: self.max_refresh_families.unwrap_or(p.max_refresh_families),
            token_cache_entries: self.token_cache_entries.unwrap_or(p.token_cache_entries),
        }
    }
}

/// What is wrong with a configuration.
#[derive(Debug)]
pub enum Problem {
    /// The file could not be read.
    Unreadable(std::io::Error),
    /// The file is not TOML of the expected shape (the parser's words).
    Syntax(String),
    /// A value outside what the key accepts; says what it accepts.
    Value(String),
}

/// A configuration that cannot be used: the file, the line and the key, when known, and
/// what is wrong.
#[derive(Debug)]
pub struct ConfigError {
    /// The config file.
    pub file: Option<PathBuf>,
    /// The line in it.
    pub line: Option<usize>,
    /// The key.
    pub key: Option<&'static str>,
    /// Whether the value came from a flag.
    pub from_flag: bool,
    /// What is wrong.
    pub problem: Problem,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, self.line) {
            (Some(file), Some(line)) => write!(f, "{}:{line}: ", file.display())?,
            (Some(file), None) => write!(f, "{}: ", file.display())?,
            _ => {}
        }
        if let Some(key) = self.key {
            if self.from_flag {
                write!(f, "--{}: ", key.replace('_', "-"))?;
            } else {
                write!(f, "{key}: ")?;
            }
        }
        match &self.problem {
            Problem::Unreadable(e) => write!(f, "cannot read the config file: {e}"),
            Problem::Syntax(m) | Problem::Value(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Parses config file text.
pub fn parse_file(text: &str) -> Result<FileConfig, ConfigError> {
    toml::from_str(text).map_err(|e| ConfigError {
        file: None,
        line: e.span().map(|s| line_of(text, s.start)),
        key: None,
        from_flag: false,
        problem: Problem::Syntax(e.message().trim().to_string()),
    })
}

/// The resolved configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Listen address.
    pub listen: String,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Issuer URL, if set; otherwise derived from the bound port.
    pub issuer: Option<String>,
    /// Signing algorithm.
    pub algorithm: SigningAlg,
    /// Access-token lifetime.
    pub access_ttl: u64,
    /// Refresh-token lifetime.
    pub refresh_ttl: u64,
    /// Leeway.
    pub leeway: u64,
    /// Grace period for a retried refresh.
    pub refresh_grace: u64,
    /// Log level.
    pub log_level: log::LevelFilter,
    /// Whether every request and issuance is logged.
    pub access_log: bool,
    /// The status LED.
    pub led: LedSpec,
    /// Overrides of the board's tuning profile.
    pub tuning: TuningOverrides,
    /// Scopes advertised in the metadata, when the operator names them.
    pub scopes_supported: Option<Vec<String>>,
    /// Whether `/metrics` is served.
    pub metrics: bool,
    /// Whether the operator's pages are served.
    pub operator_pages: bool,
    /// Where they may be reached from, when the operator names it (`None`: the default,
    /// which depends on whether a proxy is in front, see
    /// [`crate::protocol::operator::access::default_for`]).
    pub operator_allow: Option<Vec<ipnet::IpNet>>,
    /// Time for a request head to arrive, and for a keep-alive connection to sit idle.
    pub head_timeout: std::time::Duration,
    /// Time for a request body to arrive.
    pub body_timeout: std::time::Duration,
    /// Whether minting waits for a synchronised clock (`None`: as the board says).
    pub require_synced_clock: Option<bool>,
    /// Seconds verifiers may cache the JWKS.
    pub jwks_max_age: u64,
    /// Automatic rotation period, days.
    pub key_rotation_days: Option<u64>,
    /// Whether to serve HTTPS.
    pub tls: crate::adapters::tls::Mode,
    /// The certificate to serve.
    pub tls_source: crate::adapters::tls::Source,
    /// More names for a certificate piauth makes.
    pub tls_names: Vec<String>,
}

impl Config {
    /// The token policy, for `issuer` and the board's profile.
    pub fn policy(&self, issuer: String, profile: &Profile) -> crate::protocol::Policy {
        crate::protocol::Policy {
            issuer,
            access_ttl: self.access_ttl,
            refresh_ttl: self.refresh_ttl,
            leeway: self.leeway,
            refresh_grace: self.refresh_grace,
            password_cost: crate::jose::secret::PasswordCost {
                memory_kib: profile.argon2_memory_kib,
                iterations: profile.argon2_iterations,
            },
            max_refresh_families: profile.max_refresh_families,
            scopes_supported: self.scopes_supported.clone(),
            jwks_max_age: self.jwks_max_age,
            metrics: self.metrics,
            operator_pages: self.operator_pages,
            operator_allow: self
                .operator_allow
                .clone()
                .unwrap_or_else(crate::protocol::operator::access::default_allow),
        }
    }
}

/// Reads the config file (if any), then merges defaults < file < flags.
pub fn load(
    path: Option<&Path>,
    global: &GlobalFlags,
    serve: &ServeFlags,
) -> Result<Config, ConfigError> {
    let with_file = |mut e: ConfigError| {
        e.file = path.map(Path::to_path_buf);
        e
    };
    let text = match path {
        Some(p) => std::fs::read_to_string(p).map_err(|e| {
            with_file(ConfigError {
                file: None,
                line: None,
                key: None,
                from_flag: false,
                problem: Problem::Unreadable(e),
            })
        })?,
        None => String::new(),
    };
    resolve(&text, global, serve).map_err(with_file)
}

/// Checks one setting: `ok` says whether a value is acceptable, `accepts` what is.
fn check<T>(
    key: &'static str,
    s: &Setting<T>,
    ok: impl Fn(&T) -> bool,
    accepts: &str,
) -> Result<(), ConfigError> {
    match &s.value {
        Some(v) if !ok(v) => Err(bad(key, s, accepts.to_string())),
        _ => Ok(()),
    }
}

fn bad<T>(key: &'static str, s: &Setting<T>, problem: String) -> ConfigError {
    ConfigError {
        file: None,
        line: match s.origin {
            Origin::File(l) => Some(l),
            _ => None,
        },
        key: Some(key),
        from_flag: s.origin == Origin::Flag,
        problem: Problem::Value(problem),
    }
}

/// Merges defaults < file text < flags and checks every value.
pub fn resolve(
    text: &str,
    global: &GlobalFlags,
    serve: &ServeFlags,
) -> Result<Config, ConfigError> {
    let s = merge(global, serve, parse_file(text)?, text);
    let algorithm = match &s.algorithm.value {
        Some(name) => SigningAlg::parse(name).ok_or_else(|| {
            bad(
                "algorithm",
                &s.algorithm,
                format!("unknown algorithm {name:?}: use one of ES256, EdDSA, RS256, PS256, HS256"),
            )
        })?,
        None => SigningAlg::Es256,
    };
    let operator_allow = match &s.operator_allow.value {
        Some(entries) => Some(
            crate::protocol::operator::access::parse(entries)
                .map_err(|why| bad("operator_allow", &s.operator_allow, why))?,
        ),
        None => None,
    };
    let level_name = s.log_level.value.clone().unwrap_or_default();
    let log_level = level_name.parse::<log::LevelFilter>().map_err(|_| {
        bad(
            "log_level",
            &s.log_level,
            format!("unknown log level {level_name:?}: use off, error, warn, info, debug or trace"),
        )
    })?;
    check(
        "issuer",
        &s.issuer,
        |i| (i.starts_with("http://") || i.starts_with("https://")) && !i.contains(['?', '#']),
        "must be an http(s) URL without query or fragment (RFC 8414 §2)",
    )?;
    check(
        "access_ttl",
        &s.access_ttl,
        |t| (1..=86_400).contains(t),
        "must be 1 to 86400 seconds: access tokens cannot be recalled from verifiers, keep them short",
    )?;
    check(
        "refresh_ttl",
        &s.refresh_ttl,
        |t| *t >= 1,
        "must be at least 1 second",
    )?;
    check(
        "scopes_supported",
        &s.scopes_supported,
        |v| v.iter().all(|t| crate::vocab::scope::is_scope_token(t)),
        "each entry must be a scope token (RFC 6749 §3.3)",
    )?;
    check(
        "http_workers",
        &s.http_workers,
        |w| (1..=256).contains(w),
        "must be 1 to 256",
    )?;
    check(
        "password_checks_at_once",
        &s.password_checks_at_once,
        |n| (1..=256).contains(n),
        "must be 1 to 256",
    )?;
    check(
        "max_connections",
        &s.max_connections,
        |c| *c >= 1,
        "must be at least 1",
    )?;
    check(
        "max_connections_per_address",
        &s.max_connections_per_address,
        |c| *c >= 1,
        "must be at least 1",
    )?;
    check(
        "refresh_grace",
        &s.refresh_grace,
        |t| *t <= 60,
        "must be 0 to 60 seconds",
    )?;
    check(
        "leeway",
        &s.leeway,
        |t| *t <= 600,
        "must be 0 to 600 seconds",
    )?;
    check(
        "jwks_max_age",
        &s.jwks_max_age,
        |t| (1..=86_400).contains(t),
        "must be 1 to 86400 seconds",
    )?;
    check(
        "key_rotation_days",
        &s.key_rotation_days,
        |d| (1..=3650).contains(d),
        "must be 1 to 3650 days",
    )?;
    check(
        "head_timeout",
        &s.head_timeout,
        |t| (1..=300).contains(t),
        "must be 1 to 300 seconds",
    )?;
    check(
        "body_timeout",
        &s.body_timeout,
        |t| (1..=300).contains(t),
        "must be 1 to 300 seconds",
    )?;
    check(
        "max_body_bytes",
        &s.max_body_bytes,
        |b| *b >= 512,
        "must be at least 512",
    )?;
    check(
        "argon2_memory_kib",
        &s.argon2_memory_kib,
        |m| *m >= 8,
        "must be at least 8",
    )?;
    check(
        "argon2_iterations",
        &s.argon2_iterations,
        |i| *i >= 1,
        "must be at least 1",
    )?;
    check(
        "max_refresh_families",
        &s.max_refresh_families,
        |n| *n >= 1,
        "must be at least 1",
    )?;
    check(
        "token_cache_entries",
        &s.token_cache_entries,
        |n| *n <= 1_000_000,
        "must be at most 1000000",
    )?;
    let tls = crate::adapters::tls::Mode::parse(s.tls.value.as_deref().unwrap_or_default())
        .ok_or_else(|| bad("tls", &s.tls, "must be auto, on or off".into()))?;
    check(
        "tls_names",
        &s.tls_names,
        |v| {
            v.iter().all(|n| {
                crate::adapters::tls::is_dns_name(n) || n.parse::<std::net::IpAddr>().is_ok()
            })
        },
        "each entry must be a host name or an IP address",
    )?;
    if s.tls_cert.value.is_some() != s.tls_key.value.is_some() {
        let (key, setting) = match s.tls_cert.value {
            Some(_) => ("tls_cert", &s.tls_cert),
            None => ("tls_key", &s.tls_key),
        };
        return Err(bad(key, setting, "tls_cert and tls_key go together".into()));
    }
    let data_dir = s.data_dir.value.unwrap_or_default();
    let tls_source =
        crate::adapters::tls::Source::new(s.tls_cert.value, s.tls_key.value, &data_dir);
    let led = LedSpec::parse(
        s.led.value.as_deref().unwrap_or_default(),
        s.led_active_low.value.unwrap_or_default(),
    )
    .map_err(|e| bad("led", &s.led, e.to_string()))?;
    Ok(Config {
        listen: s.listen.value.unwrap_or_default(),
        data_dir,
        issuer: s.issuer.value.map(|i| i.trim_end_matches('/').to_string()),
        algorithm,
        access_ttl: s.access_ttl.value.unwrap_or_default(),
        refresh_ttl: s.refresh_ttl.value.unwrap_or_default(),
        leeway: s.leeway.value.unwrap_or_default(),
        refresh_grace: s.refresh_grace.value.unwrap_or_default(),
        log_level,
        access_log: s.access_log.value.unwrap_or_default(),
        led,
        tuning: TuningOverrides {
            sled_cache_bytes: s.sled_cache_bytes.value,
            http_workers: s.http_workers.value,
            max_connections: s.max_connections.value,
            max_connections_per_address: s.max_connections_per_address.value,
            argon2_memory_kib: s.argon2_memory_kib.value,
            argon2_iterations: s.argon2_iterations.value,
            password_checks_at_once: s.password_checks_at_once.value,
            max_body_bytes: s.max_body_bytes.value,
            max_refresh_families: s.max_refresh_families.value,
            token_cache_entries: s.token_cache_entries.value,
        },
        scopes_supported: s.scopes_supported.value,
        metrics: s.metrics.value.unwrap_or_default(),
        operator_pages: s.operator_pages.value.unwrap_or(true),
        operator_allow,
        head_timeout: std::time::Duration::from_secs(s.head_timeout.value.unwrap_or_default()),
        body_timeout: std::time::Duration::from_secs(s.body_timeout.value.unwrap_or_default()),
        require_synced_clock: s.require_synced_clock.value,
        jwks_max_age: s.jwks_max_age.value.unwrap_or_default(),
        key_rotation_days: s.key_rotation_days.value,
        tls,
        tls_source,
        tls_names: s.tls_names.value.unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests;
