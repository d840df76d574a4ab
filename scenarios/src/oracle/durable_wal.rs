//! What a node's WAL would give back after a power loss right now, read from the SimDisk's
//! durable image — a fact, not the WAL's own bookkeeping.
//!
//! [`DurableWal`] scans the durable bytes of the segments that are durably named in the WAL
//! directory (a segment renamed into place without `sync_dir` is not there yet), in sequence
//! order, and replays their records into a [`DurableLog`]: the last hard state, the entries
//! (a later entry at index `i` replaces everything from `i` on, as replay does), and the newest
//! snapshot marker. In each segment the scan stops at the first record that is not whole and
//! CRC-correct (a torn or unwritten tail): only what a restart can read back counts.
//!
//! The scan is incremental, because oracles ask after most steps: a segment is read from where
//! the last scan stopped, and only when the disk's durable generation moved. Segments only grow
//! while a node runs; anything else — a segment shrunk (repair), renamed back, replaced, or a
//! segment appearing before the last one read — makes the next scan start over from the first
//! durable segment. Segments removed from the front (purged after a snapshot) keep what was
//! read from them.
//!
//! The frame layout and the CRC chain are the WAL's ([`raft::wal::record`]); the CRC record at
//! the head of each segment seeds that segment's chain, so a segment is checked on its own.

use raft::core::{Codec, Entry, HardState, SnapshotMetadata};
use raft::wal::record::{chain_crc, decode_len_word, RecordType, BODY_HEADER, LEN_WORD};
use raft::wal::SegmentName;
use sim::simulated::disk::SimDisk;

/// The replayed durable state of one WAL.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DurableLog {
    /// The last hard state record (all zero when none).
    pub hard_state: HardState,
    /// Index of `terms[0]`.
    first: u64,
    /// Terms of the entries `first..first + terms.len()`.
    terms: Vec<u64>,
    /// The newest snapshot marker: (index, term); (0, 0) when none.
    pub snapshot: (u64, u64),
    /// Every snapshot marker's index, sorted (boot keeps those the last hard state's commit
    /// covers, etcd's `ValidSnapshotEntries`).
    markers: Vec<u64>,
}

impl DurableLog {
    /// The last index a restart would hold: the last entry, or the newest snapshot marker if it
    /// lies beyond.
    pub fn last_index(&self) -> u64 {
        let last_entry =
            if self.terms.is_empty() { 0 } else { self.first + self.terms.len() as u64 - 1 };
        last_entry.max(self.snapshot.0)
    }

    /// The term of the entry at `index`, if the durable log holds that entry.
    pub fn term(&self, index: u64) -> Option<u64> {
        let at = index.checked_sub(self.first)?;
        self.terms.get(usize::try_from(at).ok()?).copied()
    }

    /// Whether a restart would hold entry (`index`, `term`): as an entry, or covered by a
    /// snapshot marker at or past it (a snapshot holds only committed entries).
    pub fn holds(&self, index: u64, term: u64) -> bool {
        self.term(index) == Some(term) || self.snapshot.0 >= index
    }

    /// The entries held, as (index, term), in index order.
    pub fn entries(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.terms.iter().enumerate().map(|(i, t)| (self.first + i as u64, *t))
    }

    /// Replays one entry record: it replaces everything from its index on.
    fn entry(&mut self, index: u64, term: u64) {
        let next = self.first + self.terms.len() as u64;
        if self.terms.is_empty() || index < self.first || index > next {
            // The first entry read, a rewrite below everything held, or a gap after a snapshot.
            self.first = index;
            self.terms.clear();
        } else {
            self.terms.truncate((index - self.first) as usize);
        }
        self.terms.push(term);
    }

    fn snapshot_marker(&mut self, index: u64, term: u64) {
        if index >= self.snapshot.0 {
            self.snapshot = (index, term);
        }
        let at = self.markers.partition_point(|&m| m <= index);
        self.markers.insert(at, index);
    }

