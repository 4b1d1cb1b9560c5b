//! ACL users end to end: ACL files move between ferrodis and Debian's redis-server both ways
//! with the same effective permissions, DRYRUN key checks agree with Redis, and the ACL LOG
//! (whose upstream tests need EVAL) records denials as Redis does.

mod common;

use common::{cmd, temp_dir, text, Server};

fn try_cmd(c: &mut redis::Connection, args: &[&str]) -> Result<redis::Value, String> {
    let mut q = redis::cmd(args[0]);
    for a in &args[1..] {
        q.arg(*a);
    }
    q.query(c).map_err(|e| e.to_string())
}

/// Users exercising every kind of rule: flags, passwords (clear and hashed), key patterns with
/// read/write permissions, channels, categories, subcommands, first arguments, selectors.
const USERS: &[&[&str]] = &[
    &[
        "alice",
        "on",
        ">alicepw",
        "~obj:*",
        "&news",
        "+@all",
        "-@dangerous",
    ],
    &[
        "bob",
        "on",
        "#5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8",
        "%R~read:*",
        "%W~write:*",
        "resetchannels",
        "-@all",
        "+@string",
        "+@hash",
        "-hset",
        "+client|id",
        "+select|0",
        "(~sel:* +get +set)",
    ],
    &[
        "carol",
        "off",
        "nopass",
        "allkeys",
        "allchannels",
        "+@read",
        "-debug",
        "+debug|digest",
    ],
];

/// Commands whose verdict each user's rules decide: DRYRUN must agree.
const PROBES: &[&[&str]] = &[
    &["get", "obj:1"],
    &["get", "read:1"],
    &["get", "write:1"],
    &["get", "sel:1"],
    &["set", "obj:1", "v"],
    &["set", "write:1", "v"],
    &["set", "read:1", "v"],
    &["set", "sel:1", "v"],
    &["hset", "read:1", "f", "v"],
    &["hget", "read:1", "f"],
    &["flushall"],
    &["client", "id"],
    &["client", "kill", "id", "1"],
    &["select", "0"],
    &["select", "1"],
    &["publish", "news", "m"],
    &["publish", "other", "m"],
    &["debug", "digest"],
    &["lrange", "obj:1", "0", "-1"],
    &["copy", "read:1", "write:1"],
    &["copy", "write:1", "read:1"],
];

fn create_users(c: &mut redis::Connection) {
    for u in USERS {
        let mut args = vec!["ACL", "SETUSER"];
        args.extend_from_slice(u);
        assert_eq!(text(c, &args), "OK", "ACL SETUSER {:?}", u);
    }
}

/// A reply as text, with command rule strings in a canonical order: Redis emits single
/// commands in its hash table's order, so only the set of rules is comparable.
fn normalized(v: &redis::Value) -> String {
    match v {
        redis::Value::BulkString(b) => {
            let s = String::from_utf8_lossy(b).into_owned();
            if s.starts_with("+@all") || s.starts_with("-@all") {
                let mut words: Vec<&str> = s.split(' ').collect();
                words[1..].sort_unstable();
                words.join(" ")
            } else {
                s
            }
        }
        redis::Value::Array(a) => {
            let parts: Vec<String> = a.iter().map(normalized).collect();
            format!("[{}]", parts.join(", "))
        }
        other => format!("{other:?}"),
    }
}

/// Everything about the users that must survive a trip through a file: GETUSER's fields but
/// the command string (its category order is not stable in Redis), and every DRYRUN verdict.
fn permissions(c: &mut redis::Connection) -> Vec<String> {
    let mut out = Vec::new();
    for u in USERS {
        let name = u[0];
        let v = cmd(c, &["ACL", "GETUSER", name]);
        let redis::Value::Array(fields) = v else {
            panic!("GETUSER {name}: {v:?}");
        };
        for pair in fields.chunks(2) {
            let key = format!("{:?}", pair[0]);
            if key.contains("commands") {
                continue;
            }
            out.push(format!("{name} {key} {}", normalized(&pair[1])));
        }
        for p in PROBES {
            let mut args = vec!["ACL", "DRYRUN", name];
            args.extend_from_slice(p);
            out.push(format!("{name} {:?} -> {}", p, text(c, &args)));
        }
    }
    out
}

