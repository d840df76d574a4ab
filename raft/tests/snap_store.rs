//! The snapshotter: round trip, newest wins, damaged files are renamed `.broken` and skipped,
//! and a crash at any disk operation of a save leaves the old or the new snapshot, never
//! garbage.

mod wal_support;

use raft::core::{ConfState, Snapshot, SnapshotMetadata};
use raft::snap::{SnapError, Snapshotter};
use sim::io::{Disk, OpenOptions};
use wal_support::*;

fn snapshot(index: u64, term: u64, len: usize) -> Snapshot {
    Snapshot {
        metadata: SnapshotMetadata {
            conf_state: ConfState { voters: vec![1, 2, 3], learners: vec![4] },
            index,
            term,
        },
        data: (0..len).map(|i| (i as u64 * 13 + index) as u8).collect(),
    }
}

#[test]
fn save_load_and_newest_wins() {
    let disk = sim_disk(1);
    let ss = Snapshotter::new(dyn_disk(&disk), "snap");
    assert_eq!(ss.load(), Err(SnapError::NoSnapshot));
    ss.save(&Snapshot::default()).unwrap();
    assert_eq!(ss.load(), Err(SnapError::NoSnapshot), "an empty snapshot is not saved");
    let (a, b) = (snapshot(10, 1, 100), snapshot(20, 2, 3000));
    ss.save(&a).unwrap();
    ss.save(&b).unwrap();
    assert_eq!(ss.load().unwrap(), b);
    assert_eq!(ss.load_newest_available(std::slice::from_ref(&a.metadata)).unwrap(), a);
    assert_eq!(ss.load_newest_available(&[marker(99, 9)]), Err(SnapError::NoSnapshot));
    assert_eq!(ss.purge(1).unwrap(), vec!["0000000000000001-000000000000000a.snap".to_string()]);
    assert_eq!(ss.names().unwrap(), vec!["0000000000000002-0000000000000014.snap".to_string()]);
}

#[test]
fn corrupt_snapshot_is_renamed_broken_and_skipped() {
    let disk = sim_disk(2);
    let ss = Snapshotter::new(dyn_disk(&disk), "snap");
    let (a, b) = (snapshot(10, 1, 100), snapshot(20, 2, 300));
    ss.save(&a).unwrap();
    ss.save(&b).unwrap();
    let newest = "snap/0000000000000002-0000000000000014.snap";
    let f = disk.open(newest, OpenOptions::write()).unwrap();
    f.write_at(100, &[0xff]).unwrap();
    drop(f);
    match ss.read("0000000000000002-0000000000000014.snap") {
        Err(SnapError::Corrupt { file, offset, .. }) => {
            assert_eq!((file.as_str(), offset), ("0000000000000002-0000000000000014.snap", 4));
        }
        other => panic!("want a corrupt error, got {other:?}"),
    }
    assert_eq!(ss.load().unwrap(), a, "falls back to the older valid snapshot");
    assert!(!disk.exists(newest).unwrap());
    assert!(disk.exists(&format!("{newest}.broken")).unwrap());
    assert_eq!(ss.names().unwrap().len(), 1);
}

#[test]
fn crash_at_every_disk_operation_of_save() {
    let (old, new) = (snapshot(10, 1, 700), snapshot(20, 2, 2500));
    let count_ops = || {
        let disk = sim_disk(3);
        let ss = Snapshotter::new(dyn_disk(&disk), "snap");
        ss.save(&old).unwrap();
        let before = disk.ops();
        ss.save(&new).unwrap();
        disk.ops() - before
    };
    let total = count_ops();
    assert!(total >= 5, "save does only {total} operations");
    let mut saw_old = 0;
    for k in 0..=total {
        for seed in 0..8u64 {
            let disk = sim_disk(100 * k + seed);
            let ss = Snapshotter::new(dyn_disk(&disk), "snap");
            ss.save(&old).unwrap();
            disk.crash_after_ops(k);
            let saved = ss.save(&new);
            assert_eq!(saved.is_ok(), k == total, "k {k}");
            disk.crash();
            let ss = Snapshotter::new(dyn_disk(&disk), "snap");
            let got = ss.load().unwrap_or_else(|e| panic!("k {k} seed {seed}: {e}"));
            if saved.is_ok() {
                assert_eq!(got, new, "k {k} seed {seed}: an acknowledged save was lost");
            } else if got == old {
                saw_old += 1;
            } else {
                assert_eq!(got, new, "k {k} seed {seed}: loaded neither snapshot");
            }
            assert!(
                disk.list("snap").unwrap().iter().all(|n| !n.ends_with(".broken")),
                "k {k} seed {seed}: a crash must never leave a damaged .snap"
            );
        }
    }
    assert!(saw_old > 0);
}
