//! Damage that is not a torn tail must be reported with segment and offset and never be
//! truncated away; a torn tail is repaired by truncation with a `.broken` copy.

mod wal_support;

use raft::wal::{dump, read_all, repair, RecordType, Repair, Wal, WalError};
use sim::io::{Disk, OpenOptions};
use wal_support::*;

const SEGMENT: u64 = 1024;

/// A closed WAL of 30 entries of 90 bytes in 1 KiB segments (several segments).
fn setup(seed: u64) -> (std::rc::Rc<sim::simulated::disk::SimDisk>, Vec<raft::core::Entry>) {
    let disk = sim_disk(seed);
    let (wal, all) = filled_wal(&disk, SEGMENT, 15, 2, 90);
    wal.close().unwrap();
    (disk, all)
}

fn entry_records(disk: &dyn Disk) -> Vec<raft::wal::RecordInfo> {
    let (records, err) = dump(disk, "wal").unwrap();
    assert_eq!(err, None);
    records.into_iter().filter(|r| r.kind == RecordType::Entry).collect()
}

fn segment_names(disk: &dyn Disk) -> Vec<String> {
    disk.list("wal").unwrap().into_iter().filter(|n| n.ends_with(".wal")).collect()
}

#[test]
fn bit_flip_in_a_middle_record_names_segment_and_offset() {
    let (disk, _) = setup(1);
    let segments = segment_names(&*disk);
    assert!(segments.len() >= 3, "want at least 3 segments, have {segments:?}");
    let middle = &segments[segments.len() / 2];
    let victims: Vec<_> =
        entry_records(&*disk).into_iter().filter(|r| r.segment == *middle).collect();
    let victim = &victims[victims.len() / 2];
    // One bit of one data byte (offset + length word + type + crc + 10).
    disk.flip_bits_on_read(&seg_path(middle), victim.offset + 8 + 5 + 10, 1);

    let err = Wal::open(dyn_disk(&disk), "wal", &marker(0, 0), config(SEGMENT)).unwrap_err();
    match &err {
        WalError::CrcMismatch { segment, offset, .. } => {
            assert_eq!((segment, *offset), (middle, victim.offset), "{err}");
        }
        other => panic!("want a crc mismatch, got {other}"),
    }
    let shown = err.to_string();
    assert!(
        shown.contains(middle.as_str()) && shown.contains(&victim.offset.to_string()),
        "{shown}"
    );
    // Neither repair nor open_repairing truncates it away.
    assert_eq!(repair(&*disk, "wal"), Ok(Repair::Clean), "damage is not in the last segment");
    let again = Wal::open_repairing(dyn_disk(&disk), "wal", &marker(0, 0), config(SEGMENT));
    assert_eq!(again.unwrap_err(), err);
    assert_eq!(segment_names(&*disk), segments, "no segment may disappear");
}

#[test]
fn bit_flip_before_the_end_of_the_last_segment_is_not_a_torn_tail() {
    let (disk, _) = setup(2);
    let segments = segment_names(&*disk);
    let last = segments.last().unwrap();
    let victims: Vec<_> =
        entry_records(&*disk).into_iter().filter(|r| r.segment == *last).collect();
    assert!(victims.len() >= 2, "want two entries in the last segment");
    let victim = &victims[0];
    let path = seg_path(last);
    let len_before = disk.open(&path, OpenOptions::read()).unwrap().len().unwrap();
    disk.flip_bits_on_read(&path, victim.offset + 8 + 5 + 3, 1);

    let err = Wal::open(dyn_disk(&disk), "wal", &marker(0, 0), config(SEGMENT)).unwrap_err();
    assert!(
        matches!(&err, WalError::CrcMismatch { segment, offset, .. } if segment == last && *offset == victim.offset),
        "{err}"
    );
    assert_eq!(repair(&*disk, "wal").unwrap_err(), err, "repair refuses corruption");
    let len_after = disk.open(&path, OpenOptions::read()).unwrap().len().unwrap();
    assert_eq!(len_before, len_after, "repair must not truncate a corrupt segment");
    assert!(!disk.exists(&format!("{path}.broken")).unwrap());
}

