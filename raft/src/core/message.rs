//! The data the consensus core exchanges and persists: log entries, hard state, snapshots,
//! membership, and peer messages, with a compact versioned binary codec.
//!
//! # Encoding (version 1; messages version 2)
//!
//! Every top-level `encode` writes one version byte ([`Codec::VERSION`]: [`CODEC_VERSION`] for
//! everything that is persisted, [`MESSAGE_VERSION`] for [`Message`], which only travels) and
//! then the body; the primitives are described in [`super::codec`] (LEB128 varints,
//! length-prefixed bytes; `fixed` is 8 little-endian bytes). Bodies:
//!
//! ```text
//! Entry            term, index, kind:u8 (0 normal, 1 conf change), data:bytes
//! HardState        term, vote, commit
//! ConfState        voters:[u64], learners:[u64]
//! SnapshotMetadata conf_state, index, term
//! Snapshot         metadata, data:bytes
//! ConfChange       type:u8 (0 add voter, 1 remove, 2 add learner), node_id, context:bytes
//! Message          type:u8, to:fixed, from:fixed, term, log_term, index, commit, reject:u8,
//!                  reject_hint, entries:[Entry], has_snapshot:u8 [Snapshot], context:bytes
//! ```
//!
//! Message version 1 had `to` and `from` as varints; member IDs are hashes, so those took 9 or
//! 10 bytes each, written and read one byte at a time, on every message.
//!
//! `decode` consumes the whole input: trailing bytes are an error.

use std::sync::atomic::{AtomicBool, Ordering};

use super::codec::{put_bytes, put_fixed_u64, put_u64, DecodeError, Reader};

/// The codec version this build writes and reads for everything but [`Message`].
pub const CODEC_VERSION: u8 = 1;

/// The codec version of [`Message`] (see the module docs for what changed).
pub const MESSAGE_VERSION: u8 = 2;

/// A raft member's identity. `0` ([`NONE`]) means "nobody".
pub type PeerId = u64;

/// No node (no leader known, no vote cast).
pub const NONE: PeerId = 0;

/// What an entry's payload means to the application.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum EntryKind {
    /// Application data (an empty one is the leader's no-op at the start of its term).
    #[default]
    Normal,
    /// An encoded [`ConfChange`].
    ConfChange,
}

/// One log entry.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Entry {
    pub term: u64,
    pub index: u64,
    pub kind: EntryKind,
    pub data: Vec<u8>,
}

/// The state that must be durable before a node answers anyone: current term, vote in that
/// term, and the highest index known committed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct HardState {
    pub term: u64,
    pub vote: PeerId,
    pub commit: u64,
}

/// The membership a snapshot (or the applied log) describes.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ConfState {
    pub voters: Vec<PeerId>,
    pub learners: Vec<PeerId>,
}

/// Where a snapshot sits in the log, and the membership at that point.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct SnapshotMetadata {
    pub conf_state: ConfState,
    pub index: u64,
    pub term: u64,
}

/// A state-machine image covering the log up to `metadata.index`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Snapshot {
    pub metadata: SnapshotMetadata,
    pub data: Vec<u8>,
}

impl Snapshot {
    /// True for the "no snapshot" value (index 0).
    pub fn is_empty(&self) -> bool {
        self.metadata.index == 0
    }
}

/// A single-step membership change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ConfChangeType {
    #[default]
    AddNode,
    RemoveNode,
    AddLearnerNode,
}

/// A membership change proposal: the payload of an [`EntryKind::ConfChange`] entry.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ConfChange {
    pub change_type: ConfChangeType,
    pub node_id: PeerId,
    pub context: Vec<u8>,
}

