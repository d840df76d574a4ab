//! The transport the raft server loop uses: send messages to members, receive theirs, manage
//! peers, query their status.
//!
//! The transport is sans-I/O like everything else: the owning actor forwards its `on_start`,
//! `on_net` and `on_timer` calls ([`Transport::start`], [`Transport::on_net`],
//! [`Transport::on_timer`]) and drains [`Transport::take_events`] after each. Stream and pipeline
//! mechanics are described in [`crate::peer`]; identity checks and the rate-limited refusal log
//! in [`crate::refusal`].
//!
//! Which frames are checked: every frame but a `Refused` answer (which carries the refuser's
//! identity by design). A stream hello must come from a member we know; a pipeline message
//! only from a member that was not removed (etcd's pipeline handler is as lenient): a member
//! that has not yet applied another's addition must still hear from it, or a new member that
//! became leader could never bring it up to date. Such a sender becomes a *remote* (see
//! [`crate::peer::Peer::remote`]), answered by pipeline at the address its message carries. A
//! hello or pipeline message that fails its check on an accepted connection is answered with
//! `Refused` and a code, so the dialer can report the refusal too; a frame on a
//! connection we dialled (`Accepted`, stream messages, `Ack`) that fails the check closes it. Both
//! count as refusals.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use sim::io::{Addr, ConnId, NetError, NetEvent};
use sim::time::{Duration, Instant};
use sim::{Env, TimerId};

use crate::buggify;
use crate::frame::{
    self, FrameError, FrameKind, Header, MessageKind, Payload, StreamType, MAX_ADDR_LEN,
    MAX_MESSAGE,
};
use crate::ids::{ClusterId, MemberId};
use crate::peer::{slot, Peer, PeerStatus, Queued, Reader, Route, STREAM_TYPES};
use crate::planted;
use crate::refusal::{check_identity, LocalIdentity, LogLimiter, LogLine, Refusal, RefusalCode};

/// The timer tag every transport timer carries; [`Transport::on_timer`] ignores other tags.
pub const TIMER_TAG: u64 = 0x6e65_745f_7265_6469; // "net_redi"

/// How many refusal log lines [`Transport::log`] keeps (older ones are dropped).
pub const LOG_KEEP: usize = 4096;

/// Transport settings.
#[derive(Clone, Debug)]
pub struct TransportConfig {
    pub local: MemberId,
    pub cluster: ClusterId,
    /// Where this member accepts peer connections.
    pub listen: Addr,
    /// Delay before re-dialling a stream that is down (etcd: 100 ms).
    pub redial_after: Duration,
    /// Pipeline queue length per peer (etcd: 64).
    pub pipeline_queue: usize,
    /// Pipeline connections in flight per peer (etcd: 4).
    pub pipeline_conns: usize,
    /// At most one refusal log line per peer per this interval.
    pub log_interval: Duration,
}

impl TransportConfig {
    pub fn new(local: MemberId, cluster: ClusterId, listen: Addr) -> TransportConfig {
        TransportConfig {
            local,
            cluster,
            listen,
            redial_after: Duration::from_millis(100),
            pipeline_queue: 64,
            pipeline_conns: 4,
            log_interval: Duration::from_secs(1),
        }
    }
}

/// A message for a member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outgoing {
    pub to: MemberId,
    pub kind: MessageKind,
    /// Built with [`Payload::build`], a stream send frames it without copying.
    pub payload: Payload,
}

/// What the transport reports to its owner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransportEvent {
    /// A message from a member passed the identity checks.
    Received { from: MemberId, kind: MessageKind, payload: Vec<u8> },
    /// A message to `to` was dropped (full queue, failed pipeline, unknown peer): raft should
    /// treat the peer as unreachable.
    Unreachable { to: MemberId },
    /// A snapshot to `to` was delivered or failed.
    SnapshotStatus { to: MemberId, delivered: bool },
    /// The peer's status changed.
    PeerStatus { member: MemberId, status: PeerStatus },
    /// A frame or stream was refused (every refusal, whether or not it was logged).
    Refused(Refusal),
    /// Bytes that are not a valid frame arrived; the connection was closed.
    BadFrame { peer: Option<MemberId>, error: FrameError },
}

