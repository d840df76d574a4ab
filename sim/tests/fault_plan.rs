//! Fault plans from untrusted text: malformed JSON gives a typed error naming the field (never a
//! panic), and any plan that parses can be applied to a world without panicking.

use proptest::prelude::*;
use sim::fault::{FaultPlan, PlanError};
use sim::world::pingpong::{build_pingpong, pingpong_plan};
use sim::{Duration, Instant};

#[test]
fn wrong_field_type_is_reported_by_path_and_line() {
    let text = r#"{
  "faults": [
    {"at": 10, "fault": {"kind": "heal"}},
    {"at": 20, "fault": {"kind": "pause", "node": 1, "for_ns": "soon"}}
  ]
}"#;
    let err = FaultPlan::from_json(text).expect_err("malformed");
    match &err {
        PlanError::Field { field, line, .. } => {
            assert_eq!(field, "faults[1].fault.for_ns");
            assert_eq!(*line, Some(4));
        }
        other => panic!("expected a field error, got {other:?}"),
    }
    assert!(err.to_string().contains("faults[1].fault.for_ns"), "{err}");
}

#[test]
fn swarm_plans_survive_a_json_round_trip() {
    for seed in 0..20 {
        let plan = pingpong_plan(seed, 5, 100);
        assert_eq!(FaultPlan::from_json(&plan.to_json()).expect("own output"), plan);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Corrupting a valid plan's text (one byte replaced, or truncated) never panics: it either
    /// still parses or yields an error that names a field or a position.
    #[test]
    fn corrupted_plans_give_errors_not_panics(seed in 0u64..50, pos in any::<prop::sample::Index>(),
                                              byte in any::<u8>(), truncate in any::<bool>()) {
        let mut text = pingpong_plan(seed, 3, 50).to_json().into_bytes();
        let i = pos.index(text.len());
        if truncate {
            text.truncate(i);
        } else {
            text[i] = byte;
        }
        let text = String::from_utf8_lossy(&text);
        match FaultPlan::from_json(&text) {
            Ok(plan) => {
                // Whatever parses can be applied, even with odd nodes or huge numbers.
                let mut world = build_pingpong(seed, 3, 10, false);
                world.install_plan(&plan);
                world.run_until(Instant::ZERO + Duration::from_millis(200));
            }
            Err(PlanError::Field { field, .. }) => prop_assert!(!field.is_empty()),
            Err(PlanError::Syntax { line, column, .. }) => prop_assert!(line >= 1 && column <= text.len() + 1),
        }
    }

    /// Numbers at the edges of their types in hand-written plans never panic the world.
    #[test]
    fn extreme_values_apply_without_panicking(node in any::<u32>(), big in any::<u64>(), skew in any::<i64>(), drift in any::<i64>()) {
        let text = format!(r#"{{"faults": [
            {{"at": 0, "fault": {{"kind": "pause", "node": {n}, "for_ns": {big}}}}},
            {{"at": 1, "fault": {{"kind": "link_latency", "a": 0, "b": 1, "latency_ns": {big}, "jitter_ns": {big}}}}},
            {{"at": 2, "fault": {{"kind": "clock_skew", "node": 2, "skew_ns": {skew}, "drift_ppm": {drift}}}}},
            {{"at": 3, "fault": {{"kind": "crash_at_disk_op", "node": {n}, "op": {big}}}}},
            {{"at": 4, "fault": {{"kind": "disk_full", "node": 0, "capacity": {big}}}}},
            {{"at": {big}, "fault": {{"kind": "isolate", "node": {node}}}}}
        ]}}"#, n = node % 4);
        let plan = FaultPlan::from_json(&text).expect("valid plan");
        let mut world = build_pingpong(1, 3, 10, false);
        world.install_plan(&plan);
        world.run_until(Instant::ZERO + Duration::from_millis(300));
        prop_assert!(world.events() > 0);
    }
}

/// Every fault kind applied to a running pingpong world takes effect without panicking.
#[test]
fn every_fault_kind_applies() {
    use sim::fault::Fault;
    use sim::NodeId;
    let mut world = build_pingpong(3, 3, 20, true);
    world.run_until(Instant::ZERO + Duration::from_millis(30));
    let faults = [
        Fault::LinkLatency { a: 0, b: 1, latency_ns: 2_000_000, jitter_ns: 10 },
        Fault::Clog { a: 1, b: 2 },
        Fault::Unclog { a: 1, b: 2 },
        Fault::PartitionOneWay { from: 2, to: 0 },
        Fault::Heal,
        Fault::Partition { a: 0, b: 1 },
        Fault::Isolate { node: 2 },
        Fault::Heal,
        Fault::SyncEio { node: 1, path_prefix: "pingpong".into() },
        Fault::BitFlip { node: 0, path: "pingpong.state".into(), offset: 0, len: 1 },
        Fault::DiskFull { node: 0, capacity: Some(1 << 20) },
        Fault::DiskLatency { node: 2, op_ns: 1_000, sync_ns: 100_000 },
        Fault::ClockSkew { node: 0, skew_ns: -5_000_000, drift_ppm: 200 },
        Fault::Pause { node: 2, for_ns: 5_000_000 },
        Fault::CrashAtDiskOp { node: 2, op: 0 },
        Fault::Crash { node: 0 },
        Fault::Restart { node: 0 },
    ];
    for f in &faults {
        world.apply(f);
        if let Fault::Partition { a, b } = f {
            assert!(world.net().is_blocked(NodeId(*a), NodeId(*b)));
        }
        world.run_until(world.now() + Duration::from_millis(5));
    }
    let applied = world.trace().records().iter().filter(|r| r.kind == "fault").count();
    assert!(applied >= faults.len(), "{applied} faults traced");
    assert_eq!(world.net().link(NodeId(1), NodeId(0)).latency, Duration::from_millis(2));
    assert_eq!(world.clock(NodeId(0)).config().drift_ppm, 200);
    assert!(world.halts().iter().any(|(_, n, _)| *n == NodeId(0)), "crash recorded");
    world.apply(&Fault::Heal);
    world.apply(&Fault::Restart { node: 1 });
    world.apply(&Fault::Restart { node: 2 });
    world.run_until_quiescent(Instant::ZERO + Duration::from_secs(20));
    assert!(world.is_up(NodeId(0)), "restarted node runs");
}
