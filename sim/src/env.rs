//! Actors and the environment their handlers run in.
//!
//! A node is a sans-I/O [`Actor`]: it reacts to start, timer, network and request events and
//! touches the world only through the [`Env`] it is handed: clock, disk, network, timers, its own
//! RNG stream, the trace, BUGGIFY, and a place to put responses. The simulated world and the real
//! runtime both build an `Env` per handler call, so the same actor code runs in both.

use std::fmt;
use std::rc::Rc;

use crate::io::{Clock, Disk, DiskError, Net, NetEvent};
use crate::seed::Rng;
use crate::time::{Duration, Instant};

/// A node's identity inside one world.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(pub u32);

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "n{}", self.0)
    }
}

/// A timer, unique within one node for the node's lifetime (across restarts too).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimerId(pub u64);

/// Why a handler stopped its node. The runtime stops the node; in simulation a `Crashed` node is
/// restarted later from its disk alone, a `Fatal` one stays down and the reason is reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Halt {
    /// The simulator crashed the node at a disk operation; the handler unwound with `?`.
    Crashed,
    /// The node failed stop on purpose (an I/O error it must not limp past, a corrupt file).
    Fatal(String),
}

impl From<DiskError> for Halt {
    fn from(e: DiskError) -> Halt {
        match e {
            DiskError::Crashed => Halt::Crashed,
            other => Halt::Fatal(other.to_string()),
        }
    }
}

impl fmt::Display for Halt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Halt::Crashed => write!(f, "crashed"),
            Halt::Fatal(reason) => write!(f, "fatal: {reason}"),
        }
    }
}

/// The runtime's timer service for one node.
pub trait Timers {
    /// Fires `on_timer(id, tag)` after `after` (by this node's clock).
    fn set(&mut self, after: Duration, tag: u64) -> TimerId;
    /// Cancels a pending timer; a no-op if it already fired.
    fn cancel(&mut self, id: TimerId);
}

/// Where trace records go. The world stamps each with its time and node.
pub trait TraceSink {
    /// Records an event of `kind` with a human-readable `detail` (its digest enters the hash).
    fn record(&mut self, kind: &str, detail: &str);
    /// Whether records are being kept; lets hot paths skip formatting `detail`.
    fn enabled(&self) -> bool {
        true
    }
}

/// Decides whether a BUGGIFY site fires.
pub trait Buggify {
    /// True with small probability in runs that activated `site`; always false on real runs.
    fn fire(&mut self, site: &'static str) -> bool;
    /// Whether any site may fire in this run. [`Env`] reads it once per handler call, so a
    /// site asked in a run without BUGGIFY costs one branch.
    fn enabled(&self) -> bool {
        true
    }
    /// A site made the handler take `extra` longer than its work (a slow fsync): the runtime
    /// handles nothing else for the node until then. Real runtimes ignore it.
    fn stall(&mut self, extra: Duration) {
        let _ = extra;
    }
}

/// Everything a handler can touch. Built by the runtime for one handler call.
pub struct Env<'a, R> {
    node: NodeId,
    clock: &'a dyn Clock,
    disk: &'a Rc<dyn Disk>,
    net: &'a mut dyn Net,
    timers: &'a mut dyn Timers,
    rng: &'a mut Rng,
    trace: &'a mut dyn TraceSink,
    buggify: &'a mut dyn Buggify,
    /// `buggify.enabled()`, read once.
    buggify_on: bool,
    responses: &'a mut Vec<R>,
    alive: &'a dyn Fn() -> bool,
}

/// The parts an [`Env`] is built from (one field per seam or service).
pub struct EnvParts<'a, R> {
    pub node: NodeId,
    pub clock: &'a dyn Clock,
    pub disk: &'a Rc<dyn Disk>,
    pub net: &'a mut dyn Net,
    pub timers: &'a mut dyn Timers,
    pub rng: &'a mut Rng,
    pub trace: &'a mut dyn TraceSink,
    pub buggify: &'a mut dyn Buggify,
    pub responses: &'a mut Vec<R>,
    /// Whether the process still lives. The simulator kills it at a crashing disk operation
    /// inside the handler; from then on its answers are dropped, as its frames are (real
    /// runtimes: always true).
    pub alive: &'a dyn Fn() -> bool,
}

