//! The Raft paper scenarios, ported from etcd-io/raft's `raft_paper_test.go` (read for what each
//! scenario asserts; the code is ours). Each test names the Go test it follows.

mod common;

use common::*;
use raft::core::{Entry, HardState, Message, MessageType, StateRole, NONE};

#[derive(Clone, Copy)]
enum Start {
    Follower,
    Candidate,
    Leader,
}

fn start_as(r: &mut TestRaft, s: Start) {
    match s {
        Start::Follower => r.become_follower(1, 2),
        Start::Candidate => r.become_candidate(),
        Start::Leader => {
            r.become_candidate();
            r.become_leader();
        }
    }
}

/// §5.1: a server seeing a larger term adopts it; a candidate or leader reverts to follower.
fn update_term_from_message(s: Start) {
    let mut r = new_test_raft(1, 10, 1, storage(&[1, 2, 3]));
    start_as(&mut r, s);
    r.step(msg(MessageType::MsgApp, 2, 1, 2)).unwrap();
    assert_eq!(r.term, 2);
    assert_eq!(r.state, StateRole::Follower);
}

// Go: TestFollowerUpdateTermFromMessage
#[test]
fn follower_update_term_from_message() {
    update_term_from_message(Start::Follower);
}

// Go: TestCandidateUpdateTermFromMessage
#[test]
fn candidate_update_term_from_message() {
    update_term_from_message(Start::Candidate);
}

// Go: TestLeaderUpdateTermFromMessage
#[test]
fn leader_update_term_from_message() {
    update_term_from_message(Start::Leader);
}

// Go: TestRejectStaleTermMessage — §5.1: a request with a stale term is ignored.
#[test]
fn reject_stale_term_message() {
    let mut r = new_test_raft(1, 10, 1, storage(&[1, 2, 3]));
    r.load_state(HardState { term: 2, ..HardState::default() });
    let mut m = msg(MessageType::MsgApp, 2, 1, 1);
    m.entries = ents(1, &[1]);
    m.commit = 1;
    r.step(m).unwrap();
    assert_eq!(r.term, 2);
    assert_eq!(r.lead, NONE, "a stale leader is not recognised");
    assert_eq!(r.raft_log.last_index(), 0, "stale entries not appended");
    assert!(read_messages(&mut r).is_empty(), "no answer to a stale request");
}

// Go: TestStartAsFollower — §5.2.
#[test]
fn start_as_follower() {
    let r = new_test_raft(1, 10, 1, storage(&[1, 2, 3]));
    assert_eq!(r.state, StateRole::Follower);
}

// Go: TestLeaderBcastBeat — §5.2: on a heartbeat tick the leader sends empty MsgHeartbeats.
#[test]
fn leader_bcast_beat() {
    let hi = 1;
    let mut r = new_test_raft(1, 10, hi, storage(&[1, 2, 3]));
    r.become_candidate();
    r.become_leader();
    for _ in 0..10 {
        r.step(prop(1, b"")).unwrap();
    }
    read_messages(&mut r);
    for _ in 0..hi {
        r.tick();
    }
    let msgs = sorted(read_messages(&mut r));
    let want: Vec<Message> = [2, 3]
        .iter()
        .map(|&to| {
            let mut m = msg(MessageType::MsgHeartbeat, 1, to, 1);
            m.commit = 0;
            m
        })
        .collect();
    assert_eq!(msgs, want);
}

/// §5.2: a follower (or candidate) that hears nothing for an election timeout starts an
/// election: new term, candidate, votes for itself, sends MsgVote to every other server.
fn nonleader_start_election(s: Start) {
    let et = 10;
    let mut r = new_test_raft(1, et, 1, storage(&[1, 2, 3]));
    start_as(&mut r, s);
    for _ in 1..2 * et {
        r.tick();
    }
    assert_eq!(r.term, 2);
    assert_eq!(r.state, StateRole::Candidate);
    assert_eq!(r.prs.votes.get(&1), Some(&true));
    let want: Vec<Message> = [2, 3].iter().map(|&to| msg(MessageType::MsgVote, 1, to, 2)).collect();
    assert_eq!(sorted(read_messages(&mut r)), want);
}

