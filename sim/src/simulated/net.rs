//! SimNet: a connection-oriented simulated network.
//!
//! Model. A connection joins two *ends*, one per node, each named `(node, ConnId)`. Everything a
//! node will learn about one of its ends (connected, accepted, frames, closed, dial failed) is an
//! *item* in that end's FIFO queue, stamped with a delivery time. Delivery times on one end never
//! decrease, so per-connection order holds whatever the jitter. The world is told about each item
//! through a [`Wake`] (drained with [`SimNet::drain_wakes`]) and calls [`SimNet::deliver`] when it
//! is due; only the item at the front of the queue is ever delivered, so order holds even when
//! the world defers an event (a paused or busy node).
//!
//! Addresses are `host:port` where the host of node `NodeId(i)` is `n<i>` (`n3:2380`). A dial to
//! an address nobody listens on is refused (after a round trip) if that host's node is up, and
//! times out (after the dial timeout) if it is down, unknown or partitioned away. A node may send
//! on a connection it dialled before `Connected` arrives; the frames follow the accept in order.
//!
//! Faults:
//! - latency and jitter per directed link ([`LinkConfig`], drawn from the seeded `"net"` stream);
//! - partitions (symmetric, one-way, isolate): blocked directed pairs. Creating a partition resets
//!   every connection between the two sides at once (in-flight frames dropped, each side sees
//!   `Closed{Reset}`, or `DialFailed{Timeout}` for a dial still in progress); a dial across a
//!   partition fails with `Timeout` after the dial timeout. [`SimNet::heal`] removes them all.
//! - clogging: items that fall due on a clogged link are held in order and released, still in
//!   order, on [`SimNet::unclog`]. Resets are never held.
//! - crash: see below. A stopped node's connections are closed cleanly (`Closed{PeerClosed}`
//!   after the frames already in flight).
//!
//! What a crash does to frames in flight. Bytes on the wire do not vanish when their sender dies:
//! a frame is *sent* once [`Net::send`] has returned (it is then an item in the peer end's
//! queue), and [`SimNet::crash_node`] does not recall it. So when node X crashes:
//! - everything X already sent is still delivered to each peer, in order, at its original
//!   delivery time, and only then does the peer see `Closed{Reset}` (at the crash instant, or
//!   right after the last of those frames if that is later). The same holds for the
//!   `Connected`/`Accepted` news already on its way to a peer: the peer learns of the connection,
//!   gets its frames, then the reset. A clog holds such a reset behind the frames it holds.
//! - everything in flight *to* X is dropped with X's memory, and X's listeners are gone;
//! - what X had not sent yet is lost. A node that crashes inside a handler (its disk failed
//!   with `Crashed` at the k-th operation, see the world) is dead from that operation on: the
//!   world hands it an endpoint gated on its liveness ([`SimNet::endpoint_while`]), so a frame
//!   sent after the failed operation in the same handler is dropped, not delivered.
//!
//! Partitions are different: a partition breaks the path itself, so its resets drop whatever is
//! in flight in both directions (as above), including frames a crashed node left in flight.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use rand::RngCore as _;

use crate::env::NodeId;
use crate::io::net::MAX_FRAME;
use crate::io::{Addr, CloseReason, ConnId, DialError, Net, NetError, NetEvent};
use crate::seed::{splitmix64, Rng};
use crate::time::{Duration, Instant};

/// Latency of one directed link: each item takes `latency + uniform(0..=jitter)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkConfig {
    pub latency: Duration,
    pub jitter: Duration,
}

/// Network-wide defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetConfig {
    /// Default for every link without its own [`LinkConfig`].
    pub link: LinkConfig,
    /// How long a dial that gets no answer takes to fail with `Timeout`.
    pub dial_timeout: Duration,
}

impl Default for NetConfig {
    fn default() -> NetConfig {
        NetConfig {
            link: LinkConfig {
                latency: Duration::from_micros(500),
                jitter: Duration::from_micros(200),
            },
            dial_timeout: Duration::from_secs(1),
        }
    }
}

