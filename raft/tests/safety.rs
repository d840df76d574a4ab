//! Randomized safety test: five nodes on a network that loses, duplicates and reorders messages,
//! partitions, and crash-restarts nodes keeping only what their Readies said to persist.
//! After every step it checks the Raft safety properties:
//! - election safety: at most one leader per term;
//! - log matching: two logs with an entry of the same (index, term) hold the same entry, and
//!   agree on the term of the entry before it (so, inductively, on the whole prefix);
//! - leader completeness: a leader holds every entry known committed before its term began;
//! - state-machine safety: every node applies the same entry at each index, in index order;
//! - ReadIndex: a read answered at index i saw every entry known committed when it was asked.
//!
//! In half of the seeds the workload also changes the membership one step at a time (remove a
//! voter, add or demote to a learner, promote), each node applying committed changes as it
//! applies entries and restarting from the membership its snapshot recorded.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use raft::core::{
    Codec, ConfChange, ConfChangeType, ConfState, Config, Entry, EntryKind, MemoryStorage, Message,
    MessageType, PeerId, RawNode, Ready, StateRole, Storage,
};
use rand::{Rng as _, SeedableRng};
use rand_chacha::ChaCha8Rng;

const N: u64 = 5;

/// What the oracle knows about a committed index.
#[derive(Clone, Debug)]
struct Committed {
    term: u64,
    data: Vec<u8>,
    /// The term of the node that first applied it: it was committed by then.
    known_by_term: u64,
}

struct Node {
    raw: RawNode<MemoryStorage>,
    /// Index of the last entry applied to this node's state machine.
    applied: u64,
    /// The membership as of `applied`.
    conf: ConfState,
}

struct Sim {
    rng: ChaCha8Rng,
    cfg: Config,
    nodes: BTreeMap<PeerId, Option<Node>>,
    /// Durable storage of crashed nodes.
    disks: BTreeMap<PeerId, MemoryStorage>,
    in_flight: Vec<Message>,
    /// Nodes on side A of the partition (empty = no partition).
    side_a: BTreeSet<PeerId>,
    leaders: BTreeMap<u64, PeerId>,
    committed: BTreeMap<u64, Committed>,
    /// (index, term) -> (data, term of the previous entry).
    seen: BTreeMap<(u64, u64), (Vec<u8>, u64)>,
    /// (leader, term) -> index up to which leader completeness was checked.
    completeness_checked: BTreeMap<(PeerId, u64), u64>,
    next_data: u64,
    restarts: u64,
    p_drop: f64,
    p_dup: f64,
    /// Whether this seed's workload changes the membership.
    membership: bool,
    conf_changes_applied: u64,
    /// Read request context -> highest index known committed when the read was requested.
    reads: BTreeMap<u64, u64>,
    reads_answered: u64,
}

fn voters() -> Vec<PeerId> {
    (1..=N).collect()
}

impl Sim {
    fn new(seed: u64) -> Sim {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut cfg = Config::new(1);
        cfg.election_tick = 10;
        cfg.heartbeat_tick = 2;
        cfg.pre_vote = rng.random_bool(0.5);
        cfg.check_quorum = rng.random_bool(0.5);
        cfg.max_inflight_msgs = rng.random_range(1..8);
        cfg.max_size_per_msg = rng.random_range(20..200);
        let p_drop = rng.random_range(0.0..0.2);
        let p_dup = rng.random_range(0.0..0.1);
        let membership = rng.random_bool(0.5);
        let mut sim = Sim {
            rng,
            cfg,
            nodes: BTreeMap::new(),
            disks: BTreeMap::new(),
            in_flight: Vec::new(),
            side_a: BTreeSet::new(),
            leaders: BTreeMap::new(),
            committed: BTreeMap::new(),
            seen: BTreeMap::new(),
            completeness_checked: BTreeMap::new(),
            next_data: 0,
            restarts: 0,
            p_drop,
            p_dup,
            membership,
            conf_changes_applied: 0,
            reads: BTreeMap::new(),
            reads_answered: 0,
        };
        for id in 1..=N {
            sim.disks.insert(id, MemoryStorage::with_voters(&voters()));
            sim.start(id, seed);
        }
        sim
    }

    fn start(&mut self, id: PeerId, salt: u64) {
        let store = self.disks.remove(&id).expect("disk of a stopped node");
        let snap = store.snapshot().expect("memory snapshot");
        let (snap_index, conf) = (snap.metadata.index, snap.metadata.conf_state);
        let mut cfg = self.cfg.clone();
        cfg.id = id;
        cfg.applied = snap_index;
        let rng = ChaCha8Rng::seed_from_u64(salt ^ (id << 32) ^ self.restarts);
        let raw = RawNode::new(&cfg, store, rng).expect("valid config");
        self.nodes.insert(id, Some(Node { raw, applied: snap_index, conf }));
    }

