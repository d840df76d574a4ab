//! WAL records and their on-disk framing.
//!
//! # Frame layout
//!
//! Every record is one frame, and every frame starts at an 8-byte aligned offset:
//!
//! ```text
//! offset 0   length word: u64, little-endian
//!              bits  0..32  body length in bytes (type + crc + data)
//!              bits 32..56  check: low 24 bits of CRC-32 (IEEE) over the 4 little-endian
//!                           bytes of the body length
//!              bits 56..64  0 when the body needs no padding, else 0x80 | pad (pad in 1..=7)
//! offset 8   body:  type u8 | crc u32 little-endian | data
//! then       pad zero bytes, so that the next frame is 8-byte aligned again
//! ```
//!
//! A length word of zero means "no more records in this segment" (segments are preallocated
//! with zeros). Like etcd, records are 8-byte aligned so that the length word never straddles a
//! sector and cannot be torn. Unlike etcd, the length word carries 24 check bits: a flipped bit
//! in a length is then reported as a bad frame instead of looking like a record that runs past
//! the end of the file, which would be mistaken for a torn tail and silently truncated.
//!
//! # Checksums
//!
//! `crc` is a running CRC-32 (IEEE polynomial, computed by `crc32fast`) over the type byte and
//! data of every non-crc record since the start of the WAL: each record's crc continues from the
//! previous one's. A crc record (type 4, empty data) carries the running value at the end of the
//! previous segment and is the first record of every segment, so the chain crosses segments.
//! etcd uses the Castagnoli polynomial; we use IEEE because `crc32fast` (the pre-declared
//! dependency, hardware accelerated with PCLMULQDQ / ARMv8 CRC) implements IEEE only. Both
//! detect all burst errors up to 32 bits; the format is ours (records are not protobuf), so
//! compatibility with etcd's files was never possible anyway. Unlike etcd, the type byte is
//! covered too, so a flipped type cannot turn an entry into a hard state unnoticed.

use std::fmt;

/// Bytes of the length word.
pub const LEN_WORD: u64 = 8;
/// Bytes of the body header (type + crc).
pub const BODY_HEADER: u64 = 5;
/// Largest body a frame can hold.
pub const MAX_BODY: u64 = u32::MAX as u64;

/// What a record holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum RecordType {
    /// The application's metadata (written at the head of every segment).
    Metadata,
    /// One encoded [`crate::core::Entry`].
    Entry,
    /// One encoded [`crate::core::HardState`].
    State,
    /// The running CRC at the end of the previous segment (empty data).
    Crc,
    /// A snapshot marker: an encoded [`crate::core::SnapshotMetadata`].
    Snapshot,
}

impl RecordType {
    /// The on-disk tag.
    pub fn tag(self) -> u8 {
        match self {
            RecordType::Metadata => 1,
            RecordType::Entry => 2,
            RecordType::State => 3,
            RecordType::Crc => 4,
            RecordType::Snapshot => 5,
        }
    }

    /// The type of an on-disk tag, if any.
    pub fn from_tag(tag: u8) -> Option<RecordType> {
        Some(match tag {
            1 => RecordType::Metadata,
            2 => RecordType::Entry,
            3 => RecordType::State,
            4 => RecordType::Crc,
            5 => RecordType::Snapshot,
            _ => return None,
        })
    }
}

impl fmt::Display for RecordType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            RecordType::Metadata => "metadata",
            RecordType::Entry => "entry",
            RecordType::State => "state",
            RecordType::Crc => "crc",
            RecordType::Snapshot => "snapshot",
        };
        f.pad(name)
    }
}

/// Continues the running CRC `prev` over a record's type and data.
pub fn chain_crc(prev: u32, kind: RecordType, data: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new_with_initial(prev);
    h.update(&[kind.tag()]);
    h.update(data);
    h.finalize()
}

/// The 24 check bits stored beside a body length.
fn length_check(body_len: u32) -> u64 {
    u64::from(crc32fast::hash(&body_len.to_le_bytes()) & 0x00ff_ffff)
}

/// Padding that makes `body_len` a multiple of 8.
pub fn padding(body_len: u64) -> u64 {
    (8 - body_len % 8) % 8
}

/// The length word for a body of `body_len` bytes.
pub fn encode_len_word(body_len: u64) -> u64 {
    assert!(body_len <= MAX_BODY, "record body of {body_len} bytes exceeds {MAX_BODY}");
    let pad = padding(body_len);
    let top = if pad == 0 { 0 } else { 0x80 | pad };
    body_len | (length_check(body_len as u32) << 32) | (top << 56)
}

/// A decoded, validated length word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    pub body_len: u64,
    pub pad: u64,
}

