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

use rand::Rng as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::env::NodeId;
use crate::seed::Seed;
use crate::time::{Duration, Instant};

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
                    locate(&value).unwrap_or_else(|| ("?".into(), e.to_string()));
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

    fn sort(&mut self) {
        self.faults.sort_by_key(|f| f.at);
    }

    pub fn len(&self) -> usize {
        self.faults.len()
    }

    pub fn is_empty(&self) -> bool {
        self.faults.is_empty()
    }

    /// A swarm-style plan for `nodes` over `[0, duration)`; see [`SwarmConfig`].
    ///
    /// The `"faults"` stream of `seed` decides which kinds are enabled (each with probability
    /// `config.enable`) and at what rate; each enabled kind then gets a Poisson-like sequence of
    /// occurrences, each paired with its undo inside `duration`.
    pub fn swarm(
        seed: Seed,
        nodes: &[NodeId],
        duration: Duration,
        config: &SwarmConfig,
    ) -> FaultPlan {
        assert!(
            (0.0..=1.0).contains(&config.enable),
            "SwarmConfig.enable must be a probability, got {}",
            config.enable
        );
        assert!(
            0.0 < config.min_per_sec && config.min_per_sec <= config.max_per_sec,
            "SwarmConfig rates must satisfy 0 < min <= max, got {}..={}",
            config.min_per_sec,
            config.max_per_sec
        );
        let mut rng = seed.stream("faults");
        let mut plan = FaultPlan::default();
        if nodes.is_empty() || duration.as_nanos() == 0 {
            return plan;
        }
        let end = duration.as_nanos();
        for &kind in SwarmKind::ALL {
            // Always draw, so the decision for one kind does not depend on the config of another.
            let enabled = rng.random_bool(config.enable);
            let rate = rng.random_range(config.min_per_sec..=config.max_per_sec);
            if !enabled || !config.kinds.contains(&kind) {
                continue;
            }
            let mean_gap = (1e9 / rate) as u64;
            let mut t = rng.random_range(0..=mean_gap.max(1));
            while t < end {
                kind.emit(&mut rng, nodes, Instant(t), end, config, &mut plan.faults);
                t += rng.random_range(mean_gap / 2..=mean_gap.saturating_mul(3) / 2).max(1);
            }
        }
        plan.sort();
        plan
    }
}

/// The kinds of fault [`FaultPlan::swarm`] can generate (each with its undo).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SwarmKind {
    /// `crash` then `restart`.
    CrashRestart,
    /// `crash_at_disk_op` then `restart`.
    DiskCrash,
    Pause,
    /// `partition` then `heal`.
    Partition,
    /// `partition_one_way` then `heal`.
    PartitionOneWay,
    /// `isolate` then `heal`.
    Isolate,
    /// `clog` then `unclog`.
    Clog,
    /// `link_latency` raised, then back to the defaults given in the config.
    LinkLatency,
    SyncEio,
    DiskLatency,
    ClockSkew,
}

