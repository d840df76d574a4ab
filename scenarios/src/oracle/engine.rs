//! The engine oracle: the bolt engine's own rules, checked on every node after every step, from
//! facts rather than from the engine's bookkeeping where the simulator has them.
//!
//! - **A reader's view never changes, and no page an open reader reaches is handed out.** The
//!   engine runs in audit mode in `dst` (see `engine::audit`): a reader's visited pages are
//!   compared with the file's bytes when it ends, and every commit's pages with the open
//!   readers' pages before they are written. The state machine's long readers (see
//!   `crate::sm`) hold readers open across commits, so that this can happen at all.
//! - **Open chooses the newest valid meta.** Both meta slots' raw bytes, as open read them, are
//!   parsed here without the engine's code (page flags exactly meta, magic, version, page size,
//!   page ids, FNV-1a checksum of the meta's first 56 bytes, txid): the meta opened must be the valid one with the highest txid,
//!   or its predecessor in the other slot when the newest carries a commit record that open
//!   found broken (a one-flush commit cut short).
//! - **Txids only go forward.** While a database is open its txid never goes back; a reopened
//!   file (the same inode on the node's disk) opens at or after the last txid seen committed on
//!   it, or one before when the slot that held that txid now reads invalid (bit rot).
//!
//! A violation reads `node N: engine: ...` and is reported as [`Property::Engine`]
//! (`crate::oracle::Property`).

use std::collections::BTreeMap;

use engine::opened::OpenReport;
use engine::Db;
use sim::NodeId;

use crate::cluster::{Cluster, Observable};

/// The file and txid last seen on one node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Seen {
    /// Inode of the database file on the node's disk, when known.
    ino: Option<u64>,
    /// The last txid seen committed.
    txid: u64,
}

/// The engine oracle (see the module docs).
#[derive(Debug, Default)]
pub struct EngineOracle {
    seen: BTreeMap<u32, Seen>,
    violation: Option<String>,
    /// Opens looked at.
    pub opens: u64,
    /// Meta slots that read invalid at those opens.
    pub invalid_slots: u64,
    /// Opens that passed over the newest meta because its commit record did not hold.
    pub fallbacks: u64,
    /// Writers that released pages while a read transaction was open.
    pub releases_under_readers: u64,
}

impl EngineOracle {
    pub fn new() -> EngineOracle {
        EngineOracle::default()
    }

    /// The first violation seen.
    pub fn violation(&self) -> Option<&str> {
        self.violation.as_deref()
    }

    /// Looks at `members` (only `changed` when it is `Some`: no other node can have moved).
    pub fn observe<S: Observable>(
        &mut self,
        c: &Cluster<S>,
        members: &[u32],
        changed: Option<u32>,
    ) {
        if self.violation.is_some() {
            return;
        }
        for n in super::to_look_at(members, changed) {
            let Some(db) = c.running(n).and_then(|r| r.state_machine().engine()) else {
                continue;
            };
            self.observe_node(n, &db, || db_inode(c, n));
        }
    }

    /// Looks at node `n`'s engine; `ino` finds the inode of its database file (asked only when
    /// the database was just opened).
    pub fn observe_node(&mut self, n: u32, db: &Db, ino: impl FnOnce() -> Option<u64>) {
        let fail = |what: String| Some(format!("node {n}: engine: {what}"));
        if let Some(v) = db.take_audit_violations().first() {
            self.violation = fail(v.to_string());
            return;
        }
        if let Some(report) = db.take_open_report() {
            let ino = ino();
            if let Err(e) = self.check_open(n, &report, ino) {
                self.violation = fail(e);
                return;
            }
        }
        self.releases_under_readers += db.take_releases_under_readers();
        let txid = db.meta().txid;
        let seen = self.seen.entry(n).or_default();
        if txid < seen.txid {
            self.violation = fail(format!("txid went back from {} to {txid}", seen.txid));
            return;
        }
        seen.txid = txid;
    }

