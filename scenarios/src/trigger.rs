//! Event-triggered faults: "when node N does X for the k-th time, apply F".
//!
//! Faults at random times or disk-operation counts rarely land on the moment a protocol is
//! exposed (between a vote grant and the next fsync, between an append's write and its sync,
//! inside a WAL cut). A trigger aims at that moment: it is armed by a plan action
//! ([`crate::plan::Action::Trigger`]) at its time, counts the [`Moment`]s of its node from then
//! on, and fires once, at the `nth`, **inside the handler that did it** when the moment is seen
//! there (a send, a disk operation, a trace record of the node's own handler): a crash or power
//! loss then strikes before anything the handler does afterwards. What is seen where is in
//! [`crate::runner::moments`].
//!
//! JSON (an action like any other, so shrinking removes triggers as it removes faults):
//!
//! ```json
//! {"at": 2000000000, "action": {"kind": "trigger", "node": 2, "on": "vote_grant", "nth": 1,
//!   "then": {"kind": "crash_at_next_disk_op"}}}
//! ```

use std::fmt;

use rand::Rng as _;
use serde::{Deserialize, Serialize};
use sim::seed::Rng;

use crate::plan::Action;

/// Something a node does that a trigger can count (X).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Moment {
    /// Sends a vote grant (a `MsgVoteResp` that does not reject), seen as it leaves.
    VoteGrant,
    /// Writes a hard state with a new term or vote to its WAL, before the sync that makes it
    /// durable (a commit-only change is not synced by design, and not counted).
    HardStateWritten,
    /// Syncs a WAL holding such a hard state (the new term or vote is now durable).
    HardStatePersisted,
    /// Writes entries to its WAL, before their sync.
    EntriesWritten,
    /// Acknowledges an append (a `MsgAppResp` that does not reject), seen as it leaves.
    AppendAck,
    /// Becomes leader: its first append or heartbeat of a new term leaves (a single node: seen
    /// after the step).
    BecameLeader,
    /// Starts a WAL cut (truncates the full tail before moving to a new segment).
    WalCutStarted,
    /// Saves a snapshot (file, WAL marker and purge done).
    SnapshotSaved,
    /// Installs a snapshot received from the leader.
    SnapshotInstalled,
    /// Commits a bolt transaction: writes the meta page, before the sync that commits it.
    BoltCommit,
    /// Answers a client (seen after the step: an answer leaves when the handler ends).
    ClientAnswered,
}

impl Moment {
    /// Every moment, in a fixed order.
    pub const ALL: [Moment; 11] = [
        Moment::VoteGrant,
        Moment::HardStateWritten,
        Moment::HardStatePersisted,
        Moment::EntriesWritten,
        Moment::AppendAck,
        Moment::BecameLeader,
        Moment::WalCutStarted,
        Moment::SnapshotSaved,
        Moment::SnapshotInstalled,
        Moment::BoltCommit,
        Moment::ClientAnswered,
    ];

    /// The snake_case name used in plans.
    pub fn name(self) -> &'static str {
        match self {
            Moment::VoteGrant => "vote_grant",
            Moment::HardStateWritten => "hard_state_written",
            Moment::HardStatePersisted => "hard_state_persisted",
            Moment::EntriesWritten => "entries_written",
            Moment::AppendAck => "append_ack",
            Moment::BecameLeader => "became_leader",
            Moment::WalCutStarted => "wal_cut_started",
            Moment::SnapshotSaved => "snapshot_saved",
            Moment::SnapshotInstalled => "snapshot_installed",
            Moment::BoltCommit => "bolt_commit",
            Moment::ClientAnswered => "client_answered",
        }
    }

    /// The largest `nth` worth drawing for this moment in a 20-second run (how often a node
    /// does it, roughly): rare moments are aimed at their first occurrences.
    pub fn typical_count(self) -> u32 {
        match self {
            Moment::VoteGrant | Moment::BecameLeader => 2,
            Moment::WalCutStarted | Moment::SnapshotSaved | Moment::SnapshotInstalled => 2,
            Moment::HardStateWritten | Moment::HardStatePersisted => 3,
            Moment::EntriesWritten | Moment::AppendAck | Moment::BoltCommit => 150,
            Moment::ClientAnswered => 40,
        }
    }
}

