//! Independent linearizability oracles, to cross-check the project's checker
//! (`scenarios::check`: a Wing–Gong–Lowe search with a compact memo, forced reads, dead-value
//! pruning and sound reductions of unknown outcomes).
//!
//! Two searches, sharing nothing with `scenarios::check::wgl`, `reduce` or `models` but the input
//! data types ([`Operation`], [`Value`], [`Key`]):
//! - [`Oracle::Tester`]: stateright's `LinearizabilityTester` (a crate by other authors, a
//!   dev-dependency only; see [`tester`]): a plain depth-first search over interleavings of
//!   per-thread sequences, no memo. Fast when a greedy order works; exponential when it must
//!   refute a long, concurrent history.
//! - [`Oracle::Dfs`]: Wing & Gong's exhaustive search over linearization orders, memoised on
//!   (set of linearized operations, state) and nothing else ([`dfs`]), written here. It decides
//!   the refutations the tester cannot afford.
//!
//! The sequential specification ([`apply`]) is written here from the plain meaning of each
//! function, not from `scenarios::check::models`.
//!
//! # What a history means (shared by both oracles: [`entries`])
//!
//! - **Keys** are independent objects: the operations of each key are checked on their own
//!   ([`check_history`] groups them by `op.key` itself).
//! - `Ok`: took effect once, between its invocation and its completion, returning its recorded
//!   result (`Done` for writes; a cas or append that succeeded).
//! - `Fail`: certainly did not take effect: left out.
//! - `Info` (unknown): may have taken effect once, at any time after its invocation, or not at
//!   all; its return value is unknown.
//! - `Committed` (took effect, response never seen): took effect once, at any time after its
//!   invocation, successfully.
//! - A read whose outcome is `Info` or `Committed` is left out: its result is unknown and it
//!   changes nothing, so it constrains no linearization.
//! - Real time: `a` precedes `b` when `a` completed strictly before `b` was invoked; equal times
//!   count as concurrent (as in the project's checker).
//!
//! # Budgets
//!
//! Each search counts its work and gives up with [`Verdict::Exhausted`] past a budget. Callers
//! must count and report exhausted keys, never treat them as agreement.
//!
//! # Extending to multi-key operations
//!
//! A multi-key operation (txn with compares, range) ties keys together, so keys are no longer
//! independent. Give [`Call`] variants that carry their keys (a txn: its compares and its
//! success and failure branches; a range: its bounds, returning the pairs seen) and make the
//! state a `BTreeMap<Key, Value>` instead of one [`Value`] ([`apply`] then reads and writes the
//! map; a compare sees the map before the txn, as etcd does). In [`check_history`], group the
//! operations into connected components of the relation "touch a common key" and check each
//! component as one object (or the whole history as one, if components are few). [`entries`],
//! [`call_of`] and [`ret_of`] learn the new functions; the two searches need no change beyond
//! their state type (the DFS memo key holds the state, so a map state works as is).

use std::collections::BTreeMap;

use scenarios::check::{Func, History, Key, Operation, Outcome, Value};

pub mod dfs;
pub mod tester;

/// Which sequential object a history describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Object {
    /// read / write / cas; initially `nil`.
    Register,
    /// get / put / delete / append; initially absent (`nil`).
    Kv,
}

/// An operation as the specification sees it.
#[derive(Clone, Debug, PartialEq)]
pub enum Call {
    Read,
    Write(Value),
    Cas { expect: Value, new: Value },
    Get,
    Put(Value),
    Delete,
    Append(Value),
}

/// What an operation returns.
#[derive(Clone, Debug, PartialEq)]
pub enum Ret {
    /// A read or get: the value (`nil`: never written, or absent).
    Value(Value),
    /// A write, put, delete, successful cas or append.
    Done,
    /// A cas whose expected value was not there, or an append onto a value that is not a list:
    /// nothing changed.
    Refused,
}

/// The sequential specification: performs `call` on a key holding `value` (`nil`: never
/// written, or absent) and says what it returns.
pub fn apply(call: &Call, value: &mut Value) -> Ret {
    match call {
        Call::Read | Call::Get => Ret::Value(value.clone()),
        Call::Write(v) | Call::Put(v) => {
            *value = v.clone();
            Ret::Done
        }
        Call::Delete => {
            *value = Value::Nil;
            Ret::Done
        }
        Call::Cas { expect, new } => {
            if *value == *expect {
                *value = new.clone();
                Ret::Done
            } else {
                Ret::Refused
            }
        }
        // A list grows by one; an absent key becomes a one-element list.
        Call::Append(x) => match value {
            Value::Nil => {
                *value = Value::Vec(vec![x.clone()]);
                Ret::Done
            }
            Value::Vec(items) => {
                items.push(x.clone());
                Ret::Done
            }
            Value::Int(_) | Value::Str(_) => Ret::Refused,
        },
    }
}

