//! Set commands (Redis' t_set.c): SADD, SREM, SCARD, SISMEMBER, SMISMEMBER, SMEMBERS,
//! SRANDMEMBER, SPOP, SMOVE, SINTER/SINTERSTORE/SINTERCARD, SUNION/SUNIONSTORE,
//! SDIFF/SDIFFSTORE and SSCAN.
//!
//! Result sets are built the way Redis builds them (starting as an intset and converting as
//! members arrive), because the reply order of SUNION/SDIFF and the encoding of a stored result
//! follow from that.

use crate::client::{flags as cflags, Client};
use crate::commands::keyspace::{reply_scan, scan_dict, scan_filter, scan_key_start};
use crate::commands::{errors, CmdProc, Kind};
use crate::config::table::notify;
use crate::db::Dict;
use crate::server::Server;
use crate::types::set::{fair_random, Member, SetValue};
use crate::types::{Value, WRONGTYPE};
use crate::util;

pub fn lookup(name: &str) -> Option<CmdProc> {
    Some(match name {
        "sadd" => sadd_command,
        "srem" => srem_command,
        "scard" => scard_command,
        "sismember" => sismember_command,
        "smismember" => smismember_command,
        "smembers" => sinter_command,
        "srandmember" => srandmember_command,
        "spop" => spop_command,
        "smove" => smove_command,
        "sinter" => sinter_command,
        "sinterstore" => sinterstore_command,
        "sintercard" => sintercard_command,
        "sunion" => sunion_command,
        "sunionstore" => sunionstore_command,
        "sdiff" => sdiff_command,
        "sdiffstore" => sdiffstore_command,
        "sscan" => sscan_command,
        _ => return None,
    })
}

fn lookup_read_kind(srv: &mut Server, db: usize, key: &[u8]) -> Kind {
    Kind::of(srv.lookup_read(db, key), |v| matches!(v, Value::Set(_)))
}

fn lookup_write_kind(srv: &mut Server, db: usize, key: &[u8]) -> Kind {
    Kind::of(srv.lookup_write(db, key), |v| matches!(v, Value::Set(_)))
}

/// The set stored at `key`, already known to exist and be a set.
fn set_ref<'a>(srv: &'a Server, db: usize, key: &[u8]) -> &'a SetValue {
    match srv.dbs[db].dict.get(key).map(|o| &o.value) {
        Some(Value::Set(s)) => s,
        _ => unreachable!("checked to be a set"),
    }
}

fn set_mut<'a>(dbs: &'a mut [crate::db::Db], db: usize, key: &[u8]) -> &'a mut SetValue {
    match dbs[db].dict.get_mut(key).map(|o| &mut o.value) {
        Some(Value::Set(s)) => s,
        _ => unreachable!("checked to be a set"),
    }
}

fn reply_member(c: &mut Client, m: &Member) {
    match m {
        Member::Int(n) => {
            let mut b = itoa::Buffer::new();
            c.out.bulk(b.format(*n).as_bytes());
        }
        Member::Bytes(b) => c.out.bulk(b),
    }
}

fn sadd_command(srv: &mut Server, c: &mut Client) {
    let db = c.db;
    let key = std::mem::take(&mut c.argv[1]);
    match lookup_write_kind(srv, db, &key) {
        Kind::Other => {
            c.out.error(WRONGTYPE);
            c.argv[1] = key;
            return;
        }
        Kind::Missing => srv.db_add(
            db,
            &key,
            Value::Set(Box::new(SetValue::for_first(&c.argv[2]))),
        ),
        Kind::Wanted => {}
    }
    let max = srv.config.set_max_intset_entries;
    let set = set_mut(&mut srv.dbs, db, &key);
    let mut added = 0;
    for m in &c.argv[2..] {
        if set.add(m, max) {
            added += 1;
        }
    }
    if added > 0 {
        srv.signal_modified_key(db, &key);
        srv.notify_keyspace_event(notify::SET, "sadd", &key, db);
    }
    srv.dirty += added;
    c.out.int(added);
    c.argv[1] = key;
}

