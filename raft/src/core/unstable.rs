//! The tail of the log that is not yet durable: entries (and possibly an incoming snapshot)
//! handed to the application in a `Ready` and dropped from here once it reports them persisted.
//!
//! Invariant: `entries[i].index == offset + i`; if `snapshot` is set, `offset == snapshot
//! index + 1`.

use super::message::{Entry, Snapshot};

#[derive(Clone, Debug, Default)]
pub struct Unstable {
    pub snapshot: Option<Snapshot>,
    pub entries: Vec<Entry>,
    pub offset: u64,
}

impl Unstable {
    pub fn new(offset: u64) -> Unstable {
        Unstable { snapshot: None, entries: Vec::new(), offset }
    }

    /// The first index, if a snapshot is pending (otherwise storage knows).
    pub fn maybe_first_index(&self) -> Option<u64> {
        self.snapshot.as_ref().map(|s| s.metadata.index + 1)
    }

    /// The last index, if there are unstable entries or a pending snapshot.
    pub fn maybe_last_index(&self) -> Option<u64> {
        match self.entries.len() {
            0 => self.snapshot.as_ref().map(|s| s.metadata.index),
            n => Some(self.offset + n as u64 - 1),
        }
    }

    /// The term of entry `i`, if this tail knows it.
    pub fn maybe_term(&self, i: u64) -> Option<u64> {
        if i < self.offset {
            return self
                .snapshot
                .as_ref()
                .filter(|s| s.metadata.index == i)
                .map(|s| s.metadata.term);
        }
        self.entries.get((i - self.offset) as usize).map(|e| e.term)
    }

    /// Entries up to `i` (with term `t`) are durable: drop them. Ignored if the entry at `i` was
    /// since replaced (different term) or is not here.
    pub fn stable_to(&mut self, i: u64, t: u64) {
        if i < self.offset || self.maybe_term(i) != Some(t) {
            return;
        }
        self.entries.drain(..(i + 1 - self.offset) as usize);
        self.offset = i + 1;
    }

    /// The snapshot at `i` is durable.
    pub fn stable_snap_to(&mut self, i: u64) {
        if self.snapshot.as_ref().is_some_and(|s| s.metadata.index == i) {
            self.snapshot = None;
        }
    }

    /// Replaces everything with an incoming snapshot.
    pub fn restore(&mut self, s: Snapshot) {
        self.offset = s.metadata.index + 1;
        self.entries.clear();
        self.snapshot = Some(s);
    }

    /// Appends `ents`, first truncating whatever they overwrite.
    pub fn truncate_and_append(&mut self, ents: Vec<Entry>) {
        let Some(first) = ents.first() else { return };
        let after = first.index;
        let end = self.offset + self.entries.len() as u64;
        assert!(after <= end, "unstable append at {after} leaves a gap after {}", end - 1);
        if after == end {
            // Directly after: plain append.
        } else if after <= self.offset {
            // Replaces the whole unstable tail (and some stable entries).
            self.offset = after;
            self.entries.clear();
        } else {
            self.entries.truncate((after - self.offset) as usize);
        }
        if self.entries.is_empty() {
            // Take the caller's buffer as is: no copy.
            self.entries = ents;
        } else {
            self.entries.extend(ents);
        }
    }

    /// Entries in `[lo, hi)`; the caller guarantees `offset <= lo <= hi <= last + 1`.
    pub fn slice(&self, lo: u64, hi: u64) -> &[Entry] {
        let end = self.offset + self.entries.len() as u64;
        assert!(
            self.offset <= lo && lo <= hi && hi <= end,
            "unstable slice [{lo}, {hi}) out of bounds [{}, {end})",
            self.offset
        );
        &self.entries[(lo - self.offset) as usize..(hi - self.offset) as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ent(index: u64, term: u64) -> Entry {
        Entry { index, term, ..Entry::default() }
    }

    #[test]
    fn truncate_append_and_stable_to() {
        let mut u = Unstable::new(5);
        u.truncate_and_append(vec![ent(5, 1), ent(6, 1), ent(7, 1)]);
        u.truncate_and_append(vec![ent(6, 2)]);
        assert_eq!(u.maybe_last_index(), Some(6));
        assert_eq!(u.maybe_term(6), Some(2));
        u.stable_to(6, 1); // stale term: ignored
        assert_eq!(u.offset, 5);
        u.stable_to(5, 1);
        assert_eq!((u.offset, u.entries.len()), (6, 1));
        u.truncate_and_append(vec![ent(3, 3)]);
        assert_eq!((u.offset, u.maybe_last_index()), (3, Some(3)));
    }
}
