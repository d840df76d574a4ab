//! The write-ahead log, in etcd's shape: typed, CRC-chained records in preallocated segment
//! files named `%016x-%016x.wal` (sequence, first index), cut at a size limit, with torn-tail
//! repair and release/purge of old segments. All I/O goes through the [`sim::io::Disk`] seam.
//!
//! - [`record`]: record types and the frame layout (length word, padding, CRC chain).
//! - [`encoder`] / [`decoder`]: framing records out and reading them back, telling a torn
//!   tail from corruption.
//! - [`segment`]: file names, listing, choosing the segments after a snapshot.
//! - [`pipeline`]: the preallocated, locked `0.tmp` / `1.tmp` files a cut renames into place.
//! - [`append`]: [`Wal`] itself: create, open, save, save_snapshot, cut, release_lock_to.
//! - [`read`]: replaying records ([`read_all`] in read mode, [`snapshot_markers`] to choose a
//!   snapshot to boot from, [`dump`] for inspection).
//! - [`repair`]: truncating a torn tail. [`purge`]: removing released segments.
//!
//! Durability contract: when [`Wal::save`] (with entries, or a new term or vote),
//! [`Wal::save_snapshot`] or [`Wal::sync`] returns `Ok`, everything saved so far survives any
//! crash, and reopening returns it in order. Nothing that was not saved is ever returned.

pub mod append;
pub mod decoder;
pub mod encoder;
pub mod error;
pub mod pipeline;
pub mod purge;
pub mod read;
pub mod record;
pub mod repair;
pub mod segment;

pub use append::{Wal, WalConfig, DEFAULT_SEGMENT_SIZE};
pub use error::WalError;
pub use purge::purge;
pub use read::{dump, read_all, snapshot_markers, RecordInfo, WalContents};
pub use record::RecordType;
pub use repair::{repair, Repair};
pub use segment::SegmentName;
