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
    /// The last term in which this node was seen leading (its claim is recorded once per term).
    led: Option<u64>,
}

/// What the first node to apply an index applied there.
#[derive(Clone, Copy, Debug)]
struct AppliedAt {
    term: u64,
    origin: Option<Origin>,
    node: u32,
}

/// The continuous raft-safety oracle.
#[derive(Debug, Default)]
pub struct RaftSafety {
    /// Term -> the member that led in it.
    leaders: BTreeMap<u64, u64>,
    /// Slot `i` holds what was first applied at index `i + 1`: indexes are dense from 1, so a
    /// vector grows once where a map would be searched on every applied entry.
    applied: Vec<Option<AppliedAt>>,
    /// Indexes seen applied so far (the `Some` slots of `applied`).
    applied_count: usize,
    /// Per node number (small, dense): where its current incarnation was read up to.
    cursors: Vec<Option<Cursor>>,
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
        self.applied_count
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
        let slot = node as usize;
        if self.cursors.len() <= slot {
            self.cursors.resize(slot + 1, None);
        }
        let (boot, commit) = (r.boot_number(), r.commit_index());
        let fresh = Cursor { boot, read: 0, commit, led: None };
        let mut cursor = match self.cursors[slot] {
            Some(c) if c.boot == boot => c,
            _ => fresh,
        };
        if r.is_leader() && cursor.led != Some(r.term()) {
            let (term, me) = (r.term(), r.id());
            cursor.led = Some(term);
            let first = *self.leaders.entry(term).or_insert(me);
            if first != me {
                self.fail(format!(
                    "two leaders in term {term}: member {first:x} and member {me:x} (node {node})"
                ));
            }
        }
        if commit < cursor.commit {
            let was = cursor.commit;
            self.fail(format!("node {node}: commit index went back from {was} to {commit}"));
        }
        cursor.commit = cursor.commit.max(commit);
        let log = r.applied_log();
        let from = cursor.read;
        cursor.read = log.len();
        self.cursors[slot] = Some(cursor);
        for a in &log[from..] {
            if a.index > commit {
                self.fail(format!(
                    "node {node} applied index {} beyond its commit index {commit}",
                    a.index
                ));
            }
            self.agree(node, a.index, a.term, a.origin);
        }
    }

    /// Records or checks what `node` applied at `index`.
    fn agree(&mut self, node: u32, index: u64, term: u64, origin: Option<Origin>) {
        assert!(index > 0, "node {node} applied index 0");
        let slot = usize::try_from(index - 1).expect("log index fits in memory");
        if self.applied.len() <= slot {
            self.applied.resize(slot + 1, None);
        }
        match self.applied[slot] {
            None => {
                self.applied[slot] = Some(AppliedAt { term, origin, node });
                self.applied_count += 1;
            }
            Some(first) if (first.term, first.origin) != (term, origin) => {
                self.fail(format!(
                    "index {index} applied as term {} {:?} on node {} but as term {term} \
                     {origin:?} on node {node}",
                    first.term, first.origin, first.node
                ));
            }
            Some(_) => {}
        }
    }
}