    /// The newest snapshot marker a boot would trust: the highest at or below the last hard
    /// state's commit index (0 when none). A marker above it names a snapshot whose commit was
    /// not made durable, so a boot cannot rely on it.
    pub fn trusted_snapshot(&self) -> u64 {
        let commit = self.hard_state.commit;
        match self.markers.partition_point(|&m| m <= commit) {
            0 => 0,
            n => self.markers[n - 1],
        }
    }

    /// The highest index a boot from this durable image can bring back: the trusted snapshot,
    /// or the last entry of a run of entries that continues from it. Entries that start past
    /// the trusted snapshot + 1 leave a gap a boot cannot bridge.
    pub fn boot_reach(&self) -> u64 {
        let snap = self.trusted_snapshot();
        if self.terms.is_empty() || self.first > snap + 1 {
            return snap;
        }
        snap.max(self.first + self.terms.len() as u64 - 1)
    }
}

/// Where the scan of one segment stopped.
#[derive(Clone, Debug)]
struct Cursor {
    name: SegmentName,
    ino: u64,
    /// Offset after the last whole, CRC-correct record.
    offset: u64,
    /// The running CRC at `offset`.
    crc: u32,
}

/// The incremental scanner of one node's durable WAL (see the module docs).
#[derive(Clone, Debug)]
pub struct DurableWal {
    dir: String,
    generation: Option<u64>,
    /// The durable segments (sorted) as of the disk's durable names generation `.0`.
    segments: Option<(u64, Vec<(SegmentName, u64)>)>,
    cursors: Vec<Cursor>,
    log: DurableLog,
}

impl DurableWal {
    /// A scanner of the WAL in directory `dir`.
    pub fn new(dir: &str) -> DurableWal {
        DurableWal {
            dir: dir.to_string(),
            generation: None,
            segments: None,
            cursors: Vec::new(),
            log: DurableLog::default(),
        }
    }

    /// The durable log as of the last [`DurableWal::refresh`].
    pub fn log(&self) -> &DurableLog {
        &self.log
    }

    /// Forgets everything read: the next refresh reads every durable segment from the start.
    pub fn reset(&mut self) {
        self.generation = None;
        self.segments = None;
        self.cursors.clear();
        self.log = DurableLog::default();
    }

    /// Brings the log up to date with `disk`'s durable image and returns it.
    pub fn refresh(&mut self, disk: &SimDisk) -> &DurableLog {
        let generation = disk.durable_generation();
        if self.generation == Some(generation) {
            return &self.log;
        }
        self.generation = Some(generation);
        let names = disk.durable_names_generation();
        let segments = match self.segments.take() {
            Some((at, segments)) if at == names => segments,
            _ => {
                let mut segments: Vec<(SegmentName, u64)> = disk
                    .durable_files(&self.dir)
                    .into_iter()
                    .filter_map(|(name, ino)| SegmentName::parse(&name).map(|n| (n, ino)))
                    .collect();
                segments.sort();
                segments
            }
        };
        if !self.continues(disk, &segments) {
            self.cursors.clear();
            self.log = DurableLog::default();
        }
        let first_kept = self.cursors.iter().position(|c| segments.iter().any(|s| s.0 == c.name));
        self.cursors.drain(..first_kept.unwrap_or(self.cursors.len()));
        for &(name, ino) in &segments {
            if !self.cursors.iter().any(|c| c.name == name) {
                self.cursors.push(Cursor { name, ino, offset: 0, crc: 0 });
            }
        }
        self.segments = Some((names, segments));
        let DurableWal { cursors, log, .. } = self;
        for c in cursors.iter_mut() {
            disk.with_durable(c.ino, |bytes| scan(bytes, c, log));
        }
        &self.log
    }

