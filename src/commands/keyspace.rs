//! Generic key commands that work on any type: DEL, UNLINK, EXISTS, TYPE, DBSIZE, FLUSHDB,
//! FLUSHALL, RENAME, RENAMENX, MOVE, COPY, SWAPDB, KEYS, SCAN, RANDOMKEY, TOUCH (Redis' db.c).
//! Expire commands live in `expire.rs`, OBJECT in `object.rs`.

use crate::client::{flags as cflags, Client};
use crate::commands::{arg_i32, errors, CmdProc};
use crate::config::table::notify;
use crate::db::{lookup, Dict};
use crate::server::Server;
use crate::types::Value;
use std::hash::Hash;

pub fn lookup(name: &str) -> Option<CmdProc> {
    Some(match name {
        "del" => del_command,
        "unlink" => unlink_command,
        "exists" => exists_command,
        "type" => type_command,
        "dbsize" => dbsize_command,
        "flushdb" => flushdb_command,
        "flushall" => flushall_command,
        "rename" => rename_command,
        "renamenx" => renamenx_command,
        "move" => move_command,
        "copy" => copy_command,
        "swapdb" => swapdb_command,
        "keys" => keys_command,
        "scan" => scan_command,
        "randomkey" => randomkey_command,
        "touch" => touch_command,
        _ => return None,
    })
}

fn del_generic(srv: &mut Server, c: &mut Client, lazy: bool) {
    let mut deleted = 0;
    for i in 1..c.argv.len() {
        let key = std::mem::take(&mut c.argv[i]);
        srv.expire_if_needed(c.db, &key, false);
        let existed = if lazy {
            srv.db_async_delete(c.db, &key)
        } else {
            srv.db_delete(c.db, &key)
        };
        if existed {
            srv.signal_modified_key(c.db, &key);
            srv.notify_keyspace_event(notify::GENERIC, "del", &key, c.db);
            srv.dirty += 1;
            deleted += 1;
        }
        c.argv[i] = key;
    }
    c.out.int(deleted);
}

// DEL frees values synchronously unless lazyfree-lazy-user-del, UNLINK always lazily (big
// values go to the lazy-free thread).
fn del_command(srv: &mut Server, c: &mut Client) {
    let lazy = srv.config.lazyfree_lazy_user_del;
    del_generic(srv, c, lazy)
}

fn unlink_command(srv: &mut Server, c: &mut Client) {
    del_generic(srv, c, true)
}

fn exists_command(srv: &mut Server, c: &mut Client) {
    let mut count = 0;
    for i in 1..c.argv.len() {
        let key = std::mem::take(&mut c.argv[i]);
        if srv.lookup_key(c.db, &key, lookup::NOTOUCH).is_some() {
            count += 1;
        }
        c.argv[i] = key;
    }
    c.out.int(count);
}

fn type_command(srv: &mut Server, c: &mut Client) {
    let key = std::mem::take(&mut c.argv[1]);
    let name = srv
        .lookup_key(c.db, &key, lookup::NOTOUCH)
        .map_or("none", |o| o.value.type_name());
    c.argv[1] = key;
    c.out.status(name);
}

fn dbsize_command(srv: &mut Server, c: &mut Client) {
    c.out.int(srv.dbs[c.db].len() as i64);
}

/// Checks the optional ASYNC|SYNC argument of FLUSHDB/FLUSHALL. Values are dropped in place
/// whichever is chosen, so only the syntax matters.
/// The flush mode: Some(true) for ASYNC (or no argument under lazyfree-lazy-user-flush),
/// Some(false) for SYNC, None after a syntax error reply.
fn flush_mode(srv: &Server, c: &mut Client) -> Option<bool> {
    let mode = match c.argv.len() {
        1 => Some(srv.config.lazyfree_lazy_user_flush),
        2 if c.argv[1].eq_ignore_ascii_case(b"async") => Some(true),
        2 if c.argv[1].eq_ignore_ascii_case(b"sync") => Some(false),
        _ => None,
    };
    if mode.is_none() {
        c.out.error(errors::SYNTAX);
    }
    mode
}

