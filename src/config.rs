//! Configuration: built-in defaults, then the TOML file, then command-line flags.
//!
//! Pure: the caller reads the file and hands in its text. Unknown keys are errors, so that
//! a typo in a config file is reported instead of silently ignored.

use crate::keys::SigningAlg;
use crate::tuning::Profile;
use serde::Deserialize;
use std::fmt;
use std::path::PathBuf;

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

/// The config file as written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Listen address.
    pub listen: Option<String>,
    /// Data directory.
    pub data_dir: Option<PathBuf>,
    /// Issuer URL.
    pub issuer: Option<String>,
    /// Signing algorithm.
    pub algorithm: Option<String>,
    /// Access-token lifetime, seconds.
    pub access_ttl: Option<u64>,
    /// Refresh-token lifetime, seconds.
    pub refresh_ttl: Option<u64>,
    /// Clock-skew leeway, seconds.
    pub leeway: Option<u64>,
    /// Log level.
    pub log_level: Option<String>,
    /// Status LED: "none", "act" or "gpio:N".
    pub led: Option<String>,
    /// The GPIO LED is lit when the pin is low.
    pub led_active_low: Option<bool>,
    /// Scopes advertised in the metadata.
    pub scopes_supported: Option<Vec<String>>,
    /// Overrides of the board's tuning profile, each optional.
    #[serde(flatten)]
    pub tuning: TuningOverrides,
}

/// Config-file overrides of [`Profile`] values; unset ones come from the board.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TuningOverrides {
    /// sled page cache, bytes.
    pub sled_cache_bytes: Option<u64>,
    /// HTTP worker threads.
    pub http_workers: Option<usize>,
    /// Open-connection cap.
    pub max_connections: Option<usize>,
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

    fn check(&self) -> Result<(), ConfigError> {
        let bad = |what: &str| Err(ConfigError(what.to_string()));
        if self.http_workers.is_some_and(|w| w == 0 || w > 256) {
            return bad("http_workers must be 1 to 256");
        }
        if self
            .password_checks_at_once
            .is_some_and(|n| n == 0 || n > 256)
        {
            return bad("password_checks_at_once must be 1 to 256");
        }
        if self.max_connections.is_some_and(|c| c == 0) {
            return bad("max_connections must be at least 1");
        }
        if self.max_body_bytes.is_some_and(|b| b < 512) {
            return bad("max_body_bytes must be at least 512");
        }
        if self.argon2_memory_kib.is_some_and(|m| m < 8) || self.argon2_iterations == Some(0) {
            return bad("argon2_memory_kib must be at least 8 and argon2_iterations at least 1");
        }
        if self.max_refresh_families == Some(0) {
            return bad("max_refresh_families must be at least 1");
        }
        if self.token_cache_entries.is_some_and(|n| n > 1_000_000) {
            return bad("token_cache_entries must be at most 1000000");
        }
        Ok(())
    }
}

/// A configuration that cannot be used; the message says what to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// Parses config file text; `origin` names it in errors.
pub fn parse_file(text: &str, origin: &str) -> Result<FileConfig, ConfigError> {
    toml::from_str(text).map_err(|e| ConfigError(format!("{origin}: {}", e.message().trim())))
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
    /// Log level.
    pub log_level: log::LevelFilter,
    /// The status LED.
    pub led: crate::led::LedSpec,
    /// Overrides of the board's tuning profile.
    pub tuning: TuningOverrides,
    /// Scopes advertised in the metadata, when the operator names them.
    pub scopes_supported: Option<Vec<String>>,
}

impl Config {
    /// The token policy, for `issuer` and the board's profile.
    pub fn policy(&self, issuer: String, profile: &Profile) -> crate::protocol::Policy {
        crate::protocol::Policy {
            issuer,
            access_ttl: self.access_ttl,
            refresh_ttl: self.refresh_ttl,
            leeway: self.leeway,
            password_cost: crate::secret::PasswordCost {
                memory_kib: profile.argon2_memory_kib,
                iterations: profile.argon2_iterations,
            },
            max_refresh_families: profile.max_refresh_families,
            scopes_supported: self.scopes_supported.clone(),
        }
    }
}

/// Reads the config file (if any), then merges defaults < file < flags.
pub fn load(path: Option<&std::path::Path>, flags: &Overrides) -> Result<Config, ConfigError> {
    let file = match path {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                ConfigError(format!("cannot read config file {}: {e}", path.display()))
            })?;
            parse_file(&text, &path.display().to_string())?
        }
        None => FileConfig::default(),
    };
    resolve(file, flags.clone())
}

/// Command-line overrides.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// `--listen`.
    pub listen: Option<String>,
    /// `--issuer`.
    pub issuer: Option<String>,
    /// `--algorithm`.
    pub algorithm: Option<String>,
    /// `--access-ttl`.
    pub access_ttl: Option<u64>,
    /// `--refresh-ttl`.
    pub refresh_ttl: Option<u64>,
    /// `--log-level`.
    pub log_level: Option<String>,
}

impl Overrides {
    /// The flags of a command line (`serve` has the most).
    pub fn from_cli(cli: &crate::cli::Cli, serve: Option<&crate::cli::ServeArgs>) -> Overrides {
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
        o
    }
}

