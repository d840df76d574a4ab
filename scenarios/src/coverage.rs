//! Coverage of situations: how often each interesting moment happened in a run, and over a
//! sweep, in how many runs.
//!
//! A bug hides behind a moment the runs never reach; counting the moments tells which ones a
//! sweep exercised. Each scenario claims the situations it exists to reach
//! ([`crate::scenario::Scenario::claims`], shown by `dst list`); a claimed situation at zero
//! over a sweep means the scenario no longer does its job ([`unreached`], `dst sweep
//! --require-coverage`). Counted by [`crate::runner::moments`] and the runner; counting only
//! observes and changes no trace hash.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

/// An interesting situation a run may reach.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Situation {
    /// A node crashed (fault, disk operation or power loss) between the start of a WAL cut
    /// and the directory sync that completes it.
    CrashDuringWalCut,
    /// A node crashed with WAL entries written but not yet synced.
    CrashBetweenWalWriteAndSync,
    /// A node crashed after writing a bolt meta page and before the sync that commits it.
    CrashInBoltCommit,
    /// A node crashed after sending a vote grant and before its next sync.
    CrashAfterVoteGrant,
    /// A node crashed after acknowledging an append and before its next sync.
    CrashAfterAppendAck,
    /// Every node lost power at once.
    PowerLoss,
    /// A power loss struck a node whose WAL held a written but unsynced new term or vote.
    PowerLossUnsyncedVote,
    /// A WAL cut started.
    WalCut,
    /// Old WAL segments were purged.
    WalPurge,
    /// A sync failed with EIO.
    EioOnSync,
    /// A bolt meta slot read invalid when a store opened (bit rot or a torn write).
    TornMeta,
    /// An open passed over the newest bolt meta because its commit record did not hold.
    MetaFallback,
    /// A new leader was seen.
    LeaderChange,
    /// A new leader was seen while a client's linearizable read was in flight.
    LeaderChangeReadsInFlight,
    /// A linearizable read was sent to a new leader before it committed an entry of its term.
    ReadAtNewLeaderBeforeFirstCommit,
    /// A node saved a snapshot.
    SnapshotSaved,
    /// A node installed a snapshot from its leader.
    SnapshotInstall,
    /// A member was added.
    MemberAdd,
    /// A member was removed.
    MemberRemove,
    /// A membership change was answered while part of the network was cut.
    ConfChangeUnderPartition,
    /// A node refused a frame of another cluster.
    ForeignClusterFrame,
    /// An event trigger fired.
    TriggerFired,
    /// A bolt writer made pages freed by earlier transactions reusable while a read
    /// transaction was open (the moment a reuse-under-reader bug acts).
    ReleaseUnderReader,
}

impl Situation {
    /// Every situation, in table order.
    pub const ALL: [Situation; 23] = [
        Situation::CrashDuringWalCut,
        Situation::CrashBetweenWalWriteAndSync,
        Situation::CrashInBoltCommit,
        Situation::CrashAfterVoteGrant,
        Situation::CrashAfterAppendAck,
        Situation::PowerLoss,
        Situation::PowerLossUnsyncedVote,
        Situation::WalCut,
        Situation::WalPurge,
        Situation::EioOnSync,
        Situation::TornMeta,
        Situation::MetaFallback,
        Situation::LeaderChange,
        Situation::LeaderChangeReadsInFlight,
        Situation::ReadAtNewLeaderBeforeFirstCommit,
        Situation::SnapshotSaved,
        Situation::SnapshotInstall,
        Situation::MemberAdd,
        Situation::MemberRemove,
        Situation::ConfChangeUnderPartition,
        Situation::ForeignClusterFrame,
        Situation::TriggerFired,
        Situation::ReleaseUnderReader,
    ];

    /// The snake_case name used in tables and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Situation::CrashDuringWalCut => "crash_during_wal_cut",
            Situation::CrashBetweenWalWriteAndSync => "crash_between_wal_write_and_sync",
            Situation::CrashInBoltCommit => "crash_in_bolt_commit",
            Situation::CrashAfterVoteGrant => "crash_after_vote_grant",
            Situation::CrashAfterAppendAck => "crash_after_append_ack",
            Situation::PowerLoss => "power_loss",
            Situation::PowerLossUnsyncedVote => "power_loss_unsynced_vote",
            Situation::WalCut => "wal_cut",
            Situation::WalPurge => "wal_purge",
            Situation::EioOnSync => "eio_on_sync",
            Situation::TornMeta => "torn_meta",
            Situation::MetaFallback => "meta_fallback",
            Situation::LeaderChange => "leader_change",
            Situation::LeaderChangeReadsInFlight => "leader_change_reads_in_flight",
            Situation::ReadAtNewLeaderBeforeFirstCommit => "read_at_new_leader_before_first_commit",
            Situation::SnapshotSaved => "snapshot_saved",
            Situation::SnapshotInstall => "snapshot_install",
            Situation::MemberAdd => "member_add",
            Situation::MemberRemove => "member_remove",
            Situation::ConfChangeUnderPartition => "conf_change_under_partition",
            Situation::ForeignClusterFrame => "foreign_cluster_frame",
            Situation::TriggerFired => "trigger_fired",
            Situation::ReleaseUnderReader => "release_under_reader",
        }
    }
}

