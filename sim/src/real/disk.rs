//! RealDisk: the disk seam on a real file system: `std::fs`, `memmap2` for the byte mapping,
//! `File::sync_data` (fdatasync) for `sync`, `File::try_lock` (flock `LOCK_EX | LOCK_NB`) for
//! locks, and an fsync of the opened directory for `sync_dir`.
//!
//! Every path is relative to the root directory given to [`RealDisk::new`]; absolute paths and
//! `..` components are refused with `Invalid` so nothing escapes the root.

use std::fs;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;

use crate::io::disk::normalize_path;
use crate::io::{Disk, DiskError, File, Mapping, OpenOptions};

/// Translates an `io::Error` from `op` on `path` into the seam's error.
fn io_error(op: &'static str, path: &str, e: &io::Error) -> DiskError {
    let path = path.to_string();
    match e.kind() {
        io::ErrorKind::NotFound => DiskError::NotFound { path },
        io::ErrorKind::AlreadyExists => DiskError::AlreadyExists { path },
        _ if e.raw_os_error() == Some(libc::ENOSPC) => DiskError::NoSpace { path },
        _ => DiskError::Io { op, path, detail: e.to_string() },
    }
}

/// A node's storage rooted at a real directory.
#[derive(Debug)]
pub struct RealDisk {
    root: PathBuf,
}

impl RealDisk {
    /// A disk rooted at `root_dir`, which is created if missing.
    pub fn new(root_dir: impl AsRef<Path>) -> Result<Rc<RealDisk>, DiskError> {
        let root = root_dir.as_ref().to_path_buf();
        let shown = root.display().to_string();
        fs::create_dir_all(&root).map_err(|e| io_error("create_dir_all", &shown, &e))?;
        Ok(Rc::new(RealDisk { root }))
    }

    /// The real path of `path` under the root, after refusing escapes.
    fn resolve(&self, op: &'static str, path: &str) -> Result<PathBuf, DiskError> {
        Ok(self.root.join(normalize_path(op, path)?))
    }
}

impl Disk for RealDisk {
    fn open(&self, path: &str, opts: OpenOptions) -> Result<Box<dyn File>, DiskError> {
        let full = self.resolve("open", path)?;
        if (opts.create || opts.create_new || opts.truncate) && !opts.write {
            return Err(DiskError::Invalid {
                op: "open",
                path: path.to_string(),
                detail: "create and truncate need write access".to_string(),
            });
        }
        if full.is_dir() {
            return Err(DiskError::Invalid {
                op: "open",
                path: path.to_string(),
                detail: "is a directory".to_string(),
            });
        }
        let file = fs::OpenOptions::new()
            .read(true)
            .write(opts.write)
            .create(opts.create && !opts.create_new)
            .create_new(opts.create_new)
            .truncate(opts.truncate)
            .open(&full)
            .map_err(|e| io_error("open", path, &e))?;
        Ok(Box::new(RealFile { file, path: path.to_string(), writable: opts.write }))
    }

    fn create_dir_all(&self, path: &str) -> Result<(), DiskError> {
        let full = self.resolve("create_dir_all", path)?;
        fs::create_dir_all(full).map_err(|e| io_error("create_dir_all", path, &e))
    }

    fn rename(&self, from: &str, to: &str) -> Result<(), DiskError> {
        let src = self.resolve("rename", from)?;
        let dst = self.resolve("rename", to)?;
        fs::rename(src, dst).map_err(|e| io_error("rename", &format!("{from} -> {to}"), &e))
    }

    fn remove(&self, path: &str) -> Result<(), DiskError> {
        let full = self.resolve("remove", path)?;
        if full == self.root {
            return Err(DiskError::Invalid {
                op: "remove",
                path: path.to_string(),
                detail: "cannot remove the root".to_string(),
            });
        }
        let meta = fs::symlink_metadata(&full).map_err(|e| io_error("remove", path, &e))?;
        let result = if meta.is_dir() { fs::remove_dir(&full) } else { fs::remove_file(&full) };
        result.map_err(|e| io_error("remove", path, &e))
    }

