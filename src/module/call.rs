//! `RedisModule_Call` and its replies, plus Replicate/ReplicateVerbatim. A call runs the
//! command on a fake client through the server's own `call` (statistics, slow log, keyspace
//! events and blocking rules as for any command); the reply's protocol is parsed into a
//! `CallReply` tree that the CallReply* accessors read. Replication goes through the
//! propagation log, so a module command's writes reach the AOF and replicas wrapped in
//! MULTI/EXEC with everything else of the command, as in Redis 7.0.

use std::ffi::{c_char, c_int, c_longlong};

use super::ctx::{flags as ctxflags, AutoEntry, Ctx, REDISMODULE_ERR, REDISMODULE_OK};
use super::string::RmString;
use crate::client::{flags as cflags, Client};
use crate::commands::spec::flags;
use crate::replication::target;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    String,
    Error,
    Integer,
    Array,
    Null,
    Map,
    Set,
    Bool,
    Double,
    BigNumber,
    Verbatim,
    Attribute,
}

impl Kind {
    fn code(self) -> c_int {
        match self {
            Kind::String => 0,
            Kind::Error => 1,
            Kind::Integer => 2,
            Kind::Array => 3,
            Kind::Null => 4,
            Kind::Map => 5,
            Kind::Set => 6,
            Kind::Bool => 7,
            Kind::Double => 8,
            Kind::BigNumber => 9,
            Kind::Verbatim => 10,
            Kind::Attribute => 11,
        }
    }
}

/// One reply (or element of one).
pub struct CallReply {
    pub kind: Kind,
    /// This element's protocol, as the command wrote it.
    pub proto: Vec<u8>,
    /// The protocol version it was produced in.
    pub proto_resp: u8,
    /// Text of strings, errors (without '-'), big numbers and verbatim strings.
    pub str: Vec<u8>,
    /// Verbatim format, NUL-terminated.
    pub format: [u8; 4],
    pub int: i64,
    pub dbl: f64,
    /// Array and set elements; map keys and values alternate.
    pub elems: Vec<CallReply>,
    pub attribute: Option<Box<CallReply>>,
    /// The error replies the call produced (texts without '-'), on the top reply: they
    /// count in the error statistics only if the module forwards the reply to a client
    /// (ReplyWithCallReply), as in Redis.
    pub errors: Vec<Vec<u8>>,
    /// Only the top reply is freed by FreeCallReply; elements go with it.
    root: bool,
    /// The auto-memory context tracking this reply, if any.
    owner: *mut Ctx,
}

impl CallReply {
    fn new(kind: Kind, resp: u8) -> CallReply {
        CallReply {
            kind,
            proto: Vec::new(),
            proto_resp: resp,
            str: Vec::new(),
            format: [0; 4],
            int: 0,
            dbl: 0.0,
            elems: Vec::new(),
            attribute: None,
            errors: Vec::new(),
            root: false,
            owner: std::ptr::null_mut(),
        }
    }

    /// Auto-memory is releasing the reply: it no longer needs unlinking from the context.
    pub fn clear_owner(&mut self) {
        self.owner = std::ptr::null_mut();
    }

    /// An error reply made by the server for a call that never ran (Call's 'E' flag).
    fn error(msg: &str) -> CallReply {
        let mut r = CallReply::new(Kind::Error, 2);
        let text = match msg.strip_prefix('-') {
            Some(t) => t.to_string(),
            None => format!("ERR {}", msg),
        };
        r.proto = format!("-{}\r\n", text).into_bytes();
        r.str = text.clone().into_bytes();
        r.errors.push(text.into_bytes());
        r
    }
}

