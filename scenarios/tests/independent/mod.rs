//! Independent linearizability oracles, to cross-check the project's checker
//! (`scenarios::check`: a Wing–Gong–Lowe search with a compact memo, forced reads, dead-value
//! pruning, sound reductions of unknown outcomes, and groups of keys tied by multi-key
//! operations).
//!
//! Two searches, sharing nothing with `scenarios::check::{wgl, reduce, models, groups}` but the
//! input data types ([`Operation`], [`Value`], [`Key`]):
//! - [`Oracle::Tester`]: stateright's `LinearizabilityTester` (a crate by other authors, a
//!   dev-dependency only; see [`tester`]): a plain depth-first search over interleavings of
//!   per-thread sequences, no memo. Fast when a greedy order works; exponential when it must
//!   refute a long, concurrent history.
//! - [`Oracle::Dfs`]: Wing & Gong's exhaustive search over linearization orders, memoised on
//!   (set of linearized operations, state) and nothing else ([`dfs`]), written here. It decides
//!   the refutations the tester cannot afford.
//!
//! # The object
//!
//! One sequential object: a map from [`Key`] to [`Value`], every key initially absent. The
//! specification ([`apply`]) is written here from the plain meaning of each function, not from
//! `scenarios::check::models`:
//!
//! - `read` / `get` of a key return its value (`nil`: absent); `write` / `put` set it (`nil`
//!   removes the key: the workload records a delete as `write nil`); `delete` removes it;
//!   `cas [old new]` sets `new` if the key holds `old` (`nil`: absent) and is refused otherwise;
//!   `append x` pushes `x` onto the list at the key (absent: a new list) and is refused on a
//!   plain value. A register and a key-value cell are the same thing: one key's value.
//! - `range [from .. to]` (the argument lists every key of the interval) returns the pairs
//!   `(key, value)` present in `[from, to]`, in key order ([`Ret::Pairs`]).
//! - `txn [compares writes reads]`: every compare `[k v]` ("key k holds v", `nil`: absent) is
//!   evaluated against the map before the txn, as etcd does. All hold: the success branch's
//!   writes apply in order (`nil`: delete) and it returns `[1]`. Otherwise nothing changes and
//!   it returns `[0 v ...]`, the value of each failure-branch key ([`Ret::Txn`]).
//!
//! # What a history means (shared by both oracles: [`entries`])
//!
//! - `Ok`: took effect once, between its invocation and its completion, returning its recorded
//!   result (`Done` for writes; a cas or append that succeeded; a txn's `[1]` or `[0 v ...]`).
//! - `Fail`: certainly did not take effect: left out.
//! - `Info` (unknown): may have taken effect once, at any time after its invocation, or not at
//!   all; its return value is unknown.
//! - `Committed` (took effect, response never seen): took effect once, at any time after its
//!   invocation, successfully (a committed cas swapped, as an `ok` one does). A committed txn
//!   took effect but its branch is unknown: it becomes [`Call::Hidden`], which must be
//!   linearized and whose return says nothing.
//! - A read (read, get, range) whose outcome is `Info` or `Committed` is left out: its result is
//!   unknown and it changes nothing, so it constrains no linearization.
//! - **Left out by contract**: `read-serializable` (a serializable read promises less than a
//!   linearizable one, and the project's checker documents that its linearizability search
//!   never sees it: `scenarios::check::serializable` checks it on its own, so this cross-check
//!   does not judge it at all), and `compact` (it changes no key's value and returns nothing a
//!   key determines, so it fits anywhere in its interval: it constrains no linearization).
//! - Real time: `a` precedes `b` when `a` completed strictly before `b` was invoked; equal times
//!   count as concurrent (as in the project's checker).
//!
//! # Objects checked apart ([`check_history`])
//!
//! Linearizability is local: a history is linearizable iff each independent object's
//! sub-history is. Keys are independent unless one operation touches several; so the entries
//! are split into the connected components of "touch a common key" (a union-find over keys,
//! [`components`]) and each component is checked as one map holding only its keys.
//!
//! # Budgets
//!
//! Each search counts its work and gives up with [`Verdict::Exhausted`] past a budget. Callers
//! must count and report exhausted components, never treat them as agreement.

use std::collections::BTreeMap;

use scenarios::check::{Func, History, Key, Operation, Outcome, Value};

pub mod dfs;
pub mod tester;

/// The state of the object: the keys present and their values (an absent key is `nil`).
pub type Map = BTreeMap<Key, Value>;

