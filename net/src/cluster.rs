//! Cluster membership: bootstrap from an initial-cluster string, the cluster ID, and run-time
//! membership changes.
//!
//! Cluster ID = the first 8 bytes, big-endian, of SHA-1 over the bootstrap members' IDs sorted
//! ascending, each written as 8 bytes big-endian (etcd's `genID`). It is computed once, at
//! bootstrap, and never recomputed: adding or removing members leaves it unchanged.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::ids::{id_from_sha1, ClusterId, MemberId};
use crate::member::{Member, UrlError};

/// Why a membership operation failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MembershipError {
    /// A member with this ID is already in the cluster.
    DuplicateId { id: MemberId },
    /// Member ID zero is reserved ("no member").
    IdZero,
    /// The ID belonged to a member that was removed; removed IDs are never reused.
    IdRemoved { id: MemberId },
    /// Another member already uses this peer URL.
    PeerUrlInUse { url: String, by: MemberId },
    /// No member with this ID.
    UnknownMember { id: MemberId },
    /// The initial-cluster string is not `name=url,name=url,...`.
    MalformedInitialCluster { entry: String, reason: &'static str },
    /// A URL is not `http(s)://host:port`.
    BadUrl(UrlError),
}

impl fmt::Display for MembershipError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MembershipError::DuplicateId { id } => write!(f, "member {id} already exists"),
            MembershipError::IdZero => write!(f, "member ID 0 is reserved"),
            MembershipError::IdRemoved { id } => write!(f, "member {id} was removed"),
            MembershipError::PeerUrlInUse { url, by } => {
                write!(f, "peer URL {url} is already used by member {by}")
            }
            MembershipError::UnknownMember { id } => write!(f, "member {id} not found"),
            MembershipError::MalformedInitialCluster { entry, reason } => {
                write!(f, "malformed initial-cluster entry {entry:?}: {reason}")
            }
            MembershipError::BadUrl(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for MembershipError {}

impl From<UrlError> for MembershipError {
    fn from(e: UrlError) -> MembershipError {
        MembershipError::BadUrl(e)
    }
}

/// Parses `name1=url1,name2=url2,...`. A name may appear several times: its URLs are merged
/// (etcd's URLs map does the same). Returns (name, urls) in first-appearance order.
pub fn parse_initial_cluster(s: &str) -> Result<Vec<(String, Vec<String>)>, MembershipError> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for entry in s.split(',') {
        let bad =
            |reason| MembershipError::MalformedInitialCluster { entry: entry.to_string(), reason };
        let (name, url) = entry.split_once('=').ok_or_else(|| bad("missing '='"))?;
        let (name, url) = (name.trim(), url.trim());
        if name.is_empty() {
            return Err(bad("empty member name"));
        }
        if url.is_empty() {
            return Err(bad("no URL for the member"));
        }
        crate::member::url_host_port(url)?;
        match out.iter_mut().find(|(n, _)| n == name) {
            Some((_, urls)) => urls.push(url.to_string()),
            None => out.push((name.to_string(), vec![url.to_string()])),
        }
    }
    Ok(out)
}

/// The cluster as one member sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cluster {
    id: ClusterId,
    token: String,
    members: BTreeMap<MemberId, Member>,
    removed: BTreeSet<MemberId>,
}

impl Cluster {
    /// Builds the bootstrap cluster from `--initial-cluster` and `--initial-cluster-token`:
    /// deterministic member IDs (no time), and the cluster ID over them.
    pub fn bootstrap(initial_cluster: &str, token: &str) -> Result<Cluster, MembershipError> {
        let mut c = Cluster {
            id: ClusterId(0),
            token: token.to_string(),
            members: BTreeMap::new(),
            removed: BTreeSet::new(),
        };
        for (name, urls) in parse_initial_cluster(initial_cluster)? {
            c.add_member(Member::bootstrap(&name, urls, token)?)?;
        }
        c.id = cluster_id_of(c.members.keys().copied());
        Ok(c)
    }

    /// Rebuilds a cluster from persisted state (the ID is taken as stored, never recomputed).
    pub fn restore(
        id: ClusterId,
        token: &str,
        members: Vec<Member>,
        removed: BTreeSet<MemberId>,
    ) -> Result<Cluster, MembershipError> {
        let mut c = Cluster { id, token: token.to_string(), members: BTreeMap::new(), removed };
        for m in members {
            c.add_member(m)?;
        }
        Ok(c)
    }

