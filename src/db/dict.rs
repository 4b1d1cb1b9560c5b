//! A hash table that behaves like Redis' `dict`: used for the keyspace, the expires table, and
//! (later) large hashes and sets.
//!
//! ```text
//!   tables[0]: [b0][b1][b2][b3]        size = power of two, mask = size - 1
//!                |       |
//!              node -> node           chained buckets, new nodes at the head
//!   tables[1]: used only while rehashing, twice (or a fraction of) the size of tables[0]
//! ```
//! Growing or shrinking allocates `tables[1]` and moves buckets over a few at a time
//! (`rehash_idx` marks progress): each lookup/insert/delete moves one bucket, and the server
//! cron spends up to 1 ms per database on it. No single operation pays for the whole table.
//!
//! `scan` walks bucket indices in reverse-binary order (incrementing the high bits first). That
//! order makes a cursor stay valid when the table grows or shrinks between calls: every element
//! present for the whole scan is returned at least once, though some may come twice.

use std::borrow::Borrow;
use std::hash::Hash;

/// Keys are hashed with aHash under per-dict random keys: like Redis' seeded SipHash it resists
/// hash-flooding from client-chosen keys, and it is several times cheaper per lookup.
type RandomState = ahash::RandomState;

struct Node<K, V> {
    key: K,
    val: V,
    next: Option<Box<Node<K, V>>>,
}

struct Table<K, V> {
    buckets: Vec<Option<Box<Node<K, V>>>>,
    used: usize,
}

impl<K, V> Table<K, V> {
    fn empty() -> Self {
        Table {
            buckets: Vec::new(),
            used: 0,
        }
    }
    fn with_size(size: usize) -> Self {
        let mut buckets = Vec::with_capacity(size);
        buckets.resize_with(size, || None);
        Table { buckets, used: 0 }
    }
    #[inline]
    fn mask(&self) -> u64 {
        (self.buckets.len() as u64).wrapping_sub(1)
    }
}

const INITIAL_SIZE: usize = 4;
/// Grow even when resizing is discouraged (a fork is running) once elements/buckets exceeds this.
const FORCE_RESIZE_RATIO: usize = 5;
/// Shrink when fewer than 1 in this many buckets is used.
pub const MIN_FILL_PERCENT: usize = 10;

/// Set while a forked child writes a snapshot: every dict then avoids resizing and rehashing
/// (which would touch, and so copy, shared pages) unless its table is badly out of proportion.
/// Process-wide like Redis' `dict_can_resize`, since the child shares every dict's pages, not
/// only the keyspace's.
static RESIZE_AVOID: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Discourages (true) or allows (false) resizing of all dicts.
pub fn set_resize_avoid(avoid: bool) {
    RESIZE_AVOID.store(avoid, std::sync::atomic::Ordering::Relaxed);
}

#[inline]
fn resize_avoided() -> bool {
    RESIZE_AVOID.load(std::sync::atomic::Ordering::Relaxed)
}

pub struct Dict<K, V> {
    tables: [Table<K, V>; 2],
    /// Next bucket of tables[0] to move, or None when not rehashing.
    rehash_idx: Option<usize>,
    hasher: RandomState,
    /// Asked before growing at a normal load factor, with the bytes the new table would take,
    /// the current load factor and `memory_limit` (Redis' `dictType.expandAllowed`): the
    /// keyspace refuses growth that would push memory over `maxmemory`, which would only make
    /// the next command evict keys.
    pub expand_allowed: Option<fn(usize, f64, usize) -> bool>,
    /// The memory limit handed to `expand_allowed` (the keyspace keeps it equal to `maxmemory`;
    /// 0 means none).
    pub memory_limit: usize,
}

