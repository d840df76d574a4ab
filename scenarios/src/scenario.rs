//! The scenario catalogue: named fault mixes that turn a seed into a [`Plan`].
//!
//! Every scenario runs a seeded workload on a 3-node cluster (5 with `--nodes 5`) for its
//! default duration; what differs is the fault mix. Swarm draws the workload's shape from the
//! seed (1..=64 clients, the key count and choice, a mix with serializable gets, ranges,
//! multi-key txns and compaction: [`WorkloadSpec::draw`]); the others run
//! [`WorkloadSpec::default`]. Each
//! disruption is undone within the fault phase or by the heal that follows it, so every run
//! ends with a liveness check on a healthy cluster.
//!
//! Streams: the plan is drawn from the seed's `dst.plan` stream, the workload from
//! `dst.workload` (its shape, in swarm, from `dst.workload.spec`); `swarm` draws its
//! environment from `dst.env`, its snapshot knobs from `dst.knobs`, its BUGGIFY
//! probabilities from `dst.buggify` and whether it aims reads at new leaders from
//! `dst.leader_reads`; the run itself uses the seed for everything else (see
//! [`crate::runner`]).
//!
//! BUGGIFY: `swarm` runs with it on, each seed with its own activation and firing probabilities
//! (FoundationDB style: each seed a different subset of sites, firing more or less often); every
//! other scenario keeps it off, so their runs are what they were before the sites existed.

use rand::Rng as _;
use sim::fault::{Fault, FaultPlan, SwarmConfig};
use sim::seed::Rng;
use sim::time::Duration;
use sim::{NodeId, Seed};

use crate::coverage::Situation;
use crate::environment::Environment;
use crate::plan::{Action, BuggifyKnobs, Knobs, Plan, TimedAction};
use crate::trigger::{draw_nth, pick, Effect, Moment};
use crate::workload::{generate, WorkloadSpec};

/// A named fault mix.
#[derive(Clone, Copy, Debug)]
pub struct Scenario {
    pub name: &'static str,
    pub description: &'static str,
    /// Length of the fault and workload phase, in seconds.
    pub duration_secs: u64,
    knobs: fn() -> Knobs,
    faults: fn(&mut Faults),
    /// Whether the seed draws the cluster size (when not given) and the environment.
    swarm_world: bool,
    /// Event triggers drawn from the seed's `dst.triggers` stream (after the faults, so the
    /// faults a seed draws do not depend on them).
    triggers: fn(&mut Faults),
    /// The situations this scenario exists to reach: a sweep of it over seeds 1..=200 reaches
    /// each at least once (`dst sweep --require-coverage`).
    pub claims: &'static [Situation],
}

