//! Server configuration: the `Config` values, the table of directives that `redis.conf`,
//! the command line and `CONFIG GET/SET` all go through, and the config-file loader.
//!
//! Every directive is one `ConfigDef` row: its name (and old alias), flags, and how to read and
//! write it in `Config`. Typed kinds (bool, integer with bounds and memory units, enum, string)
//! share parsing and error texts, so `CONFIG SET maxmemory 1gb` and `maxmemory 1gb` in a file are
//! the same code. Values live in plain fields of `Config` so hot paths read them directly.

pub mod table;

use crate::util;

pub use table::CONFIGS;

/// Flags of a directive, as Redis 7.0 names them.
pub mod cflags {
    /// Can't be changed at run time.
    pub const IMMUTABLE: u32 = 1 << 0;
    /// Changing it needs `enable-protected-configs`.
    pub const PROTECTED: u32 = 1 << 1;
    /// Hidden from `CONFIG GET *` (still settable).
    pub const HIDDEN: u32 = 1 << 2;
    /// Takes several arguments (`save`, `client-output-buffer-limit` in files).
    pub const MULTI_ARG: u32 = 1 << 3;
    /// A memory amount: accepts units, reported in bytes.
    pub const MEMORY: u32 = 1 << 4;
    /// Deprecated: not rewritten by CONFIG REWRITE unless changed.
    pub const DEPRECATED: u32 = 1 << 5;
    /// Sensitive value (masked in logs).
    pub const SENSITIVE: u32 = 1 << 6;
    /// Percent allowed: a negative stored value means a percentage ("50%" -> -50).
    pub const PERCENT: u32 = 1 << 7;
    /// Excluded from `CONFIG REWRITE` (test-only and similar).
    pub const DENY_LOADING: u32 = 1 << 8;
}

pub type GetFn = fn(&Config) -> String;
pub type SetFn = fn(&mut Config, &[Vec<u8>]) -> Result<(), String>;

/// What kind of value a directive holds; typed kinds share their parsing.
pub enum Kind {
    Bool {
        get: fn(&Config) -> bool,
        set: fn(&mut Config, bool),
        default: bool,
    },
    Int {
        get: fn(&Config) -> i64,
        set: fn(&mut Config, i64),
        min: i64,
        max: i64,
        default: i64,
    },
    Enum {
        get: fn(&Config) -> i32,
        set: fn(&mut Config, i32),
        values: &'static [(&'static str, i32)],
        default: i32,
        multi: bool,
    },
    Str {
        get: fn(&Config) -> String,
        set: fn(&mut Config, String),
        default: &'static str,
        empty_is_null: bool,
    },
    /// Anything else: full control over parsing and rendering.
    Special {
        get: GetFn,
        set: SetFn,
        default: &'static str,
    },
    /// A directive whose subsystem doesn't read it from a typed field yet: validated like the
    /// typed kinds and kept by name in `Config::other`, so it round-trips through the file,
    /// CONFIG GET/SET and REWRITE exactly.
    Stored { check: Check, default: &'static str },
}

/// Validation of a `Stored` directive.
pub enum Check {
    Bool,
    Int { min: i64, max: i64 },
    Memory { min: i64, max: i64 },
    Enum(&'static [&'static str]),
    Any,
}

pub struct ConfigDef {
    pub name: &'static str,
    pub alias: Option<&'static str>,
    pub flags: u32,
    pub kind: Kind,
}

