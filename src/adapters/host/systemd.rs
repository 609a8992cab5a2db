//! sd_notify: READY, WATCHDOG and STOPPING to systemd over `$NOTIFY_SOCKET`.
//!
//! Written against the protocol (one datagram of `KEY=value` lines) rather than a crate, since
//! it is a dozen lines. Without `NOTIFY_SOCKET` every call does nothing; a failure to send is
//! logged once and never stops the server.

use std::os::unix::net::UnixDatagram;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// A state change systemd is told about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceState {
    /// The port is open and the store loaded.
    Ready,
    /// Still alive and serving.
    Watchdog,
    /// Shutting down.
    Stopping,
}

impl ServiceState {
    fn message(self) -> &'static str {
        match self {
            ServiceState::Ready => "READY=1\nSTATUS=serving",
            ServiceState::Watchdog => "WATCHDOG=1",
            ServiceState::Stopping => "STOPPING=1\nSTATUS=stopping",
        }
    }
}

/// The notify socket, if systemd gave one.
pub struct Notifier {
    target: Option<String>,
    watchdog: Option<Duration>,
    warned: AtomicBool,
}

impl Notifier {
    /// Reads `NOTIFY_SOCKET` and `WATCHDOG_USEC` (honouring `WATCHDOG_PID`).
    pub fn from_env() -> Notifier {
        let target = std::env::var("NOTIFY_SOCKET")
            .ok()
            .filter(|s| !s.is_empty());
        let for_us = std::env::var("WATCHDOG_PID")
            .ok()
            .and_then(|p| p.parse::<u32>().ok())
            .is_none_or(|pid| pid == std::process::id());
        let watchdog = std::env::var("WATCHDOG_USEC")
            .ok()
            .and_then(|u| u.parse::<u64>().ok())
            .filter(|&u| u > 0 && for_us)
            .map(Duration::from_micros);
        Notifier {
            target,
            watchdog,
            warned: AtomicBool::new(false),
        }
    }

    /// How often to ping the watchdog: half its timeout, as systemd recommends.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.watchdog.map(|w| w / 2)
    }

    /// Sends a state; does nothing outside systemd.
    pub fn notify(&self, state: ServiceState) {
        let Some(target) = &self.target else {
            return;
        };
        if let Err(e) = send(target, state.message().as_bytes()) {
            if !self.warned.swap(true, Ordering::Relaxed) {
                log::warn!("cannot notify systemd at {target}: {e}");
            }
        }
    }
}

fn send(target: &str, msg: &[u8]) -> std::io::Result<usize> {
    let sock = UnixDatagram::unbound()?;
    if let Some(name) = target.strip_prefix('@') {
        // An abstract socket (Linux): systemd uses these for some services.
        use std::os::linux::net::SocketAddrExt;
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
        sock.send_to_addr(msg, &addr)
    } else {
        sock.send_to(msg, target)
    }
}
