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

/// Proposals and reads are matched to their waiters by key alone: a committed proposal or a
/// read state of an earlier incarnation answers whatever waits under that key now.
pub static WAITERS_IGNORE_BOOT: PlantedBug = PlantedBug {
    name: "waiters-ignore-boot",
    layer: "server",
    summary: "results are matched to waiting clients by key, not by (incarnation, key): after a \
              restart an old incarnation's entry or read state answers a new client's request",
};

/// Boot trusts the hard state's commit index even when the state machine is ahead of it.
pub static BOOT_COMMIT_FROM_WAL_ONLY: PlantedBug = PlantedBug {
    name: "boot-commit-from-wal-only",
    layer: "server",
    summary: "boot starts raft's commit index at the WAL's hard state even when the state \
              machine already applied past it: the applied index lags what the store holds",
};

// ----- raft core -----

/// `is_up_to_date` compares only the last terms: a candidate whose log ends in our last term
/// wins our vote however short its log is.
pub static VOTE_IGNORES_LAST_INDEX: PlantedBug = PlantedBug {
    name: "vote-ignores-last-index",
    layer: "raft-core",
    summary: "a vote is granted when the candidate's last term equals ours, whatever its last \
              index: a shorter log can win and drop committed entries (election restriction)",
};

/// `can_vote` drops the "not voted yet" half of its test: a candidate that voted for itself
/// (no leader known) grants a rival in the same term.
pub static VOTE_TWICE_IN_TERM: PlantedBug = PlantedBug {
    name: "vote-twice-in-term",
    layer: "raft-core",
    summary: "a node that already voted in this term grants another candidate while it knows \
              no leader: two votes in one term, two leaders (election safety)",
};

/// Granting a pre-vote also records it as the node's vote in its current term.
pub static PRE_VOTE_RECORDS_VOTE: PlantedBug = PlantedBug {
    name: "pre-vote-records-vote",
    layer: "raft-core",
    summary: "granting a pre-vote overwrites the vote already cast in the current term (a \
              second vote in one term, persisted)",
};

/// `find_conflict` treats every entry at an index we already hold as matching, so a follower
/// never truncates a conflicting uncommitted suffix.
pub static APPEND_KEEPS_CONFLICTING_ENTRIES: PlantedBug = PlantedBug {
    name: "append-keeps-conflicting-entries",
    layer: "raft-core",
    summary: "a follower keeps its own entries where the leader's differ (conflicts found by \
              index, not term) and acknowledges the leader's: log matching breaks",
};

/// Heartbeats carry the leader's commit index instead of `min(match, commit)`.
pub static HEARTBEAT_CARRIES_LEADER_COMMIT: PlantedBug = PlantedBug {
    name: "heartbeat-carries-leader-commit",
    layer: "raft-core",
    summary: "heartbeats carry the leader's commit, not min(match, commit): a follower commits \
              the stale tail it has not yet had replaced",
};

/// A response from an older term is stepped like a current one (only requests are checked
/// for staleness).
pub static STALE_RESPONSES_ACCEPTED: PlantedBug = PlantedBug {
    name: "stale-responses-accepted",
    layer: "raft-core",
    summary: "responses from older terms are not dropped: a candidate counts votes granted for \
              an earlier term, a leader counts acknowledgements its followers gave an earlier \
              leader",
};

/// The vote quorum is `(n + 1) / 2`, which is a majority only for odd `n`. Reached only in
/// configurations with an even number of voters (the membership scenario's 4-voter steps);
/// harm needs a 2|2 split there.
pub static VOTE_QUORUM_HALF: PlantedBug = PlantedBug {
    name: "vote-quorum-half",
    layer: "raft-core",
    summary: "the vote quorum is (n+1)/2, half of an even voter set: two halves can each elect \
              a leader, and half the voters keep a leader alive and confirm its reads",
};

/// A new leader answers ReadIndex before it has committed an entry of its own term. Reached
/// only by reads arriving within the round trip between a leader's election and its no-op's
/// commit; stale only if its commit index then lags an acknowledged write.
pub static READ_INDEX_BEFORE_TERM_COMMIT: PlantedBug = PlantedBug {
    name: "read-index-before-term-commit",
    layer: "raft-core",
    summary: "a new leader serves ReadIndex at its commit index before committing an entry of \
              its term, when that index may still lag the cluster's (stale read)",
};

