//! HyperLogLog commands (Redis' hyperloglog.c): PFADD, PFCOUNT, PFMERGE, PFDEBUG, PFSELFTEST.
//!
//! Sketches are string values (`types/hll.rs` owns their byte format), so these commands
//! first check that a string really holds a sketch, and edit it as a `raw` string in place, as
//! Redis unshares the value before writing. Reading a single key's count writes the cached
//! cardinality back into the value, so PFCOUNT can dirty the dataset and is propagated then.

use crate::client::Client;
use crate::commands::CmdProc;
use crate::config::table::notify;
use crate::server::Server;
use crate::types::hll;
use crate::types::rawstr::RawStr;
use crate::types::{Obj, RStr, Value, WRONGTYPE};

pub fn lookup(name: &str) -> Option<CmdProc> {
    Some(match name {
        "pfadd" => pfadd_command,
        "pfcount" => pfcount_command,
        "pfmerge" => pfmerge_command,
        "pfdebug" => pfdebug_command,
        "pfselftest" => pfselftest_command,
        _ => return None,
    })
}

const NOT_A_SKETCH: &str = "-WRONGTYPE Key is not a valid HyperLogLog string value.";
const CORRUPT: &str = "-INVALIDOBJ Corrupted HLL object detected";

/// Ok(false) for a missing key, Ok(true) for a string holding a sketch, or the error to reply.
/// Integer-encoded strings are never sketches (Redis requires an sds-encoded value).
fn check_sketch(o: Option<&Obj>) -> Result<bool, &'static str> {
    match o.map(|o| &o.value) {
        None => Ok(false),
        Some(Value::Str(RStr::Int(_))) => Err(NOT_A_SKETCH),
        Some(Value::Str(s)) => {
            if s.with_bytes(hll::looks_valid) {
                Ok(true)
            } else {
                Err(NOT_A_SKETCH)
            }
        }
        Some(_) => Err(WRONGTYPE),
    }
}

/// The sketch at `key`, as a raw string ready for in-place edits (`dbUnshareStringValue`).
fn sketch_mut<'a>(srv: &'a mut Server, db: usize, key: &[u8]) -> &'a mut RawStr {
    match srv.dbs[db].dict.get_mut(key).map(|o| &mut o.value) {
        Some(Value::Str(s)) => s.make_raw(),
        _ => unreachable!("checked to hold a sketch"),
    }
}

/// Looks `key` up for writing and creates an empty sketch when missing; Err after replying.
fn sketch_for_write(srv: &mut Server, c: &mut Client, key: &[u8]) -> Result<bool, ()> {
    let exists = match check_sketch(srv.lookup_write(c.db, key).map(|o| &*o)) {
        Ok(e) => e,
        Err(msg) => {
            c.out.error(msg);
            return Err(());
        }
    };
    if !exists {
        srv.db_add(c.db, key, Value::Str(RStr::raw(hll::new_sparse())));
    }
    Ok(!exists)
}

fn pfadd_command(srv: &mut Server, c: &mut Client) {
    let key = std::mem::take(&mut c.argv[1]);
    pfadd(srv, c, &key);
    c.argv[1] = key;
}

fn pfadd(srv: &mut Server, c: &mut Client, key: &[u8]) {
    let Ok(created) = sketch_for_write(srv, c, key) else {
        return;
    };
    let mut updated = created as i64;
    let sparse_max = srv.config.hll_sparse_max_bytes.max(0) as usize;
    let s = sketch_mut(srv, c.db, key);
    for ele in &c.argv[2..] {
        match hll::add(s, ele, sparse_max) {
            Ok(true) => updated += 1,
            Ok(false) => {}
            Err(hll::Corrupt) => {
                c.out.error(CORRUPT);
                return;
            }
        }
    }
    if updated > 0 {
        hll::invalidate_cache(s);
        srv.signal_modified_key(c.db, key);
        srv.notify_keyspace_event(notify::STRING, "pfadd", key, c.db);
        srv.dirty += updated;
    }
    c.out.int((updated > 0) as i64);
}

/// Folds the sketches at `keys` (missing keys count as empty) into one register per byte.
/// Err after replying; Ok(true) when one of them is dense.
fn merge_keys(
    srv: &mut Server,
    c: &mut Client,
    keys: std::ops::Range<usize>,
    max: &mut [u8; hll::REGISTERS],
) -> Result<bool, ()> {
    let mut any_dense = false;
    for j in keys {
        let o = srv.lookup_read(c.db, &c.argv[j]);
        match check_sketch(o.as_deref()) {
            Ok(false) => continue,
            Ok(true) => {}
            Err(msg) => {
                c.out.error(msg);
                return Err(());
            }
        }
        let Some(Value::Str(s)) = o.map(|o| &o.value) else {
            unreachable!("checked to hold a sketch")
        };
        let merged = s.with_bytes(|b| {
            any_dense |= hll::encoding(b) == hll::DENSE;
            hll::merge_into(max, b)
        });
        if merged.is_err() {
            c.out.error(CORRUPT);
            return Err(());
        }
    }
    Ok(any_dense)
}

