//! `engine`: a bolt-style B+tree storage engine, byte-compatible with bbolt's file format, on the
//! `sim` Disk seam; and (later) an etcd-style MVCC store on top.
//!
//! Dependency rule: depends on `sim` only.
//!
//! ```text
//! page      page header, branch/leaf elements, bounds-checked page views
//! meta      the two meta pages and their checksum
//! record    the commit record: one flush per small commit, checked at open
//! freelist  free and pending page ids, the freelist page
//! node      in-memory (copy-on-write) nodes, split points
//! bucket    bucket header, nested and inline buckets, bucket operations
//! cursor    ordered traversal
//! tx        transactions (snapshots and the single writer)
//! commit    rebalance, spill and the durable write order
//! dirty     the pages a commit writes, in one buffer
//! db        open, meta selection, close
//! opened    what open read and chose (for testbeds to check the choice)
//! audit     audit mode: run-time checks of the reader rules (for testbeds)
//! buggify   the engine's BUGGIFY sites (rare commit paths, armed by the MVCC store)
//! check     consistency check
//! ```
//!
//! Usage, in bbolt's shape (single-threaded: a `Db` and its transactions live on one thread):
//! ```text
//! let db = Db::open("data.db", Options::default())?;            // real disk (mmap reads)
//! let db = Db::open_on(disk, "member/snap/db", Options::default())?; // any sim::io::Disk
//! db.update(|tx| { tx.create_bucket_if_not_exists(b"key")?.put(b"k", b"v") })?;
//! let v = db.view(|tx| tx.bucket(b"key")?.map(|b| b.get(b"k")).transpose())?;
//! let tx = db.begin(false)?; let problems = tx.check();            // Vec<CheckProblem>
//! // Zero-copy reads: values on committed pages are lent from the mapping for the tx's life.
//! let b = tx.bucket(b"key")?.unwrap();
//! let v: Option<Cow<'_, [u8]>> = b.get_ref(b"k")?;
//! let mut c = b.cursor(); let mut item = c.first_ref()?;            // Option<ItemRef<'_>>
//! while let Some((k, v)) = item { /* ... */ item = c.next_ref()?; }
//! ```
//! A commit that fails on the disk leaves the database fail-stop (`Error::FailStop` for every
//! later writer) until it is reopened; on a `SimDisk`, reopen after `SimDisk::crash()`.

pub mod audit;
pub mod bucket;
pub mod buggify;
pub mod check;
mod commit;
pub mod cursor;
pub mod db;
mod dirty;
pub mod error;
pub mod freelist;
pub mod inspect;
pub mod meta;
pub mod mvcc;
pub mod node;
pub mod opened;
pub mod options;
pub mod page;
pub mod planted;
pub mod record;
pub mod tx;

pub use bucket::{Bucket, BucketStats};
pub use check::CheckProblem;
pub use cursor::{Cursor, Item, ItemRef};
pub use db::Db;
pub use error::{Corruption, Error, MetaError, PageProblem, Result};
pub use opened::OpenReport;
pub use options::Options;
pub use tx::Tx;

/// Largest key (bbolt's `MaxKeySize`).
pub const MAX_KEY_SIZE: usize = 32768;
/// Largest value (bbolt's `MaxValueSize`).
pub const MAX_VALUE_SIZE: usize = (1 << 31) - 2;
