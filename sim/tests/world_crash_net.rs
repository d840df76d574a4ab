//! What a crash does to the network, through the world: a node that crashes (between events or
//! at a disk operation inside a handler) still delivers the frames it sent before it died, in
//! order, and its peer sees the reset after them; what a handler sends after its disk crashed
//! never reaches the network, because the process died at that operation; nor does an answer
//! to a client it gives after that point.

use sim::env::{Actor, Env, Halt, NodeId, TimerId};
use sim::io::{Addr, CloseReason, ConnId, NetEvent, OpenOptions};
use sim::world::{Status, World, WorldConfig};
use sim::{Duration, Instant, Seed};

const SERVER: NodeId = NodeId(0);
const CLIENT: NodeId = NodeId(1);

#[derive(Debug)]
enum Req {
    /// Sends each frame, then (if asked) writes to disk, then sends `after` — even when the
    /// write failed, as a buggy node that ignores its I/O errors would.
    SendAround { before: Vec<Vec<u8>>, write: bool, after: Vec<u8> },
    /// Answers `before`, writes to disk, answers `after` (even when the write failed).
    AnswerAround { write: bool },
}

/// What the server saw: frames and the close, with their arrival time.
#[derive(Debug, PartialEq)]
enum Seen {
    Frame(Vec<u8>),
    Closed(CloseReason),
}

enum Role {
    Server,
    Client { conn: Option<ConnId> },
}

struct Peer {
    role: Role,
}

impl Actor for Peer {
    type Request = Req;
    type Response = Seen;

    fn on_start(&mut self, env: &mut Env<'_, Seen>) -> Result<(), Halt> {
        match &mut self.role {
            Role::Server => env.net().listen(&Addr::new("n0:1")).expect("listen"),
            Role::Client { conn } => *conn = Some(env.net().dial(&Addr::new("n0:1")).unwrap()),
        }
        Ok(())
    }

    fn on_timer(&mut self, _env: &mut Env<'_, Seen>, _id: TimerId, _tag: u64) -> Result<(), Halt> {
        Ok(())
    }

    fn on_net(&mut self, env: &mut Env<'_, Seen>, event: NetEvent) -> Result<(), Halt> {
        match event {
            NetEvent::Frame { data, .. } => env.respond(Seen::Frame(data)),
            NetEvent::Closed { reason, .. } => env.respond(Seen::Closed(reason)),
            _ => {}
        }
        Ok(())
    }

    fn on_request(&mut self, env: &mut Env<'_, Seen>, req: Req) -> Result<(), Halt> {
        let Role::Client { conn: Some(conn) } = self.role else { panic!("not a connected client") };
        let (before, write, after) = match req {
            Req::SendAround { before, write, after } => (before, write, after),
            Req::AnswerAround { write } => {
                env.respond(Seen::Frame(b"before".to_vec()));
                let written = write_x(env, write);
                env.respond(Seen::Frame(b"after".to_vec()));
                return written;
            }
        };
        for f in before {
            env.net().send(conn, f).expect("send");
        }
        let written = write_x(env, write);
        env.net().send(conn, after).expect("send after");
        written
    }
}

/// Writes one byte to the file `f` if asked.
fn write_x(env: &mut Env<'_, Seen>, write: bool) -> Result<(), Halt> {
    if write {
        let disk = env.disk();
        disk.open("f", OpenOptions::create()).and_then(|f| f.write_at(0, b"x"))?;
    }
    Ok(())
}

fn world() -> World<Peer> {
    let mut w = World::new(Seed(5), WorldConfig::default());
    w.add_node(SERVER, |_| Peer { role: Role::Server });
    w.add_node(CLIENT, |_| Peer { role: Role::Client { conn: None } });
    w.run_until(Instant::ZERO + Duration::from_millis(10));
    w
}

fn seen(w: &mut World<Peer>) -> Vec<(Instant, Seen)> {
    w.take_responses()
        .into_iter()
        .filter(|(n, _, _)| *n == SERVER)
        .map(|(_, t, s)| (t, s))
        .collect()
}

