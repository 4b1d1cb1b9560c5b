//! Module file descriptors and one-shot callbacks in the event loop (EventLoopAdd,
//! EventLoopDel, EventLoopAddOneShot).
//!
//! Module fds are added to the event loop's epoll instance directly, level-triggered, as
//! Redis' ae registers them (mio registers its own sources edge-triggered; a module callback
//! that leaves data unread must be called again, as in Redis). Their epoll data is a token
//! in a range of their own ([`FD_TOKEN_BASE`] + fd) that the loop hands to [`dispatch`].
//! One-shot callbacks may be added from any thread: they are queued under a mutex, the loop
//! is woken up, and they run on the main thread in before-sleep.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Mutex;

use super::ctx::{REDISMODULE_ERR, REDISMODULE_OK};

pub const READABLE: c_int = 1;
pub const WRITABLE: c_int = 2;

/// Event tokens at and above this value are module fds (client ids stay far below it).
pub const FD_TOKEN_BASE: usize = 1 << 62;

/// Redis' `aeGetSetSize` beyond maxclients (CONFIG_FDSET_INCR: reserved + 96).
const FDSET_INCR: i64 = 32 + 96;

pub type EventFn = unsafe extern "C" fn(c_int, *mut c_void, c_int);
pub type OneShotFn = unsafe extern "C" fn(*mut c_void);

/// The event loop's epoll descriptor (-1 before the loop exists).
static EPOLL_FD: AtomicI32 = AtomicI32::new(-1);

#[derive(Clone, Copy)]
struct FdEvent {
    mask: c_int,
    rfunc: Option<EventFn>,
    wfunc: Option<EventFn>,
    user_data: *mut c_void,
}

thread_local! {
    /// Registered module fds (main thread: the API is called from module code the server
    /// runs, with the GIL).
    static FDS: RefCell<HashMap<c_int, FdEvent>> = RefCell::new(HashMap::new());
}

struct OneShot(OneShotFn, *mut c_void);
// SAFETY: the module hands the pointer to us to be given back to its callback on the main
// thread; we never dereference it.
unsafe impl Send for OneShot {}

static ONESHOTS: Mutex<Vec<OneShot>> = Mutex::new(Vec::new());

/// Records the event loop's epoll descriptor (when the loop is created).
pub fn set_epoll_fd(fd: c_int) {
    EPOLL_FD.store(fd, Ordering::Release);
}

/// Whether one-shot callbacks wait (the loop must not sleep).
pub fn has_pending() -> bool {
    !ONESHOTS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .is_empty()
}

fn set_size() -> i64 {
    super::command::current_server()
        .map(|s| s.config.maxclients)
        .unwrap_or(10000)
        + FDSET_INCR
}

/// Applies an fd's new mask to epoll (add, modify or delete). Err(errno).
fn apply(fd: c_int, old: c_int, new: c_int) -> Result<(), c_int> {
    let epfd = EPOLL_FD.load(Ordering::Acquire);
    if epfd < 0 {
        return Err(libc::EBADF);
    }
    let mut ev = libc::epoll_event {
        events: 0,
        u64: (FD_TOKEN_BASE + fd as usize) as u64,
    };
    if new & READABLE != 0 {
        ev.events |= libc::EPOLLIN as u32;
    }
    if new & WRITABLE != 0 {
        ev.events |= libc::EPOLLOUT as u32;
    }
    let op = if old == 0 {
        if new == 0 {
            return Ok(());
        }
        libc::EPOLL_CTL_ADD
    } else if new == 0 {
        libc::EPOLL_CTL_DEL
    } else {
        libc::EPOLL_CTL_MOD
    };
    // SAFETY: a valid epoll descriptor and event structure; the fd is the module's.
    let rc = unsafe { libc::epoll_ctl(epfd, op, fd, &mut ev) };
    if rc == -1 {
        return Err(std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EINVAL));
    }
    Ok(())
}

unsafe extern "C" fn event_loop_add(
    fd: c_int,
    mask: c_int,
    func: Option<EventFn>,
    user_data: *mut c_void,
) -> c_int {
    if fd < 0 || fd as i64 >= set_size() {
        super::set_errno(libc::ERANGE);
        return REDISMODULE_ERR;
    }
    let Some(func) = func.filter(|_| mask & !(READABLE | WRITABLE) == 0) else {
        super::set_errno(libc::EINVAL);
        return REDISMODULE_ERR;
    };
    FDS.with(|fds| {
        let mut fds = fds.borrow_mut();
        let old = fds.get(&fd).copied().unwrap_or(FdEvent {
            mask: 0,
            rfunc: None,
            wfunc: None,
            user_data: std::ptr::null_mut(),
        });
        let new_mask = old.mask | mask;
        if let Err(e) = apply(fd, old.mask, new_mask) {
            super::set_errno(e);
            return REDISMODULE_ERR;
        }
        let mut ev = old;
        ev.mask = new_mask;
        ev.user_data = user_data;
        if mask & READABLE != 0 {
            ev.rfunc = Some(func);
        }
        if mask & WRITABLE != 0 {
            ev.wfunc = Some(func);
        }
        fds.insert(fd, ev);
        super::set_errno(0);
        REDISMODULE_OK
    })
}

