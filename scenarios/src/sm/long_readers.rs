//! Long readers: engine read transactions held open across many commits, as etcd holds one
//! while it streams a snapshot to a follower and keeps applying entries.
//!
//! Policy (deterministic; no randomness, no disk operation): after the first store commit of an
//! incarnation, and then after every [`BEGIN_EVERY`]th, a new reader begins and reads the whole store (both buckets, so it visits every page
//! of the tree) into a digest. At most [`HELD`] readers are open: the oldest ends when a new one
//! begins, after reading everything again and comparing the digest. So two readers are open at
//! once, begun [`BEGIN_EVERY`] commits apart (the writer sees open readers at different
//! txids), and each lives across `BEGIN_EVERY * HELD` commits.
//!
//! What they check: a changed digest is reported here ([`LongReaders::take_changes`]); the
//! engine's audit mode (on in `dst`) reports a page of theirs that a commit wrote, or whose bytes
//! changed while they were open. On the simulated disk a reader's mapping is a snapshot, so its
//! digest cannot change: the audit sees what the digest cannot. On a real disk (an mmap) the
//! digest is what sees it.
//!
//! What they change in a run: an open reader pins the pages of its snapshot, so commits that
//! would have reused them allocate others (the file grows by a few commits' pages, and writes go
//! to other offsets). That is their purpose: without a reader open across commits, page reuse
//! under a reader cannot happen at all.

use std::collections::VecDeque;

use engine::{Db, Tx};

/// A new reader begins after this many store commits.
pub const BEGIN_EVERY: u64 = 8;
/// Readers open at once.
pub const HELD: usize = 2;

/// The buckets a reader reads.
const BUCKETS: [&[u8]; 2] = [b"meta", b"key"];

/// One open reader and what it read when it began.
struct Held {
    tx: Tx,
    txid: u64,
    digest: u64,
}

/// The long readers of one store (see the module docs).
pub struct LongReaders {
    held: VecDeque<Held>,
    /// Txid of the last commit seen.
    last_txid: u64,
    /// Commits seen since the last reader began.
    commits: u64,
    changes: Vec<String>,
}

impl Default for LongReaders {
    /// No reader yet; the first commit seen begins one.
    fn default() -> LongReaders {
        LongReaders {
            held: VecDeque::new(),
            last_txid: 0,
            commits: BEGIN_EVERY - 1,
            changes: Vec::new(),
        }
    }
}

impl std::fmt::Debug for LongReaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let txids: Vec<u64> = self.held.iter().map(|h| h.txid).collect();
        write!(f, "LongReaders(at txids {txids:?})")
    }
}

impl LongReaders {
    /// Called after every store commit attempt: counts the commit if `db` moved to a new
    /// txid, and when one is due begins a reader (ending the oldest if [`HELD`] are open).
    pub fn after_commit(&mut self, db: &Db) {
        let txid = db.meta().txid;
        if txid == self.last_txid {
            return;
        }
        self.last_txid = txid;
        self.commits += 1;
        if self.commits < BEGIN_EVERY {
            return;
        }
        self.commits = 0;
        if self.held.len() >= HELD {
            self.end_oldest();
        }
        let Ok(tx) = db.begin(false) else { return };
        // A store that cannot be read is reported by the store's own reads and checks.
        let Ok(digest) = digest(&tx) else { return };
        self.held.push_back(Held { txid: tx.id(), tx, digest });
    }

    /// Ends every reader, checking each (before the store is closed or replaced).
    pub fn end_all(&mut self) {
        while !self.held.is_empty() {
            self.end_oldest();
        }
    }

    /// Ends the oldest reader: reads everything again and compares.
    fn end_oldest(&mut self) {
        let Some(h) = self.held.pop_front() else { return };
        match digest(&h.tx) {
            Ok(d) if d == h.digest => {}
            Ok(d) => self.changes.push(format!(
                "the reader at txid {} read digest {:016x} at its end, {:016x} at its start",
                h.txid, d, h.digest
            )),
            Err(e) => self.changes.push(format!(
                "the reader at txid {} could no longer read its snapshot: {e}",
                h.txid
            )),
        }
    }

    /// Views that changed under a reader since the last call.
    pub fn take_changes(&mut self) -> Vec<String> {
        std::mem::take(&mut self.changes)
    }
}

/// A digest of every item of the store's buckets as `tx` sees them.
fn digest(tx: &Tx) -> engine::Result<u64> {
    let mut h = 0u64;
    for name in BUCKETS {
        let Some(b) = tx.bucket(name)? else { continue };
        let mut c = b.cursor();
        let mut item = c.first_ref()?;
        while let Some((k, v)) = item {
            h = sim::trace::mix(h, engine::record::xxh64(&k, h));
            if let Some(v) = v {
                h = sim::trace::mix(h, engine::record::xxh64(&v, h));
            }
            item = c.next_ref()?;
        }
    }
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine::Options;
    use sim::simulated::disk::{DiskConfig, SimDisk};
    use sim::Seed;

    fn commit(db: &Db, readers: &mut LongReaders, n: u32) {
        db.update(|tx| {
            for name in BUCKETS {
                tx.create_bucket_if_not_exists(name)?.put(&n.to_be_bytes(), &[n as u8; 50])?;
            }
            Ok(())
        })
        .unwrap();
        readers.after_commit(db);
    }

    #[test]
    fn readers_begin_every_few_commits_and_two_stay_open() {
        let disk = SimDisk::new(Seed(1).stream("disk"), DiskConfig::default());
        let db = Db::open_on(disk, "db", Options { audit: true, ..Options::default() }).unwrap();
        let mut r = LongReaders::default();
        let mut txids = Vec::new();
        for n in 0..(BEGIN_EVERY as u32 * 5) {
            commit(&db, &mut r, n);
            txids.push(r.held.iter().map(|h| h.txid).collect::<Vec<_>>());
        }
        let last = txids.last().unwrap();
        assert_eq!(last.len(), HELD, "{txids:?}");
        assert_eq!(last[1] - last[0], BEGIN_EVERY, "begun {BEGIN_EVERY} commits apart");
        r.end_all();
        assert!(r.take_changes().is_empty());
        assert!(db.take_audit_violations().is_empty(), "correct engine: no violation");
    }

    #[test]
    fn a_changed_digest_is_reported() {
        let disk = SimDisk::new(Seed(2).stream("disk"), DiskConfig::default());
        let db = Db::open_on(disk, "db", Options::default()).unwrap();
        let mut r = LongReaders::default();
        commit(&db, &mut r, 1);
        let tx = db.begin(false).unwrap();
        let txid = tx.id();
        r.held.push_back(Held { tx, txid, digest: 42 }); // as if it had read other bytes
        r.end_all();
        let changes = r.take_changes();
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert!(changes[0].contains(&format!("txid {txid}")), "{changes:?}");
    }
}
