//! SimNet against its contract: per-connection order, partitions block and reset, healing lets
//! dials succeed, latency within bounds, clogging holds then releases in order, crashes reset
//! after delivering what the crashed node had already sent.
//!
//! The network is driven directly (no world): a small harness queues its wakes and delivers them
//! in time order, as the world does.

use proptest::prelude::*;
use sim::io::{Addr, CloseReason, ConnId, DialError, Net, NetEvent};
use sim::simulated::net::{LinkConfig, NetConfig, SimNet, Wake};
use sim::world::EventQueue;
use sim::{Duration, Instant, NodeId, Seed};

const A: NodeId = NodeId(0);
const B: NodeId = NodeId(1);
const C: NodeId = NodeId(2);

struct Harness {
    net: SimNet,
    queue: EventQueue<Wake>,
    /// Everything delivered so far: (time, node, event).
    log: Vec<(Instant, NodeId, NetEvent)>,
}

impl Harness {
    fn new(seed: u64, config: NetConfig) -> Harness {
        let mut net = SimNet::new(Seed(seed).stream("net"), config);
        for n in [A, B, C] {
            net.node_up(n);
        }
        for (n, port) in [(A, "n0:1"), (B, "n1:1"), (C, "n2:1")] {
            net.endpoint(n).listen(&Addr::new(port)).expect("listen");
        }
        Harness { net, queue: EventQueue::new(), log: Vec::new() }
    }

    fn drain(&mut self) {
        for w in self.net.drain_wakes() {
            self.queue.push(w.at, w);
        }
    }

    /// Delivers everything due up to `t` and sets the clock to `t`.
    fn run_until(&mut self, t: Instant) {
        self.drain();
        while self.queue.peek_time().is_some_and(|at| at <= t) {
            let (at, wake) = self.queue.pop().expect("peeked");
            self.net.set_now(at);
            if let Some(ev) = self.net.deliver(wake) {
                self.log.push((at, wake.node, ev));
            }
            self.drain();
        }
        self.net.set_now(t);
    }

    fn now(&self) -> Instant {
        self.net.now()
    }

    fn after(&mut self, d: Duration) {
        let t = self.now() + d;
        self.run_until(t);
    }

    /// Dials `to` from `from` and runs until both sides know; returns (dialer conn, acceptor conn).
    fn connect(&mut self, from: NodeId, to: NodeId) -> (ConnId, ConnId) {
        let addr = Addr::new(format!("n{}:1", to.0));
        let c = self.net.endpoint(from).dial(&addr).expect("dial");
        self.after(Duration::from_millis(100));
        assert!(
            self.events(from).contains(&NetEvent::Connected { conn: c }),
            "{from} did not connect: {:?}",
            self.log
        );
        let accepted = self
            .events(to)
            .iter()
            .rev()
            .find_map(|e| match e {
                NetEvent::Accepted { conn, .. } => Some(*conn),
                _ => None,
            })
            .expect("accepted");
        (c, accepted)
    }

    fn events(&self, node: NodeId) -> Vec<NetEvent> {
        self.log.iter().filter(|(_, n, _)| *n == node).map(|(_, _, e)| e.clone()).collect()
    }

    fn frames(&self, node: NodeId, conn: ConnId) -> Vec<Vec<u8>> {
        self.log
            .iter()
            .filter_map(|(_, n, e)| match e {
                NetEvent::Frame { conn: c, data } if *n == node && *c == conn => Some(data.clone()),
                _ => None,
            })
            .collect()
    }

    fn send(&mut self, node: NodeId, conn: ConnId, data: Vec<u8>) {
        self.net.endpoint(node).send(conn, data).expect("send");
    }
}

