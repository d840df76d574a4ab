//! The in-memory key index: for each key, its generations of revisions.
//!
//! A generation is the life of a key from a put that (re)creates it to the delete that ends it.
//! Invariants, per key:
//! - revisions strictly increase across and within generations;
//! - every generation but the last ends with its tombstone revision and is non-empty;
//! - the last generation is empty exactly when the key is currently deleted (or never existed
//!   since the last compaction);
//! - `version` of a generation counts its puts (the tombstone is not counted).
//!
//! The index is rebuilt from the `key` bucket at open ([`KeyIndex::restore_put`] /
//! [`KeyIndex::tombstone`] replayed in revision order), so it never needs to be persisted.

use std::collections::BTreeSet;

use super::revision::Revision;

/// One life of a key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Generation {
    /// Puts in this generation (what `version` reports for the latest one).
    pub version: i64,
    /// Revision of the put that created this generation.
    pub created: Revision,
    /// Every change in this generation, ascending; the last is the tombstone if it ended.
    pub revs: Vec<Revision>,
}

/// What the index knows of a key at some revision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Found {
    /// The revision holding the key's value at the asked revision.
    pub modified: Revision,
    pub created: Revision,
    pub version: i64,
}

/// All generations of one key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyIndex {
    /// Latest change of any kind.
    pub modified: Revision,
    pub generations: Vec<Generation>,
}

impl Default for KeyIndex {
    fn default() -> KeyIndex {
        KeyIndex { modified: Revision::default(), generations: vec![Generation::default()] }
    }
}

impl KeyIndex {
    /// Records a put at `rev`.
    pub fn put(&mut self, rev: Revision) {
        self.assert_newer(rev);
        let g = self.last_mut();
        if g.revs.is_empty() {
            g.created = rev;
        }
        g.revs.push(rev);
        g.version += 1;
        self.modified = rev;
    }

    /// Records a put at `rev` read back from disk, whose record says the generation was created
    /// at main revision `created` and this is its `version`-th put (the generation's earlier
    /// revisions may have been compacted away).
    pub fn restore_put(&mut self, rev: Revision, created: i64, version: i64) {
        self.assert_newer(rev);
        let g = self.last_mut();
        if g.revs.is_empty() {
            g.created = Revision::new(created, 0);
        }
        g.revs.push(rev);
        g.version = version;
        self.modified = rev;
    }

    /// Records a delete at `rev`, ending the current generation. Returns false (and changes
    /// nothing) if the key is not live.
    pub fn tombstone(&mut self, rev: Revision) -> bool {
        if self.last().revs.is_empty() {
            return false;
        }
        self.assert_newer(rev);
        self.last_mut().revs.push(rev);
        self.modified = rev;
        self.generations.push(Generation::default());
        true
    }

    /// Whether the key is live at the newest revision.
    pub fn is_live(&self) -> bool {
        !self.last().revs.is_empty()
    }

    /// Whether nothing at all is left (the key can be dropped from the index).
    pub fn is_empty(&self) -> bool {
        self.generations.len() == 1 && self.generations[0].revs.is_empty()
    }

    /// The key as of main revision `at`, or `None` if it did not exist then.
    pub fn get(&self, at: i64) -> Option<Found> {
        let (i, g) = self.generation_at(at)?;
        let n = g.revs.iter().rposition(|r| r.main <= at)?;
        // Changes after the visible one, less the tombstone that ends an older generation.
        let ended = i + 1 < self.generations.len();
        let later_puts = (g.revs.len() - n - 1 - usize::from(ended)) as i64;
        Some(Found { modified: g.revs[n], created: g.created, version: g.version - later_puts })
    }

    /// The generation live at `at`: its first revision is at or before `at` and, if it ended,
    /// its tombstone is after `at`.
    fn generation_at(&self, at: i64) -> Option<(usize, &Generation)> {
        let last = self.generations.len() - 1;
        for (i, g) in self.generations.iter().enumerate().rev() {
            let Some(first) = g.revs.first() else { continue };
            if i != last && g.revs.last().expect("non-empty").main <= at {
                return None; // deleted at or before `at`
            }
            if first.main <= at {
                return Some((i, g));
            }
        }
        None
    }