fn flushdb_command(srv: &mut Server, c: &mut Client) {
    let Some(lazy) = flush_mode(srv, c) else {
        return;
    };
    let removed = if lazy {
        srv.empty_data_async(Some(c.db))
    } else {
        srv.empty_data(Some(c.db))
    };
    srv.dirty += removed as i64;
    // Replicas and the AOF must see the flush even when the database was already empty.
    c.flags |= cflags::FORCE_REPL | cflags::FORCE_AOF;
    c.out.ok();
}

fn flushall_command(srv: &mut Server, c: &mut Client) {
    let Some(lazy) = flush_mode(srv, c) else {
        return;
    };
    let removed = if lazy {
        srv.empty_data_async(None)
    } else {
        srv.empty_data(None)
    };
    srv.dirty += removed as i64;
    // A snapshot being written now would bring the flushed data back: it is stopped, and
    // with save points the (empty) dataset is saved at once, as Redis does.
    srv.kill_rdb_child();
    if !srv.config.save_params.is_empty() {
        srv.rdb_save();
    }
    c.flags |= cflags::FORCE_REPL | cflags::FORCE_AOF;
    c.out.ok();
}

fn rename_generic(srv: &mut Server, c: &mut Client, nx: bool) {
    let src = std::mem::take(&mut c.argv[1]);
    let dst = std::mem::take(&mut c.argv[2]);
    rename_keys(srv, c, &src, &dst, nx);
    c.argv[1] = src;
    c.argv[2] = dst;
}

fn rename_keys(srv: &mut Server, c: &mut Client, src: &[u8], dst: &[u8], nx: bool) {
    let db = c.db;
    if srv.lookup_write(db, src).is_none() {
        c.out.error(errors::NO_SUCH_KEY);
        return;
    }
    if src == dst {
        if nx {
            c.out.int(0);
        } else {
            c.out.ok();
        }
        return;
    }
    let expire = srv.dbs[db].expire_of(src);
    if srv.lookup_write(db, dst).is_some() {
        if nx {
            c.out.int(0);
            return;
        }
        srv.db_delete(db, dst);
    }
    if !relocate_key(
        srv,
        (db, src),
        (db, dst),
        expire,
        ("rename_from", "rename_to"),
    ) {
        return;
    }
    if nx {
        c.out.int(1);
    } else {
        c.out.ok();
    }
}

fn rename_command(srv: &mut Server, c: &mut Client) {
    rename_generic(srv, c, false)
}

fn renamenx_command(srv: &mut Server, c: &mut Client) {
    rename_generic(srv, c, true)
}

/// Parses a database index argument and checks that the database exists.
fn parse_db(srv: &Server, c: &mut Client, i: usize) -> Option<usize> {
    let id = arg_i32(c, i, None)?;
    if id < 0 || id as usize >= srv.dbs.len() {
        c.out.error(errors::INVALID_DB);
        return None;
    }
    Some(id as usize)
}

fn move_command(srv: &mut Server, c: &mut Client) {
    // A cluster has only database 0.
    if srv.cluster.is_some() {
        c.out.error("MOVE is not allowed in cluster mode");
        return;
    }
    let src_db = c.db;
    let Some(dst_db) = parse_db(srv, c, 2) else {
        return;
    };
    if src_db == dst_db {
        c.out.error(errors::SAME_OBJECT);
        return;
    }
    let key = std::mem::take(&mut c.argv[1]);
    let moved = move_key(srv, &key, src_db, dst_db);
    c.argv[1] = key;
    c.out.int(moved as i64);
}

fn move_key(srv: &mut Server, key: &[u8], src_db: usize, dst_db: usize) -> bool {
    if srv.lookup_write(src_db, key).is_none() {
        return false;
    }
    let expire = srv.dbs[src_db].expire_of(key);
    if srv.lookup_write(dst_db, key).is_some() {
        return false;
    }
    relocate_key(
        srv,
        (src_db, key),
        (dst_db, key),
        expire,
        ("move_from", "move_to"),
    )
}

