//! Serving replicas: the replication stream (built from the propagation log, kept in the
//! backlog and sent to every attached replica), SYNC/PSYNC with partial resynchronization from
//! the backlog or a full one through a snapshot (written to disk by a forked BGSAVE, or
//! streamed by the child straight to the replica sockets when `repl-diskless-sync` is on),
//! REPLCONF, the periodic PINGs and timeouts, `min-replicas-*` and WAIT. Follows Redis 7.0's
//! replication.c in behaviour and log lines, since tests and operators watch both.

use super::backlog::Backlog;
use super::state::{encode_command, RdbFilter, ReplicaInfo, SyncState, NULL_REPLID};
use super::{target, PropEntry};
use crate::client::{flags, Client, ClientId};
use crate::rdb::file::stored_config;
use crate::server::Server;

/// An integer configuration value kept as text by the config table.
pub fn cfg_int(srv: &Server, name: &str) -> i64 {
    let text = stored_config(&srv.config, name);
    text.parse()
        .ok()
        .or_else(|| crate::util::parse_memory(text.as_bytes()).map(|v| v as i64))
        .unwrap_or(0)
}

/// `repl-backlog-size` in bytes.
pub fn backlog_size_config(cfg: &crate::config::Config) -> usize {
    let text = stored_config(cfg, "repl-backlog-size");
    text.parse()
        .ok()
        .or_else(|| crate::util::parse_memory(text.as_bytes()).map(|v| v as usize))
        .unwrap_or(1024 * 1024)
}

pub fn cfg_bool(srv: &Server, name: &str) -> bool {
    stored_config(&srv.config, name) == "yes"
}

fn unix_now() -> i64 {
    crate::util::mstime() / 1000
}

impl Server {
    /// The replication stream's part of `flush_propagation`: the commands meant for replicas,
    /// each preceded by a SELECT when its database differs from the stream's. A replica
    /// doesn't make its own stream: it passes its master's on unchanged.
    pub fn repl_feed_propagated(&mut self, batch: &[PropEntry]) {
        if self.repl.backlog.is_none() || self.is_replica() {
            return;
        }
        let mut bytes = Vec::new();
        for e in batch.iter().filter(|e| e.targets & target::REPL != 0) {
            if let Some(sel) = self.repl.seldb.select_for(e.db) {
                encode_command(&sel, &mut bytes);
            }
            encode_command(&e.argv, &mut bytes);
        }
        if !bytes.is_empty() {
            self.repl_feed_stream(&bytes);
        }
    }

    /// Appends one command on database `db` to the replication stream directly, outside the
    /// propagation log (a master's start-up load feeds the deletions of expired keys this
    /// way, as Redis' replicationFeedSlaves there).
    pub fn repl_feed_command(&mut self, db: usize, argv: &[Vec<u8>]) {
        if self.repl.backlog.is_none() {
            return;
        }
        let mut bytes = Vec::new();
        if let Some(sel) = self.repl.seldb.select_for(db) {
            encode_command(&sel, &mut bytes);
        }
        encode_command(argv, &mut bytes);
        self.repl_feed_stream(&bytes);
    }

    /// Appends bytes to the replication stream: the backlog, and every attached replica
    /// (held for those whose snapshot isn't through yet).
    pub fn repl_feed_stream(&mut self, bytes: &[u8]) {
        let Some(backlog) = self.repl.backlog.as_mut() else {
            return;
        };
        backlog.feed(bytes);
        self.repl.master_repl_offset += bytes.len() as i64;
        let mut online = Vec::new();
        for r in self.repl.replicas.iter_mut() {
            match r.state {
                SyncState::Handshake | SyncState::WaitBgsaveStart => {}
                SyncState::Online if !r.put_online_on_ack => online.push(r.id),
                _ => r.held.extend_from_slice(bytes),
            }
        }
        for id in online {
            self.repl_send_stream(id, bytes);
        }
    }

    /// Queues stream bytes for a replica.
    fn repl_send_stream(&mut self, id: ClientId, bytes: &[u8]) {
        if Some(id) == self.current_client {
            self.repl.stream_to_current += bytes.len();
        }
        self.repl.net_repl_output_bytes += bytes.len() as u64;
        self.send_to_client(id, bytes);
    }

    /// Creates the backlog (the first replica attaches, or we start following a master).
    pub fn repl_create_backlog(&mut self) {
        let size = cfg_int(self, "repl-backlog-size").max(1) as usize;
        self.repl.backlog = Some(Backlog::new(size, self.repl.master_repl_offset));
        // From now on writes must be copied into the propagation log.
        self.prop.enabled = true;
    }

    /// A changed `repl-backlog-size` applies to the backlog (checked by the cron and
    /// before answering a PSYNC).
    pub fn repl_resize_backlog(&mut self) {
        let size = backlog_size_config(&self.config).max(1);
        if let Some(b) = self.repl.backlog.as_mut() {
            if b.size() != size {
                b.resize(size);
            }
        }
    }

    /// A new history: new replication id, no second one.
    pub fn repl_change_id(&mut self) {
        self.replid = crate::util::random_hex(40);
        self.repl.replid2 = NULL_REPLID.to_string();
        self.repl.second_replid_offset = -1;
    }

    /// Keeps the current id as the second one, valid up to the current offset, and starts a
    /// new one (a replica turned master, so its replicas can still continue).
    pub fn repl_shift_id(&mut self) {
        self.repl.replid2 = std::mem::replace(&mut self.replid, crate::util::random_hex(40));
        self.repl.second_replid_offset = self.repl.master_repl_offset + 1;
        crate::log_warning!(
            "Setting secondary replication ID to {}, valid up to offset: {}. New replication ID is {}",
            self.repl.replid2,
            self.repl.second_replid_offset,
            self.replid
        );
    }

