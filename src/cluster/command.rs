//! CLUSTER and its subcommands, ASKING, READONLY and READWRITE: what clients and
//! `redis-cli --cluster` use to build, inspect and reshard a cluster. Without cluster mode each
//! answers 7.0's "cluster support disabled" error.

use super::msg::{self, node_flags as nf, SLOTS};
use super::{todo, ClusterState, NodeId, NO_NODE};
use crate::client::{flags as cflags, Client};
use crate::commands::CmdProc;
use crate::server::Server;

const DISABLED: &str = "This instance has cluster support disabled";

pub fn lookup(name: &str) -> Option<CmdProc> {
    Some(match name {
        "asking" => asking_command,
        "readonly" => readonly_command,
        "readwrite" => readwrite_command,
        "cluster|help" => help,
        "cluster|meet" => meet,
        "cluster|nodes" => nodes,
        "cluster|myid" => myid,
        "cluster|slots" => slots,
        "cluster|shards" => shards,
        "cluster|flushslots" => flushslots,
        "cluster|addslots" => addslots,
        "cluster|delslots" => addslots,
        "cluster|addslotsrange" => addslotsrange,
        "cluster|delslotsrange" => addslotsrange,
        "cluster|setslot" => setslot,
        "cluster|bumpepoch" => bumpepoch,
        "cluster|info" => info,
        "cluster|saveconfig" => saveconfig,
        "cluster|keyslot" => keyslot,
        "cluster|countkeysinslot" => countkeysinslot,
        "cluster|getkeysinslot" => getkeysinslot,
        "cluster|forget" => forget,
        "cluster|count-failure-reports" => count_failure_reports,
        "cluster|set-config-epoch" => set_config_epoch,
        "cluster|reset" => reset,
        "cluster|links" => links,
        "cluster|replicas" => replicas,
        "cluster|slaves" => replicas,
        "cluster|replicate" => replicate,
        "cluster|failover" => failover,
        _ => return None,
    })
}

/// The cluster state, or the "disabled" error.
fn state<'a>(srv: &'a mut Server, c: &mut Client) -> Option<&'a mut ClusterState> {
    match srv.cluster.as_deref_mut() {
        Some(cl) => Some(cl),
        None => {
            c.out.error(DISABLED);
            None
        }
    }
}

/// ASKING, READONLY and READWRITE: a client flag set or cleared, in cluster mode only.
fn set_client_flag(srv: &Server, c: &mut Client, flag: u64, on: bool) {
    if srv.cluster.is_none() {
        c.out.error(DISABLED);
        return;
    }
    if on {
        c.flags |= flag;
    } else {
        c.flags &= !flag;
    }
    c.out.ok();
}

fn asking_command(srv: &mut Server, c: &mut Client) {
    set_client_flag(srv, c, cflags::ASKING, true);
}

fn readonly_command(srv: &mut Server, c: &mut Client) {
    set_client_flag(srv, c, cflags::READONLY, true);
}

fn readwrite_command(srv: &mut Server, c: &mut Client) {
    set_client_flag(srv, c, cflags::READONLY, false);
}