    /// Whether `segments` (durable now) extend what was read: every cursor still durable has
    /// the same inode and at least its bytes, the ones gone are a prefix (purged), and new
    /// segments come after the last one read.
    fn continues(&self, disk: &SimDisk, segments: &[(SegmentName, u64)]) -> bool {
        let mut gone_prefix = true;
        for c in &self.cursors {
            match segments.iter().find(|s| s.0 == c.name) {
                None if gone_prefix => continue,
                None => return false,
                Some(&(_, ino)) => {
                    gone_prefix = false;
                    if ino != c.ino || disk.durable_len(ino).is_none_or(|len| len < c.offset) {
                        return false;
                    }
                }
            }
        }
        let last = self.cursors.last().map(|c| c.name);
        segments.iter().all(|(name, _)| {
            self.cursors.iter().any(|c| c.name == *name) || last.is_none_or(|l| *name > l)
        })
    }
}

/// Reads whole, CRC-correct records of one segment from `c.offset` on into `log`.
fn scan(bytes: &[u8], c: &mut Cursor, log: &mut DurableLog) {
    while let Some((kind, stored, data, end)) = frame_at(bytes, c.offset) {
        if kind == RecordType::Crc {
            c.crc = stored;
        } else {
            let crc = chain_crc(c.crc, kind, data);
            if crc != stored {
                return;
            }
            c.crc = crc;
            if !replay(kind, data, log) {
                return;
            }
        }
        c.offset = end;
    }
}

/// The record at `at`: (type, stored CRC, data, end offset), if a whole valid frame is there.
fn frame_at(bytes: &[u8], at: u64) -> Option<(RecordType, u32, &[u8], u64)> {
    let start = usize::try_from(at).ok()?;
    let word = u64::from_le_bytes(bytes.get(start..start + LEN_WORD as usize)?.try_into().ok()?);
    if word == 0 {
        return None;
    }
    let header = decode_len_word(word).ok()?;
    let end = at.checked_add(header.frame_len())?;
    let body_start = start + LEN_WORD as usize;
    let body = bytes.get(body_start..body_start + usize::try_from(header.body_len).ok()?)?;
    if (bytes.len() as u64) < end {
        return None;
    }
    let kind = RecordType::from_tag(body[0])?;
    let stored = u32::from_le_bytes([body[1], body[2], body[3], body[4]]);
    Some((kind, stored, &body[BODY_HEADER as usize..], end))
}

