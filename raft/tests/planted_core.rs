//! The consensus core's planted bugs (`raft::planted`, the `raft-core` layer): each test runs
//! the same small situation with the bug off and on, and shows the switch turns a correct
//! decision into the intended wrong one — or, where one of the core's invariant assertions
//! stands right behind the decision, that the assertion stops the wrong step with its values.

mod common;

use common::*;
use raft::core::{
    ConfState, Entry, HardState, Message, MessageType, Snapshot, SnapshotMetadata, StateRole,
};
use raft::planted;
use sim::planted::{Activation, PlantedBug};

/// Runs `f` with `bug` switched on (`Some`) or with every bug off (`None`).
fn with<T>(bug: Option<&'static PlantedBug>, f: impl FnOnce() -> T) -> T {
    let _on = Activation::new(bug);
    f()
}

/// Runs `f` with `bug` on and returns the message it panicked with (it must panic).
fn panic_with<T>(bug: &'static PlantedBug, f: impl FnOnce() -> T) -> String {
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| with(Some(bug), f)));
    let Err(payload) = caught else { panic!("{} did not trip an assertion", bug.name) };
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(p) => p.downcast_ref::<&str>().map(|s| s.to_string()).unwrap_or_default(),
    }
}

/// Node `id` of `voters` whose log holds one entry per term in `terms`, at `term`.
fn node_with_log(id: u64, voters: &[u64], terms: &[u64], term: u64) -> TestRaft {
    let mut s = storage(voters);
    s.append(&ents(1, terms));
    let mut r = new_test_raft(id, 10, 1, s);
    r.load_state(HardState { term, ..HardState::default() });
    r
}

/// The responses of type `t` that `r` queued.
fn replies(r: &mut TestRaft, t: MessageType) -> Vec<Message> {
    read_messages(r).into_iter().filter(|m| m.msg_type == t).collect()
}

/// Whether `r` grants a vote request of type `t` from `from` at `term` for a log ending at
/// (`index`, `log_term`).
fn grants(
    r: &mut TestRaft,
    t: MessageType,
    from: u64,
    term: u64,
    index: u64,
    log_term: u64,
) -> bool {
    let mut m = msg(t, from, r.id, term);
    m.index = index;
    m.log_term = log_term;
    r.step(m).unwrap();
    let resp = if t == MessageType::MsgVote {
        MessageType::MsgVoteResp
    } else {
        MessageType::MsgPreVoteResp
    };
    let out = replies(r, resp);
    assert_eq!(out.len(), 1, "one answer: {out:?}");
    !out[0].reject
}

// ----- elections -----

#[test]
fn vote_ignores_last_index_grants_a_shorter_log_of_the_same_term() {
    let decide = || {
        let mut r = node_with_log(1, &[1, 2, 3], &[1, 1, 1], 1);
        // Candidate 2's log ends at index 2 in term 1; ours at index 3 in term 1.
        grants(&mut r, MessageType::MsgVote, 2, 2, 2, 1)
    };
    assert!(!with(None, decide), "a shorter log of the same last term is refused");
    assert!(with(Some(&planted::VOTE_IGNORES_LAST_INDEX), decide), "granted with the bug");
}

#[test]
fn vote_twice_in_term_grants_a_rival_after_voting_for_itself() {
    let decide = || {
        let mut r = new_test_raft(1, 10, 1, storage(&[1, 2, 3]));
        r.become_candidate();
        read_messages(&mut r);
        let granted = grants(&mut r, MessageType::MsgVote, 2, 1, 0, 0);
        (granted, r.vote)
    };
    assert_eq!(with(None, decide), (false, 1), "voted for itself: the rival is refused");
    // With the bug the rival passes the `can_vote` test; the one-vote-per-term assertion
    // stops the second vote from being cast.
    let why = panic_with(&planted::VOTE_TWICE_IN_TERM, decide);
    assert!(why.contains("node 1 votes for 2 in term 1 at term 1 having voted for 1"), "{why}");
}

