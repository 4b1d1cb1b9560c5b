//! Replicas in a cluster: CLUSTER REPLICATE (this node follows a master through ordinary
//! replication), and failover — a replica of a failed master wins the votes of a majority of
//! masters and takes its slots (automatic), or takes over on request (CLUSTER FAILOVER, with
//! the master pausing writes until the replica caught up; FORCE; TAKEOVER). As Redis 7.0's
//! clusterHandleSlaveFailover and friends.

use super::msg::{self, msg_type as mt, node_flags as nf, Body, Message};
use super::{todo, ClusterState, NodeId, NO_NODE};
use crate::server::{PauseKind, PausePurpose, Server};

/// How long a manual failover may take (ms); the master pauses writes twice as long.
pub const MF_TIMEOUT: i64 = 5000;

/// Why a replica is not failing over (logged once per reason and period).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum CantFailover {
    #[default]
    None,
    DataAge,
    WaitingDelay,
    Expired,
    WaitingVotes,
}

#[derive(Debug)]
pub struct FailoverState {
    /// When the current (or next) election starts; when the last one started.
    pub auth_time: i64,
    pub auth_count: usize,
    pub auth_sent: bool,
    pub auth_rank: usize,
    pub auth_epoch: u64,
    pub cant_reason: CantFailover,
    pub last_cant_log: i64,
    /// Manual failover: its deadline (0 = none), the replica doing it (on the master), the
    /// master's offset once paused (on the replica, -1 until known), and whether the replica
    /// may start asking for votes.
    pub mf_end: i64,
    pub mf_replica: NodeId,
    pub mf_master_offset: i64,
    pub mf_can_start: bool,
}

impl Default for FailoverState {
    fn default() -> Self {
        FailoverState {
            auth_time: 0,
            auth_count: 0,
            auth_sent: false,
            auth_rank: 0,
            auth_epoch: 0,
            cant_reason: CantFailover::None,
            last_cant_log: 0,
            mf_end: 0,
            mf_replica: NO_NODE,
            mf_master_offset: -1,
            mf_can_start: false,
        }
    }
}

impl ClusterState {
    /// Makes this node a replica of `master` in the cluster's view; the caller points
    /// replication at it. Returns its address.
    pub fn set_myself_replica_of(&mut self, master: NodeId) -> (String, u16) {
        let me = self.myself;
        if self.me().is_master() {
            let n = self.node_mut(me);
            n.flags &= !(nf::MASTER | nf::MIGRATE_TO);
            n.flags |= nf::SLAVE;
            for j in 0..msg::SLOTS {
                self.migrating_to[j] = NO_NODE;
                self.importing_from[j] = NO_NODE;
            }
        }
        self.set_replica_of(me, master);
        let m = self.node(master);
        (m.ip.clone(), m.port)
    }

    /// Our rank among our master's replicas: how many have processed more of its stream.
    fn replica_rank(&self, my_offset: u64) -> usize {
        let master = self.me().replicaof;
        if master == NO_NODE {
            return 0;
        }
        self.node(master)
            .replicas
            .iter()
            .filter(|&&r| {
                let n = self.node(r);
                r != self.myself && n.flags & nf::NOFAILOVER == 0 && n.repl_offset > my_offset
            })
            .count()
    }

    fn log_cant_failover(&mut self, reason: CantFailover, now: i64) {
        let f = &mut self.failover;
        if reason == f.cant_reason && now - f.last_cant_log < 300_000 {
            return;
        }
        f.cant_reason = reason;
        // Right after the master failed, waiting is expected: nothing worth a line yet.
        let master = self.me().replicaof;
        if master != NO_NODE {
            let m = self.node(master);
            if m.failed() && now - m.fail_time < self.node_timeout() + 5000 {
                return;
            }
        }
        let msg = match reason {
            CantFailover::DataAge => "Disconnected from master for longer than allowed. Please check the 'cluster-replica-validity-factor' configuration option.",
            CantFailover::WaitingDelay => "Waiting the delay before I can start a new failover.",
            CantFailover::Expired => "Failover attempt expired.",
            CantFailover::WaitingVotes => "Waiting for votes, but majority still not reached.",
            CantFailover::None => "Unknown reason code.",
        };
        self.failover.last_cant_log = now;
        crate::log_notice!("Currently unable to failover: {}", msg);
    }

