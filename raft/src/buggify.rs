//! The BUGGIFY sites of the raft stack (see `sim::buggify`): rare but legal moments of the WAL,
//! the snapshotter and the server loop, run on purpose in simulations that enable BUGGIFY.
//!
//! The WAL, the snapshotter and the consensus core do no I/O of their own and have no `Env`:
//! every site is asked by the server loop ([`crate::server`]), which drives them and triggers the
//! rare path through their public API (`Wal::cut_early`, `Wal::split_next_write`, raft's
//! randomized election timeout, ...). Each site is something a correct stack must tolerate: a
//! cut, a snapshot or a commit at another moment, a slow disk, a lost heartbeat, a timeout
//! raft itself could have drawn. None may make a correct build fail an oracle.
//!
//! | site | where | what it does when it fires |
//! | --- | --- | --- |
//! | `raft.wal.early-cut` | Ready, after the WAL save | cuts a new segment now, whatever the tail's size (tiny segments) |
//! | `raft.wal.split-write` | Ready, before the WAL save | the save's buffered records reach the file in two writes (a short write and its remainder) |
//! | `raft.wal.slow-fsync` | Ready, after a WAL save with entries | the handler stalls 20..=800 ms, as behind a slow fdatasync |
//! | `raft.snap.early` | apply | takes a snapshot now, long before `snapshot_count` entries (snapshot every few entries) |
//! | `raft.server.commit-early` | apply | commits the state machine's batch after this batch of entries, whatever its batching policy says |
//! | `raft.server.commit-late` | apply, tick | skips this chance to commit the state machine's batch (it stays buffered longer) |
//! | `raft.server.slow-apply` | Ready | defers applying this Ready's committed entries to the next tick (not conf changes, not with a snapshot) |
//! | `raft.server.drop-heartbeat` | send | drops one outgoing heartbeat |
//! | `raft.server.election-timeout-min` | first tick of a term | sets raft's randomized election timeout to its lowest value, `election_tick` |
//! | `raft.server.election-timeout-max` | first tick of a term | sets it to its highest value, `2 * election_tick - 1` |

use sim::buggify::SiteInfo;

pub const WAL_EARLY_CUT: &str = "raft.wal.early-cut";
pub const WAL_SPLIT_WRITE: &str = "raft.wal.split-write";
pub const WAL_SLOW_FSYNC: &str = "raft.wal.slow-fsync";
pub const SNAPSHOT_EARLY: &str = "raft.snap.early";
pub const COMMIT_EARLY: &str = "raft.server.commit-early";
pub const COMMIT_LATE: &str = "raft.server.commit-late";
pub const SLOW_APPLY: &str = "raft.server.slow-apply";
pub const DROP_HEARTBEAT: &str = "raft.server.drop-heartbeat";
pub const ELECTION_TIMEOUT_MIN: &str = "raft.server.election-timeout-min";
pub const ELECTION_TIMEOUT_MAX: &str = "raft.server.election-timeout-max";

/// Every site of this crate (the table above).
pub const SITES: &[SiteInfo] = &[
    SiteInfo { name: WAL_EARLY_CUT, what: "cut a WAL segment now (tiny segments)" },
    SiteInfo { name: WAL_SPLIT_WRITE, what: "write a WAL save in two writes" },
    SiteInfo { name: WAL_SLOW_FSYNC, what: "stall 20..=800 ms after a WAL sync" },
    SiteInfo { name: SNAPSHOT_EARLY, what: "snapshot now, before snapshot_count entries" },
    SiteInfo { name: COMMIT_EARLY, what: "commit the state machine's batch after applying" },
    SiteInfo { name: COMMIT_LATE, what: "skip a batch commit of the state machine" },
    SiteInfo { name: SLOW_APPLY, what: "apply committed entries one tick later" },
    SiteInfo { name: DROP_HEARTBEAT, what: "drop an outgoing heartbeat" },
    SiteInfo { name: ELECTION_TIMEOUT_MIN, what: "election timeout at its lowest value" },
    SiteInfo { name: ELECTION_TIMEOUT_MAX, what: "election timeout at its highest value" },
];

/// Shortest stall of `raft.wal.slow-fsync`, in milliseconds.
pub const SLOW_FSYNC_MIN_MS: u64 = 20;
/// Longest stall of `raft.wal.slow-fsync`, in milliseconds.
pub const SLOW_FSYNC_MAX_MS: u64 = 800;
