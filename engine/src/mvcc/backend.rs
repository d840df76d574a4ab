//! The batching backend: buffered writes to the bolt database, committed in batches.
//!
//! As etcd's backend does, writes are not committed one by one: they accumulate in a batch that
//! is committed (one bolt write transaction, durable when its commit returns) when the caller says
//! the batch is due — every `interval` of (simulated) time or every `limit` buffered operations —
//! and immediately when the caller needs durability ([`Backend::commit`]). Reads see the batch:
//! the buffer is consulted before the database.
//!
//! Fail-stop: if a commit fails, the batch is lost and the backend refuses all further work; the
//! owner must reopen the database and recover from what is durable.

use std::collections::BTreeMap;

use crate::Db;

use super::error::MvccError;

/// The buckets the MVCC store uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum BucketName {
    /// Revision -> key-value record.
    Key,
    /// Consistent index, term, compaction revisions.
    Meta,
}

impl BucketName {
    pub fn bytes(self) -> &'static [u8] {
        match self {
            BucketName::Key => b"key",
            BucketName::Meta => b"meta",
        }
    }
}

/// Buffered changes of one bucket: `None` deletes the key.
type Changes = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// The buffered changes, one map per bucket (looked up by borrowed key, committed bucket by
/// bucket in [`BucketName`] order).
#[derive(Default)]
struct Pending {
    key: Changes,
    meta: Changes,
}

impl Pending {
    fn of(&self, bucket: BucketName) -> &Changes {
        match bucket {
            BucketName::Key => &self.key,
            BucketName::Meta => &self.meta,
        }
    }

    fn of_mut(&mut self, bucket: BucketName) -> &mut Changes {
        match bucket {
            BucketName::Key => &mut self.key,
            BucketName::Meta => &mut self.meta,
        }
    }

    fn is_empty(&self) -> bool {
        self.key.is_empty() && self.meta.is_empty()
    }
}

/// A write buffer over a [`Db`].
pub struct Backend {
    db: Db,
    pending: Pending,
    /// Operations buffered since the last commit (the batch limit counts these).
    pending_ops: usize,
    failed: Option<String>,
    commits: u64,
}

impl Backend {
    /// Wraps `db`, creating the buckets if they are missing (durably). A read-only database is
    /// not written: its buckets must exist (`Engine(BucketNotFound)` otherwise).
    pub fn new(db: Db) -> Result<Backend, MvccError> {
        if db.is_read_only() {
            db.view(|tx| {
                bucket_of(tx, BucketName::Key)?;
                bucket_of(tx, BucketName::Meta).map(|_| ())
            })?;
            return Ok(Backend {
                db,
                pending: Pending::default(),
                pending_ops: 0,
                failed: None,
                commits: 0,
            });
        }
        db.update(|tx| {
            tx.create_bucket_if_not_exists(BucketName::Key.bytes())?;
            tx.create_bucket_if_not_exists(BucketName::Meta.bytes())?;
            Ok(())
        })?;
        Ok(Backend { db, pending: Pending::default(), pending_ops: 0, failed: None, commits: 0 })
    }

    /// The database underneath (for `check` and inspection).
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Operations buffered and not yet committed.
    pub fn pending_ops(&self) -> usize {
        self.pending_ops
    }

    /// Batches committed so far.
    pub fn commits(&self) -> u64 {
        self.commits
    }

    pub fn put(&mut self, bucket: BucketName, key: Vec<u8>, value: Vec<u8>) {
        self.pending.of_mut(bucket).insert(key, Some(value));
        self.pending_ops += 1;
    }

    pub fn delete(&mut self, bucket: BucketName, key: Vec<u8>) {
        self.pending.of_mut(bucket).insert(key, None);
        self.pending_ops += 1;
    }

