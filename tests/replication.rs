//! Replication end to end between two ferrodis servers on loopback: a full synchronization
//! moves the dataset, the stream keeps it identical (DEBUG DIGEST), a dropped link continues
//! with a partial resynchronization from the backlog, and a replica refuses writes from its
//! own clients.

mod common;

use std::time::{Duration, Instant};

use common::Server;

fn info_field(c: &mut redis::Connection, section: &str, field: &str) -> String {
    let info: String = redis::cmd("INFO").arg(section).query(c).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{}:", field)))
        .unwrap_or("")
        .to_string()
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {}", what);
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn digest(c: &mut redis::Connection) -> String {
    redis::cmd("DEBUG").arg("DIGEST").query(c).unwrap()
}

#[test]
fn full_sync_stream_and_partial_resync() {
    let dir = std::env::temp_dir().join(format!("ferrodis-repl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let dir_s = dir.to_str().unwrap();
    let master = Server::start(&[
        "--enable-debug-command",
        "yes",
        "--repl-diskless-sync-delay",
        "0",
        "--dir",
        dir_s,
    ]);
    let replica = Server::start(&[
        "--enable-debug-command",
        "yes",
        "--repl-diskless-load",
        "swapdb",
        "--dir",
        dir_s,
    ]);
    let mut m = master.client();
    let mut r = replica.client();
    for i in 0..200 {
        let _: () = redis::cmd("SET")
            .arg(format!("k{}", i))
            .arg(i)
            .query(&mut m)
            .unwrap();
    }
    let _: () = redis::cmd("RPUSH")
        .arg("l")
        .arg(&["a", "b"])
        .query(&mut m)
        .unwrap();
    let _: () = redis::cmd("REPLICAOF")
        .arg("127.0.0.1")
        .arg(master.port)
        .query(&mut r)
        .unwrap();
    wait_until("the link", || {
        info_field(&mut r, "replication", "master_link_status") == "up"
    });
    let role: Vec<redis::Value> = redis::cmd("ROLE").query(&mut r).unwrap();
    assert_eq!(role[0], redis::Value::BulkString(b"slave".to_vec()));

    // The stream: writes in several databases, then identical datasets and offsets.
    let _: () = redis::cmd("SELECT").arg(3).query(&mut m).unwrap();
    let _: i64 = redis::cmd("INCR").arg("counter").query(&mut m).unwrap();
    let _: () = redis::cmd("SELECT").arg(0).query(&mut m).unwrap();
    let _: i64 = redis::cmd("DEL").arg("k1").query(&mut m).unwrap();
    wait_until("the stream", || digest(&mut m) == digest(&mut r));
    wait_until("equal offsets", || {
        info_field(&mut m, "replication", "master_repl_offset")
            == info_field(&mut r, "replication", "master_repl_offset")
    });

    // Writes from the replica's own clients are refused.
    let err = redis::cmd("SET")
        .arg("x")
        .arg(1)
        .query::<()>(&mut r)
        .unwrap_err();
    assert_eq!(err.kind(), redis::ErrorKind::ReadOnly, "{}", err);

    // A dropped link continues from the backlog.
    let _: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("master")
        .query(&mut r)
        .unwrap();
    let _: () = redis::cmd("SET")
        .arg("after")
        .arg("kill")
        .query(&mut m)
        .unwrap();
    wait_until("the partial resync", || {
        info_field(&mut m, "stats", "sync_partial_ok") == "1"
            && info_field(&mut r, "replication", "master_link_status") == "up"
    });
    assert_eq!(info_field(&mut m, "stats", "sync_full"), "1");
    wait_until("the stream after the resync", || {
        digest(&mut m) == digest(&mut r)
    });
    let acked: i64 = redis::cmd("WAIT").arg(1).arg(2000).query(&mut m).unwrap();
    assert_eq!(acked, 1);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A diskless load parses the snapshot while the master is still producing it: the
/// replica's loaded bytes grow while the master's transfer child runs, and the dataset ends
/// identical.
#[test]
fn diskless_load_parses_the_snapshot_as_it_arrives() {
    let dir = common::temp_dir("repl", "diskless-stream");
    let dir_s = dir.to_str().unwrap();
    let master = Server::start(&[
        "--enable-debug-command",
        "yes",
        "--repl-diskless-sync",
        "yes",
        "--repl-diskless-sync-delay",
        "0",
        "--dir",
        dir_s,
    ]);
    let replica = Server::start(&[
        "--enable-debug-command",
        "yes",
        "--repl-diskless-load",
        "on-empty-db",
        "--dir",
        dir_s,
    ]);
    let mut m = master.client();
    let mut r = replica.client();
    let _: () = redis::cmd("DEBUG")
        .arg("POPULATE")
        .arg(400)
        .arg("key")
        .arg(4096)
        .query(&mut m)
        .unwrap();
    // 5 ms per key: the snapshot takes about two seconds to produce (uncompressed, so it
    // leaves the master's buffers as it is produced).
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("rdb-key-save-delay")
        .arg(5000)
        .arg("rdbcompression")
        .arg("no")
        .query(&mut m)
        .unwrap();
    let _: () = redis::cmd("REPLICAOF")
        .arg("127.0.0.1")
        .arg(master.port)
        .query(&mut r)
        .unwrap();
    wait_until("part of the snapshot loaded", || {
        info_field(&mut r, "persistence", "loading") == "1"
            && info_field(&mut r, "persistence", "loading_loaded_bytes")
                .parse::<u64>()
                .unwrap_or(0)
                > 100_000
    });
    assert_eq!(
        info_field(&mut m, "persistence", "rdb_bgsave_in_progress"),
        "1",
        "the master is still producing the snapshot"
    );
    wait_until("the link", || {
        info_field(&mut r, "replication", "master_link_status") == "up"
    });
    wait_until("the same dataset", || digest(&mut m) == digest(&mut r));
    let _ = std::fs::remove_dir_all(&dir);
}
