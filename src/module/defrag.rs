//! The defrag API (RegisterDefragFunc, DefragAlloc, DefragShouldStop, the cursor functions,
//! ...), as a Redis build without active defragmentation provides it. Active defrag needs
//! Redis' patched jemalloc, which this server doesn't have (CONFIG SET activedefrag yes is
//! refused, as by Redis built with another allocator), so nothing ever calls a module's
//! defrag callbacks: the functions exist so that modules using them load and behave as on
//! such a Redis, where DefragAlloc and DefragRedisModuleString never move anything.

use std::ffi::{c_int, c_long, c_longlong, c_ulong, c_void};

use super::ctx::{Ctx, REDISMODULE_ERR, REDISMODULE_OK};
use super::string::RmString;

/// `RedisModuleDefragCtx`.
#[repr(C)]
pub struct DefragCtx {
    /// Allocations moved (none, without active defrag).
    defragged: c_long,
    /// Monotonic deadline in microseconds (0: none).
    endtime: c_longlong,
    /// The resume cursor of a late (incremental) value defrag, NULL otherwise.
    cursor: *mut c_ulong,
    key: *mut RmString,
    dbid: c_int,
}

pub type DefragFunc = unsafe extern "C" fn(*mut DefragCtx) -> c_int;

unsafe extern "C" fn register_defrag_func(ctx: *mut Ctx, cb: Option<DefragFunc>) -> c_int {
    // SAFETY: a live context whose module is registered.
    match unsafe { (*ctx).module.as_mut() } {
        Some(m) => {
            m.defrag_cb = cb;
            REDISMODULE_OK
        }
        None => REDISMODULE_ERR,
    }
}

unsafe extern "C" fn defrag_should_stop(ctx: *mut DefragCtx) -> c_int {
    // SAFETY: the context handed to the callback.
    let c = unsafe { &*ctx };
    (c.endtime != 0 && (c.endtime as u64) < crate::util::monotonic_us()) as c_int
}

unsafe extern "C" fn defrag_cursor_set(ctx: *mut DefragCtx, cursor: c_ulong) -> c_int {
    // SAFETY: as above.
    let c = unsafe { &mut *ctx };
    if c.cursor.is_null() {
        return REDISMODULE_ERR;
    }
    // SAFETY: the cursor slot of a late defrag.
    unsafe { *c.cursor = cursor };
    REDISMODULE_OK
}

unsafe extern "C" fn defrag_cursor_get(ctx: *mut DefragCtx, cursor: *mut c_ulong) -> c_int {
    // SAFETY: as above.
    let c = unsafe { &*ctx };
    if c.cursor.is_null() {
        return REDISMODULE_ERR;
    }
    // SAFETY: the cursor slot and the module's out pointer.
    unsafe { *cursor = *c.cursor };
    REDISMODULE_OK
}

/// Would move `ptr` to a less fragmented place; without active defrag nothing moves (NULL:
/// the module keeps using `ptr`).
unsafe extern "C" fn defrag_alloc(_ctx: *mut DefragCtx, _ptr: *mut c_void) -> *mut c_void {
    std::ptr::null_mut()
}

unsafe extern "C" fn defrag_module_string(
    _ctx: *mut DefragCtx,
    _s: *mut RmString,
) -> *mut RmString {
    std::ptr::null_mut()
}

unsafe extern "C" fn get_key_name_from_defrag_ctx(ctx: *mut DefragCtx) -> *const RmString {
    // SAFETY: the context handed to the callback.
    unsafe { (*ctx).key }
}

unsafe extern "C" fn get_db_id_from_defrag_ctx(ctx: *mut DefragCtx) -> c_int {
    // SAFETY: as above.
    unsafe { (*ctx).dbid }
}

pub fn entries() -> Vec<(&'static str, usize)> {
    super::api_entries![
        "RegisterDefragFunc" => register_defrag_func as unsafe extern "C" fn(*mut Ctx, Option<DefragFunc>) -> c_int,
        "DefragShouldStop" => defrag_should_stop as unsafe extern "C" fn(*mut DefragCtx) -> c_int,
        "DefragCursorSet" => defrag_cursor_set as unsafe extern "C" fn(*mut DefragCtx, c_ulong) -> c_int,
        "DefragCursorGet" => defrag_cursor_get as unsafe extern "C" fn(*mut DefragCtx, *mut c_ulong) -> c_int,
        "DefragAlloc" => defrag_alloc as unsafe extern "C" fn(*mut DefragCtx, *mut c_void) -> *mut c_void,
        "DefragRedisModuleString" => defrag_module_string as unsafe extern "C" fn(*mut DefragCtx, *mut RmString) -> *mut RmString,
        "GetKeyNameFromDefragCtx" => get_key_name_from_defrag_ctx as unsafe extern "C" fn(*mut DefragCtx) -> *const RmString,
        "GetDbIdFromDefragCtx" => get_db_id_from_defrag_ctx as unsafe extern "C" fn(*mut DefragCtx) -> c_int,
    ]
}