    /// Reads through the buffer.
    pub fn get(&self, bucket: BucketName, key: &[u8]) -> Result<Option<Vec<u8>>, MvccError> {
        self.ensure_ok()?;
        if let Some(v) = self.pending.of(bucket).get(key) {
            return Ok(v.clone());
        }
        Ok(self.db.view(|tx| bucket_of(tx, bucket)?.get(key))?)
    }

    /// Reads many keys of one bucket through the buffer, in one read transaction.
    pub fn get_many(
        &self,
        bucket: BucketName,
        keys: &[Vec<u8>],
    ) -> Result<Vec<Option<Vec<u8>>>, MvccError> {
        self.ensure_ok()?;
        let buffered: Vec<Option<Option<Vec<u8>>>> =
            keys.iter().map(|k| self.pending.of(bucket).get(k).cloned()).collect();
        if buffered.iter().all(Option::is_some) {
            // Recent records are usually still in the batch: no read transaction needed.
            return Ok(buffered.into_iter().flatten().collect());
        }
        Ok(self.db.view(|tx| {
            let b = bucket_of(tx, bucket)?;
            keys.iter()
                .zip(buffered)
                .map(|(k, v)| match v {
                    Some(v) => Ok(v),
                    None => b.get(k),
                })
                .collect()
        })?)
    }

    /// Visits the committed (not buffered) entries of `bucket` with keys in `[from, to)`, in
    /// order. Callers commit first when they need the buffer included.
    pub fn scan_committed(
        &self,
        bucket: BucketName,
        from: &[u8],
        to: Option<&[u8]>,
        mut f: impl FnMut(&[u8], &[u8]) -> Result<bool, MvccError>,
    ) -> Result<(), MvccError> {
        self.ensure_ok()?;
        let mut outcome = Ok(());
        self.db.view(|tx| {
            let mut c = bucket_of(tx, bucket)?.cursor();
            let mut item = c.seek_ref(from)?;
            while let Some((k, v)) = item {
                if to.is_some_and(|to| &*k >= to) {
                    break;
                }
                let Some(v) = v else {
                    item = c.next_ref()?;
                    continue; // nested buckets are not ours; skip
                };
                match f(&k, &v) {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(e) => {
                        outcome = Err(e);
                        break;
                    }
                }
                item = c.next_ref()?;
            }
            Ok(())
        })?;
        outcome
    }

    /// Visits the entries of `bucket` with keys in `[from, to)` in order, as reads see them: the
    /// buffer laid over the committed entries (a buffered delete hides a committed key). `f`
    /// returns whether to go on.
    pub fn scan(
        &self,
        bucket: BucketName,
        from: &[u8],
        to: Option<&[u8]>,
        mut f: impl FnMut(&[u8], &[u8]) -> Result<bool, MvccError>,
    ) -> Result<(), MvccError> {
        let mut buffered = self
            .pending
            .of(bucket)
            .range::<[u8], _>((std::ops::Bound::Included(from), std::ops::Bound::Unbounded))
            .take_while(|(k, _)| to.is_none_or(|to| k.as_slice() < to))
            .peekable();
        // A buffered delete visits nothing.
        let mut visit = |k: &[u8], v: Option<&[u8]>| match v {
            Some(v) => f(k, v),
            None => Ok(true),
        };
        let mut go_on = true;
        self.scan_committed(bucket, from, to, |k, v| {
            while let Some((bk, bv)) = buffered.next_if(|(bk, _)| bk.as_slice() <= k) {
                go_on = visit(bk, bv.as_deref())?;
                if !go_on || bk.as_slice() == k {
                    return Ok(go_on); // stopped, or the buffer shadows the committed entry
                }
            }
            go_on = visit(k, Some(v))?;
            Ok(go_on)
        })?;
        while go_on {
            let Some((bk, bv)) = buffered.next() else { break };
            go_on = visit(bk, bv.as_deref())?;
        }
        Ok(())
    }

