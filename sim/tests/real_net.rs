//! RealNet over loopback TCP: the same events as the simulated network, from real sockets.
//!
//! Every wait is bounded (a missing event fails the test after a few seconds instead of
//! hanging), and only 127.0.0.1 is used. No test asserts how long anything took.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)] // real sockets and real waiting

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration as StdDuration, Instant as StdInstant};

use sim::io::{Addr, CloseReason, ConnId, DialError, Net, NetError, NetEvent};
use sim::real::net::{FrameError, FramePart, RealNet, RealNetConfig};

/// Generous bound for any single event on loopback.
const PATIENCE: StdDuration = StdDuration::from_secs(5);
/// How long we listen for an event that must *not* come.
const QUIET: StdDuration = StdDuration::from_millis(200);

fn next(net: &mut RealNet, what: &str) -> NetEvent {
    net.poll(PATIENCE).unwrap_or_else(|| panic!("no event within {PATIENCE:?} waiting for {what}"))
}

fn any_port() -> Addr {
    Addr::new("127.0.0.1:0")
}

/// A listening server and a client connected to it: (server, server conn, client, client conn).
fn connected_pair() -> (RealNet, ConnId, RealNet, ConnId) {
    let mut server = RealNet::new();
    server.listen(&any_port()).expect("listen on an ephemeral port");
    let addr = server.local_addr().expect("a listener is bound");
    let mut client = RealNet::new();
    let c = client.dial(&addr).expect("dial");
    assert_eq!(next(&mut client, "Connected"), NetEvent::Connected { conn: c });
    let s = match next(&mut server, "Accepted") {
        NetEvent::Accepted { conn, local } => {
            assert_eq!(local, any_port(), "Accepted names the address given to listen");
            conn
        }
        other => panic!("expected Accepted, got {other:?}"),
    };
    (server, s, client, c)
}

fn frame_on(net: &mut RealNet, conn: ConnId) -> Vec<u8> {
    match next(net, "Frame") {
        NetEvent::Frame { conn: got, data } => {
            assert_eq!(got, conn, "frame arrived on the wrong connection");
            data
        }
        other => panic!("expected a Frame on {conn:?}, got {other:?}"),
    }
}

#[test]
fn local_addr_reports_the_ephemeral_port() {
    let mut net = RealNet::new();
    assert_eq!(net.local_addr(), None);
    net.listen(&any_port()).unwrap();
    let bound = net.local_addr().unwrap();
    assert_eq!(net.bound_addr(&any_port()), Some(bound.clone()));
    let port: u16 = bound.as_str().strip_prefix("127.0.0.1:").unwrap().parse().unwrap();
    assert_ne!(port, 0, "bound address {bound} still has port 0");
}

#[test]
fn loopback_echo() {
    let (mut server, s, mut client, c) = connected_pair();
    client.send(c, b"hello".to_vec()).unwrap();
    let got = frame_on(&mut server, s);
    assert_eq!(got, b"hello");
    server.send(s, [b"echo:".as_slice(), &got].concat()).unwrap();
    assert_eq!(frame_on(&mut client, c), b"echo:hello");
}

#[test]
fn frames_arrive_whole_and_in_order_both_ways() {
    let (mut server, s, mut client, c) = connected_pair();
    // Sizes from empty to several socket buffers, so frames get split across reads.
    let sizes = [0usize, 1, 3, 4, 5, 1000, 70_000, 300_000, 17];
    let payload =
        |i: usize, len: usize| -> Vec<u8> { (0..len).map(|j| (i * 31 + j) as u8).collect() };
    for round in 0..20 {
        for (k, &len) in sizes.iter().enumerate() {
            client.send(c, payload(round * 100 + k, len)).unwrap();
        }
    }
    for round in 0..20 {
        for (k, &len) in sizes.iter().enumerate() {
            let got = frame_on(&mut server, s);
            assert_eq!(got.len(), len, "round {round} frame {k}: wrong length");
            assert!(got == payload(round * 100 + k, len), "round {round} frame {k}: wrong bytes");
        }
    }
    // And the other direction, interleaved with the first.
    for i in 0..500u32 {
        server.send(s, i.to_be_bytes().to_vec()).unwrap();
    }
    for i in 0..500u32 {
        assert_eq!(frame_on(&mut client, c), i.to_be_bytes());
    }
}

#[test]
fn frames_sent_while_dialling_go_out_after_connect_in_order() {
    let mut server = RealNet::new();
    server.listen(&any_port()).unwrap();
    let mut client = RealNet::new();
    let c = client.dial(&server.local_addr().unwrap()).unwrap();
    for i in 0..50u8 {
        client.send(c, vec![i; usize::from(i)]).unwrap();
    }
    assert_eq!(next(&mut client, "Connected"), NetEvent::Connected { conn: c });
    let s = match next(&mut server, "Accepted") {
        NetEvent::Accepted { conn, .. } => conn,
        other => panic!("expected Accepted, got {other:?}"),
    };
    for i in 0..50u8 {
        assert_eq!(frame_on(&mut server, s), vec![i; usize::from(i)]);
    }
}

