//! Pingpong: N nodes exchanging frames over the simulated network under a swarm fault plan
//! (crashes and restarts included), each persisting a counter to its simulated disk.
//!
//! ```text
//! cargo run -p sim --example pingpong -- --seed 7 --nodes 5 --messages 200
//! ```
//!
//! The last four lines are `seed: N`, `events: N`, `sim-time: <seconds>` and
//! `trace-hash: 0x<16 hex digits>`; the same flags always print the same lines.

use std::process::ExitCode;

use sim::world::pingpong::{build_pingpong, finish, pingpong_plan};

struct Args {
    seed: u64,
    nodes: u32,
    messages: u64,
    /// Print the rendered trace (every event) before the summary.
    trace: bool,
}

const USAGE: &str = "usage: pingpong [--seed N] [--nodes N] [--messages N] [--trace]";

fn parse_args() -> Result<Args, String> {
    let mut args = Args { seed: 1, nodes: 3, messages: 100, trace: false };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--help" || flag == "-h" {
            return Err(USAGE.to_string());
        }
        if flag == "--trace" {
            args.trace = true;
            continue;
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let bad = |e: std::num::ParseIntError| format!("{flag} {value:?}: {e}\n{USAGE}");
        match flag.as_str() {
            "--seed" => args.seed = value.parse().map_err(bad)?,
            "--nodes" => args.nodes = value.parse().map_err(bad)?,
            "--messages" => args.messages = value.parse().map_err(bad)?,
            other => return Err(format!("unknown flag {other}\n{USAGE}")),
        }
    }
    if args.nodes == 0 {
        return Err(format!("--nodes must be at least 1\n{USAGE}"));
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let plan = pingpong_plan(args.seed, args.nodes, args.messages);
    let mut kinds: Vec<&str> = plan.faults.iter().map(|f| f.fault.name()).collect();
    kinds.sort();
    kinds.dedup();
    let mut world = build_pingpong(args.seed, args.nodes, args.messages, args.trace);
    let report = finish(&mut world, args.seed, args.nodes, args.messages);
    if args.trace {
        print!("{}", world.trace().render(usize::MAX));
    }
    println!("nodes: {}", report.nodes);
    println!("messages: {}", report.messages);
    println!("faults: {} ({})", report.faults, kinds.join(", "));
    println!("halts: {}", report.halts);
    println!("nodes-done: {}/{}", report.nodes_done, report.nodes);
    println!("frames-delivered: {}", report.frames_delivered);
    println!("seed: {}", report.seed);
    println!("events: {}", report.events);
    let ns = report.sim_time.as_nanos();
    println!("sim-time: {}.{:09}", ns / 1_000_000_000, ns % 1_000_000_000);
    println!("trace-hash: 0x{:016x}", report.trace_hash);
    ExitCode::SUCCESS
}
