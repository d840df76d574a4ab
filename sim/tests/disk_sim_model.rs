//! SimDisk against a model, over random operation sequences with crashes (proptest).
//!
//! Data: two files take random writes (each write fills its range with a tag byte unique in the
//! run), length changes, syncs, syncs failing with EIO, and crashes, under an optional capacity.
//! Before a crash every read (through `map`) must equal the model's visible bytes, and every
//! mapping keeps showing what it showed when taken (snapshot), across writes and crashes; after a
//! crash every byte must be explainable: its durable value, the tag of an unsynced write
//! covering it, or zero where the file was shorter; a write survives per sector, all or nothing
//! (tears fall on 512-byte sector boundaries); writes whose sync failed never survive.
//! `crash_after_ops(k)` is part of the sequences: a gate model predicts which operation first
//! returns `Crashed` (the k-th), that every later one does, and what `ops()` counts.
//!
//! Directories: random creates, renames, removes and sync_dirs over a few names in two
//! directories, with crashes: a name `sync_dir` made durable never changes, an inode never ends
//! up under two names, and every surviving name is its durable state or the result of an
//! unsynced operation.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use sim::io::{Disk, DiskError, File, Mapping, OpenOptions};
use sim::simulated::disk::{DiskConfig, SimDisk};
use sim::Seed;

const SECTOR: u64 = 512;
const FILES: [&str; 2] = ["a", "b"];

#[derive(Clone, Debug)]
enum DataOp {
    Write { file: usize, offset: u64, len: u64 },
    SetLen { file: usize, len: u64 },
    Sync { file: usize },
    FailSync { file: usize },
    CrashAfterOps(u64),
    Crash,
}

fn data_op() -> impl Strategy<Value = DataOp> {
    prop_oneof![
        8 => (0..2usize, 0..4096u64, 1..1500u64)
            .prop_map(|(file, offset, len)| DataOp::Write { file, offset, len }),
        1 => (0..2usize, 0..6000u64).prop_map(|(file, len)| DataOp::SetLen { file, len }),
        2 => (0..2usize).prop_map(|file| DataOp::Sync { file }),
        1 => (0..2usize).prop_map(|file| DataOp::FailSync { file }),
        1 => (0..8u64).prop_map(DataOp::CrashAfterOps),
        1 => Just(DataOp::Crash),
    ]
}

/// An unsynced data operation in the model.
#[derive(Clone, Debug)]
enum Pending {
    Write { offset: u64, len: u64, tag: u8 },
    SetLen(u64),
}

/// One file: durable bytes, unsynced operations, and what reads see now.
#[derive(Clone, Debug, Default)]
struct ModelFile {
    durable: Vec<u8>,
    pending: Vec<Pending>,
    visible: Vec<u8>,
}

fn apply(buf: &mut Vec<u8>, op: &Pending) {
    match *op {
        Pending::Write { offset, len, tag } => {
            let end = (offset + len) as usize;
            if buf.len() < end {
                buf.resize(end, 0);
            }
            buf[offset as usize..end].fill(tag);
        }
        Pending::SetLen(len) => buf.resize(len as usize, 0),
    }
}

impl ModelFile {
    fn perform(&mut self, op: Pending) {
        apply(&mut self.visible, &op);
        self.pending.push(op);
    }

    fn sync(&mut self) {
        for op in self.pending.drain(..) {
            apply(&mut self.durable, &op);
        }
    }

    /// Every length a crash can leave: any subset of the pending operations, writes torn at
    /// sector boundaries.
    fn reachable_lengths(&self) -> BTreeSet<u64> {
        let mut lens = BTreeSet::from([self.durable.len() as u64]);
        for op in &self.pending {
            match *op {
                Pending::SetLen(len) => {
                    lens.insert(len);
                }
                Pending::Write { offset, len, .. } => {
                    let end = offset + len;
                    let mut ends: Vec<u64> = (offset / SECTOR + 1..)
                        .map(|s| s * SECTOR)
                        .take_while(|&b| b < end)
                        .collect();
                    ends.push(end);
                    let grown: Vec<u64> =
                        lens.iter().flat_map(|&l| ends.iter().map(move |&e| l.max(e))).collect();
                    lens.extend(grown);
                }
            }
        }
        lens
    }

    /// Whether a pending operation after index `after` may have cut the file at or below `pos`.
    fn cut_after(&self, after: usize, pos: u64) -> bool {
        self.pending[after..].iter().any(|op| matches!(*op, Pending::SetLen(l) if l <= pos))
    }

