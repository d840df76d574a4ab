//! `dst sweep` and the bare `dst` default sweep.

use std::io::Write;
use std::path::PathBuf;

use crate::plan::Bug;
use crate::scenario::{self, Scenario};
use crate::sweep::{
    buggify_counts, coverage_table, run_seed, summarize, unreached_claims, Seeds, SweepRun,
};

use super::{Job, World, EXIT_FAILED, EXIT_OK};

/// Seeds per scenario in the bare `dst` sweep: about two minutes on a 2-core machine (7,000
/// runs; measured 4,000 in 69 s).
pub const DEFAULT_SEEDS: u64 = 700;

#[derive(clap::Args, Debug)]
pub struct SweepArgs {
    /// Scenarios to sweep (repeatable); every scenario by default.
    #[arg(long = "scenario", value_name = "S")]
    pub scenarios: Vec<String>,
    /// Seeds: `A..B` (B excluded), `A..=B`, or one seed.
    #[arg(long, default_value = "1..=20")]
    pub seeds: Seeds,
    /// Run with a deliberate server bug (to check that the oracles catch it).
    #[arg(long, value_name = "BUG")]
    pub bug: Option<crate::plan::Bug>,
    /// Cluster size (default: 3; `swarm` draws 1, 3 or 5 from each seed).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=7))]
    pub nodes: Option<u32>,
    /// Write every run and the summary as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Fail (exit 1) when a situation a swept scenario claims (see `dst list`) happened in
    /// none of its runs (meant for long sweeps: seeds 1..=200).
    #[arg(long)]
    pub require_coverage: bool,
}

pub fn sweep(args: &SweepArgs, world: &mut dyn World, out: &mut dyn Write) -> Result<i32, String> {
    let mut chosen: Vec<&'static Scenario> = Vec::new();
    for name in &args.scenarios {
        let s = scenario::find(name).ok_or_else(|| {
            format!("unknown scenario {name:?}; known scenarios: {}", scenario::names())
        })?;
        chosen.push(s);
    }
    if chosen.is_empty() {
        chosen = scenario::CATALOGUE.iter().collect();
    }
    let opts = Options {
        nodes: args.nodes,
        bug: args.bug,
        json: args.json.as_ref(),
        require_coverage: args.require_coverage,
    };
    execute(&chosen, &args.seeds, &opts, world, out)
}

/// How a sweep runs and reports, besides what it sweeps.
struct Options<'a> {
    nodes: Option<u32>,
    bug: Option<Bug>,
    json: Option<&'a PathBuf>,
    require_coverage: bool,
}

/// A bare `dst`: every scenario over seeds `1..=DEFAULT_SEEDS`.
pub fn default_sweep(world: &mut dyn World, out: &mut dyn Write) -> Result<i32, String> {
    let all: Vec<&'static Scenario> = scenario::CATALOGUE.iter().collect();
    let io = |e: std::io::Error| format!("cannot write output: {e}");
    writeln!(
        out,
        "dst: sweeping {} scenarios x {DEFAULT_SEEDS} seeds (see `dst --help` for more)",
        all.len()
    )
    .map_err(io)?;
    let opts = Options { nodes: None, bug: None, json: None, require_coverage: false };
    execute(&all, &Seeds(1..=DEFAULT_SEEDS), &opts, world, out)
}

