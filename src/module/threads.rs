//! Module threads: thread-safe contexts (GetThreadSafeContext, GetDetachedThreadSafeContext,
//! FreeThreadSafeContext), the global lock that lets a module thread use the API
//! (ThreadSafeContextLock/TryLock/Unlock), and the wake-up of the event loop from other
//! threads.
//!
//! The GIL: the server is single-threaded and everything in it assumes one thread. The main
//! thread holds the GIL whenever it runs, and releases it only around its wait for events
//! (`release_for_poll` / `acquire_after_poll`, called by the event loop), as Redis does in
//! before/after sleep. Before releasing it, the main thread publishes a pointer to the server;
//! a module thread that locks the GIL takes that pointer and may then call any API function
//! through its thread-safe context, while the main thread is either waiting in poll (not
//! touching the server) or blocked trying to take the GIL back. See docs/DESIGN.md
//! ("Modules: blocking and threads").

use std::cell::UnsafeCell;
use std::ffi::c_int;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::OnceLock;

use super::block::BlockedClient;
use super::ctx::{Ctx, REDISMODULE_ERR, REDISMODULE_OK};
use crate::client::{flags as cflags, Client};
use crate::server::Server;

/// A process-wide pthread mutex (lock and unlock happen in different API calls, possibly of
/// different contexts, which a guard-based mutex cannot express).
struct RawMutex(UnsafeCell<libc::pthread_mutex_t>);

// SAFETY: a pthread mutex is made to be shared between threads; we only ever pass its
// address to the pthread functions.
unsafe impl Sync for RawMutex {}

static GIL: RawMutex = RawMutex(UnsafeCell::new(libc::PTHREAD_MUTEX_INITIALIZER));

/// The server, published by the main thread each time it releases the GIL.
static SERVER: AtomicPtr<Server> = AtomicPtr::new(std::ptr::null_mut());