fn help(srv: &mut Server, c: &mut Client) {
    if state(srv, c).is_none() {
        return;
    }
    crate::commands::reply_help(
        c,
        &[
            "ADDSLOTS <slot> [<slot> ...]",
            "    Assign slots to current node.",
            "ADDSLOTSRANGE <start slot> <end slot> [<start slot> <end slot> ...]",
            "    Assign slots which are between <start-slot> and <end-slot> to current node.",
            "BUMPEPOCH",
            "    Advance the cluster config epoch.",
            "COUNT-FAILURE-REPORTS <node-id>",
            "    Return number of failure reports for <node-id>.",
            "COUNTKEYSINSLOT <slot>",
            "    Return the number of keys in <slot>.",
            "DELSLOTS <slot> [<slot> ...]",
            "    Delete slots information from current node.",
            "DELSLOTSRANGE <start slot> <end slot> [<start slot> <end slot> ...]",
            "    Delete slots information which are between <start-slot> and <end-slot> from current node.",
            "FAILOVER [FORCE|TAKEOVER]",
            "    Promote current replica node to being a master.",
            "FORGET <node-id>",
            "    Remove a node from the cluster.",
            "GETKEYSINSLOT <slot> <count>",
            "    Return key names stored by current node in a slot.",
            "FLUSHSLOTS",
            "    Delete current node own slots information.",
            "INFO",
            "    Return information about the cluster.",
            "KEYSLOT <key>",
            "    Return the hash slot for <key>.",
            "MEET <ip> <port> [<bus-port>]",
            "    Connect nodes into a working cluster.",
            "MYID",
            "    Return the node id.",
            "NODES",
            "    Return cluster configuration seen by node. Output format:",
            "    <id> <ip:port> <flags> <master> <pings> <pongs> <epoch> <link> <slot> ...",
            "REPLICATE <node-id>",
            "    Configure current node as replica to <node-id>.",
            "RESET [HARD|SOFT]",
            "    Reset current node (default: soft).",
            "SET-CONFIG-EPOCH <epoch>",
            "    Set config epoch of current node.",
            "SETSLOT <slot> (IMPORTING <node-id>|MIGRATING <node-id>|STABLE|NODE <node-id>)",
            "    Set slot state.",
            "REPLICAS <node-id>",
            "    Return <node-id> replicas.",
            "SAVECONFIG",
            "    Force saving cluster configuration on disk.",
            "SLOTS",
            "    Return information about slots range mappings. Each range is made of:",
            "    start, end, master and replicas IP addresses, ports and ids",
            "SHARDS",
            "    Return information about slot range mappings and the nodes associated with them.",
            "LINKS",
            "    Return information about all network links between this node and its peers.",
            "    Output format is an array where each array element is a map containing attributes of a link",
        ],
    );
}

fn arg_str(c: &Client, i: usize) -> String {
    String::from_utf8_lossy(&c.argv[i]).into_owned()
}

fn meet(srv: &mut Server, c: &mut Client) {
    let Some(cl) = state(srv, c) else {
        return;
    };
    if c.argv.len() != 4 && c.argv.len() != 5 {
        crate::commands::reply_subcommand_syntax_error(c);
        return;
    }
    let Some(port) = crate::util::parse_i64(&c.argv[3]) else {
        c.out.error(&format!(
            "Invalid TCP base port specified: {}",
            arg_str(c, 3)
        ));
        return;
    };
    let cport = if c.argv.len() == 5 {
        match crate::util::parse_i64(&c.argv[4]) {
            Some(p) => p,
            None => {
                c.out.error(&format!(
                    "Invalid TCP bus port specified: {}",
                    arg_str(c, 4)
                ));
                return;
            }
        }
    } else {
        port + super::PORT_INCR
    };
    let now = crate::util::mstime();
    match cl.start_handshake(&arg_str(c, 2), port, cport, now) {
        Err(true) => c.out.error(&format!(
            "Invalid node address specified: {}:{}",
            arg_str(c, 2),
            arg_str(c, 3)
        )),
        _ => c.out.ok(),
    }
}

fn nodes(srv: &mut Server, c: &mut Client) {
    let Some(cl) = state(srv, c) else {
        return;
    };
    let text = cl.describe_nodes(0);
    c.out.verbatim(text.as_bytes(), "txt");
}

fn myid(srv: &mut Server, c: &mut Client) {
    let Some(cl) = state(srv, c) else {
        return;
    };
    let name = cl.me().name;
    c.out.bulk(&name);
}

/// A node as CLUSTER SLOTS lists it: endpoint, port, id, and the other known endpoints.
fn reply_node(cl: &ClusterState, c: &mut Client, id: NodeId, endpoint_type: &str) {
    let n = cl.node(id);
    c.out.array(4);
    if endpoint_type == "unknown-endpoint" {
        c.out.null();
    } else {
        c.out
            .bulk(cl.preferred_endpoint(id, endpoint_type).as_bytes());
    }
    c.out.int(i64::from(n.port));
    c.out.bulk(&n.name);
    let mut extra: Vec<(&str, &str)> = Vec::new();
    if endpoint_type != "ip" {
        extra.push(("ip", &n.ip));
    }
    if endpoint_type != "hostname" && !n.hostname.is_empty() {
        extra.push(("hostname", &n.hostname));
    }
    c.out.map(extra.len());
    for (k, v) in extra {
        c.out.bulk(k.as_bytes());
        c.out.bulk(v.as_bytes());
    }
}

