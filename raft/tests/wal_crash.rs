//! Crash at every disk operation of create, save (append + sync), cut and snapshot-marker save,
//! on a SimDisk whose crash tears or drops unsynced writes and loses unsynced directory
//! operations. After each crash the WAL is recovered (repairing a torn tail) and must hold every
//! acknowledged record, in order, and nothing that was never written; it must then accept new
//! records and return them after a clean reopen.

mod wal_support;

use std::rc::Rc;

use raft::core::{Entry, HardState};
use raft::wal::{Repair, Wal, WalError};
use sim::simulated::disk::SimDisk;
use wal_support::*;

const SEGMENT: u64 = 2048;
/// Crash fates tried per crash point.
const SEEDS: u64 = 16;

#[derive(Clone, Debug)]
enum Op {
    Save(HardState, Vec<Entry>),
    Marker(u64, u64),
}

/// The script: saves of growing entries (several cuts at 2 KiB segments), commit-only saves
/// (not synced), a conflicting overwrite by a new term, and a snapshot marker.
fn script() -> Vec<Op> {
    let mut ops = Vec::new();
    for i in 1..=5u64 {
        ops.push(Op::Save(hs(1, 1, i - 1), vec![entry(i, 1, 150 * i as usize)]));
    }
    ops.push(Op::Save(hs(1, 1, 4), vec![])); // commit only: written, not synced
    ops.push(Op::Marker(3, 1));
    ops.push(Op::Save(hs(2, 2, 4), vec![entry(5, 2, 300), entry(6, 2, 600), entry(7, 2, 900)]));
    ops.push(Op::Save(hs(2, 2, 6), vec![entry(8, 2, 90)]));
    ops.push(Op::Save(hs(2, 2, 8), vec![])); // commit only: written, not synced
    ops
}

/// The model after applying `ops`: (log from index 1, hard state, last marker).
fn model(ops: &[Op]) -> (Vec<Entry>, HardState, (u64, u64)) {
    let mut log: Vec<Entry> = Vec::new();
    let mut state = HardState::default();
    let mut snap = (0, 0);
    for op in ops {
        match op {
            Op::Save(h, es) => {
                for e in es {
                    log.truncate(e.index as usize - 1);
                    log.push(e.clone());
                }
                state = *h;
            }
            Op::Marker(i, t) => snap = (*i, *t),
        }
    }
    (log, state, snap)
}

/// Runs create + the script, counting acknowledged steps (create is step 0).
fn run(disk: &Rc<SimDisk>, ops: &[Op], acked: &mut usize) -> Result<(), WalError> {
    let mut wal = Wal::create(dyn_disk(disk), "wal", b"crash", config(SEGMENT))?;
    *acked = 1;
    for op in ops {
        match op {
            Op::Save(h, es) => wal.save(h, es)?,
            Op::Marker(i, t) => wal.save_snapshot(&marker(*i, *t))?,
        }
        *acked += 1;
    }
    Ok(())
}

/// Whether acknowledging step `t` promises durability: markers always sync, saves sync when
/// they carry entries or change term or vote (etcd's MustSync); a commit-only save does not.
fn syncs(ops: &[Op], t: usize) -> bool {
    match &ops[t] {
        Op::Marker(..) => true,
        Op::Save(h, es) => {
            let (_, prev, _) = model(&ops[..t]);
            !es.is_empty() || h.term != prev.term || h.vote != prev.vote
        }
    }
}

