//! Behaviour cases in the spirit of etcd-io/raft's `raft_test.go` (our own scenarios and code):
//! Figure 8, dueling candidates, pre-vote, check-quorum, ReadIndex, reordered and duplicated
//! appends, snapshots, membership changes, leadership transfer, proposal forwarding and the
//! RawNode persistence contract.

mod common;

use common::*;
use raft::core::{
    Codec, ConfChange, ConfChangeType, ConfState, Entry, EntryKind, HardState, MemoryStorage,
    MessageType, ProgressState, RawNode, Snapshot, SnapshotMetadata, StateRole, StepError,
};

fn node_with_log(id: u64, voters: &[u64], terms: &[u64], term: u64) -> TestRaft {
    let mut s = storage(voters);
    s.append(&ents(1, terms));
    let mut r = new_test_raft(id, 10, 1, s);
    r.load_state(HardState { term, ..HardState::default() });
    r
}

// Raft paper Figure 8: an entry from an earlier term that reaches a majority is still not
// committed by counting, because a node holding a newer-term entry at that index can win and
// overwrite it.
#[test]
fn figure8_old_term_entry_is_not_committed_by_counting() {
    let v = [1, 2, 3, 4, 5];
    let nodes = vec![
        Some(node_with_log(1, &v, &[1, 2], 3)),
        Some(node_with_log(2, &v, &[1, 2], 3)),
        Some(node_with_log(3, &v, &[1], 3)),
        Some(node_with_log(4, &v, &[1], 3)),
        Some(node_with_log(5, &v, &[1, 3], 3)),
    ];
    let mut nw = Network::from_nodes(nodes);
    // One entry per append, so the term-2 entry can travel without the new no-op.
    nw.node(1).max_msg_size = 1;
    nw.isolate(5);
    // Appends carrying the new leader's own (term 4) entries are lost, except the first probe to
    // node 3, which node 3 rejects anyway (it lacks index 2) so the leader backs up.
    let mut probes_to_3 = 0;
    nw.drop_if = Some(Box::new(move |m| {
        if m.msg_type == MessageType::MsgApp && m.to == 3 && probes_to_3 == 0 {
            probes_to_3 += 1;
            return false;
        }
        m.entries.iter().any(|e| e.term == 4)
    }));
    nw.campaign(1);
    assert_eq!(nw.peek(1).state, StateRole::Leader);
    assert_eq!(nw.peek(1).term, 4);
    for id in [1, 2, 3] {
        assert_eq!(nw.peek(id).raft_log.term(2), Ok(2), "node {id} holds the term-2 entry");
    }
    assert!(nw.peek(1).raft_log.committed < 2, "term-2 entry on a majority is not committed");
    // S1 goes away; S5 (with a term-3 entry at index 2) can still win and overwrite index 2.
    nw.recover();
    nw.isolate(1);
    nw.campaign(5); // term 4: everyone already voted for node 1
    assert_ne!(nw.peek(5).state, StateRole::Leader);
    nw.campaign(5); // term 5: its term-3 entry makes its log the most up to date
    assert_eq!(nw.peek(5).state, StateRole::Leader);
    assert_eq!(nw.peek(5).term, 5);
    for id in [2, 3, 4] {
        assert_eq!(nw.peek(id).raft_log.term(2), Ok(3), "node {id} index 2 overwritten");
        assert!(nw.peek(id).raft_log.committed >= 2);
    }
}

// etcd TestDuelingCandidates: two candidates in the same term; the loser with the shorter log
// later fails to win and everyone settles on the longer log.
#[test]
fn dueling_candidates() {
    let mut nw = Network::new(3);
    nw.cut(1, 3);
    nw.campaign(1);
    nw.campaign(3);
    assert_eq!(nw.peek(1).state, StateRole::Leader);
    assert_eq!(nw.peek(3).state, StateRole::Candidate, "node 2 already voted in term 1");
    nw.recover();
    // 3 campaigns in term 2; its log is behind, so 1 and 2 reject it.
    nw.campaign(3);
    for id in 1..=3 {
        let r = nw.peek(id);
        assert_eq!(r.state, StateRole::Follower, "node {id}");
        assert_eq!(r.term, 2, "node {id}");
    }
    assert_eq!(nw.peek(1).raft_log.last_index(), 1);
    assert_eq!(nw.peek(2).raft_log.last_index(), 1);
    assert_eq!(nw.peek(3).raft_log.last_index(), 0);
}

