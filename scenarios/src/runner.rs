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
//! 4. **final reads**: every key is read linearizably, through the clients;
//! 5. **verdict**: linearizability of the history, durability, digests and store checks of all
//!    members, and whatever the continuous oracles found.
//!
//! The first failed property wins; panics in the code under test are caught and reported as
//! [`Property::Panic`].

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
use crate::check::{self, Budget, History, RegisterModel};
use crate::client::{key_bytes, parse_value, Clients};
use crate::cluster::{base_config, host, peer_url, Cluster, Observable, FOREIGN_TOKEN, TOKEN};
use crate::oracle::raft_safety::RaftSafety;
use crate::oracle::storage::StorageOracle;
use crate::oracle::{durability, Property};
use crate::plan::{Action, Plan, WorkOp};
use crate::sm::MvccSm;

/// Client processes in every run.
pub const CLIENTS: u32 = 5;
/// After healing, a leader and a committed write must appear within this bound.
pub const LIVENESS_BOUND: Duration = Duration::from_secs(30);
/// Search steps the linearizability checker may spend before answering "unknown".
pub const CHECK_STEPS: u64 = 20_000_000;
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
    let caught = panic::catch_unwind(AssertUnwindSafe(|| Run::<S>::new(plan, opts).execute()));
    caught.unwrap_or_else(|payload| {
        let detail = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "non-string panic payload".into());
        RunReport {
            plan: plan.clone(),
            verdict: Verdict::Fail { property: Property::Panic, detail },
            trace_hash: 0,
            sim_time: Duration(0),
            events: 0,
            history: crate::check::recorder::Recorder::new().finish(),
            stats: RunStats::default(),
            trace: None,
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
    failure: Option<(Property, String)>,
    admin: BTreeMap<u64, Admin>,
    next_admin: u64,
    clogged: BTreeSet<(u32, u32)>,
    disk_full: BTreeSet<u32>,
    /// Misconfigured node -> its right configuration.
    correct: BTreeMap<u32, raft::server::NodeConfig>,
    /// Node -> its own data files, saved while it runs on foreign data.
    backups: BTreeMap<u32, Vec<(String, Vec<u8>)>>,
    refusals: Vec<Refusal>,
    /// Members being added: node -> member ID once known.
    adding: BTreeMap<u32, Option<u64>>,
    /// Foreign node -> when it started.
    foreign_since: BTreeMap<u32, Instant>,
    probe_acked: bool,
    /// Nodes the oracles watch (everything but foreign members), kept in sync with the cluster.
    watched: Vec<u32>,
    serving: Vec<u32>,
}

impl<S: Observable> Run<S> {
    fn new(plan: &Plan, opts: &RunOptions) -> Run<S> {
        let config = WorldConfig { keep_trace: opts.keep_trace, ..WorldConfig::default() };
        let c = Cluster::<S>::new(plan.seed, plan.nodes, &plan.knobs, config);
        let clients = Clients::new(CLIENTS, Seed(plan.seed).stream("dst.clients"));
        let mut run = Run {
            plan: plan.clone(),
            c,
            clients,
            safety: RaftSafety::new(),
            storage: StorageOracle::new(),
            failure: None,
            admin: BTreeMap::new(),
            next_admin: ADMIN_IDS,
            clogged: BTreeSet::new(),
            disk_full: BTreeSet::new(),
            correct: BTreeMap::new(),
            backups: BTreeMap::new(),
            refusals: Vec::new(),
            adding: BTreeMap::new(),
            foreign_since: BTreeMap::new(),
            probe_acked: false,
            watched: Vec::new(),
            serving: Vec::new(),
        };
        run.refresh_roles();
        run
    }

    fn refresh_roles(&mut self) {
        self.watched = self.c.nodes().into_iter().filter(|n| !self.c.foreign.contains(n)).collect();
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
                    self.c.w.step();
                    self.after_step();
                }
                _ => {
                    self.c.w.run_until(until);
                    return;
                }
            }
        }
    }

    fn after_step(&mut self) {
        let responses = self.c.w.take_responses();
        if !responses.is_empty() {
            let now = self.c.w.now();
            let (admin, client): (Vec<_>, Vec<_>) =
                responses.into_iter().partition(|(_, _, r)| r.id >= ADMIN_IDS);
            for (_, _, r) in admin {
                self.on_admin(r);
            }
            self.clients.absorb(now, client);
            self.clients.poll(&mut self.c);
        }
        for i in 0..self.watched.len() {
            let n = self.watched[i];
            if let Some(r) = self.c.running(n) {
                self.safety.observe(n, r);
            }
        }
        self.storage.observe(&self.c, &self.serving);
        if let Some(v) = self.safety.violation() {
            let v = v.to_string();
            self.fail(Property::RaftSafety, v);
        }
        if let Some(v) = self.storage.violation() {
            let v = v.to_string();
            self.fail(Property::Storage, v);
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
            while wi < workload.len() && Instant(workload[wi].at) <= now {
                self.clients.enqueue(workload[wi].client, workload[wi].op.clone());
                wi += 1;
            }
            self.clients.poll(&mut self.c);
            if now >= end || self.failure.is_some() {
                break;
            }
            let mut next = end;
            if let Some(a) = actions.get(ai) {
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
        self.plan.actions = actions;
        self.plan.workload = workload;
    }

    // ----- actions -----

    fn apply(&mut self, action: &Action) {
        let now = self.c.w.now();
        match action {
            Action::Sim { fault } => self.apply_fault(fault),
            Action::PowerLoss => {
                for n in self.c.nodes() {
                    self.c.w.apply(&Fault::Crash { node: n });
                }
            }
            Action::CrashLeader => {
                if let Some(l) = self.c.leader() {
                    self.c.w.apply(&Fault::Crash { node: l });
                }
            }
            Action::IsolateLeader => {
                if let Some(l) = self.c.leader() {
                    self.c.w.apply(&Fault::Isolate { node: l });
                }
            }
            Action::TransferLeader => self.transfer_leader(),
            Action::WrongToken { node } => {
                if self.can_misconfigure(*node) {
                    let mut cfg = self.c.config(*node);
                    self.correct.insert(*node, cfg.clone());
                    if let ClusterSpec::Bootstrap { token, .. } = &mut cfg.cluster {
                        *token = "dst-wrong-token".into();
                    }
                    self.misconfigure(*node, cfg, "a wrong cluster token", now);
                }
            }
            Action::ForeignData { node } => {
                if self.can_misconfigure(*node) {
                    self.foreign_data(*node, now);
                }
            }
            Action::ForeignMember => self.foreign_member(now),
            Action::AddMember => self.add_member(),
            Action::RemoveMember => self.remove_member(),
            Action::RestartAll => {
                self.c.w.apply(&Fault::Heal);
                for n in self.serving.clone() {
                    if !self.c.is_up(n) {
                        self.c.w.apply(&Fault::Restart { node: n });
                    }
                }
            }
        }
    }

    fn apply_fault(&mut self, fault: &Fault) {
        let known = fault.node().is_none_or(|n| self.c.nodes().contains(&n.0));
        if !known {
            return;
        }
        // Faults aimed at nodes the harness holds down on purpose would undo the scenario.
        if let Some(n) = fault.node() {
            if self.c.misconfigured.contains(&n.0) || self.c.removed.contains(&n.0) {
                return;
            }
        }
        match fault {
            Fault::Clog { a, b } => {
                self.clogged.insert((*a, *b));
            }
            Fault::Unclog { a, b } => {
                self.clogged.remove(&(*a, *b));
            }
            Fault::DiskFull { node, capacity } => {
                if capacity.is_some() {
                    self.disk_full.insert(*node);
                } else {
                    self.disk_full.remove(node);
                }
            }
            _ => {}
        }
        self.c.w.apply(fault);
    }

    fn send_admin(&mut self, node: u32, request: Request, what: Admin) {
        let id = self.next_admin;
        self.next_admin += 1;
        self.admin.insert(id, what);
        self.c.w.request(NodeId(node), ClientRequest { id, request });
    }

    fn on_admin(&mut self, r: ClientResponse) {
        let Some(what) = self.admin.remove(&r.id) else { return };
        match (what, r.result) {
            (Admin::Add { node }, Ok(OpResult::Members { member, .. })) => {
                self.adding.insert(node, Some(member));
                self.start_added(node, member);
            }
            (Admin::Remove { node }, Ok(OpResult::Members { .. })) => {
                self.c.removed.insert(node);
                self.refresh_roles();
            }
            (Admin::Probe, Ok(_)) => self.probe_acked = true,
            _ => {}
        }
    }

    fn transfer_leader(&mut self) {
        let Some(l) = self.c.leader() else { return };
        let members: Vec<u32> = self.serving.clone();
        let next = members.iter().copied().find(|n| *n > l).or_else(|| members.first().copied());
        let Some(to) = next.filter(|n| *n != l) else { return };
        let Some(id) = self.c.running(to).map(|r| r.id()) else { return };
        self.send_admin(l, Request::TransferLeader { to: id }, Admin::Transfer);
    }

    fn can_misconfigure(&self, node: u32) -> bool {
        self.serving.contains(&node) && self.c.nodes().contains(&node)
    }

    fn misconfigure(
        &mut self,
        node: u32,
        cfg: raft::server::NodeConfig,
        what: &'static str,
        now: Instant,
    ) {
        self.c.w.apply(&Fault::Crash { node });
        self.c.set_config(node, cfg);
        self.c.misconfigured.insert(node);
        self.refresh_roles();
        self.refusals.push(Refusal { node, since: now, what });
        self.c.w.apply(&Fault::Restart { node });
    }

    /// Replaces `node`'s data with a foreign single-member cluster's and restarts it.
    fn foreign_data(&mut self, node: u32, now: Instant) {
        let image = foreign_image::<S>(self.plan.seed, node);
        self.c.w.apply(&Fault::Crash { node });
        let disk: Rc<dyn Disk> = self.c.w.disk(NodeId(node));
        let own = read_tree(&*disk);
        replace_tree(&*disk, &image);
        self.backups.insert(node, own);
        let cfg = self.c.config(node);
        self.correct.insert(node, cfg.clone());
        self.misconfigure(node, cfg, "another cluster's data directory", now);
    }

    /// Starts a member of another cluster next to this one; it dials our members.
    fn foreign_member(&mut self, now: Instant) {
        let Some(f) = self.free_node() else { return };
        let mut members: Vec<u32> = self.serving.iter().copied().take(2).collect();
        members.push(f);
        let ic: Vec<String> =
            members.iter().map(|n| format!("{}={}", host(*n), peer_url(*n))).collect();
        let spec =
            ClusterSpec::Bootstrap { initial_cluster: ic.join(","), token: FOREIGN_TOKEN.into() };
        let cfg = base_config(&host(f), spec, self.c.knobs());
        self.c.foreign.insert(f);
        self.foreign_since.insert(f, now);
        self.c.add_node(f, cfg);
        self.refresh_roles();
    }

    fn free_node(&self) -> Option<u32> {
        let used = self.c.nodes();
        (1..=crate::plan::MAX_NODES).find(|n| !used.contains(n))
    }

    fn add_member(&mut self) {
        let Some(l) = self.c.leader() else { return };
        let Some(n) = self.free_node() else { return };
        if !self.adding.is_empty() {
            return; // one membership change at a time
        }
        self.adding.insert(n, None);
        self.send_admin(
            l,
            Request::AddMember { peer_urls: vec![peer_url(n)] },
            Admin::Add { node: n },
        );
    }

    /// Starts added member `node` (raft ID `member`) with the current membership.
    fn start_added(&mut self, node: u32, member: u64) {
        if self.c.nodes().contains(&node) {
            return;
        }
        let Some(l) = self.c.leader().or_else(|| self.serving.first().copied()) else { return };
        let Some(r) = self.c.running(l) else { return };
        let m = r.membership();
        let records: Vec<MemberRecord> = m.records();
        let cluster_id = m.cluster().id().0;
        let spec =
            ClusterSpec::Join { cluster_id, token: TOKEN.into(), members: records, me: member };
        let cfg = base_config(&host(node), spec, self.c.knobs());
        self.c.add_node(node, cfg);
        self.c.members.insert(node);
        self.adding.remove(&node);
        self.refresh_roles();
    }

    fn remove_member(&mut self) {
        let Some(l) = self.c.leader() else { return };
        if self.serving.len() <= 3 {
            return; // keep a cluster that tolerates a failure
        }
        let victim = self.serving.iter().rev().copied().find(|n| *n != l);
        let Some(v) = victim else { return };
        let Some(id) = self.c.running(v).map(|r| r.id()) else { return };
        self.send_admin(l, Request::RemoveMember { id }, Admin::Remove { node: v });
    }

    // ----- checks at the end of the fault phase -----

    fn check_refusals(&mut self) {
        let halts = self.c.w.halts().to_vec();
        for r in &self.refusals {
            let refused = halts.iter().any(|(at, n, h)| {
                *n == NodeId(r.node) && *at >= r.since && matches!(h, Halt::Fatal(_))
            });
            if !refused && self.c.misconfigured.contains(&r.node) {
                let detail = format!(
                    "node {} restarted with {} at {} was not refused (it is {:?})",
                    r.node,
                    r.what,
                    r.since,
                    self.c.w.status(NodeId(r.node))
                );
                self.fail(Property::ClusterId, detail);
                return;
            }
        }
        let now = self.c.w.now();
        for (&f, &since) in &self.foreign_since {
            let foreign_id = self.c.running(f).map(|r| r.id());
            for &m in &self.serving {
                let Some(r) = self.c.running(m) else { continue };
                if foreign_id.is_some_and(|id| r.voters().contains(&id)) {
                    let detail = format!("foreign node {f} became a voter on member node {m}");
                    self.failure.get_or_insert((Property::ClusterId, detail));
                    return;
                }
                let stats = r.transport().stats();
                // At most one log line per refused peer per second, plus the first.
                let window = now.saturating_since(since).as_millis() / 1000 + 2;
                if stats.log_lines > window * 2 {
                    let detail = format!(
                        "member node {m} wrote {} refusal log lines in {window} s: not rate-limited",
                        stats.log_lines
                    );
                    self.failure.get_or_insert((Property::ClusterId, detail));
                    return;
                }
            }
            if let Some(r) = self.c.running(f) {
                for k in 0..self.keys() {
                    if r.state_machine().value(&key_bytes(k)).is_some() {
                        let detail = format!("foreign node {f} holds this cluster's key k{k}");
                        self.failure.get_or_insert((Property::ClusterId, detail));
                        return;
                    }
                }
            }
        }
    }

    fn keys(&self) -> u8 {
        self.plan.workload.iter().map(|o| o.op.key() + 1).max().unwrap_or(0)
    }

    // ----- heal, liveness, final reads -----

    fn heal(&mut self) {
        self.c.w.apply(&Fault::Heal);
        for (a, b) in std::mem::take(&mut self.clogged) {
            self.c.w.apply(&Fault::Unclog { a, b });
        }
        for n in std::mem::take(&mut self.disk_full) {
            self.c.w.apply(&Fault::DiskFull { node: n, capacity: None });
        }
        for f in self.c.foreign.clone() {
            self.c.w.stop(NodeId(f));
        }
        for (n, cfg) in std::mem::take(&mut self.correct) {
            self.c.w.apply(&Fault::Crash { node: n });
            if let Some(own) = self.backups.remove(&n) {
                replace_tree(&*self.c.w.disk(NodeId(n)), &own);
            }
            self.c.set_config(n, cfg);
            self.c.misconfigured.remove(&n);
        }
        self.refresh_roles();
        for n in self.serving.clone() {
            if !self.c.is_up(n) {
                self.c.w.apply(&Fault::Restart { node: n });
            }
        }
        // A member whose addition committed but whose answer was lost still has to start.
        for (node, member) in std::mem::take(&mut self.adding) {
            let known = member.or_else(|| self.member_with_url(&peer_url(node)));
            if let Some(id) = known {
                self.start_added(node, id);
            }
        }
    }

    fn member_with_url(&self, url: &str) -> Option<u64> {
        let l = self.c.leader().or_else(|| self.serving.first().copied())?;
        let r = self.c.running(l)?;
        r.membership()
            .records()
            .into_iter()
            .find(|m| m.peer_urls.iter().any(|u| u == url))
            .map(|m| m.id)
    }

    fn liveness(&mut self) {
        let healed = self.c.w.now();
        let deadline = healed + LIVENESS_BOUND;
        let slice = Duration::from_millis(100);
        let mut probe_sent: Option<Instant> = None;
        while !self.probe_acked {
            if self.failure.is_some() {
                return;
            }
            let now = self.c.w.now();
            if now >= deadline {
                let leader = self.c.leader();
                let detail = format!(
                    "{} s after healing: leader {leader:?}, no write committed (up: {:?})",
                    LIVENESS_BOUND.as_millis() / 1000,
                    self.serving.iter().filter(|n| self.c.is_up(**n)).collect::<Vec<_>>()
                );
                self.fail(Property::Liveness, detail);
                return;
            }
            let stale =
                probe_sent.is_none_or(|t| now.saturating_since(t) >= Duration::from_secs(1));
            if stale {
                if let Some(l) = self.c.leader() {
                    let put = Request::Put { key: b"probe".to_vec(), value: b"p".to_vec() };
                    self.send_admin(l, put, Admin::Probe);
                    probe_sent = Some(now);
                }
            }
            self.drive(now + slice);
        }
        // Every member catches up with the leader.
        loop {
            if self.failure.is_some() {
                return;
            }
            let now = self.c.w.now();
            let applied: Vec<(u32, Option<u64>)> = self
                .serving
                .iter()
                .map(|n| (*n, self.c.running(*n).map(|r| r.applied_index())))
                .collect();
            let hi = self.c.leader().and_then(|l| self.c.running(l)).map(|r| r.commit_index());
            let converged = hi.is_some_and(|hi| applied.iter().all(|(_, a)| *a == Some(hi)));
            if converged {
                return;
            }
            if now >= deadline {
                let detail = format!(
                    "members did not converge {} s after healing: leader commit {hi:?}, applied \
                     {applied:?}",
                    LIVENESS_BOUND.as_millis() / 1000
                );
                self.fail(Property::Liveness, detail);
                return;
            }
            self.drive(now + slice);
        }
    }

    fn final_reads(&mut self) {
        for k in 0..self.keys() {
            self.clients.enqueue(u32::from(k), WorkOp::Get { key: k });
        }
        let deadline = self.c.w.now() + LIVENESS_BOUND;
        while !self.clients.idle() && self.c.w.now() < deadline && self.failure.is_none() {
            self.clients.poll(&mut self.c);
            let now = self.c.w.now();
            let next = self.clients.next_wakeup().unwrap_or(now + Duration::from_millis(10));
            self.drive(next.max(now + Duration::from_millis(1)).min(deadline));
        }
    }

    // ----- verdict -----

    fn final_state_checks(&mut self) {
        let mut digests: Vec<(u32, u64)> = Vec::new();
        for &n in &self.serving {
            let Some(r) = self.c.running(n) else { continue };
            let sm = r.state_machine();
            if let Err(e) = sm.self_check() {
                self.failure.get_or_insert((Property::Storage, format!("node {n}: {e}")));
                return;
            }
            match sm.digest() {
                Ok(d) => digests.push((n, d)),
                Err(e) => {
                    self.failure.get_or_insert((Property::Storage, format!("node {n}: {e}")));
                    return;
                }
            }
        }
        if let Some(&(first, d)) = digests.first() {
            if let Some(&(other, e)) = digests.iter().find(|(_, e)| *e != d) {
                let detail = format!(
                    "converged members disagree: node {first} digest {d:016x}, node {other} \
                     digest {e:016x}"
                );
                self.failure.get_or_insert((Property::Storage, detail));
            }
        }
    }

    fn finals(&self) -> BTreeMap<Key, Value> {
        let mut out = BTreeMap::new();
        let Some(r) = self.c.leader().and_then(|l| self.c.running(l)) else { return out };
        for k in 0..self.keys() {
            let v = match r.state_machine().value(&key_bytes(k)) {
                None => Value::Nil,
                Some(bytes) => match parse_value(&bytes) {
                    Some(v) => Value::Int(v as i64),
                    None => Value::Str(String::from_utf8_lossy(&bytes).into_owned()),
                },
            };
            out.insert(Key::Int(i64::from(k)), v);
        }
        out
    }

    fn finish(mut self) -> RunReport {
        if self.failure.is_none() {
            self.final_state_checks();
        }
        let finals = if self.failure.is_none() { Some(self.finals()) } else { None };
        self.clients.abandon();
        let history = std::mem::replace(&mut self.clients, Clients::new(1, Seed(0).stream("-")))
            .into_history();
        let mut stats = RunStats {
            ops: history.len(),
            restarts_checked: self.storage.checked,
            digests_compared: self.storage.compared,
            applied_entries: self.safety.applied_entries(),
            terms_with_leader: self.safety.terms_with_leader(),
            ..RunStats::default()
        };
        for op in history.ops() {
            match op.outcome {
                check::Outcome::Ok => stats.ops_ok += 1,
                check::Outcome::Fail => stats.ops_failed += 1,
                _ => stats.ops_unknown += 1,
            }
        }
        if let Some(finals) = finals {
            if let Err(e) = durability::check(&history, &finals) {
                self.fail(Property::Durability, e);
            }
        }
        if self.failure.is_none() {
            let mut budget = Budget::steps(CHECK_STEPS);
            match check::linearizability::check(&RegisterModel, &history, &mut budget) {
                Ok(report) => match report.verdict {
                    check::linearizability::Verdict::Linearizable => {}
                    check::linearizability::Verdict::Unknown { .. } => {
                        stats.linearizability_unknown = true
                    }
                    check::linearizability::Verdict::NotLinearizable(failures) => {
                        let f = &failures[0];
                        let detail = format!(
                            "key {}: no linearization; stuck at state {} before op {:?}",
                            f.key,
                            f.state,
                            history.get(f.blocked)
                        );
                        self.fail(Property::Linearizability, detail);
                    }
                },
                Err(e) => self.fail(Property::Linearizability, format!("history: {e}")),
            }
        }
        let verdict = match self.failure.take() {
            None => Verdict::Ok,
            Some((property, detail)) => Verdict::Fail { property, detail },
        };
        let w = &self.c.w;
        RunReport {
            plan: self.plan.clone(),
            verdict,
            trace_hash: w.trace_hash(),
            sim_time: Duration(w.now().0),
            events: w.events(),
            history,
            stats,
            trace: w.trace().keeps_records().then(|| w.trace().render(usize::MAX)),
        }
    }
}

/// Every data file of a node: (path, bytes).
fn read_tree(disk: &dyn Disk) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for dir in DATA_DIRS {
        let Ok(names) = disk.list(dir) else { continue };
        for name in names {
            let path = format!("{dir}/{name}");
            let Ok(f) = disk.open(&path, OpenOptions::read()) else { continue };
            let len = f.len().unwrap_or(0) as usize;
            let mut buf = vec![0; len];
            if f.read_exact_at(0, &mut buf).is_ok() {
                out.push((path, buf));
            }
        }
    }
    out
}

