//! The freelist: which pages are free now, and which are pending until no reader can see them.
//!
//! Freelist page layout (page flags 0x10), little-endian:
//! ```text
//! header.count < 0xFFFF:  ids[count] u64 follow the 16-byte header
//! header.count = 0xFFFF:  ids[0] = n (the real count), then ids[1..=n]
//! ```
//! The page lists every free *and* pending id, sorted: after a reopen no reader is open, so
//! pending pages are free.
//!
//! Invariants: `ids` is sorted and duplicate-free; no id is both free and pending; ids are >= 2
//! (pages 0 and 1 are the metas) and below the high water mark.

use std::collections::BTreeMap;

use crate::error::{Corruption, PageProblem};
use crate::page::{put_u64, u64_at, PageHeader, Pgid, FREELIST_PAGE, PAGE_HEADER_SIZE};

/// Count value that means "the real count is the first id slot".
pub const COUNT_OVERFLOW: u16 = 0xFFFF;

/// Free and pending page ids.
///
/// The free ids are `ids[head..]`: allocating the first run only advances `head` (first fit
/// usually takes the lowest ids, and shifting the whole vector per page made a large commit's
/// allocations quadratic); the consumed prefix is dropped once it is half the vector.
#[derive(Clone, Debug, Default)]
pub struct Freelist {
    /// Free page ids, sorted (from `head` on).
    ids: Vec<Pgid>,
    head: usize,
    /// Pages freed by each transaction, not yet reusable.
    pending: BTreeMap<u64, Vec<Pgid>>,
}

impl PartialEq for Freelist {
    /// Equal when the free ids and the pending lists are (however much prefix is consumed).
    fn eq(&self, other: &Freelist) -> bool {
        self.free_ids() == other.free_ids() && self.pending == other.pending
    }
}

impl Eq for Freelist {}

impl Freelist {
    /// An empty freelist.
    pub fn new() -> Freelist {
        Freelist::default()
    }

    /// A freelist with these free ids (sorted and deduplicated here).
    pub fn from_ids(mut ids: Vec<Pgid>) -> Freelist {
        ids.sort_unstable();
        ids.dedup();
        Freelist { ids, head: 0, pending: BTreeMap::new() }
    }

    /// Free ids, sorted.
    pub fn free_ids(&self) -> &[Pgid] {
        &self.ids[self.head..]
    }

    /// Pending ids per freeing transaction.
    pub fn pending(&self) -> &BTreeMap<u64, Vec<Pgid>> {
        &self.pending
    }

    /// Number of free plus pending ids.
    pub fn count(&self) -> usize {
        self.free_ids().len() + self.pending.values().map(Vec::len).sum::<usize>()
    }

    /// Every free and pending id, sorted.
    pub fn all_ids(&self) -> Vec<Pgid> {
        let mut all: Vec<Pgid> = self.free_ids().to_vec();
        for ids in self.pending.values() {
            all.extend_from_slice(ids);
        }
        all.sort_unstable();
        all
    }

    /// Whether `pgid` is free or pending.
    pub fn contains(&self, pgid: Pgid) -> bool {
        self.free_ids().binary_search(&pgid).is_ok()
            || self.pending.values().any(|v| v.contains(&pgid))
    }

    /// Takes the first run of `n` contiguous free pages (first fit over the sorted ids) and
    /// returns its first id, or 0 when no run is long enough (the caller then grows the file).
    pub fn allocate(&mut self, n: usize) -> Pgid {
        assert!(n > 0, "allocate of zero pages");
        let free = self.free_ids();
        let mut run_start = 0usize;
        for i in 0..free.len() {
            if i > 0 && free[i] != free[i - 1] + 1 {
                run_start = i;
            }
            if i + 1 - run_start == n {
                let first = free[run_start];
                if run_start == 0 {
                    self.head += n;
                    if self.head * 2 >= self.ids.len() {
                        self.ids.drain(..self.head);
                        self.head = 0;
                    }
                } else {
                    self.ids.drain(self.head + run_start..=self.head + i);
                }
                return first;
            }
        }
        0
    }

    /// Takes the `n` free ids lying closest together: of every `n` ids consecutive in the sorted
    /// free ids, those spanning the fewest pages (the highest such on a tie). Returns them
    /// ascending; all of them when `n` or fewer are free.
    pub fn take_densest(&mut self, n: usize) -> Vec<Pgid> {
        let free = self.free_ids();
        if n == 0 {
            return Vec::new();
        }
        let start = if free.len() <= n {
            0
        } else {
            (0..=free.len() - n).rev().min_by_key(|&k| free[k + n - 1] - free[k]).unwrap_or(0)
        };
        let end = (start + n).min(free.len());
        self.ids.drain(self.head + start..self.head + end).collect()
    }

