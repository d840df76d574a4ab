//! The commit record: lets a small commit reach the disk with one flush instead of bolt's two.
//!
//! Bolt's protocol writes the dirty pages, flushes, writes the meta, flushes. The first flush
//! is there because pages carry no checksums: if the meta reached the disk but a page it
//! reaches did not, nothing would tell. A commit writing at most [`MAX_PAGES_BYTES`] of pages
//! instead writes its pages and a meta page carrying a *commit record*, then flushes once. The
//! record sits in the meta page right after the meta (bytes 80..136, inside the page's first
//! 512-byte sector, which bbolt leaves zero and never reads):
//! ```text
//! offset  size  field
//!     80     8  magic          RECORD_MAGIC
//!     88     8  txid           the meta's txid
//!     96     8  meta_checksum  the meta's checksum (binds the record to this very meta)
//!    104     8  pages          number of pages the commit wrote
//!    112     8  hash           hash of those pages (see `pages_hash`)
//!    120     8  checksum       FNV-1a 64 over bytes 80..120
//! ```
//! Which pages a commit wrote need not be listed: every page it writes is one it allocated,
//! so they are exactly the pages free in the previous meta's freelist or between the two high
//! water marks, and not free in its own freelist ([`written_pages`]).
//!
//! Opening checks the record of the newest valid meta (if it has one): the pages derived from
//! the two freelists must be as many as recorded and hash to the recorded hash, else the
//! commit did not fully reach the disk and the previous meta is used.
//!
//! Why this is as safe as bolt's protocol (a crash may drop, keep or tear, at 512-byte sector
//! granularity, any write since the last flush; a sector is written whole or not at all):
//! - The meta and its record share one sector, so a record is never newer or older than the
//!   meta it is read with; a stale record (of an older meta in that slot) names another txid
//!   and checksum and is ignored, leaving a meta without record, which is trusted: such a meta
//!   was written after a flush of its pages (bolt's two-flush protocol, ours or bbolt's).
//! - Commit N writes only pages that the tree of meta N-1 does not reach (copy-on-write; pages
//!   N-1 freed stay pending until N+1), including neither the freelist page of N-1 nor the meta
//!   slot of N-1. So while meta N is the newest, meta N-1, its tree and its freelist are
//!   intact, and the pages meta N needs are exactly the derived ones: if they hash right, the
//!   whole tree of N is on disk; if not, N-1 is complete and is used.
//! - Only the newest meta is checked. A meta N+1 in the other slot (valid checksum) means
//!   commit N+1 started, so commit N had returned: its flush was done.
//! - Hash collisions: a torn or stale page passes only if its 64-bit hash collides.
//!
//! After falling back, a writable open clears the slot of the rejected meta, so that bbolt (which
//! ignores records) never picks it; a read-only open cannot, so a file that crashed in a commit
//! must be opened by this engine, writable, before bbolt reads it.

use crate::meta::{fnv1a64, Meta, META_SIZE};
use crate::page::{put_u64, u64_at, Pgid, PAGE_HEADER_SIZE};

/// Where the record starts in the meta page.
pub const RECORD_AT: usize = PAGE_HEADER_SIZE + META_SIZE;
/// Size of the record.
pub const RECORD_SIZE: usize = 48;
/// Marks a record ("bolt1syn").
const RECORD_MAGIC: u64 = 0x6e79_7331_746c_6f62;
/// Commits writing at most this many bytes of pages use one flush; larger ones (bulk loads)
/// keep bolt's two, so that opening never hashes more than this.
pub const MAX_PAGES_BYTES: usize = 16 << 20;

/// A decoded commit record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommitRecord {
    pub txid: u64,
    pub meta_checksum: u64,
    pub pages: u64,
    pub hash: u64,
}

impl CommitRecord {
    /// Encodes into `b` (at least `RECORD_SIZE` bytes), with its checksum.
    pub fn encode(&self, b: &mut [u8]) {
        put_u64(b, 0, RECORD_MAGIC);
        put_u64(b, 8, self.txid);
        put_u64(b, 16, self.meta_checksum);
        put_u64(b, 24, self.pages);
        put_u64(b, 32, self.hash);
        let sum = fnv1a64(&b[..40]);
        put_u64(b, 40, sum);
    }

