//! Fault plans: a list of (time, fault) as data.
//!
//! A plan is JSON (de)serialisable so that a failing run can print it and a user can edit or
//! write one by hand. Each fault is a tagged object, `{"kind": "crash", "node": 1}`; times are
//! virtual nanoseconds since the start of the run:
//!
//! ```json
//! {"faults": [{"at": 1000000, "fault": {"kind": "partition", "a": 0, "b": 1}},
//!             {"at": 9000000, "fault": {"kind": "heal"}}]}
//! ```
//!
//! [`FaultPlan::swarm`] generates a plan from a seed, swarm style: each seed enables a random
//! subset of fault kinds, each with its own random rate, so different seeds stress different
//! combinations. Every disruptive fault it emits is undone later within the plan's duration
//! (restart after crash, heal after partition, unclog after clog, ...).
//!
//! [`FaultPlan::from_json`] reports malformed input as a [`PlanError`] naming the offending field
//! (`faults[2].fault.node`) and, where known, its line and column; it never panics.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::env::NodeId;
use crate::time::Instant;

mod locate;
mod swarm;

pub use swarm::{SwarmConfig, SwarmKind};

/// One fault. Node fields are `NodeId` numbers; durations are nanoseconds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    /// Kill the node now (its disk loses unsynced data, its connections reset).
    Crash { node: u32 },
    /// The node's disk fails at its `op`-th operation from now (0 = the next one).
    CrashAtDiskOp { node: u32, op: u64 },
    /// Restart a node that is down. On a running node whose disk crash is armed
    /// (`crash_at_disk_op`) the restart happens as soon as that crash does; otherwise no effect.
    Restart { node: u32 },
    /// The node handles no events for `for_ns`.
    Pause { node: u32, for_ns: u64 },
    /// Block both directions between `a` and `b`.
    Partition { a: u32, b: u32 },
    /// Block `from -> to` only.
    PartitionOneWay { from: u32, to: u32 },
    /// Partition `node` from every other node.
    Isolate { node: u32 },
    /// Remove every partition.
    Heal,
    /// Hold traffic between `a` and `b` until unclogged.
    Clog { a: u32, b: u32 },
    /// Release held traffic between `a` and `b`, in order.
    Unclog { a: u32, b: u32 },
    /// Set the latency and jitter of both directions between `a` and `b`.
    LinkLatency { a: u32, b: u32, latency_ns: u64, jitter_ns: u64 },
    /// The next sync of a file under `path_prefix` on the node's disk fails with EIO.
    SyncEio { node: u32, path_prefix: String },
    /// Reads of `path` in `[offset, offset + len)` on the node's disk see flipped bits.
    BitFlip { node: u32, path: String, offset: u64, len: u64 },
    /// The node's disk refuses to grow beyond `capacity` bytes (`null`: unlimited).
    DiskFull { node: u32, capacity: Option<u64> },
    /// Per-operation and per-sync latency of the node's disk.
    DiskLatency { node: u32, op_ns: u64, sync_ns: u64 },
    /// Skew (offset) and drift (rate error, ppm) of the node's clock.
    ClockSkew { node: u32, skew_ns: i64, drift_ppm: i64 },
}

