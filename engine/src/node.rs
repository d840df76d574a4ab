//! In-memory nodes: the writable form of branch and leaf pages inside a write transaction.
//!
//! A write transaction materializes a node for every page on the path to a change (copy on
//! write); untouched subtrees stay on their pages. At commit, nodes are rebalanced (an underfull
//! node is merged into a sibling), then spilled: split into chunks that fill pages up to the fill
//! percent, each chunk written to freshly allocated pages, and the old pages freed.
//!
//! A node starts out [`Raw`] when it can: a copy of its page, patched in place while the
//! transaction only overwrites values with values of the same size (or, for a branch, only
//! rewrites children), and parsed into elements the first time anything else happens to it.
//!
//! Serialized size of a node: 16-byte header + per element 16 bytes + key (+ value for leaves).

use crate::error::Corruption;
use crate::page::{
    put_u32, put_u64, NodePage, PageHeader, Pgid, BRANCH_PAGE, ELEMENT_SIZE, LEAF_PAGE,
    PAGE_HEADER_SIZE,
};

/// Index of a node in the transaction's node arena.
pub type NodeId = usize;

/// The first 8 bytes of `key`, zero-padded, big-endian: comparing prefixes orders keys the
/// same way as comparing the keys, except that equal prefixes need the full comparison. Keeps
/// binary searches over in-memory nodes from chasing a heap pointer per comparison.
pub fn key_prefix(key: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = key.len().min(8);
    b[..n].copy_from_slice(&key[..n]);
    u64::from_be_bytes(b)
}

/// Where a transaction's element bytes are: its mapping of the file, and its arena (bytes of
/// elements made in the transaction, appended one after another and dropped together when it
/// ends). A transaction's mapping never changes while it lives, and its arena only grows, so
/// the offsets in a `Stored` stay valid for the life of its nodes.
#[derive(Clone, Copy, Debug)]
pub struct Src<'a> {
    pub map: &'a [u8],
    pub arena: &'a [u8],
}

impl<'a> Src<'a> {
    /// The mapping `map` and the arena `arena`.
    pub fn new(map: &'a [u8], arena: &'a [u8]) -> Src<'a> {
        Src { map, arena }
    }

    /// Just a mapping (no element made in memory).
    pub fn map(map: &'a [u8]) -> Src<'a> {
        Src { map, arena: &[] }
    }
}

/// Where an element's bytes live. `Mapped(offset)`: on the committed page the node was read
/// from, at `offset` in the transaction's mapping (a leaf's value follows its key there, as on
/// the page), so materializing a page copies no key or value; `Owned(offset)`: at `offset` in
/// the transaction's arena (a leaf's key then its value). Neither owns an allocation, so
/// elements are dropped (and node vectors emptied) for free.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stored {
    Mapped(usize),
    Owned(usize),
}

impl Stored {
    /// `at` bytes further on.
    fn at(self, at: usize) -> Stored {
        match self {
            Stored::Mapped(off) => Stored::Mapped(off + at),
            Stored::Owned(off) => Stored::Owned(off + at),
        }
    }

    /// `len` bytes at `at` past the start of the element's bytes.
    fn bytes<'a>(&self, src: Src<'a>, at: usize, len: usize) -> &'a [u8] {
        let (bytes, off) = match *self {
            Stored::Mapped(off) => (src.map, off),
            Stored::Owned(off) => (src.arena, off),
        };
        &bytes[off + at..off + at + len]
    }

    /// Appends `parts` to `arena`; returns where they start.
    fn own(arena: &mut Vec<u8>, parts: &[&[u8]]) -> Stored {
        let off = arena.len();
        for part in parts {
            arena.extend_from_slice(part);
        }
        Stored::Owned(off)
    }
}

/// A key/value (or nested bucket) element of a leaf.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeafItem {
    pub flags: u32,
    klen: u32,
    vlen: u32,
    /// `key_prefix(key)`; keys never change after construction.
    pub prefix: u64,
    bytes: Stored,
}

impl LeafItem {
    /// An element whose `key` and `value` are copied to the end of `arena`.
    pub fn new(flags: u32, key: &[u8], value: &[u8], arena: &mut Vec<u8>) -> LeafItem {
        LeafItem {
            flags,
            klen: key.len() as u32,
            vlen: value.len() as u32,
            prefix: key_prefix(key),
            bytes: Stored::own(arena, &[key, value]),
        }
    }

