//! `net`: rafthttp-style peer transport (stream + pipeline) over the `sim` Net seam, frames with
//! cluster-ID checks, and etcd-style cluster membership with member and cluster IDs.
//!
//! Dependency rule: depends on `sim` only.
#![forbid(unsafe_code)]

pub mod cluster;
pub mod frame;
pub mod ids;
pub mod member;

pub use ids::{ClusterId, MemberId};
