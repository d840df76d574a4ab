//! Buckets: named B+trees of key/value pairs, nestable.
//!
//! A nested bucket is a leaf element with flag 0x01 whose value starts with a bucket header
//! (16 bytes, little-endian):
//! ```text
//! offset  size  field
//!      0     8  root      page id of the bucket's root page; 0 = inline bucket
//!      8     8  sequence  the bucket's monotonically increasing sequence
//! ```
//! An inline bucket (root 0) stores its single leaf page right after the header, inside the
//! parent's value (page header with id 0, then elements as in `page`). A bucket is written
//! inline when its root is a leaf holding no nested buckets and the page is at most a quarter
//! of the page size. The root bucket's header lives in the meta; its keys are the top-level
//! bucket names.

use std::borrow::Cow;

use crate::cursor::Cursor;
use crate::error::{Corruption, Error, PageProblem, Result};
use crate::node::{Items, LeafItem, Node, NodeId, Src};
use crate::page::{
    put_u64, u32_at, u64_at, NodePage, Pgid, BUCKET_LEAF_FLAG, ELEMENT_SIZE, PAGE_HEADER_SIZE,
};
use crate::tx::{NodeRef, Tx, TxInner, View, MAX_DEPTH};
use crate::{MAX_KEY_SIZE, MAX_VALUE_SIZE};

/// Index of an open bucket in its transaction.
pub(crate) type BucketId = usize;
/// The root bucket's index.
pub(crate) const ROOT_BUCKET: BucketId = 0;
/// Size of the bucket header.
pub const BUCKET_HEADER_SIZE: usize = 16;
/// In-memory nodes larger than this many pages are split in half while inserting, which keeps
/// inserts into big transactions cheap (short vectors to shift) and pages well filled; the
/// fill percent still governs how spill splits any node larger than a page.
const EAGER_SPLIT_PAGES: usize = 1;

/// The 16-byte bucket header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BucketHeader {
    pub root: Pgid,
    pub sequence: u64,
}

impl BucketHeader {
    /// Decodes from the first 16 bytes of `b` (caller checks the length).
    pub fn decode(b: &[u8]) -> BucketHeader {
        BucketHeader { root: u64_at(b, 0), sequence: u64_at(b, 8) }
    }
    /// Encodes into the first 16 bytes of `b`.
    pub fn encode(&self, b: &mut [u8]) {
        put_u64(b, 0, self.root);
        put_u64(b, 8, self.sequence);
    }
}

/// Per-transaction state of an open bucket.
#[derive(Clone, Debug)]
pub(crate) struct BucketState {
    pub parent: Option<BucketId>,
    pub name: Vec<u8>,
    /// The header as read when the bucket was opened (its pages are freed if it is deleted).
    pub header: BucketHeader,
    pub sequence: u64,
    pub root: NodeRef,
    pub dirty: bool,
    pub deleted: bool,
    pub fill_percent: f64,
}

impl BucketState {
    pub fn new(parent: Option<BucketId>, name: Vec<u8>, h: BucketHeader, root: NodeRef) -> Self {
        BucketState {
            parent,
            name,
            header: h,
            sequence: h.sequence,
            root,
            dirty: false,
            deleted: false,
            fill_percent: crate::options::DEFAULT_FILL_PERCENT,
        }
    }
}

/// Where a key was found: its leaf flags and value.
pub(crate) struct Found {
    pub flags: u32,
    pub value: Vec<u8>,
}

/// The value of an empty inline bucket: header {0, 0} + an empty leaf page.
pub(crate) fn empty_inline_value() -> Vec<u8> {
    let mut v = vec![0u8; BUCKET_HEADER_SIZE + PAGE_HEADER_SIZE];
    Node::empty_leaf().write_range(0..0, &mut v[BUCKET_HEADER_SIZE..], 0, 0, Src::map(&[]));
    v
}

impl TxInner {
    fn live(&self, b: BucketId) -> Result<()> {
        if self.buckets[b].deleted {
            return Err(Error::BucketNotFound);
        }
        Ok(())
    }

    /// Looks `key` up in bucket `b`.
    pub(crate) fn lookup(&self, b: BucketId, key: &[u8]) -> Result<Option<Found>> {
        self.live(b)?;
        let mut r = self.root_ref(b);
        for _ in 0..MAX_DEPTH {
            let v = self.view(&r)?;
            if v.is_leaf() {
                let Ok(i) = v.search(key)? else { return Ok(None) };
                let (flags, _, val) = v.leaf(i)?;
                return Ok(Some(Found { flags, value: val.to_vec() }));
            }
            let i = v.child_index(key)?;
            r = v.child(i)?;
        }
        Err(Corruption::page(0, PageProblem::TooDeep).into())
    }

