//! Simulated client processes: they turn workload operations into server requests, time out,
//! retry definite failures, and record every attempt in the history.
//!
//! History mapping (checked per group of keys, see [`crate::check::linearizability`]):
//! put -> `write v`; delete -> `write nil`; get -> `read` returning the value or `nil`;
//! compare-and-swap -> `cas [old new]`, whose refusal (compare false) is a `fail`; serializable
//! get -> `read-serializable` (checked by [`crate::check::serializable`] only); range ->
//! `range [k ...]` returning one value per key; txn -> `txn [compares writes reads]` returning
//! `[1]` or `[0 v ...]` (see [`Func::Txn`]); compaction -> `compact rev`, an `ok` or a `fail`
//! (a compacted or future revision is refused: nothing changed). The revision every `ok` answer
//! carries is kept beside the history ([`Clients::revisions`]).
//!
//! Outcomes: a response is `ok`; an error that proves the operation never reached the log
//! (no leader, leader changed, refused) is `fail` and the client retries it as a new
//! operation up to [`MAX_ATTEMPTS`] times; a server timeout, a `stopped` answer or no answer
//! within [`CLIENT_TIMEOUT`] is `info` (it may or may not have happened) and the client moves
//! on. `stopped` is not definite: a member removed from the cluster answers it for proposals it
//! had already forwarded to the leader, and those may still commit through the others.

use std::collections::{BTreeMap, VecDeque};

use raft::server::{
    ClientRequest, ClientResponse, Compare, CompareOp, CompareTarget, KeyValue, Op, OpResult,
    Request, ServerError,
};
use rand::Rng as _;
use sim::seed::Rng;
use sim::time::{Duration, Instant};
use sim::NodeId;

use crate::check::history::{Func, Key, OpId, Outcome, Value};
use crate::check::recorder::Recorder;
use crate::cluster::{Cluster, Observable};
use crate::oracle::protocol::ReadFloor;
use crate::plan::WorkOp;

/// How long a client waits for an answer before recording `info`.
pub const CLIENT_TIMEOUT: Duration = Duration::from_millis(3_000);
/// Attempts per workload operation (first try included) on definite failures.
pub const MAX_ATTEMPTS: u32 = 3;
/// Pause before retrying a definite failure.
pub const RETRY_DELAY: Duration = Duration::from_millis(100);

/// The key string of key number `k`.
pub fn key_bytes(k: u8) -> Vec<u8> {
    format!("k{k}").into_bytes()
}

/// A request in flight.
#[derive(Debug)]
struct InFlight {
    request: u64,
    op: OpId,
    work: WorkOp,
    deadline: Instant,
    attempt: u32,
    /// For a linearizable read: the highest commit index any node had when it was sent.
    floor: Option<ReadFloor>,
}

#[derive(Debug, Default)]
struct Client {
    /// The highest store revision this client saw in an answer (compactions aim below it).
    seen_revision: u64,
    queue: VecDeque<WorkOp>,
    inflight: Option<InFlight>,
    /// A definite failure waiting to be retried: (when, op, attempt number of the retry).
    retry: Option<(Instant, WorkOp, u32)>,
}

/// What a client learned, for the durability oracle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acked {
    pub key: u8,
    /// The value now written (`None`: deleted).
    pub value: Option<u64>,
}

/// All clients of a run and the history they record.
pub struct Clients {
    clients: Vec<Client>,
    recorder: Recorder,
    rng: Rng,
    next_request: u64,
    /// Request id -> client index.
    by_request: BTreeMap<u64, usize>,
    /// Request ids that completed successfully, per history operation.
    pub issued: u64,
    /// The highest commit index any node has had so far (kept up to date by the runner):
    /// linearizable reads sent now must be answered at a read index at least this high.
    pub commit_floor: u64,
    /// The store revision of every `ok` answer, by history operation.
    revisions: BTreeMap<OpId, u64>,
    /// While set, linearizable reads go to this node when it is up and serving (the runner
    /// aims reads at a new leader); otherwise every request goes to a random member.
    pub route_reads: Option<u32>,
    /// Reads sent to `route_reads` so far.
    pub routed_reads: u64,
}

