//! Transport logic on the zero-latency test wire (see `testkit`). The same behaviours are
//! exercised on the simulated world in `tests/sim_transport.rs`.

use sim::io::{Addr, ConnId, NetEvent};
use sim::time::{Duration, Instant};

use crate::cluster::Cluster;
use crate::frame::{Frame, FrameKind, Header, MessageKind, StreamType};
use crate::ids::MemberId;
use crate::refusal::{Refusal, RefusalCode};
use crate::testkit::{Call, Rig, Wire};
use crate::transport::{Outgoing, Transport, TransportConfig, TransportEvent};

pub(crate) const IC: &str = "a=http://n0:2380,b=http://n1:2380,c=http://n2:2380";
const NAMES: [&str; 3] = ["a", "b", "c"];

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Node i is member NAMES[i] of the cluster bootstrapped with tokens[i]; it knows every other
/// member of *its* view of the cluster, except the pairs in `unknown` (node, name).
pub(crate) fn mesh_with(tokens: [&str; 3], unknown: &[(usize, &str)]) -> (Wire, Vec<Cluster>) {
    mesh_of([(IC, tokens[0]), (IC, tokens[1]), (IC, tokens[2])], unknown)
}

/// Like [`mesh_with`], with each node's own `--initial-cluster` and token.
pub(crate) fn mesh_of(views: [(&str, &str); 3], unknown: &[(usize, &str)]) -> (Wire, Vec<Cluster>) {
    let clusters: Vec<Cluster> =
        views.iter().map(|(ic, t)| Cluster::bootstrap(ic, t).unwrap()).collect();
    let transports = (0..3)
        .map(|i| {
            let c = &clusters[i];
            let me = c.member_by_name(NAMES[i]).unwrap();
            Transport::new(TransportConfig::new(me.id, c.id(), me.peer_addr()))
        })
        .collect();
    let mut w = Wire::new(transports);
    for (i, c) in clusters.iter().enumerate() {
        for m in c.members().filter(|m| m.name != NAMES[i]) {
            if unknown.contains(&(i, m.name.as_str())) {
                continue;
            }
            let (id, addr) = (m.id, m.peer_addr());
            w.call(i, |env, t| t.add_peer(env, id, addr));
        }
    }
    w.start();
    // Members started one after another: the first ones' dials found nobody listening and are
    // retried 100 ms later, when everyone is up.
    w.run_until(Instant::ZERO + ms(100));
    (w, clusters)
}

fn mesh() -> (Wire, Cluster) {
    let (w, mut cs) = mesh_with(["t", "t", "t"], &[]);
    (w, cs.remove(0))
}

pub(crate) fn id(c: &Cluster, name: &str) -> MemberId {
    c.member_by_name(name).unwrap().id
}

pub(crate) fn received(w: &Wire, node: usize) -> Vec<(MemberId, MessageKind, Vec<u8>)> {
    w.events[node]
        .iter()
        .filter_map(|e| match e {
            TransportEvent::Received { from, kind, payload } => {
                Some((*from, *kind, payload.clone()))
            }
            _ => None,
        })
        .collect()
}

pub(crate) fn msg(to: MemberId, kind: MessageKind, b: u8) -> Outgoing {
    Outgoing { to, kind, payload: vec![b; 3].into() }
}

#[test]
fn streams_come_up_and_carry_frames_in_order() {
    let (mut w, c) = mesh();
    let (a, b) = (id(&c, "a"), id(&c, "b"));
    for s in [StreamType::General, StreamType::Append] {
        assert!(w.nodes[0].1.writer_up(b, s) && w.nodes[0].1.reader_up(b, s));
        assert!(w.nodes[1].1.writer_up(a, s) && w.nodes[1].1.reader_up(a, s));
    }
    assert_eq!(w.nodes[0].1.active_since(b), Some(Instant::ZERO));
    let msgs: Vec<Outgoing> = (0..100u8)
        .map(|i| msg(b, if i % 3 == 0 { MessageKind::Append } else { MessageKind::General }, i))
        .collect();
    w.call(0, |env, t| t.send(env, msgs.clone()));
    w.settle();
    let got = received(&w, 1);
    let want: Vec<_> = msgs.iter().map(|m| (a, m.kind, m.payload.as_slice().to_vec())).collect();
    assert_eq!(got, want);
    assert_eq!(w.nodes[0].1.stats().messages_sent_stream, 100);
    assert_eq!(w.nodes[0].1.stats().messages_sent_pipeline, 0);
    assert_eq!(w.nodes[0].1.stats().refusals(), 0);
}

