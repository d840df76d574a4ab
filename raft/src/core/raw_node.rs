//! [`RawNode`]: the application's handle on a raft node, and the [`Ready`] batches it hands out.
//!
//! # The persistence contract
//!
//! Handle each [`Ready`] in this order:
//! 1. `messages` may be sent at once — they are the leader's own requests (appends, heartbeats,
//!    snapshots), forwarded proposals and reads. The leader may thus replicate in parallel with
//!    its own disk write (Raft thesis §10.2.1): it counts itself toward a quorum only once its
//!    write is durable, which the core learns at [`RawNode::advance`] (it then acknowledges the
//!    Ready's entries to itself — the role etcd's async storage writes give a self-addressed
//!    MsgAppResp).
//! 2. Persist `snapshot` (if any), then `entries` and `hard_state`, syncing if `must_sync`.
//! 3. Only then send `persisted_messages`: votes, vote and append responses — anything that
//!    promises what this node has stored.
//! 4. Apply `snapshot` and then `committed_entries` to the state machine, in order.
//! 5. Call [`RawNode::advance`]. Do not call [`RawNode::ready`] again before that.
//!
//! A node that crashes restarts from what step 2 persisted; nothing else survives.
//!
//! # Example: one node's loop
//!
//! ```
//! use rand::SeedableRng;
//! use raft::core::{Config, MemoryStorage, RawNode, StateRole};
//!
//! let rng = rand_chacha::ChaCha8Rng::seed_from_u64(1); // e.g. sim::Seed::stream("raft/1")
//! let mut node = RawNode::new(&Config::new(1), MemoryStorage::with_voters(&[1]), rng).unwrap();
//! node.campaign().unwrap();
//! let mut applied = Vec::new();
//! // A lone voter wins at once; elsewhere `ProposalDropped` means "no leader yet: retry".
//! node.propose(b"x".to_vec()).unwrap();
//! for _ in 0..3 {
//!     if !node.has_ready() {
//!         node.tick();
//!         continue;
//!     }
//!     let rd = node.ready();
//!     let send_now = &rd.messages; // to the transport
//!     let store = node.store_mut();
//!     if let Some(s) = &rd.snapshot {
//!         store.apply_snapshot(s.clone()).unwrap();
//!     }
//!     store.append(&rd.entries);
//!     if let Some(hs) = rd.hard_state {
//!         store.set_hard_state(hs);
//!     }
//!     let send_after_persist = &rd.persisted_messages; // to the transport, now
//!     applied.extend(rd.committed_entries.iter().map(|e| e.index));
//!     let _ = (send_now, send_after_persist);
//!     node.advance();
//! }
//! assert_eq!(node.status().soft_state.role, StateRole::Leader);
//! assert_eq!(applied, vec![1, 2], "the no-op and x, committed once durable");
//! ```

use rand_chacha::ChaCha8Rng;

use super::error::{ConfChangeError, ConfigError, StepError};
use super::message::{
    Codec, ConfChange, ConfState, Entry, EntryKind, HardState, Message, MessageType, PeerId,
    Snapshot, NONE,
};
use super::raft::{Config, Raft, SoftState};
use super::read_only::ReadState;
use super::status::Status;
use super::storage::Storage;

/// A batch of work for the application: what to persist, send and apply.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Ready {
    /// Set when the leader or role changed.
    pub soft_state: Option<SoftState>,
    /// Set when term, vote or commit changed: persist it.
    pub hard_state: Option<HardState>,
    /// Answered ReadIndex requests.
    pub read_states: Vec<ReadState>,
    /// Entries to append to stable storage.
    pub entries: Vec<Entry>,
    /// A snapshot to persist and apply.
    pub snapshot: Option<Snapshot>,
    /// Entries to apply (they may include `entries` just persisted).
    pub committed_entries: Vec<Entry>,
    /// Send now (before persisting).
    pub messages: Vec<Message>,
    /// Send only after `entries`, `hard_state` and `snapshot` are durable.
    pub persisted_messages: Vec<Message>,
    /// Whether the write must be synced (new entries, or term/vote changed).
    pub must_sync: bool,
}