    fn crash(&mut self, id: PeerId) {
        if let Some(node) = self.nodes.get_mut(&id).and_then(Option::take) {
            self.disks.insert(id, node.raw.store().clone());
            self.restarts += 1;
        }
    }

    fn live(&self) -> Vec<PeerId> {
        self.nodes.iter().filter(|(_, n)| n.is_some()).map(|(&id, _)| id).collect()
    }

    fn connected(&self, a: PeerId, b: PeerId) -> bool {
        self.side_a.is_empty() || self.side_a.contains(&a) == self.side_a.contains(&b)
    }

    fn step(&mut self, seed: u64) {
        let r = self.rng.random_range(0..100);
        let live = self.live();
        match r {
            0..=59 => self.deliver(),
            60..=79 => {
                if let Some(&id) = pick(&mut self.rng, &live) {
                    self.nodes.get_mut(&id).unwrap().as_mut().unwrap().raw.tick();
                }
            }
            80..=89 => {
                if self.rng.random_bool(0.1) {
                    if let Some(&id) = pick(&mut self.rng, &live) {
                        self.next_data += 1;
                        let ctx = self.next_data;
                        let known = self.committed.keys().next_back().copied().unwrap_or(0);
                        self.reads.insert(ctx, known);
                        let node = self.nodes.get_mut(&id).unwrap().as_mut().unwrap();
                        let _ = node.raw.read_index(ctx.to_be_bytes().to_vec());
                    }
                } else if self.membership && self.rng.random_bool(0.05) {
                    if let Some(&id) = pick(&mut self.rng, &live) {
                        self.propose_conf_change(id);
                    }
                } else if let Some(&id) = pick(&mut self.rng, &live) {
                    let n = self.rng.random_range(1..4);
                    let ents: Vec<Entry> = (0..n)
                        .map(|_| {
                            self.next_data += 1;
                            Entry {
                                data: self.next_data.to_be_bytes().to_vec(),
                                ..Entry::default()
                            }
                        })
                        .collect();
                    let node = self.nodes.get_mut(&id).unwrap().as_mut().unwrap();
                    let _ = node.raw.propose_entries(ents);
                }
            }
            90 => {
                // New partition, or heal.
                self.side_a.clear();
                if self.rng.random_bool(0.6) {
                    for id in 1..=N {
                        if self.rng.random_bool(0.4) {
                            self.side_a.insert(id);
                        }
                    }
                }
            }
            91 => {
                if live.len() as u64 > N / 2 && self.rng.random_bool(0.3) {
                    if let Some(&id) = pick(&mut self.rng, &live) {
                        self.crash(id);
                    }
                }
            }
            92..=93 => {
                let down: Vec<PeerId> = self.disks.keys().copied().collect();
                if let Some(&id) = pick(&mut self.rng, &down) {
                    self.start(id, seed);
                }
            }
            94..=95 => {
                if let Some(&id) = pick(&mut self.rng, &live) {
                    self.compact(id);
                }
            }
            _ => {
                if !self.rng.random_bool(0.1) {
                    return self.after_step();
                }
                if let Some(&id) = pick(&mut self.rng, &live) {
                    let node = self.nodes.get_mut(&id).unwrap().as_mut().unwrap();
                    if node.raw.raft.state == StateRole::Leader {
                        let to = self.rng.random_range(1..=N);
                        node.raw.report_unreachable(to);
                    } else {
                        let _ = node.raw.campaign();
                    }
                }
            }
        }
        self.after_step();
    }

    fn after_step(&mut self) {
        for id in self.live() {
            self.handle_ready(id);
        }
        self.check();
    }

    /// Proposes one single-step change at `id` (forwarded if it is not the leader), keeping at
    /// least three voters.
    fn propose_conf_change(&mut self, id: PeerId) {
        let target = self.rng.random_range(1..=N);
        let node = self.nodes.get_mut(&id).unwrap().as_mut().unwrap();
        let conf = &node.conf;
        let change_type = if conf.voters.contains(&target) {
            if conf.voters.len() <= 3 {
                return;
            }
            if self.rng.random_bool(0.5) {
                ConfChangeType::RemoveNode
            } else {
                ConfChangeType::AddLearnerNode
            }
        } else if conf.learners.contains(&target) || self.rng.random_bool(0.5) {
            ConfChangeType::AddNode
        } else {
            ConfChangeType::AddLearnerNode
        };
        let cc = ConfChange { change_type, node_id: target, context: vec![] };
        let _ = node.raw.propose_conf_change(&cc);
    }

