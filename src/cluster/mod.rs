//! Cluster mode (`cluster-enabled yes`): this node's view of the cluster — the nodes it knows,
//! who serves each of the 16384 hash slots, epochs, failure detection — and the rules that
//! route a command to the node serving its keys (MOVED/ASK/TRYAGAIN/CROSSSLOT/CLUSTERDOWN).
//!
//! The view is kept in step with the other nodes over the cluster bus (`bus`), speaking Redis
//! 7.0's binary protocol (`msg`), so ferrodis and redis-server nodes can form one cluster. It is
//! persisted in the node's `nodes.conf` (`nodes_conf`). `command` holds CLUSTER, ASKING,
//! READONLY and READWRITE.
//!
//! What this covers: forming a cluster (MEET, gossip), slot assignment and migration
//! (ADDSLOTS, SETSLOT, UPDATE messages, config epochs and their collisions), failure detection
//! (PFAIL by timeout, FAIL by a majority of masters' reports) and the cluster state. Replica
//! nodes of other servers are tracked as the bus reports them; this node itself is always a
//! master: CLUSTER REPLICATE and FAILOVER are not available yet.

pub mod bus;
pub mod command;
pub mod failover;
pub mod msg;
pub mod nodes_conf;

use std::collections::HashMap;

use msg::{node_flags as nf, NodeName, SlotBitmap, NAMELEN, SLOTS};

/// Index of a node in `ClusterState::nodes`.
pub type NodeId = u32;
/// No node (an unassigned slot, no master).
pub const NO_NODE: NodeId = u32::MAX;

/// Bus port = client port + this, unless `cluster-port` says otherwise.
pub const PORT_INCR: i64 = 10000;

/// Things to do before the event loop sleeps (Redis' CLUSTER_TODO_*).
pub mod todo {
    pub const UPDATE_STATE: u8 = 1 << 1;
    pub const SAVE_CONFIG: u8 = 1 << 2;
    pub const FSYNC_CONFIG: u8 = 1 << 3;
    pub const HANDLE_FAILOVER: u8 = 1 << 0;
}

/// A failure report: `from`, a master, said at `time` that the node was unreachable.
#[derive(Clone, Copy, Debug)]
pub struct FailReport {
    pub from: NodeId,
    pub time: i64,
}

/// One node of the cluster as this node sees it.
pub struct Node {
    pub name: NodeName,
    pub ctime: i64,
    pub flags: u16,
    pub config_epoch: u64,
    pub slots: Box<SlotBitmap>,
    pub numslots: usize,
    pub replicaof: NodeId,
    pub replicas: Vec<NodeId>,
    pub ping_sent: i64,
    pub pong_received: i64,
    pub data_received: i64,
    pub fail_time: i64,
    pub repl_offset: u64,
    pub ip: String,
    pub hostname: String,
    pub port: u16,
    pub pport: u16,
    pub cport: u16,
    /// Our connection to it, and its connection to us.
    pub link: Option<bus::LinkId>,
    pub inbound_link: Option<bus::LinkId>,
    pub fail_reports: Vec<FailReport>,
    /// When we last voted for a replica of this master (ms).
    pub voted_time: i64,
    /// Since when this master serving slots has had no working replica (0: it has one).
    pub orphaned_time: i64,
    /// The ping number that last carried this node in its gossip (no duplicates per ping).
    pub last_in_ping_gossip: u64,
}

impl Node {
    fn new(name: NodeName, flags: u16, now: i64) -> Node {
        Node {
            name,
            ctime: now,
            flags,
            config_epoch: 0,
            slots: Box::new([0; SLOTS / 8]),
            numslots: 0,
            replicaof: NO_NODE,
            replicas: Vec::new(),
            ping_sent: 0,
            pong_received: 0,
            data_received: 0,
            fail_time: 0,
            repl_offset: 0,
            ip: String::new(),
            hostname: String::new(),
            port: 0,
            pport: 0,
            cport: 0,
            link: None,
            inbound_link: None,
            fail_reports: Vec::new(),
            voted_time: 0,
            orphaned_time: 0,
            last_in_ping_gossip: 0,
        }
    }
    pub fn is_master(&self) -> bool {
        self.flags & nf::MASTER != 0
    }
    pub fn is_replica(&self) -> bool {
        self.flags & nf::SLAVE != 0
    }
    pub fn in_handshake(&self) -> bool {
        self.flags & nf::HANDSHAKE != 0
    }
    pub fn failed(&self) -> bool {
        self.flags & nf::FAIL != 0
    }
    pub fn timed_out(&self) -> bool {
        self.flags & nf::PFAIL != 0
    }
    pub fn name_str(&self) -> &str {
        std::str::from_utf8(&self.name).unwrap_or("")
    }
}

/// A fresh random node name: 40 hex characters.
pub fn random_name() -> NodeName {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    let mut name = [0u8; NAMELEN];
    for b in name.iter_mut() {
        *b = b"0123456789abcdef"[rng.gen_range(0..16)];
    }
    name
}

/// Whether `s` is a well-formed node name (40 hex characters).
pub fn valid_name(s: &[u8]) -> bool {
    s.len() == NAMELEN && s.iter().all(u8::is_ascii_hexdigit)
}

/// CRC-16/XMODEM, the hash behind key slots.
pub fn crc16(data: &[u8]) -> u16 {
    const TABLE: [u16; 256] = {
        let mut t = [0u16; 256];
        let mut i = 0;
        while i < 256 {
            let mut crc = (i as u16) << 8;
            let mut b = 0;
            while b < 8 {
                crc = if crc & 0x8000 != 0 {
                    (crc << 1) ^ 0x1021
                } else {
                    crc << 1
                };
                b += 1;
            }
            t[i] = crc;
            i += 1;
        }
        t
    };
    data.iter().fold(0u16, |crc, &b| {
        (crc << 8) ^ TABLE[(((crc >> 8) as u8) ^ b) as usize]
    })
}