    /// How a replica is named in log lines: its announced address, else its client id.
    pub fn replica_name(&self, id: ClientId, c: Option<&Client>) -> String {
        let info = self.repl.replica(id);
        let c = c.or_else(|| self.clients.get(&id).map(|b| &**b));
        let ip = info
            .and_then(|r| r.announced_ip.clone())
            .or_else(|| c.map(|c| peer_ip(&c.addr)))
            .or_else(|| info.map(|r| r.peer_ip.clone()));
        match (ip, info.map(|r| r.listening_port).unwrap_or(0)) {
            (Some(ip), port) if port != 0 => format!("{}:{}", ip, port),
            _ => format!("client id #{}", id),
        }
    }

    /// SYNC and PSYNC.
    pub fn repl_sync_command(&mut self, c: &mut Client) {
        if c.has(flags::SLAVE) {
            return;
        }
        if self.is_replica() && self.repl.link_state != super::state::LinkState::Connected {
            c.out
                .error("-NOMASTERLINK Can't SYNC while not connected with my master");
            return;
        }
        if c.out.has_pending() {
            c.out
                .error("SYNC and PSYNC are invalid with pending output");
            return;
        }
        // A filtered snapshot is never a dump file (it would replace the real one), so it
        // can only go to a replica that takes one straight from the socket.
        if self
            .repl
            .replica(c.id)
            .is_some_and(|r| r.rdb_filter.filters() && !r.capa_eof)
        {
            c.out.error("Filtered replica requires EOF capability");
            return;
        }
        let psync = c.argv[0].eq_ignore_ascii_case(b"psync");
        let mut psync_offset = 0;
        if psync {
            match crate::util::parse_i64(&c.argv[2]) {
                Some(v) => psync_offset = v,
                None => {
                    crate::log_notice!(
                        "Replica {} asks for synchronization",
                        self.replica_name(c.id, Some(c))
                    );
                    crate::log_warning!(
                        "Replica {} asks for synchronization but with a wrong offset",
                        self.replica_name(c.id, Some(c))
                    );
                    c.out.error(crate::commands::errors::NOT_INTEGER);
                    return;
                }
            }
        }
        if !self.repl.replicas.iter().any(|r| r.id == c.id) {
            self.repl
                .replicas
                .push(ReplicaInfo::handshaking(c.id, peer_ip(&c.addr)));
        }
        // The REPLCONF capabilities arrived before: they were kept on a pending entry.
        crate::log_notice!(
            "Replica {} asks for synchronization",
            self.replica_name(c.id, Some(c))
        );
        if psync {
            let asked = String::from_utf8_lossy(&c.argv[1]).into_owned();
            if self.repl_try_partial(c, &asked, psync_offset) {
                self.repl.sync_partial_ok += 1;
                return;
            }
            if asked != "?" {
                self.repl.sync_partial_err += 1;
            }
        } else if let Some(r) = self.repl.replica_mut(c.id) {
            r.pre_psync = true;
        }
        self.repl.sync_full += 1;
        c.flags |= flags::SLAVE;
        if let Some(r) = self.repl.replica_mut(c.id) {
            r.state = SyncState::WaitBgsaveStart;
            r.wait_since = unix_now();
        }
        if self.repl.backlog.is_none() {
            self.repl_change_id();
            self.repl_create_backlog();
            crate::log_notice!(
                "Replication backlog created, my new replication IDs are '{}' and '{}'",
                self.replid,
                self.repl.replid2
            );
        }
        let capa_eof = self.repl.replica(c.id).is_some_and(|r| r.capa_eof);
        let filtered = self
            .repl
            .replica(c.id)
            .is_some_and(|r| r.rdb_filter.filters());
        if self.aof.child_active || self.persist.module_child {
            crate::log_notice!("No BGSAVE in progress, but another BG operation is active. BGSAVE for replication delayed");
        } else if self.persist.child_pid.is_some() {
            if self.repl.child_to_sockets {
                crate::log_notice!(
                    "Current BGSAVE has socket target. Waiting for next BGSAVE for SYNC"
                );
            } else if self.repl_is_bgsave_for_disk_sync() && !filtered {
                // Another replica waits for this very snapshot: share it, and the stream
                // held since it began.
                let other =
                    self.repl.replicas.iter().find(|r| {
                        r.id != c.id && r.state == SyncState::WaitBgsaveEnd && !r.diskless
                    });
                if let Some(o) = other {
                    let (held, off) = (o.held.clone(), o.psync_initial_offset);
                    self.repl_setup_full_resync(c.id, Some(c), off);
                    if let Some(r) = self.repl.replica_mut(c.id) {
                        r.held = held;
                    }
                    crate::log_notice!("Waiting for end of BGSAVE for SYNC");
                } else {
                    crate::log_notice!("Can't attach the replica to the current BGSAVE. Waiting for next BGSAVE for SYNC");
                }
            } else {
                crate::log_notice!("Can't attach the replica to the current BGSAVE. Waiting for next BGSAVE for SYNC");
            }
        } else if cfg_bool(self, "repl-diskless-sync") && capa_eof && !filtered {
            if cfg_int(self, "repl-diskless-sync-delay") != 0 {
                crate::log_notice!("Delay next BGSAVE for diskless SYNC");
            }
        } else {
            self.repl_start_bgsave(Some(c));
        }
    }

    /// A BGSAVE to disk runs and some replica waits for it.
    fn repl_is_bgsave_for_disk_sync(&self) -> bool {
        self.repl
            .replicas
            .iter()
            .any(|r| r.state == SyncState::WaitBgsaveEnd && !r.diskless)
    }

