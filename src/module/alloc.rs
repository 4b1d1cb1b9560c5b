//! Memory API (Alloc, Calloc, Realloc, Free, Strdup, PoolAlloc, MallocSize*): served by the
//! process allocator (jemalloc, as `malloc` itself is), so memory a module allocates counts in
//! `used_memory` like the server's own, and modules may mix these with their own frees only as
//! Redis allows (not at all).
//!
//! Beyond Redis, the bytes each module holds through this API are counted (INFO modules and
//! MODULE LIST show them as `allocated_bytes`; not `used_memory`, which INFO readers
//! take for the memory section). The functions take no context, so each module is
//! given functions of its own instead: a module being loaded is assigned a slot, and GetApi
//! answers its requests for the allocation functions with the variants compiled for that
//! slot (`rm_alloc::<S>` ...). Alloc adds the usable size of what it returns to the slot's
//! counter, Free subtracts it: no lookup, any thread. Memory the server hands a module to
//! free with RedisModule_Free (GetCommandKeys' arrays, LoadStringBuffer) is counted for that
//! module too (`alloc_for`). Modules given their functions outside a load (or past the
//! 64th loaded module) share the unattributed slot. Not counted: PoolAlloc (released with
//! the context) and module strings (server objects).

use std::ffi::{c_char, c_void};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use super::ctx::Ctx;
use super::string::RmString;

/// How many modules can hold a slot at once.
pub const SLOTS: usize = 64;
/// The slot of allocation functions obtained outside a module's load.
pub const UNATTRIBUTED: usize = SLOTS;

/// Bytes held per slot (usable sizes). Signed: a module that frees memory another module
/// allocated can take its own count below zero for a while.
static HELD: [AtomicI64; SLOTS + 1] = [const { AtomicI64::new(0) }; SLOTS + 1];
static TAKEN: [AtomicBool; SLOTS] = [const { AtomicBool::new(false) }; SLOTS];

/// A free slot for a module about to load (its counter starts at zero); UNATTRIBUTED when
/// all are taken.
pub fn claim_slot() -> usize {
    for (i, taken) in TAKEN.iter().enumerate() {
        if taken
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            HELD[i].store(0, Ordering::Relaxed);
            return i;
        }
    }
    UNATTRIBUTED
}

/// Gives a slot back when its module is unloaded or fails to load.
pub fn release_slot(slot: usize) {
    if slot < SLOTS {
        TAKEN[slot].store(false, Ordering::Release);
    }
}

/// The bytes a slot's module holds through the memory API.
pub fn held(slot: usize) -> u64 {
    HELD[slot.min(UNATTRIBUTED)].load(Ordering::Relaxed).max(0) as u64
}

#[inline]
fn count(slot: usize, p: *mut c_void, sign: i64) {
    if !p.is_null() {
        // SAFETY: `p` is a live allocation of this allocator.
        let size = unsafe { libc::malloc_usable_size(p) } as i64;
        HELD[slot].fetch_add(sign * size, Ordering::Relaxed);
    }
}

/// `bytes` for the module `m` (null: unattributed) to free with RedisModule_Free; aborts on
/// OOM as Alloc does.
///
/// # Safety
/// `m` is null or a registered module.
pub unsafe fn alloc_for(m: *const super::Module, bytes: usize) -> *mut c_void {
    // SAFETY: per the contract above.
    let slot = unsafe { m.as_ref() }.map_or(UNATTRIBUTED, |m| m.alloc_slot);
    // SAFETY: plain malloc.
    let p = unsafe { libc::malloc(bytes.max(1)) };
    if p.is_null() {
        oom(bytes);
    }
    count(slot, p, 1);
    p
}

unsafe extern "C" fn rm_alloc<const S: usize>(bytes: usize) -> *mut c_void {
    // SAFETY: plain malloc; Redis aborts on OOM in Alloc, and so do we.
    let p = unsafe { libc::malloc(bytes.max(1)) };
    if p.is_null() {
        oom(bytes);
    }
    count(S, p, 1);
    p
}

unsafe extern "C" fn rm_try_alloc<const S: usize>(bytes: usize) -> *mut c_void {
    // SAFETY: plain malloc; TryAlloc reports failure with NULL.
    let p = unsafe { libc::malloc(bytes.max(1)) };
    count(S, p, 1);
    p
}

unsafe extern "C" fn rm_calloc<const S: usize>(nmemb: usize, size: usize) -> *mut c_void {
    // SAFETY: plain calloc.
    let p = unsafe { libc::calloc(nmemb.max(1), size.max(1)) };
    if p.is_null() {
        oom(nmemb.saturating_mul(size));
    }
    count(S, p, 1);
    p
}

