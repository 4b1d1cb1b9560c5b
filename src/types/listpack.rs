//! Listpack: Redis 7.0's compact, byte-serialised sequence of strings and integers, used by
//! small hashes, sorted sets and quicklist nodes. The bytes must be exactly Redis' so that RDB
//! files and DUMP payloads move between ferrodis and Redis unchanged, and so that
//! `validate_integrity` accepts and rejects exactly what Redis does for RESTORE/RDB input.
//!
//! Layout (all multi-byte numbers little endian unless said otherwise):
//!
//! ```text
//! +-------------+-----------+---------+---------+-----+---------+------+
//! | total bytes | num elems | entry 0 | entry 1 | ... | entry N | 0xFF |
//! |   u32 LE    |  u16 LE   |         |         |     |         | end  |
//! +-------------+-----------+---------+---------+-----+---------+------+
//!   num elems == 65535 means "unknown": count by walking the entries.
//!
//! entry = encoding [+ data] + back-length
//!
//!   encoding byte(s)                         kind          data
//!   0xxxxxxx                                 7-bit uint    (value in the byte)
//!   10LLLLLL                                 6-bit string  L bytes
//!   110vvvvv vvvvvvvv                        13-bit int    (two's complement, high bits first)
//!   1110LLLL LLLLLLLL                        12-bit string L bytes
//!   11110001                                 16-bit int    2 bytes
//!   11110010                                 24-bit int    3 bytes
//!   11110011                                 32-bit int    4 bytes
//!   11110100                                 64-bit int    8 bytes
//!   11110000 L L L L                         32-bit string L (u32 LE) bytes
//!   11110101 ..= 11111110                    invalid; 11111111 is the end byte
//!
//!   back-length: the size of "encoding + data" (not counting itself) in 1..=5 bytes of 7-bit
//!   groups, most significant group first. Every byte but the first has its high bit set, so
//!   reading backwards from an entry's last byte one knows where the number starts: this is
//!   what makes walking from the tail possible.
//!     size <= 127          -> [s]
//!     size <  16383        -> [s>>7, 0x80|(s&127)]
//!     size <  2097151      -> [s>>14, 0x80|(s>>7&127), 0x80|(s&127)]   ... up to 5 bytes
//! ```
//!
//! A string is stored as an integer exactly when it is the canonical decimal form of an `i64`
//! (the rule of Redis' `lpStringToInt64`, same as `string2ll`): "12" becomes an integer, while
//! "012", "-0", "+1" or " 1" stay strings. Reading gives back an [`Entry::Int`] for those.
//!
//! Positions are byte offsets of an entry's first byte ([`Pos`]), like Redis' element pointers:
//! a position stays meaningful only until the next mutation, except for the ones mutations
//! return.

use crate::util::parse_i64;

/// Size of the header: total bytes (u32) + number of elements (u16).
pub const HDR_SIZE: usize = 6;
/// Terminator byte; it can never start an entry.
const EOF: u8 = 0xFF;
/// Header count meaning "too many to count in a u16, walk the entries".
const NUMELE_UNKNOWN: u16 = u16::MAX;
/// Redis refuses to grow a listpack past 1 GB (`lpSafeToAdd`); callers convert to a bigger
/// encoding instead.
pub const MAX_SAFETY_SIZE: usize = 1 << 30;

/// One decoded element.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Entry<'a> {
    Int(i64),
    Str(&'a [u8]),
}

impl Entry<'_> {
    /// The element as the string it was given as (integers in canonical decimal form).
    pub fn to_vec(&self) -> Vec<u8> {
        match *self {
            Entry::Int(v) => v.to_string().into_bytes(),
            Entry::Str(s) => s.to_vec(),
        }
    }
}

/// Byte offset of an entry inside a [`Listpack`] (Redis' element pointer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pos(usize);

impl Pos {
    /// The byte offset, for debugging and tests.
    pub fn offset(self) -> usize {
        self.0
    }
}

/// An owned listpack whose bytes are always a valid Redis listpack.
#[derive(Clone, PartialEq, Eq)]
pub struct Listpack {
    buf: Vec<u8>,
    /// Exact element count, kept even when the header says "unknown" so `len` is O(1).
    len: usize,
}

impl std::fmt::Debug for Listpack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Default for Listpack {
    fn default() -> Self {
        Self::new()
    }
}

