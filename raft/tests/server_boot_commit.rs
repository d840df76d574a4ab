//! A restarted member's applied index must describe its state machine from the first Ready.
//!
//! The state machine makes its applied entries durable on its own (MemKv: after every batch),
//! while a hard state that only moves the commit index is saved without a sync (etcd's
//! MustSync). After a power loss the state machine may therefore hold entries past the commit
//! index the WAL remembers. Raft's applied index then lagged the state: the node reported
//! "applied 1096" while its store held entry 1097, so its digest differed from every peer at
//! 1096 (`dst run crash-anywhere --seed 1`, storage oracle), and a snapshot taken at the applied
//! index would have carried the next entry's effect too (a member restoring it would apply that
//! entry twice). Boot raises raft's commit index to the state machine's consistent index.

mod server_harness;

use raft::core::SnapshotMetadata;
use raft::server::boot::WAL_DIR;
use raft::server::StateMachine;
use server_harness::{ms, TestCluster};
use sim::NodeId;

/// What a follower restarted alone (nobody to tell it the commit index) looked like.
struct Restarted {
    /// The commit index of the last hard state that survived in its WAL.
    wal_commit: u64,
    consistent_index: u64,
    applied: u64,
    commit: u64,
}

fn restart_follower_alone(seed: u64) -> Restarted {
    let mut c = TestCluster::new(seed, |_| {});
    let l = c.await_stable_leader(ms(10_000));
    let f = c.nodes().into_iter().find(|n| *n != l).expect("a follower");
    for i in 0..20 {
        c.put(l, &format!("k{i}"), "v");
        c.run_for(ms(2));
    }
    let nodes = c.nodes();
    let min = c.running(l).expect("leader up").applied_index();
    c.await_converged(&nodes, min, ms(5_000));
    for n in c.nodes() {
        if n != f {
            c.w.stop(n);
        }
    }
    c.w.crash(f);
    let disk = c.w.disk(f);
    let wal = raft::wal::read_all(&*disk, WAL_DIR, &SnapshotMetadata::default())
        .expect("the follower's WAL reads back");
    c.w.restart(f);
    c.run_for(ms(1));
    let r = c.running(f).unwrap_or_else(|| panic!("seed {seed}: {f} did not restart"));
    Restarted {
        wal_commit: wal.hard_state.commit,
        consistent_index: r.state_machine().consistent_index(),
        applied: r.applied_index(),
        commit: r.commit_index(),
    }
}

#[test]
fn applied_index_reaches_the_state_machine_at_boot() {
    let mut behind = 0;
    for seed in 0..12 {
        let r = restart_follower_alone(seed);
        assert!(r.consistent_index > 0, "seed {seed}: nothing was applied before the crash");
        if r.wal_commit < r.consistent_index {
            behind += 1;
        }
        assert_eq!(
            r.applied, r.consistent_index,
            "seed {seed}: applied index {} but the state machine holds entries up to {} (WAL \
             commit {})",
            r.applied, r.consistent_index, r.wal_commit
        );
        assert!(r.commit >= r.applied, "seed {seed}: commit {} < applied {}", r.commit, r.applied);
    }
    assert!(behind > 0, "no seed lost the unsynced commit index: the case is not exercised");
}

/// The planted bug `boot-commit-from-wal-only` undoes the raise: some restarted follower then
/// reports an applied index below its state machine's consistent index.
#[test]
fn without_the_raise_the_applied_index_lags_the_state_machine() {
    let _b = sim::planted::Activation::new(Some(&raft::planted::BOOT_COMMIT_FROM_WAL_ONLY));
    let lagging = (0..12)
        .filter(|&seed| {
            let r = restart_follower_alone(seed);
            r.applied < r.consistent_index
        })
        .count();
    assert!(lagging > 0, "with the bug every restarted follower still reached its state");
}

/// A restarted member that did not get ahead of its WAL changes nothing: same index both ways.
#[test]
fn restart_without_a_crash_keeps_applied_and_consistent_index_equal() {
    let mut c = TestCluster::new(7, |_| {});
    let l = c.await_stable_leader(ms(10_000));
    let id = c.put(l, "a", "1");
    c.await_answers(&[id], ms(2_000));
    let f: NodeId = c.nodes().into_iter().find(|n| *n != l).expect("a follower");
    let nodes = c.nodes();
    let min = c.running(l).expect("leader up").applied_index();
    c.await_converged(&nodes, min, ms(5_000));
    c.w.stop(f);
    c.w.restart(f);
    c.run_for(ms(1));
    let r = c.running(f).expect("restarted");
    assert_eq!(r.applied_index(), r.state_machine().consistent_index());
    assert_eq!(r.state_machine().get(b"a"), Some(&b"1"[..]));
}