fn slots(srv: &mut Server, c: &mut Client) {
    let endpoint = srv.config.value("cluster-preferred-endpoint-type");
    let my_offset = srv.cluster_repl_offset();
    let Some(cl) = state(srv, c) else {
        return;
    };
    // Ranges of consecutive slots with the same owner.
    let mut ranges: Vec<(usize, usize, NodeId)> = Vec::new();
    let mut start = 0;
    for j in 0..=SLOTS {
        if j == SLOTS || (j > start && cl.slots[j] != cl.slots[start]) {
            if cl.slots[start] != NO_NODE {
                ranges.push((start, j - 1, cl.slots[start]));
            }
            start = j;
        }
    }
    c.out.array(ranges.len());
    for (a, b, owner) in ranges {
        let replicas: Vec<NodeId> = cl
            .node(owner)
            .replicas
            .iter()
            .copied()
            .filter(|&r| {
                // Listed once it is known to hold data (a replica that never synced is not).
                let n = cl.node(r);
                let offset = if r == cl.myself {
                    my_offset
                } else {
                    n.repl_offset
                };
                !n.failed() && offset != 0
            })
            .collect();
        c.out.array(3 + replicas.len());
        c.out.int(a as i64);
        c.out.int(b as i64);
        reply_node(cl, c, owner, &endpoint);
        for r in replicas {
            reply_node(cl, c, r, &endpoint);
        }
    }
}

/// One node of a shard in CLUSTER SHARDS.
fn reply_shard_node(cl: &ClusterState, c: &mut Client, id: NodeId, my_offset: u64, endpoint: &str) {
    let n = cl.node(id);
    let mut fields: Vec<(&str, Result<i64, String>)> = vec![("id", Err(n.name_str().to_string()))];
    if n.port != 0 {
        fields.push(("port", Ok(i64::from(n.port))));
    }
    fields.push(("ip", Err(n.ip.clone())));
    fields.push(("endpoint", Err(cl.preferred_endpoint(id, endpoint))));
    if !n.hostname.is_empty() {
        fields.push(("hostname", Err(n.hostname.clone())));
    }
    let offset = if id == cl.myself {
        my_offset
    } else {
        n.repl_offset
    };
    fields.push((
        "role",
        Err(if n.is_replica() { "replica" } else { "master" }.into()),
    ));
    fields.push(("replication-offset", Ok(offset as i64)));
    // A replica that has processed nothing of its master's stream is still loading.
    let health = if n.failed() {
        "fail"
    } else if n.is_replica() && offset == 0 {
        "loading"
    } else {
        "online"
    };
    fields.push(("health", Err(health.into())));
    c.out.map(fields.len());
    for (k, v) in fields {
        c.out.bulk(k.as_bytes());
        match v {
            Ok(i) => c.out.int(i),
            Err(s) => c.out.bulk(s.as_bytes()),
        }
    }
}

fn shards(srv: &mut Server, c: &mut Client) {
    let offset = srv.cluster_repl_offset();
    let endpoint = srv.config.value("cluster-preferred-endpoint-type");
    let Some(cl) = state(srv, c) else {
        return;
    };
    let masters: Vec<NodeId> = cl
        .node_ids()
        .into_iter()
        .filter(|&id| {
            let n = cl.node(id);
            n.is_master() && !n.in_handshake()
        })
        .collect();
    c.out.array(masters.len());
    for m in masters {
        c.out.map(2);
        c.out.bulk(b"slots");
        let ranges = super::nodes_conf::slot_ranges(&cl.node(m).slots);
        c.out.array(ranges.len() * 2);
        for (a, b) in ranges {
            c.out.int(a as i64);
            c.out.int(b as i64);
        }
        c.out.bulk(b"nodes");
        let members: Vec<NodeId> = std::iter::once(m)
            .chain(cl.node(m).replicas.iter().copied())
            .collect();
        c.out.array(members.len());
        for n in members {
            reply_shard_node(cl, c, n, offset, &endpoint);
        }
    }
}

