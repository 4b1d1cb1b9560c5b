//! Hash values and their two encodings, as Redis 7.0 keeps them (t_hash.c):
//! - `listpack`: field, value, field, value, ... in one listpack, byte for byte Redis' layout
//!   (so RDB and DUMP can copy it as a blob), while there are at most
//!   `hash-max-listpack-entries` fields and no field or value is longer than
//!   `hash-max-listpack-value` bytes;
//! - `hashtable`: anything else, in a Redis-style dict (so HSCAN keeps SCAN's guarantees) of
//!   [`HashEntry`], each holding a field and its value in one allocation.
//!
//! A hash only ever converts from listpack to hashtable, never back, exactly as Redis does;
//! `OBJECT ENCODING` shows the difference, and the reply order of HGETALL & co. follows it
//! (insertion order for a listpack, table order for a hashtable).

pub mod entry;

use crate::db::dict::{self, Dict};
use crate::types::listpack::{self, Entry, Listpack};
use crate::types::set::fair_random;
pub use entry::HashEntry;
use rand::Rng;

pub enum HashValue {
    Listpack(Listpack),
    /// Boxed: a dict's header is over a hundred bytes, and the keyspace boxes a `HashValue`
    /// (see `Value`), so its size is what every small listpack hash pays on top of its bytes.
    Hashtable(Box<Dict<HashEntry, ()>>),
}

impl std::fmt::Debug for HashValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Hash({}, {} fields)", self.encoding_name(), self.len())
    }
}

impl Default for HashValue {
    fn default() -> Self {
        HashValue::new()
    }
}

/// The two conversion thresholds (`hash-max-listpack-entries`, `hash-max-listpack-value`).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_entries: usize,
    pub max_value: usize,
}

impl Limits {
    pub fn from_config(cfg: &crate::config::Config) -> Limits {
        Limits {
            max_entries: cfg.hash_max_listpack_entries.max(0) as usize,
            max_value: cfg.hash_max_listpack_value.max(0) as usize,
        }
    }
}

/// The bytes of an element, rendering an integer into `buf`.
pub fn entry_bytes<'a>(e: Entry<'a>, buf: &'a mut itoa::Buffer) -> &'a [u8] {
    match e {
        Entry::Int(v) => buf.format(v).as_bytes(),
        Entry::Str(s) => s,
    }
}

/// Field/value pairs in the encoding's order.
pub enum Iter<'a> {
    Listpack(listpack::Iter<'a>),
    Hashtable(dict::Iter<'a, HashEntry, ()>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = (Entry<'a>, Entry<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Iter::Listpack(it) => {
                let f = it.next()?;
                let v = it.next().expect("a hash field is followed by its value");
                Some((f, v))
            }
            Iter::Hashtable(it) => {
                let (e, _) = it.next()?;
                Some((Entry::Str(e.field()), Entry::Str(e.value())))
            }
        }
    }
}

impl HashValue {
    /// A new hash: always a listpack at first (Redis' `createHashObject`).
    pub fn new() -> HashValue {
        HashValue::Listpack(Listpack::new())
    }

    pub fn encoding_name(&self) -> &'static str {
        match self {
            HashValue::Listpack(_) => "listpack",
            HashValue::Hashtable(_) => "hashtable",
        }
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        match self {
            HashValue::Listpack(lp) => lp.len() / 2,
            HashValue::Hashtable(d) => d.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The listpack position of `field`'s value.
    fn lp_find_value(lp: &Listpack, field: &[u8]) -> Option<listpack::Pos> {
        let f = lp.find(lp.first()?, field, 1)?;
        Some(lp.next(f).expect("a hash field is followed by its value"))
    }

    /// The value of `field`. Mutable because a hashtable lookup moves one bucket of a rehash in
    /// progress, as Redis' `dictFind` does: the table sizes MEMORY USAGE and DEBUG HTSTATS-KEY
    /// see then evolve as in Redis.
    pub fn get(&mut self, field: &[u8]) -> Option<Entry<'_>> {
        match self {
            HashValue::Listpack(lp) => Self::lp_find_value(lp, field).map(|p| lp.get(p)),
            HashValue::Hashtable(d) => d.get_key_mut(field).map(|e| Entry::Str(e.value())),
        }
    }

    pub fn contains(&mut self, field: &[u8]) -> bool {
        self.get(field).is_some()
    }

    /// The length of `field`'s value as a string (HSTRLEN), 0 when absent.
    pub fn value_len(&mut self, field: &[u8]) -> usize {
        match self.get(field) {
            None => 0,
            Some(Entry::Str(s)) => s.len(),
            Some(Entry::Int(v)) => itoa::Buffer::new().format(v).len(),
        }
    }

    /// Converts a listpack before writing `args` (fields and values) if one of them is too
    /// long for it, or if they could push it past the listpack size limit (Redis'
    /// `hashTypeTryConversion`).
    pub fn try_conversion(&mut self, args: &[Vec<u8>], limits: Limits) {
        let HashValue::Listpack(lp) = self else {
            return;
        };
        let mut sum = 0usize;
        for a in args {
            if a.len() > limits.max_value {
                self.convert();
                return;
            }
            sum += a.len();
        }
        if !lp.safe_to_add(sum) {
            self.convert();
        }
    }

