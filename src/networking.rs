//! Clients on the wire: accepting connections, reading and parsing requests, running them,
//! writing replies, output-buffer limits, and closing clients (now, or after their reply).

use std::io;

use mio::{Interest, Registry, Token};

use crate::client::{flags, Client, ClientId, Conn};
use crate::resp::request::Limits;
use crate::resp::ParseOutcome;
use crate::server::Server;

/// Bytes read from a socket per read call.
const IOBUF_LEN: usize = 16 * 1024;

/// The client classes of `client-output-buffer-limit`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ClientClass {
    Normal = 0,
    Replica = 1,
    PubSub = 2,
}

pub fn client_class(c: &Client) -> ClientClass {
    if c.has(flags::SLAVE) && !c.has(flags::MONITOR) {
        ClientClass::Replica
    } else if c.has(flags::PUBSUB) || c.subscription_count() > 0 {
        ClientClass::PubSub
    } else {
        ClientClass::Normal
    }
}

impl Server {
    /// Registers a newly accepted connection, or refuses it when `maxclients` is reached.
    pub fn accept_client(&mut self, registry: &Registry, conn: Conn, addr: String, laddr: String) {
        let id = self.next_client_id();
        let mut c = Box::new(Client::new(id, conn, addr, laddr, self.now_ms()));
        if self.clients.len() as i64 >= self.config.maxclients {
            let _ = c
                .conn
                .writer()
                .map(|w| w.write(b"-ERR max number of clients reached\r\n"));
            self.stats.rejected_conn += 1;
            return;
        }
        c.authenticated = !self.acl.default_needs_auth;
        let default_nopass = self
            .acl
            .get(crate::acl::DEFAULT_USER)
            .is_some_and(|u| u.flags & crate::acl::uflags::NOPASS != 0);
        if self.config.protected_mode && default_nopass && !is_local_peer(&c) {
            let _ = c.conn.writer().map(|w| w.write(PROTECTED_MODE_DENIED));
            self.stats.rejected_conn += 1;
            return;
        }
        let token = Token(id as usize);
        let ok = match &mut c.conn {
            Conn::Tcp(s) => {
                let _ = s.set_nodelay(true);
                set_keepalive(s, self.config.tcp_keepalive);
                registry.register(s, token, Interest::READABLE).is_ok()
            }
            Conn::Unix(s) => registry.register(s, token, Interest::READABLE).is_ok(),
            Conn::None => false,
        };
        if !ok {
            return;
        }
        self.stats.numconnections += 1;
        crate::log_verbose!("Accepted {}", c.addr);
        crate::module::events::fire_client_connected(self, &mut c);
        self.clients.insert(id, c);
    }

