//! `MvccSm`, the MVCC store as the server's state machine: parity with `MemKv` on seeded random
//! operations, refusals, crash and reopen on a `SimDisk`, snapshot and restore, and a 3-node
//! server cluster on it.

use std::collections::BTreeMap;
use std::rc::Rc;

use raft::server::boot::SM_DIR;
use raft::server::{
    ClientRequest, ClientResponse, ClusterSpec, Compare, CompareOp, CompareTarget, KeyValue, MemKv,
    Node, NodeConfig, Op, OpError, OpOutcome, OpResult, Request, ServerError, SmError,
    StateMachine,
};
use rand::seq::SliceRandom;
use rand::Rng as _;
use scenarios::sm::{MvccSm, Pairs};
use sim::io::{Disk, DiskError};
use sim::simulated::disk::{DiskConfig, SimDisk};
use sim::time::Duration;
use sim::world::{World, WorldConfig};
use sim::{NodeId, Rng, Seed};

fn disk(seed: u64) -> Rc<SimDisk> {
    SimDisk::new(Seed(seed).stream("disk"), DiskConfig::default())
}

fn open(d: &Rc<SimDisk>) -> MvccSm {
    MvccSm::open(d.clone(), SM_DIR).expect("open")
}

fn put(k: &str, v: &str) -> Op {
    Op::Put { key: k.into(), value: v.into() }
}

fn get(k: &str) -> Op {
    Op::Range { key: k.into(), range_end: vec![] }
}

// ---- a seeded generator of ops that both state machines define ----

/// Builds random ops on keys `k0..k7`. Revisions in the ops are in `MemKv`'s numbering; `to_mvcc`
/// shifts them to the store's (which counts from 1 for the empty store).
struct Gen {
    rng: Rng,
    keys: Vec<Vec<u8>>,
}

impl Gen {
    fn new(seed: u64) -> Gen {
        Gen {
            rng: Seed(seed).stream("ops"),
            keys: (0..8).map(|i| format!("k{i}").into()).collect(),
        }
    }

    fn key(&mut self) -> Vec<u8> {
        self.keys[self.rng.random_range(0..self.keys.len())].clone()
    }

    fn value(&mut self) -> Vec<u8> {
        format!("v{}", self.rng.random_range(0..6)).into_bytes()
    }

    /// A range over the keys: one key, `[a, b)` (possibly empty or inverted), from a key on, or
    /// from the empty key.
    fn range(&mut self) -> (Vec<u8>, Vec<u8>) {
        match self.rng.random_range(0..5) {
            0 | 1 => (self.key(), vec![]),
            2 => (self.key(), self.key()),
            3 => (self.key(), vec![0]),
            _ => (vec![], self.key()),
        }
    }

    fn compare(&mut self, revision: u64) -> Compare {
        let op = [CompareOp::Equal, CompareOp::NotEqual, CompareOp::Greater, CompareOp::Less]
            [self.rng.random_range(0..4)];
        let target = match self.rng.random_range(0..4) {
            0 if self.rng.random_bool(0.2) => CompareTarget::Value(vec![]),
            0 => CompareTarget::Value(self.value()),
            1 => CompareTarget::Version(self.rng.random_range(0..4)),
            2 => CompareTarget::CreateRevision(self.rng.random_range(0..=revision + 1)),
            _ => CompareTarget::ModRevision(self.rng.random_range(0..=revision + 1)),
        };
        Compare { key: self.key(), op, target }
    }

    /// A txn whose writes all touch distinct single keys (the store refuses a key written twice
    /// in one txn, `MemKv` does not), nesting at most `depth` more levels.
    fn txn(&mut self, revision: u64, free: &mut Vec<Vec<u8>>, depth: u32) -> Op {
        let compares = (0..self.rng.random_range(0..3)).map(|_| self.compare(revision)).collect();
        let branch = |g: &mut Gen, free: &mut Vec<Vec<u8>>| {
            let mut ops = Vec::new();
            for _ in 0..g.rng.random_range(0..4) {
                let op = match g.rng.random_range(0..6) {
                    0 | 1 => match free.pop() {
                        Some(key) => Op::Put { key, value: g.value() },
                        None => continue,
                    },
                    2 => match free.pop() {
                        Some(key) => Op::DeleteRange { key, range_end: vec![] },
                        None => continue,
                    },
                    3 if depth > 0 => g.txn(revision, free, depth - 1),
                    _ => {
                        let (key, range_end) = g.range();
                        Op::Range { key, range_end }
                    }
                };
                ops.push(op);
            }
            ops
        };
        let success = branch(self, free);
        let failure = branch(self, free);
        Op::Txn { compares, success, failure }
    }

