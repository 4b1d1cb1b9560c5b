//! Command filters (RegisterCommandFilter & co.): module callbacks that see, and may rewrite,
//! the argument vector of every command before the server looks the command up — commands
//! from clients (`process_command`) and from RedisModule_Call alike, as in 7.0. Filters run in
//! registration order on one shared argument vector of module strings, so an argument a filter
//! retains stays valid after the command.
//!
//! `REDISMODULE_CMDFILTER_NOSELF` skips a filter while any RedisModule_Call of its own module is
//! in progress; `InCall` counts those calls per module.

use std::ffi::c_int;

use super::ctx::{Ctx, REDISMODULE_ERR, REDISMODULE_OK};
use super::string::RmString;
use super::Module;
use crate::server::Server;

pub type FilterFunc = unsafe extern "C" fn(*mut FilterCtx);

const CMDFILTER_NOSELF: c_int = 1 << 0;

/// What `RedisModuleCommandFilter *` points at.
pub struct Filter {
    module: *mut Module,
    callback: FilterFunc,
    flags: c_int,
}

/// Registered filters in registration order (boxed: their address is the module's handle).
#[derive(Default)]
pub struct Filters {
    // Boxed: the handle given to the module is the filter's address, which must not move.
    #[allow(clippy::vec_box)]
    list: Vec<Box<Filter>>,
}

impl Filters {
    pub fn count_of(&self, m: *const Module) -> usize {
        self.list
            .iter()
            .filter(|f| std::ptr::eq(f.module, m))
            .count()
    }

