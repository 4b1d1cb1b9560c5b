//! Client-side caching (CLIENT TRACKING), as Redis 7.0 serves it: the table of keys that
//! tracking clients have read (key -> ids of the clients that may cache it), the BCAST prefix
//! table, and the invalidation messages sent when such keys change, are flushed, or drop out
//! of the table under `tracking-table-max-keys`.
//!
//! Messages are RESP3 `invalidate` pushes, or, for a client that redirects them, `message`s on
//! `__redis__:invalidate` to a RESP2 subscriber. An invalidation aimed at the client whose
//! command is running is held until that command (or whole transaction) has replied, so it never
//! lands inside a reply; BCAST invalidations are batched per event-loop iteration and sent in
//! before-sleep.
//!
//! Clients that don't track cost one flag test per command (`call`) and the key-modification
//! hook one boolean test until some client has enabled tracking.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::client::{flags, Client, ClientId, ClientMap, ClientSet};
use crate::commands::spec::flags as cmdflags;
use crate::commands::CmdId;
use crate::server::Server;

/// The pub/sub channel invalidations are redirected on for RESP2 clients.
pub const INVALIDATE_CHANNEL: &[u8] = b"__redis__:invalidate";

/// A tracking client's mode and redirection, kept on the server side too: invalidations must
/// consult them while the client itself may be out of the clients map (running a command).
#[derive(Debug, Clone, Copy)]
pub struct Tracked {
    pub flags: u64,
    pub redirect: ClientId,
}

/// One BCAST prefix: the clients registered for it and the keys under it changed since the
/// last broadcast, each with the client that changed it last (None when the server did:
/// expiry, eviction), which NOLOOP clients don't hear about.
#[derive(Default)]
struct Bcast {
    keys: BTreeMap<Vec<u8>, Option<ClientId>>,
    clients: BTreeSet<ClientId>,
}

#[derive(Default)]
pub struct Tracking {
    /// Set once a client has enabled tracking (Redis creates its tables then): until then the
    /// key-modification hook has nothing to look at.
    pub active: bool,
    /// Clients with tracking on (INFO `tracking_clients` is its size).
    pub clients: ClientMap<Tracked>,
    /// Key -> clients that read it. Ids are dropped lazily: a client that turned tracking off
    /// or went away is skipped when the key is invalidated.
    table: HashMap<Vec<u8>, ClientSet, ahash::RandomState>,
    /// Client ids across the whole table (INFO `tracking_total_items`).
    total_items: u64,
    prefixes: BTreeMap<Vec<u8>, Bcast>,
    /// Invalidations for the client whose command runs (its id, then the key, None standing
    /// for a flush of every key), sent once it has replied.
    pending: Vec<(ClientId, Option<Vec<u8>>)>,
    /// Consecutive table trims that could not get under the limit (each tries harder).
    over_limit_rounds: u32,
    /// While a module runs a command through RedisModule_Call: the client that ran the module
    /// command, which stays "the current client" for NOLOOP and delayed delivery, as in Redis.
    pub module_caller: Option<Option<ClientId>>,
}

/// What an invalidation carries: one key, or ready protocol (a BCAST array of keys, or a null
/// meaning "everything").
#[derive(Clone, Copy)]
enum Payload<'a> {
    Key(&'a [u8]),
    Proto(&'a [u8]),
}

fn push_bulk(out: &mut Vec<u8>, b: &[u8]) {
    out.push(b'$');
    crate::util::push_i64(out, b.len() as i64);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(b);
    out.extend_from_slice(b"\r\n");
}

/// The null a flush invalidation carries, in the protocol of the tracking client.
fn null_proto(resp: u8) -> &'static [u8] {
    if resp > 2 {
        b"_\r\n"
    } else {
        b"$-1\r\n"
    }
}

