//! The declarative shape of a command: everything Redis 7.0 reports about a command through
//! `COMMAND INFO` / `COMMAND DOCS` (arity, flags, ACL categories, key specs, arguments, history).
//!
//! The table of specs itself (`table.rs`) is generated from the upstream command reference by
//! `tools/gen-command-table.py`; this file only defines the types. The behaviour of a command (its
//! Rust function) is bound to a spec by name in `commands/mod.rs`, so a spec without an
//! implementation never reaches the command table and the command stays unknown.

/// Command flags, with the same bit values as Redis 7.0 (`CMD_*`), because modules and
/// `COMMAND INFO` speak in these terms.
pub mod flags {
    pub const WRITE: u64 = 1 << 0;
    pub const READONLY: u64 = 1 << 1;
    pub const DENYOOM: u64 = 1 << 2;
    pub const MODULE: u64 = 1 << 3;
    pub const ADMIN: u64 = 1 << 4;
    pub const PUBSUB: u64 = 1 << 5;
    pub const NOSCRIPT: u64 = 1 << 6;
    pub const BLOCKING: u64 = 1 << 8;
    pub const LOADING: u64 = 1 << 9;
    pub const STALE: u64 = 1 << 10;
    pub const SKIP_MONITOR: u64 = 1 << 11;
    pub const SKIP_SLOWLOG: u64 = 1 << 12;
    pub const ASKING: u64 = 1 << 13;
    pub const FAST: u64 = 1 << 14;
    pub const NO_AUTH: u64 = 1 << 15;
    pub const MAY_REPLICATE: u64 = 1 << 16;
    pub const SENTINEL: u64 = 1 << 17;
    pub const ONLY_SENTINEL: u64 = 1 << 18;
    pub const NO_MANDATORY_KEYS: u64 = 1 << 19;
    pub const PROTECTED: u64 = 1 << 20;
    pub const MODULE_GETKEYS: u64 = 1 << 21;
    pub const MODULE_NO_CLUSTER: u64 = 1 << 22;
    pub const NO_ASYNC_LOADING: u64 = 1 << 23;
    pub const NO_MULTI: u64 = 1 << 24;
    pub const MOVABLE_KEYS: u64 = 1 << 25;
    pub const ALLOW_BUSY: u64 = 1 << 26;
    pub const MODULE_GETCHANNELS: u64 = 1 << 27;
    pub const TOUCHES_ARBITRARY_KEYS: u64 = 1 << 28;
}

/// ACL categories, same bits as Redis 7.0 (`ACL_CATEGORY_*`).
pub mod acl {
    pub const KEYSPACE: u64 = 1 << 0;
    pub const READ: u64 = 1 << 1;
    pub const WRITE: u64 = 1 << 2;
    pub const SET: u64 = 1 << 3;
    pub const SORTEDSET: u64 = 1 << 4;
    pub const LIST: u64 = 1 << 5;
    pub const HASH: u64 = 1 << 6;
    pub const STRING: u64 = 1 << 7;
    pub const BITMAP: u64 = 1 << 8;
    pub const HYPERLOGLOG: u64 = 1 << 9;
    pub const GEO: u64 = 1 << 10;
    pub const STREAM: u64 = 1 << 11;
    pub const PUBSUB: u64 = 1 << 12;
    pub const ADMIN: u64 = 1 << 13;
    pub const FAST: u64 = 1 << 14;
    pub const SLOW: u64 = 1 << 15;
    pub const BLOCKING: u64 = 1 << 16;
    pub const DANGEROUS: u64 = 1 << 17;
    pub const CONNECTION: u64 = 1 << 18;
    pub const TRANSACTION: u64 = 1 << 19;
    pub const SCRIPTING: u64 = 1 << 20;
}

/// Key-spec flags, same bits as Redis 7.0 (`CMD_KEY_*`, `CMD_CHANNEL_*`).
pub mod keyflags {
    pub const RO: u64 = 1 << 0;
    pub const RW: u64 = 1 << 1;
    pub const OW: u64 = 1 << 2;
    pub const RM: u64 = 1 << 3;
    pub const ACCESS: u64 = 1 << 4;
    pub const UPDATE: u64 = 1 << 5;
    pub const INSERT: u64 = 1 << 6;
    pub const DELETE: u64 = 1 << 7;
    pub const NOT_KEY: u64 = 1 << 8;
    pub const INCOMPLETE: u64 = 1 << 9;
    pub const VARIABLE_FLAGS: u64 = 1 << 10;
}

/// Documentation flags (`CMD_DOC_*`).
pub mod docflags {
    pub const DEPRECATED: u32 = 1 << 0;
    pub const SYSCMD: u32 = 1 << 1;
}

/// Argument flags (`CMD_ARG_*`).
pub mod argflags {
    pub const OPTIONAL: u32 = 1 << 0;
    pub const MULTIPLE: u32 = 1 << 1;
    pub const MULTIPLE_TOKEN: u32 = 1 << 2;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BeginSearch {
    Unknown,
    Index(i32),
    Keyword {
        keyword: &'static str,
        startfrom: i32,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FindKeys {
    Unknown,
    Range {
        lastkey: i32,
        keystep: i32,
        limit: i32,
    },
    Keynum {
        keynumidx: i32,
        firstkey: i32,
        keystep: i32,
    },
}

/// A hand-written key extractor (upstream's `get_keys_function`), for commands whose key specs
/// cannot express every key position or whose key flags depend on the arguments.
/// `commands::keyspec` implements each of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GetKeysProc {
    Set,
    Bitfield,
    Sort,
    SortRo,
    Migrate,
    Georadius,
    Xread,
    Eval,
    Function,
    Sintercard,
    ZunionInterDiff,
    ZunionInterDiffStore,
    Lmpop,
    Blmpop,
    Zmpop,
}

#[derive(Debug)]
pub struct KeySpec {
    pub notes: &'static str,
    pub flags: u64,
    pub begin_search: BeginSearch,
    pub find_keys: FindKeys,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgType {
    String,
    Integer,
    Double,
    Key,
    Pattern,
    UnixTime,
    PureToken,
    OneOf,
    Block,
}

#[derive(Debug)]
pub struct Arg {
    pub name: &'static str,
    pub kind: ArgType,
    /// Index into the command's key specs for `Key` arguments, -1 otherwise.
    pub key_spec_index: i32,
    pub token: &'static str,
    pub summary: &'static str,
    pub since: &'static str,
    pub flags: u32,
    pub deprecated_since: &'static str,
    pub display_text: &'static str,
    pub subargs: &'static [Arg],
}

#[derive(Debug)]
pub struct CommandSpec {
    /// Lower-case name; for a subcommand only its own part (`get` for `CONFIG GET`).
    pub name: &'static str,
    pub summary: &'static str,
    pub since: &'static str,
    pub group: &'static str,
    pub complexity: &'static str,
    pub doc_flags: u32,
    pub deprecated_since: &'static str,
    pub replaced_by: &'static str,
    pub history: &'static [(&'static str, &'static str)],
    pub tips: &'static [&'static str],
    pub arity: i32,
    pub flags: u64,
    /// The categories the reference lists explicitly; implicit ones (from flags) are added at
    /// table-build time, as Redis does.
    pub acl_categories: u64,
    pub key_specs: &'static [KeySpec],
    /// The command's own key extractor, if the reference names one.
    pub get_keys: Option<GetKeysProc>,
    pub args: &'static [Arg],
    pub subcommands: &'static [CommandSpec],
}