fn acl_file_server(redis: bool, dir: &std::path::Path) -> Option<Server> {
    let file = dir.join("users.acl");
    if !file.exists() {
        std::fs::write(&file, "").unwrap();
    }
    let d = dir.to_str().unwrap();
    let f = file.to_str().unwrap();
    let args = ["--dir", d, "--aclfile", f];
    if redis {
        Server::start_redis(&args)
    } else {
        Some(Server::start(&args))
    }
}

#[test]
fn acl_files_move_between_ferrodis_and_redis() {
    let dir = temp_dir("acl", "interop");
    let ours = acl_file_server(false, &dir).unwrap();
    let mut c = ours.client();
    create_users(&mut c);
    let expected = permissions(&mut c);
    assert_eq!(text(&mut c, &["ACL", "SAVE"]), "OK");
    drop(c);
    drop(ours);

    // Redis loads the file we wrote and agrees on every permission.
    let Some(redis) = acl_file_server(true, &dir) else {
        return;
    };
    let mut r = redis.client();
    assert_eq!(permissions(&mut r), expected);
    // And the file Redis writes loads back into ferrodis with the same permissions.
    assert_eq!(
        text(&mut r, &["ACL", "DELUSER", "alice", "bob", "carol"]),
        "3"
    );
    create_users(&mut r);
    assert_eq!(text(&mut r, &["ACL", "SAVE"]), "OK");
    drop(r);
    drop(redis);
    let ours = acl_file_server(false, &dir).unwrap();
    let mut c = ours.client();
    assert_eq!(permissions(&mut c), expected);
    // The clear-text password was stored hashed and still authenticates.
    assert_eq!(text(&mut c, &["AUTH", "alice", "alicepw"]), "OK");
    assert_eq!(text(&mut c, &["ACL", "WHOAMI"]), "alice");
}

#[test]
fn dryrun_key_permissions_agree_with_redis() {
    // The checks of acl-v2's tests that run as a user set up by an EVAL test.
    let checks: &[&[&str]] = &[
        &["HEXISTS", "read", "foo"],
        &["HEXISTS", "write", "foo"],
        &["HEXISTS", "nothing", "foo"],
        &["HSTRLEN", "write", "foo"],
        &["SISMEMBER", "write", "foo"],
        &["SINTERCARD", "2", "read", "read"],
        &["SINTERCARD", "2", "write", "read"],
        &["ZCOUNT", "write", "0", "1"],
        &["PFCOUNT", "write", "read"],
        &["ZINTERCARD", "2", "nothing", "read"],
        &["TOUCH", "write"],
        &["EXISTS", "nothing"],
        &["MEMORY", "USAGE", "write"],
        &["TYPE", "rw"],
        &["STRLEN", "write"],
        &["XLEN", "nothing"],
        &["SORT", "read", "STORE", "write"],
        &["SORT", "write", "STORE", "write"],
        &[
            "MIGRATE", "h", "1", "", "0", "5000", "AUTH2", "USER", "KEYS", "KEYS", "write",
        ],
        &[
            "GEORADIUS",
            "read1",
            "1",
            "1",
            "1",
            "M",
            "STOREDIST",
            "read2",
        ],
    ];
    let ours = Server::start(&[]);
    let Some(redis) = Server::start_redis(&[]) else {
        return;
    };
    let mut verdicts = Vec::new();
    for s in [&ours, &redis] {
        let mut c = s.client();
        cmd(
            &mut c,
            &[
                "ACL",
                "SETUSER",
                "t",
                "+@all",
                "%R~read*",
                "%W~write*",
                "%RW~rw*",
            ],
        );
        let v: Vec<String> = checks
            .iter()
            .map(|p| {
                let mut args = vec!["ACL", "DRYRUN", "t"];
                args.extend_from_slice(p);
                text(&mut c, &args)
            })
            .collect();
        verdicts.push(v);
    }
    assert_eq!(verdicts[0], verdicts[1]);
}

