//! Connection introspection and control: the CLIENT subcommands (ID, INFO, LIST, KILL,
//! SETNAME/GETNAME, PAUSE/UNPAUSE, REPLY, NO-EVICT, UNBLOCK, HELP, and the client-side caching
//! ones: TRACKING, CACHING, GETREDIR, TRACKINGINFO) and MONITOR.
//!
//! These commands look at every connected client, including the one running the command, which
//! is out of `srv.clients` while it runs; `all_clients` puts it back in the picture. The
//! tracking machinery itself lives in `crate::tracking`.

use crate::client::{flags, Client, ClientId};
use crate::commands::{errors, reply_help, CmdProc};
use crate::server::{PauseKind, Server};

pub fn lookup(name: &str) -> Option<CmdProc> {
    Some(match name {
        "client|help" => client_help_command,
        "client|id" => client_id_command,
        "client|info" => client_info_command,
        "client|list" => client_list_command,
        "client|kill" => client_kill_command,
        "client|setname" => client_setname_command,
        "client|getname" => client_getname_command,
        "client|pause" => client_pause_command,
        "client|unpause" => client_unpause_command,
        "client|reply" => client_reply_command,
        "client|no-evict" => client_no_evict_command,
        "client|unblock" => client_unblock_command,
        "client|getredir" => client_getredir_command,
        "client|tracking" => client_tracking_command,
        "client|caching" => client_caching_command,
        "client|trackinginfo" => client_trackinginfo_command,
        "monitor" => monitor_command,
        _ => return None,
    })
}

/// Client types as CLIENT LIST TYPE / CLIENT KILL TYPE / client-output-buffer-limit name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientType {
    Normal,
    Replica,
    PubSub,
    Master,
}

/// The type of a client. MONITOR clients carry the replica flag internally but are shown as
/// normal clients, and only the PUBSUB flag (not RESP3 subscriptions) makes a pub/sub client.
pub fn client_type(c: &Client) -> ClientType {
    if c.has(flags::MASTER) {
        ClientType::Master
    } else if c.has(flags::SLAVE) && !c.has(flags::MONITOR) {
        ClientType::Replica
    } else if c.has(flags::PUBSUB) {
        ClientType::PubSub
    } else {
        ClientType::Normal
    }
}

pub fn client_type_by_name(name: &[u8]) -> Option<ClientType> {
    let n = name.to_ascii_lowercase();
    Some(match &n[..] {
        b"normal" => ClientType::Normal,
        b"slave" | b"replica" => ClientType::Replica,
        b"pubsub" => ClientType::PubSub,
        b"master" => ClientType::Master,
        _ => return None,
    })
}

/// Every connected client in creation (id) order, the calling one included.
fn all_clients<'a>(srv: &'a Server, me: &'a Client) -> Vec<&'a Client> {
    let mut v: Vec<&Client> = srv.clients.values().map(|b| &**b).collect();
    if !srv.clients.contains_key(&me.id) {
        v.push(me);
    }
    v.sort_by_key(|c| c.id);
    v
}