impl Clients {
    /// `count` idle clients choosing nodes with `rng`.
    pub fn new(count: u32, rng: Rng) -> Clients {
        Clients::with_capacity(count, rng, 0)
    }

    /// Clients whose history has room for `ops` operations before it grows.
    pub fn with_capacity(count: u32, rng: Rng, ops: usize) -> Clients {
        Clients {
            clients: (0..count).map(|_| Client::default()).collect(),
            recorder: Recorder::with_capacity(ops),
            rng,
            next_request: 1,
            by_request: BTreeMap::new(),
            issued: 0,
            commit_floor: 0,
            revisions: BTreeMap::new(),
            route_reads: None,
            routed_reads: 0,
        }
    }

    /// Queues `op` for client `c` (it runs when the client is idle).
    pub fn enqueue(&mut self, c: u32, op: WorkOp) {
        let i = c as usize % self.clients.len();
        self.clients[i].queue.push_back(op);
    }

    /// True when no client has anything to do.
    pub fn idle(&self) -> bool {
        self.clients.iter().all(|c| c.queue.is_empty() && c.inflight.is_none() && c.retry.is_none())
    }

    /// The earliest client deadline or retry time, if any.
    pub fn next_wakeup(&self) -> Option<Instant> {
        self.clients
            .iter()
            .flat_map(|c| {
                c.inflight
                    .as_ref()
                    .map(|f| f.deadline)
                    .into_iter()
                    .chain(c.retry.as_ref().map(|r| r.0))
            })
            .min()
    }

    /// Issues what is due: idle clients with queued work send it, due retries go out, and
    /// requests past their deadline are recorded as `info`.
    pub fn poll<S: Observable>(&mut self, cluster: &mut Cluster<S>) {
        let now = cluster.w.now();
        for i in 0..self.clients.len() {
            if self.clients[i].inflight.as_ref().is_some_and(|f| f.deadline <= now) {
                let f = self.clients[i].inflight.take().expect("checked");
                self.by_request.remove(&f.request);
                self.recorder.complete(f.op, Outcome::Info, Value::Nil);
            }
            if self.clients[i].inflight.is_some() {
                continue;
            }
            let next = match self.clients[i].retry {
                Some((at, _, _)) if at <= now => self.clients[i].retry.take().map(|r| (r.1, r.2)),
                Some(_) => None,
                None => self.clients[i].queue.pop_front().map(|op| (op, 1)),
            };
            if let Some((op, attempt)) = next {
                self.send(cluster, i, op, attempt);
            }
        }
    }

    fn send<S: Observable>(&mut self, c: &mut Cluster<S>, i: usize, work: WorkOp, attempt: u32) {
        let now = c.w.now();
        let up: Vec<u32> = c.serving_members().into_iter().filter(|n| c.is_up(*n)).collect();
        let (func, key, arg) = history_call(&work, self.clients[i].seen_revision);
        let op = self.recorder.invoke(i as u64, func, key, arg);
        if up.is_empty() {
            // Nowhere to send it: it definitely did not happen.
            self.recorder.complete(op, Outcome::Fail, Value::Nil);
            self.schedule_retry(i, work, attempt, now);
            return;
        }
        let mut node = up[self.rng.random_range(0..up.len())];
        if let Some(to) = self.route_reads.filter(|n| up.contains(n)) {
            if matches!(work, WorkOp::Get { .. } | WorkOp::Range { .. }) {
                node = to;
                self.routed_reads += 1;
            }
        }
        let request = self.next_request;
        self.next_request += 1;
        self.issued += 1;
        self.by_request.insert(request, i);
        let request_body = server_request(&work, self.clients[i].seen_revision);
        c.w.request(NodeId(node), ClientRequest { id: request, request: request_body });
        let deadline = now + CLIENT_TIMEOUT;
        let linearizable_read = matches!(work, WorkOp::Get { .. } | WorkOp::Range { .. });
        let floor = linearizable_read.then_some(ReadFloor(self.commit_floor));
        self.clients[i].inflight = Some(InFlight { request, op, work, deadline, attempt, floor });
    }

