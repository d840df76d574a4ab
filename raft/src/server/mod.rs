//! The server loop: a replicated key-value node in etcd's shape.
//!
//! The put path: a client request is registered in the [`wait`] registry, proposed to raft
//! (forwarded to the leader by raft on a follower), persisted and replicated by the Ready loop,
//! applied in log order to the [`state_machine`], and the waiter is triggered with the result.
//!
//! - [`request`]: client requests, log operations, results and their binary form.
//! - [`state_machine`]: the trait the replicated state machine implements.
//! - [`kv`]: [`kv::MemKv`], a small persisted KV state machine for tests.
//! - [`wait`]: the wait registry.

pub mod kv;
pub mod request;
pub mod state_machine;
pub mod wait;

pub use kv::MemKv;
pub use request::{
    ClientRequest, ClientResponse, Compare, CompareOp, CompareTarget, KeyValue, Op, OpError,
    OpOutcome, OpResult, Request, ServerError,
};
pub use state_machine::{SmError, StateMachine};
pub use wait::WaitRegistry;

pub mod apply;
pub mod boot;
pub mod config;
pub mod membership;
pub mod metrics;
pub mod node;
pub mod ready;

pub use config::{ClusterSpec, NodeConfig};
pub use metrics::Metrics;
pub use node::{Applied, Node, Running, ServedRead, SmOpener};
