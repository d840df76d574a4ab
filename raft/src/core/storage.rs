//! The read side of durable raft state, and an in-memory implementation.
//!
//! The application writes to storage (after a [`super::raw_node::Ready`] says so); the core only
//! reads from it. [`MemoryStorage`] keeps `entries[0]` as a dummy entry at the snapshot's
//! (index, term) so the term of the entry just before the first kept one is always known.

use super::error::StorageError;
use super::message::{ConfState, Entry, HardState, Snapshot};

/// What the core reads from durable state.
pub trait Storage {
    /// The persisted hard state and the membership of the latest snapshot.
    fn initial_state(&self) -> (HardState, ConfState);
    /// Entries in `[lo, hi)`, stopping once their size passes `max_size` (at least one entry).
    fn entries(&self, lo: u64, hi: u64, max_size: u64) -> Result<Vec<Entry>, StorageError>;
    /// The term of entry `i`, for `i` in `[first_index - 1, last_index]`.
    fn term(&self, i: u64) -> Result<u64, StorageError>;
    /// The index of the first entry still kept (snapshot index + 1).
    fn first_index(&self) -> u64;
    /// The index of the last entry (the snapshot index when there are none).
    fn last_index(&self) -> u64;
    /// The latest snapshot.
    fn snapshot(&self) -> Result<Snapshot, StorageError>;
}

/// The bytes an entry counts for in size limits: payload plus a fixed overhead.
pub fn entry_size(e: &Entry) -> u64 {
    e.data.len() as u64 + 16
}

/// How many leading entries of `ents` fit in `max_size` bytes (at least one, if any).
pub fn fitting(ents: &[Entry], max_size: u64) -> usize {
    let mut total = 0u64;
    ents.iter()
        .position(|e| {
            total += entry_size(e);
            total > max_size
        })
        .unwrap_or(ents.len())
        .max(1)
        .min(ents.len())
}

/// Keeps at least one entry, then as many as fit in `max_size`.
pub fn limit_size(ents: &mut Vec<Entry>, max_size: u64) {
    let keep = fitting(ents, max_size);
    ents.truncate(keep);
}

/// Storage held in memory: the tests' and simulator's stand-in for a WAL + snapshot directory.
///
/// Invariant: `entries` is non-empty; `entries[0]` is a dummy at the snapshot (index, term), and
/// indexes are consecutive.
#[derive(Clone, Debug)]
pub struct MemoryStorage {
    hard_state: HardState,
    snapshot: Snapshot,
    entries: Vec<Entry>,
}

impl Default for MemoryStorage {
    fn default() -> Self {
        MemoryStorage {
            hard_state: HardState::default(),
            snapshot: Snapshot::default(),
            entries: vec![Entry::default()],
        }
    }
}

impl MemoryStorage {
    /// Empty storage.
    pub fn new() -> MemoryStorage {
        MemoryStorage::default()
    }

    /// Empty storage whose initial membership is `voters` (how a new cluster is bootstrapped).
    pub fn with_voters(voters: &[u64]) -> MemoryStorage {
        let mut s = MemoryStorage::new();
        s.snapshot.metadata.conf_state.voters = voters.to_vec();
        s
    }

    pub fn hard_state(&self) -> HardState {
        self.hard_state
    }

    pub fn set_hard_state(&mut self, hs: HardState) {
        self.hard_state = hs;
    }

    fn offset(&self) -> u64 {
        self.entries[0].index
    }

    /// Replaces everything with `snap`. Fails if `snap` is older than the snapshot held.
    pub fn apply_snapshot(&mut self, snap: Snapshot) -> Result<(), StorageError> {
        if snap.metadata.index < self.snapshot.metadata.index {
            return Err(StorageError::SnapshotOutOfDate);
        }
        self.entries = vec![Entry {
            term: snap.metadata.term,
            index: snap.metadata.index,
            ..Entry::default()
        }];
        self.snapshot = snap;
        Ok(())
    }

    /// Records a snapshot of the state machine at applied index `i` (which must be kept).
    pub fn create_snapshot(
        &mut self,
        i: u64,
        conf_state: ConfState,
        data: Vec<u8>,
    ) -> Result<Snapshot, StorageError> {
        if i <= self.snapshot.metadata.index {
            return Err(StorageError::SnapshotOutOfDate);
        }
        assert!(i <= self.last_index(), "snapshot index {i} > last index {}", self.last_index());
        let term = self.entries[(i - self.offset()) as usize].term;
        self.snapshot = Snapshot {
            metadata: super::message::SnapshotMetadata { conf_state, index: i, term },
            data,
        };
        Ok(self.snapshot.clone())
    }

