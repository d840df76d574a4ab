//! Transactions: a consistent snapshot (readers) or the single writer.
//!
//! A transaction holds its own copy of the meta it started from and the [`Mapping`] that was
//! current then. Readers therefore never see later commits, and growth of the file never
//! invalidates their pages: a `Mapping` stays valid while it lives (on the real disk the old
//! mmap stays mapped until the last reader holding it drops it; the file only grows, so its
//! bytes stay backed). The writer never overwrites a page an open reader can reach: pages it
//! frees stay pending until every reader older than it has finished.
//!
//! The writer keeps a private copy of the freelist and an arena of materialized nodes; commit
//! rebalances and spills them to new pages, writes the freelist, grows the file, writes the dirty
//! pages and the meta to slot `txid % 2`, with one sync (a small commit, carrying a commit
//! record: see `record`) or bolt's two. Rollback drops the copy.

use std::cell::{Ref as CellRef, RefCell, RefMut};
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use sim::io::Mapping;

use crate::audit::ReaderSlot;
use crate::bucket::{Bucket, BucketId, BucketState, ROOT_BUCKET};
use crate::check::{self, CheckProblem};
use crate::db::DbState;
use crate::dirty::DirtyPages;
use crate::error::{Corruption, Error, PageProblem, Result};
use crate::freelist::Freelist;
use crate::meta::Meta;
use crate::node::{Items, Node, NodeId, NodePool, Raw, Src, Stored};
use crate::page::{page_bytes, page_with_header, NodePage, Pgid};
use crate::planted;

/// Largest arena kept from one writer for the next.
const SPARE_ARENA_BYTES: usize = 16 << 20;

/// Deepest tree we accept before calling it a cycle.
pub(crate) const MAX_DEPTH: usize = 64;

/// A reference to a tree node: an on-disk page, an inline bucket page, or a materialized node.
#[derive(Clone, Debug)]
pub(crate) enum NodeRef {
    Page(Pgid),
    /// Index into the transaction's inline pages.
    Inline(usize),
    Node(NodeId),
}

/// A readable view of a node, whichever form it has.
pub(crate) enum View<'a> {
    Page(NodePage<'a>),
    /// An in-memory node and where its elements' bytes are.
    Node(&'a Node, Src<'a>),
    /// A raw node's page copy (see `node::Raw`) and its materialized children.
    Raw(NodePage<'a>, &'a Raw),
}

impl<'a> View<'a> {
    pub fn is_leaf(&self) -> bool {
        match self {
            View::Page(p) | View::Raw(p, _) => p.is_leaf(),
            View::Node(n, _) => n.is_leaf(),
        }
    }
    pub fn count(&self) -> usize {
        match self {
            View::Page(p) | View::Raw(p, _) => p.count(),
            View::Node(n, _) => n.len(),
        }
    }
    /// Leaf element: (flags, key, value).
    pub fn leaf(&self, i: usize) -> Result<(u32, &'a [u8], &'a [u8]), Corruption> {
        match self {
            View::Page(p) | View::Raw(p, _) => p.leaf(i),
            View::Node(n, map) => match &n.items {
                Items::Leaf(v) => Ok((v[i].flags, v[i].key(*map), v[i].value(*map))),
                Items::Branch(_) | Items::Raw(_) => unreachable!("leaf() on a branch node"),
            },
        }
    }
    /// Child reference of branch element `i`.
    pub fn child(&self, i: usize) -> Result<NodeRef, Corruption> {
        match self {
            View::Page(p) => Ok(NodeRef::Page(p.branch(i)?.1)),
            View::Raw(p, r) => match r.child(i) {
                Some(c) => Ok(NodeRef::Node(c)),
                None => Ok(NodeRef::Page(p.branch(i)?.1)),
            },
            View::Node(n, _) => match &n.items {
                Items::Branch(v) => {
                    Ok(v[i].child.map(NodeRef::Node).unwrap_or(NodeRef::Page(v[i].pgid)))
                }
                Items::Leaf(_) | Items::Raw(_) => unreachable!("child() on a leaf node"),
            },
        }
    }
    /// Binary search: `Ok(i)` when element `i` holds `key`, else `Err(lower bound)`.
    pub fn search(&self, key: &[u8]) -> Result<Result<usize, usize>, Corruption> {
        match self {
            View::Page(p) | View::Raw(p, _) => p.search(key),
            View::Node(n, map) => Ok(n.search(key, *map)),
        }
    }
    pub fn child_index(&self, key: &[u8]) -> Result<usize, Corruption> {
        match self {
            View::Page(p) | View::Raw(p, _) => p.child_index(key),
            View::Node(n, map) => Ok(n.child_index(key, *map)),
        }
    }
}