    /// Checks an open of node `n`'s database (file `ino`): the meta chosen, and its txid
    /// against the last one seen committed on the same file.
    fn check_open(&mut self, n: u32, r: &OpenReport, ino: Option<u64>) -> Result<(), String> {
        self.opens += 1;
        self.fallbacks += u64::from(r.rejected_newest);
        let slots = [parse_slot(&r.slots[0].bytes), parse_slot(&r.slots[1].bytes)];
        self.invalid_slots += slots.iter().filter(|s| s.is_err()).count() as u64;
        check_choice(r, &slots)?;
        let before = self.seen.insert(n, Seen { ino, txid: r.chosen_txid });
        if let Some(before) = before.filter(|b| b.ino.is_some() && b.ino == ino) {
            check_reopen(before.txid, r.chosen_txid, &slots)?;
        }
        Ok(())
    }
}

/// The inode of node `n`'s database file, as a power loss now would leave it.
fn db_inode<S: Observable>(c: &Cluster<S>, n: u32) -> Option<u64> {
    let dir = raft::server::boot::SM_DIR;
    let files = c.w.disk(NodeId(n)).durable_files(dir);
    files.into_iter().find(|(name, _)| name == crate::sm::DB_FILE).map(|(_, ino)| ino)
}

/// A meta slot parsed here (bbolt's layout: page header, then the meta at byte 16).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SlotMeta {
    txid: u64,
    /// Whether a commit record bound to this meta follows it.
    has_record: bool,
}

const META_FLAG: u16 = 0x04;
const MAGIC: u32 = 0xED0C_DAED;
const VERSION: u32 = 2;
/// "bolt1syn", the commit record's magic.
const RECORD_MAGIC: u64 = 0x6e79_7331_746c_6f62;

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// Parses one meta slot's bytes; `Err` says why it is invalid.
fn parse_slot(b: &[u8]) -> Result<SlotMeta, String> {
    if b.len() < 80 {
        return Err(format!("{} bytes, a meta needs 80", b.len()));
    }
    if u16_at(b, 8) != META_FLAG {
        return Err(format!("page flags {:#x}", u16_at(b, 8)));
    }
    let m = &b[16..80];
    let (magic, version, page_size) = (u32_at(m, 0), u32_at(m, 4), u32_at(m, 8));
    let (root, freelist, high_water, txid) =
        (u64_at(m, 16), u64_at(m, 32), u64_at(m, 40), u64_at(m, 48));
    let checksum = u64_at(m, 56);
    if magic != MAGIC || version != VERSION {
        return Err(format!("magic {magic:#x} version {version}"));
    }
    if checksum != sim::seed::fnv1a64(&m[..56]) {
        return Err(format!("checksum {checksum:#x} does not match"));
    }
    if !page_size.is_power_of_two() || !(512..=65536).contains(&page_size) {
        return Err(format!("page size {page_size}"));
    }
    if !(2..high_water).contains(&root) || !(2..high_water).contains(&freelist) {
        return Err(format!("root {root} or freelist {freelist} outside 2..{high_water}"));
    }
    let has_record = b.len() >= 128 && {
        let r = &b[80..128];
        u64_at(r, 0) == RECORD_MAGIC
            && u64_at(r, 40) == sim::seed::fnv1a64(&r[..40])
            && u64_at(r, 8) == txid
            && u64_at(r, 16) == checksum
    };
    Ok(SlotMeta { txid, has_record })
}

