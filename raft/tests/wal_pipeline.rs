//! The file pipeline: alternating, locked, preallocated tmp files, truncated on reuse.

mod wal_support;

use raft::wal::pipeline::FilePipeline;
use sim::io::{Disk, DiskError, OpenOptions};
use wal_support::*;

#[test]
fn alternates_locks_preallocates_and_truncates_stale_bytes() {
    let disk = sim_disk(1);
    disk.create_dir_all("wal").unwrap();
    // A stale tmp file left by a crashed cut.
    let stale = disk.open("wal/0.tmp", OpenOptions::create()).unwrap();
    stale.write_at(0, &[0xee; 9000]).unwrap();
    drop(stale);

    let mut p = FilePipeline::new(dyn_disk(&disk), "wal", 4096);
    p.prepare().unwrap();
    let first = p.take().unwrap();
    assert_eq!(first.path, "wal/0.tmp");
    assert_eq!(first.file.len().unwrap(), 4096, "truncated, then allocated to the segment size");
    assert!(first.file.map().unwrap().iter().all(|&b| b == 0), "no stale byte survives");
    let other = disk.open("wal/0.tmp", OpenOptions::read()).unwrap();
    assert!(matches!(other.try_lock(), Err(DiskError::Locked { .. })), "handed out locked");
    drop(other);

    let second = p.take().unwrap();
    assert_eq!(second.path, "wal/1.tmp", "never the file just handed out");
    disk.rename(&first.path, "wal/seg-a").unwrap();
    p.prepare().unwrap();
    p.close().unwrap();
    assert!(!disk.exists("wal/0.tmp").unwrap(), "close removes the prepared file");
    assert!(disk.exists("wal/1.tmp").unwrap(), "a handed-out file is the caller's");
}
