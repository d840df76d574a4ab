//! A follower that lost entries it had acknowledged must not lock its leader in a message loop.
//!
//! The leader's progress for a follower never goes below `match + 1`. When a follower forgot
//! entries it acknowledged (a disk that lost synced data; the WAL hole fixed in
//! `wal_reopen_after_eio`), it rejects the probe at `match` with a hint below it. The leader
//! cannot move `next`, yet it resent the same probe at once, the follower rejected it at once,
//! and so on at network speed: millions of simulator events per second of virtual time
//! (`dst run disk-faults --seed 2` before the WAL fix: 1.25 million events instead of 20
//! thousand). A rejection that cannot move `next` now waits for the next heartbeat response,
//! like a stale one, so the probe repeats once per heartbeat.

mod common;

use std::collections::VecDeque;

use common::*;
use raft::core::{MessageType, StateRole};

/// Delivers `msgs` and what follows, at most `limit` messages; returns how many were delivered.
fn deliver(net: &mut Network, msgs: Vec<raft::core::Message>, limit: usize) -> usize {
    let mut queue: VecDeque<_> = msgs.into();
    let mut delivered = 0;
    while let Some(m) = queue.pop_front() {
        if delivered == limit {
            break;
        }
        let Some(Some(p)) = net.peers.get_mut(&m.to) else { continue };
        let _ = p.step(m);
        delivered += 1;
        queue.extend(read_messages(p));
    }
    delivered
}

#[test]
fn a_follower_below_its_match_is_probed_once_per_heartbeat() {
    let mut net = Network::new(3);
    net.campaign(1);
    for i in 0..5u8 {
        net.propose(1, &[i + 1]);
    }
    assert_eq!(net.peek(1).state, StateRole::Leader);
    let last = net.peek(1).raft_log.last_index();
    assert_eq!(net.peek(3).raft_log.last_index(), last, "node 3 acknowledged everything");

    // Node 3 comes back with an empty log: everything it acknowledged is gone.
    net.peers.insert(3, Some(new_test_raft(3, 10, 1, storage(&[1, 2, 3]))));

    // A new proposal sends node 3 an append it must reject; then heartbeats re-probe it.
    let n = deliver(&mut net, vec![prop(1, b"after")], 1_000);
    assert!(n < 50, "proposal: {n} messages and still going: leader and follower loop");
    for round in 0..5 {
        let n = deliver(&mut net, vec![msg(MessageType::MsgBeat, 1, 1, 0)], 1_000);
        assert!(
            n < 50,
            "heartbeat round {round}: {n} messages and still going: leader and follower loop"
        );
    }
    let l = net.peek(1);
    assert_eq!(l.state, StateRole::Leader, "the leader keeps leading");
    assert_eq!(l.raft_log.committed, last + 1, "the proposal commits with node 2");
}

/// The change leaves normal probing alone: a follower that is merely behind (its log matches
/// up to `match`) is caught up within one heartbeat round.
#[test]
fn a_follower_behind_but_intact_still_catches_up_at_once() {
    let mut net = Network::new(3);
    net.campaign(1);
    net.isolate(3);
    for i in 0..20u8 {
        net.propose(1, &[i + 1]);
    }
    net.recover();
    let last = net.peek(1).raft_log.last_index();
    let n = deliver(&mut net, vec![msg(MessageType::MsgBeat, 1, 1, 0)], 1_000);
    assert!(n < 50, "{n} messages");
    assert_eq!(net.peek(3).raft_log.last_index(), last);
    assert_eq!(net.peek(3).raft_log.committed, last);
}
