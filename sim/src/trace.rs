//! The trace: every event of a run as (time, node, kind, payload digest), folded into a rolling
//! 64-bit trace hash, optionally kept as records and rendered for humans one line per event.
//!
//! The hash is computed by our own code (FNV-1a for strings and bytes, SplitMix64 finalisation for
//! payload digests, and a folded 64x64->128-bit multiply per event for the rolling hash), never
//! by `std`'s `DefaultHasher`, whose output may change between Rust releases. Same seed, same
//! binary, same `Cargo.lock` => same trace hash.
//!
//! Folding one event costs two independent 128-bit multiplies (see [`Trace::event_of`]): one
//! chains the previous hash with the event's time and digest, the other mixes its node and kind.
//! It runs once per simulated event, so it is kept that cheap.
//!
//! Keeping records costs an allocation per event, so it is off by default; the hash is always
//! computed.

use std::fmt;

use crate::env::NodeId;
use crate::seed::fnv1a64;
use crate::time::Instant;

/// Mixes `v` into `h` (one SplitMix64-style finalisation round). Order-sensitive.
#[inline]
pub fn mix(h: u64, v: u64) -> u64 {
    let mut z = (h ^ v).wrapping_add(0x9e37_79b9_7f4a_7c15).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Multiplies `a` by `b` as 128-bit numbers and folds the product (high ^ low word): one
/// multiply that mixes every bit of both inputs (the `mum` of wyhash).
#[inline]
pub fn fold(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

/// Constants that keep the multiplicands of [`fold`] away from zero (wyhash's secrets).
const S0: u64 = 0xa076_1d64_78bd_642f;
const S1: u64 = 0xe703_7ed1_a0b4_28db;
const S2: u64 = 0x8ebc_6af0_9c88_c6e3;
const S3: u64 = 0x5899_65cc_7537_4cc3;

/// Combines two words into one digest with a single [`fold`] (cheaper than two [`mix`] rounds);
/// for the digests of hot, structured events (network items, timers).
#[inline]
pub fn pair(a: u64, b: u64) -> u64 {
    fold(a ^ S2, b ^ S3)
}

/// Digest of a frame's bytes for the trace: one [`fold`] per 8-byte word (and one for the 0-7
/// trailing bytes, with the length), so the short frames every simulated message carries cost
/// two multiplies. Stable across platforms (little-endian words). [`digest`] is the general one.
#[inline]
pub fn frame_digest(bytes: &[u8]) -> u64 {
    let mut h = S0 ^ (bytes.len() as u64);
    let mut words = bytes.chunks_exact(8);
    for w in &mut words {
        h = fold(h ^ u64::from_le_bytes(w.try_into().expect("chunks of 8")), S1);
    }
    let last = words.remainder().iter().rev().fold(0u64, |w, &b| (w << 8) | u64::from(b));
    fold(h ^ last ^ S2, S1)
}

/// Digest of a byte payload (frames, file contents): eight bytes per multiply, then a SplitMix64
/// finalisation, so large payloads hash fast. Stable across platforms (little-endian words).
pub fn digest(bytes: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut h = 0x243f_6a88_85a3_08d3 ^ (bytes.len() as u64);
    let mut words = bytes.chunks_exact(8);
    for w in &mut words {
        let word = u64::from_le_bytes(w.try_into().expect("chunks of 8"));
        h = (h ^ word).wrapping_mul(K).rotate_left(29);
    }
    // The 0-7 trailing bytes as a little-endian word (zero-padded), built without a memcpy call.
    let last = words.remainder().iter().rev().fold(0u64, |w, &b| (w << 8) | u64::from(b));
    h = (h ^ last).wrapping_mul(K).rotate_left(29);
    mix(h, 0)
}

/// An event kind with its FNV-1a hash (what enters the trace hash).
#[derive(Clone, Copy, Debug)]
pub struct Kind<'a> {
    pub name: &'a str,
    pub hash: u64,
}

impl Kind<'static> {
    /// A kind known at compile time; its hash is computed at compile time too.
    pub const fn new(name: &'static str) -> Kind<'static> {
        let bytes = name.as_bytes();
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut i = 0;
        while i < bytes.len() {
            h ^= bytes[i] as u64;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
            i += 1;
        }
        Kind { name, hash: h }
    }
}

impl<'a> Kind<'a> {
    /// A kind named at run time (hashed now).
    pub fn new_dynamic(name: &'a str) -> Kind<'a> {
        Kind { name, hash: fnv1a64(name.as_bytes()) }
    }
}

/// One recorded event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Global virtual time of the event.
    pub time: Instant,
    /// The node it happened on, or `None` for world-level events (faults, network controls).
    pub node: Option<NodeId>,
    /// What happened: `start`, `timer`, `net`, `request`, `crash`, a fault name, an actor's kind.
    pub kind: String,
    /// Digest of the payload (what entered the hash besides time, node and kind).
    pub digest: u64,
    /// Human-readable payload summary.
    pub detail: String,
}

impl fmt::Display for Record {
    /// `   0.001000000s n1   net        conn=1 frame len=8 digest=0x...`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let node = match self.node {
            Some(n) => n.to_string(),
            None => "-".to_string(),
        };
        write!(
            f,
            "{:>16} {:<4} {:<12} {:016x}",
            self.time.to_string(),
            node,
            self.kind,
            self.digest
        )?;
        if !self.detail.is_empty() {
            write!(f, " {}", self.detail)?;
        }
        Ok(())
    }
}

