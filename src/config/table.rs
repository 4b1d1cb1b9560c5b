//! The table of configuration directives: one row per directive, with Redis 7.0's names,
//! aliases, bounds and defaults. Add a directive here and the config file, the command line,
//! CONFIG GET/SET and CONFIG REWRITE all know it.

use super::{cflags::*, Check, Config, ConfigDef, Kind, ObufLimit};
use crate::util;

pub const POLICY_VOLATILE_LRU: i32 = 0;
pub const POLICY_VOLATILE_LFU: i32 = 1;
pub const POLICY_VOLATILE_RANDOM: i32 = 2;
pub const POLICY_VOLATILE_TTL: i32 = 3;
pub const POLICY_ALLKEYS_LRU: i32 = 4;
pub const POLICY_ALLKEYS_LFU: i32 = 5;
pub const POLICY_ALLKEYS_RANDOM: i32 = 6;
pub const POLICY_NOEVICTION: i32 = 7;

const MAXMEMORY_POLICIES: &[(&str, i32)] = &[
    ("volatile-lru", POLICY_VOLATILE_LRU),
    ("volatile-lfu", POLICY_VOLATILE_LFU),
    ("volatile-random", POLICY_VOLATILE_RANDOM),
    ("volatile-ttl", POLICY_VOLATILE_TTL),
    ("allkeys-lru", POLICY_ALLKEYS_LRU),
    ("allkeys-lfu", POLICY_ALLKEYS_LFU),
    ("allkeys-random", POLICY_ALLKEYS_RANDOM),
    ("noeviction", POLICY_NOEVICTION),
];

pub const LOGLEVELS: &[(&str, i32)] =
    &[("debug", 0), ("verbose", 1), ("notice", 2), ("warning", 3)];
const PROTECTED_VALUES: &[(&str, i32)] = &[("no", 0), ("yes", 1), ("local", 2)];
const SUPERVISED: &[(&str, i32)] = &[("upstart", 1), ("systemd", 2), ("auto", 3), ("no", 0)];
// Redis lists the facilities in this order and defaults to local0.
const SYSLOG_FACILITIES: &[(&str, i32)] = &[
    ("user", 0),
    ("local0", 1),
    ("local1", 2),
    ("local2", 3),
    ("local3", 4),
    ("local4", 5),
    ("local5", 6),
    ("local6", 7),
    ("local7", 8),
];
const APPENDFSYNC: &[(&str, i32)] = &[("everysec", 1), ("always", 2), ("no", 0)];
const OOM_SCORE_ADJ: &[(&str, i32)] = &[("no", 0), ("yes", 1), ("relative", 1), ("absolute", 2)];

macro_rules! boolean {
    ($name:expr, $alias:expr, $flags:expr, $field:ident, $default:expr) => {
        ConfigDef {
            name: $name,
            alias: $alias,
            flags: $flags,
            kind: Kind::Bool {
                get: |c| c.$field,
                set: |c, v| c.$field = v,
                default: $default,
            },
        }
    };
}

macro_rules! int {
    ($name:expr, $alias:expr, $flags:expr, $field:ident, $min:expr, $max:expr, $default:expr) => {
        ConfigDef {
            name: $name,
            alias: $alias,
            flags: $flags,
            kind: Kind::Int {
                get: |c| c.$field as i64,
                set: |c, v| c.$field = v as _,
                min: $min,
                max: $max,
                default: $default,
            },
        }
    };
}

macro_rules! enumeration {
    ($name:expr, $alias:expr, $flags:expr, $field:ident, $values:expr, $default:expr) => {
        ConfigDef {
            name: $name,
            alias: $alias,
            flags: $flags,
            kind: Kind::Enum {
                get: |c| c.$field,
                set: |c, v| c.$field = v,
                values: $values,
                default: $default,
                multi: false,
                valid: None,
            },
        }
    };
}

macro_rules! string {
    ($name:expr, $alias:expr, $flags:expr, $field:ident, $default:expr) => {
        ConfigDef {
            name: $name,
            alias: $alias,
            flags: $flags,
            kind: Kind::Str {
                get: |c| c.$field.clone(),
                set: |c, v| c.$field = v,
                default: $default,
                empty_is_null: false,
                valid: None,
            },
        }
    };
}

macro_rules! stored {
    ($name:expr, $alias:expr, $flags:expr, $check:expr, $default:expr) => {
        ConfigDef {
            name: $name,
            alias: $alias,
            flags: $flags,
            kind: Kind::Stored {
                check: $check,
                default: $default,
            },
        }
    };
}

const LLMAX: i64 = i64::MAX;
const INTMAX: i64 = i32::MAX as i64;

fn get_save(c: &Config) -> String {
    c.save_params
        .iter()
        .map(|(s, n)| format!("{} {}", s, n))
        .collect::<Vec<_>>()
        .join(" ")
}

fn set_save(c: &mut Config, args: &[Vec<u8>]) -> Result<(), String> {
    if args.is_empty() || (args.len() == 1 && args[0].is_empty()) {
        c.save_params.clear();
        return Ok(());
    }
    if !args.len().is_multiple_of(2) {
        return Err("Invalid save parameters".into());
    }
    let mut params = Vec::new();
    for pair in args.chunks(2) {
        let secs = util::parse_i64(&pair[0]).filter(|v| *v >= 1);
        let changes = util::parse_i64(&pair[1]).filter(|v| *v >= 0);
        match (secs, changes) {
            (Some(s), Some(n)) => params.push((s, n)),
            _ => return Err("Invalid save parameters".into()),
        }
    }
    c.save_params = params;
    Ok(())
}

