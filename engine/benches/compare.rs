//! Side-by-side benchmark of the engine, redb and LMDB (via heed), durable settings on all
//! three, on real files in a temporary directory:
//!
//! - W1 bulk load of N random 16-byte keys with 100-byte values in one durable transaction
//! - W2 N random gets
//! - W3 2,000 single-put durable commits
//! - W4 full ordered scan
//! - W5 100 transactions of 1,000 random overwrites
//!
//! N is 1,000,000 (set `ENGINE_BENCH_N` to change it). Run with
//! `cargo bench -p engine --bench compare`. Prints a table of operations per second.
//! `ENGINE_BENCH_DIR` chooses where the temporary files go (default: the current directory).
//! `ENGINE_BENCH_ONLY=engine` (or `redb`, `lmdb`) runs one store, e.g. under a profiler;
//! `ENGINE_BENCH_WORKLOADS=w3,w5` runs only the listed workloads (W1 always runs: it loads the
//! data the others read). Both are for profiling: the full table needs neither.
//! Each workload runs on all three stores before the next one starts, so load from other
//! processes on a shared machine skews the stores alike; run it a few times and compare the
//! stores within a run.
//!
//! What "durable" means for each, all at their defaults: every commit returns only once it is
//! on disk. LMDB writes the pages, fdatasyncs, then writes the meta through an `O_DSYNC`
//! descriptor; redb's default `Durability::Immediate` checksums its pages and commits with a
//! single fsync. The engine does bolt's two fdatasyncs for a commit of more than 16 MiB of pages
//! (W1) and otherwise writes the pages and a meta carrying a commit record (a hash of the pages,
//! checked when the file is opened: see `engine::record`) and fdatasyncs once. So a small
//! commit (W3) costs one device flush on the engine and redb, two on LMDB. Reads use
//! each store's borrowing API (heed and redb lend their bytes; the engine's `get_ref` and
//! `*_ref` cursor methods do too).
#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "a benchmark measures real time on real files"
)]

use std::path::Path;
use std::time::Instant;

use rand::seq::SliceRandom;
use rand::Rng as _;
use redb::ReadableDatabase as _;
use sim::Seed;

const VALUE_LEN: usize = 100;
const W3_COMMITS: usize = 2_000;
const W5_TXNS: usize = 100;
const W5_PER_TXN: usize = 1_000;

/// One store under test.
trait Store {
    fn name(&self) -> &'static str;
    fn bulk_load(&mut self, kvs: &[([u8; 16], [u8; VALUE_LEN])]);
    fn gets(&mut self, keys: &[[u8; 16]]) -> usize;
    fn single_put_commits(&mut self, kvs: &[([u8; 16], [u8; VALUE_LEN])]);
    fn scan(&mut self) -> usize;
    fn overwrite_txns(&mut self, batches: &[Vec<[u8; 16]>], value: &[u8; VALUE_LEN]);
}

struct EngineStore(engine::Db);

impl Store for EngineStore {
    fn name(&self) -> &'static str {
        "engine"
    }
    fn bulk_load(&mut self, kvs: &[([u8; 16], [u8; VALUE_LEN])]) {
        self.0
            .update(|tx| {
                let b = tx.create_bucket_if_not_exists(b"bench")?;
                for (k, v) in kvs {
                    b.put(k, v)?;
                }
                Ok(())
            })
            .unwrap();
    }
    fn gets(&mut self, keys: &[[u8; 16]]) -> usize {
        self.0
            .view(|tx| {
                let b = tx.bucket(b"bench")?.unwrap();
                let mut found = 0;
                for k in keys {
                    found += usize::from(b.get_ref(k)?.is_some());
                }
                Ok(found)
            })
            .unwrap()
    }
    fn single_put_commits(&mut self, kvs: &[([u8; 16], [u8; VALUE_LEN])]) {
        for (k, v) in kvs {
            self.0.update(|tx| tx.bucket(b"bench")?.unwrap().put(k, v)).unwrap();
        }
    }
    fn scan(&mut self) -> usize {
        self.0
            .view(|tx| {
                let mut n = 0;
                let mut c = tx.bucket(b"bench")?.unwrap().cursor();
                let mut item = c.first_ref()?;
                while item.is_some() {
                    n += 1;
                    item = c.next_ref()?;
                }
                Ok(n)
            })
            .unwrap()
    }
    fn overwrite_txns(&mut self, batches: &[Vec<[u8; 16]>], value: &[u8; VALUE_LEN]) {
        for batch in batches {
            self.0
                .update(|tx| {
                    let b = tx.bucket(b"bench")?.unwrap();
                    for k in batch {
                        b.put(k, value)?;
                    }
                    Ok(())
                })
                .unwrap();
        }
    }
}

