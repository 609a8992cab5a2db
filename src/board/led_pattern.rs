//! LED patterns: server events in, the LED's level at a given millisecond out. Pure.
//!
//! A base pattern shows the server's state (starting, ready, fault, off); short overlays
//! show activity (a token issued, an authentication failure). An overlay starts only when
//! none is running and the last one ended at least [`MIN_GAP_MS`] ago, so a burst of
//! requests shows as a calm rhythm, never a strobe.

/// What the server tells the LED.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LedEvent {
    /// Starting up: fast blink.
    Starting,
    /// Serving: steady on with a slow heartbeat.
    Ready,
    /// A token was issued: a short flicker.
    TokenIssued,
    /// A client or user failed to authenticate: a double blink.
    AuthFailed,
    /// Something failed (the store): the error pattern for a while.
    Fault,
    /// Shutting down: off.
    Stopping,
}

/// The base state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Fast blink, 100 ms on, 100 ms off.
    Starting,
    /// On, with a 100 ms dip every 2 s: alive, not frozen.
    Ready,
    /// Three 150 ms blinks then 1 s dark, repeated: unlike anything else.
    Fault,
    /// Off.
    Off,
}

/// Least time between the end of one overlay and the start of the next.
pub const MIN_GAP_MS: u64 = 250;
/// How long the fault pattern lasts after the last fault.
pub const FAULT_HOLD_MS: u64 = 10_000;

/// An overlay: a list of (duration, level) steps starting at `start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Overlay {
    start: u64,
    steps: &'static [(u64, bool)],
}

impl Overlay {
    fn end(&self) -> u64 {
        self.start + self.steps.iter().map(|(d, _)| d).sum::<u64>()
    }

    fn level(&self, now: u64) -> Option<bool> {
        let mut t = self.start;
        for &(d, level) in self.steps {
            if now >= t && now < t + d {
                return Some(level);
            }
            t += d;
        }
        None
    }
}

/// A flicker: the LED goes dark briefly (it is normally on).
const FLICKER: &[(u64, bool)] = &[(60, false)];
/// A double blink: off-on-off-on, 120 ms each, then off for a beat.
const DOUBLE_BLINK: &[(u64, bool)] = &[
    (120, false),
    (120, true),
    (120, false),
    (120, true),
    (200, false),
];

/// The pattern state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    mode: Mode,
    mode_since: u64,
    fault_until: u64,
    overlay: Option<Overlay>,
    last_overlay_end: Option<u64>,
}

impl Default for Pattern {
    fn default() -> Self {
        Pattern {
            mode: Mode::Off,
            mode_since: 0,
            fault_until: 0,
            overlay: None,
            last_overlay_end: None,
        }
    }
}

impl Pattern {
    /// Feeds an event at `now` (ms).
    pub fn on_event(&mut self, event: LedEvent, now: u64) {
        if self.mode == Mode::Fault && now >= self.fault_until {
            // The fault has run its course: back to ready, from where it ended.
            self.set_mode(Mode::Ready, self.fault_until);
        }
        match event {
            LedEvent::Starting => self.set_mode(Mode::Starting, now),
            LedEvent::Ready => self.set_mode(Mode::Ready, now),
            LedEvent::Stopping => {
                self.set_mode(Mode::Off, now);
                self.overlay = None;
            }
            LedEvent::Fault => {
                if self.mode != Mode::Off {
                    if self.mode != Mode::Fault {
                        self.set_mode(Mode::Fault, now);
                    }
                    self.fault_until = now + FAULT_HOLD_MS;
                }
            }
            LedEvent::TokenIssued => self.start_overlay(FLICKER, now),
            LedEvent::AuthFailed => self.start_overlay(DOUBLE_BLINK, now),
        }
    }

    fn set_mode(&mut self, mode: Mode, now: u64) {
        self.mode = mode;
        self.mode_since = now;
    }

    fn start_overlay(&mut self, steps: &'static [(u64, bool)], now: u64) {
        // Overlays only decorate the ready state; dropped events are the point (no strobe).
        if self.mode != Mode::Ready {
            return;
        }
        if self.overlay.is_some_and(|o| now < o.end()) {
            return;
        }
        if self
            .last_overlay_end
            .is_some_and(|end| now < end + MIN_GAP_MS)
        {
            return;
        }
        let o = Overlay { start: now, steps };
        self.last_overlay_end = Some(o.end());
        self.overlay = Some(o);
    }

