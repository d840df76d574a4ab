//! The Wing–Gong–Lowe search for a linearization of one key's operations.
//!
//! Every operation has a call entry and (unless its completion is unbounded and it is optional)
//! a return entry, in one doubly linked list ordered by time, calls before returns at equal
//! times (so touching intervals count as concurrent). The search scans from the head: a call
//! entry is a candidate to linearize next; reaching a return entry means that operation should
//! already have been linearized. Linearizing lifts both entries out of the list (undone on
//! backtrack, dancing-links style) and restarts the scan; hitting a return entry backtracks.
//! Every (finished set, state) configuration is memoised (Lowe's refinement), so no
//! configuration is explored twice.
//!
//! Beyond the classic algorithm:
//! - optional operations (unknown outcome) need not be linearized: the search succeeds once all
//!   required ones are. An optional operation with a bounded completion whose return entry is
//!   reached is *abandoned* (it did not happen) rather than forcing a backtrack;
//! - required operations with unbounded completion (committed, response never seen) have their
//!   return entry after every bounded one;
//! - forced reads: a read-only candidate (footprint `Observe`) whose result matches the current
//!   state is linearized at once, without branching. *Proof:* if any linearization L extends
//!   the current prefix, move that read r to the front of L's remainder: r is a candidate, so
//!   no unfinished operation completed before r was invoked (nothing must precede it), moving r
//!   earlier only relaxes "r before y" constraints, and r changes no state, so every other
//!   operation sees the same state as in L. Hence if the configuration after r fails, so did
//!   the one before, and backtracking passes over forced frames;
//! - dead values: a state-changing step is refused while the current state is a value that
//!   some unfinished required operation still observes and that no unfinished operation can
//!   produce again. *Proof:* every remaining observer needs that value as the state when it is
//!   linearized; once the state changes, nothing can restore it, so no continuation of that
//!   step linearizes those required observers;
//! - twins: equal optional operations with unbounded completion (unknown deletes of one key,
//!   say) are linearized only in invocation order. *Proof:* take a linearization L and twins
//!   `a`, `b` with `inv(a) <= inv(b)` where L uses `b` at point p and `a` later or not at all.
//!   Swap them: `a` at p is valid (`inv(a) <= inv(b) <= p`, no completion bound), `b` at `a`'s
//!   old point (if any) is later than p >= `inv(b)`, and equal operations step every state
//!   alike; repeating sorts every set of twins. So the search loses nothing and no longer tries
//!   every subset of interchangeable operations;
//! - the memo stores a compact canonical encoding of the finished set: the first unfinished
//!   bounded operation `f` (all bounded operations before it are finished), the finished bounded
//!   ones after `f` (few: each was called before `f` returned), then the finished unbounded
//!   ones. Memory per entry is proportional to concurrency, not history length.

use super::memo::{hash_state, mix, Memo};
use super::models::{Footprint, Model};
use super::{OpId, Value};
use std::collections::BTreeMap;

/// One operation of a key, ready for the search.
#[derive(Clone, Debug)]
pub struct KeyOp<O> {
    pub id: OpId,
    pub invoke: u64,
    /// Latest time it may take effect; `None` = unbounded.
    pub deadline: Option<u64>,
    /// Must be linearized (`Ok` or committed) rather than may (unknown outcome).
    pub required: bool,
    pub op: O,
}

/// Limits the work of a check: a step count and/or a caller's deadline test.
pub struct Budget<'a> {
    max_steps: Option<u64>,
    deadline: Option<&'a mut dyn FnMut() -> bool>,
    used: u64,
}

impl<'a> Budget<'a> {
    /// How often (in steps) the deadline test runs; a power of two.
    pub const DEADLINE_EVERY: u64 = 4096;

    pub fn unlimited() -> Budget<'a> {
        Budget { max_steps: None, deadline: None, used: 0 }
    }

    pub fn steps(max_steps: u64) -> Budget<'a> {
        Budget { max_steps: Some(max_steps), deadline: None, used: 0 }
    }

    /// Adds a test returning true once time is up (the library never reads a clock itself).
    pub fn with_deadline(mut self, expired: &'a mut dyn FnMut() -> bool) -> Budget<'a> {
        self.deadline = Some(expired);
        self
    }

    /// Steps spent so far.
    pub fn used(&self) -> u64 {
        self.used
    }

    /// Spends one step; false once the budget is exhausted.
    fn spend(&mut self) -> bool {
        self.used += 1;
        if self.max_steps.is_some_and(|m| self.used > m) {
            return false;
        }
        if self.used & (Self::DEADLINE_EVERY - 1) == 0 {
            if let Some(expired) = self.deadline.as_mut() {
                return !expired();
            }
        }
        true
    }
}

