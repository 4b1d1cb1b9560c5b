//! The module ACL API: module users (unnamed ACL users a module owns), authenticating clients
//! as module or ACL users with a "user changed" callback, permission checks for modules, ACL
//! log entries from modules, and the user a context's RedisModule_Call runs as.
//!
//! A `RedisModuleUser` handle holds a user id, never a pointer into the users table: a handle
//! to a user deleted since (ACL DELUSER, ACL LOAD) finds no user and checks fail safely.

use std::ffi::{c_char, c_int, c_void};

use super::ctx::{Ctx, REDISMODULE_ERR, REDISMODULE_OK};
use super::string::RmString;
use super::Module;
use crate::acl::{Denied, LogContext, User, UserId, DEFAULT_USER, SUPERUSER};
use crate::client::{flags as cflags, Client, ClientId};
use crate::server::Server;

/// `RedisModuleUser`.
pub struct ModuleUser {
    pub id: UserId,
    /// Created by CreateModuleUser (freed with the handle) rather than looked up by name.
    owned: bool,
}

/// `RedisModuleUserChangedFunc`.
pub type UserChangedFn = unsafe extern "C" fn(u64, *mut c_void);

/// What a module asked to be told when a client it authenticated changes user.
#[derive(Clone, Copy)]
pub struct AuthCallback {
    func: UserChangedFn,
    /// The module's private data pointer and the module, kept as addresses.
    privdata: usize,
    module: usize,
}

/// A client's user is about to change (AUTH, RESET, deletion, close): the module that
/// authenticated it is told once, and forgets the client.
pub fn notify_user_changed(_srv: &mut Server, c: &mut Client) {
    if let Some(cb) = c.auth_callback.take() {
        // SAFETY: the module registered this callback with its private data; modules are
        // unloaded only after their authenticated clients were revoked.
        unsafe { (cb.func)(c.id, cb.privdata as *mut c_void) };
    }
}

/// Takes a client back to the unauthenticated default user and closes it (after its reply if
/// it is the one running).
fn revoke(srv: &mut Server, c: &mut Client, running: bool) {
    notify_user_changed(srv, c);
    c.user = DEFAULT_USER;
    c.authenticated = false;
    if running {
        c.flags |= cflags::CLOSE_AFTER_REPLY;
    } else {
        srv.close_client_async(c.id);
    }
}

/// Module unload: the clients it authenticated lose that authentication and are closed.
pub fn revoke_clients_of_module(srv: &mut Server, module: *mut Module) {
    let ids: Vec<ClientId> = srv
        .clients
        .values()
        .filter(|c| {
            c.auth_callback
                .is_some_and(|cb| cb.module == module as usize)
        })
        .map(|c| c.id)
        .collect();
    for id in ids {
        if let Some(mut c) = srv.clients.remove(&id) {
            revoke(srv, &mut c, false);
            srv.clients.insert(id, c);
        }
    }
}

/// Closes the clients running as a module user being freed. The running client (reachable
/// only through the context) is closed after its reply.
fn kill_clients_of(srv: &mut Server, id: UserId, me: Option<&mut Client>) {
    let victims: Vec<ClientId> = srv
        .clients
        .values()
        .filter(|c| c.user == id)
        .map(|c| c.id)
        .collect();
    for v in victims {
        if let Some(c) = srv.clients.get_mut(&v) {
            c.user = DEFAULT_USER;
            c.authenticated = false;
        }
        srv.close_client_async(v);
    }
    if let Some(c) = me {
        if c.user == id {
            c.user = DEFAULT_USER;
            c.authenticated = false;
            c.flags |= cflags::CLOSE_AFTER_REPLY;
        }
    }
}

/// The server, for the API calls that receive no context.
fn server() -> Option<&'static mut Server> {
    super::command::current_server()
}

/// The user a context's RedisModule_Call runs as with the `C` flag: the one set with
/// SetContextUser, else the calling client's (None for server-internal clients).
pub fn call_user(ctx: &Ctx) -> Option<UserId> {
    if !ctx.user.is_null() {
        // SAFETY: SetContextUser stored a handle the module keeps alive while it uses it.
        return Some(unsafe { (*ctx.user).id });
    }
    // SAFETY: a live context's client pointer is valid when set.
    let c = unsafe { ctx.client() }?;
    (c.user != SUPERUSER).then_some(c.user)
}