/// Applies one CRC-correct record; false if its data does not decode (the scan stops there).
fn replay(kind: RecordType, data: &[u8], log: &mut DurableLog) -> bool {
    match kind {
        RecordType::Entry => match Entry::decode(data) {
            Ok(e) => log.entry(e.index, e.term),
            Err(_) => return false,
        },
        RecordType::State => match HardState::decode(data) {
            Ok(hs) => log.hard_state = hs,
            Err(_) => return false,
        },
        RecordType::Snapshot => match SnapshotMetadata::decode(data) {
            Ok(s) => log.snapshot_marker(s.index, s.term),
            Err(_) => return false,
        },
        RecordType::Metadata | RecordType::Crc => {}
    }
    true
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;

    use raft::core::{ConfState, Entry, HardState, SnapshotMetadata};
    use raft::wal::{Wal, WalConfig};
    use sim::simulated::disk::{DiskConfig, SimDisk};
    use sim::Seed;

    use super::*;

    const DIR: &str = "member/wal";

    fn disk(seed: u64) -> Rc<SimDisk> {
        SimDisk::new(Seed(seed).stream("disk"), DiskConfig::default())
    }

    fn entry(index: u64, term: u64) -> Entry {
        Entry { index, term, data: vec![7; 40], ..Entry::default() }
    }

    fn hs(term: u64, vote: u64, commit: u64) -> HardState {
        HardState { term, vote, commit }
    }

    fn wal(d: &Rc<SimDisk>, segment_size: u64) -> Wal {
        let dd: Rc<dyn sim::io::Disk> = d.clone();
        Wal::create(dd, DIR, b"meta", WalConfig { segment_size }).expect("create")
    }

    #[test]
    fn synced_saves_are_durable_and_unsynced_ones_are_not() {
        let d = disk(1);
        let mut w = wal(&d, 1 << 20);
        let mut dw = DurableWal::new(DIR);
        assert_eq!(dw.refresh(&d).last_index(), 0);
        w.save(&hs(1, 2, 0), &[entry(1, 1), entry(2, 1)]).unwrap(); // entries: synced
        let log = dw.refresh(&d).clone();
        assert_eq!((log.last_index(), log.term(2), log.hard_state), (2, Some(1), hs(1, 2, 0)));
        // A commit-only hard state is not synced by the WAL: not durable yet.
        w.save(&hs(1, 2, 2), &[]).unwrap();
        assert_eq!(dw.refresh(&d).hard_state, hs(1, 2, 0));
        w.sync().unwrap();
        assert_eq!(dw.refresh(&d).hard_state, hs(1, 2, 2));
        // A later entry at index 2 replaces the old one and everything after it.
        w.save(&hs(2, 0, 2), &[entry(3, 1)]).unwrap();
        w.save(&hs(2, 0, 2), &[entry(2, 2)]).unwrap();
        let log = dw.refresh(&d);
        assert_eq!((log.last_index(), log.term(2), log.term(3)), (2, Some(2), None));
        assert!(log.holds(2, 2) && !log.holds(2, 1) && !log.holds(3, 1));
        assert_eq!(log.entries().collect::<Vec<_>>(), vec![(1, 1), (2, 2)]);
    }

    #[test]
    fn segments_cut_in_are_followed_and_a_snapshot_marker_covers_what_it_holds() {
        let d = disk(2);
        let mut w = wal(&d, 4096);
        let mut dw = DurableWal::new(DIR);
        for i in 1..=200 {
            w.save(&hs(3, 1, i - 1), &[entry(i, 3)]).unwrap();
            assert_eq!(dw.refresh(&d).last_index(), i, "after save {i}");
        }
        assert!(w.locked_segments().len() > 3, "the test cuts segments");
        w.save_snapshot(&SnapshotMetadata {
            conf_state: ConfState::default(),
            index: 150,
            term: 3,
        })
        .unwrap();
        let log = dw.refresh(&d);
        assert_eq!(log.snapshot, (150, 3));
        assert!(log.holds(120, 99), "below the snapshot every entry is covered");
        // A fresh scanner reading everything at once agrees with the incremental one.
        let mut fresh = DurableWal::new(DIR);
        assert_eq!(fresh.refresh(&d), dw.log());
    }

    #[test]
    fn a_crash_keeps_at_least_the_durable_log_and_a_shrunk_segment_is_reread() {
        for seed in 0..20 {
            let d = disk(100 + seed);
            let mut w = wal(&d, 8192);
            let mut dw = DurableWal::new(DIR);
            let mut next = 1;
            for i in 1..=60 {
                // Every third save only changes the commit index: written, not synced.
                let entries = if i % 3 == 0 { vec![] } else { vec![entry(next, 1)] };
                next += entries.len() as u64;
                w.save(&hs(1, 0, next / 2), &entries).unwrap();
            }
            let before = dw.refresh(&d).clone();
            d.crash();
            let after = dw.refresh(&d).clone();
            assert!(after.last_index() >= before.last_index(), "seed {seed}");
            for (i, t) in before.entries() {
                assert!(after.holds(i, t), "seed {seed}: entry {i} lost by the crash");
            }
            // What the WAL reads back on reopen agrees with the durable scan.
            let dd: Rc<dyn sim::io::Disk> = d.clone();
            let contents = raft::wal::read_all(&*dd, DIR, &SnapshotMetadata::default()).unwrap();
            let read: Vec<(u64, u64)> =
                contents.entries.iter().map(|e| (e.index, e.term)).collect();
            let scanned: Vec<(u64, u64)> = after.entries().collect();
            assert_eq!(read, scanned, "seed {seed}");
        }
    }
}
