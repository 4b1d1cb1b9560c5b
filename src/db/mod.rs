//! The keyspace: numbered databases, each a dict of keys to values plus a dict of expire times,
//! and the operations every command uses to read and write keys. Lazy expiry, keyspace-miss
//! statistics, WATCH invalidation and propagation of deletions all happen here, so individual
//! commands can't forget them.

pub mod dict;

use crate::server::Server;
use crate::types::{Obj, Value};
pub use dict::Dict;

pub type Key = Box<[u8]>;

/// The main dict of a database. Reading goes through `Deref`; the mutations that could free or
/// replace a key's bytes (remove, clear, insert) are only reachable inside this module, because
/// the expires dict borrows those bytes (see [`KeyRef`]) and every removal must drop the
/// expire entry first.
pub struct Keyspace {
    dict: Dict<Key, Obj>,
    /// Unique for the life of the process: a keyspace moved to another database (SWAPDB) or
    /// replaced by a fresh one (FLUSHDB ASYNC, loading) is told apart by its id.
    id: u64,
    /// Bumped whenever keys leave this dict (removal or clear).
    removals: u64,
    /// In cluster mode: the keys of each hash slot (CLUSTER COUNTKEYSINSLOT/GETKEYSINSLOT,
    /// resharding), created with the first key.
    slots: Option<Box<SlotIndex>>,
}

/// Whether keyspaces keep a per-slot index of their keys (set once, at cluster start-up).
static SLOT_INDEX: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Makes every keyspace index its keys by hash slot (cluster mode).
pub fn enable_slot_index() {
    SLOT_INDEX.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// The keys of each hash slot, as borrows of the main dict's keys (see [`KeyRef`]: an entry
/// is removed before its key leaves the dict).
pub struct SlotIndex {
    by_slot: Vec<std::collections::HashSet<KeyRef, ahash::RandomState>>,
}

impl SlotIndex {
    fn new() -> SlotIndex {
        SlotIndex {
            by_slot: (0..crate::cluster::msg::SLOTS)
                .map(|_| std::collections::HashSet::with_hasher(ahash::RandomState::new()))
                .collect(),
        }
    }
}

/// Where a keyspace stands: while its stamp is unchanged, no object of that keyspace was
/// freed, so a pointer to one of its objects is still valid. Key nodes are boxed, so
/// rehashing and inserting other keys never move an object; overwriting a value replaces it
/// in place. Module key handles use this to find their value again without a lookup.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct KeyspaceStamp {
    id: u64,
    removals: u64,
}

impl std::ops::Deref for Keyspace {
    type Target = Dict<Key, Obj>;
    fn deref(&self) -> &Dict<Key, Obj> {
        &self.dict
    }
}

impl Keyspace {
    fn new(dict: Dict<Key, Obj>) -> Keyspace {
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        Keyspace {
            dict,
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            removals: 0,
            slots: None,
        }
    }
    /// Adds a key that must not exist.
    fn insert_new(&mut self, key: Key, obj: Obj) {
        if SLOT_INDEX.load(std::sync::atomic::Ordering::Relaxed) {
            let slot = crate::cluster::key_hash_slot(&key);
            let kref = KeyRef::of(&key);
            self.slots
                .get_or_insert_with(|| Box::new(SlotIndex::new()))
                .by_slot[slot]
                .insert(kref);
        }
        self.dict.insert_new(key, obj);
    }
    /// How many keys hash to a slot (0 outside cluster mode).
    pub fn keys_in_slot(&self, slot: usize) -> usize {
        self.slots.as_ref().map_or(0, |s| s.by_slot[slot].len())
    }
    /// Up to `max` keys of a slot.
    pub fn keys_in_slot_list(&self, slot: usize, max: usize) -> Vec<Vec<u8>> {
        self.slots.as_ref().map_or_else(Vec::new, |s| {
            s.by_slot[slot]
                .iter()
                .take(max)
                .map(|k| k.as_bytes().to_vec())
                .collect()
        })
    }
    pub fn stamp(&self) -> KeyspaceStamp {
        KeyspaceStamp {
            id: self.id,
            removals: self.removals,
        }
    }
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut Obj> {
        self.dict.get_mut(key)
    }
    fn remove(&mut self, key: &[u8]) -> Option<Obj> {
        // The index borrows the key's bytes: its entry goes first.
        if let Some(s) = self.slots.as_mut() {
            s.by_slot[crate::cluster::key_hash_slot(key)].remove(key);
        }
        let removed = self.dict.remove(key);
        if removed.is_some() {
            self.removals += 1;
        }
        removed
    }
    fn clear(&mut self) {
        self.slots = None;
        self.dict.clear();
        self.removals += 1;
    }
    /// Incremental rehashing and shrinking (server cron): keys move between tables, but the
    /// bytes a `Key` box owns stay where they are.
    pub fn rehash_for_ms(&mut self, ms: u64) -> usize {
        self.dict.rehash_for_ms(ms)
    }
    pub fn shrink_to_fit(&mut self) {
        self.dict.shrink_to_fit()
    }
    /// Sizes an empty keyspace for `n` keys (RDB loading's RESIZEDB hint).
    pub fn expand(&mut self, n: usize) {
        self.dict.expand(n)
    }
    pub fn set_memory_limit(&mut self, limit: usize) {
        self.dict.memory_limit = limit;
    }
}