/// Parses one reply from `p`; returns it and the bytes consumed.
fn parse(p: &[u8], resp: u8) -> Option<(CallReply, usize)> {
    let line_end = memchr::memmem::find(p, b"\r\n")?;
    let line = &p[1..line_end];
    let mut used = line_end + 2;
    let num = || crate::util::parse_i64(line);
    let mut r = match p.first()? {
        b'+' => {
            let mut r = CallReply::new(Kind::String, resp);
            r.str = line.to_vec();
            r
        }
        b'-' => {
            let mut r = CallReply::new(Kind::Error, resp);
            r.str = line.to_vec();
            r
        }
        b':' => {
            let mut r = CallReply::new(Kind::Integer, resp);
            r.int = num()?;
            r
        }
        b'_' => CallReply::new(Kind::Null, resp),
        b'#' => {
            let mut r = CallReply::new(Kind::Bool, resp);
            r.int = (line == b"t") as i64;
            r
        }
        b',' => {
            let mut r = CallReply::new(Kind::Double, resp);
            r.dbl = match line {
                b"inf" => f64::INFINITY,
                b"-inf" => f64::NEG_INFINITY,
                b"nan" => f64::NAN,
                _ => std::str::from_utf8(line).ok()?.parse().ok()?,
            };
            r
        }
        b'(' => {
            let mut r = CallReply::new(Kind::BigNumber, resp);
            r.str = line.to_vec();
            r
        }
        b'$' | b'=' => {
            let n = num()?;
            if n < 0 {
                CallReply::new(Kind::Null, resp)
            } else {
                let n = n as usize;
                let body = p.get(used..used + n)?;
                used += n + 2;
                if p[0] == b'=' {
                    let mut r = CallReply::new(Kind::Verbatim, resp);
                    r.format[..3].copy_from_slice(body.get(..3)?);
                    r.str = body.get(4..)?.to_vec();
                    r
                } else {
                    let mut r = CallReply::new(Kind::String, resp);
                    r.str = body.to_vec();
                    r
                }
            }
        }
        b'*' | b'~' | b'%' | b'>' => {
            let n = num()?;
            if n < 0 {
                CallReply::new(Kind::Null, resp)
            } else {
                let kind = match p[0] {
                    b'~' => Kind::Set,
                    b'%' => Kind::Map,
                    _ => Kind::Array,
                };
                let count = if kind == Kind::Map { 2 * n } else { n } as usize;
                let mut r = CallReply::new(kind, resp);
                for _ in 0..count {
                    let (e, u) = parse(&p[used..], resp)?;
                    used += u;
                    r.elems.push(e);
                }
                r
            }
        }
        b'|' => {
            // An attribute map, then the element it annotates.
            let n = num()? as usize;
            let mut attr = CallReply::new(Kind::Attribute, resp);
            for _ in 0..2 * n {
                let (e, u) = parse(&p[used..], resp)?;
                used += u;
                attr.elems.push(e);
            }
            attr.proto = p[..used].to_vec();
            let (mut e, u) = parse(&p[used..], resp)?;
            used += u;
            e.attribute = Some(Box::new(attr));
            e.proto = p[..used].to_vec();
            return Some((e, used));
        }
        _ => return None,
    };
    r.proto = p[..used].to_vec();
    Some((r, used))
}

/// Call's format flags.
#[derive(Default)]
struct CallFlags {
    replicate: bool,
    no_aof: bool,
    no_replicas: bool,
    resp3: bool,
    resp_auto: bool,
    script_mode: bool,
    no_writes: bool,
    deny_oom: bool,
    errors_as_replies: bool,
    run_as_user: bool,
}

fn call_flags(fmt: &[u8]) -> CallFlags {
    let mut f = CallFlags::default();
    for &b in fmt {
        match b {
            b'!' => f.replicate = true,
            b'A' => f.no_aof = true,
            b'R' => f.no_replicas = true,
            b'3' => f.resp3 = true,
            b'0' => f.resp_auto = true,
            b'S' => f.script_mode = true,
            b'W' => f.no_writes = true,
            b'M' => f.deny_oom = true,
            b'E' => f.errors_as_replies = true,
            b'C' => f.run_as_user = true,
            _ => {}
        }
    }
    f
}

/// Collects the argument arrays the shim built.
///
/// # Safety
/// `argv`/`lens` hold `argc` valid (pointer, length) pairs.
unsafe fn collect_argv(
    cmd: *const c_char,
    argv: *const *const c_char,
    lens: *const usize,
    argc: c_int,
) -> Vec<Vec<u8>> {
    let mut out = Vec::with_capacity(argc as usize + 1);
    // SAFETY: per the contract above.
    unsafe {
        out.push(super::cstr(cmd).to_vec());
        for i in 0..argc as usize {
            let p = *argv.add(i);
            let n = *lens.add(i);
            out.push(if n == 0 {
                Vec::new()
            } else {
                std::slice::from_raw_parts(p as *const u8, n).to_vec()
            });
        }
    }
    out
}

