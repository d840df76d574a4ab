//! Puts, ranges, deletes and txns on a 3-node simulated cluster: every request succeeds, and
//! every node holds the same state after apply.

mod server_harness;

use raft::server::{Compare, CompareOp, CompareTarget, Op, OpResult, Request, ServerError};
use server_harness::{ms, TestCluster};
use sim::NodeId;

fn kvs(out: &server_harness::Outcome) -> Vec<(Vec<u8>, Vec<u8>)> {
    match out {
        Ok(OpResult::Range { kvs, .. }) => {
            kvs.iter().map(|k| (k.key.clone(), k.value.clone())).collect()
        }
        other => panic!("not a range result: {other:?}"),
    }
}

#[test]
fn requests_before_an_election_fail_with_a_retryable_no_leader() {
    let mut c = TestCluster::new(7, |_| {});
    c.w.run_until(sim::Instant::ZERO + ms(1));
    let id = c.put(NodeId(1), "a", "1");
    c.await_answers(&[id], ms(10));
    assert_eq!(c.outcome(id), &Err(ServerError::NoLeader));
    assert!(ServerError::NoLeader.retryable());
}

#[test]
fn puts_ranges_deletes_and_txns_replicate_to_every_node() {
    let mut c = TestCluster::new(11, |_| {});
    let leader = c.await_stable_leader(ms(10_000));
    let follower = c.nodes().into_iter().find(|n| *n != leader).unwrap();
    let p1 = c.put(leader, "a", "1");
    let p2 = c.put(follower, "b", "2"); // forwarded to the leader by raft
    let p3 = c.put(leader, "c", "3");
    c.await_answers(&[p1, p2, p3], ms(5_000));
    for id in [p1, p2, p3] {
        assert!(matches!(c.outcome(id), Ok(OpResult::Put { .. })), "put {id}: {:?}", c.outcome(id));
    }
    let txn = c.send(
        follower,
        Request::Txn {
            compares: vec![Compare {
                key: b"a".to_vec(),
                op: CompareOp::Equal,
                target: CompareTarget::Value(b"1".to_vec()),
            }],
            success: vec![
                Op::Put { key: b"a".to_vec(), value: b"10".to_vec() },
                Op::Range { key: b"b".to_vec(), range_end: Vec::new() },
            ],
            failure: vec![],
        },
    );
    let failing = c.send(
        leader,
        Request::Txn {
            compares: vec![Compare {
                key: b"zz".to_vec(),
                op: CompareOp::Greater,
                target: CompareTarget::Version(0),
            }],
            success: vec![Op::Put { key: b"never".to_vec(), value: b"x".to_vec() }],
            failure: vec![Op::Put { key: b"else".to_vec(), value: b"y".to_vec() }],
        },
    );
    c.await_answers(&[txn, failing], ms(5_000));
    match c.outcome(txn) {
        Ok(OpResult::Txn { succeeded: true, results, .. }) => {
            assert!(matches!(&results[1], OpResult::Range { kvs, .. } if kvs[0].value == b"2"));
        }
        other => panic!("txn: {other:?}"),
    }
    assert!(matches!(c.outcome(failing), Ok(OpResult::Txn { succeeded: false, .. })));
    let del = c.send(leader, Request::DeleteRange { key: b"b".to_vec(), range_end: b"c".to_vec() });
    c.await_answers(&[del], ms(5_000));
    assert!(matches!(c.outcome(del), Ok(OpResult::DeleteRange { deleted: 1, .. })));

    // A linearizable read on a follower sees every acknowledged write.
    let lin = c.send(
        follower,
        Request::Range { key: b"a".to_vec(), range_end: vec![0], serializable: false },
    );
    c.await_answers(&[lin], ms(5_000));
    let expect: Vec<(Vec<u8>, Vec<u8>)> = vec![
        (b"a".to_vec(), b"10".to_vec()),
        (b"c".to_vec(), b"3".to_vec()),
        (b"else".to_vec(), b"y".to_vec()),
    ];
    assert_eq!(kvs(c.outcome(lin)), expect);

    let leader_applied = c.running(leader).unwrap().applied_index();
    c.await_converged(&c.nodes(), leader_applied, ms(5_000));
    for n in c.nodes() {
        assert_eq!(c.dump(n), expect, "state of {n}");
        // Serializable reads are served locally, and after convergence agree.
        let s = c.send(
            n,
            Request::Range { key: b"c".to_vec(), range_end: Vec::new(), serializable: true },
        );
        c.await_answers(&[s], ms(1));
        assert_eq!(kvs(c.outcome(s)), vec![(b"c".to_vec(), b"3".to_vec())]);
    }
    let m = c.running(leader).unwrap().metrics();
    assert!(m.has_leader && m.leader_changes >= 1, "{m}");
    assert_eq!(m.proposals_applied, leader_applied);
    assert_eq!(m.proposals_pending, 0);
}

#[test]
fn compaction_errors_are_not_retryable() {
    let mut c = TestCluster::new(5, |_| {});
    let leader = c.await_stable_leader(ms(10_000));
    let p = c.put(leader, "k", "v");
    c.await_answers(&[p], ms(5_000));
    let future = c.send(leader, Request::Compact { revision: 1000 });
    let ok = c.send(leader, Request::Compact { revision: 1 });
    c.await_answers(&[future, ok], ms(5_000));
    match c.outcome(future) {
        Err(e @ ServerError::Op(_)) => assert!(!e.retryable()),
        other => panic!("compact to a future revision: {other:?}"),
    }
    assert_eq!(c.outcome(ok), &Ok(OpResult::Compact { revision: 1 }));
}
