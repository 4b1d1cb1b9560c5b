//! Pub/Sub commands: (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE, PUBLISH, SPUBLISH and PUBSUB
//! introspection. Subscription state and delivery live in `crate::pubsub`; this file holds the
//! command surface and the RESP2 pub/sub context flag (set by any subscription, cleared when the
//! last subscription of any kind goes).

use crate::client::{flags, Client};
use crate::commands::CmdProc;
use crate::server::Server;

pub fn lookup(name: &str) -> Option<CmdProc> {
    Some(match name {
        "subscribe" => subscribe_command,
        "unsubscribe" => unsubscribe_command,
        "psubscribe" => psubscribe_command,
        "punsubscribe" => punsubscribe_command,
        "ssubscribe" => ssubscribe_command,
        "sunsubscribe" => sunsubscribe_command,
        "publish" => publish_command,
        "spublish" => spublish_command,
        "pubsub|help" => pubsub_help_command,
        "pubsub|channels" => pubsub_channels_command,
        "pubsub|numsub" => pubsub_numsub_command,
        "pubsub|numpat" => pubsub_numpat_command,
        "pubsub|shardchannels" => pubsub_shardchannels_command,
        "pubsub|shardnumsub" => pubsub_shardnumsub_command,
        _ => return None,
    })
}

/// Subscribing makes a client receive messages at any time, which a client that needs exactly
/// one reply per command (a script, a module call) can't take. MULTI is let through for
/// backward compatibility, except for the shard variant.
fn deny_subscribe(c: &mut Client, name: &str, allow_in_multi: bool) -> bool {
    if c.has(flags::DENY_BLOCKING) && !(allow_in_multi && c.has(flags::MULTI)) {
        c.out.error(&format!(
            "{} isn't allowed for a DENY BLOCKING client",
            name
        ));
        return true;
    }
    false
}

fn subscribe_command(srv: &mut Server, c: &mut Client) {
    if deny_subscribe(c, "SUBSCRIBE", true) {
        return;
    }
    for i in 1..c.argv.len() {
        let ch = std::mem::take(&mut c.argv[i]);
        srv.subscribe_channel(c, &ch, false);
        c.argv[i] = ch;
    }
    c.flags |= flags::PUBSUB;
}

fn unsubscribe_command(srv: &mut Server, c: &mut Client) {
    if c.argv.len() == 1 {
        srv.unsubscribe_all_channels(c, true, false);
    } else {
        for i in 1..c.argv.len() {
            let ch = std::mem::take(&mut c.argv[i]);
            srv.unsubscribe_channel(c, &ch, true, false);
            c.argv[i] = ch;
        }
    }
    srv.update_pubsub_flag(c);
}

fn psubscribe_command(srv: &mut Server, c: &mut Client) {
    if deny_subscribe(c, "PSUBSCRIBE", true) {
        return;
    }
    for i in 1..c.argv.len() {
        let p = std::mem::take(&mut c.argv[i]);
        srv.subscribe_pattern(c, &p);
        c.argv[i] = p;
    }
    c.flags |= flags::PUBSUB;
}

fn punsubscribe_command(srv: &mut Server, c: &mut Client) {
    if c.argv.len() == 1 {
        srv.unsubscribe_all_patterns(c, true);
    } else {
        for i in 1..c.argv.len() {
            let p = std::mem::take(&mut c.argv[i]);
            srv.unsubscribe_pattern(c, &p, true);
            c.argv[i] = p;
        }
    }
    srv.update_pubsub_flag(c);
}

fn ssubscribe_command(srv: &mut Server, c: &mut Client) {
    if deny_subscribe(c, "SSUBSCRIBE", false) {
        return;
    }
    for i in 1..c.argv.len() {
        let ch = std::mem::take(&mut c.argv[i]);
        srv.subscribe_channel(c, &ch, true);
        c.argv[i] = ch;
    }
    c.flags |= flags::PUBSUB;
}

fn sunsubscribe_command(srv: &mut Server, c: &mut Client) {
    if c.argv.len() == 1 {
        srv.unsubscribe_all_channels(c, true, true);
    } else {
        for i in 1..c.argv.len() {
            let ch = std::mem::take(&mut c.argv[i]);
            srv.unsubscribe_channel(c, &ch, true, true);
            c.argv[i] = ch;
        }
    }
    srv.update_pubsub_flag(c);
}

