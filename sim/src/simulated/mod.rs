//! Simulated implementations of the seams: virtual clock with skew and drift, a disk with a
//! durable image and a volatile overlay and seeded faults, and a network with latency,
//! partitions, clogging and resets.

pub mod clock;
pub mod disk;
pub mod net;
