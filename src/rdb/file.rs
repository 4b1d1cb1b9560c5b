//! Whole snapshots: writing the dataset as an RDB file (header, AUX fields, every database,
//! EOF and checksum) and loading one into the keyspace, with Redis 7.0's log lines and its
//! treatment of expired keys, empty keys, duplicates, functions and module data.

use std::io::{self, Read, Write};

use super::decode::Reader;
use super::encode::Writer;
use super::object::{self, LoadOptions};
use super::*;
use crate::config::table::{
    POLICY_ALLKEYS_LFU, POLICY_ALLKEYS_LRU, POLICY_VOLATILE_LFU, POLICY_VOLATILE_LRU,
};
use crate::server::evict;
use crate::server::Server;
use crate::types::{Obj, Value};

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
    save_image(srv, out, on_key, aof_base, SaveParts::default())
}

/// Which parts of the dataset a snapshot carries (a replica may ask for functions only);
/// the header AUX fields are always there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SaveParts {
    /// Keys and module aux data.
    pub data: bool,
    pub functions: bool,
}

impl Default for SaveParts {
    fn default() -> Self {
        SaveParts {
            data: true,
            functions: true,
        }
    }
}

/// `save` with only some parts of the dataset.
pub fn save_parts<W: Write>(
    srv: &Server,
    out: W,
    on_key: &mut dyn FnMut(u64),
    parts: SaveParts,
) -> io::Result<W> {
    save_image(srv, out, on_key, false, parts)
}

fn save_image<W: Write>(
    srv: &Server,
    out: W,
    on_key: &mut dyn FnMut(u64),
    aof_base: bool,
    parts: SaveParts,
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
    if parts.data {
        crate::module::io::save_aux(
            &mut w,
            crate::module::io::AUX_BEFORE_RDB,
            cfg.rdbcompression,
        )?;
    }
    if parts.functions {
        crate::scripting::function::save(srv, &mut w)?;
    }
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
    for db in srv.dbs.iter().filter(|_| parts.data) {
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
    if parts.data {
        crate::module::io::save_aux(&mut w, crate::module::io::AUX_AFTER_RDB, cfg.rdbcompression)?;
    }
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
    let mut loader = Loader::new(srv, allow_dup, aof_preamble);
    loader.feed(srv, buf, true, &mut |srv, at| {
        progress(srv, at);
        true
    })?;
    Ok(loader.stats)
}

/// Bytes read from a file per feed of the loader.
const READ_CHUNK: usize = 1024 * 1024;

/// `load` from a reader (a dump file), a chunk at a time: only the record being read is
/// held in memory beyond the dataset, never the whole file. `feed_repl`: see `Loader`.
pub fn load_from(
    srv: &mut Server,
    src: &mut dyn io::Read,
    allow_dup: bool,
    feed_repl: bool,
    progress: &mut dyn FnMut(&mut Server, u64),
) -> Result<LoadStats, LoadFailure> {
    let mut loader = Loader::new(srv, allow_dup, false);
    loader.feed_repl = feed_repl;
    let mut pending = Vec::new();
    loop {
        let want = pending.len().max(loader.retry_at) + READ_CHUNK - pending.len();
        let at_end = match io::Read::take(&mut *src, want as u64).read_to_end(&mut pending) {
            Ok(n) => n < want,
            Err(e) => {
                let msg = format!(
                    "Read error loading DB: {}",
                    crate::rdb::persist::strerror(&e)
                );
                crate::log_warning!("{}", msg);
                return Err(LoadFailure {
                    msg,
                    corrupt: false,
                });
            }
        };
        let fed = loader.feed(srv, &pending, at_end, &mut |srv, at| {
            progress(srv, at);
            true
        })?;
        pending.drain(..fed.consumed);
        if fed.done || at_end {
            return Ok(loader.stats);
        }
    }
}

/// How far a `Loader::feed` got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fed {
    /// Bytes of the input taken (whole records); the caller drops them and feeds the rest
    /// again with what arrives next.
    pub consumed: usize,
    /// The image ended (EOF opcode and checksum read and checked).
    pub done: bool,
}

/// Smallest growth of an unfinished record's bytes before it is parsed again: with
/// doubling beyond that, a record arriving in many small reads is parsed a bounded number
/// of times (about twice its size in all), not once per read.
const RETRY_MIN_GROWTH: usize = 4 * 1024;