// PreVote: a partitioned node does not inflate its term, so it cannot disrupt the leader when
// it comes back. Without PreVote the same scenario does bump terms.
#[test]
fn pre_vote_keeps_partitioned_node_from_disrupting() {
    for pre_vote in [true, false] {
        let mut nw = Network::with_config(3, |c| c.pre_vote = pre_vote);
        nw.campaign(1);
        assert_eq!(nw.peek(1).state, StateRole::Leader);
        nw.isolate(3);
        for _ in 0..100 {
            nw.node(3).tick();
            let msgs = read_messages(nw.node(3));
            nw.send(msgs);
        }
        nw.recover();
        if pre_vote {
            assert_eq!(nw.peek(3).term, 1, "pre-candidate never bumps its term");
            assert_eq!(nw.peek(3).state, StateRole::PreCandidate);
            nw.propose(1, b"after heal");
            assert_eq!(nw.peek(1).state, StateRole::Leader, "leader undisturbed");
            assert_eq!(nw.peek(1).term, 1);
            assert_eq!(nw.peek(3).state, StateRole::Follower, "rejoins as follower");
            assert_eq!(nw.peek(3).raft_log.committed, 2);
        } else {
            assert!(nw.peek(3).term > 1, "a real candidate keeps bumping terms");
            nw.campaign(3);
            assert!(nw.peek(1).term > 1, "the old leader is forced into a new term");
        }
    }
}

// etcd TestLeaderStepdownWhenQuorumLost (check-quorum): an isolated leader steps down after an
// election timeout.
#[test]
fn check_quorum_leader_steps_down_when_isolated() {
    let mut nw = Network::with_config(3, |c| c.check_quorum = true);
    nw.campaign(1);
    assert_eq!(nw.peek(1).state, StateRole::Leader);
    nw.isolate(1);
    let et = nw.peek(1).election_timeout;
    // Activity is judged over a whole election timeout: the first check still sees the
    // responses from before the partition, the second one sees silence.
    for _ in 0..2 * et {
        nw.node(1).tick();
        let msgs = read_messages(nw.node(1));
        nw.send(msgs);
    }
    assert_eq!(nw.peek(1).state, StateRole::Follower);
    // With a live quorum the leader stays.
    let mut nw = Network::with_config(3, |c| c.check_quorum = true);
    nw.campaign(1);
    for _ in 0..3 * et {
        nw.node(1).tick();
        let msgs = read_messages(nw.node(1));
        nw.send(msgs);
    }
    assert_eq!(nw.peek(1).state, StateRole::Leader);
}

// etcd TestLeaderElectionWithCheckQuorum / lease: followers that recently heard from the leader
// ignore vote requests, so a node cannot depose a healthy leader by campaigning.
#[test]
fn check_quorum_lease_ignores_disruptive_votes() {
    let mut nw = Network::with_config(3, |c| c.check_quorum = true);
    nw.campaign(1);
    nw.campaign(3);
    assert_eq!(nw.peek(1).state, StateRole::Leader);
    assert_eq!(nw.peek(1).term, 1);
    assert_eq!(nw.peek(2).term, 1, "vote request ignored inside the lease");
    assert_eq!(nw.peek(3).state, StateRole::Candidate);
}

