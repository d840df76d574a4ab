//! The planted bugs of this crate (`engine::planted`): each test runs the same steps with the
//! bug off and on, and shows that the code misbehaves in the intended way only when it is on.

use std::rc::Rc;

use engine::audit::Violation;
use engine::mvcc::{DeleteRangeRequest, Op, PutRequest, RangeRequest, Store, StoreConfig};
use engine::{planted, CheckProblem, Db, Options};
use sim::io::{Disk, OpenOptions};
use sim::planted::{Activation, PlantedBug};
use sim::simulated::disk::{DiskConfig, SimDisk};
use sim::Seed;

const PATH: &str = "db";

fn disk(seed: u64) -> Rc<SimDisk> {
    SimDisk::new(Seed(seed).stream("planted"), DiskConfig::default())
}

fn options() -> Options {
    Options { page_size: 1024, audit: true, ..Options::default() }
}

fn open(disk: &Rc<SimDisk>, options: Options) -> Db {
    Db::open_on(disk.clone(), PATH, options).expect("open")
}

/// Runs `f` with `bug` switched on, then with it off, and returns both results (on, off).
fn on_and_off<T>(bug: &'static PlantedBug, f: impl Fn() -> T) -> (T, T) {
    let on = {
        let _b = Activation::new(Some(bug));
        f()
    };
    let off = {
        let _b = Activation::new(None);
        f()
    };
    (on, off)
}

/// Writes `n` keys of bucket `b` with values of `len` bytes made of `fill`.
fn put_all(db: &Db, n: u32, len: usize, fill: u8) {
    db.update(|tx| {
        let b = tx.create_bucket_if_not_exists(b"b")?;
        for k in 0..n {
            b.put(format!("key{k:04}").as_bytes(), &vec![fill; len])?;
        }
        Ok(())
    })
    .expect("update");
}

type Items = Vec<(Vec<u8>, Option<Vec<u8>>)>;

/// Reads every key of bucket `b` (visiting every page of it).
fn try_read_all(tx: &engine::Tx) -> engine::Result<Items> {
    let b = tx.bucket(b"b")?.ok_or(engine::Error::BucketNotFound)?;
    let mut c = b.cursor();
    let mut out = Vec::new();
    let mut item = c.first()?;
    while let Some(kv) = item {
        out.push(kv);
        item = c.next()?;
    }
    Ok(out)
}

fn read_all(tx: &engine::Tx) -> Items {
    try_read_all(tx).expect("read bucket b")
}

fn reuse_violations(v: &[Violation]) -> usize {
    v.iter().filter(|v| matches!(v, Violation::PageReusedUnderReader { .. })).count()
}

fn changed_views(v: &[Violation]) -> usize {
    v.iter().filter(|v| matches!(v, Violation::ReaderViewChanged { .. })).count()
}

#[test]
fn reader_slot_dropped_lets_the_writer_reuse_an_open_readers_pages() {
    let (on, off) = on_and_off(&planted::READER_SLOT_DROPPED, || {
        let d = disk(1);
        let db = open(&d, options());
        put_all(&db, 200, 40, 1);
        // Two readers at the same txid; one of them ends.
        let a = db.begin(false).unwrap();
        let before = read_all(&a);
        let b = db.begin(false).unwrap();
        read_all(&b);
        b.rollback().unwrap();
        for fill in 2..6 {
            put_all(&db, 200, 40, fill);
        }
        assert_eq!(read_all(&a), before, "a snapshot mapping keeps showing the old bytes");
        a.rollback().unwrap();
        db.take_audit_violations()
    });
    assert!(off.is_empty(), "correct code: {off:?}");
    assert!(reuse_violations(&on) > 0 && changed_views(&on) > 0, "bug on: {on:?}");
}

#[test]
fn release_by_newest_reader_reuses_an_older_readers_pages() {
    let (on, off) = on_and_off(&planted::RELEASE_BY_NEWEST_READER, || {
        let d = disk(2);
        let db = open(&d, options());
        put_all(&db, 200, 40, 1);
        let old = db.begin(false).unwrap();
        let old_txid = old.id();
        read_all(&old);
        put_all(&db, 200, 40, 2);
        put_all(&db, 200, 40, 3);
        // A second reader two commits newer.
        let new = db.begin(false).unwrap();
        read_all(&new);
        for fill in 4..8 {
            put_all(&db, 200, 40, fill);
        }
        drop((old, new));
        (old_txid, db.take_audit_violations())
    });
    assert!(off.1.is_empty(), "correct code: {off:?}");
    let (old_txid, on) = on;
    assert!(reuse_violations(&on) > 0, "bug on: {on:?}");
    let Violation::PageReusedUnderReader { reader_txid, .. } = on[0] else { unreachable!() };
    assert_eq!(reader_txid, old_txid, "the older reader is the victim: {on:?}");
}

