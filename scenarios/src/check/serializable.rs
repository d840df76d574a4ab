//! What serializable reads promise, and the revision facts every answer carries.
//!
//! **The promise.** An etcd serializable read (`RangeRequest.serializable`) is served from the
//! local member's applied state, without a ReadIndex round. The applied state is always a
//! prefix of the one committed log, so the answer is the key as it was at one revision `r` of
//! the committed history — the revision in the response header. That is all: `r` may be
//! arbitrarily old (a partitioned or lagging member), and nothing makes two reads monotonic
//! when they go to different members (this workload's clients pick a member per request, as
//! clientv3's balancer may) or to one member across a restart (it serves from its durable state
//! before it re-applies the tail of its log). So a serializable read is checked for exactly
//! this, never for recency or per-session monotonicity:
//!
//! 1. **validity**: it returns `nil` or a value written to that key by an operation that may
//!    have taken effect (not refused) and was invoked before the read completed;
//! 2. **one history**: the value is the key's value at the answer's revision, as far as every
//!    other answer tells (below).
//!
//! **Revision facts.** Every `ok` answer carries the store revision it was served at
//! (`crate::client::Clients::revisions`), and each yields facts "key `k` held `v` at revision
//! `r`": a put (or cas, or txn that took its success branch) of `v` made revision `r`; a delete
//! answered at `r` leaves the key absent at `r` (whether it deleted anything or the key was
//! already absent at the current revision `r`); a read, range or failed txn saw its values at
//! `r`. Written values are unique, so once `v` is written to `k` at revision `w` and seen at
//! revision `r`, `k` held `v` at every revision in `[w, r]`: no fact about `k` in that interval
//! may name another value, `w <= r`, and two facts at one revision agree. Linearizable reads
//! obey the same facts, so they are checked too (the linearizability search does not look at
//! revisions).

use std::collections::BTreeMap;

use super::history::{Func, History, Key, OpId, Operation, Outcome, Value};

/// "Key held value at revision", and the operation that says so.
#[derive(Clone, Debug)]
struct Fact {
    revision: u64,
    value: Value,
    op: OpId,
    /// The fact records a write of `value` (made at `revision`), not an observation.
    write: bool,
}

/// The cells of a txn's argument part `idx` (`[[k v] ...]`), or keys with `nil` for the reads.
fn txn_part(op: &Operation, idx: usize) -> Vec<(Key, Value)> {
    let Value::Vec(parts) = &op.arg else { return Vec::new() };
    let Some(Value::Vec(items)) = parts.get(idx) else { return Vec::new() };
    items
        .iter()
        .filter_map(|item| match item {
            Value::Vec(pair) if pair.len() == 2 => match &pair[0] {
                Value::Int(k) => Some((Key::Int(*k), pair[1].clone())),
                _ => None,
            },
            Value::Int(k) => Some((Key::Int(*k), Value::Nil)),
            _ => None,
        })
        .collect()
}

/// The facts `op` (answered `ok` at `revision`) states, as (key, value, is a write).
fn facts_of(op: &Operation) -> Vec<(Key, Value, bool)> {
    match op.func {
        Func::Write | Func::Put => vec![(op.key.clone(), op.arg.clone(), true)],
        Func::Delete => vec![(op.key.clone(), Value::Nil, true)],
        Func::Cas => match &op.arg {
            Value::Vec(pair) if pair.len() == 2 => vec![(op.key.clone(), pair[1].clone(), true)],
            _ => Vec::new(),
        },
        Func::Read | Func::Get | Func::SerialRead => {
            vec![(op.key.clone(), op.result.clone(), false)]
        }
        Func::Range => {
            let (Value::Vec(keys), Value::Vec(values)) = (&op.arg, &op.result) else {
                return Vec::new();
            };
            keys.iter()
                .zip(values)
                .filter_map(|(k, v)| match k {
                    Value::Int(k) => Some((Key::Int(*k), v.clone(), false)),
                    _ => None,
                })
                .collect()
        }
        Func::Txn => match &op.result {
            Value::Vec(r) if r.first() == Some(&Value::Int(1)) => {
                txn_part(op, 1).into_iter().map(|(k, v)| (k, v, true)).collect()
            }
            Value::Vec(r) if r.first() == Some(&Value::Int(0)) => txn_part(op, 2)
                .into_iter()
                .zip(&r[1..])
                .map(|((k, _), v)| (k, v.clone(), false))
                .collect(),
            _ => Vec::new(),
        },
        Func::Append | Func::Compact => Vec::new(),
    }
}

