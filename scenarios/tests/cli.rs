//! The `dst` command line: through the library entry point with an in-memory world, and once
//! through the built binary.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use scenarios::check::history_file;
use scenarios::check::synth::{self, Config, Workload};
use scenarios::cli::{self, World};
use scenarios::sweep::SweepRun;

#[derive(Default)]
struct FakeWorld {
    files: BTreeMap<PathBuf, Vec<u8>>,
    /// The budgets asked for, and whether the deadline reports expiry.
    deadlines: Vec<u64>,
    expired: bool,
    /// Sweep jobs handed to `run_jobs` (answered with made-up passing runs, not executed).
    jobs: Vec<String>,
}

impl World for FakeWorld {
    fn read_file(&mut self, path: &Path) -> io::Result<Vec<u8>> {
        self.files.get(path).cloned().ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    }

    fn deadline(&mut self, secs: u64) -> Box<dyn FnMut() -> bool> {
        self.deadlines.push(secs);
        let expired = self.expired;
        Box::new(move || expired)
    }

    fn run_jobs(&mut self, jobs: Vec<cli::Job>, done: &mut dyn FnMut(usize)) -> Vec<SweepRun> {
        (0..jobs.len())
            .map(|i| {
                done(i);
                self.jobs.push(format!("job {i}"));
                SweepRun {
                    scenario: "fake".into(),
                    seed: i as u64,
                    nodes: 3,
                    bug: None,
                    result: "ok",
                    property: None,
                    detail: None,
                    trace_hash: "0x0".into(),
                    sim_secs: 1.0,
                    events: 1,
                    wall_secs: 0.0,
                    undecided: false,
                    coverage: Default::default(),
                    situations: Default::default(),
                    buggify: false,
                    buggify_fired: Default::default(),
                }
            })
            .collect()
    }
}

struct Run {
    code: i32,
    out: String,
    err: String,
}

fn dst(world: &mut FakeWorld, args: &[&str]) -> Run {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let argv = std::iter::once("dst").chain(args.iter().copied());
    let code = cli::run(argv, world, &mut out, &mut err);
    Run { code, out: String::from_utf8(out).unwrap(), err: String::from_utf8(err).unwrap() }
}

const GOOD: &str = "\
{:process 0, :type :invoke, :f :write, :value 1}
{:process 0, :type :ok, :f :write, :value 1}
{:process 1, :type :invoke, :f :read, :value nil}
{:process 1, :type :ok, :f :read, :value 1}
";

const STALE: &str = "\
{:process 0, :type :invoke, :f :write, :value 1}
{:process 0, :type :ok, :f :write, :value 1}
{:process 0, :type :invoke, :f :write, :value 2}
{:process 0, :type :ok, :f :write, :value 2}
{:process 1, :type :invoke, :f :read, :value nil}
{:process 1, :type :ok, :f :read, :value 1}
";

fn world_with(files: &[(&str, &str)]) -> FakeWorld {
    let mut w = FakeWorld::default();
    for (name, text) in files {
        w.files.insert(PathBuf::from(name), text.as_bytes().to_vec());
    }
    w
}

#[test]
fn linearizable_exits_0() {
    let r = dst(&mut world_with(&[("h.edn", GOOD)]), &["check-history", "h.edn"]);
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    assert!(r.out.starts_with("linearizable\nmodel register: 2 operations on 1 keys"), "{}", r.out);
}

#[test]
fn violation_exits_1_and_names_key_and_operations() {
    let r = dst(&mut world_with(&[("h.edn", STALE)]), &["check-history", "h.edn"]);
    assert_eq!(r.code, 1, "{}{}", r.out, r.err);
    let expected = "\
not linearizable
key (default key): no order of the operations places
  process 0 write 2 -> ok [t 2..3] (line 3)
  after the longest linearizable prefix (1 operations), register = 1
  the prefix ends with:
    process 0 write 1 -> ok [t 0..1] (line 1)
  still to observe that state, which nothing can restore:
    process 1 read -> ok 1 [t 4..5] (line 5)
model register: 3 operations on 1 keys;";
    assert!(r.out.starts_with(expected), "{}", r.out);
}

#[test]
fn unreadable_or_malformed_input_exits_2() {
    let mut w =
        world_with(&[("bad.edn", "{:process 0, :type :invoke, :f :write, :value 1}\n{:process 0")]);
    let r = dst(&mut w, &["check-history", "missing.edn"]);
    assert_eq!(r.code, 2);
    assert!(r.err.starts_with("dst: cannot read missing.edn:"), "{}", r.err);
    let r = dst(&mut w, &["check-history", "bad.edn"]);
    assert_eq!(r.code, 2);
    assert!(r.err.starts_with("dst: bad.edn: line 2: column 12: expected"), "{}", r.err);
    assert_eq!(r.out, "");
}

