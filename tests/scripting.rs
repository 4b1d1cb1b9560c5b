//! Lua scripting and Redis Functions against Debian's redis-server: the same scripts get the
//! same replies (conversions both ways, errors with their script lines, the sandbox, script
//! flags), function libraries move between the two servers in RDB files and DUMP payloads,
//! and a script's writes reach a real Redis replica. Without `/usr/bin/redis-server` these
//! tests only check what needs no comparison.

mod common;

use std::time::{Duration, Instant};

use common::{text, RespConn, Server};

/// Scripts whose replies must be identical on both servers: each is `EVAL <body> <numkeys>
/// <keys and args>`, run on a fresh connection (RESP2), after the same setup.
const SCRIPTS: &[&[&str]] = &[
    &["return 1", "0"],
    &["return {1, 2, {3, 'x'}, 'y', nil, 'after nil'}", "0"],
    &["return {KEYS[1], ARGV[1], #KEYS, #ARGV}", "1", "k", "a"],
    &["return 3.99", "0"],
    &["return -3.99", "0"],
    &["return true", "0"],
    &["return false", "0"],
    &["return nil", "0"],
    &["return redis.call('get', 'str')", "0"],
    &["return redis.call('get', 'missing')", "0"],
    &["return redis.call('incr', 'counter')", "0"],
    &["return redis.call('lrange', 'list', 0, -1)", "0"],
    &["return redis.call('set', 'x', 1)", "0"],
    &["return redis.call('ping')", "0"],
    &["return redis.pcall('incr', 'str')", "0"],
    &["return redis.call('incr', 'str')", "0"],
    &["local x = 1\nreturn redis.call('nosuchcommand')", "0"],
    &["return redis.call('get')", "0"],
    &["return redis.call()", "0"],
    &["return redis.call('set', 'k', {})", "0"],
    &["return redis.error_reply('MYERR custom')", "0"],
    &["return redis.status_reply('FINE')", "0"],
    &["return {err = 'ERR from a table'}", "0"],
    &["return a", "0"],
    &["a = 1", "0"],
    &["redis.call = nil", "0"],
    &["local t = string\nt.x = 1", "0"],
    &[
        "return loadstring(string.dump(function() return 1 end))()",
        "0",
    ],
    &[
        "local ok, e = pcall(function() return undefined_global end)\nreturn e",
        "0",
    ],
    &["local ok, e = pcall(redis.call, 'nosuch')\nreturn e", "0"],
    &["error('plain failure')", "0"],
    &["error({err = 'CUSTOM table error'})", "0"],
    &["return tostring(1e100) .. ' ' .. tostring(0.1)", "0"],
    &["return redis.sha1hex('Pizza & Mandolino')", "0"],
    &[
        "redis.setresp(3)\nreturn redis.call('hgetall', 'hash')",
        "0",
    ],
    &["redis.setresp(3)\nreturn {double = 3.14}", "0"],
    &[
        "redis.setresp(3)\nreturn redis.call('debug', 'protocol', 'bignum')",
        "0",
    ],
    &["return redis.setresp(4)", "0"],
    &[
        "math.randomseed(42)\nreturn {math.random(100), math.random(1, 6)}",
        "0",
    ],
    &[
        "return type(cjson) .. type(cmsgpack) .. type(bit) .. type(struct)",
        "0",
    ],
    &[
        "#!lua flags=no-writes\nreturn redis.call('set', 'y', 1)",
        "0",
    ],
    &["#!lua flags=no-writes,bogus\nreturn 1", "0"],
    &["#!python\nreturn 1", "0"],
    &["return redis.call('eval', 'return 1', 0)", "0"],
    &["return redis.call('select', 99)", "0"],
    &["return 1", "2", "onlyone"],
    &["return 1", "-1"],
    &["return redis.REDIS_VERSION", "0"],
];

