//! A small in-memory network of raft nodes for the integration tests: deliver, drop, cut,
//! isolate, ignore a message type, recover. Nodes are stepped at the `Raft` level; after each
//! delivery the node's new entries and hard state are "persisted" into its `MemoryStorage`
//! exactly as a `Ready` would instruct, so the leader counts itself only once persisted.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use raft::core::{Config, Entry, MemoryStorage, Message, MessageType, PeerId, Raft};
use rand::{Rng as _, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub type TestRaft = Raft<MemoryStorage>;

/// The RNG for node `id` in tests: fixed per id.
pub fn node_rng(id: PeerId) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(0x5eed_0000 + id)
}

pub fn config(id: PeerId, election: u32, heartbeat: u32) -> Config {
    let mut c = Config::new(id);
    c.election_tick = election;
    c.heartbeat_tick = heartbeat;
    c
}

/// A node `id` over `storage`, with etcd's test defaults.
pub fn new_test_raft(
    id: PeerId,
    election: u32,
    heartbeat: u32,
    storage: MemoryStorage,
) -> TestRaft {
    Raft::new(&config(id, election, heartbeat), storage, node_rng(id)).expect("valid config")
}

pub fn new_test_raft_with(cfg: &Config, storage: MemoryStorage) -> TestRaft {
    Raft::new(cfg, storage, node_rng(cfg.id)).expect("valid config")
}

/// Storage bootstrapped with `voters`.
pub fn storage(voters: &[PeerId]) -> MemoryStorage {
    MemoryStorage::with_voters(voters)
}

pub fn ids_by_size(n: u64) -> Vec<PeerId> {
    (1..=n).collect()
}

/// Entries with consecutive indexes from `first`, one per term in `terms`.
pub fn ents(first: u64, terms: &[u64]) -> Vec<Entry> {
    terms
        .iter()
        .enumerate()
        .map(|(i, &t)| Entry { index: first + i as u64, term: t, ..Entry::default() })
        .collect()
}

/// Does what a Ready handler does with durable state: persists the pending snapshot, the
/// unstable entries and the hard state into the node's storage and acknowledges them.
pub fn persist(r: &mut TestRaft) {
    if let Some(s) = r.raft_log.unstable.snapshot.clone() {
        let i = s.metadata.index;
        r.raft_log.store.apply_snapshot(s).expect("newer snapshot");
        r.raft_log.stable_snap_to(i);
    }
    let ents = r.raft_log.unstable_entries().to_vec();
    if let Some(last) = ents.last() {
        r.raft_log.store.append(&ents);
        r.raft_log.stable_to(last.index, last.term);
        r.on_persisted(last.index, last.term);
    }
    let hs = r.hard_state();
    r.raft_log.store.set_hard_state(hs);
}

/// Persists, then returns every queued message (immediate first, then after-persist ones).
pub fn read_messages(r: &mut TestRaft) -> Vec<Message> {
    persist(r);
    let (mut a, b) = r.take_messages();
    a.extend(b);
    a
}

/// A sort key making message lists comparable regardless of emission order.
pub fn sorted(mut msgs: Vec<Message>) -> Vec<Message> {
    msgs.sort_by_key(|m| (m.to, m.msg_type, m.index, m.term));
    msgs
}

/// A MsgAppResp accepting `m` (a MsgApp).
pub fn accept_and_reply(m: &Message) -> Message {
    assert_eq!(m.msg_type, MessageType::MsgApp, "{m:?}");
    let mut r = Message::new(MessageType::MsgAppResp, m.to, m.from);
    r.term = m.term;
    r.index = m.index + m.entries.len() as u64;
    r
}

/// A message with the given fields set.
pub fn msg(t: MessageType, from: PeerId, to: PeerId, term: u64) -> Message {
    let mut m = Message::new(t, from, to);
    m.term = term;
    m
}

/// A proposal of one entry with `data`, addressed to `to` itself.
pub fn prop(to: PeerId, data: &[u8]) -> Message {
    let mut m = Message::new(MessageType::MsgProp, to, to);
    m.entries = vec![Entry { data: data.to_vec(), ..Entry::default() }];
    m
}

/// A custom drop rule: true drops the message.
pub type DropRule = Box<dyn FnMut(&Message) -> bool>;