impl SwarmKind {
    /// Every kind, in the fixed order the swarm draws them (append new kinds at the end).
    pub const ALL: &'static [SwarmKind] = &[
        SwarmKind::CrashRestart,
        SwarmKind::DiskCrash,
        SwarmKind::Pause,
        SwarmKind::Partition,
        SwarmKind::PartitionOneWay,
        SwarmKind::Isolate,
        SwarmKind::Clog,
        SwarmKind::LinkLatency,
        SwarmKind::SyncEio,
        SwarmKind::DiskLatency,
        SwarmKind::ClockSkew,
    ];

    fn emit(
        self,
        rng: &mut crate::seed::Rng,
        nodes: &[NodeId],
        at: Instant,
        end: u64,
        config: &SwarmConfig,
        out: &mut Vec<TimedFault>,
    ) {
        let pick = |rng: &mut crate::seed::Rng| nodes[rng.random_range(0..nodes.len())].0;
        let pair = |rng: &mut crate::seed::Rng| {
            let a = pick(rng);
            let b = pick(rng);
            (a, b)
        };
        let max_out = config.max_outage.as_nanos().max(2);
        let undo_at = |rng: &mut crate::seed::Rng| {
            (at.as_nanos() + rng.random_range(1..max_out)).min(end.saturating_sub(1).max(at.0))
        };
        let mut put = |t: u64, fault: Fault| out.push(TimedFault { at: t, fault });
        let t = at.as_nanos();
        match self {
            SwarmKind::CrashRestart => {
                let node = pick(rng);
                put(t, Fault::Crash { node });
                put(undo_at(rng), Fault::Restart { node });
            }
            SwarmKind::DiskCrash => {
                let node = pick(rng);
                put(t, Fault::CrashAtDiskOp { node, op: rng.random_range(0..8) });
                put(undo_at(rng), Fault::Restart { node });
            }
            SwarmKind::Pause => {
                let node = pick(rng);
                put(t, Fault::Pause { node, for_ns: rng.random_range(1..max_out) });
            }
            SwarmKind::Partition => {
                let (a, b) = pair(rng);
                if a != b {
                    put(t, Fault::Partition { a, b });
                    put(undo_at(rng), Fault::Heal);
                }
            }
            SwarmKind::PartitionOneWay => {
                let (from, to) = pair(rng);
                if from != to {
                    put(t, Fault::PartitionOneWay { from, to });
                    put(undo_at(rng), Fault::Heal);
                }
            }
            SwarmKind::Isolate => {
                let node = pick(rng);
                put(t, Fault::Isolate { node });
                put(undo_at(rng), Fault::Heal);
            }
            SwarmKind::Clog => {
                let (a, b) = pair(rng);
                if a != b {
                    put(t, Fault::Clog { a, b });
                    put(undo_at(rng), Fault::Unclog { a, b });
                }
            }
            SwarmKind::LinkLatency => {
                let (a, b) = pair(rng);
                if a != b {
                    let slow =
                        config.normal_link.latency.as_nanos().max(1) * rng.random_range(2..50);
                    let jitter_ns = slow / 4;
                    put(t, Fault::LinkLatency { a, b, latency_ns: slow, jitter_ns });
                    let n = config.normal_link;
                    put(
                        undo_at(rng),
                        Fault::LinkLatency {
                            a,
                            b,
                            latency_ns: n.latency.as_nanos(),
                            jitter_ns: n.jitter.as_nanos(),
                        },
                    );
                }
            }
            SwarmKind::SyncEio => {
                let node = pick(rng);
                put(t, Fault::SyncEio { node, path_prefix: String::new() });
                // A node that fails stop on EIO comes back (no effect if it is still up).
                put(undo_at(rng), Fault::Restart { node });
            }
            SwarmKind::DiskLatency => {
                let node = pick(rng);
                let op_ns = rng.random_range(0..50_000);
                let sync_ns = rng.random_range(0..5_000_000);
                put(t, Fault::DiskLatency { node, op_ns, sync_ns });
                put(undo_at(rng), Fault::DiskLatency { node, op_ns: 0, sync_ns: 0 });
            }
            SwarmKind::ClockSkew => {
                let node = pick(rng);
                let skew_ns = rng.random_range(-50_000_000..=50_000_000);
                let drift_ppm = rng.random_range(-1_000..=1_000);
                put(t, Fault::ClockSkew { node, skew_ns, drift_ppm });
            }
        }
    }
}

/// Knobs of [`FaultPlan::swarm`].
#[derive(Clone, Debug, PartialEq)]
pub struct SwarmConfig {
    /// Probability that a kind is enabled for a seed.
    pub enable: f64,
    /// Range of the per-kind rate, occurrences per simulated second.
    pub min_per_sec: f64,
    pub max_per_sec: f64,
    /// Longest outage (crash to restart, partition to heal, pause, ...).
    pub max_outage: Duration,
    /// Which kinds may be enabled at all.
    pub kinds: Vec<SwarmKind>,
    /// The link latency `link_latency` faults return to.
    pub normal_link: crate::simulated::net::LinkConfig,
}

impl Default for SwarmConfig {
    fn default() -> SwarmConfig {
        SwarmConfig {
            enable: 0.5,
            min_per_sec: 1.0,
            max_per_sec: 20.0,
            max_outage: Duration::from_millis(200),
            kinds: SwarmKind::ALL.to_vec(),
            normal_link: crate::simulated::net::NetConfig::default().link,
        }
    }
}