// ReadIndex new-leader guard: a new leader answers no read until it has committed an entry of
// its own term; then it confirms leadership with a heartbeat round and answers.
#[test]
fn read_index_waits_for_current_term_commit() {
    let mut r = new_test_raft(1, 10, 1, storage(&[1, 2, 3]));
    r.become_candidate();
    r.become_leader();
    read_messages(&mut r);
    let mut req = msg(MessageType::MsgReadIndex, 1, 1, 0);
    req.entries = vec![Entry { data: b"ctx1".to_vec(), ..Entry::default() }];
    r.step(req).unwrap();
    let msgs = read_messages(&mut r);
    assert!(
        msgs.iter().all(|m| m.context.is_empty()),
        "no read-confirming heartbeat before the no-op commits: {msgs:?}"
    );
    assert!(r.read_states.is_empty());
    // Commit the no-op.
    r.bcast_append();
    for m in read_messages(&mut r) {
        r.step(accept_and_reply(&m)).unwrap();
    }
    assert_eq!(r.raft_log.committed, 1);
    let beats: Vec<_> = read_messages(&mut r)
        .into_iter()
        .filter(|m| m.msg_type == MessageType::MsgHeartbeat && m.context == b"ctx1")
        .collect();
    assert_eq!(beats.len(), 2, "the held read is now confirmed by a heartbeat round");
    assert!(r.read_states.is_empty(), "not answered before a quorum acks");
    let mut ack = msg(MessageType::MsgHeartbeatResp, 2, 1, r.term);
    ack.context = b"ctx1".to_vec();
    r.step(ack).unwrap();
    assert_eq!(r.read_states.len(), 1);
    assert_eq!(r.read_states[0].index, 1);
    assert_eq!(r.read_states[0].request_ctx, b"ctx1");
}

// ReadIndex through a follower: forwarded to the leader, answered back with the commit index.
#[test]
fn read_index_from_follower() {
    let mut nw = Network::new(3);
    nw.campaign(1);
    nw.propose(1, b"x");
    let mut req = msg(MessageType::MsgReadIndex, 2, 2, 0);
    req.entries = vec![Entry { data: b"r".to_vec(), ..Entry::default() }];
    nw.send_one(req);
    let rs = &nw.peek(2).read_states;
    assert_eq!(rs.len(), 1);
    assert_eq!((rs[0].index, rs[0].request_ctx.as_slice()), (2, &b"r"[..]));
}

// Appends that arrive reordered or duplicated never corrupt or shorten the log.
#[test]
fn reordered_and_duplicated_appends() {
    let mut r = new_test_raft(2, 10, 1, storage(&[1, 2, 3]));
    r.become_follower(1, 1);
    let app = |index: u64, log_term: u64, es: Vec<Entry>, commit: u64| {
        let mut m = msg(MessageType::MsgApp, 1, 2, 1);
        m.index = index;
        m.log_term = log_term;
        m.entries = es;
        m.commit = commit;
        m
    };
    let late = app(2, 1, ents(3, &[1, 1]), 4);
    let early = app(0, 0, ents(1, &[1, 1]), 1);
    // The later append arrives first: rejected with a hint, nothing appended.
    r.step(late.clone()).unwrap();
    let resp = read_messages(&mut r);
    assert!(resp[0].reject);
    assert_eq!(resp[0].reject_hint, 0);
    assert_eq!(r.raft_log.last_index(), 0);
    r.step(early.clone()).unwrap();
    r.step(late.clone()).unwrap();
    assert_eq!(r.raft_log.all_entries(), ents(1, &[1, 1, 1, 1]));
    assert_eq!(r.raft_log.committed, 4);
    // Duplicates of both change nothing; the shorter one must not truncate.
    r.step(early).unwrap();
    r.step(late).unwrap();
    let out = read_messages(&mut r);
    assert!(out.iter().all(|m| !m.reject), "{out:?}");
    assert_eq!(r.raft_log.all_entries(), ents(1, &[1, 1, 1, 1]));
    assert_eq!(r.raft_log.committed, 4, "commit never regresses");
}

fn snapshot(index: u64, term: u64, voters: &[u64]) -> Snapshot {
    Snapshot {
        metadata: SnapshotMetadata {
            conf_state: ConfState { voters: voters.to_vec(), learners: vec![] },
            index,
            term,
        },
        data: b"state".to_vec(),
    }
}

