//! Watching what nodes do, as they do it: protocol [`Moment`]s for triggers, and
//! [`Situation`]s for coverage.
//!
//! Fed by the simulator's observers, all called synchronously inside the handler of the node
//! that acted: the world's probe says whose handler runs and shows its trace records, the
//! network tap shows every frame sent, each disk's tap shows every write, sync, truncation,
//! rename and removal. A disk operation counts only inside its own node's handler (the harness
//! and oracles also read disks, between steps). Where each moment is seen:
//!
//! | moment | seen at |
//! | --- | --- |
//! | vote grant, append ack | the frame carrying it, as it is sent |
//! | became leader | its first append or heartbeat of a new term sent (one node alone: after the step) |
//! | hard state written, entries written | the WAL write holding the record (not a boot's rewrite) |
//! | hard state persisted | the WAL sync after a written hard state |
//! | WAL cut started | the truncation of a full tail (not at boot) |
//! | snapshot saved / installed | the server's `server.snapshot` / `server.snapshot_applied` records |
//! | bolt commit | the write of one meta page of the store's file, before its sync |
//! | client answered | the runner, after the step (an answer leaves when the handler ends) |
//!
//! A trigger that fires inside a handler acts on the node's disk at once ([`SimDisk::kill_process`],
//! [`SimDisk::crash_after_ops`]); what needs the world (restarts, other nodes, plan actions) is
//! left in [`Moments::take_fired`] for the runner to finish right after the step. Watching only
//! observes: a run without triggers has the same trace hash as one with nothing watching.

use std::collections::BTreeMap;
use std::rc::Weak;

use raft::core::{Codec, HardState, MessageType};
use sim::simulated::disk::{DiskOp, DiskOpKind, SimDisk};
use sim::simulated::net::Sent;

use crate::coverage::{Coverage, Situation};
use crate::oracle::wire;
use crate::trigger::{Effect, Moment, Trigger};

/// WAL segment files: `member/wal/<seq>-<index>.wal`.
fn is_wal_segment(path: &str) -> bool {
    path.starts_with(raft::server::boot::WAL_DIR) && path.ends_with(".wal")
}

/// The store's bolt file.
fn is_bolt_file(path: &str) -> bool {
    path.strip_prefix(raft::server::boot::SM_DIR)
        .and_then(|rest| rest.strip_prefix('/'))
        .is_some_and(|name| name == crate::sm::DB_FILE)
}

/// What a WAL write holds, from its record frames (layout: `raft::wal::record`): whether it has
/// entries, and the last hard state in it.
fn wal_write_contents(data: &[u8]) -> (bool, Option<HardState>) {
    let (mut entries, mut state) = (false, None);
    let mut at = 0usize;
    while let Some(word) = data.get(at..at + 8) {
        let word = u64::from_le_bytes(word.try_into().expect("8 bytes"));
        if word == 0 {
            break;
        }
        let body = (word & 0xffff_ffff) as usize;
        let pad = if word >> 63 == 1 { ((word >> 56) & 0x7f) as usize } else { 0 };
        let Some(frame) = data.get(at + 8..at + 8 + body) else { break };
        match frame.first() {
            Some(2) => entries = true,
            Some(3) => state = frame.get(5..).and_then(|d| HardState::decode(d).ok()).or(state),
            _ => {}
        }
        at += 8 + body + pad;
    }
    (entries, state)
}

/// Per-node state of the watch.
#[derive(Debug, Default)]
struct NodeWatch {
    disk: Weak<SimDisk>,
    /// WAL entries written and not yet synced.
    entries_unsynced: bool,
    /// A hard state written and not yet synced.
    state_unsynced: Option<HardState>,
    /// (term, vote) of the last hard state synced.
    synced_vote: (u64, u64),
    /// (term, vote) of the last hard state written.
    written_vote: (u64, u64),
    /// A WAL cut started and its directory sync not yet done.
    cutting: bool,
    /// This handler rewrote the WAL tail at boot (its truncations are no cut).
    booting: bool,
    /// A bolt meta page written and not yet synced.
    meta_unsynced: bool,
    /// A vote grant sent since the last sync.
    granted_since_sync: bool,
    /// An append ack sent since the last sync.
    acked_since_sync: bool,
    /// The highest term this node was seen leading.
    leader_term: u64,
}

/// A trigger waiting for its moment.
#[derive(Debug)]
struct Armed {
    trigger: Trigger,
    /// Occurrences still to see before it fires.
    left: u32,
}

