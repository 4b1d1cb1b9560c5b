//! Module commands (CreateCommand, CreateSubcommand, GetCommand) and module registration
//! (SetModuleAttribs, IsModuleNameBusy). A module command joins the server's own command
//! table: same lookup, same checks and statistics; its proc is `module::dispatch`, which finds
//! the C function in the command's `module_cmd`.

use std::ffi::{c_char, c_int};

use super::ctx::{Ctx, REDISMODULE_ERR, REDISMODULE_OK};
use super::string::RmString;
use super::{Module, ModuleCommand};
use crate::commands::spec::{flags, keyflags, BeginSearch, CommandSpec, FindKeys, KeySpec};
use crate::commands::{keyspec, CmdId, Command, NameMap, Special};
use crate::server::Server;

pub type CmdFunc = unsafe extern "C" fn(*mut Ctx, *mut *mut RmString, c_int) -> c_int;

/// What `RedisModuleCommand *` points at: a command of the table.
pub struct CmdHandle {
    pub id: CmdId,
    pub module: *mut Module,
}

/// Parses CreateCommand's flag string (space-separated, any case); None on an unknown flag.
fn parse_flags(s: &[u8]) -> Option<u64> {
    let mut f = 0;
    if s.is_empty() {
        return Some(0);
    }
    // Split on every single space, as Redis does: doubled spaces make an empty, unknown flag.
    for t in s.split(|b| *b == b' ') {
        let t = t.to_ascii_lowercase();
        f |= match &t[..] {
            b"write" => flags::WRITE,
            b"readonly" => flags::READONLY,
            b"admin" => flags::ADMIN,
            b"deny-oom" => flags::DENYOOM,
            b"deny-script" => flags::NOSCRIPT,
            b"allow-loading" => flags::LOADING,
            b"pubsub" => flags::PUBSUB,
            // Deprecated, accepted and ignored.
            b"random" => 0,
            b"blocking" => flags::BLOCKING,
            b"allow-stale" => flags::STALE,
            b"no-monitor" => flags::SKIP_MONITOR,
            b"no-slowlog" => flags::SKIP_SLOWLOG,
            b"fast" => flags::FAST,
            b"no-auth" => flags::NO_AUTH,
            b"may-replicate" => flags::MAY_REPLICATE,
            b"getkeys-api" => flags::MODULE_GETKEYS,
            b"getchannels-api" => flags::MODULE_GETCHANNELS,
            b"no-cluster" => flags::MODULE_NO_CLUSTER,
            b"no-mandatory-keys" => flags::NO_MANDATORY_KEYS,
            b"allow-busy" => flags::ALLOW_BUSY,
            _ => return None,
        };
    }
    Some(f)
}

fn leak_str(s: &str) -> &'static str {
    Box::leak(s.to_string().into_boxed_str())
}

/// Builds the spec Redis derives from the legacy (first, last, step) key positions. Specs
/// are `'static` in the command table, so each registration leaks a small allocation; a
/// module re-registering on reload costs a few hundred bytes.
#[allow(clippy::too_many_arguments)]
fn make_spec(
    name: &str,
    arity: i32,
    cmd_flags: u64,
    firstkey: i32,
    lastkey: i32,
    keystep: i32,
) -> &'static CommandSpec {
    let key_specs: &'static [KeySpec] = if firstkey != 0 {
        let mut kf = keyflags::RW | keyflags::ACCESS | keyflags::UPDATE;
        if cmd_flags & flags::MODULE_GETKEYS != 0 {
            kf |= keyflags::VARIABLE_FLAGS;
        }
        Box::leak(Box::new([KeySpec {
            notes: "",
            flags: kf,
            begin_search: BeginSearch::Index(firstkey),
            find_keys: FindKeys::Range {
                lastkey: if lastkey < 0 {
                    lastkey
                } else {
                    lastkey - firstkey
                },
                keystep,
                limit: 0,
            },
        }]))
    } else {
        &[]
    };
    Box::leak(Box::new(CommandSpec {
        name: leak_str(name),
        summary: "",
        since: "",
        group: "module",
        complexity: "",
        doc_flags: 0,
        deprecated_since: "",
        replaced_by: "",
        history: &[],
        tips: &[],
        arity,
        flags: cmd_flags,
        acl_categories: 0,
        key_specs,
        get_keys: None,
        args: &[],
        subcommands: &[],
    }))
}