    fn list(&self, dir: &str) -> Result<Vec<String>, DiskError> {
        let full = self.resolve("list", dir)?;
        let mut names = Vec::new();
        for entry in fs::read_dir(full).map_err(|e| io_error("list", dir, &e))? {
            let entry = entry.map_err(|e| io_error("list", dir, &e))?;
            let name = entry.file_name().into_string().map_err(|raw| DiskError::Io {
                op: "list",
                path: dir.to_string(),
                detail: format!("entry name is not UTF-8: {raw:?}"),
            })?;
            names.push(name);
        }
        names.sort();
        Ok(names)
    }

    fn exists(&self, path: &str) -> Result<bool, DiskError> {
        let full = self.resolve("exists", path)?;
        full.try_exists().map_err(|e| io_error("exists", path, &e))
    }

    fn sync_dir(&self, dir: &str) -> Result<(), DiskError> {
        let full = self.resolve("sync_dir", dir)?;
        let handle = fs::File::open(full).map_err(|e| io_error("sync_dir", dir, &e))?;
        handle.sync_all().map_err(|e| io_error("sync_dir", dir, &e))
    }
}

/// An open file on a [`RealDisk`]. Its flock (if taken) is released when it is dropped.
#[derive(Debug)]
pub struct RealFile {
    file: fs::File,
    path: String,
    writable: bool,
}

impl RealFile {
    fn require_write(&self, op: &'static str) -> Result<(), DiskError> {
        if self.writable {
            return Ok(());
        }
        Err(DiskError::Invalid {
            op,
            path: self.path.clone(),
            detail: "file opened read-only".into(),
        })
    }
}

impl File for RealFile {
    fn path(&self) -> &str {
        &self.path
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize, DiskError> {
        let mut done = 0;
        while done < buf.len() {
            match self.file.read_at(&mut buf[done..], offset + done as u64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_error("read", &self.path, &e)),
            }
        }
        Ok(done)
    }

    fn write_at(&self, offset: u64, data: &[u8]) -> Result<(), DiskError> {
        self.require_write("write")?;
        self.file.write_all_at(data, offset).map_err(|e| io_error("write", &self.path, &e))
    }

    fn sync(&self) -> Result<(), DiskError> {
        self.file.sync_data().map_err(|e| io_error("sync", &self.path, &e))
    }

    fn len(&self) -> Result<u64, DiskError> {
        let meta = self.file.metadata().map_err(|e| io_error("len", &self.path, &e))?;
        Ok(meta.len())
    }

    fn set_len(&self, len: u64) -> Result<(), DiskError> {
        self.require_write("set_len")?;
        self.file.set_len(len).map_err(|e| io_error("set_len", &self.path, &e))
    }

    /// Grows the file with `set_len` (no `posix_fallocate`, which would need `unsafe`): the
    /// length is reserved, the blocks are allocated on first write.
    fn allocate(&self, len: u64) -> Result<(), DiskError> {
        self.require_write("allocate")?;
        if self.len()? >= len {
            return Ok(());
        }
        self.file.set_len(len).map_err(|e| io_error("allocate", &self.path, &e))
    }

    fn try_lock(&self) -> Result<(), DiskError> {
        match self.file.try_lock() {
            Ok(()) => Ok(()),
            Err(fs::TryLockError::WouldBlock) => Err(DiskError::Locked { path: self.path.clone() }),
            Err(fs::TryLockError::Error(e)) => Err(io_error("lock", &self.path, &e)),
        }
    }

    /// An mmap of the file's current length (empty files map to [`Mapping::empty`]).
    fn map(&self) -> Result<Mapping, DiskError> {
        if self.len()? == 0 {
            return Ok(Mapping::empty());
        }
        let mmap = map_file(&self.file).map_err(|e| io_error("map", &self.path, &e))?;
        Ok(Mapping::from_bytes(Arc::new(mmap)))
    }
}

/// Maps `file` read-only.
#[allow(unsafe_code)]
fn map_file(file: &fs::File) -> io::Result<memmap2::Mmap> {
    // SAFETY: memmap2 requires that the mapped file is not truncated or modified by others in
    // ways that invalidate the mapping while it lives. The file sits in this node's private data
    // directory and is only changed through the disk seam by its owner, which follows the
    // `Mapping` contract: it never shrinks a file below the pages a live mapping's readers
    // reference (bolt-style engines only grow the file while readers hold a mapping).
    unsafe { memmap2::Mmap::map(file) }
}