// etcd TestRestore / TestRestoreIgnoreSnapshot: a follower installs a newer snapshot (log, commit
// and membership follow it) and ignores one it already covers.
#[test]
fn snapshot_restore() {
    let mut r = new_test_raft(1, 10, 1, storage(&[1, 2]));
    assert!(r.restore(snapshot(11, 11, &[1, 2, 3])));
    assert_eq!(r.raft_log.last_index(), 11);
    assert_eq!(r.raft_log.term(11), Ok(11));
    assert_eq!(r.raft_log.committed, 11);
    assert_eq!(r.prs.conf_state().voters, vec![1, 2, 3]);
    assert!(!r.restore(snapshot(11, 11, &[1, 2, 3])), "same snapshot again is ignored");
    // A snapshot matching our log only fast-forwards the commit index.
    let mut r = new_test_raft(1, 10, 1, storage(&[1, 2]));
    r.become_follower(1, 2);
    let mut m = msg(MessageType::MsgApp, 2, 1, 1);
    m.entries = ents(1, &[1, 1, 1]);
    r.step(m).unwrap();
    assert!(!r.restore(snapshot(2, 1, &[1, 2])));
    assert_eq!(r.raft_log.committed, 2);
    assert_eq!(r.raft_log.last_index(), 3, "log kept");
}

// A follower too far behind (the leader compacted) is caught up by a snapshot.
#[test]
fn lagging_follower_catches_up_by_snapshot() {
    let mut nw = Network::new(3);
    nw.campaign(1);
    nw.isolate(3);
    for i in 0..10u8 {
        nw.propose(1, &[i]);
    }
    let committed = nw.peek(1).raft_log.committed;
    assert_eq!(committed, 11);
    {
        let l = nw.node(1);
        l.raft_log.applied_to(committed);
        let cs = l.prs.conf_state();
        l.raft_log.store.create_snapshot(committed, cs, b"snap".to_vec()).unwrap();
        l.raft_log.store.compact(committed).unwrap();
    }
    nw.recover();
    nw.node(1).tick(); // heartbeat -> response -> append -> needs snapshot
    let msgs = read_messages(nw.node(1));
    nw.send(msgs);
    assert!(nw.delivered.iter().any(|m| m.msg_type == MessageType::MsgSnap && m.to == 3));
    assert_eq!(nw.peek(3).raft_log.committed, 11);
    assert_eq!(nw.peek(3).raft_log.first_index(), 12);
    nw.propose(1, b"after");
    assert_eq!(nw.peek(3).raft_log.committed, 12);
    assert_eq!(nw.peek(1).prs.progress[&3].state, ProgressState::Replicate);
}

fn cc(change_type: ConfChangeType, node_id: u64) -> ConfChange {
    ConfChange { change_type, node_id, context: vec![] }
}

// At most one membership change is pending: a second proposal becomes an empty normal entry.
#[test]
fn only_one_pending_conf_change() {
    let mut r = new_test_raft(1, 10, 1, storage(&[1]));
    r.become_candidate();
    r.become_leader();
    persist(&mut r);
    let c = r.raft_log.committed;
    r.raft_log.applied_to(c);
    let conf = |c: &ConfChange| {
        let mut m = prop(1, &c.to_bytes());
        m.entries[0].kind = EntryKind::ConfChange;
        m
    };
    r.step(conf(&cc(ConfChangeType::AddNode, 2))).unwrap();
    r.step(conf(&cc(ConfChangeType::AddNode, 3))).unwrap();
    let es = r.raft_log.all_entries();
    assert_eq!(es[1].kind, EntryKind::ConfChange);
    assert_eq!(es[2].kind, EntryKind::Normal, "second change dropped while one is pending");
    assert!(es[2].data.is_empty());
    assert_eq!(r.pending_conf_index, 2);
}

