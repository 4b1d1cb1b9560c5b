//! Hash commands (Redis' t_hash.c): HSET, HMSET, HSETNX, HGET, HMGET, HDEL, HLEN, HSTRLEN,
//! HEXISTS, HKEYS, HVALS, HGETALL, HINCRBY, HINCRBYFLOAT, HRANDFIELD and HSCAN.
//!
//! Encoding decisions live in `types::hash`; this file does what Redis' commands do around
//! them: argument checks in Redis' order, replies (RESP2 and RESP3 shapes), keyspace events,
//! dirty counts and what is propagated.

use crate::client::{flags as cflags, Client};
use crate::commands::keyspace::{reply_scan, scan_dict, scan_filter, scan_key_start};
use crate::commands::{errors, CmdProc};
use crate::config::table::notify;
use crate::db::Dict;
use crate::server::Server;
use crate::types::hash::{entry_bytes, HashEntry, HashValue, Limits};
use crate::types::listpack::Entry;
use crate::types::set::fair_random;
use crate::types::{Value, WRONGTYPE};
use crate::util;

pub fn lookup(name: &str) -> Option<CmdProc> {
    let f: CmdProc = match name {
        "hset" => |s, c| keyed(s, c, hset_command),
        "hmset" => |s, c| keyed(s, c, hmset_command),
        "hsetnx" => |s, c| keyed(s, c, hsetnx_command),
        "hget" => |s, c| keyed(s, c, hget_command),
        "hmget" => |s, c| keyed(s, c, hmget_command),
        "hdel" => |s, c| keyed(s, c, hdel_command),
        "hlen" => |s, c| keyed(s, c, hlen_command),
        "hstrlen" => |s, c| keyed(s, c, hstrlen_command),
        "hexists" => |s, c| keyed(s, c, hexists_command),
        "hkeys" => |s, c| keyed(s, c, hkeys_command),
        "hvals" => |s, c| keyed(s, c, hvals_command),
        "hgetall" => |s, c| keyed(s, c, hgetall_command),
        "hincrby" => |s, c| keyed(s, c, hincrby_command),
        "hincrbyfloat" => |s, c| keyed(s, c, hincrbyfloat_command),
        "hrandfield" => |s, c| keyed(s, c, hrandfield_command),
        "hscan" => |s, c| keyed(s, c, hscan_command),
        _ => return None,
    };
    Some(f)
}

/// Runs a command with its key (argv[1]) lent out of the argument vector, so the command can
/// use the key while replying to the client; the key is put back for propagation.
fn keyed(srv: &mut Server, c: &mut Client, f: fn(&mut Server, &mut Client, &[u8])) {
    let key = std::mem::take(&mut c.argv[1]);
    f(srv, c, &key);
    c.argv[1] = key;
}

/// The hash at `key` after a read lookup: Ok(None) when missing, Err once WRONGTYPE was
/// replied.
fn read_hash<'a>(
    srv: &'a mut Server,
    c: &mut Client,
    key: &[u8],
) -> Result<Option<&'a mut HashValue>, ()> {
    as_hash(srv.lookup_read(c.db, key), c)
}

/// As `read_hash`, with a write lookup.
fn write_hash<'a>(
    srv: &'a mut Server,
    c: &mut Client,
    key: &[u8],
) -> Result<Option<&'a mut HashValue>, ()> {
    as_hash(srv.lookup_write(c.db, key), c)
}

fn as_hash<'a>(
    o: Option<&'a mut crate::types::Obj>,
    c: &mut Client,
) -> Result<Option<&'a mut HashValue>, ()> {
    match o.map(|o| &mut o.value) {
        None => Ok(None),
        Some(Value::Hash(h)) => Ok(Some(h)),
        Some(_) => {
            c.out.error(WRONGTYPE);
            Err(())
        }
    }
}

/// The hash at `key`, already looked up and known to be a hash.
fn hash_ref<'a>(dbs: &'a [crate::db::Db], db: usize, key: &[u8]) -> &'a HashValue {
    match dbs[db].dict.get(key).map(|o| &o.value) {
        Some(Value::Hash(h)) => h,
        _ => unreachable!("checked to be a hash"),
    }
}

