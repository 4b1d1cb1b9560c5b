//! Access clocks kept in each object (LRU seconds, or LFU log-counter plus decay minutes), as
//! Redis keeps them, for OBJECT IDLETIME/FREQ and for the approximated LRU/LFU eviction.

use crate::types::Obj;

/// The LRU clock has 24 bits of seconds.
pub const LRU_CLOCK_MAX: u32 = (1 << 24) - 1;
pub const LFU_INIT_VAL: u8 = 5;

/// How an access updates an object's clock.
#[derive(Clone, Copy, Debug)]
pub enum ClockSource {
    /// LRU: store the current LRU clock.
    Lru(u32),
    /// LFU: current time in minutes (16 bits), the log factor and decay time from config.
    Lfu {
        minutes: u16,
        log_factor: i64,
        decay_time: i64,
        random: f64,
    },
}

/// Current LRU clock: seconds, wrapped to 24 bits.
pub fn lru_clock(now_ms: i64) -> u32 {
    ((now_ms / 1000) as u64 & LRU_CLOCK_MAX as u64) as u32
}

/// Seconds since the object was last touched, given the current LRU clock.
pub fn idle_seconds(obj_clock: u32, now_clock: u32) -> u64 {
    if now_clock >= obj_clock {
        (now_clock - obj_clock) as u64
    } else {
        (now_clock as u64 + LRU_CLOCK_MAX as u64) - obj_clock as u64
    }
}

/// Minutes elapsed since an LFU decay time stamp, with 16-bit wrap-around.
fn lfu_elapsed(stamp: u16, now_minutes: u16) -> u64 {
    if now_minutes >= stamp {
        (now_minutes - stamp) as u64
    } else {
        65535 - stamp as u64 + now_minutes as u64
    }
}

/// The LFU counter after decay (without storing it).
pub fn lfu_decayed_counter(lru: u32, now_minutes: u16, decay_time: i64) -> u8 {
    let stamp = (lru >> 8) as u16;
    let counter = (lru & 0xff) as u8;
    let periods = if decay_time > 0 {
        lfu_elapsed(stamp, now_minutes) / decay_time as u64
    } else {
        0
    };
    if periods > 0 {
        counter.saturating_sub(periods.min(255) as u8)
    } else {
        counter
    }
}

/// Logarithmic increment: the higher the counter, the less likely an access bumps it.
fn lfu_log_incr(counter: u8, log_factor: i64, random: f64) -> u8 {
    if counter == 255 {
        return 255;
    }
    let base = counter.saturating_sub(LFU_INIT_VAL) as f64;
    let p = 1.0 / (base * log_factor as f64 + 1.0);
    if random < p {
        counter + 1
    } else {
        counter
    }
}

/// Records an access to `obj`.
pub fn touch(obj: &mut Obj, src: ClockSource) {
    match src {
        ClockSource::Lru(clock) => obj.lru = clock,
        ClockSource::Lfu {
            minutes,
            log_factor,
            decay_time,
            random,
        } => {
            let counter = lfu_decayed_counter(obj.lru, minutes, decay_time);
            let counter = lfu_log_incr(counter, log_factor, random);
            obj.lru = ((minutes as u32) << 8) | counter as u32;
        }
    }
}

/// The clock a new object starts with.
pub fn initial_clock(lfu: bool, now_ms: i64) -> u32 {
    if lfu {
        let minutes = ((now_ms / 1000 / 60) & 0xffff) as u32;
        (minutes << 8) | LFU_INIT_VAL as u32
    } else {
        lru_clock(now_ms)
    }
}

use crate::config::table::{
    POLICY_ALLKEYS_LFU, POLICY_ALLKEYS_LRU, POLICY_ALLKEYS_RANDOM, POLICY_NOEVICTION,
    POLICY_VOLATILE_LFU, POLICY_VOLATILE_LRU, POLICY_VOLATILE_RANDOM, POLICY_VOLATILE_TTL,
};
use crate::db::Key;
use crate::server::Server;

/// Load factor above which a keyspace dict grows whatever memory says (chains get too long).
const MAX_LOAD_FACTOR: f64 = 1.618;

