//! Sound reductions of operations with unknown outcome, so they cannot make the search explode.
//!
//! An unknown operation (`Info`) may or may not have taken effect, at any time after its
//! invocation: left alone, it is a candidate at every step of the search, and refuting a history
//! may have to try every subset of them. The checker first drops what cannot matter and bounds
//! what can, reasoning only on [`Footprint`]s (a model whose state is one [`Value`], initially
//! `Nil`). A key with an `Opaque` operation is left alone. Over the operations of one key:
//!
//! - `o` *observes* `v` if its footprint is `Observe(v)` or `Swap { expect: v, .. }`; it
//!   *observes element* `x` if it observes a vector containing `x`;
//! - `o` *produces* `v` if its footprint is `Overwrite(v)` or `Swap { value: v, .. }`;
//! - *scalar*: an integer or a string (append cannot take effect on one, nor produce one);
//! - *unbounded*: `Info` (optional) and committed (required) operations.
//!
//! Done by the caller: `Fail` operations are removed (they did not happen), and so are
//! read-only operations with an unknown outcome (no effect, unknown result: no constraint).
//!
//! **Rule 1 (drop).** Remove an unbounded operation `w` if
//! (a) `w` produces `v`, nothing observes `v`, `w` is optional or an `Overwrite`, and either the
//! key has no `Append` or `v` is scalar; or
//! (b) `w` is an optional `Append(x)` and nothing observes element `x`.
//! Repeated until nothing changes (removing an operation can leave a value unobserved).
//!
//! *Proof.* (H linearizable ⇒ H − w linearizable.) Take a linearization L of H containing w
//! (if it does not, L serves). (a) Let o follow w in L. The state after w is v: o is not an
//! `Observe` or `Swap` (they would observe v), not an `Append` (none exist, or v is scalar and
//! an append cannot take effect on it), so o is an `Overwrite` or w is last. Removing w changes
//! the state only between w and o, where nothing is linearized, and an `Overwrite` ignores the
//! state it finds. (b) From w up to the next `Overwrite` or `Swap` in L, every state is a vector
//! containing x, so no `Observe` or `Swap` lies there (it would observe element x): only
//! `Append`s. Removing w removes x from those states; they stay `nil` or vectors, so those
//! appends still take effect, nothing observes the difference, and the next `Overwrite` (a
//! `Swap` would observe) resets the state. In both cases every later state is unchanged, and
//! removing an element keeps L consistent with real time. (⇐) If w is optional, a linearization
//! of H − w is one of H. If w is a required `Overwrite` with unbounded completion, append it at
//! the end: nothing completes after +infinity, and nothing follows to be affected.
//!
//! **Rule 2 (bound).** Give an unbounded operation `w` the completion `min ret(r)` over the
//! required operations `r` with bounded completion that (a) observe `v`, where `w` is the only
//! producer of `v`, `v != Nil`, and `v` is scalar if the key has an `Append`; or (b) observe
//! element `x`, where `w` is `Append(x)`, no other operation appends `x` and no produced value
//! contains `x`. (No such `r`: `w` keeps its unbounded completion.)
//!
//! *Proof.* Let L be a linearization with points p(·) inside each interval, and w in L (else the
//! bound is moot). Every such r is in L (required) and needs, at p(r), a state equal to v (a) or
//! containing x (b). The initial state is neither, and only w can make the state so (a: the only
//! producer of v, and no append yields a scalar; b: the only append of x, and no overwrite or
//! swap writes a vector with x). So p(w) < p(r) <= ret(r) for all r, and L respects the bound.
//! Conversely a tighter bound only removes linearizations.
//!
//! With unique written values (the usual workload), every unknown write or append ends up
//! dropped (never read) or bounded (read by someone), and searches like an ordinary operation.

use std::collections::{BTreeMap, BTreeSet};

use super::history::Value;
use super::models::map::{Cell, MapOp};
use super::models::{Footprint, Model};
use super::wgl::KeyOp;

/// What the reductions did to one key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reduction {
    /// Unknown operations removed (rule 1).
    pub dropped: usize,
    /// Unknown operations given a bounded completion (rule 2).
    pub bounded: usize,
}

fn observes(fp: Footprint<'_>) -> Option<&Value> {
    match fp {
        Footprint::Observe(v) | Footprint::Swap { expect: v, .. } => Some(v),
        _ => None,
    }
}

fn produces(fp: Footprint<'_>) -> Option<&Value> {
    match fp {
        Footprint::Overwrite(v) | Footprint::Swap { value: v, .. } => Some(v),
        _ => None,
    }
}

