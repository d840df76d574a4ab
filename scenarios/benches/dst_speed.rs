//! Speed of `dst` runs: the swarm scenario on 3 nodes at 100 client operations per simulated
//! second, one run at a time on one thread. Prints simulated seconds per wall second and
//! simulator events per wall second (the target is >= 1000x real time).
//!
//! The same seeds run in several rounds (`DST_BENCH_ROUNDS`, default 3; `DST_BENCH_SEEDS`
//! seeds each, default 30). Every round does identical work (same seeds, same trace), so the
//! spread between rounds is the machine's, not the code's: the table prints every round, then
//! the best and the median. On a shared machine compare code by the median of several rounds,
//! or by instruction counts (`valgrind --tool=callgrind`), which do not drift.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)] // reason: a benchmark measures wall-clock time around whole runs.

use std::time::Instant;

/// The allocator the `dst` binary links (see `src/bin/dst.rs`), so that this measures what
/// users run.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use scenarios::runner::{run, RunOptions};
use scenarios::scenario::{find, Scenario};

/// What one round of `seeds` runs took.
struct Round {
    sim: f64,
    wall: f64,
    events: u64,
    ops: usize,
}

impl Round {
    fn speed(&self) -> f64 {
        self.sim / self.wall
    }
}

fn round(swarm: &Scenario, seeds: u64) -> Round {
    let mut r = Round { sim: 0.0, wall: 0.0, events: 0, ops: 0 };
    for seed in 1..=seeds {
        let plan = swarm.plan(seed, 3);
        let start = Instant::now();
        let report = run(&plan, &RunOptions::default());
        r.wall += start.elapsed().as_secs_f64();
        r.sim += report.sim_time.as_secs_f64();
        r.events += report.events;
        r.ops += report.stats.ops;
        assert!(report.ok(), "swarm seed {seed} failed: {:?}", report.verdict);
    }
    r
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

fn main() {
    let swarm = find("swarm").expect("swarm exists");
    let seeds = env_u64("DST_BENCH_SEEDS", 30);
    let rounds = env_u64("DST_BENCH_ROUNDS", 3).max(1);
    println!("dst swarm, 3 nodes, 100 ops/sim-s, {seeds} seeds per round, one thread:");
    let mut all: Vec<Round> = Vec::new();
    for i in 1..=rounds {
        let r = round(swarm, seeds);
        println!(
            "  round {i}: simulated {:.1} s in {:.2} s wall: speed {:.0}x, {:.0} simulator \
             events/s, {:.0} client operations/s",
            r.sim,
            r.wall,
            r.speed(),
            r.events as f64 / r.wall,
            r.ops as f64 / r.wall
        );
        all.push(r);
    }
    all.sort_by(|a, b| a.speed().total_cmp(&b.speed()));
    let (best, median) = (&all[all.len() - 1], &all[all.len() / 2]);
    println!(
        "  best: speed {:.0}x, {:.0} events/s; median: speed {:.0}x, {:.0} events/s",
        best.speed(),
        best.events as f64 / best.wall,
        median.speed(),
        median.events as f64 / median.wall
    );
}
