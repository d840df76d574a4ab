//! The consensus core: a pure etcd/raft-style state machine. It does no I/O, reads no clock
//! (time is ticks) and draws randomness only from the RNG it is given.

pub mod codec;
pub mod message;

pub use codec::DecodeError;
pub use message::{
    Codec, ConfChange, ConfChangeType, ConfState, Entry, EntryKind, HardState, Message,
    MessageType, PeerId, Snapshot, SnapshotMetadata, CODEC_VERSION, NONE,
};
