//! Dirty pages: the pages a commit writes, serialized into one buffer.
//!
//! Spill serializes every node (and the freelist) straight into one growing byte buffer instead
//! of one allocation per page. Pages allocated one after another from the high water mark sit
//! one after another in the buffer too, so they are written straight from it; pages whose ids
//! are adjacent but whose bytes are not (ids reused from the freelist) are gathered into a
//! bounded scratch run. Runs are handed out in pieces of a size the caller picks (commit uses
//! one page: see `commit::write_out`).
//!
//! A raw node's page (`node::Raw`) is not copied at all: its entry refers to the copy in the
//! transaction's arena, which `write_runs` is given.
//!
//! Each page is hashed (`record::page_hash`) as soon as it is serialized, while it is still in
//! cache, as long as the commit stays small enough for a commit record (`record`).
//!
//! Invariant: every entry's bytes are a whole number of pages, zero-filled past what the
//! serializer wrote, and no two entries overlap in page ids (each came from one allocation);
//! while the buffer holds at most `limit` bytes (at most `record::MAX_PAGES_BYTES`),
//! `hashes[e.hashes + k]` is the hash of page `k` of entry `e`.

use crate::page::Pgid;
use crate::record::{self, MAX_PAGES_BYTES};

/// Gathered (copied) runs are cut at this many bytes.
const MAX_GATHER_RUN: usize = 4 << 20;

/// Largest buffer kept from one commit for the next.
const KEEP_BYTES: usize = 32 << 20;

/// One allocation's pages: its first id, where its bytes start in the buffer (or in the
/// arena), and their length.
#[derive(Clone, Copy, Debug)]
struct Entry {
    pgid: Pgid,
    offset: usize,
    len: usize,
    /// Index of the hash of its first page in `hashes`.
    hashes: usize,
    /// Whether the bytes are in the arena rather than in the buffer.
    in_arena: bool,
}

/// The pages a commit will write.
#[derive(Debug)]
pub(crate) struct DirtyPages {
    bytes: Vec<u8>,
    entries: Vec<Entry>,
    hashes: Vec<u64>,
    /// Bytes of every page held, in the buffer and in the arena.
    total: usize,
    /// Pages are hashed (for a commit record) while they total at most this many bytes.
    limit: usize,
}

impl Default for DirtyPages {
    fn default() -> DirtyPages {
        DirtyPages {
            bytes: Vec::new(),
            entries: Vec::new(),
            hashes: Vec::new(),
            total: 0,
            limit: MAX_PAGES_BYTES,
        }
    }
}

impl DirtyPages {
    /// Sets the size up to which a commit's pages are hashed for a commit record (capped at
    /// `record::MAX_PAGES_BYTES`); call while empty.
    pub fn set_limit(&mut self, limit: usize) {
        assert!(self.entries.is_empty(), "limit set on {} dirty entries", self.entries.len());
        self.limit = limit.min(MAX_PAGES_BYTES);
    }

