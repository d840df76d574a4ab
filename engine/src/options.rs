//! Options for opening a database.

/// Default page size (bbolt's default on common systems).
pub const DEFAULT_PAGE_SIZE: usize = 4096;
/// Default fill percent for splits (bbolt's `DefaultFillPercent`).
pub const DEFAULT_FILL_PERCENT: f64 = 0.5;
/// Smallest accepted fill percent.
pub const MIN_FILL_PERCENT: f64 = 0.1;
/// Largest accepted fill percent.
pub const MAX_FILL_PERCENT: f64 = 1.0;

/// How to open a database.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    /// Page size used when creating a new file (an existing file keeps its own).
    pub page_size: usize,
    /// Open read-only: every writable transaction fails with `DatabaseReadOnly`, no lock is
    /// taken and the file is never created.
    pub read_only: bool,
    /// Default fill percent of new buckets (clamped to 0.1..=1.0).
    pub fill_percent: f64,
    /// Once the file is larger than this, it grows by this many bytes beyond what a commit
    /// needs; below it, the file size doubles (minimum 32 KiB).
    pub alloc_size: u64,
    /// Commits writing at most this many bytes of pages reach the disk with one flush and a
    /// commit record (see `record`); larger ones use bolt's two flushes. Capped at
    /// [`record::MAX_PAGES_BYTES`](crate::record::MAX_PAGES_BYTES), the default; 0 makes every
    /// commit use two flushes. Not part of the file: any value reads any file.
    pub one_flush_max_bytes: usize,
    /// Audit mode, for testbeds: the engine checks at run time that a reader's pages never
    /// change under it and that no commit writes a page an open reader visited (see `audit`).
    /// Off, it costs a branch per page visited.
    pub audit: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            page_size: DEFAULT_PAGE_SIZE,
            read_only: false,
            fill_percent: DEFAULT_FILL_PERCENT,
            alloc_size: 16 * 1024 * 1024,
            one_flush_max_bytes: crate::record::MAX_PAGES_BYTES,
            audit: false,
        }
    }
}

impl Options {
    /// Read-only options.
    pub fn read_only() -> Options {
        Options { read_only: true, ..Options::default() }
    }
}
