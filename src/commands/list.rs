//! List commands (Redis 7.0's t_list.c): pushes and pops at both ends, LINSERT, LLEN, LINDEX,
//! LSET, LRANGE, LTRIM, LREM, LPOS, LMOVE/RPOPLPUSH, LMPOP, and the blocking variants BLPOP,
//! BRPOP, BLMOVE, BRPOPLPUSH and BLMPOP with their "serve a blocked client" side
//! ([`serve_blocked_client`], dispatched from `crate::blocking`).
//!
//! Replies, error texts, keyspace events and propagation follow t_list.c: a blocking command
//! that finds data runs as its non-blocking counterpart and is propagated as that (LPOP, LMOVE,
//! RPOPLPUSH, LPOP with a count for LMPOP/BLMPOP).

use crate::blocking::{BlockData, BlockState, BlockType};
use crate::client::{flags as cflags, Client};
use crate::commands::{errors, CmdProc, Kind};
use crate::config::table::notify;
use crate::server::Server;
use crate::types::listpack::Entry;
use crate::types::{ListValue, Value, WRONGTYPE};
use crate::util;

pub fn lookup(name: &str) -> Option<CmdProc> {
    Some(match name {
        "lpush" => lpush_command,
        "rpush" => rpush_command,
        "lpushx" => lpushx_command,
        "rpushx" => rpushx_command,
        "linsert" => linsert_command,
        "llen" => llen_command,
        "lindex" => lindex_command,
        "lset" => lset_command,
        "lpop" => lpop_command,
        "rpop" => rpop_command,
        "lrange" => lrange_command,
        "ltrim" => ltrim_command,
        "lpos" => lpos_command,
        "lrem" => lrem_command,
        "lmove" => lmove_command,
        "rpoplpush" => rpoplpush_command,
        "lmpop" => lmpop_command,
        "blpop" => blpop_command,
        "brpop" => brpop_command,
        "blmove" => blmove_command,
        "brpoplpush" => brpoplpush_command,
        "blmpop" => blmpop_command,
        _ => return None,
    })
}

fn read_kind(srv: &mut Server, db: usize, key: &[u8]) -> Kind {
    Kind::of(srv.lookup_read(db, key), |v| matches!(v, Value::List(_)))
}

fn write_kind(srv: &mut Server, db: usize, key: &[u8]) -> Kind {
    Kind::of(srv.lookup_write(db, key), |v| matches!(v, Value::List(_)))
}

/// The list stored at `key`, already known to exist and be a list.
fn list_ref<'a>(srv: &'a Server, db: usize, key: &[u8]) -> &'a ListValue {
    match srv.dbs[db].dict.get(key).map(|o| &o.value) {
        Some(Value::List(l)) => l,
        _ => unreachable!("checked to be a list"),
    }
}

fn list_mut<'a>(srv: &'a mut Server, db: usize, key: &[u8]) -> &'a mut ListValue {
    match srv.dbs[db].dict.get_mut(key).map(|o| &mut o.value) {
        Some(Value::List(l)) => l,
        _ => unreachable!("checked to be a list"),
    }
}

fn new_list(srv: &Server) -> ListValue {
    ListValue::new(
        srv.config.list_max_listpack_size,
        srv.config.list_compress_depth,
    )
}

fn reply_entry(c: &mut Client, e: Entry<'_>) {
    match e {
        Entry::Int(n) => c.out.bulk_i64(n),
        Entry::Str(s) => c.out.bulk(s),
    }
}

/// LEFT/RIGHT argument: true for LEFT (the head). Replies a syntax error otherwise.
fn parse_side(c: &mut Client, i: usize) -> Option<bool> {
    if util::eq_ic(&c.argv[i], "left") {
        Some(true)
    } else if util::eq_ic(&c.argv[i], "right") {
        Some(false)
    } else {
        c.out.error(errors::SYNTAX);
        None
    }
}

