//! Helpers shared by the MVCC integration tests: opening a store on a SimDisk, reading the
//! `key` bucket raw, and a naive reference model of the store.
#![allow(dead_code)]

pub mod model;

use std::rc::Rc;

use engine::mvcc::{KeyValue, MvccError, Revision, Store, StoreConfig};
use engine::{Db, Options};
use sim::simulated::disk::{DiskConfig, SimDisk};
use sim::Seed;

/// The database file name on the simulated disk.
pub const DB_PATH: &str = "mvcc.db";

/// Small pages, so a few hundred records already span branch pages and overflow.
pub fn db_options() -> Options {
    Options { page_size: 1024, ..Options::default() }
}

/// A fresh simulated disk whose crash outcomes draw from `seed`.
pub fn new_disk(seed: u64) -> Rc<SimDisk> {
    SimDisk::new(Seed(seed).stream("mvcc-disk"), DiskConfig::default())
}

/// Opens (or creates) the database and the store on `disk`.
pub fn open_store(disk: &Rc<SimDisk>, config: StoreConfig) -> Result<Store, MvccError> {
    let db = Db::open_on(disk.clone(), DB_PATH, db_options())?;
    Store::open(db, config)
}

/// One record of the `key` bucket, decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawRecord {
    pub rev: Revision,
    pub tombstone: bool,
    pub kv: KeyValue,
}

/// Every committed record of the `key` bucket, in revision order.
pub fn raw_records(db: &Db) -> Vec<RawRecord> {
    db.view(|tx| {
        let b = tx.bucket(b"key")?.expect("the store creates the key bucket");
        let mut out = Vec::new();
        b.for_each(|k, v| {
            let (rev, tombstone) = Revision::from_bytes(k).expect("valid revision key");
            let kv = KeyValue::decode(rev, v.expect("no nested buckets")).expect("valid record");
            out.push(RawRecord { rev, tombstone, kv });
            Ok(())
        })?;
        Ok(out)
    })
    .expect("read the key bucket")
}

/// The engine's consistency check of the committed file.
pub fn check_db(db: &Db, what: &str) {
    let tx = db.begin(false).expect("read tx");
    let problems = tx.check();
    assert!(problems.is_empty(), "{what}: engine check: {problems:?}");
}
