//! The cluster's members as the server applies them, and the snapshot payload that carries
//! them next to the state machine's bytes.
//!
//! Snapshot data layout (the `data` of a raft snapshot):
//! ```text
//! version byte, cluster id, token, member count, members (id, name, peer URLs),
//! removed count, removed ids, state-machine bytes (length-prefixed)
//! ```

use std::collections::BTreeSet;

use net::cluster::{Cluster, MembershipError};
use net::ids::{ClusterId, MemberId};
use net::member::Member;

use crate::core::codec::{put_bytes, put_u64, Reader};
use crate::core::{DecodeError, CODEC_VERSION};

use super::request::{put_member, read_member, MemberRecord};

/// The applied membership.
#[derive(Clone, Debug)]
pub struct Membership {
    cluster: Cluster,
}

/// Converts a record into a net member (a voter).
fn to_member(r: &MemberRecord) -> Member {
    Member {
        id: MemberId(r.id),
        name: r.name.clone(),
        peer_urls: r.peer_urls.clone(),
        client_urls: Vec::new(),
        is_learner: false,
    }
}

/// A member as a record.
pub fn record_of(m: &Member) -> MemberRecord {
    MemberRecord { id: m.id.0, name: m.name.clone(), peer_urls: m.peer_urls.clone() }
}

impl Membership {
    pub fn new(cluster: Cluster) -> Membership {
        Membership { cluster }
    }

    /// Rebuilds a membership from records.
    pub fn from_records(
        id: u64,
        token: &str,
        members: &[MemberRecord],
        removed: BTreeSet<MemberId>,
    ) -> Result<Membership, MembershipError> {
        let ms = members.iter().map(to_member).collect();
        Ok(Membership { cluster: Cluster::restore(ClusterId(id), token, ms, removed)? })
    }

    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// Adds a member (fails on a duplicate ID or peer URL, or a removed ID).
    pub fn add(&mut self, r: &MemberRecord) -> Result<(), MembershipError> {
        self.cluster.add_member(to_member(r))
    }

    /// Removes a member (its ID is never reused).
    pub fn remove(&mut self, id: u64) -> Result<(), MembershipError> {
        self.cluster.remove_member(MemberId(id)).map(|_| ())
    }

    pub fn contains(&self, id: u64) -> bool {
        self.cluster.member(MemberId(id)).is_some()
    }

    pub fn is_removed(&self, id: u64) -> bool {
        self.cluster.is_removed(MemberId(id))
    }

    /// Every member as a record, in ID order (what a joining member is started with).
    pub fn records(&self) -> Vec<MemberRecord> {
        self.cluster.members().map(record_of).collect()
    }

    /// Member IDs in order.
    pub fn ids(&self) -> Vec<u64> {
        self.cluster.member_ids().into_iter().map(|m| m.0).collect()
    }

    /// Whether some member already uses one of `urls`.
    pub fn url_in_use(&self, urls: &[String]) -> bool {
        self.cluster.members().any(|m| m.peer_urls.iter().any(|u| urls.contains(u)))
    }

    fn encode(&self, out: &mut Vec<u8>) {
        put_u64(out, self.cluster.id().0);
        put_bytes(out, self.cluster.token().as_bytes());
        let members: Vec<MemberRecord> = self.cluster.members().map(record_of).collect();
        put_u64(out, members.len() as u64);
        for m in &members {
            put_member(out, m);
        }
        put_u64(out, self.cluster.removed().len() as u64);
        for id in self.cluster.removed() {
            put_u64(out, id.0);
        }
    }
}

/// Why snapshot data could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SnapshotDataError {
    Decode(DecodeError),
    Membership(MembershipError),
}

impl std::fmt::Display for SnapshotDataError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SnapshotDataError::Decode(e) => write!(f, "snapshot data: {e}"),
            SnapshotDataError::Membership(e) => write!(f, "snapshot membership: {e}"),
        }
    }
}

/// Builds a raft snapshot's data from the membership and the state machine's bytes.
pub fn encode_snapshot_data(m: &Membership, sm: &[u8]) -> Vec<u8> {
    let mut out = vec![CODEC_VERSION];
    m.encode(&mut out);
    put_bytes(&mut out, sm);
    out
}

/// Splits snapshot data into the membership and the state machine's bytes.
pub fn decode_snapshot_data(data: &[u8]) -> Result<(Membership, Vec<u8>), SnapshotDataError> {
    let d = SnapshotDataError::Decode;
    let mut r = Reader::new(data);
    r.version(CODEC_VERSION).map_err(d)?;
    let id = r.u64("snapshot.cluster_id").map_err(d)?;
    let token_off = r.offset();
    let token = String::from_utf8(r.bytes("snapshot.token").map_err(d)?).map_err(|_| {
        SnapshotDataError::Decode(DecodeError::BadTag {
            field: "snapshot.token (utf-8)",
            tag: 0xff,
            offset: token_off,
        })
    })?;
    let n = r.len("snapshot.members", 3).map_err(d)?;
    let members: Vec<MemberRecord> =
        (0..n).map(|_| read_member(&mut r)).collect::<Result<_, _>>().map_err(d)?;
    let k = r.len("snapshot.removed", 1).map_err(d)?;
    let removed: BTreeSet<MemberId> = (0..k)
        .map(|_| r.u64("snapshot.removed_id").map(MemberId))
        .collect::<Result<_, _>>()
        .map_err(d)?;
    let sm = r.bytes("snapshot.state_machine").map_err(d)?;
    r.finish().map_err(d)?;
    let m = Membership::from_records(id, &token, &members, removed)
        .map_err(SnapshotDataError::Membership)?;
    Ok((m, sm))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_data_round_trips_and_truncation_is_an_error() {
        let c = Cluster::bootstrap("a=http://n1:2380,b=http://n2:2380", "tok").unwrap();
        let mut m = Membership::new(c);
        let b = m.ids()[1];
        m.remove(b).unwrap();
        let data = encode_snapshot_data(&m, b"state");
        let (back, sm) = decode_snapshot_data(&data).unwrap();
        assert_eq!(sm, b"state");
        assert_eq!(back.ids(), m.ids());
        assert!(back.is_removed(b));
        assert_eq!(back.cluster().id(), m.cluster().id());
        for cut in 0..data.len() {
            assert!(decode_snapshot_data(&data[..cut]).is_err(), "prefix {cut} decoded");
        }
    }
}
