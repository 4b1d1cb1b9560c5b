//! Clients blocked on keys (Redis 7.0's blocked.c and timeout.c): BLPOP and friends today,
//! the sorted-set and stream blocking commands and modules through the same hooks.
//!
//! Design:
//! - A command that finds nothing to serve calls [`Server::block_for_keys`] with its
//!   [`BlockType`], the keys, an absolute timeout (0 = forever) and a [`BlockData`] holding
//!   what it needs to finish later (pop side, destination, count...). The client gets the
//!   BLOCKED flag, so its further pipelined commands wait, and is queued per `(db, key)` in
//!   arrival order.
//! - Whenever a key is created (`db_add`) or a write command adds data to a key someone may be
//!   waiting on, [`Server::signal_key_as_ready`] records it (once per key, cheaply skipped when
//!   nobody waits on that key with a matching block type).
//! - [`Server::handle_clients_blocked_on_keys`] runs after every top-level command (so after a
//!   whole MULTI/EXEC) and in before-sleep. For each ready key that still exists, the waiters
//!   whose block type matches the key's type are served in arrival order through one dispatch
//!   point, [`serve_client`], which calls the type's "serve this client from this key"
//!   function. A key of another type (a string written over the list) serves nobody: its
//!   waiters stay blocked, as in 7.0. Serving can make more keys ready (BLMOVE pushes to its
//!   destination); those are handled in the same loop.
//! - Each served client runs as the current client: its reply, keyspace events and the
//!   propagation of the non-blocking command it amounts to (LPOP, LMOVE...) happen there, and
//!   its command statistics get the rest of the 7.0 treatment (`updateStatsOnUnblock`: time,
//!   failed calls, latency histogram, slow log).
//! - Timeouts sit in an ordered set; before-sleep answers the expired ones with a null array
//!   and the event loop never sleeps past the earliest one. CLIENT UNBLOCK, disconnection and
//!   FLUSHALL/SWAPDB/MOVE/RENAME (which create keys through `db_add` or rescan) go through the
//!   same unblock path.
//! - Unblocked clients are queued and their pending input processed in before-sleep.
//!
//! Adding a type: add a [`BlockType`] and a [`BlockData`] variant, map the value type in
//! [`block_type_of`], and add the serve function to [`serve_client`].

use std::collections::{BTreeSet, HashMap, VecDeque};

use crate::client::{flags, Client, ClientId, ClientMap};
use crate::commands::CmdId;
use crate::server::Server;
use crate::types::Value;

/// What a client waits for; a key only serves waiters of its own type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockType {
    List,
    Stream,
    Zset,
    /// A module command (RedisModule_BlockClient without keys, BlockClientOnKeys with).
    Module,
}

/// Number of block types (for per-type counters).
const NTYPES: usize = 4;

impl BlockType {
    fn index(self) -> usize {
        self as usize
    }
}

/// The block type a value can serve, if any.
pub fn block_type_of(v: &Value) -> Option<BlockType> {
    match v {
        Value::List(_) => Some(BlockType::List),
        Value::Stream(_) => Some(BlockType::Stream),
        Value::Zset(_) => Some(BlockType::Zset),
        // Module waiters are served whatever the key's type (Redis' BLOCKED_MODULE).
        Value::Module(_) => Some(BlockType::Module),
        _ => None,
    }
}

/// What a blocked command needs to complete once a key is ready.
#[derive(Debug, Clone)]
pub enum BlockData {
    /// BLPOP/BRPOP (`count` None), BLMPOP (`count`), BLMOVE/BRPOPLPUSH (`target`).
    List {
        from_head: bool,
        to_head: bool,
        target: Option<Vec<u8>>,
        count: Option<usize>,
        /// Served as RPOPLPUSH rather than LMOVE in propagation.
        rpoplpush: bool,
    },
    /// XREAD/XREADGROUP: the ID to read after per key (first occurrence of a key wins), the
    /// COUNT, and for XREADGROUP the group, consumer and NOACK.
    Stream {
        ids: Vec<(Vec<u8>, crate::types::stream::StreamId)>,
        count: usize,
        group: Option<Vec<u8>>,
        consumer: Option<Vec<u8>>,
        noack: bool,
    },
    /// BZPOPMIN/BZPOPMAX (`count` None) and BZMPOP (`count`).
    Zset { max: bool, count: Option<usize> },
    /// A module's blocked-client handle (src/module/block.rs).
    Module { bc: crate::module::block::BcPtr },
}

