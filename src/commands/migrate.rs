//! MIGRATE: moves (or copies) keys to another server by sending it RESTORE commands with DUMP
//! payloads over a blocking connection, as Redis does, then deletes the keys the target
//! acknowledged. Connections are cached per target for a few seconds (INFO
//! `migrate_cached_sockets`), and the command is propagated as DEL of the moved keys.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use crate::client::Client;
use crate::commands::{errors, CmdProc};
use crate::config::table::notify;
use crate::server::Server;

pub fn lookup(name: &str) -> Option<CmdProc> {
    Some(match name {
        "migrate" => migrate_command,
        _ => return None,
    })
}

/// At most this many cached connections (a random one is dropped to make room).
const MAX_CACHED: usize = 64;
/// Cached connections unused for this long are closed by the cron.
const CACHE_TTL_SECS: i64 = 10;

pub struct CachedSocket {
    stream: TcpStream,
    /// The database last SELECTed on this connection (-1: unknown).
    last_dbid: i64,
    last_use: i64,
}

/// MIGRATE's connections, by "host:port".
#[derive(Default)]
pub struct MigrateCache {
    sockets: HashMap<String, CachedSocket>,
}

impl MigrateCache {
    pub fn len(&self) -> usize {
        self.sockets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sockets.is_empty()
    }

    /// Closes connections idle for too long (server cron).
    pub fn close_timed_out(&mut self, now_secs: i64) {
        self.sockets
            .retain(|_, s| now_secs - s.last_use <= CACHE_TTL_SECS);
    }
}

/// The target's replies to AUTH and SELECT, when they were sent.
type PreambleReplies = (Option<Vec<u8>>, Option<Vec<u8>>);

/// How an exchange with the target failed.
enum IoFail {
    Write,
    Read { timed_out: bool },
}

fn timed_out(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// Reads one reply line (without CRLF), byte by byte, as Redis' `syncReadLine` does: replies
/// to RESTORE/SELECT/AUTH are single lines.
fn read_line(s: &mut TcpStream) -> Result<Vec<u8>, IoFail> {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    loop {
        match s.read(&mut b) {
            Ok(0) => return Err(IoFail::Read { timed_out: false }),
            Ok(_) => {
                if b[0] == b'\n' {
                    if line.last() == Some(&b'\r') {
                        line.pop();
                    }
                    return Ok(line);
                }
                line.push(b[0]);
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(IoFail::Read {
                    timed_out: timed_out(&e),
                })
            }
        }
    }
}

fn push_bulk(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(format!("${}\r\n", b.len()).as_bytes());
    out.extend_from_slice(b);
    out.extend_from_slice(b"\r\n");
}

fn push_count(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(format!("*{}\r\n", n).as_bytes());
}

/// The cached connection to `host:port`, connecting (within `timeout_ms`) if needed. Err is
/// the reply already given.
fn get_socket<'a>(
    srv: &'a mut Server,
    c: &mut Client,
    name: &str,
    host: &str,
    port: &str,
    timeout_ms: u64,
) -> Option<&'a mut CachedSocket> {
    let now = srv.unix_time();
    if srv.migrate.sockets.contains_key(name) {
        let cs = srv.migrate.sockets.get_mut(name).expect("checked");
        cs.last_use = now;
        return Some(cs);
    }
    if srv.migrate.sockets.len() >= MAX_CACHED {
        if let Some(k) = srv.migrate.sockets.keys().next().cloned() {
            srv.migrate.sockets.remove(&k);
        }
    }
    let timeout = Duration::from_millis(timeout_ms);
    let stream = port
        .parse::<u16>()
        .ok()
        .and_then(|p| (host, p).to_socket_addrs().ok())
        .and_then(|mut addrs| addrs.next())
        .and_then(|addr| TcpStream::connect_timeout(&addr, timeout).ok());
    let Some(stream) = stream else {
        c.out
            .error("-IOERR error or timeout connecting to the client");
        return None;
    };
    let _ = stream.set_nodelay(true);
    srv.migrate.sockets.insert(
        name.to_string(),
        CachedSocket {
            stream,
            last_dbid: -1,
            last_use: now,
        },
    );
    srv.migrate.sockets.get_mut(name)
}