fn flushslots(srv: &mut Server, c: &mut Client) {
    let empty = srv.dbs[0].is_empty();
    let Some(cl) = state(srv, c) else {
        return;
    };
    if !empty {
        c.out
            .error("DB must be empty to perform CLUSTER FLUSHSLOTS.");
        return;
    }
    let me = cl.myself;
    cl.del_node_slots(me);
    cl.todo |= todo::UPDATE_STATE | todo::SAVE_CONFIG;
    c.out.ok();
}

/// A slot number argument, or the error reply.
fn slot_arg(c: &mut Client, i: usize) -> Option<usize> {
    match crate::util::parse_i64(&c.argv[i]) {
        Some(s) if (0..SLOTS as i64).contains(&s) => Some(s as usize),
        _ => {
            c.out.error("Invalid or out of range slot");
            None
        }
    }
}

/// Checks a range of slots for ADDSLOTS/DELSLOTS(RANGE) and marks them in `chosen`.
fn check_slots(
    cl: &ClusterState,
    c: &mut Client,
    chosen: &mut [bool],
    del: bool,
    a: usize,
    b: usize,
) -> bool {
    for (s, picked) in chosen.iter_mut().enumerate().take(b + 1).skip(a) {
        if del && cl.slots[s] == NO_NODE {
            c.out.error(&format!("Slot {} is already unassigned", s));
            return false;
        } else if !del && cl.slots[s] != NO_NODE {
            c.out.error(&format!("Slot {} is already busy", s));
            return false;
        }
        if *picked {
            c.out.error(&format!("Slot {} specified multiple times", s));
            return false;
        }
        *picked = true;
    }
    true
}

fn apply_slots(cl: &mut ClusterState, chosen: &[bool], del: bool) {
    let me = cl.myself;
    for (s, &on) in chosen.iter().enumerate() {
        if !on {
            continue;
        }
        // An imported slot is ours now: the import is over.
        if cl.importing_from[s] != NO_NODE {
            cl.importing_from[s] = NO_NODE;
        }
        if del {
            cl.del_slot(s);
        } else {
            cl.add_slot(me, s);
        }
    }
    cl.todo |= todo::UPDATE_STATE | todo::SAVE_CONFIG;
}

fn addslots(srv: &mut Server, c: &mut Client) {
    let del = c.argv[1].eq_ignore_ascii_case(b"delslots");
    let Some(cl) = state(srv, c) else {
        return;
    };
    let mut nums = Vec::new();
    for i in 2..c.argv.len() {
        let Some(s) = slot_arg(c, i) else {
            return;
        };
        nums.push(s);
    }
    let mut chosen = vec![false; SLOTS];
    for s in nums {
        if !check_slots(cl, c, &mut chosen, del, s, s) {
            return;
        }
    }
    apply_slots(cl, &chosen, del);
    c.out.ok();
}

fn addslotsrange(srv: &mut Server, c: &mut Client) {
    let del = c.argv[1].eq_ignore_ascii_case(b"delslotsrange");
    let Some(cl) = state(srv, c) else {
        return;
    };
    if c.argv.len() % 2 == 1 {
        c.out.error(&format!(
            "wrong number of arguments for 'cluster|{}' command",
            String::from_utf8_lossy(&c.argv[1]).to_lowercase()
        ));
        return;
    }
    let mut chosen = vec![false; SLOTS];
    let mut i = 2;
    while i + 1 < c.argv.len() {
        let Some(a) = slot_arg(c, i) else {
            return;
        };
        let Some(b) = slot_arg(c, i + 1) else {
            return;
        };
        if a > b {
            c.out.error(&format!(
                "start slot number {} is greater than end slot number {}",
                a, b
            ));
            return;
        }
        if !check_slots(cl, c, &mut chosen, del, a, b) {
            return;
        }
        i += 2;
    }
    apply_slots(cl, &chosen, del);
    c.out.ok();
}