fn elements(v: &Value) -> &[Value] {
    match v {
        Value::Vec(items) => items,
        _ => &[],
    }
}

fn is_scalar(v: &Value) -> bool {
    matches!(v, Value::Int(_) | Value::Str(_))
}

/// Drops the operations `keep` marks false, again and again until a pass drops none (a drop
/// can make others droppable); returns how many were dropped.
fn retain_until_stable<T>(ops: &mut Vec<T>, keep: impl Fn(&[T]) -> Vec<bool>) -> usize {
    let start = ops.len();
    loop {
        let flags = keep(ops);
        assert_eq!(flags.len(), ops.len(), "one flag per operation");
        let before = ops.len();
        let mut flags = flags.into_iter();
        ops.retain(|_| flags.next().expect("one flag per operation"));
        if ops.len() == before {
            return start - ops.len();
        }
    }
}

/// Applies rules 1 and 2 to the operations of one key.
pub fn reduce<M: Model>(model: &M, ops: &mut Vec<KeyOp<M::Op>>) -> Reduction {
    let mut r = Reduction::default();
    if ops.iter().any(|o| model.footprint(&o.op) == Footprint::Opaque) {
        return r;
    }
    r.dropped += retain_until_stable(ops, |ops| rule1_keep(model, ops));
    let bounds = rule2_bounds(model, ops);
    for (o, bound) in ops.iter_mut().zip(bounds) {
        if let Some(b) = bound {
            o.deadline = Some(b.max(o.invoke));
            r.bounded += 1;
        }
    }
    r
}

fn has_append<M: Model>(model: &M, ops: &[KeyOp<M::Op>]) -> bool {
    ops.iter().any(|o| matches!(model.footprint(&o.op), Footprint::Append(_)))
}

/// For each operation, false if rule 1 removes it.
fn rule1_keep<M: Model>(model: &M, ops: &[KeyOp<M::Op>]) -> Vec<bool> {
    let appends = has_append(model, ops);
    let observed: BTreeSet<&Value> =
        ops.iter().filter_map(|o| observes(model.footprint(&o.op))).collect();
    let observed_elements: BTreeSet<&Value> = observed.iter().flat_map(|v| elements(v)).collect();
    ops.iter()
        .map(|o| {
            if o.deadline.is_some() {
                return true;
            }
            let fp = model.footprint(&o.op);
            let drop = match fp {
                Footprint::Overwrite(v) | Footprint::Swap { value: v, .. } => {
                    !observed.contains(v)
                        && (!o.required || matches!(fp, Footprint::Overwrite(_)))
                        && (!appends || is_scalar(v))
                }
                Footprint::Append(x) => !o.required && !observed_elements.contains(x),
                Footprint::Observe(_) | Footprint::Opaque => false,
            };
            !drop
        })
        .collect()
}

/// For each operation, the completion rule 2 gives it, if any.
fn rule2_bounds<M: Model>(model: &M, ops: &[KeyOp<M::Op>]) -> Vec<Option<u64>> {
    let appends = has_append(model, ops);
    let mut producers: BTreeMap<&Value, usize> = BTreeMap::new();
    let mut appenders: BTreeMap<&Value, usize> = BTreeMap::new();
    let mut written_elements: BTreeSet<&Value> = BTreeSet::new();
    let mut first_return: BTreeMap<&Value, u64> = BTreeMap::new();
    let mut first_return_element: BTreeMap<&Value, u64> = BTreeMap::new();
    let lower = |map: &mut BTreeMap<_, u64>, key, ret: u64| {
        let min = map.entry(key).or_insert(ret);
        *min = (*min).min(ret);
    };
    for o in ops {
        let fp = model.footprint(&o.op);
        if let Some(v) = produces(fp) {
            *producers.entry(v).or_default() += 1;
            written_elements.extend(elements(v));
        }
        if let Footprint::Append(x) = fp {
            *appenders.entry(x).or_default() += 1;
        }
        if let (Some(v), Some(ret), true) = (observes(fp), o.deadline, o.required) {
            lower(&mut first_return, v, ret);
            for x in elements(v) {
                lower(&mut first_return_element, x, ret);
            }
        }
    }
    ops.iter()
        .map(|o| {
            if o.deadline.is_some() {
                return None;
            }
            match model.footprint(&o.op) {
                Footprint::Overwrite(v) | Footprint::Swap { value: v, .. } => {
                    let unique = producers.get(v) == Some(&1) && *v != Value::Nil;
                    (unique && (!appends || is_scalar(v)))
                        .then(|| first_return.get(v).copied())
                        .flatten()
                }
                Footprint::Append(x) => {
                    let unique = appenders.get(x) == Some(&1) && !written_elements.contains(x);
                    unique.then(|| first_return_element.get(x).copied()).flatten()
                }
                Footprint::Observe(_) | Footprint::Opaque => None,
            }
        })
        .collect()
}

