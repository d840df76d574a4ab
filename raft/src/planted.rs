//! The planted bugs of this crate (see [`sim::planted`]): realistic one-line mistakes in the
//! consensus core, the server loop, the WAL and the snapshotter, each off unless a test or
//! `dst --bug NAME` switches it on for one run.

use sim::planted::PlantedBug;

/// Members acknowledge appended entries before their WAL save: a power loss can then lose
/// entries a quorum acknowledged.
pub static ACK_BEFORE_WAL_SYNC: PlantedBug = PlantedBug {
    name: "ack-before-wal-sync",
    layer: "server",
    summary: "append acknowledgements and vote grants leave before the WAL save that backs them",
};

/// Every planted bug of this crate, in `dst bugs` order.
pub static ALL: &[&PlantedBug] = &[&ACK_BEFORE_WAL_SYNC];