    /// The key.
    pub fn key<'a>(&self, src: Src<'a>) -> &'a [u8] {
        self.bytes.bytes(src, 0, self.klen as usize)
    }

    /// The value.
    pub fn value<'a>(&self, src: Src<'a>) -> &'a [u8] {
        self.bytes.bytes(src, self.klen as usize, self.vlen as usize)
    }

    /// Replaces the value (and the flags); the key and the new value are copied to the end of
    /// `arena` (`map` is the transaction's mapping).
    pub fn set(&mut self, map: &[u8], arena: &mut Vec<u8>, flags: u32, value: &[u8]) {
        let klen = self.klen as usize;
        let off = arena.len();
        match self.bytes {
            Stored::Mapped(at) => arena.extend_from_slice(&map[at..at + klen]),
            Stored::Owned(at) => arena.extend_from_within(at..at + klen),
        }
        arena.extend_from_slice(value);
        self.flags = flags;
        self.vlen = value.len() as u32;
        self.bytes = Stored::Owned(off);
    }

    /// Serialized size: element header, key and value.
    fn size(&self) -> usize {
        ELEMENT_SIZE + self.klen as usize + self.vlen as usize
    }
}

/// A child reference of a branch. `child` is set when the child is materialized in the arena;
/// then `pgid` is its original page (0 when new) and `key` may be stale until spill.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BranchItem {
    /// `key_prefix(key)`.
    pub prefix: u64,
    klen: u32,
    key: Stored,
    pub pgid: Pgid,
    pub child: Option<NodeId>,
}

impl BranchItem {
    /// A child reference whose `key` is copied to the end of `arena`.
    pub fn new(key: &[u8], pgid: Pgid, child: Option<NodeId>, arena: &mut Vec<u8>) -> BranchItem {
        BranchItem {
            prefix: key_prefix(key),
            klen: key.len() as u32,
            key: Stored::own(arena, &[key]),
            pgid,
            child,
        }
    }

    /// The key.
    pub fn key<'a>(&self, src: Src<'a>) -> &'a [u8] {
        self.key.bytes(src, 0, self.klen as usize)
    }

    /// Serialized size: element header and key.
    fn size(&self) -> usize {
        ELEMENT_SIZE + self.klen as usize
    }
}

/// The elements of a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Items {
    Leaf(Vec<LeafItem>),
    Branch(Vec<BranchItem>),
    /// Not parsed: a copy of the page in the arena (see [`Raw`]).
    Raw(Raw),
}

/// A node kept as a copy of its page, for the common case of a page whose elements a write
/// transaction only overwrites with values of the same size (a leaf) or whose children are
/// only rewritten in place (a branch): parsing it into elements and serializing them again
/// costs more than the rest of the commit's CPU work. The copy lies at `at` in the
/// transaction's arena, one page long, canonical (`NodePage::canonical_size`), without
/// overflow pages, and zero past the node's size, so written with a new header id it is the
/// same bytes as the node materialized and spilled (a test checks this). A leaf's values are
/// overwritten in the copy; anything else (an insert, a delete, a value of another size, a
/// split or a merge) first turns the node into a parsed one (`TxInner::unraw`), whose elements
/// then refer to the copy's bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Raw {
    /// Where the copy starts in the arena.
    pub at: usize,
    /// Its length (one page).
    pub len: usize,
    pub leaf: bool,
    /// Number of elements.
    pub count: usize,
    /// A branch's materialized children: (element index, node), sorted by index.
    pub children: Vec<(usize, NodeId)>,
}

impl Raw {
    /// The copy's bytes in `arena`.
    pub fn bytes<'a>(&self, arena: &'a [u8]) -> &'a [u8] {
        &arena[self.at..self.at + self.len]
    }

    /// The copy as a page (it was checked when copied).
    pub fn page<'a>(&self, arena: &'a [u8], pgid: Pgid) -> NodePage<'a> {
        NodePage::parse(self.bytes(arena), pgid, false).expect("a raw node's page was checked")
    }

    /// The materialized child at element `i`, if any.
    pub fn child(&self, i: usize) -> Option<NodeId> {
        self.children.binary_search_by_key(&i, |c| c.0).ok().map(|k| self.children[k].1)
    }

    /// A branch element pointing at `pgid`, keyed by the copy's first key (an empty key when
    /// the copy has no elements), sharing its bytes.
    pub fn first_item(&self, arena: &[u8], pgid: Pgid) -> Option<BranchItem> {
        if self.count == 0 {
            return None;
        }
        let p = self.page(arena, 0);
        let (at, key) = if self.leaf {
            let (_, at, key, _) = p.leaf_span(0).expect("checked");
            (at, key)
        } else {
            let (at, key, _) = p.branch_span(0).expect("checked");
            (at, key)
        };
        Some(BranchItem {
            prefix: key_prefix(key),
            klen: key.len() as u32,
            key: Stored::Owned(self.at + at),
            pgid,
            child: None,
        })
    }
}