    /// Whether a pending write from index `from` on covers `pos` with `tag`.
    fn written(&self, from: usize, pos: u64, tag: u8) -> bool {
        self.pending[from..].iter().any(|op| {
            matches!(*op, Pending::Write { offset, len, tag: t }
                if t == tag && offset <= pos && pos < offset + len)
        })
    }

    /// Checks the bytes a crash left against what the model allows.
    fn check_crash(&self, name: &str, actual: &[u8]) -> Result<(), TestCaseError> {
        if self.pending.is_empty() {
            prop_assert_eq!(actual, &self.durable[..], "{}: synced bytes changed", name);
            return Ok(());
        }
        let lens = self.reachable_lengths();
        prop_assert!(
            lens.contains(&(actual.len() as u64)),
            "{}: length {} not reachable (allowed {:?})",
            name,
            actual.len(),
            lens
        );
        for (i, &b) in actual.iter().enumerate() {
            let pos = i as u64;
            let durable = self.durable.get(i) == Some(&b);
            let zero = b == 0 && (i >= self.durable.len() || self.cut_after(0, pos));
            prop_assert!(
                durable || zero || self.written(0, pos, b),
                "{}: byte {} is {:#x}: neither durable, zero-fill nor an unsynced write",
                name,
                pos,
                b
            );
        }
        self.check_sectors(name, actual)
    }

    /// A write whose tag shows anywhere in a sector shows in the whole of its part of that
    /// sector, unless a later pending write or cut explains a byte.
    fn check_sectors(&self, name: &str, actual: &[u8]) -> Result<(), TestCaseError> {
        for (w, op) in self.pending.iter().enumerate() {
            let Pending::Write { offset, len, tag } = *op else { continue };
            let end = offset + len;
            let mut start = offset;
            while start < end {
                let stop = ((start / SECTOR + 1) * SECTOR).min(end);
                if (start..stop).any(|p| actual.get(p as usize) == Some(&tag)) {
                    for p in start..stop {
                        let cut = self.cut_after(w + 1, p);
                        let ok = match actual.get(p as usize) {
                            None => cut,
                            Some(&v) => v == tag || self.written(w + 1, p, v) || (v == 0 && cut),
                        };
                        prop_assert!(
                            ok,
                            "{}: write tag {} torn inside sector {}: byte {} is {:?}",
                            name,
                            tag,
                            start / SECTOR,
                            p,
                            actual.get(p as usize)
                        );
                    }
                }
                start = stop;
            }
        }
        Ok(())
    }
}

fn read_all(f: &dyn File) -> Vec<u8> {
    let mut buf = vec![0u8; f.len().unwrap() as usize];
    f.read_exact_at(0, &mut buf).unwrap();
    buf
}

fn open_all(disk: &SimDisk) -> Vec<Box<dyn File>> {
    FILES.iter().map(|n| disk.open(n, OpenOptions::create()).unwrap()).collect()
}

/// The model of `crash_after_ops`: which operations pass, and how many did.
#[derive(Debug, Default)]
struct Gate {
    countdown: Option<u64>,
    crashed: bool,
    ops: u64,
}

impl Gate {
    /// Whether the next operation succeeds (else it must return `Crashed`).
    fn pass(&mut self) -> bool {
        match self.countdown {
            _ if self.crashed => return false,
            Some(0) => {
                self.countdown = None;
                self.crashed = true;
                return false;
            }
            Some(n) => self.countdown = Some(n - 1),
            None => {}
        }
        self.ops += 1;
        true
    }
}

