//! A run as data: the cluster's knobs, the fault actions and the client workload.
//!
//! A [`Plan`] is everything a run needs besides the binary: replaying it gives the same trace
//! hash whatever seed stream produced it, which is what `dst run --plan FILE` and the shrinker
//! rely on. The seed in a plan still drives what the plan does not pin down (network jitter,
//! disk tearing, election timeouts), so a plan is replayed with its own seed.
//!
//! JSON layout (times are virtual nanoseconds since the start of the run):
//!
//! ```json
//! {"scenario": "partition", "seed": 7, "nodes": 3, "duration_ns": 20000000000,
//!  "knobs": {"snapshot_count": 10000, "bug": null,
//!            "buggify": {"activation": 0.25, "firing": 0.03}},
//!  "actions": [{"at": 3000000000, "action": {"kind": "isolate_leader"}}],
//!  "workload": [{"at": 1000000, "client": 0, "op": {"kind": "put", "key": 2, "value": 1}}]}
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};
use sim::fault::Fault;

use crate::trigger::{Effect, Moment, Trigger};

/// One fault or cluster-level disruption. Node fields are 1-based node numbers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// A simulator fault (crash, partition, disk and clock faults...).
    Sim { fault: Fault },
    /// Every node loses power at once (unsynced writes are dropped or torn).
    PowerLoss,
    /// Crash whichever node leads now (no-op without a leader).
    CrashLeader,
    /// Partition whichever node leads now from all others (no-op without a leader).
    IsolateLeader,
    /// Ask the leader to hand leadership to the next node in id order.
    TransferLeader,
    /// Crash `node` and restart it with a wrong `--initial-cluster-token`: its data says it
    /// belongs to another cluster, so it must refuse to start.
    WrongToken { node: u32 },
    /// Crash `node` and restart it on another cluster's data directory: it must refuse to start.
    ForeignData { node: u32 },
    /// Start a member of another cluster that dials this cluster's members: every frame it
    /// sends must be refused.
    ForeignMember,
    /// Crash `node` and re-create it by hand: a fresh data directory, the same name, token and
    /// peer URL, but an `--initial-cluster` with one more member (one that does not exist). Its
    /// member ID, and the IDs it has for the others, are unchanged; its cluster ID is not.
    /// (With its old data directory it would refuse to start: its WAL names the old cluster.
    /// etcd would also refuse when it can ask a peer whether the member already started; a
    /// member that cannot reach one at boot starts.) It keeps running until the heal gives it
    /// its own data and configuration back. Only the cluster ID tells it from the real member,
    /// so the run is judged by what crosses: no message between it and the others may reach
    /// raft on either side ([`crate::oracle::cluster_id`]). A no-op for a member that joined at
    /// run time (it has no `--initial-cluster`).
    SameIdOtherCluster { node: u32 },
    /// Add a member (the next unused node number) and start it.
    AddMember,
    /// Remove the highest-numbered voting member that is not the leader.
    RemoveMember,
    /// Restart every node that is down (with its correct configuration) and heal the network.
    RestartAll,
    /// Arm a trigger: when `node` does `on` for the `nth` time from now, apply `then` (see
    /// [`crate::trigger`]). Fires once; disarmed at the end of the fault phase.
    Trigger { node: u32, on: Moment, nth: u32, then: Effect },
}

impl Action {
    /// A short name for traces and summaries.
    pub fn name(&self) -> String {
        match self {
            Action::Sim { fault } => fault.name().to_string(),
            Action::Trigger { on, then, .. } => format!("trigger {on} -> {}", then.name()),
            other => {
                let json = serde_json::to_value(other).expect("actions serialise");
                json["kind"].as_str().unwrap_or("?").to_string()
            }
        }
    }
}

impl Action {
    /// The trigger this action arms, if it is one.
    pub fn trigger(&self) -> Option<Trigger> {
        match self {
            Action::Trigger { node, on, nth, then } => {
                Some(Trigger { node: *node, on: *on, nth: *nth, then: then.clone() })
            }
            _ => None,
        }
    }

