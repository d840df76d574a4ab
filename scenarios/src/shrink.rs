//! Shrinking a failing plan: delta debugging over its actions and its workload.
//!
//! A candidate is kept when it still fails **the same property** (a different failure is a
//! different bug). The shrinker first cuts the run short: the fault phase ends just after the
//! moment the failure was detected (everything before it runs exactly as before, so it still
//! fails there), then at halves of that while it still fails. Then it removes actions with
//! ddmin (halves, quarters, ... down to single actions), then workload operations the same way
//! in large chunks, and repeats while anything shrinks, within a budget of runs. Every run is deterministic, so the
//! result replays exactly: `dst run --plan FILE`.

use crate::oracle::Property;
use crate::plan::Plan;
use crate::runner::{run, RunOptions};

/// What the shrinker did.
#[derive(Debug)]
pub struct Shrunk {
    pub plan: Plan,
    pub property: Property,
    /// Runs spent.
    pub runs: u64,
    /// Actions and workload operations before and after.
    pub actions: (usize, usize),
    pub ops: (usize, usize),
}

/// A failed run: which property, and when the run stopped (the moment of detection for a
/// failure found during the fault phase).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Failure {
    pub property: Property,
    pub at_ns: u64,
}

/// Why shrinking could not start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShrinkError {
    /// The plan passes: there is nothing to shrink.
    Passes,
}

impl std::fmt::Display for ShrinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ShrinkError::Passes => f.write_str("the run passes every property: nothing to shrink"),
        }
    }
}