/// An in-memory node.
#[derive(Clone, Debug, PartialEq, Eq)]
///
/// Invariants: `prefixes[i] == key_prefix(key of element i)` for every element, and `size` is
/// the serialized size of the node. Searches run over the compact prefix array (eight bytes per
/// element instead of a whole element), which keeps the upper levels of a large in-memory tree
/// in cache; the size is kept so that split, rebalance and spill need not walk the elements to
/// learn it. Elements are added, removed, split off, merged and given new values only through
/// `Node`'s methods, which keep both in step; other code may change an element's child in
/// place, but never its key or value.
pub struct Node {
    /// The page this node was read from (0 when created in this transaction).
    pub pgid: Pgid,
    /// Overflow of that page (how many extra pages to free with it).
    pub overflow: u32,
    pub items: Items,
    prefixes: Vec<u64>,
    size: usize,
}

/// Minimum elements per page when splitting.
pub const MIN_KEYS_PER_PAGE: usize = 2;

impl Node {
    /// An empty leaf.
    pub fn empty_leaf() -> Node {
        Node::new(0, 0, Items::Leaf(Vec::new()))
    }

    /// A node holding `items`, read from page `pgid` (0 when new) with `overflow`.
    pub fn new(pgid: Pgid, overflow: u32, items: Items) -> Node {
        let prefixes = match &items {
            Items::Leaf(v) => v.iter().map(|it| it.prefix).collect(),
            Items::Branch(v) => v.iter().map(|it| it.prefix).collect(),
            Items::Raw(_) => unreachable!("raw nodes are made by Node::raw"),
        };
        let size = items_size(&items);
        Node { pgid, overflow, items, prefixes, size }
    }

    /// A raw node (see [`Raw`]) for page `pgid`, whose elements are `size` bytes serialized.
    pub fn raw(pgid: Pgid, raw: Raw, size: usize) -> Node {
        Node { pgid, overflow: 0, items: Items::Raw(raw), prefixes: Vec::new(), size }
    }

    /// Whether this node is raw (see [`Raw`]).
    pub fn is_raw(&self) -> bool {
        matches!(self.items, Items::Raw(_))
    }

    /// A new branch node holding `items`.
    pub fn branch(items: Vec<BranchItem>) -> Node {
        Node::new(0, 0, Items::Branch(items))
    }

    /// Inserts leaf element `item` at `i` (a leaf node, keys kept in order by the caller).
    pub fn insert_leaf(&mut self, i: usize, item: LeafItem) {
        let Items::Leaf(v) = &mut self.items else { unreachable!("insert_leaf on a branch") };
        self.prefixes.insert(i, item.prefix);
        self.size += item.size();
        v.insert(i, item);
    }

    /// Inserts branch element `item` at `i` (a branch node, keys kept in order by the caller).
    pub fn insert_branch(&mut self, i: usize, item: BranchItem) {
        let Items::Branch(v) = &mut self.items else { unreachable!("insert_branch on a leaf") };
        self.prefixes.insert(i, item.prefix);
        self.size += item.size();
        v.insert(i, item);
    }

    /// Removes element `i`; returns its flags (0 for a branch element).
    pub fn remove(&mut self, i: usize) -> u32 {
        self.prefixes.remove(i);
        match &mut self.items {
            Items::Leaf(v) => {
                let it = v.remove(i);
                self.size -= it.size();
                it.flags
            }
            Items::Branch(v) => {
                self.size -= v.remove(i).size();
                0
            }
            Items::Raw(_) => unreachable!("remove on a raw node"),
        }
    }

    /// Gives leaf element `i` the value `value` and flags `flags` (see `LeafItem::set`).
    pub fn set_value(
        &mut self,
        i: usize,
        map: &[u8],
        arena: &mut Vec<u8>,
        flags: u32,
        value: &[u8],
    ) {
        let Items::Leaf(v) = &mut self.items else { unreachable!("set_value on a branch") };
        self.size = self.size - v[i].size() + ELEMENT_SIZE + v[i].klen as usize + value.len();
        v[i].set(map, arena, flags, value);
    }

    /// Replaces a branch node's elements (keeping the prefix index's allocation).
    pub fn set_branch_items(&mut self, items: Vec<BranchItem>) {
        self.prefixes.clear();
        self.prefixes.extend(items.iter().map(|it| it.prefix));
        self.items = Items::Branch(items);
        self.size = items_size(&self.items);
    }

    /// Appends every element of `other` (a sibling of the same kind, all keys after this
    /// node's); returns `other`'s page and overflow, or `None` when the kinds differ.
    pub fn append(&mut self, other: Node) -> Option<(Pgid, u32)> {
        match (&mut self.items, other.items) {
            (Items::Leaf(a), Items::Leaf(b)) => a.extend(b),
            (Items::Branch(a), Items::Branch(b)) => a.extend(b),
            _ => return None,
        }
        self.prefixes.extend(other.prefixes);
        self.size += other.size - PAGE_HEADER_SIZE;
        Some((other.pgid, other.overflow))
    }

