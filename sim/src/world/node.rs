//! One simulated node: its actor (while running), its seams (clock, disk), its RNG streams, its
//! timers, and the adapters that build an [`crate::env::Env`] for a handler call.

use std::collections::VecDeque;
use std::rc::Rc;

use crate::env::{Actor, NodeId, TimerId, Timers, TraceSink};
use crate::io::Disk;
use crate::seed::{fnv1a64, Rng, Seed};
use crate::simulated::clock::{ClockConfig, SimClock};
use crate::simulated::disk::{DiskConfig, SimDisk};
use crate::time::{Duration, Instant};
use crate::trace::Trace;

use super::queue::EventQueue;
use super::{Event, Probe, ProbeTap};

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
    pub pending_timers: TimerSet,
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
            pending_timers: TimerSet::default(),
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

/// The set of pending timer ids of one node: a bitmap over the window from the oldest pending id
/// to the newest issued one. Ids are issued in increasing order, so inserting appends; the window
/// slides forward as the oldest timers fire or are cancelled. O(1) insert and remove, no
/// allocation in steady state; memory is one bit per id in the window.
#[derive(Default)]
pub(crate) struct TimerSet {
    /// Id of bit 0 of `words[0]`; a multiple of 64.
    base: u64,
    words: VecDeque<u64>,
}

impl TimerSet {
    /// Adds `id`, which must be larger than every id inserted before.
    pub fn insert(&mut self, id: u64) {
        if self.words.is_empty() {
            self.base = id & !63;
        }
        assert!(id >= self.base, "timer ids must increase: {id} < window base {}", self.base);
        let word = ((id - self.base) / 64) as usize;
        while self.words.len() <= word {
            self.words.push_back(0);
        }
        self.words[word] |= 1 << (id % 64);
    }

    /// Removes `id`; returns whether it was pending.
    pub fn remove(&mut self, id: u64) -> bool {
        if id < self.base {
            return false;
        }
        let word = ((id - self.base) / 64) as usize;
        let Some(w) = self.words.get_mut(word) else { return false };
        let bit = 1 << (id % 64);
        let was = *w & bit != 0;
        *w &= !bit;
        while self.words.front() == Some(&0) {
            self.words.pop_front();
            self.base += 64;
        }
        was
    }

    pub fn clear(&mut self) {
        self.words.clear();
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
    pub pending: &'a mut TimerSet,
}

impl<A: Actor> Timers for NodeTimers<'_, A> {
    fn set(&mut self, after: Duration, tag: u64) -> TimerId {
        let id = TimerId(*self.next);
        *self.next += 1;
        self.pending.insert(id.0);
        // Saturating: a timer beyond the end of time (huge delay on a slow clock) never fires.
        let at =
            Instant(self.now.as_nanos().saturating_add(self.clock.global_delay(after).as_nanos()));
        let event = Event::Timer { node: self.node, incarnation: self.incarnation, id, tag };
        self.queue.push(at, event);
        id
    }

    fn cancel(&mut self, id: TimerId) {
        self.pending.remove(id.0);
    }
}

/// The [`TraceSink`] of one node during one handler call: stamps records with time and node.
/// Actor records always enter the trace hash, whether or not records are kept.
pub(crate) struct NodeTrace<'a> {
    pub trace: &'a mut Trace,
    pub node: NodeId,
    pub now: Instant,
    /// The world's probe, shown each record (see [`super::World::on_probe`]).
    pub probe: Option<&'a mut ProbeTap>,
}

impl TraceSink for NodeTrace<'_> {
    fn record(&mut self, kind: &str, detail: &str) {
        let digest = fnv1a64(detail.as_bytes());
        self.trace.event(self.now, Some(self.node), kind, digest, || detail.to_string());
        if let Some(probe) = self.probe.as_mut() {
            probe(Probe::Record { node: self.node, kind, detail });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::TimerSet;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    proptest! {
        /// TimerSet behaves like a set of increasing ids with arbitrary removals.
        #[test]
        fn timer_set_matches_a_btreeset(ops in proptest::collection::vec((any::<bool>(), 0u64..300), 1..400)) {
            let mut set = TimerSet::default();
            let mut model = BTreeSet::new();
            let mut next = 1u64;
            for (insert, pick) in ops {
                if insert {
                    next += pick % 70;
                    set.insert(next);
                    model.insert(next);
                    next += 1;
                } else {
                    let id = pick * next / 300;
                    prop_assert_eq!(set.remove(id), model.remove(&id), "remove {}", id);
                }
            }
            for id in 0..next + 64 {
                prop_assert_eq!(set.remove(id), model.remove(&id));
            }
        }
    }
}