/// What a command called in script mode (`S`) is refused for, as a script's command would
/// be: writes without enough good replicas, after a failed persistence, or on a read-only
/// replica, and anything not allowed on a stale replica.
fn script_mode_refusal(
    srv: &mut crate::server::Server,
    cmd_flags: u64,
    obeyed: bool,
) -> Option<(c_int, String)> {
    if cmd_flags & flags::WRITE != 0 {
        if !srv.good_replicas_status() {
            return Some((libc::ESPIPE, crate::commands::errors::NOREPLICAS.into()));
        }
        if !obeyed {
            if srv.writes_denied_by_disk_error() {
                return Some((libc::ESPIPE, crate::commands::errors::MISCONF.into()));
            }
            if let Some(msg) = srv.aof_write_error_message() {
                return Some((libc::ESPIPE, msg));
            }
            if srv.is_replica() && srv.config.replica_read_only {
                return Some((
                    libc::ESPIPE,
                    "-READONLY You can't write against a read only replica.".into(),
                ));
            }
        }
    }
    if srv.is_replica()
        && srv.repl.link_state != crate::replication::state::LinkState::Connected
        && !srv.config.replica_serve_stale_data
        && cmd_flags & flags::STALE == 0
    {
        return Some((
            libc::ESPIPE,
            "-MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'."
                .into(),
        ));
    }
    None
}

fn finish_reply(ctx: &mut Ctx, mut r: CallReply) -> *mut CallReply {
    r.root = true;
    if ctx.flags & ctxflags::AUTO_MEMORY != 0 {
        r.owner = ctx;
    }
    let p = Box::into_raw(Box::new(r));
    if ctx.flags & ctxflags::AUTO_MEMORY != 0 {
        ctx.auto.push(AutoEntry::Reply(p));
    }
    p
}

