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

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::config::table::{
    POLICY_ALLKEYS_LFU, POLICY_ALLKEYS_LRU, POLICY_ALLKEYS_RANDOM, POLICY_NOEVICTION,
    POLICY_VOLATILE_LFU, POLICY_VOLATILE_LRU, POLICY_VOLATILE_RANDOM, POLICY_VOLATILE_TTL,
};
use crate::server::Server;

/// Load factor above which a keyspace dict grows whatever memory says (chains get too long).
const MAX_LOAD_FACTOR: f64 = 1.618;

/// `maxmemory` as seen by code without access to the server (dict growth checks); kept in step
/// with the configuration by `Server::publish_maxmemory`.
static MAXMEMORY: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// The event-loop thread's allocation counters (all data lives on that thread).
    static USED: super::cron::UsedMemory = super::cron::UsedMemory::for_current_thread();
}

/// Whether allocating `more` bytes would take memory over `maxmemory` (Redis'
/// `overMaxmemoryAfterAlloc`).
pub fn over_maxmemory_after_alloc(more: usize) -> bool {
    let limit = MAXMEMORY.load(Ordering::Relaxed);
    limit != 0 && USED.with(|u| u.get()) + more > limit
}

/// The keyspace dicts' growth check: below the maximum load factor, a dict grows only if its
/// new table fits under `maxmemory` (a full table is slower but evicts nothing).
pub fn keyspace_expand_allowed(more: usize, load_factor: f64) -> bool {
    load_factor > MAX_LOAD_FACTOR || !over_maxmemory_after_alloc(more)
}

impl Server {
    /// Makes the current `maxmemory` visible to the dict growth check.
    pub fn publish_maxmemory(&self) {
        MAXMEMORY.store(self.config.maxmemory.max(0) as usize, Ordering::Relaxed);
    }

    /// Memory counted against `maxmemory`: allocated bytes minus what Redis excludes (replica
    /// output buffers and the AOF buffer; none exist yet).
    pub fn memory_for_maxmemory(&self) -> usize {
        self.used_memory()
    }

    /// Evicts keys per `maxmemory-policy` until memory is under `maxmemory`. Returns false when
    /// memory is still over the limit (no policy, or nothing left to evict).
    pub fn evict_if_needed(&mut self) -> bool {
        let limit = self.config.maxmemory as usize;
        if limit == 0 {
            return true;
        }
        let mut used = self.memory_for_maxmemory();
        if used <= limit {
            return true;
        }
        let policy = self.config.maxmemory_policy;
        if policy == POLICY_NOEVICTION {
            return false;
        }
        let start = crate::util::monotonic_us();
        let samples = self.config.maxmemory_samples.max(1) as usize;
        let volatile = matches!(
            policy,
            POLICY_VOLATILE_LRU
                | POLICY_VOLATILE_LFU
                | POLICY_VOLATILE_RANDOM
                | POLICY_VOLATILE_TTL
        );
        let mut freed_any = true;
        while used > limit && freed_any {
            freed_any = false;
            // Pick the best candidate over all databases from a sample of each.
            let mut best: Option<(u64, usize, Box<[u8]>)> = None;
            let now_clock = lru_clock(self.cached_now_ms());
            let minutes = ((self.cached_now_ms() / 60000) & 0xffff) as u16;
            let decay = self.config.lfu_decay_time;
            let now_ms = self.cached_now_ms();
            let mut sample = Vec::new();
            for dbi in 0..self.dbs.len() {
                let db = &self.dbs[dbi];
                if volatile {
                    let mut s = Vec::new();
                    db.expires.sample(samples, &mut self.rng, &mut s);
                    sample.clear();
                    for (k, when) in s {
                        let score = match policy {
                            POLICY_VOLATILE_TTL => u64::MAX - (*when - now_ms).max(0) as u64,
                            POLICY_VOLATILE_RANDOM => self.rng.gen::<u32>() as u64,
                            _ => {
                                let Some(o) = db.dict.get(&k[..]) else {
                                    continue;
                                };
                                idle_score(policy, o.lru, now_clock, minutes, decay)
                            }
                        };
                        sample.push((score, k.clone()));
                    }
                } else {
                    let mut s = Vec::new();
                    db.dict.sample(samples, &mut self.rng, &mut s);
                    sample.clear();
                    for (k, o) in s {
                        let score = if policy == POLICY_ALLKEYS_RANDOM {
                            self.rng.gen::<u32>() as u64
                        } else {
                            idle_score(policy, o.lru, now_clock, minutes, decay)
                        };
                        sample.push((score, k.clone()));
                    }
                }
                for (score, k) in sample.drain(..) {
                    if best.as_ref().is_none_or(|b| score > b.0) {
                        best = Some((score, dbi, k));
                    }
                }
            }
            if let Some((_, dbi, key)) = best {
                self.db_delete(dbi, &key);
                self.stats.evicted_keys += 1;
                self.signal_modified_key(dbi, &key);
                self.notify_keyspace_event(
                    crate::config::table::notify::EVICTED,
                    "evicted",
                    &key,
                    dbi,
                );
                self.propagate_deletion(dbi, &key, self.config.lazyfree_lazy_eviction);
                freed_any = true;
                used = self.memory_for_maxmemory();
            }
        }
        let elapsed = crate::util::monotonic_us() - start;
        self.latency_add_sample_if_needed("eviction-cycle", elapsed / 1000);
        used <= limit
    }

    fn cached_now_ms(&self) -> i64 {
        self.now_ms()
    }
}

use rand::Rng;

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
    fn lfu_counter_decays_per_period() {
        let lru = (100u32 << 8) | 20;
        assert_eq!(lfu_decayed_counter(lru, 100, 1), 20);
        assert_eq!(lfu_decayed_counter(lru, 105, 1), 15);
        assert_eq!(lfu_decayed_counter(lru, 105, 0), 20);
    }
}