    /// Asks every master for its vote (FORCEACK during a manual failover: the master is up).
    fn request_failover_auth(&mut self, offset: u64) {
        let mut header = self.header(mt::FAILOVER_AUTH_REQUEST, offset);
        if self.failover.mf_end != 0 {
            header.mflags[0] |= msg::mflags0::FORCEACK;
        }
        self.broadcast(&Message {
            header,
            body: Body::Empty,
        });
    }

    /// A master's answer to a replica asking for its vote (Redis'
    /// clusterSendFailoverAuthIfNeeded): one vote per epoch, only for a replica of a failed
    /// master (or any, with FORCEACK), not twice for the same master within two node
    /// timeouts, and not when the replica claims slots we know have a newer owner.
    pub fn vote_if_needed(&mut self, node: NodeId, req: &msg::Header, now: i64) {
        let me = self.me();
        if me.is_replica() || me.numslots == 0 {
            return;
        }
        let name = self.node(node).name_str().to_string();
        if req.current_epoch < self.current_epoch {
            crate::log_warning!(
                "Failover auth denied to {}: reqEpoch ({}) < curEpoch({})",
                name,
                req.current_epoch,
                self.current_epoch
            );
            return;
        }
        if self.last_vote_epoch == self.current_epoch {
            crate::log_warning!(
                "Failover auth denied to {}: already voted for epoch {}",
                name,
                self.current_epoch
            );
            return;
        }
        let n = self.node(node);
        let master = n.replicaof;
        let force_ack = req.mflags[0] & msg::mflags0::FORCEACK != 0;
        if n.is_master() || master == NO_NODE || (!self.node(master).failed() && !force_ack) {
            let why = if n.is_master() {
                "it is a master node"
            } else if master == NO_NODE {
                "I don't know its master"
            } else {
                "its master is up"
            };
            crate::log_warning!("Failover auth denied to {}: {}", name, why);
            return;
        }
        let timeout = self.node_timeout();
        let voted = self.node(master).voted_time;
        if now - voted < timeout * 2 {
            crate::log_warning!(
                "Failover auth denied to {}: can't vote about this master before {} milliseconds",
                name,
                timeout * 2 - (now - voted)
            );
            return;
        }
        for j in 0..msg::SLOTS {
            if !msg::slot_bit(&req.myslots, j) || self.slot_unclaimed(j) {
                continue;
            }
            let owner_epoch = self.node(self.slots[j]).config_epoch;
            if owner_epoch <= req.config_epoch {
                continue;
            }
            crate::log_warning!(
                "Failover auth denied to {}: slot {} epoch ({}) > reqEpoch ({})",
                name,
                j,
                owner_epoch,
                req.config_epoch
            );
            return;
        }
        self.last_vote_epoch = self.current_epoch;
        self.node_mut(master).voted_time = now;
        self.todo |= todo::SAVE_CONFIG | todo::FSYNC_CONFIG;
        if let Some(l) = self.node(node).link {
            let m = Message {
                header: self.header(mt::FAILOVER_AUTH_ACK, 0),
                body: Body::Empty,
            };
            self.send(l, &m);
        }
        crate::log_warning!(
            "Failover auth granted to {} for epoch {}",
            name,
            self.current_epoch
        );
    }
}

impl Server {
    /// CLUSTER REPLICATE and slot-loss reconfiguration: follow `master` (Redis'
    /// clusterSetMaster).
    pub fn cluster_set_master(&mut self, master: NodeId) {
        let Some(cl) = self.cluster.as_deref_mut() else {
            return;
        };
        let (ip, port) = cl.set_myself_replica_of(master);
        cl.todo |= todo::SAVE_CONFIG | todo::UPDATE_STATE | todo::FSYNC_CONFIG;
        self.cluster_reset_manual_failover();
        self.repl_set_master(&ip, i64::from(port));
    }