    /// Discards entries before `compact_index` (which becomes the new dummy).
    pub fn compact(&mut self, compact_index: u64) -> Result<(), StorageError> {
        if compact_index <= self.offset() {
            return Err(StorageError::Compacted);
        }
        assert!(
            compact_index <= self.last_index(),
            "compact {compact_index} is out of bound last index {}",
            self.last_index()
        );
        let i = (compact_index - self.offset()) as usize;
        self.entries.drain(..i);
        self.entries[0].data.clear();
        Ok(())
    }

    /// Appends `ents`, replacing any existing suffix they overlap. Entries older than the first
    /// kept index are ignored.
    pub fn append(&mut self, ents: &[Entry]) {
        let Some(first_new) = ents.first() else { return };
        let first = self.first_index();
        let last_new = ents[ents.len() - 1].index;
        if last_new < first {
            return;
        }
        let ents = if first_new.index < first {
            &ents[(first - first_new.index) as usize..]
        } else {
            ents
        };
        let start = ents[0].index;
        assert!(
            start <= self.last_index() + 1,
            "missing log entries: last {} appended {start}",
            self.last_index()
        );
        self.entries.truncate((start - self.offset()) as usize);
        self.entries.extend_from_slice(ents);
    }
}

impl Storage for MemoryStorage {
    fn initial_state(&self) -> (HardState, ConfState) {
        (self.hard_state, self.snapshot.metadata.conf_state.clone())
    }

    fn entries(&self, lo: u64, hi: u64, max_size: u64) -> Result<Vec<Entry>, StorageError> {
        if lo <= self.offset() {
            return Err(StorageError::Compacted);
        }
        if hi > self.last_index() + 1 {
            return Err(StorageError::Unavailable);
        }
        let off = self.offset();
        let range = &self.entries[(lo - off) as usize..(hi - off) as usize];
        Ok(range[..fitting(range, max_size)].to_vec())
    }

    fn term(&self, i: u64) -> Result<u64, StorageError> {
        let off = self.offset();
        if i < off {
            return Err(StorageError::Compacted);
        }
        self.entries.get((i - off) as usize).map(|e| e.term).ok_or(StorageError::Unavailable)
    }

    fn first_index(&self) -> u64 {
        self.offset() + 1
    }

    fn last_index(&self) -> u64 {
        self.offset() + self.entries.len() as u64 - 1
    }

    fn snapshot(&self) -> Result<Snapshot, StorageError> {
        Ok(self.snapshot.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ent(index: u64, term: u64) -> Entry {
        Entry { index, term, ..Entry::default() }
    }

    #[test]
    fn append_overwrites_and_compact_keeps_dummy() {
        let mut s = MemoryStorage::new();
        s.append(&[ent(1, 1), ent(2, 1), ent(3, 1)]);
        s.append(&[ent(2, 2)]);
        assert_eq!(s.last_index(), 2);
        assert_eq!(s.term(2), Ok(2));
        s.append(&[ent(3, 2), ent(4, 2)]);
        s.compact(2).unwrap();
        assert_eq!(s.first_index(), 3);
        assert_eq!(s.term(2), Ok(2));
        assert_eq!(s.term(1), Err(StorageError::Compacted));
        assert_eq!(s.entries(2, 4, u64::MAX), Err(StorageError::Compacted));
        assert_eq!(s.entries(3, 6, u64::MAX), Err(StorageError::Unavailable));
        assert_eq!(s.entries(3, 5, 0).unwrap(), vec![ent(3, 2)]);
    }

    #[test]
    fn snapshots_must_move_forward() {
        let mut s = MemoryStorage::new();
        s.append(&[ent(1, 1), ent(2, 1), ent(3, 2)]);
        let snap = s.create_snapshot(3, ConfState { voters: vec![1], learners: vec![] }, vec![7]);
        let snap = snap.unwrap();
        assert_eq!(snap.metadata.term, 2);
        assert_eq!(
            s.create_snapshot(2, ConfState::default(), vec![]),
            Err(StorageError::SnapshotOutOfDate)
        );
        let mut t = MemoryStorage::new();
        t.apply_snapshot(snap.clone()).unwrap();
        assert_eq!((t.first_index(), t.last_index()), (4, 3));
        let mut old = snap;
        old.metadata.index = 1;
        assert_eq!(t.apply_snapshot(old), Err(StorageError::SnapshotOutOfDate));
    }
}
