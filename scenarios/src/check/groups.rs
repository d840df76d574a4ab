//! Checking a history with multi-key operations: keys tied together by ranges and txns are
//! checked as one group, every other key on its own.
//!
//! Linearizability is local (Herlihy and Wing): a history is linearizable iff each object's
//! sub-history is, when every operation acts on one object. A range or txn over several keys
//! acts on all of them at once, so those keys form one object. The checker unites the keys of
//! every multi-key operation (union-find) and checks each resulting group:
//!
//! - a group of one key whose operations are all `read` / `write` / `cas` takes the fast path:
//!   the register model with the single-value reductions ([`super::reduce::reduce`]) and
//!   dead-value pruning, exactly as [`super::linearizability::check`] does;
//! - any other group is checked with the map model ([`MapModel`]) after the cell-wise
//!   reductions ([`super::reduce::reduce_map`]).
//!
//! Operations that no linearizability model covers are left out: serializable reads (checked
//! by [`super::serializable`]) and compactions (they change no key's value). All groups share
//! one [`Budget`]; when it runs out the remaining groups are reported undecided (`Unknown`),
//! never as passing.

use std::collections::{BTreeMap, BTreeSet};

use super::history::{Func, History, Key, OpId, Outcome};
use super::linearizability::{judge, key_op, requirement, CheckError, Report, Stats, Verdict};
use super::models::{MapModel, RegisterModel};
use super::reduce::{reduce, reduce_map};
use super::wgl::Budget;

/// Union-find over key indices, with path halving; the smaller index is the root.
struct Union {
    parent: Vec<usize>,
}

impl Union {
    fn find(&mut self, mut x: usize) -> usize {
        while self.parent[x] != x {
            self.parent[x] = self.parent[self.parent[x]];
            x = self.parent[x];
        }
        x
    }

    fn unite(&mut self, a: usize, b: usize) {
        let (a, b) = (self.find(a), self.find(b));
        let (lo, hi) = (a.min(b), a.max(b));
        self.parent[hi] = lo;
    }
}

/// A group of keys and the operations on them (history order).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    pub keys: Vec<Key>,
    pub ops: Vec<OpId>,
}

impl Group {
    /// True when the register fast path can check the group.
    fn is_register(&self, history: &History) -> bool {
        self.keys.len() == 1
            && self
                .ops
                .iter()
                .all(|id| matches!(history.get(*id).func, Func::Read | Func::Write | Func::Cas))
    }
}

/// Whether a linearizability model covers `func` at all.
fn linearizable_func(func: Func) -> bool {
    !matches!(func, Func::SerialRead | Func::Compact)
}

/// The groups of `history`: keys connected by operations that touch several, with the
/// operations the search must or may see (failed operations and unknown reads left out), in
/// order of their smallest key.
pub fn groups(history: &History) -> Vec<Group> {
    let mut index: BTreeMap<Key, usize> = BTreeMap::new();
    let mut touched: Vec<(OpId, Vec<usize>)> = Vec::new();
    for (i, op) in history.ops().iter().enumerate() {
        if !linearizable_func(op.func) || requirement(op).is_none() {
            continue;
        }
        let keys: Vec<usize> = op
            .keys()
            .into_iter()
            .map(|k| {
                let next = index.len();
                *index.entry(k).or_insert(next)
            })
            .collect();
        if !keys.is_empty() {
            touched.push((OpId(i), keys));
        }
    }
    let mut u = Union { parent: (0..index.len()).collect() };
    for (_, keys) in &touched {
        for w in keys.windows(2) {
            u.unite(w[0], w[1]);
        }
    }
    let mut by_root: BTreeMap<usize, Group> = BTreeMap::new();
    let mut keys_by_root: BTreeMap<usize, BTreeSet<Key>> = BTreeMap::new();
    for (k, i) in &index {
        keys_by_root.entry(u.find(*i)).or_default().insert(k.clone());
    }
    for (id, keys) in touched {
        let root = u.find(keys[0]);
        by_root
            .entry(root)
            .or_insert_with(|| Group { keys: Vec::new(), ops: Vec::new() })
            .ops
            .push(id);
    }
    let mut out: Vec<Group> = by_root
        .into_iter()
        .map(|(root, mut g)| {
            g.keys = keys_by_root.remove(&root).unwrap_or_default().into_iter().collect();
            g
        })
        .collect();
    out.sort_by(|a, b| a.keys.cmp(&b.keys));
    out
}

