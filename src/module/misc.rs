//! Small API sections: logging, time, auto-memory, the selected database, client ids and
//! module options.

use std::ffi::{c_char, c_int, c_longlong, c_ulonglong};

use super::ctx::{flags, AutoEntry, Ctx, REDISMODULE_ERR, REDISMODULE_OK};
use crate::server::log;

/// Releases what auto-memory tracked, newest first.
pub fn auto_memory_collect(ctx: &mut Ctx) {
    // Entries freed during the collection must not be seen twice: take the list first and
    // keep auto-memory off while releasing.
    let entries = std::mem::take(&mut ctx.auto);
    let saved = ctx.flags;
    ctx.flags &= !flags::AUTO_MEMORY;
    for e in entries.into_iter().rev() {
        match e {
            // SAFETY: auto-memory holds one reference to each tracked string.
            AutoEntry::Str(s) => unsafe { super::string::RmString::release(s) },
            // SAFETY: tracked keys are open and owned by the context.
            AutoEntry::Key(k) => unsafe { super::key::close_key(k) },
            AutoEntry::Reply(r) => {
                // SAFETY: tracked replies are live roots.
                unsafe {
                    (*r).clear_owner();
                    super::call::free_call_reply(r)
                }
            }
        }
    }
    ctx.flags = saved;
}

fn level_of(level: &[u8]) -> i32 {
    match level.to_ascii_lowercase().as_slice() {
        b"debug" => log::DEBUG,
        b"verbose" => log::VERBOSE,
        b"notice" => log::NOTICE,
        b"warning" => log::WARNING,
        _ => log::VERBOSE,
    }
}

/// Log lines of modules are cut at Redis' LOG_MAX_LEN (1024 bytes, NUL included).
const LOG_MAX: usize = 1023;

pub(crate) fn module_log(name: Option<String>, level: &[u8], msg: &[u8]) {
    let level = level_of(level);
    if !log::enabled(level) {
        return;
    }
    let mut line = match name {
        Some(n) => format!("<{}> ", n).into_bytes(),
        None => Vec::new(),
    };
    line.extend_from_slice(msg);
    line.truncate(LOG_MAX);
    log::log(level, &String::from_utf8_lossy(&line));
}

/// The Rust half of `RedisModule_Log` (the shim formatted the message).
///
/// # Safety
/// `ctx` is NULL or live; `level` and `msg` are C strings.
#[no_mangle]
pub unsafe extern "C" fn ferrodis_module_log(
    ctx: *mut Ctx,
    level: *const c_char,
    msg: *const c_char,
) {
    // SAFETY: per the contract above.
    let name = unsafe { ctx.as_ref() }
        .filter(|c| !c.module.is_null())
        .map(|c| c.module_name());
    // SAFETY: C strings.
    unsafe { module_log(name, super::cstr(level), super::cstr(msg)) };
}

unsafe extern "C" fn rm_assert(estr: *const c_char, file: *const c_char, line: c_int) {
    // SAFETY: C strings from the RedisModule_Assert macro.
    let (e, f) = unsafe { (super::cstr(estr), super::cstr(file)) };
    crate::log_warning!(
        "=== ASSERTION FAILED ===\n==> {}:{} '{}' is not true",
        String::from_utf8_lossy(f),
        line,
        String::from_utf8_lossy(e)
    );
    std::process::abort();
}

unsafe extern "C" fn milliseconds() -> c_longlong {
    crate::util::mstime()
}

unsafe extern "C" fn monotonic_microseconds() -> c_ulonglong {
    crate::util::monotonic_us()
}

unsafe extern "C" fn auto_memory(ctx: *mut Ctx) {
    // SAFETY: a live context.
    unsafe { (*ctx).flags |= flags::AUTO_MEMORY };
}

unsafe extern "C" fn get_selected_db(ctx: *mut Ctx) -> c_int {
    // SAFETY: a live context.
    unsafe { (*ctx).client() }
        .map(|c| c.db as c_int)
        .unwrap_or(0)
}

unsafe extern "C" fn select_db(ctx: *mut Ctx, id: c_int) -> c_int {
    // SAFETY: a live context.
    let ctx = unsafe { &mut *ctx };
    // SAFETY: a live context.
    let ndbs = unsafe { ctx.server() }.dbs.len();
    if id < 0 || id as usize >= ndbs {
        return REDISMODULE_ERR;
    }
    // SAFETY: a live context.
    match unsafe { ctx.client() } {
        Some(c) => {
            c.db = id as usize;
            REDISMODULE_OK
        }
        None => REDISMODULE_ERR,
    }
}

