//! Sorted set commands (Redis' t_zset.c): ZADD, ZINCRBY, ZREM, ZCARD, ZSCORE, ZMSCORE,
//! ZRANK, ZREVRANK, ZCOUNT, ZLEXCOUNT, the ZRANGE family and ZRANGESTORE, ZREMRANGEBY*,
//! ZPOPMIN/ZPOPMAX, ZMPOP, BZPOPMIN/BZPOPMAX/BZMPOP, ZRANDMEMBER, ZUNION/ZINTER/ZDIFF (and their STORE forms),
//! ZINTERCARD and ZSCAN.
//!
//! Replies follow 7.0 exactly, including RESP3's nested [member, score] pairs and the order in
//! which replies, keyspace events and propagation happen.

use std::collections::HashMap;

use crate::blocking::{BlockData, BlockState, BlockType};
use crate::client::{flags as cflags, Client};
use crate::commands::keyspace::scan_key_start;
use crate::commands::{errors, CmdProc, Kind};
use crate::config::table::notify;
use crate::server::Server;
use crate::types::zset::{AddFlags, AddOutcome, LexRange, Limits, ScoreRange, ZsetSkiplist};
use crate::types::{SetValue, Value, ZsetValue, WRONGTYPE};
use crate::util;

pub fn lookup(name: &str) -> Option<CmdProc> {
    Some(match name {
        "zadd" => zadd_command,
        "zincrby" => zincrby_command,
        "zrem" => zrem_command,
        "zcard" => zcard_command,
        "zscore" => zscore_command,
        "zmscore" => zmscore_command,
        "zrank" => zrank_command,
        "zrevrank" => zrevrank_command,
        "zcount" => zcount_command,
        "zlexcount" => zlexcount_command,
        "zrange" => zrange_command,
        "zrangestore" => zrangestore_command,
        "zrangebyscore" => zrangebyscore_command,
        "zrevrangebyscore" => zrevrangebyscore_command,
        "zrangebylex" => zrangebylex_command,
        "zrevrangebylex" => zrevrangebylex_command,
        "zrevrange" => zrevrange_command,
        "zremrangebyrank" => zremrangebyrank_command,
        "zremrangebyscore" => zremrangebyscore_command,
        "zremrangebylex" => zremrangebylex_command,
        "zpopmin" => zpopmin_command,
        "zpopmax" => zpopmax_command,
        "zmpop" => zmpop_command,
        "bzpopmin" => bzpopmin_command,
        "bzpopmax" => bzpopmax_command,
        "bzmpop" => bzmpop_command,
        "zrandmember" => zrandmember_command,
        "zunion" => zunion_command,
        "zinter" => zinter_command,
        "zdiff" => zdiff_command,
        "zunionstore" => zunionstore_command,
        "zinterstore" => zinterstore_command,
        "zdiffstore" => zdiffstore_command,
        "zintercard" => zintercard_command,
        "zscan" => zscan_command,
        _ => return None,
    })
}

const NAN_ERR: &str = "resulting score is not a number (NaN)";
const RANGE_NOT_FLOAT: &str = "min or max is not a float";
const RANGE_NOT_LEX: &str = "min or max not valid string range item";

pub fn limits(srv: &Server) -> Limits {
    Limits {
        entries: srv.config.zset_max_listpack_entries.max(0) as usize,
        value: srv.config.zset_max_listpack_value.max(0) as usize,
    }
}

fn read_kind(srv: &mut Server, db: usize, key: &[u8]) -> Kind {
    Kind::of(srv.lookup_read(db, key), |v| matches!(v, Value::Zset(_)))
}

fn write_kind(srv: &mut Server, db: usize, key: &[u8]) -> Kind {
    Kind::of(srv.lookup_write(db, key), |v| matches!(v, Value::Zset(_)))
}

fn zref<'a>(srv: &'a Server, db: usize, key: &[u8]) -> &'a ZsetValue {
    match srv.dbs[db].dict.get(key).map(|o| &o.value) {
        Some(Value::Zset(z)) => z,
        _ => unreachable!("checked to be a sorted set"),
    }
}

fn zmut<'a>(srv: &'a mut Server, db: usize, key: &[u8]) -> &'a mut ZsetValue {
    match srv.dbs[db].dict.get_mut(key).map(|o| &mut o.value) {
        Some(Value::Zset(z)) => z,
        _ => unreachable!("checked to be a sorted set"),
    }
}

/// Parses a score argument (Redis' `getDoubleFromObjectOrReply`).
fn arg_score(c: &mut Client, i: usize, msg: Option<&str>) -> Option<f64> {
    match util::parse_f64(&c.argv[i]) {
        Some(v) => Some(v),
        None => {
            c.out.error(msg.unwrap_or(errors::NOT_FLOAT));
            None
        }
    }
}

/// Parses an integer in [min, max] with one error text for both failures (Redis'
/// `getRangeLongFromObjectOrReply` with a message).
fn arg_range(c: &mut Client, i: usize, min: i64, max: i64, msg: &str) -> Option<i64> {
    match util::parse_i64(&c.argv[i]) {
        Some(v) if v >= min && v <= max => Some(v),
        _ => {
            c.out.error(msg);
            None
        }
    }
}

// ---- ZADD / ZINCRBY / ZREM -----------------------------------------------------------------

fn zadd_command(srv: &mut Server, c: &mut Client) {
    zadd_generic(srv, c, false);
}

fn zincrby_command(srv: &mut Server, c: &mut Client) {
    zadd_generic(srv, c, true);
}