/// A trigger that fired, for the runner to finish after the step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fired {
    pub node: u32,
    pub effect: Effect,
    /// Whether it fired inside the node's handler (and already acted on its disk).
    pub inside: bool,
}

/// The watch of one run (shared with the simulator's observers; see the module docs).
#[derive(Debug, Default)]
pub struct Moments {
    /// The node whose handler runs now.
    current: Option<u32>,
    nodes: BTreeMap<u32, NodeWatch>,
    armed: Vec<Armed>,
    fired: Vec<Fired>,
    /// Moments seen, per kind (all nodes).
    pub seen: BTreeMap<Moment, u64>,
    pub coverage: Coverage,
}

impl Moments {
    pub fn new() -> Moments {
        Moments::default()
    }

    /// Starts watching node `n`, whose disk is `disk` (kept weakly: the disk's tap holds us).
    pub fn watch(&mut self, n: u32, disk: Weak<SimDisk>) {
        self.nodes.entry(n).or_default().disk = disk;
    }

    /// Node `node`'s handler starts (the world's probe).
    pub fn on_handler(&mut self, node: u32) {
        self.current = Some(node);
        if let Some(w) = self.nodes.get_mut(&node) {
            w.booting = false;
        }
    }

    /// The step is over: no handler runs.
    pub fn end_step(&mut self) {
        self.current = None;
    }

    /// Arms `trigger`.
    pub fn arm(&mut self, trigger: Trigger) {
        let left = trigger.nth.max(1);
        self.armed.push(Armed { trigger, left });
    }

    /// Disarms every trigger (the fault phase is over).
    pub fn disarm_all(&mut self) {
        self.armed.clear();
    }

    /// Triggers that fired since the last call, in firing order.
    pub fn take_fired(&mut self) -> Vec<Fired> {
        std::mem::take(&mut self.fired)
    }

    /// Whether any trigger fired and waits for the runner (cheap, checked after every step).
    pub fn has_fired(&self) -> bool {
        !self.fired.is_empty()
    }

    /// An actor's trace record.
    pub fn on_record(&mut self, node: u32, kind: &str) {
        match kind {
            "server.snapshot" => {
                self.coverage.hit(Situation::SnapshotSaved);
                self.moment(node, Moment::SnapshotSaved);
            }
            "server.snapshot_applied" => {
                self.coverage.hit(Situation::SnapshotInstall);
                self.moment(node, Moment::SnapshotInstalled);
            }
            "net.refused" => self.coverage.hit(Situation::ForeignClusterFrame),
            _ => {}
        }
    }

    /// A frame sent (the network tap).
    pub fn on_send(&mut self, sent: &Sent<'_>) {
        let wanted = |t| {
            matches!(
                t,
                MessageType::MsgVoteResp
                    | MessageType::MsgAppResp
                    | MessageType::MsgApp
                    | MessageType::MsgHeartbeat
            )
        };
        let Some(m) = wire::message_of(sent.frame, wanted) else { return };
        let node = sent.from.0;
        let Some(w) = self.nodes.get_mut(&node) else { return };
        match m.msg_type {
            MessageType::MsgVoteResp if !m.reject => {
                w.granted_since_sync = true;
                self.moment(node, Moment::VoteGrant);
            }
            MessageType::MsgAppResp if !m.reject => {
                w.acked_since_sync = true;
                self.moment(node, Moment::AppendAck);
            }
            MessageType::MsgApp | MessageType::MsgHeartbeat => self.leading(node, m.term),
            _ => {}
        }
    }

    /// Node `node` was seen leading in `term` (a send, or the runner after a step).
    pub fn leading(&mut self, node: u32, term: u64) {
        let Some(w) = self.nodes.get_mut(&node) else { return };
        if term > w.leader_term {
            w.leader_term = term;
            self.moment(node, Moment::BecameLeader);
        }
    }

    /// A client answer left `node` (the runner, after the step).
    pub fn answered(&mut self, node: u32) {
        self.moment(node, Moment::ClientAnswered);
    }

