//! The sorted set range iterator of the module key API (ZsetFirstInScoreRange ... ZsetRangeStop),
//! driven by tests/modules/zrange.c over both encodings: explicit expectations for the main
//! walks, and every case compared with Debian's redis-server 7.0 when it is installed.

mod common;

use std::path::PathBuf;

use common::Server;
use redis::Value;

fn build_module() -> PathBuf {
    common::build_module("tests/modules/zrange.c", "zrange", "module")
}

/// The cases: each is a command; `ENC` lines switch the sorted set encoding and reload data.
const CASES: &[&[&str]] = &[
    &["zr.walk", "z", "score", "first", "2", "4"],
    &["zr.walk", "z", "score", "last", "2", "4"],
    &["zr.walk", "z", "score", "first", "2", "4", "1", "1"],
    &["zr.walk", "z", "score", "last", "2", "4", "1", "0"],
    &["zr.walk", "z", "score", "first", "10", "20"],
    &["zr.walk", "z", "score", "first", "4", "2"],
    &["zr.walk", "z", "score", "first", "-inf", "+inf"],
    &["zr.walk", "z", "score", "last", "-inf", "+inf"],
    &["zr.walk", "y", "lex", "first", "[b", "(d"],
    &["zr.walk", "y", "lex", "last", "[b", "(d"],
    &["zr.walk", "y", "lex", "first", "-", "+"],
    &["zr.walk", "y", "lex", "last", "(c", "+"],
    &["zr.walk", "y", "lex", "first", "[z", "[a"],
    &["zr.backforth", "z", "2", "4"],
    &["zr.backforth", "z", "1", "4"],
];

fn load(c: &mut redis::Connection, so: &str, listpack: bool) {
    common::cmd(c, &["MODULE", "LOAD", so]);
    fill(c, listpack);
}

fn fill(c: &mut redis::Connection, listpack: bool) {
    let max = if listpack { "128" } else { "0" };
    common::cmd(c, &["CONFIG", "SET", "zset-max-listpack-entries", max]);
    common::cmd(c, &["DEL", "z", "y"]);
    common::cmd(
        c,
        &[
            "ZADD", "z", "1", "a", "2", "b", "2", "bb", "3", "c", "4", "d", "5", "e",
        ],
    );
    common::cmd(
        c,
        &[
            "ZADD", "y", "0", "a", "0", "b", "0", "c", "0", "d", "0", "e",
        ],
    );
}

/// Runs every case; `so` is loaded first unless the module is already there.
fn run_all(srv: &Server, so: Option<&str>, listpack: bool) -> Vec<String> {
    let mut c = srv.client();
    match so {
        Some(so) => load(&mut c, so, listpack),
        None => fill(&mut c, listpack),
    }
    let enc = common::text(&mut c, &["OBJECT", "ENCODING", "z"]);
    assert_eq!(enc, if listpack { "listpack" } else { "skiplist" });
    let mut out = Vec::new();
    for case in CASES {
        let mut q = redis::cmd(case[0]);
        for a in &case[1..] {
            q.arg(*a);
        }
        let v: redis::RedisResult<Value> = q.query(&mut c);
        out.push(format!("{:?}", v.map_err(|e| e.to_string())));
    }
    // A lex range that does not parse refuses the seek.
    let err = redis::cmd("zr.walk")
        .arg(&["y", "lex", "first", "bad", "+"])
        .query::<Value>(&mut c)
        .unwrap_err();
    assert!(err.to_string().contains("seek failed"), "{err}");
    out
}

fn members(v: &Value) -> Vec<String> {
    let Value::Array(items) = v else {
        panic!("not an array: {v:?}")
    };
    items
        .iter()
        .step_by(2)
        .filter_map(|x| match x {
            Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        })
        .collect()
}

#[test]
fn zset_range_iterators() {
    let so = build_module();
    let so_s = so.to_str().unwrap();
    for listpack in [true, false] {
        let srv = Server::start(&["--enable-module-command", "yes"]);
        let mut c = srv.client();
        load(&mut c, so_s, listpack);
        let walk = |c: &mut redis::Connection, args: &[&str]| -> Vec<String> {
            let mut all = vec!["zr.walk"];
            all.extend_from_slice(args);
            members(&common::cmd(c, &all))
        };
        assert_eq!(
            walk(&mut c, &["z", "score", "first", "2", "4"]),
            ["b", "bb", "c", "d"]
        );
        assert_eq!(
            walk(&mut c, &["z", "score", "last", "2", "4"]),
            ["d", "c", "bb", "b"]
        );
        assert_eq!(
            walk(&mut c, &["z", "score", "first", "2", "4", "1", "1"]),
            ["c"]
        );
        assert_eq!(
            walk(&mut c, &["z", "score", "last", "2", "4", "1", "0"]),
            ["d", "c"]
        );
        assert!(walk(&mut c, &["z", "score", "first", "4", "2"]).is_empty());
        assert_eq!(walk(&mut c, &["y", "lex", "first", "[b", "(d"]), ["b", "c"]);
        assert_eq!(walk(&mut c, &["y", "lex", "last", "(c", "+"]), ["e", "d"]);
        // Next, Prev back to the first, Prev before the range: refused, end reached, the
        // current element unchanged.
        let v = common::cmd(&mut c, &["zr.backforth", "z", "2", "4"]);
        assert_eq!(
            v,
            Value::Array(vec![
                Value::Int(1),
                Value::Int(1),
                Value::Int(0),
                Value::Int(1),
                Value::BulkString(b"b".to_vec()),
            ])
        );
        drop(c);
        let ours = run_all(&srv, None, listpack);
        if let Some(redis) = Server::start_redis(&["--enable-module-command", "yes"]) {
            assert_eq!(
                ours,
                run_all(&redis, Some(so_s), listpack),
                "listpack={listpack}"
            );
        }
    }
    let _ = std::fs::remove_dir_all(so.parent().unwrap());
}
