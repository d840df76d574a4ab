//! Crash consistency on SimDisk: a crash at every disk operation of a commit (exhaustively over
//! k for small random workloads), with SimDisk tearing or dropping every unsynced write. After
//! reopen the database must equal the last state whose commit returned Ok, or the state being
//! committed — nothing else — and `check` must be clean; the database must accept new writes.

use std::rc::Rc;

use engine::{Db, Options, Tx};
use rand::Rng as _;
use sim::io::{Disk, OpenOptions};
use sim::simulated::disk::{DiskConfig, SimDisk};
use sim::Seed;

mod common;
use common::{dump_db, try_dump_db, Entry, Tree};

/// One random write transaction, applied to the engine and the model alike.
fn random_tx(tx: &Tx, model: &mut Tree, rng: &mut sim::Rng) {
    let ops = rng.random_range(1..12);
    for _ in 0..ops {
        let bname = vec![b'a' + rng.random_range(0..3u8)];
        let b = tx.create_bucket_if_not_exists(&bname).unwrap();
        let Entry::Bucket(mb) =
            model.entry(bname.clone()).or_insert_with(|| Entry::Bucket(Tree::new()))
        else {
            unreachable!()
        };
        let key = format!("k{:03}", rng.random_range(0..150u32)).into_bytes();
        match rng.random_range(0..10) {
            0..=5 => {
                let len = match mb.get(&key) {
                    // Half the overwrites keep the size: pages kept as raw copies.
                    Some(Entry::Val(old)) if rng.random_bool(0.5) => old.len(),
                    _ if rng.random_range(0..8) == 0 => rng.random_range(2000..9000),
                    _ => rng.random_range(0..200),
                };
                let v = vec![rng.random::<u8>(); len];
                b.put(&key, &v).unwrap();
                mb.insert(key, Entry::Val(v));
            }
            6 | 7 => {
                b.delete(&key).unwrap();
                mb.remove(&key);
            }
            8 => {
                let sub = b.create_bucket_if_not_exists(b"sub").unwrap();
                let Entry::Bucket(ms) =
                    mb.entry(b"sub".to_vec()).or_insert_with(|| Entry::Bucket(Tree::new()))
                else {
                    unreachable!()
                };
                let v = vec![7u8; rng.random_range(0..600)];
                sub.put(&key, &v).unwrap();
                ms.insert(key, Entry::Val(v));
            }
            _ => {
                if mb.remove(b"sub".as_slice()).is_some() {
                    b.delete_bucket(b"sub").unwrap();
                }
            }
        }
    }
}

fn open(disk: &Rc<SimDisk>) -> Db {
    Db::open_on(disk.clone(), "db", Options { page_size: 1024, ..Options::default() }).unwrap()
}

/// Crashes `disk`, reopens the database and asserts that it holds exactly `expected` and that
/// `check` is clean.
fn assert_crash_recovers_to(disk: &Rc<SimDisk>, expected: &Tree, what: &str) {
    disk.crash();
    let db = open(disk);
    let tx = db.begin(false).unwrap();
    assert_eq!(&dump_db(&tx), expected, "{what}");
    assert!(tx.check().is_empty(), "{what}: {:?}", tx.check());
}

/// Runs `txs` random transactions with the given seed, crashing the disk at operation
/// `crash_at` of the commit of transaction `target` (None: no crash); with `reopen`, the
/// database is dropped and opened again just before the target transaction. Returns the disk,
/// the state before the target transaction and the state it commits.
fn run_with(
    seed: u64,
    target: usize,
    crash_at: Option<u64>,
    reopen: bool,
) -> (Rc<SimDisk>, Tree, Tree, u64) {
    let disk = SimDisk::new(Seed(seed).stream("disk"), DiskConfig::default());
    let mut rng = Seed(seed).stream("workload");
    let mut db = open(&disk);
    let mut model = Tree::new();
    for _ in 0..target {
        let tx = db.begin(true).unwrap();
        random_tx(&tx, &mut model, &mut rng);
        tx.commit().unwrap();
    }
    if reopen {
        drop(db);
        db = open(&disk);
    }
    let before = model.clone();
    let tx = db.begin(true).unwrap();
    random_tx(&tx, &mut model, &mut rng);
    let ops_before = disk.ops();
    if let Some(k) = crash_at {
        disk.crash_after_ops(k);
    }
    let result = tx.commit();
    let commit_ops = disk.ops() - ops_before;
    if crash_at.is_some_and(|k| k < commit_ops) || disk.has_crashed() {
        assert!(result.is_err(), "commit crashed at op {crash_at:?} but returned Ok");
    } else {
        result.unwrap();
    }
    drop(db);
    (disk, before, model, commit_ops)
}