#[test]
fn dialling_a_closed_port_fails_with_refused() {
    // Learn a free port, then free it again.
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut client = RealNet::new();
    let c = client.dial(&Addr::new(format!("127.0.0.1:{port}"))).unwrap();
    assert_eq!(
        next(&mut client, "DialFailed"),
        NetEvent::DialFailed { conn: c, error: DialError::Refused }
    );
    assert_eq!(client.open_connections(), 0);
    assert_eq!(client.send(c, b"x".to_vec()), Err(NetError::NotConnected { conn: c }));
}

#[test]
fn peer_close_shows_as_closed_and_the_closer_hears_nothing() {
    let (mut server, s, mut client, c) = connected_pair();
    client.send(c, b"last words".to_vec()).unwrap();
    client.close(c);
    // Frames sent before the close still arrive, then the close.
    assert_eq!(frame_on(&mut server, s), b"last words");
    assert_eq!(
        next(&mut server, "Closed"),
        NetEvent::Closed { conn: s, reason: CloseReason::PeerClosed }
    );
    assert_eq!(client.poll(QUIET), None, "no event for a connection this node closed");
    assert_eq!(client.send(c, b"x".to_vec()), Err(NetError::NotConnected { conn: c }));
    assert_eq!(server.send(s, b"x".to_vec()), Err(NetError::NotConnected { conn: s }));
}

#[test]
fn closing_a_dial_in_flight_delivers_nothing() {
    let mut server = RealNet::new();
    server.listen(&any_port()).unwrap();
    let mut client = RealNet::new();
    let c = client.dial(&server.local_addr().unwrap()).unwrap();
    client.close(c);
    assert_eq!(client.poll(QUIET), None, "no Connected for a dial closed before it completed");
    assert_eq!(client.open_connections(), 0);
}

/// Writes raw bytes to a RealNet listener; returns the server and what it reported.
fn raw_bytes_to_server(bytes: &[u8]) -> (RealNet, Vec<NetEvent>, TcpStream) {
    let mut server = RealNet::with_config(RealNetConfig { max_frame: 1024, ..Default::default() });
    server.listen(&any_port()).unwrap();
    let addr = server.local_addr().unwrap();
    let mut raw = TcpStream::connect(addr.as_str()).unwrap();
    raw.set_read_timeout(Some(PATIENCE)).unwrap();
    raw.write_all(bytes).unwrap();
    raw.shutdown(std::net::Shutdown::Write).unwrap();
    let mut events = vec![next(&mut server, "Accepted")];
    loop {
        let e = next(&mut server, "the connection to end");
        let done = matches!(e, NetEvent::Closed { .. });
        events.push(e);
        if done {
            break;
        }
    }
    (server, events, raw)
}

#[test]
fn an_oversized_length_prefix_resets_the_connection_with_a_typed_error() {
    let (mut server, events, mut raw) = raw_bytes_to_server(&[0xff, 0xff, 0xff, 0xff, 1, 2, 3]);
    let s = match &events[0] {
        NetEvent::Accepted { conn, .. } => *conn,
        other => panic!("expected Accepted, got {other:?}"),
    };
    assert_eq!(events[1..], [NetEvent::Closed { conn: s, reason: CloseReason::Reset }]);
    assert_eq!(
        server.take_stream_errors(),
        vec![(s, FrameError::TooLarge { len: u64::from(u32::MAX), max: 1024 })]
    );
    // The garbage sender sees its connection end (EOF or reset), not a hang.
    let mut buf = [0u8; 16];
    match raw.read(&mut buf) {
        Ok(0) | Err(_) => {}
        Ok(n) => panic!("server sent {n} bytes back after a reset"),
    }
}

#[test]
fn a_stream_ending_inside_a_frame_resets_with_truncated() {
    // One good frame, then a header promising 10 bytes of which 2 arrive.
    let (mut server, events, _raw) = raw_bytes_to_server(&[0, 0, 0, 1, 42, 0, 0, 0, 10, 1, 2]);
    let s = match &events[0] {
        NetEvent::Accepted { conn, .. } => *conn,
        other => panic!("expected Accepted, got {other:?}"),
    };
    assert_eq!(
        events[1..],
        [
            NetEvent::Frame { conn: s, data: vec![42] },
            NetEvent::Closed { conn: s, reason: CloseReason::Reset }
        ]
    );
    assert_eq!(
        server.take_stream_errors(),
        vec![(s, FrameError::Truncated { part: FramePart::Payload, expected: 10, got: 2 })]
    );
}

#[test]
fn synchronous_errors_are_typed() {
    let mut net = RealNet::with_config(RealNetConfig { max_frame: 8, ..Default::default() });
    let bad = Addr::new("not-an-address");
    assert!(matches!(net.dial(&bad), Err(NetError::BadAddr { addr, .. }) if addr == bad));
    assert!(matches!(net.listen(&bad), Err(NetError::BadAddr { .. })));
    assert_eq!(
        net.send(ConnId(999), b"x".to_vec()),
        Err(NetError::NotConnected { conn: ConnId(999) })
    );
    net.listen(&any_port()).unwrap();
    let bound = net.local_addr().unwrap();
    let mut other = RealNet::new();
    assert_eq!(other.listen(&bound), Err(NetError::AddrInUse { addr: bound.clone() }));
    let c = net.dial(&bound).unwrap();
    assert_eq!(
        net.send(c, vec![0; 9]),
        Err(NetError::FrameTooLarge { len: 9, max: 8 }),
        "an oversized frame is refused before it is queued"
    );
}

