//! Each protocol oracle fed a violating case (and the matching correct one).

use std::rc::Rc;

use net::frame::{encode_parts, FrameKind, Header, MessageKind};
use net::ids::{ClusterId, MemberId};
use raft::core::{Codec, Entry, HardState, Message, MessageType};
use raft::server::ServedRead;
use raft::wal::{Wal, WalConfig};
use sim::simulated::disk::{DiskConfig, SimDisk};
use sim::simulated::net::Sent;
use sim::{Instant, NodeId, Seed};

use super::super::durable_wal::DurableWal;
use super::commits::{completeness_violation, Committed};
use super::reads::{read_violation, ReadFloor};
use super::restarts::{readback_violation, Booted};
use super::*;

const WAL: &str = raft::server::boot::WAL_DIR;

/// A node's disk with a WAL holding `entries` (all of term `term`) and hard state `hs`, synced.
fn disk_with(seed: u64, hs: HardState, entries: u64, term: u64) -> (Rc<SimDisk>, Wal) {
    let d = SimDisk::new(Seed(seed).stream("disk"), DiskConfig::default());
    let dd: Rc<dyn sim::io::Disk> = d.clone();
    let mut w = Wal::create(dd, WAL, b"meta", WalConfig { segment_size: 1 << 20 }).unwrap();
    let es: Vec<Entry> =
        (1..=entries).map(|index| Entry { index, term, ..Entry::default() }).collect();
    w.save(&hs, &es).unwrap();
    (d, w)
}

fn frame(m: &Message) -> Vec<u8> {
    let header = Header {
        kind: FrameKind::Message(MessageKind::General),
        cluster: ClusterId(1),
        from: MemberId(m.from),
        to: MemberId(m.to),
    };
    encode_parts(&header, &m.to_bytes())
}

fn send(o: &mut ProtocolOracle, node: u32, m: &Message) {
    let f = frame(m);
    o.on_send(Sent { from: NodeId(node), to: NodeId(9), at: Instant(5), frame: &f });
}

fn msg(t: MessageType, from: u64, to: u64, term: u64, index: u64, reject: bool) -> Message {
    let mut m = Message::new(t, from, to);
    m.term = term;
    m.index = index;
    m.reject = reject;
    m
}

fn hs(term: u64, vote: u64, commit: u64) -> HardState {
    HardState { term, vote, commit }
}

#[test]
fn a_vote_grant_must_be_durable_when_it_leaves() {
    let (d, mut w) = disk_with(1, hs(3, 0, 0), 2, 1);
    let mut o = ProtocolOracle::new();
    o.watch(1, Rc::clone(&d));
    // The WAL holds term 3 with no vote: granting member 7 a vote in term 3 is not backed.
    send(&mut o, 1, &msg(MessageType::MsgVoteResp, 11, 7, 3, 0, false));
    let (p, v) = o.violation().cloned().expect("an unbacked grant");
    assert_eq!(p, Property::Persistence);
    assert!(v.contains("granted its vote to member 7 in term 3") && v.contains("vote 0"), "{v}");
    // Once the vote is saved (a vote change syncs), the same grant is fine.
    w.save(&hs(3, 7, 0), &[]).unwrap();
    let mut o = ProtocolOracle::new();
    o.watch(1, Rc::clone(&d));
    send(&mut o, 1, &msg(MessageType::MsgVoteResp, 11, 7, 3, 0, false));
    // A rejection promises nothing.
    send(&mut o, 1, &msg(MessageType::MsgVoteResp, 11, 8, 3, 0, true));
    assert_eq!(o.violation(), None);
}

#[test]
fn a_candidate_must_have_its_own_vote_durable_before_asking() {
    let (d, _w) = disk_with(2, hs(4, 0, 0), 1, 1);
    let mut o = ProtocolOracle::new();
    o.watch(1, d);
    send(&mut o, 1, &msg(MessageType::MsgVote, 11, 12, 5, 1, false));
    let (p, v) = o.violation().cloned().expect("term 5 is not durable");
    assert_eq!(p, Property::Persistence);
    assert!(v.contains("asked for votes in term 5"), "{v}");
}

