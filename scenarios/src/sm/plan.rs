//! Planning: a server [`Op`] becomes one flat MVCC txn plus the shape of its answer.
//!
//! The server's `Op` nests (a txn's branches hold ops, txns included) and, as in etcd, every
//! compare — nested ones included — sees the store as it was before the op, with a missing key
//! reading as an empty value and zero version and revisions (the contract of
//! `raft::server::request`, which `MemKv` implements). The MVCC store's txn is one level of
//! ranges, puts and deletes. So a plan evaluates every compare itself against the store at the
//! revision before the op, and lists the operations of the branches taken, in order (deletes
//! and puts resolved against an overlay of the writes planned so far); the store then runs them
//! as one txn at one revision, which is also how etcd runs a nested txn. Ranges are answered by the store (which sees earlier writes of its txn); the plan
//! knows every result's revision: the store revision before the op, plus one once anything was
//! written, as `MemKv` reports it.
//!
//! Ranges the store would refuse but the server's contract defines are answered here: an empty
//! key with an empty end names a key that cannot exist (puts refuse empty keys), an empty key
//! with an end starts at the smallest key, and an end not after the key is an empty range.

use std::collections::BTreeMap;

use engine::mvcc::{
    DeleteRangeRequest, MvccError, PutRequest, RangeRequest, RequestOp, ResponseOp, Store,
};
use raft::server::{Compare, CompareOp, CompareTarget, KeyValue, Op, OpError, OpResult};

/// A key as the txn sees it so far (revisions in the server's `u64`).
#[derive(Clone, Debug)]
struct Seen {
    value: Vec<u8>,
    create_revision: u64,
    mod_revision: u64,
    version: u64,
}

/// What the txn wrote to a key so far.
#[derive(Clone, Debug)]
enum Written {
    Deleted,
    /// Put over a state the plan already knows.
    Put(Seen),
    /// Put over the key as it was before the op, not read yet: a plain put needs no read of
    /// the store; a later compare or put of the same key resolves it.
    PutOnBase {
        value: Vec<u8>,
    },
}

/// How to answer one op from the store's responses to the flat list.
#[derive(Clone, Debug)]
pub enum Step {
    /// Answered by the flat range at position `at`.
    Range {
        at: usize,
        revision: u64,
    },
    /// A range that holds no key by construction.
    EmptyRange {
        revision: u64,
    },
    Put {
        at: usize,
        revision: u64,
    },
    /// The flat delete at `at`, which the plan expects to delete `deleted` keys.
    Delete {
        at: usize,
        deleted: u64,
        revision: u64,
    },
    /// A delete of a range that holds no key by construction.
    EmptyDelete {
        revision: u64,
    },
    Txn {
        succeeded: bool,
        steps: Vec<Step>,
        revision: u64,
    },
}

/// A planned op: the flat operations for one store txn, and how to answer from its responses.
#[derive(Clone, Debug)]
pub struct Plan {
    pub ops: Vec<RequestOp>,
    pub step: Step,
    /// The store revision after the op.
    pub revision: u64,
}

/// Why an op has no plan.
#[derive(Clone, Debug)]
pub enum PlanError {
    /// The op is refused (nothing changes).
    Refused(OpError),
    /// The store failed while the plan read it.
    Store(MvccError),
}

impl From<MvccError> for PlanError {
    fn from(e: MvccError) -> PlanError {
        if e.is_request_error() {
            PlanError::Refused(refusal(&e))
        } else {
            PlanError::Store(e)
        }
    }
}

/// The server's form of a request error of the store.
pub fn refusal(e: &MvccError) -> OpError {
    match e {
        MvccError::Compacted { requested, compacted } => {
            OpError::Compacted { revision: to_u64(*requested), compacted: to_u64(*compacted) }
        }
        MvccError::FutureRevision { requested, current } => {
            OpError::FutureRevision { revision: to_u64(*requested), current: to_u64(*current) }
        }
        other => OpError::Invalid { reason: other.to_string() },
    }
}

/// A store revision in the server's type. Revisions the store reports are never negative.
fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or_else(|_| panic!("the store reported a negative revision {v}"))
}

/// Plans `op` (anything but a top-level compaction, which the caller sends to the store as it
/// is) against `store` as it is now.
pub fn plan(store: &Store, op: &Op) -> Result<Plan, PlanError> {
    let base = to_u64(store.revision());
    let mut p = Planner { store, base, wrote: false, overlay: BTreeMap::new(), ops: Vec::new() };
    let step = p.plan(op)?;
    Ok(Plan { revision: p.now(), ops: p.ops, step })
}

struct Planner<'a> {
    store: &'a Store,
    /// The store revision before the op.
    base: u64,
    /// Whether an earlier planned operation writes (so the txn makes a new revision).
    wrote: bool,
    /// Keys written so far.
    overlay: BTreeMap<Vec<u8>, Written>,
    ops: Vec<RequestOp>,
}