/// A key of the expires dict: the bytes of the same key in the main dict, not a copy — as Redis
/// shares the sds between its two dicts. A TTL then costs one 32-byte node and a bucket, like
/// Redis' dictEntry.
///
/// Invariant (kept by the `Db`/`Server` methods of this module, the only code that can remove
/// keys from the main dict): an expires entry exists only while its key is in the main dict,
/// and is removed before that key is. Keys are boxed, so rehashing the main dict moves nodes
/// but never the bytes pointed at.
pub struct KeyRef {
    ptr: *const u8,
    len: usize,
}

// SAFETY: a KeyRef is a shared borrow of bytes owned by the main dict of the same `Db`; both
// dicts always move between threads together (they are fields of one `Db`), like `&[u8]`.
unsafe impl Send for KeyRef {}

impl KeyRef {
    fn of(key: &Key) -> KeyRef {
        KeyRef {
            ptr: key.as_ptr(),
            len: key.len(),
        }
    }
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        // SAFETY: by the invariant above the main dict still owns these `len` bytes, unchanged
        // (keys are immutable), for as long as this entry is in the expires dict.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl std::borrow::Borrow<[u8]> for KeyRef {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl std::ops::Deref for KeyRef {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

// Hash and equality are those of the bytes, so lookups by `&[u8]` find the entry.
impl std::hash::Hash for KeyRef {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.as_bytes().hash(h)
    }
}