fn setslot(srv: &mut Server, c: &mut Client) {
    let repl_offset = srv.cluster_repl_offset();
    let allow_migration = srv.config.value("cluster-allow-replica-migration") == "yes";
    let Server { cluster, dbs, .. } = srv;
    let Some(cl) = cluster.as_deref_mut() else {
        c.out.error(DISABLED);
        return;
    };
    if cl.me().is_replica() {
        c.out.error("Please use SETSLOT only with masters.");
        return;
    }
    let Some(slot) = slot_arg(c, 2) else {
        return;
    };
    let action = c.argv[3].to_ascii_lowercase();
    let mut follow = None;
    let argc = c.argv.len();
    let me = cl.myself;
    let target = |cl: &ClusterState, c: &mut Client, unknown: &str| -> Option<NodeId> {
        let Some(n) = cl.lookup(&c.argv[4]) else {
            c.out.error(&format!("{} {}", unknown, arg_str(c, 4)));
            return None;
        };
        if cl.node(n).is_replica() {
            c.out.error("Target node is not a master");
            return None;
        }
        Some(n)
    };
    match (&action[..], argc) {
        (b"migrating", 5) => {
            if cl.slots[slot] != me {
                c.out
                    .error(&format!("I'm not the owner of hash slot {}", slot));
                return;
            }
            let Some(n) = target(cl, c, "I don't know about node") else {
                return;
            };
            cl.migrating_to[slot] = n;
        }
        (b"importing", 5) => {
            if cl.slots[slot] == me {
                c.out
                    .error(&format!("I'm already the owner of hash slot {}", slot));
                return;
            }
            let Some(n) = target(cl, c, "I don't know about node") else {
                return;
            };
            cl.importing_from[slot] = n;
        }
        (b"stable", 4) => {
            cl.importing_from[slot] = NO_NODE;
            cl.migrating_to[slot] = NO_NODE;
        }
        (b"node", 5) => {
            let Some(n) = target(cl, c, "Unknown node") else {
                return;
            };
            let keys = dbs[0].keys_in_slot(slot);
            if cl.slots[slot] == me && n != me && keys != 0 {
                c.out.error(&format!(
                    "Can't assign hashslot {} to a different node while I still hold keys for this hash slot.",
                    slot
                ));
                return;
            }
            // The last key left: the migration is over.
            if keys == 0 && cl.migrating_to[slot] != NO_NODE {
                cl.migrating_to[slot] = NO_NODE;
            }
            let was_mine = cl.slots[slot] == me;
            cl.del_slot(slot);
            cl.add_slot(n, slot);
            if was_mine && n != me && cl.me().numslots == 0 && allow_migration {
                // Our last slot went: we become a replica of its new owner.
                crate::log_warning!(
                    "Configuration change detected. Reconfiguring myself as a replica of {}",
                    cl.node(n).name_str()
                );
                follow = Some(n);
            }
            // An import finished: claim the slot with a new epoch, and say so at once.
            if n == me && cl.importing_from[slot] != NO_NODE {
                if cl.bump_epoch_without_consensus() {
                    crate::log_warning!("configEpoch updated after importing slot {}", slot);
                }
                cl.importing_from[slot] = NO_NODE;
                cl.broadcast_pong(repl_offset, crate::util::mstime());
            }
        }
        _ => {
            c.out
                .error("Invalid CLUSTER SETSLOT action or number of arguments. Try CLUSTER HELP");
            return;
        }
    }
    cl.todo |= todo::SAVE_CONFIG | todo::UPDATE_STATE;
    if let Some(n) = follow {
        srv.cluster_set_master(n);
    }
    c.out.ok();
}

fn bumpepoch(srv: &mut Server, c: &mut Client) {
    let Some(cl) = state(srv, c) else {
        return;
    };
    let bumped = cl.bump_epoch_without_consensus();
    let epoch = cl.me().config_epoch;
    c.out.status(&format!(
        "{} {}",
        if bumped { "BUMPED" } else { "STILL" },
        epoch
    ));
}

const MSG_NAMES: [&str; msg::msg_type::COUNT] = [
    "ping",
    "pong",
    "meet",
    "fail",
    "publish",
    "auth-req",
    "auth-ack",
    "update",
    "mfstart",
    "module",
    "publishshard",
];