impl<K: Hash + Eq, V> Default for Dict<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Hash + Eq, V> Dict<K, V> {
    pub fn new() -> Self {
        Dict {
            tables: [Table::empty(), Table::empty()],
            rehash_idx: None,
            hasher: RandomState::new(),
            expand_allowed: None,
            memory_limit: 0,
        }
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.tables[0].used + self.tables[1].used
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Total buckets over both tables.
    pub fn buckets(&self) -> usize {
        self.tables[0].buckets.len() + self.tables[1].buckets.len()
    }

    pub fn is_rehashing(&self) -> bool {
        self.rehash_idx.is_some()
    }

    #[inline]
    fn hash<Q: Hash + ?Sized>(&self, k: &Q) -> u64 {
        self.hasher.hash_one(k)
    }

    /// Moves up to `n` buckets from the old table to the new one (visiting at most 10*n empty
    /// buckets). Returns true while there is more to move.
    pub fn rehash(&mut self, n: usize) -> bool {
        let Some(mut idx) = self.rehash_idx else {
            return false;
        };
        if resize_avoided() {
            // Only a table far off its target size keeps rehashing while a child runs.
            let (s0, s1) = (self.tables[0].buckets.len(), self.tables[1].buckets.len());
            let ratio = if s1 > s0 {
                s1 / s0.max(1)
            } else {
                s0 / s1.max(1)
            };
            if ratio < FORCE_RESIZE_RATIO {
                return true;
            }
        }
        let mut empty_visits = n * 10;
        let mut left = n;
        while left > 0 && self.tables[0].used != 0 {
            while self.tables[0].buckets[idx].is_none() {
                idx += 1;
                empty_visits -= 1;
                if empty_visits == 0 {
                    self.rehash_idx = Some(idx);
                    return true;
                }
            }
            let mut chain = self.tables[0].buckets[idx].take();
            while let Some(mut node) = chain {
                chain = node.next.take();
                let h = self.hasher.hash_one(&node.key);
                let slot = (h & self.tables[1].mask()) as usize;
                node.next = self.tables[1].buckets[slot].take();
                self.tables[1].buckets[slot] = Some(node);
                self.tables[0].used -= 1;
                self.tables[1].used += 1;
            }
            idx += 1;
            left -= 1;
        }
        if self.tables[0].used == 0 {
            self.tables[0] = std::mem::replace(&mut self.tables[1], Table::empty());
            self.rehash_idx = None;
            return false;
        }
        self.rehash_idx = Some(idx);
        true
    }

    /// Rehashes in steps of 100 buckets for about `ms` milliseconds. Returns the steps done.
    pub fn rehash_for_ms(&mut self, ms: u64) -> usize {
        let start = std::time::Instant::now();
        let mut steps = 0;
        while self.rehash(100) {
            steps += 100;
            if start.elapsed().as_millis() as u64 >= ms {
                break;
            }
        }
        steps
    }

    #[inline]
    fn rehash_step(&mut self) {
        if self.rehash_idx.is_some() {
            self.rehash(1);
        }
    }

    fn expand_if_needed(&mut self) {
        if self.rehash_idx.is_some() {
            return;
        }
        let size = self.tables[0].buckets.len();
        if size == 0 {
            self.tables[0] = Table::with_size(INITIAL_SIZE);
            return;
        }
        let used = self.tables[0].used;
        if used >= size
            && (!resize_avoided() || used / size > FORCE_RESIZE_RATIO)
            && self.expand_allowed.is_none_or(|allowed| {
                let next = (used + 1).max(INITIAL_SIZE).next_power_of_two();
                allowed(
                    next * std::mem::size_of::<Option<Box<Node<K, V>>>>(),
                    used as f64 / size as f64,
                    self.memory_limit,
                )
            })
        {
            self.resize_to(used + 1);
        }
    }

    /// Starts rehashing into a table of the smallest power of two >= `min` (at least 4).
    fn resize_to(&mut self, min: usize) {
        let size = min.max(INITIAL_SIZE).next_power_of_two();
        if size == self.tables[0].buckets.len() || self.rehash_idx.is_some() {
            return;
        }
        if self.tables[0].buckets.is_empty() {
            self.tables[0] = Table::with_size(size);
            return;
        }
        self.tables[1] = Table::with_size(size);
        self.rehash_idx = Some(0);
    }

    /// True when the table is mostly empty and worth shrinking (Redis' `htNeedsResize`).
    pub fn needs_shrink(&self) -> bool {
        let size = self.buckets();
        let used = self.len();
        size > INITIAL_SIZE && used * 100 / size < MIN_FILL_PERCENT
    }

    /// Shrinks to fit the current element count (starts an incremental rehash).
    pub fn shrink_to_fit(&mut self) {
        if resize_avoided() || self.rehash_idx.is_some() {
            return;
        }
        self.resize_to(self.tables[0].used.max(INITIAL_SIZE));
    }

    fn find<Q>(&self, k: &Q, h: u64) -> Option<&Node<K, V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        for t in 0..2 {
            let table = &self.tables[t];
            if table.buckets.is_empty() {
                continue;
            }
            let mut cur = table.buckets[(h & table.mask()) as usize].as_deref();
            while let Some(n) = cur {
                if n.key.borrow() == k {
                    return Some(n);
                }
                cur = n.next.as_deref();
            }
            if self.rehash_idx.is_none() {
                break;
            }
        }
        None
    }

