//! Golden-file interaction tests: scripts in `tests/golden/*.txt` drive a cluster of `RawNode`s
//! through the real Ready loop and record every delivered message, applied entry and status
//! line. Set `RAFT_GOLDEN_REWRITE=1` to regenerate the expected output after a deliberate change.
//!
//! File format (our own, datadriven-like): blocks separated by blank lines; each block is
//! optional `#` comment lines, one command line, a `----` line, and the expected output (never
//! empty: a command with nothing to say prints `ok`).
//!
//! Commands:
//! `cluster N [pre-vote] [check-quorum]`, `campaign ID`, `propose ID DATA`, `tick ID [COUNT]`,
//! `isolate ID`, `cut A B`, `recover`, `crash ID`, `restart ID`, `compact ID`,
//! `read-index ID CTX`, `transfer ID TO`, `status`, `log ID`,
//! `conf ID add|learner|remove TARGET` (proposes a membership change at ID; every node applies
//! it when committed), `join ID` (starts a new, empty node that knows the initial members).
//! Every command except `status`/`log` runs the cluster until quiet ("stabilize") afterwards.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Write as _;

use raft::core::{
    Codec, ConfChange, ConfChangeType, ConfState, Config, EntryKind, MemoryStorage, Message,
    MessageType, PeerId, RawNode, Storage,
};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

struct Node {
    raw: RawNode<MemoryStorage>,
    applied: u64,
}

struct Cluster {
    cfg: Config,
    nodes: BTreeMap<PeerId, Option<Node>>,
    disks: BTreeMap<PeerId, MemoryStorage>,
    cut: BTreeSet<(PeerId, PeerId)>,
    queue: VecDeque<Message>,
    voters: Vec<PeerId>,
    restarts: u64,
}

impl Cluster {
    fn new(n: u64, pre_vote: bool, check_quorum: bool) -> Cluster {
        let mut cfg = Config::new(1);
        cfg.election_tick = 10;
        cfg.heartbeat_tick = 1;
        cfg.pre_vote = pre_vote;
        cfg.check_quorum = check_quorum;
        let voters: Vec<PeerId> = (1..=n).collect();
        let mut c = Cluster {
            cfg,
            nodes: BTreeMap::new(),
            disks: BTreeMap::new(),
            cut: BTreeSet::new(),
            queue: VecDeque::new(),
            voters: voters.clone(),
            restarts: 0,
        };
        for id in voters {
            c.disks.insert(id, MemoryStorage::with_voters(&c.voters));
            c.start(id);
        }
        c
    }

    fn start(&mut self, id: PeerId) {
        let store = self.disks.remove(&id).expect("node is down");
        let applied = store.snapshot().expect("memory").metadata.index;
        let mut cfg = self.cfg.clone();
        cfg.id = id;
        cfg.applied = applied;
        let rng = ChaCha8Rng::seed_from_u64(id * 1000 + self.restarts);
        let raw = RawNode::new(&cfg, store, rng).expect("valid config");
        self.nodes.insert(id, Some(Node { raw, applied }));
    }

    fn node(&mut self, id: PeerId) -> &mut Node {
        self.nodes.get_mut(&id).and_then(Option::as_mut).unwrap_or_else(|| panic!("n{id} is down"))
    }

    fn stabilize(&mut self, out: &mut String) {
        loop {
            let mut busy = false;
            let ids: Vec<PeerId> = self.nodes.keys().copied().collect();
            for id in ids {
                busy |= self.handle_ready(id, out);
            }
            while let Some(m) = self.queue.pop_front() {
                busy = true;
                let up = self.nodes.get(&m.to).is_some_and(Option::is_some);
                let cut = self.cut.contains(&(m.from, m.to));
                let note = if cut {
                    " (dropped)"
                } else if !up {
                    " (down)"
                } else {
                    ""
                };
                writeln!(out, "{}{note}", fmt_msg(&m)).unwrap();
                if !cut && up {
                    let (from, to, snap) = (m.from, m.to, m.msg_type == MessageType::MsgSnap);
                    if let Err(e) = self.node(to).raw.step(m) {
                        writeln!(out, "  n{to} step error: {e}").unwrap();
                    }
                    if snap {
                        if let Some(Some(s)) = self.nodes.get_mut(&from) {
                            s.raw.report_snapshot(to, false);
                        }
                    }
                }
            }
            if !busy {
                return;
            }
        }
    }

