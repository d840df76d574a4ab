//! One run: a [`Plan`] executed on a simulated cluster with every oracle watching.
//!
//! Phases, all in virtual time:
//! 1. **faults and load** until `duration_ns`: plan actions apply at their times, workload
//!    operations queue on their clients, the raft-safety and storage oracles look at the
//!    cluster after every simulator step;
//! 2. **heal**: partitions and clogs removed, full disks emptied, misconfigured nodes given their
//!    right configuration (and data) back, foreign nodes stopped, every member restarted;
//! 3. **liveness**: within [`LIVENESS_BOUND`] a leader must be elected and a probe write
//!    acknowledged, and every member must catch up to it;
//! 4. **final reads**: every key is read linearizably, through the clients; then every member
//!    catches up with the leader again (within [`LIVENESS_BOUND`]): a disk fault armed before
//!    the heal may fire late and send a member back to its last durable state;
//! 5. **verdict**: linearizability of the history, durability, digests and store checks of all
//!    members (converged, so at one applied index), and whatever the continuous oracles found.
//!
//! The first failed property wins; panics in the code under test are caught and reported as
//! [`Property::Panic`].

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;

use raft::server::request::MemberRecord;
use raft::server::{ClientRequest, ClientResponse, ClusterSpec, OpResult, Request};
use sim::fault::Fault;
use sim::io::{Disk, OpenOptions};
use sim::time::{Duration, Instant};
use sim::world::WorldConfig;
use sim::{Halt, NodeId, Seed};

use crate::check::history::{Key, Value};
use crate::check::{self, Budget, History};
use crate::client::{key_bytes, parse_value, Clients};
use crate::cluster::{base_config, host, peer_url, Cluster, Observable, FOREIGN_TOKEN, TOKEN};
use crate::coverage::{Coverage, Situation};
use crate::oracle::cluster_id::ClusterIdOracle;
use crate::oracle::engine::EngineOracle;
use crate::oracle::protocol::ProtocolOracle;
use crate::oracle::raft_safety::RaftSafety;
use crate::oracle::storage::StorageOracle;
use crate::oracle::{durability, Property};
use crate::plan::{Action, BuggifyKnobs, Plan, TimedAction, WorkOp};
use crate::sm::MvccSm;
use moments::Moments;

mod actions;
mod data_dir;
mod heal;
mod leader_reads;
pub mod moments;
mod panics;
mod triggered;
mod verdict;

use data_dir::{foreign_image, read_tree, replace_tree};

/// Client processes in a run at least (more when its workload names more).
pub const CLIENTS: u32 = 5;
/// After healing, a leader and a committed write must appear within this bound.
pub const LIVENESS_BOUND: Duration = Duration::from_secs(30);
/// Search steps the linearizability checker may spend before answering "unknown" (the run is
/// then reported NOT CHECKED, never passed). Decided swarm histories need far fewer; the ones
/// that exhaust it are degenerate (a cluster that barely committed, hundreds of unknown
/// outcomes), where 20M steps cost seconds per run and still ended undecided: at 500k, 13 of
/// swarm's 200 first seeds are not checked (4 at 20M) and the sweep keeps >= 1000x real time.
pub const CHECK_STEPS: u64 = 500_000;
/// Request ids of the harness's own requests start here (clients count up from 1).
const ADMIN_IDS: u64 = 1 << 60;
/// The directories a node keeps its data in.
const DATA_DIRS: [&str; 3] =
    [raft::server::boot::WAL_DIR, raft::server::boot::SNAP_DIR, raft::server::boot::SM_DIR];

/// How to run.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Keep trace records so that the trace can be rendered (slower).
    pub keep_trace: bool,
}

/// The outcome of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    Fail { property: Property, detail: String },
}

impl Verdict {
    pub fn is_ok(&self) -> bool {
        matches!(self, Verdict::Ok)
    }

    /// The failed property, if any.
    pub fn property(&self) -> Option<Property> {
        match self {
            Verdict::Ok => None,
            Verdict::Fail { property, .. } => Some(*property),
        }
    }
}

