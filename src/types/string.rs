//! String values and their three encodings:
//! - `int`: the string is the canonical decimal form of an i64 (stored as the number);
//! - `embstr`: a short string (at most 44 bytes) created whole and never modified in place;
//! - `raw`: any other string, and every string modified in place (APPEND, SETRANGE, SETBIT).
//!
//! Redis decides between them exactly this way (`tryObjectEncoding`), and `OBJECT ENCODING`
//! exposes the decision, so we keep the same rules.

use super::embstr::EmbStr;
use super::rawstr::RawStr;
use crate::util;

/// Longest string Redis stores as `embstr`.
pub const EMBSTR_MAX: usize = 44;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RStr {
    Int(i64),
    Emb(EmbStr),
    Raw(RawStr),
}

impl RStr {
    /// Stores bytes received from a client, choosing the encoding as Redis' SET does: integers
    /// of up to 20 characters become `int`, short strings `embstr`, the rest `raw`.
    pub fn from_bytes(b: Vec<u8>) -> RStr {
        if b.len() <= 20 {
            if let Some(n) = util::parse_i64(&b) {
                return RStr::Int(n);
            }
        }
        if b.len() <= EMBSTR_MAX {
            RStr::Emb(EmbStr::new(&b))
        } else {
            RStr::Raw(RawStr::from_slice(&b))
        }
    }

    /// A string created as-is, without trying the integer form (Redis' `createStringObject`,
    /// used e.g. for INCRBYFLOAT results): `embstr` when short, `raw` otherwise.
    pub fn plain(b: &[u8]) -> RStr {
        if b.len() <= EMBSTR_MAX {
            RStr::Emb(EmbStr::new(b))
        } else {
            RStr::Raw(RawStr::from_slice(b))
        }
    }

    /// A string that will be modified in place: always `raw`.
    pub fn raw(b: Vec<u8>) -> RStr {
        RStr::Raw(RawStr::from_slice(&b))
    }

    pub fn encoding_name(&self) -> &'static str {
        match self {
            RStr::Int(_) => "int",
            RStr::Emb(_) => "embstr",
            RStr::Raw(_) => "raw",
        }
    }

    /// The string's bytes (integers are rendered).
    pub fn to_vec(&self) -> Vec<u8> {
        match self {
            RStr::Int(n) => util::i64_bytes(*n),
            RStr::Emb(b) => b.to_vec(),
            RStr::Raw(b) => b.to_vec(),
        }
    }

    /// Calls `f` with the bytes without allocating for the string encodings.
    #[inline]
    pub fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        match self {
            RStr::Int(n) => {
                let mut b = itoa::Buffer::new();
                f(b.format(*n).as_bytes())
            }
            RStr::Emb(b) => f(b),
            RStr::Raw(b) => f(b),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            RStr::Int(n) => {
                let mut b = itoa::Buffer::new();
                b.format(*n).len()
            }
            RStr::Emb(b) => b.len(),
            RStr::Raw(b) => b.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value as an integer, if it is one (INCR and friends).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            RStr::Int(n) => Some(*n),
            RStr::Emb(b) => util::parse_i64(b),
            RStr::Raw(b) => util::parse_i64(b),
        }
    }

    /// Turns the value into a `raw` string and returns its buffer for in-place edits.
    pub fn make_raw(&mut self) -> &mut RawStr {
        if !matches!(self, RStr::Raw(_)) {
            let raw = self.with_bytes(RawStr::from_slice);
            *self = RStr::Raw(raw);
        }
        match self {
            RStr::Raw(b) => b,
            _ => unreachable!("just converted to raw"),
        }
    }

    /// Bytes of memory the value uses beyond its object header (for MEMORY USAGE).
    pub fn alloc_size(&self) -> usize {
        match self {
            RStr::Int(_) => 0,
            RStr::Emb(b) => b.len(),
            RStr::Raw(b) => b.capacity(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_follow_redis_rules() {
        assert_eq!(RStr::from_bytes(b"12345".to_vec()).encoding_name(), "int");
        assert_eq!(RStr::from_bytes(b"-0".to_vec()).encoding_name(), "embstr");
        assert_eq!(RStr::from_bytes(b"0123".to_vec()).encoding_name(), "embstr");
        assert_eq!(RStr::from_bytes(vec![b'a'; 44]).encoding_name(), "embstr");
        assert_eq!(RStr::from_bytes(vec![b'a'; 45]).encoding_name(), "raw");
    }

    #[test]
    fn plain_strings_never_become_int() {
        assert_eq!(RStr::plain(b"12").encoding_name(), "embstr");
        assert_eq!(RStr::plain(&[b'1'; 45]).encoding_name(), "raw");
    }

    #[test]
    fn make_raw_keeps_the_bytes() {
        let mut s = RStr::from_bytes(b"42".to_vec());
        s.make_raw().extend_from_slice(b"x");
        assert_eq!(s.to_vec(), b"42x");
        assert_eq!(s.encoding_name(), "raw");
    }
}