/// Counters; every refusal moves one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TransportStats {
    pub cluster_id_mismatch: u64,
    pub wrong_recipient: u64,
    pub unknown_sender: u64,
    pub removed_member: u64,
    /// `Refused` answers with a code other than a cluster-ID mismatch.
    pub refused_by_peer: u64,
    pub refusals_by_peer: BTreeMap<MemberId, u64>,
    pub bad_frames: u64,
    pub stream_dials: u64,
    pub pipeline_dials: u64,
    pub messages_sent_stream: u64,
    pub messages_sent_pipeline: u64,
    pub messages_received: u64,
    pub messages_dropped: u64,
    pub log_lines: u64,
    pub log_suppressed: u64,
    /// Messages handed to the owner from a frame whose cluster ID is not ours. The identity
    /// checks keep this at zero; it is counted at the hand-over itself, after every check, so
    /// that an oracle can tell whether a foreign payload ever reached raft.
    pub foreign_deliveries: u64,
    /// The first of those, if any.
    pub first_foreign_delivery: Option<ForeignDelivery>,
}

/// A message handed to the owner although its frame carried another cluster's ID.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ForeignDelivery {
    /// The sender named in the frame.
    pub from: MemberId,
    /// The cluster ID the frame carried.
    pub cluster: ClusterId,
    /// When it was handed over.
    pub at: Instant,
}

impl TransportStats {
    /// All refusals, of every kind.
    pub fn refusals(&self) -> u64 {
        self.cluster_id_mismatch
            + self.wrong_recipient
            + self.unknown_sender
            + self.removed_member
            + self.refused_by_peer
    }
}

/// What a connection is to us.
#[derive(Clone, Debug)]
enum Conn {
    /// We dialled it to read `stream` from `peer`.
    Reader { peer: MemberId, stream: StreamType },
    /// `peer` dialled it to read `stream` from us.
    Writer { peer: MemberId, stream: StreamType },
    /// Someone dialled us; the first frame says what it is.
    Inbound,
    /// Our one-message pipeline connection; `frame` is sent once connected.
    Pipeline { peer: MemberId, kind: MessageKind, frame: Option<Vec<u8>> },
}

/// The peer transport of one member.
pub struct Transport {
    cfg: TransportConfig,
    peers: BTreeMap<MemberId, Peer>,
    removed: BTreeSet<MemberId>,
    conns: BTreeMap<ConnId, Conn>,
    timers: BTreeMap<TimerId, (MemberId, StreamType)>,
    events: VecDeque<TransportEvent>,
    log: VecDeque<LogLine>,
    limiter: LogLimiter,
    stats: TransportStats,
    started: bool,
}

impl Transport {
    pub fn new(cfg: TransportConfig) -> Transport {
        let listen = cfg.listen.as_str();
        assert!(
            !listen.is_empty() && listen.len() <= MAX_ADDR_LEN,
            "listen address {listen:?} must be 1..={MAX_ADDR_LEN} bytes"
        );
        let limiter = LogLimiter::new(cfg.log_interval);
        Transport {
            cfg,
            peers: BTreeMap::new(),
            removed: BTreeSet::new(),
            conns: BTreeMap::new(),
            timers: BTreeMap::new(),
            events: VecDeque::new(),
            log: VecDeque::new(),
            limiter,
            stats: TransportStats::default(),
            started: false,
        }
    }

