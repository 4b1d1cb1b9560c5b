//! End-to-end tests: start the real `ferrodis-server` binary on a free loopback port and talk to
//! it with the `redis` client crate and with raw sockets (for protocol-level behaviour).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use common::Server;

fn read_until_closed(s: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

#[test]
fn set_get_incr_round_trip() {
    let srv = Server::start(&[]);
    let mut c = srv.client();
    let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut c).unwrap();
    let v: String = redis::cmd("GET").arg("k").query(&mut c).unwrap();
    assert_eq!(v, "v");
    let n: i64 = redis::cmd("INCR").arg("counter").query(&mut c).unwrap();
    assert_eq!(n, 1);
    let missing: Option<String> = redis::cmd("GET").arg("nope").query(&mut c).unwrap();
    assert_eq!(missing, None);
}

#[test]
fn wrong_arity_and_unknown_command_use_redis_texts() {
    let srv = Server::start(&[]);
    let mut s = srv.raw();
    s.write_all(b"GET\r\nFOO bar baz\r\n").unwrap();
    let mut buf = vec![0u8; 256];
    std::thread::sleep(Duration::from_millis(100));
    let n = s.read(&mut buf).unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(
        text.starts_with("-ERR wrong number of arguments for 'get' command\r\n"),
        "{text}"
    );
    assert!(
        text.contains("-ERR unknown command 'FOO', with args beginning with: 'bar' 'baz' \r\n"),
        "{text}"
    );
}

#[test]
fn a_pipeline_of_ten_thousand_commands_is_answered_in_order() {
    let srv = Server::start(&[]);
    let mut s = srv.raw();
    let mut req = Vec::new();
    for i in 0..10_000 {
        req.extend_from_slice(
            format!("*3\r\n$3\r\nSET\r\n$4\r\nk{:03}\r\n$1\r\nx\r\n", i % 1000).as_bytes(),
        );
    }
    req.extend_from_slice(b"*1\r\n$6\r\nDBSIZE\r\n");
    s.write_all(&req).unwrap();
    let want_len = 10_000 * 5 + ":1000\r\n".len();
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65536];
    while got.len() < want_len {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0);
        got.extend_from_slice(&buf[..n]);
    }
    assert!(got.ends_with(b"+OK\r\n:1000\r\n"));
}

#[test]
fn protocol_error_replies_then_closes_the_connection() {
    let srv = Server::start(&[]);
    let mut s = srv.raw();
    s.write_all(b"*1\r\n!3\r\n").unwrap();
    let out = read_until_closed(&mut s);
    assert_eq!(out, b"-ERR Protocol error: expected '$', got '!'\r\n");
    // The server is still healthy for others.
    let mut c = srv.client();
    let pong: String = redis::cmd("PING").query(&mut c).unwrap();
    assert_eq!(pong, "PONG");
}

#[test]
fn hello_3_switches_to_resp3_maps_and_nulls() {
    let srv = Server::start(&[]);
    let mut s = srv.raw();
    s.write_all(b"HELLO 3\r\nGET missing\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let mut buf = vec![0u8; 1024];
    let n = s.read(&mut buf).unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(
        text.starts_with("%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n"),
        "{text}"
    );
    assert!(text.ends_with("_\r\n"), "{text}");
}

#[test]
fn multi_exec_and_watch() {
    let srv = Server::start(&[]);
    let mut a = srv.client();
    let mut b = srv.client();
    let _: () = redis::cmd("WATCH").arg("w").query(&mut a).unwrap();
    let _: () = redis::cmd("SET")
        .arg("w")
        .arg("changed")
        .query(&mut b)
        .unwrap();
    let _: () = redis::cmd("MULTI").query(&mut a).unwrap();
    let _: () = redis::cmd("SET")
        .arg("w")
        .arg("mine")
        .query(&mut a)
        .unwrap();
    let res: Option<Vec<String>> = redis::cmd("EXEC").query(&mut a).unwrap();
    assert_eq!(res, None, "EXEC must fail after a WATCHed key changed");
    let v: String = redis::cmd("GET").arg("w").query(&mut a).unwrap();
    assert_eq!(v, "changed");
}

#[test]
fn requirepass_demands_auth() {
    let srv = Server::start(&["--requirepass", "secret"]);
    let mut s = srv.raw();
    s.write_all(b"GET a\r\nAUTH wrong\r\nAUTH secret\r\nPING\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let mut buf = vec![0u8; 1024];
    let n = s.read(&mut buf).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&buf[..n]),
        "-NOAUTH Authentication required.\r\n-WRONGPASS invalid username-password pair or user is disabled.\r\n+OK\r\n+PONG\r\n"
    );
}

