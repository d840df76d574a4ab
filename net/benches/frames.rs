//! Frames per wall second through one transport stream, on RealNet (loopback TCP) and SimNet.
//!
//! Workload: two members `a` and `b` with the transport's general streams up; `a` is asked to
//! send `messages` general messages of `PAYLOAD` bytes to `b`; a frame counts when `b`'s
//! transport has decoded, checked and delivered it. The figure is messages / wall seconds for
//! the whole burst, including encoding, CRC, identity checks and (on SimNet) the simulator's
//! event loop. Both networks run the same actor code in the same process, one after the other.
//!
//! Run: `cargo bench -p net --bench frames` (add `-- --quick` for a smaller burst).

use std::rc::Rc;

use net::cluster::Cluster;
use net::frame::{MessageKind, StreamType};
use net::ids::MemberId;
use net::transport::{Outgoing, Transport, TransportConfig, TransportEvent};
use sim::io::{Addr, Disk, NetEvent};
use sim::real::runtime::RealRuntime;
use sim::time::{Duration, Instant};
use sim::world::{World, WorldConfig};
use sim::{Actor, Env, Halt, NodeId, Seed, TimerId};

/// Payload bytes per message (a small raft append).
const PAYLOAD: usize = 128;

/// Wall-clock seconds taken by `f`, and its result.
#[allow(clippy::disallowed_methods, clippy::disallowed_types)] // a benchmark measures real time
fn timed<T>(f: impl FnOnce() -> T) -> (f64, T) {
    let start = std::time::Instant::now();
    let out = f();
    (start.elapsed().as_secs_f64(), out)
}

/// What the bench asks a member to do.
pub enum Cmd {
    AddPeer(MemberId, Addr),
    Send { to: MemberId, count: usize },
}

/// A member that only runs a transport and counts what it receives.
pub struct Member {
    pub transport: Transport,
    pub received: u64,
    pub last: Option<u8>,
    pub in_order: bool,
    peers: Vec<(MemberId, Addr)>,
}

impl Member {
    pub fn new(cfg: TransportConfig, peers: Vec<(MemberId, Addr)>) -> Member {
        Member { transport: Transport::new(cfg), received: 0, last: None, in_order: true, peers }
    }

    fn drain(&mut self) {
        for e in self.transport.take_events() {
            if let TransportEvent::Received { payload, .. } = e {
                let b = payload[0];
                if let Some(prev) = self.last {
                    self.in_order &= b == prev.wrapping_add(1);
                }
                self.last = Some(b);
                self.received += 1;
            }
        }
    }
}

impl Actor for Member {
    type Request = Cmd;
    type Response = ();

    fn on_start(&mut self, env: &mut Env<'_, ()>) -> Result<(), Halt> {
        for (id, addr) in self.peers.clone() {
            self.transport.add_peer(env, id, addr);
        }
        self.transport.start(env).map_err(|e| Halt::Fatal(e.to_string()))
    }
    fn on_timer(&mut self, env: &mut Env<'_, ()>, id: TimerId, tag: u64) -> Result<(), Halt> {
        self.transport.on_timer(env, id, tag);
        self.drain();
        Ok(())
    }
    fn on_net(&mut self, env: &mut Env<'_, ()>, event: NetEvent) -> Result<(), Halt> {
        self.transport.on_net(env, event);
        self.drain();
        Ok(())
    }
    fn on_request(&mut self, env: &mut Env<'_, ()>, cmd: Cmd) -> Result<(), Halt> {
        match cmd {
            Cmd::AddPeer(id, addr) => self.transport.add_peer(env, id, addr),
            Cmd::Send { to, count } => {
                let msgs = (0..count).map(|i| Outgoing {
                    to,
                    kind: MessageKind::General,
                    payload: vec![i as u8; PAYLOAD].into(),
                });
                self.transport.send(env, msgs);
            }
        }
        self.drain();
        Ok(())
    }
}

/// The two members' IDs and cluster ID.
fn identities() -> (Cluster, MemberId, MemberId) {
    let c = Cluster::bootstrap("a=http://n1:2380,b=http://n2:2380", "bench").expect("cluster");
    let a = c.member_by_name("a").expect("a").id;
    let b = c.member_by_name("b").expect("b").id;
    (c, a, b)
}