/// Replaces every data file of a node by `files`, durably.
fn replace_tree(disk: &dyn Disk, files: &[(String, Vec<u8>)]) {
    for dir in DATA_DIRS {
        if let Ok(names) = disk.list(dir) {
            for name in names {
                let _ = disk.remove(&format!("{dir}/{name}"));
            }
        }
        let _ = disk.create_dir_all(dir);
    }
    for (path, bytes) in files {
        if let Ok(f) = disk.open(path, OpenOptions::create()) {
            let _ = f.write_at(0, bytes);
            let _ = f.sync();
        }
    }
    for dir in DATA_DIRS {
        let _ = disk.sync_dir(dir);
    }
    let _ = disk.sync_dir("member");
}

/// The data directory of a single-member foreign cluster after a few writes.
fn foreign_image<S: Observable>(seed: u64, node: u32) -> Vec<(String, Vec<u8>)> {
    let knobs = crate::plan::Knobs::default();
    let mut f = Cluster::<S>::new(seed ^ 0xf0f0, 1, &knobs, WorldConfig::default());
    let spec = ClusterSpec::Bootstrap {
        initial_cluster: format!("{}={}", host(1), peer_url(1)),
        token: FOREIGN_TOKEN.into(),
    };
    let _ = node;
    f.set_config(1, base_config(&host(1), spec, &knobs));
    f.w.run_until(Instant(0) + Duration::from_secs(3));
    for i in 0..5u64 {
        let put = Request::Put { key: format!("foreign{i}").into_bytes(), value: b"x".to_vec() };
        f.w.request(NodeId(1), ClientRequest { id: i + 1, request: put });
    }
    f.w.run_until(Instant(0) + Duration::from_secs(4));
    f.w.stop(NodeId(1));
    read_tree(&*f.w.disk(NodeId(1)))
}