/// The text RM_Call replies with for an ACL denial.
pub fn denial_message(reason: Denied) -> &'static str {
    match reason {
        Denied::Cmd => "can't run this command or subcommand",
        Denied::Key => "can't access at least one of the keys mentioned in the command arguments",
        Denied::Channel => "can't publish to the channel mentioned in the command",
        Denied::Auth => "lacking the permissions for the command",
    }
}

unsafe extern "C" fn create_module_user(name: *const c_char) -> *mut ModuleUser {
    let Some(srv) = server() else {
        return std::ptr::null_mut();
    };
    // SAFETY: a C string from the module.
    let name = unsafe { super::cstr(name) };
    let u = User::new(name, srv.acl.pubsub_default_all);
    let id = srv.acl.insert_unlinked(u);
    Box::into_raw(Box::new(ModuleUser { id, owned: true }))
}

unsafe extern "C" fn free_module_user(user: *mut ModuleUser) -> c_int {
    if user.is_null() {
        return REDISMODULE_ERR;
    }
    // SAFETY: handles are created by Box::into_raw here and freed once by the module.
    let user = unsafe { Box::from_raw(user) };
    if user.owned {
        if let Some(srv) = server() {
            srv.acl.remove(user.id);
            // The client of the running module command is outside the client map.
            let me = super::command::running_client();
            kill_clients_of(srv, user.id, me);
        }
    }
    REDISMODULE_OK
}

/// The module user behind a handle, if it still exists.
fn user_of(srv: &Server, user: *const ModuleUser) -> Option<&User> {
    if user.is_null() {
        return None;
    }
    // SAFETY: a handle the module got from this API.
    srv.acl.get(unsafe { (*user).id })
}

unsafe extern "C" fn set_module_user_acl(user: *mut ModuleUser, acl: *const c_char) -> c_int {
    let Some(srv) = server() else {
        return REDISMODULE_ERR;
    };
    let Some(mut u) = user_of(srv, user).cloned() else {
        return REDISMODULE_ERR;
    };
    // SAFETY: a C string from the module.
    let op = unsafe { super::cstr(acl) };
    if u.apply(&srv.commands, op, srv.acl.pubsub_default_all)
        .is_err()
    {
        super::set_errno(libc::EINVAL);
        return REDISMODULE_ERR;
    }
    // SAFETY: checked non-null by user_of.
    srv.acl.replace(unsafe { (*user).id }, u);
    REDISMODULE_OK
}

unsafe extern "C" fn set_module_user_acl_string(
    ctx: *mut Ctx,
    user: *mut ModuleUser,
    acl: *const c_char,
    error: *mut *mut RmString,
) -> c_int {
    let Some(srv) = server() else {
        return REDISMODULE_ERR;
    };
    let Some(original) = user_of(srv, user).cloned() else {
        return REDISMODULE_ERR;
    };
    // SAFETY: checked non-null by user_of.
    let id = unsafe { (*user).id };
    // SAFETY: a C string from the module.
    let text = unsafe { super::cstr(acl) };
    let args = crate::util::split_args(text).unwrap_or_default();
    let staged = (|| {
        let merged = crate::acl::merge_selector_args(&args).map_err(|i| {
            format!(
                "Unmatched parenthesis in acl selector starting at '{}'.",
                String::from_utf8_lossy(&args[i])
            )
        })?;
        let mut u = original.clone();
        for op in &merged {
            u.apply(&srv.commands, op, srv.acl.pubsub_default_all)
                .map_err(|e| {
                    format!(
                        "Error in ACL SETUSER modifier '{}': {}",
                        String::from_utf8_lossy(op),
                        e.message()
                    )
                })?;
        }
        Ok::<User, String>(u)
    })();
    match staged {
        Ok(u) => {
            let mut fake = Client::fake(0, 0);
            srv.acl_kill_pubsub_clients_if_needed(id, &u, &original, &mut fake);
            srv.acl.replace(id, u);
            REDISMODULE_OK
        }
        Err(e) => {
            if !error.is_null() {
                let s = if ctx.is_null() {
                    RmString::new_raw(e.as_bytes())
                } else {
                    super::string::create(ctx, e.as_bytes())
                };
                // SAFETY: the module passed a writable pointer.
                unsafe { *error = s };
            }
            REDISMODULE_ERR
        }
    }
}

unsafe extern "C" fn get_module_user_acl_string(user: *mut ModuleUser) -> *mut RmString {
    let Some(srv) = server() else {
        return std::ptr::null_mut();
    };
    match user_of(srv, user) {
        Some(u) => RmString::new_raw(u.describe(&srv.commands).as_bytes()),
        None => std::ptr::null_mut(),
    }
}

