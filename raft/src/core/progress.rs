//! The leader's view of one follower: how much of the log it has (`matched`), what to send next
//! (`next`), and in which mode replication runs.
//!
//! Invariant: `next > matched`. Modes:
//! - `Probe`: one MsgApp at a time until the follower's position is found;
//! - `Replicate`: optimistic pipelining, bounded by [`Inflights`];
//! - `Snapshot`: a snapshot is in flight; nothing else is sent.

use super::inflights::Inflights;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressState {
    Probe,
    Replicate,
    Snapshot,
}

#[derive(Clone, Debug)]
pub struct Progress {
    pub matched: u64,
    pub next: u64,
    pub state: ProgressState,
    /// Index of the snapshot being sent (Snapshot mode).
    pub pending_snapshot: u64,
    /// Heard from since the last check-quorum round.
    pub recent_active: bool,
    /// Hold back MsgApps: in Probe mode one is outstanding; in Replicate mode the inflights
    /// filled up. Cleared by an acknowledgement or a heartbeat response (which then lets one
    /// more, possibly empty, MsgApp out so lost appends cannot stall the follower forever).
    pub msg_app_paused: bool,
    pub inflights: Inflights,
    pub is_learner: bool,
}

impl Progress {
    pub fn new(next: u64, max_inflight: usize) -> Progress {
        Progress {
            matched: 0,
            next,
            state: ProgressState::Probe,
            pending_snapshot: 0,
            recent_active: false,
            msg_app_paused: false,
            inflights: Inflights::new(max_inflight),
            is_learner: false,
        }
    }

    fn reset_state(&mut self, state: ProgressState) {
        self.msg_app_paused = false;
        self.pending_snapshot = 0;
        self.state = state;
        self.inflights.reset();
    }

    pub fn become_probe(&mut self) {
        if self.state == ProgressState::Snapshot {
            let pending = self.pending_snapshot;
            self.reset_state(ProgressState::Probe);
            self.next = (self.matched + 1).max(pending + 1);
        } else {
            self.reset_state(ProgressState::Probe);
            self.next = self.matched + 1;
        }
    }

    pub fn become_replicate(&mut self) {
        self.reset_state(ProgressState::Replicate);
        self.next = self.matched + 1;
    }

    pub fn become_snapshot(&mut self, snapshot_index: u64) {
        self.reset_state(ProgressState::Snapshot);
        self.pending_snapshot = snapshot_index;
    }

    /// An acknowledgement up to `n`: returns true if `matched` grew.
    pub fn maybe_update(&mut self, n: u64) -> bool {
        let updated = self.matched < n;
        if updated {
            self.matched = n;
            self.msg_app_paused = false;
        }
        self.next = self.next.max(n + 1);
        self.check();
        updated
    }

    /// Optimistically assumes everything up to `n` will arrive (Replicate mode).
    pub fn optimistic_update(&mut self, n: u64) {
        self.next = n + 1;
        self.check();
    }

    /// A rejection of the MsgApp at `rejected`, with the follower's hint: returns whether
    /// `next` moved (then the caller probes again at once); false if the rejection is stale.
    ///
    /// A probe at `match + 1` rejected at `match` cannot move `next` (it never goes below
    /// `match + 1`): the follower lost entries it acknowledged. Probing again at once would
    /// get the same answer at once, forever; like a stale rejection, it returns false and the
    /// probe waits for the next heartbeat response.
    pub fn maybe_decr_to(&mut self, rejected: u64, match_hint: u64) -> bool {
        if self.state == ProgressState::Replicate {
            if rejected <= self.matched {
                return false;
            }
            self.next = self.matched + 1;
            return true;
        }
        if self.next - 1 != rejected {
            return false;
        }
        let next = rejected.min(match_hint + 1).max(self.matched + 1);
        if next == self.next {
            return false;
        }
        self.next = next;
        self.msg_app_paused = false;
        self.check();
        true
    }

    /// Whether the leader must hold back MsgApps to this follower.
    pub fn is_paused(&self) -> bool {
        match self.state {
            ProgressState::Probe | ProgressState::Replicate => self.msg_app_paused,
            ProgressState::Snapshot => true,
        }
    }

    fn check(&self) {
        assert!(self.next > self.matched, "progress next {} <= match {}", self.next, self.matched);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decr_in_probe_uses_hint_and_ignores_stale() {
        let mut p = Progress::new(10, 4);
        p.matched = 3;
        assert!(!p.maybe_decr_to(5, 2), "stale: not the index last sent");
        assert!(p.maybe_decr_to(9, 6));
        assert_eq!(p.next, 7);
        assert!(p.maybe_decr_to(6, 0));
        assert_eq!(p.next, 4, "never below match + 1");
        p.msg_app_paused = true;
        assert!(!p.maybe_decr_to(3, 0), "rejected at match: next cannot move");
        assert_eq!(p.next, 4);
        assert!(p.is_paused(), "no immediate re-probe");
    }

    #[test]
    fn replicate_rejection_resets_to_match() {
        let mut p = Progress::new(5, 4);
        p.maybe_update(4);
        p.become_replicate();
        p.optimistic_update(20);
        assert!(!p.maybe_decr_to(3, 0));
        assert!(p.maybe_decr_to(12, 0));
        assert_eq!(p.next, 5);
    }
}
