//! What can end a command, and the exit code each maps to in `main`.

use crate::adapters::admin::AdminError;
use crate::adapters::host::sys::HostError;
use crate::adapters::http::HttpError;
use crate::adapters::service::ServiceError;
use crate::adapters::store::StoreError;
use crate::config::ConfigError;
use std::fmt;

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
    /// The board could not be read.
    Host(HostError),
    /// The HTTP listener could not be set up, or stopped accepting.
    Http(HttpError),
    /// The TLS certificate could not be loaded or made.
    Tls(crate::adapters::tls::TlsError),
    /// Other I/O: the data directory, the admin socket, signal handlers.
    Io {
        /// What was being done.
        doing: String,
        /// The failure.
        source: std::io::Error,
    },
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AppError::Config(e) => write!(f, "configuration: {e}"),
            AppError::Store(e) => e.fmt(f),
            AppError::Service(e) => e.fmt(f),
            AppError::Admin(e) => e.fmt(f),
            AppError::Host(e) => e.fmt(f),
            AppError::Http(e) => e.fmt(f),
            AppError::Tls(e) => write!(f, "TLS: {e}"),
            AppError::Io { doing, source } => write!(f, "cannot {doing}: {source}"),
        }
    }
}

impl std::error::Error for AppError {}

macro_rules! from_error {
    ($($variant:ident($t:ty)),*) => {$(
        impl From<$t> for AppError {
            fn from(e: $t) -> Self {
                AppError::$variant(e)
            }
        }
    )*};
}
from_error!(
    Config(ConfigError),
    Store(StoreError),
    Service(ServiceError),
    Admin(AdminError),
    Host(HostError),
    Http(HttpError),
    Tls(crate::adapters::tls::TlsError)
);

impl AppError {
    /// An I/O failure while `doing` something.
    pub fn io(doing: impl Into<String>) -> impl FnOnce(std::io::Error) -> AppError {
        let doing = doing.into();
        move |source| AppError::Io { doing, source }
    }

    /// The process exit code.
    pub fn exit_code(&self) -> u8 {
        match self {
            AppError::Config(_) => 78,
            AppError::Admin(AdminError::Invalid(_)) => 2,
            _ => 1,
        }
    }
}