/// Field `name` of the `i`th ACL LOG entry.
fn log_field(c: &mut redis::Connection, i: usize, name: &str) -> String {
    let redis::Value::Array(entries) = cmd(c, &["ACL", "LOG"]) else {
        panic!("ACL LOG is an array");
    };
    let redis::Value::Array(fields) = &entries[i] else {
        panic!("entry is a map");
    };
    for pair in fields.chunks(2) {
        if let redis::Value::BulkString(k) = &pair[0] {
            if k == name.as_bytes() {
                return match &pair[1] {
                    redis::Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
                    redis::Value::Int(n) => n.to_string(),
                    other => format!("{other:?}"),
                };
            }
        }
    }
    panic!("no field {name}");
}

fn log_len(c: &mut redis::Connection, args: &[&str]) -> usize {
    match cmd(c, args) {
        redis::Value::Array(a) => a.len(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn acl_log_records_denials() {
    let s = Server::start(&[]);
    let mut admin = s.client();
    let mut c = s.client();
    cmd(
        &mut admin,
        &[
            "ACL",
            "SETUSER",
            "antirez",
            ">foo",
            "on",
            "+set",
            "~object:1234",
            "+multi",
            "+exec",
            "resetchannels",
            "+publish",
            "+incr",
        ],
    );
    assert_eq!(text(&mut c, &["AUTH", "antirez", "foo"]), "OK");

    // A denied command, three times: one entry counted three times.
    for _ in 0..3 {
        let e = try_cmd(&mut c, &["GET", "foo"]).unwrap_err();
        assert!(e.contains("NOPERM") && e.contains("'get'"), "{e}");
    }
    assert_eq!(log_field(&mut admin, 0, "count"), "3");
    assert_eq!(log_field(&mut admin, 0, "reason"), "command");
    assert_eq!(log_field(&mut admin, 0, "object"), "get");
    assert_eq!(log_field(&mut admin, 0, "username"), "antirez");
    assert_eq!(log_field(&mut admin, 0, "context"), "toplevel");
    assert!(log_field(&mut admin, 0, "client-info").contains("user=antirez"));

    // Keys and channels are named.
    assert!(try_cmd(&mut c, &["SET", "somekeynotallowed", "1"]).is_err());
    assert_eq!(log_field(&mut admin, 0, "reason"), "key");
    assert_eq!(log_field(&mut admin, 0, "object"), "somekeynotallowed");
    assert!(try_cmd(&mut c, &["PUBLISH", "somechannelnotallowed", "m"]).is_err());
    assert_eq!(log_field(&mut admin, 0, "reason"), "channel");
    assert_eq!(log_field(&mut admin, 0, "object"), "somechannelnotallowed");

    // Inside MULTI, and when the rules change between queueing and EXEC.
    cmd(&mut admin, &["ACL", "LOG", "RESET"]);
    assert_eq!(log_len(&mut admin, &["ACL", "LOG"]), 0);
    cmd(&mut c, &["MULTI"]);
    assert_eq!(text(&mut c, &["INCR", "object:1234"]), "QUEUED");
    cmd(&mut admin, &["ACL", "SETUSER", "antirez", "-incr"]);
    // The client library reports the transaction's single (error) reply as the error.
    let e = try_cmd(&mut c, &["EXEC"]).unwrap_err();
    assert!(e.contains("ACLs rules changed"), "{e}");
    assert_eq!(log_field(&mut admin, 0, "context"), "multi");
    assert_eq!(log_field(&mut admin, 0, "object"), "incr");

    // Failed authentication.
    assert!(try_cmd(&mut c, &["AUTH", "antirez", "wrong"]).is_err());
    assert_eq!(log_field(&mut admin, 0, "reason"), "auth");
    assert_eq!(log_field(&mut admin, 0, "object"), "AUTH");
    assert_eq!(log_field(&mut admin, 0, "username"), "antirez");

    // A count limits the reply; acllog-max-len trims the log.
    assert_eq!(log_len(&mut admin, &["ACL", "LOG", "1"]), 1);
    cmd(&mut admin, &["ACL", "LOG", "RESET"]);
    cmd(&mut admin, &["CONFIG", "SET", "acllog-max-len", "5"]);
    for j in 0..10 {
        let k = format!("obj:{j}");
        assert!(try_cmd(&mut c, &["SET", &k, "1"]).is_err());
    }
    assert_eq!(log_len(&mut admin, &["ACL", "LOG"]), 5);
}

fn acl_list(c: &mut redis::Connection) -> Vec<String> {
    match cmd(c, &["ACL", "LIST"]) {
        redis::Value::Array(a) => a
            .into_iter()
            .map(|v| match v {
                redis::Value::BulkString(b) => String::from_utf8_lossy(&b).into_owned(),
                other => format!("{other:?}"),
            })
            .collect(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn requirepass_is_the_default_users_password() {
    let s = Server::start(&["--requirepass", "secret"]);
    let mut c = s.client();
    let e = try_cmd(&mut c, &["GET", "x"]).unwrap_err();
    assert!(e.contains("NOAUTH"), "{e}");
    assert_eq!(text(&mut c, &["AUTH", "secret"]), "OK");
    assert_eq!(
        acl_list(&mut c),
        vec!["user default on #2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b ~* &* +@all"]
    );
    cmd(&mut c, &["CONFIG", "SET", "requirepass", ""]);
    assert_eq!(acl_list(&mut c), vec!["user default on nopass ~* &* +@all"]);
}

/// Builds tests/modules/aclmod.c against our redismodule.h; returns the .so path.
fn build_acl_module() -> std::path::PathBuf {
    common::build_module("tests/modules/aclmod.c", "acl", "module")
}

#[test]
fn modules_read_clients_user_names() {
    let so = build_acl_module();
    let s = Server::start(&["--loadmodule", so.to_str().unwrap()]);
    let mut admin = s.client();
    let mut c = s.client();
    cmd(
        &mut admin,
        &["ACL", "SETUSER", "mod-user", "on", "nopass", "+@all", "~*"],
    );
    assert_eq!(text(&mut c, &["AUTH", "mod-user", "x"]), "OK");
    let id = text(&mut c, &["CLIENT", "ID"]);
    assert_eq!(text(&mut admin, &["aclmod.username", &id]), "mod-user");
    // The running client itself is found too.
    let own = text(&mut admin, &["CLIENT", "ID"]);
    assert_eq!(text(&mut admin, &["aclmod.username", &own]), "default");
    assert_eq!(text(&mut c, &["aclmod.whoami"]), "mod-user");
    let e = try_cmd(&mut admin, &["aclmod.username", "999999"]).unwrap_err();
    assert!(e.contains("ENOENT"), "{e}");
}

fn sanitizations(c: &mut redis::Connection) -> String {
    let info = text(c, &["INFO", "stats"]);
    info.lines()
        .find(|l| l.starts_with("dump_payload_sanitizations:"))
        .unwrap()
        .to_string()
}

#[test]
fn skip_sanitize_payload_users_restore_without_deep_checks() {
    let s = Server::start(&[]);
    let mut c = s.client();
    cmd(&mut c, &["HSET", "h", "a", "1", "b", "2"]);
    let payload: Vec<u8> = redis::cmd("DUMP").arg("h").query(&mut c).unwrap();
    cmd(
        &mut c,
        &["CONFIG", "SET", "sanitize-dump-payload", "clients"],
    );
    let restore = |c: &mut redis::Connection, key: &str| {
        let r: String = redis::cmd("RESTORE")
            .arg(key)
            .arg(0)
            .arg(&payload)
            .query(c)
            .unwrap();
        assert_eq!(r, "OK");
    };
    restore(&mut c, "k1");
    assert_eq!(sanitizations(&mut c), "dump_payload_sanitizations:1");
    cmd(
        &mut c,
        &[
            "ACL",
            "SETUSER",
            "trusted",
            "on",
            "nopass",
            "+@all",
            "~*",
            "skip-sanitize-payload",
        ],
    );
    assert_eq!(text(&mut c, &["AUTH", "trusted", "x"]), "OK");
    restore(&mut c, "k2");
    assert_eq!(sanitizations(&mut c), "dump_payload_sanitizations:1");
}
