//! The example modules of Redis 7.0.15's source (`src/modules/hello*.c`), compiled unmodified
//! against upstream's `redismodule.h` and against ours, loaded into ferrodis and into Debian's
//! `redis-server`: the same commands must get the same replies from all of them. This is what
//! a user moving an existing `.so` to ferrodis relies on, and it checks both halves of the ABI
//! promise (an old binary on our server; a module built with our header on theirs).
//! All of them but hellocluster, which needs a cluster: `tests/cluster.rs` runs it on one
//! mixing ferrodis and redis-server nodes.
//!
//! Needs upstream's source tree (`tests/tcl-compat/fetch-redis-source`, or `REDIS_SRC`), a C
//! compiler and `/usr/bin/redis-server`; `scripts/test-all` provides all three.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::Server;

/// Which `redismodule.h` a module is compiled against.
#[derive(Clone, Copy, Debug)]
enum Header {
    Upstream,
    Ours,
}

/// Compiles `src/modules/<name>.c` of upstream's tree against `header`; returns the `.so`.
/// The examples include "../redismodule.h", so each build gets a directory with the header
/// beside a `modules/` folder holding the source.
fn build_example(name: &str, header: Header) -> PathBuf {
    let upstream = common::redis_src();
    let dir = common::temp_dir("example-module", &format!("{name}-{header:?}"));
    let header_src = match header {
        Header::Upstream => upstream.join("src/redismodule.h"),
        Header::Ours => Path::new(env!("CARGO_MANIFEST_DIR")).join("redismodule.h"),
    };
    std::fs::copy(&header_src, dir.join("redismodule.h")).unwrap();
    std::fs::create_dir_all(dir.join("modules")).unwrap();
    let source = dir.join(format!("modules/{name}.c"));
    std::fs::copy(upstream.join(format!("src/modules/{name}.c")), &source).unwrap();
    let out = dir.join(format!("{name}.so"));
    let status = Command::new("cc")
        .args(["-O1", "-std=gnu99", "-fPIC", "-shared", "-o"])
        .arg(&out)
        .arg(&source)
        .args(["-lpthread", "-lm"])
        .status()
        .expect("run cc");
    assert!(
        status.success(),
        "building {name}.c against the {header:?} header failed"
    );
    out
}

/// A reply, with an error reply kept as its text so that errors compare too.
fn reply(c: &mut redis::Connection, args: &[&str]) -> Result<redis::Value, String> {
    let mut q = redis::cmd(args[0]);
    for a in &args[1..] {
        q.arg(*a);
    }
    q.query(c).map_err(|e| e.to_string())
}

/// DEBUG is allowed, so scripts can compare digests and reloads.
const DEBUG: [&str; 2] = ["--enable-debug-command", "yes"];

/// A data directory of its own for each server (DEBUG RELOAD writes a dump.rdb there).
fn data_dir(name: &str, side: &str, header: Header) -> String {
    common::temp_dir("example-module-data", &format!("{name}-{side}-{header:?}"))
        .to_string_lossy()
        .into_owned()
}

/// The servers a script runs on: ferrodis with the module built against each header, and
/// redis-server with the module built against ours (upstream's build on upstream's server
/// is the reference behaviour itself).
fn servers_with(name: &str) -> Vec<(String, Server)> {
    let mut servers = Vec::new();
    for header in [Header::Upstream, Header::Ours] {
        let so = build_example(name, header);
        let so = so.to_str().unwrap();
        servers.push((
            format!("ferrodis, {header:?} header"),
            Server::start(&[
                DEBUG[0],
                DEBUG[1],
                "--dir",
                &data_dir(name, "f", header),
                "--loadmodule",
                so,
            ]),
        ));
        if let Header::Upstream = header {
            if let Some(redis) = Server::start_redis(&[
                DEBUG[0],
                DEBUG[1],
                "--dir",
                &data_dir(name, "r", header),
                "--loadmodule",
                so,
            ]) {
                servers.push(("redis-server, Upstream header".into(), redis));
            }
        }
    }
    let so = build_example(name, Header::Ours);
    if let Some(redis) = Server::start_redis(&[
        DEBUG[0],
        DEBUG[1],
        "--dir",
        &data_dir(name, "r", Header::Ours),
        "--loadmodule",
        so.to_str().unwrap(),
    ]) {
        servers.push(("redis-server, Ours header".into(), redis));
    }
    servers
}

