//! End-to-end tests of blocking list commands against a running server: serving order,
//! chains, timeouts, CLIENT UNBLOCK, disconnects, type changes, MULTI and SWAPDB.

mod common;

use std::thread;
use std::time::{Duration, Instant};

use redis::Value;

fn info_field(con: &mut redis::Connection, field: &str) -> String {
    let info: String = redis::cmd("INFO").arg("clients").query(con).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// Waits until INFO reports `n` blocked clients.
fn wait_blocked(con: &mut redis::Connection, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while info_field(con, "blocked_clients") != n.to_string() {
        assert!(Instant::now() < deadline, "never saw {n} blocked clients");
        thread::sleep(Duration::from_millis(5));
    }
}

fn bulk(v: &Value) -> String {
    match v {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        other => panic!("not a bulk: {other:?}"),
    }
}

fn pair(v: Value) -> (String, String) {
    match v {
        Value::Array(items) if items.len() == 2 => (bulk(&items[0]), bulk(&items[1])),
        other => panic!("not a pair: {other:?}"),
    }
}

#[test]
fn waiters_are_served_in_arrival_order_and_chains_propagate() {
    let s = common::Server::start(&[]);
    let mut main = s.client();
    let mut first = s.client();
    let mut second = s.client();
    let a = thread::spawn(move || {
        let v: Value = redis::cmd("BLPOP")
            .arg("q")
            .arg(0)
            .query(&mut first)
            .unwrap();
        pair(v)
    });
    wait_blocked(&mut main, 1);
    // A BLMOVE from "src" into "q": serving it makes "q" ready for the BLPOP.
    let b = thread::spawn(move || {
        let v: Value = redis::cmd("BLMOVE")
            .arg("src")
            .arg("q")
            .arg("RIGHT")
            .arg("LEFT")
            .arg(0)
            .query(&mut second)
            .unwrap();
        bulk(&v)
    });
    wait_blocked(&mut main, 2);
    assert_eq!(info_field(&mut main, "clients_in_timeout_table"), "0");
    let _: i64 = redis::cmd("RPUSH")
        .arg("src")
        .arg("x")
        .arg("y")
        .query(&mut main)
        .unwrap();
    assert_eq!(b.join().unwrap(), "y");
    assert_eq!(a.join().unwrap(), ("q".to_string(), "y".to_string()));
    let rest: Vec<String> = redis::cmd("LRANGE")
        .arg("src")
        .arg(0)
        .arg(-1)
        .query(&mut main)
        .unwrap();
    assert_eq!(rest, vec!["x"]);
    let q: i64 = redis::cmd("EXISTS").arg("q").query(&mut main).unwrap();
    assert_eq!(q, 0, "the BLPOP emptied and deleted q");
    wait_blocked(&mut main, 0);
}

#[test]
fn timeouts_unblock_and_type_changes() {
    let s = common::Server::start(&[]);
    let mut main = s.client();
    let mut c = s.client();
    let start = Instant::now();
    let v: Value = redis::cmd("BRPOP")
        .arg("none")
        .arg(0.2)
        .query(&mut c)
        .unwrap();
    assert_eq!(v, Value::Nil);
    let waited = start.elapsed();
    assert!(waited >= Duration::from_millis(200), "{waited:?}");
    assert!(waited < Duration::from_secs(2), "{waited:?}");

    // CLIENT UNBLOCK ... ERROR answers the blocked client with -UNBLOCKED.
    let id: i64 = redis::cmd("CLIENT").arg("ID").query(&mut c).unwrap();
    let t = thread::spawn(move || {
        redis::cmd("BLPOP")
            .arg("k")
            .arg(0)
            .query::<Value>(&mut c)
            .unwrap_err()
            .to_string()
    });
    wait_blocked(&mut main, 1);
    // Written over with a string, the key serves nobody: the client stays blocked.
    let _: () = redis::cmd("SET")
        .arg("k")
        .arg("str")
        .query(&mut main)
        .unwrap();
    thread::sleep(Duration::from_millis(50));
    assert_eq!(info_field(&mut main, "blocked_clients"), "1");
    let n: i64 = redis::cmd("CLIENT")
        .arg("UNBLOCK")
        .arg(id)
        .arg("ERROR")
        .query(&mut main)
        .unwrap();
    assert_eq!(n, 1);
    assert!(t.join().unwrap().contains("UNBLOCKED"));
    let n: i64 = redis::cmd("CLIENT")
        .arg("UNBLOCK")
        .arg(id)
        .query(&mut main)
        .unwrap();
    assert_eq!(n, 0, "not blocked any more");
    wait_blocked(&mut main, 0);
}

#[test]
fn disconnect_multi_and_swapdb() {
    let s = common::Server::start(&[]);
    let mut main = s.client();
    // A blocked client that goes away leaves nothing behind.
    {
        let mut raw = s.raw();
        use std::io::Write;
        raw.write_all(b"*3\r\n$5\r\nBLPOP\r\n$1\r\nd\r\n$2\r\n10\r\n")
            .unwrap();
        wait_blocked(&mut main, 1);
        assert_eq!(info_field(&mut main, "clients_in_timeout_table"), "1");
    }
    wait_blocked(&mut main, 0);
    assert_eq!(info_field(&mut main, "clients_in_timeout_table"), "0");
    let _: i64 = redis::cmd("LPUSH")
        .arg("d")
        .arg("kept")
        .query(&mut main)
        .unwrap();
    let n: i64 = redis::cmd("LLEN").arg("d").query(&mut main).unwrap();
    assert_eq!(n, 1, "nobody popped for the gone client");

    // Inside MULTI a blocking command answers as timed out.
    let (r,): (Value,) = redis::pipe()
        .atomic()
        .cmd("BLPOP")
        .arg("empty")
        .arg(0)
        .query(&mut main)
        .unwrap();
    assert_eq!(r, Value::Nil);

    // SWAPDB brings a list into the blocked client's database.
    let mut c = s.client();
    let t = thread::spawn(move || {
        let v: Value = redis::cmd("BLPOP").arg("sw").arg(0).query(&mut c).unwrap();
        pair(v)
    });
    wait_blocked(&mut main, 1);
    let _: () = redis::cmd("SELECT").arg(1).query(&mut main).unwrap();
    let _: i64 = redis::cmd("RPUSH")
        .arg("sw")
        .arg("v1")
        .query(&mut main)
        .unwrap();
    let _: () = redis::cmd("SWAPDB").arg(0).arg(1).query(&mut main).unwrap();
    assert_eq!(t.join().unwrap(), ("sw".to_string(), "v1".to_string()));
}