    /// One op at `MemKv` revision `revision`.
    fn op(&mut self, revision: u64) -> Op {
        match self.rng.random_range(0..20) {
            0..=6 => Op::Put { key: self.key(), value: self.value() },
            7 | 8 => {
                let (key, range_end) = self.range();
                Op::DeleteRange { key, range_end }
            }
            9 => {
                let (key, range_end) = self.range();
                Op::Range { key, range_end }
            }
            10 => Op::Compact { revision: self.rng.random_range(1..=revision + 2) },
            _ => {
                let mut free = self.keys.clone();
                free.shuffle(&mut self.rng);
                self.txn(revision, &mut free, 1)
            }
        }
    }

    /// A read-only op: a range or a txn of ranges (with a nested one).
    fn read(&mut self, revision: u64) -> Op {
        let (key, range_end) = self.range();
        if self.rng.random_bool(0.7) {
            return Op::Range { key, range_end };
        }
        let (k2, e2) = self.range();
        let inner = Op::Txn {
            compares: vec![self.compare(revision)],
            success: vec![Op::Range { key: k2.clone(), range_end: e2.clone() }],
            failure: vec![],
        };
        Op::Txn {
            compares: vec![self.compare(revision)],
            success: vec![Op::Range { key, range_end }, inner],
            failure: vec![Op::Range { key: k2, range_end: e2 }],
        }
    }
}

/// `MemKv` revision `r` as the store's: the store's empty revision is 1, `MemKv`'s is 0. A 0
/// in a compare means "missing key" in both.
fn shift_target(r: u64) -> u64 {
    if r == 0 {
        0
    } else {
        r + 1
    }
}

/// The op with its revisions in the store's numbering.
fn to_mvcc(op: &Op) -> Op {
    match op {
        Op::Compact { revision } => Op::Compact { revision: revision + 1 },
        Op::Txn { compares, success, failure } => Op::Txn {
            compares: compares
                .iter()
                .map(|c| Compare {
                    target: match &c.target {
                        CompareTarget::CreateRevision(r) => {
                            CompareTarget::CreateRevision(shift_target(*r))
                        }
                        CompareTarget::ModRevision(r) => {
                            CompareTarget::ModRevision(shift_target(*r))
                        }
                        t => t.clone(),
                    },
                    ..c.clone()
                })
                .collect(),
            success: success.iter().map(to_mvcc).collect(),
            failure: failure.iter().map(to_mvcc).collect(),
        },
        other => other.clone(),
    }
}

/// A `MemKv` result with its revisions in the store's numbering.
fn shift_result(r: &OpResult) -> OpResult {
    let kv = |k: &KeyValue| KeyValue {
        create_revision: k.create_revision + 1,
        mod_revision: k.mod_revision + 1,
        ..k.clone()
    };
    match r {
        OpResult::Put { revision } => OpResult::Put { revision: revision + 1 },
        OpResult::Range { kvs, revision } => {
            OpResult::Range { kvs: kvs.iter().map(kv).collect(), revision: revision + 1 }
        }
        OpResult::DeleteRange { deleted, revision } => {
            OpResult::DeleteRange { deleted: *deleted, revision: revision + 1 }
        }
        OpResult::Txn { succeeded, results, revision } => OpResult::Txn {
            succeeded: *succeeded,
            results: results.iter().map(shift_result).collect(),
            revision: revision + 1,
        },
        OpResult::Compact { revision } => OpResult::Compact { revision: revision + 1 },
        other => other.clone(),
    }
}

fn shift(out: &OpOutcome) -> OpOutcome {
    match out {
        Ok(r) => Ok(shift_result(r)),
        Err(OpError::Compacted { revision, compacted }) => {
            Err(OpError::Compacted { revision: revision + 1, compacted: compacted + 1 })
        }
        Err(OpError::FutureRevision { revision, current }) => {
            Err(OpError::FutureRevision { revision: revision + 1, current: current + 1 })
        }
        Err(e) => Err(e.clone()),
    }
}

fn dump(sm: &MvccSm) -> Pairs {
    sm.dump().expect("dump")
}

// ---- parity ----

#[test]
fn apply_and_read_match_memkv_on_seeded_random_ops() {
    for seed in 1..=4u64 {
        let mut g = Gen::new(seed);
        let mut model = MemKv::open(disk(seed), "kv").unwrap();
        let mut sm = open(&disk(seed));
        let (mut txns, mut refused, mut nested) = (0, 0, 0);
        for index in 1..=300u64 {
            let op = g.op(model.revision());
            if index % 7 == 0 {
                model.skip(index, 1).unwrap();
                sm.skip(index, 1).unwrap();
                continue;
            }
            let want = shift(&model.apply(index, 1, &op).unwrap());
            let got = sm.apply(index, 1, &to_mvcc(&op)).unwrap();
            assert_eq!(got, want, "seed {seed} index {index}: {op:?}");
            txns += usize::from(matches!(op, Op::Txn { .. }));
            refused += usize::from(got.is_err());
            nested += usize::from(matches!(&got, Ok(OpResult::Txn { results, .. })
                if results.iter().any(|r| matches!(r, OpResult::Txn { .. }))));
            assert_eq!(sm.revision(), model.revision() + 1, "seed {seed} index {index}");
            assert_eq!(sm.consistent_index(), index);
            for _ in 0..2 {
                let read = g.read(model.revision());
                let want = shift(&model.read(&read));
                assert_eq!(sm.read(&to_mvcc(&read)), want, "seed {seed} after {index}: {read:?}");
            }
            if index % 25 == 0 {
                model.commit().unwrap();
                sm.commit().unwrap();
                assert_eq!(sm.durable_index(), index);
            }
        }
        assert_eq!(dump(&sm), model.dump(), "seed {seed}");
        assert!(txns > 50 && nested > 3 && refused > 0, "seed {seed}: weak mix {txns} {nested}");
        sm.check().expect("bolt check");
    }
}

