//! Property tests: generated histories are linearizable, corrupted ones are not, and on small
//! random histories the checker agrees with a brute-force search of the definition.

use proptest::prelude::*;
use scenarios::check::synth::{self, Config, Workload};
use scenarios::check::{
    self, Budget, History, Key, KvModel, Model, Operation, Outcome, RegisterModel, Value, Verdict,
};

fn config(kv: bool, ops: usize, processes: usize, keys: usize, info: u32) -> Config {
    Config {
        workload: if kv { Workload::Kv } else { Workload::Register },
        ops,
        processes,
        keys,
        info_per_mille: info,
    }
}

fn verdict(kv: bool, h: &History) -> Verdict {
    let r = if kv {
        check::check(&KvModel, h, &mut Budget::unlimited())
    } else {
        check::check(&RegisterModel, h, &mut Budget::unlimited())
    };
    r.expect("synthetic histories use the model's functions").verdict
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn generated_histories_are_linearizable(
        seed in any::<u64>(), kv in any::<bool>(), ops in 1usize..120, processes in 1usize..8,
        keys in 1usize..4, info in prop_oneof![Just(0u32), 0u32..600],
    ) {
        let h = synth::generate(&mut sim::Seed(seed).stream("gen"), &config(kv, ops, processes, keys, info));
        prop_assert_eq!(verdict(kv, &h), Verdict::Linearizable);
    }

    #[test]
    fn a_read_of_a_never_written_value_is_never_linearizable(
        seed in any::<u64>(), kv in any::<bool>(), ops in 1usize..120, processes in 1usize..8,
        keys in 1usize..4, info in 0u32..600,
    ) {
        let mut rng = sim::Seed(seed).stream("gen");
        let h = synth::generate(&mut rng, &config(kv, ops, processes, keys, info));
        let Some(bad) = synth::corrupt_one_read(&mut rng, &h) else { return Ok(()) };
        let v = verdict(kv, &bad);
        let Verdict::NotLinearizable(failures) = v else {
            return Err(TestCaseError::fail(format!("accepted a corrupted history: {v:?}")));
        };
        // The blocked operation is on the failing key, and the prefix is on that key too.
        for f in failures {
            prop_assert_eq!(&bad.get(f.blocked).key, &f.key);
            prop_assert!(f.prefix.iter().all(|id| bad.get(*id).key == f.key));
        }
    }
}

// ---- brute force -------------------------------------------------------------------------

/// Is there a sequence containing every required op and some optional ones, respecting real
/// time (a before b whenever a completed strictly before b was invoked) and the model?
fn brute_force<M: Model>(model: &M, h: &History) -> bool {
    // Unknown reads constrain nothing (no result, no effect); failed ops did not happen.
    let ops: Vec<&Operation> = h
        .ops()
        .iter()
        .filter(|o| match o.outcome {
            Outcome::Fail => false,
            Outcome::Info | Outcome::Committed => !o.func.is_read_only(),
            Outcome::Ok => true,
        })
        .collect();
    let optional: Vec<usize> =
        (0..ops.len()).filter(|&i| ops[i].outcome == Outcome::Info).collect();
    (0u32..1 << optional.len()).any(|mask| {
        let chosen: Vec<&Operation> = (0..ops.len())
            .filter(|&i| match optional.iter().position(|&o| o == i) {
                Some(bit) => mask & (1 << bit) != 0,
                None => true,
            })
            .map(|i| ops[i])
            .collect();
        let compiled: Vec<M::Op> = chosen.iter().map(|o| model.compile(o).unwrap()).collect();
        let mut placed = vec![false; chosen.len()];
        place(model, &chosen, &compiled, &mut placed, model.init())
    })
}

fn place<M: Model>(
    model: &M,
    ops: &[&Operation],
    compiled: &[M::Op],
    placed: &mut [bool],
    state: M::State,
) -> bool {
    if placed.iter().all(|&p| p) {
        return true;
    }
    for x in 0..ops.len() {
        if placed[x] {
            continue;
        }
        let must_wait = (0..ops.len()).any(|y| {
            !placed[y] && ops[y].effective_completion().is_some_and(|ret| ret < ops[x].invoke)
        });
        if must_wait {
            continue;
        }
        if let Some(next) = model.step(&state, &compiled[x]) {
            placed[x] = true;
            if place(model, ops, compiled, placed, next) {
                return true;
            }
            placed[x] = false;
        }
    }
    false
}

/// A random small history over a tiny value domain, not necessarily linearizable.
fn small_history() -> impl Strategy<Value = (bool, History)> {
    let value = prop_oneof![Just(Value::Nil), (1i64..3).prop_map(Value::Int)];
    let outcome = prop_oneof![
        4 => Just(Outcome::Ok),
        1 => Just(Outcome::Fail),
        2 => Just(Outcome::Info),
        1 => Just(Outcome::Committed),
    ];
    let op = (0u8..4, value.clone(), value, 0u64..12, 0u64..6, outcome, 0usize..6);
    (any::<bool>(), prop::collection::vec(op, 1..7)).prop_map(|(kv, raw)| {
        let ops = raw
            .into_iter()
            .enumerate()
            .map(|(i, (f, a, b, start, len, outcome, list))| {
                use scenarios::check::Func::*;
                let func = match (kv, f) {
                    (false, 0) => Read,
                    (false, 1 | 2) => Write,
                    (false, _) => Cas,
                    (true, 0) => Get,
                    (true, 1) => Put,
                    (true, 2) => Delete,
                    (true, _) => Append,
                };
                let arg = match func {
                    Cas => Value::Vec(vec![a.clone(), b.clone()]),
                    Read | Get | Delete => Value::Nil,
                    Append => Value::Int(1 + i as i64 % 2),
                    _ => a.clone(),
                };
                let result = if outcome == Outcome::Ok && func.is_read_only() {
                    let lists: [&[i64]; 4] = [&[1], &[2], &[1, 2], &[2, 1]];
                    match (kv, list) {
                        (true, 0..4) => {
                            Value::Vec(lists[list].iter().map(|&x| Value::Int(x)).collect())
                        }
                        _ => b,
                    }
                } else {
                    Value::Nil
                };
                Operation {
                    process: i as u64,
                    invoke: start,
                    complete: Some(start + len),
                    func,
                    key: Key::Default,
                    arg,
                    outcome,
                    result,
                    line: None,
                }
            })
            .collect();
        (kv, History::new(ops).unwrap())
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    #[test]
    fn agrees_with_brute_force_on_small_histories((kv, h) in small_history()) {
        let expected = if kv { brute_force(&KvModel, &h) } else { brute_force(&RegisterModel, &h) };
        let got = verdict(kv, &h);
        prop_assert_eq!(got == Verdict::Linearizable, expected, "checker said {:?}", got);
    }
}