fn run_data(seed: u64, capacity: Option<u64>, ops: Vec<DataOp>) -> Result<(), TestCaseError> {
    let disk =
        SimDisk::new(Seed(seed).stream("disk"), DiskConfig { capacity, ..Default::default() });
    let mut handles = open_all(&disk);
    disk.sync_dir("").unwrap();
    let mut gate = Gate { ops: 3, ..Gate::default() };
    let mut model = [ModelFile::default(), ModelFile::default()];
    let mut tag = 0u8;
    // The last mapping of each file and the bytes it showed: it must never change.
    let mut snapshots = [(Mapping::empty(), Vec::new()), (Mapping::empty(), Vec::new())];
    for op in ops {
        let used: u64 = model.iter().map(|m| m.visible.len() as u64).sum();
        let fits = |file: usize, new_len: u64| {
            let growth = new_len.saturating_sub(model[file].visible.len() as u64);
            growth == 0 || capacity.is_none_or(|c| used + growth <= c)
        };
        let crashed = Err(DiskError::Crashed);
        match op {
            DataOp::Write { file, offset, len } => {
                tag += 1;
                let result = handles[file].write_at(offset, &vec![tag; len as usize]);
                if !gate.pass() {
                    prop_assert_eq!(result, crashed);
                } else if fits(file, offset + len) {
                    prop_assert_eq!(result, Ok(()));
                    model[file].perform(Pending::Write { offset, len, tag });
                } else {
                    prop_assert_eq!(result, Err(DiskError::NoSpace { path: FILES[file].into() }));
                }
            }
            DataOp::SetLen { file, len } => {
                let result = handles[file].set_len(len);
                if !gate.pass() {
                    prop_assert_eq!(result, crashed);
                } else if fits(file, len) {
                    prop_assert_eq!(result, Ok(()));
                    model[file].perform(Pending::SetLen(len));
                } else {
                    prop_assert_eq!(result, Err(DiskError::NoSpace { path: FILES[file].into() }));
                }
            }
            DataOp::Sync { file } => {
                let result = handles[file].sync();
                if gate.pass() {
                    prop_assert_eq!(result, Ok(()));
                    model[file].sync();
                } else {
                    prop_assert_eq!(result, crashed);
                }
            }
            DataOp::FailSync { file } => {
                disk.fail_next_sync(FILES[file]);
                let result = handles[file].sync();
                if gate.pass() {
                    prop_assert!(
                        matches!(result, Err(DiskError::Io { op: "sync", .. })),
                        "{result:?}"
                    );
                    // fsyncgate: the unsynced data will never be durable, but stays visible.
                    model[file].pending.clear();
                } else {
                    prop_assert_eq!(result, crashed);
                }
            }
            DataOp::CrashAfterOps(k) => {
                disk.crash_after_ops(k);
                gate.countdown = Some(k);
            }
            DataOp::Crash => {
                disk.crash();
                gate.countdown = None;
                gate.crashed = false;
                for h in &handles {
                    prop_assert_eq!(h.len(), Err(DiskError::Crashed), "old handles are dead");
                }
                handles = open_all(&disk);
                for (file, m) in model.iter_mut().enumerate() {
                    let actual = read_all(handles[file].as_ref());
                    m.check_crash(FILES[file], &actual)?;
                    *m =
                        ModelFile { durable: actual.clone(), pending: Vec::new(), visible: actual };
                }
                gate.ops += 6;
            }
        }
        for (mapping, expected) in &snapshots {
            prop_assert_eq!(&mapping[..], &expected[..], "a mapping changed after it was taken");
        }
        for (file, m) in model.iter().enumerate() {
            let mapped = handles[file].map();
            if gate.pass() {
                let mapped = mapped.unwrap();
                prop_assert_eq!(&mapped[..], &m.visible[..], "{} visible", FILES[file]);
                snapshots[file] = (mapped, m.visible.clone());
            } else {
                prop_assert_eq!(mapped.err(), Some(DiskError::Crashed));
            }
        }
        prop_assert_eq!(disk.has_crashed(), gate.crashed);
        prop_assert_eq!(disk.ops(), gate.ops);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn data_survives_crashes_as_the_model_allows(
        seed in any::<u64>(),
        capacity in prop_oneof![Just(None), (2000..12000u64).prop_map(Some)],
        ops in prop::collection::vec(data_op(), 1..120),
    ) {
        run_data(seed, capacity, ops)?;
    }
}

const NAMES: [&str; 5] = ["a", "b", "c", "d/x", "d/y"];

#[derive(Clone, Debug)]
enum DirOp {
    Create(usize),
    Rename(usize, usize),
    Remove(usize),
    SyncDir(bool),
    Crash,
}

fn dir_op() -> impl Strategy<Value = DirOp> {
    prop_oneof![
        3 => (0..5usize).prop_map(DirOp::Create),
        3 => (0..5usize, 0..5usize).prop_map(|(a, b)| DirOp::Rename(a, b)),
        2 => (0..5usize).prop_map(DirOp::Remove),
        2 => any::<bool>().prop_map(DirOp::SyncDir),
        1 => Just(DirOp::Crash),
    ]
}

fn parent(name: &str) -> &str {
    name.rsplit_once('/').map_or("", |(d, _)| d)
}

/// Which file (by the id byte it holds) each name shows, read through the disk.
fn observe(disk: &SimDisk) -> BTreeMap<&'static str, u8> {
    let mut seen = BTreeMap::new();
    for name in NAMES {
        if disk.exists(name).unwrap() {
            let mut id = [0u8; 1];
            disk.open(name, OpenOptions::read()).unwrap().read_exact_at(0, &mut id).unwrap();
            seen.insert(name, id[0]);
        }
    }
    seen
}

