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

/// The value a write leaves behind (`Nil` for a delete).
fn written(op: &Operation) -> Option<&Value> {
    match (op.func, &op.arg) {
        (Func::Write, v) => Some(v),
        (Func::Cas, Value::Vec(pair)) if pair.len() == 2 => Some(&pair[1]),
        _ => None,
    }
}

/// Checks `finals` (key -> final value, `Nil` when absent) against `history`. Returns the first
/// problem found.
pub fn check(history: &History, finals: &BTreeMap<Key, Value>) -> Result<(), String> {
    let mut writes: BTreeMap<&Key, Vec<&Operation>> = BTreeMap::new();
    for op in history.ops() {
        if written(op).is_some() && op.outcome != Outcome::Fail {
            writes.entry(&op.key).or_default().push(op);
        }
    }
    for (key, value) in finals {
        let ws = writes.get(key).map(Vec::as_slice).unwrap_or(&[]);
        let plausible = *value == Value::Nil || ws.iter().any(|w| written(w) == Some(value));
        if !plausible {
            return Err(format!(
                "key {key}: final value {value} was never written by a write that could have \
                 taken effect"
            ));
        }
        let last = ws.iter().filter(|a| a.outcome == Outcome::Ok).find(|a| {
            ws.iter().all(|w| {
                std::ptr::eq(*w, **a)
                    || (w.outcome == Outcome::Ok && w.complete.is_some_and(|c| c < a.invoke))
            })
        });
        if let Some(a) = last {
            let want = written(a).expect("a write");
            if want != value {
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
