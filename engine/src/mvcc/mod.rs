//! An etcd-style MVCC key-value store on the bolt engine.
//!
//! Layout in the bolt file (etcd's, see [`revision`] and [`record`]):
//! - bucket `key`: revision (17 bytes; 18 with a trailing `t` for a tombstone) -> record;
//! - bucket `meta`: `consistent_index` and `term` (u64 big-endian), `scheduledCompactRev` and
//!   `finishedCompactRev` (revision keys).
//!
//! The key index (key -> generations of revisions) lives in memory and is rebuilt from the `key`
//! bucket at open.
//!
//! # Durability contract (what the server loop relies on)
//!
//! 1. [`Store::apply`] applies raft entry `index` exactly once: entries at or below the consistent
//!    index are skipped. Its effects are visible to reads at once.
//! 2. Writes are batched ([`backend`]); a batch commit is one bolt transaction, atomic on disk.
//!    The consistent index and term are written into the same batch as the effects of the entry
//!    they name. So after a crash the store reopens with some consistent index `c`
//!    ([`Store::durable_index`] before the crash, or later), and its contents are exactly the
//!    effects of entries `1..=c` — never a part of an entry.
//! 3. Therefore the server must replay every entry after `c` from its log after a restart, and
//!    must not discard log entries after [`Store::durable_index`] (it may call [`Store::commit`]
//!    to make the durable index catch up first, e.g. before a snapshot).
//! 4. A compaction is alone in its entry; it commits its scheduled revision (with the entry's
//!    consistent index) before deleting anything, and a crash in the middle is resumed at open.
//! 5. After any storage error the store fails stop: every later read or write returns
//!    `FailStop` until the store is reopened from disk (the in-memory index may be ahead of the
//!    disk, so nothing may build on it).
//! 6. Opening a store over a read-only database writes nothing; an interrupted compaction is
//!    then applied to the index only (reads answer as after it) and finished by the next
//!    writable open.
//!
//! # Untrusted bytes
//!
//! Every record read back is checked before it reaches the key index: revision keys (length,
//! separator, mark, strictly increasing, main revision in `1..i64::MAX`), record layout,
//! `mod_revision` equal to the key's revision, and each record fitting its key's history
//! (a generation starts at version 1 created at its own revision, or — after compaction — at a
//! later version within its span; each next put is the next version of the same creation).
//! Violations are `CorruptRevision` / `CorruptRecord` / `CorruptMeta`, never panics.
//!
//! Tests: `tests/mvcc_model.rs` (against a naive model), `tests/mvcc_crash.rs` (crash at every
//! disk operation, replay), `tests/mvcc_corrupt.rs` (typed errors); `benches/mvcc.rs`.

pub mod backend;
pub mod error;
pub mod key_index;
pub mod record;
pub mod request;
pub mod revision;
pub mod store;

pub use error::MvccError;
pub use record::KeyValue;
pub use request::*;
pub use revision::Revision;
pub use store::{HashResult, Store, StoreConfig};
