//! Read-only inspection of a database file's bytes: what `bbolt info`, `bbolt pages` and
//! `bbolt check` show, as typed data.
//!
//! Everything here works on the file's raw bytes (`&[u8]`); [`read_image`] reads them from any
//! [`Disk`] through a read-only handle. Nothing here opens the database for writing, takes a
//! lock or changes a byte, so inspecting a file can never repair, grow or damage it.
//!
//! Every entry point starts like [`Db::open`](crate::Db::open) does: decode both meta pages,
//! pick the valid one with the highest txid (meta 0 on a tie), and require the file to reach
//! that meta's high water mark. A file that fails there is not inspectable and the caller gets
//! an [`InspectError`] naming why (too short, neither meta valid, truncated below the high water
//! mark). Past that point damage is data, not an error: [`pages`] lists a page with garbage
//! flags as [`PageKind::Unknown`] and notes a wrong header id, and [`check`] returns the
//! engine's own [`check`](crate::check::check) problems (the same code `Tx::check` runs). No
//! input makes any of these functions panic.

use std::collections::BTreeSet;
use std::fmt;

use sim::io::{Disk, DiskError, OpenOptions};

use crate::check::{self as consistency, CheckProblem};
use crate::error::{Corruption, MetaError};
use crate::freelist::{Freelist, COUNT_OVERFLOW};
use crate::meta::{Meta, MAGIC, META_SIZE, VERSION};
use crate::page::{
    page_bytes, u64_at, PageHeader, Pgid, BRANCH_PAGE, FREELIST_PAGE, LEAF_PAGE, META_PAGE,
    PAGE_HEADER_SIZE,
};

/// Bytes a meta page occupies that matter: its page header plus the meta structure.
const META_PAGE_BYTES: usize = PAGE_HEADER_SIZE + META_SIZE;
/// The page size tried first for meta 1 when meta 0 cannot tell (the engine's default).
const FALLBACK_PAGE_SIZE: u64 = 4096;

/// Why a file cannot be inspected at all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InspectError {
    /// Reading the file through the disk seam failed.
    Disk(DiskError),
    /// The file is too short to hold even one meta page (an empty file included).
    TooShort { file_len: u64 },
    /// Neither meta page is valid: this is not an engine file, or both metas are damaged.
    NotADatabase { meta0: MetaError, meta1: MetaError },
    /// The file ends before the high water mark of the meta in use.
    Truncated { file_len: u64, needed: u64, meta: usize, high_water: Pgid, page_size: u32 },
    /// The freelist page named by the meta in use is malformed, so free pages are unknown.
    Freelist(Corruption),
}

impl fmt::Display for InspectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InspectError::Disk(e) => write!(f, "cannot read the file: {e}"),
            InspectError::TooShort { file_len } => write!(
                f,
                "not an engine file: {file_len} bytes is too short to hold a meta page \
                 ({META_PAGE_BYTES} bytes)"
            ),
            InspectError::NotADatabase { meta0, meta1 } => {
                write!(f, "not an engine file (both meta pages invalid): meta 0: {meta0}; ")?;
                write!(f, "meta 1: {meta1}")
            }
            InspectError::Truncated { file_len, needed, meta, high_water, page_size } => write!(
                f,
                "file truncated: {file_len} bytes, but meta {meta} names a high water mark of \
                 page {high_water} with {page_size}-byte pages ({needed} bytes)"
            ),
            InspectError::Freelist(c) => write!(f, "unreadable freelist: {c}"),
        }
    }
}

impl std::error::Error for InspectError {}

impl From<DiskError> for InspectError {
    fn from(e: DiskError) -> InspectError {
        InspectError::Disk(e)
    }
}

/// Reads the whole file `path` from `disk` through a read-only handle (no lock, no writes).
pub fn read_image(disk: &dyn Disk, path: &str) -> Result<Vec<u8>, InspectError> {
    let file = disk.open(path, OpenOptions::read())?;
    let len = file.len()?;
    let len = usize::try_from(len).map_err(|_| DiskError::Invalid {
        op: "read",
        path: path.to_string(),
        detail: format!("{len} bytes do not fit in memory"),
    })?;
    let mut bytes = vec![0u8; len];
    file.read_exact_at(0, &mut bytes)?;
    Ok(bytes)
}

