//! Audit mode and the open report on correct code: readers held open across many commits see
//! no violation, and the open report shows what open read.

use std::rc::Rc;

use engine::meta::Meta;
use engine::{Db, Options, Tx};
use rand::Rng as _;
use sim::simulated::disk::{DiskConfig, SimDisk};
use sim::Seed;

fn open(disk: &Rc<SimDisk>, audit: bool) -> Db {
    let options = Options { page_size: 1024, audit, ..Options::default() };
    Db::open_on(disk.clone(), "db", options).expect("open")
}

/// A bucket's items in key order.
type Items = Vec<(Vec<u8>, Option<Vec<u8>>)>;

fn contents(tx: &Tx) -> Items {
    let Some(b) = tx.bucket(b"b").unwrap() else { return Vec::new() };
    let mut c = b.cursor();
    let mut out = Vec::new();
    let mut item = c.first().unwrap();
    while let Some(kv) = item {
        out.push(kv);
        item = c.next().unwrap();
    }
    out
}

#[test]
fn readers_across_many_commits_see_no_violation() {
    for seed in 0..4u64 {
        let disk = SimDisk::new(Seed(seed).stream("disk"), DiskConfig::default());
        let db = open(&disk, true);
        let mut rng = Seed(seed).stream("audit");
        // Open readers with what they saw when they began.
        let mut readers: Vec<(Tx, Items)> = Vec::new();
        for step in 0..120 {
            db.update(|tx| {
                let b = tx.create_bucket_if_not_exists(b"b")?;
                for _ in 0..rng.random_range(1..30) {
                    let k = format!("k{:03}", rng.random_range(0..300u32));
                    if rng.random_bool(0.2) {
                        b.delete(k.as_bytes())?;
                    } else {
                        b.put(k.as_bytes(), &vec![step as u8; rng.random_range(1..120)])?;
                    }
                }
                Ok(())
            })
            .unwrap();
            if rng.random_bool(0.3) {
                let tx = db.begin(false).unwrap();
                let seen = contents(&tx);
                readers.push((tx, seen));
            }
            if !readers.is_empty() && rng.random_bool(0.25) {
                let (tx, seen) = readers.remove(rng.random_range(0..readers.len()));
                assert_eq!(contents(&tx), seen, "seed {seed} step {step}");
                tx.rollback().unwrap();
            }
        }
        drop(readers);
        assert_eq!(db.take_audit_violations(), vec![], "seed {seed}");
        assert!(db.view(|tx| Ok(tx.check())).unwrap().is_empty());
    }
}

#[test]
fn audit_off_records_nothing() {
    let disk = SimDisk::new(Seed(9).stream("disk"), DiskConfig::default());
    let db = open(&disk, false);
    db.update(|tx| tx.create_bucket(b"b").map(|_| ())).unwrap();
    assert!(db.take_audit_violations().is_empty());
}

#[test]
fn the_open_report_holds_both_slots_and_the_choice() {
    let disk = SimDisk::new(Seed(1).stream("disk"), DiskConfig::default());
    let db = open(&disk, false);
    let fresh = db.take_open_report().expect("first ask");
    assert!(db.take_open_report().is_none(), "handed out once");
    assert_eq!(fresh.chosen_txid, 1);
    for _ in 0..3 {
        db.update(|tx| tx.create_bucket_if_not_exists(b"b").map(|_| ())).unwrap();
    }
    let last = db.meta().txid;
    drop(db);
    let db = open(&disk, false);
    let r = db.take_open_report().unwrap();
    assert_eq!(r.chosen_txid, last);
    assert!(!r.rejected_newest);
    assert_eq!((r.slots[0].offset, r.slots[1].offset), (0, 1024));
    let txids: Vec<u64> =
        r.slots.iter().map(|s| Meta::from_page(&s.bytes).expect("valid slot").txid).collect();
    assert_eq!(txids.iter().max(), Some(&last));
    assert_eq!(txids.iter().min(), Some(&(last - 1)));
}