/// A blocked client's state.
#[derive(Debug)]
pub struct BlockState {
    pub btype: BlockType,
    pub db: usize,
    /// Distinct keys, in the order given.
    pub keys: Vec<Vec<u8>>,
    /// Absolute unix time in ms, 0 for none.
    pub timeout_ms: i64,
    pub data: BlockData,
    /// The command that blocked and its arguments (for its statistics and slow log entry).
    pub cmd: Option<CmdId>,
    pub argv: Vec<Vec<u8>>,
    /// Time the blocking call itself took, added to the command's time when served.
    pub call_us: u64,
}

/// Server-wide blocking state.
#[derive(Default)]
pub struct Blocking {
    pub states: ClientMap<BlockState>,
    /// Waiters per (db, key), in arrival order.
    pub waiters: HashMap<(usize, Vec<u8>), VecDeque<ClientId>>,
    /// Keys signalled ready since the last round, in order, without duplicates.
    ready: Vec<(usize, Vec<u8>)>,
    ready_set: std::collections::HashSet<(usize, Vec<u8>)>,
    /// (timeout, client) of the blocked clients that have a timeout.
    pub timeouts: BTreeSet<(i64, ClientId)>,
    by_type: [usize; NTYPES],
    /// Clients unblocked whose pending input must be processed (before-sleep).
    unblocked: Vec<ClientId>,
}

impl Blocking {
    /// The earliest timeout of a blocked client, for the event loop's wait.
    pub fn next_timeout(&self) -> Option<i64> {
        self.timeouts.iter().next().map(|(t, _)| *t)
    }

    pub fn has_pending_work(&self) -> bool {
        !self.ready.is_empty() || !self.unblocked.is_empty()
    }
}

/// Parses a blocking timeout given in seconds (Redis' `getTimeoutFromObjectOrReply` with
/// UNIT_SECONDS): a float, rounded up to ms. Returns the absolute deadline (0 = forever) or
/// replies the error.
pub fn parse_timeout(c: &mut Client, i: usize, now_ms: i64) -> Option<i64> {
    let Some(v) = crate::util::parse_f64(&c.argv[i]).filter(|v| !v.is_nan()) else {
        c.out.error("timeout is not a float or out of range");
        return None;
    };
    let ms = (v * 1000.0).ceil();
    // Redis converts to a 64-bit integer without a range check: on its platforms a value
    // past the range becomes the most negative integer, hence "negative".
    if ms < 0.0 || ms >= i64::MAX as f64 {
        c.out.error("timeout is negative");
        return None;
    }
    let ms = ms as i64;
    Some(if ms > 0 { ms.saturating_add(now_ms) } else { 0 })
}

/// The one place where a blocked client is served from a ready key, by block type. Returns
/// true when the client was served (and must be unblocked).
fn serve_client(srv: &mut Server, c: &mut Client, st: &BlockState, key: &[u8]) -> bool {
    match st.btype {
        BlockType::List => crate::commands::list::serve_blocked_client(srv, c, st, key),
        BlockType::Stream => crate::commands::stream::serve_blocked_client(srv, c, st, key),
        BlockType::Zset => crate::commands::zset::serve_blocked_client(srv, c, st, key),
        // Module waiters are served by their reply callback (`serve_module_waiters`).
        BlockType::Module => false,
    }
}

impl Server {
    /// Blocks the running client on `keys` until one of them can serve it, the timeout
    /// (absolute ms, 0 = none) passes, or it is unblocked.
    pub fn block_for_keys(
        &mut self,
        c: &mut Client,
        btype: BlockType,
        keys: &[Vec<u8>],
        timeout_ms: i64,
        data: BlockData,
    ) {
        let db = c.db;
        let mut distinct: Vec<Vec<u8>> = Vec::with_capacity(keys.len());
        for k in keys {
            if distinct.contains(k) {
                continue;
            }
            distinct.push(k.clone());
            self.blocking
                .waiters
                .entry((db, k.clone()))
                .or_default()
                .push_back(c.id);
        }
        if timeout_ms != 0 {
            self.blocking.timeouts.insert((timeout_ms, c.id));
        }
        self.blocking.by_type[btype.index()] += 1;
        self.blocking.states.insert(
            c.id,
            BlockState {
                btype,
                db,
                keys: distinct,
                timeout_ms,
                data,
                cmd: c.last_cmd,
                argv: c.argv.clone(),
                call_us: 0,
            },
        );
        c.flags |= flags::BLOCKED;
    }