/// Adds a module command to the table; returns its id and handle.
#[allow(clippy::too_many_arguments)]
fn add(
    srv: &mut Server,
    module: *mut Module,
    declared: &str,
    parent: Option<CmdId>,
    func: Option<CmdFunc>,
    cmd_flags: u64,
    firstkey: i32,
    lastkey: i32,
    keystep: i32,
    arity: i32,
) -> *mut CmdHandle {
    let cmd_flags = cmd_flags | flags::MODULE;
    let spec = make_spec(declared, arity, cmd_flags, firstkey, lastkey, keystep);
    let fullname = match parent {
        Some(p) => keyspec::command_full_name(&srv.commands.cmds[p].fullname, declared),
        None => declared.to_string(),
    };
    let mut all_flags = cmd_flags;
    if cmd_flags & flags::MODULE_GETKEYS != 0 {
        all_flags |= flags::MOVABLE_KEYS;
    }
    let id = srv.commands.cmds.len();
    srv.commands.cmds.push(Command {
        special: Special::None,
        spec,
        fullname,
        proc_: func.map(|_| super::dispatch as crate::commands::CmdProc),
        flags: all_flags,
        // Module commands get no implicit ACL categories (not even @slow), as in Redis 7.0.
        acl_categories: 0,
        parent,
        subcommands: NameMap::default(),
        calls: 0,
        usec: 0,
        rejected_calls: 0,
        failed_calls: 0,
        latency: None,
        module_cmd: Some(ModuleCommand {
            func,
            module,
            // SAFETY: the module is live (it is registering the command).
            label: super::crash::make_label(&format!(
                "module '{}', command '{}'",
                unsafe { &(*module).name },
                declared
            )),
        }),
    });
    let key = declared.to_ascii_lowercase().into_bytes();
    match parent {
        Some(p) => {
            srv.commands.cmds[p].subcommands.insert(key, id);
        }
        None => {
            srv.commands.by_name.insert(key, id);
        }
    }
    let handle = Box::into_raw(Box::new(CmdHandle { id, module }));
    // SAFETY: the module is live (it is registering the command).
    unsafe {
        (*module).commands.push(id);
        (*module).handles.push(handle);
    }
    handle
}

unsafe extern "C" fn create_command(
    ctx: *mut Ctx,
    name: *const c_char,
    func: Option<CmdFunc>,
    strflags: *const c_char,
    firstkey: c_int,
    lastkey: c_int,
    keystep: c_int,
) -> c_int {
    // SAFETY: a live context.
    let ctx = unsafe { &mut *ctx };
    if ctx.module.is_null() {
        return REDISMODULE_ERR;
    }
    let cmd_flags = if strflags.is_null() {
        0
    } else {
        // SAFETY: a C string.
        match parse_flags(unsafe { super::cstr(strflags) }) {
            Some(f) => f,
            None => return REDISMODULE_ERR,
        }
    };
    // SAFETY: a C string.
    let name = String::from_utf8_lossy(unsafe { super::cstr(name) }).into_owned();
    // SAFETY: a live context.
    let srv = unsafe { ctx.server() };
    if srv.commands.lookup_fullname(name.as_bytes()).is_some() {
        return REDISMODULE_ERR;
    }
    let arity = if func.is_some() { -1 } else { -2 };
    add(
        srv, ctx.module, &name, None, func, cmd_flags, firstkey, lastkey, keystep, arity,
    );
    REDISMODULE_OK
}

