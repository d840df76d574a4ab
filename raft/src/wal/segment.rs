//! Segment files: naming, listing and selection.
//!
//! A segment is named `%016x-%016x.wal` after its sequence number (0 for the first, +1 for each
//! cut) and the index of the first entry it was cut for (the last saved entry's index + 1).
//! Fixed-width hex makes the bytewise order of names the order of sequence numbers.

use std::fmt;

use sim::io::{Disk, DiskError};

use super::error::WalError;

/// The file-name suffix of a segment.
pub const SUFFIX: &str = ".wal";

/// A segment's identity, parsed from or formatted as its file name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct SegmentName {
    pub seq: u64,
    pub index: u64,
}

impl SegmentName {
    /// Parses `%016x-%016x.wal`; anything else is `None`.
    pub fn parse(name: &str) -> Option<SegmentName> {
        let stem = name.strip_suffix(SUFFIX)?;
        let (seq, index) = stem.split_once('-')?;
        let hex = |s: &str| {
            (s.len() == 16 && s.bytes().all(|b| b.is_ascii_hexdigit()))
                .then(|| u64::from_str_radix(s, 16).ok())
                .flatten()
        };
        Some(SegmentName { seq: hex(seq)?, index: hex(index)? })
    }
}

impl fmt::Display for SegmentName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}-{:016x}{SUFFIX}", self.seq, self.index)
    }
}

/// `dir/name`, or `name` when `dir` is the disk root.
pub fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

/// The directory holding `path` (`""` for the root).
pub fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(d, _)| d)
}

/// The segments in `dir`, in sequence order. Other files (tmp files, `.broken` copies) are
/// ignored, as are names that end in `.wal` but do not parse.
pub fn list(disk: &dyn Disk, dir: &str) -> Result<Vec<SegmentName>, WalError> {
    let entries = match disk.list(dir) {
        Ok(entries) => entries,
        Err(DiskError::NotFound { .. }) => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let mut names: Vec<SegmentName> =
        entries.iter().filter_map(|n| SegmentName::parse(n)).collect();
    names.sort();
    Ok(names)
}

/// The position of the last segment whose first index is at most `index`: the segment that
/// holds the records right after a snapshot at `index`.
pub fn search_index(names: &[SegmentName], index: u64) -> Option<usize> {
    names.iter().rposition(|n| n.index <= index)
}

/// Checks that sequence numbers increase by exactly one along `names`.
pub fn check_sequence(dir: &str, names: &[SegmentName]) -> Result<(), WalError> {
    for pair in names.windows(2) {
        if pair[0].seq.checked_add(1) != Some(pair[1].seq) {
            return Err(WalError::SequenceGap {
                dir: dir.to_string(),
                after: pair[0].to_string(),
                found: pair[1].to_string(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_garbage_is_refused() {
        let n = SegmentName { seq: 0x1f, index: 0xdead_beef };
        assert_eq!(n.to_string(), "000000000000001f-00000000deadbeef.wal");
        assert_eq!(SegmentName::parse(&n.to_string()), Some(n));
        for bad in [
            "0.tmp",
            "000000000000001f-00000000deadbeef.wal.broken",
            "1f-00000000deadbeef.wal",
            "000000000000001g-00000000deadbeef.wal",
            "000000000000001f_00000000deadbeef.wal",
            "+00000000000001f-00000000deadbeef.wal",
        ] {
            assert_eq!(SegmentName::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn search_index_picks_the_last_segment_at_or_below() {
        let names: Vec<_> = [0, 5, 9]
            .iter()
            .enumerate()
            .map(|(s, &i)| SegmentName { seq: s as u64, index: i })
            .collect();
        assert_eq!(search_index(&names, 0), Some(0));
        assert_eq!(search_index(&names, 4), Some(0));
        assert_eq!(search_index(&names, 5), Some(1));
        assert_eq!(search_index(&names, 100), Some(2));
        assert_eq!(search_index(&names[1..], 2), None);
    }

    #[test]
    fn sequence_gaps_are_named() {
        let a = SegmentName { seq: 1, index: 0 };
        let c = SegmentName { seq: 3, index: 9 };
        let err = check_sequence("wal", &[a, c]).unwrap_err();
        assert_eq!(
            err,
            WalError::SequenceGap { dir: "wal".into(), after: a.to_string(), found: c.to_string() }
        );
    }
}
