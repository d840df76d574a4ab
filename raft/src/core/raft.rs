//! The raft state machine: terms, roles, elections and the dispatch of every message.
//!
//! Role-specific handling lives in [`super::leader`] and [`super::follower`] (which also covers
//! candidates). Outgoing messages are split in two queues (see [`super::raw_node::Ready`]):
//! `msgs` may leave at once, `msgs_after_persist` only once the state they reflect is durable.
//!
//! Invariants (asserted with values): the term never decreases; `committed <= last_index`; a
//! leader never appends below its commit index; every progress has `next > matched`.

use rand::Rng as _;
use rand_chacha::ChaCha8Rng;
use sim::planted;

use super::error::{ConfigError, StepError};
use super::log::RaftLog;
use super::message::{Entry, HardState, Message, MessageType, PeerId, NONE};
use super::quorum::VoteResult;
use super::read_only::{ReadOnly, ReadState};
use super::storage::Storage;
use super::tracker::ProgressTracker;

/// The context a candidate puts on its vote requests when a leadership transfer asked it to
/// campaign: voters then ignore their leader lease.
pub const CAMPAIGN_TRANSFER: &[u8] = b"CampaignTransfer";

/// A node's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum StateRole {
    #[default]
    Follower,
    PreCandidate,
    Candidate,
    Leader,
}

/// Tunables of one node. Time is counted in ticks.
#[derive(Clone, Debug)]
pub struct Config {
    pub id: PeerId,
    /// A follower campaigns after a randomized timeout in `[election_tick, 2 * election_tick)`.
    pub election_tick: u32,
    /// The leader sends heartbeats every `heartbeat_tick` ticks.
    pub heartbeat_tick: u32,
    /// The last applied index (on restart).
    pub applied: u64,
    /// Byte cap of the entries in one MsgApp (at least one entry is always sent).
    pub max_size_per_msg: u64,
    /// Byte cap of committed entries per Ready.
    pub max_committed_size_per_ready: u64,
    /// MsgApps in flight per follower in Replicate mode.
    pub max_inflight_msgs: usize,
    /// The leader steps down if it has not heard from a quorum within an election timeout, and
    /// followers that hear from a leader ignore vote requests for that long (the lease).
    pub check_quorum: bool,
    /// Run a pre-election that does not bump terms before the real one (§9.6 of the thesis).
    pub pre_vote: bool,
    /// Followers drop proposals instead of forwarding them to the leader.
    pub disable_proposal_forwarding: bool,
}

impl Config {
    pub fn new(id: PeerId) -> Config {
        Config {
            id,
            election_tick: 10,
            heartbeat_tick: 1,
            applied: 0,
            max_size_per_msg: u64::MAX,
            max_committed_size_per_ready: u64::MAX,
            max_inflight_msgs: 256,
            check_quorum: false,
            pre_vote: false,
            disable_proposal_forwarding: false,
        }
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.id == NONE {
            return Err(ConfigError::ZeroId);
        }
        if self.heartbeat_tick == 0 || self.election_tick <= self.heartbeat_tick {
            return Err(ConfigError::BadTicks {
                election_tick: self.election_tick,
                heartbeat_tick: self.heartbeat_tick,
            });
        }
        if self.max_inflight_msgs == 0 {
            return Err(ConfigError::ZeroInflight);
        }
        Ok(())
    }
}

/// Volatile state the application may want to watch (leader changes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct SoftState {
    pub lead: PeerId,
    pub role: StateRole,
}

/// The kind of election to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CampaignType {
    PreElection,
    Election,
    Transfer,
}

/// How many emptied message vectors a [`Raft`] keeps for reuse (one per kind of message list in
/// a Ready, plus one in flight).
const SPARE_MESSAGE_VECS: usize = 4;

/// One raft node's consensus state.
pub struct Raft<S: Storage> {
    pub id: PeerId,
    pub term: u64,
    pub vote: PeerId,
    pub lead: PeerId,
    pub state: StateRole,
    pub raft_log: RaftLog<S>,
    pub prs: ProgressTracker,
    pub read_states: Vec<ReadState>,
    /// Messages that may be sent before the current Ready is persisted.
    pub msgs: Vec<Message>,
    /// Messages that may be sent only after the current Ready is persisted.
    pub msgs_after_persist: Vec<Message>,
    /// Emptied message vectors handed back by [`Raft::recycle_messages`]: the next
    /// [`Raft::take_messages`] reuses their capacity instead of growing new vectors one push at
    /// a time. At most [`SPARE_MESSAGE_VECS`] are kept.
    spare_msgs: Vec<Vec<Message>>,
    pub lead_transferee: PeerId,
    /// Index of the last conf change proposed (a new one waits until this is applied).
    pub pending_conf_index: u64,
    pub(crate) read_only: ReadOnly,
    /// ReadIndex requests that arrived before this leader committed an entry of its term.
    pub(crate) pending_read_index_messages: Vec<Message>,
    pub election_elapsed: u32,
    pub heartbeat_elapsed: u32,
    pub check_quorum: bool,
    pub pre_vote: bool,
    pub heartbeat_timeout: u32,
    pub election_timeout: u32,
    pub randomized_election_timeout: u32,
    pub max_msg_size: u64,
    pub disable_proposal_forwarding: bool,
    rng: ChaCha8Rng,
}

