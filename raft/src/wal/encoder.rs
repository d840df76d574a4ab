//! The encoder: frames records into a buffer with the running CRC and writes the buffer to the
//! tail segment in one `write_at` (in two when BUGGIFY's split write is armed: the sectors up to
//! a sector boundary, then the rest, as a write loop over a short `pwrite` does).
//!
//! Invariant: `file_offset` is where the buffer starts in the file, so `end()` (the offset after
//! the last encoded record) is where the next record goes, and every offset is 8-byte aligned.

use sim::io::{DiskError, File};

use super::decoder::SECTOR;
use super::record::{chain_crc, encode_frame, RecordType};

/// Buffers above this size are written out by [`Encoder::encode`] before growing further.
const FLUSH_THRESHOLD: usize = 1 << 20;

/// Frames records for one segment file.
#[derive(Debug)]
pub struct Encoder {
    file_offset: u64,
    crc: u32,
    buf: Vec<u8>,
    /// The next flush writes its buffer in two `write_at` calls ([`Encoder::split_next_flush`]).
    split_next: bool,
}

impl Encoder {
    /// An encoder appending at `offset` whose running CRC continues from `prev_crc`.
    pub fn new(offset: u64, prev_crc: u32) -> Encoder {
        assert!(offset.is_multiple_of(8), "encoder offset {offset} is not 8-byte aligned");
        Encoder { file_offset: offset, crc: prev_crc, buf: Vec::new(), split_next: false }
    }

    /// The running CRC after the last encoded record.
    pub fn crc(&self) -> u32 {
        self.crc
    }

    /// The file offset after the last encoded record (flushed or not).
    pub fn end(&self) -> u64 {
        self.file_offset + self.buf.len() as u64
    }

    /// Encodes one non-crc record, continuing the running CRC. Writes the buffer out first if
    /// it has grown past the flush threshold.
    pub fn encode(
        &mut self,
        file: &dyn File,
        kind: RecordType,
        data: &[u8],
    ) -> Result<(), DiskError> {
        assert!(kind != RecordType::Crc, "crc records are written by encode_crc");
        if self.buf.len() >= FLUSH_THRESHOLD {
            self.flush(file)?;
        }
        self.crc = chain_crc(self.crc, kind, data);
        encode_frame(&mut self.buf, kind, self.crc, data);
        Ok(())
    }

    /// Encodes a crc record carrying the running CRC (it does not change the CRC).
    pub fn encode_crc(&mut self) {
        encode_frame(&mut self.buf, RecordType::Crc, self.crc, &[]);
    }

    /// Makes the next flush write its buffer in two `write_at` calls, split at the sector
    /// boundary nearest the middle (not at a record boundary): a crash between them leaves a
    /// torn record. A buffer inside one sector is written whole: the disk writes a sector
    /// atomically, and the torn-tail check relies on it ([`super::decoder`]).
    pub fn split_next_flush(&mut self) {
        self.split_next = true;
    }

    /// Where in the buffer a split flush cuts: a [`SECTOR`]-aligned file offset strictly inside
    /// the buffer, the one at or below its middle if there is one.
    fn split_point(&self) -> Option<usize> {
        let (start, end) = (self.file_offset, self.end());
        let mid = (start + (end - start) / 2) / SECTOR * SECTOR;
        let at = if mid > start { mid } else { (start / SECTOR + 1) * SECTOR };
        (at < end).then(|| (at - start) as usize)
    }

    /// Writes the buffered records to `file`.
    pub fn flush(&mut self, file: &dyn File) -> Result<(), DiskError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let split = std::mem::take(&mut self.split_next).then(|| self.split_point()).flatten();
        if let Some(half) = split {
            file.write_at(self.file_offset, &self.buf[..half])?;
            file.write_at(self.file_offset + half as u64, &self.buf[half..])?;
        } else {
            file.write_at(self.file_offset, &self.buf)?;
        }
        self.file_offset += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use sim::io::{Disk, OpenOptions};
    use sim::simulated::disk::{DiskConfig, SimDisk};
    use sim::Seed;

    use super::*;

    /// Writes three 300-byte records from `offset`, split or not; returns the file's bytes from
    /// `offset` and the disk operations the flush took.
    fn write(offset: u64, split: bool) -> (Vec<u8>, u64) {
        let disk = SimDisk::new(Seed(1).stream("disk"), DiskConfig::default());
        let f = disk.open("seg", OpenOptions::create()).unwrap();
        let mut e = Encoder::new(offset, 7);
        for b in 0..3u8 {
            e.encode(&*f, RecordType::Entry, &[b; 300]).unwrap();
        }
        if split {
            e.split_next_flush();
        }
        let before = disk.ops();
        e.flush(&*f).unwrap();
        let ops = disk.ops() - before;
        let mut bytes = vec![0; (e.end() - offset) as usize];
        f.read_exact_at(offset, &mut bytes).unwrap();
        (bytes, ops)
    }

    #[test]
    fn a_split_flush_writes_the_same_bytes_in_two_sector_aligned_writes() {
        for offset in [0, 8, 504, 1024] {
            let (whole, one) = write(offset, false);
            let (split, two) = write(offset, true);
            assert_eq!(split, whole, "offset {offset}");
            assert_eq!(two, one + 1, "offset {offset}: one more write");
        }
        let mut e = Encoder::new(512, 0);
        e.buf = vec![1; 100];
        assert_eq!(e.split_point(), None, "inside one sector: written whole");
        e.buf = vec![1; 1000];
        assert_eq!(e.split_point(), Some(512), "at the sector boundary 1024");
        let mut e = Encoder::new(8, 0);
        e.buf = vec![1; 600];
        assert_eq!(e.split_point(), Some(504), "the only boundary, 512");
    }
}