    fn handle_ready(&mut self, id: PeerId, out: &mut String) -> bool {
        let Some(Some(node)) = self.nodes.get_mut(&id) else { return false };
        if !node.raw.has_ready() {
            return false;
        }
        let rd = node.raw.ready();
        if let Some(ss) = rd.soft_state {
            writeln!(out, "n{id} becomes {:?} (lead {})", ss.role, ss.lead).unwrap();
        }
        self.queue.extend(rd.messages.iter().cloned());
        let store = node.raw.store_mut();
        if let Some(s) = &rd.snapshot {
            store.apply_snapshot(s.clone()).expect("newer snapshot");
            writeln!(out, "n{id} installs snapshot {}/{}", s.metadata.index, s.metadata.term)
                .unwrap();
            node.applied = s.metadata.index;
        }
        store.append(&rd.entries);
        if let Some(hs) = rd.hard_state {
            store.set_hard_state(hs);
        }
        self.queue.extend(rd.persisted_messages.iter().cloned());
        for rs in &rd.read_states {
            let ctx = String::from_utf8_lossy(&rs.request_ctx);
            writeln!(out, "n{id} read-state {ctx} at {}", rs.index).unwrap();
        }
        for e in &rd.committed_entries {
            node.applied = e.index;
            if e.kind == EntryKind::ConfChange {
                let cc = ConfChange::decode(&e.data).expect("valid conf change");
                match node.raw.apply_conf_change(&cc) {
                    Ok(cs) => writeln!(
                        out,
                        "n{id} apply {}/{} {:?} {} -> voters {:?} learners {:?}",
                        e.index, e.term, cc.change_type, cc.node_id, cs.voters, cs.learners
                    ),
                    Err(err) => writeln!(out, "n{id} apply {}/{} refused: {err}", e.index, e.term),
                }
                .unwrap();
                continue;
            }
            let data = String::from_utf8_lossy(&e.data);
            writeln!(out, "n{id} apply {}/{} {data:?}", e.index, e.term).unwrap();
        }
        node.raw.advance();
        true
    }

    fn status(&self, out: &mut String) {
        for (id, n) in &self.nodes {
            match n {
                None => writeln!(out, "n{id}: down").unwrap(),
                Some(n) => {
                    let s = n.raw.status();
                    writeln!(
                        out,
                        "n{id}: {:?} term={} vote={} lead={} commit={} applied={} last={}",
                        s.soft_state.role,
                        s.hard_state.term,
                        s.hard_state.vote,
                        s.soft_state.lead,
                        s.hard_state.commit,
                        n.applied,
                        s.last_index
                    )
                    .unwrap();
                }
            }
        }
    }

    fn run(&mut self, cmd: &[&str], out: &mut String) -> bool {
        let id = |i: usize| -> PeerId { cmd[i].parse().expect("node id") };
        match cmd[0] {
            "campaign" => {
                let r = self.node(id(1)).raw.campaign();
                report(r, out);
            }
            "propose" => {
                let r = self.node(id(1)).raw.propose(cmd[2].as_bytes().to_vec());
                report(r, out);
            }
            "tick" => {
                let n: usize = cmd.get(2).map_or(1, |c| c.parse().expect("count"));
                for _ in 0..n {
                    self.node(id(1)).raw.tick();
                    self.stabilize(out);
                }
            }
            "isolate" => {
                let who = id(1);
                for &o in &self.voters {
                    if o != who {
                        self.cut.insert((who, o));
                        self.cut.insert((o, who));
                    }
                }
            }
            "cut" => {
                self.cut.insert((id(1), id(2)));
                self.cut.insert((id(2), id(1)));
            }
            "recover" => self.cut.clear(),
            "crash" => {
                let who = id(1);
                let n = self.nodes.get_mut(&who).and_then(Option::take).expect("node up");
                self.disks.insert(who, n.raw.store().clone());
                self.restarts += 1;
            }
            "restart" => self.start(id(1)),
            "compact" => {
                let voters = self.voters.clone();
                let n = self.node(id(1));
                let applied = n.applied;
                let store = n.raw.store_mut();
                let cs = ConfState { voters, learners: vec![] };
                store.create_snapshot(applied, cs, b"snap".to_vec()).expect("newer snapshot");
                store.compact(applied).expect("compact");
                writeln!(out, "n{} compacted to {applied}", id(1)).unwrap();
            }
            "read-index" => {
                let r = self.node(id(1)).raw.read_index(cmd[2].as_bytes().to_vec());
                report(r, out);
            }
            "transfer" => self.node(id(1)).raw.transfer_leader(id(2)),
            "conf" => {
                let change_type = match cmd[2] {
                    "add" => ConfChangeType::AddNode,
                    "learner" => ConfChangeType::AddLearnerNode,
                    "remove" => ConfChangeType::RemoveNode,
                    other => panic!("unknown conf change {other:?}"),
                };
                let cc = ConfChange { change_type, node_id: id(3), context: vec![] };
                let r = self.node(id(1)).raw.propose_conf_change(&cc);
                report(r, out);
            }
            "join" => {
                let who = id(1);
                self.disks.insert(who, MemoryStorage::with_voters(&self.voters));
                self.voters.push(who);
                self.start(who);
            }
            "status" => {
                self.status(out);
                return false;
            }
            "log" => {
                let n = self.node(id(1));
                let log = &n.raw.raft.raft_log;
                let es = log.entries(log.first_index(), u64::MAX).expect("log");
                let s: Vec<String> = es.iter().map(fmt_entry).collect();
                writeln!(out, "n{} first={} [{}]", id(1), log.first_index(), s.join(" ")).unwrap();
                return false;
            }
            other => panic!("unknown command {other:?}"),
        }
        true
    }
}