/// Walks `value` as a fault plan and returns the path and description of the first problem.
fn locate(value: &Value) -> Option<(String, String)> {
    let Some(obj) = value.as_object() else {
        return Some(("<root>".into(), format!("expected an object, found {}", type_name(value))));
    };
    if let Some(e) = unknown_keys(obj, &["faults"], "") {
        return Some(e);
    }
    let Some(list) = obj.get("faults") else {
        return Some(("faults".into(), "missing field".into()));
    };
    let Some(list) = list.as_array() else {
        return Some(("faults".into(), format!("expected an array, found {}", type_name(list))));
    };
    list.iter().enumerate().find_map(|(i, tf)| locate_timed(tf, &format!("faults[{i}]")))
}

fn locate_timed(value: &Value, path: &str) -> Option<(String, String)> {
    let Some(obj) = value.as_object() else {
        return Some((path.into(), format!("expected an object, found {}", type_name(value))));
    };
    if let Some(e) = unknown_keys(obj, &["at", "fault"], path) {
        return Some(e);
    }
    if let Some(e) = expect(obj, "at", FieldType::U64, path) {
        return Some(e);
    }
    let fpath = format!("{path}.fault");
    let Some(fault) = obj.get("fault") else {
        return Some((fpath, "missing field".into()));
    };
    let Some(fobj) = fault.as_object() else {
        return Some((fpath, format!("expected an object, found {}", type_name(fault))));
    };
    let Some(kind) = fobj.get("kind") else {
        return Some((format!("{fpath}.kind"), "missing field".into()));
    };
    let Some(kind) = kind.as_str() else {
        return Some((
            format!("{fpath}.kind"),
            format!("expected a string, found {}", type_name(kind)),
        ));
    };
    let Some(fields) = fields_of(kind) else {
        let known: Vec<&str> = KINDS.iter().map(|(k, _)| *k).collect();
        return Some((
            format!("{fpath}.kind"),
            format!("unknown fault kind {kind:?}; expected one of {}", known.join(", ")),
        ));
    };
    let mut names: Vec<&str> = fields.iter().map(|(n, _)| *n).collect();
    names.push("kind");
    if let Some(e) = unknown_keys(fobj, &names, &fpath) {
        return Some(e);
    }
    fields.iter().find_map(|(name, ty)| expect(fobj, name, *ty, &fpath))
}

#[derive(Clone, Copy)]
enum FieldType {
    U32,
    U64,
    I64,
    Str,
    OptU64,
}

const KINDS: &[(&str, &[(&str, FieldType)])] = {
    use FieldType::*;
    &[
        ("crash", &[("node", U32)]),
        ("crash_at_disk_op", &[("node", U32), ("op", U64)]),
        ("restart", &[("node", U32)]),
        ("pause", &[("node", U32), ("for_ns", U64)]),
        ("partition", &[("a", U32), ("b", U32)]),
        ("partition_one_way", &[("from", U32), ("to", U32)]),
        ("isolate", &[("node", U32)]),
        ("heal", &[]),
        ("clog", &[("a", U32), ("b", U32)]),
        ("unclog", &[("a", U32), ("b", U32)]),
        ("link_latency", &[("a", U32), ("b", U32), ("latency_ns", U64), ("jitter_ns", U64)]),
        ("sync_eio", &[("node", U32), ("path_prefix", Str)]),
        ("bit_flip", &[("node", U32), ("path", Str), ("offset", U64), ("len", U64)]),
        ("disk_full", &[("node", U32), ("capacity", OptU64)]),
        ("disk_latency", &[("node", U32), ("op_ns", U64), ("sync_ns", U64)]),
        ("clock_skew", &[("node", U32), ("skew_ns", I64), ("drift_ppm", I64)]),
    ]
};

fn fields_of(kind: &str) -> Option<&'static [(&'static str, FieldType)]> {
    KINDS.iter().find(|(k, _)| *k == kind).map(|(_, f)| *f)
}

fn unknown_keys(
    obj: &Map<String, Value>,
    allowed: &[&str],
    path: &str,
) -> Option<(String, String)> {
    let key = obj.keys().find(|k| !allowed.contains(&k.as_str()))?;
    Some((join(path, key), format!("unknown field; expected one of {}", allowed.join(", "))))
}

