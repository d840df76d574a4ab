//! The environment a cluster runs in: raft timing and limits, WAL segment size, the MVCC
//! backend's batch interval and limit, disk sector size and latency, network latency, clock
//! drift. A plan pins it (`knobs.env`), so `--plan` replays
//! it; `swarm` draws it from the seed (FoundationDB style: each seed a different world), every
//! other scenario runs [`Environment::default`], today's fixed values.
//!
//! Bugs hide behind values a fixed environment never takes: a one-entry `max_size_per_msg`
//! makes appends stop short of the leader's last index, a small inflight window makes them
//! queue, a short election timeout makes elections overlap, no pre-vote lets a rejoining node
//! disrupt the term, slow syncs stretch the time between a send and the fsync behind it.
//!
//! JSON (every field optional in a plan, defaulting as below):
//!
//! ```json
//! {"election_tick": 10, "heartbeat_tick": 1, "pre_vote": true, "check_quorum": true,
//!  "max_inflight_msgs": 256, "max_size_per_msg": 1048576, "segment_size": 65536,
//!  "batch_interval_ms": 100, "batch_limit": 10000,
//!  "sector": 512, "disk_op_latency_us": 0, "disk_sync_latency_us": 0,
//!  "net_latency_us": 500, "net_jitter_us": 200, "drift_ppm": []}
//! ```

use std::fmt;

use raft::server::NodeConfig;
use rand::Rng as _;
use serde::{Deserialize, Serialize};
use sim::seed::Rng;
use sim::simulated::clock::ClockConfig;
use sim::simulated::disk::DiskConfig;
use sim::simulated::net::{LinkConfig, NetConfig};
use sim::time::Duration;
use sim::world::WorldConfig;

/// See the module docs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Environment {
    /// Ticks (100 ms) without a leader before a follower campaigns (randomised up to twice).
    pub election_tick: u32,
    /// Ticks between a leader's heartbeats.
    pub heartbeat_tick: u32,
    pub pre_vote: bool,
    pub check_quorum: bool,
    /// Appends in flight per follower.
    pub max_inflight_msgs: usize,
    /// Byte cap of the entries in one append (at least one entry is always sent).
    pub max_size_per_msg: u64,
    /// WAL segment size: a cut happens when the tail reaches it.
    pub segment_size: u64,
    /// The MVCC backend commits its batch when this much time passed since its last commit
    /// (etcd's `--backend-batch-interval`)...
    pub batch_interval_ms: u64,
    /// ... or when it holds this many operations (etcd's `--backend-batch-limit`).
    pub batch_limit: usize,
    /// Disk tear granularity.
    pub sector: u64,
    pub disk_op_latency_us: u64,
    pub disk_sync_latency_us: u64,
    pub net_latency_us: u64,
    pub net_jitter_us: u64,
    /// Clock drift of node `i + 1` in parts per million (missing: 0).
    pub drift_ppm: Vec<i64>,
}

impl Default for Environment {
    fn default() -> Environment {
        Environment {
            election_tick: 10,
            heartbeat_tick: 1,
            pre_vote: true,
            check_quorum: true,
            max_inflight_msgs: 256,
            max_size_per_msg: 1 << 20,
            segment_size: 64 * 1024,
            batch_interval_ms: 100,
            batch_limit: 10_000,
            sector: 512,
            disk_op_latency_us: 0,
            disk_sync_latency_us: 0,
            net_latency_us: 500,
            net_jitter_us: 200,
            drift_ppm: Vec::new(),
        }
    }
}

/// Picks one of `choices` uniformly.
fn pick<T: Copy>(rng: &mut Rng, choices: &[T]) -> T {
    choices[rng.random_range(0..choices.len())]
}

