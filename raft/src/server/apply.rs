//! Applying committed entries and snapshots, in log order, and taking snapshots.
//!
//! - A normal entry with a [`Proposal`] is applied to the state machine unless its index is at
//!   or below the consistent index (already applied before a restart); an empty entry only
//!   advances the consistent index. The waiter of the proposing incarnation is triggered with
//!   the result.
//! - A conf change is validated against the membership (an invalid one is answered with
//!   `BadMembership` on the proposer and not applied to raft, as etcd does); a valid one is
//!   applied to raft, the membership and the transport. Applying our own removal stops the node.
//! - Every `snapshot_count` applied entries: snapshot the state machine and the membership,
//!   save it (file, then WAL marker), compact raft's log keeping `catch_up_entries`, release the
//!   WAL segments before the snapshot and purge old files.
//! - A snapshot sent to a follower is taken fresh at the applied index (etcd's merged snapshot
//!   message), so that it lists members added since the last stored snapshot.

use sim::{planted, Env, Halt};

use crate::core::{
    Codec, ConfChange, ConfChangeType, Entry, EntryKind, MessageType, Snapshot, SnapshotMetadata,
    Storage,
};
use crate::wal::purge;

use super::boot::{snap_halt, wal_halt, WAL_DIR};
use super::membership::{decode_snapshot_data, encode_snapshot_data};
use super::node::{sm_fail, Applied, Running};
use super::request::{
    ClientResponse, ConfContext, MemberRecord, OpResult, Origin, Proposal, ServerError,
};
use super::state_machine::StateMachine;

impl<S: StateMachine> Running<S> {
    fn trigger(
        &mut self,
        env: &mut Env<'_, ClientResponse>,
        origin: &Origin,
        result: Result<OpResult, ServerError>,
    ) {
        let other_boot =
            origin.boot != self.boot && !planted::active(&crate::planted::WAITERS_IGNORE_BOOT);
        if origin.member != self.me || other_boot {
            return;
        }
        if let Some(client) = self.proposals.trigger(origin.key) {
            env.respond(ClientResponse { id: client, result });
        }
    }

    pub(super) fn apply_snapshot(
        &mut self,
        env: &mut Env<'_, ClientResponse>,
        snap: Snapshot,
    ) -> Result<(), Halt> {
        let index = snap.metadata.index;
        if index <= self.applied {
            return Ok(());
        }
        let (membership, sm_bytes) = decode_snapshot_data(&snap.data)
            .map_err(|e| Halt::Fatal(format!("snapshot {index}: {e}")))?;
        if self.sm.consistent_index() < index {
            self.sm.restore(index, &sm_bytes).map_err(sm_fail)?;
        }
        self.membership = membership;
        self.conf_state = snap.metadata.conf_state.clone();
        self.applied = index;
        self.snapshot_index = index;
        self.metrics.proposals_applied = index;
        if self.membership.is_removed(self.me) {
            self.removed = true;
        }
        self.sync_peers(env);
        if env.tracing() {
            env.trace("server.snapshot_applied", &format!("index={index}"));
        }
        Ok(())
    }

    pub(super) fn apply_entry(
        &mut self,
        env: &mut Env<'_, ClientResponse>,
        e: &Entry,
    ) -> Result<(), Halt> {
        if e.index <= self.applied {
            return Ok(());
        }
        assert_eq!(e.index, self.applied + 1, "apply out of order: applied {}", self.applied);
        let fresh = if planted::active(&crate::planted::REAPPLY_AT_CONSISTENT_INDEX) {
            e.index >= self.sm.consistent_index()
        } else {
            e.index > self.sm.consistent_index()
        };
        let origin = match e.kind {
            EntryKind::Normal if e.data.is_empty() => {
                if fresh {
                    self.sm.skip(e.index, e.term).map_err(sm_fail)?;
                }
                None
            }
            EntryKind::Normal => {
                let p = Proposal::decode(&e.data).map_err(|err| {
                    Halt::Fatal(format!("committed entry {} does not decode: {err}", e.index))
                })?;
                if fresh {
                    let out = self.sm.apply(e.index, e.term, &p.op).map_err(sm_fail)?;
                    self.trigger(env, &p.origin, out.map_err(ServerError::Op));
                }
                Some(p.origin)
            }
            EntryKind::ConfChange => {
                let origin = self.apply_conf_change(env, e)?;
                if fresh {
                    self.sm.skip(e.index, e.term).map_err(sm_fail)?;
                }
                origin
            }
        };
        self.applied = e.index;
        self.metrics.proposals_applied = e.index;
        self.applied_log.push(Applied { index: e.index, term: e.term, origin });
        Ok(())
    }

