//! Crash reports for faults inside module code: while a module runs, a label naming the module
//! and what it runs (a command, OnLoad) is published; a fatal signal then logs it before the
//! process dies the way the signal dictates. Labels are built once (at registration), so the
//! hot path only stores a pointer.

use std::ffi::{c_char, c_int, CStr, CString};
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::Once;

static CURRENT: AtomicPtr<c_char> = AtomicPtr::new(std::ptr::null_mut());

/// A label that lives for the rest of the process.
pub fn make_label(text: &str) -> *const c_char {
    CString::new(text.replace('\0', " "))
        .unwrap_or_default()
        .into_raw()
}

/// Publishes what module code is about to run; returns the previous label (calls nest).
#[inline]
pub fn enter(label: *const c_char) -> *const c_char {
    CURRENT.swap(label as *mut c_char, Ordering::Relaxed)
}

#[inline]
pub fn leave(prev: *const c_char) {
    CURRENT.store(prev as *mut c_char, Ordering::Relaxed);
}

extern "C" fn on_fatal_signal(sig: c_int) {
    let label = CURRENT.load(Ordering::Relaxed);
    if !label.is_null() {
        // SAFETY: labels are NUL-terminated strings that are never freed.
        let text = unsafe { CStr::from_ptr(label) }.to_string_lossy();
        // Like Redis' own crash log, this formats in the handler: the process is going down.
        crate::log_warning!(
            "\n\n=== REDIS BUG REPORT START: Cut & paste starting from here ===\nCrashed by signal {} inside {}\n=== REDIS BUG REPORT END. Make sure to include from START to END. ===",
            sig,
            text
        );
    }
    // SAFETY: restore the default action and re-raise: the process ends as the fault dictates.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        libc::raise(sig);
    }
}

/// Installs the handlers (once, when the first module loads).
pub fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for sig in [libc::SIGSEGV, libc::SIGBUS, libc::SIGFPE, libc::SIGILL] {
            // SAFETY: installing a plain handler with sigaction; the handler only reads an
            // atomic pointer, logs, and re-raises with the default action.
            unsafe {
                let mut sa: libc::sigaction = std::mem::zeroed();
                sa.sa_sigaction = on_fatal_signal as extern "C" fn(c_int) as usize;
                sa.sa_flags = libc::SA_NODEFER | libc::SA_RESETHAND;
                libc::sigemptyset(&mut sa.sa_mask);
                libc::sigaction(sig, &sa, std::ptr::null_mut());
            }
        }
    });
}