    /// Records how long the call that blocked a client took (from `call`).
    pub fn note_blocking_call_time(&mut self, id: ClientId, us: u64) {
        if let Some(st) = self.blocking.states.get_mut(&id) {
            st.call_us = us;
        }
    }

    /// Whether a client is blocked on keys (not merely held by a pause).
    pub fn is_blocked_on_keys(&self, id: ClientId) -> bool {
        self.blocking.states.contains_key(&id)
    }

    /// Removes a client's blocking state and registrations; the caller clears its flag.
    fn remove_block_state(&mut self, id: ClientId) -> Option<BlockState> {
        let st = self.blocking.states.remove(&id)?;
        for k in &st.keys {
            let slot = (st.db, k.clone());
            if let Some(q) = self.blocking.waiters.get_mut(&slot) {
                q.retain(|w| *w != id);
                if q.is_empty() {
                    self.blocking.waiters.remove(&slot);
                }
            }
        }
        if st.timeout_ms != 0 {
            self.blocking.timeouts.remove(&(st.timeout_ms, id));
        }
        self.blocking.by_type[st.btype.index()] -= 1;
        Some(st)
    }

    /// Unblocks a client that is out of the clients map (being served or answered): state
    /// gone, flag cleared, pending input queued for processing.
    fn finish_unblock(&mut self, c: &mut Client) {
        c.flags &= !flags::BLOCKED;
        // The request that blocked is done now (Redis resets the client on unblock).
        c.argv.clear();
        self.command_done(c);
        if !self.blocking.unblocked.contains(&c.id) {
            self.blocking.unblocked.push(c.id);
        }
    }

    /// Unblocks a client blocked by something other than keys (WAIT), once its reply is
    /// written: its pending input runs next.
    pub fn finish_unblock_external(&mut self, c: &mut Client) {
        self.finish_unblock(c);
    }

    /// Forgets a client that goes away while blocked.
    pub fn unblock_on_free(&mut self, id: ClientId) {
        if let Some(st) = self.remove_block_state(id) {
            if let Some(bc) = crate::module::block::handle_of(&st) {
                crate::module::block::client_unblocked(self, None, bc);
            }
        }
        self.blocking.unblocked.retain(|u| *u != id);
    }

    /// Removes a module-blocked client's state (the handle is being finished); the client
    /// keeps its BLOCKED flag until [`Server::finish_module_unblock`].
    pub fn take_module_block_state(&mut self, id: ClientId) -> Option<BlockState> {
        self.remove_block_state(id)
    }

    /// Ends a module-blocked client's wait (its state already taken).
    pub fn finish_module_unblock(&mut self, c: &mut Client) {
        self.finish_unblock(c);
    }