impl Planner<'_> {
    fn now(&self) -> u64 {
        self.base + u64::from(self.wrote)
    }

    fn push(&mut self, op: RequestOp) -> usize {
        self.ops.push(op);
        self.ops.len() - 1
    }

    fn plan(&mut self, op: &Op) -> Result<Step, PlanError> {
        match op {
            Op::Put { key, value } => {
                if key.is_empty() {
                    return Err(invalid("put of an empty key"));
                }
                let written = match self.overlay.get(key) {
                    None => Written::PutOnBase { value: value.clone() },
                    Some(_) => Written::Put(self.put_over(self.lookup(key)?, value)),
                };
                self.overlay.insert(key.clone(), written);
                self.wrote = true;
                let req =
                    PutRequest { key: key.clone(), value: value.clone(), ..Default::default() };
                let at = self.push(RequestOp::Put(req));
                Ok(Step::Put { at, revision: self.base + 1 })
            }
            Op::Range { key, range_end } => Ok(match bounds(key, range_end) {
                None => Step::EmptyRange { revision: self.now() },
                Some((key, end)) => {
                    let at = self.push(RequestOp::Range(RangeRequest {
                        key,
                        end,
                        ..Default::default()
                    }));
                    Step::Range { at, revision: self.now() }
                }
            }),
            Op::DeleteRange { key, range_end } => {
                let Some((key, end)) = bounds(key, range_end) else {
                    return Ok(Step::EmptyDelete { revision: self.now() });
                };
                let live = self.live_keys(&key, &end)?;
                let deleted = live.len() as u64;
                for k in live {
                    self.overlay.insert(k, Written::Deleted);
                }
                self.wrote |= deleted > 0;
                let req = DeleteRangeRequest { key, end, prev_kv: false };
                let at = self.push(RequestOp::DeleteRange(req));
                Ok(Step::Delete { at, deleted, revision: self.now() })
            }
            Op::Txn { compares, success, failure } => {
                let mut succeeded = true;
                for c in compares {
                    if !self.holds(c)? {
                        succeeded = false;
                        break;
                    }
                }
                let branch = if succeeded { success } else { failure };
                let steps = branch.iter().map(|o| self.plan(o)).collect::<Result<_, _>>()?;
                Ok(Step::Txn { succeeded, steps, revision: self.now() })
            }
            Op::Compact { revision } => {
                Err(invalid(&format!("compaction to {revision} inside a txn")))
            }
        }
    }

    /// The key as the txn sees it now.
    fn lookup(&self, key: &[u8]) -> Result<Option<Seen>, PlanError> {
        match self.overlay.get(key) {
            Some(Written::Deleted) => Ok(None),
            Some(Written::Put(s)) => Ok(Some(s.clone())),
            Some(Written::PutOnBase { value }) => {
                Ok(Some(self.put_over(self.base_kv(key)?, value)))
            }
            None => self.base_kv(key),
        }
    }

    /// The key's state after a put of `value` over `prev`, at this txn's revision.
    fn put_over(&self, prev: Option<Seen>, value: &[u8]) -> Seen {
        let revision = self.base + 1;
        let (create_revision, version) = match prev {
            Some(p) => (p.create_revision, p.version + 1),
            None => (revision, 1),
        };
        Seen { value: value.to_vec(), create_revision, mod_revision: revision, version }
    }

    /// The key as it was before the op.
    fn base_kv(&self, key: &[u8]) -> Result<Option<Seen>, PlanError> {
        if key.is_empty() {
            return Ok(None);
        }
        let req = RangeRequest { key: key.to_vec(), ..Default::default() };
        let resp = self.store.range(&req)?;
        Ok(match resp.kvs.into_iter().next() {
            None => None,
            Some(kv) => {
                let kv = key_value(kv).map_err(|e| PlanError::Store(corrupt_record(e)))?;
                Some(Seen {
                    value: kv.value,
                    create_revision: kv.create_revision,
                    mod_revision: kv.mod_revision,
                    version: kv.version,
                })
            }
        })
    }

    /// Keys live in `[key, end)` (store bounds) as the txn sees them now.
    fn live_keys(&self, key: &[u8], end: &[u8]) -> Result<Vec<Vec<u8>>, PlanError> {
        let req = RangeRequest {
            key: key.to_vec(),
            end: end.to_vec(),
            keys_only: true,
            ..Default::default()
        };
        let mut live: BTreeMap<Vec<u8>, ()> =
            self.store.range(&req)?.kvs.into_iter().map(|kv| (kv.key, ())).collect();
        for (k, s) in &self.overlay {
            if in_bounds(k, key, end) {
                match s {
                    Written::Deleted => live.remove(k),
                    Written::Put(_) | Written::PutOnBase { .. } => live.insert(k.clone(), ()),
                };
            }
        }
        Ok(live.into_keys().collect())
    }

    /// Whether `c` holds in the view before the op (etcd's `compareToPath` over one read view).
    fn holds(&self, c: &Compare) -> Result<bool, PlanError> {
        let seen = self.base_kv(&c.key)?;
        let s = seen.as_ref();
        let ord = match &c.target {
            CompareTarget::Value(v) => s.map_or(&[][..], |s| s.value.as_slice()).cmp(v.as_slice()),
            CompareTarget::Version(v) => s.map_or(0, |s| s.version).cmp(v),
            CompareTarget::CreateRevision(v) => s.map_or(0, |s| s.create_revision).cmp(v),
            CompareTarget::ModRevision(v) => s.map_or(0, |s| s.mod_revision).cmp(v),
        };
        Ok(match c.op {
            CompareOp::Equal => ord.is_eq(),
            CompareOp::NotEqual => ord.is_ne(),
            CompareOp::Greater => ord.is_gt(),
            CompareOp::Less => ord.is_lt(),
        })
    }
}

