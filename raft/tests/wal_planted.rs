//! The WAL's planted bugs (`raft::planted`, layer `wal`): each test switches one on and shows
//! the WAL now breaks the rule the bug's summary names, and that it keeps the rule when off.

mod wal_support;

use raft::core::{Entry, HardState};
use raft::planted;
use raft::wal::{dump, RecordType, Repair, Wal, WalError};
use sim::io::{Disk, DiskError, OpenOptions};
use sim::planted::{Activation, PlantedBug};
use wal_support::*;

const SEGMENT: u64 = 64 * 1024;

fn with_bug<T>(bug: Option<&'static PlantedBug>, f: impl FnOnce() -> T) -> T {
    let _b = Activation::new(bug);
    f()
}

/// Saves two entries with term 1 and vote 1, then a vote for 2 in term 2 alone (no entries),
/// and loses power: the hard state a reopen finds, per crash seed.
fn vote_after_power_loss(seed: u64) -> raft::core::HardState {
    let disk = sim_disk(seed);
    let (mut wal, _) = filled_wal(&disk, SEGMENT, 1, 2, 50);
    wal.save(&hs(2, 2, 1), &[]).unwrap();
    drop(wal);
    disk.crash();
    let (_, got) = Wal::open(dyn_disk(&disk), "wal", &marker(0, 0), config(SEGMENT)).unwrap();
    got.hard_state
}

#[test]
fn wal_sync_entries_only_forgets_a_granted_vote() {
    let seeds = 0..24;
    for seed in seeds.clone() {
        let got = with_bug(None, || vote_after_power_loss(seed));
        assert_eq!(got, hs(2, 2, 1), "seed {seed}: a saved vote must survive a power loss");
    }
    let lost = with_bug(Some(&planted::WAL_SYNC_ENTRIES_ONLY), || {
        seeds.filter(|&s| vote_after_power_loss(s) != hs(2, 2, 1)).count()
    });
    assert!(lost > 0, "with the bug no crash lost the unsynced vote");
}

/// Fills the first segment until a cut, saves (and syncs) one more entry into the new segment,
/// loses power, and returns how many entries a reopen finds against how many were saved.
fn entries_after_cut_and_power_loss(seed: u64) -> (usize, usize) {
    let disk = sim_disk(seed);
    let mut wal = Wal::create(dyn_disk(&disk), "wal", b"m", config(2048)).unwrap();
    let mut saved = 0u64;
    while wal.locked_segments().len() < 2 {
        saved += 1;
        wal.save(&hs(1, 1, saved - 1), &[entry(saved, 1, 200)]).unwrap();
    }
    saved += 1;
    wal.save(&hs(1, 1, saved - 1), &[entry(saved, 1, 200)]).unwrap();
    drop(wal);
    disk.crash();
    let (_, got) = Wal::open(dyn_disk(&disk), "wal", &marker(0, 0), config(2048)).unwrap();
    (got.entries.len(), saved as usize)
}

#[test]
fn wal_cut_skips_dir_sync_loses_the_new_segment() {
    let seeds = 0..16;
    for seed in seeds.clone() {
        let (got, saved) = with_bug(None, || entries_after_cut_and_power_loss(seed));
        assert_eq!(got, saved, "seed {seed}: every synced entry survives a cut and a crash");
    }
    let lost = with_bug(Some(&planted::WAL_CUT_SKIPS_DIR_SYNC), || {
        seeds
            .filter(|&s| {
                let (got, saved) = entries_after_cut_and_power_loss(s);
                got < saved
            })
            .count()
    });
    assert!(lost > 0, "with the bug no crash undid the unsynced rename");
}

/// What a reopen recovered against what had been synced before it.
struct Recovered {
    synced: Vec<Entry>,
    synced_state: HardState,
    entries: Vec<Entry>,
    state: HardState,
}

/// Three synced saves, then a length word whose frame runs past the end of the file (what a
/// torn last write leaves); `open_repairing` recovers.
fn repair_after_torn_tail() -> (Recovered, Repair) {
    let disk = sim_disk(7);
    let (wal, synced) = filled_wal(&disk, SEGMENT, 3, 1, 60);
    let (end, synced_state) = (wal.tail_offset(), wal.hard_state());
    drop(wal);
    let f = disk.open(&seg_path(FIRST), OpenOptions::write()).unwrap();
    f.write_at(end, &raft::wal::record::encode_len_word(SEGMENT).to_le_bytes()).unwrap();
    f.sync().unwrap();
    drop(f);
    let (_, got, repaired) =
        Wal::open_repairing(dyn_disk(&disk), "wal", &marker(0, 0), config(SEGMENT)).unwrap();
    let r = Recovered { synced, synced_state, entries: got.entries, state: got.hard_state };
    (r, repaired)
}

