//! One remote member as the local transport sees it: its two streams in each direction, its
//! pipeline, and its status.
//!
//! # Who dials (as etcd's rafthttp does)
//!
//! A stream carries messages one way. The member that wants to *receive* from a peer dials the
//! peer and sends a hello frame naming the stream type (general or append); the peer checks the
//! hello's identity, answers `Accepted` and from then on writes its messages to that peer on
//! this connection. So for each pair of members and each stream type there are two long-lived
//! connections, one per direction, and each is owned (dialled and re-dialled every 100 ms while
//! down) by its reading side. This mirrors etcd's long-poll GET exactly; the Net seam's
//! connections are full duplex, so nothing forces it, but keeping etcd's shape means the
//! cluster-ID mismatch surfaces the way it does in etcd: as a refused stream dial every 100 ms on
//! the reading side, and a refused stream request on the writing side.
//!
//! The pipeline is the sender's: one short connection per message (at most
//! [`crate::transport::TransportConfig::pipeline_conns`] at once), used for snapshots always and
//! for other messages while no suitable stream is up. Its queue is bounded; a message that does
//! not fit is dropped and reported unreachable (a snapshot is also reported failed).
//!
//! Stream writes go straight to `Net::send`, which never blocks, so the stream has no queue of
//! its own to overflow: a broken stream shows up as a `Closed` event or a send error, and the
//! message falls back to the pipeline.

use std::collections::VecDeque;

use sim::io::{Addr, ConnId};
use sim::time::Instant;
use sim::TimerId;

use crate::frame::{MessageKind, StreamType};
use crate::ids::MemberId;

/// Index of a stream type in per-peer arrays.
pub(crate) fn slot(s: StreamType) -> usize {
    match s {
        StreamType::General => 0,
        StreamType::Append => 1,
    }
}

/// Both stream types, in slot order.
pub const STREAM_TYPES: [StreamType; 2] = [StreamType::General, StreamType::Append];

/// Whether a peer is reachable, and since when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerStatus {
    /// True while at least one stream to or from the peer is established.
    pub active: bool,
    /// When `active` last changed (or when the peer was added).
    pub since: Instant,
}

/// The reading side of one stream: a connection we dialled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reader {
    pub conn: ConnId,
    /// The peer answered our hello with `Accepted`.
    pub accepted: bool,
}

/// A message waiting for a pipeline connection.
#[derive(Clone, Debug)]
pub struct Queued {
    pub kind: MessageKind,
    pub payload: crate::frame::Payload,
}

/// Where [`Peer::route`] sends a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    Stream(ConnId),
    Pipeline,
}

/// A remote member.
#[derive(Clone, Debug)]
pub struct Peer {
    pub id: MemberId,
    pub addr: Addr,
    /// Our dialled, reading connection per stream type.
    pub readers: [Option<Reader>; 2],
    /// The connection the peer dialled to read from us, per stream type.
    pub writers: [Option<ConnId>; 2],
    /// Pending re-dial timer per stream type.
    pub redial: [Option<TimerId>; 2],
    pub queue: VecDeque<Queued>,
    pub queue_cap: usize,
    /// Pipeline connections in flight.
    pub in_flight: usize,
    pub status: PeerStatus,
    /// A *remote*, not a member we were told about: a sender learnt from its pipeline messages
    /// (etcd's `remote`). We answer it by pipeline only and never dial its streams, until the
    /// member is added for real.
    pub remote: bool,
}

impl Peer {
    pub fn new(id: MemberId, addr: Addr, queue_cap: usize, now: Instant) -> Peer {
        Peer {
            id,
            addr,
            readers: [None, None],
            writers: [None, None],
            redial: [None, None],
            queue: VecDeque::new(),
            queue_cap,
            in_flight: 0,
            status: PeerStatus { active: false, since: now },
            remote: false,
        }
    }

