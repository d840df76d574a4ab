//! A WAL reopened after a failed fsync (without a power loss in between) must not build on bytes
//! it can read but the disk does not hold.
//!
//! fsyncgate: when an fsync fails, the kernel may drop the dirty pages' claim on the disk while
//! keeping them readable in the page cache. The server halts on the error; the next incarnation
//! (same machine, same page cache) reads those records back as if they were durable. If it then
//! appends after them and syncs, only the new pages reach the disk: after a power loss the log
//! holds the old records, a hole where the failed ones were, then the new ones — and a hole ends
//! the log, so entries and votes acknowledged after the restart are lost. Found by `dst run
//! swarm --seed 3`: a follower lost 150 synced entries and its term, and a committed index was
//! later applied with another term.

mod wal_support;

use raft::core::Entry;
use raft::wal::{Wal, WalError};
use sim::io::DiskError;
use wal_support::*;

/// Saves a batch whose sync fails, reopens without a crash, saves more, then loses power:
/// everything the reopened WAL acknowledged must survive.
fn reopen_after_failed_sync(seed: u64, batches: u64) {
    let disk = sim_disk(seed);
    let (mut wal, mut acked) = filled_wal(&disk, 64 * 1024, batches, 3, 100);
    let next = acked.len() as u64 + 1;
    disk.fail_next_sync("wal/");
    let failed: Vec<Entry> = (next..next + 3).map(|i| entry(i, 2, 100)).collect();
    let err = wal.save(&hs(2, 2, next - 1), &failed).unwrap_err();
    assert!(matches!(err, WalError::Disk(DiskError::Io { .. })), "{err}");
    drop(wal); // the server halts; no power loss: the page cache still shows `failed`

    let (mut wal, seen) = Wal::open(dyn_disk(&disk), "wal", &marker(0, 0), config(64 * 1024))
        .expect("reopen after the failed sync");
    assert_eq!(seen.entries.len(), acked.len() + failed.len(), "reads still see the failed batch");
    acked.extend(failed);
    let after: Vec<Entry> = (next + 3..next + 6).map(|i| entry(i, 2, 100)).collect();
    wal.save(&hs(2, 2, next + 5), &after).expect("save after reopening");
    acked.extend(after);
    drop(wal);

    disk.crash();
    let (_, got) = Wal::open(dyn_disk(&disk), "wal", &marker(0, 0), config(64 * 1024))
        .expect("reopen after the power loss");
    assert_eq!(
        got.entries.len(),
        acked.len(),
        "seed {seed}: entries acknowledged after the reopen were lost (last index {:?})",
        got.entries.last().map(|e| e.index)
    );
    assert_eq!(got.entries, acked, "seed {seed}");
    assert_eq!(got.hard_state, hs(2, 2, next + 5), "seed {seed}: the last synced hard state");
}

#[test]
fn entries_saved_after_reopening_on_a_failed_sync_survive_power_loss() {
    for seed in 0..16 {
        reopen_after_failed_sync(seed, 1 + seed % 4);
    }
}

/// The same with nothing but the WAL's creation before the failure: the failed batch is the
/// first thing after the header.
#[test]
fn a_failed_first_save_does_not_hide_later_ones() {
    for seed in 0..8 {
        reopen_after_failed_sync(seed, 0);
    }
}