    /// A disk operation of node `node` (its disk's tap).
    pub fn on_disk(&mut self, node: u32, op: &DiskOp<'_>) {
        if self.current != Some(node) {
            return;
        }
        let Some(w) = self.nodes.get_mut(&node) else { return };
        let mut moments: [Option<Moment>; 2] = [None, None];
        match op.kind {
            DiskOpKind::Write if is_wal_segment(op.path) => {
                if op.offset == 0 {
                    w.booting = true; // the tail rewritten at open
                    return;
                }
                let (entries, state) = wal_write_contents(op.data);
                if entries {
                    w.entries_unsynced = true;
                    moments[0] = Some(Moment::EntriesWritten);
                }
                if let Some(hs) = state.filter(|hs| (hs.term, hs.vote) != w.written_vote) {
                    w.written_vote = (hs.term, hs.vote);
                    w.state_unsynced = Some(hs);
                    moments[1] = Some(Moment::HardStateWritten);
                }
            }
            DiskOpKind::Write if is_bolt_file(op.path) => {
                let page = engine::options::DEFAULT_PAGE_SIZE as u64;
                if op.offset < 2 * page && op.data.len() as u64 == page {
                    w.meta_unsynced = true;
                    moments[0] = Some(Moment::BoltCommit);
                }
            }
            DiskOpKind::Sync => {
                w.granted_since_sync = false;
                w.acked_since_sync = false;
                if is_wal_segment(op.path) {
                    w.entries_unsynced = false;
                    if let Some(hs) = w.state_unsynced.take() {
                        w.synced_vote = (hs.term, hs.vote);
                        moments[0] = Some(Moment::HardStatePersisted);
                    }
                } else if is_bolt_file(op.path) {
                    w.meta_unsynced = false;
                }
            }
            DiskOpKind::SyncFailed => self.coverage.hit(Situation::EioOnSync),
            DiskOpKind::SetLen if is_wal_segment(op.path) && !w.booting => {
                w.cutting = true;
                self.coverage.hit(Situation::WalCut);
                moments[0] = Some(Moment::WalCutStarted);
            }
            DiskOpKind::SyncDir if op.path == raft::server::boot::WAL_DIR => w.cutting = false,
            DiskOpKind::Remove if is_wal_segment(op.path) => self.coverage.hit(Situation::WalPurge),
            _ => {}
        }
        for m in moments.into_iter().flatten() {
            self.moment(node, m);
        }
    }

    /// Node `node` crashed (the world's crash tap): what it was in the middle of.
    pub fn on_crash(&mut self, node: u32) {
        let Some(w) = self.nodes.get_mut(&node) else { return };
        let c = &mut self.coverage;
        let flags = [
            (w.cutting, Situation::CrashDuringWalCut),
            (w.entries_unsynced, Situation::CrashBetweenWalWriteAndSync),
            (w.meta_unsynced, Situation::CrashInBoltCommit),
            (w.granted_since_sync, Situation::CrashAfterVoteGrant),
            (w.acked_since_sync, Situation::CrashAfterAppendAck),
        ];
        for (set, s) in flags {
            if set {
                c.hit(s);
            }
        }
        let (leader_term, synced_vote) = (w.leader_term, w.synced_vote);
        *w = NodeWatch {
            disk: w.disk.clone(),
            leader_term,
            synced_vote,
            written_vote: synced_vote,
            ..NodeWatch::default()
        };
    }

    /// Every node is about to lose power (call before crashing them).
    pub fn power_loss(&mut self) {
        self.coverage.hit(Situation::PowerLoss);
        for w in self.nodes.values() {
            if w.state_unsynced.is_some_and(|hs| (hs.term, hs.vote) != w.synced_vote) {
                self.coverage.hit(Situation::PowerLossUnsyncedVote);
            }
        }
    }

    /// Node `node` did `m`: counts it and fires the triggers whose count it completes.
    fn moment(&mut self, node: u32, m: Moment) {
        *self.seen.entry(m).or_default() += 1;
        if self.armed.is_empty() {
            return;
        }
        let mut i = 0;
        while i < self.armed.len() {
            let a = &mut self.armed[i];
            if a.trigger.node == node && a.trigger.on == m {
                a.left -= 1;
                if a.left == 0 {
                    let a = self.armed.remove(i);
                    self.fire(node, a.trigger.then);
                    continue;
                }
            }
            i += 1;
        }
    }