// Go: TestFollowerStartElection
#[test]
fn follower_start_election() {
    nonleader_start_election(Start::Follower);
}

// Go: TestCandidateStartNewElection
#[test]
fn candidate_start_new_election() {
    nonleader_start_election(Start::Candidate);
}

// Go: TestLeaderElectionInOneRoundRPC — §5.2: win, lose, or stay undecided after one round.
#[test]
fn leader_election_in_one_round_rpc() {
    use StateRole::*;
    type Votes = &'static [(u64, bool)];
    let cases: &[(u64, Votes, StateRole)] = &[
        (1, &[], Leader),
        (3, &[(2, true), (3, true)], Leader),
        (3, &[(2, true)], Leader),
        (5, &[(2, true), (3, true), (4, true), (5, true)], Leader),
        (5, &[(2, true), (3, true), (4, true)], Leader),
        (5, &[(2, true), (3, true)], Leader),
        (3, &[(2, false), (3, false)], Follower),
        (5, &[(2, false), (3, false), (4, false), (5, false)], Follower),
        (5, &[(2, true), (3, false), (4, false), (5, false)], Follower),
        (3, &[], Candidate),
        (5, &[(2, true)], Candidate),
        (5, &[(2, false), (3, false)], Candidate),
        (5, &[], Candidate),
    ];
    for (i, &(size, votes, want)) in cases.iter().enumerate() {
        let mut r = new_test_raft(1, 10, 1, storage(&ids_by_size(size)));
        r.step(msg(MessageType::MsgHup, 1, 1, 0)).unwrap();
        read_messages(&mut r);
        for &(id, granted) in votes {
            let mut m = msg(MessageType::MsgVoteResp, id, 1, r.term);
            m.reject = !granted;
            r.step(m).unwrap();
        }
        assert_eq!(r.state, want, "#{i}");
        assert_eq!(r.term, 1, "#{i}");
    }
}

// Go: TestFollowerVote — §5.2: at most one vote per term, first come first served.
#[test]
fn follower_vote() {
    let cases = [
        (NONE, 2, false),
        (NONE, 3, false),
        (2, 2, false),
        (3, 3, false),
        (2, 3, true),
        (3, 2, true),
    ];
    for (i, &(vote, nvote, reject)) in cases.iter().enumerate() {
        let mut r = new_test_raft(1, 10, 1, storage(&[1, 2, 3]));
        r.load_state(HardState { term: 1, vote, commit: 0 });
        r.step(msg(MessageType::MsgVote, nvote, 1, 1)).unwrap();
        let mut want = msg(MessageType::MsgVoteResp, 1, nvote, 1);
        want.reject = reject;
        let (now, after_persist) = r.take_messages();
        assert!(now.is_empty(), "#{i}: a vote response waits for persistence");
        assert_eq!(after_persist, vec![want], "#{i}");
    }
}

// Go: TestCandidateFallback — §5.2: a candidate that hears from a leader of at least its term
// becomes a follower.
#[test]
fn candidate_fallback() {
    for (i, term) in [1u64, 2].into_iter().enumerate() {
        let mut r = new_test_raft(1, 10, 1, storage(&[1, 2, 3]));
        r.step(msg(MessageType::MsgHup, 1, 1, 0)).unwrap();
        assert_eq!(r.state, StateRole::Candidate, "#{i}");
        r.step(msg(MessageType::MsgApp, 2, 1, term)).unwrap();
        assert_eq!(r.state, StateRole::Follower, "#{i}");
        assert_eq!(r.term, term, "#{i}");
    }
}

/// §5.2: election timeouts are randomized over [et, 2et).
fn nonleader_election_timeout_randomized(s: Start) {
    let et = 10;
    let mut r = new_test_raft(1, et, 1, storage(&[1, 2, 3]));
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..50 * et {
        match s {
            Start::Follower => {
                let t = r.term + 1;
                r.become_follower(t, 2);
            }
            _ => r.become_candidate(),
        }
        read_messages(&mut r);
        let mut time = 0;
        loop {
            r.tick();
            time += 1;
            if !read_messages(&mut r).is_empty() {
                break;
            }
        }
        seen.insert(time);
    }
    for d in et..2 * et {
        assert!(seen.contains(&d), "timeout in {d} ticks should happen: saw {seen:?}");
    }
    assert!(seen.iter().all(|&d| (et..2 * et).contains(&d)), "out of range: {seen:?}");
}

