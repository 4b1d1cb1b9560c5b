//! Periodic work, as Redis' `serverCron` and `beforeSleep` do it: the active expire cycle (slow
//! in the cron, fast before sleeping), incremental rehashing and shrinking of the keyspace dicts,
//! client timeouts, memory figures.

use crate::client::ClientId;
use crate::server::{PauseKind, Server};

/// Keys sampled per database per loop of the expire cycle at effort 1.
const EXPIRE_KEYS_PER_LOOP: u64 = 20;
/// Microseconds a fast expire cycle may take at effort 1.
const EXPIRE_FAST_DURATION_US: u64 = 1000;
/// Percent of CPU time the slow cycle may take at effort 1.
const EXPIRE_SLOW_TIME_PERC: u64 = 25;
/// Stale keys (percent of sampled) tolerated before looping again at effort 1.
const EXPIRE_ACCEPTABLE_STALE: u64 = 10;
const CRON_DBS_PER_CALL: usize = 16;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum ExpireCycle {
    Slow,
    Fast,
}

/// State the expire cycle keeps between calls.
#[derive(Default)]
pub struct ExpireState {
    current_db: usize,
    timelimit_exit: bool,
    last_fast_cycle_us: u64,
    resize_db: usize,
    rehash_db: usize,
}

/// Query buffers larger than this are trimmed when the recent peak was much smaller.
const QUERYBUF_RESIZE_THRESHOLD: usize = 32 * 1024;

/// Gives back query-buffer memory a client doesn't need (Redis' `clientsCronResizeQueryBuffer`):
/// all of it after two idle seconds, or the excess over the recent peak when the buffer is more
/// than twice that peak. Then starts a new peak-measuring period.
fn resize_query_buffer(c: &mut crate::client::Client, now_ms: i64) {
    let idle_secs = (now_ms - c.last_interaction_ms) / 1000;
    let len = c.querybuf.len();
    let free = c.querybuf.capacity() - len;
    let pending_bulk = c.parser.pending_bulk_len();
    if free > 4 * 1024 {
        if idle_secs > 2 {
            c.querybuf.shrink_to_fit();
        } else if c.querybuf.capacity() > QUERYBUF_RESIZE_THRESHOLD
            && c.querybuf.capacity() / 2 > c.querybuf_peak
        {
            let mut keep = len.max(c.querybuf_peak);
            if let Some(bulk) = pending_bulk {
                keep = keep.max(bulk);
            }
            c.querybuf.shrink_to(keep);
        }
    }
    c.querybuf_peak = c.querybuf.len().max(pending_bulk.unwrap_or(0));
}

/// Bytes allocated by the server, from jemalloc's global statistics (refreshes the stats
/// epoch: for INFO and the cron, not for per-command checks — see `used_memory`).
pub fn allocated_bytes() -> usize {
    use tikv_jemalloc_ctl::{epoch, stats};
    let _ = epoch::advance();
    stats::allocated::read().unwrap_or(0)
}

/// The server's live heap size (Redis' `used_memory`), read cheaply: jemalloc keeps per-thread
/// counters of bytes allocated and freed, and all data is allocated by the event-loop thread
/// and freed there or by the lazy-free thread (which publishes its net frees), so the
/// difference is the running total of usable sizes Redis keeps. Reading it is
/// two loads, which makes it fit for the per-command `maxmemory` check and dict growth checks.
/// Falls back to jemalloc's global statistics if the counters are unavailable.
pub fn used_memory() -> usize {
    thread_local! {
        static COUNTERS: Option<(tikv_jemalloc_ctl::thread::ThreadLocal<u64>, tikv_jemalloc_ctl::thread::ThreadLocal<u64>)> = {
            use tikv_jemalloc_ctl::thread;
            thread::allocatedp::read().ok().zip(thread::deallocatedp::read().ok())
        };
    }
    COUNTERS.with(|c| match c {
        Some((alloc, dealloc)) => (alloc.get().saturating_sub(dealloc.get()) as usize)
            .saturating_sub(crate::lazyfree::net_freed_bytes()),
        None => allocated_bytes(),
    })
}

impl Server {
    /// Samples keys with a TTL and deletes the expired ones, within a time budget (Redis'
    /// `activeExpireCycle`). Slow cycles run in the cron, fast ones before sleeping when the
    /// previous cycle left many stale keys.
    pub fn active_expire_cycle(&mut self, kind: ExpireCycle, state: &mut ExpireState) {
        // The deletions of a cycle (and what modules' expired-key notification handlers
        // propagate with them) are independent writes: never wrapped in MULTI/EXEC, as
        // Redis' `propagate_no_multi` during the cycle.
        let prev = std::mem::replace(&mut self.prop.no_multi, true);
        self.active_expire_cycle_run(kind, state);
        self.prop.no_multi = prev;
    }

