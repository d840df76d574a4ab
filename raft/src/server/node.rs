//! [`Node`]: the server as a [`sim::Actor`]. Every handler does its work, then drives the
//! Ready loop ([`super::ready`]) until raft has nothing more to hand out.

use std::rc::Rc;

use net::ids::{ClusterId, MemberId};
use net::member::Member;
use net::refusal::{Refusal, RefusalCode};
use net::transport::{Transport, TransportConfig, TransportEvent, TIMER_TAG};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sim::io::{Disk, NetEvent};
use sim::{planted, Actor, Env, Halt, TimerId};

use crate::buggify;
use crate::core::{
    Codec, ConfChange, ConfChangeType, ConfState, Config, MemoryStorage, Message, RawNode, NONE,
};

use super::boot::{boot, sm_halt};
use super::config::NodeConfig;
use super::membership::{record_of, Membership};
use super::metrics::Metrics;
use super::request::{
    read_ctx, ClientRequest, ClientResponse, ConfContext, MemberRecord, Op, Origin, Proposal,
    Request, ServerError,
};
use super::state_machine::{SmError, StateMachine};
use super::wait::WaitRegistry;

/// The tag of the raft tick timer.
pub const TICK_TAG: u64 = 0x7365_7276_5f74_6963; // "serv_tic"

/// Opens the state machine from the node's disk (called at every start).
pub type SmOpener<S> = Rc<dyn Fn(Rc<dyn Disk>) -> Result<S, SmError>>;

/// A linearizable read waiting for its read index and then for apply to reach it.
#[derive(Clone, Debug)]
pub struct PendingRead {
    pub client: u64,
    pub op: Op,
    pub index: Option<u64>,
}

/// A linearizable read as this incarnation answered it (for checkers): the client request, the
/// read index raft gave it, and the applied index when the answer was read from the state
/// machine (the rule: `applied >= index`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServedRead {
    pub client: u64,
    pub index: u64,
    pub applied: u64,
}

/// One applied entry as this incarnation saw it (for checkers): index, term and who proposed it
/// (`None` for entries without a proposal: empty leader entries, conf changes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Applied {
    pub index: u64,
    pub term: u64,
    pub origin: Option<Origin>,
}

/// A running node: everything rebuilt at start.
pub struct Running<S> {
    pub(super) cfg: NodeConfig,
    pub(super) disk: Rc<dyn Disk>,
    pub(super) me: u64,
    pub(super) boot: u64,
    pub(super) raw: RawNode<MemoryStorage>,
    pub(super) wal: crate::wal::Wal,
    pub(super) snapshotter: crate::snap::Snapshotter,
    pub(super) sm: S,
    pub(super) membership: Membership,
    pub(super) transport: Transport,
    pub(super) conf_state: ConfState,
    pub(super) applied: u64,
    pub(super) snapshot_index: u64,
    pub(super) next_key: u64,
    pub(super) proposals: WaitRegistry<u64>,
    pub(super) reads: WaitRegistry<PendingRead>,
    pub(super) lead: u64,
    pub(super) ticks: u64,
    pub(super) metrics: Metrics,
    pub(super) applied_log: Vec<Applied>,
    pub(super) served_reads: Vec<ServedRead>,
    /// Set when this member applied its own removal: the node stops after the current Ready.
    pub(super) removed: bool,
    /// What this incarnation's boot repaired in the WAL (a torn tail cut off, or nothing).
    pub(super) boot_repair: crate::wal::Repair,
    /// Committed entries whose apply BUGGIFY's slow apply deferred to the next tick, in order
    /// (all above `applied`, none a conf change).
    pub(super) deferred: Vec<crate::core::Entry>,
    /// The term whose election timeout BUGGIFY was last asked about.
    pub(super) timeout_term: u64,
}

/// The server node, generic over its state machine.
pub struct Node<S: StateMachine> {
    cfg: NodeConfig,
    open_sm: SmOpener<S>,
    run: Option<Running<S>>,
}

impl<S: StateMachine> Node<S> {
    /// A node that will rebuild itself from its disk when started.
    pub fn new(cfg: NodeConfig, open_sm: SmOpener<S>) -> Node<S> {
        Node { cfg, open_sm, run: None }
    }

    /// The running state (`None` before start).
    pub fn running(&self) -> Option<&Running<S>> {
        self.run.as_ref()
    }

    fn r(&mut self) -> &mut Running<S> {
        self.run.as_mut().expect("node handlers run only after on_start")
    }
}

