//! End-to-end checks of the connection introspection commands (CLIENT, MONITOR, INFO, COMMAND)
//! against a real ferrodis-server process on a loopback port.

mod common;

use std::io::BufRead;
use std::time::{Duration, Instant};

use common::{RespConn as Conn, Server};

fn start() -> Server {
    Server::start(&[])
}

fn info_field(info: &str, name: &str) -> Option<String> {
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .map(|v| v.trim().to_string())
}

#[test]
fn client_reply_skip_silences_only_the_next_command() {
    let s = start();
    let mut c = Conn::new(&s);
    c.send(&["CLIENT", "REPLY", "SKIP"]);
    c.send(&["PING", "one"]);
    c.send(&["PING", "two"]);
    assert_eq!(c.read(), "two");
    c.send(&["CLIENT", "REPLY", "OFF"]);
    c.send(&["PING", "three"]);
    assert_eq!(c.call(&["CLIENT", "REPLY", "ON"]), "OK");
    assert_eq!(c.call(&["PING", "four"]), "four");
}

#[test]
fn client_list_kill_and_names() {
    let s = start();
    let mut a = Conn::new(&s);
    let mut b = Conn::new(&s);
    assert_eq!(b.call(&["CLIENT", "GETNAME"]), "(nil)");
    assert!(b
        .call(&["CLIENT", "SETNAME", "with space"])
        .starts_with("-ERR Client names cannot contain spaces"));
    assert_eq!(b.call(&["CLIENT", "SETNAME", "bee"]), "OK");
    let bid = b.call(&["CLIENT", "ID"]);
    let list = a.call(&["CLIENT", "LIST"]);
    assert_eq!(list.lines().count(), 2);
    assert!(list.contains(&format!("id={bid} ")) && list.contains("name=bee "));
    assert!(list.contains("cmd=client|list"));
    let only_b = a.call(&["CLIENT", "LIST", "ID", &bid]);
    assert_eq!(only_b.lines().count(), 1);
    assert_eq!(
        a.call(&["CLIENT", "KILL", "ID", "0"]),
        "-ERR client-id should be greater than 0"
    );
    assert_eq!(a.call(&["CLIENT", "KILL", "ID", &bid]), "1");
    let mut line = String::new();
    assert_eq!(
        b.r.read_line(&mut line).unwrap_or(0),
        0,
        "killed client is closed"
    );
    // Killing ourselves: the reply still arrives, then the connection closes.
    assert_eq!(a.call(&["CLIENT", "KILL", "SKIPME", "no"]), "1");
    let mut line = String::new();
    assert_eq!(a.r.read_line(&mut line).unwrap_or(0), 0);
}

