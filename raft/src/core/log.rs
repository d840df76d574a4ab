//! The raft log: durable entries in [`Storage`] followed by the [`Unstable`] tail, plus the
//! commit and apply cursors.
//!
//! Invariants: `applied <= committed <= last_index()`; `committed` never decreases; entries at or
//! below `committed` are never overwritten.

use sim::planted;

use super::error::StorageError;
use super::message::{Entry, Snapshot};
use super::storage::{entry_size, fitting, Storage};
use super::unstable::Unstable;

pub struct RaftLog<S: Storage> {
    pub store: S,
    pub unstable: Unstable,
    pub committed: u64,
    pub applied: u64,
    /// Cap on the bytes of committed entries handed out per `Ready`.
    pub max_next_ents_size: u64,
}

impl<S: Storage> RaftLog<S> {
    pub fn new(store: S, max_next_ents_size: u64) -> RaftLog<S> {
        let first = store.first_index();
        let last = store.last_index();
        RaftLog {
            store,
            unstable: Unstable::new(last + 1),
            committed: first - 1,
            applied: first - 1,
            max_next_ents_size,
        }
    }

    pub fn first_index(&self) -> u64 {
        self.unstable.maybe_first_index().unwrap_or_else(|| self.store.first_index())
    }

    pub fn last_index(&self) -> u64 {
        self.unstable.maybe_last_index().unwrap_or_else(|| self.store.last_index())
    }

    /// The highest index known durable and agreeing with this log: what the leader may count as
    /// its own acknowledgement.
    pub fn last_persisted_index(&self) -> u64 {
        (self.unstable.offset - 1).min(self.store.last_index())
    }

    /// The term of entry `i`: valid for `[first_index - 1, last_index]`.
    pub fn term(&self, i: u64) -> Result<u64, StorageError> {
        let dummy = self.first_index() - 1;
        if i < dummy {
            return Err(StorageError::Compacted);
        }
        if i > self.last_index() {
            return Err(StorageError::Unavailable);
        }
        match self.unstable.maybe_term(i) {
            Some(t) => Ok(t),
            None => self.store.term(i),
        }
    }

    /// The term of `i`, or 0 when `i` is outside the log (etcd's `zeroTermOnOutOfBounds`).
    pub fn term_or_zero(&self, i: u64) -> u64 {
        self.term(i).unwrap_or(0)
    }

    pub fn last_term(&self) -> u64 {
        self.term(self.last_index()).expect("the last entry's term is always known")
    }

    pub fn match_term(&self, i: u64, t: u64) -> bool {
        self.term(i) == Ok(t)
    }

    /// True if a log ending at (`last_index`, `term`) is at least as up to date as ours (§5.4.1).
    pub fn is_up_to_date(&self, last_index: u64, term: u64) -> bool {
        if planted::active(&crate::planted::VOTE_IGNORES_LAST_INDEX) {
            return term >= self.last_term();
        }
        term > self.last_term() || (term == self.last_term() && last_index >= self.last_index())
    }

    /// The first index in `ents` whose term disagrees with ours (or that we lack), or 0.
    pub fn find_conflict(&self, ents: &[Entry]) -> u64 {
        if planted::active(&crate::planted::APPEND_KEEPS_CONFLICTING_ENTRIES) {
            return ents.iter().find(|e| e.index > self.last_index()).map_or(0, |e| e.index);
        }
        ents.iter().find(|e| !self.match_term(e.index, e.term)).map_or(0, |e| e.index)
    }

    /// The largest index `<= index` whose term is `<= term`, with that term: the fast-rejection
    /// hint (or its use by the leader). Returns `(index, 0)` where the term is unknown.
    pub fn find_conflict_by_term(&self, mut index: u64, term: u64) -> (u64, u64) {
        while index > 0 {
            match self.term(index) {
                Err(_) => return (index, 0),
                Ok(t) if t <= term => return (index, t),
                Ok(_) => index -= 1,
            }
        }
        (0, 0)
    }

    /// The follower side of MsgApp: if our entry at `index` has `log_term`, append `ents` (after
    /// dropping what we already have and truncating a conflicting suffix), advance commit to
    /// `min(committed, last new index)` and return that last new index.
    pub fn maybe_append(
        &mut self,
        index: u64,
        log_term: u64,
        committed: u64,
        mut ents: Vec<Entry>,
    ) -> Option<u64> {
        let prev_ok = if planted::active(&crate::planted::APPEND_IGNORES_PREV_TERM) {
            self.term(index).is_ok()
        } else {
            self.match_term(index, log_term)
        };
        if !prev_ok {
            return None;
        }
        let last_new = index + ents.len() as u64;
        let ends =
            ents.first().zip(ents.last()).map(|(f, l)| [(f.index, f.term), (l.index, l.term)]);
        let ci = self.find_conflict(&ents);
        if ci != 0 {
            assert!(
                ci > self.committed,
                "entry {ci} conflicts with committed entry (committed {})",
                self.committed
            );
            ents.drain(..(ci - index - 1) as usize);
            self.append(ents);
        }
        // Log matching: having accepted the append, we hold the leader's entries where it put
        // them (its first and last stand for the rest: terms never decrease along a log).
        for (i, t) in ends.into_iter().flatten() {
            assert!(
                self.match_term(i, t),
                "after accepting entries {index}+1..={last_new} our entry {i} has term {:?}, \
                 the leader's has term {t}",
                self.term(i)
            );
        }
        self.commit_to(committed.min(last_new));
        Some(last_new)
    }

