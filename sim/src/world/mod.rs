//! The discrete-event world: one thread, one global virtual clock, an event queue ordered by
//! (time, sequence), and nodes that are sans-I/O [`Actor`]s.
//!
//! Each node owns a [`SimClock`] (skew and drift off by default), a [`SimDisk`] (stream
//! `"disk/<id>"`), its own RNG stream (`"node/<id>"`) and BUGGIFY stream (`"node/<id>/buggify"`);
//! all nodes share one [`SimNet`] (stream `"net"`). A handler runs to completion; afterwards the
//! world
//! - delays the node's next event by the simulated disk time the handler used (`take_latency`);
//! - crashes the node if its disk crashed or the handler returned `Err(Halt::Crashed)`: the disk
//!   loses what was not synced, connections reset, the actor is dropped, the halt is recorded;
//! - stops the node for good if it returned `Err(Halt::Fatal(_))`.
//!
//! A crashed node stays down until a fault or the caller restarts it; the restart calls the
//! node's factory again, and the new actor must rebuild from its disk alone.
//!
//! Events of a dead incarnation (timers set before a crash) are discarded. A paused or busy node
//! has its events deferred to the end of the pause, in their original order.
//!
//! Every handled event enters the [`Trace`]: `(time, node, kind, digest)`.

mod node;
pub mod pingpong;
mod queue;

use std::rc::Rc;

pub use node::Status;
pub use queue::EventQueue;

use crate::buggify::{BuggifyConfig, NodeBuggify, Sites};
use crate::env::{Actor, Env, EnvParts, Halt, NodeId, TimerId};
use crate::fault::{Fault, FaultPlan};
use crate::io::{CloseReason, DialError, NetEvent};
use crate::seed::{fnv1a64, Seed};
use crate::simulated::clock::ClockConfig;
use crate::simulated::disk::{DiskConfig, SimDisk};
use crate::simulated::net::{LinkConfig, NetConfig, SimNet, Wake};
use crate::time::{Duration, Instant};
use crate::trace::{mix, Kind, Trace};

const START: Kind<'static> = Kind::new("start");
const TIMER: Kind<'static> = Kind::new("timer");
const NET: Kind<'static> = Kind::new("net");

use node::{Node, NodeTimers, NodeTrace};

/// Everything configurable about a world. `Default`: no faults, no skew, BUGGIFY off, records
/// not kept (the trace hash is always computed).
#[derive(Clone, Debug, Default)]
pub struct WorldConfig {
    pub net: NetConfig,
    pub disk: DiskConfig,
    /// Skew and drift every node's clock starts with.
    pub clock: ClockConfig,
    pub buggify: BuggifyConfig,
    /// Keep trace records (for rendering); costs an allocation per event.
    pub keep_trace: bool,
}

/// A closure scheduled to run on the world.
pub(crate) type Action<A> = Box<dyn FnOnce(&mut World<A>)>;

/// Something scheduled in the world.
pub(crate) enum Event<A: Actor> {
    Start { node: NodeId, incarnation: u64 },
    Timer { node: NodeId, incarnation: u64, id: TimerId, tag: u64 },
    Net(Wake),
    Request { node: NodeId, request: A::Request },
    Fault(Fault),
    Action(Action<A>),
}

impl<A: Actor> Event<A> {
    /// The node whose handler the event runs, if any (those are deferred while it is busy).
    fn node(&self) -> Option<NodeId> {
        match self {
            Event::Start { node, .. } | Event::Timer { node, .. } | Event::Request { node, .. } => {
                Some(*node)
            }
            Event::Net(w) => Some(w.node),
            Event::Fault(_) | Event::Action(_) => None,
        }
    }
}

/// A simulated world of actors of type `A`.
pub struct World<A: Actor> {
    seed: Seed,
    config: WorldConfig,
    now: Instant,
    queue: EventQueue<Event<A>>,
    nodes: Vec<Node<A>>,
    net: SimNet,
    trace: Trace,
    sites: Sites,
    events: u64,
    responses: Vec<(NodeId, Instant, A::Response)>,
    response_buf: Vec<A::Response>,
    halts: Vec<(Instant, NodeId, Halt)>,
}

