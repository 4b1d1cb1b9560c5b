//! The getkeys-api: a module command flagged `getkeys-api` is asked for its keys by calling it
//! with a context in which IsKeysPositionRequest is true; it answers with KeyAtPos /
//! KeyAtPosWithFlags instead of running. Used when its key specs can't tell (none, or marked
//! VARIABLE_FLAGS), as Redis does.

use std::ffi::c_int;

use super::ctx::{flags, Ctx};
use super::string::RmString;
use crate::commands::keyspec::{GetKeysError, KeyRef};
use crate::commands::spec::{flags as cmdflags, keyflags};
use crate::commands::{CmdId, Command};
use crate::server::Server;

/// Whether COMMAND GETKEYS must ask the module.
pub fn uses_api(cmd: &Command) -> bool {
    if cmd.module_cmd.is_none() || cmd.flags & cmdflags::MODULE_GETKEYS == 0 {
        return false;
    }
    let specs = cmd.spec.key_specs;
    specs.is_empty()
        || specs
            .iter()
            .any(|s| s.flags & keyflags::VARIABLE_FLAGS != 0)
}

/// Calls a module command only to learn positions in `argv`, with `request` (KEYS_POS_REQUEST
/// or CHANNELS_POS_REQUEST) set in its context: returns what it reported with KeyAtPos* or
/// ChannelAtPosWithFlags.
pub(super) fn position_request(
    srv: &mut Server,
    mc: super::ModuleCommand,
    func: super::command::CmdFunc,
    request: u32,
    argv: &[Vec<u8>],
) -> Vec<KeyRef> {
    let mut args = srv.modules.arg_strings.lend(argv);
    let mut ctx = Ctx::new(srv, mc.module, request);
    let prev = super::crash::enter(mc.label);
    // SAFETY: a live context without a client (the module only reports positions) and
    // valid argv.
    unsafe { func(&mut ctx, args.as_mut_ptr(), args.argc()) };
    super::crash::leave(prev);
    let found = std::mem::take(&mut ctx.keys);
    ctx.finish();
    drop(ctx);
    srv.modules.arg_strings.give_back(args);
    found
}

/// The keys of `argv` as the module reports them.
pub fn get_keys(
    srv: &mut Server,
    id: CmdId,
    argv: &[Vec<u8>],
) -> Result<Vec<KeyRef>, GetKeysError> {
    let cmd = &srv.commands.cmds[id];
    let arity = i64::from(cmd.spec.arity);
    let argc = argv.len() as i64;
    if (arity > 0 && arity != argc) || argc < -arity {
        return Err(GetKeysError::WrongArity);
    }
    let Some(mc) = cmd.module_cmd else {
        return Err(GetKeysError::InvalidArguments);
    };
    let Some(func) = mc.func else {
        return Err(GetKeysError::InvalidArguments);
    };
    let keys = position_request(srv, mc, func, flags::KEYS_POS_REQUEST, argv);
    if keys.is_empty() {
        return Err(GetKeysError::InvalidArguments);
    }
    Ok(keys)
}

unsafe extern "C" fn is_keys_position_request(ctx: *mut Ctx) -> c_int {
    // SAFETY: a live context.
    (unsafe { (*ctx).flags } & flags::KEYS_POS_REQUEST != 0) as c_int
}

unsafe extern "C" fn key_at_pos_with_flags(ctx: *mut Ctx, pos: c_int, kflags: c_int) {
    // SAFETY: a live context.
    let ctx = unsafe { &mut *ctx };
    if ctx.flags & flags::KEYS_POS_REQUEST == 0 || pos <= 0 {
        return;
    }
    ctx.keys.push(KeyRef {
        pos: pos as usize,
        // The API's key-spec bits are the server's.
        flags: kflags as u64 & ((1 << 11) - 1),
    });
}

unsafe extern "C" fn key_at_pos(ctx: *mut Ctx, pos: c_int) {
    // Without flags a key is fully accessed: RW, ACCESS and UPDATE.
    let full = (keyflags::RW | keyflags::ACCESS | keyflags::UPDATE) as c_int;
    // SAFETY: forwarded.
    unsafe { key_at_pos_with_flags(ctx, pos, full) }
}

