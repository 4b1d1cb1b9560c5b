//! Test harness for command implementations: a socketless server, a fake client, and a
//! runner that returns a command's raw reply together with what it propagated, so unit tests
//! can check replies, propagation and stored encodings without starting a process.

use crate::client::Client;
use crate::config::Config;
use crate::server::Server;
use crate::util;

/// A server with no sockets, configured as by default except that it never snapshots: with
/// the default save points, a FLUSHALL in a test would write dump.rdb into the working
/// directory (the repository, under `cargo test`), where a later server would load it.
pub fn test_server() -> Server {
    let mut cfg = Config::defaults();
    cfg.save_params.clear();
    Server::new(cfg)
}

/// A server with no sockets and a client to run commands on it.
pub fn setup() -> (Server, Client) {
    let mut srv = test_server();
    // As if a replica or the AOF consumed the stream.
    srv.prop.enabled = true;
    let c = Client::fake(1, util::mstime());
    (srv, c)
}

/// Runs one command; returns its raw reply and what it propagated.
pub fn run(srv: &mut Server, c: &mut Client, args: &[&str]) -> (Vec<u8>, Vec<Vec<String>>) {
    c.argv = args.iter().map(|a| a.as_bytes().to_vec()).collect();
    let id = srv.commands.lookup(&c.argv).expect("command implemented");
    // Nested inside a pretend outer call, the batch stays in the log for us to read.
    srv.prop.depth = 1;
    srv.call(c, id);
    srv.prop.depth = 0;
    let prop = srv
        .prop
        .flush()
        .into_iter()
        .map(|e| {
            e.argv
                .iter()
                .map(|x| String::from_utf8_lossy(x).into_owned())
                .collect()
        })
        .collect();
    (c.out.take_all(), prop)
}

pub fn encoding(srv: &Server, key: &str) -> &'static str {
    srv.dbs[0]
        .dict
        .get(key.as_bytes())
        .expect("key exists")
        .value
        .encoding_name()
}
