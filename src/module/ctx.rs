//! `RedisModuleCtx`: what every call into a module carries. Its first word is the GetApi
//! resolver, because `RedisModule_Init` (compiled into each module) reads it from there; the
//! rest is ours: the server, the client the module acts for, its module, and what the context
//! must clean up when the call returns (auto-memory, pool allocations, postponed lengths).

use std::ffi::{c_char, c_int, c_void};

use crate::client::Client;
use crate::resp::reply::Deferred;
use crate::server::Server;

use super::Module;

pub const REDISMODULE_OK: c_int = 0;
pub const REDISMODULE_ERR: c_int = 1;

/// Context flags (which kind of call the context belongs to).
pub mod flags {
    pub const NONE: u32 = 0;
    pub const AUTO_MEMORY: u32 = 1 << 0;
    /// The context owns a fake client of its own (OnLoad, OnUnload, timers).
    pub const TEMP_CLIENT: u32 = 1 << 4;
    /// The command is called only to report its keys (getkeys-api).
    pub const KEYS_POS_REQUEST: u32 = 1 << 8;
    /// The command is called only to report its channels (getchannels-api).
    pub const CHANNELS_POS_REQUEST: u32 = 1 << 9;
    /// The reply callback of a blocked client (RedisModule_IsBlockedReplyRequest).
    pub const BLOCKED_REPLY: u32 = 1 << 12;
    /// The timeout callback of a blocked client (RedisModule_IsBlockedTimeoutRequest).
    pub const BLOCKED_TIMEOUT: u32 = 1 << 13;
    /// A thread-safe context (GetThreadSafeContext): usable from other threads.
    pub const THREAD_SAFE: u32 = 1 << 14;
    /// Freeing the private data of a client that went away (BlockedClientDisconnected).
    pub const BLOCKED_DISCONNECTED: u32 = 1 << 15;
}

pub type GetApiFn = unsafe extern "C" fn(*const c_char, *mut c_void) -> c_int;

/// Something auto-memory releases when the context ends.
pub enum AutoEntry {
    Str(*mut super::string::RmString),
    Key(*mut super::key::Key),
    Reply(*mut super::call::CallReply),
}

#[repr(C)]
pub struct Ctx {
    /// Must stay the first field: read by `RedisModule_Init` in every module.
    get_api: GetApiFn,
    pub srv: *mut Server,
    pub client: *mut Client,
    /// Null during OnLoad until RedisModule_Init registers the module (SetModuleAttribs).
    pub module: *mut Module,
    pub flags: u32,
    pub auto: Vec<AutoEntry>,
    /// Open `REDISMODULE_POSTPONED_LEN` aggregates, innermost last.
    pub postponed: Vec<Deferred>,
    /// PoolAlloc blocks, freed when the context ends.
    pub pool: Vec<*mut c_void>,
    /// Keys a KEYS_POS_REQUEST call reported (position, key-spec flags), or channels a
    /// CHANNELS_POS_REQUEST call reported (position, REDISMODULE_CMD_CHANNEL_* flags).
    pub keys: Vec<crate::commands::keyspec::KeyRef>,
    /// GetCurrentCommandName's answer, kept alive for the call.
    pub cmd_name: Option<std::ffi::CString>,
    /// The fake client of a TEMP_CLIENT context.
    own_client: Option<Box<Client>>,
    /// For blocked-client callbacks and thread-safe contexts: the handle, its private data
    /// and the key that became ready (see block.rs).
    pub blocked_client: *mut super::block::BlockedClient,
    pub blocked_privdata: *mut c_void,
    pub blocked_ready_key: *mut super::string::RmString,
    /// Monotonic time before which RedisModule_Yield does nothing (threads.rs); 0 until
    /// the first Yield, which starts counting from `created_us`.
    pub next_yield_us: u64,
    pub created_us: u64,
    /// The user RedisModule_Call runs as with the `C` flag (SetContextUser); null: the
    /// client's.
    pub user: *const super::acl::ModuleUser,
}

impl Ctx {
    pub fn new(srv: &mut Server, module: *mut Module, ctx_flags: u32) -> Ctx {
        let mut ctx = Ctx::created_at(srv, module, ctx_flags, crate::util::monotonic_us());
        if ctx_flags & flags::TEMP_CLIENT != 0 {
            ctx.give_temp_client(srv);
        }
        ctx
    }

    /// The context of a module command, created as the command started running (its start
    /// is when RedisModule_Yield counts the busy threshold from).
    #[inline]
    pub fn for_command(srv: &mut Server, module: *mut Module) -> Ctx {
        let started = srv.cmd_start_us;
        Ctx::created_at(srv, module, flags::NONE, started)
    }

