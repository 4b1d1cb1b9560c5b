//! Following a master: REPLICAOF / `replicaof`, the non-blocking handshake (PING, AUTH,
//! REPLCONF, PSYNC with our history for a partial resynchronization), receiving and loading
//! the snapshot of a full one (through a file, or in memory with `repl-diskless-load`), and
//! the master client whose commands are applied without replies and passed on verbatim to our
//! own replicas and backlog. Also the periodic ACKs and the link's timeouts. Behaviour and log
//! lines follow Redis 7.0's replication.c.

use std::io::{self, Read, Write};

use mio::{Interest, Registry, Token};

use super::primary::cfg_int;
use super::state::{encode_command, HandshakeReply, LinkState, NULL_REPLID};
use crate::client::{flags, Client, Conn};
use crate::rdb::file::stored_config;
use crate::server::Server;

/// The event-loop token of the link to our master while it isn't a master client yet (below
/// the listeners' tokens, far above any client id).
pub const LINK_TOKEN: usize = usize::MAX - 128;

fn unix_now() -> i64 {
    crate::util::mstime() / 1000
}

/// Takes one line from the front of `buf` (ended by LF, a CR before it dropped): the
/// master may send bare newlines as keepalives.
fn take_line(buf: &mut Vec<u8>) -> Option<String> {
    let pos = buf.iter().position(|b| *b == b'\n')?;
    let end = if pos > 0 && buf[pos - 1] == b'\r' {
        pos - 1
    } else {
        pos
    };
    let line = String::from_utf8_lossy(&buf[..end]).into_owned();
    buf.drain(..pos + 1);
    Some(line)
}

/// A non-blocking connection to `addr`, from `bind-source-addr` when one is set.
fn connect_from(addr: std::net::SocketAddr, source: &str) -> io::Result<mio::net::TcpStream> {
    if source.is_empty() {
        return mio::net::TcpStream::connect(addr);
    }
    use socket2::{Domain, Socket, Type};
    let ip: std::net::IpAddr = source
        .parse()
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    sock.bind(&std::net::SocketAddr::new(ip, 0).into())?;
    sock.set_nonblocking(true)?;
    match sock.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    Ok(mio::net::TcpStream::from_std(sock.into()))
}

impl Server {
    /// REPLICAOF host port: follow that master (Redis' `replicationSetMaster`).
    pub fn repl_set_master(&mut self, host: &str, port: i64) {
        let was_master = self.repl.master_host.is_none();
        self.repl.master_host = None;
        if let Some(id) = self.repl.master_client.take() {
            // Closed as a lost link would be, keeping our history for the PSYNC.
            self.repl.cached = true;
            if let Some(c) = self.clients.get(&id) {
                self.repl.cached_db = c.db;
            }
            self.repl.master_partial.clear();
            self.close_client_async(id);
            self.repl_link_lost_event();
        }
        self.disconnect_all_blocked_clients();
        self.repl.master_host = Some(host.to_string());
        self.repl.master_port = port;
        // CONFIG REWRITE keeps the role.
        self.config.replicaof = Some((host.to_string(), port));
        crate::server::log::set_role(b'S');
        if let Err(e) = self.set_oom_score_adj(None) {
            crate::log_warning!("{}", e);
        }
        self.repl_cancel_handshake();
        if was_master {
            // Our own history is what we ask the new master to continue.
            self.repl.cached = true;
            self.repl.cached_db = 0;
        }
        crate::module::events::fire_role_changed(self, false);
        self.repl.link_state = LinkState::Connect;
        self.repl.connect_now = true;
        crate::log_notice!("Connecting to MASTER {}:{}", host, port);
    }

    /// `replicaof` in the configuration: we start as a replica (before loading, so that
    /// expired keys are kept as a replica keeps them).
    pub fn repl_configure_master_at_startup(&mut self, host: &str, port: i64) {
        self.repl.master_host = Some(host.to_string());
        self.repl.master_port = port;
        crate::server::log::set_role(b'S');
        self.repl.link_state = LinkState::Connect;
        self.repl.connect_now = true;
    }

    /// After the start-up load, when the snapshot names a replication history (id and
    /// offset, as Redis' loadDataFromDisk): a replica asks its master to continue it; a master
    /// keeps it as its second id, so that its replicas continue across the restart, with its
    /// offset moved on by that history (past the deletions the load already fed). A master
    /// whose snapshot names no history drops the backlog it started for the load.
    pub fn repl_after_startup_load(&mut self) {
        let history = match (
            self.repl.loaded_replid.take(),
            self.repl.loaded_offset.take(),
        ) {
            (Some(id), Some(off)) => Some((id, off)),
            _ => None,
        };
        let master = self.i_am_master();
        match history {
            Some((id, off)) if !master => {
                self.replid = id;
                self.repl.master_repl_offset = off;
                self.repl.cached = true;
            }
            Some((id, off)) => {
                self.repl.replid2 = id;
                self.repl.second_replid_offset = off + 1;
                self.repl.master_repl_offset += off;
                let end = self.repl.master_repl_offset;
                if let Some(b) = self.repl.backlog.as_mut() {
                    b.first_offset = end - b.histlen as i64 + 1;
                }
                self.repl.no_replicas_since = unix_now();
            }
            None if master => {
                // Writes are copied into the propagation log only while something consumes it.
                self.repl.backlog = None;
                self.prop.enabled = self.aof.status != crate::aof::Status::Off;
            }
            None => {}
        }
    }

    /// What a snapshot records of our history: the stream's database, our id and offset
    /// (only while a history exists: a backlog, or a master we follow).
    pub fn repl_save_info(&self) -> Option<(i64, String, i64)> {
        if self.is_replica() {
            let c = self
                .repl
                .master_client
                .and_then(|id| self.clients.get(&id))?;
            return Some((
                c.db as i64,
                self.replid.clone(),
                self.repl.master_repl_offset,
            ));
        }
        self.repl.backlog.as_ref()?;
        let db = self.repl.seldb.current().unwrap_or(0) as i64;
        Some((db, self.replid.clone(), self.repl.master_repl_offset))
    }