/// One of the two meta slots as found in the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetaSlot {
    /// Byte offset of the slot's page (meta 1 sits one page size after meta 0).
    pub offset: u64,
    /// The page header's flags (`None` when the file ends before the slot).
    pub page_flags: Option<u16>,
    /// The decoded fields, valid or not (`None` when the file ends before the slot).
    pub raw: Option<Meta>,
    /// Whether the slot is a usable meta, and if not why (the engine's own validation).
    pub status: Result<(), MetaError>,
}

impl MetaSlot {
    /// Reads the slot at `offset` of `bytes`.
    fn read(bytes: &[u8], offset: u64) -> MetaSlot {
        let len = bytes.len() as u64;
        let end = offset.saturating_add(META_PAGE_BYTES as u64);
        if end > len {
            let status = Err(MetaError::Truncated { file_len: len, needed: end });
            return MetaSlot { offset, page_flags: None, raw: None, status };
        }
        let page = &bytes[offset as usize..end as usize];
        let header = PageHeader::decode(page);
        let raw = Meta::decode(&page[PAGE_HEADER_SIZE..]);
        MetaSlot {
            offset,
            page_flags: header.map(|h| h.flags),
            raw: Some(raw),
            status: Meta::from_page(page).map(|_| ()),
        }
    }

    /// The meta, if the slot is valid.
    pub fn valid(&self) -> Option<&Meta> {
        match (&self.status, &self.raw) {
            (Ok(()), Some(m)) => Some(m),
            _ => None,
        }
    }

    /// Whether the magic number is bbolt's.
    pub fn magic_ok(&self) -> bool {
        self.raw.is_some_and(|m| m.magic == MAGIC)
    }

    /// Whether the format version is the one we read.
    pub fn version_ok(&self) -> bool {
        self.raw.is_some_and(|m| m.version == VERSION)
    }

    /// Whether the stored checksum matches the meta's bytes.
    pub fn checksum_ok(&self) -> bool {
        self.raw.is_some_and(|m| m.checksum == m.sum64())
    }
}

/// What `info` shows: the page size, both metas, and which one is in use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Info {
    /// Length of the file in bytes.
    pub file_len: u64,
    /// The page size of the meta in use.
    pub page_size: u32,
    /// Meta 0 and meta 1.
    pub metas: [MetaSlot; 2],
    /// Index (0 or 1) of the meta in use: the valid one with the highest txid.
    pub current: usize,
}

impl Info {
    /// The meta in use.
    pub fn meta(&self) -> Meta {
        self.metas[self.current].valid().copied().expect("current meta is valid by construction")
    }

    /// The other meta's problem, if it is invalid (after a torn meta write this is normal).
    pub fn other_meta_problem(&self) -> Option<&MetaError> {
        self.metas[1 - self.current].status.as_ref().err()
    }
}