/// The array of keys for one BCAST prefix, leaving out those `nolooper` changed last; None when
/// nothing is left.
fn broadcast_array(
    keys: &BTreeMap<Vec<u8>, Option<ClientId>>,
    nolooper: Option<ClientId>,
) -> Option<Vec<u8>> {
    let count = match nolooper {
        None => keys.len(),
        Some(id) => keys.values().filter(|m| **m != Some(id)).count(),
    };
    if nolooper.is_some() && count == 0 {
        return None;
    }
    let mut out = Vec::with_capacity(16 + keys.len() * 16);
    out.push(b'*');
    crate::util::push_i64(&mut out, count as i64);
    out.extend_from_slice(b"\r\n");
    for (k, m) in keys {
        if nolooper.is_some() && *m == nolooper {
            continue;
        }
        push_bulk(&mut out, k);
    }
    Some(out)
}

/// Whether two prefixes would both match some key (one starts with the other).
fn prefixes_overlap(a: &[u8], b: &[u8]) -> bool {
    let n = a.len().min(b.len());
    a[..n] == b[..n]
}

impl Tracking {
    pub fn total_keys(&self) -> usize {
        self.table.len()
    }

    pub fn total_items(&self) -> u64 {
        self.total_items
    }

    pub fn total_prefixes(&self) -> usize {
        self.prefixes.len()
    }

    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }
}

/// The error CLIENT TRACKING gives for overlapping BCAST prefixes, if any, and whether Redis
/// 7.0 still goes on to enable tracking after it (it does when the overlap is between two of
/// the given prefixes and the first of them is not the first given: its check returns the
/// index as if it were success, so that client gets the error and then +OK).
pub fn prefix_collision(
    existing: Option<&BTreeSet<Vec<u8>>>,
    given: &[Vec<u8>],
) -> Option<(String, bool)> {
    for (i, p) in given.iter().enumerate() {
        if let Some(set) = existing {
            if let Some(old) = set.iter().find(|old| prefixes_overlap(old, p)) {
                return Some((
                    format!(
                        "Prefix '{}' overlaps with an existing prefix '{}'. Prefixes for a single client must not overlap.",
                        String::from_utf8_lossy(p),
                        String::from_utf8_lossy(old)
                    ),
                    false,
                ));
            }
        }
        for q in &given[i + 1..] {
            if prefixes_overlap(p, q) {
                return Some((
                    format!(
                        "Prefix '{}' overlaps with another provided prefix '{}'. Prefixes for a single client must not overlap.",
                        String::from_utf8_lossy(p),
                        String::from_utf8_lossy(q)
                    ),
                    i != 0,
                ));
            }
        }
    }
    None
}

impl Server {
    /// The client Redis would call current for tracking purposes: the one whose command runs,
    /// or, inside a module's RedisModule_Call, the client that ran the module command.
    fn tracking_caller(&self) -> Option<ClientId> {
        match self.tracking.module_caller {
            Some(c) => c,
            None => self.current_client,
        }
    }

    /// Turns tracking on (or changes its mode) for `c` with options already validated.
    pub fn enable_tracking(
        &mut self,
        c: &mut Client,
        redirect: ClientId,
        options: u64,
        prefixes: &[Vec<u8>],
    ) {
        c.flags |= flags::TRACKING;
        c.flags &= !(flags::TRACKING_BROKEN_REDIR
            | flags::TRACKING_BCAST
            | flags::TRACKING_OPTIN
            | flags::TRACKING_OPTOUT
            | flags::TRACKING_NOLOOP);
        c.tracking_redirection = redirect;
        self.tracking.active = true;
        if options & flags::TRACKING_BCAST != 0 {
            c.flags |= flags::TRACKING_BCAST;
            if prefixes.is_empty() {
                self.enable_bcast_prefix(c, b"");
            }
            for p in prefixes {
                self.enable_bcast_prefix(c, p);
            }
        }
        c.flags |=
            options & (flags::TRACKING_OPTIN | flags::TRACKING_OPTOUT | flags::TRACKING_NOLOOP);
        self.tracking.clients.insert(
            c.id,
            Tracked {
                flags: c.flags & flags::TRACKING_ALL,
                redirect,
            },
        );
    }