    fn compact(&mut self, id: PeerId) {
        let node = self.nodes.get_mut(&id).unwrap().as_mut().unwrap();
        let applied = node.applied;
        let store = node.raw.store_mut();
        if applied <= store.first_index() {
            return;
        }
        let data = applied.to_be_bytes().to_vec();
        let cs = node.conf.clone();
        let store = node.raw.store_mut();
        if store.create_snapshot(applied, cs, data).is_ok() {
            store.compact(applied).expect("compact at applied index");
        }
    }

    fn deliver(&mut self) {
        if self.in_flight.is_empty() {
            return;
        }
        let i = self.rng.random_range(0..self.in_flight.len());
        let m = if self.rng.random_bool(self.p_dup) {
            self.in_flight[i].clone()
        } else {
            self.in_flight.swap_remove(i)
        };
        let lost = self.rng.random_bool(self.p_drop) || !self.connected(m.from, m.to);
        let target_up = self.nodes.get(&m.to).is_some_and(Option::is_some);
        let is_snap = m.msg_type == MessageType::MsgSnap;
        let (from, to) = (m.from, m.to);
        if !lost && target_up {
            // Over the wire: the encoder checks its own bytes decode back (every message, as
            // `run` switches on), and the receiver steps what it decoded.
            let m = Message::decode(&m.to_bytes()).expect("an encoded message decodes");
            let node = self.nodes.get_mut(&to).unwrap().as_mut().unwrap();
            let _ = node.raw.step(m);
        }
        if is_snap {
            if let Some(Some(sender)) = self.nodes.get_mut(&from) {
                sender.raw.report_snapshot(to, lost || !target_up);
            }
        }
    }

    fn handle_ready(&mut self, id: PeerId) {
        let node = self.nodes.get_mut(&id).unwrap().as_mut().unwrap();
        if !node.raw.has_ready() {
            return;
        }
        let rd: Ready = node.raw.ready();
        // 1. Messages that may leave before persisting.
        self.in_flight.extend(rd.messages.iter().cloned());
        if self.rng.random_bool(0.003) {
            // Crash after sending, before the write is durable.
            self.crash(id);
            return;
        }
        self.check_new_entries(id, &rd);
        let node = self.nodes.get_mut(&id).unwrap().as_mut().unwrap();
        // 2. Persist.
        let store = node.raw.store_mut();
        if let Some(s) = &rd.snapshot {
            store.apply_snapshot(s.clone()).expect("incoming snapshot is newer");
        }
        store.append(&rd.entries);
        if let Some(hs) = rd.hard_state {
            store.set_hard_state(hs);
        }
        // 3. Messages that wait for durability.
        self.in_flight.extend(rd.persisted_messages.iter().cloned());
        // 4. Apply.
        self.apply(id, &rd);
        self.nodes.get_mut(&id).unwrap().as_mut().unwrap().raw.advance();
    }

    fn check_new_entries(&mut self, id: PeerId, rd: &Ready) {
        let node = self.nodes[&id].as_ref().unwrap();
        for e in &rd.entries {
            let prev_term = if e.index == 1 {
                0
            } else {
                node.raw.raft.raft_log.term(e.index - 1).unwrap_or(u64::MAX)
            };
            let key = (e.index, e.term);
            match self.seen.get(&key) {
                None => {
                    self.seen.insert(key, (e.data.clone(), prev_term));
                }
                Some((data, pt)) => {
                    assert_eq!(data, &e.data, "log matching: node {id} entry {key:?} differs");
                    if prev_term != u64::MAX && *pt != u64::MAX {
                        assert_eq!(
                            *pt, prev_term,
                            "log matching: node {id} entry {key:?} follows a different term"
                        );
                    }
                }
            }
        }
    }

