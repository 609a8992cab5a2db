//! Whether the clock can be trusted to mint tokens: a token's `iat`, `nbf` and `exp` are
//! only as good as the clock. A Pi has no battery-backed clock unless one is fitted: until
//! NTP has set it, it reads 1970 or the time of its last shutdown.

use serde::Serialize;

/// When this binary was built, Unix time: no true time is earlier.
pub const BUILD_FLOOR: u64 = match u64::from_str_radix(env!("PIAUTH_BUILD_UNIX"), 10) {
    Ok(t) => t,
    Err(_) => 0,
};

/// What is wrong with the clock, if anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockState {
    /// Trusted.
    Ok,
    /// Earlier than the binary's build: certainly wrong.
    BeforeBuild,
    /// The kernel says it is not synchronised, and synchronisation is required.
    Unsynchronized,
}

impl ClockState {
    /// Judges the clock: `now` (Unix seconds), the floor, whether synchronisation is
    /// required, and what the kernel says (`None`: it could not be asked).
    pub fn judge(now: u64, floor: u64, require_synced: bool, kernel_synced: Option<bool>) -> Self {
        if now < floor {
            ClockState::BeforeBuild
        } else if require_synced && kernel_synced != Some(true) {
            ClockState::Unsynchronized
        } else {
            ClockState::Ok
        }
    }

    /// Why, in words, for the log and `/health`.
    pub fn why(self) -> &'static str {
        match self {
            ClockState::Ok => "the clock is trusted",
            ClockState::BeforeBuild => "the clock reads earlier than this piauth was built",
            ClockState::Unsynchronized => {
                "the clock is not known to be synchronised (no NTP yet, or the kernel cannot be \
                 asked; require_synced_clock)"
            }
        }
    }
}

/// How long the clock must have been trusted before expired records are purged: a clock
/// set far ahead for a moment must not purge every refresh family.
pub const TRUSTED_BEFORE_PURGE: u64 = 10 * 60;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clock_before_the_build_or_unsynchronised_when_required_is_not_trusted() {
        let floor = 1_790_000_000;
        assert_eq!(
            ClockState::judge(0, floor, false, Some(true)),
            ClockState::BeforeBuild
        );
        assert_eq!(
            ClockState::judge(floor - 1, floor, false, None),
            ClockState::BeforeBuild
        );
        assert_eq!(
            ClockState::judge(floor, floor, false, Some(false)),
            ClockState::Ok
        );
        assert_eq!(
            ClockState::judge(floor + 9, floor, true, Some(false)),
            ClockState::Unsynchronized
        );
        // A kernel that cannot be asked does not count as synchronised when it must be.
        assert_eq!(
            ClockState::judge(floor + 9, floor, true, None),
            ClockState::Unsynchronized
        );
        assert_eq!(
            ClockState::judge(floor + 9, floor, true, Some(true)),
            ClockState::Ok
        );
        const { assert!(BUILD_FLOOR > 1_700_000_000) };
    }
}