/// The hash slot of a key: CRC-16 of the key, or of its `{tag}` when the key has a non-empty
/// one, modulo 16384.
pub fn key_hash_slot(key: &[u8]) -> usize {
    if let Some(open) = memchr::memchr(b'{', key) {
        if let Some(len) = memchr::memchr(b'}', &key[open + 1..]) {
            if len > 0 {
                return (crc16(&key[open + 1..open + 1 + len]) & 0x3fff) as usize;
            }
        }
    }
    (crc16(key) & 0x3fff) as usize
}

/// What adopting a node's slot claims asks of us.
#[derive(Default, Debug)]
pub struct SlotsUpdate {
    /// Slots we lost while holding keys there: their keys go.
    pub dirty: Vec<usize>,
    /// We (or our master) lost every slot to this node: follow it.
    pub follow: Option<NodeId>,
}

/// Why a command can't run here (Redis' CLUSTER_REDIR_*), with the reply each gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Redirect {
    CrossSlot,
    Unstable,
    Ask(usize, NodeId),
    Moved(usize, NodeId),
    DownState,
    DownUnbound,
    DownReadOnly,
}

pub struct ClusterState {
    pub myself: NodeId,
    /// Nodes by id; a removed node leaves a hole (ids are never reused while referenced).
    pub nodes: Vec<Option<Node>>,
    pub by_name: HashMap<NodeName, NodeId>,
    pub current_epoch: u64,
    pub last_vote_epoch: u64,
    pub state_ok: bool,
    /// Masters serving at least one slot.
    pub size: usize,
    pub slots: Vec<NodeId>,
    pub migrating_to: Vec<NodeId>,
    pub importing_from: Vec<NodeId>,
    /// Slots whose owner no longer claims them in its pings (during a migration).
    pub owner_not_claiming: Box<SlotBitmap>,
    pub todo: u8,
    pub stats_sent: [u64; msg::msg_type::COUNT],
    pub stats_received: [u64; msg::msg_type::COUNT],
    pub stats_pfail_nodes: usize,
    pub links_buffer_limit_exceeded: u64,
    /// Forgotten nodes, not re-added from gossip until this unix time (s).
    pub blacklist: HashMap<NodeName, i64>,
    pub bus: bus::Bus,
    pub iteration: u64,
    pub first_state_update: i64,
    pub among_minority_time: i64,
    pub pings_sent: u64,
    /// Module flags (RedisModule_SetClusterFlags): no failover, no redirection.
    pub module_flags: u32,
    pub failover: failover::FailoverState,
    /// DEBUG DROP-CLUSTER-PACKET-FILTER: messages of this type are ignored (-1: none).
    pub drop_packet_filter: i32,
    /// Slots our shard stopped serving whose shard channels' subscribers are still to be
    /// unsubscribed (`Server::cluster_drop_shard_channels`).
    pub unsubscribe_slots: Vec<usize>,
    /// Settings read on every routed command, kept here by `update_myself_announced` (at
    /// start-up and on CONFIG SET) rather than looked up by name each time.
    pub allow_reads_when_down: bool,
    pub allow_pubsubshard_when_down: bool,
    pub config_file: nodes_conf::ConfigFile,
}

pub mod module_flags {
    pub const NO_FAILOVER: u32 = 1 << 1;
    pub const NO_REDIRECTION: u32 = 1 << 2;
}

impl ClusterState {
    pub fn node(&self, id: NodeId) -> &Node {
        self.nodes[id as usize].as_ref().expect("live node")
    }
    pub fn node_mut(&mut self, id: NodeId) -> &mut Node {
        self.nodes[id as usize].as_mut().expect("live node")
    }
    pub fn me(&self) -> &Node {
        self.node(self.myself)
    }
    pub fn lookup(&self, name: &[u8]) -> Option<NodeId> {
        if name.len() != NAMELEN {
            return None;
        }
        let mut n = [0u8; NAMELEN];
        n.copy_from_slice(name);
        self.by_name.get(&n).copied()
    }
    /// Ids of the live nodes.
    pub fn node_ids(&self) -> Vec<NodeId> {
        (0..self.nodes.len() as NodeId)
            .filter(|&i| self.nodes[i as usize].is_some())
            .collect()
    }
    pub fn known_nodes(&self) -> usize {
        self.by_name.len()
    }

    pub fn add_node(&mut self, node: Node) -> NodeId {
        let name = node.name;
        let id = match self.nodes.iter().position(Option::is_none) {
            Some(free) => {
                self.nodes[free] = Some(node);
                free as NodeId
            }
            None => {
                self.nodes.push(Some(node));
                (self.nodes.len() - 1) as NodeId
            }
        };
        self.by_name.insert(name, id);
        id
    }

    /// Removes a node: its slots become unassigned, migrations to/from it end, its links
    /// close, and failure reports it made are dropped (Redis' clusterDelNode).
    pub fn del_node(&mut self, id: NodeId) {
        for j in 0..SLOTS {
            if self.importing_from[j] == id {
                self.importing_from[j] = NO_NODE;
            }
            if self.migrating_to[j] == id {
                self.migrating_to[j] = NO_NODE;
            }
            if self.slots[j] == id {
                self.del_slot(j);
            }
        }
        for other in self.node_ids() {
            if other == id {
                continue;
            }
            self.node_mut(other).fail_reports.retain(|r| r.from != id);
        }
        let (master, replicas, link, inbound) = {
            let n = self.node(id);
            (n.replicaof, n.replicas.clone(), n.link, n.inbound_link)
        };
        if master != NO_NODE && self.nodes[master as usize].is_some() {
            self.node_mut(master).replicas.retain(|&r| r != id);
        }
        for r in replicas {
            if let Some(rn) = self.nodes[r as usize].as_mut() {
                if rn.replicaof == id {
                    rn.replicaof = NO_NODE;
                }
            }
        }
        for l in [link, inbound].into_iter().flatten() {
            self.free_link(l);
        }
        let name = self.node(id).name;
        self.by_name.remove(&name);
        self.nodes[id as usize] = None;
    }