/// The catalogue, in `dst list` order; `swarm` is the default.
pub const CATALOGUE: &[Scenario] = &[
    Scenario {
        name: "swarm",
        description: "a random mix of every fault kind, different per seed (the default)",
        duration_secs: 20,
        knobs: snapshot_knobs,
        faults: swarm,
        swarm_world: true,
        triggers: swarm_triggers,
        claims: SWARM_CLAIMS,
    },
    Scenario {
        name: "crash-anywhere",
        description: "kill nodes at random disk operations during commit, WAL cut and snapshot, \
                      and right after vote grants, append acks and writes before their sync",
        duration_secs: 20,
        knobs: crash_knobs,
        faults: crash_anywhere,
        swarm_world: false,
        triggers: crash_triggers,
        claims: CRASH_ANYWHERE_CLAIMS,
    },
    Scenario {
        name: "power-loss",
        description: "every node loses power at once, then restarts in a random order",
        duration_secs: 20,
        knobs: snapshot_knobs,
        faults: power_loss,
        swarm_world: false,
        triggers: power_loss_triggers,
        claims: POWER_LOSS_CLAIMS,
    },
    Scenario {
        name: "leader-change",
        description: "isolate, kill and transfer the leader again and again",
        duration_secs: 20,
        knobs: Knobs::default,
        faults: leader_change,
        swarm_world: false,
        triggers: no_triggers,
        claims: LEADER_CHANGE_CLAIMS,
    },
    Scenario {
        name: "cluster-id-mismatch",
        description: "restart a node with a wrong token or another cluster's data, or re-create \
                      it with the same member ID in another cluster; add a foreign member: all \
                      refused, nothing crosses, the rest keeps serving",
        duration_secs: 20,
        knobs: Knobs::default,
        faults: cluster_id_mismatch,
        swarm_world: false,
        triggers: no_triggers,
        claims: CLUSTER_ID_CLAIMS,
    },
    Scenario {
        name: "partition",
        description: "symmetric, one-way and flapping partitions and clogged links",
        duration_secs: 20,
        knobs: Knobs::default,
        faults: partition,
        swarm_world: false,
        triggers: no_triggers,
        claims: PARTITION_CLAIMS,
    },
    Scenario {
        name: "disk-faults",
        description: "EIO on sync, bit rot on reads, a full disk",
        duration_secs: 20,
        knobs: snapshot_knobs,
        faults: disk_faults,
        swarm_world: false,
        triggers: no_triggers,
        claims: DISK_FAULTS_CLAIMS,
    },
    Scenario {
        name: "clock-skew",
        description: "node clocks offset by seconds and drifting by up to 5%",
        duration_secs: 20,
        knobs: Knobs::default,
        faults: clock_skew,
        swarm_world: false,
        triggers: no_triggers,
        claims: CLOCK_SKEW_CLAIMS,
    },
    Scenario {
        name: "membership",
        description: "add and remove members under load",
        duration_secs: 20,
        knobs: Knobs::default,
        faults: membership,
        swarm_world: false,
        triggers: no_triggers,
        claims: MEMBERSHIP_CLAIMS,
    },
    Scenario {
        name: "snapshot-install",
        description: "a follower lags behind a compacted log and catches up from a snapshot",
        duration_secs: 20,
        knobs: || Knobs { snapshot_count: 60, catch_up_entries: 10, ..Knobs::default() },
        faults: snapshot_install,
        swarm_world: false,
        triggers: no_triggers,
        claims: SNAPSHOT_INSTALL_CLAIMS,
    },
    Scenario {
        name: "leader-reads",
        description: "after each leader change, linearizable reads go to the new leader while \
                      the others' syncs are slow, so they arrive before its first commit",
        duration_secs: 20,
        knobs: || Knobs { leader_reads: true, ..Knobs::default() },
        faults: leader_change,
        swarm_world: false,
        triggers: no_triggers,
        claims: LEADER_READS_CLAIMS,
    },
];

fn snapshot_knobs() -> Knobs {
    Knobs { snapshot_count: 300, catch_up_entries: 100, ..Knobs::default() }
}

/// Snapshots as in [`snapshot_knobs`] and 8 KiB WAL segments: cuts every few hundred entries,
/// so crashes land inside cuts, and more than `keep_files` segments pile up between snapshots
/// so the purge runs (with the default 64 KiB segments a 20-second run cuts at most a few
/// times and the purge, which keeps 5 segments, never removes one).
fn crash_knobs() -> Knobs {
    let env = Environment { segment_size: 8 * 1024, ..Environment::default() };
    Knobs { env, ..snapshot_knobs() }
}

/// The scenario called `name`.
pub fn find(name: &str) -> Option<&'static Scenario> {
    CATALOGUE.iter().find(|s| s.name == name)
}

/// Every scenario name, comma-separated (for error messages).
pub fn names() -> String {
    CATALOGUE.iter().map(|s| s.name).collect::<Vec<_>>().join(", ")
}

impl Scenario {
    /// The plan of this scenario for `seed`, on `nodes` nodes if given; otherwise `swarm` draws
    /// the cluster size from the seed (1, 3 or 5) and the others run 3. A drawn size comes from
    /// its own stream, so giving the drawn size explicitly yields the very same plan.
    pub fn plan_for(&self, seed: u64, nodes: Option<u32>) -> Plan {
        let nodes = nodes.unwrap_or_else(|| {
            if self.swarm_world {
                let roll = Seed(seed).stream("dst.nodes").random_range(0..10u32);
                match roll {
                    0 => 1,
                    1..=6 => 3,
                    _ => 5,
                }
            } else {
                3
            }
        });
        self.plan(seed, nodes)
    }

    /// The plan of this scenario for `seed` on `nodes` nodes.
    pub fn plan(&self, seed: u64, nodes: u32) -> Plan {
        self.plan_with(seed, nodes, Duration::from_secs(self.duration_secs), &self.workload(seed))
    }

    /// The workload shape for `seed`: drawn from the seed's `dst.workload.spec` stream when the
    /// scenario draws its world (swarm), else [`WorkloadSpec::default`].
    pub fn workload(&self, seed: u64) -> WorkloadSpec {
        if self.swarm_world {
            WorkloadSpec::draw(&mut Seed(seed).stream("dst.workload.spec"))
        } else {
            WorkloadSpec::default()
        }
    }

