//! Module API functions the upstream suite leaves untested, through tests/modules/apitest.c:
//! LatencyAddSample (the latency monitor records module events by 7.0's threshold rule),
//! StringDMA on an empty key (nothing is created), RedisModule_Call's reused client, and
//! GetUsedMemoryRatio (0 without maxmemory, the used share of it otherwise), the ForkChild
//! server event around a BGSAVE child. Each case is
//! also run against Debian's redis-server 7.0 when it is installed. Beyond Redis: the bytes a
//! module holds through the memory API, in INFO modules and MODULE LIST; a crash inside a
//! module writes a bug report that names the module and its command.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::Server;
use redis::Value;

/// Builds apitest.so into a directory of the calling test's own (`name`).
fn build_module(name: &str) -> PathBuf {
    common::build_module("tests/modules/apitest.c", "apitest", name)
}

/// The events LATENCY LATEST lists, by name.
fn latest_events(c: &mut redis::Connection) -> Vec<String> {
    let Value::Array(rows) = common::cmd(c, &["LATENCY", "LATEST"]) else {
        panic!("LATENCY LATEST is not an array")
    };
    rows.iter()
        .filter_map(|r| match r {
            Value::Array(f) => match f.first() {
                Some(Value::BulkString(b)) => Some(String::from_utf8_lossy(b).into_owned()),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

fn ratio(c: &mut redis::Connection) -> f64 {
    match common::cmd(c, &["api.memratio"]) {
        Value::BulkString(b) => String::from_utf8_lossy(&b).parse().unwrap(),
        Value::Double(d) => d,
        other => panic!("unexpected {other:?}"),
    }
}

fn check(srv: &Server, so: &str) {
    let mut c = srv.client();
    common::cmd(&mut c, &["MODULE", "LOAD", so]);
    // Threshold 0: every sample is recorded, the monitor being off for the server's events.
    common::cmd(&mut c, &["api.latency", "mod-event", "7"]);
    assert_eq!(latest_events(&mut c), ["mod-event"]);
    let Value::Array(hist) = common::cmd(&mut c, &["LATENCY", "HISTORY", "mod-event"]) else {
        panic!("LATENCY HISTORY is not an array")
    };
    assert_eq!(hist.len(), 1);
    let Value::Array(sample) = &hist[0] else {
        panic!("not a sample")
    };
    assert_eq!(sample[1], Value::Int(7));
    // Below a set threshold: not recorded.
    common::cmd(
        &mut c,
        &["CONFIG", "SET", "latency-monitor-threshold", "100"],
    );
    common::cmd(&mut c, &["api.latency", "other-event", "99"]);
    assert_eq!(latest_events(&mut c), ["mod-event"]);
    common::cmd(&mut c, &["api.latency", "other-event", "100"]);
    let mut ev = latest_events(&mut c);
    ev.sort();
    assert_eq!(ev, ["mod-event", "other-event"]);

    // StringDMA on an empty key opened for writing: an empty string, and no key created.
    assert_eq!(common::cmd(&mut c, &["api.dma", "dma:none"]), Value::Int(0));
    assert_eq!(common::cmd(&mut c, &["EXISTS", "dma:none"]), Value::Int(0));
    common::cmd(&mut c, &["SET", "dma:str", "hello"]);
    assert_eq!(common::cmd(&mut c, &["api.dma", "dma:str"]), Value::Int(5));
    common::cmd(&mut c, &["RPUSH", "dma:list", "x"]);
    assert_eq!(common::cmd(&mut c, &["api.dma", "dma:list"]), Value::Nil);

    // RedisModule_Call's client is reused from one call to the next (same id, not the
    // caller's), and refuses to subscribe.
    let Value::Array(ids) = common::cmd(&mut c, &["api.callid"]) else {
        panic!("api.callid is not an array")
    };
    let own = common::cmd(&mut c, &["CLIENT", "ID"]);
    assert_eq!(ids[0], ids[1]);
    assert_ne!(ids[0], own);
    assert_eq!(
        ids[2],
        Value::BulkString(b"ERR SUBSCRIBE isn't allowed for a DENY BLOCKING client".to_vec())
    );
    assert_eq!(
        common::cmd(&mut c, &["PUBSUB", "NUMSUB", "api-channel"]),
        Value::Array(vec![
            Value::BulkString(b"api-channel".to_vec()),
            Value::Int(0)
        ])
    );

    assert_eq!(ratio(&mut c), 0.0);
    common::cmd(&mut c, &["CONFIG", "SET", "maxmemory", "1000000000"]);
    let r = ratio(&mut c);
    assert!(r > 0.0 && r < 1.0, "ratio {r}");
    common::cmd(&mut c, &["CONFIG", "SET", "maxmemory", "0"]);

    // A BGSAVE child is born, then dies when the cron reaps it.
    assert_eq!(
        common::cmd(&mut c, &["api.forkevents"]),
        Value::Array(vec![Value::Int(0), Value::Int(0)])
    );
    common::cmd(&mut c, &["BGSAVE"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let info = common::text(&mut c, &["INFO", "persistence"]);
        if info.contains("rdb_bgsave_in_progress:0") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "BGSAVE did not end");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(
        common::cmd(&mut c, &["api.forkevents"]),
        Value::Array(vec![Value::Int(1), Value::Int(1)])
    );
}

#[test]
fn latency_samples_and_memory_ratio() {
    let so = build_module("module");
    let so_s = so.to_str().unwrap();
    // Each server saves its snapshot in a directory of its own.
    let ours = common::temp_dir("apitest", "ours");
    let srv = Server::start(&[
        "--enable-module-command",
        "yes",
        "--dir",
        ours.to_str().unwrap(),
    ]);
    check(&srv, so_s);
    let theirs = common::temp_dir("apitest", "redis");
    if let Some(redis) = Server::start_redis(&[
        "--enable-module-command",
        "yes",
        "--dir",
        theirs.to_str().unwrap(),
    ]) {
        check(&redis, so_s);
    }
    let _ = std::fs::remove_dir_all(ours);
    let _ = std::fs::remove_dir_all(theirs);
    let _ = std::fs::remove_dir_all(so.parent().unwrap());
}

/// `allocated_bytes` of module `name` in INFO modules.
fn info_allocated(c: &mut redis::Connection, name: &str) -> u64 {
    let info = common::text(c, &["INFO", "modules"]);
    let line = info
        .lines()
        .find(|l| l.starts_with(&format!("module:name={name},")))
        .unwrap_or_else(|| panic!("no INFO modules line for {name}: {info}"));
    let field = line.rsplit(',').next().unwrap();
    field
        .strip_prefix("allocated_bytes=")
        .unwrap_or_else(|| panic!("no allocated_bytes in {line}"))
        .parse()
        .unwrap()
}

/// `allocated_bytes` of module `name` in MODULE LIST.
fn list_allocated(c: &mut redis::Connection, name: &str) -> i64 {
    let Value::Array(mods) = common::cmd(c, &["MODULE", "LIST"]) else {
        panic!("MODULE LIST is not an array")
    };
    for m in mods {
        let Value::Array(kv) = m else { continue };
        let field = |key: &str| {
            kv.chunks(2)
                .find(|p| p[0] == Value::BulkString(key.as_bytes().to_vec()))
                .map(|p| p[1].clone())
        };
        if field("name") == Some(Value::BulkString(name.as_bytes().to_vec())) {
            match field("allocated_bytes") {
                Some(Value::Int(n)) => return n,
                other => panic!("allocated_bytes of {name}: {other:?}"),
            }
        }
    }
    panic!("{name} is not in MODULE LIST")
}

#[test]
fn each_module_shows_the_memory_it_holds() {
    let so = build_module("memory");
    let so_s = so.to_str().unwrap();
    let srv = Server::start(&["--enable-module-command", "yes"]);
    let mut c = srv.client();
    common::cmd(&mut c, &["MODULE", "LOAD", so_s]);
    assert_eq!(info_allocated(&mut c, "apitest"), 0);
    common::cmd(&mut c, &["api.hold", "100000"]);
    common::cmd(&mut c, &["api.hold", "3000"]);
    // Usable sizes: at least what was asked for, within jemalloc's size-class rounding
    // (classes are at most 25% apart).
    let held = info_allocated(&mut c, "apitest");
    assert!((103_000..=103_000 * 5 / 4).contains(&held), "held {held}");
    assert_eq!(list_allocated(&mut c, "apitest"), held as i64);
    assert_eq!(common::cmd(&mut c, &["api.release"]), Value::Int(2));
    assert_eq!(info_allocated(&mut c, "apitest"), 0);
    // A reloaded module starts from zero again.
    common::cmd(&mut c, &["api.hold", "5000"]);
    common::cmd(&mut c, &["MODULE", "UNLOAD", "apitest"]);
    common::cmd(&mut c, &["MODULE", "LOAD", so_s]);
    assert_eq!(info_allocated(&mut c, "apitest"), 0);
    let _ = std::fs::remove_dir_all(so.parent().unwrap());
}

#[test]
fn a_crash_inside_a_module_is_reported_with_module_and_command() {
    let so = build_module("crash");
    let dir = so.parent().unwrap();
    let log = dir.join("server.log");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferrodis-server"))
        .args(["--port", &port, "--bind", "127.0.0.1", "--save", ""])
        .args([
            "--dir",
            dir.to_str().unwrap(),
            "--logfile",
            log.to_str().unwrap(),
        ])
        .args(["--loadmodule", so.to_str().unwrap()])
        .spawn()
        .unwrap();
    let addr = format!("127.0.0.1:{port}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut conn = loop {
        if let Ok(s) = std::net::TcpStream::connect(&addr) {
            break s;
        }
        assert!(std::time::Instant::now() < deadline, "server did not start");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    use std::io::{Read, Write};
    conn.write_all(b"*1\r\n$9\r\napi.crash\r\n").unwrap();
    let mut rest = Vec::new();
    let _ = conn.read_to_end(&mut rest);
    let status = child.wait().unwrap();
    assert!(!status.success(), "the server survived a NULL dereference");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("REDIS BUG REPORT START"), "{text}");
    assert!(
        text.contains("Crashed inside module 'apitest', command 'api.crash'"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(dir);
}