    pub fn rename_node(&mut self, id: NodeId, name: NodeName) {
        let old = self.node(id).name;
        self.by_name.remove(&old);
        self.node_mut(id).name = name;
        self.by_name.insert(name, id);
    }

    pub fn add_slot(&mut self, id: NodeId, slot: usize) -> bool {
        if self.slots[slot] != NO_NODE {
            return false;
        }
        let n = self.node_mut(id);
        if !msg::slot_bit(&n.slots, slot) {
            msg::set_slot_bit(&mut n.slots, slot, true);
            n.numslots += 1;
        }
        self.slots[slot] = id;
        true
    }

    pub fn del_slot(&mut self, slot: usize) -> bool {
        let owner = self.slots[slot];
        if owner == NO_NODE {
            return false;
        }
        // Our shard (we or our master) no longer serves it: its shard channels go.
        if owner == self.myself || owner == self.me().replicaof {
            self.unsubscribe_slots.push(slot);
        }
        let n = self.node_mut(owner);
        if msg::slot_bit(&n.slots, slot) {
            msg::set_slot_bit(&mut n.slots, slot, false);
            n.numslots -= 1;
        }
        self.slots[slot] = NO_NODE;
        true
    }

    /// Unassigns every slot of a node; how many there were.
    pub fn del_node_slots(&mut self, id: NodeId) -> usize {
        let mut deleted = 0;
        for j in 0..SLOTS {
            if msg::slot_bit(&self.node(id).slots, j) {
                self.del_slot(j);
                deleted += 1;
            }
        }
        deleted
    }

    pub fn slot_unclaimed(&self, slot: usize) -> bool {
        self.slots[slot] == NO_NODE || msg::slot_bit(&self.owner_not_claiming, slot)
    }

    pub fn set_replica_of(&mut self, id: NodeId, master: NodeId) {
        let old = self.node(id).replicaof;
        if old == master {
            return;
        }
        if old != NO_NODE && self.nodes[old as usize].is_some() {
            let o = self.node_mut(old);
            o.replicas.retain(|&r| r != id);
            if o.replicas.is_empty() {
                o.flags &= !nf::MIGRATE_TO;
            }
        }
        self.node_mut(id).replicaof = master;
        if master != NO_NODE && !self.node(master).replicas.contains(&id) {
            let m = self.node_mut(master);
            m.replicas.push(id);
            // A master that had a replica is worth migrating one to if it loses it.
            m.flags |= nf::MIGRATE_TO;
        }
    }

    /// Marks a node as a master (it was promoted, or we had it wrong).
    pub fn set_node_as_master(&mut self, id: NodeId) {
        if self.node(id).is_master() {
            return;
        }
        if self.node(id).replicaof != NO_NODE {
            self.set_replica_of(id, NO_NODE);
            if id != self.myself {
                self.node_mut(id).flags |= nf::MIGRATE_TO;
            }
        }
        let n = self.node_mut(id);
        n.flags &= !nf::SLAVE;
        n.flags |= nf::MASTER;
        self.todo |= todo::SAVE_CONFIG | todo::UPDATE_STATE;
    }

    /// The highest config epoch known, or the current epoch if higher.
    pub fn max_epoch(&self) -> u64 {
        self.nodes
            .iter()
            .flatten()
            .map(|n| n.config_epoch)
            .max()
            .unwrap_or(0)
            .max(self.current_epoch)
    }

    /// Gives this node a new config epoch without asking the others, unless it already has
    /// the greatest non-zero one (CLUSTER BUMPEPOCH, SETSLOT NODE after an import).
    pub fn bump_epoch_without_consensus(&mut self) -> bool {
        let max = self.max_epoch();
        let mine = self.me().config_epoch;
        if mine == 0 || mine != max {
            self.current_epoch += 1;
            let e = self.current_epoch;
            self.node_mut(self.myself).config_epoch = e;
            self.todo |= todo::SAVE_CONFIG | todo::FSYNC_CONFIG;
            crate::log_warning!("New configEpoch set to {}", e);
            true
        } else {
            false
        }
    }

    /// Two masters with the same config epoch: the one with the smaller name takes a new one.
    fn handle_config_epoch_collision(&mut self, sender: NodeId) {
        let (s, me) = (self.node(sender), self.me());
        if s.config_epoch != me.config_epoch || !s.is_master() || !me.is_master() {
            return;
        }
        if s.name <= me.name {
            return;
        }
        self.current_epoch += 1;
        let e = self.current_epoch;
        self.node_mut(self.myself).config_epoch = e;
        self.todo |= todo::SAVE_CONFIG | todo::FSYNC_CONFIG;
        crate::log_verbose!(
            "WARNING: configEpoch collision with node {}. configEpoch set to {}",
            self.node(sender).name_str(),
            e
        );
    }

    pub fn node_timeout(&self) -> i64 {
        self.bus.node_timeout
    }

    fn cleanup_fail_reports(&mut self, id: NodeId, now: i64) {
        let max = self.node_timeout() * 2;
        self.node_mut(id)
            .fail_reports
            .retain(|r| now - r.time <= max);
    }

    pub fn fail_reports_count(&mut self, id: NodeId, now: i64) -> usize {
        self.cleanup_fail_reports(id, now);
        self.node(id).fail_reports.len()
    }

    fn add_fail_report(&mut self, failing: NodeId, from: NodeId, now: i64) -> bool {
        let n = self.node_mut(failing);
        if let Some(r) = n.fail_reports.iter_mut().find(|r| r.from == from) {
            r.time = now;
            return false;
        }
        n.fail_reports.push(FailReport { from, time: now });
        true
    }

    fn del_fail_report(&mut self, failing: NodeId, from: NodeId, now: i64) -> bool {
        let n = self.node_mut(failing);
        let before = n.fail_reports.len();
        n.fail_reports.retain(|r| r.from != from);
        let removed = n.fail_reports.len() != before;
        if removed {
            self.cleanup_fail_reports(failing, now);
        }
        removed
    }