fn get_bind(c: &Config) -> String {
    c.bind.join(" ")
}

fn set_bind(c: &mut Config, args: &[Vec<u8>]) -> Result<(), String> {
    if args.len() > 16 {
        return Err("Too many bind addresses specified.".into());
    }
    c.bind = args
        .iter()
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    Ok(())
}

fn get_requirepass(c: &Config) -> String {
    c.requirepass
        .as_ref()
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .unwrap_or_default()
}

fn set_requirepass(c: &mut Config, args: &[Vec<u8>]) -> Result<(), String> {
    c.requirepass = if args[0].is_empty() {
        None
    } else {
        Some(args[0].clone())
    };
    Ok(())
}

const OBUF_CLASSES: [&str; 3] = ["normal", "slave", "pubsub"];

fn get_obuf(c: &Config) -> String {
    OBUF_CLASSES
        .iter()
        .zip(c.obuf_limits.iter())
        .map(|(n, l)| format!("{} {} {} {}", n, l.hard, l.soft, l.soft_seconds))
        .collect::<Vec<_>>()
        .join(" ")
}

fn set_obuf(c: &mut Config, args: &[Vec<u8>]) -> Result<(), String> {
    if !args.len().is_multiple_of(4) || args.is_empty() {
        return Err("Wrong number of arguments in buffer limit configuration.".into());
    }
    let mut limits = c.obuf_limits;
    for quad in args.chunks(4) {
        let class = match quad[0].to_ascii_lowercase().as_slice() {
            b"normal" => 0,
            b"slave" | b"replica" => 1,
            b"pubsub" => 2,
            _ => {
                return Err("Invalid client class specified in buffer limit configuration.".into())
            }
        };
        let hard = util::parse_memory(&quad[1]);
        let soft = util::parse_memory(&quad[2]);
        let secs = util::parse_i64(&quad[3]).filter(|v| *v >= 0);
        match (hard, soft, secs) {
            (Some(h), Some(s), Some(t)) => {
                limits[class] = ObufLimit {
                    hard: h,
                    soft: s,
                    soft_seconds: t as u64,
                }
            }
            _ => {
                return Err(
                    "Error in hard, soft or soft_seconds setting in buffer limit configuration."
                        .into(),
                )
            }
        }
    }
    c.obuf_limits = limits;
    Ok(())
}

/// Keyspace notification classes, as letters in `notify-keyspace-events`.
pub mod notify {
    pub const KEYSPACE: i32 = 1 << 0;
    pub const KEYEVENT: i32 = 1 << 1;
    pub const GENERIC: i32 = 1 << 2;
    pub const STRING: i32 = 1 << 3;
    pub const LIST: i32 = 1 << 4;
    pub const SET: i32 = 1 << 5;
    pub const HASH: i32 = 1 << 6;
    pub const ZSET: i32 = 1 << 7;
    pub const EXPIRED: i32 = 1 << 8;
    pub const EVICTED: i32 = 1 << 9;
    pub const STREAM: i32 = 1 << 10;
    pub const KEY_MISS: i32 = 1 << 11;
    pub const LOADED: i32 = 1 << 12;
    pub const MODULE: i32 = 1 << 13;
    pub const NEW: i32 = 1 << 14;
    pub const ALL: i32 =
        GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;
}

/// Parses the class letters of `notify-keyspace-events`.
pub fn notify_flags_from_str(s: &[u8]) -> Option<i32> {
    let mut f = 0;
    for &ch in s {
        f |= match ch {
            b'A' => notify::ALL,
            b'g' => notify::GENERIC,
            b'$' => notify::STRING,
            b'l' => notify::LIST,
            b's' => notify::SET,
            b'h' => notify::HASH,
            b'z' => notify::ZSET,
            b'x' => notify::EXPIRED,
            b'e' => notify::EVICTED,
            b'K' => notify::KEYSPACE,
            b'E' => notify::KEYEVENT,
            b't' => notify::STREAM,
            b'm' => notify::KEY_MISS,
            b'd' => notify::MODULE,
            b'n' => notify::NEW,
            _ => return None,
        };
    }
    Some(f)
}

/// Renders notification flags back to letters, in Redis' order.
pub fn notify_flags_to_string(f: i32) -> String {
    let mut s = String::new();
    if f & notify::ALL == notify::ALL {
        s.push('A');
    } else {
        for (bit, ch) in [
            (notify::GENERIC, 'g'),
            (notify::STRING, '$'),
            (notify::LIST, 'l'),
            (notify::SET, 's'),
            (notify::HASH, 'h'),
            (notify::ZSET, 'z'),
            (notify::EXPIRED, 'x'),
            (notify::EVICTED, 'e'),
            (notify::STREAM, 't'),
            (notify::MODULE, 'd'),
            // Redis prints 'n' only here: with 'A' it is left out (so it doesn't survive a
            // GET/SET round trip), a quirk kept for identical replies.
            (notify::NEW, 'n'),
        ] {
            if f & bit != 0 {
                s.push(ch);
            }
        }
    }
    if f & notify::KEYSPACE != 0 {
        s.push('K');
    }
    if f & notify::KEYEVENT != 0 {
        s.push('E');
    }
    if f & notify::KEY_MISS != 0 {
        s.push('m');
    }
    s
}