    /// Materializes the root of bucket `b` and returns its node.
    fn root_node(&mut self, b: BucketId) -> Result<NodeId> {
        let id = match self.buckets[b].root.clone() {
            NodeRef::Node(id) => return Ok(id),
            NodeRef::Page(pgid) => self.materialize_raw(pgid)?,
            NodeRef::Inline(k) => {
                let page = NodePage::parse(&self.inline_pages[k], 0, true)?;
                let node = Node::from_page(&page, None, &mut self.arena)?;
                self.nodes.push(node);
                self.nodes.len() - 1
            }
        };
        self.buckets[b].root = NodeRef::Node(id);
        Ok(id)
    }

    /// Materializes the path from the root of `b` to the leaf for `key`; returns (node, index)
    /// per level, the leaf last with the lower-bound index of `key`, and whether the leaf holds
    /// `key` at that index.
    fn materialize_path(
        &mut self,
        b: BucketId,
        key: &[u8],
    ) -> Result<(Vec<(NodeId, usize)>, bool)> {
        let mut id = self.root_node(b)?;
        let mut path = Vec::new();
        loop {
            if path.len() >= MAX_DEPTH {
                return Err(Corruption::page(self.nodes[id].pgid, PageProblem::TooDeep).into());
            }
            let node = &self.nodes[id];
            if node.is_leaf() {
                let found = node.search(key, self.src());
                path.push((id, found.unwrap_or_else(|i| i)));
                return Ok((path, found.is_ok()));
            }
            let ci = node.child_index(key, self.src());
            let cid = match &node.items {
                Items::Raw(raw) => match raw.children.binary_search_by_key(&ci, |c| c.0) {
                    Ok(k) => raw.children[k].1,
                    Err(k) => {
                        let (_, pgid) = raw.page(&self.arena, node.pgid).branch(ci)?;
                        let c = self.materialize_raw(pgid)?;
                        let Items::Raw(raw) = &mut self.nodes[id].items else { unreachable!() };
                        raw.children.insert(k, (ci, c));
                        c
                    }
                },
                Items::Branch(items) => {
                    let Some(item) = items.get(ci) else {
                        return Err(Corruption::page(node.pgid, PageProblem::EmptyBranch).into());
                    };
                    match item.child {
                        Some(c) => c,
                        None => {
                            let c = self.materialize_raw(item.pgid)?;
                            let Items::Branch(items) = &mut self.nodes[id].items else {
                                unreachable!()
                            };
                            items[ci].child = Some(c);
                            c
                        }
                    }
                }
                Items::Leaf(_) => unreachable!("checked branch"),
            };
            path.push((id, ci));
            id = cid;
        }
    }

    /// Inserts or replaces `key` in bucket `b`. Replacing a bucket with a value (or the reverse)
    /// is refused.
    pub(crate) fn put_raw(
        &mut self,
        b: BucketId,
        key: &[u8],
        flags: u32,
        value: &[u8],
    ) -> Result<()> {
        self.live(b)?;
        let (path, exact) = self.materialize_path(b, key)?;
        let &(leaf, i) = path.last().expect("path has a leaf");
        if let Items::Raw(raw) = &self.nodes[leaf].items {
            if exact {
                let e = raw.at + PAGE_HEADER_SIZE + i * ELEMENT_SIZE;
                let a = &self.arena;
                let (old_flags, pos, ksize, vsize) =
                    (u32_at(a, e), u32_at(a, e + 4), u32_at(a, e + 8), u32_at(a, e + 12));
                if (old_flags ^ flags) & BUCKET_LEAF_FLAG != 0 {
                    return Err(Error::IncompatibleValue);
                }
                if old_flags == flags && vsize as usize == value.len() {
                    // Same flags, same size: overwrite the value in the page copy.
                    let at = e + pos as usize + ksize as usize;
                    self.arena[at..at + value.len()].copy_from_slice(value);
                    self.buckets[b].dirty = true;
                    self.generation += 1;
                    return Ok(());
                }
            }
            self.unraw(leaf);
        }
        if exact {
            let Items::Leaf(items) = &self.nodes[leaf].items else { unreachable!("leaf") };
            if (items[i].flags ^ flags) & BUCKET_LEAF_FLAG != 0 {
                return Err(Error::IncompatibleValue);
            }
            self.nodes[leaf].set_value(i, &self.map, &mut self.arena, flags, value);
        } else {
            let item = LeafItem::new(flags, key, value, &mut self.arena);
            self.nodes[leaf].insert_leaf(i, item);
            self.split_path(b, &path);
        }
        self.buckets[b].dirty = true;
        self.generation += 1;
        Ok(())
    }

