//! SimDisk: an in-memory disk with a durable image and a volatile overlay, and seeded faults.
//!
//! Structure:
//! - `namespace`: directory entries (names -> inodes), volatile and durable, with the log of
//!   unsynced directory operations. `sync_dir` promotes, a crash may lose unsynced operations.
//! - `image`: one inode's bytes: the visible bytes, the durable bytes and the unsynced data
//!   operations. `sync` promotes, a crash keeps, drops or tears each unsynced write.
//! - `file`: the open-file handle ([`SimFile`]).
//!
//! Faults (all randomness comes from the RNG given to [`SimDisk::new`]):
//! - [`SimDisk::crash`]: power loss. What survives:
//!   - file data: each write since the file's last successful sync is independently kept (1/3),
//!     dropped (1/3) or torn (1/3). A torn write keeps a random subset (each 1/2) of its pieces,
//!     a piece being its part of one `sector`-aligned sector of the file, so every sector of a
//!     torn write is wholly old or wholly new. Each unsynced length change (`set_len`,
//!     `allocate`, truncate-on-open) is independently kept or dropped (1/2). Surviving parts
//!     apply in their original order; a surviving write past the end extends the file with
//!     zeros in any gap. Synced data always survives.
//!   - directory entries: a file's identity (inode) is separate from its names. Each create,
//!     mkdir, rename and remove not yet made durable by `sync_dir` is independently kept or lost
//!     (1/2); kept ones replay in order, skipping any whose precondition no longer holds (a
//!     rename of a file whose create was lost). So an unsynced create may vanish, an unsynced
//!     rename may revert (the inode is then under exactly one of the two names), an unsynced
//!     remove may be undone. `sync_dir(d)` makes durable every operation up to the last one
//!     touching `d`, journal-style (earlier operations on other directories become durable too).
//!   - locks are released and every handle opened before the crash returns `Crashed` forever.
//! - [`SimDisk::crash_after_ops`]: the k-th operation from now fails with `Crashed`, and so does
//!   every later one until `crash()`.
//! - [`SimDisk::fail_next_sync`]: the next `sync` of a file opened under a path prefix returns
//!   `Io`; that file's unsynced data operations are forgotten by the durable image (still
//!   visible to reads until the next crash, lost by it). Only file syncs fail this way.
//! - [`SimDisk::flip_bits_on_read`]: latent corruption: one seeded bit of each byte in the range
//!   reads flipped, through `read_at` and `map`, for the life of the inode.
//! - Capacity: a write, `set_len` or `allocate` that would grow the total visible size of all
//!   named files beyond the capacity fails with `NoSpace` and changes nothing.
//! - Latency: every operation adds `op_latency`, every sync and sync_dir adds `sync_latency`
//!   too; [`SimDisk::take_latency`] drains the sum.
//!
//! Every `Disk` and `File` method call is one operation (counted by [`SimDisk::ops`]) except
//! `File::path`; fault knobs are not operations.

mod file;
mod image;
mod namespace;
mod state;
mod tap;

use std::cell::RefCell;
use std::rc::Rc;

use crate::io::disk::normalize_path;
use crate::io::{Disk, DiskError, File, OpenOptions};
use crate::seed::Rng;
use crate::time::Duration;

pub use file::SimFile;
use image::Image;
use namespace::{children, is_dir, parent, DirOp, Node};
use state::{OpKind, State};
use tap::notify;
pub use tap::{DiskOp, DiskOpKind, DiskTap};

/// The largest file SimDisk holds (files live in memory); growing beyond fails with `Io`
/// (EFBIG) instead of exhausting memory, e.g. when a corrupt length reaches `set_len`.
pub const MAX_FILE_LEN: u64 = 1 << 32;

/// SimDisk knobs. `Default` is a fault-free 512-byte-sector disk with no capacity limit and no
/// latency.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiskConfig {
    /// Tear granularity in bytes: a torn write keeps or loses whole sectors.
    pub sector: u64,
    /// Total bytes of file data the disk holds; `None` = unlimited.
    pub capacity: Option<u64>,
    /// Simulated time every operation takes.
    pub op_latency: Duration,
    /// Extra simulated time every `sync` / `sync_dir` takes.
    pub sync_latency: Duration,
}

impl Default for DiskConfig {
    fn default() -> DiskConfig {
        DiskConfig {
            sector: 512,
            capacity: None,
            op_latency: Duration::ZERO,
            sync_latency: Duration::ZERO,
        }
    }
}