    /// The node numbers this action names (for validation).
    fn named_nodes(&self) -> Vec<u32> {
        match self {
            Action::Sim { fault } => {
                let pair = match fault {
                    Fault::Partition { a, b }
                    | Fault::Clog { a, b }
                    | Fault::Unclog { a, b }
                    | Fault::LinkLatency { a, b, .. } => vec![*a, *b],
                    Fault::PartitionOneWay { from, to } => vec![*from, *to],
                    _ => vec![],
                };
                fault.node().map(|n| n.0).into_iter().chain(pair).collect()
            }
            Action::WrongToken { node }
            | Action::ForeignData { node }
            | Action::SameIdOtherCluster { node } => vec![*node],
            Action::Trigger { node, then, .. } => {
                let inner = match then {
                    Effect::Then { action } => action.named_nodes(),
                    _ => vec![],
                };
                std::iter::once(*node).chain(inner).collect()
            }
            _ => vec![],
        }
    }
}

/// An action at a virtual time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimedAction {
    pub at: u64,
    pub action: Action,
}

/// A client operation on key number `key` (keys are `k0`, `k1`, ...). Values written are
/// unique across the workload so that a read names the write it saw.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum WorkOp {
    Put {
        key: u8,
        value: u64,
    },
    Get {
        key: u8,
    },
    Delete {
        key: u8,
    },
    /// Compare-and-swap: set `new` if the key currently holds `old` (`null`: is absent).
    Cas {
        key: u8,
        old: Option<u64>,
        new: u64,
    },
    /// A serializable get: answered from the local member's applied state, without ReadIndex.
    SerialGet {
        key: u8,
    },
    /// A linearizable range over keys `from..=to`.
    Range {
        from: u8,
        to: u8,
    },
    /// A multi-key txn: if every compare holds, write `success` in order; otherwise read the
    /// keys of `failure`.
    Txn {
        compares: Vec<TxnCompare>,
        success: Vec<TxnWrite>,
        failure: Vec<u8>,
    },
    /// Compaction to `back` revisions below the highest revision the client has seen.
    Compact {
        back: u64,
    },
}

/// A txn guard: the key holds `value` (`null`: is absent).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TxnCompare {
    pub key: u8,
    pub value: Option<u64>,
}

/// A txn write: put `value`, or delete the key (`null`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TxnWrite {
    pub key: u8,
    pub value: Option<u64>,
}

impl WorkOp {
    /// The first key the operation touches (0 for a compaction, which touches none).
    pub fn key(&self) -> u8 {
        self.keys().first().copied().unwrap_or(0)
    }

    /// Every key the operation touches, in ascending order without repeats.
    pub fn keys(&self) -> Vec<u8> {
        let mut keys = match self {
            WorkOp::Put { key, .. }
            | WorkOp::Get { key }
            | WorkOp::Delete { key }
            | WorkOp::Cas { key, .. }
            | WorkOp::SerialGet { key } => vec![*key],
            WorkOp::Range { from, to } => (*from..=*to).collect(),
            WorkOp::Txn { compares, success, failure } => compares
                .iter()
                .map(|c| c.key)
                .chain(success.iter().map(|w| w.key))
                .chain(failure.iter().copied())
                .collect(),
            WorkOp::Compact { .. } => Vec::new(),
        };
        keys.sort_unstable();
        keys.dedup();
        keys
    }

    /// The values the operation writes (put, cas, txn success branch).
    pub fn written_values(&self) -> Vec<u64> {
        match self {
            WorkOp::Put { value, .. } => vec![*value],
            WorkOp::Cas { new, .. } => vec![*new],
            WorkOp::Txn { success, .. } => success.iter().filter_map(|w| w.value).collect(),
            _ => Vec::new(),
        }
    }
}

/// A client operation due at `at` (issued then, or as soon as the client is idle).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientOp {
    pub at: u64,
    pub client: u32,
    pub op: WorkOp,
}

pub use crate::bugs::Bug;
use crate::environment::Environment;

/// Cluster settings a plan pins down.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Knobs {
    /// Entries between snapshots (small values exercise snapshot install).
    pub snapshot_count: u64,
    /// Entries kept behind a snapshot for slow followers.
    pub catch_up_entries: u64,
    /// A deliberately broken behaviour (tests only).
    #[serde(default)]
    pub bug: Option<Bug>,
    /// Timing, limits, disk and network of the run (see [`Environment`]).
    #[serde(default)]
    pub env: Environment,
    /// After each leader change, aim linearizable reads at the new leader while the other
    /// members' syncs are slow, so that its first commit waits (see `crate::runner`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub leader_reads: bool,
    /// BUGGIFY: `None` (the default) keeps every site quiet; `swarm` draws it per seed.
    #[serde(default)]
    pub buggify: Option<BuggifyKnobs>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl Default for Knobs {
    fn default() -> Knobs {
        Knobs {
            snapshot_count: 10_000,
            catch_up_entries: 5_000,
            bug: None,
            env: Environment::default(),
            leader_reads: false,
            buggify: None,
        }
    }
}