#[test]
fn a_message_on_a_stream_that_is_already_gone_is_dropped_and_reported() {
    let (mut w, c) = mesh();
    let b = id(&c, "b");
    let conn = w.nodes[0].1.writer_conn(b, StreamType::General).expect("stream up");
    // The connection dies under the transport before it has heard of it.
    w.nodes[0].0.net.broken.insert(conn);
    w.call(0, |env, t| t.send(env, [msg(b, MessageKind::General, 1)]));
    assert!(w.events[0].contains(&TransportEvent::Unreachable { to: b }));
    assert_eq!(w.nodes[0].1.stats().messages_dropped, 1);
    assert_eq!(w.nodes[0].1.stats().messages_sent_stream, 0);
    assert!(!w.nodes[0].1.writer_up(b, StreamType::General), "the dead stream is forgotten");
    w.settle();
    assert_eq!(received(&w, 1), vec![]);
}

#[test]
fn falls_back_to_the_pipeline_while_streams_are_down_and_redials_every_100ms() {
    let (mut w, c) = mesh();
    let (a, b) = (id(&c, "a"), id(&c, "b"));
    let dials_before = w.nodes[0].1.stats().stream_dials;
    w.run_until(Instant::ZERO + ms(1000));
    w.partition(0, 1);
    assert!(!w.nodes[0].1.writer_up(b, StreamType::General));
    assert_eq!(w.nodes[0].1.inactive_since(b), Some(Instant::ZERO + ms(1000)));
    assert_eq!(w.nodes[0].1.active_since(b), None);

    // While partitioned, every re-dial fails at once here; one per stream per 100 ms.
    w.run_until(Instant::ZERO + ms(2000));
    assert_eq!(w.nodes[0].1.stats().stream_dials - dials_before, 2 * 10);

    // A message sent while partitioned goes to the pipeline, fails, and is reported.
    w.call(0, |env, t| t.send(env, [msg(b, MessageKind::General, 1)]));
    w.settle();
    assert!(w.events[0].contains(&TransportEvent::Unreachable { to: b }));

    // Healed but before the next re-dial: the pipeline carries the message.
    w.heal();
    w.call(0, |env, t| t.send(env, [msg(b, MessageKind::General, 2)]));
    w.settle();
    assert_eq!(received(&w, 1), vec![(a, MessageKind::General, vec![2; 3])]);
    assert_eq!(w.nodes[0].1.stats().messages_sent_pipeline, 1);

    // The next re-dial, 100 ms after the last failed one, brings the streams back.
    w.run_until(Instant::ZERO + ms(2100));
    assert!(w.nodes[0].1.reader_up(b, StreamType::General));
    assert!(w.nodes[0].1.writer_up(b, StreamType::Append));
    assert_eq!(w.nodes[0].1.active_since(b), Some(Instant::ZERO + ms(2100)));
    w.call(0, |env, t| t.send(env, [msg(b, MessageKind::General, 3)]));
    w.settle();
    assert_eq!(received(&w, 1).len(), 2);
    assert_eq!(w.nodes[0].1.stats().messages_sent_stream, 1);
}

#[test]
fn snapshots_always_use_the_pipeline_and_report_their_outcome() {
    let (mut w, c) = mesh();
    let b = id(&c, "b");
    w.call(0, |env, t| t.send(env, [msg(b, MessageKind::Snapshot, 9)]));
    w.settle();
    assert!(w.events[0].contains(&TransportEvent::SnapshotStatus { to: b, delivered: true }));
    assert_eq!(w.nodes[0].1.stats().messages_sent_pipeline, 1);
    assert_eq!(received(&w, 1)[0].1, MessageKind::Snapshot);

    w.partition(0, 1);
    w.call(0, |env, t| t.send(env, [msg(b, MessageKind::Snapshot, 9)]));
    w.settle();
    assert!(w.events[0].contains(&TransportEvent::SnapshotStatus { to: b, delivered: false }));
}