    fn schedule_retry(&mut self, i: usize, work: WorkOp, attempt: u32, now: Instant) {
        if attempt < MAX_ATTEMPTS {
            self.clients[i].retry = Some((now + RETRY_DELAY, work, attempt + 1));
        }
    }

    /// Whether a linearizable read is in flight.
    pub fn reads_in_flight(&self) -> bool {
        self.clients.iter().any(|c| c.inflight.as_ref().is_some_and(|f| f.floor.is_some()))
    }

    /// The read floor of request `request`, if it is a linearizable read still in flight.
    pub fn read_floor(&self, request: u64) -> Option<ReadFloor> {
        let i = *self.by_request.get(&request)?;
        self.clients[i].inflight.as_ref().and_then(|f| f.floor)
    }

    /// Records the answers the world produced. Answers to abandoned requests are ignored.
    pub fn absorb(
        &mut self,
        now: Instant,
        responses: impl IntoIterator<Item = (NodeId, Instant, ClientResponse)>,
    ) {
        for (_, _, ClientResponse { id, result }) in responses {
            let Some(i) = self.by_request.remove(&id) else { continue };
            let f = self.clients[i].inflight.take().expect("a mapped request is in flight");
            assert_eq!(f.request, id, "client {i} answered for request {id}");
            if let Some(rev) = result.as_ref().ok().and_then(revision_of) {
                let c = &mut self.clients[i];
                c.seen_revision = c.seen_revision.max(rev);
            }
            let revision = result.as_ref().ok().and_then(revision_of);
            match classify(&f.work, result) {
                Classified::Ok(v) => {
                    self.recorder.complete(f.op, Outcome::Ok, v);
                    if let Some(rev) = revision {
                        self.revisions.insert(f.op, rev);
                    }
                }
                Classified::Refused => self.recorder.complete(f.op, Outcome::Fail, Value::Nil),
                Classified::Retry => {
                    self.recorder.complete(f.op, Outcome::Fail, Value::Nil);
                    self.schedule_retry(i, f.work, f.attempt, now);
                }
                Classified::Unknown => self.recorder.complete(f.op, Outcome::Info, Value::Nil),
            }
        }
    }

    /// Abandons every request still in flight (recorded `info`) and drops queued work.
    pub fn abandon(&mut self) {
        for c in &mut self.clients {
            c.queue.clear();
            c.retry = None;
            if let Some(f) = c.inflight.take() {
                self.by_request.remove(&f.request);
                self.recorder.complete(f.op, Outcome::Info, Value::Nil);
            }
        }
    }

    /// The history recorded so far (in-flight operations stay `info`).
    pub fn into_history(self) -> crate::check::History {
        self.recorder.finish()
    }

    /// The history recorded so far and the store revision of every `ok` answer in it.
    pub fn into_history_and_revisions(self) -> (crate::check::History, BTreeMap<OpId, u64>) {
        (self.recorder.finish(), self.revisions)
    }

    /// The recorder, for inspection.
    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }
}