    /// Materializes a page (every element bounds-checked). `base` is where the page starts
    /// when it lies in the transaction's mapping or arena: elements then refer to their bytes
    /// in place; otherwise (an inline page held elsewhere) they copy them to `arena`.
    pub fn from_page(
        p: &NodePage<'_>,
        base: Option<Stored>,
        arena: &mut Vec<u8>,
    ) -> Result<Node, Corruption> {
        Node::from_page_in(p, base, &mut NodePool::default(), arena)
    }

    /// Like [`Node::from_page`], taking the node's vectors from `pool`.
    pub(crate) fn from_page_in(
        p: &NodePage<'_>,
        base: Option<Stored>,
        pool: &mut NodePool,
        arena: &mut Vec<u8>,
    ) -> Result<Node, Corruption> {
        let n = p.count();
        let mut prefixes = pool.prefixes(p.is_leaf(), n);
        let items = if p.is_leaf() {
            let mut v = pool.leaves(n);
            for i in 0..n {
                let item = match base {
                    Some(base) => {
                        let (flags, at, k, vlen) = p.leaf_span(i)?;
                        LeafItem {
                            flags,
                            klen: k.len() as u32,
                            vlen: vlen as u32,
                            prefix: key_prefix(k),
                            bytes: base.at(at),
                        }
                    }
                    None => {
                        let (flags, k, val) = p.leaf(i)?;
                        LeafItem::new(flags, k, val, arena)
                    }
                };
                prefixes.push(item.prefix);
                v.push(item);
            }
            Items::Leaf(v)
        } else {
            let mut v = pool.branches(n);
            for i in 0..n {
                let (at, k, pgid) = p.branch_span(i)?;
                let item = match base {
                    Some(base) => BranchItem {
                        prefix: key_prefix(k),
                        klen: k.len() as u32,
                        key: base.at(at),
                        pgid,
                        child: None,
                    },
                    None => BranchItem::new(k, pgid, None, arena),
                };
                prefixes.push(item.prefix);
                v.push(item);
            }
            Items::Branch(v)
        };
        let pgid = if p.inline { 0 } else { p.pgid };
        let overflow = if p.inline { 0 } else { p.header.overflow };
        let size = items_size(&items);
        Ok(Node { pgid, overflow, items, prefixes, size })
    }

