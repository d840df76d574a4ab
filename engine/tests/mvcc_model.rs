//! The MVCC store against a naive model that keeps every change in a list: random puts,
//! delete-ranges, txns (compares on value, version, create and mod revision; both branches),
//! compactions and ranges (old revisions, compacted and future revisions, limits, count-only,
//! keys-only, sorts), commits and reopens (the key index rebuilt from the bucket must answer
//! the same). Every answer — values, versions, create/mod revisions, counts, `more`, header
//! revisions, errors — is compared, and after every commit the `key` bucket must hold exactly
//! the records the model says survive compaction.

use std::rc::Rc;

use engine::mvcc::{
    Compare, CompareResult, CompareTarget, DeleteRangeRequest, MvccError, PutRequest, RangeRequest,
    RequestOp, SortOrder, SortTarget, Store, StoreConfig, TxnRequest,
};
use proptest::prelude::*;
use rand::Rng as _;
use sim::simulated::disk::SimDisk;
use sim::{Rng, Seed};

mod mvcc_common;
use mvcc_common::model::{refused, Model, Refused};
use mvcc_common::{new_disk, open_store, raw_records};

const KEYS: [&[u8]; 8] = [b"a", b"aa", b"ab", b"b", b"ba", b"c", b"d", b"e"];

fn key(rng: &mut Rng) -> Vec<u8> {
    KEYS[rng.random_range(0..KEYS.len())].to_vec()
}

/// A range end: a single key, everything from the key on, or a key after it (rarely one that is
/// not after it, which the store must refuse).
fn end_for(rng: &mut Rng, key: &[u8]) -> Vec<u8> {
    match rng.random_range(0..10) {
        0..=2 => Vec::new(),
        3 => vec![0],
        4 => KEYS[rng.random_range(0..KEYS.len())].to_vec(),
        _ => {
            let mut e = key.to_vec();
            e.push(b'z');
            let after: Vec<_> = KEYS.iter().filter(|k| **k > key).collect();
            after.get(rng.random_range(0..after.len().max(1))).map_or(e, |k| k.to_vec())
        }
    }
}

fn value(rng: &mut Rng) -> Vec<u8> {
    if rng.random_range(0..12) == 0 {
        return vec![rng.random_range(b'a'..=b'z'); rng.random_range(200..700)];
    }
    (0..rng.random_range(0..3)).map(|_| rng.random_range(b'x'..=b'z')).collect()
}

/// A revision around the interesting ones: 0 (current), below/at the compacted one, up to just
/// past the current one.
fn revision(rng: &mut Rng, m: &Model) -> i64 {
    if rng.random_bool(0.4) {
        return 0;
    }
    rng.random_range((m.compacted - 2).max(1)..=m.current + 2)
}

fn range_req(rng: &mut Rng, m: &Model) -> RangeRequest {
    let key = key(rng);
    let targets = [
        SortTarget::Key,
        SortTarget::Version,
        SortTarget::CreateRevision,
        SortTarget::ModRevision,
        SortTarget::Value,
    ];
    RangeRequest {
        end: end_for(rng, &key),
        key,
        limit: if rng.random_bool(0.6) { 0 } else { rng.random_range(1..4) },
        revision: revision(rng, m),
        count_only: rng.random_range(0..8) == 0,
        keys_only: rng.random_range(0..6) == 0,
        sort: rng.random_bool(0.4).then(|| {
            let order = if rng.random_bool(0.5) { SortOrder::Ascend } else { SortOrder::Descend };
            (targets[rng.random_range(0..targets.len())], order)
        }),
    }
}

fn put_req(rng: &mut Rng) -> PutRequest {
    PutRequest {
        key: key(rng),
        value: value(rng),
        lease: rng.random_range(0..3),
        prev_kv: rng.random_bool(0.5),
    }
}

fn delete_req(rng: &mut Rng) -> DeleteRangeRequest {
    let key = key(rng);
    DeleteRangeRequest { end: end_for(rng, &key), key, prev_kv: rng.random_bool(0.5) }
}

