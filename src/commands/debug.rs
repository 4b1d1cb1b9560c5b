//! DEBUG: the introspection and fault-injection subcommands the upstream test suite relies on
//! (SLEEP, OBJECT, DIGEST, RELOAD, POPULATE, PROTOCOL, HTSTATS, MALLCTL, SEGFAULT, ...).
//! Subcommands that need subsystems this build doesn't have yet (LISTPACK, QUICKLIST,
//! CHANGE-REPL-ID, ...) are not recognized and get Redis' reply for an unknown subcommand.
//! DEBUG is a protected command: `enable-debug-command` is checked by the command path.

use crate::client::Client;
use crate::commands::memory::mallctl;
use crate::commands::{reply_help, reply_subcommand_syntax_error, CmdProc};
use crate::server::Server;
use crate::sha1::{self, Sha1};
use crate::types::{HashValue, RStr, SetValue, Value};
use crate::util;

pub fn lookup(name: &str) -> Option<CmdProc> {
    match name {
        "debug" => Some(debug_command),
        _ => None,
    }
}

const HELP: &[&str] = &[
    "CONFIG-REWRITE-FORCE-ALL",
    "    Like CONFIG REWRITE but writes all configuration options, including",
    "    keywords not listed in original configuration file or default values.",
    "DIGEST",
    "    Output a hex signature representing the current DB content.",
    "DIGEST-VALUE <key> [<key> ...]",
    "    Output a hex signature of the values of all the specified keys.",
    "ERROR <string>",
    "    Return a Redis protocol error with <string> as message. Useful for clients",
    "    unit tests to simulate Redis errors.",
    "LOG <message>",
    "    Write <message> to the server log.",
    "HTSTATS <dbid>",
    "    Return hash table statistics of the specified Redis database.",
    "HTSTATS-KEY <key>",
    "    Like HTSTATS but for the hash table stored at <key>'s value.",
    "LOADAOF",
    "    Flush the AOF buffers on disk and reload the AOF in memory.",
    "REPLICATE <string>",
    "    Replicates the provided string to replicas, allowing data divergence.",
    "MALLCTL <key> [<val>]",
    "    Get or set a malloc tuning integer.",
    "MALLCTL-STR <key> [<val>]",
    "    Get or set a malloc tuning string.",
    "OBJECT <key>",
    "    Show low level info about `key` and associated value.",
    "DROP-CLUSTER-PACKET-FILTER <packet-type>",
    "    Drop all packets that match the filtered type. Set to -1 allow all packets.",
    "POPULATE <count> [<prefix>] [<size>]",
    "    Create <count> string keys named key:<num>. If <prefix> is specified then",
    "    it is used instead of the 'key' prefix. These are not propagated to",
    "    replicas. Cluster slots are not respected so keys not belonging to the",
    "    current node can be created in cluster mode.",
    "PROTOCOL <type>",
    "    Reply with a test value of the specified type. <type> can be: string,",
    "    integer, double, bignum, null, array, set, map, attrib, push, verbatim,",
    "    true, false.",
    "RELOAD [option ...]",
    "    Save the RDB on disk and reload it back to memory. Valid <option> values:",
    "    * MERGE: conflicting keys will be loaded from RDB.",
    "    * NOFLUSH: the existing database will not be removed before load, but",
    "      conflicting keys will generate an exception and kill the server.",
    "    * NOSAVE: the database will be loaded from an existing RDB file.",
    "    Examples:",
    "    * DEBUG RELOAD: verify that the server is able to persist, flush and reload",
    "      the database.",
    "    * DEBUG RELOAD NOSAVE: replace the current database with the contents of an",
    "      existing RDB file.",
    "    * DEBUG RELOAD NOSAVE NOFLUSH MERGE: add the contents of an existing RDB",
    "      file to the database.",
    "SEGFAULT",
    "    Crash the server with sigsegv.",
    "SET-ACTIVE-EXPIRE <0|1>",
    "    Setting it to 0 disables expiring keys in background when they are not",
    "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
    "    default.",
    "QUICKLIST-PACKED-THRESHOLD <size>",
    "    Sets the threshold for elements to be inserted as plain vs packed nodes",
    "    Default value is 1GB, allows values up to 4GB. Setting to 0 restores to default.",
    "SET-SKIP-CHECKSUM-VALIDATION <0|1>",
    "    Enables or disables checksum checks for RDB files and RESTORE's payload.",
    "SLEEP <seconds>",
    "    Stop the server for <seconds>. Decimals allowed.",
    "STRINGMATCH-TEST",
    "    Run a fuzz tester against the stringmatchlen() function.",
    "LISTPACK <key>",
    "    Show low level info about the listpack encoding of <key>.",
    "PAUSE-CRON <0|1>",
    "    Stop periodic cron job processing.",
    "REPLYBUFFER PEAK-RESET-TIME <NEVER||RESET|time>",
    "    Sets the time (in milliseconds) to wait between client reply buffer peak resets.",
    "    In case NEVER is provided the last observed peak will never be reset",
    "    In case RESET is provided the peak reset time will be restored to the default value",
    "REPLYBUFFER RESIZING <0|1>",
    "    Enable or disable the reply buffer resize cron job",
    "CLUSTERLINK KILL <to|from|all> <node-id>",
    "    Kills the link based on the direction to/from (both) with the provided node.",
];

