//! A naive reference model of the MVCC store: a flat list of every change ever made (revision,
//! key, value or deletion) plus the compacted revision. Every answer is recomputed by scanning
//! the list, so the model shares no data structure with the store it checks.

use std::collections::BTreeSet;

use engine::mvcc::{
    Compare, CompareResult, CompareTarget, DeleteRangeRequest, DeleteRangeResponse, KeyValue,
    MvccError, PutRequest, PutResponse, RangeRequest, RangeResponse, RequestOp, ResponseOp,
    Revision, SortOrder, SortTarget, TxnRequest, TxnResponse,
};

/// One change: a put (`Some((value, lease))`) or a delete (`None`) of `key` at `rev`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub rev: Revision,
    pub key: Vec<u8>,
    pub value: Option<(Vec<u8>, i64)>,
}

/// The error classes a request can be refused with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refused {
    Compacted { requested: i64, compacted: i64 },
    Future { requested: i64, current: i64 },
    Invalid,
    Duplicate,
}

/// Maps a store error to its class; a storage failure is a test failure.
pub fn refused(e: MvccError) -> Refused {
    match e {
        MvccError::Compacted { requested, compacted } => {
            Refused::Compacted { requested, compacted }
        }
        MvccError::FutureRevision { requested, current } => Refused::Future { requested, current },
        MvccError::InvalidRequest { .. } => Refused::Invalid,
        MvccError::DuplicateKeyInTxn { .. } => Refused::Duplicate,
        other => panic!("storage failure where a request answer was expected: {other}"),
    }
}

/// The model.
#[derive(Clone, Debug)]
pub struct Model {
    pub current: i64,
    pub compacted: i64,
    pub events: Vec<Event>,
}

impl Default for Model {
    fn default() -> Model {
        Model { current: 1, compacted: 0, events: Vec::new() }
    }
}

/// Whether `key` is in etcd's range `[start, end)` (empty end: just `start`; `[0]`: no end).
pub fn in_range(key: &[u8], start: &[u8], end: &[u8]) -> bool {
    if end.is_empty() {
        return key == start;
    }
    key >= start && (end == [0] || key < end)
}

fn end_is_valid(key: &[u8], end: &[u8]) -> bool {
    !key.is_empty() && (end.is_empty() || end == [0] || end > key)
}

impl Model {
    /// The key as of revision `at`, by replaying its events.
    pub fn get(&self, key: &[u8], at: i64) -> Option<KeyValue> {
        let mut kv: Option<KeyValue> = None;
        for e in self.events.iter().filter(|e| e.key == key && e.rev.main <= at) {
            kv = e.value.as_ref().map(|(value, lease)| KeyValue {
                key: key.to_vec(),
                create_revision: kv.as_ref().map_or(e.rev.main, |p| p.create_revision),
                mod_revision: e.rev.main,
                version: kv.as_ref().map_or(1, |p| p.version + 1),
                lease: *lease,
                value: value.clone(),
            });
        }
        kv
    }

    /// Keys in the range that exist at `at`, in key order.
    pub fn live(&self, key: &[u8], end: &[u8], at: i64) -> Vec<KeyValue> {
        let keys: BTreeSet<&Vec<u8>> = self.events.iter().map(|e| &e.key).collect();
        keys.into_iter().filter(|k| in_range(k, key, end)).filter_map(|k| self.get(k, at)).collect()
    }

    fn read_revision(&self, requested: i64, head: i64) -> Result<i64, Refused> {
        let rev = if requested == 0 { head } else { requested };
        if rev > head {
            return Err(Refused::Future { requested: rev, current: head });
        }
        if rev < self.compacted {
            return Err(Refused::Compacted { requested: rev, compacted: self.compacted });
        }
        Ok(rev)
    }

