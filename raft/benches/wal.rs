//! WAL append + sync throughput on the real disk, beside the machine's fsync floor measured in
//! the same run: N x (write 4 KiB + fdatasync) through the same disk seam.
//!
//! Run: `cargo bench -p raft --bench wal`. Prints one table; asserts nothing about time.
//! The directory is under `$WAL_BENCH_DIR` if set (to measure a particular device), else the
//! system temp dir.
// This bench measures wall-clock time on a real file system: it must use std::time and the
// real disk, which the determinism lints forbid elsewhere.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::rc::Rc;
use std::time::Instant;

use raft::core::{Entry, EntryKind, HardState};
use raft::wal::{Wal, WalConfig};
use sim::io::{Disk, OpenOptions};
use sim::real::disk::RealDisk;

const FLOOR_SYNCS: u64 = 300;
const SAVES: u64 = 300;

/// Seconds per (write 4 KiB at a new offset + fdatasync).
fn fsync_floor(disk: &Rc<RealDisk>) -> f64 {
    let f = disk.open("floor.dat", OpenOptions::create()).expect("open floor file");
    let page = vec![0xa5u8; 4096];
    let start = Instant::now();
    for i in 0..FLOOR_SYNCS {
        f.write_at(i * 4096, &page).expect("write");
        f.sync().expect("sync");
    }
    start.elapsed().as_secs_f64() / FLOOR_SYNCS as f64
}

struct Run {
    entry_bytes: usize,
    batch: usize,
    secs_per_save: f64,
}

fn wal_run(disk: &Rc<RealDisk>, entry_bytes: usize, batch: usize) -> Run {
    let dir = format!("wal-{entry_bytes}-{batch}");
    let d: Rc<dyn Disk> = Rc::clone(disk) as Rc<dyn Disk>;
    let mut wal = Wal::create(d, &dir, b"bench", WalConfig::default()).expect("create");
    let payload = vec![0x5au8; entry_bytes];
    let mut index = 0;
    let start = Instant::now();
    for _ in 0..SAVES {
        let entries: Vec<Entry> = (0..batch)
            .map(|_| {
                index += 1;
                Entry { term: 1, index, kind: EntryKind::Normal, data: payload.clone() }
            })
            .collect();
        let hs = HardState { term: 1, vote: 1, commit: index };
        wal.save(&hs, &entries).expect("save");
    }
    let secs_per_save = start.elapsed().as_secs_f64() / SAVES as f64;
    wal.close().expect("close");
    Run { entry_bytes, batch, secs_per_save }
}

fn main() {
    let base = std::env::var_os("WAL_BENCH_DIR").map_or_else(std::env::temp_dir, Into::into);
    let root = base.join(format!("raft-wal-bench-{}", std::process::id()));
    let disk = RealDisk::new(&root).expect("bench dir");
    let floor = fsync_floor(&disk);
    println!("directory: {}", root.display());
    println!(
        "fsync floor (write 4 KiB + fdatasync) x {FLOOR_SYNCS}: {:.1} us/op = {:.0} syncs/s",
        floor * 1e6,
        1.0 / floor
    );
    println!(
        "{:>11} {:>6} {:>10} {:>12} {:>9} {:>10}",
        "entry bytes", "batch", "us/save", "entries/s", "MB/s", "x floor"
    );
    for (entry_bytes, batch) in [(100, 1), (1024, 1), (100, 64), (1024, 64), (16 * 1024, 16)] {
        let r = wal_run(&disk, entry_bytes, batch);
        let entries_per_s = r.batch as f64 / r.secs_per_save;
        let mb_per_s = entries_per_s * r.entry_bytes as f64 / 1e6;
        println!(
            "{:>11} {:>6} {:>10.1} {:>12.0} {:>9.2} {:>10.2}",
            r.entry_bytes,
            r.batch,
            r.secs_per_save * 1e6,
            entries_per_s,
            mb_per_s,
            r.secs_per_save / floor
        );
    }
    drop(disk);
    let _ = std::fs::remove_dir_all(&root);
}