// Go: TestFollowerElectionTimeoutRandomized
#[test]
fn follower_election_timeout_randomized() {
    nonleader_election_timeout_randomized(Start::Follower);
}

// Go: TestCandidateElectionTimeoutRandomized
#[test]
fn candidate_election_timeout_randomized() {
    nonleader_election_timeout_randomized(Start::Candidate);
}

/// §5.2: mostly only one server times out first, so split votes are rare.
fn nonleaders_election_timeout_nonconflict(s: Start) {
    let et = 10;
    let ids = ids_by_size(5);
    let mut rs: Vec<TestRaft> =
        ids.iter().map(|&id| new_test_raft(id, et, 1, storage(&ids))).collect();
    let mut conflicts = 0;
    for _ in 0..1000 {
        for r in rs.iter_mut() {
            match s {
                Start::Follower => {
                    let t = r.term + 1;
                    r.become_follower(t, NONE);
                }
                _ => r.become_candidate(),
            }
            read_messages(r);
        }
        let mut timeouts = 0;
        while timeouts == 0 {
            for r in rs.iter_mut() {
                r.tick();
                if !read_messages(r).is_empty() {
                    timeouts += 1;
                }
            }
        }
        if timeouts > 1 {
            conflicts += 1;
        }
    }
    assert!(conflicts as f64 / 1000.0 <= 0.3, "conflict rate {conflicts}/1000");
}

// Go: TestFollowersElectionTimeoutNonconflict
#[test]
fn followers_election_timeout_nonconflict() {
    nonleaders_election_timeout_nonconflict(Start::Follower);
}

// Go: TestCandidatesElectionTimeoutNonconflict
#[test]
fn candidates_election_timeout_nonconflict() {
    nonleaders_election_timeout_nonconflict(Start::Candidate);
}

/// Makes `r` (a fresh leader) commit its no-op: replicate it, answer for every follower, and
/// apply it.
fn commit_noop_entry(r: &mut TestRaft) {
    assert_eq!(r.state, StateRole::Leader);
    r.bcast_append();
    for m in &read_messages(r) {
        assert_eq!(m.msg_type, MessageType::MsgApp);
        assert_eq!(m.entries.len(), 1, "only the no-op: {m:?}");
        assert!(m.entries[0].data.is_empty());
        r.step(accept_and_reply(m)).unwrap();
    }
    read_messages(r);
    let c = r.raft_log.committed;
    r.raft_log.applied_to(c);
}

// Go: TestLeaderStartReplication — §5.3: the leader appends a proposal and sends MsgApps with
// the preceding entry's (index, term); the entry goes to stable storage (the Ready entries).
#[test]
fn leader_start_replication() {
    let mut r = new_test_raft(1, 10, 1, storage(&[1, 2, 3]));
    r.become_candidate();
    r.become_leader();
    commit_noop_entry(&mut r);
    let li = r.raft_log.last_index();
    r.step(prop(1, b"some data")).unwrap();
    assert_eq!(r.raft_log.last_index(), li + 1);
    assert_eq!(r.raft_log.committed, li);
    let went =
        vec![Entry { index: li + 1, term: 1, data: b"some data".to_vec(), ..Entry::default() }];
    assert_eq!(r.raft_log.unstable_entries(), &went[..], "to be written to stable storage");
    let want: Vec<Message> = [2, 3]
        .iter()
        .map(|&to| {
            let mut m = msg(MessageType::MsgApp, 1, to, 1);
            m.index = li;
            m.log_term = 1;
            m.entries = went.clone();
            m.commit = li;
            m
        })
        .collect();
    assert_eq!(sorted(read_messages(&mut r)), want);
}

