//! Repair of a torn tail: the only damage the WAL fixes by itself.
//!
//! A crash can tear the last record being written (some of its sectors reached the disk, some
//! did not, or the file never grew to hold it). That record was never synced, so dropping it
//! loses nothing that was acknowledged. Repair decodes the last segment; if it ends in a torn
//! record, it copies the segment to `<segment>.broken` (for forensics), truncates the segment
//! at the torn record's offset and syncs. Any other damage (a CRC mismatch with no missing
//! sector, a bad frame, damage in an earlier segment) is returned as the error, never truncated
//! away.

use sim::io::{Disk, OpenOptions};
use sim::planted;

use super::decoder::{Decoder, SegmentBytes};
use super::error::WalError;
use super::segment::{self, join};

/// What [`repair`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Repair {
    /// The last segment ends cleanly; nothing changed.
    Clean,
    /// The torn record at `offset` of `segment` and everything after it were cut off; the
    /// segment's previous bytes were saved in `broken` (a path).
    Truncated { segment: String, offset: u64, broken: String },
}

/// Repairs a torn last record of the last segment in `dir`. See the module docs.
pub fn repair(disk: &dyn Disk, dir: &str) -> Result<Repair, WalError> {
    let names = segment::list(disk, dir)?;
    let last = names.last().ok_or(WalError::NoSegments { dir: dir.to_string() })?.to_string();
    let path = join(dir, &last);
    let file = disk.open(&path, OpenOptions::write())?;
    file.try_lock()?;
    let bytes = file.map()?;
    let mut dec = Decoder::new(vec![SegmentBytes { name: last.clone(), bytes: bytes.clone() }]);
    // Where the last valid record starts (only the planted bug below truncates there).
    let mut last_valid = 0;
    loop {
        match dec.next_record() {
            Ok(Some(d)) => last_valid = d.offset,
            Ok(None) => return Ok(Repair::Clean),
            Err(WalError::TornTail { segment, offset }) => {
                let offset = if planted::active(&crate::planted::WAL_REPAIR_DROPS_LAST_VALID) {
                    last_valid
                } else {
                    offset
                };
                let broken = format!("{path}.broken");
                let copy =
                    disk.open(&broken, OpenOptions { truncate: true, ..OpenOptions::create() })?;
                copy.write_at(0, &bytes)?;
                copy.sync()?;
                disk.sync_dir(dir)?;
                file.set_len(offset)?;
                file.sync()?;
                return Ok(Repair::Truncated { segment, offset, broken });
            }
            Err(e) => return Err(e),
        }
    }
}