fn client_help_command(_srv: &mut Server, c: &mut Client) {
    reply_help(
        c,
        &[
            "CACHING (YES|NO)",
            "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
            "GETREDIR",
            "    Return the client ID we are redirecting to when tracking is enabled.",
            "GETNAME",
            "    Return the name of the current connection.",
            "ID",
            "    Return the ID of the current connection.",
            "INFO",
            "    Return information about the current client connection.",
            "KILL <ip:port>",
            "    Kill connection made from <ip:port>.",
            "KILL <option> <value> [<option> <value> [...]]",
            "    Kill connections. Options are:",
            "    * ADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made from the specified address",
            "    * LADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made to specified local address",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Kill connections by type.",
            "    * USER <username>",
            "      Kill connections authenticated by <username>.",
            "    * SKIPME (YES|NO)",
            "      Skip killing current connection (default: yes).",
            "LIST [options ...]",
            "    Return information about client connections. Options:",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Return clients of specified type.",
            "UNPAUSE",
            "    Stop the current client pause, resuming traffic.",
            "PAUSE <timeout> [WRITE|ALL]",
            "    Suspend all, or just write, clients for <timeout> milliseconds.",
            "REPLY (ON|OFF|SKIP)",
            "    Control the replies sent to the current connection.",
            "SETNAME <name>",
            "    Assign the name <name> to the current connection.",
            "UNBLOCK <clientid> [TIMEOUT|ERROR]",
            "    Unblock the specified blocked client.",
            "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
            "         [OPTIN] [OPTOUT] [NOLOOP]",
            "    Control server assisted client side caching.",
            "TRACKINGINFO",
            "    Report tracking status for the current connection.",
            "NO-EVICT (ON|OFF)",
            "    Protect current client connection from eviction.",
        ],
    );
}

fn client_id_command(_srv: &mut Server, c: &mut Client) {
    c.out.int(c.id as i64);
}

fn client_info_command(srv: &mut Server, c: &mut Client) {
    let mut s = srv.client_info_string(c);
    s.push('\n');
    c.out.verbatim(s.as_bytes(), "txt");
}

fn client_list_command(srv: &mut Server, c: &mut Client) {
    let argc = c.argv.len();
    let mut out = String::new();
    if argc == 4 && c.argv[2].eq_ignore_ascii_case(b"type") {
        let Some(t) = client_type_by_name(&c.argv[3]) else {
            let msg = format!(
                "Unknown client type '{}'",
                String::from_utf8_lossy(&c.argv[3])
            );
            c.out.error(&msg);
            return;
        };
        for cl in all_clients(srv, c) {
            if client_type(cl) == t {
                out.push_str(&srv.client_info_string(cl));
                out.push('\n');
            }
        }
    } else if argc > 3 && c.argv[2].eq_ignore_ascii_case(b"id") {
        let mut ids = Vec::with_capacity(argc - 3);
        for j in 3..argc {
            match crate::util::parse_i64(&c.argv[j]) {
                Some(v) => ids.push(v),
                None => {
                    c.out.error("Invalid client ID");
                    return;
                }
            }
        }
        for id in ids {
            let id = id as ClientId;
            if id == c.id {
                out.push_str(&srv.client_info_string(c));
                out.push('\n');
            } else if let Some(cl) = srv.clients.get(&id) {
                out.push_str(&srv.client_info_string(cl));
                out.push('\n');
            }
        }
    } else if argc != 2 {
        c.out.error(errors::SYNTAX);
        return;
    } else {
        for cl in all_clients(srv, c) {
            out.push_str(&srv.client_info_string(cl));
            out.push('\n');
        }
    }
    c.out.verbatim(out.as_bytes(), "txt");
}

