//! Typed errors, one enum per operation family.
//!
//! - [`Error`]: what a database, transaction, bucket or cursor operation returns.
//! - [`Corruption`] / [`PageProblem`]: a malformed page, element or freelist, naming the page.
//! - [`MetaError`]: why one meta page failed validation.
//! - [`CheckProblem`](crate::check::CheckProblem) (in `check`): one consistency violation.

use std::fmt;

use sim::io::DiskError;

use crate::page::Pgid;

/// Why a meta page was rejected at open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MetaError {
    /// The file is too short to hold this meta page.
    Truncated { file_len: u64, needed: u64 },
    /// The page header does not carry the meta flag.
    NotMetaPage { flags: u16 },
    /// The magic number is not 0xED0CDAED.
    BadMagic { found: u32 },
    /// The format version is not 2.
    BadVersion { found: u32 },
    /// The stored FNV-1a checksum does not match the meta's first 56 bytes.
    BadChecksum { stored: u64, computed: u64 },
    /// The page size is not a power of two in 512..=65536.
    BadPageSize { found: u32 },
    /// A page id in the meta is impossible (e.g. root or freelist at or above the high water).
    BadPageId { field: &'static str, pgid: Pgid, high_water: Pgid },
}

impl fmt::Display for MetaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetaError::Truncated { file_len, needed } => {
                write!(f, "file too short ({file_len} bytes, need {needed})")
            }
            MetaError::NotMetaPage { flags } => write!(f, "page flags {flags:#x} are not meta"),
            MetaError::BadMagic { found } => write!(f, "bad magic {found:#x}"),
            MetaError::BadVersion { found } => write!(f, "unsupported version {found}"),
            MetaError::BadChecksum { stored, computed } => {
                write!(f, "checksum mismatch (stored {stored:#x}, computed {computed:#x})")
            }
            MetaError::BadPageSize { found } => write!(f, "invalid page size {found}"),
            MetaError::BadPageId { field, pgid, high_water } => {
                write!(f, "{field} page {pgid} is not below the high water mark {high_water}")
            }
        }
    }
}

/// What is wrong with one page (or inline bucket page).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PageProblem {
    /// The page (with its overflow) does not fit inside the file or the high water mark.
    OutOfBounds { end: u64, limit: u64 },
    /// The id stored in the page header is not the id we read it at.
    IdMismatch { found: Pgid },
    /// The page flags are not what the reference to it requires.
    UnexpectedFlags { flags: u16, expected: &'static str },
    /// The element table (count * 16 bytes) does not fit in the page.
    ElementTableTooLarge { count: u16 },
    /// An element's key or value lies outside the page.
    ElementOutOfBounds { index: usize },
    /// A branch page with no elements.
    EmptyBranch,
    /// A branch element points at an impossible child page.
    BadChild { index: usize, child: Pgid },
    /// A nested bucket value is shorter than its 16-byte header or its inline page is malformed.
    BadBucketValue { index: usize },
    /// Keys are not strictly increasing.
    KeysOutOfOrder { index: usize },
    /// The freelist page's count or ids are malformed.
    BadFreelist { detail: String },
    /// The tree is deeper than any valid tree could be (a cycle).
    TooDeep,
}

impl fmt::Display for PageProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PageProblem::OutOfBounds { end, limit } => {
                write!(f, "extends to byte {end}, beyond the limit {limit}")
            }
            PageProblem::IdMismatch { found } => write!(f, "header carries id {found}"),
            PageProblem::UnexpectedFlags { flags, expected } => {
                write!(f, "flags {flags:#x}, expected {expected}")
            }
            PageProblem::ElementTableTooLarge { count } => {
                write!(f, "element table of {count} entries does not fit")
            }
            PageProblem::ElementOutOfBounds { index } => {
                write!(f, "element {index} lies outside the page")
            }
            PageProblem::EmptyBranch => write!(f, "branch page has no elements"),
            PageProblem::BadChild { index, child } => {
                write!(f, "element {index} points at invalid child page {child}")
            }
            PageProblem::BadBucketValue { index } => {
                write!(f, "element {index} holds a malformed bucket value")
            }
            PageProblem::KeysOutOfOrder { index } => {
                write!(f, "key of element {index} is not greater than the previous key")
            }
            PageProblem::BadFreelist { detail } => write!(f, "bad freelist: {detail}"),
            PageProblem::TooDeep => write!(f, "tree deeper than possible (cycle?)"),
        }
    }
}