macro_rules! message_types {
    ($($(#[$doc:meta])* $name:ident = $tag:expr,)*) => {
        /// Every kind of message the core steps. Local ones (`MsgHup`, `MsgBeat`,
        /// `MsgUnreachable`, `MsgSnapStatus`, `MsgCheckQuorum`) never cross the network.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        pub enum MessageType {
            #[default]
            $($(#[$doc])* $name,)*
        }

        impl MessageType {
            /// The wire tag.
            pub fn tag(self) -> u8 {
                match self { $(MessageType::$name => $tag,)* }
            }

            /// The type for a wire tag, if any.
            pub fn from_tag(tag: u8) -> Option<MessageType> {
                match tag { $($tag => Some(MessageType::$name),)* _ => None }
            }

            /// All types, in tag order.
            pub const ALL: &'static [MessageType] = &[$(MessageType::$name,)*];
        }
    };
}

message_types! {
    /// Local: start an election.
    MsgHup = 0,
    /// Local: the leader should send heartbeats.
    MsgBeat = 1,
    /// A proposal of new entries (local, or forwarded to the leader).
    MsgProp = 2,
    /// Leader -> follower: append entries after (index, log_term).
    MsgApp = 3,
    /// Follower -> leader: append result (index = last matching index, or a rejection hint).
    MsgAppResp = 4,
    /// Candidate -> peer: vote request for term, with the candidate's last (index, log_term).
    MsgVote = 5,
    MsgVoteResp = 6,
    /// Leader -> follower: install this snapshot.
    MsgSnap = 7,
    MsgHeartbeat = 8,
    MsgHeartbeatResp = 9,
    /// Local: the transport could not reach `from`.
    MsgUnreachable = 10,
    /// Local: snapshot delivery to `from` finished (reject = failed).
    MsgSnapStatus = 11,
    /// Local: the leader should check it still hears from a quorum.
    MsgCheckQuorum = 12,
    /// Ask the leader to hand leadership to `from`.
    MsgTransferLeader = 13,
    /// Leader -> transferee: campaign now, skipping the election timeout.
    MsgTimeoutNow = 14,
    /// A linearizable read request; `entries[0].data` is the caller's request context.
    MsgReadIndex = 15,
    MsgReadIndexResp = 16,
    /// Pre-candidate -> peer: would you vote for me in term + 1? (term = proposed term)
    MsgPreVote = 17,
    MsgPreVoteResp = 18,
}

impl MessageType {
    /// True for messages that exist only inside one node.
    pub fn is_local(self) -> bool {
        matches!(
            self,
            MessageType::MsgHup
                | MessageType::MsgBeat
                | MessageType::MsgUnreachable
                | MessageType::MsgSnapStatus
                | MessageType::MsgCheckQuorum
        )
    }

    /// True for responses (these never bump a node into a new term by themselves as requests do).
    pub fn is_response(self) -> bool {
        matches!(
            self,
            MessageType::MsgAppResp
                | MessageType::MsgVoteResp
                | MessageType::MsgHeartbeatResp
                | MessageType::MsgPreVoteResp
                | MessageType::MsgReadIndexResp
        )
    }
}

/// A message between raft nodes (or a local input to one).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Message {
    pub msg_type: MessageType,
    pub to: PeerId,
    pub from: PeerId,
    pub term: u64,
    pub log_term: u64,
    pub index: u64,
    pub entries: Vec<Entry>,
    pub commit: u64,
    pub snapshot: Option<Snapshot>,
    pub reject: bool,
    pub reject_hint: u64,
    pub context: Vec<u8>,
}

impl Message {
    /// A message of `msg_type` from `from` to `to`, everything else zero.
    pub fn new(msg_type: MessageType, from: PeerId, to: PeerId) -> Message {
        Message { msg_type, from, to, ..Message::default() }
    }
}

/// Types with a versioned binary form.
pub trait Codec: Sized {
    /// The version byte [`Codec::encode`] writes and [`Codec::decode`] requires.
    const VERSION: u8 = CODEC_VERSION;

    /// Writes the body (no version byte).
    fn encode_body(&self, out: &mut Vec<u8>);
    /// Reads the body (no version byte).
    fn decode_body(r: &mut Reader<'_>) -> Result<Self, DecodeError>;

    /// Appends the version byte and the body to `out`.
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(Self::VERSION);
        self.encode_body(out);
    }

    /// Decodes a whole byte string written by [`Codec::encode`].
    fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        r.version(Self::VERSION)?;
        let v = Self::decode_body(&mut r)?;
        r.finish()?;
        Ok(v)
    }

    /// About how many bytes the encoding takes (a capacity hint; 0 when unknown).
    fn size_hint(&self) -> usize {
        0
    }

    /// Convenience: the encoding as a new vector.
    fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.size_hint());
        self.encode(&mut out);
        out
    }
}

