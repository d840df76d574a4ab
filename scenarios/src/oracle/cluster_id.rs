//! The cluster-ID oracle: no payload from a frame carrying another cluster's ID reaches raft.
//!
//! Judged at the delivery itself, not by its effects: every transport counts the messages it
//! hands to its server whose frame named a cluster other than its own
//! ([`net::transport::TransportStats::foreign_deliveries`], counted after every identity
//! check). The refusals, rate limits and fatal halts the cluster-ID scenarios look at say how a
//! member *reacts* to a foreign peer; this says whether anything crossed, so it also judges a
//! member that keeps running while refused — one re-created with the same name, token and URL
//! but another `--initial-cluster` has every member ID right, and only the cluster ID keeps its
//! messages out.
//!
//! Checked after every simulator step on the node whose event ran (every node after a world
//! event), on every node of the world: members, misconfigured members and foreign ones alike.

use std::fmt;

use net::ids::{ClusterId, MemberId};
use net::transport::TransportStats;

use crate::cluster::{Cluster, Observable};

/// A message that crossed clusters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Crossing {
    /// The node number of the receiver.
    pub node: u32,
    /// The receiver's member ID and cluster ID.
    pub member: MemberId,
    pub local: ClusterId,
    /// The sender named by the frame, and the cluster ID the frame carried.
    pub peer: MemberId,
    pub remote: ClusterId,
    /// How many such messages the receiver's transport has delivered so far.
    pub count: u64,
    /// Virtual time of the first, in nanoseconds.
    pub at_ns: u64,
}

impl fmt::Display for Crossing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "node {} (member {}, cluster {}) handed raft a message from member {} whose frame \
             carried cluster {} (at {} ns; {} such so far)",
            self.node, self.member, self.local, self.peer, self.remote, self.at_ns, self.count
        )
    }
}

/// The continuous cluster-ID oracle. The first crossing seen is kept.
#[derive(Debug, Default)]
pub struct ClusterIdOracle {
    violation: Option<Crossing>,
}

impl ClusterIdOracle {
    pub fn new() -> ClusterIdOracle {
        ClusterIdOracle::default()
    }

    /// The first crossing seen, if any.
    pub fn violation(&self) -> Option<&Crossing> {
        self.violation.as_ref()
    }

    /// Looks at one node's transport: `member` and `local` are its own IDs.
    pub fn observe(&mut self, node: u32, member: MemberId, local: ClusterId, s: &TransportStats) {
        if self.violation.is_some() || s.foreign_deliveries == 0 {
            return;
        }
        let (peer, remote, at_ns) = match s.first_foreign_delivery {
            Some(d) => (d.from, d.cluster, d.at.0),
            None => (MemberId(0), ClusterId(0), 0),
        };
        self.violation = Some(Crossing {
            node,
            member,
            local,
            peer,
            remote,
            count: s.foreign_deliveries,
            at_ns,
        });
    }

    /// Looks at the node that `changed` (every node when `None`): every running node of the
    /// world, whatever its role.
    pub fn observe_cluster<S: Observable>(&mut self, c: &Cluster<S>, changed: Option<u32>) {
        let nodes = match changed {
            Some(n) => vec![n],
            None => c.nodes(),
        };
        for n in nodes {
            if let Some(r) = c.running(n) {
                let t = r.transport();
                self.observe(n, t.config().local, t.config().cluster, t.stats());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use net::transport::ForeignDelivery;
    use sim::time::Instant;

    #[test]
    fn a_delivery_from_another_cluster_fires_and_names_both_ids() {
        let mut o = ClusterIdOracle::new();
        let quiet = TransportStats { messages_received: 50, ..TransportStats::default() };
        o.observe(2, MemberId(0xa), ClusterId(0x1), &quiet);
        assert_eq!(o.violation(), None, "deliveries of our own cluster are fine");

        let crossed = TransportStats {
            messages_received: 51,
            foreign_deliveries: 1,
            first_foreign_delivery: Some(ForeignDelivery {
                from: MemberId(0xc),
                cluster: ClusterId(0x2),
                at: Instant(7),
            }),
            ..TransportStats::default()
        };
        o.observe(3, MemberId(0xa), ClusterId(0x1), &crossed);
        let v = o.violation().expect("fires").clone();
        assert_eq!(
            (v.node, v.peer, v.local, v.remote, v.count),
            (3, MemberId(0xc), ClusterId(1), ClusterId(2), 1)
        );
        assert_eq!(
            v.to_string(),
            "node 3 (member 000000000000000a, cluster 0000000000000001) handed raft a message \
             from member 000000000000000c whose frame carried cluster 0000000000000002 (at 7 \
             ns; 1 such so far)"
        );
        // The first crossing is the one reported.
        let later = TransportStats { foreign_deliveries: 9, ..crossed };
        o.observe(1, MemberId(0xb), ClusterId(0x1), &later);
        assert_eq!(o.violation().map(|v| v.node), Some(3));
    }
}
