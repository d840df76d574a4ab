//! Cursors: ordered traversal of a bucket in both directions.
//!
//! A cursor keeps a stack of (node, index) from the bucket's root down to a leaf. Items are
//! returned as owned `(key, value)` pairs; `value` is `None` when the key names a nested bucket.
//! Empty leaves (possible inside a write transaction before commit rebalances) are skipped.
//! If the transaction changes after the cursor was positioned (a put, a delete, `Cursor::delete`),
//! the cursor re-seeks to the key it was on before moving, so it never walks stale nodes.

use crate::bucket::Bucket;
use crate::error::{Corruption, Error, PageProblem, Result};
use crate::page::BUCKET_LEAF_FLAG;
use crate::tx::{NodeRef, TxInner, MAX_DEPTH};

/// A key and its value (`None` for a nested bucket).
pub type Item = (Vec<u8>, Option<Vec<u8>>);

/// A position-keeping iterator over one bucket.
pub struct Cursor<'tx> {
    bucket: Bucket<'tx>,
    stack: Vec<(NodeRef, usize)>,
    /// Key the cursor is on, and the transaction generation when it got there.
    current: Option<Vec<u8>>,
    generation: u64,
    /// Moved past the end (or before the start): `next` keeps returning `None`.
    ended: bool,
}

impl std::fmt::Debug for Cursor<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Cursor(at {:?})", self.current)
    }
}

/// Which way to move.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Dir {
    Next,
    Prev,
}

impl<'tx> Cursor<'tx> {
    pub(crate) fn new(bucket: Bucket<'tx>) -> Cursor<'tx> {
        Cursor { bucket, stack: Vec::new(), current: None, generation: 0, ended: false }
    }

    /// The bucket this cursor walks.
    pub fn bucket(&self) -> Bucket<'tx> {
        self.bucket
    }