    pub fn config(&self) -> &TransportConfig {
        &self.cfg
    }
    pub fn stats(&self) -> &TransportStats {
        &self.stats
    }
    /// The most recent refusal log lines, oldest first, at most [`LOG_KEEP`] of them (every line
    /// is also recorded in the trace as `net.refused`).
    pub fn log(&self) -> &VecDeque<LogLine> {
        &self.log
    }
    /// Drains the events since the last call.
    pub fn take_events(&mut self) -> Vec<TransportEvent> {
        self.events.drain(..).collect()
    }
    /// The oldest event not yet taken (for owners that handle events one at a time without
    /// collecting them first).
    pub fn next_event(&mut self) -> Option<TransportEvent> {
        self.events.pop_front()
    }
    /// The members we were told about (remotes learnt from pipeline messages are not among them).
    pub fn peer_ids(&self) -> Vec<MemberId> {
        self.peers.values().filter(|p| !p.remote).map(|p| p.id).collect()
    }
    /// Senders we answer by pipeline only, learnt from their messages (module docs).
    pub fn remote_ids(&self) -> Vec<MemberId> {
        self.peers.values().filter(|p| p.remote).map(|p| p.id).collect()
    }
    pub fn peer_status(&self, member: MemberId) -> Option<PeerStatus> {
        self.peers.get(&member).map(|p| p.status)
    }
    /// Since when the peer has been active, or `None` if it is inactive or unknown.
    pub fn active_since(&self, member: MemberId) -> Option<Instant> {
        self.peer_status(member).filter(|s| s.active).map(|s| s.since)
    }
    /// Since when the peer has been inactive, or `None` if it is active or unknown.
    pub fn inactive_since(&self, member: MemberId) -> Option<Instant> {
        self.peer_status(member).filter(|s| !s.active).map(|s| s.since)
    }
    /// Whether the stream of `stream` type from us to `member` (the one `member` reads) is up.
    pub fn writer_up(&self, member: MemberId, stream: StreamType) -> bool {
        self.peers.get(&member).is_some_and(|p| p.writers[slot(stream)].is_some())
    }
    /// The connection of our writing stream of `stream` type to `member` (tests only).
    #[cfg(test)]
    pub(crate) fn writer_conn(&self, member: MemberId, stream: StreamType) -> Option<ConnId> {
        self.peers.get(&member).and_then(|p| p.writers[slot(stream)])
    }
    /// Whether our reading stream of `stream` type from `member` is up.
    pub fn reader_up(&self, member: MemberId, stream: StreamType) -> bool {
        self.peers.get(&member).is_some_and(|p| p.readers[slot(stream)].is_some_and(|r| r.accepted))
    }

    /// Listens and dials every known peer's streams. Call from `on_start`.
    pub fn start<R>(&mut self, env: &mut Env<'_, R>) -> Result<(), NetError> {
        env.net().listen(&self.cfg.listen)?;
        self.started = true;
        for id in self.peer_ids() {
            self.dial_streams(env, id);
        }
        Ok(())
    }

    /// Adds a peer (before or after `start`); its streams are dialled at once when started.
    pub fn add_peer<R>(&mut self, env: &mut Env<'_, R>, id: MemberId, addr: Addr) {
        assert!(id != self.cfg.local, "cannot add the local member {id} as its own peer");
        if let Some(p) = self.peers.get_mut(&id) {
            if std::mem::replace(&mut p.remote, false) {
                // A remote becomes a full peer: its streams are dialled from now on.
                p.addr = addr;
                trace(env, "net.remote_promoted", || format!("{id}"));
                return self.dial_streams(env, id);
            }
            return self.update_peer(env, id, addr);
        }
        self.removed.remove(&id);
        let p = Peer::new(id, addr, self.cfg.pipeline_queue, env.now());
        self.peers.insert(id, p);
        self.dial_streams(env, id);
    }

    /// Removes a peer (or remote): closes all its connections and refuses its frames from now
    /// on. Idempotent; also marks a member removed that was never a peer.
    pub fn remove_peer<R>(&mut self, env: &mut Env<'_, R>, id: MemberId) {
        self.removed.insert(id);
        let Some(p) = self.peers.remove(&id) else { return };
        for t in p.redial.iter().flatten() {
            env.cancel_timer(*t);
            self.timers.remove(t);
        }
        let conns: Vec<ConnId> =
            self.conns.iter().filter(|(_, c)| conn_peer(c) == Some(id)).map(|(k, _)| *k).collect();
        for c in conns {
            self.conns.remove(&c);
            env.net().close(c);
        }
    }