impl<S: StateMachine> Running<S> {
    /// This node's member ID (also its raft ID).
    pub fn id(&self) -> u64 {
        self.me
    }
    pub fn state_machine(&self) -> &S {
        &self.sm
    }
    /// The metrics now (pending proposals counted at the call).
    pub fn metrics(&self) -> Metrics {
        Metrics { proposals_pending: self.proposals.len() as u64, ..self.metrics }
    }
    /// The leader this node knows (0: none).
    pub fn leader(&self) -> u64 {
        self.lead
    }
    pub fn is_leader(&self) -> bool {
        self.lead == self.me && self.lead != NONE
    }
    pub fn applied_index(&self) -> u64 {
        self.applied
    }
    pub fn commit_index(&self) -> u64 {
        self.raw.raft.raft_log.committed
    }
    pub fn term(&self) -> u64 {
        self.raw.raft.term
    }
    /// Entries applied by this incarnation, in order.
    pub fn applied_log(&self) -> &[Applied] {
        &self.applied_log
    }
    /// Linearizable reads this incarnation answered, in order.
    pub fn served_reads(&self) -> &[ServedRead] {
        &self.served_reads
    }
    /// The index of the last entry in the raft log (or of the snapshot it starts after).
    pub fn last_index(&self) -> u64 {
        self.raw.raft.raft_log.last_index()
    }
    /// The term of the entry at `index` in the raft log (the snapshot's term at its index);
    /// `None` when the log no longer or not yet holds it.
    pub fn log_term(&self, index: u64) -> Option<u64> {
        self.raw.raft.raft_log.term(index).ok()
    }
    /// Raft's own view: hard and soft state, and on a leader each member's progress.
    pub fn raft_status(&self) -> crate::core::Status {
        self.raw.status()
    }
    /// The member this node voted for in its current term (0: none).
    pub fn vote(&self) -> u64 {
        self.raw.raft.vote
    }
    pub fn membership(&self) -> &Membership {
        &self.membership
    }
    pub fn voters(&self) -> &[u64] {
        &self.conf_state.voters
    }
    /// Index of the newest snapshot this node holds.
    pub fn snapshot_index(&self) -> u64 {
        self.snapshot_index
    }
    /// First index still in the raft log (everything before is compacted).
    pub fn first_log_index(&self) -> u64 {
        use crate::core::Storage;
        self.raw.store().first_index()
    }
    /// The peer transport (its statistics and refusal log, for checkers).
    pub fn transport(&self) -> &Transport {
        &self.transport
    }
    /// The boot number of this incarnation (proposals carry it).
    pub fn boot_number(&self) -> u64 {
        self.boot
    }
    /// What this incarnation's boot repaired in the WAL: [`crate::wal::Repair::Truncated`] names
    /// the segment and offset of the torn last record that was cut off with everything after it
    /// (see [`super::boot`] for what that can drop).
    pub fn boot_repair(&self) -> &crate::wal::Repair {
        &self.boot_repair
    }

    fn start<R>(
        cfg: NodeConfig,
        open_sm: &SmOpener<S>,
        env: &mut Env<'_, R>,
    ) -> Result<Running<S>, Halt> {
        let disk = env.disk();
        let b = boot(&cfg, Rc::clone(&disk), &**open_sm)?;
        let mut rc = Config::new(b.me);
        rc.election_tick = cfg.election_tick;
        rc.heartbeat_tick = cfg.heartbeat_tick;
        rc.applied = b.snapshot_index;
        rc.check_quorum = cfg.check_quorum;
        rc.pre_vote = cfg.pre_vote;
        rc.max_inflight_msgs = cfg.max_inflight_msgs;
        rc.max_size_per_msg = cfg.max_size_per_msg;
        let seed = env.rng().next_u64();
        let boot = env.rng().next_u64();
        let raw = RawNode::new(&rc, b.storage, ChaCha8Rng::seed_from_u64(seed))
            .map_err(|e| Halt::Fatal(format!("raft config: {e}")))?;
        let me_member = b
            .membership
            .cluster()
            .member(MemberId(b.me))
            .ok_or_else(|| Halt::Fatal(format!("member {:016x} not in the membership", b.me)))?
            .clone();
        let cluster_id = ClusterId(b.membership.cluster().id().0);
        let transport =
            Transport::new(TransportConfig::new(MemberId(b.me), cluster_id, me_member.peer_addr()));
        let lead = raw.raft.lead;
        Ok(Running {
            cfg,
            disk,
            me: b.me,
            boot,
            raw,
            wal: b.wal,
            snapshotter: b.snapshotter,
            sm: b.sm,
            membership: b.membership,
            transport,
            conf_state: b.conf_state,
            applied: b.snapshot_index,
            snapshot_index: b.snapshot_index,
            next_key: 1,
            proposals: WaitRegistry::new(),
            reads: WaitRegistry::new(),
            lead,
            ticks: 0,
            metrics: Metrics::default(),
            applied_log: Vec::new(),
            served_reads: Vec::new(),
            removed: false,
            boot_repair: b.repair,
            deferred: Vec::new(),
            timeout_term: 0,
        })
    }