/// PUBLISH / SPUBLISH: delivers, then replies the receiver count. Publications reach replicas
/// (not the AOF) even though they change no data.
fn publish_generic(srv: &mut Server, c: &mut Client, shard: bool) {
    let receivers = srv.publish(&c.argv[1], &c.argv[2], shard);
    if srv.cluster.is_some() {
        // In a cluster the bus carries the message to the other nodes instead.
        srv.cluster_propagate_publish(&c.argv[1], &c.argv[2], shard);
    } else {
        c.flags |= flags::FORCE_REPL;
    }
    c.out.int(receivers as i64);
}

fn publish_command(srv: &mut Server, c: &mut Client) {
    publish_generic(srv, c, false);
}

fn spublish_command(srv: &mut Server, c: &mut Client) {
    publish_generic(srv, c, true);
}

fn pubsub_help_command(_srv: &mut Server, c: &mut Client) {
    crate::commands::reply_help(
        c,
        &[
            "CHANNELS [<pattern>]",
            "    Return the currently active channels matching a <pattern> (default: '*').",
            "NUMPAT",
            "    Return number of subscriptions to patterns.",
            "NUMSUB [<channel> ...]",
            "    Return the number of subscribers for the specified channels, excluding",
            "    pattern subscriptions(default: no channels).",
            "SHARDCHANNELS [<pattern>]",
            "    Return the currently active shard level channels matching a <pattern> (default: '*').",
            "SHARDNUMSUB [<shardchannel> ...]",
            "    Return the number of subscribers for the specified shard level channel(s)",
        ],
    );
}

/// Replies the channels of `map` matching the optional pattern argument.
fn channel_list(c: &mut Client, map: &std::collections::HashMap<Vec<u8>, Vec<u64>>) {
    let pattern = c.argv.get(2).cloned();
    let names: Vec<&Vec<u8>> = map
        .keys()
        .filter(|ch| {
            pattern
                .as_deref()
                .is_none_or(|p| crate::util::glob_match(p, ch, false))
        })
        .collect();
    c.out.array(names.len());
    for n in names {
        c.out.bulk(n);
    }
}

/// Replies channel/count pairs for the channels named after the subcommand.
fn numsub(c: &mut Client, map: &std::collections::HashMap<Vec<u8>, Vec<u64>>) {
    c.out.array((c.argv.len() - 2) * 2);
    for i in 2..c.argv.len() {
        let n = map.get(&c.argv[i]).map_or(0, |ids| ids.len());
        let ch = std::mem::take(&mut c.argv[i]);
        c.out.bulk(&ch);
        c.out.int(n as i64);
        c.argv[i] = ch;
    }
}

fn pubsub_channels_command(srv: &mut Server, c: &mut Client) {
    if c.argv.len() > 3 {
        crate::commands::reply_subcommand_syntax_error(c);
        return;
    }
    channel_list(c, &srv.pubsub.channels);
}

fn pubsub_shardchannels_command(srv: &mut Server, c: &mut Client) {
    if c.argv.len() > 3 {
        crate::commands::reply_subcommand_syntax_error(c);
        return;
    }
    channel_list(c, &srv.pubsub.shard_channels);
}

fn pubsub_numsub_command(srv: &mut Server, c: &mut Client) {
    numsub(c, &srv.pubsub.channels);
}

fn pubsub_shardnumsub_command(srv: &mut Server, c: &mut Client) {
    numsub(c, &srv.pubsub.shard_channels);
}

fn pubsub_numpat_command(srv: &mut Server, c: &mut Client) {
    c.out.int(srv.pubsub.patterns.len() as i64);
}

#[cfg(test)]
pub(crate) mod tests {
    use crate::client::{Client, ClientId};
    use crate::server::Server;

    pub fn server() -> Server {
        crate::commands::test_support::test_server()
    }

    pub fn client(srv: &mut Server) -> ClientId {
        let id = srv.next_client_id();
        let mut c = Box::new(Client::fake(id, 0));
        c.authenticated = true;
        srv.clients.insert(id, c);
        id
    }

    /// Runs one command on a client the way the network path does, returning what the client
    /// has pending afterwards.
    pub fn run(srv: &mut Server, id: ClientId, args: &[&str]) -> String {
        let mut c = srv.clients.remove(&id).expect("client");
        c.argv = args.iter().map(|a| a.as_bytes().to_vec()).collect();
        srv.process_command(&mut c);
        c.argv.clear();
        let out = c.out.take_all();
        srv.clients.insert(id, c);
        String::from_utf8_lossy(&out).into_owned()
    }