fn jittery() -> NetConfig {
    NetConfig {
        link: LinkConfig { latency: Duration::from_millis(1), jitter: Duration::from_millis(5) },
        dial_timeout: Duration::from_millis(500),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Frames on one connection arrive exactly once and in order, whatever the jitter and the
    /// send pattern (including several sends at the same instant).
    #[test]
    fn per_connection_order(seed in any::<u64>(), gaps in proptest::collection::vec(0u64..3_000_000, 1..80)) {
        let mut h = Harness::new(seed, jittery());
        let (ca, cb) = h.connect(A, B);
        for (i, gap) in gaps.iter().enumerate() {
            h.send(A, ca, (i as u32).to_le_bytes().to_vec());
            h.send(B, cb, (i as u32).to_le_bytes().to_vec());
            h.after(Duration(*gap));
        }
        h.after(Duration::from_secs(1));
        let want: Vec<Vec<u8>> = (0..gaps.len() as u32).map(|i| i.to_le_bytes().to_vec()).collect();
        prop_assert_eq!(h.frames(B, cb), want.clone());
        prop_assert_eq!(h.frames(A, ca), want);
    }
}

#[test]
fn partition_resets_connections_and_drops_in_flight_frames() {
    let mut h = Harness::new(1, jittery());
    let (ca, cb) = h.connect(A, B);
    h.send(A, ca, b"in flight".to_vec());
    h.net.partition(A, B);
    h.after(Duration::from_secs(1));
    assert!(h.frames(B, cb).is_empty(), "frame crossed a partition: {:?}", h.log);
    assert!(h.events(A).contains(&NetEvent::Closed { conn: ca, reason: CloseReason::Reset }));
    assert!(h.events(B).contains(&NetEvent::Closed { conn: cb, reason: CloseReason::Reset }));
    // A broken connection refuses further sends once its node was told.
    assert!(h.net.endpoint(A).send(ca, vec![1]).is_err());
    assert_eq!(h.net.open_ends(A), 0);
    assert_eq!(h.net.open_ends(B), 0);
}

#[test]
fn dials_across_a_partition_time_out_and_heal_lets_them_succeed() {
    let mut h = Harness::new(2, jittery());
    h.net.partition(A, B);
    let start = h.now();
    let c = h.net.endpoint(A).dial(&Addr::new("n1:1")).expect("dial");
    h.after(Duration::from_secs(2));
    let failed: Vec<_> = h.log.iter().filter(|(_, n, _)| *n == A).collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].2, NetEvent::DialFailed { conn: c, error: DialError::Timeout });
    assert_eq!(failed[0].0, start + jittery().dial_timeout, "fails exactly at the dial timeout");
    assert!(h.events(B).is_empty(), "B heard a dial across the partition: {:?}", h.events(B));
    // C is not partitioned from A.
    h.connect(A, C);
    h.net.heal();
    let (ca, cb) = h.connect(A, B);
    h.send(A, ca, b"hello".to_vec());
    h.after(Duration::from_millis(100));
    assert_eq!(h.frames(B, cb), vec![b"hello".to_vec()]);
}

#[test]
fn one_way_partition_blocks_dials_both_ways_and_isolate_blocks_everyone() {
    let mut h = Harness::new(3, jittery());
    h.net.partition_one_way(A, B);
    assert!(h.net.is_blocked(A, B) && !h.net.is_blocked(B, A));
    let ab = h.net.endpoint(A).dial(&Addr::new("n1:1")).unwrap();
    let ba = h.net.endpoint(B).dial(&Addr::new("n0:1")).unwrap();
    h.after(Duration::from_secs(1));
    assert!(h.events(A).contains(&NetEvent::DialFailed { conn: ab, error: DialError::Timeout }));
    assert!(h.events(B).contains(&NetEvent::DialFailed { conn: ba, error: DialError::Timeout }));
    h.net.heal();
    let (c_ac, c_ca) = h.connect(A, C);
    h.net.isolate(C);
    h.after(Duration::from_millis(10));
    assert!(h.events(A).contains(&NetEvent::Closed { conn: c_ac, reason: CloseReason::Reset }));
    assert!(h.events(C).contains(&NetEvent::Closed { conn: c_ca, reason: CloseReason::Reset }));
    assert!(h.net.is_blocked(A, C) && h.net.is_blocked(C, B) && !h.net.is_blocked(A, B));
}

#[test]
fn latency_stays_within_bounds() {
    let lat = Duration::from_millis(3);
    let jit = Duration::from_millis(1);
    let mut h = Harness::new(4, NetConfig::default());
    h.net.set_link(A, B, LinkConfig { latency: lat, jitter: jit });
    let (ca, _) = h.connect(A, B);
    let mut delays = Vec::new();
    for i in 0..200u32 {
        let sent = h.now();
        h.send(A, ca, i.to_le_bytes().to_vec());
        h.after(Duration::from_millis(10));
        let (at, _, ev) = h.log.last().expect("delivered").clone();
        assert!(matches!(ev, NetEvent::Frame { .. }), "{ev:?}");
        delays.push(at - sent);
    }
    assert!(delays.iter().all(|d| *d >= lat && *d <= lat + jit), "{delays:?}");
    // Jitter is actually applied: not every delay is the same.
    assert!(delays.iter().any(|d| *d != delays[0]));
    // Other links keep the default.
    assert_eq!(h.net.link(A, C), NetConfig::default().link);
}