/// CLUSTER INFO's text.
pub fn info_text(cl: &ClusterState) -> String {
    let (mut assigned, mut ok, mut pfail, mut fail) = (0, 0, 0, 0);
    for &s in &cl.slots {
        if s == NO_NODE {
            continue;
        }
        assigned += 1;
        let n = cl.node(s);
        if n.failed() {
            fail += 1;
        } else if n.timed_out() {
            pfail += 1;
        } else {
            ok += 1;
        }
    }
    let me = cl.me();
    let my_epoch = if me.is_replica() && me.replicaof != NO_NODE {
        cl.node(me.replicaof).config_epoch
    } else {
        me.config_epoch
    };
    let mut s = format!(
        "cluster_state:{}\r\ncluster_slots_assigned:{}\r\ncluster_slots_ok:{}\r\ncluster_slots_pfail:{}\r\ncluster_slots_fail:{}\r\ncluster_known_nodes:{}\r\ncluster_size:{}\r\ncluster_current_epoch:{}\r\ncluster_my_epoch:{}\r\n",
        if cl.state_ok { "ok" } else { "fail" },
        assigned,
        ok,
        pfail,
        fail,
        cl.known_nodes(),
        cl.size,
        cl.current_epoch,
        my_epoch
    );
    let mut total = 0;
    for (i, &n) in cl.stats_sent.iter().enumerate() {
        if n > 0 {
            total += n;
            s.push_str(&format!(
                "cluster_stats_messages_{}_sent:{}\r\n",
                MSG_NAMES[i], n
            ));
        }
    }
    s.push_str(&format!("cluster_stats_messages_sent:{}\r\n", total));
    let mut total = 0;
    for (i, &n) in cl.stats_received.iter().enumerate() {
        if n > 0 {
            total += n;
            s.push_str(&format!(
                "cluster_stats_messages_{}_received:{}\r\n",
                MSG_NAMES[i], n
            ));
        }
    }
    s.push_str(&format!("cluster_stats_messages_received:{}\r\n", total));
    s.push_str(&format!(
        "total_cluster_links_buffer_limit_exceeded:{}\r\n",
        cl.links_buffer_limit_exceeded
    ));
    s
}

fn info(srv: &mut Server, c: &mut Client) {
    let Some(cl) = state(srv, c) else {
        return;
    };
    let text = info_text(cl);
    c.out.verbatim(text.as_bytes(), "txt");
}

fn saveconfig(srv: &mut Server, c: &mut Client) {
    let Some(cl) = state(srv, c) else {
        return;
    };
    match cl.save_config(true) {
        Ok(()) => c.out.ok(),
        Err(e) => c.out.error(&format!(
            "error saving the cluster node config: {}",
            crate::rdb::persist::strerror(&e)
        )),
    }
}

fn keyslot(srv: &mut Server, c: &mut Client) {
    if state(srv, c).is_none() {
        return;
    }
    c.out.int(super::key_hash_slot(&c.argv[2]) as i64);
}

fn countkeysinslot(srv: &mut Server, c: &mut Client) {
    if state(srv, c).is_none() {
        return;
    }
    let Some(slot) = crate::commands::arg_i64(c, 2) else {
        return;
    };
    if !(0..SLOTS as i64).contains(&slot) {
        c.out.error("Invalid slot");
        return;
    }
    c.out.int(srv.dbs[0].keys_in_slot(slot as usize) as i64);
}

fn getkeysinslot(srv: &mut Server, c: &mut Client) {
    if state(srv, c).is_none() {
        return;
    }
    let Some(slot) = crate::commands::arg_i64(c, 2) else {
        return;
    };
    let Some(max) = crate::commands::arg_i64(c, 3) else {
        return;
    };
    if !(0..SLOTS as i64).contains(&slot) || max < 0 {
        c.out.error("Invalid slot or number of keys");
        return;
    }
    let keys = srv.dbs[0].keys_in_slot_list(slot as usize, max as usize);
    c.out.array(keys.len());
    for k in keys {
        c.out.bulk(&k);
    }
}

fn forget(srv: &mut Server, c: &mut Client) {
    let Some(cl) = state(srv, c) else {
        return;
    };
    let Some(n) = cl.lookup(&c.argv[2]) else {
        c.out.error(&format!("Unknown node {}", arg_str(c, 2)));
        return;
    };
    if n == cl.myself {
        c.out.error("I tried hard but I can't forget myself...");
        return;
    }
    if cl.me().is_replica() && cl.me().replicaof == n {
        c.out.error("Can't forget my master!");
        return;
    }
    // Not re-added from gossip for a minute.
    let name = cl.node(n).name;
    cl.blacklist.insert(name, crate::util::mstime() / 1000 + 60);
    cl.del_node(n);
    cl.todo |= todo::UPDATE_STATE | todo::SAVE_CONFIG;
    c.out.ok();
}