// Go: TestLeaderCommitEntry — §5.3: once replicated the entry is committed, handed out for
// applying, and the new commit index goes out in later MsgApps.
#[test]
fn leader_commit_entry() {
    let mut r = new_test_raft(1, 10, 1, storage(&[1, 2, 3]));
    r.become_candidate();
    r.become_leader();
    commit_noop_entry(&mut r);
    let li = r.raft_log.last_index();
    r.step(prop(1, b"some data")).unwrap();
    for m in read_messages(&mut r) {
        r.step(accept_and_reply(&m)).unwrap();
    }
    assert_eq!(r.raft_log.committed, li + 1);
    let want =
        vec![Entry { index: li + 1, term: 1, data: b"some data".to_vec(), ..Entry::default() }];
    assert_eq!(r.raft_log.next_committed_ents(), want);
    let msgs = sorted(read_messages(&mut r));
    assert_eq!(msgs.len(), 2);
    for (i, m) in msgs.iter().enumerate() {
        assert_eq!(m.to, i as u64 + 2);
        assert_eq!(m.msg_type, MessageType::MsgApp);
        assert_eq!(m.commit, li + 1);
    }
}

// Go: TestLeaderAcknowledgeCommit — §5.3: committed once on a majority (leader included).
#[test]
fn leader_acknowledge_commit() {
    let cases: &[(u64, &[u64], bool)] = &[
        (1, &[], true),
        (3, &[], false),
        (3, &[2], true),
        (3, &[2, 3], true),
        (5, &[], false),
        (5, &[2], false),
        (5, &[2, 3], true),
        (5, &[2, 3, 4], true),
        (5, &[2, 3, 4, 5], true),
    ];
    for (i, &(size, acceptors, wack)) in cases.iter().enumerate() {
        let mut r = new_test_raft(1, 10, 1, storage(&ids_by_size(size)));
        r.become_candidate();
        r.become_leader();
        if size > 1 {
            // Commit the no-op by hand: every follower accepts it.
            r.bcast_append();
            for m in read_messages(&mut r) {
                r.step(accept_and_reply(&m)).unwrap();
            }
        }
        read_messages(&mut r);
        let li = r.raft_log.last_index();
        assert_eq!(r.raft_log.committed, li, "#{i}: no-op committed");
        r.step(prop(1, b"some data")).unwrap();
        for m in read_messages(&mut r) {
            if acceptors.contains(&m.to) {
                r.step(accept_and_reply(&m)).unwrap();
            }
        }
        read_messages(&mut r);
        assert_eq!(r.raft_log.committed > li, wack, "#{i}");
    }
}

// Go: TestLeaderCommitPrecedingEntries — §5.3: committing an entry commits every preceding one,
// including those of earlier leaders, and they are applied in log order.
#[test]
fn leader_commit_preceding_entries() {
    let cases: Vec<Vec<Entry>> = vec![vec![], ents(1, &[2]), ents(1, &[1, 2]), ents(1, &[1])];
    for (i, tt) in cases.into_iter().enumerate() {
        let mut s = storage(&[1, 2, 3]);
        s.append(&tt);
        let mut r = new_test_raft(1, 10, 1, s);
        r.load_state(HardState { term: 2, ..HardState::default() });
        r.become_candidate();
        r.become_leader();
        r.step(prop(1, b"some data")).unwrap();
        for m in read_messages(&mut r) {
            r.step(accept_and_reply(&m)).unwrap();
        }
        let li = tt.len() as u64;
        let mut want = tt.clone();
        want.push(Entry { term: 3, index: li + 1, ..Entry::default() });
        want.push(Entry {
            term: 3,
            index: li + 2,
            data: b"some data".to_vec(),
            ..Entry::default()
        });
        assert_eq!(r.raft_log.next_committed_ents(), want, "#{i}");
    }
}

// Go: TestFollowerCommitEntry — §5.3: a follower that learns an entry is committed applies it
// (and those before it) in order.
#[test]
fn follower_commit_entry() {
    let data = |index: u64, d: &str| Entry {
        term: 1,
        index,
        data: d.as_bytes().to_vec(),
        ..Entry::default()
    };
    let cases = vec![
        (vec![data(1, "some data")], 1),
        (vec![data(1, "some data"), data(2, "some data2")], 2),
        (vec![data(1, "some data2"), data(2, "some data")], 2),
        (vec![data(1, "some data"), data(2, "some data2")], 1),
    ];
    for (i, (es, commit)) in cases.into_iter().enumerate() {
        let mut r = new_test_raft(1, 10, 1, storage(&[1, 2, 3]));
        r.become_follower(1, 2);
        let mut m = msg(MessageType::MsgApp, 2, 1, 1);
        m.entries = es.clone();
        m.commit = commit;
        r.step(m).unwrap();
        assert_eq!(r.raft_log.committed, commit, "#{i}");
        assert_eq!(r.raft_log.next_committed_ents(), es[..commit as usize].to_vec(), "#{i}");
    }
}