    /// REPLICAOF NO ONE: become a master, with a new history that keeps the old one as the
    /// second id so that our replicas can continue.
    pub fn repl_unset_master(&mut self) {
        if self.repl.master_host.is_none() {
            return;
        }
        // 7.0 announces the link going down here, and once more as the master client is
        // freed (its state is still "connected" then): listeners hear it twice.
        self.repl_link_lost_event();
        self.repl.master_host = None;
        self.config.replicaof = None;
        crate::server::log::set_role(b'M');
        if let Err(e) = self.set_oom_score_adj(None) {
            crate::log_warning!("{}", e);
        }
        if let Some(id) = self.repl.master_client.take() {
            self.close_client_async(id);
            self.repl_link_lost_event();
        }
        self.repl.cached = false;
        self.repl.master_partial.clear();
        self.repl_cancel_handshake();
        self.repl_shift_id();
        self.repl_disconnect_replicas();
        self.repl.link_state = LinkState::None;
        self.repl.seldb.reset();
        self.repl.no_replicas_since = unix_now();
        self.repl.down_since = 0;
        crate::module::events::fire_role_changed(self, true);
    }

    /// Module listeners hear that the link to our master is down, if it was up.
    fn repl_link_lost_event(&mut self) {
        if self.repl.link_state == LinkState::Connected {
            crate::module::events::fire_master_link(self, false);
        }
    }

    /// Clients blocked on keys get an error when we become a replica (their keys now
    /// change only by the master's hand), as Redis' `disconnectAllBlockedClients`.
    fn disconnect_all_blocked_clients(&mut self) {
        let ids: Vec<_> = self.blocking.states.keys().copied().collect();
        for id in ids {
            if let Some(c) = self.clients.get_mut(&id) {
                c.out.error("-UNBLOCKED force unblock from blocking operation, instance state changed (master -> replica?)");
                c.flags |= flags::CLOSE_AFTER_REPLY;
            }
            self.unblock_on_free(id);
            if let Some(c) = self.clients.get_mut(&id) {
                c.flags &= !flags::BLOCKED;
            }
            self.mark_pending_write(id);
        }
    }

    /// Drops the link being set up (handshake or transfer).
    pub fn repl_cancel_handshake(&mut self) {
        self.repl_abort_link_load();
        if let Some(mut s) = self.repl.link.stream.take() {
            if let Some(r) = self.registry.as_ref() {
                let _ = r.deregister(&mut s);
            }
        }
        self.repl_reset_link();
        if self.repl.master_host.is_some()
            && !matches!(self.repl.link_state, LinkState::Connected | LinkState::None)
        {
            self.repl.link_state = LinkState::Connect;
        }
    }

    fn repl_fail_handshake(&mut self, registry: &Registry) {
        if let Some(mut s) = self.repl.link.stream.take() {
            let _ = registry.deregister(&mut s);
        }
        self.repl_abort_link_load();
        self.repl_reset_link();
        self.repl.link_state = LinkState::Connect;
    }

    /// A load from the link stops with the link (broken, timed out, cancelled): we are no
    /// longer loading, and a swapdb load keeps the old dataset.
    fn repl_abort_link_load(&mut self) {
        if !self.repl.link.diskless_load {
            return;
        }
        self.repl.link.diskless_load = false;
        self.repl.link.loader = None;
        self.loading = false;
        self.repl.async_loading = false;
        use crate::module::events::{fire_loading, fire_repl_async_load, sub};
        fire_loading(self, sub::LOADING_FAILED);
        if self.repl.link.swapdb {
            fire_repl_async_load(self, sub::ASYNC_LOAD_ABORTED);
            self.repl.link.staged = None;
            crate::log_notice!("MASTER <-> REPLICA sync: Discarding temporary DB in background");
        } else {
            // What was loaded before the failure is no dataset.
            self.empty_data(None);
            self.scripting.functions.clear();
        }
    }

    /// Forgets the link's transfer state; the temp file of a transfer to disk that did not
    /// complete goes with it.
    fn repl_reset_link(&mut self) {
        let link = std::mem::take(&mut self.repl.link);
        if let Some((file, name)) = link.tmpfile {
            drop(file);
            let _ = std::fs::remove_file(name);
        }
    }

