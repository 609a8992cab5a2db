//! Warnings about a condition that recurs on every request, summed.
//!
//! Once the refresh-family cap is reached, every new grant evicts a family. A line per grant
//! would fill the journal (and wear the SD card) with the same news; a [`Notice`] says it the
//! first time, then at most once per interval with how often it happened since.

use std::time::{Duration, Instant};

/// Counts occurrences and says when one report of them is due.
#[derive(Debug)]
pub struct Notice {
    interval: Duration,
    last: Option<Instant>,
    pending: u64,
}

impl Notice {
    /// A notice reported at most once per `interval`.
    pub const fn new(interval: Duration) -> Notice {
        Notice {
            interval,
            last: None,
            pending: 0,
        }
    }

    /// Counts `n` more occurrences at `now`. Returns how many to report when a report is due
    /// (the first time, then once `interval` has passed since the last report); the count then
    /// starts again.
    pub fn record(&mut self, now: Instant, n: u64) -> Option<u64> {
        self.pending = self.pending.saturating_add(n);
        let due = self
            .last
            .is_none_or(|last| now.saturating_duration_since(last) >= self.interval);
        if !due || self.pending == 0 {
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.pending))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_occurrence_is_reported_then_summed_per_interval() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut n = Notice::new(s(60));
        assert_eq!(n.record(t0, 1), Some(1));
        assert_eq!(n.record(t0 + s(1), 1), None);
        assert_eq!(n.record(t0 + s(30), 2), None);
        assert_eq!(n.record(t0 + s(60), 1), Some(4));
        assert_eq!(n.record(t0 + s(61), 1), None);
        // Nothing happened for a while: the next occurrence is news at once.
        assert_eq!(n.record(t0 + s(500), 1), Some(2));
    }

    #[test]
    fn nothing_to_report_is_never_reported() {
        let t0 = Instant::now();
        let mut n = Notice::new(Duration::from_secs(1));
        assert_eq!(n.record(t0, 0), None);
        assert_eq!(n.record(t0 + Duration::from_secs(5), 0), None);
        assert_eq!(n.record(t0 + Duration::from_secs(6), 3), Some(3));
    }
}