/// A test network: `None` peers are black holes that swallow everything.
pub struct Network {
    pub peers: BTreeMap<PeerId, Option<TestRaft>>,
    drop: BTreeMap<(PeerId, PeerId), f64>,
    ignore: BTreeSet<MessageType>,
    rng: ChaCha8Rng,
    /// Every message delivered (after filtering), for assertions.
    pub delivered: Vec<Message>,
    /// A custom rule: messages for which it returns true are dropped.
    pub drop_if: Option<DropRule>,
}

impl Network {
    /// `n` fresh nodes 1..=n with election 10, heartbeat 1.
    pub fn new(n: u64) -> Network {
        Network::with_config(n, |_| {})
    }

    /// `n` fresh nodes, each config adjusted by `f`.
    pub fn with_config(n: u64, f: impl Fn(&mut Config)) -> Network {
        let ids = ids_by_size(n);
        let nodes = ids
            .iter()
            .map(|&id| {
                let mut c = config(id, 10, 1);
                f(&mut c);
                Some(new_test_raft_with(&c, storage(&ids)))
            })
            .collect();
        Network::from_nodes(nodes)
    }

    /// Nodes with ids 1..=len, in order; `None` is a black hole.
    pub fn from_nodes(nodes: Vec<Option<TestRaft>>) -> Network {
        let peers = nodes.into_iter().enumerate().map(|(i, n)| (i as u64 + 1, n)).collect();
        Network {
            peers,
            drop: BTreeMap::new(),
            ignore: BTreeSet::new(),
            rng: ChaCha8Rng::seed_from_u64(7),
            delivered: Vec::new(),
            drop_if: None,
        }
    }

    pub fn node(&mut self, id: PeerId) -> &mut TestRaft {
        self.peers.get_mut(&id).and_then(|p| p.as_mut()).expect("live node")
    }

    pub fn peek(&self, id: PeerId) -> &TestRaft {
        self.peers[&id].as_ref().expect("live node")
    }

    /// Delivers `msgs` and everything they cause, breadth first, until the network is quiet.
    pub fn send(&mut self, msgs: Vec<Message>) {
        let mut queue: VecDeque<Message> = msgs.into();
        while let Some(m) = queue.pop_front() {
            let to = m.to;
            let Some(Some(p)) = self.peers.get_mut(&to) else { continue };
            let _ = p.step(m.clone());
            self.delivered.push(m);
            let out = read_messages(p);
            queue.extend(self.filter(out));
        }
    }

    /// Steps `m` into its target and delivers what follows.
    pub fn send_one(&mut self, m: Message) {
        self.send(vec![m]);
    }

    fn filter(&mut self, msgs: Vec<Message>) -> Vec<Message> {
        msgs.into_iter()
            .filter(|m| {
                if self.ignore.contains(&m.msg_type) {
                    return false;
                }
                assert_ne!(m.msg_type, MessageType::MsgHup, "MsgHup never goes out");
                if self.drop_if.as_mut().is_some_and(|f| f(m)) {
                    return false;
                }
                let p = self.drop.get(&(m.from, m.to)).copied().unwrap_or(0.0);
                p <= 0.0 || self.rng.random::<f64>() >= p
            })
            .collect()
    }

    /// Drops messages from `from` to `to` with probability `p`.
    pub fn drop_link(&mut self, from: PeerId, to: PeerId, p: f64) {
        self.drop.insert((from, to), p);
    }

    /// Cuts the link between `a` and `b` both ways.
    pub fn cut(&mut self, a: PeerId, b: PeerId) {
        self.drop_link(a, b, 2.0);
        self.drop_link(b, a, 2.0);
    }

    /// Cuts `id` off from everyone.
    pub fn isolate(&mut self, id: PeerId) {
        let others: Vec<PeerId> = self.peers.keys().copied().filter(|&o| o != id).collect();
        for o in others {
            self.cut(id, o);
        }
    }

    /// Drops every message of type `t`.
    pub fn ignore(&mut self, t: MessageType) {
        self.ignore.insert(t);
    }

    /// Heals all cuts, drops and ignores.
    pub fn recover(&mut self) {
        self.drop.clear();
        self.ignore.clear();
        self.drop_if = None;
    }

    /// Starts an election at `id` and runs the network until quiet.
    pub fn campaign(&mut self, id: PeerId) {
        self.send_one(msg(MessageType::MsgHup, id, id, 0));
    }

    /// Proposes `data` at `id` and runs the network until quiet.
    pub fn propose(&mut self, id: PeerId, data: &[u8]) {
        self.send_one(prop(id, data));
    }
}