    /// Sets `field` to `value`; true when the field existed (an update). A listpack converts
    /// first when either is too long for it (the check HINCRBY* relies on) and afterwards when
    /// it got too many fields (Redis' `hashTypeSet`).
    pub fn set(&mut self, field: &[u8], value: &[u8], limits: Limits) -> bool {
        if matches!(self, HashValue::Listpack(_))
            && (field.len() > limits.max_value || value.len() > limits.max_value)
        {
            self.convert();
        }
        match self {
            HashValue::Listpack(lp) => {
                let update = match Self::lp_find_value(lp, field) {
                    Some(vp) => {
                        lp.replace(vp, value);
                        true
                    }
                    None => {
                        lp.append(field);
                        lp.append(value);
                        false
                    }
                };
                if lp.len() / 2 > limits.max_entries {
                    self.convert();
                }
                update
            }
            HashValue::Hashtable(d) => {
                if let Some(e) = d.get_key_mut(field) {
                    e.set_value(value);
                    return true;
                }
                d.insert_new(HashEntry::new(field, value), ());
                false
            }
        }
    }

    /// Removes `field`; false when absent. A hashtable shrinks when it became sparse, as Redis
    /// resizes it after each deletion.
    pub fn delete(&mut self, field: &[u8]) -> bool {
        match self {
            HashValue::Listpack(lp) => match lp.first().and_then(|p| lp.find(p, field, 1)) {
                Some(f) => {
                    lp.delete_range(f, 2);
                    true
                }
                None => false,
            },
            HashValue::Hashtable(d) => {
                let removed = d.remove(field).is_some();
                if removed && d.needs_shrink() {
                    d.shrink_to_fit();
                }
                removed
            }
        }
    }

    /// Field/value pairs, in the encoding's order.
    pub fn iter(&self) -> Iter<'_> {
        match self {
            HashValue::Listpack(lp) => Iter::Listpack(lp.iter()),
            HashValue::Hashtable(d) => Iter::Hashtable(d.iter()),
        }
    }

    /// Rewrites a listpack as a hashtable sized for its fields.
    pub fn convert(&mut self) {
        let HashValue::Listpack(lp) = self else {
            return;
        };
        let mut d: Box<Dict<HashEntry, ()>> = Box::default();
        d.expand(lp.len() / 2);
        let (mut fb, mut vb) = (itoa::Buffer::new(), itoa::Buffer::new());
        for (f, v) in Iter::Listpack(lp.iter()) {
            let e = HashEntry::new(entry_bytes(f, &mut fb), entry_bytes(v, &mut vb));
            d.insert_new(e, ());
        }
        *self = HashValue::Hashtable(d);
    }

    /// A random field and its value; None when empty (Redis' `hashTypeRandomElement`).
    pub fn random_pair(&self, rng: &mut impl Rng) -> Option<(Entry<'_>, Entry<'_>)> {
        match self {
            HashValue::Listpack(lp) => {
                let n = lp.len() / 2;
                if n == 0 {
                    return None;
                }
                let f = lp.seek(rng.gen_range(0..n) as i64 * 2)?;
                let v = lp.next(f).expect("a hash field is followed by its value");
                Some((lp.get(f), lp.get(v)))
            }
            HashValue::Hashtable(d) => {
                fair_random(d, rng).map(|e| (Entry::Str(e.field()), Entry::Str(e.value())))
            }
        }
    }

    /// `count` random pairs of a listpack hash, repetitions allowed, in random order (Redis'
    /// `lpRandomPairs`: the indexes are drawn first, then fetched in one walk). Empty for a
    /// hashtable or an empty hash.
    pub fn random_pairs_listpack(
        &self,
        count: usize,
        rng: &mut impl Rng,
    ) -> Vec<(Entry<'_>, Entry<'_>)> {
        let HashValue::Listpack(lp) = self else {
            return Vec::new();
        };
        let n = lp.len() / 2;
        if n == 0 || count == 0 {
            return Vec::new();
        }
        // (pair index, position in the output)
        let mut picks: Vec<(usize, usize)> = (0..count).map(|i| (rng.gen_range(0..n), i)).collect();
        picks.sort_unstable();
        let mut out: Vec<Option<(Entry<'_>, Entry<'_>)>> = vec![None; count];
        let mut it = Iter::Listpack(lp.iter()).enumerate();
        let mut cur = it.next();
        for (idx, order) in picks {
            while let Some((i, _)) = cur {
                if i == idx {
                    break;
                }
                cur = it.next();
            }
            let (_, pair) = cur.expect("picked index is in range");
            out[order] = Some(pair);
        }
        out.into_iter()
            .map(|p| p.expect("every slot filled"))
            .collect()
    }

    /// Up to `count` distinct random pairs of a listpack hash in one walk, in listpack order
    /// (Redis' `lpRandomPairsUnique`: each pair is taken with probability "still wanted /
    /// still unvisited"). Empty for a hashtable.
    pub fn random_pairs_unique_listpack(
        &self,
        count: usize,
        rng: &mut impl Rng,
    ) -> Vec<(Entry<'_>, Entry<'_>)> {
        let HashValue::Listpack(lp) = self else {
            return Vec::new();
        };
        let total = lp.len() / 2;
        let count = count.min(total);
        let mut out = Vec::with_capacity(count);
        for (index, pair) in Iter::Listpack(lp.iter()).enumerate() {
            if out.len() >= count {
                break;
            }
            let remaining = count - out.len();
            let threshold = remaining as f64 / (total - index) as f64;
            if rng.gen::<f64>() <= threshold {
                out.push(pair);
            }
        }
        out
    }

    /// A deep copy in the same encoding (Redis' `hashTypeDup`).
    pub fn duplicate(&self) -> HashValue {
        match self {
            HashValue::Listpack(lp) => HashValue::Listpack(lp.clone()),
            HashValue::Hashtable(d) => {
                let mut n: Box<Dict<HashEntry, ()>> = Box::default();
                n.expand(d.len());
                for (e, _) in d.iter() {
                    n.insert_new(HashEntry::new(e.field(), e.value()), ());
                }
                HashValue::Hashtable(n)
            }
        }
    }
}

#[cfg(test)]
mod tests;
