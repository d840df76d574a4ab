//! The engine on a real file (mmap reads): many commits with and without file growth, readers
//! keeping their snapshots across later commits (with borrowed values held across them), and a
//! clean check and identical contents after reopening.

use std::collections::BTreeMap;

use engine::{Db, Options};

/// The value of key `k` as written by commit `c` (sizes vary so some commits grow the file,
/// and a few values need overflow pages).
fn value(k: u32, c: u32) -> Vec<u8> {
    let len = if k.is_multiple_of(97) { 6000 } else { 20 + (k * 7 + c) as usize % 200 };
    let mut v = vec![(k ^ c) as u8; len];
    v[..4].copy_from_slice(&c.to_le_bytes());
    v
}

fn key(k: u32) -> Vec<u8> {
    format!("key-{:08}", k.wrapping_mul(2_654_435_761) % 1_000_003).into_bytes()
}

#[test]
fn commits_readers_and_reopen_on_a_real_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("real.db");
    let db = Db::open(&path, Options::default()).unwrap();
    let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let mut reader = None;
    for c in 0..120u32 {
        // Commit c writes 40 keys: some new, some overwritten, a few deleted.
        db.update(|tx| {
            let b = tx.create_bucket_if_not_exists(b"b")?;
            for j in 0..40u32 {
                let k = (c * 31 + j * 17) % 1500;
                if j % 13 == 5 {
                    b.delete(&key(k))?;
                } else {
                    b.put(&key(k), &value(k, c))?;
                }
            }
            Ok(())
        })
        .unwrap();
        for j in 0..40u32 {
            let k = (c * 31 + j * 17) % 1500;
            if j % 13 == 5 {
                model.remove(&key(k));
            } else {
                model.insert(key(k), value(k, c));
            }
        }
        // The newest commit is visible at once, through borrowed and owned reads.
        let tx = db.begin(false).unwrap();
        let b = tx.bucket(b"b").unwrap().unwrap();
        for (k, v) in model.iter().step_by(7) {
            assert_eq!(b.get_ref(k).unwrap().as_deref(), Some(&v[..]), "commit {c}");
        }
        drop(tx);
        if c == 30 {
            // A reader that stays open across the next 90 commits, holding a borrowed value.
            let tx = db.begin(false).unwrap();
            reader = Some((tx, model.clone()));
        }
    }
    let (tx, snapshot) = reader.take().unwrap();
    {
        let b = tx.bucket(b"b").unwrap().unwrap();
        let mut c = b.cursor();
        let mut seen = BTreeMap::new();
        let mut item = c.first_ref().unwrap();
        while let Some((k, v)) = item {
            seen.insert(k.into_owned(), v.unwrap().into_owned());
            item = c.next_ref().unwrap();
        }
        assert_eq!(seen, snapshot, "the old reader still sees its snapshot");
        assert!(tx.check().is_empty(), "{:?}", tx.check());
    }
    drop(tx);
    let tx = db.begin(false).unwrap();
    assert!(tx.check().is_empty(), "{:?}", tx.check());
    drop(tx);
    db.close().unwrap();
    let db = Db::open(&path, Options::default()).unwrap();
    db.view(|tx| {
        let b = tx.bucket(b"b")?.unwrap();
        let mut all = BTreeMap::new();
        b.for_each(|k, v| {
            all.insert(k.to_vec(), v.unwrap().to_vec());
            Ok(())
        })?;
        assert_eq!(all, model, "contents after reopen");
        assert!(tx.check().is_empty(), "{:?}", tx.check());
        Ok(())
    })
    .unwrap();
}
