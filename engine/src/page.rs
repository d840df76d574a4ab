//! Pages: the unit of the file, and bounds-checked views of branch and leaf pages.
//!
//! Page header (16 bytes, little-endian), at the start of every page:
//! ```text
//! offset  size  field
//!      0     8  id        page id (the page's offset / page size)
//!      8     2  flags     0x01 branch, 0x02 leaf, 0x04 meta, 0x10 freelist
//!     10     2  count     number of elements (freelist: ids, 0xFFFF = overflow, see freelist)
//!     12     4  overflow  number of extra pages that follow this one (page spans overflow+1)
//! ```
//! Branch element (16 bytes; `count` of them right after the header):
//! ```text
//!      0     4  pos    offset of the key, relative to the start of this element
//!      4     4  ksize  key length
//!      8     8  pgid   child page id; the key is the child's first key
//! ```
//! Leaf element (16 bytes):
//! ```text
//!      0     4  flags  0x01 = the value is a nested bucket (see bucket.rs)
//!      4     4  pos    offset of the key, relative to the start of this element
//!      8     4  ksize  key length
//!     12     4  vsize  value length; the value follows the key
//! ```
//! Every offset read from a page is checked against the page's bytes before use.

use std::cmp::Ordering;

use crate::error::{Corruption, PageProblem};

/// A page id.
pub type Pgid = u64;

/// Size of the page header.
pub const PAGE_HEADER_SIZE: usize = 16;
/// Size of a branch or leaf element.
pub const ELEMENT_SIZE: usize = 16;
/// Page flag: branch page.
pub const BRANCH_PAGE: u16 = 0x01;
/// Page flag: leaf page.
pub const LEAF_PAGE: u16 = 0x02;
/// Page flag: meta page.
pub const META_PAGE: u16 = 0x04;
/// Page flag: freelist page.
pub const FREELIST_PAGE: u16 = 0x10;
/// Leaf element flag: the value is a nested bucket.
pub const BUCKET_LEAF_FLAG: u32 = 0x01;

/// Little-endian readers over a slice known to be long enough.
pub(crate) fn u16_at(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([b[off], b[off + 1]])
}
pub(crate) fn u32_at(b: &[u8], off: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[off..off + 4]);
    u32::from_le_bytes(a)
}
pub(crate) fn u64_at(b: &[u8], off: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[off..off + 8]);
    u64::from_le_bytes(a)
}
pub(crate) fn put_u16(b: &mut [u8], off: usize, v: u16) {
    b[off..off + 2].copy_from_slice(&v.to_le_bytes());
}
pub(crate) fn put_u32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_le_bytes());
}
pub(crate) fn put_u64(b: &mut [u8], off: usize, v: u64) {
    b[off..off + 8].copy_from_slice(&v.to_le_bytes());
}

/// The 16-byte page header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageHeader {
    pub id: Pgid,
    pub flags: u16,
    pub count: u16,
    pub overflow: u32,
}

impl PageHeader {
    /// Decodes a header; `None` when `b` is shorter than 16 bytes.
    pub fn decode(b: &[u8]) -> Option<PageHeader> {
        if b.len() < PAGE_HEADER_SIZE {
            return None;
        }
        Some(PageHeader {
            id: u64_at(b, 0),
            flags: u16_at(b, 8),
            count: u16_at(b, 10),
            overflow: u32_at(b, 12),
        })
    }

    /// Encodes into the first 16 bytes of `b`.
    pub fn encode(&self, b: &mut [u8]) {
        put_u64(b, 0, self.id);
        put_u16(b, 8, self.flags);
        put_u16(b, 10, self.count);
        put_u32(b, 12, self.overflow);
        let back = PageHeader::decode(b);
        assert!(
            back == Some(*self),
            "page header encoding does not round-trip: {self:?} came back {back:?}"
        );
    }
}

/// Returns the bytes of page `pgid` (with its overflow pages) inside `map`, checking that the
/// page lies below `limit_pages` and inside the mapping, and that the header carries its id.
pub fn page_bytes(
    map: &[u8],
    page_size: usize,
    pgid: Pgid,
    limit_pages: Pgid,
) -> Result<&[u8], Corruption> {
    Ok(page_with_header(map, page_size, pgid, limit_pages)?.0)
}