unsafe extern "C" fn get_command(ctx: *mut Ctx, name: *const c_char) -> *mut CmdHandle {
    // SAFETY: a live context and a C string.
    let (ctx, name) = unsafe { (&mut *ctx, super::cstr(name)) };
    // SAFETY: a live context.
    let srv = unsafe { ctx.server() };
    let Some(id) = srv.commands.lookup_fullname(name) else {
        return std::ptr::null_mut();
    };
    let Some(mc) = srv.commands.cmds[id].module_cmd else {
        return std::ptr::null_mut();
    };
    if mc.module != ctx.module {
        return std::ptr::null_mut();
    }
    // SAFETY: the module is live and owns its handles.
    unsafe {
        (*ctx.module)
            .handles
            .iter()
            .copied()
            .find(|h| (**h).id == id)
            .unwrap_or(std::ptr::null_mut())
    }
}

unsafe extern "C" fn create_subcommand(
    parent: *mut CmdHandle,
    name: *const c_char,
    func: Option<CmdFunc>,
    strflags: *const c_char,
    firstkey: c_int,
    lastkey: c_int,
    keystep: c_int,
) -> c_int {
    if parent.is_null() {
        return REDISMODULE_ERR;
    }
    let cmd_flags = if strflags.is_null() {
        0
    } else {
        // SAFETY: a C string.
        match parse_flags(unsafe { super::cstr(strflags) }) {
            Some(f) => f,
            None => return REDISMODULE_ERR,
        }
    };
    // SAFETY: handles live as long as their module, which is registering this command.
    let (pid, module) = unsafe { ((*parent).id, (*parent).module) };
    let Some(srv) = current_server() else {
        return REDISMODULE_ERR;
    };
    let pcmd = &srv.commands.cmds[pid];
    // One level of subcommands only, and the parent must be a pure container.
    if pcmd.parent.is_some() || pcmd.module_cmd.and_then(|m| m.func).is_some() {
        return REDISMODULE_ERR;
    }
    // SAFETY: a C string.
    let name = String::from_utf8_lossy(unsafe { super::cstr(name) }).into_owned();
    if pcmd
        .subcommands
        .contains_key(name.to_ascii_lowercase().as_bytes())
    {
        return REDISMODULE_ERR;
    }
    add(
        srv,
        module,
        &name,
        Some(pid),
        func,
        cmd_flags,
        firstkey,
        lastkey,
        keystep,
        -2,
    );
    REDISMODULE_OK
}

thread_local! {
    /// The server while module code runs; for API functions that get no context.
    static SERVER: std::cell::Cell<*mut Server> = const { std::cell::Cell::new(std::ptr::null_mut()) };
}

thread_local! {
    /// The client of the module command running now (it is out of the client table then).
    static CLIENT: std::cell::Cell<*mut crate::client::Client> = const { std::cell::Cell::new(std::ptr::null_mut()) };
}

/// Records the client of the module command about to run; returns the previous one.
pub fn enter_client(c: *mut crate::client::Client) -> *mut crate::client::Client {
    CLIENT.with(|x| x.replace(c))
}

pub fn leave_client(prev: *mut crate::client::Client) {
    CLIENT.with(|x| x.set(prev));
}

/// The client of the running module command, if any.
pub fn running_client<'a>() -> Option<&'a mut crate::client::Client> {
    // SAFETY: set by `dispatch` for the duration of the module call, during which the client
    // is live and reached only through module code.
    CLIENT.with(|x| unsafe { x.get().as_mut() })
}

/// Records the server for context-less API functions (set on every entry into a module).
pub fn set_current_server(srv: *mut Server) {
    SERVER.with(|s| s.set(srv));
}

/// The server, for an API function called from module code without a context.
pub fn current_server<'a>() -> Option<&'a mut Server> {
    // SAFETY: the pointer is set when module code is entered from the server thread, whose
    // server outlives every call into a module; module code runs only on that thread (or
    // under the GIL, not implemented yet).
    SERVER.with(|s| unsafe { s.get().as_mut() })
}

