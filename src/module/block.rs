//! Blocking clients from modules (BlockClient, BlockClientOnKeys, UnblockClient, AbortBlock,
//! the blocked-client callbacks and their context queries, background time measurement).
//!
//! A module-blocked client is an ordinary blocked client of the generic framework in
//! src/blocking.rs (block type `Module`, with no keys for BlockClient): timeouts, CLIENT
//! UNBLOCK, disconnection, INFO's `blocked_clients` and the per-key queues come from there.
//! This file owns the handle given to the module, which outlives the client's wait: the
//! module keeps it until it calls UnblockClient (from any thread), and only then is it freed.
//!
//! UnblockClient only queues the handle (under a mutex) and wakes the event loop; the main
//! thread finishes the unblocking in before-sleep ([`handle_unblocked`]): reply callback,
//! private data freed, replies a thread-safe context accumulated glued to the client, the
//! command's statistics, and the client resumes reading.

use std::ffi::{c_int, c_longlong, c_void};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};
use std::sync::Mutex;

use super::command::CmdFunc;
use super::ctx::{flags, Ctx, REDISMODULE_ERR, REDISMODULE_OK};
use super::string::RmString;
use super::Module;
use crate::blocking::{BlockData, BlockState, BlockType};
use crate::client::{flags as cflags, Client, ClientId};
use crate::server::Server;

pub type FreePrivdataFn = unsafe extern "C" fn(*mut Ctx, *mut c_void);
pub type DisconnectFn = unsafe extern "C" fn(*mut Ctx, *mut BlockedClient);

/// The callbacks of a handle. Read by the main thread, but AbortBlock and
/// SetDisconnectCallback may change them from a module thread, hence the mutex.
#[derive(Clone, Copy, Default)]
struct Callbacks {
    reply: Option<CmdFunc>,
    timeout: Option<CmdFunc>,
    disconnect: Option<DisconnectFn>,
    free_privdata: Option<FreePrivdataFn>,
}

/// `RedisModuleBlockedClient`, opaque to modules.
///
/// Shared between the main thread and module threads; each field says who touches it.
pub struct BlockedClient {
    /// Set at creation, read-only afterwards.
    pub module: *mut Module,
    blocked_on_keys: bool,
    /// The blocked client's id, 0 once the client is gone (disconnected, timed out, or never
    /// blocked because blocking was refused). Written by the main thread only.
    client: AtomicU64,
    callbacks: Mutex<Callbacks>,
    /// Written by UnblockClient (any thread) before the handle is queued; read by the main
    /// thread in callbacks and after the handle left the queue.
    privdata: AtomicPtr<c_void>,
    /// Set once UnblockClient queued the handle (any thread).
    unblocked: AtomicBool,
    /// Monotonic start of a background measurement (0 = none), and the total so far:
    /// written by whichever thread measures, read by the main thread.
    background_timer: AtomicU64,
    background_duration: AtomicU64,
    /// Where replies to a thread-safe context of this handle go. Owned by the module side
    /// until UnblockClient queues the handle, by the main thread afterwards (the queue's
    /// mutex orders the two); freed with the handle.
    pub reply_client: *mut Client,
}

/// A handle pointer that may cross threads (through the unblocked queue). Only this file
/// makes them, for live handles; a handle stays live while its client's blocking state
/// refers to it and until the main thread finishes it after UnblockClient.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct BcPtr(*mut BlockedClient);

impl std::fmt::Debug for BcPtr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BlockedClient({:p})", self.0)
    }
}

// SAFETY: the handle's shared fields are atomics or behind a mutex, and its reply client is
// handed over through the queue's mutex (see `BlockedClient`).
unsafe impl Send for BcPtr {}

/// Handles queued by UnblockClient, waiting for the main thread.
static UNBLOCKED: Mutex<Vec<BcPtr>> = Mutex::new(Vec::new());

/// Live handles per module (Redis' `module->blocked_clients`), keyed by the module's
/// address. Main thread only in practice (handles are created and freed there).
static PER_MODULE: Mutex<Vec<(usize, usize)>> = Mutex::new(Vec::new());