/// RealNet: two runtimes in this thread, driven in turns.
fn realnet(messages: usize) -> (f64, u64, bool) {
    let (c, a, b) = identities();
    let any = Addr::new("127.0.0.1:0");
    let cfg = |me| TransportConfig::new(me, c.id(), any.clone());
    let disk: Rc<dyn Disk> = Rc::new(sim::io::disk::NoDisk);
    let mut ra =
        RealRuntime::new(NodeId(1), Seed(1), Rc::clone(&disk), Member::new(cfg(a), vec![]));
    let mut rb = RealRuntime::new(NodeId(2), Seed(1), disk, Member::new(cfg(b), vec![]));
    ra.start().expect("a starts");
    rb.start().expect("b starts");
    let addr_a = ra.net().local_addr().expect("a listens");
    let addr_b = rb.net().local_addr().expect("b listens");
    ra.request(Cmd::AddPeer(b, addr_b));
    rb.request(Cmd::AddPeer(a, addr_a));
    let slice = core::time::Duration::from_millis(2);
    let mut turns = 0;
    while !(ra.actor().transport.writer_up(b, StreamType::General)
        && rb.actor().transport.reader_up(a, StreamType::General))
    {
        ra.run_for(slice);
        rb.run_for(slice);
        turns += 1;
        assert!(turns < 5_000, "streams did not come up on loopback");
    }
    ra.request(Cmd::Send { to: b, count: messages });
    let want = messages as u64;
    let (secs, ()) = timed(|| {
        ra.run_for(slice);
        while rb.actor().received < want {
            let _ = rb.run_until(core::time::Duration::from_millis(50), |m, _| m.received >= want);
            ra.run_for(core::time::Duration::ZERO);
        }
    });
    let m = rb.actor();
    (secs, m.received, m.in_order)
}

/// SimNet: the same two members in a simulated world (default links: 0.5 ms +- 0.2 ms).
fn simnet(messages: usize) -> (f64, u64, bool) {
    let (c, a, b) = identities();
    let (addr_a, addr_b) = (Addr::new("n1:2380"), Addr::new("n2:2380"));
    let cluster = c.id();
    let mut w: World<Member> = World::new(Seed(1), WorldConfig::default());
    let (pa, pb) = (addr_a.clone(), addr_b.clone());
    w.add_node(NodeId(1), move |_| {
        Member::new(TransportConfig::new(a, cluster, pa.clone()), vec![(b, pb.clone())])
    });
    let (pa, pb) = (addr_a, addr_b);
    w.add_node(NodeId(2), move |_| {
        Member::new(TransportConfig::new(b, cluster, pb.clone()), vec![(a, pa.clone())])
    });
    let limit = Instant::ZERO + Duration::from_secs(3600);
    let up = w.run_while(limit, |w| {
        !w.node(NodeId(1)).is_some_and(|m| m.transport.writer_up(b, StreamType::General))
    });
    assert!(up, "streams did not come up on SimNet");
    w.request(NodeId(1), Cmd::Send { to: b, count: messages });
    let want = messages as u64;
    let received = |w: &World<Member>| w.node(NodeId(2)).map_or(0, |m| m.received);
    let (secs, done) = timed(|| w.run_while(limit, |w| received(w) < want));
    assert!(done, "SimNet run hit its limit");
    let m = w.node(NodeId(2)).expect("b is up");
    (secs, m.received, m.in_order)
}

fn report(name: &str, messages: usize, (secs, got, in_order): (f64, u64, bool)) {
    assert_eq!(got, messages as u64, "{name}: every frame must arrive");
    assert!(in_order, "{name}: frames must arrive in order");
    println!(
        "{name:<8} {messages:>8} frames  {secs:>8.3} s  {:>12.0} frames/s",
        messages as f64 / secs
    );
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let messages = if quick { 20_000 } else { 200_000 };
    println!("net frames bench: {PAYLOAD}-byte general messages a -> b over one stream");
    report("simnet", messages, simnet(messages));
    report("realnet", messages, realnet(messages));
}
