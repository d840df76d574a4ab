//! The planted-bug catalogue: every [`PlantedBug`] the stack's crates compile in (see
//! [`sim::planted`]), by name, and [`Bug`], the name as it appears in plans and on the command
//! line (`--bug NAME`, `dst bugs`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sim::planted::PlantedBug;

/// Every planted bug, layer by layer from the bottom up.
pub fn catalogue() -> Vec<&'static PlantedBug> {
    let crates: [&[&PlantedBug]; 3] = [engine::planted::ALL, raft::planted::ALL, net::planted::ALL];
    crates.into_iter().flatten().copied().collect()
}

/// The bug called `name` (`_` and `-` are the same, so old plans' `ack_before_wal_sync` reads).
pub fn find(name: &str) -> Option<&'static PlantedBug> {
    let want = name.replace('_', "-");
    catalogue().into_iter().find(|b| b.name == want)
}

/// A planted bug chosen for a run.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Bug(pub &'static PlantedBug);

impl Bug {
    pub fn name(self) -> &'static str {
        self.0.name
    }
}

impl fmt::Debug for Bug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Bug({})", self.0.name)
    }
}

impl fmt::Display for Bug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.name)
    }
}

impl FromStr for Bug {
    type Err = String;
    fn from_str(s: &str) -> Result<Bug, String> {
        find(s).map(Bug).ok_or_else(|| {
            let names: Vec<&str> = catalogue().iter().map(|b| b.name).collect();
            format!("unknown bug {s:?}; known bugs (see `dst bugs`): {}", names.join(", "))
        })
    }
}

impl Serialize for Bug {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.name)
    }
}

impl<'de> Deserialize<'de> for Bug {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Bug, D::Error> {
        let name = String::deserialize(d)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_kebab_case_and_findable() {
        let all = catalogue();
        assert!(!all.is_empty());
        let mut names: Vec<&str> = all.iter().map(|b| b.name).collect();
        for n in &names {
            assert!(
                n.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{n}"
            );
            assert_eq!(find(n).map(|b| b.name), Some(*n));
        }
        names.sort();
        let before = names.len();
        names.dedup();
        assert_eq!(names.len(), before, "duplicate bug names");
        for b in &all {
            let layers =
                ["raft-core", "server", "engine", "mvcc", "wal", "snapshotter", "transport"];
            assert!(layers.contains(&b.layer), "{}: unknown layer {}", b.name, b.layer);
            assert!(!b.summary.is_empty(), "{} has no summary", b.name);
        }
    }

    #[test]
    fn plans_name_bugs_and_unknown_names_are_refused() {
        let b: Bug = "ack_before_wal_sync".parse().expect("the old spelling reads");
        assert_eq!(b.name(), "ack-before-wal-sync");
        assert_eq!(serde_json::to_string(&b).unwrap(), "\"ack-before-wal-sync\"");
        let back: Bug = serde_json::from_str("\"ack-before-wal-sync\"").unwrap();
        assert_eq!(back, b);
        let e = "no-such-bug".parse::<Bug>().unwrap_err();
        assert!(
            e.contains("unknown bug \"no-such-bug\"") && e.contains("ack-before-wal-sync"),
            "{e}"
        );
        assert!(serde_json::from_str::<Bug>("\"nope\"").is_err());
    }
}