/// The mutable state of a transaction.
pub(crate) struct TxInner {
    pub writable: bool,
    pub closed: bool,
    pub meta: Meta,
    pub map: Mapping,
    pub page_size: usize,
    pub buckets: Vec<BucketState>,
    /// Open bucket handles by (parent, name).
    pub open: BTreeMap<(BucketId, Vec<u8>), BucketId>,
    /// Materialized nodes (write transactions only).
    pub nodes: Vec<Node>,
    /// The writer's private freelist.
    pub freelist: Freelist,
    /// Pages freed by this transaction (guards against freeing twice).
    pub freed: BTreeSet<Pgid>,
    /// Bumped on every change, so cursors know to re-seek.
    pub generation: u64,
    /// Pages written by the spill at commit.
    pub dirty: DirtyPages,
    /// Spare node vectors (a writer's, lent by the database for the transaction's life).
    pub pool: NodePool,
    /// Bytes of the elements made in this transaction (see `node::Src`).
    pub arena: Vec<u8>,
    /// Free ids set aside at commit for branch pages, highest first (see `commit`).
    pub branch_ids: Vec<Pgid>,
    /// Copies of inline bucket pages opened by a read transaction.
    pub inline_pages: Vec<Vec<u8>>,
    /// Whether pages read for writing become raw nodes when they can (see `DbState`).
    pub raw_nodes: bool,
    /// A reader's slot in audit mode (see `audit`): where its page visits go.
    pub audit: Option<ReaderSlot>,
}

/// Records a visit of `p` in an audited reader's slot (out of line: off the hot path).
#[cold]
#[inline(never)]
fn record_visit(slot: &ReaderSlot, p: &NodePage<'_>) {
    slot.1.borrow_mut().visit(p.pgid, p.header.overflow);
}

/// Page `pgid` of `map` as a branch or leaf page: below the high water mark `limit`, inside the
/// mapping, carrying its id, and not a meta page.
pub(crate) fn node_page(
    map: &[u8],
    page_size: usize,
    limit: Pgid,
    pgid: Pgid,
) -> Result<NodePage<'_>, Corruption> {
    let (bytes, header) = page_with_header(map, page_size, pgid, limit)?;
    let p = NodePage::with_header(bytes, pgid, false, header)?;
    if pgid < 2 {
        return Err(Corruption::page(
            pgid,
            PageProblem::UnexpectedFlags {
                flags: p.header.flags,
                expected: "a data page, not a meta page",
            },
        ));
    }
    Ok(p)
}

