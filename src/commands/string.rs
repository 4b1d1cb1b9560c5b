//! String commands: GET/SET and their variants (SETNX, SETEX, PSETEX, GETSET, GETDEL, GETEX),
//! ranges (APPEND, STRLEN, GETRANGE/SUBSTR, SETRANGE), counters (INCR family, INCRBYFLOAT),
//! multi-key MGET/MSET/MSETNX and LCS.
//!
//! Commands whose effect depends on the moment or the platform they run on (relative expires,
//! long-double arithmetic) set `Client::propagate_argv` to a deterministic equivalent, as
//! Redis rewrites their argv before propagation.

use crate::client::Client;
use crate::commands::{errors, CmdProc};
use crate::config::table::notify;
use crate::server::Server;
use crate::types::rawstr::RawStr;
use crate::types::{RStr, Value, WRONGTYPE};
use crate::util;

pub fn lookup(name: &str) -> Option<CmdProc> {
    Some(match name {
        "get" => get_command,
        "set" => set_command,
        "setnx" => setnx_command,
        "setex" => setex_command,
        "psetex" => psetex_command,
        "getex" => getex_command,
        "getdel" => getdel_command,
        "getset" => getset_command,
        "append" => append_command,
        "strlen" => strlen_command,
        "getrange" => getrange_command,
        "substr" => getrange_command,
        "setrange" => setrange_command,
        "incr" => incr_command,
        "decr" => decr_command,
        "incrby" => incrby_command,
        "decrby" => decrby_command,
        "incrbyfloat" => incrbyfloat_command,
        "mget" => mget_command,
        "mset" => mset_command,
        "msetnx" => msetnx_command,
        "lcs" => lcs_command,
        _ => return None,
    })
}

/// Refuses a string that would grow past `proto-max-bulk-len` (or overflow), as Redis does for
/// APPEND and SETRANGE. The master link is trusted: it only replays what was accepted there.
pub fn check_string_length(srv: &Server, c: &mut Client, size: i64, append: i64) -> bool {
    if c.must_obey() {
        return true;
    }
    let total = (size as u64).wrapping_add(append as u64) as i64;
    if total > srv.config.proto_max_bulk_len || total < size || total < append {
        c.out
            .error("string exceeds maximum allowed size (proto-max-bulk-len)");
        return false;
    }
    true
}

/// Replies the string value of a key: bulk, null, or WRONGTYPE. Returns false on WRONGTYPE
/// (Redis' `getGenericCommand`).
fn reply_string_of(srv: &mut Server, c: &mut Client, key: &[u8]) -> bool {
    match srv.lookup_read(c.db, key) {
        None => {
            c.out.null();
            true
        }
        Some(o) => match &o.value {
            Value::Str(s) => {
                s.with_bytes(|b| c.out.bulk(b));
                true
            }
            _ => {
                c.out.error(WRONGTYPE);
                false
            }
        },
    }
}

fn get_command(srv: &mut Server, c: &mut Client) {
    let key = std::mem::take(&mut c.argv[1]);
    reply_string_of(srv, c, &key);
    c.argv[1] = key;
}

/// Option flags shared by SET and GETEX (Redis' `OBJ_*` set flags).
mod opt {
    pub const NX: u32 = 1 << 0;
    pub const XX: u32 = 1 << 1;
    pub const EX: u32 = 1 << 2;
    pub const PX: u32 = 1 << 3;
    pub const KEEPTTL: u32 = 1 << 4;
    pub const GET: u32 = 1 << 5;
    pub const EXAT: u32 = 1 << 6;
    pub const PXAT: u32 = 1 << 7;
    pub const PERSIST: u32 = 1 << 8;
    pub const ANY_EXPIRE: u32 = EX | PX | EXAT | PXAT;
}

/// Parsed options: the flags and the argument index of the expire value, if any.
struct ExtArgs {
    flags: u32,
    expire_arg: Option<usize>,
}

/// Parses SET's (from argument 3) or GETEX's (from argument 2) options. Each expire form
/// excludes the other forms, KEEPTTL and PERSIST, but repeating the same option is accepted
/// (the last value wins), exactly as Redis parses them.
fn parse_extended_args(c: &mut Client, for_set: bool) -> Option<ExtArgs> {
    let mut flags = 0u32;
    let mut expire_arg = None;
    let mut j = if for_set { 3 } else { 2 };
    while j < c.argv.len() {
        let a = c.argv[j].to_ascii_uppercase();
        let has_next = j + 1 < c.argv.len();
        let expire_kind = match a.as_slice() {
            b"EX" => Some(opt::EX),
            b"PX" => Some(opt::PX),
            b"EXAT" => Some(opt::EXAT),
            b"PXAT" => Some(opt::PXAT),
            _ => None,
        };
        if let Some(kind) = expire_kind {
            let excluded = opt::KEEPTTL | opt::PERSIST | (opt::ANY_EXPIRE & !kind);
            if flags & excluded == 0 && has_next {
                flags |= kind;
                expire_arg = Some(j + 1);
                j += 2;
                continue;
            }
        } else {
            let accepted = match a.as_slice() {
                b"NX" => for_set && flags & opt::XX == 0,
                b"XX" => for_set && flags & opt::NX == 0,
                b"GET" => for_set,
                b"KEEPTTL" => for_set && flags & (opt::PERSIST | opt::ANY_EXPIRE) == 0,
                b"PERSIST" => !for_set && flags & (opt::KEEPTTL | opt::ANY_EXPIRE) == 0,
                _ => false,
            };
            if accepted {
                flags |= match a.as_slice() {
                    b"NX" => opt::NX,
                    b"XX" => opt::XX,
                    b"GET" => opt::GET,
                    b"KEEPTTL" => opt::KEEPTTL,
                    _ => opt::PERSIST,
                };
                j += 1;
                continue;
            }
        }
        c.out.error(errors::SYNTAX);
        return None;
    }
    Some(ExtArgs { flags, expire_arg })
}

