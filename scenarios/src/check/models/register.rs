//! A register per key: read, write, compare-and-set. Initially `nil`.

use std::rc::Rc;

use super::{Footprint, Model, ModelError};
use crate::check::history::{Func, Operation, Value};

/// The register model.
#[derive(Clone, Copy, Debug, Default)]
pub struct RegisterModel;

/// A register operation. Values are shared so that stepping never allocates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegisterOp {
    /// A read that returned the value.
    Read(Rc<Value>),
    Write(Rc<Value>),
    /// Compare-and-set `(old, new)` that succeeded (a failed cas is a `Fail` and never compiled).
    Cas(Rc<Value>, Rc<Value>),
}

impl Model for RegisterModel {
    type Op = RegisterOp;
    type State = Rc<Value>;

    fn name(&self) -> &'static str {
        "register"
    }

    fn compile(&self, op: &Operation) -> Result<RegisterOp, ModelError> {
        Ok(match op.func {
            Func::Read => RegisterOp::Read(Rc::new(op.result.clone())),
            Func::Write => RegisterOp::Write(Rc::new(op.arg.clone())),
            Func::Cas => match &op.arg {
                Value::Vec(pair) if pair.len() == 2 => {
                    RegisterOp::Cas(Rc::new(pair[0].clone()), Rc::new(pair[1].clone()))
                }
                other => {
                    return Err(ModelError::BadArgument {
                        func: Func::Cas,
                        expected: "[old new]",
                        found: other.clone(),
                    })
                }
            },
            func => return Err(ModelError::Unsupported { model: self.name(), func }),
        })
    }

    fn init(&self) -> Rc<Value> {
        Rc::new(Value::Nil)
    }

    fn step(&self, state: &Rc<Value>, op: &RegisterOp) -> Option<Rc<Value>> {
        match op {
            RegisterOp::Read(v) => (state == v).then(|| state.clone()),
            RegisterOp::Write(v) => Some(v.clone()),
            RegisterOp::Cas(old, new) => (state == old).then(|| new.clone()),
        }
    }

    fn footprint<'a>(&self, op: &'a RegisterOp) -> Footprint<'a> {
        match op {
            RegisterOp::Read(v) => Footprint::Observe(v),
            RegisterOp::Write(v) => Footprint::Overwrite(v),
            RegisterOp::Cas(old, new) => Footprint::Swap { expect: old, value: new },
        }
    }

    fn state_value<'a>(&self, state: &'a Rc<Value>) -> Option<&'a Value> {
        Some(state)
    }

    fn describe_state(&self, state: &Rc<Value>) -> String {
        format!("register = {state}")
    }
}
