//! Every BUGGIFY site of the stack in one list, and how often a sweep's runs fired each.
//!
//! The sites are declared where they are asked: `raft::buggify::SITES` (WAL, snapshotter,
//! server loop), `net::buggify::SITES` (transport) and `engine::buggify::SITES` (MVCC backend,
//! bolt commit); each crate's module documents what its sites do. `swarm` runs enable them
//! (see [`crate::scenario`]); `dst sweep` prints [`SiteCounts`] when any run had BUGGIFY on, so
//! a site that never fires shows up as a zero.

use std::collections::BTreeMap;
use std::fmt;

use sim::buggify::SiteInfo;

/// Every site, crate by crate (raft, net, engine).
pub fn sites() -> impl Iterator<Item = &'static SiteInfo> {
    raft::buggify::SITES.iter().chain(net::buggify::SITES).chain(engine::buggify::SITES)
}

/// Per site: in how many runs it fired, and how often in all.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SiteCounts {
    /// Runs that had BUGGIFY on.
    pub runs: u64,
    /// Site -> (runs in which it fired, times it fired).
    pub fired: BTreeMap<String, (u64, u64)>,
}

impl SiteCounts {
    /// Adds one run with BUGGIFY on and what it fired.
    pub fn add<'a>(&mut self, fired: impl IntoIterator<Item = (&'a str, u64)>) {
        self.runs += 1;
        for (site, n) in fired {
            let e = self.fired.entry(site.to_string()).or_default();
            e.0 += 1;
            e.1 += n;
        }
    }

    /// Sites of [`sites`] that fired in no run.
    pub fn silent(&self) -> Vec<&'static str> {
        sites().map(|s| s.name).filter(|n| !self.fired.contains_key(*n)).collect()
    }
}

impl fmt::Display for SiteCounts {
    /// A table: every known site (and any other that fired), runs it fired in, times.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&str> = sites().map(|s| s.name).collect();
        let known: Vec<&str> = names.clone();
        names.extend(self.fired.keys().map(String::as_str).filter(|n| !known.contains(n)));
        let w = names.iter().map(|n| n.len()).max().unwrap_or(4).max(12);
        writeln!(
            f,
            "{:w$}  {:>6}  {:>8}   (of {} runs with BUGGIFY)",
            "buggify site", "runs", "fired", self.runs
        )?;
        for n in names {
            let (runs, times) = self.fired.get(n).copied().unwrap_or((0, 0));
            writeln!(f, "{n:w$}  {runs:>6}  {times:>8}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_site_is_listed_once_and_named_by_its_crate() {
        let names: Vec<&str> = sites().map(|s| s.name).collect();
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "a site is listed twice: {names:?}");
        for n in &names {
            assert!(
                ["raft.", "net.", "engine."].iter().any(|p| n.starts_with(p)),
                "site {n} does not name its crate"
            );
        }
        assert!(names.len() >= 15, "{} sites", names.len());
    }

    #[test]
    fn counts_add_up_and_silent_sites_are_named() {
        let mut c = SiteCounts::default();
        c.add([(raft::buggify::WAL_EARLY_CUT, 3)]);
        c.add([(raft::buggify::WAL_EARLY_CUT, 1), (net::buggify::REORDER, 2)]);
        assert_eq!(c.runs, 2);
        assert_eq!(c.fired[raft::buggify::WAL_EARLY_CUT], (2, 4));
        let silent = c.silent();
        assert!(silent.contains(&raft::buggify::SLOW_APPLY));
        assert!(!silent.contains(&net::buggify::REORDER));
        let table = c.to_string();
        assert!(table.contains("raft.wal.early-cut") && table.contains("of 2 runs"), "{table}");
    }
}