    /// Serves the module clients waiting on a key that exists (whatever its type): each
    /// one's reply callback decides (Redis' `serveClientsBlockedOnKeyByModule`). A served
    /// client stays blocked until its handle is finished in before-sleep.
    fn serve_module_waiters(&mut self, db: usize, key: &[u8]) {
        if self.blocking.by_type[BlockType::Module.index()] == 0 {
            return;
        }
        let Some(queue) = self.blocking.waiters.get(&(db, key.to_vec())) else {
            return;
        };
        let waiting: Vec<ClientId> = queue.iter().copied().collect();
        for id in waiting {
            let Some(st) = self.blocking.states.get(&id) else {
                continue;
            };
            let Some(bc) = crate::module::block::handle_of(st) else {
                continue;
            };
            let st = BlockState {
                btype: st.btype,
                db: st.db,
                keys: Vec::new(),
                timeout_ms: st.timeout_ms,
                data: st.data.clone(),
                cmd: st.cmd,
                argv: st.argv.clone(),
                call_us: st.call_us,
            };
            if self
                .clients
                .get(&id)
                .is_none_or(|c| c.has(flags::CLOSE_ASAP))
            {
                continue;
            }
            let Some(mut c) = self.clients.remove(&id) else {
                continue;
            };
            let errors_before = self.stats.total_error_replies + c.out.errors.len() as u64;
            let ctx = self.enter_client_context(&c);
            self.prop.depth += 1;
            self.frozen_ms = Some(crate::util::mstime());
            let start = crate::util::monotonic_us();
            let served = crate::module::block::try_serve_on_key(self, &mut c, &st, key);
            let reply_us = crate::util::monotonic_us() - start;
            self.frozen_ms = None;
            self.prop.depth -= 1;
            self.leave_client_context(&mut c, ctx);
            if self.tracking.has_pending() {
                self.tracking_flush_pending(&mut c);
            }
            let had_errors =
                self.stats.total_error_replies + c.out.errors.len() as u64 != errors_before;
            self.record_reply_errors(&mut c);
            if served {
                self.update_stats_on_unblock(&mut c, &st, 0, reply_us, had_errors);
                crate::module::block::served_on_key(bc);
            }
            self.flush_propagation();
            let has_output = c.out.has_pending();
            self.clients.insert(id, c);
            if has_output {
                self.mark_pending_write(id);
            }
        }
    }

    /// Notes that `key` may now serve clients blocked on it (Redis' `signalKeyAsReady`).
    pub fn signal_key_as_ready(&mut self, db: usize, key: &[u8], btype: BlockType) {
        // Modules may wait on keys of any type, so their waiters keep every signal alive.
        if self.blocking.by_type[btype.index()] == 0
            && self.blocking.by_type[BlockType::Module.index()] == 0
        {
            return;
        }
        let slot = (db, key.to_vec());
        if !self.blocking.waiters.contains_key(&slot) {
            return;
        }
        if self.blocking.ready_set.insert(slot.clone()) {
            self.blocking.ready.push(slot);
        }
    }

    /// Signals the waited-on keys of `emptied` that hold a stream which is going away (the
    /// database is flushed, or swapped with `replaced_with` where the key is no stream), so
    /// XREADGROUP readers blocked on them are told (Redis' `scanDatabaseForDeletedStreams`).
    /// Runs before the flush or swap.
    pub fn scan_db_for_deleted_streams(&mut self, emptied: usize, replaced_with: Option<usize>) {
        if self.blocking.by_type[BlockType::Stream.index()] == 0 {
            return;
        }
        let keys: Vec<Vec<u8>> = self
            .blocking
            .waiters
            .keys()
            .filter(|(d, _)| *d == emptied)
            .map(|(_, k)| k.clone())
            .collect();
        let is_stream = |srv: &Self, db: usize, k: &[u8]| {
            matches!(
                srv.dbs[db].dict.get(k).map(|o| &o.value),
                Some(Value::Stream(_))
            )
        };
        for k in keys {
            let was = is_stream(self, emptied, &k);
            let now = replaced_with.is_some_and(|r| is_stream(self, r, &k));
            if was && !now {
                self.signal_key_as_ready(emptied, &k, BlockType::Stream);
            }
        }
    }

    /// Signals every waited-on key of `db` that holds a value able to serve (after SWAPDB,
    /// Redis' `scanDatabaseForReadyKeys`).
    pub fn scan_db_for_ready_keys(&mut self, db: usize) {
        if self.blocking.states.is_empty() {
            return;
        }
        let keys: Vec<Vec<u8>> = self
            .blocking
            .waiters
            .keys()
            .filter(|(d, _)| *d == db)
            .map(|(_, k)| k.clone())
            .collect();
        for k in keys {
            let bt = self.dbs[db]
                .dict
                .get(&k[..])
                .and_then(|o| block_type_of(&o.value));
            if let Some(bt) = bt {
                self.signal_key_as_ready(db, &k, bt);
            }
        }
    }

    /// Serves the clients blocked on the keys signalled ready (Redis'
    /// `handleClientsBlockedOnKeys`).
    pub fn handle_clients_blocked_on_keys(&mut self) {
        while !self.blocking.ready.is_empty() {
            let round = std::mem::take(&mut self.blocking.ready);
            for (db, key) in round {
                self.blocking.ready_set.remove(&(db, key.clone()));
                self.update_cached_time();
                self.serve_key(db, &key);
            }
        }
    }