#[test]
fn two_different_votes_in_one_term_break_a_promise() {
    let (d, _w) = disk_with(3, hs(6, 7, 0), 1, 1);
    let mut o = ProtocolOracle::new();
    o.watch(1, d);
    send(&mut o, 1, &msg(MessageType::MsgVoteResp, 11, 7, 6, 0, false));
    assert_eq!(o.violation(), None);
    // The vote is durable for 7; a later incarnation granting 8 in the same term breaks it (the
    // persistence check fires too, so look at the vote record alone).
    o.vote(1, 11, 6, 8);
    let (p, v) = o.violation().cloned().expect("two votes");
    assert_eq!(p, Property::Promise);
    assert!(v.contains("voted for member 7 and then for member 8 in term 6"), "{v}");
}

#[test]
fn an_append_must_be_durable_before_it_is_acknowledged() {
    let (d, mut w) = disk_with(4, hs(2, 0, 0), 3, 2);
    let mut o = ProtocolOracle::new();
    o.watch(1, Rc::clone(&d));
    send(&mut o, 1, &msg(MessageType::MsgAppResp, 11, 12, 2, 3, false));
    assert_eq!(o.violation(), None, "index 3 is durable");
    assert_eq!(o.pending_acks.len(), 1, "its entry term is checked after the step");
    send(&mut o, 1, &msg(MessageType::MsgAppResp, 11, 12, 2, 9, true));
    assert_eq!(o.violation(), None, "a rejection promises no entries");
    send(&mut o, 1, &msg(MessageType::MsgAppResp, 11, 12, 2, 4, false));
    let (p, v) = o.violation().cloned().expect("index 4 is not durable");
    assert_eq!(p, Property::Persistence);
    assert!(v.contains("acknowledged index 4") && v.contains("only up to index 3"), "{v}");
    // A term not yet durable is caught even on a rejection.
    w.save(&hs(2, 0, 0), &[]).unwrap();
    let mut o = ProtocolOracle::new();
    o.watch(1, d);
    send(&mut o, 1, &msg(MessageType::MsgAppResp, 11, 12, 3, 1, true));
    assert!(o.violation().expect("term 3").1.contains("while its disk holds term 2"));
}

#[test]
fn other_messages_are_not_judged() {
    let (d, _w) = disk_with(5, hs(1, 0, 0), 0, 1);
    let mut o = ProtocolOracle::new();
    o.watch(1, d);
    send(&mut o, 1, &msg(MessageType::MsgApp, 11, 12, 9, 9, false));
    send(&mut o, 1, &msg(MessageType::MsgHeartbeatResp, 11, 12, 9, 0, false));
    send(&mut o, 1, &msg(MessageType::MsgPreVoteResp, 11, 12, 9, 0, false));
    o.ignore(2);
    send(&mut o, 2, &msg(MessageType::MsgVoteResp, 21, 12, 9, 0, false));
    assert_eq!(o.violation(), None);
}

#[test]
fn a_commit_needs_the_entry_durable_on_a_quorum() {
    let mut o = ProtocolOracle::new();
    for (n, entries) in [(1u32, 5u64), (2, 5), (3, 2)] {
        let (d, _w) = disk_with(10 + u64::from(n), hs(2, 0, 0), entries, 2);
        o.watch(n, d);
        o.member_node.insert(100 + u64::from(n), n);
    }
    let voters = [101, 102, 103];
    assert!(o.durable_quorum(&voters, 5, 2).0, "n1 and n2 hold (5, 2)");
    let (held, detail) = o.durable_quorum(&voters, 5, 3);
    assert!(!held, "nobody holds (5, 3)");
    assert!(detail.contains("only 0 of 3 voters"), "{detail}");
    let (held, detail) = o.durable_quorum(&[101, 103, 104], 5, 2);
    assert!(!held && detail.contains("held by [n1], not by [n3, member 68]"), "{detail}");
}

#[test]
fn a_new_leader_must_hold_every_committed_entry() {
    let at = |term, by| Some(Committed { term, by, seen_in: term });
    let committed = vec![at(1, 1), at(1, 1), None, at(2, 3)];
    let log = |i: u64| [1, 1, 2, 2].get(i as usize - 1).copied();
    assert_eq!(completeness_violation(2, 3, &committed, 0, 4, &log), None);
    let stale = |i: u64| [1, 1, 1, 1].get(i as usize - 1).copied();
    let v = completeness_violation(2, 3, &committed, 0, 4, &stale).expect("entry 4 differs");
    assert!(v.contains("without committed entry 4 (term 2, committed on node 3)"), "{v}");
    let v = completeness_violation(2, 3, &committed, 0, 3, &log).expect("too short");
    assert!(v.contains("(last index 3)"), "{v}");
    // Entries under the snapshot are not in the log any more: not judged.
    assert_eq!(completeness_violation(2, 3, &committed, 4, 4, &|_| None), None);
    // A leader of term 2 elected late (its grants were delayed) need not hold entry 4, seen
    // committed in term 2 (not before its term); it must hold those of term 1.
    assert_eq!(completeness_violation(2, 2, &committed, 0, 4, &stale), None);
    let short = |i: u64| [1, 2].get(i as usize - 1).copied();
    let v = completeness_violation(2, 2, &committed, 0, 2, &short).expect("entry 2 differs");
    assert!(v.contains("without committed entry 2 (term 1"), "{v}");
}