    /// Changes a peer's address: its reading streams are re-dialled there.
    pub fn update_peer<R>(&mut self, env: &mut Env<'_, R>, id: MemberId, addr: Addr) {
        let Some(p) = self.peers.get_mut(&id) else { return };
        if p.addr == addr {
            return;
        }
        p.addr = addr;
        let readers: Vec<ConnId> =
            p.readers.iter_mut().filter_map(|r| r.take()).map(|r| r.conn).collect();
        for c in readers {
            self.conns.remove(&c);
            env.net().close(c);
        }
        self.refresh(env, id);
        self.dial_streams(env, id);
    }

    /// Sends messages; failures come back as events. BUGGIFY may reverse the burst or send a
    /// message twice ([`crate::buggify`]).
    pub fn send<R>(&mut self, env: &mut Env<'_, R>, msgs: impl IntoIterator<Item = Outgoing>) {
        if !env.buggify_enabled() {
            for m in msgs {
                self.send_one(env, m);
            }
            return;
        }
        let mut burst: Vec<Outgoing> = msgs.into_iter().collect();
        if burst.len() > 1 && env.buggify(buggify::REORDER) {
            burst.reverse();
        }
        for m in burst {
            if m.kind == MessageKind::Append && env.buggify(buggify::DUPLICATE) {
                self.send_one(env, m.clone());
            }
            self.send_one(env, m);
        }
    }

    fn send_one<R>(&mut self, env: &mut Env<'_, R>, m: Outgoing) {
        let Some(p) = self.peers.get(&m.to) else {
            return self.dropped(m.to, m.kind);
        };
        if m.payload.len() > MAX_MESSAGE {
            return self.dropped(m.to, m.kind);
        }
        let route = p.route(m.kind);
        let no_fallback = sim::planted::active(&planted::NO_PIPELINE_FALLBACK);
        if no_fallback && route == Route::Pipeline && m.kind != MessageKind::Snapshot {
            return self.dropped(m.to, m.kind);
        }
        if let Route::Stream(conn) = route {
            if env.buggify(buggify::STREAM_BREAK) {
                // The stream breaks under this message: the peer re-dials, meanwhile the
                // pipeline (or the other stream) carries it.
                trace(env, "net.stream_break", || format!("{}", m.to));
                env.net().close(conn);
                self.conn_lost(env, conn);
                return self.send_one(env, m);
            }
            let h = self.header(FrameKind::Message(m.kind), m.to);
            // Framed in place: the payload's buffer becomes the frame. If the stream turns out
            // to be gone, the message is lost with it and raft hears the peer is unreachable,
            // as etcd's stream writer reports a failed write.
            if env.net().send(conn, frame::encode_payload(&h, m.payload)).is_ok() {
                self.stats.messages_sent_stream += 1;
            } else {
                self.conn_lost(env, conn);
                self.dropped(m.to, m.kind);
            }
            return;
        }
        let to = m.to;
        let kind = m.kind;
        let p = self.peers.get_mut(&to).expect("peer checked above");
        if p.enqueue(Queued { kind, payload: m.payload }).is_err() {
            return self.dropped(to, kind);
        }
        self.pump_pipeline(env, to);
    }

    fn dropped(&mut self, to: MemberId, kind: MessageKind) {
        self.stats.messages_dropped += 1;
        self.events.push_back(TransportEvent::Unreachable { to });
        if kind == MessageKind::Snapshot {
            self.events.push_back(TransportEvent::SnapshotStatus { to, delivered: false });
        }
    }

    fn header(&self, kind: FrameKind, to: MemberId) -> Header {
        Header { kind, cluster: self.cfg.cluster, from: self.cfg.local, to }
    }

    fn frame(&self, kind: FrameKind, to: MemberId, payload: &[u8]) -> Vec<u8> {
        frame::encode_parts(&self.header(kind, to), payload)
    }

