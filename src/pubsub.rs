//! Publish/subscribe: channel and pattern subscriptions (global and shard), message delivery in
//! the RESP2 (array) or RESP3 (push) form each subscriber speaks, and keyspace notifications,
//! which are ordinary publications on `__keyspace@<db>__:` / `__keyevent@<db>__:` channels.
//!
//! Messages reach a subscriber's output at the moment they are published, as in Redis 7.0. The
//! one client that cannot be reached then is the one whose command is running (it is out of
//! `Server::clients`): its messages are collected in `current_client_pushes` and spliced into its
//! output at the point where its command started producing output (see `flush_self_pushes`), so a
//! RESP3 client publishing to itself sees the message before the command's own reply, like Redis.

use std::collections::HashMap;

use crate::client::{flags, Client, ClientId};
use crate::config::table::notify;
use crate::server::Server;

/// A client whose command is suspended while another client's runs inside it: what was
/// raised for it meanwhile.
#[derive(Debug, Default)]
pub struct Suspended {
    pub id: ClientId,
    pub pushes: Vec<u8>,
    pub flags: u64,
}

/// The running-client state saved by `enter_client_context`.
#[derive(Debug, Clone, Copy)]
pub struct ClientContext {
    client: Option<ClientId>,
    resp: u8,
    mark: Option<crate::resp::reply::Mark>,
}

#[derive(Default)]
pub struct PubSub {
    /// Channel -> subscribers, in subscription order.
    pub channels: HashMap<Vec<u8>, Vec<ClientId>>,
    /// Pattern -> subscribers, in subscription order.
    pub patterns: HashMap<Vec<u8>, Vec<ClientId>>,
    /// Shard channel -> subscribers.
    pub shard_channels: HashMap<Vec<u8>, Vec<ClientId>>,
}

/// Encodes a push message of bulk strings for a client speaking `resp`.
pub fn encode_message(resp: u8, parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + parts.iter().map(|p| p.len() + 16).sum::<usize>());
    push_header(&mut out, resp, parts.len());
    for p in parts {
        push_bulk(&mut out, p);
    }
    out
}

fn push_header(out: &mut Vec<u8>, resp: u8, n: usize) {
    out.push(if resp == 3 { b'>' } else { b'*' });
    crate::util::push_i64(out, n as i64);
    out.extend_from_slice(b"\r\n");
}

fn push_bulk(out: &mut Vec<u8>, p: &[u8]) {
    out.push(b'$');
    crate::util::push_i64(out, p.len() as i64);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(p);
    out.extend_from_slice(b"\r\n");
}

/// Encodes a (un)subscribe confirmation: kind, the channel or pattern (null when a mass
/// unsubscribe found nothing to drop), and the subscription count that follows.
pub fn encode_confirmation(resp: u8, kind: &[u8], name: Option<&[u8]>, count: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(48 + name.map_or(0, |n| n.len()));
    push_header(&mut out, resp, 3);
    push_bulk(&mut out, kind);
    match name {
        Some(n) => push_bulk(&mut out, n),
        None if resp == 3 => out.extend_from_slice(b"_\r\n"),
        None => out.extend_from_slice(b"$-1\r\n"),
    }
    out.push(b':');
    crate::util::push_i64(&mut out, count as i64);
    out.extend_from_slice(b"\r\n");
    out
}

/// Channel and pattern subscriptions together: the count global (un)subscribe replies carry.
fn global_count(c: &Client) -> usize {
    c.channels.len() + c.patterns.len()
}

/// Sends a confirmation to the client running the command. Like every pub/sub message it is
/// delivered even under CLIENT REPLY OFF/SKIP.
fn confirm(c: &mut Client, kind: &[u8], name: Option<&[u8]>, count: usize) {
    if c.has(flags::CLOSE_ASAP) {
        return;
    }
    let msg = encode_confirmation(c.out.resp, kind, name, count);
    c.out.raw_push(&msg);
}

impl Server {
    /// Appends raw protocol to a client's output, wherever the client currently is: in the
    /// clients map, or (if it is the client whose command is running) in the queue that the
    /// command path splices into its output when the command returns.
    pub fn send_to_client(&mut self, id: ClientId, data: &[u8]) {
        if Some(id) == self.current_client {
            self.current_client_pushes.extend_from_slice(data);
            return;
        }
        let Some(c) = self.clients.get_mut(&id) else {
            if let Some(s) = self.suspended_clients.iter_mut().find(|s| s.id == id) {
                s.pushes.extend_from_slice(data);
            }
            return;
        };
        if c.has(flags::CLOSE_ASAP) {
            return;
        }
        c.out.raw_push(data);
        let spilled = c.out.list_bytes > 0;
        self.mark_pending_write(id);
        if self.config.maxmemory_clients != 0 {
            let mut c = self.clients.remove(&id).expect("present");
            self.update_client_mem(&mut c);
            self.clients.insert(id, c);
        }
        if spilled {
            // A slow subscriber is disconnected by the pubsub output-buffer limit.
            self.check_output_buffer_limits_of(id);
        }
    }

