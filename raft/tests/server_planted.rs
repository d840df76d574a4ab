//! The server loop's planted bugs (`raft::planted`, layer `server`) that need a cluster to show:
//! each test switches one on and shows the server now breaks the rule the bug's summary names,
//! and that it keeps the rule when off. (`snapshot-hard-state-unsynced` and
//! `boot-commit-from-wal-only` are shown beside the regression tests they undo:
//! `server_snapshot_crash.rs`, `server_boot_commit.rs`.)

mod server_harness;

use raft::planted;
use raft::server::{OpResult, Request, ServerError};
use server_harness::{ms, TestCluster};
use sim::fault::Fault;
use sim::planted::{Activation, PlantedBug};

fn with_bug<T>(bug: Option<&'static PlantedBug>, f: impl FnOnce() -> T) -> T {
    let _b = Activation::new(bug);
    f()
}

/// A follower misses 60 writes (the leader compacts past them), restarts, and is asked a
/// linearizable read of the last key until it answers: the value it answered with.
fn read_at_a_catching_up_follower(seed: u64) -> Option<Vec<u8>> {
    let mut c = TestCluster::new(seed, |cfg| {
        cfg.snapshot_count = 20;
        cfg.catch_up_entries = 3;
    });
    let l = c.await_stable_leader(ms(10_000));
    let f = c.nodes().into_iter().find(|n| *n != l).expect("a follower");
    c.w.crash(f);
    let mut ids = Vec::new();
    for i in 0..60 {
        ids.push(c.put(l, "last", &format!("v{i}")));
        c.run_for(ms(3));
    }
    c.await_answers(&ids, ms(5_000));
    c.w.restart(f);
    for _ in 0..2_000 {
        let id = c.send(
            f,
            Request::Range { key: b"last".to_vec(), range_end: vec![], serializable: false },
        );
        c.run_for(ms(5));
        c.await_answers(&[id], ms(10_000));
        if let Ok(OpResult::Range { kvs, .. }) = c.outcome(id) {
            return Some(kvs.first().map(|kv| kv.value.clone()).unwrap_or_default());
        }
    }
    None
}

#[test]
fn read_before_apply_serves_a_stale_linearizable_read() {
    let seeds = 0..6;
    for seed in seeds.clone() {
        let got = with_bug(None, || read_at_a_catching_up_follower(seed));
        assert_eq!(
            got.as_deref(),
            Some(&b"v59"[..]),
            "seed {seed}: the read saw every write before it"
        );
    }
    let stale = with_bug(Some(&planted::READ_BEFORE_APPLY), || {
        seeds.filter(|&s| read_at_a_catching_up_follower(s).as_deref() != Some(&b"v59"[..])).count()
    });
    assert!(stale > 0, "with the bug no read was served before the follower caught up");
}

/// A put sent to a follower that is cut off right after forwarding it: (its answer, whether the
/// leader applied it).
fn put_through_a_follower_cut_off(seed: u64) -> (Result<OpResult, ServerError>, bool) {
    let mut c = TestCluster::new(seed, |cfg| cfg.request_timeout = ms(3_000));
    let l = c.await_stable_leader(ms(10_000));
    let f = c.nodes().into_iter().find(|n| *n != l).expect("a follower");
    let warm = c.put(l, "warm", "up");
    c.await_answers(&[warm], ms(5_000));
    let nodes = c.nodes();
    let before = c.running(l).expect("leader up").commit_index();
    c.await_converged(&nodes, before, ms(5_000));
    let id = c.put(f, "k", "forwarded");
    // Cut the follower off the moment the leader commits the forwarded put, before the follower
    // can hear of it.
    let until = c.w.now() + ms(1_000);
    c.w.run_while(until, |w| {
        w.node(l).and_then(|x| x.running()).is_some_and(|r| r.commit_index() == before)
    });
    c.w.apply(&Fault::Isolate { node: f.0 });
    c.await_answers(&[id], ms(10_000));
    let applied = c.value(l, "k").is_some();
    (c.outcome(id).clone(), applied)
}