/// Counters describing a run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunStats {
    pub ops: usize,
    pub ops_ok: usize,
    pub ops_failed: usize,
    pub ops_unknown: usize,
    pub restarts_checked: u64,
    pub digests_compared: u64,
    pub applied_entries: usize,
    pub terms_with_leader: usize,
    /// Members that detected damage to their own storage and stayed down (fail-stop).
    pub fail_stopped: Vec<u32>,
    /// The linearizability search ran out of budget (the verdict does not cover it).
    pub linearizability_unknown: bool,
}

/// Everything a run produced.
#[derive(Debug)]
pub struct RunReport {
    pub plan: Plan,
    pub verdict: Verdict,
    pub trace_hash: u64,
    /// Virtual time at the end of the run.
    pub sim_time: Duration,
    /// Simulator events handled.
    pub events: u64,
    pub history: History,
    pub stats: RunStats,
    /// Rendered trace (with `keep_trace`), one record per line.
    pub trace: Option<String>,
    /// How often each interesting situation happened (see [`crate::coverage`]).
    pub coverage: Coverage,
    /// How often each BUGGIFY site fired (sites that never fired are absent).
    pub buggify_fired: BTreeMap<&'static str, u64>,
}

impl RunReport {
    pub fn ok(&self) -> bool {
        self.verdict.is_ok()
    }
}

/// Runs `plan` on a cluster of MVCC stores ([`MvccSm`]).
pub fn run(plan: &Plan, opts: &RunOptions) -> RunReport {
    run_with::<MvccSm>(plan, opts)
}

/// Runs `plan` on a cluster of `S` state machines, catching panics of the code under test.
pub fn run_with<S: Observable>(plan: &Plan, opts: &RunOptions) -> RunReport {
    let _bug = sim::planted::Activation::new(plan.knobs.bug.map(|b| b.0));
    panics::install_hook();
    let caught = panic::catch_unwind(AssertUnwindSafe(|| Run::<S>::new(plan, opts).execute()));
    caught.unwrap_or_else(|payload| {
        let detail = panics::message(payload.as_ref());
        RunReport {
            plan: plan.clone(),
            verdict: Verdict::Fail { property: Property::Panic, detail },
            trace_hash: 0,
            sim_time: Duration(0),
            events: 0,
            history: crate::check::recorder::Recorder::new().finish(),
            stats: RunStats::default(),
            trace: None,
            coverage: Coverage::default(),
            buggify_fired: BTreeMap::new(),
        }
    })
}

/// A node restarted on purpose with a wrong identity: it must refuse to start.
#[derive(Debug)]
struct Refusal {
    node: u32,
    since: Instant,
    what: &'static str,
}

/// A harness request in flight.
#[derive(Debug)]
enum Admin {
    Add { node: u32 },
    Remove { node: u32 },
    Transfer,
    Probe,
}