#[test]
fn flipped_length_word_is_a_bad_frame_not_a_torn_tail() {
    let (disk, _) = setup(3);
    let segments = segment_names(&*disk);
    let last = segments.last().unwrap();
    let victim = entry_records(&*disk).into_iter().find(|r| r.segment == *last).unwrap();
    disk.flip_bits_on_read(&seg_path(last), victim.offset + 1, 1);
    let err = Wal::open(dyn_disk(&disk), "wal", &marker(0, 0), config(SEGMENT)).unwrap_err();
    assert!(
        matches!(&err, WalError::BadFrame { segment, offset, .. } if segment == last && *offset == victim.offset),
        "{err}"
    );
    assert!(repair(&*disk, "wal").is_err());
}

/// How a crash damaged the last record.
#[derive(Clone, Copy, Debug)]
enum Damage {
    /// The sector holding the record's middle never reached the disk (reads zeros).
    ZeroedSector,
    /// The file never grew to hold the whole record.
    ShortFile,
}

/// Writes 6 small entries then a 1500-byte one, damages the last record as `damage` says, and
/// checks that open reports a torn tail and repair truncates exactly that record.
fn torn_case(seed: u64, damage: Damage) {
    let disk = sim_disk(seed);
    let (mut wal, small) = filled_wal(&disk, 1 << 20, 3, 2, 90);
    wal.save(&hs(1, 1, 6), &[entry(7, 1, 1500)]).unwrap();
    wal.close().unwrap();
    let last = segment_names(&*disk).pop().unwrap();
    let path = seg_path(&last);
    let record = entry_records(&*disk).pop().unwrap();
    assert!(record.data_len > 1500, "{record:?}");

    let f = disk.open(&path, OpenOptions::write()).unwrap();
    match damage {
        Damage::ZeroedSector => f.write_at((record.offset + 600) / 512 * 512, &[0u8; 512]).unwrap(),
        Damage::ShortFile => f.set_len(record.offset + 700).unwrap(),
    }
    f.sync().unwrap();
    let damaged = f.map().unwrap().to_vec();
    drop(f);

    let err = Wal::open(dyn_disk(&disk), "wal", &marker(0, 0), config(1 << 20)).unwrap_err();
    assert_eq!(
        err,
        WalError::TornTail { segment: last.clone(), offset: record.offset },
        "{damage:?}"
    );
    let read = read_all(&*disk, "wal", &marker(0, 0)).unwrap();
    assert_eq!(read.entries, small, "{damage:?}: read mode stops at the torn record");
    let (_wal, got, repaired) =
        Wal::open_repairing(dyn_disk(&disk), "wal", &marker(0, 0), config(1 << 20)).unwrap();
    let broken = format!("{path}.broken");
    assert_eq!(
        repaired,
        Repair::Truncated { segment: last, offset: record.offset, broken: broken.clone() },
        "{damage:?}"
    );
    assert_eq!(got.entries, small, "{damage:?}: every entry before the torn one survives");
    assert_eq!(got.hard_state, hs(1, 1, 5), "{damage:?}: the torn save's state is gone too");
    let copy = disk.open(&broken, OpenOptions::read()).unwrap().map().unwrap().to_vec();
    assert_eq!(copy, damaged, "{damage:?}: .broken holds the segment as it was");
}

#[test]
fn torn_last_record_with_a_missing_sector_is_repaired() {
    torn_case(4, Damage::ZeroedSector);
}

#[test]
fn torn_last_record_past_the_end_of_the_file_is_repaired() {
    torn_case(5, Damage::ShortFile);
}

#[test]
fn garbage_segments_never_panic() {
    use rand::{Rng as _, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
    for round in 0..60 {
        let (disk, _) = setup(100 + round);
        let names = segment_names(&*disk);
        let victim = &names[rng.random_range(0..names.len())];
        let f = disk.open(&seg_path(victim), OpenOptions::write()).unwrap();
        let len = f.len().unwrap();
        for _ in 0..rng.random_range(1..6) {
            let at = rng.random_range(0..len);
            f.write_at(at, &[rng.random::<u8>()]).unwrap();
        }
        if rng.random_bool(0.3) {
            f.set_len(rng.random_range(0..len)).unwrap();
        }
        drop(f);
        // Any outcome but a panic is fine; an error must name a segment when it is about bytes.
        if let Err(e) = Wal::open_repairing(dyn_disk(&disk), "wal", &marker(0, 0), config(SEGMENT))
        {
            let named = names.iter().any(|n| e.to_string().contains(n.as_str()));
            assert!(named || matches!(e, WalError::SnapshotNotFound { .. }), "{e}");
        }
    }
}