    /// PSYNC's partial path: true when the replica can continue from our backlog (it is then
    /// online, with the backlog's tail on its way).
    fn repl_try_partial(&mut self, c: &mut Client, asked: &str, offset: i64) -> bool {
        let name = self.replica_name(c.id, Some(c));
        let id_ok = asked.eq_ignore_ascii_case(&self.replid)
            || (asked.eq_ignore_ascii_case(&self.repl.replid2)
                && offset <= self.repl.second_replid_offset);
        if !id_ok {
            if asked != "?" {
                if !asked.eq_ignore_ascii_case(&self.replid)
                    && !asked.eq_ignore_ascii_case(&self.repl.replid2)
                {
                    crate::log_notice!("Partial resynchronization not accepted: Replication ID mismatch (Replica asked for '{}', my replication IDs are '{}' and '{}')", asked, self.replid, self.repl.replid2);
                } else {
                    crate::log_notice!("Partial resynchronization not accepted: Requested offset for second ID was {}, but I can reply up to {}", offset, self.repl.second_replid_offset);
                }
            } else {
                crate::log_notice!("Full resync requested by replica {}", name);
            }
            return false;
        }
        self.repl_resize_backlog();
        let covered = self.repl.backlog.as_ref().is_some_and(|b| b.covers(offset));
        if !covered {
            crate::log_notice!(
                "Unable to partial resync with replica {} for lack of backlog (Replica request was: {}).",
                name,
                offset
            );
            if offset > self.repl.master_repl_offset {
                crate::log_warning!("Warning: replica {} tried to PSYNC with an offset that is greater than the master replication offset.", name);
            }
            return false;
        }
        c.flags |= flags::SLAVE;
        let now = unix_now();
        let psync2 = {
            let r = self.repl.replica_mut(c.id).expect("registered");
            r.state = SyncState::Online;
            r.ack_time = now;
            r.put_online_on_ack = false;
            r.capa_psync2
        };
        if psync2 {
            c.out
                .raw(format!("+CONTINUE {}\r\n", self.replid).as_bytes());
        } else {
            c.out.raw(b"+CONTINUE\r\n");
        }
        let data = self
            .repl
            .backlog
            .as_ref()
            .expect("covered")
            .read_from(offset);
        c.out.raw(&data);
        crate::log_notice!(
            "Partial resynchronization request from {} accepted. Sending {} bytes of backlog starting from offset {}.",
            name,
            data.len(),
            offset
        );
        self.repl_refresh_good_replicas();
        crate::module::events::fire_replica_change(self, true);
        true
    }

    /// Marks a replica as synchronizing from a snapshot taken at `offset` and tells it so
    /// (+FULLRESYNC). The next stream command starts with a SELECT.
    fn repl_setup_full_resync(&mut self, id: ClientId, current: Option<&mut Client>, offset: i64) {
        let replid = self.replid.clone();
        let pre_psync = {
            let Some(r) = self.repl.replica_mut(id) else {
                return;
            };
            r.psync_initial_offset = offset;
            r.state = SyncState::WaitBgsaveEnd;
            r.held.clear();
            r.pre_psync
        };
        self.repl.seldb.reset();
        if pre_psync {
            return;
        }
        let line = format!("+FULLRESYNC {} {}\r\n", replid, offset);
        // Written straight to the socket, which has nothing else pending: the snapshot may be
        // written to it by a child next.
        match current {
            Some(c) => write_now(c, line.as_bytes()),
            None => {
                if let Some(c) = self.clients.get_mut(&id) {
                    write_now(c, line.as_bytes());
                }
            }
        }
    }

    /// Starts the snapshot for the replicas waiting for one (Redis'
    /// `startBgsaveForReplication`): to their sockets when diskless sync is on and they all
    /// can take it, else to disk.
    fn repl_start_bgsave(&mut self, mut current: Option<&mut Client>) {
        // One snapshot serves the waiting replicas that want the same parts of the dataset
        // as the first of them; the others wait for the next one.
        let Some(filter) = self
            .repl
            .replicas
            .iter()
            .find(|r| r.state == SyncState::WaitBgsaveStart)
            .map(|r| r.rdb_filter)
        else {
            return;
        };
        let group =
            |r: &&ReplicaInfo| r.state == SyncState::WaitBgsaveStart && r.rdb_filter == filter;
        let waiting: Vec<ClientId> = self
            .repl
            .replicas
            .iter()
            .filter(group)
            .map(|r| r.id)
            .collect();
        let all_eof = self.repl.replicas.iter().filter(group).all(|r| r.capa_eof);
        // A filtered snapshot never goes through the dump file (SYNC made sure it can't have
        // to: its replica takes EOF-marked transfers).
        let to_sockets = (cfg_bool(self, "repl-diskless-sync") || filter.filters()) && all_eof;
        crate::log_notice!(
            "Starting BGSAVE for SYNC with target: {}",
            if to_sockets {
                "replicas sockets"
            } else {
                "disk"
            }
        );
        let offset = self.repl.master_repl_offset;
        let ok = if to_sockets {
            self.repl_save_to_sockets(&waiting, current.as_deref_mut(), filter)
        } else {
            let ok = self.rdb_save_background();
            if ok {
                // Only while the option is on: switched on later, it must not delete a file
                // made before.
                if cfg_bool(self, "rdb-del-sync-files") {
                    self.repl.rdb_generated_by_replication = true;
                }
                for id in &waiting {
                    let cur = current.as_deref_mut().filter(|c| c.id == *id);
                    self.repl_setup_full_resync(*id, cur, offset);
                }
            }
            ok
        };
        if !ok {
            crate::log_warning!("BGSAVE for replication failed");
            for id in waiting {
                let msg = b"-ERR BGSAVE failed, maybe there is another child process running, or the fork failed\r\n";
                match current.as_deref_mut().filter(|c| c.id == id) {
                    Some(c) => {
                        c.out.raw(msg);
                        c.flags |= flags::CLOSE_AFTER_REPLY;
                    }
                    None => {
                        self.send_to_client(id, msg);
                        if let Some(c) = self.clients.get_mut(&id) {
                            c.flags |= flags::CLOSE_AFTER_REPLY;
                        }
                    }
                }
                self.repl.replicas.retain(|r| r.id != id);
            }
        }
    }

