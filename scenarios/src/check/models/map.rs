//! A map from a group of keys to values: the state several keys share when multi-key ranges and
//! txns tie them together. Initially every key is absent (`nil`).
//!
//! The checker partitions a history into groups of keys connected by multi-key operations
//! (`crate::check::groups`) and runs this model once per group that needs it. Each key of the
//! group has a slot (`MapModel::slots`); an operation compiles into what it needs and what it
//! does to the slots ([`MapOp`]):
//!
//! | operation (outcome) | compiles to |
//! | --- | --- |
//! | `read` / `get` (ok) | expect the result |
//! | `write` / `put` / `delete` | write the argument (`nil` for a delete) |
//! | `cas [old new]` (ok, committed) | expect `old`, write `new` |
//! | `cas` (info) | if the key holds `old`, write `new`; else nothing |
//! | `range [k ...]` (ok) | expect each key's value in the result |
//! | `txn` (ok, `[1]`) | expect every compare, then the writes in order |
//! | `txn` (ok, `[0 v ...]`) | not every compare holds; expect each failure read's value |
//! | `txn` (info, committed) | if every compare holds, the writes; else nothing |
//!
//! A committed cas took effect, and a cas that took effect swapped (a refused one is a `fail`),
//! exactly as the register model has it: a key's verdict must not depend on whether a range or
//! txn ties it to others. A committed txn took effect too, but in a branch nobody saw.
//!
//! Failed (`fail`) operations and unknown reads never reach the model.

use std::collections::BTreeMap;
use std::rc::Rc;

use super::{Footprint, Model, ModelError};
use crate::check::history::{Func, Key, Operation, Outcome, Value};

/// The map model over one group of keys.
#[derive(Clone, Debug, Default)]
pub struct MapModel {
    /// Key -> its slot in the state.
    slots: BTreeMap<Key, usize>,
}

/// A slot and a value.
pub type Cell = (usize, Value);

/// A map operation (see the module documentation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapOp {
    /// Slots and the values they must hold for the operation to take effect.
    pub expect: Vec<Cell>,
    /// Conditions of which at least one must be false (a txn that took its failure branch);
    /// `None`: no such condition. `Some` of no cell can never be met: a txn without compares
    /// always takes its success branch (every one of zero compares holds).
    pub refute: Option<Vec<Cell>>,
    /// The guard of an operation whose branch is unknown: the writes apply only if every one
    /// holds, and otherwise the operation changes nothing.
    pub guard: Vec<Cell>,
    /// Writes, in order.
    pub writes: Vec<Cell>,
    /// `nil`, for the footprint of a read-only operation.
    marker: Value,
}

impl MapOp {
    /// True if the operation never changes the state.
    pub fn is_read_only(&self) -> bool {
        self.writes.is_empty()
    }
}

impl MapModel {
    /// The model of the group `keys` (slots in the order given).
    pub fn new(keys: impl IntoIterator<Item = Key>) -> MapModel {
        MapModel { slots: keys.into_iter().enumerate().map(|(i, k)| (k, i)).collect() }
    }

    /// The keys of the group, by slot.
    pub fn keys(&self) -> Vec<&Key> {
        let mut keys: Vec<(&Key, usize)> = self.slots.iter().map(|(k, s)| (k, *s)).collect();
        keys.sort_by_key(|(_, s)| *s);
        keys.into_iter().map(|(k, _)| k).collect()
    }

    fn slot(&self, key: &Key, func: Func) -> Result<usize, ModelError> {
        self.slots.get(key).copied().ok_or_else(|| ModelError::BadArgument {
            func,
            expected: "a key of the group",
            found: match key {
                Key::Int(i) => Value::Int(*i),
                Key::Str(s) => Value::Str(s.clone()),
                Key::Default => Value::Nil,
            },
        })
    }

    fn key_slot(&self, v: &Value, func: Func) -> Result<usize, ModelError> {
        match v {
            Value::Int(k) => self.slot(&Key::Int(*k), func),
            other => Err(bad(func, "an integer key", other)),
        }
    }

    /// `[[k v] ...]` as cells.
    fn cells(&self, v: &Value, func: Func) -> Result<Vec<Cell>, ModelError> {
        let Value::Vec(items) = v else { return Err(bad(func, "a vector of [key value]", v)) };
        items
            .iter()
            .map(|item| match item {
                Value::Vec(pair) if pair.len() == 2 => {
                    Ok((self.key_slot(&pair[0], func)?, pair[1].clone()))
                }
                other => Err(bad(func, "[key value]", other)),
            })
            .collect()
    }

    /// `[k ...]` as slots.
    fn slots_of(&self, v: &Value, func: Func) -> Result<Vec<usize>, ModelError> {
        let Value::Vec(items) = v else { return Err(bad(func, "a vector of keys", v)) };
        items.iter().map(|k| self.key_slot(k, func)).collect()
    }