fn count_module(m: *mut Module, delta: isize) {
    let mut v = PER_MODULE.lock().unwrap_or_else(|e| e.into_inner());
    let key = m as usize;
    match v.iter_mut().position(|(k, _)| *k == key) {
        Some(i) => {
            v[i].1 = (v[i].1 as isize + delta).max(0) as usize;
            if v[i].1 == 0 {
                v.swap_remove(i);
            }
        }
        None if delta > 0 => v.push((key, delta as usize)),
        None => {}
    }
}

/// How many handles of this module exist (MODULE UNLOAD refuses while any does).
pub fn blocked_clients_of(m: *const Module) -> usize {
    let v = PER_MODULE.lock().unwrap_or_else(|e| e.into_inner());
    v.iter()
        .find(|(k, _)| *k == m as usize)
        .map(|(_, n)| *n)
        .unwrap_or(0)
}

/// Whether handles wait in the unblocked queue (the event loop must not sleep).
pub fn has_pending() -> bool {
    !UNBLOCKED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .is_empty()
}

impl BlockedClient {
    fn callbacks(&self) -> Callbacks {
        *self.callbacks.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn update_callbacks(&self, f: impl FnOnce(&mut Callbacks)) {
        f(&mut self.callbacks.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// The blocked client's id, if it is still waiting.
    pub fn client_id(&self) -> Option<ClientId> {
        match self.client.load(Ordering::Acquire) {
            0 => None,
            id => Some(id),
        }
    }

    /// Whether CLIENT UNBLOCK may end this wait (only with a timeout callback, as 7.0).
    pub fn may_timeout(&self) -> bool {
        self.callbacks().timeout.is_some()
    }
}

/// Module argv strings for a callback, released by [`release_argv`].
fn make_argv(argv: &[Vec<u8>]) -> Vec<*mut RmString> {
    argv.iter().map(|a| RmString::new_raw(a)).collect()
}

fn release_argv(v: Vec<*mut RmString>) {
    for s in v {
        // SAFETY: created by `make_argv` with one reference; a module that kept one took
        // its own reference.
        unsafe { RmString::release(s) };
    }
}

/// Runs one of the handle's command-like callbacks for `c` with the given context flags.
/// Returns the callback's result.
fn run_callback(
    srv: &mut Server,
    bc: *mut BlockedClient,
    cb: CmdFunc,
    c: *mut Client,
    argv: &[Vec<u8>],
    ctx_flags: u32,
    ready_key: Option<&[u8]>,
) -> c_int {
    // SAFETY: handles live until the main thread frees them, which is not now.
    let b = unsafe { &*bc };
    let mut ctx = Ctx::new(srv, b.module, ctx_flags);
    ctx.client = c;
    ctx.blocked_client = bc;
    ctx.blocked_privdata = b.privdata.load(Ordering::Acquire);
    let key = ready_key.map(RmString::new_raw);
    if let Some(k) = key {
        ctx.blocked_ready_key = k;
    }
    let mut av = make_argv(argv);
    // SAFETY: a live context, `av.len()` valid strings; the module registered `cb`.
    let rc = unsafe { cb(&mut ctx, av.as_mut_ptr(), av.len() as c_int) };
    ctx.finish();
    drop(ctx);
    release_argv(av);
    if let Some(k) = key {
        // SAFETY: created above with one reference.
        unsafe { RmString::release(k) };
    }
    rc
}

/// Creates a handle and blocks the context's client (Redis' `moduleBlockClient`).
///
/// # Safety
/// `ctx` is a live context of a command (or callback) running on the main thread.
unsafe fn block(
    ctx: *mut Ctx,
    callbacks: Callbacks,
    timeout_ms: c_longlong,
    keys: Option<Vec<Vec<u8>>>,
    privdata: *mut c_void,
) -> *mut BlockedClient {
    // SAFETY: per the contract above.
    let ctx = unsafe { &mut *ctx };
    // SAFETY: a live context.
    let srv = unsafe { ctx.server() };
    // SAFETY: a live context.
    let Some(c) = (unsafe { ctx.client() }) else {
        return std::ptr::null_mut();
    };
    let now = crate::util::mstime();
    // As in Redis, only 0 means "no timeout": a negative one is already in the past, so the
    // timeout callback answers at the next timeout check.
    let timeout = if timeout_ms != 0 {
        now.saturating_add(timeout_ms)
    } else {
        0
    };
    // Inside a transaction the handle is created already aborted (no client) and the
    // client gets an error, as in Redis. A client that may not block (the fake client of
    // RedisModule_Call, a timer's client) gets the same aborted handle, without an error.
    let in_multi = c.has(cflags::MULTI);
    let refused = in_multi || c.has(cflags::DENY_BLOCKING) || ctx.module.is_null();
    let mut reply_client = Box::new(Client::fake(c.id, now));
    reply_client.flags |= cflags::DENY_BLOCKING;
    reply_client.out.resp = c.out.resp;
    reply_client.db = c.db;
    let bc = Box::into_raw(Box::new(BlockedClient {
        module: ctx.module,
        blocked_on_keys: keys.is_some(),
        client: AtomicU64::new(if refused { 0 } else { c.id }),
        callbacks: Mutex::new(callbacks),
        privdata: AtomicPtr::new(privdata),
        unblocked: AtomicBool::new(false),
        background_timer: AtomicU64::new(0),
        background_duration: AtomicU64::new(0),
        reply_client: Box::into_raw(reply_client),
    }));
    count_module(ctx.module, 1);
    if refused {
        if in_multi {
            c.out
                .error("Blocking module command called from transaction");
        }
    } else {
        srv.block_for_keys(
            c,
            BlockType::Module,
            &keys.unwrap_or_default(),
            timeout,
            BlockData::Module { bc: BcPtr(bc) },
        );
    }
    bc
}

unsafe extern "C" fn block_client(
    ctx: *mut Ctx,
    reply: Option<CmdFunc>,
    timeout: Option<CmdFunc>,
    free_privdata: Option<FreePrivdataFn>,
    timeout_ms: c_longlong,
) -> *mut BlockedClient {
    let cbs = Callbacks {
        reply,
        timeout,
        disconnect: None,
        free_privdata,
    };
    // SAFETY: the module passes its live context.
    unsafe { block(ctx, cbs, timeout_ms, None, std::ptr::null_mut()) }
}

#[allow(clippy::too_many_arguments)]
unsafe extern "C" fn block_client_on_keys(
    ctx: *mut Ctx,
    reply: Option<CmdFunc>,
    timeout: Option<CmdFunc>,
    free_privdata: Option<FreePrivdataFn>,
    timeout_ms: c_longlong,
    keys: *mut *mut RmString,
    numkeys: c_int,
    privdata: *mut c_void,
) -> *mut BlockedClient {
    let cbs = Callbacks {
        reply,
        timeout,
        disconnect: None,
        free_privdata,
    };
    let mut v = Vec::with_capacity(numkeys.max(0) as usize);
    for i in 0..numkeys.max(0) as usize {
        // SAFETY: the module passes `numkeys` valid strings.
        v.push(unsafe { (**keys.add(i)).bytes().to_vec() });
    }
    // SAFETY: the module passes its live context.
    unsafe { block(ctx, cbs, timeout_ms, Some(v), privdata) }
}

unsafe extern "C" fn signal_key_as_ready(ctx: *mut Ctx, key: *mut RmString) {
    // SAFETY: a live context and a valid string.
    let (ctx, key) = unsafe { (&mut *ctx, (*key).bytes().to_vec()) };
    // SAFETY: a live context.
    let db = unsafe { ctx.client() }.map(|c| c.db).unwrap_or(0);
    // SAFETY: a live context.
    let srv = unsafe { ctx.server() };
    srv.signal_key_as_ready(db, &key, BlockType::Module);
}

/// Queues a handle for the main thread (Redis' `moduleUnblockClientByHandle`).
fn queue_unblocked(bc: *mut BlockedClient, privdata: *mut c_void) {
    // SAFETY: the handle is live until the main thread takes it from the queue.
    let b = unsafe { &*bc };
    let mut q = UNBLOCKED.lock().unwrap_or_else(|e| e.into_inner());
    if !b.blocked_on_keys {
        b.privdata.store(privdata, Ordering::Release);
    }
    b.unblocked.store(true, Ordering::Release);
    let was_empty = q.is_empty();
    q.push(BcPtr(bc));
    drop(q);
    if was_empty {
        super::threads::wake_event_loop();
    }
}

unsafe extern "C" fn unblock_client(bc: *mut BlockedClient, privdata: *mut c_void) -> c_int {
    // SAFETY: the module passes a handle it has not unblocked yet (or a blocked-on-keys one).
    let b = unsafe { &*bc };
    if b.blocked_on_keys {
        // Ending a key wait early counts as its timeout: the timeout callback answers.
        if b.callbacks().timeout.is_none() {
            return REDISMODULE_ERR;
        }
        if b.unblocked.load(Ordering::Acquire) {
            return REDISMODULE_OK;
        }
        if let Some(id) = b.client_id() {
            // A key wait is ended this way only from module code running with the server
            // (main thread or GIL), where the current server is set.
            if let Some(srv) = super::command::current_server() {
                timeout_by_handle(srv, bc, id);
            }
        }
    }
    queue_unblocked(bc, privdata);
    REDISMODULE_OK
}

/// Runs the timeout callback of a client blocked on keys whose module ends its wait.
fn timeout_by_handle(srv: &mut Server, bc: *mut BlockedClient, id: ClientId) {
    let Some(argv) = srv.blocking.states.get(&id).map(|s| s.argv.clone()) else {
        return;
    };
    let Some(mut c) = srv.clients.remove(&id) else {
        return;
    };
    let cctx = srv.enter_client_context(&c);
    timed_out(srv, &mut c, BcPtr(bc), &argv, None);
    srv.leave_client_context(&mut c, cctx);
    srv.record_reply_errors(&mut c);
    let pending = c.out.has_pending();
    srv.clients.insert(id, c);
    if pending {
        srv.mark_pending_write(id);
    }
}

unsafe extern "C" fn abort_block(bc: *mut BlockedClient) -> c_int {
    // SAFETY: a live handle.
    let b = unsafe { &*bc };
    b.update_callbacks(|c| {
        c.reply = None;
        c.disconnect = None;
    });
    // SAFETY: as above.
    unsafe { unblock_client(bc, std::ptr::null_mut()) }
}

unsafe extern "C" fn set_disconnect_callback(bc: *mut BlockedClient, cb: Option<DisconnectFn>) {
    // SAFETY: a live handle.
    unsafe { &*bc }.update_callbacks(|c| c.disconnect = cb);
}

unsafe extern "C" fn is_blocked_reply_request(ctx: *mut Ctx) -> c_int {
    // SAFETY: a live context.
    (unsafe { (*ctx).flags } & flags::BLOCKED_REPLY != 0) as c_int
}

unsafe extern "C" fn is_blocked_timeout_request(ctx: *mut Ctx) -> c_int {
    // SAFETY: a live context.
    (unsafe { (*ctx).flags } & flags::BLOCKED_TIMEOUT != 0) as c_int
}

unsafe extern "C" fn blocked_client_disconnected(ctx: *mut Ctx) -> c_int {
    // SAFETY: a live context.
    (unsafe { (*ctx).flags } & flags::BLOCKED_DISCONNECTED != 0) as c_int
}

unsafe extern "C" fn get_blocked_client_private_data(ctx: *mut Ctx) -> *mut c_void {
    // SAFETY: a live context.
    unsafe { (*ctx).blocked_privdata }
}

unsafe extern "C" fn get_blocked_client_ready_key(ctx: *mut Ctx) -> *mut RmString {
    // SAFETY: a live context.
    unsafe { (*ctx).blocked_ready_key }
}

unsafe extern "C" fn get_blocked_client_handle(ctx: *mut Ctx) -> *mut BlockedClient {
    // SAFETY: a live context.
    unsafe { (*ctx).blocked_client }
}

unsafe extern "C" fn measure_time_start(bc: *mut BlockedClient) -> c_int {
    // SAFETY: a live handle.
    let b = unsafe { &*bc };
    // Never 0, which means "not measuring".
    b.background_timer
        .store(crate::util::monotonic_us().max(1), Ordering::Release);
    REDISMODULE_OK
}

unsafe extern "C" fn measure_time_end(bc: *mut BlockedClient) -> c_int {
    // SAFETY: a live handle.
    let b = unsafe { &*bc };
    let start = b.background_timer.swap(0, Ordering::AcqRel);
    if start == 0 {
        return REDISMODULE_ERR;
    }
    let elapsed = crate::util::monotonic_us().saturating_sub(start);
    b.background_duration.fetch_add(elapsed, Ordering::AcqRel);
    REDISMODULE_OK
}

/// The handle of a module-blocked client's state.
pub fn handle_of(st: &BlockState) -> Option<BcPtr> {
    match st.data {
        BlockData::Module { bc } => Some(bc),
        _ => None,
    }
}

/// Whether CLIENT UNBLOCK may end this module wait.
pub fn may_timeout(bc: BcPtr) -> bool {
    // SAFETY: a BcPtr points at a live handle.
    unsafe { &*bc.0 }.may_timeout()
}

/// The client blocked on a ready key gets the module's reply callback; true when it served
/// the client (Redis' `moduleTryServeClientBlockedOnKey`). The client stays blocked until
/// the queued handle is handled in before-sleep.
pub fn try_serve_on_key(srv: &mut Server, c: &mut Client, st: &BlockState, key: &[u8]) -> bool {
    let Some(BcPtr(bc)) = handle_of(st) else {
        return false;
    };
    // SAFETY: a BcPtr points at a live handle.
    let b = unsafe { &*bc };
    if b.unblocked.load(Ordering::Acquire) {
        return false;
    }
    let Some(cb) = b.callbacks().reply else {
        return false;
    };
    run_callback(srv, bc, cb, c, &st.argv, flags::BLOCKED_REPLY, Some(key)) == REDISMODULE_OK
}

/// Queues a served key waiter's handle (the main thread finishes it in before-sleep).
pub fn served_on_key(bc: BcPtr) {
    queue_unblocked(bc.0, std::ptr::null_mut());
}

/// The background time measured so far.
pub fn background_us(bc: BcPtr) -> u64 {
    // SAFETY: a BcPtr points at a live handle.
    unsafe { &*bc.0 }
        .background_duration
        .load(Ordering::Acquire)
}

/// The timeout (or CLIENT UNBLOCK ... TIMEOUT) of a module-blocked client, whose state was
/// already removed (`st` given) or is still registered (`st` None): the timeout callback
/// answers, and the command's statistics are completed for a wait that was not on keys
/// (Redis' `moduleBlockedClientTimedOut`).
pub fn timed_out(
    srv: &mut Server,
    c: &mut Client,
    bc: BcPtr,
    argv: &[Vec<u8>],
    st: Option<&BlockState>,
) {
    // SAFETY: a BcPtr points at a live handle.
    let b = unsafe { &*bc.0 };
    if b.unblocked.load(Ordering::Acquire) {
        return;
    }
    let errors_before = srv.stats.total_error_replies + c.out.errors.len() as u64;
    if let Some(cb) = b.callbacks().timeout {
        run_callback(srv, bc.0, cb, c, argv, flags::BLOCKED_TIMEOUT, None);
    }
    if !b.blocked_on_keys {
        if let Some(st) = st {
            let had_errors =
                srv.stats.total_error_replies + c.out.errors.len() as u64 != errors_before;
            srv.update_stats_on_unblock(c, st, background_us(bc), 0, had_errors);
        }
    }
    // A timeout is not a disconnection: the disconnect callback won't run for this wait.
    b.update_callbacks(|cbs| cbs.disconnect = None);
}

/// The client's wait ended on the server side (timeout, CLIENT UNBLOCK, disconnection):
/// the disconnect callback runs if still set, a key wait's handle is queued to be freed
/// (the module doesn't unblock those itself), and the handle forgets its client (Redis'
/// `unblockClientFromModule`).
pub fn client_unblocked(srv: &mut Server, c: Option<&mut Client>, bc: BcPtr) {
    // SAFETY: a BcPtr points at a live handle.
    let b = unsafe { &*bc.0 };
    let cbs = b.callbacks();
    if let Some(dcb) = cbs.disconnect {
        let mut ctx = Ctx::new(srv, b.module, flags::NONE);
        ctx.blocked_privdata = b.privdata.load(Ordering::Acquire);
        if let Some(c) = c {
            ctx.client = c;
        }
        // SAFETY: a live context and handle; the module registered the callback.
        unsafe { dcb(&mut ctx, bc.0) };
        ctx.finish();
    }
    if b.blocked_on_keys && !b.unblocked.load(Ordering::Acquire) {
        queue_unblocked(bc.0, std::ptr::null_mut());
    }
    b.client.store(0, Ordering::Release);
}

/// Finishes the handles UnblockClient queued (Redis' `moduleHandleBlockedClients`): runs in
/// before-sleep, on the main thread with the GIL.
pub fn handle_unblocked(srv: &mut Server) {
    loop {
        let bc = {
            let mut q = UNBLOCKED.lock().unwrap_or_else(|e| e.into_inner());
            if q.is_empty() {
                return;
            }
            q.remove(0).0
        };
        // SAFETY: queued handles are live; from here the main thread owns it alone (the
        // module gave it up with UnblockClient).
        let b = unsafe { &*bc };
        let cbs = b.callbacks();
        let id = b.client_id();
        let mut client = id.and_then(|id| srv.clients.remove(&id).map(|c| (id, c)));
        let st = match &client {
            Some((id, _)) => srv.take_module_block_state(*id),
            None => None,
        };
        let errors_before = srv.stats.total_error_replies;
        let mut reply_us = 0;
        if let (Some((_, c)), Some(st)) = (client.as_mut(), st.as_ref()) {
            if !b.blocked_on_keys {
                if let Some(cb) = cbs.reply {
                    let cctx = srv.enter_client_context(c);
                    srv.prop.depth += 1;
                    let start = crate::util::monotonic_us();
                    run_callback(srv, bc, cb, &mut **c, &st.argv, flags::BLOCKED_REPLY, None);
                    reply_us = crate::util::monotonic_us() - start;
                    srv.prop.depth -= 1;
                    srv.leave_client_context(c, cctx);
                }
            }
        }
        let privdata = b.privdata.load(Ordering::Acquire);
        if !privdata.is_null() {
            if let Some(free) = cbs.free_privdata {
                let ctx_flags = if client.is_none() {
                    flags::BLOCKED_DISCONNECTED
                } else {
                    flags::NONE
                };
                let mut ctx = Ctx::new(srv, b.module, ctx_flags);
                ctx.blocked_privdata = privdata;
                if let Some((_, c)) = client.as_mut() {
                    ctx.client = &mut **c;
                }
                // SAFETY: the module registered this callback for this data.
                unsafe { free(&mut ctx, privdata) };
                ctx.finish();
            }
        }
        // SAFETY: the reply client belongs to the main thread now, and is freed once, here.
        let mut rc = unsafe { Box::from_raw(b.reply_client) };
        if let Some((id, mut c)) = client {
            // Replies a thread-safe context produced, with their errors counted now.
            let bytes = rc.out.take_all();
            if !bytes.is_empty() {
                c.out.raw(&bytes);
            }
            c.out.errors.append(&mut rc.out.errors);
            srv.record_reply_errors(&mut c);
            if let Some(st) = st.as_ref() {
                if !b.blocked_on_keys {
                    let had_errors = srv.stats.total_error_replies != errors_before;
                    srv.update_stats_on_unblock(
                        &mut c,
                        st,
                        b.background_duration.load(Ordering::Acquire),
                        reply_us,
                        had_errors,
                    );
                }
            }
            b.update_callbacks(|cbs| cbs.disconnect = None);
            srv.finish_module_unblock(&mut c);
            srv.flush_propagation();
            let pending = c.out.has_pending();
            if pending {
                srv.check_output_buffer_limits(&mut c);
            }
            srv.clients.insert(id, c);
            if pending {
                srv.mark_pending_write(id);
            }
        }
        drop(rc);
        count_module(b.module, -1);
        // SAFETY: created by `block` with Box::into_raw; nothing refers to it any more.
        drop(unsafe { Box::from_raw(bc) });
    }
}

pub fn entries() -> Vec<(&'static str, usize)> {
    type Block = unsafe extern "C" fn(
        *mut Ctx,
        Option<CmdFunc>,
        Option<CmdFunc>,
        Option<FreePrivdataFn>,
        c_longlong,
    ) -> *mut BlockedClient;
    type BlockOnKeys = unsafe extern "C" fn(
        *mut Ctx,
        Option<CmdFunc>,
        Option<CmdFunc>,
        Option<FreePrivdataFn>,
        c_longlong,
        *mut *mut RmString,
        c_int,
        *mut c_void,
    ) -> *mut BlockedClient;
    super::api_entries![
        "BlockClient" => block_client as Block,
        "BlockClientOnKeys" => block_client_on_keys as BlockOnKeys,
        "SignalKeyAsReady" => signal_key_as_ready as unsafe extern "C" fn(*mut Ctx, *mut RmString),
        "UnblockClient" => unblock_client as unsafe extern "C" fn(*mut BlockedClient, *mut c_void) -> c_int,
        "AbortBlock" => abort_block as unsafe extern "C" fn(*mut BlockedClient) -> c_int,
        "SetDisconnectCallback" => set_disconnect_callback as unsafe extern "C" fn(*mut BlockedClient, Option<DisconnectFn>),
        "IsBlockedReplyRequest" => is_blocked_reply_request as unsafe extern "C" fn(*mut Ctx) -> c_int,
        "IsBlockedTimeoutRequest" => is_blocked_timeout_request as unsafe extern "C" fn(*mut Ctx) -> c_int,
        "BlockedClientDisconnected" => blocked_client_disconnected as unsafe extern "C" fn(*mut Ctx) -> c_int,
        "GetBlockedClientPrivateData" => get_blocked_client_private_data as unsafe extern "C" fn(*mut Ctx) -> *mut c_void,
        "GetBlockedClientReadyKey" => get_blocked_client_ready_key as unsafe extern "C" fn(*mut Ctx) -> *mut RmString,
        "GetBlockedClientHandle" => get_blocked_client_handle as unsafe extern "C" fn(*mut Ctx) -> *mut BlockedClient,
        "BlockedClientMeasureTimeStart" => measure_time_start as unsafe extern "C" fn(*mut BlockedClient) -> c_int,
        "BlockedClientMeasureTimeEnd" => measure_time_end as unsafe extern "C" fn(*mut BlockedClient) -> c_int,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handle() -> *mut BlockedClient {
        Box::into_raw(Box::new(BlockedClient {
            module: std::ptr::null_mut(),
            blocked_on_keys: false,
            client: AtomicU64::new(0),
            callbacks: Mutex::new(Callbacks::default()),
            privdata: AtomicPtr::new(std::ptr::null_mut()),
            unblocked: AtomicBool::new(false),
            background_timer: AtomicU64::new(0),
            background_duration: AtomicU64::new(0),
            reply_client: Box::into_raw(Box::new(Client::fake(0, 0))),
        }))
    }

    fn free(bc: *mut BlockedClient) {
        // SAFETY: created by `handle()` with Box::into_raw, freed once here.
        unsafe {
            drop(Box::from_raw((*bc).reply_client));
            drop(Box::from_raw(bc));
        }
    }

    #[test]
    fn background_time_adds_up_and_end_needs_a_start() {
        let bc = handle();
        // SAFETY: the handle is used by this test only; measuring takes a live handle.
        unsafe {
            assert_eq!(measure_time_end(bc), REDISMODULE_ERR);
            for _ in 0..2 {
                assert_eq!(measure_time_start(bc), REDISMODULE_OK);
                std::thread::sleep(std::time::Duration::from_millis(5));
                assert_eq!(measure_time_end(bc), REDISMODULE_OK);
            }
            assert_eq!(measure_time_end(bc), REDISMODULE_ERR);
        }
        assert!(background_us(BcPtr(bc)) >= 10_000);
        free(bc);
    }

    #[test]
    fn client_unblock_needs_a_timeout_callback() {
        unsafe extern "C" fn cb(_: *mut Ctx, _: *mut *mut RmString, _: c_int) -> c_int {
            REDISMODULE_OK
        }
        let bc = handle();
        assert!(!may_timeout(BcPtr(bc)));
        // SAFETY: the handle was created by `handle()` and is live until `free`.
        unsafe { &*bc }.update_callbacks(|c| c.timeout = Some(cb));
        assert!(may_timeout(BcPtr(bc)));
        free(bc);
    }

    #[test]
    fn per_module_counts() {
        let m = 0x1000 as *mut Module;
        count_module(m, 1);
        count_module(m, 1);
        assert_eq!(blocked_clients_of(m), 2);
        count_module(m, -1);
        count_module(m, -1);
        assert_eq!(blocked_clients_of(m), 0);
    }
}