fn report(r: Result<(), raft::core::StepError>, out: &mut String) {
    if let Err(e) = r {
        writeln!(out, "error: {e}").unwrap();
    }
}

fn fmt_entry(e: &raft::core::Entry) -> String {
    let payload = match e.kind {
        EntryKind::ConfChange => match ConfChange::decode(&e.data) {
            Ok(cc) => format!(":{:?}({})", cc.change_type, cc.node_id),
            Err(err) => format!(":bad conf change ({err})"),
        },
        EntryKind::Normal if e.data.is_empty() => String::new(),
        EntryKind::Normal => format!(":{}", String::from_utf8_lossy(&e.data).escape_debug()),
    };
    format!("{}/{}{payload}", e.index, e.term)
}

fn fmt_msg(m: &Message) -> String {
    let mut s = format!("{}->{} {:?} term={}", m.from, m.to, m.msg_type, m.term);
    if m.index != 0 || m.log_term != 0 {
        let label = match m.msg_type {
            MessageType::MsgApp => "prev",
            MessageType::MsgVote | MessageType::MsgPreVote => "last",
            _ => "index",
        };
        write!(s, " {label}={}/{}", m.index, m.log_term).unwrap();
    }
    if m.commit != 0 {
        write!(s, " commit={}", m.commit).unwrap();
    }
    if m.reject {
        write!(s, " reject hint={}", m.reject_hint).unwrap();
    }
    if !m.entries.is_empty() {
        let es: Vec<String> = m.entries.iter().map(fmt_entry).collect();
        write!(s, " [{}]", es.join(" ")).unwrap();
    }
    if let Some(snap) = &m.snapshot {
        write!(s, " snap={}/{}", snap.metadata.index, snap.metadata.term).unwrap();
    }
    if !m.context.is_empty() {
        write!(s, " ctx={}", String::from_utf8_lossy(&m.context)).unwrap();
    }
    s
}

struct Block {
    comments: Vec<String>,
    command: String,
    expected: String,
}

fn parse(text: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    for chunk in text.split("\n\n").map(str::trim).filter(|c| !c.is_empty()) {
        let mut lines = chunk.lines();
        let mut comments = Vec::new();
        let command = loop {
            let l = lines.next().expect("a command after comments");
            if l.starts_with('#') {
                comments.push(l.to_string());
            } else {
                break l.to_string();
            }
        };
        let sep = lines.next();
        let expected: Vec<&str> = lines.collect();
        assert!(sep.is_none() || sep == Some("----"), "missing ---- after {command:?}");
        blocks.push(Block { comments, command, expected: expected.join("\n") });
    }
    blocks
}

/// Runs one script; returns its text with actual outputs and the first mismatch, if any.
fn run_script(text: &str) -> (String, Option<String>) {
    let mut cluster: Option<Cluster> = None;
    let mut rewritten = String::new();
    let mut first_diff = None;
    for b in parse(text) {
        let words: Vec<&str> = b.command.split_whitespace().collect();
        let mut out = String::new();
        if words[0] == "cluster" {
            let n = words[1].parse().expect("size");
            let c = Cluster::new(n, words.contains(&"pre-vote"), words.contains(&"check-quorum"));
            cluster = Some(c);
        } else {
            let c = cluster.as_mut().expect("cluster first");
            if c.run(&words, &mut out) {
                c.stabilize(&mut out);
            }
        }
        let actual =
            if out.trim().is_empty() { "ok".to_string() } else { out.trim_end().to_string() };
        if actual != b.expected && first_diff.is_none() {
            first_diff = Some(format!(
                "command `{}`\n--- expected\n{}\n--- actual\n{}",
                b.command, b.expected, actual
            ));
        }
        for c in &b.comments {
            writeln!(rewritten, "{c}").unwrap();
        }
        writeln!(rewritten, "{}\n----\n{actual}\n", b.command).unwrap();
    }
    (rewritten, first_diff)
}

#[test]
// Golden files live on the real file system: reading (and, on request, rewriting) them is the
// point of this test.
#[allow(clippy::disallowed_methods)]
fn golden_scripts() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let rewrite = std::env::var("RAFT_GOLDEN_REWRITE").is_ok_and(|v| v == "1");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/golden exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "expected at least 10 golden scripts, found {}", files.len());
    let mut failures = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).expect("readable script");
        let (actual, diff) = run_script(&text);
        if rewrite {
            std::fs::write(f, actual).expect("rewrite golden file");
        } else if let Some(d) = diff {
            failures.push(format!("{}: {d}", f.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "golden mismatches (RAFT_GOLDEN_REWRITE=1 to accept):\n{}",
        failures.join("\n\n")
    );
}

#[test]
fn a_changed_expectation_is_reported() {
    let script = "cluster 3\n----\nok\n\ncampaign 1\n----\nthis is not what happens\n";
    let (rewritten, diff) = run_script(script);
    let diff = diff.expect("a mismatch");
    assert!(diff.contains("campaign 1"), "{diff}");
    assert!(rewritten.contains("n1 becomes Leader"), "{rewritten}");
}