/// Where the search for one key got stuck.
#[derive(Clone, Debug)]
pub struct Stuck<S> {
    /// The longest sequence of operations linearized (indices into the search's input).
    pub prefix: Vec<usize>,
    /// The model state after `prefix`.
    pub state: S,
    /// The operation whose completion was reached without any order placing it.
    pub blocked: usize,
    /// The other operations that could have come next, none of which fit.
    pub pending: Vec<usize>,
    /// Unfinished required operations that observe `state`'s value (a write cannot overwrite it
    /// while they wait, and nothing can produce it again).
    pub waiting: Vec<usize>,
}

/// The result of searching one key.
#[derive(Clone, Debug)]
pub enum Search<S> {
    Linearizable,
    NotLinearizable(Stuck<S>),
    Exhausted,
}

const NIL: usize = usize::MAX;

struct Frame<S> {
    op: usize,
    prev: S,
    abandoned: bool,
    /// A read linearized by the forced-move rule: backtracking passes over it.
    forced: bool,
}

/// What the forced-read pass found.
enum Forced {
    /// Continue scanning at this entry.
    Scan(usize),
    /// The configuration reached was explored before: a dead end.
    Seen,
    Exhausted,
}

/// The linked list of entries: node `i < n` is the call of op `i`, node `n + i` its return,
/// node `2n` the head.
struct Entries {
    n: usize,
    next: Vec<usize>,
    prev: Vec<usize>,
    has_return: Vec<bool>,
}

impl Entries {
    fn build<O>(ops: &[KeyOp<O>]) -> Entries {
        let n = ops.len();
        // (time, 0 = call / 1 = return, node); unbounded required returns go last.
        let mut order: Vec<(u64, u8, usize)> = Vec::with_capacity(2 * n);
        let mut tail = Vec::new();
        let mut has_return = vec![false; n];
        for (i, op) in ops.iter().enumerate() {
            order.push((op.invoke, 0, i));
            match op.deadline {
                Some(d) => order.push((d, 1, n + i)),
                None if op.required => tail.push(n + i),
                None => continue,
            }
            has_return[i] = true;
        }
        order.sort_unstable();
        let mut next = vec![NIL; 2 * n + 1];
        let mut prev = vec![NIL; 2 * n + 1];
        let mut last = 2 * n;
        for node in order.into_iter().map(|(_, _, node)| node).chain(tail) {
            next[last] = node;
            prev[node] = last;
            last = node;
        }
        Entries { n, next, prev, has_return }
    }

    fn head(&self) -> usize {
        2 * self.n
    }

    fn unlink(&mut self, node: usize) {
        let (p, x) = (self.prev[node], self.next[node]);
        self.next[p] = x;
        if x != NIL {
            self.prev[x] = p;
        }
    }

    fn relink(&mut self, node: usize) {
        let (p, x) = (self.prev[node], self.next[node]);
        self.next[p] = node;
        if x != NIL {
            self.prev[x] = node;
        }
    }

    fn lift(&mut self, op: usize) {
        self.unlink(op);
        if self.has_return[op] {
            self.unlink(self.n + op);
        }
    }

    fn unlift(&mut self, op: usize) {
        if self.has_return[op] {
            self.relink(self.n + op);
        }
        self.relink(op);
    }
}

/// The set of finished operations. Bounded operations are indexed `0..bounded` in call order,
/// unbounded ones after them.
struct Finished {
    bits: Vec<u64>,
    bounded: usize,
    /// First unfinished bounded operation.
    first_open: usize,
    done_bounded: usize,
    done_unbounded: usize,
    /// Zobrist hash of the set.
    hash: u64,
}

impl Finished {
    fn new(n: usize, bounded: usize) -> Finished {
        Finished {
            bits: vec![0; n.div_ceil(64)],
            bounded,
            first_open: 0,
            done_bounded: 0,
            done_unbounded: 0,
            hash: 0,
        }
    }

    fn contains(&self, i: usize) -> bool {
        self.bits[i / 64] & (1 << (i % 64)) != 0
    }

    fn set(&mut self, i: usize) {
        self.bits[i / 64] |= 1 << (i % 64);
        self.hash ^= mix(i as u64 ^ 0x5bd1_e995_0000_0000);
        if i < self.bounded {
            self.done_bounded += 1;
            while self.first_open < self.bounded && self.contains(self.first_open) {
                self.first_open += 1;
            }
        } else {
            self.done_unbounded += 1;
        }
    }

