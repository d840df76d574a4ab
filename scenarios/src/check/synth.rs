//! Seeded synthetic histories: random operations run against a sequential model, with random
//! overlapping intervals. Such a history is linearizable by construction (each operation takes
//! effect at one instant between its invocation and its completion); [`corrupt_one_read`]
//! makes it certainly not. Used by the property tests and the benchmark.

use rand::Rng as _;

use super::history::{Func, History, Key, Operation, Outcome, Value};
use super::recorder::Recorder;
use super::OpId;

/// Which functions to generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// read / write / cas.
    Register,
    /// get / put / delete / append.
    Kv,
}

/// The shape of a synthetic history.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    pub workload: Workload,
    pub ops: usize,
    pub processes: usize,
    /// Number of keys; 1 means the implicit default key.
    pub keys: usize,
    /// Per mille of operations whose client gives up (`Info`); half of those take effect.
    pub info_per_mille: u32,
}

/// The value a corrupted read returns: negative, so never written (writes are positive).
pub const NEVER_WRITTEN: Value = Value::Int(-1);

struct Pending {
    op: OpId,
    taken_effect: Option<(Outcome, Value)>,
}

fn key_for(cfg: &Config, k: usize) -> Key {
    if cfg.keys <= 1 {
        Key::Default
    } else {
        Key::Int(k as i64)
    }
}

fn random_call(
    rng: &mut sim::Rng,
    cfg: &Config,
    next_value: &mut i64,
    state: &Value,
) -> (Func, Value) {
    *next_value += 1;
    let fresh = Value::Int(*next_value);
    let roll = rng.random_range(0..100);
    match cfg.workload {
        Workload::Register => match roll {
            0..40 => (Func::Read, Value::Nil),
            40..80 => (Func::Write, fresh),
            _ => {
                let old = if rng.random_bool(0.5) {
                    state.clone()
                } else {
                    Value::Int(rng.random_range(1..=*next_value))
                };
                (Func::Cas, Value::Vec(vec![old, fresh]))
            }
        },
        Workload::Kv => match roll {
            0..40 => (Func::Get, Value::Nil),
            40..70 => (Func::Put, fresh),
            70..80 => (Func::Delete, Value::Nil),
            _ => (Func::Append, fresh),
        },
    }
}

/// Applies `func(arg)` to `state`: `(outcome, result)` as a correct server would report it.
fn apply(func: Func, arg: &Value, state: &mut Value) -> (Outcome, Value) {
    match func {
        Func::Read | Func::Get => (Outcome::Ok, state.clone()),
        Func::Write | Func::Put => {
            *state = arg.clone();
            (Outcome::Ok, Value::Nil)
        }
        Func::Delete => {
            *state = Value::Nil;
            (Outcome::Ok, Value::Nil)
        }
        Func::Cas => match arg {
            Value::Vec(pair) if pair.len() == 2 && pair[0] == *state => {
                *state = pair[1].clone();
                (Outcome::Ok, Value::Nil)
            }
            _ => (Outcome::Fail, Value::Nil),
        },
        Func::Append => match state {
            Value::Nil => {
                *state = Value::Vec(vec![arg.clone()]);
                (Outcome::Ok, Value::Nil)
            }
            Value::Vec(items) => {
                items.push(arg.clone());
                (Outcome::Ok, Value::Nil)
            }
            Value::Int(_) | Value::Str(_) => (Outcome::Fail, Value::Nil),
        },
        Func::SerialRead | Func::Range | Func::Txn | Func::Compact => {
            panic!("synthetic single-key histories never draw {func}")
        }
    }
}

/// Generates a linearizable history of `cfg.ops` operations.
pub fn generate(rng: &mut sim::Rng, cfg: &Config) -> History {
    assert!(cfg.processes > 0 && cfg.keys > 0, "need processes and keys: {cfg:?}");
    let mut rec = Recorder::new();
    let mut states = vec![Value::Nil; cfg.keys];
    let mut pending: Vec<Option<Pending>> = (0..cfg.processes).map(|_| None).collect();
    let mut invoked = 0;
    let mut next_value = 0i64;
    let mut busy = 0;
    while invoked < cfg.ops || busy > 0 {
        let p = rng.random_range(0..cfg.processes);
        match pending[p].take() {
            None if invoked < cfg.ops => {
                let k = rng.random_range(0..cfg.keys);
                let (func, arg) = random_call(rng, cfg, &mut next_value, &states[k]);
                let op = rec.invoke(p as u64, func, key_for(cfg, k), arg);
                pending[p] = Some(Pending { op, taken_effect: None });
                invoked += 1;
                busy += 1;
            }
            None => {}
            Some(Pending { op, taken_effect: None }) => {
                let o: &Operation = rec.get(op);
                let k = match o.key {
                    Key::Int(k) => k as usize,
                    _ => 0,
                };
                let (func, arg) = (o.func, o.arg.clone());
                let gives_up = rng.random_range(0..1000) < cfg.info_per_mille;
                let result = if gives_up && rng.random_bool(0.5) {
                    (Outcome::Info, Value::Nil)
                } else {
                    let (outcome, result) = apply(func, &arg, &mut states[k]);
                    if gives_up {
                        (Outcome::Info, Value::Nil)
                    } else {
                        (outcome, result)
                    }
                };
                pending[p] = Some(Pending { op, taken_effect: Some(result) });
            }
            Some(Pending { op, taken_effect: Some((outcome, result)) }) => {
                rec.complete(op, outcome, result);
                busy -= 1;
            }
        }
    }
    rec.finish()
}

/// The history with one `Ok` read (or get), chosen by `rng`, now returning [`NEVER_WRITTEN`];
/// `None` if it has no `Ok` read.
pub fn corrupt_one_read(rng: &mut sim::Rng, history: &History) -> Option<History> {
    let reads: Vec<usize> = (0..history.len())
        .filter(|&i| {
            let o = &history.ops()[i];
            o.outcome == Outcome::Ok && o.func.is_read_only()
        })
        .collect();
    if reads.is_empty() {
        return None;
    }
    let victim = reads[rng.random_range(0..reads.len())];
    let mut ops = history.ops().to_vec();
    ops[victim].result = NEVER_WRITTEN;
    Some(History::new(ops).expect("changing a result keeps the invariants"))
}