/// One operation as both searches see it (see the module documentation for the rules).
#[derive(Clone, Debug)]
pub struct Entry {
    pub process: u64,
    pub invoke: u64,
    /// When it returned, for an `Ok` operation; `None`: no bound on when it took effect.
    pub complete: Option<u64>,
    pub call: Call,
    /// What it must return if it takes effect; `None`: unknown.
    pub ret: Option<Ret>,
    /// Must take effect (`Ok`, `Committed`) rather than may (`Info`).
    pub required: bool,
}

/// The entries of one key's operations, in the order given; `Fail` operations and reads of
/// unknown outcome left out.
pub fn entries(object: Object, ops: &[&Operation]) -> Result<Vec<Entry>, Unsupported> {
    let mut out = Vec::with_capacity(ops.len());
    for op in ops {
        let call = call_of(object, op)?;
        let (complete, ret, required) = match op.outcome {
            Outcome::Fail => continue,
            Outcome::Info | Outcome::Committed if op.func.is_read_only() => continue,
            Outcome::Ok => {
                let c = op.complete.expect("an Ok operation has a completion (History::new)");
                (Some(c), Some(ret_of(op)), true)
            }
            Outcome::Committed => (None, Some(Ret::Done), true),
            Outcome::Info => (None, None, false),
        };
        out.push(Entry { process: op.process, invoke: op.invoke, complete, call, ret, required });
    }
    Ok(out)
}

/// The verdict on one key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Linearizable,
    NotLinearizable,
    /// The budget ran out first: no verdict.
    Exhausted,
}

/// The verdict on one key and the work the search spent on it (its own unit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checked {
    pub verdict: Verdict,
    pub work: u64,
}

/// An operation the object does not have.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unsupported {
    pub object: Object,
    pub op: String,
}

/// The call of `op`, if `object` has its function.
fn call_of(object: Object, op: &Operation) -> Result<Call, Unsupported> {
    let unsupported = || Unsupported { object, op: op.to_string() };
    Ok(match (object, op.func) {
        (Object::Register, Func::Read) => Call::Read,
        (Object::Register, Func::Write) => Call::Write(op.arg.clone()),
        (Object::Register, Func::Cas) => match &op.arg {
            Value::Vec(pair) if pair.len() == 2 => {
                Call::Cas { expect: pair[0].clone(), new: pair[1].clone() }
            }
            _ => return Err(unsupported()),
        },
        (Object::Kv, Func::Get) => Call::Get,
        (Object::Kv, Func::Put) => Call::Put(op.arg.clone()),
        (Object::Kv, Func::Delete) => Call::Delete,
        (Object::Kv, Func::Append) => Call::Append(op.arg.clone()),
        _ => return Err(unsupported()),
    })
}

/// What a completed `Ok` operation returned.
fn ret_of(op: &Operation) -> Ret {
    if op.func.is_read_only() {
        Ret::Value(op.result.clone())
    } else {
        Ret::Done
    }
}

/// Which independent search to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Oracle {
    /// stateright's `LinearizabilityTester`; budget in specification steps.
    Tester,
    /// The memoised exhaustive search; budget in configurations visited.
    Dfs,
}

/// Checks every key of `history` as `object` with `oracle`, each key with its own `budget`.
pub fn check_history(
    oracle: Oracle,
    object: Object,
    history: &History,
    budget: u64,
) -> Result<BTreeMap<Key, Checked>, Unsupported> {
    let mut by_key: BTreeMap<&Key, Vec<&Operation>> = BTreeMap::new();
    for op in history.ops() {
        by_key.entry(&op.key).or_default().push(op);
    }
    by_key
        .into_iter()
        .map(|(key, ops)| {
            let entries = entries(object, &ops)?;
            let checked = match oracle {
                Oracle::Tester => tester::check(&entries, budget),
                Oracle::Dfs => dfs::check(&entries, budget),
            };
            Ok((key.clone(), checked))
        })
        .collect()
}