fn run(seed: u64, target: usize, crash_at: Option<u64>) -> (Rc<SimDisk>, Tree, Tree, u64) {
    run_with(seed, target, crash_at, false)
}

/// Reopens after a crash; returns whether the database holds the committed ("after") state.
fn check_recovered(disk: &Rc<SimDisk>, before: &Tree, after: &Tree, what: &str) -> bool {
    disk.crash();
    let db = Db::open_on(disk.clone(), "db", Options { page_size: 1024, ..Options::default() })
        .unwrap_or_else(|e| panic!("{what}: reopen failed: {e}"));
    let is_after = {
        let tx = db.begin(false).unwrap();
        let got = dump_db(&tx);
        assert!(&got == before || &got == after, "{what}: state is neither before nor after");
        let problems = tx.check();
        assert!(problems.is_empty(), "{what}: check: {problems:?}");
        got == *after
    };
    // The recovered database accepts writes and stays consistent.
    db.update(|tx| {
        let b = tx.create_bucket_if_not_exists(b"after-crash")?;
        for i in 0..50u32 {
            b.put(&i.to_be_bytes(), &[1u8; 300])?;
        }
        Ok(())
    })
    .unwrap_or_else(|e| panic!("{what}: write after recovery: {e}"));
    let tx = db.begin(false).unwrap();
    assert!(tx.check().is_empty(), "{what}: check after new write: {:?}", tx.check());
    is_after
}

#[test]
fn crash_at_every_op_of_a_commit() {
    let (mut sweeps, mut old, mut new) = (0, 0, 0);
    for seed in 0..6u64 {
        for target in 0..5usize {
            let (_, _, _, ops) = run(seed, target, None);
            assert!(ops >= 3, "a commit does at least write, meta, sync: {ops}");
            for k in 0..=ops {
                let (disk, before, after, _) = run(seed, target, Some(k));
                let what = format!("seed {seed} tx {target} crash at op {k}/{ops}");
                if before == after {
                    check_recovered(&disk, &before, &after, &what);
                } else if check_recovered(&disk, &before, &after, &what) {
                    new += 1;
                } else {
                    old += 1;
                }
                sweeps += 1;
            }
        }
    }
    assert!(sweeps > 100, "{sweeps} crash points");
    // Early crash points lose the commit, late ones (after the meta sync) keep it.
    assert!(old > 20 && new > 5, "recovered old {old} times, new {new} times");
}

/// Opening holds back the freelist page the newest meta's commit record is checked against, so
/// the first commit after a reopen cannot overwrite it (see `engine::record`).
#[test]
fn crash_at_every_op_of_the_first_commit_after_reopen() {
    let (mut old, mut new) = (0, 0);
    for seed in 20..26u64 {
        for target in 1..4usize {
            let (_, _, _, ops) = run_with(seed, target, None, true);
            for k in 0..=ops {
                let (disk, before, after, _) = run_with(seed, target, Some(k), true);
                let what = format!("reopened, seed {seed} tx {target} crash at op {k}/{ops}");
                if check_recovered(&disk, &before, &after, &what) {
                    new += 1;
                } else {
                    old += 1;
                }
            }
        }
    }
    assert!(old > 10 && new > 5, "recovered old {old} times, new {new} times");
}

