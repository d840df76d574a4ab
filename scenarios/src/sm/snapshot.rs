//! The state machine's snapshot: a self-describing dump of the MVCC store's two bolt buckets.
//!
//! Layout (varints and length-prefixed byte strings as in [`raft::core::codec`]):
//! ```text
//! 0   4  magic "MVSM"
//! 4   8  checksum: sim::trace::digest of the body, little-endian
//! 12  .. body: format version byte (1), consistent index,
//!        then the `meta` bucket and the `key` bucket, each: entry count, then per entry
//!        key, value (keys strictly increasing, as a bolt cursor returns them)
//! ```
//! The checksum covers the whole body (its length included), so truncation and garbage are
//! refused before anything is parsed; parsing still checks every length and the key order, and
//! the restoring side opens the rebuilt store, which validates every record.

use raft::core::codec::{put_bytes, put_u64, DecodeError, Reader};

const MAGIC: &[u8; 4] = b"MVSM";
const FORMAT_VERSION: u8 = 1;
const HEADER: usize = 12;

/// One bucket's entries in key order.
pub type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// The decoded contents of a snapshot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dump {
    /// The consistent index the dump was taken at (also in `meta`; checked to agree on restore).
    pub index: u64,
    /// The `meta` bucket.
    pub meta: Entries,
    /// The `key` bucket.
    pub key: Entries,
}

/// Encodes `dump` in the layout above.
pub fn encode(dump: &Dump) -> Vec<u8> {
    let mut body = vec![FORMAT_VERSION];
    put_u64(&mut body, dump.index);
    for bucket in [&dump.meta, &dump.key] {
        put_u64(&mut body, bucket.len() as u64);
        for (k, v) in bucket {
            put_bytes(&mut body, k);
            put_bytes(&mut body, v);
        }
    }
    let mut out = Vec::with_capacity(HEADER + body.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&sim::trace::digest(&body).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

/// Decodes bytes made by [`encode`]; every malformation is an error naming it.
pub fn decode(bytes: &[u8]) -> Result<Dump, String> {
    if bytes.len() < HEADER {
        return Err(format!("{} bytes is shorter than the {HEADER}-byte header", bytes.len()));
    }
    if &bytes[..4] != MAGIC {
        return Err(format!("magic {:02x?} is not \"MVSM\"", &bytes[..4]));
    }
    let stored = u64::from_le_bytes(bytes[4..HEADER].try_into().expect("8 bytes"));
    let body = &bytes[HEADER..];
    let computed = sim::trace::digest(body);
    if stored != computed {
        return Err(format!(
            "checksum mismatch over {} body bytes: stored {stored:016x}, computed {computed:016x}",
            body.len()
        ));
    }
    decode_body(body).map_err(|e| e.to_string())
}

fn decode_body(body: &[u8]) -> Result<Dump, DecodeError> {
    let mut r = Reader::new(body);
    r.version(FORMAT_VERSION)?;
    let index = r.u64("snapshot.index")?;
    let meta = decode_bucket(&mut r, "snapshot.meta")?;
    let key = decode_bucket(&mut r, "snapshot.key")?;
    r.finish()?;
    Ok(Dump { index, meta, key })
}

fn decode_bucket(r: &mut Reader<'_>, field: &'static str) -> Result<Entries, DecodeError> {
    // Each entry takes at least two length bytes.
    let n = r.len(field, 2)?;
    let mut out: Entries = Vec::with_capacity(n);
    for _ in 0..n {
        let offset = r.offset();
        let k = r.bytes(field)?;
        let v = r.bytes(field)?;
        if out.last().is_some_and(|(prev, _)| *prev >= k) {
            // Not a length problem, but the codec has no better variant: a tag that is wrong.
            return Err(DecodeError::BadTag { field: "snapshot key order", tag: 0, offset });
        }
        out.push((k, v));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Dump {
        Dump {
            index: 42,
            meta: vec![(b"consistent_index".to_vec(), 42u64.to_be_bytes().to_vec())],
            key: vec![(b"k1".to_vec(), b"v1".to_vec()), (b"k2".to_vec(), vec![])],
        }
    }

    #[test]
    fn round_trips() {
        assert_eq!(decode(&encode(&sample())), Ok(sample()));
        assert_eq!(decode(&encode(&Dump::default())), Ok(Dump::default()));
    }

    #[test]
    fn every_truncation_and_flip_is_refused() {
        let bytes = encode(&sample());
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "prefix of {cut} bytes decoded");
        }
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x10;
            assert!(decode(&b).is_err(), "flip at byte {i} decoded");
        }
    }

    #[test]
    fn unordered_keys_are_refused_even_with_a_good_checksum() {
        let mut d = sample();
        d.key.swap(0, 1);
        let e = decode(&encode(&d)).unwrap_err();
        assert!(e.contains("key order"), "{e}");
    }
}
