//! Per-type serialisation of values, shared by snapshots, DUMP/RESTORE and `DEBUG OBJECT`'s
//! serializedlength. Saving picks the RDB type from the value's encoding (compact encodings
//! are saved as their blob, as Redis 7.0 does); loading accepts every type Redis 7.0 reads and
//! rebuilds the encoding Redis would have after loading, so `OBJECT ENCODING` agrees.
//!
//! A new value type adds one arm to `save_type`/`save_value` and its type bytes to
//! `load_value`.

use std::io::{self, Write};

use super::decode::Reader;
use super::encode::Writer;
use super::*;
use crate::db::Dict;
use crate::types::hash::{HashEntry, HashValue};
use crate::types::list::ListValue;
use crate::types::listpack::Listpack;
use crate::types::set::IntSet;
use crate::types::stream::{id_key, Consumer, Group, Nack, Stream, StreamId};
use crate::types::zset::{ZsetSkiplist, ZsetValue};
use crate::types::{RStr, SetValue, Value};

/// What loading needs to know from the configuration.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub set_max_intset_entries: i64,
    pub hash_max_listpack_entries: usize,
    pub hash_max_listpack_value: usize,
    pub list_max_listpack_size: i64,
    pub list_compress_depth: i64,
    pub zset_max_listpack_entries: usize,
    pub zset_max_listpack_value: usize,
    /// Full integrity checks of compact blobs (`sanitize-dump-payload`).
    pub deep_sanitize: bool,
    /// Blobs deep-checked so far (INFO's `dump_payload_sanitizations`, which Redis counts per
    /// intset, listpack and stream node it sanitizes).
    pub sanitized: std::cell::Cell<u64>,
}

impl LoadOptions {
    pub fn from_config(cfg: &crate::config::Config, deep_sanitize: bool) -> Self {
        LoadOptions {
            set_max_intset_entries: cfg.set_max_intset_entries,
            hash_max_listpack_entries: cfg.hash_max_listpack_entries.max(0) as usize,
            hash_max_listpack_value: cfg.hash_max_listpack_value.max(0) as usize,
            list_max_listpack_size: cfg.list_max_listpack_size,
            list_compress_depth: cfg.list_compress_depth,
            zset_max_listpack_entries: cfg.zset_max_listpack_entries.max(0) as usize,
            zset_max_listpack_value: cfg.zset_max_listpack_value.max(0) as usize,
            deep_sanitize,
            sanitized: Default::default(),
        }
    }

    /// Counts one deep-checked blob.
    fn count_sanitized(&self) {
        if self.deep_sanitize {
            self.sanitized.set(self.sanitized.get() + 1);
        }
    }
}

/// The RDB type byte a value is saved with.
pub fn save_type(v: &Value) -> u8 {
    match v {
        Value::Str(_) => types::STRING,
        Value::Set(s) if matches!(**s, SetValue::Intset(_)) => types::SET_INTSET,
        Value::Set(_) => types::SET,
        Value::Hash(h) => match **h {
            HashValue::Listpack(_) => types::HASH_LISTPACK,
            HashValue::Hashtable(_) => types::HASH,
        },
        Value::List(_) => types::LIST_QUICKLIST_2,
        Value::Zset(z) => match **z {
            ZsetValue::Listpack(_) => types::ZSET_LISTPACK,
            ZsetValue::Skiplist(_) => types::ZSET_2,
        },
        Value::Stream(_) => types::STREAM_LISTPACKS_2,
        Value::Module(_) => types::MODULE_2,
    }
}

/// A string value (`rdbSaveStringObject`): integers in their integer forms, the rest through
/// the raw-string rules.
pub fn save_rstr<W: Write>(w: &mut Writer<W>, s: &RStr) -> io::Result<()> {
    match s {
        RStr::Int(n) => w.int_string(*n),
        RStr::Emb(b) => w.string(b),
        RStr::Raw(b) => w.string(b),
    }
}

/// The value's body (after its type byte).
pub fn save_value<W: Write>(w: &mut Writer<W>, v: &Value) -> io::Result<()> {
    save_value_for(w, v, None, -1)
}