impl<'a, R> Env<'a, R> {
    pub fn new(p: EnvParts<'a, R>) -> Env<'a, R> {
        Env {
            node: p.node,
            clock: p.clock,
            disk: p.disk,
            net: p.net,
            timers: p.timers,
            rng: p.rng,
            trace: p.trace,
            buggify_on: p.buggify.enabled(),
            buggify: p.buggify,
            responses: p.responses,
            alive: p.alive,
        }
    }
    /// This node's id.
    pub fn node(&self) -> NodeId {
        self.node
    }
    /// This node's current time.
    pub fn now(&self) -> Instant {
        self.clock.now()
    }
    /// This node's disk (a cheap handle; keep a clone across events).
    pub fn disk(&self) -> Rc<dyn Disk> {
        Rc::clone(self.disk)
    }
    /// This node's network endpoint.
    pub fn net(&mut self) -> &mut dyn Net {
        self.net
    }
    /// Requests `on_timer(id, tag)` after `after`.
    pub fn set_timer(&mut self, after: Duration, tag: u64) -> TimerId {
        self.timers.set(after, tag)
    }
    /// Cancels a timer.
    pub fn cancel_timer(&mut self, id: TimerId) {
        self.timers.cancel(id)
    }
    /// This node's seeded RNG stream.
    pub fn rng(&mut self) -> &mut Rng {
        self.rng
    }
    /// Records a trace event.
    pub fn trace(&mut self, kind: &str, detail: &str) {
        self.trace.record(kind, detail)
    }
    /// Whether tracing is on (skip building `detail` strings when it is off).
    pub fn tracing(&self) -> bool {
        self.trace.enabled()
    }
    /// BUGGIFY: true now and then at activated sites in simulation, never in real runs. In a
    /// run without BUGGIFY it is one branch.
    #[inline]
    pub fn buggify(&mut self, site: &'static str) -> bool {
        self.buggify_on && self.buggify.fire(site)
    }
    /// Whether any BUGGIFY site may fire in this handler: lets a caller skip work that only
    /// prepares for a site (a pass over a batch) in runs without BUGGIFY.
    pub fn buggify_enabled(&self) -> bool {
        self.buggify_on
    }
    /// BUGGIFY's slow operation: this handler took `extra` longer than its work did (a slow
    /// fsync), so in simulation the node handles no other event until then. Meant for a site
    /// that just fired; real runs ignore it.
    pub fn stall(&mut self, extra: Duration) {
        if self.buggify_on {
            self.buggify.stall(extra)
        }
    }
    /// Hands a response to whoever drives the node (the client harness, the real front end).
    /// Dropped if the process died earlier in this handler (a simulated disk crash): a dead
    /// process answers nobody.
    pub fn respond(&mut self, response: R) {
        if (self.alive)() {
            self.responses.push(response)
        }
    }
}

/// A node: a sans-I/O state machine driven by events.
///
/// Handlers run to completion and must not block. Returning `Err(Halt)` stops the node; a node
/// that crashed is rebuilt from its disk alone by the factory the runtime was given.
pub trait Actor {
    /// An external request (from a client).
    type Request;
    /// What the node hands back through [`Env::respond`].
    type Response;

    /// The node (re)starts: open the disk, listen, set the first timers.
    fn on_start(&mut self, env: &mut Env<'_, Self::Response>) -> Result<(), Halt>;
    /// A timer this node set has fired.
    fn on_timer(
        &mut self,
        env: &mut Env<'_, Self::Response>,
        id: TimerId,
        tag: u64,
    ) -> Result<(), Halt>;
    /// Something happened on the network.
    fn on_net(&mut self, env: &mut Env<'_, Self::Response>, event: NetEvent) -> Result<(), Halt>;
    /// A client request arrived.
    fn on_request(
        &mut self,
        env: &mut Env<'_, Self::Response>,
        request: Self::Request,
    ) -> Result<(), Halt>;
}
