//! Acknowledged puts per simulated second and per wall second: a 3-node cluster of server
//! nodes (`MemKv` state machine, WAL and snapshots on `SimDisk`, transport on `SimNet` with its
//! default latency) on the simulated world. A closed-loop client keeps `depth` puts outstanding
//! at the leader; every acknowledgement sends the next put.
//!
//! Run: `cargo bench -p raft --bench server`. Prints one table; asserts nothing about time.
// Wall-clock throughput needs std::time, which the determinism lints forbid elsewhere.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::rc::Rc;
use std::time::Instant as WallInstant;

use raft::server::boot::SM_DIR;
use raft::server::{ClientRequest, ClusterSpec, MemKv, Node, NodeConfig, OpResult, Request};
use sim::time::{Duration, Instant};
use sim::world::{World, WorldConfig};
use sim::{NodeId, Seed};

const IC: &str = "n1=http://n1:2380,n2=http://n2:2380,n3=http://n3:2380";
const PUTS: u64 = 5_000;

fn world(seed: u64) -> World<Node<MemKv>> {
    let mut w = World::new(Seed(seed), WorldConfig::default());
    for k in 1..=3u32 {
        w.add_node(NodeId(k), move |_| {
            let spec = ClusterSpec::Bootstrap { initial_cluster: IC.into(), token: "bench".into() };
            let mut cfg = NodeConfig::new(&format!("n{k}"), spec);
            cfg.snapshot_count = 1_000;
            cfg.catch_up_entries = 500;
            Node::new(cfg, Rc::new(|disk| MemKv::open(disk, SM_DIR)))
        });
    }
    w
}

fn leader(w: &World<Node<MemKv>>) -> Option<NodeId> {
    let nodes = w.node_ids();
    let lead = nodes
        .iter()
        .find_map(|n| w.node(*n).and_then(|x| x.running()).filter(|r| r.is_leader()).map(|_| *n))?;
    let id = w.node(lead)?.running()?.id();
    let all_agree = nodes
        .iter()
        .all(|n| w.node(*n).and_then(|x| x.running()).is_some_and(|r| r.leader() == id));
    all_agree.then_some(lead)
}

struct Run {
    depth: u64,
    acked: u64,
    failed: u64,
    sim_secs: f64,
    wall_secs: f64,
}

fn run(depth: u64) -> Run {
    let mut w = world(1);
    w.run_while(Instant::ZERO + Duration::from_secs(30), |w| leader(w).is_none());
    let l = leader(&w).expect("a leader within 30 simulated seconds");
    let (sim_start, wall_start) = (w.now(), WallInstant::now());
    let mut next = 0u64;
    let put = |w: &mut World<Node<MemKv>>, next: &mut u64| {
        let key = format!("key{:04}", *next % 1000).into_bytes();
        let request = Request::Put { key, value: vec![b'v'; 64] };
        w.request(l, ClientRequest { id: *next, request });
        *next += 1;
    };
    for _ in 0..depth {
        put(&mut w, &mut next);
    }
    let (mut acked, mut failed) = (0u64, 0u64);
    while acked + failed < PUTS {
        assert!(w.step(), "the world ran dry");
        for (_, _, resp) in w.take_responses() {
            match resp.result {
                Ok(OpResult::Put { .. }) => acked += 1,
                _ => failed += 1,
            }
            if next < PUTS {
                put(&mut w, &mut next);
            }
        }
    }
    Run {
        depth,
        acked,
        failed,
        sim_secs: w.now().saturating_since(sim_start).as_secs_f64(),
        wall_secs: wall_start.elapsed().as_secs_f64(),
    }
}

fn main() {
    println!("server: {PUTS} puts of 64 B to a 3-node simulated cluster (closed loop)");
    println!(
        "{:>6} {:>8} {:>7} {:>12} {:>16} {:>17}",
        "depth", "acked", "failed", "sim secs", "acked/sim sec", "acked/wall sec"
    );
    for depth in [1, 16, 128] {
        let r = run(depth);
        println!(
            "{:>6} {:>8} {:>7} {:>12.3} {:>16.0} {:>17.0}",
            r.depth,
            r.acked,
            r.failed,
            r.sim_secs,
            r.acked as f64 / r.sim_secs,
            r.acked as f64 / r.wall_secs
        );
    }
}