fn expect(
    obj: &Map<String, Value>,
    name: &str,
    ty: FieldType,
    path: &str,
) -> Option<(String, String)> {
    let field = join(path, name);
    let Some(v) = obj.get(name) else {
        return match ty {
            FieldType::OptU64 => None,
            _ => Some((field, "missing field".into())),
        };
    };
    let ok = match ty {
        FieldType::U32 => v.as_u64().is_some_and(|n| u32::try_from(n).is_ok()),
        FieldType::U64 => v.as_u64().is_some(),
        FieldType::I64 => v.as_i64().is_some(),
        FieldType::Str => v.is_string(),
        FieldType::OptU64 => v.is_null() || v.as_u64().is_some(),
    };
    if ok {
        return None;
    }
    let want = match ty {
        FieldType::U32 => "an unsigned 32-bit integer",
        FieldType::U64 => "an unsigned 64-bit integer",
        FieldType::I64 => "a signed 64-bit integer",
        FieldType::Str => "a string",
        FieldType::OptU64 => "null or an unsigned 64-bit integer",
    };
    Some((field, format!("expected {want}, found {}", describe(v))))
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn describe(v: &Value) -> String {
    match v {
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the string {s:?}"),
        other => type_name(other).to_string(),
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
        assert_eq!(faults.len() - 1, KINDS.len(), "every kind is covered once (disk_full twice)");
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

    #[test]
    fn swarm_is_deterministic_and_varies_by_seed() {
        let nodes = [NodeId(0), NodeId(1), NodeId(2)];
        let cfg = SwarmConfig::default();
        let d = Duration::from_secs(2);
        let a = FaultPlan::swarm(Seed(5), &nodes, d, &cfg);
        assert_eq!(a, FaultPlan::swarm(Seed(5), &nodes, d, &cfg));
        let plans: Vec<FaultPlan> =
            (0..20).map(|s| FaultPlan::swarm(Seed(s), &nodes, d, &cfg)).collect();
        let distinct: std::collections::BTreeSet<String> =
            plans.iter().map(|p| p.to_json()).collect();
        assert!(distinct.len() >= 18, "only {} distinct plans of 20", distinct.len());
        // Swarm: seeds differ in which kinds they use at all.
        let kinds: std::collections::BTreeSet<Vec<&str>> = plans
            .iter()
            .map(|p| {
                let mut k: Vec<&str> = p.faults.iter().map(|f| f.fault.name()).collect();
                k.sort();
                k.dedup();
                k
            })
            .collect();
        assert!(kinds.len() >= 10, "kind subsets: {kinds:?}");
        for p in &plans {
            assert!(p.faults.windows(2).all(|w| w[0].at <= w[1].at), "sorted");
            assert!(p.faults.iter().all(|f| f.at < d.as_nanos()), "inside the duration");
            assert!(p.faults.iter().all(|f| f.fault.node().is_none_or(|n| n.0 < 3)));
        }
    }

    #[test]
    fn swarm_undoes_what_it_breaks() {
        let nodes = [NodeId(0), NodeId(1)];
        let cfg = SwarmConfig { enable: 1.0, ..SwarmConfig::default() };
        let plan = FaultPlan::swarm(Seed(11), &nodes, Duration::from_secs(1), &cfg);
        let crashes = plan.faults.iter().filter(|f| matches!(f.fault, Fault::Crash { .. })).count();
        let restarts =
            plan.faults.iter().filter(|f| matches!(f.fault, Fault::Restart { .. })).count();
        let disk =
            plan.faults.iter().filter(|f| matches!(f.fault, Fault::CrashAtDiskOp { .. })).count();
        assert!(crashes > 0);
        let eio = plan.faults.iter().filter(|f| matches!(f.fault, Fault::SyncEio { .. })).count();
        assert_eq!(restarts, crashes + disk + eio);
        let last_partition = plan.faults.iter().rposition(|f| {
            matches!(
                f.fault,
                Fault::Partition { .. } | Fault::PartitionOneWay { .. } | Fault::Isolate { .. }
            )
        });
        let last_heal = plan.faults.iter().rposition(|f| f.fault == Fault::Heal);
        assert!(last_heal > last_partition, "a heal follows the last partition");
    }
}
