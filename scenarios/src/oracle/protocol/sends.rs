//! Persistence before send, and one vote per term.
//!
//! Raft's responses promise durable state: a vote grant promises the voter will not vote for
//! anyone else in that term, even after a crash; a candidate's vote request carries its own
//! vote; an append response promises the entries up to its index survive. Each is checked the
//! moment the frame leaves (the SimNet tap runs inside the sender's handler), against what the
//! sender's disk holds durably at that moment.
//!
//! Rules, for a message of term `T` from member `M`:
//! - `MsgVoteResp` granting `C`, and `MsgVote` of candidate `M = C`: the durable hard state has
//!   a term above `T`, or term `T` with vote `C`. The vote is recorded: a second, different
//!   vote by `M` in `T`, in any incarnation, is a broken promise.
//! - `MsgAppResp`: the durable term is at least `T`; if it accepts up to index `i`, the durable
//!   log reaches `i`, and (checked after the step, against the sender's log) holds at `i` the
//!   entry the sender acknowledged.

use raft::core::MessageType;
use sim::simulated::net::Sent;

use super::super::wire::{self, WireMessage};
use super::{PendingAck, Property, ProtocolOracle};
use crate::cluster::{Cluster, Observable};

/// The message kinds whose sending promises durable state.
fn promising(t: MessageType) -> bool {
    matches!(t, MessageType::MsgVote | MessageType::MsgVoteResp | MessageType::MsgAppResp)
}

impl ProtocolOracle {
    /// A frame left `sent.from` (called inside the sender's handler).
    pub fn on_send(&mut self, sent: Sent<'_>) {
        let n = sent.from.0;
        if self.violation.is_some() || self.ignored.contains(&n) {
            return;
        }
        let Some(m) = wire::message_of(sent.frame, promising) else { return };
        let Some(st) = self.nodes.get_mut(&n) else { return };
        let log = st.wal.refresh(&st.disk);
        let (hs, last, term_at) = (log.hard_state, log.last_index(), log.term(m.index));
        let at = sent.at;
        match m.msg_type {
            MessageType::MsgVoteResp if !m.reject => {
                if !(hs.term > m.term || (hs.term == m.term && hs.vote == m.to)) {
                    self.fail(
                        Property::Persistence,
                        format!(
                            "node {n} (member {:x}) granted its vote to member {:x} in term {} \
                             at {at} before the vote was durable: its disk holds term {} vote {:x}",
                            m.from, m.to, m.term, hs.term, hs.vote
                        ),
                    );
                }
                self.vote(n, m.from, m.term, m.to);
                self.grants.entry((m.term, m.to)).or_default().insert(m.from);
            }
            MessageType::MsgVote => {
                if !(hs.term > m.term || (hs.term == m.term && hs.vote == m.from)) {
                    self.fail(
                        Property::Persistence,
                        format!(
                            "node {n} (member {:x}) asked for votes in term {} at {at} before its \
                             own vote was durable: its disk holds term {} vote {:x}",
                            m.from, m.term, hs.term, hs.vote
                        ),
                    );
                }
                self.vote(n, m.from, m.term, m.from);
            }
            MessageType::MsgAppResp => self.append_response(n, &m, hs.term, last, term_at, at),
            _ => {}
        }
    }

    fn append_response(
        &mut self,
        n: u32,
        m: &WireMessage,
        durable_term: u64,
        durable_last: u64,
        durable_term_at: Option<u64>,
        at: sim::Instant,
    ) {
        if durable_term < m.term {
            self.fail(
                Property::Persistence,
                format!(
                    "node {n} (member {:x}) answered an append in term {} at {at} while its \
                     disk holds term {durable_term}",
                    m.from, m.term
                ),
            );
        }
        if m.reject {
            return;
        }
        if durable_last < m.index {
            self.fail(
                Property::Persistence,
                format!(
                    "node {n} (member {:x}) acknowledged index {} (term {}) at {at} while its \
                     WAL holds durably only up to index {durable_last}",
                    m.from, m.index, m.term
                ),
            );
            return;
        }
        self.pending_acks.push(PendingAck {
            node: n,
            index: m.index,
            durable_term: durable_term_at,
            sent_term: m.term,
        });
    }

    /// Records that `member` (node `n`) voted for `candidate` in `term`.
    pub(super) fn vote(&mut self, n: u32, member: u64, term: u64, candidate: u64) {
        let first = *self.votes.entry((member, term)).or_insert(candidate);
        if first != candidate {
            self.fail(
                Property::Promise,
                format!(
                    "node {n} (member {member:x}) voted for member {first:x} and then for member \
                     {candidate:x} in term {term}"
                ),
            );
        }
    }

    /// The acknowledged entries must be the ones the sender held when it acknowledged them: its
    /// log at the acknowledged index (read after the step) must have the durable entry's term.
    pub(super) fn check_pending_acks<S: Observable>(&mut self, c: &Cluster<S>) {
        if self.pending_acks.is_empty() {
            return;
        }
        for ack in std::mem::take(&mut self.pending_acks) {
            let Some(r) = c.running(ack.node) else { continue };
            if r.term() != ack.sent_term {
                continue; // moved on to a newer term within the step: its log may differ now
            }
            let Some(memory) = r.log_term(ack.index) else { continue };
            let snapshot = r.first_log_index().saturating_sub(1);
            if ack.index <= snapshot {
                continue;
            }
            if ack.durable_term != Some(memory) {
                let durable =
                    ack.durable_term.map_or("no entry".to_string(), |t| format!("term {t}"));
                self.fail(
                    Property::Persistence,
                    format!(
                        "node {} acknowledged index {} (term {memory} in its log) while its WAL \
                         held durably {durable} there",
                        ack.node, ack.index
                    ),
                );
                return;
            }
        }
    }
}
