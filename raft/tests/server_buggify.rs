//! Each BUGGIFY site of the raft stack fires when it is the only active site, changes what the
//! node does, and the cluster still serves: every write is acknowledged, and the members converge
//! on the same state.

mod server_harness;

use raft::buggify::{self, SITES};
use raft::server::OpResult;
use server_harness::{ms, TestCluster};
use sim::buggify::BuggifyConfig;
use sim::io::Disk;
use sim::world::WorldConfig;
use sim::NodeId;

/// A cluster where only `site` is active and fires often; it writes `writes` keys one by one
/// through the leader, then converges. Returns the cluster and a digest of its run (the trace
/// hash and the count of disk operations).
fn run_with(site: Option<&str>, writes: usize) -> (TestCluster, u64) {
    let buggify = match site {
        Some(s) => BuggifyConfig {
            enabled: true,
            activation: 1.0,
            firing: 0.3,
            only: Some(vec![s.to_string()]),
        },
        None => BuggifyConfig::default(),
    };
    let config = WorldConfig { buggify, ..WorldConfig::default() };
    let mut c = TestCluster::with_world(77, config, |_| {});
    let mut acked = 0;
    let mut tries = 0;
    while acked < writes {
        tries += 1;
        assert!(tries < writes * 20, "{site:?}: only {acked} of {writes} writes acknowledged");
        let l = c.await_stable_leader(ms(20_000));
        let id = c.put(l, &format!("k{acked}"), &format!("v{acked}"));
        c.await_answers(&[id], ms(10_000));
        if matches!(c.outcome(id), Ok(OpResult::Put { .. })) {
            acked += 1;
        }
    }
    // Some seconds of ticks and heartbeats too.
    c.run_for(ms(3_000));
    let all = [NodeId(1), NodeId(2), NodeId(3)];
    let applied = all.iter().filter_map(|n| c.running(*n)).map(|r| r.applied_index()).max();
    c.await_converged(&all, applied.unwrap_or(0), ms(20_000));
    let dump = c.dump(NodeId(1));
    for n in &all[1..] {
        assert_eq!(c.dump(*n), dump, "{site:?}: node {n} differs from node 1");
    }
    let v = c.value(NodeId(1), &format!("k{}", writes - 1));
    assert_eq!(v.as_deref(), Some(format!("v{}", writes - 1).as_bytes()), "{site:?}");
    // What a site changes shows in the trace (messages, timing) or on the disks (operations).
    let ops: u64 = all.iter().map(|n| c.w.disk(*n).ops()).sum();
    let hash = sim::trace::mix(c.w.trace_hash(), ops);
    (c, hash)
}

#[test]
fn every_raft_site_fires_changes_the_run_and_the_cluster_still_serves() {
    let (_, quiet) = run_with(None, 30);
    for site in SITES {
        let (c, hash) = run_with(Some(site.name), 30);
        let fired = c.w.buggify_fired().get(site.name).copied().unwrap_or(0);
        assert!(fired > 0, "{} never fired", site.name);
        assert!(c.w.buggify_fired().keys().all(|k| *k == site.name), "only {} may fire", site.name);
        // MemKv commits whenever it is asked, so an early commit is what it does anyway (the
        // MVCC store batches: scenarios' swarm runs exercise this site on it). An extreme
        // election timeout shows only when an election comes (not under a steady leader).
        let unseen =
            [buggify::COMMIT_EARLY, buggify::ELECTION_TIMEOUT_MIN, buggify::ELECTION_TIMEOUT_MAX];
        if !unseen.contains(&site.name) {
            assert_ne!(hash, quiet, "{} fired {fired} times but changed nothing", site.name);
        }
    }
}

#[test]
fn an_early_cut_leaves_many_small_segments_and_an_early_snapshot_takes_snapshots() {
    let (c, _) = run_with(Some(buggify::WAL_EARLY_CUT), 30);
    let segments = c.w.disk(NodeId(1)).list("member/wal").unwrap();
    let wal = segments.iter().filter(|n| n.ends_with(".wal")).count();
    assert!(wal > 3, "one 64 KiB segment holds 30 writes; early cuts made {wal}: {segments:?}");
    let (c, _) = run_with(Some(buggify::SNAPSHOT_EARLY), 30);
    let snaps: u64 =
        [1, 2, 3].iter().filter_map(|n| c.running(NodeId(*n))).map(|r| r.metrics().snapshots).sum();
    assert!(snaps > 0, "snapshot_count is 10,000: only early snapshots can exist");
}
