//! Reading a WAL: selecting the segments after a snapshot and replaying their records.

use sim::io::{Disk, File, OpenOptions};

use crate::core::{Codec, Entry, HardState, SnapshotMetadata};

use super::decoder::{Decoded, Decoder, SegmentBytes};
use super::error::WalError;
use super::record::RecordType;
use super::segment::{self, join, SegmentName};

/// What a WAL holds after a snapshot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WalContents {
    /// The metadata given to `Wal::create` (identical in every segment).
    pub metadata: Vec<u8>,
    /// The last hard state saved (default if none was).
    pub hard_state: HardState,
    /// The entries after the snapshot index, in index order. A later entry with the same index
    /// replaces an earlier one and everything after it, as a new leader's entries do in raft.
    /// Entries above `hard_state.commit` may still be replaced.
    pub entries: Vec<Entry>,
}

/// The result of replaying records.
#[derive(Debug)]
pub(crate) struct Replay {
    pub contents: WalContents,
    /// Index of the last entry (or snapshot) record read.
    pub last_index: u64,
}

/// Segments opened for reading: names, handles (locked in write mode) and bytes, in order.
pub(crate) struct OpenedSegments {
    pub names: Vec<SegmentName>,
    pub files: Vec<Box<dyn File>>,
    pub bytes: Vec<SegmentBytes>,
}

/// The segments to read for a snapshot at `start_index` (all of them for `None`), opened
/// (locked if `write`), with their bytes.
pub(crate) fn open_segments(
    disk: &dyn Disk,
    dir: &str,
    start_index: Option<u64>,
    write: bool,
) -> Result<OpenedSegments, WalError> {
    let names = segment::list(disk, dir)?;
    if names.is_empty() {
        return Err(WalError::NoSegments { dir: dir.to_string() });
    }
    let first = match start_index {
        None => 0,
        Some(index) => segment::search_index(&names, index)
            .ok_or(WalError::NoSegmentForIndex { dir: dir.to_string(), index })?,
    };
    let names = names[first..].to_vec();
    segment::check_sequence(dir, &names)?;
    let mut files = Vec::with_capacity(names.len());
    let mut bytes = Vec::with_capacity(names.len());
    for name in &names {
        let path = join(dir, &name.to_string());
        let opts = if write { OpenOptions::write() } else { OpenOptions::read() };
        let file = disk.open(&path, opts)?;
        if write {
            file.try_lock()?;
        }
        bytes.push(SegmentBytes { name: name.to_string(), bytes: file.map()? });
        files.push(file);
    }
    Ok(OpenedSegments { names, files, bytes })
}

fn bad_record(d: &Decoded<'_>, source: crate::core::DecodeError) -> WalError {
    WalError::BadRecord { segment: d.segment_name.to_string(), offset: d.offset, source }
}

