//! A key-value map, one key at a time: get, put, append, delete. Initially absent (`nil`).
//!
//! `append x` treats the value as a list: on an absent key it stores `[x]`, on a vector it
//! pushes `x`; on any other value it cannot take effect.

use std::rc::Rc;

use super::{Footprint, Model, ModelError};
use crate::check::history::{Func, Operation, Value};

/// The key-value model.
#[derive(Clone, Copy, Debug, Default)]
pub struct KvModel;

/// A key-value operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KvOp {
    /// A get that returned the value (`nil`: absent).
    Get(Rc<Value>),
    Put(Rc<Value>),
    Append(Value),
    /// Delete; holds `nil` so its footprint can borrow it.
    Delete(Rc<Value>),
}

impl Model for KvModel {
    type Op = KvOp;
    type State = Rc<Value>;

    fn name(&self) -> &'static str {
        "kv"
    }

    fn compile(&self, op: &Operation) -> Result<KvOp, ModelError> {
        Ok(match op.func {
            Func::Get => KvOp::Get(Rc::new(op.result.clone())),
            Func::Put => KvOp::Put(Rc::new(op.arg.clone())),
            Func::Append => KvOp::Append(op.arg.clone()),
            Func::Delete => KvOp::Delete(Rc::new(Value::Nil)),
            func => return Err(ModelError::Unsupported { model: self.name(), func }),
        })
    }

    fn init(&self) -> Rc<Value> {
        Rc::new(Value::Nil)
    }

    fn step(&self, state: &Rc<Value>, op: &KvOp) -> Option<Rc<Value>> {
        match op {
            KvOp::Get(v) => (state == v).then(|| state.clone()),
            KvOp::Put(v) | KvOp::Delete(v) => Some(v.clone()),
            KvOp::Append(x) => match &**state {
                Value::Nil => Some(Rc::new(Value::Vec(vec![x.clone()]))),
                Value::Vec(items) => {
                    let mut items = items.clone();
                    items.push(x.clone());
                    Some(Rc::new(Value::Vec(items)))
                }
                Value::Int(_) | Value::Str(_) => None,
            },
        }
    }

    fn footprint<'a>(&self, op: &'a KvOp) -> Footprint<'a> {
        match op {
            KvOp::Get(v) => Footprint::Observe(v),
            KvOp::Put(v) | KvOp::Delete(v) => Footprint::Overwrite(v),
            KvOp::Append(x) => Footprint::Append(x),
        }
    }

    fn state_value<'a>(&self, state: &'a Rc<Value>) -> Option<&'a Value> {
        Some(state)
    }

    fn describe_state(&self, state: &Rc<Value>) -> String {
        match &**state {
            Value::Nil => "absent".to_string(),
            v => format!("value = {v}"),
        }
    }
}