pub(crate) fn zadd_generic(srv: &mut Server, c: &mut Client, incr_cmd: bool) {
    let mut f = AddFlags {
        incr: incr_cmd,
        ..Default::default()
    };
    let mut ch = false;
    let mut scoreidx = 2;
    while scoreidx < c.argv.len() {
        let o = &c.argv[scoreidx];
        if util::eq_ic(o, "nx") {
            f.nx = true;
        } else if util::eq_ic(o, "xx") {
            f.xx = true;
        } else if util::eq_ic(o, "ch") {
            ch = true;
        } else if util::eq_ic(o, "incr") {
            f.incr = true;
        } else if util::eq_ic(o, "gt") {
            f.gt = true;
        } else if util::eq_ic(o, "lt") {
            f.lt = true;
        } else {
            break;
        }
        scoreidx += 1;
    }
    let elements = c.argv.len() - scoreidx;
    if !elements.is_multiple_of(2) || elements == 0 {
        c.out.error(errors::SYNTAX);
        return;
    }
    let elements = elements / 2;
    if f.nx && f.xx {
        c.out
            .error("XX and NX options at the same time are not compatible");
        return;
    }
    if ((f.gt || f.lt) && f.nx) || (f.gt && f.lt) {
        c.out
            .error("GT, LT, and/or NX options at the same time are not compatible");
        return;
    }
    if f.incr && elements > 1 {
        c.out
            .error("INCR option supports a single increment-element pair");
        return;
    }
    // Every score is checked before anything changes: the command applies fully or not at all.
    let mut scores = Vec::with_capacity(elements);
    for j in 0..elements {
        let Some(s) = arg_score(c, scoreidx + j * 2, None) else {
            return;
        };
        scores.push(s);
    }
    let db = c.db;
    let key = std::mem::take(&mut c.argv[1]);
    let lim = limits(srv);
    let (mut added, mut updated, mut processed) = (0i64, 0i64, 0i64);
    let mut score = 0.0;
    let mut failed = false;
    match write_kind(srv, db, &key) {
        Kind::Other => {
            c.out.error(WRONGTYPE);
            c.argv[1] = key;
            return;
        }
        Kind::Missing if f.xx => {}
        k => {
            if k == Kind::Missing {
                let first = &c.argv[scoreidx + 1];
                let z = if lim.entries == 0 || lim.value < first.len() {
                    ZsetValue::new_skiplist()
                } else {
                    ZsetValue::new_listpack()
                };
                srv.db_add(db, &key, Value::Zset(Box::new(z)));
            }
            let z = zmut(srv, db, &key);
            for (j, &s) in scores.iter().enumerate() {
                score = s;
                match z.add(s, &c.argv[scoreidx + 1 + j * 2], f, lim) {
                    AddOutcome::Nan => {
                        failed = true;
                        break;
                    }
                    AddOutcome::Nop => {}
                    AddOutcome::Added(n) => {
                        added += 1;
                        processed += 1;
                        score = n;
                    }
                    AddOutcome::Updated(n) => {
                        updated += 1;
                        processed += 1;
                        score = n;
                    }
                    AddOutcome::Same(n) => {
                        processed += 1;
                        score = n;
                    }
                }
            }
        }
    }
    if failed {
        c.out.error(NAN_ERR);
    } else {
        srv.dirty += added + updated;
        if f.incr {
            if processed > 0 {
                c.out.double(score);
            } else {
                c.out.null();
            }
        } else {
            c.out.int(if ch { added + updated } else { added });
        }
    }
    if added > 0 || updated > 0 {
        srv.signal_modified_key(db, &key);
        srv.notify_keyspace_event(
            notify::ZSET,
            if f.incr { "zincr" } else { "zadd" },
            &key,
            db,
        );
    }
    c.argv[1] = key;
}

fn zrem_command(srv: &mut Server, c: &mut Client) {
    let db = c.db;
    let key = std::mem::take(&mut c.argv[1]);
    match write_kind(srv, db, &key) {
        Kind::Missing => c.out.int(0),
        Kind::Other => c.out.error(WRONGTYPE),
        Kind::Wanted => {
            let z = zmut(srv, db, &key);
            let mut deleted = 0;
            let mut emptied = false;
            for m in &c.argv[2..] {
                if z.remove(m) {
                    deleted += 1;
                }
                if z.is_empty() {
                    emptied = true;
                    break;
                }
            }
            if emptied {
                srv.db_delete(db, &key);
            }
            if deleted > 0 {
                srv.notify_keyspace_event(notify::ZSET, "zrem", &key, db);
                if emptied {
                    srv.notify_keyspace_event(notify::GENERIC, "del", &key, db);
                }
                srv.signal_modified_key(db, &key);
                srv.dirty += deleted;
            }
            c.out.int(deleted);
        }
    }
    c.argv[1] = key;
}

// ---- reads ------------------------------------------------------------------------------

fn zcard_command(srv: &mut Server, c: &mut Client) {
    let db = c.db;
    let key = std::mem::take(&mut c.argv[1]);
    match read_kind(srv, db, &key) {
        Kind::Missing => c.out.int(0),
        Kind::Other => c.out.error(WRONGTYPE),
        Kind::Wanted => c.out.int(zref(srv, db, &key).len() as i64),
    }
    c.argv[1] = key;
}

fn zscore_command(srv: &mut Server, c: &mut Client) {
    let db = c.db;
    let key = std::mem::take(&mut c.argv[1]);
    match read_kind(srv, db, &key) {
        Kind::Missing => c.out.null(),
        Kind::Other => c.out.error(WRONGTYPE),
        Kind::Wanted => match zref(srv, db, &key).score(&c.argv[2]) {
            Some(s) => c.out.double(s),
            None => c.out.null(),
        },
    }
    c.argv[1] = key;
}

fn zmscore_command(srv: &mut Server, c: &mut Client) {
    let db = c.db;
    let key = std::mem::take(&mut c.argv[1]);
    let kind = read_kind(srv, db, &key);
    if kind == Kind::Other {
        c.out.error(WRONGTYPE);
    } else {
        c.out.array(c.argv.len() - 2);
        for j in 2..c.argv.len() {
            let s = if kind == Kind::Wanted {
                zref(srv, db, &key).score(&c.argv[j])
            } else {
                None
            };
            match s {
                Some(s) => c.out.double(s),
                None => c.out.null(),
            }
        }
    }
    c.argv[1] = key;
}

fn zrank_generic(srv: &mut Server, c: &mut Client, rev: bool) {
    let db = c.db;
    let key = std::mem::take(&mut c.argv[1]);
    match read_kind(srv, db, &key) {
        Kind::Missing => c.out.null(),
        Kind::Other => c.out.error(WRONGTYPE),
        Kind::Wanted => match zref(srv, db, &key).rank(&c.argv[2], rev) {
            Some(r) => c.out.int(r as i64),
            None => c.out.null(),
        },
    }
    c.argv[1] = key;
}

fn zrank_command(srv: &mut Server, c: &mut Client) {
    zrank_generic(srv, c, false);
}

fn zrevrank_command(srv: &mut Server, c: &mut Client) {
    zrank_generic(srv, c, true);
}

fn zcount_command(srv: &mut Server, c: &mut Client) {
    let Some(r) = ScoreRange::parse(&c.argv[2], &c.argv[3]) else {
        c.out.error(RANGE_NOT_FLOAT);
        return;
    };
    let db = c.db;
    let key = c.argv[1].clone();
    match read_kind(srv, db, &key) {
        Kind::Missing => c.out.int(0),
        Kind::Other => c.out.error(WRONGTYPE),
        Kind::Wanted => c.out.int(zref(srv, db, &key).count_in_score(&r) as i64),
    }
}

fn zlexcount_command(srv: &mut Server, c: &mut Client) {
    let Some(r) = LexRange::parse(&c.argv[2], &c.argv[3]) else {
        c.out.error(RANGE_NOT_LEX);
        return;
    };
    let db = c.db;
    let key = c.argv[1].clone();
    match read_kind(srv, db, &key) {
        Kind::Missing => c.out.int(0),
        Kind::Other => c.out.error(WRONGTYPE),
        Kind::Wanted => c.out.int(zref(srv, db, &key).count_in_lex(&r) as i64),
    }
}