/// Counters for benchmarks and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetStats {
    pub frames_sent: u64,
    pub frames_delivered: u64,
    /// Frames sent on a connection already broken, or dropped in flight by a reset or close.
    pub frames_dropped: u64,
    pub connections: u64,
    pub resets: u64,
    pub dials_failed: u64,
}

/// A request from the network to the world: "call [`SimNet::deliver`] for this at `at`".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Wake {
    pub at: Instant,
    pub node: NodeId,
    pub conn: ConnId,
    pub seq: u64,
}

#[derive(Debug)]
enum ItemKind {
    Connected,
    /// Boxed: accepts are rare, and a 24-byte address beside the frame's vector would make
    /// every item 16 bytes larger.
    Accepted {
        local: Box<Addr>,
    },
    Frame(Vec<u8>),
    Closed(CloseReason),
    DialFailed(DialError),
}

/// One queued item: 32 bytes, so that queueing and delivering a frame moves two 16-byte words.
#[derive(Debug)]
struct Item {
    /// The item's sequence number on its end in the low 63 bits; in the top bit ([`DUE`]),
    /// whether its wake came but it could not be delivered yet (clogged, or not at the front).
    tag: u64,
    kind: ItemKind,
}

/// The "due" bit of [`Item::tag`]. Sequence numbers count items of one end and stay far below.
const DUE: u64 = 1 << 63;

impl Item {
    fn seq(&self) -> u64 {
        self.tag & !DUE
    }

    fn due(&self) -> bool {
        self.tag & DUE != 0
    }

    fn set_due(&mut self, due: bool) {
        self.tag = self.seq() | if due { DUE } else { 0 };
    }

    /// Resets and dial failures are not held by clogging.
    fn holdable(&self) -> bool {
        !matches!(self.kind, ItemKind::Closed(CloseReason::Reset) | ItemKind::DialFailed(_))
    }
}

#[derive(Debug)]
struct End {
    /// The node at the other end (this node itself for a dial that never reached anyone).
    remote: NodeId,
    /// The other end while the connection carries data; `None` once broken or closing.
    peer: Option<(NodeId, ConnId)>,
    /// This end was created by `dial` (else by an accept).
    dialer: bool,
    /// `Connected`/`Accepted` has been delivered to the node.
    announced: bool,
    dialed_at: Instant,
    queue: VecDeque<Item>,
    next_seq: u64,
    /// Delivery time of the last item queued (items never overtake each other).
    last_at: Instant,
}

/// Every open end, by node and then connection id: a vector indexed by node id holding each
/// node's ends sorted by connection id (ids are issued in increasing order, so a new end is
/// appended). A lookup is an index plus a binary search over one node's few connections.
/// Iteration runs in (node, conn) order, like the ordered map it replaces.
#[derive(Debug, Default)]
struct EndTable {
    nodes: Vec<Vec<(ConnId, End)>>,
}

/// Where `conn` sits in one node's ends (sorted by connection id). A node has a handful of
/// connections, so a short list is scanned (fewer instructions than a binary search, whose
/// generic loop costs more than it saves below a dozen entries); a long one is bisected.
#[inline]
fn position(ends: &[(ConnId, End)], conn: ConnId) -> Option<usize> {
    if ends.len() <= 8 {
        ends.iter().position(|(c, _)| *c == conn)
    } else {
        ends.binary_search_by_key(&conn, |(c, _)| *c).ok()
    }
}

/// Node ids index [`EndTable`] directly; they are small in every world we build.
const MAX_NODE_ID: u32 = 1 << 16;

impl EndTable {
    fn of(&self, node: NodeId) -> &[(ConnId, End)] {
        self.nodes.get(node.0 as usize).map_or(&[], |v| v.as_slice())
    }

    fn get(&self, key: &(NodeId, ConnId)) -> Option<&End> {
        let ends = self.of(key.0);
        let i = position(ends, key.1)?;
        Some(&ends[i].1)
    }

    fn get_mut(&mut self, key: &(NodeId, ConnId)) -> Option<&mut End> {
        let ends = self.nodes.get_mut(key.0 .0 as usize)?;
        let i = position(ends, key.1)?;
        Some(&mut ends[i].1)
    }

