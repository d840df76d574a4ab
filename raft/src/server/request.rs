//! Client requests, the operations that go through the log, and their results.
//!
//! A [`ClientRequest`] carries the client's id; the node answers with a [`ClientResponse`]
//! carrying the same id. Writes (and linearizable reads inside a txn) become an [`Op`] wrapped
//! in a [`Proposal`] and travel through raft; plain ranges are read locally (serializable) or
//! after a ReadIndex round (linearizable).
//!
//! Binary layout: every type here implements [`Codec`] (a version byte, then varints and
//! length-prefixed byte strings as in [`crate::core::codec`]); enum tags are one byte.

use std::fmt;

use crate::core::codec::{put_bytes, put_u64, Reader};
use crate::core::{Codec, DecodeError};

/// How a [`Compare`] tests its key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompareOp {
    Equal,
    NotEqual,
    Greater,
    Less,
}

/// What a [`Compare`] looks at. A missing key has empty value and zero version/revisions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CompareTarget {
    Value(Vec<u8>),
    Version(u64),
    CreateRevision(u64),
    ModRevision(u64),
}

/// One guard of a transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Compare {
    pub key: Vec<u8>,
    pub op: CompareOp,
    pub target: CompareTarget,
}

/// A state-machine operation. Ranges cover `[key, range_end)`; an empty `range_end` means the
/// single key `key`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    Put {
        key: Vec<u8>,
        value: Vec<u8>,
    },
    Range {
        key: Vec<u8>,
        range_end: Vec<u8>,
    },
    DeleteRange {
        key: Vec<u8>,
        range_end: Vec<u8>,
    },
    /// If every compare holds, run `success`, else `failure`, in order, at one revision.
    /// Compares follow etcd: every compare of the txn, those of nested txns in the chosen
    /// branches included, is evaluated against the store as it was before the txn began (etcd's
    /// `compareToPath` in `server/etcdserver/txn/txn.go` walks the whole txn tree over one read
    /// view before `executeTxn` writes anything). Ranges and deletes inside the txn see the
    /// writes before them (etcd's write txn ranges at its begin revision plus one once it has
    /// changes).
    Txn {
        compares: Vec<Compare>,
        success: Vec<Op>,
        failure: Vec<Op>,
    },
    Compact {
        revision: u64,
    },
}

impl Op {
    /// Whether the operation only reads.
    pub fn is_read_only(&self) -> bool {
        match self {
            Op::Range { .. } => true,
            Op::Txn { success, failure, .. } => {
                success.iter().chain(failure).all(|o| o.is_read_only())
            }
            _ => false,
        }
    }
}

/// A key and its value with etcd's bookkeeping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyValue {
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    pub create_revision: u64,
    pub mod_revision: u64,
    /// Puts since the key was (re)created; 1 after the first put.
    pub version: u64,
}

/// The result of one [`Op`]; `revision` is the store revision after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpResult {
    Put {
        revision: u64,
    },
    Range {
        kvs: Vec<KeyValue>,
        revision: u64,
    },
    DeleteRange {
        deleted: u64,
        revision: u64,
    },
    Txn {
        succeeded: bool,
        results: Vec<OpResult>,
        revision: u64,
    },
    Compact {
        revision: u64,
    },
    /// A membership change took effect: the member added or removed, and the voters after it.
    Members {
        member: u64,
        voters: Vec<u64>,
    },
    /// A leadership transfer to `to` has started (it completes when `to` wins its election).
    Transferring {
        to: u64,
    },
}

/// An operation refused by the state machine (deterministically, on every member).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpError {
    /// The revision was already compacted away.
    Compacted { revision: u64, compacted: u64 },
    /// The revision is beyond the current one.
    FutureRevision { revision: u64, current: u64 },
    /// The request is malformed for the state machine (the MVCC store refuses it, as etcd
    /// does): an empty key, a key written twice in one txn, a compaction inside a txn, a
    /// request over the size limit. Nothing changed. [`super::MemKv`] never returns it.
    Invalid { reason: String },
    /// The state machine could not read its storage to serve a read (the node is failing).
    Unavailable { reason: String },
}

impl fmt::Display for OpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpError::Compacted { revision, compacted } => {
                write!(f, "revision {revision} is compacted (compacted up to {compacted})")
            }
            OpError::FutureRevision { revision, current } => {
                write!(f, "revision {revision} is beyond the current revision {current}")
            }
            OpError::Invalid { reason } => write!(f, "invalid request: {reason}"),
            OpError::Unavailable { reason } => write!(f, "state machine unavailable: {reason}"),
        }
    }
}

