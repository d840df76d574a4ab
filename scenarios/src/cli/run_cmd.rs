//! `dst run SCENARIO --seed N` and `dst run --plan FILE`.

use std::io::Write;
use std::path::PathBuf;

use crate::check::history_file;
use crate::determinism::{self, Determinism};
use crate::plan::Plan;
use crate::runner::{run as run_plan, RunOptions, RunReport, Verdict};
use crate::scenario;

use super::{World, EXIT_FAILED, EXIT_OK};

/// Where a run's plan comes from: a scenario and a seed, or a saved plan file.
#[derive(clap::Args, Debug)]
pub struct PlanSource {
    /// The scenario (see `dst list`).
    #[arg(required_unless_present = "plan", conflicts_with = "plan")]
    pub scenario: Option<String>,
    /// The seed: it draws the fault plan and the workload, and everything else in the run.
    #[arg(long, required_unless_present = "plan", conflicts_with = "plan")]
    pub seed: Option<u64>,
    /// Run with a deliberate server bug (to check that the oracles catch it).
    #[arg(long, value_name = "BUG")]
    pub bug: Option<crate::plan::Bug>,
    /// Cluster size (default: 3; `swarm` draws 1, 3 or 5 from the seed).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=7))]
    pub nodes: Option<u32>,
    /// Use a saved plan (faults + workload) instead of drawing one from a seed.
    #[arg(long, value_name = "FILE")]
    pub plan: Option<PathBuf>,
}

impl PlanSource {
    /// The plan, with `--bug` applied; `Err` is an input error.
    pub fn load(&self, world: &mut dyn World) -> Result<Plan, String> {
        let mut plan =
            load_plan(self.scenario.as_deref(), self.seed, self.nodes, self.plan.as_ref(), world)?;
        if self.bug.is_some() {
            plan.knobs.bug = self.bug;
        }
        Ok(plan)
    }
}

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub source: PlanSource,
    /// Print the whole trace, one event per line, before the verdict.
    #[arg(long)]
    pub trace: bool,
    /// Write the trace to FILE.
    #[arg(long, value_name = "FILE")]
    pub trace_out: Option<PathBuf>,
    /// Write the run's plan (replayable with --plan) to FILE.
    #[arg(long, value_name = "FILE")]
    pub plan_out: Option<PathBuf>,
    /// Write the client history (Jepsen EDN, readable by `dst check-history`) to FILE.
    #[arg(long, value_name = "FILE")]
    pub history_out: Option<PathBuf>,
    /// Run the plan twice in this process and compare the traces event for event: on a
    /// mismatch, name the first divergent trace event (time, node, kind, both versions) and
    /// exit 1.
    #[arg(long)]
    pub check_determinism: bool,
}

/// Resolves the plan a `run` or `shrink` asks for; `Err` is an input error.
pub fn load_plan(
    scenario: Option<&str>,
    seed: Option<u64>,
    nodes: Option<u32>,
    plan: Option<&PathBuf>,
    world: &mut dyn World,
) -> Result<Plan, String> {
    if let Some(path) = plan {
        let bytes =
            world.read_file(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| format!("{}: plan file is not UTF-8", path.display()))?;
        return Plan::from_json(&text).map_err(|e| format!("{}: {e}", path.display()));
    }
    let name = scenario.ok_or("a scenario is required")?;
    let s = scenario::find(name).ok_or_else(|| {
        format!("unknown scenario {name:?}; known scenarios: {}", scenario::names())
    })?;
    Ok(s.plan_for(seed.ok_or("--seed is required")?, nodes))
}