    /// Pairs `slots` with the values of `result`, which must have one per slot.
    fn reads(slots: Vec<usize>, result: &[Value], func: Func) -> Result<Vec<Cell>, ModelError> {
        if result.len() != slots.len() {
            return Err(bad(func, "one value per key read", &Value::Vec(result.to_vec())));
        }
        Ok(slots.into_iter().zip(result.iter().cloned()).collect())
    }
}

fn bad(func: Func, expected: &'static str, found: &Value) -> ModelError {
    ModelError::BadArgument { func, expected, found: found.clone() }
}

fn holds(state: &[Value], cells: &[Cell]) -> bool {
    cells.iter().all(|(s, v)| state[*s] == *v)
}

impl Model for MapModel {
    type Op = MapOp;
    type State = Rc<Vec<Value>>;

    fn name(&self) -> &'static str {
        "map"
    }

    fn compile(&self, op: &Operation) -> Result<MapOp, ModelError> {
        let known = op.outcome == Outcome::Ok;
        let mut m = MapOp {
            expect: Vec::new(),
            refute: None,
            guard: Vec::new(),
            writes: Vec::new(),
            marker: Value::Nil,
        };
        let func = op.func;
        match func {
            Func::Read | Func::Get => m.expect.push((self.slot(&op.key, func)?, op.result.clone())),
            Func::Write | Func::Put => m.writes.push((self.slot(&op.key, func)?, op.arg.clone())),
            Func::Delete => m.writes.push((self.slot(&op.key, func)?, Value::Nil)),
            Func::Cas => {
                let slot = self.slot(&op.key, func)?;
                let Value::Vec(pair) = &op.arg else { return Err(bad(func, "[old new]", &op.arg)) };
                let [old, new] = pair.as_slice() else {
                    return Err(bad(func, "[old new]", &op.arg));
                };
                let swapped = op.outcome != Outcome::Info;
                let cond = if swapped { &mut m.expect } else { &mut m.guard };
                cond.push((slot, old.clone()));
                m.writes.push((slot, new.clone()));
            }
            Func::Range => {
                let slots = self.slots_of(&op.arg, func)?;
                let Value::Vec(values) = &op.result else {
                    return Err(bad(func, "a vector of values", &op.result));
                };
                m.expect = MapModel::reads(slots, values, func)?;
            }
            Func::Txn => {
                let Value::Vec(parts) = &op.arg else {
                    return Err(bad(func, "[compares writes reads]", &op.arg));
                };
                let [compares, writes, reads] = parts.as_slice() else {
                    return Err(bad(func, "[compares writes reads]", &op.arg));
                };
                let compares = self.cells(compares, func)?;
                let writes = self.cells(writes, func)?;
                let reads = self.slots_of(reads, func)?;
                match (known, &op.result) {
                    (false, _) => {
                        m.guard = compares;
                        m.writes = writes;
                    }
                    (true, Value::Vec(r)) if r.first() == Some(&Value::Int(1)) && r.len() == 1 => {
                        m.expect = compares;
                        m.writes = writes;
                    }
                    (true, Value::Vec(r)) if r.first() == Some(&Value::Int(0)) => {
                        m.refute = Some(compares);
                        m.expect = MapModel::reads(reads, &r[1..], func)?;
                    }
                    (true, other) => return Err(bad(func, "[1] or [0 value ...]", other)),
                }
            }
            Func::Append | Func::SerialRead | Func::Compact => {
                return Err(ModelError::Unsupported { model: self.name(), func })
            }
        }
        Ok(m)
    }

    fn init(&self) -> Rc<Vec<Value>> {
        Rc::new(vec![Value::Nil; self.slots.len()])
    }

    fn step(&self, state: &Rc<Vec<Value>>, op: &MapOp) -> Option<Rc<Vec<Value>>> {
        if !holds(state, &op.expect) {
            return None;
        }
        if op.refute.as_ref().is_some_and(|r| holds(state, r)) {
            return None;
        }
        if op.writes.is_empty() || !holds(state, &op.guard) {
            return Some(Rc::clone(state));
        }
        let mut next = (**state).clone();
        for (s, v) in &op.writes {
            next[*s] = v.clone();
        }
        Some(Rc::new(next))
    }

    /// A read-only operation observes (the value is a placeholder: the state is not one value,
    /// so only the forced-read rule uses it, which needs just "changes nothing"); anything
    /// else is opaque to the single-value reductions (groups have their own, in
    /// `crate::check::reduce::reduce_map`).
    fn footprint<'a>(&self, op: &'a MapOp) -> Footprint<'a> {
        if op.is_read_only() {
            Footprint::Observe(&op.marker)
        } else {
            Footprint::Opaque
        }
    }

    fn describe_state(&self, state: &Rc<Vec<Value>>) -> String {
        let cells: Vec<String> =
            self.keys().iter().zip(state.iter()).map(|(k, v)| format!("{k} = {v}")).collect();
        format!("{{{}}}", cells.join(", "))
    }
}