    /// Fires `effect` on `node`: inside its handler, crashes act on its disk now.
    fn fire(&mut self, node: u32, effect: Effect) {
        self.coverage.hit(Situation::TriggerFired);
        let inside = self.current == Some(node);
        let disk = self.nodes.get(&node).and_then(|w| w.disk.upgrade());
        if let (true, Some(disk)) = (inside, disk) {
            match &effect {
                Effect::CrashAtNextDiskOp => disk.crash_after_ops(0),
                Effect::CrashNow { .. } => disk.kill_process(),
                Effect::PowerLossNow { .. } => {
                    self.power_loss();
                    disk.kill_process();
                }
                Effect::Then { .. } => {}
            }
        }
        self.fired.push(Fired { node, effect, inside });
    }
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;

    use raft::core::Entry;
    use sim::io::{Disk, OpenOptions};
    use sim::simulated::disk::DiskConfig;
    use sim::Seed;

    use super::*;

    /// The bytes the WAL writes for `entries` then `state` (its own encoder).
    fn wal_bytes(entries: &[Entry], state: Option<HardState>) -> Vec<u8> {
        let disk = SimDisk::new(Seed(1).stream("d"), DiskConfig::default());
        let f = disk.open("f", OpenOptions::create()).unwrap();
        let mut enc = raft::wal::encoder::Encoder::new(0, 0);
        for e in entries {
            enc.encode(&*f, raft::wal::record::RecordType::Entry, &e.to_bytes()).unwrap();
        }
        if let Some(hs) = state {
            enc.encode(&*f, raft::wal::record::RecordType::State, &hs.to_bytes()).unwrap();
        }
        enc.flush(&*f).unwrap();
        let mut out = vec![0; f.len().unwrap() as usize];
        f.read_at(0, &mut out).unwrap();
        out
    }

    #[test]
    fn wal_writes_are_read_for_entries_and_hard_states() {
        let hs = HardState { term: 4, vote: 2, commit: 9 };
        let e = Entry { index: 10, term: 4, data: vec![7; 13], ..Entry::default() };
        assert_eq!(
            wal_write_contents(&wal_bytes(std::slice::from_ref(&e), Some(hs))),
            (true, Some(hs))
        );
        assert_eq!(wal_write_contents(&wal_bytes(&[], Some(hs))), (false, Some(hs)));
        assert_eq!(wal_write_contents(&wal_bytes(&[e], None)), (true, None));
        assert_eq!(wal_write_contents(&[]), (false, None));
        assert_eq!(wal_write_contents(&[0xff; 5]), (false, None), "garbage is nothing");
    }

    fn watched(n: u32) -> (Moments, Rc<SimDisk>) {
        let disk = SimDisk::new(Seed(2).stream("d"), DiskConfig::default());
        let mut m = Moments::new();
        m.watch(n, Rc::downgrade(&disk));
        (m, disk)
    }

