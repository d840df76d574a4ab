//! Sweeping scenarios over seed ranges, and the summary of a sweep.
//!
//! Each (scenario, seed) run is independent and deterministic; a failure is reported with the
//! one command that replays it. The JSON report (`dst sweep --json FILE`) has one object per run:
//! `{"scenario", "seed", "result": "ok" | "fail", "property", "detail", "trace_hash",
//! "sim_secs", "events"}` and a `summary` per scenario.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::RangeInclusive;

use serde::Serialize;

use crate::buggify::SiteCounts;
use crate::coverage::{self, Coverage, Row, Unreached};
use crate::plan::{Bug, Plan};
use crate::runner::{run, RunOptions, Verdict};
use crate::scenario::Scenario;

/// Everything that names a run drawn from a seed: replaying the same spec on the same binary
/// gives the same trace hash. Every `reproduce:` and `shrink:` line is printed from one.
#[derive(Clone, Copy, Debug)]
pub struct RunSpec {
    pub scenario: &'static Scenario,
    pub seed: u64,
    /// The cluster size, if pinned (otherwise the scenario's choice: see
    /// [`Scenario::plan_for`]).
    pub nodes: Option<u32>,
    pub bug: Option<Bug>,
}

impl RunSpec {
    /// The plan this spec draws.
    pub fn plan(&self) -> Plan {
        let mut plan = self.scenario.plan_for(self.seed, self.nodes);
        plan.knobs.bug = self.bug;
        plan
    }

    /// The command-line arguments that select this run: `SCENARIO --seed N [--nodes N]
    /// [--bug B]`.
    pub fn args(&self) -> String {
        spec_args(self.scenario.name, self.seed, self.plan().nodes, self.bug)
    }
}

/// `SCENARIO --seed N`, then every option that changes the run and is not the default. The
/// cluster size is given when it is not 3: a drawn size given explicitly draws the same plan.
pub fn spec_args(scenario: &str, seed: u64, nodes: u32, bug: Option<Bug>) -> String {
    let mut s = format!("{scenario} --seed {seed}");
    if nodes != 3 {
        s.push_str(&format!(" --nodes {nodes}"));
    }
    if let Some(b) = bug {
        s.push_str(&format!(" --bug {}", b.name()));
    }
    s
}

/// One run of a sweep.
#[derive(Clone, Debug, Serialize)]
pub struct SweepRun {
    pub scenario: String,
    pub seed: u64,
    /// The cluster size the run had.
    pub nodes: u32,
    /// The planted bug the run had switched on, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bug: Option<Bug>,
    pub result: &'static str,
    pub property: Option<String>,
    pub detail: Option<String>,
    pub trace_hash: String,
    pub sim_secs: f64,
    pub events: u64,
    /// Wall-clock seconds the run took (set by whoever ran it; 0 when not measured).
    pub wall_secs: f64,
    /// The run passed, but the linearizability search ran out of budget before a verdict:
    /// its history was not fully checked (the summary lists such runs).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub undecided: bool,
    /// How often each situation happened (those that did not are left out).
    pub coverage: BTreeMap<String, u64>,
    /// The same, typed.
    #[serde(skip)]
    pub situations: Coverage,
    /// Whether the run had BUGGIFY on.
    pub buggify: bool,
    /// How often each BUGGIFY site fired (absent: never).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub buggify_fired: BTreeMap<String, u64>,
}

impl SweepRun {
    pub fn ok(&self) -> bool {
        self.result == "ok"
    }

    /// The command that replays this run exactly.
    pub fn reproduce(&self) -> String {
        format!("dst run {}", spec_args(&self.scenario, self.seed, self.nodes, self.bug))
    }
}

/// Runs `scenario` with `seed` on `nodes` nodes (with a deliberate `bug`, to test the testers).
pub fn run_seed(
    scenario: &'static Scenario,
    seed: u64,
    nodes: Option<u32>,
    bug: Option<Bug>,
) -> SweepRun {
    run_spec(&RunSpec { scenario, seed, nodes, bug })
}

/// Runs one spec.
pub fn run_spec(spec: &RunSpec) -> SweepRun {
    let plan = spec.plan();
    let r = run(&plan, &RunOptions::default());
    let (result, property, detail) = match &r.verdict {
        Verdict::Ok => ("ok", None, None),
        Verdict::Fail { property, detail } => {
            ("fail", Some(property.to_string()), Some(detail.clone()))
        }
    };
    SweepRun {
        scenario: spec.scenario.name.to_string(),
        seed: spec.seed,
        nodes: plan.nodes,
        bug: spec.bug,
        result,
        property,
        detail,
        trace_hash: format!("0x{:016x}", r.trace_hash),
        sim_secs: r.sim_time.as_secs_f64(),
        events: r.events,
        wall_secs: 0.0,
        undecided: r.stats.linearizability_unknown,
        coverage: r.coverage.to_map(),
        situations: r.coverage,
        buggify: plan.knobs.buggify.is_some(),
        buggify_fired: r.buggify_fired.iter().map(|(s, n)| (s.to_string(), *n)).collect(),
    }
}