fn reply_entry(c: &mut Client, e: Entry) {
    match e {
        Entry::Int(v) => c.out.bulk_i64(v),
        Entry::Str(s) => c.out.bulk(s),
    }
}

/// A field, and its value when asked for; RESP3 nests each pair in a two-element array.
fn reply_pair(c: &mut Client, f: Entry, v: Option<Entry>) {
    if v.is_some() && c.out.resp > 2 {
        c.out.array(2);
    }
    reply_entry(c, f);
    if let Some(v) = v {
        reply_entry(c, v);
    }
}

/// Runs `f` on the hash at `key`, creating an empty one when the key is missing (Redis'
/// `hashTypeLookupWriteOrCreate`); a new hash is added to the keyspace after `f` filled it.
/// None once WRONGTYPE was replied.
fn with_hash_or_create<R>(
    srv: &mut Server,
    c: &mut Client,
    key: &[u8],
    f: impl FnOnce(&mut HashValue, &mut Client) -> R,
) -> Option<R> {
    match write_hash(srv, c, key) {
        Err(()) => None,
        Ok(Some(h)) => Some(f(h, c)),
        Ok(None) => {
            let mut h = HashValue::new();
            let r = f(&mut h, c);
            // A command that failed leaves no empty hash behind.
            if !h.is_empty() {
                srv.db_add(c.db, key, Value::Hash(Box::new(h)));
            }
            Some(r)
        }
    }
}

fn hset_command(srv: &mut Server, c: &mut Client, key: &[u8]) {
    hset_generic(srv, c, key, "hset")
}

fn hmset_command(srv: &mut Server, c: &mut Client, key: &[u8]) {
    hset_generic(srv, c, key, "hmset")
}

fn hset_generic(srv: &mut Server, c: &mut Client, key: &[u8], name: &str) {
    if c.argv.len() % 2 == 1 {
        c.out
            .error(&format!("wrong number of arguments for '{name}' command"));
        return;
    }
    let limits = Limits::from_config(&srv.config);
    let Some(created) = with_hash_or_create(srv, c, key, |h, c| {
        let args = &c.argv[2..];
        h.try_conversion(args, limits);
        args.chunks_exact(2)
            .filter(|p| !h.set(&p[0], &p[1], limits))
            .count()
    }) else {
        return;
    };
    if name == "hset" {
        c.out.int(created as i64);
    } else {
        c.out.ok();
    }
    let db = c.db;
    srv.signal_modified_key(db, key);
    srv.notify_keyspace_event(notify::HASH, "hset", key, db);
    srv.dirty += (c.argv.len() as i64 - 2) / 2;
}

fn hsetnx_command(srv: &mut Server, c: &mut Client, key: &[u8]) {
    let limits = Limits::from_config(&srv.config);
    let Some(added) = with_hash_or_create(srv, c, key, |h, c| {
        if h.contains(&c.argv[2]) {
            return false;
        }
        h.try_conversion(&c.argv[2..4], limits);
        h.set(&c.argv[2], &c.argv[3], limits);
        true
    }) else {
        return;
    };
    c.out.int(added as i64);
    if added {
        let db = c.db;
        srv.signal_modified_key(db, key);
        srv.notify_keyspace_event(notify::HASH, "hset", key, db);
        srv.dirty += 1;
    }
}

fn hget_command(srv: &mut Server, c: &mut Client, key: &[u8]) {
    match read_hash(srv, c, key) {
        Err(()) => {}
        Ok(None) => c.out.null(),
        Ok(Some(h)) => match h.get(&c.argv[2]) {
            Some(v) => reply_entry(c, v),
            None => c.out.null(),
        },
    }
}

fn hmget_command(srv: &mut Server, c: &mut Client, key: &[u8]) {
    let Ok(h) = read_hash(srv, c, key) else {
        return;
    };
    let mut h = h;
    c.out.array(c.argv.len() - 2);
    for i in 2..c.argv.len() {
        match h.as_mut().and_then(|h| h.get(&c.argv[i])) {
            Some(v) => reply_entry(c, v),
            None => c.out.null(),
        }
    }
}