impl TxInner {
    /// A view of the node behind `r`.
    pub fn view(&self, r: &NodeRef) -> Result<View<'_>, Corruption> {
        match r {
            NodeRef::Page(pgid) => {
                let p = node_page(&self.map, self.page_size, self.meta.pgid, *pgid)?;
                self.visited(&p);
                Ok(View::Page(p))
            }
            NodeRef::Inline(k) => Ok(View::Page(NodePage::parse(&self.inline_pages[*k], 0, true)?)),
            NodeRef::Node(id) => {
                let n = &self.nodes[*id];
                Ok(match &n.items {
                    Items::Raw(r) => View::Raw(r.page(&self.arena, n.pgid), r),
                    _ => View::Node(n, self.src()),
                })
            }
        }
    }

    /// Records, in audit mode, that this reader visited page `p` (off: one branch, inlined).
    #[inline(always)]
    pub fn visited(&self, p: &NodePage<'_>) {
        if let Some(slot) = &self.audit {
            record_visit(slot, p);
        }
    }

    /// Keeps a copy of an inline page and returns its reference.
    pub fn add_inline(&mut self, bytes: &[u8]) -> NodeRef {
        self.inline_pages.push(bytes.to_vec());
        NodeRef::Inline(self.inline_pages.len() - 1)
    }

    /// Reads page `pgid` into a new materialized node.
    pub fn materialize(&mut self, pgid: Pgid) -> Result<NodeId, Corruption> {
        let p = node_page(&self.map, self.page_size, self.meta.pgid, pgid)?;
        let base = Some(Stored::Mapped(pgid as usize * self.page_size));
        let node = Node::from_page_in(&p, base, &mut self.pool, &mut self.arena)?;
        self.nodes.push(node);
        Ok(self.nodes.len() - 1)
    }

    /// Reads page `pgid` into a new node, raw (a copy of the page, see `node::Raw`) when the
    /// page is canonical and has no overflow pages, else materialized.
    pub fn materialize_raw(&mut self, pgid: Pgid) -> Result<NodeId, Corruption> {
        let p = node_page(&self.map, self.page_size, self.meta.pgid, pgid)?;
        let size = match p.canonical_size() {
            Some(size) if p.header.overflow == 0 && self.raw_nodes => size,
            _ => return self.materialize(pgid),
        };
        let at = self.arena.len();
        self.arena.extend_from_slice(&p.bytes()[..size]);
        self.arena.resize(at + self.page_size, 0);
        let raw = Raw {
            at,
            len: self.page_size,
            leaf: p.is_leaf(),
            count: p.count(),
            children: Vec::new(),
        };
        self.nodes.push(Node::raw(pgid, raw, size));
        Ok(self.nodes.len() - 1)
    }

    /// Turns raw node `id` (see `node::Raw`) into a materialized one whose elements refer to
    /// the copy's bytes; leaves any other node alone.
    pub fn unraw(&mut self, id: NodeId) {
        let Items::Raw(raw) = &mut self.nodes[id].items else { return };
        let children = std::mem::take(&mut raw.children);
        let (at, len) = (raw.at, raw.len);
        let pgid = self.nodes[id].pgid;
        let p = NodePage::parse(&self.arena[at..at + len], pgid, false)
            .expect("a raw node's page was checked");
        let mut node =
            Node::from_page_in(&p, Some(Stored::Owned(at)), &mut self.pool, &mut Vec::new())
                .expect("a raw node's page was checked");
        if let Items::Branch(items) = &mut node.items {
            for (i, c) in children {
                items[i].child = Some(c);
            }
        }
        self.nodes[id] = node;
    }

    /// Where this transaction's elements' bytes are.
    pub fn src(&self) -> Src<'_> {
        Src::new(&self.map, &self.arena)
    }

    /// The root reference of bucket `b`.
    pub fn root_ref(&self, b: BucketId) -> NodeRef {
        self.buckets[b].root.clone()
    }

    /// Frees `pgid` (and its overflow pages) under this transaction's id, once.
    pub fn free_page(&mut self, pgid: Pgid, overflow: u32) {
        if pgid >= 2 && self.freed.insert(pgid) {
            self.freelist.free(self.meta.txid, pgid, overflow);
        }
    }

    /// Frees `pgid` (and its overflow pages) under the *next* transaction's id: reusable only
    /// once the commit after this one is durable (see `record`).
    pub fn free_page_late(&mut self, pgid: Pgid, overflow: u32) {
        if pgid >= 2 && self.freed.insert(pgid) {
            self.freelist.free(self.meta.txid + 1, pgid, overflow);
        }
    }

    /// Overflow count of on-disk page `pgid`.
    pub fn page_overflow(&self, pgid: Pgid) -> Result<u32, Corruption> {
        let bytes = page_bytes(&self.map, self.page_size, pgid, self.meta.pgid)?;
        Ok(crate::page::PageHeader::decode(bytes).map(|h| h.overflow).unwrap_or(0))
    }

    /// Allocates `n` contiguous pages: from the freelist, else from the high water mark.
    pub fn allocate(&mut self, n: usize) -> Pgid {
        match self.freelist.allocate(n) {
            0 => self.grow(n),
            id => id,
        }
    }

    /// Takes `n` pages at the high water mark (the file grows at commit).
    fn grow(&mut self, n: usize) -> Pgid {
        let id = self.meta.pgid;
        self.meta.pgid += n as u64;
        id
    }

    /// Allocates `n` contiguous pages for a branch: one of the ids set aside for branches if
    /// `n` is 1 and any is left, else the top of the freelist, else the high water mark.
    pub fn allocate_branch(&mut self, n: usize) -> Pgid {
        match self.branch_ids.pop() {
            Some(id) if n == 1 => id,
            other => {
                self.branch_ids.extend(other);
                self.allocate_high(n)
            }
        }
    }

    /// Allocates `n` contiguous pages from the top of the freelist, else from the high water
    /// mark.
    pub fn allocate_high(&mut self, n: usize) -> Pgid {
        match self.freelist.allocate_high(n) {
            0 => self.grow(n),
            id => id,
        }
    }

    /// Fails unless the transaction is open (and writable when `write`).
    pub fn ensure(&self, write: bool) -> Result<()> {
        if self.closed {
            return Err(Error::TxClosed);
        }
        if write && !self.writable {
            return Err(Error::TxNotWritable);
        }
        Ok(())
    }
}