    /// Forks a child that writes the snapshot to the sockets of the waiting replicas,
    /// framed by an EOF mark (`$EOF:<mark>\r\n` ... `<mark>`), since its length is unknown
    /// in advance.
    fn repl_save_to_sockets(
        &mut self,
        ids: &[ClientId],
        current: Option<&mut Client>,
        filter: RdbFilter,
    ) -> bool {
        let offset = self.repl.master_repl_offset;
        let mut current = current;
        let mut fds = Vec::new();
        for id in ids {
            let cur = current.as_deref_mut().filter(|c| c.id == *id);
            let fd = match &cur {
                Some(c) => c.conn.fd(),
                None => self.clients.get(id).map_or(-1, |c| c.conn.fd()),
            };
            self.repl_setup_full_resync(*id, cur, offset);
            if let Some(r) = self.repl.replica_mut(*id) {
                r.diskless = true;
            }
            if fd >= 0 {
                fds.push(fd);
            }
        }
        let timeout_ms = cfg_int(self, "repl-timeout").max(1) * 1000;
        let pid = match self.fork_child(crate::server::fork::ChildKind::Rdb) {
            Ok(crate::server::fork::Forked::Child { info_fd }) => {
                // The child writes the snapshot of its copy of the dataset to the inherited
                // sockets and leaves; its progress reports also tell it when we are gone
                // (killed), so that it stops streaming to replicas nobody will serve.
                let code = socket_child(self, fds, timeout_ms, info_fd, filter);
                // SAFETY: leaves the child without the parent's exit handlers.
                unsafe { libc::_exit(code) }
            }
            Ok(crate::server::fork::Forked::Parent { pid }) => pid,
            Err(e) => {
                for id in ids {
                    if let Some(r) = self.repl.replica_mut(*id) {
                        r.state = SyncState::WaitBgsaveStart;
                        r.diskless = false;
                    }
                }
                crate::log_warning!(
                    "Can't save in background: fork: {}",
                    crate::rdb::persist::strerror(&e)
                );
                return false;
            }
        };
        crate::log_notice!("Background RDB transfer started by pid {}", pid);
        self.persist.save_time_start = unix_now();
        self.repl.child_to_sockets = true;
        true
    }

    /// The snapshot child ended (called from the persistence reaping): replicas waiting for
    /// it get the file and their held stream, or come online with a diskless transfer; those
    /// still waiting for a snapshot get the next one.
    pub fn repl_bgsave_done(&mut self, ok: bool, to_sockets: bool) {
        self.repl.child_to_sockets = false;
        let ending: Vec<ClientId> = self
            .repl
            .replicas
            .iter()
            .filter(|r| r.state == SyncState::WaitBgsaveEnd && r.diskless == to_sockets)
            .map(|r| r.id)
            .collect();
        if !ending.is_empty() && !ok {
            crate::log_warning!("SYNC failed. BGSAVE child returned an error");
        }
        let file = if ok && !to_sockets && !ending.is_empty() {
            match std::fs::read(&self.config.dbfilename) {
                Ok(f) => Some(f),
                Err(e) => {
                    crate::log_warning!(
                        "SYNC failed. Can't open/stat DB after BGSAVE: {}",
                        crate::rdb::persist::strerror(&e)
                    );
                    None
                }
            }
        } else {
            None
        };
        for id in ending {
            if !ok || (!to_sockets && file.is_none()) {
                self.repl.replicas.retain(|r| r.id != id);
                self.close_client_async(id);
                continue;
            }
            let name = self.replica_name(id, None);
            if to_sockets {
                crate::log_notice!("Streamed RDB transfer with replica {} succeeded (socket). Waiting for REPLCONF ACK from slave to enable streaming", name);
                let acked = match self.repl.replica_mut(id) {
                    Some(r) => {
                        r.state = SyncState::Online;
                        r.put_online_on_ack = true;
                        r.ack_time = unix_now();
                        r.acked_during_transfer
                    }
                    None => continue,
                };
                // Online from now on (it streams once it acks the load), as 7.0 announces it.
                self.repl_refresh_good_replicas();
                crate::module::events::fire_replica_change(self, true);
                if acked {
                    self.repl_put_online(id);
                }
            } else {
                let file = file.as_ref().expect("read");
                let held = match self.repl.replica_mut(id) {
                    Some(r) => std::mem::take(&mut r.held),
                    None => continue,
                };
                let mut out = format!("${}\r\n", file.len()).into_bytes();
                out.extend_from_slice(file);
                out.extend_from_slice(&held);
                self.send_to_client(id, &out);
                self.repl_put_online(id);
            }
        }
        // Replicas that arrived meanwhile need a snapshot of their own.
        if self.persist.child_pid.is_none() {
            let delay_diskless = cfg_bool(self, "repl-diskless-sync");
            let waiting = self
                .repl
                .replicas
                .iter()
                .any(|r| r.state == SyncState::WaitBgsaveStart);
            if waiting && !delay_diskless {
                self.repl_start_bgsave(None);
            }
        }
    }

    /// A replica is through its snapshot: it streams from now on.
    fn repl_put_online(&mut self, id: ClientId) {
        let (held, was_online) = {
            let Some(r) = self.repl.replica_mut(id) else {
                return;
            };
            let was_online = r.state == SyncState::Online;
            r.state = SyncState::Online;
            r.put_online_on_ack = false;
            r.ack_time = unix_now();
            (std::mem::take(&mut r.held), was_online)
        };
        if !held.is_empty() {
            self.repl_send_stream(id, &held);
        }
        self.repl_refresh_good_replicas();
        // A diskless replica was announced online when its transfer ended.
        if !was_online {
            crate::module::events::fire_replica_change(self, true);
        }
        crate::log_notice!(
            "Synchronization with replica {} succeeded",
            self.replica_name(id, None)
        );
    }

