//! RDB compatibility with real Redis: a `dump.rdb` written by Debian's `redis-server` (7.0)
//! loads into ferrodis with the same content (same DEBUG DIGEST), a file ferrodis writes loads
//! into Redis, and DUMP payloads are byte-identical. The Redis side runs on a loopback port and
//! is killed afterwards; without `/usr/bin/redis-server` these tests only check ferrodis
//! against itself.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{cmd, text, Server};

/// Debian's redis-server in `dir` (None when it isn't installed).
fn start_redis(dir: &Path) -> Option<Server> {
    Server::start_redis(&[
        "--dir",
        dir.to_str().unwrap(),
        "--enable-debug-command",
        "yes",
    ])
}

fn temp_dir(name: &str) -> PathBuf {
    common::temp_dir("rdb", name)
}

/// A dataset covering every encoding both sides share: integer, embstr, raw, compressible
/// and incompressible strings, intsets of each width, hashtable sets, TTLs, several DBs.
fn populate(c: &mut redis::Connection) {
    cmd(c, &["SET", "int", "12345"]);
    cmd(c, &["SET", "neg", "-7"]);
    cmd(c, &["SET", "bigint", "1099511627776"]);
    cmd(c, &["SET", "emb", "hello"]);
    cmd(c, &["SET", "zero-padded", "007"]);
    cmd(c, &["SET", "compressible", &"abc".repeat(200)]);
    let noise: String = (0..300u32)
        .map(|i| (b'!' + ((i * 7919) % 90) as u8) as char)
        .collect();
    cmd(c, &["SET", "noise", &noise]);
    cmd(c, &["SET", "empty", ""]);
    cmd(c, &["SADD", "is16", "1", "2", "-3"]);
    cmd(c, &["SADD", "is32", "1", "100000"]);
    cmd(c, &["SADD", "is64", "1", "10000000000"]);
    cmd(c, &["SADD", "ht", "a", "b", "1", ""]);
    let many: Vec<String> = (0..600).map(|i| i.to_string()).collect();
    let mut args = vec!["SADD", "many"];
    args.extend(many.iter().map(|s| s.as_str()));
    cmd(c, &args);
    cmd(
        c,
        &["HSET", "hsmall", "f1", "v1", "n", "12345", "", "empty"],
    );
    let fields: Vec<String> = (0..600).map(|i| format!("field:{i}")).collect();
    let mut args = vec!["HSET", "hbig"];
    for f in &fields {
        args.push(f);
        args.push(f);
    }
    cmd(c, &args);
    cmd(c, &["RPUSH", "list", "a", "b", "1", "300000", "xyz"]);
    let items: Vec<String> = (0..1000).map(|i| i.to_string()).collect();
    let mut args = vec!["RPUSH", "biglist"];
    args.extend(items.iter().map(|s| s.as_str()));
    cmd(c, &args);
    cmd(c, &["ZADD", "zsmall", "1", "a", "2.5", "b", "-3", "c"]);
    let mut zargs = vec!["ZADD", "zbig"];
    let scored: Vec<(String, String)> =
        (0..300).map(|i| (i.to_string(), format!("m{i}"))).collect();
    for (sc, m) in &scored {
        zargs.push(sc);
        zargs.push(m);
    }
    cmd(c, &zargs);
    cmd(c, &["SET", "ttl", "v", "PX", "100000000"]);
    cmd(c, &["SADD", "ttlset", "x"]);
    cmd(c, &["PEXPIRE", "ttlset", "100000000"]);
    cmd(c, &["SELECT", "5"]);
    cmd(c, &["SET", "in5", "five"]);
    cmd(c, &["SELECT", "0"]);
}

