//! [`RealRuntime`]: drives one [`Actor`] against the real world.
//!
//! The actor is the same type the simulated world drives and sees the same [`Env`]: the clock is
//! a [`RealClock`], the disk any `Rc<dyn Disk>` the caller passes (normally a `RealDisk`), the
//! network a [`RealNet`], timers come from a deadline map, randomness from a labelled stream of
//! the caller's [`Seed`], the trace only counts records, and BUGGIFY never fires.
//!
//! The loop is single-threaded and every run is bounded by a wall-clock limit: each turn fires
//! the earliest due timer, hands over the oldest queued client request, and takes one network
//! event, waiting for it (until the next timer deadline or the run's limit, whichever is sooner)
//! only when there was nothing else to do. A handler returning `Err(Halt)` stops the node for
//! good ([`RealRuntime::halted`]).

use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;

use super::clock::RealClock;
use super::net::RealNet;
use crate::env::{Actor, Env, EnvParts, Halt, NodeId, TimerId, Timers, TraceSink};
use crate::io::{Clock, Disk, NetEvent};
use crate::seed::{Rng, Seed};
use crate::time::{Duration, Instant};

/// The RNG stream label of a node (the same one the simulated world uses for a node's own
/// stream, so an actor draws the same numbers from the same seed in both).
pub fn node_stream_label(node: NodeId) -> String {
    format!("node/{}", node.0)
}

/// Pending timers by deadline. Invariant: `by_deadline` and `by_id` hold the same timers.
struct TimerTable {
    clock: RealClock,
    next_id: u64,
    by_deadline: BTreeMap<(Instant, TimerId), u64>,
    by_id: BTreeMap<TimerId, Instant>,
}

impl TimerTable {
    fn new(clock: RealClock) -> TimerTable {
        TimerTable { clock, next_id: 0, by_deadline: BTreeMap::new(), by_id: BTreeMap::new() }
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.by_deadline.keys().next().map(|&(at, _)| at)
    }

    /// Removes and returns the earliest timer due at `now`.
    fn pop_due(&mut self, now: Instant) -> Option<(TimerId, u64)> {
        let (&(at, id), _) = self.by_deadline.iter().next()?;
        if at > now {
            return None;
        }
        let tag = self.by_deadline.remove(&(at, id))?;
        self.by_id.remove(&id);
        Some((id, tag))
    }
}

impl Timers for TimerTable {
    fn set(&mut self, after: Duration, tag: u64) -> TimerId {
        let at = self.clock.deadline_after(after);
        self.next_id += 1;
        let id = TimerId(self.next_id);
        self.by_deadline.insert((at, id), tag);
        self.by_id.insert(id, at);
        id
    }

    fn cancel(&mut self, id: TimerId) {
        if let Some(at) = self.by_id.remove(&id) {
            self.by_deadline.remove(&(at, id));
        }
    }
}

/// A trace sink that keeps only a count (real runs have no trace hash to compare).
#[derive(Debug, Default)]
pub struct CountingTrace {
    pub records: u64,
}

impl TraceSink for CountingTrace {
    fn record(&mut self, _kind: &str, _detail: &str) {
        self.records += 1;
    }
    fn enabled(&self) -> bool {
        false
    }
}

/// The run's wall-clock limit passed before the condition of [`RealRuntime::run_until`] held.
#[derive(Debug)]
pub struct TimedOut<R> {
    /// Responses produced during the run anyway.
    pub responses: Vec<R>,
}

/// Drives one actor with the real clock, disk and network. See the module documentation.
pub struct RealRuntime<A: Actor> {
    node: NodeId,
    actor: A,
    started: bool,
    halted: Option<Halt>,
    clock: RealClock,
    disk: Rc<dyn Disk>,
    net: RealNet,
    timers: TimerTable,
    rng: Rng,
    trace: CountingTrace,
    buggify: crate::buggify::Disabled,
    requests: VecDeque<A::Request>,
    responses: Vec<A::Response>,
    events: u64,
}

/// One thing to hand the actor.
enum Input<Q> {
    Start,
    Timer(TimerId, u64),
    Request(Q),
    Net(NetEvent),
}

impl<A: Actor> RealRuntime<A> {
    /// A runtime for `actor` as node `node` with a default [`RealNet`]. The actor starts on the
    /// first [`start`](Self::start) or run.
    pub fn new(node: NodeId, seed: Seed, disk: Rc<dyn Disk>, actor: A) -> RealRuntime<A> {
        RealRuntime::with_net(node, seed, disk, RealNet::new(), actor)
    }

    /// Like [`new`](Self::new) with a caller-configured network endpoint.
    pub fn with_net(
        node: NodeId,
        seed: Seed,
        disk: Rc<dyn Disk>,
        net: RealNet,
        actor: A,
    ) -> RealRuntime<A> {
        let clock = RealClock::new();
        RealRuntime {
            node,
            actor,
            started: false,
            halted: None,
            clock,
            disk,
            net,
            timers: TimerTable::new(clock),
            rng: seed.stream(&node_stream_label(node)),
            trace: CountingTrace::default(),
            buggify: crate::buggify::Disabled,
            requests: VecDeque::new(),
            responses: Vec::new(),
            events: 0,
        }
    }