/// The keyspace dicts' growth check: below the maximum load factor, a dict grows only if its
/// new table of `more` bytes fits under `limit` (Redis' `dictExpandAllowed` /
/// `overMaxmemoryAfterAlloc`: a full table is slower but evicts nothing).
pub fn keyspace_expand_allowed(more: usize, load_factor: f64, limit: usize) -> bool {
    load_factor > MAX_LOAD_FACTOR || limit == 0 || super::cron::used_memory() + more <= limit
}

/// Candidates kept between eviction rounds (Redis' `EVPOOL_SIZE`).
const EVPOOL_SIZE: usize = 16;

/// One eviction candidate: its score (higher is evicted first), database and key.
struct PoolEntry {
    score: u64,
    db: usize,
    key: Key,
}

/// Eviction state kept across calls, as Redis keeps it: the pool of best candidates seen so
/// far (sorted by ascending score, best last), the database the random policies visit next,
/// and whether eviction continues from the event loop because a round ran out of time.
#[derive(Default)]
pub struct EvictState {
    pool: Vec<PoolEntry>,
    next_db: usize,
    pub proc_running: bool,
}

/// What `perform_evictions` achieved.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum EvictResult {
    /// Under the limit (or evicting isn't allowed right now).
    Ok,
    /// Still over the limit; eviction goes on from the event loop.
    Running,
    /// Over the limit with nothing (allowed) left to evict.
    Fail,
}

/// Microseconds one eviction round may take for a `maxmemory-eviction-tenacity` (Redis'
/// `evictionTimeLimitUs`): linear up to 500us at 10, then +15% per step, unlimited at 100.
fn eviction_time_limit_us(tenacity: i64) -> u64 {
    if tenacity <= 10 {
        50 * tenacity.max(0) as u64
    } else if tenacity < 100 {
        (500.0 * 1.15f64.powf(tenacity as f64 - 10.0)) as u64
    } else {
        u64::MAX
    }
}

/// Inserts a sampled candidate in the pool kept sorted by ascending score: into a free slot, or
/// over the worst candidate when full; a candidate worse than all of a full pool is dropped.
fn pool_insert(pool: &mut Vec<PoolEntry>, score: u64, db: usize, key: &[u8]) {
    let k = pool
        .iter()
        .position(|e| e.score >= score)
        .unwrap_or(pool.len());
    if pool.len() == EVPOOL_SIZE {
        if k == 0 {
            return;
        }
        pool.remove(0);
        pool.insert(
            k - 1,
            PoolEntry {
                score,
                db,
                key: key.into(),
            },
        );
    } else {
        pool.insert(
            k,
            PoolEntry {
                score,
                db,
                key: key.into(),
            },
        );
    }
}

impl Server {
    /// Hands the current `maxmemory` to the keyspace dicts' growth check.
    pub fn publish_maxmemory(&mut self) {
        let limit = self.config.maxmemory.max(0) as usize;
        for db in self.dbs.iter_mut() {
            db.dict.set_memory_limit(limit);
            db.expires.memory_limit = limit;
        }
    }

    /// Memory counted against `maxmemory`: allocated bytes minus what Redis excludes (replica
    /// output buffers and the AOF buffer, which eviction can't shrink: counting them would
    /// evict keys, or refuse writes, for memory that frees itself once written out).
    pub fn memory_for_maxmemory(&self) -> usize {
        let aof_buf = if self.aof.status != crate::aof::Status::Off {
            self.aof.buf.capacity()
        } else {
            0
        };
        self.used_memory()
            .saturating_sub(self.repl_mem_not_counted() + aof_buf)
    }

    /// Bytes to free to get back under `maxmemory` (0 when under it or without a limit).
    fn memory_to_free(&self) -> usize {
        let limit = self.config.maxmemory.max(0) as usize;
        if limit == 0 {
            return 0;
        }
        self.memory_for_maxmemory().saturating_sub(limit)
    }

    /// Evicts keys per `maxmemory-policy`; false when memory stays over the limit with
    /// nothing left to evict (commands that may grow memory are then refused).
    pub fn evict_if_needed(&mut self) -> bool {
        self.perform_evictions() != EvictResult::Fail
    }

    /// Evicting is skipped while it would change a dataset that must stay still: clients
    /// paused (Redis' `isSafeToPerformEvictions`; replicas that ignore maxmemory come with
    /// replication).
    fn safe_to_evict(&mut self) -> bool {
        self.check_pause_timeout();
        !self.expire_paused()
    }

