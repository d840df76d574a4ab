//! Cross-checks the project's linearizability checker (`scenarios::check`: WGL search with
//! reductions and pruning) against an independent one (`independent`: stateright's plain
//! depth-first `LinearizabilityTester` over a specification written there). Both must give the
//! same verdict on every key of:
//!
//! - hand-made histories whose verdict is known (unknown and committed outcomes, touching
//!   intervals, failed operations);
//! - the recorded history of every scenario of the catalogue, for a few seeds;
//! - mutations of those histories that are certainly not linearizable (a read of a value nobody
//!   wrote; two sequential writes swapped under a later read), so the cross-check can fail;
//! - seeded synthetic register and key-value histories, half of them perturbed at random, so both
//!   verdicts occur in numbers.
//!
//! The independent search has no memo and may run out of its step budget on a key; such keys
//! are counted, printed, and their number asserted small: never counted as agreement.

mod independent;

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use independent::{check_history, Object, Oracle, Verdict};
use rand::Rng as _;
use scenarios::check::linearizability::{self, Verdict as OurVerdict};
use scenarios::check::synth::{self, Config, Workload};
use scenarios::check::{Budget, Func, History, Key, KvModel, Operation, Outcome, RegisterModel};
use scenarios::check::{Model, Value};
use scenarios::runner::{run, RunOptions};
use scenarios::scenario::CATALOGUE;
use sim::Seed;

/// Specification steps stateright's tester may spend on one key. Each step clones the
/// remaining history, so a step costs time proportional to the key's length.
const TESTER_STEPS_PER_KEY: u64 = 50_000;
/// Configurations the memoised search may visit on one key.
const DFS_CONFIGS_PER_KEY: u64 = 1_000_000;
/// Steps our checker may spend on one history.
const OUR_STEPS: u64 = 50_000_000;

/// Seeds per scenario: `INDEPENDENT_CHECKER_SEEDS` if set, else 5 in release and 2 in debug
/// builds (the default CI runs the debug tests; a debug run costs about ten times more).
fn seeds() -> RangeInclusive<u64> {
    let n = match std::env::var("INDEPENDENT_CHECKER_SEEDS") {
        Ok(s) => s.parse().unwrap_or_else(|_| panic!("INDEPENDENT_CHECKER_SEEDS={s:?}")),
        Err(_) if cfg!(debug_assertions) => 2,
        Err(_) => 5,
    };
    1..=n
}

/// Our checker's verdict on each key of `history` (every key that has an operation).
fn ours(object: Object, history: &History) -> BTreeMap<Key, Verdict> {
    let mut budget = Budget::steps(OUR_STEPS);
    let report = match object {
        Object::Register => linearizability::check(&RegisterModel, history, &mut budget),
        Object::Kv => linearizability::check(&KvModel, history, &mut budget),
    }
    .unwrap_or_else(|e| panic!("our checker refused the history: {e}"));
    let mut verdicts: BTreeMap<Key, Verdict> =
        history.ops().iter().map(|o| (o.key.clone(), Verdict::Linearizable)).collect();
    match report.verdict {
        OurVerdict::Linearizable => {}
        OurVerdict::NotLinearizable(failures) => {
            for f in failures {
                verdicts.insert(f.key, Verdict::NotLinearizable);
            }
        }
        OurVerdict::Unknown { keys } => {
            for k in keys {
                verdicts.insert(k, Verdict::Exhausted);
            }
        }
    }
    verdicts
}

/// What one independent oracle concluded over a set of histories.
#[derive(Debug, Default)]
struct OracleTally {
    /// Keys it decided, all with our verdict.
    agreed: usize,
    /// Keys it left undecided (out of budget): `label key`.
    undecided: Vec<String>,
    work: u64,
    max_work: u64,
}

/// What the cross-checks found, for the closing report and the assertions.
#[derive(Debug, Default)]
struct Tally {
    histories: usize,
    keys: usize,
    ops: usize,
    /// Keys our checker found linearizable / not linearizable.
    linearizable: usize,
    not_linearizable: usize,
    /// Keys our checker left undecided.
    ours_undecided: Vec<String>,
    tester: OracleTally,
    dfs: OracleTally,
}

