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
    /// Can't be changed while a dataset is loading (`-LOADING` error).
    pub const DENY_LOADING: u32 = 1 << 8;
    /// An integer written and read in octal (`unixsocketperm`).
    pub const OCTAL: u32 = 1 << 9;
}

pub type GetFn = fn(&Config) -> String;
pub type SetFn = fn(&mut Config, &[Vec<u8>]) -> Result<(), String>;
/// Renders a special directive for CONFIG REWRITE: its lines, each with whether it must be
/// written even when the file doesn't mention it yet (i.e. it differs from the default). No
/// lines means the directive must not appear in the file.
pub type RewriteFn = fn(&Config, &str) -> Vec<(String, bool)>;
/// Extra validation of an enum value, with Redis' error text.
pub type EnumCheck = fn(i32) -> Result<(), &'static str>;
/// Extra validation of a string value, with Redis' error text.
pub type StrCheck = fn(&str) -> Result<(), &'static str>;

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
        valid: Option<EnumCheck>,
    },
    Str {
        get: fn(&Config) -> String,
        set: fn(&mut Config, String),
        default: &'static str,
        /// An empty value means "not set": it is left out of a rewritten file.
        empty_is_null: bool,
        valid: Option<StrCheck>,
    },
    /// Anything else: full control over parsing and rendering.
    Special {
        get: GetFn,
        set: SetFn,
        rewrite: RewriteFn,
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
    Int {
        min: i64,
        max: i64,
    },
    Memory {
        min: i64,
        max: i64,
    },
    Enum(&'static [&'static str]),
    /// Free text; `empty_is_null` as for `Kind::Str`.
    Str {
        empty_is_null: bool,
    },
    /// Parsing with its own rules and error texts, returning the normalized value.
    Custom(fn(&[u8]) -> Result<String, String>),
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
    /// Milliseconds the event loop may stay away before the software watchdog logs its stack
    /// (0: off).
    pub watchdog_period: i64,
    pub crash_memcheck_enabled: bool,
    pub io_threads: i64,
    pub io_threads_do_reads: bool,
    pub replica_read_only: bool,
    pub replica_serve_stale_data: bool,
    /// Writes are refused unless this many replicas are connected with a lag below
    /// `min_replicas_max_lag` (0 disables the check). Read on every write command.
    pub min_replicas_to_write: i64,
    pub min_replicas_max_lag: i64,
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
    pub shutdown_on_sigint: i32,
    pub shutdown_on_sigterm: i32,
    pub use_exit_on_panic: bool,
    pub tracking_table_max_keys: i64,
    /// `replicaof <host> <port>` from the config file (replication acts on it later).
    pub replicaof: Option<(String, i64)>,
    /// Directives that only matter to later subsystems (replication, cluster, persistence
    /// details): validated and stored by name so CONFIG GET/SET/REWRITE round-trip them.
    pub other: std::collections::BTreeMap<&'static str, String>,
    /// The config file this server was started with (for CONFIG REWRITE), absolute.
    pub config_file: Option<String>,
}