impl FrameHeader {
    /// Bytes of the whole frame (length word, body, padding).
    pub fn frame_len(&self) -> u64 {
        LEN_WORD + self.body_len + self.pad
    }
}

/// Validates a non-zero length word. The error says what is wrong.
pub fn decode_len_word(word: u64) -> Result<FrameHeader, String> {
    let body_len = word & 0xffff_ffff;
    let check = (word >> 32) & 0x00ff_ffff;
    let top = word >> 56;
    if check != length_check(body_len as u32) {
        return Err(format!("length word {word:#018x}: check bits do not match the length"));
    }
    let pad = match top {
        0 => 0,
        t if t & 0xf8 == 0x80 && t & 0x7 != 0 => t & 0x7,
        t => return Err(format!("length word {word:#018x}: bad padding byte {t:#04x}")),
    };
    if body_len < BODY_HEADER {
        return Err(format!("body length {body_len} is shorter than the record header"));
    }
    if padding(body_len) != pad {
        return Err(format!("padding {pad} does not align a body of {body_len} bytes"));
    }
    Ok(FrameHeader { body_len, pad })
}

/// Appends one frame holding `kind`, `crc` and `data` to `out`.
pub fn encode_frame(out: &mut Vec<u8>, kind: RecordType, crc: u32, data: &[u8]) {
    let start = out.len();
    let body_len = BODY_HEADER + data.len() as u64;
    out.extend_from_slice(&encode_len_word(body_len).to_le_bytes());
    out.push(kind.tag());
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(data);
    out.resize(out.len() + padding(body_len) as usize, 0);
    assert_frame_round_trip(&out[start..], kind, crc, data);
}

/// The frame just written decodes back to what was encoded: its length word, type, CRC and
/// data (a paired assertion, on in every build).
fn assert_frame_round_trip(frame: &[u8], kind: RecordType, crc: u32, data: &[u8]) {
    let word = u64::from_le_bytes(frame[..LEN_WORD as usize].try_into().expect("8 bytes"));
    let header = decode_len_word(word)
        .unwrap_or_else(|e| panic!("wal frame for {kind:?} of {} bytes: {e}", data.len()));
    let body = &frame[LEN_WORD as usize..];
    let stored = u32::from_le_bytes([body[1], body[2], body[3], body[4]]);
    let back = &body[BODY_HEADER as usize..(header.body_len as usize)];
    assert!(
        header.frame_len() == frame.len() as u64
            && RecordType::from_tag(body[0]) == Some(kind)
            && stored == crc
            && back == data,
        "wal frame does not round-trip: {kind:?} crc {crc:#x} {} data bytes came back as \
         frame_len {} (written {}), tag {}, crc {stored:#x}, {} data bytes",
        data.len(),
        header.frame_len(),
        frame.len(),
        body[0],
        back.len()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(expected = "wal frame does not round-trip")]
    fn a_frame_that_decodes_to_something_else_stops_the_writer() {
        let mut out = Vec::new();
        encode_frame(&mut out, RecordType::Entry, 7, b"abc");
        // The checker, handed the frame and a different claim of what was encoded.
        assert_frame_round_trip(&out, RecordType::Entry, 8, b"abc");
    }

    #[test]
    fn frames_are_aligned_and_len_words_round_trip() {
        for n in 0..40usize {
            let mut out = Vec::new();
            encode_frame(&mut out, RecordType::Entry, 7, &vec![0xab; n]);
            assert_eq!(out.len() % 8, 0, "data {n}");
            let word = u64::from_le_bytes(out[..8].try_into().unwrap());
            let h = decode_len_word(word).unwrap();
            assert_eq!(h.body_len, 5 + n as u64);
            assert_eq!(h.frame_len(), out.len() as u64);
        }
    }

    #[test]
    fn every_single_bit_flip_of_a_len_word_is_detected() {
        for n in [0u64, 3, 11, 1000, 123_456] {
            let word = encode_len_word(BODY_HEADER + n);
            for bit in 0..64 {
                let flipped = word ^ (1 << bit);
                assert!(decode_len_word(flipped).is_err(), "n {n} bit {bit}: {flipped:#x}");
            }
        }
    }

    #[test]
    fn tags_round_trip() {
        for t in [
            RecordType::Metadata,
            RecordType::Entry,
            RecordType::State,
            RecordType::Crc,
            RecordType::Snapshot,
        ] {
            assert_eq!(RecordType::from_tag(t.tag()), Some(t));
        }
        assert_eq!(RecordType::from_tag(0), None);
        assert_eq!(RecordType::from_tag(6), None);
    }
}