/// The Rust half of `RedisModule_Call` (the shim collected the arguments).
///
/// # Safety
/// A live context; `argv`/`lens` hold `argc` valid pairs.
#[no_mangle]
pub unsafe extern "C" fn ferrodis_module_call(
    ctx: *mut Ctx,
    cmd: *const c_char,
    fmt: *const c_char,
    argv: *const *const c_char,
    lens: *const usize,
    argc: c_int,
    fmt_ok: c_int,
) -> *mut CallReply {
    // SAFETY: per the contract above.
    let ctx = unsafe { &mut *ctx };
    // SAFETY: a C string.
    let f = call_flags(unsafe { super::cstr(fmt) });
    if fmt_ok == 0 {
        super::set_errno(libc::EBADF);
        return std::ptr::null_mut();
    }
    // SAFETY: per the contract above.
    let mut argv = unsafe { collect_argv(cmd, argv, lens, argc) };
    // SAFETY: a live context.
    let srv = unsafe { ctx.server() };
    // The module counts as calling (for NOSELF filters) until this function returns.
    // SAFETY: the calling context's module (or null) is loaded while it calls.
    let _in_call = unsafe { super::filter::InCall::enter(ctx.module) };
    super::filter::apply(srv, &mut argv);
    if argv.is_empty() {
        super::set_errno(libc::ENOENT);
        return std::ptr::null_mut();
    }
    let fail = |ctx: &mut Ctx, errno: c_int, msg: Option<String>| -> *mut CallReply {
        super::set_errno(errno);
        match msg {
            Some(m) if f.errors_as_replies => finish_reply(ctx, CallReply::error(&m)),
            _ => std::ptr::null_mut(),
        }
    };
    // With `C` the command runs as (and is checked for) the context's user.
    let run_as = if f.run_as_user {
        match super::acl::call_user(ctx) {
            Some(u) => Some(u),
            None => return fail(
                ctx,
                libc::ENOTSUP,
                Some(
                    "cannot run as user, no user directly attached to context or context's client"
                        .into(),
                ),
            ),
        }
    } else {
        None
    };
    let Some(id) = srv.commands.lookup(&argv) else {
        let msg = crate::commands::unknown_command_error(srv, &argv);
        return fail(ctx, libc::ENOENT, Some(msg));
    };
    let (arity, cmd_flags, special) = {
        let c = &srv.commands.cmds[id];
        (c.spec.arity, c.flags, c.special)
    };
    // A script's declared flags stand for the EVAL's, as for a client's command.
    let cmd_flags = match special {
        crate::commands::Special::Script | crate::commands::Special::ScriptSha => {
            crate::scripting::command_flags(
                srv,
                &argv,
                special == crate::commands::Special::ScriptSha,
                cmd_flags,
            )
        }
        crate::commands::Special::Function => {
            crate::scripting::function::command_flags(srv, &argv, cmd_flags)
        }
        _ => cmd_flags,
    };
    // Only refusals need the name.
    let fullname = |srv: &crate::server::Server| srv.commands.cmds[id].fullname.clone();
    let n = argv.len() as i32;
    if (arity > 0 && arity != n) || n < -arity {
        return fail(
            ctx,
            libc::EINVAL,
            Some(format!(
                "wrong number of arguments for '{}' command",
                fullname(srv)
            )),
        );
    }
    if f.script_mode && cmd_flags & flags::NOSCRIPT != 0 {
        return fail(
            ctx,
            libc::ESPIPE,
            Some(format!(
                "command '{}' is not allowed on script mode",
                fullname(srv)
            )),
        );
    }
    // The memory state is the one the running command found (a thread-safe context, outside
    // any command, looks at the memory now).
    if f.deny_oom
        && srv.config.maxmemory > 0
        && cmd_flags & flags::DENYOOM != 0
        && (if ctx.flags & ctxflags::THREAD_SAFE != 0 {
            !srv.evict_if_needed()
        } else {
            srv.pre_command_oom
        })
    {
        return fail(
            ctx,
            libc::ENOSPC,
            Some(crate::commands::errors::OOM.to_string()),
        );
    }
    if f.no_writes && cmd_flags & flags::WRITE != 0 {
        return fail(
            ctx,
            libc::ENOSPC,
            Some(format!(
                "Write command '{}' was called while write is not allowed.",
                fullname(srv)
            )),
        );
    }
    if f.script_mode {
        // The master link and the AOF loader are obeyed whatever our own state.
        // SAFETY: the context's client is live when set.
        let obeyed = unsafe { ctx.client() }.is_some_and(|c| c.must_obey());
        if let Some((errno, msg)) = script_mode_refusal(srv, cmd_flags, obeyed) {
            return fail(ctx, errno, Some(msg));
        }
    }
    if let Some(user) = run_as {
        if let Err((reason, pos)) = srv.acl_check_user_command(user, id, &argv) {
            let object = if reason == crate::acl::Denied::Cmd {
                fullname(srv).into_bytes()
            } else {
                argv[pos].clone()
            };
            // SAFETY: a live context's client.
            if let Some(client) = unsafe { ctx.client() } {
                let name = srv.acl.name_of(client.user).to_vec();
                srv.acl_add_log(
                    client,
                    reason,
                    crate::acl::LogContext::Module,
                    0,
                    Some(&name),
                    Some(object),
                );
            }
            return fail(
                ctx,
                libc::EACCES,
                Some(format!(
                    "acl verification failed, {}.",
                    super::acl::denial_message(reason)
                )),
            );
        }
    }
    let caller_resp;
    let caller_db;
    // SAFETY: the context's client is live when set.
    match unsafe { ctx.client() } {
        Some(c) => {
            caller_resp = c.out.resp;
            caller_db = c.db;
        }
        None => {
            caller_resp = 2;
            caller_db = 0;
        }
    }
    let mut c = srv.acquire_call_client();
    if let Some(user) = run_as {
        c.user = user;
    }
    // MODULE: its errors are not counted now but kept with the reply.
    c.flags |= cflags::DENY_BLOCKING | cflags::MODULE;
    c.db = caller_db;
    c.argv = argv;
    // In a cluster a module may only touch keys served here (the caller's ASKING/READONLY
    // count), unless the caller is our master or the AOF.
    if srv.cluster.is_some() {
        // SAFETY: the context's client is live when set.
        let caller = unsafe { ctx.client() };
        let obeyed = caller.as_ref().is_some_and(|cl| cl.must_obey());
        if let Some(caller) = caller {
            c.flags |= caller.flags & (cflags::READONLY | cflags::ASKING);
        }
        if !obeyed {
            if let Err(redirect) = srv.cluster_check_route(&c, id, cmd_flags, false) {
                use crate::cluster::Redirect;
                let msg = match redirect {
                    Redirect::DownReadOnly => format!(
                        "Can not execute a write command '{}' while the cluster is down and readonly",
                        fullname(srv)
                    ),
                    Redirect::DownState => format!(
                        "Can not execute a command '{}' while the cluster is down",
                        fullname(srv)
                    ),
                    _ => "Attempted to access a non local key in a cluster node".to_string(),
                };
                return fail(ctx, libc::EACCES, Some(msg));
            }
        }
    }
    c.out.resp = if f.resp3 {
        3
    } else if f.resp_auto {
        caller_resp
    } else {
        2
    };
    c.prop_mask = if f.replicate {
        let mut m = target::ALL;
        if f.no_aof {
            m &= !target::AOF;
        }
        if f.no_replicas {
            m &= !target::REPL;
        }
        m
    } else {
        0
    };
    // For client-side caching the module command's caller stays the current client (NOLOOP,
    // invalidations held until its reply), as Redis keeps it during RedisModule_Call.
    let outer_caller = srv.tracking.module_caller;
    if outer_caller.is_none() {
        srv.tracking.module_caller = Some(srv.current_client);
    }
    let prev_suppressed = srv.prop.suppressed;
    srv.prop.suppressed = prev_suppressed || !f.replicate;
    srv.call(&mut c, id);
    srv.prop.suppressed = prev_suppressed;
    srv.tracking.module_caller = outer_caller;
    let proto = c.out.take_all();
    let resp = c.out.resp;
    let mut reply = match parse(&proto, resp) {
        Some((r, _)) => {
            c.out.reuse_buffer(proto);
            r
        }
        None => {
            let mut r = CallReply::new(Kind::Null, resp);
            r.proto = proto;
            r
        }
    };
    reply.errors = std::mem::take(&mut c.out.errors);
    srv.release_call_client(c);
    finish_reply(ctx, reply)
}

