//! The BUGGIFY sites of the peer transport (see `sim::buggify`): what real networks and
//! rafthttp do now and then, run on purpose in simulations that enable BUGGIFY. Raft must
//! tolerate each: messages may be duplicated, reordered or lost, and streams break.
//!
//! Only appends are duplicated: raft's appends are idempotent, but a general message may be a
//! forwarded proposal, and a proposal delivered twice is appended and applied twice (etcd's
//! rafthttp never duplicates a message; neither raft nor etcd's apply deduplicates proposals).
//!
//! | site | where | what it does when it fires |
//! | --- | --- | --- |
//! | `net.transport.duplicate` | `Transport::send` | sends one append message twice |
//! | `net.transport.reorder` | `Transport::send` | sends a burst of messages in reverse order |
//! | `net.transport.stream-break` | a send on a stream | closes that stream first: the message and those after it go by pipeline until the peer re-dials |

use sim::buggify::SiteInfo;

pub const DUPLICATE: &str = "net.transport.duplicate";
pub const REORDER: &str = "net.transport.reorder";
pub const STREAM_BREAK: &str = "net.transport.stream-break";

/// Every site of this crate (the table above).
pub const SITES: &[SiteInfo] = &[
    SiteInfo { name: DUPLICATE, what: "send an append twice" },
    SiteInfo { name: REORDER, what: "send a burst in reverse order" },
    SiteInfo { name: STREAM_BREAK, what: "break a stream (pipeline fallback, re-dial)" },
];
