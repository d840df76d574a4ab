//! What a node is configured with (everything else it rebuilds from its disk).

use sim::time::Duration;

use crate::wal::WalConfig;

use super::request::MemberRecord;

/// How the node finds its cluster.
#[derive(Clone, Debug)]
pub enum ClusterSpec {
    /// A new cluster from `--initial-cluster` / `--initial-cluster-token`; this node is the
    /// member named `NodeConfig::name`.
    Bootstrap { initial_cluster: String, token: String },
    /// Join a running cluster as member `me` (added earlier through an add-member request):
    /// `members` are the current members including this one.
    Join { cluster_id: u64, token: String, members: Vec<MemberRecord>, me: u64 },
}

/// Node settings. `Default`-like values come from [`NodeConfig::new`].
#[derive(Clone, Debug)]
pub struct NodeConfig {
    pub name: String,
    pub cluster: ClusterSpec,
    /// Interval of raft ticks.
    pub tick: Duration,
    pub election_tick: u32,
    pub heartbeat_tick: u32,
    /// Run a pre-election before bumping the term (raft thesis §9.6).
    pub pre_vote: bool,
    /// A leader steps down without a quorum's heartbeat responses within an election timeout,
    /// and followers that hear from a leader ignore vote requests for that long.
    pub check_quorum: bool,
    /// Appends in flight per follower.
    pub max_inflight_msgs: usize,
    /// Byte cap of the entries in one append (at least one entry is always sent).
    pub max_size_per_msg: u64,
    /// Take a snapshot once this many entries were applied since the last one (etcd's
    /// `--snapshot-count`).
    pub snapshot_count: u64,
    /// Entries kept in the raft log behind a snapshot so slow followers can catch up without one.
    pub catch_up_entries: u64,
    /// How long a request waits for its result before failing with `Timeout`.
    pub request_timeout: Duration,
    /// An apply batch with more entries than this counts as a slow apply.
    pub slow_apply_entries: usize,
    /// Old WAL segments and snapshot files kept after a snapshot.
    pub keep_files: usize,
    pub wal: WalConfig,
    /// Metrics go to the trace every this many ticks (0: only on leader changes).
    pub metrics_every_ticks: u64,
}

impl NodeConfig {
    /// Settings for member `name` of the cluster `spec`: 100 ms ticks, 1 s election timeout,
    /// pre-vote and check-quorum on, 256 appends of up to 1 MiB in flight per follower,
    /// snapshots every 10 000 entries, 5 s request timeout, 1 MiB WAL segments.
    pub fn new(name: &str, cluster: ClusterSpec) -> NodeConfig {
        NodeConfig {
            name: name.to_string(),
            cluster,
            tick: Duration::from_millis(100),
            election_tick: 10,
            heartbeat_tick: 1,
            pre_vote: true,
            check_quorum: true,
            max_inflight_msgs: 256,
            max_size_per_msg: 1 << 20,
            snapshot_count: 10_000,
            catch_up_entries: 5_000,
            request_timeout: Duration::from_secs(5),
            slow_apply_entries: 1_000,
            keep_files: 5,
            wal: WalConfig { segment_size: 1 << 20 },
            metrics_every_ticks: 10,
        }
    }
}