#[test]
fn a_full_pipeline_queue_drops_and_reports_unreachable() {
    let mut rig = Rig::new();
    let cfg = TransportConfig::new(MemberId(1), crate::ids::ClusterId(7), Addr::new("n1:1"));
    let (conns, queue) = (cfg.pipeline_conns, cfg.pipeline_queue);
    let mut t = Transport::new(cfg);
    // Not started: no streams, so everything goes by pipeline; no dial ever completes.
    rig.with(|env| t.add_peer(env, MemberId(2), Addr::new("n2:1")));
    let n = conns + queue;
    rig.with(|env| {
        t.send(env, (0..n).map(|i| msg(MemberId(2), MessageKind::General, i as u8)));
        t.send(env, [msg(MemberId(2), MessageKind::General, 0)]);
        t.send(env, [msg(MemberId(2), MessageKind::Snapshot, 0)]);
    });
    let dials = rig.take_calls().iter().filter(|c| matches!(c, Call::Dial(..))).count();
    assert_eq!(dials, conns);
    let ev = t.take_events();
    assert_eq!(
        ev,
        vec![
            TransportEvent::Unreachable { to: MemberId(2) },
            TransportEvent::Unreachable { to: MemberId(2) },
            TransportEvent::SnapshotStatus { to: MemberId(2), delivered: false },
        ]
    );
    assert_eq!(t.stats().messages_dropped, 2);
    // Unknown destination: dropped and reported too.
    rig.with(|env| t.send(env, [msg(MemberId(9), MessageKind::General, 0)]));
    assert_eq!(t.take_events(), vec![TransportEvent::Unreachable { to: MemberId(9) }]);
}

#[test]
fn another_cluster_token_is_refused_on_stream_and_pipeline_and_logged_within_the_limit() {
    let (mut w, cs) = mesh_with(["t", "t", "other"], &[]);
    let (good, bad) = (&cs[0], &cs[2]);
    let a = id(good, "a");
    let c_bad = id(bad, "c");
    assert_ne!(good.id(), bad.id());

    // Both sides of the refused stream report the mismatch, each from its own point of view.
    let local_view =
        Refusal::ClusterIdMismatch { local: good.id(), remote: bad.id(), remote_member: c_bad };
    let remote_view =
        Refusal::ClusterIdMismatch { local: bad.id(), remote: good.id(), remote_member: a };
    assert!(w.events[0].contains(&TransportEvent::Refused(local_view.clone())));
    assert!(w.events[2].contains(&TransportEvent::Refused(remote_view.clone())));
    assert_eq!(
        remote_view.to_string(),
        format!("cluster ID mismatch: local={}, remote={} from member {}", bad.id(), good.id(), a)
    );

    // Pipeline both ways: refused, reported unreachable, nothing delivered.
    let c_good = id(good, "c");
    let a_bad = id(bad, "a");
    w.call(0, |env, t| t.send(env, [msg(c_good, MessageKind::General, 1)]));
    w.call(2, |env, t| t.send(env, [msg(a_bad, MessageKind::Snapshot, 2)]));
    w.settle();
    assert!(w.events[0].contains(&TransportEvent::Unreachable { to: c_good }));
    assert!(w.events[2].contains(&TransportEvent::SnapshotStatus { to: a_bad, delivered: false }));

    // A long partition of identities: a minute of re-dials every 100 ms.
    let before = w.nodes[0].1.stats().cluster_id_mismatch;
    w.run_until(Instant::ZERO + Duration::from_secs(60));
    let s0 = w.nodes[0].1.stats().clone();
    assert!(s0.cluster_id_mismatch - before >= 2 * 600, "refusals: {}", s0.cluster_id_mismatch);
    assert_eq!(s0.refusals_by_peer.get(&c_bad).copied(), Some(s0.cluster_id_mismatch));
    for (node, peers) in [(0usize, 1usize), (1, 1), (2, 2)] {
        let log = w.nodes[node].1.log();
        let mut peers_seen = std::collections::BTreeSet::new();
        for p in log.iter().map(|l| l.peer) {
            peers_seen.insert(p);
            let times: Vec<Instant> = log.iter().filter(|l| l.peer == p).map(|l| l.at).collect();
            assert!(times.windows(2).all(|t| t[1] - t[0] >= Duration::from_secs(1)), "node {node}");
            assert!(times.len() <= 61, "node {node}: {} lines for one peer", times.len());
        }
        assert_eq!(peers_seen.len(), peers, "node {node}");
        let st = w.nodes[node].1.stats();
        assert_eq!(st.log_lines + st.log_suppressed, st.refusals());
        assert!(st.log_suppressed > st.log_lines, "node {node}: the limiter must have worked");
    }
    assert!(w.nodes[0].1.log().iter().any(|l| l.text.contains("similar lines suppressed")));
    // The refusal lines are in the trace as well.
    assert!(w.nodes[0]
        .0
        .trace
        .0
        .iter()
        .any(|(k, d)| k == "net.refused" && d.starts_with("cluster ID mismatch")));
    // No payload ever crossed between the two clusters.
    assert!(received(&w, 2).is_empty());
    assert!(received(&w, 0).iter().all(|(from, ..)| *from != c_bad));
    // The healthy pair is unaffected.
    assert!(w.nodes[0].1.reader_up(id(good, "b"), StreamType::General));
}