fn run_dirs(seed: u64, ops: Vec<DirOp>) -> Result<(), TestCaseError> {
    let disk = SimDisk::new(Seed(seed).stream("disk"), DiskConfig::default());
    disk.create_dir_all("d").unwrap();
    disk.sync_dir("").unwrap();
    // volatile: name -> id; pinned: name -> state made durable by sync_dir (None = absent);
    // placed: (name, id) pairs an unsynced operation produced since the last crash.
    let mut volatile: BTreeMap<&str, u8> = BTreeMap::new();
    let mut pinned: BTreeMap<&str, Option<u8>> = NAMES.iter().map(|&n| (n, None)).collect();
    let mut base: BTreeMap<&str, u8> = BTreeMap::new();
    let mut placed: BTreeSet<(&str, u8)> = BTreeSet::new();
    let mut next_id = 1u8;
    for op in ops {
        match op {
            DirOp::Create(n) => {
                let name = NAMES[n];
                let result = disk.open(name, OpenOptions::create_new());
                if volatile.contains_key(name) {
                    prop_assert!(
                        matches!(result, Err(DiskError::AlreadyExists { .. })),
                        "create_new over {} did not fail with AlreadyExists",
                        name
                    );
                    continue;
                }
                let f = result.map_err(|e| TestCaseError::fail(format!("create {name}: {e}")))?;
                f.write_at(0, &[next_id]).unwrap();
                f.sync().unwrap();
                volatile.insert(name, next_id);
                placed.insert((name, next_id));
                pinned.remove(name);
                next_id += 1;
            }
            DirOp::Rename(a, b) => {
                let (from, to) = (NAMES[a], NAMES[b]);
                let result = disk.rename(from, to);
                let Some(&id) = volatile.get(from) else {
                    prop_assert!(matches!(result, Err(DiskError::NotFound { .. })), "{result:?}");
                    continue;
                };
                prop_assert_eq!(result, Ok(()));
                if from != to {
                    volatile.remove(from);
                    volatile.insert(to, id);
                    placed.insert((to, id));
                    pinned.remove(from);
                    pinned.remove(to);
                }
            }
            DirOp::Remove(n) => {
                let name = NAMES[n];
                let result = disk.remove(name);
                if volatile.remove(name).is_some() {
                    prop_assert_eq!(result, Ok(()));
                    pinned.remove(name);
                } else {
                    prop_assert!(matches!(result, Err(DiskError::NotFound { .. })), "{result:?}");
                }
            }
            DirOp::SyncDir(sub) => {
                let dir = if sub { "d" } else { "" };
                disk.sync_dir(dir).unwrap();
                for name in NAMES.iter().filter(|n| parent(n) == dir) {
                    pinned.insert(name, volatile.get(name).copied());
                }
            }
            DirOp::Crash => {
                disk.crash();
                let seen = observe(&disk);
                for (name, state) in &pinned {
                    prop_assert_eq!(
                        seen.get(name).copied(),
                        *state,
                        "synced entry {} changed",
                        name
                    );
                }
                let ids: BTreeSet<u8> = seen.values().copied().collect();
                prop_assert_eq!(ids.len(), seen.len(), "a file under two names: {:?}", seen);
                for (&name, &id) in &seen {
                    prop_assert!(
                        base.get(name) == Some(&id) || placed.contains(&(name, id)),
                        "{} shows file {} that no operation put there: {:?}",
                        name,
                        id,
                        seen
                    );
                }
                pinned = NAMES.iter().map(|&n| (n, seen.get(n).copied())).collect();
                volatile = seen.clone();
                base = seen;
                placed.clear();
            }
        }
        let listed: BTreeSet<String> = disk
            .list("")
            .unwrap()
            .into_iter()
            .filter(|n| n != "d")
            .chain(disk.list("d").unwrap().into_iter().map(|n| format!("d/{n}")))
            .collect();
        let expected: BTreeSet<String> = volatile.keys().map(|n| n.to_string()).collect();
        prop_assert_eq!(listed, expected);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn directory_operations_survive_crashes_as_the_model_allows(
        seed in any::<u64>(),
        ops in prop::collection::vec(dir_op(), 1..60),
    ) {
        run_dirs(seed, ops)?;
    }
}
