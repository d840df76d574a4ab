//! Pingpong: the demonstration workload of the simulator, used by `examples/pingpong.rs`, the
//! determinism tests and the benchmarks.
//!
//! Node `i` of `n` listens on `n<i>:7000` and dials node `(i + 1) % n`. Over that connection it
//! sends pings numbered `0, 1, 2, ...`, one at a time; the receiver answers each with a pong of
//! the same number. On each pong the pinger persists its counters to disk (write + sync; BUGGIFY
//! may skip the sync) so disk crashes matter: a restarted node resumes from whatever survived. A broken
//! connection or failed dial is retried after [`REDIAL`]; the first dial also waits that long so
//! that nodes starting together are all listening. A node is done once `messages` pongs
//! were acknowledged; the world then goes quiet.
//!
//! [`PingpongNode::in_memory`] makes a node that keeps its counters in memory only (no state
//! file, nothing survives a crash): exactly the work of the turmoil pingpong the benchmark
//! compares against.
//!
//! Frame layout (little-endian): `[kind: u8 (1 = ping, 2 = pong)][number: u64]`, 9 bytes.
//! State file `pingpong.state` layout: `[acked: u64][served: u64]`, 16 bytes; shorter means 0s.

use std::rc::Rc;

use crate::env::{Actor, Env, Halt, NodeId, TimerId};
use crate::fault::{FaultPlan, SwarmConfig};
use crate::io::{Addr, ConnId, Disk, File, NetEvent, OpenOptions};
use crate::seed::Seed;
use crate::time::{Duration, Instant};
use crate::world::{World, WorldConfig};

/// Delay before re-dialling after a broken connection or failed dial.
pub const REDIAL: Duration = Duration::from_millis(20);
const STATE_FILE: &str = "pingpong.state";
const PORT: u16 = 7000;
const PING: u8 = 1;
const PONG: u8 = 2;

/// One pingpong node. Its durable state is `acked` and `served`; the rest is rebuilt on start.
pub struct PingpongNode {
    id: NodeId,
    nodes: u32,
    messages: u64,
    acked: u64,
    served: u64,
    file: Option<Box<dyn File>>,
    /// The outgoing connection (dialling or connected).
    out: Option<ConnId>,
    connected: bool,
    redial: Option<TimerId>,
    /// Whether the counters go to the state file (see the module docs).
    durable: bool,
}

impl PingpongNode {
    pub fn new(id: NodeId, nodes: u32, messages: u64) -> PingpongNode {
        PingpongNode {
            id,
            nodes,
            messages,
            acked: 0,
            served: 0,
            file: None,
            out: None,
            connected: false,
            redial: None,
            durable: true,
        }
    }

    /// A node that keeps its counters in memory only: no disk operation at all.
    pub fn in_memory(id: NodeId, nodes: u32, messages: u64) -> PingpongNode {
        PingpongNode { durable: false, ..PingpongNode::new(id, nodes, messages) }
    }

    /// Pongs received (and persisted) so far.
    pub fn acked(&self) -> u64 {
        self.acked
    }

    /// Pings answered so far.
    pub fn served(&self) -> u64 {
        self.served
    }

    /// Whether this node has all its pongs.
    pub fn done(&self) -> bool {
        self.acked >= self.messages
    }

    fn addr(node: u32) -> Addr {
        Addr::new(format!("n{node}:{PORT}"))
    }

    fn persist(&mut self, env: &mut Env<'_, u64>) -> Result<(), Halt> {
        if !self.durable {
            return Ok(());
        }
        let file = self.file.as_ref().expect("state file opened in on_start");
        let mut buf = [0u8; 16];
        buf[..8].copy_from_slice(&self.acked.to_le_bytes());
        buf[8..].copy_from_slice(&self.served.to_le_bytes());
        file.write_at(0, &buf)?;
        if !env.buggify("pingpong/skip-sync") {
            file.sync()?;
        }
        Ok(())
    }