    /// Ends a manual failover in progress, on either side (writes resume on the master).
    pub fn cluster_reset_manual_failover(&mut self) {
        let Some(cl) = self.cluster.as_deref_mut() else {
            return;
        };
        if cl.failover.mf_replica != NO_NODE {
            // The master side: writes resume.
            self.unpause_clients(PausePurpose::Failover);
        }
        let cl = self.cluster.as_deref_mut().expect("checked");
        let f = &mut cl.failover;
        f.mf_end = 0;
        f.mf_can_start = false;
        f.mf_replica = NO_NODE;
        f.mf_master_offset = -1;
    }

    /// The master side of CLUSTER FAILOVER: a replica asked us to step aside. Writes pause
    /// until it took over (or the attempt timed out), and it is told our offset at once.
    pub fn cluster_mfstart(&mut self, replica: NodeId, link: super::bus::LinkId) {
        self.cluster_reset_manual_failover();
        let now = crate::util::mstime();
        let offset = self.cluster_repl_offset();
        let Some(cl) = self.cluster.as_deref_mut() else {
            return;
        };
        cl.failover.mf_end = now + MF_TIMEOUT;
        cl.failover.mf_replica = replica;
        crate::log_warning!(
            "Manual failover requested by replica {}.",
            cl.node(replica).name_str()
        );
        self.pause_clients(
            PausePurpose::Failover,
            PauseKind::Write,
            now + MF_TIMEOUT * 2,
        );
        let cl = self.cluster.as_deref_mut().expect("checked");
        cl.send_ping(link, mt::PING, offset, now);
    }

    /// Takes the failed (or stepping aside) master's place: master of its slots, with a
    /// new epoch, announced to everybody at once.
    pub fn cluster_failover_replace_master(&mut self) {
        let full = self.config.value("cluster-require-full-coverage") == "yes";
        let Some(cl) = self.cluster.as_deref_mut() else {
            return;
        };
        let old = cl.me().replicaof;
        if cl.me().is_master() || old == NO_NODE {
            return;
        }
        let me = cl.myself;
        cl.set_node_as_master(me);
        self.repl_unset_master();
        let now = crate::util::mstime();
        let offset = self.cluster_repl_offset();
        let cl = self.cluster.as_deref_mut().expect("checked");
        for j in 0..msg::SLOTS {
            if msg::slot_bit(&cl.node(old).slots, j) {
                cl.del_slot(j);
                cl.add_slot(me, j);
            }
        }
        cl.update_state(now, full);
        if let Err(e) = cl.save_config(true) {
            crate::log_warning!("Fatal: can't update cluster config file: {}", e);
            std::process::exit(1);
        }
        cl.broadcast_pong(offset, now);
        self.cluster_reset_manual_failover();
    }

    /// A replica's part of the cron and before-sleep: keep following our master, time out a
    /// manual failover, start it once caught up, and run elections (Redis'
    /// clusterHandleSlaveFailover).
    pub fn cluster_replica_cron(&mut self) {
        let now = crate::util::mstime();
        // A replica whose replication was reset follows its master again.
        if let Some(cl) = self.cluster.as_deref() {
            let me = cl.me();
            if me.is_replica() && self.repl.master_host.is_none() && me.replicaof != NO_NODE {
                let m = cl.node(me.replicaof);
                if m.flags & nf::NOADDR == 0 {
                    let (ip, port) = (m.ip.clone(), m.port);
                    self.repl_set_master(&ip, i64::from(port));
                }
            }
        }
        // Manual failover timeout.
        if let Some(cl) = self.cluster.as_deref() {
            if cl.failover.mf_end != 0 && cl.failover.mf_end < now {
                crate::log_warning!("Manual failover timed out.");
                self.cluster_reset_manual_failover();
            }
        }
        let offset = self.cluster_repl_offset();
        let Some(cl) = self.cluster.as_deref_mut() else {
            return;
        };
        if !cl.me().is_replica() {
            return;
        }
        // Manual failover: start once we processed everything the paused master had.
        if cl.failover.mf_end != 0 && !cl.failover.mf_can_start {
            let mo = cl.failover.mf_master_offset;
            if mo == offset as i64 {
                cl.failover.mf_can_start = true;
                crate::log_warning!(
                    "All master replication stream processed, manual failover can start."
                );
            }
        }
        if cl.module_flags & super::module_flags::NO_FAILOVER == 0 {
            self.cluster_handle_replica_failover(now);
        }
        self.cluster_replica_migration(now);
    }

