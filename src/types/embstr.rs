//! `EmbStr`: an immutable short byte string behind a thin (one-word) pointer.
//!
//! ```text
//!   EmbStr ──► [ len: u8 | byte 0 | byte 1 | ... | byte len-1 ]    one allocation, len <= 255
//! ```
//!
//! Every key of the keyspace holds an `Obj`, and the size of `Value` decides the size of each
//! dict node. A `Box<[u8]>` is two words (pointer + length); storing the length in the
//! allocation instead keeps `RStr` and `Value` at two words, so a node of a short string key
//! fits jemalloc's 48-byte class — the same footprint as Redis' dictEntry + robj with an
//! embedded sds. The length byte costs nothing in practice: the allocation rounds up anyway.

use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::ptr::NonNull;

pub struct EmbStr {
    /// Points at the length byte; the bytes follow it.
    ptr: NonNull<u8>,
}

// SAFETY: an EmbStr exclusively owns its allocation and exposes it only as `&[u8]`, like
// `Box<[u8]>`, which is Send and Sync.
unsafe impl Send for EmbStr {}
// SAFETY: see above; there is no interior mutability.
unsafe impl Sync for EmbStr {}

impl EmbStr {
    /// The longest string an `EmbStr` can hold.
    pub const MAX_LEN: usize = u8::MAX as usize;

    fn layout(len: usize) -> Layout {
        // A length byte plus the bytes; alignment 1, so this never fails for len <= 255.
        Layout::from_size_align(1 + len, 1).expect("small layout")
    }

    /// Copies `bytes` (at most `MAX_LEN` of them) into a new allocation.
    pub fn new(bytes: &[u8]) -> EmbStr {
        assert!(
            bytes.len() <= Self::MAX_LEN,
            "EmbStr holds at most 255 bytes"
        );
        let layout = Self::layout(bytes.len());
        // SAFETY: the layout has a non-zero size (the length byte).
        let raw = unsafe { alloc(layout) };
        let Some(ptr) = NonNull::new(raw) else {
            handle_alloc_error(layout)
        };
        // SAFETY: the allocation is 1 + len bytes long: the length byte at offset 0 and the
        // copied bytes after it stay inside it, and `bytes` can't overlap fresh memory.
        unsafe {
            ptr.as_ptr().write(bytes.len() as u8);
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), ptr.as_ptr().add(1), bytes.len());
        }
        EmbStr { ptr }
    }

    #[inline]
    pub fn len(&self) -> usize {
        // SAFETY: the length byte is initialised by `new` and never changes.
        unsafe { *self.ptr.as_ptr() as usize }
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        // SAFETY: `len` initialised bytes follow the length byte, and they live as long as
        // `self`, which the returned borrow is tied to.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().add(1), self.len()) }
    }
}

impl Drop for EmbStr {
    fn drop(&mut self) {
        // SAFETY: the pointer came from `alloc` with exactly this layout (its length byte is
        // unchanged since), and it is freed once, here.
        unsafe { dealloc(self.ptr.as_ptr(), Self::layout(self.len())) }
    }
}

impl std::ops::Deref for EmbStr {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl Clone for EmbStr {
    fn clone(&self) -> Self {
        EmbStr::new(self.as_bytes())
    }
}

impl PartialEq for EmbStr {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for EmbStr {}

impl std::fmt::Debug for EmbStr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EmbStr({:?})", String::from_utf8_lossy(self.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_bytes_of_every_length() {
        for len in 0..=EmbStr::MAX_LEN {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let s = EmbStr::new(&bytes);
            assert_eq!(s.len(), len);
            assert_eq!(&*s, &bytes[..]);
            assert_eq!(s.clone(), s);
        }
    }

    #[test]
    fn is_one_word() {
        assert_eq!(std::mem::size_of::<EmbStr>(), 8);
        assert_eq!(std::mem::size_of::<Option<EmbStr>>(), 8);
    }
}