#[test]
fn clogging_holds_then_releases_in_order() {
    let mut h = Harness::new(5, jittery());
    let (ca, cb) = h.connect(A, B);
    h.net.clog(A, B);
    for i in 0..20u8 {
        h.send(A, ca, vec![i]);
        h.after(Duration::from_micros(300));
    }
    h.after(Duration::from_secs(1));
    assert!(h.frames(B, cb).is_empty(), "clogged link delivered: {:?}", h.frames(B, cb));
    let unclogged_at = h.now();
    h.net.unclog(A, B);
    h.send(A, ca, vec![20]);
    h.after(Duration::from_secs(1));
    let want: Vec<Vec<u8>> = (0..21u8).map(|i| vec![i]).collect();
    assert_eq!(h.frames(B, cb), want);
    let first = h.log.iter().find(|(_, n, e)| *n == B && matches!(e, NetEvent::Frame { .. }));
    assert_eq!(first.expect("frame").0, unclogged_at, "held frames are released at unclog");
}

#[test]
fn crash_resets_peer_and_clean_close_arrives_after_frames() {
    let mut h = Harness::new(6, jittery());
    let (ca, cb) = h.connect(A, B);
    h.net.crash_node(A);
    h.after(Duration::from_millis(50));
    assert!(h.events(B).contains(&NetEvent::Closed { conn: cb, reason: CloseReason::Reset }));
    // The crashed node no longer listens: a dial to it times out (its host is down).
    let d = h.net.endpoint(C).dial(&Addr::new("n0:1")).unwrap();
    h.after(Duration::from_secs(1));
    assert!(h.events(C).contains(&NetEvent::DialFailed { conn: d, error: DialError::Timeout }));
    let _ = ca;

    let (cb2, cc) = h.connect(B, C);
    for i in 0..5u8 {
        h.send(B, cb2, vec![i]);
    }
    h.net.endpoint(B).close(cb2);
    h.after(Duration::from_secs(1));
    let tail: Vec<NetEvent> = h.events(C).into_iter().rev().take(6).collect();
    assert_eq!(tail[0], NetEvent::Closed { conn: cc, reason: CloseReason::PeerClosed });
    assert_eq!(h.frames(C, cc).len(), 5);
    // No event for the closing side's own close.
    assert!(!h
        .events(B)
        .iter()
        .any(|e| matches!(e, NetEvent::Closed { conn, .. } if *conn == cb2)));
}

/// Bytes on the wire do not vanish when their sender dies: what a crashing node already sent is
/// delivered, in order and at its own delivery times, and the peer sees the reset only after it;
/// what was in flight *to* the crashed node is dropped.
#[test]
fn crash_delivers_frames_already_sent_then_resets() {
    let mut h = Harness::new(8, jittery());
    let (ca, cb) = h.connect(A, B);
    h.send(B, cb, b"to the dying node".to_vec());
    for i in 0..10u8 {
        h.send(A, ca, vec![i]);
    }
    let crashed_at = h.now();
    h.net.crash_node(A);
    // A is gone: it cannot send any more, and nothing more arrives for it.
    assert!(h.net.endpoint(A).send(ca, vec![99]).is_err());
    h.after(Duration::from_secs(1));
    let want: Vec<Vec<u8>> = (0..10u8).map(|i| vec![i]).collect();
    assert_eq!(h.frames(B, cb), want, "frames sent before the crash are delivered in order");
    let b_log: Vec<&(Instant, NodeId, NetEvent)> =
        h.log.iter().filter(|(_, n, _)| *n == B).collect();
    let (reset_at, _, last) = b_log.last().expect("B heard something");
    assert_eq!(*last, NetEvent::Closed { conn: cb, reason: CloseReason::Reset }, "{b_log:?}");
    let last_frame_at = b_log[b_log.len() - 2].0;
    assert!(last_frame_at > crashed_at, "the frames were still in flight at the crash");
    assert_eq!(*reset_at, last_frame_at, "the reset follows the last frame at once");
    assert!(h.events(A).iter().all(|e| !matches!(e, NetEvent::Frame { .. })), "{:?}", h.log);
    assert_eq!(h.net.stats().frames_dropped, 1, "the frame in flight to A");
    assert_eq!(h.net.open_ends(B), 0, "B's end is gone once the reset is delivered");

    // With nothing in flight, the peer hears the reset at the crash instant.
    let (cb2, cc) = h.connect(B, C);
    let _ = cb2;
    let t = h.now();
    h.net.crash_node(B);
    h.after(Duration::from_millis(10));
    let (at, _, ev) = h.log.last().expect("C heard the reset").clone();
    assert_eq!((at, ev), (t, NetEvent::Closed { conn: cc, reason: CloseReason::Reset }));
}

