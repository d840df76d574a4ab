//! Panics of the code under test, caught step by step.
//!
//! The stack asserts its invariants (`assert!` with the values, on in release builds); a failed
//! assertion — or any other panic in a handler — ends the run as [`Property::Assertion`], named
//! with the node whose event was running, the simulated time and the event number, the panic's
//! message and where it was raised. The run is shrinkable like any other failure.
//!
//! A panic hook (installed once per process) records the location of panics raised while a run
//! is stepping on this thread, and keeps them off stderr: a sweep over a buggy build would
//! otherwise print a backtrace per failing run. Panics anywhere else go to the previous hook.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::panic::{self, PanicHookInfo};
use std::sync::Once;

thread_local! {
    /// Whether this thread is stepping a run now (panics are caught and reported by it).
    static QUIET: Cell<bool> = const { Cell::new(false) };
    /// Where the last quiet panic was raised.
    static LOCATION: RefCell<Option<String>> = const { RefCell::new(None) };
}

static HOOK: Once = Once::new();

/// Installs the hook (once per process).
pub fn install_hook() {
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info: &PanicHookInfo<'_>| {
            if QUIET.with(Cell::get) {
                let at = info.location().map(|l| format!("{}:{}", l.file(), l.line()));
                LOCATION.with(|c| *c.borrow_mut() = at);
            } else {
                previous(info);
            }
        }));
    });
}

/// Runs `f` with panics caught quietly; `Err` carries the message and where it was raised.
pub fn catch<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    install_hook();
    let was = QUIET.with(|q| q.replace(true));
    let result = panic::catch_unwind(panic::AssertUnwindSafe(f));
    QUIET.with(|q| q.set(was));
    result.map_err(|payload| {
        let at = LOCATION.with(|c| c.borrow_mut().take());
        let message = message(payload.as_ref());
        match at {
            Some(at) => format!("{message} (at {at})"),
            None => message,
        }
    })
}

/// The text of a panic payload.
pub fn message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "non-string panic payload".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caught_panic_names_its_message_and_place() {
        let sum = std::hint::black_box(2);
        let e = catch(|| assert!(sum == 3, "sum was {sum}")).unwrap_err();
        assert!(e.starts_with("sum was 2 (at scenarios/src/runner/panics.rs:"), "{e}");
        assert_eq!(catch(|| 7), Ok(7));
        let e = catch(|| std::panic::panic_any(5u8)).unwrap_err();
        assert!(e.starts_with("non-string panic payload"), "{e}");
    }
}
