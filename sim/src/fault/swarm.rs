//! Swarm-style generation of fault plans: each seed enables a random subset of fault kinds, each
//! with its own random rate, so different seeds stress different combinations; every disruptive
//! fault is paired with its undo inside the plan's duration.

use rand::Rng as _;

use super::{Fault, FaultPlan, TimedFault};
use crate::env::NodeId;
use crate::seed::Seed;
use crate::time::{Duration, Instant};

impl FaultPlan {
    /// A swarm-style plan for `nodes` over `[0, duration)`; see [`SwarmConfig`].
    ///
    /// The `"faults"` stream of `seed` decides which kinds are enabled (each with probability
    /// `config.enable`) and at what rate; each enabled kind then gets a Poisson-like sequence of
    /// occurrences, each paired with its undo inside `duration`.
    pub fn swarm(
        seed: Seed,
        nodes: &[NodeId],
        duration: Duration,
        config: &SwarmConfig,
    ) -> FaultPlan {
        assert!(
            (0.0..=1.0).contains(&config.enable),
            "SwarmConfig.enable must be a probability, got {}",
            config.enable
        );
        assert!(
            0.0 < config.min_per_sec && config.min_per_sec <= config.max_per_sec,
            "SwarmConfig rates must satisfy 0 < min <= max, got {}..={}",
            config.min_per_sec,
            config.max_per_sec
        );
        let mut rng = seed.stream("faults");
        let mut plan = FaultPlan::default();
        if nodes.is_empty() || duration.as_nanos() == 0 {
            return plan;
        }
        let end = duration.as_nanos();
        for &kind in SwarmKind::ALL {
            // Always draw, so the decision for one kind does not depend on the config of another.
            let enabled = rng.random_bool(config.enable);
            let rate = rng.random_range(config.min_per_sec..=config.max_per_sec);
            if !enabled || !config.kinds.contains(&kind) {
                continue;
            }
            let mean_gap = (1e9 / rate) as u64;
            let mut t = rng.random_range(0..=mean_gap.max(1));
            while t < end {
                kind.emit(&mut rng, nodes, Instant(t), end, config, &mut plan.faults);
                t += rng.random_range(mean_gap / 2..=mean_gap.saturating_mul(3) / 2).max(1);
            }
        }
        plan.sort();
        plan
    }
}

/// The kinds of fault [`FaultPlan::swarm`] can generate (each with its undo).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SwarmKind {
    /// `crash` then `restart`.
    CrashRestart,
    /// `crash_at_disk_op` then `restart`.
    DiskCrash,
    Pause,
    /// `partition` then `heal`.
    Partition,
    /// `partition_one_way` then `heal`.
    PartitionOneWay,
    /// `isolate` then `heal`.
    Isolate,
    /// `clog` then `unclog`.
    Clog,
    /// `link_latency` raised, then back to the defaults given in the config.
    LinkLatency,
    SyncEio,
    DiskLatency,
    ClockSkew,
}

impl SwarmKind {
    /// Every kind, in the fixed order the swarm draws them (append new kinds at the end).
    pub const ALL: &'static [SwarmKind] = &[
        SwarmKind::CrashRestart,
        SwarmKind::DiskCrash,
        SwarmKind::Pause,
        SwarmKind::Partition,
        SwarmKind::PartitionOneWay,
        SwarmKind::Isolate,
        SwarmKind::Clog,
        SwarmKind::LinkLatency,
        SwarmKind::SyncEio,
        SwarmKind::DiskLatency,
        SwarmKind::ClockSkew,
    ];

    fn emit(
        self,
        rng: &mut crate::seed::Rng,
        nodes: &[NodeId],
        at: Instant,
        end: u64,
        config: &SwarmConfig,
        out: &mut Vec<TimedFault>,
    ) {
        let pick = |rng: &mut crate::seed::Rng| nodes[rng.random_range(0..nodes.len())].0;
        let pair = |rng: &mut crate::seed::Rng| {
            let a = pick(rng);
            let b = pick(rng);
            (a, b)
        };
        let max_out = config.max_outage.as_nanos().max(2);
        let undo_at = |rng: &mut crate::seed::Rng| {
            (at.as_nanos() + rng.random_range(1..max_out)).min(end.saturating_sub(1).max(at.0))
        };
        let mut put = |t: u64, fault: Fault| out.push(TimedFault { at: t, fault });
        let t = at.as_nanos();
        match self {
            SwarmKind::CrashRestart => {
                let node = pick(rng);
                put(t, Fault::Crash { node });
                put(undo_at(rng), Fault::Restart { node });
            }
            SwarmKind::DiskCrash => {
                let node = pick(rng);
                put(t, Fault::CrashAtDiskOp { node, op: rng.random_range(0..8) });
                put(undo_at(rng), Fault::Restart { node });
            }
            SwarmKind::Pause => {
                let node = pick(rng);
                put(t, Fault::Pause { node, for_ns: rng.random_range(1..max_out) });
            }
            SwarmKind::Partition => {
                let (a, b) = pair(rng);
                if a != b {
                    put(t, Fault::Partition { a, b });
                    put(undo_at(rng), Fault::Heal);
                }
            }
            SwarmKind::PartitionOneWay => {
                let (from, to) = pair(rng);
                if from != to {
                    put(t, Fault::PartitionOneWay { from, to });
                    put(undo_at(rng), Fault::Heal);
                }
            }
            SwarmKind::Isolate => {
                let node = pick(rng);
                put(t, Fault::Isolate { node });
                put(undo_at(rng), Fault::Heal);
            }
            SwarmKind::Clog => {
                let (a, b) = pair(rng);
                if a != b {
                    put(t, Fault::Clog { a, b });
                    put(undo_at(rng), Fault::Unclog { a, b });
                }
            }
            SwarmKind::LinkLatency => {
                let (a, b) = pair(rng);
                if a != b {
                    let slow =
                        config.normal_link.latency.as_nanos().max(1) * rng.random_range(2..50);
                    let jitter_ns = slow / 4;
                    put(t, Fault::LinkLatency { a, b, latency_ns: slow, jitter_ns });
                    let n = config.normal_link;
                    put(
                        undo_at(rng),
                        Fault::LinkLatency {
                            a,
                            b,
                            latency_ns: n.latency.as_nanos(),
                            jitter_ns: n.jitter.as_nanos(),
                        },
                    );
                }
            }
            SwarmKind::SyncEio => {
                let node = pick(rng);
                put(t, Fault::SyncEio { node, path_prefix: String::new() });
                // A node that fails stop on EIO comes back (no effect if it is still up).
                put(undo_at(rng), Fault::Restart { node });
            }
            SwarmKind::DiskLatency => {
                let node = pick(rng);
                let op_ns = rng.random_range(0..50_000);
                let sync_ns = rng.random_range(0..5_000_000);
                put(t, Fault::DiskLatency { node, op_ns, sync_ns });
                put(undo_at(rng), Fault::DiskLatency { node, op_ns: 0, sync_ns: 0 });
            }
            SwarmKind::ClockSkew => {
                let node = pick(rng);
                let skew_ns = rng.random_range(-50_000_000..=50_000_000);
                let drift_ppm = rng.random_range(-1_000..=1_000);
                put(t, Fault::ClockSkew { node, skew_ns, drift_ppm });
            }
        }
    }
}