fn client_kill_command(srv: &mut Server, c: &mut Client) {
    let argc = c.argv.len();
    let mut addr: Option<Vec<u8>> = None;
    let mut laddr: Option<Vec<u8>> = None;
    let mut user: Option<crate::acl::UserId> = None;
    let mut ctype: Option<ClientType> = None;
    let mut id: u64 = 0;
    let mut skipme = true;
    if argc == 3 {
        // The old form: one address, and a client may kill itself.
        addr = Some(c.argv[2].clone());
        skipme = false;
    } else {
        let mut i = 2;
        while i < argc {
            let more = argc > i + 1;
            let opt = &c.argv[i];
            if opt.eq_ignore_ascii_case(b"id") && more {
                match crate::util::parse_i64(&c.argv[i + 1]) {
                    Some(v) if v >= 1 => id = v as u64,
                    _ => {
                        c.out.error("client-id should be greater than 0");
                        return;
                    }
                }
            } else if opt.eq_ignore_ascii_case(b"type") && more {
                match client_type_by_name(&c.argv[i + 1]) {
                    Some(t) => ctype = Some(t),
                    None => {
                        let msg = format!(
                            "Unknown client type '{}'",
                            String::from_utf8_lossy(&c.argv[i + 1])
                        );
                        c.out.error(&msg);
                        return;
                    }
                }
            } else if opt.eq_ignore_ascii_case(b"addr") && more {
                addr = Some(c.argv[i + 1].clone());
            } else if opt.eq_ignore_ascii_case(b"laddr") && more {
                laddr = Some(c.argv[i + 1].clone());
            } else if opt.eq_ignore_ascii_case(b"user") && more {
                let Some(id) = srv.acl.by_name(&c.argv[i + 1]) else {
                    let msg = format!("No such user '{}'", String::from_utf8_lossy(&c.argv[i + 1]));
                    c.out.error(&msg);
                    return;
                };
                user = Some(id);
            } else if opt.eq_ignore_ascii_case(b"skipme") && more {
                let v = &c.argv[i + 1];
                if v.eq_ignore_ascii_case(b"yes") {
                    skipme = true;
                } else if v.eq_ignore_ascii_case(b"no") {
                    skipme = false;
                } else {
                    c.out.error(errors::SYNTAX);
                    return;
                }
            } else {
                c.out.error(errors::SYNTAX);
                return;
            }
            i += 2;
        }
    }
    let matches = |cl: &Client| {
        addr.as_ref().is_none_or(|a| cl.addr.as_bytes() == &a[..])
            && laddr.as_ref().is_none_or(|a| cl.laddr.as_bytes() == &a[..])
            && ctype.is_none_or(|t| client_type(cl) == t)
            && (id == 0 || cl.id == id)
            && user.is_none_or(|u| cl.user == u)
    };
    let mut victims: Vec<ClientId> = Vec::new();
    let mut kill_me = false;
    for cl in all_clients(srv, c) {
        if !matches(cl) {
            continue;
        }
        if cl.id == c.id {
            if skipme {
                continue;
            }
            kill_me = true;
        } else {
            victims.push(cl.id);
        }
    }
    let killed = victims.len() + kill_me as usize;
    for v in victims {
        srv.kill_client(v);
    }
    if argc == 3 {
        if killed == 0 {
            c.out.error("No such client");
        } else {
            c.out.ok();
        }
    } else {
        c.out.int(killed as i64);
    }
    // Our own connection goes only after the reply above was queued.
    if kill_me {
        c.flags |= flags::CLOSE_AFTER_REPLY;
    }
}

fn client_setname_command(_srv: &mut Server, c: &mut Client) {
    let name = c.argv[2].clone();
    if !crate::commands::connection::valid_client_name(&name) {
        c.out
            .error("Client names cannot contain spaces, newlines or special characters.");
        return;
    }
    c.name = if name.is_empty() { None } else { Some(name) };
    c.out.ok();
}

fn client_getname_command(_srv: &mut Server, c: &mut Client) {
    match c.name.clone() {
        Some(n) => c.out.bulk(&n),
        None => c.out.null(),
    }
}

fn client_pause_command(srv: &mut Server, c: &mut Client) {
    let mut kind = PauseKind::All;
    if c.argv.len() == 4 {
        let m = &c.argv[3];
        if m.eq_ignore_ascii_case(b"write") {
            kind = PauseKind::Write;
        } else if m.eq_ignore_ascii_case(b"all") {
            kind = PauseKind::All;
        } else {
            c.out.error("CLIENT PAUSE mode must be WRITE or ALL");
            return;
        }
    } else if c.argv.len() != 3 {
        crate::commands::reply_subcommand_syntax_error(c);
        return;
    }
    let Some(timeout) = crate::commands::arg_timeout_ms(c, 2) else {
        return;
    };
    // A zero timeout gives an end in the past: the pause is over at the next check.
    let end = if timeout > 0 {
        timeout.saturating_add(crate::util::mstime())
    } else {
        0
    };
    srv.pause_clients(crate::server::PausePurpose::ClientCommand, kind, end);
    c.out.ok();
}