    /// Removes `key` from bucket `b`; returns the removed element's flags.
    pub(crate) fn delete_raw(&mut self, b: BucketId, key: &[u8]) -> Result<Option<u32>> {
        self.live(b)?;
        let (path, exact) = self.materialize_path(b, key)?;
        let &(leaf, i) = path.last().expect("path has a leaf");
        if exact {
            self.unraw(leaf);
            let flags = self.nodes[leaf].remove(i);
            self.buckets[b].dirty = true;
            self.generation += 1;
            return Ok(Some(flags));
        }
        Ok(None)
    }

    /// Splits oversized in-memory nodes along `path`, bottom up, growing a new root if needed.
    fn split_path(&mut self, b: BucketId, path: &[(NodeId, usize)]) {
        let limit = EAGER_SPLIT_PAGES * self.page_size;
        for level in (0..path.len()).rev() {
            let id = path[level].0;
            if self.nodes[id].len() <= 4 || self.nodes[id].size() <= limit {
                return;
            }
            self.unraw(id);
            let right = self.nodes[id].split_half();
            let rid = self.nodes.len();
            let new_item = right.branch_item(0, 0, Some(rid));
            self.nodes.push(right);
            if level == 0 {
                let left_item = self.nodes[id].branch_item(0, 0, Some(id));
                self.nodes.push(Node::branch(vec![left_item, new_item]));
                self.buckets[b].root = NodeRef::Node(self.nodes.len() - 1);
            } else {
                let (pid, ci) = path[level - 1];
                self.unraw(pid);
                self.nodes[pid].insert_branch(ci + 1, new_item);
            }
        }
    }

    /// Opens nested bucket `name` of `b`, if it exists.
    pub(crate) fn open_child(&mut self, b: BucketId, name: &[u8]) -> Result<Option<BucketId>> {
        self.live(b)?;
        if let Some(&id) = self.open.get(&(b, name.to_vec())) {
            return Ok(Some(id));
        }
        let Some(found) = self.lookup(b, name)? else { return Ok(None) };
        if found.flags & BUCKET_LEAF_FLAG == 0 {
            return Ok(None);
        }
        let bad = || Corruption {
            page: 0,
            inline: true,
            problem: PageProblem::BadBucketValue { index: 0 },
        };
        if found.value.len() < BUCKET_HEADER_SIZE {
            return Err(bad().into());
        }
        let header = BucketHeader::decode(&found.value);
        let root = if header.root == 0 {
            let bytes = &found.value[BUCKET_HEADER_SIZE..];
            let page = NodePage::parse(bytes, 0, true)?;
            if !page.is_leaf() {
                return Err(bad().into());
            }
            if self.writable {
                let node = Node::from_page(&page, None, &mut self.arena)?;
                self.nodes.push(node);
                NodeRef::Node(self.nodes.len() - 1)
            } else {
                self.add_inline(bytes)
            }
        } else {
            if header.root < 2 || header.root >= self.meta.pgid {
                return Err(Corruption::page(
                    header.root,
                    PageProblem::OutOfBounds { end: header.root, limit: self.meta.pgid },
                )
                .into());
            }
            NodeRef::Page(header.root)
        };
        let mut st = BucketState::new(Some(b), name.to_vec(), header, root);
        st.fill_percent = self.buckets[b].fill_percent;
        self.buckets.push(st);
        let id = self.buckets.len() - 1;
        self.open.insert((b, name.to_vec()), id);
        Ok(Some(id))
    }

