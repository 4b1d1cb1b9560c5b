//! Stream commands (Redis 7.0's t_stream.c command half): XADD, XLEN, XRANGE, XREVRANGE,
//! XDEL, XTRIM, XSETID, XREAD, XREADGROUP, XGROUP, XACK, XPENDING, XCLAIM, XAUTOCLAIM and
//! XINFO, plus serving clients blocked in XREAD/XREADGROUP ([`serve_blocked_client`],
//! dispatched from `crate::blocking`).
//!
//! Consumer-group effects are propagated as 7.0 does, so that replicas and the AOF rebuild
//! the same group state: each delivered or claimed entry as an idempotent
//! `XCLAIM ... TIME .. RETRYCOUNT .. FORCE JUSTID LASTID ..`, a NOACK read's progress as
//! `XGROUP SETID .. ENTRIESREAD ..`, consumers created by NOACK reads as
//! `XGROUP CREATECONSUMER`; the reading command itself is not propagated.

use crate::blocking::{BlockData, BlockState, BlockType};
use crate::client::{flags as cflags, Client};
use crate::commands::{errors, CmdProc, Kind};
use crate::config::table::notify;
use crate::server::Server;
use crate::types::stream::{Consumer, Group, Nack, Stream, StreamId, Trim, INVALID_ENTRIES_READ};
use crate::types::{Value, WRONGTYPE};
use crate::util;

pub fn lookup(name: &str) -> Option<CmdProc> {
    Some(match name {
        "xadd" => xadd_command,
        "xlen" => xlen_command,
        "xrange" => xrange_command,
        "xrevrange" => xrevrange_command,
        "xdel" => xdel_command,
        "xtrim" => xtrim_command,
        "xsetid" => xsetid_command,
        "xread" => xread_command,
        "xreadgroup" => xread_command,
        "xgroup|create"
        | "xgroup|setid"
        | "xgroup|destroy"
        | "xgroup|createconsumer"
        | "xgroup|delconsumer"
        | "xgroup|help" => xgroup_command,
        "xack" => xack_command,
        "xpending" => xpending_command,
        "xclaim" => xclaim_command,
        "xautoclaim" => xautoclaim_command,
        "xinfo|stream" | "xinfo|groups" | "xinfo|consumers" | "xinfo|help" => xinfo_command,
        _ => return None,
    })
}

const INVALID_ID: &str = "Invalid stream ID specified as stream command argument";

fn read_kind(srv: &mut Server, db: usize, key: &[u8]) -> Kind {
    Kind::of(srv.lookup_read(db, key), |v| matches!(v, Value::Stream(_)))
}

fn write_kind(srv: &mut Server, db: usize, key: &[u8]) -> Kind {
    Kind::of(srv.lookup_write(db, key), |v| matches!(v, Value::Stream(_)))
}

fn stream_ref<'a>(srv: &'a Server, db: usize, key: &[u8]) -> &'a Stream {
    match srv.dbs[db].dict.get(key).map(|o| &o.value) {
        Some(Value::Stream(s)) => s,
        _ => unreachable!("checked to be a stream"),
    }
}

fn stream_mut<'a>(srv: &'a mut Server, db: usize, key: &[u8]) -> &'a mut Stream {
    match srv.dbs[db].dict.get_mut(key).map(|o| &mut o.value) {
        Some(Value::Stream(s)) => s,
        _ => unreachable!("checked to be a stream"),
    }
}

/// Parses an ID argument, replying the error when invalid.
fn parse_id(c: &mut Client, i: usize, missing_seq: u64, strict: bool) -> Option<StreamId> {
    match StreamId::parse(&c.argv[i], missing_seq, strict, false) {
        Some((id, _)) => Some(id),
        None => {
            c.out.error(INVALID_ID);
            None
        }
    }
}

/// A range bound: "(" makes it exclusive (strict ID), otherwise "-"/"+" are allowed.
/// Returns the ID and whether it is exclusive.
fn parse_interval_id(c: &mut Client, i: usize, missing_seq: u64) -> Option<(StreamId, bool)> {
    let a = c.argv[i].clone();
    if a.len() > 1 && a[0] == b'(' {
        match StreamId::parse(&a[1..], missing_seq, true, false) {
            Some((id, _)) => Some((id, true)),
            None => {
                c.out.error(INVALID_ID);
                None
            }
        }
    } else {
        parse_id(c, i, missing_seq, false).map(|id| (id, false))
    }
}

/// Parses the start/end of a range with their "(" exclusions applied.
fn parse_range(c: &mut Client, si: usize, ei: usize) -> Option<(StreamId, StreamId)> {
    let (mut start, sx) = parse_interval_id(c, si, 0)?;
    if sx {
        match start.incr() {
            Some(s) => start = s,
            None => {
                c.out.error("invalid start ID for the interval");
                return None;
            }
        }
    }
    let (mut end, ex) = parse_interval_id(c, ei, u64::MAX)?;
    if ex {
        match end.decr() {
            Some(e) => end = e,
            None => {
                c.out.error("invalid end ID for the interval");
                return None;
            }
        }
    }
    Some((start, end))
}

fn reply_entry(c: &mut Client, id: StreamId, fields: &[Vec<u8>]) {
    c.out.array(2);
    c.out.bulk(&id.to_bytes());
    c.out.array(fields.len());
    for f in fields {
        c.out.bulk(f);
    }
}

/// Replies the entries of `[start, end]` (at most `count`, 0 = all), optionally without the
/// array header. Returns how many were emitted.
fn reply_range(
    c: &mut Client,
    s: &Stream,
    start: StreamId,
    end: StreamId,
    count: usize,
    rev: bool,
    raw: bool,
) -> usize {
    // Collected first so the array header is written with its length (a deferred header
    // splits the output buffer).
    let mut got: Vec<(StreamId, Vec<Vec<u8>>)> = Vec::new();
    s.for_range(start, end, rev, false, true, |e| {
        got.push((e.id, std::mem::take(&mut e.fields)));
        count == 0 || got.len() < count
    });
    if !raw {
        c.out.array(got.len());
    }
    for (id, fields) in &got {
        reply_entry(c, *id, fields);
    }
    got.len()
}

// ---- XADD / XTRIM ------------------------------------------------------------------------

struct TrimArgs {
    how: Trim,
    approx: bool,
    limit: i64,
    /// Index of the MAXLEN/MINID value (for rewriting the propagated command).
    arg_idx: usize,
    id: Option<(StreamId, bool)>,
    no_mkstream: bool,
}

/// Parses XADD/XTRIM options (Redis' `streamParseAddOrTrimArgsOrReply`). For XADD returns
/// the ID's position too.
fn parse_add_trim(srv: &Server, c: &mut Client, xadd: bool) -> Option<(TrimArgs, usize)> {
    let mut a = TrimArgs {
        how: Trim::None,
        approx: false,
        limit: 0,
        arg_idx: 0,
        id: None,
        no_mkstream: false,
    };
    let argc = c.argv.len();
    let mut limit_given = false;
    let mut i = 2;
    while i < argc {
        let more = argc - 1 - i;
        let opt = c.argv[i].to_ascii_lowercase();
        if xadd && opt == b"*" {
            break;
        } else if (opt == b"maxlen" || opt == b"minid") && more > 0 {
            if a.how != Trim::None {
                c.out.error(
                    "syntax error, MAXLEN and MINID options at the same time are not compatible",
                );
                return None;
            }
            a.approx = false;
            let next = &c.argv[i + 1];
            if more >= 2 && next.as_slice() == b"~" {
                a.approx = true;
                i += 1;
            } else if more >= 2 && next.as_slice() == b"=" {
                i += 1;
            }
            if opt == b"maxlen" {
                let v = crate::commands::arg_i64(c, i + 1)?;
                if v < 0 {
                    c.out.error("The MAXLEN argument must be >= 0.");
                    return None;
                }
                a.how = Trim::MaxLen(v as u64);
            } else {
                let id = parse_id(c, i + 1, 0, true)?;
                a.how = Trim::MinId(id);
            }
            i += 1;
            a.arg_idx = i;
        } else if opt == b"limit" && more > 0 {
            let v = crate::commands::arg_i64(c, i + 1)?;
            if v < 0 {
                c.out.error("The LIMIT argument must be >= 0.");
                return None;
            }
            a.limit = v;
            limit_given = true;
            i += 1;
        } else if xadd && opt == b"nomkstream" {
            a.no_mkstream = true;
        } else if xadd {
            match StreamId::parse(&c.argv[i], 0, true, true) {
                Some(v) => a.id = Some(v),
                None => {
                    c.out.error(INVALID_ID);
                    return None;
                }
            }
            break;
        } else {
            c.out.error(errors::SYNTAX);
            return None;
        }
        i += 1;
    }
    if a.limit != 0 && a.how == Trim::None {
        c.out
            .error("syntax error, LIMIT cannot be used without specifying a trimming strategy");
        return None;
    }
    if !xadd && a.how == Trim::None {
        c.out
            .error("syntax error, XTRIM must be called with a trimming strategy");
        return None;
    }
    if c.must_obey() {
        // Commands from the master or the AOF were rewritten to be exact: never cap their
        // work.
        a.limit = 0;
    } else if limit_given {
        if !a.approx {
            c.out
                .error("syntax error, LIMIT cannot be used without the special ~ option");
            return None;
        }
    } else if a.approx {
        let mut l = 100 * srv.config.stream_node_max_entries;
        if l <= 0 {
            l = 10000;
        }
        a.limit = l.min(1_000_000);
    } else {
        a.limit = 0;
    }
    Some((a, i))
}

