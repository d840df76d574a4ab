//! The MVCC store: revisions over the batching backend and the in-memory key index.

use std::collections::{BTreeMap, BTreeSet};

use sim::time::{Duration, Instant};

use crate::{planted, Db};

use super::backend::{Backend, BucketName};
use super::error::MvccError;
use super::key_index::{Found, KeyIndex};
use super::record::KeyValue;
use super::request::*;
use super::revision::Revision;

/// Meta bucket keys (etcd's names).
pub(super) const META_CONSISTENT_INDEX: &[u8] = b"consistent_index";
pub(super) const META_TERM: &[u8] = b"term";
pub(super) const META_SCHEDULED_COMPACT: &[u8] = b"scheduledCompactRev";
pub(super) const META_FINISHED_COMPACT: &[u8] = b"finishedCompactRev";

/// Largest key + value a request may carry (etcd's default `--max-request-bytes`, 1.5 MiB).
pub const MAX_REQUEST_BYTES: usize = 3 << 19;

/// Batching knobs (etcd's defaults).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreConfig {
    /// Commit the batch when this much time passed since the last commit.
    pub batch_interval: Duration,
    /// Commit the batch when it holds this many operations.
    pub batch_limit: usize,
}

impl Default for StoreConfig {
    fn default() -> StoreConfig {
        StoreConfig { batch_interval: Duration::from_millis(100), batch_limit: 10_000 }
    }
}

/// `hash` of the store's contents up to a revision, for comparing replicas.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HashResult {
    pub hash: u64,
    pub revision: i64,
    pub compact_revision: i64,
}

/// An etcd-style multi-version key-value store on a bolt database.
pub struct Store {
    pub(super) backend: Backend,
    pub(super) index: BTreeMap<Vec<u8>, KeyIndex>,
    /// Current main revision (1 for an empty store, as in etcd).
    pub(super) current: i64,
    /// Reads below this main revision fail with `Compacted` (0: never compacted).
    pub(super) compacted: i64,
    consistent_index: u64,
    term: u64,
    /// Consistent index as of the last successful commit.
    durable_index: u64,
    config: StoreConfig,
    last_commit: Option<Instant>,
    /// BUGGIFY: the next commit with pending changes uses bolt's two flushes.
    two_flush_next: bool,
    /// BUGGIFY: the next applied entry is committed at once.
    commit_after_apply: bool,
}

/// The revision a write transaction is producing.
struct Write {
    main: i64,
    sub: i64,
}

impl Store {
    /// Opens the store on `db`: creates the buckets, rebuilds the key index from the `key`
    /// bucket, and finishes a compaction a crash interrupted.
    pub fn open(db: Db, config: StoreConfig) -> Result<Store, MvccError> {
        let backend = Backend::new(db)?;
        let mut store = Store {
            backend,
            index: BTreeMap::new(),
            current: 1,
            compacted: 0,
            consistent_index: 0,
            term: 0,
            durable_index: 0,
            config,
            last_commit: None,
            two_flush_next: false,
            commit_after_apply: false,
        };
        store.restore()?;
        Ok(store)
    }

    fn restore(&mut self) -> Result<(), MvccError> {
        self.consistent_index = self.meta_u64(META_CONSISTENT_INDEX)?;
        self.term = self.meta_u64(META_TERM)?;
        self.durable_index = self.consistent_index;
        let scheduled = self.meta_rev(META_SCHEDULED_COMPACT)?;
        let finished = self.meta_rev(META_FINISHED_COMPACT)?;
        if finished > scheduled {
            return Err(MvccError::CorruptMeta {
                key: "finishedCompactRev",
                detail: format!("{finished} is after scheduledCompactRev {scheduled}"),
            });
        }
        let mut index = BTreeMap::new();
        let mut last = Revision::default();
        self.backend.scan_committed(BucketName::Key, &[], None, |k, v| {
            let (rev, tombstone) = Revision::from_bytes(k)?;
            if rev <= last {
                let detail = format!("revision {rev} is not after the previous record's {last}");
                return Err(MvccError::CorruptRevision { key: k.to_vec(), detail });
            }
            last = rev;
            let kv = KeyValue::decode(rev, v)?;
            restore_record(
                index.entry(kv.key.clone()).or_default(),
                rev,
                tombstone,
                &kv,
                scheduled,
            )?;
            Ok(true)
        })?;
        index.retain(|_, ki| !ki.is_empty());
        self.index = index;
        self.current = last.main.max(1).max(scheduled).max(finished);
        self.compacted = finished;
        if scheduled > finished {
            self.compacted = scheduled;
            if self.backend.db().is_read_only() {
                // A read-only open cannot remove records; compacting the index alone makes
                // reads answer as after the compaction. The next writable open finishes it.
                self.compact_index(scheduled);
            } else {
                self.finish_compaction(scheduled)?;
            }
        }
        Ok(())
    }