    fn remove(&mut self, key: &(NodeId, ConnId)) -> Option<End> {
        let ends = self.nodes.get_mut(key.0 .0 as usize)?;
        let i = position(ends, key.1)?;
        Some(ends.remove(i).1)
    }

    fn insert(&mut self, key: (NodeId, ConnId), end: End) {
        let (node, conn) = key;
        assert!(node.0 < MAX_NODE_ID, "SimNet: node id {} is not below {MAX_NODE_ID}", node.0);
        let n = node.0 as usize;
        if self.nodes.len() <= n {
            self.nodes.resize_with(n + 1, Vec::new);
        }
        let ends = &mut self.nodes[n];
        match ends.binary_search_by_key(&conn, |(c, _)| *c) {
            Ok(_) => panic!("SimNet: end {conn:?} of node {node} inserted twice"),
            Err(i) => ends.insert(i, (conn, end)),
        }
    }

    /// The connection ids of `node`'s ends, in increasing order.
    fn conns(&self, node: NodeId) -> impl Iterator<Item = ConnId> + '_ {
        self.of(node).iter().map(|(c, _)| *c)
    }

    /// Every end in (node, conn) order.
    fn iter_mut(&mut self) -> impl Iterator<Item = ((NodeId, ConnId), &mut End)> {
        self.nodes
            .iter_mut()
            .enumerate()
            .flat_map(|(n, ends)| ends.iter_mut().map(move |(c, e)| ((NodeId(n as u32), *c), e)))
    }
}

/// The simulated network shared by all nodes of a world.
pub struct SimNet {
    config: NetConfig,
    /// SplitMix64 state for jitter, seeded from the `"net"` stream (see [`SimNet::new`]).
    jitter: u64,
    now: Instant,
    nodes: BTreeSet<NodeId>,
    up: BTreeSet<NodeId>,
    listeners: BTreeMap<Addr, NodeId>,
    ends: EndTable,
    next_conn: BTreeMap<NodeId, u64>,
    links: BTreeMap<(NodeId, NodeId), LinkConfig>,
    blocked: BTreeSet<(NodeId, NodeId)>,
    clogged: BTreeSet<(NodeId, NodeId)>,
    wakes: Vec<Wake>,
    stats: NetStats,
    /// Sees every frame a live process sends, at the moment it sends it (see [`SimNet::tap`]).
    tap: Option<SendTap>,
}

/// What [`SimNet::tap`] installs.
pub type SendTap = Box<dyn FnMut(Sent<'_>)>;

/// A frame as a live process hands it to the network, shown to the [`SimNet::tap`].
#[derive(Clone, Copy, Debug)]
pub struct Sent<'a> {
    pub from: NodeId,
    /// The node at the other end of the connection (the frame may still be lost on the way).
    pub to: NodeId,
    pub at: Instant,
    pub frame: &'a [u8],
}

impl SimNet {
    /// A network with `config`, drawing jitter from `rng` (the run's `"net"` stream): one word
    /// of it seeds a SplitMix64 sequence, since every item sent draws a jitter and a ChaCha
    /// draw per frame was a measurable share of the simulator's time.
    pub fn new(mut rng: Rng, config: NetConfig) -> SimNet {
        let jitter = rng.next_u64();
        SimNet {
            config,
            jitter,
            now: Instant::ZERO,
            nodes: BTreeSet::new(),
            up: BTreeSet::new(),
            listeners: BTreeMap::new(),
            ends: EndTable::default(),
            next_conn: BTreeMap::new(),
            links: BTreeMap::new(),
            blocked: BTreeSet::new(),
            clogged: BTreeSet::new(),
            wakes: Vec::new(),
            stats: NetStats::default(),
            tap: None,
        }
    }

    /// Installs `tap`, called with every frame a live process sends, synchronously inside the
    /// send (so inside the sender's handler, before anything it does afterwards): oracles use it
    /// to judge a message against the sender's state at the very moment it left. The tap only
    /// observes; it cannot change delivery, and a run with a tap has the same trace hash.
    /// Frames of a process that died earlier in its handler never reach it.
    pub fn tap(&mut self, tap: SendTap) {
        self.tap = Some(tap);
    }