/// After an approximate trim, the propagated command carries the exact result: "=" and the
/// resulting length or first ID (including tombstones), as 7.0 rewrites it.
fn rewrite_trim_args(c: &mut Client, s: &Stream, a: &TrimArgs) {
    let mut argv = c.propagate_argv.take().unwrap_or_else(|| c.argv.clone());
    argv[a.arg_idx - 1] = b"=".to_vec();
    argv[a.arg_idx] = match a.how {
        Trim::MaxLen(_) => util::i64_bytes(s.length as i64),
        _ => s.edge_id(true, false).to_bytes(),
    };
    c.propagate_argv = Some(argv);
}

fn xadd_command(srv: &mut Server, c: &mut Client) {
    let Some((args, idpos)) = parse_add_trim(srv, c, true) else {
        return;
    };
    let field_pos = idpos + 1;
    let argc = c.argv.len();
    if argc < field_pos + 2 || (argc - field_pos) % 2 == 1 {
        c.out.error("wrong number of arguments for 'xadd' command");
        return;
    }
    if let Some((id, true)) = args.id {
        if id.is_zero() {
            c.out
                .error("The ID specified in XADD must be greater than 0-0");
            return;
        }
    }
    let db = c.db;
    let key = c.argv[1].clone();
    match write_kind(srv, db, &key) {
        Kind::Other => {
            c.out.error(WRONGTYPE);
            return;
        }
        Kind::Missing => {
            if args.no_mkstream {
                c.out.null();
                return;
            }
            srv.db_add(db, &key, Value::Stream(Box::default()));
        }
        Kind::Wanted => {}
    }
    let max_bytes = srv.config.stream_node_max_bytes.max(0) as usize;
    let max_entries = srv.config.stream_node_max_entries.max(0) as usize;
    let now = util::mstime().max(0) as u64;
    let s = stream_mut(srv, db, &key);
    if s.last_id == StreamId::MAX {
        c.out
            .error("The stream has exhausted the last possible ID, unable to add more items");
        return;
    }
    let id = match s.append(&c.argv[field_pos..], args.id, now, max_bytes, max_entries) {
        Ok(id) => id,
        Err(crate::types::stream::AppendError::IdTooSmall) => {
            c.out.error(
                "The ID specified in XADD is equal or smaller than the target stream top item",
            );
            return;
        }
        Err(_) => {
            c.out.error("Elements are too large to be stored");
            return;
        }
    };
    let idb = id.to_bytes();
    c.out.bulk(&idb);
    srv.signal_modified_key(db, &key);
    srv.notify_keyspace_event(notify::STREAM, "xadd", &key, db);
    srv.dirty += 1;
    if args.how != Trim::None {
        let s = stream_mut(srv, db, &key);
        let removed = s.trim(args.how, args.approx, args.limit as u64);
        if args.approx {
            let s = stream_ref(srv, db, &key);
            rewrite_trim_args(c, s, &args);
        }
        if removed != 0 {
            srv.notify_keyspace_event(notify::STREAM, "xtrim", &key, db);
        }
    }
    if !matches!(args.id, Some((_, true))) {
        let mut argv = c.propagate_argv.take().unwrap_or_else(|| c.argv.clone());
        argv[idpos] = idb;
        c.propagate_argv = Some(argv);
    }
    srv.signal_key_as_ready(db, &key, BlockType::Stream);
}

fn xtrim_command(srv: &mut Server, c: &mut Client) {
    let Some((args, _)) = parse_add_trim(srv, c, false) else {
        return;
    };
    let db = c.db;
    let key = c.argv[1].clone();
    match write_kind(srv, db, &key) {
        Kind::Missing => return c.out.int(0),
        Kind::Other => return c.out.error(WRONGTYPE),
        Kind::Wanted => {}
    }
    let removed = stream_mut(srv, db, &key).trim(args.how, args.approx, args.limit as u64);
    if removed != 0 {
        srv.notify_keyspace_event(notify::STREAM, "xtrim", &key, db);
        if args.approx {
            let s = stream_ref(srv, db, &key);
            rewrite_trim_args(c, s, &args);
        }
        srv.signal_modified_key(db, &key);
        srv.dirty += removed as i64;
    }
    c.out.int(removed as i64);
}

// ---- reads -------------------------------------------------------------------------------

fn xlen_command(srv: &mut Server, c: &mut Client) {
    let key = c.argv[1].clone();
    match read_kind(srv, c.db, &key) {
        Kind::Missing => c.out.int(0),
        Kind::Other => c.out.error(WRONGTYPE),
        Kind::Wanted => c.out.int(stream_ref(srv, c.db, &key).length as i64),
    }
}

fn xrange_generic(srv: &mut Server, c: &mut Client, rev: bool) {
    let (si, ei) = if rev { (3, 2) } else { (2, 3) };
    let Some((start, end)) = parse_range(c, si, ei) else {
        return;
    };
    let mut count: i64 = -1;
    let mut j = 4;
    while j < c.argv.len() {
        if c.argv[j].eq_ignore_ascii_case(b"count") && j + 1 < c.argv.len() {
            let Some(v) = crate::commands::arg_i64(c, j + 1) else {
                return;
            };
            count = v.max(0);
            j += 2;
        } else {
            c.out.error(errors::SYNTAX);
            return;
        }
    }
    let key = c.argv[1].clone();
    match read_kind(srv, c.db, &key) {
        Kind::Missing => return c.out.empty_array(),
        Kind::Other => return c.out.error(WRONGTYPE),
        Kind::Wanted => {}
    }
    if count == 0 {
        c.out.null_array();
        return;
    }
    let count = if count < 0 { 0 } else { count as usize };
    let s = stream_ref(srv, c.db, &key);
    reply_range(c, s, start, end, count, rev, false);
}

fn xrange_command(srv: &mut Server, c: &mut Client) {
    xrange_generic(srv, c, false)
}

fn xrevrange_command(srv: &mut Server, c: &mut Client) {
    xrange_generic(srv, c, true)
}

// ---- XDEL / XSETID -----------------------------------------------------------------------

fn xdel_command(srv: &mut Server, c: &mut Client) {
    let db = c.db;
    let key = c.argv[1].clone();
    match write_kind(srv, db, &key) {
        Kind::Missing => return c.out.int(0),
        Kind::Other => return c.out.error(WRONGTYPE),
        Kind::Wanted => {}
    }
    let mut ids = Vec::with_capacity(c.argv.len() - 2);
    for j in 2..c.argv.len() {
        let Some(id) = parse_id(c, j, 0, true) else {
            return;
        };
        ids.push(id);
    }
    let s = stream_mut(srv, db, &key);
    let mut deleted = 0i64;
    let mut first_entry = false;
    for id in ids {
        if s.delete(id) {
            if id == s.first_id {
                first_entry = true;
            }
            if id > s.max_deleted_entry_id {
                s.max_deleted_entry_id = id;
            }
            deleted += 1;
        }
    }
    if deleted != 0 {
        if s.length == 0 {
            s.first_id = StreamId::MIN;
        } else if first_entry {
            s.first_id = s.edge_id(true, true);
        }
        srv.signal_modified_key(db, &key);
        srv.notify_keyspace_event(notify::STREAM, "xdel", &key, db);
        srv.dirty += deleted;
    }
    c.out.int(deleted);
}