unsafe extern "C" fn get_current_user_name(ctx: *mut Ctx) -> *mut RmString {
    // SAFETY: a live context.
    let c = unsafe { &*ctx };
    // SAFETY: a live context.
    let srv = unsafe { c.server() };
    // SAFETY: a live context's client.
    let id = unsafe { c.client() }.map_or(DEFAULT_USER, |cl| cl.user);
    let name = srv.acl.name_of(id).to_vec();
    super::string::create(ctx, &name)
}

unsafe extern "C" fn get_client_user_name_by_id(ctx: *mut Ctx, id: u64) -> *mut RmString {
    let Some(srv) = server() else {
        return std::ptr::null_mut();
    };
    let Some(user) = super::clients::lookup(srv, id).map(|c| c.user) else {
        super::set_errno(libc::ENOENT);
        return std::ptr::null_mut();
    };
    if user == SUPERUSER {
        super::set_errno(libc::ENOTSUP);
        return std::ptr::null_mut();
    }
    let name = srv.acl.name_of(user).to_vec();
    super::string::create(ctx, &name)
}

unsafe extern "C" fn get_module_user_from_user_name(name: *mut RmString) -> *mut ModuleUser {
    let Some(srv) = server() else {
        return std::ptr::null_mut();
    };
    // SAFETY: a string handle from the module.
    let name = unsafe { RmString::get(name) };
    match srv.acl.by_name(name) {
        Some(id) => Box::into_raw(Box::new(ModuleUser { id, owned: false })),
        None => std::ptr::null_mut(),
    }
}

unsafe extern "C" fn acl_check_command_permissions(
    user: *mut ModuleUser,
    argv: *mut *mut RmString,
    argc: c_int,
) -> c_int {
    let Some(srv) = server() else {
        return REDISMODULE_ERR;
    };
    let args: Vec<Vec<u8>> = (0..argc.max(0) as usize)
        // SAFETY: the module passes argc string handles.
        .map(|i| unsafe { RmString::get(*argv.add(i)) }.to_vec())
        .collect();
    if args.is_empty() {
        super::set_errno(libc::ENOENT);
        return REDISMODULE_ERR;
    }
    let Some(id) = srv.commands.lookup(&args) else {
        super::set_errno(libc::ENOENT);
        return REDISMODULE_ERR;
    };
    if user.is_null() {
        return REDISMODULE_ERR;
    }
    // SAFETY: a handle from this API.
    let uid = unsafe { (*user).id };
    if srv.acl_check_user_command(uid, id, &args).is_err() {
        super::set_errno(libc::EACCES);
        return REDISMODULE_ERR;
    }
    REDISMODULE_OK
}

/// REDISMODULE_CMD_KEY_* flags a key check may ask for (the same bits as the key specs').
const KEY_CHECK_MASK: c_int = (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7);

unsafe extern "C" fn acl_check_key_permissions(
    user: *mut ModuleUser,
    key: *mut RmString,
    flags: c_int,
) -> c_int {
    if flags & KEY_CHECK_MASK != flags {
        super::set_errno(libc::EINVAL);
        return REDISMODULE_ERR;
    }
    let Some(srv) = server() else {
        return REDISMODULE_ERR;
    };
    // SAFETY: a string handle from the module.
    let key = unsafe { RmString::get(key) };
    let ok = if user.is_null() {
        false
    } else {
        // SAFETY: a handle from this API.
        let id = unsafe { (*user).id };
        srv.acl.is_open(id)
            || srv
                .acl
                .get(id)
                .is_some_and(|u| u.check_key(key, flags as u64))
    };
    if !ok {
        super::set_errno(libc::EACCES);
        return REDISMODULE_ERR;
    }
    REDISMODULE_OK
}

/// REDISMODULE_CMD_CHANNEL_*.
const CH_PATTERN: c_int = 1 << 0;
const CH_PUBLISH: c_int = 1 << 1;
const CH_SUBSCRIBE: c_int = 1 << 2;
const CH_UNSUBSCRIBE: c_int = 1 << 3;

