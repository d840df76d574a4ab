//! The state a SimDisk and its open handles share, and the operation gate every call passes
//! (dead handles, the crash countdown, the operation count, latency), capacity accounting and
//! the crash itself.

use std::collections::{BTreeMap, BTreeSet};

use super::image::Image;
use super::namespace::{Ino, Namespace, Node};
use super::tap::DiskTap;
use super::{DiskConfig, MAX_FILE_LEN};
use crate::io::DiskError;
use crate::seed::Rng;
use crate::time::Duration;

/// What kind of operation passes the gate (decides the latency it costs).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum OpKind {
    Plain,
    Sync,
}

/// Everything mutable, shared by the disk and its open handles.
pub(super) struct State {
    pub(super) rng: Rng,
    pub(super) config: DiskConfig,
    pub(super) ns: Namespace,
    pub(super) inodes: BTreeMap<Ino, Image>,
    pub(super) next_ino: Ino,
    /// Incremented by every crash; a handle from an older epoch is dead.
    pub(super) epoch: u64,
    /// Inode -> id of the handle holding its exclusive lock.
    pub(super) locks: BTreeMap<Ino, u64>,
    /// Inode -> number of live handles (keeps unlinked-but-open inodes alive).
    pub(super) open: BTreeMap<Ino, u64>,
    pub(super) next_handle: u64,
    pub(super) ops: u64,
    pub(super) countdown: Option<u64>,
    pub(super) crashed: bool,
    pub(super) latency: Duration,
    pub(super) fail_sync_prefixes: Vec<String>,
    /// Latent corruption registered for paths with no file yet: attached on creation.
    pub(super) pending_flips: Vec<(String, u64, u64)>,
    /// Bumped whenever what survives a power loss may have changed (a sync, a `sync_dir`, a
    /// crash): oracles that read the durable image re-read only when it moved.
    pub(super) durable_generation: u64,
    /// Sees every successful data and directory operation (see [`super::SimDisk::tap`]).
    pub(super) tap: Option<DiskTap>,
}

impl State {
    /// An empty disk: no files, no faults armed, epoch 0.
    pub(super) fn new(rng: Rng, config: DiskConfig) -> State {
        State {
            rng,
            config,
            ns: Namespace::default(),
            inodes: BTreeMap::new(),
            next_ino: 1,
            epoch: 0,
            locks: BTreeMap::new(),
            open: BTreeMap::new(),
            next_handle: 1,
            ops: 0,
            countdown: None,
            crashed: false,
            latency: Duration::ZERO,
            fail_sync_prefixes: Vec::new(),
            pending_flips: Vec::new(),
            durable_generation: 0,
            tap: None,
        }
    }

    /// The gate every operation passes: dead handles, the crash countdown, op count, latency.
    pub(super) fn begin(
        &mut self,
        handle_epoch: Option<u64>,
        kind: OpKind,
    ) -> Result<(), DiskError> {
        if handle_epoch.is_some_and(|e| e != self.epoch) || self.crashed {
            return Err(DiskError::Crashed);
        }
        match self.countdown {
            Some(0) => {
                self.countdown = None;
                self.crashed = true;
                return Err(DiskError::Crashed);
            }
            Some(n) => self.countdown = Some(n - 1),
            None => {}
        }
        self.ops += 1;
        self.latency = self.latency + self.config.op_latency;
        if kind == OpKind::Sync {
            self.latency = self.latency + self.config.sync_latency;
        }
        Ok(())
    }

    pub(super) fn image(&mut self, ino: Ino) -> &mut Image {
        self.inodes.get_mut(&ino).unwrap_or_else(|| panic!("inode {ino} has no image"))
    }

    /// Total visible bytes of all named files.
    pub(super) fn used(&self) -> u64 {
        let named: BTreeSet<Ino> = self
            .ns
            .volatile()
            .values()
            .filter_map(|node| match node {
                Node::File(ino) => Some(*ino),
                Node::Dir => None,
            })
            .collect();
        named.iter().map(|ino| self.inodes.get(ino).map_or(0, Image::len)).sum()
    }

    /// Fails with `Io` (EFBIG) if `new_len` exceeds [`MAX_FILE_LEN`], and with `NoSpace` if
    /// growing inode `ino` to `new_len` bytes exceeds the capacity.
    pub(super) fn reserve(
        &self,
        op: &'static str,
        ino: Ino,
        new_len: u64,
        path: &str,
    ) -> Result<(), DiskError> {
        let len = self.inodes.get(&ino).map_or(0, Image::len);
        if new_len <= len {
            return Ok(());
        }
        if new_len > MAX_FILE_LEN {
            return Err(DiskError::Io {
                op,
                path: path.to_string(),
                detail: format!("file too large (EFBIG): {new_len} bytes > {MAX_FILE_LEN}"),
            });
        }
        let Some(capacity) = self.config.capacity else {
            return Ok(());
        };
        if self.used().saturating_add(new_len - len) > capacity {
            return Err(DiskError::NoSpace { path: path.to_string() });
        }
        Ok(())
    }

    /// Attaches latent corruption registered for `path` before a file existed there.
    pub(super) fn attach_pending_flips(&mut self, path: &str, ino: Ino) {
        let (mine, rest): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.pending_flips).into_iter().partition(|(p, _, _)| p == path);
        self.pending_flips = rest;
        for (_, offset, len) in mine {
            let image = self.inodes.get_mut(&ino).expect("created inode has an image");
            image.add_flip(&mut self.rng, offset, len);
        }
    }

    /// Drops the images no name, log entry or handle can reach any more.
    pub(super) fn collect_garbage(&mut self) {
        let mut live: BTreeSet<Ino> = self.ns.referenced().collect();
        live.extend(self.open.keys().copied());
        self.inodes.retain(|ino, _| live.contains(ino));
    }

    pub(super) fn crash(&mut self) {
        self.durable_generation += 1;
        self.epoch += 1;
        self.locks.clear();
        self.open.clear();
        self.countdown = None;
        self.crashed = false;
        self.fail_sync_prefixes.clear();
        self.ns.crash(&mut self.rng);
        self.collect_garbage();
        let sector = self.config.sector;
        for image in self.inodes.values_mut() {
            image.crash(&mut self.rng, sector);
        }
    }
}
