//! Commit safety, checked whenever a commit index moves or a leader appears.
//!
//! - **Quorum durability.** When a commit index first reaches `i` (on any node), the entry at
//!   `i` is durable (in the WAL, or under a durable snapshot marker) on a quorum of the voters
//!   it knows. A leader that counted an entry it had not synced, a follower that took a commit
//!   index past the entries it shares with the leader, or an acknowledgement sent too early
//!   all show up here, without waiting for a crash to lose the entry.
//! - **Only current-term entries are committed by counting.** A leader's commit index moves
//!   only to an entry of its own term (Raft §5.4.2; older entries commit along with it).
//! - **Committed entries never change.** Every index seen committed keeps the term it was first
//!   committed with, on every node.
//! - **Leader completeness.** A node that becomes leader of term `T` holds every entry
//!   committed so far (those its log still holds; older ones are under its snapshot).
//! - **Election by quorum.** A leader of term `T` was sent vote grants of term `T` by a quorum
//!   of its voters (itself included).

use super::{quorum, Property, ProtocolOracle};
use crate::cluster::{Cluster, Observable};

impl ProtocolOracle {
    /// Node `n`'s commit index may have moved since it was last looked at.
    pub(super) fn on_commit<S: Observable>(&mut self, c: &Cluster<S>, n: u32) {
        let Some(r) = c.running(n) else { return };
        let st = self.nodes.get_mut(&n).expect("watched");
        let (was, now) = (st.commit, r.commit_index());
        if now <= was {
            return;
        }
        st.commit = now;
        let first_commit = now > self.max_commit;
        self.max_commit = self.max_commit.max(now);
        let Some(term) = r.log_term(now) else { return };
        if r.is_leader() && term != r.term() {
            self.fail(
                Property::CommitSafety,
                format!(
                    "node {n} (leader of term {}) moved its commit index to {now}, an entry of \
                     term {term}: a leader commits by counting replicas only entries of its own \
                     term (older ones commit with them)",
                    r.term()
                ),
            );
            return;
        }
        self.remember_committed(c, n, was, now);
        if self.violation.is_some() || !first_commit {
            // An index committed before was judged when it first was, under the configuration
            // that committed it; a member that learns of it later may know a newer one (a
            // member added since need not hold old entries).
            return;
        }
        let previous = std::mem::take(&mut self.nodes.get_mut(&n).expect("watched").voters);
        let current = r.voters().to_vec();
        let (held, detail) = self.durable_quorum(&current, now, term);
        let held_before =
            held || previous.is_empty() || self.durable_quorum(&previous, now, term).0;
        self.nodes.get_mut(&n).expect("watched").voters = previous;
        if !held && !held_before {
            let role = if r.is_leader() { "leader" } else { "follower" };
            self.fail(
                Property::CommitSafety,
                format!(
                    "node {n} ({role}, term {}) moved its commit index to {now} (entry term \
                     {term}) while {detail}",
                    r.term()
                ),
            );
        }
    }

    /// Whether a quorum of `voters` holds entry (`index`, `term`) durably, and, when not, a
    /// description of who does and who does not (built only then: this runs on every commit).
    pub(super) fn durable_quorum(
        &mut self,
        voters: &[u64],
        index: u64,
        term: u64,
    ) -> (bool, String) {
        let holds = |o: &mut ProtocolOracle, v: &u64| {
            let node = o.member_node.get(v).copied();
            let held = node.is_some_and(|vn| {
                o.nodes.get_mut(&vn).is_some_and(|s| s.wal.refresh(&s.disk).holds(index, term))
            });
            (node, held)
        };
        let count = voters.iter().filter(|v| holds(self, v).1).count();
        if count >= quorum(voters.len()) {
            return (true, String::new());
        }
        let mut holders = Vec::new();
        let mut missing = Vec::new();
        for v in voters {
            let (node, held) = holds(self, v);
            let label = node.map_or(format!("member {v:x}"), |vn| format!("n{vn}"));
            if held {
                holders.push(label);
            } else {
                missing.push(label);
            }
        }
        let detail = format!(
            "only {} of {} voters hold that entry durably (held by [{}], not by [{}])",
            holders.len(),
            voters.len(),
            holders.join(", "),
            missing.join(", ")
        );
        (false, detail)
    }