/// The simulated disk of one node. Cheap to share as `Rc<SimDisk>` (coerces to
/// `Rc<dyn Disk>`); all state lives behind a `RefCell`.
pub struct SimDisk {
    state: Rc<RefCell<State>>,
}

impl SimDisk {
    /// An empty disk whose faults draw from `rng`.
    pub fn new(rng: Rng, config: DiskConfig) -> Rc<SimDisk> {
        assert!(config.sector > 0, "sector size must be positive, got {}", config.sector);
        let state = State::new(rng, config);
        Rc::new(SimDisk { state: Rc::new(RefCell::new(state)) })
    }

    /// Power loss / process crash: each unsynced write independently kept, dropped, or torn at
    /// sector granularity (seeded); each unsynced length change kept or dropped; each unsynced
    /// create/rename/remove kept or lost; all locks released; every handle opened before the
    /// crash is dead (returns Crashed forever). Also clears any crash_after_ops countdown and
    /// pending sync failures so the node can restart on this disk.
    pub fn crash(&self) {
        self.state.borrow_mut().crash();
    }

    /// Clean process exit without power loss: every open handle is closed (returns Crashed from
    /// now on) and every lock released; no data or directory entry is lost, unsynced ones stay
    /// unsynced. For a clean stop whose actor may still hold handles.
    pub fn close_all(&self) {
        let mut st = self.state.borrow_mut();
        st.epoch += 1;
        st.locks.clear();
        st.open.clear();
    }

    /// Installs `tap`, shown every successful write, sync, `set_len`, rename, remove and
    /// `sync_dir` (and every sync failed by an injected EIO) right after it happens (see
    /// [`DiskOp`]). One tap per disk; a new one replaces the old. The tap must not hold this
    /// disk strongly (it lives inside it): keep a `Weak` if it needs one.
    pub fn tap(&self, tap: DiskTap) {
        self.state.borrow_mut().tap = Some(tap);
    }

    /// The process using this disk dies now, inside its handler: this and every later
    /// operation returns `Crashed` until `crash()`, as when a `crash_after_ops` countdown runs
    /// out, so nothing it sends from now on reaches the network and the world crashes the node
    /// when the handler returns. For faults aimed at a moment inside a handler.
    pub fn kill_process(&self) {
        let mut st = self.state.borrow_mut();
        st.countdown = None;
        st.crashed = true;
    }

    /// The k-th disk operation from now (k = 0: the very next) and every later one return
    /// DiskError::Crashed until crash() is called.
    pub fn crash_after_ops(&self, k: u64) {
        self.state.borrow_mut().countdown = Some(k);
    }

    /// True once an operation has returned Crashed because of `crash_after_ops` (until crash()).
    pub fn has_crashed(&self) -> bool {
        self.state.borrow().crashed
    }

    /// Disk operations performed so far (operations refused with Crashed are not counted).
    pub fn ops(&self) -> u64 {
        self.state.borrow().ops
    }

    /// Simulated busy time accumulated by operations since the last call.
    pub fn take_latency(&self) -> Duration {
        std::mem::take(&mut self.state.borrow_mut().latency)
    }

    /// The next `sync` of a file whose handle path starts with `path_prefix` fails with `Io`
    /// and forgets that file's unsynced data (fsyncgate). One failure per call.
    pub fn fail_next_sync(&self, path_prefix: &str) {
        self.state.borrow_mut().fail_sync_prefixes.push(path_prefix.to_string());
    }

    /// Latent corruption: every read of `[offset, offset + len)` of the file at `path` (now, or
    /// the next file created or renamed there) returns one seeded bit flipped per byte.
    pub fn flip_bits_on_read(&self, path: &str, offset: u64, len: u64) {
        let mut st = self.state.borrow_mut();
        let Ok(path) = normalize_path("flip_bits_on_read", path) else {
            return;
        };
        match st.ns.lookup(&path) {
            Some(Node::File(ino)) => {
                let State { rng, inodes, .. } = &mut *st;
                inodes.get_mut(&ino).expect("named inode has an image").add_flip(rng, offset, len);
            }
            _ => st.pending_flips.push((path, offset, len)),
        }
    }

    /// Sets (or removes, with `None`) the capacity above which growth fails with NoSpace.
    pub fn set_capacity(&self, bytes: Option<u64>) {
        self.state.borrow_mut().config.capacity = bytes;
    }

    /// Sets the per-operation and extra per-sync latency.
    pub fn set_latency(&self, op: Duration, sync: Duration) {
        let mut st = self.state.borrow_mut();
        st.config.op_latency = op;
        st.config.sync_latency = sync;
    }