    /// Replica migration (Redis' clusterHandleSlaveMigration): when a master serving slots
    /// has lost all its replicas and ours has more than `cluster-migration-barrier` working
    /// ones, the replica with the smallest name among the best-provided masters moves over.
    fn cluster_replica_migration(&mut self, now: i64) {
        if self.config.value("cluster-allow-replica-migration") != "yes" {
            return;
        }
        let barrier: usize = self
            .config
            .value("cluster-migration-barrier")
            .parse()
            .unwrap_or(1);
        let Some(cl) = self.cluster.as_deref_mut() else {
            return;
        };
        let my_master = cl.me().replicaof;
        if !cl.me().is_replica() || my_master == NO_NODE || !cl.state_ok {
            return;
        }
        let ok_replicas = |cl: &ClusterState, m: NodeId| {
            cl.node(m)
                .replicas
                .iter()
                .filter(|&&r| !cl.node(r).failed())
                .count()
        };
        let (mut orphaned, mut max_replicas, mut mine) = (0, 0, 0);
        for id in cl.node_ids() {
            let n = cl.node(id);
            if n.flags & (nf::MYSELF | nf::NOADDR | nf::HANDSHAKE) != 0
                || !n.is_master()
                || n.failed()
            {
                continue;
            }
            let ok = ok_replicas(cl, id);
            if ok == 0 && n.numslots > 0 && n.flags & nf::MIGRATE_TO != 0 {
                orphaned += 1;
            }
            max_replicas = max_replicas.max(ok);
            if id == my_master {
                mine = ok;
            }
        }
        if orphaned == 0 || max_replicas < 2 || mine != max_replicas {
            return;
        }
        // Our master must keep more than the barrier.
        let working = cl
            .node(my_master)
            .replicas
            .iter()
            .filter(|&&r| !cl.node(r).failed() && !cl.node(r).timed_out())
            .count();
        if working <= barrier {
            return;
        }
        let mut candidate = cl.myself;
        let mut target = NO_NODE;
        for id in cl.node_ids() {
            let n = cl.node(id);
            let ok = if n.is_master() {
                ok_replicas(cl, id)
            } else {
                0
            };
            let orphan = !n.is_replica() && !n.failed() && n.flags & nf::MIGRATE_TO != 0 && ok == 0;
            if orphan {
                if target == NO_NODE && n.numslots > 0 {
                    target = id;
                }
                if n.orphaned_time == 0 {
                    cl.node_mut(id).orphaned_time = now;
                }
            } else {
                cl.node_mut(id).orphaned_time = 0;
            }
            if ok == max_replicas {
                for &r in &cl.node(id).replicas {
                    if cl.node(r).name < cl.node(candidate).name {
                        candidate = r;
                    }
                }
            }
        }
        if target != NO_NODE
            && candidate == cl.myself
            && now - cl.node(target).orphaned_time > 5000
            && cl.module_flags & super::module_flags::NO_FAILOVER == 0
        {
            crate::log_warning!(
                "Migrating to orphaned master {}",
                cl.node(target).name_str()
            );
            self.cluster_set_master(target);
        }
    }

