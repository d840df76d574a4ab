//! The determinism self-check (`dst run ... --check-determinism`): a plan run twice in one
//! process must give the same trace, event for event.
//!
//! Both runs keep their trace records; when the trace hashes differ, the first record that
//! differs is named — its place in the trace, virtual time, node and kind, and both runs'
//! versions of it — which points at the code that read something outside the seed (a std
//! `HashMap`'s iteration order, the wall clock, a global counter, an address). Verdicts and
//! histories are compared too: a checker that depends on something unseeded shows there.

use std::fmt;

use crate::plan::Plan;
use crate::runner::{run, RunOptions, RunReport};

/// Where two traces of one plan part.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Divergence {
    /// 0-based number of the first differing record.
    pub event: usize,
    /// That record in the first run (`None`: the first run's trace ended before it).
    pub first: Option<String>,
    /// That record in the second run.
    pub second: Option<String>,
}

impl Divergence {
    /// (time, node, kind) of the record, from whichever run has it.
    fn place(&self) -> (String, String, String) {
        let line = self.first.as_deref().or(self.second.as_deref()).unwrap_or("");
        let mut fields = line.split_whitespace().map(str::to_string);
        let mut next = || fields.next().unwrap_or_else(|| "?".to_string());
        (next(), next(), next())
    }
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (time, node, kind) = self.place();
        let show = |r: &Option<String>| match r {
            Some(l) => l.trim().to_string(),
            None => "(trace ended)".to_string(),
        };
        write!(
            f,
            "first divergent trace event #{} at {time} on node {node}, kind {kind}:\n  first run:  \
             {}\n  second run: {}",
            self.event,
            show(&self.first),
            show(&self.second)
        )
    }
}

/// The first record (one per line) where traces `a` and `b` differ; `None` if they are equal.
pub fn first_divergence(a: &str, b: &str) -> Option<Divergence> {
    let (mut la, mut lb) = (a.lines(), b.lines());
    let mut event = 0;
    loop {
        match (la.next(), lb.next()) {
            (None, None) => return None,
            (x, y) if x == y => event += 1,
            (x, y) => {
                return Some(Divergence {
                    event,
                    first: x.map(str::to_string),
                    second: y.map(str::to_string),
                })
            }
        }
    }
}

/// The outcome of running one plan twice.
#[derive(Debug)]
pub enum Determinism {
    /// Same trace hash, events, verdict and history; the first run's report.
    Same(Box<RunReport>),
    /// The runs differ: what differs, and the first run's report.
    Differs { what: String, first: Box<RunReport> },
}

/// Runs `plan` twice, keeping both traces, and compares them.
pub fn check(plan: &Plan) -> Determinism {
    let opts = RunOptions { keep_trace: true };
    let a = run(plan, &opts);
    let b = run(plan, &opts);
    let what = compare(&a, &b);
    match what {
        None => Determinism::Same(Box::new(a)),
        Some(what) => Determinism::Differs { what, first: Box::new(a) },
    }
}

/// What differs between two reports of one plan, if anything.
fn compare(a: &RunReport, b: &RunReport) -> Option<String> {
    if a.trace_hash != b.trace_hash || a.events != b.events {
        let (ta, tb) = (a.trace.as_deref().unwrap_or(""), b.trace.as_deref().unwrap_or(""));
        let at = match first_divergence(ta, tb) {
            Some(d) => d.to_string(),
            None => "the records are equal but the hashes are not (a hashed value that the \
                     rendered records do not show)"
                .to_string(),
        };
        return Some(format!(
            "trace hash 0x{:016x} ({} events) then 0x{:016x} ({} events); {at}",
            a.trace_hash, a.events, b.trace_hash, b.events
        ));
    }
    if a.verdict != b.verdict {
        return Some(format!("same trace, but verdicts {:?} then {:?}", a.verdict, b.verdict));
    }
    if a.history != b.history {
        return Some("same trace and verdict, but different client histories".to_string());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_traces_do_not_diverge() {
        let t = "  0.000000001s n1   start        0000000000000001\n";
        assert_eq!(first_divergence(t, t), None);
        assert_eq!(first_divergence("", ""), None);
    }

    #[test]
    fn the_first_differing_record_is_named_with_both_versions() {
        let a = "0.1s n1 start 01\n0.2s n2 net 02 len=8\n0.3s n1 timer 03\n";
        let b = "0.1s n1 start 01\n0.2s n2 net 0f len=9\n0.3s n1 timer 03\n";
        let d = first_divergence(a, b).expect("they differ");
        assert_eq!(d.event, 1);
        let s = d.to_string();
        assert!(s.contains("#1 at 0.2s on node n2, kind net"), "{s}");
        assert!(s.contains("first run:  0.2s n2 net 02 len=8"), "{s}");
        assert!(s.contains("second run: 0.2s n2 net 0f len=9"), "{s}");
    }

    #[test]
    fn a_trace_that_ends_early_diverges_where_it_ends() {
        let d = first_divergence("a 1 x\nb 2 y\n", "a 1 x\n").expect("shorter");
        assert_eq!((d.event, d.second.as_deref()), (1, None));
        assert!(d.to_string().contains("second run: (trace ended)"));
    }

    #[test]
    fn two_seeds_diverge_at_a_real_record_and_one_seed_does_not() {
        let s = crate::scenario::find("leader-change").expect("scenario");
        let opts = RunOptions { keep_trace: true };
        let a = run(&s.plan(1, 3), &opts);
        let b = run(&s.plan(2, 3), &opts);
        let d = compare(&a, &b).expect("seeds 1 and 2 differ");
        assert!(d.contains("first divergent trace event #"), "{d}");
        assert!(matches!(check(&s.plan(1, 3)), Determinism::Same(_)));
    }
}