/// `save_value` for a value of a known key and database, which a module type's rdb_save may
/// ask for (GetKeyNameFromIO / GetDbIdFromIO).
pub fn save_value_for<W: Write>(
    w: &mut Writer<W>,
    v: &Value,
    key: Option<&[u8]>,
    db: i32,
) -> io::Result<()> {
    match v {
        Value::Module(mv) => {
            let body = crate::module::io::save_value(mv, key, db, w.compression())?;
            w.raw(&body)
        }
        Value::Str(s) => save_rstr(w, s),
        Value::Set(s) => match &**s {
            SetValue::Intset(is) => w.string(is.as_bytes()),
            SetValue::Hashtable(d) => {
                w.len(d.len() as u64)?;
                for (m, _) in d.iter() {
                    w.string(m)?;
                }
                Ok(())
            }
        },
        Value::List(l) => {
            // Node count, then per node its container (1 plain, 2 listpack) and its bytes;
            // a compressed node goes out as its LZF blob, as Redis writes it.
            let ql = l.ql();
            w.len(ql.node_count() as u64)?;
            for node in ql.nodes() {
                w.len(if node.plain { 1 } else { 2 })?;
                if node.compressed {
                    w.byte(0xC0 | ENC_LZF)?;
                    w.len(node.stored.len() as u64)?;
                    w.len(node.sz as u64)?;
                    w.raw(node.stored)?;
                } else {
                    w.string(node.stored)?;
                }
            }
            Ok(())
        }
        Value::Zset(z) => match &**z {
            ZsetValue::Listpack(lp) => w.string(lp.as_bytes()),
            ZsetValue::Skiplist(z) => {
                // Highest score first, as Redis writes it (loading then inserts at the head).
                let nodes: Vec<_> = z.skiplist().iter().collect();
                w.len(nodes.len() as u64)?;
                for n in nodes.iter().rev() {
                    w.string(n.member())?;
                    w.binary_double(n.score())?;
                }
                Ok(())
            }
        },
        Value::Hash(h) => match &**h {
            HashValue::Listpack(lp) => w.string(lp.as_bytes()),
            HashValue::Hashtable(d) => {
                w.len(d.len() as u64)?;
                for (e, _) in d.iter() {
                    w.string(e.field())?;
                    w.string(e.value())?;
                }
                Ok(())
            }
        },
        Value::Stream(st) => save_stream(w, st),
    }
}

/// A stream (`RDB_TYPE_STREAM_LISTPACKS_2`): its nodes as (16-byte master ID, listpack bytes),
/// its counters and IDs, then each group: name, last ID, entries read, the PEL (raw IDs with
/// delivery time and count) and the consumers (name, seen time, raw IDs of their PEL).
fn save_stream<W: Write>(w: &mut Writer<W>, st: &Stream) -> io::Result<()> {
    w.len(st.node_count() as u64)?;
    for (k, lp) in st.nodes() {
        w.string(&id_key(*k))?;
        w.string(lp.as_bytes())?;
    }
    w.len(st.length)?;
    w.len(st.last_id.ms)?;
    w.len(st.last_id.seq)?;
    w.len(st.first_id.ms)?;
    w.len(st.first_id.seq)?;
    w.len(st.max_deleted_entry_id.ms)?;
    w.len(st.max_deleted_entry_id.seq)?;
    w.len(st.entries_added)?;
    w.len(st.groups.len() as u64)?;
    for (name, g) in &st.groups {
        w.string(name)?;
        w.len(g.last_id.ms)?;
        w.len(g.last_id.seq)?;
        w.len(g.entries_read as u64)?;
        w.len(g.pel.len() as u64)?;
        for (id, nack) in &g.pel {
            w.raw(&id_key(*id))?;
            w.millis(nack.delivery_time)?;
            w.len(nack.delivery_count)?;
        }
        w.len(g.consumers.len() as u64)?;
        for (cname, cons) in &g.consumers {
            w.string(cname)?;
            w.millis(cons.seen_time)?;
            w.len(cons.pel.len() as u64)?;
            for id in &cons.pel {
                w.raw(&id_key(*id))?;
            }
        }
    }
    Ok(())
}

fn id_from_key(b: &[u8]) -> StreamId {
    let mut ms = [0u8; 8];
    let mut seq = [0u8; 8];
    ms.copy_from_slice(&b[..8]);
    seq.copy_from_slice(&b[8..16]);
    StreamId::new(u64::from_be_bytes(ms), u64::from_be_bytes(seq))
}

