//! Property test: the engine against a BTreeMap model — nested buckets, cursors in both
//! directions, large (overflow) values, deletes, rollbacks and reopen.

use std::rc::Rc;

mod common;
use common::{dump_db, Entry, Tree};

use engine::{Bucket, Db, Error, Options, Tx};
use proptest::prelude::*;
use sim::simulated::disk::{DiskConfig, SimDisk};
use sim::Seed;

#[derive(Clone, Debug)]
enum Op {
    Put { path: Vec<u8>, key: u16, vlen: usize, fill: u8 },
    Del { path: Vec<u8>, key: u16 },
    Create { path: Vec<u8>, name: u8 },
    DeleteBucket { path: Vec<u8>, name: u8 },
    Commit,
    Rollback,
    Reopen,
}

fn top(i: u8) -> Vec<u8> {
    vec![b'a' + i]
}
fn nested(i: u8) -> Vec<u8> {
    format!("n{i}").into_bytes()
}
fn name_at(depth: usize, i: u8) -> Vec<u8> {
    if depth == 0 {
        top(i)
    } else {
        nested(i)
    }
}
fn key(k: u16) -> Vec<u8> {
    format!("key{k:04}").into_bytes()
}

fn path_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![(0u8..3).prop_map(|a| vec![a]), ((0u8..3), (0u8..2)).prop_map(|(a, b)| vec![a, b]),]
}

fn op_strategy() -> impl Strategy<Value = Op> {
    // One length in three is 24: overwrites of the same size (pages kept as raw copies).
    let vlen = prop_oneof![8 => 0usize..64, 4 => Just(24usize), 1 => 3000usize..12000];
    prop_oneof![
        30 => (path_strategy(), 0u16..600, vlen, any::<u8>())
            .prop_map(|(path, key, vlen, fill)| Op::Put { path, key, vlen, fill }),
        10 => (path_strategy(), 0u16..600).prop_map(|(path, key)| Op::Del { path, key }),
        6 => (prop_oneof![Just(vec![]), (0u8..3).prop_map(|a| vec![a])], 0u8..3)
            .prop_map(|(path, name)| Op::Create { path, name }),
        1 => (prop_oneof![Just(vec![]), (0u8..3).prop_map(|a| vec![a])], 0u8..3)
            .prop_map(|(path, name)| Op::DeleteBucket { path, name }),
        4 => Just(Op::Commit),
        1 => Just(Op::Rollback),
        1 => Just(Op::Reopen),
    ]
}

/// The model's bucket at `path`, if every level exists.
fn model_bucket<'a>(t: &'a mut Tree, path: &[u8]) -> Option<&'a mut Tree> {
    let mut cur = t;
    for (depth, &i) in path.iter().enumerate() {
        match cur.get_mut(&name_at(depth, i)) {
            Some(Entry::Bucket(b)) => cur = b,
            _ => return None,
        }
    }
    Some(cur)
}

fn engine_bucket<'t>(tx: &'t Tx, path: &[u8]) -> Option<Bucket<'t>> {
    let mut b = tx.bucket(&top(path[0])).unwrap()?;
    for &i in &path[1..] {
        b = b.bucket(&nested(i)).unwrap()?;
    }
    Some(b)
}

/// Applies `op` to the open write transaction and the model; both must agree.
fn apply(tx: &Tx, model: &mut Tree, op: &Op) {
    match op {
        Op::Put { path, key: k, vlen, fill } => {
            let Some(m) = model_bucket(model, path) else {
                assert!(engine_bucket(tx, path).is_none());
                return;
            };
            let b = engine_bucket(tx, path).expect("bucket exists in model");
            let v = vec![*fill; *vlen];
            let r = b.put(&key(*k), &v);
            match m.get(&key(*k)) {
                Some(Entry::Bucket(_)) => unreachable!("keys and bucket names differ"),
                _ => {
                    r.unwrap();
                    m.insert(key(*k), Entry::Val(v));
                }
            }
        }
        Op::Del { path, key: k } => {
            let Some(m) = model_bucket(model, path) else { return };
            let b = engine_bucket(tx, path).expect("bucket exists in model");
            b.delete(&key(*k)).unwrap();
            m.remove(&key(*k));
        }
        Op::Create { path, name } => {
            let Some(m) = model_bucket(model, path) else { return };
            let n = name_at(path.len(), *name);
            let r = if path.is_empty() {
                tx.create_bucket(&n).map(|_| ())
            } else {
                engine_bucket(tx, path).unwrap().create_bucket(&n).map(|_| ())
            };
            match m.entry(n) {
                std::collections::btree_map::Entry::Occupied(_) => {
                    assert_eq!(r, Err(Error::BucketExists));
                }
                std::collections::btree_map::Entry::Vacant(v) => {
                    r.unwrap();
                    v.insert(Entry::Bucket(Tree::new()));
                }
            }
        }
        Op::DeleteBucket { path, name } => {
            let Some(m) = model_bucket(model, path) else { return };
            let n = name_at(path.len(), *name);
            let r = if path.is_empty() {
                tx.delete_bucket(&n)
            } else {
                engine_bucket(tx, path).unwrap().delete_bucket(&n)
            };
            if m.remove(&n).is_some() {
                r.unwrap();
            } else {
                assert_eq!(r, Err(Error::BucketNotFound));
            }
        }
        Op::Commit | Op::Rollback | Op::Reopen => unreachable!("handled by the driver"),
    }
}

fn verify(db: &Db, model: &Tree) {
    let tx = db.begin(false).unwrap();
    assert_eq!(&dump_db(&tx), model);
    let problems = tx.check();
    assert!(problems.is_empty(), "check: {problems:?}");
}

fn run(ops: &[Op], page_size: usize) {
    let disk: Rc<SimDisk> = SimDisk::new(Seed(3).stream("disk"), DiskConfig::default());
    let opts = Options { page_size, ..Options::default() };
    let mut db = Db::open_on(disk.clone(), "db", opts.clone()).unwrap();
    let mut committed = Tree::new();
    let mut tx: Option<(Tx, Tree)> = None;
    for op in ops {
        match op {
            Op::Commit => {
                if let Some((t, m)) = tx.take() {
                    t.commit().unwrap();
                    committed = m;
                    verify(&db, &committed);
                }
            }
            Op::Rollback => {
                if let Some((t, _)) = tx.take() {
                    t.rollback().unwrap();
                    verify(&db, &committed);
                }
            }
            Op::Reopen => {
                tx = None;
                drop(db);
                db = Db::open_on(disk.clone(), "db", opts.clone()).unwrap();
                verify(&db, &committed);
            }
            op => {
                if tx.is_none() {
                    tx = Some((db.begin(true).unwrap(), committed.clone()));
                }
                let (t, m) = tx.as_mut().unwrap();
                apply(t, m, op);
                // The writer sees its own changes.
                assert_eq!(&dump_db(t), m);
            }
        }
    }
    if let Some((t, m)) = tx.take() {
        t.commit().unwrap();
        committed = m;
    }
    drop(db);
    let db = Db::open_on(disk, "db", opts).unwrap();
    verify(&db, &committed);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, max_shrink_iters: 200, ..ProptestConfig::default() })]

    #[test]
    fn engine_matches_model(ops in prop::collection::vec(op_strategy(), 1..120)) {
        run(&ops, 4096);
    }

    #[test]
    fn engine_matches_model_small_pages(ops in prop::collection::vec(op_strategy(), 1..80)) {
        run(&ops, 512);
    }
}