fn side_name(head: bool) -> &'static [u8] {
    if head {
        b"LEFT"
    } else {
        b"RIGHT"
    }
}

/// Redis' `getRangeLongFromObjectOrReply` with a message for every failure.
fn arg_range(c: &mut Client, i: usize, min: i64, msg: &str) -> Option<i64> {
    match util::parse_i64(&c.argv[i]) {
        Some(v) if v >= min => Some(v),
        _ => {
            c.out.error(msg);
            None
        }
    }
}

// ---- pushes ---------------------------------------------------------------------------------

fn push_generic(srv: &mut Server, c: &mut Client, head: bool, xx: bool) {
    let db = c.db;
    let key = std::mem::take(&mut c.argv[1]);
    match write_kind(srv, db, &key) {
        Kind::Other => {
            c.out.error(WRONGTYPE);
            c.argv[1] = key;
            return;
        }
        Kind::Missing => {
            if xx {
                c.out.int(0);
                c.argv[1] = key;
                return;
            }
            let l = new_list(srv);
            srv.db_add(db, &key, Value::List(Box::new(l)));
        }
        Kind::Wanted => {}
    }
    let l = list_mut(srv, db, &key);
    for v in &c.argv[2..] {
        l.push(v, head);
    }
    let len = l.len();
    srv.dirty += (c.argv.len() - 2) as i64;
    c.out.int(len as i64);
    srv.signal_modified_key(db, &key);
    srv.notify_keyspace_event(notify::LIST, if head { "lpush" } else { "rpush" }, &key, db);
    c.argv[1] = key;
}

fn lpush_command(srv: &mut Server, c: &mut Client) {
    push_generic(srv, c, true, false)
}

fn rpush_command(srv: &mut Server, c: &mut Client) {
    push_generic(srv, c, false, false)
}

fn lpushx_command(srv: &mut Server, c: &mut Client) {
    push_generic(srv, c, true, true)
}

fn rpushx_command(srv: &mut Server, c: &mut Client) {
    push_generic(srv, c, false, true)
}

fn linsert_command(srv: &mut Server, c: &mut Client) {
    let after = if util::eq_ic(&c.argv[2], "after") {
        true
    } else if util::eq_ic(&c.argv[2], "before") {
        false
    } else {
        c.out.error(errors::SYNTAX);
        return;
    };
    let db = c.db;
    let key = c.argv[1].clone();
    match write_kind(srv, db, &key) {
        Kind::Missing => c.out.int(0),
        Kind::Other => c.out.error(WRONGTYPE),
        Kind::Wanted => {
            let l = list_mut(srv, db, &key);
            if !l.ql_mut().insert_pivot(&c.argv[3], &c.argv[4], after) {
                c.out.int(-1);
                return;
            }
            let len = l.len();
            srv.signal_modified_key(db, &key);
            srv.notify_keyspace_event(notify::LIST, "linsert", &key, db);
            srv.dirty += 1;
            c.out.int(len as i64);
        }
    }
}

fn llen_command(srv: &mut Server, c: &mut Client) {
    let db = c.db;
    match read_kind(srv, db, &c.argv[1]) {
        Kind::Missing => c.out.int(0),
        Kind::Other => c.out.error(WRONGTYPE),
        Kind::Wanted => {
            let n = list_ref(srv, db, &c.argv[1]).len();
            c.out.int(n as i64);
        }
    }
}

fn lindex_command(srv: &mut Server, c: &mut Client) {
    let db = c.db;
    match read_kind(srv, db, &c.argv[1]) {
        Kind::Missing => c.out.null(),
        Kind::Other => c.out.error(WRONGTYPE),
        Kind::Wanted => {
            let Some(index) = crate::commands::arg_i64(c, 2) else {
                return;
            };
            match list_ref(srv, db, &c.argv[1]).ql().get(index) {
                Some(crate::types::list::Elem::Int(n)) => c.out.bulk_i64(n),
                Some(crate::types::list::Elem::Str(s)) => c.out.bulk(&s),
                None => c.out.null(),
            }
        }
    }
}