    /// Starts the non-blocking connection to the master.
    fn repl_connect(&mut self, registry: &Registry) {
        let Some(host) = self.repl.master_host.clone() else {
            return;
        };
        let port = self.repl.master_port;
        self.repl.last_connect_try = unix_now();
        use std::net::ToSocketAddrs;
        let source = self.config.bind_source_addr.clone();
        let addr = (host.as_str(), port as u16)
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next());
        let stream = addr
            .ok_or_else(|| io::Error::from(io::ErrorKind::AddrNotAvailable))
            .and_then(|a| connect_from(a, &source));
        let mut stream = match stream {
            Ok(s) => s,
            Err(e) => {
                crate::log_warning!(
                    "Unable to connect to MASTER: {}",
                    crate::rdb::persist::strerror(&e)
                );
                return;
            }
        };
        if registry
            .register(
                &mut stream,
                Token(LINK_TOKEN),
                Interest::READABLE | Interest::WRITABLE,
            )
            .is_err()
        {
            return;
        }
        self.repl_reset_link();
        self.repl.link.stream = Some(stream);
        self.repl.link_state = LinkState::Connecting;
        self.repl.last_io = unix_now();
        crate::log_notice!("MASTER <-> REPLICA sync started");
    }

    fn link_send(&mut self, data: &[u8]) -> bool {
        let Some(s) = self.repl.link.stream.as_mut() else {
            return false;
        };
        let mut done = 0;
        while done < data.len() {
            match s.write(&data[done..]) {
                Ok(n) if n > 0 => done += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                _ => return false,
            }
        }
        true
    }

    /// Reads what the link has into `into` (the line buffer or the snapshot). Err on a
    /// closed or failed connection.
    fn link_read(&mut self, to_data: bool) -> io::Result<()> {
        self.link_read_capped(to_data, usize::MAX)
    }

    /// `link_read`, stopping once the snapshot buffer holds `cap` bytes (`link.undrained`
    /// then says the socket may hold more).
    fn link_read_capped(&mut self, to_data: bool, cap: usize) -> io::Result<()> {
        let mut buf = vec![0u8; 64 * 1024];
        self.repl.link.undrained = false;
        loop {
            if to_data && self.repl.link.data.len() >= cap {
                self.repl.link.undrained = true;
                return Ok(());
            }
            let Some(s) = self.repl.link.stream.as_mut() else {
                return Err(io::Error::from(io::ErrorKind::NotConnected));
            };
            match s.read(&mut buf) {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
                Ok(n) => {
                    self.repl.last_io = unix_now();
                    self.repl.net_repl_input_bytes += n as u64;
                    if to_data {
                        self.repl.link.data.extend_from_slice(&buf[..n]);
                    } else {
                        self.repl.link.inbuf.extend_from_slice(&buf[..n]);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// An event on the link to the master.
    pub fn repl_link_event(&mut self, registry: &Registry) {
        match self.repl.link_state {
            LinkState::Connecting => {
                let Some(s) = self.repl.link.stream.as_mut() else {
                    return;
                };
                let err = match s.take_error() {
                    Ok(Some(e)) => Some(e),
                    Err(e) => Some(e),
                    Ok(None) => s.peer_addr().err(),
                };
                if let Some(e) = err {
                    if e.kind() == io::ErrorKind::NotConnected {
                        // Still connecting.
                        return;
                    }
                    crate::log_warning!(
                        "Error condition on socket for SYNC: {}",
                        crate::rdb::persist::strerror(&e)
                    );
                    self.repl_fail_handshake(registry);
                    return;
                }
                let _ = s.set_nodelay(true);
                let _ = registry.reregister(s, Token(LINK_TOKEN), Interest::READABLE);
                crate::log_notice!("Non blocking connect for SYNC fired the event.");
                self.repl.link_state = LinkState::ReceivePong;
                if !self.link_send(b"PING\r\n") {
                    self.repl_fail_handshake(registry);
                }
            }
            LinkState::ReceivePong | LinkState::ReceiveReplies | LinkState::ReceivePsync => {
                if let Err(e) = self.link_read(false) {
                    if self.repl.link.inbuf.is_empty() {
                        crate::log_warning!(
                            "Master did not respond to command during SYNC handshake"
                        );
                        let _ = e;
                        self.repl_fail_handshake(registry);
                        return;
                    }
                }
                self.repl_handshake_lines(registry);
            }
            LinkState::Transfer => self.repl_transfer_pump(registry),
            _ => {}
        }
    }

    /// Moves the snapshot transfer on: what is buffered is consumed (written to the temp
    /// file, or loaded), and the link is read only as far as that keeps up, so a slow load
    /// holds the master back through the socket rather than filling our memory.
    fn repl_transfer_pump(&mut self, registry: &Registry) {
        /// Bytes read ahead of what the transfer consumes.
        const READ_AHEAD: usize = 1024 * 1024;
        /// Reading on past this, the event loop gets its turn first (clients, signals).
        const SLICE: std::time::Duration = std::time::Duration::from_millis(100);
        let started = std::time::Instant::now();
        let mut rounds = 0;
        loop {
            if rounds > 0 && started.elapsed() >= SLICE {
                // `undrained` or `load_pending` brings us back without waiting.
                return;
            }
            rounds += 1;
            if self.repl.link.load_pending {
                self.repl_transfer_progress(registry);
                if self.repl.link_state != LinkState::Transfer || self.repl.link.load_pending {
                    return;
                }
            }
            let link = &self.repl.link;
            let needs = link.loader.as_ref().map_or(0, |l| l.needs());
            let cap = link.data.len().max(needs) + READ_AHEAD;
            let lost = self.link_read_capped(true, cap).err();
            // What arrived before the link failed is used first: it may complete the transfer.
            self.repl_transfer_progress(registry);
            if self.repl.link_state != LinkState::Transfer {
                return;
            }
            if let Some(e) = lost {
                self.repl_transfer_lost(registry, e);
                return;
            }
            if !self.repl.link.undrained || self.repl.link.load_pending {
                return;
            }
        }
    }

    /// The link broke during the snapshot transfer: the sync fails and starts over at once.
    fn repl_transfer_lost(&mut self, registry: &Registry, e: io::Error) {
        let why = if e.kind() == io::ErrorKind::UnexpectedEof {
            "connection lost".to_string()
        } else {
            crate::rdb::persist::strerror(&e)
        };
        if self.repl.link.diskless_load {
            // Loading from the link: 7.0's loader meets the end of its input and reports a
            // short read, then the failed load.
            crate::log_warning!("Short read or OOM loading DB. Unrecoverable error, aborting now.");
            crate::log_warning!(
                "Internal error in RDB reading offset {}, function at rdb.c:0 -> Unexpected EOF reading RDB file. Failure loading rdb format from socket, assuming connection error, resuming operation.",
                self.repl.link.drained + self.repl.link.data.len()
            );
            crate::log_warning!(
                "Failed trying to load the MASTER synchronization DB from socket: {}",
                why
            );
        } else {
            crate::log_warning!("I/O error trying to sync with MASTER: {}", why);
        }
        self.repl_fail_handshake(registry);
        // Redis reconnects at once rather than at the next replication cron.
        crate::log_notice!(
            "Reconnecting to MASTER {}:{} after failure",
            self.repl.master_host.as_deref().unwrap_or(""),
            self.repl.master_port
        );
        self.repl.connect_now = true;
    }

    fn repl_handshake_lines(&mut self, registry: &Registry) {
        while let Some(line) = take_line(&mut self.repl.link.inbuf) {
            match self.repl.link_state {
                LinkState::ReceivePong => {
                    if line.starts_with('-')
                        && !line.starts_with("-NOAUTH")
                        && !line.starts_with("-NOPERM")
                        && !line.starts_with("-ERR operation not permitted")
                    {
                        crate::log_warning!("Error reply to PING from master: '{}'", line);
                        self.repl_fail_handshake(registry);
                        return;
                    }
                    crate::log_notice!("Master replied to PING, replication can continue...");
                    let mut out = Vec::new();
                    let mut expected = std::collections::VecDeque::new();
                    let auth = stored_config(&self.config, "masterauth");
                    if !auth.is_empty() {
                        let user = stored_config(&self.config, "masteruser");
                        let mut argv = vec![b"AUTH".to_vec()];
                        if !user.is_empty() {
                            argv.push(user.into_bytes());
                        }
                        argv.push(auth.into_bytes());
                        encode_command(&argv, &mut out);
                        expected.push_back(HandshakeReply::Auth);
                    }
                    let announce = cfg_int(self, "replica-announce-port");
                    let port = if announce != 0 {
                        announce
                    } else {
                        self.config.port
                    };
                    encode_command(
                        &[
                            b"REPLCONF".to_vec(),
                            b"listening-port".to_vec(),
                            port.to_string().into_bytes(),
                        ],
                        &mut out,
                    );
                    expected.push_back(HandshakeReply::Port);
                    let ip = stored_config(&self.config, "replica-announce-ip");
                    if !ip.is_empty() {
                        encode_command(
                            &[
                                b"REPLCONF".to_vec(),
                                b"ip-address".to_vec(),
                                ip.into_bytes(),
                            ],
                            &mut out,
                        );
                        expected.push_back(HandshakeReply::Ip);
                    }
                    encode_command(
                        &[
                            b"REPLCONF".to_vec(),
                            b"capa".to_vec(),
                            b"eof".to_vec(),
                            b"capa".to_vec(),
                            b"psync2".to_vec(),
                        ],
                        &mut out,
                    );
                    expected.push_back(HandshakeReply::Capa);
                    self.repl.link.expected = expected;
                    self.repl.link_state = LinkState::ReceiveReplies;
                    if !self.link_send(&out) {
                        self.repl_fail_handshake(registry);
                        return;
                    }
                }
                LinkState::ReceiveReplies => {
                    let Some(kind) = self.repl.link.expected.pop_front() else {
                        continue;
                    };
                    if line.starts_with('-') {
                        match kind {
                            HandshakeReply::Auth => {
                                crate::log_warning!("Unable to AUTH to MASTER: {}", line);
                                self.repl_fail_handshake(registry);
                                return;
                            }
                            HandshakeReply::Port => crate::log_notice!(
                                "(Non critical) Master does not understand REPLCONF listening-port: {}",
                                line
                            ),
                            HandshakeReply::Ip => crate::log_notice!(
                                "(Non critical) Master does not understand REPLCONF ip-address: {}",
                                line
                            ),
                            HandshakeReply::Capa => crate::log_notice!(
                                "(Non critical) Master does not understand REPLCONF capa: {}",
                                line
                            ),
                        }
                    }
                    if self.repl.link.expected.is_empty() {
                        let (id, off) = if self.repl.cached {
                            let off = (self.repl.master_repl_offset + 1).to_string();
                            crate::log_notice!(
                                "Trying a partial resynchronization (request {}:{}).",
                                self.replid,
                                off
                            );
                            (self.replid.clone(), off)
                        } else {
                            crate::log_notice!(
                                "Partial resynchronization not possible (no cached master)"
                            );
                            ("?".to_string(), "-1".to_string())
                        };
                        let mut out = Vec::new();
                        encode_command(
                            &[b"PSYNC".to_vec(), id.into_bytes(), off.into_bytes()],
                            &mut out,
                        );
                        self.repl.link_state = LinkState::ReceivePsync;
                        if !self.link_send(&out) {
                            self.repl_fail_handshake(registry);
                            return;
                        }
                    }
                }
                LinkState::ReceivePsync => {
                    if line.is_empty() {
                        // A keepalive newline before the reply.
                        continue;
                    }
                    self.repl_psync_reply(registry, &line);
                    return;
                }
                _ => return,
            }
        }
    }

    fn repl_psync_reply(&mut self, registry: &Registry, line: &str) {
        if let Some(rest) = line.strip_prefix("+FULLRESYNC") {
            let mut parts = rest.split_whitespace();
            let replid = parts.next().unwrap_or("").to_string();
            let offset = parts.next().and_then(|o| o.parse().ok()).unwrap_or(-1);
            // Our history stays until the new snapshot is loaded: if this master goes away
            // before that, the previous one may still continue it.
            crate::log_notice!("Full resync from master: {}:{}", replid, offset);
            self.repl.link.full_replid = replid;
            self.repl.link.full_offset = offset;
            self.repl.link_state = LinkState::Transfer;
            self.repl.link.data = std::mem::take(&mut self.repl.link.inbuf);
            self.repl.transfer_started = unix_now();
            self.repl_transfer_progress(registry);
            return;
        }
        if let Some(rest) = line.strip_prefix("+CONTINUE") {
            crate::log_notice!("Successful partial resynchronization with master.");
            let new = rest.trim();
            if !new.is_empty() && new != self.replid {
                // The master's history goes on under a new id: ours becomes the second one,
                // and our replicas must learn it.
                self.repl.replid2 = std::mem::replace(&mut self.replid, new.to_string());
                self.repl.second_replid_offset = self.repl.master_repl_offset + 1;
                crate::log_warning!("Master replication ID changed to {}", new);
                self.repl_disconnect_replicas();
            }
            crate::log_notice!(
                "MASTER <-> REPLICA sync: Master accepted a Partial Resynchronization."
            );
            if self.repl.backlog.is_none() {
                self.repl_create_backlog();
            }
            let leftover = std::mem::take(&mut self.repl.link.inbuf);
            let db = self.repl.cached_db;
            self.repl_create_master_client(registry, leftover, db);
            return;
        }
        if line.starts_with("-NOMASTERLINK") || line.starts_with("-LOADING") {
            crate::log_notice!(
                "Master is currently unable to PSYNC but should be in the future: {}",
                line
            );
        } else {
            crate::log_warning!("Unexpected reply to PSYNC from master: {}", line);
        }
        self.repl_fail_handshake(registry);
    }

    /// Reads the snapshot's header, then its body; loads it once complete.
    fn repl_transfer_progress(&mut self, registry: &Registry) {
        let link = &mut self.repl.link;
        if !link.header_done {
            loop {
                if link.data.first() == Some(&b'\n') {
                    // Keepalive while the master prepares the snapshot.
                    link.data.remove(0);
                    continue;
                }
                break;
            }
            let Some(line) = take_line(&mut link.data) else {
                return;
            };
            if let Some(err) = line.strip_prefix('-') {
                crate::log_warning!("MASTER aborted replication with an error: {}", err);
                self.repl_fail_handshake(registry);
                return;
            }
            if !line.starts_with('$') {
                crate::log_warning!("Bad protocol from MASTER, the first byte is not '$' (we received '{}'), are you sure the host and port are right?", line);
                self.repl_fail_handshake(registry);
                return;
            }
            let diskless = self.repl_use_diskless_load();
            let to = if diskless { "parser" } else { "disk" };
            let link = &mut self.repl.link;
            if let Some(mark) = line.strip_prefix("$EOF:").filter(|m| m.len() >= 40) {
                link.eof_mark = Some(mark.as_bytes()[..40].to_vec());
                crate::log_notice!(
                    "MASTER <-> REPLICA sync: receiving streamed RDB from master with EOF to {}",
                    to
                );
            } else {
                let size = line[1..].parse::<usize>().unwrap_or(0);
                link.size = Some(size);
                crate::log_notice!(
                    "MASTER <-> REPLICA sync: receiving {} bytes from master to {}",
                    size,
                    to
                );
            }
            link.header_done = true;
            if diskless {
                self.repl_start_diskless_load();
            } else {
                let name = format!("temp-{}.{}.rdb", unix_now(), std::process::id());
                match std::fs::File::create(&name) {
                    Ok(f) => self.repl.link.tmpfile = Some((f, name)),
                    Err(e) => {
                        crate::log_warning!(
                            "Opening the temp file needed for MASTER <-> REPLICA synchronization: {}",
                            crate::rdb::persist::strerror(&e)
                        );
                        self.repl_fail_handshake(registry);
                        return;
                    }
                }
            }
        }
        if self.repl.link.diskless_load {
            self.repl_stream_load(registry);
            return;
        }
        self.repl_transfer_to_disk(registry);
    }

    /// A transfer to disk writes the payload to the temp file as it arrives; once it is all
    /// there the file becomes the dump file and is loaded. With an EOF mark the last bytes
    /// are held back until it is known whether they are the mark.
    fn repl_transfer_to_disk(&mut self, registry: &Registry) {
        use std::io::Write as _;
        let link = &mut self.repl.link;
        let (write, complete) = link.payload_window(true);
        let Some((file, _)) = link.tmpfile.as_mut() else {
            return;
        };
        if let Err(e) = file.write_all(&link.data[..write]) {
            crate::log_warning!(
                "Write error or short write writing to the DB dump file needed for MASTER <-> REPLICA synchronization: {}",
                crate::rdb::persist::strerror(&e)
            );
            self.repl_fail_handshake(registry);
            return;
        }
        link.data.drain(..write);
        link.drained += write;
        if !complete {
            return;
        }
        let rest = match link.size {
            Some(_) => std::mem::take(&mut link.data),
            None => Vec::new(),
        };
        let eof = link.eof_mark.is_some();
        self.repl_load_transfer(registry, rest, eof);
    }

    /// A diskless load takes the records that arrived whole, as they arrive: the dataset is
    /// built while the master is still sending it, and only an unfinished record waits in
    /// memory. A swapdb load builds into the staged dataset while the old one is served.
    /// Between pieces (at most about `loading-process-events-interval-bytes` each) the event
    /// loop serves clients.
    fn repl_stream_load(&mut self, registry: &Registry) {
        self.repl.link.load_pending = false;
        let link = &mut self.repl.link;
        let Some(mut loader) = link.loader.take() else {
            return;
        };
        // The loader stops at the image's end by itself: what may be the mark can go to it.
        let (avail, last) = link.payload_window(false);
        let data = std::mem::take(&mut link.data);
        let staged = link.staged.take();
        let swapped = staged.map(|(mut dbs, mut functions)| {
            std::mem::swap(&mut self.dbs, &mut dbs);
            std::mem::swap(&mut self.scripting.functions, &mut functions);
            (dbs, functions)
        });
        let interval = stored_config(&self.config, "loading-process-events-interval-bytes")
            .parse::<u64>()
            .unwrap_or(2 * 1024 * 1024)
            .max(1);
        let started = std::time::Instant::now();
        let from = loader.offset();
        let mut yielded = false;
        let fed = loader.feed(self, &data[..avail], last, &mut |srv, at| {
            srv.persist.loading_loaded_bytes = at;
            let more = at - from < interval && started.elapsed().as_millis() < 100;
            yielded |= !more;
            more
        });
        if let Some((mut dbs, mut functions)) = swapped {
            std::mem::swap(&mut self.dbs, &mut dbs);
            std::mem::swap(&mut self.scripting.functions, &mut functions);
            self.repl.link.staged = Some((dbs, functions));
        }
        let link = &mut self.repl.link;
        link.data = data;
        link.loader = Some(loader);
        let fed = match fed {
            Ok(fed) => fed,
            Err(_) => {
                crate::log_warning!(
                    "Failed trying to load the MASTER synchronization DB from socket, check server logs."
                );
                self.repl_fail_handshake(registry);
                return;
            }
        };
        link.data.drain(..fed.consumed);
        link.drained += fed.consumed;
        if !fed.done {
            // Stopped to serve clients: go on without waiting for the link.
            link.load_pending = yielded;
            return;
        }
        let rest = match link.size {
            Some(_) => std::mem::take(&mut link.data),
            None => {
                let mark = link.eof_mark.clone().expect("mark or size");
                if link.data.len() < mark.len() {
                    return;
                }
                if link.data[..mark.len()] != mark[..] {
                    crate::log_warning!("Replication stream EOF marker is broken");
                    crate::log_warning!(
                        "Failed trying to load the MASTER synchronization DB from socket, check server logs."
                    );
                    self.repl_fail_handshake(registry);
                    return;
                }
                link.data.split_off(mark.len())
            }
        };
        let stats = link.loader.as_ref().map(|l| l.stats).unwrap_or_default();
        self.repl_stream_load_done(registry, stats, rest);
    }

    /// The streamed snapshot is loaded whole: it becomes the dataset.
    fn repl_stream_load_done(
        &mut self,
        registry: &Registry,
        stats: crate::rdb::file::LoadStats,
        rest: Vec<u8>,
    ) {
        use crate::module::events::{fire_loading, fire_repl_async_load, sub};
        let link = &mut self.repl.link;
        link.diskless_load = false;
        link.loader = None;
        let staged = link.staged.take();
        let eof = link.eof_mark.is_some();
        if let Some((dbs, functions)) = staged {
            self.repl_attach_to_new_master();
            self.signal_flushed_db(None);
            self.dbs = dbs;
            self.scripting.functions = functions;
        }
        if self.rdb_child_active() && !self.repl.child_to_sockets {
            self.kill_rdb_child();
        }
        self.loading = false;
        self.repl.async_loading = false;
        // As in 7.0: a swapdb load announces its completion before the load's end.
        if self.repl.link.swapdb {
            fire_repl_async_load(self, sub::ASYNC_LOAD_COMPLETED);
        }
        fire_loading(self, sub::LOADING_ENDED);
        self.persist.last_load = stats;
        if self.repl.link.swapdb {
            crate::log_notice!("MASTER <-> REPLICA sync: Discarding old DB in background");
        }
        self.repl_sync_loaded(registry, rest, eof);
    }

    /// The snapshot is here: replace the dataset with it, take the master's history, and
    /// start streaming.
    /// Whether the snapshot is loaded straight from the link (Redis' `useDisklessLoad`):
    /// `swapdb` always, `on-empty-db` when we hold no keys.
    /// Module data types whose modules don't handle read errors themselves would crash the
    /// server on a cut transfer, so then the payload goes through a file, as in Redis.
    fn repl_use_diskless_load(&self) -> bool {
        let enabled = match stored_config(&self.config, "repl-diskless-load").as_str() {
            "swapdb" => true,
            "on-empty-db" => self.dbs.iter().all(|d| d.is_empty()),
            _ => false,
        };
        if enabled && !crate::module::datatype::all_handle_io_errors() {
            crate::log_warning!(
                "Skipping diskless-load because there are modules that don't handle read errors."
            );
            return false;
        }
        enabled
    }

    /// A load from the link begins with its header: we are loading from now on (clients
    /// get -LOADING), the old data flushed unless `swapdb` keeps it until the end.
    fn repl_start_diskless_load(&mut self) {
        use crate::module::events::{fire_loading, fire_repl_async_load, sub};
        self.repl.link.diskless_load = true;
        let swapdb = stored_config(&self.config, "repl-diskless-load") == "swapdb";
        self.repl.link.swapdb = swapdb;
        self.repl.link.loader = Some(Box::new(crate::rdb::file::Loader::new(self, false, false)));
        if swapdb {
            fire_repl_async_load(self, sub::ASYNC_LOAD_STARTED);
            // The old dataset is an earlier point of the very history that arrives: it may
            // go on being served until the new one replaces it.
            self.repl.async_loading = self.replid == self.repl.link.full_replid;
            let n = self.dbs.len();
            self.repl.link.staged = Some((
                (0..n).map(crate::db::Db::new).collect(),
                crate::scripting::function::Functions::new(),
            ));
        } else {
            self.repl_attach_to_new_master();
            crate::log_notice!("MASTER <-> REPLICA sync: Flushing old data");
            self.empty_data(None);
            self.scripting.functions.clear();
        }
        crate::log_notice!("MASTER <-> REPLICA sync: Loading DB in memory");
        self.loading = true;
        fire_loading(self, sub::LOADING_REPL_START);
        let p = &mut self.persist;
        p.loading_start_time = unix_now();
        p.loading_total_bytes = 0;
        p.loading_loaded_bytes = 0;
        p.loading_rdb_used_mem = 0;
    }

    /// A full synchronization replaces our history: our replicas must sync again and the
    /// old backlog means nothing.
    fn repl_attach_to_new_master(&mut self) {
        if self.repl.cached {
            crate::log_notice!("Discarding previously cached master state.");
        }
        self.repl.cached = false;
        self.repl_disconnect_replicas();
        self.repl.backlog = None;
    }

    /// A snapshot transferred to disk is here: it goes to the dump file, then replaces the
    /// dataset.
    fn repl_load_transfer(&mut self, registry: &Registry, rest: Vec<u8>, eof: bool) {
        let Some((file, tmp)) = self.repl.link.tmpfile.take() else {
            return;
        };
        let written = file
            .sync_all()
            .and_then(|_| std::fs::rename(&tmp, &self.config.dbfilename));
        drop(file);
        if let Err(e) = written {
            crate::log_warning!(
                "Failed trying to rename the temp DB into {} in MASTER <-> REPLICA synchronization: {}",
                self.config.dbfilename,
                crate::rdb::persist::strerror(&e)
            );
            let _ = std::fs::remove_file(&tmp);
            self.repl_fail_handshake(registry);
            return;
        }
        self.repl_attach_to_new_master();
        if self.rdb_child_active() && !self.repl.child_to_sockets {
            self.kill_rdb_child();
        }
        // The master's functions replace ours along with the data.
        crate::log_notice!("MASTER <-> REPLICA sync: Flushing old data");
        self.empty_data(None);
        self.scripting.functions.clear();
        crate::log_notice!("MASTER <-> REPLICA sync: Loading DB in memory");
        use crate::module::events::{fire_loading, sub};
        self.loading = true;
        fire_loading(self, sub::LOADING_REPL_START);
        // Clients (answered -LOADING) and the cluster bus are served every
        // `loading-process-events-interval-bytes` of the file, as Redis does.
        let interval = stored_config(&self.config, "loading-process-events-interval-bytes")
            .parse::<u64>()
            .unwrap_or(2 * 1024 * 1024)
            .max(1);
        let p = &mut self.persist;
        p.loading_start_time = unix_now();
        p.loading_loaded_bytes = 0;
        p.loading_total_bytes = std::fs::metadata(&self.config.dbfilename).map_or(0, |m| m.len());
        self.repl.link.blocking_load = true;
        let mut next_events = interval;
        let r = std::fs::File::open(&self.config.dbfilename)
            .map_err(|e| crate::rdb::file::LoadFailure {
                msg: crate::rdb::persist::strerror(&e),
                corrupt: false,
            })
            .and_then(|f| {
                let mut input = std::io::BufReader::with_capacity(64 * 1024, f);
                crate::rdb::file::load_from(self, &mut input, false, false, &mut |srv, at| {
                    srv.persist.loading_loaded_bytes = at;
                    if at >= next_events {
                        next_events = at + interval;
                        crate::module::threads::process_events_while_blocked(srv);
                    }
                })
            });
        self.repl.link.blocking_load = false;
        self.loading = false;
        fire_loading(
            self,
            if r.is_ok() {
                sub::LOADING_ENDED
            } else {
                sub::LOADING_FAILED
            },
        );
        // `rdb-del-sync-files`: a replica that persists nothing keeps no copy of what its
        // master sent.
        let remove_file = stored_config(&self.config, "rdb-del-sync-files") == "yes"
            && self.all_persistence_disabled();
        let remove_sync_file = |srv: &Server| {
            if remove_file {
                crate::log_notice!("Removing the RDB file obtained from the master. This replica has persistence disabled");
                let _ = std::fs::remove_file(&srv.config.dbfilename);
            }
        };
        match r {
            Ok(stats) => self.persist.last_load = stats,
            Err(_) => {
                crate::log_warning!(
                    "Failed trying to load the MASTER synchronization DB from disk, check server logs."
                );
                self.empty_data(None);
                self.scripting.functions.clear();
                self.repl_fail_handshake(registry);
                remove_sync_file(self);
                return;
            }
        }
        remove_sync_file(self);
        self.repl_sync_loaded(registry, rest, eof);
    }

    /// The master's snapshot is our dataset now: take its history and start following its
    /// stream (what arrived after the snapshot is its beginning).
    fn repl_sync_loaded(&mut self, registry: &Registry, rest: Vec<u8>, eof: bool) {
        self.replid = std::mem::take(&mut self.repl.link.full_replid);
        self.repl.master_repl_offset = self.repl.link.full_offset;
        self.repl.replid2 = NULL_REPLID.to_string();
        self.repl.second_replid_offset = -1;
        self.repl_create_backlog();
        self.repl_create_master_client(registry, rest, 0);
        crate::log_notice!("MASTER <-> REPLICA sync: Finished with success");
        if eof {
            // A diskless master starts streaming once told the snapshot is loaded.
            self.repl_send_ack();
        }
    }

    /// The link becomes the master client: its commands are applied like a client's, with
    /// no replies.
    fn repl_create_master_client(&mut self, registry: &Registry, leftover: Vec<u8>, db: usize) {
        let Some(mut stream) = self.repl.link.stream.take() else {
            return;
        };
        self.repl_reset_link();
        let id = self.next_client_id();
        if registry
            .reregister(&mut stream, Token(id as usize), Interest::READABLE)
            .is_err()
        {
            self.repl.link_state = LinkState::Connect;
            return;
        }
        let addr = stream
            .peer_addr()
            .map(|a| crate::ae::fmt_addr(&a))
            .unwrap_or_default();
        let laddr = stream
            .local_addr()
            .map(|a| crate::ae::fmt_addr(&a))
            .unwrap_or_default();
        let mut c = Box::new(Client::new(
            id,
            Conn::Tcp(stream),
            addr,
            laddr,
            self.now_ms(),
        ));
        c.flags |= flags::MASTER;
        c.db = db.min(self.dbs.len().saturating_sub(1));
        c.authenticated = true;
        // The master may run anything.
        c.user = crate::acl::SUPERUSER;
        c.out.enabled = false;
        c.querybuf = leftover;
        self.repl.master_client = Some(id);
        self.repl.link_state = LinkState::Connected;
        self.repl.master_partial.clear();
        self.repl.down_since = 0;
        crate::module::events::fire_master_link(self, true);
        if !c.querybuf.is_empty() {
            self.process_input(&mut c);
        }
        self.clients.insert(id, c);
        self.mark_pending_write(id);
    }

    /// Bytes of the master stream the parser consumed: once they complete a command (which
    /// was applied), they go to our backlog and replicas, and count in our offset.
    pub fn repl_master_consumed(&mut self, bytes: &[u8], complete: bool) {
        if !complete {
            self.repl.master_partial.extend_from_slice(bytes);
            return;
        }
        if self.repl.master_partial.is_empty() {
            self.repl_proxy_stream(bytes);
        } else {
            let mut all = std::mem::take(&mut self.repl.master_partial);
            all.extend_from_slice(bytes);
            self.repl_proxy_stream(&all);
        }
    }

    fn repl_proxy_stream(&mut self, bytes: &[u8]) {
        if self.repl.backlog.is_none() {
            self.repl_create_backlog();
        }
        self.repl_feed_stream(bytes);
    }

    /// The master client is gone: keep our history for a partial resynchronization and
    /// reconnect at once.
    pub fn repl_master_freed(&mut self, registry: &Registry, id: crate::client::ClientId) {
        if self.repl.master_client != Some(id) {
            return;
        }
        self.repl.master_client = None;
        self.repl.master_partial.clear();
        if self.repl.master_host.is_none() {
            return;
        }
        crate::log_notice!("Connection with master lost.");
        crate::log_notice!("Caching the disconnected master state.");
        self.repl_link_lost_event();
        self.repl.cached = true;
        // Already set when the link was killed earlier in this event-loop pass.
        if self.repl.down_since == 0 {
            self.repl.down_since = unix_now();
        }
        self.repl.link_state = LinkState::Connect;
        crate::log_notice!(
            "Reconnecting to MASTER {}:{}",
            self.repl.master_host.as_deref().unwrap_or(""),
            self.repl.master_port
        );
        self.repl_connect(registry);
    }

    /// A key our own client gave a time to live on a writable replica.
    pub fn repl_track_replica_key_expire(&mut self, db: usize, key: &[u8]) {
        self.repl
            .replica_keys_with_expire
            .insert((db, key.to_vec()));
    }

    /// Expires the keys our clients wrote with a time to live on a writable replica (every
    /// cron tick); keys gone or without a time to live are forgotten.
    pub fn repl_expire_replica_keys(&mut self) {
        if self.repl.replica_keys_with_expire.is_empty()
            || !self.is_replica()
            || !self.active_expire_enabled
        {
            return;
        }
        let keys: Vec<(usize, Vec<u8>)> =
            self.repl.replica_keys_with_expire.iter().cloned().collect();
        for (db, key) in keys {
            if db >= self.dbs.len() || self.dbs[db].expire_of(&key).is_none() {
                self.repl.replica_keys_with_expire.remove(&(db, key));
                continue;
            }
            if self.key_is_expired(db, &key) {
                self.delete_expired_key(db, &key);
                self.repl.replica_keys_with_expire.remove(&(db, key));
            }
        }
    }

    /// REPLCONF ACK <offset> to the master.
    pub fn repl_send_ack(&mut self) {
        let Some(id) = self.repl.master_client else {
            return;
        };
        let mut bytes = Vec::new();
        encode_command(
            &[
                b"REPLCONF".to_vec(),
                b"ACK".to_vec(),
                self.repl.master_repl_offset.to_string().into_bytes(),
            ],
            &mut bytes,
        );
        if let Some(c) = self.clients.get_mut(&id) {
            c.out.raw_push(&bytes);
            self.mark_pending_write(id);
        } else if Some(id) == self.current_client {
            self.current_client_pushes.extend_from_slice(&bytes);
        }
    }

    /// The replica side of the replication cron, once a second: timeouts and ACKs.
    pub fn repl_replica_cron(&mut self) {
        if self.repl.master_host.is_none() {
            return;
        }
        let now = unix_now();
        let timeout = cfg_int(self, "repl-timeout");
        match self.repl.link_state {
            LinkState::Connecting
            | LinkState::ReceivePong
            | LinkState::ReceiveReplies
            | LinkState::ReceivePsync
                if now - self.repl.last_io > timeout =>
            {
                crate::log_warning!("Timeout connecting to the MASTER...");
                self.repl_cancel_handshake();
                self.repl.link_state = LinkState::Connect;
            }
            LinkState::Transfer if now - self.repl.last_io > timeout => {
                crate::log_warning!("Timeout receiving bulk data from MASTER... If the problem persists try to set the 'repl-timeout' parameter in redis.conf to a larger value.");
                self.repl_cancel_handshake();
                self.repl.link_state = LinkState::Connect;
            }
            LinkState::Connected => {
                let id = self.repl.master_client.expect("connected");
                let last = self
                    .clients
                    .get(&id)
                    .map_or(now, |c| c.last_interaction_ms / 1000);
                if now - last > timeout {
                    crate::log_warning!("MASTER timeout: no data nor PING received...");
                    self.close_client_async(id);
                } else {
                    self.repl_send_ack();
                }
            }
            LinkState::Connect => self.repl.connect_now = true,
            _ => {}
        }
    }

    /// Before sleeping: go on with a diskless load that stopped to serve clients, and
    /// connect to the master when due (with the event loop's registry).
    pub fn repl_link_before_sleep(&mut self, registry: &Registry) {
        if (self.repl.link.load_pending || self.repl.link.undrained)
            && self.repl.link_state == LinkState::Transfer
        {
            self.repl_transfer_pump(registry);
        }
        if self.repl.link_state == LinkState::Connect
            && self.repl.master_host.is_some()
            && self.repl.connect_now
        {
            self.repl.connect_now = false;
            self.repl_connect(registry);
        }
    }

    /// Replica-side INFO replication lines.
    pub fn repl_replica_info(&self, out: &mut String) {
        use std::fmt::Write as _;
        let now = unix_now();
        let st = self.repl.link_state;
        let last_io = match self.repl.master_client.and_then(|id| self.clients.get(&id)) {
            Some(c) => now - c.last_interaction_ms / 1000,
            None => -1,
        };
        let read_off = self.repl.master_repl_offset
            + self.repl.master_partial.len() as i64
            + self
                .repl
                .master_client
                .and_then(|id| self.clients.get(&id))
                .map_or(0, |c| c.querybuf_len() as i64);
        let (off, read_off) = if self.repl.master_client.is_some() || self.repl.cached {
            (self.repl.master_repl_offset, read_off)
        } else {
            (1, 1)
        };
        let _ = write!(
            out,
            "master_host:{}\r\nmaster_port:{}\r\nmaster_link_status:{}\r\nmaster_last_io_seconds_ago:{}\r\nmaster_sync_in_progress:{}\r\nslave_read_repl_offset:{}\r\nslave_repl_offset:{}\r\n",
            self.repl.master_host.as_deref().unwrap_or(""),
            self.repl.master_port,
            if st == LinkState::Connected { "up" } else { "down" },
            last_io,
            (st == LinkState::Transfer) as i32,
            read_off,
            off
        );
        if st == LinkState::Transfer {
            let size = self.repl.link.size.unwrap_or(0) as i64;
            let read = (self.repl.link.drained + self.repl.link.data.len()) as i64;
            let perc = if size > 0 {
                read as f64 / size as f64 * 100.0
            } else {
                0.0
            };
            let _ = write!(
                out,
                "master_sync_total_bytes:{}\r\nmaster_sync_read_bytes:{}\r\nmaster_sync_left_bytes:{}\r\nmaster_sync_perc:{:.2}\r\nmaster_sync_last_io_seconds_ago:{}\r\n",
                if self.repl.link.size.is_some() { size } else { -1 },
                read,
                if self.repl.link.size.is_some() { size - read } else { -1 - read },
                perc,
                now - self.repl.last_io
            );
        }
        if st != LinkState::Connected {
            let _ = write!(
                out,
                "master_link_down_since_seconds:{}\r\n",
                if self.repl.down_since != 0 {
                    now - self.repl.down_since
                } else {
                    -1
                }
            );
        }
        let _ = write!(
            out,
            "slave_priority:{}\r\nslave_read_only:{}\r\nreplica_announced:{}\r\n",
            cfg_int(self, "replica-priority"),
            self.config.replica_read_only as i32,
            (stored_config(&self.config, "replica-announced") == "yes") as i32
        );
    }

    /// ROLE's state word for a replica.
    pub fn repl_role_state(&self) -> &'static str {
        match self.repl.link_state {
            LinkState::None => "none",
            LinkState::Connect => "connect",
            LinkState::Connecting => "connecting",
            LinkState::ReceivePong | LinkState::ReceiveReplies | LinkState::ReceivePsync => {
                "handshake"
            }
            LinkState::Transfer => "sync",
            LinkState::Connected => "connected",
        }
    }
}
