//! Planted bugs: deliberate, realistic one-line mistakes compiled into the stack behind a
//! runtime switch, so that the testbed can show it catches them (`dst bugs`, `dst sensitivity`).
//!
//! A crate declares each of its mistakes as a `pub static` [`PlantedBug`] and guards the one
//! wrong line with [`active`]:
//!
//! ```ignore
//! pub static VOTE_TWICE: PlantedBug = PlantedBug { name: "raft-vote-twice", .. };
//! let can_vote = self.vote == m.from || self.vote == NONE || planted::active(&VOTE_TWICE);
//! ```
//!
//! At most one bug is active per thread, for as long as the [`Activation`] that switched it on
//! lives (a sweep runs one simulated run per thread at a time, each with its own bug). When none
//! is active — always, outside the testbed — a check is one thread-local load and one compare.
//! A bug is identified by the address of its `static`, so two crates can never collide.
//!
//! Determinism: which bug is active is part of the run's input (the plan's knobs), set before
//! the run starts and cleared after it; nothing else reads it.

use std::cell::Cell;
use std::fmt;

/// One planted mistake. Declare it as a `pub static` (its address is its identity).
pub struct PlantedBug {
    /// Kebab-case name, unique across the catalogue (`dst run --bug NAME`).
    pub name: &'static str,
    /// The layer the wrong line lives in: `raft-core`, `server`, `engine`, `mvcc`, `wal`,
    /// `snapshotter` or `transport`.
    pub layer: &'static str,
    /// One line: what the code does wrong and which rule that breaks.
    pub summary: &'static str,
}

impl fmt::Debug for PlantedBug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PlantedBug({})", self.name)
    }
}

impl PartialEq for PlantedBug {
    fn eq(&self, other: &PlantedBug) -> bool {
        std::ptr::eq(self, other)
    }
}

impl Eq for PlantedBug {}

thread_local! {
    /// The address of the active bug's static, or 0.
    static ACTIVE: Cell<usize> = const { Cell::new(0) };
}

fn address(bug: &'static PlantedBug) -> usize {
    bug as *const PlantedBug as usize
}

/// Whether `bug` is switched on for the run on this thread.
#[inline(always)]
pub fn active(bug: &'static PlantedBug) -> bool {
    ACTIVE.with(|a| a.get() == address(bug))
}

/// Whether any bug is switched on for this thread.
pub fn any_active() -> bool {
    ACTIVE.with(|a| a.get() != 0)
}

/// Switches one bug on (or none, with `None`) for this thread until dropped; the previous
/// setting comes back on drop, also when a panic unwinds through it.
#[must_use = "the bug is switched off again when the activation is dropped"]
#[derive(Debug)]
pub struct Activation {
    previous: usize,
}

impl Activation {
    pub fn new(bug: Option<&'static PlantedBug>) -> Activation {
        let now = bug.map_or(0, address);
        let previous = ACTIVE.with(|a| a.replace(now));
        Activation { previous }
    }
}

impl Drop for Activation {
    fn drop(&mut self) {
        ACTIVE.with(|a| a.set(self.previous));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static A: PlantedBug = PlantedBug { name: "test-a", layer: "test", summary: "a" };
    static B: PlantedBug = PlantedBug { name: "test-b", layer: "test", summary: "b" };

    #[test]
    fn one_bug_at_a_time_and_restored_on_drop() {
        assert!(!active(&A) && !active(&B) && !any_active());
        {
            let _a = Activation::new(Some(&A));
            assert!(active(&A) && !active(&B) && any_active());
            {
                let _none = Activation::new(None);
                assert!(!active(&A) && !any_active());
            }
            assert!(active(&A));
        }
        assert!(!active(&A) && !any_active());
    }

    #[test]
    fn a_panic_switches_the_bug_off() {
        let r = std::panic::catch_unwind(|| {
            let _b = Activation::new(Some(&B));
            assert!(active(&B));
            panic!("unwind");
        });
        assert!(r.is_err());
        assert!(!active(&B));
    }

    #[test]
    fn identity_is_the_static_not_the_name() {
        assert_eq!(A, A);
        assert_ne!(A, B);
        assert_eq!(format!("{A:?}"), "PlantedBug(test-a)");
    }
}
