//! `dst`: the deterministic simulation testing tool. All logic lives in `scenarios::cli`; this
//! binary only supplies the real world (files, wall-clock time, worker threads, a progress bar
//! on a terminal) and the exit code. Simulations never see any of it: each run is
//! single-threaded and deterministic; threads only run independent seeds side by side.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)] // reason: this is the real-world edge of the CLI (files, wall clock, threads); no simulated code runs on these APIs.

use std::collections::VecDeque;
use std::io::{IsTerminal as _, Write as _};
use std::path::Path;
use std::process::ExitCode;
use std::sync::{mpsc, Mutex};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use scenarios::cli::{self, Job, Progress, World};
use scenarios::sweep::SweepRun;

/// A simulated run allocates and frees small buffers at every step (messages, entries, pages);
/// mimalloc serves them about 10% faster overall than the system allocator (see
/// `benches/dst_speed.rs`). Allocation never influences a run: same seed, same trace hash,
/// whichever allocator is linked.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct RealWorld {
    origin: Instant,
}

impl World for RealWorld {
    fn read_file(&mut self, path: &Path) -> std::io::Result<Vec<u8>> {
        std::fs::read(path)
    }

    fn deadline(&mut self, secs: u64) -> Box<dyn FnMut() -> bool> {
        let start = Instant::now();
        Box::new(move || start.elapsed().as_secs() >= secs)
    }

    fn write_file(&mut self, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        std::fs::write(path, bytes)
    }

    fn wall_secs(&mut self) -> f64 {
        self.origin.elapsed().as_secs_f64()
    }

    fn run_jobs(&mut self, jobs: Vec<Job>, done: &mut dyn FnMut(usize)) -> Vec<SweepRun> {
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).min(jobs.len());
        let count = jobs.len();
        let queue: Mutex<VecDeque<(usize, Job)>> =
            Mutex::new(jobs.into_iter().enumerate().collect());
        let (tx, rx) = mpsc::channel::<(usize, SweepRun)>();
        let mut results: Vec<Option<SweepRun>> = (0..count).map(|_| None).collect();
        std::thread::scope(|scope| {
            for _ in 0..workers {
                let tx = tx.clone();
                let queue = &queue;
                scope.spawn(move || loop {
                    let next = queue.lock().expect("queue lock").pop_front();
                    let Some((i, job)) = next else { return };
                    let t = Instant::now();
                    let mut run = job();
                    run.wall_secs = t.elapsed().as_secs_f64();
                    if tx.send((i, run)).is_err() {
                        return;
                    }
                });
            }
            drop(tx);
            for (i, r) in rx {
                done(i);
                results[i] = Some(r);
            }
        });
        results.into_iter().map(|r| r.expect("every job reports")).collect()
    }

    fn progress(&mut self, total: u64) -> Box<dyn Progress> {
        if !std::io::stderr().is_terminal() {
            return Box::new(cli::NoProgress);
        }
        let bar = ProgressBar::new(total);
        let style = ProgressStyle::with_template("{bar:40} {pos}/{len} runs, eta {eta} {msg}")
            .expect("valid template");
        bar.set_style(style);
        Box::new(Bar(bar))
    }
}

struct Bar(ProgressBar);

impl Progress for Bar {
    fn inc(&mut self, message: &str) {
        self.0.set_message(message.to_string());
        self.0.inc(1);
    }
    fn finish(&mut self) {
        self.0.finish_and_clear();
    }
}

fn main() -> ExitCode {
    let mut world = RealWorld { origin: Instant::now() };
    let code = cli::run(
        std::env::args_os(),
        &mut world,
        // Unlocked handles: each write takes the lock, so an `eprintln!` from a sweep worker
        // thread cannot block behind the command's own output for the whole command.
        &mut std::io::stdout(),
        &mut std::io::stderr(),
    );
    let _ = std::io::stdout().flush();
    ExitCode::from(u8::try_from(code).unwrap_or(2))
}
