//! Property testing in your own CI: proptest strategies for plans, and a function that runs
//! one and returns its report.
//!
//! ```no_run
//! use proptest::prelude::*;
//! use scenarios::prop::{fault_plan, run};
//!
//! proptest! {
//!     #![proptest_config(ProptestConfig::with_cases(16))]
//!     #[test]
//!     fn the_stack_is_safe(plan in fault_plan()) {
//!         let report = run(plan);
//!         prop_assert!(report.ok(), "{:?}", report.verdict);
//!     }
//! }
//! ```
//!
//! Plans are built from proptest collections (a seed, a list of timed actions, a list of client
//! operations), so when a case fails proptest shrinks it the usual way: fewer actions, fewer
//! operations, smaller node numbers and times. Times are within [`PROP_DURATION_NS`]; written
//! values are renumbered so they stay unique whatever proptest removes.

use proptest::prelude::*;
use sim::fault::Fault;

use crate::plan::{Action, ClientOp, Knobs, Plan, TimedAction, WorkOp};
use crate::runner::{run as run_plan, RunOptions, RunReport};

/// Length of the fault phase of generated plans (10 simulated seconds).
pub const PROP_DURATION_NS: u64 = 10_000_000_000;
const NODES: u32 = 3;
const KEYS: u8 = 4;

fn node() -> impl Strategy<Value = u32> {
    1..=NODES
}

fn at() -> impl Strategy<Value = u64> {
    0..PROP_DURATION_NS
}

/// One fault or cluster disruption; every disruptive one is undone by the heal that ends the
/// fault phase, so plans need no explicit undo.
pub fn action() -> impl Strategy<Value = Action> {
    let sim = |f: Fault| Action::Sim { fault: f };
    prop_oneof![
        node().prop_map(move |n| sim(Fault::Crash { node: n })),
        (node(), 0..300u64).prop_map(move |(n, op)| sim(Fault::CrashAtDiskOp { node: n, op })),
        node().prop_map(move |n| sim(Fault::Restart { node: n })),
        node().prop_map(move |n| sim(Fault::Isolate { node: n })),
        (node(), node()).prop_map(move |(a, b)| sim(Fault::Partition { a, b })),
        (node(), node()).prop_map(move |(from, to)| sim(Fault::PartitionOneWay { from, to })),
        Just(sim(Fault::Heal)),
        node().prop_map(move |n| sim(Fault::Pause { node: n, for_ns: 500_000_000 })),
        Just(Action::PowerLoss),
        Just(Action::CrashLeader),
        Just(Action::IsolateLeader),
        Just(Action::TransferLeader),
        Just(Action::RestartAll),
    ]
}

/// Timed actions, at most `max` of them.
pub fn actions(max: usize) -> impl Strategy<Value = Vec<TimedAction>> {
    proptest::collection::vec((at(), action()), 0..=max).prop_map(|v| {
        let mut out: Vec<TimedAction> =
            v.into_iter().map(|(at, action)| TimedAction { at, action }).collect();
        out.sort_by_key(|a| a.at);
        out
    })
}

/// One client operation (written values are placeholders, renumbered by [`workload`]).
fn work_op() -> impl Strategy<Value = WorkOp> {
    let key = 0..KEYS;
    prop_oneof![
        key.clone().prop_map(|key| WorkOp::Put { key, value: 0 }),
        key.clone().prop_map(|key| WorkOp::Get { key }),
        key.clone().prop_map(|key| WorkOp::Delete { key }),
        (key, proptest::option::of(0..8u64)).prop_map(|(key, old)| WorkOp::Cas {
            key,
            old,
            new: 0
        }),
    ]
}

/// A client workload of at most `max` operations from 5 clients, values unique.
pub fn workload(max: usize) -> impl Strategy<Value = Vec<ClientOp>> {
    proptest::collection::vec((at(), 0..5u32, work_op()), 0..=max).prop_map(|v| {
        let mut ops: Vec<ClientOp> =
            v.into_iter().map(|(at, client, op)| ClientOp { at, client, op }).collect();
        ops.sort_by_key(|o| o.at);
        let mut next = 1;
        for o in &mut ops {
            match &mut o.op {
                WorkOp::Put { value, .. } => {
                    *value = next;
                    next += 1;
                }
                WorkOp::Cas { new, old, .. } => {
                    *new = next;
                    // Guess a recent value so that some swaps succeed.
                    *old = old.map(|back| next.saturating_sub(back + 1)).filter(|v| *v > 0);
                    next += 1;
                }
                _ => {}
            }
        }
        ops
    })
}

/// A whole plan: a seed, up to 12 actions and up to 300 client operations on 3 nodes.
pub fn fault_plan() -> impl Strategy<Value = Plan> {
    (any::<u64>(), actions(12), workload(300)).prop_map(|(seed, actions, workload)| Plan {
        scenario: "proptest".into(),
        seed,
        nodes: NODES,
        duration_ns: PROP_DURATION_NS,
        knobs: Knobs { snapshot_count: 200, catch_up_entries: 50, ..Knobs::default() },
        actions,
        workload,
    })
}

/// Runs `plan` with every oracle on; `report.ok()` is the verdict.
pub fn run(plan: Plan) -> RunReport {
    run_plan(&plan, &RunOptions::default())
}