fn count_failure_reports(srv: &mut Server, c: &mut Client) {
    let Some(cl) = state(srv, c) else {
        return;
    };
    let Some(n) = cl.lookup(&c.argv[2]) else {
        c.out.error(&format!("Unknown node {}", arg_str(c, 2)));
        return;
    };
    let count = cl.fail_reports_count(n, crate::util::mstime());
    c.out.int(count as i64);
}

fn set_config_epoch(srv: &mut Server, c: &mut Client) {
    let Some(cl) = state(srv, c) else {
        return;
    };
    let Some(epoch) = crate::commands::arg_i64(c, 2) else {
        return;
    };
    if epoch < 0 {
        c.out
            .error(&format!("Invalid config epoch specified: {}", epoch));
    } else if cl.known_nodes() > 1 {
        c.out.error(
            "The user can assign a config epoch only when the node does not know any other node.",
        );
    } else if cl.me().config_epoch != 0 {
        c.out.error("Node config epoch is already non-zero");
    } else {
        let me = cl.myself;
        cl.node_mut(me).config_epoch = epoch as u64;
        crate::log_warning!("configEpoch set to {} via CLUSTER SET-CONFIG-EPOCH", epoch);
        if cl.current_epoch < epoch as u64 {
            cl.current_epoch = epoch as u64;
        }
        cl.todo |= todo::UPDATE_STATE | todo::SAVE_CONFIG;
        c.out.ok();
    }
}

fn reset(srv: &mut Server, c: &mut Client) {
    if srv.cluster.is_none() {
        c.out.error(DISABLED);
        return;
    }
    let hard = match c.argv.len() {
        2 => false,
        3 if c.argv[2].eq_ignore_ascii_case(b"hard") => true,
        3 if c.argv[2].eq_ignore_ascii_case(b"soft") => false,
        _ => {
            c.out.error(crate::commands::errors::SYNTAX);
            return;
        }
    };
    let is_master = srv.cluster.as_deref().is_some_and(|cl| cl.me().is_master());
    if is_master && !srv.dbs[0].is_empty() {
        c.out
            .error("CLUSTER RESET can't be called with master nodes containing keys");
        return;
    }
    srv.cluster_reset(hard);
    c.out.ok();
}

fn links(srv: &mut Server, c: &mut Client) {
    let Some(cl) = state(srv, c) else {
        return;
    };
    let now = crate::util::mstime();
    let mut rows = Vec::new();
    for id in cl.node_ids() {
        let n = cl.node(id);
        for (lid, dir) in [(n.link, "to"), (n.inbound_link, "from")] {
            if let Some(l) = lid.and_then(|l| cl.bus.link(l)) {
                rows.push((dir, n.name, l.ctime, l.sndbuf.len(), l.rcvbuf.len()));
            }
        }
    }
    c.out.array(rows.len());
    for (dir, name, ctime, snd, rcv) in rows {
        c.out.map(6);
        c.out.bulk(b"direction");
        c.out.bulk(dir.as_bytes());
        c.out.bulk(b"node");
        c.out.bulk(&name);
        c.out.bulk(b"create-time");
        c.out.int(ctime);
        c.out.bulk(b"events");
        c.out.bulk(if dir == "to" { b"rw" } else { b"r" });
        c.out.bulk(b"send-buffer-allocated");
        c.out.int(snd.max(1024) as i64);
        c.out.bulk(b"send-buffer-used");
        c.out.int(snd as i64);
        let _ = (rcv, now);
    }
}

fn replicate(srv: &mut Server, c: &mut Client) {
    let empty = srv.dbs[0].is_empty();
    let Some(cl) = state(srv, c) else {
        return;
    };
    let Some(n) = cl.lookup(&c.argv[2]) else {
        c.out.error(&format!("Unknown node {}", arg_str(c, 2)));
        return;
    };
    if n == cl.myself {
        c.out.error("Can't replicate myself");
        return;
    }
    if cl.node(n).is_replica() {
        c.out.error("I can only replicate a master, not a replica.");
        return;
    }
    if cl.me().is_master() && (cl.me().numslots != 0 || !empty) {
        c.out
            .error("To set a master the node must be empty and without assigned slots.");
        return;
    }
    srv.cluster_set_master(n);
    c.out.ok();
}

