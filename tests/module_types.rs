//! Module data types across servers: values of upstream's test modules (`datatype`,
//! `datatype2` with its digest callback, `testrdb` with aux data before and after the keys,
//! floats and long doubles) saved by Debian's `redis-server` load into ferrodis with the same
//! DEBUG DIGEST and contents, and the reverse. The modules are the ones the TCL runner builds
//! into target/tcl-compat/suite/tests/modules; without them (or without
//! /usr/bin/redis-server) the tests say so and check nothing.

mod common;

use std::path::{Path, PathBuf};

use common::{cmd, text, Server};

fn module_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/tcl-compat/suite/tests/modules")
}

/// The module paths, or None (saying so) when the TCL runner has not built them.
fn modules() -> Option<[String; 3]> {
    let dir = module_dir();
    let paths = ["datatype.so", "datatype2.so", "testrdb.so"].map(|m| dir.join(m));
    if let Some(p) = paths.iter().find(|p| !p.exists()) {
        eprintln!(
            "{} missing (run tests/tcl-compat/run once to build the test modules): skipping",
            p.display()
        );
        return None;
    }
    Some(paths.map(|p| p.to_string_lossy().into_owned()))
}

/// Server arguments: the directory, DEBUG, and the three modules (testrdb saving aux data
/// before and after the keys).
fn args<'a>(dir: &'a Path, mods: &'a [String; 3]) -> Vec<&'a str> {
    vec![
        "--dir",
        dir.to_str().unwrap(),
        "--enable-debug-command",
        "yes",
        "--loadmodule",
        &mods[0],
        "--loadmodule",
        &mods[1],
        "--loadmodule",
        &mods[2],
        "2",
    ]
}

fn populate(c: &mut redis::Connection) {
    assert_eq!(text(c, &["datatype.set", "dt1", "100", "stringval"]), "OK");
    let long = "x".repeat(300);
    assert_eq!(text(c, &["datatype.set", "dt2", "-42", &long]), "OK");
    assert_eq!(text(c, &["datatype.set", "dt3", "7", "12345"]), "OK");
    cmd(c, &["PEXPIRE", "dt3", "100000000"]);
    assert_eq!(text(c, &["mem.alloc", "m1", "3"]), "3");
    assert_eq!(text(c, &["mem.write", "m1", "1", "hello"]), "5");
    assert_eq!(text(c, &["testrdb.set.key", "r1", "rdbvalue"]), "1");
    assert_eq!(text(c, &["testrdb.set.before", "globalA"]), "1");
    assert_eq!(text(c, &["testrdb.set.after", "globalB"]), "1");
    cmd(c, &["SELECT", "3"]);
    assert_eq!(text(c, &["mem.alloc", "m2", "2"]), "2");
    assert_eq!(text(c, &["mem.write", "m2", "0", "db3"]), "3");
    assert_eq!(text(c, &["SET", "plain", "string"]), "OK");
    cmd(c, &["SELECT", "0"]);
}

fn check(c: &mut redis::Connection) {
    let get = |c: &mut redis::Connection, k: &str| -> Vec<String> {
        let redis::Value::Array(items) = cmd(c, &["datatype.get", k]) else {
            panic!("datatype.get {k}");
        };
        items
            .into_iter()
            .map(|v| match v {
                redis::Value::Int(n) => n.to_string(),
                redis::Value::BulkString(b) => String::from_utf8_lossy(&b).into_owned(),
                other => format!("{other:?}"),
            })
            .collect()
    };
    assert_eq!(get(c, "dt1"), ["100", "stringval"]);
    assert_eq!(get(c, "dt2"), ["-42".to_string(), "x".repeat(300)]);
    assert_eq!(get(c, "dt3"), ["7", "12345"]);
    assert_eq!(text(c, &["TYPE", "dt1"]), "test___dt");
    assert_eq!(text(c, &["TYPE", "m1"]), "mem_alloc");
    assert_eq!(text(c, &["OBJECT", "ENCODING", "dt1"]), "raw");
    assert!(text(c, &["PTTL", "dt3"]).parse::<i64>().unwrap() > 0);
    assert_eq!(text(c, &["mem.read", "m1", "1"]), "hello");
    assert_eq!(text(c, &["testrdb.get.key", "r1"]), "rdbvalue");
    assert_eq!(text(c, &["testrdb.get.before"]), "globalA");
    assert_eq!(text(c, &["testrdb.get.after"]), "globalB");
    cmd(c, &["SELECT", "3"]);
    assert_eq!(text(c, &["mem.read", "m2", "0"]), "db3");
    cmd(c, &["SELECT", "0"]);
}