/// The meta chosen must be the newest valid one, or its predecessor when open rejected the
/// newest's commit record (which it must then carry).
fn check_choice(r: &OpenReport, slots: &[Result<SlotMeta, String>; 2]) -> Result<(), String> {
    let valid: Vec<SlotMeta> = slots.iter().filter_map(|s| s.as_ref().ok().copied()).collect();
    let describe = || {
        let each: Vec<String> = slots
            .iter()
            .enumerate()
            .map(|(i, s)| match s {
                Ok(m) => format!("slot {i} txid {}", m.txid),
                Err(e) => format!("slot {i} invalid ({e})"),
            })
            .collect();
        each.join(", ")
    };
    let Some(newest) = valid.iter().max_by_key(|m| m.txid) else {
        return Err(format!("opened at txid {} with no valid meta: {}", r.chosen_txid, describe()));
    };
    let want = if r.rejected_newest {
        let prev = valid.iter().find(|m| m.txid.checked_add(1) == Some(newest.txid));
        match prev {
            Some(prev) if newest.has_record => prev.txid,
            _ => {
                return Err(format!(
                    "open passed over meta txid {} for a broken commit record, but it carries \
                     none or has no predecessor: {}",
                    newest.txid,
                    describe()
                ))
            }
        }
    } else {
        newest.txid
    };
    if r.chosen_txid != want {
        return Err(format!(
            "open chose meta txid {}, the newest valid one is txid {want}: {}",
            r.chosen_txid,
            describe()
        ));
    }
    Ok(())
}

