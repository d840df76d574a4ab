//! A follower that crashes right after installing a leader's snapshot boots at that snapshot.
//!
//! Installing a snapshot writes the snapshot file, its WAL marker (synced), then the hard state
//! whose commit index reaches the snapshot, and then restores the state machine, which makes the
//! restored state durable at once. Raft asks for no sync when only the commit index moved, and
//! boot trusts a marker only under a durable commit at or past it (etcd's
//! `ValidSnapshotEntries`). A crash before the next sync lost that hard state: the member booted
//! from its previous snapshot with a log ending far below its state machine
//! (`dst run swarm --seed 73`: "applied index 466 but its state machine stands at consistent
//! index 690"). The hard state is now synced whenever a snapshot is saved.

mod server_harness;

use raft::server::StateMachine;
use server_harness::{ms, TestCluster};

const SNAPSHOT_COUNT: u64 = 20;

/// (snapshot index the follower installed, its consistent index and applied index after the
/// crash and a restart alone).
fn crash_right_after_install(seed: u64) -> (u64, u64, u64) {
    let mut c = TestCluster::new(seed, |cfg| {
        cfg.snapshot_count = SNAPSHOT_COUNT;
        cfg.catch_up_entries = 3;
    });
    let l = c.await_stable_leader(ms(10_000));
    let f = c.nodes().into_iter().find(|n| *n != l).expect("a follower");
    c.w.crash(f);
    let mut ids = Vec::new();
    for i in 0..3 * SNAPSHOT_COUNT {
        ids.push(c.put(l, &format!("k{i:03}"), "v"));
        c.run_for(ms(3));
    }
    c.await_answers(&ids, ms(5_000));
    let snap = c.running(l).expect("leader up").snapshot_index();
    assert!(snap > 0, "seed {seed}: the leader took no snapshot");
    c.w.restart(f);
    let until = c.w.now() + ms(5_000);
    c.w.run_while(until, |w| {
        let sm = w.node(f).and_then(|x| x.running()).map(|r| r.state_machine().consistent_index());
        sm.unwrap_or(0) < snap
    });
    let installed = c.running(f).expect("follower up").state_machine().consistent_index();
    assert!(installed >= snap, "seed {seed}: the follower never installed snapshot {snap}");
    // Crash at once: nothing after the install had a chance to sync.
    c.w.crash(f);
    for n in c.nodes() {
        if n != f {
            c.w.stop(n);
        }
    }
    c.w.restart(f);
    c.run_for(ms(1));
    let r = c.running(f).unwrap_or_else(|| panic!("seed {seed}: {f} did not restart"));
    (installed, r.state_machine().consistent_index(), r.applied_index())
}

#[test]
fn a_follower_crashed_after_installing_a_snapshot_boots_at_it() {
    for seed in 0..6 {
        let (installed, consistent, applied) = crash_right_after_install(seed);
        assert_eq!(consistent, installed, "seed {seed}: the restored state did not survive");
        assert_eq!(
            applied, consistent,
            "seed {seed}: booted at applied index {applied}, the state machine holds {consistent}"
        );
    }
}

/// The planted bug `snapshot-hard-state-unsynced` undoes the fix: some follower then boots with
/// its applied index below what its state machine holds.
#[test]
fn without_the_hard_state_sync_a_crash_after_install_boots_below_the_state() {
    let _b = sim::planted::Activation::new(Some(&raft::planted::SNAPSHOT_HARD_STATE_UNSYNCED));
    let broken = (0..6)
        .filter(|&seed| {
            let (installed, consistent, applied) = crash_right_after_install(seed);
            consistent != installed || applied != consistent
        })
        .count();
    assert!(broken > 0, "with the bug every follower still booted at its snapshot");
}
