//! Purging old segments.

use sim::io::{Disk, DiskError, OpenOptions};

use super::error::WalError;
use super::segment::{self, join};

/// Removes the oldest segments of `dir` until at most `keep` remain, stopping at the first one
/// that is still locked (a WAL still holds it: see [`super::Wal::release_lock_to`]), like
/// etcd's `PurgeFile`. Syncs the directory if anything was removed. Returns the names removed.
pub fn purge(disk: &dyn Disk, dir: &str, keep: usize) -> Result<Vec<String>, WalError> {
    let names = segment::list(disk, dir)?;
    let mut removed = Vec::new();
    for name in names.iter().take(names.len().saturating_sub(keep)) {
        let name = name.to_string();
        let path = join(dir, &name);
        let file = disk.open(&path, OpenOptions::write())?;
        match file.try_lock() {
            Ok(()) => {}
            Err(DiskError::Locked { .. }) => break,
            Err(e) => return Err(e.into()),
        }
        disk.remove(&path)?;
        drop(file);
        removed.push(name);
    }
    if !removed.is_empty() {
        disk.sync_dir(dir)?;
    }
    Ok(removed)
}
