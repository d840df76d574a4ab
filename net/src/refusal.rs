//! Identity checks on incoming frames, the refusals they produce, and the rate-limited log of
//! refusals.
//!
//! Every frame names its cluster, sender and recipient. A receiver checks, in this order (the
//! order etcd's stream handler uses): the cluster ID, whether the sender was removed, whether
//! the sender is a known member, whether the frame is addressed to this member. The first
//! failing check refuses the frame (and the connection it arrived on).
//!
//! etcd logs every refused stream dial, and since a stream is re-dialled every 100 ms its log
//! fills with cluster-ID mismatches. Here every refusal is counted, but the log line is limited
//! to one per remote member per [`LogLimiter`] interval (1 s by default), and the next line that
//! is written says how many were suppressed in between.

use std::collections::BTreeMap;
use std::fmt;

use sim::time::{Duration, Instant};

use crate::frame::{FrameKind, Header};
use crate::ids::{ClusterId, MemberId};
use crate::planted;

/// Why a frame was refused; sent back to the dialer as the payload of a `Refused` frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RefusalCode {
    ClusterIdMismatch,
    RemovedMember,
    UnknownSender,
    WrongRecipient,
    /// A code this build does not know (a newer peer).
    Other(u8),
}

impl RefusalCode {
    pub fn to_byte(self) -> u8 {
        match self {
            RefusalCode::ClusterIdMismatch => 1,
            RefusalCode::RemovedMember => 2,
            RefusalCode::UnknownSender => 3,
            RefusalCode::WrongRecipient => 4,
            RefusalCode::Other(b) => b,
        }
    }
    /// Decodes a `Refused` payload; an empty payload reads as `Other(0)`.
    pub fn from_payload(payload: &[u8]) -> RefusalCode {
        match payload.first().copied().unwrap_or(0) {
            1 => RefusalCode::ClusterIdMismatch,
            2 => RefusalCode::RemovedMember,
            3 => RefusalCode::UnknownSender,
            4 => RefusalCode::WrongRecipient,
            b => RefusalCode::Other(b),
        }
    }
}

/// A refused frame or stream, as this member reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The remote side belongs to another cluster. Reported by both sides: by the receiver of
    /// the frame and, once the `Refused` answer arrives, by its sender.
    ClusterIdMismatch { local: ClusterId, remote: ClusterId, remote_member: MemberId },
    /// A frame addressed to another member ID reached this member.
    WrongRecipient { local: MemberId, addressed_to: MemberId, from: MemberId },
    /// The sender is not a member this transport knows.
    UnknownSender { from: MemberId },
    /// The sender was removed from the cluster.
    RemovedMember { from: MemberId },
    /// The remote member refused our frame for a reason other than the cluster ID.
    RefusedByPeer { peer: MemberId, reason: RefusalCode },
}

impl Refusal {
    /// The member the refusal is about (the rate limiter's key).
    pub fn peer(&self) -> MemberId {
        match self {
            Refusal::ClusterIdMismatch { remote_member, .. } => *remote_member,
            Refusal::WrongRecipient { from, .. }
            | Refusal::UnknownSender { from }
            | Refusal::RemovedMember { from } => *from,
            Refusal::RefusedByPeer { peer, .. } => *peer,
        }
    }

    /// The code sent back to the dialer, if this refusal is answered with one.
    pub fn code(&self) -> Option<RefusalCode> {
        match self {
            Refusal::ClusterIdMismatch { .. } => Some(RefusalCode::ClusterIdMismatch),
            Refusal::WrongRecipient { .. } => Some(RefusalCode::WrongRecipient),
            Refusal::UnknownSender { .. } => Some(RefusalCode::UnknownSender),
            Refusal::RemovedMember { .. } => Some(RefusalCode::RemovedMember),
            Refusal::RefusedByPeer { .. } => None,
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::ClusterIdMismatch { local, remote, remote_member } => write!(
                f,
                "cluster ID mismatch: local={local}, remote={remote} from member {remote_member}"
            ),
            Refusal::WrongRecipient { local, addressed_to, from } => write!(
                f,
                "frame from member {from} addressed to member {addressed_to}, this is member {local}"
            ),
            Refusal::UnknownSender { from } => write!(f, "frame from unknown member {from}"),
            Refusal::RemovedMember { from } => {
                write!(f, "frame from member {from}, which was removed from the cluster")
            }
            Refusal::RefusedByPeer { peer, reason } => {
                write!(f, "member {peer} refused our connection: {reason:?}")
            }
        }
    }
}

/// What the receiving member knows when it checks a frame.
pub struct LocalIdentity<'a> {
    pub cluster: ClusterId,
    pub member: MemberId,
    pub is_known: &'a dyn Fn(MemberId) -> bool,
    pub is_removed: &'a dyn Fn(MemberId) -> bool,
}

/// Checks an incoming frame's identity fields (order in the module docs).
pub fn check_identity(h: &Header, local: &LocalIdentity<'_>) -> Result<(), Refusal> {
    let foreign = if sim::planted::active(&planted::MESSAGES_SKIP_CLUSTER_CHECK) {
        h.cluster != local.cluster && !matches!(h.kind, FrameKind::Message(_))
    } else {
        h.cluster != local.cluster
    };
    if foreign {
        return Err(Refusal::ClusterIdMismatch {
            local: local.cluster,
            remote: h.cluster,
            remote_member: h.from,
        });
    }
    if (local.is_removed)(h.from) {
        return Err(Refusal::RemovedMember { from: h.from });
    }
    if !(local.is_known)(h.from) {
        return Err(Refusal::UnknownSender { from: h.from });
    }
    if h.to != local.member {
        return Err(Refusal::WrongRecipient {
            local: local.member,
            addressed_to: h.to,
            from: h.from,
        });
    }
    Ok(())
}