/// A `client-output-buffer-limit` class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObufLimit {
    pub hard: u64,
    pub soft: u64,
    pub soft_seconds: u64,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub port: i64,
    pub bind: Vec<String>,
    pub bind_source_addr: String,
    pub unixsocket: String,
    pub unixsocketperm: i64,
    pub tcp_backlog: i64,
    pub timeout: i64,
    pub tcp_keepalive: i64,
    pub protected_mode: bool,
    pub daemonize: bool,
    pub supervised: i32,
    pub pidfile: String,
    pub loglevel: i32,
    pub logfile: String,
    pub syslog_enabled: bool,
    pub syslog_ident: String,
    pub syslog_facility: i32,
    pub databases: i64,
    pub always_show_logo: bool,
    pub set_proc_title: bool,
    pub proc_title_template: String,
    pub hz: i64,
    pub dynamic_hz: bool,
    pub maxclients: i64,
    pub maxmemory: i64,
    pub maxmemory_policy: i32,
    pub maxmemory_samples: i64,
    pub maxmemory_eviction_tenacity: i64,
    pub maxmemory_clients: i64,
    pub lfu_log_factor: i64,
    pub lfu_decay_time: i64,
    pub requirepass: Option<Vec<u8>>,
    pub proto_max_bulk_len: i64,
    pub client_query_buffer_limit: i64,
    pub obuf_limits: [ObufLimit; 3],
    pub slowlog_log_slower_than: i64,
    pub slowlog_max_len: i64,
    pub latency_monitor_threshold: i64,
    pub latency_tracking: bool,
    pub latency_tracking_info_percentiles: Vec<f64>,
    pub notify_keyspace_events: i32,
    pub active_expire_enabled: bool,
    pub active_expire_effort: i64,
    pub activerehashing: bool,
    pub lazyfree_lazy_eviction: bool,
    pub lazyfree_lazy_expire: bool,
    pub lazyfree_lazy_server_del: bool,
    pub lazyfree_lazy_user_del: bool,
    pub lazyfree_lazy_user_flush: bool,
    pub dir: String,
    pub dbfilename: String,
    pub save_params: Vec<(i64, i64)>,
    pub rdbcompression: bool,
    pub rdbchecksum: bool,
    pub appendonly: bool,
    pub appendfilename: String,
    pub appenddirname: String,
    pub appendfsync: i32,
    pub enable_protected_configs: i32,
    pub enable_debug_command: i32,
    pub enable_module_command: i32,
    pub oom_score_adj: i32,
    pub oom_score_adj_values: [i64; 3],
    pub crash_log_enabled: bool,
    pub crash_memcheck_enabled: bool,
    pub io_threads: i64,
    pub io_threads_do_reads: bool,
    pub replica_read_only: bool,
    pub replica_serve_stale_data: bool,
    pub hash_max_listpack_entries: i64,
    pub hash_max_listpack_value: i64,
    pub list_max_listpack_size: i64,
    pub list_compress_depth: i64,
    pub set_max_intset_entries: i64,
    pub zset_max_listpack_entries: i64,
    pub zset_max_listpack_value: i64,
    pub hll_sparse_max_bytes: i64,
    pub stream_node_max_bytes: i64,
    pub stream_node_max_entries: i64,
    pub client_eviction_enabled: bool,
    /// Directives that only matter to later subsystems (replication, cluster, persistence
    /// details): validated and stored by name so CONFIG GET/SET/REWRITE round-trip them.
    pub other: std::collections::BTreeMap<&'static str, String>,
    /// The config file this server was started with (for CONFIG REWRITE), absolute.
    pub config_file: Option<String>,
}

