//! `RawStr`: a growable byte string behind a thin (one-word) pointer, with its length and
//! capacity stored in front of the bytes — the role Redis' sds plays for `raw` strings.
//!
//! ```text
//!   narrow (capacity < 2^31):
//!     RawStr ──► [ len: u32 | cap: u32 | byte 0 ... byte len-1 | spare ... ]
//!   wide (anything bigger):
//!     RawStr ──► [ 0xFFFFFFFF | 0: u32 | len: u64 | cap: u64 | byte 0 ... | spare ... ]
//! ```
//!
//! Why not `Box<Vec<u8>>`: that is a 32-byte allocation holding the (pointer, capacity,
//! length) triple on top of the bytes, which made a 100-byte value cost 17% more than in
//! Redis, where a raw string is a 16-byte robj plus an sds with a 3-byte header. Here the
//! keyspace node already plays the robj's part and the 8-byte header plays the sds', so a
//! value costs what it costs in Redis. The wide form exists only so that strings larger than
//! 2 GB (`proto-max-bulk-len` allows them) still work; a narrow header can never start with
//! `0xFFFFFFFF` because its length is below 2^31.
//!
//! Growth doubles the capacity up to 1 MB and then adds 1 MB at a time, like `sdsMakeRoomFor`,
//! so APPEND loops stay amortised O(1) without doubling huge strings.

use std::alloc::{alloc, dealloc, handle_alloc_error, realloc, Layout};
use std::ptr::NonNull;

const NARROW_HEADER: usize = 8;
const WIDE_HEADER: usize = 24;
const WIDE_MARK: u32 = u32::MAX;
/// Largest capacity a narrow header holds (small in tests, so that they cross into the wide
/// form without allocating gigabytes).
#[cfg(not(test))]
const NARROW_MAX: usize = (1 << 31) - 1;
#[cfg(test)]
const NARROW_MAX: usize = 1000;
/// Growth switches from doubling to linear steps of this size (Redis' `SDS_MAX_PREALLOC`).
const MAX_PREALLOC: usize = 1024 * 1024;

pub struct RawStr {
    /// The start of the allocation (the header). Alignment 8, so the wide header's u64 fields
    /// are aligned.
    ptr: NonNull<u8>,
}

// SAFETY: a RawStr exclusively owns its allocation, like `Vec<u8>`, which is Send and Sync.
unsafe impl Send for RawStr {}
// SAFETY: see above; shared access only reads.
unsafe impl Sync for RawStr {}

fn header_len(cap: usize) -> usize {
    if cap <= NARROW_MAX {
        NARROW_HEADER
    } else {
        WIDE_HEADER
    }
}

fn layout(cap: usize) -> Layout {
    let size = header_len(cap)
        .checked_add(cap)
        .expect("string capacity overflow");
    Layout::from_size_align(size, 8).expect("string capacity overflow")
}

impl RawStr {
    /// An empty string with room for `cap` bytes.
    pub fn with_capacity(cap: usize) -> RawStr {
        let layout = layout(cap);
        // SAFETY: the layout is at least a header long, so never zero-sized.
        let raw = unsafe { alloc(layout) };
        let Some(ptr) = NonNull::new(raw) else {
            handle_alloc_error(layout)
        };
        let mut s = RawStr { ptr };
        // SAFETY: the allocation is big enough for the header matching `cap`.
        unsafe { s.write_header(0, cap) };
        s
    }

    /// A copy of `bytes` with no spare room.
    pub fn from_slice(bytes: &[u8]) -> RawStr {
        let mut s = RawStr::with_capacity(bytes.len());
        s.extend_from_slice(bytes);
        s
    }

    fn is_wide(&self) -> bool {
        // SAFETY: every allocation starts with at least a narrow header (8 bytes, aligned).
        unsafe { (self.ptr.as_ptr() as *const u32).read() == WIDE_MARK }
    }

