//! The disk seam: files and directories.
//!
//! Paths are `/`-separated strings relative to the disk's root (a node's data directory). A
//! [`Disk`] is one node's view of its storage; handles are cheap to clone behind an `Rc`.
//!
//! Durability model (both implementations follow it; the simulated one enforces it):
//! - `File::write_at` is visible to later reads at once but is durable only after `File::sync`.
//! - Creating, renaming and removing a directory entry is durable only after `Disk::sync_dir`
//!   of the parent directory.
//! - If `sync` returns an error, the unsynced data of that file may be lost even though reads in
//!   the same process still return it (Linux fsync semantics, "fsyncgate"): the caller must treat
//!   the file as suspect and fail stop.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

/// Why a disk operation failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DiskError {
    /// The simulator crashed this node at this operation (or an earlier one). Every later
    /// operation on the same disk fails the same way until the node restarts. Handlers propagate
    /// it with `?`; nobody retries it.
    Crashed,
    /// No file or directory at `path`.
    NotFound { path: String },
    /// `path` exists and the caller asked for a new file.
    AlreadyExists { path: String },
    /// Another handle holds the exclusive lock on `path`.
    Locked { path: String },
    /// The disk is full (ENOSPC) while writing or growing `path`.
    NoSpace { path: String },
    /// An I/O error (EIO and the like) from `op` on `path`.
    Io { op: &'static str, path: String, detail: String },
    /// The caller misused the API (e.g. wrote through a read-only handle).
    Invalid { op: &'static str, path: String, detail: String },
}

impl fmt::Display for DiskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DiskError::Crashed => write!(f, "disk crashed (simulated crash)"),
            DiskError::NotFound { path } => write!(f, "{path}: not found"),
            DiskError::AlreadyExists { path } => write!(f, "{path}: already exists"),
            DiskError::Locked { path } => write!(f, "{path}: locked by another handle"),
            DiskError::NoSpace { path } => write!(f, "{path}: no space left on device"),
            DiskError::Io { op, path, detail } => write!(f, "{path}: {op} failed: {detail}"),
            DiskError::Invalid { op, path, detail } => write!(f, "{path}: invalid {op}: {detail}"),
        }
    }
}

impl std::error::Error for DiskError {}

/// How to open a file. `read` is always allowed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpenOptions {
    /// Allow `write_at`, `set_len`, `allocate`, `sync`.
    pub write: bool,
    /// Create the file if it does not exist.
    pub create: bool,
    /// Fail with `AlreadyExists` if the file exists (implies `create`).
    pub create_new: bool,
    /// Truncate to zero length on open.
    pub truncate: bool,
}

impl OpenOptions {
    /// Read-only.
    pub fn read() -> OpenOptions {
        OpenOptions::default()
    }
    /// Read-write on an existing file.
    pub fn write() -> OpenOptions {
        OpenOptions { write: true, ..OpenOptions::default() }
    }
    /// Read-write, created if missing.
    pub fn create() -> OpenOptions {
        OpenOptions { write: true, create: true, ..OpenOptions::default() }
    }
    /// Read-write, must not exist yet.
    pub fn create_new() -> OpenOptions {
        OpenOptions { write: true, create: true, create_new: true, truncate: false }
    }
}

/// One node's storage: a tree of directories and files.
pub trait Disk {
    /// Opens `path` as `opts` says. The parent directory must exist.
    fn open(&self, path: &str, opts: OpenOptions) -> Result<Box<dyn File>, DiskError>;
    /// Creates `path` and its missing parents (like `mkdir -p`). Durable after `sync_dir` of the
    /// parent.
    fn create_dir_all(&self, path: &str) -> Result<(), DiskError>;
    /// Atomically renames a file, replacing `to` if it exists. Durable after `sync_dir`.
    fn rename(&self, from: &str, to: &str) -> Result<(), DiskError>;
    /// Removes a file (or an empty directory). Durable after `sync_dir`.
    fn remove(&self, path: &str) -> Result<(), DiskError>;
    /// Names (not paths) of the entries of directory `dir`, sorted bytewise.
    fn list(&self, dir: &str) -> Result<Vec<String>, DiskError>;
    /// Whether `path` names a file or directory.
    fn exists(&self, path: &str) -> Result<bool, DiskError>;
    /// Makes the entries of directory `dir` (creates, renames, removes) durable.
    fn sync_dir(&self, dir: &str) -> Result<(), DiskError>;
}

/// An open file. Methods take `&self`: implementations use interior mutability.
pub trait File {
    /// The path this handle was opened with (for error messages).
    fn path(&self) -> &str;
    /// Reads up to `buf.len()` bytes at `offset`; returns how many were read. Fewer than
    /// requested only at end of file.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize, DiskError>;
    /// Writes all of `data` at `offset`, extending the file if needed. Visible at once, durable
    /// after `sync`.
    fn write_at(&self, offset: u64, data: &[u8]) -> Result<(), DiskError>;
    /// Makes every write to this file durable (fdatasync).
    fn sync(&self) -> Result<(), DiskError>;
    /// Current length in bytes.
    fn len(&self) -> Result<u64, DiskError>;
    /// Whether the file is empty.
    fn is_empty(&self) -> Result<bool, DiskError> {
        Ok(self.len()? == 0)
    }
    /// Truncates or extends (with zeros) to `len`. Durable after `sync`.
    fn set_len(&self, len: u64) -> Result<(), DiskError>;
    /// Reserves space so that the file is at least `len` bytes long (fallocate); may fail with
    /// `NoSpace`. Does not shrink.
    fn allocate(&self, len: u64) -> Result<(), DiskError>;
    /// Takes an exclusive advisory lock, held until this handle is dropped. Fails with `Locked`
    /// if another handle holds it (flock on a real disk).
    fn try_lock(&self) -> Result<(), DiskError>;
    /// A read-only mapping of the file's current bytes. See [`Mapping`] for what it shows.
    fn map(&self) -> Result<Mapping, DiskError>;