unsafe extern "C" fn acl_check_channel_permissions(
    user: *mut ModuleUser,
    ch: *mut RmString,
    flags: c_int,
) -> c_int {
    let mask = CH_PATTERN | CH_PUBLISH | CH_SUBSCRIBE | CH_UNSUBSCRIBE;
    if flags & mask != flags {
        super::set_errno(libc::EINVAL);
        return REDISMODULE_ERR;
    }
    // Unsubscribing is always allowed.
    if flags & CH_UNSUBSCRIBE != 0 {
        return REDISMODULE_OK;
    }
    let Some(srv) = server() else {
        return REDISMODULE_ERR;
    };
    // SAFETY: a string handle from the module.
    let ch = unsafe { RmString::get(ch) };
    if user.is_null() {
        return REDISMODULE_ERR;
    }
    // SAFETY: a handle from this API.
    let id = unsafe { (*user).id };
    let ok = srv.acl.is_open(id)
        || srv
            .acl
            .get(id)
            .is_some_and(|u| u.check_channel(ch, flags & CH_PATTERN != 0));
    if ok {
        REDISMODULE_OK
    } else {
        REDISMODULE_ERR
    }
}

unsafe extern "C" fn acl_add_log_entry(
    ctx: *mut Ctx,
    user: *mut ModuleUser,
    object: *mut RmString,
    reason: c_int,
) -> c_int {
    let reason = match reason {
        0 => Denied::Auth,
        1 => Denied::Cmd,
        2 => Denied::Key,
        3 => Denied::Channel,
        _ => return REDISMODULE_ERR,
    };
    // SAFETY: a live context.
    let c = unsafe { &*ctx };
    // SAFETY: a live context.
    let srv = unsafe { c.server() };
    let Some(client) = (unsafe { c.client() }) else {
        return REDISMODULE_ERR;
    };
    let name = user_of(srv, user)
        .map(|u| u.name.clone())
        .unwrap_or_default();
    // SAFETY: a string handle from the module.
    let object = unsafe { RmString::get(object) }.to_vec();
    srv.acl_add_log(
        client,
        reason,
        LogContext::Module,
        0,
        Some(&name),
        Some(object),
    );
    REDISMODULE_OK
}

/// Authenticates the context's client as `id` (Redis' `authenticateClientWithUser`).
unsafe fn authenticate(
    ctx: *mut Ctx,
    id: UserId,
    callback: Option<UserChangedFn>,
    privdata: *mut c_void,
    client_id: *mut u64,
) -> c_int {
    // SAFETY: a live context.
    let cx = unsafe { &*ctx };
    // SAFETY: a live context.
    let srv = unsafe { cx.server() };
    let Some(u) = srv.acl.get(id) else {
        return REDISMODULE_ERR;
    };
    if u.flags & crate::acl::uflags::DISABLED != 0 {
        return REDISMODULE_ERR;
    }
    // SAFETY: a live context's client.
    let Some(c) = (unsafe { cx.client() }) else {
        return REDISMODULE_ERR;
    };
    // A module's own temporary client: authenticating it would mean nothing.
    if c.user == SUPERUSER {
        return REDISMODULE_ERR;
    }
    notify_user_changed(srv, c);
    c.user = id;
    c.authenticated = true;
    if let Some(func) = callback {
        c.auth_callback = Some(AuthCallback {
            func,
            privdata: privdata as usize,
            module: cx.module as usize,
        });
    }
    if !client_id.is_null() {
        // SAFETY: the module passed a writable pointer.
        unsafe { *client_id = c.id };
    }
    REDISMODULE_OK
}

unsafe extern "C" fn authenticate_client_with_user(
    ctx: *mut Ctx,
    user: *mut ModuleUser,
    callback: Option<UserChangedFn>,
    privdata: *mut c_void,
    client_id: *mut u64,
) -> c_int {
    if user.is_null() {
        return REDISMODULE_ERR;
    }
    // SAFETY: a handle from this API; the rest per `authenticate`.
    unsafe { authenticate(ctx, (*user).id, callback, privdata, client_id) }
}

unsafe extern "C" fn authenticate_client_with_acl_user(
    ctx: *mut Ctx,
    name: *const c_char,
    len: usize,
    callback: Option<UserChangedFn>,
    privdata: *mut c_void,
    client_id: *mut u64,
) -> c_int {
    // SAFETY: a live context.
    let srv = unsafe { (*ctx).server() };
    // SAFETY: the module passes `len` readable bytes.
    let name = unsafe { std::slice::from_raw_parts(name as *const u8, len) };
    let Some(id) = srv.acl.by_name(name) else {
        return REDISMODULE_ERR;
    };
    // SAFETY: per `authenticate`.
    unsafe { authenticate(ctx, id, callback, privdata, client_id) }
}