/// Like [`page_bytes`], also returning the decoded header.
pub fn page_with_header(
    map: &[u8],
    page_size: usize,
    pgid: Pgid,
    limit_pages: Pgid,
) -> Result<(&[u8], PageHeader), Corruption> {
    let limit = (limit_pages.saturating_mul(page_size as u64)).min(map.len() as u64);
    let start = pgid.saturating_mul(page_size as u64);
    let head_end = start.saturating_add(PAGE_HEADER_SIZE as u64);
    if pgid >= limit_pages || head_end > limit {
        return Err(Corruption::page(pgid, PageProblem::OutOfBounds { end: head_end, limit }));
    }
    let start = start as usize;
    let header = PageHeader::decode(&map[start..]).expect("header bounds checked above");
    if header.id != pgid {
        return Err(Corruption::page(pgid, PageProblem::IdMismatch { found: header.id }));
    }
    let span = (u64::from(header.overflow) + 1).saturating_mul(page_size as u64);
    let end = (start as u64).saturating_add(span);
    if end > limit {
        return Err(Corruption::page(pgid, PageProblem::OutOfBounds { end, limit }));
    }
    Ok((&map[start..end as usize], header))
}

/// A bounds-checked view of a branch or leaf page (on disk or inline in a bucket value).
#[derive(Clone, Copy, Debug)]
pub struct NodePage<'a> {
    /// Page id (0 for an inline page), used in error messages.
    pub pgid: Pgid,
    pub inline: bool,
    pub header: PageHeader,
    bytes: &'a [u8],
}

impl<'a> NodePage<'a> {
    /// Parses a branch or leaf page: the flags must be branch or leaf and the element table must
    /// fit. Individual elements are checked when read.
    pub fn parse(bytes: &'a [u8], pgid: Pgid, inline: bool) -> Result<NodePage<'a>, Corruption> {
        let header = PageHeader::decode(bytes).ok_or(Corruption {
            page: pgid,
            inline,
            problem: PageProblem::OutOfBounds {
                end: PAGE_HEADER_SIZE as u64,
                limit: bytes.len() as u64,
            },
        })?;
        NodePage::with_header(bytes, pgid, inline, header)
    }

    /// Like [`NodePage::parse`] for bytes whose header the caller already decoded.
    pub fn with_header(
        bytes: &'a [u8],
        pgid: Pgid,
        inline: bool,
        header: PageHeader,
    ) -> Result<NodePage<'a>, Corruption> {
        let err = |problem| Corruption { page: pgid, inline, problem };
        if header.flags != BRANCH_PAGE && header.flags != LEAF_PAGE {
            return Err(err(PageProblem::UnexpectedFlags {
                flags: header.flags,
                expected: "branch or leaf",
            }));
        }
        let table = PAGE_HEADER_SIZE + ELEMENT_SIZE * usize::from(header.count);
        if table > bytes.len() {
            return Err(err(PageProblem::ElementTableTooLarge { count: header.count }));
        }
        if header.flags == BRANCH_PAGE && header.count == 0 {
            return Err(err(PageProblem::EmptyBranch));
        }
        Ok(NodePage { pgid, inline, header, bytes })
    }

    /// The page's bytes (with its overflow pages).
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The serialized size of the page's elements (header, element table, keys and values)
    /// when they are laid out as the engine and bbolt write them: every element's key (and
    /// value) right after the previous element's, the first right after the element table, all
    /// inside the page. `None` for any other layout (or elements out of bounds). Such a page is
    /// the same bytes as a node materialized from it and written again (up to its header id
    /// and the zeros past this size).
    pub fn canonical_size(&self) -> Option<usize> {
        let b = self.bytes;
        let leaf = self.is_leaf();
        let mut data = PAGE_HEADER_SIZE + self.count() * ELEMENT_SIZE;
        for i in 0..self.count() {
            let e = PAGE_HEADER_SIZE + i * ELEMENT_SIZE;
            let (pos, len) = if leaf {
                (u32_at(b, e + 4), u64::from(u32_at(b, e + 8)) + u64::from(u32_at(b, e + 12)))
            } else {
                (u32_at(b, e), u64::from(u32_at(b, e + 4)))
            };
            if e + pos as usize != data {
                return None;
            }
            data = usize::try_from(len).ok()?.checked_add(data)?;
        }
        (data <= b.len()).then_some(data)
    }

