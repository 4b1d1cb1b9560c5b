//! `nodes.conf` (the `cluster-config-file`): this node's view of the cluster as CLUSTER NODES
//! prints it, plus the epochs, rewritten whenever the view changes and read back at start-up.
//! The file is locked while the server runs, so two servers can't share it, and rewritten in
//! place (not renamed) so the lock stays on it. The same node lines serve CLUSTER NODES.

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;

use super::msg::{self, node_flags as nf, NAMELEN, SLOTS};
use super::{ClusterState, Node, NodeId, NO_NODE};

/// The open, locked config file.
pub struct ConfigFile {
    pub path: String,
    pub file: Option<File>,
}

const FLAG_NAMES: &[(u16, &str)] = &[
    (nf::MYSELF, "myself"),
    (nf::MASTER, "master"),
    (nf::SLAVE, "slave"),
    (nf::PFAIL, "fail?"),
    (nf::FAIL, "fail"),
    (nf::HANDSHAKE, "handshake"),
    (nf::NOADDR, "noaddr"),
    (nf::NOFAILOVER, "nofailover"),
];

/// Node flags as CLUSTER NODES lists them ("noflags" for none).
pub fn flags_string(flags: u16) -> String {
    let names: Vec<&str> = FLAG_NAMES
        .iter()
        .filter(|(f, _)| flags & f != 0)
        .map(|(_, n)| *n)
        .collect();
    if names.is_empty() {
        "noflags".into()
    } else {
        names.join(",")
    }
}

fn flags_from_string(s: &str) -> u16 {
    let mut flags = 0;
    for part in s.split(',') {
        match part {
            "myself" => flags |= nf::MYSELF,
            "master" => flags |= nf::MASTER,
            "slave" => flags |= nf::SLAVE,
            "fail?" => flags |= nf::PFAIL,
            "fail" => flags |= nf::FAIL,
            "handshake" => flags |= nf::HANDSHAKE,
            "noaddr" => flags |= nf::NOADDR,
            "nofailover" => flags |= nf::NOFAILOVER,
            _ => {}
        }
    }
    flags
}

/// Runs of consecutive slots a node serves, as (start, end).
pub fn slot_ranges(bitmap: &msg::SlotBitmap) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    for j in 0..=SLOTS {
        let on = j < SLOTS && msg::slot_bit(bitmap, j);
        match (on, start) {
            (true, None) => start = Some(j),
            (false, Some(s)) => {
                out.push((s, j - 1));
                start = None;
            }
            _ => {}
        }
    }
    out
}

impl ClusterState {
    /// One line of CLUSTER NODES (without the newline).
    pub fn describe_node(&self, id: NodeId) -> String {
        let n = self.node(id);
        let mut s = String::with_capacity(128);
        s.push_str(n.name_str());
        if n.hostname.is_empty() {
            s.push_str(&format!(" {}:{}@{} ", n.ip, n.port, n.cport));
        } else {
            s.push_str(&format!(" {}:{}@{},{} ", n.ip, n.port, n.cport, n.hostname));
        }
        s.push_str(&flags_string(n.flags));
        s.push(' ');
        if n.replicaof != NO_NODE {
            s.push_str(self.node(n.replicaof).name_str());
        } else {
            s.push('-');
        }
        let epoch = if n.is_replica() && n.replicaof != NO_NODE {
            self.node(n.replicaof).config_epoch
        } else {
            n.config_epoch
        };
        let connected = n.link.is_some() || n.flags & nf::MYSELF != 0;
        s.push_str(&format!(
            " {} {} {} {}",
            n.ping_sent,
            n.pong_received,
            epoch,
            if connected {
                "connected"
            } else {
                "disconnected"
            }
        ));
        for (a, b) in slot_ranges(&n.slots) {
            if a == b {
                s.push_str(&format!(" {}", a));
            } else {
                s.push_str(&format!(" {}-{}", a, b));
            }
        }
        if n.flags & nf::MYSELF != 0 {
            for j in 0..SLOTS {
                if self.migrating_to[j] != NO_NODE {
                    s.push_str(&format!(
                        " [{}->-{}]",
                        j,
                        self.node(self.migrating_to[j]).name_str()
                    ));
                } else if self.importing_from[j] != NO_NODE {
                    s.push_str(&format!(
                        " [{}-<-{}]",
                        j,
                        self.node(self.importing_from[j]).name_str()
                    ));
                }
            }
        }
        s
    }