/// An operation as the specification sees it.
#[derive(Clone, Debug, PartialEq)]
pub enum Call {
    /// read or get.
    Read(Key),
    /// write or put (`nil`: remove), or delete (`nil`).
    Write(Key, Value),
    Cas {
        key: Key,
        expect: Value,
        new: Value,
    },
    Append(Key, Value),
    /// Every present pair with `from <= key <= to`.
    Range {
        from: Key,
        to: Key,
    },
    Txn {
        compares: Vec<(Key, Value)>,
        success: Vec<(Key, Value)>,
        failure: Vec<Key>,
    },
    /// Performs the inner call and returns [`Ret::Hidden`]: an operation that took effect with
    /// a return nobody saw (a committed txn). The tester compares returns by equality, so this
    /// is how "any return" is said to it.
    Hidden(Box<Call>),
}

/// What an operation returns.
#[derive(Clone, Debug, PartialEq)]
pub enum Ret {
    /// A read or get: the value (`nil`: absent).
    Value(Value),
    /// A write, put, delete, successful cas or append.
    Done,
    /// A cas whose expected value was not there, or an append onto a value that is not a list:
    /// nothing changed.
    Refused,
    /// A range: the present pairs, in key order.
    Pairs(Vec<(Key, Value)>),
    /// A txn: whether every compare held, and (when not) the failure keys' values.
    Txn { succeeded: bool, reads: Vec<Value> },
    /// See [`Call::Hidden`].
    Hidden,
}

fn get(map: &Map, key: &Key) -> Value {
    map.get(key).cloned().unwrap_or(Value::Nil)
}

fn set(map: &mut Map, key: &Key, value: &Value) {
    if *value == Value::Nil {
        map.remove(key);
    } else {
        map.insert(key.clone(), value.clone());
    }
}

/// The sequential specification: performs `call` on `map` and says what it returns.
pub fn apply(call: &Call, map: &mut Map) -> Ret {
    match call {
        Call::Read(k) => Ret::Value(get(map, k)),
        Call::Write(k, v) => {
            set(map, k, v);
            Ret::Done
        }
        Call::Cas { key, expect, new } => {
            if get(map, key) == *expect {
                set(map, key, new);
                Ret::Done
            } else {
                Ret::Refused
            }
        }
        // A list grows by one; an absent key becomes a one-element list.
        Call::Append(k, x) => match map.get_mut(k) {
            None => {
                map.insert(k.clone(), Value::Vec(vec![x.clone()]));
                Ret::Done
            }
            Some(Value::Vec(items)) => {
                items.push(x.clone());
                Ret::Done
            }
            Some(_) => Ret::Refused,
        },
        Call::Range { from, to } => Ret::Pairs(
            map.range(from.clone()..=to.clone()).map(|(k, v)| (k.clone(), v.clone())).collect(),
        ),
        Call::Txn { compares, success, failure } => {
            if compares.iter().all(|(k, v)| get(map, k) == *v) {
                for (k, v) in success {
                    set(map, k, v);
                }
                Ret::Txn { succeeded: true, reads: Vec::new() }
            } else {
                Ret::Txn { succeeded: false, reads: failure.iter().map(|k| get(map, k)).collect() }
            }
        }
        Call::Hidden(inner) => {
            apply(inner, map);
            Ret::Hidden
        }
    }
}

impl Call {
    /// Every key the call may read or write.
    pub fn keys(&self) -> Vec<Key> {
        let mut keys = match self {
            Call::Read(k) | Call::Write(k, _) | Call::Append(k, _) => vec![k.clone()],
            Call::Cas { key, .. } => vec![key.clone()],
            // The interval's keys are listed in the operation's argument ([`range_of`] checks
            // they are all there), and only they can be in the component.
            Call::Range { from, to } => match (from, to) {
                (Key::Int(a), Key::Int(b)) => (*a..=*b).map(Key::Int).collect(),
                _ => vec![from.clone(), to.clone()],
            },
            Call::Txn { compares, success, failure } => compares
                .iter()
                .chain(success)
                .map(|(k, _)| k.clone())
                .chain(failure.iter().cloned())
                .collect(),
            Call::Hidden(inner) => inner.keys(),
        };
        keys.sort();
        keys.dedup();
        keys
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
    /// What it must return if it takes effect; `None`: unknown (then it need not take effect).
    pub ret: Option<Ret>,
    /// Must take effect (`Ok`, `Committed`) rather than may (`Info`).
    pub required: bool,
}

/// The entries of `ops`, in the order given: `Fail` operations, reads of unknown outcome,
/// serializable reads and compactions left out (see the module documentation).
pub fn entries(ops: &[&Operation]) -> Result<Vec<Entry>, Unsupported> {
    let mut out = Vec::with_capacity(ops.len());
    for op in ops {
        if matches!(op.func, Func::SerialRead | Func::Compact) {
            continue;
        }
        let reads_only = matches!(op.func, Func::Read | Func::Get | Func::Range);
        let call = call_of(op)?;
        let (complete, call, ret, required) = match op.outcome {
            Outcome::Fail => continue,
            Outcome::Info | Outcome::Committed if reads_only => continue,
            Outcome::Ok => {
                let c = op.complete.expect("an Ok operation has a completion (History::new)");
                (Some(c), call, Some(ret_of(op)?), true)
            }
            Outcome::Committed if op.func == Func::Txn => {
                (None, Call::Hidden(Box::new(call)), Some(Ret::Hidden), true)
            }
            Outcome::Committed => (None, call, Some(Ret::Done), true),
            Outcome::Info => (None, call, None, false),
        };
        out.push(Entry { process: op.process, invoke: op.invoke, complete, call, ret, required });
    }
    Ok(out)
}

/// The verdict on one component.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Linearizable,
    NotLinearizable,
    /// The budget ran out first: no verdict.
    Exhausted,
}

