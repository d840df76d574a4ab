//! The transport on the simulated world: SimNet latency, partitions, crashes and restarts, and
//! a member restarted with another cluster token.

use std::cell::Cell;
use std::collections::BTreeSet;
use std::rc::Rc;

use net::cluster::Cluster;
use net::frame::{MessageKind, StreamType};
use net::ids::MemberId;
use net::refusal::Refusal;
use net::transport::{Outgoing, Transport, TransportConfig, TransportEvent};
use sim::io::NetEvent;
use sim::time::{Duration, Instant};
use sim::world::{World, WorldConfig};
use sim::{Actor, Env, Halt, NodeId, Seed, TimerId};

/// Members a, b, c on nodes n1, n2, n3 (SimNet resolves host `nK` to node K).
const IC: &str = "a=http://n1:2380,b=http://n2:2380,c=http://n3:2380";
const NAMES: [&str; 3] = ["a", "b", "c"];

/// A member running only the transport; every transport event becomes a response.
struct Member {
    name: &'static str,
    token: String,
    transport: Option<Transport>,
}

enum Req {
    Send(Vec<Outgoing>),
}

impl Member {
    fn t(&mut self) -> &mut Transport {
        self.transport.as_mut().expect("started")
    }
    fn flush(&mut self, env: &mut Env<'_, TransportEvent>) {
        for e in self.t().take_events() {
            env.respond(e);
        }
    }
}

impl Actor for Member {
    type Request = Req;
    type Response = TransportEvent;

    fn on_start(&mut self, env: &mut Env<'_, TransportEvent>) -> Result<(), Halt> {
        let c = Cluster::bootstrap(IC, &self.token).map_err(|e| Halt::Fatal(e.to_string()))?;
        let me = c.member_by_name(self.name).expect("member of the initial cluster");
        let mut t = Transport::new(TransportConfig::new(me.id, c.id(), me.peer_addr()));
        for m in c.members().filter(|m| m.id != me.id) {
            t.add_peer(env, m.id, m.peer_addr());
        }
        t.start(env).map_err(|e| Halt::Fatal(e.to_string()))?;
        self.transport = Some(t);
        self.flush(env);
        Ok(())
    }
    fn on_timer(
        &mut self,
        env: &mut Env<'_, TransportEvent>,
        id: TimerId,
        tag: u64,
    ) -> Result<(), Halt> {
        assert!(self.t().on_timer(env, id, tag), "only the transport sets timers here");
        self.flush(env);
        Ok(())
    }
    fn on_net(&mut self, env: &mut Env<'_, TransportEvent>, event: NetEvent) -> Result<(), Halt> {
        assert!(self.t().on_net(env, event), "only the transport uses the network here");
        self.flush(env);
        Ok(())
    }
    fn on_request(&mut self, env: &mut Env<'_, TransportEvent>, req: Req) -> Result<(), Halt> {
        match req {
            Req::Send(m) => self.t().send(env, m),
        }
        self.flush(env);
        Ok(())
    }
}

/// Members start one after another at time 0, so the first ones' dials reach hosts that are not
/// up yet and time out (1 s); by this time every stream is up.
const WARM: u64 = 1500;

fn n(i: usize) -> NodeId {
    NodeId(i as u32 + 1)
}

fn at_ms(ms: u64) -> Instant {
    Instant::ZERO + Duration::from_millis(ms)
}

