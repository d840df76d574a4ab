//! What a member's boot does with a damaged WAL, as etcd's server does
//! (`bootstrapWALFromSnapshot`: open, read all, and only on `io.ErrUnexpectedEOF` — a torn last
//! record — repair once and read again; anything else is fatal):
//!
//! - boot first lists the snapshot markers in read mode ([`raft::wal::snapshot_markers`], etcd's
//!   `ValidSnapshotEntries`), where a torn tail just ends the scan like a clean end;
//! - then [`raft::wal::Wal::open_repairing`]: a torn last record of the last segment is cut off
//!   with everything after it (none of it was synced: every sync covers whole records and the
//!   torn one is the first record no sync covered), and the WAL is read again;
//! - any other damage (a crc mismatch with no unwritten sector, a bad length word, damage in an
//!   earlier segment) is refused: the member halts (fail-stop) and keeps its files.

mod server_harness;

use raft::core::SnapshotMetadata;
use raft::server::boot::WAL_DIR;
use raft::wal::{dump, read_all, RecordInfo, RecordType, Repair, WalContents};
use server_harness::{ms, TestCluster};
use sim::io::{Disk, OpenOptions};
use sim::{Halt, NodeId};

/// A cluster that wrote `n` keys, every member caught up, a follower stopped: (cluster,
/// follower).
fn stopped_follower(seed: u64, n: usize) -> (TestCluster, NodeId) {
    let mut c = TestCluster::new(seed, |_| {});
    let l = c.await_stable_leader(ms(10_000));
    let ids: Vec<u64> = (0..n).map(|i| c.put(l, &format!("k{i}"), "value")).collect();
    c.await_answers(&ids, ms(10_000));
    let nodes = c.nodes();
    let min = c.running(l).expect("leader up").applied_index();
    c.await_converged(&nodes, min, ms(5_000));
    let f = c.nodes().into_iter().find(|n| *n != l).expect("a follower");
    for n in c.nodes() {
        c.w.stop(n);
    }
    (c, f)
}

fn records(disk: &dyn Disk) -> Vec<RecordInfo> {
    let (records, err) = dump(disk, WAL_DIR).expect("the WAL lists");
    assert_eq!(err, None, "the WAL is clean before the damage");
    records
}

fn contents(disk: &dyn Disk) -> WalContents {
    read_all(disk, WAL_DIR, &SnapshotMetadata::default()).expect("the WAL reads")
}

/// The offset after the record `r` (frames are 8-byte aligned).
fn end_of(r: &RecordInfo) -> u64 {
    let body = 5 + r.data_len as u64;
    r.offset + 8 + body.div_ceil(8) * 8
}

#[test]
fn a_torn_last_record_is_cut_off_and_every_synced_record_kept() {
    let (mut c, f) = stopped_follower(3, 30);
    let disk = c.w.disk(f);
    let before = contents(&*disk);
    let last = records(&*disk).pop().expect("records");
    let end = end_of(&last);
    // A torn write: the length word of an entry reached the disk, its body did not (the frame
    // runs past the end of the preallocated file).
    let path = format!("{WAL_DIR}/{}", last.segment);
    let file = disk.open(&path, OpenOptions::write()).unwrap();
    let len = file.len().unwrap();
    file.write_at(end, &raft::wal::record::encode_len_word(len).to_le_bytes()).unwrap();
    file.sync().unwrap();
    drop(file);

    c.w.restart(f);
    c.run_for(ms(1));
    let r = c.running(f).unwrap_or_else(|| panic!("{f} did not boot: {:?}", c.w.halts()));
    let broken = format!("{path}.broken");
    assert_eq!(
        r.boot_repair(),
        &Repair::Truncated { segment: last.segment.clone(), offset: end, broken },
        "boot repaired the torn record and nothing before it"
    );
    let after = contents(&*disk);
    assert_eq!(after.entries, before.entries, "every synced entry survives the repair");
    assert_eq!(after.hard_state, before.hard_state, "and the last synced hard state");
}

#[test]
fn a_clean_wal_boots_without_repair() {
    let (mut c, f) = stopped_follower(4, 5);
    c.w.restart(f);
    c.run_for(ms(1));
    let r = c.running(f).expect("booted");
    assert_eq!(r.boot_repair(), &Repair::Clean);
}

#[test]
fn corruption_before_the_last_record_is_refused_and_the_member_stays_down() {
    let (mut c, f) = stopped_follower(5, 30);
    let disk = c.w.disk(f);
    let entries: Vec<RecordInfo> =
        records(&*disk).into_iter().filter(|r| r.kind == RecordType::Entry).collect();
    let victim = &entries[entries.len() / 2];
    let path = format!("{WAL_DIR}/{}", victim.segment);
    let len_before = disk.open(&path, OpenOptions::read()).unwrap().len().unwrap();
    disk.flip_bits_on_read(&path, victim.offset + 8 + 5 + 2, 1);

    c.w.restart(f);
    c.run_for(ms(1));
    assert!(c.running(f).is_none(), "{f} booted on a corrupt WAL");
    let why =
        c.w.halts()
            .iter()
            .rev()
            .find_map(|(_, n, h)| match h {
                Halt::Fatal(why) if *n == f => Some(why.clone()),
                _ => None,
            })
            .expect("a fatal halt");
    assert!(
        why.contains("crc mismatch")
            && why.contains(&victim.segment)
            && why.contains(&victim.offset.to_string()),
        "the halt names the damage: {why}"
    );
    let len_after = disk.open(&path, OpenOptions::read()).unwrap().len().unwrap();
    assert_eq!(len_after, len_before, "nothing was truncated");
    assert!(!disk.exists(&format!("{path}.broken")).unwrap(), "no repair was attempted");
}
