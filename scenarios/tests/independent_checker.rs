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

use independent::{check_history, Object, Verdict};
use rand::Rng as _;
use scenarios::check::linearizability::{self, Verdict as OurVerdict};
use scenarios::check::synth::{self, Config, Workload};
use scenarios::check::{Budget, Func, History, Key, KvModel, Operation, Outcome, RegisterModel};
use scenarios::check::{Model, Value};
use scenarios::runner::{run, RunOptions};
use scenarios::scenario::CATALOGUE;
use sim::Seed;

/// Specification steps the independent search may spend on one key.
const THEIR_STEPS_PER_KEY: u64 = 300_000;
/// Steps our checker may spend on one history.
const OUR_STEPS: u64 = 50_000_000;

/// Seeds per scenario: `INDEPENDENT_CHECKER_SEEDS` if set, else 3 in release and 1 in debug
/// builds (the default CI runs the debug tests; a debug run costs about ten times more).
fn seeds() -> RangeInclusive<u64> {
    let n = match std::env::var("INDEPENDENT_CHECKER_SEEDS") {
        Ok(s) => s.parse().unwrap_or_else(|_| panic!("INDEPENDENT_CHECKER_SEEDS={s:?}")),
        Err(_) if cfg!(debug_assertions) => 1,
        Err(_) => 3,
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

/// What the cross-checks found, for the closing report and the assertions.
#[derive(Debug, Default)]
struct Tally {
    histories: usize,
    keys: usize,
    ops: usize,
    both_linearizable: usize,
    both_not: usize,
    /// Keys left undecided by either checker: `label key (which)`.
    undecided: Vec<String>,
    their_steps: u64,
    their_max_steps: u64,
}

impl Tally {
    /// Checks `history` with both checkers and asserts they agree on every key both decided.
    /// Returns the verdicts of the independent checker.
    fn cross_check(
        &mut self,
        label: &str,
        object: Object,
        history: &History,
    ) -> BTreeMap<Key, Verdict> {
        let theirs = check_history(object, history, THEIR_STEPS_PER_KEY)
            .unwrap_or_else(|e| panic!("{label}: independent checker refused {e:?}"));
        let ours = ours(object, history);
        assert_eq!(
            ours.keys().collect::<Vec<_>>(),
            theirs.keys().collect::<Vec<_>>(),
            "{label}: the checkers saw different keys"
        );
        self.histories += 1;
        self.ops += history.len();
        for (key, checked) in &theirs {
            self.keys += 1;
            self.their_steps += checked.steps;
            self.their_max_steps = self.their_max_steps.max(checked.steps);
            let our = ours[key];
            match (our, checked.verdict) {
                (Verdict::Exhausted, _) => self.undecided.push(format!("{label} key {key} (ours)")),
                (_, Verdict::Exhausted) => {
                    self.undecided.push(format!("{label} key {key} (independent)"))
                }
                (a, b) => {
                    if a != b {
                        dump(label, key, history);
                    }
                    assert_eq!(a, b, "{label} key {key}: ours says {a:?}, independent says {b:?}");
                    if a == Verdict::Linearizable {
                        self.both_linearizable += 1;
                    } else {
                        self.both_not += 1;
                    }
                }
            }
        }
        theirs.into_iter().map(|(k, c)| (k, c.verdict)).collect()
    }

    fn print(&self, what: &str) {
        eprintln!(
            "{what}: {} histories, {} ops, {} keys cross-checked: {} linearizable by both, {} not \
             linearizable by both, {} undecided; independent search: {} steps, at most {} on a key",
            self.histories,
            self.ops,
            self.keys,
            self.both_linearizable,
            self.both_not,
            self.undecided.len(),
            self.their_steps,
            self.their_max_steps
        );
        for u in &self.undecided {
            eprintln!("  undecided: {u}");
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
/// certainly not linearizable. Uses the earliest such read; `None` if there is none.
fn swapped_writes(history: &History) -> Option<History> {
    let ops = history.ops();
    let writers = |v: &Value| ops.iter().filter(|o| written(o) == Some(v)).count();
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
        let mut ops = ops.to_vec();
        let (a, b) = (ops[w1].arg.clone(), ops[w2].arg.clone());
        ops[w1].arg = b;
        ops[w2].arg = a;
        return Some(History::new(ops).expect("new arguments keep the invariants"));
    }
    None
}

#[test]
fn hand_made_histories_get_the_known_verdict_from_both_checkers() {
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
        let verdicts = tally.cross_check(name, object, &history);
        assert_eq!(verdicts[&Key::Default], expected, "{name}");
    }
    tally.print("hand-made");
    assert!(tally.undecided.is_empty());
}

/// At most this many keys of scenario histories (and their mutations) may stay undecided.
const MAX_UNDECIDED_SCENARIO_KEYS: usize = 2;

#[test]
fn every_scenario_history_gets_the_same_verdict_from_both_checkers() {
    let mut recorded = Tally::default();
    let mut mutated = Tally::default();
    for s in CATALOGUE {
        for seed in seeds() {
            let report = run(&s.plan_for(seed, None), &RunOptions::default());
            let label = format!("{} seed {seed}", s.name);
            assert!(report.ok(), "{label}: the run failed: {:?}", report.verdict);
            let history = &report.history;
            let verdicts = recorded.cross_check(&label, Object::Register, history);
            // Mutate the first key that has candidates; each mutation must be refuted by both.
            let mut done = (false, false);
            for key in verdicts.keys() {
                let one = only_key(history, key);
                if !done.0 {
                    if let Some(h) = phantom_read(&one, 0) {
                        let l = format!("{label} phantom read");
                        let v = mutated.cross_check(&l, Object::Register, &h);
                        assert_ne!(v[key], Verdict::Linearizable, "{l} key {key}");
                        done.0 = true;
                    }
                }
                if !done.1 {
                    if let Some(h) = swapped_writes(&one) {
                        let l = format!("{label} swapped writes");
                        let v = mutated.cross_check(&l, Object::Register, &h);
                        assert_ne!(v[key], Verdict::Linearizable, "{l} key {key}");
                        done.1 = true;
                    }
                }
            }
            assert!(done.0 && done.1, "{label}: found no read to mutate ({done:?})");
        }
    }
    recorded.print("scenario histories");
    mutated.print("mutated scenario histories");
    assert_eq!(recorded.both_not, 0, "a correct build's history was refuted by both checkers");
    assert_eq!(mutated.both_linearizable, 0, "mutations are certainly not linearizable");
    assert!(mutated.both_not > 0, "no mutation was refuted by both checkers");
    let undecided = recorded.undecided.len() + mutated.undecided.len();
    assert!(
        undecided <= MAX_UNDECIDED_SCENARIO_KEYS,
        "{undecided} keys undecided (at most {MAX_UNDECIDED_SCENARIO_KEYS} allowed)"
    );
}

/// Perturbs one operation of `history` at random; the result may or may not be linearizable.
fn perturb(rng: &mut sim::Rng, history: &History) -> History {
    let mut ops = history.ops().to_vec();
    let n = ops.len();
    let reads: Vec<usize> = (0..n).filter(|&i| is_ok_read(&ops[i])).collect();
    let writes: Vec<usize> =
        (0..n).filter(|&i| matches!(ops[i].func, Func::Write | Func::Put | Func::Append)).collect();
    match rng.random_range(0..4) {
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
        // A read returns a value nobody wrote.
        _ => {
            if let Some(h) = synth::corrupt_one_read(rng, history) {
                return h;
            }
        }
    }
    History::new(ops).expect("perturbations keep the invariants")
}

/// At most this many keys of synthetic histories may stay undecided.
const MAX_UNDECIDED_SYNTHETIC_KEYS: usize = 3;

#[test]
fn synthetic_and_perturbed_histories_get_the_same_verdict_from_both_checkers() {
    let histories = if cfg!(debug_assertions) { 300 } else { 1500 };
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
        let verdicts = tally.cross_check(&label, object, &history);
        if i % 3 == 0 {
            assert!(
                verdicts.values().all(|v| *v != Verdict::NotLinearizable),
                "{label}: generated histories are linearizable"
            );
        }
    }
    tally.print("synthetic histories");
    assert!(tally.both_linearizable >= histories / 3, "{tally:?}");
    assert!(tally.both_not >= histories / 10, "{tally:?}");
    assert!(
        tally.undecided.len() <= MAX_UNDECIDED_SYNTHETIC_KEYS,
        "{} keys undecided (at most {MAX_UNDECIDED_SYNTHETIC_KEYS} allowed)",
        tally.undecided.len()
    );
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
        assert!(check_history(object, &history, 100).is_ok(), "{func} unsupported");
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