thread_local! {
    /// True on the server's main thread (which holds the GIL while it runs).
    static IS_MAIN: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Wakes the event loop from any thread (UnblockClient, EventLoopAddOneShot).
static WAKER: OnceLock<mio::Waker> = OnceLock::new();

fn gil_lock() {
    // SAFETY: a valid, initialised mutex.
    unsafe { libc::pthread_mutex_lock(GIL.0.get()) };
}

fn gil_try_lock() -> c_int {
    // SAFETY: as above.
    unsafe { libc::pthread_mutex_trylock(GIL.0.get()) }
}

fn gil_unlock() {
    // SAFETY: as above; callers unlock only a GIL their thread holds.
    unsafe { libc::pthread_mutex_unlock(GIL.0.get()) };
}

/// The main thread takes the GIL before anything can start a module thread (before modules
/// load), and keeps it except around its waits.
pub fn main_thread_init(srv: &mut Server) {
    IS_MAIN.with(|m| m.set(true));
    gil_lock();
    SERVER.store(srv, Ordering::Release);
}

/// The main thread is about to wait for events: module threads may now run server code.
/// The pointer is derived from the caller's exclusive borrow right before the release; the
/// main thread does not use the server again before `acquire_after_poll` returns.
pub fn release_for_poll(srv: &mut Server) {
    SERVER.store(srv, Ordering::Release);
    gil_unlock();
}

/// The main thread is back from its wait and takes the server back (waiting for a module
/// thread that holds the GIL to release it).
pub fn acquire_after_poll() {
    gil_lock();
}

/// Installs the event loop's waker (once, when the loop is created).
pub fn install_waker(w: mio::Waker) {
    let _ = WAKER.set(w);
}

/// Makes the event loop's wait return (best effort, as Redis' module pipe write).
pub fn wake_event_loop() {
    if let Some(w) = WAKER.get() {
        let _ = w.wake();
    }
}

/// The server pointer a new thread-safe context starts with: the current one when created
/// by module code the server is running, else the last published one (refreshed at lock).
fn server_for_new_ctx() -> *mut Server {
    match super::command::current_server() {
        Some(s) => s,
        None => SERVER.load(Ordering::Acquire),
    }
}

unsafe extern "C" fn get_thread_safe_context(bc: *mut BlockedClient) -> *mut Ctx {
    let srv = server_for_new_ctx();
    let ctx = if bc.is_null() {
        let mut c = Box::new(Client::fake(0, 0));
        c.flags |= cflags::DENY_BLOCKING;
        Ctx::thread_safe(srv, std::ptr::null_mut(), std::ptr::null_mut(), Some(c))
    } else {
        // SAFETY: a live handle; its reply client is the module side's until UnblockClient
        // (it carries the blocked client's id, database and protocol).
        let (module, rc) = unsafe { ((*bc).module, (*bc).reply_client) };
        let mut ctx = Ctx::thread_safe(srv, module, rc, None);
        ctx.blocked_client = bc;
        ctx
    };
    Box::into_raw(Box::new(ctx))
}

unsafe extern "C" fn get_detached_thread_safe_context(ctx: *mut Ctx) -> *mut Ctx {
    // SAFETY: a live context.
    let module = unsafe { (*ctx).module };
    let mut c = Box::new(Client::fake(0, 0));
    c.flags |= cflags::DENY_BLOCKING;
    let new = Ctx::thread_safe(server_for_new_ctx(), module, std::ptr::null_mut(), Some(c));
    Box::into_raw(Box::new(new))
}

unsafe extern "C" fn free_thread_safe_context(ctx: *mut Ctx) {
    if ctx.is_null() {
        return;
    }
    // SAFETY: created by one of the functions above with Box::into_raw, freed once.
    let mut ctx = unsafe { Box::from_raw(ctx) };
    ctx.finish();
}

/// After the GIL is taken by a module thread: the context reaches the server through the
/// pointer the main thread published, and the commands it runs are propagated together when
/// it unlocks (Redis bumps its module nesting level for the same reason).
fn after_lock(ctx: *mut Ctx) {
    let srv = SERVER.load(Ordering::Acquire);
    super::command::set_current_server(srv);
    if !ctx.is_null() {
        // SAFETY: a live context, used by this thread only.
        unsafe { (*ctx).srv = srv };
    }
    // SAFETY: the GIL is held: the main thread is not using the server.
    if let Some(s) = unsafe { srv.as_mut() } {
        s.prop.depth += 1;
    }
}

/// Before the GIL is released by a module thread: propagate what its calls changed.
fn before_unlock() {
    let srv = SERVER.load(Ordering::Acquire);
    // SAFETY: the GIL is still held.
    if let Some(s) = unsafe { srv.as_mut() } {
        s.prop.depth = s.prop.depth.saturating_sub(1);
        if s.prop.depth == 0 {
            s.flush_propagation();
        }
        // A yield this thread started is over.
        end_busy(s);
    }
    super::command::set_current_server(std::ptr::null_mut());
}

unsafe extern "C" fn thread_safe_context_lock(ctx: *mut Ctx) {
    gil_lock();
    after_lock(ctx);
}

unsafe extern "C" fn thread_safe_context_try_lock(ctx: *mut Ctx) -> c_int {
    let rc = gil_try_lock();
    if rc != 0 {
        super::set_errno(rc);
        return REDISMODULE_ERR;
    }
    after_lock(ctx);
    REDISMODULE_OK
}

unsafe extern "C" fn thread_safe_context_unlock(_ctx: *mut Ctx) {
    before_unlock();
    gil_unlock();
}

pub fn entries() -> Vec<(&'static str, usize)> {
    super::api_entries![
        "GetThreadSafeContext" => get_thread_safe_context as unsafe extern "C" fn(*mut BlockedClient) -> *mut Ctx,
        "GetDetachedThreadSafeContext" => get_detached_thread_safe_context as unsafe extern "C" fn(*mut Ctx) -> *mut Ctx,
        "FreeThreadSafeContext" => free_thread_safe_context as unsafe extern "C" fn(*mut Ctx),
        "ThreadSafeContextLock" => thread_safe_context_lock as unsafe extern "C" fn(*mut Ctx),
        "ThreadSafeContextTryLock" => thread_safe_context_try_lock as unsafe extern "C" fn(*mut Ctx) -> c_int,
        "ThreadSafeContextUnlock" => thread_safe_context_unlock as unsafe extern "C" fn(*mut Ctx),
    ]
}

// ---------------------------------------------------------------------------------------
// Yield: letting the server serve clients while a module command (or a module thread holding
// the GIL) runs for long.

/// No yield in progress / events are being processed / clients too (Redis'
/// BUSY_MODULE_YIELD_*).
const YIELD_EVENTS: u8 = 1;
const YIELD_CLIENTS: u8 = 2;
pub const REDISMODULE_YIELD_FLAG_CLIENTS: c_int = 1 << 1;

/// The yield state, touched only by whoever holds the GIL (the main thread, or the module
/// thread that yields); atomics make the handover between the two well-defined.
static BUSY_FLAGS: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);
static BUSY_REPLY: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);
/// Passes of the main loop (bumped at the end of before-sleep): a yielding module thread
/// waits for one full pass after it released the GIL.
static MAIN_PASSES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
/// Listener events seen by a nested pass (which cannot accept): the main loop accepts.
static DEFERRED_ACCEPT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
/// The main loop's registry, for nested passes (the loop's own is lent out meanwhile).
static REGISTRY: OnceLock<mio::Registry> = OnceLock::new();

