//! Consistency check of a snapshot: bbolt's invariants plus meta, freelist and element sanity.
//!
//! Every page below the high water mark must be exactly one of: a meta page (0 and 1), part of
//! the freelist page, reachable exactly once from the root bucket's tree (including nested
//! buckets), or free. Pages must carry their own id and the right type, keys must be strictly
//! increasing within a page and lie within the range their parent gives them, and every element
//! must lie inside its page. The check never panics on a corrupt file: it reports the problem and
//! skips the subtree.

use std::collections::BTreeSet;
use std::fmt;

use crate::bucket::{BucketHeader, BUCKET_HEADER_SIZE};
use crate::error::{Corruption, MetaError, PageProblem};
use crate::freelist::COUNT_OVERFLOW;
use crate::meta::Meta;
use crate::page::{
    u64_at, NodePage, PageHeader, Pgid, BRANCH_PAGE, BUCKET_LEAF_FLAG, FREELIST_PAGE, LEAF_PAGE,
    PAGE_HEADER_SIZE,
};
use crate::tx::MAX_DEPTH;

/// One consistency violation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckProblem {
    /// The meta in use is invalid.
    Meta(MetaError),
    /// The file is shorter than the high water mark says.
    FileTooShort { file_len: u64, high_water_bytes: u64 },
    /// A page id is listed in the freelist twice.
    AlreadyFreed(Pgid),
    /// A page id (referenced or freed) lies at or above the high water mark.
    OutOfBounds { pgid: Pgid, high_water: Pgid },
    /// A page is referenced more than once.
    MultipleReferences(Pgid),
    /// A reachable page is also listed as free.
    ReachableFreed(Pgid),
    /// A page in the tree is neither a branch nor a leaf (or is a meta page).
    InvalidPageType { pgid: Pgid, flags: u16 },
    /// Keys out of order within a page, or outside the range the parent gives.
    KeyOrder { pgid: Pgid, index: usize },
    /// A page that is neither reachable nor free.
    UnreachableUnfreed(Pgid),
    /// The page's header carries another id.
    PageIdMismatch { pgid: Pgid, found: Pgid },
    /// The freelist page is malformed.
    Freelist { pgid: Pgid, detail: String },
    /// A malformed page or element.
    Corrupt(Corruption),
}

impl fmt::Display for CheckProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckProblem::Meta(e) => write!(f, "meta: {e}"),
            CheckProblem::FileTooShort { file_len, high_water_bytes } => {
                write!(f, "file is {file_len} bytes, high water mark needs {high_water_bytes}")
            }
            CheckProblem::AlreadyFreed(p) => write!(f, "page {p}: already freed"),
            CheckProblem::OutOfBounds { pgid, high_water } => {
                write!(f, "page {pgid}: out of bounds: {high_water}")
            }
            CheckProblem::MultipleReferences(p) => write!(f, "page {p}: multiple references"),
            CheckProblem::ReachableFreed(p) => write!(f, "page {p}: reachable freed"),
            CheckProblem::InvalidPageType { pgid, flags } => {
                write!(f, "page {pgid}: invalid type: {flags:#x}")
            }
            CheckProblem::KeyOrder { pgid, index } => {
                write!(f, "page {pgid}: key {index} out of order")
            }
            CheckProblem::UnreachableUnfreed(p) => write!(f, "page {p}: unreachable unfreed"),
            CheckProblem::PageIdMismatch { pgid, found } => {
                write!(f, "page {pgid}: header id {found} does not match")
            }
            CheckProblem::Freelist { pgid, detail } => write!(f, "freelist page {pgid}: {detail}"),
            CheckProblem::Corrupt(c) => write!(f, "{c}"),
        }
    }
}