impl Tally {
    /// Checks `history` with our checker and each of `oracles`, and asserts that every verdict
    /// an oracle reached on a key our checker decided is ours. Returns our verdicts.
    fn cross_check(
        &mut self,
        label: &str,
        object: Object,
        history: &History,
        oracles: &[Oracle],
    ) -> BTreeMap<Key, Verdict> {
        let ours = ours(object, history);
        self.histories += 1;
        self.ops += history.len();
        self.keys += ours.len();
        for (key, v) in &ours {
            match v {
                Verdict::Linearizable => self.linearizable += 1,
                Verdict::NotLinearizable => self.not_linearizable += 1,
                Verdict::Exhausted => self.ours_undecided.push(format!("{label} key {key}")),
            }
        }
        for &oracle in oracles {
            let budget = match oracle {
                Oracle::Tester => TESTER_STEPS_PER_KEY,
                Oracle::Dfs => DFS_CONFIGS_PER_KEY,
            };
            let theirs = check_history(oracle, object, history, budget)
                .unwrap_or_else(|e| panic!("{label}: {oracle:?} refused {e:?}"));
            assert_eq!(
                ours.keys().collect::<Vec<_>>(),
                theirs.keys().collect::<Vec<_>>(),
                "{label}: {oracle:?} saw other keys"
            );
            let t = match oracle {
                Oracle::Tester => &mut self.tester,
                Oracle::Dfs => &mut self.dfs,
            };
            for (key, checked) in &theirs {
                t.work += checked.work;
                t.max_work = t.max_work.max(checked.work);
                let our = ours[key];
                match (our, checked.verdict) {
                    (Verdict::Exhausted, _) => {}
                    (_, Verdict::Exhausted) => t.undecided.push(format!("{label} key {key}")),
                    (a, b) => {
                        if a != b {
                            dump(label, key, history);
                        }
                        assert_eq!(a, b, "{label} key {key}: ours says {a:?}, {oracle:?} {b:?}");
                        t.agreed += 1;
                    }
                }
            }
        }
        ours
    }

    fn of(&self, oracle: Oracle) -> &OracleTally {
        match oracle {
            Oracle::Tester => &self.tester,
            Oracle::Dfs => &self.dfs,
        }
    }

    fn print(&self, what: &str) {
        eprintln!(
            "{what}: {} histories, {} ops, {} keys: ours says {} linearizable, {} not, {} \
             undecided",
            self.histories,
            self.ops,
            self.keys,
            self.linearizable,
            self.not_linearizable,
            self.ours_undecided.len()
        );
        for (name, t, unit) in
            [("stateright", &self.tester, "steps"), ("dfs", &self.dfs, "configs")]
        {
            eprintln!(
                "  {name}: agrees on {} keys, {} undecided; {} {unit}, at most {} on a key",
                t.agreed,
                t.undecided.len(),
                t.work,
                t.max_work
            );
            for u in &t.undecided {
                eprintln!("    undecided by {name}: {u}");
            }
        }
        for u in &self.ours_undecided {
            eprintln!("    undecided by ours: {u}");
        }
    }
}

/// Prints the operations of `key` (for a disagreement).
fn dump(label: &str, key: &Key, history: &History) {
    eprintln!("{label}: operations of key {key}:");
    for op in history.ops().iter().filter(|o| &o.key == key) {
        eprintln!("  {op}");
    }
}

/// The operations of `key` alone, as a history.
fn only_key(history: &History, key: &Key) -> History {
    History::new(history.ops().iter().filter(|o| &o.key == key).cloned().collect())
        .expect("a subset of a valid history is valid")
}

fn is_ok_read(op: &Operation) -> bool {
    op.outcome == Outcome::Ok && op.func.is_read_only()
}

/// The value `op` would store if it took effect (register writes and cas).
fn written(op: &Operation) -> Option<&Value> {
    match (op.func, &op.arg) {
        (Func::Write, v) => Some(v),
        (Func::Cas, Value::Vec(pair)) if pair.len() == 2 => Some(&pair[1]),
        _ => None,
    }
}

/// The key's history with one `Ok` read, `at_percent` of the way through its reads (0: the
/// earliest), now returning a value nobody wrote: certainly not linearizable. `None` if the key
/// has no `Ok` read.
fn phantom_read(history: &History, at_percent: usize) -> Option<History> {
    let mut ops = history.ops().to_vec();
    let reads: Vec<usize> = (0..ops.len()).filter(|&i| is_ok_read(&ops[i])).collect();
    let victim = *reads.get(reads.len() * at_percent / 100)?;
    ops[victim].result = Value::Str("never written by anyone".to_string());
    Some(History::new(ops).expect("a new result keeps the invariants"))
}

