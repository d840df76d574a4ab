//! The database: opening (meta selection, freelist load), transactions, closing.
//!
//! Open validates both metas and uses the valid one with the highest txid; it fails only when
//! both are invalid, naming both reasons. A writable open takes the file's exclusive lock, so a
//! second writer (another process on a real disk, another handle on a simulated one) is
//! refused. A read-only open takes no lock (the seam offers only exclusive locks) and never
//! writes.
//!
//! Mapping: the database keeps the [`Mapping`] of the file as of the last commit; a new
//! transaction takes a clone of it. Each commit maps the file again, so the next transaction
//! sees the new pages, while open readers keep the mapping they started with. Growth never
//! invalidates a reader's data: the file only grows, and a `Mapping` stays valid as long as it
//! lives (on the real disk the old mmap region stays mapped and backed by the file).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use sim::io::{Disk, DiskError, File, Mapping, OpenOptions};

use crate::audit::{Audit, Violation};
use crate::dirty::DirtyPages;
use crate::error::{Corruption, Error, MetaError, PageProblem, Result};
use crate::freelist::Freelist;
use crate::meta::{Meta, META_SIZE};
use crate::node::NodePool;
use crate::opened::{OpenReport, SlotBytes};
use crate::options::Options;
use crate::page::{
    page_bytes, page_with_header, PageHeader, Pgid, FREELIST_PAGE, LEAF_PAGE, PAGE_HEADER_SIZE,
};
use crate::planted;
use crate::record::{self, CommitRecord, RECORD_AT, RECORD_SIZE};
use crate::tx::Tx;

/// Shared state of an open database.
pub(crate) struct DbState {
    pub disk: Rc<dyn Disk>,
    pub path: String,
    /// `None` once closed.
    pub file: Option<Box<dyn File>>,
    pub options: Options,
    pub page_size: usize,
    /// The meta of the last commit.
    pub meta: Meta,
    pub map: Mapping,
    /// Whether `map` shows writes made after it was taken (a real mmap) rather than being a
    /// snapshot of the file (the simulated disk's). Assumed live at open, learnt at each
    /// commit (`commit::write_out`). A snapshot mapping is dropped while a commit writes, so
    /// that the simulated disk updates its image in place instead of copying the whole file
    /// to keep the snapshot intact.
    pub map_is_live: bool,
    pub freelist: Freelist,
    /// Open readers by the txid they read at.
    pub readers: BTreeMap<u64, usize>,
    pub writer: bool,
    /// Set when a commit failed on the disk: writes are refused until reopen.
    pub fail_stop: Option<String>,
    pub file_len: u64,
    /// Whether the meta of the last commit carries a commit record.
    pub meta_has_record: bool,
    /// The last writer's node vectors and dirty page buffer, emptied, for the next writer to
    /// reuse (see `NodePool`).
    pub pool: NodePool,
    pub spare_dirty: DirtyPages,
    pub spare_arena: Vec<u8>,
    /// Whether writers keep pages they only overwrite as raw copies (`node::Raw`); always
    /// true but in tests comparing against the materializing path.
    pub raw_nodes: bool,
    /// Audit mode's state (`Options::audit`), `None` when off.
    pub audit: Option<Audit>,
    /// What open read and chose, until handed out.
    pub open_report: Option<OpenReport>,
    /// Writers that made pending pages free while a read transaction was open, since last
    /// handed out (a testbed's coverage of the reader/freelist interplay).
    pub releases_under_readers: u64,
}

/// A bolt database file.
#[derive(Clone)]
pub struct Db {
    state: Rc<RefCell<DbState>>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.state.borrow();
        write!(f, "Db({}, txid {})", s.path, s.meta.txid)
    }
}

/// The directory part of a `/`-separated path ("" for the disk's root).
fn parent_dir(path: &str) -> &str {
    path.rsplit_once('/').map(|(d, _)| d).unwrap_or("")
}