/// Converts the expire argument to an absolute unix time in ms, replying the error on failure
/// (Redis' `getExpireMillisecondsOrReply`). `flags` tells the unit (EX/EXAT: seconds) and
/// whether the value is relative (EX/PX).
fn expire_ms_or_reply(
    srv: &Server,
    c: &mut Client,
    arg: usize,
    flags: u32,
    cmd: &str,
) -> Option<i64> {
    let Some(mut ms) = util::parse_i64(&c.argv[arg]) else {
        c.out.error(errors::NOT_INTEGER);
        return None;
    };
    let seconds = flags & (opt::EX | opt::EXAT) != 0;
    let invalid = |c: &mut Client| {
        c.out
            .error(&format!("invalid expire time in '{}' command", cmd))
    };
    if ms <= 0 || (seconds && ms > i64::MAX / 1000) {
        invalid(c);
        return None;
    }
    if seconds {
        ms *= 1000;
    }
    if flags & (opt::EX | opt::PX) != 0 {
        ms = ms.wrapping_add(srv.now_ms());
    }
    if ms <= 0 {
        // The relative form overflowed.
        invalid(c);
        return None;
    }
    Some(ms)
}

/// Which replies a SET variant uses for "done" and "not done because of NX/XX".
#[derive(Clone, Copy, PartialEq)]
enum SetReplies {
    /// +OK / null (SET, SETEX, PSETEX).
    OkNull,
    /// 1 / 0 (SETNX).
    OneZero,
}

/// The common body of SET, SETNX, SETEX and PSETEX (Redis' `setGenericCommand`).
fn set_generic(
    srv: &mut Server,
    c: &mut Client,
    flags: u32,
    val_idx: usize,
    expire_arg: Option<usize>,
    replies: SetReplies,
    cmd: &str,
) {
    let when = match expire_arg {
        Some(arg) => match expire_ms_or_reply(srv, c, arg, flags, cmd) {
            Some(w) => Some(w),
            None => return,
        },
        None => None,
    };
    let key = c.argv[1].clone();
    if flags & opt::GET != 0 {
        if !reply_string_of(srv, c, &key) {
            return;
        }
        // The old value is replied before the events of the write.
        srv.flush_self_pushes(c);
    }
    let found = srv.lookup_write(c.db, &key).is_some();
    if (flags & opt::NX != 0 && found) || (flags & opt::XX != 0 && !found) {
        if flags & opt::GET == 0 {
            match replies {
                SetReplies::OkNull => c.out.null(),
                SetReplies::OneZero => c.out.int(0),
            }
        }
        return;
    }
    let value = Value::Str(RStr::from_bytes(c.argv[val_idx].clone()));
    srv.set_key(c.db, &key, value, flags & opt::KEEPTTL != 0);
    srv.dirty += 1;
    srv.notify_keyspace_event(notify::STRING, "set", &key, c.db);
    if let Some(w) = when {
        srv.set_expire(c.db, &key, w);
        // Replicas and the AOF get the absolute form, so a late replay keeps the same deadline.
        c.propagate_argv = Some(vec![
            b"SET".to_vec(),
            key.clone(),
            c.argv[val_idx].clone(),
            b"PXAT".to_vec(),
            util::i64_bytes(w),
        ]);
        srv.notify_keyspace_event(notify::GENERIC, "expire", &key, c.db);
    }
    if flags & opt::GET == 0 {
        match replies {
            SetReplies::OkNull => c.out.ok(),
            SetReplies::OneZero => c.out.int(1),
        }
    }
    if flags & opt::GET != 0 && when.is_none() {
        // GET only shapes the reply: propagate the SET without it.
        let argv = c
            .argv
            .iter()
            .enumerate()
            .filter(|(j, a)| *j < 3 || !a.eq_ignore_ascii_case(b"GET"))
            .map(|(_, a)| a.clone())
            .collect();
        c.propagate_argv = Some(argv);
    }
}

fn set_command(srv: &mut Server, c: &mut Client) {
    let Some(o) = parse_extended_args(c, true) else {
        return;
    };
    set_generic(srv, c, o.flags, 2, o.expire_arg, SetReplies::OkNull, "set");
}

fn setnx_command(srv: &mut Server, c: &mut Client) {
    set_generic(srv, c, opt::NX, 2, None, SetReplies::OneZero, "setnx");
}