unsafe extern "C" fn event_loop_del(fd: c_int, mask: c_int) -> c_int {
    if fd < 0 || fd as i64 >= set_size() {
        super::set_errno(libc::ERANGE);
        return REDISMODULE_ERR;
    }
    if mask & !(READABLE | WRITABLE) != 0 {
        super::set_errno(libc::EINVAL);
        return REDISMODULE_ERR;
    }
    FDS.with(|fds| {
        let mut fds = fds.borrow_mut();
        if let Some(mut ev) = fds.get(&fd).copied() {
            let new_mask = ev.mask & !mask;
            // Deleting from epoll can only fail for an fd the module closed already, which
            // epoll forgot by itself.
            let _ = apply(fd, ev.mask, new_mask);
            if new_mask == 0 {
                fds.remove(&fd);
            } else {
                ev.mask = new_mask;
                fds.insert(fd, ev);
            }
        }
    });
    super::set_errno(0);
    REDISMODULE_OK
}

unsafe extern "C" fn event_loop_add_one_shot(func: Option<OneShotFn>, data: *mut c_void) -> c_int {
    let Some(func) = func else {
        super::set_errno(libc::EINVAL);
        return REDISMODULE_ERR;
    };
    ONESHOTS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(OneShot(func, data));
    super::threads::wake_event_loop();
    super::set_errno(0);
    REDISMODULE_OK
}

/// Runs the queued one-shot callbacks (before-sleep). Callbacks may queue more; those run
/// in the same pass, as in Redis.
pub fn run_one_shots() {
    loop {
        let next = {
            let mut q = ONESHOTS.lock().unwrap_or_else(|e| e.into_inner());
            if q.is_empty() {
                return;
            }
            q.remove(0)
        };
        // SAFETY: the module registered this callback with this data.
        unsafe { (next.0)(next.1) };
    }
}

/// Calls the callbacks of a module fd the event loop reported ready.
pub fn dispatch(token: usize, readable: bool, writable: bool) {
    let fd = (token - FD_TOKEN_BASE) as c_int;
    let get = || FDS.with(|f| f.borrow().get(&fd).copied());
    if readable {
        if let Some(FdEvent {
            mask,
            rfunc: Some(f),
            user_data,
            ..
        }) = get()
        {
            if mask & READABLE != 0 {
                // SAFETY: the module registered this callback for this fd and data.
                unsafe { f(fd, user_data, READABLE) };
            }
        }
    }
    if writable {
        // The read callback may have removed the fd: look it up again.
        if let Some(FdEvent {
            mask,
            wfunc: Some(f),
            user_data,
            ..
        }) = get()
        {
            if mask & WRITABLE != 0 {
                // SAFETY: as above.
                unsafe { f(fd, user_data, WRITABLE) };
            }
        }
    }
}

pub fn entries() -> Vec<(&'static str, usize)> {
    super::api_entries![
        "EventLoopAdd" => event_loop_add as unsafe extern "C" fn(c_int, c_int, Option<EventFn>, *mut c_void) -> c_int,
        "EventLoopDel" => event_loop_del as unsafe extern "C" fn(c_int, c_int) -> c_int,
        "EventLoopAddOneShot" => event_loop_add_one_shot as unsafe extern "C" fn(Option<OneShotFn>, *mut c_void) -> c_int,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errno() -> c_int {
        std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
    }

    unsafe extern "C" fn noop(_: c_int, _: *mut c_void, _: c_int) {}

    #[test]
    fn add_and_del_validate_like_redis() {
        // SAFETY: API calls with invalid arguments only validate and set errno.
        unsafe {
            assert_eq!(
                event_loop_add(-1, READABLE, Some(noop), std::ptr::null_mut()),
                REDISMODULE_ERR
            );
            assert_eq!(errno(), libc::ERANGE);
            assert_eq!(
                event_loop_add(99_999_999, READABLE, Some(noop), std::ptr::null_mut()),
                REDISMODULE_ERR
            );
            assert_eq!(errno(), libc::ERANGE);
            assert_eq!(
                event_loop_add(3, 9_999_999, Some(noop), std::ptr::null_mut()),
                REDISMODULE_ERR
            );
            assert_eq!(errno(), libc::EINVAL);
            assert_eq!(
                event_loop_add(3, READABLE, None, std::ptr::null_mut()),
                REDISMODULE_ERR
            );
            assert_eq!(errno(), libc::EINVAL);
            // Deleting what was never added succeeds.
            assert_eq!(event_loop_del(3, READABLE), REDISMODULE_OK);
            assert_eq!(errno(), 0);
            assert_eq!(event_loop_del(3, 9_999_999), REDISMODULE_ERR);
            assert_eq!(errno(), libc::EINVAL);
            assert_eq!(event_loop_del(-1, READABLE), REDISMODULE_ERR);
            assert_eq!(errno(), libc::ERANGE);
            assert_eq!(
                event_loop_add_one_shot(None, std::ptr::null_mut()),
                REDISMODULE_ERR
            );
            assert_eq!(errno(), libc::EINVAL);
        }
    }

    static RAN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

    unsafe extern "C" fn count(data: *mut c_void) {
        RAN.fetch_add(data as usize, Ordering::SeqCst);
    }

    #[test]
    fn one_shots_run_once_from_any_thread() {
        // SAFETY: the callback and data are valid for `run_one_shots` below.
        std::thread::spawn(|| unsafe {
            assert_eq!(
                event_loop_add_one_shot(Some(count), 5 as *mut c_void),
                REDISMODULE_OK
            );
        })
        .join()
        .unwrap();
        run_one_shots();
        run_one_shots();
        assert_eq!(RAN.load(Ordering::SeqCst), 5);
    }
}