#[test]
fn frames_sent_before_a_disk_crash_arrive_then_the_reset_and_nothing_sent_after() {
    let mut w = world();
    w.crash_at_disk_op(CLIENT, 0);
    let before = vec![b"one".to_vec(), b"two".to_vec()];
    w.request(CLIENT, Req::SendAround { before, write: true, after: b"after death".to_vec() });
    let crashed_at = w.now();
    w.run_until(w.now() + Duration::from_millis(1));
    assert_eq!(w.status(CLIENT), Status::Crashed);
    assert!(w.is_up(SERVER));
    w.run_until(w.now() + Duration::from_secs(1));
    let got = seen(&mut w);
    let what: Vec<&Seen> = got.iter().map(|(_, s)| s).collect();
    assert_eq!(
        what,
        vec![
            &Seen::Frame(b"one".to_vec()),
            &Seen::Frame(b"two".to_vec()),
            &Seen::Closed(CloseReason::Reset)
        ],
        "the frames sent before the failed disk operation, then the reset"
    );
    assert!(got[0].0 > crashed_at, "the frames arrived after their sender died");
    assert_eq!(got[2].0, got[1].0, "the reset follows the last frame");
}

#[test]
fn a_crash_between_events_keeps_what_was_sent() {
    let mut w = world();
    let before = vec![b"a".to_vec(), b"b".to_vec()];
    w.request(CLIENT, Req::SendAround { before, write: false, after: b"c".to_vec() });
    assert!(w.step(), "the request is handled");
    assert!(seen(&mut w).is_empty(), "nothing has arrived yet");
    w.crash(CLIENT);
    w.run_until(w.now() + Duration::from_secs(1));
    let what: Vec<Seen> = seen(&mut w).into_iter().map(|(_, s)| s).collect();
    assert_eq!(
        what,
        vec![
            Seen::Frame(b"a".to_vec()),
            Seen::Frame(b"b".to_vec()),
            Seen::Frame(b"c".to_vec()),
            Seen::Closed(CloseReason::Reset)
        ]
    );
}

#[test]
fn an_answer_given_after_a_disk_crash_never_reaches_the_client() {
    let answers = |w: &mut World<Peer>| -> Vec<Seen> {
        let got = w.take_responses();
        got.into_iter().filter(|(n, _, _)| *n == CLIENT).map(|(_, _, s)| s).collect()
    };
    let mut w = world();
    w.request(CLIENT, Req::AnswerAround { write: true });
    w.run_until(w.now() + Duration::from_millis(1));
    let both = vec![Seen::Frame(b"before".to_vec()), Seen::Frame(b"after".to_vec())];
    assert_eq!(answers(&mut w), both, "a healthy node gives both answers");
    w.crash_at_disk_op(CLIENT, 0);
    w.request(CLIENT, Req::AnswerAround { write: true });
    w.run_until(w.now() + Duration::from_millis(1));
    assert_eq!(w.status(CLIENT), Status::Crashed);
    assert_eq!(answers(&mut w), vec![Seen::Frame(b"before".to_vec())], "dead at the write");
}

/// The net tap sees every frame a live process sends, inside its handler, and none it "sends"
/// after dying at a disk operation; the crash tap runs once the disk has lost power.
#[test]
fn the_taps_see_sends_as_they_happen_and_crashes_before_the_power_goes() {
    use std::cell::RefCell;
    use std::rc::Rc;
    let mut w = world();
    type Log = Rc<RefCell<Vec<(NodeId, NodeId, Vec<u8>)>>>;
    let sent: Log = Rc::default();
    let log = Rc::clone(&sent);
    w.net_mut().tap(Box::new(move |s| log.borrow_mut().push((s.from, s.to, s.frame.to_vec()))));
    let crashes: Rc<RefCell<Vec<(NodeId, bool)>>> = Rc::default();
    let log = Rc::clone(&crashes);
    w.on_crash(Box::new(move |n, disk| log.borrow_mut().push((n, disk.has_unsynced()))));
    w.crash_at_disk_op(CLIENT, 1);
    let before = vec![b"one".to_vec()];
    w.request(CLIENT, Req::SendAround { before, write: true, after: b"dead".to_vec() });
    w.run_until(w.now() + Duration::from_millis(1));
    assert_eq!(
        *sent.borrow(),
        vec![(CLIENT, SERVER, b"one".to_vec())],
        "not the frame after death"
    );
    // The create (op 0) passed and the write (op 1) crashed: after the power loss nothing is
    // left unsynced (the create was kept or lost) when the tap looks.
    assert_eq!(*crashes.borrow(), vec![(CLIENT, false)]);
    assert_eq!(w.status(CLIENT), Status::Crashed);
}