#[test]
fn raw_spill_leak_leaves_pages_neither_reachable_nor_free() {
    let (on, off) = on_and_off(&planted::RAW_SPILL_LEAKS_PAGE, || {
        let d = disk(3);
        let db = open(&d, options());
        put_all(&db, 200, 40, 1);
        // Same-size overwrites: the leaves are written from raw copies.
        put_all(&db, 200, 40, 2);
        db.view(|tx| Ok(tx.check())).unwrap()
    });
    assert!(off.is_empty(), "correct code: {off:?}");
    assert!(!on.is_empty(), "bug on: the check is clean");
    assert!(on.iter().all(|p| matches!(p, CheckProblem::UnreachableUnfreed(_))), "{on:?}");
}

/// The txid field of the meta in the slot of `txid`, as bytes of the file.
fn txid_field(page_size: u64, txid: u64) -> u64 {
    (txid % 2) * page_size + 16 + 48
}

#[test]
fn meta_checksum_unchecked_opens_at_a_damaged_meta() {
    let (on, off) = on_and_off(&planted::META_CHECKSUM_UNCHECKED, || {
        let d = disk(4);
        let db = open(&d, options());
        put_all(&db, 20, 10, 1);
        put_all(&db, 20, 10, 2);
        let newest = db.meta().txid;
        db.close().unwrap();
        drop(db);
        // Damage the newest meta's txid, as bit rot would, leaving its checksum alone.
        let f = d.open(PATH, OpenOptions::write()).unwrap();
        f.write_at(txid_field(1024, newest), &(newest + 1000).to_le_bytes()).unwrap();
        f.sync().unwrap();
        drop(f);
        let db = open(&d, options());
        let report = db.take_open_report().expect("a fresh open reports");
        (newest, db.meta(), report.chosen_txid)
    });
    let (newest, meta, chosen) = off;
    assert_eq!((meta.txid, chosen), (newest - 1, newest - 1), "falls back to the older meta");
    assert_eq!(meta.checksum, meta.sum64());
    let (newest, meta, chosen) = on;
    assert_eq!(chosen, newest + 1000, "bug on: the damaged meta is chosen");
    assert_ne!(meta.checksum, meta.sum64(), "bug on: its checksum does not match");
}

#[test]
fn open_picks_older_meta_loses_the_last_commit_at_reopen() {
    let (on, off) = on_and_off(&planted::OPEN_PICKS_OLDER_META, || {
        let d = disk(5);
        let db = open(&d, options());
        put_all(&db, 20, 10, 1);
        put_all(&db, 20, 10, 2);
        let newest = db.meta().txid;
        db.close().unwrap();
        drop(db);
        let db = open(&d, options());
        (newest, db.meta().txid)
    });
    assert_eq!(off.1, off.0, "bug off: reopens at the newest commit");
    assert_eq!(on.1, on.0 - 1, "bug on: reopens one commit back");
}

#[test]
fn commit_record_unverified_opens_a_commit_whose_pages_are_missing() {
    let (on, off) = on_and_off(&planted::COMMIT_RECORD_UNVERIFIED, || {
        let d = disk(5);
        let db = open(&d, options());
        put_all(&db, 100, 30, 1);
        put_all(&db, 100, 30, 2);
        let meta = db.meta();
        drop(db); // no close: the newest meta keeps its commit record
                  // One page of the last (one-flush) commit did not reach the disk: its root leaf or
                  // branch holds zeros.
        let f = d.open(PATH, OpenOptions::write()).unwrap();
        f.write_at(meta.root.root * 1024, &[0u8; 1024]).unwrap();
        f.sync().unwrap();
        drop(f);
        d.crash();
        let db = open(&d, options());
        let problems = db.view(|tx| Ok(tx.check())).unwrap();
        (meta.txid, db.meta().txid, problems)
    });
    let (last, opened, problems) = off;
    assert_eq!(opened, last - 1, "the record does not hold: the previous commit is used");
    assert!(problems.is_empty(), "{problems:?}");
    let (last, opened, problems) = on;
    assert_eq!(opened, last, "bug on: the broken commit is opened");
    assert!(!problems.is_empty(), "bug on: the check must see the missing page");
}