/// Every (entries, hard state) recovery may legally return when `acked` steps were
/// acknowledged (create is step 0) and the next one was in flight, for a WAL opened at marker
/// `from`: any prefix of the record stream that contains every record up to the last step whose
/// acknowledgement promised durability.
fn allowed(ops: &[Op], acked: usize, from: u64) -> Vec<(Vec<Entry>, HardState)> {
    let done = acked.saturating_sub(1);
    let lo = (0..done).rev().find(|&t| syncs(ops, t)).map_or(0, |t| t + 1);
    let hi = if acked == 0 { 0 } else { (done + 1).min(ops.len()) };
    let tail = |l: Vec<Entry>| l[from as usize..].to_vec();
    let mut out = Vec::new();
    for t in lo..hi {
        let (log, state, _) = model(&ops[..t]);
        out.push((tail(log), state));
        if let Op::Save(h, es) = &ops[t] {
            for j in 1..=es.len() {
                let partial = Op::Save(*h, es[..j].to_vec());
                let (log, _, _) = model(&[&ops[..t], &[partial]].concat());
                out.push((tail(log), state));
            }
        }
    }
    let (log, state, _) = model(&ops[..hi]);
    out.push((tail(log), state));
    out
}

#[test]
fn recovery_after_a_crash_at_every_disk_operation() {
    let ops = script();
    let clean = sim_disk(0);
    let mut acked = 0;
    run(&clean, &ops, &mut acked).unwrap();
    let total = clean.ops();
    assert!(total > 40, "script does only {total} disk operations");
    let (full_log, _, _) = model(&ops);

    let (mut repaired, mut torn_in_flight, mut runs) = (0, 0, 0);
    for k in 0..=total {
        for seed in 0..SEEDS {
            runs += 1;
            let disk = sim_disk(1000 * k + seed);
            disk.crash_after_ops(k);
            let mut acked = 0;
            let result = run(&disk, &ops, &mut acked);
            // Every crash point is inside the script; only a crash while preparing the next
            // tmp file ahead (which never fails the step) lets the script finish.
            assert!(k >= total || disk.has_crashed(), "k {k}: the crash never happened");
            if let Err(err) = &result {
                assert!(err.is_crash(), "k {k}: {err}");
            }
            disk.crash();
            let ctx = format!("crash at op {k}, seed {seed}, {acked} steps acknowledged");

            if !Wal::exists(&*disk, "wal").unwrap() {
                assert_eq!(acked, 0, "{ctx}: the WAL vanished after create returned");
                continue;
            }
            // Open at the last acknowledged marker (an in-flight marker may be missing).
            let done = acked.saturating_sub(1);
            let (_, _, (mi, mt)) = model(&ops[..done]);
            let (wal, got, repair) =
                Wal::open_repairing(dyn_disk(&disk), "wal", &marker(mi, mt), config(SEGMENT))
                    .unwrap_or_else(|e| panic!("{ctx}: recovery failed: {e}"));
            if let Repair::Truncated { .. } = repair {
                repaired += 1;
            }
            assert_eq!(got.metadata, b"crash", "{ctx}");
            let candidates = allowed(&ops, acked, mi);
            let pos = candidates
                .iter()
                .position(|(es, h)| *es == got.entries && *h == got.hard_state)
                .unwrap_or_else(|| {
                    panic!(
                        "{ctx}: recovered {} entries (last {:?}) and {:?}, not one of the \
                         allowed outcomes",
                        got.entries.len(),
                        got.entries.last().map(|e| (e.index, e.term)),
                        got.hard_state
                    )
                });
            if pos > 0 && pos + 1 < candidates.len() {
                torn_in_flight += 1;
            }

            // The recovered WAL accepts new records and returns them after a clean reopen.
            // Small ones, reopening after each, so that the end of the log walks over whatever
            // a crash left behind the last valid record (recovery must have zeroed it).
            let mut wal = wal;
            let mut want = got.entries.clone();
            let state = HardState { term: 9, vote: 3, commit: got.hard_state.commit };
            for k in 0..10 {
                let e = entry(mi + want.len() as u64 + 1, 9, 5 + 41 * k);
                wal.save(&state, std::slice::from_ref(&e)).unwrap();
                want.push(e);
                drop(wal);
                let (w, again) =
                    Wal::open(dyn_disk(&disk), "wal", &marker(mi, mt), config(SEGMENT))
                        .unwrap_or_else(|e| panic!("{ctx}: reopen {k} after recovery: {e}"));
                assert_eq!(again.entries, want, "{ctx}: reopen {k}");
                assert_eq!(again.hard_state, state, "{ctx}: reopen {k}");
                wal = w;
            }
        }
    }
    eprintln!("{runs} runs over {total} crash points: {repaired} torn-tail repairs, {torn_in_flight} partial in-flight saves");
    assert!(runs > 100);
    assert!(repaired > 0, "no run ever needed a torn-tail repair: the sweep is too gentle");
    assert!(torn_in_flight > 0, "no run ever kept part of an in-flight save");
    assert!(full_log.len() == 8);
}

