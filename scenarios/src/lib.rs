//! `scenarios`: the composition root. Clusters of real nodes on the simulator, workloads,
//! checkers (linearizability, raft safety, durability, storage) and the `dst` tool.
//!
//! Dependency rule: the only crate that knows all the others.
#![forbid(unsafe_code)]

pub mod buggify;
pub mod bugs;
pub mod check;
pub mod cli;
pub mod client;
pub mod cluster;
pub mod coverage;
pub mod db_tool;
pub mod determinism;
pub mod environment;
pub mod oracle;
pub mod plan;
pub mod prop;
pub mod runner;
pub mod scenario;
pub mod sensitivity;
pub mod shrink;
pub mod sm;
pub mod sweep;
pub mod trigger;
pub mod workload;
