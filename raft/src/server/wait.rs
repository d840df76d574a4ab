//! The wait registry: requests waiting for their entry to apply (or their read to be served).
//!
//! Like etcd's `wait.Wait`: register a key, trigger it with the result once, and time out
//! cleanly. Invariant: a key is registered at most once at a time; triggering or expiring
//! removes it, so a result is delivered at most once.

use std::collections::BTreeMap;

use sim::time::Instant;

/// Why [`WaitRegistry::register`] refused a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DuplicateKey(pub u64);

/// One waiter: its deadline and what the caller attached (the client's request id, ...).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Waiter<V> {
    deadline: Instant,
    value: V,
}

/// Keys waiting for a result, each with a deadline.
#[derive(Clone, Debug)]
pub struct WaitRegistry<V> {
    waiters: BTreeMap<u64, Waiter<V>>,
}

impl<V> Default for WaitRegistry<V> {
    fn default() -> Self {
        WaitRegistry { waiters: BTreeMap::new() }
    }
}

impl<V> WaitRegistry<V> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `key` until `deadline`.
    pub fn register(&mut self, key: u64, deadline: Instant, value: V) -> Result<(), DuplicateKey> {
        if self.waiters.contains_key(&key) {
            return Err(DuplicateKey(key));
        }
        self.waiters.insert(key, Waiter { deadline, value });
        Ok(())
    }

    /// Removes `key` and returns what was attached, or `None` if it is not waiting (already
    /// triggered, expired, or never registered).
    pub fn trigger(&mut self, key: u64) -> Option<V> {
        self.waiters.remove(&key).map(|w| w.value)
    }

    /// Whether `key` is waiting.
    pub fn is_registered(&self, key: u64) -> bool {
        self.waiters.contains_key(&key)
    }

    /// The attached value of a waiting key.
    pub fn get_mut(&mut self, key: u64) -> Option<&mut V> {
        self.waiters.get_mut(&key).map(|w| &mut w.value)
    }

    /// Removes and returns every key whose deadline is at or before `now`, in key order.
    pub fn expire(&mut self, now: Instant) -> Vec<(u64, V)> {
        let due: Vec<u64> =
            self.waiters.iter().filter(|(_, w)| w.deadline <= now).map(|(k, _)| *k).collect();
        due.into_iter().filter_map(|k| self.waiters.remove(&k).map(|w| (k, w.value))).collect()
    }

    /// Removes and returns every waiter whose value matches `pred`, in key order.
    pub fn drain_where(&mut self, mut pred: impl FnMut(&V) -> bool) -> Vec<(u64, V)> {
        let keys: Vec<u64> =
            self.waiters.iter().filter(|(_, w)| pred(&w.value)).map(|(k, _)| *k).collect();
        keys.into_iter().filter_map(|k| self.waiters.remove(&k).map(|w| (k, w.value))).collect()
    }

    /// Keys and values in key order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &V)> {
        self.waiters.iter().map(|(k, w)| (*k, &w.value))
    }

    pub fn len(&self) -> usize {
        self.waiters.len()
    }

    pub fn is_empty(&self) -> bool {
        self.waiters.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim::time::Duration;

    fn at(ms: u64) -> Instant {
        Instant::ZERO + Duration::from_millis(ms)
    }

    #[test]
    fn trigger_delivers_once() {
        let mut w = WaitRegistry::new();
        w.register(1, at(10), "a").unwrap();
        assert_eq!(w.register(1, at(20), "b"), Err(DuplicateKey(1)));
        assert_eq!(w.trigger(1), Some("a"));
        assert_eq!(w.trigger(1), None);
        assert!(w.is_empty());
    }

    #[test]
    fn expire_removes_only_due_keys() {
        let mut w = WaitRegistry::new();
        w.register(1, at(10), 'x').unwrap();
        w.register(2, at(30), 'y').unwrap();
        w.register(3, at(10), 'z').unwrap();
        assert_eq!(w.expire(at(9)), vec![]);
        assert_eq!(w.expire(at(10)), vec![(1, 'x'), (3, 'z')]);
        assert_eq!(w.trigger(1), None, "an expired key cannot be triggered");
        assert_eq!(w.len(), 1);
        assert_eq!(w.trigger(2), Some('y'));
    }

    #[test]
    fn drain_where_selects_by_value() {
        let mut w = WaitRegistry::new();
        for k in 0..6 {
            w.register(k, at(5), k * 10).unwrap();
        }
        assert_eq!(w.drain_where(|v| v % 20 == 0), vec![(0, 0), (2, 20), (4, 40)]);
        assert_eq!(w.iter().map(|(k, _)| k).collect::<Vec<_>>(), vec![1, 3, 5]);
    }
}