    /// Compacts away every revision at or below main `at` except the one still visible at `at`
    /// (a put, which later reads at `at` need). Adds the revisions to keep to `keep`.
    ///
    /// After this, `get(r)` for `r >= at` answers exactly as before.
    pub fn compact(&mut self, at: i64, keep: &mut BTreeSet<Revision>) {
        // Skip generations that ended (tombstone) at or before `at`: nothing in them is visible.
        let mut first = 0;
        while first < self.generations.len() - 1 {
            let tomb =
                self.generations[first].revs.last().expect("ended generations are non-empty");
            if tomb.main > at {
                break;
            }
            first += 1;
        }
        self.generations.drain(..first);
        let g = &mut self.generations[0];
        if let Some(n) = g.revs.iter().rposition(|r| r.main <= at) {
            keep.insert(g.revs[n]);
            g.revs.drain(..n);
        }
    }

    fn assert_newer(&self, rev: Revision) {
        assert!(
            rev > self.modified,
            "revision {rev} is not after the key's latest {}",
            self.modified
        );
    }
    fn last(&self) -> &Generation {
        self.generations.last().expect("a key index always has a generation")
    }
    fn last_mut(&mut self) -> &mut Generation {
        self.generations.last_mut().expect("a key index always has a generation")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(main: i64) -> Revision {
        Revision::new(main, 0)
    }

    /// put@2 put@4 del@6 put@8 put@10
    fn sample() -> KeyIndex {
        let mut k = KeyIndex::default();
        k.put(r(2));
        k.put(r(4));
        assert!(k.tombstone(r(6)));
        k.put(r(8));
        k.put(r(10));
        k
    }

    #[test]
    fn get_walks_generations() {
        let k = sample();
        assert_eq!(k.get(1), None);
        assert_eq!(k.get(3), Some(Found { modified: r(2), created: r(2), version: 1 }));
        assert_eq!(k.get(5), Some(Found { modified: r(4), created: r(2), version: 2 }));
        assert_eq!(k.get(6), None);
        assert_eq!(k.get(7), None);
        assert_eq!(k.get(9), Some(Found { modified: r(8), created: r(8), version: 1 }));
        assert_eq!(k.get(100), Some(Found { modified: r(10), created: r(8), version: 2 }));
    }

    #[test]
    fn tombstone_of_a_dead_key_is_refused() {
        let mut k = KeyIndex::default();
        assert!(!k.tombstone(r(1)));
        k.put(r(2));
        assert!(k.tombstone(r(3)));
        assert!(!k.tombstone(r(4)));
    }

    #[test]
    fn compaction_keeps_answers_at_and_after_the_compact_revision() {
        for at in 0..12 {
            let before = sample();
            let mut after = sample();
            let mut keep = BTreeSet::new();
            after.compact(at, &mut keep);
            for q in at..12 {
                assert_eq!(before.get(q), after.get(q), "compact at {at}, get at {q}");
            }
            // Only revisions visible at `at` are kept from the compacted range.
            assert!(keep
                .iter()
                .all(|rev| rev.main <= at && before.get(at).unwrap().modified == *rev));
        }
    }

    #[test]
    fn compaction_past_a_delete_empties_the_key() {
        let mut k = KeyIndex::default();
        k.put(r(2));
        k.tombstone(r(3));
        let mut keep = BTreeSet::new();
        k.compact(3, &mut keep);
        assert!(k.is_empty());
        assert!(keep.is_empty());
    }

    #[test]
    #[should_panic(expected = "is not after the key's latest")]
    fn revisions_must_increase() {
        let mut k = KeyIndex::default();
        k.put(r(5));
        k.put(r(5));
    }
}