    /// Adds every known member but us to the transport, and marks removed ones.
    pub(super) fn sync_peers<R>(&mut self, env: &mut Env<'_, R>) {
        let removed: Vec<MemberId> = self.membership.cluster().removed().iter().copied().collect();
        // Also drops a removed member the transport knew only as a remote (its pipeline sender).
        for id in removed {
            self.transport.remove_peer(env, id);
        }
        let peers: Vec<(MemberId, sim::io::Addr)> = self
            .membership
            .cluster()
            .members()
            .filter(|m| m.id.0 != self.me)
            .map(|m| (m.id, m.peer_addr()))
            .collect();
        for (id, addr) in peers {
            self.transport.add_peer(env, id, addr);
        }
    }

    fn fresh_key(&mut self) -> u64 {
        let k = self.next_key;
        self.next_key += 1;
        k
    }

    fn origin(&mut self) -> Origin {
        let key = self.fresh_key();
        Origin { member: self.me, boot: self.boot, key }
    }

    pub(super) fn reply(
        &mut self,
        env: &mut Env<'_, ClientResponse>,
        id: u64,
        result: Result<super::request::OpResult, ServerError>,
    ) {
        if let Err(e) = &result {
            if matches!(e, ServerError::NoLeader | ServerError::Timeout) {
                self.metrics.proposals_failed += 1;
            }
        }
        env.respond(ClientResponse { id, result });
    }

    fn on_client(&mut self, env: &mut Env<'_, ClientResponse>, req: ClientRequest) {
        let client = req.id;
        let op = match req.request {
            Request::Range { key, range_end, serializable: true } => {
                let out = self.sm.read(&Op::Range { key, range_end });
                return env
                    .respond(ClientResponse { id: client, result: out.map_err(ServerError::Op) });
            }
            Request::Range { key, range_end, serializable: false } => {
                return self.read_index(env, client, Op::Range { key, range_end });
            }
            Request::Put { key, value } => Op::Put { key, value },
            Request::DeleteRange { key, range_end } => Op::DeleteRange { key, range_end },
            Request::Txn { compares, success, failure } => Op::Txn { compares, success, failure },
            Request::Compact { revision } => Op::Compact { revision },
            Request::AddMember { peer_urls } => return self.add_member(env, client, peer_urls),
            Request::RemoveMember { id } => return self.remove_member(env, client, id),
            Request::TransferLeader { to } => return self.transfer_leader(env, client, to),
        };
        if self.lead == NONE {
            return self.reply(env, client, Err(ServerError::NoLeader));
        }
        let origin = self.origin();
        let deadline = env.now() + self.cfg.request_timeout;
        self.proposals.register(origin.key, deadline, client).expect("wait keys are fresh");
        let data = Proposal { origin, op }.to_bytes();
        if self.raw.propose(data).is_err() {
            self.proposals.trigger(origin.key);
            self.reply(env, client, Err(ServerError::NoLeader));
        }
    }

    fn transfer_leader(&mut self, env: &mut Env<'_, ClientResponse>, client: u64, to: u64) {
        if !self.is_leader() {
            let leader = self.lead;
            return self.reply(env, client, Err(ServerError::NotLeader { leader }));
        }
        if !self.conf_state.voters.contains(&to) {
            let why = format!("member {to:x} is not a voter");
            return self.reply(env, client, Err(ServerError::BadMembership(why)));
        }
        self.raw.transfer_leader(to);
        self.reply(env, client, Ok(super::request::OpResult::Transferring { to }));
    }

    fn read_index(&mut self, env: &mut Env<'_, ClientResponse>, client: u64, op: Op) {
        if self.lead == NONE {
            return self.reply(env, client, Err(ServerError::NoLeader));
        }
        let key = self.fresh_key();
        let deadline = env.now() + self.cfg.request_timeout;
        let pending = PendingRead { client, op, index: None };
        self.reads.register(key, deadline, pending).expect("wait keys are fresh");
        if self.raw.read_index(read_ctx(self.boot, key)).is_err() {
            self.reads.trigger(key);
            self.reply(env, client, Err(ServerError::NoLeader));
        }
    }