// ---- the ZRANGE family -----------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum RangeType {
    Auto,
    Rank,
    Score,
    Lex,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Auto,
    Forward,
    Reverse,
}

/// Where range results go: to the client, or into a sorted set for ZRANGESTORE.
enum Sink {
    Client {
        withscores: bool,
        deferred: Option<crate::resp::reply::Deferred>,
    },
    Store {
        dst: Vec<u8>,
        z: ZsetValue,
    },
}

impl Sink {
    /// Starts the result; `len` is the known result size, if any (Redis' beginResultEmission).
    fn begin(&mut self, c: &mut Client, len: Option<usize>, lim: Limits) {
        match self {
            Sink::Client {
                withscores,
                deferred,
            } => match len {
                Some(n) => {
                    c.out.array(if *withscores && c.out.resp == 2 {
                        n * 2
                    } else {
                        n
                    });
                }
                None => *deferred = Some(c.out.defer()),
            },
            Sink::Store { z, .. } => {
                *z = match len {
                    Some(n) if n > lim.entries => ZsetValue::new_skiplist(),
                    _ => ZsetValue::new_listpack(),
                };
            }
        }
    }

    fn emit(&mut self, c: &mut Client, m: &[u8], s: f64, lim: Limits) {
        match self {
            Sink::Client { withscores, .. } => {
                if *withscores && c.out.resp > 2 {
                    c.out.array(2);
                }
                c.out.bulk(m);
                if *withscores {
                    c.out.double(s);
                }
            }
            Sink::Store { z, .. } => {
                z.add(s, m, AddFlags::default(), lim);
            }
        }
    }

    fn finish(self, srv: &mut Server, c: &mut Client, count: usize) {
        match self {
            Sink::Client {
                withscores,
                deferred,
            } => {
                if let Some(d) = deferred {
                    let n = if withscores && c.out.resp == 2 {
                        count * 2
                    } else {
                        count
                    };
                    c.out.set_deferred_array(d, n);
                }
            }
            Sink::Store { dst, z } => {
                let db = c.db;
                if count > 0 {
                    srv.set_key(db, &dst, Value::Zset(Box::new(z)), false);
                    c.out.int(count as i64);
                    srv.flush_self_pushes(c);
                    srv.notify_keyspace_event(notify::ZSET, "zrangestore", &dst, db);
                    srv.dirty += 1;
                } else {
                    c.out.int(0);
                    srv.flush_self_pushes(c);
                    if srv.db_delete(db, &dst) {
                        srv.signal_modified_key(db, &dst);
                        srv.notify_keyspace_event(notify::GENERIC, "del", &dst, db);
                        srv.dirty += 1;
                    }
                }
            }
        }
    }
}

fn zrange_command(srv: &mut Server, c: &mut Client) {
    zrange_generic(srv, c, 1, false, RangeType::Auto, Direction::Auto);
}

fn zrangestore_command(srv: &mut Server, c: &mut Client) {
    zrange_generic(srv, c, 2, true, RangeType::Auto, Direction::Auto);
}

fn zrangebyscore_command(srv: &mut Server, c: &mut Client) {
    zrange_generic(srv, c, 1, false, RangeType::Score, Direction::Forward);
}

fn zrevrangebyscore_command(srv: &mut Server, c: &mut Client) {
    zrange_generic(srv, c, 1, false, RangeType::Score, Direction::Reverse);
}

fn zrangebylex_command(srv: &mut Server, c: &mut Client) {
    zrange_generic(srv, c, 1, false, RangeType::Lex, Direction::Forward);
}

fn zrevrangebylex_command(srv: &mut Server, c: &mut Client) {
    zrange_generic(srv, c, 1, false, RangeType::Lex, Direction::Reverse);
}

fn zrevrange_command(srv: &mut Server, c: &mut Client) {
    zrange_generic(srv, c, 1, false, RangeType::Rank, Direction::Reverse);
}

