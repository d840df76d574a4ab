//! The three seams through which every component reaches the world: [`Clock`], [`Disk`] and
//! [`Net`]. Each has a simulated implementation (`crate::simulated`) and a real one
//! (`crate::real`); the stack is written against these traits only, so the simulator tests the
//! code users run.

pub mod clock;
pub mod disk;
pub mod net;

pub use clock::Clock;
pub use disk::{Disk, DiskError, File, Mapping, OpenOptions};
pub use net::{Addr, CloseReason, ConnId, DialError, Net, NetError, NetEvent};