#[test]
fn same_log_gives_same_results_state_and_hash() {
    let run = |disk_seed: u64| {
        let mut g = Gen::new(9);
        let mut sm = open(&disk(disk_seed));
        let mut outs = Vec::new();
        let mut memkv_rev = 0;
        for index in 1..=200u64 {
            let op = to_mvcc(&g.op(memkv_rev));
            outs.push(sm.apply(index, 2, &op).unwrap());
            memkv_rev = sm.revision() - 1;
            if index % 10 == 0 {
                sm.commit().unwrap();
            }
        }
        (outs, dump(&sm), sm.hash().unwrap(), sm.revision())
    };
    let a = run(1);
    let b = run(2);
    assert_eq!(a, b);
    assert!(a.2.revision > 50, "{:?}", a.2);
}

/// etcd evaluates every compare of a txn, nested ones included, against one read view taken
/// before the txn writes anything (`compareToPath(rv, rt)` in etcd's
/// `server/etcdserver/txn/txn.go`, run before `executeTxn`); ranges inside the txn see its
/// earlier writes. The store and `MemKv` must agree on that.
#[test]
fn nested_compares_see_the_view_before_the_txn_as_in_etcd() {
    let cmp = |key: &str, op, target| Compare { key: key.into(), op, target };
    let setup = [put("a", "1"), put("a", "2"), put("gone", "x")];
    let txn = |compares: Vec<Compare>| Op::Txn {
        compares: vec![cmp("a", CompareOp::Equal, CompareTarget::Version(2))],
        success: vec![
            put("a", "3"),
            Op::DeleteRange { key: "gone".into(), range_end: vec![] },
            put("new", "n"),
            Op::Txn {
                compares,
                success: vec![put("inner", "ok"), get("a"), get("new")],
                failure: vec![put("inner", "no")],
            },
            Op::Range { key: vec![], range_end: vec![0] },
        ],
        failure: vec![],
    };
    // What the txn's own writes would make true: false in the view before it.
    let after_writes = vec![
        cmp("a", CompareOp::Equal, CompareTarget::Version(3)),
        cmp("a", CompareOp::Equal, CompareTarget::Value("3".into())),
        cmp("gone", CompareOp::Equal, CompareTarget::Version(0)),
        cmp("new", CompareOp::Equal, CompareTarget::Version(1)),
    ];
    // The view before the txn: a at version 2 holding "2", gone present, new missing.
    let before = vec![
        cmp("a", CompareOp::Equal, CompareTarget::Version(2)),
        cmp("a", CompareOp::Equal, CompareTarget::Value("2".into())),
        cmp("gone", CompareOp::Equal, CompareTarget::Value("x".into())),
        cmp("new", CompareOp::Equal, CompareTarget::Version(0)),
        cmp("new", CompareOp::Equal, CompareTarget::Value(vec![])),
    ];
    for (compares, inner_succeeds, inner) in
        [(after_writes, false, &b"no"[..]), (before, true, &b"ok"[..])]
    {
        let mut model = MemKv::open(disk(1), "kv").unwrap();
        let mut sm = open(&disk(2));
        for (i, op) in setup.iter().enumerate() {
            let i = i as u64 + 1;
            assert_eq!(sm.apply(i, 1, op).unwrap(), shift(&model.apply(i, 1, op).unwrap()));
        }
        let op = txn(compares);
        let want = shift(&model.apply(4, 1, &op).unwrap());
        let got = sm.apply(4, 1, &to_mvcc(&op)).unwrap();
        assert_eq!(got, want);
        let Ok(OpResult::Txn { succeeded: true, results, revision: 5 }) = &got else {
            panic!("{got:?}")
        };
        assert!(
            matches!(&results[3], OpResult::Txn { succeeded, .. } if *succeeded == inner_succeeds),
            "{results:?}"
        );
        assert_eq!(sm.get(b"inner").unwrap(), Some(inner.to_vec()));
        // The range after the writes sees them: a = 3, gone deleted, new created.
        let OpResult::Range { kvs, .. } = &results[4] else { panic!("{results:?}") };
        let keys: Vec<&[u8]> = kvs.iter().map(|kv| kv.key.as_slice()).collect();
        assert_eq!(keys, vec![&b"a"[..], b"inner", b"new"], "{kvs:?}");
        assert_eq!(kvs[0].value, b"3");
    }
}

