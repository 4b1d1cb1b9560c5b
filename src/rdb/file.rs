//! Whole snapshots: writing the dataset as an RDB file (header, AUX fields, every database,
//! EOF and checksum) and loading one into the keyspace, with Redis 7.0's log lines and its
//! treatment of expired keys, empty keys, duplicates, functions and module data.

use std::io::{self, Write};

use super::decode::Reader;
use super::encode::Writer;
use super::object::{self, LoadOptions};
use super::*;
use crate::config::table::{
    POLICY_ALLKEYS_LFU, POLICY_ALLKEYS_LRU, POLICY_VOLATILE_LFU, POLICY_VOLATILE_LRU,
};
use crate::server::evict;
use crate::server::Server;
use crate::types::Obj;

/// A configuration value kept as text by the config table (`Kind::Stored`).
pub fn stored_config(cfg: &crate::config::Config, name: &str) -> String {
    match cfg.other.get(name) {
        Some(v) => v.clone(),
        None => crate::config::lookup(name.as_bytes())
            .map(|d| crate::config::get_directive(cfg, d))
            .unwrap_or_default(),
    }
}

/// Sleeps `usec` microseconds between keys (`rdb-key-save-delay`, `key-load-delay`), so
/// tests can observe a save or load in progress. A negative value sleeps 1us with
/// probability 1/|usec|, for delays shorter than a system call.
pub fn debug_delay(usec: i64, rng: &mut impl rand::Rng) {
    let usec = if usec < 0 {
        u64::from(rng.gen_range(0..usec.unsigned_abs()) == 0)
    } else {
        usec as u64
    };
    if usec > 0 {
        std::thread::sleep(std::time::Duration::from_micros(usec));
    }
}

/// Writes the whole dataset. `on_key` is told the number of keys written so far after each
/// key (progress reports of a BGSAVE child). Returns the writer's sink.
pub fn save<W: Write>(srv: &Server, out: W, on_key: &mut dyn FnMut(u64)) -> io::Result<W> {
    save_ext(srv, out, on_key, false)
}

/// `save`, for an AOF base file when `aof_base` (the `aof-base` AUX field says so).
pub fn save_ext<W: Write>(
    srv: &Server,
    out: W,
    on_key: &mut dyn FnMut(u64),
    aof_base: bool,
) -> io::Result<W> {
    let cfg = &srv.config;
    let mut w = Writer::new(out, cfg.rdbchecksum, cfg.rdbcompression);
    w.raw(format!("REDIS{:04}", RDB_VERSION).as_bytes())?;
    w.aux("redis-ver", crate::server::REDIS_VERSION.as_bytes())?;
    w.aux_int("redis-bits", 64)?;
    w.aux_int("ctime", crate::util::mstime() / 1000)?;
    w.aux_int("used-mem", srv.used_memory() as i64)?;
    // The replication history the snapshot matches, so that a server restarted from it (or
    // a replica loading it) can continue with a partial resynchronization.
    if let Some((db, id, offset)) = srv.repl_save_info() {
        w.aux_int("repl-stream-db", db)?;
        w.aux("repl-id", id.as_bytes())?;
        w.aux_int("repl-offset", offset)?;
    }
    w.aux_int("aof-base", i64::from(aof_base))?;
    crate::module::io::save_aux(
        &mut w,
        crate::module::io::AUX_BEFORE_RDB,
        cfg.rdbcompression,
    )?;
    crate::scripting::function::save(srv, &mut w)?;
    let policy = cfg.maxmemory_policy;
    let save_lru = matches!(policy, POLICY_ALLKEYS_LRU | POLICY_VOLATILE_LRU);
    let save_lfu = matches!(policy, POLICY_ALLKEYS_LFU | POLICY_VOLATILE_LFU);
    let now_ms = crate::util::mstime();
    let lru_now = evict::lru_clock(now_ms);
    let minutes = ((now_ms / 1000 / 60) & 0xffff) as u16;
    let delay = stored_config(cfg, "rdb-key-save-delay")
        .parse::<i64>()
        .unwrap_or(0);
    let mut rng = rand::thread_rng();
    let mut written_keys = 0u64;
    for db in &srv.dbs {
        if db.dict.is_empty() {
            continue;
        }
        w.byte(opcode::SELECTDB)?;
        w.len(db.id as u64)?;
        w.byte(opcode::RESIZEDB)?;
        w.len(db.dict.len() as u64)?;
        w.len(db.expires.len() as u64)?;
        for (key, o) in db.dict.iter() {
            if let Some(when) = db.expires.get(&key[..]) {
                w.byte(opcode::EXPIRETIME_MS)?;
                w.millis(*when)?;
            }
            if save_lru {
                w.byte(opcode::IDLE)?;
                w.len(evict::idle_seconds(o.lru, lru_now))?;
            }
            if save_lfu {
                w.byte(opcode::FREQ)?;
                w.byte(evict::lfu_decayed_counter(
                    o.lru,
                    minutes,
                    cfg.lfu_decay_time,
                ))?;
            }
            w.byte(object::save_type(&o.value))?;
            w.string(key)?;
            object::save_value_for(&mut w, &o.value, Some(key), db.id as i32)?;
            if delay != 0 {
                debug_delay(delay, &mut rng);
            }
            written_keys += 1;
            on_key(written_keys);
        }
    }
    crate::module::io::save_aux(&mut w, crate::module::io::AUX_AFTER_RDB, cfg.rdbcompression)?;
    w.byte(opcode::EOF)?;
    let crc = w.checksum();
    w.raw(&crc.to_le_bytes())?;
    w.flush()?;
    Ok(w.into_inner())
}

