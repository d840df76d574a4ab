//! Typed errors of the WAL. Every error about bytes read from disk names the segment file and
//! the byte offset of the record (its length word) where the problem was found.

use std::fmt;

use sim::io::DiskError;

use crate::core::DecodeError;

/// Why a WAL operation failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WalError {
    /// The disk refused an operation (this includes the simulator's `Crashed`).
    Disk(DiskError),
    /// `Wal::create` on a directory that already holds segment files.
    AlreadyExists { dir: String },
    /// The directory holds no segment file at all.
    NoSegments { dir: String },
    /// No segment could hold the records after the requested snapshot index: every segment's
    /// first index is above it.
    NoSegmentForIndex { dir: String, index: u64 },
    /// Segment sequence numbers do not increase by one from `after` to `found`.
    SequenceGap { dir: String, after: String, found: String },
    /// A length word that is not a valid frame header (bad check bits, bad padding flag,
    /// impossible size), or non-zero padding bytes. Never produced by a torn write.
    BadFrame { segment: String, offset: u64, detail: String },
    /// A record in a segment that is not the last one runs past the end of its file.
    TruncatedSegment { segment: String, offset: u64, need: u64, len: u64 },
    /// The record's checksum does not match the running CRC of everything before it.
    CrcMismatch { segment: String, offset: u64, stored: u32, computed: u32 },
    /// The last record of the last segment was torn by a crash: [`crate::wal::repair`] can
    /// truncate it. Only produced for the last segment.
    TornTail { segment: String, offset: u64 },
    /// A record type tag this build does not know.
    UnknownRecordType { segment: String, offset: u64, tag: u8 },
    /// A record's payload does not decode as its type says.
    BadRecord { segment: String, offset: u64, source: DecodeError },
    /// Two metadata records disagree.
    MetadataConflict { segment: String, offset: u64 },
    /// A snapshot record has the requested index but another term.
    SnapshotMismatch { segment: String, offset: u64, index: u64, want_term: u64, found_term: u64 },
    /// No snapshot record with the requested index and term was found.
    SnapshotNotFound { index: u64, term: u64 },
    /// An entry's index leaves a hole after the entries read so far.
    EntryGap { segment: String, offset: u64, index: u64, next_expected: u64 },
    /// An earlier operation failed part-way; the WAL must be dropped and reopened.
    Poisoned,
}

impl From<DiskError> for WalError {
    fn from(e: DiskError) -> WalError {
        WalError::Disk(e)
    }
}

impl WalError {
    /// True for `Disk(Crashed)`: the simulator killed the node at this operation.
    pub fn is_crash(&self) -> bool {
        matches!(self, WalError::Disk(DiskError::Crashed))
    }
}

impl fmt::Display for WalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WalError::Disk(e) => write!(f, "wal: disk: {e}"),
            WalError::AlreadyExists { dir } => write!(f, "wal: {dir} already holds a WAL"),
            WalError::NoSegments { dir } => write!(f, "wal: no segment files in {dir}"),
            WalError::NoSegmentForIndex { dir, index } => {
                write!(f, "wal: no segment in {dir} can hold index {index}")
            }
            WalError::SequenceGap { dir, after, found } => {
                write!(f, "wal: segment sequence gap in {dir}: {found} follows {after}")
            }
            WalError::BadFrame { segment, offset, detail } => {
                write!(f, "wal: {segment} offset {offset}: bad frame: {detail}")
            }
            WalError::TruncatedSegment { segment, offset, need, len } => write!(
                f,
                "wal: {segment} offset {offset}: record needs {need} bytes, file has {len}"
            ),
            WalError::CrcMismatch { segment, offset, stored, computed } => write!(
                f,
                "wal: {segment} offset {offset}: crc mismatch (stored {stored:#010x}, \
                 computed {computed:#010x})"
            ),
            WalError::TornTail { segment, offset } => {
                write!(f, "wal: {segment} offset {offset}: torn last record (repairable)")
            }
            WalError::UnknownRecordType { segment, offset, tag } => {
                write!(f, "wal: {segment} offset {offset}: unknown record type {tag}")
            }
            WalError::BadRecord { segment, offset, source } => {
                write!(f, "wal: {segment} offset {offset}: bad record payload: {source}")
            }
            WalError::MetadataConflict { segment, offset } => {
                write!(f, "wal: {segment} offset {offset}: conflicting metadata")
            }
            WalError::SnapshotMismatch { segment, offset, index, want_term, found_term } => {
                write!(
                    f,
                    "wal: {segment} offset {offset}: snapshot at index {index} has term \
                     {found_term}, want {want_term}"
                )
            }
            WalError::SnapshotNotFound { index, term } => {
                write!(f, "wal: snapshot record (index {index}, term {term}) not found")
            }
            WalError::EntryGap { segment, offset, index, next_expected } => write!(
                f,
                "wal: {segment} offset {offset}: entry {index} leaves a gap (next expected at \
                 most {next_expected})"
            ),
            WalError::Poisoned => write!(f, "wal: an earlier write failed; reopen the WAL"),
        }
    }
}

impl std::error::Error for WalError {}
