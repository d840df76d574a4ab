//! The event queue: a binary min-heap ordered by (time, sequence number).
//!
//! The sequence number is assigned at push time and strictly increases, so two events at the same
//! virtual time run in the order they were scheduled: the order is total and reproducible.
//!
//! Layout: the heap holds small fixed-size keys (`time`, `seq`, slot index); the events themselves
//! sit in a slab of slots reused through a free list, so sifting moves 24 bytes whatever the event
//! type and a steady-state push/pop allocates nothing.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::time::Instant;

#[derive(Clone, Copy, PartialEq, Eq)]
struct Key {
    time: u64,
    seq: u64,
    slot: u32,
}

impl Ord for Key {
    /// Reversed so that `BinaryHeap` (a max-heap) pops the earliest (time, seq) first.
    /// Compared as one 128-bit number (time high, seq low): the same order as the tuple,
    /// without branches.
    #[inline]
    fn cmp(&self, other: &Key) -> Ordering {
        other.order().cmp(&self.order())
    }
}

impl Key {
    #[inline]
    fn order(&self) -> u128 {
        (u128::from(self.time) << 64) | u128::from(self.seq)
    }
}

impl PartialOrd for Key {
    #[inline]
    fn partial_cmp(&self, other: &Key) -> Option<Ordering> {
        Some(self.cmp(other))
    }

    #[inline]
    fn lt(&self, other: &Key) -> bool {
        other.order() < self.order()
    }

    #[inline]
    fn le(&self, other: &Key) -> bool {
        other.order() <= self.order()
    }
}

/// Events of type `E`, popped in (time, push order).
pub struct EventQueue<E> {
    heap: BinaryHeap<Key>,
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
                let s = u32::try_from(self.slots.len()).expect("more than 2^32 pending events");
                self.slots.push(Some(event));
                s
            }
        };
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap.push(Key { time: at.as_nanos(), seq, slot });
    }

    /// Removes and returns the earliest event.
    pub fn pop(&mut self) -> Option<(Instant, E)> {
        let key = self.heap.pop()?;
        let event = self.slots[key.slot as usize].take().expect("heap key points at a full slot");
        self.free.push(key.slot);
        Some((Instant(key.time), event))
    }

    /// Time of the earliest event.
    pub fn peek_time(&self) -> Option<Instant> {
        self.heap.peek().map(|k| Instant(k.time))
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
