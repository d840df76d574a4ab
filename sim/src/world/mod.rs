//! The discrete-event world: one thread, one global virtual clock, an event queue ordered by
//! (time, sequence), and nodes that are sans-I/O [`Actor`]s.
//!
//! Each node owns a [`SimClock`](crate::simulated::clock::SimClock) (skew and drift off by default), a [`SimDisk`] (stream
//! `"disk/<id>"`), its own RNG stream (`"node/<id>"`) and BUGGIFY stream (`"node/<id>/buggify"`);
//! all nodes share one [`SimNet`] (stream `"net"`). A handler runs to completion; afterwards the
//! world
//! - delays the node's next event by the simulated disk time the handler used (`take_latency`);
//! - crashes the node if its disk crashed or the handler returned `Err(Halt::Crashed)`: the disk
//!   loses what was not synced, connections reset, the actor is dropped, the halt is recorded.
//!   Frames the node sent before it died are still delivered, then its peers see the reset
//!   ([`SimNet`]'s module docs); a node whose disk crashed mid-handler died at that operation,
//!   so what the handler sends after it never reaches the network;
//! - stops the node for good if it returned `Err(Halt::Fatal(_))`.
//!
//! A crashed node stays down until a fault or the caller restarts it; the restart calls the
//! node's factory again, and the new actor must rebuild from its disk alone.
//!
//! Events of a dead incarnation (timers set before a crash) are discarded. A paused or busy node
//! has its events deferred to the end of the pause, in their original order.
//!
//! Every handled event enters the [`Trace`]: `(time, node, kind, digest)`.

mod faults;
mod node;
pub mod pingpong;
mod queue;
mod run;

use std::collections::VecDeque;
use std::rc::Rc;

pub use node::Status;
pub use queue::EventQueue;

use crate::buggify::{BuggifyConfig, SiteMemo, Sites};
use crate::env::{Actor, Halt, NodeId, TimerId};
use crate::fault::Fault;
use crate::seed::{fnv1a64, Seed};
use crate::simulated::clock::ClockConfig;
use crate::simulated::disk::{DiskConfig, SimDisk};
use crate::simulated::net::{NetConfig, SimNet, Wake};
use crate::time::{Duration, Instant};
use crate::trace::Trace;

use node::Node;

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

/// What [`World::on_crash`] installs: called with the node and its disk after each crash.
pub type CrashTap = Box<dyn FnMut(NodeId, &SimDisk)>;

/// What [`World::on_probe`] shows: the moments inside the world that traces do not make
/// observable from outside a step.
#[derive(Clone, Copy, Debug)]
pub enum Probe<'a> {
    /// `node`'s handler is about to run: until the next probe of this kind or the end of the
    /// step, every disk operation and send of `node` happens inside it.
    Handler { node: NodeId },
    /// An actor's trace record (`Env::trace`), as it is made, inside the handler.
    Record { node: NodeId, kind: &'a str, detail: &'a str },
}