    /// Moves the messages published to the running client into its output, at the position
    /// marked when its command began (or at the last flush), then marks the new end. `call`
    /// does this when a command returns, which places them ahead of the command's reply: right
    /// for the usual write-notify-reply order. A command that replies part of its output before
    /// it raises events (GETDEL's `del` after the value, MGET's per-key `keymiss` between
    /// elements) calls this right after that part, so later messages land after it, as in
    /// Redis' byte order.
    pub fn flush_self_pushes(&mut self, c: &mut Client) {
        if self.current_client == Some(c.id) && !self.current_client_pushes.is_empty() {
            let pushes = std::mem::take(&mut self.current_client_pushes);
            if !c.has(flags::CLOSE_ASAP) {
                match self.current_client_mark {
                    Some(mark) => c.out.insert_at(mark, &pushes),
                    None => c.out.raw_push(&pushes),
                }
            }
        }
        if self.current_client == Some(c.id) {
            self.current_client_mark = Some(c.out.mark());
        }
    }

    /// Makes `c` the client whose command runs (its messages are collected for it from now
    /// on) and returns what to give back to `leave_client_context`. A different client that
    /// was current is suspended: its collected messages are kept aside until it resumes.
    pub fn enter_client_context(&mut self, c: &Client) -> ClientContext {
        let saved = ClientContext {
            client: self.current_client,
            resp: self.current_client_resp,
            mark: self.current_client_mark,
        };
        if let Some(prev) = self.current_client.filter(|p| *p != c.id) {
            self.suspended_clients.push(Suspended {
                id: prev,
                pushes: std::mem::take(&mut self.current_client_pushes),
                flags: std::mem::take(&mut self.current_client_flags),
            });
        }
        self.current_client = Some(c.id);
        self.current_client_resp = c.out.resp;
        self.current_client_mark = Some(c.out.mark());
        saved
    }

    /// Delivers what was collected for `c`, applies flags raised on it, and restores the
    /// previous current client (resuming a suspended one).
    pub fn leave_client_context(&mut self, c: &mut Client, saved: ClientContext) {
        self.flush_self_pushes(c);
        if self.current_client_flags != 0 {
            c.flags |= std::mem::take(&mut self.current_client_flags);
        }
        if let Some(prev) = saved.client.filter(|p| *p != c.id) {
            if let Some(pos) = self.suspended_clients.iter().rposition(|s| s.id == prev) {
                let s = self.suspended_clients.remove(pos);
                self.current_client_pushes = s.pushes;
                self.current_client_flags = s.flags;
            }
        }
        self.current_client = saved.client;
        self.current_client_resp = saved.resp;
        // Back in an outer context of the same client (EXEC, or process_command around call),
        // everything produced so far is in its final order: later messages (the MONITOR line
        // of its own command) go after it. `flush_self_pushes` left the mark at the end.
        if saved.client != Some(c.id) {
            self.current_client_mark = saved.mark;
        }
    }

    fn resp_of(&self, id: ClientId) -> u8 {
        if Some(id) == self.current_client {
            self.current_client_resp
        } else {
            self.clients.get(&id).map_or(2, |c| c.out.resp)
        }
    }

    /// Publishes to a channel (global or shard). Returns the number of receivers: each channel
    /// subscriber, plus each client of each matching pattern (global channels only).
    pub fn publish(&mut self, channel: &[u8], message: &[u8], shard: bool) -> usize {
        let mut receivers = 0;
        let kind: &[u8] = if shard { b"smessage" } else { b"message" };
        let subs = if shard {
            self.pubsub.shard_channels.get(channel)
        } else {
            self.pubsub.channels.get(channel)
        };
        if let Some(ids) = subs.cloned() {
            for id in ids {
                let msg = encode_message(self.resp_of(id), &[kind, channel, message]);
                self.send_to_client(id, &msg);
                receivers += 1;
            }
        }
        if shard || self.pubsub.patterns.is_empty() {
            return receivers;
        }
        let matching: Vec<(Vec<u8>, Vec<ClientId>)> = self
            .pubsub
            .patterns
            .iter()
            .filter(|(p, _)| crate::util::glob_match(p, channel, false))
            .map(|(p, ids)| (p.clone(), ids.clone()))
            .collect();
        for (pattern, ids) in matching {
            for id in ids {
                let msg =
                    encode_message(self.resp_of(id), &[b"pmessage", &pattern, channel, message]);
                self.send_to_client(id, &msg);
                receivers += 1;
            }
        }
        receivers
    }

