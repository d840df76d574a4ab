//! The same transport over real loopback TCP (sim's RealRuntime + RealNet): streams come up and
//! carry messages in order, and a member of another cluster is refused on both sides.
//!
//! Runs are bounded by wall-clock limits, but nothing asserts how long anything took.

use std::rc::Rc;

use net::cluster::Cluster;
use net::frame::{MessageKind, StreamType};
use net::ids::MemberId;
use net::refusal::Refusal;
use net::transport::{Outgoing, Transport, TransportConfig, TransportEvent};
use sim::io::{Addr, Disk, NetEvent};
use sim::real::runtime::RealRuntime;
use sim::{Actor, Env, Halt, NodeId, Seed, TimerId};

enum Cmd {
    AddPeer(MemberId, Addr),
    Send(Vec<Outgoing>),
}

/// A member running only the transport; it keeps every event.
struct Member {
    transport: Transport,
    events: Vec<TransportEvent>,
}

impl Member {
    fn keep(&mut self) {
        self.events.extend(self.transport.take_events());
    }
}

impl Actor for Member {
    type Request = Cmd;
    type Response = ();
    fn on_start(&mut self, env: &mut Env<'_, ()>) -> Result<(), Halt> {
        self.transport.start(env).map_err(|e| Halt::Fatal(e.to_string()))
    }
    fn on_timer(&mut self, env: &mut Env<'_, ()>, id: TimerId, tag: u64) -> Result<(), Halt> {
        self.transport.on_timer(env, id, tag);
        self.keep();
        Ok(())
    }
    fn on_net(&mut self, env: &mut Env<'_, ()>, event: NetEvent) -> Result<(), Halt> {
        self.transport.on_net(env, event);
        self.keep();
        Ok(())
    }
    fn on_request(&mut self, env: &mut Env<'_, ()>, cmd: Cmd) -> Result<(), Halt> {
        match cmd {
            Cmd::AddPeer(id, addr) => self.transport.add_peer(env, id, addr),
            Cmd::Send(m) => self.transport.send(env, m),
        }
        self.keep();
        Ok(())
    }
}

const IC: &str = "a=http://n1:2380,b=http://n2:2380";

fn runtime(node: u32, token: &str, name: &str) -> (RealRuntime<Member>, MemberId, Addr) {
    let c = Cluster::bootstrap(IC, token).unwrap();
    let me = c.member_by_name(name).unwrap().id;
    let cfg = TransportConfig::new(me, c.id(), Addr::new("127.0.0.1:0"));
    let m = Member { transport: Transport::new(cfg), events: Vec::new() };
    let disk: Rc<dyn Disk> = Rc::new(sim::io::disk::NoDisk);
    let mut rt = RealRuntime::new(NodeId(node), Seed(1), disk, m);
    rt.start().expect("starts");
    let addr = rt.net().local_addr().expect("listens");
    (rt, me, addr)
}

/// Runs both runtimes in turns until `done` holds; panics after about 20 s of turns.
fn drive(
    x: &mut RealRuntime<Member>,
    y: &mut RealRuntime<Member>,
    mut done: impl FnMut(&Member, &Member) -> bool,
) {
    let slice = core::time::Duration::from_millis(5);
    for _ in 0..2000 {
        if done(x.actor(), y.actor()) {
            return;
        }
        x.run_for(slice);
        y.run_for(slice);
    }
    panic!("condition not reached on loopback");
}

#[test]
fn streams_carry_messages_in_order_over_loopback() {
    let (mut ra, a, addr_a) = runtime(1, "t", "a");
    let (mut rb, b, addr_b) = runtime(2, "t", "b");
    ra.request(Cmd::AddPeer(b, addr_b));
    rb.request(Cmd::AddPeer(a, addr_a));
    drive(&mut ra, &mut rb, |x, y| {
        x.transport.writer_up(b, StreamType::General)
            && y.transport.reader_up(a, StreamType::General)
    });
    let msgs: Vec<Outgoing> = (0..200u32)
        .map(|s| Outgoing {
            to: b,
            kind: MessageKind::General,
            payload: s.to_be_bytes().to_vec().into(),
        })
        .collect();
    ra.request(Cmd::Send(msgs));
    drive(&mut ra, &mut rb, |_, y| {
        y.events.iter().filter(|e| matches!(e, TransportEvent::Received { .. })).count() >= 200
    });
    let seqs: Vec<u32> = rb
        .actor()
        .events
        .iter()
        .filter_map(|e| match e {
            TransportEvent::Received { from, payload, .. } if *from == a => {
                Some(u32::from_be_bytes(payload[..].try_into().unwrap()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(seqs, (0..200).collect::<Vec<u32>>());
    assert_eq!(ra.actor().transport.stats().messages_sent_stream, 200);
}

#[test]
fn another_cluster_is_refused_on_both_sides_over_loopback() {
    let (mut ra, a, addr_a) = runtime(1, "t", "a");
    let (mut rb, b_other, addr_b) = runtime(2, "other", "b");
    let b_good = Cluster::bootstrap(IC, "t").unwrap().member_by_name("b").unwrap().id;
    let a_other = Cluster::bootstrap(IC, "other").unwrap().member_by_name("a").unwrap().id;
    ra.request(Cmd::AddPeer(b_good, addr_b));
    rb.request(Cmd::AddPeer(a_other, addr_a));
    let mismatch = |m: &Member| {
        m.events
            .iter()
            .any(|e| matches!(e, TransportEvent::Refused(Refusal::ClusterIdMismatch { .. })))
    };
    drive(&mut ra, &mut rb, |x, y| mismatch(x) && mismatch(y));
    let (ca, cb) = (ra.actor().transport.config().cluster, rb.actor().transport.config().cluster);
    assert!(ra.actor().events.contains(&TransportEvent::Refused(Refusal::ClusterIdMismatch {
        local: ca,
        remote: cb,
        remote_member: b_other
    })));
    assert!(rb.actor().events.contains(&TransportEvent::Refused(Refusal::ClusterIdMismatch {
        local: cb,
        remote: ca,
        remote_member: a
    })));
    assert!(!ra.actor().transport.reader_up(b_good, StreamType::General));
    assert!(!rb.actor().events.iter().any(|e| matches!(e, TransportEvent::Received { .. })));
}