// ---- encoding helpers -------------------------------------------------------------------

/// Bytes the back-length takes for an entry whose encoding + data is `l` bytes.
fn backlen_size(l: usize) -> usize {
    match l {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2097150 => 3,
        2097151..=268435454 => 4,
        _ => 5,
    }
}

fn push_backlen(out: &mut Vec<u8>, l: usize) {
    let n = backlen_size(l);
    // Most significant group first; all bytes after the first flag "more groups before me".
    for i in (0..n).rev() {
        let group = ((l >> (7 * i)) & 127) as u8;
        out.push(if i == n - 1 { group } else { group | 0x80 });
    }
}

/// Reads a back-length whose last byte is at `end`, walking backwards. `None` when it runs
/// past the buffer start or uses more than 5 bytes (what Redis treats as corrupt).
fn decode_backlen(buf: &[u8], end: usize) -> Option<usize> {
    let mut val = 0usize;
    let mut shift = 0;
    let mut i = end;
    loop {
        let b = *buf.get(i)?;
        val |= ((b & 127) as usize) << shift;
        if b & 0x80 == 0 {
            return Some(val);
        }
        shift += 7;
        if shift > 28 {
            return None;
        }
        i = i.checked_sub(1)?;
    }
}

/// Appends the encoding + data for integer `v`, using the smallest encoding that holds it.
fn push_int(out: &mut Vec<u8>, v: i64) {
    if (0..=127).contains(&v) {
        out.push(v as u8);
    } else if (-4096..=4095).contains(&v) {
        let u = (v as u16) & 0x1FFF;
        out.push(0xC0 | (u >> 8) as u8);
        out.push(u as u8);
    } else if i16::try_from(v).is_ok() {
        out.push(0xF1);
        out.extend_from_slice(&(v as i16).to_le_bytes());
    } else if (-(1 << 23)..(1 << 23)).contains(&v) {
        out.push(0xF2);
        out.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
    } else if i32::try_from(v).is_ok() {
        out.push(0xF3);
        out.extend_from_slice(&(v as i32).to_le_bytes());
    } else {
        out.push(0xF4);
        out.extend_from_slice(&v.to_le_bytes());
    }
}

fn push_str(out: &mut Vec<u8>, s: &[u8]) {
    let len = s.len();
    if len < 64 {
        out.push(0x80 | len as u8);
    } else if len < 4096 {
        out.push(0xE0 | (len >> 8) as u8);
        out.push(len as u8);
    } else {
        out.push(0xF0);
        out.extend_from_slice(&(len as u32).to_le_bytes());
    }
    out.extend_from_slice(s);
}

/// A whole entry (encoding, data, back-length) for element `v`.
fn encode_entry(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len() + 10);
    match parse_i64(v) {
        Some(i) => push_int(&mut out, i),
        None => push_str(&mut out, v),
    }
    let l = out.len();
    push_backlen(&mut out, l);
    out
}

/// Size of encoding + data of the entry starting at `p`, reading only bytes that exist.
/// `None` for the end byte, invalid encodings and truncated headers.
fn encoded_size(buf: &[u8], p: usize) -> Option<usize> {
    let b = *buf.get(p)?;
    let at = |i: usize| buf.get(p + i).map(|&x| x as usize);
    Some(match b {
        0x00..=0x7F => 1,
        0x80..=0xBF => 1 + (b & 0x3F) as usize,
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 2 + ((((b & 0x0F) as usize) << 8) | at(1)?),
        0xF0 => {
            let len = at(1)? | at(2)? << 8 | at(3)? << 16 | at(4)? << 24;
            5usize.checked_add(len)?
        }
        0xF1 => 3,
        0xF2 => 4,
        0xF3 => 5,
        0xF4 => 9,
        0xF5..=0xFF => return None,
    })
}

/// Bytes of the encoding header itself (before any data), for bounds checks before reading it.
fn encoding_header_size(b: u8) -> Option<usize> {
    match b {
        // A 13-bit int's second byte is value, not header, as Redis counts it.
        0x00..=0xDF | 0xF1..=0xF4 => Some(1),
        0xE0..=0xEF => Some(2),
        0xF0 => Some(5),
        0xF5..=0xFF => None,
    }
}