fn lset_command(srv: &mut Server, c: &mut Client) {
    let db = c.db;
    let key = c.argv[1].clone();
    match write_kind(srv, db, &key) {
        Kind::Missing => c.out.error(errors::NO_SUCH_KEY),
        Kind::Other => c.out.error(WRONGTYPE),
        Kind::Wanted => {
            let Some(index) = crate::commands::arg_i64(c, 2) else {
                return;
            };
            if !list_mut(srv, db, &key)
                .ql_mut()
                .replace_at(index, &c.argv[3])
            {
                c.out.error(errors::OUT_OF_RANGE);
                return;
            }
            c.out.ok();
            srv.signal_modified_key(db, &key);
            srv.notify_keyspace_event(notify::LIST, "lset", &key, db);
            srv.dirty += 1;
        }
    }
}

// ---- pops and ranges ------------------------------------------------------------------------

/// Replies the elements from `start` to `end` (LRANGE indexes, negative from the tail),
/// reversed when `reverse` (Redis' `addListRangeReply`).
fn reply_range(c: &mut Client, l: &ListValue, start: i64, end: i64, reverse: bool) {
    let llen = l.len() as i64;
    let mut start = if start < 0 { llen + start } else { start };
    let mut end = if end < 0 { llen + end } else { end };
    if start < 0 {
        start = 0;
    }
    if start > end || start >= llen {
        c.out.empty_array();
        return;
    }
    if end >= llen {
        end = llen - 1;
    }
    c.out.array((end - start + 1) as usize);
    l.range(start as usize, end as usize, reverse, |e| reply_entry(c, e));
}

/// After elements left a list: the pop event, deletion of an emptied key, WATCH, dirty
/// (Redis' `listElementsRemoved`). Returns true when the key was deleted.
fn elements_removed(srv: &mut Server, db: usize, key: &[u8], head: bool, count: usize) -> bool {
    srv.notify_keyspace_event(notify::LIST, if head { "lpop" } else { "rpop" }, key, db);
    let deleted = list_ref(srv, db, key).is_empty();
    if deleted {
        srv.db_delete(db, key);
        srv.notify_keyspace_event(notify::GENERIC, "del", key, db);
    }
    srv.signal_modified_key(db, key);
    srv.dirty += count as i64;
    deleted
}

/// Pops up to `count` elements replying `[key, [elements]]` (LMPOP/BLMPOP; Redis'
/// `listPopRangeAndReplyWithKey`). Returns how many were popped.
fn pop_range_reply_with_key(
    srv: &mut Server,
    c: &mut Client,
    db: usize,
    key: &[u8],
    head: bool,
    count: usize,
) -> usize {
    let l = list_ref(srv, db, key);
    let n = count.min(l.len());
    c.out.array(2);
    c.out.bulk(key);
    pop_range_reply(srv, c, db, key, head, n);
    elements_removed(srv, db, key, head, n);
    n
}

/// Replies and removes `n` (<= length) elements from one end, in pop order.
fn pop_range_reply(srv: &mut Server, c: &mut Client, db: usize, key: &[u8], head: bool, n: usize) {
    let l = list_ref(srv, db, key);
    let (start, end) = if head {
        (0, n as i64 - 1)
    } else {
        (-(n as i64), -1)
    };
    reply_range(c, l, start, end, !head);
    list_mut(srv, db, key).ql_mut().del_range(start, n as i64);
}