fn compare(rng: &mut Rng, m: &Model) -> Compare {
    let n = rng.random_range(0..=m.current + 1);
    let target = match rng.random_range(0..4) {
        0 => CompareTarget::Value(value(rng)),
        1 => CompareTarget::Version(rng.random_range(0..4)),
        2 => CompareTarget::CreateRevision(n),
        _ => CompareTarget::ModRevision(n),
    };
    let results = [
        CompareResult::Equal,
        CompareResult::NotEqual,
        CompareResult::Greater,
        CompareResult::Less,
    ];
    Compare { key: key(rng), target, result: results[rng.random_range(0..4)] }
}

fn txn_req(rng: &mut Rng, m: &Model) -> TxnRequest {
    let branch = |rng: &mut Rng| -> Vec<RequestOp> {
        (0..rng.random_range(0..4))
            .map(|_| match rng.random_range(0..3) {
                0 => RequestOp::Range(range_req(rng, m)),
                1 => RequestOp::Put(put_req(rng)),
                _ => RequestOp::DeleteRange(delete_req(rng)),
            })
            .collect()
    };
    let success = branch(rng);
    let failure = branch(rng);
    let compare = (0..rng.random_range(0..3)).map(|_| compare(rng, m)).collect();
    TxnRequest { compare, success, failure }
}

/// The store under test, its disk, and the model of what is durable.
struct Harness {
    disk: Rc<SimDisk>,
    store: Option<Store>,
    model: Model,
    durable: Model,
    seen: Coverage,
}

/// How often the interesting outcomes happened (so the fixed-seed test can insist on them).
#[derive(Debug, Default)]
struct Coverage {
    compactions: u32,
    compacted_reads: u32,
    future_reads: u32,
    old_reads: u32,
    txn_success_writes: u32,
    txn_failure_writes: u32,
    reopens: u32,
    limited: u32,
}

impl Harness {
    fn store(&mut self) -> &mut Store {
        self.store.as_mut().expect("open")
    }

    /// Closes the store (without committing) and opens it again from the disk.
    fn reopen(&mut self) {
        self.store = None;
        self.disk.close_all();
        self.store = Some(open_store(&self.disk, StoreConfig::default()).expect("reopen"));
        self.model = self.durable.clone();
        self.seen.reopens += 1;
    }

    fn commit(&mut self) {
        self.store().commit().expect("commit");
        self.durable = self.model.clone();
        self.check_bucket();
    }

    /// The `key` bucket holds exactly the records the model says survive.
    fn check_bucket(&self) {
        let store = self.store.as_ref().expect("open");
        let got: Vec<_> =
            raw_records(store.db()).into_iter().map(|r| (r.rev, r.tombstone, r.kv)).collect();
        assert_eq!(got, self.model.expected_records(), "key bucket after commit");
    }

    /// Every key at every readable revision, plus revision and compaction state.
    fn check_all_revisions(&self) {
        let store = self.store.as_ref().expect("open");
        assert_eq!(store.revision(), self.model.current, "current revision");
        assert_eq!(store.compact_revision(), self.model.compacted, "compact revision");
        for rev in self.model.compacted.max(1)..=self.model.current {
            let r =
                RangeRequest { key: vec![1], end: vec![0], revision: rev, ..Default::default() };
            assert_eq!(store.range(&r).map_err(refused), self.model.range(&r), "all keys at {rev}");
        }
    }