/// A transaction. Read-only transactions are snapshots; at most one writable transaction is
/// open at a time. Dropping an open transaction rolls it back.
pub struct Tx {
    pub(crate) db: Rc<RefCell<DbState>>,
    /// The file as mapped when the transaction began (the same bytes as `TxInner::map`). It is
    /// never replaced while the transaction lives, so bytes of committed pages can be lent out
    /// for the transaction's lifetime (zero-copy gets and cursors): no writer rewrites a page
    /// that this snapshot reaches while it is open (see the module docs).
    pub(crate) map: Mapping,
    pub(crate) inner: RefCell<TxInner>,
}

impl std::fmt::Debug for Tx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let i = self.inner.borrow();
        write!(f, "Tx(txid {}, writable {})", i.meta.txid, i.writable)
    }
}

impl Tx {
    /// Begins a transaction on `db` (called by `Db::begin`).
    pub(crate) fn begin(db: &Rc<RefCell<DbState>>, writable: bool) -> Result<Tx> {
        let mut st = db.borrow_mut();
        if st.file.is_none() {
            return Err(Error::DatabaseNotOpen);
        }
        let mut meta = st.meta;
        let (mut dirty, mut pool, mut arena) =
            (DirtyPages::default(), NodePool::default(), Vec::new());
        let mut audit = None;
        let freelist = if writable {
            if st.options.read_only {
                return Err(Error::DatabaseReadOnly);
            }
            if let Some(cause) = &st.fail_stop {
                return Err(Error::FailStop { cause: cause.clone() });
            }
            if st.writer {
                return Err(Error::WriterBusy);
            }
            st.writer = true;
            // Pages freed by transactions older than every open reader are reusable now; pages
            // held for the commit record check of the last commit (pending under the next
            // txid, see `record`) stay pending one transaction more.
            let oldest = if sim::planted::active(&planted::RELEASE_BY_NEWEST_READER) {
                st.readers.keys().next_back()
            } else {
                st.readers.keys().next()
            };
            let oldest = oldest.copied().unwrap_or(u64::MAX);
            let released = st.freelist.release(oldest.saturating_sub(1).min(meta.txid));
            if released > 0 && !st.readers.is_empty() {
                st.releases_under_readers += 1;
            }
            meta.txid += 1;
            dirty = std::mem::take(&mut st.spare_dirty);
            dirty.set_limit(st.options.one_flush_max_bytes);
            pool = std::mem::take(&mut st.pool);
            arena = std::mem::take(&mut st.spare_arena);
            st.freelist.clone()
        } else {
            *st.readers.entry(meta.txid).or_insert(0) += 1;
            audit = st.audit.as_mut().map(|a| a.begin_reader(meta.txid));
            Freelist::new()
        };
        let root = BucketState::new(None, Vec::new(), meta.root, NodeRef::Page(meta.root.root));
        let inner = TxInner {
            writable,
            closed: false,
            meta,
            map: st.map.clone(),
            page_size: st.page_size,
            buckets: vec![root],
            open: BTreeMap::new(),
            nodes: Vec::new(),
            freelist,
            freed: BTreeSet::new(),
            generation: 0,
            dirty,
            pool,
            arena,
            branch_ids: Vec::new(),
            inline_pages: Vec::new(),
            raw_nodes: st.raw_nodes,
            audit,
        };
        drop(st);
        let map = inner.map.clone();
        Ok(Tx { db: db.clone(), map, inner: RefCell::new(inner) })
    }

