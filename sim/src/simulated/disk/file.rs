//! [`SimFile`]: an open handle on a SimDisk inode.
//!
//! A handle names its inode, not its path, so it keeps working across renames and after its
//! name is removed (like a POSIX file descriptor). It belongs to one crash epoch: after
//! `SimDisk::crash` every method returns `Crashed`.

use std::cell::RefCell;
use std::rc::Rc;

use super::namespace::Ino;
use super::state::{OpKind, State};
use super::tap::{notify, DiskOp, DiskOpKind};
use crate::io::{DiskError, File, Mapping};

/// An open file on a [`super::SimDisk`].
pub struct SimFile {
    state: Rc<RefCell<State>>,
    ino: Ino,
    path: String,
    writable: bool,
    epoch: u64,
    handle: u64,
}

impl SimFile {
    pub(super) fn new(
        state: Rc<RefCell<State>>,
        ino: Ino,
        path: String,
        writable: bool,
        epoch: u64,
        handle: u64,
    ) -> SimFile {
        SimFile { state, ino, path, writable, epoch, handle }
    }

    /// Passes the operation gate; for mutating operations also checks write access.
    fn begin(&self, kind: OpKind, write_op: Option<&'static str>) -> Result<(), DiskError> {
        let mut st = self.state.borrow_mut();
        st.begin(Some(self.epoch), kind)?;
        match write_op {
            Some(op) if !self.writable => Err(DiskError::Invalid {
                op,
                path: self.path.clone(),
                detail: "file opened read-only".to_string(),
            }),
            _ => Ok(()),
        }
    }

    /// Grows or shrinks to `len` after a capacity check (shared by set_len and allocate).
    fn resize(&self, op: &'static str, len: u64) -> Result<(), DiskError> {
        let mut st = self.state.borrow_mut();
        st.reserve(op, self.ino, len, &self.path)?;
        st.image(self.ino).set_len(len);
        Ok(())
    }
}

impl File for SimFile {
    fn path(&self) -> &str {
        &self.path
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize, DiskError> {
        self.begin(OpKind::Plain, None)?;
        Ok(self.state.borrow_mut().image(self.ino).read(offset, buf))
    }

    fn write_at(&self, offset: u64, data: &[u8]) -> Result<(), DiskError> {
        self.begin(OpKind::Plain, Some("write"))?;
        let end = offset.checked_add(data.len() as u64).ok_or_else(|| DiskError::Invalid {
            op: "write",
            path: self.path.clone(),
            detail: format!("offset {offset} + {} bytes overflows u64", data.len()),
        })?;
        if data.is_empty() {
            return Ok(());
        }
        {
            let mut st = self.state.borrow_mut();
            st.reserve("write", self.ino, end, &self.path)?;
            st.image(self.ino).write(offset, data);
        }
        let op = DiskOp { offset, data, ..DiskOp::on(DiskOpKind::Write, &self.path) };
        notify(&self.state, &op);
        Ok(())
    }

    fn sync(&self) -> Result<(), DiskError> {
        self.begin(OpKind::Sync, None)?;
        let mut st = self.state.borrow_mut();
        let failing = st.fail_sync_prefixes.iter().position(|p| self.path.starts_with(p.as_str()));
        if let Some(i) = failing {
            st.fail_sync_prefixes.remove(i);
            st.image(self.ino).drop_pending();
            drop(st);
            notify(&self.state, &DiskOp::on(DiskOpKind::SyncFailed, &self.path));
            return Err(DiskError::Io {
                op: "sync",
                path: self.path.clone(),
                detail: "injected EIO: unsynced data of this file is lost".to_string(),
            });
        }
        st.image(self.ino).sync();
        st.durable_generation += 1;
        drop(st);
        notify(&self.state, &DiskOp::on(DiskOpKind::Sync, &self.path));
        Ok(())
    }

    fn len(&self) -> Result<u64, DiskError> {
        self.begin(OpKind::Plain, None)?;
        Ok(self.state.borrow_mut().image(self.ino).len())
    }

    fn set_len(&self, len: u64) -> Result<(), DiskError> {
        self.begin(OpKind::Plain, Some("set_len"))?;
        self.resize("set_len", len)?;
        notify(&self.state, &DiskOp { offset: len, ..DiskOp::on(DiskOpKind::SetLen, &self.path) });
        Ok(())
    }

    fn allocate(&self, len: u64) -> Result<(), DiskError> {
        self.begin(OpKind::Plain, Some("allocate"))?;
        let current = self.state.borrow_mut().image(self.ino).len();
        if len <= current {
            return Ok(());
        }
        self.resize("allocate", len)
    }

    fn try_lock(&self) -> Result<(), DiskError> {
        self.begin(OpKind::Plain, None)?;
        let mut st = self.state.borrow_mut();
        match st.locks.get(&self.ino) {
            Some(&holder) if holder != self.handle => {
                Err(DiskError::Locked { path: self.path.clone() })
            }
            _ => {
                st.locks.insert(self.ino, self.handle);
                Ok(())
            }
        }
    }

    fn map(&self) -> Result<Mapping, DiskError> {
        self.begin(OpKind::Plain, None)?;
        let snapshot = self.state.borrow_mut().image(self.ino).snapshot();
        Ok(Mapping::from_bytes(snapshot))
    }
}

impl Drop for SimFile {
    /// Releases this handle's lock and its hold on the inode (only within its own epoch: a crash
    /// already released everything).
    fn drop(&mut self) {
        let Ok(mut st) = self.state.try_borrow_mut() else {
            return;
        };
        if st.epoch != self.epoch {
            return;
        }
        if st.locks.get(&self.ino) == Some(&self.handle) {
            st.locks.remove(&self.ino);
        }
        if let Some(count) = st.open.get_mut(&self.ino) {
            *count -= 1;
            if *count == 0 {
                st.open.remove(&self.ino);
            }
        }
    }
}
