//! Crash safety of the consistent index on SimDisk.
//!
//! A fixed list of raft-like entries (index, term, operations, including two compactions) is
//! applied through `Store::apply`, with batches committed by `commit_if_due` on a simulated
//! clock. The disk crashes at every one of its operations in turn (tearing or dropping every
//! unsynced write); the store reopens from the disk alone and must hold exactly the effects of
//! entries `1..=c` for its consistent index `c` (at least the last durable index), with a clean
//! engine check. Replaying the same entries from 1, from the middle, or from `c + 1` must give
//! the no-crash run's answers for the new entries and end with the same contents and `hash`.

use std::rc::Rc;

use engine::mvcc::{
    Compare, CompareResult, CompareTarget, DeleteRangeRequest, MvccError, Op, OpResult, PutRequest,
    RangeRequest, RangeResponse, RequestOp, Revision, Store, StoreConfig, TxnRequest,
};
use engine::{Db, Options};
use rand::Rng as _;
use sim::simulated::disk::SimDisk;
use sim::time::{Duration, Instant};
use sim::{Rng, Seed};

mod mvcc_common;
use mvcc_common::{check_db, db_options, new_disk, open_store, DB_PATH};

/// One raft log entry.
#[derive(Clone, Debug)]
struct Entry {
    index: u64,
    term: u64,
    ops: Vec<Op>,
}

const ENTRIES: u64 = 36;

fn config() -> StoreConfig {
    StoreConfig { batch_interval: Duration::from_millis(100), batch_limit: 12 }
}

fn key(rng: &mut Rng) -> Vec<u8> {
    format!("key{}", rng.random_range(0..10)).into_bytes()
}

fn put(rng: &mut Rng) -> PutRequest {
    let len = if rng.random_range(0..6) == 0 { 1500 } else { rng.random_range(0..120) };
    PutRequest { key: key(rng), value: vec![rng.random::<u8>(); len], lease: 0, prev_kv: true }
}

fn delete(rng: &mut Rng) -> DeleteRangeRequest {
    let k = key(rng);
    let end = if rng.random_bool(0.5) { Vec::new() } else { b"key5".to_vec().max(k.clone()) };
    let end = if end == k { Vec::new() } else { end };
    DeleteRangeRequest { key: k, end, prev_kv: true }
}

fn txn(rng: &mut Rng) -> TxnRequest {
    let k = key(rng);
    TxnRequest {
        compare: vec![Compare {
            key: k.clone(),
            target: CompareTarget::Version(rng.random_range(0..3)),
            result: CompareResult::Greater,
        }],
        success: vec![
            RequestOp::Put(PutRequest { key: k, value: b"then".to_vec(), ..Default::default() }),
            RequestOp::Range(RangeRequest {
                key: b"key".to_vec(),
                end: vec![0],
                ..Default::default()
            }),
        ],
        failure: vec![RequestOp::DeleteRange(delete(rng))],
    }
}

/// The fixed entry list of `seed`. Every ordinary entry starts with a put, so the revision
/// after entry `i` is above `i`: the compactions at entries 20 and 30 are always in range.
fn entries(seed: u64) -> Vec<Entry> {
    let mut rng = Seed(seed).stream("mvcc-entries");
    (1..=ENTRIES)
        .map(|index| {
            let ops = match index {
                20 => vec![Op::Compact(12)],
                25 => vec![Op::Compact(5), Op::Put(put(&mut rng))], // refused: not alone
                30 => vec![Op::Compact(24)],
                _ => {
                    let mut ops = vec![Op::Put(put(&mut rng))];
                    for _ in 0..rng.random_range(0..3) {
                        ops.push(match rng.random_range(0..3) {
                            0 => Op::Put(put(&mut rng)),
                            1 => Op::DeleteRange(delete(&mut rng)),
                            _ => Op::Txn(txn(&mut rng)),
                        });
                    }
                    ops
                }
            };
            Entry { index, term: 1 + index / 10, ops }
        })
        .collect()
}

type Results = Vec<Option<Vec<OpResult>>>;

/// Applies `entries`, committing when due on a clock that advances 30 ms per entry, then
/// commits. Pushes each entry's result.
fn drive(store: &mut Store, entries: &[Entry], results: &mut Results) -> Result<(), MvccError> {
    for e in entries {
        results.push(store.apply(e.index, e.term, &e.ops)?);
        store.commit_if_due(Instant(e.index * 30_000_000))?;
    }
    store.commit()
}

