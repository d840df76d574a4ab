//! Errors of the MVCC store.

use std::fmt;

/// Why an MVCC operation failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MvccError {
    /// The requested revision was compacted away.
    Compacted { requested: i64, compacted: i64 },
    /// The requested revision is newer than the store's current revision.
    FutureRevision { requested: i64, current: i64 },
    /// A request field is malformed (empty key, negative limit, end before key, ...).
    InvalidRequest { field: &'static str, detail: String },
    /// A txn writes the same key twice (etcd refuses this too).
    DuplicateKeyInTxn { key: Vec<u8> },
    /// A compaction must be the only operation of its log entry (so a crash in the middle of it
    /// can be resumed without losing the entry's other operations).
    CompactNotAlone { ops: usize },
    /// A `key` bucket key is not a valid revision.
    CorruptRevision { key: Vec<u8>, detail: String },
    /// A `key` bucket value is not a valid record.
    CorruptRecord { revision: String, detail: String },
    /// A `meta` bucket value is malformed.
    CorruptMeta { key: &'static str, detail: String },
    /// The index and the `key` bucket disagree (a record the index points at is missing).
    MissingRecord { revision: String },
    /// An earlier write failed: the store refuses work until it is reopened.
    FailStop { cause: String },
    /// The storage engine failed.
    Engine(crate::Error),
}

impl fmt::Display for MvccError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MvccError::Compacted { requested, compacted } => {
                write!(f, "revision {requested} has been compacted (compacted up to {compacted})")
            }
            MvccError::FutureRevision { requested, current } => {
                write!(f, "revision {requested} is in the future (current is {current})")
            }
            MvccError::InvalidRequest { field, detail } => {
                write!(f, "invalid request: {field}: {detail}")
            }
            MvccError::DuplicateKeyInTxn { key } => {
                write!(f, "duplicate key given in txn request: {}", String::from_utf8_lossy(key))
            }
            MvccError::CompactNotAlone { ops } => {
                write!(f, "a compaction must be alone in its entry (entry has {ops} operations)")
            }
            MvccError::CorruptRevision { key, detail } => {
                write!(f, "corrupt revision key {key:02x?}: {detail}")
            }
            MvccError::CorruptRecord { revision, detail } => {
                write!(f, "corrupt record at revision {revision}: {detail}")
            }
            MvccError::CorruptMeta { key, detail } => write!(f, "corrupt meta {key}: {detail}"),
            MvccError::MissingRecord { revision } => {
                write!(
                    f,
                    "index points at revision {revision}, which is missing from the key bucket"
                )
            }
            MvccError::FailStop { cause } => {
                write!(f, "store refuses work after a failed write ({cause}); reopen it")
            }
            MvccError::Engine(e) => write!(f, "storage engine: {e}"),
        }
    }
}

impl std::error::Error for MvccError {}

impl From<crate::Error> for MvccError {
    fn from(e: crate::Error) -> MvccError {
        MvccError::Engine(e)
    }
}