fn client_unpause_command(srv: &mut Server, c: &mut Client) {
    srv.unpause_clients(crate::server::PausePurpose::ClientCommand);
    c.out.ok();
}

fn client_reply_command(_srv: &mut Server, c: &mut Client) {
    let mode = &c.argv[2];
    if mode.eq_ignore_ascii_case(b"on") {
        c.flags &= !(flags::REPLY_SKIP | flags::REPLY_OFF);
        if !c.has(flags::CLOSE_ASAP) {
            c.out.enabled = true;
        }
        c.out.ok();
    } else if mode.eq_ignore_ascii_case(b"off") {
        // No reply: the switch itself is the first silenced command.
        c.flags |= flags::REPLY_OFF;
        c.out.enabled = false;
    } else if mode.eq_ignore_ascii_case(b"skip") {
        // Takes effect after this command: the next command's reply is dropped.
        if !c.has(flags::REPLY_OFF) {
            c.flags |= flags::REPLY_SKIP_NEXT;
        }
    } else {
        c.out.error(errors::SYNTAX);
    }
}

fn client_no_evict_command(srv: &mut Server, c: &mut Client) {
    let mode = &c.argv[2];
    if mode.eq_ignore_ascii_case(b"on") {
        c.flags |= flags::NO_EVICT;
        // Its memory no longer counts toward maxmemory-clients (or counts again below).
        srv.update_client_mem(c);
        c.out.ok();
    } else if mode.eq_ignore_ascii_case(b"off") {
        c.flags &= !flags::NO_EVICT;
        srv.update_client_mem(c);
        c.out.ok();
    } else {
        c.out.error(errors::SYNTAX);
    }
}

fn client_unblock_command(srv: &mut Server, c: &mut Client) {
    if c.argv.len() > 4 {
        crate::commands::reply_subcommand_syntax_error(c);
        return;
    }
    if c.argv.len() == 4 {
        let r = &c.argv[3];
        if !r.eq_ignore_ascii_case(b"timeout") && !r.eq_ignore_ascii_case(b"error") {
            c.out
                .error("CLIENT UNBLOCK reason should be TIMEOUT or ERROR");
            return;
        }
    }
    let Some(id) = crate::util::parse_i64(&c.argv[2]) else {
        c.out.error(errors::NOT_INTEGER);
        return;
    };
    let error = c.argv.len() == 4 && c.argv[3].eq_ignore_ascii_case(b"error");
    // Only clients blocked on keys can be unblocked: clients held by CLIENT PAUSE are
    // postponed and come back when the pause ends.
    let done = id > 0 && id as u64 != c.id && srv.client_unblock(id as u64, error);
    c.out.int(done as i64);
}

fn client_getredir_command(_srv: &mut Server, c: &mut Client) {
    if c.has(flags::TRACKING) {
        c.out.int(c.tracking_redirection as i64);
    } else {
        c.out.int(-1);
    }
}