    fn apply(&mut self, id: PeerId, rd: &Ready) {
        let term = self.nodes[&id].as_ref().unwrap().raw.raft.term;
        let node = self.nodes.get_mut(&id).unwrap().as_mut().unwrap();
        if let Some(s) = &rd.snapshot {
            let i = s.metadata.index;
            let c = self.committed.get(&i).unwrap_or_else(|| {
                panic!("node {id} received a snapshot at {i} beyond anything known committed")
            });
            assert_eq!(c.term, s.metadata.term, "snapshot at {i} disagrees with committed entry");
            node.applied = i;
            node.conf = s.metadata.conf_state.clone();
        }
        for rs in &rd.read_states {
            let ctx = u64::from_be_bytes(rs.request_ctx[..].try_into().expect("8-byte context"));
            let known = self.reads[&ctx];
            assert!(
                rs.index >= known,
                "ReadIndex: node {id} answered read {ctx} at {} but {known} was already committed",
                rs.index
            );
            self.reads_answered += 1;
        }
        for e in &rd.committed_entries {
            assert_eq!(e.index, node.applied + 1, "node {id} applies out of order");
            node.applied = e.index;
            if e.kind == EntryKind::ConfChange {
                let cc = ConfChange::decode(&e.data).expect("conf change entries decode");
                if let Ok(cs) = node.raw.apply_conf_change(&cc) {
                    node.conf = cs;
                    self.conf_changes_applied += 1;
                }
            }
            match self.committed.get(&e.index) {
                None => {
                    self.committed.insert(
                        e.index,
                        Committed { term: e.term, data: e.data.clone(), known_by_term: term },
                    );
                }
                Some(c) => {
                    assert!(
                        c.term == e.term && c.data == e.data,
                        "state-machine safety: node {id} applied ({}, {}) at {}, others ({}, {})",
                        e.term,
                        hex(&e.data),
                        e.index,
                        c.term,
                        hex(&c.data)
                    );
                }
            }
        }
    }

    fn check(&mut self) {
        for id in self.live() {
            let r = &self.nodes[&id].as_ref().unwrap().raw.raft;
            if r.state != StateRole::Leader {
                continue;
            }
            let term = r.term;
            let prev = *self.leaders.entry(term).or_insert(id);
            assert_eq!(prev, id, "election safety: two leaders in term {term}");
            // Leader completeness, incrementally.
            let from = self.completeness_checked.get(&(id, term)).copied().unwrap_or(0);
            let mut upto = from;
            for (&i, c) in self.committed.range(from + 1..) {
                upto = i;
                if c.known_by_term >= term || i < r.raft_log.first_index() {
                    continue;
                }
                assert_eq!(
                    r.raft_log.term(i),
                    Ok(c.term),
                    "leader completeness: leader {id} of term {term} lacks committed entry {i}"
                );
            }
            self.completeness_checked.insert((id, term), upto);
        }
    }
}

fn pick<'a, T>(rng: &mut ChaCha8Rng, v: &'a [T]) -> Option<&'a T> {
    if v.is_empty() {
        None
    } else {
        Some(&v[rng.random_range(0..v.len())])
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// What one seed exercised.
#[derive(Debug, PartialEq, Eq, Default)]
struct Stats {
    committed: usize,
    leader_terms: usize,
    restarts: u64,
    conf_changes: u64,
    reads: u64,
}

/// Runs one seed.
fn run(seed: u64, steps: usize) -> Stats {
    raft::core::message::set_round_trip_every_message(true);
    let mut sim = Sim::new(seed);
    for _ in 0..steps {
        sim.step(seed);
    }
    Stats {
        committed: sim.committed.len(),
        leader_terms: sim.leaders.len(),
        restarts: sim.restarts,
        conf_changes: sim.conf_changes_applied,
        reads: sim.reads_answered,
    }
}

fn sweep(seeds: u64, steps: usize) {
    let mut t = Stats::default();
    for seed in 0..seeds {
        let s = run(seed, steps);
        t.committed += s.committed;
        t.leader_terms += s.leader_terms;
        t.restarts += s.restarts;
        t.conf_changes += s.conf_changes;
        t.reads += s.reads;
    }
    // The run must have exercised something: elections, commits, crashes, membership changes
    // and reads all happened.
    assert!(t.committed > seeds as usize * 10, "only {} entries committed", t.committed);
    assert!(t.leader_terms > seeds as usize, "only {} terms had a leader", t.leader_terms);
    assert!(t.restarts > 0, "no crash-restart happened");
    assert!(t.conf_changes > 0, "no membership change was applied");
    assert!(t.reads > 0, "no read was answered");
    eprintln!("{seeds} seeds x {steps} steps: {t:?}");
}

#[test]
fn randomized_safety() {
    sweep(30, 3_000);
}

#[test]
#[ignore = "full scale: 200 seeds x 10,000 steps (about 25 s in debug) is too slow for the default suite; run with `cargo test -p raft --test safety -- --ignored`"]
fn randomized_safety_full_scale() {
    sweep(200, 10_000);
}

#[test]
fn same_seed_same_run() {
    assert_eq!(run(3, 1_000), run(3, 1_000));
}
