//! The protocol oracles: raft's rules checked at the moment they can break, against facts the
//! simulator knows — every disk's durable image and every frame a node sends — rather than the
//! code's own bookkeeping. End-to-end oracles (linearizability, durability at the end) fire
//! only when a fault happens to land at the exact wrong moment; these fire every time a rule is
//! broken.
//!
//! - [`sends`] — persistence before send: no vote grant, no candidate's vote request and no
//!   append response leaves a node before the state it promises is durable on its disk; and a
//!   member grants at most one vote per term across all its incarnations.
//! - [`commits`] — commit safety: an entry is committed (a commit index reaches it, on any
//!   node) only while a quorum of voters holds it durably; a committed index never changes its
//!   term; a new leader's log holds every committed entry; a leader was elected by grants of
//!   its own term from a quorum.
//! - [`restarts`] — promises across restarts: a restarted node reads back every WAL record its
//!   crash left whole on disk (its term, vote and entries), synced ones included.
//! - [`replay`] — applied state within reach of a boot: a node never applies past what a crash
//!   right now would let it replay (trusted snapshot + durable entries after it).
//! - [`reads`] — read index: a linearizable read is answered at a read index no lower than the
//!   highest commit index any node had when the read was sent, and only once applied.
//!
//! The runner feeds it: [`ProtocolOracle::on_send`] from the SimNet tap (inside the sender's
//! handler), [`ProtocolOracle::on_crash`] from the world's crash tap (what the disk holds once
//! the power is gone), and [`ProtocolOracle::after_step`] after every step.

mod commits;
mod reads;
mod replay;
mod restarts;
mod sends;

use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use sim::simulated::disk::SimDisk;
use sim::NodeId;

use super::durable_wal::{DurableLog, DurableWal};
use super::Property;
use crate::cluster::{Cluster, Observable};

pub use reads::ReadFloor;

/// What the oracle keeps about one node.
struct NodeState {
    disk: Rc<SimDisk>,
    wal: DurableWal,
    /// What the WAL held right after the node's last crash: the next boot must read it back.
    /// `None` when there is nothing to compare (never crashed, or its data replaced).
    before_crash: Option<DurableLog>,
    /// The incarnation last looked at (its boot number).
    boot: Option<u64>,
    /// Its commit index when last looked at (this incarnation).
    commit: u64,
    /// The term it was last seen leading in.
    led: Option<u64>,
    /// Its voters when last looked at: a commit in a step that also applied a membership
    /// change may have been counted under either configuration.
    voters: Vec<u64>,
}

/// An append acknowledgement whose entry term is checked after the step: (node, index, the
/// durable term at that index when the acknowledgement left).
struct PendingAck {
    node: u32,
    index: u64,
    durable_term: Option<u64>,
    sent_term: u64,
}

/// The protocol oracle of one run.
#[derive(Default)]
pub struct ProtocolOracle {
    nodes: BTreeMap<u32, NodeState>,
    /// Member ID -> node number, learned from running nodes.
    member_node: BTreeMap<u64, u32>,
    /// Nodes whose messages and state belong to another cluster (foreign members).
    ignored: BTreeSet<u32>,
    /// (member, term) -> the member it voted for (a candidate votes for itself).
    votes: BTreeMap<(u64, u64), u64>,
    /// (term, candidate) -> members that sent it a vote grant in that term.
    grants: BTreeMap<(u64, u64), BTreeSet<u64>>,
    /// Index -> the entry seen committed there (term, by whom, in which term).
    committed: Vec<Option<commits::Committed>>,
    /// The highest commit index any watched node has had.
    max_commit: u64,
    pending_acks: Vec<PendingAck>,
    /// Nodes with injected bit rot (see [`ProtocolOracle::damaged`]).
    damaged: BTreeSet<u32>,
    violation: Option<(Property, String)>,
}