/// Runs `script` on every server and checks that each command got the same reply everywhere.
/// Returns the replies of the first server (ferrodis with upstream's build) for more checks.
fn same_replies(name: &str, script: &[&[&str]]) -> Vec<Result<redis::Value, String>> {
    let servers = servers_with(name);
    assert!(
        servers
            .iter()
            .any(|(label, _)| label.starts_with("redis-server")),
        "/usr/bin/redis-server is needed to compare with (apt-get install redis-server)"
    );
    let mut all: Vec<Vec<Result<redis::Value, String>>> = Vec::new();
    for (_, srv) in &servers {
        let mut c = srv.client();
        all.push(script.iter().map(|args| reply(&mut c, args)).collect());
    }
    for (i, args) in script.iter().enumerate() {
        for (s, (label, _)) in servers.iter().enumerate().skip(1) {
            assert_eq!(
                all[0][i],
                all[s][i],
                "{name}: `{}` answered differently on {} and {label}",
                args.join(" "),
                servers[0].0
            );
        }
    }
    all.swap_remove(0)
}

#[test]
fn helloworld_answers_as_on_redis() {
    let script: &[&[&str]] = &[
        &["hello.simple"],
        &["hello.push.native", "list", "a"],
        &["hello.push.call", "list", "bb"],
        &["hello.push.call2", "list", "ccc"],
        &["lrange", "list", "0", "-1"],
        &["hello.list.sum.len", "list"],
        &["rpush", "src", "1", "2", "3", "4", "5"],
        &["hello.list.splice", "src", "dst", "2"],
        &["lrange", "src", "0", "-1"],
        &["lrange", "dst", "0", "-1"],
        &["hello.list.splice.auto", "src", "dst", "2"],
        &["lrange", "src", "0", "-1"],
        &["lrange", "dst", "0", "-1"],
        &["hello.list.splice", "src", "dst", "-1"],
        &["hello.list.splice", "src"],
        &["set", "str", "x"],
        &["hello.push.native", "str", "a"],
        &["hello.list.splice.auto", "str", "dst", "1"],
        &["hello.repl1"],
        &["mget", "foo", "bar"],
        &["hello.repl2", "dst"],
        &["lrange", "dst", "0", "-1"],
        &["set", "case", "HeLLo World"],
        &["hello.toggle.case", "case"],
        &["get", "case"],
        &["hello.more.expire", "case", "100000"],
        &["hello.more.expire", "case", "abc"],
        &["zadd", "z", "1", "a", "2", "b", "3", "c", "4", "d"],
        &["hello.zsumrange", "z", "2", "3"],
        &["hello.zsumrange", "z", "1", "(4"],
        &["zadd", "lex", "0", "a", "0", "b", "0", "c", "0", "d"],
        &["hello.lexrange", "lex", "[b", "[d", "0", "0"],
        &["hset", "h", "f1", "v1"],
        &["hello.hcopy", "h", "f1", "f2"],
        &["hgetall", "h"],
        &["hello.leftpad", "123", "8", "0"],
        &["hello.leftpad", "123", "8", "00"],
        &["hello.rand.array", "abc"],
    ];
    let got = same_replies("helloworld", script);
    // The announcement's example: splice.auto moved two more elements from src's tail to
    // dst's head, after the plain splice moved 5 and 4.
    let lrange_dst = &got[12];
    assert_eq!(
        lrange_dst,
        &Ok(redis::Value::Array(
            ["2", "3", "4", "5"]
                .iter()
                .map(|s| redis::Value::BulkString(s.as_bytes().to_vec()))
                .collect()
        )),
        "hello.list.splice.auto"
    );
    // hello.rand.array's numbers differ; its shape does not.
    let so = build_example("helloworld", Header::Upstream);
    let srv = Server::start(&["--loadmodule", so.to_str().unwrap()]);
    let mut c = srv.client();
    match reply(&mut c, &["hello.rand.array", "5"]) {
        Ok(redis::Value::Array(items)) => {
            assert_eq!(items.len(), 5);
            assert!(items.iter().all(|v| matches!(v, redis::Value::Int(_))));
        }
        other => panic!("hello.rand.array: {other:?}"),
    }
}

