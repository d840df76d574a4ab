//! The real runtime drives the same `Actor` trait the simulator drives: a tiny echo pair over
//! loopback TCP, with timers, requests and responses. Every run is bounded by a wall-clock limit
//! and only 127.0.0.1 is used; no test asserts how long anything took.

use std::rc::Rc;

use rand::Rng as _;
use sim::io::{Addr, ConnId, Disk, DiskError, File, NetEvent, OpenOptions};
use sim::real::runtime::RealRuntime;
use sim::{Actor, Env, Halt, NodeId, Seed, TimerId};

/// Generous bound for a whole exchange on loopback.
const PATIENCE: core::time::Duration = core::time::Duration::from_secs(10);
const SLICE: core::time::Duration = core::time::Duration::from_millis(5);

/// These actors keep no state on disk; any disk use is a test failure.
struct NoDisk;

fn refused(op: &'static str, path: &str) -> DiskError {
    DiskError::Invalid { op, path: path.to_string(), detail: "no disk in this test".to_string() }
}

impl Disk for NoDisk {
    fn open(&self, path: &str, _: OpenOptions) -> Result<Box<dyn File>, DiskError> {
        Err(refused("open", path))
    }
    fn create_dir_all(&self, path: &str) -> Result<(), DiskError> {
        Err(refused("create_dir_all", path))
    }
    fn rename(&self, from: &str, _: &str) -> Result<(), DiskError> {
        Err(refused("rename", from))
    }
    fn remove(&self, path: &str) -> Result<(), DiskError> {
        Err(refused("remove", path))
    }
    fn list(&self, dir: &str) -> Result<Vec<String>, DiskError> {
        Err(refused("list", dir))
    }
    fn exists(&self, path: &str) -> Result<bool, DiskError> {
        Err(refused("exists", path))
    }
    fn sync_dir(&self, dir: &str) -> Result<(), DiskError> {
        Err(refused("sync_dir", dir))
    }
}

fn no_disk() -> Rc<dyn Disk> {
    Rc::new(NoDisk)
}

/// Listens on an ephemeral port and echoes every frame back with an `echo:` prefix. With
/// `spin`, it also keeps a zero-delay timer firing forever (a busy node).
#[derive(Default)]
struct EchoServer {
    accepted: Vec<ConnId>,
    echoed: u64,
    spin: bool,
    spins: u64,
}

impl Actor for EchoServer {
    type Request = ();
    type Response = ();

    fn on_start(&mut self, env: &mut Env<'_, ()>) -> Result<(), Halt> {
        if self.spin {
            env.set_timer(sim::Duration::ZERO, 0);
        }
        env.net().listen(&Addr::new("127.0.0.1:0")).map_err(|e| Halt::Fatal(e.to_string()))
    }
    fn on_timer(&mut self, env: &mut Env<'_, ()>, _: TimerId, _: u64) -> Result<(), Halt> {
        self.spins += 1;
        env.set_timer(sim::Duration::ZERO, 0);
        Ok(())
    }
    fn on_net(&mut self, env: &mut Env<'_, ()>, event: NetEvent) -> Result<(), Halt> {
        match event {
            NetEvent::Accepted { conn, .. } => self.accepted.push(conn),
            NetEvent::Frame { conn, data } => {
                self.echoed += 1;
                let reply = [b"echo:".as_slice(), &data].concat();
                env.net().send(conn, reply).map_err(|e| Halt::Fatal(e.to_string()))?;
            }
            _ => {}
        }
        Ok(())
    }
    fn on_request(&mut self, _: &mut Env<'_, ()>, _: ()) -> Result<(), Halt> {
        Ok(())
    }
}

/// What the client reports to its driver.
#[derive(Debug, PartialEq, Eq)]
enum ClientOut {
    Reply(String),
    Tick { tag: u64 },
}

/// Dials the server on start, forwards each request as a frame, reports replies and timer ticks.
struct EchoClient {
    server: Addr,
    conn: Option<ConnId>,
    connected: bool,
    first_draw: Option<u64>,
}

impl EchoClient {
    fn new(server: Addr) -> EchoClient {
        EchoClient { server, conn: None, connected: false, first_draw: None }
    }
}

impl Actor for EchoClient {
    type Request = String;
    type Response = ClientOut;