    /// The current global time (the world keeps it up to date).
    pub fn set_now(&mut self, now: Instant) {
        assert!(now >= self.now, "net time went backwards: {:?} -> {:?}", self.now, now);
        self.now = now;
    }

    pub fn now(&self) -> Instant {
        self.now
    }

    pub fn config(&self) -> NetConfig {
        self.config
    }

    pub fn stats(&self) -> NetStats {
        self.stats
    }

    /// Registers a node (for `isolate` and host-name resolution).
    pub fn add_node(&mut self, node: NodeId) {
        self.nodes.insert(node);
    }

    /// The node's process is running: dials to its host are refused rather than timed out.
    pub fn node_up(&mut self, node: NodeId) {
        self.add_node(node);
        self.up.insert(node);
    }

    /// The node crashed: listeners gone, its ends (and what was in flight to them) gone; every
    /// peer still receives what the node already sent, in order, then `Closed{Reset}` (see the
    /// module docs).
    pub fn crash_node(&mut self, node: NodeId) {
        self.node_down(node, CloseReason::Reset);
    }

    /// The node stopped cleanly: peers see `Closed{PeerClosed}` after frames in flight.
    pub fn stop_node(&mut self, node: NodeId) {
        self.node_down(node, CloseReason::PeerClosed);
    }

    fn node_down(&mut self, node: NodeId, reason: CloseReason) {
        self.up.remove(&node);
        self.listeners.retain(|_, n| *n != node);
        let conns: Vec<ConnId> = self.ends.conns(node).collect();
        for conn in conns {
            let Some(end) = self.ends.remove(&(node, conn)) else { continue };
            self.stats.frames_dropped += frames_in(&end.queue);
            if let Some(peer) = end.peer {
                match reason {
                    CloseReason::Reset => self.reset_after_in_flight(peer),
                    CloseReason::PeerClosed => self.close_peer(node, peer),
                }
            }
        }
    }

    /// Sets the latency of both directions between `a` and `b`.
    pub fn set_link(&mut self, a: NodeId, b: NodeId, link: LinkConfig) {
        self.links.insert((a, b), link);
        self.links.insert((b, a), link);
    }

    /// The latency of the directed link `from -> to`.
    pub fn link(&self, from: NodeId, to: NodeId) -> LinkConfig {
        if self.links.is_empty() {
            return self.config.link;
        }
        self.links.get(&(from, to)).copied().unwrap_or(self.config.link)
    }

    /// Blocks both directions between `a` and `b` and resets their connections.
    pub fn partition(&mut self, a: NodeId, b: NodeId) {
        self.blocked.insert((a, b));
        self.blocked.insert((b, a));
        self.reset_between(a, b);
    }

    /// Blocks `from -> to` only. Connections between them are reset (a TCP connection cannot
    /// survive losing one direction); new dials either way time out.
    pub fn partition_one_way(&mut self, from: NodeId, to: NodeId) {
        self.blocked.insert((from, to));
        self.reset_between(from, to);
    }

    /// Partitions `node` from every other registered node.
    pub fn isolate(&mut self, node: NodeId) {
        let others: Vec<NodeId> = self.nodes.iter().copied().filter(|n| *n != node).collect();
        for other in others {
            self.partition(node, other);
        }
    }

    /// Removes every partition. Broken connections stay broken; new dials succeed.
    pub fn heal(&mut self) {
        self.blocked.clear();
    }

    /// Whether `from -> to` is blocked by a partition.
    pub fn is_blocked(&self, from: NodeId, to: NodeId) -> bool {
        self.blocked.contains(&(from, to))
    }

    /// Holds everything falling due between `a` and `b` (both directions) until `unclog`.
    pub fn clog(&mut self, a: NodeId, b: NodeId) {
        self.clogged.insert((a, b));
        self.clogged.insert((b, a));
    }