impl Config {
    /// A directive's value as CONFIG GET shows it ("" for an unknown name).
    pub fn value(&self, name: &str) -> String {
        lookup(name.as_bytes()).map_or_else(String::new, |def| get_directive(self, def))
    }

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
            syslog_facility: 1,
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
            obuf_limits: table::OBUF_DEFAULTS,
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
            watchdog_period: 0,
            crash_memcheck_enabled: true,
            io_threads: 1,
            io_threads_do_reads: false,
            replica_read_only: true,
            replica_serve_stale_data: true,
            min_replicas_to_write: 0,
            min_replicas_max_lag: 10,
            hash_max_listpack_entries: 512,
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
            shutdown_on_sigint: 0,
            shutdown_on_sigterm: 0,
            use_exit_on_panic: false,
            tracking_table_max_keys: 1_000_000,
            replicaof: None,
            other: Default::default(),
            config_file: None,
        };
        for def in CONFIGS.iter() {
            // The table is the one source of defaults: typed fields get theirs from it too.
            let default = match &def.kind {
                Kind::Special { default, .. } | Kind::Stored { default, .. } => *default,
                Kind::Bool { set, default, .. } => {
                    set(&mut c, *default);
                    continue;
                }
                Kind::Int { set, default, .. } => {
                    set(&mut c, *default);
                    continue;
                }
                Kind::Enum { set, default, .. } => {
                    set(&mut c, *default);
                    continue;
                }
                Kind::Str { set, default, .. } => {
                    set(&mut c, default.to_string());
                    continue;
                }
            };
            if default.is_empty() && def.flags & cflags::MULTI_ARG != 0 {
                // An empty multi-argument default is the field's initial value.
                continue;
            }
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
    let single = || -> Result<&[u8], String> {
        match args {
            [one] => Ok(one.as_slice()),
            _ => Err("wrong number of arguments".into()),
        }
    };
    match &def.kind {
        Kind::Bool { set, .. } => {
            let v = yes_no(single()?).ok_or("argument must be 'yes' or 'no'")?;
            set(cfg, v);
        }
        Kind::Int { set, min, max, .. } => {
            let v = parse_number(def.flags, single()?)?;
            check_bounds(def.flags, v, *min, *max)?;
            set(cfg, v);
        }
        Kind::Enum {
            set,
            values,
            multi,
            valid,
            ..
        } => {
            let v = enum_value(values, args, *multi).ok_or_else(|| {
                let names: Vec<&str> = values.iter().map(|(n, _)| *n).collect();
                format!(
                    "argument(s) must be one of the following: {}",
                    names.join(", ")
                )
            })?;
            if let Some(valid) = valid {
                valid(v)?;
            }
            set(cfg, v);
        }
        Kind::Str {
            set,
            valid,
            empty_is_null: _,
            ..
        } => {
            let s = String::from_utf8_lossy(single()?).into_owned();
            if let Some(valid) = valid {
                valid(&s)?;
            }
            set(cfg, s);
        }
        Kind::Special { set, .. } => set(cfg, args)?,
        Kind::Stored { check, .. } => {
            let v = single()?;
            let norm: String = match check {
                Check::Bool => if yes_no(v).ok_or("argument must be 'yes' or 'no'")? {
                    "yes"
                } else {
                    "no"
                }
                .into(),
                Check::Int { min, max } => {
                    let n = parse_number(0, v)?;
                    check_bounds(0, n, *min, *max)?;
                    n.to_string()
                }
                Check::Memory { min, max } => {
                    let n = parse_number(cflags::MEMORY, v)?;
                    check_bounds(cflags::MEMORY, n, *min, *max)?;
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
                Check::Str { .. } => String::from_utf8_lossy(v).into_owned(),
                Check::Custom(f) => f(v)?,
            };
            cfg.other.insert(def.name, norm);
        }
    }
    Ok(())
}

/// Parses an integer directive value: memory units, `N%` for percent directives, octal.
fn parse_number(flags: u32, text: &[u8]) -> Result<i64, String> {
    if flags & cflags::MEMORY != 0 {
        if let Some(v) = util::parse_memory(text).filter(|v| *v <= i64::MAX as u64) {
            return Ok(v as i64);
        }
    }
    if flags & cflags::PERCENT != 0 && text.len() > 1 && text.last() == Some(&b'%') {
        if let Some(n) = util::parse_i64(&text[..text.len() - 1]).filter(|n| *n >= 0) {
            return Ok(-n);
        }
    }
    if flags & cflags::OCTAL != 0 {
        if let Some(v) = std::str::from_utf8(text)
            .ok()
            .and_then(|s| i64::from_str_radix(s, 8).ok())
        {
            return Ok(v);
        }
    }
    if flags & (cflags::MEMORY | cflags::PERCENT | cflags::OCTAL) == 0 {
        if let Some(v) = util::parse_i64(text) {
            return Ok(v);
        }
    }
    Err(
        if flags & cflags::MEMORY != 0 && flags & cflags::PERCENT != 0 {
            "argument must be a memory or percent value"
        } else if flags & cflags::MEMORY != 0 {
            "argument must be a memory value"
        } else if flags & cflags::OCTAL != 0 {
            "argument couldn't be parsed as an octal number"
        } else {
            "argument couldn't be parsed into an integer"
        }
        .into(),
    )
}

fn check_bounds(flags: u32, v: i64, min: i64, max: i64) -> Result<(), String> {
    if flags & cflags::PERCENT != 0 && v < 0 {
        if v < min {
            return Err(format!(
                "percentage argument must be less or equal to {}",
                -min
            ));
        }
        return Ok(());
    }
    if v < min || v > max {
        return Err(if flags & cflags::OCTAL != 0 {
            format!("argument must be between {:o} and {:o} inclusive", min, max)
        } else {
            format!("argument must be between {} and {} inclusive", min, max)
        });
    }
    Ok(())
}

/// The value of enum names (several OR-ed together for multi-argument enums).
fn enum_value(values: &[(&str, i32)], args: &[Vec<u8>], multi: bool) -> Option<i32> {
    if args.is_empty() || (!multi && args.len() != 1) {
        return None;
    }
    let mut acc = 0;
    for a in args {
        let mut matched = false;
        for (n, v) in values {
            if util::eq_ic(a, n) {
                acc |= v;
                matched = true;
            }
        }
        if !matched {
            return None;
        }
    }
    Some(acc)
}

/// The names of an enum value: an exact match first, else (multi) the flags it combines.
fn enum_name(values: &[(&str, i32)], v: i32, multi: bool) -> String {
    let mut names: Vec<&str> = Vec::new();
    let mut left = v;
    for (n, bits) in values {
        if *bits == v {
            return n.to_string();
        }
        if multi && *bits != 0 && left & bits == *bits {
            names.push(n);
            left &= !bits;
        }
    }
    if names.is_empty() || left != 0 {
        return "unknown".into();
    }
    names.join(" ")
}

/// Sets a directive from one string as CONFIG SET passes it: multi-argument directives split
/// it on single spaces (so `""` means no arguments, and runs of spaces give empty arguments).
pub fn set_from_string(cfg: &mut Config, def: &ConfigDef, value: &[u8]) -> Result<(), String> {
    if def.flags & cflags::MULTI_ARG != 0 {
        let args: Vec<Vec<u8>> = if value.is_empty() {
            Vec::new()
        } else {
            value.split(|b| *b == b' ').map(|p| p.to_vec()).collect()
        };
        set_directive(cfg, def, &args)
    } else {
        set_directive(cfg, def, &[value.to_vec()])
    }
}

/// Renders a directive's current value as `CONFIG GET` shows it.
pub fn get_directive(cfg: &Config, def: &ConfigDef) -> String {
    match &def.kind {
        Kind::Bool { get, .. } => if get(cfg) { "yes" } else { "no" }.into(),
        Kind::Int { get, .. } => {
            let v = get(cfg);
            if def.flags & cflags::PERCENT != 0 && v < 0 {
                format!("{}%", -v)
            } else if def.flags & cflags::OCTAL != 0 {
                format!("{:o}", v)
            } else {
                v.to_string()
            }
        }
        Kind::Enum {
            get, values, multi, ..
        } => enum_name(values, get(cfg), *multi),
        Kind::Str { get, .. } => get(cfg),
        Kind::Special { get, .. } => get(cfg),
        Kind::Stored { default, .. } => cfg
            .other
            .get(def.name)
            .cloned()
            .unwrap_or_else(|| default.to_string()),
    }
}

fn repr_line(name: &str, value: &str) -> String {
    let mut line = format!("{} ", name).into_bytes();
    util::push_repr(&mut line, value.as_bytes());
    String::from_utf8_lossy(&line).into_owned()
}

/// The lines CONFIG REWRITE writes for a directive, each with its "force" bit (set when the
/// value differs from the default, so the line is added even if the file didn't have it).
/// No lines: the directive must not appear in the file.
pub fn rewrite_directive(cfg: &Config, def: &ConfigDef) -> Vec<(String, bool)> {
    let name = def.name;
    match &def.kind {
        Kind::Bool { get, default, .. } => {
            let v = get(cfg);
            vec![(
                format!("{} {}", name, if v { "yes" } else { "no" }),
                v != *default,
            )]
        }
        Kind::Int { get, default, .. } => {
            let v = get(cfg);
            let text = if def.flags & cflags::PERCENT != 0 && v < 0 {
                format!("{}%", -v)
            } else if def.flags & cflags::MEMORY != 0 {
                table::format_memory(v)
            } else if def.flags & cflags::OCTAL != 0 {
                format!("{:o}", v)
            } else {
                v.to_string()
            };
            vec![(format!("{} {}", name, text), v != *default)]
        }
        Kind::Enum {
            get,
            values,
            multi,
            default,
            ..
        } => {
            let v = get(cfg);
            vec![(
                format!("{} {}", name, enum_name(values, v, *multi)),
                v != *default,
            )]
        }
        Kind::Str {
            get,
            default,
            empty_is_null,
            ..
        } => {
            let v = get(cfg);
            if v.is_empty() && *empty_is_null {
                return Vec::new();
            }
            vec![(repr_line(name, &v), v != *default)]
        }
        Kind::Special { rewrite, .. } => rewrite(cfg, name),
        Kind::Stored { check, default } => {
            let v = get_directive(cfg, def);
            let force = v != *default;
            match check {
                Check::Str { empty_is_null } => {
                    if v.is_empty() && *empty_is_null {
                        return Vec::new();
                    }
                    vec![(repr_line(name, &v), force)]
                }
                Check::Custom(_) => {
                    if v.is_empty() {
                        return Vec::new();
                    }
                    vec![(repr_line(name, &v), force)]
                }
                Check::Memory { .. } => {
                    let n: i64 = v.parse().unwrap_or(0);
                    vec![(format!("{} {}", name, table::format_memory(n)), force)]
                }
                _ => vec![(format!("{} {}", name, v), force)],
            }
        }
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
    /// `<module>.<config> value...` lines: module config values for modules not loaded yet.
    pub module_configs: Vec<(Vec<u8>, Vec<u8>)>,
    pub users: Vec<Vec<Vec<u8>>>,
    /// A `save` line was seen: later ones append instead of replacing the defaults.
    pub save_loaded: bool,
}

/// The files an `include` names: the path itself, or with wildcards (`*?[`) in its last
/// component the matching files in sorted order (none is fine: an empty `conf.d` is allowed).
fn include_paths(path: &str) -> Vec<String> {
    if !path.contains(['*', '?', '[']) {
        return vec![path.to_string()];
    }
    let (dir, pattern) = match path.rfind('/') {
        Some(p) => (&path[..p.max(1)], &path[p + 1..]),
        None => (".", path),
    };
    let mut out: Vec<String> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| {
                !n.starts_with('.') && util::glob_match(pattern.as_bytes(), n.as_bytes(), false)
            })
            .map(|n| {
                if path.contains('/') {
                    format!("{}/{}", dir.trim_end_matches('/'), n)
                } else {
                    n
                }
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    out.sort();
    out
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
            if def.name == "save" {
                // In a file, the first `save` line replaces the built-in save points and the
                // following ones add to it (so `--save 100 100` appends to the file's).
                let before = std::mem::take(&mut cfg.save_params);
                if let Err(e) = set_directive(cfg, def, &args) {
                    cfg.save_params = before;
                    return Err(fail(&e));
                }
                let reset = args.is_empty() || (args.len() == 1 && args[0].is_empty());
                if extras.save_loaded && !reset {
                    let mut all = before;
                    all.append(&mut cfg.save_params);
                    cfg.save_params = all;
                }
                extras.save_loaded = true;
                continue;
            }
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
                let mut body = String::new();
                for file in include_paths(&path) {
                    let text = std::fs::read_to_string(&file).map_err(|e| {
                        fail(&format!(
                            "Fatal error, can't open config file '{}': {}",
                            file, e
                        ))
                    })?;
                    body.push_str(&text);
                }
                load_from_string(cfg, &body, extras)?;
            }
            ("rename-command", 3) => extras
                .rename_commands
                .push((argv[1].clone(), argv[2].clone())),
            ("user", n) if n >= 2 => {
                if extras.users.iter().any(|u| u[0] == argv[1]) {
                    return Err(fail(&format!(
                        "Error in user declaration '{}': Duplicate user found. A user can only be defined once in config files",
                        String::from_utf8_lossy(&argv[1])
                    )));
                }
                extras.users.push(argv[1..].to_vec())
            }
            ("loadmodule", n) if n >= 2 => extras.load_modules.push(argv[1..].to_vec()),
            (n, argc) if n.contains('.') => {
                if argc < 2 {
                    return Err(fail("Module config specified without value"));
                }
                extras
                    .module_configs
                    .push((argv[0].clone(), argv[1..].join(&b' ')));
            }
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
            if def.flags & cflags::IMMUTABLE != 0 || def.name == "dir" {
                continue;
            }
            let shown = get_directive(&c, def);
            set_from_string(&mut c, def, shown.as_bytes())
                .unwrap_or_else(|e| panic!("{} {:?}: {}", def.name, shown, e));
            assert_eq!(get_directive(&c, def), shown, "{}", def.name);
        }
    }

    #[test]
    fn bounds_and_percent_errors_use_redis_texts() {
        let mut c = Config::defaults();
        let mmc = lookup(b"maxmemory-clients").unwrap();
        assert_eq!(
            set_from_string(&mut c, mmc, b"200%").unwrap_err(),
            "percentage argument must be less or equal to 100"
        );
        set_from_string(&mut c, mmc, b"10%").unwrap();
        assert_eq!(get_directive(&c, mmc), "10%");
        let port = lookup(b"port").unwrap();
        assert_eq!(
            set_from_string(&mut c, port, b"70000").unwrap_err(),
            "argument must be between 0 and 65535 inclusive"
        );
        let sig = lookup(b"shutdown-on-sigint").unwrap();
        set_from_string(&mut c, sig, b"nosave now").unwrap();
        assert_eq!(get_directive(&c, sig), "nosave now");
        assert!(set_from_string(&mut c, sig, b"save nosave").is_err());
        assert!(set_from_string(&mut c, sig, b"")
            .unwrap_err()
            .starts_with("argument(s) must be one of the following: default, save"));
    }

    #[test]
    fn rewrite_lines_use_units_and_force_only_non_defaults() {
        let mut c = Config::defaults();
        let mm = lookup(b"maxmemory").unwrap();
        assert_eq!(
            rewrite_directive(&c, mm),
            vec![("maxmemory 0".to_string(), false)]
        );
        set_from_string(&mut c, mm, b"2mb").unwrap();
        assert_eq!(
            rewrite_directive(&c, mm),
            vec![("maxmemory 2mb".to_string(), true)]
        );
        let save = lookup(b"save").unwrap();
        set_from_string(&mut c, save, b"").unwrap();
        assert_eq!(
            rewrite_directive(&c, save),
            vec![("save \"\"".to_string(), true)]
        );
        let pid = lookup(b"pidfile").unwrap();
        assert!(rewrite_directive(&c, pid).is_empty());
    }
}