/// BUGGIFY for a run, FoundationDB style: each site of the stack (`raft::buggify::SITES`,
/// `net::buggify::SITES`, `engine::buggify::SITES`) is activated for the whole run with
/// probability `activation`, and an activated site fires with probability `firing` each time
/// the code asks it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuggifyKnobs {
    pub activation: f64,
    pub firing: f64,
    /// Only these sites may be activated (absent: every site). Written by hand to pin a
    /// failure to one site: the sites left out draw nothing, so such a run is another run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sites: Option<Vec<String>>,
}

// `validate` refuses NaN, so equality is an equivalence on the knobs a plan can hold.
impl Eq for BuggifyKnobs {}

impl BuggifyKnobs {
    /// The simulator's configuration for these knobs (`None`: off).
    pub fn config(knobs: Option<&BuggifyKnobs>) -> sim::buggify::BuggifyConfig {
        match knobs {
            None => sim::buggify::BuggifyConfig::default(),
            Some(b) => sim::buggify::BuggifyConfig {
                enabled: true,
                activation: b.activation,
                firing: b.firing,
                only: b.sites.clone(),
            },
        }
    }

    /// Probabilities must lie in 0..=1.
    pub fn validate(&self) -> Result<(), String> {
        for (name, p) in [("activation", self.activation), ("firing", self.firing)] {
            if !(0.0..=1.0).contains(&p) {
                return Err(format!("buggify: {name} {p} is not a probability in 0..=1"));
            }
        }
        Ok(())
    }
}

impl fmt::Display for BuggifyKnobs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "activation={} firing={}", self.activation, self.firing)?;
        if let Some(sites) = &self.sites {
            write!(f, " sites={}", sites.join(","))?;
        }
        Ok(())
    }
}

/// Everything a run needs. `actions` and `workload` are sorted by time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub scenario: String,
    pub seed: u64,
    /// Voting members at the start (3 or 5).
    pub nodes: u32,
    /// Length of the fault and workload phase; healing and final checks follow it.
    pub duration_ns: u64,
    #[serde(default)]
    pub knobs: Knobs,
    pub actions: Vec<TimedAction>,
    pub workload: Vec<ClientOp>,
}

/// Why a plan file could not be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlanError {
    /// Not JSON, or JSON of the wrong shape: serde's message names the field and position.
    Json { line: usize, column: usize, message: String },
    /// Well-formed but unusable (a node number out of range, too many nodes, ...).
    Invalid(String),
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanError::Json { line, column, message } => {
                write!(f, "plan file: {message} (line {line}, column {column})")
            }
            PlanError::Invalid(why) => write!(f, "plan file: {why}"),
        }
    }
}

impl std::error::Error for PlanError {}

/// Most nodes a plan may start with (membership changes may add more, up to [`MAX_NODES`]).
pub const MAX_START_NODES: u32 = 7;
/// Most node numbers a run may use.
pub const MAX_NODES: u32 = 9;
/// Most client processes a workload may use.
pub const MAX_CLIENTS: u32 = 64;
/// Keys a workload may use (`k0..k9`: one digit, so key order is numeric order and a range
/// `k{from}..=k{to}` is a byte range).
pub const MAX_KEYS: u8 = 10;

impl Plan {
    /// Parses and validates a plan; sorts its actions and workload by time (stably).
    pub fn from_json(text: &str) -> Result<Plan, PlanError> {
        let mut plan: Plan = serde_json::from_str(text).map_err(|e| PlanError::Json {
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })?;
        plan.validate()?;
        plan.sort();
        Ok(plan)
    }

