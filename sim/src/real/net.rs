//! [`RealNet`]: the network seam over std TCP (meant for loopback), with the same events as the
//! simulated network.
//!
//! # Machinery
//!
//! The node's own thread owns a `RealNet` and calls the [`Net`] methods; they never block except
//! for writes into the kernel's socket buffer. Everything asynchronous happens on helper threads
//! that push into one channel per `RealNet`:
//!
//! - one *accept thread* per listener: accepts, then hands each new socket to a fresh connection
//!   thread;
//! - one *connection thread* per connection: for a dial it first connects (with the dial
//!   timeout) and reports success or failure; for an accept it reports the accept; then it reads
//!   frames until the socket ends, and reports the end.
//!
//! [`RealNet::poll`] turns the channel's messages into [`NetEvent`]s, dropping those for
//! connections this node already closed (the seam promises no event for a connection closed
//! locally). Writes go directly on the socket from the node's thread: frames are sent in order
//! and in one `write` each.
//!
//! # Wire format and untrusted input
//!
//! See [`frame`]: a 4-byte big-endian length, then the payload. A prefix above the maximum frame
//! size, or a stream ending inside a frame, resets the connection (`Closed{Reset}`) and records a
//! typed [`FrameError`] (see [`RealNet::take_stream_errors`]); nothing panics.
//!
//! # Shutdown
//!
//! Closing a connection shuts its socket down, which wakes its connection thread, which then
//! exits. Dropping the `RealNet` closes every connection, stops every accept thread (by flag and
//! a wake-up connection) and disconnects the channel, so every helper thread ends within the dial
//! timeout. [`RealNet::thread_gauge`] counts the live helper threads, for tests.
//!
//! # Addresses
//!
//! Addresses are `ip:port` ([`Addr`] strings parsed as `SocketAddr`; no DNS lookups). Listening
//! on port 0 picks a free port: learn it with [`RealNet::local_addr`] or
//! [`RealNet::bound_addr`]. An `Accepted` event names the address as it was passed to `listen`.
//!
//! Symbolic addresses, as the simulated world uses (`n1:7000`), work when the endpoint has an
//! [`AddressBook`] (shared by the endpoints of one process): `listen` on a name binds
//! `127.0.0.1:0` and records the name; `dial` of a name looks it up, and an unknown name fails
//! like a closed port (`DialFailed{Refused}`, as an event). So actors written for the simulator
//! run unchanged over real loopback TCP.

pub mod frame;

use std::collections::{BTreeMap, VecDeque};
use std::io::{self, BufReader};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::Instant as StdInstant;

use crate::io::net::MAX_FRAME;
use crate::io::{Addr, CloseReason, ConnId, DialError, Net, NetError, NetEvent};

pub use frame::{FrameError, FramePart};

/// Knobs of a [`RealNet`].
#[derive(Clone, Debug)]
pub struct RealNetConfig {
    /// How long a dial may take before it fails with `DialError::Timeout`.
    pub dial_timeout: core::time::Duration,
    /// The largest frame sent or accepted; at most [`MAX_FRAME`].
    pub max_frame: usize,
    /// How long a send may block on a peer that does not read before the connection is reset
    /// (a `RealNet` peer always reads; this guards against foreign or stuck peers).
    pub write_timeout: core::time::Duration,
    /// Where symbolic addresses are resolved; without one only `ip:port` addresses work.
    pub names: Option<AddressBook>,
}

impl Default for RealNetConfig {
    fn default() -> RealNetConfig {
        RealNetConfig {
            dial_timeout: core::time::Duration::from_secs(1),
            max_frame: MAX_FRAME,
            write_timeout: core::time::Duration::from_secs(10),
            names: None,
        }
    }
}

/// Symbolic address -> the loopback socket listening for it. Clones share one table, so several
/// endpoints in one process (the nodes of a real test cluster) can find each other by the names
/// the simulator uses. A name is registered by `listen` and removed when its endpoint is dropped.
#[derive(Clone, Debug, Default)]
pub struct AddressBook(Arc<Mutex<BTreeMap<Addr, SocketAddr>>>);

impl AddressBook {
    pub fn new() -> AddressBook {
        AddressBook::default()
    }

    /// The socket listening for `name`, if any.
    pub fn resolve(&self, name: &Addr) -> Option<SocketAddr> {
        self.table().get(name).copied()
    }

