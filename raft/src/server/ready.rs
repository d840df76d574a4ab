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
//!
//! BUGGIFY ([`crate::buggify`]): the WAL save may be split in two writes, followed by a stall
//! (slow fsync) or an early cut; heartbeats may be dropped on the way out; the apply of a
//! Ready's entries may be deferred to the next tick (slow apply), and the state machine's
//! batch commit may come early or late.

use net::frame::{MessageKind, Payload};
use net::ids::MemberId;
use net::transport::Outgoing;
use sim::{planted, Env, Halt};

use rand::Rng as _;
use sim::time::Duration;

use crate::buggify::{
    COMMIT_EARLY, COMMIT_LATE, DROP_HEARTBEAT, SLOW_APPLY, SLOW_FSYNC_MAX_MS, SLOW_FSYNC_MIN_MS,
    WAL_EARLY_CUT, WAL_SLOW_FSYNC, WAL_SPLIT_WRITE,
};
use crate::core::{Codec, Entry, EntryKind, Message, MessageType, Ready, StateRole, NONE};

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
    pub(super) fn send<R>(&mut self, env: &mut Env<'_, R>, mut msgs: Vec<Message>) {
        if msgs.is_empty() {
            return;
        }
        if env.buggify_enabled() {
            msgs.retain(|m| {
                !(m.msg_type == MessageType::MsgHeartbeat && env.buggify(DROP_HEARTBEAT))
            });
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
        if (hard_state.is_some() || !entries.is_empty()) && env.buggify(WAL_SPLIT_WRITE) {
            self.wal.split_next_write();
        }
        self.wal.save(&hs, &entries).map_err(|e| wal_halt("wal save", e))?;
        if !entries.is_empty() {
            if env.buggify(WAL_SLOW_FSYNC) {
                let ms = env.rng().random_range(SLOW_FSYNC_MIN_MS..=SLOW_FSYNC_MAX_MS);
                env.stall(Duration::from_millis(ms));
            }
            if env.buggify(WAL_EARLY_CUT) {
                self.wal.cut_early().map_err(|e| wal_halt("wal early cut", e))?;
            }
        }
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
        let with_snapshot = snapshot.is_some();
        if let Some(snap) = snapshot {
            self.apply_deferred(env)?;
            self.apply_snapshot(env, snap)?;
        }
        // Slow apply: etcd applies in its own goroutine, behind the Ready loop. Conf changes are
        // applied at once (etcd waits for their apply too), and so is anything beside a snapshot.
        // Entries the state machine already holds (replayed after a restart) are skipped at
        // once: between events its consistent index stands at the applied index.
        let defer = committed_entries.first().is_some_and(|e| e.index > self.sm.consistent_index())
            && !with_snapshot
            && committed_entries.iter().all(|e| e.kind == EntryKind::Normal)
            && env.buggify(SLOW_APPLY);
        if defer {
            self.deferred.extend(committed_entries);
        } else {
            self.apply_deferred(env)?;
            self.apply_batch(env, &committed_entries)?;
        }
        self.raw.advance();
        Ok(())
    }

    /// Applies the entries a slow apply deferred (at the next tick, or before anything that
    /// must see them applied).
    pub(super) fn apply_deferred(&mut self, env: &mut Env<'_, ClientResponse>) -> Result<(), Halt> {
        if self.deferred.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.deferred);
        self.apply_batch(env, &batch)
    }

    /// Applies committed entries in order, then gives the state machine its chance to commit
    /// and takes a snapshot when one is due.
    fn apply_batch(
        &mut self,
        env: &mut Env<'_, ClientResponse>,
        entries: &[Entry],
    ) -> Result<(), Halt> {
        if entries.is_empty() {
            return Ok(());
        }
        if entries.len() > self.cfg.slow_apply_entries {
            self.metrics.slow_applies += 1;
        }
        if env.buggify_enabled() {
            self.sm.buggify(&mut |site| env.buggify(site));
        }
        for e in entries {
            self.apply_entry(env, e)?;
        }
        self.commit_sm(env)?;
        self.maybe_snapshot(env)
    }

    /// The state machine's chance to commit its batch (its policy decides; BUGGIFY may skip the
    /// chance or force the commit).
    pub(super) fn commit_sm(&mut self, env: &mut Env<'_, ClientResponse>) -> Result<(), Halt> {
        if env.buggify(COMMIT_LATE) {
            return Ok(());
        }
        let committed = if env.buggify(COMMIT_EARLY) {
            self.sm.commit()
        } else {
            self.sm.commit_if_due(env.now())
        };
        committed.map_err(super::node::sm_fail)
    }
}