#[test]
fn timeout_as_no_leader_reports_a_committed_put_as_not_done() {
    let (answer, applied) = with_bug(None, || put_through_a_follower_cut_off(1));
    assert!(applied, "the forwarded put committed on the leader's side");
    assert_eq!(answer, Err(ServerError::Timeout), "its outcome is unknown to the follower");
    let (answer, applied) =
        with_bug(Some(&planted::TIMEOUT_AS_NO_LEADER), || put_through_a_follower_cut_off(1));
    assert!(applied);
    assert_eq!(answer, Err(ServerError::NoLeader), "with the bug: a definite failure");
}

/// Writes, lets every member apply them, and restarts a follower: whether the restart panicked
/// with the state machine's "apply at or below the consistent index" assertion.
fn restart_reapplies(seed: u64) -> bool {
    let mut c = TestCluster::new(seed, |_| {});
    let l = c.await_stable_leader(ms(10_000));
    let ids: Vec<u64> = (0..10).map(|i| c.put(l, &format!("k{i}"), "v")).collect();
    c.await_answers(&ids, ms(5_000));
    let nodes = c.nodes();
    let min = c.running(l).expect("leader up").applied_index();
    c.await_converged(&nodes, min, ms(5_000));
    let f = c.nodes().into_iter().find(|n| *n != l).expect("a follower");
    c.w.stop(f);
    let restarted = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        c.w.restart(f);
        c.run_for(ms(500));
    }));
    match restarted {
        Ok(()) => false,
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            let twice = msg.contains("at or below the consistent index")
                || msg.contains("skip of applied index");
            assert!(twice, "another panic: {msg}");
            true
        }
    }
}

#[test]
fn reapply_at_consistent_index_applies_an_entry_twice_after_a_restart() {
    assert!(!with_bug(None, || restart_reapplies(2)), "a restart applies nothing twice");
    assert!(
        with_bug(Some(&planted::REAPPLY_AT_CONSISTENT_INDEX), || restart_reapplies(2)),
        "with the bug the entry at the consistent index is applied again"
    );
}

/// A follower forwards a put and crashes before the leader's append of it reaches it; the put
/// commits without it. Restarted, it is sent a delete — its new incarnation's first proposal,
/// under the same waiter key as the put — until it knows a leader: the delete's answer.
fn delete_after_restart_with_old_put_in_flight(seed: u64) -> Result<OpResult, ServerError> {
    let mut c = TestCluster::new(seed, |_| {});
    let l = c.await_stable_leader(ms(10_000));
    let f = c.nodes().into_iter().find(|n| *n != l).expect("a follower");
    let warm = c.put(l, "warm", "up");
    c.await_answers(&[warm], ms(5_000));
    let last = c.running(l).expect("leader up").last_index();
    c.put(f, "a", "old");
    let until = c.w.now() + ms(1_000);
    c.w.run_while(until, |w| {
        w.node(l).and_then(|x| x.running()).is_some_and(|r| r.last_index() == last)
    });
    c.w.crash(f);
    c.w.restart(f);
    for _ in 0..1_000 {
        let del = c.send(f, Request::DeleteRange { key: b"zzz".to_vec(), range_end: vec![] });
        c.await_answers(&[del], ms(10_000));
        if !matches!(c.outcome(del), Err(ServerError::NoLeader)) {
            return c.outcome(del).clone();
        }
        c.run_for(ms(1));
    }
    panic!("seed {seed}: the restarted follower never learned of a leader")
}

#[test]
fn waiters_ignore_boot_answers_a_new_request_with_an_old_incarnations_result() {
    let answer = with_bug(None, || delete_after_restart_with_old_put_in_flight(3));
    assert!(matches!(answer, Ok(OpResult::DeleteRange { deleted: 0, .. })), "{answer:?}");
    let answer = with_bug(Some(&planted::WAITERS_IGNORE_BOOT), || {
        delete_after_restart_with_old_put_in_flight(3)
    });
    assert!(matches!(answer, Ok(OpResult::Put { .. })), "with the bug: {answer:?}");
}