    pub fn forget(&mut self, m: *mut Module) {
        self.list.retain(|f| !std::ptr::eq(f.module, m));
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

/// What `RedisModuleCommandFilterCtx *` points at: the argument vector being filtered; each
/// element holds one reference owned by the vector.
pub struct FilterCtx {
    argv: Vec<*mut RmString>,
}

/// Marks a RedisModule_Call of `module` (null: none) as running until dropped.
pub struct InCall(*mut Module);

impl InCall {
    /// # Safety
    /// `module` is null or a registered module, which stays loaded while its call runs.
    pub unsafe fn enter(module: *mut Module) -> InCall {
        // SAFETY: per the contract above.
        if let Some(m) = unsafe { module.as_mut() } {
            m.calls_in_progress += 1;
        }
        InCall(module)
    }
}

impl Drop for InCall {
    fn drop(&mut self) {
        // SAFETY: as in `enter`.
        if let Some(m) = unsafe { self.0.as_mut() } {
            m.calls_in_progress -= 1;
        }
    }
}

fn in_call(module: *mut Module) -> bool {
    // SAFETY: a filter's module is registered while its filter is.
    unsafe { module.as_ref() }.is_some_and(|m| m.calls_in_progress > 0)
}

/// Runs every filter over `argv` (no-op without filters).
pub fn apply(srv: &mut Server, argv: &mut Vec<Vec<u8>>) {
    if srv.modules.filters.is_empty() {
        return;
    }
    let mut fctx = FilterCtx {
        argv: argv.iter().map(|a| RmString::new_raw(a)).collect(),
    };
    // Filters registered or unregistered by a filter take effect from the next command; the
    // callbacks are collected first so the list may change under them.
    let todo: Vec<(FilterFunc, *mut Module, c_int)> = srv
        .modules
        .filters
        .list
        .iter()
        .map(|f| (f.callback, f.module, f.flags))
        .collect();
    super::command::set_current_server(srv);
    for (cb, module, flags) in todo {
        if flags & CMDFILTER_NOSELF != 0 && in_call(module) {
            continue;
        }
        // SAFETY: the module registered this callback; the filter context lives across it.
        unsafe { cb(&mut fctx) };
    }
    argv.clear();
    for s in fctx.argv.drain(..) {
        // SAFETY: each element is a live string whose reference the vector owns.
        unsafe {
            argv.push(RmString::get(s).to_vec());
            RmString::release(s);
        }
    }
}

unsafe extern "C" fn register_filter(
    ctx: *mut Ctx,
    callback: FilterFunc,
    flags: c_int,
) -> *mut Filter {
    // SAFETY: a live context.
    let ctx = unsafe { &mut *ctx };
    let module = ctx.module;
    // SAFETY: a live context.
    let srv = unsafe { ctx.server() };
    let mut f = Box::new(Filter {
        module,
        callback,
        flags,
    });
    let p: *mut Filter = &mut *f;
    srv.modules.filters.list.push(f);
    p
}

unsafe extern "C" fn unregister_filter(ctx: *mut Ctx, filter: *mut Filter) -> c_int {
    // SAFETY: a live context.
    let ctx = unsafe { &mut *ctx };
    let module = ctx.module;
    // SAFETY: a live context.
    let srv = unsafe { ctx.server() };
    // Only registered filters are dereferenced: the handle may be stale.
    let Some(i) = srv
        .modules
        .filters
        .list
        .iter()
        .position(|f| std::ptr::eq(&**f, filter))
    else {
        return REDISMODULE_ERR;
    };
    if !std::ptr::eq(srv.modules.filters.list[i].module, module) {
        return REDISMODULE_ERR;
    }
    srv.modules.filters.list.remove(i);
    REDISMODULE_OK
}

unsafe extern "C" fn args_count(fctx: *mut FilterCtx) -> c_int {
    // SAFETY: a live filter context.
    unsafe { (*fctx).argv.len() as c_int }
}

unsafe extern "C" fn arg_get(fctx: *mut FilterCtx, pos: c_int) -> *mut RmString {
    // SAFETY: a live filter context.
    let f = unsafe { &*fctx };
    if pos < 0 || pos as usize >= f.argv.len() {
        return std::ptr::null_mut();
    }
    f.argv[pos as usize]
}

unsafe extern "C" fn arg_insert(fctx: *mut FilterCtx, pos: c_int, arg: *mut RmString) -> c_int {
    // SAFETY: a live filter context.
    let f = unsafe { &mut *fctx };
    if pos < 0 || pos as usize > f.argv.len() {
        return REDISMODULE_ERR;
    }
    // The vector takes over the caller's reference, as in Redis.
    f.argv.insert(pos as usize, arg);
    REDISMODULE_OK
}

unsafe extern "C" fn arg_replace(fctx: *mut FilterCtx, pos: c_int, arg: *mut RmString) -> c_int {
    // SAFETY: a live filter context.
    let f = unsafe { &mut *fctx };
    if pos < 0 || pos as usize >= f.argv.len() {
        return REDISMODULE_ERR;
    }
    let old = std::mem::replace(&mut f.argv[pos as usize], arg);
    // SAFETY: the vector owned one reference to the replaced string.
    unsafe { RmString::release(old) };
    REDISMODULE_OK
}

unsafe extern "C" fn arg_delete(fctx: *mut FilterCtx, pos: c_int) -> c_int {
    // SAFETY: a live filter context.
    let f = unsafe { &mut *fctx };
    if pos < 0 || pos as usize >= f.argv.len() {
        return REDISMODULE_ERR;
    }
    let old = f.argv.remove(pos as usize);
    // SAFETY: the vector owned one reference to the removed string.
    unsafe { RmString::release(old) };
    REDISMODULE_OK
}

pub fn entries() -> Vec<(&'static str, usize)> {
    super::api_entries![
        "RegisterCommandFilter" => register_filter as unsafe extern "C" fn(*mut Ctx, FilterFunc, c_int) -> *mut Filter,
        "UnregisterCommandFilter" => unregister_filter as unsafe extern "C" fn(*mut Ctx, *mut Filter) -> c_int,
        "CommandFilterArgsCount" => args_count as unsafe extern "C" fn(*mut FilterCtx) -> c_int,
        "CommandFilterArgGet" => arg_get as unsafe extern "C" fn(*mut FilterCtx, c_int) -> *mut RmString,
        "CommandFilterArgInsert" => arg_insert as unsafe extern "C" fn(*mut FilterCtx, c_int, *mut RmString) -> c_int,
        "CommandFilterArgReplace" => arg_replace as unsafe extern "C" fn(*mut FilterCtx, c_int, *mut RmString) -> c_int,
        "CommandFilterArgDelete" => arg_delete as unsafe extern "C" fn(*mut FilterCtx, c_int) -> c_int,
    ]
}