    fn pump_pipeline<R>(&mut self, env: &mut Env<'_, R>, id: MemberId) {
        loop {
            let Some(p) = self.peers.get_mut(&id) else { return };
            if p.in_flight >= self.cfg.pipeline_conns {
                return;
            }
            let Some(q) = p.queue.pop_front() else { return };
            let addr = p.addr.clone();
            let payload =
                frame::encode_pipeline_payload(self.cfg.listen.as_str(), q.payload.as_slice());
            let bytes = self.frame(FrameKind::Message(q.kind), id, &payload);
            self.stats.pipeline_dials += 1;
            match env.net().dial(&addr) {
                Ok(conn) => {
                    let p = self.peers.get_mut(&id).expect("peer present");
                    p.in_flight += 1;
                    self.conns.insert(
                        conn,
                        Conn::Pipeline { peer: id, kind: q.kind, frame: Some(bytes) },
                    );
                }
                Err(_) => self.dropped(id, q.kind),
            }
        }
    }

    /// Dials both of `id`'s streams, once started (a remote has none).
    fn dial_streams<R>(&mut self, env: &mut Env<'_, R>, id: MemberId) {
        if self.started {
            for s in STREAM_TYPES {
                self.dial_stream(env, id, s);
            }
        }
    }

    fn dial_stream<R>(&mut self, env: &mut Env<'_, R>, id: MemberId, s: StreamType) {
        let Some(p) = self.peers.get_mut(&id) else { return };
        if p.remote || p.readers[slot(s)].is_some() {
            return;
        }
        if let Some(t) = p.redial[slot(s)].take() {
            env.cancel_timer(t);
            self.timers.remove(&t);
        }
        let addr = p.addr.clone();
        self.stats.stream_dials += 1;
        trace(env, "net.dial", || format!("{id} {s:?}"));
        match env.net().dial(&addr) {
            Ok(conn) => {
                let p = self.peers.get_mut(&id).expect("peer present");
                p.readers[slot(s)] = Some(Reader { conn, accepted: false });
                self.conns.insert(conn, Conn::Reader { peer: id, stream: s });
            }
            Err(_) => self.schedule_redial(env, id, s),
        }
    }

    fn schedule_redial<R>(&mut self, env: &mut Env<'_, R>, id: MemberId, s: StreamType) {
        let Some(p) = self.peers.get_mut(&id) else { return };
        if p.redial[slot(s)].is_some() || p.readers[slot(s)].is_some() {
            return;
        }
        let t = env.set_timer(self.cfg.redial_after, TIMER_TAG);
        p.redial[slot(s)] = Some(t);
        self.timers.insert(t, (id, s));
    }

    /// Handles a timer; returns false if it is not one of the transport's.
    pub fn on_timer<R>(&mut self, env: &mut Env<'_, R>, id: TimerId, tag: u64) -> bool {
        if tag != TIMER_TAG {
            return false;
        }
        let Some((peer, s)) = self.timers.remove(&id) else { return true };
        if let Some(p) = self.peers.get_mut(&peer) {
            if p.redial[slot(s)] == Some(id) {
                p.redial[slot(s)] = None;
            }
        }
        self.dial_stream(env, peer, s);
        true
    }

    /// Handles a network event; returns false if it concerns a connection or address that is
    /// not the transport's (the owner may serve clients on the same Net).
    pub fn on_net<R>(&mut self, env: &mut Env<'_, R>, event: NetEvent) -> bool {
        match event {
            NetEvent::Accepted { conn, local } => {
                if local != self.cfg.listen {
                    return false;
                }
                self.conns.insert(conn, Conn::Inbound);
            }
            NetEvent::Connected { conn } => {
                let Some(c) = self.conns.get_mut(&conn) else { return false };
                match c {
                    Conn::Reader { peer, stream } => {
                        let (peer, stream) = (*peer, *stream);
                        let hello = self.frame(FrameKind::Hello(stream), peer, &[]);
                        if env.net().send(conn, hello).is_err() {
                            self.conn_lost(env, conn);
                        }
                    }
                    Conn::Pipeline { frame, .. } => {
                        let bytes = frame.take().unwrap_or_default();
                        if env.net().send(conn, bytes).is_err() {
                            self.conn_lost(env, conn);
                        }
                    }
                    Conn::Writer { .. } | Conn::Inbound => {}
                }
            }
            NetEvent::DialFailed { conn, .. } => {
                if !self.conns.contains_key(&conn) {
                    return false;
                }
                self.conn_lost(env, conn);
            }
            NetEvent::Closed { conn, .. } => {
                if !self.conns.contains_key(&conn) {
                    return false;
                }
                self.conn_lost(env, conn);
            }
            NetEvent::Frame { conn, data } => {
                if !self.conns.contains_key(&conn) {
                    return false;
                }
                self.on_frame(env, conn, data);
            }
        }
        true
    }

