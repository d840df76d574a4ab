//! SimClock: one node's view of virtual time, with optional skew and drift.
//!
//! The world keeps one global virtual time. A node's local time is
//! `local = global + skew + global * drift_ppm / 1_000_000`, i.e. a constant offset plus a rate
//! error. Timers are requested in local durations; a local duration `d` elapses after
//! `d * 1_000_000 / (1_000_000 + drift_ppm)` global nanoseconds. Both knobs are zero by default.
//!
//! Invariant: `now()` never decreases, even if the skew is changed to a smaller value at run time
//! (the clock then stands still until global time catches up).

use std::cell::Cell;

use crate::io::Clock;
use crate::time::{Duration, Instant};

/// Skew and drift of one node's clock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClockConfig {
    /// Constant offset from global time, in nanoseconds (may be negative).
    pub skew_ns: i64,
    /// Rate error in parts per million: positive runs fast. Must be > -1_000_000.
    pub drift_ppm: i64,
}

/// A node's clock. The world sets the global time before each handler call.
#[derive(Debug)]
pub struct SimClock {
    global: Cell<Instant>,
    config: Cell<ClockConfig>,
    last: Cell<Instant>,
}

impl SimClock {
    pub fn new(config: ClockConfig) -> SimClock {
        Self::check(config);
        SimClock {
            global: Cell::new(Instant::ZERO),
            config: Cell::new(config),
            last: Cell::new(Instant::ZERO),
        }
    }

    fn check(config: ClockConfig) {
        assert!(
            config.drift_ppm > -1_000_000 && config.drift_ppm < 1_000_000,
            "drift must be within (-1e6, 1e6) ppm, got {}",
            config.drift_ppm
        );
    }

    /// Advances the global time this clock is derived from. Called by the world only.
    pub fn set_global(&self, now: Instant) {
        self.global.set(now);
    }

    /// Changes skew and drift from now on.
    pub fn set_config(&self, config: ClockConfig) {
        Self::check(config);
        self.config.set(config);
    }

    pub fn config(&self) -> ClockConfig {
        self.config.get()
    }

    /// Local time for a global instant (before the monotonic clamp).
    pub fn local_at(&self, global: Instant) -> Instant {
        let c = self.config.get();
        if c.skew_ns == 0 && c.drift_ppm == 0 {
            return global;
        }
        let g = i128::from(global.as_nanos());
        let local = g + i128::from(c.skew_ns) + g * i128::from(c.drift_ppm) / 1_000_000;
        Instant(local.clamp(0, i128::from(u64::MAX)) as u64)
    }

    /// The global span after which `local` nanoseconds have elapsed on this clock (rounded up, so
    /// a timer never fires early by the node's own clock).
    pub fn global_delay(&self, local: Duration) -> Duration {
        let ppm = self.config.get().drift_ppm;
        if ppm == 0 {
            return local;
        }
        let num = u128::from(local.as_nanos()) * 1_000_000;
        let den = (1_000_000 + ppm) as u128;
        Duration(u64::try_from(num.div_ceil(den)).unwrap_or(u64::MAX))
    }
}

impl Clock for SimClock {
    fn now(&self) -> Instant {
        let t = self.local_at(self.global.get()).max(self.last.get());
        self.last.set(t);
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_clock_is_global_time() {
        let c = SimClock::new(ClockConfig::default());
        c.set_global(Instant(12_345));
        assert_eq!(c.now(), Instant(12_345));
        assert_eq!(c.global_delay(Duration(77)), Duration(77));
    }

    #[test]
    fn skew_offsets_and_drift_scales() {
        let c = SimClock::new(ClockConfig { skew_ns: 1_000, drift_ppm: 100_000 });
        c.set_global(Instant(1_000_000));
        // 1ms global + 1us skew + 10% fast.
        assert_eq!(c.now(), Instant(1_000_000 + 1_000 + 100_000));
        // A 110us local timer is 100us of global time on a clock 10% fast.
        assert_eq!(c.global_delay(Duration(110_000)), Duration(100_000));
    }

    #[test]
    fn now_never_goes_backwards_when_skew_shrinks() {
        let c = SimClock::new(ClockConfig { skew_ns: 5_000, drift_ppm: 0 });
        c.set_global(Instant(10_000));
        assert_eq!(c.now(), Instant(15_000));
        c.set_config(ClockConfig { skew_ns: -5_000, drift_ppm: 0 });
        c.set_global(Instant(11_000));
        assert_eq!(c.now(), Instant(15_000));
        c.set_global(Instant(30_000));
        assert_eq!(c.now(), Instant(25_000));
    }

    #[test]
    fn slow_clock_timers_take_longer() {
        let c = SimClock::new(ClockConfig { skew_ns: 0, drift_ppm: -500_000 });
        assert_eq!(c.global_delay(Duration(1_000)), Duration(2_000));
    }
}
