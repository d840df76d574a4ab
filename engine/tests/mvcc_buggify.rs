//! The engine's BUGGIFY sites, armed through `Store::buggify`: the path runs (a commit in the
//! middle of a batch, bolt's two flushes for a small commit) and the store reopens with what it
//! committed.

use std::rc::Rc;

use engine::buggify::{COMMIT_AFTER_APPLY, TWO_FLUSH_COMMIT};
use engine::mvcc::{Op, PutRequest, RangeRequest, Store, StoreConfig};
use engine::{Db, Options};
use sim::simulated::disk::{DiskConfig, SimDisk};
use sim::Seed;

fn put(k: &str, v: &str) -> Op {
    Op::Put(PutRequest { key: k.into(), value: v.into(), ..Default::default() })
}

fn open(disk: &Rc<SimDisk>) -> Store {
    let db = Db::open_on(disk.clone(), "db", Options::default()).unwrap();
    Store::open(db, StoreConfig::default()).unwrap()
}

fn value(s: &Store, k: &str) -> Option<Vec<u8>> {
    let r = s.range(&RangeRequest { key: k.into(), ..Default::default() }).unwrap();
    r.kvs.into_iter().next().map(|kv| kv.value)
}

#[test]
fn commit_after_apply_makes_the_entry_durable_at_once() {
    let disk = SimDisk::new(Seed(1).stream("disk"), DiskConfig::default());
    let mut s = open(&disk);
    s.apply(1, 1, &[put("a", "1")]).unwrap();
    assert_eq!(s.durable_index(), 0, "the batch is not due yet");
    s.buggify(&mut |site| site == COMMIT_AFTER_APPLY);
    s.apply(2, 1, &[put("b", "2")]).unwrap();
    assert_eq!(s.durable_index(), 2, "armed: committed right after the entry");
    s.apply(3, 1, &[put("c", "3")]).unwrap();
    assert_eq!(s.durable_index(), 2, "once only");
    drop(s);
    disk.crash();
    let s = open(&disk);
    assert_eq!(s.consistent_index().0, 2);
    assert_eq!(value(&s, "b").as_deref(), Some(&b"2"[..]));
    assert_eq!(value(&s, "c"), None, "entry 3 was never committed");
}

#[test]
fn a_two_flush_commit_syncs_twice_and_reads_back() {
    let ops_of_commit = |armed: bool| {
        let disk = SimDisk::new(Seed(2).stream("disk"), DiskConfig::default());
        let mut s = open(&disk);
        s.apply(1, 1, &[put("a", "1")]).unwrap();
        s.commit().unwrap();
        s.apply(2, 1, &[put("b", "2")]).unwrap();
        s.buggify(&mut |site| armed && site == TWO_FLUSH_COMMIT);
        let before = disk.ops();
        s.commit().unwrap();
        let ops = disk.ops() - before;
        assert_eq!(s.db().one_flush_max_bytes(), Options::default().one_flush_max_bytes);
        drop(s);
        disk.crash();
        let s = open(&disk);
        assert_eq!((s.consistent_index().0, value(&s, "b").as_deref()), (2, Some(&b"2"[..])));
        ops
    };
    let (one, two) = (ops_of_commit(false), ops_of_commit(true));
    assert!(two > one, "two flushes take more disk operations: {two} vs {one}");
}