/// GetCommandKeysWithFlags: the key positions (and flags) of a full command line, in arrays
/// the module frees with RedisModule_Free. NULL with errno ENOENT (no such command), EINVAL
/// (wrong arity), or 0 (a command without keys, or no keys in this call).
unsafe extern "C" fn get_command_keys_with_flags(
    ctx: *mut Ctx,
    argv: *mut *mut RmString,
    argc: c_int,
    num_keys: *mut c_int,
    out_flags: *mut *mut c_int,
) -> *mut c_int {
    // SAFETY: a live context; `argc` live strings.
    let (srv, args) = unsafe {
        let srv = (*ctx).server();
        let args: Vec<Vec<u8>> = (0..argc.max(0) as usize)
            .map(|i| RmString::get(*argv.add(i)).to_vec())
            .collect();
        (srv, args)
    };
    if args.is_empty() {
        super::set_errno(libc::ENOENT);
        return std::ptr::null_mut();
    }
    let Some(id) = srv.commands.lookup(&args) else {
        super::set_errno(libc::ENOENT);
        return std::ptr::null_mut();
    };
    let cmd = &srv.commands.cmds[id];
    if !crate::commands::keyspec::does_command_have_keys(cmd.spec) {
        super::set_errno(0);
        return std::ptr::null_mut();
    }
    let arity = i64::from(cmd.spec.arity);
    if (arity > 0 && arity != argc as i64) || (argc as i64) < -arity {
        super::set_errno(libc::EINVAL);
        return std::ptr::null_mut();
    }
    let keys = if uses_api(cmd) {
        get_keys(srv, id, &args).unwrap_or_default()
    } else {
        crate::commands::keyspec::get_keys(cmd.spec, &args).unwrap_or_default()
    };
    if keys.is_empty() {
        super::set_errno(0);
        return std::ptr::null_mut();
    }
    let n = keys.len();
    // Arrays the module frees with RedisModule_Free: counted as its memory.
    // SAFETY: a live context.
    let module = unsafe { (*ctx).module };
    let bytes = n * std::mem::size_of::<c_int>();
    // SAFETY: each array holds `n` ints, written below; the out-pointers are writable; the
    // context's module is registered (or null).
    unsafe {
        let res = super::alloc::alloc_for(module, bytes) as *mut c_int;
        *num_keys = n as c_int;
        let fl = if out_flags.is_null() {
            std::ptr::null_mut()
        } else {
            let f = super::alloc::alloc_for(module, bytes) as *mut c_int;
            *out_flags = f;
            f
        };
        for (i, k) in keys.iter().enumerate() {
            *res.add(i) = k.pos as c_int;
            if !fl.is_null() {
                *fl.add(i) = (k.flags & ((1 << 11) - 1)) as c_int;
            }
        }
        res
    }
}

unsafe extern "C" fn get_command_keys(
    ctx: *mut Ctx,
    argv: *mut *mut RmString,
    argc: c_int,
    num_keys: *mut c_int,
) -> *mut c_int {
    // SAFETY: forwarded.
    unsafe { get_command_keys_with_flags(ctx, argv, argc, num_keys, std::ptr::null_mut()) }
}

pub fn entries() -> Vec<(&'static str, usize)> {
    super::api_entries![
        "IsKeysPositionRequest" => is_keys_position_request as unsafe extern "C" fn(*mut Ctx) -> c_int,
        "KeyAtPos" => key_at_pos as unsafe extern "C" fn(*mut Ctx, c_int),
        "GetCommandKeys" => get_command_keys as unsafe extern "C" fn(*mut Ctx, *mut *mut RmString, c_int, *mut c_int) -> *mut c_int,
        "GetCommandKeysWithFlags" => get_command_keys_with_flags as unsafe extern "C" fn(*mut Ctx, *mut *mut RmString, c_int, *mut c_int, *mut *mut c_int) -> *mut c_int,
        "KeyAtPosWithFlags" => key_at_pos_with_flags as unsafe extern "C" fn(*mut Ctx, c_int, c_int),
    ]
}