struct Run<S: Observable> {
    plan: Plan,
    c: Cluster<S>,
    clients: Clients,
    safety: RaftSafety,
    storage: StorageOracle,
    /// Shared with the world's net and crash taps, which call it inside steps.
    protocol: Rc<RefCell<ProtocolOracle>>,
    cluster_id: ClusterIdOracle,
    engine: EngineOracle,
    failure: Option<(Property, String)>,
    admin: BTreeMap<u64, Admin>,
    next_admin: u64,
    clogged: BTreeSet<(u32, u32)>,
    disk_full: BTreeSet<u32>,
    /// Nodes whose stored bytes were damaged (bit rot): they may rightly refuse to start.
    rotted: BTreeSet<u32>,
    fail_stopped: Vec<u32>,
    healed_at: Instant,
    /// Misconfigured node -> its right configuration.
    correct: BTreeMap<u32, raft::server::NodeConfig>,
    /// Node -> its own data files, saved while it runs on foreign data.
    backups: BTreeMap<u32, Vec<(String, Vec<u8>)>>,
    refusals: Vec<Refusal>,
    /// Members being added: node -> member ID once known.
    adding: BTreeMap<u32, Option<u64>>,
    /// Members being removed: node -> member ID, until the removal is answered or seen applied.
    removing: BTreeMap<u32, u64>,
    /// Foreign node -> when it started.
    foreign_since: BTreeMap<u32, Instant>,
    probe_acked: bool,
    /// Nodes the oracles watch (everything but foreign members), kept in sync with the cluster.
    watched: Vec<u32>,
    serving: Vec<u32>,
    /// The buffer responses are drained into after every step (reused, see
    /// [`World::swap_responses`](sim::world::World::swap_responses)).
    responses: Vec<(NodeId, Instant, ClientResponse)>,
    /// Moments, triggers and coverage; shared with the world's probe and the taps.
    moments: Rc<RefCell<Moments>>,
    /// Nodes whose disks are tapped.
    tapped: BTreeSet<u32>,
    /// Actions the run scheduled itself (restarts after triggered crashes), sorted by time.
    later: Vec<TimedAction>,
    /// The newest leader seen: (term, node).
    last_leader: (u64, u32),
    /// Until when reads are aimed at a new leader ([`crate::plan::Knobs::leader_reads`]).
    route_until: Option<Instant>,
    /// Keys the workload uses.
    key_count: u8,
}

impl<S: Observable> Run<S> {
    fn new(plan: &Plan, opts: &RunOptions) -> Run<S> {
        let mut config = plan.knobs.env.world_config(opts.keep_trace);
        config.buggify = BuggifyKnobs::config(plan.knobs.buggify.as_ref());
        let mut c = Cluster::<S>::new(plan.seed, plan.nodes, &plan.knobs, config);
        for n in 1..=plan.nodes {
            let drift_ppm = plan.knobs.env.drift_of(n);
            if drift_ppm != 0 {
                c.w.apply(&Fault::ClockSkew { node: n, skew_ns: 0, drift_ppm });
            }
        }
        // Every workload operation is invoked at least once (retries and final reads are few).
        let ops = plan.workload.len() + usize::from(u8::MAX);
        let count = plan.workload.iter().map(|o| o.client + 1).max().unwrap_or(0).max(CLIENTS);
        let clients = Clients::with_capacity(count, Seed(plan.seed).stream("dst.clients"), ops);
        let mut run = Run {
            plan: plan.clone(),
            c,
            clients,
            safety: RaftSafety::new(),
            storage: StorageOracle::new(),
            protocol: Rc::new(RefCell::new(ProtocolOracle::new())),
            cluster_id: ClusterIdOracle::new(),
            engine: EngineOracle::new(),
            failure: None,
            admin: BTreeMap::new(),
            next_admin: ADMIN_IDS,
            clogged: BTreeSet::new(),
            disk_full: BTreeSet::new(),
            rotted: BTreeSet::new(),
            fail_stopped: Vec::new(),
            healed_at: Instant(0),
            correct: BTreeMap::new(),
            backups: BTreeMap::new(),
            refusals: Vec::new(),
            adding: BTreeMap::new(),
            removing: BTreeMap::new(),
            foreign_since: BTreeMap::new(),
            probe_acked: false,
            watched: Vec::new(),
            serving: Vec::new(),
            responses: Vec::new(),
            moments: Rc::new(RefCell::new(Moments::new())),
            tapped: BTreeSet::new(),
            later: Vec::new(),
            last_leader: (0, 0),
            route_until: None,
            key_count: plan.workload.iter().map(|o| o.op.key() + 1).max().unwrap_or(0),
        };
        run.install_taps();
        run.refresh_roles();
        run
    }