    /// The plan with an explicit duration and workload shape.
    pub fn plan_with(
        &self,
        seed: u64,
        nodes: u32,
        duration: Duration,
        spec: &WorkloadSpec,
    ) -> Plan {
        let end = duration.as_nanos();
        let mut f =
            Faults { rng: Seed(seed).stream("dst.plan"), nodes, end, seed, out: Vec::new() };
        (self.faults)(&mut f);
        let mut t =
            Faults { rng: Seed(seed).stream("dst.triggers"), nodes, end, seed, out: Vec::new() };
        (self.triggers)(&mut t);
        f.out.extend(t.out);
        let mut wl = Seed(seed).stream("dst.workload");
        let mut plan = Plan {
            scenario: self.name.to_string(),
            seed,
            nodes,
            duration_ns: end,
            knobs: self.knobs_for(seed, nodes),
            actions: f.out,
            workload: generate(&mut wl, spec, 0, end),
        };
        plan.sort();
        plan
    }
}

impl Scenario {
    /// The scenario's knobs; a scenario that draws its world draws its environment, snapshot
    /// knobs and BUGGIFY from the seed.
    fn knobs_for(&self, seed: u64, nodes: u32) -> Knobs {
        let mut knobs = (self.knobs)();
        if self.swarm_world {
            knobs.env = Environment::draw(&mut Seed(seed).stream("dst.env"), nodes);
            knobs.leader_reads = Seed(seed).stream("dst.leader_reads").random_bool(0.25);
            draw_snapshots(&mut Seed(seed).stream("dst.knobs"), &mut knobs);
            knobs.buggify = Some(draw_buggify(&mut Seed(seed).stream("dst.buggify")));
        }
        knobs
    }
}

/// Snapshot knobs: the scenario's half of the time, otherwise a snapshot every few entries to
/// every few thousand, with few or many entries kept behind it for slow followers.
fn draw_snapshots(rng: &mut Rng, knobs: &mut Knobs) {
    if rng.random_bool(0.5) {
        knobs.snapshot_count = [5, 20, 100, 1_000][rng.random_range(0..4)];
        knobs.catch_up_entries = [0, 5, 50, 500][rng.random_range(0..4)];
    }
}

/// BUGGIFY probabilities for one seed: a few sites to nearly all of them, firing rarely to now
/// and then.
pub fn draw_buggify(rng: &mut Rng) -> BuggifyKnobs {
    let activation = [0.1, 0.25, 0.5, 0.9][rng.random_range(0..4)];
    let firing = [0.005, 0.02, 0.05, 0.1][rng.random_range(0..4)];
    BuggifyKnobs { activation, firing, sites: None }
}

/// What a scenario's fault generator works with.
pub struct Faults {
    rng: Rng,
    nodes: u32,
    /// End of the fault phase (ns).
    end: u64,
    seed: u64,
    out: Vec<TimedAction>,
}

const SEC: u64 = 1_000_000_000;
const MS: u64 = 1_000_000;

impl Faults {
    fn at(&mut self, at: u64, action: Action) {
        if at < self.end {
            self.out.push(TimedAction { at, action });
        }
    }
    fn sim(&mut self, at: u64, fault: Fault) {
        self.at(at, Action::Sim { fault });
    }
    fn node(&mut self) -> u32 {
        self.rng.random_range(1..=self.nodes)
    }
    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        self.rng.random_range(lo..=hi)
    }
    /// Times from `start` on, `lo..=hi` apart, until the end of the fault phase.
    fn every(&mut self, start: u64, lo: u64, hi: u64) -> Vec<u64> {
        let mut out = Vec::new();
        let mut t = start;
        while t < self.end {
            out.push(t);
            t += self.between(lo, hi);
        }
        out
    }
}

fn crash_anywhere(f: &mut Faults) {
    for t in f.every(SEC, 1_500 * MS, 3 * SEC) {
        let node = f.node();
        let op = f.between(0, 400);
        f.sim(t, Fault::CrashAtDiskOp { node, op });
        // Restarts as soon as the armed crash fires.
        f.sim(t, Fault::Restart { node });
    }
}

fn power_loss(f: &mut Faults) {
    for t in f.every(2 * SEC, 3 * SEC, 6 * SEC) {
        f.at(t, Action::PowerLoss);
        for node in 1..=f.nodes {
            let back = t + f.between(200 * MS, 2 * SEC);
            f.sim(back, Fault::Restart { node });
        }
    }
}

