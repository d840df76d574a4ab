//! Promises across restarts: a node that boots reads back everything its WAL holds.
//!
//! The reference is the WAL as the crash left it (scanned by the world's crash tap, once the
//! disk lost power): every record synced before the crash, plus whatever unsynced writes
//! happened to survive whole (a surviving entry may legitimately replace older ones: a node
//! truncates its log when a new leader's entries conflict), up to the first torn or missing
//! record. The booted node must have:
//! - a term at least the durable term, and at that term the durable vote;
//! - every durable entry above its snapshot, with the same term, and a last index at least the
//!   durable last index.
//!
//! A repair that truncates too much, a torn-tail rule that drops a whole record, a segment
//! renamed into place without `sync_dir`, or a boot that starts reading at the wrong segment
//! shows up here as a record that was synced and did not come back. Nodes whose data the
//! harness replaced, and nodes with injected bit rot (their reads are damaged; they may rightly
//! refuse or lose what rotted), are not compared.

use super::super::durable_wal::DurableLog;
use super::{Property, ProtocolOracle};
use crate::cluster::{Cluster, Observable};

impl ProtocolOracle {
    /// Node `n` runs a new incarnation: compare it with what its WAL held after its crash.
    pub(super) fn on_boot<S: Observable>(&mut self, c: &Cluster<S>, n: u32) {
        let Some(r) = c.running(n) else { return };
        let st = self.nodes.get_mut(&n).expect("watched");
        let Some(before) = st.before_crash.take() else { return };
        let booted = Booted {
            term: r.term(),
            vote: r.vote(),
            snapshot: r.first_log_index().saturating_sub(1),
            last: r.last_index(),
            log_term: &|i| r.log_term(i),
        };
        if let Some(v) = readback_violation(n, &before, &booted) {
            self.fail(Property::Wal, v);
        }
    }
}

/// What a node booted with.
pub(super) struct Booted<'a> {
    pub term: u64,
    pub vote: u64,
    /// The index its log starts after (its snapshot's).
    pub snapshot: u64,
    pub last: u64,
    pub log_term: &'a dyn Fn(u64) -> Option<u64>,
}

/// What node `n` failed to read back of `before`, the WAL its disk held after its crash.
pub(super) fn readback_violation(n: u32, before: &DurableLog, b: &Booted<'_>) -> Option<String> {
    let hs = before.hard_state;
    if b.term < hs.term || (b.term == hs.term && hs.vote != 0 && b.vote != hs.vote) {
        return Some(format!(
            "node {n} restarted at term {} vote {:x}, but its WAL held term {} vote {:x} after \
             the crash",
            b.term, b.vote, hs.term, hs.vote
        ));
    }
    if b.last < before.last_index() {
        return Some(format!(
            "node {n} restarted with its log ending at index {}, but its WAL held entries up to \
             index {} on disk after the crash",
            b.last,
            before.last_index()
        ));
    }
    for (i, t) in before.entries() {
        if i <= b.snapshot {
            continue;
        }
        let got = (b.log_term)(i);
        if got != Some(t) {
            let has = got.map_or("nothing".to_string(), |x| format!("term {x}"));
            return Some(format!(
                "node {n} restarted without entry {i} (term {t}) that its WAL held after the \
                 crash: it read back {has} there"
            ));
        }
    }
    None
}