impl Codec for Entry {
    /// Written standalone as a WAL record: decoded again at once (TigerBeetle-style paired
    /// assertion; a codec bug stops the writer before the record reaches the disk).
    fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.push(Self::VERSION);
        self.encode_body(out);
        assert_round_trip(self, &out[start..]);
    }

    fn encode_body(&self, out: &mut Vec<u8>) {
        put_u64(out, self.term);
        put_u64(out, self.index);
        out.push(match self.kind {
            EntryKind::Normal => 0,
            EntryKind::ConfChange => 1,
        });
        put_bytes(out, &self.data);
    }

    fn decode_body(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let term = r.u64("entry.term")?;
        let index = r.u64("entry.index")?;
        let offset = r.offset();
        let kind = match r.u8("entry.kind")? {
            0 => EntryKind::Normal,
            1 => EntryKind::ConfChange,
            tag => return Err(DecodeError::BadTag { field: "entry.kind", tag, offset }),
        };
        let data = r.bytes("entry.data")?;
        Ok(Entry { term, index, kind, data })
    }
}

impl Codec for HardState {
    /// Written standalone as a WAL record: decoded again at once (TigerBeetle-style paired
    /// assertion; a codec bug stops the writer before the record reaches the disk).
    fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.push(Self::VERSION);
        self.encode_body(out);
        assert_round_trip(self, &out[start..]);
    }

    fn encode_body(&self, out: &mut Vec<u8>) {
        put_u64(out, self.term);
        put_u64(out, self.vote);
        put_u64(out, self.commit);
    }

    fn decode_body(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(HardState {
            term: r.u64("hard_state.term")?,
            vote: r.u64("hard_state.vote")?,
            commit: r.u64("hard_state.commit")?,
        })
    }
}

fn put_ids(out: &mut Vec<u8>, ids: &[PeerId]) {
    put_u64(out, ids.len() as u64);
    for &id in ids {
        put_u64(out, id);
    }
}

fn read_ids(r: &mut Reader<'_>, field: &'static str) -> Result<Vec<PeerId>, DecodeError> {
    let n = r.len(field, 1)?;
    (0..n).map(|_| r.u64(field)).collect()
}

impl Codec for ConfState {
    fn encode_body(&self, out: &mut Vec<u8>) {
        put_ids(out, &self.voters);
        put_ids(out, &self.learners);
    }

    fn decode_body(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(ConfState {
            voters: read_ids(r, "conf_state.voters")?,
            learners: read_ids(r, "conf_state.learners")?,
        })
    }
}

impl Codec for SnapshotMetadata {
    /// Written standalone as a WAL record: decoded again at once (TigerBeetle-style paired
    /// assertion; a codec bug stops the writer before the record reaches the disk).
    fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.push(Self::VERSION);
        self.encode_body(out);
        assert_round_trip(self, &out[start..]);
    }

    fn encode_body(&self, out: &mut Vec<u8>) {
        self.conf_state.encode_body(out);
        put_u64(out, self.index);
        put_u64(out, self.term);
    }

    fn decode_body(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(SnapshotMetadata {
            conf_state: ConfState::decode_body(r)?,
            index: r.u64("snapshot.index")?,
            term: r.u64("snapshot.term")?,
        })
    }
}

impl Codec for Snapshot {
    fn encode_body(&self, out: &mut Vec<u8>) {
        self.metadata.encode_body(out);
        put_bytes(out, &self.data);
    }

    fn decode_body(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Snapshot {
            metadata: SnapshotMetadata::decode_body(r)?,
            data: r.bytes("snapshot.data")?,
        })
    }
}

