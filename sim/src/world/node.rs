//! One simulated node: its actor (while running), its seams (clock, disk), its RNG streams, its
//! timers, and the adapters that build an [`crate::env::Env`] for a handler call.

use std::collections::BTreeSet;
use std::rc::Rc;

use crate::env::{Actor, NodeId, TimerId, Timers, TraceSink};
use crate::io::Disk;
use crate::seed::{fnv1a64, Rng, Seed};
use crate::simulated::clock::{ClockConfig, SimClock};
use crate::simulated::disk::{DiskConfig, SimDisk};
use crate::time::{Duration, Instant};
use crate::trace::Trace;

use super::queue::EventQueue;
use super::Event;

/// Where a node is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// A start is scheduled; the actor is built when it runs.
    Starting,
    /// Running: handlers are called.
    Up,
    /// Crashed (by a fault or at a disk operation); restartable.
    Crashed,
    /// Stopped cleanly; restartable.
    Stopped,
    /// Stopped itself with `Halt::Fatal`; stays down unless explicitly restarted.
    Halted,
}

/// A node slot in the world. Outlives every incarnation of the actor.
pub(crate) struct Node<A: Actor> {
    pub id: NodeId,
    pub factory: Box<dyn FnMut(NodeId) -> A>,
    pub actor: Option<A>,
    pub status: Status,
    /// Incremented on every crash, stop and restart; events of an older incarnation are stale.
    pub incarnation: u64,
    pub clock: SimClock,
    pub disk: Rc<SimDisk>,
    pub disk_dyn: Rc<dyn Disk>,
    /// The node's own stream (`"node/<id>"`), handed to its handlers.
    pub rng: Rng,
    /// The node's BUGGIFY firing stream (`"node/<id>/buggify"`).
    pub buggify_rng: Rng,
    /// Timer ids are unique for the node's lifetime, across restarts.
    pub next_timer: u64,
    /// Timers set by the current incarnation that have neither fired nor been cancelled.
    pub pending_timers: BTreeSet<u64>,
    /// No event is handled before this time (pause, disk latency).
    pub busy_until: Instant,
    /// A disk crash (`crash_at_disk_op`) or sync EIO was injected and the disk has not crashed
    /// since (a crash clears both; a fatal halt may leave a countdown armed).
    pub fault_armed: bool,
    /// Restarts requested while a fault was armed and the node was running: each is owed to the
    /// next time the node goes down.
    pub restarts_owed: u32,
}

impl<A: Actor> Node<A> {
    pub fn new(
        id: NodeId,
        seed: Seed,
        factory: Box<dyn FnMut(NodeId) -> A>,
        clock: ClockConfig,
        disk: DiskConfig,
    ) -> Node<A> {
        let disk = SimDisk::new(seed.stream(&format!("disk/{}", id.0)), disk);
        let disk_dyn: Rc<dyn Disk> = disk.clone();
        Node {
            id,
            factory,
            actor: None,
            status: Status::Starting,
            incarnation: 0,
            clock: SimClock::new(clock),
            disk,
            disk_dyn,
            rng: seed.stream(&format!("node/{}", id.0)),
            buggify_rng: seed.stream(&format!("node/{}/buggify", id.0)),
            next_timer: 1,
            pending_timers: BTreeSet::new(),
            busy_until: Instant::ZERO,
            fault_armed: false,
            restarts_owed: 0,
        }
    }

    /// Forgets the running incarnation: actor dropped, timers void.
    pub fn bury(&mut self, status: Status, now: Instant) {
        self.actor = None;
        self.status = status;
        self.incarnation += 1;
        self.pending_timers.clear();
        self.busy_until = now;
    }
}

/// The [`Timers`] service of one node during one handler call.
pub(crate) struct NodeTimers<'a, A: Actor> {
    pub queue: &'a mut EventQueue<Event<A>>,
    pub node: NodeId,
    pub incarnation: u64,
    pub now: Instant,
    pub clock: &'a SimClock,
    pub next: &'a mut u64,
    pub pending: &'a mut BTreeSet<u64>,
}

impl<A: Actor> Timers for NodeTimers<'_, A> {
    fn set(&mut self, after: Duration, tag: u64) -> TimerId {
        let id = TimerId(*self.next);
        *self.next += 1;
        self.pending.insert(id.0);
        let at = self.now + self.clock.global_delay(after);
        let event = Event::Timer { node: self.node, incarnation: self.incarnation, id, tag };
        self.queue.push(at, event);
        id
    }

    fn cancel(&mut self, id: TimerId) {
        self.pending.remove(&id.0);
    }
}

/// The [`TraceSink`] of one node during one handler call: stamps records with time and node.
/// Actor records always enter the trace hash, whether or not records are kept.
pub(crate) struct NodeTrace<'a> {
    pub trace: &'a mut Trace,
    pub node: NodeId,
    pub now: Instant,
}

impl TraceSink for NodeTrace<'_> {
    fn record(&mut self, kind: &str, detail: &str) {
        let digest = fnv1a64(detail.as_bytes());
        self.trace.event(self.now, Some(self.node), kind, digest, || detail.to_string());
    }
}