/// Shrinks `plan` with at most `max_runs` runs, using [`run`]; `progress` is told each kept
/// candidate (actions, ops).
pub fn shrink(
    plan: &Plan,
    max_runs: u64,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Shrunk, ShrinkError> {
    shrink_with(
        plan,
        max_runs,
        &mut |p: &Plan| {
            let r = run(p, &RunOptions::default());
            let at_ns = r.sim_time.as_nanos();
            r.verdict.property().map(|property| Failure { property, at_ns })
        },
        progress,
    )
}

/// [`shrink`] with an explicit oracle (`None`: passes), for tests.
pub fn shrink_with(
    plan: &Plan,
    max_runs: u64,
    fails: &mut dyn FnMut(&Plan) -> Option<Failure>,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Shrunk, ShrinkError> {
    let first = fails(plan).ok_or(ShrinkError::Passes)?;
    let property = first.property;
    let mut s = State { best: plan.clone(), property, runs: 1, max_runs, fails, progress };
    s.cut_at(first.at_ns.saturating_add(1));
    s.shorten();
    loop {
        let before = (s.best.actions.len(), s.best.workload.len());
        s.ddmin_actions();
        s.ddmin_workload();
        if (s.best.actions.len(), s.best.workload.len()) == before || s.out_of_runs() {
            break;
        }
    }
    Ok(Shrunk {
        actions: (plan.actions.len(), s.best.actions.len()),
        ops: (plan.workload.len(), s.best.workload.len()),
        plan: s.best,
        property,
        runs: s.runs,
    })
}

struct State<'a> {
    best: Plan,
    property: Property,
    runs: u64,
    max_runs: u64,
    fails: &'a mut dyn FnMut(&Plan) -> Option<Failure>,
    progress: &'a mut dyn FnMut(usize, usize),
}

impl State<'_> {
    fn out_of_runs(&self) -> bool {
        self.runs >= self.max_runs
    }

    /// Runs `candidate`; keeps it if it fails the same way.
    fn try_keep(&mut self, candidate: Plan) -> bool {
        if self.out_of_runs() {
            return false;
        }
        self.runs += 1;
        if (self.fails)(&candidate).map(|f| f.property) == Some(self.property) {
            self.best = candidate;
            (self.progress)(self.best.actions.len(), self.best.workload.len());
            true
        } else {
            false
        }
    }

    /// Ends the fault phase at `d` (dropping what comes later) if that is earlier and still
    /// fails; returns whether it was kept.
    fn cut_at(&mut self, d: u64) -> bool {
        if d >= self.best.duration_ns {
            return false;
        }
        let mut c = self.best.clone();
        c.duration_ns = d;
        c.actions.retain(|a| a.at < d);
        c.workload.retain(|o| o.at < d);
        self.try_keep(c)
    }

    /// Ends the fault phase earlier: at halves of the duration, while it still fails.
    fn shorten(&mut self) {
        loop {
            let d = self.best.duration_ns / 2;
            if d < 1_000_000_000 || !self.cut_at(d) {
                return;
            }
        }
    }

    /// Tries removing each `1/n`-th chunk of the list `items` selects, in order; keeps the
    /// first removal that still fails. Returns the chunk size and whether one was removed.
    fn remove_a_chunk<T>(
        &mut self,
        n: usize,
        items: fn(&mut Plan) -> &mut Vec<T>,
    ) -> (usize, bool) {
        let len = items(&mut self.best).len();
        let chunk = len.div_ceil(n).max(1);
        for start in (0..len).step_by(chunk) {
            let mut c = self.best.clone();
            let list = items(&mut c);
            list.drain(start..(start + chunk).min(len));
            if self.try_keep(c) {
                return (chunk, true);
            }
        }
        (chunk, false)
    }

    fn ddmin_actions(&mut self) {
        let mut n = 2;
        while !self.best.actions.is_empty() && !self.out_of_runs() {
            let len = self.best.actions.len();
            match self.remove_a_chunk(n, |p| &mut p.actions) {
                (_, true) => n = (n - 1).max(2),
                (1, false) => return,
                (_, false) => n = (n * 2).min(len),
            }
        }
    }

    /// Workload: only coarse chunks (halves down to 1/64), the operations are many and cheap.
    fn ddmin_workload(&mut self) {
        let mut n = 2;
        while !self.best.workload.is_empty() && n <= 64 && !self.out_of_runs() {
            if !self.remove_a_chunk(n, |p| &mut p.workload).1 {
                n *= 2;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Action, ClientOp, Knobs, TimedAction, WorkOp};
    use sim::fault::Fault;

    /// A failure found at the end of the run (no time to cut at).
    fn failure(property: Property) -> Failure {
        Failure { property, at_ns: u64::MAX }
    }

    fn plan(actions: usize, ops: usize) -> Plan {
        Plan {
            scenario: "t".into(),
            seed: 1,
            nodes: 3,
            duration_ns: 16_000_000_000,
            knobs: Knobs::default(),
            actions: (0..actions)
                .map(|i| TimedAction {
                    at: i as u64 * 1_000_000,
                    action: Action::Sim { fault: Fault::Crash { node: (i % 3) as u32 + 1 } },
                })
                .collect(),
            workload: (0..ops)
                .map(|i| ClientOp { at: i as u64, client: 0, op: WorkOp::Get { key: 0 } })
                .collect(),
        }
    }

    #[test]
    fn shrinks_to_the_two_actions_that_matter() {
        // "Fails" when the crash of node 2 at 4 ms and of node 3 at 11 ms are both present.
        let mut fails = |p: &Plan| {
            let has = |at: u64| p.actions.iter().any(|a| a.at == at * 1_000_000);
            (has(4) && has(11)).then_some(failure(Property::Durability))
        };
        let s = shrink_with(&plan(30, 500), 1_000, &mut fails, &mut |_, _| {}).unwrap();
        assert_eq!(s.plan.actions.len(), 2, "{:?}", s.plan.actions);
        assert!(s.plan.workload.is_empty());
        assert_eq!(s.property, Property::Durability);
        assert!(s.plan.duration_ns >= 11_000_000, "kept the failure's window");
    }

    #[test]
    fn triggers_are_shrunk_away_like_other_actions() {
        use crate::trigger::{Effect, Moment};
        let mut p = plan(12, 20);
        for (i, on) in [Moment::VoteGrant, Moment::AppendAck, Moment::BoltCommit].iter().enumerate()
        {
            let action =
                Action::Trigger { node: 1, on: *on, nth: 2, then: Effect::CrashAtNextDiskOp };
            p.actions.push(TimedAction { at: 500_000 + i as u64, action });
        }
        p.sort();
        // Fails while the append-ack trigger is armed.
        let mut fails = |p: &Plan| {
            let armed = p.triggers().iter().any(|(_, t)| t.on == Moment::AppendAck);
            armed.then_some(failure(Property::Durability))
        };
        let s = shrink_with(&p, 1_000, &mut fails, &mut |_, _| {}).unwrap();
        let kept: Vec<Moment> = s.plan.triggers().iter().map(|(_, t)| t.on).collect();
        assert_eq!(kept, vec![Moment::AppendAck]);
        assert_eq!(s.plan.actions.len(), 1, "{:?}", s.plan.actions);
    }

    #[test]
    fn a_different_failure_is_not_kept() {
        let mut fails = |p: &Plan| match p.actions.len() {
            30 => Some(failure(Property::Liveness)),
            _ => Some(failure(Property::Durability)),
        };
        let s = shrink_with(&plan(30, 0), 1_000, &mut fails, &mut |_, _| {}).unwrap();
        assert_eq!(s.plan.actions.len(), 30, "every smaller plan fails differently");
    }

    #[test]
    fn passing_plans_and_budgets() {
        let e = shrink_with(&plan(3, 3), 10, &mut |_| None, &mut |_, _| {}).unwrap_err();
        assert_eq!(e, ShrinkError::Passes);
        let mut count = 0;
        let mut fails = |_: &Plan| {
            count += 1;
            Some(failure(Property::Storage))
        };
        let s = shrink_with(&plan(40, 40), 5, &mut fails, &mut |_, _| {}).unwrap();
        assert!(s.runs <= 5);
        assert_eq!(count, 5);
    }

    #[test]
    fn the_run_is_first_cut_just_after_the_moment_of_failure() {
        // Fails (detected at 7 ms) whenever the action at 7 ms is there; later actions and
        // operations are noise the cut removes in one run.
        let mut runs = 0;
        let mut fails = |p: &Plan| {
            runs += 1;
            let has = p.actions.iter().any(|a| a.at == 7_000_000);
            has.then_some(Failure { property: Property::Storage, at_ns: 7_000_000 })
        };
        let s = shrink_with(&plan(30, 0), 2, &mut fails, &mut |_, _| {}).unwrap();
        assert_eq!(s.plan.duration_ns, 7_000_001);
        assert_eq!(s.plan.actions.len(), 8, "actions at 0..=7 ms are left: {:?}", s.plan.actions);
        assert_eq!(s.runs, 2, "one run to learn the failure, one to keep the cut");
    }
}
