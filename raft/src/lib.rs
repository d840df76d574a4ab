//! `raft`: an etcd/raft-style consensus core (sans-I/O: step, tick, ready, advance), an
//! etcd-style WAL and snapshotter, and the server loop that turns them into a replicated
//! key-value node.
//!
//! Dependency rule: depends on `sim` and `net`; the consensus core (`core`) does no I/O at all.
#![forbid(unsafe_code)]

pub mod buggify;
pub mod core;
pub mod planted;
pub mod server;
pub mod snap;
pub mod wal;