/// Reads a stream of RDB type `t` (`STREAM_LISTPACKS` or `_2`), checking what Redis checks.
fn load_stream(r: &mut Reader, t: u8, opt: &LoadOptions) -> LoadResult<Value> {
    let mut st = Stream::new();
    let nodes = r.length()?;
    for _ in 0..nodes {
        let key = r.string()?;
        if key.len() != 16 {
            return corrupt("Stream node key entry is not the size of a stream ID");
        }
        let master = id_from_key(&key);
        let bytes = r.string()?;
        opt.count_sanitized();
        let Some(lp) = Listpack::from_bytes(bytes).filter(|lp| stream_node_valid(master, lp))
        else {
            return corrupt("Stream listpack integrity check failed.");
        };
        if lp.is_empty() {
            return corrupt("Empty listpack inside stream");
        }
        if st.nodes().any(|(k, _)| *k == master) {
            return corrupt("Listpack re-added with existing key");
        }
        st.insert_node(master, lp);
    }
    st.length = r.length()?;
    st.last_id = StreamId::new(r.length()?, r.length()?);
    if t == types::STREAM_LISTPACKS_2 {
        st.first_id = StreamId::new(r.length()?, r.length()?);
        st.max_deleted_entry_id = StreamId::new(r.length()?, r.length()?);
        st.entries_added = r.length()?;
    } else {
        st.entries_added = st.length;
        st.first_id = st.edge_id(true, true);
    }
    if st.length != 0 && st.node_count() == 0 {
        return corrupt("Stream length inconsistent with rax entries");
    }
    // Every node's master entry counts its live entries (checked against the entries
    // above); a length that disagrees would make XLEN lie and deletions run the counter
    // past zero, so it is refused (Redis takes the field as it comes).
    let live: u64 = st
        .nodes()
        .map(|(_, lp)| match lp.first().map(|p| lp.get(p)) {
            Some(crate::types::listpack::Entry::Int(n)) => n as u64,
            _ => 0,
        })
        .sum();
    if live != st.length {
        return corrupt("Stream length inconsistent with its entries");
    }
    let ngroups = r.length()?;
    for _ in 0..ngroups {
        let name = r.string()?;
        let last = StreamId::new(r.length()?, r.length()?);
        let entries_read = if t == types::STREAM_LISTPACKS_2 {
            r.length()? as i64
        } else {
            st.estimate_distance(last)
                .unwrap_or(crate::types::stream::INVALID_ENTRIES_READ)
        };
        if st.groups.contains_key(&name) {
            return corrupt(format!(
                "Duplicated consumer group name {}",
                String::from_utf8_lossy(&name)
            ));
        }
        let mut g = Group::new(last, entries_read);
        let pel = r.length()?;
        for _ in 0..pel {
            let id = id_from_key(r.take(16)?);
            let delivery_time = r.millis()?;
            let delivery_count = r.length()?;
            let nack = Nack {
                delivery_time,
                delivery_count,
                consumer: Vec::new(),
            };
            if g.pel.insert(id, nack).is_some() {
                return corrupt("Duplicated global PEL entry loading stream consumer group");
            }
        }
        let nconsumers = r.length()?;
        for _ in 0..nconsumers {
            let cname = r.string()?;
            if g.consumers.contains_key(&cname) {
                return corrupt("Duplicate stream consumer detected.");
            }
            let seen_time = r.millis()?;
            let mut cons = Consumer {
                seen_time,
                pel: Default::default(),
            };
            let n = r.length()?;
            for _ in 0..n {
                let id = id_from_key(r.take(16)?);
                let Some(nack) = g.pel.get_mut(&id) else {
                    return corrupt("Consumer PEL entry not found in group global PEL");
                };
                if !cons.pel.insert(id) {
                    return corrupt(
                        "Duplicated consumer PEL entry  loading a stream consumer group",
                    );
                }
                nack.consumer = cname.clone();
            }
            g.consumers.insert(cname, cons);
        }
        // Checked in both sanitization modes: commands reach a pending entry's consumer
        // through it, so an orphan would be a broken invariant, not just odd data.
        if g.pel.values().any(|n| n.consumer.is_empty()) {
            return corrupt("Stream CG PEL entry without consumer");
        }
        st.groups.insert(name, g);
    }
    Ok(Value::Stream(Box::new(st)))
}

