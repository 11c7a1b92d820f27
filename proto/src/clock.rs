//! The virtual clock: real time by default, or frozen, set and advanced by a
//! test. Validity periods, CRL times and expiry decisions all read it.

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, UTC.
pub type UnixTime = i64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Real time plus an offset (advancing a running clock shifts it).
    Running { offset: i64 },
    /// Time stands still at this instant until set or advanced.
    Frozen(UnixTime),
}

/// A shared clock handle; clones see the same time.
#[derive(Clone, Debug)]
pub struct Clock(Arc<Mutex<Mode>>);

impl Default for Clock {
    fn default() -> Self {
        Clock::real()
    }
}

fn system_now() -> UnixTime {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl Clock {
    /// A clock that follows the system clock.
    pub fn real() -> Self {
        Clock(Arc::new(Mutex::new(Mode::Running { offset: 0 })))
    }

    /// A clock frozen at `t`.
    pub fn frozen_at(t: UnixTime) -> Self {
        Clock(Arc::new(Mutex::new(Mode::Frozen(t))))
    }

    fn mode(&self) -> std::sync::MutexGuard<'_, Mode> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The current time.
    pub fn now(&self) -> UnixTime {
        match *self.mode() {
            Mode::Running { offset } => system_now() + offset,
            Mode::Frozen(t) => t,
        }
    }

    /// True when the clock stands still.
    pub fn is_frozen(&self) -> bool {
        matches!(*self.mode(), Mode::Frozen(_))
    }

    /// Freezes the clock at `t`.
    pub fn set(&self, t: UnixTime) {
        *self.mode() = Mode::Frozen(t);
    }

    /// Freezes the clock at its current reading.
    pub fn freeze(&self) {
        let now = self.now();
        self.set(now);
    }

    /// Lets a frozen clock run again from its current reading.
    pub fn resume(&self) {
        let now = self.now();
        *self.mode() = Mode::Running {
            offset: now - system_now(),
        };
    }

    /// Moves the clock forward (or back, for negative `secs`).
    pub fn advance(&self, secs: i64) {
        let mut mode = self.mode();
        *mode = match *mode {
            Mode::Running { offset } => Mode::Running {
                offset: offset + secs,
            },
            Mode::Frozen(t) => Mode::Frozen(t + secs),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frozen_clock_moves_only_when_told() {
        let c = Clock::frozen_at(1_700_000_000);
        assert_eq!(c.now(), 1_700_000_000);
        c.advance(86_400);
        assert_eq!(c.now(), 1_700_086_400);
        let shared = c.clone();
        shared.set(5);
        assert_eq!(c.now(), 5);
    }

    #[test]
    fn running_clock_keeps_offset() {
        let c = Clock::real();
        c.advance(1000);
        let d = c.now() - system_now();
        assert!((999..=1001).contains(&d), "offset {d}");
        c.freeze();
        assert!(c.is_frozen());
        c.resume();
        assert!(!c.is_frozen());
    }
}
