//! Memory API (Alloc, Calloc, Realloc, Free, Strdup, PoolAlloc, MallocSize*): served by the
//! process allocator (jemalloc, as `malloc` itself is), so memory a module allocates counts in
//! `used_memory` like the server's own, and modules may mix these with their own frees only as
//! Redis allows (not at all).

use std::ffi::{c_char, c_void};

use super::ctx::Ctx;
use super::string::RmString;

unsafe extern "C" fn rm_alloc(bytes: usize) -> *mut c_void {
    // SAFETY: plain malloc; Redis aborts on OOM in Alloc, and so do we.
    let p = unsafe { libc::malloc(bytes.max(1)) };
    if p.is_null() {
        oom(bytes);
    }
    p
}

unsafe extern "C" fn rm_try_alloc(bytes: usize) -> *mut c_void {
    // SAFETY: plain malloc; TryAlloc reports failure with NULL.
    unsafe { libc::malloc(bytes.max(1)) }
}

unsafe extern "C" fn rm_calloc(nmemb: usize, size: usize) -> *mut c_void {
    // SAFETY: plain calloc.
    let p = unsafe { libc::calloc(nmemb.max(1), size.max(1)) };
    if p.is_null() {
        oom(nmemb.saturating_mul(size));
    }
    p
}

unsafe extern "C" fn rm_realloc(ptr: *mut c_void, bytes: usize) -> *mut c_void {
    // SAFETY: `ptr` came from this allocator (the API contract).
    let p = unsafe { libc::realloc(ptr, bytes.max(1)) };
    if p.is_null() {
        oom(bytes);
    }
    p
}

unsafe extern "C" fn rm_free(ptr: *mut c_void) {
    // SAFETY: `ptr` came from this allocator or is NULL.
    unsafe { libc::free(ptr) }
}

unsafe extern "C" fn rm_strdup(s: *const c_char) -> *mut c_char {
    // SAFETY: `s` is a valid C string (the API contract).
    let p = unsafe { libc::strdup(s) };
    if p.is_null() {
        oom(0);
    }
    p
}

fn oom(bytes: usize) -> ! {
    crate::log_warning!("Out Of Memory allocating {} bytes for a module!", bytes);
    std::process::abort();
}

/// Allocation from the context's pool: freed when the command returns.
unsafe extern "C" fn rm_pool_alloc(ctx: *mut Ctx, bytes: usize) -> *mut c_void {
    if bytes == 0 {
        return std::ptr::null_mut();
    }
    // SAFETY: plain malloc; the block is recorded in the live context and freed with it.
    let p = unsafe { rm_alloc(bytes) };
    // SAFETY: the API contract: a live context.
    unsafe { (*ctx).pool.push(p) };
    p
}

unsafe extern "C" fn rm_malloc_usable_size(ptr: *mut c_void) -> usize {
    // SAFETY: `ptr` came from this allocator.
    unsafe { libc::malloc_usable_size(ptr) }
}

unsafe extern "C" fn rm_malloc_size(ptr: *mut c_void) -> usize {
    // SAFETY: `ptr` came from this allocator.
    unsafe { libc::malloc_usable_size(ptr) }
}

unsafe extern "C" fn rm_malloc_size_string(s: *mut RmString) -> usize {
    // SAFETY: a valid module string.
    unsafe { (*s).alloc_size() }
}

pub fn entries() -> Vec<(&'static str, usize)> {
    super::api_entries![
        "Alloc" => rm_alloc as unsafe extern "C" fn(usize) -> *mut c_void,
        "TryAlloc" => rm_try_alloc as unsafe extern "C" fn(usize) -> *mut c_void,
        "Calloc" => rm_calloc as unsafe extern "C" fn(usize, usize) -> *mut c_void,
        "Realloc" => rm_realloc as unsafe extern "C" fn(*mut c_void, usize) -> *mut c_void,
        "Free" => rm_free as unsafe extern "C" fn(*mut c_void),
        "Strdup" => rm_strdup as unsafe extern "C" fn(*const c_char) -> *mut c_char,
        "PoolAlloc" => rm_pool_alloc as unsafe extern "C" fn(*mut Ctx, usize) -> *mut c_void,
        "MallocUsableSize" => rm_malloc_usable_size as unsafe extern "C" fn(*mut c_void) -> usize,
        "MallocSize" => rm_malloc_size as unsafe extern "C" fn(*mut c_void) -> usize,
        "MallocSizeString" => rm_malloc_size_string as unsafe extern "C" fn(*mut RmString) -> usize,
    ]
}