    fn on_start(&mut self, env: &mut Env<'_, ClientOut>) -> Result<(), Halt> {
        self.first_draw = Some(env.rng().random());
        let conn = env.net().dial(&self.server).map_err(|e| Halt::Fatal(e.to_string()))?;
        self.conn = Some(conn);
        env.set_timer(sim::Duration::from_millis(30), 2);
        env.set_timer(sim::Duration::from_millis(10), 1);
        let cancelled = env.set_timer(sim::Duration::from_millis(1), 99);
        env.cancel_timer(cancelled);
        Ok(())
    }
    fn on_timer(&mut self, env: &mut Env<'_, ClientOut>, _: TimerId, tag: u64) -> Result<(), Halt> {
        env.respond(ClientOut::Tick { tag });
        Ok(())
    }
    fn on_net(&mut self, env: &mut Env<'_, ClientOut>, event: NetEvent) -> Result<(), Halt> {
        match event {
            NetEvent::Connected { conn } if Some(conn) == self.conn => self.connected = true,
            NetEvent::Frame { data, .. } => {
                env.respond(ClientOut::Reply(String::from_utf8_lossy(&data).into_owned()))
            }
            NetEvent::DialFailed { error, .. } => {
                return Err(Halt::Fatal(format!("dial failed: {error:?}")))
            }
            _ => {}
        }
        Ok(())
    }
    fn on_request(&mut self, env: &mut Env<'_, ClientOut>, text: String) -> Result<(), Halt> {
        let conn = self.conn.ok_or_else(|| Halt::Fatal("request before start".to_string()))?;
        // Frames sent before the dial completes are queued by the network, in order.
        env.net().send(conn, text.into_bytes()).map_err(|e| Halt::Fatal(e.to_string()))
    }
}

/// Drives both runtimes in turns until the client has produced `want` responses.
fn exchange(
    server: &mut RealRuntime<EchoServer>,
    client: &mut RealRuntime<EchoClient>,
    want: usize,
) -> Vec<ClientOut> {
    let mut out = Vec::new();
    let turns = PATIENCE.as_millis() / (2 * SLICE.as_millis());
    for _ in 0..turns {
        server.run_for(SLICE);
        let got = client.run_until(SLICE, |_, r| out.len() + r.len() >= want);
        let done = got.is_ok();
        out.extend(got.unwrap_or_else(|t| t.responses));
        if done {
            return out;
        }
    }
    panic!("only {} of {want} responses within {PATIENCE:?}: {out:?}", out.len());
}

#[test]
fn an_echo_pair_talks_over_loopback() {
    let mut server = RealRuntime::new(NodeId(1), Seed(7), no_disk(), EchoServer::default());
    server.start().expect("server starts");
    let addr = server.net().local_addr().expect("server listens");
    let mut client = RealRuntime::new(NodeId(2), Seed(7), no_disk(), EchoClient::new(addr));
    client.request("ping-1".to_string());
    client.request("ping-2".to_string());

    let out = exchange(&mut server, &mut client, 4);
    let replies: Vec<&ClientOut> =
        out.iter().filter(|o| matches!(o, ClientOut::Reply(_))).collect();
    assert_eq!(
        replies,
        [&ClientOut::Reply("echo:ping-1".into()), &ClientOut::Reply("echo:ping-2".into())]
    );
    let ticks: Vec<&ClientOut> =
        out.iter().filter(|o| matches!(o, ClientOut::Tick { .. })).collect();
    assert_eq!(
        ticks,
        [&ClientOut::Tick { tag: 1 }, &ClientOut::Tick { tag: 2 }],
        "timers fire in deadline order and a cancelled timer never fires"
    );
    assert!(client.actor().connected);
    assert_eq!(server.actor().accepted.len(), 1);
    assert_eq!(server.actor().echoed, 2);
    assert_eq!(client.pending_timers(), 0);
    assert!(server.halted().is_none() && client.halted().is_none());

    // More requests later on the same connection.
    client.request("ping-3".to_string());
    let out = exchange(&mut server, &mut client, 1);
    assert_eq!(out, [ClientOut::Reply("echo:ping-3".into())]);
}

#[test]
fn a_node_busy_with_timers_still_serves_the_network() {
    let busy = EchoServer { spin: true, ..EchoServer::default() };
    let mut server = RealRuntime::new(NodeId(1), Seed(3), no_disk(), busy);
    server.start().expect("server starts");
    let addr = server.net().local_addr().expect("server listens");
    let mut client = RealRuntime::new(NodeId(2), Seed(3), no_disk(), EchoClient::new(addr));
    client.request("while busy".to_string());
    let out = exchange(&mut server, &mut client, 3);
    assert!(out.contains(&ClientOut::Reply("echo:while busy".into())), "{out:?}");
    assert!(server.actor().spins > 0, "the timer loop ran too");
}