    fn on_frame<R>(&mut self, env: &mut Env<'_, R>, conn: ConnId, data: Vec<u8>) {
        let role = self.conns.get(&conn).cloned().expect("caller checked the connection");
        let (h, body_at) = match frame::decode_parts(&data) {
            Ok((h, payload)) => (h, data.len() - payload.len()),
            Err(error) => {
                self.stats.bad_frames += 1;
                self.events.push_back(TransportEvent::BadFrame { peer: conn_peer(&role), error });
                env.net().close(conn);
                return self.conn_lost(env, conn);
            }
        };
        let ours_to_check = matches!(
            (&role, h.kind),
            (Conn::Reader { .. }, FrameKind::Accepted | FrameKind::Message(_))
                | (Conn::Pipeline { .. }, FrameKind::Ack)
        );
        if ours_to_check {
            if let Err(r) = self.check(&h, Senders::PeersAndRemotes) {
                self.refuse(env, r);
                env.net().close(conn);
                return self.conn_lost(env, conn);
            }
        }
        match (role, h.kind) {
            (Conn::Inbound, FrameKind::Hello(stream)) => self.on_hello(env, conn, &h, stream),
            (Conn::Inbound, FrameKind::Message(kind)) => {
                self.on_pipeline_message(env, conn, &h, kind, data, body_at)
            }
            (Conn::Reader { peer, stream }, FrameKind::Accepted) => {
                if let Some(r) =
                    self.peers.get_mut(&peer).and_then(|p| p.readers[slot(stream)].as_mut())
                {
                    r.accepted = true;
                }
                trace(env, "net.stream_up", || format!("{peer} {stream:?} reader"));
                self.refresh(env, peer);
            }
            (Conn::Reader { .. }, FrameKind::Message(kind)) => {
                self.deliver(env, &h, kind, tail(data, body_at))
            }
            (Conn::Reader { peer, .. } | Conn::Pipeline { peer, .. }, FrameKind::Refused) => {
                let code = RefusalCode::from_payload(&data[body_at..]);
                let r = match code {
                    RefusalCode::ClusterIdMismatch => Refusal::ClusterIdMismatch {
                        local: self.cfg.cluster,
                        remote: h.cluster,
                        remote_member: h.from,
                    },
                    reason => Refusal::RefusedByPeer { peer, reason },
                };
                self.refuse(env, r);
                env.net().close(conn);
                self.conn_lost(env, conn);
            }
            (Conn::Pipeline { peer, kind, .. }, FrameKind::Ack) => {
                self.conns.remove(&conn);
                env.net().close(conn);
                if kind == MessageKind::Snapshot {
                    self.events
                        .push_back(TransportEvent::SnapshotStatus { to: peer, delivered: true });
                }
                self.stats.messages_sent_pipeline += 1;
                self.pipeline_done(env, peer);
            }
            (role, kind) => {
                // A frame that makes no sense on this connection: a protocol error.
                self.stats.bad_frames += 1;
                self.events.push_back(TransportEvent::BadFrame {
                    peer: conn_peer(&role),
                    error: FrameError::UnknownKind { code: kind.code() },
                });
                env.net().close(conn);
                self.conn_lost(env, conn);
            }
        }
    }

    fn check(&self, h: &Header, senders: Senders) -> Result<(), Refusal> {
        let known = |m: MemberId| match senders {
            Senders::Peers => self.peers.get(&m).is_some_and(|p| !p.remote),
            Senders::PeersAndRemotes => self.peers.contains_key(&m),
            Senders::AnyNotRemoved => true,
        };
        let removed = |m: MemberId| self.removed.contains(&m);
        let me = LocalIdentity {
            cluster: self.cfg.cluster,
            member: self.cfg.local,
            is_known: &known,
            is_removed: &removed,
        };
        check_identity(h, &me)
    }