#[test]
fn model_choice_and_inference() {
    let kv = "{:process 0, :type :invoke, :f :put, :value 1}\n{:process 0, :type :ok, :f :put, :value 1}\n";
    let mixed = format!("{kv}{GOOD}");
    let mut w = world_with(&[("kv.edn", kv), ("reg.edn", GOOD), ("mixed.edn", &mixed)]);
    let r = dst(&mut w, &["check-history", "kv.edn"]);
    assert_eq!((r.code, r.out.lines().nth(1).unwrap_or("")), (0, "model kv: 1 operations on 1 keys; 0 unknown outcomes (0 dropped, 0 bounded); 1 searched, 1 steps"));
    let r = dst(&mut w, &["check-history", "reg.edn", "--model", "kv"]);
    assert_eq!(r.code, 2);
    assert!(r.err.contains("line 1: function :write is not part of the kv model"), "{}", r.err);
    let r = dst(&mut w, &["check-history", "mixed.edn"]);
    assert_eq!(r.code, 2);
    assert!(r.err.contains("choose one with --model"), "{}", r.err);
    let r = dst(&mut w, &["check-history", "reg.edn", "--model", "queue"]);
    assert_eq!(r.code, 2, "clap usage errors exit 2");
    assert!(r.err.contains("invalid value 'queue'"), "{}", r.err);
}

fn big_history() -> String {
    let cfg = Config {
        workload: Workload::Register,
        ops: 6000,
        processes: 5,
        keys: 1,
        info_per_mille: 0,
    };
    history_file::write(&synth::generate(&mut sim::Seed(3).stream("cli"), &cfg))
}

#[test]
fn budgets_give_unknown_exit_3() {
    let mut w = world_with(&[("h.edn", GOOD)]);
    let r = dst(&mut w, &["check-history", "h.edn", "--max-steps", "1"]);
    assert_eq!(r.code, 3, "{}{}", r.out, r.err);
    assert!(
        r.out.starts_with("unknown\nbudget exhausted; undecided keys (1): (default key)\n"),
        "{}",
        r.out
    );

    let big = big_history();
    let mut w = world_with(&[("big.edn", &big)]);
    w.expired = true;
    let r = dst(&mut w, &["check-history", "big.edn", "--budget-secs", "7"]);
    assert_eq!((r.code, w.deadlines.clone()), (3, vec![7]), "{}", r.out);
    w.expired = false;
    let r = dst(&mut w, &["check-history", "big.edn", "--budget-secs", "7"]);
    assert_eq!(r.code, 0, "{}", r.out);
}

#[test]
fn bare_dst_sweeps_every_scenario_and_usage_errors_exit_2() {
    let mut w = FakeWorld::default();
    let r = dst(&mut w, &[]);
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    let scenarios = scenarios::scenario::CATALOGUE.len();
    assert_eq!(w.jobs.len(), scenarios * cli::DEFAULT_SEEDS as usize);
    assert!(r.out.contains("sweeping") && r.out.contains("0 failed"), "{}", r.out);
    assert_eq!(dst(&mut w, &["frobnicate"]).code, 2);
    assert_eq!(dst(&mut w, &["check-history"]).code, 2, "FILE is required");
    let help = dst(&mut w, &["--help"]);
    assert_eq!(help.code, 0);
    assert!(help.out.contains("check-history"), "{}", help.out);
}

#[test]
#[allow(clippy::disallowed_methods)] // reason: runs the real binary on real files in cargo's temp dir.
fn the_binary_exits_0_1_2_3() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dst-cli");
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.edn");
    let stale = dir.join("stale.edn");
    std::fs::write(&good, GOOD).unwrap();
    std::fs::write(&stale, STALE).unwrap();
    let run = |args: &[&std::ffi::OsStr]| {
        let out =
            std::process::Command::new(env!("CARGO_BIN_EXE_dst")).args(args).output().unwrap();
        (out.status.code(), String::from_utf8(out.stdout).unwrap())
    };
    let c = |s: &'static str| std::ffi::OsStr::new(s);
    let (code, out) = run(&[c("check-history"), good.as_os_str()]);
    assert_eq!((code, out.lines().next()), (Some(0), Some("linearizable")));
    let (code, out) = run(&[c("check-history"), stale.as_os_str()]);
    assert_eq!((code, out.lines().next()), (Some(1), Some("not linearizable")));
    let (code, _) = run(&[c("check-history"), dir.join("absent.edn").as_os_str()]);
    assert_eq!(code, Some(2));
    let (code, out) = run(&[c("check-history"), good.as_os_str(), c("--max-steps"), c("1")]);
    assert_eq!((code, out.lines().next()), (Some(3), Some("unknown")));
    assert_eq!(run(&[c("run"), c("no-such-scenario"), c("--seed"), c("1")]).0, Some(2));
}
