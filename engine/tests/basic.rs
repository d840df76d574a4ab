//! Basic behaviour on SimDisk: buckets, values, cursors, reopen, open errors, metas, readers.

use std::rc::Rc;

use engine::meta::Meta;
use engine::{Db, Error, MetaError, Options};
use sim::io::{Disk, OpenOptions};
use sim::simulated::disk::{DiskConfig, SimDisk};
use sim::Seed;

fn disk() -> Rc<SimDisk> {
    SimDisk::new(Seed(7).stream("disk"), DiskConfig::default())
}

fn open(d: &Rc<SimDisk>) -> Db {
    Db::open_on(d.clone(), "db", Options::default()).expect("open")
}

#[test]
fn put_get_reopen_nested_and_inline() {
    let d = disk();
    let db = open(&d);
    db.update(|tx| {
        let a = tx.create_bucket(b"a")?;
        a.put(b"k1", b"v1")?;
        a.put(b"k2", &vec![9u8; 10_000])?; // overflow value
        let inner = a.create_bucket(b"inner")?;
        inner.put(b"x", b"y")?;
        let tiny = tx.create_bucket(b"tiny")?;
        tiny.put(b"t", b"small")?;
        Ok(())
    })
    .unwrap();
    db.close().unwrap();
    assert_eq!(db.begin(false).unwrap_err(), Error::DatabaseNotOpen);
    assert_eq!(db.close().unwrap_err(), Error::DatabaseNotOpen);
    let db = open(&d);
    db.view(|tx| {
        let a = tx.bucket(b"a")?.expect("a");
        assert_eq!(a.get(b"k1")?, Some(b"v1".to_vec()));
        assert_eq!(a.get(b"k2")?, Some(vec![9u8; 10_000]));
        assert_eq!(a.get(b"inner")?, None, "a bucket key has no value");
        assert_eq!(a.bucket(b"inner")?.unwrap().get(b"x")?, Some(b"y".to_vec()));
        let s = a.stats()?;
        assert_eq!(s.inline_bucket_n, 1, "inner is inline: {s:?}");
        assert_eq!(s.leaf_overflow_n, 2, "10 KB value spans 3 pages: {s:?}");
        let tiny = tx.bucket(b"tiny")?.unwrap();
        assert_eq!(tiny.get(b"t")?, Some(b"small".to_vec()));
        assert!(tx.check().is_empty(), "{:?}", tx.check());
        Ok(())
    })
    .unwrap();
}

#[test]
fn errors_for_misuse() {
    let d = disk();
    let db = open(&d);
    db.update(|tx| {
        let b = tx.create_bucket(b"b")?;
        assert_eq!(tx.create_bucket(b"b").unwrap_err(), Error::BucketExists);
        assert_eq!(tx.create_bucket(b"").unwrap_err(), Error::BucketNameRequired);
        assert_eq!(b.put(b"", b"v").unwrap_err(), Error::KeyRequired);
        assert!(matches!(b.put(&vec![1; 32769], b"v"), Err(Error::KeyTooLarge { .. })));
        b.create_bucket(b"sub")?;
        assert_eq!(b.put(b"sub", b"v").unwrap_err(), Error::IncompatibleValue);
        assert_eq!(b.delete(b"sub").unwrap_err(), Error::IncompatibleValue);
        b.put(b"plain", b"v")?;
        assert_eq!(b.create_bucket(b"plain").unwrap_err(), Error::IncompatibleValue);
        assert_eq!(tx.delete_bucket(b"nope").unwrap_err(), Error::BucketNotFound);
        assert_eq!(b.next_sequence()?, 1);
        assert_eq!(b.next_sequence()?, 2);
        let same = tx.create_bucket_if_not_exists(b"b")?;
        assert_eq!(same.get(b"plain")?, Some(b"v".to_vec()));
        Ok(())
    })
    .unwrap();
    db.view(|tx| {
        let b = tx.bucket(b"b")?.unwrap();
        assert_eq!(b.sequence(), 2);
        assert_eq!(b.put(b"k", b"v").unwrap_err(), Error::TxNotWritable);
        Ok(())
    })
    .unwrap();
    // A failing closure rolls back.
    let r: Result<(), Error> = db.update(|tx| {
        tx.create_bucket(b"gone")?;
        Err(Error::KeyRequired)
    });
    assert_eq!(r.unwrap_err(), Error::KeyRequired);
    db.view(|tx| {
        assert!(tx.bucket(b"gone")?.is_none());
        Ok(())
    })
    .unwrap();
    // One writer at a time.
    let w = db.begin(true).unwrap();
    assert_eq!(db.begin(true).unwrap_err(), Error::WriterBusy);
    w.rollback().unwrap();
    assert!(db.begin(true).is_ok());
}