/// The verdict on one component and the work the search spent on it (its own unit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checked {
    pub verdict: Verdict,
    pub work: u64,
    /// Entries the search was given.
    pub entries: usize,
}

/// An operation the specification cannot read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unsupported {
    pub op: String,
    pub why: &'static str,
}

fn unsupported(op: &Operation, why: &'static str) -> Unsupported {
    Unsupported { op: op.to_string(), why }
}

/// An integer key named in an argument.
fn key_in(op: &Operation, v: &Value) -> Result<Key, Unsupported> {
    match v {
        Value::Int(k) => Ok(Key::Int(*k)),
        _ => Err(unsupported(op, "a key in an argument must be an integer")),
    }
}

/// `[[k v] ...]`.
fn pairs_in(op: &Operation, v: &Value) -> Result<Vec<(Key, Value)>, Unsupported> {
    let Value::Vec(items) = v else { return Err(unsupported(op, "expected [[k v] ...]")) };
    items
        .iter()
        .map(|item| match item {
            Value::Vec(kv) if kv.len() == 2 => Ok((key_in(op, &kv[0])?, kv[1].clone())),
            _ => Err(unsupported(op, "expected [k v]")),
        })
        .collect()
}

/// `[k ...]`.
fn keys_in(op: &Operation, v: &Value) -> Result<Vec<Key>, Unsupported> {
    let Value::Vec(items) = v else { return Err(unsupported(op, "expected [k ...]")) };
    items.iter().map(|k| key_in(op, k)).collect()
}

/// The interval `[from, to]` of a range, whose argument must list exactly its keys, ascending.
fn range_of(op: &Operation) -> Result<(i64, i64), Unsupported> {
    let keys = keys_in(op, &op.arg)?;
    let ints: Vec<i64> = keys.iter().map(|k| if let Key::Int(i) = k { *i } else { 0 }).collect();
    let (Some(&from), Some(&to)) = (ints.first(), ints.last()) else {
        return Err(unsupported(op, "a range names at least one key"));
    };
    if ints.iter().copied().ne(from..=to) {
        return Err(unsupported(
            op,
            "a range's argument lists every key of an interval, ascending",
        ));
    }
    Ok((from, to))
}

/// The txn argument `[compares writes reads]`.
type TxnParts = (Vec<(Key, Value)>, Vec<(Key, Value)>, Vec<Key>);

fn txn_of(op: &Operation) -> Result<TxnParts, Unsupported> {
    match &op.arg {
        Value::Vec(parts) if parts.len() == 3 => {
            Ok((pairs_in(op, &parts[0])?, pairs_in(op, &parts[1])?, keys_in(op, &parts[2])?))
        }
        _ => Err(unsupported(op, "a txn's argument is [compares writes reads]")),
    }
}

/// The call of `op` (never a serializable read or a compaction).
fn call_of(op: &Operation) -> Result<Call, Unsupported> {
    let key = || op.key.clone();
    Ok(match op.func {
        Func::Read | Func::Get => Call::Read(key()),
        Func::Write | Func::Put => Call::Write(key(), op.arg.clone()),
        Func::Delete => Call::Write(key(), Value::Nil),
        Func::Append => Call::Append(key(), op.arg.clone()),
        Func::Cas => match &op.arg {
            Value::Vec(pair) if pair.len() == 2 => {
                Call::Cas { key: key(), expect: pair[0].clone(), new: pair[1].clone() }
            }
            _ => return Err(unsupported(op, "a cas's argument is [old new]")),
        },
        Func::Range => {
            let (from, to) = range_of(op)?;
            Call::Range { from: Key::Int(from), to: Key::Int(to) }
        }
        Func::Txn => {
            let (compares, success, failure) = txn_of(op)?;
            Call::Txn { compares, success, failure }
        }
        Func::SerialRead | Func::Compact => {
            return Err(unsupported(op, "not a linearizable operation (left out by contract)"))
        }
    })
}

