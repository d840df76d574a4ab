//! A cluster member and how its ID is made.
//!
//! Member ID = the first 8 bytes, big-endian, of SHA-1 over: the member's peer URLs sorted
//! byte-wise and joined with no separator, then the cluster token, then (only when a time is
//! given) the decimal number of seconds. This is exactly etcd's `computeMemberId` order
//! (checked against etcd's own expected numbers in `tests/membership_ids.rs`). Bootstrap members
//! are made with the token and no time, so every node computes the same IDs independently; a
//! member added at run time is made with no token and the time, so re-adding the same URLs gives
//! a new ID.

use std::fmt;

use sim::io::Addr;
use sim::time::Instant;

use crate::ids::{id_from_sha1, MemberId};

/// Why a URL is not a usable peer or client URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UrlError {
    /// Not `http://` or `https://`.
    BadScheme { url: String },
    /// No `host:port` after the scheme, or a port that is not a number.
    NotHostPort { url: String },
    /// A path after `host:port` (etcd refuses these too).
    HasPath { url: String },
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UrlError::BadScheme { url } => {
                write!(f, "URL {url:?} must start with http:// or https://")
            }
            UrlError::NotHostPort { url } => {
                write!(f, "URL {url:?} does not have the form scheme://host:port")
            }
            UrlError::HasPath { url } => write!(f, "URL {url:?} must not contain a path"),
        }
    }
}

impl std::error::Error for UrlError {}

/// Checks that `url` is `http(s)://host:port` with no path and returns its `host:port`.
pub fn url_host_port(url: &str) -> Result<&str, UrlError> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| UrlError::BadScheme { url: url.to_string() })?;
    if rest.contains('/') {
        return Err(UrlError::HasPath { url: url.to_string() });
    }
    let (host, port) =
        rest.rsplit_once(':').ok_or_else(|| UrlError::NotHostPort { url: url.to_string() })?;
    if host.is_empty() || port.is_empty() || port.parse::<u16>().is_err() {
        return Err(UrlError::NotHostPort { url: url.to_string() });
    }
    Ok(rest)
}

/// The Net address a peer URL points at.
pub fn url_addr(url: &str) -> Result<Addr, UrlError> {
    url_host_port(url).map(Addr::new)
}

/// Computes a member ID (see the module docs for the construction).
pub fn compute_member_id(peer_urls: &[String], token: &str, unix_secs: Option<u64>) -> MemberId {
    let mut sorted: Vec<&str> = peer_urls.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    let mut input: Vec<u8> = sorted.concat().into_bytes();
    input.extend_from_slice(token.as_bytes());
    if let Some(secs) = unix_secs {
        input.extend_from_slice(secs.to_string().as_bytes());
    }
    MemberId(id_from_sha1(&input))
}

/// A member of the cluster.
///
/// Invariant: `peer_urls` is non-empty and every URL passed [`url_host_port`]; `id` is derived
/// from them (it never changes, even if the URLs are later updated).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub id: MemberId,
    /// Empty for a member added at run time until it publishes its name.
    pub name: String,
    pub peer_urls: Vec<String>,
    /// Empty until the member publishes them.
    pub client_urls: Vec<String>,
    pub is_learner: bool,
}

impl Member {
    /// A bootstrap member: ID from the peer URLs and the cluster token, no time.
    pub fn bootstrap(name: &str, peer_urls: Vec<String>, token: &str) -> Result<Member, UrlError> {
        Member::make(name, peer_urls, token, None, false)
    }

    /// A member added at run time: no name, no token, the time from the Clock seam in whole
    /// seconds, no client URLs. In simulation `now` is virtual time, so the ID is reproducible.
    pub fn at_runtime(
        peer_urls: Vec<String>,
        now: Instant,
        is_learner: bool,
    ) -> Result<Member, UrlError> {
        Member::make("", peer_urls, "", Some(now.as_nanos() / 1_000_000_000), is_learner)
    }

    /// The general constructor: `unix_secs` is appended to the hash input when given.
    pub fn make(
        name: &str,
        peer_urls: Vec<String>,
        token: &str,
        unix_secs: Option<u64>,
        is_learner: bool,
    ) -> Result<Member, UrlError> {
        if peer_urls.is_empty() {
            return Err(UrlError::NotHostPort { url: String::new() });
        }
        for url in &peer_urls {
            url_host_port(url)?;
        }
        Ok(Member {
            id: compute_member_id(&peer_urls, token, unix_secs),
            name: name.to_string(),
            peer_urls,
            client_urls: Vec::new(),
            is_learner,
        })
    }

    /// Whether the member has published its attributes (etcd: a started member has a name).
    pub fn is_started(&self) -> bool {
        !self.name.is_empty()
    }

    /// The address the transport dials: the smallest peer URL's `host:port`.
    pub fn peer_addr(&self) -> Addr {
        let first = self.peer_urls.iter().min().expect("a member has at least one peer URL");
        url_addr(first).expect("peer URLs were validated at construction")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_checks() {
        assert_eq!(url_host_port("http://n1:2380"), Ok("n1:2380"));
        assert_eq!(url_host_port("https://10.0.0.1:1"), Ok("10.0.0.1:1"));
        assert!(matches!(url_host_port("ftp://a:1"), Err(UrlError::BadScheme { .. })));
        assert!(matches!(url_host_port("http://a"), Err(UrlError::NotHostPort { .. })));
        assert!(matches!(url_host_port("http://a:x"), Err(UrlError::NotHostPort { .. })));
        assert!(matches!(url_host_port("http://:1"), Err(UrlError::NotHostPort { .. })));
        assert!(matches!(url_host_port("http://localhost/"), Err(UrlError::HasPath { .. })));
        assert!(matches!(url_host_port("%^"), Err(UrlError::BadScheme { .. })));
    }

    #[test]
    fn runtime_member_has_no_name_and_no_client_urls() {
        let m = Member::at_runtime(vec!["http://n4:2380".into()], Instant(7_500_000_000), true)
            .unwrap();
        assert_eq!(m.name, "");
        assert!(m.client_urls.is_empty());
        assert!(m.is_learner);
        assert!(!m.is_started());
        assert_eq!(m.id, compute_member_id(&m.peer_urls, "", Some(7)));
        assert_ne!(m.id, compute_member_id(&m.peer_urls, "", None));
        assert_eq!(m.peer_addr(), Addr::new("n4:2380"));
    }

    #[test]
    fn a_member_needs_a_peer_url() {
        assert!(Member::bootstrap("a", vec![], "t").is_err());
    }
}
