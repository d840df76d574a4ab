//! Helpers shared by the integration tests: a model of a database's contents and dumping the
//! engine into it.
#![allow(dead_code)]

use std::collections::BTreeMap;

use engine::{Bucket, Tx};

/// A bucket's contents: values and nested buckets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    Val(Vec<u8>),
    Bucket(Tree),
}

/// Keys to entries.
pub type Tree = BTreeMap<Vec<u8>, Entry>;

/// Reads a bucket fully, forwards, and checks that walking backwards gives the same keys.
pub fn dump(b: Bucket<'_>) -> Tree {
    try_dump(b).expect("dump")
}

/// Like `dump`, but returns engine errors instead of panicking.
pub fn try_dump(b: Bucket<'_>) -> engine::Result<Tree> {
    let mut t = Tree::new();
    let mut c = b.cursor();
    let mut item = c.first()?;
    while let Some((k, v)) = item {
        let e = match v {
            Some(v) => {
                assert_eq!(b.get_ref(&k)?.as_deref(), Some(&v[..]), "get_ref of {k:?}");
                assert_eq!(b.get(&k)?.as_ref(), Some(&v), "get of {k:?}");
                Entry::Val(v)
            }
            None => match b.bucket(&k)? {
                Some(sub) => Entry::Bucket(try_dump(sub)?),
                None => panic!("bucket key {k:?} does not open"),
            },
        };
        assert!(t.insert(k, e).is_none(), "key twice");
        item = c.next()?;
    }
    // Backwards with the borrowed items: the same keys and values.
    let mut back = Vec::new();
    let mut item = c.last_ref()?;
    while let Some((k, v)) = item {
        let want = match &t[&*k] {
            Entry::Val(v) => Some(&v[..]),
            Entry::Bucket(_) => None,
        };
        assert_eq!(v.as_deref(), want, "borrowed value of {k:?}");
        back.push(k.into_owned());
        item = c.prev_ref()?;
    }
    back.reverse();
    assert_eq!(back, t.keys().cloned().collect::<Vec<_>>(), "reverse walk differs");
    Ok(t)
}

/// Every top-level bucket and its contents.
pub fn dump_db(tx: &Tx) -> Tree {
    try_dump_db(tx).expect("dump")
}

/// Like `dump_db`, returning engine errors.
pub fn try_dump_db(tx: &Tx) -> engine::Result<Tree> {
    let mut t = Tree::new();
    tx.for_each(|name, b| {
        t.insert(name.to_vec(), Entry::Bucket(try_dump(b)?));
        Ok(())
    })?;
    Ok(t)
}