/// RedisModule_Call's clients, kept from one call to the next as Redis keeps its temporary
/// clients: each keeps its id and its buffers, and is reset when its call ends
/// (`Server::release_call_client`). Nested calls take one each.
#[derive(Default)]
pub struct CallClients {
    // Boxed: a client is large, and is handed around by pointer while its call runs.
    #[allow(clippy::vec_box)]
    idle: Vec<Box<Client>>,
}

impl CallClients {
    /// How many idle clients are kept.
    const KEEP: usize = 16;
}

impl crate::server::Server {
    /// A client for a RedisModule_Call: an idle one, or a new one.
    fn acquire_call_client(&mut self) -> Box<Client> {
        match self.modules.call_clients.idle.pop() {
            Some(c) => c,
            None => Box::new(Client::fake(self.next_client_id(), self.now_ms())),
        }
    }

    /// Ends a RedisModule_Call client's call: what the server holds for it goes, as for a
    /// client that closes (watched keys, subscriptions, tracking, MONITOR, a module's
    /// authentication), and the client goes back to the idle ones, reset.
    fn release_call_client(&mut self, mut c: Box<Client>) {
        super::acl::notify_user_changed(self, &mut c);
        self.drop_client_registrations(&mut c);
        if self.modules.call_clients.idle.len() < CallClients::KEEP {
            c.reset_fake(self.now_ms());
            self.modules.call_clients.idle.push(c);
        }
    }
}

/// Frees a reply (and with it its elements); auto-memory forgets it.
///
/// # Safety
/// `r` is NULL or a live call reply.
pub unsafe extern "C" fn free_call_reply(r: *mut CallReply) {
    if r.is_null() {
        return;
    }
    // SAFETY: a live reply; only roots are owned by the module.
    unsafe {
        if !(*r).root {
            return;
        }
    }
    // Its auto-memory context (live: replies must not outlive it) forgets it.
    // SAFETY: see above.
    let owner = unsafe { (*r).owner };
    if !owner.is_null() {
        // SAFETY: the owner context is live while its replies are.
        let ctx = unsafe { &mut *owner };
        ctx.auto
            .retain(|e| !matches!(e, AutoEntry::Reply(p) if *p == r));
    }
    // SAFETY: a root reply was created by Box::into_raw in `finish_reply`.
    drop(unsafe { Box::from_raw(r) });
}