impl Environment {
    /// A random environment for `nodes` nodes: each knob keeps its default half of the time
    /// and otherwise takes a value from a range chosen to reach unusual moments.
    pub fn draw(rng: &mut Rng, nodes: u32) -> Environment {
        let d = Environment::default();
        let vary = |rng: &mut Rng| rng.random_bool(0.5);
        let election_tick = if vary(rng) { pick(rng, &[3, 5, 20, 40]) } else { d.election_tick };
        let heartbeat_tick = if vary(rng) {
            rng.random_range(1..=(election_tick / 3).max(1))
        } else {
            d.heartbeat_tick
        };
        Environment {
            election_tick,
            heartbeat_tick: heartbeat_tick.min(election_tick - 1).max(1),
            pre_vote: if vary(rng) { rng.random_bool(0.5) } else { d.pre_vote },
            check_quorum: if vary(rng) { rng.random_bool(0.5) } else { d.check_quorum },
            max_inflight_msgs: if vary(rng) {
                pick(rng, &[1, 2, 4, 16])
            } else {
                d.max_inflight_msgs
            },
            max_size_per_msg: if vary(rng) {
                pick(rng, &[1, 128, 1024, 8192])
            } else {
                d.max_size_per_msg
            },
            segment_size: if vary(rng) { pick(rng, &[4096, 8192, 16384]) } else { d.segment_size },
            sector: if vary(rng) { pick(rng, &[512, 4096]) } else { d.sector },
            disk_op_latency_us: if vary(rng) { pick(rng, &[10, 100, 1_000]) } else { 0 },
            disk_sync_latency_us: if vary(rng) { pick(rng, &[100, 2_000, 20_000]) } else { 0 },
            net_latency_us: if vary(rng) {
                pick(rng, &[50, 5_000, 30_000])
            } else {
                d.net_latency_us
            },
            net_jitter_us: if vary(rng) { pick(rng, &[0, 2_000, 20_000]) } else { d.net_jitter_us },
            drift_ppm: if vary(rng) {
                (0..nodes).map(|_| rng.random_range(-50_000..=50_000)).collect()
            } else {
                Vec::new()
            },
            // Drawn last, so the knobs above draw what they drew before these existed.
            batch_interval_ms: if vary(rng) {
                pick(rng, &[1, 10, 1_000])
            } else {
                d.batch_interval_ms
            },
            batch_limit: if vary(rng) { pick(rng, &[1, 3, 50]) } else { d.batch_limit },
        }
    }

    /// Checks the values a hand-written plan may get wrong.
    pub fn validate(&self) -> Result<(), String> {
        if self.heartbeat_tick == 0 || self.election_tick <= self.heartbeat_tick {
            return Err(format!(
                "env: election_tick ({}) must exceed heartbeat_tick ({}), which must be positive",
                self.election_tick, self.heartbeat_tick
            ));
        }
        if self.election_tick > 1_000 {
            return Err(format!("env: election_tick {} is above 1000", self.election_tick));
        }
        if self.max_inflight_msgs == 0 {
            return Err("env: max_inflight_msgs must be positive".into());
        }
        if !(4096..=1 << 30).contains(&self.segment_size) {
            return Err(format!("env: segment_size {} is not in 4096..=2^30", self.segment_size));
        }
        if !(1..=60_000).contains(&self.batch_interval_ms) {
            return Err(format!(
                "env: batch_interval_ms {} is not in 1..=60000",
                self.batch_interval_ms
            ));
        }
        if self.batch_limit == 0 {
            return Err("env: batch_limit must be positive".into());
        }
        if self.sector == 0 || self.sector > 1 << 20 {
            return Err(format!("env: sector {} is not in 1..=2^20", self.sector));
        }
        let second = 1_000_000;
        let latencies = [
            self.disk_op_latency_us,
            self.disk_sync_latency_us,
            self.net_latency_us,
            self.net_jitter_us,
        ];
        if latencies.iter().any(|&l| l > second) {
            return Err("env: latencies and jitter are at most 1 s (1000000 us)".into());
        }
        if let Some(d) = self.drift_ppm.iter().find(|d| d.abs() > 500_000) {
            return Err(format!("env: drift_ppm {d} is beyond +-500000"));
        }
        Ok(())
    }

    /// Applies the node-level settings to `cfg`.
    pub fn configure(&self, cfg: &mut NodeConfig) {
        cfg.election_tick = self.election_tick;
        cfg.heartbeat_tick = self.heartbeat_tick;
        cfg.pre_vote = self.pre_vote;
        cfg.check_quorum = self.check_quorum;
        cfg.max_inflight_msgs = self.max_inflight_msgs;
        cfg.max_size_per_msg = self.max_size_per_msg;
        cfg.wal.segment_size = self.segment_size;
    }

    /// The MVCC backend's batching.
    pub fn store_config(&self) -> engine::mvcc::StoreConfig {
        engine::mvcc::StoreConfig {
            batch_interval: Duration::from_millis(self.batch_interval_ms),
            batch_limit: self.batch_limit,
        }
    }