    /// Releases what `clog` held, in order, starting now.
    pub fn unclog(&mut self, a: NodeId, b: NodeId) {
        self.clogged.remove(&(a, b));
        self.clogged.remove(&(b, a));
        let now = self.now;
        for ((node, conn), end) in self.ends.iter_mut() {
            let between = (node == a && end.remote == b) || (node == b && end.remote == a);
            if let (true, Some(front)) = (between, end.queue.front_mut()) {
                if front.due() {
                    front.set_due(false);
                    self.wakes.push(Wake { at: now, node, conn, seq: front.seq() });
                }
            }
        }
    }

    /// Whether `from -> to` is clogged.
    pub fn is_clogged(&self, from: NodeId, to: NodeId) -> bool {
        self.clogged.contains(&(from, to))
    }

    /// Number of open ends (connections counted once per side), for tests.
    pub fn open_ends(&self, node: NodeId) -> usize {
        self.ends.conns(node).count()
    }

    /// Wakes produced since the last drain; the world queues each as an event.
    pub fn drain_wakes(&mut self) -> std::vec::Drain<'_, Wake> {
        self.wakes.drain(..)
    }

    /// Whether wakes are waiting to be drained.
    pub fn has_wakes(&self) -> bool {
        !self.wakes.is_empty()
    }

    /// A wake fell due: the event to hand to `node`, or `None` if the item is gone (reset,
    /// closed), held (clogged) or must wait for an earlier item of the same connection.
    pub fn deliver(&mut self, wake: Wake) -> Option<NetEvent> {
        let key = (wake.node, wake.conn);
        let end = self.ends.get_mut(&key)?;
        let clogged = !self.clogged.is_empty() && self.clogged.contains(&(end.remote, wake.node));
        let pos = match end.queue.front() {
            Some(front) if front.seq() == wake.seq => 0,
            _ => end.queue.iter().position(|i| i.seq() == wake.seq)?,
        };
        let item = &mut end.queue[pos];
        if pos != 0 || (clogged && item.holdable()) {
            item.set_due(true);
            return None;
        }
        let item = end.queue.pop_front().expect("front exists");
        if let Some(next) = end.queue.front_mut() {
            if next.due() {
                next.set_due(false);
                let seq = next.seq();
                self.wakes.push(Wake { at: self.now, node: wake.node, conn: wake.conn, seq });
            }
        }
        let conn = wake.conn;
        Some(match item.kind {
            ItemKind::Connected => {
                end.announced = true;
                NetEvent::Connected { conn }
            }
            ItemKind::Accepted { local } => {
                end.announced = true;
                NetEvent::Accepted { conn, local: *local }
            }
            ItemKind::Frame(data) => {
                self.stats.frames_delivered += 1;
                NetEvent::Frame { conn, data }
            }
            ItemKind::Closed(reason) => {
                self.ends.remove(&key);
                NetEvent::Closed { conn, reason }
            }
            ItemKind::DialFailed(error) => {
                self.ends.remove(&key);
                self.stats.dials_failed += 1;
                NetEvent::DialFailed { conn, error }
            }
        })
    }

    /// `node`'s endpoint, implementing the [`Net`] seam.
    pub fn endpoint(&mut self, node: NodeId) -> Endpoint<'_> {
        Endpoint { net: self, node, alive: None }
    }

    /// `node`'s endpoint for a process that may die while using it: once `alive()` returns
    /// false, the process is dead and nothing it does reaches the network — sends are dropped
    /// (counted in `frames_dropped`), dials go nowhere, listens and closes are ignored. The
    /// world gates each handler on its node's disk not having crashed, and crashes the node
    /// ([`SimNet::crash_node`]) when the handler returns.
    pub fn endpoint_while<'a>(
        &'a mut self,
        node: NodeId,
        alive: &'a dyn Fn() -> bool,
    ) -> Endpoint<'a> {
        Endpoint { net: self, node, alive: Some(alive) }
    }

    fn fresh_conn(&mut self, node: NodeId) -> ConnId {
        let next = self.next_conn.entry(node).or_insert(1);
        let id = ConnId(*next);
        *next += 1;
        id
    }

    fn new_end(&mut self, node: NodeId, remote: NodeId, dialer: bool) -> ConnId {
        let conn = self.fresh_conn(node);
        let end = End {
            remote,
            peer: None,
            dialer,
            announced: false,
            dialed_at: self.now,
            queue: VecDeque::new(),
            next_seq: 0,
            last_at: self.now,
        };
        self.ends.insert((node, conn), end);
        conn
    }

    /// Queues `kind` on the end `(node, conn)` to arrive no earlier than `earliest`, after every
    /// item already queued there.
    fn push(&mut self, node: NodeId, conn: ConnId, earliest: Instant, kind: ItemKind) {
        let end = self.ends.get_mut(&(node, conn)).expect("push to a live end");
        let at = earliest.max(end.last_at);
        end.last_at = at;
        let seq = end.next_seq;
        end.next_seq += 1;
        assert!(seq < DUE, "SimNet: end ({node}, {conn:?}) queued {seq} items");
        end.queue.push_back(Item { tag: seq, kind });
        self.wakes.push(Wake { at, node, conn, seq });
    }

    /// When something sent now from `from` arrives at `to` (before per-end ordering).
    fn arrival(&mut self, from: NodeId, to: NodeId, sent: Instant) -> Instant {
        let link = self.link(from, to);
        let jitter = if link.jitter.as_nanos() == 0 {
            0
        } else {
            uniform_inclusive(splitmix64(&mut self.jitter), link.jitter.as_nanos())
        };
        // Saturating: latencies come from fault plans, which may be written by hand.
        Instant(sent.as_nanos().saturating_add(link.latency.as_nanos()).saturating_add(jitter))
    }

    fn host_of(addr: &Addr) -> Option<NodeId> {
        let (host, _) = addr.as_str().rsplit_once(':')?;
        host.strip_prefix('n')?.parse().ok().map(NodeId)
    }

    fn can_talk(&self, a: NodeId, b: NodeId) -> bool {
        !self.blocked.contains(&(a, b)) && !self.blocked.contains(&(b, a))
    }

    fn dial_from(&mut self, node: NodeId, addr: &Addr) -> Result<ConnId, NetError> {
        if addr.as_str().rsplit_once(':').is_none() {
            return Err(NetError::BadAddr {
                addr: addr.clone(),
                detail: "expected host:port".into(),
            });
        }
        let now = self.now;
        let timeout_at = now + self.config.dial_timeout;
        let Some(&target) = self.listeners.get(addr) else {
            let host = Self::host_of(addr);
            let conn = self.new_end(node, host.unwrap_or(node), true);
            match host {
                Some(h) if self.up.contains(&h) && self.can_talk(node, h) => {
                    let there = self.arrival(node, h, now);
                    let back = self.arrival(h, node, there);
                    self.push(node, conn, back, ItemKind::DialFailed(DialError::Refused));
                }
                _ => self.push(node, conn, timeout_at, ItemKind::DialFailed(DialError::Timeout)),
            }
            return Ok(conn);
        };
        let conn = self.new_end(node, target, true);
        if !self.can_talk(node, target) {
            self.push(node, conn, timeout_at, ItemKind::DialFailed(DialError::Timeout));
            return Ok(conn);
        }
        let remote = self.new_end(target, node, false);
        self.ends.get_mut(&(node, conn)).expect("just made").peer = Some((target, remote));
        self.ends.get_mut(&(target, remote)).expect("just made").peer = Some((node, conn));
        let there = self.arrival(node, target, now);
        self.push(target, remote, there, ItemKind::Accepted { local: Box::new(addr.clone()) });
        let back = self.arrival(target, node, there);
        self.push(node, conn, back, ItemKind::Connected);
        self.stats.connections += 1;
        Ok(conn)
    }

    fn send_from(&mut self, node: NodeId, conn: ConnId, frame: Vec<u8>) -> Result<(), NetError> {
        if frame.len() > MAX_FRAME {
            return Err(NetError::FrameTooLarge { len: frame.len(), max: MAX_FRAME });
        }
        let end = self.ends.get(&(node, conn)).ok_or(NetError::NotConnected { conn })?;
        if let Some(tap) = self.tap.as_mut() {
            tap(Sent { from: node, to: end.remote, at: self.now, frame: &frame });
        }
        self.stats.frames_sent += 1;
        let Some((peer, peer_conn)) = end.peer else {
            self.stats.frames_dropped += 1;
            return Ok(());
        };
        let at = self.arrival(node, peer, self.now);
        self.push(peer, peer_conn, at, ItemKind::Frame(frame));
        Ok(())
    }

    fn close_from(&mut self, node: NodeId, conn: ConnId) {
        let Some(end) = self.ends.remove(&(node, conn)) else { return };
        self.stats.frames_dropped += frames_in(&end.queue);
        if let Some(peer) = end.peer {
            self.close_peer(node, peer);
        }
    }

    /// `from` closed cleanly: `peer` gets `Closed{PeerClosed}` after what is in flight.
    fn close_peer(&mut self, from: NodeId, peer: (NodeId, ConnId)) {
        let Some(end) = self.ends.get_mut(&peer) else { return };
        end.peer = None;
        let at = self.arrival(from, peer.0, self.now);
        self.push(peer.0, peer.1, at, ItemKind::Closed(CloseReason::PeerClosed));
    }

    /// The node at the other end of `key` crashed: the end keeps every item already queued on
    /// it (what the crashed node sent before it died, and the news of the connection itself)
    /// and gets `Closed{Reset}` after them. An end already closing keeps its own terminal news.
    fn reset_after_in_flight(&mut self, key: (NodeId, ConnId)) {
        let Some(end) = self.ends.get_mut(&key) else { return };
        end.peer = None;
        if end.queue.iter().any(|i| i.kind.is_terminal()) {
            return;
        }
        self.stats.resets += 1;
        self.push(key.0, key.1, self.now, ItemKind::Closed(CloseReason::Reset));
    }

    /// Resets every connection between `a` and `b`, both sides.
    fn reset_between(&mut self, a: NodeId, b: NodeId) {
        let mut victims = Vec::new();
        for (x, y) in [(a, b), (b, a)] {
            for conn in self.ends.conns(x) {
                if self.ends.get(&(x, conn)).is_some_and(|e| e.remote == y) {
                    victims.push((x, conn));
                }
            }
        }
        for v in victims {
            self.reset_end(v);
        }
    }

    /// Breaks one end: drops what is in flight to it and tells its node, unless the node never
    /// learned about it (an accept not yet delivered), in which case it silently disappears.
    fn reset_end(&mut self, key: (NodeId, ConnId)) {
        let Some(end) = self.ends.get_mut(&key) else { return };
        let peer = end.peer.take();
        let dropped = frames_in(&end.queue);
        let terminal = end.queue.iter().any(|i| i.kind.is_terminal());
        let (dialer, announced, dialed_at) = (end.dialer, end.announced, end.dialed_at);
        self.stats.frames_dropped += dropped;
        if terminal {
            // Already failing or closing; keep the news it is about to get, drop the rest.
            let end = self.ends.get_mut(&key).expect("present");
            end.queue.retain(|i| i.kind.is_terminal());
        } else if announced {
            self.ends.get_mut(&key).expect("present").queue.clear();
            self.stats.resets += 1;
            self.push(key.0, key.1, self.now, ItemKind::Closed(CloseReason::Reset));
        } else if dialer {
            self.ends.get_mut(&key).expect("present").queue.clear();
            let at = self.now.max(dialed_at + self.config.dial_timeout);
            self.push(key.0, key.1, at, ItemKind::DialFailed(DialError::Timeout));
        } else {
            self.ends.remove(&key);
        }
        if let Some(peer) = peer {
            self.reset_end(peer);
        }
    }
}