/// How a load went (INFO `rdb_last_load_keys_*`).
#[derive(Debug, Default, Clone, Copy)]
pub struct LoadStats {
    pub loaded: u64,
    pub expired: u64,
    pub empty_skipped: u64,
    /// Bytes of the input the image took (an AOF continues with commands after it).
    pub consumed: u64,
}

/// The clock a loaded object starts with: from the file's IDLE/FREQ when the current policy
/// uses that kind of clock (Redis' `objectSetLRUOrLFU`), else a fresh one.
fn loaded_clock(srv: &Server, lfu_freq: Option<u8>, lru_idle: Option<u64>, now_ms: i64) -> u32 {
    let policy = srv.config.maxmemory_policy;
    if let Some(f) = lfu_freq {
        if matches!(policy, POLICY_ALLKEYS_LFU | POLICY_VOLATILE_LFU) {
            let minutes = ((now_ms / 1000 / 60) & 0xffff) as u32;
            return (minutes << 8) | f as u32;
        }
    } else if let Some(idle) = lru_idle {
        if matches!(policy, POLICY_ALLKEYS_LRU | POLICY_VOLATILE_LRU) {
            let clock = evict::lru_clock(now_ms) as i64;
            let mut abs = clock - idle.min(i64::MAX as u64) as i64;
            if abs < 0 {
                abs += evict::LRU_CLOCK_MAX as i64;
            }
            return (abs.max(0) as u32) & evict::LRU_CLOCK_MAX;
        }
    }
    srv.new_object_clock()
}

/// Why a load failed: a message (already logged with Redis' wording where Redis has one) and
/// whether the content was corrupt, which Redis treats as fatal (it stops the server rather
/// than run with part of a dataset), as opposed to a file it refused up front (signature,
/// version).
#[derive(Debug)]
pub struct LoadFailure {
    pub msg: String,
    pub corrupt: bool,
}

/// Loads an RDB image into the keyspace (which the caller emptied, unless merging).
/// `allow_dup` replaces existing keys (DEBUG RELOAD MERGE); otherwise a duplicate is fatal
/// corruption as in Redis.
/// `progress` is called after each key with the bytes read so far (it may serve clients).
pub fn load(
    srv: &mut Server,
    buf: &[u8],
    allow_dup: bool,
    progress: &mut dyn FnMut(&mut Server, u64),
) -> Result<LoadStats, LoadFailure> {
    load_ext(srv, buf, allow_dup, false, progress)
}

