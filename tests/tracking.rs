//! End-to-end checks of client-side caching (CLIENT TRACKING) beyond what upstream's
//! unit/tracking covers: Redis 7.0 quirks kept on purpose, OPTOUT within a transaction, BCAST
//! NOLOOP against server-side expiry, redirection to clients that can't take the message,
//! commands that must not invalidate, and the lazily dropped ids in the INFO counters.

mod common;

use std::time::Duration;

use common::{RespConn as Conn, Server};

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