// Adding a voter grows the quorum; removing one shrinks it; a learner replicates but neither
// counts nor campaigns.
#[test]
fn membership_add_remove_and_learner() {
    let mut nw = Network::from_nodes(vec![
        Some(new_test_raft(1, 10, 1, storage(&[1, 2, 3]))),
        Some(new_test_raft(2, 10, 1, storage(&[1, 2, 3]))),
        Some(new_test_raft(3, 10, 1, storage(&[1, 2, 3]))),
        Some(new_test_raft(4, 10, 1, storage(&[1, 2, 3, 4]))),
    ]);
    nw.campaign(1);
    // Add 4 as a voter on every member (as applying the committed change would).
    for id in 1..=3 {
        nw.node(id).apply_conf_change(&cc(ConfChangeType::AddNode, 4)).unwrap();
    }
    let msgs = read_messages(nw.node(1));
    nw.send(msgs);
    assert_eq!(nw.peek(4).raft_log.all_entries(), nw.peek(1).raft_log.all_entries());
    // 4 voters: 1 and 2 alone (2 of 4) cannot commit.
    nw.isolate(3);
    nw.isolate(4);
    let before = nw.peek(1).raft_log.committed;
    nw.propose(1, b"needs 3 of 4");
    assert_eq!(nw.peek(1).raft_log.committed, before);
    // Removing 3 and 4 shrinks the quorum to 2 of 2: the entry commits.
    for id in [3, 4] {
        nw.node(1).apply_conf_change(&cc(ConfChangeType::RemoveNode, id)).unwrap();
        nw.node(2).apply_conf_change(&cc(ConfChangeType::RemoveNode, id)).unwrap();
    }
    let msgs = read_messages(nw.node(1));
    nw.send(msgs);
    assert_eq!(nw.peek(1).raft_log.committed, before + 1);
    // Learner: replicated to, not counted, never campaigns.
    let mut l = new_test_raft(5, 10, 1, storage(&[1]));
    l.apply_conf_change(&cc(ConfChangeType::AddLearnerNode, 5)).unwrap();
    for _ in 0..100 {
        l.tick();
    }
    assert_eq!(l.state, StateRole::Follower, "a learner never campaigns");
    assert_eq!(
        l.apply_conf_change(&cc(ConfChangeType::RemoveNode, 1)),
        Err(raft::core::ConfChangeError::RemovesLastVoter(1))
    );
}

// etcd TestLeaderTransferToUpToDateNode / ...ToSlowFollower: the leader hands over with
// MsgTimeoutNow once the transferee has its whole log; proposals are refused meanwhile.
#[test]
fn leadership_transfer() {
    let mut nw = Network::new(3);
    nw.campaign(1);
    nw.send_one(msg(MessageType::MsgTransferLeader, 2, 1, 0));
    assert_eq!(nw.peek(2).state, StateRole::Leader);
    assert_eq!(nw.peek(1).state, StateRole::Follower);
    assert_eq!(nw.peek(2).term, 2);

    // To a slow follower: it is caught up first.
    let mut nw = Network::new(3);
    nw.campaign(1);
    nw.isolate(3);
    nw.propose(1, b"x");
    nw.recover();
    nw.send_one(msg(MessageType::MsgTransferLeader, 3, 1, 0));
    assert_eq!(nw.peek(3).state, StateRole::Leader);
    assert_eq!(nw.peek(3).raft_log.last_index(), 3, "caught up, then its own no-op");

    // While a transfer is pending, proposals are dropped.
    let mut nw = Network::new(3);
    nw.campaign(1);
    nw.isolate(3);
    nw.send_one(msg(MessageType::MsgTransferLeader, 3, 1, 0));
    assert_eq!(nw.peek(1).lead_transferee, 3);
    assert_eq!(nw.node(1).step(prop(1, b"y")), Err(StepError::ProposalDropped));
    // ... and the transfer is abandoned after an election timeout.
    for _ in 0..nw.peek(1).election_timeout {
        nw.node(1).tick();
    }
    assert_eq!(nw.peek(1).lead_transferee, 0);
}

// Proposals reach the leader through followers; without a leader they are dropped.
#[test]
fn proposal_forwarding_and_dropping() {
    let mut r = new_test_raft(1, 10, 1, storage(&[1, 2, 3]));
    assert_eq!(r.step(prop(1, b"x")), Err(StepError::ProposalDropped));
    r.become_candidate();
    assert_eq!(r.step(prop(1, b"x")), Err(StepError::ProposalDropped));

    let mut nw = Network::new(3);
    nw.campaign(1);
    nw.propose(2, b"via follower");
    for id in 1..=3 {
        let r = nw.peek(id);
        assert_eq!(r.raft_log.committed, 2, "node {id}");
        assert_eq!(r.raft_log.all_entries()[1].data, b"via follower");
    }
    let mut nw = Network::with_config(3, |c| c.disable_proposal_forwarding = true);
    nw.campaign(1);
    assert_eq!(nw.node(2).step(prop(2, b"x")), Err(StepError::ProposalDropped));
}