/// Checks `history` group by group (see the module documentation) within `budget`.
pub fn check(history: &History, budget: &mut Budget) -> Result<Report, CheckError> {
    let groups = groups(history);
    let mut stats = Stats {
        keys: groups.iter().map(|g| g.keys.len()).sum(),
        unknown: history
            .ops()
            .iter()
            .filter(|o| linearizable_func(o.func))
            .filter(|o| matches!(o.outcome, Outcome::Info | Outcome::Committed))
            .count(),
        ..Stats::default()
    };
    let mut failures = Vec::new();
    let mut undecided = Vec::new();
    for g in groups {
        if !undecided.is_empty() {
            undecided.extend(g.keys);
            continue;
        }
        if g.is_register(history) {
            let mut ops = Vec::with_capacity(g.ops.len());
            for id in &g.ops {
                ops.extend(key_op(&RegisterModel, history, *id)?);
            }
            let r = reduce(&RegisterModel, &mut ops);
            stats.reduction.dropped += r.dropped;
            stats.reduction.bounded += r.bounded;
            stats.searched += ops.len();
            judge(&RegisterModel, g.keys, &ops, budget, &mut failures, &mut undecided);
        } else {
            let model = MapModel::new(g.keys.iter().cloned());
            let mut ops = Vec::with_capacity(g.ops.len());
            for id in &g.ops {
                ops.extend(key_op(&model, history, *id)?);
            }
            let r = reduce_map(&mut ops);
            stats.reduction.dropped += r.dropped;
            stats.reduction.bounded += r.bounded;
            stats.searched += ops.len();
            judge(&model, g.keys, &ops, budget, &mut failures, &mut undecided);
        }
    }
    stats.steps = budget.used();
    Ok(Report { verdict: Verdict::of(failures, undecided), stats })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::history::{Operation, Value};

    const NIL: Value = Value::Nil;

    fn int(i: i64) -> Value {
        Value::Int(i)
    }

    fn vec(items: &[Value]) -> Value {
        Value::Vec(items.to_vec())
    }

    /// `[[k v] ...]`
    fn cells(cs: &[(i64, Value)]) -> Value {
        Value::Vec(cs.iter().map(|(k, v)| vec(&[int(*k), v.clone()])).collect())
    }

    fn txn(compares: &[(i64, Value)], writes: &[(i64, Value)], reads: &[i64]) -> Value {
        let reads: Vec<Value> = reads.iter().map(|k| int(*k)).collect();
        vec(&[cells(compares), cells(writes), Value::Vec(reads)])
    }

    /// An operation on key `key` over `[invoke, complete]` (`None`: never completed).
    fn op(
        process: u64,
        func: Func,
        key: i64,
        arg: Value,
        times: (u64, Option<u64>),
        outcome: Outcome,
        result: Value,
    ) -> Operation {
        Operation {
            process,
            invoke: times.0,
            complete: times.1,
            func,
            key: Key::Int(key),
            arg,
            outcome,
            result,
            line: None,
        }
    }

    fn verdict(ops: Vec<Operation>) -> Verdict {
        let h = History::new(ops).unwrap();
        check(&h, &mut Budget::steps(1_000_000)).unwrap().verdict
    }

    fn write(p: u64, key: i64, v: i64, t: (u64, u64)) -> Operation {
        op(p, Func::Write, key, int(v), (t.0, Some(t.1)), Outcome::Ok, NIL)
    }

    fn range(p: u64, keys: &[i64], seen: &[Value], t: (u64, u64)) -> Operation {
        let arg = Value::Vec(keys.iter().map(|k| int(*k)).collect());
        op(p, Func::Range, keys[0], arg, (t.0, Some(t.1)), Outcome::Ok, vec(seen))
    }

    fn ok_txn(p: u64, arg: Value, t: (u64, u64), result: Value) -> Operation {
        op(p, Func::Txn, 0, arg, (t.0, Some(t.1)), Outcome::Ok, result)
    }

    #[test]
    fn a_txn_whose_compare_saw_a_stale_value_fails() {
        let stale = txn(&[(0, int(1))], &[(0, int(3)), (1, int(4))], &[0]);
        let h = vec![
            write(1, 0, 1, (0, 1)),
            write(1, 0, 2, (2, 3)),
            // Invoked after the write of 2 completed, yet its compare k0 = 1 held.
            ok_txn(2, stale.clone(), (4, 5), vec(&[int(1)])),
        ];
        let Verdict::NotLinearizable(f) = verdict(h) else { panic!("a stale compare passed") };
        assert_eq!(f[0].group, vec![Key::Int(0), Key::Int(1)]);
        // Concurrent with the write of 2, the same txn is fine.
        let h = vec![
            write(1, 0, 1, (0, 1)),
            write(1, 0, 2, (2, 5)),
            ok_txn(2, stale, (3, 4), vec(&[int(1)])),
            range(3, &[0, 1], &[int(2), int(4)], (6, 7)),
        ];
        assert_eq!(verdict(h), Verdict::Linearizable);
    }

    #[test]
    fn a_range_that_saw_a_torn_txn_fails() {
        let both = txn(&[(0, NIL)], &[(0, int(1)), (1, int(2))], &[0]);
        let torn = vec![
            ok_txn(1, both.clone(), (0, 1), vec(&[int(1)])),
            range(2, &[0, 1], &[int(1), NIL], (2, 3)),
        ];
        assert!(matches!(verdict(torn), Verdict::NotLinearizable(_)));
        // Concurrent with the txn, a range sees all of it or none of it.
        for seen in [[NIL, NIL], [int(1), int(2)]] {
            let h = vec![
                ok_txn(1, both.clone(), (0, 3), vec(&[int(1)])),
                range(2, &[0, 1], &seen, (1, 2)),
            ];
            assert_eq!(verdict(h), Verdict::Linearizable, "{seen:?}");
        }
        let torn_concurrent = vec![
            ok_txn(1, both, (0, 3), vec(&[int(1)])),
            range(2, &[0, 1], &[NIL, int(2)], (1, 2)),
        ];
        assert!(matches!(verdict(torn_concurrent), Verdict::NotLinearizable(_)));
    }

    #[test]
    fn an_unknown_txn_took_effect_whole_or_not_at_all() {
        let t = txn(&[(0, NIL)], &[(0, int(5)), (1, int(6))], &[0]);
        let unknown = op(1, Func::Txn, 0, t, (0, Some(1)), Outcome::Info, NIL);
        let whole = vec![unknown.clone(), range(2, &[0, 1], &[int(5), int(6)], (2, 3))];
        assert_eq!(verdict(whole), Verdict::Linearizable);
        let none = vec![unknown.clone(), range(2, &[0, 1], &[NIL, NIL], (2, 3))];
        assert_eq!(verdict(none), Verdict::Linearizable);
        let half = vec![unknown, range(2, &[0, 1], &[int(5), NIL], (2, 3))];
        assert!(matches!(verdict(half), Verdict::NotLinearizable(_)));
    }

    #[test]
    fn a_committed_cas_swapped_whether_or_not_a_range_ties_its_key() {
        let cas = op(1, Func::Cas, 0, vec(&[NIL, int(1)]), (2, Some(3)), Outcome::Committed, NIL);
        let alone = vec![
            write(0, 0, 2, (0, 1)),
            cas.clone(),
            op(2, Func::Read, 0, NIL, (4, Some(5)), Outcome::Ok, int(2)),
        ];
        assert!(matches!(verdict(alone), Verdict::NotLinearizable(_)));
        let grouped = vec![write(0, 0, 2, (0, 1)), cas, range(2, &[0, 1], &[int(2), NIL], (4, 5))];
        assert!(matches!(verdict(grouped), Verdict::NotLinearizable(_)));
    }

    #[test]
    fn a_failed_txn_must_have_seen_a_false_compare() {
        let t = txn(&[(0, NIL)], &[(0, int(2))], &[0]);
        let ok = vec![write(1, 0, 1, (0, 1)), ok_txn(2, t.clone(), (2, 3), vec(&[int(0), int(1)]))];
        assert_eq!(verdict(ok), Verdict::Linearizable);
        // It read k0 absent, so its compare (k0 absent) held: it cannot have failed.
        let wrong = vec![ok_txn(2, t, (2, 3), vec(&[int(0), NIL]))];
        assert!(matches!(verdict(wrong), Verdict::NotLinearizable(_)));
        // Without compares, every compare holds: such a txn never fails.
        let unguarded = txn(&[], &[(0, int(2))], &[0]);
        let wrong = vec![ok_txn(2, unguarded, (2, 3), vec(&[int(0), NIL]))];
        assert!(matches!(verdict(wrong), Verdict::NotLinearizable(_)));
    }

    #[test]
    fn keys_split_into_groups_and_lone_register_keys_stay_fast() {
        let t = txn(&[(0, NIL)], &[(1, int(2))], &[0]);
        let ops = vec![
            ok_txn(1, t, (0, 1), vec(&[int(1)])),
            write(2, 2, 7, (0, 1)),
            op(3, Func::Read, 2, NIL, (2, Some(3)), Outcome::Ok, int(7)),
            op(4, Func::Write, 3, int(9), (0, Some(1)), Outcome::Fail, NIL),
            op(5, Func::SerialRead, 4, NIL, (0, Some(1)), Outcome::Ok, NIL),
        ];
        let h = History::new(ops).unwrap();
        let gs = groups(&h);
        let keys: Vec<Vec<Key>> = gs.iter().map(|g| g.keys.clone()).collect();
        assert_eq!(keys, vec![vec![Key::Int(0), Key::Int(1)], vec![Key::Int(2)]]);
        assert!(!gs[0].is_register(&h) && gs[1].is_register(&h));
        let report = check(&h, &mut Budget::steps(1000)).unwrap();
        assert_eq!(report.verdict, Verdict::Linearizable);
        assert_eq!(report.stats.keys, 3);
    }

    #[test]
    fn unknown_writes_nobody_observes_are_dropped_and_a_tiny_budget_is_undecided() {
        let mut ops = vec![range(9, &[0, 1], &[NIL, NIL], (0, 1))];
        for i in 0..30u64 {
            let t = txn(&[], &[(0, int(100 + i as i64)), (1, int(200 + i as i64))], &[]);
            ops.push(op(i, Func::Txn, 0, t, (2 + i, None), Outcome::Info, NIL));
        }
        let h = History::new(ops.clone()).unwrap();
        let report = check(&h, &mut Budget::steps(1000)).unwrap();
        assert_eq!(report.verdict, Verdict::Linearizable);
        assert_eq!(report.stats.reduction.dropped, 30, "{:?}", report.stats);
        // Reads of every value keep them all; with no budget the verdict is undecided.
        for i in 0..30u64 {
            let seen = [int(100 + i as i64), int(200 + i as i64)];
            ops.push(range(40 + i, &[0, 1], &seen, (100 + 2 * i, 101 + 2 * i)));
        }
        let h = History::new(ops).unwrap();
        let report = check(&h, &mut Budget::steps(5)).unwrap();
        assert!(matches!(report.verdict, Verdict::Unknown { .. }), "{:?}", report.verdict);
    }
}