    /// Reads everything available from a client and runs the complete commands it sent.
    /// `peer_closed`: the readiness event already reported the peer's end of stream. With
    /// edge-triggered events no further event comes for it, so after a short read the client is
    /// queued to be read again in the next iteration (where the end of stream shows), after its
    /// commands ran and their replies were written, as Redis' level-triggered loop does.
    pub fn read_from_client(&mut self, registry: &Registry, id: ClientId, peer_closed: bool) {
        let Some(mut c) = self.clients.remove(&id) else {
            return;
        };
        let mut closed = false;
        let mut reread = false;
        loop {
            // Reading a big argument: read exactly what it still lacks, into a buffer grown by
            // exactly that much (as Redis' non-greedy growth). A first allocation is exact too.
            let (want, exact) = match c.parser.pending_bulk_len() {
                Some(len)
                    if len >= crate::resp::request::MBULK_BIG_ARG && !c.has(flags::MASTER) =>
                {
                    let have = c.querybuf.len() - c.qb_pos;
                    match (len + 2).saturating_sub(have) {
                        0 => (IOBUF_LEN, false),
                        missing => (missing, true),
                    }
                }
                _ => (IOBUF_LEN, c.querybuf.capacity() < IOBUF_LEN),
            };
            let Client { conn, querybuf, .. } = &mut *c;
            match conn.read_append(querybuf, want, exact) {
                Ok(0) => {
                    closed = true;
                    break;
                }
                Ok(n) => {
                    c.net_input_bytes += n as u64;
                    self.stats.net_input_bytes += n as u64;
                    self.stats.total_reads_processed += 1;
                    c.last_interaction_ms = self.now_ms();
                    let qlen = c.querybuf_len();
                    c.querybuf_peak = c.querybuf_peak.max(qlen);
                    if qlen as i64 > self.config.client_query_buffer_limit && !c.has(flags::MASTER)
                    {
                        crate::log_warning!(
                            "Closing client that reached max query buffer length: {} (qbuf initial bytes: {:?})",
                            self.client_info_string(&c),
                            String::from_utf8_lossy(&c.querybuf[c.qb_pos..(c.qb_pos + 64).min(c.querybuf.len())])
                        );
                        self.stats.client_qbuf_limit_disconnections += 1;
                        closed = true;
                        break;
                    }
                    // What was read is handled before reading on, as Redis handles each read:
                    // a big argument's header is parsed before its body arrives, so the body is
                    // read into a buffer of exactly its size whatever the arrival pattern.
                    if self.config.maxmemory_clients != 0 {
                        // A client whose query buffer alone passes the limit is evicted before
                        // it runs.
                        self.update_client_mem(&mut c);
                        if self.evict_clients(Some(&mut c)) {
                            closed = true;
                            break;
                        }
                    }
                    self.process_input(&mut c);
                    if self.config.maxmemory_clients != 0 {
                        self.update_client_mem(&mut c);
                    }
                    if c.has(flags::CLOSE_ASAP | flags::CLOSE_AFTER_REPLY) {
                        break;
                    }
                    if n < want {
                        // Short read: the socket is drained for now.
                        reread = peer_closed;
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    crate::log_verbose!("Reading from client: {}", e);
                    closed = true;
                    break;
                }
            }
        }
        if reread && !closed {
            self.pending_rereads.push(id);
        }
        self.put_back_client(registry, c, closed);
    }

    /// Returns a client to the map after its input was handled, queueing its output or closing
    /// it as its state asks. A client its own commands marked to be closed (an output buffer
    /// over its limit, eviction) goes now, before the next client is served, as Redis'
    /// `beforeNextClient` does: later commands in the same iteration (CLIENT LIST) no longer
    /// see it.
    pub fn put_back_client(&mut self, registry: &Registry, c: Box<Client>, closed: bool) {
        let id = c.id;
        let has_output = c.out.has_pending();
        let close_now = closed || c.has(flags::CLOSE_ASAP);
        self.clients.insert(id, c);
        if close_now {
            self.free_client(registry, id);
            return;
        }
        if has_output {
            self.mark_pending_write(id);
        } else if self
            .clients
            .get(&id)
            .is_some_and(|c| c.has(flags::CLOSE_AFTER_REPLY))
        {
            self.free_client(registry, id);
        }
    }

    fn parse_limits(&self, c: &Client) -> Limits {
        Limits {
            max_bulk_len: self.config.proto_max_bulk_len,
            auth_required: !c.authenticated && self.acl.default_needs_auth,
            is_master: c.has(flags::MASTER),
        }
    }

    /// Runs every complete command in the client's query buffer (Redis' `processInputBuffer`).
    pub fn process_input(&mut self, c: &mut Client) {
        // The master's stream is passed on to our replicas command by command, as applied.
        let from_master = c.has(flags::MASTER);
        let mut applied_from = c.qb_pos;
        loop {
            if c.has(flags::BLOCKED | flags::CLOSE_AFTER_REPLY | flags::CLOSE_ASAP) {
                break;
            }
            let limits = self.parse_limits(c);
            let outcome = {
                let Client {
                    parser,
                    querybuf,
                    qb_pos,
                    ..
                } = c;
                parser.parse(querybuf, qb_pos, limits)
            };
            match outcome {
                ParseOutcome::Complete => {
                    let argv = std::mem::take(&mut c.parser.argv);
                    if argv.is_empty() {
                        continue;
                    }
                    c.argv = argv;
                    let held = self.process_command(c);
                    if held {
                        // The command could not run now (a pause): keep it for later.
                        break;
                    }
                    if c.has(flags::BLOCKED) {
                        // Blocked on keys: the request stays (CLIENT LIST shows its
                        // arguments) until the client is unblocked, as Redis keeps it.
                        break;
                    }
                    c.argv.clear();
                    self.command_done(c);
                    if from_master {
                        self.repl_master_consumed(&c.querybuf[applied_from..c.qb_pos], true);
                        applied_from = c.qb_pos;
                    }
                    // The reply may have grown this client's buffers: account for it before
                    // the next pipelined command (whose checks may evict clients).
                    if self.config.maxmemory_clients != 0 {
                        self.update_client_mem(c);
                    }
                }
                ParseOutcome::Incomplete => break,
                ParseOutcome::Error(msg, reason) => {
                    if crate::server::log::enabled(crate::server::log::VERBOSE) {
                        crate::log_verbose!(
                            "Protocol error ({}) from client: {}",
                            reason,
                            self.client_info_string(c)
                        );
                    }
                    c.out.error(&msg);
                    c.flags |= flags::CLOSE_AFTER_REPLY | flags::PROTOCOL_ERROR;
                    c.parser.reset();
                    break;
                }
            }
        }
        if from_master && c.qb_pos > applied_from {
            self.repl_master_consumed(&c.querybuf[applied_from..c.qb_pos], false);
        }
        if c.qb_pos > 0 {
            c.querybuf.drain(..c.qb_pos);
            c.qb_pos = 0;
        }
    }

    /// Writes pending output of one client. Returns false if the client was freed.
    pub fn write_to_client(&mut self, registry: &Registry, id: ClientId) -> bool {
        let now = self.now_ms();
        let Some(c) = self.clients.get_mut(&id) else {
            return false;
        };
        let result = match c.conn.writer() {
            Some(w) => c.out.write_to(w),
            None => {
                c.out.clear();
                Ok(0)
            }
        };
        match result {
            Ok(n) => {
                c.net_output_bytes += n as u64;
                self.stats.net_output_bytes += n as u64;
                self.stats.total_writes_processed += 1;
                if n > 0 && !c.has(flags::SLAVE) {
                    c.last_interaction_ms = now;
                }
            }
            Err(e) => {
                crate::log_verbose!("Error writing to client: {}", e);
                self.free_client(registry, id);
                return false;
            }
        }
        if self.config.maxmemory_clients != 0 {
            let mut c = self.clients.remove(&id).expect("client still present");
            self.update_client_mem(&mut c);
            self.clients.insert(id, c);
        }
        let c = self.clients.get_mut(&id).expect("client still present");
        let pending = c.out.has_pending();
        let token = Token(id as usize);
        if pending && !c.write_registered {
            c.write_registered = true;
            let _ = match &mut c.conn {
                Conn::Tcp(s) => {
                    registry.reregister(s, token, Interest::READABLE | Interest::WRITABLE)
                }
                Conn::Unix(s) => {
                    registry.reregister(s, token, Interest::READABLE | Interest::WRITABLE)
                }
                Conn::None => Ok(()),
            };
        } else if !pending && c.write_registered {
            c.write_registered = false;
            let _ = match &mut c.conn {
                Conn::Tcp(s) => registry.reregister(s, token, Interest::READABLE),
                Conn::Unix(s) => registry.reregister(s, token, Interest::READABLE),
                Conn::None => Ok(()),
            };
        }
        if !pending && c.has(flags::CLOSE_AFTER_REPLY) {
            self.free_client(registry, id);
            return false;
        }
        true
    }

    /// Writes the output of every client that produced some in this iteration (before-sleep).
    pub fn handle_pending_writes(&mut self, registry: &Registry) {
        while !self.pending_writes.is_empty() {
            let ids = std::mem::take(&mut self.pending_writes);
            for id in ids {
                self.pending_writes_set.remove(&id);
                let Some(c) = self.clients.get(&id) else {
                    continue;
                };
                if c.write_registered {
                    // The socket was full last time: wait for the writable event.
                    continue;
                }
                self.write_to_client(registry, id);
            }
        }
    }

    /// Schedules a client to be closed in before-sleep (safe from any context).
    pub fn close_client_async(&mut self, id: ClientId) {
        if let Some(c) = self.clients.get_mut(&id) {
            if c.has(flags::CLOSE_ASAP) {
                return;
            }
            c.flags |= flags::CLOSE_ASAP;
        } else if Some(id) == self.current_client {
            self.current_client_flags |= flags::CLOSE_ASAP;
        }
        self.clients_to_close.push(id);
    }

    /// Closes the clients scheduled with `close_client_async`.
    pub fn free_clients_in_async_queue(&mut self, registry: &Registry) {
        let ids = std::mem::take(&mut self.clients_to_close);
        for id in ids {
            if Some(id) == self.current_client {
                self.clients_to_close.push(id);
                continue;
            }
            self.free_client(registry, id);
        }
    }

    /// Drops what the server holds for a client that goes away (or, for RedisModule_Call's
    /// reused clients, whose call ends): watched keys, subscriptions, tracking, MONITOR.
    pub fn drop_client_registrations(&mut self, c: &mut Client) {
        self.unwatch_all(c);
        if c.subscription_count() > 0 {
            self.pubsub_unsubscribe_all(c, false);
        }
        if c.has(flags::TRACKING) {
            self.disable_tracking(c);
        }
        if c.has(flags::MONITOR) {
            let id = c.id;
            self.monitors.retain(|m| *m != id);
        }
    }

    /// Removes a client now: socket, subscriptions, watched keys, monitor registration.
    pub fn free_client(&mut self, registry: &Registry, id: ClientId) {
        let Some(mut c) = self.clients.remove(&id) else {
            return;
        };
        // A module that authenticated the client hears that it goes.
        crate::module::acl::notify_user_changed(self, &mut c);
        match &mut c.conn {
            Conn::Tcp(s) => {
                let _ = registry.deregister(s);
            }
            Conn::Unix(s) => {
                let _ = registry.deregister(s);
            }
            Conn::None => {}
        }
        crate::module::events::fire_client_disconnected(self, &mut c);
        self.forget_client_mem(&mut c);
        self.drop_client_registrations(&mut c);
        self.paused_clients.retain(|m| *m != id);
        if c.has(flags::BLOCKED) {
            self.unblock_on_free(id);
        }
        self.pending_writes_set.remove(&id);
        if c.has(flags::MASTER) {
            self.repl.cached_db = c.db;
            self.repl_master_freed(registry, id);
        }
        self.repl_replica_freed(id);
        crate::log_verbose!("Client closed connection {}", c.addr);
    }

    /// Closes a client whose output buffer passed its class's limits (hard, or soft for longer
    /// than the soft time). Returns true if it was scheduled for closing.
    pub fn check_output_buffer_limits(&mut self, c: &mut Client) -> bool {
        // Fake clients (RedisModule_Call's, a module's reply buffer) have no connection to
        // close, and Redis never closes them for their output.
        if matches!(c.conn, Conn::None) {
            return false;
        }
        if c.has(flags::CLOSE_ASAP) || !obuf_limit_reached(&self.config, c, self.unix_time()) {
            return false;
        }
        self.close_for_obuf_limit(c);
        true
    }

    /// The same check for a client in the clients map (deliveries to other clients, cron).
    pub fn check_output_buffer_limits_of(&mut self, id: ClientId) {
        let now = self.unix_time();
        let Some(c) = self.clients.get_mut(&id) else {
            return;
        };
        if c.has(flags::CLOSE_ASAP) || !obuf_limit_reached(&self.config, c, now) {
            return;
        }
        let mut c = self.clients.remove(&id).expect("present");
        self.close_for_obuf_limit(&mut c);
        self.clients.insert(id, c);
    }

    fn close_for_obuf_limit(&mut self, c: &mut Client) {
        crate::log_warning!(
            "Client {} scheduled to be closed ASAP for overcoming of output buffer limits.",
            self.client_info_string(c)
        );
        c.out.clear();
        c.out.enabled = false;
        c.flags |= flags::CLOSE_ASAP;
        self.clients_to_close.push(c.id);
        self.stats.client_outbuf_limit_disconnections += 1;
    }
}

/// Redis' `checkClientOutputBufferLimits`: the hard limit closes at once; the soft limit only
/// once it has been exceeded continuously for more than its seconds (timed in whole seconds).
pub fn obuf_limit_reached(cfg: &crate::config::Config, c: &mut Client, now_secs: i64) -> bool {
    let class = client_class(c);
    let mut limit = cfg.obuf_limits[class as usize];
    if class == ClientClass::Replica && limit.hard > 0 {
        // A replica's hard limit below the backlog size would drop every replica that just
        // continued from the backlog: the backlog size applies instead, as in Redis 7.0.
        limit.hard = limit
            .hard
            .max(crate::replication::primary::backlog_size_config(cfg) as u64);
    }
    let used = c.output_memory() as u64;
    let hard = limit.hard > 0 && used >= limit.hard;
    let mut soft = limit.soft > 0 && used >= limit.soft;
    if soft {
        if c.obuf_soft_limit_reached_secs == 0 {
            c.obuf_soft_limit_reached_secs = now_secs;
            soft = false;
        } else if now_secs - c.obuf_soft_limit_reached_secs <= limit.soft_seconds as i64 {
            soft = false;
        }
    } else {
        c.obuf_soft_limit_reached_secs = 0;
    }
    hard || soft
}

/// The reply Redis sends, before closing, to a non-local connection in protected mode.
const PROTECTED_MODE_DENIED: &[u8] = b"-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

/// True for unix-socket clients and TCP peers on a loopback address.
fn is_local_peer(c: &Client) -> bool {
    if c.has(flags::UNIX_SOCKET) {
        return true;
    }
    let ip = c.addr.rsplit_once(':').map_or("", |(ip, _)| ip);
    ip.parse::<std::net::IpAddr>().is_ok_and(|a| match a {
        std::net::IpAddr::V4(v4) => v4.is_loopback(),
        std::net::IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    })
}

/// Enables TCP keepalive with the configured interval (Redis' `anetKeepAlive`).
fn set_keepalive(s: &mio::net::TcpStream, interval: i64) {
    use std::os::fd::AsRawFd;
    if interval <= 0 {
        return;
    }
    let fd = s.as_raw_fd();
    let set = |level: i32, opt: i32, val: i32| {
        // SAFETY: fd is a valid socket owned by `s`; the option value is a local int.
        unsafe {
            libc::setsockopt(
                fd,
                level,
                opt,
                &val as *const i32 as *const libc::c_void,
                std::mem::size_of::<i32>() as u32,
            );
        }
    };
    set(libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1);
    set(libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, interval as i32);
    set(
        libc::IPPROTO_TCP,
        libc::TCP_KEEPINTVL,
        (interval / 3).max(1) as i32,
    );
    set(libc::IPPROTO_TCP, libc::TCP_KEEPCNT, 3);
}

impl Server {
    /// The `maxmemory-clients` limit in bytes (0: client eviction off), as Redis computes it:
    /// a percentage of `maxmemory` or an absolute amount, never below 128 KB.
    pub fn client_eviction_limit(&self) -> usize {
        let cfg = &self.config;
        let limit = if cfg.maxmemory_clients < 0 && cfg.maxmemory > 0 {
            (cfg.maxmemory as f64 * (-cfg.maxmemory_clients) as f64 / 100.0) as usize
        } else if cfg.maxmemory_clients > 0 {
            cfg.maxmemory_clients as usize
        } else {
            return 0;
        };
        limit.max(128 * 1024)
    }