impl Config {
    /// A config holding every directive's default.
    pub fn defaults() -> Config {
        let mut c = Config {
            port: 6379,
            bind: vec!["*".into(), "-::*".into()],
            bind_source_addr: String::new(),
            unixsocket: String::new(),
            unixsocketperm: 0,
            tcp_backlog: 511,
            timeout: 0,
            tcp_keepalive: 300,
            protected_mode: true,
            daemonize: false,
            supervised: 0,
            pidfile: String::new(),
            loglevel: 2,
            logfile: String::new(),
            syslog_enabled: false,
            syslog_ident: "redis".into(),
            syslog_facility: 0,
            databases: 16,
            always_show_logo: false,
            set_proc_title: true,
            proc_title_template: "{title} {listen-addr} {server-mode}".into(),
            hz: 10,
            dynamic_hz: true,
            maxclients: 10000,
            maxmemory: 0,
            maxmemory_policy: 0,
            maxmemory_samples: 5,
            maxmemory_eviction_tenacity: 10,
            maxmemory_clients: 0,
            lfu_log_factor: 10,
            lfu_decay_time: 1,
            requirepass: None,
            proto_max_bulk_len: 512 * 1024 * 1024,
            client_query_buffer_limit: 1024 * 1024 * 1024,
            obuf_limits: [
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
            ],
            slowlog_log_slower_than: 10000,
            slowlog_max_len: 128,
            latency_monitor_threshold: 0,
            latency_tracking: true,
            latency_tracking_info_percentiles: vec![50.0, 99.0, 99.9],
            notify_keyspace_events: 0,
            active_expire_enabled: true,
            active_expire_effort: 1,
            activerehashing: true,
            lazyfree_lazy_eviction: false,
            lazyfree_lazy_expire: false,
            lazyfree_lazy_server_del: false,
            lazyfree_lazy_user_del: false,
            lazyfree_lazy_user_flush: false,
            dir: String::new(),
            dbfilename: "dump.rdb".into(),
            save_params: vec![(3600, 1), (300, 100), (60, 10000)],
            rdbcompression: true,
            rdbchecksum: true,
            appendonly: false,
            appendfilename: "appendonly.aof".into(),
            appenddirname: "appendonlydir".into(),
            appendfsync: 1,
            enable_protected_configs: 0,
            enable_debug_command: 0,
            enable_module_command: 0,
            oom_score_adj: 0,
            oom_score_adj_values: [0, 200, 800],
            crash_log_enabled: true,
            crash_memcheck_enabled: true,
            io_threads: 1,
            io_threads_do_reads: false,
            replica_read_only: true,
            replica_serve_stale_data: true,
            hash_max_listpack_entries: 128,
            hash_max_listpack_value: 64,
            list_max_listpack_size: -2,
            list_compress_depth: 0,
            set_max_intset_entries: 512,
            zset_max_listpack_entries: 128,
            zset_max_listpack_value: 64,
            hll_sparse_max_bytes: 3000,
            stream_node_max_bytes: 4096,
            stream_node_max_entries: 100,
            client_eviction_enabled: false,
            other: Default::default(),
            config_file: None,
        };
        for def in CONFIGS.iter() {
            let default = match &def.kind {
                Kind::Special { default, .. } | Kind::Stored { default, .. } => *default,
                _ => continue,
            };
            let args = if def.flags & cflags::MULTI_ARG != 0 {
                util::split_args(default.as_bytes()).unwrap_or_default()
            } else {
                vec![default.as_bytes().to_vec()]
            };
            if let Err(e) = set_directive(&mut c, def, &args) {
                panic!("default of {} is invalid: {}", def.name, e);
            }
        }
        c.dir = std::env::current_dir()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        c
    }

    /// Whether the current `maxmemory-policy` samples LFU counters.
    pub fn policy_is_lfu(&self) -> bool {
        matches!(
            self.maxmemory_policy,
            table::POLICY_ALLKEYS_LFU | table::POLICY_VOLATILE_LFU
        )
    }
}

/// Finds a directive by name or alias (case-insensitive).
pub fn lookup(name: &[u8]) -> Option<&'static ConfigDef> {
    CONFIGS
        .iter()
        .find(|d| util::eq_ic(name, d.name) || d.alias.is_some_and(|a| util::eq_ic(name, a)))
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

