//! The WAL in append mode: create, open (replaying what is there), save, cut, release.

use std::rc::Rc;

use sim::io::{Disk, File};
use sim::planted;

use crate::core::{Codec, Entry, HardState, SnapshotMetadata};

use super::decoder::Decoder;
use super::encoder::Encoder;
use super::error::WalError;
use super::pipeline::FilePipeline;
use super::read::{open_segments, replay, OpenedSegments, WalContents};
use super::record::RecordType;
use super::repair::{repair, Repair};
use super::segment::{self, join, parent, SegmentName};

/// The segment size etcd uses: 64,000,000 bytes.
pub const DEFAULT_SEGMENT_SIZE: u64 = 64_000_000;

/// WAL knobs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalConfig {
    /// Size segments are preallocated to; a save that leaves the tail at or past it cuts a new
    /// segment. Small in simulation so that cuts happen often.
    pub segment_size: u64,
}

impl Default for WalConfig {
    fn default() -> WalConfig {
        WalConfig { segment_size: DEFAULT_SEGMENT_SIZE }
    }
}

/// A segment the WAL holds open and locked.
struct LockedSegment {
    name: SegmentName,
    file: Box<dyn File>,
}

/// An open, locked WAL ready for appending.
///
/// Invariants: `locks` is non-empty, in sequence order, and its last element is the tail that
/// records go to; the encoder's offset is the end of the last record in the tail. After any
/// error from a writing method the WAL is poisoned (every later call fails with
/// [`WalError::Poisoned`]): like etcd, the caller must stop and reopen from disk, because a
/// failed write or sync leaves the file's durable contents unknown.
pub struct Wal {
    disk: Rc<dyn Disk>,
    dir: String,
    config: WalConfig,
    metadata: Vec<u8>,
    state: HardState,
    last_index: u64,
    locks: Vec<LockedSegment>,
    encoder: Encoder,
    pipeline: Option<FilePipeline>,
    poisoned: bool,
    /// Reused buffer for encoding one record's data.
    scratch: Vec<u8>,
}

impl std::fmt::Debug for Wal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wal")
            .field("dir", &self.dir)
            .field("segments", &self.locked_segments())
            .field("offset", &self.encoder.end())
            .field("last_index", &self.last_index)
            .finish()
    }
}

impl Wal {
    /// Whether `dir` holds any segment.
    pub fn exists(disk: &dyn Disk, dir: &str) -> Result<bool, WalError> {
        Ok(!segment::list(disk, dir)?.is_empty())
    }

    /// Creates a WAL in `dir` whose first segment `0000000000000000-0000000000000000.wal` holds
    /// a crc record, `metadata`, and an empty snapshot marker (index 0, term 0).
    ///
    /// Atomic like etcd's (which renames a whole tmp directory; the disk seam renames files
    /// only): the first segment is written as a pipeline tmp file, synced, then renamed into
    /// place and the directory synced, so after a crash the WAL either does not exist or is
    /// complete.
    pub fn create(
        disk: Rc<dyn Disk>,
        dir: &str,
        metadata: &[u8],
        config: WalConfig,
    ) -> Result<Wal, WalError> {
        assert!(config.segment_size > 0, "segment size must be positive: {config:?}");
        if Wal::exists(&*disk, dir)? {
            return Err(WalError::AlreadyExists { dir: dir.to_string() });
        }
        disk.create_dir_all(dir)?;
        disk.sync_dir(parent(dir))?;
        let mut pipeline = FilePipeline::new(Rc::clone(&disk), dir, config.segment_size);
        let tmp = pipeline.take()?;
        let mut enc = Encoder::new(0, 0);
        enc.encode_crc();
        enc.encode(&*tmp.file, RecordType::Metadata, metadata)?;
        enc.encode(&*tmp.file, RecordType::Snapshot, &SnapshotMetadata::default().to_bytes())?;
        enc.flush(&*tmp.file)?;
        tmp.file.sync()?;
        let name = SegmentName { seq: 0, index: 0 };
        disk.rename(&tmp.path, &join(dir, &name.to_string()))?;
        disk.sync_dir(dir)?;
        pipeline.prepare_ahead();
        Ok(Wal {
            disk,
            dir: dir.to_string(),
            config,
            metadata: metadata.to_vec(),
            state: HardState::default(),
            last_index: 0,
            locks: vec![LockedSegment { name, file: tmp.file }],
            encoder: enc,
            pipeline: Some(pipeline),
            poisoned: false,
            scratch: Vec::new(),
        })
    }

