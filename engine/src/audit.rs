//! Audit mode ([`Options::audit`](crate::Options::audit)): the engine checks two of its own
//! rules while it runs, for testbeds that cannot see them from outside.
//!
//! - **A reader's view never changes.** Every page a read transaction visits is recorded. When
//!   it ends, if any commit wrote pages since it began, each visited page's bytes in its own
//!   mapping (the file as it was when it began) are compared with the file's current bytes (the
//!   database's mapping, which every commit takes again after writing).
//! - **The writer never writes a page an open reader visited.** Before a commit writes anything,
//!   every page it is about to write is looked up among the pages of the open readers.
//!
//! A broken rule is a [`Violation`] naming the page and the transactions, kept in order until
//! [`Db::take_audit_violations`](crate::Db::take_audit_violations) hands it out. The second rule
//! fires at the write, the first at the reader's end; a page reused under a reader usually breaks
//! both.
//!
//! Cost: off, one branch per page visit and per transaction begin, end and commit. On, a
//! pointer push per page visit, a registry entry per read transaction, and comparisons only for
//! readers that lived across a commit.
//!
//! Limit: on a live mapping (a real mmap) a reader's own mapping already shows the current bytes,
//! so the first rule cannot fire there; the simulated disk's mappings are snapshots.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::rc::Rc;

use crate::page::Pgid;

/// A rule audit mode saw broken.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Violation {
    /// Page `page`, visited by the reader at `reader_txid`, holds other bytes in the file now
    /// (whose last commit is `file_txid`) than when the reader began.
    ReaderViewChanged { page: Pgid, reader_txid: u64, file_txid: u64 },
    /// The writer at `writer_txid` wrote page `page`, which the open reader at `reader_txid` had
    /// visited.
    PageReusedUnderReader { page: Pgid, reader_txid: u64, writer_txid: u64 },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::ReaderViewChanged { page, reader_txid, file_txid } => write!(
                f,
                "page {page} changed under the reader at txid {reader_txid} (file now at txid \
                 {file_txid})"
            ),
            Violation::PageReusedUnderReader { page, reader_txid, writer_txid } => write!(
                f,
                "page {page} reused while reader txid {reader_txid} can reach it (writer txid \
                 {writer_txid})"
            ),
        }
    }
}

/// The pages one read transaction visited (each page of a multi-page node counts), unsorted and
/// possibly repeated; compacted now and then so that a long reader stays small.
#[derive(Debug, Default)]
pub(crate) struct Visits {
    pages: Vec<Pgid>,
    /// Length after the last compaction.
    compacted: usize,
}

impl Visits {
    /// Records a visit of the node at `pgid` spanning `overflow` more pages.
    pub fn visit(&mut self, pgid: Pgid, overflow: u32) {
        self.pages.extend(pgid..=pgid + u64::from(overflow));
        if self.pages.len() > 2 * self.compacted + 256 {
            self.compact();
        }
    }

    /// Sorts and deduplicates the pages.
    fn compact(&mut self) {
        self.pages.sort_unstable();
        self.pages.dedup();
        self.compacted = self.pages.len();
    }

    /// The visited pages, sorted and distinct.
    fn sorted(&mut self) -> &[Pgid] {
        if self.compacted != self.pages.len() {
            self.compact();
        }
        &self.pages
    }
}

/// An open read transaction as the audit knows it.
#[derive(Debug)]
struct Reader {
    txid: u64,
    /// `Audit::writes` when it began.
    writes_at_begin: u64,
    visits: Rc<RefCell<Visits>>,
}

/// The audit state of a database (present only in audit mode).
#[derive(Debug, Default)]
pub(crate) struct Audit {
    /// Open readers by serial number (begin order).
    readers: BTreeMap<u64, Reader>,
    next_serial: u64,
    /// Commits that wrote pages, counted before their first write.
    writes: u64,
    violations: Vec<Violation>,
}

/// What a read transaction holds in audit mode: its serial and where its visits go.
pub(crate) type ReaderSlot = (u64, Rc<RefCell<Visits>>);

impl Audit {
    /// Registers a reader at `txid`; its visits go to the returned slot.
    pub fn begin_reader(&mut self, txid: u64) -> ReaderSlot {
        let serial = self.next_serial;
        self.next_serial += 1;
        let visits = Rc::new(RefCell::new(Visits::default()));
        let reader = Reader { txid, writes_at_begin: self.writes, visits: Rc::clone(&visits) };
        self.readers.insert(serial, reader);
        (serial, visits)
    }