impl<A: Actor> World<A> {
    pub fn new(seed: Seed, config: WorldConfig) -> World<A> {
        World {
            seed,
            now: Instant::ZERO,
            queue: EventQueue::new(),
            nodes: Vec::new(),
            net: SimNet::new(seed.stream("net"), config.net),
            trace: Trace::new(config.keep_trace),
            sites: Sites::new(seed, config.buggify),
            events: 0,
            responses: Vec::new(),
            response_buf: Vec::new(),
            halts: Vec::new(),
            config,
        }
    }

    /// Adds a node built by `factory` (called again on every restart; the new actor must rebuild
    /// from its disk alone) and schedules its start now.
    pub fn add_node(&mut self, id: NodeId, factory: impl FnMut(NodeId) -> A + 'static) {
        assert!(self.index(id).is_none(), "node {id} added twice");
        let node = Node::new(
            id,
            self.seed,
            Box::new(factory),
            self.config.clock,
            self.config.disk.clone(),
        );
        self.nodes.push(node);
        self.net.add_node(id);
        self.queue.push(self.now, Event::Start { node: id, incarnation: 0 });
    }

    pub fn seed(&self) -> Seed {
        self.seed
    }

    pub fn config(&self) -> &WorldConfig {
        &self.config
    }

    /// Global virtual time: the time of the last event handled (or of the last `run_until`).
    pub fn now(&self) -> Instant {
        self.now
    }

    /// The ids of all nodes, in the order they were added.
    pub fn node_ids(&self) -> Vec<NodeId> {
        self.nodes.iter().map(|n| n.id).collect()
    }

    fn index(&self, id: NodeId) -> Option<usize> {
        let i = id.0 as usize;
        if i < self.nodes.len() && self.nodes[i].id == id {
            return Some(i);
        }
        self.nodes.iter().position(|n| n.id == id)
    }

    fn must(&self, id: NodeId) -> usize {
        self.index(id).unwrap_or_else(|| panic!("no node {id} in this world"))
    }

    /// Runs `action` on the world at `at` (not before now).
    pub fn schedule(&mut self, at: Instant, action: impl FnOnce(&mut World<A>) + 'static) {
        self.queue.push(at.max(self.now), Event::Action(Box::new(action)));
    }

    /// Delivers `request` to `node` as an event now.
    pub fn request(&mut self, node: NodeId, request: A::Request) {
        self.request_at(self.now, node, request);
    }

    /// Delivers `request` to `node` at `at` (dropped, and traced, if the node is down then).
    pub fn request_at(&mut self, at: Instant, node: NodeId, request: A::Request) {
        self.queue.push(at.max(self.now), Event::Request { node, request });
    }

    /// Kills `node` now: its disk loses what was not synced, its connections reset, its memory is
    /// dropped. No effect on a node that is not running.
    pub fn crash(&mut self, node: NodeId) {
        let i = self.must(node);
        self.crash_index(i, "fault");
    }

    fn crash_index(&mut self, i: usize, cause: &str) {
        let now = self.now;
        let n = &mut self.nodes[i];
        if !matches!(n.status, Status::Up | Status::Starting) {
            return;
        }
        let id = n.id;
        n.disk.crash();
        n.fault_armed = false;
        n.bury(Status::Crashed, now);
        self.net.crash_node(id);
        self.halts.push((now, id, Halt::Crashed));
        self.trace.event(now, Some(id), "crash", fnv1a64(cause.as_bytes()), || cause.to_string());
        if self.nodes[i].restarts_owed > 0 {
            self.nodes[i].restarts_owed -= 1;
            self.restart(id);
        }
    }

    /// The `k`-th disk operation of `node` from now fails with `Crashed`, and the node with it.
    pub fn crash_at_disk_op(&mut self, node: NodeId, k: u64) {
        let i = self.must(node);
        self.nodes[i].disk.crash_after_ops(k);
        self.nodes[i].fault_armed = true;
    }

    /// Restarts a node that is down: its factory builds a new actor, then `on_start` runs (as an
    /// event, now). On a running node with an armed disk fault (`crash_at_disk_op`, sync EIO) the
    /// restart follows as soon as the node goes down; otherwise no effect on a running node.
    pub fn restart(&mut self, node: NodeId) {
        let i = self.must(node);
        let now = self.now;
        let n = &mut self.nodes[i];
        if matches!(n.status, Status::Up | Status::Starting) {
            n.restarts_owed += u32::from(n.fault_armed);
            return;
        }
        n.incarnation += 1;
        n.status = Status::Starting;
        let incarnation = n.incarnation;
        self.queue.push(now, Event::Start { node, incarnation });
        self.trace.event(now, Some(node), "restart", incarnation, String::new);
    }