    /// Creates nested bucket `name` in `b`.
    pub(crate) fn create_child(&mut self, b: BucketId, name: &[u8]) -> Result<BucketId> {
        self.ensure(true)?;
        self.live(b)?;
        if name.is_empty() {
            return Err(Error::BucketNameRequired);
        }
        if name.len() > MAX_KEY_SIZE {
            return Err(Error::KeyTooLarge { len: name.len() });
        }
        if let Some(found) = self.lookup(b, name)? {
            return Err(if found.flags & BUCKET_LEAF_FLAG != 0 {
                Error::BucketExists
            } else {
                Error::IncompatibleValue
            });
        }
        self.put_raw(b, name, BUCKET_LEAF_FLAG, &empty_inline_value())?;
        self.nodes.push(Node::empty_leaf());
        let root = NodeRef::Node(self.nodes.len() - 1);
        let mut st = BucketState::new(Some(b), name.to_vec(), BucketHeader::default(), root);
        st.fill_percent = self.buckets[b].fill_percent;
        st.dirty = true;
        self.buckets.push(st);
        let id = self.buckets.len() - 1;
        self.open.insert((b, name.to_vec()), id);
        Ok(id)
    }

    /// Deletes nested bucket `name` of `b`, freeing all its pages.
    pub(crate) fn delete_child(&mut self, b: BucketId, name: &[u8]) -> Result<()> {
        self.ensure(true)?;
        let Some(found) = self.lookup(b, name)? else { return Err(Error::BucketNotFound) };
        if found.flags & BUCKET_LEAF_FLAG == 0 {
            return Err(Error::IncompatibleValue);
        }
        let id = self.open_child(b, name)?.expect("bucket exists");
        let root = self.buckets[id].header.root;
        if root != 0 {
            self.free_tree(NodeRef::Page(root), 0)?;
        }
        self.mark_deleted(id);
        self.delete_raw(b, name)?;
        Ok(())
    }

    /// Frees every page of the on-disk tree at `r`, including nested buckets' trees.
    fn free_tree(&mut self, r: NodeRef, depth: usize) -> Result<()> {
        if depth > MAX_DEPTH {
            return Err(Corruption::page(0, PageProblem::TooDeep).into());
        }
        if let NodeRef::Page(pgid) = r {
            if self.freed.contains(&pgid) {
                return Ok(());
            }
            let overflow = self.page_overflow(pgid)?;
            self.free_page(pgid, overflow);
        }
        let mut children = Vec::new();
        {
            let v = self.view(&r)?;
            for i in 0..v.count() {
                if v.is_leaf() {
                    let (flags, _, val) = v.leaf(i)?;
                    if flags & BUCKET_LEAF_FLAG != 0 && val.len() >= BUCKET_HEADER_SIZE {
                        let h = BucketHeader::decode(val);
                        if h.root != 0 {
                            children.push(NodeRef::Page(h.root));
                        }
                    }
                } else {
                    children.push(v.child(i)?);
                }
            }
        }
        for c in children {
            self.free_tree(c, depth + 1)?;
        }
        Ok(())
    }

    /// Marks `id` and every bucket opened beneath it deleted, and forgets their handles.
    fn mark_deleted(&mut self, id: BucketId) {
        self.buckets[id].deleted = true;
        for i in id + 1..self.buckets.len() {
            if let Some(p) = self.buckets[i].parent {
                if self.buckets[p].deleted {
                    self.buckets[i].deleted = true;
                }
            }
        }
        let buckets = &self.buckets;
        self.open.retain(|_, v| !buckets[*v].deleted);
    }
}

/// Statistics of one bucket (including nested buckets beneath it).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BucketStats {
    /// Keys (values and nested bucket names) in this bucket and beneath it.
    pub key_n: usize,
    /// Depth of this bucket's tree (1 = a lone leaf).
    pub depth: usize,
    pub branch_page_n: usize,
    pub leaf_page_n: usize,
    /// Extra pages used by leaves holding large values.
    pub leaf_overflow_n: usize,
    /// This bucket and every bucket beneath it.
    pub bucket_n: usize,
    /// Inline buckets beneath this one.
    pub inline_bucket_n: usize,
}

/// A bucket handle, valid for its transaction's lifetime.
#[derive(Clone, Copy)]
pub struct Bucket<'tx> {
    tx: &'tx Tx,
    id: BucketId,
}

impl std::fmt::Debug for Bucket<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bucket({:?})", String::from_utf8_lossy(&self.tx.borrow().buckets[self.id].name))
    }
}

impl<'tx> Bucket<'tx> {
    pub(crate) fn new(tx: &'tx Tx, id: BucketId) -> Bucket<'tx> {
        Bucket { tx, id }
    }

    pub(crate) fn id(&self) -> BucketId {
        self.id
    }

    pub(crate) fn tx(&self) -> &'tx Tx {
        self.tx
    }