    /// A replica's command produced a reply: logged, and the replica dropped.
    pub fn repl_replica_replied(&mut self, c: &mut Client) {
        let name = c
            .last_cmd
            .map(|id| self.commands.cmds[id].fullname.clone())
            .unwrap_or_else(|| "<unknown>".into());
        crate::log_warning!(
            "Replica generated a reply to command '{}', disconnecting it: {}",
            name,
            self.client_info_string(c)
        );
        c.out.clear();
        c.out.enabled = false;
        if !c.has(flags::CLOSE_ASAP) {
            c.flags |= flags::CLOSE_ASAP;
            self.clients_to_close.push(c.id);
        }
    }

    /// Errors sent on a replication link (to a replica, or from a replica to its master)
    /// are logged: they mean the two datasets may have diverged.
    pub fn repl_log_link_errors(&mut self, c: &Client) {
        let (from, to) = if c.has(flags::MASTER) {
            ("replica", "master")
        } else {
            ("master", "replica")
        };
        let name = c
            .last_cmd
            .map(|id| self.commands.cmds[id].fullname.clone())
            .unwrap_or_else(|| "<unknown>".into());
        for e in &c.out.errors {
            let text = String::from_utf8_lossy(&e[..e.len().min(4096)]);
            crate::log_warning!(
                "== CRITICAL == This {} is sending an error to its {}: '{}' after processing the command '{}'",
                from,
                to,
                text,
                name
            );
            self.stats.unexpected_error_replies += 1;
        }
    }

    /// REPLCONF option value ...
    pub fn repl_replconf_command(&mut self, c: &mut Client) {
        if c.argv.len().is_multiple_of(2) {
            c.out.error(crate::commands::errors::SYNTAX);
            return;
        }
        // Options given before SYNC/PSYNC are kept on an entry that SYNC completes.
        let mut i = 1;
        while i < c.argv.len() {
            let opt = c.argv[i].to_ascii_lowercase();
            let val = c.argv[i + 1].clone();
            match &opt[..] {
                b"listening-port" => {
                    let Some(port) = crate::util::parse_i64(&val) else {
                        c.out.error(crate::commands::errors::NOT_INTEGER);
                        return;
                    };
                    self.repl_pending_entry(c).listening_port = port;
                }
                b"ip-address" => {
                    if val.len() >= 46 + 256 {
                        c.out.error(&format!("REPLCONF ip-address provided by replica instance is too long: {} bytes", val.len()));
                        return;
                    }
                    self.repl_pending_entry(c).announced_ip =
                        Some(String::from_utf8_lossy(&val).into_owned());
                }
                b"capa" => {
                    let e = self.repl_pending_entry(c);
                    if val.eq_ignore_ascii_case(b"eof") {
                        e.capa_eof = true;
                    } else if val.eq_ignore_ascii_case(b"psync2") {
                        e.capa_psync2 = true;
                    }
                }
                b"ack" => {
                    if !c.has(flags::SLAVE) {
                        return;
                    }
                    let Some(off) = crate::util::parse_i64(&val) else {
                        return;
                    };
                    self.repl_got_ack(c.id, off);
                    return;
                }
                b"getack" => {
                    if self.repl.master_client == Some(c.id) {
                        let ack = vec![
                            b"REPLCONF".to_vec(),
                            b"ACK".to_vec(),
                            self.repl.master_repl_offset.to_string().into_bytes(),
                        ];
                        let mut bytes = Vec::new();
                        encode_command(&ack, &mut bytes);
                        c.out.raw_push(&bytes);
                    }
                    return;
                }
                b"rdb-only" => {
                    if crate::util::parse_i64(&val).is_none_or(|v| v != 0 && v != 1) {
                        c.out.error(crate::commands::errors::NOT_INTEGER);
                        return;
                    }
                }
                b"rdb-filter-only" => {
                    // Include filters: everything is left out but what they name.
                    let Some(names) = crate::util::split_args(&val) else {
                        c.out.error("Missing rdb-filter-only values");
                        return;
                    };
                    let mut filter = RdbFilter {
                        exclude_data: true,
                        exclude_functions: true,
                    };
                    for name in &names {
                        if name.eq_ignore_ascii_case(b"functions") {
                            filter.exclude_functions = false;
                        } else {
                            c.out.error(&format!(
                                "Unsupported rdb-filter-only option: {}",
                                String::from_utf8_lossy(name)
                            ));
                            return;
                        }
                    }
                    self.repl_pending_entry(c).rdb_filter = filter;
                }
                _ => {
                    c.out.error(&format!(
                        "Unrecognized REPLCONF option: {}",
                        String::from_utf8_lossy(&c.argv[i])
                    ));
                    return;
                }
            }
            i += 2;
        }
        c.out.ok();
    }

    /// The entry of a client that announces itself as a replica (created on its first
    /// REPLCONF, completed by SYNC/PSYNC).
    fn repl_pending_entry(&mut self, c: &Client) -> &mut ReplicaInfo {
        let id = c.id;
        if !self.repl.replicas.iter().any(|r| r.id == id) {
            self.repl.pending_replconf_push(id);
            self.repl.replica_mut(id).expect("just added").peer_ip = peer_ip(&c.addr);
        }
        self.repl.replica_mut(id).expect("just added")
    }

    fn repl_got_ack(&mut self, id: ClientId, off: i64) {
        let put_online = {
            let Some(r) = self.repl.replica_mut(id) else {
                return;
            };
            if off > r.ack_off {
                r.ack_off = off;
            }
            r.ack_time = unix_now();
            if r.state == SyncState::WaitBgsaveEnd && r.diskless {
                r.acked_during_transfer = true;
            }
            r.state == SyncState::Online && r.put_online_on_ack
        };
        if put_online {
            self.repl_put_online(id);
        }
        if !self.repl.waiting.is_empty() {
            self.repl_serve_waiting();
        }
    }