fn execute(
    scenarios: &[&'static Scenario],
    seeds: &Seeds,
    opts: &Options<'_>,
    world: &mut dyn World,
    out: &mut dyn Write,
) -> Result<i32, String> {
    let (nodes, bug) = (opts.nodes, opts.bug);
    let mut jobs: Vec<Job> = Vec::new();
    let mut labels = Vec::new();
    for s in scenarios {
        for seed in seeds.0.clone() {
            let s: &'static Scenario = s;
            jobs.push(Box::new(move || run_seed(s, seed, nodes, bug)));
            labels.push(format!("{} {seed}", s.name));
        }
    }
    let start = world.wall_secs();
    let mut bar = world.progress(jobs.len() as u64);
    let runs = world.run_jobs(jobs, &mut |i| bar.inc(&labels[i]));
    bar.finish();
    let wall = world.wall_secs() - start;
    let io = |e: std::io::Error| format!("cannot write output: {e}");
    print_summary(&runs, wall, out).map_err(io)?;
    let unreached = unreached_claims(&runs);
    print_coverage(&runs, &unreached, out).map_err(io)?;
    if let Some(path) = opts.json {
        let doc = serde_json::json!({
            "runs": runs,
            "summary": summarize(&runs),
            "coverage": coverage_table(&runs),
            "unreached": unreached,
        });
        let text = serde_json::to_string_pretty(&doc).expect("sweep reports serialise");
        world
            .write_file(path, text.as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    let covered = !opts.require_coverage || unreached.is_empty();
    Ok(if runs.iter().all(SweepRun::ok) && covered { EXIT_OK } else { EXIT_FAILED })
}

/// The coverage table (situation, runs where it happened, total count), then an `UNREACHED`
/// line per claimed situation no run of its scenario reached.
fn print_coverage(
    runs: &[SweepRun],
    unreached: &[crate::coverage::Unreached],
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let rows = coverage_table(runs);
    let w = rows.iter().map(|r| r.situation.name().len()).max().unwrap_or(9).max(9);
    writeln!(out, "{:w$}  {:>5}  {:>8}", "situation", "runs", "total")?;
    for r in &rows {
        writeln!(out, "{:w$}  {:>5}  {:>8}", r.situation.name(), r.runs, r.total)?;
    }
    for u in unreached {
        writeln!(
            out,
            "UNREACHED {}: claims {} but none of its {} runs reached it",
            u.scenario, u.situation, u.runs
        )?;
    }
    Ok(())
}

fn print_summary(runs: &[SweepRun], wall: f64, out: &mut dyn Write) -> std::io::Result<()> {
    let sums = summarize(runs);
    let w = sums.iter().map(|s| s.scenario.len()).max().unwrap_or(8).max(8);
    writeln!(
        out,
        "{:w$}  {:>5}  {:>6}  {:>10}  {:>12}",
        "scenario", "runs", "failed", "sim-s", "events"
    )?;
    for s in &sums {
        writeln!(
            out,
            "{:w$}  {:>5}  {:>6}  {:>10.1}  {:>12}",
            s.scenario, s.runs, s.failed, s.sim_secs, s.events
        )?;
    }
    let failed: Vec<&SweepRun> = runs.iter().filter(|r| !r.ok()).collect();
    let sim: f64 = sums.iter().map(|s| s.sim_secs).sum();
    let speed = if wall > 0.0 { format!(", {:.0}x real time", sim / wall) } else { String::new() };
    writeln!(
        out,
        "{} runs, {} failed, {sim:.0} simulated seconds{speed}",
        runs.len(),
        failed.len()
    )?;
    let sites = buggify_counts(runs);
    if sites.runs > 0 {
        write!(out, "{sites}")?;
    }
    for r in failed {
        print_failure(r, out)?;
    }
    let undecided: Vec<String> = runs
        .iter()
        .filter(|r| r.ok() && r.undecided)
        .map(|r| format!("{} seed {}", r.scenario, r.seed))
        .collect();
    if !undecided.is_empty() {
        writeln!(
            out,
            "NOT CHECKED: {} passing run(s) whose linearizability search ran out of budget: {}",
            undecided.len(),
            undecided.join(", ")
        )?;
    }
    Ok(())
}

/// The `FAIL ...` line of a failed run and the `reproduce:` line that replays it.
pub(super) fn print_failure(r: &SweepRun, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(
        out,
        "FAIL {} seed {}: {}: {}",
        r.scenario,
        r.seed,
        r.property.as_deref().unwrap_or("?"),
        r.detail.as_deref().unwrap_or("")
    )?;
    writeln!(out, "reproduce: {}", r.reproduce())
}