    fn chain_contains<Q>(&self, t: usize, k: &Q, h: u64) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let table = &self.tables[t];
        if table.buckets.is_empty() {
            return false;
        }
        let mut cur = table.buckets[(h & table.mask()) as usize].as_deref();
        while let Some(n) = cur {
            if n.key.borrow() == k {
                return true;
            }
            cur = n.next.as_deref();
        }
        false
    }

    fn find_mut<Q>(&mut self, k: &Q, h: u64) -> Option<&mut Node<K, V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        // While rehashing a key may be in either table: probe the old one first (immutably), then
        // walk the one that holds it mutably.
        let t = if self.rehash_idx.is_some() && !self.chain_contains(0, k, h) {
            1
        } else {
            0
        };
        let table = &mut self.tables[t];
        if table.buckets.is_empty() {
            return None;
        }
        let slot = (h & table.mask()) as usize;
        let mut cur = table.buckets[slot].as_deref_mut();
        while let Some(n) = cur {
            if n.key.borrow() == k {
                return Some(n);
            }
            cur = n.next.as_deref_mut();
        }
        None
    }

    /// Looks a key up without moving any bucket (usable through `&self`).
    pub fn get<Q>(&self, k: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if self.is_empty() {
            return None;
        }
        self.find(k, self.hash(k)).map(|n| &n.val)
    }

    pub fn get_key_value<Q>(&self, k: &Q) -> Option<(&K, &V)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if self.is_empty() {
            return None;
        }
        self.find(k, self.hash(k)).map(|n| (&n.key, &n.val))
    }

    pub fn contains_key<Q>(&self, k: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.get(k).is_some()
    }

    pub fn get_mut<Q>(&mut self, k: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if self.is_empty() {
            return None;
        }
        self.rehash_step();
        let h = self.hash(k);
        self.find_mut(k, h).map(|n| &mut n.val)
    }

    /// The stored key equal to `k`, mutably: for keys that carry data beside the part they hash
    /// and compare by (a hash field stored together with its value). The caller must leave that
    /// part unchanged, or the key would no longer be found in its bucket.
    pub fn get_key_mut<Q>(&mut self, k: &Q) -> Option<&mut K>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if self.is_empty() {
            return None;
        }
        self.rehash_step();
        let h = self.hash(k);
        self.find_mut(k, h).map(|n| &mut n.key)
    }

    /// Sizes an empty dict for `n` elements up front (Redis' `dictExpand`), so filling it
    /// doesn't go through a chain of incremental rehashes.
    pub fn expand(&mut self, n: usize) {
        if self.is_empty() && self.rehash_idx.is_none() {
            self.tables[0] = Table::with_size(n.max(INITIAL_SIZE).next_power_of_two());
        }
    }

    /// Inserts or replaces; returns the previous value.
    pub fn insert(&mut self, k: K, v: V) -> Option<V> {
        self.rehash_step();
        let h = self.hash(&k);
        if let Some(n) = self.find_mut(&k, h) {
            return Some(std::mem::replace(&mut n.val, v));
        }
        self.insert_new_hashed(k, v, h);
        None
    }

    /// Inserts a key known to be absent.
    pub fn insert_new(&mut self, k: K, v: V) {
        self.rehash_step();
        let h = self.hash(&k);
        self.insert_new_hashed(k, v, h);
    }

    fn insert_new_hashed(&mut self, k: K, v: V, h: u64) {
        self.expand_if_needed();
        let t = if self.rehash_idx.is_some() { 1 } else { 0 };
        let table = &mut self.tables[t];
        let slot = (h & table.mask()) as usize;
        let next = table.buckets[slot].take();
        table.buckets[slot] = Some(Box::new(Node {
            key: k,
            val: v,
            next,
        }));
        table.used += 1;
    }

    /// Removes a key, returning it with its value.
    pub fn remove_entry<Q>(&mut self, k: &Q) -> Option<(K, V)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if self.is_empty() {
            return None;
        }
        self.rehash_step();
        let h = self.hash(k);
        let rehashing = self.rehash_idx.is_some();
        for t in 0..2 {
            let table = &mut self.tables[t];
            if table.buckets.is_empty() {
                continue;
            }
            let slot = (h & table.mask()) as usize;
            let mut link = &mut table.buckets[slot];
            loop {
                match link {
                    None => break,
                    Some(n) if n.key.borrow() == k => {
                        let mut node = link.take().unwrap();
                        *link = node.next.take();
                        table.used -= 1;
                        return Some((node.key, node.val));
                    }
                    Some(n) => link = &mut n.next,
                }
            }
            if !rehashing {
                break;
            }
        }
        None
    }

    pub fn remove<Q>(&mut self, k: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.remove_entry(k).map(|(_, v)| v)
    }

    /// Removes everything.
    pub fn clear(&mut self) {
        // Drop chains iteratively: a long chain of boxes dropped recursively could overflow
        // the stack.
        for t in self.tables.iter_mut() {
            for b in t.buckets.iter_mut() {
                let mut chain = b.take();
                while let Some(mut n) = chain {
                    chain = n.next.take();
                }
            }
        }
        self.tables = [Table::empty(), Table::empty()];
        self.rehash_idx = None;
    }

    /// Calls `f` for every element of the buckets at `cursor`, and returns the next cursor
    /// (0 when the scan is complete). See the module comment for the guarantee.
    pub fn scan<F: FnMut(&K, &V)>(&self, cursor: u64, mut f: F) -> u64 {
        if self.is_empty() {
            return 0;
        }
        let mut v = cursor;
        let visit = |t: &Table<K, V>, idx: u64, f: &mut F| {
            let mut cur = t.buckets[(idx & t.mask()) as usize].as_deref();
            while let Some(n) = cur {
                f(&n.key, &n.val);
                cur = n.next.as_deref();
            }
        };
        if self.rehash_idx.is_none() {
            let t0 = &self.tables[0];
            let m0 = t0.mask();
            visit(t0, v, &mut f);
            v |= !m0;
            v = v.reverse_bits().wrapping_add(1).reverse_bits();
        } else {
            let (small, large) = if self.tables[0].buckets.len() <= self.tables[1].buckets.len() {
                (&self.tables[0], &self.tables[1])
            } else {
                (&self.tables[1], &self.tables[0])
            };
            let m0 = small.mask();
            let m1 = large.mask();
            visit(small, v, &mut f);
            // Visit every bucket of the larger table that expands the small table's bucket.
            loop {
                visit(large, v, &mut f);
                v |= !m1;
                v = v.reverse_bits().wrapping_add(1).reverse_bits();
                if v & (m0 ^ m1) == 0 {
                    break;
                }
            }
        }
        v
    }

    /// Iterates over all elements (order unspecified). Does not rehash.
    pub fn iter(&self) -> Iter<'_, K, V> {
        Iter {
            dict: self,
            table: 0,
            bucket: 0,
            node: None,
        }
    }

    /// A random element, chosen by picking a random non-empty bucket and then a random element of
    /// its chain (Redis' `dictGetRandomKey`).
    pub fn random_entry(&self, rng: &mut impl rand::Rng) -> Option<(&K, &V)> {
        if self.is_empty() {
            return None;
        }
        let head = loop {
            let (t, idx) = match self.rehash_idx {
                Some(r) => {
                    let s0 = self.tables[0].buckets.len();
                    let total = s0 + self.tables[1].buckets.len();
                    let i = r + rng.gen_range(0..(total - r));
                    if i >= s0 {
                        (1, i - s0)
                    } else {
                        (0, i)
                    }
                }
                None => (0, rng.gen_range(0..self.tables[0].buckets.len())),
            };
            if let Some(n) = self.tables[t].buckets[idx].as_deref() {
                break n;
            }
        };
        let mut len = 0;
        let mut cur = Some(head);
        while let Some(n) = cur {
            len += 1;
            cur = n.next.as_deref();
        }
        let mut pick = rng.gen_range(0..len);
        let mut cur = head;
        while pick > 0 {
            cur = cur.next.as_deref().unwrap();
            pick -= 1;
        }
        Some((&cur.key, &cur.val))
    }

    /// Up to `count` elements from consecutive buckets starting at a random place (Redis'
    /// `dictGetSomeKeys`): cheap sampling for eviction, active expiry and random members. May
    /// return fewer. A chain is always read to its end, keeping a uniform sample of it
    /// (reservoir sampling), so members deep in a long chain can still be picked.
    pub fn sample<'a>(
        &'a self,
        count: usize,
        rng: &mut impl rand::Rng,
        out: &mut Vec<(&'a K, &'a V)>,
    ) {
        out.clear();
        if self.is_empty() || count == 0 {
            return;
        }
        let count = count.min(self.len());
        let tables = if self.rehash_idx.is_some() { 2 } else { 1 };
        let maxsize = self.tables[0]
            .buckets
            .len()
            .max(self.tables[1].buckets.len()) as u64;
        let mut i = rng.gen::<u64>() & (maxsize - 1);
        let mut empty_run = 0;
        let mut stored = 0usize;
        let mut steps = count * 10;
        while out.len() < count && steps > 0 {
            steps -= 1;
            for t in 0..tables {
                let table = &self.tables[t];
                if (i as usize) >= table.buckets.len() {
                    continue;
                }
                if t == 0 {
                    if let Some(r) = self.rehash_idx {
                        if (i as usize) < r {
                            continue;
                        }
                    }
                }
                match table.buckets[i as usize].as_deref() {
                    None => {
                        empty_run += 1;
                        if empty_run >= 5 && empty_run > count {
                            i = rng.gen::<u64>() & (maxsize - 1);
                            empty_run = 0;
                        }
                    }
                    Some(mut n) => {
                        empty_run = 0;
                        loop {
                            if out.len() < count {
                                out.push((&n.key, &n.val));
                            } else {
                                let r = rng.gen_range(0..=stored);
                                if r < count {
                                    out[r] = (&n.key, &n.val);
                                }
                            }
                            stored += 1;
                            match n.next.as_deref() {
                                Some(next) => n = next,
                                None => break,
                            }
                        }
                        if out.len() >= count {
                            return;
                        }
                    }
                }
            }
            i = (i + 1) & (maxsize - 1);
        }
    }

    /// Chain-length statistics for DEBUG HTSTATS: (table size, used, max chain, histogram of
    /// chain lengths 0..=49 with the last slot counting longer ones).
    pub fn stats(&self, table: usize) -> Option<(usize, usize, usize, [usize; 50])> {
        let t = &self.tables[table];
        if t.buckets.is_empty() {
            return None;
        }
        let mut hist = [0usize; 50];
        let mut max = 0;
        for b in &t.buckets {
            let mut len = 0;
            let mut cur = b.as_deref();
            while let Some(n) = cur {
                len += 1;
                cur = n.next.as_deref();
            }
            max = max.max(len);
            hist[len.min(49)] += 1;
        }
        Some((t.buckets.len(), t.used, max, hist))
    }
}

