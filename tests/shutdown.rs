//! SHUTDOWN with a lagging replica (7.0's sequence): the master pauses writes and waits for
//! the replica's acknowledgement instead of exiting; INFO shows the time left; CLIENT UNPAUSE
//! doesn't lift the shutdown's pause (pauses are kept per purpose); SHUTDOWN ABORT resumes
//! writes and the blocked SHUTDOWN gets the error.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{text, Server};

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {}", what);
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn info_field(c: &mut redis::Connection, section: &str, field: &str) -> Option<String> {
    text(c, &["INFO", section])
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")).map(str::to_string))
}

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig} {pid}");
}

/// Whatever arrives on `s` within `ms` milliseconds.
fn read_for(s: &mut TcpStream, ms: u64) -> String {
    s.set_read_timeout(Some(Duration::from_millis(ms))).unwrap();
    let mut buf = [0u8; 512];
    match s.read(&mut buf) {
        Ok(n) => String::from_utf8_lossy(&buf[..n]).into_owned(),
        Err(_) => String::new(),
    }
}

#[test]
fn shutdown_waits_for_lagging_replica_and_abort_resumes_writes() {
    // The replica writes the snapshot it receives into its directory.
    let dir = common::temp_dir("shutdown", "replica");
    let master = Server::start(&["--repl-diskless-sync-delay", "0"]);
    let replica = Server::start(&["--dir", dir.to_str().unwrap()]);
    let mut m = master.client();
    let mut r = replica.client();
    text(
        &mut r,
        &["REPLICAOF", "127.0.0.1", &master.port.to_string()],
    );
    wait_until("the replica to sync", || {
        info_field(&mut r, "replication", "master_link_status").as_deref() == Some("up")
    });
    text(&mut m, &["SET", "k", "1"]);
    wait_until("the replica to ack", || {
        let off = info_field(&mut m, "replication", "master_repl_offset").unwrap();
        text(&mut m, &["INFO", "replication"]).contains(&format!("offset={off},"))
    });
    text(&mut m, &["CONFIG", "SET", "shutdown-timeout", "30"]);

    signal(replica.child.id(), "-STOP");
    text(&mut m, &["INCR", "k"]);
    let mut shut = master.raw();
    shut.write_all(b"SHUTDOWN\r\n").unwrap();
    wait_until("the shutdown to wait", || {
        info_field(&mut m, "server", "shutdown_in_milliseconds")
            .and_then(|v| v.parse::<i64>().ok())
            .is_some_and(|ms| ms > 0 && ms <= 30_000)
    });
    assert_eq!(
        info_field(&mut m, "clients", "blocked_clients").as_deref(),
        Some("1")
    );
    // CLIENT UNPAUSE ends only CLIENT PAUSE's pause: writes stay held, reads go on.
    text(&mut m, &["CLIENT", "UNPAUSE"]);
    let mut writer = master.raw();
    writer.write_all(b"SET x 1\r\n").unwrap();
    assert_eq!(read_for(&mut writer, 300), "");
    assert_eq!(text(&mut m, &["GET", "k"]), "2");

    assert_eq!(text(&mut m, &["SHUTDOWN", "ABORT"]), "OK");
    assert_eq!(read_for(&mut writer, 5000), "+OK\r\n");
    assert_eq!(
        read_for(&mut shut, 5000),
        "-ERR Errors trying to SHUTDOWN. Check logs.\r\n"
    );
    assert_eq!(
        info_field(&mut m, "server", "shutdown_in_milliseconds"),
        None
    );
    let err = redis::cmd("SHUTDOWN")
        .arg("ABORT")
        .query::<String>(&mut m)
        .unwrap_err();
    assert_eq!(err.detail(), Some("No shutdown in progress."));
    signal(replica.child.id(), "-CONT");
    assert_eq!(text(&mut m, &["GET", "x"]), "1");
    drop(replica);
    let _ = std::fs::remove_dir_all(dir);
}
