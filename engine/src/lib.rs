//! `engine`: a bolt-style B+tree storage engine, byte-compatible with bbolt's file format, on the
//! `sim` Disk seam; and an etcd-style MVCC store on top.
//!
//! Dependency rule: depends on `sim` only.