/// A log line the transport wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    pub at: Instant,
    pub peer: MemberId,
    pub text: String,
}

#[derive(Clone, Copy, Debug)]
struct PeerLog {
    last: Instant,
    suppressed: u64,
}

/// Peers the limiter remembers before it forgets those whose window has closed.
const LIMITER_PEERS: usize = 1024;

/// At most one line per peer per `interval`; the suppressed ones are counted and reported in
/// the next line for that peer.
#[derive(Clone, Debug)]
pub struct LogLimiter {
    interval: Duration,
    peers: BTreeMap<MemberId, PeerLog>,
    /// Lines suppressed so far, over all peers.
    pub suppressed_total: u64,
}

impl LogLimiter {
    pub fn new(interval: Duration) -> LogLimiter {
        LogLimiter { interval, peers: BTreeMap::new(), suppressed_total: 0 }
    }

    /// The line to write for `refusal` now, or `None` when it is suppressed.
    pub fn admit(&mut self, now: Instant, refusal: &Refusal) -> Option<LogLine> {
        let peer = refusal.peer();
        let suppressed = match self.peers.get_mut(&peer) {
            Some(p) if now.saturating_since(p.last) < self.interval => {
                p.suppressed += 1;
                self.suppressed_total += 1;
                return None;
            }
            Some(p) => std::mem::replace(p, PeerLog { last: now, suppressed: 0 }).suppressed,
            None => {
                if self.peers.len() >= LIMITER_PEERS {
                    // Many distinct senders (garbage IDs): forget the ones whose window closed.
                    let interval = self.interval;
                    self.peers.retain(|_, p| now.saturating_since(p.last) < interval);
                }
                self.peers.insert(peer, PeerLog { last: now, suppressed: 0 });
                0
            }
        };
        let text = if suppressed > 0 {
            format!("{refusal} ({suppressed} similar lines suppressed)")
        } else {
            refusal.to_string()
        };
        Some(LogLine { at: now, peer, text })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::StreamType;

    fn hdr(cluster: u64, from: u64, to: u64) -> Header {
        Header {
            kind: FrameKind::Hello(StreamType::General),
            cluster: ClusterId(cluster),
            from: MemberId(from),
            to: MemberId(to),
        }
    }

    #[test]
    fn checks_run_in_order() {
        let known = |m: MemberId| m.0 == 2 || m.0 == 3;
        let removed = |m: MemberId| m.0 == 3;
        let me = LocalIdentity {
            cluster: ClusterId(9),
            member: MemberId(1),
            is_known: &known,
            is_removed: &removed,
        };
        assert_eq!(check_identity(&hdr(9, 2, 1), &me), Ok(()));
        let e = check_identity(&hdr(8, 3, 7), &me).unwrap_err();
        assert_eq!(
            e.to_string(),
            "cluster ID mismatch: local=0000000000000009, remote=0000000000000008 from member \
             0000000000000003"
        );
        assert_eq!(
            check_identity(&hdr(9, 3, 1), &me),
            Err(Refusal::RemovedMember { from: MemberId(3) })
        );
        assert_eq!(
            check_identity(&hdr(9, 5, 1), &me),
            Err(Refusal::UnknownSender { from: MemberId(5) })
        );
        assert_eq!(
            check_identity(&hdr(9, 2, 4), &me),
            Err(Refusal::WrongRecipient {
                local: MemberId(1),
                addressed_to: MemberId(4),
                from: MemberId(2)
            })
        );
    }

    #[test]
    fn codes_round_trip() {
        for c in [
            RefusalCode::ClusterIdMismatch,
            RefusalCode::RemovedMember,
            RefusalCode::UnknownSender,
            RefusalCode::WrongRecipient,
            RefusalCode::Other(99),
        ] {
            assert_eq!(RefusalCode::from_payload(&[c.to_byte()]), c);
        }
        assert_eq!(RefusalCode::from_payload(&[]), RefusalCode::Other(0));
    }

    #[test]
    fn limiter_writes_one_line_per_peer_per_interval() {
        let mut l = LogLimiter::new(Duration::from_secs(1));
        let r = |m| Refusal::UnknownSender { from: MemberId(m) };
        let ms = |n: u64| Instant(n * 1_000_000);
        assert!(l.admit(ms(0), &r(1)).is_some());
        assert!(l.admit(ms(0), &r(2)).is_some(), "another peer has its own budget");
        assert!(l.admit(ms(100), &r(1)).is_none());
        assert!(l.admit(ms(999), &r(1)).is_none());
        let line = l.admit(ms(1000), &r(1)).unwrap();
        assert_eq!(
            line.text,
            "frame from unknown member 0000000000000001 (2 similar lines suppressed)"
        );
        assert_eq!(l.suppressed_total, 2);
        assert!(l.admit(ms(1500), &r(1)).is_none());
    }
}