    /// Pretty JSON that [`Plan::from_json`] reads back.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("plans always serialise")
    }

    /// Sorts actions and workload by time, keeping the order of equal times.
    pub fn sort(&mut self) {
        self.actions.sort_by_key(|a| a.at);
        self.workload.sort_by_key(|o| o.at);
    }

    /// Checks node numbers and sizes.
    pub fn validate(&self) -> Result<(), PlanError> {
        let bad = |s: String| Err(PlanError::Invalid(s));
        if self.nodes == 0 || self.nodes > MAX_START_NODES {
            return bad(format!("nodes is {}, must be 1..={MAX_START_NODES}", self.nodes));
        }
        if self.duration_ns == 0 {
            return bad("duration_ns must be positive".into());
        }
        self.knobs.env.validate().map_err(PlanError::Invalid)?;
        if let Some(b) = &self.knobs.buggify {
            b.validate().map_err(PlanError::Invalid)?;
        }
        for (i, a) in self.actions.iter().enumerate() {
            for n in a.action.named_nodes() {
                if n == 0 || n > MAX_NODES {
                    return bad(format!("actions[{i}]: node {n} out of range 1..={MAX_NODES}"));
                }
            }
            if let Action::Trigger { nth, then, .. } = &a.action {
                crate::trigger::validate(*nth, then)
                    .map_err(|e| PlanError::Invalid(format!("actions[{i}]: {e}")))?;
            }
        }
        for (i, o) in self.workload.iter().enumerate() {
            if o.client >= MAX_CLIENTS {
                return bad(format!("workload[{i}]: client {} out of range", o.client));
            }
            if let Some(k) = o.op.keys().into_iter().find(|k| *k >= MAX_KEYS) {
                return bad(format!("workload[{i}]: key {k} out of range 0..{MAX_KEYS}"));
            }
            match &o.op {
                WorkOp::Range { from, to } if from > to => {
                    return bad(format!("workload[{i}]: range {from}..={to} is empty"));
                }
                WorkOp::Txn { success, .. } => {
                    let mut keys: Vec<u8> = success.iter().map(|w| w.key).collect();
                    keys.sort_unstable();
                    if keys.windows(2).any(|w| w[0] == w[1]) {
                        return bad(format!("workload[{i}]: a txn writes one key twice"));
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Number of faults and disruptions (what the shrinker minimises).
    pub fn fault_count(&self) -> usize {
        self.actions.len()
    }

    /// The triggers the plan arms, with their arming times.
    pub fn triggers(&self) -> Vec<(u64, Trigger)> {
        self.actions.iter().filter_map(|a| a.action.trigger().map(|t| (a.at, t))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Plan {
        Plan {
            scenario: "partition".into(),
            seed: 7,
            nodes: 3,
            duration_ns: 5_000_000_000,
            knobs: Knobs::default(),
            actions: vec![
                TimedAction { at: 2, action: Action::IsolateLeader },
                TimedAction { at: 1, action: Action::Sim { fault: Fault::Crash { node: 2 } } },
            ],
            workload: vec![ClientOp {
                at: 5,
                client: 0,
                op: WorkOp::Cas { key: 1, old: None, new: 3 },
            }],
        }
    }

    #[test]
    fn json_roundtrip_sorts_by_time() {
        let p = sample();
        let back = Plan::from_json(&p.to_json()).unwrap();
        assert_eq!(back.actions[0].at, 1);
        assert_eq!(back.actions[1].action, Action::IsolateLeader);
        assert_eq!(back.workload, p.workload);
    }

    #[test]
    fn malformed_plans_name_the_problem() {
        let e = Plan::from_json("{\"scenario\": 3}").unwrap_err();
        assert!(e.to_string().contains("invalid type"), "{e}");
        let mut p = sample();
        p.actions.push(TimedAction { at: 9, action: Action::WrongToken { node: 40 } });
        let e = Plan::from_json(&p.to_json()).unwrap_err();
        assert!(e.to_string().contains("actions[2]: node 40 out of range"), "{e}");
        let e = Plan::from_json("not json").unwrap_err();
        assert!(matches!(e, PlanError::Json { line: 1, .. }), "{e:?}");
    }

    #[test]
    fn same_id_other_cluster_reads_writes_and_is_validated() {
        let json = r#"{"at": 5, "action": {"kind": "same_id_other_cluster", "node": 2}}"#;
        let a: TimedAction = serde_json::from_str(json).unwrap();
        assert_eq!(a, TimedAction { at: 5, action: Action::SameIdOtherCluster { node: 2 } });
        assert_eq!(a.action.name(), "same_id_other_cluster");
        let mut p = sample();
        p.actions.push(a);
        let back = Plan::from_json(&p.to_json()).unwrap();
        assert_eq!(back.actions[2].action, Action::SameIdOtherCluster { node: 2 });
        p.actions.push(TimedAction { at: 6, action: Action::SameIdOtherCluster { node: 0 } });
        let e = Plan::from_json(&p.to_json()).unwrap_err();
        assert!(e.to_string().contains("actions[3]: node 0 out of range"), "{e}");
        let e = serde_json::from_str::<Action>(r#"{"kind": "same_id_other_cluster"}"#);
        assert!(e.unwrap_err().to_string().contains("missing field `node`"));
    }

    #[test]
    fn triggers_round_trip_and_are_validated() {
        let json = r#"{"at": 7, "action": {"kind": "trigger", "node": 2, "on": "vote_grant",
            "nth": 3, "then": {"kind": "power_loss_now", "restart_after_ns": 500}}}"#;
        let a: TimedAction = serde_json::from_str(json).unwrap();
        let t = a.action.trigger().expect("a trigger");
        assert_eq!((t.node, t.on, t.nth), (2, Moment::VoteGrant, 3));
        assert_eq!(t.then, Effect::PowerLossNow { restart_after_ns: 500 });
        assert_eq!(a.action.name(), "trigger vote_grant -> power_loss_now");
        let mut p = sample();
        p.actions.push(a.clone());
        let then =
            Effect::Then { action: Box::new(Action::Sim { fault: Fault::Isolate { node: 3 } }) };
        let b = Action::Trigger { node: 1, on: Moment::BoltCommit, nth: 1, then };
        p.actions.push(TimedAction { at: 8, action: b.clone() });
        let back = Plan::from_json(&p.to_json()).unwrap();
        assert_eq!(back, {
            let mut q = p.clone();
            q.sort();
            q
        });
        assert_eq!(back.triggers().len(), 2);
        // A node out of range inside the effect, a zero nth and unknown fields are refused.
        let then = Effect::Then { action: Box::new(Action::WrongToken { node: 12 }) };
        let mut bad = sample();
        bad.actions.push(TimedAction {
            at: 1,
            action: Action::Trigger { node: 1, on: Moment::AppendAck, nth: 1, then },
        });
        let e = Plan::from_json(&bad.to_json()).unwrap_err();
        assert!(e.to_string().contains("node 12 out of range"), "{e}");
        let zero = json.replace("\"nth\": 3", "\"nth\": 0");
        let mut p = sample();
        p.actions.push(serde_json::from_str(&zero).unwrap());
        assert!(Plan::from_json(&p.to_json()).unwrap_err().to_string().contains("nth"));
        let extra = json.replace("\"nth\": 3", "\"nth\": 3, \"when\": 1");
        assert!(serde_json::from_str::<TimedAction>(&extra).is_err());
    }

    #[test]
    fn buggify_knobs_default_off_round_trip_and_are_validated() {
        let p = sample();
        assert_eq!(p.knobs.buggify, None);
        let mut json: serde_json::Value = serde_json::from_str(&p.to_json()).unwrap();
        json["knobs"].as_object_mut().unwrap().remove("buggify").expect("knobs list buggify");
        let back = Plan::from_json(&json.to_string()).unwrap();
        assert_eq!(back.knobs.buggify, None, "a plan without the field keeps BUGGIFY off");
        let mut p = sample();
        p.knobs.buggify = Some(BuggifyKnobs { activation: 0.3, firing: 0.07, sites: None });
        assert_eq!(Plan::from_json(&p.to_json()).unwrap().knobs, p.knobs);
        let only = Some(vec!["raft.wal.early-cut".to_string()]);
        p.knobs.buggify = Some(BuggifyKnobs { activation: 0.3, firing: 0.07, sites: only });
        assert_eq!(Plan::from_json(&p.to_json()).unwrap().knobs, p.knobs);
        let c = BuggifyKnobs::config(p.knobs.buggify.as_ref());
        assert_eq!(c.only.as_deref(), Some(&["raft.wal.early-cut".to_string()][..]));
        p.knobs.buggify = Some(BuggifyKnobs { activation: 1.5, firing: 0.07, sites: None });
        let e = Plan::from_json(&p.to_json()).unwrap_err();
        assert!(e.to_string().contains("activation 1.5 is not a probability"), "{e}");
        let b = BuggifyKnobs { activation: 0.3, firing: 0.07, sites: None };
        let c = BuggifyKnobs::config(Some(&b));
        assert!(c.enabled && c.activation == 0.3 && c.firing == 0.07 && c.only.is_none());
        assert!(!BuggifyKnobs::config(None).enabled);
    }

    #[test]
    fn action_names() {
        assert_eq!(Action::IsolateLeader.name(), "isolate_leader");
        assert_eq!(Action::Sim { fault: Fault::Heal }.name(), "heal");
    }
}