    /// What a client has received since its last command.
    fn pending(srv: &mut Server, id: ClientId) -> String {
        let c = srv.clients.get_mut(&id).expect("client");
        String::from_utf8_lossy(&c.out.take_all()).into_owned()
    }

    #[test]
    fn subscription_counts_and_confirmations() {
        let mut srv = server();
        let a = client(&mut srv);
        assert_eq!(
            run(&mut srv, a, &["subscribe", "c1", "c2", "c1"]),
            "*3\r\n$9\r\nsubscribe\r\n$2\r\nc1\r\n:1\r\n\
             *3\r\n$9\r\nsubscribe\r\n$2\r\nc2\r\n:2\r\n\
             *3\r\n$9\r\nsubscribe\r\n$2\r\nc1\r\n:2\r\n"
        );
        // Patterns count together with channels; shard channels have their own count.
        assert!(run(&mut srv, a, &["psubscribe", "c*"]).ends_with(":3\r\n"));
        assert!(run(&mut srv, a, &["ssubscribe", "s1"]).ends_with(":1\r\n"));
        assert!(run(&mut srv, a, &["pubsub", "numsub", "c1"])
            .starts_with("-ERR Can't execute 'pubsub|numsub': only (P|S)SUBSCRIBE"));
        let b = client(&mut srv);
        assert_eq!(
            run(&mut srv, b, &["pubsub", "numsub", "c1", "zz"]),
            "*4\r\n$2\r\nc1\r\n:1\r\n$2\r\nzz\r\n:0\r\n"
        );
        assert_eq!(run(&mut srv, b, &["pubsub", "numpat"]), ":1\r\n");
        assert_eq!(
            run(&mut srv, b, &["pubsub", "shardchannels"]),
            "*1\r\n$2\r\ns1\r\n"
        );
        // A channel subscriber plus a pattern subscriber: two receivers, two messages.
        assert_eq!(run(&mut srv, b, &["publish", "c1", "hi"]), ":2\r\n");
        assert_eq!(
            pending(&mut srv, a),
            "*3\r\n$7\r\nmessage\r\n$2\r\nc1\r\n$2\r\nhi\r\n\
             *4\r\n$8\r\npmessage\r\n$2\r\nc*\r\n$2\r\nc1\r\n$2\r\nhi\r\n"
        );
        assert_eq!(run(&mut srv, b, &["spublish", "s1", "x"]), ":1\r\n");
        assert_eq!(
            pending(&mut srv, a),
            "*3\r\n$8\r\nsmessage\r\n$2\r\ns1\r\n$1\r\nx\r\n"
        );
    }

    #[test]
    fn resp2_pubsub_context_comes_and_goes() {
        let mut srv = server();
        let a = client(&mut srv);
        run(&mut srv, a, &["subscribe", "c"]);
        assert!(run(&mut srv, a, &["get", "k"]).starts_with("-ERR Can't execute 'get'"));
        assert_eq!(
            run(&mut srv, a, &["ping"]),
            "*2\r\n$4\r\npong\r\n$0\r\n\r\n"
        );
        run(&mut srv, a, &["ssubscribe", "s"]);
        // Still subscribed to a shard channel: still in the context.
        run(&mut srv, a, &["unsubscribe"]);
        assert!(run(&mut srv, a, &["get", "k"]).starts_with("-ERR"));
        assert_eq!(
            run(&mut srv, a, &["sunsubscribe"]),
            "*3\r\n$12\r\nsunsubscribe\r\n$1\r\ns\r\n:0\r\n"
        );
        assert_eq!(run(&mut srv, a, &["get", "k"]), "$-1\r\n");
        // Nothing left to drop: one confirmation with a null name.
        assert_eq!(
            run(&mut srv, a, &["punsubscribe"]),
            "*3\r\n$12\r\npunsubscribe\r\n$-1\r\n:0\r\n"
        );
    }

    #[test]
    fn resp3_messages_to_self_precede_the_reply() {
        let mut srv = server();
        let a = client(&mut srv);
        run(&mut srv, a, &["hello", "3"]);
        assert_eq!(
            run(&mut srv, a, &["subscribe", "c"]),
            ">3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n"
        );
        assert_eq!(
            run(&mut srv, a, &["publish", "c", "m"]),
            ">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nm\r\n:1\r\n"
        );
        assert_eq!(run(&mut srv, a, &["multi"]), "+OK\r\n");
        run(&mut srv, a, &["publish", "c", "x"]);
        run(&mut srv, a, &["ping"]);
        assert_eq!(
            run(&mut srv, a, &["exec"]),
            "*2\r\n>3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nx\r\n:1\r\n+PONG\r\n"
        );
    }

