//! Speed of `dst` runs: the swarm scenario on 3 nodes at 100 client operations per simulated
//! second, one run at a time on one thread. Prints simulated seconds per wall second and
//! simulator events per wall second (the target is >= 1000x real time).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)] // reason: a benchmark measures wall-clock time around whole runs.

use std::time::Instant;

use scenarios::runner::{run, RunOptions};
use scenarios::scenario::find;

fn main() {
    let swarm = find("swarm").expect("swarm exists");
    let seeds: u64 =
        std::env::var("DST_BENCH_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(30);
    let (mut sim, mut wall, mut events, mut ops) = (0.0, 0.0, 0u64, 0usize);
    for seed in 1..=seeds {
        let plan = swarm.plan(seed, 3);
        let start = Instant::now();
        let r = run(&plan, &RunOptions::default());
        wall += start.elapsed().as_secs_f64();
        sim += r.sim_time.as_secs_f64();
        events += r.events;
        ops += r.stats.ops;
        assert!(r.ok(), "swarm seed {seed} failed: {:?}", r.verdict);
    }
    println!("dst swarm, 3 nodes, 100 ops/sim-s, {seeds} seeds, one thread:");
    println!("  simulated {sim:.1} s in {wall:.2} s wall: speed {:.0}x", sim / wall);
    println!(
        "  {:.0} simulator events/s, {:.0} client operations/s",
        events as f64 / wall,
        ops as f64 / wall
    );
}