/// Digests of the dataset and of each module key.
fn digests(c: &mut redis::Connection) -> Vec<String> {
    let mut v = vec![text(c, &["DEBUG", "DIGEST"])];
    for k in ["dt1", "dt2", "dt3", "m1", "r1"] {
        v.push(text(c, &["DEBUG", "DIGEST-VALUE", k]));
    }
    v
}

fn save_and_copy(c: &mut redis::Connection, from: &Path, to: &Path) {
    assert_eq!(text(c, &["SAVE"]), "OK");
    std::fs::copy(from.join("dump.rdb"), to.join("dump.rdb")).unwrap();
}

#[test]
fn module_values_saved_by_redis_load_into_ferrodis() {
    let Some(mods) = modules() else {
        return;
    };
    let rdir = common::temp_dir("modtypes", "from-redis-r");
    let fdir = common::temp_dir("modtypes", "from-redis-f");
    let Some(redis) = Server::start_redis(&args(&rdir, &mods)) else {
        return;
    };
    let mut rc = redis.client();
    populate(&mut rc);
    let want = digests(&mut rc);
    save_and_copy(&mut rc, &rdir, &fdir);
    drop(redis);
    let f = Server::start(&args(&fdir, &mods));
    let mut fc = f.client();
    check(&mut fc);
    assert_eq!(digests(&mut fc), want);
    // The digest covers the keys and the module's own digest (datatype2's never ends a
    // sequence, so its data adds nothing, in Redis too): a new key changes it.
    assert_eq!(text(&mut fc, &["mem.alloc", "m9", "1"]), "1");
    assert_ne!(digests(&mut fc), want);
    drop(f);
    let _ = std::fs::remove_dir_all(&rdir);
    let _ = std::fs::remove_dir_all(&fdir);
}

#[test]
fn module_values_saved_by_ferrodis_load_into_redis() {
    let Some(mods) = modules() else {
        return;
    };
    let fdir = common::temp_dir("modtypes", "to-redis-f");
    let rdir = common::temp_dir("modtypes", "to-redis-r");
    let f = Server::start(&args(&fdir, &mods));
    let mut fc = f.client();
    populate(&mut fc);
    let want = digests(&mut fc);
    save_and_copy(&mut fc, &fdir, &rdir);
    // Debian's redis-check-rdb walks our module values and aux records by their opcodes.
    let checker = Path::new("/usr/bin/redis-check-rdb");
    if checker.exists() {
        let out = std::process::Command::new(checker)
            .arg(fdir.join("dump.rdb"))
            .output()
            .unwrap();
        let report = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{report}");
        assert!(report.contains("RDB looks OK"), "{report}");
        assert_eq!(
            report.matches("MODULE AUX for: test__rdb").count(),
            2,
            "{report}"
        );
    }
    // Our own file reads back, and so does a DUMP payload.
    assert_eq!(text(&mut fc, &["DEBUG", "RELOAD"]), "OK");
    check(&mut fc);
    assert_eq!(digests(&mut fc), want);
    let redis::Value::BulkString(payload) = cmd(&mut fc, &["DUMP", "dt2"]) else {
        panic!("DUMP dt2");
    };
    if let Some(redis) = Server::start_redis(&args(&rdir, &mods)) {
        let mut rc = redis.client();
        check(&mut rc);
        assert_eq!(digests(&mut rc), want);
        let _: () = redis::cmd("RESTORE")
            .arg("dt2-copy")
            .arg(0)
            .arg(&payload)
            .query(&mut rc)
            .unwrap();
        assert_eq!(
            text(&mut rc, &["DEBUG", "DIGEST-VALUE", "dt2-copy"]),
            text(&mut fc, &["DEBUG", "DIGEST-VALUE", "dt2"])
        );
        // The payloads are byte-identical both ways.
        assert_eq!(
            cmd(&mut rc, &["DUMP", "dt2-copy"]),
            redis::Value::BulkString(payload)
        );
    }
    drop(f);
    let _ = std::fs::remove_dir_all(&rdir);
    let _ = std::fs::remove_dir_all(&fdir);
}

