//! The root seed and labelled RNG streams.
//!
//! One `u64` root seed drives a whole run. Every consumer of randomness (the network, each
//! node's disk faults, the workload, each node's own logic, ...) draws from its own ChaCha8
//! stream derived from `(root seed, label)`. Streams are independent: adding a new consumer with
//! a new label never shifts the numbers another label sees.
//!
//! Stability promise: the same root seed, the same binary and the same `Cargo.lock` produce the
//! same streams, byte for byte, on every machine. The derivation below uses only our own code
//! (FNV-1a and SplitMix64), never `std`'s `DefaultHasher`, whose output may change between Rust
//! releases.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The random number generator every simulated component uses.
pub type Rng = ChaCha8Rng;

/// The root seed of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Seed(pub u64);

impl Seed {
    /// The stream named `label`. Calling this twice with the same label gives two generators that
    /// produce the same sequence.
    pub fn stream(self, label: &str) -> Rng {
        ChaCha8Rng::from_seed(self.stream_key(label))
    }

    /// A child seed for `label`: used to hand a whole sub-world (a node, a scenario) its own root.
    pub fn child(self, label: &str) -> Seed {
        let key = self.stream_key(label);
        Seed(u64::from_le_bytes(key[..8].try_into().expect("key has 32 bytes")))
    }

    /// The 32-byte ChaCha key for `label`: SplitMix64 expanded from `seed ^ fnv1a(label)`.
    fn stream_key(self, label: &str) -> [u8; 32] {
        let mut state = self.0 ^ fnv1a64(label.as_bytes());
        let mut key = [0u8; 32];
        for chunk in key.chunks_exact_mut(8) {
            chunk.copy_from_slice(&splitmix64(&mut state).to_le_bytes());
        }
        key
    }
}

/// FNV-1a, 64-bit: a stable, dependency-free byte hash.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// SplitMix64 step: advances `state` and returns a well-mixed output.
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng as _;

    #[test]
    fn same_label_same_stream() {
        let a: Vec<u64> =
            (0..8).map(|_| 0).scan(Seed(7).stream("net"), |r, _| Some(r.random())).collect();
        let b: Vec<u64> =
            (0..8).map(|_| 0).scan(Seed(7).stream("net"), |r, _| Some(r.random())).collect();
        assert_eq!(a, b);
    }

    #[test]
    fn labels_and_seeds_are_independent() {
        let x: u64 = Seed(7).stream("net").random();
        let y: u64 = Seed(7).stream("disk").random();
        let z: u64 = Seed(8).stream("net").random();
        assert_ne!(x, y);
        assert_ne!(x, z);
    }

    #[test]
    fn streams_are_pinned() {
        const PINNED: u64 = 15_069_618_604_879_907_446;
        // Changing the derivation silently would break every saved reproduction command.
        let v: u64 = Seed(1).stream("workload").random();
        assert_eq!(v, PINNED);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