    /// Raises a keyspace notification if the configured classes ask for it: `<event>` on
    /// `__keyspace@<db>__:<key>` (K) and `<key>` on `__keyevent@<db>__:<event>` (E).
    pub fn notify_keyspace_event(&mut self, class: i32, event: &str, key: &[u8], db: usize) {
        // Modules hear every event they subscribed to, whatever notify-keyspace-events says.
        if !self.modules.subscribers.is_empty() {
            crate::module::notify::fire(self, class, event, key, db);
        }
        let flags = self.config.notify_keyspace_events;
        if flags & class == 0 {
            return;
        }
        if self.pubsub.channels.is_empty() && self.pubsub.patterns.is_empty() {
            // Nobody could receive it: skip building the channel names.
            return;
        }
        if flags & notify::KEYSPACE != 0 {
            let mut chan = format!("__keyspace@{}__:", db).into_bytes();
            chan.extend_from_slice(key);
            self.publish(&chan, event.as_bytes(), false);
        }
        if flags & notify::KEYEVENT != 0 {
            let chan = format!("__keyevent@{}__:{}", db, event).into_bytes();
            self.publish(&chan, key, false);
        }
    }

    /// Subscribes a client to a channel (global or shard) and confirms it. Subscribing twice
    /// is not an error: the confirmation is sent again with the unchanged count.
    pub fn subscribe_channel(&mut self, c: &mut Client, channel: &[u8], shard: bool) -> bool {
        let (mine, map) = if shard {
            (&mut c.shard_channels, &mut self.pubsub.shard_channels)
        } else {
            (&mut c.channels, &mut self.pubsub.channels)
        };
        let added = mine.insert(channel.to_vec());
        if added {
            map.entry(channel.to_vec()).or_default().push(c.id);
        }
        if shard {
            let n = c.shard_channels.len();
            confirm(c, b"ssubscribe", Some(channel), n);
        } else {
            let n = global_count(c);
            confirm(c, b"subscribe", Some(channel), n);
        }
        added
    }

    /// Unsubscribes a client from a channel, confirming it when `notify` (even if the client
    /// was not subscribed).
    pub fn unsubscribe_channel(
        &mut self,
        c: &mut Client,
        channel: &[u8],
        notify: bool,
        shard: bool,
    ) -> bool {
        let (mine, map) = if shard {
            (&mut c.shard_channels, &mut self.pubsub.shard_channels)
        } else {
            (&mut c.channels, &mut self.pubsub.channels)
        };
        let removed = mine.remove(channel);
        if removed {
            remove_subscriber(map, channel, c.id);
        }
        if notify {
            if shard {
                let n = c.shard_channels.len();
                confirm(c, b"sunsubscribe", Some(channel), n);
            } else {
                let n = global_count(c);
                confirm(c, b"unsubscribe", Some(channel), n);
            }
        }
        removed
    }

    /// Subscribes a client to a pattern and confirms it.
    pub fn subscribe_pattern(&mut self, c: &mut Client, pattern: &[u8]) -> bool {
        let added = !c.patterns.iter().any(|p| p == pattern);
        if added {
            c.patterns.push(pattern.to_vec());
            self.pubsub
                .patterns
                .entry(pattern.to_vec())
                .or_default()
                .push(c.id);
        }
        let n = global_count(c);
        confirm(c, b"psubscribe", Some(pattern), n);
        added
    }

    /// Unsubscribes a client from a pattern, confirming it when `notify`.
    pub fn unsubscribe_pattern(&mut self, c: &mut Client, pattern: &[u8], notify: bool) -> bool {
        let pos = c.patterns.iter().position(|p| p == pattern);
        if let Some(i) = pos {
            c.patterns.remove(i);
            remove_subscriber(&mut self.pubsub.patterns, pattern, c.id);
        }
        if notify {
            let n = global_count(c);
            confirm(c, b"punsubscribe", Some(pattern), n);
        }
        pos.is_some()
    }