    fn enable_bcast_prefix(&mut self, c: &mut Client, prefix: &[u8]) {
        let bs = self.tracking.prefixes.entry(prefix.to_vec()).or_default();
        if bs.clients.insert(c.id) {
            c.tracking_prefixes
                .get_or_insert_with(Default::default)
                .insert(prefix.to_vec());
        }
    }

    /// Turns tracking off for `c` (CLIENT TRACKING OFF, RESET, disconnection). The keys it read
    /// stay in the table with its id, skipped when they are invalidated.
    pub fn disable_tracking(&mut self, c: &mut Client) {
        if c.has(flags::TRACKING_BCAST) {
            if let Some(prefixes) = c.tracking_prefixes.take() {
                for p in prefixes.iter() {
                    if let Some(bs) = self.tracking.prefixes.get_mut(p) {
                        bs.clients.remove(&c.id);
                        if bs.clients.is_empty() {
                            self.tracking.prefixes.remove(p);
                        }
                    }
                }
            }
        }
        if c.has(flags::TRACKING) {
            c.flags &= !flags::TRACKING_ALL;
            self.tracking.clients.remove(&c.id);
        }
    }

    /// After a read-only command of a tracking client (not in BCAST mode): remembers the keys
    /// it read, unless OPTIN/OPTOUT with CLIENT CACHING says otherwise. Keys are found the
    /// pre-7.0 way (legacy range or the command's key extractor), as Redis 7.0 does here.
    pub fn tracking_remember_keys(&mut self, c: &Client, id: CmdId) {
        let cmd = &self.commands.cmds[id];
        // A read-only script is tracked through the commands it runs (see
        // `tracking_remember_script_keys`), not for being read-only itself.
        if cmd.flags & cmdflags::READONLY == 0
            || matches!(
                cmd.special,
                crate::commands::Special::Script
                    | crate::commands::Special::ScriptSha
                    | crate::commands::Special::Function
            )
        {
            return;
        }
        self.tracking_remember_command_keys(c, id);
    }

    /// A script read data: its caller now caches the keys the script declared, as Redis
    /// tracks scripts.
    pub fn tracking_remember_script_keys(&mut self, caller: &Client, script_cmd: CmdId) {
        if caller.has(flags::TRACKING) {
            self.tracking_remember_command_keys(caller, script_cmd);
        }
    }

    fn tracking_remember_command_keys(&mut self, c: &Client, id: CmdId) {
        let cmd = &self.commands.cmds[id];
        if c.has(flags::TRACKING_BCAST) {
            return;
        }
        let optin = c.has(flags::TRACKING_OPTIN);
        let optout = c.has(flags::TRACKING_OPTOUT);
        let caching = c.has(flags::TRACKING_CACHING);
        if (optin && !caching) || (optout && caching) {
            return;
        }
        let keys = if cmd.flags & cmdflags::MODULE_GETKEYS != 0 && cmd.module_cmd.is_some() {
            let argv = c.argv.clone();
            crate::module::getkeys::get_keys(self, id, &argv).unwrap_or_default()
        } else {
            crate::commands::keyspec::keys_legacy(cmd.spec, &c.argv)
        };
        // Shard channels pass for keys (for cluster routing); they are not cached data.
        if keys.is_empty() || self.commands.cmds[id].flags & cmdflags::PUBSUB != 0 {
            return;
        }
        for k in keys {
            let Some(key) = c.argv.get(k.pos) else {
                continue;
            };
            let ids = match self.tracking.table.get_mut(&key[..]) {
                Some(ids) => ids,
                None => self.tracking.table.entry(key.clone()).or_default(),
            };
            if ids.insert(c.id) {
                self.tracking.total_items += 1;
            }
        }
    }

