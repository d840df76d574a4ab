//! Compatibility with real bbolt (Debian's golang-github-coreos-bbolt-dev, bbolt 1.3.6): a Go
//! program (tests/bbolt_compat/main.go) built in GOPATH mode, offline.
//! (a) bbolt writes a database (nested and inline buckets, overflow values, deletes, a deleted
//!     bucket); the engine reads it back key for key and its check is clean.
//! (b) the engine writes a database through many updates and deletes; bbolt's `tx.Check()`
//!     reports nothing and bbolt reads back every key.
//!
//! Needs Go and bbolt's source under /usr/share/gocode/src, hence `#[ignore]`; `.ci/run`
//! installs them and runs these tests with `--ignored`.
#![allow(clippy::disallowed_methods, reason = "drives the Go toolchain on real files")]

use std::path::{Path, PathBuf};
use std::process::Command;

use engine::{Bucket, Db, Options, Tx};
use rand::Rng as _;
use sim::Seed;

/// Builds the Go half into `dir` and returns the binary's path.
fn build_go(dir: &Path) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bbolt_compat/main.go");
    let bin = dir.join("bbolt_compat");
    let out = Command::new("go")
        .arg("build")
        .arg("-o")
        .arg(&bin)
        .arg(&src)
        .env("GO111MODULE", "off")
        .env("GOPATH", format!("/usr/share/gocode:{}", dir.display()))
        .env("GOCACHE", dir.join("gocache"))
        .env("GOFLAGS", "")
        .env("GOPROXY", "off")
        .output()
        .expect("run `go build` (is golang-go installed?)");
    assert!(out.status.success(), "go build failed:\n{}", String::from_utf8_lossy(&out.stderr));
    bin
}