fn leader_change(f: &mut Faults) {
    for t in f.every(2 * SEC, 1_500 * MS, 3 * SEC) {
        match f.between(0, 2) {
            0 => {
                f.at(t, Action::IsolateLeader);
                let back = t + f.between(500 * MS, 2 * SEC);
                f.sim(back, Fault::Heal);
            }
            1 => {
                f.at(t, Action::CrashLeader);
                let back = t + f.between(300 * MS, 2 * SEC);
                f.at(back, Action::RestartAll);
            }
            _ => f.at(t, Action::TransferLeader),
        }
    }
}

fn cluster_id_mismatch(f: &mut Faults) {
    let victims = if f.nodes >= 5 { 2 } else { 1 };
    let mut used = Vec::new();
    for _ in 0..victims {
        let mut node = f.node();
        while used.contains(&node) {
            node = node % f.nodes + 1;
        }
        used.push(node);
        let t = f.between(2 * SEC, 6 * SEC);
        match f.between(0, 2) {
            0 => f.at(t, Action::WrongToken { node }),
            1 => f.at(t, Action::ForeignData { node }),
            _ => f.at(t, Action::SameIdOtherCluster { node }),
        }
    }
    let t = f.between(SEC, 8 * SEC);
    f.at(t, Action::ForeignMember);
}

fn partition(f: &mut Faults) {
    for t in f.every(SEC, 2 * SEC, 4 * SEC) {
        let a = f.node();
        let b = a % f.nodes + 1;
        let back = t + f.between(300 * MS, 2 * SEC);
        match f.between(0, 4) {
            0 => f.sim(t, Fault::Partition { a, b }),
            1 => f.sim(t, Fault::PartitionOneWay { from: a, to: b }),
            2 => f.sim(t, Fault::Isolate { node: a }),
            3 => {
                // Flapping: cut and heal every few hundred milliseconds.
                let mut u = t;
                while u < back {
                    f.sim(u, Fault::Isolate { node: a });
                    let d = f.between(50 * MS, 300 * MS);
                    f.sim(u + d, Fault::Heal);
                    u += d + f.between(50 * MS, 300 * MS);
                }
            }
            _ => {
                f.sim(t, Fault::Clog { a, b });
                f.sim(back, Fault::Unclog { a, b });
                continue;
            }
        }
        f.sim(back, Fault::Heal);
    }
}

fn disk_faults(f: &mut Faults) {
    // Bit rot is permanent, so only one member suffers it: the others keep a quorum.
    let sick = f.node();
    for t in f.every(SEC, 2 * SEC, 4 * SEC) {
        let node = f.node();
        let back = t + f.between(300 * MS, 2 * SEC);
        match f.between(0, 2) {
            0 => {
                let path_prefix = if f.between(0, 1) == 0 { "member/wal" } else { "member/kv" };
                f.sim(t, Fault::SyncEio { node, path_prefix: path_prefix.into() });
                f.sim(t, Fault::Restart { node });
            }
            1 => {
                let offset = f.between(0, 64 * 1024);
                let path = "member/wal/0000000000000000-0000000000000000.wal".to_string();
                f.sim(t, Fault::BitFlip { node: sick, path, offset, len: 16 });
                f.sim(t + MS, Fault::Crash { node: sick });
                f.sim(back, Fault::Restart { node: sick });
            }
            _ => {
                let capacity = f.between(64 * 1024, 2 * 1024 * 1024);
                f.sim(t, Fault::DiskFull { node, capacity: Some(capacity) });
                f.sim(back, Fault::DiskFull { node, capacity: None });
                f.sim(back, Fault::Restart { node });
            }
        }
    }
    // Meta rot goes to a member other than the one whose WAL rots (that one may rightly refuse
    // to start), and only after its last commit that can fail half-way (EIO, a full disk): with
    // a slot that reads invalid for good, open falls back past the newest commit when it sits
    // there, and after a commit cut short on the disk the pages of the meta it falls back to
    // may have been reused (as in bbolt: two faults at once, not a rule the engine breaks).
    let mut last_fault = vec![0u64; f.nodes as usize + 1];
    for a in &f.out {
        if let Action::Sim { fault: Fault::SyncEio { node, .. } | Fault::DiskFull { node, .. } } =
            &a.action
        {
            last_fault[*node as usize] = last_fault[*node as usize].max(a.at + 2 * SEC);
        }
    }
    let calm = (1..=f.nodes).filter(|n| *n != sick).min_by_key(|n| last_fault[*n as usize]);
    if let Some(node) = calm {
        bolt_meta_rot(f, node, last_fault[node as usize].max(SEC));
    }
}

