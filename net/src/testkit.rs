//! Test support: a scripted environment for driving transports by hand, and a tiny zero-latency
//! FIFO "wire" joining several of them, so the transport's logic is tested without the world.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::rc::Rc;

use sim::env::{EnvParts, Timers, TraceSink};
use sim::io::{Addr, Clock, CloseReason, ConnId, DialError, Disk, Net, NetError, NetEvent};
use sim::time::{Duration, Instant};
use sim::{Env, NodeId, Seed, TimerId};

use crate::transport::{Transport, TransportEvent};

/// A network call the transport made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Call {
    Listen(Addr),
    Dial(ConnId, Addr),
    Send(ConnId, Vec<u8>),
    Close(ConnId),
}

#[derive(Default)]
pub struct FakeNet {
    next: u64,
    pub calls: Vec<Call>,
    /// Connections on which `send` fails with NotConnected.
    pub broken: BTreeSet<ConnId>,
}

impl Net for FakeNet {
    fn listen(&mut self, addr: &Addr) -> Result<(), NetError> {
        self.calls.push(Call::Listen(addr.clone()));
        Ok(())
    }
    fn dial(&mut self, addr: &Addr) -> Result<ConnId, NetError> {
        self.next += 1;
        let c = ConnId(self.next);
        self.calls.push(Call::Dial(c, addr.clone()));
        Ok(c)
    }
    fn send(&mut self, conn: ConnId, frame: Vec<u8>) -> Result<(), NetError> {
        if self.broken.contains(&conn) {
            return Err(NetError::NotConnected { conn });
        }
        self.calls.push(Call::Send(conn, frame));
        Ok(())
    }
    fn close(&mut self, conn: ConnId) {
        self.calls.push(Call::Close(conn));
    }
}

#[derive(Default)]
pub struct FakeTimers {
    next: u64,
    /// Pending timers: id -> (fires at, tag).
    pub pending: BTreeMap<TimerId, (Instant, u64)>,
    now: Instant,
}

impl Timers for FakeTimers {
    fn set(&mut self, after: Duration, tag: u64) -> TimerId {
        self.next += 1;
        let id = TimerId(self.next);
        self.pending.insert(id, (self.now + after, tag));
        id
    }
    fn cancel(&mut self, id: TimerId) {
        self.pending.remove(&id);
    }
}

pub struct FixedClock(pub Instant);
impl Clock for FixedClock {
    fn now(&self) -> Instant {
        self.0
    }
}

#[derive(Default)]
pub struct Records(pub Vec<(String, String)>);
impl TraceSink for Records {
    fn record(&mut self, kind: &str, detail: &str) {
        self.0.push((kind.to_string(), detail.to_string()));
    }
}

/// Everything one transport's handlers need, scripted by the test.
pub struct Rig {
    pub now: Instant,
    pub net: FakeNet,
    pub timers: FakeTimers,
    pub trace: Records,
    disk: Rc<dyn Disk>,
    rng: sim::Rng,
    /// BUGGIFY for this transport's handlers (`None`: off).
    pub buggify: Option<sim::buggify::Forced>,
}

impl Rig {
    pub fn new() -> Rig {
        Rig {
            now: Instant::ZERO,
            net: FakeNet::default(),
            timers: FakeTimers::default(),
            trace: Records::default(),
            disk: Rc::new(sim::io::disk::NoDisk),
            rng: Seed(1).stream("testkit"),
            buggify: None,
        }
    }

    /// Runs `f` with an Env over this rig.
    pub fn with<T>(&mut self, f: impl FnOnce(&mut Env<'_, ()>) -> T) -> T {
        self.timers.now = self.now;
        let clock = FixedClock(self.now);
        let mut responses = Vec::new();
        let mut disabled = sim::buggify::Disabled;
        let buggify: &mut dyn sim::env::Buggify = match &mut self.buggify {
            Some(forced) => forced,
            None => &mut disabled,
        };
        let mut env = Env::new(EnvParts {
            node: NodeId(0),
            clock: &clock,
            disk: &self.disk,
            net: &mut self.net,
            timers: &mut self.timers,
            rng: &mut self.rng,
            trace: &mut self.trace,
            buggify,
            responses: &mut responses,
            alive: &|| true,
        });
        f(&mut env)
    }

    pub fn take_calls(&mut self) -> Vec<Call> {
        std::mem::take(&mut self.net.calls)
    }
}

/// Several transports joined by a zero-latency, in-order wire. Node `i` listens on `addrs[i]`.
pub struct Wire {
    pub now: Instant,
    pub nodes: Vec<(Rig, Transport)>,
    /// Per node, events received so far.
    pub events: Vec<Vec<TransportEvent>>,
    /// (node, conn) -> (node, conn) for established connections.
    links: BTreeMap<(usize, ConnId), (usize, ConnId)>,
    listeners: BTreeMap<Addr, usize>,
    next_conn: Vec<u64>,
    queue: VecDeque<(usize, NetEvent)>,
    /// Directed pairs that cannot talk.
    pub blocked: BTreeSet<(usize, usize)>,
}

impl Wire {
    pub fn new(nodes: Vec<Transport>) -> Wire {
        let n = nodes.len();
        Wire {
            now: Instant::ZERO,
            nodes: nodes.into_iter().map(|t| (Rig::new(), t)).collect(),
            events: vec![Vec::new(); n],
            links: BTreeMap::new(),
            listeners: BTreeMap::new(),
            next_conn: vec![1_000_000; n],
            queue: VecDeque::new(),
            blocked: BTreeSet::new(),
        }
    }