fn setex_command(srv: &mut Server, c: &mut Client) {
    set_generic(srv, c, opt::EX, 3, Some(2), SetReplies::OkNull, "setex");
}

fn psetex_command(srv: &mut Server, c: &mut Client) {
    set_generic(srv, c, opt::PX, 3, Some(2), SetReplies::OkNull, "psetex");
}

fn getex_command(srv: &mut Server, c: &mut Client) {
    let Some(o) = parse_extended_args(c, false) else {
        return;
    };
    let key = c.argv[1].clone();
    match srv.lookup_read(c.db, &key) {
        None => {
            c.out.null();
            return;
        }
        Some(obj) if !matches!(obj.value, Value::Str(_)) => {
            c.out.error(WRONGTYPE);
            return;
        }
        Some(_) => {}
    }
    let when = match o.expire_arg {
        Some(arg) => match expire_ms_or_reply(srv, c, arg, o.flags, "getex") {
            Some(w) => Some(w),
            None => return,
        },
        None => None,
    };
    // The reply is taken before the key may be deleted or its expire changed (a direct read:
    // the lookup above already counted the hit).
    if let Some(obj) = srv.dbs[c.db].dict.get(&key[..]) {
        #[allow(irrefutable_let_patterns)]
        if let Value::Str(s) = &obj.value {
            s.with_bytes(|b| c.out.bulk(b));
        }
    }
    // The value is replied before the events of the TTL change.
    srv.flush_self_pushes(c);
    let absolute = o.flags & (opt::EXAT | opt::PXAT) != 0;
    match when {
        Some(w) if absolute && w <= srv.now_ms() && !srv.loading && !srv.is_replica() => {
            // A deadline already in the past deletes the key right away.
            srv.db_delete(c.db, &key);
            let lazy = srv.config.lazyfree_lazy_expire;
            let cmd: &[u8] = if lazy { b"UNLINK" } else { b"DEL" };
            c.propagate_argv = Some(vec![cmd.to_vec(), key.clone()]);
            srv.signal_modified_key(c.db, &key);
            srv.notify_keyspace_event(notify::GENERIC, "del", &key, c.db);
            srv.dirty += 1;
        }
        Some(w) => {
            srv.set_expire(c.db, &key, w);
            c.propagate_argv = Some(vec![b"PEXPIREAT".to_vec(), key.clone(), util::i64_bytes(w)]);
            srv.signal_modified_key(c.db, &key);
            srv.notify_keyspace_event(notify::GENERIC, "expire", &key, c.db);
            srv.dirty += 1;
        }
        None if o.flags & opt::PERSIST != 0 && srv.remove_expire(c.db, &key) => {
            srv.signal_modified_key(c.db, &key);
            c.propagate_argv = Some(vec![b"PERSIST".to_vec(), key.clone()]);
            srv.notify_keyspace_event(notify::GENERIC, "persist", &key, c.db);
            srv.dirty += 1;
        }
        None => {}
    }
}

fn getdel_command(srv: &mut Server, c: &mut Client) {
    let key = c.argv[1].clone();
    if !reply_string_of(srv, c, &key) {
        return;
    }
    // The value is replied before the `del` event.
    srv.flush_self_pushes(c);
    if srv.db_delete(c.db, &key) {
        let lazy = srv.config.lazyfree_lazy_user_del;
        let cmd: &[u8] = if lazy { b"UNLINK" } else { b"DEL" };
        c.propagate_argv = Some(vec![cmd.to_vec(), key.clone()]);
        srv.signal_modified_key(c.db, &key);
        srv.notify_keyspace_event(notify::GENERIC, "del", &key, c.db);
        srv.dirty += 1;
    }
}

fn getset_command(srv: &mut Server, c: &mut Client) {
    let key = c.argv[1].clone();
    if !reply_string_of(srv, c, &key) {
        return;
    }
    // The old value is replied before the `set` event.
    srv.flush_self_pushes(c);
    let val = c.argv[2].clone();
    srv.set_key(c.db, &key, Value::Str(RStr::from_bytes(val.clone())), false);
    srv.notify_keyspace_event(notify::STRING, "set", &key, c.db);
    srv.dirty += 1;
    c.propagate_argv = Some(vec![b"SET".to_vec(), key, val]);
}

/// Looks a key up for a string write. `Ok(None)` when missing, `Err` (already replied) when it
/// holds another type.
fn string_len_for_write(srv: &mut Server, c: &mut Client, key: &[u8]) -> Result<Option<i64>, ()> {
    match srv.lookup_write(c.db, key) {
        None => Ok(None),
        Some(o) => match &o.value {
            Value::Str(s) => Ok(Some(s.len() as i64)),
            _ => {
                c.out.error(WRONGTYPE);
                Err(())
            }
        },
    }
}

/// The `raw` buffer of an existing string key, converting it first (Redis'
/// `dbUnshareStringValue`). The caller has checked that the key holds a string.
fn raw_buffer<'a>(srv: &'a mut Server, db: usize, key: &[u8]) -> &'a mut RawStr {
    let obj = srv.dbs[db]
        .dict
        .get_mut(key)
        .expect("string key looked up by the caller");
    match &mut obj.value {
        Value::Str(s) => s.make_raw(),
        _ => unreachable!("type checked by the caller"),
    }
}