    /// Whether any file data or directory operation is not yet durable (for tests and checks).
    pub fn has_unsynced(&self) -> bool {
        let st = self.state.borrow();
        st.ns.has_pending() || st.inodes.values().any(Image::has_pending)
    }

    /// A counter that moves whenever what survives a power loss may have changed (every
    /// successful `sync` and `sync_dir`, every crash). Not a disk operation.
    pub fn durable_generation(&self) -> u64 {
        self.state.borrow().durable_generation
    }

    /// A counter that moves whenever the durable directory tree may have changed (a `sync_dir`
    /// that made a directory operation durable, a crash): [`SimDisk::durable_files`] gives the
    /// same answer while it stays put. Not a disk operation.
    pub fn durable_names_generation(&self) -> u64 {
        self.state.borrow().ns.durable_changes()
    }

    /// The files directly in directory `dir` that a power loss now would leave, by name, with
    /// their inode numbers (a file's identity across renames), sorted by name. Directory entries
    /// not yet made durable by `sync_dir` are not there, whatever the volatile tree says. For
    /// oracles: not a disk operation, never fails, costs no simulated time.
    pub fn durable_files(&self, dir: &str) -> Vec<(String, u64)> {
        let st = self.state.borrow();
        let Ok(d) = normalize_path("durable_files", dir) else { return Vec::new() };
        let tree = st.ns.durable();
        children(tree, &d)
            .into_iter()
            .filter_map(|name| {
                let path = if d.is_empty() { name.clone() } else { format!("{d}/{name}") };
                match tree.get(&path) {
                    Some(Node::File(ino)) => Some((name, *ino)),
                    _ => None,
                }
            })
            .collect()
    }

    /// Calls `f` with the durable bytes of inode `ino` (`None` if the inode is gone): what a
    /// power loss now would leave, without latent corruption (a read fault, not a property of
    /// the platter). For oracles: not a disk operation. `f` must not use this disk.
    pub fn with_durable<R>(&self, ino: u64, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        let st = self.state.borrow();
        st.inodes.get(&ino).map(|image| f(image.durable()))
    }

    /// Length of inode `ino`'s durable bytes (`None`: no such inode).
    pub fn durable_len(&self, ino: u64) -> Option<u64> {
        self.state.borrow().inodes.get(&ino).map(|i| i.durable().len() as u64)
    }

    fn open_file(&self, path: &str, opts: OpenOptions) -> Result<SimFile, DiskError> {
        let mut st = self.state.borrow_mut();
        st.begin(None, OpKind::Plain)?;
        let p = normalize_path("open", path)?;
        let invalid = |detail: &str| DiskError::Invalid {
            op: "open",
            path: path.to_string(),
            detail: detail.to_string(),
        };
        if p.is_empty() {
            return Err(invalid("the root is a directory"));
        }
        if (opts.create || opts.create_new || opts.truncate) && !opts.write {
            return Err(invalid("create and truncate need write access"));
        }
        if !is_dir(st.ns.volatile(), parent(&p)) {
            return Err(DiskError::NotFound { path: path.to_string() });
        }
        let ino = match st.ns.lookup(&p) {
            Some(Node::Dir) => return Err(invalid("is a directory")),
            Some(Node::File(_)) if opts.create_new => {
                return Err(DiskError::AlreadyExists { path: path.to_string() })
            }
            Some(Node::File(ino)) => {
                if opts.truncate {
                    st.image(ino).set_len(0);
                }
                ino
            }
            None if opts.create || opts.create_new => {
                let ino = st.next_ino;
                st.next_ino += 1;
                st.inodes.insert(ino, Image::default());
                st.ns.perform(DirOp::Create { path: p.clone(), ino });
                st.attach_pending_flips(&p, ino);
                ino
            }
            None => return Err(DiskError::NotFound { path: path.to_string() }),
        };
        let handle = st.next_handle;
        st.next_handle += 1;
        *st.open.entry(ino).or_insert(0) += 1;
        let epoch = st.epoch;
        Ok(SimFile::new(Rc::clone(&self.state), ino, path.to_string(), opts.write, epoch, handle))
    }
}

impl Disk for SimDisk {
    fn open(&self, path: &str, opts: OpenOptions) -> Result<Box<dyn File>, DiskError> {
        Ok(Box::new(self.open_file(path, opts)?))
    }

