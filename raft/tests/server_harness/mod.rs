//! A simulated cluster of server nodes over `MemKv`, shared by the `server_*` tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::rc::Rc;

use raft::server::boot::SM_DIR;
use raft::server::{
    ClientRequest, ClientResponse, ClusterSpec, MemKv, Node, NodeConfig, OpResult, Request,
    Running, ServerError, SmOpener,
};
use sim::time::{Duration, Instant};
use sim::world::{World, WorldConfig};
use sim::{NodeId, Seed};

/// Members n1..n3 on hosts n1..n3 (SimNet resolves host `nK` to node K).
pub const IC: &str = "n1=http://n1:2380,n2=http://n2:2380,n3=http://n3:2380";
pub const TOKEN: &str = "server-test";

pub fn opener() -> SmOpener<MemKv> {
    Rc::new(|disk| MemKv::open(disk, SM_DIR))
}

pub fn node_config(name: &str) -> NodeConfig {
    let spec = ClusterSpec::Bootstrap { initial_cluster: IC.to_string(), token: TOKEN.to_string() };
    let mut c = NodeConfig::new(name, spec);
    c.wal.segment_size = 64 * 1024;
    c
}

pub fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

pub type Outcome = Result<OpResult, ServerError>;

/// A world of server nodes plus the client's bookkeeping.
pub struct TestCluster {
    pub w: World<Node<MemKv>>,
    next_id: u64,
    /// Request id -> (node asked, request).
    pub sent: BTreeMap<u64, (NodeId, Request)>,
    /// Request id -> (when answered, outcome).
    pub answers: BTreeMap<u64, (Instant, Outcome)>,
}

impl TestCluster {
    /// Three bootstrap members; `tweak` adjusts every node's config.
    pub fn new(seed: u64, tweak: impl Fn(&mut NodeConfig) + Clone + 'static) -> TestCluster {
        TestCluster::with_world(seed, WorldConfig::default(), tweak)
    }

    /// Like [`TestCluster::new`] with a given world configuration.
    pub fn with_world(
        seed: u64,
        config: WorldConfig,
        tweak: impl Fn(&mut NodeConfig) + Clone + 'static,
    ) -> TestCluster {
        let w = World::new(Seed(seed), config);
        let mut c = TestCluster { w, next_id: 1, sent: BTreeMap::new(), answers: BTreeMap::new() };
        for k in 1..=3u32 {
            let t = tweak.clone();
            c.w.add_node(NodeId(k), move |_| {
                let mut cfg = node_config(&format!("n{k}"));
                t(&mut cfg);
                Node::new(cfg, opener())
            });
        }
        c
    }

    pub fn running(&self, n: NodeId) -> Option<&Running<MemKv>> {
        self.w.node(n).and_then(|node| node.running())
    }

    pub fn nodes(&self) -> Vec<NodeId> {
        self.w.node_ids()
    }

    /// The node that believes it leads (the one with the highest term if several do).
    pub fn leader(&self) -> Option<NodeId> {
        self.nodes()
            .into_iter()
            .filter_map(|n| self.running(n).filter(|r| r.is_leader()).map(|r| (r.term(), n)))
            .max()
            .map(|(_, n)| n)
    }

    /// Runs until some node leads (panics after `limit` of simulated time).
    pub fn await_leader(&mut self, limit: Duration) -> NodeId {
        let until = self.w.now() + limit;
        self.w.run_while(until, |w| {
            !w.node_ids()
                .iter()
                .any(|n| w.node(*n).and_then(|x| x.running()).is_some_and(|r| r.is_leader()))
        });
        self.leader().unwrap_or_else(|| panic!("no leader by {}", self.w.now()))
    }

    /// Runs until every running node knows the same leader, which leads (panics after `limit`).
    pub fn await_stable_leader(&mut self, limit: Duration) -> NodeId {
        let until = self.w.now() + limit;
        self.w.run_while(until, |w| {
            let leads: Vec<u64> = w
                .node_ids()
                .iter()
                .filter_map(|n| w.node(*n).and_then(|x| x.running()))
                .map(|r| r.leader())
                .collect();
            let l = leads.first().copied().unwrap_or(0);
            let leader_leads = w
                .node_ids()
                .iter()
                .filter_map(|n| w.node(*n).and_then(|x| x.running()))
                .any(|r| r.id() == l && r.is_leader());
            !(l != 0 && leads.iter().all(|x| *x == l) && leader_leads)
        });
        self.collect();
        self.leader()
            .filter(|_| self.w.now() < until)
            .unwrap_or_else(|| panic!("no stable leader by {}", self.w.now()))
    }

    pub fn send(&mut self, n: NodeId, request: Request) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.sent.insert(id, (n, request.clone()));
        self.w.request(n, ClientRequest { id, request });
        id
    }

    pub fn put(&mut self, n: NodeId, key: &str, value: &str) -> u64 {
        self.send(n, Request::Put { key: key.into(), value: value.into() })
    }

    /// Moves the world's responses into `answers`.
    pub fn collect(&mut self) {
        for (_, at, ClientResponse { id, result }) in self.w.take_responses() {
            let prev = self.answers.insert(id, (at, result));
            assert!(prev.is_none(), "request {id} answered twice");
        }
    }

    /// Runs until every id in `ids` is answered; panics after `limit`.
    pub fn await_answers(&mut self, ids: &[u64], limit: Duration) {
        let until = self.w.now() + limit;
        loop {
            self.collect();
            if ids.iter().all(|i| self.answers.contains_key(i)) {
                return;
            }
            assert!(self.w.now() < until, "requests {ids:?} unanswered by {}", self.w.now());
            if !self.w.step() {
                panic!("the world ran dry with requests unanswered");
            }
        }
    }

    pub fn outcome(&self, id: u64) -> &Outcome {
        &self.answers.get(&id).unwrap_or_else(|| panic!("request {id} not answered")).1
    }

    pub fn run_for(&mut self, d: Duration) {
        let t = self.w.now() + d;
        self.w.run_until(t);
        self.collect();
    }

    /// Runs until every node in `ns` has applied the same index as the highest among them and
    /// that index is at least `min`.
    pub fn await_converged(&mut self, ns: &[NodeId], min: u64, limit: Duration) {
        let until = self.w.now() + limit;
        let ns = ns.to_vec();
        self.w.run_while(until, |w| {
            let idx: Vec<Option<u64>> = ns
                .iter()
                .map(|n| w.node(*n).and_then(|x| x.running()).map(|r| r.applied_index()))
                .collect();
            let all = idx.iter().all(|i| i.is_some());
            let hi = idx.iter().flatten().max().copied().unwrap_or(0);
            !(all && hi >= min && idx.iter().all(|i| *i == Some(hi)))
        });
        self.collect();
        let applied: Vec<Option<u64>> =
            ns.iter().map(|n| self.running(*n).map(|r| r.applied_index())).collect();
        let hi = applied.iter().flatten().max().copied().unwrap_or(0);
        assert!(
            hi >= min && applied.iter().all(|a| *a == Some(hi)),
            "not converged by {}: applied {applied:?}, want >= {min}",
            self.w.now()
        );
    }

    /// The key/value contents of `n`'s state machine.
    pub fn dump(&self, n: NodeId) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.running(n).expect("node up").state_machine().dump()
    }

    pub fn value(&self, n: NodeId, key: &str) -> Option<Vec<u8>> {
        self.running(n).expect("node up").state_machine().get(key.as_bytes()).map(|v| v.to_vec())
    }
}