fn pop_generic(srv: &mut Server, c: &mut Client, head: bool) {
    if c.argv.len() > 3 {
        let name = String::from_utf8_lossy(&c.argv[0]).to_lowercase();
        c.out
            .error(&format!("wrong number of arguments for '{}' command", name));
        return;
    }
    let hascount = c.argv.len() == 3;
    let mut count = 0usize;
    if hascount {
        match util::parse_i64(&c.argv[2]) {
            Some(v) if v >= 0 => count = v as usize,
            _ => {
                c.out.error("value is out of range, must be positive");
                return;
            }
        }
    }
    let db = c.db;
    let key = std::mem::take(&mut c.argv[1]);
    match write_kind(srv, db, &key) {
        Kind::Missing => {
            if hascount {
                c.out.null_array()
            } else {
                c.out.null()
            }
        }
        Kind::Other => c.out.error(WRONGTYPE),
        Kind::Wanted => {
            if hascount && count == 0 {
                c.out.empty_array();
            } else if !hascount {
                let v = list_mut(srv, db, &key)
                    .pop(head)
                    .expect("lists are never empty");
                match v {
                    crate::types::list::Elem::Int(n) => c.out.bulk_i64(n),
                    crate::types::list::Elem::Str(s) => c.out.bulk(&s),
                }
                elements_removed(srv, db, &key, head, 1);
            } else {
                let n = count.min(list_ref(srv, db, &key).len());
                pop_range_reply(srv, c, db, &key, head, n);
                elements_removed(srv, db, &key, head, n);
            }
        }
    }
    c.argv[1] = key;
}

fn lpop_command(srv: &mut Server, c: &mut Client) {
    pop_generic(srv, c, true)
}

fn rpop_command(srv: &mut Server, c: &mut Client) {
    pop_generic(srv, c, false)
}

fn lrange_command(srv: &mut Server, c: &mut Client) {
    let Some(start) = crate::commands::arg_i64(c, 2) else {
        return;
    };
    let Some(end) = crate::commands::arg_i64(c, 3) else {
        return;
    };
    let db = c.db;
    let key = std::mem::take(&mut c.argv[1]);
    match read_kind(srv, db, &key) {
        Kind::Missing => c.out.empty_array(),
        Kind::Other => c.out.error(WRONGTYPE),
        Kind::Wanted => reply_range(c, list_ref(srv, db, &key), start, end, false),
    }
    c.argv[1] = key;
}

fn ltrim_command(srv: &mut Server, c: &mut Client) {
    let Some(mut start) = crate::commands::arg_i64(c, 2) else {
        return;
    };
    let Some(mut end) = crate::commands::arg_i64(c, 3) else {
        return;
    };
    let db = c.db;
    let key = c.argv[1].clone();
    match write_kind(srv, db, &key) {
        Kind::Missing => {
            c.out.ok();
            return;
        }
        Kind::Other => {
            c.out.error(WRONGTYPE);
            return;
        }
        Kind::Wanted => {}
    }
    let llen = list_ref(srv, db, &key).len() as i64;
    if start < 0 {
        start += llen;
    }
    if end < 0 {
        end += llen;
    }
    if start < 0 {
        start = 0;
    }
    let (ltrim, rtrim) = if start > end || start >= llen {
        (llen, 0)
    } else {
        if end >= llen {
            end = llen - 1;
        }
        (start, llen - end - 1)
    };
    {
        let ql = list_mut(srv, db, &key).ql_mut();
        ql.del_range(0, ltrim);
        ql.del_range(-rtrim, rtrim);
    }
    srv.notify_keyspace_event(notify::LIST, "ltrim", &key, db);
    if list_ref(srv, db, &key).is_empty() {
        srv.db_delete(db, &key);
        srv.notify_keyspace_event(notify::GENERIC, "del", &key, db);
    }
    srv.signal_modified_key(db, &key);
    srv.dirty += ltrim + rtrim;
    c.out.ok();
}