fn check_dataset(c: &mut redis::Connection) {
    assert_eq!(text(c, &["GET", "int"]), "12345");
    assert_eq!(text(c, &["OBJECT", "ENCODING", "int"]), "int");
    assert_eq!(text(c, &["GET", "compressible"]), "abc".repeat(200));
    assert_eq!(text(c, &["OBJECT", "ENCODING", "is64"]), "intset");
    assert_eq!(text(c, &["OBJECT", "ENCODING", "ht"]), "hashtable");
    assert_eq!(text(c, &["OBJECT", "ENCODING", "many"]), "hashtable");
    assert_eq!(text(c, &["SCARD", "many"]), "600");
    let ttl: i64 = text(c, &["PTTL", "ttl"]).parse().unwrap();
    assert!(ttl > 90_000_000, "{ttl}");
    assert_eq!(text(c, &["OBJECT", "ENCODING", "hsmall"]), "listpack");
    assert_eq!(text(c, &["OBJECT", "ENCODING", "hbig"]), "hashtable");
    assert_eq!(text(c, &["HGET", "hbig", "field:599"]), "field:599");
    assert_eq!(text(c, &["OBJECT", "ENCODING", "zsmall"]), "listpack");
    assert_eq!(text(c, &["OBJECT", "ENCODING", "zbig"]), "skiplist");
    assert_eq!(text(c, &["LINDEX", "biglist", "999"]), "999");
    assert_eq!(text(c, &["DBSIZE"]), "21");
    cmd(c, &["SELECT", "5"]);
    assert_eq!(text(c, &["GET", "in5"]), "five");
    cmd(c, &["SELECT", "0"]);
}

fn save_and_copy(c: &mut redis::Connection, from: &Path, to: &Path) {
    assert_eq!(text(c, &["SAVE"]), "OK");
    std::fs::copy(from.join("dump.rdb"), to.join("dump.rdb")).unwrap();
}

#[test]
fn redis_rdb_loads_into_ferrodis_with_the_same_digest() {
    let rdir = temp_dir("from-redis-r");
    let fdir = temp_dir("from-redis-f");
    let Some(redis) = start_redis(&rdir) else {
        return;
    };
    let mut rc = redis.client();
    populate(&mut rc);
    let digest = text(&mut rc, &["DEBUG", "DIGEST"]);
    save_and_copy(&mut rc, &rdir, &fdir);
    let f = Server::start(&[
        "--dir",
        fdir.to_str().unwrap(),
        "--enable-debug-command",
        "yes",
    ]);
    let mut fc = f.client();
    check_dataset(&mut fc);
    assert_eq!(text(&mut fc, &["DEBUG", "DIGEST"]), digest);
    for k in [
        "int",
        "bigint",
        "emb",
        "compressible",
        "noise",
        "is16",
        "is32",
        "is64",
        "hsmall",
        "list",
        "biglist",
        "zsmall",
    ] {
        assert_eq!(
            cmd(&mut fc, &["DUMP", k]),
            cmd(&mut rc, &["DUMP", k]),
            "DUMP {k} differs"
        );
    }
    drop(f);
    let _ = std::fs::remove_dir_all(&rdir);
    let _ = std::fs::remove_dir_all(&fdir);
}

#[test]
fn ferrodis_rdb_loads_into_redis_with_the_same_digest() {
    let fdir = temp_dir("to-redis-f");
    let rdir = temp_dir("to-redis-r");
    let f = Server::start(&[
        "--dir",
        fdir.to_str().unwrap(),
        "--enable-debug-command",
        "yes",
    ]);
    let mut fc = f.client();
    populate(&mut fc);
    let digest = text(&mut fc, &["DEBUG", "DIGEST"]);
    save_and_copy(&mut fc, &fdir, &rdir);
    // ferrodis reads its own file back.
    assert_eq!(text(&mut fc, &["DEBUG", "RELOAD"]), "OK");
    assert_eq!(text(&mut fc, &["DEBUG", "DIGEST"]), digest);
    check_dataset(&mut fc);
    if let Some(redis) = start_redis(&rdir) {
        let mut rc = redis.client();
        check_dataset(&mut rc);
        assert_eq!(text(&mut rc, &["DEBUG", "DIGEST"]), digest);
        // Payloads travel both ways.
        for k in [
            "ht",
            "many",
            "compressible",
            "hsmall",
            "hbig",
            "list",
            "zbig",
        ] {
            let redis::Value::BulkString(p) = cmd(&mut fc, &["DUMP", k]) else {
                panic!("DUMP {k}");
            };
            let _: () = redis::cmd("RESTORE")
                .arg(format!("{k}-copy"))
                .arg(0)
                .arg(p)
                .query(&mut rc)
                .unwrap();
            assert_eq!(
                text(&mut rc, &["DEBUG", "DIGEST-VALUE", &format!("{k}-copy")]),
                text(&mut fc, &["DEBUG", "DIGEST-VALUE", k])
            );
        }
    }
    let _ = std::fs::remove_dir_all(&rdir);
    let _ = std::fs::remove_dir_all(&fdir);
}