    #[inline]
    fn created_at(srv: &mut Server, module: *mut Module, ctx_flags: u32, created_us: u64) -> Ctx {
        super::command::set_current_server(srv);
        srv.prop.module_nesting += 1;
        Ctx {
            get_api: super::api::get_api,
            srv,
            client: std::ptr::null_mut(),
            module,
            flags: ctx_flags,
            auto: Vec::new(),
            postponed: Vec::new(),
            pool: Vec::new(),
            cmd_name: None,
            keys: Vec::new(),
            own_client: None,
            blocked_client: std::ptr::null_mut(),
            blocked_privdata: std::ptr::null_mut(),
            blocked_ready_key: std::ptr::null_mut(),
            next_yield_us: 0,
            created_us,
            user: std::ptr::null(),
        }
    }

    /// A TEMP_CLIENT context acts for a fake client of its own.
    fn give_temp_client(&mut self, srv: &mut Server) {
        let id = srv.next_client_id();
        let mut c = Box::new(Client::fake(id, srv.now_ms()));
        c.flags |= crate::client::flags::DENY_BLOCKING;
        self.client = &mut *c;
        self.own_client = Some(c);
    }

    /// A thread-safe context (threads.rs): built without touching the server, since it may
    /// be created on a module thread that does not hold the GIL. `client` is the fake client
    /// it acts for (owned by the blocked client handle, or by the context itself in `own`).
    pub fn thread_safe(
        srv: *mut Server,
        module: *mut Module,
        client: *mut Client,
        own: Option<Box<Client>>,
    ) -> Ctx {
        let mut ctx = Ctx {
            get_api: super::api::get_api,
            srv,
            client,
            module,
            flags: flags::THREAD_SAFE,
            auto: Vec::new(),
            postponed: Vec::new(),
            pool: Vec::new(),
            own_client: own,
            cmd_name: None,
            keys: Vec::new(),
            blocked_client: std::ptr::null_mut(),
            blocked_privdata: std::ptr::null_mut(),
            blocked_ready_key: std::ptr::null_mut(),
            next_yield_us: 0,
            created_us: crate::util::monotonic_us(),
            user: std::ptr::null(),
        };
        if let Some(c) = ctx.own_client.as_mut() {
            ctx.client = &mut **c;
        }
        ctx
    }

    /// The server.
    ///
    /// # Safety
    /// The context must be live (created for the current call into a module).
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn server(&self) -> &mut Server {
        // SAFETY: a context only exists while the server is inside a call into a module,
        // where the server is reachable only through this pointer.
        unsafe { &mut *self.srv }
    }

    /// The client the context acts for (replies go there).
    ///
    /// # Safety
    /// As for `server`; the client pointer is set for every context that can reply.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn client(&self) -> Option<&mut Client> {
        // SAFETY: per the contract above.
        unsafe { self.client.as_mut() }
    }

    pub fn module_name(&self) -> String {
        if self.module.is_null() {
            return "<unknown>".to_string();
        }
        // SAFETY: a non-null module pointer points at a registered (or registering) module.
        unsafe { (*self.module).name.clone() }
    }

    /// Releases what the call left behind, as Redis does when a context is freed.
    #[inline]
    pub fn finish(&mut self) {
        if !self.auto.is_empty() {
            super::misc::auto_memory_collect(self);
        }
        for p in self.pool.drain(..) {
            // SAFETY: pool blocks were allocated with malloc by PoolAlloc.
            unsafe { libc::free(p) };
        }
        if !self.postponed.is_empty() {
            self.postponed.clear();
            crate::log_warning!("API misuse detected in module {}: RedisModule_ReplyWith*(REDISMODULE_POSTPONED_LEN) not matched by the same number of RedisModule_SetReply*Len() calls.", self.module_name());
        }
    }
}

impl Drop for Ctx {
    fn drop(&mut self) {
        // The own client is dropped with the context; nothing else points at it by then.
        self.client = std::ptr::null_mut();
        if self.flags & flags::THREAD_SAFE == 0 {
            // SAFETY: a context made by `new` lives within a call from the server, which is
            // still live when it is dropped.
            let srv = unsafe { &mut *self.srv };
            // Checked in release builds too: an unbalanced count would stop propagation
            // silently (`call` holds the log back while it is non-zero).
            srv.prop.module_nesting = srv
                .prop
                .module_nesting
                .checked_sub(1)
                .expect("module context nesting out of balance");
            // The outermost module context outside any command ends: what its callback
            // propagated goes out as one unit.
            if srv.prop.module_nesting == 0 && srv.prop.depth == 0 {
                srv.flush_propagation();
            }
        }
    }
}
