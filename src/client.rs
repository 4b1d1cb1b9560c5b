//! A connected client: its socket, query buffer and request parser, reply buffer, selected
//! database, transaction and pub/sub state, and the flags Redis keeps per client.
//!
//! Clients are owned by `Server::clients`, keyed by their id. While a client's commands run it
//! is taken out of that map and passed alongside `&mut Server`, so command code can borrow both.

use std::collections::HashSet;
use std::io;

use mio::net::{TcpStream, UnixStream};

use crate::resp::{ReplyBuf, RequestParser};

pub type ClientId = u64;

/// Per-client flags, named after Redis' `CLIENT_*`.
pub mod flags {
    pub const SLAVE: u64 = 1 << 0;
    pub const MASTER: u64 = 1 << 1;
    pub const MONITOR: u64 = 1 << 2;
    pub const MULTI: u64 = 1 << 3;
    pub const BLOCKED: u64 = 1 << 4;
    pub const DIRTY_CAS: u64 = 1 << 5;
    pub const CLOSE_AFTER_REPLY: u64 = 1 << 6;
    pub const UNBLOCKED: u64 = 1 << 7;
    pub const SCRIPT: u64 = 1 << 8;
    pub const ASKING: u64 = 1 << 9;
    pub const CLOSE_ASAP: u64 = 1 << 10;
    pub const UNIX_SOCKET: u64 = 1 << 11;
    pub const DIRTY_EXEC: u64 = 1 << 12;
    pub const MASTER_FORCE_REPLY: u64 = 1 << 13;
    pub const FORCE_AOF: u64 = 1 << 14;
    pub const FORCE_REPL: u64 = 1 << 15;
    pub const PRE_PSYNC: u64 = 1 << 16;
    pub const READONLY: u64 = 1 << 17;
    pub const PUBSUB: u64 = 1 << 18;
    pub const PREVENT_AOF_PROP: u64 = 1 << 19;
    pub const PREVENT_REPL_PROP: u64 = 1 << 20;
    pub const PENDING_WRITE: u64 = 1 << 21;
    pub const REPLY_OFF: u64 = 1 << 22;
    pub const REPLY_SKIP_NEXT: u64 = 1 << 23;
    pub const REPLY_SKIP: u64 = 1 << 24;
    pub const LUA_DEBUG: u64 = 1 << 25;
    pub const TRACKING: u64 = 1 << 31;
    pub const PROTOCOL_ERROR: u64 = 1 << 39;
    /// Set while a command must produce exactly one reply (inside EXEC or a script), so it
    /// may not block or turn into a MONITOR.
    pub const DENY_BLOCKING: u64 = 1 << 41;
    pub const NO_EVICT: u64 = 1 << 43;
    pub const PUSHING: u64 = 1 << 44;
    pub const NO_TOUCH: u64 = 1 << 45;
}

/// The socket of a client, if it has one (fake clients used for AOF loading or module calls
/// don't).
pub enum Conn {
    Tcp(TcpStream),
    Unix(UnixStream),
    None,
}

impl Conn {
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use std::io::Read;
        match self {
            Conn::Tcp(s) => s.read(buf),
            Conn::Unix(s) => s.read(buf),
            Conn::None => Ok(0),
        }
    }

    pub fn writer(&mut self) -> Option<&mut dyn io::Write> {
        match self {
            Conn::Tcp(s) => Some(s),
            Conn::Unix(s) => Some(s),
            Conn::None => None,
        }
    }

    pub fn fd(&self) -> i32 {
        use std::os::fd::AsRawFd;
        match self {
            Conn::Tcp(s) => s.as_raw_fd(),
            Conn::Unix(s) => s.as_raw_fd(),
            Conn::None => -1,
        }
    }
}

/// A command queued inside MULTI.
pub struct QueuedCommand {
    pub argv: Vec<Vec<u8>>,
}

pub struct Client {
    pub id: ClientId,
    pub conn: Conn,
    /// `ip:port` of the peer and of our end (or the socket path for unix sockets).
    pub addr: String,
    pub laddr: String,
    pub name: Option<Vec<u8>>,
    pub flags: u64,
    pub db: usize,
    pub authenticated: bool,
    pub user: String,