/// The structural checks Redis runs on a stream node when sanitizing: a master entry, then
/// entries whose element counts add up. Run whatever `sanitize-dump-payload` says: Redis
/// skips the walk otherwise and asserts later when a command meets a malformed node, while
/// the stream code here relies on the structure, so a payload that breaks it is refused.
/// (The listpack itself was walked entry by entry already, so this costs no more.)
fn stream_node_valid(master: StreamId, lp: &Listpack) -> bool {
    let n = lp.len();
    if n < 4 {
        return n == 0;
    }
    crate::types::stream::node_is_well_formed(master, lp)
}

/// Bytes a value takes in an RDB file (Redis' `rdbSavedObjectLen`), for `DEBUG OBJECT`.
pub fn saved_len(v: &Value, compression: bool) -> u64 {
    saved_len_for(v, compression, None, -1)
}

/// `saved_len` of a key's value (module types may need the key).
pub fn saved_len_for(v: &Value, compression: bool, key: Option<&[u8]>, db: i32) -> u64 {
    let mut w = Writer::new(encode::Counter, false, compression);
    // Writing to a counter can't fail (a module's save may, then the count is partial).
    let _ = save_value_for(&mut w, v, key, db);
    w.written
}

/// Reads a value of RDB type `t`. Empty collections are `LoadError::EmptyKey`.
pub fn load_value(r: &mut Reader, t: u8, opt: &LoadOptions) -> LoadResult<Value> {
    load_value_for(r, t, opt, None, -1)
}

/// `load_value` for a known key and database (a module type's rdb_load may ask for them).
pub fn load_value_for(
    r: &mut Reader,
    t: u8,
    opt: &LoadOptions,
    key: Option<&[u8]>,
    db: i32,
) -> LoadResult<Value> {
    match t {
        types::STRING => Ok(Value::Str(RStr::from_bytes(r.string()?))),
        types::SET => load_set(r, opt),
        types::SET_INTSET => {
            let blob = r.string()?;
            opt.count_sanitized();
            // An empty intset fails the integrity check (corruption, not an empty key).
            let Some(is) = IntSet::from_bytes(blob, opt.deep_sanitize) else {
                return corrupt("Intset integrity check failed.");
            };
            let mut s = SetValue::Intset(is);
            if s.len() as i64 > opt.set_max_intset_entries {
                s = convert_to_hashtable(&s);
            }
            Ok(Value::Set(Box::new(s)))
        }
        types::MODULE_PRE_GA | types::MODULE_2 => {
            crate::module::io::load_value(r, key, db, t == types::MODULE_2)
        }
        types::STREAM_LISTPACKS | types::STREAM_LISTPACKS_2 => load_stream(r, t, opt),
        types::LIST => {
            let n = r.count(1)?;
            let mut items = Vec::with_capacity(n);
            for _ in 0..n {
                items.push(r.string()?);
            }
            list_from(items, opt)
        }
        types::LIST_ZIPLIST => {
            let Some(entries) = super::ziplist::ziplist_entries(&r.string()?) else {
                return corrupt("List ziplist integrity check failed.");
            };
            list_from(entries.iter().map(|e| e.to_vec()).collect(), opt)
        }
        types::LIST_QUICKLIST | types::LIST_QUICKLIST_2 => {
            let nodes = r.count(1)?;
            let mut items = Vec::new();
            for _ in 0..nodes {
                let container = if t == types::LIST_QUICKLIST_2 {
                    r.length()?
                } else {
                    2
                };
                let data = r.string()?;
                // A node of no bytes can't be a container of either kind; Redis treats it as
                // a failed read (no message of its own).
                if data.is_empty() {
                    return Err(LoadError::Eof);
                }
                match container {
                    1 => items.push(data),
                    2 if t == types::LIST_QUICKLIST => {
                        let Some(e) = super::ziplist::ziplist_entries(&data) else {
                            return corrupt("Ziplist integrity check failed.");
                        };
                        items.extend(e.iter().map(|x| x.to_vec()));
                    }
                    2 => {
                        opt.count_sanitized();
                        let Some(lp) = Listpack::from_bytes(data) else {
                            return corrupt("Listpack integrity check failed.");
                        };
                        items.extend(lp.iter().map(|x| x.to_vec()));
                    }
                    _ => return corrupt("Quicklist integrity check failed."),
                }
            }
            list_from(items, opt)
        }
        types::HASH => load_hash(r, opt),
        types::HASH_LISTPACK => {
            opt.count_sanitized();
            let Some(lp) = Listpack::from_bytes(r.string()?).filter(|lp| lp.len() % 2 == 0) else {
                return corrupt("Hash listpack integrity check failed.");
            };
            // Duplicate fields are refused whatever `sanitize-dump-payload` says: Redis only
            // looks for them when sanitizing, and otherwise panics when such a listpack is
            // converted to a hashtable (now, or on a later write). Ours refuses the payload
            // instead, logging the dump Redis logs before its panic when the conversion
            // would have happened right away.
            if !no_dup_fields(&lp) {
                if !opt.deep_sanitize && lp.len() / 2 > opt.hash_max_listpack_entries {
                    log_hex_dump("listpack with dup elements dump", lp.as_bytes());
                }
                return corrupt("Hash listpack integrity check failed.");
            }
            hash_from_listpack(lp, opt, false)
        }
        types::HASH_ZIPLIST => {
            let entries = super::ziplist::ziplist_entries(&r.string()?)
                .filter(|e| e.len() % 2 == 0)
                .map(|e| super::ziplist::to_listpack(&e))
                .filter(no_dup_fields);
            let Some(lp) = entries else {
                return corrupt("Hash ziplist integrity check failed.");
            };
            hash_from_listpack(lp, opt, false)
        }
        types::HASH_ZIPMAP => {
            let Some(pairs) = super::ziplist::zipmap_pairs(&r.string()?) else {
                return corrupt("Zipmap integrity check failed.");
            };
            let mut lp = Listpack::new();
            for (f, v) in &pairs {
                lp.append(f);
                lp.append(v);
            }
            hash_from_listpack(lp, opt, true)
        }
        types::ZSET | types::ZSET_2 => load_zset(r, t == types::ZSET_2, opt),
        types::ZSET_LISTPACK | types::ZSET_ZIPLIST => {
            let blob = r.string()?;
            let lp = if t == types::ZSET_LISTPACK {
                opt.count_sanitized();
                Listpack::from_bytes(blob)
            } else {
                super::ziplist::ziplist_entries(&blob).map(|e| super::ziplist::to_listpack(&e))
            };
            let valid = lp.filter(|lp| {
                lp.len() % 2 == 0
                    && no_dup_fields(lp)
                    && lp
                        .iter()
                        .skip(1)
                        .step_by(2)
                        .all(|s| crate::types::zset::strtod_all(&s.to_vec()).is_some())
            });
            let Some(lp) = valid else {
                return corrupt(if t == types::ZSET_LISTPACK {
                    "Zset listpack integrity check failed."
                } else {
                    "Zset ziplist integrity check failed."
                });
            };
            if lp.is_empty() {
                return Err(LoadError::EmptyKey);
            }
            let mut z = ZsetValue::Listpack(lp);
            if z.len() > opt.zset_max_listpack_entries {
                z.convert_to_skiplist();
            }
            Ok(Value::Zset(Box::new(z)))
        }
        _ => corrupt(format!("Unknown RDB encoding type {}", t)),
    }
}