    /// A replica's connection is gone.
    pub fn repl_replica_freed(&mut self, id: ClientId) {
        let Some(pos) = self.repl.replicas.iter().position(|r| r.id == id) else {
            return;
        };
        let r = self.repl.replicas.remove(pos);
        // A disk snapshot nobody waits for any more is useless unless save points want it.
        if r.state == SyncState::WaitBgsaveEnd
            && !r.diskless
            && !self.repl.child_to_sockets
            && self.rdb_child_active()
            && self.config.save_params.is_empty()
            && !self
                .repl
                .replicas
                .iter()
                .any(|o| o.state == SyncState::WaitBgsaveEnd)
        {
            self.kill_rdb_child();
        }
        if self.repl.child_to_sockets
            && r.diskless
            && r.state == SyncState::WaitBgsaveEnd
            && !self
                .repl
                .replicas
                .iter()
                .any(|o| o.diskless && o.state == SyncState::WaitBgsaveEnd)
        {
            crate::log_warning!("Diskless rdb transfer, last replica dropped, killing fork child.");
            self.kill_rdb_child();
        }
        if self.repl.replicas.is_empty() {
            self.repl.no_replicas_since = unix_now();
        }
        self.repl_refresh_good_replicas();
        if r.state == SyncState::Online {
            crate::module::events::fire_replica_change(self, false);
        }
    }

    /// Drops every replica (they reconnect and continue with our new history).
    pub fn repl_disconnect_replicas(&mut self) {
        let ids: Vec<ClientId> = self
            .clients
            .values()
            .filter(|c| c.has(flags::SLAVE) && !c.has(flags::MONITOR))
            .map(|c| c.id)
            .collect();
        for id in ids {
            self.close_client_async(id);
        }
    }

    /// Counts the replicas whose acknowledgement is recent enough for `min-replicas-max-lag`.
    pub fn repl_refresh_good_replicas(&mut self) {
        self.repl.good_replicas = self.repl_count_good_replicas();
    }

    pub fn repl_count_good_replicas(&self) -> i64 {
        let max_lag = self.config.min_replicas_max_lag;
        let now = unix_now();
        self.repl
            .replicas
            .iter()
            .filter(|r| r.state == SyncState::Online && now - r.ack_time <= max_lag)
            .count() as i64
    }

    /// The primary side of the replication cron, once a second: PINGs, keepalive newlines
    /// to replicas waiting for a snapshot, replica timeouts, the backlog's time to live.
    pub fn repl_primary_cron(&mut self) {
        let now = unix_now();
        let period = cfg_int(self, "repl-ping-replica-period").max(1) as u64;
        if !self.repl.replicas.is_empty()
            && self.repl.cron_loops.is_multiple_of(period)
            && !self.is_replica()
            && self.pause == crate::server::PauseKind::None
        {
            let mut bytes = Vec::new();
            encode_command(&[b"PING".to_vec()], &mut bytes);
            self.repl_feed_stream(&bytes);
        }
        // Replicas waiting for a snapshot get a newline now and then, so they don't time out.
        let idle: Vec<ClientId> = self
            .repl
            .replicas
            .iter()
            .filter(|r| {
                r.state == SyncState::WaitBgsaveStart
                    || (r.state == SyncState::WaitBgsaveEnd && !r.diskless)
            })
            .map(|r| r.id)
            .collect();
        for id in idle {
            if let Some(c) = self.clients.get_mut(&id) {
                if c.has(flags::SLAVE) {
                    write_now(c, b"\n");
                }
            }
        }
        let timeout = cfg_int(self, "repl-timeout");
        let timed_out: Vec<ClientId> = self
            .repl
            .replicas
            .iter()
            .filter(|r| r.state == SyncState::Online && !r.pre_psync && now - r.ack_time > timeout)
            .map(|r| r.id)
            .collect();
        for id in timed_out {
            crate::log_warning!(
                "Disconnecting timedout replica (streaming sync): {}",
                self.replica_name(id, None)
            );
            self.close_client_async(id);
        }
        let ttl = cfg_int(self, "repl-backlog-ttl");
        if !self.is_replica()
            && self.repl.replicas.is_empty()
            && ttl > 0
            && self.repl.backlog.is_some()
            && now - self.repl.no_replicas_since > ttl
        {
            self.repl_change_id();
            self.repl.backlog = None;
            crate::log_notice!(
                "Replication backlog freed after {} seconds without connected replicas.",
                ttl
            );
        }
        self.repl_refresh_good_replicas();
    }

    /// The replication part of the server cron: a pending diskless snapshot may start on
    /// every tick; the rest runs once a second, as Redis' `replicationCron`.
    pub fn replication_cron(&mut self) {
        self.repl_start_pending_fork();
        self.repl_expire_replica_keys();
        self.repl_resize_backlog();
        if self.cronloops.is_multiple_of(self.hz.max(1) as u64) {
            self.repl_replica_cron();
            self.repl_primary_cron();
            self.repl_remove_sync_rdb();
            self.repl.cron_loops += 1;
        }
    }

    /// `rdb-del-sync-files`: a server that persists nothing doesn't keep the dump file it
    /// wrote only to feed replicas, once no replica waits for it.
    fn repl_remove_sync_rdb(&mut self) {
        if !cfg_bool(self, "rdb-del-sync-files") {
            self.repl.rdb_generated_by_replication = false;
            return;
        }
        if !self.repl.rdb_generated_by_replication || !self.all_persistence_disabled() {
            return;
        }
        let in_use = self.repl.replicas.iter().any(|r| {
            matches!(
                r.state,
                SyncState::WaitBgsaveStart | SyncState::WaitBgsaveEnd | SyncState::SendBulk
            )
        });
        if in_use || std::fs::symlink_metadata(&self.config.dbfilename).is_err() {
            return;
        }
        self.repl.rdb_generated_by_replication = false;
        crate::log_notice!(
            "Removing the RDB file used to feed replicas in a persistence-less instance"
        );
        let _ = std::fs::remove_file(&self.config.dbfilename);
    }