fn lpos_command(srv: &mut Server, c: &mut Client) {
    let mut rank: i64 = 1;
    let mut count: i64 = -1;
    let mut maxlen: i64 = 0;
    let mut j = 3;
    while j < c.argv.len() {
        let moreargs = c.argv.len() - 1 - j;
        if util::eq_ic(&c.argv[j], "rank") && moreargs > 0 {
            j += 1;
            let Some(v) = crate::commands::arg_i64(c, j) else {
                return;
            };
            if v == 0 {
                c.out.error("RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list");
                return;
            }
            rank = v;
        } else if util::eq_ic(&c.argv[j], "count") && moreargs > 0 {
            j += 1;
            let Some(v) = arg_range(c, j, 0, "COUNT can't be negative") else {
                return;
            };
            count = v;
        } else if util::eq_ic(&c.argv[j], "maxlen") && moreargs > 0 {
            j += 1;
            let Some(v) = arg_range(c, j, 0, "MAXLEN can't be negative") else {
                return;
            };
            maxlen = v;
        } else {
            c.out.error(errors::SYNTAX);
            return;
        }
        j += 1;
    }
    let forward = rank > 0;
    // `i64::MIN` can't be negated: it can't match anyway, as no list is that long.
    let rank = rank.unsigned_abs();
    let db = c.db;
    let key = c.argv[1].clone();
    match read_kind(srv, db, &key) {
        Kind::Missing => {
            if count != -1 {
                c.out.empty_array();
            } else {
                c.out.null();
            }
            return;
        }
        Kind::Other => {
            c.out.error(WRONGTYPE);
            return;
        }
        Kind::Wanted => {}
    }
    let l = list_ref(srv, db, &key);
    let llen = l.len() as i64;
    let ele = &c.argv[2];
    let mut found: Vec<i64> = Vec::new();
    let mut index: i64 = 0;
    let mut matches: u64 = 0;
    let mut single: Option<i64> = None;
    let start = if forward { 0 } else { llen as usize - 1 };
    l.ql().for_each_from(start, forward, |e| {
        if maxlen != 0 && index >= maxlen {
            return false;
        }
        if crate::types::list::quicklist::entry_eq(e, ele) {
            matches += 1;
            let pos = if forward { index } else { llen - index - 1 };
            if matches >= rank {
                if count != -1 {
                    found.push(pos);
                    if count != 0 && (matches - rank + 1) as i64 >= count {
                        return false;
                    }
                } else {
                    single = Some(pos);
                    return false;
                }
            }
        }
        index += 1;
        true
    });
    if count != -1 {
        c.out.array(found.len());
        for p in found {
            c.out.int(p);
        }
    } else {
        match single {
            Some(p) => c.out.int(p),
            None => c.out.null(),
        }
    }
}

fn lrem_command(srv: &mut Server, c: &mut Client) {
    let Some(toremove) = crate::commands::arg_i64(c, 2) else {
        return;
    };
    let db = c.db;
    let key = c.argv[1].clone();
    match write_kind(srv, db, &key) {
        Kind::Missing => {
            c.out.int(0);
            return;
        }
        Kind::Other => {
            c.out.error(WRONGTYPE);
            return;
        }
        Kind::Wanted => {}
    }
    let limit = toremove.unsigned_abs().min(usize::MAX as u64) as usize;
    let removed = list_mut(srv, db, &key)
        .ql_mut()
        .remove_matching(&c.argv[3], limit, toremove < 0);
    srv.dirty += removed as i64;
    if removed > 0 {
        srv.signal_modified_key(db, &key);
        srv.notify_keyspace_event(notify::LIST, "lrem", &key, db);
    }
    if list_ref(srv, db, &key).is_empty() {
        srv.db_delete(db, &key);
        srv.notify_keyspace_event(notify::GENERIC, "del", &key, db);
    }
    c.out.int(removed as i64);
}

// ---- moves ----------------------------------------------------------------------------------

/// Pushes a moved element to its destination, creating it when missing, and replies it
/// (Redis' `lmoveHandlePush`).
fn lmove_handle_push(
    srv: &mut Server,
    c: &mut Client,
    db: usize,
    dst: &[u8],
    dst_exists: bool,
    value: &[u8],
    head: bool,
) {
    if !dst_exists {
        let l = new_list(srv);
        srv.db_add(db, dst, Value::List(Box::new(l)));
    }
    srv.signal_modified_key(db, dst);
    list_mut(srv, db, dst).push(value, head);
    srv.notify_keyspace_event(notify::LIST, if head { "lpush" } else { "rpush" }, dst, db);
    c.out.bulk(value);
}

