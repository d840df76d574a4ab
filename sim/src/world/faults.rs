//! Applying faults to a running world: one now ([`World::apply`]) or a whole plan at its times
//! ([`World::install_plan`]).

use crate::env::{Actor, NodeId};
use crate::fault::{Fault, FaultPlan};
use crate::seed::fnv1a64;
use crate::simulated::clock::ClockConfig;
use crate::simulated::net::LinkConfig;
use crate::time::{Duration, Instant};

use super::{Event, World};

impl<A: Actor> World<A> {
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

    /// Schedules every fault of `plan` at its time (faults in the past apply now). Plans installed
    /// earlier stay; for equal times their faults go first.
    ///
    /// The plan waits in its own time-sorted list and only its next fault sits in the event queue,
    /// so a long plan does not deepen the queue every other event goes through.
    pub fn install_plan(&mut self, plan: &FaultPlan) {
        self.faults_installed += plan.len();
        let mut all: Vec<(Instant, Fault)> = self.plan.drain(..).collect();
        all.extend(plan.faults.iter().map(|tf| (tf.at(), tf.fault.clone())));
        all.sort_by_key(|(at, _)| *at); // stable: earlier installs first at equal times
        self.plan = all.into();
        self.plan_generation += 1;
        self.schedule_next_fault();
    }

    /// Faults installed by [`World::install_plan`] so far, applied or not.
    pub fn installed_faults(&self) -> usize {
        self.faults_installed
    }

    /// Queues the event that applies the plan's next fault (superseding any queued before).
    fn schedule_next_fault(&mut self) {
        if let Some((at, _)) = self.plan.front() {
            let generation = self.plan_generation;
            self.queue.push((*at).max(self.now), Event::PlannedFaults { generation });
        }
    }

    /// Applies every planned fault that is due; ignores a superseded event.
    pub(super) fn apply_planned(&mut self, generation: u64) {
        if generation != self.plan_generation {
            return;
        }
        while self.plan.front().is_some_and(|(at, _)| *at <= self.now) {
            let (_, fault) = self.plan.pop_front().expect("front exists");
            self.events += 1;
            self.apply(&fault);
        }
        self.schedule_next_fault();
    }
}