/// An RDB image being loaded, whole (a file) or as it arrives (a replica loading its
/// master's snapshot straight from the link): the state kept from one record to the next,
/// so the input can be fed in pieces, each piece taking the records complete in it.
pub struct Loader {
    allow_dup: bool,
    aof_preamble: bool,
    /// A master's start-up load (Redis' RDBFLAGS_FEED_REPL): keys found expired go to the
    /// replication backlog as deletions, so replicas that continue our history after the
    /// restart drop them too.
    pub feed_repl: bool,
    /// RDB version from the header; 0 until the header is read.
    ver: i64,
    opts: LoadOptions,
    load_delay: i64,
    rng: rand::rngs::SmallRng,
    now_ms: i64,
    pub stats: LoadStats,
    db: usize,
    expire: Option<i64>,
    lfu_freq: Option<u8>,
    lru_idle: Option<u64>,
    /// Checksum and length of what earlier feeds consumed.
    crc: u64,
    offset: u64,
    /// Bytes the unfinished record needs before it is worth parsing again.
    retry_at: usize,
    done: bool,
}

impl Loader {
    pub fn new(srv: &Server, allow_dup: bool, aof_preamble: bool) -> Loader {
        use rand::SeedableRng;
        let sanitize = stored_config(&srv.config, "sanitize-dump-payload");
        Loader {
            allow_dup,
            aof_preamble,
            feed_repl: false,
            ver: 0,
            // `clients` sanitizes only what clients send (RESTORE), not files.
            opts: LoadOptions::from_config(&srv.config, sanitize == "yes"),
            load_delay: stored_config(&srv.config, "key-load-delay")
                .parse::<i64>()
                .unwrap_or(0),
            rng: rand::rngs::SmallRng::from_entropy(),
            now_ms: crate::util::mstime(),
            stats: LoadStats::default(),
            db: 0,
            expire: None,
            lfu_freq: None,
            lru_idle: None,
            crc: 0,
            offset: 0,
            retry_at: 0,
            done: false,
        }
    }

    /// Bytes of the image consumed so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Bytes the next feed's buffer needs before the unfinished record is tried again.
    pub fn needs(&self) -> usize {
        self.retry_at
    }

    /// Loads the records complete in `buf` (what follows the bytes earlier feeds consumed).
    /// `last`: no more input comes, so a record cut short is an error rather than something
    /// to wait for. `progress` is called after each key with the bytes consumed in all; when
    /// it answers false the feed stops there (the caller serves its clients and feeds the
    /// rest later). Logs the outcome as Redis does when the image ends or fails.
    pub fn feed(
        &mut self,
        srv: &mut Server,
        buf: &[u8],
        last: bool,
        progress: &mut dyn FnMut(&mut Server, u64) -> bool,
    ) -> Result<Fed, LoadFailure> {
        if self.done {
            return Ok(Fed {
                consumed: 0,
                done: true,
            });
        }
        if !last && buf.len() < self.retry_at {
            return Ok(Fed {
                consumed: 0,
                done: false,
            });
        }
        let mut r = Reader::new(buf);
        let result = self.records(srv, &mut r, last, progress);
        let consumed = r.pos();
        self.crc = crc64::update(self.crc, &buf[..consumed]);
        self.offset += consumed as u64;
        self.stats.consumed = self.offset;
        srv.stats.dump_payload_sanitizations += self.opts.sanitized.take();
        match result {
            Ok(done) => {
                self.done = done;
                if done {
                    self.log_done();
                }
                Ok(Fed { consumed, done })
            }
            Err(e) => Err(self.failure(e)),
        }
    }