    /// Lets the protocol oracle and the moments watch see every frame sent and every crash, as
    /// they happen, and the watch every handler, actor record and disk operation.
    fn install_taps(&mut self) {
        for n in self.c.nodes() {
            self.protocol.borrow_mut().watch(n, self.c.w.disk(NodeId(n)));
        }
        let (p, m) = (Rc::clone(&self.protocol), Rc::clone(&self.moments));
        self.c.w.net_mut().tap(Box::new(move |sent| {
            p.borrow_mut().on_send(sent);
            m.borrow_mut().on_send(&sent);
        }));
        let (p, m) = (Rc::clone(&self.protocol), Rc::clone(&self.moments));
        self.c.w.on_crash(Box::new(move |node, _| {
            p.borrow_mut().on_crash(node.0);
            m.borrow_mut().on_crash(node.0);
        }));
        let m = Rc::clone(&self.moments);
        self.c.w.on_probe(Box::new(move |probe| match probe {
            sim::world::Probe::Handler { node } => m.borrow_mut().on_handler(node.0),
            sim::world::Probe::Record { node, kind, .. } => m.borrow_mut().on_record(node.0, kind),
        }));
    }

    /// Taps the disks of nodes not tapped yet (nodes join at run time).
    fn tap_disks(&mut self) {
        for n in self.c.nodes() {
            if !self.tapped.insert(n) {
                continue;
            }
            let disk = self.c.w.disk(NodeId(n));
            self.moments.borrow_mut().watch(n, Rc::downgrade(&disk));
            let m = Rc::clone(&self.moments);
            disk.tap(Box::new(move |op| m.borrow_mut().on_disk(n, op)));
        }
    }

    fn refresh_roles(&mut self) {
        self.tap_disks();
        for n in self.c.nodes() {
            self.protocol.borrow_mut().set_outsider(n, self.c.is_outsider(n));
        }
        self.watched = self.c.nodes().into_iter().filter(|n| !self.c.is_outsider(*n)).collect();
        self.serving = self.c.serving_members();
    }

    fn execute(mut self) -> RunReport {
        self.faults_and_load();
        if self.failure.is_none() {
            self.check_refusals();
        }
        if self.failure.is_none() {
            self.heal();
            self.liveness();
        }
        if self.failure.is_none() {
            self.final_reads();
            // The members converged before the final reads, but a disk fault armed earlier may
            // have fired since (it fires at the member's k-th disk operation from when it was
            // armed, whenever that comes): a member that crashed in the last store commit comes
            // back at a lower applied index and needs a leader to learn the commit index again.
            // The digests below compare members at one applied index, so converge again first.
            let deadline = self.c.w.now() + LIVENESS_BOUND;
            self.catch_up(deadline, "after the final reads");
        }
        self.finish()
    }

    fn fail(&mut self, property: Property, detail: String) {
        if self.failure.is_none() {
            self.failure = Some((property, detail));
        }
    }

    // ----- driving the world -----

    /// Steps the world up to `until`, feeding responses to clients and oracles after each step.
    fn drive(&mut self, until: Instant) {
        loop {
            if self.failure.is_some() {
                return;
            }
            match self.c.w.next_event_time() {
                Some(t) if t <= until => {
                    if let Err(e) = panics::catch(|| self.c.w.step()) {
                        self.stepped_into_a_panic(e);
                        return;
                    }
                    self.after_step();
                }
                _ => {
                    self.c.w.run_until(until);
                    return;
                }
            }
        }
    }

    /// A handler panicked (a failed assertion, most likely): the run ends here, named with the
    /// node, time and event the panic happened in.
    fn stepped_into_a_panic(&mut self, message: String) {
        let node = self
            .c
            .w
            .last_stepped_node()
            .map_or("the world".to_string(), |n| format!("node {}", n.0));
        let detail =
            format!("{node} at {} (event {}): {message}", self.c.w.now(), self.c.w.events());
        self.fail(Property::Assertion, detail);
    }

