//! The MVCC store adapted to the server's state-machine trait: [`MvccSm`].
//!
//! `MvccSm` keeps an [`engine::mvcc::Store`] over the bolt file `<dir>/db` and implements
//! [`raft::server::StateMachine`] on it:
//!
//! - `apply(index, term, op)` runs the op through [`Store::apply`], so the consistent index and
//!   term enter the same batch as the op's effects (the store's durability contract, item 2). A
//!   compaction goes to the store as it is (and commits durably inside `apply`, as the store
//!   persists its scheduled revision before deleting: the durable index may move there without
//!   `commit`); every other op is planned (module `plan`) into one flat store txn — nested txns
//!   and their compares (all evaluated on the view before the op, as etcd does) are resolved by
//!   the plan — so one op is one
//!   revision at most. `skip(index, term)` applies an empty entry.
//! - Results carry the store's revisions, etcd's numbering: an empty store is at revision 1 and
//!   the first write makes revision 2 (`MemKv` counts from 0: its revisions are ours minus one).
//!   A request the store refuses is `Err(OpError)` — `Compacted` / `FutureRevision` as the store
//!   reports them, `Invalid` for what etcd refuses (an empty key, one key written twice in a txn,
//!   a compaction inside a txn, more than `MAX_REQUEST_BYTES`) — and still advances the
//!   consistent index, like every entry.
//! - `commit()` is [`Store::commit`]: one bolt write transaction holding everything applied
//!   since the last commit and the consistent index covering it (nothing when nothing was
//!   applied). The server calls `commit_if_due(now)` after each Ready's entries and on every
//!   tick, which is the store's `commit_if_due`: etcd's batching, a commit every 100 ms of
//!   (simulated) time or every 10,000 buffered operations, so the durable index lags the
//!   applied one by up to a batch (the server re-applies the rest from its WAL after a crash).
//! - `snapshot()` commits what is pending, then dumps both bolt buckets (`meta`, `key`) in one
//!   read transaction into the checksummed layout of [`snapshot`]. `restore(index, data)` checks
//!   the dump, writes it into `<dir>/db.restore` in one bolt transaction, opens a store on it
//!   (which validates every record), and only then renames it over `<dir>/db` (synced) and
//!   reopens. A crash in the middle leaves the old or the new database, both self-consistent.
//! - Errors: engine disk errors are `SmError::Disk`; a failed earlier commit (fail-stop) is a
//!   `Disk` `Io` error naming its cause; everything else the engine or store reports (bad pages,
//!   bad records, bad meta) is `SmError::Corrupt` naming the file. `read` cannot fail with an
//!   `SmError`: a storage failure while reading is `OpError::Unavailable`.
//!
//! The store sits in a `RefCell` because the trait's `snapshot` takes `&self` but must commit
//! the batch first. The oracles' `hash` sees the batch without committing it: observing a
//! member never changes what its disk holds.
//!
//! For the engine oracle (`crate::oracle::engine`) the bolt database runs in audit mode, and
//! [`long_readers`] hold read transactions open across commits, as etcd does while it streams
//! a snapshot. Each incarnation picks the engine's commit protocol from the consistent index it
//! opened at: an odd one commits with bolt's two flushes, an even one with the commit record's
//! one flush (below 16 MiB), so both protocols run in every scenario; a restore stages its
//! whole store with two flushes (a bulk load).

mod long_readers;
mod plan;
pub mod snapshot;

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;

use engine::mvcc::{
    HashResult, MvccError, Op as StoreOp, OpResult as StoreResult, RangeRequest, ResponseOp, Store,
    StoreConfig, TxnRequest,
};
use engine::{CheckProblem, Db, Options};
use long_readers::LongReaders;
use raft::server::{Op, OpError, OpOutcome, OpResult, SmError, StateMachine};
use sim::io::{Disk, DiskError};
use sim::time::Instant;

use plan::{answer, plan, refusal, PlanError};
use snapshot::Dump;

