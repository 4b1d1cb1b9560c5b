//! Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH, with Redis 7.0's abort rules — a command
//! rejected while queueing makes EXEC fail with EXECABORT; a modified (or expired) WATCHed key
//! makes EXEC return a null array.

use crate::client::{flags, Client, ClientId, QueuedCommand};
use crate::commands::{CmdId, CmdProc};
use crate::server::Server;

/// One client watching one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchEntry {
    pub client: ClientId,
    /// The key was already expired (but not deleted) when watched: its deletion alone
    /// doesn't fail the transaction.
    pub expired: bool,
}

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
        for k in c.watched.drain(..) {
            if let Some(entries) = self.watched_keys.get_mut(&k) {
                entries.retain(|e| e.client != c.id);
                if entries.is_empty() {
                    self.watched_keys.remove(&k);
                }
            }
        }
    }

    /// True if a key the client watches expired after it was watched (EXEC then fails even
    /// though nobody deleted the key yet).
    fn watched_key_expired(&self, c: &Client) -> bool {
        c.watched.iter().any(|k| {
            let expired_at_watch = self
                .watched_keys
                .get(k)
                .and_then(|es| es.iter().find(|e| e.client == c.id))
                .is_some_and(|e| e.expired);
            !expired_at_watch && self.key_is_expired(k.0, &k.1)
        })
    }

    /// A watched key was modified: its watchers' next EXEC fails (Redis' `touchWatchedKey`).
    /// A key that was already expired when watched and is now gone (its lazy or active
    /// deletion) is no logical change, so that watcher is only told the key is now plain
    /// missing.
    pub fn touch_watched_key(&mut self, db: usize, key: &[u8]) {
        if self.watched_keys.is_empty() {
            return;
        }
        let exists = self.dbs[db].dict.contains_key(key);
        let Some(entries) = self.watched_keys.get_mut(&(db, key.to_vec())) else {
            return;
        };
        let mut dirty = Vec::new();
        for e in entries.iter_mut() {
            if e.expired {
                if !exists {
                    e.expired = false;
                    continue;
                }
                // Redis 7.0 stops scanning the watchers here (the key is still present).
                break;
            }
            dirty.push(e.client);
        }
        for id in dirty {
            self.set_client_flag(id, flags::DIRTY_CAS);
        }
    }

    /// A database is emptied (FLUSHDB/FLUSHALL) or swapped with `replaced_with` (SWAPDB):
    /// watchers of keys that existed, or that come into existence, are made dirty, except
    /// where an expired key merely disappears or is replaced by another expired key (Redis'
    /// `touchAllWatchedKeysInDb`). Call before the data changes.
    pub fn touch_all_watched_keys_in_db(&mut self, emptied: usize, replaced_with: Option<usize>) {
        if self.watched_keys.is_empty() {
            return;
        }
        let keys: Vec<(usize, Vec<u8>)> = self
            .watched_keys
            .keys()
            .filter(|(d, _)| *d == emptied)
            .cloned()
            .collect();
        let mut dirty = Vec::new();
        for k in keys {
            let key = &k.1;
            let exists_in_emptied = self.dbs[emptied].dict.contains_key(&key[..]);
            let exists_in_replacement =
                replaced_with.is_some_and(|r| self.dbs[r].dict.contains_key(&key[..]));
            if !exists_in_emptied && !exists_in_replacement {
                continue;
            }
            let replacement_expired = replaced_with.is_some_and(|r| self.key_is_expired(r, key));
            let Some(entries) = self.watched_keys.get_mut(&k) else {
                continue;
            };
            for e in entries.iter_mut() {
                if e.expired {
                    if !exists_in_replacement {
                        // The expired key is now deleted: no logical change.
                        e.expired = false;
                        continue;
                    } else if replacement_expired {
                        // Expired before, still expired.
                        continue;
                    }
                } else if !exists_in_emptied && replacement_expired {
                    // A missing key replaced by an expired one: still logically missing.
                    e.expired = true;
                    continue;
                }
                dirty.push(e.client);
            }
        }
        for id in dirty {
            self.set_client_flag(id, flags::DIRTY_CAS);
        }
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
    let exec_argv = std::mem::take(&mut c.argv);
    // Each queued command owes exactly one reply, so none may block or become a monitor.
    // MULTI stays set while they run (as in Redis); the transaction is discarded after.
    let had_deny_blocking = c.has(flags::DENY_BLOCKING);
    c.flags |= flags::DENY_BLOCKING;
    c.out.array(queued.len());
    // Modules ask whether a transaction is running (GetContextFlags' MULTI).
    let was_in_exec = std::mem::replace(&mut srv.in_exec, true);
    for q in queued {
        c.argv = q.argv;
        match srv.commands.lookup(&c.argv) {
            Some(id) => {
                c.last_cmd = Some(id);
                // Rules may have changed since the command was queued.
                let acl = if srv.acl.is_open(c.user) {
                    Ok(())
                } else {
                    let argv = std::mem::take(&mut c.argv);
                    let r = srv.acl_check_user_command(c.user, id, &argv);
                    c.argv = argv;
                    r
                };
                match acl {
                    Ok(()) => srv.call(c, id),
                    Err((reason, pos)) => {
                        let why = match reason {
                            crate::acl::Denied::Cmd => {
                                "no permission to execute the command or subcommand"
                            }
                            crate::acl::Denied::Key => "no permission to touch the specified keys",
                            crate::acl::Denied::Channel => {
                                "no permission to access one of the channels used as arguments"
                            }
                            crate::acl::Denied::Auth => "no permission",
                        };
                        srv.acl_add_log(c, reason, crate::acl::LogContext::Multi, pos, None, None);
                        c.out.error(&format!("-NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: {}", why));
                    }
                }
            }
            // Only a command renamed away since it was queued gets here.
            None => c.out.error("unknown command"),
        }
    }
    srv.in_exec = was_in_exec;
    if !had_deny_blocking {
        c.flags &= !flags::DENY_BLOCKING;
    }
    c.argv = exec_argv;
    c.last_cmd = srv.commands.lookup(&c.argv);
    srv.discard_transaction(c);
}

