//! The modules system: loading `.so` files built against `redismodule.h` (ours or upstream's,
//! any API version), the registry of loaded modules, the `MODULE` command, and the dispatch of
//! module commands. The API functions themselves live in the submodules, one per section of
//! the header; `api.rs` holds the one table GetApi answers from.
//!
//! Module code runs synchronously on the server thread. Every entry into a module (OnLoad, a
//! command, a callback) passes a `RedisModuleCtx` that carries raw pointers to the server and
//! the client it acts for; API functions reach the server through them.

pub mod acl;
pub mod alloc;
pub mod api;
pub mod block;
pub mod call;
pub mod channels;
pub mod clients;
pub mod cmdinfo;
pub mod command;
pub mod config;
pub mod crash;
pub mod ctx;
pub mod datatype;
pub mod defrag;
pub mod dict;
pub mod eventloop;
pub mod events;
pub mod filter;
pub mod fork;
pub mod getkeys;
pub mod host;
pub mod info;
pub mod io;
pub mod key;
pub mod keyclock;
pub mod latency;
pub mod misc;
pub mod notify;
pub mod reply;
pub mod scan;
pub mod shared;
pub mod stream;
pub mod string;
pub mod threads;
pub mod timer;
pub mod zsetrange;

use std::ffi::{c_char, c_int};

use crate::client::Client;
use crate::commands::CmdId;
use crate::server::Server;
use ctx::{Ctx, REDISMODULE_ERR};

/// `int RedisModule_OnLoad(RedisModuleCtx *ctx, RedisModuleString **argv, int argc)`; modules
/// written for the first API version declare only the context argument, which the C calling
/// convention makes harmless.
type OnLoadFn = unsafe extern "C" fn(*mut Ctx, *mut *mut string::RmString, c_int) -> c_int;
type OnUnloadFn = unsafe extern "C" fn(*mut Ctx) -> c_int;

/// A loaded module.
pub struct Module {
    pub name: String,
    pub ver: i32,
    pub apiver: i32,
    pub path: String,
    pub args: Vec<Vec<u8>>,
    /// The library; dropped (dlclose) when the module is unloaded.
    pub lib: Option<libloading::Library>,
    /// Top-level commands it registered (subcommands go with their container).
    pub commands: Vec<CmdId>,
    /// The `RedisModuleCommand` handles given out for them, freed on unload.
    pub handles: Vec<*mut command::CmdHandle>,
    /// Module options (RedisModule_SetModuleOptions).
    pub options: i32,
    /// Its INFO sections (RegisterInfoFunc).
    pub info_cb: Option<info::InfoFunc>,
    /// Its global defrag callback (RegisterDefragFunc).
    pub defrag_cb: Option<defrag::DefragFunc>,
    /// Its slot of counted allocation functions (alloc.rs).
    pub alloc_slot: usize,
    /// Its RedisModule_Call calls in progress (nested ones counted), for filters that skip
    /// the module's own calls (NOSELF).
    pub calls_in_progress: usize,
}

/// Every loaded module, in load order (MODULE LIST order is not specified by Redis).
#[derive(Default)]
pub struct Modules {
    pub list: Vec<Box<Module>>,
    pub timers: timer::Timers,
    /// Keyspace notification subscribers, in registration order.
    pub subscribers: Vec<notify::Subscriber>,
    /// Command filters.
    pub filters: filter::Filters,
    /// APIs exported between modules.
    pub shared: shared::Shared,
    /// Module configs and the values queued for them.
    pub configs: config::Configs,
    /// Server event listeners.
    pub events: events::Listeners,
    /// The done handler of a module's fork child.
    pub fork: fork::ForkState,
    /// Module strings reused for module commands' arguments.
    pub arg_strings: string::ArgStrings,
    /// Allocations reused for key handles.
    pub key_handles: key::KeyHandles,
    /// Clients reused by RedisModule_Call.
    pub call_clients: call::CallClients,
}

impl Modules {
    pub fn find(&self, name: &str) -> Option<usize> {
        self.list
            .iter()
            .position(|m| m.name.eq_ignore_ascii_case(name))
    }
}

/// The command data of a module command: the C function and its module.
#[derive(Clone, Copy)]
pub struct ModuleCommand {
    pub func: Option<command::CmdFunc>,
    pub module: *mut Module,
    /// "module 'm', command 'c'" for crash reports.
    pub label: *const c_char,
}

