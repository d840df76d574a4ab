//! In-memory nodes: the writable form of branch and leaf pages inside a write transaction.
//!
//! A write transaction materializes a node for every page on the path to a change (copy on
//! write); untouched subtrees stay on their pages. At commit, nodes are rebalanced (an underfull
//! node is merged into a sibling), then spilled: split into chunks that fill pages up to the fill
//! percent, each chunk written to freshly allocated pages, and the old pages freed.
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

/// A key/value (or nested bucket) element of a leaf.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeafItem {
    pub flags: u32,
    /// `key_prefix(&key)`; keys never change after construction.
    pub prefix: u64,
    pub key: Vec<u8>,
    pub value: Vec<u8>,
}

impl LeafItem {
    pub fn new(flags: u32, key: Vec<u8>, value: Vec<u8>) -> LeafItem {
        LeafItem { flags, prefix: key_prefix(&key), key, value }
    }
}

/// A child reference of a branch. `child` is set when the child is materialized in the arena;
/// then `pgid` is its original page (0 when new) and `key` may be stale until spill.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BranchItem {
    /// `key_prefix(&key)`.
    pub prefix: u64,
    pub key: Vec<u8>,
    pub pgid: Pgid,
    pub child: Option<NodeId>,
}

impl BranchItem {
    pub fn new(key: Vec<u8>, pgid: Pgid, child: Option<NodeId>) -> BranchItem {
        BranchItem { prefix: key_prefix(&key), key, pgid, child }
    }
}

/// The elements of a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Items {
    Leaf(Vec<LeafItem>),
    Branch(Vec<BranchItem>),
}

/// An in-memory node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// The page this node was read from (0 when created in this transaction).
    pub pgid: Pgid,
    /// Overflow of that page (how many extra pages to free with it).
    pub overflow: u32,
    pub items: Items,
}

/// Minimum elements per page when splitting.
pub const MIN_KEYS_PER_PAGE: usize = 2;

impl Node {
    /// An empty leaf.
    pub fn empty_leaf() -> Node {
        Node { pgid: 0, overflow: 0, items: Items::Leaf(Vec::new()) }
    }

    /// Materializes a page (every element bounds-checked).
    pub fn from_page(p: &NodePage<'_>) -> Result<Node, Corruption> {
        let items = if p.is_leaf() {
            let mut v = Vec::with_capacity(p.count());
            for i in 0..p.count() {
                let (flags, k, val) = p.leaf(i)?;
                v.push(LeafItem::new(flags, k.to_vec(), val.to_vec()));
            }
            Items::Leaf(v)
        } else {
            let mut v = Vec::with_capacity(p.count());
            for i in 0..p.count() {
                let (k, pgid) = p.branch(i)?;
                v.push(BranchItem::new(k.to_vec(), pgid, None));
            }
            Items::Branch(v)
        };
        let pgid = if p.inline { 0 } else { p.pgid };
        Ok(Node { pgid, overflow: if p.inline { 0 } else { p.header.overflow }, items })
    }

    /// Whether this is a leaf.
    pub fn is_leaf(&self) -> bool {
        matches!(self.items, Items::Leaf(_))
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match &self.items {
            Items::Leaf(v) => v.len(),
            Items::Branch(v) => v.len(),
        }
    }

    /// Whether the node has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Key of element `i`.
    pub fn key(&self, i: usize) -> &[u8] {
        match &self.items {
            Items::Leaf(v) => &v[i].key,
            Items::Branch(v) => &v[i].key,
        }
    }

    /// Binary search for `key`: `Ok(i)` when element `i` holds it, else `Err(i)` with `i` the
    /// first index whose key is greater. Compares cached prefixes first, so the keys' bytes are
    /// read only when prefixes tie.
    pub fn search(&self, key: &[u8]) -> Result<usize, usize> {
        let p = key_prefix(key);
        let cmp = |ip: u64, ik: &[u8]| ip.cmp(&p).then_with(|| ik.cmp(key));
        match &self.items {
            Items::Leaf(v) => v.binary_search_by(|it| cmp(it.prefix, &it.key)),
            Items::Branch(v) => v.binary_search_by(|it| cmp(it.prefix, &it.key)),
        }
    }

