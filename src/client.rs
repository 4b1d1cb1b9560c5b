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

/// Hasher for maps keyed by client id: ids are unique small integers, so a multiplicative mix
/// is enough and much cheaper than SipHash on the per-command path.
#[derive(Default, Clone, Copy)]
pub struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(5) ^ *b as u64).wrapping_mul(0x517c_c1b7_2722_0a95);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

pub type IdBuildHasher = std::hash::BuildHasherDefault<IdHasher>;
pub type ClientMap<V> = std::collections::HashMap<ClientId, V, IdBuildHasher>;
pub type ClientSet = std::collections::HashSet<ClientId, IdBuildHasher>;

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
    /// Neither the AOF nor replicas get the command itself (it propagated its effects).
    pub const PREVENT_PROP: u64 = PREVENT_AOF_PROP | PREVENT_REPL_PROP;
    pub const PENDING_WRITE: u64 = 1 << 21;
    pub const REPLY_OFF: u64 = 1 << 22;
    pub const REPLY_SKIP_NEXT: u64 = 1 << 23;
    pub const REPLY_SKIP: u64 = 1 << 24;
    pub const LUA_DEBUG: u64 = 1 << 25;
    /// The fake client of a RedisModule_Call: its error replies are not counted when the
    /// command fails but when the module forwards them (ReplyWithCallReply).
    pub const MODULE: u64 = 1 << 27;
    /// Client-side caching is on (CLIENT TRACKING); the bits below refine it.
    pub const TRACKING: u64 = 1 << 31;
    /// The client invalidations are redirected to is gone.
    pub const TRACKING_BROKEN_REDIR: u64 = 1 << 32;
    pub const TRACKING_BCAST: u64 = 1 << 33;
    pub const TRACKING_OPTIN: u64 = 1 << 34;
    pub const TRACKING_OPTOUT: u64 = 1 << 35;
    /// CLIENT CACHING was given for the next command (or transaction).
    pub const TRACKING_CACHING: u64 = 1 << 36;
    pub const TRACKING_NOLOOP: u64 = 1 << 37;
    /// Every tracking bit, cleared together when tracking is turned off.
    pub const TRACKING_ALL: u64 = TRACKING
        | TRACKING_BROKEN_REDIR
        | TRACKING_BCAST
        | TRACKING_OPTIN
        | TRACKING_OPTOUT
        | TRACKING_CACHING
        | TRACKING_NOLOOP;
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

    /// Reads up to `want` bytes appended to `buf`'s end, without zero-filling the space first.
    /// With `exact`, the buffer grows by exactly what is missing (a big argument whose size is
    /// known); otherwise it grows greedily.
    pub fn read_append(
        &mut self,
        buf: &mut Vec<u8>,
        want: usize,
        exact: bool,
    ) -> io::Result<usize> {
        let fd = self.fd();
        if fd < 0 {
            return Ok(0);
        }
        if exact {
            buf.reserve_exact(want);
        } else {
            buf.reserve(want);
        }
        let len = buf.len();
        // SAFETY: `reserve` guarantees `want` writable bytes after `len`; read(2) writes at most
        // `want` bytes there, and we only extend the length by what it reports as written.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().add(len) as *mut libc::c_void, want) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the first `n` bytes after `len` were initialised by read(2).
        unsafe { buf.set_len(len + n as usize) };
        Ok(n as usize)
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
    /// `ip:port` of the peer and of our end (`path:0` for both ends of a unix socket).
    pub addr: String,
    pub laddr: String,
    pub name: Option<Vec<u8>>,
    pub flags: u64,
    pub db: usize,
    pub authenticated: bool,
    /// The ACL user the client runs as (`acl::SUPERUSER` for server-internal clients).
    pub user: crate::acl::UserId,

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
    /// The command being (or last) executed, for `CLIENT LIST` `cmd=`.
    pub last_cmd: Option<crate::commands::CmdId>,
    /// Set by a command whose effect must reach replicas and the AOF as a different command
    /// than the one the client sent (EXPIRE as PEXPIREAT, an expire in the past as DEL):
    /// `Server::call` propagates this instead of `argv`, even if `dirty` didn't change, and
    /// clears it. Monitors and the slow log keep seeing what the client sent.
    pub propagate_argv: Option<Vec<Vec<u8>>>,
    /// Consumers (`replication::target` bits) the commands this client runs may propagate to:
    /// all for real clients; a module's RedisModule_Call client gets only what its flags ask.
    pub prop_mask: u8,
    pub out: ReplyBuf,

    pub ctime_ms: i64,
    pub last_interaction_ms: i64,
    /// Cluster mode: the hash slot of the running command's keys, if it has any (a script
    /// may then only touch keys of that slot).
    pub cluster_slot: Option<usize>,

    pub multi: Vec<QueuedCommand>,
    /// Keys this client WATCHes: (db, key), in WATCH order. Whether each was already expired
    /// when watched is kept with the server's entry (`Server::watched_keys`).
    pub watched: Vec<(usize, Vec<u8>)>,

    pub channels: HashSet<Vec<u8>>,
    /// Patterns in subscription order (PUNSUBSCRIBE without arguments replies in that order).
    pub patterns: Vec<Vec<u8>>,
    pub shard_channels: HashSet<Vec<u8>>,

    /// Output-buffer soft limit: when the limit was first exceeded (unix seconds), 0 if not over.
    pub obuf_soft_limit_reached_secs: i64,
    /// Total bytes read from / written to this client.
    pub net_input_bytes: u64,
    pub net_output_bytes: u64,
    /// Number of commands this client has run.
    pub commands_processed: u64,
    /// Set when the socket is registered for writable events (output left after a write).
    pub write_registered: bool,
    /// Memory last measured for this client, and the class it was counted under, in
    /// `Server::clients_mem_by_class`.
    pub last_memory_usage: usize,
    pub last_memory_class: usize,
    /// Client-side caching: the client invalidation messages go to (0: this one), and the
    /// BCAST prefixes it registered (in byte order, as CLIENT TRACKINGINFO lists them).
    pub tracking_redirection: ClientId,
    pub tracking_prefixes: Option<Box<std::collections::BTreeSet<Vec<u8>>>>,
    /// Set when a module authenticated this client and wants to know when its user changes.
    pub auth_callback: Option<crate::module::acl::AuthCallback>,
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
            user: crate::acl::DEFAULT_USER,
            querybuf: Vec::new(),
            qb_pos: 0,
            querybuf_peak: 0,
            parser: RequestParser::new(),
            argv: Vec::new(),
            redacted: Vec::new(),
            last_cmd: None,
            propagate_argv: None,
            prop_mask: crate::replication::target::ALL,
            out: ReplyBuf::new(),
            ctime_ms: now_ms,
            last_interaction_ms: now_ms,
            cluster_slot: None,
            multi: Vec::new(),
            watched: Vec::new(),
            channels: HashSet::new(),
            patterns: Vec::new(),
            shard_channels: HashSet::new(),
            obuf_soft_limit_reached_secs: 0,
            net_input_bytes: 0,
            net_output_bytes: 0,
            commands_processed: 0,
            write_registered: false,
            last_memory_usage: 0,
            last_memory_class: 0,
            tracking_redirection: 0,
            tracking_prefixes: None,
            auth_callback: None,
        }
    }

    /// A client with no socket, used to run commands on the server's own behalf.
    pub fn fake(id: ClientId, now_ms: i64) -> Client {
        let mut c = Client::new(id, Conn::None, String::new(), String::new(), now_ms);
        // Server-internal clients are not subject to ACLs.
        c.user = crate::acl::SUPERUSER;
        c
    }

    /// Takes a fake client back to the state `fake` gives it, keeping its id and the memory
    /// of its buffers, for a client reused from one RedisModule_Call to the next (Redis'
    /// moduleReleaseTempClient). The server must have dropped what it holds for the client
    /// first (`Server::drop_client_registrations`). Every field is named here, so a new one must be
    /// considered.
    pub fn reset_fake(&mut self, now_ms: i64) {
        let Client {
            id: _,
            conn: _,
            addr: _,
            laddr: _,
            name,
            flags,
            db,
            authenticated,
            user,
            querybuf,
            qb_pos,
            querybuf_peak,
            parser,
            argv,
            redacted,
            last_cmd,
            propagate_argv,
            prop_mask,
            out,
            ctime_ms,
            last_interaction_ms,
            cluster_slot,
            multi,
            watched,
            channels,
            patterns,
            shard_channels,
            obuf_soft_limit_reached_secs,
            net_input_bytes,
            net_output_bytes,
            commands_processed,
            write_registered,
            last_memory_usage,
            last_memory_class,
            tracking_redirection,
            tracking_prefixes,
            auth_callback,
        } = self;
        *name = None;
        *flags = 0;
        *db = 0;
        *authenticated = false;
        *user = crate::acl::SUPERUSER;
        querybuf.clear();
        *qb_pos = 0;
        *querybuf_peak = 0;
        *parser = RequestParser::new();
        argv.clear();
        redacted.clear();
        *last_cmd = None;
        *propagate_argv = None;
        *prop_mask = crate::replication::target::ALL;
        out.reset();
        *ctime_ms = now_ms;
        *last_interaction_ms = now_ms;
        *cluster_slot = None;
        multi.clear();
        watched.clear();
        channels.clear();
        patterns.clear();
        shard_channels.clear();
        *obuf_soft_limit_reached_secs = 0;
        *net_input_bytes = 0;
        *net_output_bytes = 0;
        *commands_processed = 0;
        *write_registered = false;
        *last_memory_usage = 0;
        *last_memory_class = 0;
        *tracking_redirection = 0;
        *tracking_prefixes = None;
        *auth_callback = None;
    }

    #[inline]
    pub fn has(&self, f: u64) -> bool {
        self.flags & f != 0
    }

    /// Clients whose writes must be applied whatever our own limits say (Redis'
    /// `mustObeyClient`): the master link and the AOF loader.
    pub fn must_obey(&self) -> bool {
        self.has(flags::MASTER) || self.id == crate::aof::load::AOF_CLIENT_ID
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

    /// Total memory attributable to this client (`tot-mem`), counted the way Redis'
    /// `getClientMemoryUsage` counts it: output list, query buffer allocation, the client
    /// structure, the first reply buffer, argument bytes (plus a pointer each), the MULTI queue
    /// and watched keys, and the per-subscription overhead.
    pub fn total_memory(&self) -> usize {
        const PTR: usize = 8;
        const LIST_NODE: usize = 24;
        const DICT_ENTRY: usize = 24;
        const MULTI_CMD: usize = 32;
        const WATCHED_KEY: usize = 24;
        let pending_args =
            self.parser.argv.iter().map(|a| a.len()).sum::<usize>() + PTR * self.parser.argv.len();
        let args = self.argv.iter().map(|a| a.len()).sum::<usize>() + PTR * self.argv.len();
        let multi = self
            .multi
            .iter()
            .map(|q| q.argv.iter().map(|a| a.len() + PTR).sum::<usize>() + MULTI_CMD)
            .sum::<usize>()
            + self.watched.len() * (LIST_NODE + WATCHED_KEY);
        let pubsub = self.patterns.len() * LIST_NODE
            + (self.channels.len() + self.shard_channels.len()) * (DICT_ENTRY + PTR);
        // BCAST prefixes, estimated like Redis does (radix-tree nodes, about two per prefix,
        // at a node header times a pointer each) rather than walked.
        const RAX_NODE_ESTIMATE: usize = 4 * PTR;
        let tracking = self
            .tracking_prefixes
            .as_ref()
            .map_or(0, |p| p.len() * 2 * RAX_NODE_ESTIMATE);
        self.output_memory()
            + self.querybuf.capacity()
            + std::mem::size_of::<Client>()
            + self.out.buf_usable
            + args
            + pending_args
            + multi
            + pubsub
            + tracking
    }

    /// Whether `maxmemory-clients` may evict this client: normal and pub/sub clients (MONITOR
    /// clients count as normal) without CLIENT NO-EVICT, as Redis' `clientEvictionAllowed`.
    pub fn evictable(&self) -> bool {
        !self.has(flags::NO_EVICT | flags::MASTER)
            && (!self.has(flags::SLAVE) || self.has(flags::MONITOR))
    }
}