// ---- refusals ----

#[test]
fn refused_ops_change_nothing_but_advance_the_consistent_index() {
    let mut sm = open(&disk(1));
    assert_eq!(sm.apply(1, 1, &put("a", "1")).unwrap(), Ok(OpResult::Put { revision: 2 }));
    let invalid = |out: OpOutcome| matches!(out, Err(OpError::Invalid { .. }));
    assert!(invalid(sm.apply(2, 1, &put("", "x")).unwrap()), "empty key");
    let twice =
        Op::Txn { compares: vec![], success: vec![put("b", "1"), put("b", "2")], failure: vec![] };
    assert!(invalid(sm.apply(3, 1, &twice).unwrap()), "a key written twice in one txn");
    let compact_in_txn =
        Op::Txn { compares: vec![], success: vec![Op::Compact { revision: 1 }], failure: vec![] };
    assert!(invalid(sm.apply(4, 1, &compact_in_txn).unwrap()), "compaction inside a txn");
    let big =
        Op::Put { key: b"big".to_vec(), value: vec![7; engine::mvcc::store::MAX_REQUEST_BYTES] };
    assert!(invalid(sm.apply(5, 1, &big).unwrap()), "over the request size limit");
    assert_eq!(
        sm.apply(6, 1, &Op::Compact { revision: 9 }).unwrap(),
        Err(OpError::FutureRevision { revision: 9, current: 2 })
    );
    assert_eq!(
        sm.apply(7, 1, &Op::Compact { revision: u64::MAX }).unwrap(),
        Err(OpError::FutureRevision { revision: u64::MAX, current: 2 })
    );
    assert_eq!(
        sm.apply(8, 1, &Op::Compact { revision: 2 }).unwrap(),
        Ok(OpResult::Compact { revision: 2 })
    );
    assert_eq!(
        sm.apply(9, 1, &Op::Compact { revision: 2 }).unwrap(),
        Err(OpError::Compacted { revision: 2, compacted: 2 })
    );
    assert_eq!((sm.consistent_index(), sm.revision()), (9, 2));
    assert_eq!(dump(&sm), vec![(b"a".to_vec(), b"1".to_vec())]);
    // Ranges the store would refuse are answered as the server's contract defines them.
    let empty =
        |out: OpOutcome| matches!(out, Ok(OpResult::Range { kvs, revision: 2 }) if kvs.is_empty());
    assert!(empty(sm.read(&get(""))));
    assert!(empty(sm.read(&Op::Range { key: b"b".to_vec(), range_end: b"a".to_vec() })));
    let all = sm.read(&Op::Range { key: vec![], range_end: vec![0] });
    assert!(matches!(&all, Ok(OpResult::Range { kvs, .. }) if kvs.len() == 1), "{all:?}");
}

// ---- crash and reopen ----

/// Applies ops `1..=n` of seed `seed` to `sm` (from its consistent index on).
fn replay(sm: &mut MvccSm, seed: u64, n: u64) {
    let mut g = Gen::new(seed);
    let mut memkv_rev = 0;
    for index in 1..=n {
        let op = to_mvcc(&g.op(memkv_rev));
        if index > sm.consistent_index() {
            let _ = sm.apply(index, 1, &op).unwrap();
        }
        // The generator only needs a plausible revision; the store's keeps runs identical.
        memkv_rev = sm.revision() - 1;
    }
}

fn reference(seed: u64, n: u64) -> (Pairs, u64, u64) {
    let mut sm = open(&disk(100));
    replay(&mut sm, seed, n);
    (dump(&sm), sm.revision(), sm.hash().unwrap().hash)
}

#[test]
fn a_crash_loses_only_uncommitted_applies_and_replay_skips_the_rest() {
    let d = disk(5);
    let mut sm = open(&d);
    replay(&mut sm, 3, 40);
    sm.commit().unwrap();
    assert_eq!(sm.durable_index(), 40);
    replay(&mut sm, 3, 70);
    assert_eq!((sm.consistent_index(), sm.durable_index()), (70, 40));
    d.crash();
    drop(sm);
    let mut sm = open(&d);
    assert_eq!(sm.consistent_index(), 40, "reopens at the last commit");
    let (want, rev, hash) = reference(3, 40);
    assert_eq!((dump(&sm), sm.revision(), sm.hash().unwrap().hash), (want, rev, hash));
    // Replaying the log from the start applies only what is after the consistent index.
    replay(&mut sm, 3, 70);
    let (want, rev, hash) = reference(3, 70);
    assert_eq!((dump(&sm), sm.revision(), sm.hash().unwrap().hash), (want, rev, hash));
    sm.commit().unwrap();
    drop(sm);
    d.close_all();
    let sm = open(&d);
    assert_eq!(sm.consistent_index(), 70);
    sm.check().unwrap();
}