/// Bit rot in one meta slot of `node`'s bolt file (8 bytes of its page header or meta, twice,
/// after `from`, each followed by a crash and restart), so that opens meet an invalid meta: the
/// engine must open at the newest valid one. One slot only: the other stays readable.
fn bolt_meta_rot(f: &mut Faults, node: u32, from: u64) {
    let path = format!("{}/{}", raft::server::boot::SM_DIR, crate::sm::DB_FILE);
    let slot_offset = f.between(0, 1) * engine::options::DEFAULT_PAGE_SIZE as u64;
    let until = f.end.saturating_sub(SEC);
    if from >= until {
        return;
    }
    for _ in 0..2 {
        let t = f.between(from, until);
        let offset = slot_offset + 8 * f.between(0, 9);
        f.sim(t, Fault::BitFlip { node, path: path.clone(), offset, len: 8 });
        f.sim(t + MS, Fault::Crash { node });
        let back = t + f.between(300 * MS, 2 * SEC);
        f.sim(back, Fault::Restart { node });
    }
}

fn clock_skew(f: &mut Faults) {
    for node in 1..=f.nodes {
        let t = f.between(0, 3 * SEC);
        let skew_ns = f.rng.random_range(-5 * SEC as i64..=5 * SEC as i64);
        let drift_ppm = f.rng.random_range(-50_000..=50_000);
        f.sim(t, Fault::ClockSkew { node, skew_ns, drift_ppm });
    }
}

fn membership(f: &mut Faults) {
    for t in f.every(2 * SEC, 3 * SEC, 5 * SEC) {
        let action = if f.between(0, 1) == 0 { Action::AddMember } else { Action::RemoveMember };
        f.at(t, action);
    }
}

fn snapshot_install(f: &mut Faults) {
    for t in f.every(SEC, 6 * SEC, 8 * SEC) {
        let node = f.node();
        f.sim(t, Fault::Isolate { node });
        let back = t + f.between(3 * SEC, 5 * SEC);
        f.sim(back, Fault::Heal);
    }
}

fn swarm(f: &mut Faults) {
    let nodes: Vec<NodeId> = (1..=f.nodes).map(NodeId).collect();
    // The simulator's default rates suit a ping-pong; a cluster run wants fewer, longer faults.
    let config = SwarmConfig {
        min_per_sec: 0.1,
        max_per_sec: 2.0,
        max_outage: Duration::from_secs(3),
        ..SwarmConfig::default()
    };
    let sim_plan =
        FaultPlan::swarm(Seed(f.seed).child("dst.swarm"), &nodes, Duration(f.end), &config);
    for tf in sim_plan.faults {
        f.sim(tf.at, tf.fault);
    }
    // Cluster-level disruptions, each kind enabled with probability one half.
    let kinds: [fn(&mut Faults); 4] = [power_loss_sparse, leader_change, membership, |f| {
        let t = f.between(SEC, 8 * SEC);
        f.at(t, Action::ForeignMember)
    }];
    for kind in kinds {
        if f.between(0, 1) == 0 {
            kind(f);
        }
    }
}

fn power_loss_sparse(f: &mut Faults) {
    let t = f.between(2 * SEC, f.end.max(3 * SEC) - SEC);
    f.at(t, Action::PowerLoss);
    let back = t + f.between(200 * MS, 2 * SEC);
    f.at(back, Action::RestartAll);
}

// ----- event triggers (see `crate::trigger`) -----

const SEC_TRIGGER_LEAD: u64 = 2 * SEC;

fn no_triggers(_: &mut Faults) {}

impl Faults {
    /// Arms `count` triggers on random nodes at random times of the fault phase, each on a
    /// moment from `on` with an effect from `then`.
    fn triggers(&mut self, count: u32, on: &[Moment], then: &mut dyn FnMut(&mut Faults) -> Effect) {
        if self.end <= SEC_TRIGGER_LEAD + SEC {
            return;
        }
        for _ in 0..count {
            let at = self.between(SEC, self.end - SEC_TRIGGER_LEAD);
            let node = self.node();
            let moment = pick(&mut self.rng, on);
            let nth = draw_nth(&mut self.rng, moment);
            let effect = then(self);
            self.at(at, Action::Trigger { node, on: moment, nth, then: effect });
        }
    }
}