// Go: TestFollowerCheckMsgApp — §5.3: a follower refuses entries whose preceding (index, term)
// it does not have, with a fast-rejection hint; otherwise it accepts.
#[test]
fn follower_check_msg_app() {
    let es = ents(1, &[1, 2]);
    // (log_term, index, want index, reject, hint, hint term)
    let cases = [
        (0, 0, 1, false, 0, 0),
        (1, 1, 1, false, 0, 0),
        (2, 2, 2, false, 0, 0),
        (1, 2, 2, true, 1, 1),
        (3, 3, 3, true, 2, 2),
    ];
    for (i, &(term, index, windex, reject, hint, hint_term)) in cases.iter().enumerate() {
        let mut s = storage(&[1, 2, 3]);
        s.append(&es);
        let mut r = new_test_raft(1, 10, 1, s);
        r.load_state(HardState { commit: 1, ..HardState::default() });
        r.become_follower(2, 2);
        let mut m = msg(MessageType::MsgApp, 2, 1, 2);
        m.log_term = term;
        m.index = index;
        r.step(m).unwrap();
        let mut want = msg(MessageType::MsgAppResp, 1, 2, 2);
        want.index = windex;
        if reject {
            want.reject = true;
            want.reject_hint = hint;
            want.log_term = hint_term;
        }
        assert_eq!(read_messages(&mut r), vec![want], "#{i}");
    }
}

// Go: TestFollowerAppendEntries — §5.3: a valid append deletes the conflicting entry and all
// after it and appends what is new; the new entries go to stable storage.
#[test]
fn follower_append_entries() {
    let cases = [
        (2, 2, ents(3, &[3]), ents(1, &[1, 2, 3]), ents(3, &[3])),
        (1, 1, ents(2, &[3, 4]), ents(1, &[1, 3, 4]), ents(2, &[3, 4])),
        (0, 0, ents(1, &[1]), ents(1, &[1, 2]), vec![]),
        (0, 0, ents(1, &[3]), ents(1, &[3]), ents(1, &[3])),
    ];
    for (i, (index, term, es, want, want_unstable)) in cases.into_iter().enumerate() {
        let mut s = storage(&[1, 2, 3]);
        s.append(&ents(1, &[1, 2]));
        let mut r = new_test_raft(1, 10, 1, s);
        r.become_follower(2, 2);
        let mut m = msg(MessageType::MsgApp, 2, 1, 2);
        m.log_term = term;
        m.index = index;
        m.entries = es;
        r.step(m).unwrap();
        assert_eq!(r.raft_log.all_entries(), want, "#{i}");
        assert_eq!(r.raft_log.unstable_entries(), &want_unstable[..], "#{i}");
    }
}

// Go: TestLeaderSyncFollowerLog — §5.3, Figure 7: the leader brings every kind of divergent
// follower log into agreement with its own.
#[test]
fn leader_sync_follower_log() {
    let lead_log = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
    let term = 8;
    let followers: Vec<Vec<u64>> = vec![
        vec![1, 1, 1, 4, 4, 5, 5, 6, 6],
        vec![1, 1, 1, 4],
        vec![1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],
        vec![1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],
        vec![1, 1, 1, 4, 4, 4, 4],
        vec![1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],
    ];
    for (i, f) in followers.iter().enumerate() {
        let mut ls = storage(&[1, 2, 3]);
        ls.append(&ents(1, &lead_log));
        let mut lead = new_test_raft(1, 10, 1, ls);
        let li = lead.raft_log.last_index();
        lead.load_state(HardState { commit: li, term, vote: NONE });
        let mut fs = storage(&[1, 2, 3]);
        fs.append(&ents(1, f));
        let mut follower = new_test_raft(2, 10, 1, fs);
        follower.load_state(HardState { term: term - 1, ..HardState::default() });
        // A three-node cluster: the follower may have the more up-to-date log, so node 1 needs
        // node 3's vote (a black hole here) to win.
        let mut nw = Network::from_nodes(vec![Some(lead), Some(follower), None]);
        nw.campaign(1);
        nw.send_one(msg(MessageType::MsgVoteResp, 3, 1, term + 1));
        nw.send_one(prop(1, b""));
        let (l, f) = (nw.peek(1), nw.peek(2));
        assert_eq!(l.state, StateRole::Leader, "#{i}");
        assert_eq!(l.raft_log.committed, f.raft_log.committed, "#{i}");
        assert_eq!(l.raft_log.all_entries(), f.raft_log.all_entries(), "#{i}");
    }
}