#[test]
fn a_crash_at_any_disk_operation_of_a_commit_keeps_index_and_state_together() {
    let after = reference(4, 45);
    let mut outcomes = BTreeMap::new();
    for k in 0..200u64 {
        let d = disk(k);
        let mut sm = open(&d);
        replay(&mut sm, 4, 20);
        sm.commit().unwrap();
        replay(&mut sm, 4, 45);
        // A compaction commits on its own, so the durable index may be past 20 by now.
        let durable = sm.durable_index();
        assert!((20..45).contains(&durable), "durable index {durable}");
        let before = reference(4, durable);
        d.crash_after_ops(k);
        let committed = sm.commit();
        let crashed = d.has_crashed();
        d.crash();
        drop(sm);
        let sm = match MvccSm::open(d.clone(), SM_DIR) {
            Ok(sm) => sm,
            Err(e) => panic!("k={k}: reopen failed: {e}"),
        };
        sm.check().unwrap_or_else(|e| panic!("k={k}: {e}"));
        let ci = sm.consistent_index();
        let state = (dump(&sm), sm.revision(), sm.hash().unwrap().hash);
        match ci {
            45 => assert_eq!(state, after, "k={k}"),
            ci if ci == durable => assert_eq!(state, before, "k={k}"),
            other => panic!("k={k}: reopened at index {other}, not {durable} or 45"),
        }
        if committed.is_ok() && !crashed {
            assert_eq!(ci, 45, "k={k}: a commit that returned Ok must survive");
            outcomes.insert(ci, k);
            break; // k is past the commit's last disk operation
        }
        assert!(committed.is_err(), "k={k}: crashed commit returned Ok");
        outcomes.entry(ci).or_insert(k);
    }
    assert_eq!(outcomes.len(), 2, "both outcomes seen: {outcomes:?}");
}

#[test]
fn a_failed_fsync_fails_stop_until_reopened() {
    let d = disk(9);
    let mut sm = open(&d);
    sm.apply(1, 1, &put("a", "1")).unwrap().unwrap();
    sm.commit().unwrap();
    sm.apply(2, 1, &put("b", "2")).unwrap().unwrap();
    d.fail_next_sync("member/kv");
    assert!(matches!(sm.commit(), Err(SmError::Disk(DiskError::Io { .. }))));
    // The in-memory index may be ahead of the disk: nothing may build on it.
    match sm.apply(3, 1, &put("c", "3")) {
        Err(SmError::Disk(DiskError::Io { detail, .. })) => {
            assert!(detail.contains("earlier commit failed"), "{detail}")
        }
        other => panic!("apply after a failed commit: {other:?}"),
    }
    assert!(matches!(sm.read(&get("a")), Err(OpError::Unavailable { .. })));
    assert!(sm.snapshot().is_err() && sm.hash().is_err());
    drop(sm);
    d.crash();
    let sm = open(&d);
    assert_eq!((sm.consistent_index(), dump(&sm)), (1, vec![(b"a".to_vec(), b"1".to_vec())]));
}

// ---- snapshots ----

fn busy_sm(d: &Rc<SimDisk>) -> MvccSm {
    let mut sm = open(d);
    replay(&mut sm, 6, 60);
    let rev = sm.revision() - 2;
    sm.apply(61, 3, &Op::Compact { revision: rev }).unwrap().unwrap();
    sm.apply(62, 3, &put("after", "compact")).unwrap().unwrap();
    sm.skip(63, 3).unwrap();
    sm
}

#[test]
fn snapshot_restores_elsewhere_durably() {
    let a = busy_sm(&disk(1));
    let snap = a.snapshot().unwrap();
    let d = disk(2);
    let mut b = open(&d);
    b.apply(1, 1, &put("stale", "x")).unwrap().unwrap();
    b.restore(63, &snap).unwrap();
    assert_eq!(dump(&b), dump(&a));
    assert_eq!((b.consistent_index(), b.revision()), (63, a.revision()));
    assert_eq!(b.hash().unwrap(), a.hash().unwrap());
    assert_eq!(b.read(&get("after")), a.read(&get("after")));
    // Still usable, and the restore is durable.
    b.apply(64, 3, &put("x", "1")).unwrap().unwrap();
    d.crash();
    drop(b);
    let b = open(&d);
    assert_eq!(b.consistent_index(), 63, "restored state survives a crash");
    assert_eq!(dump(&b), dump(&a));
    b.check().unwrap();
    assert!(!d.exists("member/kv/db.restore").unwrap(), "staging file renamed away");
    // A snapshot of the restored store is the same bytes.
    assert_eq!(b.snapshot().unwrap(), snap);
}

