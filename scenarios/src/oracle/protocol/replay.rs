//! Applied state within reach of a boot: a node never applies past what a crash right now
//! would let it read back.
//!
//! A boot restores the newest snapshot whose marker the durable hard state's commit covers,
//! then replays the WAL entries after it (see [`DurableLog::boot_reach`]). Whatever the state
//! machine has applied beyond that point is state a crash leaves the log unable to explain:
//! the member would boot with its state machine ahead of its raft log (etcd refuses such a
//! member). The rule is checked after every step — a "dry boot" of the durable image — so it
//! fires whenever the window is open, not only when a crash happens to land in it.
//!
//! Examples it catches: installing a snapshot (marker synced, state machine restored) without
//! syncing the hard state whose commit validates the marker; applying entries before they are
//! synced; a WAL segment renamed into place without a directory sync.
//!
//! Nodes with injected bit rot are not judged: their WAL may rightly read back less.

use super::super::durable_wal::DurableLog;
use super::{Property, ProtocolOracle};
use crate::cluster::{Cluster, Observable};

impl ProtocolOracle {
    /// Node `n`'s stored bytes were damaged on purpose: its durable image no longer bounds
    /// what it has applied.
    pub fn damaged(&mut self, n: u32) {
        self.damaged.insert(n);
    }

    /// Checks that node `n`'s applied index is within its durable image's boot reach.
    pub(super) fn check_replayable<S: Observable>(&mut self, c: &Cluster<S>, n: u32) {
        if self.damaged.contains(&n) {
            return;
        }
        let Some(r) = c.running(n) else { return };
        let applied = r.applied_index();
        let st = self.nodes.get_mut(&n).expect("watched");
        let log = st.wal.refresh(&st.disk);
        if let Some(v) = unreplayable(n, applied, log) {
            self.fail(Property::Persistence, v);
        }
    }
}

/// Why node `n`, having applied up to `applied`, could not boot back to it from `log`.
pub(super) fn unreplayable(n: u32, applied: u64, log: &DurableLog) -> Option<String> {
    let reach = log.boot_reach();
    if applied <= reach {
        return None;
    }
    Some(format!(
        "node {n} applied up to index {applied}, but a crash now boots it only to index {reach}: \
         its durable WAL holds hard-state commit {}, trusted snapshot {}, newest snapshot marker \
         {}, entries up to {}",
        log.hard_state.commit,
        log.trusted_snapshot(),
        log.snapshot.0,
        log.entries().last().map_or(0, |(i, _)| i),
    ))
}