    /// One eviction round (Redis' `performEvictions`): frees keys until the memory over the
    /// limit at the start has been released, within the time `maxmemory-eviction-tenacity`
    /// allows; past it, eviction continues from the event loop (`Running`).
    pub fn perform_evictions(&mut self) -> EvictResult {
        if !self.safe_to_evict() {
            return EvictResult::Ok;
        }
        let tofree = self.memory_to_free();
        let result = if tofree == 0 {
            EvictResult::Ok
        } else if self.config.maxmemory_policy == POLICY_NOEVICTION {
            EvictResult::Fail
        } else {
            self.evict_round(tofree)
        };
        // Time spent over the limit (INFO total/current_eviction_exceeded_time).
        let now = crate::util::monotonic_us();
        if result == EvictResult::Ok {
            if self.stats.eviction_exceeded_since_us != 0 {
                self.stats.total_eviction_exceeded_time_us +=
                    now - self.stats.eviction_exceeded_since_us;
                self.stats.eviction_exceeded_since_us = 0;
            }
        } else if self.stats.eviction_exceeded_since_us == 0 {
            self.stats.eviction_exceeded_since_us = now;
        }
        result
    }

    fn evict_round(&mut self, tofree: usize) -> EvictResult {
        let policy = self.config.maxmemory_policy;
        let time_limit = eviction_time_limit_us(self.config.maxmemory_eviction_tenacity);
        let start = crate::util::monotonic_us();
        let mut freed: i64 = 0;
        let mut keys_freed = 0u64;
        let mut result = EvictResult::Fail;
        loop {
            if freed >= tofree as i64 {
                result = if self.evict.proc_running {
                    EvictResult::Running
                } else {
                    EvictResult::Ok
                };
                break;
            }
            let picked = match policy {
                POLICY_ALLKEYS_RANDOM | POLICY_VOLATILE_RANDOM => self.pick_random(policy),
                _ => self.pick_from_pool(policy),
            };
            let Some((dbi, key)) = picked else {
                break;
            };
            let before = self.used_memory() as i64;
            let del_start = crate::util::monotonic_us();
            self.db_delete(dbi, &key);
            self.latency_add_sample_if_needed(
                "eviction-del",
                (crate::util::monotonic_us() - del_start) / 1000,
            );
            freed += before - self.used_memory() as i64;
            self.stats.evicted_keys += 1;
            self.signal_modified_key_by_server(dbi, &key);
            self.notify_keyspace_event(crate::config::table::notify::EVICTED, "evicted", &key, dbi);
            self.propagate_deletion(dbi, &key, self.config.lazyfree_lazy_eviction);
            keys_freed += 1;
            if keys_freed.is_multiple_of(16) && crate::util::monotonic_us() - start > time_limit {
                // Out of time for this round: the event loop keeps evicting.
                self.evict.proc_running = true;
                result = EvictResult::Running;
                break;
            }
        }
        self.latency_add_sample_if_needed(
            "eviction-cycle",
            (crate::util::monotonic_us() - start) / 1000,
        );
        result
    }

    /// The random policies: a random key of the next database (in turn) that has candidates.
    fn pick_random(&mut self, policy: i32) -> Option<(usize, Key)> {
        let dbnum = self.dbs.len();
        for _ in 0..dbnum {
            self.evict.next_db = (self.evict.next_db + 1) % dbnum;
            let j = self.evict.next_db;
            let db = &self.dbs[j];
            let key = if policy == POLICY_ALLKEYS_RANDOM {
                db.dict.random_entry(&mut self.rng).map(|(k, _)| k.clone())
            } else {
                db.expires
                    .random_entry(&mut self.rng)
                    .map(|(k, _)| Box::from(k.as_bytes()))
            };
            if let Some(k) = key {
                return Some((j, k));
            }
        }
        None
    }