const TABLE: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new("bench");

struct RedbStore(redb::Database);

impl Store for RedbStore {
    fn name(&self) -> &'static str {
        "redb"
    }
    fn bulk_load(&mut self, kvs: &[([u8; 16], [u8; VALUE_LEN])]) {
        let w = self.0.begin_write().unwrap();
        {
            let mut t = w.open_table(TABLE).unwrap();
            for (k, v) in kvs {
                t.insert(k.as_slice(), v.as_slice()).unwrap();
            }
        }
        w.commit().unwrap();
    }
    fn gets(&mut self, keys: &[[u8; 16]]) -> usize {
        let r = self.0.begin_read().unwrap();
        let t = r.open_table(TABLE).unwrap();
        keys.iter().filter(|k| t.get(k.as_slice()).unwrap().is_some()).count()
    }
    fn single_put_commits(&mut self, kvs: &[([u8; 16], [u8; VALUE_LEN])]) {
        for (k, v) in kvs {
            let w = self.0.begin_write().unwrap();
            w.open_table(TABLE).unwrap().insert(k.as_slice(), v.as_slice()).unwrap();
            w.commit().unwrap();
        }
    }
    fn scan(&mut self) -> usize {
        let r = self.0.begin_read().unwrap();
        let t = r.open_table(TABLE).unwrap();
        let mut n = 0;
        for item in t.range::<&[u8]>(..).unwrap() {
            item.unwrap();
            n += 1;
        }
        n
    }
    fn overwrite_txns(&mut self, batches: &[Vec<[u8; 16]>], value: &[u8; VALUE_LEN]) {
        for batch in batches {
            let w = self.0.begin_write().unwrap();
            {
                let mut t = w.open_table(TABLE).unwrap();
                for k in batch {
                    t.insert(k.as_slice(), value.as_slice()).unwrap();
                }
            }
            w.commit().unwrap();
        }
    }
}

struct LmdbStore {
    env: heed::Env,
    db: heed::Database<'static, heed::types::Bytes, heed::types::Bytes>,
}

impl Store for LmdbStore {
    fn name(&self) -> &'static str {
        "lmdb"
    }
    fn bulk_load(&mut self, kvs: &[([u8; 16], [u8; VALUE_LEN])]) {
        let mut w = self.env.write_txn().unwrap();
        for (k, v) in kvs {
            self.db.put(&mut w, k, v).unwrap();
        }
        w.commit().unwrap();
    }
    fn gets(&mut self, keys: &[[u8; 16]]) -> usize {
        let r = self.env.read_txn().unwrap();
        keys.iter().filter(|k| self.db.get(&r, k.as_slice()).unwrap().is_some()).count()
    }
    fn single_put_commits(&mut self, kvs: &[([u8; 16], [u8; VALUE_LEN])]) {
        for (k, v) in kvs {
            let mut w = self.env.write_txn().unwrap();
            self.db.put(&mut w, k, v).unwrap();
            w.commit().unwrap();
        }
    }
    fn scan(&mut self) -> usize {
        let r = self.env.read_txn().unwrap();
        let mut n = 0;
        for item in self.db.iter(&r).unwrap() {
            item.unwrap();
            n += 1;
        }
        n
    }
    fn overwrite_txns(&mut self, batches: &[Vec<[u8; 16]>], value: &[u8; VALUE_LEN]) {
        for batch in batches {
            let mut w = self.env.write_txn().unwrap();
            for k in batch {
                self.db.put(&mut w, k, value).unwrap();
            }
            w.commit().unwrap();
        }
    }
}

fn open_lmdb(dir: &Path) -> LmdbStore {
    std::fs::create_dir_all(dir).unwrap();
    let mut opts = heed::EnvOpenOptions::new();
    opts.map_size(16 << 30);
    // SAFETY: heed's open maps the environment's file; this process is its only user and keeps
    // the environment open once, which is what LMDB requires.
    #[allow(unsafe_code)]
    let env = unsafe { opts.open(dir) }.unwrap();
    let w = env.write_txn().unwrap();
    let db = env
        .create_databases_and_commit(w, |dbo, w| {
            dbo.create_database(w, None).map(heed::CommitOrAbort::<_, ()>::Commit)
        })
        .map_err(|e: heed::Error| e)
        .unwrap()
        .unwrap_commit();
    LmdbStore { env, db }
}