/// Knobs of [`FaultPlan::swarm`].
#[derive(Clone, Debug, PartialEq)]
pub struct SwarmConfig {
    /// Probability that a kind is enabled for a seed.
    pub enable: f64,
    /// Range of the per-kind rate, occurrences per simulated second.
    pub min_per_sec: f64,
    pub max_per_sec: f64,
    /// Longest outage (crash to restart, partition to heal, pause, ...).
    pub max_outage: Duration,
    /// Which kinds may be enabled at all.
    pub kinds: Vec<SwarmKind>,
    /// The link latency `link_latency` faults return to.
    pub normal_link: crate::simulated::net::LinkConfig,
}

impl Default for SwarmConfig {
    fn default() -> SwarmConfig {
        SwarmConfig {
            enable: 0.5,
            min_per_sec: 1.0,
            max_per_sec: 20.0,
            max_outage: Duration::from_millis(200),
            kinds: SwarmKind::ALL.to_vec(),
            normal_link: crate::simulated::net::NetConfig::default().link,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swarm_is_deterministic_and_varies_by_seed() {
        let nodes = [NodeId(0), NodeId(1), NodeId(2)];
        let cfg = SwarmConfig::default();
        let d = Duration::from_secs(2);
        let a = FaultPlan::swarm(Seed(5), &nodes, d, &cfg);
        assert_eq!(a, FaultPlan::swarm(Seed(5), &nodes, d, &cfg));
        let plans: Vec<FaultPlan> =
            (0..20).map(|s| FaultPlan::swarm(Seed(s), &nodes, d, &cfg)).collect();
        let distinct: std::collections::BTreeSet<String> =
            plans.iter().map(|p| p.to_json()).collect();
        assert!(distinct.len() >= 18, "only {} distinct plans of 20", distinct.len());
        // Swarm: seeds differ in which kinds they use at all.
        let kinds: std::collections::BTreeSet<Vec<&str>> = plans
            .iter()
            .map(|p| {
                let mut k: Vec<&str> = p.faults.iter().map(|f| f.fault.name()).collect();
                k.sort();
                k.dedup();
                k
            })
            .collect();
        assert!(kinds.len() >= 10, "kind subsets: {kinds:?}");
        for p in &plans {
            assert!(p.faults.windows(2).all(|w| w[0].at <= w[1].at), "sorted");
            assert!(p.faults.iter().all(|f| f.at < d.as_nanos()), "inside the duration");
            assert!(p.faults.iter().all(|f| f.fault.node().is_none_or(|n| n.0 < 3)));
        }
    }

    #[test]
    fn swarm_undoes_what_it_breaks() {
        let nodes = [NodeId(0), NodeId(1)];
        let cfg = SwarmConfig { enable: 1.0, ..SwarmConfig::default() };
        let plan = FaultPlan::swarm(Seed(11), &nodes, Duration::from_secs(1), &cfg);
        let crashes = plan.faults.iter().filter(|f| matches!(f.fault, Fault::Crash { .. })).count();
        let restarts =
            plan.faults.iter().filter(|f| matches!(f.fault, Fault::Restart { .. })).count();
        let disk =
            plan.faults.iter().filter(|f| matches!(f.fault, Fault::CrashAtDiskOp { .. })).count();
        assert!(crashes > 0);
        let eio = plan.faults.iter().filter(|f| matches!(f.fault, Fault::SyncEio { .. })).count();
        assert_eq!(restarts, crashes + disk + eio);
        let last_partition = plan.faults.iter().rposition(|f| {
            matches!(
                f.fault,
                Fault::Partition { .. } | Fault::PartitionOneWay { .. } | Fault::Isolate { .. }
            )
        });
        let last_heal = plan.faults.iter().rposition(|f| f.fault == Fault::Heal);
        assert!(last_heal > last_partition, "a heal follows the last partition");
    }
}