/// What applying or reading an [`Op`] produced.
pub type OpOutcome = Result<OpResult, OpError>;

/// A request from a client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    Put {
        key: Vec<u8>,
        value: Vec<u8>,
    },
    /// `serializable`: served from the local state machine at once (may be stale); otherwise
    /// linearizable through ReadIndex.
    Range {
        key: Vec<u8>,
        range_end: Vec<u8>,
        serializable: bool,
    },
    DeleteRange {
        key: Vec<u8>,
        range_end: Vec<u8>,
    },
    Txn {
        compares: Vec<Compare>,
        success: Vec<Op>,
        failure: Vec<Op>,
    },
    Compact {
        revision: u64,
    },
    /// Adds a voting member listening on `peer_urls` (its ID is derived at the proposer from the
    /// URLs and the virtual clock, as etcd does).
    AddMember {
        peer_urls: Vec<String>,
    },
    RemoveMember {
        id: u64,
    },
    /// Asks the leader to hand leadership to member `to` (etcd's `MoveLeader`). Answered with
    /// [`OpResult::Transferring`] once the transfer has started; refused with
    /// [`ServerError::NotLeader`] on any other member.
    TransferLeader {
        to: u64,
    },
}

/// A request and the client's id for it (echoed in the response).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientRequest {
    pub id: u64,
    pub request: Request,
}

/// Why a request failed. [`ServerError::retryable`] says whether trying again may succeed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerError {
    /// No leader is known: retry after an election.
    NoLeader,
    /// No result within the request timeout. The operation may still take effect.
    Timeout,
    /// The leader changed while a linearizable read waited for its read index.
    LeaderChanged,
    /// The membership change is invalid (unknown member, duplicate URL, ...).
    BadMembership(String),
    /// The node is not serving (it was removed from the cluster). A proposal pending when the
    /// member stopped was already forwarded to the leader and may still commit through the
    /// remaining members: its outcome is unknown.
    Stopped,
    /// The request must go to the leader; `leader` is the one this member knows (0: none).
    NotLeader { leader: u64 },
    /// The state machine refused the operation.
    Op(OpError),
}

impl ServerError {
    /// True when the same request may succeed later.
    pub fn retryable(&self) -> bool {
        matches!(self, ServerError::NoLeader | ServerError::Timeout | ServerError::LeaderChanged)
    }
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerError::NoLeader => f.write_str("no leader (retryable)"),
            ServerError::Timeout => f.write_str("request timed out; outcome unknown (retryable)"),
            ServerError::LeaderChanged => f.write_str("leader changed (retryable)"),
            ServerError::BadMembership(why) => write!(f, "bad membership change: {why}"),
            ServerError::Stopped => f.write_str("server stopped"),
            ServerError::NotLeader { leader } => write!(f, "not the leader (leader: {leader:x})"),
            ServerError::Op(e) => write!(f, "{e}"),
        }
    }
}

/// The answer to a [`ClientRequest`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientResponse {
    pub id: u64,
    pub result: Result<OpResult, ServerError>,
}

/// Who proposed an entry, so that only the proposing incarnation triggers a waiter: `origin`
/// is the member ID, `boot` a random number drawn at each start, `key` the wait-registry key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Origin {
    pub member: u64,
    pub boot: u64,
    pub key: u64,
}

/// The payload of a normal log entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proposal {
    pub origin: Origin,
    pub op: Op,
}

/// A member as recorded in conf-change contexts and snapshots.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberRecord {
    pub id: u64,
    pub name: String,
    pub peer_urls: Vec<String>,
}

/// The context of a conf-change entry: who proposed it and, for an add, the member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfContext {
    pub origin: Origin,
    pub member: Option<MemberRecord>,
}

fn put_origin(out: &mut Vec<u8>, o: &Origin) {
    put_u64(out, o.member);
    put_u64(out, o.boot);
    put_u64(out, o.key);
}

fn read_origin(r: &mut Reader<'_>) -> Result<Origin, DecodeError> {
    Ok(Origin {
        member: r.u64("origin.member")?,
        boot: r.u64("origin.boot")?,
        key: r.u64("origin.key")?,
    })
}

fn read_tag(r: &mut Reader<'_>, field: &'static str, max: u8) -> Result<u8, DecodeError> {
    let offset = r.offset();
    let tag = r.u8(field)?;
    if tag > max {
        return Err(DecodeError::BadTag { field, tag, offset });
    }
    Ok(tag)
}