fn failover(srv: &mut Server, c: &mut Client) {
    let (force, takeover) = match c.argv.len() {
        2 => (false, false),
        3 if c.argv[2].eq_ignore_ascii_case(b"force") => (true, false),
        3 if c.argv[2].eq_ignore_ascii_case(b"takeover") => (true, true),
        3 => {
            if state(srv, c).is_some() {
                c.out.error(crate::commands::errors::SYNTAX);
            }
            return;
        }
        _ => {
            crate::commands::reply_subcommand_syntax_error(c);
            return;
        }
    };
    let Some(cl) = state(srv, c) else {
        return;
    };
    let me = cl.me();
    if me.is_master() {
        c.out.error("You should send CLUSTER FAILOVER to a replica");
        return;
    }
    if me.replicaof == NO_NODE {
        c.out.error("I'm a replica but my master is unknown to me");
        return;
    }
    let master = me.replicaof;
    if !force && (cl.node(master).failed() || cl.node(master).link.is_none()) {
        c.out
            .error("Master is down or failed, please use CLUSTER FAILOVER FORCE");
        return;
    }
    srv.cluster_reset_manual_failover();
    let offset = srv.cluster_repl_offset();
    let cl = srv.cluster.as_deref_mut().expect("checked above");
    cl.failover.mf_end = crate::util::mstime() + super::failover::MF_TIMEOUT;
    if takeover {
        // No agreement asked: a new epoch of our own, and the slots are ours.
        crate::log_warning!("Taking over the master (user request).");
        cl.bump_epoch_without_consensus();
        srv.cluster_failover_replace_master();
    } else if force {
        // No waiting for the master: the election starts at once.
        crate::log_warning!("Forced failover user request accepted.");
        cl.failover.mf_can_start = true;
    } else {
        crate::log_warning!("Manual failover user request accepted.");
        if let Some(l) = cl.node(master).link {
            let m = super::msg::Message {
                header: cl.header(super::msg::msg_type::MFSTART, offset),
                body: super::msg::Body::Empty,
            };
            cl.send(l, &m);
        }
    }
    c.out.ok();
}

fn replicas(srv: &mut Server, c: &mut Client) {
    let Some(cl) = state(srv, c) else {
        return;
    };
    let Some(n) = cl.lookup(&c.argv[2]) else {
        c.out.error(&format!("Unknown node {}", arg_str(c, 2)));
        return;
    };
    if cl.node(n).is_replica() {
        c.out.error("The specified node is not a master");
        return;
    }
    let lines: Vec<String> = cl
        .node(n)
        .replicas
        .iter()
        .map(|&r| cl.describe_node(r))
        .collect();
    c.out.array(lines.len());
    for l in lines {
        c.out.bulk(l.as_bytes());
    }
}

impl Server {
    /// CLUSTER RESET: forget every other node and every slot; a hard reset also takes a new
    /// name and zeroes the epochs.
    pub fn cluster_reset(&mut self, hard: bool) {
        // A replica turns into an empty master.
        if self
            .cluster
            .as_deref()
            .is_some_and(|cl| cl.me().is_replica())
        {
            let cl = self.cluster.as_deref_mut().expect("checked");
            let me = cl.myself;
            cl.set_node_as_master(me);
            self.repl_unset_master();
            self.empty_data(None);
        }
        let Some(cl) = self.cluster.as_deref_mut() else {
            return;
        };
        for j in 0..SLOTS {
            cl.migrating_to[j] = NO_NODE;
            cl.importing_from[j] = NO_NODE;
        }
        let me = cl.myself;
        cl.del_node_slots(me);
        for id in cl.node_ids() {
            if id != me {
                cl.del_node(id);
            }
        }
        if hard {
            cl.current_epoch = 0;
            cl.last_vote_epoch = 0;
            cl.node_mut(me).config_epoch = 0;
            let name = super::random_name();
            cl.rename_node(me, name);
            crate::log_notice!("Node hard reset, now I'm {}", cl.me().name_str());
        }
        let n = cl.node_mut(me);
        n.flags = nf::MYSELF | nf::MASTER;
        n.replicaof = NO_NODE;
        cl.todo |= todo::SAVE_CONFIG | todo::UPDATE_STATE | todo::FSYNC_CONFIG;
    }
}