    /// A key changed (or left the table): tells the clients that may cache it. `modifier` is
    /// the client that changed it (None for the server itself), for BCAST NOLOOP clients;
    /// `bcast` is false when the key did not change but only drops out of the table.
    pub fn tracking_invalidate_key(&mut self, key: &[u8], modifier: Option<ClientId>, bcast: bool) {
        if bcast && !self.tracking.prefixes.is_empty() {
            for (p, bs) in self.tracking.prefixes.iter_mut() {
                if key.starts_with(p) {
                    bs.keys.insert(key.to_vec(), modifier);
                }
            }
        }
        let Some(ids) = self.tracking.table.remove(key) else {
            return;
        };
        self.tracking.total_items -= ids.len() as u64;
        let caller = self.tracking_caller();
        let in_command = self.prop.depth > 0;
        let mut ids: Vec<ClientId> = ids.into_iter().collect();
        ids.sort_unstable();
        for id in ids {
            let Some(t) = self.tracking.clients.get(&id) else {
                continue;
            };
            // A client that switched to BCAST since it read the key is told by prefix only.
            if t.flags & flags::TRACKING_BCAST != 0 {
                continue;
            }
            let is_caller = Some(id) == caller;
            if is_caller && t.flags & flags::TRACKING_NOLOOP != 0 {
                continue;
            }
            if is_caller && in_command {
                self.tracking.pending.push((id, Some(key.to_vec())));
            } else {
                self.send_tracking_message(id, Payload::Key(key), None);
            }
        }
    }

    /// Sends what was held for the client whose command just finished, after its reply
    /// (end of the outermost `call`, or of serving a blocked client). `c` is that client,
    /// unless the outermost call was a module's RedisModule_Call outside any command (a reply
    /// callback): then the held messages go to their client wherever it is.
    pub fn tracking_flush_pending(&mut self, c: &mut Client) {
        let pending = std::mem::take(&mut self.tracking.pending);
        for (id, k) in pending {
            let mine = id == c.id;
            let resp = if mine {
                c.out.resp
            } else {
                self.resp_of_any(id, None)
            };
            let payload = match &k {
                Some(key) => Payload::Key(key),
                None => Payload::Proto(null_proto(resp)),
            };
            if mine {
                self.send_tracking_message(id, payload, Some(c));
            } else {
                self.send_tracking_message(id, payload, None);
            }
        }
    }

    /// FLUSHDB/FLUSHALL (and any emptying of the dataset, such as a replica's full resync):
    /// every tracking client gets one null invalidation meaning "all keys", and the table is
    /// emptied (a big one in the lazy-free thread when the flush is asynchronous).
    pub fn tracking_invalidate_keys_on_flush(&mut self, lazy: bool) {
        if !self.tracking.clients.is_empty() {
            let caller = self.tracking_caller();
            let in_command = self.prop.depth > 0;
            let mut ids: Vec<ClientId> = self.tracking.clients.keys().copied().collect();
            ids.sort_unstable();
            for id in ids {
                if Some(id) == caller && in_command {
                    self.tracking.pending.push((id, None));
                } else {
                    let null = null_proto(self.resp_of_any(id, None));
                    self.send_tracking_message(id, Payload::Proto(null), None);
                }
            }
        }
        if self.tracking.active {
            let table = std::mem::take(&mut self.tracking.table);
            self.tracking.total_items = 0;
            let n = table.len();
            if lazy && n > crate::lazyfree::LAZYFREE_THRESHOLD {
                self.lazyfree.free_later(Box::new(table), n);
            }
        }
    }

    /// Keeps the table within `tracking-table-max-keys`: keys over the limit are dropped (their
    /// clients told as if they had changed), trying harder each time the previous attempt left
    /// the table over the limit.
    pub fn tracking_limit_used_slots(&mut self) {
        let max = self.config.tracking_table_max_keys;
        if !self.tracking.active || max <= 0 {
            return;
        }
        let max = max as usize;
        if self.tracking.table.len() <= max {
            self.tracking.over_limit_rounds = 0;
            return;
        }
        let effort = 100 * (self.tracking.over_limit_rounds as usize + 1);
        let victims: Vec<Vec<u8>> = self.tracking.table.keys().take(effort).cloned().collect();
        for key in victims {
            self.tracking_invalidate_key(&key, None, false);
            if self.tracking.table.len() <= max {
                self.tracking.over_limit_rounds = 0;
                return;
            }
        }
        self.tracking.over_limit_rounds += 1;
    }

