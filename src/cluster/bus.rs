//! The cluster bus: TCP links to and from the other nodes (on the bus port, by default the
//! client port + 10000), the messages this node sends (PING/PONG/MEET with gossip, FAIL,
//! UPDATE, PUBLISH, module messages) and what it does with the ones it receives — Redis
//! 7.0's clusterProcessPacket, so it can share a cluster with redis-server nodes.
//!
//! Links live in a slab; their event-loop token is `LINK_TOKEN_BASE + index`. Output is
//! written at once when the socket takes it, the rest when it becomes writable. A link that
//! fails is marked dead and freed after the event being handled.

use std::io::{self, Read, Write};

use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Registry, Token};

use super::msg::{self, msg_type as mt, node_flags as nf, Body, Gossip, Header, Message};
use super::{todo, ClusterState, Node, NodeId, NO_NODE};
use crate::server::Server;

pub type LinkId = usize;

/// Event-loop tokens: bus listeners, then links.
pub const LISTENER_TOKEN_BASE: usize = usize::MAX - 256;
pub const MAX_LISTENERS: usize = 16;
pub const LINK_TOKEN_BASE: usize = 1 << 61;

pub struct Link {
    pub stream: TcpStream,
    pub ctime: i64,
    /// The node at the other end; NO_NODE for an inbound link not yet identified.
    pub node: NodeId,
    pub inbound: bool,
    /// An outbound link is usable once its connect completed.
    pub connected: bool,
    pub sndbuf: Vec<u8>,
    pub rcvbuf: Vec<u8>,
    pub dead: bool,
}

pub struct Bus {
    pub links: Vec<Option<Link>>,
    pub listeners: Vec<TcpListener>,
    pub registry: Option<Registry>,
    /// `cluster-node-timeout`, cached for the cron.
    pub node_timeout: i64,
    /// What this node announces: client port, plaintext port, bus port, IP, hostname.
    pub port: u16,
    pub pport: u16,
    pub cport: u16,
    pub announce_ip: String,
    pub hostname: String,
    pub dead_links: bool,
}

impl Bus {
    pub fn new(node_timeout: i64) -> Bus {
        Bus {
            links: Vec::new(),
            listeners: Vec::new(),
            registry: None,
            node_timeout,
            port: 0,
            pport: 0,
            cport: 0,
            announce_ip: String::new(),
            hostname: String::new(),
            dead_links: false,
        }
    }

    pub fn link(&self, id: LinkId) -> Option<&Link> {
        self.links.get(id).and_then(Option::as_ref)
    }

    /// Memory a link holds (its buffers and itself), as `cluster-link-sendbuf-limit` and INFO
    /// `mem_cluster_links` count it.
    pub fn link_mem(&self, id: LinkId) -> usize {
        self.link(id).map_or(0, |l| {
            std::mem::size_of::<Link>() + l.sndbuf.capacity() + l.rcvbuf.capacity()
        })
    }

    /// Memory of every link (INFO `mem_cluster_links`).
    pub fn links_mem(&self) -> usize {
        (0..self.links.len()).map(|i| self.link_mem(i)).sum()
    }

    fn add_link(&mut self, link: Link) -> LinkId {
        match self.links.iter().position(Option::is_none) {
            Some(i) => {
                self.links[i] = Some(link);
                i
            }
            None => {
                self.links.push(Some(link));
                self.links.len() - 1
            }
        }
    }

    /// Registers a new connection with the event loop and adds its link: outbound links wait
    /// for their connect to complete, inbound ones are usable at once.
    fn open_link(
        &mut self,
        mut stream: TcpStream,
        node: NodeId,
        inbound: bool,
        now: i64,
    ) -> Option<LinkId> {
        let _ = stream.set_nodelay(true);
        let lid = self
            .links
            .iter()
            .position(Option::is_none)
            .unwrap_or(self.links.len());
        if let Some(r) = self.registry.as_ref() {
            r.register(
                &mut stream,
                Token(LINK_TOKEN_BASE + lid),
                Interest::READABLE | Interest::WRITABLE,
            )
            .ok()?;
        }
        let got = self.add_link(Link {
            stream,
            ctime: now,
            node,
            inbound,
            connected: inbound,
            sndbuf: Vec::new(),
            rcvbuf: Vec::new(),
            dead: false,
        });
        debug_assert_eq!(got, lid);
        Some(lid)
    }

    /// Closes a link's socket and forgets it (nodes pointing at it are the caller's business).
    pub fn free_link(&mut self, id: LinkId) {
        if let Some(mut l) = self.links.get_mut(id).and_then(Option::take) {
            if let Some(r) = self.registry.as_ref() {
                let _ = r.deregister(&mut l.stream);
            }
        }
    }