#[test]
fn module_values_survive_bgrewriteaof_and_restart() {
    // test_lazyfree's type rewrites itself as LAZYFREELINK.INSERT commands (EmitAOF).
    let m = module_dir().join("test_lazyfree.so");
    if !m.exists() {
        eprintln!("{} missing: skipping", m.display());
        return;
    }
    let dir = common::temp_dir("modtypes", "aof");
    let a = [
        "--dir",
        dir.to_str().unwrap(),
        "--enable-debug-command",
        "yes",
        "--loadmodule",
        m.to_str().unwrap(),
        "--appendonly",
        "yes",
        "--aof-use-rdb-preamble",
        "no",
    ];
    let want;
    {
        let f = Server::start(&a);
        let mut c = f.client();
        for v in ["5", "-3", "12"] {
            cmd(&mut c, &["lazyfreelink.insert", "lk", v]);
        }
        want = text(&mut c, &["DEBUG", "DIGEST"]);
        assert_eq!(
            text(&mut c, &["BGREWRITEAOF"]),
            "Background append only file rewriting started"
        );
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let info = text(&mut c, &["INFO", "persistence"]);
            if info.contains("aof_rewrite_in_progress:0")
                && info.contains("aof_rewrite_scheduled:0")
            {
                assert!(info.contains("aof_last_bgrewrite_status:ok"), "{info}");
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "rewrite did not finish"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
    // The base file holds the module's commands, in its list order.
    let base = std::fs::read_dir(dir.join("appendonlydir"))
        .unwrap()
        .filter_map(|e| e.ok())
        .find(|e| e.file_name().to_string_lossy().contains(".base.aof"))
        .map(|e| std::fs::read(e.path()).unwrap())
        .expect("a base file");
    let base = String::from_utf8_lossy(&base);
    let cmds: Vec<&str> = base
        .match_indices("LAZYFREELINK.INSERT")
        .map(|(i, _)| &base[i..])
        .collect();
    assert_eq!(cmds.len(), 3, "{base}");
    for (c, v) in cmds.iter().zip(["-3", "5", "12"]) {
        assert!(
            c.starts_with(&format!(
                "LAZYFREELINK.INSERT\r\n$2\r\nlk\r\n${}\r\n{}\r\n",
                v.len(),
                v
            )),
            "{c}"
        );
    }
    let f = Server::start(&a);
    let mut c = f.client();
    assert_eq!(text(&mut c, &["DEBUG", "DIGEST"]), want);
    assert_eq!(text(&mut c, &["lazyfreelink.len", "lk"]), "3");
    assert_eq!(text(&mut c, &["TYPE", "lk"]), "test_lazy");
    drop(f);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_file_naming_an_unknown_module_type_stops_start_up() {
    let Some(mods) = modules() else {
        return;
    };
    let dir = common::temp_dir("modtypes", "unknown-type");
    {
        let f = Server::start(&["--dir", dir.to_str().unwrap(), "--loadmodule", &mods[0]]);
        let mut c = f.client();
        assert_eq!(text(&mut c, &["datatype.set", "k", "1", "v"]), "OK");
        assert_eq!(text(&mut c, &["SAVE"]), "OK");
    }
    // Started without the module: the load fails with Redis' message and the server exits.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ferrodis-server"))
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--dir", dir.to_str().unwrap()])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{log}");
    assert!(
        log.contains(
            "The RDB file contains module data I can't load: no matching module type 'test___dt'"
        ),
        "{log}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