/// LMOVE/RPOPLPUSH on a source that exists (or not): Redis' `lmoveGenericCommand`.
fn lmove_generic(srv: &mut Server, c: &mut Client, from_head: bool, to_head: bool) {
    let db = c.db;
    let src = c.argv[1].clone();
    let dst = c.argv[2].clone();
    match write_kind(srv, db, &src) {
        Kind::Missing => {
            c.out.null();
            return;
        }
        Kind::Other => {
            c.out.error(WRONGTYPE);
            return;
        }
        Kind::Wanted => {}
    }
    let dst_kind = write_kind(srv, db, &dst);
    if dst_kind == Kind::Other {
        c.out.error(WRONGTYPE);
        return;
    }
    let value = list_mut(srv, db, &src)
        .pop(from_head)
        .expect("lists are never empty")
        .into_bytes();
    lmove_handle_push(srv, c, db, &dst, dst_kind == Kind::Wanted, &value, to_head);
    srv.notify_keyspace_event(
        notify::LIST,
        if from_head { "lpop" } else { "rpop" },
        &src,
        db,
    );
    if list_ref(srv, db, &src).is_empty() {
        srv.db_delete(db, &src);
        srv.notify_keyspace_event(notify::GENERIC, "del", &src, db);
    }
    srv.signal_modified_key(db, &src);
    srv.dirty += 1;
}

fn lmove_command(srv: &mut Server, c: &mut Client) {
    let Some(from_head) = parse_side(c, 3) else {
        return;
    };
    let Some(to_head) = parse_side(c, 4) else {
        return;
    };
    lmove_generic(srv, c, from_head, to_head);
}

fn rpoplpush_command(srv: &mut Server, c: &mut Client) {
    lmove_generic(srv, c, false, true);
}

/// LMPOP over the keys: the first non-empty list is popped (Redis' `mpopGenericCommand`).
fn mpop_generic(srv: &mut Server, c: &mut Client, keys: &[Vec<u8>], head: bool, count: usize) {
    let db = c.db;
    for key in keys {
        match write_kind(srv, db, key) {
            Kind::Missing => continue,
            Kind::Other => {
                c.out.error(WRONGTYPE);
                return;
            }
            Kind::Wanted => {}
        }
        let n = pop_range_reply_with_key(srv, c, db, key, head, count);
        c.propagate_argv = Some(vec![
            if head {
                b"LPOP".to_vec()
            } else {
                b"RPOP".to_vec()
            },
            key.clone(),
            util::i64_bytes(n as i64),
        ]);
        return;
    }
    c.out.null_array();
}

/// Parses LMPOP/BLMPOP after the numkeys position: the keys, the side and COUNT.
fn parse_mpop(c: &mut Client, numkeys_idx: usize) -> Option<(Vec<Vec<u8>>, bool, usize)> {
    let numkeys = arg_range(c, numkeys_idx, 1, "numkeys should be greater than 0")? as u64;
    let where_idx = (numkeys_idx as u64)
        .saturating_add(numkeys)
        .saturating_add(1);
    if where_idx >= c.argv.len() as u64 {
        c.out.error(errors::SYNTAX);
        return None;
    }
    let where_idx = where_idx as usize;
    let head = parse_side(c, where_idx)?;
    let mut count: i64 = -1;
    let mut j = where_idx + 1;
    while j < c.argv.len() {
        let moreargs = c.argv.len() - 1 - j;
        if count == -1 && util::eq_ic(&c.argv[j], "count") && moreargs > 0 {
            j += 1;
            count = arg_range(c, j, 1, "count should be greater than 0")?;
        } else {
            c.out.error(errors::SYNTAX);
            return None;
        }
        j += 1;
    }
    let keys = c.argv[numkeys_idx + 1..where_idx].to_vec();
    Some((keys, head, if count == -1 { 1 } else { count as usize }))
}