    /// Drops every channel subscription of one kind. With `notify`, each one is confirmed, and
    /// a client that had none still gets one confirmation with a null channel.
    pub fn unsubscribe_all_channels(&mut self, c: &mut Client, notify: bool, shard: bool) -> usize {
        let channels: Vec<Vec<u8>> = if shard {
            c.shard_channels.iter().cloned().collect()
        } else {
            c.channels.iter().cloned().collect()
        };
        let mut count = 0;
        for ch in channels {
            if self.unsubscribe_channel(c, &ch, notify, shard) {
                count += 1;
            }
        }
        if notify && count == 0 {
            if shard {
                let n = c.shard_channels.len();
                confirm(c, b"sunsubscribe", None, n);
            } else {
                let n = global_count(c);
                confirm(c, b"unsubscribe", None, n);
            }
        }
        count
    }

    /// Drops every pattern subscription, in subscription order (see `unsubscribe_all_channels`).
    pub fn unsubscribe_all_patterns(&mut self, c: &mut Client, notify: bool) -> usize {
        let patterns = c.patterns.clone();
        let mut count = 0;
        for p in patterns {
            if self.unsubscribe_pattern(c, &p, notify) {
                count += 1;
            }
        }
        if notify && count == 0 {
            let n = global_count(c);
            confirm(c, b"punsubscribe", None, n);
        }
        count
    }

    /// Leaves the RESP2 pub/sub context once no subscription of any kind is left.
    pub fn update_pubsub_flag(&mut self, c: &mut Client) {
        if c.subscription_count() == 0 {
            c.flags &= !flags::PUBSUB;
        }
    }

    /// Drops all of a client's subscriptions (on close or RESET), optionally replying with the
    /// unsubscribe confirmations.
    pub fn pubsub_unsubscribe_all(&mut self, c: &mut Client, notify_client: bool) {
        self.unsubscribe_all_channels(c, notify_client, false);
        self.unsubscribe_all_channels(c, notify_client, true);
        self.unsubscribe_all_patterns(c, notify_client);
        c.flags &= !flags::PUBSUB;
    }
}

/// Removes one subscriber from a channel/pattern map, dropping the entry when it empties (so
/// that abandoned channels don't pile up).
pub fn remove_subscriber(
    map: &mut HashMap<Vec<u8>, Vec<ClientId>>,
    name: &[u8],
    id: ClientId,
) -> bool {
    let Some(ids) = map.get_mut(name) else {
        return false;
    };
    let before = ids.len();
    ids.retain(|x| *x != id);
    let removed = ids.len() != before;
    if ids.is_empty() {
        map.remove(name);
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_use_array_or_push_by_protocol() {
        assert_eq!(
            encode_message(2, &[b"message", b"ch", b"hi"]),
            b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n".to_vec()
        );
        assert!(encode_message(3, &[b"message", b"ch", b"hi"]).starts_with(b">3\r\n"));
    }

    #[test]
    fn mass_unsubscribe_confirmation_has_null_channel() {
        assert_eq!(
            encode_confirmation(2, b"unsubscribe", None, 0),
            b"*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n".to_vec()
        );
        assert_eq!(
            encode_confirmation(3, b"punsubscribe", None, 0),
            b">3\r\n$12\r\npunsubscribe\r\n_\r\n:0\r\n".to_vec()
        );
    }

    #[test]
    fn messages_for_a_suspended_client_wait_for_it() {
        let mut srv = crate::commands::test_support::test_server();
        let mut caller = Client::fake(1, 0);
        let mut inner = Client::fake(2, 0);
        srv.subscribe_channel(&mut caller, b"ch", false);
        caller.out.take_all();
        caller.out.int(0);
        let outer_ctx = srv.enter_client_context(&caller);
        // A script's client runs inside the caller's command and publishes to the caller.
        let inner_ctx = srv.enter_client_context(&inner);
        assert_eq!(srv.publish(b"ch", b"m", false), 1);
        srv.set_client_flag(1, flags::DIRTY_CAS);
        srv.leave_client_context(&mut inner, inner_ctx);
        assert!(inner.out.take_all().is_empty());
        assert!(!inner.has(flags::DIRTY_CAS));
        caller.out.int(1);
        srv.leave_client_context(&mut caller, outer_ctx);
        assert!(caller.has(flags::DIRTY_CAS));
        assert_eq!(
            caller.out.take_all(),
            b":0\r\n*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$1\r\nm\r\n:1\r\n".to_vec()
        );
        assert!(srv.current_client.is_none());
        assert!(srv.suspended_clients.is_empty());
    }

    #[test]
    fn removing_last_subscriber_drops_the_entry() {
        let mut m: HashMap<Vec<u8>, Vec<ClientId>> = HashMap::new();
        m.insert(b"a".to_vec(), vec![1, 2]);
        assert!(remove_subscriber(&mut m, b"a", 1));
        assert!(!remove_subscriber(&mut m, b"a", 1));
        assert!(remove_subscriber(&mut m, b"a", 2));
        assert!(m.is_empty());
    }
}