fn append_command(srv: &mut Server, c: &mut Client) {
    let key = c.argv[1].clone();
    let Ok(existing) = string_len_for_write(srv, c, &key) else {
        return;
    };
    let total = match existing {
        None => {
            let val = RStr::from_bytes(c.argv[2].clone());
            let len = val.len();
            srv.db_add(c.db, &key, Value::Str(val));
            len
        }
        Some(len) => {
            if !check_string_length(srv, c, len, c.argv[2].len() as i64) {
                return;
            }
            let buf = raw_buffer(srv, c.db, &key);
            buf.extend_from_slice(&c.argv[2]);
            buf.len()
        }
    };
    srv.signal_modified_key(c.db, &key);
    srv.notify_keyspace_event(notify::STRING, "append", &key, c.db);
    srv.dirty += 1;
    c.out.int(total as i64);
}

fn strlen_command(srv: &mut Server, c: &mut Client) {
    let key = std::mem::take(&mut c.argv[1]);
    match srv.lookup_read(c.db, &key) {
        None => c.out.int(0),
        Some(o) => match &o.value {
            Value::Str(s) => c.out.int(s.len() as i64),
            _ => c.out.error(WRONGTYPE),
        },
    }
    c.argv[1] = key;
}

/// The byte range GETRANGE returns for a string of `len` bytes, or None when empty.
fn getrange_bounds(mut start: i64, mut end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    if start < 0 && end < 0 && start > end {
        return None;
    }
    if start < 0 {
        start += len;
    }
    if end < 0 {
        end += len;
    }
    start = start.max(0);
    end = end.max(0);
    if end >= len {
        end = len - 1;
    }
    if start > end || len == 0 {
        return None;
    }
    Some((start as usize, end as usize))
}

fn getrange_command(srv: &mut Server, c: &mut Client) {
    let Some(start) = crate::commands::arg_i64(c, 2) else {
        return;
    };
    let Some(end) = crate::commands::arg_i64(c, 3) else {
        return;
    };
    let key = std::mem::take(&mut c.argv[1]);
    match srv.lookup_read(c.db, &key) {
        None => c.out.bulk(b""),
        Some(o) => match &o.value {
            Value::Str(s) => s.with_bytes(|b| match getrange_bounds(start, end, b.len()) {
                Some((from, to)) => c.out.bulk(&b[from..=to]),
                None => c.out.bulk(b""),
            }),
            _ => c.out.error(WRONGTYPE),
        },
    }
    c.argv[1] = key;
}

fn setrange_command(srv: &mut Server, c: &mut Client) {
    let Some(offset) = crate::commands::arg_i64(c, 2) else {
        return;
    };
    if offset < 0 {
        c.out.error("offset is out of range");
        return;
    }
    let key = c.argv[1].clone();
    let vlen = c.argv[3].len() as i64;
    let Ok(existing) = string_len_for_write(srv, c, &key) else {
        return;
    };
    match existing {
        None => {
            // Setting nothing on a missing key creates nothing.
            if vlen == 0 {
                c.out.int(0);
                return;
            }
            if !check_string_length(srv, c, offset, vlen) {
                return;
            }
            // Created at its exact size (zero-filled up to the offset), as Redis does; only
            // growing an existing string reserves room ahead.
            let size = offset as usize + vlen as usize;
            srv.db_add(c.db, &key, Value::Str(RStr::raw(vec![0; size])));
        }
        Some(len) => {
            // Setting nothing leaves the value (and its encoding) alone.
            if vlen == 0 {
                c.out.int(len);
                return;
            }
            if !check_string_length(srv, c, offset, vlen) {
                return;
            }
        }
    }
    let buf = raw_buffer(srv, c.db, &key);
    let off = offset as usize;
    let end = off + vlen as usize;
    if buf.len() < end {
        buf.resize(end, 0);
    }
    buf[off..end].copy_from_slice(&c.argv[3]);
    let total = buf.len();
    srv.signal_modified_key(c.db, &key);
    srv.notify_keyspace_event(notify::STRING, "setrange", &key, c.db);
    srv.dirty += 1;
    c.out.int(total as i64);
}

fn incr_generic(srv: &mut Server, c: &mut Client, by: i64) {
    let key = std::mem::take(&mut c.argv[1]);
    incr_key(srv, c, &key, by);
    c.argv[1] = key;
}

fn incr_key(srv: &mut Server, c: &mut Client, key: &[u8], by: i64) {
    // One lookup: an existing value is replaced inside its entry, which keeps the access clock
    // the write lookup just refreshed — the same clock Redis ends up with whether it edits the
    // object in place or swaps in a new one (`dbOverwrite`: fresh clock, or the old one under
    // LFU).
    let new = match srv.lookup_write(c.db, key) {
        Some(o) => {
            let current = match &o.value {
                Value::Str(s) => match s.as_i64() {
                    Some(v) => v,
                    None => return c.out.error(errors::NOT_INTEGER),
                },
                _ => return c.out.error(WRONGTYPE),
            };
            let Some(new) = current.checked_add(by) else {
                return c.out.error("increment or decrement would overflow");
            };
            o.value = Value::Str(RStr::Int(new));
            new
        }
        None => {
            srv.db_add(c.db, key, Value::Str(RStr::Int(by)));
            by
        }
    };
    srv.signal_modified_key(c.db, key);
    srv.notify_keyspace_event(notify::STRING, "incrby", key, c.db);
    srv.dirty += 1;
    c.out.int(new);
}