    fn apply_conf_change(
        &mut self,
        env: &mut Env<'_, ClientResponse>,
        e: &Entry,
    ) -> Result<Option<Origin>, Halt> {
        let cc = ConfChange::decode(&e.data).map_err(|err| {
            Halt::Fatal(format!("committed conf change {} does not decode: {err}", e.index))
        })?;
        let ctx = ConfContext::decode(&cc.context).ok();
        let origin = ctx.as_ref().map(|c| c.origin);
        let check = match cc.change_type {
            ConfChangeType::AddNode | ConfChangeType::AddLearnerNode => {
                match ctx.as_ref().and_then(|c| c.member.clone()) {
                    // A member that joined with a membership already listing this member (its
                    // own addition, or one before it; names may differ, as an added member is
                    // named only when it starts) replays the entry as a no-op, so it applies
                    // every conf change as the others did.
                    Some(m) if m.id == cc.node_id && self.lists(&m) => Ok(()),
                    Some(m) if m.id == cc.node_id => {
                        self.membership.add(&m).map_err(|e| e.to_string())
                    }
                    _ => Err("add without a member record".to_string()),
                }
            }
            ConfChangeType::RemoveNode => {
                self.membership.remove(cc.node_id).map_err(|e| e.to_string())
            }
        };
        let result = match check {
            Err(why) => Err(ServerError::BadMembership(why)),
            Ok(()) => {
                let cs = self
                    .raw
                    .apply_conf_change(&cc)
                    .map_err(|err| Halt::Fatal(format!("conf change {}: {err}", e.index)))?;
                self.conf_state = cs;
                if cc.change_type == ConfChangeType::RemoveNode && cc.node_id == self.me {
                    self.removed = true;
                }
                self.sync_peers(env);
                Ok(OpResult::Members { member: cc.node_id, voters: self.conf_state.voters.clone() })
            }
        };
        if env.tracing() {
            env.trace(
                "server.conf_change",
                &format!(
                    "index={} {:?} {:016x} -> {result:?}",
                    e.index, cc.change_type, cc.node_id
                ),
            );
        }
        if let Some(o) = origin {
            self.trigger(env, &o, result);
        }
        Ok(origin)
    }

    /// Whether the membership already holds member `m` with the same peer URLs.
    fn lists(&self, m: &MemberRecord) -> bool {
        let same = |r: &MemberRecord| r.id == m.id && r.peer_urls == m.peer_urls;
        self.membership.records().iter().any(same)
    }

    /// etcd's merged snapshot message: a MsgSnap carries raft's stored snapshot, whose
    /// configuration may predate members added since, and raft refuses a snapshot from a
    /// configuration it is not part of, so a member added after the last snapshot could not
    /// catch up until the next one. Each MsgSnap gets the state at the applied index instead,
    /// with that index's configuration and membership (it covers the stored snapshot; raft's
    /// progress for the follower waits for the stored index, which the new one passes).
    pub(super) fn refresh_snapshot_messages(
        &mut self,
        msgs: &mut [crate::core::Message],
    ) -> Result<(), Halt> {
        let mut fresh: Option<Snapshot> = None;
        for m in msgs.iter_mut().filter(|m| m.msg_type == MessageType::MsgSnap) {
            let stored = m.snapshot.as_ref().map_or(0, |s| s.metadata.index);
            let index = self.applied;
            if index <= stored || self.sm.consistent_index() != index {
                continue;
            }
            if fresh.is_none() {
                let Ok(term) = self.raw.store().term(index) else { continue };
                let sm_bytes = self.sm.snapshot().map_err(sm_fail)?;
                let data = encode_snapshot_data(&self.membership, &sm_bytes);
                let conf_state = self.conf_state.clone();
                let metadata = SnapshotMetadata { conf_state, index, term };
                fresh = Some(Snapshot { metadata, data });
            }
            m.snapshot = fresh.clone();
        }
        Ok(())
    }

    /// Takes a snapshot when enough entries were applied since the last one (or, when
    /// BUGGIFY's early snapshot fires, when any entry was).
    pub(super) fn maybe_snapshot(&mut self, env: &mut Env<'_, ClientResponse>) -> Result<(), Halt> {
        if self.applied < self.snapshot_index + self.cfg.snapshot_count
            && !(self.applied > self.snapshot_index && env.buggify(crate::buggify::SNAPSHOT_EARLY))
        {
            return Ok(());
        }
        let index = self.applied;
        let sm_bytes = self.sm.snapshot().map_err(sm_fail)?;
        let data = encode_snapshot_data(&self.membership, &sm_bytes);
        let snap = self
            .raw
            .store_mut()
            .create_snapshot(index, self.conf_state.clone(), data)
            .map_err(|e| Halt::Fatal(format!("create snapshot at {index}: {e}")))?;
        self.snapshotter.save(&snap).map_err(|e| snap_halt("save snapshot", e))?;
        self.wal.save_snapshot(&snap.metadata).map_err(|e| wal_halt("wal snapshot", e))?;
        self.snapshot_index = index;
        self.metrics.snapshots += 1;
        let compact_to = index.saturating_sub(self.cfg.catch_up_entries);
        if compact_to > self.raw.store().first_index() {
            self.raw
                .store_mut()
                .compact(compact_to)
                .map_err(|e| Halt::Fatal(format!("compact raft log to {compact_to}: {e}")))?;
        }
        self.wal.release_lock_to(index);
        purge(&*self.disk, WAL_DIR, self.cfg.keep_files).map_err(|e| wal_halt("purge wal", e))?;
        self.snapshotter.purge(self.cfg.keep_files).map_err(|e| snap_halt("purge snapshots", e))?;
        if env.tracing() {
            env.trace("server.snapshot", &format!("index={index} compacted_to={compact_to}"));
        }
        Ok(())
    }
}
