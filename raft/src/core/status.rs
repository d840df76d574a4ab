//! A snapshot of a node's state for observers.

use std::collections::BTreeMap;

use super::message::{HardState, PeerId};
use super::progress::ProgressState;
use super::raft::{Raft, SoftState};
use super::storage::Storage;

/// The leader's view of one member.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerStatus {
    pub matched: u64,
    pub next: u64,
    pub state: ProgressState,
    pub is_learner: bool,
    pub recent_active: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    pub id: PeerId,
    pub hard_state: HardState,
    pub soft_state: SoftState,
    pub applied: u64,
    pub last_index: u64,
    pub lead_transferee: PeerId,
    /// Only on the leader.
    pub progress: BTreeMap<PeerId, PeerStatus>,
}

impl Status {
    pub fn new<S: Storage>(r: &Raft<S>) -> Status {
        let progress = if r.state == super::raft::StateRole::Leader {
            r.prs
                .progress
                .iter()
                .map(|(&id, p)| {
                    let s = PeerStatus {
                        matched: p.matched,
                        next: p.next,
                        state: p.state,
                        is_learner: p.is_learner,
                        recent_active: p.recent_active,
                    };
                    (id, s)
                })
                .collect()
        } else {
            BTreeMap::new()
        };
        Status {
            id: r.id,
            hard_state: r.hard_state(),
            soft_state: r.soft_state(),
            applied: r.raft_log.applied,
            last_index: r.raft_log.last_index(),
            lead_transferee: r.lead_transferee,
            progress,
        }
    }
}
