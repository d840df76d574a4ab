//! Durability: every acknowledged write is still there at the end.
//!
//! Checked per key against the value every member holds after the cluster healed and converged:
//! - the value is `nil` or was written by some write that was not definitely refused (a write
//!   reported as failed must not take effect, and nothing invents values);
//! - if an acknowledged write `a` is provably the last write of its key — every other write that
//!   may have taken effect completed before `a` was invoked — the value is exactly `a`'s.
//!
//! Writes whose outcome is unknown (`info`) are never "provably before" anything, so they never
//! produce a false alarm; linearizability of the whole history covers the subtler orders.

use std::collections::BTreeMap;

use crate::check::history::{Func, History, Key, Operation, Outcome, Value};

/// The keys and values a write may leave behind (`Nil` for a delete): one for a write or cas,
/// every write of a txn's success branch (none when it answered that its compares failed).
fn written(op: &Operation) -> Vec<(Key, &Value)> {
    match (op.func, &op.arg) {
        (Func::Write, v) => vec![(op.key.clone(), v)],
        (Func::Cas, Value::Vec(pair)) if pair.len() == 2 => vec![(op.key.clone(), &pair[1])],
        (Func::Txn, Value::Vec(parts)) => {
            let failed = op.outcome == Outcome::Ok
                && !matches!(&op.result, Value::Vec(r) if r.first() == Some(&Value::Int(1)));
            match parts.get(1) {
                Some(Value::Vec(writes)) if !failed => writes
                    .iter()
                    .filter_map(|w| match w {
                        Value::Vec(pair) if pair.len() == 2 => match &pair[0] {
                            Value::Int(k) => Some((Key::Int(*k), &pair[1])),
                            _ => None,
                        },
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            }
        }
        _ => Vec::new(),
    }
}

/// Checks `finals` (key -> final value, `Nil` when absent) against `history`. Returns the first
/// problem found.
pub fn check(history: &History, finals: &BTreeMap<Key, Value>) -> Result<(), String> {
    // Per key: the writes that may have taken effect and the value each leaves.
    let mut writes: BTreeMap<Key, Vec<(&Operation, &Value)>> = BTreeMap::new();
    for op in history.ops() {
        if op.outcome == Outcome::Fail {
            continue;
        }
        for (key, value) in written(op) {
            writes.entry(key).or_default().push((op, value));
        }
    }
    for (key, value) in finals {
        let ws = writes.get(key).map(Vec::as_slice).unwrap_or(&[]);
        let plausible = *value == Value::Nil || ws.iter().any(|(_, v)| *v == value);
        if !plausible {
            return Err(format!(
                "key {key}: final value {value} was never written by a write that could have \
                 taken effect"
            ));
        }
        let last = ws.iter().filter(|(a, _)| a.outcome == Outcome::Ok).find(|(a, _)| {
            ws.iter().all(|(w, _)| {
                std::ptr::eq(*w, *a)
                    || (w.outcome == Outcome::Ok && w.complete.is_some_and(|c| c < a.invoke))
            })
        });
        if let Some((a, want)) = last {
            if *want != value {
                return Err(format!(
                    "key {key}: acknowledged write of {want} (process {}, the last write of the \
                     key) is lost: the cluster holds {value}",
                    a.process
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::recorder::Recorder;

    fn history(steps: &[(u64, Func, Value, Outcome)]) -> History {
        let mut r = Recorder::new();
        for (p, f, arg, outcome) in steps {
            let id = r.invoke(*p, *f, Key::Int(0), arg.clone());
            r.complete(id, *outcome, Value::Nil);
        }
        r.finish()
    }

    fn finals(v: Value) -> BTreeMap<Key, Value> {
        BTreeMap::from([(Key::Int(0), v)])
    }

    #[test]
    fn the_last_acknowledged_write_must_survive() {
        let h = history(&[
            (1, Func::Write, Value::Int(1), Outcome::Ok),
            (1, Func::Write, Value::Int(2), Outcome::Ok),
        ]);
        assert!(check(&h, &finals(Value::Int(2))).is_ok());
        let e = check(&h, &finals(Value::Int(1))).unwrap_err();
        assert!(e.contains("acknowledged write of 2"), "{e}");
        assert!(check(&h, &finals(Value::Nil)).is_err());
    }

    #[test]
    fn refused_writes_must_not_take_effect() {
        let h = history(&[
            (1, Func::Write, Value::Int(1), Outcome::Ok),
            (1, Func::Write, Value::Int(2), Outcome::Fail),
        ]);
        let e = check(&h, &finals(Value::Int(2))).unwrap_err();
        assert!(e.contains("never written"), "{e}");
    }

    #[test]
    fn unknown_writes_may_or_may_not_have_happened() {
        let h = history(&[
            (1, Func::Write, Value::Int(1), Outcome::Ok),
            (1, Func::Write, Value::Int(2), Outcome::Info),
        ]);
        assert!(check(&h, &finals(Value::Int(1))).is_ok());
        assert!(check(&h, &finals(Value::Int(2))).is_ok());
        assert!(check(&h, &finals(Value::Int(3))).is_err());
    }
}