/// Structural checks on a message from the network, so a corrupt or hostile one is refused
/// with a reason instead of tripping an invariant assertion deeper in the core.
fn validate(m: &Message) -> Result<(), &'static str> {
    match m.msg_type {
        MessageType::MsgProp if m.entries.is_empty() => Err("proposal without entries"),
        MessageType::MsgReadIndex | MessageType::MsgReadIndexResp if m.entries.is_empty() => {
            Err("read request without its context entry")
        }
        MessageType::MsgApp => {
            if m.log_term > m.term {
                return Err("previous entry's term is above the message term");
            }
            let mut prev_term = m.log_term;
            for (i, e) in m.entries.iter().enumerate() {
                if m.index.checked_add(i as u64 + 1) != Some(e.index) {
                    return Err("entries are not consecutive after the previous index");
                }
                if e.term < prev_term || e.term > m.term {
                    return Err("entry terms go backwards or exceed the message term");
                }
                prev_term = e.term;
            }
            Ok(())
        }
        MessageType::MsgSnap => match &m.snapshot {
            None => Err("snapshot message without a snapshot"),
            Some(s) if s.is_empty() || s.metadata.term > m.term => {
                Err("snapshot at index 0 or from a future term")
            }
            Some(_) => Ok(()),
        },
        _ => Ok(()),
    }
}

/// A Ready's own invariants: its entries are contiguous; the committed entries continue the
/// applied sequence (or the snapshot) in order and lie within the commit index; the hard
/// state's commit lies within the log.
fn check_ready<S: super::storage::Storage>(rd: &Ready, log: &super::log::RaftLog<S>) {
    let committed = log.committed;
    assert!(committed <= log.last_index(), "commit {committed} beyond last {}", log.last_index());
    if let (Some(first), Some(last)) = (rd.entries.first(), rd.entries.last()) {
        assert!(
            last.index - first.index + 1 == rd.entries.len() as u64,
            "Ready entries {}..={} are not {} contiguous entries",
            first.index,
            last.index,
            rd.entries.len()
        );
    }
    if let (Some(first), Some(last)) = (rd.committed_entries.first(), rd.committed_entries.last()) {
        let base = log.applied.max(log.first_index() - 1);
        assert!(
            first.index == base + 1 && last.index <= committed,
            "committed entries {}..={} do not continue applied {base} within commit {committed}",
            first.index,
            last.index
        );
        assert!(
            last.index - first.index + 1 == rd.committed_entries.len() as u64,
            "committed entries {}..={} have gaps",
            first.index,
            last.index
        );
    }
}

/// What an outstanding Ready promised, so `advance` can acknowledge it.
#[derive(Clone, Copy, Debug)]
struct InFlight {
    last_entry: Option<(u64, u64)>,
    snapshot_index: Option<u64>,
    applied_to: u64,
}

/// The application-facing raft node.
pub struct RawNode<S: Storage> {
    pub raft: Raft<S>,
    prev_soft: SoftState,
    prev_hard: HardState,
    in_flight: Option<InFlight>,
}

impl<S: Storage> RawNode<S> {
    /// A node over `store` (whose initial state bootstraps or restarts it), drawing its election
    /// timeouts from `rng`.
    pub fn new(config: &Config, store: S, rng: ChaCha8Rng) -> Result<RawNode<S>, ConfigError> {
        let raft = Raft::new(config, store, rng)?;
        let prev_hard = raft.hard_state();
        let prev_soft = raft.soft_state();
        Ok(RawNode { raft, prev_soft, prev_hard, in_flight: None })
    }

    pub fn tick(&mut self) {
        self.raft.tick();
    }

    /// Starts an election now.
    pub fn campaign(&mut self) -> Result<(), StepError> {
        self.raft.step(Message::new(MessageType::MsgHup, self.raft.id, NONE))
    }

    /// Proposes `data` for the log. `ProposalDropped` if there is no leader to take it.
    pub fn propose(&mut self, data: Vec<u8>) -> Result<(), StepError> {
        self.propose_entries(vec![Entry { data, ..Entry::default() }])
    }

    /// Proposes several entries in one message (a batch).
    pub fn propose_entries(&mut self, entries: Vec<Entry>) -> Result<(), StepError> {
        let mut m = Message::new(MessageType::MsgProp, self.raft.id, NONE);
        m.entries = entries;
        self.raft.step(m)
    }

    pub fn propose_conf_change(&mut self, cc: &ConfChange) -> Result<(), StepError> {
        let e = Entry { kind: EntryKind::ConfChange, data: cc.to_bytes(), ..Entry::default() };
        self.propose_entries(vec![e])
    }

    /// Steps a message received from a peer.
    pub fn step(&mut self, m: Message) -> Result<(), StepError> {
        if m.msg_type.is_local() {
            return Err(StepError::LocalMessageFromNetwork(m.msg_type));
        }
        if m.msg_type.is_response() && !self.raft.prs.progress.contains_key(&m.from) {
            return Err(StepError::PeerNotFound(m.from));
        }
        validate(&m).map_err(|why| StepError::Malformed(m.msg_type, why))?;
        self.raft.step(m)
    }

    /// Applies a committed conf change; returns the new membership.
    pub fn apply_conf_change(&mut self, cc: &ConfChange) -> Result<ConfState, ConfChangeError> {
        self.raft.apply_conf_change(cc)
    }

