//! The leader: proposals, replication to each follower by its [`Progress`] mode, heartbeats,
//! commit by quorum, check-quorum, ReadIndex and leadership transfer.
//!
//! [`Progress`]: super::progress::Progress

use sim::planted;

use super::error::{StepError, StorageError};
use super::message::{Entry, EntryKind, Message, MessageType, PeerId, NONE};
use super::progress::ProgressState;
use super::raft::{Raft, StateRole};
use super::read_only::ReadState;
use super::storage::Storage;

impl<S: Storage> Raft<S> {
    pub(crate) fn step_leader(&mut self, mut m: Message) -> Result<(), StepError> {
        match m.msg_type {
            MessageType::MsgBeat => {
                self.bcast_heartbeat();
                return Ok(());
            }
            MessageType::MsgCheckQuorum => {
                if !self.prs.quorum_active(self.id) {
                    let term = self.term;
                    self.become_follower(term, NONE);
                }
                let id = self.id;
                for (&pid, pr) in self.prs.progress.iter_mut() {
                    if pid != id {
                        pr.recent_active = false;
                    }
                }
                return Ok(());
            }
            MessageType::MsgProp => return self.propose(&mut m),
            MessageType::MsgReadIndex => {
                self.leader_read_index(m);
                return Ok(());
            }
            _ => {}
        }
        if !self.prs.progress.contains_key(&m.from) {
            return Ok(());
        }
        match m.msg_type {
            MessageType::MsgAppResp => self.handle_append_response(&m),
            MessageType::MsgHeartbeatResp => self.handle_heartbeat_response(&m),
            MessageType::MsgSnapStatus => {
                let pr = self.prs.progress.get_mut(&m.from).expect("checked above");
                if pr.state == ProgressState::Snapshot {
                    if m.reject {
                        pr.pending_snapshot = 0;
                    }
                    pr.become_probe();
                    // Wait for a heartbeat response (or the MsgAppResp) before probing again.
                    pr.msg_app_paused = true;
                }
            }
            MessageType::MsgUnreachable => {
                let pr = self.prs.progress.get_mut(&m.from).expect("checked above");
                if pr.state == ProgressState::Replicate {
                    pr.become_probe();
                }
            }
            MessageType::MsgTransferLeader => self.handle_transfer_leader(m.from),
            _ => {}
        }
        Ok(())
    }

    fn propose(&mut self, m: &mut Message) -> Result<(), StepError> {
        assert!(!m.entries.is_empty(), "{} stepped empty MsgProp", self.id);
        if !self.prs.progress.contains_key(&self.id) || self.lead_transferee != NONE {
            // Removed from the configuration, or handing over leadership.
            return Err(StepError::ProposalDropped);
        }
        let last = self.raft_log.last_index();
        for (i, e) in m.entries.iter_mut().enumerate() {
            if e.kind != EntryKind::ConfChange {
                continue;
            }
            if self.pending_conf_index > self.raft_log.applied {
                // At most one membership change in flight: this one becomes a no-op.
                *e = Entry::default();
            } else {
                self.pending_conf_index = last + 1 + i as u64;
            }
        }
        self.append_entry(std::mem::take(&mut m.entries));
        self.bcast_append();
        Ok(())
    }

    fn handle_append_response(&mut self, m: &Message) {
        let from = m.from;
        let pr = self.prs.progress.get_mut(&from).expect("caller checked");
        pr.recent_active = true;
        if m.reject {
            let mut next_probe = m.reject_hint;
            if m.log_term > 0 {
                // Skip every entry of ours whose term is above the follower's term at the hint.
                next_probe = self.raft_log.find_conflict_by_term(m.reject_hint, m.log_term).0;
            }
            let pr = self.prs.progress.get_mut(&from).expect("caller checked");
            if planted::active(&crate::planted::REJECT_HINT_AS_MATCH)
                && m.reject_hint <= self.raft_log.last_index()
            {
                pr.maybe_update(m.reject_hint);
            }
            if pr.maybe_decr_to(m.index, next_probe) {
                if pr.state == ProgressState::Replicate {
                    pr.become_probe();
                }
                self.send_append(from);
            }
            return;
        }
        let old_paused = pr.is_paused();
        if m.index > self.raft_log.last_index() {
            // Acknowledges entries we never had: not from a correct follower of this term.
            return;
        }
        if !pr.maybe_update(m.index) {
            return;
        }
        match pr.state {
            ProgressState::Probe => pr.become_replicate(),
            ProgressState::Snapshot if pr.matched + 1 >= self.raft_log.first_index() => {
                pr.become_probe();
                pr.become_replicate();
            }
            ProgressState::Replicate => pr.inflights.free_le(m.index),
            ProgressState::Snapshot => {}
        }
        if self.maybe_commit() {
            self.on_commit_advanced();
            self.bcast_append();
        } else if old_paused {
            self.send_append(from);
        }
        // Keep the pipeline full while there is more to send.
        while self.maybe_send_append(from, false) {}
        if from == self.lead_transferee
            && self.prs.progress[&from].matched == self.raft_log.last_index()
        {
            self.send_timeout_now(from);
        }
    }

