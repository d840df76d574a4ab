//! Single-step membership changes: add a voter, add (or demote to) a learner, remove a node.
//! At most one change is pending at a time (enforced by the leader at proposal time).

use super::error::ConfChangeError;
use super::message::{ConfChange, ConfChangeType, ConfState};
use super::tracker::ProgressTracker;

/// Applies `cc` to the tracker; new members start probing at `next`. Returns the new membership.
pub fn apply(
    tracker: &mut ProgressTracker,
    cc: &ConfChange,
    next: u64,
) -> Result<ConfState, ConfChangeError> {
    if cc.node_id == 0 {
        return Err(ConfChangeError::ZeroId);
    }
    let id = cc.node_id;
    let leaves_voters = tracker.voters.len() == 1 && tracker.voters.contains(&id);
    match cc.change_type {
        ConfChangeType::AddNode => tracker.insert(id, next, false),
        ConfChangeType::AddLearnerNode => {
            if leaves_voters {
                return Err(ConfChangeError::RemovesLastVoter(id));
            }
            tracker.insert(id, next, true);
        }
        ConfChangeType::RemoveNode => {
            if leaves_voters {
                return Err(ConfChangeError::RemovesLastVoter(id));
            }
            tracker.remove(id);
        }
    }
    Ok(tracker.conf_state())
}

impl<S: super::storage::Storage> super::raft::Raft<S> {
    /// Applies a committed membership change. The leader re-evaluates its commit index (the
    /// quorum changed) and starts replicating to new members; a leader that removed or demoted
    /// itself steps down.
    pub fn apply_conf_change(&mut self, cc: &ConfChange) -> Result<ConfState, ConfChangeError> {
        let next = self.raft_log.last_index() + 1;
        let cs = apply(&mut self.prs, cc, next)?;
        if self.state != super::raft::StateRole::Leader {
            return Ok(cs);
        }
        if !self.prs.is_voter(self.id) {
            let term = self.term;
            self.become_follower(term, super::message::NONE);
            return Ok(cs);
        }
        if self.lead_transferee != super::message::NONE && !self.prs.is_voter(self.lead_transferee)
        {
            self.abort_leader_transfer();
        }
        if self.maybe_commit() {
            self.on_commit_advanced();
        }
        self.bcast_append();
        Ok(cs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_promote_demote_remove() {
        let mut t = ProgressTracker::new(4);
        t.insert(1, 1, false);
        let cc = |change_type, node_id| ConfChange { change_type, node_id, context: vec![] };
        apply(&mut t, &cc(ConfChangeType::AddLearnerNode, 2), 5).unwrap();
        assert_eq!(t.conf_state(), ConfState { voters: vec![1], learners: vec![2] });
        apply(&mut t, &cc(ConfChangeType::AddNode, 2), 5).unwrap();
        assert_eq!(t.conf_state(), ConfState { voters: vec![1, 2], learners: vec![] });
        apply(&mut t, &cc(ConfChangeType::RemoveNode, 1), 5).unwrap();
        assert_eq!(
            apply(&mut t, &cc(ConfChangeType::RemoveNode, 2), 5),
            Err(ConfChangeError::RemovesLastVoter(2))
        );
        assert_eq!(apply(&mut t, &cc(ConfChangeType::AddNode, 0), 5), Err(ConfChangeError::ZeroId));
    }
}
