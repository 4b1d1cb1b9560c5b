//! End-to-end checks of client-side caching (CLIENT TRACKING) beyond what upstream's
//! unit/tracking covers: Redis 7.0 quirks kept on purpose, OPTOUT within a transaction, BCAST
//! NOLOOP against server-side expiry, redirection to clients that can't take the message,
//! commands that must not invalidate, and the lazily dropped ids in the INFO counters.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::Server;

/// A RESP2/RESP3 client rendering replies as text: aggregates as "[a,b]", pushes as
/// ">[a,b]", maps as "{k:v}", nulls as "(nil)", errors as "-ERR ...".
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

    fn call(&mut self, args: &[&str]) -> String {
        self.send(args);
        self.read()
    }

    fn read(&mut self) -> String {
        let mut line = String::new();
        self.r.read_line(&mut line).unwrap();
        let line = line.trim_end().to_string();
        let (kind, rest) = line.split_at(1);
        let agg = |me: &mut Conn, n: usize| (0..n).map(|_| me.read()).collect::<Vec<_>>().join(",");
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
    fn quiet_for(&mut self, ms: u64) -> bool {
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

fn info_field(c: &mut Conn, section: &str, field: &str) -> String {
    let info = c.call(&["INFO", section]);
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in INFO"))
        .to_string()
}

#[test]
fn overlapping_prefixes_past_the_first_error_then_enable_as_in_redis_7_0() {
    let s = Server::start(&[]);
    let mut c = Conn::new(&s);
    // The overlap starts at the first prefix: refused.
    let e = c.call(&[
        "CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "ab", "PREFIX", "a",
    ]);
    assert!(
        e.starts_with("-ERR Prefix 'ab' overlaps with another provided prefix 'a'"),
        "{e}"
    );
    assert_eq!(c.call(&["CLIENT", "GETREDIR"]), "-1");
    // It starts at the second: the error is followed by +OK and tracking is on.
    let e = c.call(&[
        "CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "x", "PREFIX", "b", "PREFIX", "bc",
    ]);
    assert!(
        e.starts_with("-ERR Prefix 'b' overlaps with another provided prefix 'bc'"),
        "{e}"
    );
    assert_eq!(c.read(), "OK");
    assert_eq!(
        c.call(&["CLIENT", "TRACKINGINFO"]),
        "[flags,[on,bcast],redirect,0,prefixes,[b,bc,x]]"
    );
    assert_eq!(info_field(&mut c, "stats", "tracking_total_prefixes"), "3");
    let e = c.call(&["CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "xy"]);
    assert!(
        e.starts_with("-ERR Prefix 'xy' overlaps with an existing prefix 'x'"),
        "{e}"
    );
    assert_eq!(c.call(&["CLIENT", "TRACKING", "off"]), "OK");
    assert_eq!(info_field(&mut c, "stats", "tracking_total_prefixes"), "0");
}

#[test]
fn optout_caching_no_covers_the_whole_transaction() {
    let s = Server::start(&[]);
    let mut c = Conn::new(&s);
    let mut w = Conn::new(&s);
    c.call(&["HELLO", "3"]);
    assert_eq!(c.call(&["CLIENT", "TRACKING", "on", "OPTOUT"]), "OK");
    assert_eq!(c.call(&["MULTI"]), "OK");
    assert_eq!(c.call(&["CLIENT", "CACHING", "no"]), "QUEUED");
    assert_eq!(c.call(&["GET", "a"]), "QUEUED");
    assert_eq!(c.call(&["GET", "b"]), "QUEUED");
    assert_eq!(c.call(&["EXEC"]), "[OK,(nil),(nil)]");
    // Dropped after the transaction: this read is cached again.
    assert_eq!(
        c.call(&["CLIENT", "TRACKINGINFO"]),
        "{flags:[on,optout],redirect:0,prefixes:[]}"
    );
    assert_eq!(c.call(&["GET", "c"]), "(nil)");
    w.call(&["MSET", "a", "1", "b", "1", "c", "1"]);
    assert_eq!(c.read(), ">[invalidate,[c]]");
    assert!(c.quiet_for(200));
}

#[test]
fn bcast_noloop_still_reports_keys_the_server_expires() {
    let s = Server::start(&[]);
    let mut c = Conn::new(&s);
    c.call(&["HELLO", "3"]);
    assert_eq!(
        c.call(&["CLIENT", "TRACKING", "on", "BCAST", "NOLOOP", "PREFIX", "k:"]),
        "OK"
    );
    assert_eq!(c.call(&["SET", "k:1", "v", "PX", "30"]), "OK");
    assert_eq!(c.call(&["SET", "k:2", "v"]), "OK");
    // Its own writes are left out; the expiry done by the server is not.
    assert_eq!(c.read(), ">[invalidate,[k:1]]");
    assert!(c.quiet_for(200));
}

#[test]
fn redirection_needs_resp3_or_a_subscriber_and_breaks_when_the_target_leaves() {
    let s = Server::start(&[]);
    let mut c = Conn::new(&s);
    let mut target = Conn::new(&s);
    let mut w = Conn::new(&s);
    let tid = target.call(&["CLIENT", "ID"]);
    assert_eq!(
        c.call(&["CLIENT", "TRACKING", "on", "REDIRECT", &tid]),
        "OK"
    );
    assert_eq!(c.call(&["CLIENT", "GETREDIR"]), tid);
    c.call(&["GET", "k"]);
    w.call(&["SET", "k", "1"]);
    // A RESP2 target that is not subscribed can't be told anything.
    assert!(target.quiet_for(200));
    assert_eq!(
        target.call(&["SUBSCRIBE", "__redis__:invalidate"]),
        "[subscribe,__redis__:invalidate,1]"
    );
    c.call(&["GET", "k"]);
    w.call(&["SET", "k", "2"]);
    assert_eq!(target.read(), "[message,__redis__:invalidate,[k]]");
    let list = c.call(&["CLIENT", "INFO"]);
    assert!(
        list.contains(" flags=t ") && list.contains(&format!(" redir={tid} ")),
        "{list}"
    );
    drop(target);
    std::thread::sleep(Duration::from_millis(100));
    c.call(&["GET", "k"]);
    w.call(&["SET", "k", "3"]);
    // RESP2: nothing is pushed, but the redirection is marked broken.
    let list = c.call(&["CLIENT", "INFO"]);
    assert!(list.contains(" flags=tR "), "{list}");
    assert_eq!(
        c.call(&["CLIENT", "TRACKINGINFO"]),
        format!("[flags,[on,broken_redirect],redirect,{tid},prefixes,[]]")
    );
    let e = c.call(&["CLIENT", "TRACKING", "on", "REDIRECT", &tid]);
    assert_eq!(e, "-ERR The client ID you want redirect to does not exist");
}

#[test]
fn swapdb_does_not_invalidate_and_flushall_sends_one_null() {
    let s = Server::start(&[]);
    let mut c = Conn::new(&s);
    c.call(&["HELLO", "3"]);
    c.call(&["CLIENT", "TRACKING", "on"]);
    c.call(&["SET", "k", "1"]);
    c.call(&["GET", "k"]);
    assert_eq!(c.call(&["SWAPDB", "0", "1"]), "OK");
    assert_eq!(c.call(&["PING"]), "PONG");
    // Its own flush: the null comes after the reply.
    assert_eq!(c.call(&["FLUSHALL"]), "OK");
    assert_eq!(c.read(), ">[invalidate,(nil)]");
    assert_eq!(c.call(&["PING"]), "PONG");
}

#[test]
fn ids_of_clients_that_stopped_tracking_stay_until_their_keys_change() {
    let s = Server::start(&[]);
    let mut c = Conn::new(&s);
    let mut w = Conn::new(&s);
    c.call(&["CLIENT", "TRACKING", "on"]);
    c.call(&["MGET", "a", "b", "a"]);
    assert_eq!(info_field(&mut w, "clients", "tracking_clients"), "1");
    assert_eq!(info_field(&mut w, "stats", "tracking_total_keys"), "2");
    assert_eq!(info_field(&mut w, "stats", "tracking_total_items"), "2");
    c.call(&["CLIENT", "TRACKING", "off"]);
    assert_eq!(info_field(&mut w, "clients", "tracking_clients"), "0");
    assert_eq!(info_field(&mut w, "stats", "tracking_total_items"), "2");
    w.call(&["SET", "a", "1"]);
    assert_eq!(info_field(&mut w, "stats", "tracking_total_keys"), "1");
    assert_eq!(info_field(&mut w, "stats", "tracking_total_items"), "1");
    // Write commands and BCAST clients add nothing to the table.
    c.call(&["CLIENT", "TRACKING", "on", "BCAST"]);
    c.call(&["GET", "z"]);
    c.call(&["CLIENT", "TRACKING", "off"]);
    c.call(&["CLIENT", "TRACKING", "on"]);
    c.call(&["INCR", "y"]);
    assert_eq!(info_field(&mut w, "stats", "tracking_total_keys"), "1");
}
