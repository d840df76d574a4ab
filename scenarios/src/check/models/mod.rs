//! Sequential specifications the checker linearizes against.
//!
//! A [`Model`] turns each [`Operation`] of one key into a compact model operation, gives the
//! initial state, and steps a state by an operation. Keys are independent: a model describes one
//! key, and the checker runs it once per key. To add a model, implement the trait and (if its
//! state is a single [`Value`]) describe its operations by [`Footprint`]s so the unknown-outcome
//! reductions in [`crate::check::reduce`] apply to it.

use std::fmt::{self, Debug};
use std::hash::Hash;

use super::history::{Func, Operation, Value};

mod kv;
pub mod map;
mod register;

pub use kv::{KvModel, KvOp};
pub use map::{MapModel, MapOp};
pub use register::{RegisterModel, RegisterOp};

/// A sequential specification of one key.
pub trait Model {
    /// An operation as the model sees it: its argument and, for an `Ok` read, its result.
    /// Equal operations have equal effects (the search uses it to skip symmetric orders).
    type Op: Clone + Debug + PartialEq;
    /// The state of one key. Equality and hashing are used to memoise the search.
    type State: Clone + Eq + Hash + Debug;

    /// The model's name, as `--model` spells it.
    fn name(&self) -> &'static str;

    /// Compiles `op`. Read-only operations given here are always `Ok` (unknown reads are dropped
    /// before), so their result is known.
    fn compile(&self, op: &Operation) -> Result<Self::Op, ModelError>;

    /// The state before any operation.
    fn init(&self) -> Self::State;

    /// The state after `op`, or `None` if `op` cannot take effect in `state` (its result
    /// disagrees, or its precondition fails).
    fn step(&self, state: &Self::State, op: &Self::Op) -> Option<Self::State>;

    /// What `op` does, in terms of a state that is one [`Value`] (see [`Footprint`]).
    fn footprint<'a>(&self, op: &'a Self::Op) -> Footprint<'a>;

    /// The state as one [`Value`], when it is one (enables the search's dead-value pruning).
    fn state_value<'a>(&self, _state: &'a Self::State) -> Option<&'a Value> {
        None
    }

    /// A human description of a state, for reports.
    fn describe_state(&self, state: &Self::State) -> String;
}

/// What an operation does to a state that is a single [`Value`] (`Nil` = absent). The
/// reductions of unknown outcomes are proved in these terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Footprint<'a> {
    /// Takes effect only in state `value`, and changes nothing (a read that returned `value`).
    Observe(&'a Value),
    /// Sets the state to `value` whatever it was (write, put, delete).
    Overwrite(&'a Value),
    /// Takes effect only in state `expect`, and sets it to `value` (compare-and-set).
    Swap { expect: &'a Value, value: &'a Value },
    /// Takes effect only in state `nil` or a vector, and pushes `element` onto it (append).
    Append(&'a Value),
    /// Anything else: histories of a key with such an operation are not reduced.
    Opaque,
}

/// Why a model cannot check an operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModelError {
    /// The function is not part of this model.
    Unsupported { model: &'static str, func: Func },
    /// The argument has the wrong shape.
    BadArgument { func: Func, expected: &'static str, found: Value },
}

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelError::Unsupported { model, func } => {
                write!(f, "function :{func} is not part of the {model} model")
            }
            ModelError::BadArgument { func, expected, found } => {
                write!(f, ":{func} expects {expected}, found {found}")
            }
        }
    }
}

impl std::error::Error for ModelError {}
