//! Helpers shared by the WAL and snapshot integration tests.
#![allow(dead_code)]

use std::rc::Rc;

use raft::core::{Entry, EntryKind, HardState, SnapshotMetadata};
use raft::wal::{Wal, WalConfig};
use sim::io::Disk;
use sim::simulated::disk::{DiskConfig, SimDisk};
use sim::Seed;

/// A fault-free simulated disk whose crash fates come from `seed`.
pub fn sim_disk(seed: u64) -> Rc<SimDisk> {
    SimDisk::new(Seed(seed).stream("wal-test-disk"), DiskConfig::default())
}

/// The disk as the seam trait object.
pub fn dyn_disk(d: &Rc<SimDisk>) -> Rc<dyn Disk> {
    Rc::clone(d) as Rc<dyn Disk>
}

/// A WAL config with a small segment size.
pub fn config(segment_size: u64) -> WalConfig {
    WalConfig { segment_size }
}

/// An entry whose payload (never all zeros) identifies it.
pub fn entry(index: u64, term: u64, len: usize) -> Entry {
    let data = (0..len).map(|i| (index as usize * 31 + term as usize * 7 + i) as u8 | 1).collect();
    Entry { term, index, kind: EntryKind::Normal, data }
}

/// A snapshot marker at (index, term).
pub fn marker(index: u64, term: u64) -> SnapshotMetadata {
    SnapshotMetadata { index, term, ..SnapshotMetadata::default() }
}

/// A hard state.
pub fn hs(term: u64, vote: u64, commit: u64) -> HardState {
    HardState { term, vote, commit }
}

/// Creates a WAL in "wal" and saves `batches` of entries (each with a hard state whose commit
/// trails the last index by one); returns the WAL and every entry saved.
pub fn filled_wal(
    disk: &Rc<SimDisk>,
    segment_size: u64,
    batches: u64,
    per_batch: u64,
    len: usize,
) -> (Wal, Vec<Entry>) {
    let mut wal = Wal::create(dyn_disk(disk), "wal", b"meta", config(segment_size)).unwrap();
    let mut all = Vec::new();
    let mut next = 1;
    for _ in 0..batches {
        let batch: Vec<Entry> = (0..per_batch).map(|k| entry(next + k, 1, len)).collect();
        next += per_batch;
        wal.save(&hs(1, 1, next - 2), &batch).unwrap();
        all.extend(batch);
    }
    (wal, all)
}

/// Path of a segment file in "wal".
pub fn seg_path(name: &str) -> String {
    format!("wal/{name}")
}

/// A hexdump in the classic 16-bytes-a-line style; runs of identical all-zero lines are
/// collapsed into one `*` line.
pub fn hexdump(bytes: &[u8]) -> String {
    let mut out = String::new();
    let mut prev_zero = false;
    for (i, line) in bytes.chunks(16).enumerate() {
        let zero = line.iter().all(|&b| b == 0) && line.len() == 16;
        if zero && prev_zero {
            if !out.ends_with("*\n") {
                out.push_str("*\n");
            }
            continue;
        }
        prev_zero = zero;
        let hex: Vec<String> = line.iter().map(|b| format!("{b:02x}")).collect();
        let ascii: String =
            line.iter().map(|&b| if b.is_ascii_graphic() { b as char } else { '.' }).collect();
        out.push_str(&format!("{:08x}  {:<47}  |{ascii}|\n", i * 16, hex.join(" ")));
    }
    out.push_str(&format!("{:08x}\n", bytes.len()));
    out
}