fn xsetid_command(srv: &mut Server, c: &mut Client) {
    let Some(id) = parse_id(c, 2, 0, true) else {
        return;
    };
    let mut entries_added: i64 = -1;
    let mut max_xdel = StreamId::MIN;
    let mut i = 3;
    while i < c.argv.len() {
        let more = c.argv.len() - 1 - i;
        if c.argv[i].eq_ignore_ascii_case(b"entriesadded") && more > 0 {
            let Some(v) = crate::commands::arg_i64(c, i + 1) else {
                return;
            };
            if v < 0 {
                c.out.error("entries_added must be positive");
                return;
            }
            entries_added = v;
            i += 2;
        } else if c.argv[i].eq_ignore_ascii_case(b"maxdeletedid") && more > 0 {
            let Some(v) = parse_id(c, i + 1, 0, true) else {
                return;
            };
            if id < v {
                c.out.error(
                    "The ID specified in XSETID is smaller than the provided max_deleted_entry_id",
                );
                return;
            }
            max_xdel = v;
            i += 2;
        } else {
            c.out.error(errors::SYNTAX);
            return;
        }
    }
    let db = c.db;
    let key = c.argv[1].clone();
    match write_kind(srv, db, &key) {
        Kind::Missing => return c.out.error(errors::NO_SUCH_KEY),
        Kind::Other => return c.out.error(WRONGTYPE),
        Kind::Wanted => {}
    }
    let s = stream_mut(srv, db, &key);
    if s.length > 0 {
        if id < s.last_valid_id() {
            c.out
                .error("The ID specified in XSETID is smaller than the target stream top item");
            return;
        }
        if entries_added != -1 && s.length > entries_added as u64 {
            c.out.error(
                "The entries_added specified in XSETID is smaller than the target stream length",
            );
            return;
        }
    }
    s.last_id = id;
    if entries_added != -1 {
        s.entries_added = entries_added as u64;
    }
    if !max_xdel.is_zero() {
        s.max_deleted_entry_id = max_xdel;
    }
    c.out.ok();
    srv.dirty += 1;
    srv.notify_keyspace_event(notify::STREAM, "xsetid", &key, db);
}

// ---- consumer group helpers --------------------------------------------------------------

/// Creates a consumer if missing (Redis' `streamCreateConsumer`): dirty and the
/// `xgroup-createconsumer` event. Returns whether it was created.
fn create_consumer(
    srv: &mut Server,
    db: usize,
    key: &[u8],
    group: &mut Group,
    name: &[u8],
) -> bool {
    if group.consumers.contains_key(name) {
        return false;
    }
    group.consumers.insert(
        name.to_vec(),
        Consumer {
            seen_time: util::mstime(),
            pel: Default::default(),
        },
    );
    srv.dirty += 1;
    srv.notify_keyspace_event(notify::STREAM, "xgroup-createconsumer", key, db);
    true
}

/// Looks a consumer up, refreshing its seen time, creating it if missing.
fn touch_or_create_consumer(
    srv: &mut Server,
    db: usize,
    key: &[u8],
    group: &mut Group,
    name: &[u8],
) -> bool {
    if let Some(cons) = group.consumers.get_mut(name) {
        cons.seen_time = util::mstime();
        return false;
    }
    create_consumer(srv, db, key, group, name)
}

/// The XCLAIM that recreates one PEL entry exactly on replicas and in the AOF.
fn xclaim_argv(key: &[u8], gname: &[u8], group: &Group, id: &[u8], nack: &Nack) -> Vec<Vec<u8>> {
    vec![
        b"XCLAIM".to_vec(),
        key.to_vec(),
        gname.to_vec(),
        nack.consumer.clone(),
        b"0".to_vec(),
        id.to_vec(),
        b"TIME".to_vec(),
        util::i64_bytes(nack.delivery_time),
        b"RETRYCOUNT".to_vec(),
        util::i64_bytes(nack.delivery_count as i64),
        b"FORCE".to_vec(),
        b"JUSTID".to_vec(),
        b"LASTID".to_vec(),
        group.last_id.to_bytes(),
    ]
}

fn setid_argv(key: &[u8], gname: &[u8], group: &Group) -> Vec<Vec<u8>> {
    vec![
        b"XGROUP".to_vec(),
        b"SETID".to_vec(),
        key.to_vec(),
        gname.to_vec(),
        group.last_id.to_bytes(),
        b"ENTRIESREAD".to_vec(),
        util::i64_bytes(group.entries_read),
    ]
}

/// Takes a group out of its stream for an operation that also reads the stream; put it back
/// with [`put_group`].
fn take_group(srv: &mut Server, db: usize, key: &[u8], gname: &[u8]) -> Option<Group> {
    stream_mut(srv, db, key).groups.remove(gname)
}

fn put_group(srv: &mut Server, db: usize, key: &[u8], gname: &[u8], g: Group) {
    stream_mut(srv, db, key).groups.insert(gname.to_vec(), g);
}

/// Serves a consumer group read of new entries from `start` (Redis' `streamReplyWithRange`
/// with a group): advances the group, creates PEL entries unless `noack`, propagates.
#[allow(clippy::too_many_arguments)]
fn reply_group_range(
    srv: &mut Server,
    c: &mut Client,
    db: usize,
    key: &[u8],
    gname: &[u8],
    cname: &[u8],
    group: &mut Group,
    start: StreamId,
    count: usize,
    noack: bool,
) {
    let mut got: Vec<(StreamId, Vec<Vec<u8>>)> = Vec::new();
    {
        let s = stream_ref(srv, db, key);
        s.for_range(start, StreamId::MAX, false, false, true, |e| {
            got.push((e.id, std::mem::take(&mut e.fields)));
            count == 0 || got.len() < count
        });
    }
    let mut propagate_last_id = false;
    c.out.array(got.len());
    for (id, fields) in got {
        if id > group.last_id {
            let s = stream_ref(srv, db, key);
            if group.entries_read != INVALID_ENTRIES_READ && !s.range_has_tombstones(Some(id), None)
            {
                // Wrapping as Redis' counter does: a restored payload may carry any value.
                group.entries_read = group.entries_read.wrapping_add(1);
            } else if s.entries_added != 0 {
                group.entries_read = s.estimate_distance(id).unwrap_or(INVALID_ENTRIES_READ);
            }
            group.last_id = id;
            if noack {
                propagate_last_id = true;
            }
        }
        reply_entry(c, id, &fields);
        if !noack {
            let now = util::mstime();
            if let Some(old) = group.pel.get(&id).map(|n| n.consumer.clone()) {
                if let Some(oc) = group.consumers.get_mut(&old) {
                    oc.pel.remove(&id);
                }
            }
            group.pel.insert(
                id,
                Nack {
                    delivery_time: now,
                    delivery_count: 1,
                    consumer: cname.to_vec(),
                },
            );
            if let Some(cons) = group.consumers.get_mut(cname) {
                cons.pel.insert(id);
            }
            // Built only when something consumes the stream (no AOF, no replicas: nothing).
            if srv.prop.enabled {
                let argv = xclaim_argv(key, gname, group, &id.to_bytes(), &group.pel[&id]);
                srv.propagate(db, argv);
            }
        }
    }
    if propagate_last_id {
        srv.propagate(db, setid_argv(key, gname, group));
    }
}

#[allow(clippy::too_many_arguments)]
/// Serves a consumer's own history from `start` (Redis' `streamReplyWithRangeFromConsumerPEL`).
fn reply_consumer_history(
    srv: &mut Server,
    c: &mut Client,
    db: usize,
    key: &[u8],
    group: &mut Group,
    cname: &[u8],
    start: StreamId,
    count: usize,
) {
    let ids: Vec<StreamId> = match group.consumers.get(cname) {
        Some(cons) => cons
            .pel
            .range(start..)
            .take(if count == 0 { usize::MAX } else { count })
            .copied()
            .collect(),
        None => Vec::new(),
    };
    c.out.array(ids.len());
    let s = stream_ref(srv, db, key);
    for id in ids {
        match s.get(id) {
            Some(fields) => {
                reply_entry(c, id, &fields);
                if let Some(n) = group.pel.get_mut(&id) {
                    n.delivery_time = util::mstime();
                    n.delivery_count += 1;
                }
            }
            None => {
                c.out.array(2);
                c.out.bulk(&id.to_bytes());
                c.out.null_array();
            }
        }
    }
}

// ---- XREAD / XREADGROUP ------------------------------------------------------------------

/// Default COUNT of a blocked XREAD without COUNT, so a low ID can't make the server send a
/// huge reply when it is served.
const XREAD_BLOCKED_DEFAULT_COUNT: usize = 1000;

