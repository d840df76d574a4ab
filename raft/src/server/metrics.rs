//! Server metrics (etcd's `etcd_server_*` gauges and counters), written to the trace.

use std::fmt;

/// Counters and gauges of one node incarnation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Metrics {
    /// Times a new leader was seen (etcd_server_leader_changes_seen_total).
    pub leader_changes: u64,
    /// Whether a leader is known (etcd_server_has_leader).
    pub has_leader: bool,
    /// The commit index last persisted (etcd_server_proposals_committed_total).
    pub proposals_committed: u64,
    /// The index last applied (etcd_server_proposals_applied_total).
    pub proposals_applied: u64,
    /// Proposals of this node waiting for their result (etcd_server_proposals_pending).
    pub proposals_pending: u64,
    /// Proposals that failed: dropped for lack of a leader or timed out
    /// (etcd_server_proposals_failed_total).
    pub proposals_failed: u64,
    /// Apply batches larger than the configured slow-apply size.
    pub slow_applies: u64,
    /// Snapshots taken by this node.
    pub snapshots: u64,
}

impl fmt::Display for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "leader_changes={} has_leader={} committed={} applied={} pending={} failed={} \
             slow_applies={} snapshots={}",
            self.leader_changes,
            u8::from(self.has_leader),
            self.proposals_committed,
            self.proposals_applied,
            self.proposals_pending,
            self.proposals_failed,
            self.slow_applies,
            self.snapshots
        )
    }
}