/// Applies one directive's arguments to `cfg`. Errors carry Redis' texts.
pub fn set_directive(cfg: &mut Config, def: &ConfigDef, args: &[Vec<u8>]) -> Result<(), String> {
    match &def.kind {
        Kind::Bool { set, .. } => {
            let v = yes_no(&args[0]).ok_or("argument must be 'yes' or 'no'")?;
            set(cfg, v);
        }
        Kind::Int { set, min, max, .. } => {
            let text = &args[0];
            let v: i64 = if def.flags & cflags::PERCENT != 0 && text.last() == Some(&b'%') {
                let n = util::parse_i64(&text[..text.len() - 1]).filter(|n| *n >= 0);
                match n {
                    Some(n) => -n,
                    None => return Err("argument must be a memory or percent value".into()),
                }
            } else if def.flags & cflags::MEMORY != 0 {
                match util::parse_memory(text) {
                    Some(v) if v <= i64::MAX as u64 => v as i64,
                    _ => {
                        return Err(if def.flags & cflags::PERCENT != 0 {
                            "argument must be a memory or percent value".into()
                        } else {
                            "argument must be a memory value".into()
                        })
                    }
                }
            } else {
                match std::str::from_utf8(text)
                    .ok()
                    .and_then(|s| s.parse::<i64>().ok())
                {
                    Some(v) => v,
                    None => return Err("argument couldn't be parsed into an integer".into()),
                }
            };
            let lo = if def.flags & cflags::PERCENT != 0 {
                i64::MIN
            } else {
                *min
            };
            if v < lo || v > *max {
                return Err(format!(
                    "argument must be between {} and {} inclusive",
                    min, max
                ));
            }
            set(cfg, v);
        }
        Kind::Enum {
            set, values, multi, ..
        } => {
            let mut acc = 0i32;
            let parts: Vec<&[u8]> = if *multi {
                args.iter().map(|a| a.as_slice()).collect()
            } else {
                vec![&args[0][..]]
            };
            if parts.is_empty() || (!*multi && args.len() != 1) {
                return Err("wrong number of arguments".into());
            }
            for p in parts {
                match values.iter().find(|(n, _)| util::eq_ic(p, n)) {
                    Some((_, v)) => acc |= *v,
                    None => {
                        let names: Vec<&str> = values.iter().map(|(n, _)| *n).collect();
                        return Err(format!(
                            "argument(s) must be one of the following: {}",
                            names.join(", ")
                        ));
                    }
                }
            }
            set(cfg, acc);
        }
        Kind::Str { set, .. } => {
            let s = String::from_utf8_lossy(&args[0]).into_owned();
            set(cfg, s);
        }
        Kind::Special { set, .. } => set(cfg, args)?,
        Kind::Stored { check, .. } => {
            let v = &args[0];
            let norm: String = match check {
                Check::Bool => if yes_no(v).ok_or("argument must be 'yes' or 'no'")? {
                    "yes"
                } else {
                    "no"
                }
                .into(),
                Check::Int { min, max } => {
                    let n = std::str::from_utf8(v)
                        .ok()
                        .and_then(|s| s.parse::<i64>().ok())
                        .ok_or("argument couldn't be parsed into an integer")?;
                    if n < *min || n > *max {
                        return Err(format!(
                            "argument must be between {} and {} inclusive",
                            min, max
                        ));
                    }
                    n.to_string()
                }
                Check::Memory { min, max } => {
                    let n = util::parse_memory(v).ok_or("argument must be a memory value")? as i64;
                    if n < *min || n > *max {
                        return Err(format!(
                            "argument must be between {} and {} inclusive",
                            min, max
                        ));
                    }
                    n.to_string()
                }
                Check::Enum(names) => match names.iter().find(|n| util::eq_ic(v, n)) {
                    Some(n) => n.to_string(),
                    None => {
                        return Err(format!(
                            "argument(s) must be one of the following: {}",
                            names.join(", ")
                        ))
                    }
                },
                Check::Any => String::from_utf8_lossy(v).into_owned(),
            };
            cfg.other.insert(def.name, norm);
        }
    }
    Ok(())
}

/// Renders a directive's current value as `CONFIG GET` shows it.
pub fn get_directive(cfg: &Config, def: &ConfigDef) -> String {
    match &def.kind {
        Kind::Bool { get, .. } => if get(cfg) { "yes" } else { "no" }.into(),
        Kind::Int { get, .. } => {
            let v = get(cfg);
            if def.flags & cflags::PERCENT != 0 && v < 0 {
                format!("{}%", -v)
            } else {
                v.to_string()
            }
        }
        Kind::Enum {
            get, values, multi, ..
        } => {
            let v = get(cfg);
            if *multi {
                let mut names = Vec::new();
                let mut left = v;
                for (n, bits) in values.iter() {
                    if *bits != 0 && left & bits == *bits {
                        names.push(*n);
                        left &= !bits;
                    }
                }
                names.join(" ")
            } else {
                values
                    .iter()
                    .find(|(_, b)| *b == v)
                    .map(|(n, _)| n.to_string())
                    .unwrap_or_default()
            }
        }
        Kind::Str { get, .. } => get(cfg),
        Kind::Special { get, .. } => get(cfg),
        Kind::Stored { default, .. } => cfg
            .other
            .get(def.name)
            .cloned()
            .unwrap_or_else(|| default.to_string()),
    }
}

/// A config-file parsing failure: the line number and text, and the reason.
#[derive(Debug)]
pub struct LoadError {
    pub line_no: usize,
    pub line: String,
    pub reason: String,
}

/// Things a config file asks for besides directive values.
#[derive(Debug, Default)]
pub struct LoadExtras {
    pub rename_commands: Vec<(Vec<u8>, Vec<u8>)>,
    pub load_modules: Vec<Vec<Vec<u8>>>,
    pub users: Vec<Vec<Vec<u8>>>,
}

