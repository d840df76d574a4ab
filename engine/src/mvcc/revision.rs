//! Revisions and their on-disk key encoding.
//!
//! A revision is `(main, sub)`: `main` counts write transactions (each put, delete-range or txn
//! with writes bumps it once), `sub` counts changes inside one transaction.
//!
//! On-disk key in the `key` bucket (etcd's layout, so etcd tools read it):
//!
//! ```text
//! offset  size  field
//! 0       8     main, big-endian
//! 8       1     '_'
//! 9       8     sub, big-endian
//! 17      1     't' if this record is a tombstone (optional)
//! ```
//!
//! Big-endian makes the bucket's byte order equal revision order.

use std::fmt;

use super::error::MvccError;

/// Length of an encoded revision.
pub const REV_BYTES: usize = 17;
/// Length of an encoded revision carrying the tombstone mark.
pub const MARKED_REV_BYTES: usize = 18;
/// The tombstone mark.
pub const TOMBSTONE_MARK: u8 = b't';

/// A store revision. Ordered by `main`, then `sub`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Revision {
    pub main: i64,
    pub sub: i64,
}

impl Revision {
    pub fn new(main: i64, sub: i64) -> Revision {
        Revision { main, sub }
    }

    /// The 17-byte key (18 with the tombstone mark).
    pub fn to_bytes(self, tombstone: bool) -> Vec<u8> {
        let mut b = Vec::with_capacity(MARKED_REV_BYTES);
        b.extend_from_slice(&self.main.to_be_bytes());
        b.push(b'_');
        b.extend_from_slice(&self.sub.to_be_bytes());
        if tombstone {
            b.push(TOMBSTONE_MARK);
        }
        b
    }

    /// Decodes a bucket key; returns the revision and whether it is a tombstone.
    pub fn from_bytes(b: &[u8]) -> Result<(Revision, bool), MvccError> {
        let bad = |detail: String| MvccError::CorruptRevision { key: b.to_vec(), detail };
        let tombstone = match b.len() {
            REV_BYTES => false,
            MARKED_REV_BYTES if b[17] == TOMBSTONE_MARK => true,
            MARKED_REV_BYTES => return Err(bad(format!("unknown mark byte {:#04x}", b[17]))),
            n => return Err(bad(format!("length {n}, want {REV_BYTES} or {MARKED_REV_BYTES}"))),
        };
        if b[8] != b'_' {
            return Err(bad(format!("separator byte is {:#04x}, want '_'", b[8])));
        }
        let main = i64::from_be_bytes(b[0..8].try_into().expect("8 bytes"));
        let sub = i64::from_be_bytes(b[9..17].try_into().expect("8 bytes"));
        if main < 0 || sub < 0 {
            return Err(bad(format!("negative revision {main}/{sub}")));
        }
        if main == i64::MAX {
            return Err(bad("main revision i64::MAX leaves no room for a next one".into()));
        }
        Ok((Revision { main, sub }, tombstone))
    }
}

impl fmt::Display for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.main, self.sub)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_order() {
        let a = Revision::new(5, 2);
        let (d, t) = Revision::from_bytes(&a.to_bytes(true)).unwrap();
        assert_eq!((d, t), (a, true));
        assert!(Revision::new(5, 2).to_bytes(false) < Revision::new(5, 10).to_bytes(false));
        assert!(Revision::new(5, 99).to_bytes(false) < Revision::new(256, 0).to_bytes(false));
    }

    #[test]
    fn garbage_is_a_typed_error() {
        for bad in [&b"short"[..], &[0u8; 17][..8], &[1u8; 18][..], &[0u8; 17][..]] {
            assert!(matches!(Revision::from_bytes(bad), Err(MvccError::CorruptRevision { .. })));
        }
    }
}