    /// First index whose key is >= `key`.
    pub fn lower_bound(&self, key: &[u8]) -> usize {
        self.search(key).unwrap_or_else(|i| i)
    }

    /// For a branch: index of the child whose range holds `key`.
    pub fn child_index(&self, key: &[u8]) -> usize {
        match self.search(key) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        }
    }

    /// Serialized size of one element.
    pub fn item_size(&self, i: usize) -> usize {
        ELEMENT_SIZE
            + match &self.items {
                Items::Leaf(v) => v[i].key.len() + v[i].value.len(),
                Items::Branch(v) => v[i].key.len(),
            }
    }

    /// Serialized size of the whole node.
    pub fn size(&self) -> usize {
        PAGE_HEADER_SIZE + (0..self.len()).map(|i| self.item_size(i)).sum::<usize>()
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
                    put_u32(buf, e, it.flags);
                    put_u32(buf, e + 4, pos);
                    put_u32(buf, e + 8, it.key.len() as u32);
                    put_u32(buf, e + 12, it.value.len() as u32);
                    buf[data..data + it.key.len()].copy_from_slice(&it.key);
                    data += it.key.len();
                    buf[data..data + it.value.len()].copy_from_slice(&it.value);
                    data += it.value.len();
                }
                Items::Branch(v) => {
                    let it = &v[i];
                    put_u32(buf, e, pos);
                    put_u32(buf, e + 4, it.key.len() as u32);
                    put_u64(buf, e + 8, it.pgid);
                    buf[data..data + it.key.len()].copy_from_slice(&it.key);
                    data += it.key.len();
                }
            }
        }
    }

    /// Serialized size of elements `range`.
    pub fn range_size(&self, range: std::ops::Range<usize>) -> usize {
        PAGE_HEADER_SIZE + range.map(|i| self.item_size(i)).sum::<usize>()
    }

    /// Splits off the upper half of the elements into a new node (for eager splits of large
    /// in-memory nodes). Returns the new node; `self` keeps the lower half.
    pub fn split_half(&mut self) -> Node {
        let items = match &mut self.items {
            Items::Leaf(v) => {
                let at = v.len() / 2;
                Items::Leaf(v.split_off(at))
            }
            Items::Branch(v) => {
                let at = v.len() / 2;
                Items::Branch(v.split_off(at))
            }
        };
        Node { pgid: 0, overflow: 0, items }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(n: usize, vlen: usize) -> Node {
        let v = (0..n)
            .map(|i| LeafItem::new(0, format!("k{i:04}").into_bytes(), vec![7; vlen]))
            .collect();
        Node { pgid: 0, overflow: 0, items: Items::Leaf(v) }
    }

    #[test]
    fn write_then_parse_round_trips() {
        let n = leaf(5, 10);
        let mut buf = vec![0u8; 4096];
        n.write_range(0..5, &mut buf, 9, 0);
        let p = NodePage::parse(&buf, 9, false).unwrap();
        assert_eq!(p.count(), 5);
        let (f, k, v) = p.leaf(3).unwrap();
        assert_eq!((f, k, v), (0, &b"k0003"[..], &[7u8; 10][..]));
        let back = Node::from_page(&p).unwrap();
        assert_eq!(back.items, n.items);
        assert_eq!(back.pgid, 9);
        // pos is relative to the element: element 0's key starts right after the table.
        assert_eq!(crate::page::u32_at(&buf, 16 + 4), (5 * 16) as u32);
    }

    #[test]
    fn chunks_respect_threshold_and_min_keys() {
        let n = leaf(100, 100);
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
        let big = leaf(3, 10_000);
        assert_eq!(big.chunks(4096, 2048), std::iter::once(0..3).collect::<Vec<_>>());
        assert_eq!(leaf(3, 10).chunks(4096, 2048).len(), 1);
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
        let n = leaf(10, 1);
        assert_eq!(n.lower_bound(b"k0003"), 3);
        assert_eq!(n.lower_bound(b"k00035"), 4);
        assert_eq!(n.child_index(b"a"), 0);
        assert_eq!(n.child_index(b"k00035"), 3);
        let mut m = leaf(10, 1);
        let upper = m.split_half();
        assert_eq!((m.len(), upper.len()), (5, 5));
        assert_eq!(upper.key(0), b"k0005");
    }
}
