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

/// Nanoseconds this thread has spent on a CPU (Linux `schedstat`); `None` elsewhere.
#[allow(clippy::disallowed_methods)] // a benchmark reads the kernel's accounting of real time
fn thread_cpu_nanos() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok()
}

/// (wall seconds, on-CPU seconds of this thread) taken by `f`, and its result. Without a CPU
/// clock the CPU figure is the wall figure.
#[allow(clippy::disallowed_methods, clippy::disallowed_types)] // a benchmark measures real time
fn timed<T>(f: impl FnOnce() -> T) -> ((f64, f64), T) {
    let (cpu0, start) = (thread_cpu_nanos(), std::time::Instant::now());
    let out = f();
    let wall = start.elapsed().as_secs_f64();
    let cpu = match (cpu0, thread_cpu_nanos()) {
        (Some(a), Some(b)) => b.saturating_sub(a) as f64 / 1e9,
        _ => wall,
    };
    ((wall, cpu), out)
}

/// One run: returns ((wall, cpu) seconds, events the world processed, timers fired).
fn run(seed: u64) -> ((f64, f64), u64, u64) {
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
    let (mut best_wall, mut best_cpu) = (f64::INFINITY, f64::INFINITY);
    let mut total = (0.0, 0.0, 0u64);
    for seed in 1..=runs {
        let ((wall, cpu), events, fired) = run(seed);
        (best_wall, best_cpu) = (best_wall.min(wall), best_cpu.min(cpu));
        total = (total.0 + wall, total.1 + cpu, total.2 + events);
        println!(
            "run {seed}: {fired} timer events ({events} world events) in {wall:.3} s wall, \
             {cpu:.3} s on-CPU = {:.2} M events/s wall, {:.2} M/s on-CPU",
            events as f64 / wall / 1e6,
            events as f64 / cpu.max(1e-9) / 1e6
        );
    }
    let per_run = total.2 as f64 / runs as f64;
    println!(
        "scheduler: {:.2} M events/s wall, {:.2} M/s on-CPU (mean of {runs} runs of \
         {TIMER_EVENTS} timer events; best run {:.2} M/s wall, {:.2} M/s on-CPU; target >= 5 M/s)",
        total.2 as f64 / total.0 / 1e6,
        total.2 as f64 / total.1.max(1e-9) / 1e6,
        per_run / best_wall / 1e6,
        per_run / best_cpu.max(1e-9) / 1e6
    );
}