    /// Committed page `pgid` as this transaction sees it, borrowed for the transaction's life.
    #[inline(always)]
    pub(crate) fn page(&self, i: &TxInner, pgid: Pgid) -> Result<NodePage<'_>, Corruption> {
        let p = node_page(&self.map, i.page_size, i.meta.pgid, pgid)?;
        i.visited(&p);
        Ok(p)
    }

    pub(crate) fn borrow(&self) -> CellRef<'_, TxInner> {
        self.inner.borrow()
    }

    pub(crate) fn borrow_mut(&self) -> RefMut<'_, TxInner> {
        self.inner.borrow_mut()
    }

    /// The transaction id (a writer's is the id it will commit as).
    pub fn id(&self) -> u64 {
        self.borrow().meta.txid
    }

    /// Whether this transaction can write.
    pub fn writable(&self) -> bool {
        self.borrow().writable
    }

    /// The meta this transaction sees (a writer's reflects its allocations so far).
    pub fn meta(&self) -> Meta {
        self.borrow().meta
    }

    /// Database size in bytes as this transaction sees it (high water mark * page size).
    pub fn size(&self) -> u64 {
        let i = self.borrow();
        i.meta.pgid * i.page_size as u64
    }

    /// The root bucket (top-level bucket names are its keys).
    pub(crate) fn root(&self) -> Bucket<'_> {
        Bucket::new(self, ROOT_BUCKET)
    }

    /// The top-level bucket `name`, if it exists.
    pub fn bucket(&self, name: &[u8]) -> Result<Option<Bucket<'_>>> {
        self.root().bucket(name)
    }

    /// Creates top-level bucket `name`; fails if it exists.
    pub fn create_bucket(&self, name: &[u8]) -> Result<Bucket<'_>> {
        self.root().create_bucket(name)
    }

    /// Creates top-level bucket `name` unless it exists, and returns it.
    pub fn create_bucket_if_not_exists(&self, name: &[u8]) -> Result<Bucket<'_>> {
        self.root().create_bucket_if_not_exists(name)
    }

    /// Deletes top-level bucket `name` and everything in it.
    pub fn delete_bucket(&self, name: &[u8]) -> Result<()> {
        self.root().delete_bucket(name)
    }

    /// Calls `f(name, bucket)` for every top-level bucket, in key order.
    pub fn for_each(&self, mut f: impl FnMut(&[u8], Bucket<'_>) -> Result<()>) -> Result<()> {
        let mut c = self.root().cursor();
        let mut item = c.first()?;
        while let Some((name, value)) = item {
            if value.is_none() {
                if let Some(b) = self.bucket(&name)? {
                    f(&name, b)?;
                }
            }
            item = c.next()?;
        }
        Ok(())
    }

    /// Runs the consistency check over the committed snapshot this transaction started from
    /// (a writer's uncommitted changes live in memory and are not part of it) and returns every
    /// problem found.
    pub fn check(&self) -> Vec<CheckProblem> {
        let i = self.borrow();
        check::check(&i.map, i.page_size, &i.meta)
    }

    /// Commits: writes every change durably, or fails and leaves the database unchanged (after
    /// a disk error the database refuses writes until reopened).
    pub fn commit(mut self) -> Result<()> {
        self.borrow().ensure(true)?;
        let result = crate::commit::commit(&mut self);
        self.finish();
        result
    }

    /// Discards the transaction.
    pub fn rollback(self) -> Result<()> {
        self.borrow().ensure(false)?;
        self.finish();
        Ok(())
    }

    /// Marks the transaction closed and releases its slot in the database.
    fn finish(&self) {
        let mut i = self.borrow_mut();
        if i.closed {
            return;
        }
        i.closed = true;
        let mut db = self.db.borrow_mut();
        if i.writable {
            db.writer = false;
            let i = &mut *i;
            for node in i.nodes.drain(..) {
                i.pool.recycle(node);
            }
            i.dirty.clear();
            db.pool = std::mem::take(&mut i.pool);
            db.spare_dirty = std::mem::take(&mut i.dirty);
            // Keep the arena for the next writer unless a bulk load made it large.
            if i.arena.capacity() <= SPARE_ARENA_BYTES {
                i.arena.clear();
                db.spare_arena = std::mem::take(&mut i.arena);
            }
        } else {
            if let Some(n) = db.readers.get_mut(&i.meta.txid) {
                *n -= 1;
                if *n == 0 || sim::planted::active(&planted::READER_SLOT_DROPPED) {
                    db.readers.remove(&i.meta.txid);
                }
            }
            if let Some((serial, _)) = i.audit.take() {
                let db = &mut *db;
                if let Some(a) = &mut db.audit {
                    a.end_reader(serial, &self.map, &db.map, i.page_size, db.meta.txid);
                }
            }
        }
        i.nodes.clear();
        i.dirty.clear();
    }
}

impl Drop for Tx {
    fn drop(&mut self) {
        self.finish();
    }
}
