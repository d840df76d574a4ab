//! Membership changes under load: a fourth member is added and catches up, then a member is
//! removed and stops; puts keep being acknowledged and none is lost.

mod server_harness;

use net::cluster::Cluster;
use raft::server::request::MemberRecord;
use raft::server::{ClusterSpec, MemKv, Node, OpResult, Request, ServerError};
use server_harness::{ms, node_config, opener, TestCluster, IC, TOKEN};
use sim::world::WorldConfig;
use sim::{Halt, NodeId};

/// Puts `count` keys `prefix{i}` through whichever node leads, `gap` apart; returns
/// (id, key, value) of each.
fn load(c: &mut TestCluster, prefix: &str, count: u32) -> Vec<(u64, String, String)> {
    let mut out = Vec::new();
    for i in 0..count {
        if let Some(l) = c.leader() {
            let (k, v) = (format!("{prefix}{i:03}"), format!("{i}"));
            out.push((c.put(l, &k, &v), k, v));
        }
        c.run_for(ms(10));
    }
    out
}

#[test]
fn a_member_is_added_and_another_removed_under_load() {
    let config = WorldConfig { keep_trace: true, ..WorldConfig::default() };
    let mut c = TestCluster::with_world(41, config, |_| {});
    let leader = c.await_stable_leader(ms(10_000));
    let mut puts = load(&mut c, "a", 20);

    let add = c.send(leader, Request::AddMember { peer_urls: vec!["http://n4:2380".into()] });
    puts.extend(load(&mut c, "b", 20));
    c.await_answers(&[add], ms(5_000));
    let Ok(OpResult::Members { member: id4, voters }) = c.outcome(add).clone() else {
        panic!("add member: {:?}", c.outcome(add))
    };
    assert_eq!(voters.len(), 4);
    assert!(voters.contains(&id4));
    let dup = c.send(leader, Request::AddMember { peer_urls: vec!["http://n4:2380".into()] });
    c.await_answers(&[dup], ms(5_000));
    assert!(matches!(c.outcome(dup), Err(ServerError::BadMembership(_))), "{:?}", c.outcome(dup));

    // Start the new member with the current membership.
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
        Node::<MemKv>::new(cfg, opener())
    });
    puts.extend(load(&mut c, "c", 40));
    let hi = c.running(c.leader().unwrap()).unwrap().applied_index();
    let all = c.nodes();
    c.await_converged(&all, hi, ms(10_000));
    assert_eq!(c.dump(NodeId(4)), c.dump(leader), "the new member holds every key");
    assert_eq!(c.running(NodeId(4)).unwrap().voters().len(), 4);
    // Every member applied every addition alike; the new member, which started with a
    // membership that already lists everyone, replays them from the log without an error.
    let adds: Vec<(Option<NodeId>, String)> =
        c.w.trace()
            .records()
            .iter()
            .filter(|r| r.kind == "server.conf_change" && r.detail.contains("AddNode"))
            .map(|r| (r.node, r.detail.clone()))
            .collect();
    assert!(
        adds.iter().any(|(n, d)| *n == Some(NodeId(4)) && d.contains(&format!("{id4:016x}"))),
        "the new member applied its own addition: {adds:?}"
    );
    assert!(adds.iter().all(|(_, d)| d.contains("-> Ok")), "{adds:#?}");

    // Remove a follower other than the new member.
    let leader = c.leader().unwrap();
    let victim = [NodeId(1), NodeId(2), NodeId(3)].into_iter().find(|n| *n != leader).unwrap();
    let victim_id = c.running(victim).unwrap().id();
    let rm = c.send(leader, Request::RemoveMember { id: victim_id });
    puts.extend(load(&mut c, "d", 20));
    c.await_answers(&[rm], ms(5_000));
    let Ok(OpResult::Members { member, voters }) = c.outcome(rm).clone() else {
        panic!("remove member: {:?}", c.outcome(rm))
    };
    assert_eq!(member, victim_id);
    assert_eq!(voters.len(), 3);
    assert!(!voters.contains(&victim_id));
    c.run_for(ms(2_000));
    assert!(!c.w.is_up(victim), "a removed member stops");
    let reason = c.w.halts().iter().find(|(_, n, _)| *n == victim).map(|(_, _, h)| h.clone());
    assert!(matches!(&reason, Some(Halt::Fatal(r)) if r.contains("removed")), "{reason:?}");

    puts.extend(load(&mut c, "e", 20));
    c.run_for(ms(6_000));
    let rest: Vec<NodeId> = c.nodes().into_iter().filter(|n| *n != victim).collect();
    let hi = c.running(c.leader().unwrap()).unwrap().applied_index();
    c.await_converged(&rest, hi, ms(10_000));
    let mut acked = 0;
    for (id, key, value) in &puts {
        if let Some((_, Ok(_))) = c.answers.get(id) {
            acked += 1;
            for n in &rest {
                assert_eq!(c.value(*n, key).as_deref(), Some(value.as_bytes()), "{key} on {n}");
            }
        }
    }
    assert!(acked as f64 >= puts.len() as f64 * 0.9, "{acked} of {} acknowledged", puts.len());
}

/// A member removed while it was down never applies its removal (nobody replicates to it any
/// more). Like etcd's member on an HTTP 410 from a peer, it stops for good when a peer refuses
/// it as removed, instead of campaigning at refused peers forever.
#[test]
fn a_member_removed_while_down_stops_when_a_peer_refuses_it() {
    let mut c = TestCluster::new(43, |_| {});
    let leader = c.await_stable_leader(ms(10_000));
    let victim = c.nodes().into_iter().find(|n| *n != leader).expect("a follower");
    let victim_id = c.running(victim).expect("up").id();
    c.w.crash(victim);
    let rm = c.send(leader, Request::RemoveMember { id: victim_id });
    c.await_answers(&[rm], ms(5_000));
    assert!(matches!(c.outcome(rm), Ok(OpResult::Members { .. })), "{:?}", c.outcome(rm));
    let halts_before = c.w.halts().len();
    c.w.restart(victim);
    c.run_for(ms(3_000));
    assert!(!c.w.is_up(victim), "the removed member still runs");
    let reason = c.w.halts()[halts_before..]
        .iter()
        .find(|(_, n, _)| *n == victim)
        .map(|(_, _, h)| h.clone());
    assert!(matches!(&reason, Some(Halt::Fatal(r)) if r.contains("removed")), "{reason:?}");
    // The rest keeps serving.
    let l = c.await_leader(ms(5_000));
    let put = c.put(l, "after", "1");
    c.await_answers(&[put], ms(5_000));
    assert!(matches!(c.outcome(put), Ok(OpResult::Put { .. })), "{:?}", c.outcome(put));
}