fn lmpop_command(srv: &mut Server, c: &mut Client) {
    let Some((keys, head, count)) = parse_mpop(c, 1) else {
        return;
    };
    mpop_generic(srv, c, &keys, head, count);
}

// ---- blocking -------------------------------------------------------------------------------

/// BLPOP/BRPOP/BLMPOP: serves at once from the first non-empty list, otherwise blocks
/// (Redis' `blockingPopGenericCommand`). `count` is None for BLPOP/BRPOP.
fn blocking_pop_generic(
    srv: &mut Server,
    c: &mut Client,
    keys: Vec<Vec<u8>>,
    head: bool,
    timeout_idx: usize,
    count: Option<usize>,
) {
    let Some(timeout) = crate::blocking::parse_timeout(c, timeout_idx, srv.now_ms()) else {
        return;
    };
    let db = c.db;
    for key in &keys {
        match write_kind(srv, db, key) {
            Kind::Missing => continue,
            Kind::Other => {
                c.out.error(WRONGTYPE);
                return;
            }
            Kind::Wanted => {}
        }
        let pop_name = if head {
            b"LPOP".to_vec()
        } else {
            b"RPOP".to_vec()
        };
        if let Some(count) = count {
            let n = pop_range_reply_with_key(srv, c, db, key, head, count);
            c.propagate_argv = Some(vec![pop_name, key.clone(), util::i64_bytes(n as i64)]);
            return;
        }
        let v = list_mut(srv, db, key)
            .pop(head)
            .expect("lists are never empty")
            .into_bytes();
        c.out.array(2);
        c.out.bulk(key);
        c.out.bulk(&v);
        elements_removed(srv, db, key, head, 1);
        c.propagate_argv = Some(vec![pop_name, key.clone()]);
        return;
    }
    // Inside MULTI or a script a command can't block: it times out at once.
    if c.has(cflags::DENY_BLOCKING) {
        c.out.null_array();
        return;
    }
    srv.block_for_keys(
        c,
        BlockType::List,
        &keys,
        timeout,
        BlockData::List {
            from_head: head,
            to_head: false,
            target: None,
            count,
            rpoplpush: false,
        },
    );
}

fn blpop_command(srv: &mut Server, c: &mut Client) {
    let n = c.argv.len();
    let keys = c.argv[1..n - 1].to_vec();
    blocking_pop_generic(srv, c, keys, true, n - 1, None);
}

fn brpop_command(srv: &mut Server, c: &mut Client) {
    let n = c.argv.len();
    let keys = c.argv[1..n - 1].to_vec();
    blocking_pop_generic(srv, c, keys, false, n - 1, None);
}

fn blmpop_command(srv: &mut Server, c: &mut Client) {
    let Some((keys, head, count)) = parse_mpop(c, 2) else {
        return;
    };
    blocking_pop_generic(srv, c, keys, head, 1, Some(count));
}

/// BLMOVE/BRPOPLPUSH: LMOVE when the source has data, otherwise blocks.
fn blmove_generic(
    srv: &mut Server,
    c: &mut Client,
    from_head: bool,
    to_head: bool,
    timeout: i64,
    rpoplpush: bool,
) {
    let db = c.db;
    match write_kind(srv, db, &c.argv[1].clone()) {
        Kind::Other => c.out.error(WRONGTYPE),
        Kind::Missing => {
            if c.has(cflags::DENY_BLOCKING) {
                c.out.null();
                return;
            }
            let keys = vec![c.argv[1].clone()];
            let target = Some(c.argv[2].clone());
            srv.block_for_keys(
                c,
                BlockType::List,
                &keys,
                timeout,
                BlockData::List {
                    from_head,
                    to_head,
                    target,
                    count: None,
                    rpoplpush,
                },
            );
        }
        Kind::Wanted => {
            let before = c.out.errors.len();
            lmove_generic(srv, c, from_head, to_head);
            if c.out.errors.len() == before {
                c.propagate_argv = Some(lmove_argv(
                    &c.argv[1], &c.argv[2], from_head, to_head, rpoplpush,
                ));
            }
        }
    }
}