#[test]
fn unknown_sender_wrong_recipient_and_removed_member_have_their_own_errors() {
    // Node 0 does not know c; c knows node 0.
    let (mut w, cs) = mesh_with(["t", "t", "t"], &[(0, "c")]);
    let c = &cs[0];
    let (a, b, cc) = (id(c, "a"), id(c, "b"), id(c, "c"));
    assert!(w.events[0].contains(&TransportEvent::Refused(Refusal::UnknownSender { from: cc })));
    assert!(w.events[2].contains(&TransportEvent::Refused(Refusal::RefusedByPeer {
        peer: a,
        reason: RefusalCode::UnknownSender
    })));
    assert!(w.nodes[0].1.stats().unknown_sender >= 2);

    // c believes a lives at b's address: its hello reaches b, addressed to a.
    w.call(2, |env, t| t.update_peer(env, a, Addr::new("n1:2380")));
    w.settle();
    assert!(w.events[1].contains(&TransportEvent::Refused(Refusal::WrongRecipient {
        local: b,
        addressed_to: a,
        from: cc
    })));
    assert!(w.nodes[1].1.stats().wrong_recipient >= 2);

    // a removes b: b's streams are cut, its re-dials are refused as a removed member.
    let removed_at = w.now;
    w.call(0, |env, t| t.remove_peer(env, b));
    w.settle();
    w.run_until(w.now + ms(100));
    assert!(w.events[0].contains(&TransportEvent::Refused(Refusal::RemovedMember { from: b })));
    assert!(w.events[1].contains(&TransportEvent::Refused(Refusal::RefusedByPeer {
        peer: a,
        reason: RefusalCode::RemovedMember
    })));
    assert!(w.nodes[0].1.stats().removed_member >= 2);
    assert_eq!(w.nodes[1].1.inactive_since(a), Some(removed_at));
}

#[test]
fn a_member_that_does_not_know_the_sender_still_hears_it_by_pipeline_and_answers_it() {
    // Node 0 (a) has not applied c's addition; c, a newer member, knows a. This is a node that
    // missed a conf change while the new member became leader: it must still be reachable.
    let (mut w, cs) = mesh_with(["t", "t", "t"], &[(0, "c")]);
    let c = &cs[0];
    let (a, cc) = (id(c, "a"), id(c, "c"));
    assert!(!w.nodes[2].1.writer_up(a, StreamType::General), "a refuses c's stream hellos");
    w.call(2, |env, t| t.send(env, [msg(a, MessageKind::Append, 7)]));
    w.settle();
    assert_eq!(received(&w, 0), vec![(cc, MessageKind::Append, vec![7; 3])]);
    assert_eq!(w.nodes[0].1.remote_ids(), vec![cc]);
    assert!(!w.nodes[0].1.peer_ids().contains(&cc), "a remote is not a member");

    // a answers c at the address c's pipeline message carried.
    w.call(0, |env, t| t.send(env, [msg(cc, MessageKind::General, 8)]));
    w.settle();
    assert_eq!(received(&w, 2), vec![(a, MessageKind::General, vec![8; 3])]);
    assert_eq!(w.nodes[0].1.stats().messages_sent_pipeline, 1);
    // A remote is answered by pipeline only: a never dials its streams, and c's hellos are
    // still refused until a learns c is a member.
    let dials = w.nodes[0].1.stats().stream_dials;
    let refused = w.nodes[0].1.stats().unknown_sender;
    w.run_until(w.now + ms(300));
    assert_eq!(w.nodes[0].1.stats().stream_dials, dials);
    assert!(w.nodes[0].1.stats().unknown_sender > refused);

    // a applies c's addition: the remote becomes a peer and the streams come up both ways.
    let addr = c.member(cc).unwrap().peer_addr();
    w.call(0, |env, t| t.add_peer(env, cc, addr));
    w.run_until(w.now + ms(200));
    assert!(w.nodes[0].1.remote_ids().is_empty());
    assert!(w.nodes[0].1.peer_ids().contains(&cc));
    for s in [StreamType::General, StreamType::Append] {
        assert!(w.nodes[0].1.reader_up(cc, s) && w.nodes[0].1.writer_up(cc, s));
        assert!(w.nodes[2].1.reader_up(a, s) && w.nodes[2].1.writer_up(a, s));
    }
}