/// Decodes both metas and picks the one in use, checking that the file reaches its high water
/// mark.
pub fn info(bytes: &[u8]) -> Result<Info, InspectError> {
    let file_len = bytes.len() as u64;
    if bytes.len() < META_PAGE_BYTES {
        return Err(InspectError::TooShort { file_len });
    }
    let meta0 = MetaSlot::read(bytes, 0);
    // Meta 1's offset is one page size, which only a valid meta 0 states for sure; otherwise
    // try meta 0's claimed size, the default, then every legal size, keeping the first valid.
    let mut sizes: Vec<u64> = Vec::new();
    if let Some(m) = meta0.valid() {
        sizes.push(u64::from(m.page_size));
    } else {
        if let Some(m) = meta0.raw {
            if m.page_size.is_power_of_two() && (512..=65536).contains(&m.page_size) {
                sizes.push(u64::from(m.page_size));
            }
        }
        sizes.push(FALLBACK_PAGE_SIZE);
        sizes.extend((9..=16).map(|s| 1u64 << s));
        let mut seen = BTreeSet::new();
        sizes.retain(|s| seen.insert(*s));
    }
    let mut meta1 = MetaSlot::read(bytes, sizes[0]);
    for &ps in &sizes[1..] {
        if meta1.valid().is_some() {
            break;
        }
        let candidate = MetaSlot::read(bytes, ps);
        if candidate.valid().is_some() {
            meta1 = candidate;
        }
    }
    let current = match (meta0.valid(), meta1.valid()) {
        (Some(a), Some(b)) => usize::from(b.txid > a.txid),
        (Some(_), None) => 0,
        (None, Some(_)) => 1,
        (None, None) => {
            return Err(InspectError::NotADatabase {
                meta0: meta0.status.clone().expect_err("meta 0 is invalid"),
                meta1: meta1.status.clone().expect_err("meta 1 is invalid"),
            })
        }
    };
    let metas = [meta0, meta1];
    let meta = *metas[current].valid().expect("chosen meta is valid");
    let needed = meta.pgid.saturating_mul(u64::from(meta.page_size));
    if file_len < needed {
        return Err(InspectError::Truncated {
            file_len,
            needed,
            meta: current,
            high_water: meta.pgid,
            page_size: meta.page_size,
        });
    }
    Ok(Info { file_len, page_size: meta.page_size, metas, current })
}

/// A page's type, as `bbolt pages` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageKind {
    Meta,
    Branch,
    Leaf,
    Freelist,
    /// Listed in the freelist (free or pending); its bytes are stale and not decoded.
    Free,
    /// A continuation page of the multi-page page starting at `head`.
    Overflow {
        head: Pgid,
    },
    /// The header's flags are no known page type.
    Unknown {
        flags: u16,
    },
}

impl fmt::Display for PageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PageKind::Meta => write!(f, "meta"),
            PageKind::Branch => write!(f, "branch"),
            PageKind::Leaf => write!(f, "leaf"),
            PageKind::Freelist => write!(f, "freelist"),
            PageKind::Free => write!(f, "free"),
            PageKind::Overflow { head } => write!(f, "overflow of {head}"),
            PageKind::Unknown { flags } => write!(f, "unknown<{flags:02x}>"),
        }
    }
}

/// Something odd about a page seen while listing (the listing goes on).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageAnomaly {
    /// The header carries another page id; its overflow count is not trusted.
    HeaderId { found: Pgid },
    /// The page's overflow runs to page `last`, at or past the high water mark.
    OverflowPastEnd { last: Pgid, high_water: Pgid },
}

impl fmt::Display for PageAnomaly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PageAnomaly::HeaderId { found } => write!(f, "header id {found}"),
            PageAnomaly::OverflowPastEnd { last, high_water } => {
                write!(f, "overflow runs to page {last}, past the high water mark {high_water}")
            }
        }
    }
}

/// One page id below the high water mark.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageInfo {
    pub id: Pgid,
    pub kind: PageKind,
    /// Elements (branch, leaf), free ids (freelist page, with the 0xFFFF escape resolved), the
    /// raw header count (meta, unknown); 0 for free and overflow pages.
    pub items: u64,
    /// Extra pages this page spans (0 for free and overflow pages).
    pub overflow: u32,
    pub anomalies: Vec<PageAnomaly>,
}

