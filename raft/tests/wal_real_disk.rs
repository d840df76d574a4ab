//! The same WAL on the real file system (sim::real::disk::RealDisk): cuts, locks held across
//! renames (flock), release + purge, and reopening. Real I/O in a fresh temporary directory.

mod wal_support;

use std::rc::Rc;

use raft::wal::{purge, Wal};
use sim::io::Disk;
use sim::real::disk::RealDisk;
use wal_support::*;

#[test]
fn wal_on_the_real_disk_cuts_releases_purges_and_reopens() {
    let root = std::env::temp_dir().join(format!("raft-wal-real-{}", std::process::id()));
    let real = RealDisk::new(&root).unwrap();
    let disk: Rc<dyn Disk> = real;
    let mut wal = Wal::create(Rc::clone(&disk), "wal", b"real", config(4096)).unwrap();
    let mut all = Vec::new();
    for i in 1..=40u64 {
        let e = entry(i, 1, 300);
        wal.save(&hs(1, 1, i - 1), std::slice::from_ref(&e)).unwrap();
        all.push(e);
    }
    let held = wal.locked_segments();
    assert!(held.len() >= 3, "{held:?}");
    assert_eq!(purge(&*disk, "wal", 1).unwrap(), Vec::<String>::new(), "every segment is locked");
    wal.save_snapshot(&marker(30, 1)).unwrap();
    wal.release_lock_to(30);
    let removed = purge(&*disk, "wal", 1).unwrap();
    assert!(!removed.is_empty(), "released segments are purged");
    assert!(removed.iter().all(|n| !wal.locked_segments().iter().any(|s| s.to_string() == *n)));
    wal.close().unwrap();

    let (_, got) = Wal::open(Rc::clone(&disk), "wal", &marker(30, 1), config(4096)).unwrap();
    assert_eq!(got.entries, all[30..]);
    assert_eq!(got.hard_state, hs(1, 1, 39));
    drop(disk);
    std::fs::remove_dir_all(&root).unwrap();
}