impl Db {
    /// Opens (or creates) the database file `path` on the real file system.
    pub fn open(path: impl AsRef<std::path::Path>, options: Options) -> Result<Db> {
        let path = path.as_ref();
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => std::path::PathBuf::from("."),
        };
        let name = path.file_name().ok_or_else(|| {
            Error::Disk(DiskError::Invalid {
                op: "open",
                path: path.display().to_string(),
                detail: "not a file path".into(),
            })
        })?;
        let disk = sim::real::disk::RealDisk::new(&dir)?;
        Db::open_on(disk, &name.to_string_lossy(), options)
    }

    /// Opens (or creates) the database file `path` on `disk`.
    pub fn open_on(disk: Rc<dyn Disk>, path: &str, options: Options) -> Result<Db> {
        let opts = if options.read_only { OpenOptions::read() } else { OpenOptions::create() };
        let file = disk.open(path, opts)?;
        if !options.read_only {
            file.try_lock()?;
        }
        let mut len = file.len()?;
        if len == 0 {
            if options.read_only {
                return Err(Error::FileTooShort { len });
            }
            init(&*file, options.page_size)?;
            disk.sync_dir(parent_dir(path))?;
            len = file.len()?;
        }
        let (newest, other, slots) = read_metas(&*file, len, options.page_size)?;
        let map = file.map()?;
        let (meta, meta_has_record, rejected_newest) =
            match checked_newest(&map, &newest, other.as_ref()) {
                Ok(()) => {
                    if !options.read_only {
                        persist_recorded_commit(&*file, &map, &newest, other.as_ref())?;
                    }
                    (newest.meta, newest.record.is_some(), false)
                }
                Err(older) => {
                    if !options.read_only {
                        clear_meta_slot(&*file, &newest.meta)?;
                    }
                    (older.meta, older.record.is_some(), true)
                }
            };
        let open_report = OpenReport { slots, chosen_txid: meta.txid, rejected_newest };
        let page_size = meta.page_size as usize;
        let needed = meta.pgid.saturating_mul(page_size as u64);
        if len < needed {
            let problem = PageProblem::OutOfBounds { end: needed, limit: len };
            return Err(Corruption::page(meta.pgid - 1, problem).into());
        }
        let fl_bytes = page_bytes(&map, page_size, meta.freelist, meta.pgid)?;
        let mut freelist = Freelist::read(fl_bytes, meta.freelist, meta.pgid)?;
        if let (true, Some(prev)) = (meta_has_record, other.filter(|o| o.meta.txid < meta.txid)) {
            // The next commit must not reuse the freelist page this meta's record is checked
            // against (see `record`) until its own commit is durable.
            let fl = prev.meta.freelist;
            let overflow = page_with_header(&map, page_size, fl, prev.meta.pgid)
                .map_or(0, |(_, h)| h.overflow);
            freelist.hold(meta.txid + 1, fl, overflow);
        }
        let options_audit = options.audit;
        let state = DbState {
            disk,
            path: path.to_string(),
            file: Some(file),
            options,
            page_size,
            meta,
            map,
            map_is_live: true,
            freelist,
            readers: BTreeMap::new(),
            writer: false,
            fail_stop: None,
            file_len: len,
            meta_has_record,
            pool: NodePool::default(),
            spare_dirty: DirtyPages::default(),
            spare_arena: Vec::new(),
            raw_nodes: true,
            audit: options_audit.then(Audit::default),
            open_report: Some(open_report),
            releases_under_readers: 0,
        };
        Ok(Db { state: Rc::new(RefCell::new(state)) })
    }

    /// Begins a transaction: a writable one (only one at a time) or a read-only snapshot.
    pub fn begin(&self, writable: bool) -> Result<Tx> {
        Tx::begin(&self.state, writable)
    }

    /// Runs `f` in a writable transaction; commits if it returns `Ok`, rolls back otherwise.
    pub fn update<T>(&self, f: impl FnOnce(&Tx) -> Result<T>) -> Result<T> {
        let tx = self.begin(true)?;
        let out = f(&tx);
        match out {
            Ok(v) => {
                tx.commit()?;
                Ok(v)
            }
            Err(e) => {
                tx.rollback()?;
                Err(e)
            }
        }
    }

    /// Runs `f` in a read-only transaction.
    pub fn view<T>(&self, f: impl FnOnce(&Tx) -> Result<T>) -> Result<T> {
        let tx = self.begin(false)?;
        let out = f(&tx);
        tx.rollback()?;
        out
    }

    /// Turns raw nodes (`node::Raw`) on or off for later writers.
    #[cfg(test)]
    pub(crate) fn set_raw_nodes(&self, on: bool) {
        self.state.borrow_mut().raw_nodes = on;
    }

    /// Closes the database: releases the file (and its lock). Later calls fail with
    /// `DatabaseNotOpen`; transactions already open keep their snapshot but cannot commit. On
    /// a real disk the lock is released once the last open transaction (holding a mapping of
    /// the file) is dropped too. If the last commit carried a commit record, its meta is
    /// rewritten without one first (see `record`), so a cleanly closed file is trusted as bolt
    /// trusts it: a page damaged later is reported, not taken for an interrupted commit.
    pub fn close(&self) -> Result<()> {
        let mut s = self.state.borrow_mut();
        let Some(file) = s.file.take() else { return Err(Error::DatabaseNotOpen) };
        if s.meta_has_record && s.fail_stop.is_none() && !s.options.read_only {
            let at = (s.meta.txid % 2) * s.page_size as u64;
            file.write_at(at, &s.meta.to_page())?;
            file.sync()?;
            s.meta_has_record = false;
        }
        // A live mmap keeps the file (and so its flock) referenced: drop ours too.
        s.map = Mapping::empty();
        Ok(())
    }

    /// `Options::one_flush_max_bytes` as the next commit uses it.
    pub fn one_flush_max_bytes(&self) -> usize {
        self.state.borrow().options.one_flush_max_bytes
    }

    /// Sets `Options::one_flush_max_bytes` for the commits from now on.
    pub fn set_one_flush_max_bytes(&self, bytes: usize) {
        self.state.borrow_mut().options.one_flush_max_bytes = bytes;
    }

    /// Whether the database was opened read-only.
    pub fn is_read_only(&self) -> bool {
        self.state.borrow().options.read_only
    }

    /// The page size of the file.
    pub fn page_size(&self) -> usize {
        self.state.borrow().page_size
    }

    /// The meta of the last commit.
    pub fn meta(&self) -> Meta {
        self.state.borrow().meta
    }

    /// The committed freelist (free and pending ids).
    pub fn freelist(&self) -> Freelist {
        self.state.borrow().freelist.clone()
    }

    /// What the open of this database read and chose, the first time it is asked (`None`
    /// after that).
    pub fn take_open_report(&self) -> Option<OpenReport> {
        self.state.borrow_mut().open_report.take()
    }

    /// How many writers, since the last call, made pages freed by earlier transactions
    /// reusable while a read transaction was open (the moment a reuse-under-reader bug acts).
    pub fn take_releases_under_readers(&self) -> u64 {
        std::mem::take(&mut self.state.borrow_mut().releases_under_readers)
    }

    /// The rules audit mode saw broken since the last call (always empty when it is off).
    pub fn take_audit_violations(&self) -> Vec<Violation> {
        match &mut self.state.borrow_mut().audit {
            Some(a) => a.take_violations(),
            None => Vec::new(),
        }
    }

    /// The disk this database lives on.
    pub fn disk(&self) -> Rc<dyn Disk> {
        self.state.borrow().disk.clone()
    }
}