/// Why MODULE UNLOAD refused.
#[derive(Debug, PartialEq, Eq)]
pub enum UnloadError {
    NoSuchModule,
    HasTypes,
    UsedByOthers,
    BlockedClients,
    HoldsTimer,
    OnUnloadFailed,
}

impl UnloadError {
    pub fn message(&self) -> &'static str {
        match self {
            UnloadError::NoSuchModule => "no such module with that name",
            UnloadError::HasTypes => {
                "the module exports one or more module-side data types, can't unload"
            }
            UnloadError::UsedByOthers => {
                "the module exports APIs used by other modules. Please unload them first and try again"
            }
            UnloadError::BlockedClients => {
                "the module has blocked clients. Please wait them unblocked and try again"
            }
            UnloadError::HoldsTimer => {
                "the module holds timer that is not fired. Please stop the timer or wait until it fires."
            }
            UnloadError::OnUnloadFailed => "operation not possible.",
        }
    }
}

/// Loads a module and runs its OnLoad; on any failure nothing it registered stays behind.
/// Failures are logged (MODULE LOAD answers one generic error, as Redis does).
#[allow(clippy::result_unit_err)]
pub fn load(srv: &mut Server, path: &str, args: &[Vec<u8>]) -> Result<(), ()> {
    load_ex(srv, path, args, false)
}