    fn wal_write<'a>(data: &'a [u8]) -> DiskOp<'a> {
        DiskOp {
            offset: 4096,
            data,
            ..DiskOp::on(DiskOpKind::Write, "member/wal/0000000000000000-0000000000000000.wal")
        }
    }

    #[test]
    fn a_trigger_fires_at_the_nth_moment_inside_the_handler() {
        let (mut m, disk) = watched(2);
        m.arm(Trigger {
            node: 2,
            on: Moment::EntriesWritten,
            nth: 3,
            then: Effect::CrashAtNextDiskOp,
        });
        let bytes = wal_bytes(&[Entry { index: 1, term: 1, ..Entry::default() }], None);
        m.on_handler(2);
        m.on_disk(2, &wal_write(&bytes));
        m.on_disk(2, &wal_write(&bytes));
        assert!(!m.has_fired(), "two of three");
        m.end_step();
        m.on_disk(2, &wal_write(&bytes));
        assert!(!m.has_fired(), "a disk operation outside the node's handler does not count");
        m.on_handler(1);
        m.on_disk(2, &wal_write(&bytes));
        assert!(!m.has_fired(), "nor one inside another node's handler");
        m.on_handler(2);
        m.on_disk(2, &wal_write(&bytes));
        let fired = m.take_fired();
        assert_eq!(fired, vec![Fired { node: 2, effect: Effect::CrashAtNextDiskOp, inside: true }]);
        assert_eq!(m.coverage.count(Situation::TriggerFired), 1);
        assert_eq!(m.seen[&Moment::EntriesWritten], 3, "only those inside its handler");
        // Armed on the disk: its very next operation crashes.
        let f = disk.open("x", OpenOptions::create());
        assert!(f.is_err() && disk.has_crashed());
        m.on_disk(2, &wal_write(&bytes));
        assert!(!m.has_fired(), "a trigger fires once");
    }

    #[test]
    fn power_loss_now_kills_inside_and_sees_the_unsynced_vote() {
        let (mut m, disk) = watched(1);
        let then = Effect::PowerLossNow { restart_after_ns: 7 };
        m.arm(Trigger { node: 1, on: Moment::HardStateWritten, nth: 1, then: then.clone() });
        m.on_handler(1);
        let bytes = wal_bytes(&[], Some(HardState { term: 3, vote: 1, commit: 0 }));
        m.on_disk(1, &wal_write(&bytes));
        assert!(disk.has_crashed(), "the process is dead at once");
        assert_eq!(m.coverage.count(Situation::PowerLossUnsyncedVote), 1);
        assert_eq!(m.coverage.count(Situation::PowerLoss), 1);
        assert_eq!(m.take_fired(), vec![Fired { node: 1, effect: then, inside: true }]);
    }

    #[test]
    fn only_a_new_term_or_vote_is_a_written_hard_state() {
        let (mut m, _disk) = watched(1);
        m.on_handler(1);
        let state = |term, vote, commit| wal_bytes(&[], Some(HardState { term, vote, commit }));
        m.on_disk(1, &wal_write(&state(2, 1, 5)));
        m.on_disk(1, &wal_write(&state(2, 1, 6)));
        assert_eq!(m.seen[&Moment::HardStateWritten], 1, "a commit-only change is not synced");
        let wal = "member/wal/0000000000000000-0000000000000000.wal";
        m.on_disk(1, &DiskOp::on(DiskOpKind::Sync, wal));
        assert_eq!(m.seen[&Moment::HardStatePersisted], 1);
        m.on_disk(1, &wal_write(&state(3, 0, 6)));
        m.power_loss();
        assert_eq!(m.coverage.count(Situation::PowerLossUnsyncedVote), 1);
    }

    #[test]
    fn crashes_are_counted_by_what_they_interrupt() {
        let (mut m, _disk) = watched(1);
        m.on_handler(1);
        let wal = "member/wal/0000000000000001-0000000000000010.wal";
        m.on_disk(1, &DiskOp { offset: 100, ..DiskOp::on(DiskOpKind::SetLen, wal) });
        m.on_crash(1);
        assert_eq!(m.coverage.count(Situation::CrashDuringWalCut), 1);
        assert_eq!(m.coverage.count(Situation::WalCut), 1);
        m.on_handler(1);
        m.on_disk(1, &DiskOp::on(DiskOpKind::SetLen, wal));
        m.on_disk(1, &DiskOp::on(DiskOpKind::SyncDir, raft::server::boot::WAL_DIR));
        m.on_crash(1);
        assert_eq!(m.coverage.count(Situation::CrashDuringWalCut), 1, "the cut was complete");
        m.on_handler(1);
        let page = vec![0u8; engine::options::DEFAULT_PAGE_SIZE];
        let db = format!("{}/{}", raft::server::boot::SM_DIR, crate::sm::DB_FILE);
        m.on_disk(1, &DiskOp { offset: 4096, data: &page, ..DiskOp::on(DiskOpKind::Write, &db) });
        m.on_crash(1);
        assert_eq!(m.coverage.count(Situation::CrashInBoltCommit), 1);
        assert_eq!(m.seen[&Moment::BoltCommit], 1);
        m.on_handler(1);
        m.on_disk(1, &DiskOp::on(DiskOpKind::Remove, wal));
        m.on_disk(1, &DiskOp::on(DiskOpKind::SyncFailed, wal));
        assert_eq!(m.coverage.count(Situation::WalPurge), 1);
        assert_eq!(m.coverage.count(Situation::EioOnSync), 1);
    }

    #[test]
    fn leadership_is_seen_once_per_term_and_effects_outside_wait_for_the_runner() {
        let (mut m, disk) = watched(3);
        let then = Effect::CrashNow { restart_after_ns: 1 };
        m.arm(Trigger { node: 3, on: Moment::BecameLeader, nth: 2, then: then.clone() });
        m.leading(3, 5);
        m.leading(3, 5);
        m.leading(3, 4);
        assert!(!m.has_fired());
        m.leading(3, 6);
        assert!(!disk.has_crashed(), "outside a handler the disk is left alone");
        assert_eq!(m.take_fired(), vec![Fired { node: 3, effect: then, inside: false }]);
        assert_eq!(m.seen[&Moment::BecameLeader], 2);
    }
}