/// The key's history with two sequential `Ok` writes swapped under a later read: `w1` completes
/// before `w2` is invoked, `w2` completes before the `Ok` read `r` is invoked, `r` returns `w2`'s
/// value, and no other operation ever writes that value. Swapping the two written values leaves
/// `r` reading a value whose only writer precedes `w2`, which overwrote it before `r` began:
/// certainly not linearizable. Uses the read `at_percent` of the way through the candidates
/// (0: the earliest); `None` if there is none.
fn swapped_writes(history: &History, at_percent: usize) -> Option<History> {
    let ops = history.ops();
    let writers = |v: &Value| ops.iter().filter(|o| written(o) == Some(v)).count();
    let mut candidates = Vec::new();
    for r in ops.iter().filter(|o| is_ok_read(o) && o.result != Value::Nil) {
        let Some(w2) = ops.iter().position(|o| {
            o.func == Func::Write
                && o.outcome == Outcome::Ok
                && o.arg == r.result
                && o.complete.is_some_and(|c| c < r.invoke)
        }) else {
            continue;
        };
        if writers(&r.result) != 1 {
            continue;
        }
        let Some(w1) = ops.iter().rposition(|o| {
            o.func == Func::Write
                && o.outcome == Outcome::Ok
                && o.complete.is_some_and(|c| c < ops[w2].invoke)
        }) else {
            continue;
        };
        candidates.push((w1, w2));
    }
    let &(w1, w2) = candidates.get(candidates.len() * at_percent / 100)?;
    let mut ops = ops.to_vec();
    let (a, b) = (ops[w1].arg.clone(), ops[w2].arg.clone());
    ops[w1].arg = b;
    ops[w2].arg = a;
    Some(History::new(ops).expect("new arguments keep the invariants"))
}

