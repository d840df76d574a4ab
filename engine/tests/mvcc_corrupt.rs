//! Corrupt records in the MVCC buckets, written straight through the engine API, give typed
//! errors naming what is wrong — at open (the key index rebuild) or at read — never panics.

use engine::mvcc::{
    DeleteRangeRequest, KeyValue, MvccError, PutRequest, RangeRequest, Revision, Store, StoreConfig,
};
use engine::Db;
use proptest::prelude::*;

mod mvcc_common;
use mvcc_common::{new_disk, open_store};

/// A store with history, closed, and its database still open:
/// put a@2, put b@3, put a@4, delete b@5, put c@6.
fn base() -> Db {
    let disk = new_disk(3);
    let mut s = open_store(&disk, StoreConfig::default()).unwrap();
    for k in [&b"a"[..], b"b", b"a"] {
        s.put(&PutRequest { key: k.to_vec(), value: b"v".to_vec(), ..Default::default() }).unwrap();
    }
    s.delete_range(&DeleteRangeRequest { key: b"b".to_vec(), ..Default::default() }).unwrap();
    s.put(&PutRequest { key: b"c".to_vec(), value: b"v".to_vec(), ..Default::default() }).unwrap();
    s.commit().unwrap();
    s.db().clone()
}

/// A raw bucket entry.
type Raw = (Vec<u8>, Vec<u8>);
/// Damage done to a store's database behind its back.
type Damage = fn(&Db);

/// Writes raw entries into a bucket of the MVCC store.
fn poke(db: &Db, bucket: &[u8], entries: &[(Vec<u8>, Vec<u8>)]) {
    db.update(|tx| {
        let b = tx.bucket(bucket)?.expect("bucket exists");
        for (k, v) in entries {
            b.put(k, v)?;
        }
        Ok(())
    })
    .unwrap();
}

fn rev(main: i64, sub: i64) -> Vec<u8> {
    Revision::new(main, sub).to_bytes(false)
}

fn record(key: &[u8], create: i64, main: i64, version: i64) -> Vec<u8> {
    KeyValue {
        key: key.to_vec(),
        create_revision: create,
        mod_revision: main,
        version,
        lease: 0,
        value: b"x".to_vec(),
    }
    .encode()
}

/// Opens the store after writing `entries` into `bucket`; returns the open error.
fn open_err(bucket: &[u8], entries: Vec<(Vec<u8>, Vec<u8>)>) -> MvccError {
    let db = base();
    poke(&db, bucket, &entries);
    match Store::open(db, StoreConfig::default()) {
        Ok(_) => panic!("open accepted corrupt {entries:02x?}"),
        Err(e) => e,
    }
}

#[test]
fn corrupt_revision_keys_fail_the_open() {
    let mut marked = rev(7, 0);
    marked.push(b'x');
    let mut no_sep = rev(7, 0);
    no_sep[8] = b'-';
    let mut tomb_of_6 = rev(6, 0);
    tomb_of_6.push(b't');
    for (k, why) in [
        (b"short".to_vec(), "length 5"),
        (marked, "unknown mark byte"),
        (no_sep, "separator"),
        (Revision::new(-1, 0).to_bytes(false), "negative"),
        (Revision::new(i64::MAX, 0).to_bytes(false), "no room"),
        (tomb_of_6, "not after the previous record"),
    ] {
        match open_err(b"key", vec![(k.clone(), record(b"a", 2, 7, 3))]) {
            MvccError::CorruptRevision { key, detail } => {
                assert_eq!(key, k);
                assert!(detail.contains(why), "{why}: {detail}");
            }
            e => panic!("{k:02x?}: want CorruptRevision, got {e}"),
        }
    }
}

#[test]
fn corrupt_records_fail_the_open() {
    let mut tomb = rev(7, 0);
    tomb.push(b't');
    let mut truncated = record(b"a", 2, 7, 3);
    truncated.truncate(20);
    for (k, v, why) in [
        (rev(7, 0), b"garbage".to_vec(), "unknown format version"),
        (rev(7, 0), truncated, "truncated"),
        (rev(7, 0), record(b"a", 2, 8, 3), "mod_revision 8"),
        (rev(0, 5), record(b"a", 0, 0, 1), "main revision 0"),
        // "a" has versions 1 and 2 (created at 2): version 3 must follow, created at 2.
        (rev(7, 0), record(b"a", 2, 7, i64::MAX), "does not fit"),
        (rev(7, 0), record(b"a", 3, 7, 3), "does not fit"),
        // A new key's first record must be version 1 created here, or a later version.
        (rev(7, 0), record(b"z", 7, 7, i64::MAX), "does not fit"),
        (rev(7, 0), record(b"z", 9, 7, 2), "does not fit"),
        (rev(7, 0), record(b"z", 5, 7, 1), "does not fit"),
        (
            tomb,
            KeyValue { key: b"b".to_vec(), mod_revision: 7, ..KeyValue::default() }.encode(),
            "not live",
        ),
    ] {
        match open_err(b"key", vec![(k.clone(), v)]) {
            MvccError::CorruptRecord { revision, detail } => {
                assert!(detail.contains(why), "{why}: {detail}");
                assert!(
                    revision.starts_with(&format!("{}.", Revision::from_bytes(&k).unwrap().0.main))
                );
            }
            e => panic!("{why}: want CorruptRecord, got {e}"),
        }
    }
}

