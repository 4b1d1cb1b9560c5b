//! Cluster mode end to end, with Debian's redis-server as one of the nodes when it is
//! installed (so the bus protocol is checked against Redis itself): forming a cluster, routing
//! (MOVED, ASK, CROSSSLOT), moving a slot with its keys from one kind of node to the other, and
//! a replica taking over its failed master by election, and module messages over the bus
//! (upstream's `hellocluster` example module).

mod common;

use std::time::{Duration, Instant};

use common::{text, Server};

/// A command's reply, or its error as (code, detail).
fn reply(c: &mut redis::Connection, args: &[&str]) -> Result<redis::Value, (String, String)> {
    let mut q = redis::cmd(args[0]);
    for a in &args[1..] {
        q.arg(*a);
    }
    q.query(c).map_err(|e| {
        (
            e.code().unwrap_or("").to_string(),
            e.detail().unwrap_or("").to_string(),
        )
    })
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {}", what);
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A cluster node: its server, its bus port, and its id.
struct Node {
    server: Server,
    id: String,
}

impl Node {
    fn start(redis: bool, name: &str) -> Node {
        Self::start_with(redis, name, &[])
    }
    fn start_with(redis: bool, name: &str, extra: &[&str]) -> Node {
        let dir = common::temp_dir("cluster", name);
        let dir = dir.to_str().unwrap().to_string();
        let bus = free_port().to_string();
        let args = [
            "--cluster-enabled",
            "yes",
            "--cluster-node-timeout",
            "500",
            "--cluster-port",
            &bus,
            "--dir",
            &dir,
            "--appendonly",
            "no",
        ];
        let args: Vec<&str> = args.iter().chain(extra).copied().collect();
        let server = if redis {
            Server::start_redis(&args).expect("checked by the caller")
        } else {
            Server::start(&args)
        };
        let mut c = server.client();
        let id = text(&mut c, &["CLUSTER", "MYID"]);
        Node { server, id }
    }
    fn c(&self) -> redis::Connection {
        self.server.client()
    }
    fn state(&self) -> String {
        let info = text(&mut self.c(), &["CLUSTER", "INFO"]);
        info.lines()
            .find_map(|l| l.strip_prefix("cluster_state:"))
            .unwrap_or("")
            .to_string()
    }
    /// CLUSTER NODES as (id, flags, slots) lines, sorted, without timestamps.
    fn view(&self) -> Vec<String> {
        let nodes = text(&mut self.c(), &["CLUSTER", "NODES"]);
        let mut v: Vec<String> = nodes
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.split(' ').collect();
                let flags = f[2].replace("myself,", "");
                format!("{} {} {} {}", f[0], flags, f[3], f[8..].join(" "))
            })
            .collect();
        v.sort();
        v
    }
}

fn redis_installed() -> bool {
    std::path::Path::new(common::REDIS_SERVER).exists()
}

/// Meets every node from the first, assigns the slots in equal ranges to the first `masters`,
/// and waits until every node sees the same cluster, in state ok.
fn form(nodes: &[Node], masters: usize) {
    let mut c0 = nodes[0].c();
    for n in &nodes[1..] {
        let port = n.server.port.to_string();
        let cport: String = {
            let v: Vec<String> = redis::cmd("CONFIG")
                .arg("GET")
                .arg("cluster-port")
                .query(&mut n.c())
                .unwrap();
            v[1].clone()
        };
        assert_eq!(
            text(&mut c0, &["CLUSTER", "MEET", "127.0.0.1", &port, &cport]),
            "OK"
        );
    }
    let per = 16384 / masters;
    for (i, n) in nodes[..masters].iter().enumerate() {
        let start = i * per;
        let end = if i + 1 == masters {
            16383
        } else {
            start + per - 1
        };
        let r = text(
            &mut n.c(),
            &[
                "CLUSTER",
                "ADDSLOTSRANGE",
                &start.to_string(),
                &end.to_string(),
            ],
        );
        assert_eq!(r, "OK");
    }
    wait_until("every node to know every other", || {
        nodes.iter().all(|n| n.view().len() == nodes.len())
    });
    wait_until("one view of the slots, cluster ok", || {
        let v0 = nodes[0].view();
        nodes.iter().all(|n| n.view() == v0 && n.state() == "ok")
    });
}