fn xread_command(srv: &mut Server, c: &mut Client) {
    let xreadgroup = c.argv[0].len() == 10;
    let cmdname = String::from_utf8_lossy(&c.argv[0]).into_owned();
    // Effects are propagated piecewise (XCLAIM, XGROUP SETID), never the read itself.
    c.flags |= cflags::PREVENT_PROP;
    let argc = c.argv.len();
    let mut timeout: i64 = -1;
    let mut count: i64 = 0;
    let mut streams_arg = 0;
    let mut nstreams = 0;
    let mut noack = false;
    let mut group: Option<(Vec<u8>, Vec<u8>)> = None;
    let mut i = 1;
    while i < argc {
        let more = argc - i - 1;
        let o = c.argv[i].to_ascii_lowercase();
        if o == b"block" && more > 0 {
            if c.has(cflags::SCRIPT) {
                c.out.error(&format!(
                    "{} command is not allowed with BLOCK option from scripts",
                    cmdname
                ));
                return;
            }
            i += 1;
            let Some(v) = util::parse_i64(&c.argv[i]) else {
                c.out.error("timeout is not an integer or out of range");
                return;
            };
            if v < 0 {
                c.out.error("timeout is negative");
                return;
            }
            // 7.0.15 adds the current time without an overflow check; a huge timeout
            // then blocks indefinitely, which saturating reproduces.
            timeout = if v > 0 {
                v.saturating_add(srv.now_ms())
            } else {
                0
            };
        } else if o == b"count" && more > 0 {
            i += 1;
            let Some(v) = crate::commands::arg_i64(c, i) else {
                return;
            };
            count = v.max(0);
        } else if o == b"streams" && more > 0 {
            streams_arg = i + 1;
            let n = argc - streams_arg;
            if !n.is_multiple_of(2) {
                c.out.error("Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.");
                return;
            }
            nstreams = n / 2;
            break;
        } else if o == b"group" && more >= 2 {
            if !xreadgroup {
                c.out.error(
                    "The GROUP option is only supported by XREADGROUP. You called XREAD instead.",
                );
                return;
            }
            group = Some((c.argv[i + 1].clone(), c.argv[i + 2].clone()));
            i += 2;
        } else if o == b"noack" {
            if !xreadgroup {
                c.out.error(
                    "The NOACK option is only supported by XREADGROUP. You called XREAD instead.",
                );
                return;
            }
            noack = true;
        } else {
            c.out.error(errors::SYNTAX);
            return;
        }
        i += 1;
    }
    if streams_arg == 0 {
        c.out.error(errors::SYNTAX);
        return;
    }
    if xreadgroup && group.is_none() {
        c.out.error("Missing GROUP option for XREADGROUP");
        return;
    }
    let db = c.db;
    let mut ids: Vec<StreamId> = Vec::with_capacity(nstreams);
    for k in 0..nstreams {
        let key = c.argv[streams_arg + k].clone();
        let idarg = c.argv[streams_arg + nstreams + k].clone();
        let kind = read_kind(srv, db, &key);
        if kind == Kind::Other {
            c.out.error(WRONGTYPE);
            return;
        }
        if let Some((gname, _)) = &group {
            let exists =
                kind == Kind::Wanted && stream_ref(srv, db, &key).groups.contains_key(gname);
            if !exists {
                c.out.error(&format!(
                    "-NOGROUP No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option",
                    String::from_utf8_lossy(&key),
                    String::from_utf8_lossy(gname)
                ));
                return;
            }
        }
        if idarg == b"$" {
            if xreadgroup {
                c.out.error("The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.");
                return;
            }
            ids.push(if kind == Kind::Wanted {
                stream_ref(srv, db, &key).last_id
            } else {
                StreamId::MIN
            });
            continue;
        } else if idarg == b">" {
            if !xreadgroup {
                c.out.error("The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.");
                return;
            }
            ids.push(StreamId::MAX);
            continue;
        }
        let Some(id) = parse_id(c, streams_arg + nstreams + k, 0, true) else {
            return;
        };
        ids.push(id);
    }

    let mut served = 0usize;
    let mut top = None;
    for (k, &id) in ids.iter().enumerate() {
        let key = c.argv[streams_arg + k].clone();
        if read_kind(srv, db, &key) != Kind::Wanted {
            continue;
        }
        let s = stream_ref(srv, db, &key);
        let mut gt = id;
        let mut serve = false;
        let mut history = false;
        if let Some((gname, _)) = &group {
            if gt != StreamId::MAX {
                serve = true;
                history = true;
            } else if s.length > 0 {
                let last = s.groups[gname].last_id;
                if s.last_valid_id() > last {
                    serve = true;
                    gt = last;
                }
            }
        } else if s.length > 0 && s.last_valid_id() > gt {
            serve = true;
        }
        if !serve {
            continue;
        }
        served += 1;
        if served == 1 {
            top = Some(c.out.defer());
        }
        let start = gt.incr().unwrap_or(StreamId::MIN);
        if c.out.resp == 2 {
            c.out.array(2);
        }
        c.out.bulk(&key);
        match &group {
            None => {
                let s = stream_ref(srv, db, &key);
                reply_range(c, s, start, StreamId::MAX, count as usize, false, false);
            }
            Some((gname, cname)) => {
                let mut g = take_group(srv, db, &key, gname).expect("group checked");
                let created = touch_or_create_consumer(srv, db, &key, &mut g, cname);
                if created && noack {
                    srv.propagate(
                        db,
                        vec![
                            b"XGROUP".to_vec(),
                            b"CREATECONSUMER".to_vec(),
                            key.clone(),
                            gname.clone(),
                            cname.clone(),
                        ],
                    );
                }
                if history {
                    reply_consumer_history(srv, c, db, &key, &mut g, cname, start, count as usize);
                } else {
                    reply_group_range(
                        srv,
                        c,
                        db,
                        &key,
                        gname,
                        cname,
                        &mut g,
                        start,
                        count as usize,
                        noack,
                    );
                }
                put_group(srv, db, &key, gname, g);
                srv.dirty += 1;
            }
        }
    }
    if let Some(d) = top {
        if c.out.resp == 2 {
            c.out.set_deferred_array(d, served);
        } else {
            c.out.set_deferred_map(d, served);
        }
        return;
    }
    if timeout != -1 {
        if c.has(cflags::DENY_BLOCKING) {
            c.out.null_array();
            return;
        }
        let keys: Vec<Vec<u8>> = c.argv[streams_arg..streams_arg + nstreams].to_vec();
        let mut key_ids: Vec<(Vec<u8>, StreamId)> = Vec::new();
        for (k, id) in keys.iter().zip(ids.iter()) {
            if !key_ids.iter().any(|(x, _)| x == k) {
                key_ids.push((k.clone(), *id));
            }
        }
        let count = if count > 0 {
            count as usize
        } else {
            XREAD_BLOCKED_DEFAULT_COUNT
        };
        let (gname, cname) = match group {
            Some((g, cn)) => (Some(g), Some(cn)),
            None => (None, None),
        };
        srv.block_for_keys(
            c,
            BlockType::Stream,
            &keys,
            timeout,
            BlockData::Stream {
                ids: key_ids,
                count,
                group: gname,
                consumer: cname,
                noack,
            },
        );
        return;
    }
    c.out.null_array();
}

/// Whether a client blocked in XREAD/XREADGROUP on `key` can be answered now: there is
/// something newer than its ID (the group's last ID for XREADGROUP), or its group is gone
/// (it then gets an error).
pub fn blocked_client_ready(srv: &Server, st: &BlockState, key: &[u8]) -> bool {
    let BlockData::Stream { ids, group, .. } = &st.data else {
        return true;
    };
    let Some(Value::Stream(s)) = srv.dbs[st.db].dict.get(key).map(|o| &o.value) else {
        return false;
    };
    let gt = match group {
        Some(g) => match s.groups.get(g) {
            Some(g) => g.last_id,
            None => return true,
        },
        None => ids
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, id)| *id)
            .unwrap_or(StreamId::MAX),
    };
    s.last_id > gt
}

