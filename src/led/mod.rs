//! The status LED: a thread that plays [`pattern::Pattern`] on a driver.
//!
//! The request path only `try_send`s an event into a bounded channel and never waits; a
//! full channel drops the event, which the pattern would have coalesced anyway. Drivers:
//! a GPIO pin through rppal, the board's ACT LED through sysfs (its kernel trigger restored
//! on exit), or none. A driver that cannot open (not a Pi, no permission, pin busy) is a
//! warning, once, and the server runs on without it.

pub mod driver;
pub mod pattern;

pub use pattern::LedEvent;
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Which LED to drive, from the config's `led` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LedSpec {
    /// No LED.
    None,
    /// The board's activity LED (`/sys/class/leds/ACT`).
    Act,
    /// A GPIO pin (BCM numbering).
    Gpio {
        /// BCM pin number.
        pin: u8,
        /// Lit when the pin is low.
        active_low: bool,
    },
}

impl LedSpec {
    /// Parses `none`, `act`, `gpio:N`; `active_low` applies to GPIO.
    pub fn parse(text: &str, active_low: bool) -> Result<LedSpec, String> {
        match text.trim() {
            "none" | "" => Ok(LedSpec::None),
            "act" => Ok(LedSpec::Act),
            other => {
                let pin = other
                    .strip_prefix("gpio:")
                    .and_then(|p| p.parse::<u8>().ok())
                    .filter(|&p| p <= 53)
                    .ok_or_else(|| {
                        format!("led {other:?} is not valid: use \"none\", \"act\" or \"gpio:N\" (BCM pin 0-53)")
                    })?;
                Ok(LedSpec::Gpio { pin, active_low })
            }
        }
    }
}

/// A driver failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedError(pub String);

impl std::fmt::Display for LedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Something that lights an LED.
pub trait LedDriver: Send {
    /// Lights it or not.
    fn set(&mut self, on: bool) -> Result<(), LedError>;
}

/// The handle the server keeps: sends events, stops the thread.
pub struct Led {
    tx: Option<SyncSender<LedEvent>>,
    thread: Option<JoinHandle<()>>,
}

/// A cheap sender for request threads.
#[derive(Clone)]
pub struct LedEvents(Option<SyncSender<LedEvent>>);

impl LedEvents {
    /// Sends an event without waiting; dropped if the LED is busy or absent.
    pub fn send(&self, event: LedEvent) {
        if let Some(tx) = &self.0 {
            let _ = tx.try_send(event);
        }
    }
}

impl Led {
    /// Opens the LED `spec` names and starts its thread; a driver that fails to open is
    /// logged once and the LED is off for the life of the process.
    pub fn start(spec: LedSpec) -> Led {
        let driver: Box<dyn LedDriver> = match driver::open(spec) {
            Ok(Some(d)) => d,
            Ok(None) => return Led::disabled(),
            Err(e) => {
                log::warn!("status LED {spec:?} unavailable, running without it: {e}");
                return Led::disabled();
            }
        };
        Led::with_driver(driver)
    }

    /// An LED that shows nothing.
    pub fn disabled() -> Led {
        Led {
            tx: None,
            thread: None,
        }
    }

    /// Starts the LED thread on a driver.
    pub fn with_driver(driver: Box<dyn LedDriver>) -> Led {
        let (tx, rx) = sync_channel(64);
        let thread = std::thread::Builder::new()
            .name("led".into())
            .spawn(move || play(driver, rx))
            .ok();
        Led {
            tx: Some(tx),
            thread,
        }
    }

    /// A sender for other threads.
    pub fn events(&self) -> LedEvents {
        LedEvents(self.tx.clone())
    }

    /// Turns the LED off and waits for the thread (the driver restores what it changed).
    pub fn stop(mut self) {
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(LedEvent::Stopping);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The LED thread: applies events, samples the pattern every 10 ms, writes changes only.
fn play(mut driver: Box<dyn LedDriver>, rx: Receiver<LedEvent>) {
    let epoch = Instant::now();
    let mut pattern = pattern::Pattern::default();
    let mut lit: Option<bool> = None;
    let mut warned = false;
    loop {
        let done = match rx.recv_timeout(Duration::from_millis(10)) {
            Ok(event) => {
                pattern.on_event(event, epoch.elapsed().as_millis() as u64);
                event == LedEvent::Stopping
            }
            Err(RecvTimeoutError::Timeout) => false,
            Err(RecvTimeoutError::Disconnected) => {
                pattern.on_event(LedEvent::Stopping, epoch.elapsed().as_millis() as u64);
                true
            }
        };
        let level = pattern.level(epoch.elapsed().as_millis() as u64);
        if lit != Some(level) {
            if let Err(e) = driver.set(level) {
                if !warned {
                    log::warn!("status LED write failed: {e}");
                    warned = true;
                }
            }
            lit = Some(level);
        }
        if done {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    struct Recording(Arc<Mutex<Vec<bool>>>);

    impl LedDriver for Recording {
        fn set(&mut self, on: bool) -> Result<(), LedError> {
            self.0.lock().unwrap().push(on);
            Ok(())
        }
    }

    #[test]
    fn parses_led_specs() {
        assert_eq!(LedSpec::parse("none", false), Ok(LedSpec::None));
        assert_eq!(LedSpec::parse("act", false), Ok(LedSpec::Act));
        assert_eq!(
            LedSpec::parse("gpio:17", true),
            Ok(LedSpec::Gpio {
                pin: 17,
                active_low: true
            })
        );
        for bad in ["gpio:", "gpio:99", "gpio17", "led0"] {
            assert!(
                LedSpec::parse(bad, false)
                    .unwrap_err()
                    .contains("not valid"),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_thread_plays_events_and_ends_dark() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let led = Led::with_driver(Box::new(Recording(log.clone())));
        let events = led.events();
        events.send(LedEvent::Starting);
        std::thread::sleep(Duration::from_millis(350));
        events.send(LedEvent::Ready);
        std::thread::sleep(Duration::from_millis(50));
        led.stop();
        let seen = log.lock().unwrap().clone();
        // Starting blinks (several changes), ready lights it, stopping darkens it.
        assert!(seen.len() >= 4, "{seen:?}");
        assert_eq!(seen.last(), Some(&false));
        assert!(
            seen.windows(2).all(|w| w[0] != w[1]),
            "only changes are written: {seen:?}"
        );
    }

    #[test]
    fn sending_never_blocks_even_when_the_led_is_slow() {
        struct Slow;
        impl LedDriver for Slow {
            fn set(&mut self, _: bool) -> Result<(), LedError> {
                std::thread::sleep(Duration::from_millis(200));
                Ok(())
            }
        }
        let led = Led::with_driver(Box::new(Slow));
        let events = led.events();
        let start = Instant::now();
        for _ in 0..10_000 {
            events.send(LedEvent::TokenIssued);
        }
        assert!(
            start.elapsed() < Duration::from_millis(100),
            "{:?}",
            start.elapsed()
        );
        led.stop();
    }
}