    /// Opens the WAL in `dir` for appending, replaying everything after the snapshot `start`
    /// (only its index and term matter; a marker with both must have been saved, the initial
    /// one is (0, 0)). Locks every segment from the one holding `start.index` on.
    ///
    /// Must read to a clean end: a torn last record is [`WalError::TornTail`] (run
    /// [`super::repair`], or use [`Wal::open_repairing`]). Bytes after the last valid record
    /// in the tail (unsynced leftovers of a crash) are zeroed so that new records never sit in
    /// front of stale ones, and the tail's records are rewritten, then everything is synced:
    /// what was read is durable before it is built on, even if a failed sync of an earlier
    /// incarnation left records that reads see but the disk lost (one write of at most a
    /// segment per open).
    pub fn open(
        disk: Rc<dyn Disk>,
        dir: &str,
        start: &SnapshotMetadata,
        config: WalConfig,
    ) -> Result<(Wal, WalContents), WalError> {
        assert!(config.segment_size > 0, "segment size must be positive: {config:?}");
        let OpenedSegments { names, files, bytes } =
            open_segments(&*disk, dir, Some(start.index), true)?;
        let mut dec = Decoder::new(bytes);
        let replayed = replay(&mut dec, start, false)?;
        let tail_offset = dec.offset();
        let crc = dec.crc();
        let segments = dec.into_segments();
        let tail_bytes = &segments.last().expect("open_segments returns at least one").bytes;
        let tail = files.last().expect("one file per segment");
        // What we just read may not be on the disk: after a failed fsync (fsyncgate) a previous
        // incarnation's records stay readable in the page cache although the disk never got
        // them. Appending after them would make only the new records durable, behind a hole
        // that ends the log after a power loss. So the tail's records are written again and
        // synced before anything is appended (the failed records were never acknowledged;
        // keeping them is as harmless as a crash that happened to keep an unsynced write).
        // Earlier segments were synced before the cut that closed them succeeded; the names
        // are made durable too (a cut whose directory sync failed left the tail's name unsure).
        let valid = &tail_bytes[..tail_offset as usize];
        if !planted::active(&crate::planted::WAL_OPEN_TRUSTS_PAGE_CACHE) {
            tail.write_at(0, valid)?;
        }
        let stale = tail_bytes.get(tail_offset as usize..).unwrap_or(&[]);
        if !all_zero(stale) {
            let len = tail_bytes.len() as u64;
            tail.set_len(tail_offset)?;
            tail.allocate(len)?;
        }
        tail.sync()?;
        disk.sync_dir(dir)?;
        drop(segments);
        let mut pipeline = FilePipeline::new(Rc::clone(&disk), dir, config.segment_size);
        pipeline.prepare_ahead();
        let locks = names.into_iter().zip(files).map(|(name, file)| LockedSegment { name, file });
        let contents = replayed.contents;
        let wal = Wal {
            disk,
            dir: dir.to_string(),
            config,
            metadata: contents.metadata.clone(),
            state: contents.hard_state,
            last_index: replayed.last_index,
            locks: locks.collect(),
            encoder: Encoder::new(tail_offset, crc),
            pipeline: Some(pipeline),
            poisoned: false,
            scratch: Vec::new(),
        };
        Ok((wal, contents))
    }

    /// [`Wal::open`], and if the tail is torn, [`super::repair`] then open again (what etcd's
    /// server does on `ErrUnexpectedEOF`). Any other damage is returned as the error.
    pub fn open_repairing(
        disk: Rc<dyn Disk>,
        dir: &str,
        start: &SnapshotMetadata,
        config: WalConfig,
    ) -> Result<(Wal, WalContents, Repair), WalError> {
        match Wal::open(Rc::clone(&disk), dir, start, config) {
            Ok((wal, contents)) => Ok((wal, contents, Repair::Clean)),
            Err(WalError::TornTail { .. }) => {
                let repaired = repair(&*disk, dir)?;
                let (wal, contents) = Wal::open(disk, dir, start, config)?;
                Ok((wal, contents, repaired))
            }
            Err(e) => Err(e),
        }
    }