    /// Checks an incoming hello or pipeline frame; on refusal answers `Refused`, closes, and
    /// reports. Returns whether it passed.
    fn admit<R>(
        &mut self,
        env: &mut Env<'_, R>,
        conn: ConnId,
        h: &Header,
        senders: Senders,
    ) -> bool {
        let Err(r) = self.check(h, senders) else { return true };
        let code = r.code().expect("local checks always carry a code");
        let answer = self.frame(FrameKind::Refused, h.from, &[code.to_byte()]);
        let _ = env.net().send(conn, answer);
        self.conns.remove(&conn);
        env.net().close(conn);
        self.refuse(env, r);
        false
    }

    fn on_hello<R>(&mut self, env: &mut Env<'_, R>, conn: ConnId, h: &Header, s: StreamType) {
        if !self.admit(env, conn, h, Senders::Peers) {
            return;
        }
        let peer = self.peers.get_mut(&h.from).expect("admitted senders are known");
        if let Some(old) = peer.writers[slot(s)].replace(conn) {
            self.conns.remove(&old);
            env.net().close(old);
        }
        self.conns.insert(conn, Conn::Writer { peer: h.from, stream: s });
        trace(env, "net.stream_up", || format!("{} {s:?} writer", h.from));
        let ok = self.frame(FrameKind::Accepted, h.from, &[]);
        if env.net().send(conn, ok).is_err() {
            return self.conn_lost(env, conn);
        }
        self.refresh(env, h.from);
    }

    fn on_pipeline_message<R>(
        &mut self,
        env: &mut Env<'_, R>,
        conn: ConnId,
        h: &Header,
        kind: MessageKind,
        data: Vec<u8>,
        body_at: usize,
    ) {
        let admitted = self.admit(env, conn, h, Senders::AnyNotRemoved);
        if !admitted && !sim::planted::active(&planted::REFUSED_PIPELINE_DELIVERED) {
            return;
        }
        let (addr, message_at) = match frame::decode_pipeline_payload(&data[body_at..]) {
            Ok((addr, message)) => (addr, data.len() - message.len()),
            Err(error) => {
                self.stats.bad_frames += 1;
                self.events.push_back(TransportEvent::BadFrame { peer: Some(h.from), error });
                self.conns.remove(&conn);
                return env.net().close(conn);
            }
        };
        self.learn_remote(env, h.from, addr);
        self.deliver(env, h, kind, tail(data, message_at));
        let ack = self.frame(FrameKind::Ack, h.from, &[]);
        let _ = env.net().send(conn, ack);
        self.conns.remove(&conn);
        env.net().close(conn);
    }

    /// Makes an unknown pipeline sender a remote at `addr` (or moves a remote to a new `addr`).
    fn learn_remote<R>(&mut self, env: &mut Env<'_, R>, from: MemberId, addr: &str) {
        match self.peers.get_mut(&from) {
            Some(p) if p.remote && p.addr.as_str() != addr => p.addr = Addr::new(addr),
            Some(_) => {}
            None => {
                trace(env, "net.remote_added", || format!("{from} at {addr}"));
                let mut p = Peer::new(from, Addr::new(addr), self.cfg.pipeline_queue, env.now());
                p.remote = true;
                self.peers.insert(from, p);
            }
        }
    }

    /// Hands a message that passed the identity checks to the owner; `h` is its frame's header.
    fn deliver<R>(&mut self, env: &Env<'_, R>, h: &Header, kind: MessageKind, payload: Vec<u8>) {
        self.stats.messages_received += 1;
        if h.cluster != self.cfg.cluster {
            self.stats.foreign_deliveries += 1;
            let d = ForeignDelivery { from: h.from, cluster: h.cluster, at: env.now() };
            self.stats.first_foreign_delivery.get_or_insert(d);
        }
        self.events.push_back(TransportEvent::Received { from: h.from, kind, payload });
    }