fn incr_command(srv: &mut Server, c: &mut Client) {
    incr_generic(srv, c, 1)
}

fn decr_command(srv: &mut Server, c: &mut Client) {
    incr_generic(srv, c, -1)
}

fn incrby_command(srv: &mut Server, c: &mut Client) {
    let Some(by) = crate::commands::arg_i64(c, 2) else {
        return;
    };
    incr_generic(srv, c, by)
}

fn decrby_command(srv: &mut Server, c: &mut Client) {
    let Some(by) = crate::commands::arg_i64(c, 2) else {
        return;
    };
    if by == i64::MIN {
        c.out.error("decrement would overflow");
        return;
    }
    incr_generic(srv, c, -by)
}

fn incrbyfloat_command(srv: &mut Server, c: &mut Client) {
    let key = c.argv[1].clone();
    let base = match srv.lookup_write(c.db, &key) {
        None => None,
        Some(o) => match &o.value {
            Value::Str(s) => Some(s.to_vec()),
            _ => {
                c.out.error(WRONGTYPE);
                return;
            }
        },
    };
    let result = match util::long_double_add(base.as_deref(), &c.argv[2]) {
        Ok(r) => r,
        Err(util::LongDoubleError::NotANumber) => {
            c.out.error(errors::NOT_FLOAT);
            return;
        }
        Err(util::LongDoubleError::NanOrInfinity) => {
            c.out.error("increment would produce NaN or Infinity");
            return;
        }
    };
    // The result is stored as typed text, never as an integer, and keeps the key's TTL (and
    // the access clock the lookup refreshed, as for INCR).
    let value = Value::Str(RStr::plain(&result));
    match srv.dbs[c.db].dict.get_mut(&key[..]) {
        Some(o) => o.value = value,
        None => srv.db_add(c.db, &key, value),
    }
    srv.signal_modified_key(c.db, &key);
    srv.notify_keyspace_event(notify::STRING, "incrbyfloat", &key, c.db);
    srv.dirty += 1;
    c.out.bulk(&result);
    // Replay the final value, so float formatting differences can't make copies diverge.
    c.propagate_argv = Some(vec![b"SET".to_vec(), key, result, b"KEEPTTL".to_vec()]);
}

fn mget_command(srv: &mut Server, c: &mut Client) {
    c.out.array(c.argv.len() - 1);
    for i in 1..c.argv.len() {
        // A missing key's `keymiss` event lands between the elements already replied and
        // this one, as in Redis.
        srv.flush_self_pushes(c);
        let key = std::mem::take(&mut c.argv[i]);
        match srv.lookup_read(c.db, &key) {
            Some(o) => match &o.value {
                Value::Str(s) => s.with_bytes(|b| c.out.bulk(b)),
                _ => c.out.null(),
            },
            None => c.out.null(),
        }
        c.argv[i] = key;
    }
}

fn mset_generic(srv: &mut Server, c: &mut Client, nx: bool) {
    if c.argv.len().is_multiple_of(2) {
        let name = if nx { "msetnx" } else { "mset" };
        c.out
            .error(&format!("wrong number of arguments for '{}' command", name));
        return;
    }
    if nx {
        for i in (1..c.argv.len()).step_by(2) {
            let key = std::mem::take(&mut c.argv[i]);
            let exists = srv.lookup_write(c.db, &key).is_some();
            c.argv[i] = key;
            if exists {
                c.out.int(0);
                return;
            }
        }
    }
    for i in (1..c.argv.len()).step_by(2) {
        let key = c.argv[i].clone();
        let val = RStr::from_bytes(c.argv[i + 1].clone());
        srv.set_key(c.db, &key, Value::Str(val), false);
        srv.notify_keyspace_event(notify::STRING, "set", &key, c.db);
    }
    srv.dirty += ((c.argv.len() - 1) / 2) as i64;
    if nx {
        c.out.int(1);
    } else {
        c.out.ok();
    }
}

fn mset_command(srv: &mut Server, c: &mut Client) {
    mset_generic(srv, c, false)
}

fn msetnx_command(srv: &mut Server, c: &mut Client) {
    mset_generic(srv, c, true)
}

/// One run of the LCS in both strings: inclusive ranges in `a` and `b`.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub struct LcsMatch {
    pub a: (u32, u32),
    pub b: (u32, u32),
}

impl LcsMatch {
    /// Length of the run (never zero).
    pub fn run_len(&self) -> u32 {
        self.a.1 - self.a.0 + 1
    }
}