    /// Called when the commit index moved: releases ReadIndex requests held back until this
    /// term's first commit.
    pub(crate) fn on_commit_advanced(&mut self) {
        if self.state != StateRole::Leader || !self.committed_entry_in_current_term() {
            return;
        }
        for m in std::mem::take(&mut self.pending_read_index_messages) {
            self.leader_read_index(m);
        }
    }

    fn handle_heartbeat_response(&mut self, m: &Message) {
        let pr = self.prs.progress.get_mut(&m.from).expect("caller checked");
        pr.recent_active = true;
        pr.msg_app_paused = false;
        if pr.matched < self.raft_log.last_index() || pr.state == ProgressState::Probe {
            self.send_append(m.from);
        }
        if m.context.is_empty() {
            return;
        }
        let Some(acks) = self.read_only.recv_ack(m.from, &m.context) else { return };
        let mut votes = std::collections::BTreeMap::new();
        for &id in acks {
            votes.insert(id, true);
        }
        let tally = super::quorum::vote_result(&self.prs.voters, &votes);
        let short = if planted::active(&crate::planted::READ_INDEX_WITHOUT_QUORUM) {
            tally == super::quorum::VoteResult::Lost
        } else {
            tally != super::quorum::VoteResult::Won
        };
        if short {
            return;
        }
        for rs in self.read_only.advance(&m.context) {
            self.respond_read_index(rs.req, rs.index);
        }
    }

    fn leader_read_index(&mut self, m: Message) {
        if self.prs.voters.len() <= 1 {
            let committed = self.raft_log.committed;
            self.respond_read_index(m, committed);
            return;
        }
        if !self.committed_entry_in_current_term()
            && !planted::active(&crate::planted::READ_INDEX_BEFORE_TERM_COMMIT)
        {
            // The new-leader guard: our commit index may lag the true one until we commit an
            // entry of our own term; answer only after that.
            self.pending_read_index_messages.push(m);
            return;
        }
        let ctx = m.entries.first().map(|e| e.data.clone()).unwrap_or_default();
        let committed = self.raft_log.committed;
        self.read_only.add_request(committed, m);
        let id = self.id;
        self.read_only.recv_ack(id, &ctx);
        self.bcast_heartbeat_with_ctx(&ctx);
    }

    fn respond_read_index(&mut self, req: Message, index: u64) {
        assert!(
            index <= self.raft_log.committed,
            "read index {index} beyond commit {}",
            self.raft_log.committed
        );
        let request_ctx = req.entries.first().map(|e| e.data.clone()).unwrap_or_default();
        if req.from == NONE || req.from == self.id {
            self.read_states.push(ReadState { index, request_ctx });
        } else {
            let mut r = Message::new(MessageType::MsgReadIndexResp, self.id, req.from);
            r.index = index;
            r.entries = req.entries;
            self.send(r);
        }
    }

    fn handle_transfer_leader(&mut self, transferee: PeerId) {
        if self.prs.progress[&transferee].is_learner {
            return;
        }
        if self.lead_transferee != NONE {
            if self.lead_transferee == transferee {
                return;
            }
            self.abort_leader_transfer();
        }
        if transferee == self.id {
            return;
        }
        // The transfer must finish within one election timeout.
        self.election_elapsed = 0;
        self.lead_transferee = transferee;
        if self.prs.progress[&transferee].matched == self.raft_log.last_index() {
            self.send_timeout_now(transferee);
        } else {
            self.send_append(transferee);
        }
    }