/// `load` for MODULE LOADEX too: then every queued config value must have been consumed by
/// the module's LoadConfigs.
#[allow(clippy::result_unit_err)]
pub fn load_ex(srv: &mut Server, path: &str, args: &[Vec<u8>], is_loadex: bool) -> Result<(), ()> {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(md) = std::fs::metadata(path) {
        // Best effort, as in Redis: a file nobody may execute is refused before dlopen.
        if md.permissions().mode() & 0o111 == 0 {
            crate::log_warning!(
                "Module {} failed to load: It does not have execute permissions.",
                path
            );
            return Err(());
        }
    }
    // SAFETY: loading a shared object runs its constructors; that is what loading a module
    // means, and the user asked for this file. RTLD_NOW|RTLD_LOCAL as Redis opens modules.
    let lib = match unsafe {
        libloading::os::unix::Library::open(
            Some(path),
            libloading::os::unix::RTLD_NOW | libloading::os::unix::RTLD_LOCAL,
        )
    } {
        Ok(l) => libloading::Library::from(l),
        Err(e) => {
            // dlerror()'s text, as Redis logs it.
            let msg = std::error::Error::source(&e)
                .map(|s| s.to_string())
                .unwrap_or_else(|| e.to_string());
            crate::log_warning!("Module {} failed to load: {}", path, msg);
            return Err(());
        }
    };
    // SAFETY: the symbol is declared by redismodule.h with exactly this signature.
    let onload: OnLoadFn = match unsafe { lib.get::<OnLoadFn>(b"RedisModule_OnLoad\0") } {
        Ok(f) => *f,
        Err(_) => {
            crate::log_warning!(
                "Module {} does not export RedisModule_OnLoad() symbol. Module not loaded.",
                path
            );
            return Err(());
        }
    };
    let mut argv: Vec<*mut string::RmString> =
        args.iter().map(|a| string::RmString::new_raw(a)).collect();
    let mut ctx = Ctx::new(srv, std::ptr::null_mut(), ctx::flags::TEMP_CLIENT);
    let alloc_slot = alloc::claim_slot();
    api::begin_load_report(alloc_slot);
    let prev = crash::enter(crash::make_label(&format!("the OnLoad of module {}", path)));
    // SAFETY: OnLoad gets a valid context and `argv.len()` valid strings, as the ABI says.
    let rc = unsafe { onload(&mut ctx, argv.as_mut_ptr(), argv.len() as c_int) };
    crash::leave(prev);
    let missing = api::end_load_report();
    let module_ptr = ctx.module;
    if rc == REDISMODULE_ERR || module_ptr.is_null() {
        crate::log_warning!("Module {} initialization failed. Module not loaded", path);
        if !module_ptr.is_null() {
            // SAFETY: the module structure was created by SetModuleAttribs for this context
            // and is owned by nobody else yet.
            let module = unsafe { Box::from_raw(module_ptr) };
            command::unregister_all(srv, &module);
            srv.modules
                .subscribers
                .retain(|s| !std::ptr::eq(s.module, module_ptr));
            forget_services(srv, module_ptr);
            srv.modules
                .timers
                .by_id
                .retain(|_, t| !std::ptr::eq(t.module, module_ptr));
        }
        ctx.finish();
        drop(ctx);
        release_argv(argv);
        drop(lib);
        alloc::release_slot(alloc_slot);
        return Err(());
    }
    ctx.finish();
    drop(ctx);
    // SAFETY: as above; the registry owns the module from here on.
    let mut module = unsafe { Box::from_raw(module_ptr) };
    if !missing.is_empty() {
        crate::log_warning!(
            "Module '{}' asked for {} module API function(s) this server does not implement yet (NULL to the module): {}",
            module.name,
            missing.len(),
            missing
                .iter()
                .map(|n| format!("RedisModule_{}", n))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    module.lib = Some(lib);
    module.alloc_slot = alloc_slot;
    module.path = path.to_string();
    module.args = args.to_vec();
    crate::log_notice!("Module '{}' loaded from {}", module.name, path);
    release_argv(argv);
    let name = module.name.clone();
    srv.modules.list.push(module);
    if srv.modules.configs.needs_load(module_ptr) {
        crate::log_warning!("Module Configurations were not set, likely a missing LoadConfigs call. Unloading the module.");
        let _ = unload(srv, &name);
        return Err(());
    }
    if is_loadex && !srv.modules.configs.queue_is_empty() {
        crate::log_warning!("Loadex configurations were not applied, likely due to invalid arguments. Unloading the module.");
        let _ = unload(srv, &name);
        return Err(());
    }
    events::fire_module_change(srv, module_ptr, false);
    Ok(())
}

fn release_argv(argv: Vec<*mut string::RmString>) {
    for s in argv {
        // SAFETY: each string was created above with one reference, which this releases;
        // a module that kept one took its own reference with RetainString/HoldString.
        unsafe { string::RmString::release(s) };
    }
}

/// Unloads a module by name with Redis 7.0's refusals.
pub fn unload(srv: &mut Server, name: &str) -> Result<(), UnloadError> {
    let Some(idx) = srv.modules.find(name) else {
        return Err(UnloadError::NoSuchModule);
    };
    let module_ptr: *mut Module = &mut *srv.modules.list[idx];
    // Redis' order of refusals: data types, exported APIs in use, blocked clients, timers.
    if datatype::module_has_types(module_ptr) {
        return Err(UnloadError::HasTypes);
    }
    if srv.modules.shared.is_used(module_ptr) {
        return Err(UnloadError::UsedByOthers);
    }
    if block::blocked_clients_of(module_ptr) > 0 {
        return Err(UnloadError::BlockedClients);
    }
    if srv.modules.timers.holds_module(module_ptr) {
        return Err(UnloadError::HoldsTimer);
    }
    // SAFETY: the library stays loaded until the module is removed below.
    let onunload = srv.modules.list[idx]
        .lib
        .as_ref()
        .and_then(|l| unsafe { l.get::<OnUnloadFn>(b"RedisModule_OnUnload\0").ok() })
        .map(|f| *f);
    if let Some(f) = onunload {
        let mut ctx = Ctx::new(srv, module_ptr, ctx::flags::TEMP_CLIENT);
        // SAFETY: a valid context for this module.
        let rc = unsafe { f(&mut ctx) };
        ctx.finish();
        drop(ctx);
        if rc == REDISMODULE_ERR {
            crate::log_warning!("Module {} OnUnload failed.  Unload canceled.", name);
            return Err(UnloadError::OnUnloadFailed);
        }
    }
    // Clients it authenticated must not call back into a module that is gone.
    acl::revoke_clients_of_module(srv, module_ptr);
    let module = srv.modules.list.remove(idx);
    command::unregister_all(srv, &module);
    srv.modules
        .subscribers
        .retain(|s| !std::ptr::eq(s.module, module_ptr));
    forget_services(srv, module_ptr);
    events::fire_module_change(srv, &*module, true);
    crate::log_notice!("Module {} unloaded", module.name);
    alloc::release_slot(module.alloc_slot);
    drop(module);
    Ok(())
}

/// Module work done in before-sleep: one-shot event loop callbacks, and the clients modules
/// unblocked (from any thread) since the last time.
pub fn before_sleep(srv: &mut Server) {
    threads::end_main_busy(srv);
    eventloop::run_one_shots();
    block::handle_unblocked(srv);
}

/// Whether module work waits for before-sleep (the event loop must not sleep meanwhile).
pub fn has_pending_work() -> bool {
    block::has_pending() || eventloop::has_pending()
}

/// Drops what a module registered with the service APIs (command filters, shared APIs,
/// configs, event listeners) when it is unloaded or its load fails.
fn forget_services(srv: &mut Server, m: *mut Module) {
    datatype::forget_module(m);
    srv.modules.filters.forget(m);
    srv.modules.shared.forget(m);
    srv.modules.configs.forget(m);
    srv.modules.events.forget(m);
}

/// Loads the modules named by `loadmodule` directives and `--loadmodule`; a failure stops the
/// server, as in Redis.
pub fn load_from_config(srv: &mut Server, queue: &[Vec<Vec<u8>>]) {
    for line in queue {
        let path = String::from_utf8_lossy(&line[0]).into_owned();
        if load(srv, &path, &line[1..]).is_err() {
            crate::log_warning!("Can't load module from {}: server aborting", path);
            std::process::exit(1);
        }
    }
    if !srv.modules.configs.queue_is_empty() {
        crate::log_warning!("Module Configuration detected without loadmodule directive or no ApplyConfig call: aborting");
        std::process::exit(1);
    }
}

/// The proc of every module command: builds the context and argv and calls the module.
pub fn dispatch(srv: &mut Server, c: &mut Client) {
    let id = srv.running_cmd;
    let Some(mc) = srv.commands.cmds[id].module_cmd else {
        return;
    };
    let Some(func) = mc.func else {
        crate::commands::reply_subcommand_syntax_error(c);
        return;
    };
    let mut argv = srv.modules.arg_strings.lend(&c.argv);
    {
        // The context is dropped in place at the end of this block (moving it into `drop`
        // would copy it).
        let mut ctx = Ctx::for_command(srv, mc.module);
        ctx.client = c;
        let prev = crash::enter(mc.label);
        let prev_client = command::enter_client(ctx.client);
        // SAFETY: the context points at the live server and client for the duration of the
        // call; the argv strings are valid and owned by this function.
        unsafe { func(&mut ctx, argv.as_mut_ptr(), argv.argc()) };
        command::leave_client(prev_client);
        crash::leave(prev);
        ctx.finish();
    }
    srv.modules.arg_strings.give_back(argv);
    // The outermost module command is over: a yield it started ends (Redis ends it when
    // the module context nesting drops to zero).
    if srv.prop.depth <= 1 {
        threads::end_busy(srv);
    }
}

/// `MODULE LIST` reply.
fn module_list(srv: &mut Server, c: &mut Client) {
    reply_module_list(srv, c);
}

/// The loaded modules as `MODULE LIST` and HELLO's `modules` field describe them.
pub fn reply_module_list(srv: &Server, c: &mut Client) {
    c.out.array(srv.modules.list.len());
    for m in &srv.modules.list {
        c.out.map(5);
        c.out.bulk(b"name");
        c.out.bulk(m.name.as_bytes());
        c.out.bulk(b"ver");
        c.out.int(m.ver as i64);
        c.out.bulk(b"path");
        c.out.bulk(m.path.as_bytes());
        c.out.bulk(b"args");
        c.out.array(m.args.len());
        for a in &m.args {
            c.out.bulk(a);
        }
        // Beyond Redis: what it holds through the memory API.
        c.out.bulk(b"allocated_bytes");
        c.out.int(alloc::held(m.alloc_slot) as i64);
    }
}

const LOAD_ERROR: &str = "Error loading the extension. Please check the server logs.";

fn module_load(srv: &mut Server, c: &mut Client) {
    let path = String::from_utf8_lossy(&c.argv[2]).into_owned();
    let args = c.argv[3..].to_vec();
    match load(srv, &path, &args) {
        Ok(()) => c.out.ok(),
        Err(()) => c.out.error(LOAD_ERROR),
    }
}

fn module_loadex(srv: &mut Server, c: &mut Client) {
    let path = String::from_utf8_lossy(&c.argv[2]).into_owned();
    // `[CONFIG name value ...] [ARGS arg ...]`: config values wait in the queue for the
    // module's LoadConfigs.
    let mut args: Vec<Vec<u8>> = Vec::new();
    let mut ok = true;
    let mut i = 3;
    while i < c.argv.len() {
        let a = &c.argv[i];
        if a.eq_ignore_ascii_case(b"config") {
            if i + 2 >= c.argv.len() {
                crate::log_notice!("CONFIG specified without name value pair");
                ok = false;
                break;
            }
            srv.modules.configs.queue(&c.argv[i + 1], &c.argv[i + 2]);
            i += 3;
        } else if a.eq_ignore_ascii_case(b"args") {
            args = c.argv[i + 1..].to_vec();
            break;
        } else {
            crate::log_notice!(
                "Syntax Error from arguments to loadex around {}.",
                String::from_utf8_lossy(a)
            );
            ok = false;
            break;
        }
    }
    if ok && load_ex(srv, &path, &args, true).is_ok() {
        c.out.ok();
    } else {
        srv.modules.configs.clear_queue();
        c.out.error(LOAD_ERROR);
    }
}

fn module_unload(srv: &mut Server, c: &mut Client) {
    let name = String::from_utf8_lossy(&c.argv[2]).into_owned();
    match unload(srv, &name) {
        Ok(()) => c.out.ok(),
        Err(e) => c
            .out
            .error(&format!("Error unloading module: {}", e.message())),
    }
}

fn module_help(_srv: &mut Server, c: &mut Client) {
    crate::commands::reply_help(
        c,
        &[
            "LIST",
            "    Return a list of loaded modules.",
            "LOAD <path> [<arg> ...]",
            "    Load a module library from <path>, passing to it any optional arguments.",
            "LOADEX <path> [[CONFIG NAME VALUE] [CONFIG NAME VALUE]] [ARGS ...]",
            "    Load a module library from <path>, while passing it module configurations and optional arguments.",
            "UNLOAD <name>",
            "    Unload a module.",
        ],
    );
}

/// The MODULE command's subcommands.
pub fn lookup(fullname: &str) -> Option<crate::commands::CmdProc> {
    Some(match fullname {
        "module|list" => module_list,
        "module|load" => module_load,
        "module|loadex" => module_loadex,
        "module|unload" => module_unload,
        "module|help" => module_help,
        _ => return None,
    })
}

/// Reads a C string argument (NULL reads as empty).
///
/// # Safety
/// `p` is NULL or a valid NUL-terminated string.
pub(crate) unsafe fn cstr<'a>(p: *const c_char) -> &'a [u8] {
    if p.is_null() {
        return b"";
    }
    // SAFETY: per the contract above.
    unsafe { std::ffi::CStr::from_ptr(p).to_bytes() }
}

/// Sets C's errno, which several API functions use to say why they failed.
pub(crate) fn set_errno(e: c_int) {
    // SAFETY: errno is thread-local and always writable.
    unsafe { *libc::__errno_location() = e };
}

/// `(name, function address)` pairs for a section's implemented API functions.
macro_rules! api_entries {
    ($($name:literal => $f:expr),* $(,)?) => {
        vec![$(($name, $f as usize)),*]
    };
}
pub(crate) use api_entries;

/// Every implemented API function, from all sections.
pub fn implemented() -> Vec<(&'static str, usize)> {
    let mut v = Vec::new();
    v.extend(alloc::entries());
    v.extend(command::entries());
    v.extend(cmdinfo::entries());
    v.extend(getkeys::entries());
    v.extend(channels::entries());
    v.extend(scan::entries());
    v.extend(reply::entries());
    v.extend(string::entries());
    v.extend(call::entries());
    v.extend(key::entries());
    v.extend(keyclock::entries());
    v.extend(stream::entries());
    v.extend(fork::entries());
    v.extend(latency::entries());
    v.extend(zsetrange::entries());
    v.extend(misc::entries());
    v.extend(timer::entries());
    v.extend(dict::entries());
    v.extend(info::entries());
    v.extend(info::server_info_entries());
    v.extend(notify::entries());
    v.extend(block::entries());
    v.extend(threads::entries());
    v.extend(threads::yield_entries());
    v.extend(eventloop::entries());
    v.extend(filter::entries());
    v.extend(shared::entries());
    v.extend(config::entries());
    v.extend(events::entries());
    v.extend(clients::entries());
    v.extend(acl::entries());
    v.extend(datatype::entries());
    v.extend(io::entries());
    v.extend(defrag::entries());
    v
}