/// What a completed `Ok` operation returned.
fn ret_of(op: &Operation) -> Result<Ret, Unsupported> {
    Ok(match op.func {
        Func::Read | Func::Get => Ret::Value(op.result.clone()),
        Func::Range => {
            range_of(op)?;
            let Value::Vec(values) = &op.result else {
                return Err(unsupported(op, "a range returns [v ...]"));
            };
            let keys = keys_in(op, &op.arg)?;
            if values.len() != keys.len() {
                return Err(unsupported(op, "a range returns one value per key"));
            }
            let present = keys.into_iter().zip(values.iter().cloned());
            Ret::Pairs(present.filter(|(_, v)| *v != Value::Nil).collect())
        }
        Func::Txn => {
            let (_, _, failure) = txn_of(op)?;
            match &op.result {
                Value::Vec(r) if r.as_slice() == [Value::Int(1)] => {
                    Ret::Txn { succeeded: true, reads: Vec::new() }
                }
                Value::Vec(r)
                    if r.first() == Some(&Value::Int(0)) && r.len() == failure.len() + 1 =>
                {
                    Ret::Txn { succeeded: false, reads: r[1..].to_vec() }
                }
                _ => return Err(unsupported(op, "a txn returns [1] or [0 v ...], one per read")),
            }
        }
        _ => Ret::Done,
    })
}

/// Which independent search to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Oracle {
    /// stateright's `LinearizabilityTester`; budget in specification steps.
    Tester,
    /// The memoised exhaustive search; budget in configurations visited.
    Dfs,
}

/// Union-find over positions, by size.
struct Components {
    parent: Vec<usize>,
    size: Vec<usize>,
}

impl Components {
    fn root(&self, mut x: usize) -> usize {
        while self.parent[x] != x {
            x = self.parent[x];
        }
        x
    }

    fn join(&mut self, a: usize, b: usize) {
        let (mut a, mut b) = (self.root(a), self.root(b));
        if a == b {
            return;
        }
        if self.size[a] < self.size[b] {
            std::mem::swap(&mut a, &mut b);
        }
        self.parent[b] = a;
        self.size[a] += self.size[b];
    }
}

/// One component: its keys, ascending, and its entries, in history order.
pub type Component = (Vec<Key>, Vec<Entry>);

/// The entries of `history` split into components, ordered by their smallest key.
pub fn components(history: &History) -> Result<Vec<Component>, Unsupported> {
    let ops: Vec<&Operation> = history.ops().iter().collect();
    let all = entries(&ops)?;
    let mut index: BTreeMap<Key, usize> = BTreeMap::new();
    let keyed: Vec<Vec<usize>> = all
        .iter()
        .map(|e| {
            e.call
                .keys()
                .into_iter()
                .map(|k| {
                    let n = index.len();
                    *index.entry(k).or_insert(n)
                })
                .collect()
        })
        .collect();
    let mut u = Components { parent: (0..index.len()).collect(), size: vec![1; index.len()] };
    for ks in &keyed {
        for k in ks.iter().skip(1) {
            u.join(ks[0], *k);
        }
    }
    let mut by_root: BTreeMap<usize, Component> = BTreeMap::new();
    for (k, i) in &index {
        by_root.entry(u.root(*i)).or_default().0.push(k.clone());
    }
    for (e, ks) in all.into_iter().zip(&keyed) {
        assert!(!ks.is_empty(), "every call touches a key: {:?}", e.call);
        by_root.get_mut(&u.root(ks[0])).expect("its keys have a component").1.push(e);
    }
    let mut out: Vec<Component> = by_root.into_values().collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Checks every component of `history` with `oracle`, each with its own budget `budget(its
/// number of entries)`; keyed by the component's keys.
pub fn check_history(
    oracle: Oracle,
    history: &History,
    budget: impl Fn(usize) -> u64,
) -> Result<BTreeMap<Vec<Key>, Checked>, Unsupported> {
    Ok(components(history)?
        .into_iter()
        .map(|(keys, entries)| {
            let checked = match oracle {
                Oracle::Tester => tester::check(&entries, budget(entries.len())),
                Oracle::Dfs => dfs::check(&entries, budget(entries.len())),
            };
            (keys, checked)
        })
        .collect())
}