#[test]
fn a_crash_at_any_disk_operation_of_a_restore_leaves_the_old_or_the_new_store() {
    let a = busy_sm(&disk(1));
    let snap = a.snapshot().unwrap();
    let mut seen = BTreeMap::new();
    for k in 0..400u64 {
        let d = disk(k);
        let mut b = open(&d);
        b.apply(1, 1, &put("old", "1")).unwrap().unwrap();
        b.commit().unwrap();
        d.crash_after_ops(k);
        let restored = b.restore(63, &snap);
        let crashed = d.has_crashed();
        d.crash();
        drop(b);
        let b = MvccSm::open(d.clone(), SM_DIR).unwrap_or_else(|e| panic!("k={k}: {e}"));
        b.check().unwrap_or_else(|e| panic!("k={k}: {e}"));
        assert!(!d.exists("member/kv/db.restore").unwrap(), "k={k}: staging file left");
        match b.consistent_index() {
            1 => assert_eq!(dump(&b), vec![(b"old".to_vec(), b"1".to_vec())], "k={k}"),
            63 => assert_eq!((dump(&b), b.hash().unwrap()), (dump(&a), a.hash().unwrap()), "k={k}"),
            other => panic!("k={k}: reopened at {other}"),
        }
        seen.entry(b.consistent_index()).or_insert(k);
        if restored.is_ok() && !crashed {
            assert_eq!(b.consistent_index(), 63, "k={k}: a restore that returned Ok is durable");
            break;
        }
    }
    assert_eq!(seen.len(), 2, "both outcomes seen: {seen:?}");
}

#[test]
fn restore_refuses_garbage_truncation_and_a_wrong_index() {
    let a = busy_sm(&disk(1));
    let snap = a.snapshot().unwrap();
    let d = disk(3);
    let mut b = open(&d);
    b.apply(1, 1, &put("keep", "me")).unwrap().unwrap();
    let corrupt = |r: Result<(), SmError>| matches!(r, Err(SmError::Corrupt { .. }));
    let e = b.restore(64, &snap).unwrap_err();
    assert!(e.to_string().contains("taken at index 63"), "{e}");
    for cut in (0..snap.len()).step_by(7).chain([snap.len() - 1]) {
        assert!(corrupt(b.restore(63, &snap[..cut])), "prefix of {cut} bytes accepted");
    }
    for at in [0, 5, 12, snap.len() / 2, snap.len() - 1] {
        let mut bad = snap.clone();
        bad[at] ^= 0x40;
        assert!(corrupt(b.restore(63, &bad)), "flip at {at} accepted");
    }
    assert!(corrupt(b.restore(63, b"not a snapshot at all")));
    // A MemKv snapshot is not ours either.
    let mut m = MemKv::open(disk(4), "kv").unwrap();
    m.apply(1, 1, &put("a", "1")).unwrap().unwrap();
    assert!(corrupt(b.restore(1, &m.snapshot().unwrap())));
    // Nothing changed.
    assert_eq!((b.consistent_index(), dump(&b)), (1, vec![(b"keep".to_vec(), b"me".to_vec())]));
}

#[test]
fn a_damaged_database_file_is_a_typed_error() {
    let d = disk(8);
    let mut sm = open(&d);
    sm.apply(1, 1, &put("a", "1")).unwrap().unwrap();
    sm.commit().unwrap();
    drop(sm);
    d.close_all();
    let f = d.open("member/kv/db", sim::io::OpenOptions::write()).unwrap();
    f.write_at(0, &[0xAB; 8192]).unwrap(); // both meta pages
    f.sync().unwrap();
    drop(f);
    match MvccSm::open(d.clone(), SM_DIR) {
        Err(SmError::Corrupt { what, detail }) => {
            assert!(what.contains("member/kv/db"), "{what}");
            assert!(detail.contains("meta"), "{detail}");
        }
        other => panic!("damaged file opened: {other:?}"),
    }
}

// ---- a 3-node server cluster on MvccSm ----

const IC: &str = "n1=http://n1:2380,n2=http://n2:2380,n3=http://n3:2380";

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

type Answer = Result<OpResult, ServerError>;

/// Three bootstrap members on `MvccSm` (the shape of raft's server test harness).
struct Cluster {
    w: World<Node<MvccSm>>,
    next_id: u64,
}

impl Cluster {
    fn new(seed: u64, tweak: impl Fn(&mut NodeConfig) + Clone + 'static) -> Cluster {
        let mut w = World::new(Seed(seed), WorldConfig::default());
        for k in 1..=3u32 {
            let tweak = tweak.clone();
            w.add_node(NodeId(k), move |_| {
                let spec =
                    ClusterSpec::Bootstrap { initial_cluster: IC.into(), token: "sm-test".into() };
                let mut cfg = NodeConfig::new(&format!("n{k}"), spec);
                cfg.wal.segment_size = 64 * 1024;
                tweak(&mut cfg);
                Node::new(cfg, Rc::new(|disk| MvccSm::open(disk, SM_DIR)))
            });
        }
        Cluster { w, next_id: 1 }
    }

    fn running(&self, n: NodeId) -> &raft::server::Running<MvccSm> {
        self.w.node(n).and_then(|x| x.running()).unwrap_or_else(|| panic!("{n:?} is not running"))
    }

    fn sm(&self, n: NodeId) -> &MvccSm {
        self.running(n).state_machine()
    }