    /// Returns `ids` (taken from the free ids and not used) to the free ids.
    pub fn give_back(&mut self, ids: &[Pgid]) {
        if ids.is_empty() {
            return;
        }
        let mut all = self.free_ids().to_vec();
        all.extend_from_slice(ids);
        all.sort_unstable();
        self.ids = all;
        self.head = 0;
    }

    /// Takes the last run of `n` contiguous free pages (last fit over the sorted ids) and
    /// returns its first id, or 0 when no run is long enough.
    pub fn allocate_high(&mut self, n: usize) -> Pgid {
        assert!(n > 0, "allocate of zero pages");
        let free = self.free_ids();
        let mut run_end = free.len();
        for i in (0..free.len()).rev() {
            if i + 1 < free.len() && free[i] + 1 != free[i + 1] {
                run_end = i + 1;
            }
            if run_end - i == n {
                let first = free[i];
                self.ids.drain(self.head + i..self.head + run_end);
                return first;
            }
        }
        0
    }

    /// Marks `pgid` and its `overflow` following pages as freed by transaction `txid` (pending).
    /// Freeing a page twice is a programmer error.
    pub fn free(&mut self, txid: u64, pgid: Pgid, overflow: u32) {
        assert!(pgid > 1, "cannot free meta page {pgid}");
        let list = self.pending.entry(txid).or_default();
        for id in pgid..=pgid + u64::from(overflow) {
            list.push(id);
        }
    }

    /// Makes `pgid` and its `overflow` following pages pending under `txid` if they are free
    /// (ids not free are left alone).
    pub fn hold(&mut self, txid: u64, pgid: Pgid, overflow: u32) {
        let held: Vec<Pgid> = (pgid..=pgid + u64::from(overflow))
            .filter(|id| self.free_ids().binary_search(id).is_ok())
            .collect();
        if held.is_empty() {
            return;
        }
        // The held ids lie after `head` (ids are unique), so the consumed prefix stays put.
        self.ids.retain(|id| held.binary_search(id).is_err());
        self.pending.entry(txid).or_default().extend(held);
    }

    /// Moves the pages pending under every transaction id <= `txid` to the free ids; returns
    /// how many pages that made free.
    pub fn release(&mut self, txid: u64) -> usize {
        let keep = self.pending.split_off(&(txid.saturating_add(1)));
        let released = std::mem::replace(&mut self.pending, keep);
        let mut m: Vec<Pgid> = released.into_values().flatten().collect();
        let n = m.len();
        if n == 0 {
            return 0;
        }
        m.extend_from_slice(self.free_ids());
        m.sort_unstable();
        self.ids = m;
        self.head = 0;
        n
    }

    /// Forgets the pages freed by transaction `txid` (its rollback).
    pub fn rollback(&mut self, txid: u64) {
        self.pending.remove(&txid);
    }

    /// Bytes the freelist page needs.
    pub fn size(&self) -> usize {
        let mut n = self.count();
        if n >= usize::from(COUNT_OVERFLOW) {
            n += 1;
        }
        PAGE_HEADER_SIZE + 8 * n
    }

    /// Writes the freelist page for page `pgid` spanning `buf.len()` bytes (`overflow` extra
    /// pages). `buf` must hold at least `size()` bytes.
    pub fn write(&self, buf: &mut [u8], pgid: Pgid, overflow: u32) {
        assert!(buf.len() >= self.size(), "freelist buffer {} < {}", buf.len(), self.size());
        let all = self.all_ids();
        let (count, mut off) = if all.len() < usize::from(COUNT_OVERFLOW) {
            (all.len() as u16, PAGE_HEADER_SIZE)
        } else {
            put_u64(buf, PAGE_HEADER_SIZE, all.len() as u64);
            (COUNT_OVERFLOW, PAGE_HEADER_SIZE + 8)
        };
        PageHeader { id: pgid, flags: FREELIST_PAGE, count, overflow }.encode(buf);
        for id in all {
            put_u64(buf, off, id);
            off += 8;
        }
    }

