//! Operational behaviour: fail-stop on a WAL sync error, clean request timeouts, metrics in
//! the trace, and determinism of whole-cluster runs.

mod server_harness;

use raft::server::{OpResult, Request, ServerError};
use server_harness::{ms, TestCluster};
use sim::world::WorldConfig;
use sim::Halt;

#[test]
fn a_wal_sync_error_stops_the_node_with_a_clear_reason_and_the_rest_go_on() {
    let mut c = TestCluster::new(51, |_| {});
    let l = c.await_stable_leader(ms(10_000));
    let ok = c.put(l, "before", "1");
    c.await_answers(&[ok], ms(5_000));
    c.w.disk(l).fail_next_sync("member/wal");
    let doomed = c.put(l, "during", "2");
    c.run_for(ms(100));
    assert!(!c.w.is_up(l), "the leader must stop after an fsync error");
    let reason = c.w.halts().iter().find(|(_, n, _)| *n == l).map(|(_, _, h)| h.clone());
    assert!(
        matches!(&reason, Some(Halt::Fatal(r)) if r.contains("wal save")),
        "halt reason: {reason:?}"
    );
    assert!(!c.answers.contains_key(&doomed), "no answer from a node that failed to persist");
    let new = c.await_stable_leader(ms(10_000));
    assert_ne!(new, l);
    let after = c.put(new, "after", "3");
    c.await_answers(&[after], ms(5_000));
    assert!(matches!(c.outcome(after), Ok(OpResult::Put { .. })));
    assert_eq!(c.value(new, "before").as_deref(), Some(&b"1"[..]));
}

#[test]
fn a_proposal_on_an_isolated_leader_times_out_cleanly() {
    let mut c = TestCluster::new(52, |cfg| cfg.request_timeout = ms(3_000));
    let l = c.await_stable_leader(ms(10_000));
    c.w.net_mut().isolate(l);
    let p = c.put(l, "k", "v");
    let r =
        c.send(l, Request::Range { key: b"k".to_vec(), range_end: vec![], serializable: false });
    c.run_for(ms(2_900));
    assert!(!c.answers.contains_key(&p), "answered before the timeout: {:?}", c.answers.get(&p));
    c.run_for(ms(200));
    assert_eq!(c.outcome(p), &Err(ServerError::Timeout));
    assert!(c.outcome(r).as_ref().is_err_and(|e| e.retryable()), "{:?}", c.outcome(r));
    let m = c.running(l).unwrap().metrics();
    assert_eq!(m.proposals_pending, 0, "{m}");
    assert!(m.proposals_failed >= 1, "{m}");
    // After the partition heals the cluster serves again.
    c.w.net_mut().heal();
    let l2 = c.await_stable_leader(ms(10_000));
    let q = c.put(l2, "k2", "v2");
    c.await_answers(&[q], ms(5_000));
    assert!(matches!(c.outcome(q), Ok(OpResult::Put { .. })));
}

fn traced_run(seed: u64) -> (u64, Vec<String>) {
    let config = WorldConfig { keep_trace: true, ..WorldConfig::default() };
    let mut c = TestCluster::with_world(seed, config, |_| {});
    let l = c.await_stable_leader(ms(10_000));
    let ids: Vec<u64> = (0..20).map(|i| c.put(l, &format!("k{i}"), "v")).collect();
    c.await_answers(&ids, ms(5_000));
    c.run_for(ms(2_000));
    let metrics =
        c.w.trace()
            .records()
            .iter()
            .filter(|r| r.kind == "server.metrics")
            .map(|r| r.detail.clone())
            .collect();
    (c.w.trace_hash(), metrics)
}

#[test]
fn metrics_are_in_the_trace_and_runs_are_deterministic() {
    let (h1, m1) = traced_run(61);
    let (h2, m2) = traced_run(61);
    assert_eq!(h1, h2, "same seed, same trace hash");
    assert_eq!(m1, m2);
    assert!(
        m1.iter().any(|m| m.contains("has_leader=1") && m.contains("leader_changes=1")),
        "{m1:?}"
    );
    let last_applied = m1.iter().rev().find_map(|m| m.split("applied=").nth(1)).unwrap_or("");
    assert!(!last_applied.starts_with('0'), "applied progress shows in the trace: {m1:?}");
}