impl<K, V> Drop for Dict<K, V> {
    fn drop(&mut self) {
        for t in self.tables.iter_mut() {
            for b in t.buckets.iter_mut() {
                let mut chain = b.take();
                while let Some(mut n) = chain {
                    chain = n.next.take();
                }
            }
        }
    }
}

pub struct Iter<'a, K, V> {
    dict: &'a Dict<K, V>,
    table: usize,
    bucket: usize,
    node: Option<&'a Node<K, V>>,
}

impl<'a, K, V> Iterator for Iter<'a, K, V> {
    type Item = (&'a K, &'a V);
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(n) = self.node {
                self.node = n.next.as_deref();
                return Some((&n.key, &n.val));
            }
            if self.table > 1 {
                return None;
            }
            let t = &self.dict.tables[self.table];
            if self.bucket >= t.buckets.len() {
                self.table += 1;
                self.bucket = 0;
                continue;
            }
            self.node = t.buckets[self.bucket].as_deref();
            self.bucket += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::{HashMap, HashSet};

    #[test]
    fn insert_get_remove() {
        let mut d: Dict<Vec<u8>, i32> = Dict::new();
        for i in 0..1000 {
            d.insert(format!("k{i}").into_bytes(), i);
        }
        assert_eq!(d.len(), 1000);
        assert_eq!(d.get(&b"k500"[..]), Some(&500));
        assert_eq!(d.remove(&b"k500"[..]), Some(500));
        assert_eq!(d.get(&b"k500"[..]), None);
        assert_eq!(d.len(), 999);
    }