unsafe extern "C" fn reply_type(r: *mut CallReply) -> c_int {
    // SAFETY: a live reply or NULL.
    match unsafe { r.as_ref() } {
        Some(r) => r.kind.code(),
        None => -1,
    }
}

unsafe extern "C" fn reply_length(r: *mut CallReply) -> usize {
    // SAFETY: a live reply or NULL.
    let Some(r) = (unsafe { r.as_ref() }) else {
        return 0;
    };
    match r.kind {
        Kind::String | Kind::Error | Kind::BigNumber | Kind::Verbatim => r.str.len(),
        Kind::Array | Kind::Set => r.elems.len(),
        Kind::Map | Kind::Attribute => r.elems.len() / 2,
        _ => 0,
    }
}

unsafe extern "C" fn reply_integer(r: *mut CallReply) -> c_longlong {
    // SAFETY: a live reply or NULL.
    match unsafe { r.as_ref() } {
        Some(r) if r.kind == Kind::Integer => r.int,
        _ => i64::MIN,
    }
}

unsafe extern "C" fn reply_double(r: *mut CallReply) -> f64 {
    // SAFETY: a live reply or NULL.
    match unsafe { r.as_ref() } {
        Some(r) if r.kind == Kind::Double => r.dbl,
        _ => i64::MIN as f64,
    }
}

unsafe extern "C" fn reply_bool(r: *mut CallReply) -> c_int {
    // SAFETY: a live reply or NULL.
    match unsafe { r.as_ref() } {
        Some(r) if r.kind == Kind::Bool => r.int as c_int,
        _ => -1,
    }
}

unsafe extern "C" fn reply_big_number(r: *mut CallReply, len: *mut usize) -> *const c_char {
    // SAFETY: a live reply or NULL; `len` writable.
    unsafe {
        match r.as_ref() {
            Some(r) if r.kind == Kind::BigNumber => {
                *len = r.str.len();
                r.str.as_ptr() as *const c_char
            }
            _ => std::ptr::null(),
        }
    }
}

unsafe extern "C" fn reply_verbatim(
    r: *mut CallReply,
    len: *mut usize,
    format: *mut *const c_char,
) -> *const c_char {
    // SAFETY: a live reply or NULL; out pointers writable when given.
    unsafe {
        match r.as_ref() {
            Some(r) if r.kind == Kind::Verbatim => {
                *len = r.str.len();
                if !format.is_null() {
                    *format = r.format.as_ptr() as *const c_char;
                }
                r.str.as_ptr() as *const c_char
            }
            _ => std::ptr::null(),
        }
    }
}

unsafe extern "C" fn reply_string_ptr(r: *mut CallReply, len: *mut usize) -> *const c_char {
    // SAFETY: a live reply or NULL; `len` writable when given.
    unsafe {
        match r.as_ref() {
            Some(r) if matches!(r.kind, Kind::String | Kind::Error) => {
                if !len.is_null() {
                    *len = r.str.len();
                }
                r.str.as_ptr() as *const c_char
            }
            _ => {
                if !len.is_null() {
                    *len = 0;
                }
                std::ptr::null()
            }
        }
    }
}

unsafe extern "C" fn reply_array_element(r: *mut CallReply, idx: usize) -> *mut CallReply {
    // SAFETY: a live reply or NULL; elements live as long as their root.
    unsafe {
        match r.as_mut() {
            Some(r) if r.kind == Kind::Array && idx < r.elems.len() => &mut r.elems[idx],
            _ => std::ptr::null_mut(),
        }
    }
}

unsafe extern "C" fn reply_set_element(r: *mut CallReply, idx: usize) -> *mut CallReply {
    // SAFETY: as above.
    unsafe {
        match r.as_mut() {
            Some(r) if r.kind == Kind::Set && idx < r.elems.len() => &mut r.elems[idx],
            _ => std::ptr::null_mut(),
        }
    }
}

/// Map and attribute pairs.
unsafe fn pair_element(
    r: &mut CallReply,
    idx: usize,
    key: *mut *mut CallReply,
    val: *mut *mut CallReply,
) -> c_int {
    if 2 * idx + 1 >= r.elems.len() {
        return REDISMODULE_ERR;
    }
    // SAFETY: out pointers writable when given; elements live as long as their root.
    unsafe {
        if !key.is_null() {
            *key = &mut r.elems[2 * idx];
        }
        if !val.is_null() {
            *val = &mut r.elems[2 * idx + 1];
        }
    }
    REDISMODULE_OK
}