/// Serves a client blocked in XREAD/XREADGROUP now that `key` has new entries (Redis'
/// `serveClientsBlockedOnStreamKey`).
pub fn serve_blocked_client(srv: &mut Server, c: &mut Client, st: &BlockState, key: &[u8]) -> bool {
    let BlockData::Stream {
        ids,
        count,
        group,
        consumer,
        noack,
    } = &st.data
    else {
        return false;
    };
    let db = st.db;
    if !blocked_client_ready(srv, st, key) {
        return false;
    }
    let mut gt = ids
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, id)| *id)
        .unwrap_or(StreamId::MAX);
    let mut taken = None;
    if let Some(gname) = group {
        match take_group(srv, db, key, gname) {
            None => {
                c.out.error(
                    "-NOGROUP the consumer group this client was blocked on no longer exists",
                );
                return true;
            }
            Some(g) => {
                gt = g.last_id;
                taken = Some(g);
            }
        }
    }
    let start = gt.incr().unwrap_or(StreamId::MIN);
    if c.out.resp == 2 {
        c.out.array(1);
        c.out.array(2);
    } else {
        c.out.map(1);
    }
    c.out.bulk(key);
    match (taken, group, consumer) {
        (Some(mut g), Some(gname), Some(cname)) => {
            let created = touch_or_create_consumer(srv, db, key, &mut g, cname);
            if created && *noack {
                srv.propagate(
                    db,
                    vec![
                        b"XGROUP".to_vec(),
                        b"CREATECONSUMER".to_vec(),
                        key.to_vec(),
                        gname.clone(),
                        cname.clone(),
                    ],
                );
            }
            reply_group_range(srv, c, db, key, gname, cname, &mut g, start, *count, *noack);
            put_group(srv, db, key, gname, g);
        }
        _ => {
            let s = stream_ref(srv, db, key);
            reply_range(c, s, start, StreamId::MAX, *count, false, false);
        }
    }
    true
}

// ---- XGROUP ------------------------------------------------------------------------------

const XGROUP_HELP: &[&str] = &[
    "CREATE <key> <groupname> <id|$> [option]",
    "    Create a new consumer group. Options are:",
    "    * MKSTREAM",
    "      Create the empty stream if it does not exist.",
    "    * ENTRIESREAD entries_read",
    "      Set the group's entries_read counter (internal use).",
    "CREATECONSUMER <key> <groupname> <consumer>",
    "    Create a new consumer in the specified group.",
    "DELCONSUMER <key> <groupname> <consumer>",
    "    Remove the specified consumer.",
    "DESTROY <key> <groupname>",
    "    Remove the specified group.",
    "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
    "    Set the current group ID and entries_read counter.",
];

fn xgroup_command(srv: &mut Server, c: &mut Client) {
    let opt = c.argv[1].to_ascii_lowercase();
    let argc = c.argv.len();
    let db = c.db;
    let mut mkstream = false;
    let mut entries_read = INVALID_ENTRIES_READ;
    let mut exists = false;
    let mut has_group = false;
    if argc >= 4 {
        let create = opt == b"create";
        let setid = opt == b"setid";
        let mut i = 5;
        while i < argc {
            if create && c.argv[i].eq_ignore_ascii_case(b"mkstream") {
                mkstream = true;
                i += 1;
            } else if (create || setid)
                && c.argv[i].eq_ignore_ascii_case(b"entriesread")
                && i + 1 < argc
            {
                let Some(v) = crate::commands::arg_i64(c, i + 1) else {
                    return;
                };
                if v < 0 && v != INVALID_ENTRIES_READ {
                    c.out.error("value for ENTRIESREAD must be positive or -1");
                    return;
                }
                entries_read = v;
                i += 2;
            } else {
                crate::commands::reply_subcommand_syntax_error(c);
                return;
            }
        }
        let key = c.argv[2].clone();
        match write_kind(srv, db, &key) {
            Kind::Other => return c.out.error(WRONGTYPE),
            Kind::Wanted => {
                exists = true;
                has_group = stream_ref(srv, db, &key).groups.contains_key(&c.argv[3]);
            }
            Kind::Missing => {}
        }
        if !mkstream {
            if !exists {
                c.out.error("The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.");
                return;
            }
            if !has_group && matches!(&opt[..], b"setid" | b"createconsumer" | b"delconsumer") {
                c.out.error(&format!(
                    "-NOGROUP No such consumer group '{}' for key name '{}'",
                    String::from_utf8_lossy(&c.argv[3]),
                    String::from_utf8_lossy(&key)
                ));
                return;
            }
        }
    }
    let key = c.argv.get(2).cloned().unwrap_or_default();
    let gname = c.argv.get(3).cloned().unwrap_or_default();
    match (&opt[..], argc) {
        (b"help", 2) => crate::commands::reply_help(c, XGROUP_HELP),
        (b"create", 5..=8) => {
            let id = if c.argv[4] == b"$" {
                if exists {
                    stream_ref(srv, db, &key).last_id
                } else {
                    StreamId::MIN
                }
            } else {
                let Some(id) = parse_id(c, 4, 0, true) else {
                    return;
                };
                id
            };
            if !exists {
                srv.db_add(db, &key, Value::Stream(Box::default()));
                srv.signal_modified_key(db, &key);
            }
            let s = stream_mut(srv, db, &key);
            if s.groups.contains_key(&gname) {
                c.out.error("-BUSYGROUP Consumer Group name already exists");
                return;
            }
            s.groups.insert(gname, Group::new(id, entries_read));
            c.out.ok();
            srv.dirty += 1;
            srv.notify_keyspace_event(notify::STREAM, "xgroup-create", &key, db);
        }
        (b"setid", 5 | 7) => {
            let id = if c.argv[4] == b"$" {
                stream_ref(srv, db, &key).last_id
            } else {
                let Some(id) = parse_id(c, 4, 0, false) else {
                    return;
                };
                id
            };
            let g = stream_mut(srv, db, &key)
                .groups
                .get_mut(&gname)
                .expect("group checked");
            g.last_id = id;
            g.entries_read = entries_read;
            c.out.ok();
            srv.dirty += 1;
            srv.notify_keyspace_event(notify::STREAM, "xgroup-setid", &key, db);
        }
        (b"destroy", 4) => {
            if stream_mut(srv, db, &key).groups.remove(&gname).is_some() {
                c.out.int(1);
                srv.dirty += 1;
                srv.notify_keyspace_event(notify::STREAM, "xgroup-destroy", &key, db);
                // Readers blocked on the group get -NOGROUP.
                srv.signal_key_as_ready(db, &key, BlockType::Stream);
            } else {
                c.out.int(0);
            }
        }
        (b"createconsumer", 5) => {
            let cname = c.argv[4].clone();
            let mut g = take_group(srv, db, &key, &gname).expect("group checked");
            let created = create_consumer(srv, db, &key, &mut g, &cname);
            put_group(srv, db, &key, &gname, g);
            c.out.int(created as i64);
        }
        (b"delconsumer", 5) => {
            let cname = c.argv[4].clone();
            let g = stream_mut(srv, db, &key)
                .groups
                .get_mut(&gname)
                .expect("group checked");
            let mut pending = 0;
            if let Some(cons) = g.consumers.remove(&cname) {
                pending = cons.pel.len();
                for id in cons.pel {
                    g.pel.remove(&id);
                }
                srv.dirty += 1;
                srv.notify_keyspace_event(notify::STREAM, "xgroup-delconsumer", &key, db);
            }
            c.out.int(pending as i64);
        }
        _ => crate::commands::reply_subcommand_syntax_error(c),
    }
}

// ---- XACK / XPENDING ---------------------------------------------------------------------

fn xack_command(srv: &mut Server, c: &mut Client) {
    let db = c.db;
    let key = c.argv[1].clone();
    let has_group = match read_kind(srv, db, &key) {
        Kind::Other => return c.out.error(WRONGTYPE),
        Kind::Missing => false,
        Kind::Wanted => stream_ref(srv, db, &key).groups.contains_key(&c.argv[2]),
    };
    if !has_group {
        c.out.int(0);
        return;
    }
    let mut ids = Vec::new();
    for j in 3..c.argv.len() {
        let Some(id) = parse_id(c, j, 0, true) else {
            return;
        };
        ids.push(id);
    }
    let gname = c.argv[2].clone();
    let g = stream_mut(srv, db, &key)
        .groups
        .get_mut(&gname)
        .expect("group checked");
    let mut acked = 0;
    for id in ids {
        if g.remove_nack(id).is_some() {
            acked += 1;
        }
    }
    srv.dirty += acked;
    c.out.int(acked);
}

fn nogroup_error(c: &mut Client, key: &[u8], gname: &[u8]) {
    c.out.error(&format!(
        "-NOGROUP No such key '{}' or consumer group '{}'",
        String::from_utf8_lossy(key),
        String::from_utf8_lossy(gname)
    ));
}

