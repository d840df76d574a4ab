//! The memoised exhaustive oracle: Wing & Gong's search over linearization orders, remembering
//! every (set of linearized entries, state) configuration already explored, and nothing more.
//!
//! A configuration is the set `done` of entries linearized so far and the map they leave.
//! From it, entry `b` may come next iff it is not done and no entry that is not done completed
//! strictly before `b` was invoked, i.e. `b.invoke <= frontier`, the earliest completion among
//! entries not done (`b`'s own completion is never earlier than its invocation, so counting it
//! changes nothing). Taking `b` applies its call to the map; if `b`'s return value is known it
//! must match. The search succeeds once every required entry is done; optional ones (`Info`)
//! may stay out forever.
//!
//! A configuration's outcome depends only on `(done, map)`, so each is explored once: a
//! configuration met again has already failed (the search stops at the first success). Taking
//! an optional entry that leaves the map as it was (a refused cas, a txn whose compares fail)
//! is skipped: it is the same as leaving the entry out.
//!
//! Deliberately unlike the project's search: no event list, no forced reads, no dead-value
//! pruning, no reductions, and the memo holds the whole `done` bitset with the whole map.
//! An explicit stack (no recursion) keeps long histories off the thread's stack.

use std::collections::BTreeSet;

use super::{apply, Checked, Entry, Map, Verdict};

/// A configuration being explored, and the next candidate to try from it.
struct Frame {
    done: Vec<u64>,
    map: Map,
    /// Position in `order` of the next candidate.
    cursor: usize,
    /// The earliest completion among entries not done (`u64::MAX`: none).
    frontier: u64,
}

fn is_set(bits: &[u64], i: usize) -> bool {
    bits[i / 64] >> (i % 64) & 1 == 1
}

fn frontier(entries: &[Entry], done: &[u64]) -> u64 {
    entries
        .iter()
        .enumerate()
        .filter(|(i, _)| !is_set(done, *i))
        .filter_map(|(_, e)| e.complete)
        .min()
        .unwrap_or(u64::MAX)
}

/// Checks one component's entries, visiting at most `max_configs` configurations.
pub fn check(entries: &[Entry], max_configs: u64) -> Checked {
    let n = entries.len();
    let words = n.div_ceil(64);
    let mut required = vec![0u64; words];
    for (i, e) in entries.iter().enumerate() {
        if e.required {
            required[i / 64] |= 1 << (i % 64);
        }
    }
    let finished = |done: &[u64]| done.iter().zip(&required).all(|(d, r)| d & r == *r);
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| entries[i].invoke);

    let root = vec![0u64; words];
    if finished(&root) {
        return Checked { verdict: Verdict::Linearizable, work: 0, entries: n };
    }
    let mut seen: BTreeSet<(Vec<u64>, Map)> = BTreeSet::new();
    seen.insert((root.clone(), Map::new()));
    let mut configs = 1u64;
    let mut stack =
        vec![Frame { frontier: frontier(entries, &root), done: root, map: Map::new(), cursor: 0 }];
    while let Some(top) = stack.last_mut() {
        let Some(&b) = order.get(top.cursor) else {
            stack.pop();
            continue;
        };
        let e = &entries[b];
        if e.invoke > top.frontier {
            // Every later candidate was invoked even later: none can come next.
            stack.pop();
            continue;
        }
        top.cursor += 1;
        if is_set(&top.done, b) {
            continue;
        }
        let mut map = top.map.clone();
        let ret = apply(&e.call, &mut map);
        match &e.ret {
            Some(expected) if *expected != ret => continue,
            None if map == top.map => continue,
            _ => {}
        }
        let mut done = top.done.clone();
        done[b / 64] |= 1 << (b % 64);
        if finished(&done) {
            return Checked { verdict: Verdict::Linearizable, work: configs, entries: n };
        }
        let key = (done, map);
        if seen.contains(&key) {
            continue;
        }
        if configs == max_configs {
            return Checked { verdict: Verdict::Exhausted, work: configs, entries: n };
        }
        configs += 1;
        seen.insert(key.clone());
        let (done, map) = key;
        stack.push(Frame { frontier: frontier(entries, &done), done, map, cursor: 0 });
    }
    Checked { verdict: Verdict::NotLinearizable, work: configs, entries: n }
}