unsafe extern "C" fn reply_map_element(
    r: *mut CallReply,
    idx: usize,
    key: *mut *mut CallReply,
    val: *mut *mut CallReply,
) -> c_int {
    // SAFETY: a live reply or NULL.
    match unsafe { r.as_mut() } {
        // SAFETY: forwarded.
        Some(r) if r.kind == Kind::Map => unsafe { pair_element(r, idx, key, val) },
        _ => REDISMODULE_ERR,
    }
}

unsafe extern "C" fn reply_attribute(r: *mut CallReply) -> *mut CallReply {
    // SAFETY: a live reply or NULL.
    match unsafe { r.as_mut() }.and_then(|r| r.attribute.as_mut()) {
        Some(a) => &mut **a,
        None => std::ptr::null_mut(),
    }
}

unsafe extern "C" fn reply_attribute_element(
    r: *mut CallReply,
    idx: usize,
    key: *mut *mut CallReply,
    val: *mut *mut CallReply,
) -> c_int {
    // SAFETY: a live reply or NULL.
    match unsafe { r.as_mut() } {
        // SAFETY: forwarded.
        Some(r) if r.kind == Kind::Attribute => unsafe { pair_element(r, idx, key, val) },
        _ => REDISMODULE_ERR,
    }
}

unsafe extern "C" fn reply_proto(r: *mut CallReply, len: *mut usize) -> *const c_char {
    // SAFETY: a live reply; `len` writable.
    unsafe {
        let r = &*r;
        *len = r.proto.len();
        r.proto.as_ptr() as *const c_char
    }
}

unsafe extern "C" fn string_from_call_reply(r: *mut CallReply) -> *mut RmString {
    // SAFETY: a live reply or NULL.
    let Some(r) = (unsafe { r.as_ref() }) else {
        return std::ptr::null_mut();
    };
    // The string belongs to no context (Redis creates it without one).
    match r.kind {
        Kind::String | Kind::Error => RmString::new_raw(&r.str),
        Kind::Integer => RmString::new_raw(&crate::util::i64_bytes(r.int)),
        _ => std::ptr::null_mut(),
    }
}

/// The Rust half of `RedisModule_Replicate`.
///
/// # Safety
/// A live context; `argv`/`lens` hold `argc` valid pairs.
#[no_mangle]
pub unsafe extern "C" fn ferrodis_module_replicate(
    ctx: *mut Ctx,
    cmd: *const c_char,
    fmt: *const c_char,
    argv: *const *const c_char,
    lens: *const usize,
    argc: c_int,
    fmt_ok: c_int,
) -> c_int {
    if fmt_ok == 0 {
        return REDISMODULE_ERR;
    }
    // SAFETY: per the contract above.
    let (ctx, fmt) = unsafe { (&mut *ctx, super::cstr(fmt)) };
    let f = call_flags(fmt);
    // SAFETY: per the contract above.
    let argv = unsafe { collect_argv(cmd, argv, lens, argc) };
    // SAFETY: a live context.
    let srv = unsafe { ctx.server() };
    if srv.commands.lookup(&argv).is_none() {
        return REDISMODULE_ERR;
    }
    let mut targets = target::ALL;
    if f.no_aof {
        targets &= !target::AOF;
    }
    if f.no_replicas {
        targets &= !target::REPL;
    }
    // SAFETY: the client is live when set.
    let db = unsafe { ctx.client() }.map(|c| c.db).unwrap_or(0);
    if srv.prop.enabled {
        srv.prop.push_to(db, argv, targets);
    }
    REDISMODULE_OK
}

unsafe extern "C" fn replicate_verbatim(ctx: *mut Ctx) -> c_int {
    // SAFETY: a live context.
    let ctx = unsafe { &mut *ctx };
    // SAFETY: a live context.
    let srv = unsafe { ctx.server() };
    // SAFETY: the client is live when set.
    if let Some(c) = unsafe { ctx.client() } {
        if srv.prop.enabled {
            srv.prop.push_to(c.db, c.argv.clone(), target::ALL);
        }
    }
    REDISMODULE_OK
}

