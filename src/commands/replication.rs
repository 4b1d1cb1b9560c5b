//! The replication commands: REPLICAOF/SLAVEOF, ROLE, SYNC/PSYNC, REPLCONF and WAIT. The
//! machinery behind them lives in `crate::replication`.

use super::CmdProc;
use crate::client::{flags, Client};
use crate::server::Server;

pub fn lookup(fullname: &str) -> Option<CmdProc> {
    Some(match fullname {
        "replicaof" | "slaveof" => replicaof_command,
        "role" => role_command,
        "sync" | "psync" => sync_command,
        "replconf" => replconf_command,
        "wait" => wait_command,
        _ => return None,
    })
}

fn replicaof_command(srv: &mut Server, c: &mut Client) {
    if srv.cluster.is_some() {
        c.out.error("REPLICAOF not allowed in cluster mode.");
        return;
    }
    if c.argv[1].eq_ignore_ascii_case(b"no") && c.argv[2].eq_ignore_ascii_case(b"one") {
        if srv.repl.master_host.is_some() {
            srv.repl_unset_master();
            crate::log_notice!(
                "MASTER MODE enabled (user request from '{}')",
                srv.client_info_string(c)
            );
        }
        c.out.ok();
        return;
    }
    if c.has(flags::SLAVE) {
        c.out
            .error("Command is not valid when client is a replica.");
        return;
    }
    let port = match crate::util::parse_i64(&c.argv[2]) {
        Some(p) if (0..=65535).contains(&p) => p,
        _ => {
            c.out.error("Invalid master port");
            return;
        }
    };
    let host = String::from_utf8_lossy(&c.argv[1]).into_owned();
    if srv
        .repl
        .master_host
        .as_deref()
        .is_some_and(|h| h.eq_ignore_ascii_case(&host))
        && srv.repl.master_port == port
    {
        crate::log_notice!("REPLICAOF would result into synchronization with the master we are already connected with. No operation performed.");
        c.out.raw(b"+OK Already connected to specified master\r\n");
        return;
    }
    srv.repl_set_master(&host, port);
    crate::log_notice!(
        "REPLICAOF {}:{} enabled (user request from '{}')",
        host,
        port,
        srv.client_info_string(c)
    );
    c.out.ok();
}

fn role_command(srv: &mut Server, c: &mut Client) {
    match srv.repl.master_host.clone() {
        None => {
            c.out.array(3);
            c.out.bulk(b"master");
            c.out.int(srv.repl.master_repl_offset);
            let online: Vec<(String, i64, i64)> = srv
                .repl
                .replicas
                .iter()
                .filter(|r| r.state == crate::replication::state::SyncState::Online)
                .filter(|r| srv.clients.contains_key(&r.id) || r.id == c.id)
                .map(|r| {
                    let ip = r.announced_ip.clone().unwrap_or_else(|| {
                        srv.clients
                            .get(&r.id)
                            .map(|x| crate::replication::primary::peer_ip(&x.addr))
                            .unwrap_or_default()
                    });
                    (ip, r.listening_port, r.ack_off)
                })
                .collect();
            c.out.array(online.len());
            for (ip, port, off) in online {
                c.out.array(3);
                c.out.bulk(ip.as_bytes());
                c.out.bulk(port.to_string().as_bytes());
                c.out.bulk(off.to_string().as_bytes());
            }
        }
        Some(host) => {
            c.out.array(5);
            c.out.bulk(b"slave");
            c.out.bulk(host.as_bytes());
            c.out.int(srv.repl.master_port);
            c.out.bulk(srv.repl_role_state().as_bytes());
            let off = if srv.repl.master_client.is_some() || srv.repl.cached {
                srv.repl.master_repl_offset
            } else {
                -1
            };
            c.out.int(off);
        }
    }
}

fn sync_command(srv: &mut Server, c: &mut Client) {
    srv.repl_sync_command(c);
}

fn replconf_command(srv: &mut Server, c: &mut Client) {
    srv.repl_replconf_command(c);
}

fn wait_command(srv: &mut Server, c: &mut Client) {
    srv.repl_wait_command(c);
}
