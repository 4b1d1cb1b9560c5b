//! Key expiry commands: EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT (with NX/XX/GT/LT), TTL, PTTL,
//! EXPIRETIME, PEXPIRETIME and PERSIST (Redis' expire.c). Relative times are turned into absolute
//! ones here and propagated as PEXPIREAT, so replicas and the AOF expire the key at the same
//! instant whenever they apply the command.

use crate::client::Client;
use crate::commands::{errors, CmdProc};
use crate::config::table::notify;
use crate::db::lookup;
use crate::server::Server;

pub fn lookup(name: &str) -> Option<CmdProc> {
    Some(match name {
        "expire" => expire_command,
        "pexpire" => pexpire_command,
        "expireat" => expireat_command,
        "pexpireat" => pexpireat_command,
        "ttl" => ttl_command,
        "pttl" => pttl_command,
        "expiretime" => expiretime_command,
        "pexpiretime" => pexpiretime_command,
        "persist" => persist_command,
        _ => return None,
    })
}

/// The NX/XX/GT/LT conditions of the EXPIRE family.
#[derive(Default, Clone, Copy)]
struct Conditions {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
}

fn parse_conditions(c: &mut Client) -> Option<Conditions> {
    let mut f = Conditions::default();
    for j in 3..c.argv.len() {
        let opt = &c.argv[j];
        if opt.eq_ignore_ascii_case(b"nx") {
            f.nx = true;
        } else if opt.eq_ignore_ascii_case(b"xx") {
            f.xx = true;
        } else if opt.eq_ignore_ascii_case(b"gt") {
            f.gt = true;
        } else if opt.eq_ignore_ascii_case(b"lt") {
            f.lt = true;
        } else {
            let msg = format!("Unsupported option {}", String::from_utf8_lossy(opt));
            c.out.error(&msg);
            return None;
        }
    }
    if f.nx && (f.xx || f.gt || f.lt) {
        c.out
            .error("NX and XX, GT or LT options at the same time are not compatible");
        return None;
    }
    if f.gt && f.lt {
        c.out
            .error("GT and LT options at the same time are not compatible");
        return None;
    }
    Some(f)
}

/// True when the key must go away now rather than get an expire: the time is not in the
/// future. Replicas and a loading server keep the key with its (past) expire instead, and wait
/// for the master's DEL, so that they never diverge.
fn already_expired(srv: &Server, when: i64) -> bool {
    when <= srv.now_ms() && !srv.loading && !srv.is_replica()
}

/// EXPIRE and friends: `basetime` is "now" for relative forms and 0 for absolute ones,
/// `unit_ms` the unit of the argument.
fn expire_generic(srv: &mut Server, c: &mut Client, basetime: i64, unit_ms: i64) {
    let Some(cond) = parse_conditions(c) else {
        return;
    };
    let Some(mut when) = crate::util::parse_i64(&c.argv[2]) else {
        c.out.error(errors::NOT_INTEGER);
        return;
    };
    let invalid = |c: &mut Client| {
        let cmd = String::from_utf8_lossy(&c.argv[0]).to_lowercase();
        c.out
            .error(&format!("invalid expire time in '{}' command", cmd));
    };
    // Negative times are allowed (they expire the key), overflow is not.
    when = match when.checked_mul(unit_ms) {
        Some(w) => w,
        None => return invalid(c),
    };
    if when > i64::MAX - basetime {
        return invalid(c);
    }
    when += basetime;

    let key = std::mem::take(&mut c.argv[1]);
    let reply = set_expire_checked(srv, c, &key, when, cond);
    c.argv[1] = key;
    let Some(outcome) = reply else {
        c.out.int(0);
        return;
    };
    match outcome {
        Outcome::Deleted => {
            let cmd: &[u8] = if srv.config.lazyfree_lazy_expire {
                b"UNLINK"
            } else {
                b"DEL"
            };
            c.propagate_argv = Some(vec![cmd.to_vec(), c.argv[1].clone()]);
        }
        Outcome::Set => {
            // Propagated as PEXPIREAT with the absolute time, conditions kept.
            let is_pexpireat = basetime == 0 && unit_ms == 1;
            if !is_pexpireat {
                let mut argv = c.argv.clone();
                argv[0] = b"PEXPIREAT".to_vec();
                argv[2] = when.to_string().into_bytes();
                c.propagate_argv = Some(argv);
            }
        }
    }
    c.out.int(1);
    if let Outcome::Set = outcome {
        // Redis replies before raising `expire` (but raises `del` before replying).
        srv.flush_self_pushes(c);
        let key = std::mem::take(&mut c.argv[1]);
        srv.notify_keyspace_event(notify::GENERIC, "expire", &key, c.db);
        c.argv[1] = key;
    }
}