/// CLIENT TRACKING ON|OFF [REDIRECT id] [BCAST] [PREFIX p ...] [OPTIN] [OPTOUT] [NOLOOP]
fn client_tracking_command(srv: &mut Server, c: &mut Client) {
    let mut redirect: i64 = 0;
    let mut options = 0u64;
    let mut prefixes: Vec<Vec<u8>> = Vec::new();
    let argc = c.argv.len();
    let mut j = 3;
    while j < argc {
        let more = j + 1 < argc;
        let opt = &c.argv[j];
        if opt.eq_ignore_ascii_case(b"redirect") && more {
            j += 1;
            if redirect != 0 {
                c.out
                    .error("A client can only redirect to a single other client");
                return;
            }
            let Some(id) = crate::commands::arg_i64(c, j) else {
                return;
            };
            // The target must exist now, even if it may go away later.
            let exists = id > 0
                && (id as ClientId == c.id
                    || srv.clients.contains_key(&(id as ClientId))
                    || srv.suspended_clients.iter().any(|s| s.id == id as ClientId));
            if !exists {
                c.out
                    .error("The client ID you want redirect to does not exist");
                return;
            }
            redirect = id;
        } else if opt.eq_ignore_ascii_case(b"bcast") {
            options |= flags::TRACKING_BCAST;
        } else if opt.eq_ignore_ascii_case(b"optin") {
            options |= flags::TRACKING_OPTIN;
        } else if opt.eq_ignore_ascii_case(b"optout") {
            options |= flags::TRACKING_OPTOUT;
        } else if opt.eq_ignore_ascii_case(b"noloop") {
            options |= flags::TRACKING_NOLOOP;
        } else if opt.eq_ignore_ascii_case(b"prefix") && more {
            j += 1;
            prefixes.push(c.argv[j].clone());
        } else {
            c.out.error(errors::SYNTAX);
            return;
        }
        j += 1;
    }
    let mode = &c.argv[2];
    if mode.eq_ignore_ascii_case(b"on") {
        let bcast = options & flags::TRACKING_BCAST != 0;
        if !bcast && !prefixes.is_empty() {
            c.out
                .error("PREFIX option requires BCAST mode to be enabled");
            return;
        }
        if c.has(flags::TRACKING) && c.has(flags::TRACKING_BCAST) != bcast {
            c.out.error("You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.");
            return;
        }
        if bcast && options & (flags::TRACKING_OPTIN | flags::TRACKING_OPTOUT) != 0 {
            c.out
                .error("OPTIN and OPTOUT are not compatible with BCAST");
            return;
        }
        if options & flags::TRACKING_OPTIN != 0 && options & flags::TRACKING_OPTOUT != 0 {
            c.out
                .error("You can't specify both OPTIN mode and OPTOUT mode");
            return;
        }
        if (options & flags::TRACKING_OPTIN != 0 && c.has(flags::TRACKING_OPTOUT))
            || (options & flags::TRACKING_OPTOUT != 0 && c.has(flags::TRACKING_OPTIN))
        {
            c.out.error("You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode.");
            return;
        }
        if bcast {
            if let Some((msg, goes_on)) =
                crate::tracking::prefix_collision(c.tracking_prefixes.as_deref(), &prefixes)
            {
                c.out.error(&msg);
                // Redis 7.0 enables tracking anyway (and replies +OK after the error) when
                // the overlapping pair does not start at the first prefix given.
                if !goes_on {
                    return;
                }
            }
        }
        srv.enable_tracking(c, redirect as ClientId, options, &prefixes);
    } else if mode.eq_ignore_ascii_case(b"off") {
        srv.disable_tracking(c);
    } else {
        c.out.error(errors::SYNTAX);
        return;
    }
    c.out.ok();
}

/// CLIENT CACHING YES|NO: caches (OPTIN) or not (OPTOUT) the keys of the next command.
fn client_caching_command(_srv: &mut Server, c: &mut Client) {
    if !c.has(flags::TRACKING) {
        c.out.error("CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled");
        return;
    }
    let opt = &c.argv[2];
    if opt.eq_ignore_ascii_case(b"yes") {
        if !c.has(flags::TRACKING_OPTIN) {
            c.out
                .error("CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.");
            return;
        }
    } else if opt.eq_ignore_ascii_case(b"no") {
        if !c.has(flags::TRACKING_OPTOUT) {
            c.out
                .error("CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.");
            return;
        }
    } else {
        c.out.error(errors::SYNTAX);
        return;
    }
    c.flags |= flags::TRACKING_CACHING;
    c.out.ok();
}

