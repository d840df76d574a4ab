//! The memo of configurations the search has already explored.
//!
//! A configuration is (set of finished operations, model state). The search never explores one
//! twice: from equal configurations the rest of the search is identical. Lookups go by a 64-bit
//! hash first and then compare the full canonical encoding of the set and the state, so the memo
//! is exact: a hash collision costs a comparison, never a wrong answer.
//!
//! The table is open addressing with linear probing over a power-of-two slot array, grown at
//! half load. It is never iterated, so its layout cannot influence results.

use std::hash::{Hash, Hasher};

/// A fast, deterministic 64-bit hasher for model states (never `std`'s randomised one).
#[derive(Default)]
pub struct StateHasher(u64);

impl Hasher for StateHasher {
    fn finish(&self) -> u64 {
        mix(self.0)
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

/// SplitMix64's finaliser: spreads every input bit over the output.
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The hash of a state.
pub fn hash_state<S: Hash>(state: &S) -> u64 {
    let mut h = StateHasher::default();
    state.hash(&mut h);
    h.finish()
}

struct Entry<S> {
    hash: u64,
    /// The canonical encoding of the set is `keys[start..start + len]`.
    start: usize,
    len: usize,
    state: S,
}

/// Configurations seen so far.
pub struct Memo<S> {
    slots: Vec<u32>,
    entries: Vec<Entry<S>>,
    keys: Vec<u32>,
}

impl<S: Eq> Memo<S> {
    pub fn new() -> Memo<S> {
        Memo { slots: vec![0; 1024], entries: Vec::new(), keys: Vec::new() }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Inserts the configuration unless present; true if it was new. `encode` writes the
    /// canonical encoding of the set; it is called at most once.
    pub fn insert(
        &mut self,
        hash: u64,
        state: &S,
        encode: impl FnOnce(&mut Vec<u32>),
        clone: impl FnOnce(&S) -> S,
    ) -> bool {
        let mask = self.slots.len() - 1;
        let mut slot = (mix(hash) as usize) & mask;
        let mut encoded: Option<(usize, usize)> = None;
        let mut encode = Some(encode);
        loop {
            let at = self.slots[slot];
            if at == 0 {
                break;
            }
            let e = &self.entries[at as usize - 1];
            if e.hash == hash && e.state == *state {
                let (start, len) = *encoded.get_or_insert_with(|| {
                    let start = self.keys.len();
                    (encode.take().expect("encoded once"))(&mut self.keys);
                    (start, self.keys.len() - start)
                });
                let e = &self.entries[at as usize - 1];
                if self.keys[e.start..e.start + e.len] == self.keys[start..start + len] {
                    self.keys.truncate(start);
                    return false;
                }
            }
            slot = (slot + 1) & mask;
        }
        let (start, len) = encoded.unwrap_or_else(|| {
            let start = self.keys.len();
            (encode.take().expect("encoded once"))(&mut self.keys);
            (start, self.keys.len() - start)
        });
        self.entries.push(Entry { hash, start, len, state: clone(state) });
        let index = u32::try_from(self.entries.len()).expect("fewer than 2^32 memo entries");
        self.slots[slot] = index;
        if self.entries.len() * 2 > self.slots.len() {
            self.grow();
        }
        true
    }

    fn grow(&mut self) {
        let size = self.slots.len() * 2;
        let mask = size - 1;
        let mut slots = vec![0u32; size];
        for (i, e) in self.entries.iter().enumerate() {
            let mut slot = (mix(e.hash) as usize) & mask;
            while slots[slot] != 0 {
                slot = (slot + 1) & mask;
            }
            slots[slot] = i as u32 + 1;
        }
        self.slots = slots;
    }
}

impl<S: Eq> Default for Memo<S> {
    fn default() -> Self {
        Memo::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_even_when_hashes_collide() {
        let mut m: Memo<u8> = Memo::new();
        let enc = |k: &'static [u32]| move |out: &mut Vec<u32>| out.extend_from_slice(k);
        assert!(m.insert(7, &1, enc(&[1, 2]), |s| *s));
        assert!(!m.insert(7, &1, enc(&[1, 2]), |s| *s));
        // Same hash, same state, different set: a new configuration.
        assert!(m.insert(7, &1, enc(&[1, 3]), |s| *s));
        // Same hash and set, different state.
        assert!(m.insert(7, &2, enc(&[1, 2]), |s| *s));
        for i in 0..5000u32 {
            assert!(m.insert(u64::from(i) * 31, &0, |o: &mut Vec<u32>| o.push(i), |s| *s));
        }
        assert!(!m.insert(31 * 4999, &0, |o: &mut Vec<u32>| o.push(4999), |s| *s));
        assert_eq!(m.len(), 5003);
    }
}
