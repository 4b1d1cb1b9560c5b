//! AOF end to end: a dataset written through the AOF (and rewritten) comes back after a
//! restart, and append-only directories move between ferrodis and Debian's `redis-server`
//! (7.0) in both directions with the same DEBUG DIGEST, ours accepted by `redis-check-aof`.
//! Without `/usr/bin/redis-server` the comparison with Redis is skipped.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{cmd, text, Server};

const CHECK_AOF: &str = "/usr/bin/redis-check-aof";

/// Debian's redis-server in `dir` with the AOF on (None when it isn't installed).
fn start_redis(dir: &Path, extra: &[&str]) -> Option<Server> {
    let mut args = vec![
        "--dir",
        dir.to_str().unwrap(),
        "--enable-debug-command",
        "yes",
        "--appendonly",
        "yes",
    ];
    args.extend_from_slice(extra);
    Server::start_redis(&args)
}

fn temp_dir(name: &str) -> PathBuf {
    common::temp_dir("aof", name)
}

fn ferrodis(dir: &Path, extra: &[&str]) -> Server {
    let mut args = vec![
        "--dir",
        dir.to_str().unwrap(),
        "--appendonly",
        "yes",
        "--enable-debug-command",
        "yes",
    ];
    args.extend_from_slice(extra);
    Server::start(&args)
}

/// Every type, TTLs, several databases, a stream with a group, a consumer and pending entries,
/// and writes that propagate as something else (SPOP with a count, INCRBYFLOAT, EXPIRE).
fn populate(c: &mut redis::Connection) {
    cmd(c, &["SET", "s", "hello"]);
    cmd(c, &["APPEND", "s", " world"]);
    cmd(c, &["INCRBYFLOAT", "f", "1.5"]);
    cmd(c, &["SET", "ttl", "v", "EX", "100000"]);
    cmd(c, &["RPUSH", "l", "a", "b", "1", "300000"]);
    cmd(c, &["SADD", "is", "1", "2", "3"]);
    cmd(c, &["SADD", "ht", "a", "b", "c", "d", "e"]);
    cmd(c, &["SPOP", "ht", "2"]);
    cmd(c, &["ZADD", "z", "1", "a", "2.5", "b", "-3", "c"]);
    cmd(c, &["HSET", "h", "f1", "v1", "n", "12345"]);
    let items: Vec<String> = (0..300).map(|i| format!("item{i}")).collect();
    let mut args = vec!["RPUSH", "biglist"];
    args.extend(items.iter().map(|s| s.as_str()));
    cmd(c, &args);
    let mut zargs = vec!["ZADD", "bigz"];
    let scored: Vec<(String, String)> =
        (0..200).map(|i| (i.to_string(), format!("m{i}"))).collect();
    for (sc, m) in &scored {
        zargs.push(sc);
        zargs.push(m);
    }
    cmd(c, &zargs);
    cmd(c, &["XADD", "st", "1-1", "a", "1"]);
    cmd(c, &["XADD", "st", "2-1", "b", "2"]);
    cmd(c, &["XGROUP", "CREATE", "st", "g", "0"]);
    cmd(
        c,
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "c1",
            "COUNT",
            "1",
            "STREAMS",
            "st",
            ">",
        ],
    );
    cmd(c, &["XGROUP", "CREATECONSUMER", "st", "g", "c2"]);
    cmd(c, &["XADD", "empty", "5-5", "x", "y"]);
    cmd(c, &["XDEL", "empty", "5-5"]);
    cmd(c, &["SELECT", "3"]);
    cmd(c, &["SET", "in3", "three"]);
    cmd(c, &["SELECT", "0"]);
}

fn digest(c: &mut redis::Connection) -> String {
    text(c, &["DEBUG", "DIGEST"])
}

fn wait_rewrite(c: &mut redis::Connection) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let info = text(c, &["INFO", "persistence"]);
        if info.contains("aof_rewrite_in_progress:0") && info.contains("aof_rewrite_scheduled:0") {
            return;
        }
        assert!(Instant::now() < deadline, "rewrite didn't finish");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn check_aof(dir: &Path) {
    if !Path::new(CHECK_AOF).exists() {
        return;
    }
    let out = Command::new(CHECK_AOF)
        .arg(dir.join("appendonlydir/appendonly.aof.manifest"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("All AOF files and manifest are valid"),
        "{}",
        text
    );
}

#[test]
fn dataset_survives_restart_and_rewrites() {
    for preamble in ["yes", "no"] {
        let dir = temp_dir(&format!("restart-{preamble}"));
        let before = {
            let s = ferrodis(&dir, &["--aof-use-rdb-preamble", preamble]);
            let mut c = s.client();
            populate(&mut c);
            assert_eq!(
                text(&mut c, &["BGREWRITEAOF"]),
                "Background append only file rewriting started"
            );
            wait_rewrite(&mut c);
            cmd(&mut c, &["INCR", "after-rewrite"]);
            cmd(&mut c, &["LPUSH", "l", "newest"]);
            let d = digest(&mut c);
            assert_eq!(text(&mut c, &["DEBUG", "LOADAOF"]), "OK");
            assert_eq!(digest(&mut c), d);
            d
        };
        let suffix = if preamble == "yes" { "rdb" } else { "aof" };
        assert!(dir
            .join(format!("appendonlydir/appendonly.aof.2.base.{suffix}"))
            .exists());
        check_aof(&dir);
        let s = ferrodis(&dir, &[]);
        let mut c = s.client();
        assert_eq!(digest(&mut c), before);
        assert_eq!(text(&mut c, &["LINDEX", "l", "0"]), "newest");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn aof_directories_move_between_redis_and_ferrodis() {
    for preamble in ["yes", "no"] {
        // Redis writes, ferrodis loads.
        let dir = temp_dir(&format!("from-redis-{preamble}"));
        let Some(redis) = start_redis(&dir, &["--aof-use-rdb-preamble", preamble]) else {
            return;
        };
        let mut rc = redis.client();
        populate(&mut rc);
        cmd(&mut rc, &["BGREWRITEAOF"]);
        wait_rewrite(&mut rc);
        cmd(&mut rc, &["INCR", "after-rewrite"]);
        let expected = digest(&mut rc);
        drop(rc);
        drop(redis);
        let s = ferrodis(&dir, &[]);
        let mut c = s.client();
        assert_eq!(digest(&mut c), expected, "redis AOF (preamble {preamble})");
        drop(c);
        drop(s);

        // ferrodis writes, Redis loads.
        let dir = temp_dir(&format!("to-redis-{preamble}"));
        let s = ferrodis(&dir, &["--aof-use-rdb-preamble", preamble]);
        let mut c = s.client();
        populate(&mut c);
        cmd(&mut c, &["BGREWRITEAOF"]);
        wait_rewrite(&mut c);
        cmd(&mut c, &["INCR", "after-rewrite"]);
        let expected = digest(&mut c);
        drop(c);
        drop(s);
        check_aof(&dir);
        let redis = start_redis(&dir, &[]).unwrap();
        let mut rc = redis.client();
        assert_eq!(
            digest(&mut rc),
            expected,
            "ferrodis AOF (preamble {preamble})"
        );
    }
}
