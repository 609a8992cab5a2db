//! The status LED: a thread that plays [`pattern::Pattern`] on a driver.
//!
//! The request path only `try_send`s an event into a bounded channel and never waits; a
//! full channel drops the event, which the pattern would have coalesced anyway. Drivers:
//! a GPIO pin through rppal, the board's ACT LED through sysfs (its kernel trigger restored
//! on exit), or none. A driver that cannot open (not a Pi, no permission, pin busy) is a
//! warning, once, and the server runs on without it.

pub mod driver;

pub use driver::{LedDriver, LedError, LedSpec, LedSpecError};

use crate::board::led_pattern as pattern;
pub use pattern::LedEvent;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The handle the server keeps: sends events, stops the thread.
pub struct Led {
    tx: Option<SyncSender<LedEvent>>,
    thread: Option<JoinHandle<()>>,
    mode: Arc<AtomicU8>,
}

/// A cheap sender for request threads, which can also tell what the LED shows.
#[derive(Clone)]
pub struct LedEvents(Option<SyncSender<LedEvent>>, Arc<AtomicU8>);

/// No LED, in [`LedEvents::mode`]'s store.
const NO_LED: u8 = u8::MAX;

impl LedEvents {
    /// A sender to no LED.
    pub fn none() -> LedEvents {
        LedEvents(None, Arc::new(AtomicU8::new(NO_LED)))
    }

    /// Sends an event without waiting; dropped if the LED is busy or absent.
    pub fn send(&self, event: LedEvent) {
        if let Some(tx) = &self.0 {
            let _ = tx.try_send(event);
        }
    }

    /// The base pattern the LED shows now; `None` without an LED.
    pub fn mode(&self) -> Option<pattern::Mode> {
        use pattern::Mode;
        match self.1.load(Ordering::Relaxed) {
            x if x == Mode::Starting as u8 => Some(Mode::Starting),
            x if x == Mode::Ready as u8 => Some(Mode::Ready),
            x if x == Mode::Fault as u8 => Some(Mode::Fault),
            x if x == Mode::Off as u8 => Some(Mode::Off),
            _ => None,
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
            mode: Arc::new(AtomicU8::new(NO_LED)),
        }
    }

    /// Starts the LED thread on a driver.
    pub fn with_driver(driver: Box<dyn LedDriver>) -> Led {
        let (tx, rx) = sync_channel(64);
        let mode = Arc::new(AtomicU8::new(pattern::Mode::Starting as u8));
        let shown = mode.clone();
        let thread = std::thread::Builder::new()
            .name("led".into())
            .spawn(move || play(driver, rx, &shown))
            .ok();
        Led {
            tx: Some(tx),
            thread,
            mode,
        }
    }

    /// A sender for other threads.
    pub fn events(&self) -> LedEvents {
        LedEvents(self.tx.clone(), self.mode.clone())
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
fn play(mut driver: Box<dyn LedDriver>, rx: Receiver<LedEvent>, shown: &AtomicU8) {
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
        let now = epoch.elapsed().as_millis() as u64;
        shown.store(pattern.mode(now) as u8, Ordering::Relaxed);
        let level = pattern.level(now);
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

    /// Records every write and tells the test as it happens.
    struct Recording(Arc<Mutex<Vec<bool>>>, std::sync::mpsc::Sender<bool>);

    impl LedDriver for Recording {
        fn set(&mut self, on: bool) -> Result<(), LedError> {
            self.0.lock().unwrap().push(on);
            let _ = self.1.send(on);
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
            let e = LedSpec::parse(bad, false).unwrap_err();
            assert!(e.to_string().contains("not valid"), "{bad}");
        }
    }

    #[test]
    fn the_thread_plays_events_and_ends_dark() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, writes) = std::sync::mpsc::channel();
        let led = Led::with_driver(Box::new(Recording(log.clone(), tx)));
        let events = led.events();
        events.send(LedEvent::Starting);
        // Starting blinks: wait for on, off, on.
        for _ in 0..3 {
            writes
                .recv_timeout(Duration::from_secs(10))
                .expect("a blink");
        }
        events.send(LedEvent::Ready);
        led.stop();
        let seen = log.lock().unwrap().clone();
        // Stopping darkens it, and only changes are written.
        assert!(seen.len() >= 4, "{seen:?}");
        assert_eq!(seen.last(), Some(&false));
        assert!(
            seen.windows(2).all(|w| w[0] != w[1]),
            "only changes are written: {seen:?}"
        );
    }

    #[test]
    fn sending_never_blocks_even_when_the_led_is_stuck() {
        /// A driver whose writes hang until the test lets them go.
        struct Stuck(Arc<Mutex<()>>);
        impl LedDriver for Stuck {
            fn set(&mut self, _: bool) -> Result<(), LedError> {
                drop(self.0.lock().unwrap());
                Ok(())
            }
        }
        let gate = Arc::new(Mutex::new(()));
        let held = gate.lock().unwrap();
        let led = Led::with_driver(Box::new(Stuck(gate.clone())));
        let events = led.events();
        let (done, sent) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for _ in 0..10_000 {
                events.send(LedEvent::TokenIssued);
            }
            let _ = done.send(());
        });
        // Were a send to wait for the driver, this would never arrive.
        sent.recv_timeout(Duration::from_secs(30))
            .expect("sending returned while the LED was stuck");
        drop(held);
        led.stop();
    }
}
