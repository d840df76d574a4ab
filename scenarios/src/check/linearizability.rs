//! Checking a whole history: partition by key, reduce unknown outcomes, search each key.

use std::collections::BTreeMap;
use std::fmt;

use super::history::{History, Key, OpId, Outcome};
use super::models::{Model, ModelError};
use super::reduce::{reduce, Reduction};
use super::wgl::{search, Budget, KeyOp, Search};

/// Why one key (or group of keys) is not linearizable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyFailure {
    /// The key, or the first key of the group.
    pub key: Key,
    /// Every key of the group checked together (just `key` when checked alone).
    pub group: Vec<Key>,
    /// The longest linearizable prefix the search found, in linearization order.
    pub prefix: Vec<OpId>,
    /// The model state after `prefix`, described by the model.
    pub state: String,
    /// The operation that completed without any order placing it.
    pub blocked: OpId,
    /// The other operations that could have been linearized next; none fits either.
    pub pending: Vec<OpId>,
    /// Operations still to be linearized that need the state after `prefix` (so nothing may
    /// overwrite it first).
    pub waiting: Vec<OpId>,
}

/// The verdict on a history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Linearizable,
    /// At least one key is not linearizable (every failing key among those checked).
    NotLinearizable(Vec<KeyFailure>),
    /// The budget ran out before a verdict; `keys` were not decided.
    Unknown {
        keys: Vec<Key>,
    },
}

impl Verdict {
    /// The verdict over every group checked: any failure decides it, then any undecided key.
    pub fn of(failures: Vec<KeyFailure>, undecided: Vec<Key>) -> Verdict {
        if !failures.is_empty() {
            Verdict::NotLinearizable(failures)
        } else if !undecided.is_empty() {
            Verdict::Unknown { keys: undecided }
        } else {
            Verdict::Linearizable
        }
    }
}

/// Counters describing the work done.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub keys: usize,
    /// Operations given to the search, after the reductions.
    pub searched: usize,
    /// Operations with an unknown outcome in the input.
    pub unknown: usize,
    pub reduction: Reduction,
    pub steps: u64,
}

/// The verdict and how it was reached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    pub verdict: Verdict,
    pub stats: Stats,
}

/// An operation the model cannot check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckError {
    pub op: OpId,
    pub line: Option<u32>,
    pub error: ModelError,
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}", self.error),
            None => write!(f, "operation {}: {}", self.op.0, self.error),
        }
    }
}

impl std::error::Error for CheckError {}

/// The compiled operations of each key.
type Partition<O> = BTreeMap<Key, Vec<KeyOp<O>>>;

/// Whether the search must (`Some(true)`), may (`Some(false)`) or need not see `op`: `Fail`
/// operations did not happen, and unknown reads have no effect and no known result.
pub(crate) fn requirement(op: &super::Operation) -> Option<bool> {
    match op.outcome {
        Outcome::Fail => None,
        Outcome::Info | Outcome::Committed if op.func.is_read_only() => None,
        Outcome::Ok | Outcome::Committed => Some(true),
        Outcome::Info => Some(false),
    }
}

/// Operation `id` of `history` compiled for `model`, ready for the search (`None`: the search
/// need not see it).
pub(crate) fn key_op<M: Model>(
    model: &M,
    history: &History,
    id: OpId,
) -> Result<Option<KeyOp<M::Op>>, CheckError> {
    let op = history.get(id);
    let compiled =
        model.compile(op).map_err(|error| CheckError { op: id, line: op.line, error })?;
    Ok(requirement(op).map(|required| KeyOp {
        id,
        invoke: op.invoke,
        deadline: op.effective_completion(),
        required,
        op: compiled,
    }))
}

/// The operations of each key, compiled for `model`; `Fail` and unknown reads removed.
fn partition<M: Model>(model: &M, history: &History) -> Result<Partition<M::Op>, CheckError> {
    let mut keys: Partition<M::Op> = BTreeMap::new();
    for (i, op) in history.ops().iter().enumerate() {
        if let Some(k) = key_op(model, history, OpId(i))? {
            keys.entry(op.key.clone()).or_default().push(k);
        }
    }
    Ok(keys)
}

/// Searches the (reduced) operations of one key or group and files the result.
pub(crate) fn judge<M: Model>(
    model: &M,
    group: Vec<Key>,
    ops: &[KeyOp<M::Op>],
    budget: &mut Budget,
    failures: &mut Vec<KeyFailure>,
    undecided: &mut Vec<Key>,
) {
    match search(model, ops, budget) {
        Search::Linearizable => {}
        Search::Exhausted => undecided.extend(group),
        Search::NotLinearizable(stuck) => failures.push(KeyFailure {
            key: group[0].clone(),
            group,
            prefix: stuck.prefix.iter().map(|&i| ops[i].id).collect(),
            state: model.describe_state(&stuck.state),
            blocked: ops[stuck.blocked].id,
            pending: stuck.pending.iter().map(|&i| ops[i].id).collect(),
            waiting: stuck.waiting.iter().map(|&i| ops[i].id).collect(),
        }),
    }
}

/// Checks `history` against `model`, key by key, within `budget`.
pub fn check<M: Model>(
    model: &M,
    history: &History,
    budget: &mut Budget,
) -> Result<Report, CheckError> {
    let keys = partition(model, history)?;
    let mut stats = Stats {
        keys: keys.len(),
        unknown: history
            .ops()
            .iter()
            .filter(|o| matches!(o.outcome, Outcome::Info | Outcome::Committed))
            .count(),
        ..Stats::default()
    };
    let mut failures = Vec::new();
    let mut undecided = Vec::new();
    for (key, mut ops) in keys {
        if !undecided.is_empty() {
            undecided.push(key);
            continue;
        }
        let r = reduce(model, &mut ops);
        stats.reduction.dropped += r.dropped;
        stats.reduction.bounded += r.bounded;
        stats.searched += ops.len();
        judge(model, vec![key], &ops, budget, &mut failures, &mut undecided);
    }
    stats.steps = budget.used();
    Ok(Report { verdict: Verdict::of(failures, undecided), stats })
}
