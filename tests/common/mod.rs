//! Starting a real `ferrodis-server` (or Debian's `redis-server`, to compare with) for
//! end-to-end tests, on a free loopback port.
//!
//! A port found free can be taken by another test's server before ours binds it, and then a
//! connection to the port reaches that other server. Two listening sockets can't share a port,
//! so a server owns the port once it logs "Ready to accept connections" and is still alive; if
//! it exits instead, the attempt is retried on a new port.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Server {
    pub child: Child,
    pub port: u16,
}

/// Debian's redis-server, the reference the interop tests compare with.
pub const REDIS_SERVER: &str = "/usr/bin/redis-server";

impl Server {
    pub fn start(extra: &[&str]) -> Server {
        Self::start_program(env!("CARGO_BIN_EXE_ferrodis-server"), extra)
    }

    /// Starts Debian's redis-server, or returns None (saying so) when it isn't installed.
    pub fn start_redis(extra: &[&str]) -> Option<Server> {
        if !std::path::Path::new(REDIS_SERVER).exists() {
            eprintln!("{REDIS_SERVER} not installed: skipping the comparison with Redis");
            return None;
        }
        Some(Self::start_program(REDIS_SERVER, extra))
    }

    fn start_program(program: &str, extra: &[&str]) -> Server {
        for _ in 0..10 {
            if let Some(s) = Self::try_start(program, extra) {
                return s;
            }
        }
        panic!("could not start {program}");
    }

    fn try_start(program: &str, extra: &[&str]) -> Option<Server> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let mut args = vec![
            "--port".to_string(),
            port.to_string(),
            "--bind".into(),
            "127.0.0.1".into(),
            "--save".into(),
            "".into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut child = Command::new(program)
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {program}: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        // Watch the log for readiness, then keep draining it so the server never blocks on it.
        std::thread::spawn(move || {
            let mut tx = Some(ready_tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line.contains("Ready to accept connections") {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(());
                    }
                }
            }
        });
        let mut server = Server { child, port };
        match ready_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(()) => {}
            Err(_) => return None, // exited (port taken) or never got ready
        }
        if !matches!(server.child.try_wait(), Ok(None)) {
            return None;
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", server.port)).is_err() {
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Some(server)
    }

    pub fn client(&self) -> redis::Connection {
        redis::Client::open(format!("redis://127.0.0.1:{}/", self.port))
            .unwrap()
            .get_connection()
            .unwrap()
    }

    pub fn raw(&self) -> TcpStream {
        let s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh, empty directory under the system temp dir, named after `prefix`, `name` and this
/// process (so parallel test binaries don't share it).
pub fn temp_dir(prefix: &str, name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("ferrodis-{prefix}-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Builds the C test module `source` (relative to the repository) against our redismodule.h
/// into a fresh `temp_dir(prefix, name)`; returns the path of the `.so`, named after the
/// source. Tests of one binary that run at once need distinct `name`s.
pub fn build_module(source: &str, prefix: &str, name: &str) -> std::path::PathBuf {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let source = root.join(source);
    let stem = source.file_stem().expect("a source file name").to_owned();
    let out = temp_dir(prefix, name).join(stem).with_extension("so");
    let status = std::process::Command::new("cc")
        .args(["-O1", "-fPIC", "-shared", "-I"])
        .arg(&root)
        .arg("-o")
        .arg(&out)
        .arg(&source)
        .status()
        .expect("run cc");
    assert!(status.success(), "building {} failed", source.display());
    out
}

/// Runs one command given as words.
pub fn cmd(c: &mut redis::Connection, args: &[&str]) -> redis::Value {
    let mut q = redis::cmd(args[0]);
    for a in &args[1..] {
        q.arg(*a);
    }
    q.query(c).unwrap()
}

/// Runs one command and renders a simple reply as text.
pub fn text(c: &mut redis::Connection, args: &[&str]) -> String {
    match cmd(c, args) {
        redis::Value::BulkString(b) => String::from_utf8_lossy(&b).into_owned(),
        redis::Value::SimpleString(s) => s,
        redis::Value::Okay => "OK".into(),
        redis::Value::Int(n) => n.to_string(),
        other => format!("{:?}", other),
    }
}

/// Upstream Redis 7.0.15's extracted source tree: `REDIS_SRC`, else the cache that
/// `tests/tcl-compat/fetch-redis-source` fills.
pub fn redis_src() -> std::path::PathBuf {
    use std::path::PathBuf;
    let root = std::env::var_os("REDIS_SRC")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let cache = std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| {
                    PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache")
                });
            cache.join("ferrodis/redis-7.0.15")
        });
    assert!(
        root.join("src/redismodule.h").exists(),
        "{}: no Redis 7.0.15 source tree; fetch it with tests/tcl-compat/fetch-redis-source",
        root.display()
    );
    root
}

/// A small RESP client that renders replies as text: simple strings and integers as they are,
/// errors with their '-', nulls as "(nil)", arrays and sets as "[a,b]", pushes as ">[a,b]",
/// maps as "{k:v}". For tests that need the exact reply shape or pushes (RESP3), which the
/// `redis` crate smooths over.
pub struct RespConn {
    pub r: BufReader<TcpStream>,
}

impl RespConn {
    pub fn new(s: &Server) -> RespConn {
        let t = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
        t.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        RespConn {
            r: BufReader::new(t),
        }
    }

    pub fn send(&mut self, args: &[&str]) {
        let mut out = format!("*{}\r\n", args.len());
        for a in args {
            out.push_str(&format!("${}\r\n{}\r\n", a.len(), a));
        }
        self.r.get_mut().write_all(out.as_bytes()).unwrap();
    }

    pub fn call(&mut self, args: &[&str]) -> String {
        self.send(args);
        self.read()
    }

    pub fn read(&mut self) -> String {
        let mut line = String::new();
        self.r.read_line(&mut line).unwrap();
        let line = line.trim_end().to_string();
        let (kind, rest) = line.split_at(1);
        let agg =
            |me: &mut RespConn, n: usize| (0..n).map(|_| me.read()).collect::<Vec<_>>().join(",");
        match kind {
            "+" | ":" => rest.to_string(),
            "-" => line,
            "_" => "(nil)".into(),
            "$" | "=" => {
                let n: i64 = rest.parse().unwrap();
                if n < 0 {
                    return "(nil)".into();
                }
                let mut buf = vec![0; n as usize + 2];
                self.r.read_exact(&mut buf).unwrap();
                String::from_utf8_lossy(&buf[..n as usize]).into_owned()
            }
            "*" | "~" | ">" => {
                let n: i64 = rest.parse().unwrap();
                if n < 0 {
                    return "(nil)".into();
                }
                let body = agg(self, n as usize);
                if kind == ">" {
                    format!(">[{body}]")
                } else {
                    format!("[{body}]")
                }
            }
            "%" => {
                let n: usize = rest.parse().unwrap();
                let items: Vec<String> = (0..n)
                    .map(|_| {
                        let k = self.read();
                        let v = self.read();
                        format!("{k}:{v}")
                    })
                    .collect();
                format!("{{{}}}", items.join(","))
            }
            other => panic!("unexpected reply type {other}"),
        }
    }

    /// Whether anything arrives within `ms` (nothing must, for messages that are not sent).
    pub fn quiet_for(&mut self, ms: u64) -> bool {
        if !self.r.buffer().is_empty() {
            return false;
        }
        let s = self.r.get_mut();
        s.set_read_timeout(Some(Duration::from_millis(ms))).unwrap();
        let mut b = [0u8; 1];
        let quiet = s.peek(&mut b).is_err();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        quiet
    }
}