#[test]
fn mixed_cluster_routes_and_moves_a_slot_with_its_keys() {
    let redis = redis_installed();
    let nodes = vec![
        Node::start(false, "a"),
        Node::start(false, "b"),
        Node::start(redis, "c"),
    ];
    form(&nodes, 3);
    // "foo" hashes to slot 12182, the third node's.
    let mut c0 = nodes[0].c();
    assert_eq!(text(&mut c0, &["CLUSTER", "KEYSLOT", "foo"]), "12182");
    let port2 = nodes[2].server.port;
    assert_eq!(
        reply(&mut c0, &["SET", "foo", "bar"]),
        Err(("MOVED".into(), format!("12182 127.0.0.1:{port2}")))
    );
    assert_eq!(
        reply(&mut c0, &["MSET", "a", "1", "b", "2"]).map_err(|e| e.0),
        Err("CROSSSLOT".into())
    );
    // Keys of slot 12182 on the third node, moved to the first.
    let mut c2 = nodes[2].c();
    for k in ["foo", "{foo}1", "{foo}2"] {
        assert_eq!(text(&mut c2, &["SET", k, k]), "OK");
    }
    assert_eq!(text(&mut c2, &["CLUSTER", "COUNTKEYSINSLOT", "12182"]), "3");
    let (src, dst) = (&nodes[2], &nodes[0]);
    assert_eq!(
        text(
            &mut dst.c(),
            &["CLUSTER", "SETSLOT", "12182", "IMPORTING", &src.id]
        ),
        "OK"
    );
    assert_eq!(
        text(
            &mut src.c(),
            &["CLUSTER", "SETSLOT", "12182", "MIGRATING", &dst.id]
        ),
        "OK"
    );
    // A key not (or no longer) on the source is asked of the target.
    let dport = dst.server.port.to_string();
    assert_eq!(
        reply(&mut src.c(), &["GET", "{foo}missing"]),
        Err(("ASK".into(), format!("12182 127.0.0.1:{dport}")))
    );
    let keys: Vec<String> = redis::cmd("CLUSTER")
        .arg("GETKEYSINSLOT")
        .arg(12182)
        .arg(10)
        .query(&mut src.c())
        .unwrap();
    assert_eq!(keys.len(), 3);
    let mut migrate = vec!["MIGRATE", "127.0.0.1", &dport, "", "0", "5000", "KEYS"];
    migrate.extend(keys.iter().map(String::as_str));
    assert_eq!(text(&mut src.c(), &migrate), "OK");
    for n in [src, dst] {
        assert_eq!(
            text(
                &mut n.c(),
                &["CLUSTER", "SETSLOT", "12182", "NODE", &dst.id]
            ),
            "OK"
        );
    }
    wait_until("every node to route slot 12182 to its new owner", || {
        nodes
            .iter()
            .all(|n| match reply(&mut n.c(), &["GET", "foo"]) {
                Ok(redis::Value::BulkString(v)) => n.id == dst.id && v == b"foo",
                Err((code, detail)) => {
                    code == "MOVED" && detail == format!("12182 127.0.0.1:{dport}")
                }
                _ => false,
            })
    });
    assert_eq!(
        text(&mut dst.c(), &["CLUSTER", "COUNTKEYSINSLOT", "12182"]),
        "3"
    );
    assert_eq!(
        text(&mut src.c(), &["CLUSTER", "COUNTKEYSINSLOT", "12182"]),
        "0"
    );
}