    pub fn id(&self) -> ClusterId {
        self.id
    }
    pub fn token(&self) -> &str {
        &self.token
    }
    /// Members in ID order.
    pub fn members(&self) -> impl Iterator<Item = &Member> {
        self.members.values()
    }
    pub fn member_ids(&self) -> Vec<MemberId> {
        self.members.keys().copied().collect()
    }
    pub fn member(&self, id: MemberId) -> Option<&Member> {
        self.members.get(&id)
    }
    pub fn member_by_name(&self, name: &str) -> Option<&Member> {
        self.members.values().find(|m| m.name == name)
    }
    pub fn is_removed(&self, id: MemberId) -> bool {
        self.removed.contains(&id)
    }
    pub fn removed(&self) -> &BTreeSet<MemberId> {
        &self.removed
    }

    /// Adds a member (bootstrap or run time). The cluster ID does not change.
    pub fn add_member(&mut self, m: Member) -> Result<(), MembershipError> {
        if m.id.0 == 0 {
            return Err(MembershipError::IdZero);
        }
        if self.removed.contains(&m.id) {
            return Err(MembershipError::IdRemoved { id: m.id });
        }
        if self.members.contains_key(&m.id) {
            return Err(MembershipError::DuplicateId { id: m.id });
        }
        self.check_urls_free(m.id, &m.peer_urls)?;
        self.members.insert(m.id, m);
        if sim::planted::active(&crate::planted::CLUSTER_ID_RECOMPUTED) {
            self.id = cluster_id_of(self.members.keys().copied());
        }
        Ok(())
    }

    /// Adds a member at run time (etcd's member add): no name, no token, the time taken from
    /// the Clock seam (pass `env.now()`), learner or not; no client URLs until it publishes
    /// them. Returns the new member's ID.
    pub fn add_runtime_member(
        &mut self,
        peer_urls: Vec<String>,
        now: sim::time::Instant,
        is_learner: bool,
    ) -> Result<MemberId, MembershipError> {
        let m = Member::at_runtime(peer_urls, now, is_learner)?;
        let id = m.id;
        self.add_member(m)?;
        Ok(id)
    }

    /// Removes a member; its ID can never come back.
    pub fn remove_member(&mut self, id: MemberId) -> Result<Member, MembershipError> {
        if self.removed.contains(&id) {
            return Err(MembershipError::IdRemoved { id });
        }
        let m = self.members.remove(&id).ok_or(MembershipError::UnknownMember { id })?;
        self.removed.insert(id);
        Ok(m)
    }

    /// A member publishes its name and client URLs.
    pub fn publish(
        &mut self,
        id: MemberId,
        name: &str,
        client_urls: Vec<String>,
    ) -> Result<(), MembershipError> {
        for url in &client_urls {
            crate::member::url_host_port(url)?;
        }
        let m = self.member_mut(id)?;
        m.name = name.to_string();
        m.client_urls = client_urls;
        Ok(())
    }

    /// Changes a member's peer URLs (its ID stays).
    pub fn update_peer_urls(
        &mut self,
        id: MemberId,
        peer_urls: Vec<String>,
    ) -> Result<(), MembershipError> {
        for url in &peer_urls {
            crate::member::url_host_port(url)?;
        }
        self.member_mut(id)?;
        self.check_urls_free(id, &peer_urls)?;
        self.member_mut(id)?.peer_urls = peer_urls;
        Ok(())
    }

    /// Promotes a learner to a voting member.
    pub fn promote(&mut self, id: MemberId) -> Result<(), MembershipError> {
        self.member_mut(id)?.is_learner = false;
        Ok(())
    }

    fn member_mut(&mut self, id: MemberId) -> Result<&mut Member, MembershipError> {
        if self.removed.contains(&id) {
            return Err(MembershipError::IdRemoved { id });
        }
        self.members.get_mut(&id).ok_or(MembershipError::UnknownMember { id })
    }

    fn check_urls_free(&self, id: MemberId, urls: &[String]) -> Result<(), MembershipError> {
        for other in self.members.values().filter(|o| o.id != id) {
            if let Some(url) = urls.iter().find(|u| other.peer_urls.contains(u)) {
                return Err(MembershipError::PeerUrlInUse { url: url.clone(), by: other.id });
            }
        }
        Ok(())
    }
}

/// The cluster ID over a set of member IDs (see the module docs).
pub fn cluster_id_of(ids: impl IntoIterator<Item = MemberId>) -> ClusterId {
    let mut ids: Vec<u64> = ids.into_iter().map(|m| m.0).collect();
    ids.sort_unstable();
    let bytes: Vec<u8> = ids.iter().flat_map(|id| id.to_be_bytes()).collect();
    ClusterId(id_from_sha1(&bytes))
}
