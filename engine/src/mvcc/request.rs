//! Requests and responses of the MVCC store, in etcd's shape.
//!
//! Range ends follow etcd: an empty `end` means the single key `key`; `end == [0]` means every key
//! at or after `key`; otherwise the half-open range `[key, end)`.

use super::record::KeyValue;

/// What a range sorts by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortTarget {
    Key,
    Version,
    CreateRevision,
    ModRevision,
    Value,
}

/// Sort direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortOrder {
    Ascend,
    Descend,
}

/// A range read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RangeRequest {
    pub key: Vec<u8>,
    pub end: Vec<u8>,
    /// At most this many keys (0: no limit).
    pub limit: i64,
    /// Read as of this revision (0: the current one).
    pub revision: i64,
    /// Return only the count.
    pub count_only: bool,
    /// Return keys without values.
    pub keys_only: bool,
    /// Sort the result (default: by key, ascending).
    pub sort: Option<(SortTarget, SortOrder)>,
}

/// A range's answer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RangeResponse {
    pub kvs: Vec<KeyValue>,
    /// Keys in the range before `limit` applied.
    pub count: i64,
    /// Whether `limit` cut keys off.
    pub more: bool,
    /// The store's current revision when the range ran.
    pub header_revision: i64,
}

/// A put.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PutRequest {
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    pub lease: i64,
    /// Return the previous version.
    pub prev_kv: bool,
}

/// A put's answer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PutResponse {
    pub header_revision: i64,
    pub prev_kv: Option<KeyValue>,
}

/// A delete of a key or range.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeleteRangeRequest {
    pub key: Vec<u8>,
    pub end: Vec<u8>,
    /// Return the deleted versions.
    pub prev_kv: bool,
}

/// A delete's answer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeleteRangeResponse {
    pub header_revision: i64,
    pub deleted: i64,
    pub prev_kvs: Vec<KeyValue>,
}

/// What a txn compare looks at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CompareTarget {
    Value(Vec<u8>),
    Version(i64),
    CreateRevision(i64),
    ModRevision(i64),
}

/// How a compare relates the key's field to the target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompareResult {
    Equal,
    NotEqual,
    Greater,
    Less,
}

/// One txn guard on a single key. A missing key has version, create and mod revision 0 and
/// fails every value compare.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Compare {
    pub key: Vec<u8>,
    pub target: CompareTarget,
    pub result: CompareResult,
}

/// One operation inside a txn branch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequestOp {
    Range(RangeRequest),
    Put(PutRequest),
    DeleteRange(DeleteRangeRequest),
}

/// The answer to one txn operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResponseOp {
    Range(RangeResponse),
    Put(PutResponse),
    DeleteRange(DeleteRangeResponse),
}

/// If every compare holds, run `success`, else `failure`; atomically, at one revision.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TxnRequest {
    pub compare: Vec<Compare>,
    pub success: Vec<RequestOp>,
    pub failure: Vec<RequestOp>,
}

/// A txn's answer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TxnResponse {
    pub header_revision: i64,
    pub succeeded: bool,
    pub responses: Vec<ResponseOp>,
}

/// An operation carried by a raft log entry, for [`super::Store::apply`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    Put(PutRequest),
    DeleteRange(DeleteRangeRequest),
    Txn(TxnRequest),
    /// Compact away history before this revision. Must be the only operation of its entry.
    Compact(i64),
}

/// The result of one applied operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpResult {
    Put(PutResponse),
    DeleteRange(DeleteRangeResponse),
    Txn(TxnResponse),
    Compact,
    /// The operation was refused (a request error); nothing changed.
    Error(super::MvccError),
}