    /// Unregisters reader `serial` and, if a commit wrote pages since it began, compares every
    /// page it visited in `own` (its mapping) with `current` (the file's bytes now, as of the
    /// commit at `file_txid`). Pages outside either mapping are skipped (a closed database's
    /// mapping is empty).
    pub fn end_reader(
        &mut self,
        serial: u64,
        own: &[u8],
        current: &[u8],
        page_size: usize,
        file_txid: u64,
    ) {
        let Some(reader) = self.readers.remove(&serial) else { return };
        if reader.writes_at_begin == self.writes {
            return;
        }
        let mut visits = reader.visits.borrow_mut();
        for &page in visits.sorted() {
            let Some(range) = page_range(page, page_size) else { continue };
            let (Some(then), Some(now)) = (own.get(range.clone()), current.get(range)) else {
                continue;
            };
            if then != now {
                self.violations.push(Violation::ReaderViewChanged {
                    page,
                    reader_txid: reader.txid,
                    file_txid,
                });
            }
        }
    }

    /// Called by the commit at `writer_txid` before it writes `pages`: counts the write and
    /// reports every page among them that an open reader visited.
    pub fn before_writes(&mut self, writer_txid: u64, pages: impl Iterator<Item = Pgid>) {
        self.writes += 1;
        if self.readers.is_empty() {
            return;
        }
        let mut written: Vec<Pgid> = pages.collect();
        written.sort_unstable();
        for reader in self.readers.values() {
            let mut visits = reader.visits.borrow_mut();
            for &page in visits.sorted() {
                if written.binary_search(&page).is_ok() {
                    self.violations.push(Violation::PageReusedUnderReader {
                        page,
                        reader_txid: reader.txid,
                        writer_txid,
                    });
                }
            }
        }
    }

    /// Hands out the violations found so far.
    pub fn take_violations(&mut self) -> Vec<Violation> {
        std::mem::take(&mut self.violations)
    }
}

/// Byte range of page `page` (`None` if it does not fit a `usize`).
fn page_range(page: Pgid, page_size: usize) -> Option<std::ops::Range<usize>> {
    let start = usize::try_from(page).ok()?.checked_mul(page_size)?;
    Some(start..start.checked_add(page_size)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visits_are_sorted_distinct_and_cover_overflow_pages() {
        let mut v = Visits::default();
        v.visit(9, 0);
        v.visit(4, 2);
        v.visit(9, 0);
        for p in 0..600 {
            v.visit(100 + p % 50, 0); // repeated visits stay bounded
        }
        assert!(v.pages.len() < 700, "{} entries", v.pages.len());
        let sorted = v.sorted().to_vec();
        let mut want = vec![4, 5, 6, 9];
        want.extend(100..150);
        assert_eq!(sorted, want);
    }

    #[test]
    fn a_changed_page_is_reported_only_after_a_write() {
        let ps = 4;
        let own = vec![1u8; 4 * ps];
        let mut current = own.clone();
        current[2 * ps] = 9;
        let mut a = Audit::default();
        let (s, v) = a.begin_reader(7);
        v.borrow_mut().visit(2, 0);
        a.end_reader(s, &own, &current, ps, 7);
        assert!(a.take_violations().is_empty(), "no write since it began: nothing compared");
        let (s, v) = a.begin_reader(7);
        v.borrow_mut().visit(1, 1); // pages 1 and 2
        v.borrow_mut().visit(3, 0);
        a.before_writes(8, [5u64].into_iter());
        a.end_reader(s, &own, &current, ps, 8);
        assert_eq!(
            a.take_violations(),
            vec![Violation::ReaderViewChanged { page: 2, reader_txid: 7, file_txid: 8 }]
        );
        assert!(a.readers.is_empty());
    }

    #[test]
    fn writing_a_visited_page_is_reported_per_reader() {
        let mut a = Audit::default();
        let (_, v1) = a.begin_reader(3);
        let (s2, v2) = a.begin_reader(4);
        v1.borrow_mut().visit(10, 0);
        v2.borrow_mut().visit(11, 0);
        a.end_reader(s2, &[], &[], 4, 4);
        a.before_writes(6, [12u64, 10, 11].into_iter());
        let v = a.take_violations();
        assert_eq!(
            v,
            vec![Violation::PageReusedUnderReader { page: 10, reader_txid: 3, writer_txid: 6 }]
        );
        assert_eq!(
            v[0].to_string(),
            "page 10 reused while reader txid 3 can reach it (writer txid 6)"
        );
    }
}