    pub querybuf: Vec<u8>,
    pub qb_pos: usize,
    /// Largest query buffer seen recently (for shrinking it in the cron, as Redis does).
    pub querybuf_peak: usize,
    pub parser: RequestParser,
    /// The arguments of the command being executed.
    pub argv: Vec<Vec<u8>>,
    /// Indexes of `argv` the running command marked as secret (passwords): the slow log and
    /// MONITOR show them as "(redacted)".
    pub redacted: Vec<usize>,
    /// Name of the command being (or last) executed, for `CLIENT LIST` `cmd=`.
    pub last_cmd: String,
    pub out: ReplyBuf,

    pub ctime_ms: i64,
    pub last_interaction_ms: i64,

    pub multi: Vec<QueuedCommand>,
    /// Keys this client WATCHes: (db, key).
    pub watched: Vec<(usize, Vec<u8>)>,
    /// For each watched key, whether it was already expired (but not yet deleted) when watched.
    pub watched_expired: Vec<bool>,

    pub channels: HashSet<Vec<u8>>,
    pub patterns: HashSet<Vec<u8>>,
    pub shard_channels: HashSet<Vec<u8>>,

    /// Output-buffer soft limit: when the limit was first exceeded (ms), 0 if not over.
    pub obuf_soft_limit_reached_ms: i64,
    /// Total bytes read from / written to this client.
    pub net_input_bytes: u64,
    pub net_output_bytes: u64,
    /// Number of commands this client has run.
    pub commands_processed: u64,
    /// Set when the socket is registered for writable events (output left after a write).
    pub write_registered: bool,
    /// Library name/version set by CLIENT SETINFO (7.2), kept for CLIENT LIST compatibility.
    pub resp_version_requested: u8,
}

impl Client {
    pub fn new(id: ClientId, conn: Conn, addr: String, laddr: String, now_ms: i64) -> Client {
        let unix = matches!(conn, Conn::Unix(_));
        Client {
            id,
            conn,
            addr,
            laddr,
            name: None,
            flags: if unix { flags::UNIX_SOCKET } else { 0 },
            db: 0,
            authenticated: false,
            user: "default".to_string(),
            querybuf: Vec::new(),
            qb_pos: 0,
            querybuf_peak: 0,
            parser: RequestParser::new(),
            argv: Vec::new(),
            redacted: Vec::new(),
            last_cmd: "NULL".to_string(),
            out: ReplyBuf::new(),
            ctime_ms: now_ms,
            last_interaction_ms: now_ms,
            multi: Vec::new(),
            watched: Vec::new(),
            watched_expired: Vec::new(),
            channels: HashSet::new(),
            patterns: HashSet::new(),
            shard_channels: HashSet::new(),
            obuf_soft_limit_reached_ms: 0,
            net_input_bytes: 0,
            net_output_bytes: 0,
            commands_processed: 0,
            write_registered: false,
            resp_version_requested: 2,
        }
    }

    /// A client with no socket, used to run commands on the server's own behalf.
    pub fn fake(id: ClientId, now_ms: i64) -> Client {
        Client::new(id, Conn::None, String::new(), String::new(), now_ms)
    }

    #[inline]
    pub fn has(&self, f: u64) -> bool {
        self.flags & f != 0
    }

    /// Subscriptions of all kinds (a client with any is in the pub/sub context under RESP2).
    pub fn subscription_count(&self) -> usize {
        self.channels.len() + self.patterns.len() + self.shard_channels.len()
    }

    /// Hides argument `i` of the running command from the slow log and MONITOR.
    pub fn redact_arg(&mut self, i: usize) {
        if !self.redacted.contains(&i) {
            self.redacted.push(i);
        }
    }

    /// Argument `i` of the current command.
    #[inline]
    pub fn arg(&self, i: usize) -> &[u8] {
        &self.argv[i]
    }

    /// Memory used by the query buffer (allocation), for `CLIENT LIST` `qbuf`/`qbuf-free`.
    pub fn querybuf_len(&self) -> usize {
        self.querybuf.len() - self.qb_pos
    }

    /// Output memory as Redis counts it for limits (`omem`): the reply list.
    pub fn output_memory(&self) -> usize {
        self.out.list_bytes
    }

    /// Total memory attributable to this client (`tot-mem`), approximating Redis' accounting.
    pub fn total_memory(&self) -> usize {
        std::mem::size_of::<Client>()
            + self.querybuf.capacity()
            + self.out.buf_capacity()
            + self.out.list_bytes
            + self.argv.iter().map(|a| a.capacity()).sum::<usize>()
            + self
                .multi
                .iter()
                .map(|q| q.argv.iter().map(|a| a.len() + 16).sum::<usize>())
                .sum::<usize>()
    }
}