    /// Whether this is a leaf page.
    pub fn is_leaf(&self) -> bool {
        self.header.flags == LEAF_PAGE
    }

    /// Number of elements.
    pub fn count(&self) -> usize {
        usize::from(self.header.count)
    }

    fn corrupt(&self, problem: PageProblem) -> Corruption {
        Corruption { page: self.pgid, inline: self.inline, problem }
    }

    /// The start (from the page start) of `len` bytes at `pos` relative to element `index`,
    /// checked to lie inside the page.
    fn span_at(&self, index: usize, pos: u32, len: u64) -> Result<usize, Corruption> {
        let elem = (PAGE_HEADER_SIZE + index * ELEMENT_SIZE) as u64;
        let start = elem + u64::from(pos);
        let end = start.saturating_add(len);
        if end > self.bytes.len() as u64 {
            return Err(self.corrupt(PageProblem::ElementOutOfBounds { index }));
        }
        Ok(start as usize)
    }

    /// A slice of `len` bytes at `pos` relative to element `index`, bounds-checked.
    fn slice_at(&self, index: usize, pos: u32, len: u64) -> Result<&'a [u8], Corruption> {
        let start = self.span_at(index, pos, len)?;
        Ok(&self.bytes[start..start + len as usize])
    }

    /// Leaf element `index` as (flags, offset of its key from the page start, key, value
    /// length), bounds-checked; the value follows the key.
    pub fn leaf_span(&self, index: usize) -> Result<(u32, usize, &'a [u8], usize), Corruption> {
        assert!(index < self.count(), "leaf index {index} >= count {}", self.count());
        let e = PAGE_HEADER_SIZE + index * ELEMENT_SIZE;
        let b = self.bytes;
        let (flags, pos, ksize, vsize) =
            (u32_at(b, e), u32_at(b, e + 4), u32_at(b, e + 8), u32_at(b, e + 12));
        let start = self.span_at(index, pos, u64::from(ksize) + u64::from(vsize))?;
        Ok((flags, start, &b[start..start + ksize as usize], vsize as usize))
    }

    /// Branch element `index` as (offset of its key from the page start, key, child pgid),
    /// bounds-checked.
    pub fn branch_span(&self, index: usize) -> Result<(usize, &'a [u8], Pgid), Corruption> {
        assert!(index < self.count(), "branch index {index} >= count {}", self.count());
        let e = PAGE_HEADER_SIZE + index * ELEMENT_SIZE;
        let b = self.bytes;
        let (pos, ksize, child) = (u32_at(b, e), u32_at(b, e + 4), u64_at(b, e + 8));
        let start = self.span_at(index, pos, u64::from(ksize))?;
        Ok((start, &b[start..start + ksize as usize], child))
    }

    /// Leaf element `index`: (flags, key, value).
    pub fn leaf(&self, index: usize) -> Result<(u32, &'a [u8], &'a [u8]), Corruption> {
        assert!(index < self.count(), "leaf index {index} >= count {}", self.count());
        let e = PAGE_HEADER_SIZE + index * ELEMENT_SIZE;
        let b = self.bytes;
        let (flags, pos, ksize, vsize) =
            (u32_at(b, e), u32_at(b, e + 4), u32_at(b, e + 8), u32_at(b, e + 12));
        let kv = self.slice_at(index, pos, u64::from(ksize) + u64::from(vsize))?;
        let (k, v) = kv.split_at(ksize as usize);
        Ok((flags, k, v))
    }

    /// Leaf element `index`'s key only.
    pub fn leaf_key(&self, index: usize) -> Result<&'a [u8], Corruption> {
        assert!(index < self.count(), "leaf index {index} >= count {}", self.count());
        let e = PAGE_HEADER_SIZE + index * ELEMENT_SIZE;
        let (pos, ksize) = (u32_at(self.bytes, e + 4), u32_at(self.bytes, e + 8));
        self.slice_at(index, pos, u64::from(ksize))
    }

    /// Branch element `index`: (key, child pgid).
    pub fn branch(&self, index: usize) -> Result<(&'a [u8], Pgid), Corruption> {
        assert!(index < self.count(), "branch index {index} >= count {}", self.count());
        let e = PAGE_HEADER_SIZE + index * ELEMENT_SIZE;
        let b = self.bytes;
        let (pos, ksize, child) = (u32_at(b, e), u32_at(b, e + 4), u64_at(b, e + 8));
        let k = self.slice_at(index, pos, u64::from(ksize))?;
        Ok((k, child))
    }

    /// Key of element `index` (branch or leaf).
    pub fn key(&self, index: usize) -> Result<&'a [u8], Corruption> {
        if self.is_leaf() {
            self.leaf_key(index)
        } else {
            Ok(self.branch(index)?.0)
        }
    }

    /// Touches every cache line the search may read: the element table, then the keys (and
    /// values) up to the end of the last element's data, at most [`WARM_DATA_MAX`] bytes of
    /// them (a page with an overflowing value would otherwise be read to its end). The loads
    /// are independent, so their cache misses overlap instead of coming one after another as
    /// the binary search probes elements and then their keys. Reads stay inside the page; a
    /// corrupt last element only changes how much is touched (the search checks every element
    /// it reads).
    fn warm(&self, leaf: bool) {
        let count = self.count();
        let table_end = (PAGE_HEADER_SIZE + count * ELEMENT_SIZE).min(self.bytes.len());
        let mut warm = 0u8;
        for at in (PAGE_HEADER_SIZE..table_end).step_by(64) {
            warm ^= self.bytes[at];
        }
        if count > 0 && table_end == PAGE_HEADER_SIZE + count * ELEMENT_SIZE {
            let e = PAGE_HEADER_SIZE + (count - 1) * ELEMENT_SIZE;
            let b = self.bytes;
            let (pos, len) = if leaf {
                (u32_at(b, e + 4), u64::from(u32_at(b, e + 8)) + u64::from(u32_at(b, e + 12)))
            } else {
                (u32_at(b, e), u64::from(u32_at(b, e + 4)))
            };
            let limit = (table_end + WARM_DATA_MAX).min(b.len());
            let data_end = (e as u64 + u64::from(pos) + len).min(limit as u64) as usize;
            for at in (table_end..data_end).step_by(64) {
                warm ^= b[at];
            }
        }
        std::hint::black_box(warm);
    }

    /// Binary search for `key`: `Ok(i)` when element `i` holds it, else `Err(i)` with `i` the
    /// first index whose key is greater (count if none).
    pub fn search(&self, key: &[u8]) -> Result<Result<usize, usize>, Corruption> {
        let leaf = self.is_leaf();
        self.warm(leaf);
        let (mut lo, mut hi) = (0usize, self.count());
        while lo < hi {
            let mid = (lo + hi) / 2;
            let k = if leaf { self.leaf_key(mid)? } else { self.branch(mid)?.0 };
            match cmp_keys(k, key) {
                Ordering::Less => lo = mid + 1,
                Ordering::Greater => hi = mid,
                Ordering::Equal => return Ok(Ok(mid)),
            }
        }
        Ok(Err(lo))
    }

    /// Binary search: the first index whose key is >= `key` (count if none).
    pub fn lower_bound(&self, key: &[u8]) -> Result<usize, Corruption> {
        Ok(self.search(key)?.unwrap_or_else(|i| i))
    }

    /// For a branch: the index of the child whose range holds `key` (the last element whose key
    /// is <= `key`, or 0).
    pub fn child_index(&self, key: &[u8]) -> Result<usize, Corruption> {
        Ok(match self.search(key)? {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        })
    }
}