fn get_notify(c: &Config) -> String {
    notify_flags_to_string(c.notify_keyspace_events)
}

fn set_notify(c: &mut Config, args: &[Vec<u8>]) -> Result<(), String> {
    c.notify_keyspace_events = notify_flags_from_str(&args[0])
        .ok_or("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")?;
    Ok(())
}

fn get_oom_values(c: &Config) -> String {
    c.oom_score_adj_values
        .iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

fn set_oom_values(c: &mut Config, args: &[Vec<u8>]) -> Result<(), String> {
    if args.len() != 3 {
        return Err("wrong number of arguments".into());
    }
    let mut vals = [0i64; 3];
    for (i, a) in args.iter().enumerate() {
        match util::parse_i64(a) {
            Some(v) if (-2000..=2000).contains(&v) => vals[i] = v,
            _ => {
                return Err(
                    "Invalid oom-score-adj-values, elements must be between -2000 and 2000.".into(),
                )
            }
        }
    }
    c.oom_score_adj_values = vals;
    Ok(())
}

fn get_percentiles(c: &Config) -> String {
    c.latency_tracking_info_percentiles
        .iter()
        .map(|v| trim_fixed(*v))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A percentile as Redis prints it: six decimals, trailing zeros (and a bare point) removed.
pub fn trim_fixed(v: f64) -> String {
    let s = format!("{:.6}", v);
    let s = s.trim_end_matches('0');
    s.trim_end_matches('.').to_string()
}

fn set_percentiles(c: &mut Config, args: &[Vec<u8>]) -> Result<(), String> {
    let mut vals = Vec::new();
    if !(args.len() == 1 && args[0].is_empty()) {
        for a in args {
            let v =
                util::parse_f64(a).ok_or("Invalid latency-tracking-info-percentiles parameters")?;
            if !(0.0..=100.0).contains(&v) {
                return Err(
                    "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]"
                        .into(),
                );
            }
            vals.push(v);
        }
    }
    c.latency_tracking_info_percentiles = vals;
    Ok(())
}

fn rw_percentiles(c: &Config, name: &str) -> Vec<(String, bool)> {
    let v = get_percentiles(c);
    let line = if v.is_empty() {
        format!("{} \"\"", name)
    } else {
        format!("{} {}", name, v)
    };
    vec![(line, true)]
}

fn get_dir(c: &Config) -> String {
    c.dir.clone()
}

fn set_dir(c: &mut Config, args: &[Vec<u8>]) -> Result<(), String> {
    let path = String::from_utf8_lossy(&args[0]).into_owned();
    std::env::set_current_dir(&path).map_err(|e| e.to_string())?;
    c.dir = std::env::current_dir()
        .map(|p| p.display().to_string())
        .unwrap_or(path);
    Ok(())
}

macro_rules! special {
    ($name:expr, $alias:expr, $flags:expr, $get:expr, $set:expr, $rw:expr, $default:expr) => {
        ConfigDef {
            name: $name,
            alias: $alias,
            flags: $flags,
            kind: Kind::Special {
                get: $get,
                set: $set,
                rewrite: $rw,
                default: $default,
            },
        }
    };
}

const UINTMAX: i64 = u32::MAX as i64;
const INTMIN: i64 = i32::MIN as i64;

fn rw_save(c: &Config, name: &str) -> Vec<(String, bool)> {
    if c.save_params.is_empty() {
        return vec![(format!("{} \"\"", name), true)];
    }
    c.save_params
        .iter()
        .map(|(s, n)| (format!("{} {} {}", name, s, n), true))
        .collect()
}

fn rw_bind(c: &Config, name: &str) -> Vec<(String, bool)> {
    if c.bind == ["*", "-::*"] {
        return Vec::new();
    }
    let addrs = if c.bind.is_empty() {
        "\"\"".to_string()
    } else {
        c.bind.join(" ")
    };
    vec![(format!("{} {}", name, addrs), true)]
}

fn rw_requirepass(c: &Config, name: &str) -> Vec<(String, bool)> {
    match &c.requirepass {
        None => Vec::new(),
        Some(p) => {
            let mut line = format!("{} ", name).into_bytes();
            util::push_repr(&mut line, p);
            vec![(String::from_utf8_lossy(&line).into_owned(), true)]
        }
    }
}

/// Formats bytes for a config file, with the largest exact unit (as Redis' rewrite does).
pub fn format_memory(bytes: i64) -> String {
    const GB: i64 = 1 << 30;
    const MB: i64 = 1 << 20;
    const KB: i64 = 1 << 10;
    if bytes != 0 && bytes % GB == 0 {
        format!("{}gb", bytes / GB)
    } else if bytes != 0 && bytes % MB == 0 {
        format!("{}mb", bytes / MB)
    } else if bytes != 0 && bytes % KB == 0 {
        format!("{}kb", bytes / KB)
    } else {
        bytes.to_string()
    }
}

/// `client-output-buffer-limit` defaults for the normal, replica and pubsub classes.
pub const OBUF_DEFAULTS: [ObufLimit; 3] = [
    ObufLimit {
        hard: 0,
        soft: 0,
        soft_seconds: 0,
    },
    ObufLimit {
        hard: 256 << 20,
        soft: 64 << 20,
        soft_seconds: 60,
    },
    ObufLimit {
        hard: 32 << 20,
        soft: 8 << 20,
        soft_seconds: 60,
    },
];

fn rw_obuf(c: &Config, name: &str) -> Vec<(String, bool)> {
    ["normal", "replica", "pubsub"]
        .iter()
        .enumerate()
        .map(|(i, class)| {
            let l = c.obuf_limits[i];
            (
                format!(
                    "{} {} {} {} {}",
                    name,
                    class,
                    format_memory(l.hard as i64),
                    format_memory(l.soft as i64),
                    l.soft_seconds
                ),
                l != OBUF_DEFAULTS[i],
            )
        })
        .collect()
}

fn rw_oom_values(c: &Config, name: &str) -> Vec<(String, bool)> {
    vec![(
        format!("{} {}", name, get_oom_values(c)),
        c.oom_score_adj_values != [0, 200, 800],
    )]
}

fn rw_notify(c: &Config, name: &str) -> Vec<(String, bool)> {
    let mut line = format!("{} ", name).into_bytes();
    util::push_repr(&mut line, get_notify(c).as_bytes());
    vec![(
        String::from_utf8_lossy(&line).into_owned(),
        c.notify_keyspace_events != 0,
    )]
}

fn rw_dir(c: &Config, name: &str) -> Vec<(String, bool)> {
    let mut line = format!("{} ", name).into_bytes();
    util::push_repr(&mut line, c.dir.as_bytes());
    vec![(String::from_utf8_lossy(&line).into_owned(), true)]
}

fn get_replicaof(c: &Config) -> String {
    match &c.replicaof {
        Some((h, p)) => format!("{} {}", h, p),
        None => String::new(),
    }
}

fn set_replicaof(c: &mut Config, args: &[Vec<u8>]) -> Result<(), String> {
    if args.len() != 2 {
        return Err("wrong number of arguments".into());
    }
    c.replicaof = None;
    if util::eq_ic(&args[0], "no") && util::eq_ic(&args[1], "one") {
        return Ok(());
    }
    let port = std::str::from_utf8(&args[1])
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .filter(|p| (0..=65535).contains(p))
        .ok_or("Invalid master port")?;
    c.replicaof = Some((String::from_utf8_lossy(&args[0]).into_owned(), port));
    Ok(())
}

fn rw_replicaof(c: &Config, name: &str) -> Vec<(String, bool)> {
    match &c.replicaof {
        Some((h, p)) => vec![(format!("{} {} {}", name, h, p), true)],
        None => Vec::new(),
    }
}

const SHUTDOWN_SIG: &[(&str, i32)] = &[
    ("default", 0),
    ("save", 1),
    ("nosave", 2),
    ("now", 4),
    ("force", 8),
];

fn valid_shutdown_flags(v: i32) -> Result<(), &'static str> {
    if v & 1 != 0 && v & 2 != 0 {
        return Err("shutdown options SAVE and NOSAVE can't be used simultaneously");
    }
    Ok(())
}

fn is_base_name(s: &str) -> bool {
    !s.contains('/')
}

fn valid_dbfilename(s: &str) -> Result<(), &'static str> {
    if !is_base_name(s) {
        return Err("dbfilename can't be a path, just a filename");
    }
    Ok(())
}