fn xpending_command(srv: &mut Server, c: &mut Client) {
    let argc = c.argv.len();
    let justinfo = argc == 3;
    if argc != 3 && !(6..=9).contains(&argc) {
        c.out.error(errors::SYNTAX);
        return;
    }
    let mut minidle = 0i64;
    let mut range = (StreamId::MIN, StreamId::MAX);
    let mut count = 0i64;
    let mut consumer: Option<Vec<u8>> = None;
    if argc >= 6 {
        let mut si = 3;
        if c.argv[3].eq_ignore_ascii_case(b"idle") {
            let Some(v) = crate::commands::arg_i64(c, 4) else {
                return;
            };
            minidle = v;
            if argc < 8 {
                c.out.error(errors::SYNTAX);
                return;
            }
            si += 2;
        }
        let Some(v) = crate::commands::arg_i64(c, si + 2) else {
            return;
        };
        count = v.max(0);
        let Some(r) = parse_range(c, si, si + 1) else {
            return;
        };
        range = r;
        if si + 3 < argc {
            consumer = Some(c.argv[si + 3].clone());
        }
    }
    let db = c.db;
    let key = c.argv[1].clone();
    let gname = c.argv[2].clone();
    let kind = read_kind(srv, db, &key);
    if kind == Kind::Other {
        return c.out.error(WRONGTYPE);
    }
    if kind == Kind::Missing || !stream_ref(srv, db, &key).groups.contains_key(&gname) {
        return nogroup_error(c, &key, &gname);
    }
    let g = &stream_ref(srv, db, &key).groups[&gname];
    if justinfo {
        c.out.array(4);
        c.out.int(g.pel.len() as i64);
        if g.pel.is_empty() {
            c.out.null();
            c.out.null();
            c.out.null_array();
        } else {
            c.out.bulk(&g.pel.keys().next().unwrap().to_bytes());
            c.out.bulk(&g.pel.keys().next_back().unwrap().to_bytes());
            let d = c.out.defer();
            let mut n = 0;
            for (name, cons) in &g.consumers {
                if cons.pel.is_empty() {
                    continue;
                }
                c.out.array(2);
                c.out.bulk(name);
                c.out.bulk_i64(cons.pel.len() as i64);
                n += 1;
            }
            c.out.set_deferred_array(d, n);
        }
        return;
    }
    let ids: Vec<StreamId> = match &consumer {
        Some(name) => match g.consumers.get(name) {
            None => {
                c.out.array(0);
                return;
            }
            Some(cons) => cons.pel.range(range.0..).copied().collect(),
        },
        None => g.pel.range(range.0..).map(|(k, _)| *k).collect(),
    };
    let now = util::mstime();
    let d = c.out.defer();
    let mut n = 0;
    for id in ids {
        if count == 0 || id > range.1 {
            break;
        }
        let nack = &g.pel[&id];
        // Delivery and seen times may be anything a RESTORE payload carried (or an IDLE
        // argument made): differences wrap as Redis' signed arithmetic does, never trap.
        if minidle != 0 && now.wrapping_sub(nack.delivery_time) < minidle {
            continue;
        }
        n += 1;
        count -= 1;
        c.out.array(4);
        c.out.bulk(&id.to_bytes());
        c.out.bulk(&nack.consumer);
        c.out.int(now.wrapping_sub(nack.delivery_time).max(0));
        c.out.int(nack.delivery_count as i64);
    }
    c.out.set_deferred_array(d, n);
}

// ---- XCLAIM / XAUTOCLAIM -----------------------------------------------------------------

fn xclaim_command(srv: &mut Server, c: &mut Client) {
    let db = c.db;
    let key = c.argv[1].clone();
    let gname = c.argv[2].clone();
    let cname = c.argv[3].clone();
    let kind = read_kind(srv, db, &key);
    if kind == Kind::Other {
        return c.out.error(WRONGTYPE);
    }
    if kind == Kind::Missing || !stream_ref(srv, db, &key).groups.contains_key(&gname) {
        return nogroup_error(c, &key, &gname);
    }
    let Some(minidle) = util::parse_i64(&c.argv[4]) else {
        c.out.error("Invalid min-idle-time argument for XCLAIM");
        return;
    };
    let minidle = minidle.max(0);
    let argc = c.argv.len();
    let mut ids = Vec::new();
    let mut j = 5;
    while j < argc {
        match StreamId::parse(&c.argv[j], 0, true, false) {
            Some((id, _)) => ids.push(id),
            None => break,
        }
        j += 1;
    }
    let now = util::mstime();
    let mut force = false;
    let mut justid = false;
    let mut retrycount: i64 = -1;
    let mut deliverytime: i64 = -1;
    let mut last_id = StreamId::MIN;
    while j < argc {
        let more = argc - 1 - j;
        let opt = c.argv[j].to_ascii_lowercase();
        let int_opt = |c: &mut Client, j: usize, msg: &str| -> Option<i64> {
            match util::parse_i64(&c.argv[j]) {
                Some(v) => Some(v),
                None => {
                    c.out.error(msg);
                    None
                }
            }
        };
        if opt == b"force" {
            force = true;
        } else if opt == b"justid" {
            justid = true;
        } else if opt == b"idle" && more > 0 {
            j += 1;
            let Some(v) = int_opt(c, j, "Invalid IDLE option argument for XCLAIM") else {
                return;
            };
            deliverytime = now.wrapping_sub(v);
        } else if opt == b"time" && more > 0 {
            j += 1;
            let Some(v) = int_opt(c, j, "Invalid TIME option argument for XCLAIM") else {
                return;
            };
            deliverytime = v;
        } else if opt == b"retrycount" && more > 0 {
            j += 1;
            let Some(v) = int_opt(c, j, "Invalid RETRYCOUNT option argument for XCLAIM") else {
                return;
            };
            retrycount = v;
        } else if opt == b"lastid" && more > 0 {
            j += 1;
            let Some(v) = parse_id(c, j, 0, true) else {
                return;
            };
            last_id = v;
        } else {
            c.out.error(&format!(
                "Unrecognized XCLAIM option '{}'",
                String::from_utf8_lossy(&c.argv[j])
            ));
            return;
        }
        j += 1;
    }
    c.flags |= cflags::PREVENT_PROP;
    let mut g = take_group(srv, db, &key, &gname).expect("group checked");
    let mut propagate_last_id = false;
    if last_id > g.last_id {
        g.last_id = last_id;
        propagate_last_id = true;
    }
    if deliverytime != -1 {
        if deliverytime < 0 || deliverytime > now {
            deliverytime = now;
        }
    } else {
        deliverytime = now;
    }
    let d = c.out.defer();
    let mut n = 0;
    let mut have_consumer = false;
    for (k, id) in ids.into_iter().enumerate() {
        // Propagated with the ID exactly as the client wrote it, as 7.0 does.
        let idb = c.argv[5 + k].clone();
        let exists = stream_ref(srv, db, &key).entry_exists(id);
        if !exists {
            if let Some(nack) = g.pel.get(&id).cloned() {
                srv.propagate(db, xclaim_argv(&key, &gname, &g, &idb, &nack));
                propagate_last_id = false;
                srv.dirty += 1;
                g.remove_nack(id);
            }
            continue;
        }
        let mut fresh = false;
        if force && !g.pel.contains_key(&id) {
            g.pel.insert(
                id,
                Nack {
                    delivery_time: now,
                    delivery_count: 1,
                    consumer: Vec::new(),
                },
            );
            fresh = true;
        }
        let Some(nack) = g.pel.get(&id) else {
            continue;
        };
        if !fresh && minidle != 0 && now.wrapping_sub(nack.delivery_time) < minidle {
            continue;
        }
        if !have_consumer {
            touch_or_create_consumer(srv, db, &key, &mut g, &cname);
            have_consumer = true;
        }
        let old = g.pel[&id].consumer.clone();
        if old != cname {
            if let Some(oc) = g.consumers.get_mut(&old) {
                oc.pel.remove(&id);
            }
        }
        let nack = g.pel.get_mut(&id).unwrap();
        nack.delivery_time = deliverytime;
        if retrycount >= 0 {
            nack.delivery_count = retrycount as u64;
        } else if !justid {
            nack.delivery_count += 1;
        }
        if old != cname {
            nack.consumer = cname.clone();
            g.consumers.get_mut(&cname).unwrap().pel.insert(id);
        }
        if justid {
            c.out.bulk(&id.to_bytes());
        } else {
            let fields = stream_ref(srv, db, &key).get(id).unwrap_or_default();
            reply_entry(c, id, &fields);
        }
        n += 1;
        srv.propagate(db, xclaim_argv(&key, &gname, &g, &idb, &g.pel[&id]));
        propagate_last_id = false;
        srv.dirty += 1;
    }
    if propagate_last_id {
        srv.propagate(db, setid_argv(&key, &gname, &g));
        srv.dirty += 1;
    }
    put_group(srv, db, &key, &gname, g);
    c.out.set_deferred_array(d, n);
}

