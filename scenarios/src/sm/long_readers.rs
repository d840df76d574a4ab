//! Long readers: engine read transactions held open across many commits, as etcd holds one
//! while it streams a snapshot to a follower and keeps applying entries.
//!
//! Policy (deterministic; no randomness, no disk operation), in store commits counted from the
//! first one of an incarnation, in cycles of [`CYCLE`]: at the start of a cycle a reader
//! begins, a second one [`SECOND_AT`] commits later (so the writer sees open readers at
//! different txids); the first ends [`FIRST_END_AT`] commits after the cycle began, so the
//! writers after it release the pages the first one pinned while the second is still open (the
//! moment a writer that misjudges the oldest reader reuses a page under it), and the second
//! ends at [`END_AT`]; the rest of the cycle has no long reader, so the pages they pinned are
//! reused again. A reader reads the
//! whole store when it begins (both buckets: it visits every page of the tree).
//!
//! What checks them: each reader digests every key and value it read when it began, and reads
//! everything again when it ends: the view of a read transaction must not change while commits
//! go on (a difference is an assertion failure naming both txids). Then the engine's audit mode (on in `dst`, see `engine::audit`) reports a commit
//! that writes a page an open reader visited, and, when a reader ends, a visited page whose bytes
//! in the file differ from what the reader saw. (On the simulated disk a reader's mapping is a
//! snapshot, so reading again through it could not show a change: the audit compares with the
//! file itself.)
//!
//! What they change in a run: an open reader pins the pages of its snapshot, so commits that
//! would have reused them allocate others (the file grows by some commits' pages, writes go to
//! other offsets), and the simulated disk copies the file once per reader, at the first write
//! it must not see. That is their purpose: without a reader open across commits, page reuse
//! under a reader cannot happen at all.

use engine::{Db, Tx};

/// Commits per cycle.
pub const CYCLE: u64 = 64;
/// The second reader begins this many commits into a cycle.
pub const SECOND_AT: u64 = 4;
/// The first reader ends this many commits into a cycle.
pub const FIRST_END_AT: u64 = 12;
/// The second reader ends this many commits into a cycle.
pub const END_AT: u64 = 16;

/// The buckets a reader reads.
const BUCKETS: [&[u8]; 2] = [b"meta", b"key"];

/// The long readers of one store (see the module docs).
#[derive(Default)]
pub struct LongReaders {
    /// Open readers and the digest of what each read when it began.
    held: Vec<(Tx, u64)>,
    /// Txid of the last commit seen.
    last_txid: Option<u64>,
    /// Commits seen before the last one.
    commits: u64,
}

impl std::fmt::Debug for LongReaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LongReaders(at txids {:?})", self.txids())
    }
}

impl LongReaders {
    /// Called after every store commit attempt: counts the commit if `db` moved to a new
    /// txid, and begins or ends readers as the cycle says.
    pub fn after_commit(&mut self, db: &Db) {
        let txid = db.meta().txid;
        if self.last_txid == Some(txid) {
            return;
        }
        let phase = match self.last_txid {
            None => 0,
            Some(_) => {
                self.commits += 1;
                self.commits % CYCLE
            }
        };
        self.last_txid = Some(txid);
        match phase {
            0 | SECOND_AT => self.begin(db),
            FIRST_END_AT => self.end_oldest(),
            END_AT => self.end_all(),
            _ => {}
        }
    }

    /// Begins a reader and reads everything through it. A store that cannot be read is
    /// reported by the store's own reads and checks: no reader is kept then.
    fn begin(&mut self, db: &Db) {
        let Ok(tx) = db.begin(false) else { return };
        if let Ok(digest) = read_all(&tx) {
            self.held.push((tx, digest));
        }
    }

    /// Ends the oldest reader (see [`end`] for the check).
    fn end_oldest(&mut self) {
        if !self.held.is_empty() {
            let (tx, digest) = self.held.remove(0);
            end(tx, digest);
        }
    }

    /// Ends every reader (see [`end`] for the check).
    pub fn end_all(&mut self) {
        for (tx, digest) in self.held.drain(..) {
            end(tx, digest);
        }
    }

    /// Txids of the open readers, oldest first.
    pub fn txids(&self) -> Vec<u64> {
        self.held.iter().map(|(tx, _)| tx.id()).collect()
    }
}

/// Ends reader `tx` after checking that it still sees what it saw when it began (`digest`);
/// the engine's audit then checks it as it ends. A reader that cannot read any more (its
/// storage failed) is not judged: the store's own reads report that.
fn end(tx: Tx, digest: u64) {
    if let Ok(now) = read_all(&tx) {
        assert_eq!(
            now,
            digest,
            "a read transaction at txid {} saw its view change while commits went on",
            tx.id()
        );
    }
}

/// Reads every item of the store's buckets through `tx`; returns a digest of every key and
/// value (FNV-1a over length-prefixed bytes: stable across builds).
fn read_all(tx: &Tx) -> engine::Result<u64> {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for b in (bytes.len() as u64).to_le_bytes().iter().chain(bytes) {
            h = (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    for name in BUCKETS {
        eat(name);
        let Some(b) = tx.bucket(name)? else { continue };
        let mut c = b.cursor();
        let mut item = c.first_ref()?;
        while let Some((k, v)) = item {
            eat(&k);
            eat(v.as_deref().unwrap_or(&[]));
            item = c.next_ref()?;
        }
    }
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine::audit::Violation;
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

    fn db(seed: u64) -> Db {
        let disk = SimDisk::new(Seed(seed).stream("disk"), DiskConfig::default());
        Db::open_on(disk, "db", Options { audit: true, ..Options::default() }).unwrap()
    }

    #[test]
    fn two_readers_a_few_commits_apart_then_none() {
        let db = db(1);
        let mut r = LongReaders::default();
        let mut open = Vec::new();
        for n in 0..(2 * CYCLE as u32) {
            commit(&db, &mut r, n);
            open.push(r.txids());
        }
        let first = open[0][0];
        assert_eq!(open[0], vec![first], "the first commit begins one");
        assert_eq!(open[SECOND_AT as usize], vec![first, first + SECOND_AT]);
        assert_eq!(open[FIRST_END_AT as usize - 1].len(), 2);
        assert_eq!(open[FIRST_END_AT as usize], vec![first + SECOND_AT], "the first ended");
        assert_eq!(open[END_AT as usize - 1].len(), 1);
        assert!(open[END_AT as usize..CYCLE as usize].iter().all(Vec::is_empty));
        assert_eq!(open[CYCLE as usize], vec![first + CYCLE], "the next cycle");
        r.end_all();
        assert!(db.take_audit_violations().is_empty(), "correct engine: no violation");
    }

    #[test]
    fn the_audit_sees_a_page_reused_under_a_long_reader() {
        let _bug = sim::planted::Activation::new(Some(&engine::planted::READER_SLOT_DROPPED));
        let db = db(2);
        let mut r = LongReaders::default();
        for n in 0..END_AT as u32 {
            commit(&db, &mut r, n);
            // A short read at the long reader's txid ends: with the bug, the long reader's
            // txid leaves the reader table.
            db.view(|tx| tx.bucket(b"key").map(|_| ())).unwrap();
        }
        let v = db.take_audit_violations();
        assert!(v.iter().any(|v| matches!(v, Violation::PageReusedUnderReader { .. })), "{v:?}");
    }
}
