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