/// Replays every record after the snapshot `start`: entries with an index above it, the last
/// hard state, the metadata. With `tolerate_torn`, a torn tail ends the replay like a clean end
/// (read mode); otherwise it is returned as the error.
pub(crate) fn replay(
    dec: &mut Decoder,
    start: &SnapshotMetadata,
    tolerate_torn: bool,
) -> Result<Replay, WalError> {
    let mut contents = WalContents::default();
    let mut metadata: Option<Vec<u8>> = None;
    let mut matched = false;
    let mut last_index = 0;
    loop {
        let d = match dec.next_record() {
            Ok(Some(d)) => d,
            Ok(None) => break,
            Err(WalError::TornTail { .. }) if tolerate_torn => break,
            Err(e) => return Err(e),
        };
        match d.kind {
            RecordType::Entry => {
                let e = Entry::decode(d.data).map_err(|s| bad_record(&d, s))?;
                let index = e.index;
                if index > start.index {
                    let pos = e.index - start.index - 1;
                    let have = contents.entries.len() as u64;
                    if pos > have {
                        return Err(WalError::EntryGap {
                            segment: d.segment_name.to_string(),
                            offset: d.offset,
                            index: e.index,
                            next_expected: start.index + have + 1,
                        });
                    }
                    contents.entries.truncate(pos as usize);
                    contents.entries.push(e);
                }
                last_index = index;
            }
            RecordType::State => {
                contents.hard_state = HardState::decode(d.data).map_err(|s| bad_record(&d, s))?;
            }
            RecordType::Metadata => {
                if metadata.as_ref().is_some_and(|m| m.as_slice() != d.data) {
                    return Err(WalError::MetadataConflict {
                        segment: d.segment_name.to_string(),
                        offset: d.offset,
                    });
                }
                metadata = Some(d.data.to_vec());
            }
            RecordType::Crc => {}
            RecordType::Snapshot => {
                let s = SnapshotMetadata::decode(d.data).map_err(|s| bad_record(&d, s))?;
                if s.index == start.index {
                    if s.term != start.term {
                        return Err(WalError::SnapshotMismatch {
                            segment: d.segment_name.to_string(),
                            offset: d.offset,
                            index: s.index,
                            want_term: start.term,
                            found_term: s.term,
                        });
                    }
                    matched = true;
                }
                last_index = last_index.max(s.index);
            }
        }
    }
    if !matched {
        return Err(WalError::SnapshotNotFound { index: start.index, term: start.term });
    }
    contents.metadata = metadata.unwrap_or_default();
    Ok(Replay { contents, last_index })
}

/// Reads the WAL in `dir` after the snapshot `start` without locking or changing anything
/// (etcd's read mode): a torn tail just ends the read. Corruption is still an error.
pub fn read_all(
    disk: &dyn Disk,
    dir: &str,
    start: &SnapshotMetadata,
) -> Result<WalContents, WalError> {
    let opened = open_segments(disk, dir, Some(start.index), false)?;
    let mut dec = Decoder::new(opened.bytes);
    Ok(replay(&mut dec, start, true)?.contents)
}

/// The snapshot markers in `dir` that a restart may start from: every marker whose index is at
/// most the commit index of the last hard state (a marker above it would describe a snapshot
/// of entries not known committed), like etcd's `ValidSnapshotEntries`. Reads every segment in
/// read mode (a torn tail ends the read). Pair with
/// [`crate::snap::Snapshotter::load_newest_available`] to choose the snapshot to boot from.
pub fn snapshot_markers(disk: &dyn Disk, dir: &str) -> Result<Vec<SnapshotMetadata>, WalError> {
    let opened = open_segments(disk, dir, None, false)?;
    let mut dec = Decoder::new(opened.bytes);
    let mut markers = Vec::new();
    let mut state = HardState::default();
    loop {
        let d = match dec.next_record() {
            Ok(Some(d)) => d,
            Ok(None) | Err(WalError::TornTail { .. }) => break,
            Err(e) => return Err(e),
        };
        match d.kind {
            RecordType::Snapshot => {
                markers.push(SnapshotMetadata::decode(d.data).map_err(|s| bad_record(&d, s))?)
            }
            RecordType::State => {
                state = HardState::decode(d.data).map_err(|s| bad_record(&d, s))?;
            }
            _ => {}
        }
    }
    markers.retain(|m| m.index <= state.commit);
    Ok(markers)
}

/// One record's place and kind, for inspection tools and tests (like etcd's dump-logs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordInfo {
    pub segment: String,
    pub offset: u64,
    pub kind: RecordType,
    pub data_len: usize,
}

/// Lists every record of every segment in `dir`, stopping at the first error (returned beside
/// the records read before it).
pub fn dump(disk: &dyn Disk, dir: &str) -> Result<(Vec<RecordInfo>, Option<WalError>), WalError> {
    let opened = open_segments(disk, dir, None, false)?;
    let mut dec = Decoder::new(opened.bytes);
    let mut out = Vec::new();
    loop {
        match dec.next_record() {
            Ok(Some(d)) => out.push(RecordInfo {
                segment: d.segment_name.to_string(),
                offset: d.offset,
                kind: d.kind,
                data_len: d.data.len(),
            }),
            Ok(None) => return Ok((out, None)),
            Err(e) => return Ok((out, Some(e))),
        }
    }
}