    fn step(&mut self, rng: &mut Rng) {
        let m = &self.model;
        match rng.random_range(0..100) {
            0..=29 => {
                let p = put_req(rng);
                let got = self.store().put(&p).map_err(refused);
                assert_eq!(got, self.model.put(&p), "put {p:?}");
            }
            30..=39 => {
                let d = delete_req(rng);
                let got = self.store().delete_range(&d).map_err(refused);
                assert_eq!(got, self.model.delete_range(&d), "delete {d:?}");
            }
            40..=56 => {
                let t = txn_req(rng, m);
                let got = self.store().txn(&t).map_err(refused);
                let before = self.model.current;
                let want = self.model.txn(&t);
                assert_eq!(got, want, "txn {t:?}");
                if self.model.current > before {
                    match want {
                        Ok(r) if r.succeeded => self.seen.txn_success_writes += 1,
                        _ => self.seen.txn_failure_writes += 1,
                    }
                }
            }
            57..=84 => {
                let r = range_req(rng, m);
                let got = self.store().range(&r).map_err(refused);
                let want = self.model.range(&r);
                assert_eq!(got, want, "range {r:?}");
                match want {
                    Err(Refused::Compacted { .. }) => self.seen.compacted_reads += 1,
                    Err(Refused::Future { .. }) => self.seen.future_reads += 1,
                    Ok(resp) if r.revision != 0 && r.revision < resp.header_revision => {
                        self.seen.old_reads += u32::from(resp.count > 0);
                        self.seen.limited += u32::from(resp.more);
                    }
                    Ok(resp) => self.seen.limited += u32::from(resp.more),
                    _ => {}
                }
            }
            85..=90 => {
                let rev = rng.random_range((m.compacted - 1).max(1)..=m.current + 1);
                let got = self.store().compact(rev).map_err(refused);
                let want = self.model.compact(rev);
                assert_eq!(got, want, "compact {rev}");
                if want.is_ok() {
                    self.seen.compactions += 1;
                    // A compaction commits the batch it follows.
                    self.durable = self.model.clone();
                    self.check_bucket();
                }
            }
            91..=95 => self.commit(),
            96..=98 => {
                self.commit();
                self.reopen();
                self.check_all_revisions();
            }
            _ => {
                // Reopen without committing: the batch is lost, the last commit remains.
                self.reopen();
                self.check_all_revisions();
            }
        }
    }
}

fn run_case(seed: u64, steps: usize) -> Coverage {
    let mut rng = Seed(seed).stream("mvcc-model");
    let disk = new_disk(seed);
    let store = open_store(&disk, StoreConfig::default()).expect("open");
    let mut h = Harness {
        disk,
        store: Some(store),
        model: Model::default(),
        durable: Model::default(),
        seen: Coverage::default(),
    };
    for _ in 0..steps {
        h.step(&mut rng);
    }
    h.check_all_revisions();
    h.commit();
    h.reopen();
    h.check_all_revisions();
    h.seen
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn store_matches_the_model(seed in any::<u64>()) {
        run_case(seed, 300);
    }
}

/// A few fixed seeds, so a plain run always covers them.
#[test]
fn store_matches_the_model_on_fixed_seeds() {
    let mut total = Coverage::default();
    for seed in 0..4 {
        let c = run_case(seed, 300);
        total.compactions += c.compactions;
        total.compacted_reads += c.compacted_reads;
        total.future_reads += c.future_reads;
        total.old_reads += c.old_reads;
        total.txn_success_writes += c.txn_success_writes;
        total.txn_failure_writes += c.txn_failure_writes;
        total.reopens += c.reopens;
        total.limited += c.limited;
    }
    let Coverage { compactions, compacted_reads, future_reads, old_reads, .. } = total;
    let Coverage { txn_success_writes, txn_failure_writes, reopens, limited, .. } = total;
    for (what, n) in [
        ("compactions", compactions),
        ("reads below the compacted revision", compacted_reads),
        ("reads of future revisions", future_reads),
        ("non-empty reads at old revisions", old_reads),
        ("txns writing in the success branch", txn_success_writes),
        ("txns writing in the failure branch", txn_failure_writes),
        ("reopens", reopens),
        ("ranges cut by a limit", limited),
    ] {
        assert!(n >= 5, "only {n} {what} in 4 x 300 steps: {total:?}");
    }
}

/// Puts `k = v` (one new revision).
fn put(s: &mut Store, k: &[u8], v: &[u8]) {
    s.put(&PutRequest { key: k.to_vec(), value: v.to_vec(), ..Default::default() }).unwrap();
}