/// What [`reduce_map`] knows about each cell of a group: who observes it and who may write it.
struct MapCells<'a> {
    /// Cells some operation expects or guards on.
    observed: BTreeSet<&'a Cell>,
    /// Slots whose value matters to an operation in a way no single cell names: refuted
    /// compares with no read of the slot in the same operation, and guards of required
    /// operations (whose writes apply or not depending on the slot).
    opaque: BTreeSet<usize>,
}

impl<'a> MapCells<'a> {
    fn new(ops: &'a [KeyOp<MapOp>]) -> MapCells<'a> {
        let mut observed = BTreeSet::new();
        let mut opaque = BTreeSet::new();
        for o in ops {
            observed.extend(o.op.expect.iter().chain(&o.op.guard));
            for (s, _) in o.op.refute.iter().flatten() {
                if !o.op.expect.iter().any(|(e, _)| e == s) {
                    opaque.insert(*s);
                }
            }
            if o.required {
                opaque.extend(o.op.guard.iter().map(|(s, _)| *s));
            }
        }
        MapCells { observed, opaque }
    }
}

/// The reductions of the module documentation, over a group of keys checked with the map
/// model: rules 1 and 2 read per cell (slot and value) instead of per value.
///
/// **Rule 1 (map).** Remove an optional unbounded operation `w` if, for every cell `(s, v)` it
/// may write, no operation expects or guards on `(s, v)` and `s` is not opaque (see
/// [`MapCells`]). Repeated until nothing changes. *Proof.* Take a linearization L of H with w.
/// For a slot s that w writes with v, consider the operations after w in L that touch s, up to
/// the first that writes s: none expects `(s, v)`, so none expects anything on s (it would
/// fail on v): ranges and reads of s, and failed txns reading s, all expect. An optional
/// conditional guarding s on another value is a no-op there: remove it from L too (it is
/// optional, and removing a no-op changes no state). A refuted compare on s comes with a read
/// of s (else s is opaque), and a required guard on s makes s opaque. So the first later
/// operation touching s overwrites it, and between w and it nothing looks at s. Removing w
/// (and those no-ops) changes the state only there, and lifts w's own preconditions; real time
/// only relaxes. As w is optional, the result linearizes H − w; conversely a linearization of
/// H − w is one of H.
///
/// **Rule 2 (map).** Give an unbounded `w` the completion `min ret(r)` over required bounded
/// operations `r` that expect a cell `(s, v)` with `v != nil` that w may write and no other
/// operation may write. *Proof.* r needs slot s to hold v at its point; slots start `nil`, and
/// only w writes `(s, v)`, so w precedes r, hence p(w) < p(r) <= ret(r).
pub fn reduce_map(ops: &mut Vec<KeyOp<MapOp>>) -> Reduction {
    let mut r = Reduction::default();
    r.dropped += retain_until_stable(ops, |ops| {
        let cells = MapCells::new(ops);
        ops.iter()
            .map(|o| {
                let droppable = o.deadline.is_none()
                    && !o.required
                    && o.op
                        .writes
                        .iter()
                        .all(|c| !cells.observed.contains(c) && !cells.opaque.contains(&c.0));
                !droppable
            })
            .collect()
    });
    let mut writers: BTreeMap<&Cell, usize> = BTreeMap::new();
    let mut first_return: BTreeMap<&Cell, u64> = BTreeMap::new();
    for o in ops.iter() {
        for c in &o.op.writes {
            *writers.entry(c).or_default() += 1;
        }
        if let (Some(ret), true) = (o.deadline, o.required) {
            for c in &o.op.expect {
                let min = first_return.entry(c).or_insert(ret);
                *min = (*min).min(ret);
            }
        }
    }
    let bounds: Vec<Option<u64>> = ops
        .iter()
        .map(|o| {
            if o.deadline.is_some() {
                return None;
            }
            o.op.writes
                .iter()
                .filter(|c| c.1 != Value::Nil && writers.get(c) == Some(&1))
                .filter_map(|c| first_return.get(c).copied())
                .min()
        })
        .collect();
    for (o, bound) in ops.iter_mut().zip(bounds) {
        if let Some(b) = bound {
            o.deadline = Some(b.max(o.invoke));
            r.bounded += 1;
        }
    }
    r
}