/// Writes a new, empty database: metas on pages 0 and 1 (txids 0 and 1), an empty freelist on
/// page 2 and an empty root leaf on page 3; then syncs.
fn init(file: &dyn File, page_size: usize) -> Result<()> {
    assert!(
        page_size.is_power_of_two() && (512..=65536).contains(&page_size),
        "page size {page_size} must be a power of two in 512..=65536"
    );
    let mut buf = vec![0u8; 4 * page_size];
    for txid in 0..2u64 {
        let page = Meta::new(page_size as u32, 3, 2, 4, txid).to_page();
        let at = txid as usize * page_size;
        buf[at..at + page_size].copy_from_slice(&page);
    }
    PageHeader { id: 2, flags: FREELIST_PAGE, count: 0, overflow: 0 }
        .encode(&mut buf[2 * page_size..]);
    PageHeader { id: 3, flags: LEAF_PAGE, count: 0, overflow: 0 }.encode(&mut buf[3 * page_size..]);
    file.write_at(0, &buf)?;
    file.sync()?;
    Ok(())
}

/// A valid meta and the commit record beside it, if it has one.
#[derive(Clone, Copy, Debug)]
struct SlotMeta {
    meta: Meta,
    record: Option<CommitRecord>,
}

/// Reads the meta (and any commit record) at byte `offset`; also returns the bytes read.
fn read_meta_at(
    file: &dyn File,
    len: u64,
    offset: u64,
) -> Result<(Result<SlotMeta, MetaError>, SlotBytes)> {
    let n = (len.saturating_sub(offset) as usize).min(RECORD_AT + RECORD_SIZE);
    let mut buf = vec![0u8; n];
    if n > 0 {
        file.read_exact_at(offset, &mut buf)?;
    }
    let needed = offset + (PAGE_HEADER_SIZE + META_SIZE) as u64;
    let meta = if len < needed {
        Err(MetaError::Truncated { file_len: len, needed })
    } else {
        Meta::from_page(&buf).map(|meta| SlotMeta {
            meta,
            record: CommitRecord::decode_for(&buf[RECORD_AT..], &meta),
        })
    };
    Ok((meta, SlotBytes { offset, bytes: buf }))
}