impl PartialEq for KeyRef {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for KeyRef {}

pub struct Db {
    pub id: usize,
    pub dict: Keyspace,
    pub expires: Dict<KeyRef, i64>,
    /// Running average TTL of keys sampled by the active expire cycle (INFO keyspace avg_ttl).
    pub avg_ttl: i64,
    /// Where the active expire cycle resumes in `expires`.
    pub expires_cursor: u64,
}

impl Db {
    pub fn new(id: usize) -> Db {
        let mut dict = Dict::new();
        dict.expand_allowed = Some(crate::server::evict::keyspace_expand_allowed);
        let mut expires = Dict::new();
        expires.expand_allowed = dict.expand_allowed;
        Db {
            id,
            dict: Keyspace::new(dict),
            expires,
            avg_ttl: 0,
            expires_cursor: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.dict.len()
    }

    pub fn is_empty(&self) -> bool {
        self.dict.is_empty()
    }

    /// How many keys hash to a slot (cluster mode).
    pub fn keys_in_slot(&self, slot: usize) -> usize {
        self.dict.keys_in_slot(slot)
    }

    /// Up to `max` keys of a slot (cluster mode).
    pub fn keys_in_slot_list(&self, slot: usize, max: usize) -> Vec<Vec<u8>> {
        self.dict.keys_in_slot_list(slot, max)
    }

    /// Removes a key with its expire and returns its object (deletion, MOVE, RENAME).
    pub fn take(&mut self, key: &[u8]) -> Option<Obj> {
        // The expire entry borrows the key's bytes: it goes first.
        self.expires.remove(key);
        self.dict.remove(key)
    }

    /// Adds a key read from an RDB file (Redis' `dbAddRDBLoad`: no keyspace event, no WATCH
    /// signal) with its expire time. An existing key is replaced when `replace`, otherwise
    /// the call returns false and changes nothing.
    pub fn add_loaded(
        &mut self,
        key: Vec<u8>,
        obj: Obj,
        expire: Option<i64>,
        replace: bool,
    ) -> bool {
        if self.dict.contains_key(&key[..]) {
            if !replace {
                return false;
            }
            self.take(&key);
        }
        let key: Key = key.into_boxed_slice();
        let kref = KeyRef::of(&key);
        self.dict.insert_new(key, obj);
        if let Some(when) = expire {
            // The key's bytes now belong to the main dict (boxed: they don't move).
            self.expires.insert(kref, when);
        }
        true
    }

    /// The absolute expire time in ms, or None.
    #[inline]
    pub fn expire_of(&self, key: &[u8]) -> Option<i64> {
        if self.expires.is_empty() {
            return None;
        }
        self.expires.get(key).copied()
    }
}

/// Flags for key lookups (Redis' `LOOKUP_*`).
pub mod lookup {
    /// Don't update the access clock.
    pub const NOTOUCH: u32 = 1 << 0;
    /// Don't raise a keyspace-miss notification.
    pub const NONOTIFY: u32 = 1 << 1;
    /// Don't count the lookup in keyspace_hits/misses.
    pub const NOSTATS: u32 = 1 << 2;
    /// The lookup is for a write.
    pub const WRITE: u32 = 1 << 3;
    /// Don't delete an expired key (treat as missing only).
    pub const NOEXPIRE: u32 = 1 << 4;
}

impl Server {
    /// True when the key exists but its time is up: a key is still alive during the very
    /// millisecond it expires at, as in Redis (`now > when`). Nothing expires while loading a
    /// dataset (keys are reclaimed after the load). Replicas and a paused server keep such keys
    /// (they report them missing), as Redis does.
    pub fn key_is_expired(&self, db: usize, key: &[u8]) -> bool {
        if self.loading {
            return false;
        }
        match self.dbs[db].expire_of(key) {
            Some(when) => self.now_ms() > when,
            None => false,
        }
    }

    /// Deletes the key if its time is up. Returns true when the key is (logically) gone.
    pub fn expire_if_needed(&mut self, db: usize, key: &[u8], force_delete: bool) -> bool {
        if !self.key_is_expired(db, key) {
            return false;
        }
        if self.is_replica() {
            // Keys expire on a replica when its master says so (its DEL); meanwhile the
            // master's own commands still find them.
            if self.current_client.is_some() && self.current_client == self.repl.master_client {
                return false;
            }
            if !force_delete {
                return true;
            }
        }
        if self.expire_paused() {
            return true;
        }
        self.delete_expired_key(db, key);
        true
    }

    /// Removes an expired key: deletion, `expired` notification, propagation as DEL.
    pub fn delete_expired_key(&mut self, db: usize, key: &[u8]) {
        let start = crate::util::monotonic_us();
        if self.config.lazyfree_lazy_expire {
            self.db_async_delete(db, key);
        } else {
            self.db_delete(db, key);
        }
        // A huge value can make the deletion itself slow: the latency monitor tracks it.
        let ms = (crate::util::monotonic_us() - start) / 1000;
        self.latency_add_sample_if_needed("expire-del", ms);
        self.stats.expired_keys += 1;
        self.notify_keyspace_event(crate::config::table::notify::EXPIRED, "expired", key, db);
        self.signal_modified_key_by_server(db, key);
        self.propagate_deletion(db, key, self.config.lazyfree_lazy_expire);
    }

