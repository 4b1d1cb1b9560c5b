//! One field of a hashtable-encoded hash: the field and its value share a single allocation.
//!
//! Redis keeps a dict entry (24 bytes) pointing at two sds strings. Here the dict node holds a
//! boxed slice (the node is then 24 bytes too) whose bytes are
//!
//! ```text
//! [field length, LEB128: 1 byte below 128] [field bytes] [value bytes]
//! ```
//!
//! so each field costs one allocation instead of two, with one byte of header instead of two sds
//! headers and terminators: never more memory than Redis for the same data.
//!
//! The entry hashes and compares as its field alone (and borrows as `[u8]` for lookups), which
//! is what lets the dict find it by field while it carries the value.

use std::borrow::Borrow;
use std::hash::{Hash, Hasher};

pub struct HashEntry(Box<[u8]>);

/// Bytes the LEB128 form of `n` takes.
fn varint_len(mut n: usize) -> usize {
    let mut len = 1;
    while n >= 0x80 {
        n >>= 7;
        len += 1;
    }
    len
}

impl HashEntry {
    pub fn new(field: &[u8], value: &[u8]) -> HashEntry {
        let mut b = Vec::with_capacity(varint_len(field.len()) + field.len() + value.len());
        let mut n = field.len();
        while n >= 0x80 {
            b.push((n as u8 & 0x7F) | 0x80);
            n >>= 7;
        }
        b.push(n as u8);
        b.extend_from_slice(field);
        b.extend_from_slice(value);
        // Exact capacity: turning it into a boxed slice doesn't reallocate.
        HashEntry(b.into_boxed_slice())
    }

    /// Where the field starts and how long it is.
    #[inline]
    fn field_span(&self) -> (usize, usize) {
        let b = &self.0;
        let mut len = 0usize;
        let mut shift = 0;
        let mut i = 0;
        loop {
            let byte = b[i];
            len |= ((byte & 0x7F) as usize) << shift;
            i += 1;
            if byte & 0x80 == 0 {
                return (i, len);
            }
            shift += 7;
        }
    }

    #[inline]
    pub fn field(&self) -> &[u8] {
        let (start, len) = self.field_span();
        &self.0[start..start + len]
    }

    #[inline]
    pub fn value(&self) -> &[u8] {
        let (start, len) = self.field_span();
        &self.0[start + len..]
    }

    /// Replaces the value (a new allocation sized for it; the field is kept).
    pub fn set_value(&mut self, value: &[u8]) {
        let e = HashEntry::new(self.field(), value);
        *self = e;
    }
}

impl Hash for HashEntry {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Exactly as the field's `[u8]` hashes, as `Borrow<[u8]>` requires.
        self.field().hash(state)
    }
}

impl PartialEq for HashEntry {
    fn eq(&self, other: &Self) -> bool {
        self.field() == other.field()
    }
}

impl Eq for HashEntry {}

impl Borrow<[u8]> for HashEntry {
    fn borrow(&self) -> &[u8] {
        self.field()
    }
}

impl std::fmt::Debug for HashEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:?} => {:?}",
            String::from_utf8_lossy(self.field()),
            String::from_utf8_lossy(self.value())
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_and_value_round_trip_across_header_sizes() {
        for flen in [0usize, 1, 127, 128, 300, 16383, 16384, 70000] {
            let field = vec![b'f'; flen];
            let mut e = HashEntry::new(&field, b"value");
            assert_eq!(e.field(), &field[..]);
            assert_eq!(e.value(), b"value");
            assert_eq!(e.0.len(), varint_len(flen) + flen + 5);
            e.set_value(b"");
            assert_eq!(e.field(), &field[..]);
            assert_eq!(e.value(), b"");
        }
    }

    #[test]
    fn found_by_field_alone() {
        let mut d: crate::db::Dict<HashEntry, ()> = crate::db::Dict::new();
        d.insert_new(HashEntry::new(b"a", b"1"), ());
        d.insert_new(HashEntry::new(b"b", b"2"), ());
        assert_eq!(d.get_key_value(&b"a"[..]).unwrap().0.value(), b"1");
        d.get_key_mut(&b"b"[..]).unwrap().set_value(b"22");
        assert_eq!(d.get_key_value(&b"b"[..]).unwrap().0.value(), b"22");
        assert!(d.get_key_value(&b"c"[..]).is_none());
    }
}
