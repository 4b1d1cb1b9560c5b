//! Set values and their two encodings, as Redis 7.0 keeps them (t_set.c):
//! - `intset`: every member is the canonical decimal form of an i64 and there are at most
//!   `set-max-intset-entries` of them; stored as a sorted integer array;
//! - `hashtable`: anything else, in a Redis-style dict so SSCAN keeps SCAN's guarantees.
//!
//! A set only ever converts from intset to hashtable (on a non-integer member or when it grows
//! past the limit), never back, exactly as Redis does; `OBJECT ENCODING` shows the difference.

pub mod intset;

use crate::db::Dict;
use crate::util;
pub use intset::IntSet;

pub enum SetValue {
    Intset(IntSet),
    Hashtable(Dict<Box<[u8]>, ()>),
}

impl std::fmt::Debug for SetValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Set({}, {} members)", self.encoding_name(), self.len())
    }
}

/// How many entries a fair random pick samples (Redis' `GETFAIR_NUM_ENTRIES`).
const GETFAIR_NUM_ENTRIES: usize = 15;

/// A random key of a dict, less biased by chain lengths than a plain random bucket: a run of
/// entries is sampled and one of them chosen (Redis' `dictGetFairRandomKey`).
pub fn fair_random<'a, K: std::hash::Hash + Eq, V>(
    d: &'a Dict<K, V>,
    rng: &mut impl rand::Rng,
) -> Option<&'a K> {
    let mut sample = Vec::with_capacity(GETFAIR_NUM_ENTRIES);
    d.sample(GETFAIR_NUM_ENTRIES, rng, &mut sample);
    if sample.is_empty() {
        return d.random_entry(rng).map(|(k, _)| k);
    }
    let pick = rng.gen_range(0..sample.len());
    Some(sample[pick].0)
}

/// A member as the two encodings hand it out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Member<'a> {
    Int(i64),
    Bytes(&'a [u8]),
}

impl Member<'_> {
    pub fn to_vec(&self) -> Vec<u8> {
        match self {
            Member::Int(n) => util::i64_bytes(*n),
            Member::Bytes(b) => b.to_vec(),
        }
    }
}

/// The integer a member stands for when it is the canonical decimal form of an i64 (Redis'
/// `string2ll` acceptance), which is what lets it live in an intset.
fn as_int(m: &[u8]) -> Option<i64> {
    if m.len() > 20 {
        return None;
    }
    util::parse_i64(m)
}

impl SetValue {
    /// An empty set in the encoding suited to its first member (Redis' `setTypeCreate`).
    pub fn for_first(member: &[u8]) -> SetValue {
        if as_int(member).is_some() {
            SetValue::Intset(IntSet::new())
        } else {
            SetValue::Hashtable(Dict::new())
        }
    }