fn xautoclaim_command(srv: &mut Server, c: &mut Client) {
    let db = c.db;
    let key = c.argv[1].clone();
    let gname = c.argv[2].clone();
    let cname = c.argv[3].clone();
    let Some(minidle) = util::parse_i64(&c.argv[4]) else {
        c.out.error("Invalid min-idle-time argument for XAUTOCLAIM");
        return;
    };
    let minidle = minidle.max(0);
    let Some((mut start, sx)) = parse_interval_id(c, 5, 0) else {
        return;
    };
    if sx {
        match start.incr() {
            Some(s) => start = s,
            None => {
                c.out.error("invalid start ID for the interval");
                return;
            }
        }
    }
    let mut count: i64 = 100;
    let mut justid = false;
    let mut j = 6;
    let argc = c.argv.len();
    while j < argc {
        let more = argc - 1 - j;
        if c.argv[j].eq_ignore_ascii_case(b"count") && more > 0 {
            let max_count = i64::MAX / 16;
            match util::parse_i64(&c.argv[j + 1]) {
                Some(v) if (1..=max_count).contains(&v) => count = v,
                _ => {
                    c.out.error("COUNT must be > 0");
                    return;
                }
            }
            j += 1;
        } else if c.argv[j].eq_ignore_ascii_case(b"justid") {
            justid = true;
        } else {
            c.out.error(errors::SYNTAX);
            return;
        }
        j += 1;
    }
    let kind = read_kind(srv, db, &key);
    if kind == Kind::Other {
        return c.out.error(WRONGTYPE);
    }
    if kind == Kind::Missing || !stream_ref(srv, db, &key).groups.contains_key(&gname) {
        return nogroup_error(c, &key, &gname);
    }
    c.flags |= cflags::PREVENT_PROP;
    let mut g = take_group(srv, db, &key, &gname).expect("group checked");
    let mut attempts = count.saturating_mul(10);
    let now = util::mstime();
    let mut deleted_ids = Vec::new();
    let mut have_consumer = false;
    let mut claimed: Vec<StreamId> = Vec::new();
    let mut next: Option<StreamId> = g.pel.range(start..).next().map(|(k, _)| *k);
    while attempts > 0 && count > 0 {
        let Some(id) = next else {
            break;
        };
        attempts -= 1;
        let exists = stream_ref(srv, db, &key).entry_exists(id);
        if !exists {
            let nack = g.pel[&id].clone();
            srv.propagate(db, xclaim_argv(&key, &gname, &g, &id.to_bytes(), &nack));
            srv.dirty += 1;
            g.remove_nack(id);
            deleted_ids.push(id);
            count -= 1;
            next = g.pel.range(id..).next().map(|(k, _)| *k);
            continue;
        }
        next = id
            .incr()
            .and_then(|s| g.pel.range(s..).next().map(|(k, _)| *k));
        if minidle != 0 && now.wrapping_sub(g.pel[&id].delivery_time) < minidle {
            continue;
        }
        if !have_consumer {
            touch_or_create_consumer(srv, db, &key, &mut g, &cname);
            have_consumer = true;
        }
        let old = g.pel[&id].consumer.clone();
        if old != cname {
            if let Some(oc) = g.consumers.get_mut(&old) {
                oc.pel.remove(&id);
            }
        }
        let nack = g.pel.get_mut(&id).unwrap();
        nack.delivery_time = now;
        if !justid {
            nack.delivery_count += 1;
        }
        if old != cname {
            nack.consumer = cname.clone();
            g.consumers.get_mut(&cname).unwrap().pel.insert(id);
        }
        claimed.push(id);
        count -= 1;
        srv.propagate(
            db,
            xclaim_argv(&key, &gname, &g, &id.to_bytes(), &g.pel[&id]),
        );
        srv.dirty += 1;
    }
    // The cursor for the next call: the entry after the last one examined.
    let end = next.unwrap_or(StreamId::MIN);
    put_group(srv, db, &key, &gname, g);
    c.out.array(3);
    c.out.bulk(&end.to_bytes());
    c.out.array(claimed.len());
    let s = stream_ref(srv, db, &key);
    for id in claimed {
        if justid {
            c.out.bulk(&id.to_bytes());
        } else {
            reply_entry(c, id, &s.get(id).unwrap_or_default());
        }
    }
    c.out.array(deleted_ids.len());
    for id in deleted_ids {
        c.out.bulk(&id.to_bytes());
    }
}

// ---- XINFO -------------------------------------------------------------------------------

const XINFO_HELP: &[&str] = &[
    "CONSUMERS <key> <groupname>",
    "    Show consumers of <groupname>.",
    "GROUPS <key>",
    "    Show the stream consumer groups.",
    "STREAM <key> [FULL [COUNT <count>]",
    "    Show information about the stream.",
];

fn reply_lag(c: &mut Client, s: &Stream, g: &Group) {
    match s.group_lag(g) {
        Some(v) => c.out.int(v),
        None => c.out.null(),
    }
}

fn reply_entries_read(c: &mut Client, g: &Group) {
    if g.entries_read != INVALID_ENTRIES_READ {
        c.out.int(g.entries_read);
    } else {
        c.out.null();
    }
}

fn xinfo_command(srv: &mut Server, c: &mut Client) {
    let opt = c.argv[1].to_ascii_lowercase();
    if opt == b"help" {
        if c.argv.len() != 2 {
            crate::commands::reply_subcommand_syntax_error(c);
            return;
        }
        crate::commands::reply_help(c, XINFO_HELP);
        return;
    } else if c.argv.len() < 3 {
        crate::commands::reply_subcommand_syntax_error(c);
        return;
    }
    let db = c.db;
    let key = c.argv[2].clone();
    match read_kind(srv, db, &key) {
        Kind::Missing => return c.out.error(errors::NO_SUCH_KEY),
        Kind::Other => return c.out.error(WRONGTYPE),
        Kind::Wanted => {}
    }
    let s = stream_ref(srv, db, &key);
    if opt == b"consumers" && c.argv.len() == 4 {
        let Some(g) = s.groups.get(&c.argv[3]) else {
            c.out.error(&format!(
                "-NOGROUP No such consumer group '{}' for key name '{}'",
                String::from_utf8_lossy(&c.argv[3]),
                String::from_utf8_lossy(&key)
            ));
            return;
        };
        let now = util::mstime();
        c.out.array(g.consumers.len());
        for (name, cons) in &g.consumers {
            c.out.map(3);
            c.out.bulk_str("name");
            c.out.bulk(name);
            c.out.bulk_str("pending");
            c.out.int(cons.pel.len() as i64);
            c.out.bulk_str("idle");
            c.out.int(now.wrapping_sub(cons.seen_time).max(0));
        }
    } else if opt == b"groups" && c.argv.len() == 3 {
        c.out.array(s.groups.len());
        for (name, g) in &s.groups {
            c.out.map(6);
            c.out.bulk_str("name");
            c.out.bulk(name);
            c.out.bulk_str("consumers");
            c.out.int(g.consumers.len() as i64);
            c.out.bulk_str("pending");
            c.out.int(g.pel.len() as i64);
            c.out.bulk_str("last-delivered-id");
            c.out.bulk(&g.last_id.to_bytes());
            c.out.bulk_str("entries-read");
            reply_entries_read(c, g);
            c.out.bulk_str("lag");
            reply_lag(c, s, g);
        }
    } else if opt == b"stream" {
        xinfo_stream(c, s);
    } else {
        crate::commands::reply_subcommand_syntax_error(c);
    }
}

