//! Disk faults other than crashes: a failed fsync poisons the WAL (fsyncgate: the data may be
//! gone even though reads still return it), and a full disk fails the cut that needs space
//! without losing what was acknowledged.

mod wal_support;

use raft::core::Entry;
use raft::wal::{Wal, WalError};
use sim::io::DiskError;
use wal_support::*;

#[test]
fn failed_sync_poisons_the_wal_and_unsynced_data_is_not_trusted() {
    let disk = sim_disk(1);
    let (mut wal, acked) = filled_wal(&disk, 4096, 4, 2, 50);
    disk.fail_next_sync("wal/");
    let err = wal.save(&hs(1, 1, 8), &[entry(9, 1, 50)]).unwrap_err();
    assert!(matches!(err, WalError::Disk(DiskError::Io { .. })), "{err}");
    assert_eq!(wal.save(&hs(1, 1, 8), &[entry(10, 1, 50)]), Err(WalError::Poisoned));
    assert_eq!(wal.sync(), Err(WalError::Poisoned));
    drop(wal);
    disk.crash();
    let (_, got) = Wal::open(dyn_disk(&disk), "wal", &marker(0, 0), config(4096)).unwrap();
    assert_eq!(got.entries, acked, "exactly the acknowledged entries survive");
}

#[test]
fn full_disk_fails_the_cut_that_needs_space_and_loses_nothing_acknowledged() {
    let disk = sim_disk(2);
    let mut wal = Wal::create(dyn_disk(&disk), "wal", b"m", config(4096)).unwrap();
    // Room for the two preallocated files plus 2 KiB of growth: the first cut succeeds (its
    // file was prepared before the disk filled), preparing the next one fails quietly, and the
    // second cut fails with NoSpace.
    disk.set_capacity(Some(2 * 4096 + 2048));
    let mut acked: Vec<Entry> = Vec::new();
    let mut failure = None;
    for i in 1..=40u64 {
        let e = entry(i, 1, 400);
        match wal.save(&hs(1, 1, i - 1), std::slice::from_ref(&e)) {
            Ok(()) => acked.push(e),
            Err(err) => {
                failure = Some(err);
                break;
            }
        }
    }
    let err = failure.expect("the disk must fill up");
    assert!(matches!(err, WalError::Disk(DiskError::NoSpace { .. })), "{err}");
    assert!(wal.locked_segments().len() >= 2, "the first cut succeeded");
    assert_eq!(wal.save(&hs(1, 1, 0), &[entry(99, 1, 1)]), Err(WalError::Poisoned));
    drop(wal);

    disk.set_capacity(None);
    disk.crash();
    let (mut wal, got) = Wal::open(dyn_disk(&disk), "wal", &marker(0, 0), config(4096)).unwrap();
    assert!(got.entries.len() >= acked.len(), "lost acknowledged entries");
    assert_eq!(got.entries[..acked.len()], acked[..]);
    let next = got.entries.len() as u64 + 1;
    wal.save(&hs(1, 1, next - 1), &[entry(next, 1, 400)]).unwrap();
}