    pub fn start(&mut self) {
        for i in 0..self.nodes.len() {
            self.call(i, |env, t| t.start(env).expect("listen"));
        }
        self.settle();
    }

    /// Runs `f` on node `i`'s transport, then routes what it did.
    pub fn call<T>(
        &mut self,
        i: usize,
        f: impl FnOnce(&mut Env<'_, ()>, &mut Transport) -> T,
    ) -> T {
        let (rig, t) = &mut self.nodes[i];
        rig.now = self.now;
        let out = rig.with(|env| f(env, t));
        self.events[i].extend(self.nodes[i].1.take_events());
        self.route(i);
        out
    }

    fn route(&mut self, i: usize) {
        for call in self.nodes[i].0.take_calls() {
            match call {
                Call::Listen(a) => {
                    self.listeners.insert(a, i);
                }
                Call::Dial(c, addr) => match self.listeners.get(&addr).copied() {
                    Some(j)
                        if !self.blocked.contains(&(i, j)) && !self.blocked.contains(&(j, i)) =>
                    {
                        self.next_conn[j] += 1;
                        let cj = ConnId(self.next_conn[j]);
                        self.links.insert((i, c), (j, cj));
                        self.links.insert((j, cj), (i, c));
                        self.queue.push_back((j, NetEvent::Accepted { conn: cj, local: addr }));
                        self.queue.push_back((i, NetEvent::Connected { conn: c }));
                    }
                    Some(_) => self.queue.push_back((
                        i,
                        NetEvent::DialFailed { conn: c, error: DialError::Timeout },
                    )),
                    None => self.queue.push_back((
                        i,
                        NetEvent::DialFailed { conn: c, error: DialError::Refused },
                    )),
                },
                Call::Send(c, data) => {
                    if let Some(&(j, cj)) = self.links.get(&(i, c)) {
                        self.queue.push_back((j, NetEvent::Frame { conn: cj, data }));
                    }
                }
                Call::Close(c) => {
                    if let Some((j, cj)) = self.links.remove(&(i, c)) {
                        self.links.remove(&(j, cj));
                        let reason = CloseReason::PeerClosed;
                        self.queue.push_back((j, NetEvent::Closed { conn: cj, reason }));
                    }
                }
            }
        }
    }

    /// Delivers queued events until none are left.
    pub fn settle(&mut self) {
        while let Some((i, ev)) = self.queue.pop_front() {
            self.call(i, |env, t| t.on_net(env, ev));
        }
    }

    /// Blocks a and b both ways and resets their connections.
    pub fn partition(&mut self, a: usize, b: usize) {
        self.blocked.insert((a, b));
        self.blocked.insert((b, a));
        let cut: Vec<((usize, ConnId), (usize, ConnId))> = self
            .links
            .iter()
            .filter(|((x, _), (y, _))| (*x == a && *y == b) || (*x == b && *y == a))
            .map(|(k, v)| (*k, *v))
            .collect();
        for (end, _) in cut {
            self.links.remove(&end);
            self.queue.retain(|(n, e)| !(*n == end.0 && conn_of(e) == Some(end.1)));
            self.queue
                .push_back((end.0, NetEvent::Closed { conn: end.1, reason: CloseReason::Reset }));
        }
        self.settle();
    }

    pub fn heal(&mut self) {
        self.blocked.clear();
    }

    /// Advances time to `t`, firing due timers in time order.
    pub fn run_until(&mut self, t: Instant) {
        loop {
            let next = self
                .nodes
                .iter()
                .enumerate()
                .flat_map(|(i, (r, _))| {
                    r.timers.pending.iter().map(move |(id, (at, tag))| (*at, i, *id, *tag))
                })
                .min();
            match next {
                Some((at, i, id, tag)) if at <= t => {
                    self.now = at;
                    self.nodes[i].0.timers.pending.remove(&id);
                    self.call(i, |env, tr| tr.on_timer(env, id, tag));
                    self.settle();
                }
                _ => break,
            }
        }
        self.now = t;
    }
}

fn conn_of(e: &NetEvent) -> Option<ConnId> {
    match e {
        NetEvent::Connected { conn }
        | NetEvent::DialFailed { conn, .. }
        | NetEvent::Accepted { conn, .. }
        | NetEvent::Frame { conn, .. }
        | NetEvent::Closed { conn, .. } => Some(*conn),
    }
}