fn lmove_argv(
    src: &[u8],
    dst: &[u8],
    from_head: bool,
    to_head: bool,
    rpoplpush: bool,
) -> Vec<Vec<u8>> {
    if rpoplpush {
        vec![b"RPOPLPUSH".to_vec(), src.to_vec(), dst.to_vec()]
    } else {
        vec![
            b"LMOVE".to_vec(),
            src.to_vec(),
            dst.to_vec(),
            side_name(from_head).to_vec(),
            side_name(to_head).to_vec(),
        ]
    }
}

fn blmove_command(srv: &mut Server, c: &mut Client) {
    let Some(from_head) = parse_side(c, 3) else {
        return;
    };
    let Some(to_head) = parse_side(c, 4) else {
        return;
    };
    let Some(timeout) = crate::blocking::parse_timeout(c, 5, srv.now_ms()) else {
        return;
    };
    blmove_generic(srv, c, from_head, to_head, timeout, false);
}

fn brpoplpush_command(srv: &mut Server, c: &mut Client) {
    let Some(timeout) = crate::blocking::parse_timeout(c, 3, srv.now_ms()) else {
        return;
    };
    blmove_generic(srv, c, false, true, timeout, true);
}

/// Serves a client blocked on lists from `key`, which holds a non-empty list (Redis'
/// `serveClientBlockedOnList`): the pop (or move) happens now, the reply goes to the client
/// and the operation is propagated as its non-blocking form.
pub fn serve_blocked_client(srv: &mut Server, c: &mut Client, st: &BlockState, key: &[u8]) -> bool {
    let BlockData::List {
        from_head,
        to_head,
        target,
        count,
        rpoplpush,
    } = &st.data
    else {
        return false;
    };
    let (from_head, to_head) = (*from_head, *to_head);
    let db = st.db;
    let pop_name = if from_head {
        b"LPOP".to_vec()
    } else {
        b"RPOP".to_vec()
    };
    match target {
        None => {
            if let Some(count) = count {
                let llen = list_ref(srv, db, key).len();
                srv.propagate(
                    db,
                    vec![
                        pop_name,
                        key.to_vec(),
                        util::i64_bytes((*count).min(llen) as i64),
                    ],
                );
                pop_range_reply_with_key(srv, c, db, key, from_head, *count);
                return true;
            }
            srv.propagate(db, vec![pop_name, key.to_vec()]);
            let v = list_mut(srv, db, key)
                .pop(from_head)
                .expect("served lists are not empty")
                .into_bytes();
            c.out.array(2);
            c.out.bulk(key);
            c.out.bulk(&v);
            srv.notify_keyspace_event(
                notify::LIST,
                if from_head { "lpop" } else { "rpop" },
                key,
                db,
            );
        }
        Some(dst) => {
            let dst_kind = write_kind(srv, db, dst);
            if dst_kind == Kind::Other {
                c.out.error(WRONGTYPE);
            } else {
                let v = list_mut(srv, db, key)
                    .pop(from_head)
                    .expect("served lists are not empty")
                    .into_bytes();
                lmove_handle_push(srv, c, db, dst, dst_kind == Kind::Wanted, &v, to_head);
                srv.propagate(db, lmove_argv(key, dst, from_head, to_head, *rpoplpush));
                srv.notify_keyspace_event(
                    notify::LIST,
                    if from_head { "lpop" } else { "rpop" },
                    key,
                    db,
                );
            }
        }
    }
    if srv.dbs[db]
        .dict
        .get(key)
        .is_some_and(|o| matches!(&o.value, Value::List(l) if l.is_empty()))
    {
        srv.db_delete(db, key);
        srv.notify_keyspace_event(notify::GENERIC, "del", key, db);
    }
    true
}