impl<S: Storage> Raft<S> {
    /// A node restarted from `store` (bootstrapped by the storage's initial membership).
    pub fn new(config: &Config, store: S, rng: ChaCha8Rng) -> Result<Raft<S>, ConfigError> {
        config.validate()?;
        let (hs, cs) = store.initial_state();
        let mut r = Raft {
            id: config.id,
            term: 0,
            vote: NONE,
            lead: NONE,
            state: StateRole::Follower,
            raft_log: RaftLog::new(store, config.max_committed_size_per_ready),
            prs: ProgressTracker::new(config.max_inflight_msgs),
            read_states: Vec::new(),
            msgs: Vec::new(),
            msgs_after_persist: Vec::new(),
            spare_msgs: Vec::new(),
            lead_transferee: NONE,
            pending_conf_index: 0,
            read_only: ReadOnly::default(),
            pending_read_index_messages: Vec::new(),
            election_elapsed: 0,
            heartbeat_elapsed: 0,
            check_quorum: config.check_quorum,
            pre_vote: config.pre_vote,
            heartbeat_timeout: config.heartbeat_tick,
            election_timeout: config.election_tick,
            randomized_election_timeout: config.election_tick,
            max_msg_size: config.max_size_per_msg,
            disable_proposal_forwarding: config.disable_proposal_forwarding,
            rng,
        };
        let next = r.raft_log.last_index() + 1;
        for &id in &cs.voters {
            r.prs.insert(id, next, false);
        }
        for &id in &cs.learners {
            r.prs.insert(id, next, true);
        }
        if hs != HardState::default() {
            r.load_state(hs);
        }
        if config.applied > 0 {
            r.raft_log.applied_to(config.applied);
        }
        let term = r.term;
        r.become_follower(term, NONE);
        Ok(r)
    }

    /// Loads a persisted hard state (restart; tests).
    pub fn load_state(&mut self, hs: HardState) {
        assert!(
            hs.commit >= self.raft_log.committed && hs.commit <= self.raft_log.last_index(),
            "hard state commit {} out of range [{}, {}]",
            hs.commit,
            self.raft_log.committed,
            self.raft_log.last_index()
        );
        self.raft_log.committed = hs.commit;
        self.term = hs.term;
        self.vote = hs.vote;
    }

    pub fn hard_state(&self) -> HardState {
        HardState { term: self.term, vote: self.vote, commit: self.raft_log.committed }
    }

    pub fn soft_state(&self) -> SoftState {
        SoftState { lead: self.lead, role: self.state }
    }

    /// True if this node may become leader: a voter with no incoming snapshot pending.
    pub fn promotable(&self) -> bool {
        self.prs.is_voter(self.id) && self.raft_log.unstable.snapshot.is_none()
    }

    /// Queues `m` for sending, stamping sender and term, and choosing its queue.
    pub(crate) fn send(&mut self, mut m: Message) {
        // Forwarded requests keep their origin (a transfer request names the transferee).
        if m.from == NONE {
            m.from = self.id;
        }
        let t = m.msg_type;
        if matches!(
            t,
            MessageType::MsgVote
                | MessageType::MsgPreVote
                | MessageType::MsgVoteResp
                | MessageType::MsgPreVoteResp
        ) {
            // Vote traffic carries the term it is about (a pre-vote's is a future term).
            assert!(m.term != 0, "term should be set when sending {t:?}");
        } else {
            assert!(m.term == 0, "term should not be set when sending {t:?} (was {})", m.term);
            // Proposals and forwarded reads carry no term: they are handled as local messages.
            if !matches!(t, MessageType::MsgProp | MessageType::MsgReadIndex) {
                m.term = self.term;
            }
        }
        // A leader's own requests reflect nothing it has not already made durable (its term and
        // vote were persisted before its MsgVotes left; its appends count for itself only once
        // persisted). Everything else — votes, vote and append responses — must wait.
        let early = self.state == StateRole::Leader && !t.is_response()
            || matches!(
                t,
                MessageType::MsgProp
                    | MessageType::MsgReadIndex
                    | MessageType::MsgHeartbeatResp
                    | MessageType::MsgTransferLeader
            );
        if early {
            self.msgs.push(m);
        } else {
            self.msgs_after_persist.push(m);
        }
    }