#[test]
fn a_removed_member_is_not_heard_even_by_pipeline() {
    let (mut w, c) = mesh();
    let (a, b) = (id(&c, "a"), id(&c, "b"));
    w.call(0, |env, t| t.remove_peer(env, b));
    w.settle();
    w.partition(0, 1); // b's streams to a are gone: b falls back to the pipeline
    w.heal();
    w.call(1, |env, t| t.send(env, [msg(a, MessageKind::General, 9)]));
    w.settle();
    assert!(received(&w, 0).is_empty());
    assert!(w.nodes[0].1.remote_ids().is_empty());
    assert!(w.events[0].contains(&TransportEvent::Refused(Refusal::RemovedMember { from: b })));
}

fn hdr(kind: FrameKind, cluster: u64, from: u64, to: u64) -> Header {
    Header { kind, cluster: crate::ids::ClusterId(cluster), from: MemberId(from), to: MemberId(to) }
}

#[test]
fn malformed_frames_close_the_connection_with_a_typed_error() {
    let mut rig = Rig::new();
    let cfg = TransportConfig::new(MemberId(1), crate::ids::ClusterId(7), Addr::new("n1:1"));
    let mut t = Transport::new(cfg);
    rig.with(|env| {
        t.add_peer(env, MemberId(2), Addr::new("n2:1"));
        t.start(env).unwrap();
    });
    rig.take_calls();
    let conn = ConnId(99);
    let accepted = NetEvent::Accepted { conn, local: Addr::new("n1:1") };
    assert!(rig.with(|env| t.on_net(env, accepted)));
    let garbage = NetEvent::Frame {
        conn,
        data: b"definitely not a frame, but long enough to parse".to_vec(),
    };
    assert!(rig.with(|env| t.on_net(env, garbage)));
    assert!(matches!(
        t.take_events().as_slice(),
        [TransportEvent::BadFrame { peer: None, error: crate::frame::FrameError::BadMagic { .. } }]
    ));
    assert_eq!(rig.take_calls(), vec![Call::Close(conn)]);
    assert_eq!(t.stats().bad_frames, 1);
    // A frame kind that makes no sense on an inbound connection is a protocol error too.
    let conn2 = ConnId(100);
    rig.with(|env| t.on_net(env, NetEvent::Accepted { conn: conn2, local: Addr::new("n1:1") }));
    let ack = Frame::new(hdr(FrameKind::Ack, 7, 2, 1), vec![]).encode();
    rig.with(|env| t.on_net(env, NetEvent::Frame { conn: conn2, data: ack }));
    assert_eq!(t.stats().bad_frames, 2);
    // A pipeline message whose sender address is garbage is a bad frame, not a delivery.
    let conn3 = ConnId(101);
    rig.with(|env| t.on_net(env, NetEvent::Accepted { conn: conn3, local: Addr::new("n1:1") }));
    let bad = Frame::new(hdr(FrameKind::Message(MessageKind::General), 7, 2, 1), vec![0, 9, b'x'])
        .encode();
    t.take_events();
    rig.with(|env| t.on_net(env, NetEvent::Frame { conn: conn3, data: bad }));
    assert_eq!(
        t.take_events(),
        vec![TransportEvent::BadFrame {
            peer: Some(MemberId(2)),
            error: crate::frame::FrameError::BadSenderAddress {
                reason: "address runs past the payload"
            }
        }]
    );
    assert_eq!(t.stats().bad_frames, 3);
    // Events for connections and addresses that are not the transport's are left alone.
    assert!(
        !rig.with(
            |env| t.on_net(env, NetEvent::Accepted { conn: ConnId(5), local: Addr::new("x:1") })
        )
    );
    assert!(!rig.with(|env| t.on_net(env, NetEvent::Frame { conn: ConnId(6), data: vec![] })));
    assert!(!rig.with(|env| t.on_timer(env, sim::TimerId(1), 12345)));
}