    /// The value of `key`; `None` if absent or if `key` names a nested bucket.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.get_ref(key)?.map(Cow::into_owned))
    }

    /// The value of `key` without copying it when it can be borrowed: a value on a committed
    /// page (every value in a read-only transaction, except in inline buckets) is lent straight
    /// from the mapped file for the transaction's lifetime; a value in a node this write
    /// transaction changed (or in an inline bucket) is copied. `None` if absent or if `key`
    /// names a nested bucket.
    pub fn get_ref(&self, key: &[u8]) -> Result<Option<Cow<'tx, [u8]>>> {
        let i = self.tx.borrow();
        i.ensure(false)?;
        i.live(self.id)?;
        let mut r = i.root_ref(self.id);
        for _ in 0..MAX_DEPTH {
            if let NodeRef::Page(pgid) = r {
                // Below a page every descendant is a page: walk the mapping directly.
                let p = self.tx.page(&i, pgid)?;
                if p.is_leaf() {
                    let Ok(at) = p.search(key)? else { return Ok(None) };
                    let (flags, _, value) = p.leaf(at)?;
                    return Ok((flags & BUCKET_LEAF_FLAG == 0).then_some(Cow::Borrowed(value)));
                }
                r = NodeRef::Page(p.branch(p.child_index(key)?)?.1);
                continue;
            }
            let v = i.view(&r)?;
            if v.is_leaf() {
                let Ok(at) = v.search(key)? else { return Ok(None) };
                let (flags, _, value) = v.leaf(at)?;
                return Ok((flags & BUCKET_LEAF_FLAG == 0).then(|| Cow::Owned(value.to_vec())));
            }
            r = v.child(v.child_index(key)?)?;
        }
        Err(Corruption::page(0, PageProblem::TooDeep).into())
    }

    /// Sets `key` to `value`.
    pub fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        let mut i = self.tx.borrow_mut();
        i.ensure(true)?;
        if key.is_empty() {
            return Err(Error::KeyRequired);
        }
        if key.len() > MAX_KEY_SIZE {
            return Err(Error::KeyTooLarge { len: key.len() });
        }
        if value.len() > MAX_VALUE_SIZE {
            return Err(Error::ValueTooLarge { len: value.len() });
        }
        i.put_raw(self.id, key, 0, value)
    }

    /// Removes `key` (no error if absent). Deleting a nested bucket's key this way is refused.
    pub fn delete(&self, key: &[u8]) -> Result<()> {
        let mut i = self.tx.borrow_mut();
        i.ensure(true)?;
        match i.lookup(self.id, key)? {
            Some(f) if f.flags & BUCKET_LEAF_FLAG != 0 => Err(Error::IncompatibleValue),
            Some(_) => i.delete_raw(self.id, key).map(|_| ()),
            None => Ok(()),
        }
    }

    /// Nested bucket `name`, if it exists.
    pub fn bucket(&self, name: &[u8]) -> Result<Option<Bucket<'tx>>> {
        let mut i = self.tx.borrow_mut();
        i.ensure(false)?;
        Ok(i.open_child(self.id, name)?.map(|id| Bucket::new(self.tx, id)))
    }

    /// Creates nested bucket `name`; fails if the key exists.
    pub fn create_bucket(&self, name: &[u8]) -> Result<Bucket<'tx>> {
        let id = self.tx.borrow_mut().create_child(self.id, name)?;
        Ok(Bucket::new(self.tx, id))
    }

    /// Creates nested bucket `name` unless it exists; returns it.
    pub fn create_bucket_if_not_exists(&self, name: &[u8]) -> Result<Bucket<'tx>> {
        match self.create_bucket(name) {
            Err(Error::BucketExists) => {
                Ok(self.bucket(name)?.expect("bucket exists after BucketExists"))
            }
            other => other,
        }
    }

    /// Deletes nested bucket `name` and everything beneath it.
    pub fn delete_bucket(&self, name: &[u8]) -> Result<()> {
        self.tx.borrow_mut().delete_child(self.id, name)
    }

    /// A cursor over this bucket's keys.
    pub fn cursor(&self) -> Cursor<'tx> {
        Cursor::new(*self)
    }

    /// Increments and returns the bucket's sequence.
    pub fn next_sequence(&self) -> Result<u64> {
        let mut i = self.tx.borrow_mut();
        i.ensure(true)?;
        i.live(self.id)?;
        let st = &mut i.buckets[self.id];
        st.sequence = st.sequence.checked_add(1).ok_or(Error::SequenceOverflow)?;
        st.dirty = true;
        Ok(st.sequence)
    }

    /// The bucket's current sequence.
    pub fn sequence(&self) -> u64 {
        self.tx.borrow().buckets[self.id].sequence
    }

    /// Sets the fill percent used when this bucket's nodes are split (clamped to 0.1..=1.0).
    pub fn set_fill_percent(&self, fill: f64) {
        let f = fill.clamp(crate::options::MIN_FILL_PERCENT, crate::options::MAX_FILL_PERCENT);
        self.tx.borrow_mut().buckets[self.id].fill_percent = f;
    }

    /// Calls `f(key, value)` for every element in key order (`value` is `None` for nested
    /// buckets).
    pub fn for_each(&self, mut f: impl FnMut(&[u8], Option<&[u8]>) -> Result<()>) -> Result<()> {
        let mut c = self.cursor();
        let mut item = c.first_ref()?;
        while let Some((k, v)) = item {
            f(&k, v.as_deref())?;
            item = c.next_ref()?;
        }
        Ok(())
    }

    /// Page and key statistics of this bucket and the buckets beneath it.
    pub fn stats(&self) -> Result<BucketStats> {
        let mut i = self.tx.borrow_mut();
        i.ensure(false)?;
        i.live(self.id)?;
        let mut s = BucketStats { bucket_n: 1, ..BucketStats::default() };
        let root = i.root_ref(self.id);
        stats_tree(&mut i, root, 1, 1, &mut s)?;
        Ok(s)
    }
}

