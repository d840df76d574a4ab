//! Applying plan actions: simulator faults and cluster-level disruptions.

use super::*;
use net::ids::MemberId;

/// The member an impostor's `--initial-cluster` has too many: no node ever has this host.
const GHOST_MEMBER: &str = "ghost=http://ghost:2380";

impl<S: Observable> Run<S> {
    // ----- actions -----

    pub(super) fn apply(&mut self, action: &Action) {
        let now = self.c.w.now();
        match action {
            Action::Sim { fault } => self.apply_fault(fault),
            Action::PowerLoss => {
                self.moments.borrow_mut().power_loss();
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
            Action::SameIdOtherCluster { node } => {
                if self.can_misconfigure(*node) {
                    self.same_id_other_cluster(*node);
                }
            }
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
            Action::Trigger { .. } => {
                if let Some(t) = action.trigger() {
                    self.moments.borrow_mut().arm(t);
                }
            }
        }
    }

    pub(super) fn apply_fault(&mut self, fault: &Fault) {
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
            Fault::BitFlip { node, .. } => {
                self.rotted.insert(*node);
                self.protocol.borrow_mut().damaged(*node);
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

    pub(super) fn send_admin(&mut self, node: u32, request: Request, what: Admin) {
        let id = self.next_admin;
        self.next_admin += 1;
        self.admin.insert(id, what);
        self.c.w.request(NodeId(node), ClientRequest { id, request });
    }

    pub(super) fn on_admin(&mut self, r: ClientResponse) {
        let Some(what) = self.admin.remove(&r.id) else { return };
        match (what, r.result) {
            (Admin::Add { node }, Ok(OpResult::Members { member, .. })) => {
                self.conf_changed(Situation::MemberAdd);
                self.adding.insert(node, Some(member));
                self.start_added(node, member);
            }
            (Admin::Remove { node }, Ok(OpResult::Members { .. })) => {
                self.conf_changed(Situation::MemberRemove);
                self.removed(node)
            }
            (Admin::Probe, Ok(_)) => self.probe_acked = true,
            _ => {}
        }
    }

    /// Counts a membership change answered now, and whether part of the network is cut.
    fn conf_changed(&mut self, what: Situation) {
        self.hit(what);
        let nodes = self.c.nodes();
        let net = self.c.w.net();
        let cut = nodes.iter().any(|&a| {
            nodes.iter().any(|&b| {
                a != b
                    && (net.is_blocked(NodeId(a), NodeId(b))
                        || net.is_clogged(NodeId(a), NodeId(b)))
            })
        });
        if cut {
            self.hit(Situation::ConfChangeUnderPartition);
        }
    }

    pub(super) fn transfer_leader(&mut self) {
        let Some(l) = self.c.leader() else { return };
        let members: Vec<u32> = self.serving.clone();
        let next = members.iter().copied().find(|n| *n > l).or_else(|| members.first().copied());
        let Some(to) = next.filter(|n| *n != l) else { return };
        let Some(id) = self.c.running(to).map(|r| r.id()) else { return };
        self.send_admin(l, Request::TransferLeader { to: id }, Admin::Transfer);
    }

    pub(super) fn can_misconfigure(&self, node: u32) -> bool {
        self.serving.contains(&node) && self.c.nodes().contains(&node)
    }

    pub(super) fn misconfigure(
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
    pub(super) fn foreign_data(&mut self, node: u32, now: Instant) {
        let image = foreign_image::<S>(self.plan.seed, node);
        self.c.w.apply(&Fault::Crash { node });
        let disk: Rc<dyn Disk> = self.c.w.disk(NodeId(node));
        let own = read_tree(&*disk);
        replace_tree(&*disk, &image);
        self.protocol.borrow_mut().forget(node);
        self.backups.insert(node, own);
        let cfg = self.c.config(node);
        self.correct.insert(node, cfg.clone());
        self.misconfigure(node, cfg, "another cluster's data directory", now);
    }

    /// Re-creates `node` on a fresh data directory with one member more in its
    /// `--initial-cluster` (see [`Action::SameIdOtherCluster`]); its own data is kept for the
    /// heal. It runs on: the cluster-ID oracle judges it by what crosses, not by a halt.
    pub(super) fn same_id_other_cluster(&mut self, node: u32) {
        let cfg = self.c.config(node);
        let ClusterSpec::Bootstrap { initial_cluster, token } = &cfg.cluster else { return };
        let mut other = cfg.clone();
        other.cluster = ClusterSpec::Bootstrap {
            initial_cluster: format!("{initial_cluster},{GHOST_MEMBER}"),
            token: token.clone(),
        };
        self.c.w.apply(&Fault::Crash { node });
        let disk: Rc<dyn Disk> = self.c.w.disk(NodeId(node));
        let own = read_tree(&*disk);
        replace_tree(&*disk, &[]);
        self.protocol.borrow_mut().forget(node);
        self.backups.insert(node, own);
        self.correct.insert(node, cfg);
        self.c.set_config(node, other);
        self.c.misconfigured.insert(node);
        self.c.impostors.insert(node);
        self.refresh_roles();
        self.c.w.apply(&Fault::Restart { node });
    }

    /// Starts a member of another cluster next to this one; it dials our members.
    pub(super) fn foreign_member(&mut self, now: Instant) {
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

    pub(super) fn free_node(&self) -> Option<u32> {
        let used = self.c.nodes();
        (1..=crate::plan::MAX_NODES).find(|n| !used.contains(n))
    }

    pub(super) fn add_member(&mut self) {
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

    /// Starts added member `node` (raft ID `member`) with the membership of a running member
    /// that has applied the addition (the leader first). The node the harness thinks is leader
    /// may not have applied it yet (or be a deposed leader): starting the joiner with a list that
    /// lacks it makes it refuse to boot. With no such member the node stays in `adding` and the
    /// heal tries again.
    pub(super) fn start_added(&mut self, node: u32, member: u64) {
        if self.c.nodes().contains(&node) {
            return;
        }
        let candidates: Vec<u32> =
            self.c.leader().into_iter().chain(self.serving.clone()).collect();
        let has_it = |n: &u32| self.c.running(*n).is_some_and(|r| r.membership().contains(member));
        let Some(l) = candidates.into_iter().find(has_it) else { return };
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

    pub(super) fn remove_member(&mut self) {
        let Some(l) = self.c.leader() else { return };
        if self.serving.len() <= 3 || !self.removing.is_empty() {
            return; // keep a cluster that tolerates a failure; one removal at a time
        }
        let victim = self.serving.iter().rev().copied().find(|n| *n != l);
        let Some(v) = victim else { return };
        let Some(id) = self.c.running(v).map(|r| r.id()) else { return };
        self.removing.insert(v, id);
        self.send_admin(l, Request::RemoveMember { id }, Admin::Remove { node: v });
    }

    /// `node` left the cluster: it stays down from now on.
    fn removed(&mut self, node: u32) {
        self.removing.remove(&node);
        self.c.removed.insert(node);
        self.refresh_roles();
    }

    /// Removals whose answer never came (the member asked went down, or a leader change
    /// answered the proposal "stopped") may still commit: a member applying its own removal
    /// halts, and must then count as removed, not as a member that cannot start.
    pub(super) fn settle_removals(&mut self) {
        let pending: Vec<(u32, u64)> = self.removing.iter().map(|(n, id)| (*n, *id)).collect();
        for (node, id) in pending {
            let applied = self
                .serving
                .iter()
                .filter_map(|n| self.c.running(*n))
                .any(|r| r.membership().cluster().removed().contains(&MemberId(id)));
            if applied {
                self.removed(node);
            }
        }
    }

    // ----- checks at the end of the fault phase -----

    pub(super) fn check_refusals(&mut self) {
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
                // At most one log line per refused peer per second (and the first), counted
                // over the lines since the foreign member appeared: other peers (removed
                // members, say) have their own allowance.
                let window = now.saturating_since(since).as_millis() / 1000 + 1;
                let mut per_peer: BTreeMap<MemberId, u64> = BTreeMap::new();
                for line in r.transport().log().iter().filter(|l| l.at >= since) {
                    *per_peer.entry(line.peer).or_default() += 1;
                }
                if let Some((peer, lines)) = per_peer.into_iter().find(|(_, n)| *n > window) {
                    let detail = format!(
                        "member node {m} wrote {lines} refusal log lines about member {peer} in \
                         {window} s: not rate-limited"
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

    pub(super) fn keys(&self) -> u8 {
        let max = self.plan.workload.iter().filter_map(|o| o.op.keys().last().copied()).max();
        max.map_or(0, |k| k + 1)
    }
}