    /// The LRU/LFU/TTL policies: refill the pool from a sample of every database, then take the
    /// best candidate that still exists (keys deleted meanwhile are skipped).
    fn pick_from_pool(&mut self, policy: i32) -> Option<(usize, Key)> {
        let allkeys = matches!(policy, POLICY_ALLKEYS_LRU | POLICY_ALLKEYS_LFU);
        let samples = self.config.maxmemory_samples.max(1) as usize;
        let now_ms = self.now_ms();
        let now_clock = lru_clock(now_ms);
        let minutes = ((now_ms / 60000) & 0xffff) as u16;
        let decay = self.config.lfu_decay_time;
        let mut pool = std::mem::take(&mut self.evict.pool);
        let mut found = None;
        loop {
            let mut total = 0;
            for (dbi, db) in self.dbs.iter().enumerate() {
                if allkeys {
                    if db.dict.is_empty() {
                        continue;
                    }
                    total += db.dict.len();
                    let mut s = Vec::new();
                    db.dict.sample(samples, &mut self.rng, &mut s);
                    for (k, o) in s {
                        pool_insert(
                            &mut pool,
                            idle_score(policy, o.lru, now_clock, minutes, decay),
                            dbi,
                            k,
                        );
                    }
                } else {
                    if db.expires.is_empty() {
                        continue;
                    }
                    total += db.expires.len();
                    let mut s = Vec::new();
                    db.expires.sample(samples, &mut self.rng, &mut s);
                    for (k, when) in s {
                        let score = if policy == POLICY_VOLATILE_TTL {
                            u64::MAX - *when as u64
                        } else {
                            let Some(o) = db.dict.get(&k[..]) else {
                                continue;
                            };
                            idle_score(policy, o.lru, now_clock, minutes, decay)
                        };
                        pool_insert(&mut pool, score, dbi, k);
                    }
                }
            }
            if total == 0 {
                break;
            }
            while let Some(e) = pool.pop() {
                let db = &self.dbs[e.db];
                let exists = if allkeys {
                    db.dict.contains_key(&e.key[..])
                } else {
                    db.expires.contains_key(&e.key[..])
                };
                if exists {
                    found = Some((e.db, e.key));
                    break;
                }
            }
            if found.is_some() {
                break;
            }
        }
        self.evict.pool = pool;
        found
    }
}

/// Higher is a better eviction candidate: idle seconds for LRU, inverted counter for LFU.
fn idle_score(policy: i32, lru: u32, now_clock: u32, minutes: u16, decay: i64) -> u64 {
    match policy {
        POLICY_ALLKEYS_LFU | POLICY_VOLATILE_LFU => {
            255 - lfu_decayed_counter(lru, minutes, decay) as u64
        }
        POLICY_ALLKEYS_LRU | POLICY_VOLATILE_LRU => idle_seconds(lru, now_clock),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_time_wraps() {
        assert_eq!(idle_seconds(10, 15), 5);
        assert_eq!(idle_seconds(LRU_CLOCK_MAX - 1, 3), 4);
    }

    #[test]
    fn tenacity_time_limits() {
        assert_eq!(eviction_time_limit_us(0), 0);
        assert_eq!(eviction_time_limit_us(10), 500);
        assert_eq!(eviction_time_limit_us(11), 575);
        assert!(eviction_time_limit_us(99) > 100_000_000);
        assert_eq!(eviction_time_limit_us(100), u64::MAX);
    }

    #[test]
    fn pool_keeps_the_best_candidates_sorted() {
        let mut pool = Vec::new();
        for score in [5u64, 1, 9, 3] {
            pool_insert(&mut pool, score, 0, format!("k{score}").as_bytes());
        }
        let scores: Vec<u64> = pool.iter().map(|e| e.score).collect();
        assert_eq!(scores, vec![1, 3, 5, 9]);
        for score in 10..30u64 {
            pool_insert(&mut pool, score, 1, format!("k{score}").as_bytes());
        }
        assert_eq!(pool.len(), EVPOOL_SIZE);
        // The 16 highest scores survive, best last.
        assert_eq!(pool[0].score, 14);
        assert_eq!(pool.last().map(|e| e.score), Some(29));
        // A candidate worse than all of a full pool is dropped.
        pool_insert(&mut pool, 2, 0, b"low");
        assert_eq!(pool[0].score, 14);
        // A middling one replaces the worst.
        pool_insert(&mut pool, 20, 3, b"mid");
        assert_eq!(pool[0].score, 15);
        assert!(pool.windows(2).all(|w| w[0].score <= w[1].score));
        assert!(pool.iter().any(|e| &e.key[..] == b"mid" && e.db == 3));
    }

    #[test]
    fn lfu_counter_decays_per_period() {
        let lru = (100u32 << 8) | 20;
        assert_eq!(lfu_decayed_counter(lru, 100, 1), 20);
        assert_eq!(lfu_decayed_counter(lru, 105, 1), 15);
        assert_eq!(lfu_decayed_counter(lru, 105, 0), 20);
    }
}
