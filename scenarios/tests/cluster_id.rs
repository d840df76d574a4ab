//! The cluster-ID oracle end to end: a member re-created with the same member ID in another
//! cluster is refused and nothing crosses; with the cluster check skipped on message frames,
//! the run fails at the first crossing, naming both clusters.

use scenarios::oracle::Property;
use scenarios::plan::{Action, Bug, Plan, TimedAction};
use scenarios::runner::{run, RunOptions};
use scenarios::scenario::find;
use scenarios::workload::WorkloadSpec;
use sim::time::Duration;

const SEC: u64 = 1_000_000_000;

/// Six seconds of load; node 3 is re-created in another cluster at 2 s.
fn impostor_plan() -> Plan {
    let s = find("cluster-id-mismatch").unwrap();
    let mut plan = s.plan_with(5, 3, Duration::from_secs(6), &WorkloadSpec::default());
    plan.actions =
        vec![TimedAction { at: 2 * SEC, action: Action::SameIdOtherCluster { node: 3 } }];
    plan
}

#[test]
fn an_impostor_with_the_same_member_id_is_refused_and_nothing_crosses() {
    let r = run(&impostor_plan(), &RunOptions::default());
    assert!(r.ok(), "{:?}", r.verdict);
    assert!(r.stats.ops_ok > 0, "the other two members kept serving");
}

#[test]
fn a_skipped_cluster_check_fails_the_run_at_the_first_crossing() {
    let mut plan = impostor_plan();
    plan.knobs.bug = Some(Bug(&net::planted::MESSAGES_SKIP_CLUSTER_CHECK));
    let r = run(&plan, &RunOptions::default());
    assert_eq!(r.verdict.property(), Some(Property::ClusterId), "{:?}", r.verdict);
    let scenarios::runner::Verdict::Fail { detail, .. } = &r.verdict else { unreachable!() };
    assert!(
        detail.contains("handed raft a message from member") && detail.contains("carried cluster"),
        "{detail}"
    );
}