    /// Runs the actor's `on_start` now (once; later calls do nothing). Returns why the node
    /// halted, if it did.
    pub fn start(&mut self) -> Result<(), Halt> {
        if !self.started {
            self.started = true;
            self.deliver(Input::Start);
        }
        self.halted.clone().map_or(Ok(()), Err)
    }

    /// Queues a client request; the actor sees it on the next run.
    pub fn request(&mut self, request: A::Request) {
        self.requests.push_back(request);
    }

    /// Runs for `span` of wall-clock time; returns the responses the actor produced.
    pub fn run_for(&mut self, span: core::time::Duration) -> Vec<A::Response> {
        let mut never = |_: &A, _: &[A::Response]| false;
        match self.run_until(span, &mut never) {
            Ok(responses) | Err(TimedOut { responses }) => responses,
        }
    }

    /// Runs until `done(actor, responses so far)` holds (checked after every event) or `limit`
    /// of wall-clock time passes, whichever is first.
    pub fn run_until(
        &mut self,
        limit: core::time::Duration,
        mut done: impl FnMut(&A, &[A::Response]) -> bool,
    ) -> Result<Vec<A::Response>, TimedOut<A::Response>> {
        let end = self.clock.deadline_after(limit.into());
        let _ = self.start();
        loop {
            if done(&self.actor, &self.responses) {
                return Ok(std::mem::take(&mut self.responses));
            }
            if self.clock.now() >= end || self.halted.is_some() {
                return Err(TimedOut { responses: std::mem::take(&mut self.responses) });
            }
            self.turn(end);
        }
    }

    /// One turn of the loop: at most one due timer, one queued request and one network event,
    /// so none of the three can starve the others. The network wait blocks (until the next
    /// timer deadline or `end`) only when nothing else was ready.
    fn turn(&mut self, end: Instant) {
        let mut busy = false;
        if let Some((id, tag)) = self.timers.pop_due(self.clock.now()) {
            self.deliver(Input::Timer(id, tag));
            busy = true;
        }
        if let Some(request) = self.requests.pop_front() {
            self.deliver(Input::Request(request));
            busy = true;
        }
        let wake = self.timers.next_deadline().map_or(end, |t| t.min(end));
        let wait = if busy { core::time::Duration::ZERO } else { self.clock.until(wake) };
        if let Some(event) = self.net.poll(wait) {
            self.deliver(Input::Net(event));
        }
    }

    /// Builds the [`Env`] and calls the handler for `input`; a `Halt` stops the node.
    fn deliver(&mut self, input: Input<A::Request>) {
        if self.halted.is_some() {
            return;
        }
        self.events += 1;
        let mut env = Env::new(EnvParts {
            node: self.node,
            clock: &self.clock,
            disk: &self.disk,
            net: &mut self.net,
            timers: &mut self.timers,
            rng: &mut self.rng,
            trace: &mut self.trace,
            buggify: &mut self.buggify,
            responses: &mut self.responses,
            alive: &|| true,
        });
        let result = match input {
            Input::Start => self.actor.on_start(&mut env),
            Input::Timer(id, tag) => self.actor.on_timer(&mut env, id, tag),
            Input::Request(request) => self.actor.on_request(&mut env, request),
            Input::Net(event) => self.actor.on_net(&mut env, event),
        };
        if let Err(halt) = result {
            self.halted = Some(halt);
        }
    }

    /// This node's id.
    pub fn node(&self) -> NodeId {
        self.node
    }
    /// The current time by the runtime's clock (zero at construction).
    pub fn now(&self) -> Instant {
        self.clock.now()
    }
    /// The actor, to inspect its state.
    pub fn actor(&self) -> &A {
        &self.actor
    }
    pub fn actor_mut(&mut self) -> &mut A {
        &mut self.actor
    }
    /// The network endpoint (e.g. [`RealNet::local_addr`] after the actor listened on port 0).
    pub fn net(&self) -> &RealNet {
        &self.net
    }
    pub fn net_mut(&mut self) -> &mut RealNet {
        &mut self.net
    }
    /// Why the node stopped, if a handler returned `Err(Halt)`.
    pub fn halted(&self) -> Option<&Halt> {
        self.halted.as_ref()
    }
    /// Handler calls made so far.
    pub fn events(&self) -> u64 {
        self.events
    }
    /// Trace records the actor made so far (they are counted, not kept).
    pub fn trace_records(&self) -> u64 {
        self.trace.records
    }
    /// Timers pending.
    pub fn pending_timers(&self) -> usize {
        self.timers.by_id.len()
    }
}