    /// A range with `head` as the newest readable revision.
    pub fn range_at(&self, r: &RangeRequest, head: i64) -> Result<RangeResponse, Refused> {
        if !end_is_valid(&r.key, &r.end) || r.limit < 0 || r.revision < 0 {
            return Err(Refused::Invalid);
        }
        let rev = self.read_revision(r.revision, head)?;
        let mut kvs = self.live(&r.key, &r.end, rev);
        let count = kvs.len() as i64;
        let header_revision = self.current;
        if r.count_only {
            return Ok(RangeResponse { kvs: Vec::new(), count, more: false, header_revision });
        }
        if let Some((target, order)) = r.sort {
            kvs.sort_by(|a, b| {
                let o = match target {
                    SortTarget::Key => a.key.cmp(&b.key),
                    SortTarget::Version => a.version.cmp(&b.version),
                    SortTarget::CreateRevision => a.create_revision.cmp(&b.create_revision),
                    SortTarget::ModRevision => a.mod_revision.cmp(&b.mod_revision),
                    SortTarget::Value => a.value.cmp(&b.value),
                }
                .then(a.key.cmp(&b.key));
                if order == SortOrder::Descend {
                    o.reverse()
                } else {
                    o
                }
            });
        }
        let more = r.limit > 0 && count > r.limit;
        if more {
            kvs.truncate(r.limit as usize);
        }
        if r.keys_only {
            kvs.iter_mut().for_each(|kv| kv.value.clear());
        }
        Ok(RangeResponse { kvs, count, more, header_revision })
    }

    pub fn range(&self, r: &RangeRequest) -> Result<RangeResponse, Refused> {
        self.range_at(r, self.current)
    }

    /// Appends a change at `(main, sub)`.
    fn record(&mut self, main: i64, sub: &mut i64, key: &[u8], value: Option<(Vec<u8>, i64)>) {
        self.events.push(Event { rev: Revision::new(main, *sub), key: key.to_vec(), value });
        *sub += 1;
    }

    fn put_in(&mut self, main: i64, sub: &mut i64, p: &PutRequest) -> PutResponse {
        let head = if *sub > 0 { main } else { self.current };
        let prev_kv = if p.prev_kv { self.get(&p.key, head) } else { None };
        self.record(main, sub, &p.key, Some((p.value.clone(), p.lease)));
        PutResponse { header_revision: 0, prev_kv }
    }

    fn delete_in(
        &mut self,
        main: i64,
        sub: &mut i64,
        d: &DeleteRangeRequest,
    ) -> DeleteRangeResponse {
        let head = if *sub > 0 { main } else { self.current };
        let gone = self.live(&d.key, &d.end, head);
        for kv in &gone {
            self.record(main, sub, &kv.key, None);
        }
        let deleted = gone.len() as i64;
        let prev_kvs = if d.prev_kv { gone } else { Vec::new() };
        DeleteRangeResponse { header_revision: 0, deleted, prev_kvs }
    }

    pub fn put(&mut self, p: &PutRequest) -> Result<PutResponse, Refused> {
        if p.key.is_empty() {
            return Err(Refused::Invalid);
        }
        let main = self.current + 1;
        let mut resp = self.put_in(main, &mut 0, p);
        self.current = main;
        resp.header_revision = main;
        Ok(resp)
    }

    pub fn delete_range(&mut self, d: &DeleteRangeRequest) -> Result<DeleteRangeResponse, Refused> {
        if !end_is_valid(&d.key, &d.end) {
            return Err(Refused::Invalid);
        }
        let main = self.current + 1;
        let mut sub = 0;
        let mut resp = self.delete_in(main, &mut sub, d);
        if sub > 0 {
            self.current = main;
        }
        resp.header_revision = self.current;
        Ok(resp)
    }

    fn compare(&self, c: &Compare) -> bool {
        let kv = self.get(&c.key, self.current);
        let field = |f: fn(&KeyValue) -> i64| kv.as_ref().map_or(0, f);
        let ord = match &c.target {
            CompareTarget::Value(v) => match &kv {
                None => return false,
                Some(kv) => kv.value.cmp(v),
            },
            CompareTarget::Version(n) => field(|k| k.version).cmp(n),
            CompareTarget::CreateRevision(n) => field(|k| k.create_revision).cmp(n),
            CompareTarget::ModRevision(n) => field(|k| k.mod_revision).cmp(n),
        };
        match c.result {
            CompareResult::Equal => ord.is_eq(),
            CompareResult::NotEqual => ord.is_ne(),
            CompareResult::Greater => ord.is_gt(),
            CompareResult::Less => ord.is_lt(),
        }
    }