    /// Before sleeping: sends each BCAST prefix's clients the keys changed under it during this
    /// iteration of the event loop.
    pub fn tracking_broadcast_invalidations(&mut self) {
        if !self.tracking.active || self.tracking.clients.is_empty() {
            return;
        }
        let mut batches = Vec::new();
        for bs in self.tracking.prefixes.values_mut() {
            if !bs.keys.is_empty() {
                batches.push((std::mem::take(&mut bs.keys), bs.clients.clone()));
            }
        }
        for (keys, clients) in batches {
            let common = broadcast_array(&keys, None).unwrap_or_default();
            for id in clients {
                let noloop = self
                    .tracking
                    .clients
                    .get(&id)
                    .is_some_and(|t| t.flags & flags::TRACKING_NOLOOP != 0);
                if noloop {
                    if let Some(own) = broadcast_array(&keys, Some(id)) {
                        self.send_tracking_message(id, Payload::Proto(&own), None);
                    }
                } else {
                    self.send_tracking_message(id, Payload::Proto(&common), None);
                }
            }
        }
    }

    /// Whether a client exists (connected, or the one running a command).
    fn client_exists(&self, id: ClientId, running: Option<&Client>) -> bool {
        running.is_some_and(|c| c.id == id)
            || self.clients.contains_key(&id)
            || self.current_client == Some(id)
            || self.suspended_clients.iter().any(|s| s.id == id)
    }

    fn resp_of_any(&self, id: ClientId, running: Option<&Client>) -> u8 {
        if let Some(c) = running.filter(|c| c.id == id) {
            return c.out.resp;
        }
        if let Some(c) = self.clients.get(&id) {
            return c.out.resp;
        }
        if self.current_client == Some(id) {
            return self.current_client_resp;
        }
        2
    }

    /// Whether a client is in pub/sub mode. The client running a command is out of the map:
    /// its subscriptions tell instead (rare: only a redirection target can be asked).
    fn is_pubsub_client(&self, id: ClientId, running: Option<&Client>) -> bool {
        if let Some(c) = running.filter(|c| c.id == id) {
            return c.has(flags::PUBSUB);
        }
        if let Some(c) = self.clients.get(&id) {
            return c.has(flags::PUBSUB);
        }
        let ps = &self.pubsub;
        ps.channels.values().any(|v| v.contains(&id))
            || ps.patterns.values().any(|v| v.contains(&id))
            || ps.shard_channels.values().any(|v| v.contains(&id))
    }

    /// Queues protocol for `target`: straight into the output of `running` when it is that
    /// client (held invalidations go after its reply), otherwise wherever the client is.
    fn deliver_tracking(&mut self, target: ClientId, data: &[u8], running: Option<&mut Client>) {
        match running {
            Some(c) if c.id == target => {
                if c.has(flags::CLOSE_ASAP) {
                    return;
                }
                c.out.raw_push(data);
                // Later messages for it must not be spliced in ahead of this one.
                if self.current_client == Some(target) {
                    self.current_client_mark = Some(c.out.mark());
                }
            }
            _ => self.send_to_client(target, data),
        }
    }