    /// Writes what the socket takes now; false when the link failed.
    fn flush(&mut self, id: LinkId) -> bool {
        let Some(l) = self.links.get_mut(id).and_then(Option::as_mut) else {
            return false;
        };
        if !l.connected {
            return true;
        }
        while !l.sndbuf.is_empty() {
            match l.stream.write(&l.sndbuf) {
                Ok(0) => return false,
                Ok(n) => {
                    l.sndbuf.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        true
    }
}

/// Opens the bus listeners on every bind address.
pub fn open_listeners(
    bind: &[String],
    cport: i64,
    backlog: i32,
) -> Result<Vec<TcpListener>, String> {
    let listeners = crate::ae::open_tcp_listeners(bind, cport, backlog)?;
    Ok(listeners
        .into_iter()
        .filter_map(|l| match l {
            crate::ae::Listener::Tcp(l, _) => Some(l),
            crate::ae::Listener::Unix(..) => None,
        })
        .collect())
}

impl ClusterState {
    /// Frees a link and clears the node's reference to it.
    pub fn free_link(&mut self, id: LinkId) {
        if let Some(l) = self.bus.link(id) {
            let node = l.node;
            if node != NO_NODE {
                if let Some(n) = self.nodes.get_mut(node as usize).and_then(Option::as_mut) {
                    if n.link == Some(id) {
                        n.link = None;
                    }
                    if n.inbound_link == Some(id) {
                        n.inbound_link = None;
                    }
                }
            }
        }
        self.bus.free_link(id);
    }

    /// Frees the links that failed while handling events.
    pub fn free_dead_links(&mut self) {
        if !self.bus.dead_links {
            return;
        }
        self.bus.dead_links = false;
        let dead: Vec<LinkId> = (0..self.bus.links.len())
            .filter(|&i| self.bus.link(i).is_some_and(|l| l.dead))
            .collect();
        for id in dead {
            self.free_link(id);
        }
    }

    fn mark_dead(&mut self, id: LinkId) {
        if let Some(l) = self.bus.links.get_mut(id).and_then(Option::as_mut) {
            l.dead = true;
            self.bus.dead_links = true;
        }
    }

    /// Opens an outbound link to a node; the connect completes in the event loop, which
    /// then sends the PING (or MEET).
    fn connect_node(&mut self, id: NodeId, now: i64) {
        let (ip, cport) = {
            let n = self.node(id);
            (n.ip.clone(), n.cport)
        };
        let connected = ip
            .parse::<std::net::IpAddr>()
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
            .and_then(|a| TcpStream::connect(std::net::SocketAddr::new(a, cport)));
        let stream = match connected {
            Ok(s) => s,
            Err(e) => {
                if self.node(id).ping_sent == 0 {
                    self.node_mut(id).ping_sent = now;
                }
                crate::log_debug!(
                    "Unable to connect to Cluster Node [{}]:{} -> {}",
                    ip,
                    cport,
                    e
                );
                return;
            }
        };
        let Some(lid) = self.bus.open_link(stream, id, false, now) else {
            return;
        };
        self.node_mut(id).link = Some(lid);
    }

    /// The header every message starts with: who we are, our slots (our master's if we are a
    /// replica), epochs, offset, addresses and state.
    pub fn header(&self, msg_type: u16, repl_offset: u64) -> Header {
        let me = self.me();
        let master = if me.is_replica() && me.replicaof != NO_NODE {
            self.node(me.replicaof)
        } else {
            me
        };
        Header {
            msg_type,
            count: 0,
            current_epoch: self.current_epoch,
            config_epoch: master.config_epoch,
            offset: repl_offset,
            sender: me.name,
            myslots: master.slots.clone(),
            slaveof: (me.replicaof != NO_NODE).then(|| self.node(me.replicaof).name),
            myip: self.bus.announce_ip.clone(),
            port: self.bus.port,
            pport: self.bus.pport,
            cport: self.bus.cport,
            flags: me.flags,
            state: if self.state_ok { 0 } else { 1 },
            mflags: [
                if me.is_master() && self.failover.mf_end != 0 {
                    msg::mflags0::PAUSED
                } else {
                    0
                },
                0,
                0,
            ],
        }
    }

    /// Queues a message on a link and writes what the socket takes.
    pub fn send(&mut self, link: LinkId, m: &Message) {
        if self.bus.link(link).is_none() {
            return;
        }
        let bytes = msg::encode(m);
        let t = m.header.msg_type as usize;
        if t < self.stats_sent.len() {
            self.stats_sent[t] += 1;
        }
        if let Some(l) = self.bus.links[link].as_mut() {
            l.sndbuf.extend_from_slice(&bytes);
        }
        if !self.bus.flush(link) {
            self.mark_dead(link);
        }
    }

    /// Sends a message to every node we have a working link to (handshakes excluded).
    pub fn broadcast(&mut self, m: &Message) {
        for id in self.node_ids() {
            let n = self.node(id);
            if n.flags & (nf::MYSELF | nf::HANDSHAKE) != 0 {
                continue;
            }
            if let Some(l) = n.link {
                self.send(l, m);
            }
        }
    }

    fn gossip_entry(&self, id: NodeId) -> Gossip {
        let n = self.node(id);
        Gossip {
            name: n.name,
            ping_sent: (n.ping_sent / 1000) as u32,
            pong_received: (n.pong_received / 1000) as u32,
            ip: n.ip.clone(),
            port: n.port,
            cport: n.cport,
            flags: n.flags,
            pport: n.pport,
        }
    }

    /// PING, PONG or MEET with gossip about a few random nodes (a tenth of the cluster, at
    /// least 3) plus every node we think may be failing, so that failure reports spread.
    pub fn send_ping(&mut self, link: LinkId, msg_type: u16, repl_offset: u64, now: i64) {
        use rand::seq::SliceRandom;
        let Some(l) = self.bus.link(link) else {
            return;
        };
        let (inbound, lnode) = (l.inbound, l.node);
        self.pings_sent += 1;
        let ping_no = self.pings_sent;
        let total = self.known_nodes();
        let mut fresh = total.saturating_sub(2);
        let wanted = (total / 10).max(3).min(fresh);
        if !inbound && msg_type == mt::PING && lnode != NO_NODE {
            self.node_mut(lnode).ping_sent = now;
        }
        let header = self.header(msg_type, repl_offset);
        let ids = self.node_ids();
        let mut gossip = Vec::new();
        let mut rng = rand::thread_rng();
        let mut tries = wanted * 3;
        while fresh > 0 && gossip.len() < wanted && tries > 0 {
            tries -= 1;
            let &id = ids.choose(&mut rng).expect("myself at least");
            if id == self.myself {
                continue;
            }
            let n = self.node(id);
            if n.flags & nf::PFAIL != 0 {
                continue;
            }
            if n.flags & (nf::HANDSHAKE | nf::NOADDR) != 0 || (n.link.is_none() && n.numslots == 0)
            {
                fresh -= 1;
                continue;
            }
            if n.last_in_ping_gossip == ping_no {
                continue;
            }
            gossip.push(self.gossip_entry(id));
            self.node_mut(id).last_in_ping_gossip = ping_no;
            fresh -= 1;
        }
        let mut pfail_wanted = self.stats_pfail_nodes;
        for &id in &ids {
            if pfail_wanted == 0 {
                break;
            }
            let n = self.node(id);
            if n.flags & (nf::HANDSHAKE | nf::NOADDR) != 0 || n.flags & nf::PFAIL == 0 {
                continue;
            }
            gossip.push(self.gossip_entry(id));
            pfail_wanted -= 1;
        }
        let hostname = (!self.bus.hostname.is_empty()).then(|| self.bus.hostname.clone());
        let m = Message {
            header,
            body: Body::Ping { gossip, hostname },
        };
        self.send(link, &m);
    }

    /// Tells every node that `name` failed.
    pub fn broadcast_fail(&mut self, name: msg::NodeName) {
        let m = Message {
            header: self.header(mt::FAIL, 0),
            body: Body::Fail { about: name },
        };
        self.broadcast(&m);
    }

    /// Tells a node whose slot claims are stale who owns them now, with which epoch.
    fn send_update(&mut self, link: Option<LinkId>, about: NodeId) {
        let Some(link) = link else {
            return;
        };
        let n = self.node(about);
        let m = Message {
            header: self.header(mt::UPDATE, 0),
            body: Body::Update {
                config_epoch: n.config_epoch,
                node: n.name,
                slots: n.slots.clone(),
            },
        };
        self.send(link, &m);
    }

    /// A PONG to every node we have a link to, so a configuration change spreads at once.
    pub fn broadcast_pong(&mut self, repl_offset: u64, now: i64) {
        for id in self.node_ids() {
            let n = self.node(id);
            if n.flags & (nf::MYSELF | nf::HANDSHAKE) != 0 {
                continue;
            }
            if let Some(l) = n.link {
                self.send_ping(l, mt::PONG, repl_offset, now);
            }
        }
    }

    /// Updates a node's address from a message on a link other than ours to it; true if it
    /// changed (our link to the old address is then dropped).
    fn update_address_if_needed(
        &mut self,
        id: NodeId,
        link: LinkId,
        h: &Header,
        peer_ip: &str,
    ) -> bool {
        if self.node(id).link == Some(link) {
            return false;
        }
        let ip = if h.myip.is_empty() {
            peer_ip.to_string()
        } else {
            h.myip.clone()
        };
        let n = self.node(id);
        if n.port == h.port && n.cport == h.cport && n.pport == h.pport && n.ip == ip {
            return false;
        }
        let old_link = n.link;
        let n = self.node_mut(id);
        n.ip = ip;
        n.port = h.port;
        n.pport = h.pport;
        n.cport = h.cport;
        n.flags &= !nf::NOADDR;
        crate::log_warning!(
            "Address updated for node {}, now {}:{}",
            n.name_str(),
            n.ip,
            n.port
        );
        if let Some(l) = old_link {
            self.free_link(l);
        }
        true
    }

    /// The gossip section: failure reports from masters, fresher pong times, addresses of
    /// nodes coming back, and nodes we did not know (we start a handshake with them).
    fn process_gossip(&mut self, sender: Option<NodeId>, gossip: &[Gossip], now: i64) {
        for g in gossip {
            match self.lookup(&g.name) {
                Some(id) => {
                    if let Some(s) = sender {
                        if self.node(s).is_master() && id != self.myself {
                            if g.flags & (nf::FAIL | nf::PFAIL) != 0 {
                                if self.add_fail_report(id, s, now) {
                                    crate::log_verbose!(
                                        "Node {} reported node {} as not reachable.",
                                        self.node(s).name_str(),
                                        self.node(id).name_str()
                                    );
                                }
                                self.mark_failing_if_needed(id, now);
                            } else if self.del_fail_report(id, s, now) {
                                crate::log_verbose!(
                                    "Node {} reported node {} is back online.",
                                    self.node(s).name_str(),
                                    self.node(id).name_str()
                                );
                            }
                        }
                    }
                    if g.flags & (nf::FAIL | nf::PFAIL) == 0
                        && self.node(id).ping_sent == 0
                        && self.fail_reports_count(id, now) == 0
                    {
                        let pongtime = i64::from(g.pong_received) * 1000;
                        let n = self.node_mut(id);
                        if pongtime <= now + 500 && pongtime > n.pong_received {
                            n.pong_received = pongtime;
                        }
                    }
                    let n = self.node(id);
                    if n.flags & (nf::FAIL | nf::PFAIL) != 0
                        && g.flags & nf::NOADDR == 0
                        && g.flags & (nf::FAIL | nf::PFAIL) == 0
                        && (!n.ip.eq_ignore_ascii_case(&g.ip)
                            || n.port != g.port
                            || n.cport != g.cport)
                    {
                        if let Some(l) = n.link {
                            self.free_link(l);
                        }
                        let n = self.node_mut(id);
                        n.ip = g.ip.clone();
                        n.port = g.port;
                        n.pport = g.pport;
                        n.cport = g.cport;
                        n.flags &= !nf::NOADDR;
                    }
                }
                None => {
                    let blacklisted = self
                        .blacklist
                        .get(&g.name)
                        .is_some_and(|&until| until >= now / 1000);
                    if sender.is_some() && g.flags & nf::NOADDR == 0 && !blacklisted {
                        let mut n = Node::new(g.name, g.flags, now);
                        n.ip = g.ip.clone();
                        n.port = g.port;
                        n.pport = g.pport;
                        n.cport = g.cport;
                        self.add_node(n);
                    }
                }
            }
        }
    }
}

/// What a received message asks of the rest of the server.
#[derive(Default)]
pub struct Effects {
    pub publish: Vec<(Vec<u8>, Vec<u8>, bool)>,
    pub module_messages: Vec<(msg::NodeName, u64, u8, Vec<u8>)>,
    /// Slot claims adopted: keys to drop, or a master to follow.
    pub slots: super::SlotsUpdate,
    /// A replica asked us (its master) to step aside: (replica, its link).
    pub mfstart: Option<(NodeId, LinkId)>,
}

impl ClusterState {
    /// Handles one message received on a link (Redis' clusterProcessPacket).
    pub fn process_message(
        &mut self,
        link: LinkId,
        m: Message,
        repl_offset: u64,
        now: i64,
        keys_in_slot: &dyn Fn(usize) -> usize,
        allow_replica_migration: bool,
    ) -> Effects {
        let mut fx = Effects::default();
        let h = &m.header;
        let t = h.msg_type;
        if (t as usize) < self.stats_received.len() {
            self.stats_received[t as usize] += 1;
        }
        if i32::from(t) == self.drop_packet_filter {
            crate::log_warning!("Dropping packet that matches debug drop filter");
            return fx;
        }
        let Some(l) = self.bus.link(link) else {
            return fx;
        };
        let (inbound, lnode) = (l.inbound, l.node);
        let peer_ip = l
            .stream
            .peer_addr()
            .map(|a| a.ip().to_string())
            .unwrap_or_default();
        let local_ip = l
            .stream
            .local_addr()
            .map(|a| a.ip().to_string())
            .unwrap_or_default();
        // The sender: the link's node once identified, otherwise by the name it gives.
        let sender = if lnode != NO_NODE && !self.node(lnode).in_handshake() {
            Some(lnode)
        } else {
            let s = self.lookup(&h.sender);
            if let Some(s) = s {
                if lnode == NO_NODE && inbound {
                    if let Some(old) = self.node(s).inbound_link {
                        if old != link {
                            self.free_link(old);
                        }
                    }
                    self.node_mut(s).inbound_link = Some(link);
                    if let Some(l) = self.bus.links[link].as_mut() {
                        l.node = s;
                    }
                }
            }
            s
        };
        if let Some(s) = sender {
            self.node_mut(s).data_received = now;
            if !self.node(s).in_handshake() {
                if h.current_epoch > self.current_epoch {
                    self.current_epoch = h.current_epoch;
                }
                if h.config_epoch > self.node(s).config_epoch {
                    self.node_mut(s).config_epoch = h.config_epoch;
                    self.todo |= todo::SAVE_CONFIG | todo::FSYNC_CONFIG;
                }
                self.node_mut(s).repl_offset = h.offset;
                // A manual failover: our master paused, at this offset.
                let me = self.me();
                if self.failover.mf_end != 0
                    && me.is_replica()
                    && me.replicaof == s
                    && h.mflags[0] & msg::mflags0::PAUSED != 0
                    && self.failover.mf_master_offset == -1
                {
                    self.failover.mf_master_offset = h.offset as i64;
                    crate::log_warning!(
                        "Received replication offset for paused master manual failover: {}",
                        h.offset
                    );
                }
            }
        }
        let ping_like = matches!(t, mt::PING | mt::PONG | mt::MEET);
        if t == mt::PING || t == mt::MEET {
            // Nodes reach us at our real address: learn it from a MEET (or any ping while we
            // have none), unless one is announced.
            if (t == mt::MEET || self.me().ip.is_empty())
                && self.bus.announce_ip.is_empty()
                && !local_ip.is_empty()
                && self.me().ip != local_ip
            {
                let me = self.myself;
                self.node_mut(me).ip = local_ip.clone();
                crate::log_warning!("IP address for this node updated to {}", local_ip);
                self.todo |= todo::SAVE_CONFIG;
            }
            if sender.is_none() && t == mt::MEET {
                let mut n = Node::new(super::random_name(), nf::HANDSHAKE, now);
                n.ip = if h.myip.is_empty() {
                    peer_ip.clone()
                } else {
                    h.myip.clone()
                };
                n.port = h.port;
                n.pport = h.pport;
                n.cport = h.cport;
                self.add_node(n);
                self.todo |= todo::SAVE_CONFIG;
                if let Body::Ping { gossip, .. } = &m.body {
                    self.process_gossip(None, gossip, now);
                }
            }
            self.send_ping(link, mt::PONG, repl_offset, now);
        }
        if ping_like {
            if !inbound && lnode != NO_NODE {
                if self.node(lnode).in_handshake() {
                    if let Some(s) = sender {
                        // We know this node already under its real name: update its address
                        // and drop the placeholder (and with it this link).
                        if self.update_address_if_needed(s, link, h, &peer_ip) {
                            self.todo |= todo::SAVE_CONFIG | todo::UPDATE_STATE;
                        }
                        self.del_node(lnode);
                        return fx;
                    }
                    self.rename_node(lnode, h.sender);
                    let n = self.node_mut(lnode);
                    crate::log_debug!("Handshake with node {} completed.", n.name_str());
                    n.flags &= !nf::HANDSHAKE;
                    n.flags |= h.flags & (nf::MASTER | nf::SLAVE);
                    self.todo |= todo::SAVE_CONFIG;
                } else if self.node(lnode).name != h.sender {
                    // Somebody else answers at this address now.
                    let n = self.node_mut(lnode);
                    n.flags |= nf::NOADDR;
                    n.ip.clear();
                    n.port = 0;
                    n.pport = 0;
                    n.cport = 0;
                    self.free_link(link);
                    self.todo |= todo::SAVE_CONFIG;
                    return fx;
                }
            }
            if let Some(s) = sender {
                let n = self.node_mut(s);
                n.flags = (n.flags & !nf::NOFAILOVER) | (h.flags & nf::NOFAILOVER);
                if t == mt::PING
                    && !self.node(s).in_handshake()
                    && self.update_address_if_needed(s, link, h, &peer_ip)
                {
                    self.todo |= todo::SAVE_CONFIG | todo::UPDATE_STATE;
                }
            }
            if !inbound && t == mt::PONG && lnode != NO_NODE {
                let n = self.node_mut(lnode);
                n.pong_received = now;
                n.ping_sent = 0;
                if n.timed_out() {
                    n.flags &= !nf::PFAIL;
                    self.todo |= todo::SAVE_CONFIG | todo::UPDATE_STATE;
                } else if n.failed() {
                    self.clear_failure_if_needed(lnode, now);
                }
            }
            // Role changes.
            if let Some(s) = sender {
                match h.slaveof {
                    None => self.set_node_as_master(s),
                    Some(mname) => {
                        let master = self.lookup(&mname);
                        if self.node(s).is_master() {
                            self.del_node_slots(s);
                            let n = self.node_mut(s);
                            n.flags &= !(nf::MASTER | nf::MIGRATE_TO);
                            n.flags |= nf::SLAVE;
                            self.todo |= todo::SAVE_CONFIG | todo::UPDATE_STATE;
                        }
                        if let Some(master) = master {
                            if self.node(s).replicaof != master {
                                self.set_replica_of(s, master);
                                self.todo |= todo::SAVE_CONFIG;
                            }
                        }
                    }
                }
            }
            // Slots: adopt newer claims; tell a node whose claims are stale.
            let mut dirty_slots = false;
            if let Some(s) = sender {
                let sm = if self.node(s).is_master() {
                    s
                } else {
                    self.node(s).replicaof
                };
                if sm != NO_NODE {
                    dirty_slots = self.node(sm).slots[..] != h.myslots[..];
                }
                if self.node(s).is_master() && dirty_slots {
                    fx.slots = self.update_slots_config_with(
                        s,
                        h.config_epoch,
                        &h.myslots,
                        keys_in_slot,
                        allow_replica_migration,
                    );
                }
                if dirty_slots {
                    for j in 0..msg::SLOTS {
                        if !msg::slot_bit(&h.myslots, j) {
                            continue;
                        }
                        let owner = self.slots[j];
                        if owner == s || self.slot_unclaimed(j) {
                            continue;
                        }
                        if self.node(owner).config_epoch > h.config_epoch {
                            crate::log_verbose!(
                                "Node {} has old slots configuration, sending an UPDATE message about {}",
                                self.node(s).name_str(),
                                self.node(owner).name_str()
                            );
                            let l = self.node(s).link;
                            self.send_update(l, owner);
                            break;
                        }
                    }
                }
                if self.me().is_master()
                    && self.node(s).is_master()
                    && h.config_epoch == self.me().config_epoch
                {
                    self.handle_config_epoch_collision(s);
                }
                if let Body::Ping { gossip, hostname } = &m.body {
                    self.process_gossip(Some(s), gossip, now);
                    let n = self.node_mut(s);
                    n.hostname = hostname.clone().unwrap_or_default();
                }
            }
            return fx;
        }
        match (t, &m.body) {
            (mt::FAIL, Body::Fail { about }) => {
                if sender.is_some() {
                    if let Some(f) = self.lookup(about) {
                        if self.node(f).flags & (nf::FAIL | nf::MYSELF) == 0 {
                            crate::log_notice!(
                                "FAIL message received from {} about {}",
                                String::from_utf8_lossy(&h.sender),
                                String::from_utf8_lossy(about)
                            );
                            let n = self.node_mut(f);
                            n.flags |= nf::FAIL;
                            n.fail_time = now;
                            n.flags &= !nf::PFAIL;
                            self.todo |= todo::SAVE_CONFIG | todo::UPDATE_STATE;
                        }
                    }
                } else {
                    crate::log_notice!(
                        "Ignoring FAIL message from unknown node {} about {}",
                        String::from_utf8_lossy(&h.sender),
                        String::from_utf8_lossy(about)
                    );
                }
            }
            (mt::PUBLISH | mt::PUBLISHSHARD, Body::Publish { channel, message }) => {
                if sender.is_some() {
                    fx.publish
                        .push((channel.clone(), message.clone(), t == mt::PUBLISHSHARD));
                }
            }
            (
                mt::UPDATE,
                Body::Update {
                    config_epoch,
                    node,
                    slots,
                },
            ) => {
                let Some(_) = sender else {
                    return fx;
                };
                let Some(n) = self.lookup(node) else {
                    return fx;
                };
                if self.node(n).config_epoch >= *config_epoch {
                    return fx;
                }
                if self.node(n).is_replica() {
                    self.set_node_as_master(n);
                }
                self.node_mut(n).config_epoch = *config_epoch;
                self.todo |= todo::SAVE_CONFIG | todo::FSYNC_CONFIG;
                fx.slots = self.update_slots_config_with(
                    n,
                    *config_epoch,
                    slots,
                    keys_in_slot,
                    allow_replica_migration,
                );
            }
            (
                mt::MODULE,
                Body::Module {
                    module_id,
                    module_type,
                    payload,
                },
            ) => {
                if let Some(s) = sender {
                    fx.module_messages.push((
                        self.node(s).name,
                        *module_id,
                        *module_type,
                        payload.clone(),
                    ));
                }
            }
            (mt::FAILOVER_AUTH_REQUEST, _) => {
                if let Some(s) = sender {
                    self.vote_if_needed(s, h, now);
                }
            }
            (mt::FAILOVER_AUTH_ACK, _) => {
                // A vote counts from a master serving slots, for this election or a later one.
                if let Some(s) = sender {
                    let n = self.node(s);
                    if n.is_master()
                        && n.numslots > 0
                        && h.current_epoch >= self.failover.auth_epoch
                    {
                        self.failover.auth_count += 1;
                        self.todo |= todo::HANDLE_FAILOVER;
                    }
                }
            }
            (mt::MFSTART, _) => {
                // Only from one of our replicas, while we are a master.
                if let Some(s) = sender {
                    if self.node(s).replicaof == self.myself {
                        fx.mfstart = Some((s, link));
                    }
                }
            }
            _ => {
                if (t as usize) >= mt::COUNT {
                    crate::log_warning!("Received unknown packet type: {}", t);
                }
            }
        }
        fx
    }

    /// The bus part of the cluster cron, run 10 times per second (Redis' clusterCron):
    /// connects to nodes without a link, pings, detects timeouts (PFAIL), and drops links
    /// that stopped answering.
    pub fn cron(
        &mut self,
        repl_offset: u64,
        now: i64,
        require_full_coverage: bool,
        sendbuf_limit: usize,
    ) {
        self.iteration += 1;
        // A link whose output piles up (the peer stopped reading) is dropped, and remade.
        if sendbuf_limit > 0 {
            for id in self.node_ids() {
                let n = self.node(id);
                for (l, dir) in [(n.link, "to"), (n.inbound_link, "from")] {
                    let Some(l) = l else { continue };
                    let used = self.bus.link_mem(l);
                    if used > sendbuf_limit {
                        crate::log_warning!(
                            "Freeing cluster link({} node {}, used memory: {}) due to exceeding send buffer memory limit.",
                            dir,
                            self.node(id).name_str(),
                            used
                        );
                        self.free_link(l);
                        self.links_buffer_limit_exceeded += 1;
                    }
                }
            }
        }
        let handshake_timeout = self.node_timeout().max(1000);
        self.stats_pfail_nodes = 0;
        let mut update_state = false;
        // Blacklist entries expire.
        let now_s = now / 1000;
        self.blacklist.retain(|_, until| *until >= now_s);
        for id in self.node_ids() {
            if self.nodes[id as usize].is_none() {
                continue;
            }
            let n = self.node(id);
            let (flags, ctime, has_link) = (n.flags, n.ctime, n.link.is_some());
            if flags & (nf::MYSELF | nf::NOADDR) != 0 {
                continue;
            }
            if flags & nf::PFAIL != 0 {
                self.stats_pfail_nodes += 1;
            }
            if flags & nf::HANDSHAKE != 0 && now - ctime > handshake_timeout {
                self.del_node(id);
                continue;
            }
            if !has_link {
                self.connect_node(id, now);
            }
        }
        // Every second, ping one of a few random nodes: the one we heard from least recently.
        if self.iteration.is_multiple_of(10) {
            use rand::seq::SliceRandom;
            let ids = self.node_ids();
            let mut rng = rand::thread_rng();
            let mut best: Option<(NodeId, i64)> = None;
            for _ in 0..5 {
                let &id = ids.choose(&mut rng).expect("myself at least");
                let n = self.node(id);
                if n.link.is_none() || n.ping_sent != 0 {
                    continue;
                }
                if n.flags & (nf::MYSELF | nf::HANDSHAKE) != 0 {
                    continue;
                }
                if best.is_none_or(|(_, p)| p > n.pong_received) {
                    best = Some((id, n.pong_received));
                }
            }
            if let Some((id, _)) = best {
                if let Some(l) = self.node(id).link {
                    if self.bus.link(l).is_some_and(|l| l.connected) {
                        self.send_ping(l, mt::PING, repl_offset, now);
                    }
                }
            }
        }
        let timeout = self.node_timeout();
        for id in self.node_ids() {
            let n = self.node(id);
            if n.flags & (nf::MYSELF | nf::NOADDR | nf::HANDSHAKE) != 0 {
                continue;
            }
            let ping_delay = now - n.ping_sent;
            let data_delay = now - n.data_received;
            if let Some(l) = n.link {
                let lctime = self.bus.link(l).map_or(now, |l| l.ctime);
                if now - lctime > timeout
                    && n.ping_sent != 0
                    && ping_delay > timeout / 2
                    && data_delay > timeout / 2
                {
                    // The link looks dead: reconnect (the node keeps its ping_sent).
                    self.free_link(l);
                }
            }
            let n = self.node(id);
            if let Some(l) = n.link {
                if n.ping_sent == 0 && now - n.pong_received > timeout / 2 {
                    if self.bus.link(l).is_some_and(|l| l.connected) {
                        self.send_ping(l, mt::PING, repl_offset, now);
                    }
                    continue;
                }
            }
            let n = self.node(id);
            if n.ping_sent == 0 {
                continue;
            }
            let node_delay = ping_delay.min(data_delay);
            if node_delay > timeout && n.flags & (nf::PFAIL | nf::FAIL) == 0 {
                crate::log_debug!("*** NODE {} possibly failing", n.name_str());
                self.node_mut(id).flags |= nf::PFAIL;
                update_state = true;
            }
        }
        self.free_dead_links();
        if update_state || !self.state_ok {
            self.update_state(now, require_full_coverage);
        }
    }
}

impl Server {
    /// Handles an event-loop event if its token is the cluster bus's (a listener or a link);
    /// false for any other token. The main loop and nested passes both dispatch through it.
    pub fn cluster_dispatch(&mut self, token: usize, readable: bool, writable: bool) -> bool {
        if (LINK_TOKEN_BASE..crate::module::eventloop::FD_TOKEN_BASE).contains(&token) {
            self.cluster_link_event(token - LINK_TOKEN_BASE, readable, writable);
            return true;
        }
        if (LISTENER_TOKEN_BASE..LISTENER_TOKEN_BASE + MAX_LISTENERS).contains(&token) {
            self.cluster_accept(token - LISTENER_TOKEN_BASE);
            return true;
        }
        false
    }

    /// Accepts bus connections on listener `i`.
    pub fn cluster_accept(&mut self, i: usize) {
        let Some(cl) = self.cluster.as_deref_mut() else {
            return;
        };
        let now = crate::util::mstime();
        loop {
            let Some(listener) = cl.bus.listeners.get(i) else {
                return;
            };
            let (stream, _) = match listener.accept() {
                Ok(s) => s,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return,
            };
            let _ = cl.bus.open_link(stream, NO_NODE, true, now);
        }
    }

    /// The replication offset the bus announces: ours as a master; as a replica, what we
    /// processed of our master's stream, or 0 while there is no master state (a full sync
    /// being loaded), which keeps us out of CLUSTER SLOTS meanwhile (Redis'
    /// replicationGetSlaveOffset).
    pub fn cluster_repl_offset(&self) -> u64 {
        if self.repl.master_host.is_some() && self.repl.master_client.is_none() && !self.repl.cached
        {
            return 0;
        }
        self.repl.master_repl_offset.max(0) as u64
    }

    /// An event on a bus link: connect completion, output room, or input to process.
    pub fn cluster_link_event(&mut self, lid: LinkId, readable: bool, writable: bool) {
        let now = crate::util::mstime();
        let repl_offset = self.cluster_repl_offset();
        let Some(cl) = self.cluster.as_deref_mut() else {
            return;
        };
        let Some(l) = cl.bus.links.get_mut(lid).and_then(Option::as_mut) else {
            return;
        };
        if !l.connected && (writable || readable) {
            // The outbound connect finished: either way we learn how.
            let failed =
                l.stream.take_error().ok().flatten().is_some() || l.stream.peer_addr().is_err();
            if failed {
                let node = l.node;
                if node != NO_NODE {
                    // An unreachable node counts as pinged, so that it times out.
                    let n = cl.node_mut(node);
                    if n.ping_sent == 0 {
                        n.ping_sent = now;
                    }
                    let n = cl.node(node);
                    crate::log_verbose!(
                        "Connection with Node {} at {}:{} failed",
                        n.name_str(),
                        n.ip,
                        n.cport
                    );
                }
                cl.free_link(lid);
                return;
            }
            l.connected = true;
            let node = l.node;
            let old_ping_sent = cl.node(node).ping_sent;
            let kind = if cl.node(node).flags & nf::MEET != 0 {
                mt::MEET
            } else {
                mt::PING
            };
            cl.send_ping(lid, kind, repl_offset, now);
            if old_ping_sent != 0 {
                cl.node_mut(node).ping_sent = old_ping_sent;
            }
            cl.node_mut(node).flags &= !nf::MEET;
        }
        if writable && !cl.bus.flush(lid) {
            cl.free_link(lid);
            return;
        }
        if !readable {
            return;
        }
        let mut eof = false;
        {
            let Some(l) = cl.bus.links.get_mut(lid).and_then(Option::as_mut) else {
                return;
            };
            let mut buf = [0u8; 16 * 1024];
            loop {
                match l.stream.read(&mut buf) {
                    Ok(0) => {
                        eof = true;
                        break;
                    }
                    Ok(n) => l.rcvbuf.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => {
                        eof = true;
                        break;
                    }
                }
            }
        }
        loop {
            let Some(cl) = self.cluster.as_deref_mut() else {
                return;
            };
            let Some(l) = cl.bus.links.get_mut(lid).and_then(Option::as_mut) else {
                return;
            };
            if l.dead {
                break;
            }
            let len = match msg::frame_len(&l.rcvbuf) {
                Ok(Some(len)) if l.rcvbuf.len() >= len => len,
                Ok(_) => break,
                Err(_) => {
                    crate::log_warning!(
                        "Bad message length or signature received on the Cluster bus."
                    );
                    cl.free_link(lid);
                    return;
                }
            };
            let frame: Vec<u8> = l.rcvbuf.drain(..len).collect();
            let Ok(m) = msg::decode(&frame) else {
                continue;
            };
            self.cluster_process(lid, m, repl_offset, now);
        }
        if let Some(cl) = self.cluster.as_deref_mut() {
            if eof && cl.bus.link(lid).is_some() {
                cl.free_link(lid);
            }
            cl.free_dead_links();
        }
    }

    fn cluster_process(&mut self, lid: LinkId, m: Message, repl_offset: u64, now: i64) {
        let allow_migration = self.config.value("cluster-allow-replica-migration") == "yes";
        let Server { cluster, dbs, .. } = self;
        let Some(cl) = cluster.as_deref_mut() else {
            return;
        };
        let db0 = &dbs[0];
        let fx = cl.process_message(
            lid,
            m,
            repl_offset,
            now,
            &|slot| db0.keys_in_slot(slot),
            allow_migration,
        );
        if let Some(master) = fx.slots.follow {
            self.cluster_set_master(master);
        }
        for slot in fx.slots.dirty {
            self.cluster_del_keys_in_slot(slot);
        }
        if let Some((replica, link)) = fx.mfstart {
            self.cluster_mfstart(replica, link);
        }
        for (channel, message, shard) in fx.publish {
            self.publish(&channel, &message, shard);
        }
        for (sender, module_id, mtype, payload) in fx.module_messages {
            crate::module::clients::deliver_cluster_message(
                self, &sender, module_id, mtype, &payload,
            );
        }
    }
}

impl Server {
    /// Sends a module message to one node (by id) or to all; false without cluster mode or
    /// when the target is unknown or unreachable.
    pub fn cluster_send_module_message(
        &mut self,
        target: Option<&[u8]>,
        module_id: u64,
        module_type: u8,
        payload: Vec<u8>,
    ) -> bool {
        let Some(cl) = self.cluster.as_deref_mut() else {
            return false;
        };
        let m = Message {
            header: cl.header(mt::MODULE, 0),
            body: Body::Module {
                module_id,
                module_type,
                payload,
            },
        };
        match target {
            None => {
                cl.broadcast(&m);
                true
            }
            Some(name) => {
                let Some(id) = cl.lookup(name) else {
                    return false;
                };
                let Some(l) = cl.node(id).link else {
                    return false;
                };
                cl.send(l, &m);
                true
            }
        }
    }

    /// PUBLISH reaches the subscribers of every node (Redis' clusterPropagatePublish).
    pub fn cluster_propagate_publish(&mut self, channel: &[u8], message: &[u8], shard: bool) {
        let Some(cl) = self.cluster.as_deref_mut() else {
            return;
        };
        let m = Message {
            header: cl.header(if shard { mt::PUBLISHSHARD } else { mt::PUBLISH }, 0),
            body: Body::Publish {
                channel: channel.to_vec(),
                message: message.to_vec(),
            },
        };
        if !shard {
            cl.broadcast(&m);
            return;
        }
        // A shard message goes to the other nodes of our shard: our master and its replicas.
        let me = cl.myself;
        let master = if cl.me().is_replica() {
            cl.me().replicaof
        } else {
            me
        };
        if master == NO_NODE {
            return;
        }
        let mut targets: Vec<NodeId> = cl.node(master).replicas.clone();
        targets.push(master);
        for id in targets {
            if id == me {
                continue;
            }
            if let Some(l) = cl.node(id).link {
                cl.send(l, &m);
            }
        }
    }
}
