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

/// A shared clock handle; clones see the same time. It remembers how it
/// started, so [`Clock::reset`] can put it back.
#[derive(Clone, Debug)]
pub struct Clock(Arc<Mutex<(Mode, Mode)>>);

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
        Self::starting(Mode::Running { offset: 0 })
    }

    /// A clock frozen at `t`.
    pub fn frozen_at(t: UnixTime) -> Self {
        Self::starting(Mode::Frozen(t))
    }

    fn starting(mode: Mode) -> Self {
        Clock(Arc::new(Mutex::new((mode, mode))))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (Mode, Mode)> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Puts the clock back as it started: following real time, or frozen
    /// at its start.
    pub fn reset(&self) {
        let mut s = self.lock();
        s.0 = s.1;
    }

    /// The current time.
    pub fn now(&self) -> UnixTime {
        match self.lock().0 {
            Mode::Running { offset } => system_now() + offset,
            Mode::Frozen(t) => t,
        }
    }

    /// True when the clock stands still.
    pub fn is_frozen(&self) -> bool {
        matches!(self.lock().0, Mode::Frozen(_))
    }

    /// Freezes the clock at `t`.
    pub fn set(&self, t: UnixTime) {
        self.lock().0 = Mode::Frozen(t);
    }

    /// Freezes the clock at its current reading.
    pub fn freeze(&self) {
        let now = self.now();
        self.set(now);
    }

    /// Lets a frozen clock run again from its current reading.
    pub fn resume(&self) {
        let now = self.now();
        self.lock().0 = Mode::Running {
            offset: now - system_now(),
        };
    }

    /// How far the clock has been moved from where it would stand had it
    /// been left alone since it started (set, advanced): a running clock's
    /// added offset, a frozen clock's distance from its start. What a
    /// skewed server clock would show other parties that keep real time.
    pub fn moved(&self) -> i64 {
        let s = self.lock();
        let untouched = match s.1 {
            Mode::Running { offset } => system_now() + offset,
            Mode::Frozen(t) => t,
        };
        drop(s);
        self.now() - untouched
    }

    /// Moves the clock forward (or back, for negative `secs`).
    pub fn advance(&self, secs: i64) {
        let mut s = self.lock();
        s.0 = match s.0 {
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
    fn moved_counts_only_what_was_done_to_the_clock() {
        let frozen = Clock::frozen_at(1_000);
        assert_eq!(frozen.moved(), 0);
        frozen.advance(3_600);
        assert_eq!(frozen.moved(), 3_600);
        let real = Clock::real();
        real.advance(-120);
        assert!((real.moved() + 120).abs() <= 1, "{}", real.moved());
        real.reset();
        assert!(real.moved().abs() <= 1);
    }

    #[test]
    fn reset_puts_the_clock_back_as_it_started() {
        let frozen = Clock::frozen_at(1_000);
        frozen.advance(86_400);
        frozen.resume();
        frozen.reset();
        assert_eq!((frozen.now(), frozen.is_frozen()), (1_000, true));
        let real = Clock::real();
        real.advance(-86_400 * 365);
        real.reset();
        assert!((real.now() - system_now()).abs() <= 1 && !real.is_frozen());
    }

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