    /// PFAIL becomes FAIL once a majority of masters (counting us if we are one) report the
    /// node unreachable; everybody is told.
    fn mark_failing_if_needed(&mut self, id: NodeId, now: i64) {
        let quorum = self.size / 2 + 1;
        let n = self.node(id);
        if !n.timed_out() || n.failed() {
            return;
        }
        let mut failures = self.fail_reports_count(id, now);
        if self.me().is_master() {
            failures += 1;
        }
        if failures < quorum {
            return;
        }
        crate::log_notice!(
            "Marking node {} as failing (quorum reached).",
            self.node(id).name_str()
        );
        let n = self.node_mut(id);
        n.flags &= !nf::PFAIL;
        n.flags |= nf::FAIL;
        n.fail_time = now;
        let name = n.name;
        self.broadcast_fail(name);
        self.todo |= todo::UPDATE_STATE | todo::SAVE_CONFIG;
    }

    /// A FAIL flag is lifted when the node is reachable again and is a replica or a master
    /// without slots, or when nobody took over its slots for a while.
    fn clear_failure_if_needed(&mut self, id: NodeId, now: i64) {
        let timeout = self.node_timeout();
        let n = self.node_mut(id);
        if n.is_replica() || n.numslots == 0 {
            crate::log_notice!(
                "Clear FAIL state for node {}: {} is reachable again.",
                n.name_str(),
                if n.is_replica() {
                    "replica"
                } else {
                    "master without slots"
                }
            );
            n.flags &= !nf::FAIL;
            self.todo |= todo::UPDATE_STATE | todo::SAVE_CONFIG;
            return;
        }
        if n.is_master() && n.numslots > 0 && now - n.fail_time > timeout * 2 {
            crate::log_notice!(
                "Clear FAIL state for node {}: is reachable again and nobody is serving its slots after some time.",
                n.name_str()
            );
            n.flags &= !nf::FAIL;
            self.todo |= todo::UPDATE_STATE | todo::SAVE_CONFIG;
        }
    }

    /// Whether a handshake with this address is already under way.
    fn handshake_in_progress(&self, ip: &str, port: u16, cport: u16) -> bool {
        self.nodes.iter().flatten().any(|n| {
            n.in_handshake() && n.ip.eq_ignore_ascii_case(ip) && n.port == port && n.cport == cport
        })
    }

    /// Starts meeting a node at an address (CLUSTER MEET, gossip): a placeholder node with a
    /// random name until its first PONG tells us its real one. Err(true) for an invalid
    /// address, Err(false) when a handshake with it is already running.
    pub fn start_handshake(
        &mut self,
        ip: &str,
        port: i64,
        cport: i64,
        now: i64,
    ) -> Result<(), bool> {
        let Ok(addr) = ip.parse::<std::net::IpAddr>() else {
            return Err(true);
        };
        if !(1..=65535).contains(&port) || !(1..=65535).contains(&cport) {
            return Err(true);
        }
        let norm = addr.to_string();
        if self.handshake_in_progress(&norm, port as u16, cport as u16) {
            return Err(false);
        }
        let mut n = Node::new(random_name(), nf::HANDSHAKE | nf::MEET, now);
        n.ip = norm;
        n.port = port as u16;
        n.cport = cport as u16;
        self.add_node(n);
        Ok(())
    }

    /// The cluster state: ok when every slot is served by a reachable node (unless full
    /// coverage isn't required) and a majority of the slot-serving masters is reachable.
    pub fn update_state(&mut self, now: i64, require_full_coverage: bool) {
        self.todo &= !todo::UPDATE_STATE;
        if self.first_state_update == 0 {
            self.first_state_update = now;
        }
        // A master that just started waits a little, to learn the current configuration.
        if self.me().is_master() && !self.state_ok && now - self.first_state_update < 2000 {
            return;
        }
        let mut ok = true;
        if require_full_coverage {
            ok = self
                .slots
                .iter()
                .all(|&s| s != NO_NODE && !self.node(s).failed());
        }
        let mut size = 0;
        let mut reachable = 0;
        for n in self.nodes.iter().flatten() {
            if n.is_master() && n.numslots > 0 {
                size += 1;
                if n.flags & (nf::FAIL | nf::PFAIL) == 0 {
                    reachable += 1;
                }
            }
        }
        self.size = size;
        if reachable < size / 2 + 1 {
            ok = false;
            self.among_minority_time = now;
        }
        if ok != self.state_ok {
            // A master that was in the minority waits before taking writes again, so that
            // the others can reconfigure first.
            let rejoin_delay = self.node_timeout().clamp(500, 5000);
            if ok && self.me().is_master() && now - self.among_minority_time < rejoin_delay {
                return;
            }
            crate::log_warning!("Cluster state changed: {}", if ok { "ok" } else { "fail" });
            self.state_ok = ok;
        }
    }

