//! An independent linearizability oracle, to cross-check the project's checker
//! (`scenarios::check`).
//!
//! The search is stateright's [`LinearizabilityTester`] (a crate by other authors, used as a
//! dev-dependency only): a plain depth-first search over interleavings of per-thread operation
//! sequences, with no memo, no reductions and no pruning. It shares nothing with
//! `scenarios::check::wgl` but the input data types ([`Operation`], [`Value`], [`Key`]). The
//! sequential specification ([`Spec`]) is written here from the plain meaning of each function,
//! not from `scenarios::check::models`.
//!
//! # How a [`History`] maps onto the tester
//!
//! - **Keys** are independent objects: the operations of each key are checked on their own
//!   ([`check_history`] groups them by `op.key` itself).
//! - **Events** are fed in time order, invocations before completions at equal times (so touching
//!   intervals count as concurrent, as in the project's checker).
//! - **Threads.** The tester wants each thread to be sequential with at most one operation in
//!   flight. An `Ok` operation runs on its process's thread; an operation without a known
//!   completion runs on a fresh *virtual* thread of its own (our clients go on after giving up,
//!   so a process may have several such operations). Any split of a process into sequential
//!   chains gives the same real-time constraints, which is all a thread means to the tester.
//! - **Outcomes.**
//!   - `Ok`: invoked and returned with its known return value.
//!   - `Fail`: it certainly did not take effect: left out.
//!   - `Info` (unknown): invoked and never returned. The tester may linearize an operation still
//!     in flight at any point after its invocation, or not at all, with whatever return value
//!     the specification gives: exactly "may or may not have taken effect".
//!   - `Committed` (took effect, response never seen): invoked, and returned after every other
//!     event of the history. So it must be linearized, at any time after its invocation; its
//!     return value is the successful one (a committed cas swapped).
//!   - A read whose outcome is `Info` or `Committed` is left out: its result is unknown and it
//!     changes nothing, so it constrains no linearization.
//!
//! # Cost, and the step budget
//!
//! Without a memo the search is exponential: fine when a greedy order works (most correct
//! histories), hopeless when it must refute a long history with much concurrency. Every
//! specification step spends one unit of a [`Budget`]; when it runs out the search is abandoned
//! (by unwinding, as the tester has no cancel hook) and the key's verdict is
//! [`Verdict::Exhausted`]. Callers must count and report those, never treat them as agreement.
//!
//! # Extending it to multi-key operations
//!
//! A multi-key operation (txn, range) ties keys together, so keys are no longer independent.
//! Either check a whole history as one object whose state is a `BTreeMap<Key, Value>` (add
//! `Call` variants carrying several keys and make [`Spec`]'s state a map; [`check_history`] then
//! puts every operation in one group), or group keys into connected components of the "appear
//! in one operation together" relation and check each component as one object. Only
//! [`Spec::invoke`], [`call_of`], [`ret_of`] and the grouping in [`check_history`] change.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;

use scenarios::check::{Func, History, Key, Operation, Outcome, Value};
use stateright::semantics::{ConsistencyTester, LinearizabilityTester, SequentialSpec};

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

/// The sequential object, for one key.
#[derive(Clone, Debug)]
pub struct Spec {
    value: Value,
    budget: Budget,
}

impl SequentialSpec for Spec {
    type Op = Call;
    type Ret = Ret;