/// ZRANGE and its relatives: `<src> <min> <max> [BYSCORE|BYLEX] [REV] [WITHSCORES]
/// [LIMIT offset count]` starting at `argc_start` (Redis' `zrangeGenericCommand`).
fn zrange_generic(
    srv: &mut Server,
    c: &mut Client,
    argc_start: usize,
    store: bool,
    mut rangetype: RangeType,
    mut direction: Direction,
) {
    let mut minidx = argc_start + 1;
    let mut maxidx = argc_start + 2;
    let mut withscores = false;
    let mut offset: i64 = 0;
    let mut limit: i64 = -1;
    let mut j = argc_start + 3;
    while j < c.argv.len() {
        let left = c.argv.len() - j - 1;
        let o = &c.argv[j];
        if !store && util::eq_ic(o, "withscores") {
            withscores = true;
        } else if util::eq_ic(o, "limit") && left >= 2 {
            let Some(off) = crate::commands::arg_i64(c, j + 1) else {
                return;
            };
            let Some(lim) = crate::commands::arg_i64(c, j + 2) else {
                return;
            };
            offset = off;
            limit = lim;
            j += 2;
        } else if direction == Direction::Auto && util::eq_ic(o, "rev") {
            direction = Direction::Reverse;
        } else if rangetype == RangeType::Auto && util::eq_ic(o, "bylex") {
            rangetype = RangeType::Lex;
        } else if rangetype == RangeType::Auto && util::eq_ic(o, "byscore") {
            rangetype = RangeType::Score;
        } else {
            c.out.error(errors::SYNTAX);
            return;
        }
        j += 1;
    }
    if direction == Direction::Auto {
        direction = Direction::Forward;
    }
    if rangetype == RangeType::Auto {
        rangetype = RangeType::Rank;
    }
    if limit != -1 && rangetype == RangeType::Rank {
        c.out.error(
            "syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        );
        return;
    }
    if withscores && rangetype == RangeType::Lex {
        c.out
            .error("syntax error, WITHSCORES not supported in combination with BYLEX");
        return;
    }
    let rev = direction == Direction::Reverse;
    if rev && rangetype != RangeType::Rank {
        std::mem::swap(&mut minidx, &mut maxidx);
    }

    enum Parsed {
        Rank(i64, i64),
        Score(ScoreRange),
        Lex(LexRange),
    }
    let parsed = match rangetype {
        RangeType::Score => match ScoreRange::parse(&c.argv[minidx], &c.argv[maxidx]) {
            Some(r) => Parsed::Score(r),
            None => {
                c.out.error(RANGE_NOT_FLOAT);
                return;
            }
        },
        RangeType::Lex => match LexRange::parse(&c.argv[minidx], &c.argv[maxidx]) {
            Some(r) => Parsed::Lex(r),
            None => {
                c.out.error(RANGE_NOT_LEX);
                return;
            }
        },
        _ => {
            let Some(s) = crate::commands::arg_i64(c, minidx) else {
                return;
            };
            let Some(e) = crate::commands::arg_i64(c, maxidx) else {
                return;
            };
            Parsed::Rank(s, e)
        }
    };

    let lim = limits(srv);
    let mut sink = if store {
        Sink::Store {
            dst: c.argv[1].clone(),
            z: ZsetValue::new_listpack(),
        }
    } else {
        Sink::Client {
            withscores,
            deferred: None,
        }
    };
    let db = c.db;
    let key = c.argv[argc_start].clone();
    match read_kind(srv, db, &key) {
        Kind::Missing => {
            if store {
                sink.begin(c, None, lim);
                sink.finish(srv, c, 0);
            } else {
                c.out.array(0);
            }
            return;
        }
        Kind::Other => {
            c.out.error(WRONGTYPE);
            return;
        }
        Kind::Wanted => {}
    }
    let z = zref(srv, db, &key);
    let count = match parsed {
        Parsed::Rank(mut start, mut end) => {
            let llen = z.len() as i64;
            if start < 0 {
                start += llen;
            }
            if end < 0 {
                end += llen;
            }
            if start < 0 {
                start = 0;
            }
            if start > end || start >= llen {
                sink.begin(c, Some(0), lim);
                0
            } else {
                if end >= llen {
                    end = llen - 1;
                }
                let n = (end - start + 1) as usize;
                sink.begin(c, Some(n), lim);
                z.for_rank_range(start as usize, end as usize, rev, |m, s| {
                    sink.emit(c, m, s, lim)
                });
                n
            }
        }
        // A reply's length is counted first rather than patched in afterwards: a deferred
        // header costs an extra reply buffer per call, which shows on pipelined range reads.
        Parsed::Score(r) => {
            if offset > 0 && offset >= z.len() as i64 {
                sink.begin(c, Some(0), lim);
                0
            } else {
                let len = match sink {
                    Sink::Client { .. } => {
                        Some(z.for_score_range(&r, offset, limit, rev, |_, _| {}))
                    }
                    Sink::Store { .. } => None,
                };
                sink.begin(c, len, lim);
                z.for_score_range(&r, offset, limit, rev, |m, s| sink.emit(c, m, s, lim))
            }
        }
        Parsed::Lex(r) => {
            if offset > 0 && offset >= z.len() as i64 {
                sink.begin(c, Some(0), lim);
                0
            } else {
                let len = match sink {
                    Sink::Client { .. } => Some(z.for_lex_range(&r, offset, limit, rev, |_, _| {})),
                    Sink::Store { .. } => None,
                };
                sink.begin(c, len, lim);
                z.for_lex_range(&r, offset, limit, rev, |m, s| sink.emit(c, m, s, lim))
            }
        }
    };
    sink.finish(srv, c, count);
}

// ---- ZREMRANGEBY* ----------------------------------------------------------------------

fn zremrange_generic(srv: &mut Server, c: &mut Client, rangetype: RangeType) {
    enum Parsed {
        Rank(i64, i64),
        Score(ScoreRange),
        Lex(LexRange),
    }
    let (parsed, event) = match rangetype {
        RangeType::Score => match ScoreRange::parse(&c.argv[2], &c.argv[3]) {
            Some(r) => (Parsed::Score(r), "zremrangebyscore"),
            None => {
                c.out.error(RANGE_NOT_FLOAT);
                return;
            }
        },
        RangeType::Lex => match LexRange::parse(&c.argv[2], &c.argv[3]) {
            Some(r) => (Parsed::Lex(r), "zremrangebylex"),
            None => {
                c.out.error(RANGE_NOT_LEX);
                return;
            }
        },
        _ => {
            let Some(s) = crate::commands::arg_i64(c, 2) else {
                return;
            };
            let Some(e) = crate::commands::arg_i64(c, 3) else {
                return;
            };
            (Parsed::Rank(s, e), "zremrangebyrank")
        }
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
    let z = zmut(srv, db, &key);
    let deleted = match parsed {
        Parsed::Rank(mut start, mut end) => {
            let llen = z.len() as i64;
            if start < 0 {
                start += llen;
            }
            if end < 0 {
                end += llen;
            }
            if start < 0 {
                start = 0;
            }
            if start > end || start >= llen {
                c.out.int(0);
                return;
            }
            if end >= llen {
                end = llen - 1;
            }
            z.remove_range_by_rank(start as usize, end as usize)
        }
        Parsed::Score(r) => z.remove_range_by_score(&r),
        Parsed::Lex(r) => z.remove_range_by_lex(&r),
    };
    let emptied = z.is_empty();
    if emptied {
        srv.db_delete(db, &key);
    }
    if deleted > 0 {
        srv.signal_modified_key(db, &key);
        srv.notify_keyspace_event(notify::ZSET, event, &key, db);
        if emptied {
            srv.notify_keyspace_event(notify::GENERIC, "del", &key, db);
        }
    }
    srv.dirty += deleted as i64;
    c.out.int(deleted as i64);
}

fn zremrangebyrank_command(srv: &mut Server, c: &mut Client) {
    zremrange_generic(srv, c, RangeType::Rank);
}

fn zremrangebyscore_command(srv: &mut Server, c: &mut Client) {
    zremrange_generic(srv, c, RangeType::Score);
}

fn zremrangebylex_command(srv: &mut Server, c: &mut Client) {
    zremrange_generic(srv, c, RangeType::Lex);
}

// ---- ZPOP / ZMPOP --------------------------------------------------------------------------

/// How a pop reply is shaped (Redis' `genericZpopCommand` arguments).
#[derive(Clone, Copy)]
pub struct PopShape {
    /// Name the key in the reply (BZPOP*, ZMPOP, BZMPOP).
    pub emitkey: bool,
    /// [member, score] pairs as nested arrays.
    pub nested: bool,
    /// Null array instead of an empty array when nothing could be popped.
    pub nil_when_empty: bool,
}

/// Pops up to `count` (-1: a single plain pop) members from the first existing key of
/// `keys`. Returns the key popped from and how many were popped, for propagation.
pub fn generic_zpop(
    srv: &mut Server,
    c: &mut Client,
    keys: &[Vec<u8>],
    max: bool,
    count: i64,
    shape: PopShape,
) -> Option<(Vec<u8>, usize)> {
    let db = c.db;
    let mut found: Option<Vec<u8>> = None;
    for k in keys {
        match write_kind(srv, db, k) {
            Kind::Missing => continue,
            Kind::Other => {
                c.out.error(WRONGTYPE);
                return None;
            }
            Kind::Wanted => {
                found = Some(k.clone());
                break;
            }
        }
    }
    let Some(key) = found else {
        if shape.nil_when_empty {
            c.out.null_array();
        } else {
            c.out.array(0);
        }
        return None;
    };
    if count == 0 {
        c.out.array(0);
        return None;
    }
    let count = if count == -1 { 1 } else { count as usize };
    let llen = zref(srv, db, &key).len();
    let rangelen = count.min(llen);
    match (shape.nested, shape.emitkey) {
        (false, false) => c.out.array(rangelen * 2),
        (true, false) => c.out.array(rangelen),
        (false, true) => {
            c.out.array(rangelen * 2 + 1);
            c.out.bulk(&key);
        }
        (true, true) => {
            c.out.array(2);
            c.out.bulk(&key);
            c.out.array(rangelen);
        }
    }
    for i in 0..rangelen {
        let z = zmut(srv, db, &key);
        let (m, s) = z.peek(max).expect("not empty");
        z.remove(&m);
        srv.dirty += 1;
        if i == 0 {
            srv.notify_keyspace_event(
                notify::ZSET,
                if max { "zpopmax" } else { "zpopmin" },
                &key,
                db,
            );
            srv.signal_modified_key(db, &key);
        }
        if shape.nested {
            c.out.array(2);
        }
        c.out.bulk(&m);
        c.out.double(s);
    }
    if zref(srv, db, &key).is_empty() {
        srv.db_delete(db, &key);
        srv.notify_keyspace_event(notify::GENERIC, "del", &key, db);
    }
    Some((key, rangelen))
}

fn zpop_minmax(srv: &mut Server, c: &mut Client, max: bool) {
    if c.argv.len() > 3 {
        c.out.error(errors::SYNTAX);
        return;
    }
    let mut count = -1;
    if c.argv.len() == 3 {
        match util::parse_i64(&c.argv[2]) {
            Some(v) if v >= 0 => count = v,
            _ => {
                c.out.error("value is out of range, must be positive");
                return;
            }
        }
    }
    let nested = c.out.resp > 2 && count != -1;
    let keys = vec![c.argv[1].clone()];
    generic_zpop(
        srv,
        c,
        &keys,
        max,
        count,
        PopShape {
            emitkey: false,
            nested,
            nil_when_empty: false,
        },
    );
}

fn zpopmin_command(srv: &mut Server, c: &mut Client) {
    zpop_minmax(srv, c, false);
}

fn zpopmax_command(srv: &mut Server, c: &mut Client) {
    zpop_minmax(srv, c, true);
}

/// Parses `numkeys key... MIN|MAX [COUNT n]` from `numkeys_idx` (ZMPOP and BZMPOP):
/// the keys, whether MAX, and the count.
pub fn parse_mpop(c: &mut Client, numkeys_idx: usize) -> Option<(Vec<Vec<u8>>, bool, i64)> {
    let numkeys = arg_range(
        c,
        numkeys_idx,
        1,
        i64::MAX,
        "numkeys should be greater than 0",
    )? as usize;
    let where_idx = numkeys_idx.saturating_add(numkeys).saturating_add(1);
    if where_idx >= c.argv.len() {
        c.out.error(errors::SYNTAX);
        return None;
    }
    let max = if util::eq_ic(&c.argv[where_idx], "min") {
        false
    } else if util::eq_ic(&c.argv[where_idx], "max") {
        true
    } else {
        c.out.error(errors::SYNTAX);
        return None;
    };
    let mut count = -1;
    let mut j = where_idx + 1;
    while j < c.argv.len() {
        let more = c.argv.len() - 1 - j;
        if count == -1 && util::eq_ic(&c.argv[j], "count") && more > 0 {
            j += 1;
            count = arg_range(c, j, 1, i64::MAX, "count should be greater than 0")?;
        } else {
            c.out.error(errors::SYNTAX);
            return None;
        }
        j += 1;
    }
    if count == -1 {
        count = 1;
    }
    Some((
        c.argv[numkeys_idx + 1..numkeys_idx + 1 + numkeys].to_vec(),
        max,
        count,
    ))
}

/// The command replicas see for a pop: ZPOPMIN/ZPOPMAX of what was taken.
pub fn pop_propagation(key: Vec<u8>, max: bool, count: Option<usize>) -> Vec<Vec<u8>> {
    let name = if max {
        b"ZPOPMAX".to_vec()
    } else {
        b"ZPOPMIN".to_vec()
    };
    let mut v = vec![name, key];
    if let Some(n) = count {
        v.push(n.to_string().into_bytes());
    }
    v
}

fn zmpop_command(srv: &mut Server, c: &mut Client) {
    let Some((keys, max, count)) = parse_mpop(c, 1) else {
        return;
    };
    let shape = PopShape {
        emitkey: true,
        nested: true,
        nil_when_empty: true,
    };
    if let Some((key, n)) = generic_zpop(srv, c, &keys, max, count, shape) {
        // Replicas get a ZPOPMIN/ZPOPMAX of the one key popped from.
        c.propagate_argv = Some(pop_propagation(key, max, Some(n)));
    }
}

// ---- blocking pops ---------------------------------------------------------------------

/// BZPOPMIN/BZPOPMAX/BZMPOP: pops at once from the first non-empty sorted set, otherwise
/// blocks (Redis' `blockingGenericZpopCommand`). `count` is None for BZPOPMIN/BZPOPMAX.
fn blocking_zpop_generic(
    srv: &mut Server,
    c: &mut Client,
    keys: Vec<Vec<u8>>,
    max: bool,
    timeout_idx: usize,
    count: Option<usize>,
) {
    let Some(timeout) = crate::blocking::parse_timeout(c, timeout_idx, srv.now_ms()) else {
        return;
    };
    let db = c.db;
    let mpop = count.is_some();
    for key in &keys {
        match write_kind(srv, db, key) {
            Kind::Missing => continue,
            Kind::Other => {
                c.out.error(WRONGTYPE);
                return;
            }
            Kind::Wanted => {}
        }
        if zref(srv, db, key).is_empty() {
            continue;
        }
        let shape = PopShape {
            emitkey: true,
            nested: mpop,
            nil_when_empty: mpop,
        };
        let n = count.map_or(-1, |n| n as i64);
        if let Some((k, popped)) = generic_zpop(srv, c, std::slice::from_ref(key), max, n, shape) {
            // Replicas see the non-blocking pop it amounts to.
            c.propagate_argv = Some(pop_propagation(k, max, count.map(|_| popped)));
        }
        return;
    }
    // Inside MULTI or a script a command can't block: it times out at once.
    if c.has(cflags::DENY_BLOCKING) {
        c.out.null_array();
        return;
    }
    srv.block_for_keys(
        c,
        BlockType::Zset,
        &keys,
        timeout,
        BlockData::Zset { max, count },
    );
}

fn bzpopmin_command(srv: &mut Server, c: &mut Client) {
    let n = c.argv.len();
    let keys = c.argv[1..n - 1].to_vec();
    blocking_zpop_generic(srv, c, keys, false, n - 1, None);
}

fn bzpopmax_command(srv: &mut Server, c: &mut Client) {
    let n = c.argv.len();
    let keys = c.argv[1..n - 1].to_vec();
    blocking_zpop_generic(srv, c, keys, true, n - 1, None);
}

fn bzmpop_command(srv: &mut Server, c: &mut Client) {
    let Some((keys, max, count)) = parse_mpop(c, 2) else {
        return;
    };
    blocking_zpop_generic(srv, c, keys, max, 1, Some(count as usize));
}

/// Serves a client blocked by BZPOPMIN/BZPOPMAX/BZMPOP from `key`, now a non-empty sorted set
/// (Redis' `serveClientsBlockedOnSortedSetKey`): the pop is replied and propagated as
/// ZPOPMIN/ZPOPMAX.
pub fn serve_blocked_client(srv: &mut Server, c: &mut Client, st: &BlockState, key: &[u8]) -> bool {
    let BlockData::Zset { max, count } = st.data else {
        return false;
    };
    let mpop = count.is_some();
    let shape = PopShape {
        emitkey: true,
        nested: mpop,
        nil_when_empty: mpop,
    };
    let n = count.map_or(-1, |n| n as i64);
    let keys = [key.to_vec()];
    if let Some((k, popped)) = generic_zpop(srv, c, &keys, max, n, shape) {
        srv.propagate(st.db, pop_propagation(k, max, count.map(|_| popped)));
    }
    true
}

// ---- ZRANDMEMBER ---------------------------------------------------------------------------

/// Above a third of the set, ZRANDMEMBER copies the set and removes random members instead
/// of drawing distinct ones (Redis' `ZRANDMEMBER_SUB_STRATEGY_MUL`).
const ZRANDMEMBER_SUB_STRATEGY_MUL: usize = 3;

fn zrandmember_command(srv: &mut Server, c: &mut Client) {
    if c.argv.len() >= 3 {
        let l = match util::parse_i64(&c.argv[2]) {
            None => {
                c.out.error(errors::NOT_INTEGER);
                return;
            }
            Some(i64::MIN) => {
                c.out.error(&format!(
                    "value is out of range, value must between {} and {}",
                    -i64::MAX,
                    i64::MAX
                ));
                return;
            }
            Some(l) => l,
        };
        let mut withscores = false;
        if c.argv.len() > 4 || (c.argv.len() == 4 && !util::eq_ic(&c.argv[3], "withscores")) {
            c.out.error(errors::SYNTAX);
            return;
        } else if c.argv.len() == 4 {
            withscores = true;
            if !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&l) {
                c.out.error("value is out of range");
                return;
            }
        }
        zrandmember_with_count(srv, c, l, withscores);
        return;
    }
    let db = c.db;
    let key = c.argv[1].clone();
    match read_kind(srv, db, &key) {
        Kind::Missing => c.out.null(),
        Kind::Other => c.out.error(WRONGTYPE),
        Kind::Wanted => {
            let rng = &mut srv.rng;
            let z = match srv.dbs[db].dict.get(&key[..]).map(|o| &o.value) {
                Some(Value::Zset(z)) => z,
                _ => unreachable!(),
            };
            let (m, _) = z.random(rng).expect("not empty");
            c.out.bulk(&m);
        }
    }
}

fn reply_pair(c: &mut Client, m: &[u8], s: f64, withscores: bool) {
    if withscores && c.out.resp > 2 {
        c.out.array(2);
    }
    c.out.bulk(m);
    if withscores {
        c.out.double(s);
    }
}

fn zrandmember_with_count(srv: &mut Server, c: &mut Client, l: i64, withscores: bool) {
    let db = c.db;
    let key = c.argv[1].clone();
    match read_kind(srv, db, &key) {
        Kind::Missing => {
            c.out.array(0);
            return;
        }
        Kind::Other => {
            c.out.error(WRONGTYPE);
            return;
        }
        Kind::Wanted => {}
    }
    let (count, uniq) = if l >= 0 {
        (l as usize, true)
    } else {
        (l.unsigned_abs() as usize, false)
    };
    if count == 0 {
        c.out.array(0);
        return;
    }
    let flat = withscores && c.out.resp == 2;
    // Repetitions allowed (or one member): independent draws. A huge count stops once the
    // reply got the client closed for its output buffer limit, as in Redis.
    if !uniq || count == 1 {
        c.out.array(if flat { count * 2 } else { count });
        let mut left = count;
        while left > 0 {
            let chunk = left.min(1000);
            let rng = &mut srv.rng;
            let z = match srv.dbs[db].dict.get(&key[..]).map(|o| &o.value) {
                Some(Value::Zset(z)) => z,
                _ => unreachable!(),
            };
            for _ in 0..chunk {
                let (m, s) = z.random(rng).expect("not empty");
                reply_pair(c, &m, s, withscores);
            }
            left -= chunk;
            srv.check_output_buffer_limits(c);
            if c.has(cflags::CLOSE_ASAP) {
                break;
            }
        }
        return;
    }
    let rng = &mut srv.rng;
    let z = match srv.dbs[db].dict.get(&key[..]).map(|o| &o.value) {
        Some(Value::Zset(z)) => z,
        _ => unreachable!(),
    };
    let size = z.len();
    let n = count.min(size);
    c.out.array(if flat { n * 2 } else { n });
    // The whole set.
    if count >= size {
        // Redis walks a sorted set from its tail here (its union/intersection iterator).
        z.for_rank_range(0, size - 1, true, |m, s| reply_pair(c, m, s, withscores));
        return;
    }
    if count * ZRANDMEMBER_SUB_STRATEGY_MUL > size {
        // Close to the whole set: copy it, then drop random members until count remain.
        let mut d: crate::db::Dict<Vec<u8>, f64> = crate::db::Dict::new();
        z.for_each(|m, s| d.insert_new(m.to_vec(), s));
        while d.len() > count {
            let k = crate::types::set::fair_random(&d, rng)
                .cloned()
                .expect("not empty");
            d.remove(&k);
        }
        for (m, s) in d.iter() {
            reply_pair(c, m, *s, withscores);
        }
    } else {
        // Far from the whole set: draw until count distinct members were seen, replying
        // each as it is first drawn.
        let mut seen: std::collections::HashSet<Vec<u8>> = Default::default();
        while seen.len() < count {
            let (m, s) = z.random(rng).expect("not empty");
            if seen.insert(m.clone()) {
                reply_pair(c, &m, s, withscores);
            }
        }
    }
}

// ---- ZUNION / ZINTER / ZDIFF -----------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum SetOp {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

fn aggregate(target: &mut f64, val: f64, a: Aggregate) {
    match a {
        Aggregate::Sum => {
            *target += val;
            // inf + -inf: Redis settles on 0 rather than NaN.
            if target.is_nan() {
                *target = 0.0;
            }
        }
        Aggregate::Min => {
            if val < *target {
                *target = val
            }
        }
        Aggregate::Max => {
            if val > *target {
                *target = val
            }
        }
    }
}

/// An input of ZUNION/ZINTER/ZDIFF: a sorted set, or a plain set whose members score 1.
enum Src<'a> {
    Missing,
    Zset(&'a ZsetValue),
    Set(&'a SetValue),
}

impl Src<'_> {
    fn len(&self) -> usize {
        match self {
            Src::Missing => 0,
            Src::Zset(z) => z.len(),
            Src::Set(s) => s.len(),
        }
    }

    fn elements(&self) -> Vec<(Vec<u8>, f64)> {
        match self {
            Src::Missing => Vec::new(),
            Src::Zset(z) => z.to_vec(),
            Src::Set(s) => s.member_bytes().into_iter().map(|m| (m, 1.0)).collect(),
        }
    }

    fn score(&self, m: &[u8]) -> Option<f64> {
        match self {
            Src::Missing => None,
            Src::Zset(z) => z.score(m),
            Src::Set(s) => s.contains(m).then_some(1.0),
        }
    }
}

fn zunion_command(srv: &mut Server, c: &mut Client) {
    zset_op_generic(srv, c, None, 1, SetOp::Union, false);
}

fn zinter_command(srv: &mut Server, c: &mut Client) {
    zset_op_generic(srv, c, None, 1, SetOp::Inter, false);
}

fn zdiff_command(srv: &mut Server, c: &mut Client) {
    zset_op_generic(srv, c, None, 1, SetOp::Diff, false);
}

fn zunionstore_command(srv: &mut Server, c: &mut Client) {
    let dst = c.argv[1].clone();
    zset_op_generic(srv, c, Some(dst), 2, SetOp::Union, false);
}

fn zinterstore_command(srv: &mut Server, c: &mut Client) {
    let dst = c.argv[1].clone();
    zset_op_generic(srv, c, Some(dst), 2, SetOp::Inter, false);
}

fn zdiffstore_command(srv: &mut Server, c: &mut Client) {
    let dst = c.argv[1].clone();
    zset_op_generic(srv, c, Some(dst), 2, SetOp::Diff, false);
}

fn zintercard_command(srv: &mut Server, c: &mut Client) {
    zset_op_generic(srv, c, None, 1, SetOp::Inter, true);
}

/// Redis' `zunionInterDiffGenericCommand`.
fn zset_op_generic(
    srv: &mut Server,
    c: &mut Client,
    dst: Option<Vec<u8>>,
    numkeys_idx: usize,
    op: SetOp,
    card_only: bool,
) {
    let Some(setnum) = crate::commands::arg_i64(c, numkeys_idx) else {
        return;
    };
    if setnum < 1 {
        let name = String::from_utf8_lossy(&c.argv[0]).to_lowercase();
        c.out.error(&format!(
            "at least 1 input key is needed for '{}' command",
            name
        ));
        return;
    }
    if setnum > (c.argv.len() - (numkeys_idx + 1)) as i64 {
        c.out.error(errors::SYNTAX);
        return;
    }
    let setnum = setnum as usize;
    let db = c.db;
    let keys: Vec<Vec<u8>> = c.argv[numkeys_idx + 1..numkeys_idx + 1 + setnum].to_vec();
    for k in &keys {
        match srv.lookup_read(db, k).map(|o| &o.value) {
            None | Some(Value::Zset(_)) | Some(Value::Set(_)) => {}
            Some(_) => {
                c.out.error(WRONGTYPE);
                return;
            }
        }
    }
    let mut weights = vec![1.0f64; setnum];
    let mut agg = Aggregate::Sum;
    let mut withscores = false;
    let mut limit: usize = 0;
    let mut j = numkeys_idx + 1 + setnum;
    while j < c.argv.len() {
        let remaining = c.argv.len() - j;
        let o = &c.argv[j];
        if op != SetOp::Diff && !card_only && remaining > setnum && util::eq_ic(o, "weights") {
            j += 1;
            for w in weights.iter_mut() {
                let Some(v) = arg_score(c, j, Some("weight value is not a float")) else {
                    return;
                };
                *w = v;
                j += 1;
            }
        } else if op != SetOp::Diff && !card_only && remaining >= 2 && util::eq_ic(o, "aggregate") {
            let a = &c.argv[j + 1];
            agg = if util::eq_ic(a, "sum") {
                Aggregate::Sum
            } else if util::eq_ic(a, "min") {
                Aggregate::Min
            } else if util::eq_ic(a, "max") {
                Aggregate::Max
            } else {
                c.out.error(errors::SYNTAX);
                return;
            };
            j += 2;
        } else if dst.is_none() && !card_only && util::eq_ic(o, "withscores") {
            withscores = true;
            j += 1;
        } else if card_only && remaining >= 2 && util::eq_ic(o, "limit") {
            match util::parse_i64(&c.argv[j + 1]) {
                Some(v) if v >= 0 => limit = v as usize,
                _ => {
                    c.out.error("LIMIT can't be negative");
                    return;
                }
            }
            j += 2;
        } else {
            c.out.error(errors::SYNTAX);
            return;
        }
    }

    let dict = &srv.dbs[db].dict;
    let mut srcs: Vec<(Src, f64, &[u8])> = keys
        .iter()
        .zip(weights.iter())
        .map(|(k, w)| {
            let s = match dict.get(&k[..]).map(|o| &o.value) {
                Some(Value::Zset(z)) => Src::Zset(z),
                Some(Value::Set(s)) => Src::Set(s),
                _ => Src::Missing,
            };
            (s, *w, &k[..])
        })
        .collect();
    if op != SetOp::Diff {
        // Smallest first, as Redis orders them: intersections iterate the smallest input.
        srcs.sort_by_key(|s| s.0.len());
    }

    let mut result = ZsetSkiplist::new();
    let (mut maxelelen, mut totelelen) = (0usize, 0usize);
    let mut cardinality = 0usize;
    match op {
        SetOp::Inter => {
            if srcs[0].0.len() > 0 {
                for (m, s0) in srcs[0].0.elements() {
                    let mut score = srcs[0].1 * s0;
                    if score.is_nan() {
                        score = 0.0;
                    }
                    let mut all = true;
                    for src in &srcs[1..] {
                        let v = if src.2 == srcs[0].2 {
                            Some(s0)
                        } else {
                            src.0.score(&m)
                        };
                        match v {
                            Some(v) => aggregate(&mut score, v * src.1, agg),
                            None => {
                                all = false;
                                break;
                            }
                        }
                    }
                    if !all {
                        continue;
                    }
                    if card_only {
                        cardinality += 1;
                        if limit > 0 && cardinality >= limit {
                            break;
                        }
                    } else {
                        totelelen += m.len();
                        maxelelen = maxelelen.max(m.len());
                        result.insert_new(score, &m);
                    }
                }
            }
        }
        SetOp::Union => {
            let mut acc: HashMap<Vec<u8>, f64, ahash::RandomState> = HashMap::default();
            for src in &srcs {
                for (m, s) in src.0.elements() {
                    let mut score = src.1 * s;
                    if score.is_nan() {
                        score = 0.0;
                    }
                    match acc.get_mut(&m) {
                        Some(t) => aggregate(t, score, agg),
                        None => {
                            totelelen += m.len();
                            maxelelen = maxelelen.max(m.len());
                            acc.insert(m, score);
                        }
                    }
                }
            }
            for (m, s) in acc {
                result.insert_new(s, &m);
            }
        }
        SetOp::Diff => {
            for (m, s) in srcs[0].0.elements() {
                if srcs[1..].iter().any(|src| src.0.score(&m).is_some()) {
                    continue;
                }
                totelelen += m.len();
                maxelelen = maxelelen.max(m.len());
                result.insert_new(s, &m);
            }
        }
    }
    drop(srcs);

    if let Some(dst) = dst {
        if !result.is_empty() {
            let mut z = ZsetValue::Skiplist(result);
            z.convert_to_listpack_if_needed(maxelelen, totelelen, limits(srv));
            let n = z.len();
            srv.set_key(db, &dst, Value::Zset(Box::new(z)), false);
            c.out.int(n as i64);
            srv.flush_self_pushes(c);
            let event = match op {
                SetOp::Union => "zunionstore",
                SetOp::Inter => "zinterstore",
                SetOp::Diff => "zdiffstore",
            };
            srv.notify_keyspace_event(notify::ZSET, event, &dst, db);
            srv.dirty += 1;
        } else {
            c.out.int(0);
            srv.flush_self_pushes(c);
            if srv.db_delete(db, &dst) {
                srv.signal_modified_key(db, &dst);
                srv.notify_keyspace_event(notify::GENERIC, "del", &dst, db);
                srv.dirty += 1;
            }
        }
    } else if card_only {
        c.out.int(cardinality as i64);
    } else {
        let n = result.len();
        c.out.array(if withscores && c.out.resp == 2 {
            n * 2
        } else {
            n
        });
        for x in result.skiplist().iter() {
            reply_pair(c, x.member(), x.score(), withscores);
        }
    }
}

// ---- ZSCAN -----------------------------------------------------------------------------

fn zscan_command(srv: &mut Server, c: &mut Client) {
    let db = c.db;
    let key = c.argv[1].clone();
    let Some((mut cursor, opts)) = scan_key_start(srv, c, &key, |v| matches!(v, Value::Zset(_)))
    else {
        return;
    };
    let mut items: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    match zref(srv, db, &key) {
        // A compact encoding is returned whole in one call, scores as stored.
        ZsetValue::Listpack(l) => {
            let mut it = l.iter();
            while let (Some(m), Some(s)) = (it.next(), it.next()) {
                items.push((m.to_vec(), s.to_vec()));
            }
            cursor = 0;
        }
        ZsetValue::Skiplist(z) => {
            // At most ten buckets per requested element, so a sparse table can't make one
            // call slow.
            let mut iterations = opts.count.saturating_mul(10);
            loop {
                cursor = z.scan(cursor, |m, s| items.push((m.to_vec(), util::f64_g17(s))));
                if cursor == 0 || iterations == 0 || items.len() >= opts.count {
                    break;
                }
                iterations -= 1;
            }
        }
    }
    if let Some(p) = &opts.pattern {
        items.retain(|(m, _)| util::glob_match(p, m, false));
    }
    c.out.array(2);
    c.out.bulk(cursor.to_string().as_bytes());
    c.out.array(items.len() * 2);
    for (m, s) in &items {
        c.out.bulk(m);
        c.out.bulk(s);
    }
}

#[cfg(test)]
mod tests {
    use crate::commands::test_support::{encoding, run, setup};

    fn reply(r: &(Vec<u8>, Vec<Vec<String>>)) -> String {
        String::from_utf8_lossy(&r.0).into_owned()
    }

    #[test]
    fn zmpop_propagates_as_zpop() {
        let (mut srv, mut c) = setup();
        run(
            &mut srv,
            &mut c,
            &["ZADD", "z", "1", "a", "2", "b", "3", "c"],
        );
        let r = run(
            &mut srv,
            &mut c,
            &["ZMPOP", "2", "x", "z", "MAX", "COUNT", "5"],
        );
        assert_eq!(
            reply(&r),
            "*2\r\n$1\r\nz\r\n*3\r\n*2\r\n$1\r\nc\r\n$1\r\n3\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n"
        );
        assert_eq!(
            r.1,
            vec![vec!["ZPOPMAX".to_string(), "z".into(), "3".into()]]
        );
    }

    #[test]
    fn encodings_convert_both_ways() {
        let (mut srv, mut c) = setup();
        srv.config.zset_max_listpack_entries = 2;
        run(&mut srv, &mut c, &["ZADD", "z", "1", "a", "2", "b"]);
        assert_eq!(encoding(&srv, "z"), "listpack");
        run(&mut srv, &mut c, &["ZADD", "z", "3", "c"]);
        assert_eq!(encoding(&srv, "z"), "skiplist");
        // A small stored result goes back to listpack, as in Redis.
        run(&mut srv, &mut c, &["ZREM", "z", "c"]);
        assert_eq!(encoding(&srv, "z"), "skiplist");
        run(&mut srv, &mut c, &["ZUNIONSTORE", "d", "1", "z"]);
        assert_eq!(encoding(&srv, "d"), "listpack");
        // ZRANGESTORE picks by result size.
        run(&mut srv, &mut c, &["ZADD", "z", "3", "c"]);
        run(&mut srv, &mut c, &["ZRANGESTORE", "e", "z", "0", "-1"]);
        assert_eq!(encoding(&srv, "e"), "skiplist");
        run(&mut srv, &mut c, &["ZRANGESTORE", "e", "z", "0", "1"]);
        assert_eq!(encoding(&srv, "e"), "listpack");
        let r = run(&mut srv, &mut c, &["ZRANGE", "e", "0", "-1", "WITHSCORES"]);
        assert_eq!(
            reply(&r),
            "*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n"
        );
    }

    #[test]
    fn nan_and_option_errors() {
        let (mut srv, mut c) = setup();
        run(&mut srv, &mut c, &["ZADD", "z", "+inf", "a"]);
        let r = run(&mut srv, &mut c, &["ZINCRBY", "z", "-inf", "a"]);
        assert_eq!(reply(&r), "-ERR resulting score is not a number (NaN)\r\n");
        let r = run(&mut srv, &mut c, &["ZADD", "z", "NX", "XX", "1", "a"]);
        assert!(reply(&r).contains("not compatible"));
        let r = run(&mut srv, &mut c, &["ZADD", "z", "nan", "a"]);
        assert_eq!(reply(&r), "-ERR value is not a valid float\r\n");
        let r = run(&mut srv, &mut c, &["ZRANGEBYSCORE", "z", "(x", "1"]);
        assert_eq!(reply(&r), "-ERR min or max is not a float\r\n");
    }
}
