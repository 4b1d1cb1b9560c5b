//! Module server events announced by the replication code, seen by a small C module
//! (tests/support/replevents.c) loaded into a replica: becoming a replica (with the
//! ReplicationInfo of the new master), a swapdb load from the master (ReplAsyncLoad around
//! the REPL loading events), the link coming up, and REPLICAOF NO ONE (the link going down —
//! announced twice, as 7.0 does — then the role change back to master).

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{text, Server};

fn build_module() -> PathBuf {
    common::build_module("tests/support/replevents.c", "replevents", "so")
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {}", what);
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn replica_announces_role_load_and_link_events() {
    let so = build_module();
    let master = Server::start(&["--repl-diskless-sync-delay", "0"]);
    // An empty directory: nothing to load at start-up, so the events seen are the sync's.
    let dir = common::temp_dir("replevents", "replica");
    let replica = Server::start(&[
        "--dir",
        dir.to_str().unwrap(),
        "--loadmodule",
        so.to_str().unwrap(),
        "--repl-diskless-load",
        "swapdb",
    ]);
    let mut m = master.client();
    let mut r = replica.client();
    for i in 0..50 {
        text(&mut m, &["SET", &format!("k{i}"), "v"]);
    }
    text(&mut r, &["SET", "old", "data"]);
    let port = master.port.to_string();
    text(&mut r, &["REPLICAOF", "127.0.0.1", &port]);
    wait_until("the link to come up", || {
        text(&mut r, &["INFO", "replication"]).contains("master_link_status:up")
    });
    assert_eq!(text(&mut r, &["DBSIZE"]), "50");
    let synced = format!(
        "role-replica:master=0:host=127.0.0.1:port={port}:id1len=40 \
         async-started load-repl async-completed load-end link-up"
    );
    assert_eq!(text(&mut r, &["replevents.log"]), synced);

    text(&mut r, &["REPLICAOF", "NO", "ONE"]);
    assert_eq!(
        text(&mut r, &["replevents.log"]),
        format!("{synced} link-down link-down role-master:master=1:host=:port={port}:id1len=40")
    );
    drop(replica);
    let _ = std::fs::remove_dir_all(so.parent().unwrap());
    let _ = std::fs::remove_dir_all(dir);
}