fn pfcount_command(srv: &mut Server, c: &mut Client) {
    if c.argv.len() > 2 {
        // The cardinality of the union, computed on a scratch copy: no key changes.
        let mut max = [0u8; hll::REGISTERS];
        if merge_keys(srv, c, 1..c.argv.len(), &mut max).is_ok() {
            c.out.int(hll::count_registers(&max) as i64);
        }
        return;
    }
    let key = std::mem::take(&mut c.argv[1]);
    pfcount_one(srv, c, &key);
    c.argv[1] = key;
}

fn pfcount_one(srv: &mut Server, c: &mut Client, key: &[u8]) {
    match check_sketch(srv.lookup_read(c.db, key).map(|o| &*o)) {
        Ok(true) => {}
        Ok(false) => {
            c.out.int(0);
            return;
        }
        Err(msg) => {
            c.out.error(msg);
            return;
        }
    }
    let s = sketch_mut(srv, c.db, key);
    if let Some(card) = hll::cached_card(s) {
        c.out.int(card as i64);
        return;
    }
    let Ok(card) = hll::count(s) else {
        c.out.error(CORRUPT);
        return;
    };
    // Caching the result changes the value: replicas and the AOF get it too.
    hll::set_cached_card(s, card);
    srv.signal_modified_key(c.db, key);
    srv.dirty += 1;
    c.out.int(card as i64);
}

fn pfmerge_command(srv: &mut Server, c: &mut Client) {
    let key = c.argv[1].clone();
    // The destination is one of the sources, so it is type-checked with them.
    let mut max = [0u8; hll::REGISTERS];
    let Ok(any_dense) = merge_keys(srv, c, 1..c.argv.len(), &mut max) else {
        return;
    };
    if sketch_for_write(srv, c, &key).is_err() {
        return;
    }
    let sparse_max = srv.config.hll_sparse_max_bytes.max(0) as usize;
    let s = sketch_mut(srv, c.db, &key);
    if any_dense && hll::to_dense(s).is_err() {
        c.out.error(CORRUPT);
        return;
    }
    for (i, &m) in max.iter().enumerate() {
        if m != 0 {
            // A corrupt destination is caught by the next count, as in Redis.
            let _ = hll::set_register(s, i, m, sparse_max);
        }
    }
    hll::invalidate_cache(s);
    srv.signal_modified_key(c.db, &key);
    // A merge is a bulk add, and is announced as one.
    srv.notify_keyspace_event(notify::STRING, "pfadd", &key, c.db);
    srv.dirty += 1;
    c.out.ok();
}

fn pfselftest_command(srv: &mut Server, c: &mut Client) {
    let sparse_max = srv.config.hll_sparse_max_bytes.max(0) as usize;
    match hll::self_test(&mut srv.rng, sparse_max) {
        Ok(()) => c.out.ok(),
        Err(msg) => c.out.error(&msg),
    }
}

fn pfdebug_command(srv: &mut Server, c: &mut Client) {
    let key = c.argv[2].clone();
    match check_sketch(srv.lookup_write(c.db, &key).map(|o| &*o)) {
        Ok(true) => {}
        Ok(false) => {
            c.out.error("The specified key does not exist");
            return;
        }
        Err(msg) => {
            c.out.error(msg);
            return;
        }
    }
    let sub = String::from_utf8_lossy(&c.argv[1]).into_owned();
    let known = ["getreg", "decode", "encoding", "todense"];
    let Some(&which) = known.iter().find(|k| sub.eq_ignore_ascii_case(k)) else {
        c.out.error(&format!("Unknown PFDEBUG subcommand '{sub}'"));
        return;
    };
    if c.argv.len() != 3 {
        c.out.error(&format!(
            "Wrong number of arguments for the '{sub}' subcommand"
        ));
        return;
    }
    let s = sketch_mut(srv, c.db, &key);
    match which {
        "getreg" | "todense" => {
            let sparse = hll::encoding(s) == hll::SPARSE;
            if sparse {
                if hll::to_dense(s).is_err() {
                    c.out.error(CORRUPT);
                    return;
                }
                // The encoding change must reach replicas and the AOF.
                srv.dirty += 1;
            }
            let s = sketch_mut(srv, c.db, &key);
            if which == "todense" {
                c.out.int(sparse as i64);
            } else {
                c.out.array(hll::REGISTERS);
                for r in hll::dense_registers(s) {
                    c.out.int(r as i64);
                }
            }
        }
        "decode" => {
            if hll::encoding(s) != hll::SPARSE {
                c.out.error("HLL encoding is not sparse");
                return;
            }
            c.out.bulk(hll::decode_sparse(s).as_bytes());
        }
        _ => {
            let name = if hll::encoding(s) == hll::DENSE {
                "dense"
            } else {
                "sparse"
            };
            c.out.status(name);
        }
    }
}