/// Decodes the entry at `p`; the listpack must already be known valid.
fn decode(buf: &[u8], p: usize) -> Entry<'_> {
    let b = buf[p];
    let le = |n: usize| -> u64 {
        buf[p + 1..p + 1 + n]
            .iter()
            .rev()
            .fold(0u64, |acc, &x| (acc << 8) | x as u64)
    };
    match b {
        0x00..=0x7F => Entry::Int(b as i64),
        0x80..=0xBF => {
            let len = (b & 0x3F) as usize;
            Entry::Str(&buf[p + 1..p + 1 + len])
        }
        0xC0..=0xDF => {
            let u = (((b & 0x1F) as i64) << 8) | buf[p + 1] as i64;
            // Sign-extend the 13-bit two's complement value.
            Entry::Int(if u >= 1 << 12 { u - (1 << 13) } else { u })
        }
        0xE0..=0xEF => {
            let len = (((b & 0x0F) as usize) << 8) | buf[p + 1] as usize;
            Entry::Str(&buf[p + 2..p + 2 + len])
        }
        0xF0 => {
            let len = le(4) as usize;
            Entry::Str(&buf[p + 5..p + 5 + len])
        }
        0xF1 => Entry::Int(le(2) as u16 as i16 as i64),
        0xF2 => Entry::Int((((le(3) as u32) << 8) as i32 >> 8) as i64),
        0xF3 => Entry::Int(le(4) as u32 as i32 as i64),
        0xF4 => Entry::Int(le(8) as i64),
        _ => unreachable!("decoding an invalid listpack entry"),
    }
}

/// Checks bytes the way Redis' `lpValidateIntegrity` does. Shallow: header size matches the
/// buffer and the last byte is the terminator. Deep: additionally every entry's encoding fits
/// in the buffer, its back-length matches, the walk ends exactly at the terminator and a known
/// header count equals the real one. Returns the element count when deep, 0 otherwise.
/// Never reads out of bounds, whatever the input.
fn validate(bytes: &[u8], deep: bool) -> Option<usize> {
    let size = bytes.len();
    if size < HDR_SIZE + 1 {
        return None;
    }
    let total = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
    if total != size || bytes[size - 1] != EOF {
        return None;
    }
    if !deep {
        return Some(0);
    }
    let eof = size - 1;
    let mut p = HDR_SIZE;
    let mut count = 0usize;
    while bytes[p] != EOF {
        let hdr = encoding_header_size(bytes[p])?;
        if p + hdr > eof {
            return None;
        }
        let enc = encoded_size(bytes, p)?;
        let entry = enc.checked_add(backlen_size(enc))?;
        let next = p.checked_add(entry)?;
        if next > eof {
            return None;
        }
        if decode_backlen(bytes, next - 1)? != enc {
            return None;
        }
        p = next;
        count += 1;
    }
    if p != eof {
        return None;
    }
    let numele = u16::from_le_bytes([bytes[4], bytes[5]]);
    if numele != NUMELE_UNKNOWN && numele as usize != count {
        return None;
    }
    Some(count)
}

impl Listpack {
    /// An empty listpack (7 bytes: header + terminator).
    pub fn new() -> Self {
        let mut buf = Vec::with_capacity(HDR_SIZE + 1);
        buf.resize(HDR_SIZE, 0);
        buf.push(EOF);
        let mut lp = Listpack { buf, len: 0 };
        lp.write_header();
        lp
    }

    /// Takes raw bytes (from RDB or RESTORE) after deep validation; `None` if Redis would
    /// reject them as corrupt.
    pub fn from_bytes(bytes: Vec<u8>) -> Option<Self> {
        let len = validate(&bytes, true)?;
        Some(Listpack { buf: bytes, len })
    }

    /// Takes bytes this process produced itself (a quicklist node it decompressed) without
    /// validating them again; `len` is the element count the owner kept.
    pub(crate) fn from_trusted(buf: Vec<u8>, len: usize) -> Self {
        Listpack { buf, len }
    }

    /// Gives the serialised bytes away (to compress them).
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    /// Moves every element of `other` to the end of `self` (Redis' `lpMerge`, which always
    /// keeps the order "self then other").
    pub fn merge_from(&mut self, other: &Listpack) {
        let tail = &other.buf[HDR_SIZE..other.buf.len() - 1];
        let at = self.eof();
        self.splice_bytes(at, 0, tail);
        self.len += other.len;
        self.write_header();
    }

