//! The snapshotter: durable state-machine snapshots beside the WAL, in etcd's shape.
//!
//! - [`Snapshotter::save`] writes `%016x-%016x.snap` (term, index) atomically: the bytes go to
//!   `<name>.tmp`, which is synced, renamed into place, and the directory synced. A crash at any
//!   point leaves either the complete new file or no file of that name.
//! - [`Snapshotter::load`] returns the newest snapshot that reads back valid (CRC-checked);
//!   damaged ones are renamed `<name>.broken` and skipped, as etcd does.
//! - [`Snapshotter::load_newest_available`] only considers snapshots the WAL has markers for.
//!
//! File format: see [`file`].

pub mod error;
pub mod file;

use std::rc::Rc;

use sim::io::{Disk, DiskError, OpenOptions};
use sim::planted;

use crate::core::{Snapshot, SnapshotMetadata};
use crate::wal::segment::{join, parent};

pub use error::SnapError;

/// Saves and loads snapshots in one directory.
pub struct Snapshotter {
    disk: Rc<dyn Disk>,
    dir: String,
}

impl std::fmt::Debug for Snapshotter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Snapshotter({})", self.dir)
    }
}

impl Snapshotter {
    /// A snapshotter for `dir` (created on the first save). Does no I/O.
    pub fn new(disk: Rc<dyn Disk>, dir: &str) -> Snapshotter {
        Snapshotter { disk, dir: dir.to_string() }
    }

    /// Saves `snap` durably (see the module docs). An empty snapshot (index 0) is not saved.
    pub fn save(&self, snap: &Snapshot) -> Result<(), SnapError> {
        if snap.is_empty() {
            return Ok(());
        }
        if !self.disk.exists(&self.dir)? {
            self.disk.create_dir_all(&self.dir)?;
            self.disk.sync_dir(parent(&self.dir))?;
        }
        let name = file::file_name(snap.metadata.term, snap.metadata.index);
        let path = join(&self.dir, &name);
        let tmp = format!("{path}.tmp");
        let f = self.disk.open(&tmp, OpenOptions { truncate: true, ..OpenOptions::create() })?;
        f.write_at(0, &file::encode(snap))?;
        if !planted::active(&crate::planted::SNAP_SAVE_SKIPS_FSYNC) {
            f.sync()?;
        }
        drop(f);
        self.disk.rename(&tmp, &path)?;
        self.disk.sync_dir(&self.dir)?;
        Ok(())
    }

    /// Snapshot file names, newest first.
    pub fn names(&self) -> Result<Vec<String>, SnapError> {
        let mut names: Vec<String> = match self.disk.list(&self.dir) {
            Ok(n) => n,
            Err(DiskError::NotFound { .. }) => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        names.retain(|n| file::parse_name(n).is_some());
        names.sort_by(|a, b| b.cmp(a));
        Ok(names)
    }

    /// Reads and verifies one snapshot file by name.
    pub fn read(&self, name: &str) -> Result<Snapshot, SnapError> {
        let f = self.disk.open(&join(&self.dir, name), OpenOptions::read())?;
        let bytes = f.map()?;
        let snap = file::decode(name, &bytes)?;
        let (term, index) = file::parse_name(name).unwrap_or((0, 0));
        if (term, index) != (snap.metadata.term, snap.metadata.index) {
            return Err(SnapError::Corrupt {
                file: name.to_string(),
                offset: file::HEADER as u64,
                detail: format!(
                    "holds (term {}, index {}) but is named after (term {term}, index {index})",
                    snap.metadata.term, snap.metadata.index
                ),
            });
        }
        Ok(snap)
    }

    /// The newest valid snapshot. Damaged files are renamed `.broken` and skipped.
    pub fn load(&self) -> Result<Snapshot, SnapError> {
        self.load_matching(|_| true)
    }

    /// The newest valid snapshot whose (index, term) is among `markers` (the snapshot records
    /// the WAL holds), so the WAL can be opened at it.
    pub fn load_newest_available(
        &self,
        markers: &[SnapshotMetadata],
    ) -> Result<Snapshot, SnapError> {
        self.load_matching(|s| {
            markers.iter().any(|m| m.index == s.metadata.index && m.term == s.metadata.term)
        })
    }

    fn load_matching(&self, want: impl Fn(&Snapshot) -> bool) -> Result<Snapshot, SnapError> {
        let mut names = self.names()?;
        if planted::active(&crate::planted::SNAP_LOAD_OLDEST) {
            names.reverse();
        }
        for name in names {
            match self.read(&name) {
                Ok(s) if want(&s) => return Ok(s),
                Ok(_) => {}
                Err(SnapError::Corrupt { .. }) => {
                    let path = join(&self.dir, &name);
                    self.disk.rename(&path, &format!("{path}.broken"))?;
                    self.disk.sync_dir(&self.dir)?;
                }
                Err(e) => return Err(e),
            }
        }
        Err(SnapError::NoSnapshot)
    }

    /// Removes the oldest snapshots until at most `keep` remain; returns the names removed.
    pub fn purge(&self, keep: usize) -> Result<Vec<String>, SnapError> {
        let names = self.names()?;
        let old: Vec<String> = names.into_iter().skip(keep).collect();
        for name in &old {
            self.disk.remove(&join(&self.dir, name))?;
        }
        if !old.is_empty() {
            self.disk.sync_dir(&self.dir)?;
        }
        Ok(old)
    }
}