/// The result of the LCS walk: the subsequence, its length and the matching runs (from the
/// end of the strings backwards, as Redis reports them).
#[derive(Debug, Default)]
pub struct LcsResult {
    pub len: u32,
    pub lcs: Vec<u8>,
    pub matches: Vec<LcsMatch>,
}

/// Longest common subsequence by the classic dynamic programming table, then a walk back from
/// the end that collects the subsequence and its contiguous runs. On ties the walk steps back
/// in `b`, as Redis does, so IDX reports the same ranges.
pub fn lcs(a: &[u8], b: &[u8], want_string: bool) -> LcsResult {
    let alen = a.len();
    let blen = b.len();
    let w = blen + 1;
    let mut t = vec![0u32; (alen + 1) * w];
    for i in 1..=alen {
        for j in 1..=blen {
            t[i * w + j] = if a[i - 1] == b[j - 1] {
                t[(i - 1) * w + j - 1] + 1
            } else {
                t[(i - 1) * w + j].max(t[i * w + j - 1])
            };
        }
    }
    let total = t[alen * w + blen];
    let mut res = LcsResult {
        len: total,
        ..Default::default()
    };
    if !want_string {
        return res;
    }
    res.lcs = vec![0u8; total as usize];
    let mut idx = total as usize;
    // The run being extended backwards, if any.
    let mut run: Option<LcsMatch> = None;
    let (mut i, mut j) = (alen, blen);
    while i > 0 && j > 0 {
        let mut emit = false;
        if a[i - 1] == b[j - 1] {
            res.lcs[idx - 1] = a[i - 1];
            let (ai, bj) = ((i - 1) as u32, (j - 1) as u32);
            match &mut run {
                None => {
                    run = Some(LcsMatch {
                        a: (ai, ai),
                        b: (bj, bj),
                    })
                }
                Some(r) if r.a.0 == ai + 1 && r.b.0 == bj + 1 => {
                    r.a.0 = ai;
                    r.b.0 = bj;
                }
                Some(_) => emit = true,
            }
            if let Some(r) = &run {
                if r.a.0 == 0 || r.b.0 == 0 {
                    emit = true;
                }
            }
            idx -= 1;
            i -= 1;
            j -= 1;
        } else {
            if t[(i - 1) * w + j] > t[i * w + j - 1] {
                i -= 1;
            } else {
                j -= 1;
            }
            if run.is_some() {
                emit = true;
            }
        }
        if emit {
            if let Some(r) = run.take() {
                res.matches.push(r);
            }
        }
    }
    res
}

