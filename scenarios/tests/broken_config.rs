//! Testing the testers: a deliberately broken server must be caught by a sweep and shrunk.

use scenarios::plan::Bug;
use scenarios::runner::{run, RunOptions};
use scenarios::scenario::find;

/// Acknowledging appends before the WAL save must be caught by crash-anywhere within a few
/// seeds, and shrunk to a plan of a few faults that still fails the same way.
#[test]
#[ignore = "about 200 cluster runs: .ci/run runs it in release with --ignored"]
fn a_broken_server_is_caught_and_shrunk() {
    let scenario = find("crash-anywhere").unwrap();
    let failing = (1..=40u64).find_map(|seed| {
        let mut plan = scenario.plan(seed, 3);
        plan.knobs.bug = Some(Bug(&raft::planted::ACK_BEFORE_WAL_SYNC));
        let r = run(&plan, &RunOptions::default());
        (!r.ok()).then_some((plan, r.verdict))
    });
    let (plan, verdict) = failing.expect("no seed in 1..=40 caught ack-before-wal-sync");
    let mut correct = plan.clone();
    correct.knobs.bug = None;
    let r = run(&correct, &RunOptions::default());
    assert!(r.ok(), "seed {} fails without the bug too: {:?}", plan.seed, r.verdict);
    let shrunk = scenarios::shrink::shrink(&plan, 150, &mut |_, _| {}).unwrap();
    assert_eq!(Some(shrunk.property), verdict.property());
    assert!(shrunk.plan.actions.len() <= 4, "shrunk to {:?}", shrunk.plan.actions);
    let again = run(&shrunk.plan, &RunOptions::default());
    assert_eq!(again.verdict.property(), Some(shrunk.property), "the shrunk plan replays");
}
