//! Running the world: the event loop ([`World::step`] and the run loops), dispatch of each
//! event to its node's handler with a freshly built [`Env`], and what happens after a handler
//! returns (disk latency, crash, halt, responses).

use crate::buggify::NodeBuggify;
use crate::env::{Actor, Env, EnvParts, Halt, NodeId, TimerId};
use crate::io::{CloseReason, ConnId, DialError, NetEvent};
use crate::seed::fnv1a64;
use crate::simulated::net::Wake;
use crate::time::{Duration, Instant};
use crate::trace::{frame_digest, pair, Kind};

use super::node::{NodeTimers, NodeTrace};
use super::{Event, Status, World};

const START: Kind<'static> = Kind::new("start");
const TIMER: Kind<'static> = Kind::new("timer");
const NET: Kind<'static> = Kind::new("net");

impl<A: Actor> World<A> {
    /// Time of the next queued event.
    pub fn next_event_time(&mut self) -> Option<Instant> {
        self.drain_net();
        self.queue.peek_time()
    }

    pub(super) fn drain_net(&mut self) {
        if !self.net.has_wakes() {
            return;
        }
        for wake in self.net.drain_wakes() {
            self.queue.push(wake.at, Event::Net(wake));
        }
    }

    /// Handles the next event. False when the queue is empty.
    pub fn step(&mut self) -> bool {
        self.drain_net();
        let Some((at, event)) = self.queue.pop() else { return false };
        assert!(at >= self.now, "event at {at} is before now {}", self.now);
        self.now = at;
        self.net.set_now(at);
        self.last_stepped = event.node();
        if let Some(node) = event.node() {
            if let Some(i) = self.index(node) {
                let busy = self.nodes[i].busy_until;
                if busy > at {
                    self.queue.push(busy, event);
                    return true;
                }
            }
        }
        self.handle(event);
        self.drain_net();
        true
    }

    fn handle(&mut self, event: Event<A>) {
        match event {
            Event::Start { node, incarnation } => self.start(node, incarnation),
            Event::Timer { node, incarnation, id, tag } => self.timer(node, incarnation, id, tag),
            Event::Net(wake) => self.net_event(wake),
            Event::Request { node, request } => self.deliver_request(node, request),
            Event::PlannedFaults { generation } => self.apply_planned(generation),
            Event::Action(action) => {
                self.events += 1;
                self.trace.event(self.now, None, "action", 0, String::new);
                action(self);
            }
        }
    }

    fn start(&mut self, node: NodeId, incarnation: u64) {
        let Some(i) = self.index(node) else { return };
        let n = &mut self.nodes[i];
        if n.incarnation != incarnation || n.status != Status::Starting {
            return;
        }
        n.actor = Some((n.factory)(node));
        n.status = Status::Up;
        self.net.node_up(node);
        self.events += 1;
        self.trace.event_of(self.now, Some(node), START, incarnation, || {
            format!("incarnation {incarnation}")
        });
        self.call(i, |a, env| a.on_start(env));
    }

    fn timer(&mut self, node: NodeId, incarnation: u64, id: TimerId, tag: u64) {
        let Some(i) = self.index(node) else { return };
        let n = &mut self.nodes[i];
        if n.incarnation != incarnation || n.status != Status::Up || !n.pending_timers.remove(id.0)
        {
            return;
        }
        self.events += 1;
        self.trace.event_of(self.now, Some(node), TIMER, pair(id.0, tag), || {
            format!("id={} tag={tag}", id.0)
        });
        self.call(i, |a, env| a.on_timer(env, id, tag));
    }

    fn net_event(&mut self, wake: Wake) {
        let Some(i) = self.index(wake.node) else { return };
        if self.nodes[i].status != Status::Up {
            return;
        }
        let Some(event) = self.net.deliver(wake) else { return };
        self.events += 1;
        let (code, conn, extra) = net_parts(&event);
        let digest = pair(extra, (code << 56) ^ conn.0);
        self.trace.event_of(self.now, Some(wake.node), NET, digest, || net_detail(&event));
        self.call(i, |a, env| a.on_net(env, event));
    }

    fn deliver_request(&mut self, node: NodeId, request: A::Request) {
        self.events += 1;
        let up = self.index(node).filter(|&i| self.nodes[i].status == Status::Up);
        let Some(i) = up else {
            self.trace.event(self.now, Some(node), "request-lost", 0, || "node is down".into());
            return;
        };
        self.trace.event(self.now, Some(node), "request", 0, String::new);
        self.call(i, |a, env| a.on_request(env, request));
    }