impl Codec for ConfChange {
    /// Writes the encoding and checks that it decodes back to `self` (conf changes are rare).
    fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.push(Self::VERSION);
        self.encode_body(out);
        assert_round_trip(self, &out[start..]);
    }

    fn encode_body(&self, out: &mut Vec<u8>) {
        out.push(match self.change_type {
            ConfChangeType::AddNode => 0,
            ConfChangeType::RemoveNode => 1,
            ConfChangeType::AddLearnerNode => 2,
        });
        put_u64(out, self.node_id);
        put_bytes(out, &self.context);
    }

    fn decode_body(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let offset = r.offset();
        let change_type = match r.u8("conf_change.type")? {
            0 => ConfChangeType::AddNode,
            1 => ConfChangeType::RemoveNode,
            2 => ConfChangeType::AddLearnerNode,
            tag => return Err(DecodeError::BadTag { field: "conf_change.type", tag, offset }),
        };
        Ok(ConfChange {
            change_type,
            node_id: r.u64("conf_change.node_id")?,
            context: r.bytes("conf_change.context")?,
        })
    }
}

/// The smallest encoded entry: four one-byte fields.
const MIN_ENTRY_SIZE: usize = 4;

impl Codec for Message {
    const VERSION: u8 = MESSAGE_VERSION;

    /// Fixed fields at their widest varints, plus entries, snapshot and context.
    fn size_hint(&self) -> usize {
        const VARINT: usize = 10;
        let entries: usize = self.entries.iter().map(|e| 4 * VARINT + e.data.len()).sum();
        let snapshot = self
            .snapshot
            .as_ref()
            .map_or(0, |s| s.data.len() + (s.metadata.conf_state.voters.len() + 8) * VARINT);
        16 * VARINT + entries + snapshot + self.context.len()
    }

    /// Writes the encoding and checks it (see [`check_message_encoding`]).
    fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.push(Self::VERSION);
        self.encode_body(out);
        check_message_encoding(self, &out[start..]);
    }

    fn encode_body(&self, out: &mut Vec<u8>) {
        out.push(self.msg_type.tag());
        put_fixed_u64(out, self.to);
        put_fixed_u64(out, self.from);
        for v in [self.term, self.log_term, self.index, self.commit] {
            put_u64(out, v);
        }
        out.push(u8::from(self.reject));
        put_u64(out, self.reject_hint);
        put_u64(out, self.entries.len() as u64);
        for e in &self.entries {
            e.encode_body(out);
        }
        match &self.snapshot {
            None => out.push(0),
            Some(s) => {
                out.push(1);
                s.encode_body(out);
            }
        }
        put_bytes(out, &self.context);
    }

    fn decode_body(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let offset = r.offset();
        let tag = r.u8("message.type")?;
        let msg_type =
            MessageType::from_tag(tag).ok_or(DecodeError::UnknownMessageType { tag, offset })?;
        let to = r.fixed_u64("message.to")?;
        let from = r.fixed_u64("message.from")?;
        let term = r.u64("message.term")?;
        let log_term = r.u64("message.log_term")?;
        let index = r.u64("message.index")?;
        let commit = r.u64("message.commit")?;
        let reject = r.bool("message.reject")?;
        let reject_hint = r.u64("message.reject_hint")?;
        let n = r.len("message.entries", MIN_ENTRY_SIZE)?;
        let entries = (0..n).map(|_| Entry::decode_body(r)).collect::<Result<Vec<_>, _>>()?;
        let snapshot =
            if r.bool("message.has_snapshot")? { Some(Snapshot::decode_body(r)?) } else { None };
        let context = r.bytes("message.context")?;
        Ok(Message {
            msg_type,
            to,
            from,
            term,
            log_term,
            index,
            entries,
            commit,
            snapshot,
            reject,
            reject_hint,
            context,
        })
    }
}

/// Whether every message is decoded again right after encoding (see
/// [`check_message_encoding`]). Off by default: the frequent kinds then only check their size.
static ROUND_TRIP_EVERY_MESSAGE: AtomicBool = AtomicBool::new(false);

