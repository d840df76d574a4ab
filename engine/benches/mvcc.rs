//! MVCC store against a bare bolt bucket, on the real disk, in one run.
//!
//! Both sides get the same data and the same batching: `N` puts of the same keys and values
//! (in a scrambled order), committed durably every `BATCH` puts, then `N` point reads, each in
//! its own read transaction (as a server answers one request at a time). The MVCC side pays
//! for revisions: a 17-byte revision key and a record carrying the key and its versions, an
//! index lookup, and the record decode on every read.
//!
//! Run: `cargo bench -p engine --bench mvcc`. Prints a table of throughputs and the ratio.
// A benchmark measures wall-clock time on the real disk; nothing here feeds a test.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::hint::black_box;
use std::time::Instant;

use engine::mvcc::{PutRequest, RangeRequest, Store, StoreConfig};
use engine::{Db, Options};

const N: u64 = 100_000;
const BATCH: u64 = 10_000;
const VALUE_LEN: usize = 100;

/// The `i`-th key: a fixed permutation of `0..N` (7919 is prime to N), so writes are not in
/// key order.
fn key(i: u64) -> Vec<u8> {
    format!("key-{:08}", (i * 7919) % N).into_bytes()
}

fn value(i: u64) -> Vec<u8> {
    vec![(i % 251) as u8; VALUE_LEN]
}

/// Seconds taken by the puts and by the reads.
struct Timing {
    put: f64,
    range: f64,
}

fn bench_mvcc(dir: &std::path::Path) -> Timing {
    let db = Db::open(dir.join("mvcc.db"), Options::default()).expect("open mvcc db");
    let mut store = Store::open(db, StoreConfig::default()).expect("open store");
    let t = Instant::now();
    for i in 0..N {
        let req = PutRequest { key: key(i), value: value(i), ..Default::default() };
        black_box(store.put(&req).expect("put"));
        if (i + 1) % BATCH == 0 {
            store.commit().expect("commit");
        }
    }
    store.commit().expect("commit");
    let put = t.elapsed().as_secs_f64();
    let t = Instant::now();
    for i in 0..N {
        let resp = store.range(&RangeRequest { key: key(i), ..Default::default() }).expect("range");
        assert_eq!(resp.kvs.len(), 1, "key {i} is present");
        black_box(resp);
    }
    let range = t.elapsed().as_secs_f64();
    Timing { put, range }
}

fn bench_bolt(dir: &std::path::Path) -> Timing {
    let db = Db::open(dir.join("bolt.db"), Options::default()).expect("open bolt db");
    db.update(|tx| tx.create_bucket(b"kv").map(|_| ())).expect("create bucket");
    let t = Instant::now();
    for chunk in 0..N / BATCH {
        db.update(|tx| {
            let b = tx.bucket(b"kv")?.expect("bucket");
            for i in chunk * BATCH..(chunk + 1) * BATCH {
                b.put(&key(i), &value(i))?;
            }
            Ok(())
        })
        .expect("batch");
    }
    let put = t.elapsed().as_secs_f64();
    let t = Instant::now();
    for i in 0..N {
        let v = db.view(|tx| tx.bucket(b"kv")?.expect("bucket").get(&key(i))).expect("get");
        assert!(v.is_some(), "key {i} is present");
        black_box(v);
    }
    let range = t.elapsed().as_secs_f64();
    Timing { put, range }
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mvcc = bench_mvcc(dir.path());
    let bolt = bench_bolt(dir.path());
    let rate = |secs: f64| N as f64 / secs;
    println!("{N} ops, {VALUE_LEN}-byte values, commit every {BATCH} puts, real disk");
    println!("{:<24} {:>14} {:>14} {:>12}", "operation", "mvcc ops/s", "bolt ops/s", "mvcc/bolt");
    for (what, m, b) in
        [("put", mvcc.put, bolt.put), ("range (point read)", mvcc.range, bolt.range)]
    {
        println!("{what:<24} {:>14.0} {:>14.0} {:>12.2}", rate(m), rate(b), b / m);
    }
}
