//! What opening read and chose: the raw bytes of both meta slots and the meta the database
//! opened at, so that a testbed can parse the slots itself and check the choice — the valid
//! meta with the highest txid, unless its commit record did not hold (see `record`), in which
//! case its predecessor.
//!
//! Kept by every open (two small buffers), handed out once by
//! [`Db::take_open_report`](crate::Db::take_open_report).

use std::fmt;

/// One meta slot as opening read it.
#[derive(Clone, PartialEq, Eq)]
pub struct SlotBytes {
    /// File offset the slot was read at (slot 1 sits one page after slot 0; when slot 0 is
    /// invalid its page size is unknown and this is where a valid slot 1 was found, or the
    /// first place tried).
    pub offset: u64,
    /// The bytes read there: the page header, the meta and the commit record (fewer when the
    /// file ends sooner; empty when it ends before the slot).
    pub bytes: Vec<u8>,
}

impl fmt::Debug for SlotBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SlotBytes(at {}, {} bytes)", self.offset, self.bytes.len())
    }
}

/// What an open read and chose.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenReport {
    /// Meta slot 0 and meta slot 1.
    pub slots: [SlotBytes; 2],
    /// Txid of the meta the database opened at.
    pub chosen_txid: u64,
    /// Whether the newest valid meta was passed over because its commit record did not hold
    /// (the commit it names did not fully reach the disk).
    pub rejected_newest: bool,
}