    /// Looks a key up for reading: expires it if due, counts hits/misses, touches the LRU/LFU
    /// clock unless asked not to.
    pub fn lookup_key(&mut self, db: usize, key: &[u8], flags: u32) -> Option<&mut Obj> {
        let expired = self.expire_if_needed(db, key, flags & lookup::WRITE != 0);
        let count_stats = flags & (lookup::NOSTATS | lookup::WRITE) == 0;
        let found: Option<*mut Obj> = if expired {
            None
        } else {
            self.dbs[db].dict.get_mut(key).map(|o| o as *mut Obj)
        };
        let Some(obj) = found else {
            if flags & (lookup::NONOTIFY | lookup::WRITE) == 0 {
                self.notify_keyspace_event(
                    crate::config::table::notify::KEY_MISS,
                    "keymiss",
                    key,
                    db,
                );
            }
            if count_stats {
                self.stats.keyspace_misses += 1;
            }
            return None;
        };
        if count_stats {
            self.stats.keyspace_hits += 1;
        }
        let clock = if flags & lookup::NOTOUCH == 0 && !self.fork_child_active() {
            Some(self.access_clock_update_source())
        } else {
            None
        };
        // SAFETY: `obj` points into an entry of `self.dbs[db].dict`, found just above by one
        // lookup. Between that lookup and here only statistics, the clock source and the RNG
        // were touched — never the dict — so the entry has not moved or been freed, and the
        // returned borrow is tied to `&mut self`, which stays exclusive while it lives.
        let obj = unsafe { &mut *obj };
        if let Some(src) = clock {
            crate::server::evict::touch(obj, src);
        }
        Some(obj)
    }

    #[inline]
    pub fn lookup_read(&mut self, db: usize, key: &[u8]) -> Option<&mut Obj> {
        self.lookup_key(db, key, 0)
    }

    #[inline]
    pub fn lookup_write(&mut self, db: usize, key: &[u8]) -> Option<&mut Obj> {
        self.lookup_key(db, key, lookup::WRITE)
    }

    /// Adds a key that must not exist, as a new object (fresh access clock).
    pub fn db_add(&mut self, db: usize, key: &[u8], value: Value) {
        let lru = self.new_object_clock();
        self.db_add_obj(db, key, Obj::new(value, lru));
    }

    /// Adds a key that must not exist with an existing object, keeping its access clock (RENAME
    /// and MOVE move the object itself in Redis). Raises the `new` keyspace event, as every key
    /// creation does.
    pub fn db_add_obj(&mut self, db: usize, key: &[u8], obj: Obj) {
        // A new key may be what blocked clients wait for (Redis' dbAdd signals it).
        let btype = crate::blocking::block_type_of(&obj.value);
        self.dbs[db].dict.insert_new(key.into(), obj);
        if let Some(bt) = btype {
            self.signal_key_as_ready(db, key, bt);
        }
        self.notify_keyspace_event(crate::config::table::notify::NEW, "new", key, db);
    }

    /// Sets a key to a value (Redis' `setKey`): overwrites any value, drops the TTL unless
    /// `keep_ttl`, and invalidates WATCHers.
    pub fn set_key(&mut self, db: usize, key: &[u8], value: Value, keep_ttl: bool) {
        let lru = self.new_object_clock();
        let lfu = self.config.policy_is_lfu();
        match self.dbs[db].dict.get_mut(key) {
            Some(obj) => {
                let was_stream = matches!(obj.value, Value::Stream(_));
                // An overwrite is an unlink plus an add for a module type (Redis' dbOverwrite).
                crate::module::datatype::notify_unlink(key, &obj.value, db);
                // The new value is a new object: under LRU it starts with a fresh clock, under
                // LFU Redis carries the old access frequency over (`dbOverwrite`).
                obj.value = value;
                if !lfu {
                    obj.lru = lru;
                }
                // XREADGROUP readers of a stream being replaced must hear about it (they are
                // served later, and find the key no longer holds their stream).
                if was_stream {
                    self.signal_key_as_ready(db, key, crate::blocking::BlockType::Stream);
                }
            }
            None => self.db_add_obj(db, key, Obj::new(value, lru)),
        }
        if !keep_ttl {
            self.dbs[db].expires.remove(key);
        }
        self.signal_modified_key(db, key);
    }

    /// Removes a key and its expire. Returns true if it existed.
    pub fn db_delete(&mut self, db: usize, key: &[u8]) -> bool {
        self.db_delete_generic(db, key, false)
    }

    /// Deletes a key, handing a big value to the lazy-free thread (UNLINK, and DEL or expiry or
    /// eviction under the matching `lazyfree-lazy-*` option). Returns true if it existed.
    pub fn db_async_delete(&mut self, db: usize, key: &[u8]) -> bool {
        self.db_delete_generic(db, key, true)
    }