fn lcs_command(srv: &mut Server, c: &mut Client) {
    // Both keys are looked up (and counted) before either type is checked.
    let mut found: [Option<Option<Vec<u8>>>; 2] = [None, None];
    for (n, slot) in found.iter_mut().enumerate() {
        let key = std::mem::take(&mut c.argv[n + 1]);
        *slot = srv.lookup_read(c.db, &key).map(|o| match &o.value {
            Value::Str(v) => Some(v.to_vec()),
            _ => None,
        });
        c.argv[n + 1] = key;
    }
    if found.iter().any(|f| matches!(f, Some(None))) {
        c.out.error("The specified keys must contain string values");
        return;
    }
    let strings = found.map(|f| f.flatten().unwrap_or_default());
    let (mut getlen, mut getidx, mut withmatchlen) = (false, false, false);
    let mut minmatchlen: i64 = 0;
    let mut j = 3;
    while j < c.argv.len() {
        let a = c.argv[j].to_ascii_uppercase();
        let more = j + 1 < c.argv.len();
        match a.as_slice() {
            b"IDX" => getidx = true,
            b"LEN" => getlen = true,
            b"WITHMATCHLEN" => withmatchlen = true,
            b"MINMATCHLEN" if more => {
                let Some(v) = crate::commands::arg_i64(c, j + 1) else {
                    return;
                };
                minmatchlen = v.max(0);
                j += 1;
            }
            _ => {
                c.out.error(errors::SYNTAX);
                return;
            }
        }
        j += 1;
    }
    if getlen && getidx {
        c.out
            .error("If you want both the length and indexes, please just use IDX.");
        return;
    }
    let [a, b] = strings;
    if a.len() as u64 >= u32::MAX as u64 - 1 || b.len() as u64 >= u32::MAX as u64 - 1 {
        c.out.error("String too long for LCS");
        return;
    }
    let table_bytes = (a.len() as u64 + 1) * (b.len() as u64 + 1) * 4;
    if table_bytes > srv.config.proto_max_bulk_len as u64 {
        c.out
            .error("Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len");
        return;
    }
    let r = lcs(&a, &b, getidx || !getlen);
    if getidx {
        c.out.map(2);
        c.out.bulk(b"matches");
        let shown: Vec<&LcsMatch> = r
            .matches
            .iter()
            .filter(|m| minmatchlen == 0 || m.run_len() as i64 >= minmatchlen)
            .collect();
        c.out.array(shown.len());
        for m in shown {
            c.out.array(2 + withmatchlen as usize);
            c.out.array(2);
            c.out.int(m.a.0 as i64);
            c.out.int(m.a.1 as i64);
            c.out.array(2);
            c.out.int(m.b.0 as i64);
            c.out.int(m.b.1 as i64);
            if withmatchlen {
                c.out.int(m.run_len() as i64);
            }
        }
        c.out.bulk(b"len");
        c.out.int(r.len as i64);
    } else if getlen {
        c.out.int(r.len as i64);
    } else {
        c.out.bulk(&r.lcs);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::test_support::{encoding, run, setup};

    fn strs(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn incrbyfloat_replies_bulk_and_propagates_set_keepttl() {
        let (mut srv, mut c) = setup();
        run(&mut srv, &mut c, &["SET", "k", "1.5"]);
        let (reply, prop) = run(&mut srv, &mut c, &["INCRBYFLOAT", "k", "1.5"]);
        assert_eq!(reply, b"$1\r\n3\r\n");
        assert_eq!(prop, vec![strs(&["SET", "k", "3", "KEEPTTL"])]);
        // Stored as typed text, not as an integer.
        assert_eq!(encoding(&srv, "k"), "embstr");
        c.out.resp = 3;
        let (reply, _) = run(&mut srv, &mut c, &["INCRBYFLOAT", "k", "0.25"]);
        assert_eq!(reply, b"$4\r\n3.25\r\n");
    }

    #[test]
    fn relative_expires_propagate_as_absolute() {
        let (mut srv, mut c) = setup();
        let before = util::mstime();
        let (_, prop) = run(&mut srv, &mut c, &["SET", "k", "v", "EX", "100"]);
        assert_eq!(prop.len(), 1);
        assert_eq!(prop[0][..4], strs(&["SET", "k", "v", "PXAT"]));
        let at: i64 = prop[0][4].parse().unwrap();
        assert!(at >= before + 100_000 - 1000 && at <= util::mstime() + 100_000);

        let (_, prop) = run(&mut srv, &mut c, &["SETEX", "k", "10", "w"]);
        assert_eq!(prop[0][..4], strs(&["SET", "k", "w", "PXAT"]));

        let (_, prop) = run(&mut srv, &mut c, &["GETEX", "k", "PX", "5000"]);
        assert_eq!(prop[0][..2], strs(&["PEXPIREAT", "k"]));
        let (_, prop) = run(&mut srv, &mut c, &["GETEX", "k", "PERSIST"]);
        assert_eq!(prop, vec![strs(&["PERSIST", "k"])]);
        // Nothing to persist any more, and no options: nothing propagated.
        let (_, prop) = run(&mut srv, &mut c, &["GETEX", "k", "PERSIST"]);
        assert!(prop.is_empty());
        let (reply, prop) = run(&mut srv, &mut c, &["GETEX", "k"]);
        assert_eq!(reply, b"$1\r\nw\r\n");
        assert!(prop.is_empty());
        // An absolute time in the past deletes the key.
        let (reply, prop) = run(&mut srv, &mut c, &["GETEX", "k", "PXAT", "1"]);
        assert_eq!(reply, b"$1\r\nw\r\n");
        assert_eq!(prop, vec![strs(&["DEL", "k"])]);
        assert!(srv.dbs[0].dict.get(&b"k"[..]).is_none());
    }

    #[test]
    fn set_get_getset_getdel_propagation() {
        let (mut srv, mut c) = setup();
        let (reply, prop) = run(&mut srv, &mut c, &["SET", "k", "v", "get", "NX", "GET"]);
        assert_eq!(reply, b"$-1\r\n");
        assert_eq!(prop, vec![strs(&["SET", "k", "v", "NX"])]);
        let (reply, prop) = run(&mut srv, &mut c, &["GETSET", "k", "w"]);
        assert_eq!(reply, b"$1\r\nv\r\n");
        assert_eq!(prop, vec![strs(&["SET", "k", "w"])]);
        let (_, prop) = run(&mut srv, &mut c, &["GETDEL", "k"]);
        assert_eq!(prop, vec![strs(&["DEL", "k"])]);
        let (reply, prop) = run(&mut srv, &mut c, &["GETDEL", "k"]);
        assert_eq!(reply, b"$-1\r\n");
        assert!(prop.is_empty());
        // NX on an existing key: nothing written, nothing propagated.
        run(&mut srv, &mut c, &["SET", "k", "v"]);
        let (reply, prop) = run(&mut srv, &mut c, &["SET", "k", "x", "NX"]);
        assert_eq!(reply, b"$-1\r\n");
        assert!(prop.is_empty());
    }

    #[test]
    fn set_option_conflicts_and_expire_errors() {
        let (mut srv, mut c) = setup();
        let err = b"-ERR syntax error\r\n".to_vec();
        for args in [
            &["SET", "k", "v", "NX", "XX"][..],
            &["SET", "k", "v", "EX", "10", "PX", "10"],
            &["SET", "k", "v", "KEEPTTL", "EX", "10"],
            &["SET", "k", "v", "EX"],
            &["SET", "k", "v", "PERSIST"],
            &["GETEX", "k", "PERSIST", "EX", "1"],
            &["GETEX", "k", "KEEPTTL"],
        ] {
            assert_eq!(run(&mut srv, &mut c, args).0, err, "{:?}", args);
        }
        // Repeating the same expire option is accepted: the last one wins.
        assert_eq!(
            run(&mut srv, &mut c, &["SET", "k", "v", "EX", "1", "EX", "20"]).0,
            b"+OK\r\n"
        );
        for (args, name) in [
            (&["SET", "k", "v", "EX", "0"][..], "set"),
            (&["SET", "k", "v", "EX", "9223372036854776"], "set"),
            (&["SET", "k", "v", "PX", "9223372036854775807"], "set"),
            (&["SETEX", "k", "-1", "v"], "setex"),
            (&["PSETEX", "k", "0", "v"], "psetex"),
            (&["GETEX", "k", "EXAT", "0"], "getex"),
        ] {
            let want = format!("-ERR invalid expire time in '{}' command\r\n", name);
            assert_eq!(run(&mut srv, &mut c, args).0, want.as_bytes(), "{:?}", args);
        }
    }

    #[test]
    fn encodings_after_writes() {
        let (mut srv, mut c) = setup();
        run(&mut srv, &mut c, &["SET", "k", "1234"]);
        assert_eq!(encoding(&srv, "k"), "int");
        // Setting nothing leaves the encoding alone.
        assert_eq!(
            run(&mut srv, &mut c, &["SETRANGE", "k", "0", ""]).0,
            b":4\r\n"
        );
        assert_eq!(encoding(&srv, "k"), "int");
        assert_eq!(
            run(&mut srv, &mut c, &["SETRANGE", "k", "5", "2"]).0,
            b":6\r\n"
        );
        assert_eq!(encoding(&srv, "k"), "raw");
        run(&mut srv, &mut c, &["SET", "k", "abc"]);
        assert_eq!(encoding(&srv, "k"), "embstr");
        run(&mut srv, &mut c, &["APPEND", "k", ""]);
        assert_eq!(encoding(&srv, "k"), "raw");
        run(&mut srv, &mut c, &["APPEND", "n", "12"]);
        assert_eq!(encoding(&srv, "n"), "int");
        run(&mut srv, &mut c, &["INCR", "n"]);
        assert_eq!(encoding(&srv, "n"), "int");
        run(&mut srv, &mut c, &["SETRANGE", "new", "2", "x"]);
        assert_eq!(encoding(&srv, "new"), "raw");
    }

    #[test]
    fn setrange_and_append_size_limit() {
        let (mut srv, mut c) = setup();
        let err = b"-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n".to_vec();
        assert_eq!(
            run(&mut srv, &mut c, &["SETRANGE", "k", "536870908", "world"]).0,
            err
        );
        assert_eq!(
            run(
                &mut srv,
                &mut c,
                &["SETRANGE", "k", "9223372036854775807", "A"]
            )
            .0,
            err
        );
        srv.config.proto_max_bulk_len = 10;
        run(&mut srv, &mut c, &["SET", "k", "12345678"]);
        assert_eq!(run(&mut srv, &mut c, &["APPEND", "k", "abc"]).0, err);
        assert_eq!(run(&mut srv, &mut c, &["APPEND", "k", "ab"]).0, b":10\r\n");
        assert_eq!(
            run(&mut srv, &mut c, &["SETRANGE", "k", "-1", "x"]).0,
            b"-ERR offset is out of range\r\n"
        );
    }

    #[test]
    fn getrange_bounds_follow_redis() {
        assert_eq!(getrange_bounds(0, 3, 11), Some((0, 3)));
        assert_eq!(getrange_bounds(-4, -1, 11), Some((7, 10)));
        assert_eq!(getrange_bounds(5, 3, 11), None);
        assert_eq!(getrange_bounds(-5000, 10000, 11), Some((0, 10)));
        assert_eq!(getrange_bounds(-1, -5, 11), None);
        assert_eq!(getrange_bounds(0, -1, 0), None);
        assert_eq!(getrange_bounds(0, 4294967297, 3), Some((0, 2)));
    }

    #[test]
    fn lcs_string_and_length() {
        let r = lcs(b"ohmytext", b"mynewtext", true);
        assert_eq!(r.lcs, b"mytext");
        assert_eq!(r.len, 6);
        let r = lcs(b"ohmytext", b"mynewtext", false);
        assert_eq!(r.len, 6);
        assert!(r.lcs.is_empty());
        assert_eq!(lcs(b"", b"abc", true).len, 0);
        assert_eq!(lcs(b"abc", b"xyz", true).lcs, b"");
    }

    #[test]
    fn lcs_match_runs_are_reported_from_the_end() {
        // Same example as the LCS documentation.
        let r = lcs(b"ohmytext", b"mynewtext", true);
        let m: Vec<_> = r.matches.iter().map(|m| (m.a, m.b, m.run_len())).collect();
        assert_eq!(m, vec![((4, 7), (5, 8), 4), ((2, 3), (0, 1), 2)]);
    }

    #[test]
    fn lcs_run_touching_the_start_is_emitted() {
        let r = lcs(b"abc", b"abd", true);
        let m: Vec<_> = r.matches.iter().map(|m| (m.a, m.b)).collect();
        assert_eq!(m, vec![((0, 1), (0, 1))]);
    }
}