#[test]
fn pre_vote_records_vote_then_grants_a_second_vote_in_the_term() {
    let decide = || {
        let mut r = new_test_raft(1, 10, 1, storage(&[1, 2, 3]));
        assert!(grants(&mut r, MessageType::MsgVote, 2, 1, 0, 0), "votes for 2 in term 1");
        assert!(grants(&mut r, MessageType::MsgPreVote, 3, 2, 0, 0), "pre-vote for term 2");
        let vote = r.vote;
        // A vote request node 3 sent earlier, in term 1, arrives late.
        let second = grants(&mut r, MessageType::MsgVote, 3, 1, 0, 0);
        (vote, second)
    };
    assert_eq!(with(None, decide), (2, false), "the term-1 vote stays with node 2");
    // With the bug the pre-vote for term 2 would overwrite node 1's term-1 vote for node 2 (and
    // a late term-1 request from node 3 would then be granted): the one-vote-per-term
    // assertion stops it at the pre-vote.
    let why = panic_with(&planted::PRE_VOTE_RECORDS_VOTE, decide);
    assert!(why.contains("node 1 votes for 3 in term 2 at term 1 having voted for 2"), "{why}");
}

#[test]
fn vote_quorum_half_elects_with_two_of_four() {
    let decide = || {
        let mut r = new_test_raft(1, 10, 1, storage(&[1, 2, 3, 4]));
        r.step(msg(MessageType::MsgHup, 1, 1, 0)).unwrap();
        read_messages(&mut r);
        r.step(msg(MessageType::MsgVoteResp, 2, 1, r.term)).unwrap();
        r.state
    };
    assert_eq!(with(None, decide), StateRole::Candidate, "2 of 4 is no majority");
    assert_eq!(with(Some(&planted::VOTE_QUORUM_HALF), decide), StateRole::Leader);
    // With an odd number of voters the bug changes nothing: (n+1)/2 is the majority.
    let three = || {
        let mut r = new_test_raft(1, 10, 1, storage(&[1, 2, 3]));
        r.step(msg(MessageType::MsgHup, 1, 1, 0)).unwrap();
        let mut m = msg(MessageType::MsgVoteResp, 2, 1, r.term);
        m.reject = true;
        r.step(m).unwrap();
        r.state
    };
    assert_eq!(with(Some(&planted::VOTE_QUORUM_HALF), three), StateRole::Candidate);
}

#[test]
fn stale_responses_accepted_counts_a_vote_from_an_earlier_term() {
    let decide = || {
        let mut r = new_test_raft(1, 10, 1, storage(&[1, 2, 3]));
        let hup = || msg(MessageType::MsgHup, 1, 1, 0);
        r.step(hup()).unwrap(); // term 1: node 2's grant is delayed
        r.step(hup()).unwrap(); // term 2
        read_messages(&mut r);
        r.step(msg(MessageType::MsgVoteResp, 2, 1, 1)).unwrap();
        (r.state, r.term)
    };
    assert_eq!(with(None, decide), (StateRole::Candidate, 2), "a term-1 grant is stale");
    // With the bug the term-1 grant would make node 1 leader of term 2; the assertion that
    // role handlers see only current-term messages stops it.
    let why = panic_with(&planted::STALE_RESPONSES_ACCEPTED, decide);
    assert!(why.contains("node 1 at term 2 steps MsgVoteResp of term 1 from 2"), "{why}");
}

// ----- replication and commit -----