    /// Starts the diskless snapshot once the replicas waiting for it waited
    /// `repl-diskless-sync-delay` or are `repl-diskless-sync-max-replicas` (every cron tick).
    pub fn repl_start_pending_fork(&mut self) {
        if self.persist.child_pid.is_some() {
            return;
        }
        let now = unix_now();
        let (mut count, mut max_idle) = (0i64, 0i64);
        for r in &self.repl.replicas {
            if r.state == SyncState::WaitBgsaveStart {
                count += 1;
                max_idle = max_idle.max(now - r.wait_since);
            }
        }
        if count == 0 {
            return;
        }
        let delay = cfg_int(self, "repl-diskless-sync-delay");
        let max = cfg_int(self, "repl-diskless-sync-max-replicas");
        if max_idle >= delay || (max > 0 && count >= max) {
            self.repl_start_bgsave(None);
        }
    }

    /// WAIT numreplicas timeout.
    pub fn repl_wait_command(&mut self, c: &mut Client) {
        if self.is_replica() {
            c.out.error("WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated.");
            return;
        }
        let Some(numreplicas) = crate::util::parse_i64(&c.argv[1]) else {
            c.out.error(crate::commands::errors::NOT_INTEGER);
            return;
        };
        let Some(timeout) = crate::commands::arg_timeout_ms(c, 2) else {
            return;
        };
        let offset = self.repl.master_repl_offset;
        let acked = self.repl_replicas_acked(offset);
        if acked >= numreplicas || c.has(flags::DENY_BLOCKING) {
            c.out.int(acked);
            return;
        }
        let deadline = if timeout > 0 {
            self.now_ms() + timeout
        } else {
            0
        };
        self.repl
            .waiting
            .push((c.id, offset, numreplicas, deadline));
        c.flags |= flags::BLOCKED;
        self.repl.get_ack = true;
    }

    fn repl_replicas_acked(&self, offset: i64) -> i64 {
        self.repl
            .replicas
            .iter()
            .filter(|r| r.state == SyncState::Online && r.ack_off >= offset)
            .count() as i64
    }

    /// Answers the WAITs that got their acknowledgements or timed out.
    pub fn repl_serve_waiting(&mut self) {
        if self.repl.waiting.is_empty() {
            return;
        }
        let now = crate::util::mstime();
        let waiting = std::mem::take(&mut self.repl.waiting);
        for (id, off, num, deadline) in waiting {
            let acked = self.repl_replicas_acked(off);
            if acked < num && (deadline == 0 || now < deadline) {
                self.repl.waiting.push((id, off, num, deadline));
                continue;
            }
            let Some(mut c) = self.clients.remove(&id) else {
                continue;
            };
            c.out.int(acked);
            self.finish_unblock_external(&mut c);
            self.clients.insert(id, c);
            self.mark_pending_write(id);
        }
    }

    /// Before sleeping: a pending WAIT asks every replica for an acknowledgement.
    pub fn repl_before_sleep(&mut self) {
        // A diskless transfer's end is noticed at once (replicas wait for it to stream).
        if self.repl.child_to_sockets {
            self.check_child_done();
        }
        if self.repl.get_ack && !self.is_replica() && self.repl.backlog.is_some() {
            self.repl.get_ack = false;
            self.repl_send_getack();
        }
        self.repl_serve_waiting();
    }

    /// Asks every replica to acknowledge its offset (REPLCONF GETACK *, through the stream).
    pub fn repl_send_getack(&mut self) {
        let mut bytes = Vec::new();
        encode_command(
            &[b"REPLCONF".to_vec(), b"GETACK".to_vec(), b"*".to_vec()],
            &mut bytes,
        );
        self.repl_feed_stream(&bytes);
    }

    /// INFO replication for the replicas attached to us.
    pub fn repl_replica_info_lines(&self, out: &mut String) {
        use std::fmt::Write;
        let now = unix_now();
        let mut n = 0;
        for r in &self.repl.replicas {
            if r.state == SyncState::Handshake
                || (!self.clients.get(&r.id).is_some_and(|c| c.has(flags::SLAVE))
                    && Some(r.id) != self.current_client)
            {
                continue;
            }
            let ip = r.announced_ip.clone().unwrap_or_else(|| {
                self.clients
                    .get(&r.id)
                    .map(|c| peer_ip(&c.addr))
                    .unwrap_or_default()
            });
            let lag = if r.state == SyncState::Online {
                now - r.ack_time
            } else {
                0
            };
            let _ = write!(
                out,
                "slave{}:ip={},port={},state={},offset={},lag={}\r\n",
                n,
                ip,
                r.listening_port,
                r.state.name(),
                r.ack_off,
                lag
            );
            n += 1;
        }
    }

    /// Stream held for replicas whose snapshot isn't through.
    pub fn repl_held_bytes(&self) -> usize {
        self.repl.replicas.iter().map(|r| r.held.capacity()).sum()
    }

    /// Memory of the replication stream queued for replicas (their output buffers and held
    /// streams): not counted for `maxmemory`, so that a slow replica doesn't evict keys.
    pub fn repl_mem_not_counted(&self) -> usize {
        let outputs: usize = self
            .repl
            .replicas
            .iter()
            .filter_map(|r| self.clients.get(&r.id))
            .filter(|c| c.has(flags::SLAVE) && !c.has(flags::MONITOR))
            .map(|c| c.output_memory())
            .sum();
        outputs + self.repl_held_bytes()
    }

    /// Attached replicas (clients flagged as replicas).
    pub fn repl_connected_replicas(&self) -> usize {
        self.repl
            .replicas
            .iter()
            .filter(|r| r.state != SyncState::Handshake)
            .filter(|r| {
                self.clients.get(&r.id).is_some_and(|c| c.has(flags::SLAVE))
                    || (Some(r.id) == self.current_client)
            })
            .count()
    }
}