    /// Adopts a node's claim on slots carried with a newer config epoch than the current
    /// owners'. When our master (or we) lost its last slot to it, we follow it; otherwise
    /// the slots we lost while holding keys in them are returned (their keys must go).
    pub fn update_slots_config_with(
        &mut self,
        sender: NodeId,
        sender_epoch: u64,
        claimed: &SlotBitmap,
        keys_in_slot: &dyn Fn(usize) -> usize,
        allow_replica_migration: bool,
    ) -> SlotsUpdate {
        let mut dirty = Vec::new();
        if sender == self.myself {
            crate::log_warning!("Discarding UPDATE message about myself.");
            return SlotsUpdate::default();
        }
        let curmaster = if self.me().is_master() {
            self.myself
        } else {
            self.me().replicaof
        };
        let mut newmaster = NO_NODE;
        let (mut sender_slots, mut migrated_our_slots) = (0, 0);
        for j in 0..SLOTS {
            if msg::slot_bit(claimed, j) {
                sender_slots += 1;
                if self.slots[j] == sender {
                    msg::set_slot_bit(&mut self.owner_not_claiming, j, false);
                    continue;
                }
                if self.importing_from[j] != NO_NODE {
                    continue;
                }
                if self.slot_unclaimed(j) || self.node(self.slots[j]).config_epoch < sender_epoch {
                    if self.slots[j] == self.myself && keys_in_slot(j) > 0 {
                        dirty.push(j);
                    }
                    if self.slots[j] == curmaster && curmaster != NO_NODE {
                        newmaster = sender;
                        migrated_our_slots += 1;
                    }
                    self.del_slot(j);
                    self.add_slot(sender, j);
                    msg::set_slot_bit(&mut self.owner_not_claiming, j, false);
                    self.todo |= todo::SAVE_CONFIG | todo::UPDATE_STATE | todo::FSYNC_CONFIG;
                }
            } else if self.slots[j] == sender {
                msg::set_slot_bit(&mut self.owner_not_claiming, j, true);
            }
        }
        if self.module_flags & module_flags::NO_REDIRECTION != 0 {
            return SlotsUpdate::default();
        }
        if newmaster != NO_NODE
            && self.node(curmaster).numslots == 0
            && (allow_replica_migration || sender_slots == migrated_our_slots)
        {
            crate::log_warning!(
                "Configuration change detected. Reconfiguring myself as a replica of {}",
                self.node(sender).name_str()
            );
            self.todo |= todo::SAVE_CONFIG | todo::UPDATE_STATE | todo::FSYNC_CONFIG;
            return SlotsUpdate {
                dirty: Vec::new(),
                follow: Some(sender),
            };
        }
        let my_master = self.me().replicaof;
        if my_master != NO_NODE {
            let grand = self.node(my_master).replicaof;
            if grand != NO_NODE && grand != self.myself {
                crate::log_warning!(
                    "I'm a sub-replica! Reconfiguring myself as a replica of grandmaster {}",
                    self.node(grand).name_str()
                );
                self.todo |= todo::SAVE_CONFIG | todo::UPDATE_STATE | todo::FSYNC_CONFIG;
                return SlotsUpdate {
                    dirty: Vec::new(),
                    follow: Some(grand),
                };
            }
        }
        SlotsUpdate {
            dirty,
            follow: None,
        }
    }

    /// Where a command must run, given its keys (Redis' getNodeByQuery): None when here.
    /// `keys` lists each command's keys (one entry per queued command for EXEC);
    /// `exists` tells whether a key is in the keyspace.
    #[allow(clippy::too_many_arguments)]
    pub fn route(
        &self,
        keys: &[Vec<&[u8]>],
        is_write: bool,
        asking: bool,
        readonly_client: bool,
        is_migrate: bool,
        is_pubsubshard: bool,
        allow_reads_when_down: bool,
        allow_pubsubshard_when_down: bool,
        exists: &mut dyn FnMut(&[u8]) -> bool,
    ) -> Result<Option<usize>, Redirect> {
        if self.module_flags & module_flags::NO_REDIRECTION != 0 {
            return Ok(None);
        }
        let mut first: Option<&[u8]> = None;
        let mut slot = 0;
        let mut owner = NO_NODE;
        let (mut migrating, mut importing, mut multiple) = (false, false, false);
        let (mut missing, mut existing) = (0, 0);
        for cmd_keys in keys {
            for &key in cmd_keys {
                let this_slot = key_hash_slot(key);
                match first {
                    None => {
                        first = Some(key);
                        slot = this_slot;
                        owner = self.slots[slot];
                        if owner == NO_NODE {
                            return Err(Redirect::DownUnbound);
                        }
                        if owner == self.myself && self.migrating_to[slot] != NO_NODE {
                            migrating = true;
                        } else if self.importing_from[slot] != NO_NODE {
                            importing = true;
                        }
                    }
                    Some(f) => {
                        if f != key {
                            if this_slot != slot {
                                return Err(Redirect::CrossSlot);
                            }
                            multiple = true;
                        }
                    }
                }
                if (migrating || importing) && !is_pubsubshard {
                    if exists(key) {
                        existing += 1;
                    } else {
                        missing += 1;
                    }
                }
            }
        }
        if owner == NO_NODE {
            return Ok(None);
        }
        if !self.state_ok {
            if is_pubsubshard {
                if !allow_pubsubshard_when_down {
                    return Err(Redirect::DownState);
                }
            } else if !allow_reads_when_down {
                return Err(Redirect::DownState);
            } else if is_write {
                return Err(Redirect::DownReadOnly);
            }
        }
        if (migrating || importing) && is_migrate {
            return Ok(Some(slot));
        }
        if migrating && missing > 0 {
            if existing > 0 {
                return Err(Redirect::Unstable);
            }
            return Err(Redirect::Ask(slot, self.migrating_to[slot]));
        }
        if importing && asking {
            if multiple && missing > 0 {
                return Err(Redirect::Unstable);
            }
            return Ok(Some(slot));
        }
        let me = self.me();
        if (readonly_client || is_pubsubshard)
            && !is_write
            && me.is_replica()
            && me.replicaof == owner
        {
            return Ok(Some(slot));
        }
        if owner != self.myself {
            return Err(Redirect::Moved(slot, owner));
        }
        Ok(Some(slot))
    }

    /// The address clients are sent to for a node, as `cluster-preferred-endpoint-type` says.
    pub fn preferred_endpoint(&self, id: NodeId, endpoint_type: &str) -> String {
        let n = self.node(id);
        match endpoint_type {
            "hostname" if !n.hostname.is_empty() => n.hostname.clone(),
            "hostname" => "?".to_string(),
            // Clients are to use the address they reached the cluster at.
            "unknown-endpoint" => String::new(),
            _ => n.ip.clone(),
        }
    }