    pub(crate) fn reset(&mut self, term: u64) {
        if self.term != term {
            assert!(term > self.term, "term went backwards: {} -> {term}", self.term);
            self.term = term;
            self.vote = NONE;
        }
        self.lead = NONE;
        self.election_elapsed = 0;
        self.heartbeat_elapsed = 0;
        self.reset_randomized_election_timeout();
        self.abort_leader_transfer();
        self.prs.reset_votes();
        let last = self.raft_log.last_index();
        let persisted = self.raft_log.last_persisted_index();
        let id = self.id;
        for (&pid, pr) in self.prs.progress.iter_mut() {
            let learner = pr.is_learner;
            *pr = super::progress::Progress::new(last + 1, self.prs.max_inflight);
            pr.is_learner = learner;
            if pid == id {
                pr.matched = persisted;
            }
        }
        self.pending_conf_index = 0;
        self.read_only = ReadOnly::default();
        self.pending_read_index_messages.clear();
    }

    fn reset_randomized_election_timeout(&mut self) {
        let t = self.election_timeout;
        self.randomized_election_timeout = self.rng.random_range(t..2 * t);
    }

    pub(crate) fn abort_leader_transfer(&mut self) {
        self.lead_transferee = NONE;
    }

    pub fn become_follower(&mut self, term: u64, lead: PeerId) {
        self.reset(term);
        self.lead = lead;
        self.state = StateRole::Follower;
    }

    pub fn become_pre_candidate(&mut self) {
        assert!(self.state != StateRole::Leader, "invalid transition [leader -> pre-candidate]");
        // A pre-candidate changes neither term nor vote.
        self.prs.reset_votes();
        self.lead = NONE;
        self.state = StateRole::PreCandidate;
    }

    pub fn become_candidate(&mut self) {
        assert!(self.state != StateRole::Leader, "invalid transition [leader -> candidate]");
        let term = self.term + 1;
        self.reset(term);
        self.vote = self.id;
        self.state = StateRole::Candidate;
    }

    pub fn become_leader(&mut self) {
        assert!(self.state != StateRole::Follower, "invalid transition [follower -> leader]");
        let term = self.term;
        self.reset(term);
        self.lead = self.id;
        self.state = StateRole::Leader;
        assert!(
            self.vote == self.id && self.raft_log.last_term() <= self.term,
            "node {} leads term {} with vote {} and last log term {}",
            self.id,
            self.term,
            self.vote,
            self.raft_log.last_term()
        );
        let id = self.id;
        if let Some(pr) = self.prs.progress.get_mut(&id) {
            // The leader's own progress is always "replicating"; matched is what it persisted.
            pr.become_replicate();
        }
        // Conservatively treat any unapplied conf change in the log as pending.
        self.pending_conf_index = self.raft_log.last_index();
        let noop = Entry::default();
        self.append_entry(vec![noop]);
    }

    /// Advances time by one tick.
    pub fn tick(&mut self) {
        if self.state == StateRole::Leader {
            self.tick_heartbeat();
        } else {
            self.tick_election();
        }
    }

    fn tick_election(&mut self) {
        self.election_elapsed += 1;
        if self.promotable() && self.election_elapsed >= self.randomized_election_timeout {
            self.election_elapsed = 0;
            let _ = self.step(Message::new(MessageType::MsgHup, self.id, NONE));
        }
    }

    fn tick_heartbeat(&mut self) {
        self.heartbeat_elapsed += 1;
        self.election_elapsed += 1;
        if self.election_elapsed >= self.election_timeout {
            self.election_elapsed = 0;
            if self.check_quorum {
                let _ = self.step(Message::new(MessageType::MsgCheckQuorum, self.id, NONE));
            }
            // A transfer that did not finish within an election timeout is abandoned.
            if self.state == StateRole::Leader && self.lead_transferee != NONE {
                self.abort_leader_transfer();
            }
        }
        if self.state != StateRole::Leader {
            return;
        }
        if self.heartbeat_elapsed >= self.heartbeat_timeout {
            self.heartbeat_elapsed = 0;
            let _ = self.step(Message::new(MessageType::MsgBeat, self.id, NONE));
        }
    }

