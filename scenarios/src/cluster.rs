//! A cluster of real server nodes on the simulator.
//!
//! Node `i` (1-based) runs on simulated host `n<i>` as member `n<i>` with peer URL
//! `http://n<i>:2380`; the first `nodes` form the bootstrap cluster with token [`TOKEN`]. Each
//! node is the server loop ([`raft::server::Node`]) over a state machine `S` (the MVCC store in
//! `dst` runs), with its WAL, snapshots and store on its own [`sim::simulated::disk::SimDisk`].
//!
//! The configuration a node starts with is looked up at every (re)start from a table the
//! harness edits, so a node can be restarted with a wrong cluster token and later with the right
//! one again. Node numbers and member IDs are different things: member IDs are etcd's hashes.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use engine::mvcc::StoreConfig;
use raft::server::{ClusterSpec, MemKv, Node, NodeConfig, Running, SmError, StateMachine};
use sim::io::Disk;
use sim::time::Duration;
use sim::world::{World, WorldConfig};
use sim::{NodeId, Seed};

use crate::plan::Knobs;
use crate::sm::MvccSm;

/// The bootstrap cluster's `--initial-cluster-token`.
pub const TOKEN: &str = "dst-cluster";
/// The token of the foreign cluster used by the cluster-ID scenarios.
pub const FOREIGN_TOKEN: &str = "dst-foreign-cluster";

/// A state machine the oracles can look into.
pub trait Observable: StateMachine + Sized + 'static {
    /// Opens (or creates) the store on a node's disk, batching as `store` says (if it batches).
    fn open(disk: Rc<dyn Disk>, store: StoreConfig) -> Result<Self, SmError>;
    /// The current value of `key`.
    fn value(&self, key: &[u8]) -> Option<Vec<u8>>;
    /// A digest of the whole state; members at the same applied index must agree on it.
    fn digest(&self) -> Result<u64, String>;
    /// The store's own consistency check.
    fn self_check(&self) -> Result<(), String>;
    /// The storage engine underneath, for the engine oracle (`None`: there is none).
    fn engine(&self) -> Option<engine::Db> {
        None
    }
}

impl Observable for MemKv {
    fn open(disk: Rc<dyn Disk>, _: StoreConfig) -> Result<MemKv, SmError> {
        MemKv::open(disk, raft::server::boot::SM_DIR)
    }
    fn value(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.get(key).map(|v| v.to_vec())
    }
    fn digest(&self) -> Result<u64, String> {
        let mut h = sim::seed::fnv1a64(&self.revision().to_le_bytes());
        for (k, v) in self.dump() {
            h = sim::trace::mix(h, sim::seed::fnv1a64(&k));
            h = sim::trace::mix(h, sim::seed::fnv1a64(&v));
        }
        Ok(h)
    }
    fn self_check(&self) -> Result<(), String> {
        Ok(())
    }
}

impl Observable for MvccSm {
    fn open(disk: Rc<dyn Disk>, store: StoreConfig) -> Result<MvccSm, SmError> {
        MvccSm::open_with(disk, raft::server::boot::SM_DIR, store)
    }
    fn value(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.get(key).ok().flatten()
    }
    /// The MVCC hash over every revision, the uncommitted batch included; hashing writes
    /// nothing, so observing a member never changes its disk.
    fn digest(&self) -> Result<u64, String> {
        let h = self.hash().map_err(|e| e.to_string())?;
        Ok(sim::trace::mix(h.hash, h.revision as u64))
    }
    fn self_check(&self) -> Result<(), String> {
        self.check().map_err(|e| e.to_string())
    }
    fn engine(&self) -> Option<engine::Db> {
        Some(MvccSm::engine(self))
    }
}

/// Host name of node `n`.
pub fn host(n: u32) -> String {
    format!("n{n}")
}

/// Peer URL of node `n`.
pub fn peer_url(n: u32) -> String {
    format!("http://n{n}:2380")
}

/// `--initial-cluster` for nodes `1..=nodes`.
pub fn initial_cluster(nodes: u32) -> String {
    (1..=nodes).map(|n| format!("n{n}={}", peer_url(n))).collect::<Vec<_>>().join(",")
}

/// How a node is configured at its next start.
pub type Setups = Rc<RefCell<BTreeMap<u32, NodeConfig>>>;

/// The simulated cluster: the world, the node configuration table and who is what.
pub struct Cluster<S: Observable> {
    pub w: World<Node<S>>,
    setups: Setups,
    knobs: Knobs,
    /// Node numbers that are (or were) voting members of the cluster.
    pub members: BTreeSet<u32>,
    /// Members removed from the cluster (they stay down).
    pub removed: BTreeSet<u32>,
    /// Nodes currently configured wrongly on purpose (they must refuse to start or be refused).
    pub misconfigured: BTreeSet<u32>,
    /// Nodes that belong to a foreign cluster.
    pub foreign: BTreeSet<u32>,
    /// Members re-created on a fresh data directory with another `--initial-cluster`: they run
    /// with their member ID but another cluster ID, until the heal gives them their own data
    /// and configuration back.
    pub impostors: BTreeSet<u32>,
}

