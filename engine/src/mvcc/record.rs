//! Key-value records: the values of the `key` bucket.
//!
//! etcd stores a protobuf `mvccpb.KeyValue` here; we store the same fields in a fixed, versioned
//! layout (all integers big-endian):
//!
//! ```text
//! offset  size  field
//! 0       1     format version (1)
//! 1       4     key length K
//! 5       K     key
//! 5+K     8     create_revision (main)
//! 13+K    8     mod_revision (main)
//! 21+K    8     version (number of puts in the key's current generation)
//! 29+K    8     lease
//! 37+K    4     value length V
//! 41+K    V     value
//! ```
//!
//! A tombstone record carries only the key and its mod revision; the other fields are zero.

use super::error::MvccError;
use super::revision::Revision;

const FORMAT_VERSION: u8 = 1;
const FIXED: usize = 1 + 4 + 8 * 4 + 4;

/// One version of one key, as a range returns it.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct KeyValue {
    pub key: Vec<u8>,
    /// Main revision of the put that created the key's current generation.
    pub create_revision: i64,
    /// Main revision of the change that produced this version.
    pub mod_revision: i64,
    /// Puts since the key was (re)created: 1 for the first.
    pub version: i64,
    pub lease: i64,
    pub value: Vec<u8>,
}

impl KeyValue {
    /// Encodes in the layout above.
    pub fn encode(&self) -> Vec<u8> {
        let key_len = u32::try_from(self.key.len()).expect("key length checked at the API");
        let val_len = u32::try_from(self.value.len()).expect("value length checked at the API");
        let mut b = Vec::with_capacity(FIXED + self.key.len() + self.value.len());
        b.push(FORMAT_VERSION);
        b.extend_from_slice(&key_len.to_be_bytes());
        b.extend_from_slice(&self.key);
        for n in [self.create_revision, self.mod_revision, self.version, self.lease] {
            b.extend_from_slice(&n.to_be_bytes());
        }
        b.extend_from_slice(&val_len.to_be_bytes());
        b.extend_from_slice(&self.value);
        b
    }

    /// Decodes a record stored at `rev`; every malformation is a `CorruptRecord` naming it.
    pub fn decode(rev: Revision, b: &[u8]) -> Result<KeyValue, MvccError> {
        let mut r = Reader { b, at: 0, rev };
        let version = r.take(1, "format version")?[0];
        if version != FORMAT_VERSION {
            return Err(r.err(format!("unknown format version {version}")));
        }
        let key_len = r.u32("key length")? as usize;
        let key = r.take(key_len, "key")?.to_vec();
        let create_revision = r.i64("create_revision")?;
        let mod_revision = r.i64("mod_revision")?;
        let version = r.i64("version")?;
        let lease = r.i64("lease")?;
        let val_len = r.u32("value length")? as usize;
        let value = r.take(val_len, "value")?.to_vec();
        if r.at != b.len() {
            return Err(r.err(format!("{} trailing bytes", b.len() - r.at)));
        }
        if mod_revision != rev.main {
            return Err(r.err(format!("mod_revision {mod_revision} != key revision {}", rev.main)));
        }
        Ok(KeyValue { key, create_revision, mod_revision, version, lease, value })
    }
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
    rev: Revision,
}

impl<'a> Reader<'a> {
    fn err(&self, detail: String) -> MvccError {
        MvccError::CorruptRecord { revision: self.rev.to_string(), detail }
    }
    fn take(&mut self, n: usize, field: &str) -> Result<&'a [u8], MvccError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.b.len()).ok_or_else(|| {
            self.err(format!(
                "truncated {field} at offset {}: need {n} bytes, {} left",
                self.at,
                self.b.len() - self.at
            ))
        })?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u32(&mut self, field: &str) -> Result<u32, MvccError> {
        Ok(u32::from_be_bytes(self.take(4, field)?.try_into().expect("4 bytes")))
    }
    fn i64(&mut self, field: &str) -> Result<i64, MvccError> {
        Ok(i64::from_be_bytes(self.take(8, field)?.try_into().expect("8 bytes")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn kv() -> KeyValue {
        KeyValue {
            key: b"foo".to_vec(),
            create_revision: 2,
            mod_revision: 7,
            version: 3,
            lease: 0,
            value: b"bar".to_vec(),
        }
    }

    #[test]
    fn round_trip() {
        let k = kv();
        assert_eq!(KeyValue::decode(Revision::new(7, 0), &k.encode()).unwrap(), k);
    }

    #[test]
    fn errors_name_the_field() {
        let b = kv().encode();
        let e = KeyValue::decode(Revision::new(7, 0), &b[..6]).unwrap_err();
        assert!(e.to_string().contains("truncated key"), "{e}");
        let e = KeyValue::decode(Revision::new(8, 0), &b).unwrap_err();
        assert!(e.to_string().contains("mod_revision 7"), "{e}");
    }

    proptest! {
        #[test]
        fn garbage_never_panics(b in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = KeyValue::decode(Revision::new(1, 0), &b);
        }
    }
}
