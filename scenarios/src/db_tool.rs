//! `dst db check|info|pages FILE`: inspect an engine file as bbolt's command line does.
//!
//! The file is read whole (through the caller's `read_file`) and handed to
//! [`engine::inspect`]; it is never opened for writing, so inspecting cannot change it. Each
//! subcommand prints a stable, human-readable report on `out`:
//!
//! `info`: bbolt's `Page size: N` line, then the file's size, the meta in use and both metas
//! field by field, each marked `ok` or `BAD` where a field can be wrong by itself:
//! ```text
//! Page size: 512
//! File size: 32768 bytes (64 pages)
//! Meta in use: 1 (txid 3)
//!
//! meta 0 at byte 0: valid
//!   magic       0xed0cdaed ok
//!   version     2 ok
//!   page size   512
//!   flags       0x0
//!   root        page 17 (sequence 0)
//!   freelist    page 18
//!   high water  19
//!   txid        2
//!   checksum    0xa07737e810dcdde3 ok
//! meta 1 at byte 512: valid
//!   ...
//! ```
//! An invalid meta reads `meta 0 at byte 0: invalid: <why>`, its fields still shown when the
//! file holds them.
//!
//! `pages`: bbolt's table, one row per page below the high water mark; continuation pages of a
//! multi-page page are not rows (the OVRFLW column counts them), free pages show no counts.
//! ITEMS is the element count of branch and leaf pages and the number of ids on the freelist
//! page. Trailing blanks are trimmed. A page with something odd gets a note after the row
//! (`! header id 9`, `! overflow runs to page 40, past the high water mark 12`); a page whose
//! flags are no known type shows as `unknown<xx>`. Two deliberate differences from bbolt: a page
//! whose flags are not exactly one type is `unknown<xx>` (bbolt names it by its lowest known
//! bit), and a freelist page holding 0xFFFF or more ids shows the real count (bbolt shows the
//! header's 65535). For sound files the table is bbolt's, byte for byte (after trimming); the
//! ignored test `bbolt_agrees_on_pages_and_check` compares them.
//! ```text
//! ID       TYPE       ITEMS  OVRFLW
//! ======== ========== ====== ======
//! 0        meta       0
//! 1        meta       0
//! 2        leaf       6
//! 5        free
//! 24       leaf       6      3
//! 28       branch     8
//! 30       freelist   14
//! ```
//!
//! `check`: the engine's consistency check of the snapshot the meta in use describes: every
//! page reachable exactly once or free, the freelist in bounds and disjoint from pages in use,
//! page ids and types right, keys strictly ordered. Like `bbolt check` it prints one line per
//! problem and then `N errors found`, or `OK`. An invalid other meta (normal after a torn meta
//! write) is a `warning:` line, not an error.
//!
//! Exit codes: 0 the report was printed (and `check` found nothing), 1 `check` found problems,
//! 2 the file cannot be read or is not an engine file (too short, neither meta valid, truncated
//! below the high water mark, or, for `pages`, an unreadable freelist); the reason goes to
//! `err` as `dst: FILE: <reason>`.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use engine::inspect::{self, CheckReport, Info, MetaSlot, PageInfo, PageKind};

/// Exit code: report printed, nothing wrong.
pub const EXIT_OK: i32 = 0;
/// Exit code: `check` found problems.
pub const EXIT_PROBLEMS: i32 = 1;
/// Exit code: the file is unreadable or not an engine file.
pub const EXIT_UNREADABLE: i32 = 2;

/// Inspect an engine (bolt-format) database file, read-only.
#[derive(clap::Subcommand, Debug)]
pub enum DbCommand {
    /// Verify the file's consistency: every page reachable once or free, freelist sane, keys
    /// ordered. Prints each problem and `N errors found` (exit 1), or `OK` (exit 0).
    Check {
        /// The database file.
        file: PathBuf,
    },
    /// Print the page size and both meta pages (magic, version, checksum validity, txid, root,
    /// freelist page, high water mark) and which meta is in use.
    Info {
        /// The database file.
        file: PathBuf,
    },
    /// Print a table of the pages below the high water mark with their type (meta, branch,
    /// leaf, freelist, free), item count and overflow count.
    Pages {
        /// The database file.
        file: PathBuf,
    },
}

impl DbCommand {
    /// The file the command inspects.
    pub fn file(&self) -> &Path {
        match self {
            DbCommand::Check { file } | DbCommand::Info { file } | DbCommand::Pages { file } => {
                file
            }
        }
    }
}