    fn propose_conf(
        &mut self,
        env: &mut Env<'_, ClientResponse>,
        client: u64,
        cc_type: ConfChangeType,
        node_id: u64,
        member: Option<MemberRecord>,
    ) {
        if self.lead == NONE {
            return self.reply(env, client, Err(ServerError::NoLeader));
        }
        let origin = self.origin();
        let deadline = env.now() + self.cfg.request_timeout;
        self.proposals.register(origin.key, deadline, client).expect("wait keys are fresh");
        let context = ConfContext { origin, member }.to_bytes();
        let cc = ConfChange { change_type: cc_type, node_id, context };
        if self.raw.propose_conf_change(&cc).is_err() {
            self.proposals.trigger(origin.key);
            self.reply(env, client, Err(ServerError::NoLeader));
        }
    }

    fn add_member(&mut self, env: &mut Env<'_, ClientResponse>, client: u64, urls: Vec<String>) {
        let m = match Member::at_runtime(urls, env.now(), false) {
            Ok(m) => m,
            Err(e) => {
                return self.reply(env, client, Err(ServerError::BadMembership(e.to_string())))
            }
        };
        if self.membership.url_in_use(&m.peer_urls) || self.membership.contains(m.id.0) {
            let why = format!("peer URLs {:?} already in use", m.peer_urls);
            return self.reply(env, client, Err(ServerError::BadMembership(why)));
        }
        let rec = record_of(&m);
        self.propose_conf(env, client, ConfChangeType::AddNode, m.id.0, Some(rec));
    }

    fn remove_member(&mut self, env: &mut Env<'_, ClientResponse>, client: u64, id: u64) {
        if !self.membership.contains(id) {
            let why = format!("member {id:016x} is not in the cluster");
            return self.reply(env, client, Err(ServerError::BadMembership(why)));
        }
        self.propose_conf(env, client, ConfChangeType::RemoveNode, id, None);
    }

    fn on_tick(&mut self, env: &mut Env<'_, ClientResponse>) -> Result<(), Halt> {
        self.apply_deferred(env)?;
        // At most once per term, as raft draws its timeout once per term: forced on every tick,
        // the lowest timeout on every node would defeat the randomisation and split every vote.
        if self.raw.raft.term != self.timeout_term {
            self.timeout_term = self.raw.raft.term;
            if env.buggify(buggify::ELECTION_TIMEOUT_MIN) {
                self.raw.raft.randomized_election_timeout = self.cfg.election_tick;
            } else if env.buggify(buggify::ELECTION_TIMEOUT_MAX) {
                self.raw.raft.randomized_election_timeout = 2 * self.cfg.election_tick - 1;
            }
        }
        self.raw.tick();
        self.ticks += 1;
        let now = env.now();
        // etcd's backend commits its batch on a timer too, not only when entries are applied.
        if !env.buggify(buggify::COMMIT_LATE) {
            self.sm.commit_if_due(now).map_err(sm_fail)?;
        }
        for (_, client) in self.proposals.expire(now) {
            let no_leader =
                self.lead == NONE && planted::active(&crate::planted::TIMEOUT_AS_NO_LEADER);
            let e = if no_leader { ServerError::NoLeader } else { ServerError::Timeout };
            self.reply(env, client, Err(e));
        }
        for (_, r) in self.reads.expire(now) {
            self.reply(env, r.client, Err(ServerError::Timeout));
        }
        let every = self.cfg.metrics_every_ticks;
        if every > 0 && self.ticks.is_multiple_of(every) {
            self.trace_metrics(env);
        }
        Ok(())
    }

    pub(super) fn trace_metrics<R>(&mut self, env: &mut Env<'_, R>) {
        self.metrics.proposals_pending = self.proposals.len() as u64;
        if env.tracing() {
            env.trace("server.metrics", &self.metrics.to_string());
        }
    }