    fn active_expire_cycle_run(&mut self, kind: ExpireCycle, state: &mut ExpireState) {
        if !self.active_expire_enabled || !self.i_am_master() || self.expire_paused() {
            return;
        }
        let effort = (self.config.active_expire_effort - 1).max(0) as u64;
        let keys_per_loop = EXPIRE_KEYS_PER_LOOP + EXPIRE_KEYS_PER_LOOP / 4 * effort;
        let fast_duration = EXPIRE_FAST_DURATION_US + EXPIRE_FAST_DURATION_US / 4 * effort;
        let slow_perc = EXPIRE_SLOW_TIME_PERC + 2 * effort;
        let acceptable_stale = EXPIRE_ACCEPTABLE_STALE - effort;
        let start = crate::util::monotonic_us();
        if kind == ExpireCycle::Fast {
            if !state.timelimit_exit && self.stats.expired_stale_perc < acceptable_stale as f64 {
                return;
            }
            if start < state.last_fast_cycle_us + fast_duration * 2 {
                return;
            }
            state.last_fast_cycle_us = start;
        }
        let dbnum = self.dbs.len();
        let dbs_per_call = if state.timelimit_exit {
            dbnum
        } else {
            CRON_DBS_PER_CALL.min(dbnum)
        };
        let mut timelimit = slow_perc * 1_000_000 / self.hz.max(1) as u64 / 100;
        if timelimit == 0 {
            timelimit = 1;
        }
        if kind == ExpireCycle::Fast {
            timelimit = fast_duration;
        }
        state.timelimit_exit = false;
        let mut total_sampled = 0u64;
        let mut total_expired = 0u64;
        let mut iteration = 0u64;
        let mut keys = Vec::new();
        for _ in 0..dbs_per_call {
            if state.timelimit_exit {
                break;
            }
            let dbi = state.current_db % dbnum;
            state.current_db = state.current_db.wrapping_add(1);
            loop {
                iteration += 1;
                let num = self.dbs[dbi].expires.len() as u64;
                if num == 0 {
                    self.dbs[dbi].avg_ttl = 0;
                    break;
                }
                let slots = self.dbs[dbi].expires.buckets() as u64;
                if slots > 4 && num * 100 / slots < 1 {
                    break;
                }
                let now = crate::util::mstime();
                let want = num.min(keys_per_loop);
                let mut sampled = 0u64;
                let mut ttl_sum = 0i64;
                let mut ttl_samples = 0i64;
                let mut checked_buckets = 0u64;
                keys.clear();
                let mut cursor = self.dbs[dbi].expires_cursor;
                while sampled < want && checked_buckets < want * 20 {
                    cursor = self.dbs[dbi].expires.scan(cursor, |k, when| {
                        sampled += 1;
                        // A key lives through the millisecond it expires at (`now > when`).
                        if now > *when {
                            keys.push(Box::<[u8]>::from(k.as_bytes()));
                        } else if *when > now {
                            ttl_sum += *when - now;
                            ttl_samples += 1;
                        }
                    });
                    checked_buckets += 1;
                    if cursor == 0 {
                        break;
                    }
                }
                self.dbs[dbi].expires_cursor = cursor;
                let expired = keys.len() as u64;
                for k in keys.drain(..) {
                    self.frozen_ms = Some(now);
                    if self.dbs[dbi].expire_of(&k).is_some_and(|w| now > w) {
                        self.delete_expired_key(dbi, &k);
                    }
                    self.frozen_ms = None;
                }
                total_expired += expired;
                total_sampled += sampled;
                if ttl_samples > 0 {
                    let avg = ttl_sum / ttl_samples;
                    let db = &mut self.dbs[dbi];
                    // Seeded with the first sample, then a 2% running average (as Redis).
                    if db.avg_ttl == 0 {
                        db.avg_ttl = avg;
                    }
                    db.avg_ttl = (db.avg_ttl / 50) * 49 + avg / 50;
                }
                if iteration.is_multiple_of(16) && crate::util::monotonic_us() - start > timelimit {
                    state.timelimit_exit = true;
                    self.stats.expired_time_cap_reached_count += 1;
                    break;
                }
                let stale_enough = sampled == 0 || expired * 100 / sampled > acceptable_stale;
                if !stale_enough {
                    break;
                }
            }
        }
        let elapsed = crate::util::monotonic_us() - start;
        self.stats.expire_cycle_time_used_us += elapsed;
        self.latency_add_sample_if_needed("expire-cycle", elapsed / 1000);
        let current_perc = if total_sampled > 0 {
            total_expired as f64 / total_sampled as f64
        } else {
            0.0
        };
        self.stats.expired_stale_perc = current_perc * 0.05 + self.stats.expired_stale_perc * 0.95;
    }