/// A commit whose meta reached the disk but one of whose pages did not (here: a page written
/// by the last commit, damaged before any clean close) is rolled back at open, and the slot of
/// its meta is cleared so that bbolt, which ignores commit records, cannot pick it either.
#[test]
fn a_commit_missing_a_page_is_rolled_back_and_its_meta_cleared() {
    for seed in 30..36u64 {
        let (disk, before, after, _) = run(seed, 3, None);
        if before == after {
            continue;
        }
        let (root, slot) = {
            let db = open(&disk);
            let m = db.meta();
            (m.root.root, m.txid % 2)
        };
        let f = disk.open("db", OpenOptions::write()).unwrap();
        f.write_at(root * 1024 + 600, &[0x5A; 8]).unwrap();
        f.sync().unwrap();
        drop(f);
        assert_crash_recovers_to(
            &disk,
            &before,
            &format!("seed {seed}: damaged commit rolled back"),
        );
        let f = disk.open("db", OpenOptions::read()).unwrap();
        let mut meta = vec![1u8; 1024];
        f.read_exact_at(slot * 1024, &mut meta).unwrap();
        assert!(meta.iter().all(|&b| b == 0), "seed {seed}: the rejected meta's slot is zeroed");
        assert!(!check_recovered(&disk, &before, &after, "after the rollback"));
    }
}

/// A read-only open of a file whose last commit carries a record checks it, and closes without
/// writing; the next writable open and clean close drop the record.
#[test]
fn read_only_open_checks_the_record_and_writes_nothing() {
    let (disk, _, after, _) = run(40, 3, None);
    let ro = Db::open_on(disk.clone(), "db", Options { page_size: 1024, ..Options::read_only() })
        .unwrap();
    assert_eq!(dump_db(&ro.begin(false).unwrap()), after);
    let ops = disk.ops();
    ro.close().unwrap();
    assert_eq!(disk.ops(), ops, "a read-only close writes nothing");
    let db = open(&disk);
    db.close().unwrap();
    let f = disk.open("db", OpenOptions::read()).unwrap();
    let mut page = vec![0u8; 1024];
    let slot = after_meta_slot(&disk);
    f.read_exact_at(slot * 1024 + 80, &mut page[..48]).unwrap();
    assert!(page[..48].iter().all(|&b| b == 0), "a clean close leaves no record");
}

/// The slot of the newest meta.
fn after_meta_slot(disk: &Rc<SimDisk>) -> u64 {
    let db = Db::open_on(disk.clone(), "db", Options { page_size: 1024, ..Options::read_only() })
        .unwrap();
    db.meta().txid % 2
}

#[test]
fn crash_after_commit_keeps_it() {
    for seed in 10..16u64 {
        let (disk, _, after, _) = run(seed, 3, None);
        assert_crash_recovers_to(&disk, &after, &format!("seed {seed}: Ok commit survives"));
    }
}

/// fsyncgate: a commit whose flush failed with EIO stays readable (from the page cache) although
/// the disk dropped it. A reopen without a crash sees it; committing on top of it and then
/// losing power must still leave a database that holds the last commit that returned Ok. (With
/// one flush per commit this needs the open to write the commit it reads once more.)
#[test]
fn a_commit_whose_flush_failed_is_made_durable_before_anything_builds_on_it() {
    let mut built_on_failed = 0;
    for seed in 50..62u64 {
        let disk = SimDisk::new(Seed(seed).stream("disk"), DiskConfig::default());
        let mut rng = Seed(seed).stream("workload");
        let mut model = Tree::new();
        let db = open(&disk);
        for _ in 0..3 {
            let tx = db.begin(true).unwrap();
            random_tx(&tx, &mut model, &mut rng);
            tx.commit().unwrap();
        }
        let before = model.clone();
        disk.fail_next_sync("db");
        let tx = db.begin(true).unwrap();
        random_tx(&tx, &mut model, &mut rng);
        assert!(tx.commit().is_err(), "seed {seed}: the injected EIO must fail the commit");
        let failed = model.clone();
        drop(db);
        let db = open(&disk); // no crash: what the failed flush wrote is still readable
        let seen = dump_db(&db.begin(false).unwrap());
        assert!(seen == before || seen == failed, "seed {seed}: neither state after reopen");
        built_on_failed += usize::from(seen == failed && failed != before);
        model = seen;
        let tx = db.begin(true).unwrap();
        random_tx(&tx, &mut model, &mut rng);
        tx.commit().unwrap();
        drop(db);
        assert_crash_recovers_to(&disk, &model, &format!("seed {seed}: last Ok commit kept"));
    }
    assert!(built_on_failed >= 3, "only {built_on_failed} seeds built on a failed commit");
}

