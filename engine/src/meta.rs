//! The meta page: the root of everything, written last by every commit.
//!
//! Pages 0 and 1 are meta pages; a transaction with id `txid` writes its meta to page
//! `txid % 2`, so the previous commit's meta survives a torn meta write. At open the valid meta
//! with the highest txid wins. Layout, at offset 16 of the page (after the page header, whose
//! flags are 0x04), little-endian:
//! ```text
//! offset  size  field
//!      0     4  magic      0xED0CDAED
//!      4     4  version    2
//!      8     4  page_size  bytes per page
//!     12     4  flags      unused, 0
//!     16    16  root       the root bucket's header {root pgid u64, sequence u64}
//!     32     8  freelist   page id of the freelist page
//!     40     8  pgid       high water mark: first page id past the end of the data
//!     48     8  txid       id of the transaction that wrote this meta
//!     56     8  checksum   FNV-1a 64 over bytes 0..56 of this structure
//! ```

use crate::bucket::BucketHeader;
use crate::error::MetaError;
use crate::page::{
    put_u32, put_u64, u32_at, u64_at, PageHeader, Pgid, META_PAGE, PAGE_HEADER_SIZE,
};
use crate::planted;

/// The magic number that marks a bolt file.
pub const MAGIC: u32 = 0xED0C_DAED;
/// The only file format version.
pub const VERSION: u32 = 2;
/// Size of the meta structure.
pub const META_SIZE: usize = 64;
/// Bytes covered by the checksum.
const CHECKSUMMED: usize = 56;

/// FNV-1a, 64-bit (the hash bbolt's meta checksum uses).
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// A decoded meta.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Meta {
    pub magic: u32,
    pub version: u32,
    pub page_size: u32,
    pub flags: u32,
    pub root: BucketHeader,
    pub freelist: Pgid,
    pub pgid: Pgid,
    pub txid: u64,
    pub checksum: u64,
}

impl Meta {
    /// A fresh meta for a new database.
    pub fn new(page_size: u32, root: Pgid, freelist: Pgid, pgid: Pgid, txid: u64) -> Meta {
        let mut m = Meta {
            magic: MAGIC,
            version: VERSION,
            page_size,
            flags: 0,
            root: BucketHeader { root, sequence: 0 },
            freelist,
            pgid,
            txid,
            checksum: 0,
        };
        m.checksum = m.sum64();
        m
    }

    /// Decodes the 64-byte structure (no validation). `b` must hold at least 64 bytes.
    pub fn decode(b: &[u8]) -> Meta {
        assert!(b.len() >= META_SIZE, "meta needs {META_SIZE} bytes, got {}", b.len());
        Meta {
            magic: u32_at(b, 0),
            version: u32_at(b, 4),
            page_size: u32_at(b, 8),
            flags: u32_at(b, 12),
            root: BucketHeader::decode(&b[16..32]),
            freelist: u64_at(b, 32),
            pgid: u64_at(b, 40),
            txid: u64_at(b, 48),
            checksum: u64_at(b, 56),
        }
    }

    /// Encodes the 64-byte structure, with the checksum as stored in `self`.
    pub fn encode(&self, b: &mut [u8]) {
        put_u32(b, 0, self.magic);
        put_u32(b, 4, self.version);
        put_u32(b, 8, self.page_size);
        put_u32(b, 12, self.flags);
        self.root.encode(&mut b[16..32]);
        put_u64(b, 32, self.freelist);
        put_u64(b, 40, self.pgid);
        put_u64(b, 48, self.txid);
        put_u64(b, 56, self.checksum);
        let back = Meta::decode(b);
        assert!(back == *self, "meta encoding does not round-trip: {self:?} came back {back:?}");
    }

    /// The checksum this meta should carry.
    pub fn sum64(&self) -> u64 {
        let mut b = [0u8; META_SIZE];
        self.encode(&mut b);
        fnv1a64(&b[..CHECKSUMMED])
    }

    /// Checks magic, version, checksum, page size and that the ids it names lie below the high
    /// water mark.
    pub fn validate(&self) -> Result<(), MetaError> {
        if self.magic != MAGIC {
            return Err(MetaError::BadMagic { found: self.magic });
        }
        if self.version != VERSION {
            return Err(MetaError::BadVersion { found: self.version });
        }
        let computed = self.sum64();
        if self.checksum != computed && !sim::planted::active(&planted::META_CHECKSUM_UNCHECKED) {
            return Err(MetaError::BadChecksum { stored: self.checksum, computed });
        }
        if !self.page_size.is_power_of_two() || !(512..=65536).contains(&self.page_size) {
            return Err(MetaError::BadPageSize { found: self.page_size });
        }
        let hw = self.pgid;
        for (field, pgid) in [("root", self.root.root), ("freelist", self.freelist)] {
            if pgid < 2 || pgid >= hw {
                return Err(MetaError::BadPageId { field, pgid, high_water: hw });
            }
        }
        Ok(())
    }

    /// Decodes and validates the meta in `page` (a whole meta page as read from the file).
    pub fn from_page(page: &[u8]) -> Result<Meta, MetaError> {
        let header = PageHeader::decode(page).expect("caller passes at least a header");
        if header.flags != META_PAGE {
            return Err(MetaError::NotMetaPage { flags: header.flags });
        }
        let m = Meta::decode(&page[PAGE_HEADER_SIZE..]);
        m.validate()?;
        Ok(m)
    }

    /// A full meta page for slot `txid % 2`, with a fresh checksum.
    pub fn to_page(&self) -> Vec<u8> {
        let mut m = *self;
        m.checksum = m.sum64();
        let mut page = vec![0u8; self.page_size as usize];
        PageHeader { id: self.txid % 2, flags: META_PAGE, count: 0, overflow: 0 }.encode(&mut page);
        m.encode(&mut page[PAGE_HEADER_SIZE..]);
        page
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_matches_reference_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn round_trip_and_validation() {
        let m = Meta::new(4096, 3, 2, 4, 7);
        let page = m.to_page();
        assert_eq!(u32_at(&page, 16), MAGIC);
        assert_eq!(PageHeader::decode(&page).unwrap().id, 1);
        assert_eq!(Meta::from_page(&page).unwrap(), m);
        let mut bad = page.clone();
        bad[16 + 50] ^= 1;
        assert!(matches!(Meta::from_page(&bad), Err(MetaError::BadChecksum { .. })));
        let mut bad = page.clone();
        bad[16] ^= 1;
        assert!(matches!(Meta::from_page(&bad), Err(MetaError::BadMagic { .. })));
        let mut v = m;
        v.version = 1;
        v.checksum = v.sum64();
        assert_eq!(v.validate(), Err(MetaError::BadVersion { found: 1 }));
        let mut r = m;
        r.root.root = 9;
        r.checksum = r.sum64();
        assert!(matches!(r.validate(), Err(MetaError::BadPageId { field: "root", .. })));
    }
}