/// Moves a key's object — with its TTL and its access clock, as Redis moves the object itself
/// — to another name and/or database (RENAME, MOVE), signalling both keys and raising the
/// given pair of keyspace events. The destination must be free.
fn relocate_key(
    srv: &mut Server,
    (from_db, from): (usize, &[u8]),
    (to_db, to): (usize, &[u8]),
    expire: Option<i64>,
    (from_event, to_event): (&str, &str),
) -> bool {
    let Some(obj) = srv.dbs[from_db].take(from) else {
        return false;
    };
    srv.db_add_obj(to_db, to, obj);
    if let Some(when) = expire {
        srv.set_expire(to_db, to, when);
    }
    srv.signal_modified_key(from_db, from);
    srv.signal_modified_key(to_db, to);
    srv.notify_keyspace_event(notify::GENERIC, from_event, from, from_db);
    srv.notify_keyspace_event(notify::GENERIC, to_event, to, to_db);
    srv.dirty += 1;
    true
}

fn copy_command(srv: &mut Server, c: &mut Client) {
    let src_db = c.db;
    let mut dst_db = c.db;
    let mut replace = false;
    let mut j = 3;
    while j < c.argv.len() {
        let more = c.argv.len() - j - 1;
        if c.argv[j].eq_ignore_ascii_case(b"replace") {
            replace = true;
        } else if c.argv[j].eq_ignore_ascii_case(b"db") && more >= 1 {
            let Some(d) = parse_db(srv, c, j + 1) else {
                return;
            };
            dst_db = d;
            j += 1;
        } else {
            c.out.error(errors::SYNTAX);
            return;
        }
        j += 1;
    }
    if srv.cluster.is_some() && (src_db != 0 || dst_db != 0) {
        c.out
            .error("Copying to another database is not allowed in cluster mode");
        return;
    }
    let key = std::mem::take(&mut c.argv[1]);
    let newkey = std::mem::take(&mut c.argv[2]);
    copy_key(srv, c, &key, &newkey, src_db, dst_db, replace);
    c.argv[1] = key;
    c.argv[2] = newkey;
}

fn copy_key(
    srv: &mut Server,
    c: &mut Client,
    key: &[u8],
    newkey: &[u8],
    src_db: usize,
    dst_db: usize,
    replace: bool,
) {
    if src_db == dst_db && key == newkey {
        c.out.error(errors::SAME_OBJECT);
        return;
    }
    if srv.lookup_read(src_db, key).is_none() {
        c.out.int(0);
        return;
    }
    let expire = srv.dbs[src_db].expire_of(key);
    let exists = srv.lookup_write(dst_db, newkey).is_some();
    if exists && !replace {
        c.out.int(0);
        return;
    }
    // Duplicated only now, as Redis does: a module type's copy callback runs only when the
    // copy is going to happen, and may refuse it.
    let Some(src) = srv.dbs[src_db].dict.get(key) else {
        c.out.int(0);
        return;
    };
    let value = match &src.value {
        Value::Module(mv) => match mv.duplicate(key, newkey, src_db, dst_db) {
            Ok(v) => v,
            Err(msg) => {
                c.out.error(msg);
                return;
            }
        },
        v => duplicate(v),
    };
    if exists {
        srv.db_delete(dst_db, newkey);
    }
    // The copy is a new object, with a fresh access clock.
    srv.db_add(dst_db, newkey, value);
    if let Some(when) = expire {
        srv.set_expire(dst_db, newkey, when);
    }
    srv.signal_modified_key(dst_db, newkey);
    srv.notify_keyspace_event(notify::GENERIC, "copy_to", newkey, dst_db);
    srv.dirty += 1;
    c.out.int(1);
}

/// A deep copy of a value for COPY, keeping the encoding as Redis' per-type dup functions do.
fn duplicate(v: &Value) -> Value {
    match v {
        Value::Str(s) => Value::Str(s.clone()),
        Value::List(l) => Value::List(l.clone()),
        Value::Set(s) => Value::Set(Box::new(s.duplicate())),
        Value::Stream(s) => Value::Stream(s.clone()),
        Value::Zset(z) => Value::Zset(Box::new(z.duplicate())),
        Value::Hash(h) => Value::Hash(Box::new(h.duplicate())),
        Value::Module(_) => unreachable!("module values are copied by their type's callback"),
    }
}