fn setup(c: &mut RespConn) {
    for cmd in [
        &["SET", "str", "hello"][..],
        &["RPUSH", "list", "a", "b", "c"],
        &["HSET", "hash", "f", "v"],
        &["CONFIG", "SET", "enable-debug-command", "yes"],
    ] {
        c.call(cmd);
    }
}

fn eval_all(s: &Server) -> Vec<String> {
    let mut c = RespConn::new(s);
    setup(&mut c);
    SCRIPTS
        .iter()
        .map(|args| {
            let mut full = vec!["EVAL"];
            full.extend_from_slice(args);
            c.call(&full)
        })
        .collect()
}

#[test]
fn scripts_answer_as_redis_does() {
    let ferrodis = Server::start(&["--enable-debug-command", "yes"]);
    let ours = eval_all(&ferrodis);
    // Some answers need no reference at all.
    assert_eq!(ours[0], "1");
    assert!(ours[23].contains("Script attempted to access nonexistent global variable 'a'"));
    assert!(ours[24].contains("Attempt to modify a readonly table"));
    let Some(redis) = Server::start_redis(&["--enable-debug-command", "yes"]) else {
        return;
    };
    let theirs = eval_all(&redis);
    for ((script, ours), theirs) in SCRIPTS.iter().zip(&ours).zip(&theirs) {
        assert_eq!(ours, theirs, "EVAL {:?}", script);
    }
}

