//! The properties every run is checked against, all on by default.
//!
//! - [`raft_safety`]: election safety and agreement of applied entries, after every step;
//! - [`storage`]: the store's check and digest agreement after every restart;
//! - [`durability`]: acknowledged writes present at the end;
//! - [`cluster_id`]: no payload from a frame of another cluster reaches raft, after every step;
//! - [`engine`]: the storage engine's own rules (readers' views, page reuse, meta choice,
//!   txids), after every step;
//! - linearizability of the client history ([`crate::check`]);
//! - liveness: after the faults heal a leader is elected and a write commits within a bound
//!   (checked by the runner, [`crate::runner`]).

pub mod cluster_id;
pub mod durability;
pub mod durable_wal;
pub mod engine;
pub mod protocol;
pub mod raft_safety;
pub mod storage;
pub mod wire;

use std::fmt;

/// The nodes of `members` an oracle looks at after a step: only `changed` when it is `Some` (no
/// other node can have moved), else all of them.
pub fn to_look_at(members: &[u32], changed: Option<u32>) -> impl Iterator<Item = u32> + '_ {
    members.iter().copied().filter(move |&n| changed.is_none_or(|c| c == n))
}

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
    /// A message that promises durable state (a vote grant, an append acknowledgement) left a
    /// node before that state was durable on its disk.
    Persistence,
    /// A commit index or a newly elected leader broke the commit rules (quorum durability,
    /// leader completeness, a committed entry changed).
    CommitSafety,
    /// A member broke a promise across its restarts (two votes in a term, a term or an
    /// acknowledged entry forgotten).
    Promise,
    /// A linearizable read was served at a read index the rules do not allow.
    ReadIndex,
    /// The storage engine broke one of its own rules (a reader's view changed, a page handed
    /// out while a reader can reach it, the wrong meta chosen, transaction ids going back).
    Engine,
    /// The WAL lost or changed a record that was synced before a crash.
    Wal,
    /// An assertion in the code under test failed (an invariant with its values).
    Assertion,
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
            Property::Persistence => "persistence",
            Property::CommitSafety => "commit-safety",
            Property::Promise => "promise",
            Property::ReadIndex => "read-index",
            Property::Engine => "engine",
            Property::Wal => "wal",
            Property::Assertion => "assertion",
        }
    }
}

impl fmt::Display for Property {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
