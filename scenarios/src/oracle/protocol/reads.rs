//! Read index: a linearizable read must reflect every entry committed before it was sent.
//!
//! When a client sends a linearizable read, the harness notes the highest commit index any
//! node has had so far (the read's floor). A correct leader answers a ReadIndex with its commit
//! index only after committing an entry of its own term (so its commit index is at least every
//! commit index any node ever had) and after a quorum confirmed it still leads; the answering
//! node then waits until it has applied that index. So for every successful read:
//! - the read index is at least the floor (raft's rule), and
//! - the node had applied at least the read index when it read (the server's rule).
//!
//! Both are checked on the answer, against the answering node's record of the read
//! ([`raft::server::ServedRead`]).

use raft::server::ServedRead;

use super::{Property, ProtocolOracle};
use crate::cluster::{Cluster, Observable};

/// The highest commit index any node had when a linearizable read was sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadFloor(pub u64);

impl ProtocolOracle {
    /// Node `n` answered linearizable read `client` (request id) successfully.
    pub fn check_read<S: Observable>(
        &mut self,
        c: &Cluster<S>,
        n: u32,
        client: u64,
        floor: ReadFloor,
    ) {
        if self.violation.is_some() {
            return;
        }
        let Some(r) = c.running(n) else { return };
        let Some(served) = r.served_reads().iter().rev().find(|s| s.client == client) else {
            return;
        };
        if let Some(v) = read_violation(n, served, floor) {
            self.fail(Property::ReadIndex, v);
        }
    }
}

/// What is wrong with read `served`, answered by node `n`, whose floor was `floor`.
pub(super) fn read_violation(n: u32, served: &ServedRead, floor: ReadFloor) -> Option<String> {
    let client = served.client;
    if served.applied < served.index {
        return Some(format!(
            "node {n} answered read {client} with applied index {} below its read index {}",
            served.applied, served.index
        ));
    }
    if served.index < floor.0 {
        return Some(format!(
            "node {n} answered read {client} at read index {}, below commit index {} that a node \
             had reached when the read was sent",
            served.index, floor.0
        ));
    }
    None
}