    /// Handles what the transport reported.
    fn on_transport_events(&mut self, env: &mut Env<'_, ClientResponse>) {
        while let Some(ev) = self.transport.next_event() {
            match ev {
                TransportEvent::Received { payload, .. } => match Message::decode(&payload) {
                    Ok(m) => {
                        let _ = self.raw.step(m);
                    }
                    Err(e) => env.trace("server.bad_message", &e.to_string()),
                },
                TransportEvent::Unreachable { to } => self.raw.report_unreachable(to.0),
                TransportEvent::SnapshotStatus { to, delivered } => {
                    self.raw.report_snapshot(to.0, !delivered)
                }
                TransportEvent::PeerStatus { member, status } => {
                    if env.tracing() {
                        env.trace("server.peer", &format!("{member} {status:?}"));
                    }
                }
                TransportEvent::Refused(r) => {
                    if env.tracing() {
                        env.trace("server.refused", &format!("{r:?}"));
                    }
                    // etcd: a peer answering "removed" (HTTP 410) stops the member for good. A
                    // member removed while it was down or cut off never applies its removal
                    // (nobody replicates to it any more) and would otherwise linger.
                    if let Refusal::RefusedByPeer { reason: RefusalCode::RemovedMember, .. } = r {
                        self.removed = true;
                    }
                }
                TransportEvent::BadFrame { peer, error } => {
                    if env.tracing() {
                        env.trace("server.bad_frame", &format!("{peer:?} {error:?}"));
                    }
                }
            }
        }
    }

    /// Runs the Ready loop until raft and the transport are quiet. A removed member halts.
    fn drive(&mut self, env: &mut Env<'_, ClientResponse>) -> Result<(), Halt> {
        loop {
            self.on_transport_events(env);
            if self.raw.has_ready() && !self.removed {
                self.handle_ready(env)?;
            }
            if self.removed {
                for (_, client) in self.proposals.drain_where(|_| true) {
                    env.respond(ClientResponse { id: client, result: Err(ServerError::Stopped) });
                }
                return Err(Halt::Fatal(format!(
                    "member {:016x} was removed from the cluster",
                    self.me
                )));
            }
            if !self.raw.has_ready() {
                break;
            }
        }
        self.serve_reads(env);
        Ok(())
    }

    /// Answers linearizable reads whose read index has been applied.
    pub(super) fn serve_reads(&mut self, env: &mut Env<'_, ClientResponse>) {
        let applied = self.applied;
        let early = planted::active(&crate::planted::READ_BEFORE_APPLY);
        let ready = self.reads.drain_where(|r| r.index.is_some_and(|i| early || i <= applied));
        for (_, r) in ready {
            let index = r.index.unwrap_or(0);
            self.served_reads.push(ServedRead { client: r.client, index, applied });
            let out = self.sm.read(&r.op);
            env.respond(ClientResponse { id: r.client, result: out.map_err(ServerError::Op) });
        }
    }
}

impl<S: StateMachine> Actor for Node<S> {
    type Request = ClientRequest;
    type Response = ClientResponse;

    fn on_start(&mut self, env: &mut Env<'_, ClientResponse>) -> Result<(), Halt> {
        let mut r = Running::start(self.cfg.clone(), &self.open_sm, env)?;
        r.sync_peers(env);
        r.transport.start(env).map_err(|e| Halt::Fatal(format!("listen: {e}")))?;
        env.set_timer(r.cfg.tick, TICK_TAG);
        if env.tracing() {
            let detail = format!(
                "member={:016x} snapshot={} consistent_index={} last_index={}",
                r.me,
                r.snapshot_index,
                r.sm.consistent_index(),
                r.raw.raft.raft_log.last_index()
            );
            env.trace("server.boot", &detail);
        }
        self.run = Some(r);
        self.r().drive(env)
    }

    fn on_timer(
        &mut self,
        env: &mut Env<'_, ClientResponse>,
        id: TimerId,
        tag: u64,
    ) -> Result<(), Halt> {
        let r = self.r();
        if tag == TICK_TAG {
            r.on_tick(env)?;
            env.set_timer(r.cfg.tick, TICK_TAG);
        } else if tag == TIMER_TAG {
            r.transport.on_timer(env, id, tag);
        }
        r.drive(env)
    }

    fn on_net(&mut self, env: &mut Env<'_, ClientResponse>, event: NetEvent) -> Result<(), Halt> {
        let r = self.r();
        r.transport.on_net(env, event);
        r.drive(env)
    }

    fn on_request(
        &mut self,
        env: &mut Env<'_, ClientResponse>,
        request: ClientRequest,
    ) -> Result<(), Halt> {
        let r = self.r();
        r.on_client(env, request);
        r.drive(env)
    }
}

/// Maps a state-machine error in the apply path to a halt.
pub(super) fn sm_fail(e: SmError) -> Halt {
    sm_halt("state machine", e)
}