    /// The error reply of a redirection.
    pub fn redirect_error(&self, r: Redirect, endpoint_type: &str) -> String {
        match r {
            Redirect::CrossSlot => "-CROSSSLOT Keys in request don't hash to the same slot".into(),
            Redirect::Unstable => "-TRYAGAIN Multiple keys request during rehashing of slot".into(),
            Redirect::DownState => "-CLUSTERDOWN The cluster is down".into(),
            Redirect::DownReadOnly => {
                "-CLUSTERDOWN The cluster is down and only accepts read commands".into()
            }
            Redirect::DownUnbound => "-CLUSTERDOWN Hash slot not served".into(),
            Redirect::Moved(slot, n) | Redirect::Ask(slot, n) => format!(
                "-{} {} {}:{}",
                if matches!(r, Redirect::Ask(..)) {
                    "ASK"
                } else {
                    "MOVED"
                },
                slot,
                self.preferred_endpoint(n, endpoint_type),
                self.node(n).port
            ),
        }
    }
}

impl ClusterState {
    fn new(config_path: String, file: std::fs::File, node_timeout: i64) -> ClusterState {
        ClusterState {
            myself: NO_NODE,
            nodes: Vec::new(),
            by_name: HashMap::new(),
            current_epoch: 0,
            last_vote_epoch: 0,
            state_ok: false,
            size: 1,
            slots: vec![NO_NODE; SLOTS],
            migrating_to: vec![NO_NODE; SLOTS],
            importing_from: vec![NO_NODE; SLOTS],
            owner_not_claiming: Box::new([0; SLOTS / 8]),
            todo: 0,
            stats_sent: [0; msg::msg_type::COUNT],
            stats_received: [0; msg::msg_type::COUNT],
            stats_pfail_nodes: 0,
            links_buffer_limit_exceeded: 0,
            blacklist: HashMap::new(),
            bus: bus::Bus::new(node_timeout),
            iteration: 0,
            first_state_update: 0,
            among_minority_time: 0,
            pings_sent: 0,
            module_flags: 0,
            failover: Default::default(),
            drop_packet_filter: -1,
            unsubscribe_slots: Vec::new(),
            allow_reads_when_down: false,
            allow_pubsubshard_when_down: true,
            config_file: nodes_conf::ConfigFile {
                path: config_path,
                file: Some(file),
            },
        }
    }

    /// What this node announces about itself (ports, IP, hostname, the nofailover flag) and
    /// the settings routing reads per command, from the config.
    pub fn update_myself_announced(&mut self, cfg: &crate::config::Config) {
        let port = cfg.port as u16;
        let announce_port = cfg
            .value("cluster-announce-port")
            .parse::<u16>()
            .unwrap_or(0);
        let announce_bus = cfg
            .value("cluster-announce-bus-port")
            .parse::<u16>()
            .unwrap_or(0);
        let cluster_port = cfg.value("cluster-port").parse::<i64>().unwrap_or(0);
        self.bus.port = if announce_port != 0 {
            announce_port
        } else {
            port
        };
        self.bus.pport = 0;
        self.bus.cport = if announce_bus != 0 {
            announce_bus
        } else if cluster_port != 0 {
            cluster_port as u16
        } else {
            (cfg.port + PORT_INCR) as u16
        };
        self.bus.announce_ip = cfg.value("cluster-announce-ip");
        self.bus.hostname = cfg.value("cluster-announce-hostname");
        self.bus.node_timeout = cfg.value("cluster-node-timeout").parse().unwrap_or(15000);
        let (p, c, ip, host) = (
            self.bus.port,
            self.bus.cport,
            self.bus.announce_ip.clone(),
            self.bus.hostname.clone(),
        );
        self.allow_reads_when_down = cfg.value("cluster-allow-reads-when-down") == "yes";
        self.allow_pubsubshard_when_down =
            cfg.value("cluster-allow-pubsubshard-when-down") == "yes";
        let no_failover = cfg.value("cluster-replica-no-failover") == "yes";
        let me = self.myself;
        let n = self.node_mut(me);
        // Other nodes learn from our flags that we won't fail over.
        let old_flags = n.flags;
        if no_failover {
            n.flags |= nf::NOFAILOVER;
        } else {
            n.flags &= !nf::NOFAILOVER;
        }
        if n.flags != old_flags {
            self.todo |= todo::SAVE_CONFIG | todo::UPDATE_STATE;
        }
        let n = self.node_mut(me);
        n.port = p;
        n.pport = 0;
        n.cport = c;
        n.hostname = host;
        if !ip.is_empty() {
            n.ip = ip;
        }
    }
}

impl crate::server::Server {
    /// Sets up cluster mode at start-up: reads (or creates) the node config and opens the bus
    /// listeners. Err carries the log text of a fatal problem.
    pub fn cluster_init(&mut self) -> Result<(), String> {
        let path = self.config.value("cluster-config-file");
        let file = nodes_conf::open_locked(&path)?;
        let content = std::fs::read_to_string(&path).map_err(|e| {
            format!(
                "Unrecoverable error opening the cluster config file {}: {}",
                path, e
            )
        })?;
        let timeout = self
            .config
            .value("cluster-node-timeout")
            .parse()
            .unwrap_or(15000);
        let mut cl = Box::new(ClusterState::new(path.clone(), file, timeout));
        let now = crate::util::mstime();
        if nodes_conf::load(&mut cl, &content, now)? {
            crate::log_notice!("Node configuration loaded, I'm {}", cl.me().name_str());
        } else {
            let me = cl.add_node(Node::new(random_name(), nf::MYSELF | nf::MASTER, now));
            cl.myself = me;
            crate::log_notice!("No cluster configuration found, I'm {}", cl.me().name_str());
        }
        cl.update_myself_announced(&self.config);
        if let Err(e) = cl.save_config(true) {
            return Err(format!("Fatal: can't update cluster config file: {}", e));
        }
        let cluster_port = self
            .config
            .value("cluster-port")
            .parse::<i64>()
            .unwrap_or(0);
        let cport = if cluster_port != 0 {
            cluster_port
        } else {
            self.config.port + PORT_INCR
        };
        if self.config.port != 0 && cport > 65535 {
            return Err("Redis port number too high. Cluster communication port is 10,000 port numbers higher than your Redis port. Your Redis port number must be 55535 or less.".into());
        }
        if self.config.port == 0 && cluster_port == 0 {
            return Err("Redis port number must be set when cluster-port is not specified.".into());
        }
        cl.bus.listeners =
            bus::open_listeners(&self.config.bind, cport, self.config.tcp_backlog as i32)?;
        if cl.bus.listeners.len() > bus::MAX_LISTENERS {
            return Err("Too many bind addresses for the cluster bus.".into());
        }
        self.cluster = Some(cl);
        Ok(())
    }