    /// Replaces `del` bytes at `off` with `ins`. The buffer is sized like Redis' listpack,
    /// which reallocates to the exact size on every change: its capacity is the allocator's
    /// size class for the length (a Vec's doubling would keep up to twice the bytes in every
    /// quicklist node), growing or shrinking only when the length leaves that class.
    fn splice_bytes(&mut self, off: usize, del: usize, ins: &[u8]) {
        let old_len = self.buf.len();
        let new_len = old_len - del + ins.len();
        if new_len > self.buf.capacity() {
            let class = crate::commands::memory::alloc_size(new_len);
            self.buf.reserve_exact(class - old_len);
        }
        if ins.len() > del {
            self.buf.resize(new_len, 0);
            self.buf.copy_within(off + del..old_len, off + ins.len());
        } else if ins.len() < del {
            self.buf.copy_within(off + del..old_len, off + ins.len());
            self.buf.truncate(new_len);
            let class = crate::commands::memory::alloc_size(new_len);
            if self.buf.capacity() > class {
                self.buf.shrink_to(class);
            }
        }
        self.buf[off..off + ins.len()].copy_from_slice(ins);
    }

    /// Bytes allocated for the serialised form (for MEMORY USAGE).
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Redis' `lpValidateIntegrity` on arbitrary bytes (see the module docs for what `deep`
    /// adds). Never panics.
    pub fn validate_integrity(bytes: &[u8], deep: bool) -> bool {
        validate(bytes, deep).is_some()
    }

    /// The serialised form, as stored in RDB files and DUMP payloads.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Total serialised size in bytes (what the header records).
    pub fn bytes_len(&self) -> usize {
        self.buf.len()
    }

    /// Whether `add` more bytes keep the listpack within Redis' 1 GB limit (`lpSafeToAdd`).
    pub fn safe_to_add(&self, add: usize) -> bool {
        self.buf.len().saturating_add(add) <= MAX_SAFETY_SIZE
    }

    fn write_header(&mut self) {
        let total = u32::try_from(self.buf.len()).expect("listpack larger than 4 GB");
        self.buf[0..4].copy_from_slice(&total.to_le_bytes());
        // Past 65534 elements the header can't hold the count; Redis then stores "unknown".
        // Unlike Redis we re-store the exact count as soon as it fits again (Redis does that
        // lazily on the next count), which any reader accepts.
        let n = if self.len < NUMELE_UNKNOWN as usize {
            self.len as u16
        } else {
            NUMELE_UNKNOWN
        };
        self.buf[4..6].copy_from_slice(&n.to_le_bytes());
    }

    /// Size of the whole entry at `p` (encoding, data and back-length).
    fn entry_size(&self, p: Pos) -> usize {
        let enc = encoded_size(&self.buf, p.0).expect("position is not an entry");
        enc + backlen_size(enc)
    }

    fn eof(&self) -> usize {
        self.buf.len() - 1
    }

