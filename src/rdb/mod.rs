//! RDB persistence: the snapshot file format of Redis 7.0 (RDB version 10), read and written
//! byte-compatibly so a `dump.rdb` moves between Redis 7.0.15 and ferrodis in both directions,
//! and the same object serialisation DUMP/RESTORE use.
//!
//! ```text
//! file    := "REDIS" "0010"                       magic + 4-digit version
//!            { AUX key:string value:string }      0xFA  redis-ver, redis-bits, ctime, used-mem,
//!                                                       [repl-stream-db, repl-id, repl-offset],
//!                                                       aof-base
//!            { db }
//!            EOF                                  0xFF
//!            crc64                                8 bytes LE over everything before (0: none)
//! db      := SELECTDB len                         0xFE  database number
//!            RESIZEDB len len                     0xFB  keys, keys with a TTL (sizing hints)
//!            { [EXPIRETIME_MS ms] [IDLE len | FREQ byte] type key:string value }
//!                                                 0xFC  8 bytes LE absolute unix ms
//!                                                 0xF8  idle seconds (LRU policies)
//!                                                 0xF9  LFU counter (LFU policies)
//! len     := 00xxxxxx                             6-bit length
//!          | 01xxxxxx xxxxxxxx                    14-bit length, big-endian
//!          | 0x80 u32 BE | 0x81 u64 BE            32/64-bit length
//!          | 11xxxxxx                             "special encoding" of a string (below)
//! string  := len bytes                            raw
//!          | 0xC0 i8 | 0xC1 i16 LE | 0xC2 i32 LE  integer-encoded (canonical decimal text)
//!          | 0xC3 clen:len len:len lzf-data       LZF-compressed (`rdbcompression yes`)
//! payload := type value rdb-version:u16 LE crc64  DUMP / RESTORE
//! ```
//!
//! Values: a string is one `string`; a set is `SET_INTSET` (the intset blob) or `SET` (len,
//! members); a hash `HASH_LISTPACK` (blob) or `HASH` (len, field/value pairs); a sorted set
//! `ZSET_LISTPACK` (blob) or `ZSET_2` (len, member + binary double, highest score first); a
//! list `LIST_QUICKLIST_2` (node count, per node its container and listpack blob). Compact
//! encodings are saved as the blob itself, which is why they are kept byte-compatible with
//! Redis'. Older files' encodings (zipmap, ziplist, quicklist of ziplists, text scores) are
//! converted on load. Each type's save and load lives in `object.rs`, one match arm per type,
//! so a new type (streams) plugs in there (and in the digest in commands/debug.rs).
//!
//! Module layout: `check` (redis-check-rdb's report), `crc64` (checksum), `encode` (writer: lengths, strings, objects), `decode`
//! (reader with validation: a corrupt file or payload is an error, never a crash), `object`
//! (per-type serialisation), `file` (whole snapshots and loading into the keyspace),
//! `persist` (SAVE/BGSAVE children, save points, INFO fields).

pub mod check;
pub mod crc64;
pub mod decode;
pub mod encode;
pub mod file;
#[cfg(test)]
pub(crate) mod fuzz;
pub mod object;
pub mod persist;
pub mod ziplist;

/// The RDB version this build writes and the highest it reads.
pub const RDB_VERSION: u16 = 10;

/// Value type bytes.
pub mod types {
    pub const STRING: u8 = 0;
    pub const LIST: u8 = 1;
    pub const SET: u8 = 2;
    pub const ZSET: u8 = 3;
    pub const HASH: u8 = 4;
    pub const ZSET_2: u8 = 5;
    pub const MODULE_PRE_GA: u8 = 6;
    pub const MODULE_2: u8 = 7;
    pub const HASH_ZIPMAP: u8 = 9;
    pub const LIST_ZIPLIST: u8 = 10;
    pub const SET_INTSET: u8 = 11;
    pub const ZSET_ZIPLIST: u8 = 12;
    pub const HASH_ZIPLIST: u8 = 13;
    pub const LIST_QUICKLIST: u8 = 14;
    pub const STREAM_LISTPACKS: u8 = 15;
    pub const HASH_LISTPACK: u8 = 16;
    pub const ZSET_LISTPACK: u8 = 17;
    pub const LIST_QUICKLIST_2: u8 = 18;
    pub const STREAM_LISTPACKS_2: u8 = 19;

    /// Whether a byte is a value type this format version defines.
    pub fn is_object_type(t: u8) -> bool {
        t <= 7 || (9..=19).contains(&t)
    }
}

/// Opcodes between keys.
pub mod opcode {
    pub const FUNCTION2: u8 = 245;
    pub const FUNCTION_PRE_GA: u8 = 246;
    pub const MODULE_AUX: u8 = 247;
    pub const IDLE: u8 = 248;
    pub const FREQ: u8 = 249;
    pub const AUX: u8 = 250;
    pub const RESIZEDB: u8 = 251;
    pub const EXPIRETIME_MS: u8 = 252;
    pub const EXPIRETIME: u8 = 253;
    pub const SELECTDB: u8 = 254;
    pub const EOF: u8 = 255;
}

/// Length-prefix forms.
pub(crate) const LEN_6BIT: u8 = 0;
pub(crate) const LEN_14BIT: u8 = 1;
pub(crate) const LEN_32BIT: u8 = 0x80;
pub(crate) const LEN_64BIT: u8 = 0x81;
pub(crate) const LEN_ENCVAL: u8 = 3;
/// Special string encodings (low 6 bits after the 11 prefix).
pub(crate) const ENC_INT8: u8 = 0;
pub(crate) const ENC_INT16: u8 = 1;
pub(crate) const ENC_INT32: u8 = 2;
pub(crate) const ENC_LZF: u8 = 3;

/// Why reading a value or a file failed. `Corrupt` carries what was wrong (for the log);
/// `EmptyKey` is a well-formed but empty collection, which loading skips as Redis does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadError {
    /// The data ended early.
    Eof,
    Corrupt(String),
    EmptyKey,
    /// The file is sound but its content can't be taken (a function library that clashes
    /// with one already loaded): the load stops, nothing is corrupt.
    Refused(String),
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::Eof => write!(f, "Unexpected EOF reading RDB file"),
            LoadError::Corrupt(m) => write!(f, "{}", m),
            LoadError::EmptyKey => write!(f, "Empty keys skipped"),
            LoadError::Refused(m) => write!(f, "{}", m),
        }
    }
}

pub type LoadResult<T> = Result<T, LoadError>;

pub(crate) fn corrupt<T>(msg: impl Into<String>) -> LoadResult<T> {
    Err(LoadError::Corrupt(msg.into()))
}

/// The name of a module type from its 64-bit id (9 characters of a 64-symbol alphabet, then 10
/// bits of encoding version), for the error that names the module a file needs.
pub fn module_type_name(id: u64) -> String {
    const CSET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut name = [0u8; 9];
    let mut v = id >> 10;
    for j in (0..9).rev() {
        name[j] = CSET[(v & 63) as usize];
        v >>= 6;
    }
    String::from_utf8_lossy(&name).into_owned()
}