#[test]
fn hellodict_and_hellotimer_answer_as_on_redis() {
    same_replies(
        "hellodict",
        &[
            &["hellodict.set", "apple", "1"],
            &["hellodict.set", "banana", "2"],
            &["hellodict.set", "cherry", "3"],
            &["hellodict.get", "banana"],
            &["hellodict.get", "missing"],
            &["hellodict.keyrange", "b", "z", "10"],
            &["hellodict.keyrange", "a", "z", "2"],
            &["hellodict.keyrange", "a", "z", "x"],
        ],
    );
    same_replies("hellotimer", &[&["hellotimer.timer"], &["ping"]]);
}

#[test]
fn helloblock_answers_as_on_redis() {
    let got = same_replies(
        "helloblock",
        &[
            &["set", "k1", "v"],
            &["set", "k2", "v"],
            // Delay 2 s, timeout 100 ms: the timeout callback answers.
            &["hello.block", "2", "100"],
            &["hello.block", "x", "100"],
            &["hello.block", "1", "-5"],
        ],
    );
    assert_eq!(
        got[2],
        Ok(redis::Value::SimpleString("Request timedout".into()))
    );
    // The replies carrying random numbers or key order, checked for shape.
    let so = build_example("helloblock", Header::Upstream);
    let srv = Server::start(&["--loadmodule", so.to_str().unwrap()]);
    let mut c = srv.client();
    assert!(matches!(
        reply(&mut c, &["hello.block", "0", "1000"]),
        Ok(redis::Value::Int(_))
    ));
    for k in ["a", "b", "c"] {
        reply(&mut c, &["set", k, "1"]).unwrap();
    }
    match reply(&mut c, &["hello.keys"]) {
        Ok(redis::Value::Array(keys)) => {
            let mut keys: Vec<_> = keys
                .into_iter()
                .map(|k| match k {
                    redis::Value::BulkString(b) => String::from_utf8(b).unwrap(),
                    other => panic!("hello.keys element {other:?}"),
                })
                .collect();
            keys.sort();
            assert_eq!(keys, ["a", "b", "c"]);
        }
        other => panic!("hello.keys: {other:?}"),
    }
}

#[test]
fn hellohook_loads_and_sees_client_events() {
    // It only prints; loading it subscribes to client and flush events, which must work
    // while clients come and go and FLUSHALL runs.
    same_replies(
        "hellohook",
        &[&["set", "a", "1"], &["flushall"], &["dbsize"]],
    );
}

#[test]
fn hellotype_answers_as_on_redis() {
    // A module data type: values, TYPE, WRONGTYPE, COPY without a copy callback, MEMORY
    // USAGE (mem_usage), DEBUG DIGEST-VALUE (digest), DUMP/RESTORE (rdb_save/load) and a
    // reload through the RDB file.
    same_replies(
        "hellotype",
        &[
            &["hellotype.insert", "t", "10"],
            &["hellotype.insert", "t", "-5"],
            &["hellotype.insert", "t", "7"],
            &["hellotype.insert", "t", "x"],
            &["hellotype.range", "t", "0", "10"],
            &["hellotype.len", "t"],
            &["type", "t"],
            &["object", "encoding", "t"],
            &["set", "s", "v"],
            &["hellotype.insert", "s", "1"],
            &["get", "t"],
            &["copy", "t", "t2"],
            &["memory", "usage", "t"],
            &["debug", "digest-value", "t"],
            &["debug", "digest"],
            &["dump", "t"],
            &["rename", "t", "t3"],
            &["hellotype.range", "t3", "1", "1"],
            &["debug", "reload"],
            &["hellotype.range", "t3", "0", "10"],
            &["debug", "digest"],
            &["del", "t3"],
            &["hellotype.len", "t3"],
        ],
    );
}

#[test]
fn helloacl_answers_as_on_redis() {
    same_replies(
        "helloacl",
        &[
            &["helloacl.revoke"],
            &["helloacl.reset"],
            &["helloacl.authglobal"],
            &["acl", "whoami"],
            &["helloacl.authglobal"],
            &["acl", "setuser", "alice", "on", "nopass", "+@all", "~*"],
            &["helloacl.authasync", "nosuchuser"],
            &["helloacl.authasync", "alice"],
            &["acl", "whoami"],
            &["helloacl.authasync", "default"],
            &["acl", "whoami"],
        ],
    );
}