/// Accumulates statistics of the tree at `r` (at `depth` within its bucket) into `s`.
///
/// `level` counts every step down from the bucket `stats` was called on, nested buckets
/// included (so `level >= depth`), and bounds the recursion: `depth` starts again at 1 in a
/// nested bucket, so bounding it alone let a corrupt file whose nested bucket is rooted at an
/// ancestor page recurse until the stack overflowed.
fn stats_tree(
    i: &mut TxInner,
    r: NodeRef,
    depth: usize,
    level: usize,
    s: &mut BucketStats,
) -> Result<()> {
    if level > MAX_DEPTH {
        return Err(Corruption::page(0, PageProblem::TooDeep).into());
    }
    s.depth = s.depth.max(depth);
    let mut inner_refs = Vec::new();
    {
        let v = i.view(&r)?;
        if let View::Page(p) = &v {
            if p.is_leaf() {
                s.leaf_page_n += 1;
                s.leaf_overflow_n += p.header.overflow as usize;
            } else {
                s.branch_page_n += 1;
            }
        } else if v.is_leaf() {
            s.leaf_page_n += 1;
        } else {
            s.branch_page_n += 1;
        }
        for k in 0..v.count() {
            if !v.is_leaf() {
                inner_refs.push((false, v.child(k)?, None));
                continue;
            }
            let (flags, _, val) = v.leaf(k)?;
            s.key_n += 1;
            if flags & BUCKET_LEAF_FLAG != 0 && val.len() >= BUCKET_HEADER_SIZE {
                let h = BucketHeader::decode(val);
                if h.root == 0 {
                    s.inline_bucket_n += 1;
                    inner_refs.push((
                        true,
                        NodeRef::Page(0),
                        Some(val[BUCKET_HEADER_SIZE..].to_vec()),
                    ));
                } else {
                    inner_refs.push((true, NodeRef::Page(h.root), None));
                }
            }
        }
    }
    for (bucket, r, inline) in inner_refs {
        let r = match inline {
            Some(bytes) => i.add_inline(&bytes),
            None => r,
        };
        if !bucket {
            stats_tree(i, r, depth + 1, level + 1, s)?;
        } else {
            let mut sub = BucketStats::default();
            stats_tree(i, r, 1, level + 1, &mut sub)?;
            s.key_n += sub.key_n;
            s.branch_page_n += sub.branch_page_n;
            s.leaf_page_n += sub.leaf_page_n;
            s.leaf_overflow_n += sub.leaf_overflow_n;
            s.bucket_n += 1 + sub.bucket_n;
            s.inline_bucket_n += sub.inline_bucket_n;
        }
    }
    Ok(())
}