/// File name of the bolt database inside the state machine's directory.
pub const DB_FILE: &str = "db";
/// File name a snapshot is staged in before it replaces [`DB_FILE`].
pub const RESTORE_FILE: &str = "db.restore";

const BUCKET_META: &[u8] = b"meta";
const BUCKET_KEY: &[u8] = b"key";
const META_CONSISTENT_INDEX: &[u8] = b"consistent_index";

/// Keys and their values, in key order.
pub type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// The MVCC store as a replicated state machine (see the module docs).
pub struct MvccSm {
    disk: Rc<dyn Disk>,
    dir: String,
    store: RefCell<Store>,
    /// The store's batching (kept for the store a restore reopens).
    config: StoreConfig,
    readers: LongReaders,
}

impl fmt::Debug for MvccSm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.store.borrow();
        f.debug_struct("MvccSm")
            .field("dir", &self.dir)
            .field("consistent_index", &s.consistent_index().0)
            .field("durable_index", &s.durable_index())
            .field("revision", &s.revision())
            .finish()
    }
}

/// Why [`MvccSm::check`] failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckError {
    /// The check could not run (the database failed to begin a read transaction).
    Store(SmError),
    /// The bolt file is inconsistent: every problem found.
    Problems(Vec<CheckProblem>),
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckError::Store(e) => write!(f, "check could not run: {e}"),
            CheckError::Problems(ps) => {
                write!(f, "{} consistency problem(s):", ps.len())?;
                for p in ps {
                    write!(f, " {p};")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for CheckError {}

impl MvccSm {
    /// Opens (or creates) the store in `dir` (the bolt file `<dir>/db`) with etcd's default
    /// batching. Usable as the server's opener:
    /// `Rc::new(|disk| MvccSm::open(disk, raft::server::boot::SM_DIR))`.
    pub fn open(disk: Rc<dyn Disk>, dir: &str) -> Result<MvccSm, SmError> {
        MvccSm::open_with(disk, dir, StoreConfig::default())
    }

    /// [`MvccSm::open`] with the store's batch interval and limit given.
    pub fn open_with(
        disk: Rc<dyn Disk>,
        dir: &str,
        config: StoreConfig,
    ) -> Result<MvccSm, SmError> {
        ensure_dir(&*disk, dir)?;
        // A staging file left by a restore that crashed before its rename is incomplete.
        let staged = join(dir, RESTORE_FILE);
        if disk.exists(&staged)? {
            disk.remove(&staged)?;
        }
        let store = open_store(&disk, &join(dir, DB_FILE), config)?;
        let readers = LongReaders::default();
        Ok(MvccSm { disk, dir: dir.to_string(), store: RefCell::new(store), config, readers })
    }

    fn path(&self) -> String {
        join(&self.dir, DB_FILE)
    }

    fn err(&self, e: MvccError) -> SmError {
        store_error(&self.path(), e)
    }

    /// The store's current revision (1 for an empty store).
    pub fn revision(&self) -> u64 {
        let rev = self.store.borrow().revision();
        u64::try_from(rev).unwrap_or_else(|_| panic!("store revision {rev} is negative"))
    }

    /// The consistent index as of the last successful commit: where a crash would reopen.
    pub fn durable_index(&self) -> u64 {
        self.store.borrow().durable_index()
    }

    /// The term of the last applied entry.
    pub fn term(&self) -> u64 {
        self.store.borrow().consistent_index().1
    }

    /// The MVCC hash of every record up to the current revision, the uncommitted batch
    /// included (it writes nothing): members that applied the same entries agree.
    pub fn hash(&self) -> Result<HashResult, SmError> {
        self.store.borrow().hash(0).map_err(|e| self.err(e))
    }

    /// The bolt database underneath (for the engine oracle).
    pub fn engine(&self) -> Db {
        self.store.borrow().db().clone()
    }

    /// The bolt consistency check over the committed file.
    pub fn check(&self) -> Result<(), CheckError> {
        let s = self.store.borrow();
        let problems = s
            .db()
            .view(|tx| Ok(tx.check()))
            .map_err(|e| CheckError::Store(self.err(MvccError::Engine(e))))?;
        if problems.is_empty() {
            Ok(())
        } else {
            Err(CheckError::Problems(problems))
        }
    }

    /// Every live key and its latest value, in key order.
    pub fn dump(&self) -> Result<Pairs, SmError> {
        let req = RangeRequest { key: vec![0], end: vec![0], ..Default::default() };
        let resp = self.store.borrow().range(&req).map_err(|e| self.err(e))?;
        Ok(resp.kvs.into_iter().map(|kv| (kv.key, kv.value)).collect())
    }

    /// The latest value of `key` (`None` if absent).
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, SmError> {
        if key.is_empty() {
            return Ok(None);
        }
        let req = RangeRequest { key: key.to_vec(), ..Default::default() };
        let resp = self.store.borrow().range(&req).map_err(|e| self.err(e))?;
        Ok(resp.kvs.into_iter().next().map(|kv| kv.value))
    }

    /// Runs entry (`index`, `term`) with `ops` through the store: its consistent index advances
    /// whatever the outcome. `None` from the store means the index was applied before, which
    /// the trait's contract rules out.
    fn apply_store(
        &mut self,
        index: u64,
        term: u64,
        ops: &[StoreOp],
    ) -> Result<Vec<StoreResult>, SmError> {
        let mut s = self.store.borrow_mut();
        let ci = s.consistent_index().0;
        assert!(index > ci, "apply of index {index} at or below the consistent index {ci}");
        let out = s.apply(index, term, ops).map_err(|e| store_error(&self.path(), e))?;
        Ok(out.unwrap_or_else(|| panic!("store skipped index {index} above its index {ci}")))
    }

    fn apply_compact(
        &mut self,
        index: u64,
        term: u64,
        revision: u64,
    ) -> Result<OpOutcome, SmError> {
        let Ok(rev) = i64::try_from(revision) else {
            self.apply_store(index, term, &[])?;
            return Ok(Err(OpError::FutureRevision { revision, current: self.revision() }));
        };
        let mut results = self.apply_store(index, term, &[StoreOp::Compact(rev)])?;
        Ok(match results.pop() {
            Some(StoreResult::Compact) => Ok(OpResult::Compact { revision }),
            Some(StoreResult::Error(e)) => Err(refusal(&e)),
            other => panic!("compaction answered with {other:?}"),
        })
    }
}

impl StateMachine for MvccSm {
    fn consistent_index(&self) -> u64 {
        self.store.borrow().consistent_index().0
    }

    fn apply(&mut self, index: u64, term: u64, op: &Op) -> Result<OpOutcome, SmError> {
        if let Op::Compact { revision } = op {
            return self.apply_compact(index, term, *revision);
        }
        let planned = plan(&self.store.borrow(), op);
        let plan::Plan { ops, step, revision } = match planned {
            Ok(p) => p,
            Err(PlanError::Refused(e)) => {
                self.apply_store(index, term, &[])?;
                return Ok(Err(e));
            }
            Err(PlanError::Store(e)) => return Err(self.err(e)),
        };
        let ops = if ops.is_empty() {
            Vec::new()
        } else {
            vec![StoreOp::Txn(TxnRequest { success: ops, ..Default::default() })]
        };
        let mut results = self.apply_store(index, term, &ops)?;
        let responses = match results.pop() {
            None => Vec::new(),
            Some(StoreResult::Txn(t)) => t.responses,
            Some(StoreResult::Error(e)) => return Ok(Err(refusal(&e))),
            Some(other) => panic!("a txn answered with {other:?}"),
        };
        let now = self.revision();
        assert_eq!(now, revision, "the plan of {op:?} expected revision {revision}");
        answer(&step, &responses).map(Ok).map_err(|detail| SmError::Corrupt {
            what: format!("mvcc store {}", self.path()),
            detail,
        })
    }

    fn skip(&mut self, index: u64, term: u64) -> Result<(), SmError> {
        self.apply_store(index, term, &[]).map(|_| ())
    }

    fn read(&self, op: &Op) -> OpOutcome {
        assert!(op.is_read_only(), "read() given a write: {op:?}");
        let s = self.store.borrow();
        let unavailable = |e: &dyn fmt::Display| OpError::Unavailable { reason: e.to_string() };
        let p = match plan(&s, op) {
            Ok(p) => p,
            Err(PlanError::Refused(e)) => return Err(e),
            Err(PlanError::Store(e)) => return Err(unavailable(&e)),
        };
        let mut responses = Vec::with_capacity(p.ops.len());
        for o in &p.ops {
            let engine::mvcc::RequestOp::Range(r) = o else {
                panic!("a read-only op planned a write: {o:?}");
            };
            match s.range(r) {
                Ok(resp) => responses.push(ResponseOp::Range(resp)),
                Err(e) if e.is_request_error() => return Err(refusal(&e)),
                Err(e) => return Err(unavailable(&e)),
            }
        }
        answer(&p.step, &responses).map_err(|detail| unavailable(&detail))
    }

    fn commit(&mut self) -> Result<(), SmError> {
        let committed = self.store.get_mut().commit();
        self.readers.after_commit(self.store.get_mut().db());
        committed.map_err(|e| self.err(e))
    }

    fn commit_if_due(&mut self, now: Instant) -> Result<(), SmError> {
        let committed = self.store.get_mut().commit_if_due(now);
        if committed.as_ref().is_ok_and(|c| *c) {
            self.readers.after_commit(self.store.get_mut().db());
        }
        committed.map(|_| ()).map_err(|e| self.err(e))
    }

    /// The engine's sites ([`engine::buggify`]), armed in the store.
    fn buggify(&mut self, fire: &mut dyn FnMut(&'static str) -> bool) {
        self.store.get_mut().buggify(fire);
    }

    fn snapshot(&self) -> Result<Vec<u8>, SmError> {
        let mut s = self.store.borrow_mut();
        s.commit().map_err(|e| self.err(e))?;
        let index = s.consistent_index().0;
        let (meta, key) = s
            .db()
            .view(|tx| Ok((read_bucket(tx, BUCKET_META)?, read_bucket(tx, BUCKET_KEY)?)))
            .map_err(|e| self.err(MvccError::Engine(e)))?;
        Ok(snapshot::encode(&Dump { index, meta, key }))
    }

    fn restore(&mut self, index: u64, data: &[u8]) -> Result<(), SmError> {
        let bad = |detail: String| SmError::Corrupt { what: "mvcc snapshot".into(), detail };
        let dump = snapshot::decode(data).map_err(bad)?;
        if dump.index != index {
            return Err(bad(format!("taken at index {}, restored as {index}", dump.index)));
        }
        let stored = dump.meta.iter().find(|(k, _)| k == META_CONSISTENT_INDEX).map(|(_, v)| v);
        let want = index.to_be_bytes();
        if index > 0 && stored.map(|v| v.as_slice()) != Some(&want[..]) {
            return Err(bad(format!("meta consistent_index {stored:02x?} is not {index}")));
        }
        let tmp = join(&self.dir, RESTORE_FILE);
        if self.disk.exists(&tmp)? {
            self.disk.remove(&tmp)?;
        }
        let staged = stage(&self.disk, &tmp, &dump)?;
        let (ci, _) = staged.consistent_index();
        let staged_db = staged.db().clone();
        drop(staged);
        staged_db.close().map_err(|e| store_error(&tmp, MvccError::Engine(e)))?;
        if ci != index {
            return Err(bad(format!("rebuilt store is at index {ci}, not {index}")));
        }
        // Release the live database (and its readers) before the staged one replaces it.
        self.readers.end_all();
        let path = self.path();
        self.store.get_mut().db().close().map_err(|e| store_error(&path, MvccError::Engine(e)))?;
        self.disk.rename(&tmp, &path)?;
        self.disk.sync_dir(&self.dir)?;
        *self.store.get_mut() = open_store(&self.disk, &path, self.config)?;
        Ok(())
    }
}

/// Writes `dump` into a new bolt file at `path` in one transaction, with bolt's two flushes (a
/// bulk load), and opens a store on it (which validates every record and the meta).
fn stage(disk: &Rc<dyn Disk>, path: &str, dump: &Dump) -> Result<Store, SmError> {
    let options = Options { one_flush_max_bytes: 0, ..db_options() };
    let db = Db::open_on(Rc::clone(disk), path, options)
        .map_err(|e| store_error(path, MvccError::Engine(e)))?;
    db.update(|tx| {
        for (name, entries) in [(BUCKET_META, &dump.meta), (BUCKET_KEY, &dump.key)] {
            let b = tx.create_bucket_if_not_exists(name)?;
            for (k, v) in entries {
                b.put(k, v)?;
            }
        }
        Ok(())
    })
    .map_err(|e| store_error(path, MvccError::Engine(e)))?;
    Store::open(db, StoreConfig::default()).map_err(|e| store_error(path, e))
}

fn read_bucket(tx: &engine::Tx, name: &[u8]) -> engine::Result<snapshot::Entries> {
    let b = tx.bucket(name)?.ok_or(engine::Error::BucketNotFound)?;
    let mut out = Vec::new();
    let mut c = b.cursor();
    let mut item = c.first()?;
    while let Some((k, v)) = item {
        // The store's buckets hold no nested buckets; a nested one would not be ours.
        if let Some(v) = v {
            out.push((k, v));
        }
        item = c.next()?;
    }
    Ok(out)
}

/// The engine options of the store's database: audit mode on (see the module docs).
fn db_options() -> Options {
    Options { audit: true, ..Options::default() }
}

/// Opens the store at `path`; its commits use two flushes when the consistent index it opened
/// at is odd (see the module docs).
fn open_store(disk: &Rc<dyn Disk>, path: &str, config: StoreConfig) -> Result<Store, SmError> {
    let db = Db::open_on(Rc::clone(disk), path, db_options())
        .map_err(|e| store_error(path, MvccError::Engine(e)))?;
    let store = Store::open(db, config).map_err(|e| store_error(path, e))?;
    if store.consistent_index().0 % 2 == 1 {
        store.db().set_one_flush_max_bytes(0);
    }
    Ok(store)
}

/// Creates `dir` (and its parents) if missing, durably: every created level is synced into its
/// parent.
fn ensure_dir(disk: &dyn Disk, dir: &str) -> Result<(), SmError> {
    if dir.is_empty() || disk.exists(dir)? {
        return Ok(());
    }
    disk.create_dir_all(dir)?;
    let mut d = dir;
    while let Some((parent, _)) = d.rsplit_once('/') {
        disk.sync_dir(parent)?;
        d = parent;
    }
    disk.sync_dir("")?;
    Ok(())
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

/// Maps a store failure to the server's error: disk errors stay disk errors, a fail-stop after
/// a failed commit is an I/O error naming its cause, anything else is corruption of `path`.
fn store_error(path: &str, e: MvccError) -> SmError {
    match e {
        MvccError::Engine(engine::Error::Disk(d)) => SmError::Disk(d),
        MvccError::Engine(engine::Error::FailStop { cause }) | MvccError::FailStop { cause } => {
            SmError::Disk(DiskError::Io {
                op: "mvcc commit",
                path: path.to_string(),
                detail: format!("an earlier commit failed: {cause}"),
            })
        }
        other => SmError::Corrupt { what: format!("mvcc store {path}"), detail: other.to_string() },
    }
}