#[test]
fn hand_made_histories_get_the_known_verdict_from_every_checker() {
    // (process, invoke, complete, func, arg, outcome, result)
    type Row = (u64, u64, Option<u64>, Func, Value, Outcome, Value);
    let int = Value::Int;
    let nil = || Value::Nil;
    let pair = |a: Value, b: Value| Value::Vec(vec![a, b]);
    use Func::*;
    use Outcome::*;
    let cases: Vec<(&str, Object, Vec<Row>, Verdict)> = vec![
        (
            "a read sees a write that completed before it",
            Object::Register,
            vec![
                (0, 0, Some(1), Write, int(1), Ok, nil()),
                (1, 2, Some(3), Read, nil(), Ok, int(1)),
            ],
            Verdict::Linearizable,
        ),
        (
            "a stale read after a completed write",
            Object::Register,
            vec![
                (0, 0, Some(1), Write, int(1), Ok, nil()),
                (1, 2, Some(3), Read, nil(), Ok, nil()),
            ],
            Verdict::NotLinearizable,
        ),
        (
            "touching intervals are concurrent",
            Object::Register,
            vec![
                (0, 0, Some(2), Read, nil(), Ok, int(1)),
                (1, 2, Some(3), Write, int(1), Ok, nil()),
            ],
            Verdict::Linearizable,
        ),
        (
            "an unknown write may have taken effect",
            Object::Register,
            vec![
                (0, 0, Some(1), Write, int(1), Info, nil()),
                (1, 2, Some(3), Read, nil(), Ok, int(1)),
            ],
            Verdict::Linearizable,
        ),
        (
            "an unknown write may not have taken effect",
            Object::Register,
            vec![
                (0, 0, Some(1), Write, int(1), Info, nil()),
                (1, 2, Some(3), Read, nil(), Ok, nil()),
            ],
            Verdict::Linearizable,
        ),
        (
            "an unknown write can take effect late, after its client went on",
            Object::Register,
            vec![
                (0, 0, Some(1), Write, int(1), Info, nil()),
                (0, 2, Some(3), Write, int(2), Ok, nil()),
                (1, 4, Some(5), Read, nil(), Ok, int(1)),
            ],
            Verdict::Linearizable,
        ),
        (
            "an unknown write cannot take effect before it was invoked",
            Object::Register,
            vec![
                (1, 0, Some(1), Read, nil(), Ok, int(1)),
                (0, 2, Some(3), Write, int(1), Info, nil()),
            ],
            Verdict::NotLinearizable,
        ),
        (
            "a committed cas must take effect",
            Object::Register,
            vec![
                (0, 0, Some(1), Write, int(2), Ok, nil()),
                (1, 2, Some(3), Cas, pair(nil(), int(1)), Committed, nil()),
            ],
            Verdict::NotLinearizable,
        ),
        (
            "an unknown cas need not take effect",
            Object::Register,
            vec![
                (0, 0, Some(1), Write, int(2), Ok, nil()),
                (1, 2, Some(3), Cas, pair(nil(), int(1)), Info, nil()),
            ],
            Verdict::Linearizable,
        ),
        (
            "a committed write may take effect after later reads",
            Object::Register,
            vec![
                (0, 0, Some(1), Write, int(1), Committed, nil()),
                (1, 2, Some(3), Read, nil(), Ok, nil()),
                (1, 4, Some(5), Read, nil(), Ok, nil()),
            ],
            Verdict::Linearizable,
        ),
        (
            "a committed write may take effect late",
            Object::Register,
            vec![
                (0, 0, Some(1), Write, int(1), Committed, nil()),
                (1, 2, Some(3), Read, nil(), Ok, nil()),
                (1, 4, Some(5), Read, nil(), Ok, int(1)),
            ],
            Verdict::Linearizable,
        ),
        (
            "a failed write never took effect",
            Object::Register,
            vec![
                (0, 0, Some(1), Write, int(1), Fail, nil()),
                (1, 2, Some(3), Read, nil(), Ok, int(1)),
            ],
            Verdict::NotLinearizable,
        ),
        (
            "a cas swaps only from its expected value",
            Object::Register,
            vec![
                (0, 0, Some(1), Write, int(1), Ok, nil()),
                (0, 2, Some(3), Cas, pair(int(2), int(3)), Ok, nil()),
            ],
            Verdict::NotLinearizable,
        ),
        (
            "a cas from nil swaps an unwritten register",
            Object::Register,
            vec![
                (0, 0, Some(1), Cas, pair(nil(), int(3)), Ok, nil()),
                (1, 2, Some(3), Read, nil(), Ok, int(3)),
            ],
            Verdict::Linearizable,
        ),
        (
            "appends build a list in order",
            Object::Kv,
            vec![
                (0, 0, Some(1), Append, int(1), Ok, nil()),
                (0, 2, Some(3), Append, int(2), Ok, nil()),
                (1, 4, Some(5), Get, nil(), Ok, Value::Vec(vec![int(1), int(2)])),
            ],
            Verdict::Linearizable,
        ),
        (
            "appends cannot be reordered across real time",
            Object::Kv,
            vec![
                (0, 0, Some(1), Append, int(1), Ok, nil()),
                (0, 2, Some(3), Append, int(2), Ok, nil()),
                (1, 4, Some(5), Get, nil(), Ok, Value::Vec(vec![int(2), int(1)])),
            ],
            Verdict::NotLinearizable,
        ),
        (
            "an append onto a plain value cannot succeed",
            Object::Kv,
            vec![
                (0, 0, Some(1), Put, int(1), Ok, nil()),
                (0, 2, Some(3), Append, int(2), Ok, nil()),
            ],
            Verdict::NotLinearizable,
        ),
        (
            "a delete makes the key absent",
            Object::Kv,
            vec![
                (0, 0, Some(1), Put, int(1), Ok, nil()),
                (0, 2, Some(3), Delete, nil(), Ok, nil()),
                (1, 4, Some(5), Get, nil(), Ok, nil()),
            ],
            Verdict::Linearizable,
        ),
        (
            "a get cannot see a deleted value",
            Object::Kv,
            vec![
                (0, 0, Some(1), Put, int(1), Ok, nil()),
                (0, 2, Some(3), Delete, nil(), Ok, nil()),
                (1, 4, Some(5), Get, nil(), Ok, int(1)),
            ],
            Verdict::NotLinearizable,
        ),
    ];
    let mut tally = Tally::default();
    for (name, object, rows, expected) in cases {
        let ops = rows
            .into_iter()
            .map(|(process, invoke, complete, func, arg, outcome, result)| Operation {
                process,
                invoke,
                complete,
                func,
                key: Key::Default,
                arg,
                outcome,
                result,
                line: None,
            })
            .collect();
        let history = History::new(ops).expect(name);
        let verdicts = tally.cross_check(name, object, &history, BOTH);
        assert_eq!(verdicts[&Key::Default], expected, "{name}");
    }
    tally.print("hand-made");
    assert_eq!(tally.tester.agreed, tally.keys, "{tally:?}");
    assert_eq!(tally.dfs.agreed, tally.keys, "{tally:?}");
}