fn valid_aof_filename(s: &str) -> Result<(), &'static str> {
    if s.is_empty() {
        return Err("appendfilename can't be empty");
    }
    if !is_base_name(s) {
        return Err("appendfilename can't be a path, just a filename");
    }
    Ok(())
}

fn valid_aof_dirname(s: &str) -> Result<(), &'static str> {
    if s.is_empty() {
        return Err("appenddirname can't be empty");
    }
    if !is_base_name(s) {
        return Err("appenddirname can't be a path, just a dirname");
    }
    Ok(())
}

/// The placeholders Redis' process title template knows.
fn valid_proc_title(s: &str) -> Result<(), &'static str> {
    const VARS: &[&str] = &[
        "{title}",
        "{listen-addr}",
        "{server-mode}",
        "{port}",
        "{tls-port}",
        "{unixsocket}",
        "{config-file}",
    ];
    let bad = "template format is invalid or contains unknown variables";
    let mut rest = s;
    while let Some(open) = rest.find('{') {
        let after = &rest[open..];
        let close = after.find('}').ok_or(bad)?;
        if !VARS.contains(&&after[..=close]) {
            return Err(bad);
        }
        rest = &after[close + 1..];
    }
    if rest.contains('}') || s.trim().is_empty() {
        return Err(bad);
    }
    Ok(())
}

/// Active defragmentation needs Redis' patched jemalloc, which this build doesn't have.
fn check_activedefrag(v: &[u8]) -> Result<String, String> {
    match yes_no(v) {
        Some(false) => Ok("no".into()),
        Some(true) => Err("Active defragmentation cannot be enabled: it requires a Redis server compiled with a modified Jemalloc like the one shipped by default with the Redis source distribution".into()),
        None => Err("argument must be 'yes' or 'no'".into()),
    }
}