    #[test]
    fn own_events_interleave_with_replies_as_redis_emits_them() {
        let mut srv = server();
        let a = client(&mut srv);
        run(&mut srv, a, &["hello", "3"]);
        srv.config.notify_keyspace_events =
            crate::config::table::notify_flags_from_str(b"Egm").expect("valid classes");
        run(
            &mut srv,
            a,
            &["subscribe", "__keyevent@0__:del", "__keyevent@0__:keymiss"],
        );
        run(&mut srv, a, &["subscribe", "__keyevent@0__:expire"]);
        let ev = |e: &str, k: &str| {
            format!(
                ">3\r\n$7\r\nmessage\r\n${}\r\n__keyevent@0__:{}\r\n${}\r\n{}\r\n",
                15 + e.len(),
                e,
                k.len(),
                k
            )
        };
        run(&mut srv, a, &["set", "k", "v"]);
        // GETDEL replies the value, then deletes.
        assert_eq!(
            run(&mut srv, a, &["getdel", "k"]),
            format!("$1\r\nv\r\n{}", ev("del", "k"))
        );
        // MGET: the miss of the second key comes between the first and second elements.
        run(&mut srv, a, &["set", "k", "v"]);
        assert_eq!(
            run(&mut srv, a, &["mget", "k", "no"]),
            format!("*2\r\n$1\r\nv\r\n{}_\r\n", ev("keymiss", "no"))
        );
        // EXPIRE replies before `expire`, but a past deadline raises `del` before replying.
        assert_eq!(
            run(&mut srv, a, &["expire", "k", "100"]),
            format!(":1\r\n{}", ev("expire", "k"))
        );
        assert_eq!(
            run(&mut srv, a, &["pexpireat", "k", "1"]),
            format!("{}:1\r\n", ev("del", "k"))
        );
    }

    #[test]
    fn own_monitor_line_follows_the_reply() {
        let mut srv = server();
        let a = client(&mut srv);
        assert_eq!(run(&mut srv, a, &["monitor"]), "+OK\r\n");
        let out = run(&mut srv, a, &["ping"]);
        assert!(out.starts_with("+PONG\r\n+"), "{:?}", out);
        assert!(out.ends_with(" \"ping\"\r\n"), "{:?}", out);
    }

    #[test]
    fn keyspace_events_follow_the_configured_classes() {
        let mut srv = server();
        let a = client(&mut srv);
        let b = client(&mut srv);
        run(&mut srv, a, &["psubscribe", "*"]);
        srv.config.notify_keyspace_events =
            crate::config::table::notify_flags_from_str(b"KEn$").expect("valid classes");
        run(&mut srv, b, &["set", "k", "v"]);
        run(&mut srv, b, &["set", "k", "w"]);
        let got = pending(&mut srv, a);
        let events: Vec<&str> = got
            .split("\r\n")
            .filter(|l| l.starts_with("__key"))
            .collect();
        assert_eq!(
            events,
            [
                "__keyspace@0__:k",
                "__keyevent@0__:new",
                "__keyspace@0__:k",
                "__keyevent@0__:set",
                "__keyspace@0__:k",
                "__keyevent@0__:set"
            ]
        );
        // Classes not enabled stay silent: generic 'g' isn't on for DEL.
        run(&mut srv, b, &["del", "k"]);
        assert_eq!(pending(&mut srv, a), "");
    }

    #[test]
    fn messages_reach_clients_with_replies_off() {
        let mut srv = server();
        let a = client(&mut srv);
        let b = client(&mut srv);
        run(&mut srv, a, &["subscribe", "c"]);
        srv.clients.get_mut(&a).expect("client").out.enabled = false;
        run(&mut srv, b, &["publish", "c", "m"]);
        assert_eq!(
            pending(&mut srv, a),
            "*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nm\r\n"
        );
        // Subscription confirmations are pushes too.
        assert_eq!(
            run(&mut srv, a, &["unsubscribe", "c"]),
            "*3\r\n$11\r\nunsubscribe\r\n$1\r\nc\r\n:0\r\n"
        );
    }
}
