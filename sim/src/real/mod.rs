//! The real implementations of the seams: the only module allowed to touch `std::time`,
//! `std::fs`, `std::net`, threads and OS entropy.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

pub mod clock;
pub mod disk;
pub mod net;
pub mod runtime;