    fn inner(&self) -> Result<std::cell::Ref<'tx, TxInner>> {
        let i = self.bucket.tx().borrow();
        i.ensure(false)?;
        if i.buckets[self.bucket.id()].deleted {
            return Err(Error::BucketNotFound);
        }
        Ok(i)
    }

    /// Moves to the first item.
    pub fn first(&mut self) -> Result<Option<Item>> {
        let i = self.inner()?;
        self.stack.clear();
        self.stack.push((i.root_ref(self.bucket.id()), 0));
        descend(&i, &mut self.stack, Dir::Next)?;
        self.settle(&i, Dir::Next)
    }

    /// Moves to the last item.
    pub fn last(&mut self) -> Result<Option<Item>> {
        let i = self.inner()?;
        self.stack.clear();
        let root = i.root_ref(self.bucket.id());
        let n = i.view(&root)?.count();
        self.stack.push((root, n.saturating_sub(1)));
        descend(&i, &mut self.stack, Dir::Prev)?;
        self.settle(&i, Dir::Prev)
    }

    /// Moves to the next item.
    #[allow(clippy::should_implement_trait, reason = "fallible, positioned like bbolt's Next")]
    pub fn next(&mut self) -> Result<Option<Item>> {
        let i = self.inner()?;
        if self.stack.is_empty() {
            if self.ended {
                return Ok(None);
            }
            drop(i);
            return self.first();
        }
        if self.generation != i.generation {
            if let Some(k) = self.current.clone() {
                let exact = self.reseek(&i, &k)?;
                if !exact {
                    return self.settle(&i, Dir::Next);
                }
            }
        }
        step(&i, &mut self.stack, Dir::Next)?;
        self.settle(&i, Dir::Next)
    }

    /// Moves to the previous item.
    pub fn prev(&mut self) -> Result<Option<Item>> {
        let i = self.inner()?;
        if self.stack.is_empty() {
            drop(i);
            return self.last();
        }
        if self.generation != i.generation {
            if let Some(k) = self.current.clone() {
                self.reseek(&i, &k)?;
            }
        }
        step(&i, &mut self.stack, Dir::Prev)?;
        self.settle(&i, Dir::Prev)
    }

    /// Moves to `key`, or the next key after it; `None` if there is none.
    pub fn seek(&mut self, key: &[u8]) -> Result<Option<Item>> {
        let i = self.inner()?;
        self.reseek(&i, key)?;
        self.settle(&i, Dir::Next)
    }

    /// Deletes the item under the cursor. A later `next` returns the item after it.
    pub fn delete(&mut self) -> Result<()> {
        let key = self.current.clone().ok_or(Error::CursorUnpositioned)?;
        self.bucket.delete(&key)
    }

    /// Positions the stack at the lower bound of `key`; returns whether `key` itself is there.
    fn reseek(&mut self, i: &TxInner, key: &[u8]) -> Result<bool> {
        self.stack.clear();
        let mut r = i.root_ref(self.bucket.id());
        for _ in 0..MAX_DEPTH {
            let v = i.view(&r)?;
            if v.is_leaf() {
                let idx = v.lower_bound(key)?;
                let exact = idx < v.count() && v.leaf(idx)?.1 == key;
                self.stack.push((r, idx));
                return Ok(exact);
            }
            let ci = v.child_index(key)?;
            let child = v.child(ci)?;
            self.stack.push((r, ci));
            r = child;
        }
        Err(Corruption::page(0, PageProblem::TooDeep).into())
    }

    /// Returns the item at the stack's top, moving further in `dir` past empty leaves and
    /// past the end of a leaf. Records the position.
    fn settle(&mut self, i: &TxInner, dir: Dir) -> Result<Option<Item>> {
        self.ended = false;
        loop {
            let Some((r, idx)) = self.stack.last().cloned() else {
                self.current = None;
                self.ended = dir == Dir::Next;
                return Ok(None);
            };
            let v = i.view(&r)?;
            if idx < v.count() {
                let (flags, k, val) = v.leaf(idx)?;
                let value = (flags & BUCKET_LEAF_FLAG == 0).then(|| val.to_vec());
                self.current = Some(k.to_vec());
                self.generation = i.generation;
                return Ok(Some((k.to_vec(), value)));
            }
            if !step(i, &mut self.stack, dir)? {
                self.current = None;
                self.stack.clear();
                self.ended = dir == Dir::Next;
                return Ok(None);
            }
        }
    }
}

/// Follows the stack's top down to a leaf, taking the first (Next) or last (Prev) child.
fn descend(i: &TxInner, stack: &mut Vec<(NodeRef, usize)>, dir: Dir) -> Result<()> {
    loop {
        if stack.len() > MAX_DEPTH {
            return Err(Corruption::page(0, PageProblem::TooDeep).into());
        }
        let (r, idx) = stack.last().cloned().expect("non-empty stack");
        let v = i.view(&r)?;
        if v.is_leaf() {
            return Ok(());
        }
        if idx >= v.count() {
            return Ok(());
        }
        let child = v.child(idx)?;
        let n = i.view(&child)?.count();
        let start = if dir == Dir::Next { 0 } else { n.saturating_sub(1) };
        stack.push((child, start));
    }
}

/// Moves one element in `dir` across leaves; false when there is no further element.
fn step(i: &TxInner, stack: &mut Vec<(NodeRef, usize)>, dir: Dir) -> Result<bool> {
    while let Some((r, idx)) = stack.last().cloned() {
        let n = i.view(&r)?.count();
        let moved = match dir {
            Dir::Next if idx + 1 < n => Some(idx + 1),
            Dir::Prev if idx > 0 && idx <= n => Some(idx - 1),
            _ => None,
        };
        if let Some(new) = moved {
            stack.last_mut().expect("non-empty").1 = new;
            descend(i, stack, dir)?;
            let (r, idx) = stack.last().cloned().expect("non-empty");
            let v = i.view(&r)?;
            if v.is_leaf() && idx < v.count() {
                return Ok(true);
            }
            // An empty leaf: keep moving from here.
            continue;
        }
        stack.pop();
    }
    Ok(false)
}
