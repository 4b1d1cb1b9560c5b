//! One field of a hashtable-encoded hash: the field and its value share a single allocation,
//! reached through a thin pointer.
//!
//! Redis keeps a dict entry (24 bytes) pointing at two sds strings. Here the dict node holds one
//! pointer-sized `HashEntry` (the node is 16 bytes: entry and chain link) to the bytes
//!
//! ```text
//! [field length] [value length] [field bytes] [value bytes]
//!  LEB128 varints: 1 byte each below 128
//! ```
//!
//! so each field costs a 16-byte node and one allocation with two bytes of header, against
//! Redis' entry plus two sds allocations with their headers and terminators: never more memory
//! than Redis for the same data.
//!
//! The entry hashes and compares as its field alone (and borrows as `[u8]` for lookups), which
//! is what lets the dict find it by field while it carries the value.

use std::borrow::Borrow;
use std::hash::{Hash, Hasher};
use std::ptr::NonNull;

pub struct HashEntry {
    /// The first byte of a boxed `[u8]` whose length the header gives (see `total_len`).
    ptr: NonNull<u8>,
}

// SAFETY: a HashEntry uniquely owns its allocation, exactly like the Box<[u8]> it came from.
unsafe impl Send for HashEntry {}
// SAFETY: shared access only reads the bytes.
unsafe impl Sync for HashEntry {}

/// Bytes the LEB128 form of `n` takes.
fn varint_len(mut n: usize) -> usize {
    let mut len = 1;
    while n >= 0x80 {
        n >>= 7;
        len += 1;
    }
    len
}

fn push_varint(b: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        b.push((n as u8 & 0x7F) | 0x80);
        n >>= 7;
    }
    b.push(n as u8);
}

impl HashEntry {
    pub fn new(field: &[u8], value: &[u8]) -> HashEntry {
        let size = varint_len(field.len()) + varint_len(value.len()) + field.len() + value.len();
        let mut b = Vec::with_capacity(size);
        push_varint(&mut b, field.len());
        push_varint(&mut b, value.len());
        b.extend_from_slice(field);
        b.extend_from_slice(value);
        // Exact capacity: turning it into a boxed slice doesn't reallocate.
        let raw = Box::into_raw(b.into_boxed_slice()) as *mut u8;
        HashEntry {
            // SAFETY: a boxed slice of at least two bytes is never null.
            ptr: unsafe { NonNull::new_unchecked(raw) },
        }
    }

    /// Reads the varint starting `at` bytes into the allocation: (value, bytes used).
    #[inline]
    fn varint_at(&self, at: usize) -> (usize, usize) {
        let mut n = 0usize;
        let mut shift = 0;
        let mut i = at;
        loop {
            // SAFETY: `new` wrote two complete varints at the start of the allocation; the
            // reads stop at each one's last byte (high bit clear), so they stay in bounds.
            let byte = unsafe { *self.ptr.as_ptr().add(i) };
            n |= ((byte & 0x7F) as usize) << shift;
            i += 1;
            if byte & 0x80 == 0 {
                return (n, i - at);
            }
            shift += 7;
        }
    }

    /// (header bytes, field length, value length).
    #[inline]
    fn layout(&self) -> (usize, usize, usize) {
        let (flen, a) = self.varint_at(0);
        let (vlen, b) = self.varint_at(a);
        (a + b, flen, vlen)
    }

    /// The whole allocation.
    #[inline]
    fn bytes(&self) -> &[u8] {
        let (h, f, v) = self.layout();
        // SAFETY: the allocation is a boxed slice of exactly h + f + v initialised bytes,
        // owned by self and not mutated while borrowed.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), h + f + v) }
    }

    #[inline]
    pub fn field(&self) -> &[u8] {
        let (h, f, _) = self.layout();
        &self.bytes()[h..h + f]
    }

    #[inline]
    pub fn value(&self) -> &[u8] {
        let (h, f, _) = self.layout();
        &self.bytes()[h + f..]
    }

    /// Bytes allocated for field, value and header.
    pub fn alloc_len(&self) -> usize {
        self.bytes().len()
    }

    /// Replaces the value (a new allocation sized for it; the field is kept).
    pub fn set_value(&mut self, value: &[u8]) {
        let e = HashEntry::new(self.field(), value);
        *self = e;
    }
}

impl Drop for HashEntry {
    fn drop(&mut self) {
        let (h, f, v) = self.layout();
        let slice = std::ptr::slice_from_raw_parts_mut(self.ptr.as_ptr(), h + f + v);
        // SAFETY: `ptr` came from `Box::into_raw` of a boxed slice of exactly this length,
        // and is released only here, once.
        drop(unsafe { Box::from_raw(slice) });
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
            assert_eq!(e.alloc_len(), varint_len(flen) + 1 + flen + 5);
            e.set_value(b"");
            assert_eq!(e.field(), &field[..]);
            assert_eq!(e.value(), b"");
            let long = vec![b'v'; flen * 2];
            e.set_value(&long);
            assert_eq!(e.field(), &field[..]);
            assert_eq!(e.value(), &long[..]);
            assert_eq!(
                e.alloc_len(),
                varint_len(flen) + varint_len(flen * 2) + flen * 3
            );
        }
    }

    #[test]
    fn an_entry_is_one_pointer() {
        // What keeps a dict node at 16 bytes (entry + chain link).
        assert_eq!(std::mem::size_of::<HashEntry>(), 8);
        assert_eq!(std::mem::size_of::<Option<HashEntry>>(), 8);
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