impl ItemKind {
    fn is_terminal(&self) -> bool {
        matches!(self, ItemKind::Closed(_) | ItemKind::DialFailed(_))
    }
}

/// Maps a uniform 64-bit word to `0..=max` by a widening multiply (Lemire, without the
/// rejection step: the bias is below `max / 2^64`, far below anything a test could see).
fn uniform_inclusive(word: u64, max: u64) -> u64 {
    match max.checked_add(1) {
        Some(n) => ((u128::from(word) * u128::from(n)) >> 64) as u64,
        None => word,
    }
}

fn frames_in(queue: &VecDeque<Item>) -> u64 {
    queue.iter().filter(|i| matches!(i.kind, ItemKind::Frame(_))).count() as u64
}

/// One node's view of the [`SimNet`]: the [`Net`] seam handed to its handlers.
pub struct Endpoint<'a> {
    net: &'a mut SimNet,
    node: NodeId,
    /// When set and false, the process is dead: nothing reaches the network.
    alive: Option<&'a dyn Fn() -> bool>,
}

impl Endpoint<'_> {
    fn dead(&self) -> bool {
        self.alive.is_some_and(|alive| !alive())
    }
}

impl Net for Endpoint<'_> {
    fn listen(&mut self, addr: &Addr) -> Result<(), NetError> {
        if self.dead() {
            return Ok(());
        }
        if addr.as_str().rsplit_once(':').is_none() {
            return Err(NetError::BadAddr {
                addr: addr.clone(),
                detail: "expected host:port".into(),
            });
        }
        if self.net.listeners.contains_key(addr) {
            return Err(NetError::AddrInUse { addr: addr.clone() });
        }
        self.net.listeners.insert(addr.clone(), self.node);
        Ok(())
    }

    fn dial(&mut self, addr: &Addr) -> Result<ConnId, NetError> {
        if self.dead() {
            // An end with no peer and nothing queued; the crash that follows removes it.
            return Ok(self.net.new_end(self.node, self.node, true));
        }
        self.net.dial_from(self.node, addr)
    }

    fn send(&mut self, conn: ConnId, frame: Vec<u8>) -> Result<(), NetError> {
        if self.dead() {
            self.net.stats.frames_sent += 1;
            self.net.stats.frames_dropped += 1;
            return Ok(());
        }
        self.net.send_from(self.node, conn, frame)
    }

    fn close(&mut self, conn: ConnId) {
        if self.dead() {
            return;
        }
        self.net.close_from(self.node, conn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hot path's layout: an item is two 16-byte words and an event's payload starts on a
    /// word (see [`Item`] and [`NetEvent`]); a field added carelessly brings the stalls back.
    #[test]
    fn items_and_events_keep_their_word_layout() {
        assert_eq!(std::mem::size_of::<Item>(), 32, "Item grew past two 16-byte words");
        assert_eq!(std::mem::size_of::<ItemKind>(), 24, "ItemKind lost its niche tag");
        assert_eq!(std::mem::align_of::<NetEvent>(), 8);
        assert_eq!(std::mem::size_of::<NetEvent>(), 40, "NetEvent: a word of tag, 32 of payload");
    }

    #[test]
    fn the_due_bit_leaves_the_sequence_number_alone() {
        let mut item = Item { tag: 41, kind: ItemKind::Connected };
        assert!(!item.due());
        item.set_due(true);
        assert!(item.due());
        assert_eq!(item.seq(), 41);
        item.set_due(false);
        assert_eq!((item.due(), item.seq(), item.tag), (false, 41, 41));
    }

    #[test]
    fn ends_are_found_by_scan_and_by_bisection() {
        for n in [0u64, 1, 3, 8, 9, 40] {
            let mut table = EndTable::default();
            let node = NodeId(2);
            for c in 0..n {
                let end = End {
                    remote: NodeId(0),
                    peer: None,
                    dialer: true,
                    announced: false,
                    dialed_at: Instant::ZERO,
                    queue: VecDeque::new(),
                    next_seq: c,
                    last_at: Instant::ZERO,
                };
                table.insert((node, ConnId(3 * c + 1)), end);
            }
            for c in 0..n {
                let got = table.get(&(node, ConnId(3 * c + 1))).map(|e| e.next_seq);
                assert_eq!(got, Some(c), "{n} ends: conn {}", 3 * c + 1);
                assert!(table.get(&(node, ConnId(3 * c + 2))).is_none(), "{n} ends: a gap");
            }
            assert!(table.get(&(NodeId(9), ConnId(1))).is_none());
        }
    }
}