    /// Shrinks oversized dicts and spends a millisecond rehashing (Redis' `databasesCron`).
    fn databases_cron(&mut self, state: &mut ExpireState) {
        let dbnum = self.dbs.len();
        let n = CRON_DBS_PER_CALL.min(dbnum);
        for _ in 0..n {
            let i = state.resize_db % dbnum;
            state.resize_db += 1;
            let db = &mut self.dbs[i];
            if db.dict.needs_shrink() {
                db.dict.shrink_to_fit();
            }
            if db.expires.needs_shrink() {
                db.expires.shrink_to_fit();
            }
        }
        if self.config.activerehashing {
            for _ in 0..n {
                let i = state.rehash_db % dbnum;
                let db = &mut self.dbs[i];
                if db.dict.is_rehashing() {
                    db.dict.rehash_for_ms(1);
                    break;
                }
                if db.expires.is_rehashing() {
                    db.expires.rehash_for_ms(1);
                    break;
                }
                state.rehash_db += 1;
            }
        }
    }

    /// Closes clients idle longer than `timeout` (not replicas, masters, blocked or pub/sub
    /// clients), and shrinks idle query buffers.
    fn clients_cron(&mut self) {
        let now = self.now_ms();
        let timeout_ms = self.config.timeout * 1000;
        let mut to_close: Vec<ClientId> = Vec::new();
        for (id, c) in self.clients.iter_mut() {
            use crate::client::flags as f;
            if timeout_ms > 0
                && !c.has(f::SLAVE | f::MASTER | f::BLOCKED | f::PUBSUB)
                && now - c.last_interaction_ms > timeout_ms
            {
                to_close.push(*id);
                continue;
            }
            resize_query_buffer(c, now);
            if self.reply_buffer_resizing {
                match c.out.cron_resize(now, self.reply_buffer_peak_reset_ms) {
                    1 => self.stats.reply_buffer_expands += 1,
                    -1 => self.stats.reply_buffer_shrinks += 1,
                    _ => {}
                }
            }
        }
        self.remeasure_all_clients();
        // Soft output-buffer limits expire with time, even without new output.
        let with_output: Vec<ClientId> = self
            .clients
            .iter()
            .filter(|(_, c)| c.out.list_bytes > 0)
            .map(|(id, _)| *id)
            .collect();
        for id in with_output {
            self.check_output_buffer_limits_of(id);
        }
        for id in to_close {
            crate::log_verbose!("Closing idle client");
            self.close_client_async(id);
        }
    }

    /// Ends an expired CLIENT PAUSE.
    pub fn check_pause_timeout(&mut self) {
        if self.pause != PauseKind::None && self.pause_end_ms < crate::util::mstime() {
            self.update_pause();
        }
    }

    /// One run of the periodic task, `hz` times per second.
    pub fn server_cron(&mut self, state: &mut ExpireState) {
        self.update_cached_time();
        self.track_instantaneous_metrics();
        self.check_pause_timeout();
        let used = self.used_memory();
        if used > self.peak_memory {
            self.peak_memory = used;
            self.stat_peak_memory_time = self.now_ms();
        }
        self.clients_cron();
        if !self.tracking.clients.is_empty() {
            self.tracking_limit_used_slots();
        }
        self.active_expire_cycle(ExpireCycle::Slow, state);
        self.databases_cron(state);
        self.persistence_cron();
        self.replication_cron();
        // The cluster's own cron runs 10 times per second, whatever `hz` is.
        if self.cluster.is_some() {
            let every = (self.hz / 10).max(1) as u64;
            if self.cronloops.is_multiple_of(every) {
                self.cluster_cron();
            }
        }
        self.aof_cron_flush();
        // A signal's shutdown starts here, as in Redis' cron (so it waits while the cron is
        // paused, and SHUTDOWN ABORT can still cancel it); one waiting for replicas ends here.
        self.shutdown_cron();
        let now = self.unix_time();
        self.migrate.close_timed_out(now);
        self.crash_reporting_cron();
        crate::module::events::fire_cron(self);
        // Counted at the end, as Redis does: the first run is run 0, so the once-a-second
        // tasks (the replication cron) run at start-up, before any replica can attach.
        self.cronloops += 1;
    }

    /// Keeps the crash handlers in line with `crash-log-enabled` (and the panic hook with
    /// `use-exit-on-panic`) and re-arms the software
    /// watchdog. A period shorter than two cron ticks would fire between healthy ticks, so it
    /// is raised to that, as Redis does.
    fn crash_reporting_cron(&mut self) {
        use super::crash;
        if self.config.crash_log_enabled != crash::handlers_installed() {
            if self.config.crash_log_enabled {
                crash::install_crash_handlers();
            } else {
                crash::remove_crash_handlers();
            }
        }
        crash::set_exit_on_panic(self.config.use_exit_on_panic);
        let period = self.config.watchdog_period;
        let min_period = 2 * 1000 / self.hz.max(1);
        crash::watchdog_schedule(if period > 0 {
            period.max(min_period)
        } else {
            0
        });
    }
}