    /// Runs until every running member follows one leader; returns it.
    fn await_stable_leader(&mut self) -> NodeId {
        let until = self.w.now() + ms(10_000);
        self.w.run_while(until, |w| {
            let rs: Vec<_> = w.node_ids().iter().filter_map(|n| w.node(*n)?.running()).collect();
            let l = rs.first().map_or(0, |r| r.leader());
            !(l != 0 && rs.iter().all(|r| r.leader() == l) && rs.iter().any(|r| r.is_leader()))
        });
        let nodes = self.w.node_ids();
        let leader = nodes
            .into_iter()
            .find(|n| self.w.node(*n).and_then(|x| x.running()).is_some_and(|r| r.is_leader()));
        leader.unwrap_or_else(|| panic!("no stable leader by {}", self.w.now()))
    }

    /// Sends `requests` (every third through `b`, the rest to `a`) and runs until all are
    /// answered; returns the answers by id.
    fn send_all(
        &mut self,
        requests: Vec<Request>,
        (a, b): (NodeId, NodeId),
    ) -> BTreeMap<u64, Answer> {
        let ids: Vec<u64> = (self.next_id..self.next_id + requests.len() as u64).collect();
        self.next_id += requests.len() as u64;
        for (i, (id, request)) in ids.iter().zip(requests).enumerate() {
            // Some through a follower: raft forwards them to the leader.
            let to = if i % 3 == 0 { b } else { a };
            self.w.request(to, ClientRequest { id: *id, request });
        }
        let mut answers = BTreeMap::new();
        let until = self.w.now() + ms(10_000);
        while answers.len() < ids.len() && self.w.now() < until && self.w.step() {
            for (_, _, ClientResponse { id, result }) in self.w.take_responses() {
                assert!(answers.insert(id, result).is_none(), "request {id} answered twice");
            }
        }
        assert_eq!(answers.len(), ids.len(), "answered by {}: {answers:?}", self.w.now());
        answers
    }

    /// Runs until every member applied the same index, at least `min`; returns it.
    fn await_converged(&mut self, min: u64) -> u64 {
        let until = self.w.now() + ms(10_000);
        self.w.run_while(until, |w| {
            let idx: Vec<u64> = w
                .node_ids()
                .iter()
                .map(|n| w.node(*n).and_then(|x| x.running()).map_or(0, |r| r.applied_index()))
                .collect();
            !(idx.iter().all(|i| *i == idx[0]) && idx[0] >= min)
        });
        let applied: Vec<u64> =
            self.w.node_ids().iter().map(|n| self.running(*n).applied_index()).collect();
        assert!(applied.iter().all(|a| *a == applied[0]) && applied[0] >= min, "{applied:?}");
        applied[0]
    }

    /// Every member's state machine: same hash at the same applied index, same contents,
    /// consistent index = applied index, durable once the batch interval passed (the server
    /// commits a due batch on its tick), and a clean bolt check. Returns the hash.
    fn assert_members_agree(&mut self) -> engine::mvcc::HashResult {
        let t = self.w.now() + ms(250);
        self.w.run_until(t);
        let nodes = self.w.node_ids();
        let hashes: Vec<_> = nodes.iter().map(|n| self.sm(*n).hash().unwrap()).collect();
        assert!(hashes.iter().all(|h| *h == hashes[0]), "hashes {hashes:?}");
        let dumps: Vec<_> = nodes.iter().map(|n| dump(self.sm(*n))).collect();
        assert!(dumps.iter().all(|d| *d == dumps[0]), "contents differ");
        for n in &nodes {
            let (r, sm) = (self.running(*n), self.sm(*n));
            assert_eq!(sm.consistent_index(), r.applied_index(), "{n:?}");
            assert_eq!(sm.durable_index(), r.applied_index(), "{n:?}: batch committed while idle");
            sm.check().unwrap_or_else(|e| panic!("{n:?}: {e}"));
        }
        let fatal: Vec<_> =
            self.w.halts().iter().filter(|(_, _, h)| !matches!(h, sim::Halt::Crashed)).collect();
        assert!(fatal.is_empty(), "fatal halts: {fatal:?}");
        hashes[0]
    }
}

fn revision_of(out: &Answer) -> u64 {
    match out {
        Ok(
            OpResult::Put { revision }
            | OpResult::DeleteRange { revision, .. }
            | OpResult::Txn { revision, .. },
        ) => *revision,
        other => panic!("not a write result: {other:?}"),
    }
}

fn puts(prefix: &str, n: usize) -> Vec<Request> {
    (0..n)
        .map(|i| Request::Put { key: format!("{prefix}{i}").into(), value: format!("v{i}").into() })
        .collect()
}

