//! The linearizability oracle: histories, models, the Wing–Gong–Lowe checker and EDN files.
//!
//! - [`history`]: operations with process, times, function, key, argument, outcome, result;
//! - [`recorder`]: how simulated clients record a history;
//! - [`models`]: the register and key-value specifications, and the [`Model`] trait;
//! - [`reduce`]: sound reductions of unknown outcomes (with proofs);
//! - [`wgl`]: the search for one key; [`linearizability`]: the whole-history check, one key
//!   at a time; [`groups`]: the check of histories with multi-key ranges and txns, one group of
//!   connected keys at a time; [`serializable`]: what serializable reads promise;
//! - [`edn`] and [`history_file`]: Jepsen-style history files;
//! - [`synth`]: seeded synthetic histories, for tests and benchmarks.

pub mod edn;
pub mod groups;
pub mod history;
pub mod history_file;
pub mod linearizability;
mod memo;
pub mod models;
pub mod recorder;
pub mod reduce;
pub mod serializable;
pub mod synth;
pub mod wgl;

pub use history::{Func, History, Key, OpId, Operation, Outcome, Value};
pub use linearizability::{check, CheckError, KeyFailure, Report, Stats, Verdict};
pub use models::{KvModel, MapModel, Model, RegisterModel};
pub use recorder::{Recorder, Resolution};
pub use wgl::Budget;