    /// Reads records until the input or the image ends (true when the image did), or
    /// `progress` asks to stop. An unfinished record is left unread when more input comes.
    fn records(
        &mut self,
        srv: &mut Server,
        r: &mut Reader,
        last: bool,
        progress: &mut dyn FnMut(&mut Server, u64) -> bool,
    ) -> LoadResult<bool> {
        loop {
            let start = r.pos();
            let step = if self.ver == 0 {
                self.header(r).map(|()| true)
            } else {
                self.record(srv, r, last)
            };
            match step {
                Ok(true) => {}
                Ok(false) => return Ok(true),
                Err(LoadError::Eof) if !last => {
                    // Parse it again once it has grown enough (see RETRY_MIN_GROWTH).
                    let have = r.remaining() + (r.pos() - start);
                    let wanted = r.wanted().saturating_sub(start);
                    self.retry_at = wanted.max(have + have.max(RETRY_MIN_GROWTH));
                    r.rewind(start);
                    return Ok(false);
                }
                Err(e) => return Err(e),
            }
            self.retry_at = 0;
            if self.ver != 0 && !progress(srv, self.offset + r.pos() as u64) {
                return Ok(false);
            }
        }
    }

    /// The magic string and version.
    fn header(&mut self, r: &mut Reader) -> LoadResult<()> {
        let magic = r.take(9)?;
        if &magic[..5] != b"REDIS" {
            crate::log_warning!("Wrong signature trying to load DB from file");
            return Err(LoadError::Refused(
                "Wrong signature trying to load DB from file".into(),
            ));
        }
        let ver = std::str::from_utf8(&magic[5..])
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
            .unwrap_or(0);
        if ver < 1 || ver > RDB_VERSION as i64 {
            crate::log_warning!("Can't handle RDB format version {}", ver);
            return Err(LoadError::Refused(format!(
                "Can't handle RDB format version {}",
                ver
            )));
        }
        self.ver = ver;
        Ok(())
    }

    /// One record: an opcode with its operands, or a key with its value. False at the end
    /// of the image. `last` as in `feed`: when more input may come, module data is checked
    /// to be all there before its module reads it, so a module never sees a cut record.
    fn record(&mut self, srv: &mut Server, r: &mut Reader, last: bool) -> LoadResult<bool> {
        let t = r.byte()?;
        match t {
            opcode::EXPIRETIME => {
                self.expire = Some(r.seconds()? as i64 * 1000);
                return Ok(true);
            }
            opcode::EXPIRETIME_MS => {
                self.expire = Some(r.millis()?);
                return Ok(true);
            }
            opcode::FREQ => {
                self.lfu_freq = Some(r.byte()?);
                return Ok(true);
            }
            opcode::IDLE => {
                self.lru_idle = Some(r.length()?);
                return Ok(true);
            }
            opcode::EOF => {
                if self.ver >= 5 {
                    self.checksum(srv, r)?;
                }
                return Ok(false);
            }
            opcode::SELECTDB => {
                let id = r.length()?;
                if id >= srv.dbs.len() as u64 {
                    crate::log_warning!(
                        "FATAL: Data file was created with a Redis server configured to handle more than {} databases. Exiting\n",
                        srv.dbs.len()
                    );
                    return corrupt("too many databases");
                }
                self.db = id as usize;
                return Ok(true);
            }
            opcode::RESIZEDB => {
                // Size the tables up front as Redis does, so loading doesn't go through a
                // chain of rehashes; a key takes at least 3 bytes, which bounds a forged
                // size by the file's own (or, while the image is still arriving, by a
                // million keys past what is here).
                let keys = r.length()?;
                let expires = r.length()?;
                let mut cap = (r.remaining() / 3) as u64;
                if !last {
                    cap = cap.max(1 << 20);
                }
                srv.dbs[self.db].dict.expand(keys.min(cap) as usize);
                srv.dbs[self.db].expires.expand(expires.min(cap) as usize);
                return Ok(true);
            }
            opcode::AUX => {
                let k = r.string()?;
                let v = r.string()?;
                aux_record(srv, &k, &v);
                return Ok(true);
            }
            opcode::MODULE_AUX => {
                if !last {
                    crate::module::io::probe_aux(&mut r.clone())?;
                }
                crate::module::io::load_aux(r)?;
                return Ok(true);
            }
            opcode::FUNCTION_PRE_GA | opcode::FUNCTION2 => {
                let code = crate::scripting::function::load_source(r, t)?;
                // A library already there is replaced only when merging (DEBUG RELOAD
                // MERGE), as duplicate keys are.
                if let Err(e) = srv
                    .scripting
                    .functions
                    .create_library(&code, self.allow_dup, 0)
                {
                    crate::log_warning!("Failed loading library, {}", e);
                    return Err(LoadError::Refused(e));
                }
                return Ok(true);
            }
            t if !types::is_object_type(t) => {
                return corrupt(format!("Unknown RDB encoding type {}", t));
            }
            _ => {}
        }
        let key = r.string()?;
        if !last {
            match t {
                // Module values of the first format carry no item opcodes to check them by:
                // they are read once the whole image is here.
                types::MODULE_PRE_GA => return Err(LoadError::Eof),
                types::MODULE_2 => crate::module::io::probe_value(&mut r.clone())?,
                _ => {}
            }
        }
        match object::load_value_for(r, t, &self.opts, Some(&key), self.db as i32) {
            Err(LoadError::EmptyKey) => {
                if self.stats.empty_skipped < 10 {
                    crate::log_warning!(
                        "rdbLoadObject skipping empty key: {}",
                        String::from_utf8_lossy(&key)
                    );
                }
                self.stats.empty_skipped += 1;
            }
            Err(e) => return Err(e),
            Ok(value) => self.add_key(srv, key, value)?,
        }
        if self.load_delay != 0 {
            debug_delay(self.load_delay, &mut self.rng);
        }
        self.expire = None;
        self.lfu_freq = None;
        self.lru_idle = None;
        Ok(true)
    }