#[test]
fn read_only_and_lock() {
    let d = disk();
    let db = open(&d);
    db.update(|tx| tx.create_bucket(b"x").map(|_| ())).unwrap();
    // A second writable open is refused by the exclusive lock.
    let second = Db::open_on(d.clone(), "db", Options::default());
    assert!(matches!(second, Err(Error::Disk(sim::io::DiskError::Locked { .. }))), "{second:?}");
    let ro = Db::open_on(d.clone(), "db", Options::read_only()).unwrap();
    assert_eq!(ro.begin(true).unwrap_err(), Error::DatabaseReadOnly);
    assert_eq!(ro.update(|_| Ok(())).unwrap_err(), Error::DatabaseReadOnly);
    ro.view(|tx| {
        assert!(tx.bucket(b"x")?.is_some());
        Ok(())
    })
    .unwrap();
    // Read-only open of a missing file fails without creating it.
    assert!(Db::open_on(d.clone(), "missing", Options::read_only()).is_err());
    assert!(!d.exists("missing").unwrap());
    drop(db);
}

#[test]
fn cursor_both_directions_seek_and_delete() {
    let d = disk();
    let db = open(&d);
    db.update(|tx| {
        let b = tx.create_bucket(b"b")?;
        for i in 0..2000u32 {
            b.put(format!("key{i:05}").as_bytes(), &i.to_be_bytes())?;
        }
        b.create_bucket(b"key00500x")?;
        Ok(())
    })
    .unwrap();
    db.view(|tx| {
        let b = tx.bucket(b"b")?.unwrap();
        let mut c = b.cursor();
        let mut n = 0;
        let mut item = c.first()?;
        let mut prev: Option<Vec<u8>> = None;
        while let Some((k, _)) = item {
            assert!(prev.as_ref().is_none_or(|p| *p < k));
            prev = Some(k);
            n += 1;
            item = c.next()?;
        }
        assert_eq!(n, 2001);
        assert_eq!(c.next()?, None, "stays at the end");
        let mut back = 0;
        let mut item = c.last()?;
        assert_eq!(item.as_ref().unwrap().0, b"key01999");
        while item.is_some() {
            back += 1;
            item = c.prev()?;
        }
        assert_eq!(back, 2001);
        let (k, v) = c.seek(b"key00500")?.unwrap();
        assert_eq!((k.as_slice(), v), (&b"key00500"[..], Some(500u32.to_be_bytes().to_vec())));
        let (k, v) = c.next()?.unwrap();
        assert_eq!((k.as_slice(), v), (&b"key00500x"[..], None), "bucket keys have no value");
        assert_eq!(c.seek(b"key00500a")?.unwrap().0, b"key00500x");
        assert_eq!(c.seek(b"zzz")?, None);
        Ok(())
    })
    .unwrap();
    // Delete every other key through the cursor, then check and reopen.
    db.update(|tx| {
        let b = tx.bucket(b"b")?.unwrap();
        let mut c = b.cursor();
        let mut item = c.first()?;
        let mut i = 0;
        while let Some((k, v)) = item {
            if i % 2 == 0 && v.is_some() {
                c.delete()?;
                assert_eq!(b.get(&k)?, None);
            }
            i += 1;
            item = c.next()?;
        }
        assert_eq!(i, 2001);
        Ok(())
    })
    .unwrap();
    drop(db);
    let db = open(&d);
    db.view(|tx| {
        let b = tx.bucket(b"b")?.unwrap();
        let mut count = 0;
        b.for_each(|_, _| {
            count += 1;
            Ok(())
        })?;
        assert_eq!(count, 1000, "1001 of the 2001 items were deleted");
        assert_eq!(b.get(b"key00001")?, Some(1u32.to_be_bytes().to_vec()));
        assert_eq!(b.get(b"key00002")?, None);
        assert!(tx.check().is_empty(), "{:?}", tx.check());
        Ok(())
    })
    .unwrap();
}

