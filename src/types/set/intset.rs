//! Redis' intset: a sorted array of distinct integers in one byte buffer, the compact encoding
//! of small all-integer sets. The layout is Redis' own, byte for byte, so that a later RDB
//! writer can emit it as is and `DEBUG`/`MEMORY` sizes agree:
//!
//! ```text
//! +----------------+----------------+------------------------------------------+
//! | encoding (u32) | length (u32)   | length elements, ascending, each         |
//! | 2, 4 or 8      | element count  | `encoding` bytes, little-endian, signed  |
//! +----------------+----------------+------------------------------------------+
//! ```
//!
//! All elements share the width of the widest one; adding a value that doesn't fit the
//! current width rewrites the whole array at the next width ("upgrade"), and the width never
//! shrinks. Lookups are a binary search.

const HEADER: usize = 8;

/// The smallest element width (in bytes) that holds `v`.
fn width_of(v: i64) -> usize {
    if v < i32::MIN as i64 || v > i32::MAX as i64 {
        8
    } else if v < i16::MIN as i64 || v > i16::MAX as i64 {
        4
    } else {
        2
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntSet {
    buf: Vec<u8>,
}

impl Default for IntSet {
    fn default() -> Self {
        Self::new()
    }
}

impl IntSet {
    /// An empty intset of 16-bit elements, as Redis creates them.
    pub fn new() -> IntSet {
        let mut buf = Vec::with_capacity(HEADER);
        buf.extend_from_slice(&2u32.to_le_bytes());
        buf.extend_from_slice(&0u32.to_le_bytes());
        IntSet { buf }
    }

    /// Element width in bytes (2, 4 or 8).
    pub fn encoding(&self) -> usize {
        u32::from_le_bytes(self.buf[0..4].try_into().unwrap()) as usize
    }

    pub fn len(&self) -> usize {
        u32::from_le_bytes(self.buf[4..8].try_into().unwrap()) as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The serialized form (header and elements), as Redis stores it.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Total bytes of the serialized form (Redis' `intsetBlobLen`).
    pub fn blob_len(&self) -> usize {
        HEADER + self.len() * self.encoding()
    }

    fn set_len(&mut self, n: usize) {
        self.buf[4..8].copy_from_slice(&(n as u32).to_le_bytes());
    }

    fn read(&self, enc: usize, pos: usize) -> i64 {
        let o = HEADER + pos * enc;
        let b = &self.buf[o..o + enc];
        match enc {
            2 => i16::from_le_bytes(b.try_into().unwrap()) as i64,
            4 => i32::from_le_bytes(b.try_into().unwrap()) as i64,
            _ => i64::from_le_bytes(b.try_into().unwrap()),
        }
    }

    fn write(&mut self, enc: usize, pos: usize, v: i64) {
        let o = HEADER + pos * enc;
        let b = &mut self.buf[o..o + enc];
        match enc {
            2 => b.copy_from_slice(&(v as i16).to_le_bytes()),
            4 => b.copy_from_slice(&(v as i32).to_le_bytes()),
            _ => b.copy_from_slice(&v.to_le_bytes()),
        }
    }

    /// The element at `pos` (0-based, ascending order).
    pub fn get(&self, pos: usize) -> i64 {
        self.read(self.encoding(), pos)
    }

    /// Binary search: Ok(position) when present, Err(insertion point) otherwise.
    fn search(&self, v: i64) -> Result<usize, usize> {
        let n = self.len();
        if n == 0 {
            return Err(0);
        }
        // The ends are checked first: appending in order is the common case.
        if v > self.get(n - 1) {
            return Err(n);
        }
        if v < self.get(0) {
            return Err(0);
        }
        let (mut lo, mut hi) = (0usize, n);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let cur = self.get(mid);
            if cur == v {
                return Ok(mid);
            } else if cur < v {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Err(lo)
    }

    pub fn contains(&self, v: i64) -> bool {
        // A value wider than the elements can't be among them.
        width_of(v) <= self.encoding() && self.search(v).is_ok()
    }

    /// Adds `v`; false when it was already present.
    pub fn insert(&mut self, v: i64) -> bool {
        let enc = self.encoding();
        let n = self.len();
        if width_of(v) > enc {
            // The new value is either below or above every element, so it goes at one end.
            let wide = width_of(v);
            let mut out = Vec::with_capacity(HEADER + (n + 1) * wide);
            out.extend_from_slice(&(wide as u32).to_le_bytes());
            out.extend_from_slice(&((n + 1) as u32).to_le_bytes());
            out.resize(HEADER + (n + 1) * wide, 0);
            let old = std::mem::replace(&mut self.buf, out);
            let prev = IntSet { buf: old };
            let shift = usize::from(v < 0);
            for i in 0..n {
                self.write(wide, i + shift, prev.read(enc, i));
            }
            self.write(wide, if v < 0 { 0 } else { n }, v);
            return true;
        }
        match self.search(v) {
            Ok(_) => false,
            Err(pos) => {
                self.buf.resize(HEADER + (n + 1) * enc, 0);
                let start = HEADER + pos * enc;
                self.buf.copy_within(start..HEADER + n * enc, start + enc);
                self.write(enc, pos, v);
                self.set_len(n + 1);
                true
            }
        }
    }

    /// Removes `v`; false when it wasn't present.
    pub fn remove(&mut self, v: i64) -> bool {
        if width_of(v) > self.encoding() {
            return false;
        }
        let enc = self.encoding();
        let n = self.len();
        match self.search(v) {
            Err(_) => false,
            Ok(pos) => {
                let start = HEADER + pos * enc;
                self.buf.copy_within(start + enc..HEADER + n * enc, start);
                self.buf.truncate(HEADER + (n - 1) * enc);
                self.set_len(n - 1);
                true
            }
        }
    }

    /// A uniformly random element; None when empty.
    pub fn random(&self, rng: &mut impl rand::Rng) -> Option<i64> {
        let n = self.len();
        (n > 0).then(|| self.get(rng.gen_range(0..n)))
    }

    /// Adopts a serialized intset (from an RDB file or a RESTORE payload) after checking it
    /// as Redis' `intsetValidateIntegrity` does: a known width, a size that matches the count,
    /// and at least one element; with `deep`, also strictly ascending elements (lookups rely on
    /// the order). None when invalid.
    pub fn from_bytes(buf: Vec<u8>, deep: bool) -> Option<IntSet> {
        if buf.len() < HEADER {
            return None;
        }
        let enc = u32::from_le_bytes(buf[0..4].try_into().unwrap()) as usize;
        if !matches!(enc, 2 | 4 | 8) {
            return None;
        }
        let count = u32::from_le_bytes(buf[4..8].try_into().unwrap()) as usize;
        if count == 0 || HEADER.checked_add(count.checked_mul(enc)?)? != buf.len() {
            return None;
        }
        let s = IntSet { buf };
        if deep {
            let mut prev = None;
            for v in s.iter() {
                if prev.is_some_and(|p| v <= p) {
                    return None;
                }
                prev = Some(v);
            }
        }
        Some(s)
    }

    /// The elements in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = i64> + '_ {
        let enc = self.encoding();
        (0..self.len()).map(move |i| self.read(enc, i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use std::collections::BTreeSet;

    #[test]
    fn layout_matches_redis() {
        let mut s = IntSet::new();
        assert_eq!(s.as_bytes(), &[2, 0, 0, 0, 0, 0, 0, 0]);
        s.insert(5);
        s.insert(-1);
        assert_eq!(s.as_bytes(), &[2, 0, 0, 0, 2, 0, 0, 0, 0xff, 0xff, 5, 0]);
        s.insert(70000);
        assert_eq!(s.encoding(), 4);
        assert_eq!(
            s.as_bytes(),
            &[4, 0, 0, 0, 3, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 5, 0, 0, 0, 0x70, 0x11, 1, 0]
        );
        s.insert(i64::MIN);
        assert_eq!(s.encoding(), 8);
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![i64::MIN, -1, 5, 70000]);
        assert_eq!(s.blob_len(), 8 + 4 * 8);
    }

    /// A value drawn mostly from a small range (so removals hit), sometimes 32- or 64-bit
    /// wide so that upgrades happen at random points.
    fn value() -> impl Strategy<Value = i64> {
        prop_oneof![
            8 => -50i64..50,
            1 => (i32::MIN as i64)..=(i32::MAX as i64),
            1 => any::<i64>(),
        ]
    }

    proptest! {
        #[test]
        fn behaves_like_a_btreeset(
            ops in proptest::collection::vec((any::<bool>(), value(), -60i64..60), 0..600)
        ) {
            let mut s = IntSet::new();
            let mut model = BTreeSet::new();
            for (remove, v, probe) in ops {
                if remove {
                    prop_assert_eq!(s.remove(v), model.remove(&v));
                } else {
                    prop_assert_eq!(s.insert(v), model.insert(v));
                }
                prop_assert_eq!(s.len(), model.len());
                prop_assert_eq!(s.contains(probe), model.contains(&probe));
                prop_assert_eq!(s.contains(v), model.contains(&v));
            }
            prop_assert!(s.iter().eq(model.iter().copied()));
            // The width never shrinks, and always holds the widest member.
            let widest = model.iter().map(|&v| width_of(v)).max().unwrap_or(2);
            prop_assert!(s.encoding() >= widest);
            prop_assert_eq!(s.as_bytes().len(), s.blob_len());
            let mut rng = rand::rngs::StdRng::seed_from_u64(1);
            if let Some(r) = s.random(&mut rng) {
                prop_assert!(model.contains(&r));
            }
        }
    }
}