    /// Commits the buffer durably (a no-op when it is empty).
    pub fn commit(&mut self) -> Result<(), MvccError> {
        self.ensure_ok()?;
        if self.pending.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.pending);
        self.pending_ops = 0;
        let result = self.db.update(|tx| {
            for bucket in [BucketName::Key, BucketName::Meta] {
                let changes = pending.of(bucket);
                if changes.is_empty() {
                    continue;
                }
                let b = bucket_of(tx, bucket)?;
                for (key, value) in changes {
                    match value {
                        Some(v) => b.put(key, v)?,
                        None => b.delete(key)?,
                    }
                }
            }
            Ok(())
        });
        match result {
            Ok(()) => {
                self.commits += 1;
                Ok(())
            }
            Err(e) => {
                self.failed = Some(e.to_string());
                Err(e.into())
            }
        }
    }

    /// Fails with `FailStop` once a commit has failed.
    pub fn ensure_ok(&self) -> Result<(), MvccError> {
        match &self.failed {
            Some(cause) => Err(MvccError::FailStop { cause: cause.clone() }),
            None => Ok(()),
        }
    }
}

fn bucket_of<'tx>(tx: &'tx crate::Tx, name: BucketName) -> crate::Result<crate::Bucket<'tx>> {
    tx.bucket(name.bytes())?.ok_or(crate::Error::BucketNotFound)
}

#[cfg(test)]
mod tests {
    use sim::simulated::disk::{DiskConfig, SimDisk};
    use sim::Seed;

    use super::*;
    use crate::Options;

    fn backend() -> Backend {
        let disk = SimDisk::new(Seed(1).stream("disk"), DiskConfig::default());
        Backend::new(Db::open_on(disk, "db", Options::default()).unwrap()).unwrap()
    }

    fn scan(b: &Backend, from: &[u8], to: Option<&[u8]>, limit: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut out = Vec::new();
        b.scan(BucketName::Key, from, to, |k, v| {
            out.push((k.to_vec(), v.to_vec()));
            Ok(out.len() < limit)
        })
        .unwrap();
        out
    }

    fn kv(k: &str, v: &str) -> (Vec<u8>, Vec<u8>) {
        (k.as_bytes().to_vec(), v.as_bytes().to_vec())
    }

    #[test]
    fn scan_lays_the_buffer_over_the_committed_entries() {
        let mut b = backend();
        for k in ["b", "d", "f", "h"] {
            b.put(BucketName::Key, k.into(), b"old".to_vec());
        }
        b.put(BucketName::Meta, b"c".to_vec(), b"other bucket".to_vec());
        b.commit().unwrap();
        b.put(BucketName::Key, b"a".to_vec(), b"new".to_vec()); // before every committed key
        b.put(BucketName::Key, b"d".to_vec(), b"new".to_vec()); // overwrites
        b.delete(BucketName::Key, b"f".to_vec()); // hides
        b.put(BucketName::Key, b"e".to_vec(), b"new".to_vec()); // between
        b.put(BucketName::Key, b"z".to_vec(), b"new".to_vec()); // after every committed key
        b.put(BucketName::Meta, b"y".to_vec(), b"other bucket".to_vec());
        let all = vec![
            kv("a", "new"),
            kv("b", "old"),
            kv("d", "new"),
            kv("e", "new"),
            kv("h", "old"),
            kv("z", "new"),
        ];
        assert_eq!(scan(&b, b"", None, usize::MAX), all);
        assert_eq!(scan(&b, b"c", Some(b"h"), usize::MAX), all[2..4].to_vec());
        assert_eq!(scan(&b, b"", None, 3), all[..3].to_vec(), "stops when told");
        assert_eq!(scan(&b, b"e", None, 2), all[3..5].to_vec());
        let commits = b.commits();
        b.commit().unwrap();
        assert_eq!(b.commits(), commits + 1);
        assert_eq!(scan(&b, b"", None, usize::MAX), all, "the same once committed");
    }
}