/// What the runs with BUGGIFY on fired, site by site.
pub fn buggify_counts(runs: &[SweepRun]) -> SiteCounts {
    let mut c = SiteCounts::default();
    for r in runs.iter().filter(|r| r.buggify) {
        c.add(r.buggify_fired.iter().map(|(s, n)| (s.as_str(), *n)));
    }
    c
}

/// A seed range `A..B` (half-open) or `A..=B` (inclusive), or a single seed `A`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seeds(pub RangeInclusive<u64>);

impl Seeds {
    pub fn count(&self) -> u64 {
        self.0.end().saturating_sub(*self.0.start()) + u64::from(!self.0.is_empty())
    }
}

impl fmt::Display for Seeds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..={}", self.0.start(), self.0.end())
    }
}

impl std::str::FromStr for Seeds {
    type Err = String;

    fn from_str(s: &str) -> Result<Seeds, String> {
        let bad = || {
            format!(
                "malformed seed range {s:?}: expected A..B (B excluded), A..=B or a single seed"
            )
        };
        let num = |t: &str| t.trim().parse::<u64>().map_err(|_| bad());
        let range = if let Some((a, b)) = s.split_once("..=") {
            num(a)?..=num(b)?
        } else if let Some((a, b)) = s.split_once("..") {
            let (a, b) = (num(a)?, num(b)?);
            if b == 0 {
                return Err(format!("empty seed range {s:?}"));
            }
            a..=b - 1
        } else {
            let a = num(s)?;
            a..=a
        };
        if range.is_empty() {
            return Err(format!("empty seed range {s:?}"));
        }
        Ok(Seeds(range))
    }
}

/// Per-scenario totals.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    pub scenario: String,
    pub runs: u64,
    pub failed: u64,
    pub sim_secs: f64,
    pub events: u64,
}

/// Totals per scenario, in first-seen order.
pub fn summarize(runs: &[SweepRun]) -> Vec<Summary> {
    let mut out: Vec<Summary> = Vec::new();
    for r in runs {
        let i = match out.iter().position(|s| s.scenario == r.scenario) {
            Some(i) => i,
            None => {
                out.push(Summary { scenario: r.scenario.clone(), ..Summary::default() });
                out.len() - 1
            }
        };
        let s = &mut out[i];
        s.runs += 1;
        s.failed += u64::from(!r.ok());
        s.sim_secs += r.sim_secs;
        s.events += r.events;
    }
    out
}

/// The coverage table of `runs` (every situation, in table order).
pub fn coverage_table(runs: &[SweepRun]) -> Vec<Row> {
    coverage::table(runs.iter().map(|r| &r.situations))
}

/// The situations a scenario of `runs` claims that none of its runs reached.
pub fn unreached_claims(runs: &[SweepRun]) -> Vec<Unreached> {
    let mut names: Vec<&str> = Vec::new();
    for r in runs {
        if !names.contains(&r.scenario.as_str()) {
            names.push(&r.scenario);
        }
    }
    let groups = names.into_iter().filter_map(|name| {
        let s = crate::scenario::find(name)?;
        let mine = runs.iter().filter(|r| r.scenario == name).map(|r| &r.situations).collect();
        Some((s.name, s.claims, mine))
    });
    coverage::unreached(groups)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claimed_situations_no_run_reached_are_named() {
        use crate::coverage::Situation;
        let s = crate::scenario::find("membership").unwrap();
        let fake = |add: bool| {
            let mut c = Coverage::new();
            if add {
                c.hit(Situation::MemberAdd);
            }
            SweepRun {
                scenario: s.name.into(),
                seed: 1,
                nodes: 3,
                bug: None,
                result: "ok",
                property: None,
                detail: None,
                trace_hash: String::new(),
                sim_secs: 1.0,
                events: 1,
                wall_secs: 0.0,
                undecided: false,
                buggify: false,
                buggify_fired: Default::default(),
                coverage: c.to_map(),
                situations: c,
            }
        };
        assert!(s.claims.contains(&Situation::MemberAdd));
        assert!(s.claims.contains(&Situation::MemberRemove));
        let runs = vec![fake(true), fake(false)];
        let missing = unreached_claims(&runs);
        let names: Vec<Situation> = missing.iter().map(|u| u.situation).collect();
        assert_eq!(names, vec![Situation::MemberRemove]);
        assert_eq!(missing[0].runs, 2);
        let rows = coverage_table(&runs);
        let add = rows.iter().find(|r| r.situation == Situation::MemberAdd).unwrap();
        assert_eq!((add.runs, add.total), (1, 1));
    }

    #[test]
    fn seed_ranges() {
        assert_eq!("1..4".parse::<Seeds>().unwrap(), Seeds(1..=3));
        assert_eq!("1..=4".parse::<Seeds>().unwrap(), Seeds(1..=4));
        assert_eq!("7".parse::<Seeds>().unwrap(), Seeds(7..=7));
        assert_eq!("1..=4".parse::<Seeds>().unwrap().count(), 4);
        for bad in ["", "a..b", "1..", "..3", "5..2", "3..3", "1...4", "-1..3"] {
            let e = bad.parse::<Seeds>().unwrap_err();
            assert!(e.contains("seed range"), "{bad}: {e}");
        }
    }
}