    /// Stops `node` cleanly: no disk loss, peers see their connections closed.
    pub fn stop(&mut self, node: NodeId) {
        let i = self.must(node);
        let now = self.now;
        if !matches!(self.nodes[i].status, Status::Up | Status::Starting) {
            return;
        }
        self.nodes[i].bury(Status::Stopped, now);
        self.net.stop_node(node);
        self.trace.event(now, Some(node), "stop", 0, String::new);
    }

    /// The node handles no event until `for_` has passed; its events wait, in order.
    pub fn pause(&mut self, node: NodeId, for_: Duration) {
        let i = self.must(node);
        let n = &mut self.nodes[i];
        // Saturating: a hand-written plan may ask for an absurd pause; that is not a panic.
        n.busy_until =
            n.busy_until.max(Instant(self.now.as_nanos().saturating_add(for_.as_nanos())));
        self.trace.event(self.now, Some(node), "pause", for_.as_nanos(), || format!("for {for_}"));
    }

    pub fn is_up(&self, node: NodeId) -> bool {
        self.index(node).is_some_and(|i| self.nodes[i].status == Status::Up)
    }

    pub fn status(&self, node: NodeId) -> Status {
        self.nodes[self.must(node)].status
    }

    /// The running actor of `node` (None while it is down).
    pub fn node(&self, node: NodeId) -> Option<&A> {
        self.index(node).and_then(|i| self.nodes[i].actor.as_ref())
    }

    pub fn node_mut(&mut self, node: NodeId) -> Option<&mut A> {
        self.index(node).and_then(|i| self.nodes[i].actor.as_mut())
    }

    /// The node's disk (the same one across restarts).
    pub fn disk(&self, node: NodeId) -> Rc<SimDisk> {
        Rc::clone(&self.nodes[self.must(node)].disk)
    }

    /// The node's clock.
    pub fn clock(&self, node: NodeId) -> &crate::simulated::clock::SimClock {
        &self.nodes[self.must(node)].clock
    }

    pub fn net(&self) -> &SimNet {
        &self.net
    }

    /// Partition, heal, clog and latency controls. Effects start now.
    pub fn net_mut(&mut self) -> &mut SimNet {
        self.net.set_now(self.now);
        &mut self.net
    }

    /// Applies one fault now. Faults naming an unknown node are ignored (and traced): plans are
    /// data and may be written by hand.
    pub fn apply(&mut self, fault: &Fault) {
        let json = fault.to_json();
        let known = fault.node().is_none_or(|n| self.index(n).is_some());
        let kind = if known { "fault" } else { "fault-ignored" };
        self.trace.event(self.now, fault.node(), kind, fnv1a64(json.as_bytes()), || json);
        if !known {
            return;
        }
        self.net.set_now(self.now);
        let disk = |w: &World<A>, n: u32| w.disk(NodeId(n));
        match fault {
            Fault::Crash { node } => self.crash(NodeId(*node)),
            Fault::CrashAtDiskOp { node, op } => self.crash_at_disk_op(NodeId(*node), *op),
            Fault::Restart { node } => self.restart(NodeId(*node)),
            Fault::Pause { node, for_ns } => self.pause(NodeId(*node), Duration(*for_ns)),
            Fault::Partition { a, b } => self.net.partition(NodeId(*a), NodeId(*b)),
            Fault::PartitionOneWay { from, to } => {
                self.net.partition_one_way(NodeId(*from), NodeId(*to))
            }
            Fault::Isolate { node } => self.net.isolate(NodeId(*node)),
            Fault::Heal => self.net.heal(),
            Fault::Clog { a, b } => self.net.clog(NodeId(*a), NodeId(*b)),
            Fault::Unclog { a, b } => self.net.unclog(NodeId(*a), NodeId(*b)),
            Fault::LinkLatency { a, b, latency_ns, jitter_ns } => {
                let link =
                    LinkConfig { latency: Duration(*latency_ns), jitter: Duration(*jitter_ns) };
                self.net.set_link(NodeId(*a), NodeId(*b), link)
            }
            Fault::SyncEio { node, path_prefix } => {
                disk(self, *node).fail_next_sync(path_prefix);
                let i = self.must(NodeId(*node));
                self.nodes[i].fault_armed = true;
            }
            Fault::BitFlip { node, path, offset, len } => {
                disk(self, *node).flip_bits_on_read(path, *offset, *len)
            }
            Fault::DiskFull { node, capacity } => disk(self, *node).set_capacity(*capacity),
            Fault::DiskLatency { node, op_ns, sync_ns } => {
                disk(self, *node).set_latency(Duration(*op_ns), Duration(*sync_ns))
            }
            Fault::ClockSkew { node, skew_ns, drift_ppm } => {
                let config = ClockConfig {
                    skew_ns: *skew_ns,
                    drift_ppm: (*drift_ppm).clamp(-999_999, 999_999),
                };
                self.clock(NodeId(*node)).set_config(config)
            }
        }
        self.drain_net();
    }