#[test]
fn dropping_the_endpoint_ends_every_helper_thread() {
    let (server, _s, mut client, c) = connected_pair();
    client.send(c, b"x".to_vec()).unwrap();
    let (server_threads, client_threads) = (server.thread_gauge(), client.thread_gauge());
    assert_eq!(server_threads.live(), 2, "one accept thread and one connection thread");
    assert_eq!(client_threads.live(), 1, "one connection thread");
    // A connection accepted but not yet polled must not keep its thread alive either.
    let mut late = RealNet::new();
    late.dial(&server.local_addr().unwrap()).unwrap();
    let late_threads = late.thread_gauge();
    drop(server);
    drop(client);
    let deadline = StdInstant::now() + PATIENCE;
    while server_threads.live() + client_threads.live() > 0 && StdInstant::now() < deadline {
        std::thread::sleep(StdDuration::from_millis(5));
    }
    assert_eq!(server_threads.live(), 0, "server threads left running");
    assert_eq!(client_threads.live(), 0, "client threads left running");
    // The late dialler learns its connection ended, one way or another.
    match late.poll(PATIENCE) {
        Some(NetEvent::Connected { .. }) | Some(NetEvent::DialFailed { .. }) => {}
        other => panic!("expected the late dial to resolve, got {other:?}"),
    }
    drop(late);
    let deadline = StdInstant::now() + PATIENCE;
    while late_threads.live() > 0 && StdInstant::now() < deadline {
        std::thread::sleep(StdDuration::from_millis(5));
    }
    assert_eq!(late_threads.live(), 0, "late dialler's thread left running");
}

#[test]
fn symbolic_addresses_resolve_through_a_shared_address_book() {
    use sim::real::net::AddressBook;
    let book = AddressBook::new();
    let named =
        || RealNet::with_config(RealNetConfig { names: Some(book.clone()), ..Default::default() });
    let name = Addr::new("n1:7000");
    assert!(
        matches!(RealNet::new().listen(&name), Err(NetError::BadAddr { .. })),
        "without an address book a name is not an address"
    );

    let mut server = named();
    server.listen(&name).unwrap();
    let bound = book.resolve(&name).expect("listen registered the name");
    assert!(bound.ip().is_loopback() && bound.port() != 0, "bound to {bound}");
    assert_eq!(named().listen(&name), Err(NetError::AddrInUse { addr: name.clone() }));

    let mut client = named();
    let c = client.dial(&name).unwrap();
    assert_eq!(next(&mut client, "Connected"), NetEvent::Connected { conn: c });
    let s = match next(&mut server, "Accepted") {
        NetEvent::Accepted { conn, local } => {
            assert_eq!(local, name, "Accepted names the symbolic address");
            conn
        }
        other => panic!("expected Accepted, got {other:?}"),
    };
    client.send(c, b"by name".to_vec()).unwrap();
    assert_eq!(frame_on(&mut server, s), b"by name");

    let unknown = client.dial(&Addr::new("n9:7000")).unwrap();
    assert_eq!(
        next(&mut client, "DialFailed"),
        NetEvent::DialFailed { conn: unknown, error: DialError::Refused }
    );

    // A dropped endpoint gives its names back: a restarted node can listen again.
    drop(server);
    assert_eq!(book.resolve(&name), None);
    let mut restarted = named();
    restarted.listen(&name).unwrap();
    assert!(book.resolve(&name).is_some());
}

#[test]
fn a_peer_that_never_reads_resets_the_connection_instead_of_blocking_the_node() {
    let raw = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = Addr::new(raw.local_addr().unwrap().to_string());
    let mut net = RealNet::with_config(RealNetConfig {
        write_timeout: StdDuration::from_millis(100),
        ..Default::default()
    });
    let c = net.dial(&addr).unwrap();
    let (_never_read, _) = raw.accept().unwrap();
    assert_eq!(next(&mut net, "Connected"), NetEvent::Connected { conn: c });
    // 256 MiB is far beyond what loopback socket buffers hold, so some send must time out.
    let frame = vec![0u8; 1 << 20];
    let mut sent = 0;
    while sent < 256 {
        match net.send(c, frame.clone()) {
            Ok(()) => sent += 1,
            Err(NetError::NotConnected { conn }) if conn == c => break,
            Err(e) => panic!("unexpected send error {e:?}"),
        }
    }
    assert!(sent < 256, "every send of {sent} MiB went through to a peer that never reads");
    assert_eq!(next(&mut net, "Closed"), NetEvent::Closed { conn: c, reason: CloseReason::Reset });
}