unsafe extern "C" fn get_client_id(ctx: *mut Ctx) -> c_ulonglong {
    // SAFETY: a live context.
    unsafe { (*ctx).client() }.map(|c| c.id).unwrap_or(0)
}

unsafe extern "C" fn set_module_options(ctx: *mut Ctx, options: c_int) {
    // SAFETY: a live context whose module is registered (options are set from OnLoad).
    unsafe {
        if let Some(m) = (*ctx).module.as_mut() {
            m.options = options;
        }
    }
}

// The C shim's variadic entry points (csrc/module_shim.c). Only their addresses are used
// here, so they are declared without parameters.
/// RedisModule_GetContextFlags: what the server and the calling client are doing.
unsafe extern "C" fn get_context_flags(ctx: *mut Ctx) -> c_int {
    use crate::client::flags as cf;
    let mut f: c_int = 0;
    // SAFETY: NULL or a live context.
    let ctx = unsafe { ctx.as_ref() };
    let srv = match ctx {
        // SAFETY: a live context.
        Some(c) => unsafe { c.server() },
        None => match super::command::current_server() {
            Some(s) => s,
            None => return 0,
        },
    };
    // SAFETY: a live context's client is live when set.
    if let Some(c) = ctx.and_then(|c| unsafe { c.client() }) {
        if c.has(cf::DENY_BLOCKING) {
            f |= 1 << 21;
        }
        if c.has(cf::MASTER) {
            f |= 1 << 12;
        }
        if c.out.resp == 3 {
            f |= 1 << 22;
        }
        if c.flags & (cf::DIRTY_CAS | cf::DIRTY_EXEC) != 0 {
            f |= 1 << 19;
        }
    }
    if crate::scripting::is_running() {
        f |= 1 << 0;
    }
    if srv.in_exec {
        f |= 1 << 1;
    }
    if srv.repl.async_loading {
        f |= 1 << 23;
    } else if srv.loading {
        f |= 1 << 13;
    }
    if srv.config.maxmemory > 0 {
        f |= 1 << 8;
        if srv.config.maxmemory_policy != crate::config::table::POLICY_NOEVICTION {
            f |= 1 << 9;
        }
        let used = srv.used_memory() as f64;
        let level = used / srv.config.maxmemory as f64;
        if level > 1.0 {
            f |= 1 << 10;
        }
        if level > 0.75 {
            f |= 1 << 11;
        }
    }
    if srv.config.appendonly {
        f |= 1 << 6;
    }
    if !srv.config.save_params.is_empty() {
        f |= 1 << 7;
    }
    if srv.is_replica() {
        f |= 1 << 3;
        if srv.config.replica_read_only {
            f |= 1 << 4;
        }
    } else {
        f |= 1 << 2;
    }
    if srv.fork_child_active() {
        f |= 1 << 18;
    }
    f
}

/// Every flag GetContextFlags may report in 7.0.
unsafe extern "C" fn get_context_flags_all() -> c_int {
    (1 << 24) - 1
}

/// 7.0.15 as Redis encodes it (0x00MMmmpp).
unsafe extern "C" fn get_server_version() -> c_int {
    0x0007_000f
}

unsafe extern "C" fn get_type_method_version() -> c_int {
    4
}

unsafe extern "C" fn get_random_bytes(dst: *mut u8, len: usize) {
    use rand::RngCore;
    if len == 0 {
        return;
    }
    // SAFETY: the module passes `len` writable bytes.
    let buf = unsafe { std::slice::from_raw_parts_mut(dst, len) };
    rand::thread_rng().fill_bytes(buf);
}

unsafe extern "C" fn get_random_hex_chars(dst: *mut c_char, len: usize) {
    if len == 0 {
        return;
    }
    let hex = crate::util::random_hex(len);
    // SAFETY: the module passes `len` writable bytes; random_hex gives exactly `len`.
    unsafe { std::ptr::copy_nonoverlapping(hex.as_ptr(), dst as *mut u8, len) };
}

