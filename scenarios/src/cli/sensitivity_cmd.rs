//! `dst bugs` and `dst sensitivity`: the planted-bug catalogue, and whether the sweep catches
//! each bug.

use std::io::Write;
use std::path::PathBuf;

use crate::bugs;
use crate::plan::Bug;
use crate::scenario::{self, Scenario};
use crate::sensitivity::{self, BugResult};
use crate::sweep::{run_spec, RunSpec, Seeds, SweepRun};

use super::{Job, World, EXIT_FAILED, EXIT_OK};

#[derive(clap::Args, Debug)]
pub struct SensitivityArgs {
    /// Seeds: `A..B` (B excluded), `A..=B`, or one seed.
    #[arg(long, default_value = "1..=200")]
    pub seeds: Seeds,
    /// Bugs to try (repeatable); every planted bug by default.
    #[arg(long = "bug", value_name = "BUG")]
    pub bugs: Vec<Bug>,
    /// Scenarios to sweep (repeatable); every scenario by default.
    #[arg(long = "scenario", value_name = "S")]
    pub scenarios: Vec<String>,
    /// Cluster size (default: 3; `swarm` draws 1, 3 or 5 from each seed).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=7))]
    pub nodes: Option<u32>,
    /// A file listing bugs (one name per line, `#` comments) that must be caught: exit 1 only
    /// when one of them is missed; other misses are reported but do not fail.
    #[arg(long, value_name = "FILE")]
    pub ratchet: Option<PathBuf>,
    /// Write the per-bug results as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

/// `dst bugs`: one line per planted bug.
pub fn list_bugs(out: &mut dyn Write) -> Result<i32, String> {
    let all = bugs::catalogue();
    let w = all.iter().map(|b| b.name.len()).max().unwrap_or(0);
    let lw = all.iter().map(|b| b.layer.len()).max().unwrap_or(0);
    for b in all {
        writeln!(out, "{:w$}  {:lw$}  {}", b.name, b.layer, b.summary)
            .map_err(|e| format!("cannot write output: {e}"))?;
    }
    Ok(EXIT_OK)
}

pub fn sensitivity(
    args: &SensitivityArgs,
    world: &mut dyn World,
    out: &mut dyn Write,
) -> Result<i32, String> {
    let scenarios = chosen_scenarios(&args.scenarios)?;
    let ratchet = match &args.ratchet {
        Some(path) => {
            let bytes = world
                .read_file(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let text =
                String::from_utf8(bytes).map_err(|_| format!("{}: not UTF-8", path.display()))?;
            Some(
                sensitivity::parse_ratchet(&text)
                    .map_err(|e| format!("{}: {e}", path.display()))?,
            )
        }
        None => None,
    };
    let bugs: Vec<Bug> = if args.bugs.is_empty() {
        bugs::catalogue().into_iter().map(Bug).collect()
    } else {
        args.bugs.clone()
    };
    let start = world.wall_secs();
    let mut run_chunk = |specs: Vec<RunSpec>| -> Vec<SweepRun> {
        let jobs: Vec<Job> =
            specs.into_iter().map(|s| Box::new(move || run_spec(&s)) as Job).collect();
        world.run_jobs(jobs, &mut |_| {})
    };
    let results = sensitivity::sweep(&bugs, &scenarios, &args.seeds, args.nodes, &mut run_chunk);
    let wall = world.wall_secs() - start;
    let io = |e: std::io::Error| format!("cannot write output: {e}");
    print_table(&results, &args.seeds, wall, out).map_err(io)?;
    if let Some(path) = &args.json {
        let doc = serde_json::json!({
            "seeds": args.seeds.to_string(),
            "nodes": args.nodes,
            "bugs": results,
            "caught": results.iter().filter(|r| r.caught).count(),
            "median_seeds_to_detection": sensitivity::median_seeds(&results),
        });
        let text = serde_json::to_string_pretty(&doc).expect("reports serialise");
        world
            .write_file(path, text.as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    let missed = |b: &Bug| results.iter().any(|r| r.bug == b.name() && !r.caught);
    let failed = match &ratchet {
        Some(must) => {
            let lost: Vec<&str> = must.iter().filter(|b| missed(b)).map(|b| b.name()).collect();
            if !lost.is_empty() {
                writeln!(out, "ratchet: missed bugs that were caught before: {}", lost.join(", "))
                    .map_err(io)?;
            }
            let new: Vec<&str> = results
                .iter()
                .filter(|r| r.caught && !must.iter().any(|b| b.name() == r.bug))
                .map(|r| r.bug.as_str())
                .collect();
            if !new.is_empty() {
                writeln!(out, "ratchet: caught now, add to the ratchet file: {}", new.join(", "))
                    .map_err(io)?;
            }
            !lost.is_empty()
        }
        None => results.iter().any(|r| !r.caught),
    };
    Ok(if failed { EXIT_FAILED } else { EXIT_OK })
}

fn chosen_scenarios(names: &[String]) -> Result<Vec<&'static Scenario>, String> {
    if names.is_empty() {
        return Ok(scenario::CATALOGUE.iter().collect());
    }
    names
        .iter()
        .map(|name| {
            scenario::find(name).ok_or_else(|| {
                format!("unknown scenario {name:?}; known scenarios: {}", scenario::names())
            })
        })
        .collect()
}

fn print_table(
    results: &[BugResult],
    seeds: &Seeds,
    wall: f64,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let w = results.iter().map(|r| r.bug.len()).max().unwrap_or(3).max(3);
    writeln!(
        out,
        "{:w$}  {:11}  {:6}  {:>5}  {:>6}  {:>7}  {:<20}  first failure",
        "bug", "layer", "result", "seeds", "runs", "wall-s", "property"
    )?;
    for r in results {
        let (result, seeds_n, property, first) = match &r.first {
            Some(f) => (
                "caught",
                r.seeds_to_detection.map_or("-".into(), |n| n.to_string()),
                f.property.clone().unwrap_or_default(),
                format!("{} seed {}", f.scenario, f.seed),
            ),
            None => ("MISSED", "-".into(), String::new(), String::new()),
        };
        writeln!(
            out,
            "{:w$}  {:11}  {:6}  {:>5}  {:>6}  {:>7.1}  {:<20}  {first}",
            r.bug, r.layer, result, seeds_n, r.runs, r.wall_secs, property
        )?;
    }
    let caught = results.iter().filter(|r| r.caught).count();
    let median = sensitivity::median_seeds(results).map_or("-".to_string(), |m| m.to_string());
    writeln!(
        out,
        "{caught} of {} bugs caught within seeds {seeds}; median seeds to detection {median}; \
         {wall:.1} s",
        results.len()
    )?;
    for r in results {
        if let Some(f) = &r.first {
            super::sweep_cmd::print_failure(f, out)?;
        }
    }
    Ok(())
}
