//! Reading raft messages off the wire, for oracles that watch what leaves a node.
//!
//! A peer frame ([`net::frame`]) carrying a raft message holds either the encoded message
//! itself (streams: its first byte is the message codec's version) or a pipeline payload (a
//! two-byte sender-address length, whose first byte is 0 because addresses are at most 255
//! bytes, then the address, then the message). Only the message's fixed header is decoded:
//! no allocation, no entries — oracles need who, what, which term and which index.

use net::frame::{decode_parts, decode_pipeline_payload, FrameKind};
use net::ids::ClusterId;
use raft::core::codec::Reader;
use raft::core::message::MESSAGE_VERSION;
use raft::core::MessageType;

/// Offset of a frame's kind byte (layout on [`net::frame::Frame`]).
const KIND_AT: usize = 9;

/// The fixed header of a raft message seen on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WireMessage {
    /// The cluster ID the frame carried.
    pub cluster: ClusterId,
    pub msg_type: MessageType,
    pub to: u64,
    pub from: u64,
    pub term: u64,
    pub log_term: u64,
    pub index: u64,
    pub commit: u64,
    pub reject: bool,
}

/// The raft message in `frame`, if it is a well-formed frame carrying one (hellos, acks,
/// refusals and damaged frames give `None`).
pub fn message(frame: &[u8]) -> Option<WireMessage> {
    message_of(frame, |_| true)
}

/// Like [`message`], but only for message types `wanted` accepts; the others are skipped
/// before the frame's checksum is verified (an oracle watching every frame sent cares about a
/// few kinds only).
pub fn message_of(frame: &[u8], wanted: impl Fn(MessageType) -> bool) -> Option<WireMessage> {
    let kind = frame.get(KIND_AT).copied().and_then(FrameKind::from_code)?;
    if !matches!(kind, FrameKind::Message(_)) {
        return None;
    }
    let payload = frame.get(net::frame::HEADER_LEN..)?;
    let tag_at = if payload.first() == Some(&MESSAGE_VERSION) {
        1
    } else {
        // Pipeline: a big-endian u16 address length, the address, then the message.
        let len = u16::from_be_bytes([*payload.first()?, *payload.get(1)?]) as usize;
        2 + len + 1
    };
    if !wanted(MessageType::from_tag(*payload.get(tag_at)?)?) {
        return None;
    }
    let (header, payload) = decode_parts(frame).ok()?;
    if !matches!(header.kind, FrameKind::Message(_)) {
        return None;
    }
    let bytes = match payload.first() {
        Some(&v) if v == MESSAGE_VERSION => payload,
        Some(_) => decode_pipeline_payload(payload).ok()?.1,
        None => return None,
    };
    let mut r = Reader::new(bytes);
    r.version(MESSAGE_VERSION).ok()?;
    let msg_type = MessageType::from_tag(r.u8("type").ok()?)?;
    let to = r.fixed_u64("to").ok()?;
    let from = r.fixed_u64("from").ok()?;
    let term = r.u64("term").ok()?;
    let log_term = r.u64("log_term").ok()?;
    let index = r.u64("index").ok()?;
    let commit = r.u64("commit").ok()?;
    let reject = r.bool("reject").ok()?;
    Some(WireMessage {
        cluster: header.cluster,
        msg_type,
        to,
        from,
        term,
        log_term,
        index,
        commit,
        reject,
    })
}

#[cfg(test)]
mod tests {
    use net::frame::{encode_parts, encode_pipeline_payload, Header, MessageKind};
    use net::ids::MemberId;
    use raft::core::{Codec, Entry, Message};

    use super::*;

    fn frame(kind: FrameKind, payload: &[u8]) -> Vec<u8> {
        let header = Header { kind, cluster: ClusterId(9), from: MemberId(1), to: MemberId(2) };
        encode_parts(&header, payload)
    }

    fn sample() -> Message {
        let mut m = Message::new(MessageType::MsgAppResp, 1, 2);
        m.term = 5;
        m.index = 42;
        m.log_term = 4;
        m.commit = 40;
        m.reject = true;
        m.entries = vec![Entry { index: 43, term: 5, ..Entry::default() }];
        m
    }

    #[test]
    fn stream_and_pipeline_frames_give_the_message_header() {
        let m = sample();
        let body = m.to_bytes();
        let want = WireMessage {
            cluster: ClusterId(9),
            msg_type: MessageType::MsgAppResp,
            to: 2,
            from: 1,
            term: 5,
            log_term: 4,
            index: 42,
            commit: 40,
            reject: true,
        };
        let stream = frame(FrameKind::Message(MessageKind::General), &body);
        assert_eq!(message(&stream), Some(want));
        let piped = encode_pipeline_payload("n1:2380", &body);
        let pipeline = frame(FrameKind::Message(MessageKind::Append), &piped);
        assert_eq!(message(&pipeline), Some(want));
        let app_resp = |t| t == MessageType::MsgAppResp;
        assert_eq!(message_of(&pipeline, app_resp), Some(want));
        assert_eq!(message_of(&stream, |t| t == MessageType::MsgVote), None);
    }

    #[test]
    fn other_frames_and_damage_give_nothing() {
        let body = sample().to_bytes();
        assert_eq!(message(&frame(FrameKind::Accepted, &body)), None);
        assert_eq!(message(&frame(FrameKind::Message(MessageKind::General), &[])), None);
        let mut bad = frame(FrameKind::Message(MessageKind::General), &body);
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert_eq!(message(&bad), None, "a frame whose CRC fails");
        assert_eq!(message(&body[..3]), None);
    }
}