    /// Measures a client's memory and moves it to its current class in the per-class totals
    /// (Redis' `updateClientMemoryUsage`). A client being closed counts nothing.
    pub fn measure_client_mem(&mut self, c: &mut Client) {
        let class = if c.has(flags::MASTER) {
            3
        } else {
            client_class(c) as usize
        };
        let mem = if c.has(flags::CLOSE_ASAP) {
            0
        } else {
            c.total_memory()
        };
        let old = &mut self.clients_mem_by_class[c.last_memory_class];
        *old -= c.last_memory_usage.min(*old);
        self.clients_mem_by_class[class] += mem;
        c.last_memory_class = class;
        c.last_memory_usage = mem;
    }

    /// Re-measures a client client eviction may evict (Redis' `updateClientMemUsageAndBucket`);
    /// others are measured by the cron only.
    pub fn update_client_mem(&mut self, c: &mut Client) {
        if self.config.maxmemory_clients != 0 && c.evictable() {
            self.measure_client_mem(c);
        }
    }

    /// Forgets a client's accounted memory (it is being freed or evicted).
    pub fn forget_client_mem(&mut self, c: &mut Client) {
        let old = &mut self.clients_mem_by_class[c.last_memory_class];
        *old -= c.last_memory_usage.min(*old);
        c.last_memory_usage = 0;
    }