/// Logs bytes as Redis' `serverLogHexDump` does: a warning line naming them, then the hex
/// digits 64 to a line, raw.
fn log_hex_dump(descr: &str, bytes: &[u8]) {
    crate::log_warning!("{} (hexdump of {} bytes):", descr, bytes.len());
    let hex: Vec<u8> = bytes
        .iter()
        .flat_map(|b| {
            [
                b"0123456789abcdef"[(b >> 4) as usize],
                b"0123456789abcdef"[(b & 15) as usize],
            ]
        })
        .collect();
    for line in hex.chunks(64) {
        crate::server::log::raw(std::str::from_utf8(line).unwrap_or_default());
    }
    crate::server::log::raw("\n");
}

/// Whether the fields (even positions) of a field/value listpack are distinct.
fn no_dup_fields(lp: &Listpack) -> bool {
    let mut seen = ahash::AHashSet::with_capacity(lp.len() / 2);
    lp.iter().step_by(2).all(|f| seen.insert(f.to_vec()))
}

/// A loaded field/value listpack as a hash: empty is an empty key; converted to a hashtable
/// when it has more fields than `hash-max-listpack-entries` (or, for `check_values`, an
/// element longer than `hash-max-listpack-value`), as 7.0 does after loading.
fn hash_from_listpack(lp: Listpack, opt: &LoadOptions, check_values: bool) -> LoadResult<Value> {
    if lp.is_empty() {
        return Err(LoadError::EmptyKey);
    }
    let too_long = check_values
        && lp
            .iter()
            .any(|e| e.to_vec().len() > opt.hash_max_listpack_value);
    let mut h = HashValue::Listpack(lp);
    if h.len() > opt.hash_max_listpack_entries || too_long {
        h.convert();
    }
    Ok(Value::Hash(Box::new(h)))
}