/// Compaction keeps the latest version of every live key (and the version visible at the
/// compacted revision), answers reads at and after the compacted revision as before, refuses
/// reads below it, and physically removes every other revision at or below it.
#[test]
fn compaction_keeps_live_keys_and_removes_history() {
    let disk = new_disk(7);
    let mut s = open_store(&disk, StoreConfig::default()).unwrap();
    put(&mut s, b"live", b"v1"); // rev 2
    put(&mut s, b"live", b"v2"); // rev 3
    put(&mut s, b"gone", b"g1"); // rev 4
    let del = DeleteRangeRequest { key: b"gone".to_vec(), ..Default::default() };
    s.delete_range(&del).unwrap(); // rev 5
    put(&mut s, b"old", b"o1"); // rev 6: latest version, never overwritten
    put(&mut s, b"live", b"v3"); // rev 7
    put(&mut s, b"late", b"l1"); // rev 8
    let all =
        |rev| RangeRequest { key: vec![1], end: vec![0], revision: rev, ..Default::default() };
    let before: Vec<_> = (6..=8).map(|r| s.range(&all(r)).unwrap().kvs).collect();

    s.compact(6).unwrap();
    for (i, r) in (6..=8).enumerate() {
        assert_eq!(s.range(&all(r)).unwrap().kvs, before[i], "read at {r} after compacting at 6");
    }
    for r in 1..6 {
        assert_eq!(
            s.range(&all(r)),
            Err(MvccError::Compacted { requested: r, compacted: 6 }),
            "read at {r}"
        );
    }
    let live = s.range(&all(0)).unwrap().kvs;
    let latest: Vec<_> = live.iter().map(|kv| (kv.key.as_slice(), kv.value.as_slice())).collect();
    assert_eq!(latest, [(&b"late"[..], &b"l1"[..]), (b"live", b"v3"), (b"old", b"o1")]);
    assert_eq!(live[1].version, 3, "compaction keeps the version count");
    assert_eq!(live[1].create_revision, 2, "and the create revision");

    let revs: Vec<i64> = raw_records(s.db()).iter().map(|r| r.rev.main).collect();
    // 2, 4 and 5 are gone; 3 stays (live's version visible at 6), 6 (old's latest), 7, 8 stay.
    assert_eq!(revs, [3, 6, 7, 8]);

    // Compacting at the head removes everything but each live key's latest version, and a
    // reopen (index rebuilt from the bucket) still answers the same.
    s.compact(8).unwrap();
    assert_eq!(s.range(&all(0)).unwrap().kvs, live);
    let revs: Vec<i64> = raw_records(s.db()).iter().map(|r| r.rev.main).collect();
    assert_eq!(revs, [6, 7, 8]);
    drop(s);
    disk.close_all();
    let s = open_store(&disk, StoreConfig::default()).unwrap();
    assert_eq!(s.range(&all(0)).unwrap().kvs, live);
    assert_eq!((s.revision(), s.compact_revision()), (8, 8));
    assert!(matches!(s.range(&all(7)), Err(MvccError::Compacted { requested: 7, compacted: 8 })));
}

/// The hash covers buffered writes and writes nothing: hashing between commits equals hashing
/// after them, and leaves the batch and the durable index where they were.
#[test]
fn hash_sees_the_batch_and_writes_nothing() {
    let disk = new_disk(9);
    let mut s = open_store(&disk, StoreConfig::default()).unwrap();
    put(&mut s, b"a", b"1");
    s.commit().unwrap();
    let committed = s.hash(0).unwrap();
    put(&mut s, b"a", b"2");
    put(&mut s, b"b", b"1");
    let del = DeleteRangeRequest { key: b"a".to_vec(), ..Default::default() };
    s.delete_range(&del).unwrap();
    let (pending, durable) = (s.pending_ops(), s.durable_index());
    assert!(pending > 0);
    let buffered = s.hash(0).unwrap();
    assert_ne!(buffered.hash, committed.hash, "the batch is hashed");
    assert_eq!(s.hash(committed.revision).unwrap(), committed, "an older revision hashes alone");
    assert_eq!((s.pending_ops(), s.durable_index()), (pending, durable), "hashing wrote nothing");
    s.commit().unwrap();
    assert_eq!(s.hash(0).unwrap(), buffered, "the same hash once committed");
}