/// The history function, key and argument of a workload operation (`seen`: the client's highest
/// revision so far, which a compaction aims below).
pub fn history_call(op: &WorkOp, seen: u64) -> (Func, Key, Value) {
    let int = |v: u64| Value::Int(v as i64);
    let opt = |v: Option<u64>| v.map_or(Value::Nil, int);
    let key = |k: u8| Value::Int(i64::from(k));
    let (func, arg) = match op {
        WorkOp::Put { value, .. } => (Func::Write, int(*value)),
        WorkOp::Delete { .. } => (Func::Write, Value::Nil),
        WorkOp::Get { .. } => (Func::Read, Value::Nil),
        WorkOp::SerialGet { .. } => (Func::SerialRead, Value::Nil),
        WorkOp::Cas { old, new, .. } => (Func::Cas, Value::Vec(vec![opt(*old), int(*new)])),
        WorkOp::Range { from, to } => (Func::Range, Value::Vec((*from..=*to).map(key).collect())),
        WorkOp::Txn { compares, success, failure } => {
            let pair = |k: u8, v: Option<u64>| Value::Vec(vec![key(k), opt(v)]);
            let parts = vec![
                Value::Vec(compares.iter().map(|c| pair(c.key, c.value)).collect()),
                Value::Vec(success.iter().map(|w| pair(w.key, w.value)).collect()),
                Value::Vec(failure.iter().map(|k| key(*k)).collect()),
            ];
            (Func::Txn, Value::Vec(parts))
        }
        WorkOp::Compact { back } => (Func::Compact, int(compact_target(seen, *back))),
    };
    (func, Key::Int(i64::from(op.key())), arg)
}

/// The revision a compaction `back` revisions below `seen` aims at (at least 1).
fn compact_target(seen: u64, back: u64) -> u64 {
    seen.saturating_sub(back).max(1)
}

/// The byte range `[key, end)` of keys `from..=to` (one-digit key names sort numerically).
fn range_bounds(from: u8, to: u8) -> (Vec<u8>, Vec<u8>) {
    let mut end = key_bytes(to);
    end.push(0);
    (key_bytes(from), end)
}

/// The server request for a workload operation (`seen`: as for [`history_call`]).
pub fn server_request(op: &WorkOp, seen: u64) -> Request {
    let value = |v: u64| v.to_string().into_bytes();
    let equals = |key: Vec<u8>, old: Option<u64>| {
        let target = match old {
            Some(v) => CompareTarget::Value(value(v)),
            None => CompareTarget::Version(0),
        };
        Compare { key, op: CompareOp::Equal, target }
    };
    let get = |k: u8| Op::Range { key: key_bytes(k), range_end: Vec::new() };
    match op {
        WorkOp::Put { key, value: v } => Request::Put { key: key_bytes(*key), value: value(*v) },
        WorkOp::Get { key } | WorkOp::SerialGet { key } => Request::Range {
            key: key_bytes(*key),
            range_end: Vec::new(),
            serializable: matches!(op, WorkOp::SerialGet { .. }),
        },
        WorkOp::Delete { key } => Request::DeleteRange { key: key_bytes(*key), range_end: vec![] },
        WorkOp::Cas { key, old, new } => {
            let key = key_bytes(*key);
            Request::Txn {
                compares: vec![equals(key.clone(), *old)],
                success: vec![Op::Put { key, value: value(*new) }],
                failure: Vec::new(),
            }
        }
        WorkOp::Range { from, to } => {
            let (key, range_end) = range_bounds(*from, *to);
            Request::Range { key, range_end, serializable: false }
        }
        WorkOp::Txn { compares, success, failure } => Request::Txn {
            compares: compares.iter().map(|c| equals(key_bytes(c.key), c.value)).collect(),
            success: success
                .iter()
                .map(|w| match w.value {
                    Some(v) => Op::Put { key: key_bytes(w.key), value: value(v) },
                    None => Op::DeleteRange { key: key_bytes(w.key), range_end: Vec::new() },
                })
                .collect(),
            failure: failure.iter().map(|k| get(*k)).collect(),
        },
        WorkOp::Compact { back } => Request::Compact { revision: compact_target(seen, *back) },
    }
}

/// The store revision an answer carries, if any.
fn revision_of(r: &OpResult) -> Option<u64> {
    match r {
        OpResult::Put { revision }
        | OpResult::Range { revision, .. }
        | OpResult::DeleteRange { revision, .. }
        | OpResult::Txn { revision, .. } => Some(*revision),
        _ => None,
    }
}

