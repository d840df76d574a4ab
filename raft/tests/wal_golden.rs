//! Golden bytes of a small two-segment WAL, so any format change shows up in review.

mod wal_support;

use raft::core::ConfState;
use raft::wal::{dump, Wal};
use sim::io::{Disk, OpenOptions};
use wal_support::*;

#[test]
fn two_segment_wal_bytes() {
    let disk = sim_disk(1);
    let mut wal = Wal::create(dyn_disk(&disk), "wal", b"golden", config(192)).unwrap();
    wal.save(&hs(1, 1, 0), &[entry(1, 1, 8), entry(2, 1, 40)]).unwrap();
    wal.save(&hs(1, 1, 2), &[entry(3, 1, 64)]).unwrap(); // passes 192 bytes: cut
    let mut snap = marker(2, 1);
    snap.conf_state = ConfState { voters: vec![1, 2, 3], learners: vec![] };
    wal.save_snapshot(&snap).unwrap();
    wal.save(&hs(2, 1, 3), &[entry(4, 2, 3)]).unwrap();
    wal.close().unwrap();

    let names: Vec<String> =
        disk.list("wal").unwrap().into_iter().filter(|n| n.ends_with(".wal")).collect();
    assert_eq!(names.len(), 2, "{names:?}");
    let mut out = String::new();
    for name in &names {
        let bytes = disk.open(&format!("wal/{name}"), OpenOptions::read()).unwrap().map().unwrap();
        out.push_str(&format!("== {name} ({} bytes)\n{}", bytes.len(), hexdump(&bytes)));
    }
    let (records, err) = dump(&*disk, "wal").unwrap();
    assert_eq!(err, None);
    out.push_str("== records\n");
    for r in records {
        out.push_str(&format!(
            "{} @{:>4} {:<8} {} data bytes\n",
            r.segment, r.offset, r.kind, r.data_len
        ));
    }
    insta::assert_snapshot!(out);
}