    /// (len, cap).
    #[inline]
    fn header(&self) -> (usize, usize) {
        let p = self.ptr.as_ptr();
        // SAFETY: the header was written by `write_header` for the current allocation, and
        // its fields are naturally aligned (the allocation is 8-aligned).
        unsafe {
            if self.is_wide() {
                let w = p as *const u64;
                (w.add(1).read() as usize, w.add(2).read() as usize)
            } else {
                let n = p as *const u32;
                (n.read() as usize, n.add(1).read() as usize)
            }
        }
    }

    /// # Safety
    /// The allocation must have been made with `layout(cap)`.
    unsafe fn write_header(&mut self, len: usize, cap: usize) {
        let p = self.ptr.as_ptr();
        if cap <= NARROW_MAX {
            let n = p as *mut u32;
            n.write(len as u32);
            n.add(1).write(cap as u32);
        } else {
            let w = p as *mut u64;
            (p as *mut u32).write(WIDE_MARK);
            (p as *mut u32).add(1).write(0);
            w.add(1).write(len as u64);
            w.add(2).write(cap as u64);
        }
    }

    fn data(&self) -> *mut u8 {
        let (_, cap) = self.header();
        // SAFETY: the bytes start right after the header, inside the allocation.
        unsafe { self.ptr.as_ptr().add(header_len(cap)) }
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.header().0
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[inline]
    pub fn capacity(&self) -> usize {
        self.header().1
    }

    /// Makes room for `additional` more bytes, growing like `sdsMakeRoomFor`.
    pub fn reserve(&mut self, additional: usize) {
        let (len, cap) = self.header();
        let need = len.checked_add(additional).expect("string length overflow");
        if need <= cap {
            return;
        }
        let new_cap = if need < MAX_PREALLOC {
            need * 2
        } else {
            need + MAX_PREALLOC
        };
        self.set_capacity(new_cap);
    }

    /// Reallocates to `new_cap` (more than the capacity) bytes of room, moving the bytes when
    /// the header becomes wide.
    fn set_capacity(&mut self, new_cap: usize) {
        let (len, cap) = self.header();
        debug_assert!(new_cap >= len);
        let (old_h, new_h) = (header_len(cap), header_len(new_cap));
        let new_layout = layout(new_cap);
        let raw = if old_h == new_h {
            // SAFETY: the pointer was allocated with `layout(cap)`; the new size is non-zero
            // and the alignment unchanged. The header and the `len` bytes keep their offsets.
            unsafe { realloc(self.ptr.as_ptr(), layout(cap), new_layout.size()) }
        } else {
            // The header changes size: copy into a fresh allocation at the new offset.
            // SAFETY: the new layout is non-zero-sized.
            let fresh = unsafe { alloc(new_layout) };
            if !fresh.is_null() {
                // SAFETY: `len` bytes are initialised at the old data offset, and the new
                // allocation has room for them after its header; the regions are distinct.
                // The old allocation is then freed with the layout it was made with.
                unsafe {
                    std::ptr::copy_nonoverlapping(
                        self.ptr.as_ptr().add(old_h),
                        fresh.add(new_h),
                        len,
                    );
                    dealloc(self.ptr.as_ptr(), layout(cap));
                }
            }
            fresh
        };
        let Some(ptr) = NonNull::new(raw) else {
            handle_alloc_error(new_layout)
        };
        self.ptr = ptr;
        // SAFETY: the allocation now has `layout(new_cap)`.
        unsafe { self.write_header(len, new_cap) };
    }

    pub fn extend_from_slice(&mut self, bytes: &[u8]) {
        self.reserve(bytes.len());
        let (len, cap) = self.header();
        // SAFETY: `reserve` made room for `bytes.len()` more bytes after the current `len`, and
        // `bytes` can't alias our exclusively owned buffer. The header then covers them.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.data().add(len), bytes.len());
            self.write_header(len + bytes.len(), cap);
        }
    }