unsafe extern "C" fn rm_realloc<const S: usize>(ptr: *mut c_void, bytes: usize) -> *mut c_void {
    count(S, ptr, -1);
    // SAFETY: `ptr` came from this allocator (the API contract).
    let p = unsafe { libc::realloc(ptr, bytes.max(1)) };
    if p.is_null() {
        oom(bytes);
    }
    count(S, p, 1);
    p
}

unsafe extern "C" fn rm_free<const S: usize>(ptr: *mut c_void) {
    count(S, ptr, -1);
    // SAFETY: `ptr` came from this allocator or is NULL.
    unsafe { libc::free(ptr) }
}

unsafe extern "C" fn rm_strdup<const S: usize>(s: *const c_char) -> *mut c_char {
    // SAFETY: `s` is a valid C string (the API contract).
    let p = unsafe { libc::strdup(s) };
    if p.is_null() {
        oom(0);
    }
    count(S, p as *mut c_void, 1);
    p
}

fn oom(bytes: usize) -> ! {
    crate::log_warning!("Out Of Memory allocating {} bytes for a module!", bytes);
    std::process::abort();
}

type AllocFn = unsafe extern "C" fn(usize) -> *mut c_void;
type CallocFn = unsafe extern "C" fn(usize, usize) -> *mut c_void;
type ReallocFn = unsafe extern "C" fn(*mut c_void, usize) -> *mut c_void;
type FreeFn = unsafe extern "C" fn(*mut c_void);
type StrdupFn = unsafe extern "C" fn(*const c_char) -> *mut c_char;

/// One slot's allocation functions.
struct SlotFns {
    alloc: AllocFn,
    try_alloc: AllocFn,
    calloc: CallocFn,
    realloc: ReallocFn,
    free: FreeFn,
    strdup: StrdupFn,
}

impl SlotFns {
    const fn of<const S: usize>() -> SlotFns {
        SlotFns {
            alloc: rm_alloc::<S>,
            try_alloc: rm_try_alloc::<S>,
            calloc: rm_calloc::<S>,
            realloc: rm_realloc::<S>,
            free: rm_free::<S>,
            strdup: rm_strdup::<S>,
        }
    }
}

macro_rules! slot_fns {
    ($($s:literal)*) => {
        static SLOT_FNS: [SlotFns; SLOTS + 1] = [$(SlotFns::of::<$s>()),*];
    };
}
slot_fns!(
    0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31
    32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60 61
    62 63 64
);

/// GetApi's answer for an allocation function of `slot`'s module; None for other names.
pub fn slot_function(name: &str, slot: usize) -> Option<usize> {
    let f = &SLOT_FNS[slot.min(UNATTRIBUTED)];
    Some(match name {
        "Alloc" => f.alloc as usize,
        "TryAlloc" => f.try_alloc as usize,
        "Calloc" => f.calloc as usize,
        "Realloc" => f.realloc as usize,
        "Free" => f.free as usize,
        "Strdup" => f.strdup as usize,
        _ => return None,
    })
}

unsafe extern "C" fn rm_pool_alloc(ctx: *mut Ctx, bytes: usize) -> *mut c_void {
    if bytes == 0 {
        return std::ptr::null_mut();
    }
    // SAFETY: plain malloc, not counted for the module: the block is recorded in the live
    // context and freed with it.
    let p = unsafe { libc::malloc(bytes) };
    if p.is_null() {
        oom(bytes);
    }
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
        // The unattributed variants; GetApi answers a loading module with its slot's.
        "Alloc" => rm_alloc::<UNATTRIBUTED> as AllocFn,
        "TryAlloc" => rm_try_alloc::<UNATTRIBUTED> as AllocFn,
        "Calloc" => rm_calloc::<UNATTRIBUTED> as CallocFn,
        "Realloc" => rm_realloc::<UNATTRIBUTED> as ReallocFn,
        "Free" => rm_free::<UNATTRIBUTED> as FreeFn,
        "Strdup" => rm_strdup::<UNATTRIBUTED> as StrdupFn,
        "PoolAlloc" => rm_pool_alloc as unsafe extern "C" fn(*mut Ctx, usize) -> *mut c_void,
        "MallocUsableSize" => rm_malloc_usable_size as unsafe extern "C" fn(*mut c_void) -> usize,
        "MallocSize" => rm_malloc_size as unsafe extern "C" fn(*mut c_void) -> usize,
        "MallocSizeString" => rm_malloc_size_string as unsafe extern "C" fn(*mut RmString) -> usize,
    ]
}