fn go(bin: &Path, mode: &str, db: &Path) -> String {
    let out = Command::new(bin).arg(mode).arg(db).output().expect("run the Go program");
    assert!(
        out.status.success(),
        "bbolt_compat {mode} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 dump")
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The same dump format as the Go program's.
fn dump_bucket(b: Bucket<'_>, path: &str, out: &mut String) {
    let mut c = b.cursor();
    let mut item = c.first().unwrap();
    while let Some((k, v)) = item {
        match v {
            None => {
                let sub = format!("{path}/{}", hex(&k));
                out.push_str(&format!("B {sub}\n"));
                dump_bucket(b.bucket(&k).unwrap().unwrap(), &sub, out);
            }
            Some(v) => out.push_str(&format!("K {path} {} {}\n", hex(&k), hex(&v))),
        }
        item = c.next().unwrap();
    }
}

fn dump(tx: &Tx) -> String {
    let mut out = String::new();
    tx.for_each(|name, b| {
        let p = hex(name);
        out.push_str(&format!("B {p}\n"));
        dump_bucket(b, &p, &mut out);
        Ok(())
    })
    .unwrap();
    out
}

#[test]
#[ignore = "needs Go and Debian's bbolt: run by .ci/run with --ignored"]
fn engine_reads_a_bbolt_database() {
    let dir = tempfile::tempdir().unwrap();
    let bin = build_go(dir.path());
    let file = dir.path().join("bbolt.db");
    go(&bin, "write", &file);
    let expected = go(&bin, "dump", &file);
    assert!(expected.lines().count() > 2000, "the Go side wrote a real database");
    let db = Db::open(&file, Options::read_only()).unwrap();
    let tx = db.begin(false).unwrap();
    let got = dump(&tx);
    assert_eq!(got.lines().count(), expected.lines().count());
    assert!(got == expected, "engine's reading differs from bbolt's");
    assert!(tx.check().is_empty(), "{:?}", tx.check());
    let tiny = tx.bucket(b"tiny-inline").unwrap().unwrap();
    assert_eq!(tiny.sequence(), 1);
    assert_eq!(tiny.get(b"a").unwrap(), Some(b"b".to_vec()));
    assert!(tx.bucket(b"doomed").unwrap().is_none());
    let plain = tx.bucket(b"plain").unwrap().unwrap();
    assert_eq!(plain.get(b"key-000001").unwrap(), Some(b"overwritten".to_vec()));
    assert_eq!(plain.get(b"key-000500").unwrap(), Some(vec![(500 % 256) as u8; 10500]));
    assert_eq!(plain.get(b"key-000003").unwrap(), None);
    // The engine can also write to a bbolt file, and bbolt still accepts it.
    drop(tx);
    drop(db);
    let db = Db::open(&file, Options::default()).unwrap();
    db.update(|tx| tx.bucket(b"plain")?.unwrap().put(b"from-engine", b"hello")).unwrap();
    drop(db);
    assert!(go(&bin, "dump", &file).contains(&hex(b"hello")));
}

#[test]
#[ignore = "needs Go and Debian's bbolt: run by .ci/run with --ignored"]
fn bbolt_checks_and_reads_an_engine_database() {
    let dir = tempfile::tempdir().unwrap();
    let bin = build_go(dir.path());
    let file = dir.path().join("engine.db");
    let db = Db::open(&file, Options::default()).unwrap();
    let mut rng = Seed(42).stream("compat");
    for round in 0..40u32 {
        db.update(|tx| {
            let name = [b'a' + (round % 5) as u8];
            let b = tx.create_bucket_if_not_exists(&name)?;
            for _ in 0..rng.random_range(1..300) {
                let key = format!("k{:05}", rng.random_range(0..5000u32)).into_bytes();
                match rng.random_range(0..10) {
                    0..=5 => {
                        let len = if rng.random_range(0..40) == 0 {
                            rng.random_range(5000..20000)
                        } else {
                            rng.random_range(0..120)
                        };
                        b.put(&key, &vec![rng.random::<u8>(); len])?;
                    }
                    6..=8 => b.delete(&key)?,
                    _ => {
                        let sub = b.create_bucket_if_not_exists(b"nested")?;
                        sub.put(&key, b"inline or not")?;
                        if rng.random_range(0..4) == 0 {
                            sub.create_bucket_if_not_exists(b"deeper")?.put(b"x", b"y")?;
                        }
                    }
                }
            }
            if round % 13 == 12 {
                tx.delete_bucket(&[b'a' + ((round + 1) % 5) as u8]).or_else(|e| match e {
                    engine::Error::BucketNotFound => Ok(()),
                    e => Err(e),
                })?;
            }
            tx.create_bucket_if_not_exists(b"seq")?.next_sequence()?;
            Ok(())
        })
        .unwrap();
    }
    // Overwrites with values of the same size: pages that only change so are written from raw
    // copies (see the engine's node::Raw) rather than re-serialized.
    for round in 0..10u8 {
        db.update(|tx| {
            let Some(b) = tx.bucket(&[b'a' + round % 5])? else { return Ok(()) };
            let mut same = Vec::new();
            let mut c = b.cursor();
            let mut item = c.first()?;
            while let Some((k, v)) = item {
                if let Some(v) = v.filter(|_| rng.random_range(0..3) == 0) {
                    same.push((k, v.len()));
                }
                item = c.next()?;
            }
            for (k, len) in same {
                b.put(&k, &vec![round ^ 0x5a; len])?;
            }
            Ok(())
        })
        .unwrap();
    }
    let expected = {
        let tx = db.begin(false).unwrap();
        assert!(tx.check().is_empty(), "{:?}", tx.check());
        dump(&tx)
    };
    // Dropped without closing: both metas keep their commit records, which bbolt ignores.
    drop(db);
    let got = go(&bin, "dump", &file);
    assert!(expected.lines().count() > 1000, "a real workload");
    assert!(got == expected, "bbolt reads something else than the engine wrote");
    let db = Db::open(&file, Options::default()).unwrap();
    db.close().unwrap();
    assert!(go(&bin, "dump", &file) == expected, "after a clean close too");
}