fn swapdb_command(srv: &mut Server, c: &mut Client) {
    if srv.cluster.is_some() {
        c.out.error("SWAPDB is not allowed in cluster mode");
        return;
    }
    let Some(a) = arg_i32(c, 1, Some("invalid first DB index")) else {
        return;
    };
    let Some(b) = arg_i32(c, 2, Some("invalid second DB index")) else {
        return;
    };
    let n = srv.dbs.len() as i64;
    if !(0..n).contains(&(a as i64)) || !(0..n).contains(&(b as i64)) {
        c.out.error(errors::INVALID_DB);
        return;
    }
    srv.swap_dbs(a as usize, b as usize);
    crate::module::events::fire_swapdb(srv, a as usize, b as usize);
    srv.dirty += 1;
    c.out.ok();
}

fn keys_command(srv: &mut Server, c: &mut Client) {
    let pattern = std::mem::take(&mut c.argv[1]);
    // "*" matches every key, including the empty one, without running the matcher.
    let all = pattern.as_slice() == b"*";
    let d = c.out.defer();
    let mut n = 0;
    let db = &srv.dbs[c.db];
    for (k, _) in db.dict.iter() {
        if (all || crate::util::glob_match(&pattern, k, false)) && !srv.key_is_expired(c.db, k) {
            c.out.bulk(k);
            n += 1;
        }
    }
    c.out.set_deferred_array(d, n);
    c.argv[1] = pattern;
}

/// Parses a SCAN-family cursor as C's `strtoul` does (an optional sign, decimal digits; a
/// negative value wraps), rejecting leading blanks, trailing garbage and overflow with
/// "invalid cursor". Replies the error and returns None on failure.
pub fn parse_scan_cursor(c: &mut Client, i: usize) -> Option<u64> {
    let cursor = parse_cursor(&c.argv[i]);
    if cursor.is_none() {
        c.out.error("invalid cursor");
    }
    cursor
}

fn parse_cursor(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        // strtoul of "" converts nothing and leaves nothing unparsed: cursor 0.
        return Some(0);
    }
    let (neg, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: u64 = 0;
    for d in digits {
        v = v.checked_mul(10)?.checked_add((d - b'0') as u64)?;
    }
    Some(if neg { v.wrapping_neg() } else { v })
}

/// The options shared by SCAN, SSCAN, HSCAN and ZSCAN.
pub struct ScanOptions {
    pub count: usize,
    /// None when there is no pattern or it is exactly "*" (which matches everything).
    pub pattern: Option<Vec<u8>>,
    /// SCAN's TYPE filter.
    pub type_name: Option<Vec<u8>>,
}

/// Parses COUNT/MATCH (and TYPE when `allow_type`) from argument `first` on, replying the
/// error and returning None on failure.
pub fn parse_scan_options(c: &mut Client, first: usize, allow_type: bool) -> Option<ScanOptions> {
    let mut o = ScanOptions {
        count: 10,
        pattern: None,
        type_name: None,
    };
    let mut i = first;
    while i < c.argv.len() {
        let left = c.argv.len() - i;
        let opt = &c.argv[i];
        if opt.eq_ignore_ascii_case(b"count") && left >= 2 {
            let count = crate::commands::arg_i64(c, i + 1)?;
            if count < 1 {
                c.out.error(errors::SYNTAX);
                return None;
            }
            o.count = count as usize;
        } else if opt.eq_ignore_ascii_case(b"match") && left >= 2 {
            let p = &c.argv[i + 1];
            o.pattern = if p.as_slice() == b"*" {
                None
            } else {
                Some(p.clone())
            };
        } else if opt.eq_ignore_ascii_case(b"type") && allow_type && left >= 2 {
            o.type_name = Some(c.argv[i + 1].clone());
        } else {
            c.out.error(errors::SYNTAX);
            return None;
        }
        i += 2;
    }
    Some(o)
}

