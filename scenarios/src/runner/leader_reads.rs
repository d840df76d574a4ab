//! Leader changes as the runner sees them, and reads aimed at a new leader.
//!
//! After every step the node that ran is looked at: leading in a term newer than any leader
//! seen is a leader change (counted, with or without linearizable reads in flight). With
//! [`crate::plan::Knobs::leader_reads`], each change during the fault phase also aims the
//! clients' linearizable reads at the new leader for [`AIM_FOR`], queues one read per client,
//! and slows the other members' syncs for that long ([`SLOW_SYNC`]): their append
//! acknowledgements wait on the disk while heartbeats (no disk) still flow, so the new leader's
//! first commit of its term is delayed and reads arrive before it — the window in which a
//! ReadIndex must not be answered from the old commit index.

use super::*;

/// How long reads are aimed at a new leader.
pub const AIM_FOR: Duration = Duration::from_millis(1_000);
/// The sync latency of the other members meanwhile.
pub const SLOW_SYNC: Duration = Duration::from_millis(150);

impl<S: Observable> Run<S> {
    /// Looks at node `n` after a step that ran its handler: is it a new leader?
    pub(super) fn watch_leadership(&mut self, n: u32) {
        let Some(r) = self.c.running(n) else { return };
        if !r.is_leader() {
            return;
        }
        let term = r.term();
        self.moments.borrow_mut().leading(n, term);
        if term <= self.last_leader.0 || !self.serving.contains(&n) {
            return;
        }
        self.last_leader = (term, n);
        self.hit(Situation::LeaderChange);
        if self.clients.reads_in_flight() {
            self.hit(Situation::LeaderChangeReadsInFlight);
        }
        if self.plan.knobs.leader_reads {
            self.aim_reads_at(n);
        }
    }

    fn aim_reads_at(&mut self, leader: u32) {
        let now = self.c.w.now();
        let until = now + AIM_FOR;
        if until.0 >= self.plan.duration_ns {
            return;
        }
        self.clients.route_reads = Some(leader);
        self.route_until = Some(until);
        for c in 0..CLIENTS {
            let key = (c % u32::from(self.key_count.max(1))) as u8;
            self.clients.enqueue(c, WorkOp::Get { key });
        }
        let env = self.plan.knobs.env.clone();
        let op_ns = Duration::from_micros(env.disk_op_latency_us).as_nanos();
        let normal_sync = Duration::from_micros(env.disk_sync_latency_us).as_nanos();
        for f in self.serving.clone() {
            if f == leader {
                continue;
            }
            let slow = Fault::DiskLatency { node: f, op_ns, sync_ns: SLOW_SYNC.as_nanos() };
            self.apply_fault(&slow);
            let back = Fault::DiskLatency { node: f, op_ns, sync_ns: normal_sync };
            self.schedule(until, Action::Sim { fault: back });
        }
    }

    /// Polls the clients; counts reads sent to a leader that has not committed in its term.
    pub(super) fn poll_clients(&mut self) {
        if self.route_until.is_some_and(|t| self.c.w.now() >= t) {
            self.route_until = None;
            self.clients.route_reads = None;
        }
        let before = self.clients.routed_reads;
        self.clients.poll(&mut self.c);
        if self.clients.routed_reads == before {
            return;
        }
        let Some(l) = self.clients.route_reads else { return };
        let Some(r) = self.c.running(l) else { return };
        if r.is_leader() && r.log_term(r.commit_index()) != Some(r.term()) {
            self.hit(Situation::ReadAtNewLeaderBeforeFirstCommit);
        }
    }
}