/// The values written to each key by operations that may have taken effect, with the earliest
/// invocation of such a write.
fn possible_writes(history: &History) -> BTreeMap<(Key, Value), u64> {
    let mut out: BTreeMap<(Key, Value), u64> = BTreeMap::new();
    for op in history.ops() {
        let writes: Vec<(Key, Value)> = match (op.func, op.outcome) {
            (_, Outcome::Fail) => continue,
            (Func::Txn, Outcome::Ok) if !matches!(&op.result, Value::Vec(r) if r.first() == Some(&Value::Int(1))) => {
                continue
            }
            (Func::Txn, _) => txn_part(op, 1),
            (Func::Write | Func::Put | Func::Cas | Func::Delete, _) => {
                facts_of(op).into_iter().filter(|f| f.2).map(|(k, v, _)| (k, v)).collect()
            }
            _ => continue,
        };
        for w in writes {
            let first = out.entry(w).or_insert(op.invoke);
            *first = (*first).min(op.invoke);
        }
    }
    out
}

/// Checks every serializable read of `history` for validity, and every answer with a revision
/// in `revisions` for one history (see the module documentation). Returns the first problem.
pub fn check(history: &History, revisions: &BTreeMap<OpId, u64>) -> Result<(), String> {
    let writes = possible_writes(history);
    for op in history.ops().iter().filter(|o| o.func == Func::SerialRead) {
        if op.outcome != Outcome::Ok || op.result == Value::Nil {
            continue;
        }
        let invoked = writes.get(&(op.key.clone(), op.result.clone()));
        let ok = invoked.is_some_and(|&i| op.complete.is_none_or(|c| i <= c));
        if !ok {
            return Err(format!(
                "key {}: serializable read {op} returned a value no write that may have taken \
                 effect had written before it completed",
                op.key
            ));
        }
    }
    let mut facts: BTreeMap<Key, Vec<Fact>> = BTreeMap::new();
    for (&id, &revision) in revisions {
        let op = history.get(id);
        if op.outcome != Outcome::Ok {
            continue;
        }
        for (key, value, write) in facts_of(op) {
            facts.entry(key).or_default().push(Fact { revision, value, op: id, write });
        }
    }
    for (key, mut fs) in facts {
        fs.sort_by_key(|f| (f.revision, !f.write));
        check_key(history, &key, &fs)?;
    }
    Ok(())
}