/// How many bytes of keys and values past the element table a search touches ahead of time
/// (see `NodePage::warm`): a default-sized page's worth. Random gets on a 1M-key database went
/// from about 840k to 1.02M per second when the keys were touched along with the table.
const WARM_DATA_MAX: usize = 4096;

/// Orders keys exactly as slice comparison does, deciding most comparisons on the first eight
/// bytes read as one big-endian word (no call into `memcmp`).
#[inline]
pub fn cmp_keys(a: &[u8], b: &[u8]) -> Ordering {
    if let (Some(x), Some(y)) = (a.first_chunk::<8>(), b.first_chunk::<8>()) {
        let (x, y) = (u64::from_be_bytes(*x), u64::from_be_bytes(*y));
        if x != y {
            return x.cmp(&y);
        }
    }
    a.cmp(b)
}

/// Number of pages needed for `bytes` bytes.
pub fn pages_for(bytes: usize, page_size: usize) -> usize {
    bytes.div_ceil(page_size).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip() {
        let h = PageHeader { id: 7, flags: LEAF_PAGE, count: 3, overflow: 2 };
        let mut b = [0u8; 16];
        h.encode(&mut b);
        assert_eq!(b[0], 7);
        assert_eq!(b[8], 2);
        assert_eq!(b[10], 3);
        assert_eq!(b[12], 2);
        assert_eq!(PageHeader::decode(&b), Some(h));
        assert_eq!(PageHeader::decode(&b[..15]), None);
    }

    #[test]
    fn page_bytes_checks_bounds_and_id() {
        let ps = 64;
        let mut map = vec![0u8; ps * 4];
        PageHeader { id: 2, flags: LEAF_PAGE, count: 0, overflow: 1 }.encode(&mut map[128..]);
        assert_eq!(page_bytes(&map, ps, 2, 4).unwrap().len(), 128);
        // Overflow beyond the limit.
        assert!(matches!(
            page_bytes(&map, ps, 2, 3).unwrap_err().problem,
            PageProblem::OutOfBounds { .. }
        ));
        // Page beyond the mapping.
        assert!(page_bytes(&map, ps, 9, 100).is_err());
        // Id mismatch.
        assert_eq!(
            page_bytes(&map, ps, 1, 4).unwrap_err().problem,
            PageProblem::IdMismatch { found: 0 }
        );
    }

    #[test]
    fn element_out_of_bounds_is_an_error() {
        let mut b = vec![0u8; 64];
        PageHeader { id: 0, flags: LEAF_PAGE, count: 1, overflow: 0 }.encode(&mut b);
        put_u32(&mut b, 16 + 4, 16); // pos
        put_u32(&mut b, 16 + 8, 100); // ksize too large
        let p = NodePage::parse(&b, 5, false).unwrap();
        assert_eq!(p.leaf(0).unwrap_err().problem, PageProblem::ElementOutOfBounds { index: 0 });
        let mut big = b.clone();
        put_u16(&mut big, 10, 9);
        assert!(NodePage::parse(&big, 5, false).is_err());
    }

    /// The search touches the data up to the last element's end before it looks: a last
    /// element that points far outside the page must not make that read go out of bounds.
    #[test]
    fn searching_a_page_whose_last_element_points_outside_it_is_an_error() {
        for (flags, pos_at, size_at) in [(LEAF_PAGE, 4, 8), (BRANCH_PAGE, 0, 4)] {
            let mut b = vec![0u8; 4096];
            PageHeader { id: 0, flags, count: 2, overflow: 0 }.encode(&mut b);
            for (i, key) in [b"a", b"b"].iter().enumerate() {
                let e = 16 + i * 16;
                let at = 48 + i;
                put_u32(&mut b, e + pos_at, (at - e) as u32);
                put_u32(&mut b, e + size_at, 1);
                b[at] = key[0];
            }
            let p = NodePage::parse(&b, 5, false).unwrap();
            assert_eq!(p.search(b"b").unwrap(), Ok(1), "flags {flags:#x}");
            put_u32(&mut b, 32 + pos_at, u32::MAX); // the last element's key is far away
            let p = NodePage::parse(&b, 5, false).unwrap();
            let err = p.search(b"b").unwrap_err();
            assert_eq!(err.problem, PageProblem::ElementOutOfBounds { index: 1 }, "{flags:#x}");
        }
    }
}