fn migrate_command(srv: &mut Server, c: &mut Client) {
    let (mut copy, mut replace) = (false, false);
    let (mut username, mut password) = (None::<Vec<u8>>, None::<Vec<u8>>);
    let mut first_key = 3;
    let mut num_keys = 1;
    let mut j = 6;
    while j < c.argv.len() {
        let more = c.argv.len() - 1 - j;
        let a = c.argv[j].to_ascii_lowercase();
        match a.as_slice() {
            b"copy" => copy = true,
            b"replace" => replace = true,
            b"auth" => {
                if more == 0 {
                    c.out.error(errors::SYNTAX);
                    return;
                }
                j += 1;
                password = Some(c.argv[j].clone());
                c.redact_arg(j);
            }
            b"auth2" => {
                if more < 2 {
                    c.out.error(errors::SYNTAX);
                    return;
                }
                username = Some(c.argv[j + 1].clone());
                c.redact_arg(j + 1);
                password = Some(c.argv[j + 2].clone());
                c.redact_arg(j + 2);
                j += 2;
            }
            b"keys" => {
                if !c.argv[3].is_empty() {
                    c.out.error("When using MIGRATE KEYS option, the key argument must be set to the empty string");
                    return;
                }
                first_key = j + 1;
                num_keys = c.argv.len() - j - 1;
                break;
            }
            _ => {
                c.out.error(errors::SYNTAX);
                return;
            }
        }
        j += 1;
    }
    let Some(mut timeout) = crate::commands::arg_i64(c, 5) else {
        return;
    };
    let Some(dbid) = crate::commands::arg_i64(c, 4) else {
        return;
    };
    if timeout <= 0 {
        timeout = 1000;
    }
    let db = c.db;
    let mut keys: Vec<Vec<u8>> = Vec::new();
    for k in &c.argv[first_key..first_key + num_keys] {
        if srv.lookup_read(db, k).is_some() {
            keys.push(k.clone());
        }
    }
    if keys.is_empty() {
        c.out.status("NOKEY");
        return;
    }
    let host = String::from_utf8_lossy(&c.argv[1]).into_owned();
    let port = String::from_utf8_lossy(&c.argv[2]).into_owned();
    let name = format!("{}:{}", host, port);
    let mut may_retry = true;
    loop {
        // Build the request: optional AUTH and SELECT, then one RESTORE per live key.
        let last_dbid = match get_socket(srv, c, &name, &host, &port, timeout as u64) {
            Some(cs) => cs.last_dbid,
            None => return,
        };
        let mut req = Vec::new();
        if let Some(pw) = &password {
            push_count(&mut req, if username.is_some() { 3 } else { 2 });
            push_bulk(&mut req, b"AUTH");
            if let Some(u) = &username {
                push_bulk(&mut req, u);
            }
            push_bulk(&mut req, pw);
        }
        let select = last_dbid != dbid;
        if select {
            push_count(&mut req, 2);
            push_bulk(&mut req, b"SELECT");
            push_bulk(&mut req, dbid.to_string().as_bytes());
        }
        let now = crate::util::mstime();
        let mut sent: Vec<Vec<u8>> = Vec::new();
        for k in &keys {
            let mut ttl = 0;
            if let Some(at) = srv.dbs[db].expire_of(k) {
                ttl = at - now;
                if ttl < 0 {
                    continue;
                }
                ttl = ttl.max(1);
            }
            let Some(o) = srv.dbs[db].dict.get(&k[..]) else {
                continue;
            };
            push_count(&mut req, if replace { 5 } else { 4 });
            // A cluster node imports into a slot it doesn't serve yet only when asked so.
            push_bulk(
                &mut req,
                if srv.cluster.is_some() {
                    b"RESTORE-ASKING"
                } else {
                    b"RESTORE"
                },
            );
            push_bulk(&mut req, k);
            push_bulk(&mut req, ttl.to_string().as_bytes());
            push_bulk(
                &mut req,
                &crate::commands::persist::dump_payload_for(
                    &o.value,
                    srv.config.rdbcompression,
                    Some(k),
                    db as i32,
                ),
            );
            if replace {
                push_bulk(&mut req, b"REPLACE");
            }
            sent.push(k.clone());
        }
        let cs = srv.migrate.sockets.get_mut(&name).expect("just connected");
        let to = Some(Duration::from_millis(timeout as u64));
        let _ = cs.stream.set_write_timeout(to);
        let _ = cs.stream.set_read_timeout(to);
        let exchange = (|| -> Result<PreambleReplies, IoFail> {
            for chunk in req.chunks(64 * 1024) {
                cs.stream.write_all(chunk).map_err(|_| IoFail::Write)?;
            }
            let auth = match password {
                Some(_) => Some(read_line(&mut cs.stream)?),
                None => None,
            };
            let sel = if select {
                Some(read_line(&mut cs.stream)?)
            } else {
                None
            };
            Ok((auth, sel))
        })();
        let (auth_reply, select_reply) = match exchange {
            Ok(r) => r,
            Err(fail) => {
                srv.migrate.sockets.remove(&name);
                let (writing, timed_out) = match fail {
                    IoFail::Write => (true, false),
                    IoFail::Read { timed_out } => (false, timed_out),
                };
                if !timed_out && may_retry {
                    may_retry = false;
                    continue;
                }
                c.out.error(&format!(
                    "-IOERR error or timeout {} to target instance",
                    if writing { "writing" } else { "reading" }
                ));
                return;
            }
        };
        let mut target_error: Option<Vec<u8>> = None;
        let mut socket_error = None;
        let mut acked: Vec<Vec<u8>> = Vec::new();
        for (i, k) in sent.iter().enumerate() {
            let line = match read_line(&mut cs.stream) {
                Ok(l) => l,
                Err(IoFail::Read { timed_out }) => {
                    socket_error = Some((i, timed_out));
                    break;
                }
                Err(IoFail::Write) => unreachable!("reads only"),
            };
            let err_line = [&auth_reply, &select_reply]
                .into_iter()
                .flatten()
                .find(|l| l.first() == Some(&b'-'))
                .cloned()
                .or_else(|| (line.first() == Some(&b'-')).then(|| line.clone()));
            if let Some(e) = err_line {
                if target_error.is_none() {
                    cs.last_dbid = -1;
                    target_error = Some(e[1..].to_vec());
                }
            } else if !copy {
                acked.push(k.clone());
            }
        }
        if let Some((0, false)) = socket_error.filter(|_| target_error.is_none() && may_retry) {
            srv.migrate.sockets.remove(&name);
            may_retry = false;
            continue;
        }
        if socket_error.is_some() {
            srv.migrate.sockets.remove(&name);
        }
        for k in &acked {
            srv.db_delete(db, k);
            srv.signal_modified_key(db, k);
            srv.notify_keyspace_event(notify::GENERIC, "del", k, db);
            srv.dirty += 1;
        }
        if !acked.is_empty() {
            // Replicas and the AOF see the keys deleted, not a MIGRATE they can't replay.
            let mut argv = vec![b"DEL".to_vec()];
            argv.extend(acked);
            c.propagate_argv = Some(argv);
        }
        if let Some(e) = target_error {
            c.out.error(&format!(
                "Target instance replied with error: {}",
                String::from_utf8_lossy(&e)
            ));
        } else if socket_error.is_some() {
            c.out
                .error("-IOERR error or timeout reading to target instance");
        } else {
            if let Some(cs) = srv.migrate.sockets.get_mut(&name) {
                cs.last_dbid = dbid;
            }
            c.out.ok();
        }
        return;
    }
}