unsafe extern "C" fn db_size(ctx: *mut Ctx) -> c_ulonglong {
    // SAFETY: a live context.
    let ctx = unsafe { &*ctx };
    // SAFETY: a live context.
    let db = unsafe { ctx.client() }.map(|c| c.db).unwrap_or(0);
    // SAFETY: a live context.
    unsafe { ctx.server() }.dbs[db].len() as c_ulonglong
}

unsafe extern "C" fn random_key(ctx: *mut Ctx) -> *mut super::string::RmString {
    // SAFETY: a live context.
    let c = unsafe { &*ctx };
    // SAFETY: a live context.
    let db = unsafe { c.client() }.map(|cl| cl.db).unwrap_or(0);
    // SAFETY: a live context.
    match crate::commands::keyspace::random_key(unsafe { c.server() }, db) {
        Some(k) => super::string::create(ctx, &k),
        None => std::ptr::null_mut(),
    }
}

unsafe extern "C" fn signal_modified_key(
    ctx: *mut Ctx,
    key: *mut super::string::RmString,
) -> c_int {
    // SAFETY: a live context and module string.
    let (c, key) = unsafe { (&*ctx, super::string::RmString::get(key)) };
    // SAFETY: a live context.
    let db = unsafe { c.client() }.map(|cl| cl.db).unwrap_or(0);
    // SAFETY: a live context.
    unsafe { c.server() }.signal_modified_key(db, key);
    REDISMODULE_OK
}

unsafe extern "C" fn get_current_command_name(ctx: *mut Ctx) -> *const c_char {
    // SAFETY: NULL or a live context.
    let Some(c) = (unsafe { ctx.as_mut() }) else {
        return std::ptr::null();
    };
    if c.client.is_null() {
        return std::ptr::null();
    }
    // SAFETY: a live context.
    let srv = unsafe { c.server() };
    let Some(cmd) = srv.commands.cmds.get(srv.running_cmd) else {
        return std::ptr::null();
    };
    // Kept in the context, so the pointer lives as long as the call.
    c.cmd_name = std::ffi::CString::new(cmd.fullname.as_str()).ok();
    c.cmd_name
        .as_ref()
        .map(|s| s.as_ptr())
        .unwrap_or(std::ptr::null())
}

unsafe extern "C" fn publish_message(
    ctx: *mut Ctx,
    channel: *mut super::string::RmString,
    message: *mut super::string::RmString,
) -> c_int {
    // SAFETY: a live context and module strings.
    let (c, ch, msg) = unsafe {
        (
            &*ctx,
            super::string::RmString::get(channel).to_vec(),
            super::string::RmString::get(message).to_vec(),
        )
    };
    // SAFETY: a live context.
    unsafe { c.server() }.publish(&ch, &msg, false) as c_int
}

unsafe extern "C" fn publish_message_shard(
    ctx: *mut Ctx,
    channel: *mut super::string::RmString,
    message: *mut super::string::RmString,
) -> c_int {
    // SAFETY: a live context and module strings.
    let (c, ch, msg) = unsafe {
        (
            &*ctx,
            super::string::RmString::get(channel).to_vec(),
            super::string::RmString::get(message).to_vec(),
        )
    };
    // SAFETY: a live context.
    unsafe { c.server() }.publish(&ch, &msg, true) as c_int
}

/// The client with `id`: the context's own (it is out of the client table while it runs) or
/// one of the table.
fn client_by_id<'a>(ctx: *mut Ctx, id: u64) -> Option<&'a mut crate::client::Client> {
    // SAFETY: NULL or a live context; its client is live when set.
    if let Some(c) = unsafe { ctx.as_ref().and_then(|cx| cx.client()) } {
        if c.id == id {
            return Some(c);
        }
    }
    if let Some(c) = super::command::running_client() {
        if c.id == id {
            return Some(c);
        }
    }
    let srv = super::command::current_server()?;
    srv.clients.get_mut(&id).map(|b| &mut **b)
}

unsafe extern "C" fn get_client_name_by_id(ctx: *mut Ctx, id: u64) -> *mut super::string::RmString {
    match client_by_id(ctx, id).and_then(|c| c.name.clone()) {
        Some(n) => super::string::create(ctx, &n),
        None => std::ptr::null_mut(),
    }
}

