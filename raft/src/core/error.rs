//! Errors of the consensus core, one enum per operation family.

use std::fmt;

/// Why a [`super::storage::Storage`] could not answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StorageError {
    /// The requested index is older than the first entry kept (it was compacted into a snapshot).
    Compacted,
    /// The requested index is past the last entry.
    Unavailable,
    /// The snapshot to apply or create is older than the one held.
    SnapshotOutOfDate,
    /// No snapshot can be produced right now; the leader retries later.
    SnapshotTemporarilyUnavailable,
}

impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            StorageError::Compacted => "requested index is compacted",
            StorageError::Unavailable => "requested index is past the last entry",
            StorageError::SnapshotOutOfDate => "snapshot is older than the one held",
            StorageError::SnapshotTemporarilyUnavailable => "snapshot temporarily unavailable",
        };
        f.write_str(s)
    }
}

impl std::error::Error for StorageError {}

/// Why a step (proposal, message, conf change) was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StepError {
    /// There is no leader to take the proposal, forwarding is disabled, or a leadership transfer
    /// is in progress: the caller should retry later.
    ProposalDropped,
    /// A local-only message type arrived from the network.
    LocalMessageFromNetwork(super::message::MessageType),
    /// A response from a node not in the configuration.
    PeerNotFound(super::message::PeerId),
    /// A message from the network that no correct peer sends (named by what is wrong).
    Malformed(super::message::MessageType, &'static str),
    /// The conf change cannot be applied.
    ConfChange(ConfChangeError),
}

impl fmt::Display for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StepError::ProposalDropped => f.write_str("raft proposal dropped"),
            StepError::LocalMessageFromNetwork(t) => {
                write!(f, "local message type {t:?} received from the network")
            }
            StepError::PeerNotFound(id) => write!(f, "peer {id} not found"),
            StepError::Malformed(t, why) => write!(f, "malformed {t:?}: {why}"),
            StepError::ConfChange(e) => write!(f, "conf change: {e}"),
        }
    }
}

impl std::error::Error for StepError {}

/// Why a membership change cannot be applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfChangeError {
    /// Removing (or demoting) this node would leave no voter.
    RemovesLastVoter(super::message::PeerId),
    /// Node id 0 is reserved for "nobody".
    ZeroId,
}

impl fmt::Display for ConfChangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfChangeError::RemovesLastVoter(id) => {
                write!(f, "changing node {id} would leave no voters")
            }
            ConfChangeError::ZeroId => f.write_str("node id 0 is reserved"),
        }
    }
}

impl std::error::Error for ConfChangeError {}

/// Why a [`super::raft::Config`] is unusable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigError {
    ZeroId,
    /// heartbeat_tick must be > 0 and election_tick > heartbeat_tick.
    BadTicks {
        election_tick: u32,
        heartbeat_tick: u32,
    },
    /// max_inflight_msgs must be > 0.
    ZeroInflight,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::ZeroId => f.write_str("id 0 is reserved for 'none'"),
            ConfigError::BadTicks { election_tick, heartbeat_tick } => write!(
                f,
                "need 0 < heartbeat_tick ({heartbeat_tick}) < election_tick ({election_tick})"
            ),
            ConfigError::ZeroInflight => f.write_str("max_inflight_msgs must be positive"),
        }
    }
}

impl std::error::Error for ConfigError {}
