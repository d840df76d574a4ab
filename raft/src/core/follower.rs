//! Followers and (pre-)candidates: elections from the candidate's side, and the follower side
//! of replication (append, heartbeat, snapshot), proposal and read forwarding.

use sim::planted;

use super::error::StepError;
use super::message::{Message, MessageType, Snapshot, NONE};
use super::quorum::VoteResult;
use super::raft::{CampaignType, Raft, StateRole};
use super::read_only::ReadState;
use super::storage::Storage;

impl<S: Storage> Raft<S> {
    pub(crate) fn step_candidate(&mut self, m: Message) -> Result<(), StepError> {
        let my_resp = if self.state == StateRole::PreCandidate {
            MessageType::MsgPreVoteResp
        } else {
            MessageType::MsgVoteResp
        };
        match m.msg_type {
            MessageType::MsgProp => return Err(StepError::ProposalDropped),
            MessageType::MsgApp => {
                self.become_follower(m.term, m.from);
                self.handle_append_entries(m);
            }
            MessageType::MsgHeartbeat => {
                self.become_follower(m.term, m.from);
                self.handle_heartbeat(&m);
            }
            MessageType::MsgSnap => {
                self.become_follower(m.term, m.from);
                self.handle_snapshot(&m);
            }
            t if t == my_resp => match self.poll(m.from, !m.reject) {
                VoteResult::Won => {
                    if self.state == StateRole::PreCandidate {
                        self.campaign(CampaignType::Election);
                    } else {
                        self.become_leader();
                        self.bcast_append();
                    }
                }
                VoteResult::Lost => {
                    // A pre-vote response may carry a newer term; stay at ours.
                    let term = self.term;
                    self.become_follower(term, NONE);
                }
                VoteResult::Pending => {}
            },
            _ => {}
        }
        Ok(())
    }

    pub(crate) fn step_follower(&mut self, mut m: Message) -> Result<(), StepError> {
        match m.msg_type {
            MessageType::MsgProp => {
                if self.lead == NONE || self.disable_proposal_forwarding {
                    return Err(StepError::ProposalDropped);
                }
                m.to = self.lead;
                self.send(m);
            }
            MessageType::MsgApp => {
                self.election_elapsed = 0;
                self.lead = m.from;
                self.handle_append_entries(m);
            }
            MessageType::MsgHeartbeat => {
                self.election_elapsed = 0;
                self.lead = m.from;
                self.handle_heartbeat(&m);
            }
            MessageType::MsgSnap => {
                self.election_elapsed = 0;
                self.lead = m.from;
                self.handle_snapshot(&m);
            }
            MessageType::MsgTransferLeader | MessageType::MsgReadIndex => {
                if self.lead == NONE {
                    return Err(StepError::ProposalDropped);
                }
                m.to = self.lead;
                self.send(m);
            }
            MessageType::MsgTimeoutNow => {
                // Leadership transfer: campaign at once, even inside a leader lease.
                self.hup(CampaignType::Transfer);
            }
            MessageType::MsgReadIndexResp => {
                let request_ctx = m.entries.first().map(|e| e.data.clone()).unwrap_or_default();
                let index = if planted::active(&crate::planted::FOLLOWER_READ_AT_OWN_COMMIT) {
                    m.index.min(self.raft_log.committed)
                } else {
                    m.index
                };
                self.read_states.push(ReadState { index, request_ctx });
            }
            _ => {}
        }
        Ok(())
    }

    pub(crate) fn handle_append_entries(&mut self, m: Message) {
        let mut r = Message::new(MessageType::MsgAppResp, self.id, m.from);
        if m.index < self.raft_log.committed {
            // Everything up to our commit is already in place.
            r.index = self.raft_log.committed;
            self.send(r);
            return;
        }
        match self.raft_log.maybe_append(m.index, m.log_term, m.commit, m.entries) {
            Some(last_new) => {
                r.index = last_new;
                self.send(r);
            }
            None => {
                // Fast rejection: point the leader at the largest index <= m.index whose term is
                // <= m.log_term, so it can skip whole terms of mismatching entries.
                let hint = m.index.min(self.raft_log.last_index());
                let (hint_index, hint_term) = self.raft_log.find_conflict_by_term(hint, m.log_term);
                r.index = m.index;
                r.reject = true;
                r.reject_hint = hint_index;
                r.log_term = hint_term;
                self.send(r);
            }
        }
    }

    pub(crate) fn handle_heartbeat(&mut self, m: &Message) {
        // A correct leader never sends more than we hold; never trust it to, though.
        let commit = m.commit.min(self.raft_log.last_index());
        self.raft_log.commit_to(commit);
        let mut r = Message::new(MessageType::MsgHeartbeatResp, self.id, m.from);
        r.context = m.context.clone();
        self.send(r);
    }

    pub(crate) fn handle_snapshot(&mut self, m: &Message) {
        let mut r = Message::new(MessageType::MsgAppResp, self.id, m.from);
        let restored = m.snapshot.clone().is_some_and(|s| self.restore(s));
        r.index = if restored { self.raft_log.last_index() } else { self.raft_log.committed };
        self.send(r);
    }

    /// Installs `s` if it is ahead of our commit index. Returns whether the log was replaced.
    pub fn restore(&mut self, s: Snapshot) -> bool {
        let (index, term) = (s.metadata.index, s.metadata.term);
        if index <= self.raft_log.committed {
            return false;
        }
        if self.state != StateRole::Follower {
            // Only a leader of our term sends snapshots; being anything else is a bug elsewhere,
            // but stepping down keeps us safe.
            let t = self.term + 1;
            self.become_follower(t, NONE);
            return false;
        }
        let cs = &s.metadata.conf_state;
        if !cs.voters.contains(&self.id) && !cs.learners.contains(&self.id) {
            // A snapshot from a configuration we are not part of: refuse it.
            return false;
        }
        if self.raft_log.match_term(index, term) {
            // We already have the snapshot's last entry: just fast-forward the commit.
            self.raft_log.commit_to(index);
            return false;
        }
        let next = index + 1;
        let max_inflight = self.prs.max_inflight;
        let mut prs = super::tracker::ProgressTracker::new(max_inflight);
        for &id in &cs.voters {
            prs.insert(id, next, false);
        }
        for &id in &cs.learners {
            prs.insert(id, next, true);
        }
        self.prs = prs;
        self.raft_log.restore(s);
        true
    }
}
