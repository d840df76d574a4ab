//! Flow control: the last indexes of MsgApps sent to one follower but not yet acknowledged.
//!
//! Invariant: indexes are strictly increasing and at most `cap` are outstanding.

use std::collections::VecDeque;

#[derive(Clone, Debug)]
pub struct Inflights {
    cap: usize,
    queue: VecDeque<u64>,
}

impl Inflights {
    pub fn new(cap: usize) -> Inflights {
        assert!(cap > 0, "inflight capacity must be positive");
        Inflights { cap, queue: VecDeque::new() }
    }

    /// Records a MsgApp whose last entry is `last`.
    pub fn add(&mut self, last: u64) {
        assert!(!self.full(), "cannot add into a full inflights (cap {})", self.cap);
        if let Some(&prev) = self.queue.back() {
            assert!(last > prev, "inflight {last} not after previous {prev}");
        }
        self.queue.push_back(last);
    }

    /// Frees every message whose last index is `<= to`.
    pub fn free_le(&mut self, to: u64) {
        while self.queue.front().is_some_and(|&i| i <= to) {
            self.queue.pop_front();
        }
    }

    pub fn full(&self) -> bool {
        self.queue.len() >= self.cap
    }

    pub fn count(&self) -> usize {
        self.queue.len()
    }

    pub fn reset(&mut self) {
        self.queue.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_and_frees_in_order() {
        let mut f = Inflights::new(3);
        f.add(2);
        f.add(5);
        f.add(9);
        assert!(f.full());
        f.free_le(5);
        assert_eq!(f.count(), 1);
        assert!(!f.full());
        f.free_le(100);
        assert_eq!(f.count(), 0);
    }
}