    /// Whether this is a leaf.
    pub fn is_leaf(&self) -> bool {
        match &self.items {
            Items::Leaf(_) => true,
            Items::Branch(_) => false,
            Items::Raw(r) => r.leaf,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match &self.items {
            Items::Leaf(v) => v.len(),
            Items::Branch(v) => v.len(),
            Items::Raw(r) => r.count,
        }
    }

    /// Whether the node has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Key of element `i`.
    pub fn key<'a>(&self, i: usize, src: Src<'a>) -> &'a [u8] {
        match &self.items {
            Items::Leaf(v) => v[i].key(src),
            Items::Branch(v) => v[i].key(src),
            Items::Raw(r) => r.page(src.arena, self.pgid).key(i).expect("checked"),
        }
    }

    /// A branch element pointing at `pgid` (and `child`), keyed by element `i`'s key, whose
    /// bytes it shares (a leaf element's key comes first in its bytes).
    pub fn branch_item(&self, i: usize, pgid: Pgid, child: Option<NodeId>) -> BranchItem {
        let (prefix, klen, key) = match &self.items {
            Items::Leaf(v) => (v[i].prefix, v[i].klen, v[i].bytes),
            Items::Branch(v) => (v[i].prefix, v[i].klen, v[i].key),
            Items::Raw(_) => unreachable!("branch_item of a raw node"),
        };
        BranchItem { prefix, klen, key, pgid, child }
    }

    /// Binary search for `key`: `Ok(i)` when element `i` holds it, else `Err(i)` with `i` the
    /// first index whose key is greater. Compares cached prefixes first, so the keys' bytes are
    /// read only when prefixes tie.
    pub fn search(&self, key: &[u8], map: Src<'_>) -> Result<usize, usize> {
        if let Items::Raw(r) = &self.items {
            return r.page(map.arena, self.pgid).search(key).expect("checked");
        }
        debug_assert_eq!(self.prefixes.len(), self.len(), "prefix index out of step");
        self.warm();
        let p = key_prefix(key);
        let lo = self.prefixes.partition_point(|&x| x < p);
        let hi = lo + self.prefixes[lo..].partition_point(|&x| x == p);
        let found = match &self.items {
            Items::Leaf(v) => v[lo..hi].binary_search_by(|it| it.key(map).cmp(key)),
            Items::Branch(v) => v[lo..hi].binary_search_by(|it| it.key(map).cmp(key)),
            Items::Raw(_) => unreachable!("handled above"),
        };
        found.map(|i| lo + i).map_err(|i| lo + i)
    }

    /// Touches one word per cache line of the prefix index and of the items: independent loads
    /// whose misses overlap, where the search (and an insert's shift of the items after it)
    /// would otherwise miss one line after another. A big transaction's nodes are many and
    /// each is reached rarely, so they are usually out of cache.
    fn warm(&self) {
        let mut warm = touch_lines(&self.prefixes, |&p| p);
        warm ^= match &self.items {
            Items::Leaf(v) => touch_lines(v, |it| it.prefix),
            Items::Branch(v) => touch_lines(v, |it| it.prefix),
            Items::Raw(_) => 0,
        };
        std::hint::black_box(warm);
    }

    /// First index whose key is >= `key`.
    pub fn lower_bound(&self, key: &[u8], map: Src<'_>) -> usize {
        self.search(key, map).unwrap_or_else(|i| i)
    }

    /// For a branch: index of the child whose range holds `key`.
    pub fn child_index(&self, key: &[u8], map: Src<'_>) -> usize {
        match self.search(key, map) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        }
    }

    /// Serialized size of one element.
    pub fn item_size(&self, i: usize) -> usize {
        match &self.items {
            Items::Leaf(v) => v[i].size(),
            Items::Branch(v) => v[i].size(),
            Items::Raw(_) => unreachable!("item_size of a raw node"),
        }
    }

    /// Serialized size of the whole node.
    pub fn size(&self) -> usize {
        debug_assert!(
            self.is_raw() || self.size == items_size(&self.items),
            "node size out of step"
        );
        self.size
    }

    /// Split points for spilling: ranges of elements, each with at least `MIN_KEYS_PER_PAGE`
    /// elements (when the node has that many), cut when a chunk would exceed `threshold` bytes.
    /// A node that fits in one page stays whole.
    pub fn chunks(&self, page_size: usize, threshold: usize) -> Vec<std::ops::Range<usize>> {
        let n = self.len();
        if n <= MIN_KEYS_PER_PAGE * 2 || self.size() <= page_size {
            return std::iter::once(0..n).collect();
        }
        let mut out = Vec::new();
        let (mut start, mut size) = (0usize, PAGE_HEADER_SIZE);
        for i in 0..n {
            let el = self.item_size(i);
            let in_chunk = i - start;
            let remaining = n - i;
            if in_chunk >= MIN_KEYS_PER_PAGE
                && remaining >= MIN_KEYS_PER_PAGE
                && size + el > threshold
            {
                out.push(start..i);
                start = i;
                size = PAGE_HEADER_SIZE;
            }
            size += el;
        }
        out.push(start..n);
        out
    }

    /// Writes elements `range` as a page into `buf` (zeroed, at least the chunk's size), with
    /// header id `pgid` and `overflow`.
    pub fn write_range(
        &self,
        range: std::ops::Range<usize>,
        buf: &mut [u8],
        pgid: Pgid,
        overflow: u32,
        map: Src<'_>,
    ) {
        let count = range.len();
        assert!(count <= usize::from(u16::MAX), "node chunk of {count} elements");
        let flags = if self.is_leaf() { LEAF_PAGE } else { BRANCH_PAGE };
        PageHeader { id: pgid, flags, count: count as u16, overflow }.encode(buf);
        let mut data = PAGE_HEADER_SIZE + count * ELEMENT_SIZE;
        for (j, i) in range.enumerate() {
            let e = PAGE_HEADER_SIZE + j * ELEMENT_SIZE;
            let pos = (data - e) as u32;
            match &self.items {
                Items::Leaf(v) => {
                    let it = &v[i];
                    let kv = it.klen as usize + it.vlen as usize;
                    put_u32(buf, e, it.flags);
                    put_u32(buf, e + 4, pos);
                    put_u32(buf, e + 8, it.klen);
                    put_u32(buf, e + 12, it.vlen);
                    buf[data..data + kv].copy_from_slice(it.bytes.bytes(map, 0, kv));
                    data += kv;
                }
                Items::Raw(_) => unreachable!("write_range of a raw node"),
                Items::Branch(v) => {
                    let it = &v[i];
                    put_u32(buf, e, pos);
                    put_u32(buf, e + 4, it.klen);
                    put_u64(buf, e + 8, it.pgid);
                    let k = it.key(map);
                    buf[data..data + k.len()].copy_from_slice(k);
                    data += k.len();
                }
            }
        }
    }

    /// Serialized size of elements `range`.
    pub fn range_size(&self, range: std::ops::Range<usize>) -> usize {
        if range.start == 0 && range.end == self.len() {
            return self.size();
        }
        PAGE_HEADER_SIZE + range.map(|i| self.item_size(i)).sum::<usize>()
    }

    /// Splits off the upper half of the elements into a new node (for eager splits of large
    /// in-memory nodes). Returns the new node; `self` keeps the lower half.
    pub fn split_half(&mut self) -> Node {
        let at = self.len() / 2;
        let prefixes = self.prefixes.split_off(at);
        let items = match &mut self.items {
            Items::Leaf(v) => Items::Leaf(v.split_off(at)),
            Items::Branch(v) => Items::Branch(v.split_off(at)),
            Items::Raw(_) => unreachable!("split_half of a raw node"),
        };
        let size = items_size(&items);
        self.size -= size - PAGE_HEADER_SIZE;
        Node { pgid: 0, overflow: 0, items, prefixes, size }
    }
}