/// Checks the snapshot `map` as described by `meta`; returns every problem found.
pub fn check(map: &[u8], page_size: usize, meta: &Meta) -> Vec<CheckProblem> {
    let mut c = Checker {
        map,
        ps: page_size,
        hw: meta.pgid,
        reachable: BTreeSet::new(),
        freed: BTreeSet::new(),
        problems: Vec::new(),
    };
    if let Err(e) = meta.validate() {
        c.problems.push(CheckProblem::Meta(e));
        return c.problems;
    }
    let needed = meta.pgid.saturating_mul(page_size as u64);
    if (map.len() as u64) < needed {
        c.problems.push(CheckProblem::FileTooShort {
            file_len: map.len() as u64,
            high_water_bytes: needed,
        });
    }
    c.reachable.insert(0);
    c.reachable.insert(1);
    c.freelist(meta.freelist);
    c.tree(meta.root.root, None, None, 0);
    for id in 2..c.hw {
        if !c.reachable.contains(&id) && !c.freed.contains(&id) {
            c.problems.push(CheckProblem::UnreachableUnfreed(id));
        }
    }
    c.problems
}

struct Checker<'a> {
    map: &'a [u8],
    ps: usize,
    hw: Pgid,
    reachable: BTreeSet<Pgid>,
    freed: BTreeSet<Pgid>,
    problems: Vec<CheckProblem>,
}

impl<'a> Checker<'a> {
    /// The bytes of page `pgid` with its overflow, or a reported problem.
    fn page(&mut self, pgid: Pgid) -> Option<(PageHeader, &'a [u8])> {
        if pgid >= self.hw {
            self.problems.push(CheckProblem::OutOfBounds { pgid, high_water: self.hw });
            return None;
        }
        let start = pgid.saturating_mul(self.ps as u64);
        let head_end = start.saturating_add(PAGE_HEADER_SIZE as u64);
        let limit = self.map.len() as u64;
        if head_end > limit {
            let p = PageProblem::OutOfBounds { end: head_end, limit };
            self.problems.push(CheckProblem::Corrupt(Corruption::page(pgid, p)));
            return None;
        }
        let h = PageHeader::decode(&self.map[start as usize..]).expect("bounds checked");
        if h.id != pgid {
            self.problems.push(CheckProblem::PageIdMismatch { pgid, found: h.id });
            return None;
        }
        let end = start.saturating_add((u64::from(h.overflow) + 1).saturating_mul(self.ps as u64));
        if end > limit || pgid + u64::from(h.overflow) >= self.hw {
            let last = pgid + u64::from(h.overflow);
            self.problems.push(CheckProblem::OutOfBounds { pgid: last, high_water: self.hw });
            return None;
        }
        Some((h, &self.map[start as usize..end as usize]))
    }

    /// Marks `pgid` and its overflow reachable; false if it was already (then not walked again).
    fn mark(&mut self, pgid: Pgid, overflow: u32) -> bool {
        let mut fresh = true;
        for id in pgid..=pgid + u64::from(overflow) {
            if !self.reachable.insert(id) {
                self.problems.push(CheckProblem::MultipleReferences(id));
                fresh = false;
            }
        }
        fresh
    }

    fn freelist(&mut self, pgid: Pgid) {
        let Some((h, bytes)) = self.page(pgid) else { return };
        self.mark(pgid, h.overflow);
        if h.flags != FREELIST_PAGE {
            self.problems.push(CheckProblem::InvalidPageType { pgid, flags: h.flags });
            return;
        }
        let (mut start, mut count) = (PAGE_HEADER_SIZE, u64::from(h.count));
        if h.count == COUNT_OVERFLOW {
            if bytes.len() < start + 8 {
                self.problems
                    .push(CheckProblem::Freelist { pgid, detail: "missing count slot".into() });
                return;
            }
            count = u64_at(bytes, start);
            start += 8;
        }
        if count.saturating_mul(8).saturating_add(start as u64) > bytes.len() as u64 {
            let detail = format!("{count} ids do not fit in {} bytes", bytes.len());
            self.problems.push(CheckProblem::Freelist { pgid, detail });
            return;
        }
        for k in 0..count as usize {
            let id = u64_at(bytes, start + 8 * k);
            if id < 2 || id >= self.hw {
                self.problems.push(CheckProblem::OutOfBounds { pgid: id, high_water: self.hw });
            } else if !self.freed.insert(id) {
                self.problems.push(CheckProblem::AlreadyFreed(id));
            }
        }
        for id in pgid..=pgid + u64::from(h.overflow) {
            if self.freed.contains(&id) {
                self.problems.push(CheckProblem::ReachableFreed(id));
            }
        }
    }