/// Every key at every readable revision.
fn dump(store: &Store) -> Vec<RangeResponse> {
    (store.compact_revision().max(1)..=store.revision())
        .map(|rev| {
            let r =
                RangeRequest { key: vec![1], end: vec![0], revision: rev, ..Default::default() };
            store.range(&r).expect("readable revision")
        })
        .collect()
}

/// The no-crash run.
struct Reference {
    results: Results,
    hash: u64,
    dump: Vec<RangeResponse>,
    /// Disk operations of the run after the store opened.
    ops: u64,
    /// `prefix_hash[c]`: the hash after applying entries `1..=c`.
    prefix_hash: Vec<u64>,
}

fn reference(entries: &[Entry]) -> Reference {
    let disk = new_disk(0);
    let mut store = open_store(&disk, config()).unwrap();
    let start = disk.ops();
    let mut results = Vec::new();
    drive(&mut store, entries, &mut results).unwrap();
    let ops = disk.ops() - start;
    let compacts = results.iter().flatten().flatten().filter(|r| **r == OpResult::Compact);
    assert_eq!(compacts.count(), 2, "both compactions ran: {results:?}");
    let hash = store.hash(0).unwrap().hash;
    let dump = dump(&store);

    // Committing after every entry gives the state after each prefix.
    let disk = new_disk(0);
    let mut store = open_store(&disk, config()).unwrap();
    let mut prefix_hash = vec![store.hash(0).unwrap().hash];
    for e in entries {
        store.apply(e.index, e.term, &e.ops).unwrap();
        prefix_hash.push(store.hash(0).unwrap().hash);
    }
    assert_eq!(*prefix_hash.last().unwrap(), hash, "batching does not change the contents");
    Reference { results, hash, dump, ops, prefix_hash }
}

/// Reads the compaction marks straight from the meta bucket.
fn compaction_marks(db: &Db) -> (i64, i64) {
    let read = |name: &[u8]| {
        db.view(|tx| tx.bucket(b"meta")?.expect("meta bucket").get(name))
            .unwrap()
            .map_or(0, |v| Revision::from_bytes(&v).unwrap().0.main)
    };
    (read(b"scheduledCompactRev"), read(b"finishedCompactRev"))
}

/// What the store knew when its disk crashed.
struct Crashed {
    disk: Rc<SimDisk>,
    /// The last entry applied and the last one committed before the crash.
    applied: u64,
    durable: u64,
}

/// Applies the entries on a fresh disk that crashes at its `k`-th operation after the store
/// opened; the store must fail and then refuse work. Power is lost on return.
fn crash_run(entries: &[Entry], k: u64, what: &str) -> Crashed {
    let disk: Rc<SimDisk> = new_disk(k);
    let mut store = open_store(&disk, config()).unwrap();
    disk.crash_after_ops(k);
    let mut results = Vec::new();
    let err = drive(&mut store, entries, &mut results).expect_err(what);
    assert!(disk.has_crashed(), "{what}: failed without a crash: {err}");
    let (applied, _) = store.consistent_index();
    let durable = store.durable_index();
    assert!(
        matches!(store.apply(applied + 1, 9, &[]), Err(MvccError::FailStop { .. })),
        "{what}: the store must refuse work after a failed commit"
    );
    drop(store);
    disk.crash();
    Crashed { disk, applied, durable }
}

/// Opens the store after a crash: the engine check is clean and the contents are exactly the
/// effects of entries `1..=c` for the reopened consistent index `c`, which lies between the
/// durable and the applied index. Returns the store and whether the open resumed a compaction.
fn reopen(entries: &[Entry], want: &Reference, crashed: &Crashed, what: &str) -> (Store, bool) {
    let db = Db::open_on(crashed.disk.clone(), DB_PATH, db_options()).unwrap();
    check_db(&db, what);
    let (scheduled, finished) = compaction_marks(&db);
    drop(db);
    // A read-only open changes nothing on disk and answers as the writable open will.
    let ro = Options { read_only: true, ..db_options() };
    let ro_db = Db::open_on(crashed.disk.clone(), DB_PATH, ro).unwrap();
    let mut ro_store =
        Store::open(ro_db, config()).unwrap_or_else(|e| panic!("{what}: ro open: {e}"));
    let ro_dump = dump(&ro_store);
    assert!(
        matches!(
            ro_store.put(&PutRequest { key: b"x".to_vec(), ..Default::default() }),
            Err(MvccError::Engine(engine::Error::DatabaseReadOnly))
        ),
        "{what}: a read-only store refuses writes"
    );
    drop(ro_store);
    let db = Db::open_on(crashed.disk.clone(), DB_PATH, db_options()).unwrap();
    let store = Store::open(db, config()).unwrap_or_else(|e| panic!("{what}: reopen: {e}"));
    assert_eq!(dump(&store), ro_dump, "{what}: read-only and writable opens answer alike");
    check_db(store.db(), &format!("{what}, after the store opened"));
    let after = compaction_marks(store.db());
    assert_eq!(after.0, after.1, "{what}: the open finished the compaction");
    let (c, term) = store.consistent_index();
    let Crashed { applied, durable, .. } = *crashed;
    assert!(
        durable <= c && c <= applied,
        "{what}: reopened at {c}, durable {durable}, applied {applied}"
    );
    assert_eq!(store.durable_index(), c, "{what}");
    if c > 0 {
        assert_eq!(term, entries[c as usize - 1].term, "{what}: term of entry {c}");
    }
    let hash = store.hash(0).unwrap().hash;
    assert_eq!(hash, want.prefix_hash[c as usize], "{what}: state after {c}");
    (store, scheduled > finished)
}

