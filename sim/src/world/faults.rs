//! Applying faults to a running world: one now ([`World::apply`]) or a whole plan at its times
//! ([`World::install_plan`]).

use crate::env::{Actor, NodeId};
use crate::fault::{Fault, FaultPlan};
use crate::seed::fnv1a64;
use crate::simulated::clock::ClockConfig;
use crate::simulated::net::LinkConfig;
use crate::time::Duration;

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

    /// Schedules every fault of `plan` at its time (faults in the past apply now).
    pub fn install_plan(&mut self, plan: &FaultPlan) {
        for tf in &plan.faults {
            self.queue.push(tf.at().max(self.now), Event::Fault(tf.fault.clone()));
        }
    }
}