/// Settings every node shares, from the plan's knobs.
pub fn base_config(name: &str, spec: ClusterSpec, knobs: &Knobs) -> NodeConfig {
    let mut c = NodeConfig::new(name, spec);
    c.snapshot_count = knobs.snapshot_count;
    c.catch_up_entries = knobs.catch_up_entries;
    c.request_timeout = Duration::from_millis(2_000);
    c.wal.segment_size = 64 * 1024;
    c.metrics_every_ticks = 0;
    knobs.env.configure(&mut c);
    c
}

impl<S: Observable> Cluster<S> {
    /// A bootstrap cluster of `nodes` members; nothing runs until the world is stepped.
    pub fn new(seed: u64, nodes: u32, knobs: &Knobs, config: WorldConfig) -> Cluster<S> {
        let mut c = Cluster {
            w: World::new(Seed(seed), config),
            setups: Rc::new(RefCell::new(BTreeMap::new())),
            knobs: knobs.clone(),
            members: BTreeSet::new(),
            removed: BTreeSet::new(),
            misconfigured: BTreeSet::new(),
            foreign: BTreeSet::new(),
            impostors: BTreeSet::new(),
        };
        for n in 1..=nodes {
            let cfg = c.bootstrap_config(n, nodes, TOKEN);
            c.add_node(n, cfg);
            c.members.insert(n);
        }
        c
    }

    /// The bootstrap configuration of node `n` in a cluster of `nodes` with `token`.
    pub fn bootstrap_config(&self, n: u32, nodes: u32, token: &str) -> NodeConfig {
        let spec = ClusterSpec::Bootstrap {
            initial_cluster: initial_cluster(nodes),
            token: token.to_string(),
        };
        base_config(&host(n), spec, &self.knobs)
    }

    /// Adds node `n` to the world with `cfg`; it starts at once.
    pub fn add_node(&mut self, n: u32, cfg: NodeConfig) {
        self.setups.borrow_mut().insert(n, cfg);
        let setups = Rc::clone(&self.setups);
        let store = self.knobs.env.store_config();
        self.w.add_node(NodeId(n), move |id| {
            let cfg = setups.borrow().get(&id.0).cloned().expect("every node has a setup");
            Node::new(cfg, Rc::new(move |disk| S::open(disk, store)))
        });
    }

    /// Replaces the configuration node `n` uses from its next start on.
    pub fn set_config(&mut self, n: u32, cfg: NodeConfig) {
        self.setups.borrow_mut().insert(n, cfg);
    }

    /// The configuration node `n` starts with.
    pub fn config(&self, n: u32) -> NodeConfig {
        self.setups.borrow().get(&n).cloned().expect("every node has a setup")
    }

    /// Every node number in the world.
    pub fn nodes(&self) -> Vec<u32> {
        self.w.node_ids().into_iter().map(|n| n.0).collect()
    }

    /// Members that should be serving: not removed, not misconfigured, not foreign.
    pub fn serving_members(&self) -> Vec<u32> {
        self.members
            .iter()
            .copied()
            .filter(|n| {
                !self.removed.contains(n)
                    && !self.misconfigured.contains(n)
                    && !self.foreign.contains(n)
            })
            .collect()
    }

    /// Whether node `n` runs outside this cluster (a foreign member or an impostor): the
    /// cluster's oracles do not hold it to this cluster's history.
    pub fn is_outsider(&self, n: u32) -> bool {
        self.foreign.contains(&n) || self.impostors.contains(&n)
    }

    pub fn running(&self, n: u32) -> Option<&Running<S>> {
        self.w.node(NodeId(n)).and_then(|x| x.running())
    }

    pub fn is_up(&self, n: u32) -> bool {
        self.w.is_up(NodeId(n))
    }

    /// The serving member that leads with the highest term, if any.
    pub fn leader(&self) -> Option<u32> {
        self.serving_members()
            .into_iter()
            .filter_map(|n| self.running(n).filter(|r| r.is_leader()).map(|r| (r.term(), n)))
            .max()
            .map(|(_, n)| n)
    }

    /// Node number of the member with raft ID `id`.
    pub fn node_of_member(&self, id: u64) -> Option<u32> {
        self.nodes().into_iter().find(|n| self.running(*n).is_some_and(|r| r.id() == id))
    }

    /// The knobs this cluster was built with.
    pub fn knobs(&self) -> &Knobs {
        &self.knobs
    }
}