/// Replays the entries from entry `from + 1`: entries already applied are skipped, the others
/// answer as in the no-crash run, and the store ends equal to it.
fn replay(store: &mut Store, entries: &[Entry], want: &Reference, from: usize, what: &str) {
    let c = store.consistent_index().0 as usize;
    let mut replayed = Vec::new();
    drive(store, &entries[from..], &mut replayed).unwrap_or_else(|e| panic!("{what}: {e}"));
    for (i, r) in (from..).zip(&replayed) {
        if i < c {
            assert_eq!(*r, None, "{what}: entry {} was applied before the crash", i + 1);
        } else {
            assert_eq!(*r, want.results[i], "{what}: replayed entry {}", i + 1);
        }
    }
    assert_eq!(store.consistent_index(), (ENTRIES, entries.last().unwrap().term), "{what}");
    assert_eq!(store.hash(0).unwrap().hash, want.hash, "{what}: final hash");
    assert_eq!(dump(store), want.dump, "{what}: final contents");
    check_db(store.db(), &format!("{what}, after replay"));
}

/// After a crash inside a compaction, crashes again at every disk operation of the open that
/// resumes it; the next open still finishes it and replay reaches the same state. Returns how
/// many second crash points there were.
fn crash_during_resume(entries: &[Entry], want: &Reference, k: u64) -> u64 {
    for j in 0.. {
        let what = format!("crash at op {k}, then at op {j} of the reopen");
        let crashed = crash_run(entries, k, &what);
        crashed.disk.crash_after_ops(j);
        match open_store(&crashed.disk, config()) {
            Ok(_) => {
                assert!(!crashed.disk.has_crashed(), "{what}: open returned Ok after a crash");
                return j;
            }
            Err(e) => assert!(crashed.disk.has_crashed(), "{what}: open failed: {e}"),
        }
        crashed.disk.crash();
        let (mut store, _) = reopen(entries, want, &crashed, &what);
        let c = store.consistent_index().0 as usize;
        replay(&mut store, entries, want, c, &what);
    }
    unreachable!("the loop returns once the open survives")
}

#[test]
fn crash_at_every_disk_op_then_replay_reaches_the_same_state() {
    for seed in [1, 2] {
        let entries = entries(seed);
        let want = reference(&entries);
        assert!(want.ops > 40, "seed {seed}: only {} disk ops", want.ops);
        let (mut resumed, mut lost, mut second) = (0, 0, 0);
        for k in 0..want.ops {
            let what = format!("seed {seed}: crash at disk op {k}/{}", want.ops);
            let crashed = crash_run(&entries, k, &what);
            let (mut store, resumed_here) = reopen(&entries, &want, &crashed, &what);
            let c = store.consistent_index().0 as usize;
            lost += u32::from((c as u64) < crashed.applied);
            // Replay from 1, from the middle, or from just after the consistent index.
            replay(&mut store, &entries, &want, [0, c / 2, c][k as usize % 3], &what);
            if resumed_here {
                resumed += 1;
                if resumed % 4 == 1 {
                    second += crash_during_resume(&entries, &want, k);
                }
            }
        }
        eprintln!(
            "seed {seed}: {} disk ops; {resumed} crashes inside a compaction ({second} second \
             crash points while resuming); {lost} lost a batch",
            want.ops
        );
        assert!(resumed > 0, "seed {seed}: no crash fell inside a compaction");
        assert!(second > 0, "seed {seed}: no crash fell inside a resumed compaction");
        assert!(lost > 0, "seed {seed}: no crash lost a batch");
    }
}