/// A malformed page found while reading: which page and what is wrong. `inline` is true when the
/// page is an inline bucket's page stored inside a leaf value (then `page` is 0).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Corruption {
    pub page: Pgid,
    pub inline: bool,
    pub problem: PageProblem,
}

impl Corruption {
    /// A problem with on-disk page `page`.
    pub fn page(page: Pgid, problem: PageProblem) -> Corruption {
        Corruption { page, inline: false, problem }
    }
}

impl fmt::Display for Corruption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.inline {
            write!(f, "inline bucket page: {}", self.problem)
        } else {
            write!(f, "page {}: {}", self.page, self.problem)
        }
    }
}

/// Errors of database, transaction, bucket and cursor operations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// The database was closed (or never opened).
    DatabaseNotOpen,
    /// A write was attempted on a database opened read-only.
    DatabaseReadOnly,
    /// Both meta pages are invalid; the database cannot be opened.
    InvalidMetas { meta0: MetaError, meta1: MetaError },
    /// The file is not a database and is too short to become one.
    FileTooShort { len: u64 },
    /// An earlier commit failed with an I/O error: the database refuses writes until reopened.
    FailStop { cause: String },
    /// Another writable transaction is open (one writer at a time).
    WriterBusy,
    /// The transaction was committed or rolled back.
    TxClosed,
    /// A write on a read-only transaction.
    TxNotWritable,
    /// No bucket with that name (or the handle's bucket was deleted).
    BucketNotFound,
    /// A bucket with that name exists already.
    BucketExists,
    /// Bucket names must be non-empty.
    BucketNameRequired,
    /// Keys must be non-empty.
    KeyRequired,
    /// The key is longer than [`MAX_KEY_SIZE`](crate::MAX_KEY_SIZE).
    KeyTooLarge { len: usize },
    /// The value is longer than [`MAX_VALUE_SIZE`](crate::MAX_VALUE_SIZE).
    ValueTooLarge { len: usize },
    /// The key holds a bucket where a value was expected, or the reverse.
    IncompatibleValue,
    /// The bucket's sequence would overflow.
    SequenceOverflow,
    /// The cursor is not positioned on an element.
    CursorUnpositioned,
    /// A malformed page, element, meta or freelist.
    Corrupt(Corruption),
    /// The disk seam failed.
    Disk(DiskError),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::DatabaseNotOpen => write!(f, "database not open"),
            Error::DatabaseReadOnly => write!(f, "database is in read-only mode"),
            Error::InvalidMetas { meta0, meta1 } => {
                write!(f, "both meta pages invalid: meta 0: {meta0}; meta 1: {meta1}")
            }
            Error::FileTooShort { len } => write!(f, "file of {len} bytes is not a database"),
            Error::FailStop { cause } => {
                write!(f, "database refuses writes after a failed commit ({cause}); reopen it")
            }
            Error::WriterBusy => write!(f, "another writable transaction is open"),
            Error::TxClosed => write!(f, "transaction closed"),
            Error::TxNotWritable => write!(f, "transaction not writable"),
            Error::BucketNotFound => write!(f, "bucket not found"),
            Error::BucketExists => write!(f, "bucket already exists"),
            Error::BucketNameRequired => write!(f, "bucket name required"),
            Error::KeyRequired => write!(f, "key required"),
            Error::KeyTooLarge { len } => write!(f, "key too large ({len} bytes)"),
            Error::ValueTooLarge { len } => write!(f, "value too large ({len} bytes)"),
            Error::IncompatibleValue => write!(f, "incompatible value (bucket vs. plain value)"),
            Error::SequenceOverflow => write!(f, "bucket sequence overflow"),
            Error::CursorUnpositioned => write!(f, "cursor is not positioned on an element"),
            Error::Corrupt(c) => write!(f, "corrupt database: {c}"),
            Error::Disk(e) => write!(f, "disk: {e}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<DiskError> for Error {
    fn from(e: DiskError) -> Error {
        Error::Disk(e)
    }
}

impl From<Corruption> for Error {
    fn from(c: Corruption) -> Error {
        Error::Corrupt(c)
    }
}

/// Result alias for engine operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;