    fn serve_key(&mut self, db: usize, key: &[u8]) {
        use crate::db::lookup;
        let found = self
            .lookup_key(db, key, lookup::NONOTIFY | lookup::NOSTATS)
            .map(|o| block_type_of(&o.value));
        let btype = found.flatten();
        if btype != Some(BlockType::Stream) {
            // A stream deleted or overwritten under XREADGROUP readers ends their wait.
            self.unblock_deleted_stream_readgroup_clients(db, key);
        }
        let Some(btype) = btype else {
            // Modules decide themselves whether a key of any type serves them, as long as
            // it exists.
            if found.is_some() {
                self.serve_module_waiters(db, key);
            }
            // Gone or of a type nobody can block on: its expiry may have queued a DEL.
            self.flush_propagation();
            return;
        };
        self.serve_type_waiters(db, key, btype);
        self.serve_module_waiters(db, key);
    }

    /// Serves the waiters of one block type from a key of that type, in arrival order.
    fn serve_type_waiters(&mut self, db: usize, key: &[u8], btype: BlockType) {
        let slot = (db, key.to_vec());
        let Some(queue) = self.blocking.waiters.get(&slot) else {
            return;
        };
        let waiting: Vec<ClientId> = queue.iter().copied().collect();
        for id in waiting {
            // The key must still be there and of the right type for each next client.
            let still = self.dbs[db]
                .dict
                .get(key)
                .and_then(|o| block_type_of(&o.value));
            if still != Some(btype) {
                break;
            }
            match self.blocking.states.get(&id) {
                Some(st) if st.btype == btype => {
                    // A stream reader waits for entries past its ID: others stay in line
                    // untouched (taking them out and back would reorder the queue).
                    if btype == BlockType::Stream
                        && !crate::commands::stream::blocked_client_ready(self, st, key)
                    {
                        continue;
                    }
                }
                _ => continue,
            }
            // A client being closed must not take data with it (it goes before the next
            // sleep and its state with it).
            if self
                .clients
                .get(&id)
                .is_none_or(|c| c.has(flags::CLOSE_ASAP))
            {
                continue;
            }
            let Some(mut c) = self.clients.remove(&id) else {
                continue;
            };
            let st = self.remove_block_state(id).expect("blocked client state");
            let errors_before = self.stats.total_error_replies;
            let ctx = self.enter_client_context(&c);
            self.prop.depth += 1;
            self.frozen_ms = Some(crate::util::mstime());
            let start = crate::util::monotonic_us();
            let served = serve_client(self, &mut c, &st, key);
            let reply_us = crate::util::monotonic_us() - start;
            self.frozen_ms = None;
            self.prop.depth -= 1;
            self.leave_client_context(&mut c, ctx);
            // Its own invalidations (BLMOVE's destination it caches) follow its reply.
            if self.tracking.has_pending() {
                self.tracking_flush_pending(&mut c);
            }
            self.record_reply_errors(&mut c);
            if served {
                let had_errors = self.stats.total_error_replies != errors_before;
                self.update_stats_on_unblock(&mut c, &st, 0, reply_us, had_errors);
                self.finish_unblock(&mut c);
            } else {
                // Not servable after all: back in line where it was.
                self.reblock(&c, st);
            }
            self.flush_propagation();
            let has_output = c.out.has_pending();
            self.clients.insert(id, c);
            if has_output {
                self.mark_pending_write(id);
            }
        }
    }

