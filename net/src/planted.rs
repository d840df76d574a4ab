//! The planted bugs of this crate (see [`sim::planted`]): realistic one-line mistakes, each off
//! unless a test or `dst --bug NAME` switches it on for one run.

use sim::planted::PlantedBug;

/// The cluster ID is compared only on the frames that open or answer a connection (hello,
/// accepted, ack), as if identity were a property of the connection: a message frame is let
/// through whatever cluster it names. A stream is checked at its hello, but a pipeline message
/// is a connection of its own, so another cluster's pipeline messages reach raft.
pub static MESSAGES_SKIP_CLUSTER_CHECK: PlantedBug = PlantedBug {
    name: "net-messages-skip-cluster-check",
    layer: "transport",
    summary: "identity checks compare the cluster ID only on hello/accepted/ack frames, so a \
              pipeline message from another cluster (same member IDs) reaches raft",
};

/// A refused pipeline message is answered `Refused`, counted and logged, but the handler does
/// not return: the payload is still handed to raft (and its sender learnt as a remote).
pub static REFUSED_PIPELINE_DELIVERED: PlantedBug = PlantedBug {
    name: "net-refused-pipeline-delivered",
    layer: "transport",
    summary: "a pipeline message that fails its identity check is refused and logged but still \
              delivered to raft (missing return after the refusal)",
};

/// Adding a member recomputes the cluster ID over the current members, as if the ID tracked
/// the member set; etcd computes it once, at bootstrap. A member that restores its membership
/// (from a snapshot, or joining with the member list) after a change gets another ID than the
/// rest of the cluster and is refused by everyone.
pub static CLUSTER_ID_RECOMPUTED: PlantedBug = PlantedBug {
    name: "net-cluster-id-recomputed-on-add",
    layer: "transport",
    summary: "adding a member recomputes the cluster ID over the current members instead of \
              keeping the bootstrap ID, so members that rebuild their membership disagree on it",
};

/// A message for a peer with no stream up is dropped and reported unreachable instead of going
/// by pipeline (the stream is treated as the only way to the peer): after every reconnect the
/// first messages are lost, and a sender known only by its pipeline messages (a remote) is
/// never answered.
pub static NO_PIPELINE_FALLBACK: PlantedBug = PlantedBug {
    name: "net-no-pipeline-fallback",
    layer: "transport",
    summary: "a non-snapshot message to a peer whose stream is down is dropped instead of \
              falling back to the pipeline, so remotes are never answered",
};

/// Every planted bug of this crate, in `dst bugs` order.
pub static ALL: &[&PlantedBug] = &[
    &MESSAGES_SKIP_CLUSTER_CHECK,
    &REFUSED_PIPELINE_DELIVERED,
    &CLUSTER_ID_RECOMPUTED,
    &NO_PIPELINE_FALLBACK,
];
