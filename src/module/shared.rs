//! APIs modules export to each other (ExportSharedAPI, GetSharedAPI): a name -> function
//! registry, plus who uses whom, which INFO's module lines show (`usedby`, `using`) and which
//! keeps a module whose API is in use from being unloaded.

use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_void};

use super::ctx::{Ctx, REDISMODULE_ERR, REDISMODULE_OK};
use super::Module;

#[derive(Default)]
pub struct Shared {
    /// API name (case-sensitive, as 7.0's dict) -> exporting module and function.
    apis: HashMap<Vec<u8>, (*mut Module, *mut c_void)>,
    /// (user, used) pairs in the order they were first established.
    uses: Vec<(*mut Module, *mut Module)>,
}

impl Shared {
    /// Names of the modules using `m`'s APIs and of those whose APIs `m` uses.
    pub fn users_and_used(&self, m: *const Module) -> (Vec<String>, Vec<String>) {
        let name = |p: *mut Module| {
            // SAFETY: both sides of a use are registered modules (a module leaves the list
            // when it is unloaded).
            unsafe { (*p).name.clone() }
        };
        let usedby = self
            .uses
            .iter()
            .filter(|(_, used)| std::ptr::eq(*used, m))
            .map(|(user, _)| name(*user))
            .collect();
        let using = self
            .uses
            .iter()
            .filter(|(user, _)| std::ptr::eq(*user, m))
            .map(|(_, used)| name(*used))
            .collect();
        (usedby, using)
    }

    /// Whether some other module uses `m`'s APIs (then `m` may not be unloaded).
    pub fn is_used(&self, m: *const Module) -> bool {
        self.uses.iter().any(|(_, used)| std::ptr::eq(*used, m))
    }

    /// Drops what `m` exported and its uses of others (it is being unloaded).
    pub fn forget(&mut self, m: *mut Module) {
        self.apis.retain(|_, (owner, _)| !std::ptr::eq(*owner, m));
        self.uses.retain(|(user, _)| !std::ptr::eq(*user, m));
    }
}

unsafe extern "C" fn export_shared_api(
    ctx: *mut Ctx,
    name: *const c_char,
    func: *mut c_void,
) -> c_int {
    // SAFETY: a live context and a C string.
    let (ctx, name) = unsafe { (&mut *ctx, super::cstr(name)) };
    let module = ctx.module;
    // SAFETY: a live context.
    let srv = unsafe { ctx.server() };
    if srv.modules.shared.apis.contains_key(name) {
        return REDISMODULE_ERR;
    }
    srv.modules
        .shared
        .apis
        .insert(name.to_vec(), (module, func));
    REDISMODULE_OK
}

unsafe extern "C" fn get_shared_api(ctx: *mut Ctx, name: *const c_char) -> *mut c_void {
    // SAFETY: a live context and a C string.
    let (ctx, name) = unsafe { (&mut *ctx, super::cstr(name)) };
    let module = ctx.module;
    // SAFETY: a live context.
    let srv = unsafe { ctx.server() };
    let Some(&(owner, func)) = srv.modules.shared.apis.get(name) else {
        return std::ptr::null_mut();
    };
    let uses = &mut srv.modules.shared.uses;
    if !uses
        .iter()
        .any(|(u, o)| std::ptr::eq(*u, module) && std::ptr::eq(*o, owner))
    {
        uses.push((module, owner));
    }
    func
}

pub fn entries() -> Vec<(&'static str, usize)> {
    super::api_entries![
        "ExportSharedAPI" => export_shared_api as unsafe extern "C" fn(*mut Ctx, *const c_char, *mut c_void) -> c_int,
        "GetSharedAPI" => get_shared_api as unsafe extern "C" fn(*mut Ctx, *const c_char) -> *mut c_void,
    ]
}