#[test]
fn delete_bucket_frees_pages_and_shrinks_tree() {
    let d = disk();
    let db = open(&d);
    db.update(|tx| {
        let b = tx.create_bucket(b"big")?;
        for i in 0..3000u32 {
            b.put(&i.to_be_bytes(), &[1u8; 200])?;
        }
        b.create_bucket(b"nested")?.put(b"k", &[2u8; 5000])?;
        Ok(())
    })
    .unwrap();
    let hw = db.meta().pgid;
    db.update(|tx| tx.delete_bucket(b"big")).unwrap();
    db.update(|tx| tx.create_bucket(b"again").map(|_| ())).unwrap();
    db.view(|tx| {
        assert!(tx.bucket(b"big")?.is_none());
        assert!(tx.check().is_empty(), "{:?}", tx.check());
        Ok(())
    })
    .unwrap();
    let fl = db.freelist();
    assert!(fl.count() as u64 > hw / 2, "most pages are free again: {} of {hw}", fl.count());
    // Deleting everything key by key collapses the tree back to a single leaf.
    db.update(|tx| {
        let b = tx.create_bucket(b"many")?;
        for i in 0..3000u32 {
            b.put(&i.to_be_bytes(), &[1u8; 100])?;
        }
        Ok(())
    })
    .unwrap();
    db.update(|tx| {
        let b = tx.bucket(b"many")?.unwrap();
        for i in 0..3000u32 {
            b.delete(&i.to_be_bytes())?;
        }
        Ok(())
    })
    .unwrap();
    db.view(|tx| {
        let s = tx.bucket(b"many")?.unwrap().stats()?;
        assert_eq!((s.key_n, s.depth, s.branch_page_n), (0, 1, 0), "{s:?}");
        assert!(tx.check().is_empty(), "{:?}", tx.check());
        Ok(())
    })
    .unwrap();
}

#[test]
fn pending_pages_wait_for_older_readers() {
    let d = disk();
    let db = open(&d);
    db.update(|tx| tx.create_bucket(b"b")?.put(b"k", b"v0")).unwrap();
    let reader = db.begin(false).unwrap();
    let reader_txid = reader.id();
    db.update(|tx| tx.bucket(b"b")?.unwrap().put(b"k", b"v1")).unwrap();
    db.update(|tx| tx.bucket(b"b")?.unwrap().put(b"k", b"v2")).unwrap();
    let fl = db.freelist();
    // Pages freed by the transaction right after the reader stay pending while it is open.
    assert!(fl.pending().keys().any(|&t| t > reader_txid), "{fl:?}");
    assert_eq!(reader.bucket(b"b").unwrap().unwrap().get(b"k").unwrap(), Some(b"v0".to_vec()));
    let pending_before = fl.pending().values().map(Vec::len).sum::<usize>();
    drop(reader);
    db.update(|_| Ok(())).unwrap();
    let fl = db.freelist();
    let pending_after = fl.pending().values().map(Vec::len).sum::<usize>();
    assert!(pending_after < pending_before, "{pending_before} -> {pending_after}");
    // Only the last tx's, and the freelist page it replaced, held one tx more (see `record`).
    let last = db.meta().txid;
    assert!(fl.pending().keys().all(|&t| t == last || t == last + 1), "{fl:?}");
}

/// Overwrites the meta in slot `slot` with garbage.
fn smash_meta(d: &Rc<SimDisk>, slot: u64) {
    let f = d.open("db", OpenOptions::write()).unwrap();
    f.write_at(slot * 4096 + 16, &[0xAB; 8]).unwrap();
    f.sync().unwrap();
}

fn txid_of(d: &Rc<SimDisk>, slot: u64) -> u64 {
    let f = d.open("db", OpenOptions::read()).unwrap();
    let mut b = vec![0u8; 80];
    f.read_exact_at(slot * 4096, &mut b).unwrap();
    Meta::decode(&b[16..]).txid
}

#[test]
fn meta_fallback_both_directions_and_both_invalid() {
    for broken in [0u64, 1] {
        let d = disk();
        let db = open(&d);
        db.update(|tx| tx.create_bucket(b"one")?.put(b"k", b"1")).unwrap(); // txid 2 -> slot 0
        db.update(|tx| tx.bucket(b"one")?.unwrap().put(b"k", b"2")).unwrap(); // txid 3 -> slot 1
        drop(db);
        assert_eq!((txid_of(&d, 0), txid_of(&d, 1)), (2, 3));
        smash_meta(&d, broken);
        let db = open(&d);
        let expect: &[u8] = if broken == 1 { b"1" } else { b"2" };
        assert_eq!(db.meta().txid, if broken == 1 { 2 } else { 3 });
        db.view(|tx| {
            assert_eq!(tx.bucket(b"one")?.unwrap().get(b"k")?.as_deref(), Some(expect));
            assert!(tx.check().is_empty(), "{:?}", tx.check());
            Ok(())
        })
        .unwrap();
        // The next commit writes the broken slot again and everything is fine after it.
        db.update(|tx| tx.bucket(b"one")?.unwrap().put(b"k", b"3")).unwrap();
        drop(db);
        let db = open(&d);
        db.view(|tx| {
            assert_eq!(tx.bucket(b"one")?.unwrap().get(b"k")?, Some(b"3".to_vec()));
            Ok(())
        })
        .unwrap();
    }
    let d = disk();
    drop(open(&d));
    smash_meta(&d, 0);
    smash_meta(&d, 1);
    match Db::open_on(d.clone(), "db", Options::default()) {
        Err(Error::InvalidMetas { meta0, meta1 }) => {
            assert!(matches!(meta0, MetaError::BadMagic { .. }), "{meta0:?}");
            assert!(matches!(meta1, MetaError::BadMagic { .. }), "{meta1:?}");
            let msg = Error::InvalidMetas { meta0, meta1 }.to_string();
            assert!(msg.contains("meta 0") && msg.contains("meta 1"), "{msg}");
        }
        other => panic!("expected InvalidMetas, got {other:?}"),
    }
}