/// `atoi` semantics: leading digits (with sign), anything else ignored, 0 when none.
fn atoi(s: &[u8]) -> i64 {
    let s = std::str::from_utf8(s).unwrap_or("").trim_start();
    let (neg, rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    let v: i64 = digits.parse().unwrap_or(0);
    if neg {
        -v
    } else {
        v
    }
}

/// `strtod` semantics for DEBUG SLEEP: the longest numeric prefix, 0 when none.
fn strtod(s: &[u8]) -> f64 {
    let s = std::str::from_utf8(s).unwrap_or("").trim_start();
    let mut end = 0;
    let mut best = 0.0;
    for (i, _) in s.char_indices().chain(std::iter::once((s.len(), ' '))) {
        if i == 0 {
            continue;
        }
        if let Ok(v) = s[..i].parse::<f64>() {
            best = v;
            end = i;
        }
    }
    let _ = end;
    best
}

/// DEBUG CLUSTERLINK KILL TO|FROM|ALL <node-id>: drops our link to a node, its link to us,
/// or both (the cron reconnects).
fn debug_clusterlink_kill(srv: &mut Server, c: &mut Client) {
    let Some(cl) = srv.cluster.as_deref_mut() else {
        c.out
            .error("Debug option only available for cluster mode enabled setup!");
        return;
    };
    let Some(n) = cl.lookup(&c.argv[4]) else {
        c.out.error(&format!(
            "Unknown node {}",
            String::from_utf8_lossy(&c.argv[4])
        ));
        return;
    };
    let (to, from) = (cl.node(n).link, cl.node(n).inbound_link);
    let dir = c.argv[3].to_ascii_lowercase();
    let links = match &dir[..] {
        b"from" => vec![from],
        b"to" => vec![to],
        b"all" => vec![to, from],
        _ => {
            c.out.error(&format!(
                "Unknown direction {}",
                String::from_utf8_lossy(&c.argv[3])
            ));
            return;
        }
    };
    for l in links.into_iter().flatten() {
        cl.free_link(l);
    }
    c.out.ok();
}

fn debug_command(srv: &mut Server, c: &mut Client) {
    let sub = String::from_utf8_lossy(&c.argv[1]).to_ascii_lowercase();
    let argc = c.argv.len();
    match (sub.as_str(), argc) {
        ("help", 2) => reply_help(c, HELP),
        ("segfault", _) => segfault(),
        ("log", 3) => {
            crate::log_warning!("DEBUG LOG: {}", String::from_utf8_lossy(&c.argv[2]));
            c.out.ok();
        }
        ("object", 3) => debug_object(srv, c),
        ("drop-cluster-packet-filter", 3) => {
            let Some(t) = crate::commands::arg_i64(c, 2) else {
                return;
            };
            if let Some(cl) = srv.cluster.as_deref_mut() {
                cl.drop_packet_filter = t.clamp(-1, i64::from(i32::MAX)) as i32;
            }
            c.out.ok();
        }
        ("clusterlink", 5) if c.argv[2].eq_ignore_ascii_case(b"kill") => {
            debug_clusterlink_kill(srv, c)
        }
        ("replicate", 3..) => {
            // Straight into the stream, in whatever database it is in: replicas apply what
            // we never ran (tests use it to make them diverge).
            let mut bytes = Vec::new();
            crate::replication::state::encode_command(&c.argv[2..], &mut bytes);
            srv.repl_feed_stream(&bytes);
            c.out.ok();
        }
        ("populate", 3..=5) => debug_populate(srv, c),
        ("digest", 2) => {
            let d = dataset_digest(srv);
            c.out.status(&sha1::hex(&d));
        }
        ("digest-value", _) => {
            c.out.array(argc - 2);
            for j in 2..argc {
                let mut d = [0u8; 20];
                let key = c.argv[j].clone();
                // Logically expired keys still count: no lookup with expiry here.
                if let Some(o) = srv.dbs[c.db].dict.get(&key[..]) {
                    let has_expire = srv.dbs[c.db].expires.contains_key(&key[..]);
                    xor_object_digest(&mut d, &o.value, has_expire, &key, c.db);
                }
                c.out.status(&sha1::hex(&d));
            }
        }
        ("protocol", 3) => debug_protocol(c),
        ("reload", _) => debug_reload(srv, c),
        ("loadaof", _) => debug_loadaof(srv, c),
        ("aof-flush-sleep", 3) => {
            srv.aof.flush_sleep_us = atoi(&c.argv[2]).max(0) as u64;
            c.out.ok();
        }
        ("sleep", 3) => {
            let secs = strtod(&c.argv[2]);
            let us = (secs * 1_000_000.0) as i64;
            if us > 0 {
                std::thread::sleep(std::time::Duration::from_micros(us as u64));
            }
            c.out.ok();
        }
        ("set-active-expire", 3) => {
            srv.active_expire_enabled = atoi(&c.argv[2]) != 0;
            c.out.ok();
        }
        ("error", 3) => {
            let mut e = b"-".to_vec();
            e.extend(
                c.argv[2]
                    .iter()
                    .map(|b| if *b == b'\n' || *b == b'\r' { b' ' } else { *b }),
            );
            c.out.error_bytes(&e);
        }
        ("htstats", 3) => debug_htstats(srv, c),
        ("htstats-key", 3) => {
            let key = c.argv[2].clone();
            let Some(o) = srv.lookup_key(c.db, &key, crate::db::lookup::NOTOUCH) else {
                c.out.error(crate::commands::errors::NO_SUCH_KEY);
                return;
            };
            let mut s = String::new();
            let is_table = match &o.value {
                Value::Set(set) => match &**set {
                    SetValue::Hashtable(d) => {
                        dict_stats(&mut s, d);
                        true
                    }
                    _ => false,
                },
                Value::Hash(h) => match &**h {
                    HashValue::Hashtable(d) => {
                        dict_stats(&mut s, d);
                        true
                    }
                    _ => false,
                },
                _ => false,
            };
            if !is_table {
                c.out.error(
                    "The value stored at the specified key is not represented using an hash table",
                );
                return;
            }
            c.out.verbatim(s.as_bytes(), "txt");
        }
        ("stringmatch-test", 2) => {
            stringmatch_fuzz(srv);
            c.out.status("Apparently Redis did not crash: test passed");
        }
        ("config-rewrite-force-all", 2) => {
            let path = srv.config.config_file.clone().unwrap_or_default();
            match crate::commands::server::rewrite_config(srv, &path, true) {
                Ok(()) => c.out.ok(),
                Err(e) => c
                    .out
                    .error(&format!("CONFIG-REWRITE-FORCE-ALL failed: {}", e)),
            }
        }
        ("mallctl", n) if n >= 3 => mallctl_int(c),
        ("mallctl-str", n) if n >= 3 => mallctl_str(c),
        ("set-disable-deny-scripts", 3) => {
            srv.scripting.disable_deny_script = atoi(&c.argv[2]) != 0;
            c.out.ok();
        }
        ("set-skip-checksum-validation", 3) => {
            srv.skip_checksum_validation = atoi(&c.argv[2]) != 0;
            c.out.ok();
        }
        ("quicklist-packed-threshold", 3) => {
            let ok = util::parse_memory(&c.argv[2])
                .is_some_and(crate::types::list::set_packed_threshold);
            if ok {
                c.out.ok();
            } else {
                c.out
                    .error("argument must be a memory value bigger than 1 and smaller than 4gb");
            }
        }
        ("listpack", 3) => {
            let key = c.argv[2].clone();
            let flags = crate::db::lookup::NOTOUCH | crate::db::lookup::NONOTIFY;
            match srv.lookup_key(c.db, &key, flags) {
                None => c.out.error(crate::commands::errors::NO_SUCH_KEY),
                // No value type uses a bare listpack encoding yet (7.0 lists are
                // quicklists).
                Some(_) => c.out.error("Not a listpack encoded object."),
            }
        }
        ("pause-cron", 3) => {
            srv.cron_paused = atoi(&c.argv[2]) != 0;
            c.out.ok();
        }
        ("replybuffer", 4) => {
            let what = String::from_utf8_lossy(&c.argv[2]).to_ascii_lowercase();
            match what.as_str() {
                "peak-reset-time" => {
                    let v = String::from_utf8_lossy(&c.argv[3]).to_ascii_lowercase();
                    srv.reply_buffer_peak_reset_ms = match v.as_str() {
                        "never" => -1,
                        "reset" => REPLY_BUFFER_DEFAULT_PEAK_RESET_TIME,
                        _ => match util::parse_i64(&c.argv[3]) {
                            Some(n) => n,
                            None => {
                                c.out.error(crate::commands::errors::NOT_INTEGER);
                                return;
                            }
                        },
                    };
                }
                "resizing" => srv.reply_buffer_resizing = atoi(&c.argv[3]) != 0,
                _ => {
                    reply_subcommand_syntax_error(c);
                    return;
                }
            }
            c.out.ok();
        }
        _ => reply_subcommand_syntax_error(c),
    }
}

/// Redis' default interval between reply buffer peak resets (ms).
pub const REPLY_BUFFER_DEFAULT_PEAK_RESET_TIME: i64 = 5000;

fn debug_object(srv: &mut Server, c: &mut Client) {
    let key = c.argv[2].clone();
    let maxmemory = srv.config.maxmemory;
    let lru_policy = matches!(
        srv.config.maxmemory_policy,
        crate::config::table::POLICY_ALLKEYS_LRU
            | crate::config::table::POLICY_VOLATILE_LRU
            | crate::config::table::POLICY_ALLKEYS_LFU
            | crate::config::table::POLICY_VOLATILE_LFU
    );
    let now_clock = crate::server::evict::lru_clock(srv.now_ms());
    let compression = srv.config.rdbcompression;
    let Some(o) = srv.dbs[c.db].dict.get(&key[..]) else {
        c.out.error(crate::commands::errors::NO_SUCH_KEY);
        return;
    };
    // Small non-negative integers are shared objects in Redis (refcount INT_MAX) unless the
    // eviction policy needs per-object clocks.
    let shared = matches!(&o.value, Value::Str(RStr::Int(n)) if (0..10000).contains(n))
        && (maxmemory == 0 || !lru_policy);
    let serialized =
        crate::rdb::object::saved_len_for(&o.value, compression, Some(&key), c.db as i32);
    let refcount: i64 = if shared { i32::MAX as i64 } else { 1 };
    let addr = o as *const _ as usize;
    let idle_ms = crate::server::evict::idle_seconds(o.lru, now_clock) * 1000;
    // Quicklists add their shape, as Redis does.
    let extra = match &o.value {
        Value::List(l) => {
            let ql = l.ql();
            format!(
                " ql_nodes:{} ql_avg_node:{:.2} ql_listpack_max:{} ql_compressed:{} ql_uncompressed_size:{}",
                ql.node_count(),
                ql.len() as f64 / ql.node_count() as f64,
                ql.fill(),
                (ql.compress_depth() != 0) as i32,
                ql.uncompressed_size()
            )
        }
        _ => String::new(),
    };
    let line = format!(
        "Value at:0x{:x} refcount:{} encoding:{} serializedlength:{} lru:{} lru_seconds_idle:{}{}",
        addr,
        refcount,
        o.value.encoding_name(),
        serialized,
        o.lru,
        idle_ms / 1000,
        extra
    );
    c.out.status(&line);
}

/// DEBUG RELOAD [MERGE] [NOFLUSH] [NOSAVE]: saves the dataset (unless NOSAVE), empties it
/// (unless NOFLUSH) and loads the file back (MERGE: keys in the file replace existing ones).
fn debug_reload(srv: &mut Server, c: &mut Client) {
    let (mut merge, mut flush, mut save) = (false, true, true);
    for a in &c.argv[2..] {
        if a.eq_ignore_ascii_case(b"merge") {
            merge = true;
        } else if a.eq_ignore_ascii_case(b"noflush") {
            flush = false;
        } else if a.eq_ignore_ascii_case(b"nosave") {
            save = false;
        } else {
            c.out
                .error("DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.");
            return;
        }
    }
    if save && !srv.rdb_save() {
        c.out.error("-ERR");
        return;
    }
    if flush {
        srv.empty_data(None);
        srv.scripting.functions.clear();
    }
    match srv.rdb_load_file(merge, false, None) {
        Ok(true) => {
            crate::log_warning!("DB reloaded by DEBUG RELOAD");
            c.out.ok();
        }
        _ => c.out.error("Error trying to load the RDB dump"),
    }
}

/// DEBUG LOADAOF: flushes the AOF, empties the dataset and loads it back from the AOF
/// files. A failed load ends the process, as in Redis.
fn debug_loadaof(srv: &mut Server, c: &mut Client) {
    if srv.aof.status != crate::aof::Status::Off {
        srv.aof_flush(true);
    }
    srv.empty_data(None);
    srv.scripting.functions.clear();
    srv.aof_load_manifest_from_disk();
    srv.aof_del_history_files();
    let ret = srv.aof_load_files(None);
    if !matches!(
        ret,
        crate::aof::load::Outcome::Ok | crate::aof::load::Outcome::Empty
    ) {
        std::process::exit(1);
    }
    // What was loaded is on disk already: nothing to save or propagate.
    srv.dirty = 0;
    crate::log_warning!("Append Only File loaded by DEBUG LOADAOF");
    c.out.ok();
}

fn debug_populate(srv: &mut Server, c: &mut Client) {
    // Redis replies the same error for a non-number and a negative count.
    let Some(keys) = util::parse_i64(&c.argv[2]).filter(|v| *v >= 0) else {
        c.out.error("value is out of range, must be positive");
        return;
    };
    let mut valsize = 0usize;
    if c.argv.len() == 5 {
        match util::parse_i64(&c.argv[4]) {
            Some(v) if v >= 0 => valsize = v as usize,
            Some(_) => {
                c.out.error("value is out of range, must be positive");
                return;
            }
            None => {
                c.out.error("value is out of range, must be positive");
                return;
            }
        }
    }
    let prefix = if c.argv.len() >= 4 {
        c.argv[3].clone()
    } else {
        b"key".to_vec()
    };
    let db = c.db;
    for j in 0..keys {
        let mut key = prefix.clone();
        key.extend_from_slice(format!(":{}", j).as_bytes());
        if srv.lookup_write(db, &key).is_some() {
            continue;
        }
        let mut val = format!("value:{}", j).into_bytes();
        if valsize != 0 {
            // Exactly `valsize` bytes: the text, truncated or padded with zero bytes.
            val.resize(valsize, 0);
        }
        // Values are created as plain strings (never integer-encoded), as Redis does here.
        srv.db_add(db, &key, Value::Str(RStr::plain(&val)));
        srv.signal_modified_key(db, &key);
    }
    c.out.ok();
}

/// XORs SHA1(data) into `digest` (order-independent accumulation).
pub(crate) fn xor_digest(digest: &mut [u8; 20], data: &[u8]) {
    let h = sha1::sha1(data);
    for (d, x) in digest.iter_mut().zip(h) {
        *d ^= x;
    }
}

/// digest = SHA1(digest xor SHA1(data)): order-dependent accumulation.
pub(crate) fn mix_digest(digest: &mut [u8; 20], data: &[u8]) {
    xor_digest(digest, data);
    let mut s = Sha1::new();
    s.update(digest);
    *digest = s.finish();
}

/// Type codes of Redis' object types, which enter the digest.
const OBJ_STRING: u32 = 0;
const OBJ_LIST: u32 = 1;
const OBJ_SET: u32 = 2;
const OBJ_ZSET: u32 = 3;
const OBJ_HASH: u32 = 4;
const OBJ_MODULE: u32 = 5;
const OBJ_STREAM: u32 = 6;

/// The order-independent digest of one value (DEBUG DIGEST-VALUE of a key without a TTL).
#[cfg(test)]
pub(crate) fn value_digest(v: &Value) -> [u8; 20] {
    let mut d = [0u8; 20];
    xor_object_digest(&mut d, v, false, b"", 0);
    d
}

/// `key` and `db` are what a module type's digest callback may ask for.
fn xor_object_digest(digest: &mut [u8; 20], v: &Value, has_expire: bool, key: &[u8], db: usize) {
    match v {
        Value::Module(mv) => {
            mix_digest(digest, &OBJ_MODULE.to_be_bytes());
            // The SHA1 of the module's XOR of sequences; nothing more without a callback.
            if let Some(x) = crate::module::io::digest(mv, key, db) {
                xor_digest(digest, &x);
            }
        }
        Value::Str(s) => {
            mix_digest(digest, &OBJ_STRING.to_be_bytes());
            s.with_bytes(|b| mix_digest(digest, b));
        }
        Value::List(l) => {
            mix_digest(digest, &OBJ_LIST.to_be_bytes());
            // Elements are mixed in order: the digest of a list depends on it.
            l.ql().for_each(|e| {
                mix_digest(digest, &e.to_vec());
                true
            });
        }
        Value::Set(s) => {
            mix_digest(digest, &OBJ_SET.to_be_bytes());
            // Members are XORed in, so their order doesn't matter.
            for m in s.members() {
                xor_digest(digest, &m.to_vec());
            }
        }
        Value::Zset(z) => {
            mix_digest(digest, &OBJ_ZSET.to_be_bytes());
            // Each member and its "%.17g" score are mixed into an element digest, and the
            // element digests XORed in, so encodings and orders agree.
            z.for_each(|m, score| {
                let mut ele = [0u8; 20];
                mix_digest(&mut ele, m);
                mix_digest(&mut ele, &util::f64_g17(score));
                xor_digest(digest, &ele);
            });
        }
        Value::Hash(h) => {
            mix_digest(digest, &OBJ_HASH.to_be_bytes());
            // Each pair is digested on its own (field then value), and the pairs XORed in.
            for (f, v) in h.iter() {
                let mut pair = [0u8; 20];
                mix_digest(&mut pair, &f.to_vec());
                mix_digest(&mut pair, &v.to_vec());
                xor_digest(digest, &pair);
            }
        }
        Value::Stream(st) => {
            mix_digest(digest, &OBJ_STREAM.to_be_bytes());
            // Each entry's "ms.seq" then its fields and values, in order.
            let max = crate::types::stream::StreamId::MAX;
            st.for_range(
                crate::types::stream::StreamId::MIN,
                max,
                false,
                false,
                true,
                |e| {
                    mix_digest(digest, format!("{}.{}", e.id.ms, e.id.seq).as_bytes());
                    for f in &e.fields {
                        mix_digest(digest, f);
                    }
                    true
                },
            );
        }
    }
    if has_expire {
        xor_digest(digest, b"!!expire!!");
    }
}

/// DEBUG DIGEST: the XOR over all keys of each key/value digest, each database's id mixed in
/// first, so the result doesn't depend on iteration order.
pub fn dataset_digest(srv: &Server) -> [u8; 20] {
    let mut fin = [0u8; 20];
    for db in &srv.dbs {
        if db.dict.is_empty() {
            continue;
        }
        mix_digest(&mut fin, &(db.id as u32).to_be_bytes());
        for (k, o) in db.dict.iter() {
            let mut d = [0u8; 20];
            mix_digest(&mut d, k);
            xor_object_digest(&mut d, &o.value, db.expires.contains_key(&k[..]), k, db.id);
            xor_digest(&mut fin, &d);
        }
    }
    fin
}

fn debug_protocol(c: &mut Client) {
    let name = String::from_utf8_lossy(&c.argv[2]).to_ascii_lowercase();
    match name.as_str() {
        "string" => c.out.bulk(b"Hello World"),
        "integer" => c.out.int(12345),
        // Redis replies exactly this value, not pi.
        #[allow(clippy::approx_constant)]
        "double" => c.out.double(3.141),
        "bignum" => c.out.big_number(b"1234567999999999999999999999999999999"),
        "null" => c.out.null(),
        "array" => {
            c.out.array(3);
            for j in 0..3 {
                c.out.int(j);
            }
        }
        "set" => {
            c.out.set(3);
            for j in 0..3 {
                c.out.int(j);
            }
        }
        "map" => {
            c.out.map(3);
            for j in 0..3 {
                c.out.int(j);
                c.out.bool(j == 1);
            }
        }
        "attrib" => {
            if c.out.resp >= 3 {
                c.out.attribute(1);
                c.out.bulk(b"key-popularity");
                c.out.array(2);
                c.out.bulk(b"key:123");
                c.out.int(90);
            }
            c.out.bulk(b"Some real reply following the attribute");
        }
        "push" => {
            if c.out.resp < 3 {
                c.out.error("RESP2 is not supported by this command");
                return;
            }
            c.out.push(2);
            c.out.bulk(b"server-cpu-usage");
            c.out.int(42);
            c.out.bulk(b"Some real reply following the push reply");
        }
        "true" => c.out.bool(true),
        "false" => c.out.bool(false),
        "verbatim" => c.out.verbatim(b"This is a verbatim\nstring", "txt"),
        _ => c.out.error("Wrong protocol type name. Please use one of the following: string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false"),
    }
}

/// One hash table's statistics in Redis' `dictGetStats` text format.
fn ht_stats(out: &mut String, idx: usize, stats: Option<(usize, usize, usize, [usize; 50])>) {
    let label = if idx == 0 {
        "main hash table"
    } else {
        "rehashing target"
    };
    let Some((size, used, max, hist)) = stats.filter(|s| s.1 > 0) else {
        out.push_str(&format!(
            "Hash table {} stats ({}):\nNo stats available for empty dictionaries\n",
            idx, label
        ));
        return;
    };
    let slots = size - hist[0];
    out.push_str(&format!(
        "Hash table {} stats ({}):\n table size: {}\n number of elements: {}\n different slots: {}\n max chain length: {}\n avg chain length (counted): {:.2}\n avg chain length (computed): {:.2}\n Chain length distribution:\n",
        idx, label, size, used, slots, max,
        used as f32 / slots as f32,
        used as f32 / slots as f32
    ));
    for (i, n) in hist.iter().enumerate().take(49) {
        if *n == 0 {
            continue;
        }
        out.push_str(&format!(
            "   {}: {} ({:.2}%)\n",
            i,
            n,
            (*n as f32 / size as f32) * 100.0
        ));
    }
}

fn dict_stats<K: std::hash::Hash + Eq, V>(out: &mut String, d: &crate::db::dict::Dict<K, V>) {
    ht_stats(out, 0, d.stats(0));
    if d.is_rehashing() {
        ht_stats(out, 1, d.stats(1));
    }
}

fn debug_htstats(srv: &mut Server, c: &mut Client) {
    let Some(id) = util::parse_i64(&c.argv[2]) else {
        c.out.error(crate::commands::errors::NOT_INTEGER);
        return;
    };
    if id < 0 || id >= srv.dbs.len() as i64 {
        c.out.error("Out of range database");
        return;
    }
    let db = &srv.dbs[id as usize];
    let mut s = String::from("[Dictionary HT]\n");
    dict_stats(&mut s, &db.dict);
    s.push_str("[Expires HT]\n");
    dict_stats(&mut s, &db.expires);
    c.out.verbatim(s.as_bytes(), "txt");
}

/// Random patterns and strings through the glob matcher: it must never panic or hang.
fn stringmatch_fuzz(srv: &mut Server) {
    use rand::Rng;
    const ALPHABET: &[u8] = b"ab*?[]\\^-";
    for _ in 0..100_000 {
        let plen = srv.rng.gen_range(0..32);
        let slen = srv.rng.gen_range(0..32);
        let p: Vec<u8> = (0..plen)
            .map(|_| ALPHABET[srv.rng.gen_range(0..ALPHABET.len())])
            .collect();
        let s: Vec<u8> = (0..slen).map(|_| srv.rng.gen::<u8>()).collect();
        let _ = util::glob_match(&p, &s, srv.rng.gen());
    }
}

fn strerror(code: i32) -> String {
    std::io::Error::from_raw_os_error(code)
        .to_string()
        .split(" (os error")
        .next()
        .unwrap_or("")
        .to_string()
}

/// DEBUG MALLCTL <key> [<val>]: reads (and optionally writes) an integer jemalloc setting,
/// trying 64, 32, 16 and 8 bit widths like Redis does.
fn mallctl_int(c: &mut Client) {
    let mut val: i64 = 0;
    let write = c.argv.len() > 3;
    if write {
        match util::parse_i64(&c.argv[3]) {
            Some(v) => val = v,
            None => {
                c.out.error(crate::commands::errors::NOT_INTEGER);
                return;
            }
        }
    }
    let Ok(name) = std::ffi::CString::new(c.argv[2].clone()) else {
        c.out.error(&strerror(libc::EINVAL));
        return;
    };
    let mut sz: usize = 8;
    while sz > 0 {
        let mut old: i64 = 0;
        let mut oldlen = sz;
        let mut newv = val;
        // SAFETY: `name` is NUL-terminated; `old`/`newv` are 8-byte buffers and the lengths
        // passed never exceed 8, so jemalloc reads/writes within them.
        let ret = unsafe {
            mallctl(
                name.as_ptr(),
                &mut old as *mut i64 as *mut libc::c_void,
                &mut oldlen,
                if write {
                    &mut newv as *mut i64 as *mut libc::c_void
                } else {
                    std::ptr::null_mut()
                },
                if write { sz } else { 0 },
            )
        };
        if ret == 0 {
            // Little endian: the low `sz` bytes hold the value.
            let v = if sz < 8 {
                old & ((1i64 << (8 * sz)) - 1)
            } else {
                old
            };
            c.out.int(v);
            return;
        }
        if ret == libc::EPERM && write {
            // Write-only option: just write it.
            // SAFETY: as above, with no old-value buffer.
            let r = unsafe {
                mallctl(
                    name.as_ptr(),
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    &mut newv as *mut i64 as *mut libc::c_void,
                    sz,
                )
            };
            if r == 0 {
                c.out.ok();
                return;
            }
        }
        if ret == libc::EINVAL {
            sz /= 2;
            continue;
        }
        c.out.error(&strerror(ret));
        return;
    }
    c.out.error(&strerror(libc::EINVAL));
}

/// DEBUG MALLCTL-STR <key> [<val>]: reads (and optionally writes) a string jemalloc setting;
/// "VOID" writes nothing but triggers the control (e.g. `thread.tcache.flush`).
fn mallctl_str(c: &mut Client) {
    let Ok(name) = std::ffi::CString::new(c.argv[2].clone()) else {
        c.out.error(&strerror(libc::EINVAL));
        return;
    };
    let write = c.argv.len() > 3;
    let mut old: *const libc::c_char = std::ptr::null();
    let mut sz = std::mem::size_of::<*const libc::c_char>();
    // SAFETY: reading a string option stores a pointer to a static NUL-terminated string in
    // `old`, whose size we pass.
    let rret = unsafe {
        mallctl(
            name.as_ptr(),
            &mut old as *mut *const libc::c_char as *mut libc::c_void,
            &mut sz,
            std::ptr::null_mut(),
            0,
        )
    };
    if rret != 0 && !(rret == libc::EPERM && write) {
        c.out.error(&strerror(rret));
        return;
    }
    let mut wret = 0;
    if write {
        let Ok(val) = std::ffi::CString::new(c.argv[3].clone()) else {
            c.out.error(&strerror(libc::EINVAL));
            return;
        };
        let is_void = c.argv[3] == b"VOID";
        let mut ptr = val.as_ptr();
        // SAFETY: the new value is a pointer to a NUL-terminated string that outlives the
        // call (or nothing for "VOID").
        wret = unsafe {
            mallctl(
                name.as_ptr(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                if is_void {
                    std::ptr::null_mut()
                } else {
                    &mut ptr as *mut *const libc::c_char as *mut libc::c_void
                },
                if is_void {
                    0
                } else {
                    std::mem::size_of::<*const libc::c_char>()
                },
            )
        };
    }
    if rret == 0 && !old.is_null() {
        // SAFETY: jemalloc returned a pointer to a NUL-terminated static string.
        let s = unsafe { std::ffi::CStr::from_ptr(old) };
        c.out.bulk(s.to_bytes());
    } else if wret != 0 {
        c.out.error(&strerror(wret));
    } else {
        c.out.ok();
    }
}

/// DEBUG SEGFAULT: dies of SIGSEGV, through the crash handler (which writes the report)
/// when `crash-log-enabled` installed it.
fn segfault() -> ! {
    // SAFETY: raising a signal is always allowed; SIGSEGV's handler or default action ends
    // the process.
    unsafe {
        libc::raise(libc::SIGSEGV);
    }
    crate::server::crash::die_of(libc::SIGSEGV)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rdb_string_len(s: &RStr, compression: bool) -> u64 {
        crate::rdb::object::saved_len(&Value::Str(s.clone()), compression)
    }

    #[test]
    fn rdb_lengths_follow_the_encodings() {
        assert_eq!(rdb_string_len(&RStr::Int(5), true), 2);
        assert_eq!(rdb_string_len(&RStr::Int(1000), true), 3);
        assert_eq!(rdb_string_len(&RStr::Int(100_000), true), 5);
        assert_eq!(rdb_string_len(&RStr::Int(1 << 40), true), 1 + 13);
        assert_eq!(rdb_string_len(&RStr::plain(b"hello"), true), 6);
        assert_eq!(rdb_string_len(&RStr::raw(vec![b'x'; 100]), false), 102);
        assert_eq!(rdb_string_len(&RStr::raw(b"12".to_vec()), true), 2);
        assert_eq!(rdb_string_len(&RStr::raw(b"012".to_vec()), true), 4);
        // Values checked against Redis 7.0.15's DEBUG OBJECT: 126 'a' and 101 bytes of
        // zeros ending in 'x' compress to 13 bytes in all.
        assert_eq!(rdb_string_len(&RStr::raw(vec![b'a'; 126]), true), 13);
        let mut z = vec![0u8; 100];
        z.push(b'x');
        assert_eq!(rdb_string_len(&RStr::raw(z), true), 13);
    }

    #[test]
    fn digest_mixing_is_order_dependent_and_xor_is_not() {
        let mut a = [0u8; 20];
        mix_digest(&mut a, b"foo");
        mix_digest(&mut a, b"bar");
        let mut b = [0u8; 20];
        mix_digest(&mut b, b"bar");
        mix_digest(&mut b, b"foo");
        assert_ne!(a, b);
        let mut x = [0u8; 20];
        xor_digest(&mut x, b"foo");
        xor_digest(&mut x, b"bar");
        let mut y = [0u8; 20];
        xor_digest(&mut y, b"bar");
        xor_digest(&mut y, b"foo");
        assert_eq!(x, y);
    }

    #[test]
    fn c_number_parsing_is_lenient() {
        assert_eq!(atoi(b"12abc"), 12);
        assert_eq!(atoi(b"x"), 0);
        assert_eq!(strtod(b"0.25s"), 0.25);
        assert_eq!(strtod(b""), 0.0);
    }
}