    fn clear(&mut self, i: usize) {
        self.bits[i / 64] &= !(1 << (i % 64));
        self.hash ^= mix(i as u64 ^ 0x5bd1_e995_0000_0000);
        if i < self.bounded {
            self.done_bounded -= 1;
            self.first_open = self.first_open.min(i);
        } else {
            self.done_unbounded -= 1;
        }
    }

    /// Pushes `count` set bits at or after `from`, in order.
    fn push_set_bits(&self, from: usize, mut count: usize, out: &mut Vec<u32>) {
        let mut word = from / 64;
        let mut bits = self.bits.get(word).map_or(0, |w| w & (!0u64 << (from % 64)));
        while count > 0 {
            if bits == 0 {
                word += 1;
                bits = self.bits[word];
                continue;
            }
            let bit = bits.trailing_zeros() as usize;
            out.push((word * 64 + bit) as u32);
            bits &= bits - 1;
            count -= 1;
        }
    }

    /// The canonical encoding described in the module documentation.
    fn encode(&self, out: &mut Vec<u32>) {
        out.push(self.first_open as u32);
        let after = self.done_bounded - self.first_open;
        self.push_set_bits(self.first_open + 1, after, out);
        out.push(u32::MAX);
        self.push_set_bits(self.bounded, self.done_unbounded, out);
    }
}

/// Searches for a linearization of `ops` (any order; re-indexed internally).
pub fn search<M: Model>(model: &M, ops: &[KeyOp<M::Op>], budget: &mut Budget) -> Search<M::State> {
    // Bounded operations first, in call order; the indices below are into `sorted`.
    let mut sorted: Vec<usize> = (0..ops.len()).collect();
    sorted.sort_by_key(|&i| (ops[i].deadline.is_none(), ops[i].invoke, i));
    let reindexed: Vec<KeyOp<M::Op>> = sorted.iter().map(|&i| ops[i].clone()).collect();
    match Searcher::new(model, &reindexed).run(budget) {
        Search::NotLinearizable(stuck) => Search::NotLinearizable(Stuck {
            prefix: stuck.prefix.iter().map(|&i| sorted[i]).collect(),
            state: stuck.state,
            blocked: sorted[stuck.blocked],
            pending: stuck.pending.iter().map(|&i| sorted[i]).collect(),
            waiting: stuck.waiting.iter().map(|&i| sorted[i]).collect(),
        }),
        other => other,
    }
}

struct Searcher<'m, M: Model> {
    model: &'m M,
    ops: &'m [KeyOp<M::Op>],
    entries: Entries,
    finished: Finished,
    memo: Memo<M::State>,
    required: usize,
    done_required: usize,
    stack: Vec<Frame<M::State>>,
    /// Value ids of every value a footprint mentions (dead-value pruning).
    values: ValueIds,
    /// The deepest stack seen at a dead end, as (op, abandoned); `best[..agree]` equals the
    /// current stack, so recording a deeper one copies only what changed since.
    best: Vec<(usize, bool)>,
    agree: usize,
    /// The rest of the deepest dead end: state, blocked operation, pending operations.
    dead_end: Option<(M::State, usize, Vec<usize>)>,
    /// For an optional unbounded operation: the latest-invoked equal one invoked before it,
    /// which must be finished first (see "twins" in the module docs).
    twin_before: Vec<Option<usize>>,
}

/// The twin each operation waits for (see "twins" in the module docs). `ops` are in the
/// search's order: bounded ones first, then unbounded ones by invocation.
fn twins<O: PartialEq>(ops: &[KeyOp<O>]) -> Vec<Option<usize>> {
    let mut out = vec![None; ops.len()];
    let free: Vec<usize> =
        (0..ops.len()).filter(|&i| ops[i].deadline.is_none() && !ops[i].required).collect();
    for (j, &i) in free.iter().enumerate() {
        out[i] = free[..j].iter().rev().copied().find(|&t| ops[t].op == ops[i].op);
    }
    out
}

impl<'m, M: Model> Searcher<'m, M> {
    fn new(model: &'m M, ops: &'m [KeyOp<M::Op>]) -> Self {
        let bounded = ops.iter().take_while(|o| o.deadline.is_some()).count();
        Searcher {
            model,
            ops,
            entries: Entries::build(ops),
            finished: Finished::new(ops.len(), bounded),
            memo: Memo::new(),
            required: ops.iter().filter(|o| o.required).count(),
            done_required: 0,
            stack: Vec::new(),
            values: ValueIds::new(model, ops),
            best: Vec::new(),
            agree: 0,
            dead_end: None,
            twin_before: twins(ops),
        }
    }