/// Both metas as read: the valid one with the highest txid and the other if it is valid, and
/// the bytes of both slots.
type Metas = (SlotMeta, Option<SlotMeta>, [SlotBytes; 2]);

/// Reads both metas: the valid one with the highest txid, and the other if it is valid. Meta 1
/// sits one page after meta 0; when meta 0 is invalid its page size is unknown, so every legal
/// page size is tried (the configured one first).
fn read_metas(file: &dyn File, len: u64, configured: usize) -> Result<Metas> {
    let (m0, bytes0) = read_meta_at(file, len, 0)?;
    let mut sizes = vec![configured as u64];
    match &m0 {
        Ok(m) => sizes = vec![u64::from(m.meta.page_size)],
        Err(_) => sizes.extend((9..=16).map(|s| 1u64 << s).filter(|&s| s != configured as u64)),
    }
    let mut m1 = Err(MetaError::Truncated { file_len: len, needed: 0 });
    let mut bytes1 = SlotBytes { offset: configured as u64, bytes: Vec::new() };
    for (n, ps) in sizes.into_iter().enumerate() {
        let (r, bytes) = read_meta_at(file, len, ps)?;
        if r.is_ok() || n == 0 {
            m1 = r;
            bytes1 = bytes;
        }
        if m1.is_ok() {
            break;
        }
    }
    let slots = [bytes0, bytes1];
    match (m0, m1) {
        (Ok(a), Ok(b))
            if (b.meta.txid > a.meta.txid)
                != sim::planted::active(&planted::OPEN_PICKS_OLDER_META) =>
        {
            Ok((b, Some(a), slots))
        }
        (Ok(a), Ok(b)) => Ok((a, Some(b), slots)),
        (Ok(a), Err(_)) => Ok((a, None, slots)),
        (Err(_), Ok(b)) => Ok((b, None, slots)),
        (Err(meta0), Err(meta1)) => Err(Error::InvalidMetas { meta0, meta1 }),
    }
}