/// CLIENT TRACKINGINFO: the tracking flags, redirection and BCAST prefixes of this client.
fn client_trackinginfo_command(_srv: &mut Server, c: &mut Client) {
    let mut names: Vec<&str> = vec![if c.has(flags::TRACKING) { "on" } else { "off" }];
    if c.has(flags::TRACKING_BCAST) {
        names.push("bcast");
    }
    if c.has(flags::TRACKING_OPTIN) {
        names.push("optin");
        if c.has(flags::TRACKING_CACHING) {
            names.push("caching-yes");
        }
    }
    if c.has(flags::TRACKING_OPTOUT) {
        names.push("optout");
        if c.has(flags::TRACKING_CACHING) {
            names.push("caching-no");
        }
    }
    if c.has(flags::TRACKING_NOLOOP) {
        names.push("noloop");
    }
    if c.has(flags::TRACKING_BROKEN_REDIR) {
        names.push("broken_redirect");
    }
    c.out.map(3);
    c.out.bulk(b"flags");
    c.out.set(names.len());
    for n in names {
        c.out.bulk(n.as_bytes());
    }
    c.out.bulk(b"redirect");
    if c.has(flags::TRACKING) {
        c.out.int(c.tracking_redirection as i64);
    } else {
        c.out.int(-1);
    }
    c.out.bulk(b"prefixes");
    let prefixes: Vec<Vec<u8>> = c
        .tracking_prefixes
        .as_ref()
        .map(|p| p.iter().cloned().collect())
        .unwrap_or_default();
    c.out.array(prefixes.len());
    for p in prefixes {
        c.out.bulk(&p);
    }
}

fn monitor_command(srv: &mut Server, c: &mut Client) {
    if c.has(flags::DENY_BLOCKING) {
        // Inside EXEC (or a script) every command must produce exactly one reply.
        c.out
            .error("MONITOR isn't allowed for DENY BLOCKING client");
        return;
    }
    // Already a monitor (or a replica): nothing changes and nothing is replied.
    if c.has(flags::SLAVE) {
        return;
    }
    c.flags |= flags::SLAVE | flags::MONITOR;
    // Monitors are never evicted by maxmemory-clients.
    srv.update_client_mem(c);
    srv.monitors.push(c.id);
    c.out.ok();
}

impl Server {
    /// Closes another client as CLIENT KILL does: at once from the other clients' point of
    /// view (its pending replies are dropped), the socket going away before the next sleep.
    pub fn kill_client(&mut self, id: ClientId) {
        if let Some(cl) = self.clients.get_mut(&id) {
            cl.out.clear();
            cl.out.enabled = false;
        }
        self.monitors.retain(|m| *m != id);
        // The link with our master is down from now on (Redis frees the master client at
        // once; ours goes before the next sleep, which may be much later in a transaction).
        if self.repl.master_client == Some(id) && self.repl.down_since == 0 {
            self.repl.down_since = crate::util::mstime() / 1000;
        }
        self.close_client_async(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monitors_are_normal_clients_and_pubsub_needs_the_flag() {
        let mut c = Client::fake(1, 0);
        assert_eq!(client_type(&c), ClientType::Normal);
        c.flags |= flags::SLAVE | flags::MONITOR;
        assert_eq!(client_type(&c), ClientType::Normal);
        c.flags &= !flags::MONITOR;
        assert_eq!(client_type(&c), ClientType::Replica);
        let mut p = Client::fake(2, 0);
        p.channels.insert(b"ch".to_vec());
        assert_eq!(client_type(&p), ClientType::Normal);
        p.flags |= flags::PUBSUB;
        assert_eq!(client_type(&p), ClientType::PubSub);
    }

    #[test]
    fn type_names_accept_both_replica_spellings() {
        assert_eq!(client_type_by_name(b"SLAVE"), Some(ClientType::Replica));
        assert_eq!(client_type_by_name(b"replica"), Some(ClientType::Replica));
        assert_eq!(client_type_by_name(b"Normal"), Some(ClientType::Normal));
        assert_eq!(client_type_by_name(b"other"), None);
    }
}