    /// Reads exactly `buf.len()` bytes at `offset`, or fails with an `Io` error naming the short
    /// read.
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), DiskError> {
        let n = self.read_at(offset, buf)?;
        if n != buf.len() {
            return Err(DiskError::Io {
                op: "read",
                path: self.path().to_string(),
                detail: format!(
                    "short read at offset {offset}: wanted {} bytes, got {n}",
                    buf.len()
                ),
            });
        }
        Ok(())
    }
}

/// A read-only view of a file's bytes.
///
/// Contract: a mapping shows the file's first `len` bytes as they were when `map` was called.
/// Bytes written through `write_at` after that may or may not be visible in an existing mapping
/// (the real, mmap-backed one shows them; the simulated one does not): a caller that needs newer
/// bytes maps again. A mapping stays valid as long as it lives, even if the file grows, shrinks
/// or is remapped; readers holding one keep a stable view of the pages they reference.
#[derive(Clone)]
pub struct Mapping(Arc<dyn AsRef<[u8]> + Send + Sync>);

impl Mapping {
    /// A mapping that owns a copy (or a shared snapshot) of the bytes.
    pub fn from_bytes(bytes: Arc<dyn AsRef<[u8]> + Send + Sync>) -> Mapping {
        Mapping(bytes)
    }
    /// An empty mapping (of an empty file).
    pub fn empty() -> Mapping {
        Mapping(Arc::new(Vec::<u8>::new()))
    }
}

impl Deref for Mapping {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        (*self.0).as_ref()
    }
}

impl fmt::Debug for Mapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Mapping({} bytes)", self.len())
    }
}

/// Normalises a disk path: `/`-separated components relative to the disk's root, with empty and
/// `.` components dropped. The root itself is `""`. Absolute paths and `..` components are
/// refused with `Invalid` (a path must never escape the root), so both implementations agree on
/// what a path names.
pub fn normalize_path(op: &'static str, path: &str) -> Result<String, DiskError> {
    let invalid = |detail: &str| DiskError::Invalid {
        op,
        path: path.to_string(),
        detail: detail.to_string(),
    };
    if path.starts_with('/') {
        return Err(invalid("absolute paths are not allowed; paths are relative to the disk root"));
    }
    let mut parts = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(invalid("`..` would escape the disk root")),
            p if p.contains('\0') => return Err(invalid("NUL byte in path")),
            p => parts.push(p),
        }
    }
    Ok(parts.join("/"))
}

/// A disk for nodes that keep nothing (a pure network actor, a benchmark): every operation fails
/// with `Invalid`, naming the operation and path, so an unexpected disk access is loud.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoDisk;

impl NoDisk {
    fn refuse<T>(op: &'static str, path: &str) -> Result<T, DiskError> {
        Err(DiskError::Invalid {
            op,
            path: path.to_string(),
            detail: "this node has no disk".into(),
        })
    }
}

impl Disk for NoDisk {
    fn open(&self, path: &str, _: OpenOptions) -> Result<Box<dyn File>, DiskError> {
        NoDisk::refuse("open", path)
    }
    fn create_dir_all(&self, path: &str) -> Result<(), DiskError> {
        NoDisk::refuse("create_dir_all", path)
    }
    fn rename(&self, from: &str, _: &str) -> Result<(), DiskError> {
        NoDisk::refuse("rename", from)
    }
    fn remove(&self, path: &str) -> Result<(), DiskError> {
        NoDisk::refuse("remove", path)
    }
    fn list(&self, dir: &str) -> Result<Vec<String>, DiskError> {
        NoDisk::refuse("list", dir)
    }
    fn exists(&self, path: &str) -> Result<bool, DiskError> {
        NoDisk::refuse("exists", path)
    }
    fn sync_dir(&self, dir: &str) -> Result<(), DiskError> {
        NoDisk::refuse("sync_dir", dir)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn no_disk_refuses_every_operation_by_name() {
        let d = NoDisk;
        let e = d.open("data/x", OpenOptions::create()).err().expect("open must fail");
        assert!(
            matches!(&e, DiskError::Invalid { op: "open", path, .. } if path == "data/x"),
            "{e}"
        );
        assert!(matches!(d.sync_dir("data"), Err(DiskError::Invalid { op: "sync_dir", .. })));
        assert!(matches!(d.list("data"), Err(DiskError::Invalid { op: "list", .. })));
    }

    use super::*;

    #[test]
    fn normalize_path_drops_dots_and_refuses_escapes() {
        assert_eq!(normalize_path("open", "./a//b/").unwrap(), "a/b");
        assert_eq!(normalize_path("list", ".").unwrap(), "");
        assert!(matches!(normalize_path("open", "/etc/passwd"), Err(DiskError::Invalid { .. })));
        assert!(matches!(normalize_path("open", "a/../../b"), Err(DiskError::Invalid { .. })));
    }
}