#[test]
fn bgsave_writes_a_file_that_survives_a_restart() {
    let dir = temp_dir("bgsave");
    let digest;
    {
        let f = Server::start(&[
            "--dir",
            dir.to_str().unwrap(),
            "--enable-debug-command",
            "yes",
        ]);
        let mut c = f.client();
        populate(&mut c);
        digest = text(&mut c, &["DEBUG", "DIGEST"]);
        assert_eq!(text(&mut c, &["BGSAVE"]), "Background saving started");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let info = text(&mut c, &["INFO", "persistence"]);
            if info.contains("rdb_bgsave_in_progress:0") && info.contains("rdb_saves:1") {
                assert!(info.contains("rdb_last_bgsave_status:ok"), "{info}");
                assert!(info.contains("rdb_changes_since_last_save:0"), "{info}");
                break;
            }
            assert!(Instant::now() < deadline, "BGSAVE never finished: {info}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let f = Server::start(&[
        "--dir",
        dir.to_str().unwrap(),
        "--enable-debug-command",
        "yes",
    ]);
    let mut c = f.client();
    assert_eq!(text(&mut c, &["DEBUG", "DIGEST"]), digest);
    let info = text(&mut c, &["INFO", "persistence"]);
    assert!(info.contains("rdb_last_load_keys_loaded:22"), "{info}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_corrupt_file_stops_start_up_cleanly() {
    let dir = temp_dir("corrupt");
    {
        let f = Server::start(&["--dir", dir.to_str().unwrap()]);
        let mut c = f.client();
        populate(&mut c);
        assert_eq!(text(&mut c, &["SAVE"]), "OK");
    }
    let path = dir.join("dump.rdb");
    let mut bytes = std::fs::read(&path).unwrap();
    // Flip a byte inside the data: the checksum no longer matches.
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(&path, &bytes).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ferrodis-server"))
        .args(["--port", "0", "--dir", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(
        log.contains("Terminating server after rdb file reading failure."),
        "{log}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_failed_bgsave_stops_writes_until_a_save_succeeds() {
    let dir = temp_dir("misconf");
    let f = Server::start(&["--dir", dir.to_str().unwrap()]);
    let mut c = f.client();
    // Save points make a failed background save refuse writes (stop-writes-on-bgsave-error).
    cmd(&mut c, &["CONFIG", "SET", "save", "3600 1"]);
    cmd(&mut c, &["SET", "x", "1"]);
    // A directory where the snapshot should go makes the final rename fail.
    std::fs::create_dir_all(dir.join("dump.rdb")).unwrap();
    assert_eq!(text(&mut c, &["BGSAVE"]), "Background saving started");
    let wait_done = |c: &mut redis::Connection| {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let info = text(c, &["INFO", "persistence"]);
            if info.contains("rdb_bgsave_in_progress:0") {
                return info;
            }
            assert!(Instant::now() < deadline, "BGSAVE never finished");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let info = wait_done(&mut c);
    assert!(info.contains("rdb_last_bgsave_status:err"), "{info}");
    let err = redis::cmd("SET")
        .arg("x")
        .arg("2")
        .query::<()>(&mut c)
        .unwrap_err();
    assert_eq!(err.code(), Some("MISCONF"), "{err}");
    assert_eq!(text(&mut c, &["GET", "x"]), "1");
    std::fs::remove_dir_all(dir.join("dump.rdb")).unwrap();
    assert_eq!(text(&mut c, &["BGSAVE"]), "Background saving started");
    let info = wait_done(&mut c);
    assert!(info.contains("rdb_last_bgsave_status:ok"), "{info}");
    cmd(&mut c, &["SET", "x", "2"]);
    let _ = std::fs::remove_dir_all(&dir);
}