#[test]
fn three_members_on_mvcc_converge_with_equal_hashes() {
    let mut c = Cluster::new(21, |_| {});
    let leader = c.await_stable_leader();
    let follower = c.w.node_ids().into_iter().find(|n| *n != leader).unwrap();
    let to = (leader, follower);
    // Phase 1: ten puts. Phase 2: deletes of five of them, txns guarded on another, puts.
    let mut answers = c.send_all(puts("k", 10), to);
    let phase2 = (0..20u64).map(|i| match i % 4 {
        0 => Request::DeleteRange { key: format!("k{}", i / 4).into(), range_end: vec![] },
        1 => Request::Txn {
            compares: vec![Compare {
                key: b"k9".to_vec(),
                op: CompareOp::Equal,
                target: CompareTarget::Version(1),
            }],
            success: vec![put(&format!("t{i}"), "yes"), get("k9")],
            failure: vec![put(&format!("t{i}"), "no")],
        },
        _ => Request::Put { key: format!("p{i}").into(), value: format!("w{i}").into() },
    });
    answers.extend(c.send_all(phase2.collect(), to));
    let mut revisions: Vec<u64> = answers.values().map(revision_of).collect();
    revisions.sort_unstable();
    assert_eq!(revisions, (2..=31).collect::<Vec<_>>(), "one revision per write after 1");
    for (id, out) in &answers {
        if let Ok(OpResult::Txn { succeeded, results, .. }) = out {
            assert!(*succeeded, "txn {id}");
            assert!(
                matches!(&results[1], OpResult::Range { kvs, .. } if kvs[0].value == b"v9"),
                "txn {id}: {results:?}"
            );
        }
    }
    let applied = c.await_converged(31);
    // Commits are batched (etcd's 100 ms): right after applying, some member's durable index
    // lags; the batch reaches the disk on a later tick (checked by assert_members_agree).
    let durable: Vec<u64> = c.w.node_ids().iter().map(|n| c.sm(*n).durable_index()).collect();
    assert!(durable.iter().any(|d| *d < applied), "durable {durable:?}, applied {applied}");
    let h = c.assert_members_agree();
    assert_eq!(h.revision, 31);
    let sm = c.sm(leader);
    assert_eq!(dump(sm).len(), 5 + 5 + 10, "k5..k9, t*, p*");
    assert_eq!(sm.get(b"k9").unwrap(), Some(b"v9".to_vec()));
    assert_eq!(sm.get(b"k0").unwrap(), None, "deleted");
}

#[test]
fn a_lagging_member_installs_an_mvcc_snapshot_and_agrees() {
    let mut c = Cluster::new(34, |cfg| {
        cfg.snapshot_count = 20;
        cfg.catch_up_entries = 5;
    });
    let leader = c.await_stable_leader();
    let f = c.w.node_ids().into_iter().find(|n| *n != leader).unwrap();
    c.send_all(puts("a", 10), (leader, leader));
    c.await_converged(10);
    let before = c.running(f).applied_index();
    c.w.crash(f);
    let mut compacted = Vec::new();
    for round in 0..4 {
        c.send_all(puts(&format!("b{round}-"), 25), (leader, leader));
        compacted.push(Request::Compact { revision: c.sm(leader).revision() - 5 });
    }
    // Compactions go through the log too; the snapshot carries the compacted store.
    let answers = c.send_all(compacted, (leader, leader));
    assert!(answers.values().all(|a| matches!(a, Ok(OpResult::Compact { .. }))), "{answers:?}");
    let l = c.running(leader);
    assert!(l.first_log_index() > before + 1, "the leader compacted its log past the follower");
    assert!(l.metrics().snapshots >= 4, "{}", l.metrics());
    c.w.restart(f);
    let hi = c.running(leader).applied_index();
    c.await_converged(hi);
    let r = c.running(f);
    assert!(r.snapshot_index() > before, "follower snapshot {} <= {before}", r.snapshot_index());
    let h = c.assert_members_agree();
    assert_eq!(h.revision, 111, "110 puts after the empty revision");
    assert_eq!(h.compact_revision, 106);
    assert_eq!(dump(c.sm(f)).len(), 110);
}

#[test]
fn a_whole_cluster_restarts_on_its_mvcc_stores_and_wal_tails() {
    let mut c = Cluster::new(35, |cfg| {
        cfg.snapshot_count = 10;
        cfg.catch_up_entries = 3;
    });
    let leader = c.await_stable_leader();
    c.send_all(puts("k", 47), (leader, leader));
    let hi = c.await_converged(47);
    let before = c.assert_members_agree();
    for n in c.w.node_ids() {
        c.w.crash(n);
    }
    for n in c.w.node_ids() {
        c.w.restart(n);
    }
    c.w.run_until(c.w.now() + ms(1));
    for n in c.w.node_ids() {
        let sm = c.sm(n);
        assert_eq!(sm.consistent_index(), hi, "{n:?}: every apply was committed");
        // Replay skipped what the store had applied: each put made exactly one revision.
        assert_eq!(sm.revision(), 48, "{n:?}");
        assert_eq!(sm.hash().unwrap(), before, "{n:?}");
    }
    let l = c.await_stable_leader();
    c.send_all(puts("after", 3), (l, l));
    c.await_converged(hi + 3);
    assert_eq!(c.assert_members_agree().revision, 51);
}