/// The facts about one key, sorted by revision (writes first at equal revisions).
fn check_key(history: &History, key: &Key, fs: &[Fact]) -> Result<(), String> {
    let clash = |a: &Fact, b: &Fact, why: &str| {
        Err(format!(
            "key {key}: {why}: {} (revision {}) and {} (revision {})",
            history.get(a.op),
            a.revision,
            history.get(b.op),
            b.revision
        ))
    };
    for w in fs.windows(2) {
        if w[0].revision == w[1].revision && w[0].value != w[1].value {
            return clash(&w[0], &w[1], "two answers at one revision disagree");
        }
    }
    // Per written value: where it was written and the last revision it was seen at.
    let mut span: BTreeMap<&Value, (Option<usize>, usize)> = BTreeMap::new();
    for (i, f) in fs.iter().enumerate() {
        if f.value == Value::Nil {
            continue;
        }
        let e = span.entry(&f.value).or_insert((None, i));
        if f.write && e.0.is_none() {
            e.0 = Some(i);
        }
        e.1 = i;
    }
    for (value, (written, last)) in span {
        let Some(w) = written else { continue };
        let first_seen = fs.iter().position(|f| f.value == *value).expect("the value is a fact");
        if first_seen < w && fs[first_seen].revision < fs[w].revision {
            return clash(
                &fs[first_seen],
                &fs[w],
                "a value was seen before the revision writing it",
            );
        }
        if let Some(other) = fs[w..=last].iter().find(|f| f.value != *value) {
            return clash(other, &fs[last], "the key held one value over these revisions");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::recorder::Recorder;

    /// (process, func, arg, outcome, result, revision)
    type Step = (u64, Func, Value, Outcome, Value, Option<u64>);

    fn history(steps: &[Step]) -> (History, BTreeMap<OpId, u64>) {
        let mut r = Recorder::new();
        let mut revs = BTreeMap::new();
        for (p, f, arg, outcome, result, rev) in steps {
            let id = r.invoke(*p, *f, Key::Int(0), arg.clone());
            r.complete(id, *outcome, result.clone());
            if let Some(rev) = rev {
                revs.insert(id, *rev);
            }
        }
        (r.finish(), revs)
    }

    const OK: Outcome = Outcome::Ok;
    const NIL: Value = Value::Nil;

    #[test]
    fn a_stale_serializable_read_at_its_revision_passes() {
        let (h, revs) = history(&[
            (1, Func::Write, Value::Int(1), OK, NIL, Some(2)),
            (1, Func::Write, Value::Int(2), OK, NIL, Some(3)),
            // Served by a lagging member at revision 2: stale but true to its revision.
            (2, Func::SerialRead, NIL, OK, Value::Int(1), Some(2)),
            (2, Func::SerialRead, NIL, OK, NIL, Some(1)),
            (2, Func::SerialRead, NIL, OK, Value::Int(2), Some(7)),
        ]);
        check(&h, &revs).unwrap();
    }

    #[test]
    fn a_serializable_read_of_an_unwritten_value_fails() {
        let (h, revs) = history(&[
            (1, Func::Write, Value::Int(1), Outcome::Fail, NIL, None),
            (2, Func::SerialRead, NIL, OK, Value::Int(1), Some(2)),
        ]);
        let e = check(&h, &revs).unwrap_err();
        assert!(e.contains("no write"), "{e}");
    }

    #[test]
    fn a_read_that_contradicts_its_revision_fails() {
        // Value 1 written at 2, value 2 at 5: a read at revision 6 cannot see 1 any more.
        let (h, revs) = history(&[
            (1, Func::Write, Value::Int(1), OK, NIL, Some(2)),
            (1, Func::Write, Value::Int(2), OK, NIL, Some(5)),
            (2, Func::SerialRead, NIL, OK, Value::Int(1), Some(6)),
        ]);
        let e = check(&h, &revs).unwrap_err();
        assert!(e.contains("held one value"), "{e}");
        // Nor may a read at revision 3 see the value written at 5.
        let (h, revs) = history(&[
            (1, Func::Write, Value::Int(2), OK, NIL, Some(5)),
            (2, Func::SerialRead, NIL, OK, Value::Int(2), Some(3)),
        ]);
        let e = check(&h, &revs).unwrap_err();
        assert!(e.contains("before the revision"), "{e}");
        // Two answers at one revision must agree.
        let (h, revs) = history(&[
            (1, Func::Write, Value::Int(1), Outcome::Info, NIL, None),
            (2, Func::Read, NIL, OK, Value::Int(1), Some(4)),
            (3, Func::SerialRead, NIL, OK, NIL, Some(4)),
        ]);
        let e = check(&h, &revs).unwrap_err();
        assert!(e.contains("disagree"), "{e}");
    }
}
