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

// ----- server, WAL, snapshotter -----

/// `Wal::save` decides whether to sync from the entries alone: a save carrying only a new term
/// or vote is written but not synced, so a crash can forget a vote that was already granted.
pub static WAL_SYNC_ENTRIES_ONLY: PlantedBug = PlantedBug {
    name: "wal-sync-entries-only",
    layer: "wal",
    summary: "a save with a new term or vote but no entries is not synced (MustSync from entries \
              only): a granted vote can be forgotten by a crash and granted again",
};

/// A cut renames the new segment into place but does not sync the directory: a crash can undo
/// the rename and with it every record synced to the new segment since.
pub static WAL_CUT_SKIPS_DIR_SYNC: PlantedBug = PlantedBug {
    name: "wal-cut-skips-dir-sync",
    layer: "wal",
    summary: "a cut renames the new segment into place without syncing the directory: a crash \
              can lose the segment and every record synced to it",
};

/// Repair truncates at the start of the last valid record instead of at the torn one: it drops
/// a record that was complete, and possibly synced, with the torn one.
pub static WAL_REPAIR_DROPS_LAST_VALID: PlantedBug = PlantedBug {
    name: "wal-repair-drops-last-valid",
    layer: "wal",
    summary: "torn-tail repair truncates at the start of the last valid record, not at the torn \
              one: a synced record is cut off with the unsynced tail",
};

/// The decoder takes every CRC mismatch in the last segment for a torn write, not only those
/// with an unwritten (all-zero) sector: bit rot in a synced record is silently repaired away.
pub static WAL_CRC_MISMATCH_AS_TORN: PlantedBug = PlantedBug {
    name: "wal-crc-mismatch-as-torn",
    layer: "wal",
    summary: "any crc mismatch in the last segment counts as a torn tail: repair truncates \
              synced records after bit rot instead of refusing to start",
};

/// Opening the WAL trusts what it read from the tail: it no longer writes the tail's records
/// again before syncing, so records a failed fsync lost stay readable only in the page cache.
pub static WAL_OPEN_TRUSTS_PAGE_CACHE: PlantedBug = PlantedBug {
    name: "wal-open-trusts-page-cache",
    layer: "wal",
    summary: "open does not rewrite the tail's records before its sync: after a failed fsync, \
              new synced records sit behind a hole that a power loss turns into the log's end",
};

/// The snapshotter renames the snapshot file into place without syncing its data first.
pub static SNAP_SAVE_SKIPS_FSYNC: PlantedBug = PlantedBug {
    name: "snap-save-skips-fsync",
    layer: "snapshotter",
    summary: "a snapshot file is renamed into place without an fsync of its data: after a crash \
              the named snapshot can be empty or torn while its WAL marker is durable",
};

/// Loading walks the snapshot files oldest first, so boot starts from the oldest usable one.
pub static SNAP_LOAD_OLDEST: PlantedBug = PlantedBug {
    name: "snap-load-oldest",
    layer: "snapshotter",
    summary: "loading returns the oldest usable snapshot instead of the newest: boot starts \
              from a stale snapshot whose WAL segments may be purged",
};

/// Linearizable reads are answered once their read index is known, without waiting for the
/// applied index to reach it.
pub static READ_BEFORE_APPLY: PlantedBug = PlantedBug {
    name: "read-before-apply",
    layer: "server",
    summary: "a linearizable read is served as soon as its read index is known, before apply \
              reaches it: the read can miss writes that completed before it started",
};

/// A proposal that timed out while no leader is known is answered "no leader", a definite
/// failure, although it may have been forwarded and may still commit.
pub static TIMEOUT_AS_NO_LEADER: PlantedBug = PlantedBug {
    name: "timeout-as-no-leader",
    layer: "server",
    summary: "a proposal that times out while no leader is known is answered NoLeader (definitely \
              not done) instead of Timeout (outcome unknown), though it may still commit",
};

/// Replaying entries after a restart re-applies the one at the consistent index.
pub static REAPPLY_AT_CONSISTENT_INDEX: PlantedBug = PlantedBug {
    name: "reapply-at-consistent-index",
    layer: "server",
    summary: "after a restart the entry at the state machine's consistent index is applied again \
              (fresh means index >= consistent index): an applied entry takes effect twice",
};

/// With a snapshot in the Ready, the hard state is saved without the extra sync.
pub static SNAPSHOT_HARD_STATE_UNSYNCED: PlantedBug = PlantedBug {
    name: "snapshot-hard-state-unsynced",
    layer: "server",
    summary: "installing a snapshot does not sync the hard state that commits it before the \
              state machine restores it: a crash boots from an older snapshot below the state",
};

/// Boot trusts the hard state's commit index even when the state machine is ahead of it.
pub static BOOT_COMMIT_FROM_WAL_ONLY: PlantedBug = PlantedBug {
    name: "boot-commit-from-wal-only",
    layer: "server",
    summary: "boot starts raft's commit index at the WAL's hard state even when the state \
              machine already applied past it: the applied index lags what the store holds",
};

/// Every planted bug of this crate, in `dst bugs` order.
pub static ALL: &[&PlantedBug] = &[
    &ACK_BEFORE_WAL_SYNC,
    // ----- server, WAL, snapshotter -----
    &WAL_SYNC_ENTRIES_ONLY,
    &WAL_CUT_SKIPS_DIR_SYNC,
    &WAL_REPAIR_DROPS_LAST_VALID,
    &WAL_CRC_MISMATCH_AS_TORN,
    &WAL_OPEN_TRUSTS_PAGE_CACHE,
    &SNAP_SAVE_SKIPS_FSYNC,
    &SNAP_LOAD_OLDEST,
    &READ_BEFORE_APPLY,
    &TIMEOUT_AS_NO_LEADER,
    &REAPPLY_AT_CONSISTENT_INDEX,
    &SNAPSHOT_HARD_STATE_UNSYNCED,
    &BOOT_COMMIT_FROM_WAL_ONLY,
];