thread_local! {
    static YIELD_NESTING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Installs the registry nested passes use (once, when the loop is created).
pub fn install_registry(r: mio::Registry) {
    let _ = REGISTRY.set(r);
}

/// Called by the main loop at the end of before-sleep.
pub fn main_pass_done() {
    MAIN_PASSES.fetch_add(1, Ordering::AcqRel);
}

/// Whether a nested pass saw connections waiting (the main loop must accept them).
pub fn take_deferred_accept() -> bool {
    DEFERRED_ACCEPT.swap(false, Ordering::AcqRel)
}

/// The rejection for a command that is not allowed while a module yields (Redis'
/// `-BUSY` texts), None when no module is busy.
pub fn busy_error() -> Option<String> {
    if BUSY_FLAGS.load(Ordering::Acquire) == 0 {
        return None;
    }
    Some(
        match BUSY_REPLY
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            Some(r) => format!("-BUSY {}", r),
            None => "-BUSY Redis is busy running a module command.".to_string(),
        },
    )
}

/// Whether a module command is yielding from a long operation.
pub fn is_busy() -> bool {
    BUSY_FLAGS.load(Ordering::Acquire) != 0
}

/// Whether commands must wait (a module yields without letting clients run).
pub fn postpone_commands() -> bool {
    let f = BUSY_FLAGS.load(Ordering::Acquire);
    f != 0 && f & YIELD_CLIENTS == 0
}

/// Set when module code on the main thread started the yield in progress (not a module
/// thread): before-sleep ends such a yield if the module code that started it was not a
/// command (a timer, a callback), since no module code runs on the main thread there.
static MAIN_BUSY: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Ends a yield started on the main thread (see `MAIN_BUSY`); called in before-sleep.
pub fn end_main_busy(srv: &mut Server) {
    if MAIN_BUSY.load(Ordering::Acquire) {
        end_busy(srv);
    }
}

/// Ends a yield in progress (the module command returned, or the module thread unlocks):
/// commands postponed meanwhile are retried.
pub fn end_busy(srv: &mut Server) {
    MAIN_BUSY.store(false, Ordering::Release);
    if BUSY_FLAGS.swap(0, Ordering::AcqRel) != 0 {
        *BUSY_REPLY.lock().unwrap_or_else(|e| e.into_inner()) = None;
        srv.pause_lifted = true;
    }
}

