//! The `dst` command line, as a library so it can be tested without a process.
//!
//! Subcommands: `list`, `run`, `sweep`, `bugs`, `sensitivity`, `shrink`, `check-history`, `db`. A bare `dst` runs the
//! default sweep: every scenario over [`DEFAULT_SEEDS`] seeds.
//!
//! Exit codes: 0 all good, 1 a property failed, 2 usage or input error, 3 undecided (the
//! history check's budget ran out).

mod run_cmd;
mod sensitivity_cmd;
mod shrink_cmd;
mod sweep_cmd;

pub use sweep_cmd::DEFAULT_SEEDS;

use std::ffi::OsString;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand, ValueEnum};

use crate::check::{
    self, history_file, Budget, Func, History, KvModel, Model, RegisterModel, Report, Verdict,
};
use crate::sweep::SweepRun;

/// Exit code: every property holds.
pub const EXIT_OK: i32 = 0;
/// Exit code: a property failed.
pub const EXIT_FAILED: i32 = 1;
/// Exit code: usage error or unreadable input.
pub const EXIT_USAGE: i32 = 2;
/// Exit code: no verdict within the budget.
pub const EXIT_UNKNOWN: i32 = 3;

/// Deterministic simulation testing of the storage + consensus stack.
#[derive(Parser, Debug)]
#[command(name = "dst", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// List the scenarios: name, default duration, description.
    List,
    /// Run one scenario with one seed, or replay a plan file; prints the verdict.
    ///
    /// Ends with the lines `seed:`, `result:`, `trace-hash:`, `sim-time:`, `wall-time:` and
    /// `speed:`. Exit 0 when every property holds, 1 when one fails.
    Run(run_cmd::RunArgs),
    /// Run scenarios over a range of seeds; prints a summary and a `reproduce:` line per
    /// failure. Exit 0 when every run passes, 1 otherwise.
    Sweep(sweep_cmd::SweepArgs),
    /// List the planted bugs: name, layer, what the mistake is.
    Bugs,
    /// Sweep once per planted bug, stopping at its first failing seed; prints whether each is
    /// caught, where first, after how many seeds and by which property. Exit 1 when a bug is
    /// missed (with --ratchet: when a bug listed in the ratchet file is missed).
    Sensitivity(sensitivity_cmd::SensitivityArgs),
    /// Shrink a failing run to a minimal plan that still fails the same property; writes the
    /// plan file and prints its replay command.
    Shrink(shrink_cmd::ShrinkArgs),
    /// Inspect an engine (bolt-format) database file, as bbolt's command line does.
    Db {
        #[command(subcommand)]
        cmd: crate::db_tool::DbCommand,
    },
    /// Check a Jepsen-style EDN history file for linearizability.
    ///
    /// Prints `linearizable` (exit 0), `not linearizable` with the offending key and operations
    /// (exit 1) or `unknown` when the budget runs out (exit 3); unreadable input exits 2.
    CheckHistory(CheckHistoryArgs),
}