    /// Records `name -> socket`; false if the name is taken.
    fn register(&self, name: &Addr, socket: SocketAddr) -> bool {
        let mut table = self.table();
        if table.contains_key(name) {
            return false;
        }
        table.insert(name.clone(), socket);
        true
    }

    /// Removes `name` if it still points at `socket`.
    fn unregister(&self, name: &Addr, socket: SocketAddr) {
        let mut table = self.table();
        if table.get(name) == Some(&socket) {
            table.remove(name);
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, BTreeMap<Addr, SocketAddr>> {
        // The table is always consistent (single inserts and removes), so a poisoned lock is
        // still usable.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// How an address given to `listen` or `dial` is to be reached.
enum Target {
    Socket(SocketAddr),
    /// A symbolic name, to be resolved through the address book.
    Name(AddressBook),
}

/// How many stream errors [`RealNet`] remembers for [`RealNet::take_stream_errors`].
const KEPT_STREAM_ERRORS: usize = 64;

/// One node's real network endpoint. See the module documentation.
pub struct RealNet {
    config: RealNetConfig,
    /// Open and dialling connections. A connection absent from here is dead to the node: its
    /// late messages are dropped.
    conns: BTreeMap<ConnId, Conn>,
    listeners: Vec<Listener>,
    shared: Shared,
    rx: Receiver<Wire>,
    /// Events decided on the node's thread (a failed write), delivered before the channel's.
    ready: VecDeque<NetEvent>,
    stream_errors: VecDeque<(ConnId, FrameError)>,
}

/// What every helper thread shares with the `RealNet`.
#[derive(Clone)]
struct Shared {
    tx: Sender<Wire>,
    next_conn: Arc<AtomicU64>,
    stopping: Arc<AtomicBool>,
    threads: ThreadGauge,
    max_frame: usize,
    write_timeout: core::time::Duration,
}

enum Conn {
    /// The dial is in flight; frames sent meanwhile wait here, in order.
    Dialing {
        queued: Vec<Vec<u8>>,
    },
    Open {
        socket: Socket,
    },
}

struct Listener {
    requested: Addr,
    bound: SocketAddr,
    stop: Arc<AtomicBool>,
    /// The address book `requested` is registered in, for a symbolic address.
    named_in: Option<AddressBook>,
}

/// A message from a helper thread to the node's thread.
enum Wire {
    Dialed { conn: ConnId, socket: Socket },
    DialFailed { conn: ConnId, error: DialError },
    Accepted { conn: ConnId, local: Addr, socket: Socket },
    Frame { conn: ConnId, data: Vec<u8> },
    Closed { conn: ConnId, reason: CloseReason, cause: Option<FrameError> },
}

/// The node thread's handle on a connected socket. Dropping it shuts the socket down in both
/// directions, which wakes the connection thread blocked reading the same socket.
struct Socket(TcpStream);

impl Drop for Socket {
    fn drop(&mut self) {
        let _ = self.0.shutdown(Shutdown::Both);
    }
}

/// Counts live helper threads of one [`RealNet`] (and outlives it).
#[derive(Clone, Debug, Default)]
pub struct ThreadGauge(Arc<AtomicUsize>);

impl ThreadGauge {
    /// Helper threads currently alive.
    pub fn live(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }

    /// Counts one more thread until the returned ticket is dropped (at the thread's end, or
    /// at once if the thread could not be spawned).
    fn ticket(&self) -> Ticket {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ticket(Arc::clone(&self.0))
    }
}

struct Ticket(Arc<AtomicUsize>);

impl Drop for Ticket {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl RealNet {
    /// An endpoint with the default configuration.
    pub fn new() -> RealNet {
        RealNet::with_config(RealNetConfig::default())
    }

    pub fn with_config(config: RealNetConfig) -> RealNet {
        assert!(
            config.max_frame <= MAX_FRAME,
            "max_frame {} exceeds MAX_FRAME {MAX_FRAME}",
            config.max_frame
        );
        let (tx, rx) = mpsc::channel();
        RealNet {
            shared: Shared {
                tx,
                next_conn: Arc::new(AtomicU64::new(1)),
                stopping: Arc::new(AtomicBool::new(false)),
                threads: ThreadGauge::default(),
                max_frame: config.max_frame,
                write_timeout: config.write_timeout,
            },
            config,
            conns: BTreeMap::new(),
            listeners: Vec::new(),
            rx,
            ready: VecDeque::new(),
            stream_errors: VecDeque::new(),
        }
    }

    /// The address the most recent listener is bound to (with the real port when `listen` was
    /// given port 0).
    pub fn local_addr(&self) -> Option<Addr> {
        self.listeners.last().map(|l| Addr::new(l.bound.to_string()))
    }

    /// The address the listener started with `listen(requested)` is bound to.
    pub fn bound_addr(&self, requested: &Addr) -> Option<Addr> {
        self.listeners
            .iter()
            .find(|l| &l.requested == requested)
            .map(|l| Addr::new(l.bound.to_string()))
    }

    /// Connections currently open or dialling.
    pub fn open_connections(&self) -> usize {
        self.conns.len()
    }

    /// A handle counting this endpoint's live helper threads; it stays valid after the endpoint
    /// is dropped, so tests can watch the threads end.
    pub fn thread_gauge(&self) -> ThreadGauge {
        self.shared.threads.clone()
    }

    /// Why connections were reset by bad input from the socket, oldest first (the last 64).
    pub fn take_stream_errors(&mut self) -> Vec<(ConnId, FrameError)> {
        self.stream_errors.drain(..).collect()
    }

    /// The next network event, waiting at most `timeout` for one. `None` when nothing happened.
    pub fn poll(&mut self, timeout: core::time::Duration) -> Option<NetEvent> {
        if let Some(event) = self.ready.pop_front() {
            return Some(event);
        }
        let deadline = StdInstant::now().checked_add(timeout);
        loop {
            let wire = match deadline {
                None => self.rx.recv().ok()?,
                Some(deadline) => {
                    let wait = deadline.saturating_duration_since(StdInstant::now());
                    match self.rx.recv_timeout(wait) {
                        Ok(wire) => wire,
                        Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                            return None
                        }
                    }
                }
            };
            if let Some(event) = self.admit(wire) {
                return Some(event);
            }
        }
    }

    /// Applies a helper thread's message to the connection table; returns the event the node
    /// should see, if any.
    fn admit(&mut self, wire: Wire) -> Option<NetEvent> {
        match wire {
            Wire::Dialed { conn, socket } => {
                let Some(Conn::Dialing { queued }) = self.conns.remove(&conn) else {
                    return None; // closed while dialling: dropping `socket` shuts it down
                };
                self.conns.insert(conn, Conn::Open { socket });
                for frame in queued {
                    self.write(conn, &frame);
                }
                Some(NetEvent::Connected { conn })
            }
            Wire::DialFailed { conn, error } => {
                self.conns.remove(&conn)?;
                Some(NetEvent::DialFailed { conn, error })
            }
            Wire::Accepted { conn, local, socket } => {
                self.conns.insert(conn, Conn::Open { socket });
                Some(NetEvent::Accepted { conn, local })
            }
            Wire::Frame { conn, data } => matches!(self.conns.get(&conn), Some(Conn::Open { .. }))
                .then_some(NetEvent::Frame { conn, data }),
            Wire::Closed { conn, reason, cause } => {
                self.conns.remove(&conn)?;
                if let Some(cause) = cause {
                    if self.stream_errors.len() == KEPT_STREAM_ERRORS {
                        self.stream_errors.pop_front();
                    }
                    self.stream_errors.push_back((conn, cause));
                }
                Some(NetEvent::Closed { conn, reason })
            }
        }
    }

    /// Writes one frame on an open connection; a failed write resets the connection (the node
    /// sees `Closed{Reset}` next).
    fn write(&mut self, conn: ConnId, frame: &[u8]) {
        let Some(Conn::Open { socket }) = self.conns.get_mut(&conn) else {
            return;
        };
        if frame::write_frame(&mut socket.0, frame).is_err() {
            self.conns.remove(&conn);
            self.ready.push_back(NetEvent::Closed { conn, reason: CloseReason::Reset });
        }
    }

    /// Whether `addr` is a socket address or, with an address book, a name.
    fn target(&self, addr: &Addr) -> Result<Target, NetError> {
        match (parse(addr), &self.config.names) {
            (Ok(socket), _) => Ok(Target::Socket(socket)),
            (Err(_), Some(book)) if addr.as_str().contains(':') => Ok(Target::Name(book.clone())),
            (Err(e), _) => Err(e),
        }
    }

    fn new_conn_id(&self) -> ConnId {
        ConnId(self.shared.next_conn.fetch_add(1, Ordering::SeqCst))
    }
}

impl Default for RealNet {
    fn default() -> RealNet {
        RealNet::new()
    }
}

impl Net for RealNet {
    fn listen(&mut self, addr: &Addr) -> Result<(), NetError> {
        let target = self.target(addr)?;
        if self.listeners.iter().any(|l| &l.requested == addr) {
            return Err(NetError::AddrInUse { addr: addr.clone() });
        }
        let (requested, named_in) = match target {
            Target::Socket(socket) => (socket, None),
            Target::Name(book) if book.resolve(addr).is_some() => {
                return Err(NetError::AddrInUse { addr: addr.clone() })
            }
            Target::Name(book) => (SocketAddr::from(([127, 0, 0, 1], 0)), Some(book)),
        };
        let listener = TcpListener::bind(requested).map_err(|e| match e.kind() {
            io::ErrorKind::AddrInUse => NetError::AddrInUse { addr: addr.clone() },
            _ => NetError::Io { detail: format!("listen on {addr}: {e}") },
        })?;
        let bound = listener.local_addr().map_err(|e| NetError::Io { detail: e.to_string() })?;
        if let Some(book) = &named_in {
            if !book.register(addr, bound) {
                return Err(NetError::AddrInUse { addr: addr.clone() });
            }
        }
        let stop = Arc::new(AtomicBool::new(false));
        let (shared, local, thread_stop) = (self.shared.clone(), addr.clone(), Arc::clone(&stop));
        let ticket = self.shared.threads.ticket();
        thread::Builder::new()
            .name(format!("realnet-accept-{bound}"))
            .spawn(move || {
                let _ticket = ticket;
                accept_loop(&listener, &local, &thread_stop, &shared);
            })
            .map_err(|e| NetError::Io { detail: format!("spawn accept thread: {e}") })?;
        self.listeners.push(Listener { requested: addr.clone(), bound, stop, named_in });
        Ok(())
    }

    fn dial(&mut self, addr: &Addr) -> Result<ConnId, NetError> {
        let conn = self.new_conn_id();
        let target = match self.target(addr)? {
            Target::Socket(socket) => socket,
            Target::Name(book) => match book.resolve(addr) {
                Some(socket) => socket,
                None => {
                    // Nobody listens under that name: fail like a closed port, as an event.
                    self.ready.push_back(NetEvent::DialFailed { conn, error: DialError::Refused });
                    return Ok(conn);
                }
            },
        };
        let (shared, timeout) = (self.shared.clone(), self.config.dial_timeout);
        let ticket = self.shared.threads.ticket();
        thread::Builder::new()
            .name(format!("realnet-dial-{}", conn.0))
            .spawn(move || {
                let _ticket = ticket;
                dial_then_read(conn, target, timeout, &shared);
            })
            .map_err(|e| NetError::Io { detail: format!("spawn connection thread: {e}") })?;
        self.conns.insert(conn, Conn::Dialing { queued: Vec::new() });
        Ok(conn)
    }

    fn send(&mut self, conn: ConnId, frame: Vec<u8>) -> Result<(), NetError> {
        if frame.len() > self.config.max_frame {
            return Err(NetError::FrameTooLarge { len: frame.len(), max: self.config.max_frame });
        }
        match self.conns.get_mut(&conn) {
            None => Err(NetError::NotConnected { conn }),
            Some(Conn::Dialing { queued }) => {
                queued.push(frame);
                Ok(())
            }
            Some(Conn::Open { .. }) => {
                self.write(conn, &frame);
                Ok(())
            }
        }
    }

    fn close(&mut self, conn: ConnId) {
        // Dropping the socket shuts it down; a dial still in flight finds its id gone and
        // closes the socket it gets.
        self.conns.remove(&conn);
    }
}

impl Drop for RealNet {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        self.conns.clear();
        for listener in &self.listeners {
            if let Some(book) = &listener.named_in {
                book.unregister(&listener.requested, listener.bound);
            }
            listener.stop.store(true, Ordering::SeqCst);
            wake(listener.bound);
        }
        // Sockets still travelling in the channel are shut down as they are dropped here (and
        // by the channel itself for any that arrive later: sends fail once `rx` is gone).
        while self.rx.try_recv().is_ok() {}
    }
}

/// Parses an `ip:port` address.
fn parse(addr: &Addr) -> Result<SocketAddr, NetError> {
    addr.as_str().parse().map_err(|e| NetError::BadAddr {
        addr: addr.clone(),
        detail: format!("{e} (want ip:port)"),
    })
}

/// Unblocks an accept thread by connecting to its listener (the thread sees its stop flag).
fn wake(bound: SocketAddr) {
    let mut target = bound;
    if target.ip().is_unspecified() {
        target.set_ip(match target {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let _ = TcpStream::connect_timeout(&target, core::time::Duration::from_millis(200));
}

/// The accept thread: hands every accepted socket to a new connection thread until stopped.
fn accept_loop(listener: &TcpListener, local: &Addr, stop: &AtomicBool, shared: &Shared) {
    loop {
        let accepted = listener.accept();
        if stop.load(Ordering::SeqCst) || shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        match accepted {
            Ok((stream, _peer)) => {
                let conn = ConnId(shared.next_conn.fetch_add(1, Ordering::SeqCst));
                let (thread_shared, local) = (shared.clone(), local.clone());
                let ticket = shared.threads.ticket();
                // If the thread cannot start, the stream is dropped and the peer sees it close.
                let _ = thread::Builder::new().name(format!("realnet-conn-{}", conn.0)).spawn(
                    move || {
                        let _ticket = ticket;
                        accepted_then_read(conn, stream, local, &thread_shared);
                    },
                );
            }
            // Transient (e.g. out of descriptors, or the peer gave up before the accept):
            // back off briefly rather than spin.
            Err(_) => thread::sleep(core::time::Duration::from_millis(10)),
        }
    }
}

/// A connection thread for a dial: connect, report, then read.
fn dial_then_read(conn: ConnId, target: SocketAddr, timeout: core::time::Duration, s: &Shared) {
    let stream = match TcpStream::connect_timeout(&target, timeout) {
        Ok(stream) => stream,
        Err(e) => {
            let error = match e.kind() {
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => DialError::Timeout,
                // Refused, unreachable, address not available: nobody will answer there.
                _ => DialError::Refused,
            };
            let _ = s.tx.send(Wire::DialFailed { conn, error });
            return;
        }
    };
    if s.stopping.load(Ordering::SeqCst) {
        return;
    }
    let Some(reader) = split(&stream, s) else {
        let _ = s.tx.send(Wire::DialFailed { conn, error: DialError::Refused });
        return;
    };
    if s.tx.send(Wire::Dialed { conn, socket: Socket(stream) }).is_ok() {
        read_loop(conn, reader, s);
    }
}

/// A connection thread for an accept: report, then read.
fn accepted_then_read(conn: ConnId, stream: TcpStream, local: Addr, s: &Shared) {
    let Some(reader) = split(&stream, s) else {
        return; // dropping `stream` closes it; the peer sees the connection end
    };
    if s.tx.send(Wire::Accepted { conn, local, socket: Socket(stream) }).is_ok() {
        read_loop(conn, reader, s);
    }
}

/// Prepares a connected socket: no Nagle delay, bounded writes, and a second handle for the
/// reading thread.
fn split(stream: &TcpStream, s: &Shared) -> Option<TcpStream> {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_write_timeout(Some(s.write_timeout).filter(|t| !t.is_zero()));
    stream.try_clone().ok()
}

/// Reads frames until the socket ends, then reports how it ended. Returns early once the node
/// has gone (the channel is disconnected).
fn read_loop(conn: ConnId, stream: TcpStream, s: &Shared) {
    let mut reader = BufReader::with_capacity(64 << 10, &stream);
    let (reason, cause) = loop {
        match frame::read_frame(&mut reader, s.max_frame) {
            Ok(Some(data)) => {
                if s.tx.send(Wire::Frame { conn, data }).is_err() {
                    return;
                }
            }
            Ok(None) => break (CloseReason::PeerClosed, None),
            Err(e) => break (CloseReason::Reset, Some(e)),
        }
    };
    if reason == CloseReason::Reset {
        // Bad input or a broken socket: make sure the peer sees the end too.
        let _ = stream.shutdown(Shutdown::Both);
    }
    let _ = s.tx.send(Wire::Closed { conn, reason, cause });
}