    pub fn encoding_name(&self) -> &'static str {
        match self {
            SetValue::Intset(_) => "intset",
            SetValue::Hashtable(_) => "hashtable",
        }
    }

    pub fn len(&self) -> usize {
        match self {
            SetValue::Intset(s) => s.len(),
            SetValue::Hashtable(d) => d.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Rewrites an intset as a hashtable.
    fn convert(&mut self) {
        if let SetValue::Intset(s) = self {
            let mut d = Dict::new();
            for v in s.iter() {
                d.insert_new(util::i64_bytes(v).into_boxed_slice(), ());
            }
            *self = SetValue::Hashtable(d);
        }
    }

    /// Adds a member; false when already present. `max_intset` is `set-max-intset-entries`.
    pub fn add(&mut self, member: &[u8], max_intset: i64) -> bool {
        if let SetValue::Intset(s) = self {
            match as_int(member) {
                Some(v) => {
                    if !s.insert(v) {
                        return false;
                    }
                    if s.len() as i64 > max_intset {
                        self.convert();
                    }
                    return true;
                }
                None => self.convert(),
            }
        }
        match self {
            SetValue::Hashtable(d) => {
                if d.contains_key(member) {
                    false
                } else {
                    d.insert_new(member.to_vec().into_boxed_slice(), ());
                    true
                }
            }
            SetValue::Intset(_) => unreachable!("converted above"),
        }
    }

    /// Removes a member; false when absent. A hashtable shrinks when it became sparse, as
    /// Redis resizes it after each removal.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match self {
            SetValue::Intset(s) => as_int(member).is_some_and(|v| s.remove(v)),
            SetValue::Hashtable(d) => {
                let removed = d.remove(member).is_some();
                if removed && d.needs_shrink() {
                    d.shrink_to_fit();
                }
                removed
            }
        }
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        match self {
            SetValue::Intset(s) => as_int(member).is_some_and(|v| s.contains(v)),
            SetValue::Hashtable(d) => d.contains_key(member),
        }
    }

    /// Membership of a member given in either form.
    pub fn contains_member(&self, m: &Member) -> bool {
        match (self, m) {
            (SetValue::Intset(s), Member::Int(v)) => s.contains(*v),
            (_, Member::Bytes(b)) => self.contains(b),
            (SetValue::Hashtable(_), Member::Int(v)) => self.contains(&util::i64_bytes(*v)),
        }
    }

    /// Every member, in the encoding's order (ascending for intsets, table order otherwise).
    pub fn members(&self) -> Vec<Member<'_>> {
        match self {
            SetValue::Intset(s) => s.iter().map(Member::Int).collect(),
            SetValue::Hashtable(d) => d.iter().map(|(k, _)| Member::Bytes(&k[..])).collect(),
        }
    }

    /// Every member as bytes, in the encoding's order.
    pub fn member_bytes(&self) -> Vec<Vec<u8>> {
        self.members().iter().map(Member::to_vec).collect()
    }

    /// A random member (Redis' `setTypeRandomElement`); None when empty. Like Redis'
    /// sampling, each draw also moves a rehash along (one step per sampled entry), so a set
    /// that is only read still finishes its rehash.
    pub fn random(&mut self, rng: &mut impl rand::Rng) -> Option<Member<'_>> {
        if let SetValue::Hashtable(d) = self {
            d.rehash(GETFAIR_NUM_ENTRIES);
        }
        match self {
            SetValue::Intset(s) => s.random(rng).map(Member::Int),
            SetValue::Hashtable(d) => fair_random(d, rng).map(|k| Member::Bytes(&k[..])),
        }
    }

    /// A deep copy in the same encoding (Redis' `setTypeDup`).
    pub fn duplicate(&self) -> SetValue {
        match self {
            SetValue::Intset(s) => SetValue::Intset(s.clone()),
            SetValue::Hashtable(d) => {
                let mut n = Dict::new();
                for (k, _) in d.iter() {
                    n.insert_new(k.clone(), ());
                }
                SetValue::Hashtable(n)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_on_string_member_and_on_size() {
        let mut s = SetValue::for_first(b"1");
        assert!(s.add(b"1", 3));
        assert!(!s.add(b"1", 3));
        assert!(s.add(b"2", 3));
        assert!(s.add(b"3", 3));
        assert_eq!(s.encoding_name(), "intset");
        assert!(s.add(b"4", 3));
        assert_eq!(s.encoding_name(), "hashtable");
        assert!(s.contains(b"4") && s.contains(b"1"));

        let mut t = SetValue::for_first(b"1");
        t.add(b"1", 512);
        // Not canonical: " 1" and "01" are strings.
        assert!(t.add(b"01", 512));
        assert_eq!(t.encoding_name(), "hashtable");
        assert_eq!(t.len(), 2);
        assert!(t.remove(b"01"));
        assert!(!t.remove(b"01"));
        assert_eq!(SetValue::for_first(b"a").encoding_name(), "hashtable");
    }
}
