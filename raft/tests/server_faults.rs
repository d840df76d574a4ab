//! Crashes on a 3-node simulated cluster: a killed leader is replaced without losing an
//! acknowledged write or applying a proposal twice; a restarted follower catches up from the
//! log, or from a snapshot once the log it needs was compacted.

mod server_harness;

use std::collections::BTreeSet;

use raft::server::OpResult;
use server_harness::{ms, TestCluster};
use sim::NodeId;

/// Every origin appears at most once in a node's applied log; returns how many there were.
fn assert_applied_once(c: &TestCluster, n: NodeId) -> usize {
    let r = c.running(n).expect("node up");
    let mut seen = BTreeSet::new();
    for a in r.applied_log() {
        if let Some(o) = a.origin {
            assert!(
                seen.insert((o.member, o.boot, o.key)),
                "{n} applied {o:?} twice (index {})",
                a.index
            );
        }
    }
    seen.len()
}

/// Every acknowledged put is visible on every node in `ns`, and failed ones are absent or
/// hold their own value.
fn assert_acknowledged_kept(
    c: &TestCluster,
    puts: &[(u64, String, String)],
    ns: &[NodeId],
) -> usize {
    let mut acked = 0;
    for (id, key, value) in puts {
        let got: Vec<Option<Vec<u8>>> = ns.iter().map(|n| c.value(*n, key)).collect();
        match c.answers.get(id).map(|(_, o)| o) {
            Some(Ok(OpResult::Put { .. })) => {
                acked += 1;
                for (n, g) in ns.iter().zip(&got) {
                    assert_eq!(
                        g.as_deref(),
                        Some(value.as_bytes()),
                        "acknowledged {key} lost on {n}"
                    );
                }
            }
            Some(Err(e)) => {
                assert!(e.retryable(), "put {id} failed for a non-retryable reason: {e}");
                for g in &got {
                    assert!(g.is_none() || g.as_deref() == Some(value.as_bytes()));
                }
            }
            Some(other) => panic!("put {id}: unexpected {other:?}"),
            None => {}
        }
    }
    acked
}

#[test]
fn killing_the_leader_elects_another_and_keeps_acknowledged_writes() {
    let mut c = TestCluster::new(21, |_| {});
    let old = c.await_stable_leader(ms(10_000));
    let old_term = c.running(old).unwrap().term();
    let mut puts = Vec::new();
    for i in 0..120u32 {
        let n = NodeId(1 + i % 3);
        let (k, v) = (format!("k{i:03}"), format!("v{i}"));
        if c.w.is_up(n) {
            puts.push((c.put(n, &k, &v), k, v));
        }
        if i == 40 {
            c.w.crash(old);
        }
        if i == 90 {
            c.w.restart(old);
        }
        c.run_for(ms(25));
    }
    let new = c.await_stable_leader(ms(10_000));
    assert!(c.running(new).unwrap().term() > old_term, "no new term after the leader died");
    c.run_for(ms(6_000)); // past every request timeout: all answered now
    let hi = c.running(new).unwrap().applied_index();
    let all = c.nodes();
    c.await_converged(&all, hi, ms(10_000));
    let acked = assert_acknowledged_kept(&c, &puts, &all);
    assert!(acked >= 80, "only {acked} of {} puts acknowledged", puts.len());
    let failed =
        puts.iter().filter(|(id, ..)| matches!(c.answers.get(id), Some((_, Err(_))))).count();
    assert!(failed > 0 || acked == puts.len());
    for n in c.nodes().into_iter().filter(|n| *n != old) {
        let applied = assert_applied_once(&c, n);
        // Each put bumps the revision once: the revision counts the puts applied.
        let rev = c.running(n).unwrap().state_machine().revision();
        assert_eq!(rev as usize, applied, "{n}: revision {rev} but {applied} proposals applied");
        assert!(applied >= acked);
    }
    let m = c.running(new).unwrap().metrics();
    assert!(m.leader_changes >= 1 && m.has_leader, "{m}");
}

#[test]
fn a_restarted_follower_catches_up_from_the_log() {
    let mut c = TestCluster::new(33, |_| {});
    let leader = c.await_stable_leader(ms(10_000));
    let f = c.nodes().into_iter().find(|n| *n != leader).unwrap();
    let first: Vec<u64> = (0..10).map(|i| c.put(leader, &format!("a{i}"), "1")).collect();
    c.await_answers(&first, ms(5_000));
    c.w.crash(f);
    let second: Vec<u64> = (0..30).map(|i| c.put(leader, &format!("b{i}"), "2")).collect();
    c.await_answers(&second, ms(5_000));
    assert!(second.iter().all(|id| matches!(c.outcome(*id), Ok(OpResult::Put { .. }))));
    c.w.restart(f);
    let hi = c.running(leader).unwrap().applied_index();
    c.await_converged(&[leader, f], hi, ms(10_000));
    assert_eq!(c.dump(f), c.dump(leader));
    assert_eq!(c.dump(f).len(), 40);
    let log = c.running(f).unwrap().applied_log();
    assert!(
        log.windows(2).all(|p| p[1].index == p[0].index + 1),
        "the log was replayed without gaps"
    );
    assert_eq!(c.running(f).unwrap().snapshot_index(), 0, "no snapshot was needed");
}