/// Applies the text of a config file (directives one per line, `#` comments) to `cfg`.
pub fn load_from_string(
    cfg: &mut Config,
    text: &str,
    extras: &mut LoadExtras,
) -> Result<(), LoadError> {
    for (i, raw_line) in text.split('\n').enumerate() {
        let line = raw_line.trim_matches(|c| c == ' ' || c == '\t' || c == '\r' || c == '\n');
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fail = |reason: &str| LoadError {
            line_no: i + 1,
            line: line.to_string(),
            reason: reason.to_string(),
        };
        let Some(mut argv) = util::split_args(line.as_bytes()) else {
            return Err(fail("Unbalanced quotes in configuration line"));
        };
        if argv.is_empty() {
            continue;
        }
        argv[0].make_ascii_lowercase();
        if let Some(def) = lookup(&argv[0]) {
            let multi = def.flags & cflags::MULTI_ARG != 0;
            if !multi && argv.len() != 2 {
                return Err(fail("wrong number of arguments"));
            }
            let args: Vec<Vec<u8>> = if multi && argv.len() == 2 && !argv[1].is_empty() {
                util::split_args(&argv[1]).unwrap_or_default()
            } else {
                argv[1..].to_vec()
            };
            if let Err(e) = set_directive(cfg, def, &args) {
                return Err(fail(&e));
            }
            continue;
        }
        let name = String::from_utf8_lossy(&argv[0]).into_owned();
        match (name.as_str(), argv.len()) {
            (
                "list-max-ziplist-entries" | "list-max-ziplist-value" | "lua-replicate-commands",
                2,
            ) => {}
            ("include", 2) => {
                let path = String::from_utf8_lossy(&argv[1]).into_owned();
                let body = std::fs::read_to_string(&path).map_err(|e| {
                    fail(&format!(
                        "Fatal error, can't open config file '{}': {}",
                        path, e
                    ))
                })?;
                load_from_string(cfg, &body, extras)?;
            }
            ("rename-command", 3) => extras
                .rename_commands
                .push((argv[1].clone(), argv[2].clone())),
            ("user", n) if n >= 2 => extras.users.push(argv[1..].to_vec()),
            ("loadmodule", n) if n >= 2 => extras.load_modules.push(argv[1..].to_vec()),
            _ => return Err(fail("Bad directive or wrong number of arguments")),
        }
    }
    if !cfg.logfile.is_empty() {
        if let Err(e) = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&cfg.logfile)
        {
            return Err(LoadError {
                line_no: 0,
                line: String::new(),
                reason: format!("Can't open the log file: {}", e),
            });
        }
    }
    cfg.hz = cfg.hz.clamp(1, 500);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_directives_apply_with_units_and_aliases() {
        let mut c = Config::defaults();
        let mut ex = LoadExtras::default();
        load_from_string(
            &mut c,
            "# comment\nport 7000\nmaxmemory 1mb\nslave-read-only no\n",
            &mut ex,
        )
        .unwrap();
        assert_eq!(c.port, 7000);
        assert_eq!(c.maxmemory, 1024 * 1024);
        assert!(!c.replica_read_only);
    }

    #[test]
    fn bad_directive_reports_line() {
        let mut c = Config::defaults();
        let err = load_from_string(
            &mut c,
            "port 1\nnot-a-directive 1\n",
            &mut LoadExtras::default(),
        )
        .unwrap_err();
        assert_eq!(err.line_no, 2);
        assert_eq!(err.reason, "Bad directive or wrong number of arguments");
    }

    #[test]
    fn every_directive_round_trips_through_get_and_set() {
        let mut c = Config::defaults();
        for def in CONFIGS.iter() {
            let shown = get_directive(&c, def);
            let args = if def.flags & cflags::MULTI_ARG != 0 {
                util::split_args(shown.as_bytes()).unwrap()
            } else {
                vec![shown.clone().into_bytes()]
            };
            if def.flags & cflags::MULTI_ARG != 0 && args.is_empty() {
                set_directive(&mut c, def, &[Vec::new()])
                    .unwrap_or_else(|e| panic!("{}: {}", def.name, e));
            } else {
                set_directive(&mut c, def, &args)
                    .unwrap_or_else(|e| panic!("{} {:?}: {}", def.name, shown, e));
            }
            assert_eq!(get_directive(&c, def), shown, "{}", def.name);
        }
    }
}