    /// Marks `op` finished (linearized or abandoned) in `state`; false if that configuration
    /// was already explored.
    fn try_finish(&mut self, op: usize, state: &M::State) -> bool {
        self.finished.set(op);
        let hash = self.finished.hash ^ hash_state(state).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let finished = &self.finished;
        if self.memo.insert(hash, state, |out| finished.encode(out), Clone::clone) {
            return true;
        }
        self.finished.clear(op);
        false
    }

    fn run(mut self, budget: &mut Budget) -> Search<M::State> {
        let head = self.entries.head();
        let mut state = self.model.init();
        let mut entry = self.entries.next[head];
        let mut restart = true;
        loop {
            if restart {
                restart = false;
                match self.force_reads(&mut state, budget) {
                    Forced::Scan(e) => entry = e,
                    Forced::Exhausted => return Search::Exhausted,
                    Forced::Seen => match self.backtrack(&mut state) {
                        Some(resume) => {
                            entry = resume;
                            continue;
                        }
                        None => return Search::NotLinearizable(self.stuck()),
                    },
                }
            }
            if self.done_required == self.required {
                return Search::Linearizable;
            }
            if !budget.spend() {
                return Search::Exhausted;
            }
            assert!(entry != NIL, "a required operation is unfinished but has no return entry");
            let n = self.entries.n;
            if entry < n {
                let op = entry;
                if self.twin_before[op].is_some_and(|t| !self.finished.contains(t)) {
                    entry = self.entries.next[entry];
                    continue;
                }
                let step = self.model.step(&state, &self.ops[op].op);
                if let Some(next) = step.filter(|next| !self.kills_value(op, &state, next)) {
                    if self.try_finish(op, &next) {
                        self.push(op, std::mem::replace(&mut state, next), false, false);
                        restart = true;
                        continue;
                    }
                }
                entry = self.entries.next[entry];
                continue;
            }
            let op = entry - n;
            if !self.ops[op].required && self.try_finish(op, &state) {
                self.push(op, state.clone(), true, false);
                restart = true;
                continue;
            }
            self.record_dead_end(op, entry, &state);
            match self.backtrack(&mut state) {
                Some(resume) => entry = resume,
                None => return Search::NotLinearizable(self.stuck()),
            }
        }
    }

    /// True if `op` moving from `state` to `next` destroys a value other unfinished required
    /// operations still observe (see the module docs).
    fn kills_value(&self, op: usize, state: &M::State, next: &M::State) -> bool {
        if state == next {
            return false;
        }
        let Some(id) = self.model.state_value(state).and_then(|v| self.values.id(v)) else {
            return false;
        };
        let own = usize::from(self.values.observes[op] == Some(id));
        self.values.observers_left[id] > own && self.values.producers_left[id] == 0
    }

    /// Linearizes every read-only candidate that fits the state (see the module docs).
    fn force_reads(&mut self, state: &mut M::State, budget: &mut Budget) -> Forced {
        let mut node = self.entries.next[self.entries.head()];
        while node != NIL && node < self.entries.n {
            let op = node;
            node = self.entries.next[node];
            if !matches!(self.model.footprint(&self.ops[op].op), Footprint::Observe(_)) {
                continue;
            }
            if !budget.spend() {
                return Forced::Exhausted;
            }
            if let Some(next) = self.model.step(state, &self.ops[op].op) {
                if !self.try_finish(op, &next) {
                    return Forced::Seen;
                }
                self.push(op, std::mem::replace(state, next), false, true);
                if self.done_required == self.required {
                    break;
                }
            }
        }
        Forced::Scan(self.entries.next[self.entries.head()])
    }

    fn push(&mut self, op: usize, prev: M::State, abandoned: bool, forced: bool) {
        self.values.finish(op);
        if self.ops[op].required {
            self.done_required += 1;
        }
        self.entries.lift(op);
        self.stack.push(Frame { op, prev, abandoned, forced });
    }

    /// Undoes frames up to and including the last linearization; returns the entry to resume
    /// the scan at, or `None` when the search space is exhausted.
    fn backtrack(&mut self, state: &mut M::State) -> Option<usize> {
        loop {
            let frame = self.stack.pop()?;
            self.agree = self.agree.min(self.stack.len());
            self.finished.clear(frame.op);
            self.values.unfinish(frame.op);
            if self.ops[frame.op].required {
                self.done_required -= 1;
            }
            self.entries.unlift(frame.op);
            *state = frame.prev;
            if !frame.abandoned && !frame.forced {
                return Some(self.entries.next[frame.op]);
            }
        }
    }