fn invalid(reason: &str) -> PlanError {
    PlanError::Refused(OpError::Invalid { reason: reason.to_string() })
}

/// The store's bounds for the server's `[key, range_end)`, or `None` when the range holds no
/// key by construction. Server and store agree on the end: empty is the single key, `[0]` is
/// every key from `key` on.
fn bounds(key: &[u8], end: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    if end.is_empty() {
        return (!key.is_empty()).then(|| (key.to_vec(), Vec::new()));
    }
    // The smallest key the store can hold is [0].
    let key = if key.is_empty() { vec![0] } else { key.to_vec() };
    if end != [0] && end <= key.as_slice() {
        return None;
    }
    Some((key, end.to_vec()))
}

/// Whether `k` is in the store bounds `[key, end)`.
fn in_bounds(k: &[u8], key: &[u8], end: &[u8]) -> bool {
    if end.is_empty() {
        return k == key;
    }
    k >= key && (end == [0] || k < end)
}

/// A record of the store as the server's key-value; a negative field is corruption.
pub fn key_value(kv: engine::mvcc::KeyValue) -> Result<KeyValue, String> {
    let field = |name: &str, v: i64| {
        u64::try_from(v).map_err(|_| format!("key {:02x?}: negative {name} {v}", kv.key))
    };
    Ok(KeyValue {
        create_revision: field("create_revision", kv.create_revision)?,
        mod_revision: field("mod_revision", kv.mod_revision)?,
        version: field("version", kv.version)?,
        key: kv.key.clone(),
        value: kv.value.clone(),
    })
}

fn corrupt_record(detail: String) -> MvccError {
    MvccError::CorruptRecord { revision: "(read)".into(), detail }
}

/// Builds the answer to `step` from the store's `responses` to the plan's flat list.
///
/// Panics if the store answered differently from what the plan predicted (a different response
/// kind or number of deleted keys): that is a bug in the plan, not bad input. A record with a
/// negative field is corruption, returned as `Err`.
pub fn answer(step: &Step, responses: &[ResponseOp]) -> Result<OpResult, String> {
    Ok(match step {
        Step::Range { at, revision } => match &responses[*at] {
            ResponseOp::Range(r) => OpResult::Range {
                kvs: r.kvs.iter().cloned().map(key_value).collect::<Result<_, _>>()?,
                revision: *revision,
            },
            other => panic!("planned a range at {at}, the store answered {other:?}"),
        },
        Step::EmptyRange { revision } => OpResult::Range { kvs: Vec::new(), revision: *revision },
        Step::Put { at, revision } => match &responses[*at] {
            ResponseOp::Put(_) => OpResult::Put { revision: *revision },
            other => panic!("planned a put at {at}, the store answered {other:?}"),
        },
        Step::Delete { at, deleted, revision } => match &responses[*at] {
            ResponseOp::DeleteRange(r) => {
                assert_eq!(
                    r.deleted as u64, *deleted,
                    "planned delete at {at}: the store deleted {} keys, the plan expected {deleted}",
                    r.deleted
                );
                OpResult::DeleteRange { deleted: *deleted, revision: *revision }
            }
            other => panic!("planned a delete at {at}, the store answered {other:?}"),
        },
        Step::EmptyDelete { revision } => OpResult::DeleteRange { deleted: 0, revision: *revision },
        Step::Txn { succeeded, steps, revision } => OpResult::Txn {
            succeeded: *succeeded,
            results: steps.iter().map(|s| answer(s, responses)).collect::<Result<_, _>>()?,
            revision: *revision,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_follow_the_server_contract() {
        assert_eq!(bounds(b"a", b""), Some((b"a".to_vec(), vec![])));
        assert_eq!(bounds(b"", b""), None);
        assert_eq!(bounds(b"", b"c"), Some((vec![0], b"c".to_vec())));
        assert_eq!(bounds(b"", &[0]), Some((vec![0], vec![0])));
        assert_eq!(bounds(b"c", b"a"), None);
        assert_eq!(bounds(b"c", b"c"), None);
        assert_eq!(bounds(b"c", &[0]), Some((b"c".to_vec(), vec![0])));
    }

    #[test]
    fn in_bounds_matches_store_ends() {
        assert!(in_bounds(b"a", b"a", b""));
        assert!(!in_bounds(b"ab", b"a", b""));
        assert!(in_bounds(b"zz", b"a", &[0]));
        assert!(in_bounds(b"b", b"a", b"c"));
        assert!(!in_bounds(b"c", b"a", b"c"));
    }
}