    fn after_step(&mut self) {
        self.moments.borrow_mut().end_step();
        let mut responses = std::mem::take(&mut self.responses);
        self.c.w.swap_responses(&mut responses);
        if !responses.is_empty() {
            let now = self.c.w.now();
            {
                let mut m = self.moments.borrow_mut();
                for (node, _, r) in &responses {
                    if r.id < ADMIN_IDS {
                        m.answered(node.0);
                    }
                }
            }
            let admin = responses.iter().any(|(_, _, r)| r.id >= ADMIN_IDS);
            if admin {
                for (_, _, r) in responses.extract_if(.., |(_, _, r)| r.id >= ADMIN_IDS) {
                    self.on_admin(r);
                }
            }
            self.check_reads(&responses);
            self.clients.absorb(now, responses.drain(..));
            self.poll_clients();
        }
        self.responses = responses;
        if self.moments.borrow().has_fired() {
            self.finish_fired();
        }
        // Only the node whose event ran can have changed (a world-wide event: any of them).
        let changed = self.c.w.last_stepped_node().map(|n| n.0);
        if let Some(n) = changed {
            self.watch_leadership(n);
        }
        self.cluster_id.observe_cluster(&self.c, changed);
        if let Some(v) = self.cluster_id.violation() {
            let v = v.to_string();
            self.fail(Property::ClusterId, v);
        }
        for n in crate::oracle::to_look_at(&self.watched, changed) {
            if let Some(r) = self.c.running(n) {
                self.safety.observe(n, r);
            }
        }
        self.storage.observe(&self.c, &self.serving, changed);
        {
            let mut p = self.protocol.borrow_mut();
            p.after_step(&self.c, changed);
            self.clients.commit_floor = p.max_commit();
        }
        let protocol = self.protocol.borrow().violation().cloned();
        if let Some((property, v)) = protocol {
            self.fail(property, v);
        }
        self.engine.observe(&self.c, &self.serving, changed);
        if let Some(v) = self.engine.violation() {
            let v = v.to_string();
            self.fail(Property::Engine, v);
        }
        if let Some(v) = self.safety.violation() {
            let v = v.to_string();
            self.fail(Property::RaftSafety, v);
        }
        if let Some(v) = self.storage.violation() {
            let v = v.to_string();
            self.fail(Property::Storage, v);
        }
    }

    /// Successful linearizable reads among `responses` answered at a read index the rules allow.
    fn check_reads(&mut self, responses: &[(NodeId, Instant, ClientResponse)]) {
        for (node, _, r) in responses {
            if r.result.is_err() {
                continue;
            }
            if let Some(floor) = self.clients.read_floor(r.id) {
                self.protocol.borrow_mut().check_read(&self.c, node.0, r.id, floor);
            }
        }
    }

    fn faults_and_load(&mut self) {
        let end = Instant(self.plan.duration_ns);
        let actions = std::mem::take(&mut self.plan.actions);
        let workload = std::mem::take(&mut self.plan.workload);
        let (mut ai, mut wi) = (0, 0);
        loop {
            let now = self.c.w.now();
            while ai < actions.len() && Instant(actions[ai].at) <= now {
                self.apply(&actions[ai].action);
                ai += 1;
            }
            while self.later.first().is_some_and(|a| Instant(a.at) <= now) {
                let a = self.later.remove(0);
                self.apply(&a.action);
            }
            while wi < workload.len() && Instant(workload[wi].at) <= now {
                self.clients.enqueue(workload[wi].client, workload[wi].op.clone());
                wi += 1;
            }
            self.poll_clients();
            if now >= end || self.failure.is_some() {
                break;
            }
            let mut next = end;
            if let Some(a) = actions.get(ai) {
                next = next.min(Instant(a.at));
            }
            if let Some(a) = self.later.first() {
                next = next.min(Instant(a.at));
            }
            if let Some(o) = workload.get(wi) {
                next = next.min(Instant(o.at));
            }
            if let Some(t) = self.clients.next_wakeup() {
                next = next.min(t.max(now));
            }
            self.drive(next);
        }
        self.moments.borrow_mut().disarm_all();
        self.end_fault_phase_scheduling();
        self.plan.actions = actions;
        self.plan.workload = workload;
    }

    /// Schedules `action` at `at` (after the actions already scheduled for that time).
    fn schedule(&mut self, at: Instant, action: Action) {
        let i = self.later.partition_point(|a| a.at <= at.0);
        self.later.insert(i, TimedAction { at: at.0, action });
    }

    /// Counts a situation.
    fn hit(&self, s: Situation) {
        self.moments.borrow_mut().coverage.hit(s);
    }
}
