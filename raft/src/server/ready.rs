//! Handling one [`Ready`] in etcd's order (`raftNode.start`):
//! 1. soft state: count leader changes, set has-leader; a leader change fails the linearizable
//!    reads still waiting for a read index (`LeaderChanged`, retryable);
//! 2. read states: attach the read index to the waiting reads;
//! 3. committed entries and the snapshot go to the apply queue;
//! 4. a leader sends its messages before saving (Raft thesis §10.2.1); a snapshot message gets
//!    the state at the applied index (etcd's merged snapshot, [`super::apply`]);
//! 5. persist: the snapshot file then its WAL marker, then hard state and entries (the WAL
//!    syncs when raft needs it: new entries, or a new term or vote). Newer etcd also saves the
//!    snapshot first: a hard state whose commit points past entries we do not hold must never be
//!    durable without the snapshot covering them. With a snapshot the hard state is synced
//!    whatever raft says: boot trusts a marker only under a durable commit at or past it, and the
//!    state machine is about to restore the snapshot;
//! 6. the snapshot and the entries go into raft's storage;
//! 7. a follower sends its messages, and everyone sends the messages that promise durable
//!    state (votes, append responses) — only now;
//! 8. the apply queue runs in order, triggering waiters; the state machine commits if its
//!    batching policy says so ([`StateMachine::commit_if_due`], also called every tick); a
//!    snapshot is taken every `snapshot_count` applied entries;
//! 9. advance: only here does the leader count its own entries as persisted.

use net::frame::{MessageKind, Payload};
use net::ids::MemberId;
use net::transport::Outgoing;
use sim::{planted, Env, Halt};

use crate::core::{Codec, Message, MessageType, Ready, StateRole, NONE};

use super::boot::{snap_halt, wal_halt};
use super::node::Running;
use super::request::{ClientResponse, ServerError};
use super::state_machine::StateMachine;

fn kind_of(m: &Message) -> MessageKind {
    match m.msg_type {
        MessageType::MsgApp => MessageKind::Append,
        MessageType::MsgSnap => MessageKind::Snapshot,
        _ => MessageKind::General,
    }
}

impl<S: StateMachine> Running<S> {
    pub(super) fn send<R>(&mut self, env: &mut Env<'_, R>, msgs: Vec<Message>) {
        if msgs.is_empty() {
            return;
        }
        let me = self.me;
        let out = msgs.into_iter().filter(|m| m.to != me && m.to != NONE).map(|m| Outgoing {
            to: MemberId(m.to),
            kind: kind_of(&m),
            payload: Payload::build(m.size_hint(), |out| m.encode(out)),
        });
        self.transport.send(env, out);
    }

    fn on_soft_state(&mut self, env: &mut Env<'_, ClientResponse>, lead: u64) {
        if lead != self.lead {
            if lead != NONE {
                self.metrics.leader_changes += 1;
            }
            self.metrics.has_leader = lead != NONE;
            self.lead = lead;
            for (_, r) in self.reads.drain_where(|r| r.index.is_none()) {
                env.respond(ClientResponse {
                    id: r.client,
                    result: Err(ServerError::LeaderChanged),
                });
            }
            self.trace_metrics(env);
        }
    }

    /// Handles one Ready (see the module docs for the order).
    pub(super) fn handle_ready(&mut self, env: &mut Env<'_, ClientResponse>) -> Result<(), Halt> {
        let rd: Ready = self.raw.ready();
        if let Some(ss) = rd.soft_state {
            self.on_soft_state(env, ss.lead);
        }
        for rs in &rd.read_states {
            if let Some((boot, key)) = super::request::parse_read_ctx(&rs.request_ctx) {
                if boot == self.boot || planted::active(&crate::planted::WAITERS_IGNORE_BOOT) {
                    if let Some(r) = self.reads.get_mut(key) {
                        r.index = Some(rs.index);
                    }
                }
            }
        }
        let is_leader = self.raw.raft.state == StateRole::Leader;
        let Ready {
            hard_state,
            entries,
            snapshot,
            committed_entries,
            mut messages,
            persisted_messages,
            ..
        } = rd;
        self.refresh_snapshot_messages(&mut messages)?;
        if is_leader {
            self.send(env, std::mem::take(&mut messages));
        }
        let (early, persisted_messages) = if planted::active(&crate::planted::ACK_BEFORE_WAL_SYNC) {
            (persisted_messages, Vec::new())
        } else {
            (Vec::new(), persisted_messages)
        };
        self.send(env, early);
        if let Some(snap) = &snapshot {
            self.snapshotter.save(snap).map_err(|e| snap_halt("save snapshot", e))?;
            self.wal.save_snapshot(&snap.metadata).map_err(|e| wal_halt("wal snapshot", e))?;
        }
        let hs = hard_state.unwrap_or_default();
        self.wal.save(&hs, &entries).map_err(|e| wal_halt("wal save", e))?;
        if snapshot.is_some() && !planted::active(&crate::planted::SNAPSHOT_HARD_STATE_UNSYNCED) {
            // The marker counts at boot only under a durable commit that covers it, and the state
            // machine restores the snapshot below: sync the hard state now, or a crash leaves the
            // state machine ahead of everything the log can replay.
            self.wal.sync().map_err(|e| wal_halt("wal sync", e))?;
        }
        if let Some(hs) = hard_state {
            self.metrics.proposals_committed = hs.commit;
        }
        if let Some(snap) = &snapshot {
            self.raw
                .store_mut()
                .apply_snapshot(snap.clone())
                .map_err(|e| Halt::Fatal(format!("raft storage snapshot: {e}")))?;
        }
        if let Some(hs) = hard_state {
            self.raw.store_mut().set_hard_state(hs);
        }
        self.raw.store_mut().append(&entries);
        if !is_leader {
            self.send(env, messages);
        }
        self.send(env, persisted_messages);
        if let Some(snap) = snapshot {
            self.apply_snapshot(env, snap)?;
        }
        if committed_entries.len() > self.cfg.slow_apply_entries {
            self.metrics.slow_applies += 1;
        }
        for e in &committed_entries {
            self.apply_entry(env, e)?;
        }
        if !committed_entries.is_empty() {
            self.sm.commit_if_due(env.now()).map_err(super::node::sm_fail)?;
            self.maybe_snapshot(env)?;
        }
        self.raw.advance();
        Ok(())
    }
}