    /// Measures every client in the map (the cron, and client eviction being switched on).
    pub fn remeasure_all_clients(&mut self) {
        let ids: Vec<ClientId> = self.clients.keys().copied().collect();
        for id in ids {
            let mut c = self.clients.remove(&id).expect("present");
            self.measure_client_mem(&mut c);
            self.clients.insert(id, c);
        }
    }

    /// Evicts the largest evictable clients while the memory of normal and pub/sub clients is
    /// at or over `maxmemory-clients`. `current` is the client whose command is being processed (not in
    /// the map); returns true if that client was evicted.
    pub fn evict_clients(&mut self, mut current: Option<&mut Client>) -> bool {
        let limit = self.client_eviction_limit();
        if limit == 0 {
            return false;
        }
        let mut evicted_current = false;
        // All normal and pub/sub clients count against the limit (NO-EVICT ones too), but only
        // evictable ones are evicted.
        let counted = |srv: &Server| {
            srv.clients_mem_by_class[ClientClass::Normal as usize]
                + srv.clients_mem_by_class[ClientClass::PubSub as usize]
        };
        while counted(self) >= limit {
            let mut best: Option<(usize, ClientId)> = None;
            for (id, c) in self.clients.iter() {
                if c.last_memory_usage > 0
                    && c.evictable()
                    && !c.has(flags::CLOSE_ASAP)
                    && best.is_none_or(|b| c.last_memory_usage > b.0)
                {
                    best = Some((c.last_memory_usage, *id));
                }
            }
            if let Some(cur) = current.as_deref() {
                if !evicted_current
                    && cur.evictable()
                    && cur.last_memory_usage > 0
                    && best.is_none_or(|b| cur.last_memory_usage > b.0)
                {
                    best = Some((cur.last_memory_usage, cur.id));
                }
            }
            let Some((_, victim)) = best else {
                crate::log_warning!("Over client maxmemory after evicting all evictable clients");
                break;
            };
            self.stats.evicted_clients += 1;
            match current.as_deref_mut() {
                Some(cur) if cur.id == victim => {
                    crate::log_notice!("Evicting client: {}", self.client_info_string(cur));
                    self.forget_client_mem(cur);
                    cur.out.clear();
                    cur.out.enabled = false;
                    cur.flags |= flags::CLOSE_ASAP;
                    self.clients_to_close.push(cur.id);
                    evicted_current = true;
                }
                _ => {
                    let mut c = self.clients.remove(&victim).expect("victim present");
                    crate::log_notice!("Evicting client: {}", self.client_info_string(&c));
                    self.forget_client_mem(&mut c);
                    c.out.clear();
                    c.out.enabled = false;
                    c.flags |= flags::CLOSE_ASAP;
                    self.clients_to_close.push(victim);
                    self.clients.insert(victim, c);
                }
            }
        }
        evicted_current
    }
}