/// Serialized size of a node holding `items`: the header and every element.
fn items_size(items: &Items) -> usize {
    PAGE_HEADER_SIZE
        + match items {
            Items::Leaf(v) => v.iter().map(LeafItem::size).sum::<usize>(),
            Items::Branch(v) => v.iter().map(BranchItem::size).sum::<usize>(),
            Items::Raw(_) => unreachable!("a raw node keeps its size"),
        }
}

/// Spare element vectors of spent nodes, kept from one write transaction to the next.
///
/// A write transaction materializes a node per page it touches and drops them all when it
/// ends; allocating those vectors afresh each time makes glibc's allocator consolidate the small
/// chunks freed in between on every large request (measured: a quarter of the CPU time of
/// 1,000-put transactions). Reusing the vectors takes the allocator out of the loop.
///
/// Invariant: every spare vector is empty; at most `MAX_SPARE` of each kind are kept, none with
/// room for more than `MAX_CAPACITY` elements, so the pool holds a few MiB at most.
#[derive(Debug, Default)]
pub(crate) struct NodePool {
    leaves: Vec<Vec<LeafItem>>,
    branches: Vec<Vec<BranchItem>>,
    /// Prefix indexes of leaves and of branches, kept apart: branches hold several times as
    /// many elements, and a leaf's index handed to a branch would have to grow.
    leaf_prefixes: Vec<Vec<u64>>,
    branch_prefixes: Vec<Vec<u64>>,
}

impl NodePool {
    /// Spare vectors kept per kind.
    const MAX_SPARE: usize = 4096;
    /// Largest capacity (elements) worth keeping.
    const MAX_CAPACITY: usize = 512;

    /// An empty vector with room for `n` elements. Capacities are rounded up to a power of two,
    /// so that a spare vector usually fits the next node without growing.
    fn take<T>(spare: &mut Vec<Vec<T>>, n: usize) -> Vec<T> {
        let mut v = spare.pop().unwrap_or_default();
        if v.capacity() < n {
            v.reserve_exact(n.next_power_of_two());
        }
        v
    }

    /// Keeps `v` (emptied) for reuse, if there is room and it is not too large.
    fn keep<T>(spare: &mut Vec<Vec<T>>, mut v: Vec<T>) {
        if v.capacity() == 0 || v.capacity() > Self::MAX_CAPACITY || spare.len() >= Self::MAX_SPARE
        {
            return;
        }
        v.clear();
        spare.push(v);
    }

    fn leaves(&mut self, n: usize) -> Vec<LeafItem> {
        Self::take(&mut self.leaves, n)
    }

    /// An empty branch element vector with room for `n` elements.
    pub(crate) fn branches(&mut self, n: usize) -> Vec<BranchItem> {
        Self::take(&mut self.branches, n)
    }

    /// Takes an element vector back.
    pub(crate) fn recycle_items(&mut self, items: Items) {
        match items {
            Items::Leaf(v) => Self::keep(&mut self.leaves, v),
            Items::Branch(v) => Self::keep(&mut self.branches, v),
            Items::Raw(_) => {}
        }
    }

    fn prefixes(&mut self, leaf: bool, n: usize) -> Vec<u64> {
        let spare = if leaf { &mut self.leaf_prefixes } else { &mut self.branch_prefixes };
        Self::take(spare, n)
    }

    /// Takes a spent node's vectors back.
    pub(crate) fn recycle(&mut self, node: Node) {
        let spare =
            if node.is_leaf() { &mut self.leaf_prefixes } else { &mut self.branch_prefixes };
        Self::keep(spare, node.prefixes);
        self.recycle_items(node.items);
    }
}

