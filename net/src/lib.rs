//! `net`: rafthttp-style peer transport (stream + pipeline) over the `sim` Net seam, frames with
//! cluster-ID checks, and etcd-style cluster membership with member and cluster IDs.
//!
//! - [`frame`]: the versioned, CRC-checked frame every connection carries.
//! - [`ids`], [`member`], [`cluster`]: member and cluster IDs, bootstrap and membership changes.
//! - [`peer`], [`transport`]: streams, pipeline, re-dial, peer status, the API the server uses.
//! - [`refusal`]: identity checks on every frame and the rate-limited refusal log.
//!
//! Dependency rule: depends on `sim` only.
#![forbid(unsafe_code)]

pub mod buggify;
pub mod cluster;
pub mod frame;
pub mod ids;
pub mod member;
pub mod peer;
pub mod planted;
pub mod refusal;
pub mod transport;

pub use frame::{MessageKind, StreamType};
pub use ids::{ClusterId, MemberId};
pub use refusal::Refusal;
pub use transport::{ForeignDelivery, Outgoing, Transport, TransportConfig, TransportEvent};

#[cfg(test)]
mod planted_tests;
#[cfg(test)]
mod testkit;
#[cfg(test)]
mod transport_tests;
