//! Property test: whatever sequence of saves, overwrites and snapshot markers is written
//! (across many cuts), reopening the WAL returns exactly what a simple Vec model says.

mod wal_support;

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use raft::core::{Entry, HardState};
use raft::wal::{read_all, snapshot_markers, Wal};
use wal_support::*;

#[derive(Clone, Debug)]
enum Op {
    /// Append `n` entries of `len` bytes, first rewinding `back` uncommitted entries (a new
    /// leader's conflicting entries), in a new term when rewinding.
    Append { n: u64, len: usize, back: u64 },
    /// Bump the commit index (a state-only save: written, not necessarily synced).
    Commit,
    /// Record a snapshot marker at the commit index.
    Snapshot,
    /// Cut a segment now (BUGGIFY's early cut).
    Cut,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (1u64..5, 0usize..300, 0u64..3).prop_map(|(n, len, back)| Op::Append { n, len, back }),
        1 => Just(Op::Commit),
        1 => Just(Op::Snapshot),
        1 => Just(Op::Cut),
    ]
}

/// The model: the log from index 1, the hard state, the last marker.
#[derive(Default)]
struct Model {
    log: Vec<Entry>,
    state: HardState,
    snap: (u64, u64),
    bytes: u64,
}

fn run(segment_size: u64, ops: &[Op], cuts: &mut u64) -> Result<(), TestCaseError> {
    let disk = sim_disk(1);
    let mut wal = Wal::create(dyn_disk(&disk), "wal", b"roundtrip", config(segment_size)).unwrap();
    let mut m = Model::default();
    for op in ops {
        match *op {
            Op::Append { n, len, back } => {
                let last = m.log.len() as u64;
                let floor = m.state.commit.max(m.snap.0);
                let back = back.min(last - floor.min(last));
                let first = last - back + 1;
                let term = if back > 0 { m.state.term + 1 } else { m.state.term.max(1) };
                let batch: Vec<Entry> = (0..n).map(|k| entry(first + k, term, len)).collect();
                m.log.truncate((first - 1) as usize);
                m.log.extend(batch.iter().cloned());
                m.state = hs(term, 1, m.state.commit);
                m.bytes += n * len as u64;
                wal.save(&m.state, &batch).unwrap();
            }
            Op::Commit => {
                m.state.commit = m.log.len() as u64;
                wal.save(&m.state, &[]).unwrap();
            }
            Op::Cut => wal.cut_early().unwrap(),
            Op::Snapshot => {
                let index = m.state.commit;
                let term = if index == 0 { 0 } else { m.log[index as usize - 1].term };
                m.snap = (index, term);
                wal.save_snapshot(&marker(index, term)).unwrap();
            }
        }
    }
    let segments = wal.locked_segments().len() as u64;
    *cuts += segments - 1;
    prop_assert!(
        m.bytes < 4 * segment_size || segments >= 2,
        "{} payload bytes in segments of {segment_size} but only {segments} segment(s)",
        m.bytes
    );
    wal.close().unwrap();

    let markers = snapshot_markers(&*disk, "wal").unwrap();
    prop_assert!(markers.iter().all(|s| s.index <= m.state.commit));
    prop_assert!(
        markers.iter().any(|s| (s.index, s.term) == m.snap),
        "last marker {:?} missing from {:?}",
        m.snap,
        markers
    );

    // Reopen from the start and from the last marker.
    for (index, term) in [(0, 0), m.snap] {
        let (wal, got) =
            Wal::open(dyn_disk(&disk), "wal", &marker(index, term), config(segment_size))
                .map_err(|e| TestCaseError::fail(format!("open at {index}: {e}")))?;
        prop_assert_eq!(&got.metadata, b"roundtrip");
        prop_assert_eq!(got.hard_state, m.state);
        prop_assert_eq!(&got.entries[..], &m.log[index as usize..]);
        prop_assert_eq!(wal.last_index() >= m.log.len() as u64, true);
        drop(wal);
        let read = read_all(&*disk, "wal", &marker(index, term)).unwrap();
        prop_assert_eq!(read, got);
    }
    Ok(())
}

#[test]
fn reopen_returns_the_model_across_many_cuts() {
    let config = Config { cases: 48, failure_persistence: None, ..Config::default() };
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha));
    let strategy =
        (prop_oneof![Just(256u64), Just(512), Just(2048)], prop::collection::vec(op(), 1..60));
    let cuts = std::cell::Cell::new(0);
    runner
        .run(&strategy, |(size, ops)| {
            let mut c = 0;
            let r = run(size, &ops, &mut c);
            cuts.set(cuts.get() + c);
            r
        })
        .unwrap();
    assert!(
        cuts.get() >= 100,
        "only {} cuts in all cases: the test does not stress cuts",
        cuts.get()
    );
}