/// Switches the full encode/decode round trip of every message on or off, process-wide. It
/// changes no behaviour, only what is checked (and the cost of checking it).
pub fn set_round_trip_every_message(on: bool) {
    ROUND_TRIP_EVERY_MESSAGE.store(on, Ordering::Relaxed);
}

/// The kinds sent on every tick, append or client operation: appends, heartbeats, their
/// responses, proposals and reads. They round-trip only when every message does.
fn is_frequent(t: MessageType) -> bool {
    matches!(
        t,
        MessageType::MsgApp
            | MessageType::MsgAppResp
            | MessageType::MsgHeartbeat
            | MessageType::MsgHeartbeatResp
            | MessageType::MsgProp
            | MessageType::MsgReadIndex
            | MessageType::MsgReadIndexResp
    )
}

/// Paired encode/decode: `bytes`, just written for `m`, must decode back to `m` exactly. Done
/// for the rare kinds (votes, snapshots, leadership transfers) always, and for every
/// kind when [`set_round_trip_every_message`] is on: decoding every append and heartbeat again
/// costs about 6% more simulator instructions (swarm, 3 nodes).
fn check_message_encoding(m: &Message, bytes: &[u8]) {
    if !is_frequent(m.msg_type) || ROUND_TRIP_EVERY_MESSAGE.load(Ordering::Relaxed) {
        assert_round_trip(m, bytes);
    }
}