fn srem_command(srv: &mut Server, c: &mut Client) {
    let db = c.db;
    let key = std::mem::take(&mut c.argv[1]);
    match lookup_write_kind(srv, db, &key) {
        Kind::Missing => c.out.int(0),
        Kind::Other => c.out.error(WRONGTYPE),
        Kind::Wanted => {
            let set = set_mut(&mut srv.dbs, db, &key);
            let mut deleted = 0;
            let mut emptied = false;
            for m in &c.argv[2..] {
                if set.remove(m) {
                    deleted += 1;
                    if set.is_empty() {
                        emptied = true;
                        break;
                    }
                }
            }
            if emptied {
                srv.db_delete(db, &key);
            }
            if deleted > 0 {
                srv.signal_modified_key(db, &key);
                srv.notify_keyspace_event(notify::SET, "srem", &key, db);
                if emptied {
                    srv.notify_keyspace_event(notify::GENERIC, "del", &key, db);
                }
                srv.dirty += deleted;
            }
            c.out.int(deleted);
        }
    }
    c.argv[1] = key;
}

fn smove_command(srv: &mut Server, c: &mut Client) {
    let db = c.db;
    let src = c.argv[1].clone();
    let dst = c.argv[2].clone();
    let ele = c.argv[3].clone();
    let src_kind = lookup_write_kind(srv, db, &src);
    let dst_kind = lookup_write_kind(srv, db, &dst);
    if src_kind == Kind::Missing {
        c.out.int(0);
        return;
    }
    if src_kind == Kind::Other || dst_kind == Kind::Other {
        c.out.error(WRONGTYPE);
        return;
    }
    if src == dst {
        let member = set_ref(srv, db, &src).contains(&ele);
        c.out.int(member as i64);
        return;
    }
    let set = set_mut(&mut srv.dbs, db, &src);
    if !set.remove(&ele) {
        c.out.int(0);
        return;
    }
    let emptied = set.is_empty();
    srv.notify_keyspace_event(notify::SET, "srem", &src, db);
    if emptied {
        srv.db_delete(db, &src);
        srv.notify_keyspace_event(notify::GENERIC, "del", &src, db);
    }
    if dst_kind == Kind::Missing {
        srv.db_add(db, &dst, Value::Set(Box::new(SetValue::for_first(&ele))));
    }
    srv.signal_modified_key(db, &src);
    srv.dirty += 1;
    let max = srv.config.set_max_intset_entries;
    if set_mut(&mut srv.dbs, db, &dst).add(&ele, max) {
        srv.dirty += 1;
        srv.signal_modified_key(db, &dst);
        srv.notify_keyspace_event(notify::SET, "sadd", &dst, db);
    }
    c.out.int(1);
}

fn sismember_command(srv: &mut Server, c: &mut Client) {
    let db = c.db;
    let key = std::mem::take(&mut c.argv[1]);
    match lookup_read_kind(srv, db, &key) {
        Kind::Missing => c.out.int(0),
        Kind::Other => c.out.error(WRONGTYPE),
        Kind::Wanted => {
            let member = set_ref(srv, db, &key).contains(&c.argv[2]);
            c.out.int(member as i64);
        }
    }
    c.argv[1] = key;
}

fn smismember_command(srv: &mut Server, c: &mut Client) {
    let db = c.db;
    let key = std::mem::take(&mut c.argv[1]);
    let kind = lookup_read_kind(srv, db, &key);
    if kind == Kind::Other {
        c.out.error(WRONGTYPE);
    } else {
        c.out.array(c.argv.len() - 2);
        for m in &c.argv[2..] {
            let member = kind == Kind::Wanted && set_ref(srv, db, &key).contains(m);
            c.out.int(member as i64);
        }
    }
    c.argv[1] = key;
}

