//! Typed errors of the snapshotter.

use std::fmt;

use sim::io::DiskError;

/// Why a snapshot operation failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SnapError {
    /// The disk refused an operation (this includes the simulator's `Crashed`).
    Disk(DiskError),
    /// No valid snapshot (matching the request) was found.
    NoSnapshot,
    /// The snapshot file `file` is damaged at `offset`: the detail says how.
    Corrupt { file: String, offset: u64, detail: String },
}

impl From<DiskError> for SnapError {
    fn from(e: DiskError) -> SnapError {
        SnapError::Disk(e)
    }
}

impl fmt::Display for SnapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SnapError::Disk(e) => write!(f, "snap: disk: {e}"),
            SnapError::NoSnapshot => write!(f, "snap: no available snapshot"),
            SnapError::Corrupt { file, offset, detail } => {
                write!(f, "snap: {file} offset {offset}: {detail}")
            }
        }
    }
}

impl std::error::Error for SnapError {}
