//! Publish/subscribe: channel and pattern subscriptions (global and shard), message delivery in
//! the RESP2 (array) or RESP3 (push) form each subscriber speaks, and keyspace notifications,
//! which are ordinary publications on `__keyspace@<db>__:` / `__keyevent@<db>__:` channels.

use std::collections::HashMap;

use crate::client::ClientId;
use crate::config::table::notify;
use crate::server::Server;

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
    out.push(if resp == 3 { b'>' } else { b'*' });
    crate::util::push_i64(&mut out, parts.len() as i64);
    out.extend_from_slice(b"\r\n");
    for p in parts {
        out.push(b'$');
        crate::util::push_i64(&mut out, p.len() as i64);
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(p);
        out.extend_from_slice(b"\r\n");
    }
    out
}

impl Server {
    /// Appends raw protocol to a client's output, wherever the client currently is: in the
    /// clients map, or (if it is the client whose command is running) in the queue that the
    /// command path appends after the command.
    pub fn send_to_client(&mut self, id: ClientId, data: &[u8]) {
        if Some(id) == self.current_client {
            self.current_client_pushes.extend_from_slice(data);
            return;
        }
        if let Some(c) = self.clients.get_mut(&id) {
            c.out.raw(data);
            let spilled = c.out.list_bytes > 0;
            self.mark_pending_write(id);
            if self.config.maxmemory_clients != 0 {
                let mut c = self.clients.remove(&id).expect("present");
                self.update_client_mem(&mut c);
                self.clients.insert(id, c);
            }
            if spilled {
                self.check_output_buffer_limits_of(id);
            }
        }
    }

    fn resp_of(&self, id: ClientId) -> u8 {
        if Some(id) == self.current_client {
            self.current_client_resp
        } else {
            self.clients.get(&id).map_or(2, |c| c.out.resp)
        }
    }

    /// Publishes to a channel (global or shard). Returns the number of receivers.
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

    /// Raises a keyspace notification if the configured classes ask for it.
    pub fn notify_keyspace_event(&mut self, class: i32, event: &str, key: &[u8], db: usize) {
        let flags = self.config.notify_keyspace_events;
        if flags & class == 0 {
            return;
        }
        if self.pubsub.channels.is_empty() && self.pubsub.patterns.is_empty() {
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
}

impl Server {
    /// Drops all of a client's subscriptions (on close or RESET), optionally replying with the
    /// unsubscribe confirmations.
    pub fn pubsub_unsubscribe_all(&mut self, c: &mut crate::client::Client, notify_client: bool) {
        let channels: Vec<Vec<u8>> = c.channels.drain().collect();
        for ch in channels {
            remove_subscriber(&mut self.pubsub.channels, &ch, c.id);
            if notify_client {
                c.out.push(3);
                c.out.bulk(b"unsubscribe");
                c.out.bulk(&ch);
                c.out.int(c.subscription_count() as i64);
            }
        }
        let patterns: Vec<Vec<u8>> = c.patterns.drain().collect();
        for p in patterns {
            remove_subscriber(&mut self.pubsub.patterns, &p, c.id);
            if notify_client {
                c.out.push(3);
                c.out.bulk(b"punsubscribe");
                c.out.bulk(&p);
                c.out.int(c.subscription_count() as i64);
            }
        }
        let shard: Vec<Vec<u8>> = c.shard_channels.drain().collect();
        for ch in shard {
            remove_subscriber(&mut self.pubsub.shard_channels, &ch, c.id);
        }
        c.flags &= !crate::client::flags::PUBSUB;
    }
}

/// Removes one subscriber from a channel/pattern map, dropping the entry when it empties.
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