    #[test]
    fn scan_returns_every_element_present_throughout_even_across_resizes() {
        let mut d: Dict<u64, ()> = Dict::new();
        for i in 0..500 {
            d.insert(i, ());
        }
        let mut seen = HashSet::new();
        let mut cursor = 0;
        let mut round = 0;
        loop {
            cursor = d.scan(cursor, |k, _| {
                seen.insert(*k);
            });
            // Grow, then shrink, the table while the scan is in progress.
            round += 1;
            if round == 3 {
                for i in 1000..3000 {
                    d.insert(i, ());
                }
            }
            if round == 6 {
                for i in 1000..3000 {
                    d.remove(&i);
                }
                d.shrink_to_fit();
            }
            d.rehash(3);
            if cursor == 0 {
                break;
            }
        }
        for i in 0..500 {
            assert!(seen.contains(&i), "missing {i}");
        }
    }

    proptest! {
        #[test]
        fn behaves_like_hashmap(ops in proptest::collection::vec((0u8..3, 0u16..200), 0..2000)) {
            let mut d: Dict<u16, u16> = Dict::new();
            let mut m: HashMap<u16, u16> = HashMap::new();
            for (op, k) in ops {
                match op {
                    0 => { prop_assert_eq!(d.insert(k, k ^ 7), m.insert(k, k ^ 7)); }
                    1 => { prop_assert_eq!(d.remove(&k), m.remove(&k)); }
                    _ => {
                        if d.needs_shrink() { d.shrink_to_fit(); }
                        prop_assert_eq!(d.get(&k), m.get(&k));
                    }
                }
                prop_assert_eq!(d.len(), m.len());
            }
            let mut all: Vec<_> = d.iter().map(|(k, v)| (*k, *v)).collect();
            all.sort();
            let mut want: Vec<_> = m.into_iter().collect();
            want.sort();
            prop_assert_eq!(all, want);
        }
    }
}
