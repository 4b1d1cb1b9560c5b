//! String commands: GET, SET (every option), INCR family, MGET, MSET.

use crate::client::Client;
use crate::commands::{errors, CmdProc};
use crate::config::table::notify;
use crate::server::Server;
use crate::types::{RStr, Value, WRONGTYPE};

pub fn lookup(name: &str) -> Option<CmdProc> {
    Some(match name {
        "get" => get_command,
        "set" => set_command,
        "incr" => incr_command,
        "decr" => decr_command,
        "incrby" => incrby_command,
        "decrby" => decrby_command,
        "mget" => mget_command,
        "mset" => mset_command,
        _ => return None,
    })
}

/// Replies the string value of a key: bulk, null, or WRONGTYPE. Returns false on WRONGTYPE.
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
            #[allow(unreachable_patterns)]
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

#[derive(Default)]
struct SetOptions {
    nx: bool,
    xx: bool,
    get: bool,
    keepttl: bool,
    /// (argument index of the value, unit in ms, absolute?)
    expire: Option<(usize, i64, bool)>,
}

fn parse_set_options(c: &mut Client) -> Option<SetOptions> {
    let mut o = SetOptions::default();
    let mut j = 3;
    while j < c.argv.len() {
        let a = c.argv[j].to_ascii_uppercase();
        let has_next = j + 1 < c.argv.len();
        match a.as_slice() {
            b"NX" if !o.xx => o.nx = true,
            b"XX" if !o.nx => o.xx = true,
            b"GET" => o.get = true,
            b"KEEPTTL" if o.expire.is_none() => o.keepttl = true,
            b"EX" | b"PX" | b"EXAT" | b"PXAT" if !o.keepttl && o.expire.is_none() && has_next => {
                let (unit, abs) = match a.as_slice() {
                    b"EX" => (1000, false),
                    b"PX" => (1, false),
                    b"EXAT" => (1000, true),
                    _ => (1, true),
                };
                o.expire = Some((j + 1, unit, abs));
                j += 1;
            }
            _ => {
                c.out.error(errors::SYNTAX);
                return None;
            }
        }
        j += 1;
    }
    Some(o)
}

/// Converts an expire argument to an absolute time in ms, replying the error on failure.
pub fn parse_expire_ms(
    srv: &Server,
    c: &mut Client,
    arg: usize,
    unit_ms: i64,
    absolute: bool,
    cmd: &str,
) -> Option<i64> {
    let Some(v) = crate::util::parse_i64(&c.argv[arg]) else {
        c.out.error(errors::NOT_INTEGER);
        return None;
    };
    let invalid = |c: &mut Client| {
        c.out
            .error(&format!("invalid expire time in '{}' command", cmd))
    };
    if v <= 0 {
        invalid(c);
        return None;
    }
    let Some(ms) = v.checked_mul(unit_ms) else {
        invalid(c);
        return None;
    };
    if absolute {
        return Some(ms);
    }
    match ms.checked_add(srv.now_ms()) {
        Some(w) => Some(w),
        None => {
            invalid(c);
            None
        }
    }
}

fn set_command(srv: &mut Server, c: &mut Client) {
    let Some(o) = parse_set_options(c) else {
        return;
    };
    let when = match o.expire {
        Some((arg, unit, abs)) => match parse_expire_ms(srv, c, arg, unit, abs, "set") {
            Some(w) => Some(w),
            None => return,
        },
        None => None,
    };
    let key = c.argv[1].clone();
    if o.get && !reply_string_of(srv, c, &key) {
        return;
    }
    let exists = srv.lookup_write(c.db, &key).is_some();
    if (o.nx && exists) || (o.xx && !exists) {
        if !o.get {
            c.out.null();
        }
        return;
    }
    let value = RStr::from_bytes(std::mem::take(&mut c.argv[2]));
    srv.set_key(c.db, &key, Value::Str(value), o.keepttl);
    c.argv[2] = Vec::new();
    srv.dirty += 1;
    srv.notify_keyspace_event(notify::STRING, "set", &key, c.db);
    if let Some(w) = when {
        srv.set_expire(c.db, &key, w);
        srv.notify_keyspace_event(notify::GENERIC, "expire", &key, c.db);
    }
    if !o.get {
        c.out.ok();
    }
}

fn incr_generic(srv: &mut Server, c: &mut Client, by: i64) {
    let key = c.argv[1].clone();
    let current = match srv.lookup_write(c.db, &key) {
        None => 0,
        Some(o) => match &o.value {
            Value::Str(s) => match s.as_i64() {
                Some(v) => v,
                None => {
                    c.out.error(errors::NOT_INTEGER);
                    return;
                }
            },
            #[allow(unreachable_patterns)]
            _ => {
                c.out.error(WRONGTYPE);
                return;
            }
        },
    };
    let Some(new) = current.checked_add(by) else {
        c.out.error("increment or decrement would overflow");
        return;
    };
    match srv.lookup_write(c.db, &key) {
        Some(o) => o.value = Value::Str(RStr::Int(new)),
        None => srv.db_add(c.db, &key, Value::Str(RStr::Int(new))),
    }
    srv.signal_modified_key(c.db, &key);
    srv.notify_keyspace_event(notify::STRING, "incrby", &key, c.db);
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

fn mget_command(srv: &mut Server, c: &mut Client) {
    c.out.array(c.argv.len() - 1);
    for i in 1..c.argv.len() {
        let key = std::mem::take(&mut c.argv[i]);
        match srv.lookup_read(c.db, &key) {
            Some(o) => match &o.value {
                Value::Str(s) => s.with_bytes(|b| c.out.bulk(b)),
                #[allow(unreachable_patterns)]
                _ => c.out.null(),
            },
            None => c.out.null(),
        }
        c.argv[i] = key;
    }
}

fn mset_command(srv: &mut Server, c: &mut Client) {
    if c.argv.len().is_multiple_of(2) {
        c.out.error("wrong number of arguments for 'mset' command");
        return;
    }
    for i in (1..c.argv.len()).step_by(2) {
        let key = c.argv[i].clone();
        let val = RStr::from_bytes(c.argv[i + 1].clone());
        srv.set_key(c.db, &key, Value::Str(val), false);
        srv.notify_keyspace_event(notify::STRING, "set", &key, c.db);
    }
    srv.dirty += ((c.argv.len() - 1) / 2) as i64;
    c.out.ok();
}