// The C shim's variadic entry points (csrc/module_shim.c). Only their addresses are used
// here, so they are declared without parameters.
extern "C" {
    fn ferrodis_shim_Call();
    fn ferrodis_shim_Replicate();
}

pub fn entries() -> Vec<(&'static str, usize)> {
    type Pair = unsafe extern "C" fn(
        *mut CallReply,
        usize,
        *mut *mut CallReply,
        *mut *mut CallReply,
    ) -> c_int;
    super::api_entries![
        "Call" => ferrodis_shim_Call as unsafe extern "C" fn(),
        "Replicate" => ferrodis_shim_Replicate as unsafe extern "C" fn(),
        "ReplicateVerbatim" => replicate_verbatim as unsafe extern "C" fn(*mut Ctx) -> c_int,
        "FreeCallReply" => free_call_reply as unsafe extern "C" fn(*mut CallReply),
        "CallReplyType" => reply_type as unsafe extern "C" fn(*mut CallReply) -> c_int,
        "CallReplyLength" => reply_length as unsafe extern "C" fn(*mut CallReply) -> usize,
        "CallReplyInteger" => reply_integer as unsafe extern "C" fn(*mut CallReply) -> c_longlong,
        "CallReplyDouble" => reply_double as unsafe extern "C" fn(*mut CallReply) -> f64,
        "CallReplyBool" => reply_bool as unsafe extern "C" fn(*mut CallReply) -> c_int,
        "CallReplyBigNumber" => reply_big_number as unsafe extern "C" fn(*mut CallReply, *mut usize) -> *const c_char,
        "CallReplyVerbatim" => reply_verbatim as unsafe extern "C" fn(*mut CallReply, *mut usize, *mut *const c_char) -> *const c_char,
        "CallReplyStringPtr" => reply_string_ptr as unsafe extern "C" fn(*mut CallReply, *mut usize) -> *const c_char,
        "CallReplyArrayElement" => reply_array_element as unsafe extern "C" fn(*mut CallReply, usize) -> *mut CallReply,
        "CallReplySetElement" => reply_set_element as unsafe extern "C" fn(*mut CallReply, usize) -> *mut CallReply,
        "CallReplyMapElement" => reply_map_element as Pair,
        "CallReplyAttribute" => reply_attribute as unsafe extern "C" fn(*mut CallReply) -> *mut CallReply,
        "CallReplyAttributeElement" => reply_attribute_element as Pair,
        "CallReplyProto" => reply_proto as unsafe extern "C" fn(*mut CallReply, *mut usize) -> *const c_char,
        "CreateStringFromCallReply" => string_from_call_reply as unsafe extern "C" fn(*mut CallReply) -> *mut RmString,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nested_resp3() {
        let p = b"%2\r\n+a\r\n:1\r\n$1\r\nb\r\n*2\r\n,1.5\r\n_\r\n";
        let (r, used) = parse(p, 3).unwrap();
        assert_eq!(used, p.len());
        assert_eq!(r.kind, Kind::Map);
        assert_eq!(r.elems.len(), 4);
        assert_eq!(r.elems[1].int, 1);
        assert_eq!(r.elems[3].elems[0].dbl, 1.5);
        assert_eq!(r.elems[3].elems[1].kind, Kind::Null);
        assert_eq!(r.elems[3].proto, b"*2\r\n,1.5\r\n_\r\n");
    }

    #[test]
    fn parses_verbatim_and_attributes() {
        let (r, _) = parse(b"=8\r\ntxt:abcd\r\n", 3).unwrap();
        assert_eq!(r.kind, Kind::Verbatim);
        assert_eq!(&r.format[..3], b"txt");
        assert_eq!(r.str, b"abcd");
        let (r, _) = parse(b"|1\r\n+k\r\n+v\r\n:5\r\n", 3).unwrap();
        assert_eq!(r.kind, Kind::Integer);
        assert_eq!(r.attribute.as_ref().unwrap().elems.len(), 2);
    }

    #[test]
    fn null_bulk_and_array_are_null() {
        assert_eq!(parse(b"$-1\r\n", 2).unwrap().0.kind, Kind::Null);
        assert_eq!(parse(b"*-1\r\n", 2).unwrap().0.kind, Kind::Null);
    }
}