    /// Requests a linearizable read; the answer arrives as a [`ReadState`] carrying `ctx`.
    pub fn read_index(&mut self, ctx: Vec<u8>) -> Result<(), StepError> {
        let mut m = Message::new(MessageType::MsgReadIndex, self.raft.id, NONE);
        m.entries = vec![Entry { data: ctx, ..Entry::default() }];
        self.raft.step(m)
    }

    /// Asks the leader to hand leadership to `transferee`.
    pub fn transfer_leader(&mut self, transferee: PeerId) {
        let m = Message::new(MessageType::MsgTransferLeader, transferee, NONE);
        let _ = self.raft.step(m);
    }

    /// The transport could not reach `id`.
    pub fn report_unreachable(&mut self, id: PeerId) {
        let _ = self.raft.step(Message::new(MessageType::MsgUnreachable, id, NONE));
    }

    /// Delivery of a snapshot to `id` finished (`failed` = it did not arrive).
    pub fn report_snapshot(&mut self, id: PeerId, failed: bool) {
        let mut m = Message::new(MessageType::MsgSnapStatus, id, NONE);
        m.reject = failed;
        let _ = self.raft.step(m);
    }

    pub fn status(&self) -> Status {
        Status::new(&self.raft)
    }

    pub fn store(&self) -> &S {
        &self.raft.raft_log.store
    }

    /// The storage, for the application to persist into (as a Ready instructs).
    pub fn store_mut(&mut self) -> &mut S {
        &mut self.raft.raft_log.store
    }

    /// Whether there is anything to handle. False while a Ready awaits [`RawNode::advance`].
    pub fn has_ready(&self) -> bool {
        if self.in_flight.is_some() {
            return false;
        }
        let r = &self.raft;
        r.soft_state() != self.prev_soft
            || r.hard_state() != self.prev_hard
            || !r.read_states.is_empty()
            || !r.raft_log.unstable_entries().is_empty()
            || r.raft_log.unstable.snapshot.is_some()
            || !r.msgs.is_empty()
            || !r.msgs_after_persist.is_empty()
            || r.raft_log.has_next_committed_ents()
    }

    /// The next batch of work. Call [`RawNode::advance`] once it is handled.
    pub fn ready(&mut self) -> Ready {
        assert!(self.in_flight.is_none(), "ready() called again before advance()");
        let r = &mut self.raft;
        let soft = r.soft_state();
        let hard = r.hard_state();
        let entries = r.raft_log.unstable_entries().to_vec();
        let snapshot = r.raft_log.unstable.snapshot.clone();
        let committed_entries = r.raft_log.next_committed_ents();
        let (messages, persisted_messages) = r.take_messages();
        let must_sync = !entries.is_empty()
            || hard.term != self.prev_hard.term
            || hard.vote != self.prev_hard.vote;
        let rd = Ready {
            soft_state: (soft != self.prev_soft).then_some(soft),
            hard_state: (hard != self.prev_hard).then_some(hard),
            read_states: std::mem::take(&mut r.read_states),
            entries,
            snapshot,
            committed_entries,
            messages,
            persisted_messages,
            must_sync,
        };
        check_ready(&rd, &r.raft_log);
        self.prev_soft = soft;
        self.prev_hard = hard;
        let applied_to = rd
            .committed_entries
            .last()
            .map(|e| e.index)
            .or(rd.snapshot.as_ref().map(|s| s.metadata.index))
            .unwrap_or(0);
        self.in_flight = Some(InFlight {
            last_entry: rd.entries.last().map(|e| (e.index, e.term)),
            snapshot_index: rd.snapshot.as_ref().map(|s| s.metadata.index),
            applied_to,
        });
        rd
    }

    /// Hands back a message vector of a Ready once its messages are sent, so the next Ready
    /// reuses its capacity (optional: dropping it instead is fine).
    pub fn recycle_messages(&mut self, v: Vec<Message>) {
        self.raft.recycle_messages(v);
    }

    /// The last Ready was persisted, sent and applied as its contract says.
    pub fn advance(&mut self) {
        let Some(f) = self.in_flight.take() else { return };
        if let Some(i) = f.snapshot_index {
            self.raft.raft_log.stable_snap_to(i);
        }
        if let Some((index, term)) = f.last_entry {
            // Acknowledge to ourselves first: while the entries are still in the unstable tail
            // we can tell whether (index, term) is still our entry.
            self.raft.on_persisted(index, term);
            self.raft.raft_log.stable_to(index, term);
        }
        if f.applied_to > 0 {
            self.raft.raft_log.applied_to(f.applied_to);
        }
    }
}