unsafe extern "C" fn set_module_attribs(
    ctx: *mut Ctx,
    name: *const c_char,
    ver: c_int,
    apiver: c_int,
) {
    // SAFETY: a live context and a C string.
    let (ctx, name) = unsafe { (&mut *ctx, super::cstr(name)) };
    if !ctx.module.is_null() {
        return;
    }
    let module = Box::new(Module {
        name: String::from_utf8_lossy(name).into_owned(),
        ver,
        apiver,
        path: String::new(),
        args: Vec::new(),
        lib: None,
        commands: Vec::new(),
        handles: Vec::new(),
        options: 0,
        info_cb: None,
        defrag_cb: None,
        alloc_slot: super::alloc::UNATTRIBUTED,
        calls_in_progress: 0,
    });
    ctx.module = Box::into_raw(module);
}

unsafe extern "C" fn is_module_name_busy(name: *const c_char) -> c_int {
    // SAFETY: a C string.
    let name = String::from_utf8_lossy(unsafe { super::cstr(name) }).into_owned();
    match current_server() {
        Some(srv) => srv.modules.find(&name).is_some() as c_int,
        None => 0,
    }
}

/// Removes every command of a module from the table (unload, or a failed OnLoad). Ids stay
/// allocated (the table is indexed by id) but nothing reaches them any more.
pub fn unregister_all(srv: &mut Server, module: &Module) {
    for &id in &module.commands {
        let (parent, key) = {
            let c = &srv.commands.cmds[id];
            (c.parent, c.spec.name.to_ascii_lowercase().into_bytes())
        };
        match parent {
            Some(p) => {
                if srv.commands.cmds[p].subcommands.get(&key) == Some(&id) {
                    srv.commands.cmds[p].subcommands.remove(&key);
                }
            }
            None => {
                if srv.commands.by_name.get(&key) == Some(&id) {
                    srv.commands.by_name.remove(&key);
                }
            }
        }
        let c = &mut srv.commands.cmds[id];
        c.proc_ = None;
        c.module_cmd = None;
        c.subcommands.clear();
    }
    for &h in &module.handles {
        // SAFETY: handles were created by `add` with Box::into_raw and are freed once, here.
        drop(unsafe { Box::from_raw(h) });
    }
}

pub fn entries() -> Vec<(&'static str, usize)> {
    type Create = unsafe extern "C" fn(
        *mut Ctx,
        *const c_char,
        Option<CmdFunc>,
        *const c_char,
        c_int,
        c_int,
        c_int,
    ) -> c_int;
    type CreateSub = unsafe extern "C" fn(
        *mut CmdHandle,
        *const c_char,
        Option<CmdFunc>,
        *const c_char,
        c_int,
        c_int,
        c_int,
    ) -> c_int;
    super::api_entries![
        "CreateCommand" => create_command as Create,
        "GetCommand" => get_command as unsafe extern "C" fn(*mut Ctx, *const c_char) -> *mut CmdHandle,
        "CreateSubcommand" => create_subcommand as CreateSub,
        "SetModuleAttribs" => set_module_attribs as unsafe extern "C" fn(*mut Ctx, *const c_char, c_int, c_int),
        "IsModuleNameBusy" => is_module_name_busy as unsafe extern "C" fn(*const c_char) -> c_int,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_strings_parse_as_redis_does() {
        assert_eq!(
            parse_flags(b"write deny-oom"),
            Some(flags::WRITE | flags::DENYOOM)
        );
        assert_eq!(
            parse_flags(b"READONLY fast"),
            Some(flags::READONLY | flags::FAST)
        );
        assert_eq!(parse_flags(b"readonly  fast"), None);
        assert_eq!(parse_flags(b""), Some(0));
        assert_eq!(parse_flags(b"random"), Some(0));
        assert_eq!(parse_flags(b"write bogus"), None);
    }
}