/// Serves pending events from inside a module command on the main thread (Redis'
/// `processEventsWhileBlocked`): up to four passes over the ready events without waiting.
/// The running client is out of the clients map, so its own input waits (it is re-read
/// after its command); listener events are left to the main loop.
pub(crate) fn process_events_while_blocked(srv: &mut Server) {
    let epfd = std::os::fd::AsRawFd::as_raw_fd(match REGISTRY.get() {
        Some(r) => r,
        None => return,
    });
    let registry = REGISTRY.get().expect("checked above");
    let mut evs: Vec<libc::epoll_event> = vec![libc::epoll_event { events: 0, u64: 0 }; 128];
    srv.update_cached_time();
    let mut ready: Vec<crate::ae::ReadyEvent> = Vec::new();
    for pass in 0..5 {
        if pass == 0 {
            // First what the main loop's own poll returned and did not handle yet.
            while let Some(ev) = crate::ae::take_ready_event() {
                ready.push(ev);
            }
        } else {
            // SAFETY: a valid epoll descriptor and a buffer of `evs.len()` events.
            let n = unsafe { libc::epoll_wait(epfd, evs.as_mut_ptr(), evs.len() as c_int, 0) };
            if n <= 0 {
                break;
            }
            ready.extend(evs[..n as usize].iter().map(|ev| {
                let bits = ev.events;
                crate::ae::ReadyEvent {
                    token: ev.u64 as usize,
                    readable: bits
                        & (libc::EPOLLIN
                            | libc::EPOLLPRI
                            | libc::EPOLLHUP
                            | libc::EPOLLERR
                            | libc::EPOLLRDHUP) as u32
                        != 0,
                    writable: bits & (libc::EPOLLOUT | libc::EPOLLERR | libc::EPOLLHUP) as u32 != 0,
                    read_closed: bits & (libc::EPOLLHUP | libc::EPOLLRDHUP) as u32 != 0,
                }
            }));
        }
        for ev in ready.drain(..) {
            let (token, readable, writable) = (ev.token, ev.readable, ev.writable);
            if token >= crate::ae::MODULE_WAKER {
                // The waker or a listener.
                if token != crate::ae::MODULE_WAKER {
                    DEFERRED_ACCEPT.store(true, Ordering::Release);
                }
                continue;
            }
            if token == crate::replication::replica::LINK_TOKEN {
                // Not while the transfer it delivered is being loaded: the link waits (its
                // re-registration as the master client reports what arrived meanwhile).
                if !srv.repl.link.blocking_load {
                    srv.repl_link_event(registry);
                }
                continue;
            }
            // The cluster bus goes on (pings answered, so a busy node isn't taken for dead).
            if srv.cluster_dispatch(token, readable, writable) {
                continue;
            }
            if crate::ae::MODULE_FD_TOKENS.contains(&token) {
                super::eventloop::dispatch(token, readable, writable);
                continue;
            }
            let id = token as u64;
            if writable {
                srv.write_to_client(registry, id);
            }
            if readable {
                if srv.clients.contains_key(&id) {
                    srv.read_from_client(registry, id, ev.read_closed);
                } else if !srv.pending_rereads.contains(&id) {
                    // The running client (or one being handled): read it later.
                    srv.pending_rereads.push(id);
                }
            }
        }
    }
    srv.handle_pending_writes(registry);
    srv.free_clients_in_async_queue(registry);
}