#[test]
fn a_restart_must_read_back_what_was_durable() {
    let (d, _w) = disk_with(20, hs(4, 9, 3), 5, 4);
    let before = DurableWal::new(WAL).refresh(&d).clone();
    let log = |i: u64| (i <= 5).then_some(4);
    let ok = Booted { term: 4, vote: 9, snapshot: 0, last: 5, log_term: &log };
    assert_eq!(readback_violation(1, &before, &ok), None);
    let short = |i: u64| (i <= 3).then_some(4);
    let lost = Booted { last: 3, log_term: &short, ..ok };
    let v = readback_violation(1, &before, &lost).expect("entries lost");
    assert!(v.contains("log ending at index 3") && v.contains("up to index 5"), "{v}");
    let other = |i: u64| (i <= 5).then_some(if i == 4 { 3 } else { 4 });
    let changed = Booted { log_term: &other, ..ok };
    let v = readback_violation(1, &before, &changed).expect("entry 4 changed");
    assert!(v.contains("without entry 4 (term 4)") && v.contains("read back term 3"), "{v}");
    let forgot = Booted { vote: 0, ..ok };
    assert!(readback_violation(1, &before, &forgot).expect("vote").contains("vote 0"));
    let older = Booted { term: 3, ..ok };
    assert!(readback_violation(1, &before, &older).is_some());
    let newer = Booted { term: 5, vote: 0, ..ok };
    assert_eq!(readback_violation(1, &before, &newer), None, "a newer term may follow");
}

#[test]
fn reads_need_their_read_index_applied_and_above_the_floor() {
    let served = ServedRead { client: 7, index: 10, applied: 12 };
    assert_eq!(read_violation(1, &served, ReadFloor(10)), None);
    let v = read_violation(1, &served, ReadFloor(11)).expect("below the floor");
    assert!(v.contains("read index 10, below commit index 11"), "{v}");
    let early = ServedRead { applied: 9, ..served };
    let v = read_violation(1, &early, ReadFloor(0)).expect("not applied");
    assert!(v.contains("applied index 9 below its read index 10"), "{v}");
}

#[test]
fn applied_state_must_stay_within_a_boots_reach() {
    use super::replay::unreplayable;
    // Entries 1..=5 synced, commit 3: a node that applied 5 can boot back to 5.
    let (d, mut w) = disk_with(21, hs(2, 1, 3), 5, 2);
    let mut scan = DurableWal::new(WAL);
    assert_eq!(unreplayable(1, 5, scan.refresh(&d)), None);
    let v = unreplayable(1, 6, scan.refresh(&d)).expect("6 was never durable");
    assert!(v.contains("applied up to index 6") && v.contains("only to index 5"), "{v}");
    // A snapshot at 40 installed: its marker is synced, but the hard state whose commit covers
    // it is written without a sync. A boot would not trust the marker.
    let meta = raft::core::SnapshotMetadata { index: 40, term: 2, ..Default::default() };
    w.save_snapshot(&meta).unwrap();
    w.save(&hs(2, 1, 40), &[]).unwrap();
    let v = unreplayable(1, 40, scan.refresh(&d)).expect("commit 40 not durable");
    assert!(v.contains("only to index 5") && v.contains("newest snapshot marker 40"), "{v}");
    w.sync().unwrap();
    assert_eq!(unreplayable(1, 40, scan.refresh(&d)), None, "synced: the marker is trusted");
    // Entries continuing from the trusted snapshot extend the reach; a gap does not.
    w.save(&hs(2, 1, 40), &[Entry { index: 41, term: 2, ..Entry::default() }]).unwrap();
    assert_eq!(unreplayable(1, 41, scan.refresh(&d)), None);
    w.save(&hs(2, 1, 40), &[Entry { index: 45, term: 2, ..Entry::default() }]).unwrap();
    let v = unreplayable(1, 45, scan.refresh(&d)).expect("44 missing");
    assert!(v.contains("only to index 40"), "{v}");
}