fn check_hostname(v: &[u8]) -> Result<String, String> {
    if v.len() >= 256 {
        return Err("Hostnames must be less than 256 characters".into());
    }
    if !v
        .iter()
        .all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'.')
    {
        return Err("Hostnames may only contain alphanumeric characters, hyphens or dots".into());
    }
    Ok(String::from_utf8_lossy(v).into_owned())
}

fn yes_no(v: &[u8]) -> Option<bool> {
    if util::eq_ic(v, "yes") {
        Some(true)
    } else if util::eq_ic(v, "no") {
        Some(false)
    } else {
        None
    }
}

const B: Check = Check::Bool;
const fn i(min: i64, max: i64) -> Check {
    Check::Int { min, max }
}
const fn mem(min: i64, max: i64) -> Check {
    Check::Memory { min, max }
}
/// A string that may be empty (an empty value is written to the file).
const S: Check = Check::Str {
    empty_is_null: false,
};
/// A string whose empty value means "unset" (never written to the file).
const SN: Check = Check::Str {
    empty_is_null: true,
};

pub static CONFIGS: &[ConfigDef] = &[
    // Booleans
    boolean!("rdbchecksum", None, IMMUTABLE, rdbchecksum, true),
    boolean!("daemonize", None, IMMUTABLE, daemonize, false),
    boolean!(
        "io-threads-do-reads",
        None,
        IMMUTABLE,
        io_threads_do_reads,
        false
    ),
    boolean!("always-show-logo", None, IMMUTABLE, always_show_logo, false),
    boolean!("protected-mode", None, 0, protected_mode, true),
    boolean!("rdbcompression", None, 0, rdbcompression, true),
    stored!("rdb-del-sync-files", None, 0, B, "no"),
    boolean!("activerehashing", None, 0, activerehashing, true),
    stored!("stop-writes-on-bgsave-error", None, 0, B, "yes"),
    boolean!("set-proc-title", None, IMMUTABLE, set_proc_title, true),
    boolean!("dynamic-hz", None, 0, dynamic_hz, true),
    boolean!(
        "lazyfree-lazy-eviction",
        None,
        0,
        lazyfree_lazy_eviction,
        false
    ),
    boolean!("lazyfree-lazy-expire", None, 0, lazyfree_lazy_expire, false),
    boolean!(
        "lazyfree-lazy-server-del",
        None,
        0,
        lazyfree_lazy_server_del,
        false
    ),
    boolean!(
        "lazyfree-lazy-user-del",
        None,
        0,
        lazyfree_lazy_user_del,
        false
    ),
    boolean!(
        "lazyfree-lazy-user-flush",
        None,
        0,
        lazyfree_lazy_user_flush,
        false
    ),
    stored!("repl-disable-tcp-nodelay", None, 0, B, "no"),
    stored!("repl-diskless-sync", None, 0, B, "yes"),
    stored!("aof-rewrite-incremental-fsync", None, 0, B, "yes"),
    stored!("no-appendfsync-on-rewrite", None, 0, B, "no"),
    stored!("cluster-require-full-coverage", None, 0, B, "yes"),
    stored!("rdb-save-incremental-fsync", None, 0, B, "yes"),
    stored!("aof-load-truncated", None, 0, B, "yes"),
    stored!("aof-use-rdb-preamble", None, 0, B, "yes"),
    stored!("aof-timestamp-enabled", None, 0, B, "no"),
    stored!(
        "cluster-replica-no-failover",
        Some("cluster-slave-no-failover"),
        0,
        B,
        "no"
    ),
    stored!("replica-lazy-flush", Some("slave-lazy-flush"), 0, B, "no"),
    boolean!(
        "replica-serve-stale-data",
        Some("slave-serve-stale-data"),
        0,
        replica_serve_stale_data,
        true
    ),
    boolean!(
        "replica-read-only",
        Some("slave-read-only"),
        0,
        replica_read_only,
        true
    ),
    stored!(
        "replica-ignore-maxmemory",
        Some("slave-ignore-maxmemory"),
        0,
        B,
        "yes"
    ),
    stored!("jemalloc-bg-thread", None, 0, B, "yes"),
    stored!(
        "activedefrag",
        None,
        0,
        Check::Custom(check_activedefrag),
        "no"
    ),
    boolean!("syslog-enabled", None, IMMUTABLE, syslog_enabled, false),
    stored!("cluster-enabled", None, IMMUTABLE, B, "no"),
    boolean!("appendonly", None, DENY_LOADING, appendonly, false),
    stored!("cluster-allow-reads-when-down", None, 0, B, "no"),
    stored!("cluster-allow-pubsubshard-when-down", None, 0, B, "yes"),
    boolean!("crash-log-enabled", None, 0, crash_log_enabled, true),
    boolean!(
        "crash-memcheck-enabled",
        None,
        0,
        crash_memcheck_enabled,
        true
    ),
    boolean!("use-exit-on-panic", None, HIDDEN, use_exit_on_panic, false),
    stored!("disable-thp", None, IMMUTABLE, B, "yes"),
    stored!("cluster-allow-replica-migration", None, 0, B, "yes"),
    stored!("replica-announced", None, 0, B, "yes"),
    boolean!("latency-tracking", None, 0, latency_tracking, true),
    stored!("aof-disable-auto-gc", None, 0, B, "no"),
    stored!("replica-ignore-disk-write-errors", None, 0, B, "no"),
    // Strings
    stored!("aclfile", None, IMMUTABLE, S, ""),
    ConfigDef {
        name: "unixsocket",
        alias: None,
        flags: IMMUTABLE,
        kind: Kind::Str {
            get: |c| c.unixsocket.clone(),
            set: |c, v| c.unixsocket = v,
            default: "",
            empty_is_null: true,
            valid: None,
        },
    },
    ConfigDef {
        name: "pidfile",
        alias: None,
        flags: IMMUTABLE,
        kind: Kind::Str {
            get: |c| c.pidfile.clone(),
            set: |c, v| c.pidfile = v,
            default: "",
            empty_is_null: true,
            valid: None,
        },
    },
    stored!("replica-announce-ip", Some("slave-announce-ip"), 0, SN, ""),
    stored!("masteruser", None, SENSITIVE, SN, ""),
    stored!("cluster-announce-ip", None, 0, SN, ""),
    stored!("cluster-config-file", None, IMMUTABLE, S, "nodes.conf"),
    stored!(
        "cluster-announce-hostname",
        None,
        0,
        Check::Custom(check_hostname),
        ""
    ),
    string!("syslog-ident", None, IMMUTABLE, syslog_ident, "redis"),
    ConfigDef {
        name: "dbfilename",
        alias: None,
        flags: PROTECTED,
        kind: Kind::Str {
            get: |c| c.dbfilename.clone(),
            set: |c, v| c.dbfilename = v,
            default: "dump.rdb",
            empty_is_null: false,
            valid: Some(valid_dbfilename),
        },
    },
    ConfigDef {
        name: "appendfilename",
        alias: None,
        flags: IMMUTABLE,
        kind: Kind::Str {
            get: |c| c.appendfilename.clone(),
            set: |c, v| c.appendfilename = v,
            default: "appendonly.aof",
            empty_is_null: false,
            valid: Some(valid_aof_filename),
        },
    },
    ConfigDef {
        name: "appenddirname",
        alias: None,
        flags: IMMUTABLE,
        kind: Kind::Str {
            get: |c| c.appenddirname.clone(),
            set: |c, v| c.appenddirname = v,
            default: "appendonlydir",
            empty_is_null: false,
            valid: Some(valid_aof_dirname),
        },
    },
    stored!("server_cpulist", None, IMMUTABLE, SN, ""),
    stored!("bio_cpulist", None, IMMUTABLE, SN, ""),
    stored!("aof_rewrite_cpulist", None, IMMUTABLE, SN, ""),
    stored!("bgsave_cpulist", None, IMMUTABLE, SN, ""),
    stored!("ignore-warnings", None, 0, S, ""),
    ConfigDef {
        name: "proc-title-template",
        alias: None,
        flags: 0,
        kind: Kind::Str {
            get: |c| c.proc_title_template.clone(),
            set: |c, v| c.proc_title_template = v,
            default: "{title} {listen-addr} {server-mode}",
            empty_is_null: false,
            valid: Some(valid_proc_title),
        },
    },
    ConfigDef {
        name: "bind-source-addr",
        alias: None,
        flags: 0,
        kind: Kind::Str {
            get: |c| c.bind_source_addr.clone(),
            set: |c, v| c.bind_source_addr = v,
            default: "",
            empty_is_null: true,
            valid: None,
        },
    },
    string!("logfile", None, IMMUTABLE, logfile, ""),
    stored!("masterauth", None, SENSITIVE, SN, ""),
    special!(
        "requirepass",
        None,
        SENSITIVE,
        get_requirepass,
        set_requirepass,
        rw_requirepass,
        ""
    ),
    // Enums
    enumeration!("supervised", None, IMMUTABLE, supervised, SUPERVISED, 0),
    enumeration!(
        "syslog-facility",
        None,
        IMMUTABLE,
        syslog_facility,
        SYSLOG_FACILITIES,
        1
    ),
    stored!(
        "repl-diskless-load",
        None,
        DENY_LOADING,
        Check::Enum(&["disabled", "on-empty-db", "swapdb"]),
        "disabled"
    ),
    enumeration!("loglevel", None, 0, loglevel, LOGLEVELS, 2),
    enumeration!(
        "maxmemory-policy",
        None,
        0,
        maxmemory_policy,
        MAXMEMORY_POLICIES,
        POLICY_NOEVICTION
    ),
    enumeration!("appendfsync", None, 0, appendfsync, APPENDFSYNC, 1),
    enumeration!("oom-score-adj", None, 0, oom_score_adj, OOM_SCORE_ADJ, 0),
    stored!(
        "acl-pubsub-default",
        None,
        0,
        Check::Enum(&["allchannels", "resetchannels"]),
        "resetchannels"
    ),
    stored!(
        "sanitize-dump-payload",
        None,
        0,
        Check::Enum(&["no", "yes", "clients"]),
        "no"
    ),
    enumeration!(
        "enable-protected-configs",
        None,
        IMMUTABLE,
        enable_protected_configs,
        PROTECTED_VALUES,
        0
    ),
    enumeration!(
        "enable-debug-command",
        None,
        IMMUTABLE,
        enable_debug_command,
        PROTECTED_VALUES,
        0
    ),
    enumeration!(
        "enable-module-command",
        None,
        IMMUTABLE,
        enable_module_command,
        PROTECTED_VALUES,
        0
    ),
    stored!(
        "cluster-preferred-endpoint-type",
        None,
        0,
        Check::Enum(&["ip", "hostname", "unknown-endpoint"]),
        "ip"
    ),
    stored!(
        "propagation-error-behavior",
        None,
        0,
        Check::Enum(&["ignore", "panic", "panic-on-replicas"]),
        "ignore"
    ),
    ConfigDef {
        name: "shutdown-on-sigint",
        alias: None,
        flags: MULTI_ARG,
        kind: Kind::Enum {
            get: |c| c.shutdown_on_sigint,
            set: |c, v| c.shutdown_on_sigint = v,
            values: SHUTDOWN_SIG,
            default: 0,
            multi: true,
            valid: Some(valid_shutdown_flags),
        },
    },
    ConfigDef {
        name: "shutdown-on-sigterm",
        alias: None,
        flags: MULTI_ARG,
        kind: Kind::Enum {
            get: |c| c.shutdown_on_sigterm,
            set: |c, v| c.shutdown_on_sigterm = v,
            values: SHUTDOWN_SIG,
            default: 0,
            multi: true,
            valid: Some(valid_shutdown_flags),
        },
    },
    // Numbers
    int!("databases", None, IMMUTABLE, databases, 1, INTMAX, 16),
    int!("port", None, 0, port, 0, 65535, 6379),
    int!("io-threads", None, IMMUTABLE, io_threads, 1, 128, 1),
    stored!("auto-aof-rewrite-percentage", None, 0, i(0, INTMAX), "100"),
    stored!(
        "cluster-replica-validity-factor",
        Some("cluster-slave-validity-factor"),
        0,
        i(0, INTMAX),
        "10"
    ),
    int!(
        "list-max-listpack-size",
        Some("list-max-ziplist-size"),
        0,
        list_max_listpack_size,
        INTMIN,
        INTMAX,
        -2
    ),
    int!("tcp-keepalive", None, 0, tcp_keepalive, 0, INTMAX, 300),
    stored!("cluster-migration-barrier", None, 0, i(0, INTMAX), "1"),
    stored!("active-defrag-cycle-min", None, 0, i(1, 99), "1"),
    stored!("active-defrag-cycle-max", None, 0, i(1, 99), "25"),
    stored!("active-defrag-threshold-lower", None, 0, i(0, 1000), "10"),
    stored!("active-defrag-threshold-upper", None, 0, i(0, 1000), "100"),
    int!("lfu-log-factor", None, 0, lfu_log_factor, 0, INTMAX, 10),
    int!("lfu-decay-time", None, 0, lfu_decay_time, 0, INTMAX, 1),
    stored!(
        "replica-priority",
        Some("slave-priority"),
        0,
        i(0, INTMAX),
        "100"
    ),
    stored!("repl-diskless-sync-delay", None, 0, i(0, INTMAX), "5"),
    int!(
        "maxmemory-samples",
        None,
        0,
        maxmemory_samples,
        1,
        INTMAX,
        5
    ),
    int!(
        "maxmemory-eviction-tenacity",
        None,
        0,
        maxmemory_eviction_tenacity,
        0,
        100,
        10
    ),
    int!("timeout", None, 0, timeout, 0, INTMAX, 0),
    stored!(
        "replica-announce-port",
        Some("slave-announce-port"),
        0,
        i(0, 65535),
        "0"
    ),
    int!("tcp-backlog", None, IMMUTABLE, tcp_backlog, 0, INTMAX, 511),
    stored!("cluster-port", None, IMMUTABLE, i(0, 65535), "0"),
    stored!("cluster-announce-bus-port", None, 0, i(0, 65535), "0"),
    stored!("cluster-announce-port", None, 0, i(0, 65535), "0"),
    stored!("cluster-announce-tls-port", None, 0, i(0, 65535), "0"),
    stored!("repl-timeout", None, 0, i(1, INTMAX), "60"),
    stored!(
        "repl-ping-replica-period",
        Some("repl-ping-slave-period"),
        0,
        i(1, INTMAX),
        "10"
    ),
    int!(
        "list-compress-depth",
        None,
        0,
        list_compress_depth,
        0,
        INTMAX,
        0
    ),
    stored!("rdb-key-save-delay", None, HIDDEN, i(INTMIN, INTMAX), "0"),
    stored!("key-load-delay", None, HIDDEN, i(INTMIN, INTMAX), "0"),
    int!(
        "active-expire-effort",
        None,
        0,
        active_expire_effort,
        1,
        10,
        1
    ),
    int!("hz", None, 0, hz, 0, INTMAX, 10),
    int!(
        "min-replicas-to-write",
        Some("min-slaves-to-write"),
        0,
        min_replicas_to_write,
        0,
        INTMAX,
        0
    ),
    int!(
        "min-replicas-max-lag",
        Some("min-slaves-max-lag"),
        0,
        min_replicas_max_lag,
        0,
        INTMAX,
        10
    ),
    int!(
        "watchdog-period",
        None,
        HIDDEN,
        watchdog_period,
        0,
        INTMAX,
        0
    ),
    stored!("shutdown-timeout", None, 0, i(0, INTMAX), "10"),
    stored!(
        "repl-diskless-sync-max-replicas",
        None,
        0,
        i(0, INTMAX),
        "0"
    ),
    int!("maxclients", None, 0, maxclients, 1, UINTMAX, 10000),
    int!(
        "unixsocketperm",
        None,
        IMMUTABLE | OCTAL,
        unixsocketperm,
        0,
        0o777,
        0
    ),
    stored!("socket-mark-id", None, IMMUTABLE, i(0, UINTMAX), "0"),
    stored!(
        "active-defrag-max-scan-fields",
        None,
        0,
        i(1, LLMAX),
        "1000"
    ),
    int!("slowlog-max-len", None, 0, slowlog_max_len, 0, LLMAX, 128),
    stored!("acllog-max-len", None, 0, i(0, LLMAX), "128"),
    stored!(
        "busy-reply-threshold",
        Some("lua-time-limit"),
        0,
        i(0, LLMAX),
        "5000"
    ),
    stored!("cluster-node-timeout", None, 0, i(0, LLMAX), "15000"),
    int!(
        "slowlog-log-slower-than",
        None,
        0,
        slowlog_log_slower_than,
        -1,
        LLMAX,
        10000
    ),
    int!(
        "latency-monitor-threshold",
        None,
        0,
        latency_monitor_threshold,
        0,
        LLMAX,
        0
    ),
    int!(
        "proto-max-bulk-len",
        None,
        MEMORY,
        proto_max_bulk_len,
        1024 * 1024,
        LLMAX,
        512 * 1024 * 1024
    ),
    int!(
        "stream-node-max-entries",
        None,
        0,
        stream_node_max_entries,
        0,
        LLMAX,
        100
    ),
    stored!("repl-backlog-size", None, 0, mem(1, LLMAX), "1048576"),
    int!("maxmemory", None, MEMORY, maxmemory, 0, LLMAX, 0),
    stored!("cluster-link-sendbuf-limit", None, 0, mem(0, LLMAX), "0"),
    int!(
        "hash-max-listpack-entries",
        Some("hash-max-ziplist-entries"),
        0,
        hash_max_listpack_entries,
        0,
        LLMAX,
        512
    ),
    int!(
        "set-max-intset-entries",
        None,
        0,
        set_max_intset_entries,
        0,
        LLMAX,
        512
    ),
    int!(
        "zset-max-listpack-entries",
        Some("zset-max-ziplist-entries"),
        0,
        zset_max_listpack_entries,
        0,
        LLMAX,
        128
    ),
    stored!(
        "active-defrag-ignore-bytes",
        None,
        0,
        mem(1, LLMAX),
        "104857600"
    ),
    int!(
        "hash-max-listpack-value",
        Some("hash-max-ziplist-value"),
        MEMORY,
        hash_max_listpack_value,
        0,
        LLMAX,
        64
    ),
    int!(
        "stream-node-max-bytes",
        None,
        MEMORY,
        stream_node_max_bytes,
        0,
        LLMAX,
        4096
    ),
    int!(
        "zset-max-listpack-value",
        Some("zset-max-ziplist-value"),
        MEMORY,
        zset_max_listpack_value,
        0,
        LLMAX,
        64
    ),
    int!(
        "hll-sparse-max-bytes",
        None,
        MEMORY,
        hll_sparse_max_bytes,
        0,
        LLMAX,
        3000
    ),
    int!(
        "tracking-table-max-keys",
        None,
        0,
        tracking_table_max_keys,
        0,
        LLMAX,
        1000000
    ),
    int!(
        "client-query-buffer-limit",
        None,
        MEMORY,
        client_query_buffer_limit,
        1024 * 1024,
        LLMAX,
        1024 * 1024 * 1024
    ),
    int!(
        "maxmemory-clients",
        None,
        MEMORY | PERCENT,
        maxmemory_clients,
        -100,
        LLMAX,
        0
    ),
    stored!("repl-backlog-ttl", None, 0, i(0, LLMAX), "3600"),
    stored!(
        "auto-aof-rewrite-min-size",
        None,
        0,
        mem(0, LLMAX),
        "67108864"
    ),
    stored!(
        "loading-process-events-interval-bytes",
        None,
        HIDDEN,
        i(1024, INTMAX),
        "2097152"
    ),
    // Special
    special!(
        "dir",
        None,
        PROTECTED | DENY_LOADING,
        get_dir,
        set_dir,
        rw_dir,
        "."
    ),
    special!(
        "save",
        None,
        MULTI_ARG,
        get_save,
        set_save,
        rw_save,
        "3600 1 300 100 60 10000"
    ),
    special!(
        "client-output-buffer-limit",
        None,
        MULTI_ARG,
        get_obuf,
        set_obuf,
        rw_obuf,
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"
    ),
    special!(
        "oom-score-adj-values",
        None,
        MULTI_ARG,
        get_oom_values,
        set_oom_values,
        rw_oom_values,
        "0 200 800"
    ),
    special!(
        "notify-keyspace-events",
        None,
        0,
        get_notify,
        set_notify,
        rw_notify,
        ""
    ),
    special!("bind", None, MULTI_ARG, get_bind, set_bind, rw_bind, "* -::*"),
    special!(
        "replicaof",
        Some("slaveof"),
        IMMUTABLE | MULTI_ARG,
        get_replicaof,
        set_replicaof,
        rw_replicaof,
        ""
    ),
    special!(
        "latency-tracking-info-percentiles",
        None,
        MULTI_ARG,
        get_percentiles,
        set_percentiles,
        rw_percentiles,
        "50 99 99.9"
    ),
];
