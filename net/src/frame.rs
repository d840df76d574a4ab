//! Frames: the unit the peer transport puts on a connection.
//!
//! The Net seam already delivers whole messages, so one frame is exactly one Net message. Every
//! frame carries the sender's cluster ID and both member IDs, so identity is checked on every
//! frame, not only when a connection opens.
//!
//! The byte layout is documented on [`Frame`].

use std::fmt;

use crate::ids::{ClusterId, MemberId};

/// The first four bytes of every frame.
pub const MAGIC: [u8; 4] = *b"RNF1";
/// The only frame version this code writes and reads.
pub const VERSION: u8 = 2;
/// Size of the fixed header in bytes.
pub const HEADER_LEN: usize = 40;

// Header field offsets (layout on [`Frame`]).
const CRC_AT: usize = 4;
/// The checksum covers the frame from here to its end.
const CHECKED_FROM: usize = 8;
const VERSION_AT: usize = 8;
const KIND_AT: usize = 9;
const RESERVED_AT: usize = 10;
const CLUSTER_AT: usize = 12;
const FROM_AT: usize = 20;
const TO_AT: usize = 28;
const LEN_AT: usize = 36;
/// Largest payload a frame may carry (16 MiB): a peer announcing more is refused before any
/// allocation.
pub const MAX_PAYLOAD: usize = 16 << 20;
/// Largest encoded frame.
pub const MAX_FRAME_LEN: usize = HEADER_LEN + MAX_PAYLOAD;
/// Longest sender address a pipeline message may carry (see [`encode_pipeline_payload`]).
pub const MAX_ADDR_LEN: usize = 255;
/// Largest raft message the transport sends: what is left of [`MAX_PAYLOAD`] once a pipeline
/// frame has prefixed the longest sender address.
pub const MAX_MESSAGE: usize = MAX_PAYLOAD - 2 - MAX_ADDR_LEN;

/// Which stream a hello frame opens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StreamType {
    /// Carries every message kind except snapshots.
    General,
    /// The optimized stream the leader uses for append messages.
    Append,
}

/// What a raft message is, as far as the transport cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MessageKind {
    /// Any message that is neither an append nor a snapshot.
    General,
    /// An append (msgApp): preferably sent on the append stream.
    Append,
    /// A snapshot: always sent on its own pipeline connection; its outcome is reported.
    Snapshot,
}

/// The kind byte of a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FrameKind {
    /// First frame on a stream connection, sent by the side that wants to receive.
    Hello(StreamType),
    /// A raft message.
    Message(MessageKind),
    /// The stream was accepted; messages follow.
    Accepted,
    /// A pipeline message was delivered.
    Ack,
    /// The connection was refused; the payload is one [`crate::refusal::RefusalCode`] byte.
    Refused,
}

impl FrameKind {
    /// The on-wire code.
    pub fn code(self) -> u8 {
        match self {
            FrameKind::Hello(StreamType::General) => 0x01,
            FrameKind::Hello(StreamType::Append) => 0x02,
            FrameKind::Message(MessageKind::General) => 0x10,
            FrameKind::Message(MessageKind::Append) => 0x11,
            FrameKind::Message(MessageKind::Snapshot) => 0x12,
            FrameKind::Accepted => 0x20,
            FrameKind::Ack => 0x21,
            FrameKind::Refused => 0x22,
        }
    }

    /// The kind for an on-wire code, if it is one.
    pub fn from_code(code: u8) -> Option<FrameKind> {
        Some(match code {
            0x01 => FrameKind::Hello(StreamType::General),
            0x02 => FrameKind::Hello(StreamType::Append),
            0x10 => FrameKind::Message(MessageKind::General),
            0x11 => FrameKind::Message(MessageKind::Append),
            0x12 => FrameKind::Message(MessageKind::Snapshot),
            0x20 => FrameKind::Accepted,
            0x21 => FrameKind::Ack,
            0x22 => FrameKind::Refused,
            _ => return None,
        })
    }
}

/// The identity fields of a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub kind: FrameKind,
    pub cluster: ClusterId,
    pub from: MemberId,
    pub to: MemberId,
}