    /// Records the terms of indexes `was + 1 ..= now` as committed by node `n`, or reports one
    /// that was committed earlier with another term.
    fn remember_committed<S: Observable>(&mut self, c: &Cluster<S>, n: u32, was: u64, now: u64) {
        let Some(r) = c.running(n) else { return };
        let from = was.max(r.first_log_index().saturating_sub(1)) + 1;
        if self.committed.len() < now as usize {
            self.committed.resize(now as usize, None);
        }
        for i in from..=now {
            let Some(term) = r.log_term(i) else { continue };
            let slot = &mut self.committed[(i - 1) as usize];
            match *slot {
                None => *slot = Some(Committed { term, by: n, seen_in: r.term() }),
                Some(Committed { term: t, by: first, .. }) if t != term => {
                    self.fail(
                        Property::CommitSafety,
                        format!(
                            "index {i} was committed as term {t} on node {first} but node {n} \
                             committed it as term {term}"
                        ),
                    );
                    return;
                }
                Some(_) => {}
            }
        }
    }

    /// Node `n` may have become leader since it was last looked at.
    pub(super) fn on_lead<S: Observable>(&mut self, c: &Cluster<S>, n: u32) {
        let Some(r) = c.running(n) else { return };
        if !r.is_leader() {
            return;
        }
        let term = r.term();
        let st = self.nodes.get_mut(&n).expect("watched");
        if st.led == Some(term) {
            return;
        }
        st.led = Some(term);
        let (me, voters) = (r.id(), r.voters().to_vec());
        let granted = self.grants.get(&(term, me));
        let votes =
            voters.iter().filter(|v| **v == me || granted.is_some_and(|g| g.contains(v))).count();
        if votes < quorum(voters.len()) {
            self.fail(
                Property::Promise,
                format!(
                    "node {n} (member {me:x}) became leader of term {term} with vote grants of \
                     that term from only {votes} of its {} voters (itself included)",
                    voters.len()
                ),
            );
            return;
        }
        let snapshot = r.first_log_index().saturating_sub(1);
        let (last, log_term) = (r.last_index(), |i| r.log_term(i));
        if let Some(v) = completeness_violation(n, term, &self.committed, snapshot, last, &log_term)
        {
            self.fail(Property::CommitSafety, v);
        }
    }
}

/// An entry seen committed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Committed {
    /// The entry's term.
    pub term: u64,
    /// The node first seen with a commit index at or past it.
    pub by: u32,
    /// That node's current term then: the entry was committed in this term or an earlier one.
    pub seen_in: u64,
}

/// The first committed entry (`committed[i - 1]`) that node `n`, new leader of `term`, lacks
/// above its snapshot. Leader completeness covers leaders of terms after the commit: a leader
/// of an older term (a candidate whose grants arrived late) need not hold entries committed
/// since, so only entries seen committed in a term below `term` are required.
pub(super) fn completeness_violation(
    n: u32,
    term: u64,
    committed: &[Option<Committed>],
    snapshot: u64,
    last: u64,
    log_term: &dyn Fn(u64) -> Option<u64>,
) -> Option<String> {
    for (i, slot) in committed.iter().enumerate() {
        let index = i as u64 + 1;
        let Some(Committed { term: t, by, seen_in }) = *slot else { continue };
        if index <= snapshot || seen_in >= term {
            continue;
        }
        let has = log_term(index);
        if index > last || has != Some(t) {
            let has = has.map_or("nothing".to_string(), |x| format!("term {x}"));
            return Some(format!(
                "node {n} became leader of term {term} without committed entry {index} (term {t}, \
                 committed on node {by}): its log has {has} there (last index {last})"
            ));
        }
    }
    None
}