#[derive(clap::Args, Debug)]
pub struct CheckHistoryArgs {
    /// The history: one EDN map per line, e.g. {:process 3, :type :invoke, :f :write, :value 4}.
    pub file: PathBuf,
    /// The model; by default inferred from the functions used (read/write/cas: register,
    /// get/put/append/delete: kv).
    #[arg(long, value_enum)]
    pub model: Option<ModelKind>,
    /// Give up (verdict `unknown`) after this many seconds of wall-clock time.
    #[arg(long, value_name = "N")]
    pub budget_secs: Option<u64>,
    /// Give up (verdict `unknown`) after this many search steps (deterministic).
    #[arg(long, value_name = "N")]
    pub max_steps: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ModelKind {
    Register,
    Kv,
    /// Keys grouped by multi-key ranges and txns, each group checked as one map (registers on
    /// the fast path for lone keys); what `dst run` checks.
    Map,
}

/// What the command line needs from the real world; the `dst` binary provides the real one.
/// Simulations never see any of it: wall-clock time is only measured around runs.
pub trait World {
    fn read_file(&mut self, path: &Path) -> io::Result<Vec<u8>>;
    /// A test that turns true once `secs` seconds of wall-clock time have passed from now.
    fn deadline(&mut self, secs: u64) -> Box<dyn FnMut() -> bool>;
    /// Writes (creates or replaces) a file.
    fn write_file(&mut self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let _ = (path, bytes);
        Err(io::Error::new(io::ErrorKind::Unsupported, "this world cannot write files"))
    }
    /// Wall-clock seconds since some fixed origin (for `wall-time` and `speed`).
    fn wall_secs(&mut self) -> f64 {
        0.0
    }
    /// Runs independent jobs, possibly in parallel, calling `done` with each index as it
    /// finishes (in any order); returns the results in job order.
    fn run_jobs(&mut self, jobs: Vec<Job>, done: &mut dyn FnMut(usize)) -> Vec<SweepRun> {
        jobs.into_iter()
            .enumerate()
            .map(|(i, job)| {
                let r = job();
                done(i);
                r
            })
            .collect()
    }
    /// A progress bar over `total` steps (nothing by default; the binary draws one on a
    /// terminal).
    fn progress(&mut self, total: u64) -> Box<dyn Progress> {
        let _ = total;
        Box::new(NoProgress)
    }
}

/// One run of a sweep, to be executed by [`World::run_jobs`].
pub type Job = Box<dyn FnOnce() -> SweepRun + Send>;

/// Progress reporting.
pub trait Progress {
    fn inc(&mut self, message: &str);
    fn finish(&mut self);
}

/// A progress bar that draws nothing.
pub struct NoProgress;

impl Progress for NoProgress {
    fn inc(&mut self, _: &str) {}
    fn finish(&mut self) {}
}

/// Runs `dst` with `args` (including the program name); returns the exit code.
pub fn run<I, T>(args: I, world: &mut dyn World, out: &mut dyn Write, err: &mut dyn Write) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let sink: &mut dyn Write = if e.use_stderr() { err } else { out };
            let _ = write!(sink, "{}", e.render());
            return e.exit_code();
        }
    };
    let result = match cli.command {
        None => sweep_cmd::default_sweep(world, out),
        Some(Command::List) => list(out),
        Some(Command::Run(args)) => run_cmd::run(&args, world, out),
        Some(Command::Sweep(args)) => sweep_cmd::sweep(&args, world, out),
        Some(Command::Bugs) => sensitivity_cmd::list_bugs(out),
        Some(Command::Sensitivity(args)) => sensitivity_cmd::sensitivity(&args, world, out),
        Some(Command::Shrink(args)) => shrink_cmd::shrink(&args, world, out),
        Some(Command::Db { cmd }) => {
            return crate::db_tool::run_db(&cmd, &mut |p| world.read_file(p), out, err)
        }
        Some(Command::CheckHistory(args)) => check_history(&args, world, out),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            let _ = writeln!(err, "dst: {message}");
            EXIT_USAGE
        }
    }
}

/// `dst list`.
fn list(out: &mut dyn Write) -> Result<i32, String> {
    let w = crate::scenario::CATALOGUE.iter().map(|s| s.name.len()).max().unwrap_or(0);
    for s in crate::scenario::CATALOGUE {
        let io = |e: std::io::Error| format!("cannot write output: {e}");
        writeln!(out, "{:w$}  {:>3}s  {}", s.name, s.duration_secs, s.description).map_err(io)?;
        if !s.claims.is_empty() {
            let claims: Vec<&str> = s.claims.iter().map(|c| c.name()).collect();
            writeln!(out, "{:w$}        claims: {}", "", claims.join(", ")).map_err(io)?;
        }
    }
    Ok(EXIT_OK)
}

fn infer_model(history: &History) -> Result<ModelKind, String> {
    let multi = |f: Func| matches!(f, Func::Range | Func::Txn | Func::SerialRead | Func::Compact);
    if history.ops().iter().any(|o| multi(o.func)) {
        return Ok(ModelKind::Map);
    }
    let is_register = |f: Func| matches!(f, Func::Read | Func::Write | Func::Cas);
    let register = history.ops().iter().filter(|o| is_register(o.func)).count();
    match (register, history.len() - register) {
        (_, 0) => Ok(ModelKind::Register),
        (0, _) => Ok(ModelKind::Kv),
        _ => Err("the history mixes register (read/write/cas) and kv (get/put/append/delete) \
                  functions; choose one with --model"
            .to_string()),
    }
}

