//! The clock seam.

use crate::time::Instant;

/// A node's view of monotonic time.
///
/// Simulated: virtual nanoseconds, possibly skewed and drifting per node. Real:
/// `std::time::Instant` relative to the runtime's start. Timers are not part of this trait: a
/// handler asks its [`crate::env::Env`] for one and the runtime delivers it as an event.
pub trait Clock {
    /// The current time. Never decreases between calls on one node.
    fn now(&self) -> Instant;
}
