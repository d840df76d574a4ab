//! The wire format of one frame on a real TCP connection, and its reader.
//!
//! Layout: a 4-byte big-endian unsigned length `n`, then `n` payload bytes. `n` never exceeds
//! the connection's maximum frame size (at most [`crate::io::net::MAX_FRAME`], which fits in a
//! `u32`). Bytes coming off a socket are untrusted: a length above the maximum, or a stream that
//! ends inside a frame, is a [`FrameError`], never a panic and never an allocation of the
//! announced size.

use std::fmt;
use std::io::{self, Read, Write};

/// Size of the length prefix in bytes.
pub const HEADER_LEN: usize = 4;

/// Why reading a frame from the socket failed. Every variant ends the connection with a reset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// The length prefix announces more than the maximum frame size.
    TooLarge { len: u64, max: usize },
    /// The stream ended inside a frame: `got` of `expected` bytes of the `part` arrived.
    Truncated { part: FramePart, expected: usize, got: usize },
    /// The socket failed (reset by the peer, shut down locally, ...).
    Io { kind: io::ErrorKind, detail: String },
}

/// Which part of a frame a [`FrameError::Truncated`] refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FramePart {
    Header,
    Payload,
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::TooLarge { len, max } => {
                write!(f, "frame length prefix {len} exceeds the maximum of {max} bytes")
            }
            FrameError::Truncated { part, expected, got } => {
                write!(f, "stream ended inside a frame {part:?}: got {got} of {expected} bytes")
            }
            FrameError::Io { kind, detail } => write!(f, "socket error ({kind:?}): {detail}"),
        }
    }
}

impl std::error::Error for FrameError {}

impl From<io::Error> for FrameError {
    fn from(e: io::Error) -> FrameError {
        FrameError::Io { kind: e.kind(), detail: e.to_string() }
    }
}

/// The bytes of one frame on the wire: header then payload, in one buffer so that it leaves in
/// one write. The caller has checked `payload.len() <= max`, hence it fits the `u32` header.
pub fn encode(payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).unwrap_or_else(|_| {
        panic!("frame of {} bytes does not fit a u32 length prefix", payload.len())
    });
    let mut wire = Vec::with_capacity(HEADER_LEN + payload.len());
    wire.extend_from_slice(&len.to_be_bytes());
    wire.extend_from_slice(payload);
    wire
}

/// Writes one frame (see [`encode`]).
pub fn write_frame(w: &mut impl Write, payload: &[u8]) -> io::Result<()> {
    w.write_all(&encode(payload))
}

/// Reads the next frame. `Ok(None)` means the stream ended cleanly between frames.
pub fn read_frame(r: &mut impl Read, max: usize) -> Result<Option<Vec<u8>>, FrameError> {
    let mut header = [0u8; HEADER_LEN];
    let got = fill(r, &mut header)?;
    if got == 0 {
        return Ok(None);
    }
    if got < HEADER_LEN {
        return Err(FrameError::Truncated { part: FramePart::Header, expected: HEADER_LEN, got });
    }
    let len = u32::from_be_bytes(header);
    let len = match usize::try_from(len) {
        Ok(n) if n <= max => n,
        _ => return Err(FrameError::TooLarge { len: u64::from(len), max }),
    };
    let mut payload = vec![0u8; len];
    let got = fill(r, &mut payload)?;
    if got < len {
        return Err(FrameError::Truncated { part: FramePart::Payload, expected: len, got });
    }
    Ok(Some(payload))
}

/// Reads until `buf` is full or the stream ends; returns how many bytes arrived.
fn fill(r: &mut impl Read, buf: &mut [u8]) -> Result<usize, FrameError> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(got)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(mut bytes: &[u8], max: usize) -> (Vec<Vec<u8>>, Option<FrameError>) {
        let mut frames = Vec::new();
        loop {
            match read_frame(&mut bytes, max) {
                Ok(Some(f)) => frames.push(f),
                Ok(None) => return (frames, None),
                Err(e) => return (frames, Some(e)),
            }
        }
    }

    #[test]
    fn frames_round_trip_in_order() {
        let mut wire = Vec::new();
        for payload in [&b"one"[..], b"", b"three!"] {
            write_frame(&mut wire, payload).unwrap();
        }
        assert_eq!(&wire[..HEADER_LEN], &[0, 0, 0, 3]);
        let (frames, err) = read_all(&wire, 16);
        assert_eq!(err, None);
        assert_eq!(frames, vec![b"one".to_vec(), Vec::new(), b"three!".to_vec()]);
    }

    #[test]
    fn an_oversized_prefix_is_rejected_before_allocating() {
        let wire = [0xff, 0xff, 0xff, 0xff, 1, 2, 3];
        let (frames, err) = read_all(&wire, 1024);
        assert!(frames.is_empty());
        assert_eq!(err, Some(FrameError::TooLarge { len: u64::from(u32::MAX), max: 1024 }));
    }

    #[test]
    fn a_stream_ending_inside_a_frame_is_truncated_not_clean() {
        let (_, err) = read_all(&[0, 0], 1024);
        assert_eq!(
            err,
            Some(FrameError::Truncated { part: FramePart::Header, expected: 4, got: 2 })
        );
        let (_, err) = read_all(&[0, 0, 0, 5, b'a', b'b'], 1024);
        assert_eq!(
            err,
            Some(FrameError::Truncated { part: FramePart::Payload, expected: 5, got: 2 })
        );
    }

    #[test]
    fn a_frame_of_exactly_the_maximum_is_accepted() {
        let wire = encode(&[7u8; 10]);
        let (frames, err) = read_all(&wire, 10);
        assert_eq!((frames.len(), err), (1, None));
        let (frames, err) = read_all(&wire, 9);
        assert_eq!((frames.len(), err), (0, Some(FrameError::TooLarge { len: 10, max: 9 })));
    }
}
