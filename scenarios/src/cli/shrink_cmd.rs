//! `dst shrink SCENARIO --seed N`.

use std::io::Write;
use std::path::PathBuf;

use crate::shrink::shrink as shrink_plan;

use super::run_cmd::PlanSource;
use super::{World, EXIT_OK};

#[derive(clap::Args, Debug)]
pub struct ShrinkArgs {
    #[command(flatten)]
    pub source: PlanSource,
    /// Where to write the shrunk plan (default: dst-shrunk-SCENARIO-SEED.json).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Most runs to spend.
    #[arg(long, default_value_t = 400)]
    pub max_runs: u64,
}

pub fn shrink(
    args: &ShrinkArgs,
    world: &mut dyn World,
    out: &mut dyn Write,
) -> Result<i32, String> {
    let plan = args.source.load(world)?;
    let io = |e: std::io::Error| format!("cannot write output: {e}");
    writeln!(
        out,
        "shrinking {} seed {}: {} faults, {} client operations",
        plan.scenario,
        plan.seed,
        plan.actions.len(),
        plan.workload.len()
    )
    .map_err(io)?;
    let shrunk = shrink_plan(&plan, args.max_runs, &mut |_, _| {}).map_err(|e| e.to_string())?;
    let path = args.out.clone().unwrap_or_else(|| {
        PathBuf::from(format!("dst-shrunk-{}-{}.json", plan.scenario, plan.seed))
    });
    world
        .write_file(&path, shrunk.plan.to_json().as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    writeln!(
        out,
        "still fails {} after {} runs: {} -> {} faults, {} -> {} client operations",
        shrunk.property,
        shrunk.runs,
        shrunk.actions.0,
        shrunk.actions.1,
        shrunk.ops.0,
        shrunk.ops.1
    )
    .map_err(io)?;
    for a in &shrunk.plan.actions {
        let json = serde_json::to_string(&a.action).expect("actions serialise");
        writeln!(out, "  at {:.3} s: {json}", a.at as f64 / 1e9).map_err(io)?;
    }
    // The shrunk plan, run once more: it must still fail the same way (a shrink that does not
    // replay points at non-determinism), and its trace hash is what `replay:` gives.
    let check = crate::runner::run(&shrunk.plan, &crate::runner::RunOptions::default());
    match check.verdict.property() {
        Some(p) if p == shrunk.property => {}
        other => {
            return Err(format!(
                "the shrunk plan failed {} while shrinking but {} when run again: the run is not \
                 deterministic (try dst run --plan {} --check-determinism)",
                shrunk.property,
                other.map_or("passed".to_string(), |p| format!("failed {p}")),
                path.display()
            ))
        }
    }
    writeln!(out, "trace-hash: 0x{:016x}", check.trace_hash).map_err(io)?;
    writeln!(out, "plan: {}", path.display()).map_err(io)?;
    writeln!(out, "replay: dst run --plan {}", path.display()).map_err(io)?;
    if shrunk.runs >= args.max_runs {
        writeln!(
            out,
            "the budget of {} runs ran out before every fault was tried alone; shrink further: \
             dst shrink --plan {} --max-runs {}",
            args.max_runs,
            path.display(),
            args.max_runs
        )
        .map_err(io)?;
    }
    Ok(EXIT_OK)
}
