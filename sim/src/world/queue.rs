//! The event queue: a binary min-heap ordered by (time, sequence number).
//!
//! The sequence number is assigned at push time and strictly increases, so two events at the same
//! virtual time run in the order they were scheduled: the order is total and reproducible.
//!
//! Layout: the heap holds 16-byte keys, each one 128-bit number `time << 64 | seq << 24 | slot`:
//! compared as integers they order by (time, seq) — `seq` is unique, so the slot bits never
//! decide — with one branch-free comparison. The events themselves sit in a slab of slots reused
//! through a free list, so sifting moves 16 bytes whatever the event type and a steady-state
//! push/pop allocates nothing. Limits (asserted): 2^40 pushes per queue, 2^24 pending events.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::time::Instant;

const SLOT_BITS: u32 = 24;
const MAX_SEQ: u64 = 1 << (64 - SLOT_BITS);
const MAX_SLOTS: usize = 1 << SLOT_BITS;

/// Events of type `E`, popped in (time, push order).
pub struct EventQueue<E> {
    /// Min-heap of `time << 64 | seq << SLOT_BITS | slot`.
    heap: BinaryHeap<Reverse<u128>>,
    slots: Vec<Option<E>>,
    free: Vec<u32>,
    next_seq: u64,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        EventQueue { heap: BinaryHeap::new(), slots: Vec::new(), free: Vec::new(), next_seq: 0 }
    }
}

impl<E> EventQueue<E> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Schedules `event` at `at`, after every event already scheduled at the same time.
    pub fn push(&mut self, at: Instant, event: E) {
        let slot = match self.free.pop() {
            Some(s) => {
                self.slots[s as usize] = Some(event);
                s
            }
            None => {
                let n = self.slots.len();
                assert!(n < MAX_SLOTS, "event queue: {n} events pending, the limit is {MAX_SLOTS}");
                self.slots.push(Some(event));
                n as u32
            }
        };
        let seq = self.next_seq;
        assert!(seq < MAX_SEQ, "event queue: {seq} events pushed, the limit is {MAX_SEQ}");
        self.next_seq += 1;
        let low = (seq << SLOT_BITS) | u64::from(slot);
        self.heap.push(Reverse((u128::from(at.as_nanos()) << 64) | u128::from(low)));
    }

    /// Removes and returns the earliest event.
    pub fn pop(&mut self) -> Option<(Instant, E)> {
        let Reverse(key) = self.heap.pop()?;
        let slot = (key as u32) & (MAX_SLOTS as u32 - 1);
        let event = self.slots[slot as usize].take().expect("heap key points at a full slot");
        self.free.push(slot);
        Some((Instant((key >> 64) as u64), event))
    }

    /// Time of the earliest event.
    pub fn peek_time(&self) -> Option<Instant> {
        self.heap.peek().map(|k| Instant((k.0 >> 64) as u64))
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn same_time_pops_in_push_order() {
        let mut q = EventQueue::new();
        q.push(Instant(5), "a");
        q.push(Instant(1), "b");
        q.push(Instant(5), "c");
        q.push(Instant(1), "d");
        let order: Vec<&str> = std::iter::from_fn(|| q.pop().map(|(_, e)| e)).collect();
        assert_eq!(order, ["b", "d", "a", "c"]);
    }

    proptest! {
        #[test]
        fn pops_sorted_by_time_then_push_order(
            ops in proptest::collection::vec((any::<bool>(), 0u64..20), 1..200)
        ) {
            let mut q = EventQueue::new();
            let mut model: Vec<(u64, usize)> = Vec::new();
            let mut popped = Vec::new();
            let mut expect = Vec::new();
            for (i, (pop, t)) in ops.into_iter().enumerate() {
                if pop {
                    model.sort();
                    if !model.is_empty() {
                        expect.push(model.remove(0));
                    }
                    if let Some((at, id)) = q.pop() {
                        popped.push((at.as_nanos(), id));
                    }
                } else {
                    q.push(Instant(t), i);
                    model.push((t, i));
                }
            }
            prop_assert_eq!(popped, expect);
        }
    }
}
