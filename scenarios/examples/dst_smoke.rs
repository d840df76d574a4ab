//! Temporary smoke driver while the CLI lands.
use scenarios::runner::{run, RunOptions};
use scenarios::scenario::find;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let name = args.get(1).map(String::as_str).unwrap_or("swarm");
    let seed: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1);
    let plan = find(name).expect("scenario").plan(seed, 3);
    let r = run(&plan, &RunOptions::default());
    println!(
        "{name} seed {seed}: {:?} events {} sim {:?} hash {:016x} stats {:?}",
        r.verdict, r.events, r.sim_time, r.trace_hash, r.stats
    );
}