    /// Whether an applied-pending conf change blocks campaigning: a node must not campaign while
    /// a committed conf change is not yet applied (it may not know its own membership).
    fn has_unapplied_conf_change(&self) -> bool {
        let lo = self.raft_log.applied + 1;
        let hi = self.raft_log.committed + 1;
        if lo >= hi {
            return false;
        }
        match self.raft_log.slice(lo, hi, u64::MAX) {
            Ok(ents) => ents.iter().any(|e| e.kind == super::message::EntryKind::ConfChange),
            Err(_) => false,
        }
    }

    pub(crate) fn hup(&mut self, t: CampaignType) {
        if self.state == StateRole::Leader || !self.promotable() {
            return;
        }
        if self.has_unapplied_conf_change() {
            return;
        }
        self.campaign(t);
    }

    pub(crate) fn campaign(&mut self, t: CampaignType) {
        let (vote_msg, term) = if t == CampaignType::PreElection {
            self.become_pre_candidate();
            (MessageType::MsgPreVote, self.term + 1)
        } else {
            self.become_candidate();
            (MessageType::MsgVote, self.term)
        };
        let id = self.id;
        if self.poll(id, true) == VoteResult::Won {
            // Single-voter cluster: won on our own vote.
            if t == CampaignType::PreElection {
                self.campaign(CampaignType::Election);
            } else {
                self.become_leader();
            }
            return;
        }
        let voters: Vec<PeerId> = self.prs.voters.iter().copied().filter(|&v| v != id).collect();
        let (last_index, last_term) = (self.raft_log.last_index(), self.raft_log.last_term());
        for to in voters {
            let mut m = Message::new(vote_msg, id, to);
            m.term = term;
            m.index = last_index;
            m.log_term = last_term;
            if t == CampaignType::Transfer {
                m.context = CAMPAIGN_TRANSFER.to_vec();
            }
            self.send(m);
        }
    }

    /// Records `id`'s (pre-)vote and returns the tally among voters.
    pub(crate) fn poll(&mut self, id: PeerId, granted: bool) -> VoteResult {
        self.prs.record_vote(id, granted)
    }

    /// Steps one message (local input or from a peer).
    pub fn step(&mut self, m: Message) -> Result<(), StepError> {
        if m.term == 0 {
            // Local message (or a proposal / forwarded read).
        } else if m.term > self.term {
            if matches!(m.msg_type, MessageType::MsgVote | MessageType::MsgPreVote) {
                let force = m.context == CAMPAIGN_TRANSFER;
                let in_lease = self.check_quorum
                    && self.lead != NONE
                    && self.election_elapsed < self.election_timeout;
                if !force && in_lease {
                    // We heard from a live leader within the election timeout: ignore, and do
                    // not bump our term (this is what stops a partitioned node from disrupting).
                    return Ok(());
                }
            }
            match m.msg_type {
                MessageType::MsgPreVote => {}
                MessageType::MsgPreVoteResp if !m.reject => {}
                MessageType::MsgApp | MessageType::MsgHeartbeat | MessageType::MsgSnap => {
                    self.become_follower(m.term, m.from);
                }
                _ => self.become_follower(m.term, NONE),
            }
        } else if m.term < self.term
            && !(planted::active(&crate::planted::STALE_RESPONSES_ACCEPTED)
                && m.msg_type.is_response())
        {
            self.step_stale(&m);
            return Ok(());
        }

        // The role handlers see only local messages and messages of our term (a granted
        // pre-vote response carries the term it proposes).
        assert!(
            m.term == 0
                || m.term == self.term
                || matches!(m.msg_type, MessageType::MsgPreVote | MessageType::MsgPreVoteResp)
                    && m.term > self.term,
            "node {} at term {} steps {:?} of term {} from {}",
            self.id,
            self.term,
            m.msg_type,
            m.term,
            m.from
        );
        match m.msg_type {
            MessageType::MsgHup => {
                let t =
                    if self.pre_vote { CampaignType::PreElection } else { CampaignType::Election };
                self.hup(t);
                Ok(())
            }
            MessageType::MsgVote | MessageType::MsgPreVote => {
                self.handle_vote_request(&m);
                Ok(())
            }
            _ => match self.state {
                StateRole::Leader => self.step_leader(m),
                StateRole::Candidate | StateRole::PreCandidate => self.step_candidate(m),
                StateRole::Follower => self.step_follower(m),
            },
        }
    }