impl ReplicaInfo {
    /// A replica that has just introduced itself (REPLCONF or SYNC/PSYNC): nothing agreed yet.
    fn handshaking(id: ClientId, peer_ip: String) -> ReplicaInfo {
        ReplicaInfo {
            id,
            state: SyncState::Handshake,
            listening_port: 0,
            announced_ip: None,
            peer_ip,
            capa_eof: false,
            capa_psync2: false,
            ack_off: 0,
            ack_time: unix_now(),
            psync_initial_offset: 0,
            held: Vec::new(),
            diskless: false,
            put_online_on_ack: false,
            acked_during_transfer: false,
            pre_psync: false,
            wait_since: unix_now(),
            rdb_filter: RdbFilter::default(),
        }
    }
}

impl super::state::ReplState {
    fn pending_replconf_push(&mut self, id: ClientId) {
        self.replicas
            .push(ReplicaInfo::handshaking(id, String::new()));
    }
}

/// The IP part of `ip:port`.
pub fn peer_ip(addr: &str) -> String {
    addr.rsplit_once(':').map_or(addr, |(ip, _)| ip).to_string()
}

/// Writes bytes to a client's socket at once (it has no other output pending), falling back
/// to its output buffer for what doesn't fit.
fn write_now(c: &mut Client, data: &[u8]) {
    if c.out.has_pending() {
        c.out.raw_push(data);
        return;
    }
    let fd = c.conn.fd();
    let mut done = 0;
    while fd >= 0 && done < data.len() {
        // SAFETY: writes from our buffer to the client's socket.
        let n = unsafe { libc::write(fd, data[done..].as_ptr().cast(), data.len() - done) };
        if n <= 0 {
            break;
        }
        done += n as usize;
    }
    if done < data.len() {
        c.out.raw_push(&data[done..]);
    }
}

/// The diskless snapshot child: writes `$EOF:<mark>\r\n`, the snapshot and the mark to every
/// replica socket, waiting (up to `timeout_ms` at a time) on sockets that are full and
/// dropping those that fail. Exit code 0 when at least one replica got it all.
fn socket_child(
    srv: &mut Server,
    fds: Vec<i32>,
    timeout_ms: i64,
    info_fd: i32,
    filter: RdbFilter,
) -> i32 {
    let _ = srv.set_oom_score_adj(Some(2));
    // Module listeners hear about the save from the child, as for a BGSAVE.
    use crate::module::events::{fire_persistence, sub};
    fire_persistence(srv, sub::PERSISTENCE_RDB_START);
    let mut info = crate::server::fork::ChildInfoSender::new(info_fd, "RDB");
    let code = stream_snapshot(srv, fds, timeout_ms, &mut info, filter);
    if code == 0 {
        info.finish();
    }
    fire_persistence(
        srv,
        if code == 0 {
            sub::PERSISTENCE_ENDED
        } else {
            sub::PERSISTENCE_FAILED
        },
    );
    code
}

/// The diskless child's transfer: `$EOF:<mark>`, the snapshot, the mark. 0 on success.
fn stream_snapshot(
    srv: &mut Server,
    fds: Vec<i32>,
    timeout_ms: i64,
    info: &mut crate::server::fork::ChildInfoSender,
    filter: RdbFilter,
) -> i32 {
    let mark = crate::util::random_hex(40).into_bytes();
    let mut out = FanOut {
        fds: fds.into_iter().map(|fd| (fd, true)).collect(),
        timeout_ms,
    };
    use std::io::Write;
    let mut head = b"$EOF:".to_vec();
    head.extend_from_slice(&mark);
    head.extend_from_slice(b"\r\n");
    if out.write_all(&head).is_err() {
        return 1;
    }
    let w = std::io::BufWriter::with_capacity(64 * 1024, out);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let parts = crate::rdb::file::SaveParts {
            data: !filter.exclude_data,
            functions: !filter.exclude_functions,
        };
        crate::rdb::file::save_parts(srv, w, &mut |keys| info.progress(keys), parts)
    }));
    let mut w = match result {
        Ok(Ok(w)) => w,
        _ => return 1,
    };
    if w.flush().is_err() {
        return 1;
    }
    let Ok(mut out) = w.into_inner() else {
        return 1;
    };
    if out.write_all(&mark).is_err() {
        return 1;
    }
    0
}

/// Writes everything to several non-blocking sockets, dropping the ones that fail.
struct FanOut {
    fds: Vec<(i32, bool)>,
    timeout_ms: i64,
}

impl std::io::Write for FanOut {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        for (fd, alive) in self.fds.iter_mut().filter(|(_, a)| *a) {
            if !write_all_fd(*fd, buf, self.timeout_ms) {
                *alive = false;
                // SAFETY: shuts down our copy of a socket that failed, so its peer notices.
                unsafe {
                    libc::shutdown(*fd, libc::SHUT_RDWR);
                }
            }
        }
        if self.fds.iter().any(|(_, a)| *a) {
            Ok(buf.len())
        } else {
            Err(std::io::Error::from(std::io::ErrorKind::BrokenPipe))
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn write_all_fd(fd: i32, mut buf: &[u8], timeout_ms: i64) -> bool {
    while !buf.is_empty() {
        // SAFETY: writes from our buffer to an inherited socket.
        let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
        if n > 0 {
            buf = &buf[n as usize..];
            continue;
        }
        let err = std::io::Error::last_os_error();
        if n < 0 && err.kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        if n < 0 && err.kind() == std::io::ErrorKind::WouldBlock {
            let mut p = libc::pollfd {
                fd,
                events: libc::POLLOUT,
                revents: 0,
            };
            // SAFETY: polls one descriptor we own a copy of.
            let r = unsafe { libc::poll(&mut p, 1, timeout_ms as i32) };
            if r <= 0 || p.revents & (libc::POLLERR | libc::POLLHUP) != 0 {
                return false;
            }
            continue;
        }
        return false;
    }
    true
}