/// Process lives on one SimDisk, each ending in a crash at a random disk operation: of the
/// open (so that a crash lands in the open's own writes: making a recorded commit durable again,
/// clearing a rejected meta's slot), of any of several consecutive commits (some while a reader
/// holds an older snapshot), or of a clean close; or in a failed flush (EIO) after which the
/// process opens the file again without losing power. After each life, the state a read-only
/// open shows must be the last one a commit or an open returned, or the one of the commit that
/// failed; and no later crash may take back a state that an open showed.
#[test]
fn random_crashes_across_opens_commits_and_closes() {
    let seeds: u64 = std::env::var("CRASH_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(40);
    let opts = |read_only: bool| Options { page_size: 1024, read_only, ..Options::default() };
    let mut survived = 0;
    for seed in 0..seeds {
        let disk = SimDisk::new(Seed(seed).stream("disk"), DiskConfig::default());
        let mut rng = Seed(seed).stream("lives");
        // Created without a crash (a crash while the file is created is another matter).
        open(&disk).close().unwrap();
        let mut acked = Tree::new();
        for life in 0..25 {
            let what = format!("seed {seed} life {life}");
            let mut inflight: Option<Tree> = None;
            let eio = rng.random_range(0..6) == 0;
            let crash_at: u64 = rng.random_range(0..40);
            if eio {
                disk.fail_next_sync("db");
            } else {
                disk.crash_after_ops(crash_at);
            }
            let what = format!(
                "{what} ({})",
                if eio { "EIO".into() } else { format!("crash at op {crash_at}") }
            );
            if let Ok(db) = Db::open_on(disk.clone(), "db", opts(false)) {
                let got = try_dump_db(&db.begin(false).unwrap())
                    .unwrap_or_else(|e| panic!("{what}: dump after open: {e}"));
                assert!(got == acked, "{what}: the open shows another state");
                let mut reader = None;
                let mut failed = false;
                for _ in 0..rng.random_range(0..6) {
                    if rng.random_range(0..3) == 0 {
                        reader = db.begin(false).ok();
                    }
                    let mut model = acked.clone();
                    let tx = db.begin(true).unwrap();
                    random_tx(&tx, &mut model, &mut rng);
                    match tx.commit() {
                        Ok(()) => acked = model,
                        Err(_) => {
                            inflight = Some(model);
                            failed = true;
                            break;
                        }
                    }
                }
                drop(reader);
                if !failed && rng.random_bool(0.5) {
                    let _ = db.close();
                }
            }
            if eio {
                // The process opens the file again without a power loss: what the failed
                // flush wrote is still readable.
                disk.close_all();
                let db = Db::open_on(disk.clone(), "db", opts(false))
                    .unwrap_or_else(|e| panic!("{what}: reopen after EIO: {e}"));
                let got = try_dump_db(&db.begin(false).unwrap())
                    .unwrap_or_else(|e| panic!("{what}: dump after EIO: {e}"));
                assert!(
                    got == acked || Some(&got) == inflight.as_ref(),
                    "{what}: after EIO neither the last state nor the failed commit's"
                );
                acked = got;
                inflight = None;
            }
            disk.crash();
            let ro = Db::open_on(disk.clone(), "db", opts(true))
                .unwrap_or_else(|e| panic!("{what}: read-only open failed: {e}"));
            let tx = ro.begin(false).unwrap();
            let got = try_dump_db(&tx).unwrap_or_else(|e| panic!("{what}: dump: {e}"));
            let problems = tx.check();
            assert!(problems.is_empty(), "{what}: check: {problems:?}");
            if Some(&got) == inflight.as_ref() && got != acked {
                survived += 1;
                acked = got.clone();
            }
            assert!(got == acked, "{what}: neither the last state nor the failed commit's");
        }
    }
    assert!(survived > 5, "only {survived} failed commits survived a crash");
}