    /// The record in `b` (the bytes from `RECORD_AT` of a meta page) if it is intact and
    /// belongs to `meta`; `None` otherwise (bbolt's zeros, or a stale or torn record).
    pub fn decode_for(b: &[u8], meta: &Meta) -> Option<CommitRecord> {
        let b = b.get(..RECORD_SIZE)?;
        if u64_at(b, 0) != RECORD_MAGIC || u64_at(b, 40) != fnv1a64(&b[..40]) {
            return None;
        }
        let r = CommitRecord {
            txid: u64_at(b, 8),
            meta_checksum: u64_at(b, 16),
            pages: u64_at(b, 24),
            hash: u64_at(b, 32),
        };
        (r.txid == meta.txid && r.meta_checksum == meta.checksum).then_some(r)
    }
}

/// The pages a commit wrote, in id order: free before it (`prev_free`, sorted, below
/// `prev_hwm`) or at/above the previous high water mark, below its own (`hwm`), and not free
/// after it (`free`, sorted). Stops early (returning `None`) past `limit` pages.
pub fn written_pages(
    prev_free: &[Pgid],
    prev_hwm: Pgid,
    free: &[Pgid],
    hwm: Pgid,
    limit: u64,
) -> Option<Vec<Pgid>> {
    let candidates = prev_free.iter().copied().chain(prev_hwm..hwm).filter(|&id| id < hwm);
    let mut out = Vec::new();
    for id in candidates {
        if free.binary_search(&id).is_err() {
            if out.len() as u64 >= limit {
                return None;
            }
            out.push(id);
        }
    }
    Some(out)
}

/// The hash of page `id` holding `bytes`.
pub fn page_hash(id: Pgid, bytes: &[u8]) -> u64 {
    xxh64(bytes, id)
}

/// The hash of a commit's pages from their `page_hash`es, in id order.
pub fn combine(txid: u64, hashes: impl Iterator<Item = u64>) -> u64 {
    let bytes: Vec<u8> = hashes.flat_map(u64::to_le_bytes).collect();
    xxh64(&bytes, txid)
}

/// The hash of pages `ids` (in this order), each `page_size` bytes got by `page`: a hash of each
/// page (seeded with its id), then of those hashes (seeded with `txid`). `None` when a page is
/// missing.
pub fn pages_hash<'a>(
    txid: u64,
    page_size: usize,
    ids: impl Iterator<Item = Pgid>,
    mut page: impl FnMut(Pgid) -> Option<&'a [u8]>,
) -> Option<u64> {
    let mut hashes = Vec::new();
    for id in ids {
        let bytes = page(id)?;
        debug_assert_eq!(bytes.len(), page_size);
        hashes.push(page_hash(id, bytes));
    }
    Some(combine(txid, hashes.into_iter()))
}

/// Page `id` of `map` (`page_size` bytes), if the mapping holds it.
pub fn mapped_page(map: &[u8], page_size: usize, id: Pgid) -> Option<&[u8]> {
    let start = usize::try_from(id).ok()?.checked_mul(page_size)?;
    map.get(start..start.checked_add(page_size)?)
}

const P1: u64 = 0x9E37_79B1_85EB_CA87;
const P2: u64 = 0xC2B2_AE3D_27D4_EB4F;
const P3: u64 = 0x1656_67B1_9E37_79F9;
const P4: u64 = 0x85EB_CA77_C2B2_AE63;
const P5: u64 = 0x27D4_EB2F_1656_67C5;

fn round(acc: u64, lane: u64) -> u64 {
    acc.wrapping_add(lane.wrapping_mul(P2)).rotate_left(31).wrapping_mul(P1)
}

fn merge(acc: u64, v: u64) -> u64 {
    (acc ^ round(0, v)).wrapping_mul(P1).wrapping_add(P4)
}

fn le64(b: &[u8], at: usize) -> u64 {
    u64_at(b, at)
}