/// Merges defaults < file < flags and checks the result.
pub fn resolve(file: FileConfig, flags: Overrides) -> Result<Config, ConfigError> {
    let algorithm_name = flags.algorithm.or(file.algorithm);
    let algorithm = match algorithm_name {
        Some(name) => SigningAlg::parse(&name).ok_or_else(|| {
            ConfigError(format!(
                "unknown algorithm {name:?}: use one of ES256, EdDSA, RS256, PS256, HS256"
            ))
        })?,
        None => SigningAlg::Es256,
    };
    let level_name = flags
        .log_level
        .or(file.log_level)
        .unwrap_or_else(|| "info".into());
    let log_level = level_name.parse::<log::LevelFilter>().map_err(|_| {
        ConfigError(format!(
            "unknown log level {level_name:?}: use off, error, warn, info, debug or trace"
        ))
    })?;
    let issuer = flags.issuer.or(file.issuer);
    if let Some(i) = &issuer {
        if !(i.starts_with("http://") || i.starts_with("https://")) || i.contains(['?', '#']) {
            return Err(ConfigError(format!(
                "issuer {i:?} must be an http(s) URL without query or fragment (RFC 8414 §2)"
            )));
        }
    }
    let cfg = Config {
        listen: flags
            .listen
            .or(file.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.into()),
        data_dir: flags
            .data_dir
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
        issuer: issuer.map(|i| i.trim_end_matches('/').to_string()),
        algorithm,
        access_ttl: flags
            .access_ttl
            .or(file.access_ttl)
            .unwrap_or(DEFAULT_ACCESS_TTL),
        refresh_ttl: flags
            .refresh_ttl
            .or(file.refresh_ttl)
            .unwrap_or(DEFAULT_REFRESH_TTL),
        leeway: file.leeway.unwrap_or(DEFAULT_LEEWAY),
        log_level,
        led: crate::led::LedSpec::parse(
            file.led.as_deref().unwrap_or("none"),
            file.led_active_low.unwrap_or(false),
        )
        .map_err(ConfigError)?,
        tuning: file.tuning,
        scopes_supported: match file.scopes_supported {
            Some(scopes) => Some(check_scopes(scopes)?),
            None => None,
        },
    };
    check(&cfg)?;
    Ok(cfg)
}

fn check_scopes(scopes: Vec<String>) -> Result<Vec<String>, ConfigError> {
    if let Some(bad) = scopes.iter().find(|s| !crate::scope::is_scope_token(s)) {
        return Err(ConfigError(format!(
            "scopes_supported: {bad:?} is not a scope token (RFC 6749 §3.3)"
        )));
    }
    Ok(scopes)
}

fn check(cfg: &Config) -> Result<(), ConfigError> {
    if cfg.access_ttl == 0 || cfg.access_ttl > 24 * 3600 {
        return Err(ConfigError(
            "access_ttl must be 1 to 86400 seconds: access tokens cannot be recalled from verifiers, keep them short".into(),
        ));
    }
    if cfg.refresh_ttl == 0 {
        return Err(ConfigError("refresh_ttl must be at least 1 second".into()));
    }
    cfg.tuning.check()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_need_no_file() {
        let c = resolve(FileConfig::default(), Overrides::default()).unwrap();
        assert_eq!(c.listen, DEFAULT_LISTEN);
        assert_eq!(c.data_dir, PathBuf::from(DEFAULT_DATA_DIR));
        assert_eq!(c.algorithm, SigningAlg::Es256);
        assert_eq!(c.access_ttl, DEFAULT_ACCESS_TTL);
    }

    #[test]
    fn flags_override_file_which_overrides_defaults() {
        let file = parse_file(
            "listen = \"127.0.0.1:1\"\nalgorithm = \"eddsa\"\naccess_ttl = 60\n",
            "t.toml",
        )
        .unwrap();
        let flags = Overrides {
            listen: Some("127.0.0.1:2".into()),
            ..Overrides::default()
        };
        let c = resolve(file, flags).unwrap();
        assert_eq!(c.listen, "127.0.0.1:2");
        assert_eq!(c.algorithm, SigningAlg::EdDsa);
        assert_eq!(c.access_ttl, 60);
    }

    #[test]
    fn tuning_keys_override_the_profile_one_by_one() {
        let file = parse_file("sled_cache_bytes = 2097152\nhttp_workers = 3\n", "t.toml").unwrap();
        let c = resolve(file, Overrides::default()).unwrap();
        let base = crate::tuning::profile(crate::tuning::Resources {
            ram_mb: 256,
            cores: 1,
            speed: 1,
        });
        let p = c.tuning.apply(base);
        assert_eq!(p.sled_cache_bytes, 2_097_152);
        assert_eq!(p.http_workers, 3);
        assert_eq!(p.max_connections, base.max_connections);
        assert!(parse_file("workers = 3", "t.toml").is_err());
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors_that_say_what() {
        let e = parse_file("lisen = \"x\"", "t.toml").unwrap_err();
        assert!(e.0.contains("lisen"), "{e}");
        let bad = |f: FileConfig| resolve(f, Overrides::default()).unwrap_err();
        assert!(bad(FileConfig {
            algorithm: Some("none".into()),
            ..Default::default()
        })
        .0
        .contains("none"));
        assert!(bad(FileConfig {
            access_ttl: Some(0),
            ..Default::default()
        })
        .0
        .contains("access_ttl"));
        assert!(bad(FileConfig {
            tuning: TuningOverrides {
                http_workers: Some(0),
                ..Default::default()
            },
            ..Default::default()
        })
        .0
        .contains("http_workers"));
        assert!(bad(FileConfig {
            led: Some("gpio:x".into()),
            ..Default::default()
        })
        .0
        .contains("gpio"));
        assert!(bad(FileConfig {
            issuer: Some("pi.local".into()),
            ..Default::default()
        })
        .0
        .contains("issuer"));
    }
}
