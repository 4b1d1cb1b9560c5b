//! Generic key commands: DEL, UNLINK, EXISTS, TYPE, DBSIZE, FLUSHDB, FLUSHALL.

use crate::client::Client;
use crate::commands::CmdProc;
use crate::config::table::notify;
use crate::server::Server;

pub fn lookup(name: &str) -> Option<CmdProc> {
    Some(match name {
        "del" => del_command,
        "unlink" => unlink_command,
        "exists" => exists_command,
        "type" => type_command,
        "dbsize" => dbsize_command,
        "flushdb" => flushdb_command,
        "flushall" => flushall_command,
        _ => return None,
    })
}

fn del_generic(srv: &mut Server, c: &mut Client) {
    let mut deleted = 0;
    for i in 1..c.argv.len() {
        let key = std::mem::take(&mut c.argv[i]);
        srv.expire_if_needed(c.db, &key, false);
        if srv.db_delete(c.db, &key) {
            srv.signal_modified_key(c.db, &key);
            srv.notify_keyspace_event(notify::GENERIC, "del", &key, c.db);
            srv.dirty += 1;
            deleted += 1;
        }
        c.argv[i] = key;
    }
    c.out.int(deleted);
}

fn del_command(srv: &mut Server, c: &mut Client) {
    del_generic(srv, c)
}

fn unlink_command(srv: &mut Server, c: &mut Client) {
    del_generic(srv, c)
}

fn exists_command(srv: &mut Server, c: &mut Client) {
    let mut count = 0;
    for i in 1..c.argv.len() {
        let key = std::mem::take(&mut c.argv[i]);
        if srv
            .lookup_key(c.db, &key, crate::db::lookup::NOTOUCH)
            .is_some()
        {
            count += 1;
        }
        c.argv[i] = key;
    }
    c.out.int(count);
}

fn type_command(srv: &mut Server, c: &mut Client) {
    let key = std::mem::take(&mut c.argv[1]);
    let name = srv
        .lookup_key(c.db, &key, crate::db::lookup::NOTOUCH)
        .map_or("none", |o| o.value.type_name());
    c.argv[1] = key;
    c.out.status(name);
}

fn dbsize_command(srv: &mut Server, c: &mut Client) {
    c.out.int(srv.dbs[c.db].len() as i64);
}

/// Parses the optional ASYNC|SYNC flag of FLUSHDB/FLUSHALL.
fn flush_flags(c: &mut Client) -> Option<()> {
    match c.argv.len() {
        1 => Some(()),
        2 if c.argv[1].eq_ignore_ascii_case(b"async")
            || c.argv[1].eq_ignore_ascii_case(b"sync") =>
        {
            Some(())
        }
        _ => {
            c.out.error(crate::commands::errors::SYNTAX);
            None
        }
    }
}

fn flushdb_command(srv: &mut Server, c: &mut Client) {
    if flush_flags(c).is_none() {
        return;
    }
    srv.signal_flushed_db(Some(c.db));
    let removed = srv.empty_data(Some(c.db));
    srv.dirty += removed as i64 + 1;
    c.out.ok();
}

fn flushall_command(srv: &mut Server, c: &mut Client) {
    if flush_flags(c).is_none() {
        return;
    }
    srv.signal_flushed_db(None);
    let removed = srv.empty_data(None);
    srv.dirty += removed as i64 + 1;
    c.out.ok();
}