    fn tail(&self) -> &LockedSegment {
        self.locks.last().expect("a WAL always holds its tail")
    }

    /// Runs a writing step, poisoning the WAL if it fails.
    fn guarded<T>(
        &mut self,
        f: impl FnOnce(&mut Wal) -> Result<T, WalError>,
    ) -> Result<T, WalError> {
        if self.poisoned {
            return Err(WalError::Poisoned);
        }
        let r = f(self);
        if r.is_err() {
            self.poisoned = true;
        }
        r
    }

    fn encode(&mut self, kind: RecordType, data: &[u8]) -> Result<(), WalError> {
        Ok(self.encoder.encode(tail_file(&self.locks), kind, data)?)
    }

    /// Appends `entries` and then `state` (if not empty) and makes them durable when raft needs
    /// it (etcd's `MustSync`: entries were given, or term or vote changed). Cuts a new segment
    /// when the tail has reached the segment size (a cut always syncs).
    pub fn save(&mut self, state: &HardState, entries: &[Entry]) -> Result<(), WalError> {
        self.guarded(|w| {
            let empty_state = *state == HardState::default();
            if empty_state && entries.is_empty() {
                return Ok(());
            }
            let must_sync = if planted::active(&crate::planted::WAL_SYNC_ENTRIES_ONLY) {
                !entries.is_empty()
            } else {
                !entries.is_empty() || state.term != w.state.term || state.vote != w.state.vote
            };
            let mut buf = std::mem::take(&mut w.scratch);
            for e in entries {
                buf.clear();
                e.encode(&mut buf);
                w.encode(RecordType::Entry, &buf)?;
                w.last_index = e.index;
            }
            if !empty_state {
                w.state = *state;
                buf.clear();
                state.encode(&mut buf);
                w.encode(RecordType::State, &buf)?;
            }
            w.scratch = buf;
            w.encoder.flush(tail_file(&w.locks))?;
            if w.encoder.end() < w.config.segment_size {
                if must_sync {
                    w.tail().file.sync()?;
                }
                return Ok(());
            }
            w.cut()
        })
    }

    /// Records that a snapshot up to `snap.index` exists, and syncs. Opening at that snapshot
    /// later needs this marker.
    pub fn save_snapshot(&mut self, snap: &SnapshotMetadata) -> Result<(), WalError> {
        self.guarded(|w| {
            w.encode(RecordType::Snapshot, &snap.to_bytes())?;
            w.last_index = w.last_index.max(snap.index);
            w.encoder.flush(tail_file(&w.locks))?;
            Ok(w.tail().file.sync()?)
        })
    }

    /// Writes out and syncs everything appended so far.
    pub fn sync(&mut self) -> Result<(), WalError> {
        self.guarded(|w| {
            w.encoder.flush(tail_file(&w.locks))?;
            Ok(w.tail().file.sync()?)
        })
    }

    /// Makes the next write of buffered records to the tail two writes, split in the middle of
    /// the bytes: for BUGGIFY's short writes (a crash between them leaves a torn record, which
    /// reopening must cut off).
    pub fn split_next_write(&mut self) {
        self.encoder.split_next_flush();
    }

    /// Flushes and cuts a new segment now, whatever the tail's size: for BUGGIFY's "early WAL
    /// cut" (DESIGN.md), so that simulations exercise cuts at arbitrary points.
    pub fn cut_early(&mut self) -> Result<(), WalError> {
        self.guarded(|w| w.cut())
    }