fn hdel_command(srv: &mut Server, c: &mut Client, key: &[u8]) {
    let h = match write_hash(srv, c, key) {
        Err(()) => return,
        Ok(None) => {
            c.out.int(0);
            return;
        }
        Ok(Some(h)) => h,
    };
    let mut deleted = 0;
    let mut emptied = false;
    for f in &c.argv[2..] {
        if h.delete(f) {
            deleted += 1;
            if h.is_empty() {
                emptied = true;
                break;
            }
        }
    }
    let db = c.db;
    if emptied {
        srv.db_delete(db, key);
    }
    if deleted > 0 {
        srv.signal_modified_key(db, key);
        srv.notify_keyspace_event(notify::HASH, "hdel", key, db);
        if emptied {
            srv.notify_keyspace_event(notify::GENERIC, "del", key, db);
        }
        srv.dirty += deleted;
    }
    c.out.int(deleted);
}

fn hlen_command(srv: &mut Server, c: &mut Client, key: &[u8]) {
    match read_hash(srv, c, key) {
        Err(()) => {}
        Ok(None) => c.out.int(0),
        Ok(Some(h)) => c.out.int(h.len() as i64),
    }
}

fn hstrlen_command(srv: &mut Server, c: &mut Client, key: &[u8]) {
    match read_hash(srv, c, key) {
        Err(()) => {}
        Ok(None) => c.out.int(0),
        Ok(Some(h)) => c.out.int(h.value_len(&c.argv[2]) as i64),
    }
}