/// `dst check-history`; `Err` is an input error (exit 2).
fn check_history(
    args: &CheckHistoryArgs,
    world: &mut dyn World,
    out: &mut dyn Write,
) -> Result<i32, String> {
    let path = args.file.display();
    let bytes = world.read_file(&args.file).map_err(|e| format!("cannot read {path}: {e}"))?;
    let history = history_file::read(&bytes).map_err(|e| format!("{path}: {e}"))?;
    let model = match args.model {
        Some(m) => m,
        None => infer_model(&history).map_err(|e| format!("{path}: {e}"))?,
    };
    let mut deadline = args.budget_secs.map(|s| world.deadline(s));
    let mut budget = match args.max_steps {
        Some(n) => Budget::steps(n),
        None => Budget::unlimited(),
    };
    if let Some(expired) = deadline.as_mut() {
        budget = budget.with_deadline(&mut **expired);
    }
    let report = match model {
        ModelKind::Register => check::check(&RegisterModel, &history, &mut budget),
        ModelKind::Kv => check::check(&KvModel, &history, &mut budget),
        ModelKind::Map => check::groups::check(&history, &mut budget),
    }
    .map_err(|e| format!("{path}: {e}"))?;
    let name = match model {
        ModelKind::Register => RegisterModel.name(),
        ModelKind::Kv => KvModel.name(),
        ModelKind::Map => "map",
    };
    print_report(&report, &history, name, out).map_err(|e| format!("cannot write output: {e}"))?;
    Ok(match report.verdict {
        Verdict::Linearizable => EXIT_OK,
        Verdict::NotLinearizable(_) => EXIT_FAILED,
        Verdict::Unknown { .. } => EXIT_UNKNOWN,
    })
}

/// How many operations of a long list a report shows.
const SHOWN: usize = 10;

fn print_report(
    report: &Report,
    history: &History,
    model: &str,
    out: &mut dyn Write,
) -> io::Result<()> {
    match &report.verdict {
        Verdict::Linearizable => writeln!(out, "linearizable")?,
        Verdict::Unknown { keys } => {
            writeln!(out, "unknown")?;
            let names: Vec<String> = keys.iter().take(SHOWN).map(|k| k.to_string()).collect();
            writeln!(
                out,
                "budget exhausted; undecided keys ({}): {}",
                keys.len(),
                names.join(", ")
            )?;
        }
        Verdict::NotLinearizable(failures) => {
            writeln!(out, "not linearizable")?;
            for f in failures {
                writeln!(out, "key {}: no order of the operations places", f.key)?;
                writeln!(out, "  {}", history.get(f.blocked))?;
                writeln!(
                    out,
                    "  after the longest linearizable prefix ({} operations), {}",
                    f.prefix.len(),
                    f.state
                )?;
                let tail = f.prefix.len().saturating_sub(SHOWN);
                if !f.prefix.is_empty() {
                    writeln!(out, "  the prefix ends with:")?;
                }
                for id in &f.prefix[tail..] {
                    writeln!(out, "    {}", history.get(*id))?;
                }
                if !f.pending.is_empty() {
                    writeln!(out, "  none of these fits next either:")?;
                }
                for id in f.pending.iter().take(SHOWN) {
                    writeln!(out, "    {}", history.get(*id))?;
                }
                if f.pending.len() > SHOWN {
                    writeln!(out, "    ... and {} more", f.pending.len() - SHOWN)?;
                }
                if !f.waiting.is_empty() {
                    writeln!(out, "  still to observe that state, which nothing can restore:")?;
                }
                for id in f.waiting.iter().take(SHOWN) {
                    writeln!(out, "    {}", history.get(*id))?;
                }
                if f.waiting.len() > SHOWN {
                    writeln!(out, "    ... and {} more", f.waiting.len() - SHOWN)?;
                }
            }
        }
    }
    let s = &report.stats;
    writeln!(
        out,
        "model {model}: {} operations on {} keys; {} unknown outcomes ({} dropped, {} bounded); \
         {} searched, {} steps",
        history.len(),
        s.keys,
        s.unknown,
        s.reduction.dropped,
        s.reduction.bounded,
        s.searched,
        s.steps
    )
}
