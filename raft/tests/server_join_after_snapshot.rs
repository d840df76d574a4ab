//! A member added after the leader's last snapshot catches up from a snapshot that includes it.
//!
//! A new member's log is empty, so once the leader has compacted its log the member needs a
//! snapshot. The leader's stored snapshot predates the member's addition, its configuration
//! does not list the member, and raft refuses a snapshot from a configuration it is not part
//! of: the member stayed empty until the leader happened to take its next snapshot
//! (`dst run swarm --seed 18`: three added members at applied 0 thirty seconds after the heal).
//! Like etcd's merged snapshot message, the server now sends a snapshot of its state at the
//! applied index, with the configuration of that index.

mod server_harness;

use net::cluster::Cluster;
use raft::server::request::MemberRecord;
use raft::server::{ClusterSpec, MemKv, Node, OpResult, Request};
use server_harness::{ms, node_config, opener, TestCluster, IC, TOKEN};
use sim::NodeId;

const SNAPSHOT_COUNT: u64 = 30;

fn put_many(c: &mut TestCluster, prefix: &str, count: u32) -> Vec<u64> {
    let mut ids = Vec::new();
    for i in 0..count {
        let l = c.leader().expect("a leader");
        ids.push(c.put(l, &format!("{prefix}{i:03}"), &format!("{i}")));
        c.run_for(ms(5));
    }
    c.await_answers(&ids, ms(5_000));
    ids
}

#[test]
fn a_member_added_after_the_last_snapshot_catches_up() {
    let mut c = TestCluster::new(5, |cfg| {
        cfg.snapshot_count = SNAPSHOT_COUNT;
        cfg.catch_up_entries = 5;
    });
    let leader = c.await_stable_leader(ms(10_000));
    put_many(&mut c, "a", 35);
    let l = c.running(leader).expect("leader up");
    let snap = l.snapshot_index();
    assert!(snap > 0, "the leader took a snapshot");
    assert!(l.first_log_index() > 1, "and compacted its log");

    let add = c.send(leader, Request::AddMember { peer_urls: vec!["http://n4:2380".into()] });
    c.await_answers(&[add], ms(5_000));
    let Ok(OpResult::Members { member: id4, .. }) = c.outcome(add).clone() else {
        panic!("add member: {:?}", c.outcome(add))
    };
    let boot = Cluster::bootstrap(IC, TOKEN).unwrap();
    let mut members: Vec<MemberRecord> = boot
        .members()
        .map(|m| MemberRecord { id: m.id.0, name: m.name.clone(), peer_urls: m.peer_urls.clone() })
        .collect();
    members.push(MemberRecord {
        id: id4,
        name: "n4".into(),
        peer_urls: vec!["http://n4:2380".into()],
    });
    let spec = ClusterSpec::Join { cluster_id: boot.id().0, token: TOKEN.into(), members, me: id4 };
    c.w.add_node(NodeId(4), move |_| {
        let mut cfg = node_config("n4");
        cfg.cluster = spec.clone();
        cfg.snapshot_count = SNAPSHOT_COUNT;
        cfg.catch_up_entries = 5;
        Node::<MemKv>::new(cfg, opener())
    });
    put_many(&mut c, "b", 5);
    let l = c.running(leader).expect("leader up");
    assert_eq!(l.snapshot_index(), snap, "no newer snapshot was taken: the case is exercised");
    let hi = l.applied_index();
    let all = c.nodes();
    c.await_converged(&all, hi, ms(5_000));
    assert_eq!(c.dump(NodeId(4)), c.dump(leader), "the new member holds every key");
    assert_eq!(c.running(NodeId(4)).unwrap().voters().len(), 4);
}