impl fmt::Display for Moment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a trigger does when it fires (F).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Effect {
    /// The node crashes at its next disk operation (inside the same handler if it does one,
    /// such as the sync after a write) and restarts as soon as it is down.
    CrashAtNextDiskOp,
    /// The node dies now, inside the handler (nothing it does afterwards happens), and restarts
    /// `restart_after_ns` later.
    CrashNow { restart_after_ns: u64 },
    /// Power loss now: the node dies inside the handler, every other node loses power right
    /// after it (unsynced writes dropped or torn), all restart `restart_after_ns` later.
    PowerLossNow { restart_after_ns: u64 },
    /// Apply a plan action right after the handler (not another trigger).
    Then { action: Box<Action> },
}

impl Effect {
    /// A short name for summaries.
    pub fn name(&self) -> String {
        match self {
            Effect::CrashAtNextDiskOp => "crash_at_next_disk_op".into(),
            Effect::CrashNow { .. } => "crash_now".into(),
            Effect::PowerLossNow { .. } => "power_loss_now".into(),
            Effect::Then { action } => format!("then {}", action.name()),
        }
    }
}

/// Longest restart delay a plan may ask for (a plan is data and may be written by hand).
pub const MAX_RESTART_AFTER_NS: u64 = 60_000_000_000;

/// A trigger as a plan holds it (inside [`Action::Trigger`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trigger {
    pub node: u32,
    pub on: Moment,
    pub nth: u32,
    pub then: Effect,
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "n{} {} #{} -> {}", self.node, self.on, self.nth, self.then.name())
    }
}

/// Checks what a hand-written trigger may get wrong; `Err` names the problem.
pub fn validate(nth: u32, then: &Effect) -> Result<(), String> {
    if nth == 0 {
        return Err("trigger nth must be at least 1".into());
    }
    match then {
        Effect::CrashNow { restart_after_ns } | Effect::PowerLossNow { restart_after_ns }
            if *restart_after_ns > MAX_RESTART_AFTER_NS =>
        {
            Err(format!("restart_after_ns {restart_after_ns} is above {MAX_RESTART_AFTER_NS}"))
        }
        Effect::Then { action } if matches!(**action, Action::Trigger { .. }) => {
            Err("a trigger's effect cannot be another trigger".into())
        }
        _ => Ok(()),
    }
}

/// Draws `nth` for `on`: mostly its first few occurrences, sometimes up to its typical count.
pub fn draw_nth(rng: &mut Rng, on: Moment) -> u32 {
    let top = on.typical_count();
    if rng.random_bool(0.5) {
        rng.random_range(1..=top.min(3))
    } else {
        rng.random_range(1..=top)
    }
}

/// Picks one of `choices` uniformly.
pub fn pick<T: Copy>(rng: &mut Rng, choices: &[T]) -> T {
    choices[rng.random_range(0..choices.len())]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moment_names_match_their_serde_names() {
        for m in Moment::ALL {
            let json = serde_json::to_string(&m).unwrap();
            assert_eq!(json, format!("\"{}\"", m.name()));
            let back: Moment = serde_json::from_str(&json).unwrap();
            assert_eq!(back, m);
        }
    }

    #[test]
    fn effects_read_and_write_and_bad_ones_are_named() {
        let e: Effect = serde_json::from_str(r#"{"kind": "crash_at_next_disk_op"}"#).unwrap();
        assert_eq!(e, Effect::CrashAtNextDiskOp);
        let e = Effect::PowerLossNow { restart_after_ns: 5 };
        let back: Effect = serde_json::from_str(&serde_json::to_string(&e).unwrap()).unwrap();
        assert_eq!(back, e);
        let unknown = serde_json::from_str::<Effect>(r#"{"kind": "crash_now", "x": 1}"#);
        assert!(unknown.unwrap_err().to_string().contains("unknown field"));
        assert!(validate(0, &Effect::CrashAtNextDiskOp).unwrap_err().contains("nth"));
        let late = Effect::CrashNow { restart_after_ns: u64::MAX };
        assert!(validate(1, &late).unwrap_err().contains("restart_after_ns"));
        let nested = Effect::Then {
            action: Box::new(Action::Trigger {
                node: 1,
                on: Moment::VoteGrant,
                nth: 1,
                then: Effect::CrashAtNextDiskOp,
            }),
        };
        assert!(validate(1, &nested).unwrap_err().contains("another trigger"));
    }

    #[test]
    fn drawn_nths_are_in_range() {
        let mut rng = sim::Seed(3).stream("t");
        for m in Moment::ALL {
            for _ in 0..50 {
                let n = draw_nth(&mut rng, m);
                assert!((1..=m.typical_count()).contains(&n), "{m}: {n}");
            }
        }
    }
}