/// `load`; `aof_preamble` for the RDB part of an AOF, whose expired keys are kept as Redis
/// does (the commands after it may still refer to them).
pub fn load_ext(
    srv: &mut Server,
    buf: &[u8],
    allow_dup: bool,
    aof_preamble: bool,
    progress: &mut dyn FnMut(&mut Server, u64),
) -> Result<LoadStats, LoadFailure> {
    let mut r = Reader::new(buf);
    let fail = |msg: String| LoadFailure {
        msg,
        corrupt: false,
    };
    let magic = r.take(9).map_err(|_| LoadFailure {
        msg: "Short read or OOM loading DB. Unrecoverable error, aborting now.".into(),
        corrupt: true,
    })?;
    if &magic[..5] != b"REDIS" {
        crate::log_warning!("Wrong signature trying to load DB from file");
        return Err(fail("Wrong signature trying to load DB from file".into()));
    }
    let ver = std::str::from_utf8(&magic[5..])
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .unwrap_or(0);
    if ver < 1 || ver > RDB_VERSION as i64 {
        crate::log_warning!("Can't handle RDB format version {}", ver);
        return Err(fail(format!("Can't handle RDB format version {}", ver)));
    }
    let sanitize = stored_config(&srv.config, "sanitize-dump-payload");
    // `clients` sanitizes only what clients send (RESTORE), not files.
    let opts = LoadOptions::from_config(&srv.config, sanitize == "yes");
    let load_delay = stored_config(&srv.config, "key-load-delay")
        .parse::<i64>()
        .unwrap_or(0);
    let mut rng = rand::thread_rng();
    let now_ms = crate::util::mstime();
    let mut stats = LoadStats::default();
    let mut db = 0usize;
    let (mut expire, mut lfu_freq, mut lru_idle) = (None::<i64>, None::<u8>, None::<u64>);
    let result: LoadResult<()> = (|| {
        loop {
            let t = r.byte()?;
            match t {
                opcode::EXPIRETIME => {
                    expire = Some(r.seconds()? as i64 * 1000);
                    continue;
                }
                opcode::EXPIRETIME_MS => {
                    expire = Some(r.millis()?);
                    continue;
                }
                opcode::FREQ => {
                    lfu_freq = Some(r.byte()?);
                    continue;
                }
                opcode::IDLE => {
                    lru_idle = Some(r.length()?);
                    continue;
                }
                opcode::EOF => break,
                opcode::SELECTDB => {
                    let id = r.length()?;
                    if id >= srv.dbs.len() as u64 {
                        crate::log_warning!(
                            "FATAL: Data file was created with a Redis server configured to handle more than {} databases. Exiting\n",
                            srv.dbs.len()
                        );
                        return corrupt("too many databases");
                    }
                    db = id as usize;
                    continue;
                }
                opcode::RESIZEDB => {
                    // Size the tables up front as Redis does, so loading doesn't go through a
                    // chain of rehashes; a key takes at least 3 bytes, which bounds a forged
                    // size by the file's own.
                    let cap = (r.remaining() / 3) as u64;
                    let keys = r.length()?.min(cap) as usize;
                    let expires = r.length()?.min(cap) as usize;
                    srv.dbs[db].dict.expand(keys);
                    srv.dbs[db].expires.expand(expires);
                    continue;
                }
                opcode::AUX => {
                    let k = r.string()?;
                    let v = r.string()?;
                    if k.eq_ignore_ascii_case(b"used-mem") {
                        srv.persist.loading_rdb_used_mem = std::str::from_utf8(&v)
                            .ok()
                            .and_then(|s| s.parse().ok())
                            .unwrap_or(0);
                    }
                    if k.eq_ignore_ascii_case(b"repl-id") && v.len() == 40 {
                        srv.repl.loaded_replid = Some(String::from_utf8_lossy(&v).into_owned());
                    } else if k.eq_ignore_ascii_case(b"repl-stream-db") {
                        srv.repl.cached_db = std::str::from_utf8(&v)
                            .ok()
                            .and_then(|s| s.parse().ok())
                            .unwrap_or(0);
                    } else if k.eq_ignore_ascii_case(b"repl-offset") {
                        srv.repl.loaded_offset =
                            std::str::from_utf8(&v).ok().and_then(|s| s.parse().ok());
                    }
                    aux_field(&k, &v);
                    continue;
                }
                opcode::MODULE_AUX => {
                    crate::module::io::load_aux(&mut r)?;
                    continue;
                }
                opcode::FUNCTION_PRE_GA | opcode::FUNCTION2 => {
                    let code = crate::scripting::function::load_source(&mut r, t)?;
                    // A library already there is replaced only when merging (DEBUG RELOAD
                    // MERGE), as duplicate keys are.
                    if let Err(e) = srv.scripting.functions.create_library(&code, allow_dup, 0) {
                        crate::log_warning!("Failed loading library, {}", e);
                        return Err(LoadError::Refused(e));
                    }
                    continue;
                }
                t if !types::is_object_type(t) => {
                    return corrupt(format!("Unknown RDB encoding type {}", t));
                }
                _ => {}
            }
            let key = r.string()?;
            match object::load_value_for(&mut r, t, &opts, Some(&key), db as i32) {
                Err(LoadError::EmptyKey) => {
                    if stats.empty_skipped < 10 {
                        crate::log_warning!(
                            "rdbLoadObject skipping empty key: {}",
                            String::from_utf8_lossy(&key)
                        );
                    }
                    stats.empty_skipped += 1;
                }
                Err(e) => return Err(e),
                Ok(value) => {
                    // A replica keeps expired keys: its master will send their deletion.
                    if !aof_preamble && expire.is_some_and(|e| e < now_ms) && !srv.is_replica() {
                        stats.expired += 1;
                    } else {
                        let lru = loaded_clock(srv, lfu_freq, lru_idle, now_ms);
                        stats.loaded += 1;
                        let obj = Obj::new(value, lru);
                        if !srv.dbs[db].add_loaded(key.clone(), obj, expire, allow_dup) {
                            crate::log_warning!(
                                "RDB has duplicated key '{}' in DB {}",
                                String::from_utf8_lossy(&key),
                                db
                            );
                            return corrupt("Duplicated key found in RDB file");
                        }
                        // Only modules hear about loaded keys (Redis' NOTIFY_LOADED).
                        if !srv.modules.subscribers.is_empty() {
                            crate::module::notify::fire(
                                srv,
                                crate::config::table::notify::LOADED,
                                "loaded",
                                &key,
                                db,
                            );
                        }
                    }
                }
            }
            if load_delay != 0 {
                debug_delay(load_delay, &mut rng);
            }
            progress(srv, r.pos() as u64);
            expire = None;
            lfu_freq = None;
            lru_idle = None;
        }
        if ver >= 5 {
            let expected = crc64::update(0, r.consumed());
            let got = u64::from_le_bytes(r.take(8)?.try_into().unwrap());
            if srv.config.rdbchecksum && !srv.skip_checksum_validation {
                if got == 0 {
                    crate::log_warning!(
                        "RDB file was saved with checksum disabled: no check performed."
                    );
                } else if got != expected {
                    crate::log_warning!(
                        "Wrong RDB checksum expected: ({:x}) but got ({:x}). Aborting now.",
                        expected,
                        got
                    );
                    return corrupt("RDB CRC error");
                }
            }
        }
        Ok(())
    })();
    stats.consumed = r.pos() as u64;
    srv.stats.dump_payload_sanitizations += opts.sanitized.get();
    match result {
        Ok(()) => {
            if stats.empty_skipped > 0 {
                crate::log_warning!(
                    "Done loading RDB, keys loaded: {}, keys expired: {}, empty keys skipped: {}.",
                    stats.loaded,
                    stats.expired,
                    stats.empty_skipped
                );
            } else {
                crate::log_notice!(
                    "Done loading RDB, keys loaded: {}, keys expired: {}.",
                    stats.loaded,
                    stats.expired
                );
            }
            Ok(stats)
        }
        Err(LoadError::Refused(msg)) => {
            // Redis words this one as a short read, and goes on running.
            crate::log_warning!("Short read or OOM loading DB. Unrecoverable error, aborting now.");
            Err(LoadFailure {
                msg,
                corrupt: false,
            })
        }
        Err(e) => {
            let what = match &e {
                LoadError::Eof => {
                    crate::log_warning!(
                        "Short read or OOM loading DB. Unrecoverable error, aborting now."
                    );
                    "Unexpected EOF reading RDB file".to_string()
                }
                other => other.to_string(),
            };
            let msg = format!(
                "Internal error in RDB reading offset {}, function at rdb.rs -> {}",
                r.pos(),
                what
            );
            crate::log_warning!("{}", msg);
            Err(LoadFailure { msg, corrupt: true })
        }
    }
}

/// Logs what Redis logs about the AUX fields it knows; the rest are ignored.
fn aux_field(k: &[u8], v: &[u8]) {
    let val = String::from_utf8_lossy(v);
    let int = || val.trim().parse::<i64>().unwrap_or(0);
    if k.first() == Some(&b'%') {
        crate::log_notice!("RDB '{}': {}", String::from_utf8_lossy(k), val);
        return;
    }
    match String::from_utf8_lossy(k).to_ascii_lowercase().as_str() {
        "redis-ver" => crate::log_notice!("Loading RDB produced by version {}", val),
        "ctime" => {
            let age = (crate::util::mstime() / 1000 - int()).max(0);
            crate::log_notice!("RDB age {} seconds", age);
        }
        "used-mem" => crate::log_notice!(
            "RDB memory usage when created {:.2} Mb",
            int() as f64 / (1024.0 * 1024.0)
        ),
        "aof-preamble" if int() != 0 => crate::log_notice!("RDB has an AOF tail"),
        "aof-base" if int() != 0 => crate::log_notice!("RDB is base AOF"),
        _ => {}
    }
}
