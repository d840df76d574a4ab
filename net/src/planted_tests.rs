//! Each planted bug of this crate switched on: the transport misbehaves the way its summary
//! says (and, where the same test can show it, behaves when the bug is off).

use sim::io::Addr;
use sim::planted::Activation;
use sim::time::Instant;

use crate::cluster::{cluster_id_of, Cluster};
use crate::frame::MessageKind;
use crate::ids::{ClusterId, MemberId};
use crate::planted;
use crate::testkit::{Call, Rig, Wire};
use crate::transport::{ForeignDelivery, Transport, TransportConfig, TransportEvent};
use crate::transport_tests::{id, mesh_with, mesh_with_impostor, msg, received, IC};

/// The impostor (node 2) and a exchange one pipeline message each way; returns the wire.
fn impostor_exchange() -> (Wire, MemberId, MemberId, ClusterId) {
    let (mut w, cs) = mesh_with_impostor();
    let (a, c) = (id(&cs[0], "a"), id(&cs[0], "c"));
    w.call(2, |env, t| t.send(env, [msg(a, MessageKind::Append, 7)]));
    w.call(0, |env, t| t.send(env, [msg(c, MessageKind::General, 8)]));
    w.settle();
    (w, a, c, cs[2].id())
}

#[test]
fn messages_skip_cluster_check_lets_a_same_id_impostor_through() {
    let (w, ..) = impostor_exchange();
    assert!(received(&w, 0).is_empty() && received(&w, 2).is_empty(), "off: all refused");

    let _b = Activation::new(Some(&planted::MESSAGES_SKIP_CLUSTER_CHECK));
    let (w, a, c, impostor_cluster) = impostor_exchange();
    assert!(received(&w, 0).contains(&(c, MessageKind::Append, vec![7; 3])));
    assert_eq!(received(&w, 2), vec![(a, MessageKind::General, vec![8; 3])]);
    let st = w.nodes[0].1.stats();
    assert_eq!(st.foreign_deliveries, 1);
    let first = st.first_foreign_delivery.expect("counted");
    assert_eq!((first.from, first.cluster), (c, impostor_cluster));
    // Streams still open with a checked hello, so they stay refused.
    assert!(!w.nodes[0].1.writer_up(c, crate::frame::StreamType::General));
}

#[test]
fn refused_pipeline_delivered_hands_a_refused_message_to_raft() {
    let _b = Activation::new(Some(&planted::REFUSED_PIPELINE_DELIVERED));
    // Another token: every member ID differs, so the impostor is refused as another cluster.
    let (mut w, cs) = mesh_with(["t", "t", "other"], &[]);
    let a_bad = id(&cs[2], "a");
    let c_bad = id(&cs[2], "c");
    w.call(2, |env, t| t.send(env, [msg(a_bad, MessageKind::General, 5)]));
    w.settle();
    // The refusal is reported as usual...
    assert!(w.events[0].iter().any(|e| matches!(
        e,
        TransportEvent::Refused(crate::refusal::Refusal::ClusterIdMismatch { remote_member, .. })
            if remote_member == &c_bad
    )));
    // ...and the payload reaches the owner anyway.
    assert_eq!(received(&w, 0), vec![(c_bad, MessageKind::General, vec![5; 3])]);
    let st = w.nodes[0].1.stats();
    assert_eq!(st.foreign_deliveries, 1);
    assert!(matches!(
        st.first_foreign_delivery,
        Some(ForeignDelivery { from, cluster, .. }) if from == c_bad && cluster == cs[2].id()
    ));
    assert!(w.nodes[0].1.remote_ids().contains(&c_bad), "the refused sender was learnt");
}

#[test]
fn cluster_id_recomputed_on_add_changes_the_id_of_a_running_cluster() {
    let grow = || {
        let mut c = Cluster::bootstrap(IC, "t").unwrap();
        let boot = c.id();
        let url = vec!["http://n3:2380".to_string()];
        c.add_runtime_member(url, Instant(5_000_000_000), false).unwrap();
        let restored =
            Cluster::restore(c.id(), "t", c.members().cloned().collect(), c.removed().clone())
                .unwrap();
        (boot, c.id(), restored.id(), cluster_id_of(c.member_ids()))
    };
    let (boot, after_add, restored, over_members) = grow();
    assert_eq!((after_add, restored), (boot, boot), "off: the ID never changes");
    assert_ne!(over_members, boot);

    let _b = Activation::new(Some(&planted::CLUSTER_ID_RECOMPUTED));
    let (boot_on, after_add, restored, over_members) = grow();
    assert_eq!(boot_on, boot, "bootstrap computes the same ID");
    assert_eq!(after_add, over_members, "on: the ID follows the member set");
    assert_ne!(after_add, boot);
    assert_eq!(restored, over_members, "and a restore ignores the stored ID");
}

#[test]
fn no_pipeline_fallback_drops_what_the_pipeline_would_carry() {
    let send = || {
        let mut rig = Rig::new();
        let cfg = TransportConfig::new(MemberId(1), ClusterId(7), Addr::new("n1:1"));
        let mut t = Transport::new(cfg);
        // Not started: no stream is up, so only the pipeline can carry messages.
        rig.with(|env| {
            t.add_peer(env, MemberId(2), Addr::new("n2:1"));
            t.send(env, [msg(MemberId(2), MessageKind::General, 1)]);
            t.send(env, [msg(MemberId(2), MessageKind::Snapshot, 2)]);
        });
        let dials = rig.take_calls().iter().filter(|c| matches!(c, Call::Dial(..))).count();
        (dials, t.take_events(), t.stats().messages_dropped)
    };
    assert_eq!(send(), (2, vec![], 0), "off: both go by pipeline");

    let _b = Activation::new(Some(&planted::NO_PIPELINE_FALLBACK));
    let (dials, events, dropped) = send();
    assert_eq!(dials, 1, "on: only the snapshot is dialled");
    assert_eq!(events, vec![TransportEvent::Unreachable { to: MemberId(2) }]);
    assert_eq!(dropped, 1);
}