enum Outcome {
    Set,
    Deleted,
}

/// Applies an absolute expire to an existing key under the NX/XX/GT/LT conditions. Returns
/// None when nothing was done (no key, or a condition failed). A deadline in the past deletes
/// the key (raising `del`); the caller raises `expire` for a set deadline, after its reply.
fn set_expire_checked(
    srv: &mut Server,
    c: &Client,
    key: &[u8],
    when: i64,
    cond: Conditions,
) -> Option<Outcome> {
    let db = c.db;
    srv.lookup_write(db, key)?;
    let current = srv.dbs[db].expire_of(key);
    if cond.nx && current.is_some() {
        return None;
    }
    if cond.xx && current.is_none() {
        return None;
    }
    // A key without an expire counts as living forever: GT never passes, LT always does.
    if cond.gt && current.is_none_or(|cur| when <= cur) {
        return None;
    }
    if cond.lt && current.is_some_and(|cur| when >= cur) {
        return None;
    }
    if already_expired(srv, when) {
        srv.db_delete(db, key);
        srv.dirty += 1;
        srv.signal_modified_key(db, key);
        srv.notify_keyspace_event(notify::GENERIC, "del", key, db);
        return Some(Outcome::Deleted);
    }
    srv.set_expire(db, key, when);
    srv.signal_modified_key(db, key);
    srv.dirty += 1;
    Some(Outcome::Set)
}

fn expire_command(srv: &mut Server, c: &mut Client) {
    let now = srv.now_ms();
    expire_generic(srv, c, now, 1000)
}

fn pexpire_command(srv: &mut Server, c: &mut Client) {
    let now = srv.now_ms();
    expire_generic(srv, c, now, 1)
}

fn expireat_command(srv: &mut Server, c: &mut Client) {
    expire_generic(srv, c, 0, 1000)
}

fn pexpireat_command(srv: &mut Server, c: &mut Client) {
    expire_generic(srv, c, 0, 1)
}

/// TTL, PTTL, EXPIRETIME, PEXPIRETIME: -2 for a missing key, -1 without an expire.
fn ttl_generic(srv: &mut Server, c: &mut Client, in_ms: bool, absolute: bool) {
    let key = std::mem::take(&mut c.argv[1]);
    let exists = srv.lookup_key(c.db, &key, lookup::NOTOUCH).is_some();
    let expire = srv.dbs[c.db].expire_of(&key);
    c.argv[1] = key;
    if !exists {
        c.out.int(-2);
        return;
    }
    let Some(when) = expire else {
        c.out.int(-1);
        return;
    };
    let ttl = if absolute { when } else { when - srv.now_ms() }.max(0);
    // Seconds are rounded to the nearest one.
    c.out.int(if in_ms { ttl } else { (ttl + 500) / 1000 });
}

fn ttl_command(srv: &mut Server, c: &mut Client) {
    ttl_generic(srv, c, false, false)
}

fn pttl_command(srv: &mut Server, c: &mut Client) {
    ttl_generic(srv, c, true, false)
}

fn expiretime_command(srv: &mut Server, c: &mut Client) {
    ttl_generic(srv, c, false, true)
}

fn pexpiretime_command(srv: &mut Server, c: &mut Client) {
    ttl_generic(srv, c, true, true)
}

fn persist_command(srv: &mut Server, c: &mut Client) {
    let key = std::mem::take(&mut c.argv[1]);
    let mut removed = false;
    if srv.lookup_write(c.db, &key).is_some() && srv.remove_expire(c.db, &key) {
        srv.signal_modified_key(c.db, &key);
        srv.notify_keyspace_event(notify::GENERIC, "persist", &key, c.db);
        srv.dirty += 1;
        removed = true;
    }
    c.argv[1] = key;
    c.out.int(removed as i64);
}

#[cfg(test)]
mod tests {
    use crate::client::Client;
    use crate::server::Server;

    /// A server whose propagation log is consumed by the test: the log is enabled and a call
    /// depth of one keeps `call` from flushing it, so `srv.prop.flush()` shows what a command
    /// propagated.
    fn setup() -> (Server, Client) {
        let mut srv = crate::commands::test_support::test_server();
        srv.prop.enabled = true;
        srv.prop.depth = 1;
        let c = Client::fake(1000, 0);
        (srv, c)
    }

    fn run(srv: &mut Server, c: &mut Client, args: &[&str]) -> String {
        c.argv = args.iter().map(|a| a.as_bytes().to_vec()).collect();
        srv.process_command(c);
        String::from_utf8(c.out.take_all()).unwrap()
    }

