//! The snapshot file format.
//!
//! ```text
//! offset  0  magic      b"RSNP"
//! offset  4  crc        u32 little-endian: CRC-32 (IEEE, crc32fast) of the body
//! offset  8  body_len   u64 little-endian
//! offset 16  body       a `Snapshot` in the core codec (metadata + data)
//! ```
//!
//! The file is exactly `16 + body_len` bytes. Named `%016x-%016x.snap` after (term, index),
//! so names sort oldest to newest.

use crate::core::{Codec, Snapshot};

use super::error::SnapError;

/// The first four bytes of every snapshot file.
pub const MAGIC: &[u8; 4] = b"RSNP";
/// Bytes before the body.
pub const HEADER: usize = 16;
/// The file-name suffix of a snapshot.
pub const SUFFIX: &str = ".snap";

/// The file name of a snapshot at (term, index).
pub fn file_name(term: u64, index: u64) -> String {
    format!("{term:016x}-{index:016x}{SUFFIX}")
}

/// (term, index) parsed from a snapshot file name.
pub fn parse_name(name: &str) -> Option<(u64, u64)> {
    let stem = name.strip_suffix(SUFFIX)?;
    let (t, i) = stem.split_once('-')?;
    let hex = |s: &str| {
        (s.len() == 16 && s.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| u64::from_str_radix(s, 16).ok())
            .flatten()
    };
    Some((hex(t)?, hex(i)?))
}

/// The bytes of a snapshot file.
pub fn encode(snap: &Snapshot) -> Vec<u8> {
    let body = snap.to_bytes();
    let mut out = Vec::with_capacity(HEADER + body.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

/// Decodes the bytes of the snapshot file `file`; every failure names the file and offset.
pub fn decode(file: &str, bytes: &[u8]) -> Result<Snapshot, SnapError> {
    let corrupt =
        |offset: u64, detail: String| SnapError::Corrupt { file: file.to_string(), offset, detail };
    if bytes.len() < HEADER {
        return Err(corrupt(0, format!("{} bytes is shorter than the header", bytes.len())));
    }
    if &bytes[..4] != MAGIC {
        return Err(corrupt(0, format!("bad magic {:02x?}", &bytes[..4])));
    }
    let stored = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
    let mut len = [0u8; 8];
    len.copy_from_slice(&bytes[8..16]);
    let body_len = u64::from_le_bytes(len);
    let have = (bytes.len() - HEADER) as u64;
    if body_len != have {
        return Err(corrupt(8, format!("body length {body_len} but {have} bytes follow")));
    }
    let body = &bytes[HEADER..];
    let computed = crc32fast::hash(body);
    if computed != stored {
        return Err(corrupt(
            4,
            format!("crc mismatch: stored {stored:#010x}, computed {computed:#010x}"),
        ));
    }
    Snapshot::decode(body).map_err(|e| corrupt(HEADER as u64, format!("bad body: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{ConfState, SnapshotMetadata};

    fn sample() -> Snapshot {
        Snapshot {
            metadata: SnapshotMetadata {
                conf_state: ConfState { voters: vec![1, 2, 3], learners: vec![] },
                index: 42,
                term: 7,
            },
            data: b"state machine image".to_vec(),
        }
    }

    #[test]
    fn round_trip_and_names() {
        let s = sample();
        assert_eq!(decode("x", &encode(&s)).unwrap(), s);
        let name = file_name(7, 42);
        assert_eq!(name, "0000000000000007-000000000000002a.snap");
        assert_eq!(parse_name(&name), Some((7, 42)));
        assert_eq!(parse_name("0000000000000007-000000000000002a.snap.broken"), None);
    }

    #[test]
    fn every_truncation_and_bit_flip_is_a_named_error() {
        let bytes = encode(&sample());
        for cut in 0..bytes.len() {
            let err = decode("f.snap", &bytes[..cut]).unwrap_err();
            assert!(matches!(err, SnapError::Corrupt { ref file, .. } if file == "f.snap"));
        }
        for bit in 0..bytes.len() * 8 {
            let mut b = bytes.clone();
            b[bit / 8] ^= 1 << (bit % 8);
            assert!(decode("f.snap", &b).is_err(), "bit {bit} flip went unnoticed");
        }
    }
}
