//! The restart storage oracle on a real 3-node cluster over `MvccSm`, after a power loss that
//! keeps each store's durable consistent index but not the WAL's last commit index (a hard state
//! that only moves the commit index is saved without a sync). Every restarted member must come
//! up with its applied index at its store's consistent index, so that members at the same
//! applied index hold the same state and the oracle compares like with like.

use raft::server::{ClientRequest, ClientResponse, Request, StateMachine};
use scenarios::cluster::Cluster;
use scenarios::oracle::storage::StorageOracle;
use scenarios::plan::Knobs;
use scenarios::sm::MvccSm;
use sim::time::Duration;
use sim::world::WorldConfig;
use sim::NodeId;

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

/// (applied index, consistent index) of node `n`, if it runs.
fn position(c: &Cluster<MvccSm>, n: u32) -> Option<(u64, u64)> {
    c.running(n).map(|r| (r.applied_index(), r.state_machine().consistent_index()))
}

/// Runs until a stable leader among the running members; returns it.
fn await_leader(c: &mut Cluster<MvccSm>) -> u32 {
    let until = c.w.now() + ms(10_000);
    while c.leader().is_none() && c.w.now() < until && c.w.step() {}
    c.leader().unwrap_or_else(|| panic!("no leader by {}", c.w.now()))
}

/// Sends `n` puts one after another through `to`, each answered before the next.
fn put_sequentially(c: &mut Cluster<MvccSm>, to: u32, n: u64, first_id: u64) {
    for id in first_id..first_id + n {
        let request = Request::Put { key: format!("k{id}").into(), value: b"v".to_vec() };
        c.w.request(NodeId(to), ClientRequest { id, request });
        let until = c.w.now() + ms(10_000);
        let mut answer = None;
        while answer.is_none() && c.w.now() < until && c.w.step() {
            for (_, _, ClientResponse { id: got, result }) in c.w.take_responses() {
                assert_eq!(got, id, "only one request is in flight");
                answer = Some(result);
            }
        }
        let answer = answer.unwrap_or_else(|| panic!("put {id} unanswered by {}", c.w.now()));
        assert!(answer.is_ok(), "put {id}: {answer:?}");
    }
}

/// Runs until `nodes` all applied at least `min`.
fn await_applied(c: &mut Cluster<MvccSm>, nodes: &[u32], min: u64) {
    let until = c.w.now() + ms(10_000);
    let done = |c: &Cluster<MvccSm>| {
        nodes.iter().all(|&n| position(c, n).is_some_and(|(applied, _)| applied >= min))
    };
    while !done(c) && c.w.now() < until && c.w.step() {}
    let at: Vec<_> = nodes.iter().map(|&n| position(c, n)).collect();
    assert!(done(c), "{nodes:?} not at {min} by {}: {at:?}", c.w.now());
}

/// A follower goes down at applied index K; the other two apply K+3 and lose power; the leader
/// and the lagging follower restart. The leader's store holds K+3 while its WAL's synced commit
/// index trails it, and the follower reaches that commit index while the new term is being
/// established: if the leader's applied index started at the WAL's commit, both would report
/// the same applied index over different stores (swarm seed 6: "node 1 after restart disagrees
/// with node 2 at applied index 6"). The oracle, observing between steps as the runner does,
/// reports nothing, and compares both restarts.
#[test]
fn after_a_power_loss_restarted_stores_stand_at_their_applied_index_and_agree() {
    let mut c = Cluster::<MvccSm>::new(61, 3, &Knobs::default(), WorldConfig::default());
    let leader = await_leader(&mut c);
    let lagging = (1..=3).find(|&n| n != leader).expect("a follower");
    let other = (1..=3).find(|&n| n != leader && n != lagging).expect("a second follower");
    put_sequentially(&mut c, leader, 5, 1);
    let k = c.running(leader).expect("leader runs").applied_index();
    await_applied(&mut c, &[1, 2, 3], k);
    c.w.crash(NodeId(lagging));
    put_sequentially(&mut c, leader, 3, 100);
    await_applied(&mut c, &[leader, other], k + 3);
    c.w.crash(NodeId(leader));
    c.w.crash(NodeId(other));

    let mut oracle = StorageOracle::new();
    c.w.restart(NodeId(leader));
    c.w.restart(NodeId(lagging));
    let members = [1, 2, 3];
    let until = c.w.now() + ms(10_000);
    loop {
        oracle.observe(&c, &members, c.w.last_stepped_node().map(|n| n.0));
        assert_eq!(oracle.violation(), None, "at {}", c.w.now());
        for n in [leader, lagging] {
            if let Some((applied, consistent)) = position(&c, n) {
                assert_eq!(applied, consistent, "node {n} at {}", c.w.now());
            }
        }
        let (l, f) = (position(&c, leader), position(&c, lagging));
        if l.is_some_and(|l| l.0 > k + 3) && l == f {
            break;
        }
        assert!(c.w.now() < until && c.w.step(), "not caught up by {}", c.w.now());
    }
    assert_eq!(oracle.checked, 2, "both restarts checked");
    assert_eq!(oracle.compared, 2, "both restarts compared");
    assert_eq!(oracle.unmatched(), 0);
    let (l, f) = (c.running(leader).unwrap(), c.running(lagging).unwrap());
    assert_eq!(l.state_machine().hash().unwrap(), f.state_machine().hash().unwrap());
}