    /// Adds a loaded key, unless it expired (a replica keeps those: its master will send
    /// their deletion).
    fn add_key(&mut self, srv: &mut Server, key: Vec<u8>, value: Value) -> LoadResult<()> {
        let db = self.db;
        if !self.aof_preamble && self.expire.is_some_and(|e| e < self.now_ms) && srv.i_am_master() {
            if self.feed_repl {
                let del: &[u8] = if srv.config.lazyfree_lazy_expire {
                    b"UNLINK"
                } else {
                    b"DEL"
                };
                srv.repl_feed_command(db, &[del.to_vec(), key]);
            }
            self.stats.expired += 1;
            return Ok(());
        }
        let lru = loaded_clock(srv, self.lfu_freq, self.lru_idle, self.now_ms);
        self.stats.loaded += 1;
        let obj = Obj::new(value, lru);
        if !srv.dbs[db].add_loaded(key.clone(), obj, self.expire, self.allow_dup) {
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
        Ok(())
    }

    /// The checksum after the EOF opcode, against everything before it.
    fn checksum(&mut self, srv: &Server, r: &mut Reader) -> LoadResult<()> {
        let expected = crc64::update(self.crc, r.consumed());
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
        Ok(())
    }

    fn log_done(&self) {
        let stats = &self.stats;
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
    }

    /// A failed load, logged with Redis' wording (`offset` is where the reading stopped).
    fn failure(&self, e: LoadError) -> LoadFailure {
        match e {
            // A bad header: the file is refused up front, nothing was loaded.
            LoadError::Refused(msg) if self.ver == 0 => LoadFailure {
                msg,
                corrupt: false,
            },
            LoadError::Refused(msg) => {
                // Redis words this one as a short read, and goes on running.
                crate::log_warning!(
                    "Short read or OOM loading DB. Unrecoverable error, aborting now."
                );
                LoadFailure {
                    msg,
                    corrupt: false,
                }
            }
            e => {
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
                    self.offset, what
                );
                crate::log_warning!("{}", msg);
                LoadFailure { msg, corrupt: true }
            }
        }
    }
}

/// An AUX field: the ones that set server state (replication history, the creator's memory),
/// and the log lines Redis prints for the ones it knows.
fn aux_record(srv: &mut Server, k: &[u8], v: &[u8]) {
    let text = || std::str::from_utf8(v).ok();
    if k.eq_ignore_ascii_case(b"used-mem") {
        srv.persist.loading_rdb_used_mem = text().and_then(|s| s.parse().ok()).unwrap_or(0);
    }
    if k.eq_ignore_ascii_case(b"repl-id") && v.len() == 40 {
        srv.repl.loaded_replid = Some(String::from_utf8_lossy(v).into_owned());
    } else if k.eq_ignore_ascii_case(b"repl-stream-db") {
        srv.repl.cached_db = text().and_then(|s| s.parse().ok()).unwrap_or(0);
    } else if k.eq_ignore_ascii_case(b"repl-offset") {
        srv.repl.loaded_offset = text().and_then(|s| s.parse().ok());
    }
    aux_field(k, v);
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
