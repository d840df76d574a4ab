//! [`MemKv`]: a small in-memory key-value [`StateMachine`] for tests and benchmarks, persisted
//! to one file so that restarts work.
//!
//! Semantics follow etcd's KV API without history: a store revision that every write
//! transaction bumps once, per-key create/mod revisions and versions, ranges over
//! `[key, range_end)` (empty end: one key; end `"\0"`: every key from `key` on), compare-guarded
//! transactions, and compaction that only records the compacted revision.
//!
//! On-disk layout of `<dir>/state` (replaced atomically: written to `state.tmp`, synced, renamed,
//! directory synced):
//! ```text
//! 0   4  magic "MKV1"
//! 4   4  CRC-32 (IEEE) of the body, little-endian
//! 8   .. body: version byte, consistent index, revision, compacted, key count,
//!        then per key: key, value, create revision, mod revision, version (varints/bytes)
//! ```

use std::collections::BTreeMap;
use std::ops::Bound;
use std::rc::Rc;

use sim::io::{Disk, DiskError, OpenOptions};

use crate::core::codec::{put_bytes, put_u64, Reader};
use crate::core::{DecodeError, CODEC_VERSION};

use super::request::{
    Compare, CompareOp, CompareTarget, KeyValue, Op, OpError, OpOutcome, OpResult,
};
use super::state_machine::{SmError, StateMachine};

const MAGIC: &[u8; 4] = b"MKV1";

/// The in-memory state: what a snapshot holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct KvState {
    consistent_index: u64,
    revision: u64,
    compacted: u64,
    keys: BTreeMap<Vec<u8>, KeyValue>,
}

/// An in-memory KV state machine persisted to `<dir>/state` on [`StateMachine::commit`].
pub struct MemKv {
    disk: Rc<dyn Disk>,
    dir: String,
    state: KvState,
    /// Applied since the last commit.
    dirty: bool,
}

impl std::fmt::Debug for MemKv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemKv")
            .field("dir", &self.dir)
            .field("consistent_index", &self.state.consistent_index)
            .field("revision", &self.state.revision)
            .field("keys", &self.state.keys.len())
            .finish()
    }
}

impl MemKv {
    /// Opens the store in `dir`, loading `state` if it exists (an empty store otherwise).
    pub fn open(disk: Rc<dyn Disk>, dir: &str) -> Result<MemKv, SmError> {
        let path = format!("{dir}/state");
        let state = match disk.open(&path, OpenOptions::read()) {
            Ok(f) => decode_file(&path, &f.map()?)?,
            Err(DiskError::NotFound { .. }) => KvState::default(),
            Err(e) => return Err(e.into()),
        };
        Ok(MemKv { disk, dir: dir.to_string(), state, dirty: false })
    }

    /// The current store revision.
    pub fn revision(&self) -> u64 {
        self.state.revision
    }

    /// Every key and value, in key order.
    pub fn dump(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.state.keys.values().map(|kv| (kv.key.clone(), kv.value.clone())).collect()
    }

    /// The value of one key.
    pub fn get(&self, key: &[u8]) -> Option<&[u8]> {
        self.state.keys.get(key).map(|kv| kv.value.as_slice())
    }

    fn write_file(&self) -> Result<(), SmError> {
        let path = format!("{}/state", self.dir);
        let tmp = format!("{path}.tmp");
        if !self.disk.exists(&self.dir)? {
            self.disk.create_dir_all(&self.dir)?;
        }
        let f = self.disk.open(&tmp, OpenOptions { truncate: true, ..OpenOptions::create() })?;
        f.write_at(0, &encode_file(&self.state))?;
        f.sync()?;
        drop(f);
        self.disk.rename(&tmp, &path)?;
        self.disk.sync_dir(&self.dir)?;
        Ok(())
    }
}

fn in_range(key: &[u8], start: &[u8], end: &[u8]) -> bool {
    if end.is_empty() {
        key == start
    } else if end == [0] {
        key >= start
    } else {
        key >= start && key < end
    }
}

fn matching<'a>(
    s: &'a KvState,
    start: &'a [u8],
    end: &'a [u8],
) -> impl Iterator<Item = &'a KeyValue> + 'a {
    s.keys
        .range::<[u8], _>((Bound::Included(start), Bound::Unbounded))
        .map(|(_, v)| v)
        .take_while(move |kv| in_range(&kv.key, start, end))
}