    /// Answers the XREADGROUP clients blocked on a stream key that was deleted or replaced by
    /// another type (Redis' `unblockDeletedStreamReadgroupClients`).
    fn unblock_deleted_stream_readgroup_clients(&mut self, db: usize, key: &[u8]) {
        if self.blocking.by_type[BlockType::Stream.index()] == 0 {
            return;
        }
        let Some(queue) = self.blocking.waiters.get(&(db, key.to_vec())) else {
            return;
        };
        let waiting: Vec<ClientId> = queue.iter().copied().collect();
        for id in waiting {
            let is_group_reader = matches!(
                self.blocking.states.get(&id),
                Some(BlockState {
                    data: BlockData::Stream { group: Some(_), .. },
                    ..
                })
            );
            if !is_group_reader {
                continue;
            }
            let Some(mut c) = self.clients.remove(&id) else {
                continue;
            };
            let st = self.remove_block_state(id).expect("blocked client state");
            let errors_before = self.stats.total_error_replies;
            c.out.error("-UNBLOCKED the stream key no longer exists");
            self.record_reply_errors(&mut c);
            let had_errors = self.stats.total_error_replies != errors_before;
            self.update_stats_on_unblock(&mut c, &st, 0, 0, had_errors);
            self.finish_unblock(&mut c);
            self.clients.insert(id, c);
            self.mark_pending_write(id);
        }
    }

    /// Puts a client back in its waiting state (a serve function declined it).
    fn reblock(&mut self, c: &Client, st: BlockState) {
        for k in &st.keys {
            self.blocking
                .waiters
                .entry((st.db, k.clone()))
                .or_default()
                .push_front(c.id);
        }
        if st.timeout_ms != 0 {
            self.blocking.timeouts.insert((st.timeout_ms, c.id));
        }
        self.blocking.by_type[st.btype.index()] += 1;
        self.blocking.states.insert(c.id, st);
    }

    /// The statistics Redis 7.0 adds when a blocked command completes: its time, a failed
    /// call if it replied an error, its latency, the slow log.
    /// `blocked_us` is background time a module measured for the command.
    pub(crate) fn update_stats_on_unblock(
        &mut self,
        c: &mut Client,
        st: &BlockState,
        blocked_us: u64,
        reply_us: u64,
        had_errors: bool,
    ) {
        let Some(id) = st.cmd else {
            return;
        };
        let total = st.call_us + blocked_us + reply_us;
        {
            let cmd = &mut self.commands.cmds[id];
            cmd.usec += total;
            if had_errors {
                cmd.failed_calls += 1;
            }
        }
        self.record_command_latency(id, total);
        let flags = self.commands.cmds[id].flags;
        if flags & crate::commands::spec::flags::SKIP_SLOWLOG == 0 {
            let saved = std::mem::replace(&mut c.argv, st.argv.clone());
            let saved_cmd = c.last_cmd;
            c.last_cmd = Some(id);
            self.slowlog_push_if_needed(c, total);
            c.argv = saved;
            c.last_cmd = saved_cmd;
        }
        self.latency_add_sample_if_needed("command-unblocking", reply_us / 1000);
    }

    /// Answers blocked clients whose timeout passed with a null array (Redis'
    /// `handleBlockedClientsTimeout`).
    pub fn handle_blocked_clients_timeout(&mut self) {
        if self.blocking.timeouts.is_empty() {
            return;
        }
        let now = crate::util::mstime();
        while let Some(&(t, id)) = self.blocking.timeouts.iter().next() {
            if t >= now {
                break;
            }
            self.blocking.timeouts.remove(&(t, id));
            self.unblock_client_with(id, Unblock::Timeout);
        }
    }

    /// CLIENT UNBLOCK: answers a client blocked on keys as if it timed out, or with an
    /// error. Returns false when the client isn't blocked on keys.
    pub fn client_unblock(&mut self, id: ClientId, error: bool) -> bool {
        let Some(st) = self.blocking.states.get(&id) else {
            return false;
        };
        // A module wait can be ended only if the module handles timeouts (7.0).
        if let Some(bc) = crate::module::block::handle_of(st) {
            if !crate::module::block::may_timeout(bc) {
                return false;
            }
        }
        self.unblock_client_with(
            id,
            if error {
                Unblock::ByCommandError
            } else {
                Unblock::ByCommandTimeout
            },
        );
        true
    }

    /// Ends a client's wait with an error reply (cluster mode: its key's slot moved away, or
    /// the cluster went down), as Redis' clusterRedirectBlockedClientIfNeeded does.
    pub fn unblock_client_with_error(&mut self, id: ClientId, msg: &str) {
        let Some(mut c) = self.clients.remove(&id) else {
            return;
        };
        let Some(st) = self.remove_block_state(id) else {
            self.clients.insert(id, c);
            return;
        };
        c.out.error(msg);
        self.record_reply_errors(&mut c);
        if let Some(bc) = crate::module::block::handle_of(&st) {
            crate::module::block::client_unblocked(self, Some(&mut c), bc);
            self.flush_propagation();
        }
        self.finish_unblock(&mut c);
        self.clients.insert(id, c);
        self.mark_pending_write(id);
    }

