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
    if f & notify::NEW != 0 {
        s.push('n');
    }
    s
}

fn get_notify(c: &Config) -> String {
    notify_flags_to_string(c.notify_keyspace_events)
}

fn set_notify(c: &mut Config, args: &[Vec<u8>]) -> Result<(), String> {
    c.notify_keyspace_events = notify_flags_from_str(&args[0])
        .ok_or("Invalid event class character. Use 'Ag$lshzxeKEtmd'.")?;
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
        .map(|v| String::from_utf8_lossy(&util::f64_g17(*v)).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

fn set_percentiles(c: &mut Config, args: &[Vec<u8>]) -> Result<(), String> {
    let mut vals = Vec::new();
    for a in args {
        if a.is_empty() && args.len() == 1 {
            break;
        }
        match util::parse_f64(a) {
            Some(v) if (0.0..=100.0).contains(&v) => vals.push(v),
            _ => return Err("latency-tracking-info-percentiles needs to be a list of percentiles between 0 and 100".into()),
        }
    }
    c.latency_tracking_info_percentiles = vals;
    Ok(())
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

pub static CONFIGS: &[ConfigDef] = &[
    // Network
    int!("port", None, PROTECTED, port, 0, 65535, 6379),
    ConfigDef {
        name: "bind",
        alias: None,
        flags: MULTI_ARG,
        kind: Kind::Special {
            get: get_bind,
            set: set_bind,
            default: "* -::*",
        },
    },
    string!("bind-source-addr", None, 0, bind_source_addr, ""),
    string!("unixsocket", None, IMMUTABLE, unixsocket, ""),
    int!(
        "unixsocketperm",
        None,
        IMMUTABLE,
        unixsocketperm,
        0,
        0o777,
        0
    ),
    int!("tcp-backlog", None, IMMUTABLE, tcp_backlog, 0, INTMAX, 511),
    int!("timeout", None, 0, timeout, 0, INTMAX, 0),
    int!("tcp-keepalive", None, 0, tcp_keepalive, 0, INTMAX, 300),
    boolean!("protected-mode", None, 0, protected_mode, true),
    int!("maxclients", None, 0, maxclients, 1, u32::MAX as i64, 10000),
    int!("io-threads", None, IMMUTABLE, io_threads, 1, 128, 1),
    boolean!(
        "io-threads-do-reads",
        None,
        IMMUTABLE,
        io_threads_do_reads,
        false
    ),
    // General
    boolean!("daemonize", None, IMMUTABLE, daemonize, false),
    enumeration!("supervised", None, IMMUTABLE, supervised, SUPERVISED, 0),
    string!("pidfile", None, IMMUTABLE, pidfile, ""),
    enumeration!("loglevel", None, 0, loglevel, LOGLEVELS, 2),
    string!("logfile", None, IMMUTABLE, logfile, ""),
    boolean!("syslog-enabled", None, IMMUTABLE, syslog_enabled, false),
    string!("syslog-ident", None, IMMUTABLE, syslog_ident, "redis"),
    enumeration!(
        "syslog-facility",
        None,
        IMMUTABLE,
        syslog_facility,
        SYSLOG_FACILITIES,
        0
    ),
    int!("databases", None, IMMUTABLE, databases, 1, INTMAX, 16),
    boolean!("always-show-logo", None, IMMUTABLE, always_show_logo, false),
    boolean!("set-proc-title", None, IMMUTABLE, set_proc_title, true),
    string!(
        "proc-title-template",
        None,
        0,
        proc_title_template,
        "{title} {listen-addr} {server-mode}"
    ),
    int!("hz", None, 0, hz, 0, INTMAX, 10),
    boolean!("dynamic-hz", None, 0, dynamic_hz, true),
    boolean!("crash-log-enabled", None, 0, crash_log_enabled, true),
    boolean!(
        "crash-memcheck-enabled",
        None,
        0,
        crash_memcheck_enabled,
        true
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
    enumeration!("oom-score-adj", None, 0, oom_score_adj, OOM_SCORE_ADJ, 0),
    ConfigDef {
        name: "oom-score-adj-values",
        alias: None,
        flags: MULTI_ARG,
        kind: Kind::Special {
            get: get_oom_values,
            set: set_oom_values,
            default: "0 200 800",
        },
    },
    // Security and limits
    ConfigDef {
        name: "requirepass",
        alias: None,
        flags: SENSITIVE,
        kind: Kind::Special {
            get: get_requirepass,
            set: set_requirepass,
            default: "",
        },
    },
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
        "client-query-buffer-limit",
        None,
        MEMORY,
        client_query_buffer_limit,
        1024 * 1024,
        LLMAX,
        1024 * 1024 * 1024
    ),
    ConfigDef {
        name: "client-output-buffer-limit",
        alias: None,
        flags: MULTI_ARG,
        kind: Kind::Special {
            get: get_obuf,
            set: set_obuf,
            default: "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
        },
    },
    // Memory
    int!("maxmemory", None, MEMORY, maxmemory, 0, LLMAX, 0),
    enumeration!(
        "maxmemory-policy",
        None,
        0,
        maxmemory_policy,
        MAXMEMORY_POLICIES,
        POLICY_NOEVICTION
    ),
    int!("maxmemory-samples", None, 0, maxmemory_samples, 1, 64, 5),
    int!(
        "maxmemory-eviction-tenacity",
        None,
        0,
        maxmemory_eviction_tenacity,
        0,
        100,
        10
    ),
    int!(
        "maxmemory-clients",
        None,
        MEMORY | PERCENT,
        maxmemory_clients,
        0,
        LLMAX,
        0
    ),
    int!("lfu-log-factor", None, 0, lfu_log_factor, 0, INTMAX, 10),
    int!("lfu-decay-time", None, 0, lfu_decay_time, 0, INTMAX, 1),
    int!(
        "active-expire-effort",
        None,
        0,
        active_expire_effort,
        1,
        10,
        1
    ),
    boolean!("activerehashing", None, 0, activerehashing, true),
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
    // Introspection
    int!(
        "slowlog-log-slower-than",
        None,
        0,
        slowlog_log_slower_than,
        -1,
        LLMAX,
        10000
    ),
    int!("slowlog-max-len", None, 0, slowlog_max_len, 0, LLMAX, 128),
    int!(
        "latency-monitor-threshold",
        None,
        0,
        latency_monitor_threshold,
        0,
        LLMAX,
        0
    ),
    boolean!("latency-tracking", None, 0, latency_tracking, true),
    ConfigDef {
        name: "latency-tracking-info-percentiles",
        alias: None,
        flags: MULTI_ARG,
        kind: Kind::Special {
            get: get_percentiles,
            set: set_percentiles,
            default: "50 99 99.9",
        },
    },
    ConfigDef {
        name: "notify-keyspace-events",
        alias: None,
        flags: 0,
        kind: Kind::Special {
            get: get_notify,
            set: set_notify,
            default: "",
        },
    },
    // Persistence
    ConfigDef {
        name: "dir",
        alias: None,
        flags: PROTECTED,
        kind: Kind::Special {
            get: get_dir,
            set: set_dir,
            default: ".",
        },
    },
    string!("dbfilename", None, PROTECTED, dbfilename, "dump.rdb"),
    ConfigDef {
        name: "save",
        alias: None,
        flags: MULTI_ARG,
        kind: Kind::Special {
            get: get_save,
            set: set_save,
            default: "3600 1 300 100 60 10000",
        },
    },
    boolean!("rdbcompression", None, 0, rdbcompression, true),
    boolean!("rdbchecksum", None, IMMUTABLE, rdbchecksum, true),
    boolean!("appendonly", None, 0, appendonly, false),
    string!(
        "appendfilename",
        None,
        IMMUTABLE,
        appendfilename,
        "appendonly.aof"
    ),
    string!(
        "appenddirname",
        None,
        IMMUTABLE,
        appenddirname,
        "appendonlydir"
    ),
    enumeration!("appendfsync", None, 0, appendfsync, APPENDFSYNC, 1),
    // Replication
    boolean!(
        "replica-read-only",
        Some("slave-read-only"),
        0,
        replica_read_only,
        true
    ),
    boolean!(
        "replica-serve-stale-data",
        Some("slave-serve-stale-data"),
        0,
        replica_serve_stale_data,
        true
    ),
    // Encodings
    int!(
        "hash-max-listpack-entries",
        Some("hash-max-ziplist-entries"),
        0,
        hash_max_listpack_entries,
        0,
        LLMAX,
        128
    ),
    int!(
        "hash-max-listpack-value",
        Some("hash-max-ziplist-value"),
        0,
        hash_max_listpack_value,
        0,
        LLMAX,
        64
    ),
    int!(
        "list-max-listpack-size",
        Some("list-max-ziplist-size"),
        0,
        list_max_listpack_size,
        i32::MIN as i64,
        INTMAX,
        -2
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
    int!(
        "zset-max-listpack-value",
        Some("zset-max-ziplist-value"),
        0,
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
        "stream-node-max-bytes",
        None,
        MEMORY,
        stream_node_max_bytes,
        0,
        LLMAX,
        4096
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
    // Directives kept by name until their subsystem lands.
    stored!(
        "repl-diskless-sync-delay",
        None,
        0,
        Check::Int {
            min: 0,
            max: INTMAX
        },
        "5"
    ),
    stored!("repl-diskless-sync", None, 0, Check::Bool, "yes"),
    stored!(
        "propagation-error-behavior",
        None,
        0,
        Check::Enum(&["ignore", "panic", "panic-on-replicas"]),
        "ignore"
    ),
    stored!("no-appendfsync-on-rewrite", None, 0, Check::Bool, "no"),
    stored!(
        "repl-backlog-size",
        None,
        0,
        Check::Memory { min: 1, max: LLMAX },
        "1048576"
    ),
];