impl Fault {
    /// The tag written in JSON (`"crash_at_disk_op"`), also used in trace records.
    pub fn name(&self) -> &'static str {
        match self {
            Fault::Crash { .. } => "crash",
            Fault::CrashAtDiskOp { .. } => "crash_at_disk_op",
            Fault::Restart { .. } => "restart",
            Fault::Pause { .. } => "pause",
            Fault::Partition { .. } => "partition",
            Fault::PartitionOneWay { .. } => "partition_one_way",
            Fault::Isolate { .. } => "isolate",
            Fault::Heal => "heal",
            Fault::Clog { .. } => "clog",
            Fault::Unclog { .. } => "unclog",
            Fault::LinkLatency { .. } => "link_latency",
            Fault::SyncEio { .. } => "sync_eio",
            Fault::BitFlip { .. } => "bit_flip",
            Fault::DiskFull { .. } => "disk_full",
            Fault::DiskLatency { .. } => "disk_latency",
            Fault::ClockSkew { .. } => "clock_skew",
        }
    }

    /// The node a node-level fault targets.
    pub fn node(&self) -> Option<NodeId> {
        match self {
            Fault::Crash { node }
            | Fault::CrashAtDiskOp { node, .. }
            | Fault::Restart { node }
            | Fault::Pause { node, .. }
            | Fault::Isolate { node }
            | Fault::SyncEio { node, .. }
            | Fault::BitFlip { node, .. }
            | Fault::DiskFull { node, .. }
            | Fault::DiskLatency { node, .. }
            | Fault::ClockSkew { node, .. } => Some(NodeId(*node)),
            _ => None,
        }
    }

    /// One-line JSON, for trace details and error messages.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("faults always serialise")
    }
}

/// A fault at a virtual time (nanoseconds since the start of the run).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimedFault {
    pub at: u64,
    pub fault: Fault,
}

impl TimedFault {
    pub fn at(&self) -> Instant {
        Instant(self.at)
    }
}

/// A list of timed faults, sorted by time (stable for equal times).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultPlan {
    pub faults: Vec<TimedFault>,
}

