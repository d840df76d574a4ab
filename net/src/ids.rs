//! Member and cluster identifiers: 64-bit numbers shown as 16 lower-case hex digits, as etcd
//! prints them (`8e9e05c52164694d`).

use std::fmt;

/// A member's ID. Zero is never a valid member ID (raft uses it for "none").
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct MemberId(pub u64);

/// A cluster's ID, derived once from the initial members' IDs and never changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ClusterId(pub u64);

impl fmt::Display for MemberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl fmt::Display for ClusterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// First 8 bytes of `digest`, big-endian: how etcd turns a SHA-1 into an ID.
pub(crate) fn id_from_sha1(bytes: &[u8]) -> u64 {
    let digest = sha1_smol::Sha1::from(bytes).digest().bytes();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_sixteen_hex_digits() {
        assert_eq!(MemberId(0x1f).to_string(), "000000000000001f");
        assert_eq!(ClusterId(u64::MAX).to_string(), "ffffffffffffffff");
    }

    #[test]
    fn sha1_prefix_is_big_endian() {
        // SHA-1("abc") = a9993e36 4706816a ba3e2571 7850c26c 9cd0d89d (FIPS 180-1 test vector).
        assert_eq!(id_from_sha1(b"abc"), 0xa999_3e36_4706_816a);
    }
}