impl fmt::Display for Situation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How often each situation happened in one run (situations that did not happen are absent).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Coverage {
    counts: BTreeMap<Situation, u64>,
}

impl Coverage {
    pub fn new() -> Coverage {
        Coverage::default()
    }

    /// Counts one occurrence of `s`.
    pub fn hit(&mut self, s: Situation) {
        self.add(s, 1);
    }

    /// Counts `n` occurrences of `s`.
    pub fn add(&mut self, s: Situation, n: u64) {
        if n > 0 {
            *self.counts.entry(s).or_default() += n;
        }
    }

    pub fn count(&self, s: Situation) -> u64 {
        self.counts.get(&s).copied().unwrap_or(0)
    }

    /// `name -> count` for the situations that happened (for JSON).
    pub fn to_map(&self) -> BTreeMap<String, u64> {
        self.counts.iter().map(|(s, n)| (s.name().to_string(), *n)).collect()
    }
}

/// One row of a sweep's coverage table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Row {
    pub situation: Situation,
    /// Runs in which it happened at least once.
    pub runs: u64,
    /// Occurrences over all runs.
    pub total: u64,
}

/// The coverage table of a set of runs: one row per situation, in [`Situation::ALL`] order.
pub fn table<'a>(runs: impl IntoIterator<Item = &'a Coverage>) -> Vec<Row> {
    let mut rows: Vec<Row> =
        Situation::ALL.iter().map(|&situation| Row { situation, runs: 0, total: 0 }).collect();
    for c in runs {
        for row in &mut rows {
            let n = c.count(row.situation);
            row.runs += u64::from(n > 0);
            row.total += n;
        }
    }
    rows
}

/// A situation a scenario claims that none of its runs reached.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Unreached {
    pub scenario: String,
    pub situation: Situation,
    /// Runs of the scenario in the sweep.
    pub runs: u64,
}

/// The claimed situations at zero: for each scenario (with its claims) and the coverage of each
/// of its runs.
pub fn unreached<'a>(
    per_scenario: impl IntoIterator<Item = (&'a str, &'a [Situation], Vec<&'a Coverage>)>,
) -> Vec<Unreached> {
    let mut out = Vec::new();
    for (scenario, claims, runs) in per_scenario {
        let n = runs.len() as u64;
        let rows = table(runs);
        for &situation in claims {
            let row = rows.iter().find(|r| r.situation == situation).expect("every situation");
            if row.runs == 0 {
                out.push(Unreached { scenario: scenario.to_string(), situation, runs: n });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_all_is_complete() {
        let mut names: Vec<&str> = Situation::ALL.iter().map(|s| s.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Situation::ALL.len());
        for s in Situation::ALL {
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(json, format!("\"{}\"", s.name()), "serde and table names agree");
        }
    }

    #[test]
    fn a_table_counts_runs_and_totals() {
        let mut a = Coverage::new();
        a.hit(Situation::PowerLoss);
        a.add(Situation::WalCut, 5);
        a.add(Situation::WalPurge, 0);
        let mut b = Coverage::new();
        b.hit(Situation::WalCut);
        let rows = table([&a, &b]);
        let row = |s| rows.iter().find(|r| r.situation == s).unwrap().clone();
        assert_eq!(row(Situation::WalCut), Row { situation: Situation::WalCut, runs: 2, total: 6 });
        assert_eq!((row(Situation::PowerLoss).runs, row(Situation::PowerLoss).total), (1, 1));
        assert_eq!(row(Situation::WalPurge).runs, 0, "adding zero is no occurrence");
        assert_eq!(a.to_map().get("wal_cut"), Some(&5));
        assert!(!a.to_map().contains_key("wal_purge"));
    }

    #[test]
    fn claimed_situations_at_zero_are_reported() {
        let mut hit = Coverage::new();
        hit.hit(Situation::PowerLoss);
        let none = Coverage::new();
        let claims: &[Situation] = &[Situation::PowerLoss, Situation::WalPurge];
        let found = unreached([("p", claims, vec![&hit, &none]), ("q", claims, vec![])]);
        let pairs: Vec<(&str, Situation)> =
            found.iter().map(|u| (u.scenario.as_str(), u.situation)).collect();
        assert_eq!(
            pairs,
            vec![
                ("p", Situation::WalPurge),
                ("q", Situation::PowerLoss),
                ("q", Situation::WalPurge)
            ]
        );
        assert_eq!(found[0].runs, 2);
    }
}