#[test]
fn monitor_shows_commands_with_secrets_redacted() {
    let s = start();
    let mut m = Conn::new(&s);
    let mut c = Conn::new(&s);
    assert_eq!(m.call(&["MONITOR"]), "OK");
    c.call(&["SET", "foo", "bar"]);
    c.call(&["AUTH", "user", "secret"]);
    c.call(&["MULTI"]);
    c.call(&["NOSUCHCOMMAND"]);
    c.call(&["EXEC"]);
    let set = m.read();
    assert!(set.ends_with(r#"] "SET" "foo" "bar""#), "{set}");
    let auth = m.read();
    assert!(
        auth.ends_with(r#"] "AUTH" "(redacted)" "(redacted)""#),
        "{auth}"
    );
    assert!(m.read().ends_with(r#""MULTI""#));
    assert!(m.read().ends_with(r#""EXEC""#));
    // MONITOR inside a transaction is refused.
    c.call(&["MULTI"]);
    c.call(&["MONITOR"]);
    assert_eq!(
        c.call(&["EXEC"]),
        "[-ERR MONITOR isn't allowed for DENY BLOCKING client]"
    );
}

#[test]
fn pause_holds_writes_and_counts_them_as_blocked() {
    let s = start();
    let mut admin = Conn::new(&s);
    let mut w = Conn::new(&s);
    assert_eq!(admin.call(&["CLIENT", "PAUSE", "100000", "WRITE"]), "OK");
    w.send(&["SET", "k", "v"]);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let info = admin.call(&["INFO", "clients"]);
        if info_field(&info, "blocked_clients").as_deref() == Some("1") {
            break;
        }
        assert!(Instant::now() < deadline, "write was not held");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Reads still run.
    assert_eq!(admin.call(&["GET", "k"]), "(nil)");
    assert_eq!(admin.call(&["CLIENT", "UNPAUSE"]), "OK");
    assert_eq!(w.read(), "OK");
    assert_eq!(admin.call(&["GET", "k"]), "v");
}

#[test]
fn info_sections_and_stats() {
    let s = start();
    let mut c = Conn::new(&s);
    c.call(&["SET", "k", "v"]);
    c.call(&["SET", "k"]);
    let all = c.call(&["INFO", "everything"]);
    assert_eq!(info_field(&all, "redis_version").as_deref(), Some("7.0.15"));
    assert!(info_field(&all, "ferrodis_version").is_some());
    assert_eq!(info_field(&all, "role").as_deref(), Some("master"));
    assert_eq!(
        info_field(&all, "db0").as_deref(),
        Some("keys=1,expires=0,avg_ttl=0")
    );
    let set = info_field(&all, "cmdstat_set").unwrap();
    assert!(set.starts_with("calls=1,") && set.ends_with(",rejected_calls=1,failed_calls=0"));
    assert_eq!(
        info_field(&all, "errorstat_ERR").as_deref(),
        Some("count=1")
    );
    let lat = info_field(&all, "latency_percentiles_usec_set").unwrap();
    assert!(lat.starts_with("p50=") && lat.contains(",p99=") && lat.contains(",p99.9="));
    let default = c.call(&["INFO"]);
    assert!(!default.contains("cmdstat_") && default.contains("# Keyspace"));
    let cpu = c.call(&["INFO", "CPU", "server"]);
    assert!(cpu.starts_with("# Server\r\n") && cpu.contains("\r\n\r\n# CPU\r\n"));
}

#[test]
fn command_introspection() {
    let s = start();
    let mut c = Conn::new(&s);
    assert_eq!(
        c.call(&["COMMAND", "INFO", "get", "nosuch", "get|key"]),
        "[[get,2,[readonly,fast],1,1,1,[@read,@string,@fast],[],[[flags,[RO,access],begin_search,[type,index,spec,[index,1]],find_keys,[type,range,spec,[lastkey,0,keystep,1,limit,0]]]],[]],(nil),(nil)]"
    );
    assert_eq!(c.call(&["COMMAND", "GETKEYS", "set", "k", "v"]), "[k]");
    assert_eq!(
        c.call(&["COMMAND", "GETKEYSANDFLAGS", "set", "k", "v"]),
        "[[k,[OW,update]]]"
    );
    assert_eq!(
        c.call(&["COMMAND", "GETKEYS", "ping", "x"]),
        "-ERR The command has no key arguments"
    );
    let count: usize = c.call(&["COMMAND", "COUNT"]).parse().unwrap();
    let all = c.call(&["COMMAND"]);
    assert!(count > 10 && all.starts_with('['));
    let list = c.call(&["COMMAND", "LIST", "FILTERBY", "PATTERN", "client|*name"]);
    assert_eq!(list, "[client|getname,client|setname]");
    assert_eq!(c.call(&["COMMAND", "LIST", "bad"]), "-ERR syntax error");
    let docs = c.call(&["COMMAND", "DOCS", "get"]);
    assert!(docs.starts_with("[get,[summary,Get the value of a key,since,1.0.0,group,string"));
}

/// A client whose command pushed its output buffer over the hard limit is gone before the next
/// client is served: a CLIENT LIST that arrives in the same event-loop iteration (the server is
/// stopped while both requests queue up) no longer lists it, on ferrodis as on redis-server.
#[test]
fn client_over_output_limit_is_gone_before_the_next_client_runs() {
    let args = ["--client-output-buffer-limit", "normal 1mb 0 0"];
    let mut servers = vec![("ferrodis", Server::start(&args))];
    if let Some(redis) = Server::start_redis(&args) {
        servers.push(("redis-server", redis));
    }
    for (name, s) in servers {
        let mut main = Conn::new(&s);
        assert_eq!(main.call(&["SETRANGE", "k", "2000000", "v"]), "2000001");
        let mut big = Conn::new(&s);
        assert_eq!(big.call(&["CLIENT", "SETNAME", "big"]), "OK");
        let pid = s.child.id() as libc::pid_t;
        // SAFETY: plain kill(2) on the child this test started and still owns.
        unsafe { libc::kill(pid, libc::SIGSTOP) };
        big.send(&["GET", "k"]);
        std::thread::sleep(Duration::from_millis(100));
        main.send(&["CLIENT", "LIST"]);
        std::thread::sleep(Duration::from_millis(100));
        // SAFETY: as above.
        unsafe { libc::kill(pid, libc::SIGCONT) };
        let list = main.read();
        assert!(!list.contains("name=big"), "{name} still lists it: {list}");
    }
}