// Go: TestVoteRequest — §5.4.1: vote requests carry the candidate's last (index, term) and go
// to every other node.
#[test]
fn vote_request() {
    let cases = [(ents(1, &[1]), 2), (ents(1, &[1, 2]), 3)];
    for (j, (es, wterm)) in cases.into_iter().enumerate() {
        let mut r = new_test_raft(1, 10, 1, storage(&[1, 2, 3]));
        let mut m = msg(MessageType::MsgApp, 2, 1, wterm - 1);
        m.entries = es.clone();
        r.step(m).unwrap();
        read_messages(&mut r);
        for _ in 1..r.election_timeout * 2 {
            r.tick();
        }
        let msgs = sorted(read_messages(&mut r));
        assert_eq!(msgs.len(), 2, "#{j}");
        let last = es.last().unwrap();
        for (i, m) in msgs.iter().enumerate() {
            assert_eq!(m.msg_type, MessageType::MsgVote, "#{j}.{i}");
            assert_eq!(m.to, i as u64 + 2, "#{j}.{i}");
            assert_eq!(m.term, wterm, "#{j}.{i}");
            assert_eq!((m.index, m.log_term), (last.index, last.term), "#{j}.{i}");
        }
    }
}

// Go: TestVoter — §5.4.1: a voter denies its vote if its log is more up to date.
#[test]
fn voter() {
    let cases = [
        (ents(1, &[1]), 1, 1, false),
        (ents(1, &[1]), 1, 2, false),
        (ents(1, &[1, 1]), 1, 1, true),
        (ents(1, &[1]), 2, 1, false),
        (ents(1, &[1]), 2, 2, false),
        (ents(1, &[1, 1]), 2, 1, false),
        (ents(1, &[2]), 1, 1, true),
        (ents(1, &[2]), 1, 2, true),
        (ents(1, &[2, 2]), 1, 1, true),
        (ents(1, &[1, 1]), 1, 1, true),
    ];
    for (i, (es, log_term, index, reject)) in cases.into_iter().enumerate() {
        let mut s = storage(&[1, 2]);
        s.append(&es);
        let mut r = new_test_raft(1, 10, 1, s);
        let mut m = msg(MessageType::MsgVote, 2, 1, 3);
        m.log_term = log_term;
        m.index = index;
        r.step(m).unwrap();
        let msgs = read_messages(&mut r);
        assert_eq!(msgs.len(), 1, "#{i}");
        assert_eq!(msgs[0].msg_type, MessageType::MsgVoteResp, "#{i}");
        assert_eq!(msgs[0].reject, reject, "#{i}");
    }
}

// Go: TestLeaderOnlyCommitsLogFromCurrentTerm — §5.4.2: only current-term entries are committed
// by counting replicas.
#[test]
fn leader_only_commits_log_from_current_term() {
    for (i, &(index, wcommit)) in [(1, 0), (2, 0), (3, 3)].iter().enumerate() {
        let mut s = storage(&[1, 2]);
        s.append(&ents(1, &[1, 2]));
        let mut r = new_test_raft(1, 10, 1, s);
        r.load_state(HardState { term: 2, ..HardState::default() });
        r.become_candidate();
        r.become_leader();
        read_messages(&mut r);
        r.step(prop(1, b"")).unwrap();
        let mut m = msg(MessageType::MsgAppResp, 2, 1, r.term);
        m.index = index;
        r.step(m).unwrap();
        read_messages(&mut r);
        assert_eq!(r.raft_log.committed, wcommit, "#{i}");
    }
}