#[test]
fn the_node_rng_is_the_seeded_node_stream() {
    let first = |seed: u64, node: u32| {
        let mut rt = RealRuntime::new(
            NodeId(node),
            Seed(seed),
            no_disk(),
            EchoClient::new(Addr::new("127.0.0.1:1")),
        );
        rt.start().expect("start only dials");
        rt.actor().first_draw.expect("drew on start")
    };
    assert_eq!(first(7, 2), first(7, 2), "same seed and node, same numbers");
    assert_ne!(first(7, 2), first(8, 2));
    assert_ne!(first(7, 2), first(7, 3));
    let label = sim::real::runtime::node_stream_label(NodeId(2));
    let expected: u64 = Seed(7).stream(&label).random();
    assert_eq!(first(7, 2), expected);
}

#[test]
fn a_halting_handler_stops_the_node_and_the_run_ends() {
    // Nobody listens on port 1 of loopback: the dial fails and the client halts.
    let mut client =
        RealRuntime::new(NodeId(2), Seed(1), no_disk(), EchoClient::new(Addr::new("127.0.0.1:1")));
    let result = client.run_until(PATIENCE, |_, _| false);
    assert!(result.is_err(), "the condition never holds");
    match client.halted() {
        Some(Halt::Fatal(reason)) => assert!(reason.contains("Refused"), "{reason}"),
        other => panic!("expected a fatal halt, got {other:?}"),
    }
    let events = client.events();
    client.request("ignored".to_string());
    assert!(client.run_for(SLICE).is_empty());
    assert_eq!(client.events(), events, "a halted node handles nothing");
}

#[test]
fn run_for_with_nothing_to_do_returns_empty() {
    let mut server = RealRuntime::new(NodeId(1), Seed(1), no_disk(), EchoServer::default());
    assert!(server.run_for(core::time::Duration::from_millis(20)).is_empty());
    assert_eq!(server.events(), 1, "only on_start ran");
    assert!(server.net().local_addr().is_some());
}

/// The simulator's own pingpong actor, unchanged, on real TCP and real disks: three nodes find
/// each other by the simulator's symbolic addresses, finish their pings, and a node restarted on
/// its data directory resumes from what it persisted.
#[test]
fn the_simulators_pingpong_actor_runs_on_real_tcp_and_disk() {
    use sim::real::disk::RealDisk;
    use sim::real::net::{AddressBook, RealNet, RealNetConfig};
    use sim::world::pingpong::PingpongNode;

    const NODES: u32 = 3;
    const MESSAGES: u64 = 25;
    let dirs: Vec<tempfile::TempDir> = (0..NODES).map(|_| tempfile::tempdir().unwrap()).collect();
    let book = AddressBook::new();
    let runtime = |i: u32| {
        let disk: Rc<dyn Disk> = RealDisk::new(dirs[i as usize].path()).expect("real disk");
        let net =
            RealNet::with_config(RealNetConfig { names: Some(book.clone()), ..Default::default() });
        RealRuntime::with_net(
            NodeId(i),
            Seed(5),
            disk,
            net,
            PingpongNode::new(NodeId(i), NODES, MESSAGES),
        )
    };
    let mut nodes: Vec<RealRuntime<PingpongNode>> = (0..NODES).map(runtime).collect();
    let mut answers: Vec<Vec<u64>> = vec![Vec::new(); NODES as usize];
    let turns = PATIENCE.as_millis() / (u128::from(NODES) * SLICE.as_millis());
    for _ in 0..turns {
        if nodes.iter().all(|n| n.actor().done()) {
            break;
        }
        for (rt, out) in nodes.iter_mut().zip(&mut answers) {
            out.extend(rt.run_for(SLICE));
        }
    }
    for (i, rt) in nodes.iter().enumerate() {
        assert_eq!(rt.halted(), None, "node {i} halted");
        assert_eq!(rt.actor().acked(), MESSAGES, "node {i} acked");
        assert_eq!(rt.actor().served(), MESSAGES, "node {i} served its predecessor");
        assert_eq!(answers[i], [MESSAGES], "node {i} reports completion once");
    }

    // Restart node 0 on its directory: it rebuilds from the disk alone.
    nodes.remove(0);
    let mut again = runtime(0);
    again.start().expect("restart");
    assert_eq!(again.actor().acked(), MESSAGES, "acked counter survived on the real disk");
    assert!(again.actor().done());
}
