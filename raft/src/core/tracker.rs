//! The configuration (voters, learners) and every member's [`Progress`] and vote.

use std::collections::{BTreeMap, BTreeSet};

use super::message::{ConfState, PeerId};
use super::progress::Progress;
use super::quorum::{self, VoteResult};

#[derive(Clone, Debug)]
pub struct ProgressTracker {
    pub voters: BTreeSet<PeerId>,
    pub learners: BTreeSet<PeerId>,
    pub progress: BTreeMap<PeerId, Progress>,
    pub votes: BTreeMap<PeerId, bool>,
    pub max_inflight: usize,
}

impl ProgressTracker {
    pub fn new(max_inflight: usize) -> ProgressTracker {
        ProgressTracker {
            voters: BTreeSet::new(),
            learners: BTreeSet::new(),
            progress: BTreeMap::new(),
            votes: BTreeMap::new(),
            max_inflight,
        }
    }

    pub fn conf_state(&self) -> ConfState {
        ConfState {
            voters: self.voters.iter().copied().collect(),
            learners: self.learners.iter().copied().collect(),
        }
    }

    /// Adds (or re-flags) `id` with a fresh progress starting at `next`.
    pub fn insert(&mut self, id: PeerId, next: u64, learner: bool) {
        if learner {
            self.voters.remove(&id);
            self.learners.insert(id);
        } else {
            self.learners.remove(&id);
            self.voters.insert(id);
        }
        let max_inflight = self.max_inflight;
        let pr = self.progress.entry(id).or_insert_with(|| {
            let mut p = Progress::new(next, max_inflight);
            // A new member is presumed alive so check-quorum does not depose the leader at once.
            p.recent_active = true;
            p
        });
        pr.is_learner = learner;
    }

    pub fn remove(&mut self, id: PeerId) {
        self.voters.remove(&id);
        self.learners.remove(&id);
        self.progress.remove(&id);
        self.votes.remove(&id);
    }

    /// The largest index a majority of voters has matched.
    pub fn committed(&self) -> u64 {
        quorum::committed_index(&self.voters, |id| self.progress.get(&id).map_or(0, |p| p.matched))
    }

    pub fn reset_votes(&mut self) {
        self.votes.clear();
    }

    /// Records `id`'s vote (the first one counts) and returns the tally.
    pub fn record_vote(&mut self, id: PeerId, granted: bool) -> VoteResult {
        self.votes.entry(id).or_insert(granted);
        self.tally()
    }

    pub fn tally(&self) -> VoteResult {
        quorum::vote_result(&self.voters, &self.votes)
    }

    /// True if a majority of voters were recently active (`self_id` always counts).
    pub fn quorum_active(&self, self_id: PeerId) -> bool {
        let votes: BTreeMap<PeerId, bool> = self
            .voters
            .iter()
            .map(|&id| {
                (id, id == self_id || self.progress.get(&id).is_some_and(|p| p.recent_active))
            })
            .collect();
        quorum::vote_result(&self.voters, &votes) == VoteResult::Won
    }

    pub fn is_voter(&self, id: PeerId) -> bool {
        self.voters.contains(&id)
    }
}
