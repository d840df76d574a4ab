//! One file's bytes (an inode's data): what reads see now and what survives a crash.
//!
//! Layout and invariants:
//! - `visible`: the bytes every read and `map` sees now. Kept in an `Arc` so that `map` hands out
//!   an O(1) snapshot; the next write copies the bytes once (clone-on-write) only if a snapshot
//!   is still alive.
//! - `durable`: the bytes a crash falls back to ("on the platter").
//! - `pending`: the data operations (writes and length changes) since the last sync, in order.
//!   Applying `pending` to `durable` in order gives `visible`, except after a failed sync (EIO):
//!   then the dropped operations stay visible but are in neither `durable` nor `pending`, so the
//!   next crash loses them (fsyncgate semantics).
//! - `flips`: latent corruption: XOR masks applied to every read of their range, forever.
//!
//! Cost: a write costs O(bytes written) (plus one O(file) copy if a mapping of the previous
//! bytes is alive); a sync costs O(bytes written since the last sync); a crash costs O(file).

use std::sync::Arc;

use rand::Rng as _;

use crate::seed::{splitmix64, Rng};

/// A data operation not yet made durable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum DataOp {
    /// `write_at(offset, bytes)`.
    Write { offset: u64, bytes: Vec<u8> },
    /// `set_len` / `allocate` / truncate-on-open: the length became this.
    SetLen(u64),
}

/// Latent corruption of `len` bytes from `offset`: reads see each byte with one bit flipped,
/// the bit chosen by hashing `(seed, position)`, so a range of any size costs no memory.
#[derive(Clone, Debug)]
struct Flip {
    offset: u64,
    len: u64,
    seed: u64,
}

impl Flip {
    /// The XOR mask of the byte at file position `pos` (inside the range).
    fn mask(&self, pos: u64) -> u8 {
        let mut state = self.seed ^ pos;
        1u8 << (splitmix64(&mut state) % 8)
    }
}

/// The data of one inode. See the module documentation for the invariants.
#[derive(Debug, Default)]
pub(crate) struct Image {
    visible: Arc<Vec<u8>>,
    durable: Vec<u8>,
    pending: Vec<DataOp>,
    flips: Vec<Flip>,
    /// `visible` with `flips` applied, rebuilt lazily by `snapshot` when flips exist.
    flipped: Option<Arc<Vec<u8>>>,
    /// Byte buffers of synced writes, reused by later writes so that the common write + sync
    /// cycle allocates nothing (at most [`SPARE_BUFFERS`] of at most [`SPARE_BYTES`] each).
    spare: Vec<Vec<u8>>,
}

const SPARE_BUFFERS: usize = 4;
const SPARE_BYTES: usize = 64 * 1024;

/// `usize` index of a file offset. Files live in memory, so an offset beyond `usize` could never
/// be backed anyway; callers bound lengths by the capacity check first.
fn index(offset: u64) -> usize {
    usize::try_from(offset).unwrap_or_else(|_| panic!("file offset {offset} exceeds usize"))
}

/// Writes `bytes` at `offset` into `buf`, zero-filling any gap past its end.
fn apply_write(buf: &mut Vec<u8>, offset: u64, bytes: &[u8]) {
    let start = index(offset);
    let end = start + bytes.len();
    if buf.len() < end {
        buf.resize(end, 0);
    }
    buf[start..end].copy_from_slice(bytes);
}

fn apply(buf: &mut Vec<u8>, op: &DataOp) {
    match op {
        DataOp::Write { offset, bytes } => apply_write(buf, *offset, bytes),
        DataOp::SetLen(len) => buf.resize(index(*len), 0),
    }
}

impl Image {
    pub(crate) fn len(&self) -> u64 {
        self.visible.len() as u64
    }

    /// The bytes a crash falls back to (no latent corruption: that is a read fault).
    pub(crate) fn durable(&self) -> &[u8] {
        &self.durable
    }

    /// Copies visible bytes (with latent corruption) at `offset` into `buf`; returns the count.
    pub(crate) fn read(&self, offset: u64, buf: &mut [u8]) -> usize {
        let len = self.len();
        if offset >= len {
            return 0;
        }
        let n = (len - offset).min(buf.len() as u64) as usize;
        let start = index(offset);
        buf[..n].copy_from_slice(&self.visible[start..start + n]);
        for flip in &self.flips {
            xor_overlap(&mut buf[..n], offset, flip);
        }
        n
    }

    pub(crate) fn write(&mut self, offset: u64, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        apply_write(Arc::make_mut(&mut self.visible), offset, bytes);
        let mut buf = self.spare.pop().unwrap_or_default();
        buf.clear();
        buf.extend_from_slice(bytes);
        self.pending.push(DataOp::Write { offset, bytes: buf });
        self.flipped = None;
    }

    pub(crate) fn set_len(&mut self, len: u64) {
        if len == self.len() {
            return;
        }
        Arc::make_mut(&mut self.visible).resize(index(len), 0);
        self.pending.push(DataOp::SetLen(len));
        self.flipped = None;
    }

