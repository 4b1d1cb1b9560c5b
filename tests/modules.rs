//! End-to-end tests of the modules system: a C module built here against our `redismodule.h`
//! (benches/module/benchmod.c) is loaded with `MODULE LOAD` and `--loadmodule`, its commands
//! run through the key API and RedisModule_Call, and the refusals of MODULE LOAD/UNLOAD
//! answer Redis' errors. A module linking against redis-server's own exported functions
//! (tests/modules/hostsyms.c) loads and gets the same answers as on redis-server.

mod common;

use std::path::PathBuf;

use common::Server;

/// Builds the benchmark module into a directory of the calling test's own (`name`).
fn build_module(name: &str) -> PathBuf {
    common::build_module("benches/module/benchmod.c", "modtest", name)
}

fn module_names(c: &mut redis::Connection) -> Vec<String> {
    let list: Vec<Vec<redis::Value>> = redis::cmd("MODULE").arg("LIST").query(c).unwrap();
    list.iter()
        .map(|m| match &m[1] {
            redis::Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
            other => panic!("unexpected {:?}", other),
        })
        .collect()
}

#[test]
fn load_run_and_unload_a_module() {
    let so = build_module("load");
    let srv = Server::start(&["--enable-module-command", "yes"]);
    let mut c = srv.client();
    let ok: String = redis::cmd("MODULE")
        .arg("LOAD")
        .arg(so.to_str().unwrap())
        .query(&mut c)
        .unwrap();
    assert_eq!(ok, "OK");
    assert_eq!(module_names(&mut c), vec!["benchmod".to_string()]);

    // SET through OpenKey/StringSet, read back natively and through the module's GETs.
    let ok: String = redis::cmd("bench.set")
        .arg("k")
        .arg("v1")
        .query(&mut c)
        .unwrap();
    assert_eq!(ok, "OK");
    let v: String = redis::cmd("GET").arg("k").query(&mut c).unwrap();
    assert_eq!(v, "v1");
    let v: String = redis::cmd("bench.get").arg("k").query(&mut c).unwrap();
    assert_eq!(v, "v1");
    let v: String = redis::cmd("bench.callget").arg("k").query(&mut c).unwrap();
    assert_eq!(v, "v1");
    let missing: Option<String> = redis::cmd("bench.get").arg("nokey").query(&mut c).unwrap();
    assert_eq!(missing, None);
    // Wrong type through the key API, arity through WrongArity.
    let _: i64 = redis::cmd("RPUSH").arg("l").arg("x").query(&mut c).unwrap();
    let err = redis::cmd("bench.get")
        .arg("l")
        .query::<String>(&mut c)
        .unwrap_err();
    assert_eq!(err.code(), Some("WRONGTYPE"));
    let err = redis::cmd("bench.set")
        .arg("k")
        .query::<String>(&mut c)
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("wrong number of arguments for 'bench.set' command"),
        "{err}"
    );
    // Module commands are in the command table, with their flags and key positions.
    let info: Vec<redis::Value> = redis::cmd("COMMAND")
        .arg("INFO")
        .arg("bench.set")
        .query(&mut c)
        .unwrap();
    let text = format!("{:?}", info);
    assert!(text.contains("module") && text.contains("write"), "{text}");

    // A second load of the same module is refused (its name is taken).
    let err = redis::cmd("MODULE")
        .arg("LOAD")
        .arg(so.to_str().unwrap())
        .query::<String>(&mut c)
        .unwrap_err();
    assert!(
        err.to_string().contains("Error loading the extension"),
        "{err}"
    );

    let ok: String = redis::cmd("MODULE")
        .arg("UNLOAD")
        .arg("benchmod")
        .query(&mut c)
        .unwrap();
    assert_eq!(ok, "OK");
    assert!(module_names(&mut c).is_empty());
    let err = redis::cmd("bench.set")
        .arg("k")
        .arg("v")
        .query::<String>(&mut c)
        .unwrap_err();
    assert!(err.to_string().contains("unknown command"), "{err}");
    let err = redis::cmd("MODULE")
        .arg("UNLOAD")
        .arg("benchmod")
        .query::<String>(&mut c)
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("Error unloading module: no such module with that name"),
        "{err}"
    );
    let err = redis::cmd("MODULE")
        .arg("LOAD")
        .arg("/nonexistent/module.so")
        .query::<String>(&mut c)
        .unwrap_err();
    assert!(
        err.to_string().contains("Error loading the extension"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(so.parent().unwrap());
}

#[test]
fn loadmodule_at_startup() {
    let so = build_module("startup");
    let srv = Server::start(&[
        "--loadmodule",
        so.to_str().unwrap(),
        "--enable-module-command",
        "local",
    ]);
    let mut c = srv.client();
    assert_eq!(module_names(&mut c), vec!["benchmod".to_string()]);
    let ok: String = redis::cmd("bench.set")
        .arg("a")
        .arg("b")
        .query(&mut c)
        .unwrap();
    assert_eq!(ok, "OK");
    let _ = std::fs::remove_dir_all(so.parent().unwrap());
}

#[test]
fn hello_lists_the_loaded_modules() {
    let so = build_module("hello");
    let srv = Server::start(&["--loadmodule", so.to_str().unwrap()]);
    let mut c = srv.client();
    // HELLO's last field describes the modules as MODULE LIST does.
    let redis::Value::Array(reply) = common::cmd(&mut c, &["HELLO", "2"]) else {
        panic!("HELLO 2 is an array in RESP2");
    };
    let pos = reply
        .iter()
        .position(|v| matches!(v, redis::Value::BulkString(b) if b == b"modules"))
        .expect("a modules field");
    let listed = &reply[pos + 1];
    let redis::Value::Array(mods) = listed else {
        panic!("modules: {listed:?}");
    };
    assert_eq!(mods.len(), 1);
    assert_eq!(
        listed,
        &common::cmd(&mut c, &["MODULE", "LIST"]),
        "HELLO and MODULE LIST describe modules alike"
    );
}

/// What a module's StringSet leaves behind, on one server: the encodings of the values, the
/// TTL, and the keyspace events a subscriber hears.
fn string_set_effects(srv: &Server, so: &str) -> Vec<String> {
    let mut c = common::RespConn::new(srv);
    c.call(&["MODULE", "LOAD", so]);
    c.call(&["CONFIG", "SET", "notify-keyspace-events", "KEAn"]);
    let mut sub = common::RespConn::new(srv);
    sub.call(&["PSUBSCRIBE", "__keyevent@0__:*"]);
    let mut seen = Vec::new();
    c.call(&["SET", "k", "old", "EX", "100"]);
    c.call(&["bench.set", "k", "123"]);
    seen.push(c.call(&["OBJECT", "ENCODING", "k"]));
    seen.push(c.call(&["TTL", "k"]));
    c.call(&[
        "bench.set",
        "k2",
        "12345678901234567890123456789012345678901234567890",
    ]);
    seen.push(c.call(&["OBJECT", "ENCODING", "k2"]));
    while !sub.quiet_for(200) {
        seen.push(sub.read());
    }
    seen
}

#[test]
fn string_set_replaces_the_key_as_redis_does() {
    let so = build_module("stringset");
    let so = so.to_str().unwrap();
    let ours = string_set_effects(&Server::start(&["--enable-module-command", "yes"]), so);
    assert_eq!(
        ours,
        [
            "embstr",
            "-1",
            "raw",
            // SET EX: a new key, set, expire; then StringSet's new key over it, and k2.
            "[pmessage,__keyevent@0__:*,__keyevent@0__:new,k]",
            "[pmessage,__keyevent@0__:*,__keyevent@0__:set,k]",
            "[pmessage,__keyevent@0__:*,__keyevent@0__:expire,k]",
            "[pmessage,__keyevent@0__:*,__keyevent@0__:new,k]",
            "[pmessage,__keyevent@0__:*,__keyevent@0__:new,k2]",
        ]
    );
    if let Some(redis) = Server::start_redis(&["--enable-module-command", "yes"]) {
        assert_eq!(string_set_effects(&redis, so), ours);
    }
    let _ = std::fs::remove_dir_all(std::path::Path::new(so).parent().unwrap());
}

/// The answers of the hostsyms test module on one server.
fn host_symbol_answers(srv: &Server, so: &str) -> Vec<String> {
    let mut c = common::RespConn::new(srv);
    assert_eq!(c.call(&["MODULE", "LOAD", so]), "OK");
    let mut seen = Vec::new();
    for data in [
        "",
        "a",
        "123456789",
        "Hello World, of many more bytes than eight",
    ] {
        seen.push(c.call(&["host.hash", data]));
    }
    seen.push(c.call(&["host.dicthash", "Key", "Key"]));
    seen.push(c.call(&["host.dicthash", "Key", "kEY"]));
    seen.push(c.call(&["host.dicthash", "Key", "other"]));
    seen
}

#[test]
fn modules_linking_against_the_servers_hash_functions_load_and_agree_with_redis() {
    let so = common::build_module("tests/modules/hostsyms.c", "modtest", "hostsyms");
    let dir = so.parent().unwrap().to_owned();
    let so = so.to_str().unwrap();
    let ours = host_symbol_answers(&Server::start(&["--enable-module-command", "yes"]), so);
    // The published check values of CRC-64/Jones and CRC-16/XMODEM for "123456789".
    assert!(
        ours[2].ends_with(",16845390139448941002,12739]"),
        "{}",
        ours[2]
    );
    assert_eq!(ours[4..], ["[1,1]", "[0,1]", "[0,0]"]);
    if let Some(redis) = Server::start_redis(&["--enable-module-command", "yes"]) {
        assert_eq!(host_symbol_answers(&redis, so), ours);
    }
    let _ = std::fs::remove_dir_all(dir);
}