fn compare_holds(s: &KvState, c: &Compare) -> bool {
    let kv = s.keys.get(&c.key);
    let ord = match &c.target {
        CompareTarget::Value(v) => kv.map_or(&[][..], |k| k.value.as_slice()).cmp(v.as_slice()),
        CompareTarget::Version(v) => kv.map_or(0, |k| k.version).cmp(v),
        CompareTarget::CreateRevision(v) => kv.map_or(0, |k| k.create_revision).cmp(v),
        CompareTarget::ModRevision(v) => kv.map_or(0, |k| k.mod_revision).cmp(v),
    };
    match c.op {
        CompareOp::Equal => ord.is_eq(),
        CompareOp::NotEqual => !ord.is_eq(),
        CompareOp::Greater => ord.is_gt(),
        CompareOp::Less => ord.is_lt(),
    }
}

fn has_write(op: &Op) -> bool {
    !op.is_read_only() && !matches!(op, Op::Compact { .. })
}

/// Runs `op` at write revision `rev` (the revision a write in this transaction gets). Every
/// compare, nested ones included, is evaluated against `view`, the state before the whole op,
/// as etcd does (see [`Op::Txn`]); ranges and deletes see the writes before them.
fn run(s: &mut KvState, view: &KvState, op: &Op, rev: u64) -> OpOutcome {
    match op {
        Op::Put { key, value } => {
            let kv = s.keys.entry(key.clone()).or_insert_with(|| KeyValue {
                key: key.clone(),
                value: Vec::new(),
                create_revision: rev,
                mod_revision: rev,
                version: 0,
            });
            kv.value = value.clone();
            kv.mod_revision = rev;
            kv.version += 1;
            s.revision = rev;
            Ok(OpResult::Put { revision: rev })
        }
        Op::Range { key, range_end } => {
            let kvs = matching(s, key, range_end).cloned().collect();
            Ok(OpResult::Range { kvs, revision: s.revision })
        }
        Op::DeleteRange { key, range_end } => {
            let doomed: Vec<Vec<u8>> =
                matching(s, key, range_end).map(|kv| kv.key.clone()).collect();
            for k in &doomed {
                s.keys.remove(k);
            }
            if !doomed.is_empty() {
                s.revision = rev;
            }
            Ok(OpResult::DeleteRange { deleted: doomed.len() as u64, revision: s.revision })
        }
        Op::Txn { compares, success, failure } => {
            let succeeded = compares.iter().all(|c| compare_holds(view, c));
            let ops = if succeeded { success } else { failure };
            let mut results = Vec::with_capacity(ops.len());
            for o in ops {
                results.push(run(s, view, o, rev)?);
            }
            Ok(OpResult::Txn { succeeded, results, revision: s.revision })
        }
        Op::Compact { revision } => {
            if *revision > s.revision {
                return Err(OpError::FutureRevision { revision: *revision, current: s.revision });
            }
            if *revision <= s.compacted {
                return Err(OpError::Compacted { revision: *revision, compacted: s.compacted });
            }
            s.compacted = *revision;
            Ok(OpResult::Compact { revision: *revision })
        }
    }
}

impl StateMachine for MemKv {
    fn consistent_index(&self) -> u64 {
        self.state.consistent_index
    }

    fn apply(&mut self, index: u64, _term: u64, op: &Op) -> Result<OpOutcome, SmError> {
        assert!(
            index > self.state.consistent_index,
            "apply of index {index} at or below the consistent index {}",
            self.state.consistent_index
        );
        let rev = self.state.revision + u64::from(has_write(op));
        // A failed txn branch must not leave half its writes: run on a copy when it can fail.
        let out = if matches!(op, Op::Txn { .. }) {
            let mut copy = self.state.clone();
            let out = run(&mut copy, &self.state, op, rev);
            if out.is_ok() {
                self.state = copy;
            }
            out
        } else {
            let view = KvState::default();
            run(&mut self.state, &view, op, rev)
        };
        self.state.consistent_index = index;
        self.dirty = true;
        Ok(out)
    }

    fn skip(&mut self, index: u64, _term: u64) -> Result<(), SmError> {
        assert!(index > self.state.consistent_index, "skip of applied index {index}");
        self.state.consistent_index = index;
        self.dirty = true;
        Ok(())
    }

    fn read(&self, op: &Op) -> OpOutcome {
        assert!(op.is_read_only(), "read() given a write: {op:?}");
        if let Op::Range { key, range_end } = op {
            let kvs = matching(&self.state, key, range_end).cloned().collect();
            return Ok(OpResult::Range { kvs, revision: self.state.revision });
        }
        // A read-only txn: evaluate on a copy (run only mutates for writes, which it has none).
        let mut copy = self.state.clone();
        run(&mut copy, &self.state, op, self.state.revision)
    }

    fn commit(&mut self) -> Result<(), SmError> {
        if self.dirty {
            self.write_file()?;
            self.dirty = false;
        }
        Ok(())
    }

    fn snapshot(&self) -> Result<Vec<u8>, SmError> {
        Ok(encode_file(&self.state))
    }