/// Runs `cmd`: reads the file with `read_file`, prints the report on `out` and any reason the
/// file cannot be inspected on `err`; returns the exit code (see the module doc).
pub fn run_db(
    cmd: &DbCommand,
    read_file: &mut dyn FnMut(&Path) -> io::Result<Vec<u8>>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let path = cmd.file().display().to_string();
    let bytes = match read_file(cmd.file()) {
        Ok(b) => b,
        Err(e) => {
            let _ = writeln!(err, "dst: cannot read {path}: {e}");
            return EXIT_UNREADABLE;
        }
    };
    let printed = match cmd {
        DbCommand::Info { .. } => inspect::info(&bytes).map(|i| (print_info(&i, out), EXIT_OK)),
        DbCommand::Pages { .. } => inspect::pages(&bytes).map(|p| (print_pages(&p, out), EXIT_OK)),
        DbCommand::Check { .. } => inspect::check(&bytes).map(|r| {
            let code = if r.problems.is_empty() { EXIT_OK } else { EXIT_PROBLEMS };
            (print_check(&r, out), code)
        }),
    };
    match printed {
        Ok((Ok(()), code)) => code,
        Ok((Err(e), _)) => {
            let _ = writeln!(err, "dst: cannot write output: {e}");
            EXIT_UNREADABLE
        }
        Err(e) => {
            let _ = writeln!(err, "dst: {path}: {e}");
            EXIT_UNREADABLE
        }
    }
}

fn ok(good: bool) -> &'static str {
    if good {
        "ok"
    } else {
        "BAD"
    }
}

/// `info`'s report.
pub fn print_info(info: &Info, out: &mut dyn Write) -> io::Result<()> {
    let ps = u64::from(info.page_size);
    writeln!(out, "Page size: {}", info.page_size)?;
    let (pages, rest) = (info.file_len / ps, info.file_len % ps);
    if rest == 0 {
        writeln!(out, "File size: {} bytes ({pages} pages)", info.file_len)?;
    } else {
        writeln!(out, "File size: {} bytes ({pages} pages + {rest} bytes)", info.file_len)?;
    }
    writeln!(out, "Meta in use: {} (txid {})", info.current, info.meta().txid)?;
    writeln!(out)?;
    for (index, slot) in info.metas.iter().enumerate() {
        print_meta(index, slot, out)?;
    }
    Ok(())
}

fn print_meta(index: usize, slot: &MetaSlot, out: &mut dyn Write) -> io::Result<()> {
    match &slot.status {
        Ok(()) => writeln!(out, "meta {index} at byte {}: valid", slot.offset)?,
        Err(e) => writeln!(out, "meta {index} at byte {}: invalid: {e}", slot.offset)?,
    }
    let Some(m) = slot.raw else { return Ok(()) };
    writeln!(out, "  magic       {:#x} {}", m.magic, ok(slot.magic_ok()))?;
    writeln!(out, "  version     {} {}", m.version, ok(slot.version_ok()))?;
    writeln!(out, "  page size   {}", m.page_size)?;
    writeln!(out, "  flags       {:#x}", m.flags)?;
    writeln!(out, "  root        page {} (sequence {})", m.root.root, m.root.sequence)?;
    writeln!(out, "  freelist    page {}", m.freelist)?;
    writeln!(out, "  high water  {}", m.pgid)?;
    writeln!(out, "  txid        {}", m.txid)?;
    writeln!(out, "  checksum    {:#018x} {}", m.checksum, ok(slot.checksum_ok()))?;
    Ok(())
}

/// `pages`' table.
pub fn print_pages(pages: &[PageInfo], out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "ID       TYPE       ITEMS  OVRFLW")?;
    writeln!(out, "======== ========== ====== ======")?;
    for p in pages {
        let (items, overflow) = match p.kind {
            PageKind::Overflow { .. } => continue,
            PageKind::Free => (String::new(), String::new()),
            _ if p.overflow == 0 => (p.items.to_string(), String::new()),
            _ => (p.items.to_string(), p.overflow.to_string()),
        };
        let row = format!("{:<8} {:<10} {:<6} {:<6}", p.id, p.kind.to_string(), items, overflow);
        let notes: Vec<String> = p.anomalies.iter().map(|a| a.to_string()).collect();
        if notes.is_empty() {
            writeln!(out, "{}", row.trim_end())?;
        } else {
            writeln!(out, "{}  ! {}", row.trim_end(), notes.join("; "))?;
        }
    }
    Ok(())
}

/// `check`'s report: a warning for an invalid other meta, each problem, then the summary.
pub fn print_check(report: &CheckReport, out: &mut dyn Write) -> io::Result<()> {
    let info = &report.info;
    if let Some(e) = info.other_meta_problem() {
        writeln!(
            out,
            "warning: meta {} is invalid ({e}); checked meta {} (txid {})",
            1 - info.current,
            info.current,
            info.meta().txid
        )?;
    }
    for p in &report.problems {
        writeln!(out, "{p}")?;
    }
    match report.problems.len() {
        0 => writeln!(out, "OK"),
        n => writeln!(out, "{n} errors found"),
    }
}