/// A world of three members; node i's token is read from `tokens[i]` at every (re)start.
fn world(seed: u64, tokens: [Rc<Cell<&'static str>>; 3]) -> World<Member> {
    let config = WorldConfig { keep_trace: true, ..WorldConfig::default() };
    let mut w = World::new(Seed(seed), config);
    for (i, token) in tokens.into_iter().enumerate() {
        w.add_node(n(i), move |_| Member {
            name: NAMES[i],
            token: token.get().to_string(),
            transport: None,
        });
    }
    w
}

fn tokens(t: [&'static str; 3]) -> [Rc<Cell<&'static str>>; 3] {
    t.map(|s| Rc::new(Cell::new(s)))
}

fn ids(token: &str) -> (Cluster, [MemberId; 3]) {
    let c = Cluster::bootstrap(IC, token).unwrap();
    let ids = NAMES.map(|nm| c.member_by_name(nm).unwrap().id);
    (c, ids)
}

fn transport(w: &World<Member>, i: usize) -> &Transport {
    w.node(n(i)).expect("node up").transport.as_ref().expect("started")
}

fn all_streams_up(w: &World<Member>, i: usize, peer: MemberId) -> bool {
    let t = transport(w, i);
    [StreamType::General, StreamType::Append]
        .iter()
        .all(|s| t.reader_up(peer, *s) && t.writer_up(peer, *s))
}

/// Times at which node `i` dialled `peer`'s stream `s` (from the trace).
fn dial_times(w: &World<Member>, i: usize, peer: MemberId, s: StreamType) -> Vec<Instant> {
    let detail = format!("{peer} {s:?}");
    w.trace()
        .records()
        .iter()
        .filter(|r| r.node == Some(n(i)) && r.kind == "net.dial" && r.detail == detail)
        .map(|r| r.time)
        .collect()
}

fn general(to: MemberId, seq: u32) -> Outgoing {
    Outgoing { to, kind: MessageKind::General, payload: seq.to_be_bytes().to_vec().into() }
}

#[test]
fn streams_come_up_and_carry_frames_in_order() {
    let mut w = world(1, tokens(["t", "t", "t"]));
    let (_, [a, b, c]) = ids("t");
    w.run_until(at_ms(WARM));
    for (i, peers) in [(0, [b, c]), (1, [a, c]), (2, [a, b])] {
        for p in peers {
            assert!(all_streams_up(&w, i, p), "node {i} peer {p}");
            assert!(transport(&w, i).active_since(p).is_some());
        }
    }
    w.take_responses();
    // Appends and general messages interleaved: each kind arrives in order on its own stream.
    let msgs: Vec<Outgoing> = (0..400u32)
        .map(|s| Outgoing {
            to: b,
            kind: if s % 2 == 0 { MessageKind::Append } else { MessageKind::General },
            payload: s.to_be_bytes().to_vec().into(),
        })
        .collect();
    w.request(n(0), Req::Send(msgs));
    w.run_until(at_ms(WARM + 500));
    let got: Vec<(MessageKind, u32)> = w
        .take_responses()
        .into_iter()
        .filter_map(|(node, _, e)| match e {
            TransportEvent::Received { from, kind, payload } if node == n(1) => {
                assert_eq!(from, a);
                Some((kind, u32::from_be_bytes(payload.try_into().unwrap())))
            }
            _ => None,
        })
        .collect();
    assert_eq!(got.len(), 400);
    for k in [MessageKind::Append, MessageKind::General] {
        let seqs: Vec<u32> = got.iter().filter(|(kk, _)| *kk == k).map(|(_, s)| *s).collect();
        let want: Vec<u32> =
            (0..400).filter(|s| (s % 2 == 0) == (k == MessageKind::Append)).collect();
        assert_eq!(seqs, want, "{k:?}");
    }
    let st = transport(&w, 0).stats();
    assert_eq!((st.messages_sent_stream, st.messages_sent_pipeline, st.refusals()), (400, 0, 0));
}

#[test]
fn partition_falls_back_to_the_pipeline_and_redials_every_100ms() {
    let mut w = world(2, tokens(["t", "t", "t"]));
    let (_, [a, b, _]) = ids("t");
    let timeout = w.config().net.dial_timeout;
    w.run_until(at_ms(WARM));
    assert!(all_streams_up(&w, 0, b));
    w.net_mut().partition(n(0), n(1));
    w.run_until(at_ms(WARM + 1));
    assert_eq!(transport(&w, 0).inactive_since(b), Some(at_ms(WARM)));
    assert!(!transport(&w, 0).writer_up(b, StreamType::General));

    // During the partition: a message goes to the pipeline and is reported unreachable.
    w.request(n(0), Req::Send(vec![general(b, 1)]));
    w.run_until(at_ms(3500));
    let r = w.take_responses();
    assert!(r.iter().any(|(nd, _, e)| *nd == n(0) && *e == TransportEvent::Unreachable { to: b }));
    assert!(!r
        .iter()
        .any(|(nd, _, e)| *nd == n(1) && matches!(e, TransportEvent::Received { .. })));

    // Healed, before the streams' next re-dial: the pipeline delivers.
    w.net_mut().heal();
    w.request(n(0), Req::Send(vec![general(b, 2)]));
    w.run_until(at_ms(3520));
    let r = w.take_responses();
    assert!(r.iter().any(|(nd, _, e)| *nd == n(1)
        && *e
            == TransportEvent::Received {
                from: a,
                kind: MessageKind::General,
                payload: 2u32.to_be_bytes().to_vec()
            }));
    assert_eq!(transport(&w, 0).stats().messages_sent_pipeline, 1);
    assert!(!transport(&w, 0).reader_up(b, StreamType::General), "streams are still down");

    w.run_until(at_ms(6000));
    assert!(all_streams_up(&w, 0, b));
    // Re-dials: the first 100 ms after the reset, then 100 ms after each dial timed out.
    let dials: Vec<Instant> = dial_times(&w, 0, b, StreamType::General)
        .into_iter()
        .filter(|t| *t >= at_ms(WARM))
        .collect();
    assert_eq!(dials[0], at_ms(WARM + 100));
    assert!(dials.len() >= 3, "{dials:?}");
    for pair in dials.windows(2) {
        assert_eq!(pair[1] - pair[0], timeout + Duration::from_millis(100), "dials at {dials:?}");
    }
    let up = transport(&w, 0).active_since(b).unwrap();
    assert!(up > at_ms(3500) && up <= *dials.last().unwrap() + Duration::from_millis(10));
}

#[test]
fn a_crashed_peer_is_redialled_and_streams_return_after_restart() {
    let mut w = world(3, tokens(["t", "t", "t"]));
    let (_, [a, b, _]) = ids("t");
    w.run_until(at_ms(WARM));
    w.crash(n(1));
    w.run_until(at_ms(WARM + 1));
    assert_eq!(transport(&w, 0).inactive_since(b), Some(at_ms(WARM)));
    w.run_until(at_ms(4000));
    let dials = dial_times(&w, 0, b, StreamType::Append);
    let after: Vec<Instant> = dials.into_iter().filter(|t| *t >= at_ms(WARM)).collect();
    assert_eq!(after[0], at_ms(WARM + 100), "first re-dial 100 ms after the reset");
    assert!(after.len() >= 2);
    w.restart(n(1));
    let restarted = w.now();
    w.run_until(at_ms(6000));
    assert!(all_streams_up(&w, 0, b) && all_streams_up(&w, 1, a));
    assert!(transport(&w, 0).active_since(b).unwrap() >= restarted);
    w.take_responses();
    w.request(n(0), Req::Send((0..10).map(|s| general(b, s)).collect()));
    w.run_until(at_ms(6100));
    let got = w.take_responses().into_iter().filter(|(nd, ..)| *nd == n(1)).count();
    assert_eq!(got, 10);
}

#[test]
fn a_member_restarted_with_another_token_is_refused_and_the_log_is_rate_limited() {
    let toks = tokens(["t", "t", "t"]);
    let c_token = Rc::clone(&toks[2]);
    let mut w = world(4, toks);
    let (good, [a, b, c]) = ids("t");
    let (bad, [a_bad, _, c_bad]) = ids("other");
    w.run_until(at_ms(WARM));
    assert!(all_streams_up(&w, 0, c));

    // c restarts with the wrong token: another cluster ID and other member IDs.
    w.crash(n(2));
    c_token.set("other");
    w.restart(n(2));
    w.run_until(at_ms(10_000));
    let r = w.take_responses();
    let mine =
        Refusal::ClusterIdMismatch { local: good.id(), remote: bad.id(), remote_member: c_bad };
    let theirs =
        Refusal::ClusterIdMismatch { local: bad.id(), remote: good.id(), remote_member: a };
    assert!(r.iter().any(|(nd, _, e)| *nd == n(0) && *e == TransportEvent::Refused(mine.clone())));
    assert!(r
        .iter()
        .any(|(nd, _, e)| *nd == n(2) && *e == TransportEvent::Refused(theirs.clone())));
    assert_eq!(
        theirs.to_string(),
        format!("cluster ID mismatch: local={}, remote={} from member {a}", bad.id(), good.id())
    );

    // Neither streams nor the pipeline let a payload across, in either direction.
    w.request(n(0), Req::Send(vec![general(c, 1)]));
    w.request(
        n(2),
        Req::Send(vec![Outgoing {
            to: a_bad,
            kind: MessageKind::Snapshot,
            payload: vec![7].into(),
        }]),
    );
    let before = transport(&w, 0).stats().clone();
    w.run_until(at_ms(70_000)); // a minute of refused re-dials
    let r = w.take_responses();
    assert!(r.iter().any(|(nd, _, e)| *nd == n(0) && *e == TransportEvent::Unreachable { to: c }));
    assert!(r.iter().any(|(nd, _, e)| *nd == n(2)
        && *e == TransportEvent::SnapshotStatus { to: a_bad, delivered: false }));
    assert!(!r
        .iter()
        .any(|(nd, _, e)| *nd == n(2) && matches!(e, TransportEvent::Received { .. })));
    assert!(!r
        .iter()
        .any(|(_, _, e)| matches!(e, TransportEvent::Received { from, .. } if *from == c_bad)));

    // Counters moved on every refusal; the log kept to one line per peer per second.
    let st = transport(&w, 0).stats();
    assert!(st.cluster_id_mismatch - before.cluster_id_mismatch >= 1000, "{st:?}");
    assert_eq!(st.log_lines + st.log_suppressed, st.refusals());
    for i in 0..3 {
        let t = transport(&w, i);
        let peers: BTreeSet<MemberId> = t.log().iter().map(|l| l.peer).collect();
        for p in peers {
            let times: Vec<Instant> =
                t.log().iter().filter(|l| l.peer == p).map(|l| l.at).collect();
            assert!(times.windows(2).all(|x| x[1] - x[0] >= Duration::from_secs(1)), "node {i}");
            assert!(times.len() <= 71, "node {i}: {} lines about {p}", times.len());
        }
        let traced = w
            .trace()
            .records()
            .iter()
            .filter(|r| r.node == Some(n(i)) && r.kind == "net.refused")
            .count();
        // Node i's trace holds the lines of every incarnation; the current one's are a subset.
        assert!(traced >= t.log().len());
    }
    assert!(transport(&w, 0).log().iter().any(|l| l.text.contains("similar lines suppressed")));
    // a and b still talk.
    assert!(all_streams_up(&w, 0, b));

    // Restarted with the right token, c is welcome again and the refusals stop.
    w.crash(n(2));
    c_token.set("t");
    w.restart(n(2));
    w.run_until(at_ms(72_000));
    assert!(all_streams_up(&w, 0, c));
    let settled = transport(&w, 0).stats().refusals();
    w.run_until(at_ms(75_000));
    assert_eq!(transport(&w, 0).stats().refusals(), settled);
}

#[test]
fn the_same_seed_gives_the_same_trace() {
    let run = |seed| {
        let toks = tokens(["t", "t", "other"]);
        let mut w = world(seed, toks);
        w.net_mut().partition(n(0), n(1));
        w.run_until(at_ms(5000));
        (w.trace_hash(), transport(&w, 0).stats().clone())
    };
    let (h1, s1) = run(9);
    let (h2, s2) = run(9);
    assert_eq!(h1, h2);
    assert_eq!(s1, s2);
    assert!(s1.cluster_id_mismatch > 0);
}