fn scard_command(srv: &mut Server, c: &mut Client) {
    let db = c.db;
    let key = std::mem::take(&mut c.argv[1]);
    match lookup_read_kind(srv, db, &key) {
        Kind::Missing => c.out.int(0),
        Kind::Other => c.out.error(WRONGTYPE),
        Kind::Wanted => {
            let n = set_ref(srv, db, &key).len();
            c.out.int(n as i64);
        }
    }
    c.argv[1] = key;
}

/// SPOP's count form switches from "pop random members" to "keep random members and pop the
/// rest" when fewer than count/5 would remain (Redis' `SPOP_MOVE_STRATEGY_MUL`).
const SPOP_MOVE_STRATEGY_MUL: usize = 5;

fn spop_command(srv: &mut Server, c: &mut Client) {
    if c.argv.len() == 3 {
        spop_with_count(srv, c);
        return;
    }
    if c.argv.len() > 3 {
        c.out.error(errors::SYNTAX);
        return;
    }
    let db = c.db;
    let key = c.argv[1].clone();
    match lookup_write_kind(srv, db, &key) {
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
    let srv_rng = &mut srv.rng;
    let set = set_mut(&mut srv.dbs, db, &key);
    let ele = set.random(srv_rng).expect("sets are never empty").to_vec();
    set.remove(&ele);
    let emptied = set.is_empty();
    srv.notify_keyspace_event(notify::SET, "spop", &key, db);
    // Replicas and the AOF must remove the very member chosen here.
    c.propagate_argv = Some(vec![b"SREM".to_vec(), key.clone(), ele.clone()]);
    c.out.bulk(&ele);
    srv.flush_self_pushes(c);
    if emptied {
        srv.db_delete(db, &key);
        srv.notify_keyspace_event(notify::GENERIC, "del", &key, db);
    }
    srv.signal_modified_key(db, &key);
    srv.dirty += 1;
}

/// Parses a count that must be >= 0 (Redis' `getPositiveLongFromObjectOrReply`): one error
/// text, `msg` or Redis' default, for both a non-integer and a negative value.
fn positive_arg(c: &mut Client, i: usize, msg: Option<&str>) -> Option<i64> {
    let msg = msg.unwrap_or("value is out of range, must be positive");
    match util::parse_i64(&c.argv[i]) {
        Some(v) if v >= 0 => Some(v),
        _ => {
            c.out.error(msg);
            None
        }
    }
}

fn spop_with_count(srv: &mut Server, c: &mut Client) {
    let Some(count) = positive_arg(c, 2, None) else {
        return;
    };
    let count = count as usize;
    let db = c.db;
    let key = c.argv[1].clone();
    match lookup_write_kind(srv, db, &key) {
        Kind::Missing => {
            c.out.set(0);
            return;
        }
        Kind::Other => {
            c.out.error(WRONGTYPE);
            return;
        }
        Kind::Wanted => {}
    }
    if count == 0 {
        c.out.set(0);
        return;
    }
    let size = set_ref(srv, db, &key).len();
    srv.notify_keyspace_event(notify::SET, "spop", &key, db);
    srv.dirty += count.min(size) as i64;

    if count >= size {
        // Everything goes: reply as SUNION of the one set would, then drop the key, which
        // replicas learn as a DEL.
        let all = union_of(
            &[Some(set_ref(srv, db, &key))],
            srv.config.set_max_intset_entries,
        );
        reply_set(c, &all);
        srv.flush_self_pushes(c);
        srv.db_delete(db, &key);
        srv.notify_keyspace_event(notify::GENERIC, "del", &key, db);
        c.propagate_argv = Some(vec![b"DEL".to_vec(), key.clone()]);
        srv.signal_modified_key(db, &key);
        return;
    }

    // Each popped member is propagated as its own SREM; the SPOP itself is not.
    c.out.set(count);
    let remaining = size - count;
    let max = srv.config.set_max_intset_entries;
    let mut popped: Vec<Vec<u8>> = Vec::with_capacity(count);
    if remaining * SPOP_MOVE_STRATEGY_MUL > count {
        let srv_rng = &mut srv.rng;
        let set = set_mut(&mut srv.dbs, db, &key);
        for _ in 0..count {
            let ele = set.random(srv_rng).expect("not empty").to_vec();
            set.remove(&ele);
            c.out.bulk(&ele);
            popped.push(ele);
        }
    } else {
        let srv_rng = &mut srv.rng;
        let set = set_mut(&mut srv.dbs, db, &key);
        let mut kept: Option<SetValue> = None;
        for _ in 0..remaining {
            let ele = set.random(srv_rng).expect("not empty").to_vec();
            kept.get_or_insert_with(|| SetValue::for_first(&ele))
                .add(&ele, max);
            set.remove(&ele);
        }
        for ele in set.member_bytes() {
            c.out.bulk(&ele);
            popped.push(ele);
        }
        // The kept members replace the value in place (TTL and key stay).
        *set = kept.expect("remaining > 0");
    }
    for ele in popped {
        srv.propagate(db, vec![b"SREM".to_vec(), key.clone(), ele]);
    }
    c.flags |= cflags::PREVENT_PROP;
    srv.signal_modified_key(db, &key);
}

/// SRANDMEMBER switches from "sample until enough distinct members" to "copy all and remove
/// random ones" when the count is more than a third of the set (Redis'
/// `SRANDMEMBER_SUB_STRATEGY_MUL`).
const SRANDMEMBER_SUB_STRATEGY_MUL: usize = 3;

fn srandmember_command(srv: &mut Server, c: &mut Client) {
    if c.argv.len() == 3 {
        srandmember_with_count(srv, c);
        return;
    }
    if c.argv.len() > 3 {
        c.out.error(errors::SYNTAX);
        return;
    }
    let db = c.db;
    let key = std::mem::take(&mut c.argv[1]);
    match lookup_read_kind(srv, db, &key) {
        Kind::Missing => c.out.null(),
        Kind::Other => c.out.error(WRONGTYPE),
        Kind::Wanted => {
            let srv_rng = &mut srv.rng;
            let set = set_mut(&mut srv.dbs, db, &key);
            let m = set.random(srv_rng).expect("not empty");
            reply_member(c, &m);
        }
    }
    c.argv[1] = key;
}

fn srandmember_with_count(srv: &mut Server, c: &mut Client) {
    let Some(l) = util::parse_i64(&c.argv[2]) else {
        c.out.error(errors::NOT_INTEGER);
        return;
    };
    if l == i64::MIN {
        c.out.error(&format!(
            "value is out of range, value must between {} and {}",
            -i64::MAX,
            i64::MAX
        ));
        return;
    }
    let (count, uniq) = if l >= 0 {
        (l as usize, true)
    } else {
        ((-l) as usize, false)
    };
    let db = c.db;
    let key = c.argv[1].clone();
    match lookup_read_kind(srv, db, &key) {
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
    if count == 0 {
        c.out.array(0);
        return;
    }
    // Repetitions allowed (or a single member): independent draws, in random order. A huge
    // count stops once the reply got the client closed for its output buffer limit, as in
    // Redis (which checks the limit as the reply grows).
    if !uniq || count == 1 {
        c.out.array(count);
        let mut left = count;
        while left > 0 {
            let chunk = left.min(1024);
            let srv_rng = &mut srv.rng;
            let set = set_mut(&mut srv.dbs, db, &key);
            for _ in 0..chunk {
                let m = set.random(srv_rng).expect("not empty");
                reply_member(c, &m);
            }
            left -= chunk;
            srv.check_output_buffer_limits(c);
            if c.has(cflags::CLOSE_ASAP) {
                break;
            }
        }
        return;
    }

    let srv_rng = &mut srv.rng;
    let set = set_mut(&mut srv.dbs, db, &key);
    let size = set.len();

    // The whole set.
    if count >= size {
        c.out.array(size);
        for m in set.members() {
            reply_member(c, &m);
        }
        return;
    }

    let mut picked: Dict<Vec<u8>, ()> = Dict::new();
    if count * SRANDMEMBER_SUB_STRATEGY_MUL > size {
        // Close to the whole set: copy it, then drop random members until count remain.
        for m in set.members() {
            picked.insert_new(m.to_vec(), ());
        }
        while picked.len() > count {
            let k = fair_random(&picked, srv_rng).cloned().expect("not empty");
            picked.remove(&k);
        }
    } else {
        // Far from the whole set: draw until count distinct members were seen.
        while picked.len() < count {
            let m = set.random(srv_rng).expect("not empty").to_vec();
            if !picked.contains_key(&m) {
                picked.insert_new(m, ());
            }
        }
    }
    c.out.array(count);
    for (k, _) in picked.iter() {
        c.out.bulk(k);
    }
}

/// Replies a set as an aggregate (RESP3 set type), in its iteration order.
fn reply_set(c: &mut Client, s: &SetValue) {
    c.out.set(s.len());
    for m in s.members() {
        reply_member(c, &m);
    }
}

/// Checks every key for the set commands that take several: missing keys are None (empty
/// sets); a key of another type replies WRONGTYPE and aborts (None returned).
fn lookup_sets(srv: &mut Server, c: &mut Client, keys: &[Vec<u8>]) -> Option<Vec<bool>> {
    let mut present = Vec::with_capacity(keys.len());
    for k in keys {
        match lookup_read_kind(srv, c.db, k) {
            Kind::Missing => present.push(false),
            Kind::Wanted => present.push(true),
            Kind::Other => {
                c.out.error(WRONGTYPE);
                return None;
            }
        }
    }
    Some(present)
}

fn sinter_command(srv: &mut Server, c: &mut Client) {
    let keys = c.argv[1..].to_vec();
    sinter_generic(srv, c, &keys, None, false, 0);
}

fn sinterstore_command(srv: &mut Server, c: &mut Client) {
    let keys = c.argv[2..].to_vec();
    let dst = c.argv[1].clone();
    sinter_generic(srv, c, &keys, Some(&dst), false, 0);
}

fn sintercard_command(srv: &mut Server, c: &mut Client) {
    let numkeys = match util::parse_i64(&c.argv[1]) {
        None => {
            c.out.error("numkeys should be greater than 0");
            return;
        }
        Some(n) if n < 1 => {
            c.out.error("numkeys should be greater than 0");
            return;
        }
        Some(n) => n,
    };
    if numkeys > (c.argv.len() - 2) as i64 {
        c.out
            .error("Number of keys can't be greater than number of args");
        return;
    }
    let numkeys = numkeys as usize;
    let mut limit = 0usize;
    let mut j = 2 + numkeys;
    while j < c.argv.len() {
        let more = c.argv.len() - 1 - j;
        if c.argv[j].eq_ignore_ascii_case(b"limit") && more > 0 {
            j += 1;
            let Some(l) = positive_arg(c, j, Some("LIMIT can't be negative")) else {
                return;
            };
            limit = l as usize;
        } else {
            c.out.error(errors::SYNTAX);
            return;
        }
        j += 1;
    }
    let keys = c.argv[2..2 + numkeys].to_vec();
    sinter_generic(srv, c, &keys, None, true, limit);
}

/// SINTER, SMEMBERS, SINTERSTORE and SINTERCARD (`limit` 0 = no limit).
fn sinter_generic(
    srv: &mut Server,
    c: &mut Client,
    keys: &[Vec<u8>],
    dst: Option<&[u8]>,
    card_only: bool,
    limit: usize,
) {
    let db = c.db;
    let Some(present) = lookup_sets(srv, c, keys) else {
        return;
    };
    if present.iter().any(|p| !p) {
        // The intersection with an empty set is empty.
        if let Some(dst) = dst {
            if srv.db_delete(db, dst) {
                srv.signal_modified_key(db, dst);
                srv.notify_keyspace_event(notify::GENERIC, "del", dst, db);
                srv.dirty += 1;
            }
            c.out.int(0);
        } else if card_only {
            c.out.int(0);
        } else {
            c.out.set(0);
        }
        return;
    }
    let max = srv.config.set_max_intset_entries;
    let mut order: Vec<usize> = (0..keys.len()).collect();
    // Smallest first (a stable sort keeps ties in argument order).
    order.sort_by_key(|&i| set_ref(srv, db, &keys[i]).len());
    let first = &keys[order[0]];
    let base = set_ref(srv, db, first);
    let others: Vec<&SetValue> = order[1..]
        .iter()
        .filter(|&&i| keys[i] != *first)
        .map(|&i| set_ref(srv, db, &keys[i]))
        .collect();
    let mut result = dst.map(|_| SetValue::Intset(Default::default()));
    let mut cardinality = 0usize;
    let deferred = if dst.is_none() && !card_only {
        Some(c.out.defer())
    } else {
        None
    };
    for m in base.members() {
        if !others.iter().all(|s| s.contains_member(&m)) {
            continue;
        }
        if card_only {
            cardinality += 1;
            if limit != 0 && cardinality >= limit {
                break;
            }
        } else if let Some(r) = result.as_mut() {
            r.add(&m.to_vec(), max);
        } else {
            reply_member(c, &m);
            cardinality += 1;
        }
    }
    if card_only {
        c.out.int(cardinality as i64);
    } else if let (Some(dst), Some(r)) = (dst, result) {
        store_result(srv, c, dst, r, "sinterstore");
    } else if let Some(d) = deferred {
        c.out.set_deferred_set(d, cardinality);
    }
}

/// Stores the result of a *STORE command (or deletes the destination when empty) and replies
/// its size. The reply precedes the events, as in Redis.
fn store_result(srv: &mut Server, c: &mut Client, dst: &[u8], r: SetValue, event: &str) {
    let db = c.db;
    let n = r.len();
    if n > 0 {
        srv.set_key(db, dst, Value::Set(Box::new(r)), false);
        c.out.int(n as i64);
        srv.flush_self_pushes(c);
        srv.notify_keyspace_event(notify::SET, event, dst, db);
        srv.dirty += 1;
    } else {
        c.out.int(0);
        srv.flush_self_pushes(c);
        if srv.db_delete(db, dst) {
            srv.dirty += 1;
            srv.signal_modified_key(db, dst);
            srv.notify_keyspace_event(notify::GENERIC, "del", dst, db);
        }
    }
}

/// The union of sets (None = missing key), built as Redis builds it.
fn union_of(sets: &[Option<&SetValue>], max: i64) -> SetValue {
    let mut r = SetValue::Intset(Default::default());
    for s in sets.iter().flatten() {
        for m in s.members() {
            r.add(&m.to_vec(), max);
        }
    }
    r
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum SetOp {
    Union,
    Diff,
}

fn sunion_command(srv: &mut Server, c: &mut Client) {
    let keys = c.argv[1..].to_vec();
    sunion_diff_generic(srv, c, &keys, None, SetOp::Union);
}

fn sunionstore_command(srv: &mut Server, c: &mut Client) {
    let keys = c.argv[2..].to_vec();
    let dst = c.argv[1].clone();
    sunion_diff_generic(srv, c, &keys, Some(&dst), SetOp::Union);
}

fn sdiff_command(srv: &mut Server, c: &mut Client) {
    let keys = c.argv[1..].to_vec();
    sunion_diff_generic(srv, c, &keys, None, SetOp::Diff);
}

fn sdiffstore_command(srv: &mut Server, c: &mut Client) {
    let keys = c.argv[2..].to_vec();
    let dst = c.argv[1].clone();
    sunion_diff_generic(srv, c, &keys, Some(&dst), SetOp::Diff);
}

fn sunion_diff_generic(
    srv: &mut Server,
    c: &mut Client,
    keys: &[Vec<u8>],
    dst: Option<&[u8]>,
    op: SetOp,
) {
    let db = c.db;
    let Some(present) = lookup_sets(srv, c, keys) else {
        return;
    };
    let max = srv.config.set_max_intset_entries;
    // The same key as the first one later in the list empties a difference.
    let sameset = present[0] && keys[1..].iter().any(|k| *k == keys[0]);
    let mut sets: Vec<Option<(&[u8], &SetValue)>> = keys
        .iter()
        .zip(&present)
        .map(|(k, &p)| p.then(|| (&k[..], set_ref(srv, db, k))))
        .collect();
    let result = match op {
        SetOp::Union => union_of(
            &sets.iter().map(|s| s.map(|(_, v)| v)).collect::<Vec<_>>(),
            max,
        ),
        SetOp::Diff if sameset || sets[0].is_none() => SetValue::Intset(Default::default()),
        SetOp::Diff => {
            // Two algorithms, chosen by estimated work as Redis does: probe each member of the
            // first set in the others (favoured 2:1), or add the first and remove the rest.
            let first_len = sets[0].unwrap().1.len();
            let mut one = 0usize;
            let mut two = 0usize;
            for (_, s) in sets.iter().flatten() {
                one += first_len;
                two += s.len();
            }
            one /= 2;
            let mut r = SetValue::Intset(Default::default());
            if one <= two {
                // Larger sets first: a member is more likely to be found early.
                if sets.len() > 1 {
                    sets[1..].sort_by(|a, b| {
                        let la = a.map_or(0, |(_, s)| s.len());
                        let lb = b.map_or(0, |(_, s)| s.len());
                        lb.cmp(&la)
                    });
                }
                let (_, base) = sets[0].unwrap();
                for m in base.members() {
                    let found = sets[1..]
                        .iter()
                        .flatten()
                        .any(|(_, s)| s.contains_member(&m));
                    if !found {
                        r.add(&m.to_vec(), max);
                    }
                }
            } else {
                let mut card = 0usize;
                for (j, s) in sets.iter().enumerate() {
                    let Some((_, s)) = s else { continue };
                    for m in s.member_bytes() {
                        if j == 0 {
                            if r.add(&m, max) {
                                card += 1;
                            }
                        } else if r.remove(&m) {
                            card -= 1;
                        }
                    }
                    if card == 0 {
                        break;
                    }
                }
            }
            r
        }
    };
    match dst {
        None => reply_set(c, &result),
        Some(dst) => {
            let event = if op == SetOp::Union {
                "sunionstore"
            } else {
                "sdiffstore"
            };
            store_result(srv, c, dst, result, event);
        }
    }
}

fn sscan_command(srv: &mut Server, c: &mut Client) {
    let db = c.db;
    let key = c.argv[1].clone();
    let Some((mut cursor, opts)) = scan_key_start(srv, c, &key, |v| matches!(v, Value::Set(_)))
    else {
        return;
    };
    let set = set_ref(srv, db, &key);
    let mut items: Vec<Vec<u8>> = Vec::new();
    match set {
        // A compact encoding is returned whole in one call.
        SetValue::Intset(_) => {
            items = set.member_bytes();
            cursor = 0;
        }
        SetValue::Hashtable(d) => {
            cursor = scan_dict(d, cursor, opts.count, &mut items, |k, _, out| {
                out.push(k.to_vec())
            });
        }
    }
    scan_filter(&mut items, opts.pattern.as_deref(), 1);
    reply_scan(c, cursor, &items);
}

#[cfg(test)]
mod tests {
    use crate::commands::test_support::{encoding, run, setup};

    /// The propagated commands of a multi-command effect, checking the MULTI/EXEC around them.
    fn unwrapped(prop: &[Vec<String>]) -> Vec<Vec<String>> {
        assert_eq!(prop.first().unwrap()[0], "MULTI");
        assert_eq!(prop.last().unwrap()[0], "EXEC");
        prop[1..prop.len() - 1].to_vec()
    }

    fn reply(r: &(Vec<u8>, Vec<Vec<String>>)) -> String {
        String::from_utf8_lossy(&r.0).into_owned()
    }

    #[test]
    fn spop_propagates_srem_or_del() {
        let (mut srv, mut c) = setup();
        run(
            &mut srv,
            &mut c,
            &["SADD", "s", "1", "2", "3", "4", "5", "6"],
        );
        // One member: an SREM of the member chosen.
        let r = run(&mut srv, &mut c, &["SPOP", "s"]);
        let popped = reply(&r).lines().nth(1).unwrap().to_string();
        assert_eq!(r.1, vec![vec!["SREM".to_string(), "s".into(), popped]]);
        // A few members: one SREM each, never the SPOP itself.
        let r = run(&mut srv, &mut c, &["SPOP", "s", "2"]);
        let p = unwrapped(&r.1);
        assert_eq!(p.len(), 2);
        assert!(p.iter().all(|a| a[0] == "SREM" && a[1] == "s"));
        // Most of the set (the "keep the rest" strategy) still pops exactly count members.
        let r = run(&mut srv, &mut c, &["SPOP", "s", "2"]);
        assert_eq!(unwrapped(&r.1).len(), 2);
        assert_eq!(reply(&run(&mut srv, &mut c, &["SCARD", "s"])), ":1\r\n");
        // Everything left: a DEL.
        let r = run(&mut srv, &mut c, &["SPOP", "s", "10"]);
        assert_eq!(r.1, vec![vec!["DEL".to_string(), "s".into()]]);
        assert_eq!(reply(&run(&mut srv, &mut c, &["EXISTS", "s"])), ":0\r\n");
        // The prevention applies to one call only.
        let r = run(&mut srv, &mut c, &["SADD", "t", "a"]);
        assert_eq!(r.1, vec![vec!["SADD".to_string(), "t".into(), "a".into()]]);
    }

    #[test]
    fn encodings_follow_members_and_limit() {
        let (mut srv, mut c) = setup();
        srv.config.set_max_intset_entries = 2;
        run(&mut srv, &mut c, &["SADD", "s", "1", "2"]);
        assert_eq!(encoding(&srv, "s"), "intset");
        run(&mut srv, &mut c, &["SADD", "s", "3"]);
        assert_eq!(encoding(&srv, "s"), "hashtable");
        run(&mut srv, &mut c, &["SADD", "t", "1"]);
        run(&mut srv, &mut c, &["SADD", "t", "x"]);
        assert_eq!(encoding(&srv, "t"), "hashtable");
        // A stored result starts as an intset, as in Redis.
        run(&mut srv, &mut c, &["SINTERSTORE", "d", "s", "s"]);
        assert_eq!(encoding(&srv, "d"), "hashtable");
        run(&mut srv, &mut c, &["SDIFFSTORE", "e", "t", "s"]);
        assert_eq!(encoding(&srv, "e"), "hashtable");
        run(&mut srv, &mut c, &["SREM", "t", "x"]);
        run(&mut srv, &mut c, &["SUNIONSTORE", "f", "t"]);
        assert_eq!(encoding(&srv, "f"), "intset");
        let r = run(
            &mut srv,
            &mut c,
            &["SINTERCARD", "2", "s", "f", "LIMIT", "1"],
        );
        assert_eq!(reply(&r), ":1\r\n");
    }

    #[test]
    fn wrong_type_and_empty_key_removal() {
        let (mut srv, mut c) = setup();
        run(&mut srv, &mut c, &["SET", "str", "x"]);
        let r = run(&mut srv, &mut c, &["SADD", "str", "a"]);
        assert!(reply(&r).starts_with("-WRONGTYPE"));
        let r = run(&mut srv, &mut c, &["GET", "str"]);
        assert_eq!(reply(&r), "$1\r\nx\r\n");
        run(&mut srv, &mut c, &["SADD", "s", "a"]);
        let r = run(&mut srv, &mut c, &["GET", "s"]);
        assert!(reply(&r).starts_with("-WRONGTYPE"));
        let r = run(&mut srv, &mut c, &["SREM", "s", "a", "b"]);
        assert_eq!(reply(&r), ":1\r\n");
        assert!(srv.dbs[0].dict.get(&b"s"[..]).is_none());
    }
}