    /// Registers the bus listeners with the event loop (once it exists).
    pub fn cluster_register(&mut self) -> std::io::Result<()> {
        let Some(cl) = self.cluster.as_deref_mut() else {
            return Ok(());
        };
        let registry = self.registry.as_ref().expect("event loop").try_clone()?;
        for (i, l) in cl.bus.listeners.iter_mut().enumerate() {
            registry.register(
                l,
                mio::Token(bus::LISTENER_TOKEN_BASE + i),
                mio::Interest::READABLE,
            )?;
        }
        cl.bus.registry = Some(registry);
        Ok(())
    }

    /// Cluster work of the server cron, 10 times per second.
    pub fn cluster_cron(&mut self) {
        let now = crate::util::mstime();
        let offset = self.cluster_repl_offset();
        let full = self.config.value("cluster-require-full-coverage") == "yes";
        let sendbuf_limit = self
            .config
            .value("cluster-link-sendbuf-limit")
            .parse()
            .unwrap_or(0);
        let Some(cl) = self.cluster.as_deref_mut() else {
            return;
        };
        cl.cron(offset, now, full, sendbuf_limit);
        self.cluster_replica_cron();
        self.cluster_redirect_blocked_clients();
    }

    /// Work queued while handling events: the cluster state, the config file.
    pub fn cluster_before_sleep(&mut self) {
        // Every event-loop pass comes here: nothing at all outside cluster mode.
        if self.cluster.is_none() {
            return;
        }
        self.cluster_drop_shard_channels();
        let Some(cl) = self.cluster.as_deref_mut() else {
            return;
        };
        cl.free_dead_links();
        let todo = std::mem::take(&mut cl.todo);
        if todo & todo::HANDLE_FAILOVER != 0 {
            self.cluster_replica_cron();
        }
        if todo & todo::UPDATE_STATE != 0 {
            let full = self.config.value("cluster-require-full-coverage") == "yes";
            let Some(cl) = self.cluster.as_deref_mut() else {
                return;
            };
            cl.update_state(crate::util::mstime(), full);
        }
        let Some(cl) = self.cluster.as_deref_mut() else {
            return;
        };
        if todo & todo::SAVE_CONFIG != 0 {
            if let Err(e) = cl.save_config(todo & todo::FSYNC_CONFIG != 0) {
                crate::log_warning!("Fatal: can't update cluster config file: {}", e);
                std::process::exit(1);
            }
        }
    }

    /// Deletes the keys of a slot this node no longer serves; how many.
    pub fn cluster_del_keys_in_slot(&mut self, slot: usize) -> usize {
        let keys = self.dbs[0].keys_in_slot_list(slot, usize::MAX);
        for k in &keys {
            self.db_delete(0, k);
            let lazy = self.config.lazyfree_lazy_server_del;
            self.propagate_deletion(0, k, lazy);
            self.notify_keyspace_event(crate::config::table::notify::GENERIC, "del", k, 0);
        }
        keys.len()
    }
}

impl crate::server::Server {
    /// Clients blocked on keys whose slot is served elsewhere now get MOVED, and every
    /// blocked client gets CLUSTERDOWN while the cluster is down (a write that would serve
    /// them may never come). Runs in the cron, as Redis' clientsCron does.
    pub fn cluster_redirect_blocked_clients(&mut self) {
        let Some(cl) = self.cluster.as_deref() else {
            return;
        };
        if self.blocking.states.is_empty() {
            return;
        }
        let endpoint = self.config.value("cluster-preferred-endpoint-type");
        let mut redirects = Vec::new();
        for (&id, st) in self.blocking.states.iter() {
            if !cl.state_ok {
                redirects.push((id, cl.redirect_error(Redirect::DownState, &endpoint)));
                continue;
            }
            let Some(key) = st.keys.first() else {
                continue;
            };
            let slot = key_hash_slot(key);
            let mut owner = cl.slots[slot];
            let readonly = self
                .clients
                .get(&id)
                .is_some_and(|c| c.has(crate::client::flags::READONLY));
            let is_write = st.cmd.is_some_and(|cmd| {
                self.commands.cmds[cmd].flags & crate::commands::spec::flags::WRITE != 0
            });
            if readonly && !is_write && cl.me().is_replica() && cl.me().replicaof == owner {
                owner = cl.myself;
            }
            if owner != cl.myself && cl.importing_from[slot] == NO_NODE {
                let r = if owner == NO_NODE {
                    Redirect::DownUnbound
                } else {
                    Redirect::Moved(slot, owner)
                };
                redirects.push((id, cl.redirect_error(r, &endpoint)));
            }
        }
        for (id, msg) in redirects {
            self.unblock_client_with_error(id, &msg);
        }
    }

    /// The error reply of a redirection.
    pub fn cluster_redirect_error(&self, r: Redirect) -> String {
        let endpoint = self.config.value("cluster-preferred-endpoint-type");
        self.cluster
            .as_deref()
            .map_or_else(String::new, |cl| cl.redirect_error(r, &endpoint))
    }