// RawNode: the leader counts its own entries only once they are persisted (advance), its
// appends may leave before that, and votes wait for persistence.
#[test]
fn raw_node_persistence_contract() {
    let cfg = config(1, 10, 1);
    let mut n = RawNode::new(&cfg, MemoryStorage::with_voters(&[1]), node_rng(1)).unwrap();
    n.campaign().unwrap();
    let rd = n.ready();
    assert_eq!(rd.soft_state.map(|s| s.role), Some(StateRole::Leader));
    assert_eq!(rd.entries.len(), 1, "the no-op");
    assert!(rd.must_sync);
    assert!(rd.committed_entries.is_empty(), "not committed before it is durable");
    assert!(!n.has_ready(), "nothing new while a Ready is outstanding");
    n.store_mut().append(&rd.entries);
    n.store_mut().set_hard_state(rd.hard_state.unwrap());
    n.advance();
    assert!(n.has_ready());
    let rd = n.ready();
    assert_eq!(rd.committed_entries.len(), 1, "committed once the leader's write is durable");
    assert_eq!(rd.hard_state.map(|h| h.commit), Some(1));
    assert!(!rd.must_sync, "a commit-only change needs no sync");
    n.advance();
    assert_eq!(n.status().applied, 1);

    // Three nodes: the candidate's vote requests, and a voter's response, wait for persistence;
    // the leader's appends do not.
    let mut a = RawNode::new(&config(1, 10, 1), storage(&[1, 2, 3]), node_rng(1)).unwrap();
    let mut b = RawNode::new(&config(2, 10, 1), storage(&[1, 2, 3]), node_rng(2)).unwrap();
    a.campaign().unwrap();
    let rd = a.ready();
    assert!(rd.messages.is_empty());
    assert_eq!(rd.persisted_messages.len(), 2);
    assert!(rd.persisted_messages.iter().all(|m| m.msg_type == MessageType::MsgVote));
    a.store_mut().set_hard_state(rd.hard_state.unwrap());
    a.advance();
    b.step(rd.persisted_messages[0].clone()).unwrap();
    let rdb = b.ready();
    assert_eq!(rdb.hard_state.map(|h| (h.term, h.vote)), Some((1, 1)));
    assert!(rdb.messages.is_empty());
    assert_eq!(rdb.persisted_messages[0].msg_type, MessageType::MsgVoteResp);
    b.advance();
    a.step(rdb.persisted_messages[0].clone()).unwrap();
    let rd = a.ready();
    assert_eq!(a.status().soft_state.role, StateRole::Leader);
    assert!(rd.messages.iter().all(|m| m.msg_type == MessageType::MsgApp));
    assert_eq!(rd.messages.len(), 2, "appends may leave before the leader's own write");
    assert_eq!(a.status().progress[&1].matched, 0, "self not counted before advance");
    a.store_mut().append(&rd.entries);
    a.advance();
    assert_eq!(a.status().progress[&1].matched, 1, "self counted after advance");
}

// A message vector handed back after sending is reused by a later Ready, emptied: nothing it
// still held is sent again, and what raft queues next is all there.
#[test]
fn recycled_message_vectors_come_back_empty() {
    let mut a = RawNode::new(&config(1, 10, 1), storage(&[1, 2, 3]), node_rng(1)).unwrap();
    a.campaign().unwrap();
    let rd = a.ready();
    let votes = rd.persisted_messages;
    assert_eq!(votes.len(), 2);
    let kept = votes.capacity();
    a.store_mut().set_hard_state(rd.hard_state.unwrap());
    a.advance();
    // Handed back still full (as if sending stopped half way): its messages must not reappear.
    a.recycle_messages(votes);
    a.recycle_messages(rd.messages);
    a.tick();
    a.campaign().unwrap();
    let rd = a.ready();
    let again: Vec<_> = rd.persisted_messages.iter().map(|m| (m.msg_type, m.term)).collect();
    assert_eq!(again, vec![(MessageType::MsgVote, 2), (MessageType::MsgVote, 2)]);
    assert!(rd.messages.is_empty(), "{:?}", rd.messages);
    let reused = [rd.messages.capacity(), rd.persisted_messages.capacity()];
    assert!(reused.contains(&kept), "capacity {kept} not reused: {reused:?}");
}