    /// etcd's pick: snapshots always by pipeline; appends on the append stream if it is up,
    /// else the general stream; everything else on the general stream; the pipeline when the
    /// chosen stream is down.
    pub fn route(&self, kind: MessageKind) -> Route {
        let general = self.writers[slot(StreamType::General)];
        let append = self.writers[slot(StreamType::Append)];
        let conn = match kind {
            MessageKind::Snapshot => None,
            MessageKind::Append => append.or(general),
            MessageKind::General => general,
        };
        conn.map_or(Route::Pipeline, Route::Stream)
    }

    /// Queues a message for the pipeline; gives it back when the queue is full.
    pub fn enqueue(&mut self, m: Queued) -> Result<(), Queued> {
        if self.queue.len() >= self.queue_cap {
            return Err(m);
        }
        self.queue.push_back(m);
        Ok(())
    }

    /// Whether any stream, in either direction, is established.
    pub fn any_stream_up(&self) -> bool {
        self.readers.iter().flatten().any(|r| r.accepted)
            || self.writers.iter().any(Option::is_some)
    }

    /// Brings `status` in line with the streams; returns the new status if it changed.
    pub fn refresh_status(&mut self, now: Instant) -> Option<PeerStatus> {
        let up = self.any_stream_up();
        if up == self.status.active {
            return None;
        }
        self.status = PeerStatus { active: up, since: now };
        Some(self.status)
    }

    /// The stream type a connection plays for this peer, if it is one of its streams.
    pub fn stream_of(&self, conn: ConnId) -> Option<(StreamType, bool)> {
        for s in STREAM_TYPES {
            if self.readers[slot(s)].map(|r| r.conn) == Some(conn) {
                return Some((s, true));
            }
            if self.writers[slot(s)] == Some(conn) {
                return Some((s, false));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer() -> Peer {
        Peer::new(MemberId(2), Addr::new("n2:2380"), 2, Instant(0))
    }

    #[test]
    fn routing_prefers_streams_and_falls_back_to_the_pipeline() {
        let mut p = peer();
        for k in [MessageKind::General, MessageKind::Append, MessageKind::Snapshot] {
            assert_eq!(p.route(k), Route::Pipeline);
        }
        p.writers[slot(StreamType::General)] = Some(ConnId(5));
        assert_eq!(p.route(MessageKind::General), Route::Stream(ConnId(5)));
        assert_eq!(p.route(MessageKind::Append), Route::Stream(ConnId(5)));
        assert_eq!(p.route(MessageKind::Snapshot), Route::Pipeline);
        p.writers[slot(StreamType::Append)] = Some(ConnId(6));
        assert_eq!(p.route(MessageKind::Append), Route::Stream(ConnId(6)));
        assert_eq!(p.route(MessageKind::General), Route::Stream(ConnId(5)));
    }

    #[test]
    fn the_queue_is_bounded() {
        let mut p = peer();
        let q = |b| Queued { kind: MessageKind::General, payload: vec![b].into() };
        assert!(p.enqueue(q(1)).is_ok());
        assert!(p.enqueue(q(2)).is_ok());
        assert_eq!(p.enqueue(q(3)).unwrap_err().payload.as_slice(), &[3]);
    }

    #[test]
    fn status_tracks_streams_with_times() {
        let mut p = peer();
        assert_eq!(p.refresh_status(Instant(5)), None);
        p.readers[0] = Some(Reader { conn: ConnId(1), accepted: false });
        assert_eq!(p.refresh_status(Instant(6)), None, "a dial in progress is not up");
        p.readers[0] = Some(Reader { conn: ConnId(1), accepted: true });
        assert_eq!(
            p.refresh_status(Instant(7)),
            Some(PeerStatus { active: true, since: Instant(7) })
        );
        p.readers[0] = None;
        p.writers[1] = Some(ConnId(3));
        assert_eq!(p.refresh_status(Instant(8)), None);
        p.writers[1] = None;
        assert_eq!(
            p.refresh_status(Instant(9)),
            Some(PeerStatus { active: false, since: Instant(9) })
        );
        assert_eq!(p.stream_of(ConnId(3)), None);
    }
}