    fn send_timeout_now(&mut self, to: PeerId) {
        self.send(Message::new(MessageType::MsgTimeoutNow, self.id, to));
    }

    /// Sends an append (or snapshot) to `to` even if it carries no entries.
    pub(crate) fn send_append(&mut self, to: PeerId) {
        self.maybe_send_append(to, true);
    }

    /// Sends `to` what it lacks, if its progress allows. Returns whether a message was sent.
    pub(crate) fn maybe_send_append(&mut self, to: PeerId, send_if_empty: bool) -> bool {
        if to == self.id {
            return false;
        }
        let Some(pr) = self.prs.progress.get(&to) else { return false };
        if pr.is_paused() {
            return false;
        }
        let prev_index = pr.next - 1;
        let prev_term = self.raft_log.term(prev_index);
        // With full inflights only an empty probe goes out (after a heartbeat response): its
        // answer tells whether the in-flight appends were lost.
        let full = pr.state == ProgressState::Replicate && pr.inflights.full();
        let ents =
            if full { Ok(Vec::new()) } else { self.raft_log.entries(pr.next, self.max_msg_size) };
        let (prev_term, ents) = match (prev_term, ents) {
            (Ok(t), Ok(e)) => (t, e),
            _ => return self.maybe_send_snapshot(to),
        };
        if ents.is_empty() && !send_if_empty {
            return false;
        }
        let pr = self.prs.progress.get_mut(&to).expect("present");
        match pr.state {
            ProgressState::Replicate => {
                if let Some(last) = ents.last().map(|e| e.index) {
                    pr.optimistic_update(last);
                    pr.inflights.add(last);
                }
                pr.msg_app_paused = pr.inflights.full();
            }
            ProgressState::Probe => pr.msg_app_paused = true,
            ProgressState::Snapshot => unreachable!("paused progress never sends"),
        }
        let mut m = Message::new(MessageType::MsgApp, self.id, to);
        m.index = prev_index;
        m.log_term = prev_term;
        m.entries = ents;
        m.commit = self.raft_log.committed;
        self.send(m);
        true
    }

    fn maybe_send_snapshot(&mut self, to: PeerId) -> bool {
        if !self.prs.progress[&to].recent_active {
            return false;
        }
        let snap = match self.raft_log.snapshot() {
            Ok(s) => s,
            Err(StorageError::SnapshotTemporarilyUnavailable) => return false,
            Err(e) => panic!("leader {} cannot read its snapshot: {e}", self.id),
        };
        assert!(!snap.is_empty(), "need a non-empty snapshot to catch up {to}");
        self.prs.progress.get_mut(&to).expect("present").become_snapshot(snap.metadata.index);
        let mut m = Message::new(MessageType::MsgSnap, self.id, to);
        m.snapshot = Some(snap);
        self.send(m);
        true
    }

    /// Sends every follower what it lacks (as its progress allows).
    pub fn bcast_append(&mut self) {
        let ids: Vec<PeerId> = self.prs.progress.keys().copied().collect();
        for id in ids {
            self.send_append(id);
        }
    }

    pub(crate) fn bcast_heartbeat(&mut self) {
        match self.read_only.last_pending_request_ctx() {
            Some(ctx) => self.bcast_heartbeat_with_ctx(&ctx),
            None => self.bcast_heartbeat_with_ctx(&[]),
        }
    }

    fn bcast_heartbeat_with_ctx(&mut self, ctx: &[u8]) {
        let targets: Vec<(PeerId, u64)> = self
            .prs
            .progress
            .iter()
            .filter(|(&id, _)| id != self.id)
            .map(|(&id, pr)| (id, pr.matched))
            .collect();
        for (to, matched) in targets {
            let mut m = Message::new(MessageType::MsgHeartbeat, self.id, to);
            // A follower may not have the leader's committed entries: never tell it more.
            m.commit = if planted::active(&crate::planted::HEARTBEAT_CARRIES_LEADER_COMMIT) {
                self.raft_log.committed
            } else {
                matched.min(self.raft_log.committed)
            };
            m.context = ctx.to_vec();
            self.send(m);
        }
    }
}
