//! The planted bugs of this crate (see [`sim::planted`]): realistic one-line mistakes, each off
//! unless a test or `dst --bug NAME` switches it on for one run.

use sim::planted::PlantedBug;

/// Every planted bug of this crate, in `dst bugs` order.
pub static ALL: &[&PlantedBug] = &[];
