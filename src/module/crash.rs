//! Crash reports for faults inside module code: while a module runs, a label naming the module
//! and what it runs (a command, OnLoad) is published; the server's crash report
//! (`server::crash`) prints it. Labels are built once (at registration), so the hot path only
//! stores a pointer.

use std::ffi::{c_char, CStr, CString};
use std::sync::atomic::{AtomicPtr, Ordering};

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

/// What module code was running when a fatal signal arrived, for the server's crash report
/// (`server::crash`), which adds it as a line of its own.
pub fn current_label() -> Option<String> {
    let label = CURRENT.load(Ordering::Relaxed);
    if label.is_null() {
        return None;
    }
    // SAFETY: labels are NUL-terminated strings that are never freed.
    Some(
        unsafe { CStr::from_ptr(label) }
            .to_string_lossy()
            .into_owned(),
    )
}
