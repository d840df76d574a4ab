//! The stateright oracle: [`Entry`]s fed to stateright's [`LinearizabilityTester`].
//!
//! - **Events** go in time order, invocations before completions at equal times (touching
//!   intervals are concurrent).
//! - **Threads.** The tester wants each thread sequential, with at most one operation in flight.
//!   An `Ok` operation runs on its process's thread; an operation without a known completion
//!   runs on a fresh *virtual* thread of its own (our clients go on after giving up, so a
//!   process may have several). Any split of a process into sequential chains gives the same
//!   real-time constraints, which is all a thread means to the tester.
//! - **Unknown outcomes.** An `Info` operation is invoked and never returns: the tester may
//!   linearize an operation still in flight at any point after its invocation, or not at all,
//!   with whatever the specification returns — exactly "may or may not have taken effect". A
//!   `Committed` one returns (successfully) after every other event, so it must be linearized,
//!   at any time after its invocation.
//!
//! The tester's search has no memo and no cancel hook: every specification step spends one unit
//! of the budget, and when it runs out the step unwinds (with [`panic::resume_unwind`], which
//! prints nothing) out of the search, caught here as [`Verdict::Exhausted`].

use std::cell::Cell;
use std::collections::BTreeSet;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;

use stateright::semantics::{ConsistencyTester, LinearizabilityTester, SequentialSpec};

use super::{apply, Call, Checked, Entry, Map, Ret, Verdict};

/// The sequential object handed to the tester: one component's map and the shared step budget.
#[derive(Clone, Debug)]
struct Spec {
    map: Map,
    budget: Steps,
}

impl SequentialSpec for Spec {
    type Op = Call;
    type Ret = Ret;

    fn invoke(&mut self, call: &Call) -> Ret {
        self.budget.spend();
        apply(call, &mut self.map)
    }
}

/// Specification steps left, shared by every clone of a [`Spec`] in one search.
#[derive(Clone, Debug)]
struct Steps(Rc<Cell<u64>>);

/// The unwinding payload that abandons a search whose budget ran out.
struct OutOfSteps;

impl Steps {
    fn spend(&self) {
        match self.0.get() {
            0 => panic::resume_unwind(Box::new(OutOfSteps)),
            n => self.0.set(n - 1),
        }
    }
}

/// Thread ids from here up are virtual; process ids stay below.
const VIRTUAL: u64 = 1 << 48;

/// Checks one component's entries with at most `steps` specification steps.
pub fn check(entries: &[Entry], steps: u64) -> Checked {
    // (time, 0 invoke | 1 return, entry)
    let mut events: Vec<(u64, u8, usize)> = Vec::with_capacity(2 * entries.len());
    for (i, e) in entries.iter().enumerate() {
        events.push((e.invoke, 0, i));
        match (e.complete, e.required) {
            (Some(t), _) => events.push((t, 1, i)),
            (None, true) => events.push((u64::MAX, 1, i)),
            (None, false) => {}
        }
    }
    events.sort_unstable();

    let left = Steps(Rc::new(Cell::new(steps)));
    let spec = Spec { map: Map::new(), budget: left.clone() };
    let mut tester: LinearizabilityTester<u64, Spec> = LinearizabilityTester::new(spec);
    let mut thread_of: Vec<u64> = vec![0; entries.len()];
    let mut busy: BTreeSet<u64> = BTreeSet::new();
    let mut next_virtual = VIRTUAL;
    for (_, kind, i) in events {
        let e = &entries[i];
        if kind == 0 {
            assert!(e.process < VIRTUAL, "process id {} collides with virtual threads", e.process);
            let thread = if e.complete.is_some() && !busy.contains(&e.process) {
                e.process
            } else {
                next_virtual += 1;
                next_virtual
            };
            busy.insert(thread);
            thread_of[i] = thread;
            tester.on_invoke(thread, e.call.clone()).expect("the thread is free");
        } else {
            let thread = thread_of[i];
            busy.remove(&thread);
            let ret = e.ret.clone().expect("an entry that returns has a known return value");
            tester.on_return(thread, ret).expect("the thread has this entry in flight");
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
    Checked { verdict, work: steps - left.0.get(), entries: entries.len() }
}
