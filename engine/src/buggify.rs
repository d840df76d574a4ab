//! The BUGGIFY sites of the engine (see `sim::buggify`): rare but legal paths of the MVCC
//! backend and the bolt commit, run on purpose in simulations that enable BUGGIFY.
//!
//! The engine has no `Env`: the server loop hands its node's sites to the state machine before
//! each batch of entries it applies (`raft::server::StateMachine::buggify`), and the MVCC
//! adapter passes them on to [`crate::mvcc::Store::buggify`], which arms the paths below for
//! what comes next. Each is a choice the engine may make at any time: the durable state it
//! leaves is one a correct stack must recover from.
//!
//! | site | what it does when it fires |
//! | --- | --- |
//! | `engine.commit.two-flush` | the store's next batch commit uses bolt's two flushes (pages, sync, meta, sync) even when it is small enough for the one-flush commit record |
//! | `engine.mvcc.commit-after-apply` | the store commits its batch right after the next entry it applies, in the middle of the server's batch |

use sim::buggify::SiteInfo;

pub const TWO_FLUSH_COMMIT: &str = "engine.commit.two-flush";
pub const COMMIT_AFTER_APPLY: &str = "engine.mvcc.commit-after-apply";

/// Every site of this crate (the table above).
pub const SITES: &[SiteInfo] = &[
    SiteInfo { name: TWO_FLUSH_COMMIT, what: "next batch commit with bolt's two flushes" },
    SiteInfo { name: COMMIT_AFTER_APPLY, what: "commit the batch after the next applied entry" },
];
