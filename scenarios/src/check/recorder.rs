//! Recording a history from simulated clients.
//!
//! A client calls [`Recorder::invoke`] when it sends a request and [`Recorder::complete`] when it
//! learns the outcome (or gives up: [`Outcome::Info`]). Time is logical: every invocation and
//! completion gets the next number of one counter, so the recorded order is exactly the order in
//! which the simulator ran the events. At the end, the scenario may [`Recorder::resolve`] the
//! unknown outcomes it has ground truth for (a timed-out write that the cluster did commit, or
//! one that was never proposed), which keeps the checker fast and exact.

use std::collections::BTreeMap;

use super::history::{Func, History, Key, OpId, Operation, Outcome, Value};

/// What the simulator learned about an operation whose client gave up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolution {
    /// Its entry was committed: it took effect (at an unknown time after its invocation).
    Committed,
    /// It never reached the log: it did not take effect.
    NeverProposed,
}

/// Records operations as simulated clients issue them.
#[derive(Debug, Default)]
pub struct Recorder {
    ops: Vec<Operation>,
    clock: u64,
    /// Process -> its operation in flight. A process is sequential.
    open: BTreeMap<u64, OpId>,
}

impl Recorder {
    pub fn new() -> Recorder {
        Recorder::default()
    }

    /// A recorder with room for `ops` operations before its history grows (a history of
    /// thousands of operations otherwise reallocates and copies itself a dozen times).
    pub fn with_capacity(ops: usize) -> Recorder {
        Recorder { ops: Vec::with_capacity(ops), ..Recorder::default() }
    }

    fn tick(&mut self) -> u64 {
        let t = self.clock;
        self.clock += 1;
        t
    }

    /// Records the invocation of `func` on `key` with argument `arg` by `process`.
    ///
    /// Panics if `process` already has an operation in flight (clients are sequential).
    pub fn invoke(&mut self, process: u64, func: Func, key: Key, arg: Value) -> OpId {
        let id = OpId(self.ops.len());
        let previous = self.open.insert(process, id);
        assert!(previous.is_none(), "process {process} invoked {func} while {previous:?} is open");
        let invoke = self.tick();
        self.ops.push(Operation {
            process,
            invoke,
            complete: None,
            func,
            key,
            arg,
            outcome: Outcome::Info,
            result: Value::Nil,
            line: None,
        });
        id
    }

    /// Records the completion of `op`. `result` is the value a read or get returned (`Nil` for
    /// absent, and for every other function or outcome).
    ///
    /// Panics if `op` is not in flight, or if a non-`Ok` completion carries a result.
    pub fn complete(&mut self, op: OpId, outcome: Outcome, result: Value) {
        let process = self.ops.get(op.0).map(|o| o.process);
        let open = process.and_then(|p| self.open.get(&p)).copied();
        assert_eq!(open, Some(op), "complete({op:?}) but that operation is not in flight");
        assert!(
            outcome == Outcome::Ok || result == Value::Nil,
            "complete({op:?}, {outcome:?}) with result {result:?}: only ok carries a result"
        );
        assert!(outcome != Outcome::Committed, "use resolve() to mark {op:?} committed");
        let t = self.tick();
        let rec = &mut self.ops[op.0];
        self.open.remove(&rec.process);
        rec.complete = Some(t);
        rec.outcome = outcome;
        rec.result = result;
    }

    /// Applies ground truth to an operation whose outcome is unknown (`Info`, or still in
    /// flight). Panics if `op` completed with `Ok` or `Fail`.
    pub fn resolve(&mut self, op: OpId, resolution: Resolution) {
        let rec = &self.ops[op.0];
        assert!(
            matches!(rec.outcome, Outcome::Info | Outcome::Committed),
            "resolve({op:?}) but it already completed with {:?}",
            rec.outcome
        );
        if rec.complete.is_none() {
            let t = self.tick();
            let rec = &mut self.ops[op.0];
            self.open.remove(&rec.process);
            rec.complete = Some(t);
        }
        self.ops[op.0].outcome = match resolution {
            Resolution::Committed => Outcome::Committed,
            Resolution::NeverProposed => Outcome::Fail,
        };
    }

    /// The operation recorded as `op`.
    pub fn get(&self, op: OpId) -> &Operation {
        &self.ops[op.0]
    }

    /// The history so far. Operations still in flight are `Info` with no completion.
    pub fn finish(self) -> History {
        History::new(self.ops).expect("the recorder maintains the history invariants")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_logical_times_and_outcomes() {
        let mut r = Recorder::new();
        let w = r.invoke(1, Func::Write, Key::Default, Value::Int(5));
        let rd = r.invoke(2, Func::Read, Key::Default, Value::Nil);
        r.complete(rd, Outcome::Ok, Value::Int(5));
        r.complete(w, Outcome::Info, Value::Nil);
        let again = r.invoke(1, Func::Write, Key::Default, Value::Int(6));
        r.resolve(w, Resolution::Committed);
        r.resolve(again, Resolution::NeverProposed);
        let h = r.finish();
        let ops = h.ops();
        assert_eq!(
            (ops[0].invoke, ops[0].complete, ops[0].outcome),
            (0, Some(3), Outcome::Committed)
        );
        assert_eq!(
            (ops[1].invoke, ops[1].complete, ops[1].result.clone()),
            (1, Some(2), Value::Int(5))
        );
        assert_eq!((ops[2].invoke, ops[2].complete, ops[2].outcome), (4, Some(5), Outcome::Fail));
    }

    #[test]
    #[should_panic(expected = "while")]
    fn a_process_is_sequential() {
        let mut r = Recorder::new();
        r.invoke(1, Func::Read, Key::Default, Value::Nil);
        r.invoke(1, Func::Read, Key::Default, Value::Nil);
    }
}