#[test]
fn a_restarted_follower_catches_up_from_a_snapshot_when_the_log_was_compacted() {
    let mut c = TestCluster::new(34, |cfg| {
        cfg.snapshot_count = 20;
        cfg.catch_up_entries = 5;
    });
    let leader = c.await_stable_leader(ms(10_000));
    let f = c.nodes().into_iter().find(|n| *n != leader).unwrap();
    let first: Vec<u64> = (0..10).map(|i| c.put(leader, &format!("a{i}"), "1")).collect();
    c.await_answers(&first, ms(5_000));
    c.run_for(ms(500));
    let before = c.running(f).unwrap().applied_index();
    c.w.crash(f);
    let mut second = Vec::new();
    for i in 0..100 {
        second.push(c.put(leader, &format!("b{i}"), "2"));
        c.run_for(ms(5));
    }
    c.await_answers(&second, ms(5_000));
    let l = c.running(leader).unwrap();
    assert!(l.first_log_index() > before + 1, "the leader compacted past the follower");
    assert!(l.metrics().snapshots >= 4, "{}", l.metrics());
    c.w.restart(f);
    let hi = c.running(leader).unwrap().applied_index();
    c.await_converged(&[leader, f], hi, ms(10_000));
    assert_eq!(c.dump(f), c.dump(leader));
    assert_eq!(c.dump(f).len(), 110);
    let r = c.running(f).unwrap();
    assert!(r.snapshot_index() > before, "follower snapshot {} <= {before}", r.snapshot_index());
    // A gap in the entries applied, or a snapshot past the last entry applied one by one (the
    // snapshot a leader sends is taken at its applied index, so nothing may follow it).
    let jumped = r.applied_log().windows(2).any(|p| p[1].index > p[0].index + 1)
        || r.applied_log().first().is_some_and(|a| a.index > before + 1)
        || r.applied_log().last().is_some_and(|a| r.snapshot_index() > a.index);
    assert!(jumped, "the follower skipped entries by installing a snapshot");
    // A put after the catch-up is applied everywhere.
    let last = c.put(f, "after", "x");
    c.await_answers(&[last], ms(5_000));
    assert!(matches!(c.outcome(last), Ok(OpResult::Put { .. })));
}

#[test]
fn a_whole_cluster_restarts_from_snapshots_and_wal_tails() {
    let mut c = TestCluster::new(35, |cfg| {
        cfg.snapshot_count = 10;
        cfg.catch_up_entries = 3;
    });
    let leader = c.await_stable_leader(ms(10_000));
    let ids: Vec<u64> = (0..47).map(|i| c.put(leader, &format!("k{i:02}"), "v")).collect();
    c.await_answers(&ids, ms(5_000));
    assert!(ids.iter().all(|id| matches!(c.outcome(*id), Ok(OpResult::Put { .. }))));
    let hi = c.running(leader).unwrap().applied_index();
    let all = c.nodes();
    c.await_converged(&all, hi, ms(5_000));
    let before = c.dump(leader);
    for n in c.nodes() {
        c.w.crash(n);
    }
    for n in c.nodes() {
        c.w.restart(n);
    }
    c.run_for(ms(1));
    for n in c.nodes() {
        let r = c.running(n).expect("restarted");
        assert!(r.snapshot_index() >= 10, "{n} booted from snapshot {}", r.snapshot_index());
        // Replay skipped what the state machine had already applied: its revision counts
        // every put exactly once.
        assert_eq!(r.state_machine().revision(), 47, "{n}");
    }
    let l = c.await_stable_leader(ms(10_000));
    let p = c.put(l, "after", "x");
    c.await_answers(&[p], ms(5_000));
    assert!(matches!(c.outcome(p), Ok(OpResult::Put { .. })));
    let hi = c.running(l).unwrap().applied_index();
    c.await_converged(&all, hi, ms(5_000));
    for n in c.nodes() {
        let mut want = before.clone();
        want.push((b"after".to_vec(), b"x".to_vec()));
        want.sort();
        assert_eq!(c.dump(n), want, "{n}");
    }
}