/// What [`World::on_probe`] installs.
pub type ProbeTap = Box<dyn FnMut(Probe<'_>)>;

/// A closure scheduled to run on the world.
pub(crate) type Action<A> = Box<dyn FnOnce(&mut World<A>)>;

/// Something scheduled in the world.
///
/// `repr(u64)`: the tag takes a whole word, so every payload starts 8-byte aligned. With the
/// default layout a 4-byte tag sat in front of the payload and each move of an event copied
/// bytes 4..40 in unaligned 16-byte pieces; reading a field straight after such a copy missed
/// store-to-load forwarding and stalled (a fifth of the pingpong benchmark's time).
#[repr(u64)]
pub(crate) enum Event<A: Actor> {
    Start {
        node: NodeId,
        incarnation: u64,
    },
    Timer {
        node: NodeId,
        incarnation: u64,
        id: TimerId,
        tag: u64,
    },
    Net(Wake),
    Request {
        node: NodeId,
        request: A::Request,
    },
    /// Apply the due faults of the installed plan (if `generation` is still current).
    PlannedFaults {
        generation: u64,
    },
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
            Event::PlannedFaults { .. } | Event::Action(_) => None,
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
    sites: SiteMemo,
    events: u64,
    responses: Vec<(NodeId, Instant, A::Response)>,
    response_buf: Vec<A::Response>,
    halts: Vec<(Instant, NodeId, Halt)>,
    /// Installed faults not yet applied, sorted by time.
    plan: VecDeque<(Instant, Fault)>,
    /// Bumped on every install; queued `PlannedFaults` events of older generations are void.
    plan_generation: u64,
    /// Faults installed by [`World::install_plan`] so far (applied or not).
    faults_installed: usize,
    /// The node of the event the last `step` handled (`None`: a world-wide event).
    last_stepped: Option<NodeId>,
    /// Called right after a node's disk lost power (see [`World::on_crash`]).
    crash_tap: Option<CrashTap>,
    /// Shown handler starts and actor records (see [`World::on_probe`]).
    probe: Option<ProbeTap>,
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
            sites: SiteMemo::new(Sites::new(seed, config.buggify.clone())),
            events: 0,
            responses: Vec::new(),
            response_buf: Vec::new(),
            halts: Vec::new(),
            plan: VecDeque::new(),
            plan_generation: 0,
            faults_installed: 0,
            last_stepped: None,
            crash_tap: None,
            probe: None,
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

    /// The node whose event the last [`World::step`] handled: a start, timer, network event or
    /// request reaches one node, and only that node's state can have changed. `None` after a
    /// world-wide event (planned faults, actions), which may have changed any node, and before
    /// the first step. Observers use it to look at one node per step instead of all.
    pub fn last_stepped_node(&self) -> Option<NodeId> {
        self.last_stepped
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

    /// Kills `node` now: its disk loses what was not synced, its connections reset (frames it
    /// already sent are still delivered first), its memory is dropped. No effect on a node that
    /// is not running.
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
        if let Some(tap) = self.crash_tap.as_mut() {
            tap(id, &n.disk);
        }
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

    /// Installs `tap`, called with a node and its disk right after every crash of that node
    /// (injected, at a crashing disk operation, or a power loss), once the disk has lost what
    /// it did not keep: what the disk holds now is exactly what the node's next start will
    /// find. Oracles use it to know what a restart must read back. The tap only observes.
    pub fn on_crash(&mut self, tap: CrashTap) {
        self.crash_tap = Some(tap);
    }

    /// Installs `tap`, shown every handler start and every actor trace record as they happen
    /// (see [`Probe`]). With [`SimNet::tap`] and the disks' taps it lets a testbed attribute
    /// what it sees to the handler that did it. The tap only observes (it may arm faults on a
    /// disk); a run with a probe has the same trace hash.
    pub fn on_probe(&mut self, tap: ProbeTap) {
        self.probe = Some(tap);
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

    /// Responses handed back by nodes since the last call, with who and when.
    pub fn take_responses(&mut self) -> Vec<(NodeId, Instant, A::Response)> {
        std::mem::take(&mut self.responses)
    }

    /// Like [`World::take_responses`], into `buf` (cleared first), whose capacity the world
    /// keeps for the next responses: a caller draining after every step allocates nothing.
    pub fn swap_responses(&mut self, buf: &mut Vec<(NodeId, Instant, A::Response)>) {
        buf.clear();
        std::mem::swap(&mut self.responses, buf);
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

    /// How often each BUGGIFY site fired so far (absent: never).
    pub fn buggify_fired(&self) -> &std::collections::BTreeMap<&'static str, u64> {
        self.sites.fired()
    }

    /// Events handled so far (deferred and stale events are not counted).
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Events waiting in the queue (including stale ones not yet discarded).
    pub fn pending(&self) -> usize {
        self.queue.len() + usize::from(self.net.has_wakes())
    }
}