    /// Reads a freelist page (bytes of the page and its overflow). Every id must be >= 2, below
    /// `high_water`, and appear once.
    pub fn read(page: &[u8], pgid: Pgid, high_water: Pgid) -> Result<Freelist, Corruption> {
        let bad = |detail: String| Corruption::page(pgid, PageProblem::BadFreelist { detail });
        let header = PageHeader::decode(page).ok_or_else(|| bad("shorter than a header".into()))?;
        if header.flags != FREELIST_PAGE {
            return Err(Corruption::page(
                pgid,
                PageProblem::UnexpectedFlags { flags: header.flags, expected: "freelist" },
            ));
        }
        let mut start = PAGE_HEADER_SIZE;
        let mut count = u64::from(header.count);
        if header.count == COUNT_OVERFLOW {
            if page.len() < start + 8 {
                return Err(bad("overflow count slot missing".into()));
            }
            count = u64_at(page, start);
            start += 8;
        }
        let end = count.checked_mul(8).and_then(|b| b.checked_add(start as u64));
        match end {
            Some(end) if end <= page.len() as u64 => {}
            _ => return Err(bad(format!("{count} ids do not fit in {} bytes", page.len()))),
        }
        let mut ids: Vec<Pgid> = (0..count as usize).map(|i| u64_at(page, start + 8 * i)).collect();
        ids.sort_unstable();
        for (i, &id) in ids.iter().enumerate() {
            if id < 2 || id >= high_water {
                return Err(bad(format!("id {id} outside 2..{high_water}")));
            }
            if i > 0 && ids[i - 1] == id {
                return Err(bad(format!("id {id} listed twice")));
            }
        }
        Ok(Freelist { ids, head: 0, pending: BTreeMap::new() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocate_contiguous_first_fit() {
        let mut f = Freelist::from_ids(vec![3, 4, 5, 6, 7, 9, 12, 13, 18]);
        assert_eq!(f.allocate(3), 3);
        assert_eq!(f.free_ids(), &[6, 7, 9, 12, 13, 18]);
        assert_eq!(f.allocate(1), 6);
        assert_eq!(f.allocate(3), 0, "no run of 3 left");
        assert_eq!(f.allocate(2), 12);
        assert_eq!(f.free_ids(), &[7, 9, 18]);
        assert_eq!(f.allocate(1), 7);
        assert_eq!(f.allocate(1), 9);
        assert_eq!(f.allocate(1), 18);
        assert_eq!(f.allocate(1), 0, "empty freelist gives 0");
    }

    #[test]
    fn allocating_from_the_front_keeps_first_fit_and_equality() {
        let mut f = Freelist::from_ids((10..30).collect());
        for want in 10..22 {
            assert_eq!(f.allocate(1), want);
        }
        assert_eq!(f.free_ids(), &(22..30).collect::<Vec<_>>()[..]);
        assert_eq!(f, Freelist::from_ids((22..30).collect()), "consumed prefix is invisible");
        assert_eq!(f.count(), 8);
        assert!(!f.contains(21) && f.contains(22));
        assert_eq!(f.allocate(3), 22);
        f.free(5, 40, 0);
        f.release(5);
        assert_eq!(f.free_ids(), &[25, 26, 27, 28, 29, 40]);
        assert_eq!(f.allocate(2), 25);
        assert_eq!(f.allocate(9), 0);
        let mut buf = vec![0u8; f.size()];
        f.write(&mut buf, 3, 0);
        assert_eq!(Freelist::read(&buf, 3, 100).unwrap(), f);
    }

    #[test]
    fn take_densest_finds_the_tightest_window() {
        let mut f = Freelist::from_ids(vec![2, 10, 20, 21, 23, 24, 40, 41, 42, 44, 90]);
        // Windows of 4: 20..=24 spans 5 pages, 40..=44 spans 5 too: the higher one wins.
        assert_eq!(f.take_densest(4), vec![40, 41, 42, 44]);
        assert_eq!(f.free_ids(), &[2, 10, 20, 21, 23, 24, 90]);
        assert_eq!(f.take_densest(2), vec![23, 24]);
        f.give_back(&[41, 23]);
        assert_eq!(f.free_ids(), &[2, 10, 20, 21, 23, 41, 90]);
        assert_eq!(f.take_densest(10).len(), 7, "all of them when too few are free");
        assert!(f.free_ids().is_empty());
        assert!(f.take_densest(0).is_empty());
    }

    #[test]
    fn allocate_high_takes_the_last_run() {
        let mut f = Freelist::from_ids(vec![3, 4, 5, 9, 10, 12]);
        assert_eq!(f.allocate_high(1), 12);
        assert_eq!(f.allocate_high(2), 9);
        assert_eq!(f.allocate(1), 3, "first fit still takes the lowest");
        assert_eq!(f.allocate_high(3), 0, "no run of 3 left");
        assert_eq!(f.allocate_high(2), 4);
        assert!(f.free_ids().is_empty());
        assert_eq!(f.allocate_high(1), 0);
    }

    #[test]
    fn hold_makes_free_pages_pending() {
        let mut f = Freelist::from_ids(vec![3, 4, 5, 9, 10]);
        assert_eq!(f.allocate(1), 3);
        f.hold(8, 9, 2);
        assert_eq!(f.free_ids(), &[4, 5]);
        assert_eq!(f.pending()[&8], vec![9, 10], "11 was not free");
        f.release(7);
        assert_eq!(f.free_ids(), &[4, 5]);
        f.release(8);
        assert_eq!(f.free_ids(), &[4, 5, 9, 10]);
    }

    #[test]
    fn free_pending_and_release() {
        let mut f = Freelist::new();
        f.free(100, 12, 0);
        f.free(100, 9, 0);
        f.free(102, 39, 2);
        assert_eq!(f.count(), 5);
        assert_eq!(f.pending()[&100], vec![12, 9]);
        assert_eq!(f.pending()[&102], vec![39, 40, 41]);
        assert!(f.free_ids().is_empty());
        assert!(f.contains(40));
        // A reader at txid 101 is open: only txid <= 100 may be released.
        f.release(100);
        assert_eq!(f.free_ids(), &[9, 12]);
        assert!(f.pending().contains_key(&102));
        f.free(102, 3, 0);
        f.release(102);
        assert_eq!(f.free_ids(), &[3, 9, 12, 39, 40, 41]);
        assert!(f.pending().is_empty());
        f.free(103, 50, 0);
        f.rollback(103);
        assert_eq!(f.count(), 6);
    }

    fn page_with(count_field: u16, ids: &[u64]) -> Vec<u8> {
        let mut b = vec![0u8; PAGE_HEADER_SIZE + 8 * ids.len()];
        PageHeader { id: 2, flags: FREELIST_PAGE, count: count_field, overflow: 0 }.encode(&mut b);
        for (i, id) in ids.iter().enumerate() {
            put_u64(&mut b, PAGE_HEADER_SIZE + 8 * i, *id);
        }
        b
    }

    #[test]
    fn contains_covers_free_and_pending_like_bbolts_reindexed_cache() {
        // bbolt keeps a cache of free+pending ids rebuilt by reindex(); here `contains` answers
        // the same question from the sorted ids and the pending lists directly.
        let p = page_with(3, &[30, 10, 20]);
        let mut f = Freelist::read(&p, 2, 100).unwrap();
        f.free(5, 40, 1);
        for id in [10, 20, 30, 40, 41] {
            assert!(f.contains(id), "{id}");
        }
        for id in [2, 11, 42] {
            assert!(!f.contains(id), "{id}");
        }
        assert_eq!(f.allocate(1), 10);
        assert!(!f.contains(10));
        f.release(5);
        assert_eq!(f.free_ids(), &[20, 30, 40, 41]);
        assert!(f.contains(41));
    }

    #[test]
    fn read_plain_and_sorts() {
        let p = page_with(2, &[23, 50]);
        let f = Freelist::read(&p, 2, 100).unwrap();
        assert_eq!(f.free_ids(), &[23, 50]);
        let p = page_with(3, &[50, 23, 7]);
        assert_eq!(Freelist::read(&p, 2, 100).unwrap().free_ids(), &[7, 23, 50]);
    }

    #[test]
    fn read_with_0xffff_overflow() {
        // Count field 0xFFFF: the first slot holds the real count.
        let mut ids = vec![3u64];
        ids.extend([10, 11, 12]);
        let p = page_with(COUNT_OVERFLOW, &ids);
        let f = Freelist::read(&p, 2, 100).unwrap();
        assert_eq!(f.free_ids(), &[10, 11, 12]);
        // A real overflowing list round-trips.
        let big = Freelist::from_ids((2..70_002).collect());
        let mut buf = vec![0u8; big.size()];
        big.write(&mut buf, 5, 0);
        assert_eq!(PageHeader::decode(&buf).unwrap().count, COUNT_OVERFLOW);
        assert_eq!(u64_at(&buf, 16), 70_000);
        let back = Freelist::read(&buf, 5, 80_000).unwrap();
        assert_eq!(back.free_ids().len(), 70_000);
        assert_eq!(back, big);
    }

    #[test]
    fn read_rejects_bad_ids() {
        assert!(Freelist::read(&page_with(1, &[1]), 2, 100).is_err());
        assert!(Freelist::read(&page_with(1, &[100]), 2, 100).is_err());
        assert!(Freelist::read(&page_with(2, &[5, 5]), 2, 100).is_err());
        let mut short = page_with(2, &[5, 6]);
        short.truncate(20);
        assert!(Freelist::read(&short, 2, 100).is_err());
        let huge = page_with(COUNT_OVERFLOW, &[u64::MAX / 4]);
        assert!(Freelist::read(&huge, 2, 100).is_err());
    }

    #[test]
    fn write_includes_pending_sorted() {
        let mut f = Freelist::from_ids(vec![9, 4]);
        f.free(7, 6, 1);
        let mut buf = vec![0u8; f.size()];
        f.write(&mut buf, 3, 0);
        let back = Freelist::read(&buf, 3, 10).unwrap();
        assert_eq!(back.free_ids(), &[4, 6, 7, 9]);
    }
}