fn hexists_command(srv: &mut Server, c: &mut Client, key: &[u8]) {
    match read_hash(srv, c, key) {
        Err(()) => {}
        Ok(None) => c.out.int(0),
        Ok(Some(h)) => c.out.int(h.contains(&c.argv[2]) as i64),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Parts {
    Fields,
    Values,
    Both,
}

fn hkeys_command(srv: &mut Server, c: &mut Client, key: &[u8]) {
    hgetall_generic(srv, c, key, Parts::Fields)
}

fn hvals_command(srv: &mut Server, c: &mut Client, key: &[u8]) {
    hgetall_generic(srv, c, key, Parts::Values)
}

fn hgetall_command(srv: &mut Server, c: &mut Client, key: &[u8]) {
    hgetall_generic(srv, c, key, Parts::Both)
}

/// HKEYS, HVALS and HGETALL: fields and values in the encoding's order; HGETALL replies a map.
fn hgetall_generic(srv: &mut Server, c: &mut Client, key: &[u8], parts: Parts) {
    let h = match read_hash(srv, c, key) {
        Err(()) => return,
        Ok(None) => {
            if parts == Parts::Both {
                c.out.map(0);
            } else {
                c.out.array(0);
            }
            return;
        }
        Ok(Some(h)) => h,
    };
    if parts == Parts::Both {
        c.out.map(h.len());
    } else {
        c.out.array(h.len());
    }
    for (f, v) in h.iter() {
        if parts != Parts::Values {
            reply_entry(c, f);
        }
        if parts != Parts::Fields {
            reply_entry(c, v);
        }
    }
}

fn hincrby_command(srv: &mut Server, c: &mut Client, key: &[u8]) {
    let Some(incr) = crate::commands::arg_i64(c, 3) else {
        return;
    };
    let limits = Limits::from_config(&srv.config);
    let outcome = with_hash_or_create(srv, c, key, |h, c| {
        let old = match h.get(&c.argv[2]) {
            None => 0,
            Some(Entry::Int(v)) => v,
            Some(Entry::Str(s)) => match util::parse_i64(s) {
                Some(v) => v,
                None => return Err("hash value is not an integer"),
            },
        };
        let Some(new) = old.checked_add(incr) else {
            return Err("increment or decrement would overflow");
        };
        h.set(
            &c.argv[2],
            itoa::Buffer::new().format(new).as_bytes(),
            limits,
        );
        Ok(new)
    });
    match outcome {
        None => {}
        Some(Err(msg)) => c.out.error(msg),
        Some(Ok(new)) => {
            c.out.int(new);
            let db = c.db;
            srv.signal_modified_key(db, key);
            srv.notify_keyspace_event(notify::HASH, "hincrby", key, db);
            srv.dirty += 1;
        }
    }
}

fn hincrbyfloat_command(srv: &mut Server, c: &mut Client, key: &[u8]) {
    // The increment alone first (added to nothing): a non-number and an infinite increment
    // have their own errors, before the key is looked at.
    match util::long_double_add(None, &c.argv[3]) {
        Ok(_) => {}
        Err(util::LongDoubleError::NotANumber) => {
            c.out.error(errors::NOT_FLOAT);
            return;
        }
        Err(util::LongDoubleError::NanOrInfinity) => {
            c.out.error("value is NaN or Infinity");
            return;
        }
    }
    let limits = Limits::from_config(&srv.config);
    let outcome = with_hash_or_create(srv, c, key, |h, c| {
        let mut buf = itoa::Buffer::new();
        let base = h.get(&c.argv[2]).map(|e| entry_bytes(e, &mut buf).to_vec());
        let new = match util::long_double_add(base.as_deref(), &c.argv[3]) {
            Ok(v) => v,
            // The increment is known good: the stored value is what isn't a number.
            Err(util::LongDoubleError::NotANumber) => return Err("hash value is not a float"),
            Err(util::LongDoubleError::NanOrInfinity) => {
                return Err("increment would produce NaN or Infinity")
            }
        };
        h.set(&c.argv[2], &new, limits);
        Ok(new)
    });
    match outcome {
        None => {}
        Some(Err(msg)) => c.out.error(msg),
        Some(Ok(new)) => {
            c.out.bulk(&new);
            let db = c.db;
            srv.signal_modified_key(db, key);
            srv.notify_keyspace_event(notify::HASH, "hincrbyfloat", key, db);
            srv.dirty += 1;
            // Replicas and the AOF get the final value, so float formatting can't make them
            // diverge.
            c.propagate_argv = Some(vec![b"HSET".to_vec(), key.to_vec(), c.argv[2].clone(), new]);
        }
    }
}

/// HRANDFIELD switches from "draw until enough distinct fields" to "copy all and remove random
/// ones" when the count is more than a third of the hash (Redis' `HRANDFIELD_SUB_STRATEGY_MUL`).
const HRANDFIELD_SUB_STRATEGY_MUL: usize = 3;
/// Random listpack pairs are drawn (and replied) in batches of at most this many, bounding the
/// memory a huge count needs (Redis' `HRANDFIELD_RANDOM_SAMPLE_LIMIT`).
const HRANDFIELD_RANDOM_SAMPLE_LIMIT: usize = 1000;

fn hrandfield_command(srv: &mut Server, c: &mut Client, key: &[u8]) {
    if c.argv.len() >= 3 {
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
        let withvalues = c.argv.len() == 4;
        if c.argv.len() > 4 || (withvalues && !util::eq_ic(&c.argv[3], "withvalues")) {
            c.out.error(errors::SYNTAX);
            return;
        }
        if withvalues && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&l) {
            c.out.error("value is out of range");
            return;
        }
        hrandfield_with_count(srv, c, key, l, withvalues);
        return;
    }
    match read_hash(srv, c, key) {
        Err(()) => {}
        Ok(None) => c.out.null(),
        Ok(Some(_)) => {
            let h = hash_ref(&srv.dbs, c.db, key);
            let (f, _) = h.random_pair(&mut srv.rng).expect("hashes are never empty");
            reply_entry(c, f);
        }
    }
}

fn hrandfield_with_count(srv: &mut Server, c: &mut Client, key: &[u8], l: i64, withvalues: bool) {
    let db = c.db;
    match read_hash(srv, c, key) {
        Err(()) => return,
        Ok(None) => {
            c.out.array(0);
            return;
        }
        Ok(Some(_)) => {}
    }
    let (count, uniq) = (l.unsigned_abs() as usize, l >= 0);
    if count == 0 {
        c.out.array(0);
        return;
    }
    let flat = withvalues && c.out.resp == 2;

    // Repetitions allowed (or a single field): independent draws, in random order. A huge
    // count stops once the reply got the client closed for its output buffer limit, as in
    // Redis (which checks the limit as the reply grows).
    if !uniq || count == 1 {
        c.out.array(if flat { count * 2 } else { count });
        let mut left = count;
        while left > 0 {
            let h = hash_ref(&srv.dbs, db, key);
            if let HashValue::Listpack(_) = h {
                let batch = left.min(HRANDFIELD_RANDOM_SAMPLE_LIMIT);
                for (f, v) in h.random_pairs_listpack(batch, &mut srv.rng) {
                    reply_pair(c, f, withvalues.then_some(v));
                }
                left -= batch;
            } else {
                let batch = left.min(1024);
                for _ in 0..batch {
                    let (f, v) = h.random_pair(&mut srv.rng).expect("not empty");
                    reply_pair(c, f, withvalues.then_some(v));
                }
                left -= batch;
            }
            srv.check_output_buffer_limits(c);
            if c.has(cflags::CLOSE_ASAP) {
                break;
            }
        }
        return;
    }

    let h = hash_ref(&srv.dbs, db, key);
    let size = h.len();
    let reply_len = count.min(size);
    c.out.array(if flat { reply_len * 2 } else { reply_len });

    // The whole hash.
    if count >= size {
        for (f, v) in h.iter() {
            reply_pair(c, f, withvalues.then_some(v));
        }
        return;
    }

    let rng = &mut srv.rng;
    if count * HRANDFIELD_SUB_STRATEGY_MUL > size {
        // Close to the whole hash: copy it, then drop random fields until count remain.
        let mut picked: Dict<HashEntry, ()> = Dict::new();
        picked.expand(size);
        let (mut fb, mut vb) = (itoa::Buffer::new(), itoa::Buffer::new());
        for (f, v) in h.iter() {
            let v = if withvalues {
                entry_bytes(v, &mut vb)
            } else {
                b""
            };
            picked.insert_new(HashEntry::new(entry_bytes(f, &mut fb), v), ());
        }
        while picked.len() > count {
            let f = fair_random(&picked, rng)
                .expect("not empty")
                .field()
                .to_vec();
            picked.remove(&f[..]);
        }
        for (e, _) in picked.iter() {
            let v = withvalues.then_some(Entry::Str(e.value()));
            reply_pair(c, Entry::Str(e.field()), v);
        }
        return;
    }

    // Far from the whole hash: a listpack is sampled in one walk; a hashtable is drawn from
    // until count distinct fields were seen, each replied as soon as it is new.
    if let HashValue::Listpack(_) = h {
        for (f, v) in h.random_pairs_unique_listpack(count, rng) {
            reply_pair(c, f, withvalues.then_some(v));
        }
        return;
    }
    let mut seen: Dict<Vec<u8>, ()> = Dict::new();
    seen.expand(count);
    while seen.len() < count {
        let (f, v) = h.random_pair(rng).expect("not empty");
        let f = f.to_vec();
        if seen.contains_key(&f[..]) {
            continue;
        }
        reply_pair(c, Entry::Str(&f), withvalues.then_some(v));
        seen.insert_new(f, ());
    }
}

fn hscan_command(srv: &mut Server, c: &mut Client, key: &[u8]) {
    let Some((mut cursor, opts)) = scan_key_start(srv, c, key, |v| matches!(v, Value::Hash(_)))
    else {
        return;
    };
    let mut items: Vec<Vec<u8>> = Vec::new();
    let h = hash_ref(&srv.dbs, c.db, key);
    match h {
        // A compact encoding is returned whole in one call.
        HashValue::Listpack(_) => {
            for (f, v) in h.iter() {
                items.push(f.to_vec());
                items.push(v.to_vec());
            }
            cursor = 0;
        }
        HashValue::Hashtable(d) => {
            cursor = scan_dict(d, cursor, opts.count, &mut items, |e, _, out| {
                out.push(e.field().to_vec());
                out.push(e.value().to_vec());
            });
        }
    }
    scan_filter(&mut items, opts.pattern.as_deref(), 2);
    reply_scan(c, cursor, &items);
}

#[cfg(test)]
mod tests;
