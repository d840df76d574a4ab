//! Scheduler throughput: timer events per wall-clock second through the simulated `World`.
//!
//! Ten nodes each keep 100 timers in flight; every firing re-arms one timer with a delay from a
//! fixed pattern (1..=997 us), until 1,000,000 timer events have fired in total. The queue thus
//! stays about 1,000 events deep, and every event goes through the full path: queue pop, node
//! lookup, `Env` construction, the actor's handler, trace hashing, timer re-arm.
//!
//! Run: `cargo bench -p sim --bench scheduler`. Target: at least 5,000,000 events/s.

use sim::world::{World, WorldConfig};
use sim::{Actor, Duration, Env, Halt, Instant, NodeId, Seed, TimerId};

const NODES: u32 = 10;
const IN_FLIGHT: u64 = 100;
const TIMER_EVENTS: u64 = 1_000_000;

/// Fires `budget` timers, keeping `IN_FLIGHT` armed at a time.
struct TimerChain {
    budget: u64,
    armed: u64,
    fired: u64,
}

fn delay(tag: u64) -> Duration {
    Duration::from_micros(1 + tag.wrapping_mul(7919) % 997)
}

impl Actor for TimerChain {
    type Request = ();
    type Response = ();

    fn on_start(&mut self, env: &mut Env<'_, ()>) -> Result<(), Halt> {
        while self.armed < IN_FLIGHT.min(self.budget) {
            self.armed += 1;
            env.set_timer(delay(self.armed), self.armed);
        }
        Ok(())
    }
    fn on_timer(&mut self, env: &mut Env<'_, ()>, _: TimerId, tag: u64) -> Result<(), Halt> {
        self.fired += 1;
        if self.armed < self.budget {
            self.armed += 1;
            env.set_timer(delay(tag + self.armed), self.armed);
        }
        Ok(())
    }
    fn on_net(&mut self, _: &mut Env<'_, ()>, _: sim::io::NetEvent) -> Result<(), Halt> {
        Ok(())
    }
    fn on_request(&mut self, _: &mut Env<'_, ()>, _: ()) -> Result<(), Halt> {
        Ok(())
    }
}

/// Wall-clock seconds taken by `f`, and its result.
#[allow(clippy::disallowed_methods, clippy::disallowed_types)] // a benchmark measures real time
fn timed<T>(f: impl FnOnce() -> T) -> (f64, T) {
    let start = std::time::Instant::now();
    let out = f();
    (start.elapsed().as_secs_f64(), out)
}

/// One run: returns (wall seconds, events the world processed, timers fired).
fn run(seed: u64) -> (f64, u64, u64) {
    let mut world: World<TimerChain> = World::new(Seed(seed), WorldConfig::default());
    for id in (0..NODES).map(NodeId) {
        world.add_node(id, |_| TimerChain {
            budget: TIMER_EVENTS / u64::from(NODES),
            armed: 0,
            fired: 0,
        });
    }
    let (secs, quiet) =
        timed(|| world.run_until_quiescent(Instant::ZERO + Duration::from_secs(3600)));
    assert!(quiet, "the world did not go quiet");
    let fired: u64 = (0..NODES).map(|n| world.node(NodeId(n)).map_or(0, |a| a.fired)).sum();
    assert_eq!(fired, TIMER_EVENTS, "every timer fires exactly once");
    (secs, world.events(), fired)
}

fn main() {
    let runs = if std::env::args().any(|a| a == "--quick") { 1 } else { 5 };
    let mut best = f64::INFINITY;
    let mut total = (0.0, 0u64);
    for seed in 1..=runs {
        let (secs, events, fired) = run(seed);
        best = best.min(secs);
        total = (total.0 + secs, total.1 + events);
        println!(
            "run {seed}: {fired} timer events ({events} world events) in {:.3} s = {:.2} M events/s",
            secs,
            events as f64 / secs / 1e6
        );
    }
    println!(
        "scheduler: {:.2} M events/s (mean of {runs} runs of {TIMER_EVENTS} timer events; best run \
         {:.2} M/s; target >= 5 M/s)",
        total.1 as f64 / total.0 / 1e6,
        total.1 as f64 / runs as f64 / best / 1e6
    );
}
