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
//! 5. After any storage error the store fails stop: it refuses work until reopened.

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
