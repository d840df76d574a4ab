//! Storage checks after every restart: the engine's own consistency check, and agreement of the
//! state digest with another member at the same applied index.
//!
//! When a node comes up with a new incarnation, its store is checked at once. Its digest is
//! compared as soon as some other serving member has applied exactly the same index (members
//! at the same applied index hold the same state), which usually happens within a heartbeat or
//! two; a restart whose node never meets a peer at the same index is counted as unmatched.
//!
//! That comparison needs the applied index to name the state: between simulator steps every
//! running member's state machine must stand exactly at the server's applied index (its
//! consistent index). A member whose store is ahead of its applied index, as after a power loss
//! that kept the store's durable index but not the hard state's commit index, is reported as
//! such: it would otherwise show up as a digest mismatch with a peer at the same applied index,
//! and a snapshot taken at its applied index would carry entries past that index.

use std::collections::BTreeMap;

use crate::cluster::{Cluster, Observable};

/// The restart storage oracle.
#[derive(Debug, Default)]
pub struct StorageOracle {
    /// Node -> boot number last seen.
    boots: BTreeMap<u32, u64>,
    /// Nodes restarted whose digest is not compared yet.
    pending: BTreeMap<u32, u64>,
    pub checked: u64,
    pub compared: u64,
    violation: Option<String>,
}

impl StorageOracle {
    pub fn new() -> StorageOracle {
        StorageOracle::default()
    }

    pub fn violation(&self) -> Option<&str> {
        self.violation.as_deref()
    }

    /// Restarts whose digest never met a peer at the same index.
    pub fn unmatched(&self) -> usize {
        self.pending.len()
    }

    /// Looks for new incarnations and pending comparisons among `members`. `changed` is the
    /// only member whose state can have moved since the last call, or `None` for any of them.
    pub fn observe<S: Observable>(
        &mut self,
        c: &Cluster<S>,
        members: &[u32],
        changed: Option<u32>,
    ) {
        if self.violation.is_some() {
            return;
        }
        for n in super::to_look_at(members, changed) {
            let Some(r) = c.running(n) else { continue };
            let (applied, consistent) = (r.applied_index(), r.state_machine().consistent_index());
            if applied != consistent {
                self.violation = Some(format!(
                    "node {n} reports applied index {applied} but its state machine stands at \
                     consistent index {consistent}"
                ));
                return;
            }
            let boot = r.boot_number();
            if self.boots.get(&n) == Some(&boot) {
                continue; // the usual case, checked on every step: no map write
            }
            self.boots.insert(n, boot);
            self.checked += 1;
            if let Err(e) = r.state_machine().self_check() {
                self.violation = Some(format!("node {n} after restart: store check failed: {e}"));
                return;
            }
            self.pending.insert(n, boot);
        }
        let pending: Vec<u32> = self.pending.keys().copied().collect();
        for n in pending {
            let Some(r) = c.running(n) else {
                self.pending.remove(&n);
                continue;
            };
            let idx = r.applied_index();
            let peer = members
                .iter()
                .copied()
                .find(|&m| m != n && c.running(m).is_some_and(|p| p.applied_index() == idx));
            let Some(m) = peer else { continue };
            self.pending.remove(&n);
            self.compared += 1;
            let mine = r.state_machine().digest();
            let theirs = c.running(m).expect("found running").state_machine().digest();
            match (mine, theirs) {
                (Ok(a), Ok(b)) if a == b => {}
                (Ok(a), Ok(b)) => {
                    self.violation = Some(format!(
                        "node {n} after restart disagrees with node {m} at applied index {idx}: \
                         digest {a:016x} vs {b:016x}"
                    ));
                }
                (Err(e), _) | (_, Err(e)) => {
                    self.violation = Some(format!("digest at index {idx} failed: {e}"));
                }
            }
        }
    }
}