/// Why a fault plan could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlanError {
    /// Not JSON at all.
    Syntax { line: usize, column: usize, message: String },
    /// JSON, but `field` (a path such as `faults[2].fault.node`) is missing or wrong.
    Field { field: String, line: Option<usize>, column: Option<usize>, message: String },
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanError::Syntax { line, column, message } => {
                write!(f, "fault plan is not valid JSON at line {line}, column {column}: {message}")
            }
            PlanError::Field { field, line, column, message } => {
                write!(f, "fault plan field `{field}`: {message}")?;
                if let (Some(l), Some(c)) = (line, column) {
                    write!(f, " (line {l}, column {c})")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for PlanError {}

impl FaultPlan {
    /// Parses a plan, naming the offending field on malformed input.
    pub fn from_json(text: &str) -> Result<FaultPlan, PlanError> {
        let value: Value = serde_json::from_str(text).map_err(|e| PlanError::Syntax {
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })?;
        match serde_json::from_str::<FaultPlan>(text) {
            Ok(mut plan) => {
                plan.sort();
                Ok(plan)
            }
            Err(e) => {
                // serde knows where it failed; our own walk knows which field it was.
                let (field, message) =
                    locate::locate(&value).unwrap_or_else(|| ("?".into(), e.to_string()));
                Err(PlanError::Field {
                    field,
                    line: Some(e.line()),
                    column: Some(e.column()),
                    message,
                })
            }
        }
    }

    /// Pretty JSON, readable by [`FaultPlan::from_json`].
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("plans always serialise")
    }

    /// Adds a fault at `at`, keeping the plan sorted.
    pub fn push(&mut self, at: Instant, fault: Fault) {
        self.faults.push(TimedFault { at: at.as_nanos(), fault });
        self.sort();
    }

    pub(crate) fn sort(&mut self) {
        self.faults.sort_by_key(|f| f.at);
    }

    pub fn len(&self) -> usize {
        self.faults.len()
    }

    pub fn is_empty(&self) -> bool {
        self.faults.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> PlanError {
        FaultPlan::from_json(text).expect_err("malformed plan must be rejected")
    }

    fn field_of(e: &PlanError) -> &str {
        match e {
            PlanError::Field { field, .. } => field,
            other => panic!("expected a field error, got {other}"),
        }
    }

    #[test]
    fn round_trips_every_kind() {
        let mut plan = FaultPlan::default();
        let faults = vec![
            Fault::Crash { node: 1 },
            Fault::CrashAtDiskOp { node: 2, op: 3 },
            Fault::Restart { node: 1 },
            Fault::Pause { node: 0, for_ns: 5 },
            Fault::Partition { a: 0, b: 1 },
            Fault::PartitionOneWay { from: 1, to: 2 },
            Fault::Isolate { node: 2 },
            Fault::Heal,
            Fault::Clog { a: 0, b: 2 },
            Fault::Unclog { a: 0, b: 2 },
            Fault::LinkLatency { a: 0, b: 1, latency_ns: 9, jitter_ns: 1 },
            Fault::SyncEio { node: 1, path_prefix: "wal/".into() },
            Fault::BitFlip { node: 1, path: "db".into(), offset: 4096, len: 8 },
            Fault::DiskFull { node: 0, capacity: Some(1 << 20) },
            Fault::DiskFull { node: 0, capacity: None },
            Fault::DiskLatency { node: 0, op_ns: 10, sync_ns: 100 },
            Fault::ClockSkew { node: 2, skew_ns: -7, drift_ppm: 100 },
        ];
        assert_eq!(
            faults.len() - 1,
            locate::KINDS.len(),
            "every kind is covered once (disk_full twice)"
        );
        for (i, f) in faults.into_iter().enumerate() {
            plan.push(Instant(i as u64 * 1000), f);
        }
        let back = FaultPlan::from_json(&plan.to_json()).expect("own output parses");
        assert_eq!(back, plan);
    }

    #[test]
    fn hand_written_plan_parses() {
        let plan = FaultPlan::from_json(
            r#"{"faults": [{"at": 9, "fault": {"kind": "heal"}},
                           {"at": 1, "fault": {"kind": "partition", "a": 0, "b": 1}}]}"#,
        )
        .expect("valid");
        assert_eq!(plan.faults[0].fault, Fault::Partition { a: 0, b: 1 });
        assert_eq!(plan.faults[1].at(), Instant(9));
    }

    #[test]
    fn wrong_type_names_the_field_and_line() {
        let e = err(
            "{\"faults\": [\n {\"at\": 1, \"fault\": {\"kind\": \"crash\", \"node\": \"x\"}}\n]}",
        );
        assert_eq!(field_of(&e), "faults[0].fault.node");
        let text = e.to_string();
        assert!(text.contains("line 2"), "{text}");
        assert!(text.contains("the string \"x\""), "{text}");
    }

    #[test]
    fn malformed_inputs_name_what_is_wrong() {
        let cases = [
            (r#"{"faults": [{"fault": {"kind": "heal"}}]}"#, "faults[0].at"),
            (r#"{"faults": [{"at": -1, "fault": {"kind": "heal"}}]}"#, "faults[0].at"),
            (r#"{"faults": [{"at": 1, "fault": {"kind": "explode"}}]}"#, "faults[0].fault.kind"),
            (r#"{"faults": [{"at": 1, "fault": {"node": 1}}]}"#, "faults[0].fault.kind"),
            (r#"{"faults": [{"at": 1, "fault": {"kind": "crash"}}]}"#, "faults[0].fault.node"),
            (
                r#"{"faults": [{"at": 1, "fault": {"kind": "crash", "node": 1, "x": 2}}]}"#,
                "faults[0].fault.x",
            ),
            (
                r#"{"faults": [{"at": 1, "fault": {"kind": "crash", "node": 4294967296}}]}"#,
                "faults[0].fault.node",
            ),
            (r#"{"faults": {}}"#, "faults"),
            (r#"{"fault": []}"#, "fault"),
            (r#"[]"#, "<root>"),
        ];
        for (text, field) in cases {
            let e = err(text);
            assert_eq!(field_of(&e), field, "for {text}: {e}");
        }
    }

    #[test]
    fn broken_json_is_a_syntax_error_with_position() {
        match err("{\"faults\": [\n  {\"at\": 1,,}]}") {
            PlanError::Syntax { line, .. } => assert_eq!(line, 2),
            other => panic!("expected syntax error, got {other}"),
        }
    }
}