/// How one crash-and-recover run ended.
enum Outcome {
    /// Recovery finished before its operation `j`: nothing left to sweep for this crash.
    RecoveryFinished,
    /// Recovery succeeded and every check held; whether it repaired a torn tail.
    Checked { repaired: bool },
}

/// Crashes the script at operation `k` (fates from `seed`), then recovers, crashing the
/// recovery at its operation `j` if given. Deterministic: the same (k, seed) rebuilds the same
/// disk, so a sweep over `j` crashes every operation of the same recovery.
fn crash_then_recover(ops: &[Op], k: u64, seed: u64, j: Option<u64>) -> Outcome {
    let disk = sim_disk(1000 * k + seed);
    disk.crash_after_ops(k);
    let mut acked = 0;
    let _ = run(&disk, ops, &mut acked);
    disk.crash();
    let ctx = format!("crash at op {k}, seed {seed}, recovery crash {j:?}");
    let done = acked.saturating_sub(1);
    let (_, _, (mi, mt)) = model(&ops[..done]);
    if let Some(j) = j {
        disk.crash_after_ops(j);
        let first = if Wal::exists(&*disk, "wal").unwrap_or(false) {
            Wal::open_repairing(dyn_disk(&disk), "wal", &marker(mi, mt), config(SEGMENT)).map(drop)
        } else {
            Ok(())
        };
        if disk.has_crashed() {
            disk.crash();
        } else {
            first.unwrap_or_else(|e| panic!("{ctx}: recovery failed: {e}"));
            return Outcome::RecoveryFinished;
        }
    }
    if !Wal::exists(&*disk, "wal").unwrap() {
        assert_eq!(acked, 0, "{ctx}: the WAL vanished after create returned");
        return Outcome::Checked { repaired: false };
    }
    let (_wal, got, repair) =
        Wal::open_repairing(dyn_disk(&disk), "wal", &marker(mi, mt), config(SEGMENT))
            .unwrap_or_else(|e| panic!("{ctx}: recovery failed: {e}"));
    assert!(
        allowed(ops, acked, mi).iter().any(|(es, h)| *es == got.entries && *h == got.hard_state),
        "{ctx}: recovered {} entries and {:?}: not an allowed outcome",
        got.entries.len(),
        got.hard_state
    );
    Outcome::Checked { repaired: matches!(repair, Repair::Truncated { .. }) }
}

#[test]
fn a_crash_during_recovery_is_recovered_from_too() {
    let ops = script();
    let clean = sim_disk(0);
    let mut acked = 0;
    run(&clean, &ops, &mut acked).unwrap();
    let total = clean.ops();
    let (mut double_crashes, mut repaired_after) = (0, 0);
    for k in 0..total {
        for seed in 0..4 {
            for j in 0.. {
                match crash_then_recover(&ops, k, seed, Some(j)) {
                    Outcome::RecoveryFinished => break,
                    Outcome::Checked { repaired } => {
                        double_crashes += 1;
                        repaired_after += u64::from(repaired);
                    }
                }
                assert!(j < 200, "recovery of k {k} seed {seed} never finishes");
            }
        }
    }
    eprintln!("{double_crashes} crashes during recovery, {repaired_after} then needed a repair");
    assert!(double_crashes > 100, "only {double_crashes} recovery crash points");
    assert!(repaired_after > 0, "no crash during recovery left a torn tail to repair");
}