#[test]
fn function_libraries_answer_as_redis_does() {
    let lib = "#!lua name=mylib\n\
        redis.register_function('echo', function(keys, args) return {keys[1], args[1]} end)\n\
        redis.register_function{function_name='ro', callback=function(keys) \
            return redis.call('get', keys[1]) end, flags={'no-writes'}, description='reads'}\n\
        redis.register_function('writer', function(keys) return redis.call('set', keys[1], 'v') end)";
    let run = |s: &Server| -> Vec<String> {
        let mut c = RespConn::new(s);
        vec![
            c.call(&["FUNCTION", "LOAD", lib]),
            c.call(&["FUNCTION", "LOAD", lib]),
            c.call(&["FCALL", "echo", "1", "k", "a"]),
            c.call(&["FCALL", "ECHO", "1", "k", "a"]),
            c.call(&["FCALL_RO", "writer", "1", "k"]),
            c.call(&["FCALL_RO", "ro", "1", "k"]),
            c.call(&["FCALL", "nosuch", "0"]),
            // Functions of a library list in hash order (random per process): list a
            // library of one function.
            c.call(&[
                "FUNCTION",
                "LOAD",
                "#!lua name=single\nredis.register_function('one', function() return 1 end)",
            ]),
            c.call(&["FUNCTION", "LIST", "LIBRARYNAME", "sing*", "WITHCODE"]),
            c.call(&["FUNCTION", "STATS"]),
            c.call(&["FUNCTION", "LOAD", "#!lua name=bad\nx = 1"]),
            c.call(&["FUNCTION", "LOAD", "#!lua name=bad\nredis.call('ping')"]),
            c.call(&["FUNCTION", "LOAD", "#!lua name=empty\nlocal x = 1"]),
            c.call(&[
                "FUNCTION",
                "LOAD",
                "#!lua name=dup\nredis.register_function('echo', function() end)",
            ]),
            c.call(&["FUNCTION", "DELETE", "nosuch"]),
            c.call(&["FUNCTION", "DELETE", "mylib"]),
            c.call(&["FUNCTION", "DELETE", "single"]),
            c.call(&["FUNCTION", "LIST"]),
        ]
    };
    let ferrodis = Server::start(&[]);
    let ours = run(&ferrodis);
    assert_eq!(ours[0], "mylib");
    assert_eq!(ours[2], "[k,a]");
    let Some(redis) = Server::start_redis(&[]) else {
        return;
    };
    let theirs = run(&redis);
    for (i, (o, t)) in ours.iter().zip(&theirs).enumerate() {
        assert_eq!(o, t, "step {i}");
    }
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn function_libraries_move_between_redis_and_ferrodis_in_rdb_and_dump() {
    let lib = "#!lua name=moving\nredis.register_function('hello', function() return 'hi' end)";
    // ferrodis -> redis
    let fdir = common::temp_dir("scripting", "from-ferrodis");
    let ferrodis = Server::start(&["--dir", fdir.to_str().unwrap()]);
    let mut f = ferrodis.client();
    assert_eq!(text(&mut f, &["FUNCTION", "LOAD", lib]), "moving");
    assert_eq!(text(&mut f, &["SAVE"]), "OK");
    let ours_dump: Vec<u8> = redis::cmd("FUNCTION").arg("DUMP").query(&mut f).unwrap();
    let Some(redis) = Server::start_redis(&["--dir", fdir.to_str().unwrap()]) else {
        return;
    };
    let mut r = redis.client();
    assert_eq!(text(&mut r, &["FCALL", "hello", "0"]), "hi");
    // The same library dumps to the same bytes on both.
    let theirs_dump: Vec<u8> = redis::cmd("FUNCTION").arg("DUMP").query(&mut r).unwrap();
    assert_eq!(ours_dump, theirs_dump);
    // redis -> ferrodis, by RDB and by RESTORE
    let rdir = common::temp_dir("scripting", "from-redis");
    let redis2 = Server::start_redis(&["--dir", rdir.to_str().unwrap()]).unwrap();
    let mut r2 = redis2.client();
    let lib2 = "#!lua name=back\nredis.register_function('answer', function() return 42 end)";
    assert_eq!(text(&mut r2, &["FUNCTION", "LOAD", lib2]), "back");
    assert_eq!(text(&mut r2, &["SAVE"]), "OK");
    let dump2: Vec<u8> = redis::cmd("FUNCTION").arg("DUMP").query(&mut r2).unwrap();
    let ferrodis2 = Server::start(&["--dir", rdir.to_str().unwrap()]);
    let mut f2 = ferrodis2.client();
    assert_eq!(text(&mut f2, &["FCALL", "answer", "0"]), "42");
    let restored: String = redis::cmd("FUNCTION")
        .arg("RESTORE")
        .arg(dump2)
        .arg("REPLACE")
        .query(&mut f)
        .unwrap();
    assert_eq!(restored, "OK");
    assert_eq!(text(&mut f, &["FCALL", "answer", "0"]), "42");
}

#[test]
fn script_effects_and_functions_reach_a_redis_replica() {
    let ferrodis = Server::start(&["--repl-diskless-sync-delay", "0"]);
    let Some(replica) = Server::start_redis(&[]) else {
        return;
    };
    let mut r = replica.client();
    text(
        &mut r,
        &["REPLICAOF", "127.0.0.1", &ferrodis.port.to_string()],
    );
    wait_until("the replica to sync", || {
        text(&mut r, &["INFO", "replication"]).contains("master_link_status:up")
    });
    let mut m = ferrodis.client();
    text(
        &mut m,
        &[
            "EVAL",
            "redis.call('set', KEYS[1], ARGV[1]); redis.call('incrby', KEYS[2], 5); return redis.call('time')[1]",
            "2",
            "k1",
            "n",
            "v1",
        ],
    );
    text(
        &mut m,
        &[
            "FUNCTION",
            "LOAD",
            "#!lua name=rep\nredis.register_function('put', function(keys, args) return redis.call('rpush', keys[1], args[1]) end)",
        ],
    );
    text(&mut m, &["FCALL", "put", "1", "l", "x"]);
    wait_until("the writes to arrive", || {
        text(&mut r, &["LINDEX", "l", "0"]) == "x"
    });
    assert_eq!(text(&mut r, &["GET", "k1"]), "v1");
    assert_eq!(text(&mut r, &["GET", "n"]), "5");
    assert!(text(&mut r, &["FUNCTION", "LIST"]).contains("rep"));
}
