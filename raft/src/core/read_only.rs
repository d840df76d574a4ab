//! Linearizable reads by ReadIndex (safe mode): the leader records its commit index for a read
//! request and answers once a quorum has acknowledged a heartbeat carrying the request context,
//! proving it was still leader when the read arrived.
//!
//! Invariant: `queue` holds the contexts of `pending` in arrival order; acknowledging one request
//! also acknowledges every earlier one.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::message::{Message, PeerId};

/// An answered read: the application may serve the read once it has applied `index`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadState {
    pub index: u64,
    pub request_ctx: Vec<u8>,
}

#[derive(Clone, Debug)]
pub struct ReadIndexStatus {
    pub req: Message,
    pub index: u64,
    pub acks: BTreeSet<PeerId>,
}

#[derive(Clone, Debug, Default)]
pub struct ReadOnly {
    pending: BTreeMap<Vec<u8>, ReadIndexStatus>,
    queue: VecDeque<Vec<u8>>,
}

impl ReadOnly {
    /// Queues a read of `index` for request `m` (its context is `m.entries[0].data`).
    pub fn add_request(&mut self, index: u64, m: Message) {
        let ctx = m.entries[0].data.clone();
        if self.pending.contains_key(&ctx) {
            return;
        }
        self.queue.push_back(ctx.clone());
        self.pending.insert(ctx, ReadIndexStatus { req: m, index, acks: BTreeSet::new() });
    }

    /// Records `id`'s heartbeat acknowledgement for `ctx`; returns who has acknowledged it.
    pub fn recv_ack(&mut self, id: PeerId, ctx: &[u8]) -> Option<&BTreeSet<PeerId>> {
        let rs = self.pending.get_mut(ctx)?;
        rs.acks.insert(id);
        Some(&rs.acks)
    }

    /// Pops every request up to and including `ctx`.
    pub fn advance(&mut self, ctx: &[u8]) -> Vec<ReadIndexStatus> {
        let Some(pos) = self.queue.iter().position(|c| c == ctx) else { return Vec::new() };
        self.queue
            .drain(..=pos)
            .map(|c| self.pending.remove(&c).expect("queue and pending agree"))
            .collect()
    }

    /// The context of the newest pending request.
    pub fn last_pending_request_ctx(&self) -> Option<Vec<u8>> {
        self.queue.back().cloned()
    }

    pub fn pending_count(&self) -> usize {
        self.queue.len()
    }
}