/// The checks SSCAN, HSCAN and ZSCAN start with, in Redis' order: the cursor, then the key
/// (missing: an empty scan is the reply; another type: WRONGTYPE), then the options. Returns
/// the cursor and options when the scan should go on; otherwise the reply was given.
pub fn scan_key_start(
    srv: &mut Server,
    c: &mut Client,
    key: &[u8],
    is_type: fn(&crate::types::Value) -> bool,
) -> Option<(u64, ScanOptions)> {
    let cursor = parse_scan_cursor(c, 2)?;
    match crate::commands::Kind::of(srv.lookup_read(c.db, key), is_type) {
        crate::commands::Kind::Missing => {
            reply_scan(c, 0, &[]);
            return None;
        }
        crate::commands::Kind::Other => {
            c.out.error(crate::types::WRONGTYPE);
            return None;
        }
        crate::commands::Kind::Wanted => {}
    }
    let opts = parse_scan_options(c, 3, false)?;
    Some((cursor, opts))
}

/// One SCAN-family step over a dict: visits buckets from `cursor`, `emit` pushing each
/// element's reply items (a key, a member, or a field and its value), until `count` items were
/// collected or the scan completed. At most ten buckets per requested item are visited, so a
/// sparse table can't make one call slow. Returns the next cursor.
pub fn scan_dict<K: Hash + Eq, V>(
    d: &Dict<K, V>,
    mut cursor: u64,
    count: usize,
    items: &mut Vec<Vec<u8>>,
    mut emit: impl FnMut(&K, &V, &mut Vec<Vec<u8>>),
) -> u64 {
    let mut iterations = count.saturating_mul(10);
    loop {
        cursor = d.scan(cursor, |k, v| emit(k, v, items));
        if cursor == 0 || iterations == 0 || items.len() >= count {
            return cursor;
        }
        iterations -= 1;
    }
}

/// Applies MATCH to scan items grouped by `stride` (1 for keys and members, 2 for a field and
/// its value): a group goes when its first item doesn't match.
pub fn scan_filter(items: &mut Vec<Vec<u8>>, pattern: Option<&[u8]>, stride: usize) {
    let Some(p) = pattern else {
        return;
    };
    let mut kept = Vec::with_capacity(items.len());
    let mut it = std::mem::take(items).into_iter();
    while let Some(first) = it.next() {
        let keep = crate::util::glob_match(p, &first, false);
        if keep {
            kept.push(first);
        }
        for _ in 1..stride {
            match it.next() {
                Some(x) if keep => kept.push(x),
                _ => {}
            }
        }
    }
    *items = kept;
}

/// The SCAN-family reply: the next cursor and the items.
pub fn reply_scan(c: &mut Client, cursor: u64, items: &[Vec<u8>]) {
    c.out.array(2);
    c.out.bulk(itoa::Buffer::new().format(cursor).as_bytes());
    c.out.array(items.len());
    for k in items {
        c.out.bulk(k);
    }
}

fn scan_command(srv: &mut Server, c: &mut Client) {
    let Some(cursor) = parse_scan_cursor(c, 1) else {
        return;
    };
    let Some(opts) = parse_scan_options(c, 2, true) else {
        return;
    };
    let db = c.db;
    let mut keys: Vec<Vec<u8>> = Vec::new();
    let cursor = scan_dict(
        &srv.dbs[db].dict,
        cursor,
        opts.count,
        &mut keys,
        |k, _, out| out.push(k.to_vec()),
    );
    scan_filter(&mut keys, opts.pattern.as_deref(), 1);
    keys.retain(|k| {
        if let Some(t) = &opts.type_name {
            let name = srv
                .lookup_key(db, k, lookup::NOTOUCH)
                .map_or("none", |o| o.value.type_name());
            if !t.eq_ignore_ascii_case(name.as_bytes()) {
                return false;
            }
        }
        !srv.expire_if_needed(db, k, false)
    });
    reply_scan(c, cursor, &keys);
}

fn randomkey_command(srv: &mut Server, c: &mut Client) {
    match random_key(srv, c.db) {
        Some(k) => c.out.bulk(&k),
        None => c.out.null(),
    }
}

/// A random key that is not expired (Redis' `dbRandomKey`); expired keys met on the way are
/// deleted. A replica doesn't delete expired keys, so when every key is volatile it gives up
/// after 100 tries and returns a possibly expired key rather than loop forever.
pub(crate) fn random_key(srv: &mut Server, db: usize) -> Option<Vec<u8>> {
    let all_volatile = srv.dbs[db].dict.len() == srv.dbs[db].expires.len();
    let mut tries = 100;
    loop {
        let key = fair_random_key(srv, db)?;
        if srv.dbs[db].expires.contains_key(&key[..]) {
            if all_volatile && srv.is_replica() {
                tries -= 1;
                if tries == 0 {
                    return Some(key);
                }
            }
            if srv.expire_if_needed(db, &key, false) {
                continue;
            }
        }
        return Some(key);
    }
}