/// A file reopened at `opened` after txid `last` was seen committed on it: `opened >= last`,
/// or `last - 1` when the slot of `last` reads invalid now.
fn check_reopen(
    last: u64,
    opened: u64,
    slots: &[Result<SlotMeta, String>; 2],
) -> Result<(), String> {
    let lost_slot = slots[(last % 2) as usize].is_err();
    if opened >= last || (lost_slot && opened + 1 >= last) {
        return Ok(());
    }
    Err(format!("reopened at txid {opened}, but txid {last} was committed on this file before"))
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;

    use engine::meta::Meta;
    use engine::opened::SlotBytes;
    use engine::Options;
    use sim::simulated::disk::{DiskConfig, SimDisk};
    use sim::Seed;

    use super::*;

    /// The first 136 bytes of a valid meta page of `txid`.
    fn slot(txid: u64) -> SlotBytes {
        let page = Meta::new(4096, 3, 2, 10, txid).to_page();
        SlotBytes { offset: (txid % 2) * 4096, bytes: page[..136].to_vec() }
    }

    fn report(a: SlotBytes, b: SlotBytes, chosen_txid: u64, rejected_newest: bool) -> OpenReport {
        let mut slots = [a, b];
        slots.sort_by_key(|s| s.offset);
        OpenReport { slots, chosen_txid, rejected_newest }
    }

    fn parsed(r: &OpenReport) -> [Result<SlotMeta, String>; 2] {
        [parse_slot(&r.slots[0].bytes), parse_slot(&r.slots[1].bytes)]
    }

    #[test]
    fn the_newest_valid_meta_must_be_chosen() {
        let ok = report(slot(6), slot(7), 7, false);
        assert_eq!(check_choice(&ok, &parsed(&ok)), Ok(()));
        let older = report(slot(6), slot(7), 6, false);
        let e = check_choice(&older, &parsed(&older)).unwrap_err();
        assert!(e.contains("chose meta txid 6, the newest valid one is txid 7"), "{e}");
    }

    #[test]
    fn a_meta_with_a_bad_checksum_is_invalid_and_must_not_be_chosen() {
        let mut rotted = slot(9);
        rotted.bytes[16 + 48] ^= 0x10; // txid 9 -> 25, checksum unchanged
        assert!(parse_slot(&rotted.bytes).unwrap_err().contains("checksum"));
        let fine = report(slot(8), rotted.clone(), 8, false);
        assert_eq!(check_choice(&fine, &parsed(&fine)), Ok(()));
        let bad = report(slot(8), rotted, 25, false);
        let e = check_choice(&bad, &parsed(&bad)).unwrap_err();
        assert!(e.contains("slot 1 invalid (checksum"), "{e}");
        let none = report(SlotBytes { offset: 0, bytes: vec![0; 136] }, slot(3), 3, false);
        assert_eq!(check_choice(&none, &parsed(&none)), Ok(()));
    }

    #[test]
    fn passing_over_the_newest_needs_its_commit_record() {
        // Without a record, a rejected newest meta is a wrong choice.
        let r = report(slot(4), slot(5), 4, true);
        let e = check_choice(&r, &parsed(&r)).unwrap_err();
        assert!(e.contains("carries none"), "{e}");
        // With a record bound to it, falling back to its predecessor is right.
        let mut newest = slot(5);
        let meta = Meta::new(4096, 3, 2, 10, 5);
        let rec = engine::record::CommitRecord {
            txid: 5,
            meta_checksum: meta.checksum,
            pages: 1,
            hash: 7,
        };
        rec.encode(&mut newest.bytes[80..128]);
        let r = report(slot(4), newest, 4, true);
        assert_eq!(check_choice(&r, &parsed(&r)), Ok(()));
    }

    #[test]
    fn a_reopened_file_must_not_go_back() {
        let both = report(slot(10), slot(11), 11, false);
        assert_eq!(check_reopen(11, 11, &parsed(&both)), Ok(()));
        let e = check_reopen(11, 10, &parsed(&both)).unwrap_err();
        assert!(e.contains("reopened at txid 10, but txid 11 was committed"), "{e}");
        // The slot of txid 11 rotted: one back is what bolt does.
        let mut rotted = slot(11);
        rotted.bytes[20] ^= 1;
        let r = report(slot(10), rotted, 10, false);
        assert_eq!(check_reopen(11, 10, &parsed(&r)), Ok(()));
        assert!(check_reopen(12, 10, &parsed(&r)).is_err(), "slot of 12 (0) is valid");
    }

    fn db(seed: u64) -> (Rc<SimDisk>, Db) {
        let disk = SimDisk::new(Seed(seed).stream("disk"), DiskConfig::default());
        let opts = Options { audit: true, page_size: 1024, ..Options::default() };
        let db = Db::open_on(disk.clone(), "db", opts).unwrap();
        (disk, db)
    }

    fn fill(db: &Db, n: u8) {
        db.update(|tx| {
            let b = tx.create_bucket_if_not_exists(b"b")?;
            for k in 0..100u32 {
                b.put(&k.to_be_bytes(), &[n; 40])?;
            }
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn an_audit_violation_is_reported_with_its_node() {
        let _bug = sim::planted::Activation::new(Some(&engine::planted::READER_SLOT_DROPPED));
        let (_, db) = db(1);
        let mut o = EngineOracle::new();
        fill(&db, 1);
        o.observe_node(2, &db, || Some(1));
        assert_eq!(o.violation(), None);
        let a = db.begin(false).unwrap();
        let b = db.begin(false).unwrap();
        for tx in [&a, &b] {
            let bucket = tx.bucket(b"b").unwrap().unwrap();
            let mut c = bucket.cursor();
            let mut item = c.first().unwrap();
            while item.is_some() {
                item = c.next().unwrap();
            }
        }
        drop(b);
        for n in 2..5 {
            fill(&db, n);
        }
        o.observe_node(2, &db, || Some(1));
        let v = o.violation().expect("page reuse under reader a");
        assert!(v.starts_with("node 2: engine: page "), "{v}");
        assert!(v.contains(&format!("reader txid {}", a.id())), "{v}");
    }

    #[test]
    fn opens_are_checked_and_txids_must_not_go_back() {
        let (disk, first) = db(3);
        let mut o = EngineOracle::new();
        o.observe_node(1, &first, || Some(7));
        fill(&first, 1);
        fill(&first, 2);
        o.observe_node(1, &first, || Some(7));
        assert_eq!((o.opens, o.violation()), (1, None));
        // The same file reopened, as after a crash that lost the last two commits: wrong.
        drop(first);
        let older = report(slot(1), slot(2), 2, false);
        let e = o.check_open(1, &older, Some(7)).unwrap_err();
        assert!(e.contains("reopened at txid 2, but txid 3 was committed"), "{e}");
        // Another file (a restored snapshot) starts afresh.
        assert_eq!(o.check_open(1, &older, Some(8)), Ok(()));
        // A database that is older than what was seen: its txid went back.
        let (_, young) = db(4);
        young.take_open_report();
        o.seen.insert(1, Seen { ino: Some(8), txid: 5 });
        o.observe_node(1, &young, || Some(8));
        assert_eq!(o.violation(), Some("node 1: engine: txid went back from 5 to 1"));
        drop(disk);
    }
}