    /// The element at `p`.
    pub fn get(&self, p: Pos) -> Entry<'_> {
        assert!(
            p.0 >= HDR_SIZE && p.0 < self.eof(),
            "position is not an entry"
        );
        decode(&self.buf, p.0)
    }

    pub fn first(&self) -> Option<Pos> {
        (self.buf[HDR_SIZE] != EOF).then_some(Pos(HDR_SIZE))
    }

    pub fn last(&self) -> Option<Pos> {
        self.before(self.eof())
    }

    pub fn next(&self, p: Pos) -> Option<Pos> {
        let q = p.0 + self.entry_size(p);
        (self.buf[q] != EOF).then_some(Pos(q))
    }

    pub fn prev(&self, p: Pos) -> Option<Pos> {
        self.before(p.0)
    }

    /// The entry ending right before byte offset `off` (an entry start or the terminator).
    fn before(&self, off: usize) -> Option<Pos> {
        if off <= HDR_SIZE {
            return None;
        }
        let l = decode_backlen(&self.buf, off - 1).expect("corrupt back-length");
        Some(Pos(off - l - backlen_size(l)))
    }

    /// The element at `index`; negative indexes count from the tail (-1 is the last).
    /// Walks from whichever end is closer, as Redis' `lpSeek` does.
    pub fn seek(&self, index: i64) -> Option<Pos> {
        let len = self.len as i64;
        let idx = if index < 0 { len + index } else { index };
        if idx < 0 || idx >= len {
            return None;
        }
        if idx < len / 2 {
            let mut p = self.first()?;
            for _ in 0..idx {
                p = self.next(p)?;
            }
            Some(p)
        } else {
            let mut p = self.last()?;
            for _ in 0..(len - 1 - idx) {
                p = self.prev(p)?;
            }
            Some(p)
        }
    }

    /// Forward iterator over the elements.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            lp: self,
            pos: self.first(),
        }
    }

    /// Inserts a whole encoded entry at byte offset `off` and returns its position.
    fn insert_at(&mut self, off: usize, v: &[u8]) -> Pos {
        let e = encode_entry(v);
        self.splice_bytes(off, 0, &e);
        self.len += 1;
        self.write_header();
        Pos(off)
    }

    pub fn append(&mut self, v: &[u8]) -> Pos {
        self.insert_at(self.eof(), v)
    }

    pub fn prepend(&mut self, v: &[u8]) -> Pos {
        self.insert_at(HDR_SIZE, v)
    }

    /// Inserts `v` before the element at `p`; returns the new element's position.
    pub fn insert_before(&mut self, p: Pos, v: &[u8]) -> Pos {
        self.insert_at(p.0, v)
    }

    /// Inserts `v` after the element at `p`; returns the new element's position.
    pub fn insert_after(&mut self, p: Pos, v: &[u8]) -> Pos {
        let off = p.0 + self.entry_size(p);
        self.insert_at(off, v)
    }

    /// Replaces the element at `p` with `v`; the position stays the same.
    pub fn replace(&mut self, p: Pos, v: &[u8]) -> Pos {
        let size = self.entry_size(p);
        self.splice_bytes(p.0, size, &encode_entry(v));
        self.write_header();
        p
    }

    /// Deletes the element at `p`; returns the position of the element that followed it.
    pub fn delete(&mut self, p: Pos) -> Option<Pos> {
        self.delete_range(p, 1)
    }

    /// Deletes up to `count` elements starting at `p` (fewer if the tail comes first);
    /// returns the position of the element that followed them.
    pub fn delete_range(&mut self, p: Pos, count: usize) -> Option<Pos> {
        let mut end = p.0;
        let mut n = 0;
        while n < count && self.buf[end] != EOF {
            end += self.entry_size(Pos(end));
            n += 1;
        }
        self.splice_bytes(p.0, end - p.0, &[]);
        self.len -= n;
        self.write_header();
        (self.buf[p.0] != EOF).then_some(p)
    }

    /// Redis' `lpFind`: the first element from `start` equal to `needle`, comparing only
    /// every `skip + 1`-th element (e.g. `skip = 1` looks at hash fields, not values).
    /// Integer entries match a needle that is the canonical form of the same integer.
    pub fn find(&self, start: Pos, needle: &[u8], skip: usize) -> Option<Pos> {
        // Parsed only once, and only if an integer entry is met.
        let mut needle_int: Option<Option<i64>> = None;
        let mut p = Some(start);
        let mut skipcnt = 0;
        while let Some(q) = p {
            if skipcnt == 0 {
                let hit = match self.get(q) {
                    Entry::Str(s) => s == needle,
                    Entry::Int(v) => {
                        *needle_int.get_or_insert_with(|| parse_i64(needle)) == Some(v)
                    }
                };
                if hit {
                    return Some(q);
                }
                skipcnt = skip;
            } else {
                skipcnt -= 1;
            }
            p = self.next(q);
        }
        None
    }
}

/// Forward iterator returned by [`Listpack::iter`].
pub struct Iter<'a> {
    lp: &'a Listpack,
    pos: Option<Pos>,
}

impl<'a> Iterator for Iter<'a> {
    type Item = Entry<'a>;

    fn next(&mut self) -> Option<Entry<'a>> {
        let p = self.pos?;
        self.pos = self.lp.next(p);
        Some(self.lp.get(p))
    }
}

impl<'a> IntoIterator for &'a Listpack {
    type Item = Entry<'a>;
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

#[cfg(test)]
mod tests;