/// Runs workload `w` (0 = W1 .. 4 = W5) on `s` and returns its operations per second.
fn run_workload(
    w: usize,
    s: &mut dyn Store,
    kvs: &[([u8; 16], [u8; VALUE_LEN])],
    gets: &[[u8; 16]],
    singles: &[([u8; 16], [u8; VALUE_LEN])],
    batches: &[Vec<[u8; 16]>],
) -> f64 {
    match w {
        0 => rate(kvs.len(), || s.bulk_load(kvs)),
        1 => {
            let mut found = 0;
            let r = rate(gets.len(), || found = s.gets(gets));
            assert_eq!(found, gets.len(), "{}: every key found", s.name());
            r
        }
        2 => rate(singles.len(), || s.single_put_commits(singles)),
        3 => {
            let mut scanned = 0;
            let r = rate(kvs.len() + singles.len(), || scanned = s.scan());
            assert_eq!(scanned, kvs.len() + singles.len(), "{}: scan sees every key", s.name());
            r
        }
        _ => rate(W5_TXNS * W5_PER_TXN, || s.overwrite_txns(batches, &[9u8; VALUE_LEN])),
    }
}

/// Operations per second of `ops` operations taking `f`.
fn rate(ops: usize, f: impl FnOnce()) -> f64 {
    let start = Instant::now();
    f();
    ops as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let n: usize =
        std::env::var("ENGINE_BENCH_N").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let mut rng = Seed(2024).stream("bench");
    let mut kvs: Vec<([u8; 16], [u8; VALUE_LEN])> =
        (0..n).map(|_| (rng.random::<[u8; 16]>(), [rng.random::<u8>(); VALUE_LEN])).collect();
    kvs.sort_by_key(|a| a.0);
    kvs.dedup_by(|a, b| a.0 == b.0);
    kvs.shuffle(&mut rng);
    let mut gets: Vec<[u8; 16]> = kvs.iter().map(|kv| kv.0).collect();
    gets.shuffle(&mut rng);
    let singles: Vec<([u8; 16], [u8; VALUE_LEN])> =
        (0..W3_COMMITS).map(|_| (rng.random::<[u8; 16]>(), [7u8; VALUE_LEN])).collect();
    let batches: Vec<Vec<[u8; 16]>> = (0..W5_TXNS)
        .map(|_| (0..W5_PER_TXN).map(|_| kvs[rng.random_range(0..kvs.len())].0).collect())
        .collect();
    let dir =
        tempfile::tempdir_in(std::env::var("ENGINE_BENCH_DIR").unwrap_or_else(|_| ".".into()))
            .unwrap();
    let engine_db =
        engine::Db::open(dir.path().join("engine.db"), engine::Options::default()).unwrap();
    let redb_db = redb::Database::create(dir.path().join("redb.db")).unwrap();
    let mut stores: Vec<Box<dyn Store>> = vec![
        Box::new(EngineStore(engine_db)),
        Box::new(RedbStore(redb_db)),
        Box::new(open_lmdb(&dir.path().join("lmdb"))),
    ];
    let names = [
        "W1 bulk load",
        "W2 random gets",
        "W3 single-put commits",
        "W4 full scan",
        "W5 overwrite txns",
    ];
    // ENGINE_BENCH_ONLY=engine (or redb, lmdb) runs one store, e.g. under a profiler.
    let only = std::env::var("ENGINE_BENCH_ONLY").ok();
    let active: Vec<bool> =
        stores.iter().map(|s| only.as_deref().is_none_or(|o| o == s.name())).collect();
    let chosen = std::env::var("ENGINE_BENCH_WORKLOADS").ok();
    let runs_workload = |w: usize| {
        w == 0 || chosen.as_deref().is_none_or(|c| c.split(',').any(|x| x == format!("w{}", w + 1)))
    };
    let mut table = vec![[0.0f64; 5]; stores.len()];
    // Each workload runs on every store before the next workload starts (each store still sees
    // W1..W5 in order), so a burst of load from elsewhere on the machine skews the stores alike
    // instead of one store's whole column.
    for (w, name) in names.iter().enumerate().filter(|(w, _)| runs_workload(*w)) {
        eprintln!("running {name} ...");
        for (k, s) in stores.iter_mut().enumerate() {
            if active[k] {
                let singles = if runs_workload(2) { &singles[..] } else { &[] };
                table[k][w] = run_workload(w, s.as_mut(), &kvs, &gets, singles, &batches);
            }
        }
    }
    println!("\nops/s, N = {} keys (16-byte keys, 100-byte values), durable commits", kvs.len());
    println!("{:<24} {:>14} {:>14} {:>14}", "workload", "engine", "redb", "lmdb");
    for (i, name) in names.iter().enumerate() {
        println!("{:<24} {:>14.0} {:>14.0} {:>14.0}", name, table[0][i], table[1][i], table[2][i]);
    }
}