    fn create_dir_all(&self, path: &str) -> Result<(), DiskError> {
        let mut st = self.state.borrow_mut();
        st.begin(None, OpKind::Plain)?;
        let p = normalize_path("create_dir_all", path)?;
        let mut prefix = String::new();
        for part in p.split('/').filter(|s| !s.is_empty()) {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(part);
            match st.ns.lookup(&prefix) {
                Some(Node::Dir) => {}
                Some(Node::File(_)) => {
                    return Err(DiskError::AlreadyExists { path: prefix.clone() });
                }
                None => st.ns.perform(DirOp::Mkdir { path: prefix.clone() }),
            }
        }
        Ok(())
    }

    fn rename(&self, from: &str, to: &str) -> Result<(), DiskError> {
        let mut st = self.state.borrow_mut();
        st.begin(None, OpKind::Plain)?;
        let f = normalize_path("rename", from)?;
        let t = normalize_path("rename", to)?;
        let invalid = |detail: &str| DiskError::Invalid {
            op: "rename",
            path: format!("{from} -> {to}"),
            detail: detail.to_string(),
        };
        let ino = match st.ns.lookup(&f) {
            Some(Node::File(ino)) => ino,
            Some(Node::Dir) => return Err(invalid("renaming directories is not supported")),
            None => return Err(DiskError::NotFound { path: from.to_string() }),
        };
        if !is_dir(st.ns.volatile(), parent(&t)) {
            return Err(DiskError::NotFound { path: to.to_string() });
        }
        match st.ns.lookup(&t) {
            Some(Node::Dir) => return Err(invalid("the target is a directory")),
            Some(Node::File(same)) if same == ino => return Ok(()),
            _ => {}
        }
        st.ns.perform(DirOp::Rename { from: f, to: t.clone(), ino });
        st.attach_pending_flips(&t, ino);
        drop(st);
        notify(&self.state, &DiskOp { to, ..DiskOp::on(DiskOpKind::Rename, from) });
        Ok(())
    }

    fn remove(&self, path: &str) -> Result<(), DiskError> {
        let mut st = self.state.borrow_mut();
        st.begin(None, OpKind::Plain)?;
        let p = normalize_path("remove", path)?;
        match st.ns.lookup(&p) {
            _ if p.is_empty() => Err(DiskError::Invalid {
                op: "remove",
                path: path.to_string(),
                detail: "cannot remove the root".to_string(),
            }),
            Some(Node::File(ino)) => {
                st.ns.perform(DirOp::Remove { path: p, ino });
                drop(st);
                notify(&self.state, &DiskOp::on(DiskOpKind::Remove, path));
                Ok(())
            }
            Some(Node::Dir) if !children(st.ns.volatile(), &p).is_empty() => {
                Err(DiskError::Invalid {
                    op: "remove",
                    path: path.to_string(),
                    detail: "directory not empty".to_string(),
                })
            }
            Some(Node::Dir) => {
                st.ns.perform(DirOp::Rmdir { path: p });
                Ok(())
            }
            None => Err(DiskError::NotFound { path: path.to_string() }),
        }
    }

    fn list(&self, dir: &str) -> Result<Vec<String>, DiskError> {
        let mut st = self.state.borrow_mut();
        st.begin(None, OpKind::Plain)?;
        let d = normalize_path("list", dir)?;
        match st.ns.lookup(&d) {
            Some(Node::Dir) => Ok(children(st.ns.volatile(), &d)),
            Some(Node::File(_)) => Err(DiskError::Invalid {
                op: "list",
                path: dir.to_string(),
                detail: "not a directory".to_string(),
            }),
            None => Err(DiskError::NotFound { path: dir.to_string() }),
        }
    }

    fn exists(&self, path: &str) -> Result<bool, DiskError> {
        let mut st = self.state.borrow_mut();
        st.begin(None, OpKind::Plain)?;
        let p = normalize_path("exists", path)?;
        Ok(st.ns.lookup(&p).is_some())
    }

    fn sync_dir(&self, dir: &str) -> Result<(), DiskError> {
        let mut st = self.state.borrow_mut();
        st.begin(None, OpKind::Sync)?;
        let d = normalize_path("sync_dir", dir)?;
        if st.ns.lookup(&d) != Some(Node::Dir) {
            return Err(DiskError::NotFound { path: dir.to_string() });
        }
        st.ns.sync_dir(&d);
        st.durable_generation += 1;
        st.collect_garbage();
        drop(st);
        notify(&self.state, &DiskOp::on(DiskOpKind::SyncDir, dir));
        Ok(())
    }
}