unsafe extern "C" fn deauthenticate_and_close_client(ctx: *mut Ctx, client_id: u64) -> c_int {
    // SAFETY: a live context.
    let cx = unsafe { &*ctx };
    // SAFETY: a live context.
    let srv = unsafe { cx.server() };
    if let Some(mut c) = srv.clients.remove(&client_id) {
        revoke(srv, &mut c, false);
        srv.clients.insert(client_id, c);
        return REDISMODULE_OK;
    }
    // The running client is outside the client map; the context may reach it.
    // SAFETY: a live context's client.
    if let Some(c) = unsafe { cx.client() } {
        if c.id == client_id {
            revoke(srv, c, true);
            return REDISMODULE_OK;
        }
    }
    REDISMODULE_ERR
}

unsafe extern "C" fn set_context_user(ctx: *mut Ctx, user: *const ModuleUser) {
    // SAFETY: a live context.
    unsafe { (*ctx).user = user };
}

unsafe extern "C" fn redact_client_command_argument(ctx: *mut Ctx, pos: c_int) -> c_int {
    if ctx.is_null() {
        return REDISMODULE_ERR;
    }
    // SAFETY: a live context's client.
    let Some(c) = (unsafe { (*ctx).client() }) else {
        return REDISMODULE_ERR;
    };
    if pos <= 0 || pos as usize >= c.argv.len() {
        return REDISMODULE_ERR;
    }
    c.redact_arg(pos as usize);
    REDISMODULE_OK
}

pub fn entries() -> Vec<(&'static str, usize)> {
    type Auth = unsafe extern "C" fn(
        *mut Ctx,
        *mut ModuleUser,
        Option<UserChangedFn>,
        *mut c_void,
        *mut u64,
    ) -> c_int;
    type AuthAcl = unsafe extern "C" fn(
        *mut Ctx,
        *const c_char,
        usize,
        Option<UserChangedFn>,
        *mut c_void,
        *mut u64,
    ) -> c_int;
    super::api_entries![
        "CreateModuleUser" => create_module_user as unsafe extern "C" fn(*const c_char) -> *mut ModuleUser,
        "FreeModuleUser" => free_module_user as unsafe extern "C" fn(*mut ModuleUser) -> c_int,
        "SetModuleUserACL" => set_module_user_acl as unsafe extern "C" fn(*mut ModuleUser, *const c_char) -> c_int,
        "SetModuleUserACLString" => set_module_user_acl_string as unsafe extern "C" fn(*mut Ctx, *mut ModuleUser, *const c_char, *mut *mut RmString) -> c_int,
        "GetModuleUserACLString" => get_module_user_acl_string as unsafe extern "C" fn(*mut ModuleUser) -> *mut RmString,
        "GetCurrentUserName" => get_current_user_name as unsafe extern "C" fn(*mut Ctx) -> *mut RmString,
        "GetClientUserNameById" => get_client_user_name_by_id as unsafe extern "C" fn(*mut Ctx, u64) -> *mut RmString,
        "GetModuleUserFromUserName" => get_module_user_from_user_name as unsafe extern "C" fn(*mut RmString) -> *mut ModuleUser,
        "ACLCheckCommandPermissions" => acl_check_command_permissions as unsafe extern "C" fn(*mut ModuleUser, *mut *mut RmString, c_int) -> c_int,
        "ACLCheckKeyPermissions" => acl_check_key_permissions as unsafe extern "C" fn(*mut ModuleUser, *mut RmString, c_int) -> c_int,
        "ACLCheckChannelPermissions" => acl_check_channel_permissions as unsafe extern "C" fn(*mut ModuleUser, *mut RmString, c_int) -> c_int,
        "ACLAddLogEntry" => acl_add_log_entry as unsafe extern "C" fn(*mut Ctx, *mut ModuleUser, *mut RmString, c_int) -> c_int,
        "AuthenticateClientWithUser" => authenticate_client_with_user as Auth,
        "AuthenticateClientWithACLUser" => authenticate_client_with_acl_user as AuthAcl,
        "DeauthenticateAndCloseClient" => deauthenticate_and_close_client as unsafe extern "C" fn(*mut Ctx, u64) -> c_int,
        "SetContextUser" => set_context_user as unsafe extern "C" fn(*mut Ctx, *const ModuleUser),
        "RedactClientCommandArgument" => redact_client_command_argument as unsafe extern "C" fn(*mut Ctx, c_int) -> c_int,
    ]
}