/// The moments around which a crash or power loss exposes a durability promise.
const EXPOSED: [Moment; 9] = [
    Moment::VoteGrant,
    Moment::AppendAck,
    Moment::HardStateWritten,
    Moment::HardStatePersisted,
    Moment::EntriesWritten,
    Moment::BecameLeader,
    Moment::WalCutStarted,
    Moment::BoltCommit,
    Moment::SnapshotSaved,
];

/// Disk-operation crashes aimed at the operation right after an exposed moment.
fn crash_triggers(f: &mut Faults) {
    let count = f.rng.random_range(2..=4);
    f.triggers(count, &EXPOSED, &mut |_| Effect::CrashAtNextDiskOp);
}

/// Power losses inside the handler of an exposed moment (before its next fsync).
fn power_loss_triggers(f: &mut Faults) {
    let count = f.rng.random_range(1..=2);
    let on = [
        Moment::VoteGrant,
        Moment::AppendAck,
        Moment::HardStateWritten,
        Moment::EntriesWritten,
        Moment::BecameLeader,
        Moment::BoltCommit,
        Moment::SnapshotSaved,
        Moment::WalCutStarted,
    ];
    f.triggers(count, &on, &mut |f| Effect::PowerLossNow {
        restart_after_ns: f.between(200 * MS, 2 * SEC),
    });
}

/// Any moment, any effect, on half of the seeds.
fn swarm_triggers(f: &mut Faults) {
    if f.rng.random_bool(0.5) {
        return;
    }
    let count = f.rng.random_range(1..=3);
    f.triggers(count, &Moment::ALL, &mut |f| match f.between(0, 4) {
        0 => Effect::CrashAtNextDiskOp,
        1 => Effect::CrashNow { restart_after_ns: f.between(100 * MS, 2 * SEC) },
        2 => Effect::PowerLossNow { restart_after_ns: f.between(200 * MS, 2 * SEC) },
        3 => {
            let node = f.node();
            let for_ns = f.between(100 * MS, SEC);
            Effect::Then { action: Box::new(Action::Sim { fault: Fault::Pause { node, for_ns } }) }
        }
        _ => Effect::Then { action: Box::new(Action::TransferLeader) },
    });
}

// ----- claimed situations (see `crate::coverage`) -----

use Situation as S;

const SWARM_CLAIMS: &[Situation] = &[
    S::ReleaseUnderReader,
    S::CrashBetweenWalWriteAndSync,
    S::CrashInBoltCommit,
    S::CrashAfterAppendAck,
    S::PowerLoss,
    S::WalCut,
    S::WalPurge,
    S::EioOnSync,
    S::LeaderChangeReadsInFlight,
    S::ReadAtNewLeaderBeforeFirstCommit,
    S::SnapshotSaved,
    S::SnapshotInstall,
    S::MemberAdd,
    S::MemberRemove,
    S::ConfChangeUnderPartition,
    S::ForeignClusterFrame,
    S::TriggerFired,
];
const CRASH_ANYWHERE_CLAIMS: &[Situation] = &[
    S::CrashDuringWalCut,
    S::WalPurge,
    S::CrashBetweenWalWriteAndSync,
    S::CrashInBoltCommit,
    S::CrashAfterVoteGrant,
    S::CrashAfterAppendAck,
    S::MetaFallback,
    S::WalCut,
    S::TriggerFired,
];
const POWER_LOSS_CLAIMS: &[Situation] = &[
    S::PowerLoss,
    S::PowerLossUnsyncedVote,
    S::CrashBetweenWalWriteAndSync,
    S::CrashInBoltCommit,
    S::CrashAfterVoteGrant,
    S::CrashAfterAppendAck,
    S::TriggerFired,
];
const LEADER_CHANGE_CLAIMS: &[Situation] = &[S::LeaderChange, S::LeaderChangeReadsInFlight];
const CLUSTER_ID_CLAIMS: &[Situation] = &[S::ForeignClusterFrame];
const PARTITION_CLAIMS: &[Situation] = &[S::LeaderChange];
const DISK_FAULTS_CLAIMS: &[Situation] = &[S::EioOnSync, S::TornMeta];
const CLOCK_SKEW_CLAIMS: &[Situation] = &[S::LeaderChange];
const MEMBERSHIP_CLAIMS: &[Situation] = &[S::MemberAdd, S::MemberRemove];
const SNAPSHOT_INSTALL_CLAIMS: &[Situation] = &[S::SnapshotSaved, S::SnapshotInstall];
const LEADER_READS_CLAIMS: &[Situation] =
    &[S::LeaderChangeReadsInFlight, S::ReadAtNewLeaderBeforeFirstCommit];