    fn dial(&mut self, env: &mut Env<'_, u64>) {
        if self.done() || self.out.is_some() {
            return;
        }
        let target = (self.id.0 + 1) % self.nodes;
        match env.net().dial(&Self::addr(target)) {
            Ok(conn) => self.out = Some(conn),
            Err(_) => self.schedule_redial(env),
        }
    }

    fn schedule_redial(&mut self, env: &mut Env<'_, u64>) {
        if self.redial.is_none() && !self.done() {
            self.redial = Some(env.set_timer(REDIAL, 0));
        }
    }

    /// Sends `[kind][number]` in `frame`, a buffer to reuse (a received frame, or a new one).
    fn send(env: &mut Env<'_, u64>, conn: ConnId, kind: u8, number: u64, mut frame: Vec<u8>) {
        frame.clear();
        frame.push(kind);
        frame.extend_from_slice(&number.to_le_bytes());
        // A broken connection shows up as a Closed event; nothing to do here.
        let _ = env.net().send(conn, frame);
    }

    /// Handles a frame; its buffer carries the answer, so the exchange allocates nothing.
    fn on_frame(
        &mut self,
        env: &mut Env<'_, u64>,
        conn: ConnId,
        data: Vec<u8>,
    ) -> Result<(), Halt> {
        let Some((kind, number)) = parse(&data) else {
            env.trace("bad-frame", &format!("{} bytes", data.len()));
            return Ok(());
        };
        match kind {
            PING => {
                // Not persisted on its own: it rides along with the next acknowledgement.
                self.served += 1;
                Self::send(env, conn, PONG, number, data);
            }
            PONG if Some(conn) == self.out && number == self.acked => {
                self.acked += 1;
                self.persist(env)?;
                if self.done() {
                    env.net().close(conn);
                    self.out = None;
                    self.connected = false;
                    env.respond(self.acked);
                } else {
                    Self::send(env, conn, PING, self.acked, data);
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn lost(&mut self, env: &mut Env<'_, u64>, conn: ConnId) {
        if Some(conn) == self.out {
            self.out = None;
            self.connected = false;
            self.schedule_redial(env);
        }
    }
}

/// `[kind][number]`, or `None` if the frame is not 9 bytes of a known kind.
fn parse(data: &[u8]) -> Option<(u8, u64)> {
    let (&kind, rest) = data.split_first()?;
    let number = u64::from_le_bytes(rest.try_into().ok()?);
    matches!(kind, PING | PONG).then_some((kind, number))
}

fn read_state(disk: &Rc<dyn Disk>) -> Result<(Box<dyn File>, u64, u64), Halt> {
    let file = disk.open(STATE_FILE, OpenOptions::create())?;
    let mut buf = [0u8; 16];
    let n = file.read_at(0, &mut buf)?;
    if n < 16 {
        return Ok((file, 0, 0));
    }
    let acked = u64::from_le_bytes(buf[..8].try_into().expect("8 bytes"));
    let served = u64::from_le_bytes(buf[8..].try_into().expect("8 bytes"));
    Ok((file, acked, served))
}

impl Actor for PingpongNode {
    type Request = ();
    type Response = u64;

    fn on_start(&mut self, env: &mut Env<'_, u64>) -> Result<(), Halt> {
        if self.durable {
            let (file, acked, served) = read_state(&env.disk())?;
            self.file = Some(file);
            self.acked = acked;
            self.served = served;
        } else {
            (self.acked, self.served) = (0, 0);
        }
        env.net().listen(&Self::addr(self.id.0)).map_err(|e| Halt::Fatal(e.to_string()))?;
        // Dial after a pause, so that peers starting at the same instant listen by then.
        self.schedule_redial(env);
        Ok(())
    }

    fn on_timer(&mut self, env: &mut Env<'_, u64>, id: TimerId, _tag: u64) -> Result<(), Halt> {
        if self.redial == Some(id) {
            self.redial = None;
            self.dial(env);
        }
        Ok(())
    }

    fn on_net(&mut self, env: &mut Env<'_, u64>, event: NetEvent) -> Result<(), Halt> {
        match event {
            NetEvent::Connected { conn } if Some(conn) == self.out => {
                self.connected = true;
                Self::send(env, conn, PING, self.acked, Vec::with_capacity(9));
            }
            NetEvent::Frame { conn, data } => self.on_frame(env, conn, data)?,
            NetEvent::DialFailed { conn, .. } | NetEvent::Closed { conn, .. } => {
                self.lost(env, conn)
            }
            NetEvent::Connected { .. } | NetEvent::Accepted { .. } => {}
        }
        Ok(())
    }

    fn on_request(&mut self, env: &mut Env<'_, u64>, _request: ()) -> Result<(), Halt> {
        env.respond(self.acked);
        Ok(())
    }
}

/// What a pingpong run did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PingpongReport {
    pub seed: u64,
    pub nodes: u32,
    pub messages: u64,
    /// Events handled.
    pub events: u64,
    /// Virtual time at the end of the run.
    pub sim_time: Instant,
    pub trace_hash: u64,
    pub frames_delivered: u64,
    /// Faults in the swarm plan.
    pub faults: usize,
    /// Crashes and fatal halts recorded.
    pub halts: usize,
    /// Nodes that acknowledged all their messages.
    pub nodes_done: u32,
}

/// The virtual time span the swarm fault plan covers for `messages` messages.
pub fn fault_window(messages: u64) -> Duration {
    Duration::from_millis(20 + 3 * messages)
}

/// Builds a pingpong world of `nodes` nodes (ids `0..nodes`) with a swarm fault plan installed.
/// BUGGIFY is on; `keep_trace` keeps trace records for rendering.
pub fn build_pingpong(
    seed: u64,
    nodes: u32,
    messages: u64,
    keep_trace: bool,
) -> World<PingpongNode> {
    assert!(nodes > 0, "pingpong needs at least one node");
    let config = WorldConfig {
        keep_trace,
        buggify: crate::buggify::BuggifyConfig { enabled: true, ..Default::default() },
        ..WorldConfig::default()
    };
    let mut world = World::new(Seed(seed), config);
    for id in (0..nodes).map(NodeId) {
        world.add_node(id, move |id| PingpongNode::new(id, nodes, messages));
    }
    world.install_plan(&pingpong_plan(seed, nodes, messages));
    world
}

/// The swarm fault plan of a pingpong run.
pub fn pingpong_plan(seed: u64, nodes: u32, messages: u64) -> FaultPlan {
    let ids: Vec<NodeId> = (0..nodes).map(NodeId).collect();
    let window = fault_window(messages);
    let swarm =
        SwarmConfig { max_outage: Duration(window.as_nanos() / 4), ..SwarmConfig::default() };
    FaultPlan::swarm(Seed(seed), &ids, window, &swarm)
}

/// Runs pingpong for `seed` until the world is quiet (or a generous time limit) and reports.
pub fn run_pingpong(seed: u64, nodes: u32, messages: u64) -> PingpongReport {
    let mut world = build_pingpong(seed, nodes, messages, false);
    finish(&mut world, seed, nodes, messages)
}

/// Runs a built pingpong world to the end and reports.
pub fn finish(
    world: &mut World<PingpongNode>,
    seed: u64,
    nodes: u32,
    messages: u64,
) -> PingpongReport {
    // Generous: a node that spent the fault window crashing and pausing still has time to finish.
    let window = fault_window(messages);
    let limit = Instant::ZERO + window + window + window + Duration::from_secs(5);
    world.run_until_quiescent(limit);
    let ids = world.node_ids();
    let faults = world.installed_faults();
    PingpongReport {
        seed,
        nodes,
        messages,
        events: world.events(),
        sim_time: world.now(),
        trace_hash: world.trace_hash(),
        frames_delivered: world.net().stats().frames_delivered,
        faults,
        halts: world.halts().len(),
        nodes_done: ids.iter().filter(|&&id| world.node(id).is_some_and(|n| n.done())).count()
            as u32,
    }
}