    /// Closes the tail and starts the next segment:
    /// 1. truncate the tail at its end offset (dropping unused preallocation) and sync it;
    /// 2. take a preallocated tmp file from the pipeline;
    /// 3. write a crc record (the running CRC), the metadata and the hard state; sync;
    /// 4. rename it to `%016x-%016x.wal` (sequence + 1, last index + 1); sync the directory;
    /// 5. prepare the next tmp file ahead (a failure there surfaces at the next cut).
    ///
    /// A crash before step 4 is durable leaves the old tail complete and the tmp file unnamed
    /// (the pipeline truncates it when it reuses it).
    fn cut(&mut self) -> Result<(), WalError> {
        let end = self.encoder.end();
        self.encoder.flush(tail_file(&self.locks))?;
        let tail = self.tail();
        tail.file.set_len(end)?;
        tail.file.sync()?;
        let name = SegmentName { seq: tail.name.seq + 1, index: self.last_index + 1 };
        let pipeline = self.pipeline.as_mut().expect("an open WAL has a pipeline");
        let tmp = pipeline.take()?;
        let mut enc = Encoder::new(0, self.encoder.crc());
        enc.encode_crc();
        enc.encode(&*tmp.file, RecordType::Metadata, &self.metadata)?;
        if self.state != HardState::default() {
            enc.encode(&*tmp.file, RecordType::State, &self.state.to_bytes())?;
        }
        enc.flush(&*tmp.file)?;
        tmp.file.sync()?;
        self.disk.rename(&tmp.path, &join(&self.dir, &name.to_string()))?;
        if !planted::active(&crate::planted::WAL_CUT_SKIPS_DIR_SYNC) {
            self.disk.sync_dir(&self.dir)?;
        }
        self.locks.push(LockedSegment { name, file: tmp.file });
        self.encoder = enc;
        self.pipeline.as_mut().expect("an open WAL has a pipeline").prepare_ahead();
        Ok(())
    }

    /// Releases the locks of segments that only hold entries below `index`, keeping the
    /// largest one whose first index is below it (it may hold entries at and after `index`).
    /// etcd's example: holding 1..6, `release_lock_to(4)` releases 1 and 2 and keeps 3;
    /// `release_lock_to(5)` releases 1, 2, 3 and keeps 4. The tail is never released.
    pub fn release_lock_to(&mut self, index: u64) {
        let smaller = match self.locks.iter().position(|l| l.name.index >= index) {
            Some(i) => i.saturating_sub(1),
            None => self.locks.len() - 1,
        };
        if smaller > 0 {
            self.locks.drain(..smaller);
        }
    }

    /// Names of the segments this WAL holds locked, oldest first (the last is the tail).
    pub fn locked_segments(&self) -> Vec<SegmentName> {
        self.locks.iter().map(|l| l.name).collect()
    }

    /// Index of the last entry (or snapshot marker) saved.
    pub fn last_index(&self) -> u64 {
        self.last_index
    }

    /// The last hard state saved.
    pub fn hard_state(&self) -> HardState {
        self.state
    }

    /// The tail's end offset (where the next record goes).
    pub fn tail_offset(&self) -> u64 {
        self.encoder.end()
    }

    /// Syncs the tail, releases every lock and removes the prepared tmp file.
    pub fn close(mut self) -> Result<(), WalError> {
        self.sync()?;
        if let Some(p) = self.pipeline.take() {
            p.close()?;
        }
        Ok(())
    }
}

/// The tail's file (borrowing only the lock list, so the encoder can be borrowed beside it).
fn tail_file(locks: &[LockedSegment]) -> &dyn File {
    &*locks.last().expect("a WAL always holds its tail").file
}

/// Whether every byte of `bytes` is zero; checks 64-byte blocks without an early exit inside
/// a block, so the compiler can vectorise it (a segment's preallocated tail is tens of KiB).
fn all_zero(bytes: &[u8]) -> bool {
    bytes.chunks(64).all(|block| block.iter().fold(0u8, |acc, &b| acc | b) == 0)
}

#[cfg(test)]
mod tests {
    use super::all_zero;

    #[test]
    fn all_zero_sees_a_single_set_byte_anywhere() {
        assert!(all_zero(&[]));
        for len in [1, 63, 64, 65, 200] {
            assert!(all_zero(&vec![0; len]), "len {len}");
            for at in [0, len / 2, len - 1] {
                let mut b = vec![0; len];
                b[at] = 0x80;
                assert!(!all_zero(&b), "len {len}, byte {at} set");
            }
        }
    }
}