    /// etcd's txn validation: well-formed requests, no key put twice or put inside a deleted
    /// range, in either branch.
    fn validate_txn(t: &TxnRequest) -> Result<(), Refused> {
        if t.compare.iter().any(|c| c.key.is_empty()) {
            return Err(Refused::Invalid);
        }
        for branch in [&t.success, &t.failure] {
            let mut puts: Vec<&[u8]> = Vec::new();
            let mut deletes = Vec::new();
            for op in branch.iter() {
                match op {
                    RequestOp::Range(r) => {
                        if !end_is_valid(&r.key, &r.end) || r.limit < 0 || r.revision < 0 {
                            return Err(Refused::Invalid);
                        }
                    }
                    RequestOp::Put(p) => {
                        if p.key.is_empty() {
                            return Err(Refused::Invalid);
                        }
                        if puts.contains(&p.key.as_slice()) {
                            return Err(Refused::Duplicate);
                        }
                        puts.push(&p.key);
                    }
                    RequestOp::DeleteRange(d) => {
                        if !end_is_valid(&d.key, &d.end) {
                            return Err(Refused::Invalid);
                        }
                        deletes.push(d);
                    }
                }
            }
            if puts.iter().any(|k| deletes.iter().any(|d| in_range(k, &d.key, &d.end))) {
                return Err(Refused::Duplicate);
            }
        }
        Ok(())
    }

    pub fn txn(&mut self, t: &TxnRequest) -> Result<TxnResponse, Refused> {
        Model::validate_txn(t)?;
        let succeeded = t.compare.iter().all(|c| self.compare(c));
        let ops = if succeeded { &t.success } else { &t.failure };
        for op in ops {
            if let RequestOp::Range(r) = op {
                self.read_revision(r.revision, self.current)?;
            }
        }
        let main = self.current + 1;
        let mut sub = 0;
        let mut responses = Vec::new();
        for op in ops {
            responses.push(match op {
                RequestOp::Range(r) => {
                    let head = if sub > 0 { main } else { self.current };
                    ResponseOp::Range(self.range_at(r, head)?)
                }
                RequestOp::Put(p) => ResponseOp::Put(self.put_in(main, &mut sub, p)),
                RequestOp::DeleteRange(d) => {
                    ResponseOp::DeleteRange(self.delete_in(main, &mut sub, d))
                }
            });
        }
        if sub > 0 {
            self.current = main;
        }
        for r in &mut responses {
            match r {
                ResponseOp::Range(x) => x.header_revision = self.current,
                ResponseOp::Put(x) => x.header_revision = self.current,
                ResponseOp::DeleteRange(x) => x.header_revision = self.current,
            }
        }
        Ok(TxnResponse { header_revision: self.current, succeeded, responses })
    }

    pub fn compact(&mut self, rev: i64) -> Result<(), Refused> {
        if rev <= self.compacted {
            return Err(Refused::Compacted { requested: rev, compacted: self.compacted });
        }
        if rev > self.current {
            return Err(Refused::Future { requested: rev, current: self.current });
        }
        self.compacted = rev;
        Ok(())
    }

    /// The records the `key` bucket must hold once everything is committed: every change after
    /// the compacted revision, and at or before it only each key's latest change if that is a
    /// put (the version reads at the compacted revision still see).
    pub fn expected_records(&self) -> Vec<(Revision, bool, KeyValue)> {
        let mut out = Vec::new();
        for (i, e) in self.events.iter().enumerate() {
            if e.rev.main <= self.compacted {
                let superseded = self.events[i + 1..]
                    .iter()
                    .any(|l| l.key == e.key && l.rev.main <= self.compacted);
                if superseded || e.value.is_none() {
                    continue;
                }
            }
            let kv = match &e.value {
                Some(_) => self.get(&e.key, e.rev.main).expect("a put is visible at its revision"),
                None => {
                    KeyValue { key: e.key.clone(), mod_revision: e.rev.main, ..KeyValue::default() }
                }
            };
            out.push((e.rev, e.value.is_none(), kv));
        }
        out
    }
}