    /// Runs one handler of node `i` with a freshly built [`Env`], then applies its consequences
    /// (disk latency, crash, halt, responses).
    fn call(
        &mut self,
        i: usize,
        handler: impl FnOnce(&mut A, &mut Env<'_, A::Response>) -> Result<(), Halt>,
    ) {
        let now = self.now;
        let World { nodes, queue, net, trace, sites, response_buf, probe, .. } = self;
        let n = &mut nodes[i];
        let Some(actor) = n.actor.as_mut() else { return };
        n.clock.set_global(now);
        let mut timers = NodeTimers {
            queue,
            node: n.id,
            incarnation: n.incarnation,
            now,
            clock: &n.clock,
            next: &mut n.next_timer,
            pending: &mut n.pending_timers,
        };
        // A disk crash inside the handler kills the process at that operation: nothing it
        // sends afterwards reaches the network (what it sent before is delivered).
        let disk = &n.disk;
        let alive = move || !disk.has_crashed();
        let mut endpoint = net.endpoint_while(n.id, &alive);
        if let Some(probe) = probe.as_mut() {
            probe(super::Probe::Handler { node: n.id });
        }
        let mut sink = NodeTrace { trace, node: n.id, now, probe: probe.as_mut() };
        let mut buggify = NodeBuggify::new(sites, &mut n.buggify_rng);
        let mut env = Env::new(EnvParts {
            node: n.id,
            clock: &n.clock,
            disk: &n.disk_dyn,
            net: &mut endpoint,
            timers: &mut timers,
            rng: &mut n.rng,
            trace: &mut sink,
            buggify: &mut buggify,
            responses: response_buf,
            alive: &alive,
        });
        let result = handler(actor, &mut env);
        let stall = buggify.stall;
        let id = n.id;
        let responses = &mut self.responses;
        for r in self.response_buf.drain(..) {
            responses.push((id, now, r));
        }
        if stall > Duration::ZERO {
            self.trace.event(now, Some(id), "stall", stall.0, || format!("buggify: {stall:?}"));
        }
        let n = &mut self.nodes[i];
        let latency = n.disk.take_latency() + stall;
        if latency > Duration::ZERO {
            n.busy_until = n.busy_until.max(now) + latency;
        }
        if n.disk.has_crashed() || result == Err(Halt::Crashed) {
            self.crash_index(i, "disk");
        } else if let Err(halt) = result {
            n.bury(Status::Halted, now);
            self.net.stop_node(id);
            let text = halt.to_string();
            self.trace.event(now, Some(id), "halt", fnv1a64(text.as_bytes()), || text);
            self.halts.push((now, id, halt));
            if self.nodes[i].restarts_owed > 0 {
                self.nodes[i].restarts_owed -= 1;
                self.restart(id);
            }
        }
    }

    /// Handles events up to and including time `t`, then sets the clock to `t`.
    pub fn run_until(&mut self, t: Instant) {
        while self.next_event_time().is_some_and(|next| next <= t) {
            self.step();
        }
        if self.now < t {
            self.now = t;
            self.net.set_now(t);
        }
    }

    /// Handles events until none is left or the next one is after `limit`. Returns whether the
    /// world went quiet (no event left) rather than hitting the limit.
    pub fn run_until_quiescent(&mut self, limit: Instant) -> bool {
        loop {
            match self.next_event_time() {
                None => return true,
                Some(next) if next > limit => return false,
                Some(_) => {
                    self.step();
                }
            }
        }
    }

    /// Handles events while `pred` holds and the next event is at or before `limit`. Returns
    /// whether it stopped because `pred` became false.
    pub fn run_while(&mut self, limit: Instant, mut pred: impl FnMut(&World<A>) -> bool) -> bool {
        loop {
            if !pred(self) {
                return true;
            }
            match self.next_event_time() {
                Some(next) if next <= limit => {
                    self.step();
                }
                _ => return false,
            }
        }
    }
}

/// What of a network event enters its trace digest: a code for its kind, its connection, and
/// one word for its content (the frame's digest, the local address, the reason).
fn net_parts(event: &NetEvent) -> (u64, ConnId, u64) {
    match event {
        NetEvent::Connected { conn } => (1, *conn, 0),
        NetEvent::DialFailed { conn, error } => {
            let e = match error {
                DialError::Refused => 1,
                DialError::Timeout => 2,
            };
            (2, *conn, e)
        }
        NetEvent::Accepted { conn, local } => (3, *conn, fnv1a64(local.as_str().as_bytes())),
        NetEvent::Frame { conn, data } => (4, *conn, frame_digest(data)),
        NetEvent::Closed { conn, reason } => {
            let r = match reason {
                CloseReason::PeerClosed => 1,
                CloseReason::Reset => 2,
            };
            (5, *conn, r)
        }
    }
}

/// A one-line description of a network event (only built when records are kept).
fn net_detail(event: &NetEvent) -> String {
    let (_, conn, extra) = net_parts(event);
    let what = match event {
        NetEvent::Connected { .. } => "connected".to_string(),
        NetEvent::DialFailed { error, .. } => format!("dial failed: {error:?}"),
        NetEvent::Accepted { local, .. } => format!("accepted on {local}"),
        NetEvent::Frame { data, .. } => format!("frame len={} digest={extra:016x}", data.len()),
        NetEvent::Closed { reason, .. } => format!("closed: {reason:?}"),
    };
    format!("conn={} {what}", conn.0)
}
