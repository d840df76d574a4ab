//! Sensitivity: does the testbed catch the planted bugs? One sweep per bug, stopped at the
//! first seed that fails.
//!
//! Seeds are tried in order, a chunk at a time: every (bug still missed, seed of the chunk,
//! scenario) run of a chunk goes to the job runner together, so the sweep stays parallel while
//! each bug stops soon after its first failing seed. A bug's first failure is the lowest failing
//! seed and, at that seed, the first failing scenario in catalogue order — the same whatever
//! the number of workers, because a chunk is always run whole.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::plan::Bug;
use crate::scenario::Scenario;
use crate::sweep::{RunSpec, Seeds, SweepRun};

/// What the sweep found for one bug.
#[derive(Clone, Debug, Serialize)]
pub struct BugResult {
    pub bug: String,
    pub layer: String,
    pub caught: bool,
    /// The first failing run (lowest seed, then catalogue order).
    pub first: Option<SweepRun>,
    /// Seeds tried up to and including the first failing one (the whole range when missed).
    pub seeds_to_detection: Option<u64>,
    /// Runs spent on this bug.
    pub runs: u64,
    /// Wall-clock seconds its runs took, summed (as measured by the job runner).
    pub wall_secs: f64,
}

/// Seeds per chunk: small enough to stop early, big enough to keep every worker busy.
pub const CHUNK_SEEDS: u64 = 2;

