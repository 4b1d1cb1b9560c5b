//! Connection commands: PING, ECHO, QUIT, SELECT, HELLO, AUTH, RESET.
//!
//! Authentication goes through the ACL users (`crate::acl`): `requirepass` is the default
//! user's password; while the default user is "nopass" every connection starts authenticated.

use crate::client::{flags, Client};
use crate::commands::CmdProc;
use crate::server::Server;

pub fn lookup(name: &str) -> Option<CmdProc> {
    Some(match name {
        "ping" => ping_command,
        "echo" => echo_command,
        "quit" => quit_command,
        "select" => select_command,
        "hello" => hello_command,
        "auth" => auth_command,
        "reset" => reset_command,
        _ => return None,
    })
}

fn ping_command(_srv: &mut Server, c: &mut Client) {
    if c.argv.len() > 2 {
        c.out.error("wrong number of arguments for 'ping' command");
        return;
    }
    if c.has(flags::PUBSUB) && c.out.resp == 2 {
        c.out.array(2);
        c.out.bulk(b"pong");
        let arg = if c.argv.len() == 1 {
            Vec::new()
        } else {
            c.argv[1].clone()
        };
        c.out.bulk(&arg);
    } else if c.argv.len() == 1 {
        c.out.raw(b"+PONG\r\n");
    } else {
        let arg = std::mem::take(&mut c.argv[1]);
        c.out.bulk(&arg);
        c.argv[1] = arg;
    }
}

fn echo_command(_srv: &mut Server, c: &mut Client) {
    let arg = std::mem::take(&mut c.argv[1]);
    c.out.bulk(&arg);
    c.argv[1] = arg;
}

fn quit_command(_srv: &mut Server, c: &mut Client) {
    c.out.ok();
    c.flags |= flags::CLOSE_AFTER_REPLY;
}

fn select_command(srv: &mut Server, c: &mut Client) {
    let Some(id) = crate::commands::arg_i32(c, 1, None) else {
        return;
    };
    if srv.cluster.is_some() && id != 0 {
        c.out.error("SELECT is not allowed in cluster mode");
        return;
    }
    if id < 0 || id as usize >= srv.dbs.len() {
        c.out.error(crate::commands::errors::INVALID_DB);
        return;
    }
    c.db = id as usize;
    c.out.ok();
}

fn auth_command(srv: &mut Server, c: &mut Client) {
    if c.argv.len() > 3 {
        c.out.error(crate::commands::errors::SYNTAX);
        return;
    }
    // Credentials never show up in MONITOR or the slow log.
    c.redact_arg(1);
    if c.argv.len() == 3 {
        c.redact_arg(2);
    }
    let (user, pass) = if c.argv.len() == 2 {
        let nopass = srv
            .acl
            .get(crate::acl::DEFAULT_USER)
            .is_some_and(|u| u.flags & crate::acl::uflags::NOPASS != 0);
        if nopass {
            c.out.error("AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?");
            return;
        }
        (b"default".to_vec(), c.argv[1].clone())
    } else {
        (c.argv[1].clone(), c.argv[2].clone())
    };
    if srv.acl_authenticate(c, &user, &pass) {
        c.out.ok();
    } else {
        c.out
            .error("-WRONGPASS invalid username-password pair or user is disabled.");
    }
}

/// Validates a client name as CLIENT SETNAME / HELLO SETNAME do (no spaces or newlines).
pub fn valid_client_name(name: &[u8]) -> bool {
    name.iter().all(|&b| (b'!'..=b'~').contains(&b))
}

fn hello_command(srv: &mut Server, c: &mut Client) {
    let mut ver = 0i64;
    let mut next = 1;
    if c.argv.len() >= 2 {
        match crate::util::parse_i64(&c.argv[1]) {
            Some(v) => ver = v,
            None => {
                c.out
                    .error("Protocol version is not an integer or out of range");
                return;
            }
        }
        next = 2;
        if !(2..=3).contains(&ver) {
            c.out.error("-NOPROTO unsupported protocol version");
            return;
        }
    }
    let mut j = next;
    while j < c.argv.len() {
        let more = c.argv.len() - 1 - j;
        let opt = c.argv[j].clone();
        if opt.eq_ignore_ascii_case(b"AUTH") && more >= 2 {
            c.redact_arg(j + 1);
            c.redact_arg(j + 2);
            let (u, p) = (c.argv[j + 1].clone(), c.argv[j + 2].clone());
            if !srv.acl_authenticate(c, &u, &p) {
                c.out
                    .error("-WRONGPASS invalid username-password pair or user is disabled.");
                return;
            }
            j += 3;
        } else if opt.eq_ignore_ascii_case(b"SETNAME") && more >= 1 {
            let name = c.argv[j + 1].clone();
            if !valid_client_name(&name) {
                c.out
                    .error("Client names cannot contain spaces, newlines or special characters.");
                return;
            }
            c.name = if name.is_empty() { None } else { Some(name) };
            j += 2;
        } else {
            c.out.error(&format!(
                "Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(&opt)
            ));
            return;
        }
    }
    if !c.authenticated {
        c.out.error("-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time");
        return;
    }
    if ver != 0 {
        c.out.resp = ver as u8;
        srv.current_client_resp = c.out.resp;
    }
    c.out.map(7);
    c.out.bulk(b"server");
    c.out.bulk(b"redis");
    c.out.bulk(b"version");
    c.out.bulk(crate::server::REDIS_VERSION.as_bytes());
    c.out.bulk(b"proto");
    c.out.int(c.out.resp as i64);
    c.out.bulk(b"id");
    c.out.int(c.id as i64);
    c.out.bulk(b"mode");
    c.out.bulk(b"standalone");
    c.out.bulk(b"role");
    c.out.bulk(if srv.is_replica() {
        b"replica"
    } else {
        b"master"
    });
    c.out.bulk(b"modules");
    crate::module::reply_module_list(srv, c);
}

fn reset_command(srv: &mut Server, c: &mut Client) {
    let mut f = c.flags;
    if f & flags::MONITOR != 0 {
        f &= !(flags::MONITOR | flags::SLAVE);
    }
    if f & (flags::SLAVE | flags::MASTER) != 0 {
        c.out.error("can only reset normal client connections");
        return;
    }
    if c.has(flags::MONITOR) {
        srv.monitors.retain(|m| *m != c.id);
        c.flags &= !(flags::MONITOR | flags::SLAVE);
    }
    c.db = 0;
    c.out.resp = 2;
    srv.current_client_resp = 2;
    // Back to the default user, authenticated only if it needs no password.
    crate::module::acl::notify_user_changed(srv, c);
    c.user = crate::acl::DEFAULT_USER;
    c.authenticated = !srv.acl.default_needs_auth;
    srv.discard_transaction(c);
    srv.pubsub_unsubscribe_all(c, false);
    if c.has(flags::TRACKING) {
        srv.disable_tracking(c);
    }
    c.name = None;
    c.flags &= !(flags::ASKING
        | flags::READONLY
        | flags::PUBSUB
        | flags::REPLY_OFF
        | flags::REPLY_SKIP_NEXT);
    c.out.enabled = true;
    c.out.status("RESET");
}