impl std::fmt::Debug for ProtocolOracle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProtocolOracle")
            .field("nodes", &self.nodes.keys().collect::<Vec<_>>())
            .field("max_commit", &self.max_commit)
            .field("violation", &self.violation)
            .finish()
    }
}

/// Smallest majority of `n` voters.
fn quorum(n: usize) -> usize {
    n / 2 + 1
}

impl ProtocolOracle {
    pub fn new() -> ProtocolOracle {
        ProtocolOracle::default()
    }

    /// The first violation seen, if any.
    pub fn violation(&self) -> Option<&(Property, String)> {
        self.violation.as_ref()
    }

    fn fail(&mut self, property: Property, detail: String) {
        if self.violation.is_none() {
            self.violation = Some((property, detail));
        }
    }

    /// The highest commit index any watched node has had so far.
    pub fn max_commit(&self) -> u64 {
        self.max_commit
    }

    /// Starts watching node `n` (whose WAL lives in [`raft::server::boot::WAL_DIR`]).
    pub fn watch(&mut self, n: u32, disk: Rc<SimDisk>) {
        self.nodes.entry(n).or_insert_with(|| NodeState {
            disk,
            wal: DurableWal::new(raft::server::boot::WAL_DIR),
            before_crash: None,
            boot: None,
            commit: 0,
            led: None,
            voters: Vec::new(),
        });
    }

    /// Node `n` belongs to another cluster: its messages and state are not this cluster's.
    pub fn ignore(&mut self, n: u32) {
        self.set_outsider(n, true);
    }

    /// Whether node `n` runs outside this cluster for now (a foreign member, an impostor with
    /// this cluster's member ID): while it does, its messages and state are not judged.
    pub fn set_outsider(&mut self, n: u32, outsider: bool) {
        if outsider {
            self.ignored.insert(n);
        } else {
            self.ignored.remove(&n);
        }
    }

    /// Node `n`'s data was replaced by the harness (another cluster's data, or its own saved
    /// copy put back): nothing read before applies to what it will boot from.
    pub fn forget(&mut self, n: u32) {
        if let Some(st) = self.nodes.get_mut(&n) {
            st.before_crash = None;
            st.wal.reset();
        }
    }

    /// The world crashed node `n`: remember what its WAL holds now, which its next boot must
    /// read back.
    pub fn on_crash(&mut self, n: u32) {
        if self.ignored.contains(&n) {
            return;
        }
        if let Some(st) = self.nodes.get_mut(&n) {
            let log = st.wal.refresh(&st.disk).clone();
            st.before_crash = Some(log);
        }
    }

    /// Looks at what changed in the last step: `changed` is the only node whose state can have
    /// moved, or `None` after a world-wide event.
    pub fn after_step<S: Observable>(&mut self, c: &Cluster<S>, changed: Option<u32>) {
        if self.violation.is_some() {
            return;
        }
        if let Some(n) = changed {
            self.look_at(c, n);
        } else {
            for n in c.nodes() {
                self.look_at(c, n);
            }
        }
        self.check_pending_acks(c);
    }

    fn look_at<S: Observable>(&mut self, c: &Cluster<S>, n: u32) {
        if self.ignored.contains(&n) {
            return;
        }
        if !self.nodes.contains_key(&n) {
            self.watch(n, c.w.disk(NodeId(n)));
        }
        let Some(r) = c.running(n) else { return };
        self.member_node.insert(r.id(), n);
        let st = self.nodes.get_mut(&n).expect("watched above");
        if st.boot != Some(r.boot_number()) {
            st.boot = Some(r.boot_number());
            st.commit = r.commit_index();
            st.led = None;
            self.on_boot(c, n);
        }
        self.on_commit(c, n);
        self.on_lead(c, n);
        self.check_replayable(c, n);
        if let Some(st) = self.nodes.get_mut(&n) {
            if st.voters != r.voters() {
                st.voters = r.voters().to_vec();
            }
        }
    }
}

#[cfg(test)]
mod tests;