/// Every page id below the high water mark of the meta in use, in order: free pages (from the
/// freelist page), then by header flags, with each multi-page page followed by one
/// [`PageKind::Overflow`] entry per continuation page (up to the high water mark).
pub fn pages(bytes: &[u8]) -> Result<Vec<PageInfo>, InspectError> {
    let info = info(bytes)?;
    let meta = info.meta();
    let ps = info.page_size as usize;
    let hw = meta.pgid;
    let fl = page_bytes(bytes, ps, meta.freelist, hw).map_err(InspectError::Freelist)?;
    let free: BTreeSet<Pgid> = Freelist::read(fl, meta.freelist, hw)
        .map_err(InspectError::Freelist)?
        .free_ids()
        .iter()
        .copied()
        .collect();
    let mut out = Vec::new();
    let mut id: Pgid = 0;
    while id < hw {
        if free.contains(&id) {
            out.push(PageInfo {
                id,
                kind: PageKind::Free,
                items: 0,
                overflow: 0,
                anomalies: Vec::new(),
            });
            id += 1;
            continue;
        }
        // In bounds: `info` checked that the file reaches the high water mark.
        let start = id as usize * ps;
        let page = &bytes[start..start + ps];
        let h = PageHeader::decode(page).expect("a page is longer than its header");
        let kind = match h.flags {
            META_PAGE => PageKind::Meta,
            BRANCH_PAGE => PageKind::Branch,
            LEAF_PAGE => PageKind::Leaf,
            FREELIST_PAGE => PageKind::Freelist,
            flags => PageKind::Unknown { flags },
        };
        let mut items = u64::from(h.count);
        if kind == PageKind::Freelist && h.count == COUNT_OVERFLOW {
            items = u64_at(page, PAGE_HEADER_SIZE);
        }
        let mut anomalies = Vec::new();
        let mut span = u64::from(h.overflow);
        if h.id != id {
            anomalies.push(PageAnomaly::HeaderId { found: h.id });
            span = 0;
        }
        let last = id.saturating_add(span);
        if last >= hw {
            anomalies.push(PageAnomaly::OverflowPastEnd { last, high_water: hw });
        }
        out.push(PageInfo { id, kind, items, overflow: h.overflow, anomalies });
        for cont in id + 1..=last.min(hw - 1) {
            out.push(PageInfo {
                id: cont,
                kind: PageKind::Overflow { head: id },
                items: 0,
                overflow: 0,
                anomalies: Vec::new(),
            });
        }
        id = last.saturating_add(1);
    }
    Ok(out)
}

/// What `check` found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckReport {
    /// The metas and which one was checked.
    pub info: Info,
    /// Every consistency problem of the snapshot the meta in use describes (empty: all good).
    pub problems: Vec<CheckProblem>,
}