/// `bytes` (an encoding of `v`) decodes back to `v`.
fn assert_round_trip<T: Codec + PartialEq + std::fmt::Debug>(v: &T, bytes: &[u8]) {
    match T::decode(bytes) {
        Ok(back) => assert!(back == *v, "encoding does not round-trip: {v:?} came back {back:?}"),
        Err(e) => panic!("encoding of {v:?} does not decode: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Message {
        Message {
            msg_type: MessageType::MsgApp,
            to: 2,
            from: 1,
            term: 7,
            log_term: 6,
            index: 300,
            entries: vec![
                Entry { term: 7, index: 301, kind: EntryKind::Normal, data: b"put x".to_vec() },
                Entry { term: 7, index: 302, kind: EntryKind::ConfChange, data: vec![0, 4, 0] },
            ],
            commit: 299,
            snapshot: Some(Snapshot {
                metadata: SnapshotMetadata {
                    conf_state: ConfState { voters: vec![1, 2, 3], learners: vec![9] },
                    index: 100,
                    term: 3,
                },
                data: vec![1; 40],
            }),
            reject: true,
            reject_hint: 250,
            context: b"ctx".to_vec(),
        }
    }

    #[test]
    fn the_size_hint_covers_the_encoding_so_to_bytes_never_grows() {
        let mut big = sample();
        big.term = u64::MAX;
        big.commit = u64::MAX;
        big.entries[0].index = u64::MAX;
        big.snapshot.as_mut().unwrap().metadata.conf_state.learners = vec![u64::MAX; 3];
        for m in [sample(), big, Message::new(MessageType::MsgHeartbeat, 1, 2)] {
            let bytes = m.to_bytes();
            assert!(bytes.len() <= m.size_hint(), "{} > {}", bytes.len(), m.size_hint());
        }
    }

    /// A type whose encoding loses a field: what the round-trip assertion exists to catch.
    #[derive(Debug, PartialEq)]
    struct Lossy(u64, u64);

    impl Codec for Lossy {
        fn encode_body(&self, out: &mut Vec<u8>) {
            put_u64(out, self.0);
        }
        fn decode_body(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
            Ok(Lossy(r.u64("lossy.0")?, 0))
        }
    }

    #[test]
    #[should_panic(expected = "encoding does not round-trip: Lossy(1, 2) came back Lossy(1, 0)")]
    fn a_lossy_encoding_trips_the_round_trip_assertion() {
        let v = Lossy(1, 2);
        assert_round_trip(&v, &v.to_bytes());
    }

    #[test]
    fn encoding_every_message_checks_it_round_trips() {
        set_round_trip_every_message(true);
        for t in MessageType::ALL {
            let mut m = sample();
            m.msg_type = *t;
            assert_eq!(Message::decode(&m.to_bytes()).unwrap(), m);
        }
        set_round_trip_every_message(false);
    }

    #[test]
    fn every_type_round_trips() {
        let m = sample();
        assert_eq!(Message::decode(&m.to_bytes()).unwrap(), m);
        for t in MessageType::ALL {
            let m = Message::new(*t, 3, 4);
            assert_eq!(Message::decode(&m.to_bytes()).unwrap(), m);
        }
        let hs = HardState { term: 9, vote: 2, commit: 88 };
        assert_eq!(HardState::decode(&hs.to_bytes()).unwrap(), hs);
        let cc = ConfChange {
            change_type: ConfChangeType::AddLearnerNode,
            node_id: 5,
            context: vec![1],
        };
        assert_eq!(ConfChange::decode(&cc.to_bytes()).unwrap(), cc);
        let e = &m.entries[0];
        assert_eq!(&Entry::decode(&e.to_bytes()).unwrap(), e);
    }

    #[test]
    fn member_ids_travel_as_eight_little_endian_bytes() {
        let mut m = Message::new(MessageType::MsgHeartbeat, 0x8877_6655_4433_2211, u64::MAX);
        m.term = 3;
        let b = m.to_bytes();
        assert_eq!(b[0], MESSAGE_VERSION);
        assert_eq!(b[1], MessageType::MsgHeartbeat.tag());
        assert_eq!(&b[2..10], &u64::MAX.to_le_bytes(), "to");
        assert_eq!(&b[10..18], &0x8877_6655_4433_2211u64.to_le_bytes(), "from");
        assert_eq!(b[18], 3, "term stays a varint");
        assert_eq!(
            Message::decode(&b[..9]).unwrap_err(),
            DecodeError::Truncated { field: "message.to", offset: 2 }
        );
    }

    #[test]
    fn every_truncation_is_a_named_error() {
        let bytes = sample().to_bytes();
        for cut in 0..bytes.len() {
            let err = Message::decode(&bytes[..cut]).unwrap_err();
            assert!(
                matches!(err, DecodeError::Truncated { .. } | DecodeError::LengthTooLarge { .. }),
                "cut at {cut}: {err}"
            );
        }
    }

    #[test]
    fn bad_version_unknown_type_and_trailing_bytes() {
        let mut bytes = sample().to_bytes();
        bytes[0] = 9;
        assert_eq!(
            Message::decode(&bytes).unwrap_err(),
            DecodeError::BadVersion { found: 9, supported: MESSAGE_VERSION }
        );
        bytes[0] = CODEC_VERSION;
        assert_eq!(
            Message::decode(&bytes).unwrap_err(),
            DecodeError::BadVersion { found: CODEC_VERSION, supported: MESSAGE_VERSION },
            "a version 1 message (varint member IDs) is refused, not misread"
        );
        bytes[0] = MESSAGE_VERSION;
        bytes[1] = 200;
        assert_eq!(
            Message::decode(&bytes).unwrap_err(),
            DecodeError::UnknownMessageType { tag: 200, offset: 1 }
        );
        let mut ok = HardState::default().to_bytes();
        ok.push(0);
        assert!(matches!(HardState::decode(&ok), Err(DecodeError::TrailingBytes { extra: 1, .. })));
    }

    #[test]
    fn garbage_never_panics() {
        use rand::{Rng as _, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(42);
        let base = sample().to_bytes();
        for _ in 0..5000 {
            let mut b = base.clone();
            for _ in 0..rng.random_range(1..4) {
                let i = rng.random_range(0..b.len());
                b[i] = rng.random();
            }
            let _ = Message::decode(&b);
            let n = rng.random_range(0..64);
            let junk: Vec<u8> = (0..n).map(|_| rng.random()).collect();
            let _ = Message::decode(&junk);
            let _ = Entry::decode(&junk);
            let _ = Snapshot::decode(&junk);
        }
    }
}
