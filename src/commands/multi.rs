//! Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH, with Redis 7.0's abort rules — a command
//! rejected while queueing makes EXEC fail with EXECABORT; a modified (or expired) WATCHed key
//! makes EXEC return a null array.

use crate::client::{flags, Client, QueuedCommand};
use crate::commands::{CmdId, CmdProc};
use crate::server::Server;

pub fn lookup(name: &str) -> Option<CmdProc> {
    Some(match name {
        "multi" => multi_command,
        "exec" => exec_command,
        "discard" => discard_command,
        "watch" => watch_command,
        "unwatch" => unwatch_command,
        _ => return None,
    })
}

impl Server {
    /// Queues a command inside MULTI.
    pub fn queue_multi_command(&mut self, c: &mut Client, _id: CmdId) {
        // A transaction already doomed doesn't need to keep its commands.
        if c.has(flags::DIRTY_EXEC | flags::DIRTY_CAS) {
            return;
        }
        c.multi.push(QueuedCommand {
            argv: std::mem::take(&mut c.argv),
        });
    }

    /// The union of the flags of the queued commands (EXEC is checked as if it were them).
    pub fn queued_flags(&self, c: &Client) -> u64 {
        let mut f = 0;
        for q in &c.multi {
            if let Some(id) = self.commands.lookup(&q.argv) {
                f |= self.commands.cmds[id].flags;
            }
        }
        f
    }

    /// Forgets the transaction and the watched keys.
    pub fn discard_transaction(&mut self, c: &mut Client) {
        c.multi.clear();
        c.flags &= !(flags::MULTI | flags::DIRTY_CAS | flags::DIRTY_EXEC);
        self.unwatch_all(c);
    }

    /// Stops watching every key of a client.
    pub fn unwatch_all(&mut self, c: &mut Client) {
        c.watched_expired.clear();
        for (db, key) in c.watched.drain(..) {
            let k = (db, key);
            if let Some(ids) = self.watched_keys.get_mut(&k) {
                ids.retain(|x| *x != c.id);
                if ids.is_empty() {
                    self.watched_keys.remove(&k);
                }
            }
        }
    }

    /// True if a watched key expired since it was watched.
    fn watched_key_expired(&mut self, c: &Client) -> bool {
        let now = self.now_ms();
        c.watched_expired
            .iter()
            .zip(c.watched.iter())
            .any(|(was_expired, (db, key))| {
                !*was_expired
                    && self.dbs[*db].dict.contains_key(&key[..])
                    && self.dbs[*db].expire_of(key).is_some_and(|w| w <= now)
            })
    }
}

fn multi_command(_srv: &mut Server, c: &mut Client) {
    if c.has(flags::MULTI) {
        c.out.error("MULTI calls can not be nested");
        return;
    }
    c.flags |= flags::MULTI;
    c.out.ok();
}

fn discard_command(srv: &mut Server, c: &mut Client) {
    if !c.has(flags::MULTI) {
        c.out.error("DISCARD without MULTI");
        return;
    }
    srv.discard_transaction(c);
    c.out.ok();
}

fn exec_command(srv: &mut Server, c: &mut Client) {
    if !c.has(flags::MULTI) {
        c.out.error("EXEC without MULTI");
        return;
    }
    if srv.watched_key_expired(c) {
        c.flags |= flags::DIRTY_CAS;
    }
    if c.has(flags::DIRTY_CAS | flags::DIRTY_EXEC) {
        if c.has(flags::DIRTY_EXEC) {
            c.out.error(crate::commands::errors::EXECABORT);
        } else {
            c.out.null_array();
        }
        srv.discard_transaction(c);
        return;
    }
    srv.unwatch_all(c);
    let queued = std::mem::take(&mut c.multi);
    c.flags &= !flags::MULTI;
    let exec_argv = std::mem::take(&mut c.argv);
    // Each queued command owes exactly one reply, so none may block or become a monitor.
    let had_deny_blocking = c.has(flags::DENY_BLOCKING);
    c.flags |= flags::DENY_BLOCKING;
    c.out.array(queued.len());
    for q in queued {
        c.argv = q.argv;
        match srv.commands.lookup(&c.argv) {
            Some(id) => {
                c.last_cmd = Some(id);
                srv.call(c, id);
            }
            None => c.out.error("unknown command"),
        }
    }
    if !had_deny_blocking {
        c.flags &= !flags::DENY_BLOCKING;
    }
    c.argv = exec_argv;
    c.last_cmd = srv.commands.lookup(&c.argv);
}

fn watch_command(srv: &mut Server, c: &mut Client) {
    if c.has(flags::MULTI) {
        c.out.error("WATCH inside MULTI is not allowed");
        return;
    }
    if c.has(flags::DIRTY_CAS) {
        c.out.ok();
        return;
    }
    let now = srv.now_ms();
    for i in 1..c.argv.len() {
        let key = c.argv[i].clone();
        if c.watched.iter().any(|(d, k)| *d == c.db && *k == key) {
            continue;
        }
        let expired = srv.dbs[c.db].expire_of(&key).is_some_and(|w| w <= now);
        srv.watched_keys
            .entry((c.db, key.clone()))
            .or_default()
            .push(c.id);
        c.watched.push((c.db, key));
        c.watched_expired.push(expired);
    }
    c.out.ok();
}

fn unwatch_command(srv: &mut Server, c: &mut Client) {
    srv.unwatch_all(c);
    c.watched_expired.clear();
    c.flags &= !flags::DIRTY_CAS;
    c.out.ok();
}