#[test]
fn replica_is_elected_when_its_master_fails() {
    let redis = redis_installed();
    // Masters: ferrodis, ferrodis, redis-server (voters of both kinds); the replica of the
    // first master is a ferrodis node.
    let mut nodes = vec![
        Node::start(false, "m1"),
        Node::start(false, "m2"),
        Node::start(redis, "m3"),
        Node::start(false, "r1"),
    ];
    form(&nodes, 3);
    let master_id = nodes[0].id.clone();
    assert_eq!(
        text(&mut nodes[3].c(), &["CLUSTER", "REPLICATE", &master_id]),
        "OK"
    );
    let mut m = nodes[0].c();
    // Keys of the first master's slots ("{b}" hashes to slot 3300).
    assert_eq!(text(&mut m, &["CLUSTER", "KEYSLOT", "{b}"]), "3300");
    for i in 0..50 {
        assert_eq!(text(&mut m, &["SET", &format!("{{b}}:{i}"), "v"]), "OK");
    }
    let replica_port = nodes[3].server.port;
    wait_until("the replica to be in sync", || {
        let info = text(&mut nodes[3].c(), &["INFO", "replication"]);
        info.contains("master_link_status:up")
            && text(&mut nodes[0].c(), &["INFO", "replication"])
                .contains(&format!("port={replica_port},state=online"))
    });
    let keys_before = text(&mut nodes[3].c(), &["DBSIZE"]);
    // The master dies.
    let mut dead = nodes.remove(0);
    let _ = dead.server.child.kill();
    let _ = dead.server.child.wait();
    let replica = &nodes[2];
    wait_until("the replica to win the election", || {
        let v = replica.view();
        v.iter()
            .any(|l| l.starts_with(&replica.id) && l.contains(" master - 0-5460"))
    });
    wait_until("the cluster to be ok again", || {
        nodes.iter().all(|n| n.state() == "ok")
    });
    assert_eq!(text(&mut replica.c(), &["DBSIZE"]), keys_before);
    assert_eq!(text(&mut replica.c(), &["SET", "{b}:new", "x"]), "OK");
}

/// Upstream's `src/modules/hellocluster.c`, compiled unmodified against upstream's header.
fn build_hellocluster() -> std::path::PathBuf {
    let upstream = common::redis_src();
    let dir = common::temp_dir("cluster", "hellocluster-build");
    std::fs::copy(
        upstream.join("src/redismodule.h"),
        dir.join("redismodule.h"),
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("modules")).unwrap();
    let source = dir.join("modules/hellocluster.c");
    std::fs::copy(upstream.join("src/modules/hellocluster.c"), &source).unwrap();
    let out = dir.join("hellocluster.so");
    let status = std::process::Command::new("cc")
        .args(["-O1", "-std=gnu99", "-fPIC", "-shared", "-o"])
        .arg(&out)
        .arg(&source)
        .status()
        .expect("run cc");
    assert!(status.success(), "building hellocluster.c failed");
    out
}

#[test]
fn module_messages_cross_the_bus_both_ways() {
    let module = build_hellocluster();
    let module = module.to_str().unwrap();
    let redis = redis_installed();
    let load = ["--loadmodule", module];
    let nodes = vec![
        Node::start_with(false, "hc-a", &load),
        Node::start_with(false, "hc-b", &load),
        Node::start_with(redis, "hc-c", &load),
    ];
    form(&nodes, 3);
    // Every node lists the three, with their client ports.
    let listed: Vec<(String, i64)> = redis::cmd("HELLOCLUSTER.LIST")
        .query(&mut nodes[0].c())
        .unwrap();
    let mut expected: Vec<(String, i64)> = nodes
        .iter()
        .map(|n| (n.id.clone(), i64::from(n.server.port)))
        .collect();
    let mut listed = listed;
    listed.sort();
    expected.sort();
    assert_eq!(listed, expected);
    // A ping from a ferrodis node reaches the others (the module counts it in a key, which
    // its NO_REDIRECTION flag allows on any node); then one from the last node (Redis when
    // installed) reaches the ferrodis ones.
    assert_eq!(text(&mut nodes[0].c(), &["HELLOCLUSTER.PINGALL"]), "OK");
    let count = |n: &Node| text(&mut n.c(), &["GET", "pings_received"]);
    wait_until("the others to receive the ping", || {
        count(&nodes[1]) == "1" && count(&nodes[2]) == "1"
    });
    assert_eq!(text(&mut nodes[2].c(), &["HELLOCLUSTER.PINGALL"]), "OK");
    wait_until("the ferrodis nodes to receive the second ping", || {
        count(&nodes[0]) == "1" && count(&nodes[1]) == "2"
    });
}