/// Sweeps `bugs` over `scenarios` x `seeds`; `run_chunk` runs a batch of specs (possibly in
/// parallel) and returns one result per spec, in order.
pub fn sweep(
    bugs: &[Bug],
    scenarios: &[&'static Scenario],
    seeds: &Seeds,
    nodes: Option<u32>,
    run_chunk: &mut dyn FnMut(Vec<RunSpec>) -> Vec<SweepRun>,
) -> Vec<BugResult> {
    let mut results: Vec<BugResult> = bugs
        .iter()
        .map(|b| BugResult {
            bug: b.name().to_string(),
            layer: b.0.layer.to_string(),
            caught: false,
            first: None,
            seeds_to_detection: None,
            runs: 0,
            wall_secs: 0.0,
        })
        .collect();
    let (start, end) = (*seeds.0.start(), *seeds.0.end());
    let mut lo = start;
    while lo <= end && results.iter().any(|r| !r.caught) {
        let hi = lo.saturating_add(CHUNK_SEEDS - 1).min(end);
        let mut specs = Vec::new();
        for (i, bug) in bugs.iter().enumerate() {
            if results[i].caught {
                continue;
            }
            for seed in lo..=hi {
                for &scenario in scenarios {
                    specs.push(RunSpec { scenario, seed, nodes, bug: Some(*bug) });
                }
            }
        }
        let runs = run_chunk(specs);
        record(&mut results, scenarios, runs, start);
        if hi == end {
            break;
        }
        lo = hi + 1;
    }
    for r in results.iter_mut().filter(|r| !r.caught) {
        r.seeds_to_detection = None;
    }
    results
}

/// Folds one chunk's runs into the per-bug results.
fn record(
    results: &mut [BugResult],
    scenarios: &[&'static Scenario],
    runs: Vec<SweepRun>,
    start: u64,
) {
    let order = |name: &str| scenarios.iter().position(|s| s.name == name).unwrap_or(usize::MAX);
    let mut by_bug: BTreeMap<String, Vec<SweepRun>> = BTreeMap::new();
    for run in runs {
        let name = run.bug.map(|b| b.name().to_string()).unwrap_or_default();
        by_bug.entry(name).or_default().push(run);
    }
    for r in results.iter_mut() {
        let Some(runs) = by_bug.remove(&r.bug) else { continue };
        r.runs += runs.len() as u64;
        r.wall_secs += runs.iter().map(|x| x.wall_secs).sum::<f64>();
        let first =
            runs.into_iter().filter(|x| !x.ok()).min_by_key(|x| (x.seed, order(&x.scenario)));
        if let Some(f) = first {
            r.caught = true;
            r.seeds_to_detection = Some(f.seed - start + 1);
            r.first = Some(f);
        }
    }
}

/// The median seeds-to-detection of the caught bugs.
pub fn median_seeds(results: &[BugResult]) -> Option<u64> {
    let mut v: Vec<u64> = results.iter().filter_map(|r| r.seeds_to_detection).collect();
    v.sort_unstable();
    v.get(v.len().checked_sub(1)? / 2).copied()
}

/// Parses a ratchet file: one bug name per line; `#` starts a comment. Names must be known.
pub fn parse_ratchet(text: &str) -> Result<Vec<Bug>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let name = line.split('#').next().unwrap_or("").trim();
        if name.is_empty() {
            continue;
        }
        let bug: Bug = name.parse().map_err(|e| format!("line {}: {e}", i + 1))?;
        if !out.contains(&bug) {
            out.push(bug);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::CATALOGUE;

    fn fake(spec: &RunSpec, fails: bool) -> SweepRun {
        SweepRun {
            scenario: spec.scenario.name.to_string(),
            seed: spec.seed,
            nodes: spec.nodes.unwrap_or(3),
            bug: spec.bug,
            result: if fails { "fail" } else { "ok" },
            property: fails.then(|| "durability".to_string()),
            detail: None,
            trace_hash: "0x0".into(),
            sim_secs: 1.0,
            events: 1,
            wall_secs: 0.5,
            undecided: false,
            coverage: Default::default(),
            situations: Default::default(),
            buggify: false,
            buggify_fired: Default::default(),
        }
    }

    #[test]
    fn stops_at_the_first_failing_chunk_and_reports_the_lowest_seed() {
        let bug: Bug = "ack-before-wal-sync".parse().unwrap();
        let scenarios: Vec<&'static Scenario> = CATALOGUE.iter().take(3).collect();
        let mut asked = Vec::new();
        // Fails at seed 4 in the third scenario and at seed 5 in the first.
        let mut runner = |specs: Vec<RunSpec>| {
            asked.push(specs.len());
            specs
                .iter()
                .map(|s| {
                    let fails = (s.seed == 4 && s.scenario.name == scenarios[2].name)
                        || (s.seed == 5 && s.scenario.name == scenarios[0].name);
                    fake(s, fails)
                })
                .collect()
        };
        let r = sweep(&[bug], &scenarios, &Seeds(1..=100), None, &mut runner);
        assert_eq!(asked, vec![6, 6], "two chunks of two seeds, then stop");
        assert!(r[0].caught);
        let first = r[0].first.as_ref().unwrap();
        assert_eq!((first.seed, first.scenario.as_str()), (4, scenarios[2].name));
        assert_eq!(r[0].seeds_to_detection, Some(4));
        assert_eq!(r[0].runs, 12);
        assert_eq!(r[0].wall_secs, 6.0);
        assert_eq!(median_seeds(&r), Some(4));
    }

    #[test]
    fn a_missed_bug_runs_the_whole_range() {
        let bug: Bug = "ack-before-wal-sync".parse().unwrap();
        let scenarios: Vec<&'static Scenario> = CATALOGUE.iter().take(2).collect();
        let mut runner = |specs: Vec<RunSpec>| specs.iter().map(|s| fake(s, false)).collect();
        let r = sweep(&[bug], &scenarios, &Seeds(3..=7), None, &mut runner);
        assert!(!r[0].caught && r[0].first.is_none() && r[0].seeds_to_detection.is_none());
        assert_eq!(r[0].runs, 10);
        assert_eq!(median_seeds(&r), None);
    }

    #[test]
    fn ratchet_files_name_known_bugs() {
        let bugs = parse_ratchet("# caught in CI\nack-before-wal-sync  # server\n\n").unwrap();
        assert_eq!(bugs.len(), 1);
        let e = parse_ratchet("ack-before-wal-sync\nnope\n").unwrap_err();
        assert!(e.starts_with("line 2: unknown bug"), "{e}");
    }
}
