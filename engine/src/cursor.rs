//! Cursors: ordered traversal of a bucket in both directions.
//!
//! A cursor keeps a stack of (node, index) from the bucket's root down to a leaf. Items come in
//! two forms: owned `(key, value)` pairs ([`Item`], from `first`, `next`, ...) and borrowed ones
//! ([`ItemRef`], from `first_ref`, `next_ref`, ...) that lend the bytes of committed pages
//! straight from the mapped file for the transaction's lifetime (copying only what lives in
//! nodes this write transaction changed, or in inline buckets). `value` is `None` when the key
//! names a nested bucket. Empty leaves (possible inside a write transaction before commit
//! rebalances) are skipped. If the transaction changes after the cursor was positioned (a put,
//! a delete, `Cursor::delete`), the cursor re-seeks to the key it was on before moving, so it
//! never walks stale nodes.
//!
//! While the cursor sits on a committed leaf page it keeps that page parsed, so stepping within
//! the leaf decodes one element and nothing else.

use std::borrow::Cow;

use crate::bucket::Bucket;
use crate::error::{Corruption, Error, PageProblem, Result};
use crate::page::{NodePage, BUCKET_LEAF_FLAG};
use crate::tx::{NodeRef, TxInner, MAX_DEPTH};

/// A key and its value (`None` for a nested bucket).
pub type Item = (Vec<u8>, Option<Vec<u8>>);

/// A key and its value (`None` for a nested bucket), borrowed from the mapped file where
/// possible.
pub type ItemRef<'tx> = (Cow<'tx, [u8]>, Option<Cow<'tx, [u8]>>);

/// A position-keeping iterator over one bucket.
pub struct Cursor<'tx> {
    bucket: Bucket<'tx>,
    stack: Vec<(NodeRef, usize)>,
    /// The committed leaf page at the top of the stack, parsed (`None` when the top is an
    /// in-memory node or an inline page, or the cursor is unpositioned).
    leaf: Option<NodePage<'tx>>,
    /// Key the cursor is on (valid when `positioned` and `record_key`), and the transaction
    /// generation when it got there.
    current: Vec<u8>,
    /// Whether to record `current`: only a write transaction changes under a cursor (and only
    /// it can delete through one), so a read-only cursor never needs the key to re-seek.
    record_key: bool,
    positioned: bool,
    generation: u64,
    /// Moved past the end (or before the start): `next` keeps returning `None`.
    ended: bool,
}

impl std::fmt::Debug for Cursor<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.positioned, self.record_key) {
            (false, _) => write!(f, "Cursor(unpositioned)"),
            (true, true) => write!(f, "Cursor(at {:?})", self.current),
            (true, false) => write!(f, "Cursor(at index {:?})", self.stack.last().map(|e| e.1)),
        }
    }
}

/// Which way to move.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Dir {
    Next,
    Prev,
}

/// Converts a borrowed item into an owned one.
fn owned(item: Option<ItemRef<'_>>) -> Option<Item> {
    item.map(|(k, v)| (k.into_owned(), v.map(Cow::into_owned)))
}

impl<'tx> Cursor<'tx> {
    pub(crate) fn new(bucket: Bucket<'tx>) -> Cursor<'tx> {
        Cursor {
            bucket,
            stack: Vec::new(),
            leaf: None,
            current: Vec::new(),
            record_key: bucket.tx().writable(),
            positioned: false,
            generation: 0,
            ended: false,
        }
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
        self.first_ref().map(owned)
    }

    /// Moves to the last item.
    pub fn last(&mut self) -> Result<Option<Item>> {
        self.last_ref().map(owned)
    }

    /// Moves to the next item.
    #[allow(clippy::should_implement_trait, reason = "fallible, positioned like bbolt's Next")]
    pub fn next(&mut self) -> Result<Option<Item>> {
        self.next_ref().map(owned)
    }

    /// Moves to the previous item.
    pub fn prev(&mut self) -> Result<Option<Item>> {
        self.prev_ref().map(owned)
    }

    /// Moves to `key`, or the next key after it; `None` if there is none.
    pub fn seek(&mut self, key: &[u8]) -> Result<Option<Item>> {
        self.seek_ref(key).map(owned)
    }

    /// Moves to the first item (borrowed form of [`Cursor::first`]).
    pub fn first_ref(&mut self) -> Result<Option<ItemRef<'tx>>> {
        let i = self.inner()?;
        self.stack.clear();
        self.stack.push((i.root_ref(self.bucket.id()), 0));
        descend(&i, &mut self.stack, Dir::Next)?;
        self.settle(&i, Dir::Next)
    }

