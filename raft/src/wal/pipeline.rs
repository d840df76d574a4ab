//! The file pipeline: preallocated, locked temporary files for the next segment.
//!
//! etcd runs a goroutine that keeps one preallocated file ready, alternating between `0.tmp`
//! and `1.tmp` so that a file just handed out is never the one being prepared. Our world is
//! single-threaded, so the pipeline prepares **eagerly but synchronously**: the WAL calls
//! [`FilePipeline::prepare_ahead`] when it is created or opened and right after every cut, so
//! a cut normally finds its file ready. Like a failure in etcd's goroutine, a failure to
//! prepare ahead does not fail the operation that triggered it (that operation's records are
//! already durable): [`FilePipeline::take`] prepares on the spot if nothing is ready and reports
//! the error to the cut that needs the file. Preparing is: open `N.tmp` (created, truncated so no
//! stale bytes survive from a crashed cut), take its exclusive lock, allocate it to the segment
//! size. The lock stays with the handle when the file is renamed into a segment.

use std::rc::Rc;

use sim::io::{Disk, DiskError, File, OpenOptions};

use super::segment::join;

/// A locked, preallocated temporary file.
pub struct TmpFile {
    pub path: String,
    pub file: Box<dyn File>,
}

impl std::fmt::Debug for TmpFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TmpFile({})", self.path)
    }
}

/// Hands out preallocated segment files.
pub struct FilePipeline {
    disk: Rc<dyn Disk>,
    dir: String,
    size: u64,
    count: u64,
    ready: Option<TmpFile>,
}

impl std::fmt::Debug for FilePipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FilePipeline({}, size {}, ready {:?})", self.dir, self.size, self.ready)
    }
}

impl FilePipeline {
    /// A pipeline making files of `size` bytes in `dir`. Nothing is prepared yet.
    pub fn new(disk: Rc<dyn Disk>, dir: &str, size: u64) -> FilePipeline {
        FilePipeline { disk, dir: dir.to_string(), size, count: 0, ready: None }
    }

    /// Path of the file the next allocation uses.
    fn next_path(&self) -> String {
        join(&self.dir, &format!("{}.tmp", self.count % 2))
    }

    fn alloc(&mut self) -> Result<TmpFile, DiskError> {
        let path = self.next_path();
        let opts = OpenOptions { write: true, create: true, truncate: true, create_new: false };
        let file = self.disk.open(&path, opts)?;
        file.try_lock()?;
        file.allocate(self.size)?;
        self.count += 1;
        Ok(TmpFile { path, file })
    }

    /// Makes sure a file is ready.
    pub fn prepare(&mut self) -> Result<(), DiskError> {
        if self.ready.is_none() {
            self.ready = Some(self.alloc()?);
        }
        Ok(())
    }

    /// Tries to have a file ready; on failure nothing is ready and the next
    /// [`FilePipeline::take`] retries and reports the error (see the module docs).
    pub fn prepare_ahead(&mut self) {
        if self.prepare().is_err() {
            self.ready = None;
        }
    }

    /// The ready file (prepared now if none is).
    pub fn take(&mut self) -> Result<TmpFile, DiskError> {
        match self.ready.take() {
            Some(f) => Ok(f),
            None => self.alloc(),
        }
    }

    /// Removes the prepared file, if any (like etcd's pipeline on close).
    pub fn close(mut self) -> Result<(), DiskError> {
        if let Some(TmpFile { path, file }) = self.ready.take() {
            drop(file);
            self.disk.remove(&path)?;
        }
        Ok(())
    }
}