    /// The propagated commands.
    fn propagated(srv: &mut Server) -> Vec<Vec<String>> {
        srv.prop
            .flush()
            .into_iter()
            .map(|e| {
                e.argv
                    .into_iter()
                    .map(|a| String::from_utf8(a).unwrap())
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn relative_expire_is_propagated_as_absolute_pexpireat() {
        let (mut srv, mut c) = setup();
        run(&mut srv, &mut c, &["SET", "k", "v"]);
        srv.prop.flush();
        let before = crate::util::mstime();
        assert_eq!(
            run(&mut srv, &mut c, &["expire", "k", "100", "nx"]),
            ":1\r\n"
        );
        let after = crate::util::mstime();
        let p = propagated(&mut srv);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0][0], "PEXPIREAT");
        assert_eq!(p[0][1], "k");
        assert_eq!(p[0][3], "nx");
        let when: i64 = p[0][2].parse().unwrap();
        assert!(when >= before + 100_000 - 1000 && when <= after + 100_000 + 1000);
        assert_eq!(srv.dbs[0].expire_of(b"k"), Some(when));
        // The client's own argv is untouched (monitors and the slow log see what it sent).
        assert_eq!(c.argv[0], b"expire");
    }

    #[test]
    fn pexpireat_is_propagated_verbatim() {
        let (mut srv, mut c) = setup();
        run(&mut srv, &mut c, &["SET", "k", "v"]);
        srv.prop.flush();
        let when = (crate::util::mstime() + 50_000).to_string();
        assert_eq!(run(&mut srv, &mut c, &["pexpireat", "k", &when]), ":1\r\n");
        assert_eq!(propagated(&mut srv), vec![vec!["pexpireat", "k", &when]]);
    }

    #[test]
    fn expire_in_the_past_deletes_and_propagates_del() {
        let (mut srv, mut c) = setup();
        run(&mut srv, &mut c, &["SET", "k", "v"]);
        srv.prop.flush();
        assert_eq!(run(&mut srv, &mut c, &["EXPIRE", "k", "-1"]), ":1\r\n");
        assert!(!srv.dbs[0].dict.contains_key(&b"k"[..]));
        assert_eq!(propagated(&mut srv), vec![vec!["DEL", "k"]]);

        srv.config.lazyfree_lazy_expire = true;
        run(&mut srv, &mut c, &["SET", "k", "v"]);
        srv.prop.flush();
        assert_eq!(run(&mut srv, &mut c, &["PEXPIREAT", "k", "1"]), ":1\r\n");
        assert_eq!(propagated(&mut srv), vec![vec!["UNLINK", "k"]]);
    }

    #[test]
    fn failed_conditions_propagate_nothing() {
        let (mut srv, mut c) = setup();
        run(&mut srv, &mut c, &["SET", "k", "v"]);
        srv.prop.flush();
        assert_eq!(
            run(&mut srv, &mut c, &["EXPIRE", "k", "100", "XX"]),
            ":0\r\n"
        );
        assert_eq!(
            run(&mut srv, &mut c, &["EXPIRE", "k", "100", "GT"]),
            ":0\r\n"
        );
        assert_eq!(run(&mut srv, &mut c, &["EXPIRE", "nokey", "100"]), ":0\r\n");
        assert!(propagated(&mut srv).is_empty());
        // The replacement doesn't leak into the next command.
        assert!(c.propagate_argv.is_none());
    }

    #[test]
    fn flush_on_empty_databases_is_still_propagated() {
        let (mut srv, mut c) = setup();
        let dirty = srv.dirty;
        assert_eq!(run(&mut srv, &mut c, &["FLUSHALL"]), "+OK\r\n");
        assert_eq!(propagated(&mut srv), vec![vec!["FLUSHALL"]]);
        assert_eq!(run(&mut srv, &mut c, &["FLUSHDB", "ASYNC"]), "+OK\r\n");
        assert_eq!(propagated(&mut srv), vec![vec!["FLUSHDB", "ASYNC"]]);
        assert_eq!(srv.dirty, dirty);
    }

    #[test]
    fn key_lives_through_its_expire_millisecond() {
        let (mut srv, mut c) = setup();
        run(&mut srv, &mut c, &["SET", "k", "v"]);
        let now = srv.now_ms();
        srv.set_expire(0, b"k", now);
        assert!(!srv.key_is_expired(0, b"k"));
        srv.set_expire(0, b"k", now - 1);
        assert!(srv.key_is_expired(0, b"k"));
    }
}
