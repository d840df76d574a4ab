//! The consensus core: a pure etcd/raft-style state machine. It does no I/O, reads no clock
//! (time is ticks) and draws randomness only from the RNG it is given.
//!
//! Start at [`RawNode`]; its module documents the persistence contract of a [`Ready`].

pub mod codec;
pub mod conf_change;
pub mod error;
mod follower;
pub mod inflights;
mod leader;
pub mod log;
pub mod message;
pub mod progress;
pub mod quorum;
pub mod raft;
pub mod raw_node;
pub mod read_only;
pub mod status;
pub mod storage;
pub mod tracker;
pub mod unstable;

pub use codec::DecodeError;
pub use error::{ConfChangeError, ConfigError, StepError, StorageError};
pub use message::{
    Codec, ConfChange, ConfChangeType, ConfState, Entry, EntryKind, HardState, Message,
    MessageType, PeerId, Snapshot, SnapshotMetadata, CODEC_VERSION, MESSAGE_VERSION, NONE,
};
pub use progress::ProgressState;
pub use raft::{Config, Raft, SoftState, StateRole};
pub use raw_node::{RawNode, Ready};
pub use read_only::ReadState;
pub use status::Status;
pub use storage::{MemoryStorage, Storage};
