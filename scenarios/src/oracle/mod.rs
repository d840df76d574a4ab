//! The properties every run is checked against, all on by default.
//!
//! - [`raft_safety`]: election safety and agreement of applied entries, after every step;
//! - [`storage`]: the store's check and digest agreement after every restart;
//! - [`durability`]: acknowledged writes present at the end;
//! - linearizability of the client history ([`crate::check`]);
//! - liveness: after the faults heal a leader is elected and a write commits within a bound
//!   (checked by the runner, [`crate::runner`]).

pub mod durability;
pub mod raft_safety;
pub mod storage;

use std::fmt;

use serde::{Deserialize, Serialize};

/// A property a run can fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Property {
    Linearizability,
    RaftSafety,
    Durability,
    Storage,
    Liveness,
    /// A misconfigured or foreign node was not refused, or data crossed clusters.
    ClusterId,
    /// The code under test panicked.
    Panic,
}

impl Property {
    pub fn name(self) -> &'static str {
        match self {
            Property::Linearizability => "linearizability",
            Property::RaftSafety => "raft-safety",
            Property::Durability => "durability",
            Property::Storage => "storage",
            Property::Liveness => "liveness",
            Property::ClusterId => "cluster-id",
            Property::Panic => "panic",
        }
    }
}

impl fmt::Display for Property {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