#[test]
fn append_keeps_conflicting_entries_and_acknowledges_the_leaders() {
    let decide = || {
        // Indexes 3 and 4 come from an old term-2 leader; the term-3 leader has other entries.
        let mut r = node_with_log(2, &[1, 2, 3], &[1, 1, 2, 2], 3);
        r.become_follower(3, 1);
        let mut m = msg(MessageType::MsgApp, 1, 2, 3);
        m.index = 2;
        m.log_term = 1;
        m.entries = ents(3, &[3, 3, 3]);
        r.step(m).unwrap();
        let ack = replies(&mut r, MessageType::MsgAppResp);
        let terms: Vec<u64> = r.raft_log.all_entries().iter().map(|e| e.term).collect();
        (terms, ack[0].index, ack[0].reject)
    };
    assert_eq!(with(None, decide), (vec![1, 1, 3, 3, 3], 5, false), "suffix replaced");
    // With the bug the conflict is placed past our last index, so indexes 3 and 4 keep their
    // term-2 entries under the leader's; the log-matching assertion after the append stops it.
    let find = || {
        let r = node_with_log(2, &[1, 2, 3], &[1, 1, 2, 2], 3);
        r.raft_log.find_conflict(&ents(3, &[3, 3, 3]))
    };
    assert_eq!(with(None, find), 3);
    assert_eq!(with(Some(&planted::APPEND_KEEPS_CONFLICTING_ENTRIES), find), 5);
    let why = panic_with(&planted::APPEND_KEEPS_CONFLICTING_ENTRIES, decide);
    assert!(why.contains("our entry 3 has term Ok(2), the leader's has term 3"), "{why}");
}

#[test]
fn heartbeat_carries_leader_commit_past_the_followers_match() {
    let decide = || {
        let mut nw = Network::new(3);
        nw.campaign(1);
        nw.isolate(3);
        nw.propose(1, b"x");
        nw.propose(1, b"y");
        let l = nw.node(1);
        assert_eq!((l.raft_log.committed, l.prs.progress[&3].matched), (3, 1));
        l.step(msg(MessageType::MsgBeat, 1, 1, 0)).unwrap();
        let beats = replies(l, MessageType::MsgHeartbeat);
        beats.iter().find(|m| m.to == 3).expect("a heartbeat to 3").commit
    };
    assert_eq!(with(None, decide), 1, "min(match, commit)");
    assert_eq!(with(Some(&planted::HEARTBEAT_CARRIES_LEADER_COMMIT), decide), 3);
}

#[test]
fn heartbeat_carrying_leader_commit_commits_a_stale_tail() {
    let decide = || {
        // Node 3 holds index 2 from an old term-1 leader; nodes 1 and 2 hold index 2 and 3 of
        // term 2. Node 1 wins term 3 with node 2 and commits its no-op (index 4) with it, while
        // its appends to node 3 are lost, so node 3's stale index 2 is never replaced.
        let v = [1, 2, 3];
        let mut nw = Network::from_nodes(vec![
            Some(node_with_log(1, &v, &[1, 2, 2], 2)),
            Some(node_with_log(2, &v, &[1, 2, 2], 2)),
            Some(node_with_log(3, &v, &[1, 1], 2)),
        ]);
        nw.drop_if = Some(Box::new(|m| m.to == 3 && m.msg_type == MessageType::MsgApp));
        nw.campaign(1);
        assert_eq!((nw.peek(1).state, nw.peek(1).raft_log.committed), (StateRole::Leader, 4));
        nw.node(1).step(msg(MessageType::MsgBeat, 1, 1, 0)).unwrap();
        let beats = read_messages(nw.node(1));
        nw.send(beats);
        let f = nw.peek(3);
        (f.raft_log.committed, f.raft_log.term(2))
    };
    assert_eq!(with(None, decide), (0, Ok(1)), "nothing of node 3's log is vouched for");
    assert_eq!(
        with(Some(&planted::HEARTBEAT_CARRIES_LEADER_COMMIT), decide),
        (2, Ok(1)),
        "node 3 commits its term-1 entry at index 2, where the leader committed a term-2 one"
    );
}