// Bad input from the network is refused with a typed error.
#[test]
fn raw_node_refuses_local_messages_from_the_network() {
    let mut n = RawNode::new(&config(1, 10, 1), storage(&[1, 2]), node_rng(1)).unwrap();
    let err = n.step(msg(MessageType::MsgHup, 2, 1, 0)).unwrap_err();
    assert_eq!(err, StepError::LocalMessageFromNetwork(MessageType::MsgHup));
    let err = n.step(msg(MessageType::MsgAppResp, 9, 1, 1)).unwrap_err();
    assert_eq!(err, StepError::PeerNotFound(9));
}

// A transfer request made at a follower is forwarded to the leader and still names the
// requested transferee.
#[test]
fn transfer_request_forwarded_by_follower() {
    let mut nw = Network::new(3);
    nw.campaign(1);
    // Node 2 is asked (locally) to make node 3 the leader.
    nw.send_one(msg(MessageType::MsgTransferLeader, 3, 2, 0));
    assert_eq!(nw.peek(3).state, StateRole::Leader);
    assert_eq!(nw.peek(2).state, StateRole::Follower);
}

// Messages no correct peer sends are refused with the reason, never a panic.
#[test]
fn raw_node_refuses_malformed_messages() {
    let mut n = RawNode::new(&config(1, 10, 1), storage(&[1, 2]), node_rng(1)).unwrap();
    let malformed = |n: &mut RawNode<MemoryStorage>, m| match n.step(m) {
        Err(StepError::Malformed(_, why)) => why,
        other => panic!("expected Malformed, got {other:?}"),
    };
    let mut gap = msg(MessageType::MsgApp, 2, 1, 1);
    gap.entries = ents(5, &[1]);
    assert!(malformed(&mut n, gap).contains("consecutive"));
    let mut future = msg(MessageType::MsgApp, 2, 1, 1);
    future.entries = ents(1, &[3]);
    assert!(malformed(&mut n, future).contains("terms"));
    let mut wrap = msg(MessageType::MsgApp, 2, 1, 1);
    wrap.index = u64::MAX;
    wrap.entries = ents(0, &[1]);
    assert!(malformed(&mut n, wrap).contains("consecutive"));
    assert!(malformed(&mut n, msg(MessageType::MsgProp, 2, 1, 0)).contains("without entries"));
    assert!(malformed(&mut n, msg(MessageType::MsgReadIndex, 2, 1, 0)).contains("context"));
    assert!(malformed(&mut n, msg(MessageType::MsgSnap, 2, 1, 1)).contains("without"));
    // An oversized heartbeat commit is clamped to what the follower holds.
    let mut hb = msg(MessageType::MsgHeartbeat, 2, 1, 1);
    hb.commit = 1_000;
    n.step(hb).unwrap();
    assert_eq!(n.raft.raft_log.committed, 0);
}

// Decoding arbitrary bytes and stepping whatever decodes never panics a node.
#[test]
fn stepping_decoded_garbage_never_panics() {
    use rand::{Rng as _, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(99);
    let mut nw = Network::new(3);
    nw.campaign(1);
    nw.propose(1, b"x");
    let templates: Vec<Vec<u8>> = nw.delivered.iter().map(|m| m.to_bytes()).collect();
    let mut leader = RawNode::new(&config(1, 10, 1), storage(&[1, 2, 3]), node_rng(1)).unwrap();
    leader.campaign().unwrap();
    let mut stepped = 0;
    for _ in 0..20_000 {
        let mut b = templates[rng.random_range(0..templates.len())].clone();
        for _ in 0..rng.random_range(1..4) {
            let i = rng.random_range(0..b.len());
            b[i] = rng.random();
        }
        if let Ok(m) = raft::core::Message::decode(&b) {
            let _ = leader.step(m);
            stepped += 1;
        }
    }
    assert!(stepped > 100, "only {stepped} mutated messages decoded");
}