/// Runs the engine's consistency check ([`crate::check::check`], the code behind `Tx::check`)
/// over the snapshot of the meta in use: every page reachable exactly once or free, freelist
/// disjoint from used pages and in bounds, page types and ids right, keys strictly ordered.
pub fn check(bytes: &[u8]) -> Result<CheckReport, InspectError> {
    let info = info(bytes)?;
    let problems = consistency::check(bytes, info.page_size as usize, &info.meta());
    Ok(CheckReport { info, problems })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::page::put_u64;
    use crate::{Db, Options};
    use sim::simulated::disk::{DiskConfig, SimDisk};
    use sim::Seed;

    const PS: usize = 512;

    /// A small database: a bucket with enough keys for a branch, a large value (overflow pages),
    /// and a second commit so the freelist holds something. Returns its bytes.
    fn sample() -> Vec<u8> {
        let d = SimDisk::new(Seed(7).stream("disk"), DiskConfig::default());
        let db =
            Db::open_on(d.clone(), "db", Options { page_size: PS, ..Options::default() }).unwrap();
        db.update(|tx| {
            let b = tx.create_bucket(b"b")?;
            for i in 0..100u32 {
                b.put(format!("key{i:03}").as_bytes(), b"value")?;
            }
            b.put(b"large", &[9u8; 2000])
        })
        .unwrap();
        db.update(|tx| tx.bucket(b"b")?.unwrap().delete(b"key050")).unwrap();
        db.close().unwrap();
        read_image(&*d, "db").unwrap()
    }

    /// Rewrites the meta at `offset` with `f` applied and a fresh checksum.
    fn edit_meta(bytes: &mut [u8], offset: usize, f: impl FnOnce(&mut Meta)) {
        let at = offset + PAGE_HEADER_SIZE;
        let mut m = Meta::decode(&bytes[at..]);
        f(&mut m);
        m.checksum = m.sum64();
        m.encode(&mut bytes[at..]);
    }

    #[test]
    fn info_of_a_sound_file() {
        let b = sample();
        let i = info(&b).unwrap();
        assert_eq!(i.page_size as usize, PS);
        assert_eq!(i.file_len, b.len() as u64);
        for s in &i.metas {
            assert!(s.magic_ok() && s.version_ok() && s.checksum_ok(), "{s:?}");
            assert_eq!(s.status, Ok(()));
        }
        assert_eq!(i.metas[1].offset, PS as u64);
        let (t0, t1) = (i.metas[0].raw.unwrap().txid, i.metas[1].raw.unwrap().txid);
        assert_eq!(i.current, usize::from(t1 > t0));
        assert_eq!(i.meta().txid, t0.max(t1));
        assert!(i.meta().pgid * PS as u64 <= b.len() as u64);
        assert_eq!(i.other_meta_problem(), None);
    }

    #[test]
    fn pages_cover_every_id_below_the_high_water_mark() {
        let b = sample();
        let i = info(&b).unwrap();
        let ps = pages(&b).unwrap();
        let ids: Vec<Pgid> = ps.iter().map(|p| p.id).collect();
        assert_eq!(ids, (0..i.meta().pgid).collect::<Vec<_>>());
        assert_eq!(ps[0].kind, PageKind::Meta);
        assert_eq!(ps[1].kind, PageKind::Meta);
        let kind_of = |id: Pgid| ps[id as usize].kind;
        assert_eq!(kind_of(i.meta().freelist), PageKind::Freelist);
        assert!(ps.iter().any(|p| p.kind == PageKind::Branch), "100 keys need a branch");
        assert!(ps.iter().any(|p| p.kind == PageKind::Free), "the second commit frees pages");
        let big = ps.iter().find(|p| p.kind == PageKind::Leaf && p.overflow >= 3).unwrap();
        assert!(big.items >= 1, "{big:?}");
        for k in 1..=u64::from(big.overflow) {
            assert_eq!(kind_of(big.id + k), PageKind::Overflow { head: big.id });
        }
        assert!(ps.iter().all(|p| p.anomalies.is_empty()));
        // The freelist's item count is its number of ids: the free pages listed.
        let free = ps.iter().filter(|p| p.kind == PageKind::Free).count() as u64;
        assert_eq!(ps[i.meta().freelist as usize].items, free);
    }

    #[test]
    fn check_passes_on_a_sound_file() {
        let r = check(&sample()).unwrap();
        assert_eq!(r.problems, vec![]);
    }

    #[test]
    fn short_and_empty_files_are_named() {
        assert_eq!(info(&[]), Err(InspectError::TooShort { file_len: 0 }));
        assert_eq!(pages(&[0u8; 40]), Err(InspectError::TooShort { file_len: 40 }));
        let msg = check(&[1u8; 79]).unwrap_err().to_string();
        assert!(msg.contains("79 bytes is too short"), "{msg}");
    }

    #[test]
    fn garbage_is_not_a_database() {
        let junk: Vec<u8> =
            (0..8192u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        match info(&junk) {
            Err(InspectError::NotADatabase {
                meta0: MetaError::NotMetaPage { .. } | MetaError::BadMagic { .. },
                ..
            }) => {}
            other => panic!("{other:?}"),
        }
        let msg = check(&junk).unwrap_err().to_string();
        assert!(msg.starts_with("not an engine file"), "{msg}");
    }

    #[test]
    fn one_bad_meta_falls_back_to_the_other() {
        let mut b = sample();
        let cur = info(&b).unwrap().current;
        let other_txid = info(&b).unwrap().metas[1 - cur].raw.unwrap().txid;
        // Flip a byte of the current meta's txid: its checksum no longer matches.
        b[cur * PS + PAGE_HEADER_SIZE + 48] ^= 0x40;
        let i = info(&b).unwrap();
        assert_eq!(i.current, 1 - cur);
        assert_eq!(i.meta().txid, other_txid);
        assert!(!i.metas[cur].checksum_ok());
        assert!(i.metas[cur].magic_ok());
        assert!(matches!(i.other_meta_problem(), Some(MetaError::BadChecksum { .. })));
        // The older snapshot is still consistent (its pages were pending, not reused).
        assert_eq!(check(&b).unwrap().problems, vec![]);
    }

    #[test]
    fn meta_one_is_found_when_meta_zero_is_destroyed() {
        let mut b = sample();
        b[..PS].fill(0xAB);
        let i = info(&b).unwrap();
        assert_eq!(i.current, 1);
        assert_eq!(i.metas[1].offset, PS as u64);
        assert!(!i.metas[0].magic_ok());
        assert!(matches!(i.metas[0].status, Err(MetaError::NotMetaPage { flags: 0xABAB })));
    }

    #[test]
    fn both_metas_bad_names_both() {
        let mut b = sample();
        b[PAGE_HEADER_SIZE] ^= 1; // meta 0 magic
        b[PS + PAGE_HEADER_SIZE + 4] ^= 1; // meta 1 version
        match info(&b) {
            Err(InspectError::NotADatabase {
                meta0: MetaError::BadMagic { .. },
                meta1: MetaError::BadVersion { .. } | MetaError::BadChecksum { .. },
            }) => {}
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn truncation_below_the_high_water_mark_is_an_error() {
        let b = sample();
        let hw = info(&b).unwrap().meta().pgid;
        let cut = &b[..(hw as usize - 1) * PS];
        match check(cut) {
            Err(InspectError::Truncated { high_water, page_size, .. }) => {
                assert_eq!((high_water, page_size as usize), (hw, PS));
            }
            other => panic!("{other:?}"),
        }
        assert!(pages(cut).unwrap_err().to_string().starts_with("file truncated"));
    }

    #[test]
    fn out_of_range_ids_in_a_valid_meta_are_rejected() {
        let mut b = sample();
        for slot in [0, PS] {
            edit_meta(&mut b, slot, |m| m.root.root = 1 << 40);
        }
        match info(&b) {
            Err(InspectError::NotADatabase {
                meta0: MetaError::BadPageId { field: "root", .. },
                meta1: MetaError::BadPageId { field: "root", .. },
            }) => {}
            other => panic!("{other:?}"),
        }
        // A high water mark far beyond the file: truncated, not a huge allocation or a panic.
        let mut b = sample();
        for slot in [0, PS] {
            edit_meta(&mut b, slot, |m| m.pgid = u64::MAX / 2);
        }
        assert!(matches!(info(&b), Err(InspectError::Truncated { .. })));
    }

    #[test]
    fn garbage_page_type_is_listed_and_checked() {
        let mut b = sample();
        let ps = pages(&b).unwrap();
        let leaf = ps.iter().find(|p| p.kind == PageKind::Leaf).unwrap().id as usize;
        b[leaf * PS + 8] = 0x77;
        b[leaf * PS + 9] = 0;
        let ps = pages(&b).unwrap();
        assert_eq!(ps[leaf].kind, PageKind::Unknown { flags: 0x77 });
        assert_eq!(ps[leaf].kind.to_string(), "unknown<77>");
        let problems = check(&b).unwrap().problems;
        assert!(
            problems.contains(&CheckProblem::InvalidPageType { pgid: leaf as u64, flags: 0x77 }),
            "{problems:?}"
        );
    }

    #[test]
    fn wrong_header_id_and_runaway_overflow_are_anomalies() {
        let sound = sample();
        let ps = pages(&sound).unwrap();
        let hw = info(&sound).unwrap().meta().pgid;
        let leaf = ps.iter().find(|p| p.kind == PageKind::Leaf).unwrap().id as usize;
        let mut b = sound.clone();
        put_u64(&mut b, leaf * PS, 999);
        assert_eq!(pages(&b).unwrap()[leaf].anomalies, vec![PageAnomaly::HeaderId { found: 999 }]);
        let problems = check(&b).unwrap().problems;
        assert!(
            problems.contains(&CheckProblem::PageIdMismatch { pgid: leaf as u64, found: 999 }),
            "{problems:?}"
        );

        let branch = ps.iter().find(|p| p.kind == PageKind::Branch).unwrap().id as usize;
        let mut b = sound.clone();
        b[branch * PS + 12..branch * PS + 16].copy_from_slice(&u32::MAX.to_le_bytes());
        let ps = pages(&b).unwrap();
        let ids: Vec<Pgid> = ps.iter().map(|p| p.id).collect();
        assert_eq!(ids, (0..hw).collect::<Vec<_>>(), "still one entry per id below hw");
        let br = &ps[branch];
        assert!(matches!(br.anomalies[..], [PageAnomaly::OverflowPastEnd { .. }]), "{br:?}");
        let problems = check(&b).unwrap().problems;
        assert!(
            problems.iter().any(|p| matches!(p, CheckProblem::OutOfBounds { high_water, .. }
                if *high_water == hw)),
            "{problems:?}"
        );
    }

    #[test]
    fn bad_freelist_stops_pages_but_is_a_check_problem() {
        let mut b = sample();
        let i = info(&b).unwrap();
        let fl = i.meta().freelist as usize * PS;
        // One more id than there are, pointing past the high water mark.
        let count = u16::from_le_bytes([b[fl + 10], b[fl + 11]]);
        b[fl + 10..fl + 12].copy_from_slice(&(count + 1).to_le_bytes());
        put_u64(&mut b, fl + PAGE_HEADER_SIZE + 8 * usize::from(count), i.meta().pgid + 5);
        let e = pages(&b).unwrap_err();
        assert!(matches!(e, InspectError::Freelist(_)), "{e:?}");
        assert!(e.to_string().contains("outside"), "{e}");
        let problems = check(&b).unwrap().problems;
        assert!(
            problems.iter().any(|p| matches!(p, CheckProblem::OutOfBounds { .. })),
            "{problems:?}"
        );
    }

    #[test]
    fn a_free_page_still_in_use_is_reported() {
        let mut b = sample();
        let i = info(&b).unwrap();
        let root = pages(&b).unwrap().into_iter().find(|p| p.kind == PageKind::Branch).unwrap();
        let fl = i.meta().freelist as usize * PS;
        let count = u16::from_le_bytes([b[fl + 10], b[fl + 11]]);
        b[fl + 10..fl + 12].copy_from_slice(&(count + 1).to_le_bytes());
        put_u64(&mut b, fl + PAGE_HEADER_SIZE + 8 * usize::from(count), root.id);
        let problems = check(&b).unwrap().problems;
        assert!(problems.contains(&CheckProblem::ReachableFreed(root.id)), "{problems:?}");
        assert_eq!(pages(&b).unwrap()[root.id as usize].kind, PageKind::Free);
    }

    #[test]
    fn read_image_does_not_write() {
        let d = SimDisk::new(Seed(3).stream("disk"), DiskConfig::default());
        let db =
            Db::open_on(d.clone(), "db", Options { page_size: PS, ..Options::default() }).unwrap();
        db.update(|tx| tx.create_bucket(b"x")?.put(b"k", b"v")).unwrap();
        db.close().unwrap();
        let before = read_image(&*d, "db").unwrap();
        let _ = check(&before).unwrap();
        assert_eq!(read_image(&*d, "db").unwrap(), before);
        assert!(!d.has_unsynced(), "inspection wrote nothing");
        assert!(matches!(read_image(&*d, "missing"), Err(InspectError::Disk(_))));
    }

    #[test]
    fn random_damage_never_panics() {
        use rand::Rng as _;
        let sound = sample();
        let mut rng = Seed(11).stream("inspect-damage");
        for round in 0..400 {
            let mut b = sound.clone();
            for _ in 0..rng.random_range(1..8) {
                let at = rng.random_range(0..b.len());
                b[at] ^= 1 << rng.random_range(0..8);
            }
            if round % 5 == 0 {
                b.truncate(rng.random_range(0..b.len()));
            }
            // Any outcome is fine as long as it is a value, not a panic; and the three agree on
            // whether the file is inspectable at all.
            let i = info(&b).is_ok();
            assert_eq!(check(&b).is_ok(), i, "round {round}");
            if let Ok(ps) = pages(&b) {
                assert!(i);
                assert_eq!(ps.len() as u64, info(&b).unwrap().meta().pgid, "round {round}");
            }
        }
    }
}