    /// The current revision.
    pub fn revision(&self) -> i64 {
        self.current
    }

    /// Reads below this revision fail with `Compacted`.
    pub fn compact_revision(&self) -> i64 {
        self.compacted
    }

    /// The last applied raft entry (index, term), durable or not.
    pub fn consistent_index(&self) -> (u64, u64) {
        (self.consistent_index, self.term)
    }

    /// The consistent index as of the last successful commit: after a crash the store reopens
    /// here. The server must keep every log entry after it.
    pub fn durable_index(&self) -> u64 {
        self.durable_index
    }

    /// Operations buffered in the current batch.
    pub fn pending_ops(&self) -> usize {
        self.backend.pending_ops()
    }

    /// The bolt database underneath (for `check` and inspection).
    pub fn db(&self) -> &Db {
        self.backend.db()
    }

    /// Commits the batch now, durably.
    pub fn commit(&mut self) -> Result<(), MvccError> {
        if self.two_flush_next && self.backend.pending_ops() > 0 {
            self.two_flush_next = false;
            let db = self.backend.db().clone();
            let limit = db.one_flush_max_bytes();
            db.set_one_flush_max_bytes(0);
            let committed = self.backend.commit();
            db.set_one_flush_max_bytes(limit);
            committed?;
        } else {
            self.backend.commit()?;
        }
        self.durable_index = self.consistent_index;
        Ok(())
    }

