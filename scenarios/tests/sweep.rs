//! The stack passes every scenario over 50 seeds, and the seeds that once found bugs.

use scenarios::scenario::CATALOGUE;
use scenarios::sweep::{run_seed, SweepRun};

/// Seeds that found real bugs, kept as regressions (each name says what it found). A change to
/// the stack changes what a seed does, so these are a floor, not a proof.
const FOUND_BUGS: &[(&str, u64, u32, &str)] = &[
    ("swarm", 50, 3, "a member that missed an addition refused the new leader forever"),
    ("swarm", 73, 3, "a crash right after a snapshot install left the state machine ahead"),
    ("swarm", 89, 3, "a removal committed after its answer was lost counted as a dead member"),
    ("swarm", 300, 3, "the same, seen as members that never converged"),
    ("swarm", 230, 5, "members removed while down lingered; the refusal-log bound mixed peers"),
];

fn failures(runs: impl IntoIterator<Item = SweepRun>) -> Vec<String> {
    runs.into_iter()
        .filter(|r| !r.ok())
        .map(|r| {
            format!(
                "{}: {} ({})",
                r.reproduce(),
                r.property.unwrap_or_default(),
                r.detail.unwrap_or_default()
            )
        })
        .collect()
}

#[test]
#[ignore = "500 cluster runs, about a minute in release: .ci/run runs it with --ignored"]
fn every_scenario_passes_fifty_seeds() {
    let runs =
        CATALOGUE.iter().flat_map(|s| (21..=70).map(move |seed| run_seed(s, seed, None, None)));
    let failed = failures(runs);
    assert!(failed.is_empty(), "{} failed runs:\n{}", failed.len(), failed.join("\n"));
}

#[test]
fn seeds_that_found_bugs_pass() {
    let runs = FOUND_BUGS.iter().map(|(name, seed, nodes, _)| {
        let s = CATALOGUE.iter().find(|s| s.name == *name).expect("scenario exists");
        (run_seed(s, *seed, Some(*nodes), None), *nodes)
    });
    let failed: Vec<String> = runs
        .filter(|(r, _)| !r.ok())
        .map(|(r, _)| format!("{}: {:?} ({:?})", r.reproduce(), r.property, r.detail))
        .collect();
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}