#[test]
fn corrupt_meta_fails_the_open() {
    let sched = |v: Vec<u8>| (b"scheduledCompactRev".to_vec(), v);
    let cases: Vec<(Vec<Raw>, &str)> = vec![
        (vec![(b"consistent_index".to_vec(), vec![1, 2, 3])], "consistent_index"),
        (vec![(b"term".to_vec(), vec![0; 9])], "term"),
        (vec![sched(b"nonsense".to_vec())], "scheduledCompactRev"),
        (vec![sched(Revision::new(3, 0).to_bytes(true))], "scheduledCompactRev"),
        (vec![(b"finishedCompactRev".to_vec(), rev(-4, 0))], "finishedCompactRev"),
        (vec![sched(rev(3, 0)), (b"finishedCompactRev".to_vec(), rev(4, 0))], "finishedCompactRev"),
    ];
    for (entries, name) in cases {
        match open_err(b"meta", entries) {
            MvccError::CorruptMeta { key, .. } => assert_eq!(key, name),
            e => panic!("{name}: want CorruptMeta, got {e}"),
        }
    }
}

#[test]
fn corrupt_records_fail_the_read() {
    let all = RangeRequest { key: b"a".to_vec(), end: vec![0], ..Default::default() };
    // The latest "a" is at 4.0; the store opened cleanly before the damage.
    let damage: [(&str, Damage); 3] = [
        ("garbage", |db| poke(db, b"key", &[(rev(4, 0), vec![9; 30])])),
        ("other key", |db| poke(db, b"key", &[(rev(4, 0), record(b"q", 4, 4, 1))])),
        ("missing", |db| {
            db.update(|tx| tx.bucket(b"key")?.expect("key bucket").delete(&rev(4, 0))).unwrap()
        }),
    ];
    for (what, hurt) in damage {
        let s = Store::open(base(), StoreConfig::default()).unwrap();
        assert_eq!(s.range(&all).unwrap().count, 2, "{what}: a and c are live");
        hurt(s.db());
        match (what, s.range(&all)) {
            ("missing", Err(MvccError::MissingRecord { revision })) => assert_eq!(revision, "4.0"),
            ("missing", r) => panic!("missing: want MissingRecord, got {r:?}"),
            (_, Err(MvccError::CorruptRecord { revision, .. })) => assert_eq!(revision, "4.0"),
            (_, r) => panic!("{what}: want CorruptRecord, got {r:?}"),
        }
        // A count needs no record, so it still answers; a put reading prev_kv fails typed.
        assert_eq!(s.range(&RangeRequest { count_only: true, ..all.clone() }).unwrap().count, 2);
    }
}

/// A raw entry: garbage, or something close to valid (so the deeper checks are reached).
fn raw_entry() -> impl Strategy<Value = (Vec<u8>, Vec<u8>)> {
    let key = prop_oneof![
        proptest::collection::vec(any::<u8>(), 1..20), // bolt refuses empty keys
        (0..12i64, 0..3i64, any::<bool>()).prop_map(|(m, s, t)| Revision::new(m, s).to_bytes(t)),
    ];
    let value = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..60),
        (0..5u8, -2..12i64, 0..12i64, -2..12i64).prop_map(|(k, c, m, v)| {
            KeyValue {
                key: vec![b'a' + k],
                create_revision: c,
                mod_revision: m,
                version: v,
                ..KeyValue::default()
            }
            .encode()
        }),
    ];
    (key, value)
}

fn meta_entry() -> impl Strategy<Value = (Vec<u8>, Vec<u8>)> {
    let names = ["consistent_index", "term", "scheduledCompactRev", "finishedCompactRev"];
    let value = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..20),
        (0..12i64).prop_map(|m| Revision::new(m, 0).to_bytes(false)),
        any::<u64>().prop_map(|n| n.to_be_bytes().to_vec()),
    ];
    (0..names.len(), value).prop_map(move |(i, v)| (names[i].as_bytes().to_vec(), v))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 160, ..ProptestConfig::default() })]

    /// Random damage never panics: open fails with a corruption error, or the store works
    /// (reads, writes and compaction give answers or typed errors).
    #[test]
    fn random_damage_never_panics(
        keys in proptest::collection::vec(raw_entry(), 0..4),
        metas in proptest::collection::vec(meta_entry(), 0..3),
    ) {
        let db = base();
        poke(&db, b"key", &keys);
        poke(&db, b"meta", &metas);
        match Store::open(db, StoreConfig::default()) {
            Err(MvccError::CorruptRevision { .. } | MvccError::CorruptRecord { .. }
                | MvccError::CorruptMeta { .. }) => {}
            Err(e) => prop_assert!(false, "unexpected open error {e}"),
            Ok(mut s) => {
                for r in s.compact_revision()..=s.revision() {
                    let req = RangeRequest { key: vec![0], end: vec![0], revision: r, ..Default::default() };
                    if let Err(e) = s.range(&req) {
                        let typed = matches!(e, MvccError::CorruptRecord { .. }
                            | MvccError::MissingRecord { .. } | MvccError::Compacted { .. });
                        prop_assert!(typed, "range at {r}: {e}");
                    }
                }
                let p = PutRequest { key: b"a".to_vec(), value: vec![1], prev_kv: true, lease: 0 };
                let _ = s.put(&p);
                let _ = s.compact(s.revision());
            }
        }
    }
}
