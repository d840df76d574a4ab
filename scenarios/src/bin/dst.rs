//! `dst`: the deterministic simulation testing tool. All logic lives in `scenarios::cli`; this
//! binary only supplies the real world (files and wall-clock time) and the exit code.

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

use scenarios::cli::{self, World};

struct RealWorld;

impl World for RealWorld {
    #[allow(clippy::disallowed_methods)] // reason: the CLI reads the user's history file; no simulation runs here.
    fn read_file(&mut self, path: &Path) -> std::io::Result<Vec<u8>> {
        std::fs::read(path)
    }

    #[allow(clippy::disallowed_methods, clippy::disallowed_types)] // reason: --budget-secs is wall-clock time by definition.
    fn deadline(&mut self, secs: u64) -> Box<dyn FnMut() -> bool> {
        let start = std::time::Instant::now();
        Box::new(move || start.elapsed().as_secs() >= secs)
    }
}

fn main() -> ExitCode {
    let code = cli::run(
        std::env::args_os(),
        &mut RealWorld,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    );
    let _ = std::io::stdout().flush();
    ExitCode::from(u8::try_from(code).unwrap_or(2))
}