/// Reads one value per 64-byte cache line of `items` (see `Node::warm`).
fn touch_lines<T>(items: &[T], word: impl Fn(&T) -> u64) -> u64 {
    let step = (64 / std::mem::size_of::<T>().max(1)).max(1);
    items.iter().step_by(step).fold(0, |acc, it| acc ^ word(it))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(n: usize, vlen: usize, arena: &mut Vec<u8>) -> Node {
        let v = (0..n)
            .map(|i| LeafItem::new(0, format!("k{i:04}").as_bytes(), &vec![7; vlen], arena))
            .collect();
        Node::new(0, 0, Items::Leaf(v))
    }

    #[test]
    fn write_then_parse_round_trips() {
        let mut arena = Vec::new();
        let n = leaf(5, 10, &mut arena);
        let owned = Src::new(&[], &arena);
        let mut buf = vec![0u8; 4096];
        n.write_range(0..5, &mut buf, 9, 0, owned);
        let p = NodePage::parse(&buf, 9, false).unwrap();
        assert_eq!(p.count(), 5);
        let (f, k, v) = p.leaf(3).unwrap();
        assert_eq!((f, k, v), (0, &b"k0003"[..], &[7u8; 10][..]));
        let mut copied = Vec::new();
        let back = Node::from_page(&p, None, &mut copied).unwrap();
        assert_eq!(back.items, n.items, "the same bytes appended in the same order");
        assert_eq!(copied, arena);
        assert_eq!(back.pgid, 9);
        // pos is relative to the element: element 0's key starts right after the table.
        assert_eq!(crate::page::u32_at(&buf, 16 + 4), (5 * 16) as u32);
        // Materialized in place (the page at offset 0 of the "mapping"): same keys and values,
        // nothing copied, and written back byte for byte.
        let mapped = Node::from_page(&p, Some(Stored::Mapped(0)), &mut copied).unwrap();
        let map = Src::map(&buf);
        let Items::Leaf(items) = &mapped.items else { panic!("leaf") };
        assert!(items.iter().all(|it| matches!(it.bytes, Stored::Mapped(_))));
        for (i, it) in items.iter().enumerate() {
            assert_eq!(mapped.key(i, map), n.key(i, owned));
            assert_eq!(it.value(map), &[7u8; 10][..]);
        }
        let mut again = vec![0u8; 4096];
        mapped.write_range(0..5, &mut again, 9, 0, map);
        assert_eq!(again, buf);
        // Changing a mapped element's value moves its key and value to the arena, twice over.
        let mut it = items[2].clone();
        let mut arena = Vec::new();
        it.set(&buf, &mut arena, 0, b"new");
        assert!(matches!(it.bytes, Stored::Owned(0)));
        it.set(&buf, &mut arena, 0, b"newer");
        let s = Src::new(&buf, &arena);
        assert_eq!((it.key(s), it.value(s)), (&b"k0002"[..], &b"newer"[..]));
        // A branch item shares its element's key, mapped or owned.
        let bi = mapped.branch_item(1, 40, None);
        assert!(matches!(bi.key, Stored::Mapped(_)));
        assert_eq!(bi.key(map), b"k0001");
        let owned_leaf = Node::new(0, 0, Items::Leaf(vec![it]));
        assert_eq!(owned_leaf.branch_item(0, 41, None).key(s), b"k0002");
    }

    #[test]
    fn chunks_respect_threshold_and_min_keys() {
        let a = &mut Vec::new();
        let n = leaf(100, 100, a);
        let chunks = n.chunks(4096, 2048);
        assert!(chunks.len() > 1);
        let mut next = 0;
        for c in &chunks {
            assert_eq!(c.start, next);
            next = c.end;
            assert!(c.len() >= MIN_KEYS_PER_PAGE);
            assert!(n.range_size(c.clone()) <= 2048 + 200, "chunk {c:?} too big");
        }
        assert_eq!(next, 100);
        // Two huge values still go one per chunk at most two: min keys rule keeps >= 2.
        let big = leaf(3, 10_000, a);
        assert_eq!(big.chunks(4096, 2048), std::iter::once(0..3).collect::<Vec<_>>());
        assert_eq!(leaf(3, 10, a).chunks(4096, 2048).len(), 1);
    }

    #[test]
    fn prefix_order_agrees_with_key_order() {
        let keys: [&[u8]; 9] = [
            b"",
            b"\0",
            b"a",
            b"a\0",
            b"a\0\0\0\0\0\0\0\0",
            b"a\x01",
            b"abcdefgh",
            b"abcdefghi",
            b"b",
        ];
        for a in keys {
            for b in keys {
                let by_prefix = key_prefix(a).cmp(&key_prefix(b)).then_with(|| a.cmp(b));
                assert_eq!(by_prefix, a.cmp(b), "{a:?} vs {b:?}");
                assert_eq!(crate::page::cmp_keys(a, b), a.cmp(b), "{a:?} vs {b:?}");
            }
        }
    }

    #[test]
    fn lookup_helpers() {
        let mut arena = Vec::new();
        let n = leaf(10, 1, &mut arena);
        let mut m = leaf(10, 1, &mut arena);
        let s = Src::new(&[], &arena);
        assert_eq!(n.lower_bound(b"k0003", s), 3);
        assert_eq!(n.lower_bound(b"k00035", s), 4);
        assert_eq!(n.search(b"k0003", s), Ok(3));
        assert_eq!(n.search(b"k00035", s), Err(4));
        assert_eq!(n.child_index(b"a", s), 0);
        assert_eq!(n.child_index(b"k00035", s), 3);
        let upper = m.split_half();
        assert_eq!((m.len(), upper.len()), (5, 5));
        assert_eq!(upper.key(0, s), b"k0005");
    }

    /// The prefix index agrees with the elements' keys.
    fn assert_index(n: &Node, s: Src<'_>) {
        let want: Vec<u64> = (0..n.len()).map(|i| key_prefix(n.key(i, s))).collect();
        assert_eq!(n.prefixes, want);
    }

    #[test]
    fn structural_changes_keep_the_prefix_index_in_step() {
        // Keys sharing 8-byte prefixes ("samepfx-" + suffix) and short ones.
        let key = |i: u32| -> Vec<u8> {
            if i.is_multiple_of(3) {
                format!("samepfx-{i:05}").into_bytes()
            } else {
                format!("{i}").into_bytes()
            }
        };
        let mut n = Node::empty_leaf();
        let mut model: Vec<Vec<u8>> = Vec::new();
        let mut arena = Vec::new();
        for i in 0..200u32 {
            let k = key(i * 7919 % 1000);
            match n.search(&k, Src::new(&[], &arena)) {
                Ok(_) => {}
                Err(at) => {
                    n.insert_leaf(at, LeafItem::new(0, &k, b"v", &mut arena));
                    let m = model.partition_point(|x| x < &k);
                    model.insert(m, k.clone());
                }
            }
            if i % 5 == 4 {
                let at = n.search(&k, Src::new(&[], &arena)).unwrap();
                n.remove(at);
                model.retain(|x| x != &k);
            }
        }
        let a = &mut arena;
        let mut b = Node::branch(vec![BranchItem::new(b"a", 3, None, a)]);
        b.insert_branch(1, BranchItem::new(b"samepfx-9", 4, None, a));
        let items = vec![BranchItem::new(b"b", 5, None, a), BranchItem::new(b"c", 6, None, a)];
        b.set_branch_items(items);
        let s = Src::new(&[], &arena);
        assert_index(&n, s);
        let keys: Vec<Vec<u8>> = (0..n.len()).map(|i| n.key(i, s).to_vec()).collect();
        assert_eq!(keys, model);
        for (i, k) in model.iter().enumerate() {
            assert_eq!(n.search(k, s), Ok(i));
        }
        let upper = n.split_half();
        assert_index(&n, s);
        assert_index(&upper, s);
        let lower_len = n.len();
        assert_eq!(n.append(upper).map(|(p, _)| p), Some(0));
        assert_index(&n, s);
        assert_eq!(n.search(&model[lower_len], s), Ok(lower_len));
        assert!(n.append(Node::branch(Vec::new())).is_none(), "a leaf takes no branch items");
        assert_index(&b, s);
        assert_eq!(b.child_index(b"bz", s), 0);
        assert_eq!(b.child_index(b"c", s), 1);
    }

    #[test]
    fn pool_hands_back_spent_vectors_empty_and_bounded() {
        let mut pool = NodePool::default();
        let a = &mut Vec::new();
        pool.recycle(leaf(20, 3, a));
        assert_eq!(pool.leaves.len(), 1);
        assert_eq!(pool.leaf_prefixes.len(), 1);
        let v = pool.leaves(10);
        assert!(v.is_empty() && v.capacity() >= 20, "the spent vector, emptied");
        assert!(pool.leaves(40).capacity() >= 64, "a fresh one, rounded up");
        pool.recycle(leaf(NodePool::MAX_CAPACITY + 1, 0, a));
        assert!(pool.leaves.is_empty(), "too large to keep");
        for _ in 0..NodePool::MAX_SPARE + 5 {
            pool.recycle_items(Items::Branch(Vec::with_capacity(4)));
        }
        assert_eq!(pool.branches.len(), NodePool::MAX_SPARE);
    }
}