#[test]
fn commit_io_error_is_fail_stop() {
    let d = disk();
    let db = open(&d);
    db.update(|tx| tx.create_bucket(b"b")?.put(b"k", b"u")).unwrap();
    // A second commit: by now the database knows the simulated disk's mapping is a snapshot
    // and drops it while writing (module `commit`), so the failure below must bring it back.
    db.update(|tx| tx.bucket(b"b")?.unwrap().put(b"k", b"v")).unwrap();
    let reader = db.begin(false).unwrap();
    d.fail_next_sync("db");
    let r = db.update(|tx| tx.bucket(b"b")?.unwrap().put(b"k", b"w"));
    assert!(matches!(r, Err(Error::Disk(_))), "{r:?}");
    assert!(matches!(db.begin(true), Err(Error::FailStop { .. })));
    // Reads still work and see the last good commit, old and new readers alike.
    let seen = |tx: &engine::Tx| tx.bucket(b"b").unwrap().unwrap().get(b"k").unwrap();
    assert_eq!(seen(&reader).as_deref(), Some(&b"v"[..]));
    db.view(|tx| {
        assert_eq!(seen(tx).as_deref(), Some(&b"v"[..]));
        Ok(())
    })
    .unwrap();
}

/// Overwriting in place does not grow the file beyond a little slack: pages for branches are
/// sometimes taken at the high water mark (see `commit::set_aside_branch_ids`), but only while
/// the freelist is short, so the file settles.
#[test]
fn repeated_overwrites_keep_the_file_size_bounded() {
    use rand::Rng as _;
    let d = disk();
    let db = open(&d);
    let mut rng = Seed(11).stream("keys");
    let keys: Vec<[u8; 16]> = (0..30_000).map(|_| rng.random()).collect();
    db.update(|tx| {
        let b = tx.create_bucket(b"b")?;
        keys.iter().try_for_each(|k| b.put(k, &[1u8; 100]))
    })
    .unwrap();
    let loaded = db.meta().pgid;
    let mut highs = Vec::new();
    for round in 0..60u8 {
        db.update(|tx| {
            let b = tx.bucket(b"b")?.unwrap();
            (0..300).try_for_each(|_| b.put(&keys[rng.random_range(0..keys.len())], &[round; 100]))
        })
        .unwrap();
        highs.push(db.meta().pgid);
    }
    for _ in 0..200 {
        db.update(|tx| tx.bucket(b"b")?.unwrap().put(&rng.random::<[u8; 16]>(), b"new")).unwrap();
    }
    let last = db.meta().pgid;
    // The first commit after the load has an empty freelist and grows the file by its pages,
    // as first fit would; later ones reuse what the previous ones freed.
    assert!(highs[0] <= loaded + 400, "{loaded} -> {highs:?}");
    assert!(highs[59] <= highs[0] + highs[0] / 20, "{loaded} -> {highs:?}");
    assert_eq!(highs[59], highs[30], "settled: {highs:?}");
    assert!(last <= highs[59] + 40, "{} -> {last}", highs[59]);
}

#[test]
fn releases_under_open_readers_are_counted() {
    let d = disk();
    let db = open(&d);
    let write = |fill: u8| {
        db.update(|tx| {
            let b = tx.create_bucket_if_not_exists(b"b")?;
            for k in 0..50u32 {
                b.put(&k.to_be_bytes(), &[fill; 100])?;
            }
            Ok(())
        })
        .unwrap();
    };
    // Without readers: pages freed by earlier writers are released, but no reader is open.
    for fill in 0..4 {
        write(fill);
    }
    assert_eq!(db.take_releases_under_readers(), 0);
    // A reader held open across commits keeps their freed pages pending; once it ends, the
    // next writer releases them, here while a newer reader is open.
    let old = db.begin(false).unwrap();
    for fill in 4..8 {
        write(fill);
    }
    assert_eq!(db.take_releases_under_readers(), 0, "nothing older than the reader to free");
    old.rollback().unwrap();
    let new = db.begin(false).unwrap();
    write(8);
    assert_eq!(db.take_releases_under_readers(), 1, "one writer released pages under a reader");
    assert_eq!(db.take_releases_under_readers(), 0, "taken: the count starts again");
    new.rollback().unwrap();
}
