//! The network seam: connection-oriented, message-framed, like TCP with a length prefix.
//!
//! A node listens on addresses, dials addresses and sends whole frames over connections. Frames
//! on one connection arrive in order, exactly once, or the connection breaks and later frames
//! are not delivered. Everything that happens asynchronously (a dial completing or failing, an
//! accept, a frame arriving, a reset) comes back to the node as a [`NetEvent`] through its
//! actor's `on_net` handler; no call blocks.

use std::fmt;

/// A network address, `host:port`. In simulation hosts are node names (`n1:2380`); on the real
/// network they are loopback IPs (`127.0.0.1:2380`).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Addr(pub String);

impl Addr {
    pub fn new(s: impl Into<String>) -> Addr {
        Addr(s.into())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A connection, unique within one node for the node's lifetime (across restarts too).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(pub u64);

/// Why a connection closed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// The other side closed it cleanly.
    PeerClosed,
    /// Reset: a partition, the other side crashed, or a transport error. In-flight frames were
    /// dropped.
    Reset,
}

/// Why a dial failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DialError {
    /// Nobody listens at the address.
    Refused,
    /// No answer within the dial timeout (partition, the host is down).
    Timeout,
}

/// Something that happened on the network, delivered to one node.
///
/// `repr(u64)` keeps every payload 8-byte aligned behind a word-sized tag, so moving an event
/// copies aligned words (a packed 1-byte tag made each move an unaligned copy that the next
/// field read could not forward from, a measurable stall per simulated frame).
#[derive(Clone, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum NetEvent {
    /// A dial this node made succeeded; `conn` is the id `dial` returned.
    Connected { conn: ConnId },
    /// A dial this node made failed; `conn` is the id `dial` returned and is now dead.
    DialFailed { conn: ConnId, error: DialError },
    /// Someone dialled `local`, an address this node listens on.
    Accepted { conn: ConnId, local: Addr },
    /// A whole frame arrived on `conn`.
    Frame { conn: ConnId, data: Vec<u8> },
    /// `conn` is gone; nothing more arrives on it and sends to it fail.
    Closed { conn: ConnId, reason: CloseReason },
}

/// Why a network call failed synchronously.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NetError {
    /// Another node (or this one) already listens on the address.
    AddrInUse { addr: Addr },
    /// The connection is unknown or already closed.
    NotConnected { conn: ConnId },
    /// The address is malformed.
    BadAddr { addr: Addr, detail: String },
    /// The frame exceeds the transport's maximum frame size.
    FrameTooLarge { len: usize, max: usize },
    /// An OS error (real network only).
    Io { detail: String },
}

impl fmt::Display for NetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetError::AddrInUse { addr } => write!(f, "address {addr} already in use"),
            NetError::NotConnected { conn } => write!(f, "connection {} is not open", conn.0),
            NetError::BadAddr { addr, detail } => write!(f, "bad address {addr}: {detail}"),
            NetError::FrameTooLarge { len, max } => {
                write!(f, "frame of {len} bytes exceeds the maximum of {max}")
            }
            NetError::Io { detail } => write!(f, "network I/O error: {detail}"),
        }
    }
}

impl std::error::Error for NetError {}

/// Maximum frame size both implementations accept (64 MiB).
pub const MAX_FRAME: usize = 64 << 20;

/// One node's network endpoint.
pub trait Net {
    /// Starts accepting connections on `addr`.
    fn listen(&mut self, addr: &Addr) -> Result<(), NetError>;
    /// Starts a connection to `addr`. The result arrives later as `Connected` or `DialFailed`
    /// with the returned id.
    fn dial(&mut self, addr: &Addr) -> Result<ConnId, NetError>;
    /// Queues `frame` on `conn`. Delivery is not confirmed; a broken connection shows up as a
    /// `Closed` event.
    fn send(&mut self, conn: ConnId, frame: Vec<u8>) -> Result<(), NetError>;
    /// Closes `conn`. Frames already sent may still arrive; the peer sees `Closed{PeerClosed}`.
    /// No event is delivered to this node for a connection it closed itself.
    fn close(&mut self, conn: ConnId);
}