    /// CLUSTER NODES: every node but those with a flag in `skip`.
    pub fn describe_nodes(&self, skip: u16) -> String {
        let mut out = String::new();
        for id in self.node_ids() {
            if self.node(id).flags & skip != 0 {
                continue;
            }
            out.push_str(&self.describe_node(id));
            out.push('\n');
        }
        out
    }

    /// Writes the config file (in place, keeping its lock).
    pub fn save_config(&mut self, fsync: bool) -> std::io::Result<()> {
        let mut content = self.describe_nodes(nf::HANDSHAKE);
        content.push_str(&format!(
            "vars currentEpoch {} lastVoteEpoch {}\n",
            self.current_epoch, self.last_vote_epoch
        ));
        let cf = &mut self.config_file;
        if cf.file.is_none() {
            cf.file = Some(
                std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .open(&cf.path)?,
            );
        }
        let f = cf.file.as_mut().expect("opened above");
        f.seek(SeekFrom::Start(0))?;
        f.write_all(content.as_bytes())?;
        f.set_len(content.len() as u64)?;
        if fsync {
            f.sync_all()?;
        }
        Ok(())
    }
}

/// Opens and locks the config file; Err with Redis' log text when another server holds it.
pub fn open_locked(path: &str) -> Result<File, String> {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| format!("Can't open {} in order to acquire a lock: {}", path, e))?;
    // SAFETY: flock on a descriptor we own; no memory is involved.
    let r = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if r == -1 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
            return Err(format!(
                "Sorry, the cluster configuration file {} is already used by a different Redis Cluster node. Please make sure that different nodes use different cluster configuration files.",
                path
            ));
        }
        return Err(format!("Impossible to lock {}: {}", path, e));
    }
    Ok(f)
}