    /// Checks the tree at `pgid`: every key must be >= `lo` and < `hi`.
    fn tree(&mut self, pgid: Pgid, lo: Option<&[u8]>, hi: Option<&[u8]>, depth: usize) {
        if depth > MAX_DEPTH {
            self.problems.push(CheckProblem::Corrupt(Corruption::page(pgid, PageProblem::TooDeep)));
            return;
        }
        if pgid < 2 {
            self.problems.push(CheckProblem::InvalidPageType { pgid, flags: 0x04 });
            return;
        }
        let Some((h, bytes)) = self.page(pgid) else { return };
        if !self.mark(pgid, h.overflow) {
            return;
        }
        for id in pgid..=pgid + u64::from(h.overflow) {
            if self.freed.contains(&id) {
                self.problems.push(CheckProblem::ReachableFreed(id));
            }
        }
        if h.flags != BRANCH_PAGE && h.flags != LEAF_PAGE {
            self.problems.push(CheckProblem::InvalidPageType { pgid, flags: h.flags });
            return;
        }
        match NodePage::parse(bytes, pgid, false) {
            Ok(p) => self.node(&p, lo, hi, depth),
            Err(c) => self.problems.push(CheckProblem::Corrupt(c)),
        }
    }

    /// Checks the elements of a node page (on disk or inline).
    fn node(&mut self, p: &NodePage<'a>, lo: Option<&[u8]>, hi: Option<&[u8]>, depth: usize) {
        let mut prev: Option<&[u8]> = None;
        let n = p.count();
        for i in 0..n {
            let key = match p.key(i) {
                Ok(k) => k,
                Err(c) => {
                    self.problems.push(CheckProblem::Corrupt(c));
                    return;
                }
            };
            // A branch's first key may precede the range's start (the child holds no smaller key).
            let below = (p.is_leaf() || i != 0) && lo.is_some_and(|lo| key < lo);
            let above = hi.is_some_and(|hi| key >= hi);
            if prev.is_some_and(|pk| key <= pk) || below || above {
                self.problems.push(CheckProblem::KeyOrder { pgid: p.pgid, index: i });
            }
            prev = Some(key);
            if p.is_leaf() {
                self.leaf_value(p, i, depth);
            } else {
                let child = match p.branch(i) {
                    Ok((_, c)) => c,
                    Err(c) => {
                        self.problems.push(CheckProblem::Corrupt(c));
                        continue;
                    }
                };
                let next = if i + 1 < n { p.key(i + 1).ok() } else { hi };
                let child_lo = if i == 0 { lo } else { Some(key) };
                self.tree(child, child_lo, next, depth + 1);
            }
        }
    }

    /// Follows a nested bucket value.
    fn leaf_value(&mut self, p: &NodePage<'a>, i: usize, depth: usize) {
        let Ok((flags, _, val)) = p.leaf(i) else { return };
        if flags & BUCKET_LEAF_FLAG == 0 {
            return;
        }
        if val.len() < BUCKET_HEADER_SIZE {
            let c = Corruption {
                page: p.pgid,
                inline: p.inline,
                problem: PageProblem::BadBucketValue { index: i },
            };
            self.problems.push(CheckProblem::Corrupt(c));
            return;
        }
        let h = BucketHeader::decode(val);
        if h.root != 0 {
            self.tree(h.root, None, None, depth + 1);
            return;
        }
        match NodePage::parse(&val[BUCKET_HEADER_SIZE..], 0, true) {
            Ok(inl) if inl.is_leaf() => self.node(&inl, None, None, depth + 1),
            Ok(inl) => self
                .problems
                .push(CheckProblem::InvalidPageType { pgid: 0, flags: inl.header.flags }),
            Err(c) => self.problems.push(CheckProblem::Corrupt(c)),
        }
    }
}