    /// Replaces a key's value as a deletion followed by the creation of a new key would (Redis'
    /// `dbDelete` then `dbAdd`, which RM_StringSet does), with the entry found once: the old
    /// value is unlinked as a deleted one is and its TTL goes, the new object starts with a
    /// fresh access clock, and the key is announced `new`. A missing key is simply added.
    pub fn db_replace_as_new(&mut self, db: usize, key: &[u8], value: Value) {
        let lru = self.new_object_clock();
        let Some(obj) = self.dbs[db].dict.get_mut(key) else {
            self.db_add(db, key, value);
            return;
        };
        // The object is replaced in place (as `set_key` does): handles that found it stay valid.
        let old = std::mem::replace(obj, Obj::new(value, lru));
        let btype = crate::blocking::block_type_of(&obj.value);
        self.dbs[db].expires.remove(key);
        self.on_value_removed(db, key, &old.value);
        drop(old);
        if let Some(bt) = btype {
            self.signal_key_as_ready(db, key, bt);
        }
        self.notify_keyspace_event(crate::config::table::notify::NEW, "new", key, db);
    }

    /// What the removal of a key's value tells others: XREADGROUP readers of a stream are
    /// answered with an error, and a module type hears of the unlink.
    fn on_value_removed(&mut self, db: usize, key: &[u8], value: &Value) {
        if matches!(value, Value::Stream(_)) {
            self.signal_key_as_ready(db, key, crate::blocking::BlockType::Stream);
        }
        crate::module::datatype::notify_unlink(key, value, db);
    }

    fn db_delete_generic(&mut self, db: usize, key: &[u8], lazy: bool) -> bool {
        match self.dbs[db].take(key) {
            Some(o) => {
                self.on_value_removed(db, key, &o.value);
                if lazy
                    && crate::lazyfree::free_effort_of(&o.value, key, db)
                        > crate::lazyfree::LAZYFREE_THRESHOLD
                {
                    self.lazyfree.free_later(Box::new(o), 1);
                }
                true
            }
            None => false,
        }
    }

    /// Sets an absolute expire time (ms) on an existing key.
    pub fn set_expire(&mut self, db: usize, key: &[u8], when_ms: i64) {
        if self.is_replica()
            && self.current_client.is_some()
            && self.current_client != self.repl.master_client
        {
            self.repl_track_replica_key_expire(db, key);
        }
        let d = &mut self.dbs[db];
        if let Some((k, _)) = d.dict.get_key_value(key) {
            d.expires.insert(KeyRef::of(k), when_ms);
        }
    }

    pub fn remove_expire(&mut self, db: usize, key: &[u8]) -> bool {
        self.dbs[db].expires.remove(key).is_some()
    }

    /// Removes every key of one database (or all when `db` is None). Returns keys removed.
    /// Transactions WATCHing a removed key are failed first, while the keys still exist.
    pub fn empty_data(&mut self, db: Option<usize>) -> usize {
        self.empty_data_generic(db, false)
    }

    /// Like `empty_data`, with the removed keys freed by the lazy-free thread (FLUSHDB and
    /// FLUSHALL ASYNC).
    pub fn empty_data_async(&mut self, db: Option<usize>) -> usize {
        self.empty_data_generic(db, true)
    }

    fn empty_data_generic(&mut self, db: Option<usize>, lazy: bool) -> usize {
        crate::module::events::fire_flush(self, false, db, lazy);
        let removed = self.empty_data_inner(db, lazy);
        crate::module::events::fire_flush(self, true, db, lazy);
        removed
    }

    fn empty_data_inner(&mut self, db: Option<usize>, lazy: bool) -> usize {
        self.signal_flushed_db_lazy(db, lazy);
        let range = match db {
            Some(d) => d..d + 1,
            None => 0..self.dbs.len(),
        };
        for i in range.clone() {
            self.scan_db_for_deleted_streams(i, None);
        }
        let mut removed = 0;
        for i in range {
            let n = self.dbs[i].len();
            removed += n;
            if lazy && n > 0 {
                // Both dicts go together (the expires borrow the main dict's keys); fresh
                // ones, with the same growth policy, take their place.
                let fresh = Db::new(i);
                let d = &mut self.dbs[i];
                let dict = std::mem::replace(&mut d.dict, fresh.dict);
                let expires = std::mem::replace(&mut d.expires, fresh.expires);
                self.lazyfree.free_later(Box::new((expires, dict)), n);
            } else {
                // Expires first: they borrow the main dict's keys.
                self.dbs[i].expires.clear();
                self.dbs[i].dict.clear();
            }
            self.dbs[i].avg_ttl = 0;
            self.dbs[i].expires_cursor = 0;
        }
        if lazy {
            // The fresh dicts need the memory limit their growth checks consult.
            self.publish_maxmemory();
        }
        removed
    }