/// RDB_TYPE_HASH: a count then field/value pairs. Starts as a listpack when the count
/// allows, converting as soon as an element is too long or the listpack would grow past its
/// size limit, as Redis does; duplicate fields are corruption.
fn load_hash(r: &mut Reader, opt: &LoadOptions) -> LoadResult<Value> {
    let n = r.count(2)?;
    if n == 0 {
        return Err(LoadError::EmptyKey);
    }
    let mut h = if n > opt.hash_max_listpack_entries {
        let mut d: Box<Dict<HashEntry, ()>> = Box::default();
        d.expand(n);
        HashValue::Hashtable(d)
    } else {
        HashValue::Listpack(Listpack::new())
    };
    let mut seen_in_listpack = ahash::AHashSet::new();
    for _ in 0..n {
        let f = r.string()?;
        let v = r.string()?;
        if let HashValue::Listpack(lp) = &mut h {
            let fits = f.len() <= opt.hash_max_listpack_value
                && v.len() <= opt.hash_max_listpack_value
                && lp.safe_to_add(f.len() + v.len());
            if fits {
                if !seen_in_listpack.insert(f.clone()) {
                    return corrupt("Duplicate hash fields detected");
                }
                lp.append(&f);
                lp.append(&v);
                continue;
            }
            h.convert();
        }
        if let HashValue::Hashtable(d) = &mut h {
            if d.contains_key(&f[..]) {
                return corrupt("Duplicate hash fields detected");
            }
            d.insert_new(HashEntry::new(&f, &v), ());
        }
    }
    Ok(Value::Hash(Box::new(h)))
}

/// A list of these elements, in order (empty is an empty key). Elements go through the
/// quicklist's own filling rules (`list-max-listpack-size`, `list-compress-depth`).
fn list_from(items: Vec<Vec<u8>>, opt: &LoadOptions) -> LoadResult<Value> {
    if items.is_empty() {
        return Err(LoadError::EmptyKey);
    }
    let mut l = ListValue::new(opt.list_max_listpack_size, opt.list_compress_depth);
    for it in &items {
        l.push(it, false);
    }
    Ok(Value::List(Box::new(l)))
}

/// ZSET (text scores) and ZSET_2 (binary scores): a count then member/score pairs, loaded
/// into a skiplist and turned into a listpack afterwards when small enough, as 7.0 does.
/// NaN scores and duplicate members are corruption.
fn load_zset(r: &mut Reader, binary: bool, opt: &LoadOptions) -> LoadResult<Value> {
    let n = r.count(2)?;
    if n == 0 {
        return Err(LoadError::EmptyKey);
    }
    let mut z = ZsetSkiplist::new();
    let (mut maxlen, mut total) = (0usize, 0usize);
    for _ in 0..n {
        let m = r.string()?;
        let score = if binary {
            r.binary_double()?
        } else {
            r.text_double()?
        };
        if score.is_nan() {
            return corrupt("Zset with NAN score detected");
        }
        if z.score(&m).is_some() {
            return corrupt("Duplicate zset fields detected");
        }
        maxlen = maxlen.max(m.len());
        total += m.len() + 8;
        z.insert_new(score, &m);
    }
    let mut v = ZsetValue::Skiplist(z);
    v.convert_to_listpack_if_needed(
        maxlen,
        total,
        crate::types::zset::Limits {
            entries: opt.zset_max_listpack_entries,
            value: opt.zset_max_listpack_value,
        },
    );
    Ok(Value::Zset(Box::new(v)))
}

fn convert_to_hashtable(s: &SetValue) -> SetValue {
    let mut d = Dict::new();
    for m in s.members() {
        d.insert_new(m.to_vec().into_boxed_slice(), ());
    }
    SetValue::Hashtable(d)
}

