//! Primitive encoding shared by every type in [`super::message`].
//!
//! Layout rules (all versions):
//! - unsigned integers are LEB128 varints (7 bits per byte, low groups first, at most 10 bytes);
//! - byte strings and lists are a varint length followed by the items;
//! - booleans and enum tags are one byte.
//!
//! Decoding never trusts a length: a declared length larger than the bytes that remain is
//! [`DecodeError::LengthTooLarge`], so garbage never triggers a huge allocation.

use std::fmt;

/// Why a byte string could not be decoded. Every variant names the field and the byte offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The input ended inside `field`, which started at `offset`.
    Truncated { field: &'static str, offset: usize },
    /// The leading version byte is not one this build understands.
    BadVersion { found: u8, supported: u8 },
    /// A message type tag that no [`super::message::MessageType`] has.
    UnknownMessageType { tag: u8, offset: usize },
    /// An enum tag (entry kind, conf-change type, boolean) outside its range.
    BadTag { field: &'static str, tag: u8, offset: usize },
    /// A length prefix claims more items/bytes than the input has left.
    LengthTooLarge { field: &'static str, len: u64, remaining: usize, offset: usize },
    /// A varint longer than 10 bytes or overflowing 64 bits.
    VarintOverflow { field: &'static str, offset: usize },
    /// Bytes left over after a complete value.
    TrailingBytes { offset: usize, extra: usize },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated { field, offset } => {
                write!(f, "truncated field `{field}` at offset {offset}")
            }
            DecodeError::BadVersion { found, supported } => {
                write!(f, "bad codec version {found} (supported: {supported})")
            }
            DecodeError::UnknownMessageType { tag, offset } => {
                write!(f, "unknown message type {tag} at offset {offset}")
            }
            DecodeError::BadTag { field, tag, offset } => {
                write!(f, "bad tag {tag} for field `{field}` at offset {offset}")
            }
            DecodeError::LengthTooLarge { field, len, remaining, offset } => write!(
                f,
                "length {len} of field `{field}` at offset {offset} exceeds the {remaining} bytes left"
            ),
            DecodeError::VarintOverflow { field, offset } => {
                write!(f, "varint for field `{field}` at offset {offset} overflows 64 bits")
            }
            DecodeError::TrailingBytes { offset, extra } => {
                write!(f, "{extra} trailing bytes after the value ending at offset {offset}")
            }
        }
    }
}

impl std::error::Error for DecodeError {}

/// Appends `v` as a LEB128 varint.
pub fn put_u64(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends `v` as 8 little-endian bytes: for values spread over all 64 bits (member IDs are
/// hashes), where a varint would take 9 or 10 bytes and a byte-at-a-time loop.
pub fn put_fixed_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Appends a length-prefixed byte string.
pub fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_u64(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// A cursor over untrusted input (public so other decoders, e.g. the WAL, reuse it) that reports the field and offset of every failure.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub fn offset(&self) -> usize {
        self.pos
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        let b =
            *self.buf.get(self.pos).ok_or(DecodeError::Truncated { field, offset: self.pos })?;
        self.pos += 1;
        Ok(b)
    }

    pub fn u64(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        let start = self.pos;
        let mut v: u64 = 0;
        for shift in (0..70).step_by(7) {
            let b =
                *self.buf.get(self.pos).ok_or(DecodeError::Truncated { field, offset: start })?;
            self.pos += 1;
            let low = u64::from(b & 0x7f);
            if shift == 63 && low > 1 {
                return Err(DecodeError::VarintOverflow { field, offset: start });
            }
            v |= low << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(DecodeError::VarintOverflow { field, offset: start })
    }

    /// Reads a value written by [`put_fixed_u64`].
    pub fn fixed_u64(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        let bytes = self
            .buf
            .get(self.pos..self.pos + 8)
            .ok_or(DecodeError::Truncated { field, offset: self.pos })?;
        let v = u64::from_le_bytes(bytes.try_into().expect("a slice of 8 bytes"));
        self.pos += 8;
        Ok(v)
    }

    pub fn bool(&mut self, field: &'static str) -> Result<bool, DecodeError> {
        let offset = self.pos;
        match self.u8(field)? {
            0 => Ok(false),
            1 => Ok(true),
            tag => Err(DecodeError::BadTag { field, tag, offset }),
        }
    }

    /// A length prefix for `field` whose items take at least `min_item_size` bytes each.
    pub fn len(&mut self, field: &'static str, min_item_size: usize) -> Result<usize, DecodeError> {
        let offset = self.pos;
        let len = self.u64(field)?;
        let remaining = self.remaining();
        let fits = usize::try_from(len)
            .ok()
            .and_then(|n| n.checked_mul(min_item_size.max(1)))
            .is_some_and(|need| need <= remaining);
        if !fits {
            return Err(DecodeError::LengthTooLarge { field, len, remaining, offset });
        }
        Ok(len as usize)
    }

    pub fn bytes(&mut self, field: &'static str) -> Result<Vec<u8>, DecodeError> {
        let n = self.len(field, 1)?;
        let v = self.buf[self.pos..self.pos + n].to_vec();
        self.pos += n;
        Ok(v)
    }

    /// Checks the leading version byte.
    pub fn version(&mut self, supported: u8) -> Result<(), DecodeError> {
        let found = self.u8("version")?;
        if found != supported {
            return Err(DecodeError::BadVersion { found, supported });
        }
        Ok(())
    }

    /// Fails unless every byte was consumed.
    pub fn finish(&self) -> Result<(), DecodeError> {
        if self.pos != self.buf.len() {
            return Err(DecodeError::TrailingBytes {
                offset: self.pos,
                extra: self.buf.len() - self.pos,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_round_trips_edges() {
        for v in [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX - 1, u64::MAX] {
            let mut out = Vec::new();
            put_u64(&mut out, v);
            let mut r = Reader::new(&out);
            assert_eq!(r.u64("v").unwrap(), v);
            r.finish().unwrap();
        }
    }

    #[test]
    fn varint_overflow_is_an_error() {
        let bytes = [0xff; 11];
        let err = Reader::new(&bytes).u64("term").unwrap_err();
        assert_eq!(err, DecodeError::VarintOverflow { field: "term", offset: 0 });
        let mut ten = vec![0xff; 9];
        ten.push(0x02); // bit 64 set
        assert!(matches!(Reader::new(&ten).u64("x"), Err(DecodeError::VarintOverflow { .. })));
    }

    #[test]
    fn length_larger_than_input_is_rejected() {
        let mut out = Vec::new();
        put_u64(&mut out, 1 << 40);
        let err = Reader::new(&out).bytes("data").unwrap_err();
        assert!(matches!(err, DecodeError::LengthTooLarge { field: "data", .. }), "{err}");
    }
}