unsafe extern "C" fn yield_(ctx: *mut Ctx, flags: c_int, busy_reply: *const std::ffi::c_char) {
    if YIELD_NESTING.with(|n| n.replace(true)) {
        return;
    }
    // SAFETY: a live context.
    let ctx = unsafe { &mut *ctx };
    let now = crate::util::monotonic_us();
    if ctx.next_yield_us == 0 {
        // The first yield comes once the command ran for busy-reply-threshold ms.
        // SAFETY: the caller holds the GIL (module thread) or is the server (main thread).
        let srv = unsafe { ctx.server() };
        if srv.loading {
            // While loading (a data type's rdb_load), clients only get -LOADING: events are
            // processed from the first 1/hz on, as in Redis.
            ctx.next_yield_us = ctx.created_us + 1_000_000 / srv.hz.max(1) as u64;
        } else {
            let threshold = crate::rdb::file::stored_config(&srv.config, "busy-reply-threshold")
                .parse::<u64>()
                .unwrap_or(5000);
            ctx.next_yield_us = ctx.created_us + threshold * 1000;
        }
    }
    if now >= ctx.next_yield_us {
        // A module thread (holding the GIL) hands the loop a pass; module code the main
        // thread runs processes events itself.
        let on_module_thread = !IS_MAIN.with(|m| m.get());
        // SAFETY: the caller holds the GIL (module thread) or is the server (main thread).
        let srv = unsafe { ctx.server() };
        if srv.loading {
            // No busy replies to arrange: commands are refused with -LOADING anyway.
            if !on_module_thread {
                process_events_while_blocked(srv);
            }
        } else {
            let reply = if busy_reply.is_null() {
                None
            } else {
                // SAFETY: a C string.
                Some(String::from_utf8_lossy(unsafe { super::cstr(busy_reply) }).into_owned())
            };
            let prev_reply = std::mem::replace(
                &mut *BUSY_REPLY.lock().unwrap_or_else(|e| e.into_inner()),
                reply,
            );
            let mut f = BUSY_FLAGS.load(Ordering::Acquire);
            if f == 0 && !on_module_thread {
                MAIN_BUSY.store(true, Ordering::Release);
            }
            f |= YIELD_EVENTS;
            if flags & REDISMODULE_YIELD_FLAG_CLIENTS != 0 {
                f |= YIELD_CLIENTS;
            }
            BUSY_FLAGS.store(f, Ordering::Release);
            if on_module_thread {
                // A module thread: hand the GIL to the main loop for one full pass, in
                // which it serves clients under the busy rules, then take it back.
                let before = MAIN_PASSES.load(Ordering::Acquire);
                gil_unlock();
                wake_event_loop();
                while MAIN_PASSES.load(Ordering::Acquire) == before {
                    std::thread::sleep(std::time::Duration::from_micros(100));
                }
                gil_lock();
                // Refresh the server pointer the main loop published.
                ctx.srv = SERVER.load(Ordering::Acquire);
                super::command::set_current_server(ctx.srv);
            } else {
                process_events_while_blocked(srv);
            }
            *BUSY_REPLY.lock().unwrap_or_else(|e| e.into_inner()) = prev_reply;
            BUSY_FLAGS.fetch_and(!YIELD_CLIENTS, Ordering::AcqRel);
        }
        // SAFETY: as above.
        let hz = unsafe { ctx.server() }.hz.max(1) as u64;
        ctx.next_yield_us = now + 1_000_000 / hz;
    }
    YIELD_NESTING.with(|n| n.set(false));
}

pub fn yield_entries() -> Vec<(&'static str, usize)> {
    super::api_entries![
        "Yield" => yield_ as unsafe extern "C" fn(*mut Ctx, c_int, *const std::ffi::c_char),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn try_lock_fails_with_ebusy_while_another_thread_holds_the_gil() {
        gil_lock();
        let rc = std::thread::spawn(|| {
            // SAFETY: a NULL context is allowed (the lock ignores its context when there is no server).
            let rc = unsafe { thread_safe_context_try_lock(std::ptr::null_mut()) };
            (rc, std::io::Error::last_os_error().raw_os_error())
        })
        .join()
        .unwrap();
        assert_eq!(rc, (REDISMODULE_ERR, Some(libc::EBUSY)));
        gil_unlock();
        let rc = std::thread::spawn(|| {
            let rc = gil_try_lock();
            if rc == 0 {
                gil_unlock();
            }
            rc
        })
        .join()
        .unwrap();
        assert_eq!(rc, 0);
    }
}
