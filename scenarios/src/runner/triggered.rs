//! Finishing what event triggers started inside a handler: restarts, the rest of a power
//! loss, plan actions (see [`crate::trigger`] and [`super::moments`]).

use super::*;
use crate::trigger::Effect;

impl<S: Observable> Run<S> {
    /// Applies what the triggers that fired during the last step left for the world.
    pub(super) fn finish_fired(&mut self) {
        let fired = self.moments.borrow_mut().take_fired();
        let now = self.c.w.now();
        for f in fired {
            let node = f.node;
            match f.effect {
                Effect::CrashAtNextDiskOp => {
                    if self.c.is_up(node) {
                        // Armed on the disk already when it fired inside the handler; this also
                        // tells the world to restart the node as soon as the crash happens.
                        self.apply_fault(&Fault::CrashAtDiskOp { node, op: 0 });
                    }
                    self.apply_fault(&Fault::Restart { node });
                }
                Effect::CrashNow { restart_after_ns } => {
                    if !f.inside {
                        self.apply_fault(&Fault::Crash { node });
                    }
                    let back = now + Duration(restart_after_ns);
                    self.schedule(back, Action::Sim { fault: Fault::Restart { node } });
                }
                Effect::PowerLossNow { restart_after_ns } => {
                    if !f.inside {
                        self.moments.borrow_mut().power_loss();
                    }
                    let all = self.c.nodes();
                    for &n in &all {
                        self.c.w.apply(&Fault::Crash { node: n });
                    }
                    let back = now + Duration(restart_after_ns);
                    for n in self.serving.clone() {
                        self.schedule(back, Action::Sim { fault: Fault::Restart { node: n } });
                    }
                }
                Effect::Then { action } => self.apply(&action),
            }
        }
    }

    /// The fault phase is over: restores what the run changed for a while (slow disks of
    /// [`crate::plan::Knobs::leader_reads`]) and drops the rest (the heal restarts everyone).
    pub(super) fn end_fault_phase_scheduling(&mut self) {
        let restores: Vec<TimedAction> = std::mem::take(&mut self.later)
            .into_iter()
            .filter(|a| matches!(a.action, Action::Sim { fault: Fault::DiskLatency { .. } }))
            .collect();
        for a in restores {
            self.apply(&a.action);
        }
        self.clients.route_reads = None;
        self.route_until = None;
    }
}