    /// BUGGIFY ([`crate::buggify`]): asks `fire` about the engine's sites and arms the paths
    /// that fired for what comes next (the next commit, the next applied entry).
    pub fn buggify(&mut self, fire: &mut dyn FnMut(&'static str) -> bool) {
        if fire(crate::buggify::TWO_FLUSH_COMMIT) {
            self.two_flush_next = true;
        }
        if fire(crate::buggify::COMMIT_AFTER_APPLY) {
            self.commit_after_apply = true;
        }
    }

    /// Commits the batch if it is due: `batch_limit` operations buffered, or `batch_interval`
    /// passed since the last commit with anything buffered. Returns whether it committed.
    pub fn commit_if_due(&mut self, now: Instant) -> Result<bool, MvccError> {
        let last = *self.last_commit.get_or_insert(now);
        let pending = self.backend.pending_ops();
        let due = pending >= self.config.batch_limit
            || (pending > 0 && now.saturating_since(last) >= self.config.batch_interval);
        if due {
            self.commit()?;
            self.last_commit = Some(now);
        }
        Ok(due)
    }

    // ---- reads ----

    /// A range read (see [`RangeRequest`]).
    pub fn range(&self, req: &RangeRequest) -> Result<RangeResponse, MvccError> {
        self.range_at(req, self.current)
    }

    /// A range read where `head` is the newest readable revision.
    fn range_at(&self, req: &RangeRequest, head: i64) -> Result<RangeResponse, MvccError> {
        validate_range(req)?;
        let rev = self.read_revision(req.revision, head)?;
        let mut found = self.find(&req.key, &req.end, rev);
        let count = found.len() as i64;
        let mut resp = RangeResponse { count, header_revision: self.current, ..Default::default() };
        if req.count_only {
            return Ok(resp);
        }
        let default_order = matches!(req.sort, None | Some((SortTarget::Key, SortOrder::Ascend)));
        if default_order && req.limit > 0 && found.len() > req.limit as usize {
            found.truncate(req.limit as usize); // fetch only what is returned
        }
        let mut kvs = self.fetch(&found)?;
        sort_kvs(&mut kvs, req.sort);
        if req.limit > 0 && count > req.limit {
            kvs.truncate(req.limit as usize);
            resp.more = true;
        }
        if req.keys_only {
            kvs.iter_mut().for_each(|kv| kv.value.clear());
        }
        resp.kvs = kvs;
        Ok(resp)
    }

    fn read_revision(&self, requested: i64, head: i64) -> Result<i64, MvccError> {
        let rev = if requested == 0 { head } else { requested };
        if rev > head {
            return Err(MvccError::FutureRevision { requested: rev, current: head });
        }
        if rev < self.compacted {
            return Err(MvccError::Compacted { requested: rev, compacted: self.compacted });
        }
        Ok(rev)
    }

    /// Keys in `[key, end)` (etcd end semantics) live at `rev`, with what the index knows.
    fn find(&self, key: &[u8], end: &[u8], rev: i64) -> Vec<(Vec<u8>, Found)> {
        let lookup = |k: &Vec<u8>, ki: &KeyIndex| ki.get(rev).map(|f| (k.clone(), f));
        if end.is_empty() {
            return self
                .index
                .get_key_value(key)
                .and_then(|(k, ki)| lookup(k, ki))
                .into_iter()
                .collect();
        }
        let upper = if end == [0] { None } else { Some(end.to_vec()) };
        self.index
            .range(key.to_vec()..)
            .take_while(|(k, _)| upper.as_ref().is_none_or(|u| *k < u))
            .filter_map(|(k, ki)| lookup(k, ki))
            .collect()
    }

    /// Reads the records the index points at.
    fn fetch(&self, found: &[(Vec<u8>, Found)]) -> Result<Vec<KeyValue>, MvccError> {
        let keys: Vec<Vec<u8>> = found.iter().map(|(_, f)| f.modified.to_bytes(false)).collect();
        let values = self.backend.get_many(BucketName::Key, &keys)?;
        found
            .iter()
            .zip(values)
            .map(|((key, f), v)| {
                let v =
                    v.ok_or_else(|| MvccError::MissingRecord { revision: f.modified.to_string() })?;
                let kv = KeyValue::decode(f.modified, &v)?;
                if kv.key != *key {
                    return Err(MvccError::CorruptRecord {
                        revision: f.modified.to_string(),
                        detail: format!("record holds key {:02x?}, the index {key:02x?}", kv.key),
                    });
                }
                Ok(kv)
            })
            .collect()
    }

    fn get_kv(&self, key: &[u8], rev: i64) -> Result<Option<KeyValue>, MvccError> {
        let found = self.find(key, &[], rev);
        Ok(self.fetch(&found)?.pop())
    }

    // ---- writes ----

    /// Puts a key (one new revision).
    pub fn put(&mut self, req: &PutRequest) -> Result<PutResponse, MvccError> {
        self.ensure_writable()?;
        validate_put(req)?;
        let mut w = self.begin_write();
        let resp = self.put_in(&mut w, req)?;
        self.end_write(&w);
        Ok(PutResponse { header_revision: self.current, ..resp })
    }

    /// Deletes a key or range (one new revision if anything was deleted).
    pub fn delete_range(
        &mut self,
        req: &DeleteRangeRequest,
    ) -> Result<DeleteRangeResponse, MvccError> {
        self.ensure_writable()?;
        validate_key_end("delete_range", &req.key, &req.end)?;
        let mut w = self.begin_write();
        let resp = self.delete_in(&mut w, req)?;
        self.end_write(&w);
        Ok(DeleteRangeResponse { header_revision: self.current, ..resp })
    }

    /// Runs a txn atomically: every request is validated before anything is written.
    pub fn txn(&mut self, req: &TxnRequest) -> Result<TxnResponse, MvccError> {
        self.ensure_writable()?;
        validate_txn(req)?;
        let mut succeeded = true;
        for c in &req.compare {
            succeeded &= self.compare(c)?;
        }
        let ops = if succeeded { &req.success } else { &req.failure };
        for op in ops {
            if let RequestOp::Range(r) = op {
                self.read_revision(r.revision, self.current)?;
            }
        }
        let mut w = self.begin_write();
        let mut responses = Vec::with_capacity(ops.len());
        for op in ops {
            responses.push(match op {
                RequestOp::Range(r) => {
                    let head = if w.sub > 0 { w.main } else { self.current };
                    ResponseOp::Range(self.range_at(r, head)?)
                }
                RequestOp::Put(p) => ResponseOp::Put(self.put_in(&mut w, p)?),
                RequestOp::DeleteRange(d) => ResponseOp::DeleteRange(self.delete_in(&mut w, d)?),
            });
        }
        self.end_write(&w);
        for r in &mut responses {
            match r {
                ResponseOp::Range(x) => x.header_revision = self.current,
                ResponseOp::Put(x) => x.header_revision = self.current,
                ResponseOp::DeleteRange(x) => x.header_revision = self.current,
            }
        }
        Ok(TxnResponse { header_revision: self.current, succeeded, responses })
    }

    fn compare(&self, c: &Compare) -> Result<bool, MvccError> {
        let kv = self.get_kv(&c.key, self.current)?;
        let ord = match (&c.target, &kv) {
            (CompareTarget::Value(_), None) => return Ok(false),
            (CompareTarget::Value(v), Some(kv)) => kv.value.as_slice().cmp(v.as_slice()),
            (CompareTarget::Version(n), _) => kv.as_ref().map_or(0, |k| k.version).cmp(n),
            (CompareTarget::CreateRevision(n), _) => {
                kv.as_ref().map_or(0, |k| k.create_revision).cmp(n)
            }
            (CompareTarget::ModRevision(n), _) => kv.as_ref().map_or(0, |k| k.mod_revision).cmp(n),
        };
        Ok(match c.result {
            CompareResult::Equal => ord.is_eq(),
            CompareResult::NotEqual => ord.is_ne(),
            CompareResult::Greater => ord.is_gt(),
            CompareResult::Less => ord.is_lt(),
        })
    }

    fn begin_write(&self) -> Write {
        Write { main: self.current + 1, sub: 0 }
    }

    fn end_write(&mut self, w: &Write) {
        if w.sub > 0 {
            self.current = w.main;
        }
    }

    fn put_in(&mut self, w: &mut Write, req: &PutRequest) -> Result<PutResponse, MvccError> {
        let head = if w.sub > 0 { w.main } else { self.current };
        let prev_kv = if req.prev_kv { self.get_kv(&req.key, head)? } else { None };
        let rev = Revision::new(w.main, w.sub);
        let (create_revision, version) = match self.index.get(&req.key).and_then(|ki| ki.get(head))
        {
            Some(f) => (f.created.main, f.version + 1),
            None => (w.main, 1),
        };
        let kv = KeyValue {
            key: req.key.clone(),
            create_revision,
            mod_revision: w.main,
            version,
            lease: req.lease,
            value: req.value.clone(),
        };
        self.backend.put(BucketName::Key, rev.to_bytes(false), kv.encode());
        self.index.entry(req.key.clone()).or_default().put(rev);
        w.sub += 1;
        Ok(PutResponse { header_revision: 0, prev_kv })
    }

    fn delete_in(
        &mut self,
        w: &mut Write,
        req: &DeleteRangeRequest,
    ) -> Result<DeleteRangeResponse, MvccError> {
        let head = if w.sub > 0 { w.main } else { self.current };
        let found = self.find(&req.key, &req.end, head);
        let prev_kvs = if req.prev_kv { self.fetch(&found)? } else { Vec::new() };
        for (key, _) in &found {
            let rev = Revision::new(w.main, w.sub);
            let tomb = KeyValue { key: key.clone(), mod_revision: w.main, ..KeyValue::default() };
            if sim::planted::active(&planted::DELETE_WITHOUT_TOMBSTONE) {
                self.backend.delete(BucketName::Key, rev.to_bytes(true));
            } else {
                self.backend.put(BucketName::Key, rev.to_bytes(true), tomb.encode());
            }
            let live = self.index.get_mut(key).expect("found keys are indexed").tombstone(rev);
            assert!(live, "deleting key {key:?} that the index says is live at {head}");
            w.sub += 1;
        }
        Ok(DeleteRangeResponse { header_revision: 0, deleted: found.len() as i64, prev_kvs })
    }

    // ---- raft apply ----

    /// Applies the operations of raft entry `index` (of `term`), exactly once: an entry at or
    /// below the consistent index was applied before (possibly before a crash) and is skipped,
    /// returning `None`. Request errors (a compacted revision, a malformed txn) are results, not
    /// failures; an `Err` means storage failed and the store now refuses work.
    pub fn apply(
        &mut self,
        index: u64,
        term: u64,
        ops: &[Op],
    ) -> Result<Option<Vec<OpResult>>, MvccError> {
        let out = self.apply_ops(index, term, ops)?;
        if out.is_some() && std::mem::take(&mut self.commit_after_apply) {
            self.commit()?;
        }
        Ok(out)
    }

    fn apply_ops(
        &mut self,
        index: u64,
        term: u64,
        ops: &[Op],
    ) -> Result<Option<Vec<OpResult>>, MvccError> {
        self.ensure_writable()?;
        if index <= self.consistent_index {
            return Ok(None);
        }
        // The consistent index enters the batch before the operations, so every commit that
        // carries any of the entry's effects also carries its index.
        let previous = std::mem::replace(&mut self.consistent_index, index);
        self.term = term;
        let stored =
            if sim::planted::active(&planted::CONSISTENT_INDEX_LAGS) { previous } else { index };
        self.backend.put(
            BucketName::Meta,
            META_CONSISTENT_INDEX.to_vec(),
            stored.to_be_bytes().to_vec(),
        );
        self.backend.put(BucketName::Meta, META_TERM.to_vec(), term.to_be_bytes().to_vec());
        if ops.len() > 1 && ops.iter().any(|o| matches!(o, Op::Compact(_))) {
            let e = MvccError::CompactNotAlone { ops: ops.len() };
            return Ok(Some(vec![OpResult::Error(e); ops.len()]));
        }
        let mut results = Vec::with_capacity(ops.len());
        for op in ops {
            let r = match op {
                Op::Put(p) => self.put(p).map(OpResult::Put),
                Op::DeleteRange(d) => self.delete_range(d).map(OpResult::DeleteRange),
                Op::Txn(t) => self.txn(t).map(OpResult::Txn),
                Op::Compact(rev) => self.compact(*rev).map(|()| OpResult::Compact),
            };
            results.push(match r {
                Ok(r) => r,
                Err(e) if e.is_request_error() => OpResult::Error(e),
                Err(e) => return Err(e),
            });
        }
        Ok(Some(results))
    }

    // ---- compaction ----

    /// Removes every version older than `rev` that no read at or after `rev` can see, durably.
    /// Reads below `rev` fail with `Compacted` from now on. The scheduled revision is persisted
    /// first, so a crash in the middle resumes at the next open.
    pub fn compact(&mut self, rev: i64) -> Result<(), MvccError> {
        self.ensure_writable()?;
        if rev <= self.compacted {
            return Err(MvccError::Compacted { requested: rev, compacted: self.compacted });
        }
        if rev > self.current {
            return Err(MvccError::FutureRevision { requested: rev, current: self.current });
        }
        self.backend.put(
            BucketName::Meta,
            META_SCHEDULED_COMPACT.to_vec(),
            Revision::new(rev, 0).to_bytes(false),
        );
        self.commit()?;
        self.compacted = rev;
        self.finish_compaction(rev)
    }

    /// Revisions deleted per commit while compacting.
    const COMPACT_BATCH: usize = 1000;

    /// Compacts the in-memory index at `rev`; returns the revisions at or below `rev` it keeps.
    fn compact_index(&mut self, rev: i64) -> BTreeSet<Revision> {
        let mut keep = BTreeSet::new();
        for ki in self.index.values_mut() {
            ki.compact(rev, &mut keep);
        }
        self.index.retain(|_, ki| !ki.is_empty());
        keep
    }

    pub(super) fn finish_compaction(&mut self, rev: i64) -> Result<(), MvccError> {
        let keep = self.compact_index(rev);
        let mut doomed = Vec::new();
        let upper = Revision::new(rev + 1, 0).to_bytes(false);
        self.backend.scan_committed(BucketName::Key, &[], Some(&upper), |k, _| {
            let (r, _) = Revision::from_bytes(k)?;
            if !keep.contains(&r) {
                doomed.push(k.to_vec());
            }
            Ok(true)
        })?;
        for chunk in doomed.chunks(Self::COMPACT_BATCH) {
            for k in chunk {
                self.backend.delete(BucketName::Key, k.clone());
            }
            self.commit()?;
        }
        let done = Revision::new(rev, 0).to_bytes(false);
        self.backend.put(BucketName::Meta, META_FINISHED_COMPACT.to_vec(), done);
        self.commit()
    }

    // ---- hashing ----

    /// A 64-bit hash (FNV-1a) of every record at or below `rev` (0: current), buffered ones
    /// included; it writes nothing (so an observer hashing a replica does not change its disk).
    /// Replicas that applied the same entries have equal hashes, whatever their batches. (A
    /// read-only store opened over an unfinished compaction still holds, and hashes, the
    /// records it would remove; a writable open finishes the compaction.)
    pub fn hash(&self, rev: i64) -> Result<HashResult, MvccError> {
        let rev = self.read_revision(rev, self.current)?;
        let mut h = Fnv::new();
        let upper = Revision::new(rev + 1, 0).to_bytes(false);
        self.backend.scan(BucketName::Key, &[], Some(&upper), |k, v| {
            h.write(&(k.len() as u32).to_be_bytes());
            h.write(k);
            h.write(&(v.len() as u32).to_be_bytes());
            h.write(v);
            Ok(true)
        })?;
        h.write(&self.compacted.to_be_bytes());
        Ok(HashResult { hash: h.0, revision: rev, compact_revision: self.compacted })
    }

    // ---- helpers ----

    fn ensure_writable(&self) -> Result<(), MvccError> {
        // Fail-stop (contract item 5): after a failed commit the in-memory index is ahead of
        // the disk, so no write may build on it.
        self.backend.ensure_ok()?;
        if self.backend.db().is_read_only() {
            return Err(MvccError::Engine(crate::Error::DatabaseReadOnly));
        }
        Ok(())
    }

    fn meta_u64(&self, key: &'static [u8]) -> Result<u64, MvccError> {
        let name = std::str::from_utf8(key).expect("meta keys are ASCII");
        match self.backend.get(BucketName::Meta, key)? {
            None => Ok(0),
            Some(v) => Ok(u64::from_be_bytes(v.as_slice().try_into().map_err(|_| {
                MvccError::CorruptMeta { key: name, detail: format!("{} bytes, want 8", v.len()) }
            })?)),
        }
    }

    fn meta_rev(&self, key: &'static [u8]) -> Result<i64, MvccError> {
        let name = std::str::from_utf8(key).expect("meta keys are ASCII");
        match self.backend.get(BucketName::Meta, key)? {
            None => Ok(0),
            Some(v) => match Revision::from_bytes(&v) {
                Ok((r, false)) => Ok(r.main),
                Ok((_, true)) => {
                    Err(MvccError::CorruptMeta { key: name, detail: "tombstone mark".into() })
                }
                Err(e) => Err(MvccError::CorruptMeta { key: name, detail: e.to_string() }),
            },
        }
    }
}

impl MvccError {
    /// Whether this is a refused request (nothing changed) rather than a storage failure.
    pub fn is_request_error(&self) -> bool {
        matches!(
            self,
            MvccError::Compacted { .. }
                | MvccError::FutureRevision { .. }
                | MvccError::InvalidRequest { .. }
                | MvccError::DuplicateKeyInTxn { .. }
                | MvccError::CompactNotAlone { .. }
        )
    }
}

/// Replays one record read back at open into its key's index, checking that it fits the key's
/// history so far (corrupt input must not reach the index's assertions or overflow a version).
fn restore_record(
    ki: &mut KeyIndex,
    rev: Revision,
    tombstone: bool,
    kv: &KeyValue,
    scheduled: i64,
) -> Result<(), MvccError> {
    let bad = |detail: String| MvccError::CorruptRecord { revision: rev.to_string(), detail };
    if rev.main < 1 {
        return Err(bad("main revision 0 is before the first write".into()));
    }
    if tombstone {
        // A tombstone whose put was already removed by an interrupted compaction is harmless:
        // resuming the compaction removes it too. Anywhere else it is corrupt.
        if !ki.tombstone(rev) && rev.main > scheduled {
            return Err(bad("tombstone of a key that is not live".into()));
        }
        return Ok(());
    }
    let g = ki.generations.last().expect("a key index always has a generation");
    let fits = if g.revs.is_empty() {
        // Starts a generation (or its earlier versions were compacted away). A version counts
        // puts since the creation, each at its own revision, so it cannot exceed their span.
        (1..=rev.main).contains(&kv.create_revision)
            && (1..=rev.main - kv.create_revision + 1).contains(&kv.version)
            && (kv.version > 1 || kv.create_revision == rev.main)
    } else {
        // Continues the live generation: the next version of the same creation.
        kv.version == g.version.saturating_add(1) && kv.create_revision == g.created.main
    };
    if !fits {
        return Err(bad(format!(
            "version {} created at {} does not fit the key's history (latest {} version {})",
            kv.version, kv.create_revision, ki.modified, g.version
        )));
    }
    ki.restore_put(rev, kv.create_revision, kv.version);
    Ok(())
}

fn invalid(field: &'static str, detail: impl Into<String>) -> MvccError {
    MvccError::InvalidRequest { field, detail: detail.into() }
}

fn validate_key_end(op: &'static str, key: &[u8], end: &[u8]) -> Result<(), MvccError> {
    if key.is_empty() {
        return Err(invalid("key", format!("{op}: key is empty")));
    }
    if key.len() > MAX_REQUEST_BYTES {
        return Err(invalid("key", format!("{op}: key of {} bytes is too large", key.len())));
    }
    if !end.is_empty() && end != [0] && end <= key {
        return Err(invalid(
            "range_end",
            format!("{op}: range end {end:02x?} is not after key {key:02x?}"),
        ));
    }
    Ok(())
}

fn validate_range(req: &RangeRequest) -> Result<(), MvccError> {
    validate_key_end("range", &req.key, &req.end)?;
    if req.limit < 0 {
        return Err(invalid("limit", format!("negative limit {}", req.limit)));
    }
    if req.revision < 0 {
        return Err(invalid("revision", format!("negative revision {}", req.revision)));
    }
    Ok(())
}

fn validate_put(req: &PutRequest) -> Result<(), MvccError> {
    validate_key_end("put", &req.key, &[])?;
    let size = req.key.len() + req.value.len();
    if size > MAX_REQUEST_BYTES {
        return Err(invalid("value", format!("put of {size} bytes exceeds {MAX_REQUEST_BYTES}")));
    }
    Ok(())
}

/// Validates every request of both branches and rejects a branch that writes a key twice (two
/// puts, or a put inside a deleted range), as etcd does.
fn validate_txn(req: &TxnRequest) -> Result<(), MvccError> {
    for c in &req.compare {
        validate_key_end("compare", &c.key, &[])?;
    }
    for branch in [&req.success, &req.failure] {
        let mut puts = BTreeSet::new();
        let mut deletes = Vec::new();
        for op in branch {
            match op {
                RequestOp::Range(r) => validate_range(r)?,
                RequestOp::Put(p) => {
                    validate_put(p)?;
                    if !puts.insert(p.key.clone()) {
                        return Err(MvccError::DuplicateKeyInTxn { key: p.key.clone() });
                    }
                }
                RequestOp::DeleteRange(d) => {
                    validate_key_end("delete_range", &d.key, &d.end)?;
                    deletes.push((d.key.clone(), d.end.clone()));
                }
            }
        }
        for key in &puts {
            if deletes.iter().any(|(k, e)| in_range(key, k, e)) {
                return Err(MvccError::DuplicateKeyInTxn { key: key.clone() });
            }
        }
    }
    Ok(())
}

fn in_range(key: &[u8], start: &[u8], end: &[u8]) -> bool {
    if end.is_empty() {
        return key == start;
    }
    key >= start && (end == [0] || key < end)
}

fn sort_kvs(kvs: &mut [KeyValue], sort: Option<(SortTarget, SortOrder)>) {
    let Some((target, order)) = sort else { return };
    kvs.sort_by(|a, b| {
        let o = match target {
            SortTarget::Key => a.key.cmp(&b.key),
            SortTarget::Version => a.version.cmp(&b.version),
            SortTarget::CreateRevision => a.create_revision.cmp(&b.create_revision),
            SortTarget::ModRevision => a.mod_revision.cmp(&b.mod_revision),
            SortTarget::Value => a.value.cmp(&b.value),
        }
        .then_with(|| a.key.cmp(&b.key));
        match order {
            SortOrder::Ascend => o,
            SortOrder::Descend => o.reverse(),
        }
    });
}

/// Streaming FNV-1a 64.
struct Fnv(u64);

impl Fnv {
    fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}