fn watch_command(srv: &mut Server, c: &mut Client) {
    if c.has(flags::MULTI) {
        c.out.error("WATCH inside MULTI is not allowed");
        return;
    }
    // Already dirty: the next EXEC fails anyway.
    if c.has(flags::DIRTY_CAS) {
        c.out.ok();
        return;
    }
    for i in 1..c.argv.len() {
        let k = (c.db, c.argv[i].clone());
        if c.watched.contains(&k) {
            continue;
        }
        let expired = srv.key_is_expired(k.0, &k.1);
        srv.watched_keys
            .entry(k.clone())
            .or_default()
            .push(WatchEntry {
                client: c.id,
                expired,
            });
        c.watched.push(k);
    }
    c.out.ok();
}

fn unwatch_command(srv: &mut Server, c: &mut Client) {
    srv.unwatch_all(c);
    c.flags &= !flags::DIRTY_CAS;
    c.out.ok();
}

#[cfg(test)]
mod tests {
    use crate::commands::pubsub::tests::{client, run, server};

    #[test]
    fn exec_fails_when_a_watched_key_is_touched() {
        let mut srv = server();
        let a = client(&mut srv);
        let b = client(&mut srv);
        run(&mut srv, a, &["watch", "x", "y"]);
        run(&mut srv, b, &["set", "y", "1"]);
        run(&mut srv, a, &["multi"]);
        run(&mut srv, a, &["incr", "y"]);
        assert_eq!(run(&mut srv, a, &["exec"]), "*-1\r\n");
        // After EXEC nothing is watched any more.
        run(&mut srv, b, &["set", "y", "5"]);
        run(&mut srv, a, &["multi"]);
        run(&mut srv, a, &["incr", "y"]);
        assert_eq!(run(&mut srv, a, &["exec"]), "*1\r\n:6\r\n");
        // The client's own write counts as a modification as well.
        run(&mut srv, a, &["watch", "y"]);
        run(&mut srv, a, &["set", "y", "1"]);
        run(&mut srv, a, &["multi"]);
        run(&mut srv, a, &["ping"]);
        assert_eq!(run(&mut srv, a, &["exec"]), "*-1\r\n");
    }