/// The run's trace: a rolling hash over every event and, when enabled, the records themselves.
#[derive(Clone, Debug)]
pub struct Trace {
    hash: u64,
    events: u64,
    keep: bool,
    records: Vec<Record>,
}

/// The hash of an empty trace.
const TRACE_HASH_INIT: u64 = 0x6a09_e667_f3bc_c908;

impl Trace {
    /// A new trace; `keep_records` decides whether records (and their details) are stored.
    pub fn new(keep_records: bool) -> Trace {
        Trace { hash: TRACE_HASH_INIT, events: 0, keep: keep_records, records: Vec::new() }
    }

    /// Whether records are kept (callers skip formatting details when not).
    pub fn keeps_records(&self) -> bool {
        self.keep
    }

    /// Folds one event into the hash; `detail` is only evaluated when records are kept.
    #[inline]
    pub fn event(
        &mut self,
        time: Instant,
        node: Option<NodeId>,
        kind: &str,
        digest: u64,
        detail: impl FnOnce() -> String,
    ) {
        self.event_of(time, node, Kind::new_dynamic(kind), digest, detail)
    }

    /// [`Trace::event`] with the kind's hash computed ahead of time (hot paths).
    #[inline]
    pub fn event_of(
        &mut self,
        time: Instant,
        node: Option<NodeId>,
        kind: Kind<'_>,
        digest: u64,
        detail: impl FnOnce() -> String,
    ) {
        let Kind { name: kind, hash: kind_hash } = kind;
        let node_word = node.map_or(u64::MAX, |n| u64::from(n.0));
        // Two independent multiplies: the chain (previous hash, time, digest) and the event's
        // (kind, node). Order-sensitive through the chain; a multiplicand is zero only by a
        // 2^-64 coincidence.
        let chain = fold(self.hash ^ time.as_nanos() ^ S0, digest ^ S1);
        self.hash = chain ^ fold(kind_hash ^ S2, node_word.rotate_left(32) ^ S3);
        self.events += 1;
        if self.keep {
            self.records.push(Record {
                time,
                node,
                kind: kind.to_string(),
                digest,
                detail: detail(),
            });
        }
    }

    /// The rolling trace hash so far.
    pub fn hash(&self) -> u64 {
        self.hash
    }

    /// Number of events folded into the hash.
    pub fn len(&self) -> u64 {
        self.events
    }

    /// Whether no event was recorded.
    pub fn is_empty(&self) -> bool {
        self.events == 0
    }

    /// The kept records (empty unless records are kept).
    pub fn records(&self) -> &[Record] {
        &self.records
    }