    fn cluster_handle_replica_failover(&mut self, now: i64) {
        let no_failover = self.config.value("cluster-replica-no-failover") == "yes";
        let validity: i64 = self
            .config
            .value("cluster-replica-validity-factor")
            .parse()
            .unwrap_or(10);
        let ping_period: i64 = self
            .config
            .value("repl-ping-replica-period")
            .parse()
            .unwrap_or(10);
        let offset = self.cluster_repl_offset();
        let connected = self.repl.link_state == crate::replication::state::LinkState::Connected;
        let unix_now = now / 1000;
        // When the master client last sent us something (its PINGs included).
        let master_last_io = self
            .repl
            .master_client
            .and_then(|id| self.clients.get(&id))
            .map_or(0, |c| c.last_interaction_ms / 1000);
        let down_since = self.repl.down_since;
        let Some(cl) = self.cluster.as_deref_mut() else {
            return;
        };
        let timeout = cl.node_timeout();
        let auth_age = now - cl.failover.auth_time;
        let quorum = cl.size / 2 + 1;
        let manual = cl.failover.mf_end != 0 && cl.failover.mf_can_start;
        let auth_timeout = (timeout * 2).max(2000);
        let auth_retry = auth_timeout * 2;
        let master = cl.me().replicaof;
        if cl.me().is_master()
            || master == NO_NODE
            || (!cl.node(master).failed() && !manual)
            || (no_failover && !manual)
            || cl.node(master).numslots == 0
        {
            cl.failover.cant_reason = CantFailover::None;
            return;
        }
        // How stale our data may be: a replica cut off for too long must not win.
        let mut data_age = if connected {
            (unix_now - master_last_io) * 1000
        } else {
            (unix_now - down_since) * 1000
        };
        if data_age > timeout {
            data_age -= timeout;
        }
        if validity != 0 && data_age > ping_period * 1000 + timeout * validity && !manual {
            cl.log_cant_failover(CantFailover::DataAge, now);
            return;
        }
        if auth_age > auth_retry {
            use rand::Rng;
            let f = &mut cl.failover;
            f.auth_time = now + 500 + rand::thread_rng().gen_range(0..500);
            f.auth_count = 0;
            f.auth_sent = false;
            let rank = cl.replica_rank(offset);
            cl.failover.auth_rank = rank;
            cl.failover.auth_time += rank as i64 * 1000;
            if cl.failover.mf_end != 0 {
                cl.failover.auth_time = now;
                cl.failover.auth_rank = 0;
            }
            crate::log_warning!(
                "Start of election delayed for {} milliseconds (rank #{}, offset {}).",
                cl.failover.auth_time - now,
                cl.failover.auth_rank,
                offset
            );
            // Tell our fellow replicas our offset, so they rank themselves.
            for r in cl.node(master).replicas.clone() {
                if r == cl.myself {
                    continue;
                }
                if let Some(l) = cl.node(r).link {
                    cl.send_ping(l, mt::PONG, offset, now);
                }
            }
            return;
        }
        if !cl.failover.auth_sent && cl.failover.mf_end == 0 {
            let newrank = cl.replica_rank(offset);
            if newrank > cl.failover.auth_rank {
                let added = (newrank - cl.failover.auth_rank) as i64 * 1000;
                cl.failover.auth_time += added;
                cl.failover.auth_rank = newrank;
                crate::log_warning!(
                    "Replica rank updated to #{}, added {} milliseconds of delay.",
                    newrank,
                    added
                );
            }
        }
        if now < cl.failover.auth_time {
            cl.log_cant_failover(CantFailover::WaitingDelay, now);
            return;
        }
        if auth_age > auth_timeout {
            cl.log_cant_failover(CantFailover::Expired, now);
            return;
        }
        if !cl.failover.auth_sent {
            cl.current_epoch += 1;
            cl.failover.auth_epoch = cl.current_epoch;
            crate::log_warning!(
                "Starting a failover election for epoch {}.",
                cl.current_epoch
            );
            cl.request_failover_auth(offset);
            cl.failover.auth_sent = true;
            cl.todo |= todo::SAVE_CONFIG | todo::UPDATE_STATE | todo::FSYNC_CONFIG;
            return;
        }
        if cl.failover.auth_count >= quorum {
            crate::log_warning!("Failover election won: I'm the new master.");
            let me = cl.myself;
            if cl.me().config_epoch < cl.failover.auth_epoch {
                let e = cl.failover.auth_epoch;
                cl.node_mut(me).config_epoch = e;
                crate::log_warning!("configEpoch set to {} after successful failover", e);
            }
            self.cluster_failover_replace_master();
        } else {
            cl.log_cant_failover(CantFailover::WaitingVotes, now);
        }
    }
}
