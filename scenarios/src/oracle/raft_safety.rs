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

/// How far past the highest index applied so far a new one may lie (see `RaftSafety::agree`).
const MAX_INDEX_JUMP: u64 = 1 << 16;

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
        // Indexes arrive nearly in order (the oracle looks after every step, and a member only
        // applies what some member applied first), so a wild one is a bug to report, not a
        // reason to grow the vector without bound.
        let seen = self.applied.len() as u64;
        if index == 0 || index > seen + MAX_INDEX_JUMP {
            self.fail(format!(
                "node {node} applied index {index}, out of line with the {seen} indexes applied \
                 so far"
            ));
            return;
        }
        let slot = (index - 1) as usize;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(key: u64) -> Option<Origin> {
        Some(Origin { member: 7, boot: 1, key })
    }

    #[test]
    fn agreeing_members_pass_and_each_index_counts_once() {
        let mut o = RaftSafety::new();
        for node in [1, 2, 3] {
            for index in 1..=5 {
                o.agree(node, index, 2, origin(index));
            }
        }
        // A member restored from a snapshot applies from past the others' start.
        o.agree(4, 5, 2, origin(5));
        o.agree(4, 6, 3, None);
        assert_eq!(o.violation(), None);
        assert_eq!(o.applied_entries(), 6);
    }

    #[test]
    fn a_different_entry_at_an_applied_index_is_named() {
        let mut o = RaftSafety::new();
        o.agree(1, 1, 2, origin(1));
        o.agree(2, 1, 3, origin(1));
        let v = o.violation().expect("term differs");
        assert!(v.contains("index 1 applied as term 2") && v.contains("on node 2"), "{v}");
        let mut o = RaftSafety::new();
        o.agree(1, 1, 2, origin(1));
        o.agree(2, 1, 2, origin(9));
        assert!(o.violation().is_some(), "same term, other proposal");
    }

    #[test]
    fn an_index_out_of_line_is_reported_not_stored() {
        let mut o = RaftSafety::new();
        o.agree(1, 0, 1, None);
        assert!(o.violation().expect("index 0").contains("applied index 0"));
        let mut o = RaftSafety::new();
        o.agree(1, 1, 1, None);
        o.agree(1, 2 + MAX_INDEX_JUMP, 1, None);
        let v = o.violation().expect("a wild index");
        assert!(v.contains("out of line with the 1 indexes"), "{v}");
        assert_eq!(o.applied_entries(), 1);
    }
}