    /// The world configuration: disk and network; `keep_trace` as given.
    pub fn world_config(&self, keep_trace: bool) -> WorldConfig {
        WorldConfig {
            disk: DiskConfig {
                sector: self.sector,
                op_latency: Duration::from_micros(self.disk_op_latency_us),
                sync_latency: Duration::from_micros(self.disk_sync_latency_us),
                ..DiskConfig::default()
            },
            net: NetConfig {
                link: LinkConfig {
                    latency: Duration::from_micros(self.net_latency_us),
                    jitter: Duration::from_micros(self.net_jitter_us),
                },
                ..NetConfig::default()
            },
            clock: ClockConfig::default(),
            keep_trace,
            ..WorldConfig::default()
        }
    }

    /// Clock drift of node `n` (1-based).
    pub fn drift_of(&self, n: u32) -> i64 {
        self.drift_ppm.get(n.saturating_sub(1) as usize).copied().unwrap_or(0)
    }
}

impl fmt::Display for Environment {
    /// The knobs that differ from the default, `name=value` separated by spaces (`default`
    /// when none does).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let here = serde_json::to_value(self).expect("environments serialise");
        let base = serde_json::to_value(Environment::default()).expect("environments serialise");
        let mut parts = Vec::new();
        if let (Some(h), Some(b)) = (here.as_object(), base.as_object()) {
            for (k, v) in h {
                if b.get(k) != Some(v) {
                    parts.push(format!("{k}={v}"));
                }
            }
        }
        if parts.is_empty() {
            f.write_str("default")
        } else {
            f.write_str(&parts.join(" "))
        }
    }
}

#[cfg(test)]
mod tests {
    use sim::Seed;

    use super::*;

    #[test]
    fn drawn_environments_are_valid_varied_and_reproducible() {
        let mut seen_small_msgs = false;
        let mut seen_small_batches = false;
        let mut seen_default = 0;
        for seed in 0..200 {
            let e = Environment::draw(&mut Seed(seed).stream("env"), 5);
            e.validate().unwrap_or_else(|err| panic!("seed {seed}: {err}: {e:?}"));
            assert_eq!(e, Environment::draw(&mut Seed(seed).stream("env"), 5));
            seen_small_msgs |= e.max_size_per_msg <= 128;
            seen_small_batches |= e.batch_limit <= 3 && e.batch_interval_ms <= 10;
            seen_default += usize::from(e.election_tick == 10);
        }
        assert!(seen_small_msgs && seen_small_batches);
        assert!((50..150).contains(&seen_default), "{seen_default} of 200 keep the default");
    }

    #[test]
    fn plans_without_an_environment_get_the_default_and_bad_values_are_named() {
        let e: Environment = serde_json::from_str("{}").unwrap();
        assert_eq!(e, Environment::default());
        assert_eq!(e.to_string(), "default");
        let e: Environment = serde_json::from_str(r#"{"pre_vote": false}"#).unwrap();
        assert_eq!(e.to_string(), "pre_vote=false");
        let bad = Environment { election_tick: 1, ..Environment::default() };
        assert!(bad.validate().unwrap_err().contains("election_tick (1) must exceed"));
        let bad = Environment { drift_ppm: vec![0, 900_000], ..Environment::default() };
        assert!(bad.validate().unwrap_err().contains("drift_ppm 900000"));
        assert!(serde_json::from_str::<Environment>(r#"{"nope": 1}"#).is_err());
        let bad = Environment { batch_limit: 0, ..Environment::default() };
        assert!(bad.validate().unwrap_err().contains("batch_limit must be positive"));
        let e: Environment = serde_json::from_str(r#"{"batch_interval_ms": 10}"#).unwrap();
        assert_eq!(e.to_string(), "batch_interval_ms=10");
        assert_eq!(e.store_config().batch_interval, Duration::from_millis(10));
        assert_eq!(e.store_config().batch_limit, 10_000);
    }

    #[test]
    fn node_and_world_settings_follow_the_environment() {
        let e = Environment {
            pre_vote: false,
            max_size_per_msg: 1,
            segment_size: 8192,
            sector: 4096,
            net_latency_us: 5_000,
            drift_ppm: vec![7],
            ..Environment::default()
        };
        let mut cfg = NodeConfig::new(
            "n1",
            raft::server::ClusterSpec::Bootstrap {
                initial_cluster: String::new(),
                token: "t".into(),
            },
        );
        e.configure(&mut cfg);
        assert!(!cfg.pre_vote && cfg.check_quorum);
        assert_eq!((cfg.max_size_per_msg, cfg.wal.segment_size), (1, 8192));
        let w = e.world_config(true);
        assert_eq!((w.disk.sector, w.net.link.latency), (4096, Duration::from_millis(5)));
        assert!(w.keep_trace);
        assert_eq!((e.drift_of(1), e.drift_of(2)), (7, 0));
    }
}