/// Keys sampled per fair random pick.
const FAIR_SAMPLE: usize = 15;

/// A random key chosen among a sample of neighbouring buckets rather than from one random
/// bucket's chain (Redis' `dictGetFairRandomKey`): keys in long chains aren't under-represented.
fn fair_random_key(srv: &mut Server, db: usize) -> Option<Vec<u8>> {
    use rand::Rng;
    let dict = &srv.dbs[db].dict;
    let mut sample = Vec::with_capacity(FAIR_SAMPLE);
    dict.sample(FAIR_SAMPLE, &mut srv.rng, &mut sample);
    if sample.is_empty() {
        return dict.random_entry(&mut srv.rng).map(|(k, _)| k.to_vec());
    }
    let pick = srv.rng.gen_range(0..sample.len());
    Some(sample[pick].0.to_vec())
}

fn touch_command(srv: &mut Server, c: &mut Client) {
    let mut touched = 0;
    for i in 1..c.argv.len() {
        let key = std::mem::take(&mut c.argv[i]);
        if srv.lookup_read(c.db, &key).is_some() {
            touched += 1;
        }
        c.argv[i] = key;
    }
    c.out.int(touched);
}

#[cfg(test)]
mod tests {
    use super::parse_cursor;

    #[test]
    fn cursor_parsing_follows_strtoul() {
        assert_eq!(parse_cursor(b"0"), Some(0));
        assert_eq!(parse_cursor(b"123"), Some(123));
        assert_eq!(parse_cursor(b"+7"), Some(7));
        assert_eq!(parse_cursor(b""), Some(0));
        assert_eq!(parse_cursor(b"-1"), Some(u64::MAX));
        assert_eq!(parse_cursor(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_cursor(b"18446744073709551616"), None);
        assert_eq!(parse_cursor(b" 1"), None);
        assert_eq!(parse_cursor(b"1 "), None);
        assert_eq!(parse_cursor(b"0x10"), None);
        assert_eq!(parse_cursor(b"-"), None);
        assert_eq!(parse_cursor(b"abc"), None);
    }
}

#[cfg(test)]
mod command_tests {
    use crate::client::{flags, Client};
    use crate::server::Server;

    fn run(srv: &mut Server, c: &mut Client, args: &[&str]) -> String {
        c.argv = args.iter().map(|a| a.as_bytes().to_vec()).collect();
        srv.process_command(c);
        String::from_utf8(c.out.take_all()).unwrap()
    }

    fn setup() -> (Server, Client) {
        (
            crate::commands::test_support::test_server(),
            Client::fake(1000, 0),
        )
    }

    #[test]
    fn rename_moves_value_and_ttl_and_drops_target_ttl() {
        let (mut srv, mut c) = setup();
        run(&mut srv, &mut c, &["SET", "a", "1"]);
        run(&mut srv, &mut c, &["EXPIRE", "a", "100"]);
        run(&mut srv, &mut c, &["SET", "b", "2"]);
        run(&mut srv, &mut c, &["EXPIRE", "b", "1000"]);
        assert_eq!(run(&mut srv, &mut c, &["RENAME", "a", "b"]), "+OK\r\n");
        assert_eq!(run(&mut srv, &mut c, &["GET", "b"]), "$1\r\n1\r\n");
        let ttl = run(&mut srv, &mut c, &["TTL", "b"]);
        assert!(ttl == ":100\r\n" || ttl == ":99\r\n", "{ttl}");
        assert_eq!(run(&mut srv, &mut c, &["EXISTS", "a"]), ":0\r\n");
        assert_eq!(
            run(&mut srv, &mut c, &["RENAME", "a", "b"]),
            "-ERR no such key\r\n"
        );
        assert_eq!(run(&mut srv, &mut c, &["RENAMENX", "b", "b"]), ":0\r\n");
    }