    /// Remembers the deepest dead end: its prefix, state, and the operations that did not fit.
    fn record_dead_end(&mut self, blocked: usize, return_entry: usize, state: &M::State) {
        if self.dead_end.is_some() && self.stack.len() <= self.best.len() {
            return;
        }
        self.best.truncate(self.agree);
        self.best.extend(self.stack[self.agree..].iter().map(|f| (f.op, f.abandoned)));
        self.agree = self.stack.len();
        let mut pending = Vec::new();
        let mut node = self.entries.next[self.entries.head()];
        while node != return_entry && node != NIL {
            if node < self.entries.n && node != blocked {
                pending.push(node);
            }
            node = self.entries.next[node];
        }
        self.dead_end = Some((state.clone(), blocked, pending));
    }

    fn stuck(&mut self) -> Stuck<M::State> {
        let (state, blocked, pending) = self.dead_end.take().expect("a dead end was recorded");
        let prefix = self.best.iter().filter(|(_, abandoned)| !abandoned).map(|&(op, _)| op);
        let mut done = vec![false; self.ops.len()];
        for &(op, _) in &self.best {
            done[op] = true;
        }
        let id = self.model.state_value(&state).and_then(|v| self.values.id(v));
        let waiting = (0..self.ops.len())
            .filter(|&i| !done[i] && id.is_some() && self.values.observes[i] == id)
            .collect();
        Stuck { prefix: prefix.collect(), state, blocked, pending, waiting }
    }
}

/// Per-value counters for dead-value pruning: how many unfinished required operations observe
/// each value, and how many unfinished operations (linearized or not yet) can produce it.
struct ValueIds {
    ids: BTreeMap<Value, usize>,
    /// For each op: the id of the value it observes if it is required, and of the value it
    /// produces.
    observes: Vec<Option<usize>>,
    produces: Vec<Option<usize>>,
    observers_left: Vec<usize>,
    producers_left: Vec<usize>,
}

impl ValueIds {
    fn new<M: Model>(model: &M, ops: &[KeyOp<M::Op>]) -> ValueIds {
        let mut ids: BTreeMap<Value, usize> = BTreeMap::new();
        let mut intern = |v: &Value| {
            let next = ids.len();
            *ids.entry(v.clone()).or_insert(next)
        };
        let mut observes = Vec::with_capacity(ops.len());
        let mut produces = Vec::with_capacity(ops.len());
        for o in ops {
            let (obs, prod) = match model.footprint(&o.op) {
                Footprint::Observe(v) => (Some(v), None),
                Footprint::Overwrite(v) => (None, Some(v)),
                Footprint::Swap { expect, value } => (Some(expect), Some(value)),
                Footprint::Append(_) | Footprint::Opaque => (None, None),
            };
            observes.push(obs.filter(|_| o.required).map(&mut intern));
            produces.push(prod.map(&mut intern));
        }
        let n = ids.len();
        let mut v = ValueIds {
            ids,
            observes,
            produces,
            observers_left: vec![0; n],
            producers_left: vec![0; n],
        };
        // An append can produce vectors no footprint names: vectors are never pruned then.
        let appends = ops
            .iter()
            .any(|o| matches!(model.footprint(&o.op), Footprint::Append(_) | Footprint::Opaque));
        for i in 0..ops.len() {
            if let Some(id) = v.observes[i] {
                v.observers_left[id] += 1;
            }
            if let Some(id) = v.produces[i] {
                v.producers_left[id] += 1;
            }
        }
        if appends {
            for (value, &id) in &v.ids {
                if !matches!(value, Value::Int(_) | Value::Str(_)) {
                    v.producers_left[id] = usize::MAX / 2;
                }
            }
        }
        v
    }

    fn id(&self, v: &Value) -> Option<usize> {
        self.ids.get(v).copied()
    }

    /// `op` finished (linearized or abandoned: either way it observes and produces no more).
    fn finish(&mut self, op: usize) {
        if let Some(id) = self.observes[op] {
            self.observers_left[id] -= 1;
        }
        if let Some(id) = self.produces[op] {
            self.producers_left[id] -= 1;
        }
    }

    fn unfinish(&mut self, op: usize) {
        if let Some(id) = self.observes[op] {
            self.observers_left[id] += 1;
        }
        if let Some(id) = self.produces[op] {
            self.producers_left[id] += 1;
        }
    }
}