#[test]
fn commit_quorum_even_half_commits_on_two_of_four() {
    let decide = || {
        let mut nw = Network::new(4);
        nw.campaign(1);
        let before = nw.peek(1).raft_log.committed;
        nw.isolate(3);
        nw.isolate(4);
        nw.propose(1, b"x");
        (before, nw.peek(1).raft_log.committed)
    };
    assert_eq!(with(None, decide), (1, 1), "2 of 4 acknowledgements commit nothing");
    assert_eq!(with(Some(&planted::COMMIT_QUORUM_EVEN_HALF), decide), (1, 2));
}

#[test]
fn commit_counts_old_term_entries_commits_by_counting_an_earlier_terms_entry() {
    let decide = || {
        // Node 1 holds index 2 from its own term-2 leadership, never committed; it now leads
        // term 3 (no-op at index 3) and node 2 acknowledges up to index 2 only.
        let mut r = node_with_log(1, &[1, 2, 3], &[1, 2], 2);
        r.become_candidate();
        r.become_leader();
        read_messages(&mut r);
        let mut ack = msg(MessageType::MsgAppResp, 2, 1, r.term);
        ack.index = 2;
        r.step(ack).unwrap();
        (r.term, r.raft_log.committed)
    };
    assert_eq!(with(None, decide), (3, 0), "index 2 is of term 2: not committed by counting");
    assert_eq!(with(Some(&planted::COMMIT_COUNTS_OLD_TERM_ENTRIES), decide), (3, 2));
}

#[test]
fn reject_hint_as_match_records_a_rejecting_followers_last_index_as_matched() {
    let decide = || {
        let mut r = node_with_log(1, &[1, 2, 3], &[1, 1, 1], 1);
        r.become_candidate();
        r.become_leader();
        read_messages(&mut r);
        // Node 2 refuses the append after index 3: its entries 1..=3 are of other terms.
        let mut nack = msg(MessageType::MsgAppResp, 2, 1, r.term);
        nack.index = 3;
        nack.reject = true;
        nack.reject_hint = 3;
        r.step(nack).unwrap();
        r.prs.progress[&2].matched
    };
    assert_eq!(with(None, decide), 0, "a refusal proves no match");
    assert_eq!(with(Some(&planted::REJECT_HINT_AS_MATCH), decide), 3);
}

#[test]
fn append_ignores_prev_term_accepts_an_append_after_a_different_entry() {
    let decide = || {
        // Our index 3 is of term 2; the term-3 leader's is of term 3.
        let mut r = node_with_log(2, &[1, 2, 3], &[1, 1, 2], 3);
        r.become_follower(3, 1);
        let mut m = msg(MessageType::MsgApp, 1, 2, 3);
        m.index = 3;
        m.log_term = 3;
        m.entries = ents(4, &[3]);
        r.step(m).unwrap();
        let ack = replies(&mut r, MessageType::MsgAppResp);
        (ack[0].reject, r.raft_log.last_index())
    };
    assert_eq!(with(None, decide), (true, 3), "previous entries differ: refused");
    assert_eq!(with(Some(&planted::APPEND_IGNORES_PREV_TERM), decide), (false, 4));
}

#[test]
fn leader_counts_unsynced_entries_counts_its_no_op_before_it_is_durable() {
    let decide = || {
        let mut r = new_test_raft(1, 10, 1, storage(&[1, 2, 3]));
        r.become_candidate();
        r.become_leader();
        r.prs.progress[&1].matched
    };
    assert_eq!(with(None, decide), 0, "the no-op counts once persisted, not before");
    // With the bug the leader would count its no-op at once; the assertion that a leader
    // counts for itself only what is durable stops it.
    let why = panic_with(&planted::LEADER_COUNTS_UNSYNCED_ENTRIES, decide);
    assert!(why.contains("counts 1 for itself, durable to 0"), "{why}");
}

// ----- reads -----

/// A ReadIndex request with context `ctx` from `from` to `to`.
fn read_request(from: u64, to: u64, ctx: &[u8]) -> Message {
    let mut m = msg(MessageType::MsgReadIndex, from, to, 0);
    m.entries = vec![Entry { data: ctx.to_vec(), ..Entry::default() }];
    m
}