    #[test]
    fn copy_is_independent_and_respects_replace() {
        let (mut srv, mut c) = setup();
        run(&mut srv, &mut c, &["SET", "a", "hello"]);
        assert_eq!(
            run(&mut srv, &mut c, &["COPY", "a", "b", "DB", "3"]),
            ":1\r\n"
        );
        assert_eq!(
            run(&mut srv, &mut c, &["COPY", "a", "b", "DB", "3"]),
            ":0\r\n"
        );
        assert_eq!(
            run(&mut srv, &mut c, &["COPY", "a", "b", "DB", "3", "REPLACE"]),
            ":1\r\n"
        );
        assert_eq!(
            run(&mut srv, &mut c, &["COPY", "a", "a"]),
            "-ERR source and destination objects are the same\r\n"
        );
        assert_eq!(
            run(&mut srv, &mut c, &["COPY", "a", "b", "DB", "16"]),
            "-ERR DB index is out of range\r\n"
        );
        run(&mut srv, &mut c, &["SELECT", "3"]);
        assert_eq!(run(&mut srv, &mut c, &["GET", "b"]), "$5\r\nhello\r\n");
    }

    #[test]
    fn swapdb_swaps_contents_and_fails_watchers_of_changed_keys() {
        let (mut srv, mut c) = setup();
        let mut watcher = Client::fake(2000, 0);
        run(&mut srv, &mut c, &["SET", "x", "in0"]);
        // Watches a key missing on both sides: SWAPDB must not fail it.
        run(&mut srv, &mut watcher, &["WATCH", "nothere"]);
        srv.clients.insert(watcher.id, Box::new(watcher));
        assert_eq!(run(&mut srv, &mut c, &["SWAPDB", "0", "1"]), "+OK\r\n");
        assert!(!srv.clients[&2000].has(flags::DIRTY_CAS));
        assert_eq!(run(&mut srv, &mut c, &["DBSIZE"]), ":0\r\n");
        run(&mut srv, &mut c, &["SELECT", "1"]);
        assert_eq!(run(&mut srv, &mut c, &["GET", "x"]), "$3\r\nin0\r\n");

        // A watched key of db 0 that appears there through the swap fails the watcher.
        let mut watcher = srv.clients.remove(&2000).unwrap();
        run(&mut srv, &mut watcher, &["WATCH", "x"]);
        srv.clients.insert(watcher.id, watcher);
        run(&mut srv, &mut c, &["SWAPDB", "1", "0"]);
        assert!(srv.clients[&2000].has(flags::DIRTY_CAS));
        assert_eq!(
            run(&mut srv, &mut c, &["SWAPDB", "a", "0"]),
            "-ERR invalid first DB index\r\n"
        );
        assert_eq!(
            run(&mut srv, &mut c, &["SWAPDB", "0", "a"]),
            "-ERR invalid second DB index\r\n"
        );
    }

    #[test]
    fn scan_visits_every_key_with_match_and_type() {
        let (mut srv, mut c) = setup();
        for i in 0..200 {
            run(&mut srv, &mut c, &["SET", &format!("key:{i}"), "v"]);
        }
        let mut cursor = "0".to_string();
        let mut seen = std::collections::HashSet::new();
        loop {
            c.argv = [
                "SCAN", &cursor, "MATCH", "key:1*", "COUNT", "7", "TYPE", "string",
            ]
            .iter()
            .map(|a| a.as_bytes().to_vec())
            .collect();
            srv.process_command(&mut c);
            let out = String::from_utf8(c.out.take_all()).unwrap();
            let lines: Vec<&str> = out.split("\r\n").collect();
            cursor = lines[2].to_string();
            for l in lines.iter().skip(5).step_by(2) {
                if !l.is_empty() {
                    seen.insert(l.to_string());
                }
            }
            if cursor == "0" {
                break;
            }
        }
        // key:1, key:10..19, key:100..199
        assert_eq!(seen.len(), 111);
        assert_eq!(
            run(&mut srv, &mut c, &["SCAN", "abc"]),
            "-ERR invalid cursor\r\n"
        );
        assert_eq!(
            run(&mut srv, &mut c, &["SCAN", "0", "COUNT", "0"]),
            "-ERR syntax error\r\n"
        );
    }
}
