//! End-to-end checks of the connection introspection commands (CLIENT, MONITOR, INFO, COMMAND)
//! against a real ferrodis-server process on a loopback port.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::Server;

fn start() -> Server {
    Server::start(&[])
}

/// A minimal RESP2 client: replies are rendered as text (arrays as "[a,b]", errors as "-ERR..").
struct Conn {
    r: BufReader<TcpStream>,
}

impl Conn {
    fn new(s: &Server) -> Conn {
        let t = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
        t.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        Conn {
            r: BufReader::new(t),
        }
    }

    fn send(&mut self, args: &[&str]) {
        let mut out = format!("*{}\r\n", args.len());
        for a in args {
            out.push_str(&format!("${}\r\n{}\r\n", a.len(), a));
        }
        self.r.get_mut().write_all(out.as_bytes()).unwrap();
    }

    fn read(&mut self) -> String {
        let mut line = String::new();
        self.r.read_line(&mut line).unwrap();
        let line = line.trim_end().to_string();
        let (kind, rest) = line.split_at(1);
        match kind {
            "+" | ":" => rest.to_string(),
            "-" => line,
            "$" => {
                let n: i64 = rest.parse().unwrap();
                if n < 0 {
                    return "(nil)".into();
                }
                let mut buf = vec![0; n as usize + 2];
                self.r.read_exact(&mut buf).unwrap();
                String::from_utf8_lossy(&buf[..n as usize]).into_owned()
            }
            "*" => {
                let n: i64 = rest.parse().unwrap();
                if n < 0 {
                    return "(nil)".into();
                }
                let items: Vec<String> = (0..n).map(|_| self.read()).collect();
                format!("[{}]", items.join(","))
            }
            _ => panic!("unexpected reply {line}"),
        }
    }

    fn cmd(&mut self, args: &[&str]) -> String {
        self.send(args);
        self.read()
    }
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
    assert_eq!(c.cmd(&["CLIENT", "REPLY", "ON"]), "OK");
    assert_eq!(c.cmd(&["PING", "four"]), "four");
}

#[test]
fn client_list_kill_and_names() {
    let s = start();
    let mut a = Conn::new(&s);
    let mut b = Conn::new(&s);
    assert_eq!(b.cmd(&["CLIENT", "GETNAME"]), "(nil)");
    assert!(b
        .cmd(&["CLIENT", "SETNAME", "with space"])
        .starts_with("-ERR Client names cannot contain spaces"));
    assert_eq!(b.cmd(&["CLIENT", "SETNAME", "bee"]), "OK");
    let bid = b.cmd(&["CLIENT", "ID"]);
    let list = a.cmd(&["CLIENT", "LIST"]);
    assert_eq!(list.lines().count(), 2);
    assert!(list.contains(&format!("id={bid} ")) && list.contains("name=bee "));
    assert!(list.contains("cmd=client|list"));
    let only_b = a.cmd(&["CLIENT", "LIST", "ID", &bid]);
    assert_eq!(only_b.lines().count(), 1);
    assert_eq!(
        a.cmd(&["CLIENT", "KILL", "ID", "0"]),
        "-ERR client-id should be greater than 0"
    );
    assert_eq!(a.cmd(&["CLIENT", "KILL", "ID", &bid]), "1");
    let mut line = String::new();
    assert_eq!(
        b.r.read_line(&mut line).unwrap_or(0),
        0,
        "killed client is closed"
    );
    // Killing ourselves: the reply still arrives, then the connection closes.
    assert_eq!(a.cmd(&["CLIENT", "KILL", "SKIPME", "no"]), "1");
    let mut line = String::new();
    assert_eq!(a.r.read_line(&mut line).unwrap_or(0), 0);
}

#[test]
fn monitor_shows_commands_with_secrets_redacted() {
    let s = start();
    let mut m = Conn::new(&s);
    let mut c = Conn::new(&s);
    assert_eq!(m.cmd(&["MONITOR"]), "OK");
    c.cmd(&["SET", "foo", "bar"]);
    c.cmd(&["AUTH", "user", "secret"]);
    c.cmd(&["MULTI"]);
    c.cmd(&["NOSUCHCOMMAND"]);
    c.cmd(&["EXEC"]);
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
    c.cmd(&["MULTI"]);
    c.cmd(&["MONITOR"]);
    assert_eq!(
        c.cmd(&["EXEC"]),
        "[-ERR MONITOR isn't allowed for DENY BLOCKING client]"
    );
}

#[test]
fn pause_holds_writes_and_counts_them_as_blocked() {
    let s = start();
    let mut admin = Conn::new(&s);
    let mut w = Conn::new(&s);
    assert_eq!(admin.cmd(&["CLIENT", "PAUSE", "100000", "WRITE"]), "OK");
    w.send(&["SET", "k", "v"]);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let info = admin.cmd(&["INFO", "clients"]);
        if info_field(&info, "blocked_clients").as_deref() == Some("1") {
            break;
        }
        assert!(Instant::now() < deadline, "write was not held");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Reads still run.
    assert_eq!(admin.cmd(&["GET", "k"]), "(nil)");
    assert_eq!(admin.cmd(&["CLIENT", "UNPAUSE"]), "OK");
    assert_eq!(w.read(), "OK");
    assert_eq!(admin.cmd(&["GET", "k"]), "v");
}

#[test]
fn info_sections_and_stats() {
    let s = start();
    let mut c = Conn::new(&s);
    c.cmd(&["SET", "k", "v"]);
    c.cmd(&["SET", "k"]);
    let all = c.cmd(&["INFO", "everything"]);
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
    let default = c.cmd(&["INFO"]);
    assert!(!default.contains("cmdstat_") && default.contains("# Keyspace"));
    let cpu = c.cmd(&["INFO", "CPU", "server"]);
    assert!(cpu.starts_with("# Server\r\n") && cpu.contains("\r\n\r\n# CPU\r\n"));
}

#[test]
fn command_introspection() {
    let s = start();
    let mut c = Conn::new(&s);
    assert_eq!(
        c.cmd(&["COMMAND", "INFO", "get", "nosuch", "get|key"]),
        "[[get,2,[readonly,fast],1,1,1,[@read,@string,@fast],[],[[flags,[RO,access],begin_search,[type,index,spec,[index,1]],find_keys,[type,range,spec,[lastkey,0,keystep,1,limit,0]]]],[]],(nil),(nil)]"
    );
    assert_eq!(c.cmd(&["COMMAND", "GETKEYS", "set", "k", "v"]), "[k]");
    assert_eq!(
        c.cmd(&["COMMAND", "GETKEYSANDFLAGS", "set", "k", "v"]),
        "[[k,[OW,update]]]"
    );
    assert_eq!(
        c.cmd(&["COMMAND", "GETKEYS", "ping", "x"]),
        "-ERR The command has no key arguments"
    );
    let count: usize = c.cmd(&["COMMAND", "COUNT"]).parse().unwrap();
    let all = c.cmd(&["COMMAND"]);
    assert!(count > 10 && all.starts_with('['));
    let list = c.cmd(&["COMMAND", "LIST", "FILTERBY", "PATTERN", "client|*name"]);
    assert_eq!(list, "[client|getname,client|setname]");
    assert_eq!(c.cmd(&["COMMAND", "LIST", "bad"]), "-ERR syntax error");
    let docs = c.cmd(&["COMMAND", "DOCS", "get"]);
    assert!(docs.starts_with("[get,[summary,Get the value of a key,since,1.0.0,group,string"));
}