/// At most this share (per mille) of the keys an oracle checks, over all scenario histories and
/// mutations, may stay undecided by it.
const MAX_UNDECIDED_SCENARIO_PER_MILLE: usize = 10;

/// Both independent oracles.
const BOTH: &[Oracle] = &[Oracle::Tester, Oracle::Dfs];

#[test]
fn every_scenario_history_gets_the_same_verdict_from_every_checker() {
    let mut recorded = Tally::default();
    // Mutations near the start of a key's history: both oracles refute them cheaply.
    let mut early = Tally::default();
    // Mutations half-way through: only the memoised search can afford to refute them (the
    // tester would try every interleaving of the hundreds of operations before).
    let mut late = Tally::default();
    for s in CATALOGUE {
        for seed in seeds() {
            let report = run(&s.plan_for(seed, None), &RunOptions::default());
            let label = format!("{} seed {seed}", s.name);
            assert!(report.ok(), "{label}: the run failed: {:?}", report.verdict);
            let history = &report.history;
            let verdicts = recorded.cross_check(&label, Object::Register, history, BOTH);
            for key in verdicts.keys() {
                let one = only_key(history, key);
                let mutations = [
                    ("early phantom read", phantom_read(&one, 0), false),
                    ("early swapped writes", swapped_writes(&one, 0), false),
                    ("late phantom read", phantom_read(&one, 50), true),
                    ("late swapped writes", swapped_writes(&one, 50), true),
                ];
                for (what, mutated, is_late) in mutations {
                    let (tally, oracles) =
                        if is_late { (&mut late, &[Oracle::Dfs][..]) } else { (&mut early, BOTH) };
                    let l = format!("{label} {what}");
                    let h =
                        mutated.unwrap_or_else(|| panic!("{l}: nothing to mutate on key {key}"));
                    let v = tally.cross_check(&l, Object::Register, &h, oracles);
                    assert_eq!(v[key], Verdict::NotLinearizable, "{l} key {key}: ours");
                }
            }
        }
    }
    recorded.print("scenario histories");
    early.print("early mutations");
    late.print("late mutations");
    assert_eq!(recorded.linearizable, recorded.keys, "the correct build's histories");
    for t in [&recorded, &early] {
        assert!(t.tester.agreed + t.tester.undecided.len() == t.keys, "{t:?}");
    }
    for t in [&recorded, &early, &late] {
        assert!(t.dfs.agreed + t.dfs.undecided.len() == t.keys, "{t:?}");
    }
    for oracle in [Oracle::Tester, Oracle::Dfs] {
        let tallies = [&recorded, &early, &late].map(|t| t.of(oracle));
        let undecided: usize = tallies.iter().map(|t| t.undecided.len()).sum();
        let decided: usize = tallies.iter().map(|t| t.agreed).sum();
        let allowed = (undecided + decided) * MAX_UNDECIDED_SCENARIO_PER_MILLE / 1000;
        assert!(
            undecided <= allowed,
            "{undecided} keys undecided by {oracle:?} (at most {allowed} allowed)"
        );
    }
}

/// Perturbs one operation of `history` at random; the result may or may not be linearizable.
fn perturb(rng: &mut sim::Rng, history: &History) -> History {
    let mut ops = history.ops().to_vec();
    let n = ops.len();
    let reads: Vec<usize> = (0..n).filter(|&i| is_ok_read(&ops[i])).collect();
    let writes: Vec<usize> =
        (0..n).filter(|&i| matches!(ops[i].func, Func::Write | Func::Put | Func::Append)).collect();
    match rng.random_range(0..6) {
        // A read returns what another read returned.
        0 if reads.len() >= 2 => {
            let (a, b) =
                (reads[rng.random_range(0..reads.len())], reads[rng.random_range(0..reads.len())]);
            ops[a].result = ops[b].result.clone();
        }
        // Two writes trade their arguments.
        1 if writes.len() >= 2 => {
            let (a, b) = (
                writes[rng.random_range(0..writes.len())],
                writes[rng.random_range(0..writes.len())],
            );
            let arg = ops[a].arg.clone();
            ops[a].arg = std::mem::replace(&mut ops[b].arg, arg);
        }
        // An operation completes as soon as it is invoked (it may have taken effect later).
        2 => {
            let i = rng.random_range(0..n);
            if ops[i].complete.is_some() {
                ops[i].complete = Some(ops[i].invoke);
            }
        }
        // A write whose client gave up (or saw it succeed) is known to have taken effect.
        3 => {
            let i = rng.random_range(0..n);
            if !ops[i].func.is_read_only() && matches!(ops[i].outcome, Outcome::Ok | Outcome::Info)
            {
                ops[i].outcome = Outcome::Committed;
            }
        }
        // A client gives up on an operation that had completed.
        4 => {
            let i = rng.random_range(0..n);
            if ops[i].outcome == Outcome::Ok {
                ops[i].outcome = Outcome::Info;
                ops[i].result = Value::Nil;
            }
        }
        // A read returns a value nobody wrote.
        _ => {
            if let Some(h) = synth::corrupt_one_read(rng, history) {
                return h;
            }
        }
    }
    History::new(ops).expect("perturbations keep the invariants")
}