/// RDB_TYPE_SET: a count then members. Starts as an intset when the count allows and every
/// member so far is an integer, as Redis does; duplicates are corruption.
fn load_set(r: &mut Reader, opt: &LoadOptions) -> LoadResult<Value> {
    let n = r.count(1)?;
    if n == 0 {
        return Err(LoadError::EmptyKey);
    }
    let max = opt.set_max_intset_entries.clamp(0, 1 << 30) as usize;
    let mut s = if n > max {
        let mut d = Dict::new();
        d.expand(n);
        SetValue::Hashtable(d)
    } else {
        SetValue::Intset(IntSet::new())
    };
    for _ in 0..n {
        let m = r.string()?;
        if let SetValue::Intset(is) = &mut s {
            match (m.len() <= 20)
                .then(|| crate::util::parse_i64(&m))
                .flatten()
            {
                Some(v) => {
                    if !is.insert(v) {
                        return corrupt("Duplicate set members detected");
                    }
                    continue;
                }
                None => s = convert_to_hashtable(&s),
            }
        }
        if let SetValue::Hashtable(d) = &mut s {
            if d.contains_key(&m[..]) {
                return corrupt("Duplicate set members detected");
            }
            d.insert_new(m.into_boxed_slice(), ());
        }
    }
    Ok(Value::Set(Box::new(s)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> LoadOptions {
        LoadOptions {
            set_max_intset_entries: 512,
            hash_max_listpack_entries: 128,
            hash_max_listpack_value: 64,
            list_max_listpack_size: -2,
            list_compress_depth: 0,
            zset_max_listpack_entries: 128,
            zset_max_listpack_value: 64,
            deep_sanitize: true,
            sanitized: Default::default(),
        }
    }

    fn round_trip(v: &Value) -> Value {
        let mut w = Writer::new(Vec::new(), false, true);
        w.byte(save_type(v)).unwrap();
        save_value(&mut w, v).unwrap();
        let buf = w.into_inner();
        assert_eq!(saved_len(v, true) + 1, buf.len() as u64);
        let mut r = Reader::new(&buf);
        let t = r.byte().unwrap();
        let out = load_value(&mut r, t, &opts()).unwrap();
        assert_eq!(r.remaining(), 0);
        out
    }

    #[test]
    fn streams_round_trip_with_groups_and_reject_bad_pels() {
        let mut st = Stream::new();
        for i in 1..=30u64 {
            let fv = if i % 4 == 0 {
                vec![b"x".to_vec(), b"1".to_vec()]
            } else {
                vec![b"f".to_vec(), i.to_string().into_bytes()]
            };
            st.append(&fv, Some((StreamId::new(i, 0), true)), 0, 4096, 7)
                .unwrap();
        }
        st.delete(StreamId::new(3, 0));
        st.max_deleted_entry_id = StreamId::new(3, 0);
        let mut g = Group::new(StreamId::new(5, 0), 5);
        for id in [1u64, 2, 4] {
            g.pel.insert(
                StreamId::new(id, 0),
                Nack {
                    delivery_time: 1000 + id as i64,
                    delivery_count: id,
                    consumer: b"alice".to_vec(),
                },
            );
        }
        g.consumers.insert(
            b"alice".to_vec(),
            Consumer {
                seen_time: 77,
                pel: [1u64, 2, 4].iter().map(|i| StreamId::new(*i, 0)).collect(),
            },
        );
        g.consumers.insert(
            b"bob".to_vec(),
            Consumer {
                seen_time: 78,
                pel: Default::default(),
            },
        );
        st.groups.insert(b"g".to_vec(), g);
        let v = Value::Stream(Box::new(st.clone()));
        let Value::Stream(out) = round_trip(&v) else {
            panic!()
        };
        assert_eq!(*out, st);
        // A consumer claiming an ID the group's PEL doesn't have is corruption.
        let mut bad = st.clone();
        let g = bad.groups.get_mut(&b"g"[..]).unwrap();
        g.pel.remove(&StreamId::new(4, 0));
        let mut w = Writer::new(Vec::new(), false, false);
        save_value(&mut w, &Value::Stream(Box::new(bad))).unwrap();
        let buf = w.into_inner();
        let mut r = Reader::new(&buf);
        assert!(load_value(&mut r, types::STREAM_LISTPACKS_2, &opts()).is_err());
    }

    #[test]
    fn strings_and_sets_round_trip_with_their_encodings() {
        for s in [
            RStr::Int(5),
            RStr::Int(i64::MIN),
            RStr::from_bytes(b"hello".to_vec()),
            RStr::from_bytes(vec![b'z'; 300]),
        ] {
            match round_trip(&Value::Str(s.clone())) {
                Value::Str(o) => assert_eq!(o, s),
                other => panic!("{:?}", other),
            }
        }
        let mut is = SetValue::for_first(b"1");
        for m in ["1", "-5", "100000", "9999999999"] {
            is.add(m.as_bytes(), 512);
        }
        let out = round_trip(&Value::Set(Box::new(is)));
        let Value::Set(out) = out else { panic!() };
        assert_eq!(out.encoding_name(), "intset");
        assert_eq!(out.len(), 4);
        let mut ht = SetValue::for_first(b"a");
        for m in ["a", "b", "1", ""] {
            ht.add(m.as_bytes(), 512);
        }
        let Value::Set(out) = round_trip(&Value::Set(Box::new(ht))) else {
            panic!()
        };
        assert_eq!(out.encoding_name(), "hashtable");
        for m in ["a", "b", "1", ""] {
            assert!(out.contains(m.as_bytes()));
        }
    }

    #[test]
    fn hashes_round_trip_with_their_encodings() {
        let limits = crate::types::hash::Limits {
            max_entries: 128,
            max_value: 64,
        };
        let mut small = HashValue::new();
        small.set(b"f1", b"v1", limits);
        small.set(b"n", b"12345", limits);
        let Value::Hash(out) = round_trip(&Value::Hash(Box::new(small))) else {
            panic!()
        };
        assert_eq!(out.encoding_name(), "listpack");
        assert_eq!(out.len(), 2);
        let mut big = HashValue::new();
        for i in 0..200 {
            big.set(
                format!("f{i}").as_bytes(),
                format!("v{i}").as_bytes(),
                limits,
            );
        }
        assert_eq!(big.encoding_name(), "hashtable");
        let Value::Hash(mut out) = round_trip(&Value::Hash(Box::new(big))) else {
            panic!()
        };
        assert_eq!(out.encoding_name(), "hashtable");
        assert_eq!(out.len(), 200);
        assert!(out.contains(b"f199"));
    }

    #[test]
    fn old_hash_encodings_load_as_listpacks() {
        // A zipmap {a: 1, bb: ""} as RDB_TYPE_HASH_ZIPMAP.
        let zm = [2u8, 1, b'a', 1, 1, b'1', 0, 2, b'b', b'b', 0, 0, 0xFF];
        let mut buf = vec![zm.len() as u8];
        buf.extend_from_slice(&zm);
        let Value::Hash(mut h) =
            load_value(&mut Reader::new(&buf), types::HASH_ZIPMAP, &opts()).unwrap()
        else {
            panic!()
        };
        assert_eq!(h.encoding_name(), "listpack");
        assert!(h.contains(b"bb"));
        // Duplicate fields in a HASH are corruption.
        let mut w = Writer::new(Vec::new(), false, false);
        w.len(2).unwrap();
        for s in [b"f", b"1", b"f", b"2"] {
            w.string(s).unwrap();
        }
        let buf = w.into_inner();
        assert!(load_value(&mut Reader::new(&buf), types::HASH, &opts()).is_err());
    }

    #[test]
    fn corrupt_sets_are_errors() {
        // Duplicate members in a SET.
        let buf = [2u8, 0xC0, 1, 0xC0, 1];
        assert!(matches!(
            load_value(&mut Reader::new(&buf[1..]), 2, &opts()),
            Err(LoadError::Corrupt(_))
        ));
        // Empty SET.
        assert_eq!(
            load_value(&mut Reader::new(&[0]), 2, &opts()).unwrap_err(),
            LoadError::EmptyKey
        );
        // An intset blob with a count that doesn't match its size.
        let blob = [12u8, 2, 0, 0, 0, 5, 0, 0, 0, 1, 0, 2, 0];
        assert!(load_value(&mut Reader::new(&blob), types::SET_INTSET, &opts()).is_err());
        // Unsorted intset fails the deep check.
        let blob = [12u8, 2, 0, 0, 0, 2, 0, 0, 0, 2, 0, 1, 0];
        assert!(load_value(&mut Reader::new(&blob), types::SET_INTSET, &opts()).is_err());
        // A module value names the module it needs.
        let err = load_value(
            &mut Reader::new(&[0x81, 0, 0, 0, 0, 0, 0, 4, 0]),
            7,
            &opts(),
        );
        assert!(matches!(err, Err(LoadError::Corrupt(m)) if m.contains("module")));
    }
}
