//! `release_lock_to` with etcd's semantics (the seed notes' example) and purge of released
//! segments.

mod wal_support;

use std::rc::Rc;

use raft::wal::{purge, snapshot_markers, SegmentName, Wal};
use sim::io::{Disk, DiskError, OpenOptions};
use sim::simulated::disk::SimDisk;
use wal_support::*;

/// A WAL whose segments have first indexes 0, 1, 2, ..., 6: the segment size is tiny, so every
/// save cuts; a state-only save cuts for index 1, then each entry i cuts for index i + 1.
fn wal_with_segments_0_to_6(disk: &Rc<SimDisk>) -> Wal {
    let mut wal = Wal::create(dyn_disk(disk), "wal", b"m", config(1)).unwrap();
    wal.save(&hs(1, 0, 0), &[]).unwrap();
    for i in 1..=5 {
        wal.save(&hs(1, 1, i - 1), &[entry(i, 1, 10)]).unwrap();
    }
    let indexes: Vec<u64> = wal.locked_segments().iter().map(|s| s.index).collect();
    assert_eq!(indexes, vec![0, 1, 2, 3, 4, 5, 6]);
    wal
}

/// First indexes of the held segments.
fn held(wal: &Wal) -> Vec<u64> {
    wal.locked_segments().iter().map(|s| s.index).collect()
}

/// Whether another handle can lock segment `name` right now.
fn lockable(disk: &dyn Disk, name: &SegmentName) -> bool {
    let f = disk.open(&format!("wal/{name}"), OpenOptions::read()).unwrap();
    match f.try_lock() {
        Ok(()) => true,
        Err(DiskError::Locked { .. }) => false,
        Err(e) => panic!("{e}"),
    }
}

/// Brings the WAL to the notes' starting point: holding exactly 1..6.
fn holding_1_to_6(disk: &Rc<SimDisk>) -> Wal {
    let mut wal = wal_with_segments_0_to_6(disk);
    wal.release_lock_to(0);
    wal.release_lock_to(1);
    assert_eq!(held(&wal), vec![0, 1, 2, 3, 4, 5, 6], "nothing below 0 or 1 to release");
    wal.release_lock_to(2);
    assert_eq!(held(&wal), vec![1, 2, 3, 4, 5, 6]);
    wal
}

#[test]
fn release_to_4_releases_1_and_2_and_keeps_3() {
    let disk = sim_disk(1);
    let mut wal = holding_1_to_6(&disk);
    let before = wal.locked_segments();
    wal.release_lock_to(4);
    assert_eq!(held(&wal), vec![3, 4, 5, 6]);
    assert!(lockable(&*disk, &before[0]) && lockable(&*disk, &before[1]), "1 and 2 released");
    for kept in &before[2..] {
        assert!(!lockable(&*disk, kept), "{kept} must stay locked");
    }
}

#[test]
fn release_to_5_releases_1_2_3_and_keeps_4() {
    let disk = sim_disk(2);
    let mut wal = holding_1_to_6(&disk);
    wal.release_lock_to(5);
    assert_eq!(held(&wal), vec![4, 5, 6]);
}

#[test]
fn release_never_drops_the_tail() {
    let disk = sim_disk(3);
    let mut wal = holding_1_to_6(&disk);
    wal.release_lock_to(1000);
    assert_eq!(held(&wal), vec![6], "beyond every index: all but the tail released");
    wal.save(&hs(1, 1, 5), &[entry(6, 1, 10)]).unwrap();
}

#[test]
fn purge_removes_only_released_segments_and_keeps_the_configured_number() {
    let disk = sim_disk(4);
    let mut wal = wal_with_segments_0_to_6(&disk);
    assert_eq!(purge(&*disk, "wal", 2).unwrap(), Vec::<String>::new(), "all still locked");
    wal.release_lock_to(4);
    assert_eq!(held(&wal), vec![3, 4, 5, 6]);
    // Keep 5 of 7: removes the two oldest (0 and 1), although 2 is released too.
    let removed = purge(&*disk, "wal", 5).unwrap();
    assert_eq!(
        removed,
        vec![
            SegmentName { seq: 0, index: 0 }.to_string(),
            SegmentName { seq: 1, index: 1 }.to_string(),
        ]
    );
    // Keep 1: stops at the first locked segment (3).
    let removed = purge(&*disk, "wal", 1).unwrap();
    assert_eq!(removed, vec![SegmentName { seq: 2, index: 2 }.to_string()]);
    let left: Vec<_> =
        disk.list("wal").unwrap().into_iter().filter(|n| n.ends_with(".wal")).collect();
    assert_eq!(left.len(), 4);
    // The WAL still opens at a snapshot in the kept range, and the markers can still be read
    // although the CRC chain now starts in a later segment (etcd issue 11918).
    wal.save_snapshot(&marker(3, 1)).unwrap();
    drop(wal);
    let markers: Vec<(u64, u64)> =
        snapshot_markers(&*disk, "wal").unwrap().iter().map(|m| (m.index, m.term)).collect();
    assert_eq!(markers, vec![(3, 1)]);
    let (_, got) = Wal::open(dyn_disk(&disk), "wal", &marker(3, 1), config(1)).unwrap();
    let idx: Vec<u64> = got.entries.iter().map(|e| e.index).collect();
    assert_eq!(idx, vec![4, 5]);
}