pub fn run(args: &RunArgs, world: &mut dyn World, out: &mut dyn Write) -> Result<i32, String> {
    let plan = args.source.load(world)?;
    if let Some(path) = &args.plan_out {
        write(world, path, plan.to_json().as_bytes())?;
    }
    let keep_trace = args.trace || args.trace_out.is_some();
    let start = world.wall_secs();
    let io = |e: std::io::Error| format!("cannot write output: {e}");
    let report = if args.check_determinism {
        match determinism::check(&plan) {
            Determinism::Same(report) => {
                writeln!(out, "determinism: ok, two runs gave the same trace").map_err(io)?;
                *report
            }
            Determinism::Differs { what, first } => {
                writeln!(out, "determinism: FAIL {} seed {}: {what}", plan.scenario, plan.seed)
                    .map_err(io)?;
                let wall = world.wall_secs() - start;
                print_report(&first, wall, args.source.plan.is_some(), out).map_err(io)?;
                return Ok(EXIT_FAILED);
            }
        }
    } else {
        run_plan(&plan, &RunOptions { keep_trace })
    };
    let wall = world.wall_secs() - start;
    if let Some(trace) = &report.trace {
        if args.trace {
            out.write_all(trace.as_bytes()).map_err(io)?;
        }
        if let Some(path) = &args.trace_out {
            write(world, path, trace.as_bytes())?;
        }
    }
    if let Some(path) = &args.history_out {
        write(world, path, history_file::write(&report.history).as_bytes())?;
    }
    print_report(&report, wall, args.source.plan.is_some(), out).map_err(io)?;
    Ok(if report.ok() { EXIT_OK } else { EXIT_FAILED })
}

fn write(world: &mut dyn World, path: &std::path::Path, bytes: &[u8]) -> Result<(), String> {
    world.write_file(path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// The verdict block; its last six lines are the stable interface scripts read.
pub fn print_report(
    r: &RunReport,
    wall: f64,
    from_file: bool,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let p = &r.plan;
    let s = &r.stats;
    writeln!(out, "scenario: {} ({} nodes)", p.scenario, p.nodes)?;
    writeln!(out, "environment: {}", p.knobs.env)?;
    writeln!(
        out,
        "snapshots: every {} entries, {} kept behind for slow followers",
        p.knobs.snapshot_count, p.knobs.catch_up_entries
    )?;
    match &p.knobs.buggify {
        None => writeln!(out, "buggify: off")?,
        Some(b) => writeln!(out, "buggify: {b}")?,
    }
    writeln!(
        out,
        "plan: {} faults, {} client operations over {:.1} s",
        p.actions.len(),
        p.workload.len(),
        p.duration_ns as f64 / 1e9
    )?;
    for (at, t) in p.triggers() {
        writeln!(out, "trigger: at {:.3} s: {t}", at as f64 / 1e9)?;
    }
    writeln!(
        out,
        "history: {} operations ({} ok, {} failed, {} unknown); {} entries applied, {} terms \
         with a leader, {} restarts checked",
        s.ops,
        s.ops_ok,
        s.ops_failed,
        s.ops_unknown,
        s.applied_entries,
        s.terms_with_leader,
        s.restarts_checked
    )?;
    let hits: Vec<String> =
        r.coverage.to_map().iter().map(|(name, n)| format!("{name}={n}")).collect();
    if !hits.is_empty() {
        writeln!(out, "situations: {}", hits.join(" "))?;
    }
    if p.knobs.buggify.is_some() {
        let fired: Vec<String> = r.buggify_fired.iter().map(|(s, n)| format!("{s} x{n}")).collect();
        let fired = if fired.is_empty() { "none".to_string() } else { fired.join(", ") };
        writeln!(out, "buggify fired: {fired}")?;
    }
    if s.linearizability_unknown {
        writeln!(out, "note: the linearizability search ran out of budget (not checked)")?;
    }
    if let Verdict::Fail { property, detail } = &r.verdict {
        writeln!(out, "failure: {property}: {detail}")?;
        if !from_file {
            let args = crate::sweep::spec_args(&p.scenario, p.seed, p.nodes, p.knobs.bug);
            writeln!(out, "reproduce: dst run {args}")?;
            writeln!(out, "shrink: dst shrink {args}")?;
        }
    }
    writeln!(out, "seed: {}", p.seed)?;
    match &r.verdict {
        Verdict::Ok => writeln!(out, "result: ok")?,
        Verdict::Fail { property, .. } => writeln!(out, "result: fail ({property})")?,
    }
    let sim = r.sim_time.as_secs_f64();
    writeln!(out, "trace-hash: 0x{:016x}", r.trace_hash)?;
    writeln!(out, "sim-time: {sim:.3}")?;
    writeln!(out, "wall-time: {wall:.3}")?;
    let speed = if wall > 0.0 { format!("{:.0}x", sim / wall) } else { "n/a".into() };
    writeln!(out, "speed: {speed}")
}