    /// One line per kept record, at most `limit` lines.
    pub fn render(&self, limit: usize) -> String {
        let mut out = String::new();
        for r in self.records.iter().take(limit) {
            out.push_str(&r.to_string());
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(keep: bool, kinds: &[&str]) -> Trace {
        let mut t = Trace::new(keep);
        for (i, k) in kinds.iter().enumerate() {
            t.event(Instant(i as u64 * 10), Some(NodeId(1)), k, i as u64, || format!("i={i}"));
        }
        t
    }

    #[test]
    fn hash_is_order_sensitive_and_independent_of_record_keeping() {
        let a = sample(false, &["a", "b"]);
        let b = sample(true, &["a", "b"]);
        let c = sample(false, &["b", "a"]);
        assert_eq!(a.hash(), b.hash());
        assert_ne!(a.hash(), c.hash());
        assert_eq!(a.len(), 2);
        assert!(a.records().is_empty());
        assert_eq!(b.records().len(), 2);
    }

    #[test]
    fn hash_is_pinned() {
        // The hash function is part of the reproducibility promise: changing it silently would
        // invalidate every recorded trace hash.
        assert_eq!(sample(false, &["start", "timer"]).hash(), 0xcaad_2772_1b96_8a1e);
        assert_eq!(mix(0, 0), 0xd85d_1d82_3d12_cde7);
        assert_eq!(fold(3, 5), 15);
        assert_eq!(fold(u64::MAX, 2), u64::MAX, "high word 1 ^ low word 2^64 - 2");
    }

    #[test]
    fn every_field_of_an_event_enters_the_hash() {
        let one = |time: u64, node: Option<u32>, kind: &str, digest: u64| {
            let mut t = Trace::new(false);
            t.event(Instant(time), node.map(NodeId), kind, digest, String::new);
            t.hash()
        };
        let base = one(10, Some(1), "net", 7);
        assert_ne!(base, one(11, Some(1), "net", 7), "time");
        assert_ne!(base, one(10, Some(2), "net", 7), "node");
        assert_ne!(base, one(10, None, "net", 7), "no node");
        assert_ne!(base, one(10, Some(1), "timer", 7), "kind");
        assert_ne!(base, one(10, Some(1), "net", 8), "digest");
        // Node and digest do not cancel out: (node 1, digest 2) vs (node 2, digest 1).
        assert_ne!(one(10, Some(1), "net", 2), one(10, Some(2), "net", 1));
    }

    #[test]
    fn digest_is_pinned_and_sensitive() {
        assert_eq!(digest(b"pingpong frame"), digest(b"pingpong frame"));
        assert_ne!(digest(b"pingpong frame"), digest(b"pingpong framf"));
        assert_ne!(digest(b""), digest(&[0]), "length enters the digest");
        assert_ne!(digest(&[1, 2, 3, 4, 5, 6, 7, 8, 9]), digest(&[1, 2, 3, 4, 5, 6, 7, 8, 10]));
        assert_eq!(digest(b"pingpong frame"), 0xe318_b656_bd94_3962);
    }

    #[test]
    fn frame_digest_is_pinned_and_sensitive() {
        assert_ne!(frame_digest(b""), frame_digest(&[0]), "length enters the digest");
        assert_ne!(frame_digest(&[1; 9]), frame_digest(&[1, 1, 1, 1, 1, 1, 1, 1, 2]));
        assert_ne!(frame_digest(&[1; 9]), frame_digest(&[2, 1, 1, 1, 1, 1, 1, 1, 1]));
        assert_ne!(frame_digest(&[0; 16]), frame_digest(&[0; 17]));
        assert_eq!(frame_digest(b"pingpong frame"), 0x8cf4_a14b_1883_711b);
    }

    #[test]
    fn compile_time_kind_hash_matches_run_time() {
        const TIMER: Kind<'static> = Kind::new("timer");
        assert_eq!(TIMER.hash, fnv1a64(b"timer"));
        let mut a = Trace::new(false);
        let mut b = Trace::new(false);
        a.event(Instant(1), None, "timer", 2, String::new);
        b.event_of(Instant(1), None, TIMER, 2, String::new);
        assert_eq!(a.hash(), b.hash());
    }

    #[test]
    fn render_is_one_line_per_record() {
        let t = sample(true, &["start", "timer", "net"]);
        let text = t.render(2);
        assert_eq!(text.lines().count(), 2);
        assert!(text.lines().next().unwrap().contains("start"), "{text}");
        assert!(text.contains("i=1"), "{text}");
    }
}