    /// A message from an older term.
    fn step_stale(&mut self, m: &Message) {
        if (self.check_quorum || self.pre_vote)
            && matches!(m.msg_type, MessageType::MsgHeartbeat | MessageType::MsgApp)
        {
            // A stale leader (e.g. after a partition) would otherwise never learn the new term:
            // with check-quorum or pre-vote we never bumped ours by its votes. Tell it.
            self.send(Message::new(MessageType::MsgAppResp, self.id, m.from));
        } else if m.msg_type == MessageType::MsgPreVote {
            let mut r = Message::new(MessageType::MsgPreVoteResp, self.id, m.from);
            r.term = self.term;
            r.reject = true;
            self.send(r);
        }
    }

    fn handle_vote_request(&mut self, m: &Message) {
        let free = if planted::active(&crate::planted::VOTE_TWICE_IN_TERM) {
            self.lead == NONE
        } else {
            self.vote == NONE && self.lead == NONE
        };
        let can_vote = self.vote == m.from
            || free
            || (m.msg_type == MessageType::MsgPreVote && m.term > self.term);
        let resp_type = if m.msg_type == MessageType::MsgVote {
            MessageType::MsgVoteResp
        } else {
            MessageType::MsgPreVoteResp
        };
        let mut r = Message::new(resp_type, self.id, m.from);
        if can_vote && self.raft_log.is_up_to_date(m.index, m.log_term) {
            // A pre-vote is answered at the term it proposes; a real vote at ours (== m.term).
            r.term = m.term;
            self.send(r);
            if m.msg_type == MessageType::MsgVote
                || planted::active(&crate::planted::PRE_VOTE_RECORDS_VOTE)
            {
                self.election_elapsed = 0;
                self.vote_for(m.from, m.term);
            }
        } else {
            r.term = self.term;
            r.reject = true;
            self.send(r);
        }
    }

    /// Casts this node's vote in `term` for `id`. One vote per term: a vote is cast only in the
    /// current term and never changes within it.
    fn vote_for(&mut self, id: PeerId, term: u64) {
        assert!(
            term == self.term && (self.vote == NONE || self.vote == id),
            "node {} votes for {id} in term {term} at term {} having voted for {}",
            self.id,
            self.term,
            self.vote
        );
        self.vote = id;
    }

    /// Appends `es` (stamped with our term and consecutive indexes) to the leader's log. The
    /// leader's own progress advances only when the entries are persisted (at `advance`).
    pub(crate) fn append_entry(&mut self, mut es: Vec<Entry>) {
        let li = self.raft_log.last_index();
        for (i, e) in es.iter_mut().enumerate() {
            e.term = self.term;
            e.index = li + 1 + i as u64;
        }
        self.raft_log.append(es);
        if planted::active(&crate::planted::LEADER_COUNTS_UNSYNCED_ENTRIES) {
            let last = self.raft_log.last_index();
            self.on_persisted(last, self.term);
        }
    }

    /// The leader's own entries up to (`index`, `term`) are durable: count them for itself.
    pub fn on_persisted(&mut self, index: u64, term: u64) {
        if self.state != StateRole::Leader || !self.raft_log.match_term(index, term) {
            return;
        }
        let id = self.id;
        let updated = self.prs.progress.get_mut(&id).is_some_and(|pr| pr.maybe_update(index));
        if updated && self.maybe_commit() {
            self.on_commit_advanced();
        }
    }

    /// Recomputes the commit index from the quorum's matched indexes.
    pub(crate) fn maybe_commit(&mut self) -> bool {
        // Quorum durability: the leader counts only what its own disk holds.
        let own = self.prs.progress.get(&self.id).map_or(0, |p| p.matched);
        let durable = self.raft_log.store.last_index();
        assert!(own <= durable, "leader {} counts {own} for itself, durable to {durable}", self.id);
        let mci = self.prs.committed();
        self.raft_log.maybe_commit(mci, self.term)
    }

    pub(crate) fn committed_entry_in_current_term(&self) -> bool {
        self.raft_log.term_or_zero(self.raft_log.committed) == self.term
    }

    /// Takes and clears the messages that may be sent right away and those that must wait.
    pub fn take_messages(&mut self) -> (Vec<Message>, Vec<Message>) {
        let now = std::mem::replace(&mut self.msgs, self.spare_msgs.pop().unwrap_or_default());
        let later = std::mem::replace(
            &mut self.msgs_after_persist,
            self.spare_msgs.pop().unwrap_or_default(),
        );
        (now, later)
    }

    /// Hands back a vector taken by [`Raft::take_messages`] once its messages are sent, so its
    /// capacity serves the next Ready. Whatever it still holds is dropped.
    pub fn recycle_messages(&mut self, mut v: Vec<Message>) {
        if self.spare_msgs.len() < SPARE_MESSAGE_VECS && v.capacity() > 0 {
            v.clear();
            self.spare_msgs.push(v);
        }
    }
}