unsafe extern "C" fn set_client_name_by_id(id: u64, name: *mut super::string::RmString) -> c_int {
    let Some(c) = client_by_id(std::ptr::null_mut(), id) else {
        super::set_errno(libc::ENOENT);
        return REDISMODULE_ERR;
    };
    // SAFETY: a live module string.
    let name = unsafe { super::string::RmString::get(name) }.to_vec();
    if !crate::commands::connection::valid_client_name(&name) {
        super::set_errno(libc::EINVAL);
        return REDISMODULE_ERR;
    }
    c.name = if name.is_empty() { None } else { Some(name) };
    REDISMODULE_OK
}

unsafe extern "C" fn avoid_replica_traffic() -> c_int {
    super::command::current_server()
        .map(|s| (s.pause != crate::server::PauseKind::None) as c_int)
        .unwrap_or(0)
}

/// Empties every database, as FLUSHALL does (snapshot included when save points are set).
unsafe extern "C" fn reset_dataset(_restart_aof: c_int, lazy: c_int) {
    let Some(srv) = super::command::current_server() else {
        return;
    };
    let removed = if lazy != 0 {
        srv.empty_data_async(None)
    } else {
        srv.empty_data(None)
    };
    srv.dirty += removed as i64;
    srv.kill_rdb_child();
    if !srv.config.save_params.is_empty() {
        srv.rdb_save();
    }
    srv.dirty += 1;
}

extern "C" {
    fn ferrodis_shim_Log();
}

pub fn entries() -> Vec<(&'static str, usize)> {
    super::api_entries![
        "Log" => ferrodis_shim_Log as unsafe extern "C" fn(),
        "_Assert" => rm_assert as unsafe extern "C" fn(*const c_char, *const c_char, c_int),
        "Milliseconds" => milliseconds as unsafe extern "C" fn() -> c_longlong,
        "MonotonicMicroseconds" => monotonic_microseconds as unsafe extern "C" fn() -> c_ulonglong,
        "AutoMemory" => auto_memory as unsafe extern "C" fn(*mut Ctx),
        "GetSelectedDb" => get_selected_db as unsafe extern "C" fn(*mut Ctx) -> c_int,
        "SelectDb" => select_db as unsafe extern "C" fn(*mut Ctx, c_int) -> c_int,
        "GetClientId" => get_client_id as unsafe extern "C" fn(*mut Ctx) -> c_ulonglong,
        "GetContextFlags" => get_context_flags as unsafe extern "C" fn(*mut Ctx) -> c_int,
        "GetContextFlagsAll" => get_context_flags_all as unsafe extern "C" fn() -> c_int,
        "GetServerVersion" => get_server_version as unsafe extern "C" fn() -> c_int,
        "GetTypeMethodVersion" => get_type_method_version as unsafe extern "C" fn() -> c_int,
        "GetRandomBytes" => get_random_bytes as unsafe extern "C" fn(*mut u8, usize),
        "GetRandomHexChars" => get_random_hex_chars as unsafe extern "C" fn(*mut c_char, usize),
        "DbSize" => db_size as unsafe extern "C" fn(*mut Ctx) -> c_ulonglong,
        "RandomKey" => random_key as unsafe extern "C" fn(*mut Ctx) -> *mut super::string::RmString,
        "SignalModifiedKey" => signal_modified_key as unsafe extern "C" fn(*mut Ctx, *mut super::string::RmString) -> c_int,
        "GetCurrentCommandName" => get_current_command_name as unsafe extern "C" fn(*mut Ctx) -> *const c_char,
        "PublishMessage" => publish_message as unsafe extern "C" fn(*mut Ctx, *mut super::string::RmString, *mut super::string::RmString) -> c_int,
        "PublishMessageShard" => publish_message_shard as unsafe extern "C" fn(*mut Ctx, *mut super::string::RmString, *mut super::string::RmString) -> c_int,
        "GetClientNameById" => get_client_name_by_id as unsafe extern "C" fn(*mut Ctx, u64) -> *mut super::string::RmString,
        "SetClientNameById" => set_client_name_by_id as unsafe extern "C" fn(u64, *mut super::string::RmString) -> c_int,
        "AvoidReplicaTraffic" => avoid_replica_traffic as unsafe extern "C" fn() -> c_int,
        "ResetDataset" => reset_dataset as unsafe extern "C" fn(c_int, c_int),
        "SetModuleOptions" => set_module_options as unsafe extern "C" fn(*mut Ctx, c_int),
    ]
}