    /// Ids of every page held (each page of a multi-page entry), in no particular order.
    pub fn page_ids(&self, page_size: usize) -> impl Iterator<Item = Pgid> + '_ {
        self.entries.iter().flat_map(move |e| e.pgid..e.pgid + (e.len / page_size) as u64)
    }

    /// Adds `len` zeroed bytes (whole pages of `page_size`) for the pages starting at `pgid`,
    /// lets `fill` serialize into them, and hashes them.
    pub fn add(&mut self, pgid: Pgid, len: usize, page_size: usize, fill: impl FnOnce(&mut [u8])) {
        let offset = self.bytes.len();
        self.bytes.resize(offset + len, 0);
        let bytes = &mut self.bytes[offset..];
        fill(bytes);
        let hashes = self.hashes.len();
        self.total += len;
        if self.total <= self.limit {
            for (k, page) in bytes.chunks_exact(page_size).enumerate() {
                self.hashes.push(record::page_hash(pgid + k as u64, page));
            }
        }
        self.entries.push(Entry { pgid, offset, len, hashes, in_arena: false });
    }

    /// Adds page `pgid` whose bytes `page` lie at `offset` in the arena that `write_runs` will
    /// be given (unchanged until then), and hashes it.
    pub fn add_in_arena(&mut self, pgid: Pgid, offset: usize, page: &[u8]) {
        let hashes = self.hashes.len();
        self.total += page.len();
        if self.total <= self.limit {
            self.hashes.push(record::page_hash(pgid, page));
        }
        self.entries.push(Entry { pgid, offset, len: page.len(), hashes, in_arena: true });
    }

    /// Forgets every page, keeping the buffer for the next commit unless it is larger than
    /// `KEEP_BYTES` (a bulk load's).
    pub fn clear(&mut self) {
        if self.bytes.capacity() > KEEP_BYTES {
            self.bytes = Vec::new();
            self.entries = Vec::new();
        }
        self.bytes.clear();
        self.entries.clear();
        self.hashes.clear();
        self.total = 0;
    }

    /// Number of pages held.
    pub fn page_count(&self, page_size: usize) -> usize {
        self.total / page_size
    }

    /// `record::pages_hash` of every page held, in id order; `None` when they are more than
    /// the limit (then they were not hashed).
    pub fn pages_hash(&mut self, txid: u64, page_size: usize) -> Option<u64> {
        if self.total > self.limit {
            return None;
        }
        self.entries.sort_unstable_by_key(|e| e.pgid);
        let hashes = self.entries.iter().flat_map(|e| {
            let pages = e.len / page_size;
            self.hashes[e.hashes..e.hashes + pages].iter().copied()
        });
        Some(record::combine(txid, hashes))
    }

    /// Whether the pages held are exactly `ids` (ascending).
    pub fn holds_exactly(&mut self, ids: &[Pgid], page_size: usize) -> bool {
        self.entries.sort_unstable_by_key(|e| e.pgid);
        let held = self.entries.iter().flat_map(|e| e.pgid..e.pgid + (e.len / page_size) as u64);
        held.eq(ids.iter().copied())
    }

    /// Calls `write(file offset, bytes)` for runs of pages with consecutive ids, in id order,
    /// in pieces of at most `max_write` bytes. A run whose bytes are also consecutive in the
    /// buffer (or in `arena`, which holds the pages added with `add_in_arena`) is passed
    /// without copying.
    pub fn write_runs<E>(
        &mut self,
        page_size: usize,
        max_write: usize,
        arena: &[u8],
        mut write: impl FnMut(u64, &[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        self.entries.sort_unstable_by_key(|e| e.pgid);
        let ps = page_size as u64;
        let mut scratch: Vec<u8> = Vec::new();
        let source = |e: &Entry| if e.in_arena { arena } else { &self.bytes[..] };
        let mut k = 0;
        while k < self.entries.len() {
            let first = self.entries[k];
            // Extend while ids and bytes (of one source) both continue: one borrowed slice.
            let mut end = k + 1;
            let mut bytes_end = first.offset + first.len;
            let mut next_id = first.pgid + (first.len as u64) / ps;
            while end < self.entries.len()
                && self.entries[end].pgid == next_id
                && self.entries[end].offset == bytes_end
                && self.entries[end].in_arena == first.in_arena
            {
                bytes_end += self.entries[end].len;
                next_id += (self.entries[end].len as u64) / ps;
                end += 1;
            }
            let continues = end < self.entries.len() && self.entries[end].pgid == next_id;
            if !continues || end > k + 1 {
                let run = &source(&first)[first.offset..bytes_end];
                for (j, piece) in run.chunks(max_write).enumerate() {
                    write(first.pgid * ps + (j * max_write) as u64, piece)?;
                }
                k = end;
                continue;
            }
            // Ids continue but the bytes do not: gather single entries into the scratch run.
            scratch.clear();
            let mut end = k;
            let mut next_id = first.pgid;
            while end < self.entries.len()
                && self.entries[end].pgid == next_id
                && scratch.len() < MAX_GATHER_RUN
            {
                let e = self.entries[end];
                scratch.extend_from_slice(&source(&e)[e.offset..e.offset + e.len]);
                next_id += (e.len as u64) / ps;
                end += 1;
            }
            for (j, piece) in scratch.chunks(max_write).enumerate() {
                write(first.pgid * ps + (j * max_write) as u64, piece)?;
            }
            k = end;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runs(d: &mut DirtyPages, ps: usize) -> Vec<(u64, Vec<u8>)> {
        runs_of(d, ps, usize::MAX)
    }

    fn runs_of(d: &mut DirtyPages, ps: usize, max_write: usize) -> Vec<(u64, Vec<u8>)> {
        let mut out = Vec::new();
        d.write_runs(ps, max_write, &[], |off, b| {
            out.push((off, b.to_vec()));
            Ok::<(), ()>(())
        })
        .unwrap();
        out
    }

    #[test]
    fn runs_cover_every_page_once_in_id_order() {
        let ps = 4;
        let mut d = DirtyPages::default();
        // Added out of order: 7, 3 (two pages), 5, 10, 8, 9.
        for (id, n, fill) in [(7, 1, 7u8), (3, 2, 3), (5, 1, 5), (10, 1, 10), (8, 1, 8), (9, 1, 9)]
        {
            d.add(id, n * ps, ps, |b| {
                assert!(b[..n * ps].iter().all(|&x| x == 0), "zeroed");
                b[..n * ps].fill(fill);
            });
        }
        assert_eq!(d.entries.len(), 6);
        let r = runs(&mut d, ps);
        let mut covered = Vec::new();
        for (off, bytes) in &r {
            assert_eq!(bytes.len() % ps, 0);
            for (j, chunk) in bytes.chunks(ps).enumerate() {
                let id = off / ps as u64 + j as u64;
                covered.push(id);
                let want = if id == 4 { 3 } else { id as u8 };
                assert!(chunk.iter().all(|&x| x == want), "page {id} holds {chunk:?}");
            }
        }
        assert_eq!(covered, vec![3, 4, 5, 7, 8, 9, 10]);
        // Consecutive ids go together: 3..=5 borrowed (bytes adjacent too), 7..=10 gathered.
        assert_eq!(
            r.iter().map(|(o, b)| (o / ps as u64, b.len() / ps)).collect::<Vec<_>>(),
            [(3, 3), (7, 4)]
        );
    }

    #[test]
    fn pages_added_in_id_order_are_one_borrowed_run() {
        let ps = 8;
        let mut d = DirtyPages::default();
        for id in 20..30 {
            d.add(id, ps, ps, |b| b[0] = id as u8);
        }
        let r = runs(&mut d, ps);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].0, 20 * ps as u64);
        assert_eq!(r[0].1.len(), 10 * ps);
        // A run longer than max_write comes in pieces that tile it.
        let big = 4096;
        let mut d = DirtyPages::default();
        let max_write = 4 * big;
        let n = 11;
        for id in 0..n as u64 {
            d.add(100 + id, big, big, |b| b[0] = id as u8);
        }
        let r = runs_of(&mut d, big, max_write);
        assert_eq!(r.len(), 3);
        let mut next = 100 * big as u64;
        for (off, bytes) in &r {
            assert_eq!(*off, next);
            assert!(bytes.len() <= max_write);
            next += bytes.len() as u64;
        }
        assert_eq!(next, (100 + n as u64) * big as u64);
        d.clear();
        assert!(d.entries.is_empty());
        assert!(runs(&mut d, ps).is_empty());
    }

    #[test]
    fn pages_hash_matches_hashing_the_written_pages_in_id_order() {
        let ps = 16;
        let mut d = DirtyPages::default();
        for (id, n) in [(9u64, 1usize), (3, 2), (6, 1)] {
            d.add(id, n * ps, ps, |b| b.fill(id as u8));
        }
        let mut file = vec![0u8; 10 * ps];
        d.write_runs(ps, ps, &[], |off, b| {
            file[off as usize..off as usize + b.len()].copy_from_slice(b);
            Ok::<(), ()>(())
        })
        .unwrap();
        let ids = [3u64, 4, 6, 9];
        let want =
            record::pages_hash(7, ps, ids.into_iter(), |id| record::mapped_page(&file, ps, id));
        assert_eq!(d.pages_hash(7, ps), want);
        assert_eq!(d.page_count(ps), 4);
    }

    #[test]
    fn pages_in_the_arena_are_written_and_hashed_with_the_others() {
        let ps = 16;
        let mut arena = vec![0xEEu8; 3];
        let mut d = DirtyPages::default();
        // Buffer pages 4, 7 (two pages), arena pages 5, 6, 10; ids 4..=8 are one run of ids.
        for (id, n, in_arena) in [(5u64, 1, true), (4, 1, false), (10, 1, true), (7, 2, false)] {
            if in_arena {
                let at = arena.len();
                arena.extend(std::iter::repeat_n(id as u8, ps));
                d.add_in_arena(id, at, &arena[at..at + ps]);
            } else {
                d.add(id, n * ps, ps, |b| b.fill(id as u8));
            }
        }
        let at = arena.len();
        arena.extend(std::iter::repeat_n(6u8, ps));
        d.add_in_arena(6, at, &arena[at..at + ps]);
        assert_eq!(d.page_count(ps), 6);
        for max_write in [ps, 64 * ps] {
            let mut file = vec![0u8; 11 * ps];
            d.write_runs(ps, max_write, &arena, |off, b| {
                file[off as usize..off as usize + b.len()].copy_from_slice(b);
                Ok::<(), ()>(())
            })
            .unwrap();
            for id in 0..11u64 {
                let want = match id {
                    8 => 7,
                    4..=7 | 10 => id as u8,
                    _ => 0,
                };
                let page = &file[id as usize * ps..(id as usize + 1) * ps];
                assert!(page.iter().all(|&x| x == want), "page {id}: {page:?}");
            }
            let ids = [4u64, 5, 6, 7, 8, 10];
            let want =
                record::pages_hash(3, ps, ids.into_iter(), |id| record::mapped_page(&file, ps, id));
            assert_eq!(d.pages_hash(3, ps), want);
        }
    }
}
