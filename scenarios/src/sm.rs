//! The MVCC store adapted to the server's state-machine trait.