/// A ReadIndex is answered as soon as no quorum has refused it, before one has acknowledged.
/// Invisible with 3 voters (the leader and the first acknowledgement already make a quorum);
/// with 5, taken on nearly every read, stale only if the leader was deposed meanwhile.
pub static READ_INDEX_WITHOUT_QUORUM: PlantedBug = PlantedBug {
    name: "read-index-without-quorum",
    layer: "raft-core",
    summary: "ReadIndex is answered while the heartbeat acknowledgements are short of a quorum \
              (pending, not won): a deposed leader serves stale reads",
};

/// A follower serves a forwarded ReadIndex at no more than its own commit index.
pub static FOLLOWER_READ_AT_OWN_COMMIT: PlantedBug = PlantedBug {
    name: "follower-read-at-own-commit",
    layer: "raft-core",
    summary: "a follower caps the leader's read index at its own commit index, which may lag \
              the leader's: the read misses writes already acknowledged (stale read)",
};

/// After a snapshot, the committed entries to apply are read from `applied + 1` instead of
/// from the first index after the snapshot.
pub static COMMITTED_ENTRIES_IGNORE_SNAPSHOT: PlantedBug = PlantedBug {
    name: "committed-entries-ignore-snapshot",
    layer: "raft-core",
    summary: "after a snapshot the entries to apply start at applied + 1, not past the \
              snapshot: the node asks its log for compacted entries",
};

/// The commit quorum index is `(n - 1) / 2` into the acked indexes sorted high to low: right
/// for odd voter sets, one short for even ones (4 voters commit on 2 acknowledgements).
pub static COMMIT_QUORUM_EVEN_HALF: PlantedBug = PlantedBug {
    name: "commit-quorum-even-half",
    layer: "raft-core",
    summary: "the commit index is the ((n-1)/2)-th highest acknowledged index: with an even \
              number of voters (mid membership change) half of them commit an entry",
};

/// The leader commits an entry from an earlier term once a quorum holds it (raft paper,
/// figure 8): such an entry can still be overwritten by a leader that never saw it.
pub static COMMIT_COUNTS_OLD_TERM_ENTRIES: PlantedBug = PlantedBug {
    name: "commit-counts-old-term-entries",
    layer: "raft-core",
    summary: "a leader commits entries of earlier terms by counting replicas (figure 8): a \
              committed entry can be overwritten by the next leader",
};

/// A rejected append's hint (the follower's last index) is taken as its match index.
pub static REJECT_HINT_AS_MATCH: PlantedBug = PlantedBug {
    name: "reject-hint-as-match",
    layer: "raft-core",
    summary: "a rejected append's hint (the follower's last index) is recorded as its match: \
              the leader counts entries the follower holds with other terms toward commit",
};

/// A follower accepts an append when it has an entry at the previous index, whatever its term.
pub static APPEND_IGNORES_PREV_TERM: PlantedBug = PlantedBug {
    name: "append-ignores-prev-term",
    layer: "raft-core",
    summary: "an append is accepted when the follower has an entry at the previous index, \
              whatever its term: the log matching check is skipped",
};

/// The leader counts its own new entries toward commit as soon as it appends them, before its
/// WAL save makes them durable (etcd's classic `appendEntry`, without the parallel-write rule).
pub static LEADER_COUNTS_UNSYNCED_ENTRIES: PlantedBug = PlantedBug {
    name: "leader-counts-unsynced-entries",
    layer: "raft-core",
    summary: "a leader counts its own entries toward commit when it appends them, before they \
              are durable: an entry commits with one durable copy short of a quorum",
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
    &WAITERS_IGNORE_BOOT,
    // ----- raft core -----
    &VOTE_IGNORES_LAST_INDEX,
    &VOTE_TWICE_IN_TERM,
    &PRE_VOTE_RECORDS_VOTE,
    &APPEND_KEEPS_CONFLICTING_ENTRIES,
    &HEARTBEAT_CARRIES_LEADER_COMMIT,
    &STALE_RESPONSES_ACCEPTED,
    &VOTE_QUORUM_HALF,
    &READ_INDEX_BEFORE_TERM_COMMIT,
    &READ_INDEX_WITHOUT_QUORUM,
    &FOLLOWER_READ_AT_OWN_COMMIT,
    &COMMITTED_ENTRIES_IGNORE_SNAPSHOT,
    &COMMIT_QUORUM_EVEN_HALF,
    &COMMIT_COUNTS_OLD_TERM_ENTRIES,
    &REJECT_HINT_AS_MATCH,
    &APPEND_IGNORES_PREV_TERM,
    &LEADER_COUNTS_UNSYNCED_ENTRIES,
];