    /// Successful fdatasync: every pending operation becomes durable.
    pub(crate) fn sync(&mut self) {
        for op in self.pending.drain(..) {
            apply(&mut self.durable, &op);
            if let DataOp::Write { bytes, .. } = op {
                if self.spare.len() < SPARE_BUFFERS && bytes.capacity() <= SPARE_BYTES {
                    self.spare.push(bytes);
                }
            }
        }
    }

    /// Failed fdatasync (EIO): the pending operations will never reach the platter. They stay
    /// visible until the next crash, which falls back to `durable` without them.
    pub(crate) fn drop_pending(&mut self) {
        self.pending.clear();
    }

    /// Whether some data operation has not been made durable yet.
    pub(crate) fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Power loss: each pending write is independently kept, dropped or torn (a random subset of
    /// the `sector`-aligned sectors it touches reaches the platter, each sector all-or-nothing);
    /// each pending length change is independently kept or dropped. Kept parts apply in their
    /// original order. Afterwards `visible == durable` and nothing is pending.
    pub(crate) fn crash(&mut self, rng: &mut Rng, sector: u64) {
        for op in std::mem::take(&mut self.pending) {
            match op {
                DataOp::SetLen(_) => {
                    if rng.random_bool(0.5) {
                        apply(&mut self.durable, &op);
                    }
                }
                // One third each: kept, dropped, torn.
                DataOp::Write { offset, bytes } => match rng.random_range(0..3u8) {
                    0 => apply_write(&mut self.durable, offset, &bytes),
                    1 => {}
                    _ => self.tear(rng, sector, offset, &bytes),
                },
            }
        }
        self.visible = Arc::new(self.durable.clone());
        self.flipped = None;
    }

    /// Applies each sector-sized piece of a write to `durable` with probability 1/2.
    fn tear(&mut self, rng: &mut Rng, sector: u64, offset: u64, bytes: &[u8]) {
        let end = offset + bytes.len() as u64;
        let mut piece_start = offset;
        while piece_start < end {
            let piece_end = ((piece_start / sector + 1) * sector).min(end);
            if rng.random_bool(0.5) {
                let from = (piece_start - offset) as usize;
                let to = (piece_end - offset) as usize;
                apply_write(&mut self.durable, piece_start, &bytes[from..to]);
            }
            piece_start = piece_end;
        }
    }

    /// Registers latent corruption of `[offset, offset + len)`: one seeded bit per byte.
    pub(crate) fn add_flip(&mut self, rng: &mut Rng, offset: u64, len: u64) {
        let len = len.min(u64::MAX - offset);
        self.flips.push(Flip { offset, len, seed: rng.random() });
        self.flipped = None;
    }

    /// The visible bytes as a shared snapshot: O(1) unless latent corruption must be applied
    /// (then O(file) once per change, cached).
    pub(crate) fn snapshot(&mut self) -> Arc<Vec<u8>> {
        if self.flips.is_empty() {
            return Arc::clone(&self.visible);
        }
        if let Some(cached) = &self.flipped {
            return Arc::clone(cached);
        }
        let mut bytes = self.visible.as_ref().clone();
        for flip in &self.flips {
            xor_overlap(&mut bytes, 0, flip);
        }
        let shared = Arc::new(bytes);
        self.flipped = Some(Arc::clone(&shared));
        shared
    }
}

/// XORs the part of `flip` that overlaps `buf` (which holds file bytes from `buf_offset`).
fn xor_overlap(buf: &mut [u8], buf_offset: u64, flip: &Flip) {
    let start = flip.offset.max(buf_offset);
    let end = (flip.offset + flip.len).min(buf_offset + buf.len() as u64);
    for pos in start..end {
        buf[(pos - buf_offset) as usize] ^= flip.mask(pos);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::Seed;

    #[test]
    fn sync_promotes_and_crash_without_pending_keeps_everything() {
        let mut img = Image::default();
        img.write(0, b"hello");
        img.set_len(8);
        img.sync();
        assert!(!img.has_pending());
        img.crash(&mut Seed(1).stream("t"), 512);
        let mut buf = [0xffu8; 8];
        assert_eq!(img.read(0, &mut buf), 8);
        assert_eq!(&buf, b"hello\0\0\0");
    }

    #[test]
    fn dropped_pending_is_visible_until_crash() {
        let mut img = Image::default();
        img.write(0, b"old");
        img.sync();
        img.write(0, b"new");
        img.drop_pending();
        let mut buf = [0u8; 3];
        img.read(0, &mut buf);
        assert_eq!(&buf, b"new");
        img.crash(&mut Seed(1).stream("t"), 512);
        img.read(0, &mut buf);
        assert_eq!(&buf, b"old");
    }

    #[test]
    fn flips_change_reads_but_not_the_data() {
        let mut img = Image::default();
        img.write(0, &[0u8; 16]);
        img.add_flip(&mut Seed(3).stream("t"), 4, 4);
        let mut buf = [0u8; 16];
        img.read(0, &mut buf);
        for (i, b) in buf.iter().enumerate() {
            assert_eq!(b.count_ones(), u32::from((4..8).contains(&i)), "byte {i}: {b:#x}");
        }
        assert_eq!(&img.snapshot()[..], &buf[..]);
    }
}