/// The workload value of a stored value; a value this workload never writes is reported as a
/// string so the checkers fail on it.
fn stored_value(bytes: &[u8]) -> Value {
    match parse_value(bytes) {
        Some(v) => Value::Int(v as i64),
        None => Value::Str(String::from_utf8_lossy(bytes).into_owned()),
    }
}

/// The value of key `k` among `kvs` (`nil`: absent).
fn value_of(kvs: &[KeyValue], k: u8) -> Value {
    let key = key_bytes(k);
    kvs.iter().find(|kv| kv.key == key).map_or(Value::Nil, |kv| stored_value(&kv.value))
}

enum Classified {
    Ok(Value),
    /// Definitely not applied, and not worth retrying (cas compare false).
    Refused,
    /// Definitely not applied; retry.
    Retry,
    /// May or may not have been applied.
    Unknown,
}

fn classify(work: &WorkOp, result: Result<OpResult, ServerError>) -> Classified {
    match (work, result) {
        (WorkOp::Get { .. } | WorkOp::SerialGet { .. }, Ok(OpResult::Range { kvs, .. })) => {
            // A single-key range: its one record, whatever its key says (a wrong key is the
            // server's bug, and its value will not fit the history).
            Classified::Ok(kvs.first().map_or(Value::Nil, |kv| stored_value(&kv.value)))
        }
        (WorkOp::Range { from, to }, Ok(OpResult::Range { kvs, .. })) => {
            Classified::Ok(Value::Vec((*from..=*to).map(|k| value_of(&kvs, k)).collect()))
        }
        (WorkOp::Txn { failure, .. }, Ok(OpResult::Txn { succeeded, results, .. })) => {
            if succeeded {
                return Classified::Ok(Value::Vec(vec![Value::Int(1)]));
            }
            let mut out = vec![Value::Int(0)];
            for (k, r) in failure.iter().zip(&results) {
                match r {
                    OpResult::Range { kvs, .. } => out.push(value_of(kvs, *k)),
                    // Not the answer a read gets: report it so the checker fails.
                    other => out.push(Value::Str(format!("{other:?}"))),
                }
            }
            Classified::Ok(Value::Vec(out))
        }
        (_, result) => classify_plain(result),
    }
}

fn classify_plain(result: Result<OpResult, ServerError>) -> Classified {
    match result {
        Ok(OpResult::Txn { succeeded: false, .. }) => Classified::Refused,
        Ok(_) => Classified::Ok(Value::Nil),
        Err(ServerError::Timeout | ServerError::Stopped) => Classified::Unknown,
        Err(e) if e.retryable() => Classified::Retry,
        Err(_) => Classified::Refused,
    }
}

/// A stored value as the workload's integer.
pub fn parse_value(bytes: &[u8]) -> Option<u64> {
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A removed member answers `Stopped` for proposals it already forwarded to the leader;
    /// they may commit anyway (dst membership seed 66: a put answered `Stopped` was applied and
    /// a later cas on its value succeeded), so the history must not record a definite failure.
    #[test]
    fn stopped_is_an_unknown_outcome_not_a_failure() {
        let put = WorkOp::Put { key: 0, value: 675 };
        assert!(matches!(classify(&put, Err(ServerError::Stopped)), Classified::Unknown));
        let cas = WorkOp::Cas { key: 0, old: Some(675), new: 677 };
        assert!(matches!(classify(&cas, Err(ServerError::Stopped)), Classified::Unknown));
    }

    #[test]
    fn errors_before_the_log_stay_definite() {
        let put = WorkOp::Put { key: 0, value: 1 };
        assert!(matches!(classify(&put, Err(ServerError::NoLeader)), Classified::Retry));
        let why = String::from("x");
        let refused = classify(&put, Err(ServerError::BadMembership(why)));
        assert!(matches!(refused, Classified::Refused));
        assert!(matches!(classify(&put, Err(ServerError::Timeout)), Classified::Unknown));
    }
}