    /// Schedules every fault of `plan` at its time (faults in the past apply now).
    pub fn install_plan(&mut self, plan: &FaultPlan) {
        for tf in &plan.faults {
            self.queue.push(tf.at().max(self.now), Event::Fault(tf.fault.clone()));
        }
    }

    /// Responses handed back by nodes since the last call, with who and when.
    pub fn take_responses(&mut self) -> Vec<(NodeId, Instant, A::Response)> {
        std::mem::take(&mut self.responses)
    }

    /// Why nodes stopped: every crash (injected or at a disk operation) and every fatal halt.
    pub fn halts(&self) -> &[(Instant, NodeId, Halt)] {
        &self.halts
    }

    pub fn trace(&self) -> &Trace {
        &self.trace
    }

    pub fn trace_hash(&self) -> u64 {
        self.trace.hash()
    }

    /// Events handled so far (deferred and stale events are not counted).
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Events waiting in the queue (including stale ones not yet discarded).
    pub fn pending(&self) -> usize {
        self.queue.len() + usize::from(self.net.has_wakes())
    }

    /// Time of the next queued event.
    pub fn next_event_time(&mut self) -> Option<Instant> {
        self.drain_net();
        self.queue.peek_time()
    }

    fn drain_net(&mut self) {
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
            Event::Fault(fault) => {
                self.events += 1;
                self.apply(&fault);
            }
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
        self.trace.event_of(self.now, Some(node), TIMER, mix(id.0, tag), || {
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
        let keep = self.trace.keeps_records();
        let (digest, detail) = describe_net(&event, keep);
        self.trace.event_of(self.now, Some(wake.node), NET, digest, || detail);
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
        let World { nodes, queue, net, trace, sites, response_buf, .. } = self;
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
        let mut endpoint = net.endpoint(n.id);
        let mut sink = NodeTrace { trace, node: n.id, now };
        let mut buggify = NodeBuggify { sites, rng: &mut n.buggify_rng };
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
        });
        let result = handler(actor, &mut env);
        let id = n.id;
        let responses = &mut self.responses;
        for r in self.response_buf.drain(..) {
            responses.push((id, now, r));
        }
        let n = &mut self.nodes[i];
        let latency = n.disk.take_latency();
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

/// Digest and (when records are kept) a one-line description of a network event.
fn describe_net(event: &NetEvent, keep: bool) -> (u64, String) {
    let (code, conn, extra, text) = match event {
        NetEvent::Connected { conn } => (1, conn, 0, None),
        NetEvent::DialFailed { conn, error } => {
            let e = match error {
                DialError::Refused => 1,
                DialError::Timeout => 2,
            };
            (2, conn, e, keep.then(|| format!("dial failed: {error:?}")))
        }
        NetEvent::Accepted { conn, local } => (
            3,
            conn,
            fnv1a64(local.as_str().as_bytes()),
            keep.then(|| format!("accepted on {local}")),
        ),
        NetEvent::Frame { conn, data } => {
            let d = fnv1a64(data);
            (4, conn, d, keep.then(|| format!("frame len={} digest={d:016x}", data.len())))
        }
        NetEvent::Closed { conn, reason } => {
            let r = match reason {
                CloseReason::PeerClosed => 1,
                CloseReason::Reset => 2,
            };
            (5, conn, r, keep.then(|| format!("closed: {reason:?}")))
        }
    };
    let digest = mix(mix(code, conn.0), extra);
    let detail = if keep {
        let what =
            text.unwrap_or_else(|| if code == 1 { "connected".into() } else { String::new() });
        format!("conn={} {what}", conn.0)
    } else {
        String::new()
    };
    (digest, detail)
}