/// Commits of 300 keys with every commit using bolt's two flushes; the last one crashes at its
/// `k`th disk operation. Returns whether the reopened database is one of the two states and
/// checks clean.
fn two_flush_crash_recovers(seed: u64, k: u64) -> bool {
    let d = disk(seed);
    let opts = Options { one_flush_max_bytes: 0, ..options() };
    let db = open(&d, opts.clone());
    put_all(&db, 300, 30, 1);
    let before = db.view(|tx| Ok(read_all(tx))).unwrap();
    d.crash_after_ops(k);
    let committed = db
        .update(|tx| {
            let b = tx.bucket(b"b")?.expect("b");
            for k in 0..300u32 {
                b.put(format!("key{k:04}").as_bytes(), &[2u8; 31])?;
            }
            Ok(())
        })
        .is_ok();
    drop(db);
    d.crash();
    let Ok(db) = Db::open_on(d.clone(), PATH, opts) else { return false };
    let Ok(after) = db.view(try_read_all) else { return false };
    let clean = db.view(|tx| Ok(tx.check())).unwrap().is_empty();
    let expected_new = after.iter().all(|(_, v)| v.as_deref() == Some(&[2u8; 31][..]));
    clean && (after == before && !committed || expected_new)
}

#[test]
fn two_flush_without_data_sync_loses_pages_its_meta_reaches() {
    // The commit's disk operations: its page writes, the data sync, the meta write, the final
    // sync. A crash at the final sync leaves every unsynced write kept, dropped or torn.
    let (on, off) = on_and_off(&planted::TWO_FLUSH_NO_DATA_SYNC, || {
        (0..3u64)
            .flat_map(|seed| (0..60u64).map(move |k| (seed, k)))
            .filter(|&(seed, k)| !two_flush_crash_recovers(seed, k))
            .count()
    });
    assert_eq!(off, 0, "correct code recovers from a crash at any operation");
    assert!(on > 0, "bug on: some crash must leave a meta whose pages were lost");
}

fn store(disk: &Rc<SimDisk>) -> Store {
    Store::open(open(disk, options()), StoreConfig::default()).expect("store")
}

fn put(key: &str, value: &str) -> Op {
    Op::Put(PutRequest { key: key.into(), value: value.into(), ..Default::default() })
}

fn get(s: &Store, key: &str) -> Option<Vec<u8>> {
    let r = s.range(&RangeRequest { key: key.into(), ..Default::default() }).unwrap();
    r.kvs.into_iter().next().map(|kv| kv.value)
}

#[test]
fn consistent_index_lags_makes_a_reopened_store_apply_an_entry_twice() {
    let (on, off) = on_and_off(&planted::CONSISTENT_INDEX_LAGS, || {
        let d = disk(6);
        let mut s = store(&d);
        for index in 1..=3u64 {
            s.apply(index, 1, &[put("k", &format!("v{index}"))]).unwrap();
        }
        s.commit().unwrap();
        let revision = s.revision();
        drop(s);
        d.crash();
        let mut s = store(&d);
        let reopened_at = s.consistent_index().0;
        // The server replays every entry after the consistent index.
        s.apply(3, 1, &[put("k", "v3")]).unwrap();
        (revision, reopened_at, s.revision())
    });
    assert_eq!(off, (4, 3, 4), "correct code: entry 3 is skipped, the revision stays");
    assert_eq!(on, (4, 2, 5), "bug on: entry 3 is applied again, a revision too many");
}

#[test]
fn delete_without_tombstone_brings_the_key_back_at_open() {
    let (on, off) = on_and_off(&planted::DELETE_WITHOUT_TOMBSTONE, || {
        let d = disk(7);
        let mut s = store(&d);
        s.apply(1, 1, &[put("k", "v")]).unwrap();
        s.commit().unwrap();
        let del = DeleteRangeRequest { key: b"k".to_vec(), ..Default::default() };
        s.apply(2, 1, &[Op::DeleteRange(del)]).unwrap();
        s.commit().unwrap();
        let before = get(&s, "k");
        drop(s);
        d.crash();
        let s = store(&d);
        (before, get(&s, "k"))
    });
    assert_eq!(off, (None, None));
    assert_eq!(on, (None, Some(b"v".to_vec())), "bug on: the deleted key is back after open");
}
