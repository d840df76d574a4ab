//! Raft safety, checked continuously while the run goes on.
//!
//! After every simulator step the oracle looks at each running node and checks:
//! - **election safety**: at most one member leads in any term;
//! - **log matching of applied entries**: every index is applied with the same term and the same
//!   proposal by every member and every incarnation (so committed entries never change and the
//!   applied sequences are prefixes of one another);
//! - **monotonic commit**: within one incarnation a node's commit index never goes back, and it
//!   never applies beyond it.
//!
//! Work per step is proportional to what changed: each node's applied log is read from where the
//! oracle stopped last time (reset when the node restarts).

use std::collections::BTreeMap;

use raft::server::request::Origin;
use raft::server::{Running, StateMachine};

/// Where the oracle stopped reading one node's incarnation.
#[derive(Clone, Copy, Debug)]
struct Cursor {
    boot: u64,
    read: usize,
    commit: u64,
}

/// The continuous raft-safety oracle.
#[derive(Debug, Default)]
pub struct RaftSafety {
    /// Term -> the member that led in it.
    leaders: BTreeMap<u64, u64>,
    /// Index -> (term, proposer, first node seen applying it).
    applied: BTreeMap<u64, (u64, Option<Origin>, u32)>,
    cursors: BTreeMap<u32, Cursor>,
    violation: Option<String>,
}

impl RaftSafety {
    pub fn new() -> RaftSafety {
        RaftSafety::default()
    }

    /// The first violation seen, if any.
    pub fn violation(&self) -> Option<&str> {
        self.violation.as_deref()
    }

    /// Entries whose agreement was checked.
    pub fn applied_entries(&self) -> usize {
        self.applied.len()
    }

    /// Terms in which a leader was seen.
    pub fn terms_with_leader(&self) -> usize {
        self.leaders.len()
    }

    fn fail(&mut self, why: String) {
        if self.violation.is_none() {
            self.violation = Some(why);
        }
    }

    /// Looks at node `node` (its current incarnation `r`).
    pub fn observe<S: StateMachine>(&mut self, node: u32, r: &Running<S>) {
        if r.is_leader() {
            let term = r.term();
            let me = r.id();
            let first = *self.leaders.entry(term).or_insert(me);
            if first != me {
                self.fail(format!(
                    "two leaders in term {term}: member {first:x} and member {me:x} (node {node})"
                ));
            }
        }
        let boot = r.boot_number();
        let commit = r.commit_index();
        let cursor = self.cursors.entry(node).or_insert(Cursor { boot, read: 0, commit });
        if cursor.boot != boot {
            *cursor = Cursor { boot, read: 0, commit };
        }
        if commit < cursor.commit {
            let was = cursor.commit;
            self.fail(format!("node {node}: commit index went back from {was} to {commit}"));
        }
        let cursor = self.cursors.get_mut(&node).expect("inserted above");
        cursor.commit = cursor.commit.max(commit);
        let log = r.applied_log();
        let from = cursor.read;
        cursor.read = log.len();
        for a in &log[from..] {
            if a.index > commit {
                self.fail(format!(
                    "node {node} applied index {} beyond its commit index {commit}",
                    a.index
                ));
            }
            match self.applied.get(&a.index) {
                None => {
                    self.applied.insert(a.index, (a.term, a.origin, node));
                }
                Some(&(term, origin, first)) if (term, origin) != (a.term, a.origin) => {
                    self.fail(format!(
                        "index {} applied as term {term} {origin:?} on node {first} but as term \
                         {} {:?} on node {node}",
                        a.index, a.term, a.origin
                    ));
                }
                Some(_) => {}
            }
        }
    }
}