    /// Grows with `fill` bytes, or truncates, to `new_len`.
    pub fn resize(&mut self, new_len: usize, fill: u8) {
        let len = self.len();
        if new_len > len {
            self.reserve(new_len - len);
            // SAFETY: room for `new_len` bytes was reserved; the new tail is initialised here
            // before the header says it exists.
            unsafe {
                std::ptr::write_bytes(self.data().add(len), fill, new_len - len);
            }
        }
        let cap = self.capacity();
        // SAFETY: `new_len` bytes are initialised (kept, or filled just above) and fit `cap`.
        unsafe { self.write_header(new_len, cap) };
    }

    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: `len` initialised bytes follow the header, owned by `self` for the borrow.
        unsafe { std::slice::from_raw_parts(self.data(), self.len()) }
    }

    #[inline]
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as `as_slice`, and `&mut self` makes the borrow exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.data(), self.len()) }
    }
}

impl Drop for RawStr {
    fn drop(&mut self) {
        let cap = self.capacity();
        // SAFETY: the allocation was made with `layout(cap)` and is freed once, here.
        unsafe { dealloc(self.ptr.as_ptr(), layout(cap)) }
    }
}

impl std::ops::Deref for RawStr {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl std::ops::DerefMut for RawStr {
    #[inline]
    fn deref_mut(&mut self) -> &mut [u8] {
        self.as_mut_slice()
    }
}

impl Clone for RawStr {
    fn clone(&self) -> Self {
        RawStr::from_slice(self.as_slice())
    }
}

impl PartialEq for RawStr {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for RawStr {}

impl std::fmt::Debug for RawStr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RawStr({:?})", String::from_utf8_lossy(self.as_slice()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Extend(Vec<u8>),
        Resize(usize, u8),
        Write(usize, u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..300).prop_map(Op::Extend),
            (0usize..3000, any::<u8>()).prop_map(|(n, b)| Op::Resize(n, b)),
            (0usize..3000, any::<u8>()).prop_map(|(i, b)| Op::Write(i, b)),
        ]
    }

    proptest! {
        /// Random edits agree with a `Vec<u8>` model.
        #[test]
        fn behaves_like_a_vec(start in proptest::collection::vec(any::<u8>(), 0..100),
                              ops in proptest::collection::vec(op(), 0..60)) {
            let mut s = RawStr::from_slice(&start);
            let mut model = start.clone();
            for op in ops {
                match op {
                    Op::Extend(b) => { s.extend_from_slice(&b); model.extend_from_slice(&b); }
                    Op::Resize(n, f) => { s.resize(n, f); model.resize(n, f); }
                    Op::Write(i, b) => if i < model.len() { s[i] = b; model[i] = b; },
                }
                prop_assert_eq!(s.as_slice(), &model[..]);
                prop_assert!(s.capacity() >= s.len());
            }
            let copy = s.clone();
            prop_assert_eq!(copy.as_slice(), &model[..]);
        }
    }

    #[test]
    fn is_one_word_with_a_small_header() {
        assert_eq!(std::mem::size_of::<RawStr>(), 8);
        let s = RawStr::from_slice(&[7u8; 100]);
        assert_eq!(s.capacity(), 100);
        assert_eq!(layout(s.capacity()).size(), 108);
    }

    #[test]
    fn header_widens_past_two_gigabytes() {
        assert_eq!(header_len(NARROW_MAX), NARROW_HEADER);
        assert_eq!(header_len(NARROW_MAX + 1), WIDE_HEADER);
        let mut s = RawStr::from_slice(&[3; 900]);
        s.extend_from_slice(&[4; 200]);
        assert!(s.is_wide());
        assert_eq!(&s[895..905], &[3, 3, 3, 3, 3, 4, 4, 4, 4, 4]);
        s.resize(10, 0);
        assert_eq!(s.as_slice(), &[3; 10]);
    }

    #[test]
    fn growth_is_amortised_and_linear_past_a_megabyte() {
        let mut s = RawStr::with_capacity(0);
        s.extend_from_slice(&[1; 10]);
        assert_eq!(s.capacity(), 20);
        s.resize(MAX_PREALLOC, 0);
        assert_eq!(s.capacity(), 2 * MAX_PREALLOC);
        let full = s.capacity();
        s.resize(full, 0);
        s.extend_from_slice(&[2; 1]);
        assert_eq!(s.capacity(), full + 1 + MAX_PREALLOC);
    }
}
