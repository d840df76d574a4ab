//! After the fault phase: heal everything, check liveness, read every key.

use super::*;

/// A member still catching up must have applied something new at least this often.
pub(super) const STALL_BOUND: Duration = Duration::from_secs(10);
/// However it progresses, catching up may take at most this long past its deadline.
pub(super) const CATCH_UP_CAP: Duration = Duration::from_secs(120);

/// When the members' applied indexes last moved.
#[derive(Default)]
struct Progress {
    applied: Vec<(u32, Option<u64>)>,
    since: Instant,
}

impl Progress {
    fn observe(&mut self, now: Instant, applied: &[(u32, Option<u64>)]) {
        if self.applied.is_empty() || self.applied != applied {
            self.applied = applied.to_vec();
            self.since = now;
        }
    }
}

impl<S: Observable> Run<S> {
    // ----- heal, liveness, final reads -----

    pub(super) fn heal(&mut self) {
        self.healed_at = self.c.w.now();
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
                self.protocol.borrow_mut().forget(n);
            }
            self.c.set_config(n, cfg);
            self.c.misconfigured.remove(&n);
            self.c.impostors.remove(&n);
        }
        self.refresh_roles();
        // A restart of a running member with an armed disk fault (crash at a disk operation,
        // EIO on sync) brings it back as soon as the fault fires; other running members ignore it.
        for n in self.serving.clone() {
            self.c.w.apply(&Fault::Restart { node: n });
        }
        // A member whose addition committed but whose answer was lost still has to start.
        for (node, member) in std::mem::take(&mut self.adding) {
            let known = member.or_else(|| self.member_with_url(&peer_url(node)));
            if let Some(id) = known {
                self.start_added(node, id);
            }
        }
    }

    /// The leader's view of its followers (match, next, replication state), for liveness
    /// failures: `leader n1 (term 4): n2 match 10 next 11 Replicate, ...`.
    fn leader_view(&self) -> String {
        let Some(l) = self.c.leader() else { return "no leader".into() };
        let Some(r) = self.c.running(l) else { return "no leader".into() };
        let st = r.raft_status();
        let peers: Vec<String> = st
            .progress
            .iter()
            .map(|(id, p)| {
                let who = self.c.node_of_member(*id).map_or(format!("{id:x}"), |n| format!("n{n}"));
                format!("{who} match {} next {} {:?}", p.matched, p.next, p.state)
            })
            .collect();
        let members: Vec<String> = self
            .serving
            .iter()
            .filter_map(|n| {
                let m = self.c.running(*n)?;
                let lead =
                    self.c.node_of_member(m.leader()).map_or("-".into(), |x| format!("n{x}"));
                Some(format!(
                    "n{n} term {} lead {lead} commit {} last {}",
                    m.term(),
                    m.commit_index(),
                    m.last_index()
                ))
            })
            .collect();
        format!(
            "leader n{l} (term {}) sees {}; members: {}",
            r.term(),
            peers.join(", "),
            members.join(", ")
        )
    }

    pub(super) fn member_with_url(&self, url: &str) -> Option<u64> {
        let l = self.c.leader().or_else(|| self.serving.first().copied())?;
        let r = self.c.running(l)?;
        r.membership()
            .records()
            .into_iter()
            .find(|m| m.peer_urls.iter().any(|u| u == url))
            .map(|m| m.id)
    }

    pub(super) fn liveness(&mut self) {
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
            self.tend_members();
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
        self.catch_up(deadline, "after healing");
    }

    /// Drives the world until every member has applied the leader's commit index (restarting
    /// members that went down meanwhile); a liveness failure if that takes past `deadline`.
    /// Drives the world until every member has applied the leader's commit index (restarting
    /// members that went down meanwhile). A liveness failure if that takes past `deadline` and
    /// no lagging member has made progress for [`STALL_BOUND`] — a member replaying a long log
    /// behind a slow disk is slow, not stuck — or past `deadline` + [`CATCH_UP_CAP`] at all.
    pub(super) fn catch_up(&mut self, deadline: Instant, when: &str) {
        let slice = Duration::from_millis(100);
        let start = self.c.w.now();
        let mut progress = Progress::default();
        loop {
            if self.failure.is_some() {
                return;
            }
            let now = self.c.w.now();
            self.tend_members();
            let applied: Vec<(u32, Option<u64>)> = self
                .serving
                .iter()
                .filter(|n| !self.fail_stopped.contains(n))
                .map(|n| (*n, self.c.running(*n).map(|r| r.applied_index())))
                .collect();
            let hi = self.c.leader().and_then(|l| self.c.running(l)).map(|r| r.commit_index());
            let converged = hi.is_some_and(|hi| applied.iter().all(|(_, a)| *a == Some(hi)));
            if converged {
                return;
            }
            progress.observe(now, &applied);
            let stalled = now.saturating_since(progress.since) >= STALL_BOUND;
            if now >= deadline && (stalled || now >= deadline + CATCH_UP_CAP) {
                let detail = format!(
                    "members did not converge within {} s {when} (no progress for {} s): leader \
                     commit {hi:?}, applied {applied:?}; {}",
                    now.saturating_since(start).as_millis() / 1000,
                    now.saturating_since(progress.since).as_millis() / 1000,
                    self.leader_view()
                );
                self.fail(Property::Liveness, detail);
                return;
            }
            self.drive(now + slice);
        }
    }

    pub(super) fn final_reads(&mut self) {
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

    /// Keeps members up after the heal. A member that went down again (a disk crash armed
    /// earlier firing now) is restarted. One that refused to start (a fatal halt) stays down:
    /// that is right only after bit rot on its disk (fail-stop on detected damage, as long as a
    /// quorum is left); for any other member it is a liveness failure.
    fn tend_members(&mut self) {
        self.settle_removals();
        let healed = self.healed_at;
        for n in self.serving.clone() {
            if self.c.is_up(n) || self.fail_stopped.contains(&n) {
                continue;
            }
            let fatal = self.c.w.halts().iter().rev().find_map(|(at, node, h)| match h {
                Halt::Fatal(why) if *node == NodeId(n) && *at >= healed => Some(why.clone()),
                _ => None,
            });
            match fatal {
                None => self.c.w.apply(&Fault::Restart { node: n }),
                Some(_) if self.rotted.contains(&n) => self.fail_stopped.push(n),
                Some(why) => {
                    let detail = format!("node {n} cannot start after the heal: {why}");
                    self.fail(Property::Liveness, detail);
                }
            }
        }
        let quorum = self.serving.len() / 2 + 1;
        if self.serving.len() - self.fail_stopped.len() < quorum {
            let detail = format!(
                "members {:?} refused to start on damaged storage: no quorum left",
                self.fail_stopped
            );
            self.fail(Property::Liveness, detail);
        }
    }
}