#[test]
fn read_index_before_term_commit_confirms_a_read_at_a_lagging_index() {
    let decide = || {
        let mut r = new_test_raft(1, 10, 1, storage(&[1, 2, 3]));
        r.become_candidate();
        r.become_leader();
        read_messages(&mut r);
        r.step(read_request(1, 1, b"r")).unwrap();
        let beats = replies(&mut r, MessageType::MsgHeartbeat);
        let confirming = beats.iter().filter(|m| m.context == b"r").count();
        let mut ack = msg(MessageType::MsgHeartbeatResp, 2, 1, r.term);
        ack.context = b"r".to_vec();
        r.step(ack).unwrap();
        (confirming, r.read_states.len(), r.raft_log.committed)
    };
    assert_eq!(with(None, decide), (0, 0, 0), "held until the no-op commits");
    assert_eq!(
        with(Some(&planted::READ_INDEX_BEFORE_TERM_COMMIT), decide),
        (2, 1, 0),
        "answered at commit 0 before the new term committed anything"
    );
}

#[test]
fn read_index_without_quorum_answers_on_one_ack_of_five() {
    let decide = || {
        let mut nw = Network::new(5);
        nw.campaign(1);
        let l = nw.node(1);
        l.step(read_request(1, 1, b"r")).unwrap();
        read_messages(l);
        let mut ack = msg(MessageType::MsgHeartbeatResp, 2, 1, l.term);
        ack.context = b"r".to_vec();
        l.step(ack).unwrap();
        l.read_states.len()
    };
    assert_eq!(with(None, decide), 0, "leader + 1 of 5 proves nothing");
    assert_eq!(with(Some(&planted::READ_INDEX_WITHOUT_QUORUM), decide), 1);
}

#[test]
fn follower_read_at_own_commit_lowers_the_leaders_read_index() {
    let decide = || {
        let mut nw = Network::new(3);
        nw.campaign(1);
        nw.propose(1, b"x");
        // The leader commits index 3 with node 2; node 3 hears of neither it nor its commit.
        nw.drop_if = Some(Box::new(|m| {
            m.to == 3 && matches!(m.msg_type, MessageType::MsgApp | MessageType::MsgHeartbeat)
        }));
        nw.propose(1, b"y");
        assert_eq!((nw.peek(1).raft_log.committed, nw.peek(3).raft_log.committed), (3, 2));
        nw.send_one(read_request(3, 3, b"r"));
        let rs = &nw.peek(3).read_states;
        assert_eq!(rs.len(), 1, "forwarded, confirmed by node 2, answered");
        rs[0].index
    };
    assert_eq!(with(None, decide), 3, "the leader's commit index");
    assert_eq!(with(Some(&planted::FOLLOWER_READ_AT_OWN_COMMIT), decide), 2);
}

// ----- snapshots -----

#[test]
fn committed_entries_ignore_snapshot_start_below_it() {
    let snapshot = Snapshot {
        metadata: SnapshotMetadata {
            conf_state: ConfState { voters: vec![1, 2], learners: vec![] },
            index: 10,
            term: 2,
        },
        data: b"state".to_vec(),
    };
    let mut r = new_test_raft(1, 10, 1, storage(&[1, 2]));
    r.become_follower(2, 2);
    assert!(r.restore(snapshot));
    assert_eq!((r.raft_log.applied, r.raft_log.committed), (0, 10));
    assert!(r.raft_log.next_committed_ents().is_empty(), "the snapshot covers 1..=10");
    let why = panic_with(&planted::COMMITTED_ENTRIES_IGNORE_SNAPSHOT, || {
        r.raft_log.next_committed_ents()
    });
    assert!(why.contains("never compacted"), "entries 1..=10 are compacted: {why}");
}
