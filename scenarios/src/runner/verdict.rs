//! The verdict: final state checks, durability, linearizability, and the report.

use super::*;

impl<S: Observable> Run<S> {
    // ----- verdict -----

    pub(super) fn final_state_checks(&mut self) {
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

    pub(super) fn finals(&self) -> BTreeMap<Key, Value> {
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

    pub(super) fn finish(mut self) -> RunReport {
        if self.failure.is_none() {
            self.final_state_checks();
        }
        let finals = if self.failure.is_none() { Some(self.finals()) } else { None };
        self.clients.abandon();
        let (history, revisions) =
            std::mem::replace(&mut self.clients, Clients::new(1, Seed(0).stream("-")))
                .into_history_and_revisions();
        let mut stats = RunStats {
            ops: history.len(),
            restarts_checked: self.storage.checked,
            digests_compared: self.storage.compared,
            applied_entries: self.safety.applied_entries(),
            terms_with_leader: self.safety.terms_with_leader(),
            fail_stopped: self.fail_stopped.clone(),
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
            if let Err(e) = check::serializable::check(&history, &revisions) {
                self.fail(Property::Linearizability, e);
            }
        }
        if self.failure.is_none() {
            let mut budget = Budget::steps(CHECK_STEPS);
            match check::groups::check(&history, &mut budget) {
                Ok(report) => match report.verdict {
                    check::linearizability::Verdict::Linearizable => {}
                    check::linearizability::Verdict::Unknown { .. } => {
                        stats.linearizability_unknown = true
                    }
                    check::linearizability::Verdict::NotLinearizable(failures) => {
                        let f = &failures[0];
                        let keys: Vec<String> = f.group.iter().map(|k| k.to_string()).collect();
                        let detail = format!(
                            "key {}: no linearization; stuck at state {} before op {:?}",
                            keys.join(" "),
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
        let mut coverage = std::mem::take(&mut self.moments.borrow_mut().coverage);
        coverage.add(Situation::TornMeta, self.engine.invalid_slots);
        coverage.add(Situation::MetaFallback, self.engine.fallbacks);
        coverage.add(Situation::ReleaseUnderReader, self.engine.releases_under_readers);
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
            coverage,
            buggify_fired: w.buggify_fired().clone(),
        }
    }
}