    /// Counts a refusal, reports it, and logs it within the rate limit.
    fn refuse<R>(&mut self, env: &mut Env<'_, R>, r: Refusal) {
        match &r {
            Refusal::ClusterIdMismatch { .. } => self.stats.cluster_id_mismatch += 1,
            Refusal::WrongRecipient { .. } => self.stats.wrong_recipient += 1,
            Refusal::UnknownSender { .. } => self.stats.unknown_sender += 1,
            Refusal::RemovedMember { .. } => self.stats.removed_member += 1,
            Refusal::RefusedByPeer { .. } => self.stats.refused_by_peer += 1,
        }
        *self.stats.refusals_by_peer.entry(r.peer()).or_default() += 1;
        match self.limiter.admit(env.now(), &r) {
            Some(line) => {
                env.trace("net.refused", &line.text);
                self.stats.log_lines += 1;
                if self.log.len() == LOG_KEEP {
                    self.log.pop_front();
                }
                self.log.push_back(line);
            }
            None => self.stats.log_suppressed += 1,
        }
        self.events.push_back(TransportEvent::Refused(r));
    }

    /// A connection of ours is gone (closed, reset, dial failed, or we gave up on it).
    fn conn_lost<R>(&mut self, env: &mut Env<'_, R>, conn: ConnId) {
        let Some(role) = self.conns.remove(&conn) else { return };
        match role {
            Conn::Reader { peer, stream } => {
                let Some(p) = self.peers.get_mut(&peer) else { return };
                if p.readers[slot(stream)].map(|r| r.conn) == Some(conn) {
                    p.readers[slot(stream)] = None;
                }
                trace(env, "net.stream_down", || format!("{peer} {stream:?} reader"));
                self.refresh(env, peer);
                self.schedule_redial(env, peer, stream);
            }
            Conn::Writer { peer, stream } => {
                let Some(p) = self.peers.get_mut(&peer) else { return };
                if p.writers[slot(stream)] == Some(conn) {
                    p.writers[slot(stream)] = None;
                }
                trace(env, "net.stream_down", || format!("{peer} {stream:?} writer"));
                self.refresh(env, peer);
            }
            Conn::Pipeline { peer, kind, .. } => {
                self.dropped(peer, kind);
                self.pipeline_done(env, peer);
            }
            Conn::Inbound => {}
        }
    }

    fn pipeline_done<R>(&mut self, env: &mut Env<'_, R>, peer: MemberId) {
        if let Some(p) = self.peers.get_mut(&peer) {
            p.in_flight = p.in_flight.saturating_sub(1);
        }
        self.pump_pipeline(env, peer);
    }

    fn refresh<R>(&mut self, env: &mut Env<'_, R>, id: MemberId) {
        let now = env.now();
        let Some(p) = self.peers.get_mut(&id) else { return };
        if let Some(status) = p.refresh_status(now) {
            self.events.push_back(TransportEvent::PeerStatus { member: id, status });
        }
    }
}

/// Which senders an identity check accepts (besides the cluster, removal and recipient checks).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Senders {
    /// Members we were told about: stream hellos.
    Peers,
    /// Members and remotes: frames on connections we dialled.
    PeersAndRemotes,
    /// Anyone not removed: pipeline messages (module docs).
    AnyNotRemoved,
}

/// Records a trace event, building its detail only when tracing is on.
fn trace<R>(env: &mut Env<'_, R>, kind: &str, detail: impl FnOnce() -> String) {
    if env.tracing() {
        let d = detail();
        env.trace(kind, &d);
    }
}

/// The bytes of `frame` from `at` on, in the frame's own allocation (a received message is
/// handed on without copying it into a new one).
fn tail(mut frame: Vec<u8>, at: usize) -> Vec<u8> {
    frame.drain(..at);
    frame
}

fn conn_peer(c: &Conn) -> Option<MemberId> {
    match c {
        Conn::Reader { peer, .. } | Conn::Writer { peer, .. } | Conn::Pipeline { peer, .. } => {
            Some(*peer)
        }
        Conn::Inbound => None,
    }
}