    /// Exchanges the contents of two databases (SWAPDB). Clients stay in the database number
    /// they selected, and WATCHed keys stay attached to their database number, so watchers of
    /// keys that change on either side are failed first.
    pub fn swap_dbs(&mut self, a: usize, b: usize) {
        if a == b {
            return;
        }
        self.touch_all_watched_keys_in_db(a, Some(b));
        self.touch_all_watched_keys_in_db(b, Some(a));
        self.scan_db_for_deleted_streams(a, Some(b));
        self.scan_db_for_deleted_streams(b, Some(a));
        let (lo, hi) = if a < b { (a, b) } else { (b, a) };
        let (left, right) = self.dbs.split_at_mut(hi);
        let (x, y) = (&mut left[lo], &mut right[0]);
        std::mem::swap(&mut x.dict, &mut y.dict);
        std::mem::swap(&mut x.expires, &mut y.expires);
        std::mem::swap(&mut x.avg_ttl, &mut y.avg_ttl);
        std::mem::swap(&mut x.expires_cursor, &mut y.expires_cursor);
        // Clients blocked in either database may now find their keys (7.0 rescans both).
        self.scan_db_for_ready_keys(a);
        self.scan_db_for_ready_keys(b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::RStr;

    fn string(s: &[u8]) -> Value {
        Value::Str(RStr::from_bytes(s.to_vec()))
    }

    #[test]
    fn keyspace_stamp_changes_only_when_objects_may_be_freed() {
        let mut srv = crate::commands::test_support::test_server();
        srv.db_add(0, b"kept", string(b"v"));
        let kept: *const Obj = srv.dbs[0].dict.get_mut(b"kept").unwrap();
        let before = srv.dbs[0].dict.stamp();
        // Adding many keys (and so growing and rehashing the dict) and overwriting a value
        // leave every object where it was.
        for i in 0..1000 {
            srv.db_add(0, format!("k{i}").as_bytes(), string(b"x"));
        }
        srv.set_key(0, b"kept", string(b"w"), false);
        srv.dbs[0].dict.rehash_for_ms(10);
        assert_eq!(srv.dbs[0].dict.stamp(), before);
        assert_eq!(
            srv.dbs[0].dict.get_mut(b"kept").unwrap() as *const Obj,
            kept
        );
        // A removal, a flush and a swap all change what a holder of `before` sees.
        assert!(srv.db_delete(0, b"k1"));
        let after_delete = srv.dbs[0].dict.stamp();
        assert_ne!(after_delete, before);
        srv.swap_dbs(0, 1);
        assert_ne!(srv.dbs[0].dict.stamp(), after_delete);
        srv.swap_dbs(0, 1);
        assert_eq!(srv.dbs[0].dict.stamp(), after_delete);
        srv.empty_data(Some(0));
        assert_ne!(srv.dbs[0].dict.stamp(), after_delete);
    }

    #[test]
    fn replace_as_new_drops_the_ttl_and_keeps_the_object_in_place() {
        let mut srv = crate::commands::test_support::test_server();
        srv.db_add(0, b"k", string(b"old"));
        srv.set_expire(0, b"k", i64::MAX / 2);
        let at: *const Obj = srv.dbs[0].dict.get_mut(b"k").unwrap();
        let stamp = srv.dbs[0].dict.stamp();
        srv.db_replace_as_new(0, b"k", string(b"new"));
        let obj = srv.dbs[0].dict.get_mut(b"k").unwrap();
        assert!(matches!(&obj.value, Value::Str(s) if s.to_vec() == b"new"));
        assert_eq!(obj as *const Obj, at);
        assert_eq!(srv.dbs[0].dict.stamp(), stamp);
        assert!(srv.dbs[0].expires.get(&b"k"[..]).is_none());
        // A missing key is added.
        srv.db_replace_as_new(0, b"other", string(b"v"));
        assert!(srv.dbs[0].dict.get_mut(b"other").is_some());
    }
}
