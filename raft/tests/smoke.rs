mod common;
use common::*;
use raft::core::StateRole;

#[test]
fn three_nodes_elect_and_replicate() {
    let mut nw = Network::new(3);
    nw.campaign(1);
    assert_eq!(nw.peek(1).state, StateRole::Leader);
    nw.propose(1, b"x");
    for id in 1..=3 {
        assert_eq!(nw.peek(id).raft_log.committed, 2, "node {id}");
    }
}