fn put_list<T>(out: &mut Vec<u8>, items: &[T], f: impl Fn(&mut Vec<u8>, &T)) {
    put_u64(out, items.len() as u64);
    for i in items {
        f(out, i);
    }
}

fn read_list<T>(
    r: &mut Reader<'_>,
    field: &'static str,
    f: impl Fn(&mut Reader<'_>) -> Result<T, DecodeError>,
) -> Result<Vec<T>, DecodeError> {
    let n = r.len(field, 1)?;
    (0..n).map(|_| f(r)).collect()
}

fn put_compare(out: &mut Vec<u8>, c: &Compare) {
    put_bytes(out, &c.key);
    out.push(c.op as u8);
    match &c.target {
        CompareTarget::Value(v) => {
            out.push(0);
            put_bytes(out, v);
        }
        CompareTarget::Version(v) => {
            out.push(1);
            put_u64(out, *v);
        }
        CompareTarget::CreateRevision(v) => {
            out.push(2);
            put_u64(out, *v);
        }
        CompareTarget::ModRevision(v) => {
            out.push(3);
            put_u64(out, *v);
        }
    }
}

fn read_compare(r: &mut Reader<'_>) -> Result<Compare, DecodeError> {
    let key = r.bytes("compare.key")?;
    let op = match read_tag(r, "compare.op", 3)? {
        0 => CompareOp::Equal,
        1 => CompareOp::NotEqual,
        2 => CompareOp::Greater,
        _ => CompareOp::Less,
    };
    let target = match read_tag(r, "compare.target", 3)? {
        0 => CompareTarget::Value(r.bytes("compare.value")?),
        1 => CompareTarget::Version(r.u64("compare.version")?),
        2 => CompareTarget::CreateRevision(r.u64("compare.create_revision")?),
        _ => CompareTarget::ModRevision(r.u64("compare.mod_revision")?),
    };
    Ok(Compare { key, op, target })
}

/// Nesting limit for txns inside txns, so hostile input cannot exhaust the stack.
const MAX_TXN_DEPTH: usize = 8;

fn put_op(out: &mut Vec<u8>, op: &Op) {
    match op {
        Op::Put { key, value } => {
            out.push(0);
            put_bytes(out, key);
            put_bytes(out, value);
        }
        Op::Range { key, range_end } => {
            out.push(1);
            put_bytes(out, key);
            put_bytes(out, range_end);
        }
        Op::DeleteRange { key, range_end } => {
            out.push(2);
            put_bytes(out, key);
            put_bytes(out, range_end);
        }
        Op::Txn { compares, success, failure } => {
            out.push(3);
            put_list(out, compares, put_compare);
            put_list(out, success, put_op);
            put_list(out, failure, put_op);
        }
        Op::Compact { revision } => {
            out.push(4);
            put_u64(out, *revision);
        }
    }
}

fn read_op(r: &mut Reader<'_>, depth: usize) -> Result<Op, DecodeError> {
    let offset = r.offset();
    let tag = read_tag(r, "op", 4)?;
    Ok(match tag {
        0 => Op::Put { key: r.bytes("put.key")?, value: r.bytes("put.value")? },
        1 => Op::Range { key: r.bytes("range.key")?, range_end: r.bytes("range.end")? },
        2 => Op::DeleteRange { key: r.bytes("delete.key")?, range_end: r.bytes("delete.end")? },
        3 => {
            if depth >= MAX_TXN_DEPTH {
                return Err(DecodeError::BadTag { field: "op (txn nested too deep)", tag, offset });
            }
            let compares = read_list(r, "txn.compares", read_compare)?;
            let success = read_list(r, "txn.success", |r| read_op(r, depth + 1))?;
            let failure = read_list(r, "txn.failure", |r| read_op(r, depth + 1))?;
            Op::Txn { compares, success, failure }
        }
        _ => Op::Compact { revision: r.u64("compact.revision")? },
    })
}

impl Codec for Op {
    fn encode_body(&self, out: &mut Vec<u8>) {
        put_op(out, self);
    }
    fn decode_body(r: &mut Reader<'_>) -> Result<Op, DecodeError> {
        read_op(r, 0)
    }
}

impl Codec for Proposal {
    fn encode_body(&self, out: &mut Vec<u8>) {
        put_origin(out, &self.origin);
        put_op(out, &self.op);
    }
    fn decode_body(r: &mut Reader<'_>) -> Result<Proposal, DecodeError> {
        Ok(Proposal { origin: read_origin(r)?, op: read_op(r, 0)? })
    }
}

/// Writes a member record (id, name, peer URLs).
pub fn put_member(out: &mut Vec<u8>, m: &MemberRecord) {
    put_u64(out, m.id);
    put_bytes(out, m.name.as_bytes());
    put_list(out, &m.peer_urls, |o, u| put_bytes(o, u.as_bytes()));
}

fn read_string(r: &mut Reader<'_>, field: &'static str) -> Result<String, DecodeError> {
    let offset = r.offset();
    let b = r.bytes(field)?;
    String::from_utf8(b).map_err(|_| DecodeError::BadTag { field, tag: 0xff, offset })
}

/// Reads a member record written by [`put_member`].
pub fn read_member(r: &mut Reader<'_>) -> Result<MemberRecord, DecodeError> {
    let id = r.u64("member.id")?;
    let name = read_string(r, "member.name")?;
    let peer_urls = read_list(r, "member.peer_urls", |r| read_string(r, "member.peer_url"))?;
    Ok(MemberRecord { id, name, peer_urls })
}

impl Codec for ConfContext {
    fn encode_body(&self, out: &mut Vec<u8>) {
        put_origin(out, &self.origin);
        match &self.member {
            None => out.push(0),
            Some(m) => {
                out.push(1);
                put_member(out, m);
            }
        }
    }
    fn decode_body(r: &mut Reader<'_>) -> Result<ConfContext, DecodeError> {
        let origin = read_origin(r)?;
        let member = match r.bool("conf_context.has_member")? {
            false => None,
            true => Some(read_member(r)?),
        };
        Ok(ConfContext { origin, member })
    }
}

/// The context of a ReadIndex request: the boot number and the read's wait key.
pub fn read_ctx(boot: u64, key: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(20);
    put_u64(&mut out, boot);
    put_u64(&mut out, key);
    out
}

/// Parses [`read_ctx`]; `None` for anything else.
pub fn parse_read_ctx(ctx: &[u8]) -> Option<(u64, u64)> {
    let mut r = Reader::new(ctx);
    let boot = r.u64("read.boot").ok()?;
    let key = r.u64("read.key").ok()?;
    r.finish().ok()?;
    Some((boot, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_txn() -> Op {
        Op::Txn {
            compares: vec![
                Compare {
                    key: b"a".to_vec(),
                    op: CompareOp::Equal,
                    target: CompareTarget::Value(b"1".to_vec()),
                },
                Compare {
                    key: b"b".to_vec(),
                    op: CompareOp::Greater,
                    target: CompareTarget::ModRevision(7),
                },
            ],
            success: vec![Op::Put { key: b"a".to_vec(), value: b"2".to_vec() }],
            failure: vec![
                Op::Range { key: b"a".to_vec(), range_end: Vec::new() },
                Op::DeleteRange { key: b"c".to_vec(), range_end: b"d".to_vec() },
                Op::Compact { revision: 3 },
            ],
        }
    }

    #[test]
    fn proposal_round_trips() {
        let p = Proposal { origin: Origin { member: 9, boot: 77, key: 5 }, op: sample_txn() };
        assert_eq!(Proposal::decode(&p.to_bytes()), Ok(p));
    }

    #[test]
    fn conf_context_round_trips() {
        let c = ConfContext {
            origin: Origin { member: 1, boot: 2, key: 3 },
            member: Some(MemberRecord {
                id: 4,
                name: "d".into(),
                peer_urls: vec!["http://n4:2380".into()],
            }),
        };
        assert_eq!(ConfContext::decode(&c.to_bytes()), Ok(c));
    }

    #[test]
    fn every_truncation_is_a_typed_error() {
        let bytes = Proposal { origin: Origin::default(), op: sample_txn() }.to_bytes();
        for cut in 0..bytes.len() {
            assert!(Proposal::decode(&bytes[..cut]).is_err(), "prefix of {cut} bytes decoded");
        }
    }

    #[test]
    fn deep_txn_nesting_is_refused() {
        let mut op = Op::Compact { revision: 1 };
        for _ in 0..(MAX_TXN_DEPTH + 1) {
            op = Op::Txn { compares: vec![], success: vec![op], failure: vec![] };
        }
        assert!(matches!(Op::decode(&op.to_bytes()), Err(DecodeError::BadTag { .. })));
    }

    #[test]
    fn read_ctx_round_trips_and_rejects_garbage() {
        assert_eq!(parse_read_ctx(&read_ctx(300, 2)), Some((300, 2)));
        assert_eq!(parse_read_ctx(b""), None);
        assert_eq!(parse_read_ctx(&[1, 2, 3]), None);
    }
}