    fn unblock_client_with(&mut self, id: ClientId, how: Unblock) {
        let Some(mut c) = self.clients.remove(&id) else {
            self.remove_block_state(id);
            return;
        };
        let Some(st) = self.remove_block_state(id) else {
            self.clients.insert(id, c);
            return;
        };
        let module_bc = crate::module::block::handle_of(&st);
        if how == Unblock::ByCommandError {
            c.out
                .error("-UNBLOCKED client unblocked via CLIENT UNBLOCK");
        } else if let Some(bc) = module_bc {
            let cctx = self.enter_client_context(&c);
            crate::module::block::timed_out(self, &mut c, bc, &st.argv, Some(&st));
            self.leave_client_context(&mut c, cctx);
        } else {
            c.out.null_array();
        }
        self.record_reply_errors(&mut c);
        if how != Unblock::Timeout {
            // 7.0 completes the statistics of a command ended by CLIENT UNBLOCK, counting it
            // as failed whichever way it was unblocked.
            self.update_stats_on_unblock(&mut c, &st, 0, 0, true);
        }
        if let Some(bc) = module_bc {
            crate::module::block::client_unblocked(self, Some(&mut c), bc);
            self.flush_propagation();
        }
        self.finish_unblock(&mut c);
        self.clients.insert(id, c);
        self.mark_pending_write(id);
    }

    /// Runs the pending input of clients unblocked since the last time (before-sleep).
    pub fn process_unblocked_clients(&mut self, registry: &mio::Registry) {
        while !self.blocking.unblocked.is_empty() {
            let ids = std::mem::take(&mut self.blocking.unblocked);
            for id in ids {
                let Some(mut c) = self.clients.remove(&id) else {
                    continue;
                };
                if !c.has(flags::BLOCKED) {
                    self.process_input(&mut c);
                }
                self.put_back_client(registry, c, false);
            }
        }
    }

    /// Blocked clients by type, for INFO.
    pub fn blocked_on_keys_count(&self) -> usize {
        self.blocking.by_type.iter().sum()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unblock {
    /// The timeout passed.
    Timeout,
    /// CLIENT UNBLOCK id [TIMEOUT].
    ByCommandTimeout,
    /// CLIENT UNBLOCK id ERROR.
    ByCommandError,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client_with(arg: &str) -> Client {
        let mut c = Client::fake(1, 0);
        c.argv = vec![b"blpop".to_vec(), arg.as_bytes().to_vec()];
        c
    }

    fn err(c: &mut Client) -> String {
        String::from_utf8_lossy(&c.out.take_all()).into_owned()
    }

    #[test]
    fn timeouts_are_seconds_rounded_up_to_ms() {
        let mut c = client_with("0");
        assert_eq!(parse_timeout(&mut c, 1, 1000), Some(0));
        let mut c = client_with("0.0001");
        assert_eq!(parse_timeout(&mut c, 1, 1000), Some(1001));
        let mut c = client_with("1.5");
        assert_eq!(parse_timeout(&mut c, 1, 1000), Some(2500));
        let mut c = client_with("-1");
        assert_eq!(parse_timeout(&mut c, 1, 1000), None);
        assert!(err(&mut c).contains("timeout is negative"));
        let mut c = client_with("inf");
        assert_eq!(parse_timeout(&mut c, 1, 1000), None);
        assert!(err(&mut c).contains("timeout is negative"));
        let mut c = client_with("abc");
        assert_eq!(parse_timeout(&mut c, 1, 1000), None);
        assert!(err(&mut c).contains("timeout is not a float or out of range"));
    }

    #[test]
    fn only_lists_serve_list_waiters() {
        let l = Value::List(Box::new(crate::types::ListValue::new(-2, 0)));
        assert_eq!(block_type_of(&l), Some(BlockType::List));
        let s = Value::Str(crate::types::RStr::from_bytes(b"x".to_vec()));
        assert_eq!(block_type_of(&s), None);
    }
}