/// Parses the config file into `cl` (which has no nodes yet). Ok(false) when the file is
/// empty (a new node), Err with the reason when it is unreadable.
pub fn load(cl: &mut ClusterState, content: &str, now: i64) -> Result<bool, String> {
    if content.trim().is_empty() {
        return Ok(false);
    }
    let mut myself = NO_NODE;
    // Masters named before they were seen: resolved once every line is read.
    let mut replica_links: Vec<(NodeId, Vec<u8>)> = Vec::new();
    let mut pending_slots: Vec<(usize, NodeId)> = Vec::new();
    let mut migrations: Vec<(usize, bool, Vec<u8>)> = Vec::new();
    for line in content.lines() {
        let argv: Vec<&str> = line.split_whitespace().collect();
        if argv.is_empty() {
            continue;
        }
        if argv[0] == "vars" {
            let mut j = 1;
            while j + 1 < argv.len() {
                match argv[j] {
                    "currentEpoch" => cl.current_epoch = argv[j + 1].parse().unwrap_or(0),
                    "lastVoteEpoch" => cl.last_vote_epoch = argv[j + 1].parse().unwrap_or(0),
                    other => {
                        crate::log_warning!("Skipping unknown cluster config variable '{}'", other)
                    }
                }
                j += 2;
            }
            continue;
        }
        if argv.len() < 8 {
            return Err("Unrecoverable error: corrupted cluster config file.".into());
        }
        if !super::valid_name(argv[0].as_bytes()) {
            return Err("Unrecoverable error: corrupted cluster config file.".into());
        }
        let mut name = [0u8; NAMELEN];
        name.copy_from_slice(argv[0].as_bytes());
        let id = match cl.lookup(&name) {
            Some(id) => id,
            None => cl.add_node(Node::new(name, 0, now)),
        };
        // ip:port@cport[,hostname]
        let (addr, hostname) = match argv[1].split_once(',') {
            Some((a, h)) => (a, h),
            None => (argv[1], ""),
        };
        let Some(colon) = addr.rfind(':') else {
            return Err("Unrecoverable error: corrupted cluster config file.".into());
        };
        let ip = &addr[..colon];
        let ports = &addr[colon + 1..];
        let (port, cport) = match ports.split_once('@') {
            Some((p, c)) => (p.parse::<u16>().unwrap_or(0), c.parse::<u16>().unwrap_or(0)),
            None => {
                let p = ports.parse::<u16>().unwrap_or(0);
                (p, p.wrapping_add(super::PORT_INCR as u16))
            }
        };
        let flags = flags_from_string(argv[2]);
        {
            let n = cl.node_mut(id);
            n.ip = ip.to_string();
            n.port = port;
            n.cport = cport;
            n.hostname = hostname.to_string();
            n.flags = flags;
            if flags & nf::NOADDR != 0 {
                n.ip.clear();
            }
            // A FAIL flag read back needs a fail time for it to clear later.
            if flags & nf::FAIL != 0 {
                n.fail_time = now;
            }
            // As Redis: a ping or pong on record counts from the load (the times themselves
            // are stale), so a node that was being pinged keeps its failure clock running.
            if argv[4].parse::<i64>().unwrap_or(0) != 0 {
                n.ping_sent = now;
            }
            if argv[5].parse::<i64>().unwrap_or(0) != 0 {
                n.pong_received = now;
            }
            n.config_epoch = argv[6].parse().unwrap_or(0);
            if flags & nf::MYSELF != 0 {
                myself = id;
            }
        }
        if argv[3] != "-" {
            replica_links.push((id, argv[3].as_bytes().to_vec()));
        }
        for slot in &argv[8..] {
            if let Some(inner) = slot.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
                let (num, importing, other) = if let Some((a, b)) = inner.split_once("-<-") {
                    (a, true, b)
                } else if let Some((a, b)) = inner.split_once("->-") {
                    (a, false, b)
                } else {
                    return Err("Unrecoverable error: corrupted cluster config file.".into());
                };
                let Ok(s) = num.parse::<usize>() else {
                    return Err("Unrecoverable error: corrupted cluster config file.".into());
                };
                if s < SLOTS {
                    migrations.push((s, importing, other.as_bytes().to_vec()));
                }
                continue;
            }
            let (a, b) = match slot.split_once('-') {
                Some((a, b)) => (a.parse::<usize>(), b.parse::<usize>()),
                None => (slot.parse::<usize>(), slot.parse::<usize>()),
            };
            let (Ok(a), Ok(b)) = (a, b) else {
                return Err("Unrecoverable error: corrupted cluster config file.".into());
            };
            if a > b || b >= SLOTS {
                return Err("Unrecoverable error: corrupted cluster config file.".into());
            }
            for s in a..=b {
                pending_slots.push((s, id));
            }
        }
    }
    if myself == NO_NODE {
        return Err("Unrecoverable error: corrupted cluster config file.".into());
    }
    cl.myself = myself;
    for (id, master) in replica_links {
        let m = match cl.lookup(&master) {
            Some(m) => m,
            None if super::valid_name(&master) => {
                let mut name = [0u8; NAMELEN];
                name.copy_from_slice(&master);
                cl.add_node(Node::new(name, 0, now))
            }
            None => return Err("Unrecoverable error: corrupted cluster config file.".into()),
        };
        cl.set_replica_of(id, m);
    }
    for (s, id) in pending_slots {
        cl.add_slot(id, s);
    }
    for (s, importing, other) in migrations {
        let Some(o) = cl.lookup(&other) else {
            return Err("Unrecoverable error: corrupted cluster config file.".into());
        };
        if importing {
            cl.importing_from[s] = o;
        } else {
            cl.migrating_to[s] = o;
        }
    }
    // Epochs in the file may be behind what nodes claim.
    let max = cl.max_epoch();
    if max > cl.current_epoch {
        cl.current_epoch = max;
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pings_and_pongs_on_record_count_from_the_load() {
        let dir = std::env::temp_dir().join(format!("nodes-conf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("nodes.conf");
        let file = std::fs::File::create(&path).unwrap();
        let mut cl = ClusterState::new(path.to_string_lossy().into_owned(), file, 15000);
        let me = "a".repeat(40);
        let pinged = "b".repeat(40);
        let quiet = "c".repeat(40);
        let content = format!(
            "{me} 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-100\n\
             {pinged} 127.0.0.1:7001@17001 master - 1700000000000 1700000000500 2 connected\n\
             {quiet} 127.0.0.1:7002@17002 master - 0 0 3 connected\n\
             vars currentEpoch 3 lastVoteEpoch 0\n"
        );
        assert!(load(&mut cl, &content, 42).unwrap());
        let pinged = cl.node(cl.lookup(pinged.as_bytes()).unwrap());
        assert_eq!((pinged.ping_sent, pinged.pong_received), (42, 42));
        let quiet = cl.node(cl.lookup(quiet.as_bytes()).unwrap());
        assert_eq!((quiet.ping_sent, quiet.pong_received), (0, 0));
        let _ = std::fs::remove_dir_all(dir);
    }
}