/// XXH64 (xxHash, 64-bit): fast (several GB/s), and any change of a sector changes it with
/// probability 1 - 2^-64 for non-adversarial data.
pub fn xxh64(data: &[u8], seed: u64) -> u64 {
    let len = data.len();
    let mut at = 0;
    let mut h = if len >= 32 {
        let mut v = [
            seed.wrapping_add(P1).wrapping_add(P2),
            seed.wrapping_add(P2),
            seed,
            seed.wrapping_sub(P1),
        ];
        let stripes = data.chunks_exact(32);
        at = len - stripes.remainder().len();
        for stripe in stripes {
            for (lane, word) in v.iter_mut().zip(stripe.chunks_exact(8)) {
                *lane = round(*lane, u64::from_le_bytes(word.try_into().expect("8 bytes")));
            }
        }
        let mut h = v[0]
            .rotate_left(1)
            .wrapping_add(v[1].rotate_left(7))
            .wrapping_add(v[2].rotate_left(12))
            .wrapping_add(v[3].rotate_left(18));
        for lane in v {
            h = merge(h, lane);
        }
        h
    } else {
        seed.wrapping_add(P5)
    };
    h = h.wrapping_add(len as u64);
    while at + 8 <= len {
        h ^= round(0, le64(data, at));
        h = h.rotate_left(27).wrapping_mul(P1).wrapping_add(P4);
        at += 8;
    }
    if at + 4 <= len {
        let w = u32::from_le_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]);
        h ^= u64::from(w).wrapping_mul(P1);
        h = h.rotate_left(23).wrapping_mul(P2).wrapping_add(P3);
        at += 4;
    }
    for &byte in &data[at..] {
        h ^= u64::from(byte).wrapping_mul(P5);
        h = h.rotate_left(11).wrapping_mul(P1);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(P2);
    h ^= h >> 29;
    h = h.wrapping_mul(P3);
    h ^ (h >> 32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xxh64_matches_reference_vectors() {
        assert_eq!(xxh64(b"", 0), 0xEF46_DB37_51D8_E999);
        assert_eq!(xxh64(b"a", 0), 0xD24E_C4F1_A98C_6E5B);
        assert_eq!(xxh64(b"abc", 0), 0x44BC_2CF5_AD77_0999);
        let long = b"Nobody inspects the spammish repetition";
        assert_eq!(xxh64(long, 0), 0xFBCE_A83C_8A37_8BF1);
    }

    #[test]
    fn record_round_trips_and_binds_to_its_meta() {
        let mut meta = Meta::new(4096, 3, 2, 10, 7);
        let r = CommitRecord { txid: 7, meta_checksum: meta.checksum, pages: 3, hash: 99 };
        let mut b = [0u8; RECORD_SIZE];
        r.encode(&mut b);
        assert_eq!(CommitRecord::decode_for(&b, &meta), Some(r));
        assert_eq!(CommitRecord::decode_for(&[0u8; RECORD_SIZE], &meta), None, "bbolt's zeros");
        let mut torn = b;
        torn[30] ^= 1;
        assert_eq!(CommitRecord::decode_for(&torn, &meta), None, "checksum");
        meta.txid = 9;
        meta.checksum = meta.sum64();
        assert_eq!(CommitRecord::decode_for(&b, &meta), None, "a stale record of another meta");
    }

    #[test]
    fn written_pages_are_the_allocated_ones() {
        // Before: free 3, 5, 8; high water 10. After: 5 still free, 4 freed (pending), 11 free.
        let w = written_pages(&[3, 5, 8], 10, &[4, 5, 11], 13, 100).unwrap();
        assert_eq!(w, vec![3, 8, 10, 12]);
        assert_eq!(written_pages(&[3, 5, 8], 10, &[4, 5, 11], 13, 3), None, "past the limit");
        // A high water mark that went down (a torn or foreign meta) writes nothing above it.
        assert_eq!(written_pages(&[3], 10, &[], 5, 100).unwrap(), vec![3]);
    }

    #[test]
    fn pages_hash_covers_every_byte_and_the_order() {
        let map: Vec<u8> = (0..4 * 64).map(|i| i as u8).collect();
        let h = |ids: &[u64], map: &[u8]| {
            pages_hash(5, 64, ids.iter().copied(), |id| mapped_page(map, 64, id))
        };
        let base = h(&[1, 3], &map).unwrap();
        assert_ne!(base, h(&[3, 1], &map).unwrap());
        let mut torn = map.clone();
        torn[3 * 64 + 63] ^= 0x80;
        assert_ne!(base, h(&[1, 3], &torn).unwrap());
        assert_eq!(h(&[4], &map), None, "beyond the mapping");
    }
}