    /// Sends one invalidation on behalf of tracking client `id`: to it as a RESP3 push, or to
    /// the client it redirects to (a push, or a `__redis__:invalidate` message for a RESP2
    /// subscriber). A redirection to a client that is gone marks the redirection broken and
    /// tells a RESP3 client so.
    fn send_tracking_message(
        &mut self,
        id: ClientId,
        payload: Payload,
        mut running: Option<&mut Client>,
    ) {
        let redirect = match self.tracking.clients.get(&id) {
            Some(t) => t.redirect,
            None => match running.as_deref() {
                Some(c) if c.id == id => c.tracking_redirection,
                _ => self.clients.get(&id).map_or(0, |c| c.tracking_redirection),
            },
        };
        let mut target = id;
        let mut redirected = false;
        if redirect != 0 {
            if !self.client_exists(redirect, running.as_deref()) {
                if let Some(t) = self.tracking.clients.get_mut(&id) {
                    t.flags |= flags::TRACKING_BROKEN_REDIR;
                }
                match running.as_deref_mut() {
                    Some(c) if c.id == id => c.flags |= flags::TRACKING_BROKEN_REDIR,
                    _ => self.set_client_flag(id, flags::TRACKING_BROKEN_REDIR),
                }
                if self.resp_of_any(id, running.as_deref()) > 2 {
                    let mut out = Vec::with_capacity(64);
                    out.extend_from_slice(b">2\r\n");
                    push_bulk(&mut out, b"tracking-redir-broken");
                    out.push(b':');
                    crate::util::push_i64(&mut out, redirect as i64);
                    out.extend_from_slice(b"\r\n");
                    self.deliver_tracking(id, &out, running);
                }
                return;
            }
            target = redirect;
            redirected = true;
        }
        let mut out = Vec::with_capacity(64);
        if self.resp_of_any(target, running.as_deref()) > 2 {
            out.extend_from_slice(b">2\r\n");
            push_bulk(&mut out, b"invalidate");
        } else if redirected && self.is_pubsub_client(target, running.as_deref()) {
            out.extend_from_slice(b"*3\r\n");
            push_bulk(&mut out, b"message");
            push_bulk(&mut out, INVALIDATE_CHANNEL);
        } else {
            // A RESP2 connection can't carry pushes between replies.
            return;
        }
        match payload {
            Payload::Key(k) => {
                out.extend_from_slice(b"*1\r\n");
                push_bulk(&mut out, k);
            }
            Payload::Proto(p) => out.extend_from_slice(p),
        }
        self.deliver_tracking(target, &out, running);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_overlap_when_one_starts_the_other() {
        assert!(prefixes_overlap(b"foo", b"foobar"));
        assert!(prefixes_overlap(b"foobar", b"foo"));
        assert!(prefixes_overlap(b"", b"x"));
        assert!(!prefixes_overlap(b"bar", b"baz"));
    }

    #[test]
    fn collisions_name_both_prefixes_and_keep_redis_quirk() {
        let given = vec![b"FOOBAR".to_vec(), b"FOO".to_vec()];
        let (msg, goes_on) = prefix_collision(None, &given).unwrap();
        assert!(msg.starts_with("Prefix 'FOOBAR' overlaps with another provided prefix 'FOO'"));
        assert!(!goes_on);
        let given = vec![b"A".to_vec(), b"B".to_vec(), b"BC".to_vec()];
        let (_, goes_on) = prefix_collision(None, &given).unwrap();
        assert!(goes_on);
        let mut existing = BTreeSet::new();
        existing.insert(b"BAR".to_vec());
        let (msg, _) = prefix_collision(Some(&existing), &[b"BARB".to_vec()]).unwrap();
        assert!(msg.starts_with("Prefix 'BARB' overlaps with an existing prefix 'BAR'"));
        assert!(prefix_collision(Some(&existing), &[b"FOO".to_vec()]).is_none());
    }

    #[test]
    fn broadcast_arrays_leave_out_the_nolooper_keys() {
        let mut keys = BTreeMap::new();
        keys.insert(b"a".to_vec(), Some(1));
        keys.insert(b"b".to_vec(), None);
        assert_eq!(
            broadcast_array(&keys, None).unwrap(),
            b"*2\r\n$1\r\na\r\n$1\r\nb\r\n"
        );
        assert_eq!(
            broadcast_array(&keys, Some(1)).unwrap(),
            b"*1\r\n$1\r\nb\r\n"
        );
        keys.remove(&b"b"[..]);
        assert!(broadcast_array(&keys, Some(1)).is_none());
    }
}