    /// Appends to the unstable tail; returns the new last index.
    pub fn append(&mut self, ents: Vec<Entry>) -> u64 {
        let Some(first) = ents.first() else { return self.last_index() };
        assert!(
            first.index > self.committed,
            "append at {} would overwrite committed {}",
            first.index,
            self.committed
        );
        let last = self.last_index();
        assert!(first.index <= last + 1, "append at {} leaves a gap after {last}", first.index);
        let before = self.term(first.index - 1).unwrap_or(0);
        assert!(
            first.term >= before,
            "entry {} of term {} follows an entry of term {before}",
            first.index,
            first.term
        );
        for w in ents.windows(2) {
            assert!(
                w[1].index == w[0].index + 1 && w[1].term >= w[0].term,
                "appended entries not contiguous with non-decreasing terms: ({}, {}) then ({}, {})",
                w[0].index,
                w[0].term,
                w[1].index,
                w[1].term
            );
        }
        self.unstable.truncate_and_append(ents);
        self.last_index()
    }

    pub fn commit_to(&mut self, to: u64) {
        if to > self.committed {
            assert!(
                to <= self.last_index(),
                "commit {to} is out of range [last index {}]",
                self.last_index()
            );
            self.committed = to;
        }
    }

    /// Commits `max_index` if it is from `term` (only current-term entries commit by counting).
    pub fn maybe_commit(&mut self, max_index: u64, term: u64) -> bool {
        let own_term = self.term_or_zero(max_index) == term
            || planted::active(&crate::planted::COMMIT_COUNTS_OLD_TERM_ENTRIES);
        if max_index > self.committed && own_term {
            self.commit_to(max_index);
            return true;
        }
        false
    }

    pub fn applied_to(&mut self, i: u64) {
        if i == 0 {
            return;
        }
        assert!(
            self.applied <= i && i <= self.committed,
            "applied {i} out of range [prev applied {}, committed {}]",
            self.applied,
            self.committed
        );
        self.applied = i;
    }

    pub fn stable_to(&mut self, i: u64, t: u64) {
        self.unstable.stable_to(i, t);
    }

    pub fn stable_snap_to(&mut self, i: u64) {
        self.unstable.stable_snap_to(i);
    }

    pub fn unstable_entries(&self) -> &[Entry] {
        &self.unstable.entries
    }

    /// Entries in `[lo, hi)` limited to `max_size` bytes (at least one).
    pub fn slice(&self, lo: u64, hi: u64, max_size: u64) -> Result<Vec<Entry>, StorageError> {
        if lo == hi {
            return Ok(Vec::new());
        }
        if lo < self.first_index() {
            return Err(StorageError::Compacted);
        }
        assert!(
            lo < hi && hi <= self.last_index() + 1,
            "slice [{lo}, {hi}) out of bound [{}, {}]",
            self.first_index(),
            self.last_index()
        );
        let mut ents = Vec::new();
        let uoff = self.unstable.offset;
        if lo < uoff {
            let stored = self.store.entries(lo, hi.min(uoff), max_size)?;
            let complete = stored.len() as u64 == hi.min(uoff) - lo;
            ents = stored;
            if !complete {
                return Ok(ents);
            }
        }
        if hi > uoff {
            let tail = self.unstable.slice(lo.max(uoff), hi);
            let used: u64 = ents.iter().map(entry_size).sum();
            let n = if ents.is_empty() {
                fitting(tail, max_size)
            } else {
                // Only whole entries that still fit after the stored part.
                let room = max_size.saturating_sub(used);
                let k = fitting(tail, room);
                if tail.first().is_some_and(|e| entry_size(e) > room) {
                    0
                } else {
                    k
                }
            };
            ents.extend_from_slice(&tail[..n]);
        }
        Ok(ents)
    }

    /// Entries from `i` to the end, limited to `max_size` bytes.
    pub fn entries(&self, i: u64, max_size: u64) -> Result<Vec<Entry>, StorageError> {
        if i > self.last_index() {
            return Ok(Vec::new());
        }
        self.slice(i, self.last_index() + 1, max_size)
    }