/// At most this share (per mille) of the keys of synthetic histories may stay undecided by
/// stateright's tester (perturbed histories with many unknown outcomes are its worst case).
const MAX_UNDECIDED_SYNTHETIC_PER_MILLE: usize = 20;

#[test]
fn synthetic_and_perturbed_histories_get_the_same_verdict_from_every_checker() {
    let histories = if cfg!(debug_assertions) { 300 } else { 4000 };
    let mut tally = Tally::default();
    let mut rng = Seed(18).stream("independent-checker.synth");
    for i in 0..histories {
        let (workload, object) = if i % 2 == 0 {
            (Workload::Register, Object::Register)
        } else {
            (Workload::Kv, Object::Kv)
        };
        let cfg = Config {
            workload,
            ops: rng.random_range(5..=30),
            processes: rng.random_range(1..=5),
            keys: rng.random_range(1..=2),
            info_per_mille: [0, 50, 200][rng.random_range(0..3)],
        };
        let mut history = synth::generate(&mut rng, &cfg);
        let label = if i % 3 == 0 {
            format!("synthetic {i} {cfg:?}")
        } else {
            history = perturb(&mut rng, &history);
            format!("perturbed {i} {cfg:?}")
        };
        let verdicts = tally.cross_check(&label, object, &history, BOTH);
        if i % 3 == 0 {
            assert!(
                verdicts.values().all(|v| *v != Verdict::NotLinearizable),
                "{label}: generated histories are linearizable"
            );
        }
    }
    tally.print("synthetic histories");
    assert!(tally.linearizable >= histories / 3, "{tally:?}");
    assert!(tally.not_linearizable >= histories / 10, "{tally:?}");
    assert!(tally.ours_undecided.is_empty(), "{tally:?}");
    assert_eq!(tally.dfs.agreed, tally.keys, "the memoised search decides every small history");
    let allowed = tally.keys * MAX_UNDECIDED_SYNTHETIC_PER_MILLE / 1000;
    assert!(
        tally.tester.undecided.len() <= allowed,
        "{} keys undecided by stateright (at most {allowed} allowed)",
        tally.tester.undecided.len()
    );
    assert_eq!(tally.tester.agreed + tally.tester.undecided.len(), tally.keys);
}

/// Keeps the models' names honest: the independent spec covers every function our models take.
#[test]
fn the_independent_spec_covers_every_function_of_our_models() {
    for func in Func::ALL {
        let object = if RegisterModel.compile(&op_of(func)).is_ok() {
            Object::Register
        } else {
            assert!(KvModel.compile(&op_of(func)).is_ok(), "{func} belongs to no model");
            Object::Kv
        };
        let history = History::new(vec![op_of(func)]).expect("one op");
        assert!(
            BOTH.iter().all(|&o| check_history(o, object, &history, 100).is_ok()),
            "{func} unsupported"
        );
    }
}

fn op_of(func: Func) -> Operation {
    let arg = match func {
        Func::Cas => Value::Vec(vec![Value::Nil, Value::Int(1)]),
        Func::Read | Func::Get | Func::Delete => Value::Nil,
        _ => Value::Int(1),
    };
    Operation {
        process: 0,
        invoke: 0,
        complete: Some(1),
        func,
        key: Key::Default,
        arg,
        outcome: Outcome::Ok,
        result: Value::Nil,
        line: None,
    }
}