    fn restore(&mut self, index: u64, data: &[u8]) -> Result<(), SmError> {
        let state = decode_file("snapshot", data)?;
        if state.consistent_index != index {
            return Err(SmError::Corrupt {
                what: "snapshot".into(),
                detail: format!("holds index {} but was taken at {index}", state.consistent_index),
            });
        }
        self.state = state;
        self.write_file()?;
        self.dirty = false;
        Ok(())
    }
}

fn encode_file(s: &KvState) -> Vec<u8> {
    let mut body = vec![CODEC_VERSION];
    put_u64(&mut body, s.consistent_index);
    put_u64(&mut body, s.revision);
    put_u64(&mut body, s.compacted);
    put_u64(&mut body, s.keys.len() as u64);
    for kv in s.keys.values() {
        put_bytes(&mut body, &kv.key);
        put_bytes(&mut body, &kv.value);
        put_u64(&mut body, kv.create_revision);
        put_u64(&mut body, kv.mod_revision);
        put_u64(&mut body, kv.version);
    }
    let mut out = Vec::with_capacity(body.len() + 8);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

fn corrupt(what: &str, detail: String) -> SmError {
    SmError::Corrupt { what: what.to_string(), detail }
}

fn decode_file(what: &str, bytes: &[u8]) -> Result<KvState, SmError> {
    if bytes.len() < 8 || &bytes[..4] != MAGIC {
        return Err(corrupt(what, format!("no MKV1 header in {} bytes", bytes.len())));
    }
    let stored = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
    let body = &bytes[8..];
    let computed = crc32fast::hash(body);
    if stored != computed {
        return Err(corrupt(
            what,
            format!("crc mismatch: stored {stored:08x}, computed {computed:08x}"),
        ));
    }
    decode_body(body).map_err(|e| corrupt(what, e.to_string()))
}

fn decode_body(body: &[u8]) -> Result<KvState, DecodeError> {
    let mut r = Reader::new(body);
    r.version(CODEC_VERSION)?;
    let mut s = KvState {
        consistent_index: r.u64("kv.consistent_index")?,
        revision: r.u64("kv.revision")?,
        compacted: r.u64("kv.compacted")?,
        keys: BTreeMap::new(),
    };
    let n = r.len("kv.keys", 5)?;
    for _ in 0..n {
        let key = r.bytes("kv.key")?;
        let kv = KeyValue {
            key: key.clone(),
            value: r.bytes("kv.value")?,
            create_revision: r.u64("kv.create_revision")?,
            mod_revision: r.u64("kv.mod_revision")?,
            version: r.u64("kv.version")?,
        };
        s.keys.insert(key, kv);
    }
    r.finish()?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim::simulated::disk::{DiskConfig, SimDisk};
    use sim::Seed;

    fn disk() -> Rc<SimDisk> {
        SimDisk::new(Seed(3).stream("disk"), DiskConfig::default())
    }

    fn put(k: &str, v: &str) -> Op {
        Op::Put { key: k.into(), value: v.into() }
    }

    #[test]
    fn put_range_delete_txn_compact() {
        let d = disk();
        let mut kv = MemKv::open(d, "kv").unwrap();
        assert_eq!(kv.apply(1, 1, &put("a", "1")).unwrap(), Ok(OpResult::Put { revision: 1 }));
        assert_eq!(kv.apply(2, 1, &put("b", "2")).unwrap(), Ok(OpResult::Put { revision: 2 }));
        assert_eq!(kv.apply(3, 1, &put("a", "3")).unwrap(), Ok(OpResult::Put { revision: 3 }));
        let Ok(OpResult::Range { kvs, revision }) =
            kv.read(&Op::Range { key: "a".into(), range_end: "c".into() })
        else {
            panic!("range failed")
        };
        assert_eq!(revision, 3);
        assert_eq!(kvs.len(), 2);
        assert_eq!((kvs[0].create_revision, kvs[0].mod_revision, kvs[0].version), (1, 3, 2));
        let txn = Op::Txn {
            compares: vec![Compare {
                key: "a".into(),
                op: CompareOp::Equal,
                target: CompareTarget::Value("3".into()),
            }],
            success: vec![put("c", "4"), Op::DeleteRange { key: "b".into(), range_end: vec![] }],
            failure: vec![],
        };
        let Ok(OpResult::Txn { succeeded, revision, .. }) = kv.apply(4, 1, &txn).unwrap() else {
            panic!("txn failed")
        };
        assert!(succeeded);
        assert_eq!(revision, 4, "one txn is one revision");
        assert_eq!(kv.dump(), vec![(b"a".to_vec(), b"3".to_vec()), (b"c".to_vec(), b"4".to_vec())]);
        assert_eq!(
            kv.apply(5, 1, &Op::Compact { revision: 9 }).unwrap(),
            Err(OpError::FutureRevision { revision: 9, current: 4 })
        );
        assert_eq!(
            kv.apply(6, 1, &Op::Compact { revision: 2 }).unwrap(),
            Ok(OpResult::Compact { revision: 2 })
        );
        assert_eq!(
            kv.apply(7, 1, &Op::Compact { revision: 2 }).unwrap(),
            Err(OpError::Compacted { revision: 2, compacted: 2 })
        );
        assert_eq!(kv.consistent_index(), 7);
    }

    /// etcd evaluates every compare of a txn, nested ones included, against the read view
    /// taken before the txn writes anything (`compareToPath(rv, rt)` in etcd's
    /// `server/etcdserver/txn/txn.go` recurses into the nested txns of the chosen branch with the
    /// same `rv`, and only then does `executeTxn` apply the ops), while a range inside the txn
    /// sees the writes before it (its write txn ranges at `beginRev + 1` once it has changes).
    #[test]
    fn nested_compares_see_the_view_before_the_txn_as_in_etcd() {
        let mut kv = MemKv::open(disk(), "kv").unwrap();
        kv.apply(1, 1, &put("a", "1")).unwrap().unwrap();
        let eq = |v: &str| Compare {
            key: "a".into(),
            op: CompareOp::Equal,
            target: CompareTarget::Value(v.into()),
        };
        let nested = |compare| Op::Txn {
            compares: vec![],
            success: vec![
                put("a", "2"),
                Op::Txn {
                    compares: vec![compare],
                    success: vec![put("seen", "before")],
                    failure: vec![put("seen", "after")],
                },
                Op::Range { key: "a".into(), range_end: vec![] },
            ],
            failure: vec![],
        };
        // The nested compare sees a = 1 (the view before the txn), not the put of 2 before it.
        let Ok(OpResult::Txn { results, .. }) = kv.apply(2, 1, &nested(eq("1"))).unwrap() else {
            panic!("txn failed")
        };
        assert!(matches!(results[1], OpResult::Txn { succeeded: true, .. }), "{results:?}");
        assert_eq!(kv.get(b"seen"), Some(&b"before"[..]));
        let OpResult::Range { kvs, .. } = &results[2] else { panic!("{results:?}") };
        assert_eq!(kvs[0].value, b"2", "a range sees the txn's earlier writes");
        // Now a = 2 before the txn: a nested compare for 3 (the txn's own put) is false.
        let mut again = nested(eq("3"));
        if let Op::Txn { success, .. } = &mut again {
            success[0] = put("a", "3");
        }
        let Ok(OpResult::Txn { results, .. }) = kv.apply(3, 1, &again).unwrap() else {
            panic!("txn failed")
        };
        assert!(matches!(results[1], OpResult::Txn { succeeded: false, .. }), "{results:?}");
        assert_eq!(kv.get(b"seen"), Some(&b"after"[..]));
    }

    #[test]
    fn commit_survives_a_crash_and_uncommitted_does_not() {
        let d = disk();
        let mut kv = MemKv::open(d.clone(), "kv").unwrap();
        kv.apply(1, 1, &put("a", "1")).unwrap().unwrap();
        kv.commit().unwrap();
        kv.apply(2, 1, &put("b", "2")).unwrap().unwrap();
        d.crash();
        let kv = MemKv::open(d, "kv").unwrap();
        assert_eq!(kv.consistent_index(), 1);
        assert_eq!(kv.dump(), vec![(b"a".to_vec(), b"1".to_vec())]);
    }

    #[test]
    fn snapshot_restores_elsewhere() {
        let mut a = MemKv::open(disk(), "kv").unwrap();
        a.apply(1, 1, &put("x", "1")).unwrap().unwrap();
        a.skip(2, 1).unwrap();
        let snap = a.snapshot().unwrap();
        let d = disk();
        let mut b = MemKv::open(d.clone(), "kv").unwrap();
        assert!(matches!(b.restore(3, &snap), Err(SmError::Corrupt { .. })));
        b.restore(2, &snap).unwrap();
        assert_eq!(b.dump(), a.dump());
        assert_eq!(MemKv::open(d, "kv").unwrap().consistent_index(), 2, "restore is durable");
    }

    #[test]
    fn damaged_files_are_typed_errors() {
        let mut a = MemKv::open(disk(), "kv").unwrap();
        a.apply(1, 1, &put("x", "1")).unwrap().unwrap();
        let bytes = a.snapshot().unwrap();
        for cut in 0..bytes.len() {
            assert!(matches!(decode_file("t", &bytes[..cut]), Err(SmError::Corrupt { .. })));
        }
        let mut flipped = bytes.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(matches!(decode_file("t", &flipped), Err(SmError::Corrupt { .. })));
    }
}
