//! Event-triggered faults and coverage on real runs: a trigger fires at its moment inside the
//! handler, the run stays deterministic, and the situations it aims at are counted.

use scenarios::coverage::Situation;
use scenarios::plan::{Action, Plan, TimedAction};
use scenarios::runner::{run, RunOptions, RunReport};
use scenarios::scenario::find;
use scenarios::trigger::{Effect, Moment};

const SEC: u64 = 1_000_000_000;

fn leader_change_plan(seed: u64) -> Plan {
    find("leader-change").expect("scenario").plan(seed, 3)
}

fn with_triggers(mut plan: Plan, on: Moment, nth: u32, then: Effect) -> Plan {
    for node in 1..=plan.nodes {
        let action = Action::Trigger { node, on, nth, then: then.clone() };
        plan.actions.push(TimedAction { at: 2 * SEC, action });
    }
    plan.sort();
    plan
}

fn go(plan: &Plan) -> RunReport {
    let r = run(plan, &RunOptions::default());
    assert!(r.ok(), "{:?}", r.verdict);
    r
}

#[test]
fn a_crash_aimed_after_a_vote_grant_fires_and_replays_exactly() {
    let base = leader_change_plan(3);
    let plan = with_triggers(base.clone(), Moment::VoteGrant, 1, Effect::CrashAtNextDiskOp);
    let a = go(&plan);
    let fired = a.coverage.count(Situation::TriggerFired);
    assert!((1..=3).contains(&fired), "fired {fired} of 3 triggers");
    assert!(
        a.coverage.count(Situation::CrashAfterVoteGrant) >= fired,
        "each fired trigger crashed its node after the grant, before any sync: {:?}",
        a.coverage
    );
    let b = go(&plan);
    assert_eq!(a.trace_hash, b.trace_hash, "same plan, same run");
    assert_ne!(a.trace_hash, go(&base).trace_hash, "the trigger changed the run");
    // Through the plan file too.
    let back = Plan::from_json(&plan.to_json()).unwrap();
    assert_eq!(go(&back).trace_hash, a.trace_hash);
}

#[test]
fn a_power_loss_aimed_at_a_new_vote_before_its_sync_loses_it() {
    let plan = with_triggers(
        leader_change_plan(5),
        Moment::HardStateWritten,
        1,
        Effect::PowerLossNow { restart_after_ns: SEC / 2 },
    );
    let r = go(&plan);
    assert!(r.coverage.count(Situation::TriggerFired) >= 1, "{:?}", r.coverage);
    assert!(r.coverage.count(Situation::PowerLoss) >= 1);
    assert!(
        r.coverage.count(Situation::PowerLossUnsyncedVote) >= 1,
        "the first trigger to fire struck between the vote's write and its sync: {:?}",
        r.coverage
    );
}

#[test]
fn a_trigger_past_its_count_never_fires_and_changes_nothing() {
    let base = leader_change_plan(3);
    let plan =
        with_triggers(base.clone(), Moment::SnapshotInstalled, 1_000, Effect::CrashAtNextDiskOp);
    let r = go(&plan);
    assert_eq!(r.coverage.count(Situation::TriggerFired), 0);
    assert_eq!(r.trace_hash, go(&base).trace_hash, "an armed trigger only watches");
}

#[test]
fn scenarios_count_the_situations_they_are_about() {
    let snap = go(&find("snapshot-install").unwrap().plan(1, 3));
    assert!(snap.coverage.count(Situation::SnapshotInstall) > 0, "{:?}", snap.coverage);
    assert!(snap.coverage.count(Situation::SnapshotSaved) > 0);
    let reads = go(&find("leader-reads").unwrap().plan(2, 3));
    assert!(reads.coverage.count(Situation::LeaderChange) > 0);
    assert!(reads.coverage.count(Situation::LeaderChangeReadsInFlight) > 0, "{:?}", reads.coverage);
}