    #[test]
    fn flush_touches_only_existing_watched_keys() {
        let mut srv = server();
        let a = client(&mut srv);
        run(&mut srv, a, &["watch", "missing"]);
        run(&mut srv, a, &["flushall"]);
        run(&mut srv, a, &["multi"]);
        run(&mut srv, a, &["ping"]);
        assert_eq!(run(&mut srv, a, &["exec"]), "*1\r\n+PONG\r\n");
        run(&mut srv, a, &["set", "x", "1"]);
        run(&mut srv, a, &["watch", "x"]);
        run(&mut srv, a, &["flushdb"]);
        run(&mut srv, a, &["multi"]);
        run(&mut srv, a, &["ping"]);
        assert_eq!(run(&mut srv, a, &["exec"]), "*-1\r\n");
    }

    #[test]
    fn stale_and_expiring_watched_keys() {
        let mut srv = server();
        let a = client(&mut srv);
        // Already expired when watched: its deletion is no change.
        run(&mut srv, a, &["set", "x", "1"]);
        srv.set_expire(0, b"x", 1);
        run(&mut srv, a, &["watch", "x"]);
        assert_eq!(run(&mut srv, a, &["exists", "x"]), ":0\r\n");
        run(&mut srv, a, &["multi"]);
        run(&mut srv, a, &["ping"]);
        assert_eq!(run(&mut srv, a, &["exec"]), "*1\r\n+PONG\r\n");
        // Expiring after WATCH fails EXEC even before anything deletes the key.
        run(&mut srv, a, &["set", "y", "1"]);
        run(&mut srv, a, &["watch", "y"]);
        srv.set_expire(0, b"y", 1);
        run(&mut srv, a, &["multi"]);
        run(&mut srv, a, &["ping"]);
        assert_eq!(run(&mut srv, a, &["exec"]), "*-1\r\n");
    }

    #[test]
    fn queueing_errors_abort_and_nesting_is_refused() {
        let mut srv = server();
        let a = client(&mut srv);
        run(&mut srv, a, &["multi"]);
        assert_eq!(
            run(&mut srv, a, &["multi"]),
            "-ERR MULTI calls can not be nested\r\n"
        );
        assert_eq!(
            run(&mut srv, a, &["watch", "k"]),
            "-ERR WATCH inside MULTI is not allowed\r\n"
        );
        assert_eq!(run(&mut srv, a, &["set", "k", "v"]), "+QUEUED\r\n");
        assert!(run(&mut srv, a, &["nosuchcommand"]).starts_with("-ERR unknown command"));
        assert_eq!(
            run(&mut srv, a, &["exec"]),
            "-EXECABORT Transaction discarded because of previous errors.\r\n"
        );
        assert_eq!(run(&mut srv, a, &["get", "k"]), "$-1\r\n");
        assert_eq!(run(&mut srv, a, &["exec"]), "-ERR EXEC without MULTI\r\n");
        assert_eq!(
            run(&mut srv, a, &["discard"]),
            "-ERR DISCARD without MULTI\r\n"
        );
    }

    #[test]
    fn exec_propagates_writes_wrapped_only_when_several() {
        let mut srv = server();
        // As if a replica or an AOF consumed the stream.
        srv.prop.enabled = true;
        let a = client(&mut srv);
        let emitted = |srv: &crate::server::Server| srv.prop.emitted;
        run(&mut srv, a, &["multi"]);
        run(&mut srv, a, &["set", "a", "1"]);
        run(&mut srv, a, &["get", "a"]);
        run(&mut srv, a, &["set", "b", "2"]);
        let before = emitted(&srv);
        run(&mut srv, a, &["exec"]);
        // MULTI, SET, SET, EXEC.
        assert_eq!(emitted(&srv) - before, 4);
        for (body, n) in [
            (&[&["set", "c", "3"][..]][..], 1),
            (&[&["get", "c"][..]][..], 0),
            (&[][..], 0),
            (&[&["publish", "ch", "m"][..]][..], 1),
            (&[&["del", "nokey"][..]][..], 0),
        ] {
            run(&mut srv, a, &["multi"]);
            for cmd in body {
                run(&mut srv, a, cmd);
            }
            let before = emitted(&srv);
            run(&mut srv, a, &["exec"]);
            assert_eq!(emitted(&srv) - before, n, "{:?}", body);
        }
    }
}
