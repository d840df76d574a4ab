//! Committed entries per wall second: a 3-node cluster of `RawNode`s on an in-memory network,
//! the leader taking proposals in batches, every node running the full Ready loop (persist to
//! `MemoryStorage`, send, apply, advance). One criterion "element" is one entry committed and
//! applied on the leader.

use std::collections::VecDeque;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use raft::core::{Config, Entry, MemoryStorage, Message, RawNode, StateRole};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const NODES: u64 = 3;

struct Cluster {
    nodes: Vec<RawNode<MemoryStorage>>,
    queue: VecDeque<Message>,
    leader_applied: u64,
}

impl Cluster {
    fn new() -> Cluster {
        let voters: Vec<u64> = (1..=NODES).collect();
        let nodes = voters
            .iter()
            .map(|&id| {
                let mut cfg = Config::new(id);
                cfg.max_inflight_msgs = 256;
                cfg.max_size_per_msg = 1 << 20;
                let rng = ChaCha8Rng::seed_from_u64(id);
                RawNode::new(&cfg, MemoryStorage::with_voters(&voters), rng).expect("config")
            })
            .collect();
        let mut c = Cluster { nodes, queue: VecDeque::new(), leader_applied: 0 };
        c.nodes[0].campaign().expect("campaign");
        c.run_until_quiet();
        assert_eq!(c.nodes[0].raft.state, StateRole::Leader);
        c
    }

    /// One pass of every node's Ready loop, then delivery of everything sent.
    fn pump(&mut self) -> bool {
        let mut busy = false;
        for (i, n) in self.nodes.iter_mut().enumerate() {
            if !n.has_ready() {
                continue;
            }
            busy = true;
            let mut rd = n.ready();
            self.queue.extend(rd.messages.drain(..));
            let store = n.store_mut();
            store.append(&rd.entries);
            if let Some(hs) = rd.hard_state {
                store.set_hard_state(hs);
            }
            self.queue.extend(rd.persisted_messages.drain(..));
            if i == 0 {
                self.leader_applied += rd.committed_entries.len() as u64;
            }
            n.advance();
        }
        while let Some(m) = self.queue.pop_front() {
            busy = true;
            let to = (m.to - 1) as usize;
            let _ = self.nodes[to].step(m);
        }
        busy
    }

    fn run_until_quiet(&mut self) {
        while self.pump() {}
    }

    /// Proposes `total` entries in batches of `batch` and runs until all are applied on the
    /// leader. Returns how many were applied.
    fn commit(&mut self, total: u64, batch: usize) -> u64 {
        let start = self.leader_applied;
        let payload = vec![0xab; 16];
        let mut proposed = 0;
        while self.leader_applied - start < total {
            if proposed < total {
                let n = batch.min((total - proposed) as usize);
                let ents = vec![Entry { data: payload.clone(), ..Entry::default() }; n];
                self.nodes[0].propose_entries(ents).expect("leader takes proposals");
                proposed += n as u64;
            }
            self.pump();
        }
        self.leader_applied - start
    }
}

fn throughput(c: &mut Criterion) {
    const TOTAL: u64 = 100_000;
    let mut g = c.benchmark_group("raft_3_nodes_in_memory");
    g.throughput(Throughput::Elements(TOTAL));
    g.sample_size(10);
    for batch in [64usize, 1024] {
        g.bench_function(format!("commit_{TOTAL}_batch_{batch}"), |b| {
            b.iter_batched(
                Cluster::new,
                |mut cl| {
                    let n = cl.commit(TOTAL, batch);
                    assert!(n >= TOTAL, "committed {n} of {TOTAL}");
                    cl
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, throughput);
criterion_main!(benches);