#[test]
fn bad_config_directive_stops_startup_with_redis_text() {
    let out = Command::new(env!("CARGO_BIN_EXE_ferrodis-server"))
        .args(["--port", "0", "--no-such-directive", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***"),
        "{err}"
    );
    assert!(
        err.contains("Bad directive or wrong number of arguments"),
        "{err}"
    );
}

#[test]
fn random_garbage_on_many_connections_never_takes_the_server_down() {
    use rand::{Rng, SeedableRng};
    let srv = Server::start(&[]);
    let mut rng = rand::rngs::SmallRng::seed_from_u64(0x5eed);
    let alphabet: &[u8] = b"*$:+-\r\n0123456789abcdefPINGSETGET \"'\\\x00\xff";
    for _ in 0..200 {
        let mut s = srv.raw();
        let len = rng.gen_range(1..2048);
        let payload: Vec<u8> = (0..len)
            .map(|_| {
                if rng.gen_bool(0.7) {
                    alphabet[rng.gen_range(0..alphabet.len())]
                } else {
                    rng.gen()
                }
            })
            .collect();
        let _ = s.write_all(&payload);
        s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
        let mut sink = [0u8; 4096];
        let _ = s.read(&mut sink);
    }
    let mut c = srv.client();
    let pong: String = redis::cmd("PING").query(&mut c).unwrap();
    assert_eq!(pong, "PONG");
}

/// A peer that sends (part of) a command and closes while the server is busy: its data and its
/// end of stream are reported together, and the server must still notice the close (an
/// edge-triggered loop gets no further event for it). Half-closed peers still get their replies.
#[test]
fn a_close_that_arrives_with_unread_data_is_noticed() {
    let srv = Server::start(&["--enable-debug-command", "yes"]);
    let mut sleeper = srv.raw();
    sleeper.write_all(b"DEBUG SLEEP 0.5\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    for _ in 0..10 {
        let mut s = srv.raw();
        s.write_all(b"*2\r\n$3\r\nSET\r\n$5\r\nab").unwrap();
        drop(s);
    }
    let mut half = srv.raw();
    half.write_all(b"PING\r\nECHO hello\r\n").unwrap();
    half.shutdown(std::net::Shutdown::Write).unwrap();
    let mut ok = [0u8; 5];
    sleeper.read_exact(&mut ok).unwrap();
    assert_eq!(&ok, b"+OK\r\n");
    assert_eq!(read_until_closed(&mut half), b"+PONG\r\n$5\r\nhello\r\n");
    let mut c = srv.client();
    let mut connected = 0;
    for _ in 0..50 {
        let info: String = redis::cmd("INFO").arg("clients").query(&mut c).unwrap();
        connected = info
            .lines()
            .find_map(|l| l.strip_prefix("connected_clients:"))
            .and_then(|v| v.trim().parse::<i64>().ok())
            .unwrap();
        // This client and the sleeper's.
        if connected == 2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(connected, 2);
}

#[test]
fn a_truncated_rdb_stops_start_up() {
    let dir = std::env::temp_dir().join(format!("ferrodis-rdb-truncated-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("dump.rdb"), b"REDIS0010").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ferrodis-server"))
        .args(["--port", "0", "--dir", dir.to_str().unwrap()])
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(out.status.code(), Some(1));
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(log.contains("Short read or OOM loading DB"), "{log}");
    assert!(
        log.contains("Terminating server after rdb file reading failure."),
        "{log}"
    );
}