    /// Moves to the last item (borrowed form of [`Cursor::last`]).
    pub fn last_ref(&mut self) -> Result<Option<ItemRef<'tx>>> {
        let i = self.inner()?;
        self.stack.clear();
        let root = i.root_ref(self.bucket.id());
        let n = i.view(&root)?.count();
        self.stack.push((root, n.saturating_sub(1)));
        descend(&i, &mut self.stack, Dir::Prev)?;
        self.settle(&i, Dir::Prev)
    }

    /// Moves to the next item (borrowed form of [`Cursor::next`]).
    pub fn next_ref(&mut self) -> Result<Option<ItemRef<'tx>>> {
        let i = self.inner()?;
        if self.stack.is_empty() {
            if self.ended {
                return Ok(None);
            }
            drop(i);
            return self.first_ref();
        }
        if self.generation == i.generation {
            // Fast path: the next element of the same committed leaf page.
            if let (Some(p), Some(top)) = (self.leaf, self.stack.last_mut()) {
                let idx = top.1 + 1;
                if idx < p.count() {
                    top.1 = idx;
                    return self.item_on_page(p, idx).map(Some);
                }
            }
        } else if self.positioned {
            let k = std::mem::take(&mut self.current);
            let exact = self.reseek(&i, &k)?;
            self.current = k;
            if !exact {
                return self.settle(&i, Dir::Next);
            }
        }
        step(&i, &mut self.stack, Dir::Next)?;
        self.settle(&i, Dir::Next)
    }

    /// Moves to the previous item (borrowed form of [`Cursor::prev`]).
    pub fn prev_ref(&mut self) -> Result<Option<ItemRef<'tx>>> {
        let i = self.inner()?;
        if self.stack.is_empty() {
            drop(i);
            return self.last_ref();
        }
        if self.generation == i.generation {
            // Fast path: the previous element of the same committed leaf page.
            if let (Some(_), Some(top)) = (self.leaf, self.stack.last_mut()) {
                if top.1 > 0 {
                    top.1 -= 1;
                    let (p, idx) = (self.leaf.expect("checked"), top.1);
                    return self.item_on_page(p, idx).map(Some);
                }
            }
        } else if self.positioned {
            let k = std::mem::take(&mut self.current);
            self.reseek(&i, &k)?;
            self.current = k;
        }
        step(&i, &mut self.stack, Dir::Prev)?;
        self.settle(&i, Dir::Prev)
    }

    /// Moves to `key`, or the next key after it (borrowed form of [`Cursor::seek`]).
    pub fn seek_ref(&mut self, key: &[u8]) -> Result<Option<ItemRef<'tx>>> {
        let i = self.inner()?;
        self.reseek(&i, key)?;
        self.settle(&i, Dir::Next)
    }

    /// Deletes the item under the cursor. A later `next` returns the item after it.
    pub fn delete(&mut self) -> Result<()> {
        self.bucket.tx().borrow().ensure(true)?;
        if !self.positioned {
            return Err(Error::CursorUnpositioned);
        }
        let key = self.current.clone();
        self.bucket.delete(&key)
    }

    /// Positions the stack at the lower bound of `key`; returns whether `key` itself is there.
    fn reseek(&mut self, i: &TxInner, key: &[u8]) -> Result<bool> {
        self.stack.clear();
        let mut r = i.root_ref(self.bucket.id());
        for _ in 0..MAX_DEPTH {
            let v = i.view(&r)?;
            if v.is_leaf() {
                let found = v.search(key)?;
                self.stack.push((r, found.unwrap_or_else(|i| i)));
                return Ok(found.is_ok());
            }
            let ci = v.child_index(key)?;
            let child = v.child(ci)?;
            self.stack.push((r, ci));
            r = child;
        }
        Err(Corruption::page(0, PageProblem::TooDeep).into())
    }

    /// Remembers `k` as the key the cursor is on (write transactions only).
    fn record(&mut self, k: &[u8]) {
        if self.record_key {
            self.current.clear();
            self.current.extend_from_slice(k);
        }
    }

    /// The item at `idx` of committed leaf page `p` (the stack's top); records the position.
    fn item_on_page(&mut self, p: NodePage<'tx>, idx: usize) -> Result<ItemRef<'tx>> {
        let (flags, k, val) = p.leaf(idx)?;
        self.record(k);
        Ok((Cow::Borrowed(k), (flags & BUCKET_LEAF_FLAG == 0).then_some(Cow::Borrowed(val))))
    }

    /// Returns the item at the stack's top, moving further in `dir` past empty leaves and
    /// past the end of a leaf. Records the position.
    fn settle(&mut self, i: &TxInner, dir: Dir) -> Result<Option<ItemRef<'tx>>> {
        self.ended = false;
        self.leaf = None;
        loop {
            let Some((r, idx)) = self.stack.last().cloned() else {
                self.positioned = false;
                self.ended = dir == Dir::Next;
                return Ok(None);
            };
            if let NodeRef::Page(pgid) = r {
                let p = self.bucket.tx().page(i, pgid)?;
                if idx < p.count() {
                    self.leaf = Some(p);
                    self.positioned = true;
                    self.generation = i.generation;
                    return self.item_on_page(p, idx).map(Some);
                }
            } else {
                let v = i.view(&r)?;
                if idx < v.count() {
                    let (flags, k, val) = v.leaf(idx)?;
                    let value = (flags & BUCKET_LEAF_FLAG == 0).then(|| Cow::Owned(val.to_vec()));
                    self.record(k);
                    self.positioned = true;
                    self.generation = i.generation;
                    return Ok(Some((Cow::Owned(k.to_vec()), value)));
                }
            }
            if !step(i, &mut self.stack, dir)? {
                self.positioned = false;
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
