//! Time as a port, so tests can pin "now" (timestamp windows, deadlines, token expiry).

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{SystemTime, UNIX_EPOCH},
};

/// Source of the current time since the epoch.
pub trait Clock: Send + Sync {
    /// Whole epoch seconds, rounded down.
    fn now_secs(&self) -> u64;

    /// Epoch milliseconds, for what must not round "now" by up to a second (when a retry is due, how much of
    /// a Lambda invocation is left). A clock without sub-second time reports its whole seconds.
    fn now_millis(&self) -> u64 {
        self.now_secs().saturating_mul(1000)
    }
}

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl SystemClock {
    fn since_epoch() -> std::time::Duration {
        SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
    }
}

impl Clock for SystemClock {
    fn now_secs(&self) -> u64 {
        Self::since_epoch().as_secs()
    }

    fn now_millis(&self) -> u64 {
        u64::try_from(Self::since_epoch().as_millis()).unwrap_or(u64::MAX)
    }
}

/// A clock tests move by hand, to the millisecond.
#[derive(Clone, Debug, Default)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    pub fn at(secs: u64) -> Self {
        Self::at_millis(secs.saturating_mul(1000))
    }
    pub fn at_millis(millis: u64) -> Self {
        Self(Arc::new(AtomicU64::new(millis)))
    }
    pub fn set(&self, secs: u64) {
        self.set_millis(secs.saturating_mul(1000));
    }
    pub fn set_millis(&self, millis: u64) {
        self.0.store(millis, Ordering::SeqCst);
    }
    pub fn advance(&self, secs: u64) {
        self.advance_millis(secs.saturating_mul(1000));
    }
    pub fn advance_millis(&self, millis: u64) {
        self.0.fetch_add(millis, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_secs(&self) -> u64 {
        self.now_millis() / 1000
    }

    fn now_millis(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_rounds_seconds_down_and_keeps_milliseconds() {
        let clock = ManualClock::at_millis(100_900);
        assert_eq!((clock.now_secs(), clock.now_millis()), (100, 100_900));
        clock.advance(7);
        assert_eq!((clock.now_secs(), clock.now_millis()), (107, 107_900));
        clock.advance_millis(100);
        assert_eq!(clock.now_secs(), 108);
        clock.set(5);
        assert_eq!(clock.now_millis(), 5_000);
    }

    #[test]
    fn the_system_clock_agrees_with_itself() {
        let (secs, millis) = (SystemClock.now_secs(), SystemClock.now_millis());
        assert!(
            millis / 1000 >= secs && millis / 1000 <= secs + 1,
            "{secs} s vs {millis} ms"
        );
    }
}