/// A dial still in progress when the acceptor crashes: the dialer learns of the connection (its
/// news was already on the wire), then of the reset; the other way round, frames the dialer sent
/// before `Connected` follow the accept, then the reset.
#[test]
fn crash_during_a_dial_delivers_the_news_already_sent_then_resets() {
    let mut h = Harness::new(9, jittery());
    let c = h.net.endpoint(A).dial(&Addr::new("n1:1")).expect("dial");
    h.net.crash_node(B);
    h.after(Duration::from_secs(2));
    assert_eq!(
        h.events(A),
        vec![
            NetEvent::Connected { conn: c },
            NetEvent::Closed { conn: c, reason: CloseReason::Reset }
        ]
    );

    let d = h.net.endpoint(C).dial(&Addr::new("n0:1")).expect("dial");
    h.send(C, d, b"early".to_vec());
    h.net.crash_node(C);
    h.after(Duration::from_secs(2));
    let got: Vec<NetEvent> = h.events(A).into_iter().skip(2).collect();
    assert_eq!(got.len(), 3, "{got:?}");
    let NetEvent::Accepted { conn, .. } = got[0] else { panic!("{got:?}") };
    assert_eq!(got[1], NetEvent::Frame { conn, data: b"early".to_vec() });
    assert_eq!(got[2], NetEvent::Closed { conn, reason: CloseReason::Reset });
}

/// A partition breaks the path itself: frames a crashed node left in flight are dropped by it,
/// and the peer still gets exactly one reset.
#[test]
fn a_partition_after_a_crash_drops_the_frames_left_in_flight() {
    let mut h = Harness::new(10, jittery());
    let (ca, cb) = h.connect(A, B);
    h.send(A, ca, b"doomed".to_vec());
    h.net.crash_node(A);
    h.net.partition(A, B);
    h.after(Duration::from_secs(1));
    assert!(h.frames(B, cb).is_empty());
    assert_eq!(
        h.events(B).last(),
        Some(&NetEvent::Closed { conn: cb, reason: CloseReason::Reset })
    );
    let resets = h.events(B).iter().filter(|e| matches!(e, NetEvent::Closed { .. })).count();
    assert_eq!(resets, 1);
}

/// Frames held by a clog when their sender crashes stay held, and the reset waits behind them.
#[test]
fn a_clog_holds_the_reset_behind_the_frames_of_a_crashed_sender() {
    let mut h = Harness::new(11, jittery());
    let (ca, cb) = h.connect(A, B);
    h.net.clog(A, B);
    h.send(A, ca, vec![1]);
    h.send(A, ca, vec![2]);
    h.net.crash_node(A);
    h.after(Duration::from_secs(1));
    assert!(h
        .events(B)
        .iter()
        .all(|e| !matches!(e, NetEvent::Frame { .. } | NetEvent::Closed { .. })));
    h.net.unclog(A, B);
    h.after(Duration::from_millis(1));
    let tail: Vec<NetEvent> = h.events(B).into_iter().rev().take(3).rev().collect();
    assert_eq!(
        tail,
        vec![
            NetEvent::Frame { conn: cb, data: vec![1] },
            NetEvent::Frame { conn: cb, data: vec![2] },
            NetEvent::Closed { conn: cb, reason: CloseReason::Reset }
        ]
    );
}

#[test]
fn dial_to_a_live_host_without_listener_is_refused() {
    let mut h = Harness::new(7, jittery());
    let c = h.net.endpoint(A).dial(&Addr::new("n1:9999")).unwrap();
    h.after(Duration::from_millis(100));
    assert_eq!(h.events(A), vec![NetEvent::DialFailed { conn: c, error: DialError::Refused }]);
    assert!(h.net.endpoint(B).listen(&Addr::new("n1:1")).is_err(), "address in use");
    assert!(h.net.endpoint(A).dial(&Addr::new("nonsense")).is_err(), "bad address");
}
