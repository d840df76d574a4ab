//! The state machine the server replicates, as a trait: the MVCC store is adapted to it in
//! `scenarios`; [`super::kv::MemKv`] is a small implementation for tests.
//!
//! Contract (etcd's consistent index):
//! - [`StateMachine::apply`] and [`StateMachine::skip`] are called for every committed entry in
//!   index order, each index at most once per incarnation, and never for an index at or below
//!   [`StateMachine::consistent_index`] (the server skips those on replay).
//! - [`StateMachine::commit`] makes everything applied so far durable together with the
//!   consistent index covering it (one atomic step), so re-applying after a crash is never
//!   needed for what it covered and never happens.
//! - [`StateMachine::commit_if_due`] is the server's call after each batch of applied entries
//!   and on every tick: the state machine commits when its own policy says (etcd's backend:
//!   every 100 ms or 10,000 operations). Its durable state may lag what it applied; the server keeps every
//!   entry after the last snapshot in its WAL (taking a snapshot commits) and re-applies, after
//!   a restart, the entries past the durable consistent index.
//! - [`StateMachine::snapshot`] returns bytes that [`StateMachine::restore`] turns back into
//!   the same state; `restore` also makes that state durable with the given index.
//! - Any `Err(SmError)` is an I/O or corruption failure: the server stops (fail-stop).

use std::fmt;

use sim::io::DiskError;
use sim::time::Instant;

use super::request::{Op, OpOutcome};

/// An I/O or corruption failure of the state machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SmError {
    /// The disk refused an operation (the simulator's `Crashed` included).
    Disk(DiskError),
    /// Persisted state or a snapshot does not decode.
    Corrupt { what: String, detail: String },
}

impl From<DiskError> for SmError {
    fn from(e: DiskError) -> SmError {
        SmError::Disk(e)
    }
}

impl fmt::Display for SmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SmError::Disk(e) => write!(f, "state machine disk error: {e}"),
            SmError::Corrupt { what, detail } => write!(f, "corrupt {what}: {detail}"),
        }
    }
}

impl std::error::Error for SmError {}

/// A deterministic replicated state machine.
pub trait StateMachine {
    /// Index of the last entry whose effect is in the state (durable after `commit`).
    fn consistent_index(&self) -> u64;
    /// Applies the operation of entry (`index`, `term`).
    fn apply(&mut self, index: u64, term: u64, op: &Op) -> Result<OpOutcome, SmError>;
    /// Advances the consistent index over an entry with no operation (an empty leader entry,
    /// a conf change, an undecodable payload).
    fn skip(&mut self, index: u64, term: u64) -> Result<(), SmError>;
    /// Serves a read-only operation from the current state.
    fn read(&self, op: &Op) -> OpOutcome;
    /// Durability hook: persist the applied state and its consistent index atomically.
    fn commit(&mut self) -> Result<(), SmError>;
    /// Called after each batch of applied entries and on every tick, at simulated or real time
    /// `now`: commit if the state machine's batching policy says so. The default commits
    /// whenever called.
    fn commit_if_due(&mut self, now: Instant) -> Result<(), SmError> {
        let _ = now;
        self.commit()
    }
    /// BUGGIFY: the server calls this before each batch of entries it applies, with its
    /// node's sites (`fire(site)` is `Env::buggify`), so the state machine can take its own rare
    /// but legal paths (an early commit, another commit protocol; see `engine::buggify`). The
    /// default takes none.
    fn buggify(&mut self, fire: &mut dyn FnMut(&'static str) -> bool) {
        let _ = fire;
    }
    /// The whole state as bytes (taken at `consistent_index`).
    fn snapshot(&self) -> Result<Vec<u8>, SmError>;
    /// Replaces the state with a snapshot taken at `index` and makes it durable.
    fn restore(&mut self, index: u64, data: &[u8]) -> Result<(), SmError>;
}
