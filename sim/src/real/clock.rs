//! [`RealClock`]: the clock seam on the operating system's monotonic clock.
//!
//! Time is `std::time::Instant` measured from the moment the clock was created (the real
//! runtime's start), expressed as [`crate::time::Instant`] nanoseconds, so real and simulated
//! runs hand actors the same type. The OS clock is monotonic, hence so is this one.

use std::time::Instant as StdInstant;

use crate::io::Clock;
use crate::time::{Duration, Instant};

/// The real monotonic clock, counting nanoseconds from its epoch (its creation).
///
/// Copies share the epoch, so every copy reads the same time.
#[derive(Clone, Copy, Debug)]
pub struct RealClock {
    epoch: StdInstant,
}

impl RealClock {
    /// A clock whose epoch (`Instant::ZERO`) is now.
    pub fn new() -> RealClock {
        RealClock { epoch: StdInstant::now() }
    }

    /// The wall-clock span from `now()` until `deadline`, zero if it has passed. Used by the
    /// runtime to decide how long to block waiting for the network.
    pub fn until(&self, deadline: Instant) -> core::time::Duration {
        deadline.saturating_since(self.now()).into()
    }

    /// The instant `after` from now by this clock.
    pub fn deadline_after(&self, after: Duration) -> Instant {
        Instant(self.now().0.saturating_add(after.0))
    }
}

impl Default for RealClock {
    fn default() -> RealClock {
        RealClock::new()
    }
}

impl Clock for RealClock {
    fn now(&self) -> Instant {
        // u64 nanoseconds cover 584 years of uptime; saturate rather than wrap beyond that.
        Instant(u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_near_zero_and_never_goes_backwards() {
        let clock = RealClock::new();
        let mut last = clock.now();
        // A fresh clock reads well under a minute (it is relative to its own creation, not to
        // boot or the Unix epoch).
        assert!(last < Instant::ZERO + Duration::from_secs(60), "fresh clock reads {last}");
        for _ in 0..1000 {
            let t = clock.now();
            assert!(t >= last, "clock went backwards: {last} then {t}");
            last = t;
        }
    }

    #[test]
    fn copies_share_the_epoch() {
        let a = RealClock::new();
        let b = a;
        let (ta, tb) = (a.now(), b.now());
        let tc = a.now();
        assert!(ta <= tb && tb <= tc, "copies disagree: {ta} {tb} {tc}");
    }

    #[test]
    fn until_a_past_deadline_is_zero() {
        let clock = RealClock::new();
        assert_eq!(clock.until(Instant::ZERO), core::time::Duration::ZERO);
        let far = clock.deadline_after(Duration::from_secs(3600));
        assert!(clock.until(far) > core::time::Duration::from_secs(3000));
    }
}