/// A frame: identity header plus opaque payload.
///
/// # Byte layout (version 2, all integers big-endian)
///
/// ```text
/// offset size field
///      0    4 magic          b"RNF1"
///      4    4 crc32          CRC-32 (IEEE, crc32fast) over everything after it: bytes 8..40
///                            and the payload, one contiguous run
///      8    1 version        2
///      9    1 kind           FrameKind code (see below)
///     10    2 reserved       must be 0
///     12    8 cluster id     the sender's cluster ID
///     20    8 from           the sender's member ID
///     28    8 to             the intended recipient's member ID
///     36    4 payload length n, at most MAX_PAYLOAD
///     40    n payload        opaque bytes
/// ```
///
/// (Version 1 had the checksum last in the header, over two separate runs of bytes; one run
/// costs one CRC pass instead of two, which matters for the short frames raft sends most.)
///
/// Kind codes: 0x01 hello (general stream), 0x02 hello (append stream), 0x10 general message,
/// 0x11 append message, 0x12 snapshot, 0x20 accepted, 0x21 ack, 0x22 refused.
///
/// Invariant: `Frame::decode(&f.encode()) == Ok(f)` for every frame with a payload of at most
/// [`MAX_PAYLOAD`] bytes; any other input gives a [`FrameError`] naming what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub header: Header,
    pub payload: Vec<u8>,
}

/// Why bytes are not a valid frame. Decoding never panics; it returns one of these.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// Fewer bytes than the fixed header.
    TruncatedHeader { len: usize },
    /// The first four bytes are not [`MAGIC`].
    BadMagic { found: [u8; 4] },
    /// A version this code does not speak.
    UnsupportedVersion { found: u8 },
    /// An unknown kind code.
    UnknownKind { code: u8 },
    /// The reserved bytes are not zero.
    ReservedNotZero { found: u16 },
    /// The declared payload length exceeds [`MAX_PAYLOAD`].
    TooLarge { declared: u64, max: usize },
    /// The declared payload length does not match the bytes present.
    LengthMismatch { declared: usize, actual: usize },
    /// The stored CRC does not match the computed one.
    ChecksumMismatch { stored: u32, computed: u32 },
    /// A pipeline message's sender address is missing, too long or not UTF-8.
    BadSenderAddress { reason: &'static str },
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::TruncatedHeader { len } => {
                write!(f, "truncated frame: {len} bytes, the header alone needs {HEADER_LEN}")
            }
            FrameError::BadMagic { found } => write!(f, "bad frame magic {found:02x?}"),
            FrameError::UnsupportedVersion { found } => {
                write!(f, "unsupported frame version {found} (this build speaks {VERSION})")
            }
            FrameError::UnknownKind { code } => write!(f, "unknown frame kind 0x{code:02x}"),
            FrameError::ReservedNotZero { found } => {
                write!(f, "frame reserved field is 0x{found:04x}, must be 0")
            }
            FrameError::TooLarge { declared, max } => {
                write!(f, "frame payload of {declared} bytes exceeds the maximum of {max}")
            }
            FrameError::LengthMismatch { declared, actual } => {
                write!(f, "frame declares a {declared}-byte payload but carries {actual} bytes")
            }
            FrameError::ChecksumMismatch { stored, computed } => {
                write!(f, "frame checksum mismatch: stored {stored:08x}, computed {computed:08x}")
            }
            FrameError::BadSenderAddress { reason } => {
                write!(f, "pipeline message sender address: {reason}")
            }
        }
    }
}

impl std::error::Error for FrameError {}

impl Frame {
    /// A frame with `payload`. Programmer error if the payload exceeds [`MAX_PAYLOAD`].
    pub fn new(header: Header, payload: Vec<u8>) -> Frame {
        assert!(
            payload.len() <= MAX_PAYLOAD,
            "frame payload of {} bytes exceeds MAX_PAYLOAD {}",
            payload.len(),
            MAX_PAYLOAD
        );
        Frame { header, payload }
    }

    /// The encoded bytes (layout in the module docs).
    pub fn encode(&self) -> Vec<u8> {
        encode_parts(&self.header, &self.payload)
    }

    /// Parses and verifies `bytes`.
    pub fn decode(bytes: &[u8]) -> Result<Frame, FrameError> {
        let (header, payload) = decode_parts(bytes)?;
        Ok(Frame { header, payload: payload.to_vec() })
    }
}

/// Encodes a frame without building a [`Frame`] first.
pub fn encode_parts(header: &Header, payload: &[u8]) -> Vec<u8> {
    check_payload_len(payload.len());
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.resize(HEADER_LEN, 0);
    out.extend_from_slice(payload);
    write_header(&mut out, header);
    out
}

