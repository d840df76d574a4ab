//! The snapshotter's planted bugs (`raft::planted`, layer `snapshotter`): each test switches one
//! on and shows the snapshotter now breaks its rule, and that it keeps the rule when off.

mod wal_support;

use raft::core::{ConfState, Snapshot, SnapshotMetadata};
use raft::planted;
use raft::snap::{SnapError, Snapshotter};
use sim::planted::{Activation, PlantedBug};
use wal_support::*;

fn snapshot(index: u64, term: u64) -> Snapshot {
    Snapshot {
        metadata: SnapshotMetadata {
            conf_state: ConfState { voters: vec![1, 2, 3], learners: vec![] },
            index,
            term,
        },
        data: (0..2000u64).map(|i| (i * 7 + index) as u8).collect(),
    }
}

fn with_bug<T>(bug: Option<&'static PlantedBug>, f: impl FnOnce() -> T) -> T {
    let _b = Activation::new(bug);
    f()
}

/// Saves a snapshot, loses power, and loads: the result per crash seed.
fn load_after_power_loss(seed: u64) -> Result<Snapshot, SnapError> {
    let disk = sim_disk(seed);
    let ss = Snapshotter::new(dyn_disk(&disk), "snap");
    ss.save(&snapshot(30, 2)).unwrap();
    disk.crash();
    Snapshotter::new(dyn_disk(&disk), "snap").load()
}

#[test]
fn snap_save_skips_fsync_loses_a_saved_snapshot() {
    for seed in 0..16 {
        let got = with_bug(None, || load_after_power_loss(seed));
        assert_eq!(got, Ok(snapshot(30, 2)), "seed {seed}: a saved snapshot survives a crash");
    }
    let lost = with_bug(Some(&planted::SNAP_SAVE_SKIPS_FSYNC), || {
        (0..16).filter(|&s| load_after_power_loss(s).is_err()).count()
    });
    assert!(lost > 0, "with the bug no crash lost the unsynced snapshot data");
}

/// Three snapshots with WAL markers for all of them: the one `load_newest_available` picks.
fn chosen() -> u64 {
    let disk = sim_disk(3);
    let ss = Snapshotter::new(dyn_disk(&disk), "snap");
    for (index, term) in [(10, 1), (20, 1), (30, 2)] {
        ss.save(&snapshot(index, term)).unwrap();
    }
    let markers = [marker(10, 1), marker(20, 1), marker(30, 2)];
    ss.load_newest_available(&markers).unwrap().metadata.index
}

#[test]
fn snap_load_oldest_boots_from_a_stale_snapshot() {
    assert_eq!(with_bug(None, chosen), 30, "the newest snapshot with a marker wins");
    assert_eq!(with_bug(Some(&planted::SNAP_LOAD_OLDEST), chosen), 10, "with the bug the oldest");
}