#[test]
fn a_new_hello_replaces_the_old_stream() {
    let mut rig = Rig::new();
    let cfg = TransportConfig::new(MemberId(1), crate::ids::ClusterId(7), Addr::new("n1:1"));
    let mut t = Transport::new(cfg);
    rig.with(|env| t.add_peer(env, MemberId(2), Addr::new("n2:1")));
    let hello = Frame::new(hdr(FrameKind::Hello(StreamType::General), 7, 2, 1), vec![]).encode();
    for c in [ConnId(10), ConnId(11)] {
        rig.with(|env| {
            t.on_net(env, NetEvent::Accepted { conn: c, local: Addr::new("n1:1") });
            t.on_net(env, NetEvent::Frame { conn: c, data: hello.clone() });
        });
    }
    let calls = rig.take_calls();
    assert!(calls.contains(&Call::Close(ConnId(10))));
    assert!(!calls.contains(&Call::Close(ConnId(11))));
    rig.with(|env| t.send(env, [msg(MemberId(2), MessageKind::General, 5)]));
    assert!(matches!(rig.take_calls().as_slice(), [Call::Send(ConnId(11), _)]));
    assert!(t.writer_up(MemberId(2), StreamType::General));
}

#[test]
fn frames_on_our_own_connections_are_checked_too() {
    let mut rig = Rig::new();
    let cfg = TransportConfig::new(MemberId(1), crate::ids::ClusterId(7), Addr::new("n1:1"));
    let mut t = Transport::new(cfg);
    rig.with(|env| {
        t.add_peer(env, MemberId(2), Addr::new("n2:1"));
        t.start(env).unwrap();
    });
    let reader = rig
        .take_calls()
        .into_iter()
        .find_map(|c| match c {
            Call::Dial(conn, _) => Some(conn),
            _ => None,
        })
        .unwrap();
    rig.with(|env| t.on_net(env, NetEvent::Connected { conn: reader }));
    // The "accepted" answer comes from a member of cluster 8.
    let accepted = Frame::new(hdr(FrameKind::Accepted, 8, 2, 1), vec![]).encode();
    rig.with(|env| t.on_net(env, NetEvent::Frame { conn: reader, data: accepted }));
    assert!(!t.reader_up(MemberId(2), StreamType::General));
    assert!(rig.take_calls().contains(&Call::Close(reader)));
    assert_eq!(t.stats().cluster_id_mismatch, 1);
    assert_eq!(t.log().len(), 1);
    assert_eq!(
        t.log()[0].text,
        "cluster ID mismatch: local=0000000000000007, remote=0000000000000008 from member \
         0000000000000002"
    );
    // The stream is re-dialled 100 ms later.
    assert_eq!(
        rig.timers.pending.values().filter(|(at, _)| *at == Instant::ZERO + ms(100)).count(),
        1
    );
}