/// A message body built with room for a frame header in front of it, so that framing it
/// ([`encode_payload`]) writes the header in place instead of copying the body.
///
/// Layout of the buffer: `[HEADER_LEN reserved bytes][body]`. Invariant: the buffer is never
/// shorter than [`HEADER_LEN`].
#[derive(Clone, PartialEq, Eq)]
pub struct Payload {
    buf: Vec<u8>,
}

impl Payload {
    /// A payload whose body `fill` appends to the buffer it is given (which already holds the
    /// reserved header bytes); `hint` is the expected body length.
    pub fn build(hint: usize, fill: impl FnOnce(&mut Vec<u8>)) -> Payload {
        let mut buf = Vec::with_capacity(HEADER_LEN + hint);
        buf.resize(HEADER_LEN, 0);
        fill(&mut buf);
        assert!(
            buf.len() >= HEADER_LEN,
            "payload builder cut into the {HEADER_LEN} reserved header bytes (left {})",
            buf.len()
        );
        Payload { buf }
    }

    /// The body.
    pub fn as_slice(&self) -> &[u8] {
        &self.buf[HEADER_LEN..]
    }

    /// Length of the body.
    pub fn len(&self) -> usize {
        self.buf.len() - HEADER_LEN
    }

    /// Whether the body is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl From<&[u8]> for Payload {
    fn from(body: &[u8]) -> Payload {
        Payload::build(body.len(), |b| b.extend_from_slice(body))
    }
}

impl From<Vec<u8>> for Payload {
    fn from(body: Vec<u8>) -> Payload {
        Payload::from(body.as_slice())
    }
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Payload").field(&self.as_slice()).finish()
    }
}

/// Frames `payload` in its own buffer: the same bytes as [`encode_parts`] with its body.
pub fn encode_payload(header: &Header, payload: Payload) -> Vec<u8> {
    check_payload_len(payload.len());
    let mut out = payload.buf;
    write_header(&mut out, header);
    out
}

fn check_payload_len(len: usize) {
    assert!(len <= MAX_PAYLOAD, "frame payload of {len} bytes exceeds MAX_PAYLOAD {MAX_PAYLOAD}");
}