    /// Every entry (tests and debugging).
    pub fn all_entries(&self) -> Vec<Entry> {
        self.entries(self.first_index(), u64::MAX).expect("no concurrent compaction")
    }

    pub fn has_next_committed_ents(&self) -> bool {
        self.committed > self.applied.max(self.first_index() - 1)
    }

    /// Committed entries not yet applied, up to the per-Ready size cap.
    pub fn next_committed_ents(&self) -> Vec<Entry> {
        let lo = if planted::active(&crate::planted::COMMITTED_ENTRIES_IGNORE_SNAPSHOT) {
            self.applied + 1
        } else {
            self.applied.max(self.first_index() - 1) + 1
        };
        if self.committed < lo {
            return Vec::new();
        }
        self.slice(lo, self.committed + 1, self.max_next_ents_size)
            .expect("unapplied committed entries are never compacted")
    }

    /// The latest snapshot (the pending incoming one, else storage's).
    pub fn snapshot(&self) -> Result<Snapshot, StorageError> {
        match &self.unstable.snapshot {
            Some(s) => Ok(s.clone()),
            None => self.store.snapshot(),
        }
    }

    /// Replaces the log with `s` (commit moves to its index).
    pub fn restore(&mut self, s: Snapshot) {
        assert!(
            s.metadata.index >= self.committed,
            "restoring snapshot {} would move commit back from {}",
            s.metadata.index,
            self.committed
        );
        self.committed = s.metadata.index;
        self.unstable.restore(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::storage::MemoryStorage;

    fn ents(first: u64, terms: &[u64]) -> Vec<Entry> {
        terms
            .iter()
            .enumerate()
            .map(|(i, &term)| Entry { index: first + i as u64, term, ..Entry::default() })
            .collect()
    }

    fn log_with(terms: &[u64]) -> RaftLog<MemoryStorage> {
        let mut s = MemoryStorage::new();
        s.append(&ents(1, terms));
        RaftLog::new(s, u64::MAX)
    }

    #[test]
    fn conflicts_and_rejection_hints() {
        let l = log_with(&[1, 2, 3]);
        assert_eq!(l.find_conflict(&ents(1, &[1, 2])), 0);
        assert_eq!(l.find_conflict(&ents(2, &[2, 3, 4])), 4, "new entries conflict at 4");
        assert_eq!(l.find_conflict(&ents(2, &[5])), 2);
        let l = log_with(&[1, 1, 3, 3, 5]);
        assert_eq!(l.find_conflict_by_term(5, 4), (4, 3));
        assert_eq!(l.find_conflict_by_term(5, 2), (2, 1));
        assert_eq!(l.find_conflict_by_term(5, 0), (0, 0));
    }

    #[test]
    fn maybe_append_commits_min_of_leader_commit_and_last_new() {
        let mut l = log_with(&[1, 1]);
        assert_eq!(l.maybe_append(2, 1, 10, ents(3, &[2])), Some(3));
        assert_eq!(l.committed, 3, "not beyond the last new entry");
        assert_eq!(l.maybe_append(3, 9, 10, vec![]), None, "term mismatch at prev");
        assert_eq!(l.maybe_append(1, 1, 3, ents(2, &[1])), Some(2));
        assert_eq!(l.last_index(), 3, "a stale, matching append does not truncate");
    }

    #[test]
    #[should_panic(expected = "conflicts with committed entry")]
    fn overwriting_a_committed_entry_panics() {
        let mut l = log_with(&[1, 1, 1]);
        l.commit_to(2);
        l.maybe_append(1, 1, 2, ents(2, &[2, 2]));
    }

    #[test]
    fn slices_respect_size_and_span_storage_and_unstable() {
        let mut l = log_with(&[1, 1]);
        l.append(ents(3, &[2, 2]));
        assert_eq!(l.slice(1, 5, u64::MAX).unwrap(), {
            let mut v = ents(1, &[1, 1]);
            v.extend(ents(3, &[2, 2]));
            v
        });
        assert_eq!(l.slice(1, 5, 0).unwrap().len(), 1, "always at least one entry");
        assert_eq!(l.slice(2, 5, 33).unwrap().len(), 2, "two 16-byte entries fit in 33");
        assert_eq!(l.term(5), Err(StorageError::Unavailable));
        assert_eq!(l.term(0), Ok(0));
        assert!(l.is_up_to_date(4, 2) && !l.is_up_to_date(3, 2) && l.is_up_to_date(1, 3));
    }

    #[test]
    #[should_panic(expected = "out of range")]
    fn committing_past_the_last_index_panics() {
        let mut l = log_with(&[1]);
        l.commit_to(2);
    }
}
