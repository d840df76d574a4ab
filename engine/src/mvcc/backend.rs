//! The batching backend: buffered writes to the bolt database, committed in batches.
//!
//! As etcd's backend does, writes are not committed one by one: they accumulate in a batch that
//! is committed (one bolt write transaction: dirty pages, sync, meta, sync) when the caller says
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

/// A write buffer over a [`Db`].
pub struct Backend {
    db: Db,
    /// Buffered changes: `None` deletes the key.
    pending: BTreeMap<(BucketName, Vec<u8>), Option<Vec<u8>>>,
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
                pending: BTreeMap::new(),
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
        Ok(Backend { db, pending: BTreeMap::new(), pending_ops: 0, failed: None, commits: 0 })
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
        self.pending.insert((bucket, key), Some(value));
        self.pending_ops += 1;
    }

    pub fn delete(&mut self, bucket: BucketName, key: Vec<u8>) {
        self.pending.insert((bucket, key), None);
        self.pending_ops += 1;
    }

    /// Reads through the buffer.
    pub fn get(&self, bucket: BucketName, key: &[u8]) -> Result<Option<Vec<u8>>, MvccError> {
        self.ensure_ok()?;
        if let Some(v) = self.pending.get(&(bucket, key.to_vec())) {
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
        Ok(self.db.view(|tx| {
            let b = bucket_of(tx, bucket)?;
            keys.iter()
                .map(|k| match self.pending.get(&(bucket, k.clone())) {
                    Some(v) => Ok(v.clone()),
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

    /// Commits the buffer durably (a no-op when it is empty).
    pub fn commit(&mut self) -> Result<(), MvccError> {
        self.ensure_ok()?;
        if self.pending.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.pending);
        self.pending_ops = 0;
        let result = self.db.update(|tx| {
            for ((bucket, key), value) in &pending {
                let b = bucket_of(tx, *bucket)?;
                match value {
                    Some(v) => b.put(key, v)?,
                    None => b.delete(key)?,
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