    /// The base mode at `now`.
    pub fn mode(&self, now: u64) -> Mode {
        if self.mode == Mode::Fault && now >= self.fault_until {
            Mode::Ready
        } else {
            self.mode
        }
    }

    /// Whether the LED is lit at `now` (ms).
    pub fn level(&self, now: u64) -> bool {
        let mode = self.mode(now);
        if mode == Mode::Ready {
            if let Some(level) = self.overlay.and_then(|o| o.level(now)) {
                return level;
            }
        }
        let t = now.saturating_sub(self.mode_since);
        match mode {
            Mode::Off => false,
            Mode::Starting => (t / 100) % 2 == 0,
            Mode::Ready => t % 2000 >= 100,
            Mode::Fault => {
                let phase = t % 1900; // 3 x (150 on + 150 off) + 1000 dark
                phase < 900 && (phase / 150) % 2 == 0
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Samples the level every `step` ms over [from, to).
    fn trace(p: &Pattern, from: u64, to: u64, step: u64) -> Vec<bool> {
        (from..to)
            .step_by(step as usize)
            .map(|t| p.level(t))
            .collect()
    }

    fn transitions(levels: &[bool]) -> usize {
        levels.windows(2).filter(|w| w[0] != w[1]).count()
    }

    #[test]
    fn starting_blinks_fast_and_stopping_is_dark() {
        let mut p = Pattern::default();
        p.on_event(LedEvent::Starting, 0);
        assert_eq!(
            trace(&p, 0, 400, 50),
            [true, true, false, false, true, true, false, false]
        );
        p.on_event(LedEvent::Stopping, 400);
        assert!(trace(&p, 400, 3000, 10).iter().all(|l| !l));
    }

    #[test]
    fn ready_is_on_with_a_slow_heartbeat() {
        let mut p = Pattern::default();
        p.on_event(LedEvent::Ready, 0);
        let levels = trace(&p, 0, 4000, 10);
        assert_eq!(
            levels.iter().filter(|l| !**l).count(),
            20,
            "two 100 ms dips in 4 s"
        );
        assert!(p.level(500));
    }

    #[test]
    fn a_token_flickers_and_an_auth_failure_double_blinks() {
        let mut p = Pattern::default();
        p.on_event(LedEvent::Ready, 0);
        p.on_event(LedEvent::TokenIssued, 500);
        assert!(!p.level(510));
        assert!(p.level(570));
        p.on_event(LedEvent::AuthFailed, 1000);
        assert_eq!(
            trace(&p, 1000, 1500, 120),
            [false, true, false, true, false]
        );
    }

    #[test]
    fn a_burst_of_requests_is_not_a_strobe() {
        let mut p = Pattern::default();
        p.on_event(LedEvent::Ready, 0);
        // 1000 tokens a second for 2 seconds, sampled as the LED thread does.
        let levels: Vec<bool> = (100..2100)
            .map(|t| {
                p.on_event(LedEvent::TokenIssued, t);
                p.level(t)
            })
            .collect();
        // At most one flicker per 60 + 250 ms: a handful of dips, not a thousand.
        let dips = transitions(&levels) / 2;
        assert!((3..=8).contains(&dips), "{dips} flickers in 2 s");
    }

    #[test]
    fn fault_shows_a_distinct_pattern_then_returns_to_ready() {
        let mut p = Pattern::default();
        p.on_event(LedEvent::Ready, 0);
        p.on_event(LedEvent::Fault, 1000);
        assert_eq!(p.mode(1000), Mode::Fault);
        let fault = trace(&p, 1000, 2900, 50);
        assert_eq!(transitions(&fault), 5, "three blinks then dark: {fault:?}");
        assert_eq!(p.mode(1000 + FAULT_HOLD_MS), Mode::Ready);
        // After the fault, activity shows again.
        p.on_event(LedEvent::TokenIssued, 15_000);
        assert!(!p.level(15_010), "flicker after the fault ended");
        // Overlays do not hide a new fault, which starts its pattern afresh.
        p.on_event(LedEvent::Fault, 20_000);
        p.on_event(LedEvent::TokenIssued, 20_001);
        assert!(p.level(20_010), "fault pattern is lit at its start");
        assert!(!p.level(20_160), "then dark");
    }
}
