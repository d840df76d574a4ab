//! `sim`: the world every other crate of this project runs in.
//!
//! # Determinism contract
//!
//! One root [`seed::Seed`] drives a whole simulated run. Given the same seed, the same binary and
//! the same `Cargo.lock`, a run executes the same events in the same order and ends with the same
//! trace hash, on every machine. To keep that promise, code that runs inside the simulator:
//!
//! - reads time only from its [`io::Clock`] and waits only through timers ([`env::Env::set_timer`]);
//! - touches storage only through [`io::Disk`] and the network only through [`io::Net`];
//! - draws randomness only from labelled streams ([`seed::Seed::stream`]);
//! - never depends on `std` `HashMap`/`HashSet` iteration order (use `BTreeMap`/`BTreeSet`);
//! - never spawns threads.
//!
//! `clippy.toml` bans the alternatives everywhere except [`real`], the only module that talks to
//! the operating system.
#![deny(unsafe_code)]

pub mod buggify;
pub mod env;
pub mod fault;
pub mod io;
pub mod planted;
pub mod real;
pub mod seed;
pub mod simulated;
pub mod time;
pub mod trace;
pub mod world;

pub use env::{Actor, Env, EnvParts, Halt, NodeId, TimerId};
pub use fault::{Fault, FaultPlan};
pub use seed::{Rng, Seed};
pub use time::{Duration, Instant};
pub use world::{World, WorldConfig};