mod props {
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Op {
        Send { from: usize, to: usize, kind: MessageKind },
        Partition(usize, usize),
        Heal,
        Advance(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        let kind = prop_oneof![
            Just(MessageKind::General),
            Just(MessageKind::Append),
            Just(MessageKind::Snapshot)
        ];
        prop_oneof![
            6 => (0..3usize, 0..3usize, kind).prop_map(|(from, to, kind)| Op::Send { from, to, kind }),
            1 => (0..3usize, 0..3usize).prop_map(|(a, b)| Op::Partition(a, b)),
            1 => Just(Op::Heal),
            2 => (1..400u64).prop_map(Op::Advance),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        /// Whatever the partitions, every message is delivered exactly once or reported
        /// unreachable (the wire never loses a frame in flight), each stream keeps its order,
        /// and every snapshot gets exactly one outcome.
        #[test]
        fn every_message_is_delivered_once_in_order_or_reported(ops in prop::collection::vec(op(), 1..60)) {
            let (mut w, c) = mesh();
            let ids: Vec<MemberId> = NAMES.iter().map(|nm| id(&c, nm)).collect();
            let mut seq = 0u32;
            let mut sent = Vec::new();
            for op in ops {
                match op {
                    Op::Send { from, to, kind } if from != to => {
                        seq += 1;
                        sent.push((from, to, kind, seq));
                        let m = Outgoing { to: ids[to], kind, payload: seq.to_be_bytes().to_vec().into() };
                        w.call(from, |env, t| t.send(env, [m]));
                        w.settle();
                    }
                    Op::Partition(a, b) if a != b => w.partition(a, b),
                    Op::Heal => w.heal(),
                    Op::Advance(d) => w.run_until(w.now + ms(d)),
                    _ => {}
                }
            }
            w.heal();
            w.run_until(w.now + ms(1000));
            for (from, to, kind, s) in &sent {
                let got = w.events[*to]
                    .iter()
                    .filter(|e| matches!(e, TransportEvent::Received { from: f, payload, .. }
                        if *f == ids[*from] && payload[..] == s.to_be_bytes()))
                    .count();
                prop_assert!(got <= 1, "message {s} delivered {got} times");
                if *kind == MessageKind::Snapshot {
                    let statuses = w.events[*from]
                        .iter()
                        .filter(|e| matches!(e, TransportEvent::SnapshotStatus { to: t, .. } if *t == ids[*to]))
                        .count();
                    prop_assert!(statuses >= 1, "snapshot {s} has no outcome");
                }
            }
            // Deliveries + drops account for every message, per (from, to).
            for from in 0..3 {
                for to in (0..3).filter(|t| *t != from) {
                    let n_sent = sent.iter().filter(|m| m.0 == from && m.1 == to).count();
                    let delivered = w.events[to]
                        .iter()
                        .filter(|e| matches!(e, TransportEvent::Received { from: f, .. } if *f == ids[from]))
                        .count();
                    let dropped = w.events[from]
                        .iter()
                        .filter(|e| matches!(e, TransportEvent::Unreachable { to: t } if *t == ids[to]))
                        .count();
                    prop_assert_eq!(delivered + dropped, n_sent, "{} -> {}", from, to);
                    let snaps_sent = sent.iter().filter(|m| m.0 == from && m.1 == to && m.2 == MessageKind::Snapshot).count();
                    let snap_status = w.events[from]
                        .iter()
                        .filter(|e| matches!(e, TransportEvent::SnapshotStatus { to: t, .. } if *t == ids[to]))
                        .count();
                    prop_assert_eq!(snap_status, snaps_sent);
                    // Per kind, arrival order is send order.
                    for kind in [MessageKind::General, MessageKind::Append, MessageKind::Snapshot] {
                        let seqs: Vec<u32> = w.events[to]
                            .iter()
                            .filter_map(|e| match e {
                                TransportEvent::Received { from: f, kind: k, payload } if *f == ids[from] && *k == kind =>
                                    Some(u32::from_be_bytes(payload[..].try_into().unwrap())),
                                _ => None,
                            })
                            .collect();
                        prop_assert!(seqs.windows(2).all(|p| p[0] < p[1]), "{:?} out of order: {:?}", kind, seqs);
                    }
                }
            }
            // After healing, every pair's streams are back.
            for i in 0..3 {
                for j in (0..3).filter(|j| *j != i) {
                    prop_assert!(w.nodes[i].1.reader_up(ids[j], StreamType::General));
                    prop_assert!(w.nodes[i].1.writer_up(ids[j], StreamType::Append));
                }
            }
        }
    }
}

/// `--initial-cluster` of a member re-created by hand with one member too many: node 2 keeps
/// its name, token and URL (so its member ID, and everyone else's, are unchanged) but its
/// cluster ID differs.
pub(crate) const IC_GHOST: &str =
    "a=http://n0:2380,b=http://n1:2380,c=http://n2:2380,ghost=http://ghost:2380";

/// The mesh of a, b and an impostor c that has the same member ID as the real c.
pub(crate) fn mesh_with_impostor() -> (Wire, Vec<Cluster>) {
    let (w, cs) = mesh_of([(IC, "t"), (IC, "t"), (IC_GHOST, "t")], &[]);
    assert_eq!(id(&cs[0], "c"), id(&cs[2], "c"), "the impostor keeps its member ID");
    assert_ne!(cs[0].id(), cs[2].id(), "but not its cluster ID");
    (w, cs)
}

#[test]
fn a_member_recreated_with_another_initial_cluster_is_refused_both_ways() {
    let (mut w, cs) = mesh_with_impostor();
    let (a, c) = (id(&cs[0], "a"), id(&cs[0], "c"));
    // Only the cluster ID tells them apart: streams are refused as cluster-ID mismatches.
    assert!(!w.nodes[0].1.writer_up(c, StreamType::General));
    assert!(w.nodes[0].1.stats().cluster_id_mismatch >= 2);
    assert!(w.nodes[2].1.stats().cluster_id_mismatch >= 2);
    assert_eq!(w.nodes[0].1.stats().wrong_recipient + w.nodes[0].1.stats().unknown_sender, 0);
    // The pipeline, both ways, of every kind: refused, nothing delivered.
    for kind in [MessageKind::General, MessageKind::Append, MessageKind::Snapshot] {
        w.call(0, |env, t| t.send(env, [msg(c, kind, 1)]));
        w.call(2, |env, t| t.send(env, [msg(a, kind, 2)]));
        w.settle();
    }
    w.run_until(w.now + ms(500));
    assert!(received(&w, 2).is_empty());
    assert!(received(&w, 0).iter().all(|(from, ..)| *from != c));
    for node in 0..3 {
        let st = w.nodes[node].1.stats();
        assert_eq!((st.foreign_deliveries, st.first_foreign_delivery), (0, None), "node {node}");
    }
    assert!(w.events[0].contains(&TransportEvent::Unreachable { to: c }));
}

#[test]
fn buggify_duplicates_appends_reverses_bursts_and_breaks_streams() {
    use crate::buggify::{DUPLICATE, REORDER, STREAM_BREAK};
    use sim::buggify::Forced;
    let burst = |b: MemberId| -> Vec<Outgoing> {
        (0..4u8)
            .map(|i| msg(b, [MessageKind::Append, MessageKind::General][i as usize % 2], i))
            .collect()
    };
    // Duplicates: every append twice, general messages once.
    let (mut w, c) = mesh();
    let b = id(&c, "b");
    w.nodes[0].0.buggify = Some(Forced::new(&[DUPLICATE]));
    w.call(0, |env, t| t.send(env, burst(b)));
    w.settle();
    let got: Vec<u8> = received(&w, 1).iter().map(|(_, _, p)| p[0]).collect();
    assert_eq!(got, vec![0, 0, 1, 2, 2, 3]);
    // Reorder: the burst arrives reversed.
    let (mut w, _) = mesh();
    w.nodes[0].0.buggify = Some(Forced::new(&[REORDER]));
    w.call(0, |env, t| t.send(env, burst(b)));
    w.settle();
    let got: Vec<u8> = received(&w, 1).iter().map(|(_, _, p)| p[0]).collect();
    assert_eq!(got, vec![3, 2, 1, 0]);
    // Stream break: the streams close, the burst goes by pipeline, the peer re-dials.
    let (mut w, _) = mesh();
    w.nodes[0].0.buggify = Some(Forced::new(&[STREAM_BREAK]));
    w.call(0, |env, t| t.send(env, burst(b)));
    w.nodes[0].0.buggify = None;
    assert!(!w.nodes[0].1.writer_up(b, StreamType::General));
    assert!(!w.nodes[0].1.writer_up(b, StreamType::Append));
    w.settle();
    let mut got: Vec<u8> = received(&w, 1).iter().map(|(_, _, p)| p[0]).collect();
    got.sort_unstable();
    assert_eq!(got, vec![0, 1, 2, 3], "nothing lost");
    assert_eq!(w.nodes[0].1.stats().messages_sent_pipeline, 4);
    assert_eq!(w.nodes[0].1.stats().messages_dropped, 0);
    w.run_until(w.now + ms(150));
    for s in [StreamType::General, StreamType::Append] {
        assert!(w.nodes[0].1.writer_up(b, s), "the peer re-dialled its {s:?} stream");
    }
}