    /// Cluster routing of a command about to run (Redis' getNodeByQuery in processCommand):
    /// Ok with the slot of its keys (None without keys) when it runs here, or the
    /// redirection to answer.
    pub fn cluster_check_route(
        &mut self,
        c: &crate::client::Client,
        id: crate::commands::CmdId,
        cmd_flags: u64,
        is_exec: bool,
    ) -> Result<Option<usize>, Redirect> {
        use crate::commands::spec::flags;
        let Some(cl) = self.cluster.as_deref() else {
            return Ok(None);
        };
        if c.must_obey() {
            return Ok(None);
        }
        let cmd = &self.commands.cmds[id];
        // Any key spec counts here, shard channels' included (Redis checks key_specs_num).
        let has_keys = !cmd.spec.key_specs.is_empty()
            || cmd.flags & (flags::MOVABLE_KEYS | flags::MODULE_GETKEYS) != 0;
        if !has_keys && !is_exec {
            return Ok(None);
        }
        if is_exec && !c.has(crate::client::flags::MULTI) {
            return Ok(None);
        }
        let _ = cl;
        // The keys of the command, or of every queued command for EXEC.
        let mut argvs: Vec<(crate::commands::CmdId, Vec<Vec<u8>>)> = Vec::new();
        if is_exec {
            for q in &c.multi {
                if let Some(qid) = self.commands.lookup(&q.argv) {
                    argvs.push((qid, q.argv.clone()));
                }
            }
        } else {
            argvs.push((id, c.argv.clone()));
        }
        let mut positions = Vec::with_capacity(argvs.len());
        let mut pubsubshard = false;
        for (cid, argv) in &argvs {
            let name = self.commands.cmds[*cid].fullname.as_str();
            if matches!(name, "ssubscribe" | "sunsubscribe" | "spublish") {
                pubsubshard = true;
            }
            // The pre-7.0 way, as Redis' getKeysFromCommand: the command's extractor, a
            // module's callback, or the legacy range (which spans shard channels too).
            let cmd = &self.commands.cmds[*cid];
            let keys = if cmd.flags & flags::MODULE_GETKEYS != 0 && cmd.module_cmd.is_some() {
                crate::module::getkeys::get_keys(self, *cid, argv).unwrap_or_default()
            } else {
                crate::commands::keyspec::keys_legacy(cmd.spec, argv)
            };
            positions.push(keys);
        }
        let keys: Vec<Vec<&[u8]>> = argvs
            .iter()
            .zip(&positions)
            .map(|((_, argv), pos)| pos.iter().map(|k| &argv[k.pos][..]).collect())
            .collect();
        let is_write = if is_exec {
            self.queued_flags(c) & flags::WRITE != 0
        } else {
            cmd_flags & flags::WRITE != 0
        };
        let is_migrate = self.commands.cmds[id].fullname == "migrate";
        let asking = c.has(crate::client::flags::ASKING) || cmd_flags & flags::ASKING != 0;
        let readonly = c.has(crate::client::flags::READONLY);
        let now = self.now_ms();
        let db0 = &self.dbs[0];
        let mut exists = |key: &[u8]| {
            db0.dict.contains_key(key) && db0.expire_of(key).is_none_or(|when| when > now)
        };
        let Some(cl) = self.cluster.as_deref() else {
            return Ok(None);
        };
        cl.route(
            &keys,
            is_write,
            asking,
            readonly,
            is_migrate,
            pubsubshard,
            cl.allow_reads_when_down,
            cl.allow_pubsubshard_when_down,
            &mut exists,
        )
    }
}

impl crate::server::Server {
    /// After loading the dataset at start-up: keys must be in DB 0 only, and every slot we
    /// hold keys for must be ours (an unassigned one is taken) or being imported (one owned by
    /// another node is set importing). False when another DB has keys (Redis then exits).
    pub fn cluster_verify_config_with_data(&mut self) -> bool {
        let Some(cl) = self.cluster.as_deref() else {
            return true;
        };
        if cl.module_flags & module_flags::NO_REDIRECTION != 0 || cl.me().is_replica() {
            return true;
        }
        if self.dbs.iter().skip(1).any(|d| !d.is_empty()) {
            return false;
        }
        let populated: Vec<usize> = (0..SLOTS)
            .filter(|&j| self.dbs[0].keys_in_slot(j) > 0)
            .collect();
        let cl = self.cluster.as_deref_mut().expect("checked");
        let me = cl.myself;
        let mut changed = false;
        for j in populated {
            if cl.slots[j] == me || cl.importing_from[j] != NO_NODE {
                continue;
            }
            changed = true;
            if cl.slots[j] == NO_NODE {
                crate::log_warning!(
                    "I have keys for unassigned slot {}. Taking responsibility for it.",
                    j
                );
                cl.add_slot(me, j);
            } else {
                crate::log_warning!(
                    "I have keys for slot {}, but the slot is assigned to another node. Setting it to importing state.",
                    j
                );
                cl.importing_from[j] = cl.slots[j];
            }
        }
        if changed {
            if let Err(e) = cl.save_config(true) {
                crate::log_warning!("Fatal: can't update cluster config file: {}", e);
                std::process::exit(1);
            }
        }
        true
    }
}

impl crate::server::Server {
    /// Unsubscribes every client from the shard channels of the slots our shard stopped
    /// serving, each told with an `sunsubscribe` (Redis' removeChannelsInSlot).
    pub fn cluster_drop_shard_channels(&mut self) {
        let Some(cl) = self.cluster.as_deref_mut() else {
            return;
        };
        if cl.unsubscribe_slots.is_empty() {
            return;
        }
        let slots: std::collections::HashSet<usize> = cl.unsubscribe_slots.drain(..).collect();
        if self.pubsub.shard_channels.is_empty() {
            return;
        }
        let channels: Vec<Vec<u8>> = self
            .pubsub
            .shard_channels
            .keys()
            .filter(|ch| slots.contains(&key_hash_slot(ch)))
            .cloned()
            .collect();
        for ch in channels {
            let ids = self
                .pubsub
                .shard_channels
                .get(&ch)
                .cloned()
                .unwrap_or_default();
            for id in ids {
                let Some(mut c) = self.clients.remove(&id) else {
                    continue;
                };
                self.unsubscribe_channel(&mut c, &ch, true, true);
                self.update_pubsub_flag(&mut c);
                self.clients.insert(id, c);
                self.mark_pending_write(id);
            }
            self.pubsub.shard_channels.remove(&ch);
        }
    }
}