/// Fills `out[..HEADER_LEN]` with the header of a frame whose payload is `out[HEADER_LEN..]`
/// (layout on [`Frame`]); the checksum covers the header's first 36 bytes and the payload.
fn write_header(out: &mut [u8], header: &Header) {
    let len =
        u32::try_from(out.len() - HEADER_LEN).expect("payload length checked against MAX_PAYLOAD");
    out[0..4].copy_from_slice(&MAGIC);
    out[VERSION_AT] = VERSION;
    out[KIND_AT] = header.kind.code();
    out[RESERVED_AT..RESERVED_AT + 2].copy_from_slice(&0u16.to_be_bytes());
    out[CLUSTER_AT..CLUSTER_AT + 8].copy_from_slice(&header.cluster.0.to_be_bytes());
    out[FROM_AT..FROM_AT + 8].copy_from_slice(&header.from.0.to_be_bytes());
    out[TO_AT..TO_AT + 8].copy_from_slice(&header.to.0.to_be_bytes());
    out[LEN_AT..LEN_AT + 4].copy_from_slice(&len.to_be_bytes());
    let crc = crc32fast::hash(&out[CHECKED_FROM..]);
    out[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
}

/// Parses and verifies `bytes`, borrowing the payload.
pub fn decode_parts(bytes: &[u8]) -> Result<(Header, &[u8]), FrameError> {
    let head: &[u8; HEADER_LEN] = bytes
        .get(..HEADER_LEN)
        .and_then(|h| h.try_into().ok())
        .ok_or(FrameError::TruncatedHeader { len: bytes.len() })?;
    let magic = [head[0], head[1], head[2], head[3]];
    if magic != MAGIC {
        return Err(FrameError::BadMagic { found: magic });
    }
    if head[VERSION_AT] != VERSION {
        return Err(FrameError::UnsupportedVersion { found: head[VERSION_AT] });
    }
    let code = head[KIND_AT];
    let kind = FrameKind::from_code(code).ok_or(FrameError::UnknownKind { code })?;
    let reserved = u16::from_be_bytes([head[RESERVED_AT], head[RESERVED_AT + 1]]);
    if reserved != 0 {
        return Err(FrameError::ReservedNotZero { found: reserved });
    }
    let declared = be_u32(head, LEN_AT);
    if declared as usize > MAX_PAYLOAD {
        return Err(FrameError::TooLarge { declared: u64::from(declared), max: MAX_PAYLOAD });
    }
    let payload = &bytes[HEADER_LEN..];
    if payload.len() != declared as usize {
        return Err(FrameError::LengthMismatch {
            declared: declared as usize,
            actual: payload.len(),
        });
    }
    let stored = be_u32(head, CRC_AT);
    let computed = crc32fast::hash(&bytes[CHECKED_FROM..]);
    if stored != computed {
        return Err(FrameError::ChecksumMismatch { stored, computed });
    }
    let header = Header {
        kind,
        cluster: ClusterId(be_u64(head, CLUSTER_AT)),
        from: MemberId(be_u64(head, FROM_AT)),
        to: MemberId(be_u64(head, TO_AT)),
    };
    Ok((header, payload))
}

/// The payload of a message frame sent on a pipeline connection: the sender's listen address
/// ahead of the raft message, so that a receiver which does not know the sender yet (it has
/// not applied the sender's addition) can still answer it, as etcd's pipeline handler does
/// with the `X-PeerURLs` header. Messages on streams carry no address: a stream exists only
/// between members that know each other.
///
/// ```text
/// offset size field
///      0    2 address length a, big-endian, 1..=MAX_ADDR_LEN
///      2    a address          UTF-8, the sender's listen address
///    2+a    . message          the raft message, opaque
/// ```
pub fn encode_pipeline_payload(sender: &str, message: &[u8]) -> Vec<u8> {
    assert!(
        !sender.is_empty() && sender.len() <= MAX_ADDR_LEN,
        "sender address {sender:?} must be 1..={MAX_ADDR_LEN} bytes"
    );
    let len = u16::try_from(sender.len()).expect("address length checked above");
    let mut out = Vec::with_capacity(2 + sender.len() + message.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(sender.as_bytes());
    out.extend_from_slice(message);
    out
}

/// Splits a pipeline message payload (layout on [`encode_pipeline_payload`]) into the sender's
/// address and the raft message.
pub fn decode_pipeline_payload(payload: &[u8]) -> Result<(&str, &[u8]), FrameError> {
    let bad = |reason| FrameError::BadSenderAddress { reason };
    let len_bytes = payload.get(..2).ok_or(bad("payload shorter than the address length"))?;
    let len = usize::from(u16::from_be_bytes([len_bytes[0], len_bytes[1]]));
    if len == 0 || len > MAX_ADDR_LEN {
        return Err(bad("address length outside 1..=255"));
    }
    let addr = payload.get(2..2 + len).ok_or(bad("address runs past the payload"))?;
    let addr = std::str::from_utf8(addr).map_err(|_| bad("address is not UTF-8"))?;
    Ok((addr, &payload[2 + len..]))
}

fn be_u32(head: &[u8; HEADER_LEN], at: usize) -> u32 {
    u32::from_be_bytes([head[at], head[at + 1], head[at + 2], head[at + 3]])
}

fn be_u64(head: &[u8; HEADER_LEN], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&head[at..at + 8]);
    u64::from_be_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(kind: FrameKind) -> Header {
        Header { kind, cluster: ClusterId(0xabc), from: MemberId(1), to: MemberId(2) }
    }

    #[test]
    fn round_trips_every_kind() {
        for code in 0..=255u8 {
            let Some(kind) = FrameKind::from_code(code) else { continue };
            assert_eq!(kind.code(), code);
            let f = Frame::new(header(kind), vec![code, 1, 2, 3]);
            assert_eq!(Frame::decode(&f.encode()), Ok(f));
        }
    }

    #[test]
    fn a_payload_framed_in_place_equals_the_copying_encoder() {
        let h = header(FrameKind::Message(MessageKind::General));
        for body in [&b""[..], b"x", &[7u8; 1000][..]] {
            let p = Payload::build(0, |b| b.extend_from_slice(body));
            assert_eq!((p.as_slice(), p.len(), p.is_empty()), (body, body.len(), body.is_empty()));
            assert_eq!(Payload::from(body), p);
            let framed = encode_payload(&h, p);
            assert_eq!(framed, encode_parts(&h, body));
            assert_eq!(decode_parts(&framed), Ok((h, body)));
        }
    }

    #[test]
    #[should_panic(expected = "cut into the 40 reserved header bytes")]
    fn a_payload_builder_may_not_cut_the_header_room() {
        let _ = Payload::build(0, |b| b.truncate(3));
    }

    #[test]
    fn layout_is_as_documented() {
        let f = Frame::new(header(FrameKind::Message(MessageKind::Append)), b"xy".to_vec());
        let b = f.encode();
        assert_eq!(&b[0..4], b"RNF1");
        assert_eq!(&b[4..8], &crc32fast::hash(&b[8..]).to_be_bytes());
        assert_eq!(b[8], 2);
        assert_eq!(b[9], 0x11);
        assert_eq!(&b[10..12], &[0, 0]);
        assert_eq!(&b[12..20], &0xabcu64.to_be_bytes());
        assert_eq!(&b[20..28], &1u64.to_be_bytes());
        assert_eq!(&b[28..36], &2u64.to_be_bytes());
        assert_eq!(&b[36..40], &2u32.to_be_bytes());
        assert_eq!(&b[40..], b"xy");
        assert_eq!(b.len(), HEADER_LEN + 2);
    }

    #[test]
    fn each_corruption_is_named() {
        let good = Frame::new(header(FrameKind::Ack), b"hello".to_vec()).encode();
        assert_eq!(Frame::decode(&good[..10]), Err(FrameError::TruncatedHeader { len: 10 }));
        let mut b = good.clone();
        b[0] = b'X';
        assert!(matches!(Frame::decode(&b), Err(FrameError::BadMagic { .. })));
        let mut b = good.clone();
        b[8] = 9;
        assert_eq!(Frame::decode(&b), Err(FrameError::UnsupportedVersion { found: 9 }));
        let mut b = good.clone();
        b[9] = 0x7f;
        assert_eq!(Frame::decode(&b), Err(FrameError::UnknownKind { code: 0x7f }));
        let mut b = good.clone();
        b[11] = 1;
        assert_eq!(Frame::decode(&b), Err(FrameError::ReservedNotZero { found: 1 }));
        let mut b = good.clone();
        b[36..40].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(Frame::decode(&b), Err(FrameError::TooLarge { .. })));
        assert_eq!(
            Frame::decode(&good[..good.len() - 1]),
            Err(FrameError::LengthMismatch { declared: 5, actual: 4 })
        );
        let mut b = good.clone();
        *b.last_mut().unwrap() ^= 0x01;
        assert!(matches!(Frame::decode(&b), Err(FrameError::ChecksumMismatch { .. })));
        let mut b = good.clone();
        b[20] ^= 0x80; // a flipped member-ID bit is caught by the CRC too
        assert!(matches!(Frame::decode(&b), Err(FrameError::ChecksumMismatch { .. })));
        let mut b = good.clone();
        b[5] ^= 0x01; // and so is a flipped bit of the stored checksum itself
        assert!(matches!(Frame::decode(&b), Err(FrameError::ChecksumMismatch { .. })));
    }

    #[test]
    fn pipeline_payload_round_trips_and_names_each_defect() {
        let p = encode_pipeline_payload("n4:2380", b"raft");
        assert_eq!(&p[..2], &7u16.to_be_bytes());
        assert_eq!(decode_pipeline_payload(&p), Ok(("n4:2380", &b"raft"[..])));
        assert_eq!(decode_pipeline_payload(&encode_pipeline_payload("a", b"")), Ok(("a", &[][..])));
        let reason = |p: &[u8]| match decode_pipeline_payload(p) {
            Err(FrameError::BadSenderAddress { reason }) => reason,
            other => panic!("expected a sender-address error, got {other:?}"),
        };
        assert_eq!(reason(&[0]), "payload shorter than the address length");
        assert_eq!(reason(&[0, 0, b'x']), "address length outside 1..=255");
        assert_eq!(reason(&[1, 0, b'x']), "address length outside 1..=255");
        assert_eq!(reason(&[0, 5, b'x']), "address runs past the payload");
        assert_eq!(reason(&[0, 1, 0xff]), "address is not UTF-8");
    }

    #[test]
    #[should_panic(expected = "must be 1..=255 bytes")]
    fn an_empty_sender_address_is_a_programmer_error() {
        let _ = encode_pipeline_payload("", b"x");
    }

    #[test]
    #[should_panic(expected = "exceeds MAX_PAYLOAD")]
    fn oversized_payload_is_a_programmer_error() {
        let _ = Frame::new(header(FrameKind::Ack), vec![0; MAX_PAYLOAD + 1]);
    }
}