    fn invoke(&mut self, call: &Call) -> Ret {
        self.budget.spend();
        match call {
            Call::Read | Call::Get => Ret::Value(self.value.clone()),
            Call::Write(v) | Call::Put(v) => {
                self.value = v.clone();
                Ret::Done
            }
            Call::Delete => {
                self.value = Value::Nil;
                Ret::Done
            }
            Call::Cas { expect, new } => {
                if self.value == *expect {
                    self.value = new.clone();
                    Ret::Done
                } else {
                    Ret::Refused
                }
            }
            // A list grows by one; an absent key becomes a one-element list.
            Call::Append(x) => match &mut self.value {
                Value::Nil => {
                    self.value = Value::Vec(vec![x.clone()]);
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
}

/// Specification steps left, shared by every clone of a [`Spec`] in one search.
#[derive(Clone, Debug)]
pub struct Budget(Rc<Cell<u64>>);

/// The unwinding payload that abandons a search whose budget ran out.
struct OutOfSteps;

impl Budget {
    pub fn new(steps: u64) -> Budget {
        Budget(Rc::new(Cell::new(steps)))
    }

    pub fn left(&self) -> u64 {
        self.0.get()
    }

    fn spend(&self) {
        match self.0.get() {
            // `resume_unwind` skips the panic hook: nothing is printed.
            0 => panic::resume_unwind(Box::new(OutOfSteps)),
            n => self.0.set(n - 1),
        }
    }
}

/// The verdict on one key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Linearizable,
    NotLinearizable,
    /// The budget ran out first: no verdict.
    Exhausted,
}

/// The verdict on one key and the specification steps the search spent on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checked {
    pub verdict: Verdict,
    pub steps: u64,
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

/// What a completed (`Ok` or `Committed`) operation returned.
fn ret_of(op: &Operation) -> Ret {
    if op.func.is_read_only() {
        Ret::Value(op.result.clone())
    } else {
        Ret::Done
    }
}

/// Thread ids from here up are virtual (one per operation without a known completion);
/// process ids stay below.
const VIRTUAL: u64 = 1 << 48;

/// One event fed to the tester: `(time, 0 invoke | 1 return, operation index)`.
type Event = (u64, u8, usize);

/// Checks the operations of one key (all of one object) with at most `steps` specification
/// steps.
pub fn check_key(object: Object, ops: &[&Operation], steps: u64) -> Result<Checked, Unsupported> {
    let mut events: Vec<Event> = Vec::new();
    let mut calls = Vec::with_capacity(ops.len());
    for (i, op) in ops.iter().enumerate() {
        calls.push(call_of(object, op)?);
        let ret_at = match op.outcome {
            Outcome::Fail => continue,
            Outcome::Info | Outcome::Committed if op.func.is_read_only() => continue,
            Outcome::Ok => {
                Some(op.complete.expect("an Ok operation has a completion (History::new)"))
            }
            Outcome::Committed => Some(u64::MAX),
            Outcome::Info => None,
        };
        events.push((op.invoke, 0, i));
        if let Some(t) = ret_at {
            events.push((t, 1, i));
        }
    }
    events.sort_unstable();

    let budget = Budget::new(steps);
    let spec = Spec { value: Value::Nil, budget: budget.clone() };
    let mut tester: LinearizabilityTester<u64, Spec> = LinearizabilityTester::new(spec);
    let mut thread_of: Vec<Option<u64>> = vec![None; ops.len()];
    let mut busy: BTreeMap<u64, usize> = BTreeMap::new();
    let mut next_virtual = VIRTUAL;
    for (_, kind, i) in events {
        let op = ops[i];
        if kind == 0 {
            assert!(
                op.process < VIRTUAL,
                "process id {} collides with virtual threads",
                op.process
            );
            let own = op.outcome == Outcome::Ok && !busy.contains_key(&op.process);
            let thread = if own {
                op.process
            } else {
                next_virtual += 1;
                next_virtual
            };
            busy.insert(thread, i);
            thread_of[i] = Some(thread);
            tester.on_invoke(thread, calls[i].clone()).expect("thread is free");
        } else {
            let thread = thread_of[i].expect("invoked before it returns");
            busy.remove(&thread);
            tester.on_return(thread, ret_of(op)).expect("thread has this op in flight");
        }
    }
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| tester.is_consistent()));
    let verdict = match outcome {
        Ok(true) => Verdict::Linearizable,
        Ok(false) => Verdict::NotLinearizable,
        Err(payload) => {
            if !payload.is::<OutOfSteps>() {
                panic::resume_unwind(payload);
            }
            Verdict::Exhausted
        }
    };
    Ok(Checked { verdict, steps: steps - budget.left() })
}

/// Checks every key of `history` as `object`, each with its own budget of `steps_per_key`.
pub fn check_history(
    object: Object,
    history: &History,
    steps_per_key: u64,
) -> Result<BTreeMap<Key, Checked>, Unsupported> {
    let mut by_key: BTreeMap<&Key, Vec<&Operation>> = BTreeMap::new();
    for op in history.ops() {
        by_key.entry(&op.key).or_default().push(op);
    }
    by_key
        .into_iter()
        .map(|(key, ops)| Ok((key.clone(), check_key(object, &ops, steps_per_key)?)))
        .collect()
}
