//! The disk tap: an observer of the operations that change what a disk holds or will keep.
//!
//! Installed with [`super::SimDisk::tap`]; called synchronously right after each successful
//! `write_at`, `sync`, `set_len`, `rename`, `remove` and `sync_dir` (and after a `sync` that
//! failed with an injected EIO), so inside the handler of the node that did it, before anything
//! it does afterwards. Testbeds use it to count situations (a crash between a write and its
//! sync) and to aim faults at a moment (crash at the operation after this one). The tap only
//! observes: it is not an operation, costs no simulated time and changes no trace hash; it may
//! arm faults on the disk ([`super::SimDisk::crash_after_ops`], [`super::SimDisk::kill_process`])
//! but must not perform operations on it.

use std::cell::RefCell;

use super::state::State;

/// What kind of operation the tap sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiskOpKind {
    /// `write_at(offset, data)`.
    Write,
    /// A file `sync` that succeeded.
    Sync,
    /// A file `sync` that failed with an injected EIO (its unsynced data is lost).
    SyncFailed,
    /// `set_len(offset)` (the new length is in `offset`).
    SetLen,
    /// `rename(path, to)`.
    Rename,
    /// `remove(path)`.
    Remove,
    /// `sync_dir(path)`.
    SyncDir,
}

/// One operation as the tap sees it. Fields an operation does not have are empty or zero.
#[derive(Clone, Copy, Debug)]
pub struct DiskOp<'a> {
    pub kind: DiskOpKind,
    /// The file's path as it was opened (a handle keeps its path across renames), or the path
    /// the directory operation names.
    pub path: &'a str,
    /// Write offset, or the new length of a `set_len`.
    pub offset: u64,
    /// The bytes written.
    pub data: &'a [u8],
    /// The target of a rename.
    pub to: &'a str,
}

impl<'a> DiskOp<'a> {
    /// An operation of `kind` on `path` with no other fields.
    pub fn on(kind: DiskOpKind, path: &'a str) -> DiskOp<'a> {
        DiskOp { kind, path, offset: 0, data: &[], to: "" }
    }
}

/// What [`super::SimDisk::tap`] installs.
pub type DiskTap = Box<dyn FnMut(&DiskOp<'_>)>;

/// Shows `op` to the installed tap, if any. The tap is taken out of the state while it runs,
/// so it may arm faults on the disk (which borrows the state again).
pub(super) fn notify(state: &RefCell<State>, op: &DiskOp<'_>) {
    let Some(mut tap) = state.borrow_mut().tap.take() else { return };
    tap(op);
    let mut st = state.borrow_mut();
    if st.tap.is_none() {
        st.tap = Some(tap);
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::rc::Rc;

    use crate::io::{Disk, OpenOptions};
    use crate::seed::Seed;
    use crate::simulated::disk::{DiskConfig, SimDisk};

    #[test]
    fn the_tap_sees_each_change_once_and_may_kill_the_process() {
        let disk = SimDisk::new(Seed(1).stream("d"), DiskConfig::default());
        let seen: Rc<RefCell<Vec<String>>> = Rc::default();
        let log = Rc::clone(&seen);
        let weak = Rc::downgrade(&disk);
        disk.tap(Box::new(move |op| {
            log.borrow_mut().push(format!(
                "{:?} {} {} {} {}",
                op.kind,
                op.path,
                op.offset,
                op.data.len(),
                op.to
            ));
            if op.path == "die" {
                weak.upgrade().expect("disk alive").kill_process();
            }
        }));
        disk.create_dir_all("d").unwrap();
        let f = disk.open("d/a", OpenOptions::create()).unwrap();
        f.write_at(3, b"xyz").unwrap();
        let mut buf = [0u8; 3];
        f.read_at(3, &mut buf).unwrap();
        f.sync().unwrap();
        f.set_len(2).unwrap();
        disk.rename("d/a", "d/b").unwrap();
        disk.sync_dir("d").unwrap();
        disk.remove("d/b").unwrap();
        disk.fail_next_sync("d/c");
        let g = disk.open("d/c", OpenOptions::create()).unwrap();
        assert!(g.sync().is_err());
        let want = [
            "Write d/a 3 3 ",
            "Sync d/a 0 0 ",
            "SetLen d/a 2 0 ",
            "Rename d/a 0 0 d/b",
            "SyncDir d 0 0 ",
            "Remove d/b 0 0 ",
            "SyncFailed d/c 0 0 ",
        ];
        assert_eq!(*seen.borrow(), want, "reads and opens are not shown");
        let h = disk.open("die", OpenOptions::create()).unwrap();
        h.write_at(0, b"x").unwrap();
        assert!(disk.has_crashed(), "the tap killed the process inside the operation's caller");
        assert!(h.sync().is_err(), "every later operation fails");
        disk.crash();
        assert!(!disk.has_crashed(), "a crash ends the dead incarnation");
    }
}