#[test]
fn wal_repair_drops_last_valid_cuts_off_a_synced_record() {
    let (r, repaired) = with_bug(None, repair_after_torn_tail);
    assert!(matches!(repaired, Repair::Truncated { .. }), "{repaired:?}");
    assert_eq!(r.entries, r.synced, "repair keeps every entry before the torn record");
    assert_eq!(r.state, r.synced_state, "and the last synced hard state");
    let (r, _) = with_bug(Some(&planted::WAL_REPAIR_DROPS_LAST_VALID), repair_after_torn_tail);
    // The last valid record is the third save's hard state.
    assert_ne!(r.state, r.synced_state, "with the bug the last synced record is cut off");
}

const FIRST: &str = "0000000000000000-0000000000000000.wal";

/// Four synced saves in one (the last) segment, then bit rot in the second entry's data.
fn open_after_bit_rot() -> (Recovered, Result<Repair, WalError>) {
    let disk = sim_disk(8);
    let (wal, synced) = filled_wal(&disk, SEGMENT, 4, 1, 60);
    let synced_state = wal.hard_state();
    wal.close().unwrap();
    let (records, err) = dump(&*disk, "wal").unwrap();
    assert_eq!(err, None);
    let victim = records.iter().filter(|r| r.kind == RecordType::Entry).nth(1).unwrap();
    disk.flip_bits_on_read(&seg_path(FIRST), victim.offset + 8 + 5 + 10, 1);
    match Wal::open_repairing(dyn_disk(&disk), "wal", &marker(0, 0), config(SEGMENT)) {
        Ok((_, got, repaired)) => {
            let r = Recovered { synced, synced_state, entries: got.entries, state: got.hard_state };
            (r, Ok(repaired))
        }
        Err(e) => {
            let r =
                Recovered { synced, synced_state, entries: vec![], state: HardState::default() };
            (r, Err(e))
        }
    }
}

#[test]
fn wal_crc_mismatch_as_torn_repairs_bit_rot_away() {
    let (_, outcome) = with_bug(None, open_after_bit_rot);
    assert!(
        matches!(outcome, Err(WalError::CrcMismatch { .. })),
        "corruption is refused: {outcome:?}"
    );
    let (r, outcome) = with_bug(Some(&planted::WAL_CRC_MISMATCH_AS_TORN), open_after_bit_rot);
    assert!(matches!(outcome, Ok(Repair::Truncated { .. })), "{outcome:?}");
    assert_eq!(r.entries, r.synced[..1], "with the bug synced entries 2.. are truncated away");
}

/// A save whose sync fails, a reopen without a power loss (the page cache still shows the
/// failed records), a synced save, then a power loss: (entries found, entries acknowledged).
fn reopen_after_failed_sync(seed: u64) -> (usize, usize) {
    let disk = sim_disk(seed);
    let (mut wal, acked) = filled_wal(&disk, SEGMENT, 2, 3, 100);
    let next = acked.len() as u64 + 1;
    disk.fail_next_sync("wal/");
    let failed: Vec<Entry> = (next..next + 3).map(|i| entry(i, 2, 100)).collect();
    let err = wal.save(&hs(2, 2, next - 1), &failed).unwrap_err();
    assert!(matches!(err, WalError::Disk(DiskError::Io { .. })), "{err}");
    drop(wal);
    let (mut wal, seen) =
        Wal::open(dyn_disk(&disk), "wal", &marker(0, 0), config(SEGMENT)).unwrap();
    let after = entry(next + 3, 2, 100);
    wal.save(&hs(2, 2, next + 3), std::slice::from_ref(&after)).unwrap();
    drop(wal);
    disk.crash();
    let (_, got) = Wal::open(dyn_disk(&disk), "wal", &marker(0, 0), config(SEGMENT)).unwrap();
    (got.entries.len(), seen.entries.len() + 1)
}

#[test]
fn wal_open_trusts_page_cache_loses_entries_synced_after_reopen() {
    for seed in 0..8 {
        let (got, acked) = with_bug(None, || reopen_after_failed_sync(seed));
        assert_eq!(got, acked, "seed {seed}: everything acknowledged after the reopen survives");
    }
    let lost = with_bug(Some(&planted::WAL_OPEN_TRUSTS_PAGE_CACHE), || {
        (0..8)
            .filter(|&s| {
                let (got, acked) = reopen_after_failed_sync(s);
                got < acked
            })
            .count()
    });
    assert!(lost > 0, "with the bug no power loss opened a hole under the new records");
}