fn xinfo_stream(c: &mut Client, s: &Stream) {
    let optc = c.argv.len() - 3;
    let mut full = true;
    let mut count: i64 = 10;
    if optc == 0 {
        full = false;
    } else {
        if (optc != 1 && optc != 3) || !c.argv[3].eq_ignore_ascii_case(b"full") {
            crate::commands::reply_subcommand_syntax_error(c);
            return;
        }
        if optc == 3 {
            if !c.argv[4].eq_ignore_ascii_case(b"count") {
                crate::commands::reply_subcommand_syntax_error(c);
                return;
            }
            let Some(v) = crate::commands::arg_i64(c, 5) else {
                return;
            };
            count = if v < 0 { 10 } else { v };
        }
    }
    let count = count as usize;
    c.out.map(if full { 9 } else { 10 });
    c.out.bulk_str("length");
    c.out.int(s.length as i64);
    c.out.bulk_str("radix-tree-keys");
    c.out.int(s.node_count() as i64);
    c.out.bulk_str("radix-tree-nodes");
    c.out.int(s.rax_nodes() as i64);
    c.out.bulk_str("last-generated-id");
    c.out.bulk(&s.last_id.to_bytes());
    c.out.bulk_str("max-deleted-entry-id");
    c.out.bulk(&s.max_deleted_entry_id.to_bytes());
    c.out.bulk_str("entries-added");
    c.out.int(s.entries_added as i64);
    c.out.bulk_str("recorded-first-entry-id");
    c.out.bulk(&s.first_id.to_bytes());
    if !full {
        c.out.bulk_str("groups");
        c.out.int(s.groups.len() as i64);
        c.out.bulk_str("first-entry");
        if reply_range(c, s, StreamId::MIN, StreamId::MAX, 1, false, true) == 0 {
            c.out.null();
        }
        c.out.bulk_str("last-entry");
        if reply_range(c, s, StreamId::MIN, StreamId::MAX, 1, true, true) == 0 {
            c.out.null();
        }
        return;
    }
    c.out.bulk_str("entries");
    reply_range(c, s, StreamId::MIN, StreamId::MAX, count, false, false);
    c.out.bulk_str("groups");
    c.out.array(s.groups.len());
    for (name, g) in &s.groups {
        c.out.map(7);
        c.out.bulk_str("name");
        c.out.bulk(name);
        c.out.bulk_str("last-delivered-id");
        c.out.bulk(&g.last_id.to_bytes());
        c.out.bulk_str("entries-read");
        reply_entries_read(c, g);
        c.out.bulk_str("lag");
        reply_lag(c, s, g);
        c.out.bulk_str("pel-count");
        c.out.int(g.pel.len() as i64);
        c.out.bulk_str("pending");
        let take = if count == 0 { usize::MAX } else { count };
        let pel: Vec<_> = g.pel.iter().take(take).collect();
        c.out.array(pel.len());
        for (id, nack) in pel {
            c.out.array(4);
            c.out.bulk(&id.to_bytes());
            c.out.bulk(&nack.consumer);
            c.out.int(nack.delivery_time);
            c.out.int(nack.delivery_count as i64);
        }
        c.out.bulk_str("consumers");
        c.out.array(g.consumers.len());
        for (cname, cons) in &g.consumers {
            c.out.map(4);
            c.out.bulk_str("name");
            c.out.bulk(cname);
            c.out.bulk_str("seen-time");
            c.out.int(cons.seen_time);
            c.out.bulk_str("pel-count");
            c.out.int(cons.pel.len() as i64);
            c.out.bulk_str("pending");
            let ids: Vec<_> = cons.pel.iter().take(take).collect();
            c.out.array(ids.len());
            for id in ids {
                let nack = &g.pel[id];
                c.out.array(3);
                c.out.bulk(&id.to_bytes());
                c.out.int(nack.delivery_time);
                c.out.int(nack.delivery_count as i64);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::commands::test_support::{run, setup};

    /// Propagation, checked against what redis-server 7.0.15 wrote to its AOF for the same
    /// commands (delivery times masked).
    #[test]
    fn propagation_matches_redis_aof() {
        let (mut srv, mut c) = setup();
        let mut log: Vec<String> = Vec::new();
        let mut go = |srv: &mut crate::server::Server, args: &[&str]| {
            let (_, prop) = run(srv, &mut c, args);
            for mut a in prop {
                if let Some(i) = a.iter().position(|x| x == "TIME") {
                    a[i + 1] = "T".into();
                }
                log.push(a.join(" "));
            }
        };
        go(&mut srv, &["xadd", "s", "1-1", "a", "1"]);
        go(&mut srv, &["xadd", "s", "2-*", "a", "2"]);
        go(&mut srv, &["xadd", "s", "5", "a", "1"]);
        go(&mut srv, &["xadd", "s", "6-0", "a", "1"]);
        go(&mut srv, &["xgroup", "create", "s", "g", "0"]);
        go(
            &mut srv,
            &[
                "xreadgroup",
                "group",
                "g",
                "alice",
                "count",
                "1",
                "streams",
                "s",
                ">",
            ],
        );
        go(
            &mut srv,
            &[
                "xreadgroup",
                "group",
                "g",
                "bob",
                "noack",
                "count",
                "1",
                "streams",
                "s",
                ">",
            ],
        );
        go(
            &mut srv,
            &["xreadgroup", "group", "g", "alice", "streams", "s", "0"],
        );
        go(&mut srv, &["xclaim", "s", "g", "carl", "0", "1-1"]);
        go(&mut srv, &["xdel", "s", "1-1"]);
        go(&mut srv, &["xautoclaim", "s", "g", "dan", "0", "-"]);
        go(
            &mut srv,
            &[
                "xreadgroup",
                "group",
                "g",
                "alice",
                "count",
                "1",
                "streams",
                "s",
                ">",
            ],
        );
        go(
            &mut srv,
            &[
                "xclaim", "s", "g", "ed", "0", "5-0", "2-0", "lastid", "10-0",
            ],
        );
        go(
            &mut srv,
            &["xclaim", "s", "g", "ed", "0", "8-0", "lastid", "11-0"],
        );
        go(
            &mut srv,
            &["xadd", "s", "MAXLEN", "~", "1", "7-0", "a", "1"],
        );
        go(&mut srv, &["config", "set", "stream-node-max-entries", "2"]);
        for i in 8..=12 {
            let id = format!("{i}-0");
            go(&mut srv, &["xadd", "s", &id, "a", "1"]);
        }
        go(&mut srv, &["xtrim", "s", "minid", "~", "11"]);
        go(&mut srv, &["xtrim", "s", "maxlen", "~", "2"]);
        go(
            &mut srv,
            &[
                "xreadgroup",
                "group",
                "g",
                "newc",
                "noack",
                "streams",
                "s",
                ">",
            ],
        );
        go(&mut srv, &["xgroup", "createconsumer", "s", "g", "zed"]);
        go(&mut srv, &["xgroup", "delconsumer", "s", "g", "zed"]);
        go(&mut srv, &["xsetid", "s", "100-0"]);
        let want = [
            "xadd s 1-1 a 1",
            "xadd s 2-0 a 2",
            "xadd s 5 a 1",
            "xadd s 6-0 a 1",
            "xgroup create s g 0",
            "XCLAIM s g alice 0 1-1 TIME T RETRYCOUNT 1 FORCE JUSTID LASTID 1-1",
            "MULTI",
            "XGROUP CREATECONSUMER s g bob",
            "XGROUP SETID s g 2-0 ENTRIESREAD 2",
            "EXEC",
            "XCLAIM s g carl 0 1-1 TIME T RETRYCOUNT 3 FORCE JUSTID LASTID 2-0",
            "xdel s 1-1",
            "XCLAIM s g carl 0 1-1 TIME T RETRYCOUNT 3 FORCE JUSTID LASTID 2-0",
            "XCLAIM s g alice 0 5-0 TIME T RETRYCOUNT 1 FORCE JUSTID LASTID 5-0",
            "XCLAIM s g ed 0 5-0 TIME T RETRYCOUNT 2 FORCE JUSTID LASTID 10-0",
            "XGROUP SETID s g 11-0 ENTRIESREAD 3",
            "xadd s MAXLEN = 4 7-0 a 1",
            "config set stream-node-max-entries 2",
            "xadd s 8-0 a 1",
            "xadd s 9-0 a 1",
            "xadd s 10-0 a 1",
            "xadd s 11-0 a 1",
            "xadd s 12-0 a 1",
            "xtrim s minid = 10-0",
            "MULTI",
            "XGROUP CREATECONSUMER s g newc",
            "XGROUP SETID s g 12-0 ENTRIESREAD 4",
            "EXEC",
            "xgroup createconsumer s g zed",
            "xgroup delconsumer s g zed",
            "xsetid s 100-0",
        ];
        let log: Vec<&str> = log
            .iter()
            .map(|s| s.as_str())
            .filter(|s| !s.starts_with("config "))
            .collect();
        let want: Vec<&str> = want
            .iter()
            .copied()
            .filter(|s| !s.starts_with("config "))
            .collect();
        assert_eq!(log, want);
    }
}