/// Checks the newest meta's commit record, if it has one (see `record`): `Err(older meta)` when
/// the pages it names did not all reach the disk. A meta without a record is trusted (its pages
/// were flushed before it was written), and so is one whose predecessor is not in the other
/// slot: that happens only after a rejected meta's slot was cleared, and then this meta's
/// successor was written, so its own commit had completed.
fn checked_newest(map: &[u8], newest: &SlotMeta, other: Option<&SlotMeta>) -> Result<(), SlotMeta> {
    let (Some(rec), Some(prev)) = (newest.record, other) else { return Ok(()) };
    if prev.meta.txid.checked_add(1) != Some(newest.meta.txid) {
        return Ok(());
    }
    if sim::planted::active(&planted::COMMIT_RECORD_UNVERIFIED)
        || record_holds(map, &newest.meta, &rec, &prev.meta)
    {
        Ok(())
    } else {
        Err(*prev)
    }
}

/// The pages commit `meta` wrote, derived from its freelist and `prev`'s (at most `limit`).
fn derived_pages(map: &[u8], meta: &Meta, prev: &Meta, limit: u64) -> Option<Vec<Pgid>> {
    let ps = meta.page_size as usize;
    let free_ids = |m: &Meta| {
        let bytes = page_bytes(map, ps, m.freelist, m.pgid).ok()?;
        Some(Freelist::read(bytes, m.freelist, m.pgid).ok()?.all_ids())
    };
    let (prev_free, free) = (free_ids(prev)?, free_ids(meta)?);
    record::written_pages(&prev_free, prev.pgid, &free, meta.pgid, limit)
}

/// Makes the commit of a record-carrying newest meta durable again before anything builds on
/// it: its pages and its meta page are written once more (the bytes just read) and synced.
///
/// Why (fsyncgate): a one-flush commit whose flush failed with EIO stays readable from the page
/// cache although the disk dropped it. The engine refuses writes after that failure, but the
/// next open sees the commit, verifies its record against what it reads, and would build on
/// pages that a later power loss takes away. Bolt's protocol cannot get there (a meta is
/// written only after its pages were flushed); the WAL's open rewrites its tail for the same
/// reason. Costs one flush per open, and only when the last commit carries a record.
fn persist_recorded_commit(
    file: &dyn File,
    map: &[u8],
    newest: &SlotMeta,
    other: Option<&SlotMeta>,
) -> Result<()> {
    let (Some(rec), Some(prev)) = (newest.record, other) else { return Ok(()) };
    if prev.meta.txid.checked_add(1) != Some(newest.meta.txid) {
        return Ok(()); // its successor was written: this commit had completed (checked_newest)
    }
    let meta = &newest.meta;
    let ps = meta.page_size as usize;
    let ids = derived_pages(map, meta, &prev.meta, rec.pages).unwrap_or_default();
    let slot = meta.txid % 2;
    for id in ids.into_iter().chain(std::iter::once(slot)) {
        let page = record::mapped_page(map, ps, id)
            .ok_or_else(|| {
                let problem =
                    PageProblem::OutOfBounds { end: (id + 1) * ps as u64, limit: map.len() as u64 };
                Corruption::page(id, problem)
            })?
            .to_vec();
        file.write_at(id * ps as u64, &page)?;
    }
    file.sync()?;
    Ok(())
}

/// Whether the pages commit `meta` wrote (derived from its freelist and `prev`'s) are the ones
/// `rec` counted and hashed.
fn record_holds(map: &[u8], meta: &Meta, rec: &CommitRecord, prev: &Meta) -> bool {
    let ps = meta.page_size as usize;
    let Some(ids) = derived_pages(map, meta, prev, rec.pages) else { return false };
    let hash = record::pages_hash(meta.txid, ps, ids.iter().copied(), |id| {
        record::mapped_page(map, ps, id)
    });
    ids.len() as u64 == rec.pages && hash == Some(rec.hash)
}

/// Zeroes the slot of a meta whose commit did not reach the disk, so that no reader that ignores
/// commit records (bbolt) picks it; the next commit writes this slot again.
fn clear_meta_slot(file: &dyn File, meta: &Meta) -> Result<()> {
    let ps = u64::from(meta.page_size);
    file.write_at((meta.txid % 2) * ps, &vec![0u8; ps as usize])?;
    file.sync()?;
    Ok(())
}
